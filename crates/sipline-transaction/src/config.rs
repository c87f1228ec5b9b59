//! Timer values (RFC 3261 §17.1.1.1, Table 4).

use std::time::Duration;

/// The base timer values every transaction timer derives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// T1: round-trip time estimate, 500 ms by default.
    pub t1: Duration,
    /// T2: the longest retransmit interval for non-INVITE requests and
    /// INVITE responses, 4 s by default.
    pub t2: Duration,
    /// T4: the longest time a message stays in the network, 5 s by default.
    pub t4: Duration,
    /// How long an INVITE server transaction waits for the TU before it
    /// sends 100 Trying itself (RFC 3261 §17.2.1: 200 ms).
    pub trying_delay: Duration,
    /// Timer C: how long an INVITE client transaction waits for a final
    /// response after its last provisional one (RFC 3261 §16.6 step 11:
    /// more than 3 minutes; 181 s by default).
    pub timer_c: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_delay: Duration::from_millis(200),
            timer_c: Duration::from_secs(181),
        }
    }
}

impl Config {
    /// 64·T1: Timers B, F, H, J, L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on unreliable transports, 0 on reliable ones
    /// (RFC 3261 §17.1.1.2). Taken as the larger of 32 s and 64·T1.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }

    /// How long a non-INVITE server transaction waits before it must send
    /// 100 Trying (RFC 4320 §4.1): the time it takes a client's Timer E to
    /// reach T2, i.e. the sum of T1, 2·T1, 4·T1 ... while below T2.
    pub fn non_invite_trying_delay(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut interval = self.t1;
        while interval < self.t2 && !interval.is_zero() {
            total += interval;
            interval *= 2;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values() {
        let c = Config::default();
        assert_eq!(c.t1x64(), Duration::from_secs(32));
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_d(true), Duration::ZERO);
        // E: 0.5, 1, 2 -> reset to T2 after 3.5 s
        assert_eq!(c.non_invite_trying_delay(), Duration::from_millis(3500));
        let fast = Config {
            t1: Duration::from_millis(50),
            ..c
        };
        assert_eq!(fast.timer_d(false), Duration::from_secs(32));
        // 50+100+200+400+800+1600+3200 < 4000
        assert_eq!(fast.non_invite_trying_delay(), Duration::from_millis(6350));
    }
}
