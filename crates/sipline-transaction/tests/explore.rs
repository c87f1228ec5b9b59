//! Exhaustive exploration of each transaction state machine: every sequence
//! of inputs up to a fixed length (responses of every class, duplicates,
//! ACKs, TU answers, transport errors, timers firing, time passing), for
//! reliable and unreliable transports. After each sequence the TU answers
//! anything it left unanswered and the clock runs until nothing is
//! scheduled. Checked for every sequence:
//! - nothing is sent for a transaction after it terminated;
//! - every transaction terminates exactly once, and the table ends empty
//!   (no leak, nothing stuck);
//! - it terminates within a bound of its last input;
//! - a client passes at most one final non-2xx response and at most one
//!   timeout up to its TU.

mod common;

use common::*;
use sipline_message::Message;
use sipline_transaction::{Config, Event, Received, Transactions};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Input {
    /// A response with this status arrives (client) or the TU sends it (server).
    Status(u16),
    /// The request arrives again (server).
    Retransmit,
    /// An ACK with the INVITE's branch arrives (server).
    Ack,
    /// The transport reports an error.
    TransportError,
    /// Time jumps to the next timer, which fires.
    NextTimer,
    /// One second passes.
    Wait,
}

const CLIENT: &[Input] = &[
    Input::Status(100),
    Input::Status(180),
    Input::Status(200),
    Input::Status(486),
    Input::TransportError,
    Input::NextTimer,
    Input::Wait,
];

const SERVER: &[Input] = &[
    Input::Retransmit,
    Input::Ack,
    Input::Status(100),
    Input::Status(180),
    Input::Status(200),
    Input::Status(486),
    Input::TransportError,
    Input::NextTimer,
    Input::Wait,
];

struct Run {
    table: Transactions<u8>,
    now: Instant,
    t0: Instant,
    terminated_at: HashMap<u64, Duration>,
    finals_up: usize,
    timeouts: usize,
    last_input: Duration,
    /// Server transactions the TU was handed (a late duplicate makes a new one).
    server_ids: Vec<sipline_transaction::TransactionId>,
}

impl Run {
    fn drain(&mut self, seq: &[Input]) {
        let elapsed = self.now - self.t0;
        while let Some(t) = self.table.poll_transmit() {
            assert!(
                !self.terminated_at.contains_key(&t.transaction.as_u64()),
                "sent after Terminated: {seq:?}"
            );
        }
        while let Some(e) = self.table.poll_event() {
            match e {
                Event::Terminated { transaction, .. } => {
                    let old = self.terminated_at.insert(transaction.as_u64(), elapsed);
                    assert!(old.is_none(), "terminated twice: {seq:?}");
                }
                Event::Response { response, .. } => {
                    let s = response.as_response().unwrap().status;
                    if s.class() >= 3 {
                        self.finals_up += 1;
                    }
                }
                Event::Timeout { .. } => self.timeouts += 1,
                _ => {}
            }
        }
    }

    fn next_timer(&mut self) {
        if let Some(at) = self.table.poll_timeout() {
            self.now = self.now.max(at);
            self.table.handle_timeout(self.now);
        }
    }
}

fn explore(kind: &str, reliable: bool, alphabet: &[Input], depth: usize) -> usize {
    let cfg = Config::default();
    let method = if kind.ends_with("invite") {
        "INVITE"
    } else {
        "OPTIONS"
    };
    let req = request(method, "z9hG4bK1");
    let ack = request("ACK", "z9hG4bK1");
    let responses: HashMap<u16, Message> = [100, 180, 200, 486]
        .into_iter()
        .map(|c| (c, response_to(&req, c)))
        .collect();
    let bound = cfg.timer_c + cfg.t1x64() * 2 + cfg.t4;
    let mut runs = 0;
    let mut seq = vec![0usize; depth];
    loop {
        let inputs: Vec<Input> = seq.iter().map(|&i| alphabet[i]).collect();
        run_one(kind, reliable, &inputs, &req, &ack, &responses, bound);
        runs += 1;
        // next sequence (odometer)
        let mut i = 0;
        loop {
            if i == depth {
                return runs;
            }
            seq[i] += 1;
            if seq[i] < alphabet.len() {
                break;
            }
            seq[i] = 0;
            i += 1;
        }
    }
}

fn run_one(
    kind: &str,
    reliable: bool,
    seq: &[Input],
    req: &Message,
    ack: &Message,
    responses: &HashMap<u16, Message>,
    bound: Duration,
) {
    let t0 = Instant::now();
    let mut r = Run {
        table: Transactions::new(Config::default()),
        now: t0,
        t0,
        terminated_at: HashMap::new(),
        finals_up: 0,
        timeouts: 0,
        last_input: Duration::ZERO,
        server_ids: Vec::new(),
    };
    let client = kind.starts_with("client");
    let id = if client {
        r.table.send_request(t0, req.clone(), 1, reliable).unwrap()
    } else {
        match r.table.handle_request(t0, req.clone(), 1, reliable) {
            Received::New { transaction, .. } => transaction,
            other => panic!("{other:?}"),
        }
    };
    r.drain(seq);
    for &input in seq {
        match input {
            Input::Status(code) if client => {
                let _ = r.table.handle_response(r.now, responses[&code].clone());
            }
            Input::Status(code) => {
                let _ = r.table.respond(r.now, id, responses[&code].clone());
            }
            Input::Retransmit | Input::Ack => {
                let m = if matches!(input, Input::Ack) {
                    ack
                } else {
                    req
                };
                if let Received::New { transaction, .. } =
                    r.table.handle_request(r.now, m.clone(), 1, reliable)
                {
                    r.server_ids.push(transaction);
                }
            }
            Input::TransportError => r.table.handle_transport_error(r.now, id),
            Input::NextTimer => r.next_timer(),
            Input::Wait => {
                r.now += Duration::from_secs(1);
                r.table.handle_timeout(r.now);
            }
        }
        r.drain(seq);
        r.last_input = r.now - r.t0;
    }
    // The TU always answers in the end, every transaction it was handed.
    if !client {
        for t in std::iter::once(id).chain(r.server_ids.clone()) {
            if r.table.state(t).is_some() {
                let _ = r.table.respond(r.now, t, responses[&486].clone());
            }
        }
        r.drain(seq);
    }
    while r.table.poll_timeout().is_some() {
        r.next_timer();
        r.drain(seq);
    }
    assert!(
        r.table.is_empty(),
        "leaked {kind} reliable={reliable}: {seq:?}"
    );
    let end = r.terminated_at[&id.as_u64()];
    assert!(
        end <= r.last_input + bound,
        "{kind} lived {end:?} after inputs ending at {:?}: {seq:?}",
        r.last_input
    );
    if client {
        assert!(r.finals_up <= 1, "two finals passed up: {seq:?}");
        assert!(r.timeouts <= 1, "two timeouts: {seq:?}");
    }
}

#[test]
fn client_invite_all_orders() {
    for reliable in [false, true] {
        let n = explore("client-invite", reliable, CLIENT, 5);
        assert_eq!(n, 7usize.pow(5));
    }
}

#[test]
fn client_non_invite_all_orders() {
    for reliable in [false, true] {
        explore("client-non-invite", reliable, CLIENT, 5);
    }
}

#[test]
fn server_invite_all_orders() {
    for reliable in [false, true] {
        let n = explore("server-invite", reliable, SERVER, 4);
        assert_eq!(n, 9usize.pow(4));
    }
}

#[test]
fn server_non_invite_all_orders() {
    for reliable in [false, true] {
        explore("server-non-invite", reliable, SERVER, 4);
    }
}
