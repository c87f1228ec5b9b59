//! Failover support (RFC 3263 §4.3): targets that failed are avoided for a while.
//!
//! RFC 3263 §4.3: "failure occurs if the transaction layer reports a 503 error response or a
//! transport failure of some sort [...]. Failure also occurs if the transaction layer times out
//! without ever having received any response". The client then sends a new request to the
//! next element of the list. A [`Blacklist`] remembers failed targets so that later
//! resolutions try them last (or not at all) until their penalty expires.
//!
//! Time is never read here: every method takes the current [`Instant`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_message::Transport;

use crate::resolve::Target;

/// Why a target failed (RFC 3263 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// A transport error: ICMP error, connection refused or reset, TLS handshake failure.
    Transport,
    /// Timer B or F fired without any response.
    Timeout,
    /// A 503 (Service Unavailable) response, with its Retry-After if any (RFC 3261 §21.5.4:
    /// the server is unavailable for that long).
    ServiceUnavailable {
        /// The Retry-After duration, if the response had one.
        retry_after: Option<Duration>,
    },
}

/// Failed targets, keyed by transport and address, each until an expiry time.
#[derive(Debug, Clone)]
pub struct Blacklist {
    penalty: Duration,
    max_retry_after: Duration,
    max_entries: usize,
    entries: HashMap<(Transport, SocketAddr), Instant>,
}

impl Blacklist {
    /// A blacklist that avoids a failed target for `penalty`. A 503 with Retry-After avoids it
    /// for the Retry-After duration instead, up to 5 minutes (see
    /// [`Blacklist::with_max_retry_after`]). At most 4096 entries are kept (the ones expiring
    /// first are dropped beyond that).
    pub fn new(penalty: Duration) -> Self {
        Self {
            penalty,
            max_retry_after: Duration::from_secs(300),
            max_entries: 4096,
            entries: HashMap::new(),
        }
    }

    /// Caps the time a 503 Retry-After can keep a target out.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Caps the number of entries.
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// Records that `target` failed at `now`. An existing entry is extended, never shortened.
    pub fn mark_failed(&mut self, target: &Target, failure: Failure, now: Instant) {
        let penalty = match failure {
            Failure::ServiceUnavailable {
                retry_after: Some(d),
            } => d.min(self.max_retry_after),
            _ => self.penalty,
        };
        let until = now + penalty;
        self.purge(now);
        let e = self
            .entries
            .entry((target.transport, target.addr))
            .or_insert(until);
        if *e < until {
            *e = until;
        }
        while self.entries.len() > self.max_entries {
            let Some(first) = self
                .entries
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.entries.remove(&first);
        }
    }

    /// Records that `target` answered: it is no longer avoided.
    pub fn mark_ok(&mut self, target: &Target) {
        self.entries.remove(&(target.transport, target.addr));
    }

    /// Whether `target` is avoided at `now`.
    pub fn is_blocked(&self, target: &Target, now: Instant) -> bool {
        self.entries
            .get(&(target.transport, target.addr))
            .is_some_and(|until| *until > now)
    }

    /// The targets not avoided at `now`, in the order given.
    pub fn filter(&self, targets: &[Target], now: Instant) -> Vec<Target> {
        targets
            .iter()
            .filter(|t| !self.is_blocked(t, now))
            .cloned()
            .collect()
    }

    /// All the targets, those avoided at `now` moved to the end: first the others in the order
    /// given, then the avoided ones, those whose penalty ends first first (ties keep the order
    /// given). Use this when trying a blacklisted server is better than trying nothing.
    pub fn reorder(&self, targets: &[Target], now: Instant) -> Vec<Target> {
        let (mut blocked, ok): (Vec<&Target>, Vec<&Target>) =
            targets.iter().partition(|t| self.is_blocked(t, now));
        blocked.sort_by_key(|t| self.entries.get(&(t.transport, t.addr)).copied());
        ok.into_iter().chain(blocked).cloned().collect()
    }

    /// Drops the entries expired at `now`.
    pub fn purge(&mut self, now: Instant) {
        self.entries.retain(|_, until| *until > now);
    }

    /// Number of entries (expired ones included until [`Blacklist::purge`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(transport: Transport, addr: &str) -> Target {
        let addr: SocketAddr = addr.parse().unwrap();
        Target {
            transport,
            addr,
            host: "example.com".into(),
            port: addr.port(),
            lookup_name: "h.example.com".into(),
        }
    }

    /// RFC 3263 §4.3: failed targets (transport error, timeout, 503) are skipped for a while.
    #[test]
    fn filter_and_expiry() {
        let now = Instant::now();
        let a = t(Transport::Udp, "192.0.2.1:5060");
        let b = t(Transport::Udp, "192.0.2.2:5060");
        let c = t(Transport::Tcp, "192.0.2.1:5060");
        let list = vec![a.clone(), b.clone(), c.clone()];
        let mut bl = Blacklist::new(Duration::from_secs(30));
        bl.mark_failed(&a, Failure::Timeout, now);
        // Keyed by transport too: TCP to the same address is still fine.
        assert_eq!(bl.filter(&list, now), [b.clone(), c.clone()]);
        assert_eq!(bl.reorder(&list, now), [b.clone(), c.clone(), a.clone()]);
        let later = now + Duration::from_secs(30);
        assert_eq!(bl.filter(&list, later), list);
        bl.purge(later);
        assert!(bl.is_empty());
    }

    /// 503 with Retry-After: that long (capped); without: the default penalty.
    #[test]
    fn retry_after() {
        let now = Instant::now();
        let a = t(Transport::Udp, "192.0.2.1:5060");
        let b = t(Transport::Udp, "192.0.2.2:5060");
        let mut bl =
            Blacklist::new(Duration::from_secs(10)).with_max_retry_after(Duration::from_secs(60));
        bl.mark_failed(
            &a,
            Failure::ServiceUnavailable {
                retry_after: Some(Duration::from_secs(3600)),
            },
            now,
        );
        bl.mark_failed(&b, Failure::ServiceUnavailable { retry_after: None }, now);
        let s = |n| now + Duration::from_secs(n);
        assert!(bl.is_blocked(&a, s(59)) && !bl.is_blocked(&a, s(60)));
        assert!(bl.is_blocked(&b, s(9)) && !bl.is_blocked(&b, s(10)));
        // Blocked ones last, soonest expiry first.
        assert_eq!(
            bl.reorder(&[a.clone(), b.clone()], s(1)),
            [b.clone(), a.clone()]
        );
        // A shorter penalty does not shorten an entry; success clears it.
        bl.mark_failed(&a, Failure::Transport, s(1));
        assert!(bl.is_blocked(&a, s(30)));
        bl.mark_ok(&a);
        assert!(!bl.is_blocked(&a, s(30)));
    }

    #[test]
    fn bounded() {
        let now = Instant::now();
        let mut bl = Blacklist::new(Duration::from_secs(10)).with_max_entries(2);
        for i in 0..5u64 {
            let x = t(Transport::Udp, &format!("192.0.2.{}:5060", i + 1));
            bl.mark_failed(&x, Failure::Transport, now + Duration::from_millis(i));
        }
        assert_eq!(bl.len(), 2);
        assert!(bl.is_blocked(&t(Transport::Udp, "192.0.2.5:5060"), now));
    }
}
