//! SIP transactions (RFC 3261 §17, with RFC 6026 and RFC 4320) as sans-IO
//! state machines.
//!
//! This crate is fully deterministic: it opens no sockets, reads no clock
//! and starts no task. Every method that depends on time takes `now`; it
//! hands back messages to send, events for the transaction user (TU) and
//! the next instant it wants to be woken at. That is what lets every RFC
//! timer be tested in virtual time.
//!
//! [`Transactions`] is the table of all transactions of an endpoint. Its
//! methods come in four kinds:
//! - `handle_*`: input from the network and the clock
//!   ([`handle_request`](Transactions::handle_request),
//!   [`handle_response`](Transactions::handle_response),
//!   [`handle_transport_error`](Transactions::handle_transport_error),
//!   [`handle_timeout`](Transactions::handle_timeout), which may be called
//!   early or spuriously: it then does nothing);
//! - commands from the TU ([`send_request`](Transactions::send_request),
//!   [`respond`](Transactions::respond));
//! - `poll_*`: output. After every `handle_*` or command, drain
//!   [`poll_transmit`](Transactions::poll_transmit) and
//!   [`poll_event`](Transactions::poll_event) until they return `None`,
//!   then sleep until [`poll_timeout`](Transactions::poll_timeout);
//! - getters ([`state`](Transactions::state), [`len`](Transactions::len), ...).
//!
//! ```
//! use sipline_transaction::{Config, Transactions, Event};
//! use sipline_message::Message;
//! use std::time::{Duration, Instant};
//!
//! let mut table: Transactions<&str> = Transactions::new(Config::default());
//! let t0 = Instant::now();
//! let options = Message::parse(&b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
//! Max-Forwards: 70\r\nTo: <sip:bob@biloxi.example.com>\r\n\
//! From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..]).unwrap();
//! let id = table.send_request(t0, options, "192.0.2.4:5060", false).unwrap();
//! let first = table.poll_transmit().unwrap();        // the request, at once
//! assert_eq!(first.destination, "192.0.2.4:5060");
//! assert_eq!(table.poll_timeout(), Some(t0 + Duration::from_millis(500))); // Timer E
//! // nobody answers: Timer F ends it after 64*T1
//! let mut now = t0;
//! while let Some(at) = table.poll_timeout() {
//!     now = at;
//!     table.handle_timeout(now);
//!     while table.poll_transmit().is_some() {}
//! }
//! assert_eq!(now - t0, Duration::from_secs(32));
//! assert!(matches!(table.poll_event(), Some(Event::Timeout { transaction }) if transaction == id));
//! assert!(table.is_empty());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod build;
mod client_invite;
mod client_non_invite;
mod config;
mod key;
mod server_invite;
mod server_non_invite;
mod shard;
mod table;
mod timer;
mod tx;

pub use build::{ack_for_non_2xx, cancel_for};
pub use config::Config;
pub use table::{Received, ResponseMatch, Stats, Transactions};
pub use timer::Timer;
pub use tx::{Kind, State};

use sipline_message::{Bytes, Message};

/// Identifies a transaction for as long as it lives (ids are not reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(u64);

impl TransactionId {
    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// A message for the transport layer to send.
#[derive(Debug, Clone)]
#[must_use]
pub struct Transmit<A> {
    /// The transaction it belongs to.
    pub transaction: TransactionId,
    /// Where to: the destination given when the transaction was created.
    pub destination: A,
    /// The serialized message.
    pub message: Bytes,
    /// True for a retransmission by a timer or of an absorbed duplicate.
    pub retransmission: bool,
}

/// What a transaction tells its user.
#[allow(clippy::large_enum_variant)] // messages are moved once; see ResponseMatch
#[derive(Debug, Clone)]
pub enum Event {
    /// A response for a client transaction, passed up as its state machine
    /// says (retransmissions of a final response are not).
    Response {
        /// The client transaction.
        transaction: TransactionId,
        /// The response.
        response: Message,
    },
    /// Timer B or F fired with no final response (the TU reports 408,
    /// RFC 3261 §8.1.3.1), or Timer H fired with no ACK (§17.2.1).
    Timeout {
        /// The transaction.
        transaction: TransactionId,
    },
    /// Timer C fired: an INVITE client transaction has had no final
    /// response for [`Config::timer_c`] since its last provisional one. The
    /// TU should CANCEL the request (RFC 3261 §16.8, §9.1); without a final
    /// response within 64*T1 more, the transaction ends with a `Timeout`.
    TimerC {
        /// The INVITE client transaction.
        transaction: TransactionId,
    },
    /// The transport could not deliver a message of this transaction
    /// (§17.1.4, §17.2.4). Client transactions end; server transactions
    /// stay (RFC 6026 §7.1).
    TransportError {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The transaction ended and was removed from the table.
    Terminated {
        /// The transaction.
        transaction: TransactionId,
        /// What kind it was.
        kind: Kind,
    },
}

/// A TU command that cannot be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// `send_request` with a response, or `respond` with a request.
    #[error("wrong kind of message for this call")]
    WrongMessageKind,
    /// An ACK is not sent in a transaction of its own (RFC 3261 §17.1.1.3, §13.2.2.4).
    #[error("ACK is not sent through a client transaction")]
    AckIsNotATransaction,
    /// The request has no Via with a branch, or no CSeq.
    #[error("request without top Via branch or CSeq")]
    MissingKey,
    /// A transaction with the same key already exists.
    #[error("a transaction with this branch already exists")]
    DuplicateTransaction,
    /// No such transaction (it ended, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// `respond` on a client transaction.
    #[error("not a server transaction")]
    NotAServerTransaction,
    /// The transaction's state does not allow this response.
    #[error("the transaction's state does not allow this response")]
    InvalidState,
    /// RFC 4320 §4.1: no provisional response but 100 to a non-INVITE request.
    #[error("only 100 may be sent as provisional response to a non-INVITE request")]
    ProvisionalToNonInvite,
    /// RFC 4320 §4.2: no 408 to a non-INVITE request.
    #[error("408 must not be sent to a non-INVITE request")]
    Timeout408ToNonInvite,
}
