//! Per-transport counters (atomic u64), for metrics.

use sipline_message::Transport;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one transport at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportCounters {
    /// Messages received and passed up (after parsing).
    pub messages_in: u64,
    /// Messages sent (400 replies from the transport included,
    /// retransmissions included).
    pub messages_out: u64,
    /// Of `messages_out`, those the sender marked as retransmissions with
    /// [`crate::TransportLayer::send_transmit`].
    pub retransmissions_out: u64,
    /// Bytes received (keep-alives included).
    pub bytes_in: u64,
    /// Bytes sent (keep-alives included).
    pub bytes_out: u64,
    /// Messages that could not be parsed or framed.
    pub parse_errors: u64,
    /// Connections open now (a gauge; 0 for UDP).
    pub connections_open: u64,
    /// Incoming connections refused because of `max_connections`.
    pub connections_refused: u64,
}

/// A snapshot of every transport's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Counters by transport (every transport is present).
    pub per_transport: BTreeMap<Transport, TransportCounters>,
}

impl CountersSnapshot {
    /// The counters of one transport.
    pub fn get(&self, t: Transport) -> TransportCounters {
        self.per_transport.get(&t).copied().unwrap_or_default()
    }
}

#[derive(Default)]
pub(crate) struct Atomic {
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) retransmissions_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
}

impl Atomic {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize, message: bool) {
        Self::add(&self.bytes_out, bytes as u64);
        if message {
            Self::add(&self.messages_out, 1);
        }
    }

    fn snapshot(&self) -> TransportCounters {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportCounters {
            messages_in: r(&self.messages_in),
            messages_out: r(&self.messages_out),
            retransmissions_out: r(&self.retransmissions_out),
            bytes_in: r(&self.bytes_in),
            bytes_out: r(&self.bytes_out),
            parse_errors: r(&self.parse_errors),
            connections_open: r(&self.connections_open),
            connections_refused: r(&self.connections_refused),
        }
    }
}

/// The live counters of every transport.
#[derive(Default)]
pub(crate) struct Counters([Atomic; 6]);

impl Counters {
    pub(crate) fn of(&self, t: Transport) -> &Atomic {
        let i = Transport::ALL.iter().position(|x| *x == t).unwrap_or(0);
        &self.0[i]
    }

    pub(crate) fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            per_transport: Transport::ALL
                .iter()
                .map(|t| (*t, self.of(*t).snapshot()))
                .collect(),
        }
    }
}
