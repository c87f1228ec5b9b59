//! What every transaction holds, and what the state machines output.

use crate::config::Config;
use crate::timer::{Timer, TimerTable};
use crate::{Event, TransactionId, Transmit};
use sipline_message::{Bytes, Message};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The four kinds of transaction (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// INVITE client transaction (§17.1.1, Figure 5).
    ClientInvite,
    /// Non-INVITE client transaction (§17.1.2, Figure 6).
    ClientNonInvite,
    /// INVITE server transaction (§17.2.1, Figure 7).
    ServerInvite,
    /// Non-INVITE server transaction (§17.2.2, Figure 8).
    ServerNonInvite,
}

/// A transaction's state, named as in RFC 3261 Figures 5 to 8 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE: request sent, no response yet.
    Calling,
    /// Non-INVITE client and server: request sent or received, no response yet.
    Trying,
    /// A provisional response was received or sent.
    Proceeding,
    /// A final response (300-699 for INVITE) was received or sent.
    Completed,
    /// INVITE server: the ACK for a 300-699 response arrived.
    Confirmed,
    /// INVITE client and server: a 2xx was received or sent (RFC 6026).
    Accepted,
    /// Finished: about to be removed from the table.
    Terminated,
}

pub(crate) struct Tx<A> {
    pub(crate) id: TransactionId,
    pub(crate) kind: Kind,
    pub(crate) state: State,
    pub(crate) reliable: bool,
    pub(crate) dest: A,
    pub(crate) timers: TimerTable,
    /// Current retransmission interval of Timer A, E or G.
    pub(crate) interval: Duration,
    /// The request that created the transaction. A non-INVITE server
    /// transaction lets go of it with its final response: what the
    /// Completed state does for 64*T1 (absorb retransmissions, resend the
    /// response, §17.2.2) needs only its keys and the response. Boxed, so
    /// that one that let go of it keeps 8 bytes for it, not 232.
    pub(crate) request: Option<Box<Message>>,
    /// The hash its key (client or server) is filed under in the table,
    /// and the hash of the merge key it owns: it leaves the table by them,
    /// without its request and without keeping copies of its keys.
    pub(crate) key_hash: Option<u64>,
    pub(crate) merge_hash: Option<u64>,
    /// A server transaction matched by RFC 2543's rules (§17.2.3), which
    /// need the request's To tag to the end.
    pub(crate) rfc2543: bool,
    /// Client: the request as sent, for retransmissions.
    pub(crate) request_bytes: Bytes,
    /// Server: the last response sent, for retransmissions.
    pub(crate) last_response: Option<Bytes>,
    /// Client INVITE: the ACK sent for a 300-699 response.
    pub(crate) ack: Option<Bytes>,
    /// Server: the To tag of the final response (RFC 2543 ACK matching).
    pub(crate) final_to_tag: Option<String>,
    /// Client INVITE: Timer C fired once already.
    pub(crate) timer_c_fired: bool,
    /// The instant this transaction has in the table's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// Counted in the table's [`unfinished`](crate::Transactions::unfinished).
    pub(crate) unfinished: bool,
}

impl State {
    /// True while the transaction still waits for its final response
    /// (Calling, Trying, Proceeding), or has a 2xx whose ACK travels end to
    /// end (Accepted, RFC 6026 §7.1: the ACK and the 2xx retransmissions
    /// are not the transaction's, but they still pass this element).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            State::Calling | State::Trying | State::Proceeding | State::Accepted
        )
    }
}

/// What the state machines produce, drained through the table's `poll_*`.
pub(crate) struct Out<A> {
    pub(crate) transmits: VecDeque<Transmit<A>>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) retransmissions: u64,
}

impl<A> Default for Out<A> {
    fn default() -> Self {
        Self {
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            retransmissions: 0,
        }
    }
}

impl<A: Clone> Tx<A> {
    pub(crate) fn send(&self, out: &mut Out<A>, message: Bytes, retransmission: bool) {
        if retransmission {
            out.retransmissions += 1;
        }
        out.transmits.push_back(Transmit {
            transaction: self.id,
            destination: self.dest.clone(),
            message,
            retransmission,
        });
    }

    pub(crate) fn event(&self, out: &mut Out<A>, e: Event) {
        out.events.push_back(e);
    }

    /// Sets a timer `after` from now, or, for a zero duration (the value
    /// of D, I, J, K on reliable transports), makes it due now.
    pub(crate) fn start_timer(&mut self, t: Timer, now: Instant, after: Duration) {
        self.timers.set(t, now + after);
    }

    pub(crate) fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.stop_all();
    }
}

/// Every state machine module implements these for its kind.
pub(crate) fn timer_duration_t2_capped(interval: Duration, cfg: &Config) -> Duration {
    (interval * 2).min(cfg.t2)
}
