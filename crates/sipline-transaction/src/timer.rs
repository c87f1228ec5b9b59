//! The timers of RFC 3261 §17 (Table 4) and RFC 6026, as data.

use std::time::Instant;

/// A transaction timer, named by its RFC letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// A: INVITE request retransmit interval, UDP only (§17.1.1.2).
    A,
    /// B: INVITE transaction timeout (§17.1.1.2).
    B,
    /// C: INVITE client transaction with no final response (§16.6 step 11,
    /// §16.8), reset by each provisional response; see [`crate::Event::TimerC`].
    C,
    /// D: wait time for response retransmits in Completed (§17.1.1.2).
    D,
    /// E: non-INVITE request retransmit interval, UDP only (§17.1.2.2).
    E,
    /// F: non-INVITE transaction timeout (§17.1.2.2).
    F,
    /// G: INVITE response retransmit interval (§17.2.1).
    G,
    /// H: wait time for ACK receipt (§17.2.1).
    H,
    /// I: wait time for ACK retransmits (§17.2.1).
    I,
    /// J: wait time for non-INVITE request retransmits (§17.2.2).
    J,
    /// K: wait time for response retransmits (§17.1.2.2).
    K,
    /// L: wait time for INVITE retransmits in Accepted (RFC 6026 §7.1).
    L,
    /// M: wait time for 2xx retransmits in Accepted (RFC 6026 §7.2).
    M,
    /// When a server transaction sends 100 Trying on its own (§17.2.1, RFC 4320 §4.1).
    Trying,
}

impl Timer {
    /// Every timer.
    pub const VALUES: [Timer; 14] = [
        Timer::A,
        Timer::B,
        Timer::C,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Trying,
    ];
}

/// When each timer of one transaction fires next.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; 14],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.data[t as usize] = Some(at);
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.data[t as usize]
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.data[t as usize] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.data = [None; 14];
    }

    /// The earliest timer.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, with the instant it was due, stopped
    /// as it is returned.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let (t, at) = Timer::VALUES
            .iter()
            .filter_map(|&t| self.get(t).filter(|&at| at <= now).map(|at| (t, at)))
            .min_by_key(|&(_, at)| at)?;
        self.stop(t);
        Some((t, at))
    }
}
