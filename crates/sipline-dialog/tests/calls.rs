//! INVITE sessions between two user agents on the simulated network
//! (RFC 3261 §13-15, RFC 3665 §3 basic flows), and the races of §9, §14, §15.

mod common;

use common::*;
use sipline_dialog::{CallEvent, EndReason, Event};
use sipline_message::Method;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// RFC 3665 §3.1-style basic call: INVITE, 180, 200, ACK, BYE, 200; both
/// sides see the same story and both endpoints are empty afterwards.
#[test]
fn basic_call_then_bye() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).ring(now, inc, 180, None).unwrap();
    w.run(Duration::from_millis(100));
    answer(&mut w, b, inc);
    assert!(w.run_until(S, |w| answered(w, a, call)));
    assert!(w.run_until(S, |w| confirmed(w, b, inc)));
    let ev = w.call_events(a, call);
    assert!(
        matches!(&ev[0], CallEvent::Progress { status: 180, .. }),
        "{ev:?}"
    );
    match &ev[1] {
        CallEvent::Answered {
            status: 200,
            body: Some(body),
            needs_ack: false,
        } => assert!(std::str::from_utf8(&body.data)
            .unwrap()
            .contains("m=audio 5000")),
        other => panic!("{other:?}"),
    }
    // Both sides agree on the dialog (§12).
    let da = w.ep(a).dialog(call).unwrap().id.clone();
    let db = w.ep(b).dialog(inc).unwrap().id.clone();
    assert_eq!(da.call_id, db.call_id);
    assert_eq!(da.local_tag, db.remote_tag);
    assert_eq!(da.remote_tag, db.local_tag);
    // No 2xx retransmission once the ACK came.
    let oks = w.count_sent("SIP/2.0 200");
    w.run(S * 2);
    assert_eq!(w.count_sent("SIP/2.0 200"), oks);
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()
        && w.ended(b, inc).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::LocalBye));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    assert_eq!(w.count_sent("ACK "), 1);
    assert_eq!(w.count_sent("BYE "), 1);
    assert!(w.settle(S * 64), "endpoints keep state after the call");
}

/// §9.1 / §9.2: a CANCEL of a ringing call: the callee sees it cancelled,
/// the caller gets 487 and ends with Cancelled.
#[test]
fn cancel_a_ringing_call() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).ring(now, inc, 180, None).unwrap();
    w.run(Duration::from_millis(100));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::Cancelled));
    assert_eq!(w.ended(b, inc), Some(EndReason::CancelledByPeer));
    assert_eq!(w.count_sent("CANCEL "), 1);
    assert_eq!(w.count_sent("SIP/2.0 487"), 1);
    assert!(w.settle(S * 64));
}

/// §9.1: hanging up before any provisional response: the CANCEL waits for
/// one (here the 100 Trying the transaction sends after 200 ms).
#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let call = w.ep(a).call(now, uri("bob", 2), None, vec![]).unwrap();
    w.ep(a).hangup(now, call).unwrap();
    w.run(Duration::from_millis(150));
    assert_eq!(w.count_sent("CANCEL "), 0, "CANCEL before any provisional");
    assert!(w.run_until(S * 2, |w| w.ended(a, call).is_some()));
    assert_eq!(w.count_sent("CANCEL "), 1);
    assert_eq!(w.ended(a, call), Some(EndReason::Cancelled));
    let inc = w.incoming_call(b).unwrap();
    assert_eq!(w.ended(b, inc), Some(EndReason::CancelledByPeer));
    assert!(w.settle(S * 64));
}

/// The callee rejects with 486: the caller ends with it, the ACK is the
/// transaction's (§17.1.1.3).
#[test]
fn busy() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).reject(now, inc, 486).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert!(matches!(
        w.ended(a, call),
        Some(EndReason::Rejected { status: 486, .. })
    ));
    assert_eq!(w.ended(b, inc), Some(EndReason::Declined));
    assert!(w.settle(S * 64));
    assert_eq!(w.count_sent("ACK "), 1);
}

/// CANCEL crossing the 200 (§9.1, RFC 3261 §15): the call is answered
/// anyway; the caller ACKs it and sends BYE; the callee ends by BYE.
#[test]
fn cancel_crossing_the_200() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).ring(now, inc, 180, None).unwrap();
    w.run(Duration::from_millis(100));
    let now = w.now;
    // Both at the same instant: the 200 and the CANCEL cross on the wire.
    w.ep(b)
        .answer(now, inc, Some(sdp(5000, "sendrecv")))
        .unwrap();
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S * 2, |w| w.ended(a, call).is_some()
        && w.ended(b, inc).is_some()));
    assert!(answered(&w, a, call));
    assert_eq!(w.ended(a, call), Some(EndReason::LocalBye));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    assert_eq!(w.count_sent("SIP/2.0 487"), 0);
    assert!(w.settle(S * 64));
}

fn results(w: &World, i: usize, call: sipline_dialog::Handle) -> Vec<u16> {
    w.call_events(i, call)
        .iter()
        .filter_map(|e| match e {
            CallEvent::OfferResult { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

/// Hold by re-INVITE (RFC 5359 §2.1 style, §14): sendonly offer, recvonly
/// answer, ACK; then a re-INVITE the callee refuses (488) leaves the
/// session as it was (§14.1) and the call goes on.
#[test]
fn hold_by_reinvite_and_a_refused_one() {
    let mut w = World::perfect();
    let (a, b, call, inc) = established(&mut w);
    let now = w.now;
    w.ep(a)
        .reinvite(now, call, Some(sdp(4000, "sendonly")))
        .unwrap();
    assert!(w.run_until(S, |w| offers(w, b, inc) == 1));
    match w.call_events(b, inc).last().unwrap() {
        CallEvent::Offer {
            method: Method::Invite,
            body: Some(body),
        } => assert!(std::str::from_utf8(&body.data)
            .unwrap()
            .contains("a=sendonly")),
        other => panic!("{other:?}"),
    }
    let now = w.now;
    w.ep(b)
        .respond_offer(now, inc, 200, Some(sdp(5000, "recvonly")))
        .unwrap();
    assert!(w.run_until(S, |w| results(w, a, call) == vec![200]));
    assert_eq!(w.count_sent("ACK "), 2);
    // Refused re-INVITE.
    let now = w.now;
    w.ep(a)
        .reinvite(now, call, Some(sdp(4000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| offers(w, b, inc) == 2));
    let now = w.now;
    w.ep(b).respond_offer(now, inc, 488, None).unwrap();
    assert!(w.run_until(S, |w| results(w, a, call) == vec![200, 488]));
    assert!(w.ended(a, call).is_none());
    // The dialog still works: INFO, then BYE.
    let now = w.now;
    let info = w
        .ep(a)
        .send_in_dialog(now, call, Method::Info, None, vec![])
        .unwrap();
    assert!(w.run_until(S, |w| w.call_events(a, call).iter().any(
        |e| matches!(e, CallEvent::Response { request, status: 200, .. } if *request == info)
    )));
    assert!(w
        .call_events(b, inc)
        .iter()
        .any(|e| matches!(e, CallEvent::Request { request } if request.method == Method::Info)));
    let now = w.now;
    w.ep(b).hangup(now, inc).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::RemoteBye));
    assert!(w.settle(S * 64));
}

/// §14.1 glare: both sides send a re-INVITE at once; both get 491; each
/// retries after its random wait (the Call-ID owner 2.1-4 s, the other
/// 0-2 s) and both offers eventually succeed.
#[test]
fn reinvite_glare_resolves_by_backoff() {
    let mut w = World::perfect();
    let (a, b, call, inc) = established(&mut w);
    let now = w.now;
    w.ep(a)
        .reinvite(now, call, Some(sdp(4000, "sendonly")))
        .unwrap();
    w.ep(b)
        .reinvite(now, inc, Some(sdp(5000, "sendonly")))
        .unwrap();
    w.run(Duration::from_millis(100));
    assert_eq!(results(&w, a, call), vec![491]);
    assert_eq!(results(&w, b, inc), vec![491]);
    let t491 = w.now;
    // Answer offers as they come, until both sides have a 200.
    let both_ok =
        |w: &World| results(w, a, call).contains(&200) && results(w, b, inc).contains(&200);
    let mut answered_offers = 0;
    while !both_ok(&w) && answered_offers < 4 {
        assert!(w.run_until(S * 10, |w| both_ok(w)
            || offers(w, a, call) + offers(w, b, inc) > answered_offers));
        let now = w.now;
        if offers(&w, a, call) + offers(&w, b, inc) > answered_offers {
            answered_offers += 1;
            let _ = w
                .ep(a)
                .respond_offer(now, call, 200, Some(sdp(4000, "recvonly")));
            let _ = w
                .ep(b)
                .respond_offer(now, inc, 200, Some(sdp(5000, "recvonly")));
        }
    }
    assert_eq!(
        answered_offers, 2,
        "each side answered the other's retried offer"
    );
    assert!(
        results(&w, a, call).contains(&200),
        "{:?}",
        w.call_events(a, call)
    );
    assert!(
        results(&w, b, inc).contains(&200),
        "{:?}",
        w.call_events(b, inc)
    );
    // The callee (not the Call-ID owner) retried first, within 0-2 s.
    let first_retry = w
        .log
        .iter()
        .filter(|(t, _, _, m)| *t > t491 - w.start && m.starts_with(b"INVITE "))
        .map(|(t, from, _, _)| (*t, *from))
        .next()
        .unwrap();
    assert_eq!(first_retry.1, 2, "bob retries first");
    assert!(first_retry.0 - (t491 - w.start) <= Duration::from_millis(2100));
}

/// BYE overtaking the ACK (§15): the ACK is lost; the caller hangs up at
/// once; the callee takes the BYE, stops resending its 200 and does not
/// send a BYE of its own.
#[test]
fn bye_overtakes_a_lost_ack() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    w.drop = Some(Box::new(|_, _, m| m.starts_with(b"ACK ")));
    let (call, inc) = call_bob(&mut w, a, b);
    answer(&mut w, b, inc);
    assert!(w.run_until(S, |w| answered(w, a, call)));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S, |w| w.ended(b, inc).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    assert!(w.settle(S * 64));
    assert_eq!(w.count_sent("BYE "), 1, "only the caller's BYE");
}

/// §13.3.1.4: the callee resends its 2xx until the ACK; lost ACKs are
/// answered again by the caller for each retransmitted 2xx, even after the
/// caller has ended the call (RFC 6026 §8.4).
#[test]
fn retransmitted_2xx_is_acked_again_even_after_the_call_ended() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let mut acks = 0;
    w.drop = Some(Box::new(move |_, _, m| {
        if m.starts_with(b"ACK ") {
            acks += 1;
            acks <= 2 // the first two ACKs are lost
        } else {
            // and the BYE too, so the callee keeps resending its 2xx
            m.starts_with(b"BYE ")
        }
    }));
    let (call, inc) = call_bob(&mut w, a, b);
    answer(&mut w, b, inc);
    assert!(w.run_until(S, |w| answered(w, a, call)));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap(); // BYE lost, retransmitted by its transaction
    assert!(w.run_until(S * 5, |w| confirmed(w, b, inc)));
    assert_eq!(w.count_sent("ACK "), 3);
    assert!(w.count_sent("SIP/2.0 200") >= 3);
    w.drop = None;
    assert!(w.run_until(S * 40, |w| w.ended(a, call).is_some()
        && w.ended(b, inc).is_some()));
    assert!(w.settle(S * 64));
}

/// No ACK at all: after 64·T1 the callee gives up and sends BYE (§13.3.1.4).
#[test]
fn no_ack_ends_the_call_with_bye() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    w.drop = Some(Box::new(|_, _, m| m.starts_with(b"ACK ")));
    let (call, inc) = call_bob(&mut w, a, b);
    let t0 = w.now;
    w.ep(b)
        .answer(t0, inc, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S * 40, |w| w.ended(b, inc).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::Timeout));
    let took = w.now - t0;
    assert!(took >= S * 32 && took < S * 33, "{took:?}");
    // 200 at 0, then every 0.5, 1, 2, 4, 4 ... s until 32 s: 11 sends.
    assert_eq!(w.count_sent("SIP/2.0 200"), 11);
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::RemoteBye));
    assert!(w.settle(S * 64));
}

/// Crossed BYEs: both hang up at once; each answers the other's BYE and
/// each call ends exactly once.
#[test]
fn crossed_byes() {
    let mut w = World::perfect();
    let (a, b, call, inc) = established(&mut w);
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    w.ep(b).hangup(now, inc).unwrap();
    assert!(w.settle(S * 64));
    let ends = |w: &World, i, c| {
        w.call_events(i, c)
            .iter()
            .filter(|e| matches!(e, CallEvent::Ended { .. }))
            .count()
    };
    assert_eq!(ends(&w, a, call), 1);
    assert_eq!(ends(&w, b, inc), 1);
    assert_eq!(w.count_sent("BYE "), 2);
}

/// Offer in the 2xx, answer in the ACK (§13.2.1: INVITE without a body).
#[test]
fn delayed_offer() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let call = w.ep(a).call(now, uri("bob", 2), None, vec![]).unwrap();
    assert!(w.run_until(S, |w| w.incoming_call(b).is_some()));
    let inc = w.incoming_call(b).unwrap();
    answer(&mut w, b, inc);
    assert!(w.run_until(S, |w| answered(w, a, call)));
    assert!(matches!(
        w.call_events(a, call).last(),
        Some(CallEvent::Answered {
            needs_ack: true,
            ..
        })
    ));
    assert_eq!(w.count_sent("ACK "), 0);
    let now = w.now;
    w.ep(a).ack(now, call, Some(sdp(4000, "sendrecv"))).unwrap();
    assert!(w.run_until(S, |w| w.call_events(b, inc).iter().any(
        |e| matches!(e, CallEvent::Confirmed { body: Some(b) } if std::str::from_utf8(&b.data).unwrap().contains("m=audio 4000"))
    )));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.settle(S * 64));
}

/// Requests for a dialog that does not exist get 481 (§12.2.2); an INVITE
/// requiring an extension we lack gets 420 with Unsupported (§8.2.2.3);
/// OPTIONS is answered 200 with Allow.
#[test]
fn unknown_dialog_unsupported_extension_and_options() {
    let mut w = World::perfect();
    let _a = w.ua("alice", 1, |_| {});
    let s = w.script(9);
    w.send_raw(
        s,
        1,
        "BYE sip:alice@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb1\nMax-Forwards: 70\nFrom: <sip:x@10.0.0.9>;tag=x1\nTo: <sip:alice@10.0.0.1>;tag=nope\nCall-ID: c1\nCSeq: 2 BYE\nContent-Length: 0\n\n",
    );
    w.send_raw(
        s,
        1,
        "INVITE sip:alice@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKi1\nMax-Forwards: 70\nFrom: <sip:x@10.0.0.9>;tag=x2\nTo: <sip:alice@10.0.0.1>\nCall-ID: c2\nCSeq: 1 INVITE\nContact: <sip:x@10.0.0.9>\nRequire: foo, replaces\nContent-Length: 0\n\n",
    );
    w.send_raw(
        s,
        1,
        "OPTIONS sip:alice@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKo1\nMax-Forwards: 70\nFrom: <sip:x@10.0.0.9>;tag=x3\nTo: <sip:alice@10.0.0.1>\nCall-ID: c3\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
    );
    w.run(S);
    let inbox = w.inbox(s).clone();
    let status = |cid: &str| {
        inbox
            .iter()
            .find(|m| m.call_id() == Some(cid))
            .and_then(|m| m.as_response())
            .map(|r| r.status.as_u16())
    };
    assert_eq!(status("c1"), Some(481));
    assert_eq!(status("c2"), Some(420));
    let r420 = inbox.iter().find(|m| m.call_id() == Some("c2")).unwrap();
    assert_eq!(
        r420.headers()
            .get(sipline_message::header::StdHeader::Unsupported)
            .map(|v| v.to_string()),
        Some("foo".into())
    );
    assert_eq!(status("c3"), Some(200));
    let opt = inbox.iter().find(|m| m.call_id() == Some("c3")).unwrap();
    assert!(opt
        .headers()
        .get(sipline_message::header::StdHeader::Allow)
        .is_some_and(|v| v.contains("INVITE")));
    // §11.2: Accept and Supported too.
    assert!(opt
        .headers()
        .get(sipline_message::header::StdHeader::Accept)
        .is_some_and(|v| v.contains("application/sdp")));
    assert!(opt
        .headers()
        .get(sipline_message::header::StdHeader::Supported)
        .is_some_and(|v| v.contains("100rel")));
    assert!(w.events[0]
        .iter()
        .all(|(_, e)| !matches!(e, Event::IncomingCall { .. })));
}

/// §13.2.2.4: two 2xx from different forks (a forking proxy): the first
/// answers the call; the second is ACKed and then sent BYE.
#[test]
fn second_2xx_from_another_fork_is_acked_and_hung_up() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let s = w.script(9);
    let (call, invite) = call_script(&mut w, a, s);
    let req = invite.as_request().unwrap().clone();
    for (tag, port) in [("f1", 7001), ("f2", 7002)] {
        let mut r =
            sipline_message::builder::response_to(&req, sipline_message::StatusCode::OK, Some(tag));
        r.headers
            .push("Contact", format!("<sip:bob@10.0.0.9:5060;fork={port}>"));
        w.send_response(s, 1, r);
    }
    w.run(S);
    assert!(answered(&w, a, call));
    let inbox = w.inbox(s).clone();
    let acks: Vec<_> = inbox
        .iter()
        .filter(|m| m.method() == Some(Method::Ack))
        .map(|m| m.to_tag().unwrap().to_string())
        .collect();
    assert_eq!(acks, vec!["f1", "f2"]);
    let mut byes: Vec<_> = inbox
        .iter()
        .filter(|m| m.method() == Some(Method::Bye))
        .map(|m| m.to_tag().unwrap().to_string())
        .collect();
    byes.dedup(); // the unanswered BYE is retransmitted (Timer E)
    assert_eq!(byes, vec!["f2"]);
    assert!(w.ended(a, call).is_none(), "the first fork's call stays up");
    assert_eq!(
        w.ep(a).dialog(call).unwrap().id.remote_tag,
        "f1",
        "the call is the first fork's"
    );
}

/// Call forwarding by the callee's UA (RFC 5359 §2.6): bob answers 302 to
/// carol; alice's endpoint sends the INVITE to carol (§8.1.3.4: same
/// Call-ID, CSeq + 1), who answers. A 302 back to where the call already
/// went is not followed (no loop): the call fails with it.
#[test]
fn redirect_is_followed_to_the_new_target() {
    let mut w = World::perfect();
    let (a, b, c) = alice_bob_and_carol(&mut w);
    let (call, inc_b) = call_bob(&mut w, a, b);
    let now = w.now;
    w.ep(b).redirect(now, inc_b, &[uri("carol", 3)]).unwrap();
    assert!(w.run_until(S, |w| w.incoming_call(c).is_some()));
    let inc_c = w.incoming_call(c).unwrap();
    let now = w.now;
    w.ep(c)
        .answer(now, inc_c, Some(sdp(6000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| answered(w, a, call)));
    let ev = w.call_events(a, call);
    assert!(
        matches!(&ev[0], CallEvent::Redirected { status: 302, target } if target.to_string().contains("carol")),
        "{ev:?}"
    );
    let invites: Vec<_> = w
        .log
        .iter()
        .filter(|(_, from, _, m)| *from == 1 && m.starts_with(b"INVITE "))
        .map(|(_, _, to, m)| (*to, sipline_message::Message::parse(m.clone()).unwrap()))
        .collect();
    assert_eq!(invites.len(), 2);
    assert_eq!(invites[0].1.call_id(), invites[1].1.call_id());
    assert_eq!(
        invites[1].1.cseq().unwrap().seq,
        invites[0].1.cseq().unwrap().seq + 1
    );
    assert_eq!(invites[1].0, 3, "the second INVITE went to carol");
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.settle(S * 64));

    // A redirect back to bob himself is not followed.
    let now = w.now;
    let call = w.ep(a).call(now, uri("bob", 2), None, vec![]).unwrap();
    assert!(w.run_until(S, |w| w.incoming_calls(b).len() == 2));
    let inc = w.incoming_calls(b)[1];
    let now = w.now;
    w.ep(b).redirect(now, inc, &[uri("bob", 2)]).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert!(matches!(
        w.ended(a, call),
        Some(EndReason::Rejected { status: 302, .. })
    ));
}
