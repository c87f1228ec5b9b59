//! Session timers (RFC 4028) in virtual time: negotiation, refreshes at
//! half the interval, the BYE of the side that gets no refresh, 422.

mod common;

use common::*;
use sipline_dialog::{CallEvent, EndReason, Handle};
use sipline_message::builder::response_to;
use sipline_message::header::StdHeader;
use sipline_message::{Method, StatusCode};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn timers(se: u32) -> impl FnOnce(&mut sipline_dialog::Config) {
    move |c| c.session_expires = Some(se)
}

/// Sets up a call from alice (1) to bob (2), both with session timers of
/// `se` seconds. Returns the call handles and when bob sent the 2xx.
fn established(w: &mut World, se: u32) -> (usize, usize, Handle, Handle, Duration) {
    let a = w.ua("alice", 1, timers(se));
    let b = w.ua("bob", 2, timers(se));
    let (call, inc) = call_bob(w, a, b);
    answer(w, b, inc);
    let t_ok = w.now - w.start;
    assert!(w.run_until(S, |w| confirmed(w, b, inc)));
    (a, b, call, inc, t_ok)
}

/// RFC 4028 §7.1, §9, §10: the INVITE asks for 90 s (Supported: timer,
/// Session-Expires, Min-SE); bob's 2xx grants it with refresher=uac and
/// Require: timer; alice refreshes with an UPDATE without a body every
/// 45 s (half the interval, counted from each 2xx); bob never sends one,
/// nobody sends BYE, and the applications hear nothing of it.
#[test]
fn the_refresher_updates_at_half_the_interval() {
    let mut w = World::perfect();
    let (a, b, call, inc, t_ok) = established(&mut w, 90);
    let inv = &w.sent_by(1, "INVITE ")[0].1;
    assert!(header(inv, StdHeader::Supported).unwrap().contains("timer"));
    assert_eq!(
        header(inv, StdHeader::SessionExpires).as_deref(),
        Some("90")
    );
    assert_eq!(header(inv, StdHeader::MinSe).as_deref(), Some("90"));
    let ok = &w.sent_by(2, "SIP/2.0 200")[0].1;
    assert_eq!(
        header(ok, StdHeader::SessionExpires).as_deref(),
        Some("90;refresher=uac")
    );
    assert_eq!(header(ok, StdHeader::Require).as_deref(), Some("timer"));
    assert_eq!(w.ep(a).session_timer(call), Some((90, true)));
    assert_eq!(w.ep(b).session_timer(inc), Some((90, false)));
    w.run(S * 200);
    let updates = w.sent_by(1, "UPDATE ");
    assert_eq!(updates.len(), 4, "at 45, 90, 135 and 180 s");
    // Each refresh 45 s after the 2xx that answered the previous one
    // (received 20 ms after the 2xx was sent: two 10 ms hops).
    let mut base = t_ok + MS * 10;
    for (t, m) in &updates {
        assert_eq!(*t, base + S * 45, "{updates:?}");
        assert!(m.body().is_empty(), "a refresh UPDATE carries no offer");
        assert_eq!(
            header(m, StdHeader::SessionExpires).as_deref(),
            Some("90;refresher=uac")
        );
        base = *t + MS * 20;
    }
    assert!(w.sent_by(2, "UPDATE ").is_empty());
    assert_eq!(w.count_sent("BYE "), 0);
    assert_eq!(w.count_sent("INVITE "), 1);
    for (i, h) in [(a, call), (b, inc)] {
        assert!(
            !w.call_events(i, h).iter().any(|e| matches!(
                e,
                CallEvent::Offer { .. } | CallEvent::OfferResult { .. } | CallEvent::Ended { .. }
            )),
            "{:?}",
            w.call_events(i, h)
        );
    }
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
}

/// §10: the refreshes are lost; bob, who does not refresh, sends BYE
/// min(32 s, 90 / 3) = 30 s before expiry, i.e. 60 s after his last 2xx,
/// and the call ends with `SessionExpired` on his side.
#[test]
fn the_other_side_byes_when_refreshes_are_lost() {
    let mut w = World::perfect();
    w.drop = Some(Box::new(|from, _, m| {
        from == 1 && m.starts_with(b"UPDATE ")
    }));
    let (a, b, call, inc, t_ok) = established(&mut w, 90);
    assert!(w.run_until(S * 100, |w| w.ended(b, inc).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::SessionExpired));
    let bye = &w.sent_by(2, "BYE ")[0];
    assert_eq!(bye.0, t_ok + S * 60);
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::RemoteBye));
    assert!(w.settle(S * 64));
}

/// §9 / §7.3: bob accepts no less than 120 s: alice's INVITE asking for
/// 90 s gets 422 with Min-SE: 120; alice sends it again (CSeq + 1) with
/// Session-Expires and Min-SE of 120; bob sees one call; the refresh
/// comes at 60 s.
#[test]
fn too_small_an_interval_gets_422_and_a_retry() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, timers(90));
    let b = w.ua("bob", 2, |c| {
        c.session_expires = Some(1800);
        c.min_se = 120;
    });
    let call = call_with_offer(&mut w, a, 2);
    assert!(w.run_until(S, |w| w.incoming_call(b).is_some()));
    let r422 = &w.sent_by(2, "SIP/2.0 422")[0].1;
    assert_eq!(header(r422, StdHeader::MinSe).as_deref(), Some("120"));
    let invites = w.sent_by(1, "INVITE ");
    assert_eq!(invites.len(), 2);
    let second = &invites[1].1;
    assert_eq!(second.cseq().unwrap().seq, 2);
    assert_eq!(
        header(second, StdHeader::SessionExpires).as_deref(),
        Some("120")
    );
    assert_eq!(header(second, StdHeader::MinSe).as_deref(), Some("120"));
    assert_eq!(w.incoming_calls(b).len(), 1);
    let inc = w.incoming_call(b).unwrap();
    answer(&mut w, b, inc);
    let t_ok = w.now - w.start;
    w.run(S * 61);
    assert_eq!(w.ep(a).session_timer(call), Some((120, true)));
    let updates = w.sent_by(1, "UPDATE ");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].0, t_ok + MS * 10 + S * 60);
    let now = w.now;
    w.ep(b).hangup(now, inc).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(a, call), Some(EndReason::RemoteBye));
}

/// §7.4: a peer whose Allow lacks UPDATE is refreshed with a re-INVITE
/// carrying our session description unchanged; its 2xx is ACKed and the
/// application is not told.
#[test]
fn without_update_the_refresh_is_a_reinvite_with_the_same_sdp() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, timers(90));
    let s = w.script(9);
    let now = w.now;
    let offer = sdp(4000, "sendrecv");
    let call = w
        .ep(a)
        .call(now, uri("bob", 9), Some(offer.clone()), vec![])
        .unwrap();
    w.run(MS * 50);
    let inbox = std::mem::take(w.inbox(s));
    let invite = inbox[0].as_request().unwrap().clone();
    let answer = |req: &sipline_message::Request, w: &mut World| {
        let mut ok = response_to(req, StatusCode::OK, Some("s1"));
        ok.headers.push("Contact", "<sip:bob@10.0.0.9:5060>");
        ok.headers.push("Allow", "INVITE, ACK, BYE, CANCEL");
        ok.headers.push("Session-Expires", "90;refresher=uac");
        ok.headers.push("Require", "timer");
        let body = "v=0\r\no=- 7 7 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n";
        ok.headers.push("Content-Type", "application/sdp");
        ok.headers.set("Content-Length", body.len().to_string());
        ok.body = body.into();
        w.send_response(s, 1, ok);
    };
    answer(&invite, &mut w);
    // The refresh 45 s after the 2xx came; not yet its retransmission.
    w.run(S * 45 + MS * 200);
    let inbox = std::mem::take(w.inbox(s));
    let methods: Vec<_> = inbox.iter().filter_map(|m| m.method()).collect();
    assert_eq!(methods, vec![Method::Ack, Method::Invite]);
    let reinvite = inbox[1].as_request().unwrap().clone();
    assert_eq!(reinvite.body, offer.data, "the same session description");
    assert_eq!(
        header(&inbox[1], StdHeader::SessionExpires).as_deref(),
        Some("90;refresher=uac")
    );
    answer(&reinvite, &mut w);
    w.run(MS * 50);
    let inbox = std::mem::take(w.inbox(s));
    assert!(inbox
        .iter()
        .any(|m| m.method() == Some(Method::Ack) && m.cseq().unwrap().seq == 2));
    assert!(
        !w.call_events(a, call)
            .iter()
            .any(|e| matches!(e, CallEvent::OfferResult { .. })),
        "{:?}",
        w.call_events(a, call)
    );
    assert_eq!(w.ep(a).session_timer(call), Some((90, true)));
}
