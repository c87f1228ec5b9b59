//! UPDATE (RFC 3311) in early and confirmed dialogs, and its races with
//! re-INVITE (§5.2).

mod common;

use common::*;
use sipline_dialog::{CallEvent, EndReason, Error, Handle};
use sipline_message::builder::response_to;
use sipline_message::header::StdHeader;
use sipline_message::{Message, Method, StatusCode};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// RFC 3311 §5.1: once the initial offer/answer is done in the early
/// dialog (answer in a reliable 183, PRACKed), the caller may UPDATE
/// before the call is answered; before that it may not. The callee answers
/// it, the call is then answered, and the CSeq numbers of the early dialog
/// carry on into the confirmed one (the BYE is accepted).
#[test]
fn update_in_an_early_dialog_after_a_pracked_183() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).ring(now, inc, 180, None).unwrap();
    w.run(Duration::from_millis(50));
    let now = w.now;
    assert_eq!(
        w.ep(a).update(now, call, Some(sdp(4000, "sendonly"))),
        Err(Error::State("initial offer/answer not finished"))
    );
    w.ep(b)
        .ring_reliably(now, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::PrackReceived { .. }
    ))));
    let now = w.now;
    w.ep(a)
        .update(now, call, Some(sdp(4000, "sendonly")))
        .unwrap();
    assert!(w.run_until(S, |w| offers(w, b, inc) == 1));
    assert!(matches!(
        w.call_events(b, inc).last(),
        Some(CallEvent::Offer {
            method: Method::Update,
            body: Some(_)
        })
    ));
    let now = w.now;
    w.ep(b)
        .respond_offer(now, inc, 200, Some(sdp(5000, "recvonly")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, a, call, |e| matches!(
        e,
        CallEvent::OfferResult {
            method: Method::Update,
            status: 200,
            body: Some(_)
        }
    ))));
    // The callee may UPDATE too (it got the PRACK for its answer).
    let now = w.now;
    w.ep(b)
        .update(now, inc, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| offers(w, a, call) == 1));
    let now = w.now;
    w.ep(a)
        .respond_offer(now, call, 200, Some(sdp(4000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::OfferResult { status: 200, .. }
    ))));
    let now = w.now;
    w.ep(b).answer(now, inc, None).unwrap();
    assert!(w.run_until(S, |w| confirmed(w, b, inc)));
    // Alice: INVITE 1, PRACK 2, UPDATE 3, BYE 4.
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()
        && w.ended(b, inc).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::LocalBye));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    let bye = w
        .log
        .iter()
        .find(|(_, _, _, m)| m.starts_with(b"BYE "))
        .map(|(_, _, _, m)| Message::parse(m.clone()).unwrap())
        .unwrap();
    assert_eq!(bye.cseq().unwrap().seq, 4);
    assert!(w.settle(S * 64));
}

/// A scripted caller at host 9 with one call to bob (host 2).
struct Peer {
    to_tag: String,
    cseq: u32,
}

const CALL_ID: &str = "upd-1@10.0.0.9";

fn request(p: &mut Peer, method: &str, body: Option<&str>) -> String {
    p.cseq += 1;
    raw_request(p, method, p.cseq, body)
}

fn raw_request(p: &Peer, method: &str, cseq: u32, body: Option<&str>) -> String {
    let to_tag = if p.to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={}", p.to_tag)
    };
    let (ct, body) = match body {
        Some(b) => ("Content-Type: application/sdp\n", b.replace("\r\n", "\n")),
        None => ("", String::new()),
    };
    format!(
        "{method} sip:bob@10.0.0.2:5060 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK{method}{cseq}\nMax-Forwards: 70\nFrom: <sip:peer@10.0.0.9>;tag=p1\nTo: <sip:bob@10.0.0.2>{to_tag}\nCall-ID: {CALL_ID}\nCSeq: {cseq} {method}\nContact: <sip:peer@10.0.0.9:5060>\nAllow: INVITE, ACK, BYE, UPDATE\n{ct}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

fn sdp_text(port: u16, dir: &str) -> String {
    String::from_utf8(sdp(port, dir).data.to_vec()).unwrap()
}

/// Takes the scripted party's inbox.
fn take(w: &mut World, s: usize) -> Vec<Message> {
    std::mem::take(w.inbox(s))
}

fn response_for(msgs: &[Message], method: Method, cseq: u32) -> Option<&Message> {
    msgs.iter().find(|m| {
        m.as_response().is_some() && m.cseq().is_ok_and(|c| c.method == method && c.seq == cseq)
    })
}

/// The status of the response for `method` with this CSeq number.
fn status_for(msgs: &[Message], method: Method, cseq: u32) -> u16 {
    response_for(msgs, method, cseq)
        .unwrap()
        .as_response()
        .unwrap()
        .status
        .as_u16()
}

/// Sets up a confirmed call from the scripted peer to bob.
fn scripted_call(w: &mut World) -> (usize, usize, Handle, Peer) {
    let b = w.ua("bob", 2, |_| {});
    let s = w.script(9);
    let mut p = Peer {
        to_tag: String::new(),
        cseq: 0,
    };
    let invite = request(&mut p, "INVITE", Some(&sdp_text(7000, "sendrecv")));
    w.send_raw(s, 2, &invite);
    assert!(w.run_until(S, |w| w.incoming_call(b).is_some()));
    let inc = w.incoming_call(b).unwrap();
    answer(w, b, inc);
    w.run(Duration::from_millis(50));
    let msgs = take(w, s);
    let ok = response_for(&msgs, Method::Invite, 1).unwrap();
    p.to_tag = ok.to_tag().unwrap().to_string();
    let ack = raw_request(&p, "ACK", 1, None);
    w.send_raw(s, 2, &ack);
    assert!(w.run_until(S, |w| confirmed(w, b, inc)));
    (b, s, inc, p)
}

/// RFC 3311 §5.2: an UPDATE with an offer while the re-INVITE's offer is
/// still unanswered gets 500 with a Retry-After of 0-10 s; an UPDATE
/// without an offer is accepted (it only refreshes the target); the
/// re-INVITE is then answered normally.
#[test]
fn update_during_a_pending_reinvite_gets_500_with_retry_after() {
    let mut w = World::perfect();
    let (b, s, inc, mut p) = scripted_call(&mut w);
    let reinvite = request(&mut p, "INVITE", Some(&sdp_text(7000, "sendonly")));
    w.send_raw(s, 2, &reinvite);
    assert!(w.run_until(S, |w| offers(w, b, inc) == 1));
    let update = request(&mut p, "UPDATE", Some(&sdp_text(7000, "inactive")));
    w.send_raw(s, 2, &update);
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    let r = response_for(&msgs, Method::Update, 3).expect("a response to the UPDATE");
    assert_eq!(r.as_response().unwrap().status.as_u16(), 500);
    let retry: u32 = r
        .headers()
        .get(StdHeader::RetryAfter)
        .expect("Retry-After")
        .trim()
        .parse()
        .unwrap();
    assert!(retry <= 10);
    assert_eq!(offers(&w, b, inc), 1, "the application never saw it");
    // An UPDATE without an offer is fine during the re-INVITE.
    let update = request(&mut p, "UPDATE", None);
    w.send_raw(s, 2, &update);
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    assert_eq!(status_for(&msgs, Method::Update, 4), 200);
    // The re-INVITE is answered as usual.
    let now = w.now;
    w.ep(b)
        .respond_offer(now, inc, 200, Some(sdp(5000, "recvonly")))
        .unwrap();
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    assert_eq!(status_for(&msgs, Method::Invite, 2), 200);
    let ack = raw_request(&p, "ACK", 2, None);
    w.send_raw(s, 2, &ack);
    w.run(Duration::from_millis(50));
    let bye = request(&mut p, "BYE", None);
    w.send_raw(s, 2, &bye);
    assert!(w.run_until(S, |w| w.ended(b, inc).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    assert!(w.settle(S * 64));
}

/// RFC 3311 §5.2 glare: an UPDATE with an offer while our own re-INVITE's
/// offer is unanswered gets 491; a second UPDATE before we answered the
/// first gets 500.
#[test]
fn update_glare_with_our_reinvite_gets_491() {
    let mut w = World::perfect();
    let (b, s, inc, mut p) = scripted_call(&mut w);
    let now = w.now;
    w.ep(b)
        .reinvite(now, inc, Some(sdp(5000, "sendonly")))
        .unwrap();
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    let reinvite = msgs
        .iter()
        .find(|m| m.method() == Some(Method::Invite))
        .unwrap()
        .clone();
    let update = request(&mut p, "UPDATE", Some(&sdp_text(7000, "inactive")));
    w.send_raw(s, 2, &update);
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    assert_eq!(status_for(&msgs, Method::Update, 2), 491);
    // The peer answers our re-INVITE; bob ACKs it.
    let mut ok = response_to(reinvite.as_request().unwrap(), StatusCode::OK, None);
    ok.headers.push("Contact", "<sip:peer@10.0.0.9:5060>");
    let body = sdp_text(7000, "recvonly");
    ok.headers.push("Content-Type", "application/sdp");
    ok.headers.set("Content-Length", body.len().to_string());
    ok.body = body.into();
    w.send_response(s, 2, ok);
    assert!(w.run_until(S, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::OfferResult { status: 200, .. }
    ))));
    // Now two UPDATEs with offers back to back: the second gets 500.
    let u1 = request(&mut p, "UPDATE", Some(&sdp_text(7000, "sendonly")));
    let u2 = request(&mut p, "UPDATE", Some(&sdp_text(7000, "inactive")));
    w.send_raw(s, 2, &u1);
    w.send_raw(s, 2, &u2);
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    assert!(msgs.iter().any(|m| m.method() == Some(Method::Ack)));
    assert!(
        response_for(&msgs, Method::Update, 3).is_none(),
        "waits for the app"
    );
    assert_eq!(status_for(&msgs, Method::Update, 4), 500);
    let now = w.now;
    w.ep(b)
        .respond_offer(now, inc, 200, Some(sdp(5000, "recvonly")))
        .unwrap();
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    assert_eq!(status_for(&msgs, Method::Update, 3), 200);
    let now = w.now;
    w.ep(b).hangup(now, inc).unwrap();
    w.run(Duration::from_millis(50));
    let msgs = take(&mut w, s);
    let bye = msgs
        .iter()
        .find(|m| m.method() == Some(Method::Bye))
        .unwrap();
    let ok = response_to(bye.as_request().unwrap(), StatusCode::OK, None);
    w.send_response(s, 2, ok);
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(b, inc), Some(EndReason::LocalBye));
}
