//! Call transfer: REFER (RFC 3515) and its implicit subscription,
//! Referred-By (RFC 3892), Replaces (RFC 3891), in the flows of RFC 5359
//! §2.4 (blind) and §2.5 (attended).

mod common;

use common::*;
use sipline_dialog::{CallEvent, EndReason, Handle};
use sipline_message::header::StdHeader;
use sipline_message::Uri;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// Calls from `i` to user `user` at host `n`, answered; returns both
/// handles.
fn connect(w: &mut World, i: usize, j: usize, user: &str, n: u16) -> (Handle, Handle) {
    let before = w.incoming_calls(j).len();
    let now = w.now;
    let call = w
        .ep(i)
        .call(now, uri(user, n), Some(sdp(4000 + n, "sendrecv")), vec![])
        .unwrap();
    assert!(w.run_until(S, |w| w.incoming_calls(j).len() > before));
    let inc = *w.incoming_calls(j).last().unwrap();
    let now = w.now;
    w.ep(j)
        .answer(now, inc, Some(sdp(5000 + n, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| confirmed(w, j, inc)));
    (call, inc)
}

fn refer_of(w: &World, i: usize, call: Handle) -> Option<(Uri, Option<String>, Option<String>)> {
    w.call_events(i, call).into_iter().find_map(|e| match e {
        CallEvent::Refer {
            target,
            replaces,
            referred_by,
        } => Some((target, replaces, referred_by)),
        _ => None,
    })
}

fn progress(w: &World, i: usize, call: Handle) -> Vec<(u16, bool)> {
    w.call_events(i, call)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::TransferProgress { status, done } => Some((status, done)),
            _ => None,
        })
        .collect()
}

/// Blind transfer (RFC 5359 §2.4): alice calls bob; bob REFERs alice to
/// carol. Alice's endpoint answers 202 and sends "100 Trying" at once;
/// alice's application calls carol with the Referred-By it got (RFC 3892
/// §2.2: copied into the new request) and reports 100 (not sent twice)
/// and 200; bob sees 100, then 200 with the subscription terminated
/// (reason noresource, RFC 3515 §2.4.7); bob hangs up; the new call goes
/// on, then ends, and every endpoint is empty.
#[test]
fn blind_transfer() {
    let mut w = World::perfect();
    let (a, b, c) = alice_bob_and_carol(&mut w);
    let (ab, ba) = connect(&mut w, a, b, "bob", 2);
    let now = w.now;
    let refer = w.ep(b).transfer(now, ba, uri("carol", 3), None).unwrap();
    assert!(w.run_until(S, |w| refer_of(w, a, ab).is_some()));
    let (target, replaces, referred_by) = refer_of(&w, a, ab).unwrap();
    assert_eq!(target, uri("carol", 3));
    assert_eq!(replaces, None);
    assert_eq!(referred_by.as_deref(), Some("<sip:bob@10.0.0.2:5060>"));
    let r = &w.sent_by(2, "REFER ")[0].1;
    assert_eq!(
        r.headers().get(StdHeader::ReferTo).unwrap().to_string(),
        "<sip:carol@10.0.0.3:5060>"
    );
    assert!(r.headers().get(StdHeader::Contact).is_some());
    assert!(w.run_until(S, |w| has(w, b, ba, |e| matches!(
        e,
        CallEvent::Response { request, status: 202, .. } if *request == refer
    )) && progress(w, b, ba) == vec![(100, false)]));
    // Alice calls carol as asked.
    let now = w.now;
    let ac = w
        .ep(a)
        .call(
            now,
            target,
            Some(sdp(4100, "sendrecv")),
            vec![("Referred-By".into(), referred_by.unwrap())],
        )
        .unwrap();
    w.ep(a).transfer_progress(now, ab, 100).unwrap();
    assert!(w.run_until(S, |w| w.incoming_call(c).is_some()));
    let ca = w.incoming_call(c).unwrap();
    let inv = &w.sent_by(1, "INVITE ")[1].1;
    assert_eq!(
        inv.headers()
            .get(StdHeader::ReferredBy)
            .unwrap()
            .to_string(),
        "<sip:bob@10.0.0.2:5060>"
    );
    let now = w.now;
    w.ep(c)
        .answer(now, ca, Some(sdp(5100, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| answered(w, a, ac)));
    let now = w.now;
    w.ep(a).transfer_progress(now, ab, 200).unwrap();
    assert!(w.run_until(S, |w| progress(w, b, ba).len() == 2));
    assert_eq!(progress(&w, b, ba), vec![(100, false), (200, true)]);
    let notifies = w.sent_by(1, "NOTIFY ");
    assert_eq!(notifies.len(), 2, "the duplicate 100 was not sent");
    let last = &notifies.last().unwrap().1;
    assert_eq!(
        last.headers()
            .get(StdHeader::SubscriptionState)
            .unwrap()
            .to_string(),
        "terminated;reason=noresource"
    );
    assert!(last
        .headers()
        .get(StdHeader::Event)
        .unwrap()
        .starts_with("refer"));
    assert_eq!(&last.body()[..], b"SIP/2.0 200 OK\r\n");
    assert!(w.ep(a).transfer_progress(now, ab, 180).is_err(), "done");
    // Bob hangs up; alice and carol talk on.
    let now = w.now;
    w.ep(b).hangup(now, ba).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, ab).is_some()));
    assert_eq!(w.ended(a, ab), Some(EndReason::RemoteBye));
    assert!(w.ended(a, ac).is_none() && w.ended(c, ca).is_none());
    let now = w.now;
    w.ep(c).hangup(now, ca).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(a, ac), Some(EndReason::RemoteBye));
}

/// Attended transfer (RFC 5359 §2.5): alice–bob and bob–carol are up;
/// bob REFERs alice to carol with Replaces naming the bob–carol dialog
/// as carol sees it; alice calls carol with that Replaces; carol's
/// endpoint finds the call it replaces, and answering the new call hangs
/// up the old one with BYE. Bob then hangs up on alice.
#[test]
fn attended_transfer_with_replaces() {
    let mut w = World::perfect();
    let (a, b, c) = alice_bob_and_carol(&mut w);
    let (ab, ba) = connect(&mut w, a, b, "bob", 2);
    let (bc, cb) = connect(&mut w, b, c, "carol", 3);
    let dialog_bc = w.ep(b).dialog(bc).unwrap().id.clone();
    let now = w.now;
    w.ep(b)
        .transfer(now, ba, uri("carol", 3), Some(&dialog_bc))
        .unwrap();
    assert!(w.run_until(S, |w| refer_of(w, a, ab).is_some()));
    let refer_to = w.sent_by(2, "REFER ")[0]
        .1
        .headers()
        .get(StdHeader::ReferTo)
        .unwrap()
        .to_string();
    assert!(
        refer_to.contains("?Replaces=") && refer_to.contains("%3Bto-tag%3D"),
        "{refer_to}"
    );
    let (target, replaces, referred_by) = refer_of(&w, a, ab).unwrap();
    let replaces = replaces.unwrap();
    assert_eq!(
        replaces,
        format!(
            "{};to-tag={};from-tag={}",
            dialog_bc.call_id, dialog_bc.remote_tag, dialog_bc.local_tag
        )
    );
    let now = w.now;
    let ac = w
        .ep(a)
        .call(
            now,
            target,
            Some(sdp(4100, "sendrecv")),
            vec![
                ("Replaces".into(), replaces),
                ("Referred-By".into(), referred_by.unwrap()),
            ],
        )
        .unwrap();
    assert!(w.run_until(S, |w| w.incoming_calls(c).len() == 2));
    let ca = w.incoming_calls(c)[1];
    assert_eq!(w.ep(c).replaces(ca), Some(cb));
    assert_eq!(w.ep(c).replaces(cb), None);
    let now = w.now;
    w.ep(c)
        .answer(now, ca, Some(sdp(5100, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| answered(w, a, ac)
        && w.ended(b, bc).is_some()
        && w.ended(c, cb).is_some()));
    assert_eq!(w.ended(c, cb), Some(EndReason::LocalBye));
    assert_eq!(w.ended(b, bc), Some(EndReason::RemoteBye));
    let now = w.now;
    w.ep(a).transfer_progress(now, ab, 200).unwrap();
    assert!(w.run_until(S, |w| progress(w, b, ba).contains(&(200, true))));
    let now = w.now;
    w.ep(b).hangup(now, ba).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, ab).is_some()));
    let now = w.now;
    w.ep(a).hangup(now, ac).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(c, ca), Some(EndReason::RemoteBye));
}

/// RFC 3891 §3: an INVITE whose Replaces matches no dialog gets 481;
/// one with early-only for a confirmed dialog gets 486; one matching an
/// early dialog the target did not initiate gets 481.
#[test]
fn replaces_that_do_not_match_are_refused() {
    let mut w = World::perfect();
    let (a, b, c) = alice_bob_and_carol(&mut w);
    let (_bc, cb) = connect(&mut w, b, c, "carol", 3);
    let d = w.ep(c).dialog(cb).unwrap().id.clone();
    let tries = [
        (
            format!("nope@x;to-tag={};from-tag={}", d.local_tag, d.remote_tag),
            481,
        ),
        (
            format!(
                "{};to-tag={};from-tag={};early-only",
                d.call_id, d.local_tag, d.remote_tag
            ),
            486,
        ),
        (
            format!("{};to-tag={};from-tag=other", d.call_id, d.local_tag),
            481,
        ),
    ];
    for (value, status) in tries {
        let now = w.now;
        let call = w
            .ep(a)
            .call(now, uri("carol", 3), None, vec![("Replaces".into(), value)])
            .unwrap();
        assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
        assert!(
            matches!(w.ended(a, call), Some(EndReason::Rejected { status: s, .. }) if s == status),
            "{:?}",
            w.ended(a, call)
        );
    }
    // An early dialog carol did not initiate: alice rings carol, then
    // tries to replace that early dialog from bob's side.
    let now = w.now;
    let early = w.ep(a).call(now, uri("carol", 3), None, vec![]).unwrap();
    assert!(w.run_until(S, |w| w.incoming_calls(c).len() == 2));
    let ce = w.incoming_calls(c)[1];
    let now = w.now;
    w.ep(c).ring(now, ce, 180, None).unwrap();
    w.run(Duration::from_millis(50));
    let de = w.ep(c).dialog(ce).unwrap().id.clone();
    let now = w.now;
    let call = w
        .ep(b)
        .call(
            now,
            uri("carol", 3),
            None,
            vec![(
                "Replaces".into(),
                format!(
                    "{};to-tag={};from-tag={}",
                    de.call_id, de.local_tag, de.remote_tag
                ),
            )],
        )
        .unwrap();
    assert!(w.run_until(S, |w| w.ended(b, call).is_some()));
    assert!(matches!(
        w.ended(b, call),
        Some(EndReason::Rejected { status: 481, .. })
    ));
    assert_eq!(
        w.incoming_calls(c).len(),
        2,
        "no call for the refused INVITEs"
    );
    for (i, h) in [(a, early), (c, cb)] {
        let now = w.now;
        w.ep(i).hangup(now, h).unwrap();
    }
    assert!(w.settle(S * 64));
}
