//! The SIP proxy core (RFC 3261 §16), redirect server (§8.3) and stateless
//! proxy (§16.11), sans-IO.
//!
//! The core opens no socket, reads no clock and starts no task: every input
//! comes through a method call carrying `now`, and every output is an
//! [`Action`] for the caller (the server runtime) to carry out. It works
//! above the transaction layer (`sipline-transaction`): requests arrive
//! with the id of their server transaction, and each [`Action::Forward`]
//! asks the caller to create a client transaction for one branch.
//!
//! What it implements, by section (each module cites the text it follows):
//! * §16.3 validation ([`Proxy::on_request`]): 400, 416, 483 (or 200 to an
//!   OPTIONS for us with Max-Forwards 0), 482 with RFC 5393 §4.2 loop
//!   detection (a spiral passes), 420 with Unsupported;
//! * §16.4 route preprocessing: strict-router Request-URI restore, `maddr`,
//!   removal of our own Route values (both of a double Record-Route);
//! * §16.5 targets: location service through a [`Locator`] keyed by
//!   `sipline_registrar::canonical_aor`, [`StaticRoute`]s, 404/480;
//! * §16.6 forwarding: Request-URI, Max-Forwards, Record-Route for
//!   dialog-initiating requests (two values when the request changes
//!   transport, RFC 5658 §5), Path as Route (RFC 3327 §5.4), Max-Breadth
//!   (RFC 5393 §5), strict-router fixup, Via with a loop-detecting branch;
//!   parallel or sequential (by q, RFC 3841) forking, Request-Disposition
//!   (RFC 3841 §9.1);
//! * §16.7 responses: provisional and 2xx forwarded at once, best final
//!   response (6xx, lowest class, 503 → 500), 401/407 challenge
//!   aggregation, recursion on 3xx, CANCEL of pending branches on 2xx/6xx;
//! * §16.8 Timer C, §16.9 transport errors, §16.10 CANCEL;
//! * §16.11 stateless forwarding; §8.3 redirect (300/301/302);
//! * RFC 5626 §5.2/§5.3 flow tokens: the Record-Route value facing a peer
//!   reached over a flow names the flow (HMAC-protected), and the dialog's
//!   requests through it go over that flow (403 if forged, 430 if gone).
//!
//! # Drive loop
//!
//! The server owns the transaction table and the transports. Per event:
//!
//! | event | call |
//! |---|---|
//! | new server transaction with a request (not CANCEL) | [`Proxy::on_request`] (or [`Proxy::on_request_from`], saying how it arrived) |
//! | ACK for a 2xx (no transaction) | [`Proxy::on_request`] or [`Proxy::forward_stateless`] (or their `_from` forms) |
//! | CANCEL matching an INVITE server transaction | answer 200, then [`Proxy::context_for`] + [`Proxy::on_cancel`] |
//! | CANCEL matching nothing | [`Proxy::on_request`] (forwards it statelessly, §16.10) |
//! | `Event::Response` of a branch's client transaction | [`Proxy::on_response`] |
//! | `Event::Timeout` of a branch | [`Proxy::on_branch_timeout`] |
//! | `Event::TransportError` of a branch | [`Proxy::on_branch_transport_error`] |
//! | `Event::TimerC` of a branch | [`Proxy::on_timer_c`] |
//! | response matching no client transaction | [`Proxy::forward_response_stateless`] |
//! | the instant of [`Proxy::poll_timeout`] | [`Proxy::handle_timeout`] |
//!
//! and it carries out the actions returned:
//!
//! * [`Action::Respond`]: send the response on that server transaction;
//! * [`Action::Forward`]: resolve `next_hop` (RFC 3263) or use `flow`,
//!   create a client transaction for `request` (it may first fix the top
//!   Via's transport and sent-by with [`rewrite_top_via`]) and remember
//!   (context, branch) for its events;
//! * [`Action::Cancel`]: send the CANCEL on a new client transaction to the
//!   same destination as the branch's request (§9.1);
//! * [`Action::ForwardStateless`]: send the request to `next_hop` directly;
//! * [`Action::Done`]: forget the context's branch mappings.
//!
//! ```
//! use sipline_message::uri::SipUri;
//! use sipline_message::{Message, Uri};
//! use sipline_proxy::{Action, Proxy, ProxyConfig, ServerTxId, Target};
//! use std::collections::HashMap;
//! use std::time::Instant;
//!
//! let mut config = ProxyConfig::new(SipUri::parse("sip:192.0.2.1:5060;lr").unwrap());
//! config.domains = vec!["example.com".into()];
//! let mut proxy = Proxy::new(config);
//! let mut location: HashMap<String, Vec<Target>> = HashMap::new();
//! location.insert(
//!     "sip:bob@example.com".into(),
//!     vec![Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap())],
//! );
//! let invite = Message::parse(&b"INVITE sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK74bf9\r\n\
//! Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=9fxced76sl\r\n\
//! To: <sip:bob@example.com>\r\nCall-ID: 3848276298220188511@atlanta\r\n\
//! CSeq: 1 INVITE\r\nContact: <sip:alice@203.0.113.5>\r\nContent-Length: 0\r\n\r\n"[..]).unwrap();
//!
//! let now = Instant::now();
//! let actions = proxy.on_request(now, ServerTxId(1), invite, &location);
//! let Action::Forward { context, branch, request, next_hop, .. } = &actions[0] else { panic!() };
//! assert_eq!(next_hop.to_string(), "sip:bob@198.51.100.7:5062");
//! assert_eq!(request.max_forwards().unwrap(), Some(69));
//! assert!(request.headers().get("Record-Route").is_some());
//!
//! // downstream answers 200: it goes upstream, and the context is done
//! let ok = sipline_message::builder::response_to(
//!     request.as_request().unwrap(),
//!     sipline_message::StatusCode::OK,
//!     Some("314159"),
//! );
//! let actions = proxy.on_response(now, *context, *branch, Message::from(ok));
//! assert!(matches!(&actions[0], Action::Respond { server_tx: ServerTxId(1), .. }));
//! assert!(matches!(&actions[1], Action::Done { .. }));
//! assert!(proxy.is_empty());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod branch;
mod config;
mod flow;
mod forward;
mod locate;
mod proxy;
mod redirect;
mod response;
mod route;
mod target;
mod util;
mod validate;

pub use branch::branch_instance;
pub use config::{Forking, Mode, ProxyConfig, RouteMatch, StaticRoute};
pub use forward::rewrite_top_via;
pub use locate::{Locator, NoLocator, Target};
pub use proxy::Proxy;

use sipline_message::{Message, Transport, Uri};

/// How a request reached this element: what Record-Route needs to name the
/// incoming side (RFC 5658 §5) and, over a flow, to route the dialog's
/// later requests back over it (RFC 5626 §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The transport it arrived over.
    pub transport: Transport,
    /// The flow it arrived over, in the server's notation (the same as a
    /// [`Target`]'s `flow`). A Route value whose token names this very flow
    /// does not send the request back where it came from (RFC 5626 §5.3:
    /// the token's flow matches the source: an "outgoing" request).
    pub flow: Option<String>,
    /// The Record-Route value facing the sender carries a token for `flow`
    /// (with [`ProxyConfig::flow_token_key`]): requests of the dialog
    /// towards the sender go over this flow. The server decides: a
    /// connection the sender opened, a UDP flow of an outbound registration.
    pub flow_token: bool,
}

impl Inbound {
    /// Arrived over `transport`, no flow known.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            flow: None,
            flow_token: false,
        }
    }

    /// Sets the flow, and whether Record-Route towards the sender names it.
    pub fn with_flow(mut self, flow: impl Into<String>, token: bool) -> Self {
        self.flow = Some(flow.into());
        self.flow_token = token;
        self
    }
}

/// The server transaction a request arrived on, as the caller numbers it
/// (e.g. `sipline_transaction::TransactionId::as_u64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

/// A response context (§16.6: one per request proxied statefully).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId(u64);

impl ContextId {
    /// The number behind the id (unique for the life of the [`Proxy`]).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// One forwarded copy of a request: a client transaction (§16.6 step 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchId(u64);

impl BranchId {
    /// The number behind the id (unique for the life of the [`Proxy`]).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// What the proxy core asks the caller to do.
#[allow(clippy::large_enum_variant)] // messages are moved once
#[derive(Debug, Clone)]
#[must_use]
pub enum Action {
    /// Send this response on the server transaction (a forwarded response,
    /// or one the proxy generated as a UAS).
    Respond {
        /// The server transaction.
        server_tx: ServerTxId,
        /// The response, ready to send.
        response: Message,
    },
    /// Send `request` on a new client transaction (§16.6 step 10). Its
    /// events go back with this context and branch.
    Forward {
        /// The response context.
        context: ContextId,
        /// The branch.
        branch: BranchId,
        /// The request, with our Via on top.
        request: Message,
        /// Where to send it (§16.6 step 7): the top Route if any, else the
        /// Request-URI; resolve it with RFC 3263.
        next_hop: Uri,
        /// The flow of the target (RFC 5626 §5.3): if the server still has
        /// this connection, it should send over it.
        flow: Option<String>,
    },
    /// Send `request` (a CANCEL for the branch, §9.1) on a new client
    /// transaction, to the destination the branch's request went to.
    Cancel {
        /// The response context.
        context: ContextId,
        /// The branch being cancelled.
        branch: BranchId,
        /// The CANCEL (`sipline_transaction::cancel_for` of the branch's request).
        request: Message,
    },
    /// Send this request without a transaction (§16.11, and ACK for 2xx).
    ForwardStateless {
        /// The request, with our Via on top.
        message: Message,
        /// Where to send it: the top Route if any, else the Request-URI.
        next_hop: Uri,
        /// The flow of the target, if the location service gave one.
        flow: Option<String>,
    },
    /// The context is finished (a final response went upstream and no
    /// branch is pending): forget its (context, branch) mappings. Events
    /// for it are ignored from now on.
    Done {
        /// The response context.
        context: ContextId,
    },
}
