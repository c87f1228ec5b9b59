//! Reliable provisional responses and PRACK (RFC 3262) between two user
//! agents on the simulated network.

mod common;

use common::*;
use sipline_dialog::{CallEvent, EndReason, Error, Handle};
use sipline_message::header::{RAck, StdHeader};
use sipline_message::{Message, Method};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

fn progress_count(w: &World, i: usize, call: Handle, status: u16) -> usize {
    w.call_events(i, call)
        .iter()
        .filter(|e| matches!(e, CallEvent::Progress { status: s, .. } if *s == status))
        .count()
}

/// RFC 3262 §3/§4: a reliable 183 with the SDP answer carries Require:
/// 100rel and an RSeq; the caller PRACKs it with RAck = RSeq, CSeq number
/// and method; the callee answers the PRACK 200 and tells the application;
/// the 200 to the INVITE follows; the BYE's CSeq comes after the PRACK's.
#[test]
fn reliable_183_with_sdp_is_pracked() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let inv = &w.sent("INVITE ")[0].1;
    assert!(header(inv, StdHeader::Supported)
        .unwrap()
        .contains("100rel"));
    let now = w.now;
    w.ep(b)
        .ring_reliably(now, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::PrackReceived { body: None }
    ))));
    let r183 = &w.sent("SIP/2.0 183")[0].1;
    assert_eq!(header(r183, StdHeader::Require).as_deref(), Some("100rel"));
    let rseq: u32 = header(r183, StdHeader::RSeq).unwrap().parse().unwrap();
    assert!((1..1 << 31).contains(&rseq));
    let pracks = w.sent("PRACK ");
    assert_eq!(pracks.len(), 1);
    let prack = &pracks[0].1;
    let rack = RAck::parse(prack.headers().get(StdHeader::RAck).unwrap()).unwrap();
    assert_eq!(
        (rack.rseq, rack.cseq, rack.method),
        (rseq, 1, Method::Invite)
    );
    assert_eq!(prack.cseq().unwrap().seq, 2);
    assert_eq!(prack.to_tag(), r183.to_tag(), "PRACK in the early dialog");
    assert_eq!(w.count_sent("SIP/2.0 200"), 1, "the PRACK's 200");
    match &w.call_events(a, call)[0] {
        CallEvent::Progress {
            status: 183,
            body: Some(body),
            ..
        } => assert!(std::str::from_utf8(&body.data)
            .unwrap()
            .contains("m=audio 5000")),
        other => panic!("{other:?}"),
    }
    let now = w.now;
    w.ep(b).answer(now, inc, None).unwrap();
    assert!(w.run_until(S, |w| answered(w, a, call)));
    w.run(Duration::from_millis(100));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S, |w| w.ended(b, inc).is_some()
        && w.ended(a, call).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
    assert_eq!(w.ended(a, call), Some(EndReason::LocalBye));
    assert_eq!(w.sent("BYE ")[0].1.cseq().unwrap().seq, 3);
    assert!(w.settle(S * 64));
}

/// A lost PRACK: the callee keeps resending the 183 (T1, 2·T1 ...); the
/// caller acknowledges each retransmission with nothing new (only the
/// PRACK transaction's own retransmissions go out, all one request) and
/// reports the 183 once; once a PRACK gets through, the 183 stops.
#[test]
fn lost_prack_retransmits_the_183_until_one_arrives() {
    let mut w = World::perfect();
    let mut lost = 0;
    w.drop = Some(Box::new(move |_, _, m| {
        if m.starts_with(b"PRACK ") && lost < 3 {
            lost += 1;
            return true;
        }
        false
    }));
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let t0 = w.now;
    w.ep(b)
        .ring_reliably(t0, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S * 10, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::PrackReceived { .. }
    ))));
    // PRACK at 0 (lost), its retransmissions at 0.5, 1.5 (lost), 3.5 s.
    let took = w.now - t0;
    assert!(took > S * 3 && took < S * 4, "{took:?}");
    let r183 = w.sent("SIP/2.0 183");
    // 183 at 0, 0.5, 1.5, 3.5 s (T1 doubling); the PRACK came at 3.51 s.
    let times: Vec<_> = r183.iter().map(|(t, _)| *t - (t0 - w.start)).collect();
    assert_eq!(
        times,
        vec![
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_millis(3500)
        ]
    );
    let pracks = w.sent("PRACK ");
    assert_eq!(pracks.len(), 4);
    let branches: std::collections::HashSet<_> = pracks
        .iter()
        .map(|(_, m)| m.branch().unwrap().to_string())
        .collect();
    assert_eq!(branches.len(), 1, "one PRACK request, retransmitted");
    assert_eq!(progress_count(&w, a, call, 183), 1, "183 reported once");
    let n = r183.len();
    w.run(S * 10);
    assert_eq!(w.sent("SIP/2.0 183").len(), n, "no 183 after the PRACK");
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.run_until(S * 2, |w| w.ended(a, call).is_some()));
    assert_eq!(w.ended(b, inc), Some(EndReason::CancelledByPeer));
    assert!(w.settle(S * 64));
}

/// No PRACK ever: the 183 is sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and
/// 31.5 s and at 64·T1 = 32 s the callee rejects the INVITE with 504
/// (RFC 3262 §3 "SHOULD reject ... with a 5xx").
#[test]
fn no_prack_rejects_the_invite_after_64_t1() {
    let mut w = World::perfect();
    w.drop = Some(Box::new(|_, _, m| m.starts_with(b"PRACK ")));
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let t0 = w.now;
    w.ep(b)
        .ring_reliably(t0, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S * 40, |w| w.ended(b, inc).is_some()));
    assert_eq!(w.now - t0, S * 32);
    assert_eq!(w.ended(b, inc), Some(EndReason::Timeout));
    let times: Vec<u64> = w
        .sent("SIP/2.0 183")
        .iter()
        .map(|(t, _)| (*t - (t0 - w.start)).as_millis() as u64)
        .collect();
    assert_eq!(times, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(w.run_until(S, |w| w.ended(a, call).is_some()));
    assert!(matches!(
        w.ended(a, call),
        Some(EndReason::Rejected { status: 504, .. })
    ));
    assert_eq!(progress_count(&w, a, call, 183), 1);
    assert!(w.settle(S * 64));
}

/// §3: a second reliable 1xx waits for the PRACK of the first (RSeq + 1),
/// and a 2xx waits for the PRACK of a 1xx that carried SDP.
#[test]
fn second_reliable_1xx_and_the_2xx_wait_for_the_prack() {
    let mut w = World::perfect();
    let (a, b, call, inc) = alice_calls_bob(&mut w);
    let now = w.now;
    w.ep(b).ring_reliably(now, inc, 180, None).unwrap();
    w.ep(b)
        .ring_reliably(now, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    w.ep(b).answer(now, inc, None).unwrap();
    assert_eq!(w.count_sent("SIP/2.0 183"), 0);
    assert!(w.run_until(S * 2, |w| answered(w, a, call)));
    let r180 = &w.sent("SIP/2.0 180")[0];
    let r183 = &w.sent("SIP/2.0 183")[0];
    let rseq = |m: &Message| header(m, StdHeader::RSeq).unwrap().parse::<u32>().unwrap();
    assert_eq!(rseq(&r183.1), rseq(&r180.1) + 1);
    let pracks = w.sent("PRACK ");
    assert_eq!(pracks.len(), 2);
    // The 183 after the first PRACK, the 2xx after the second.
    assert!(r183.0 > pracks[0].0);
    let ok = w
        .sent("SIP/2.0 200")
        .into_iter()
        .find(|(_, m)| m.cseq().unwrap().method == Method::Invite)
        .unwrap();
    assert!(ok.0 > pracks[1].0);
    let ev = w.call_events(a, call);
    assert!(matches!(ev[0], CallEvent::Progress { status: 180, .. }));
    assert!(matches!(ev[1], CallEvent::Progress { status: 183, .. }));
    let now = w.now;
    w.ep(b).hangup(now, inc).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(a, call), Some(EndReason::RemoteBye));
}

/// §3: with `Require: 100rel` in the INVITE, a plain `ring` is sent
/// reliably too; without 100rel in Supported or Require, `ring_reliably`
/// is refused.
#[test]
fn require_100rel_makes_every_ring_reliable() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let c = w.ua("carol", 3, |c| c.supported.retain(|t| t != "100rel"));
    let now = w.now;
    let call = w
        .ep(a)
        .call(
            now,
            uri("bob", 2),
            Some(sdp(4000, "sendrecv")),
            vec![("Require".into(), "100rel".into())],
        )
        .unwrap();
    let call2 = w
        .ep(c)
        .call(now, uri("bob", 2), Some(sdp(4002, "sendrecv")), vec![])
        .unwrap();
    assert!(w.run_until(S, |w| w.incoming_calls(b).len() == 2));
    let incs = w.incoming_calls(b);
    let now = w.now;
    w.ep(b).ring(now, incs[0], 180, None).unwrap();
    assert_eq!(
        w.ep(b).ring_reliably(now, incs[1], 180, None),
        Err(Error::State("the INVITE does not support 100rel"))
    );
    assert!(w.run_until(S, |w| has(w, b, incs[0], |e| matches!(
        e,
        CallEvent::PrackReceived { .. }
    ))));
    let r180 = &w.sent("SIP/2.0 180")[0].1;
    assert!(header(r180, StdHeader::RSeq).is_some());
    for (i, h) in [(a, call), (c, call2)] {
        let now = w.now;
        w.ep(i).hangup(now, h).unwrap();
    }
    assert!(w.settle(S * 64));
}

/// §5: the INVITE had no offer; the reliable 183 carries it; the caller's
/// application gives the answer in the PRACK, which the callee's
/// application gets.
#[test]
fn offer_in_a_reliable_183_is_answered_in_the_prack() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let call = w.ep(a).call(now, uri("bob", 2), None, vec![]).unwrap();
    assert!(w.run_until(S, |w| w.incoming_call(b).is_some()));
    let inc = w.incoming_call(b).unwrap();
    let now = w.now;
    w.ep(b)
        .ring_reliably(now, inc, 183, Some(sdp(5000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, a, call, |e| matches!(
        e,
        CallEvent::PrackNeeded
    ))));
    assert_eq!(w.count_sent("PRACK "), 0);
    let now = w.now;
    w.ep(a)
        .prack(now, call, Some(sdp(4000, "sendrecv")))
        .unwrap();
    assert!(w.run_until(S, |w| has(w, b, inc, |e| matches!(
        e,
        CallEvent::PrackReceived { body: Some(b) } if std::str::from_utf8(&b.data).unwrap().contains("m=audio 4000")
    ))));
    let now = w.now;
    w.ep(b).answer(now, inc, None).unwrap();
    assert!(w.run_until(S, |w| has(w, a, call, |e| matches!(
        e,
        CallEvent::Answered {
            needs_ack: false,
            ..
        }
    ))));
    let now = w.now;
    w.ep(a).hangup(now, call).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(w.ended(b, inc), Some(EndReason::RemoteBye));
}

/// Reliable 183s, PRACKs and deferred 2xx over a lossy network (20% loss
/// each way, duplicates, jitter): every call ends on both sides and both
/// endpoints end empty.
#[test]
fn reliable_provisionals_survive_loss() {
    let mut answered_calls = 0;
    for seed in 0..30u64 {
        let (mut w, a, b) = World::lossy(0.2, seed);
        let call = call_with_offer(&mut w, a, 2);
        w.run_until(S * 40, |w| {
            w.incoming_call(b).is_some() || w.ended(a, call).is_some()
        });
        if let Some(inc) = w.incoming_call(b) {
            let now = w.now;
            if w.ep(b)
                .ring_reliably(now, inc, 183, Some(sdp(5000, "sendrecv")))
                .is_ok()
            {
                let _ = w.ep(b).answer(now, inc, None);
            }
            w.run_until(S * 60, |w| {
                answered(w, a, call) || w.ended(a, call).is_some()
            });
            if answered(&w, a, call) {
                answered_calls += 1;
                // Reported once, whatever was retransmitted.
                assert_eq!(progress_count(&w, a, call, 183), 1, "seed {seed}");
            }
            let now = w.now;
            let _ = w.ep(a).hangup(now, call);
            assert!(
                w.run_until(S * 80, |w| w.ended(a, call).is_some()
                    && w.ended(b, inc).is_some()),
                "seed {seed}: {:?} / {:?}",
                w.call_events(a, call),
                w.call_events(b, inc)
            );
        }
        assert!(w.settle(S * 200), "seed {seed}: endpoints not empty");
    }
    assert!(answered_calls >= 20, "only {answered_calls} of 30 answered");
}
