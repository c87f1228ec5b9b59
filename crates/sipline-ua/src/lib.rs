//! An async SIP user agent on tokio.
//!
//! [`UserAgent`] runs the sans-IO core of `sipline-dialog` on real
//! transports (`sipline-transport`: UDP, TCP, TLS, WS), finds servers with
//! RFC 3263 (`sipline-dns`), and gives applications calls, answers,
//! registrations and requests as async values:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sipline_ua::UaError> {
//! use sipline_ua::{Config, UserAgent, CallEvent};
//! let (ua, mut incoming) = UserAgent::start(Config::new("sip:alice@127.0.0.1")?).await?;
//! let mut call = ua.call("sip:bob@127.0.0.1:5070".parse()?, None).await?;
//! while let Some(event) = call.next_event().await {
//!     if let CallEvent::Answered { .. } = event {
//!         call.hangup().await?;
//!     }
//!     if let CallEvent::Ended { .. } = event { break; }
//! }
//! # drop(incoming); Ok(()) }
//! ```
//!
//! The stack owns every lifecycle: a call's handle dies with its `Ended`
//! event, transactions and dialogs are reclaimed by the core. Media (G.711
//! RTP from `sipline-media`, negotiated with SDP) is in [`media`]; the
//! application decides when to use it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
pub mod media;

pub use driver::TraceEntry;
pub use sipline_dialog::presence;
pub use sipline_dialog::{
    Body, CallEvent, DialogId, EndReason, Failure, Handle, RegistrationEvent, SubscriptionEvent,
    SubscriptionState,
};
pub use sipline_message::{Message, Method, Request, Response, Transport, Uri};

use sipline_auth::Credential;
use sipline_dialog::Credentials;
use sipline_message::header::NameAddr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How a [`UserAgent`] runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our address of record (From of requests outside dialogs).
    pub identity: NameAddr,
    /// Where to listen, e.g. `udp` and `tcp` on `127.0.0.1:0`. Default: UDP
    /// and TCP on 127.0.0.1, free ports.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// Every request outside a dialog goes through this proxy (preloaded
    /// Route, RFC 3261 §8.1.2).
    pub outbound_proxy: Option<Uri>,
    /// Transport for URIs that do not name one (default UDP).
    pub transport: Option<Transport>,
    /// Username and password for digest challenges.
    pub credentials: Option<(String, String)>,
    /// T1 (RFC 3261 §17.1.1.1); T2 and T4 keep their ratio to it.
    pub t1: Duration,
    /// CA certificates (PEM) to trust for TLS and WSS.
    pub ca_files: Vec<PathBuf>,
    /// A DNS server to ask instead of the system's.
    pub nameserver: Option<SocketAddr>,
    /// Publish every message sent and received on [`UserAgent::trace`].
    pub trace: bool,
    /// The User-Agent header.
    pub user_agent: String,
    /// RFC 5626 outbound: register with an instance id and reg-id, so a
    /// registrar that supports it routes calls back over our flow.
    pub outbound: bool,
    /// RFC 5626 §4.4 keep-alives towards the registrar (or outbound proxy)
    /// while registered: over UDP a STUN Binding Request (§4.4.2, §8)
    /// when the registration's 2xx said `Require: outbound` or had `ob` in
    /// its first Path URI (the explicit indication §8 asks for; this
    /// setting alone is not one), and a missing answer or a changed
    /// XOR-MAPPED-ADDRESS makes the registration register again at once
    /// (§4.5); else a CRLFCRLF datagram (a NAT refresh, no failure
    /// detection). CRLF pings (with pong check, §4.4.1) on the connections
    /// we open over TCP/TLS/WS. Each wait is drawn between 80% and 100% of
    /// this. `None`: no keep-alives.
    pub keepalive: Option<Duration>,
}

impl Config {
    /// Defaults for the identity `aor` (e.g. `sip:alice@example.com`).
    pub fn new(aor: &str) -> Result<Config, UaError> {
        let uri: Uri = aor
            .parse()
            .map_err(|e| UaError::Uri(format!("{aor}: {e}")))?;
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        Ok(Config {
            identity: NameAddr::new(uri),
            listen: vec![(Transport::Udp, lo), (Transport::Tcp, lo)],
            outbound_proxy: None,
            transport: None,
            credentials: None,
            t1: Duration::from_millis(500),
            ca_files: Vec::new(),
            nameserver: None,
            trace: false,
            user_agent: concat!("sipline/", env!("CARGO_PKG_VERSION")).into(),
            outbound: false,
            keepalive: None,
        })
    }

    pub(crate) fn dialog_config(&self) -> sipline_dialog::Config {
        let mut c = sipline_dialog::Config::new(self.identity.clone());
        let t1 = self.t1;
        c.timers.t1 = t1;
        c.timers.t2 = t1 * 8;
        c.timers.t4 = t1 * 10;
        c.user_agent = Some(self.user_agent.clone());
        c.outbound_proxy = self.outbound_proxy.clone();
        if self.outbound {
            // RFC 5626 §4.1: a UUID URN (RFC 4122 version 4).
            let b: [u8; 16] = rand::random();
            c.instance = Some(format!(
                "urn:uuid:{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:x}{:02x}-{:x}{:x}{:02x}-{}",
                b[0],
                b[1],
                b[2],
                b[3],
                b[4],
                b[5],
                b[6] & 0x0f,
                b[7],
                8 | (b[8] & 0x03),
                b[8] >> 4,
                b[9],
                b[10..16]
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
            ));
        }
        c.credentials = self.credentials.as_ref().map(|(u, p)| Credentials {
            username: u.clone(),
            secret: Credential::Password(p.clone()),
        });
        c
    }
}

/// What went wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UaError {
    /// A URI that does not parse.
    #[error("bad URI: {0}")]
    Uri(String),
    /// The transport could not start or send.
    #[error("transport: {0}")]
    Transport(String),
    /// DNS found no server.
    #[error("DNS: {0}")]
    Dns(String),
    /// The core refused the command.
    #[error("{0}")]
    Dialog(#[from] sipline_dialog::Error),
    /// The request got no response.
    #[error("no response: {0:?}")]
    NoResponse(Failure),
    /// The user agent has stopped.
    #[error("the user agent has stopped")]
    Stopped,
}

impl From<sipline_message::uri::UriError> for UaError {
    fn from(e: sipline_message::uri::UriError) -> Self {
        UaError::Uri(e.to_string())
    }
}

/// A running user agent. Cheap to clone; it stops when [`UserAgent::stop`]
/// is called or every clone is dropped.
#[derive(Debug, Clone)]
pub struct UserAgent {
    commands: mpsc::UnboundedSender<driver::Command>,
    trace: broadcast::Sender<TraceEntry>,
    listeners: Vec<(Transport, SocketAddr)>,
    config: Config,
}

/// A call, ours or the peer's: its events and what can be done to it.
#[derive(Debug)]
pub struct Call {
    handle: Handle,
    events: mpsc::UnboundedReceiver<CallEvent>,
    ua: UserAgent,
    /// `Ended` was seen: nothing to clean up on drop.
    ended: bool,
}

/// A call that arrived: ring, answer, reject or redirect it.
#[derive(Debug)]
pub struct IncomingCall {
    /// The call (its events start after the INVITE).
    pub call: Call,
    /// The INVITE.
    pub request: Request,
}

/// A request outside any dialog (MESSAGE, SUBSCRIBE, NOTIFY ...) waiting
/// for [`IncomingRequest::respond`].
#[derive(Debug)]
pub struct IncomingRequest {
    handle: Handle,
    /// The request.
    pub request: Request,
    ua: UserAgent,
    answered: bool,
}

/// A SUBSCRIBE outside any dialog (RFC 6665 §4.2.1): accept it (then
/// send the first NOTIFY at once) or reject it.
#[derive(Debug)]
pub struct IncomingSubscription {
    handle: Handle,
    /// The SUBSCRIBE.
    pub request: Request,
    ua: UserAgent,
    answered: bool,
}

/// One subscription, ours (subscriber) or the peer's (notifier).
#[derive(Debug)]
pub struct Subscription {
    handle: Handle,
    events: mpsc::UnboundedReceiver<SubscriptionEvent>,
    ua: UserAgent,
    notifier: bool,
    ended: bool,
}

/// Calls and requests that arrive.
#[derive(Debug)]
pub struct Incoming {
    calls: mpsc::UnboundedReceiver<IncomingCall>,
    requests: mpsc::UnboundedReceiver<IncomingRequest>,
    subscriptions: mpsc::UnboundedReceiver<IncomingSubscription>,
}

impl Incoming {
    /// The next incoming call.
    pub async fn next_call(&mut self) -> Option<IncomingCall> {
        self.calls.recv().await
    }

    /// The next incoming request outside a dialog.
    pub async fn next_request(&mut self) -> Option<IncomingRequest> {
        self.requests.recv().await
    }

    /// The next incoming subscription.
    pub async fn next_subscription(&mut self) -> Option<IncomingSubscription> {
        self.subscriptions.recv().await
    }

    /// Whichever comes first.
    pub async fn next(&mut self) -> Option<Either> {
        tokio::select! {
            c = self.calls.recv() => c.map(Either::Call),
            r = self.requests.recv() => r.map(Either::Request),
            s = self.subscriptions.recv() => s.map(Either::Subscription),
        }
    }
}

/// An incoming call, request or subscription.
#[derive(Debug)]
pub enum Either {
    /// A call.
    Call(IncomingCall),
    /// A request.
    Request(IncomingRequest),
    /// A subscription.
    Subscription(IncomingSubscription),
}

/// A registration kept alive by the user agent.
#[derive(Debug)]
pub struct Registration {
    handle: Handle,
    events: mpsc::UnboundedReceiver<RegistrationEvent>,
    ua: UserAgent,
}

impl UserAgent {
    /// Starts the transports and the user agent. Must run in a tokio runtime.
    pub async fn start(config: Config) -> Result<(UserAgent, Incoming), UaError> {
        driver::start(config).await
    }

    /// Where we listen.
    pub fn listeners(&self) -> &[(Transport, SocketAddr)] {
        &self.listeners
    }

    /// Our address on a transport.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every message sent and received, if `Config::trace` is on.
    pub fn trace(&self) -> broadcast::Receiver<TraceEntry> {
        self.trace.subscribe()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> driver::Command,
    ) -> Result<T, UaError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| UaError::Stopped)?;
        rx.await.map_err(|_| UaError::Stopped)
    }

    /// Calls `target` with an optional offer (SDP body).
    pub async fn call(&self, target: Uri, offer: Option<Body>) -> Result<Call, UaError> {
        self.call_with(target, offer, Vec::new()).await
    }

    /// Calls with extra header rows.
    pub async fn call_with(
        &self,
        target: Uri,
        offer: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<Call, UaError> {
        self.resolve_next_hop(&target).await?;
        let (handle, events) = self
            .ask(|reply| driver::Command::Call {
                target,
                body: offer,
                headers,
                reply,
            })
            .await??;
        Ok(Call {
            handle,
            events,
            ua: self.clone(),
            ended: false,
        })
    }

    /// Sends a request outside any dialog (MESSAGE, OPTIONS, PUBLISH ...)
    /// and waits for its final response.
    pub async fn request(
        &self,
        method: Method,
        target: Uri,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<Response, UaError> {
        self.resolve_next_hop(&target).await?;
        let rx = self
            .ask(|reply| driver::Command::Request {
                method,
                target,
                body,
                headers,
                reply,
            })
            .await??;
        match rx.await.map_err(|_| UaError::Stopped)? {
            Ok(r) => Ok(r),
            Err(f) => Err(UaError::NoResponse(f)),
        }
    }

    /// Registers with `registrar` for `expires` seconds and keeps the
    /// registration fresh until [`Registration::unregister`].
    pub async fn register(&self, registrar: Uri, expires: u32) -> Result<Registration, UaError> {
        self.resolve_next_hop(&registrar).await?;
        let (handle, events) = self
            .ask(|reply| driver::Command::Register {
                registrar,
                expires,
                reply,
            })
            .await??;
        Ok(Registration {
            handle,
            events,
            ua: self.clone(),
        })
    }

    /// Subscribes to `event` (e.g. "presence") at `target` (RFC 6665);
    /// NOTIFYs arrive as [`SubscriptionEvent::Notify`], refreshes are
    /// automatic until [`Subscription::unsubscribe`].
    pub async fn subscribe(
        &self,
        target: Uri,
        event: &str,
        accept: &str,
        expires: u32,
    ) -> Result<Subscription, UaError> {
        self.resolve_next_hop(&target).await?;
        let (handle, events) = self
            .ask(|reply| driver::Command::Subscribe {
                target,
                event: event.to_string(),
                accept: accept.to_string(),
                expires,
                reply,
            })
            .await??;
        Ok(Subscription {
            handle,
            events,
            ua: self.clone(),
            notifier: false,
            ended: false,
        })
    }

    /// Resolves (RFC 3263) the first hop towards `target` (the outbound
    /// proxy if configured) so that the core's router knows it.
    async fn resolve_next_hop(&self, target: &Uri) -> Result<(), UaError> {
        let next = self
            .config
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| target.clone());
        self.ask(|reply| driver::Command::Resolve { uri: next, reply })
            .await?
    }

    /// Stops the user agent (open transactions are abandoned).
    pub fn stop(&self) {
        let _ = self.commands.send(driver::Command::Stop);
    }
}

impl Call {
    /// The call's handle in the core.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The next event; `None` after `Ended`.
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        let ev = self.events.recv().await;
        if matches!(ev, None | Some(CallEvent::Ended { .. })) {
            self.ended = true;
        }
        ev
    }

    async fn op(&self, op: driver::CallOp) -> Result<(), UaError> {
        let call = self.handle;
        self.ua
            .ask(|reply| driver::Command::CallOp { call, op, reply })
            .await?
            .map_err(UaError::from)
    }

    /// Ends the call: CANCEL, reject with 603 or BYE, as its state needs.
    pub async fn hangup(&self) -> Result<(), UaError> {
        self.op(driver::CallOp::Hangup).await
    }

    /// Sends a provisional response (e.g. 180) to an incoming call.
    pub async fn ring(&self, status: u16, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::Ring(status, body)).await
    }

    /// Answers an incoming call with 200 and a body.
    pub async fn answer(&self, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::Answer(body)).await
    }

    /// Rejects an incoming call (300-699).
    pub async fn reject(&self, status: u16) -> Result<(), UaError> {
        self.op(driver::CallOp::Reject(status)).await
    }

    /// Redirects an incoming call to these URIs (302, or 300 for several).
    pub async fn redirect(&self, targets: Vec<Uri>) -> Result<(), UaError> {
        self.op(driver::CallOp::Redirect(targets)).await
    }

    /// Sends a re-INVITE with a new offer (`CallEvent::OfferResult` follows).
    pub async fn reinvite(&self, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::Reinvite(body)).await
    }

    /// Answers the peer's re-INVITE or UPDATE (`CallEvent::Offer`).
    pub async fn respond_offer(&self, status: u16, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::RespondOffer(status, body)).await
    }

    /// Sends the ACK with our answer when the 2xx carried the offer.
    pub async fn ack(&self, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::Ack(body)).await
    }

    /// Sends a reliable provisional response (RFC 3262; the caller must
    /// support 100rel).
    pub async fn ring_reliably(&self, status: u16, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::RingReliably(status, body)).await
    }

    /// Sends the PRACK owed after `CallEvent::PrackNeeded`, with our answer.
    pub async fn prack(&self, body: Option<Body>) -> Result<(), UaError> {
        self.op(driver::CallOp::Prack(body)).await
    }

    /// Transfers the peer to `target` with REFER (RFC 3515); with
    /// `replaces`, an attended transfer (RFC 3891). Progress arrives as
    /// `CallEvent::TransferProgress`.
    pub async fn transfer(&self, target: Uri, replaces: Option<DialogId>) -> Result<(), UaError> {
        self.op(driver::CallOp::Transfer(target, replaces)).await
    }

    /// After `CallEvent::Refer`: reports the new call's progress to the
    /// transferor (a sipfrag NOTIFY; a final status ends the subscription).
    pub async fn transfer_progress(&self, status: u16) -> Result<(), UaError> {
        self.op(driver::CallOp::TransferProgress(status)).await
    }

    /// The dialog's identifier (for Replaces), once there is one.
    pub async fn dialog_id(&self) -> Option<DialogId> {
        let call = self.handle;
        self.ua
            .ask(|reply| driver::Command::DialogId { call, reply })
            .await
            .ok()
            .flatten()
    }

    /// Sends a request in the call's dialog (INFO, MESSAGE ...);
    /// `CallEvent::Response` follows.
    pub async fn send(
        &self,
        method: Method,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<(), UaError> {
        self.op(driver::CallOp::Send(method, body, headers)).await
    }
}

impl IncomingSubscription {
    /// Accepts it (200 or 202) for at most `expires` seconds; send the
    /// first NOTIFY at once with [`Subscription::notify`].
    pub async fn accept(mut self, expires: u32, status: u16) -> Result<Subscription, UaError> {
        self.answered = true;
        let handle = self.handle;
        let (handle, events) = self
            .ua
            .ask(|reply| driver::Command::Accept {
                handle,
                expires,
                status,
                reply,
            })
            .await??;
        Ok(Subscription {
            handle,
            events,
            ua: self.ua.clone(),
            notifier: true,
            ended: false,
        })
    }

    /// Rejects it (e.g. 403, 489).
    pub async fn reject(mut self, status: u16) -> Result<(), UaError> {
        self.answered = true;
        let handle = self.handle;
        self.ua
            .ask(|reply| driver::Command::SubscriptionOp {
                handle,
                op: driver::SubscriptionOp::Reject(status),
                reply,
            })
            .await?
            .map_err(UaError::from)
    }
}

impl Subscription {
    /// The next event; `None` once it ended.
    pub async fn next_event(&mut self) -> Option<SubscriptionEvent> {
        let ev = self.events.recv().await;
        if matches!(
            ev,
            None | Some(SubscriptionEvent::Terminated { .. } | SubscriptionEvent::Failed { .. })
        ) {
            self.ended = true;
        }
        ev
    }

    async fn op(&self, op: driver::SubscriptionOp) -> Result<(), UaError> {
        let handle = self.handle;
        self.ua
            .ask(|reply| driver::Command::SubscriptionOp { handle, op, reply })
            .await?
            .map_err(UaError::from)
    }

    /// Subscriber: ends the subscription (SUBSCRIBE with Expires: 0).
    pub async fn unsubscribe(&self) -> Result<(), UaError> {
        self.op(driver::SubscriptionOp::Unsubscribe).await
    }

    /// Notifier: sends a NOTIFY with this state and body.
    pub async fn notify(
        &self,
        state: SubscriptionState,
        body: Option<Body>,
    ) -> Result<(), UaError> {
        self.op(driver::SubscriptionOp::Notify(state, body)).await
    }
}

impl IncomingRequest {
    /// Answers the request.
    pub async fn respond(mut self, status: u16, body: Option<Body>) -> Result<(), UaError> {
        self.answered = true;
        let handle = self.handle;
        self.ua
            .ask(|reply| driver::Command::Respond {
                handle,
                status,
                body,
                reply,
            })
            .await?
            .map_err(UaError::from)
    }
}

impl Registration {
    /// The next event (registered, failed with retry, unregistered).
    pub async fn next_event(&mut self) -> Option<RegistrationEvent> {
        self.events.recv().await
    }

    /// Removes the binding; `Unregistered` follows.
    pub async fn unregister(&self) -> Result<(), UaError> {
        let handle = self.handle;
        self.ua
            .ask(|reply| driver::Command::Unregister { handle, reply })
            .await?
            .map_err(UaError::from)
    }
}

// The stack owns lifecycles: a handle dropped by the application ends what
// it stands for instead of leaving it open on the wire.

impl Drop for Call {
    /// An unanswered incoming call is declined, a ringing outgoing one
    /// cancelled, an established one hung up (BYE).
    fn drop(&mut self) {
        if !self.ended {
            let (reply, _) = oneshot::channel();
            let _ = self.ua.commands.send(driver::Command::CallOp {
                call: self.handle,
                op: driver::CallOp::Hangup,
                reply,
            });
        }
    }
}

impl Drop for IncomingRequest {
    /// Not answered: 500, so the sender does not wait for Timer F.
    fn drop(&mut self) {
        if !self.answered {
            let (reply, _) = oneshot::channel();
            let _ = self.ua.commands.send(driver::Command::Respond {
                handle: self.handle,
                status: 500,
                body: None,
                reply,
            });
        }
    }
}

impl Drop for IncomingSubscription {
    /// Neither accepted nor rejected: 603 Decline.
    fn drop(&mut self) {
        if !self.answered {
            let (reply, _) = oneshot::channel();
            let _ = self.ua.commands.send(driver::Command::SubscriptionOp {
                handle: self.handle,
                op: driver::SubscriptionOp::Reject(603),
                reply,
            });
        }
    }
}

impl Drop for Subscription {
    /// A subscriber unsubscribes; a notifier ends the subscription with a
    /// final NOTIFY (RFC 6665 §4.2.2).
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (reply, _) = oneshot::channel();
        let op = if self.notifier {
            driver::SubscriptionOp::Notify(
                SubscriptionState::Terminated {
                    reason: Some("noresource".into()),
                },
                None,
            )
        } else {
            driver::SubscriptionOp::Unsubscribe
        };
        let _ = self.ua.commands.send(driver::Command::SubscriptionOp {
            handle: self.handle,
            op,
            reply,
        });
    }
}
