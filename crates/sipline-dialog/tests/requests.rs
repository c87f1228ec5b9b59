//! Requests outside calls (MESSAGE, RFC 3428), registration (RFC 3261
//! §10.2, RFC 5626 §4.5), digest challenges (§22.2), and soak/loss runs.

mod common;

use common::*;
use sipline_auth::Credential;
use sipline_dialog::{CallEvent, Credentials, EndReason, Event, RegistrationEvent};
use sipline_message::builder::response_to;
use sipline_message::header::StdHeader;
use sipline_message::{Message, Method, Response, StatusCode};
use sipline_sim::Conditions;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn message_is_delivered_and_answered() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let h = w
        .ep(a)
        .request(
            now,
            Method::Message,
            uri("bob", 2),
            Some(sipline_dialog::Body {
                content_type: "text/plain".into(),
                data: "hello bob".into(),
            }),
            vec![],
        )
        .unwrap();
    assert!(w.run_until(S, |w| !w.events[b].is_empty()));
    let (req, msg) = match &w.events[b][0].1 {
        Event::IncomingRequest { request, message } => (*request, message.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(msg.method, Method::Message);
    assert_eq!(&msg.body[..], b"hello bob");
    let now = w.now;
    w.ep(b).respond(now, req, 200, None, vec![]).unwrap();
    assert!(w.run_until(S, |w| !w.events[a].is_empty()));
    match &w.events[a][0].1 {
        Event::Response { request, response } => {
            assert_eq!(*request, h);
            assert_eq!(response.status.as_u16(), 200);
        }
        other => panic!("{other:?}"),
    }
    assert!(w.settle(S * 64));
}

#[test]
fn message_to_nobody_fails_with_timeout_after_64_t1() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let now = w.now;
    let h = w
        .ep(a)
        .request(now, Method::Message, uri("bob", 7), None, vec![])
        .unwrap();
    assert!(w.run_until(S * 40, |w| !w.events[a].is_empty()));
    assert_eq!(w.now - w.start, S * 32);
    assert!(matches!(
        &w.events[a][0].1,
        Event::RequestFailed { request, failure: sipline_dialog::Failure::Timeout } if *request == h
    ));
    assert!(w.settle(S * 64));
}

fn creds(c: &mut sipline_dialog::Config) {
    c.credentials = Some(Credentials {
        username: "alice".into(),
        secret: Credential::Password("secret".into()),
    });
}

/// Registration with a challenge, refresh at half the granted expiry,
/// back-off after a 503, and removal (RFC 3261 §10.2, RFC 5626 §4.5).
#[test]
fn register_challenge_refresh_backoff_and_remove() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, creds);
    let r = w.script(9);
    let now = w.now;
    let registrar = sipline_message::Uri::parse("sip:10.0.0.9").unwrap();
    let reg = w.ep(a).register(now, registrar, 3600).unwrap();
    w.run(Duration::from_millis(50));
    let first = w.inbox(r).remove(0);
    assert_eq!(first.method(), Some(Method::Register));
    assert_eq!(first.expires().unwrap(), Some(3600));
    assert!(first.headers().get(StdHeader::Authorization).is_none());
    let mut ch = response_to(
        first.as_request().unwrap(),
        StatusCode::UNAUTHORIZED,
        Some("r1"),
    );
    ch.headers.push(
        "WWW-Authenticate",
        r#"Digest realm="sim", nonce="abc123", qop="auth", algorithm=MD5"#,
    );
    w.send_response(r, 1, ch);
    w.run(Duration::from_millis(50));
    let second = w.inbox(r).remove(0);
    let auth = second
        .headers()
        .get(StdHeader::Authorization)
        .unwrap()
        .to_string();
    assert!(
        auth.contains(r#"username="alice""#) && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert_eq!(second.call_id(), first.call_id(), "§10.2: same Call-ID");
    assert_eq!(second.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    // The registrar verifies with the same algorithm the server crate uses.
    let mut ok = response_to(second.as_request().unwrap(), StatusCode::OK, Some("r1"));
    let contact = second
        .headers()
        .get(StdHeader::Contact)
        .unwrap()
        .to_string();
    ok.headers.push("Contact", format!("{contact};expires=60"));
    ok.headers
        .push("Contact", "<sip:alice@10.0.0.50>;expires=100");
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| !w.events[a].is_empty()));
    match &w.events[a][0].1 {
        Event::Registration {
            registration,
            event:
                RegistrationEvent::Registered {
                    expires,
                    contacts,
                    outbound,
                },
        } => {
            assert_eq!(*registration, reg);
            assert!(!outbound, "no Require: outbound in the 200");
            assert_eq!(*expires, 60, "the granted expiry of our own contact");
            assert_eq!(contacts.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    // Refresh at 30 s, with credentials (nc 2) and the next CSeq.
    let t_ok = w.now;
    assert!(w.run_until(S * 40, |w| !w.parties[1].1.is_ua() && !inbox_empty(w, 1)));
    assert_eq!(
        w.now - t_ok,
        S * 30 + Duration::from_millis(10),
        "30 s, plus the 10 ms network delay"
    );
    let refresh = w.inbox(r).remove(0);
    assert_eq!(refresh.cseq().unwrap().seq, second.cseq().unwrap().seq + 1);
    assert!(refresh
        .headers()
        .get(StdHeader::Authorization)
        .unwrap()
        .contains("nc=00000002"));
    // 503: back-off of 15-30 s (base 30 s randomized to 50-100%).
    let busy = response_to(
        refresh.as_request().unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        Some("r1"),
    );
    w.send_response(r, 1, busy);
    assert!(w.run_until(S, |w| w.events[a].len() == 2));
    let retry = match &w.events[a][1].1 {
        Event::Registration {
            event:
                RegistrationEvent::Failed {
                    status: 503,
                    retry_in: Some(d),
                    ..
                },
            ..
        } => *d,
        other => panic!("{other:?}"),
    };
    assert!(retry >= S * 15 && retry <= S * 30, "{retry:?}");
    let t_fail = w.now;
    assert!(w.run_until(S * 40, |w| !inbox_empty(w, 1)));
    let waited = w.now - t_fail;
    assert!(
        waited >= retry && waited < retry + S,
        "{waited:?} vs {retry:?}"
    );
    let again = w.inbox(r).remove(0);
    let ok = response_to(again.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 3));
    // Remove.
    let now = w.now;
    w.ep(a).unregister(now, reg).unwrap();
    w.run(Duration::from_millis(50));
    let del = w.inbox(r).remove(0);
    assert_eq!(del.expires().unwrap(), Some(0));
    let ok = response_to(del.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 4));
    assert!(matches!(
        &w.events[a][3].1,
        Event::Registration {
            event: RegistrationEvent::Unregistered,
            ..
        }
    ));
    assert!(w.settle(S * 64));
}

fn inbox_empty(w: &World, i: usize) -> bool {
    match &w.parties[i].1 {
        Party::Script(s) => s.inbox.is_empty(),
        Party::Ua(_) => true,
    }
}

trait IsUa {
    fn is_ua(&self) -> bool;
}
impl IsUa for Party {
    fn is_ua(&self) -> bool {
        matches!(self, Party::Ua(_))
    }
}

/// A 407 to `request` with a digest challenge (realm "sim", qop auth)
/// with this nonce.
fn proxy_challenge(request: &Message, tag: Option<&str>, nonce: &str) -> Response {
    let mut ch = response_to(
        request.as_request().unwrap(),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        tag,
    );
    ch.headers.push(
        "Proxy-Authenticate",
        format!(r#"Digest realm="sim", nonce="{nonce}", qop="auth""#),
    );
    ch
}

/// A 407 to an INVITE: the INVITE is sent again with Proxy-Authorization
/// and CSeq + 1 (§22.2, §22.3); the ACK of the 2xx carries the same
/// credentials (§13.2.2.4 / §22.1). Wrong credentials (a second 407 for the
/// same nonce) end the call instead of looping.
#[test]
fn invite_answers_a_proxy_challenge_once() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, creds);
    let p = w.script(9);
    let (call, inv) = call_script(&mut w, a, p);
    let ch = proxy_challenge(&inv, Some("p1"), "n1");
    w.send_response(p, 1, ch.clone());
    w.run(Duration::from_millis(50));
    let msgs = std::mem::take(w.inbox(p));
    assert_eq!(msgs[0].method(), Some(Method::Ack), "ACK for the 407");
    let inv2 = msgs[1].clone();
    assert_eq!(inv2.method(), Some(Method::Invite));
    assert_eq!(inv2.cseq().unwrap().seq, 2);
    assert!(inv2.headers().get(StdHeader::ProxyAuthorization).is_some());
    // Refused again with the same nonce: the call fails with 407.
    let ch2 = proxy_challenge(&inv2, Some("p2"), "n1");
    w.send_response(p, 1, ch2);
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert!(matches!(
        w.ended(a, call),
        Some(EndReason::Rejected { status: 407, .. })
    ));
}

/// Calls over a lossy network (30% loss each way, reordering): for every
/// seed the call is set up, confirmed and torn down, both sides agree, and
/// both endpoints end empty.
#[test]
fn calls_survive_thirty_percent_loss() {
    let mut completed = 0;
    for seed in 0..40u64 {
        let (mut w, a, b) = World::lossy(0.3, seed);
        let call = call_with_offer(&mut w, a, 2);
        if !w.run_until(S * 40, |w| {
            w.incoming_call(b).is_some() || w.ended(a, call).is_some()
        }) {
            panic!("seed {seed}: nothing happened");
        }
        if let Some(inc) = w.incoming_call(b) {
            let now = w.now;
            w.ep(b)
                .answer(now, inc, Some(sdp(5000, "sendrecv")))
                .unwrap();
            w.run_until(S * 40, |w| {
                w.call_events(a, call)
                    .iter()
                    .any(|e| matches!(e, CallEvent::Answered { .. }))
                    || w.ended(a, call).is_some()
            });
            let now = w.now;
            let _ = w.ep(a).hangup(now, call);
            assert!(
                w.run_until(S * 80, |w| w.ended(a, call).is_some()
                    && w.ended(b, inc).is_some()),
                "seed {seed}: a call did not end: {:?} / {:?}",
                w.call_events(a, call),
                w.call_events(b, inc)
            );
            if w.ended(a, call) == Some(EndReason::LocalBye) {
                completed += 1;
            }
        }
        assert!(w.settle(S * 200), "seed {seed}: endpoints not empty");
    }
    assert!(
        completed >= 30,
        "only {completed} of 40 calls completed normally"
    );
}

/// Thousands of calls one after another: every call, dialog, transaction
/// and timer is reclaimed by the endpoint itself (no API to forget), so the
/// state at the end is what it was at the start.
#[test]
fn soak_five_thousand_calls_leaves_nothing_behind() {
    let mut w = World::new(Conditions::perfect(Duration::from_millis(1)), 3);
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let mut max_calls = 0;
    for i in 0..5000 {
        let call = call_with_offer(&mut w, a, 2);
        let before = w.incoming_calls(b).len();
        assert!(w.run_until(S, |w| w.incoming_calls(b).len() > before));
        let inc = *w.incoming_calls(b).last().unwrap();
        let now = w.now;
        if i % 10 == 9 {
            w.ep(b).reject(now, inc, 486).unwrap();
        } else {
            w.ep(b)
                .answer(now, inc, Some(sdp(5000, "sendrecv")))
                .unwrap();
            assert!(w.run_until(S, |w| w
                .call_events(b, inc)
                .iter()
                .any(|e| matches!(e, CallEvent::Confirmed { .. }))));
            let now = w.now;
            w.ep(a).hangup(now, call).unwrap();
        }
        assert!(w.run_until(S, |w| w.ended(a, call).is_some()
            && w.ended(b, inc).is_some()));
        max_calls = max_calls.max(w.ep(a).calls() + w.ep(b).calls());
        // Keep the event logs small.
        if i % 100 == 0 {
            w.events.iter_mut().for_each(|e| e.clear());
            w.log.clear();
        }
    }
    assert_eq!(max_calls, 0, "ended calls are gone at once");
    assert!(w.settle(S * 64), "state left after 5000 calls");
    assert!(w.ep(a).transactions().is_empty() && w.ep(b).transactions().is_empty());
}

/// A BYE challenged by a proxy on the route (407) is sent again with
/// Proxy-Authorization and the next CSeq (RFC 3261 §22.3, §12.2.1.1); the
/// call ends when that one is answered.
#[test]
fn a_challenged_bye_is_sent_again_with_credentials() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, creds);
    let p = w.script(9);
    let (call, inv) = call_script(&mut w, a, p);
    let mut ok = response_to(inv.as_request().unwrap(), StatusCode::OK, Some("b1"));
    ok.headers.push("Contact", "<sip:bob@10.0.0.9:5060>");
    w.send_response(p, 1, ok);
    w.run(Duration::from_millis(50));
    w.inbox(p).clear(); // the ACK
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    w.run(Duration::from_millis(50));
    let bye = w.inbox(p).remove(0);
    assert_eq!(bye.method(), Some(Method::Bye));
    assert!(bye.headers().get(StdHeader::ProxyAuthorization).is_none());
    let ch = proxy_challenge(&bye, None, "bye1");
    w.send_response(p, 1, ch);
    w.run(Duration::from_millis(50));
    let bye2 = w.inbox(p).remove(0);
    assert_eq!(bye2.method(), Some(Method::Bye));
    assert_eq!(bye2.cseq().unwrap().seq, bye.cseq().unwrap().seq + 1);
    assert_ne!(bye2.branch(), bye.branch(), "a new transaction");
    let auth = bye2
        .headers()
        .get(StdHeader::ProxyAuthorization)
        .expect("credentials")
        .to_string();
    assert!(
        auth.contains(r#"nonce="bye1""#) && auth.contains("uri="),
        "{auth}"
    );
    assert!(w.ended(a, call).is_none(), "not ended by the 407");
    let ok = response_to(bye2.as_request().unwrap(), StatusCode::OK, None);
    w.send_response(p, 1, ok);
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(a, call), Some(EndReason::LocalBye));
}

/// Alice (endpoint `a`) registered with the registrar script `r` for an
/// hour; the handle and the REGISTER that did it.
fn registered_for_an_hour() -> (World, usize, usize, sipline_dialog::Handle, Message) {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let r = w.script(9);
    let now = w.now;
    let registrar = sipline_message::Uri::parse("sip:10.0.0.9").unwrap();
    let reg = w.ep(a).register(now, registrar, 3600).unwrap();
    w.run(Duration::from_millis(50));
    let first = w.inbox(r).remove(0);
    let ok = response_to(first.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 1));
    (w, a, r, reg, first)
}

/// RFC 5626 §4.4.2, §4.5: when the UA finds its flow failed (a keep-alive
/// unanswered, or a changed XOR-MAPPED-ADDRESS) after a keep-alive had
/// been answered on it, `flow_failed` registers again at once, same
/// Call-ID, next CSeq; the refresh scheduled before is superseded, not
/// sent as well; a REGISTER in progress is not doubled.
#[test]
fn flow_failed_registers_again_now() {
    let (mut w, a, r, reg, first) = registered_for_an_hour();
    w.run(S * 100);
    assert!(w.inbox(r).is_empty(), "no refresh yet");

    let now = w.now;
    w.ep(a).flow_failed(now, reg, true).unwrap();
    w.run(Duration::from_millis(20));
    let again = w.inbox(r).remove(0);
    assert_eq!(again.method(), Some(Method::Register));
    assert_eq!(again.call_id(), first.call_id());
    assert_eq!(again.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    assert_eq!(again.expires().unwrap(), Some(3600));
    // in progress: nothing more
    let now = w.now;
    w.ep(a).flow_failed(now, reg, true).unwrap();
    w.run(Duration::from_millis(20));
    assert!(w.inbox(r).is_empty(), "one REGISTER at a time");
    let ok = response_to(again.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 2));
    assert!(matches!(
        &w.events[a][1].1,
        Event::Registration {
            event: RegistrationEvent::Registered { expires: 3600, .. },
            ..
        }
    ));
    // The first registration's refresh (at 3000 s) is gone; the new one
    // comes 3000 s after the second 200.
    let t_ok = w.now;
    assert!(w.run_until(S * 3100, |w| !inbox_empty(w, 1)));
    assert_eq!(
        w.now - t_ok,
        S * 3000 + Duration::from_millis(10),
        "one refresh, from the new registration"
    );
    let refresh = w.inbox(r).remove(0);
    assert_eq!(refresh.cseq().unwrap().seq, again.cseq().unwrap().seq + 1);
    // removed: the handle is dead
    let ok = response_to(refresh.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 3));
    let now = w.now;
    w.ep(a).unregister(now, reg).unwrap();
    w.run(Duration::from_millis(50));
    let del = w.inbox(r).remove(0);
    let ok = response_to(del.as_request().unwrap(), StatusCode::OK, Some("r1"));
    w.send_response(r, 1, ok);
    assert!(w.run_until(S, |w| w.events[a].len() == 4));
    let now = w.now;
    assert!(matches!(
        w.ep(a).flow_failed(now, reg, true),
        Err(sipline_dialog::Error::Unknown)
    ));
}

/// RFC 5626 §4.5: a flow is "successful" only once a keep-alive response
/// came back on it. A flow that failed before that is a failure: the next
/// REGISTER waits 50-100% of W = base-time · 2^(failed flows in a row)
/// (30 s, then 60 s), instead of forming the flow again at once, in a loop.
#[test]
fn unproven_flow_failure_backs_off() {
    let (mut w, a, r, reg, first) = registered_for_an_hour();

    let mut last = first;
    for (n, (lo, hi)) in [(15, 30), (30, 60)].into_iter().enumerate() {
        let failed = w.now;
        w.ep(a).flow_failed(failed, reg, false).unwrap();
        w.run(S * (lo - 1));
        assert!(w.inbox(r).is_empty(), "failure {n}: not before {lo} s");
        assert!(w.run_until(S * (hi - lo + 2), |w| !inbox_empty(w, 1)));
        let waited = w.now - failed;
        assert!(
            waited >= S * lo && waited <= S * hi + Duration::from_millis(50),
            "failure {n}: waited {waited:?}"
        );
        let again = w.inbox(r).remove(0);
        assert_eq!(again.call_id(), last.call_id());
        let ok = response_to(again.as_request().unwrap(), StatusCode::OK, Some("r1"));
        w.send_response(r, 1, ok);
        let events = w.events[a].len();
        assert!(w.run_until(S, |w| w.events[a].len() == events + 1));
        last = again;
    }
    // A proven flow resets the count: at once again.
    let now = w.now;
    w.ep(a).flow_failed(now, reg, true).unwrap();
    w.run(Duration::from_millis(20));
    assert_eq!(w.inbox(r).len(), 1, "a proven flow is formed again at once");
}
