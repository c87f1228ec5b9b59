//! A simulated network for tests: datagrams between numbered hosts, with
//! seeded loss, duplication, delay and reordering, in virtual time.
//!
//! Like the protocol crates it serves, [`Network`] is sans-IO: it takes the
//! time as an argument, holds datagrams in flight, and hands each one out
//! when its delivery time has come. A test loop asks every party for its
//! next wake-up ([`Network::poll_timeout`] and the endpoints' own), jumps
//! the clock to the earliest, and delivers or fires what is due; see
//! `tests/transactions.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A host on the simulated network.
pub type Host = u16;

/// A datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender.
    pub from: Host,
    /// Receiver.
    pub to: Host,
    /// Payload.
    pub data: Bytes,
}

/// How the network misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Conditions {
    /// Probability that a datagram is lost (0.0 to 1.0).
    pub loss: f64,
    /// Probability that a delivered datagram is delivered twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra random delay, uniform in 0..jitter; a jitter larger than the
    /// gap between two datagrams reorders them.
    pub jitter: Duration,
}

impl Conditions {
    /// A perfect network with a fixed delay.
    pub fn perfect(latency: Duration) -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            latency,
            jitter: Duration::ZERO,
        }
    }
}

/// A deterministic pseudo-random generator (splitmix64). Not for
/// anything secret: its only job is to make a test run reproducible from
/// its seed.
#[derive(Debug, Clone)]
pub struct NonCryptographicRng(u64);

impl NonCryptographicRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// What happened to the datagrams sent, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams dropped.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams delivered (copies included).
    pub delivered: u64,
}

/// The network: datagrams in flight, ordered by delivery time.
#[derive(Debug)]
pub struct Network {
    conditions: Conditions,
    rng: NonCryptographicRng,
    in_flight: BinaryHeap<Reverse<(Instant, u64)>>,
    payloads: std::collections::HashMap<u64, Datagram>,
    seq: u64,
    stats: NetStats,
}

impl Network {
    /// A network with these conditions, reproducible from `seed`.
    pub fn new(conditions: Conditions, seed: u64) -> Self {
        Self {
            conditions,
            rng: NonCryptographicRng::new(seed),
            in_flight: BinaryHeap::new(),
            payloads: std::collections::HashMap::new(),
            seq: 0,
            stats: NetStats::default(),
        }
    }

    /// Changes the conditions from now on (e.g. to heal a partition).
    pub fn set_conditions(&mut self, c: Conditions) {
        self.conditions = c;
    }

    /// Sends a datagram at `now`.
    pub fn send(&mut self, now: Instant, d: Datagram) {
        self.stats.sent += 1;
        if self.rng.chance(self.conditions.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.conditions.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.conditions.jitter.mul_f64(self.rng.next_f64());
            let at = now + self.conditions.latency + jitter;
            self.seq += 1;
            self.payloads.insert(self.seq, d.clone());
            self.in_flight.push(Reverse((at, self.seq)));
        }
    }

    /// When the next datagram arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _))| *at)
    }

    /// The next datagram due at `now`, if any.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Datagram> {
        let &Reverse((at, seq)) = self.in_flight.peek()?;
        if at > now {
            return None;
        }
        self.in_flight.pop();
        self.stats.delivered += 1;
        self.payloads.remove(&seq)
    }

    /// Datagrams still in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_statistically_sane() {
        let t0 = Instant::now();
        let run = |seed| {
            let mut n = Network::new(
                Conditions {
                    loss: 0.3,
                    duplicate: 0.1,
                    latency: Duration::from_millis(10),
                    jitter: Duration::from_millis(50),
                },
                seed,
            );
            for i in 0..10_000u32 {
                n.send(
                    t0,
                    Datagram {
                        from: 1,
                        to: 2,
                        data: Bytes::from(i.to_be_bytes().to_vec()),
                    },
                );
            }
            let mut got = Vec::new();
            while let Some(d) = n.poll_deliver(t0 + Duration::from_secs(1)) {
                got.push(d.data);
            }
            (n.stats(), got)
        };
        let (a, da) = run(7);
        let (b, db) = run(7);
        assert_eq!(a, b);
        assert_eq!(da, db, "same seed, same run");
        assert!((2800..3200).contains(&a.lost), "{a:?}");
        assert!((600..800).contains(&a.duplicated), "{a:?}");
        assert_eq!(a.delivered, a.sent - a.lost + a.duplicated);
        // jitter reorders
        assert!(da.windows(2).any(|w| w[0] > w[1]));
    }
}
