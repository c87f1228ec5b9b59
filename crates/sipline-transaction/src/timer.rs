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

/// When each timer of one transaction fires next: nanoseconds from the
/// first instant set (what a transaction keeps for Timer J's 32 s, by the
/// million under load, is 128 bytes instead of 14 `Option<Instant>`s, 224).
/// Exact: `Instant`s differ by whole nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerTable {
    base: Option<Instant>,
    /// Offsets from `base`, [`OFF`] for a timer not set.
    data: [i64; 14],
}

/// A timer not set.
const OFF: i64 = i64::MIN;

impl Default for TimerTable {
    fn default() -> Self {
        Self {
            base: None,
            data: [OFF; 14],
        }
    }
}

impl TimerTable {
    /// `at` as an offset from `base` (saturating, ±292 years).
    fn offset(base: Instant, at: Instant) -> i64 {
        match at.checked_duration_since(base) {
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            None => i64::try_from(base.duration_since(at).as_nanos()).map_or(OFF + 1, |n| -n),
        }
    }

    fn instant(base: Instant, offset: i64) -> Instant {
        let d = std::time::Duration::from_nanos(offset.unsigned_abs());
        if offset >= 0 {
            base + d
        } else {
            base - d
        }
    }

    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        let base = *self.base.get_or_insert(at);
        self.data[t as usize] = Self::offset(base, at);
    }

    #[cfg(test)]
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        let offset = self.data[t as usize];
        match (self.base, offset) {
            (Some(base), o) if o != OFF => Some(Self::instant(base, o)),
            _ => None,
        }
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.data[t as usize] = OFF;
    }

    pub(crate) fn stop_all(&mut self) {
        self.data = [OFF; 14];
    }

    /// The earliest timer.
    pub(crate) fn next(&self) -> Option<Instant> {
        let base = self.base?;
        let first = self.data.iter().copied().filter(|&o| o != OFF).min()?;
        Some(Self::instant(base, first))
    }

    /// The earliest timer due at `now`, with the instant it was due, stopped
    /// as it is returned.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let base = self.base?;
        let now = Self::offset(base, now);
        let (t, at) = Timer::VALUES
            .iter()
            .map(|&t| (t, self.data[t as usize]))
            .filter(|&(_, o)| o != OFF && o <= now)
            .min_by_key(|&(_, o)| o)?;
        self.stop(t);
        Some((t, Self::instant(base, at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timer_table_gives_back_exact_instants() {
        let t0 = Instant::now();
        let ns = Duration::from_nanos;
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        assert_eq!(table.take_expired(t0 + Duration::from_secs(99)), None);
        table.set(Timer::J, t0 + Duration::from_millis(32_000) + ns(7));
        // before the first one set (a caller's clock is its own business)
        table.set(Timer::A, t0 - ns(3));
        table.set(Timer::B, t0 + ns(1));
        assert_eq!(table.get(Timer::A), Some(t0 - ns(3)));
        assert_eq!(table.get(Timer::B), Some(t0 + ns(1)));
        assert_eq!(
            table.get(Timer::J),
            Some(t0 + Duration::from_millis(32_000) + ns(7))
        );
        assert_eq!(table.get(Timer::C), None);
        assert_eq!(table.next(), Some(t0 - ns(3)));
        // due ones come out earliest first, each once
        assert_eq!(table.take_expired(t0), Some((Timer::A, t0 - ns(3))));
        assert_eq!(table.take_expired(t0), None);
        assert_eq!(table.take_expired(t0 + ns(1)), Some((Timer::B, t0 + ns(1))));
        assert_eq!(table.next(), table.get(Timer::J));
        table.stop(Timer::J);
        assert_eq!(table.next(), None);
        table.set(Timer::K, t0 + ns(5));
        table.set(Timer::D, t0 + ns(5));
        // a tie goes to the first in Timer::VALUES, as before
        assert_eq!(table.take_expired(t0 + ns(9)), Some((Timer::D, t0 + ns(5))));
        table.stop_all();
        assert_eq!(table.next(), None);
        assert_eq!(table.get(Timer::K), None);
        assert_eq!(size_of::<TimerTable>(), 128);
    }
}
