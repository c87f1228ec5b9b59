//! SIP dialogs, sessions and the user-agent core, as sans-IO state
//! machines (RFC 3261 §8, §12-15, §22.2; RFC 6026; RFC 3262 PRACK;
//! RFC 3311 UPDATE; RFC 4028 session timers; RFC 3428 MESSAGE; RFC 6086
//! INFO; RFC 6665 events with a minimal RFC 3863 presence document
//! ([`presence`]); RFC 3515 REFER with RFC 3892 Referred-By and RFC 3891
//! Replaces).
//!
//! [`Endpoint`] is everything a user agent does between the transport and
//! the application: it owns a transaction table
//! ([`sipline_transaction::Transactions`]), the dialogs, calls,
//! registrations and out-of-dialog requests, and it reclaims each of them
//! when it ends. Like the transaction layer it opens no socket and reads no
//! clock: feed it messages ([`Endpoint::handle_message`]) and wake-ups
//! ([`Endpoint::handle_timeout`]), give it commands ([`Endpoint::call`],
//! [`Endpoint::answer`], [`Endpoint::hangup`], ...), and drain
//! [`Endpoint::poll_transmit`], [`Endpoint::poll_event`] and
//! [`Endpoint::poll_timeout`]. Message bodies are opaque here ([`Body`]);
//! the application (or `sipline-ua`) makes and reads SDP.
//!
//! Where a request goes is the application's to say: [`Endpoint::new`]
//! takes a router that maps the URI a request is sent to (first Route,
//! else Request-URI, RFC 3261 §8.1.2) to a [`Hop`]: a destination, the
//! transport and our local address on it (for Via and Contact).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dialog;
mod endpoint;
pub mod presence;

pub use dialog::{is_loose, Dialog, DialogId, DialogState, SequenceError};
pub use endpoint::{
    Body, CallEvent, Config, Credentials, EndReason, Endpoint, Error, Event, Failure, Handle, Hop,
    RegistrationEvent, Router, SubscriptionEvent, SubscriptionState, Transmit,
};
