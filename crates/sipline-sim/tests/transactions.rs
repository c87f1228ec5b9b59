//! Transactions over a lossy simulated network, in virtual time.
//!
//! A UAC (host 1) and a UAS (host 2), each a transaction table, exchange
//! requests and responses over a network that loses 30% of datagrams both
//! ways (and, in the last test, also duplicates and reorders). For every
//! seed, each transaction must complete or time out exactly when the RFC
//! 3261 timers say, retransmissions must stop when they should, and both
//! tables must be empty once the last timer has fired.

use sipline_message::{Bytes, Message, StatusCode};
use sipline_sim::{Conditions, Datagram, Host, Network};
use sipline_transaction::{Config, Event, Received, ResponseMatch, Transactions};
use std::time::{Duration, Instant};

const UAC: Host = 1;
const UAS: Host = 2;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: &str) -> Message {
    Message::parse(Bytes::from(format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKsim1\r\n\
Max-Forwards: 70\r\nTo: <sip:bob@biloxi.example.com>\r\n\
From: <sip:alice@atlanta.example.com>;tag=88\r\n\
Call-ID: sim@pc33\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

/// What each side did, with times since the start.
#[derive(Default, Debug)]
struct Log {
    sent: Vec<(Duration, Bytes)>,
    events: Vec<(Duration, Event)>,
    /// UAS: when the first request arrived and when an ACK was absorbed.
    first_request: Option<Duration>,
    ack_absorbed: Option<Duration>,
}

impl Log {
    fn first(&self, f: impl Fn(&Event) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }
    fn terminated(&self) -> Option<Duration> {
        self.first(|e| matches!(e, Event::Terminated { .. }))
    }
}

/// Runs one request through the network until nothing is left to do.
fn simulate(method: &str, answer: u16, conditions: Conditions, seed: u64) -> (Log, Log) {
    let t0 = Instant::now();
    let mut net = Network::new(conditions, seed);
    let mut uac: Transactions<Host> = Transactions::new(Config::default());
    let mut uas: Transactions<Host> = Transactions::new(Config::default());
    let (mut lc, mut ls) = (Log::default(), Log::default());
    let mut now = t0;
    uac.send_request(now, request(method), UAS, false).unwrap();
    for _ in 0..100_000 {
        // drain both sides into the network
        while let Some(t) = uac.poll_transmit() {
            lc.sent.push((now - t0, t.message.clone()));
            net.send(
                now,
                Datagram {
                    from: UAC,
                    to: t.destination,
                    data: t.message,
                },
            );
        }
        while let Some(t) = uas.poll_transmit() {
            ls.sent.push((now - t0, t.message.clone()));
            net.send(
                now,
                Datagram {
                    from: UAS,
                    to: t.destination,
                    data: t.message,
                },
            );
        }
        while let Some(e) = uac.poll_event() {
            lc.events.push((now - t0, e));
        }
        while let Some(e) = uas.poll_event() {
            ls.events.push((now - t0, e));
        }
        let next = [net.poll_timeout(), uac.poll_timeout(), uas.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        assert!(
            next - t0 < Duration::from_secs(600),
            "bounded in virtual time"
        );
        now = next;
        while let Some(d) = net.poll_deliver(now) {
            let msg = Message::parse(d.data).expect("we send well-formed messages");
            if d.to == UAS {
                match uas.handle_request(now, msg, d.from, false) {
                    Received::New {
                        transaction,
                        request,
                        ..
                    } => {
                        ls.first_request.get_or_insert(now - t0);
                        let resp = sipline_message::builder::response_to(
                            request.as_request().unwrap(),
                            StatusCode::new(answer).unwrap(),
                            Some("uas1"),
                        );
                        uas.respond(now, transaction, resp.into()).unwrap();
                    }
                    Received::AckAbsorbed { .. } => {
                        ls.ack_absorbed.get_or_insert(now - t0);
                    }
                    _ => {}
                }
            } else {
                let _ = uac.handle_response(now, msg) as ResponseMatch;
            }
        }
        uac.handle_timeout(now);
        uas.handle_timeout(now);
    }
    assert!(uac.is_empty() && uas.is_empty(), "no transaction leaks");
    assert_eq!(net.in_flight(), 0);
    (lc, ls)
}

fn is_method(b: &Bytes, m: &str) -> bool {
    b.starts_with(m.as_bytes())
}

/// Schedules of RFC 3261 §17 with T1 = 500 ms, T2 = 4 s, in ms.
const E_SCHEDULE: [u64; 11] = [
    0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
];
const A_SCHEDULE: [u64; 7] = [0, 500, 1500, 3500, 7500, 15500, 31500];

const LOSSY: Conditions = Conditions {
    loss: 0.3,
    duplicate: 0.0,
    latency: Duration::from_millis(20),
    jitter: Duration::ZERO,
};

#[test]
fn non_invite_over_30_percent_loss() {
    let mut completed = 0;
    for seed in 0..200 {
        let (c, s) = simulate("OPTIONS", 200, LOSSY, seed);
        let got = c.first(|e| matches!(e, Event::Response { .. }));
        let cutoff = got.unwrap_or(ms(32_000));
        // the client sent exactly the E schedule up to the response (§17.1.2.2)
        let sends: Vec<_> = c.sent.iter().map(|(t, _)| *t).collect();
        let want: Vec<_> = E_SCHEDULE
            .iter()
            .map(|&t| ms(t))
            .filter(|&t| t < cutoff)
            .collect();
        assert_eq!(sends, want, "seed {seed}");
        match got {
            // Completed, then Timer K = T4
            Some(t) => {
                completed += 1;
                assert_eq!(c.terminated(), Some(t + ms(5000)), "seed {seed}");
            }
            // Timer F at exactly 64*T1
            None => {
                assert_eq!(
                    c.first(|e| matches!(e, Event::Timeout { .. })),
                    Some(ms(32_000))
                );
                assert_eq!(c.terminated(), Some(ms(32_000)));
            }
        }
        // the server: Timer J = 64*T1 after it answered, and it only ever
        // sent responses between its first request and its end (§17.2.2)
        if let Some(first) = s.first_request {
            assert_eq!(s.terminated(), Some(first + ms(32_000)), "seed {seed}");
            assert!(s
                .sent
                .iter()
                .all(|(t, _)| *t >= first && *t <= first + ms(32_000)));
        }
    }
    // with 11 tries each way at 30% loss nearly every request completes
    assert!(completed >= 195, "{completed} of 200 completed");
}

#[test]
fn invite_with_486_over_30_percent_loss() {
    let mut confirmed = 0;
    for seed in 0..200 {
        let (c, s) = simulate("INVITE", 486, LOSSY, seed);
        let got = c.first(|e| matches!(e, Event::Response { .. }));
        let cutoff = got.unwrap_or(ms(32_000));
        let invites: Vec<_> = c
            .sent
            .iter()
            .filter(|(_, b)| is_method(b, "INVITE"))
            .map(|(t, _)| *t)
            .collect();
        let want: Vec<_> = A_SCHEDULE
            .iter()
            .map(|&t| ms(t))
            .filter(|&t| t < cutoff)
            .collect();
        assert_eq!(invites, want, "seed {seed}: Timer A schedule");
        match got {
            Some(t) => {
                // ACK at once (§17.1.1.3), then Timer D = 32 s
                assert!(c.sent.iter().any(|(at, b)| *at == t && is_method(b, "ACK")));
                assert_eq!(c.terminated(), Some(t + ms(32_000)), "seed {seed}");
            }
            None => assert_eq!(c.terminated(), Some(ms(32_000))),
        }
        // the server retransmits its 486 on the G schedule until the ACK
        // arrives or Timer H fires (§17.2.1)
        let Some(first) = s.first_request else {
            continue;
        };
        let end = s.ack_absorbed.unwrap_or(first + ms(32_000));
        let sends: Vec<_> = s.sent.iter().map(|(t, _)| *t).collect();
        for g in E_SCHEDULE
            .iter()
            .map(|&t| first + ms(t))
            .filter(|&t| t < end)
        {
            assert!(
                sends.contains(&g),
                "seed {seed}: no retransmission at {g:?}"
            );
        }
        assert!(
            sends.iter().all(|&t| t <= end),
            "seed {seed}: sent after ACK/H"
        );
        match s.ack_absorbed {
            // Confirmed, then Timer I = T4
            Some(a) => {
                confirmed += 1;
                assert_eq!(s.terminated(), Some(a + ms(5000)), "seed {seed}");
            }
            // Timer H: the TU is told
            None => {
                assert_eq!(
                    s.first(|e| matches!(e, Event::Timeout { .. })),
                    Some(first + ms(32_000))
                );
                assert_eq!(s.terminated(), Some(first + ms(32_000)));
            }
        }
    }
    assert!(confirmed >= 190, "{confirmed} of 200 confirmed");
}

#[test]
fn duplication_and_reordering_change_nothing_essential() {
    let rough = Conditions {
        loss: 0.1,
        duplicate: 0.3,
        latency: ms(20),
        jitter: ms(400),
    };
    for seed in 0..200 {
        for (method, code) in [("OPTIONS", 200), ("INVITE", 486), ("INVITE", 200)] {
            let (c, s) = simulate(method, code, rough, seed);
            let responses = c
                .events
                .iter()
                .filter(|(_, e)| matches!(e, Event::Response { .. }))
                .count();
            // duplicates of a final non-2xx response are absorbed; 2xx ones go up (RFC 6026)
            if code != 200 || method != "INVITE" {
                assert!(
                    responses <= 1,
                    "seed {seed} {method}: {responses} responses passed up"
                );
            }
            let ct = c.terminated().expect("client ends");
            assert!(c.sent.iter().all(|(t, _)| *t <= ct));
            let st = s.terminated().expect("server ends");
            assert!(s.sent.iter().all(|(t, _)| *t <= st));
        }
    }
}
