//! Every timer of RFC 3261 §17 and RFC 6026, in virtual time, against send
//! schedules written from the RFC (T1 = 500 ms, T2 = 4 s, T4 = 5 s). Each
//! schedule is also run with every base value divided by ten, to prove all
//! timers derive from the configuration.

mod common;

use common::*;
use sipline_message::Method;
use sipline_transaction::{Config, Event, Received, State};
use std::time::Duration;

/// The configurations each test runs under, with the factor that scales an
/// RFC-default schedule to it.
fn configs() -> [(Config, u32); 2] {
    [(Config::default(), 1), (scaled(1, 10), 10)]
}

fn scale(times: &[u64], div: u32) -> Vec<Duration> {
    times.iter().map(|&t| ms(t) / div).collect()
}

#[test]
fn non_invite_client_udp_no_answer() {
    // §17.1.2.2: E starts at T1, doubles up to T2; F fires at 64*T1.
    // 11 sends, at 0, 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s, then F at 32 s.
    let expect = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ];
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        h.table
            .send_request(h.now, request("OPTIONS", "z9hG4bK1"), "peer", false)
            .unwrap();
        h.run_to_end();
        assert_eq!(h.send_times(), scale(&expect, div), "T1={:?}", cfg.t1);
        assert_eq!(h.timeouts(), vec![ms(32_000) / div]);
        assert!(h.table.is_empty(), "no transaction leaks");
    }
}

#[test]
fn invite_client_udp_no_answer() {
    // §17.1.1.2: A doubles with no cap; B fires at 64*T1: 7 sends.
    let expect = [0, 500, 1500, 3500, 7500, 15500, 31500];
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        h.table
            .send_request(h.now, request("INVITE", "z9hG4bK1"), "peer", false)
            .unwrap();
        h.run_to_end();
        assert_eq!(h.send_times(), scale(&expect, div));
        assert_eq!(h.timeouts(), vec![ms(32_000) / div]);
        assert!(h.table.is_empty());
    }
}

#[test]
fn reliable_transports_do_not_retransmit() {
    for method in ["INVITE", "OPTIONS"] {
        for (cfg, div) in configs() {
            let mut h = Harness::new(cfg);
            h.table
                .send_request(h.now, request(method, "z9hG4bK1"), "peer", true)
                .unwrap();
            h.run_to_end();
            assert_eq!(h.send_times(), vec![Duration::ZERO], "{method}");
            assert_eq!(h.timeouts(), vec![ms(32_000) / div]);
            assert!(h.table.is_empty());
        }
    }
}

#[test]
fn non_invite_client_after_provisional_retransmits_every_t2() {
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        let req = request("REGISTER", "z9hG4bK1");
        h.table
            .send_request(h.now, req.clone(), "peer", false)
            .unwrap();
        h.advance(ms(600) / div); // sends at 0, 0.5
        h.table.handle_response(h.now, response_to(&req, 100));
        h.run_to_end();
        // after the 100 at 0.6 s, E keeps its schedule (next at 1.5 s) and
        // then fires every T2: 1.5, 5.5, 9.5 ... 29.5; F at 32.
        let expect = [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500];
        assert_eq!(h.send_times(), scale(&expect, div));
        assert_eq!(h.responses(), vec![100]);
        assert_eq!(h.timeouts(), vec![ms(32_000) / div]);
    }
}

#[test]
fn non_invite_client_final_then_timer_k() {
    for reliable in [false, true] {
        for (cfg, div) in configs() {
            let mut h = Harness::new(cfg);
            let req = request("OPTIONS", "z9hG4bK1");
            let id = h
                .table
                .send_request(h.now, req.clone(), "peer", reliable)
                .unwrap();
            h.advance(ms(100) / div);
            h.table.handle_response(h.now, response_to(&req, 200));
            assert_eq!(h.table.state(id), Some(State::Completed));
            // a retransmitted 200 is absorbed
            h.table.handle_response(h.now, response_to(&req, 200));
            h.run_to_end();
            assert_eq!(h.responses(), vec![200]);
            assert_eq!(h.send_times().len(), 1);
            // Timer K: T4 on UDP, 0 on reliable transports
            let end = h.events.last().unwrap().0;
            let k = if reliable {
                Duration::ZERO
            } else {
                ms(5000) / div
            };
            assert_eq!(end, ms(100) / div + k);
            assert!(h.table.is_empty());
        }
    }
}

#[test]
fn invite_client_non_2xx_sends_ack_and_waits_timer_d() {
    for reliable in [false, true] {
        let mut h = Harness::new(Config::default());
        let req = request("INVITE", "z9hG4bK1");
        let id = h
            .table
            .send_request(h.now, req.clone(), "peer", reliable)
            .unwrap();
        h.advance(ms(100));
        h.table.handle_response(h.now, response_to(&req, 180));
        h.advance(ms(100));
        h.table.handle_response(h.now, response_to(&req, 486));
        assert_eq!(h.table.state(id), Some(State::Completed));
        h.drain();
        // §17.1.1.3: the ACK goes out at once, with the response's To tag.
        assert_eq!(h.sent.len(), 2);
        let ack = sipline_message::Message::parse(h.sent[1].1.clone()).unwrap();
        assert_eq!(ack.as_request().unwrap().method, Method::Ack);
        assert_eq!(ack.to_tag(), Some("a6c85cf"));
        assert_eq!(ack.branch(), Some("z9hG4bK1"));
        // a retransmitted 486 makes the ACK go again, and is not passed up
        // (over a reliable transport Timer D is 0: the transaction is gone
        // and the duplicate is a stray)
        h.advance(ms(1000));
        h.table.handle_response(h.now, response_to(&req, 486));
        h.run_to_end();
        assert_eq!(h.responses(), vec![180, 486]);
        let acks = h
            .sent
            .iter()
            .filter(|(_, b, _)| method_of(b).as_deref() == Some("ACK"))
            .count();
        assert_eq!(acks, if reliable { 1 } else { 2 });
        // Timer D: 32 s on UDP, 0 on reliable transports
        let end = h.events.last().unwrap().0;
        let d = if reliable { Duration::ZERO } else { ms(32_000) };
        assert_eq!(end, ms(200) + d);
        assert!(h.table.is_empty());
    }
}

#[test]
fn invite_client_2xx_goes_to_accepted_without_ack() {
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        let req = request("INVITE", "z9hG4bK1");
        let id = h
            .table
            .send_request(h.now, req.clone(), "peer", false)
            .unwrap();
        h.advance(ms(700) / div); // one retransmission at 0.5
        h.table.handle_response(h.now, response_to(&req, 200));
        assert_eq!(h.table.state(id), Some(State::Accepted));
        // RFC 6026 §7.2: 2xx retransmissions and other forks' 2xx go to the TU
        h.advance(ms(500) / div);
        h.table.handle_response(h.now, response_to(&req, 200));
        h.run_to_end();
        assert_eq!(h.responses(), vec![200, 200]);
        // no ACK from the transaction, no retransmission after the 2xx
        assert_eq!(h.send_times(), scale(&[0, 500], div));
        // Timer M = 64*T1 after the first 2xx
        assert_eq!(h.events.last().unwrap().0, ms(700 + 32_000) / div);
        assert!(h.table.is_empty());
    }
}

#[test]
fn invite_server_sends_100_when_tu_is_slow() {
    for (cfg, div) in configs() {
        // TU silent: 100 Trying at 200 ms (§17.2.1)
        let mut h = Harness::new(cfg);
        let Received::New { transaction, .. } =
            h.table
                .handle_request(h.now, request("INVITE", "z9hG4bK1"), "peer", false)
        else {
            panic!("new transaction expected")
        };
        h.advance(ms(1000) / div);
        assert_eq!(h.send_times(), vec![ms(200) / div]);
        assert_eq!(status_of(&h.sent[0].1), Some(100));
        // a retransmitted INVITE gets the 100 again
        h.table
            .handle_request(h.now, request("INVITE", "z9hG4bK1"), "peer", false);
        h.drain();
        assert_eq!(h.sent.len(), 2);
        assert_eq!(status_of(&h.sent[1].1), Some(100));
        assert_eq!(h.table.state(transaction), Some(State::Proceeding));

        // TU answers within 200 ms: no 100 from the transaction
        let mut h = Harness::new(cfg);
        let req = request("INVITE", "z9hG4bK2");
        let Received::New { transaction, .. } =
            h.table.handle_request(h.now, req.clone(), "peer", false)
        else {
            panic!()
        };
        h.advance(ms(100) / div);
        h.table
            .respond(h.now, transaction, response_to(&req, 180))
            .unwrap();
        h.advance(ms(1000) / div);
        assert_eq!(h.send_times(), vec![ms(100) / div]);
        assert_eq!(status_of(&h.sent[0].1), Some(180));
    }
}

#[test]
fn invite_server_non_2xx_retransmits_until_ack_or_timer_h() {
    // §17.2.1: G starts at T1, doubles up to T2; H at 64*T1.
    let expect = [
        0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ];
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        let req = request("INVITE", "z9hG4bK1");
        let Received::New { transaction, .. } =
            h.table.handle_request(h.now, req.clone(), "peer", false)
        else {
            panic!()
        };
        h.table
            .respond(h.now, transaction, response_to(&req, 486))
            .unwrap();
        h.run_to_end();
        assert_eq!(h.send_times(), scale(&expect, div));
        assert_eq!(
            h.timeouts(),
            vec![ms(32_000) / div],
            "Timer H informs the TU"
        );
        assert!(h.table.is_empty());
    }
}

#[test]
fn invite_server_ack_confirms_then_timer_i() {
    for reliable in [false, true] {
        for (cfg, div) in configs() {
            let mut h = Harness::new(cfg);
            let req = request("INVITE", "z9hG4bK1");
            let Received::New { transaction, .. } =
                h.table.handle_request(h.now, req.clone(), "peer", reliable)
            else {
                panic!()
            };
            h.table
                .respond(h.now, transaction, response_to(&req, 404))
                .unwrap();
            h.advance(ms(2000) / div);
            let resp = sipline_message::Message::parse(h.sent[0].1.clone()).unwrap();
            let ack = sipline_message::Message::from(sipline_transaction::ack_for_non_2xx(
                req.as_request().unwrap(),
                &resp,
            ));
            let r = h.table.handle_request(h.now, ack.clone(), "peer", reliable);
            assert!(matches!(r, Received::AckAbsorbed { .. }), "{r:?}");
            assert_eq!(h.table.state(transaction), Some(State::Confirmed));
            // a retransmitted ACK is absorbed too
            let r = h.table.handle_request(h.now, ack, "peer", reliable);
            assert!(matches!(r, Received::AckAbsorbed { .. }));
            h.run_to_end();
            let sends = if reliable {
                vec![Duration::ZERO]
            } else {
                scale(&[0, 500, 1500], div)
            };
            assert_eq!(h.send_times(), sends, "retransmissions stop at the ACK");
            // Timer I: T4 on UDP, 0 on reliable transports
            let i = if reliable {
                Duration::ZERO
            } else {
                ms(5000) / div
            };
            assert_eq!(h.events.last().unwrap().0, ms(2000) / div + i);
            assert!(h.timeouts().is_empty());
            assert!(h.table.is_empty());
        }
    }
}

#[test]
fn invite_server_2xx_accepted_passes_ack_to_tu_and_timer_l() {
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        let req = request("INVITE", "z9hG4bK1");
        let Received::New { transaction, .. } =
            h.table.handle_request(h.now, req.clone(), "peer", false)
        else {
            panic!()
        };
        h.table
            .respond(h.now, transaction, response_to(&req, 200))
            .unwrap();
        assert_eq!(h.table.state(transaction), Some(State::Accepted));
        // RFC 6026 §7.1: INVITE retransmissions are absorbed, nothing resent
        h.advance(ms(500) / div);
        let r = h.table.handle_request(h.now, req.clone(), "peer", false);
        assert!(matches!(r, Received::Retransmission { .. }));
        // the TU retransmits its 2xx through the transaction (§13.3.1.4)
        h.table
            .respond(h.now, transaction, response_to(&req, 200))
            .unwrap();
        h.drain();
        assert_eq!(h.send_times(), scale(&[0, 500], div));
        // an ACK (new branch, as for a 2xx) does not match: it is the dialog's
        let mut ack = request("ACK", "z9hG4bKack");
        ack.headers_mut().set(
            sipline_message::header::StdHeader::To,
            "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
        );
        let r = h.table.handle_request(h.now, ack, "peer", false);
        assert!(matches!(r, Received::StrayAck(_)));
        // an ACK with the INVITE's branch (RFC 2543-style clients) goes to the TU
        let r = h
            .table
            .handle_request(h.now, request("ACK", "z9hG4bK1"), "peer", false);
        assert!(matches!(r, Received::Ack { invite, .. } if invite == transaction));
        h.run_to_end();
        assert_eq!(h.events.last().unwrap().0, ms(32_000) / div, "Timer L");
        assert!(h.table.is_empty());
    }
}

#[test]
fn non_invite_server_rfc4320_trying_and_timer_j() {
    for reliable in [false, true] {
        for (cfg, div) in configs() {
            let mut h = Harness::new(cfg);
            let req = request("OPTIONS", "z9hG4bK1");
            let Received::New { transaction, .. } =
                h.table.handle_request(h.now, req.clone(), "peer", reliable)
            else {
                panic!()
            };
            // RFC 4320: no 100 before a client's E reaches T2 (3.5 s), then a 100
            h.advance(ms(3400) / div);
            assert!(h.sent.is_empty());
            h.advance(ms(200) / div);
            assert_eq!(h.send_times(), vec![ms(3500) / div]);
            assert_eq!(status_of(&h.sent[0].1), Some(100));
            // RFC 4320 §4.1, §4.2: only 100 as provisional, never 408
            assert!(h
                .table
                .respond(h.now, transaction, response_to(&req, 180))
                .is_err());
            assert!(h
                .table
                .respond(h.now, transaction, response_to(&req, 408))
                .is_err());
            h.table
                .respond(h.now, transaction, response_to(&req, 200))
                .unwrap();
            let answered = h.elapsed();
            // a retransmitted request gets the 200 again
            h.table.handle_request(h.now, req.clone(), "peer", reliable);
            h.run_to_end();
            let statuses: Vec<_> = h
                .sent
                .iter()
                .map(|(_, b, _)| status_of(b).unwrap())
                .collect();
            assert_eq!(statuses, vec![100, 200, 200]);
            // Timer J: 64*T1 on UDP, 0 on reliable transports
            let j = if reliable {
                Duration::ZERO
            } else {
                ms(32_000) / div
            };
            assert_eq!(h.events.last().unwrap().0, answered + j);
            assert!(h.table.is_empty());
        }
    }
}

#[test]
fn transport_error_ends_client_but_not_server_transactions() {
    let mut h = Harness::new(Config::default());
    let id = h
        .table
        .send_request(h.now, request("INVITE", "z9hG4bK1"), "peer", true)
        .unwrap();
    h.table.handle_transport_error(h.now, id);
    h.drain();
    assert!(matches!(h.events[0].1, Event::TransportError { .. }));
    assert!(h.table.is_empty());

    let req = request("INVITE", "z9hG4bK2");
    let Received::New { transaction, .. } = h.table.handle_request(h.now, req.clone(), "p", true)
    else {
        panic!()
    };
    h.table
        .respond(h.now, transaction, response_to(&req, 500))
        .unwrap();
    h.table.handle_transport_error(h.now, transaction);
    // RFC 6026 §7.1: the server transaction stays to absorb retransmissions
    assert_eq!(h.table.state(transaction), Some(State::Completed));
}

#[test]
fn invite_client_timer_c_after_provisional() {
    for (cfg, div) in configs() {
        let mut h = Harness::new(cfg);
        let req = request("INVITE", "z9hG4bK1");
        let id = h
            .table
            .send_request(h.now, req.clone(), "peer", false)
            .unwrap();
        h.advance(ms(1000) / div);
        h.table.handle_response(h.now, response_to(&req, 180));
        // a provisional a minute later restarts Timer C (§16.7 step 2)
        h.advance(ms(60_000) / div);
        h.table.handle_response(h.now, response_to(&req, 180));
        h.run_until(ms(61_000 + 180_000) / div);
        assert!(!h
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TimerC { .. })));
        h.run_to_end();
        let c_at = h
            .events
            .iter()
            .find(|(_, e)| matches!(e, Event::TimerC { transaction } if *transaction == id))
            .map(|(t, _)| *t);
        assert_eq!(c_at, Some(ms(61_000 + 181_000) / div));
        // no final response in 64*T1 after that: destroyed (§9.1), TU told
        assert_eq!(h.timeouts(), vec![ms(61_000 + 181_000 + 32_000) / div]);
        assert!(h.table.is_empty());
        assert_eq!(h.table.stats().timeouts, 1);
    }
}

#[test]
fn late_wake_ups_do_not_drift_the_schedule() {
    // A driver whose timer fires 3 ms late every time (as a real runtime
    // does): the deadlines asked for stay on the RFC schedule, and the
    // eleventh copy still goes out before Timer F.
    let mut h = Harness::new(Config::default());
    h.table
        .send_request(h.now, request("OPTIONS", "z9hG4bK1"), "peer", false)
        .unwrap();
    let mut deadlines = Vec::new();
    h.drain();
    while let Some(at) = h.table.poll_timeout() {
        deadlines.push(at - h.t0);
        h.now = at + ms(3);
        h.table.handle_timeout(h.now);
        h.drain();
    }
    let expect: Vec<_> = [
        500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000,
    ]
    .iter()
    .map(|&t| ms(t))
    .collect();
    assert_eq!(deadlines, expect);
    assert_eq!(h.sent.len(), 11);
}

/// `unfinished` counts what a graceful shutdown waits for: transactions
/// with no final response yet, and INVITEs with a 2xx (Accepted, whose ACK
/// is still to come); not those that only absorb retransmissions
/// (Completed, Confirmed) until their timer ends them.
#[test]
fn unfinished_counts_transactions_still_in_their_exchange() {
    let mut h = Harness::new(Config::default());
    // a non-INVITE server transaction: done with its final response
    let reg = request("REGISTER", "z9hG4bKu1");
    let Received::New { transaction, .. } =
        h.table.handle_request(h.now, reg.clone(), "peer", false)
    else {
        panic!()
    };
    assert_eq!(h.table.unfinished(), 1);
    h.table
        .respond(h.now, transaction, response_to(&reg, 200))
        .unwrap();
    assert_eq!(h.table.state(transaction), Some(State::Completed));
    assert_eq!(
        (h.table.len(), h.table.unfinished()),
        (1, 0),
        "Timer J runs"
    );

    // an INVITE server transaction: a provisional leaves it unfinished, and
    // so does its 2xx until the transaction ends (RFC 6026 Accepted)
    let inv = request("INVITE", "z9hG4bKu2");
    let Received::New { transaction, .. } =
        h.table.handle_request(h.now, inv.clone(), "peer", false)
    else {
        panic!()
    };
    h.table
        .respond(h.now, transaction, response_to(&inv, 180))
        .unwrap();
    assert_eq!(h.table.unfinished(), 1);
    h.table
        .respond(h.now, transaction, response_to(&inv, 200))
        .unwrap();
    assert_eq!(h.table.state(transaction), Some(State::Accepted));
    assert_eq!(h.table.unfinished(), 1);

    // client transactions: one answered, one that times out
    let opt = request("OPTIONS", "z9hG4bKu3");
    h.table
        .send_request(h.now, opt.clone(), "peer", false)
        .unwrap();
    h.table
        .send_request(h.now, request("MESSAGE", "z9hG4bKu4"), "peer", false)
        .unwrap();
    assert_eq!(h.table.unfinished(), 3);
    h.table.handle_response(h.now, response_to(&opt, 200));
    assert_eq!(
        h.table.unfinished(),
        2,
        "the OPTIONS has its final response"
    );
    assert_eq!(h.table.len(), 4);

    // Timer F ends the MESSAGE, Timer L the INVITE, J and K the rest
    h.run_to_end();
    assert_eq!(h.timeouts(), vec![ms(32_000)]);
    assert!(h.table.is_empty());
    assert_eq!(h.table.unfinished(), 0);
}
