//! The user-agent core: calls (INVITE sessions), in-dialog requests,
//! out-of-dialog requests, registrations and the requests we receive.

use crate::dialog::{Dialog, DialogState};
use foldhash::HashMap;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use sipline_auth::{ClientAuthState, Credential, DigestRequest};
use sipline_message::builder::{response_to, RequestBuilder};
use sipline_message::header::{Challenge, Contact, Header, NameAddr, StdHeader};
use sipline_message::uri::{Host, Scheme, SipUri};
use sipline_message::{Bytes, Message, Method, Request, Response, StatusCode, Transport, Uri};
use sipline_transaction::{
    Event as TxEvent, Kind, Received, ResponseMatch, TransactionId, Transactions,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

mod prack;
mod refer;
mod session_timer;
mod subscription;

pub use subscription::{SubscriptionEvent, SubscriptionState};

/// Where a request goes, as the router decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop<A> {
    /// The destination the transport understands.
    pub destination: A,
    /// The transport.
    pub transport: Transport,
    /// Our address on that transport: Via sent-by and Contact.
    pub local: SocketAddr,
}

/// Maps the URI a request is sent to (first Route, else Request-URI) to a
/// hop; `None` if it cannot be reached.
pub type Router<A> = Box<dyn FnMut(&Uri) -> Option<Hop<A>> + Send>;

/// A message for the transport to send.
#[derive(Debug, Clone)]
#[must_use]
pub struct Transmit<A> {
    /// Where to.
    pub destination: A,
    /// The serialized message.
    pub message: Bytes,
    /// The transaction it belongs to (none for an ACK of a 2xx or a
    /// retransmitted 2xx, which live outside transactions, §13.3.1.4,
    /// §13.2.2.4); transport errors are reported with it.
    pub transaction: Option<TransactionId>,
}

/// Username and secret for digest authentication (RFC 3261 §22.2).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password or HA1.
    pub secret: Credential,
}

/// The settings of an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Transaction timers (T1, T2, T4, Timer C).
    pub timers: sipline_transaction::Config,
    /// Our address of record: From of requests outside dialogs, To of
    /// REGISTER.
    pub identity: NameAddr,
    /// The user part of our Contact.
    pub contact_user: String,
    /// The User-Agent / Server header value.
    pub user_agent: Option<String>,
    /// A proxy every request outside a dialog is sent through, as a
    /// preloaded loose Route (RFC 3261 §8.1.2).
    pub outbound_proxy: Option<Uri>,
    /// For 401 and 407 challenges to any of our requests.
    pub credentials: Option<Credentials>,
    /// Option tags we support (Supported, RFC 3261 §20.37).
    pub supported: Vec<String>,
    /// Seed of the random tags, branches and back-off (`None`: from the
    /// operating system). Tests fix it to be reproducible.
    pub seed: Option<u64>,
    /// RFC 5626 §4.5: first wait before re-registering after a failure
    /// (doubled on each further failure, randomized to 50-100%).
    pub register_retry_base: Duration,
    /// The longest wait between registration attempts.
    pub register_retry_max: Duration,
    /// RFC 5626 outbound: our instance id (`urn:uuid:...`, §4.1). With it,
    /// REGISTER Contacts carry `+sip.instance` and `reg-id=1` and
    /// Supported lists "outbound" and "path" (§4.2), so the registrar
    /// can route back over the flow the REGISTER came on; the Contact of
    /// dialog-forming requests (INVITE, SUBSCRIBE, REFER) carries the
    /// `ob` URI parameter (§4.3).
    pub instance: Option<String>,
    /// RFC 3261 §8.1.3.4: on a 3xx to an INVITE, try its Contacts (by q,
    /// at most this many redirections per call; 0 turns it off). Each new
    /// target is announced with `CallEvent::Redirected`.
    pub max_redirects: u32,
    /// Session timers (RFC 4028): the session interval in seconds we ask
    /// for in our INVITEs and grant at most in our 2xx. `None` (the
    /// default) turns the extension off: no "timer" in Supported, and a
    /// Session-Expires in requests is ignored (RFC 4028 §4 recommends
    /// 1800 when on).
    pub session_expires: Option<u32>,
    /// The smallest session interval we accept (Min-SE, RFC 4028 §5; never
    /// below 90). Smaller requests get 422.
    pub min_se: u32,
}

impl Config {
    /// Defaults for `identity`.
    pub fn new(identity: NameAddr) -> Self {
        let contact_user = match &identity.uri {
            Uri::Sip(s) => s.user.clone().unwrap_or_else(|| "sipline".into()),
            _ => "sipline".into(),
        };
        Config {
            timers: sipline_transaction::Config::default(),
            identity,
            contact_user,
            user_agent: Some(concat!("sipline/", env!("CARGO_PKG_VERSION")).into()),
            outbound_proxy: None,
            credentials: None,
            supported: vec!["100rel".into(), "replaces".into(), "norefersub".into()],
            seed: None,
            register_retry_base: Duration::from_secs(30),
            register_retry_max: Duration::from_secs(1800),
            instance: None,
            max_redirects: 5,
            session_expires: None,
            min_se: 90,
        }
    }
}

/// Identifies a call, request, registration or incoming request for as
/// long as it lives (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u64);

impl Handle {
    /// The number behind the handle.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// A message body with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Content-Type.
    pub content_type: String,
    /// The bytes.
    pub data: Bytes,
}

impl Body {
    /// A body of type `application/sdp`.
    pub fn sdp(data: impl Into<Bytes>) -> Body {
        Body {
            content_type: "application/sdp".into(),
            data: data.into(),
        }
    }

    fn of(m: &Message) -> Option<Body> {
        if m.body().is_empty() {
            return None;
        }
        let content_type = m
            .headers()
            .get(StdHeader::ContentType)
            .map_or_else(|| "application/sdp".to_string(), |v| v.to_string());
        Some(Body {
            content_type,
            data: m.body().clone(),
        })
    }

    /// Whether it is SDP.
    pub fn is_sdp(&self) -> bool {
        self.content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Timer B or F fired (RFC 3261 §8.1.3.1: as a 408).
    Timeout,
    /// The transport could not send it (§8.1.3.1: as a 503).
    Transport,
    /// The router found no way to the target.
    NoRoute,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The INVITE got a 300-699 final response.
    Rejected {
        /// The status.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// We cancelled it (or hung up before an answer).
    Cancelled,
    /// The caller cancelled before we answered (§9.2).
    CancelledByPeer,
    /// We rejected the incoming call.
    Declined,
    /// We sent BYE.
    LocalBye,
    /// The peer sent BYE.
    RemoteBye,
    /// No response, or no ACK for our 2xx within 64·T1 (§13.3.1.4, then
    /// we sent BYE).
    Timeout,
    /// The transport failed.
    TransportError,
    /// A request in the dialog got 481 or 408 (§12.2.1.2).
    DialogGone(u16),
    /// No route to the target.
    NoRoute,
    /// No session refresh came in time (RFC 4028 §10); we sent BYE.
    SessionExpired,
}

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A provisional response (UAC): 180, 183 ...; `body` is early media SDP.
    Progress {
        /// The status.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The body (an answer, or with 100rel an offer).
        body: Option<Body>,
    },
    /// A 2xx to our INVITE (UAC); the ACK was sent, unless `needs_ack`:
    /// the INVITE had no offer, `body` is the offer, and the application
    /// must call [`Endpoint::ack`] with the answer (§13.2.1).
    Answered {
        /// The status.
        status: u16,
        /// The answer (or offer, see `needs_ack`).
        body: Option<Body>,
        /// Call [`Endpoint::ack`].
        needs_ack: bool,
    },
    /// The ACK for our 2xx arrived (UAS), with the answer if our 2xx
    /// carried the offer.
    Confirmed {
        /// The ACK's body.
        body: Option<Body>,
    },
    /// The peer sent a re-INVITE or UPDATE; answer it with
    /// [`Endpoint::respond_offer`].
    Offer {
        /// INVITE or UPDATE.
        method: Method,
        /// The offer (None: a re-INVITE without offer, our 2xx must carry one).
        body: Option<Body>,
    },
    /// Our re-INVITE or UPDATE ended: a 2xx (`body` is the answer) or a
    /// failure, after which the previous session stays (§14.1).
    OfferResult {
        /// INVITE or UPDATE.
        method: Method,
        /// Final status.
        status: u16,
        /// The answer.
        body: Option<Body>,
    },
    /// A request in the dialog the endpoint answered 200 (INFO, MESSAGE,
    /// NOTIFY, REFER ...).
    Request {
        /// The request.
        request: Request,
    },
    /// The final response to a request sent with
    /// [`Endpoint::send_in_dialog`].
    Response {
        /// The request's handle.
        request: Handle,
        /// The status.
        status: u16,
        /// The response.
        response: Response,
    },
    /// Transferee: the peer asked us to call `target` (a REFER in the
    /// call's dialog, RFC 3515), answered 202. Make the call with
    /// [`Endpoint::call`], passing `Replaces` and `Referred-By` headers
    /// when given (RFC 3891, RFC 3892), and report its progress with
    /// [`Endpoint::transfer_progress`].
    Refer {
        /// The Refer-To URI, without its headers.
        target: Uri,
        /// The Replaces value from the Refer-To URI, unescaped
        /// (`call-id;to-tag=..;from-tag=..`).
        replaces: Option<String>,
        /// The Referred-By value, as received.
        referred_by: Option<String>,
    },
    /// Transferor: a NOTIFY about the call our REFER caused (RFC 3515
    /// §2.4.5): the status of its message/sipfrag body; `done` when the
    /// subscription ended with it.
    TransferProgress {
        /// The status of the new call.
        status: u16,
        /// The last one.
        done: bool,
    },
    /// UAC: a reliable provisional response carried an offer (our INVITE
    /// had none; it came as the `body` of the `Progress` just before):
    /// call [`Endpoint::prack`] with the answer (RFC 3262 §5).
    PrackNeeded,
    /// UAS: the PRACK for a reliable provisional response arrived (RFC 3262
    /// §3), with the answer if that response carried the offer.
    PrackReceived {
        /// The PRACK's body.
        body: Option<Body>,
    },
    /// A 3xx sent the call on to `target` (RFC 3261 §8.1.3.4); the INVITE
    /// was sent there.
    Redirected {
        /// The 3xx status.
        status: u16,
        /// The new target.
        target: Uri,
    },
    /// The call is over and its handle is dead.
    Ended {
        /// Why.
        reason: EndReason,
    },
}

/// What happened to a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// 2xx: the binding holds for `expires` seconds (a refresh is scheduled).
    Registered {
        /// The expiry the registrar granted.
        expires: u32,
        /// All bindings of the AOR the 200 listed.
        contacts: Vec<String>,
        /// The registrar (or the edge proxy) supports RFC 5626 outbound
        /// over this flow: the 2xx carried `Require: outbound` (§4.2, §6)
        /// or its first Path URI has `ob` (§8). Only then may the UA send
        /// STUN keep-alives on the flow (§8: "MUST NOT send STUN requests
        /// over a flow unless it has an explicit indication").
        outbound: bool,
    },
    /// A final failure response or no response; retried with back-off
    /// (RFC 5626 §4.5) unless `retry_in` is `None` (403, 404 ...).
    Failed {
        /// The status (408 for a timeout, 503 for a transport error).
        status: u16,
        /// The reason phrase.
        reason: String,
        /// When the next attempt is.
        retry_in: Option<Duration>,
    },
    /// The binding was removed (Expires 0 answered); the handle is dead.
    Unregistered,
}

/// What the endpoint tells the application.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A new INVITE outside a dialog: ring, answer, reject or redirect it
    /// ([`Endpoint::ring`], [`Endpoint::answer`], [`Endpoint::reject`],
    /// [`Endpoint::redirect`]).
    IncomingCall {
        /// The call.
        call: Handle,
        /// The INVITE.
        request: Request,
    },
    /// Something happened to a call.
    Call {
        /// The call.
        call: Handle,
        /// What.
        event: CallEvent,
    },
    /// A request outside any dialog (MESSAGE, SUBSCRIBE, NOTIFY, REFER,
    /// PUBLISH, INFO ...): answer with [`Endpoint::respond`]. OPTIONS is
    /// answered by the endpoint.
    IncomingRequest {
        /// The request's handle.
        request: Handle,
        /// The request.
        message: Request,
    },
    /// The final response to [`Endpoint::request`] (after digest retries).
    Response {
        /// The request's handle.
        request: Handle,
        /// The response.
        response: Response,
    },
    /// A request sent with [`Endpoint::request`] got no response.
    RequestFailed {
        /// The request's handle.
        request: Handle,
        /// Why.
        failure: Failure,
    },
    /// Something happened to a registration.
    Registration {
        /// The registration.
        registration: Handle,
        /// What.
        event: RegistrationEvent,
    },
    /// A SUBSCRIBE outside a dialog (RFC 6665 §4.2.1): accept it with
    /// [`Endpoint::accept_subscription`] (then send the first NOTIFY with
    /// [`Endpoint::notify`]) or refuse it with
    /// [`Endpoint::reject_subscription`].
    IncomingSubscription {
        /// The subscription's handle.
        subscription: Handle,
        /// The SUBSCRIBE.
        request: Request,
    },
    /// Something happened to a subscription (ours or one we serve).
    Subscription {
        /// The subscription.
        subscription: Handle,
        /// What.
        event: SubscriptionEvent,
    },
}

/// A command that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No such call, request or registration (ended, or never existed).
    #[error("no such call or request")]
    Unknown,
    /// The call's state does not allow this (e.g. answering twice).
    #[error("not possible in this state: {0}")]
    State(&'static str),
    /// The router found no way to the target.
    #[error("no route to {0}")]
    NoRoute(String),
    /// A status code outside the range the command allows.
    #[error("status {0} not allowed here")]
    Status(u16),
}

/// Methods we accept (Allow, RFC 3261 §20.5).
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, NOTIFY, REFER, SUBSCRIBE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uac,
    Uas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAC: INVITE sent, no final response.
    Calling,
    /// UAS: INVITE received, waiting for the application.
    Incoming,
    /// Confirmed dialog (UAC: 2xx received; UAS: 2xx sent).
    Established,
    /// BYE sent.
    Ending,
}

#[derive(Debug)]
struct OkRetransmit<A> {
    bytes: Bytes,
    destination: A,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// A re-INVITE or UPDATE in progress in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OfferOut {
    None,
    /// Sent, waiting for the final response.
    Pending(TransactionId),
}

#[derive(Debug)]
struct Call<A> {
    role: Role,
    state: CallState,
    /// UAC: our INVITE (the latest, after auth retries); UAS: theirs.
    invite: Request,
    invite_tx: Option<TransactionId>,
    /// The confirmed dialog, or the early dialog of the latest provisional.
    dialog: Option<Dialog>,
    /// UAC: early dialogs by remote tag (§12.1.2; a forking proxy may give several).
    early: Vec<Dialog>,
    /// UAS: our To tag.
    local_tag: String,
    /// UAC: a provisional response arrived (CANCEL may be sent, §9.1).
    provisional: bool,
    /// UAC: hang up was asked before any provisional response.
    cancel_pending: bool,
    cancelled: bool,
    /// UAS: our 2xx, resent until the ACK (§13.3.1.4).
    ok: Option<OkRetransmit<A>>,
    /// UAC: the ACK sent for the 2xx, resent for each retransmitted 2xx.
    ack: Option<(Bytes, A, String)>,
    /// UAC: 2xx received for an INVITE without offer; the app owes the ACK.
    ack_owed: bool,
    /// Our re-INVITE or UPDATE.
    offer_out: OfferOut,
    /// UAS side of a re-INVITE or UPDATE waiting for the application.
    offer_in: Option<(TransactionId, Request)>,
    /// §14.1: after a 491, retry at this instant with this body.
    glare_retry: Option<(Instant, Option<Body>)>,
    /// The router's hop for requests in the dialog.
    hop: Option<Hop<A>>,
    auth_tries: u32,
    /// CSeq number of the re-INVITE we sent (its ACK carries it).
    reinvite_seq: Option<u32>,
    /// The body of our pending re-INVITE (resent after a 491).
    pending_body: Option<Body>,
    /// CSeq number of the INVITE our retransmitted 2xx answers.
    ok_seq: Option<u32>,
    /// 3xx redirections followed, and the targets tried (§8.1.3.4).
    redirects: u32,
    tried: Vec<Uri>,
    /// UAS: our reliable provisional responses (RFC 3262 §3).
    rel_out: prack::ReliableOut,
    /// UAC: the last in-order RSeq per early dialog (remote tag), RFC 3262 §4.
    rseq_in: Vec<(String, u32)>,
    /// UAC: a reliable 1xx carried an offer; the application owes the
    /// PRACK with the answer (RFC 3262 §5): (remote tag, RAck value).
    prack_owed: Option<(String, String)>,
    /// The initial offer/answer finished inside the early dialog (reliable
    /// 1xx and PRACK), so UPDATE may carry offers before the 2xx (RFC 3311 §5.1).
    early_answered: bool,
    /// UAS: `answer` was called while a reliable 1xx with a session
    /// description was unacknowledged; the 2xx waits for its PRACK (RFC 3262 §3).
    answer_pending: Option<Option<Body>>,
    /// Session timer (RFC 4028).
    session: session_timer::SessionState,
    /// The last session description of ours that took effect: resent
    /// unchanged in a refresh re-INVITE (RFC 4028 §7.4).
    local_sdp: Option<Body>,
    /// Transferee: the implicit subscription of a REFER (RFC 3515).
    refer_in: Option<refer::ReferIn>,
    /// Transfer target: the call this one replaces (RFC 3891).
    replaces: Option<Handle>,
}

#[derive(Debug)]
struct OutRequest {
    request: Request,
    auth_tries: u32,
    /// Some: sent in this call's dialog.
    call: Option<Handle>,
}

#[derive(Debug)]
struct Registration {
    registrar: Uri,
    call_id: String,
    from_tag: String,
    seq: u32,
    expires: u32,
    /// Contact URI we register, compared to the 200's bindings.
    contact: Option<SipUri>,
    tx: Option<TransactionId>,
    auth_tries: u32,
    failures: u32,
    /// RFC 5626 §4.5: flows in a row that registered but failed before any
    /// keep-alive response came back (not "successful" flows).
    flow_failures: u32,
    next_attempt: Option<Instant>,
    removing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Ok(Handle),
    Glare(Handle),
    Register(Handle),
    AckCache,
    /// Retransmission or give-up of a reliable 1xx (RFC 3262 §3).
    Reliable(Handle),
    /// Session refresh or expiry (RFC 4028 §10).
    Session(Handle),
    /// Timer N, refresh or expiry of a subscription (RFC 6665).
    Subscription(Handle, subscription::SubTimer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Invite(Handle),
    ReInvite(Handle),
    Update(Handle),
    Bye(Handle),
    /// A PRACK we sent (RFC 3262 §4).
    Prack(Handle),
    /// A SUBSCRIBE of ours (RFC 6665 §4.1.2).
    Subscribe(Handle),
    /// A NOTIFY of ours (RFC 6665 §4.2.2).
    Notify(Handle),
    /// A NOTIFY of the refer event in a call's dialog (RFC 3515 §2.4.4).
    ReferNotify(Handle),
    Cancel,
    InDialog(Handle, Handle),
    Request(Handle),
    Register(Handle),
    /// A server transaction for a request the application answers.
    Incoming(Handle),
}

/// The user-agent core. See the crate documentation.
pub struct Endpoint<A> {
    config: Config,
    router: Router<A>,
    tx: Transactions<A>,
    rng: StdRng,
    next_handle: u64,
    calls: HashMap<Handle, Call<A>>,
    /// (Call-ID, local tag) to the call owning the dialog(s).
    by_dialog: HashMap<(String, String), Handle>,
    owners: HashMap<TransactionId, Owner>,
    requests: HashMap<Handle, OutRequest>,
    registrations: HashMap<Handle, Registration>,
    incoming: HashMap<Handle, TransactionId>,
    auth: ClientAuthState,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// ACKs of ended calls, resent for 2xx retransmissions until Timer M
    /// would have ended the transaction (RFC 6026 §8.4): (Call-ID, to tag) →
    /// (ACK, destination, expiry).
    acks: HashMap<(String, String), (Bytes, A, Instant)>,
    /// Subscriptions, both sides (RFC 6665).
    subs: HashMap<Handle, subscription::Subscription>,
    /// (Call-ID, local tag) to the subscription owning the dialog.
    sub_dialogs: HashMap<(String, String), Handle>,
    out: VecDeque<Transmit<A>>,
    events: VecDeque<Event>,
}

impl<A: Clone + Debug + Eq + Hash> Endpoint<A> {
    /// An endpoint with this configuration and router.
    pub fn new(config: Config, router: Router<A>) -> Self {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::seed_from_u64(rand::random()),
        };
        Endpoint {
            tx: Transactions::new(config.timers),
            config,
            router,
            rng,
            next_handle: 1,
            calls: HashMap::default(),
            by_dialog: HashMap::default(),
            owners: HashMap::default(),
            requests: HashMap::default(),
            registrations: HashMap::default(),
            incoming: HashMap::default(),
            auth: ClientAuthState::new(),
            timers: BinaryHeap::new(),
            acks: HashMap::default(),
            subs: HashMap::default(),
            sub_dialogs: HashMap::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// True when nothing is in progress: no call, transaction, request,
    /// registration or pending timer state. A soak test checks this.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
            && self.tx.is_empty()
            && self.requests.is_empty()
            && self.registrations.is_empty()
            && self.incoming.is_empty()
            && self.owners.is_empty()
            && self.by_dialog.is_empty()
            && self.acks.is_empty()
            && self.subs.is_empty()
            && self.sub_dialogs.is_empty()
    }

    /// The dialog of a call (confirmed, or the latest early one).
    pub fn dialog(&self, call: Handle) -> Option<&Dialog> {
        self.calls.get(&call)?.dialog.as_ref()
    }

    /// The session timer of a call (RFC 4028): the session interval in
    /// seconds and whether we are the refresher; `None` without one.
    pub fn session_timer(&self, call: Handle) -> Option<(u32, bool)> {
        self.calls.get(&call)?.session.get()
    }

    /// The transaction table (for statistics).
    pub fn transactions(&self) -> &Transactions<A> {
        &self.tx
    }

    // ----- output -----

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.out.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mine = self.timers.peek().map(|Reverse((at, _))| *at);
        match (mine, self.tx.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- helpers -----

    fn handle(&mut self) -> Handle {
        let h = Handle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn token(&mut self, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", self.rng.random::<u8>()))
            .collect()
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(10))
    }

    fn schedule(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    fn emit_call(&mut self, call: Handle, event: CallEvent) {
        self.events.push_back(Event::Call { call, event });
    }

    fn route(&mut self, uri: &Uri) -> Option<Hop<A>> {
        (self.router)(uri)
    }

    fn via(&mut self, hop: &Hop<A>) -> String {
        let branch = self.branch();
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            hop.transport,
            sent_by(hop.local)
        )
    }

    fn contact(&self, hop: &Hop<A>) -> String {
        format!("<{}>", self.own_contact_uri(hop))
    }

    /// Our Contact in a dialog-forming request we send (INVITE, and
    /// SUBSCRIBE or REFER outside a dialog). With outbound on, the `ob` URI
    /// parameter: "the UAC adds an "ob" parameter to its Contact header
    /// field value" so that the dialog's later requests come back over
    /// the flow this one goes on (RFC 5626 §4.3; the edge proxy sees it
    /// and Record-Routes with a flow token, §5.3.2). Not in our 2xx to
    /// others' dialog-forming requests: §4.3 asks it of the UAC only, and
    /// a request that reached us over our registered flow came through a
    /// Path URI with `ob`, from which the edge proxy Record-Routes
    /// (§5.3.1).
    fn dialog_forming_contact(&self, hop: &Hop<A>) -> String {
        let mut uri = self.own_contact_uri(hop);
        if self.config.instance.is_some() {
            uri.set_param("ob", None);
        }
        format!("<{uri}>")
    }

    fn own_contact_uri(&self, hop: &Hop<A>) -> SipUri {
        let host = match hop.local.ip() {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        };
        let scheme = if hop.transport.is_secure() {
            Scheme::Sips
        } else {
            Scheme::Sip
        };
        let mut uri = SipUri::new(scheme, host)
            .with_user(&self.config.contact_user)
            .with_port(hop.local.port());
        // TLS: `sips:` alone (RFC 3261 §26.2.2); WSS: `sips:` with
        // `transport=ws` (RFC 7118 §5.2, §5.5).
        if !matches!(hop.transport, Transport::Udp | Transport::Tls) {
            uri.set_param("transport", Some(hop.transport.uri_param()));
        }
        uri
    }

    fn common_headers(&self, mut b: RequestBuilder) -> RequestBuilder {
        if let Some(ua) = &self.config.user_agent {
            b = b.header(StdHeader::UserAgent, ua.clone());
        }
        b
    }

    fn supported(&self) -> String {
        let mut s = self.config.supported.join(", ");
        if self.config.session_expires.is_some()
            && !self
                .config
                .supported
                .iter()
                .any(|t| t.eq_ignore_ascii_case(session_timer::TAG_TIMER))
        {
            // RFC 4028 §7.1: "timer" in Supported of every request.
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(session_timer::TAG_TIMER);
        }
        // RFC 5626 §4.3: "UAs that support this specification SHOULD
        // include the outbound option tag in a Supported header field in a
        // request that is not a REGISTER request".
        if self.config.instance.is_some()
            && !self
                .config
                .supported
                .iter()
                .any(|t| t.eq_ignore_ascii_case("outbound"))
        {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str("outbound");
        }
        s
    }

    /// Adds Via (top) to a request and starts a client transaction.
    fn start_client(
        &mut self,
        now: Instant,
        mut request: Request,
        hop: &Hop<A>,
        owner: Owner,
    ) -> Option<TransactionId> {
        let via = self.via(hop);
        request.headers.remove_all(StdHeader::Via);
        request.headers.push_front(StdHeader::Via, via);
        let reliable = hop.transport.is_reliable();
        match self.tx.send_request(
            now,
            Message::Request(request),
            hop.destination.clone(),
            reliable,
        ) {
            Ok(id) => {
                self.owners.insert(id, owner);
                Some(id)
            }
            Err(_) => None,
        }
    }

    fn send_out_of_transaction(&mut self, destination: A, message: Bytes) {
        self.out.push_back(Transmit {
            destination,
            message,
            transaction: None,
        });
    }

    /// Credentials for the realms we know, as header rows (§22.2, §22.3).
    fn authorize(&mut self, request: &mut Request) {
        let Some(creds) = self.config.credentials.clone() else {
            return;
        };
        request.headers.remove_all(StdHeader::Authorization);
        request.headers.remove_all(StdHeader::ProxyAuthorization);
        let realms: Vec<String> = self.auth.realms().map(|(r, _)| r.to_string()).collect();
        let uri = request.uri.to_string();
        for realm in realms {
            let d = DigestRequest::new(&request.method, &uri, Some(&request.body));
            if let Ok((h, c)) = self
                .auth
                .authorize(&realm, &d, &creds.username, &creds.secret)
            {
                request.headers.push(h, c.to_string());
            }
        }
    }

    /// Learns the challenges of a 401/407; true if a retry is worth it.
    fn learn_challenge(&mut self, response: &Response, tries: u32) -> bool {
        if self.config.credentials.is_none() || tries >= 3 {
            return false;
        }
        let is_proxy = response.status.as_u16() == 407;
        let name = if is_proxy {
            StdHeader::ProxyAuthenticate
        } else {
            StdHeader::WwwAuthenticate
        };
        let challenges: Vec<Challenge> = response
            .headers
            .get_all(name)
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        let updates = self.auth.on_challenges(&challenges, is_proxy);
        // A challenge right after our credentials, not stale: they were refused.
        !updates.is_empty() && (tries == 0 || updates.iter().any(|u| u.retry))
    }

    fn respond_tx(&mut self, now: Instant, id: TransactionId, response: Response) {
        let _ = self.tx.respond(now, id, Message::Response(response));
    }

    fn simple_response(&mut self, now: Instant, id: TransactionId, request: &Request, status: u16) {
        let tag = self.token(6);
        let mut r = response_to(
            request,
            StatusCode::new(status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR),
            Some(&tag),
        );
        if status == 405 || (200..300).contains(&status) && request.method == Method::Options {
            r.headers.push(StdHeader::Allow, ALLOW);
        }
        if (200..300).contains(&status) && request.method == Method::Options {
            // RFC 3261 §11.2: what we accept and support, as for an INVITE.
            r.headers.push(
                StdHeader::Accept,
                "application/sdp, application/pidf+xml, message/sipfrag, text/plain",
            );
            r.headers.push(StdHeader::Supported, self.supported());
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        self.respond_tx(now, id, r);
    }

    /// 500 with a Retry-After of 0-10 s (RFC 3261 §14.2, RFC 3311 §5.2).
    fn retry_later(&mut self, now: Instant, tx: TransactionId, req: &Request) {
        let mut r = response_to(req, StatusCode::SERVER_INTERNAL_ERROR, None);
        let secs = self.rng.random_range(0..=10u32);
        r.headers.push(StdHeader::RetryAfter, secs.to_string());
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        self.respond_tx(now, tx, r);
    }

    /// 200 to an UPDATE without an offer (RFC 3311 §5.2): a target refresh
    /// and, with session timers, a session refresh (RFC 4028 §9).
    fn respond_update_without_offer(
        &mut self,
        now: Instant,
        call: Handle,
        tx: TransactionId,
        req: &Request,
    ) {
        let mut r = response_to(req, StatusCode::OK, None);
        let reqm = Message::Request(req.clone());
        if let Some(hop) = self.uas_hop(&reqm) {
            r.headers.push(StdHeader::Contact, self.contact(&hop));
        }
        r.headers.push(StdHeader::Supported, self.supported());
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        // RFC 4028 §9: an UPDATE without an offer is the usual refresh.
        for (n, v) in self.session_response_headers(now, call, req) {
            r.headers.push(n, v);
        }
        self.respond_tx(now, tx, r);
    }

    // ----- input -----

    /// A message from the network, from `source` (where responses to a
    /// request go), over a reliable transport or not. The caller parsed it
    /// and checked it (e.g. `Message::validate`).
    pub fn handle_message(&mut self, now: Instant, message: Message, source: A, reliable: bool) {
        match message {
            Message::Request(_) => {
                let received = self.tx.handle_request(now, message, source, reliable);
                self.on_received(now, received);
            }
            Message::Response(_) => {
                if let ResponseMatch::Stray(m) = self.tx.handle_response(now, message) {
                    self.on_stray_response(m);
                }
            }
        }
        self.pump(now);
    }

    /// The transport could not send a message of `transaction`.
    pub fn handle_transport_error(&mut self, now: Instant, transaction: TransactionId) {
        self.tx.handle_transport_error(now, transaction);
        self.pump(now);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        while let Some(&Reverse((at, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.on_timer(now, at, timer);
        }
        self.pump(now);
    }

    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.tx.poll_transmit() {
                self.out.push_back(Transmit {
                    destination: t.destination,
                    message: t.message,
                    transaction: Some(t.transaction),
                });
            }
            let Some(ev) = self.tx.poll_event() else {
                break;
            };
            self.on_tx_event(now, ev);
        }
    }

    fn on_timer(&mut self, now: Instant, at: Instant, timer: Timer) {
        match timer {
            Timer::Ok(call) => self.on_ok_timer(now, at, call),
            Timer::Glare(call) => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if let Some((when, body)) = c.glare_retry.take() {
                    if when == at {
                        let _ = self.reinvite(now, call, body);
                    } else {
                        c.glare_retry = Some((when, body));
                    }
                }
            }
            Timer::Register(reg) => {
                let due = self
                    .registrations
                    .get(&reg)
                    .is_some_and(|r| r.next_attempt == Some(at) && r.tx.is_none());
                if due {
                    self.send_register(now, reg);
                }
            }
            Timer::AckCache => self.acks.retain(|_, (_, _, until)| *until > now),
            Timer::Reliable(call) => self.on_reliable_timer(now, at, call),
            Timer::Session(call) => self.on_session_timer(now, at, call),
            Timer::Subscription(h, which) => self.on_sub_timer(now, at, h, which),
        }
    }

    fn on_received(&mut self, now: Instant, received: Received) {
        match received {
            Received::New {
                transaction,
                request,
                merged,
            } => {
                let Message::Request(req) = request else {
                    return;
                };
                if merged.is_some() && to_tag_of(&req).is_none() {
                    // §8.2.2.2: a merged request.
                    self.simple_response(now, transaction, &req, 482);
                    return;
                }
                self.on_request(now, transaction, req);
            }
            Received::Cancel {
                transaction,
                request,
                invite,
            } => {
                let Message::Request(req) = request else {
                    return;
                };
                self.on_cancel(now, transaction, &req, invite);
            }
            Received::Ack { ack, .. } | Received::StrayAck(ack) => self.on_ack(now, ack),
            Received::Retransmission { .. } | Received::AckAbsorbed { .. } => {}
            Received::Invalid(_) => {}
        }
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Response {
                transaction,
                response,
            } => {
                let Message::Response(r) = response else {
                    return;
                };
                let owner = self.owners.get(&transaction).copied();
                if matches!(r.status.as_u16(), 401 | 407)
                    && owner.is_some_and(|o| self.retry_in_dialog(now, transaction, &r, o))
                {
                    return;
                }
                match owner {
                    Some(Owner::Invite(call)) => self.on_invite_response(now, call, transaction, r),
                    Some(Owner::ReInvite(call)) => {
                        self.on_reinvite_response(now, call, transaction, r)
                    }
                    Some(Owner::Update(call)) => self.on_update_response(now, call, transaction, r),
                    Some(Owner::Bye(call)) => {
                        if r.status.is_final() {
                            self.end_call(call, EndReason::LocalBye);
                        }
                    }
                    Some(Owner::InDialog(call, req)) => {
                        self.on_in_dialog_response(now, call, req, r)
                    }
                    Some(Owner::Request(h)) => self.on_request_response(now, h, r),
                    Some(Owner::Register(h)) => self.on_register_response(now, h, r),
                    Some(Owner::Subscribe(h)) => self.on_subscribe_response(now, h, r),
                    Some(Owner::Notify(h)) => {
                        self.on_notify_result(transaction, h, r.status.as_u16())
                    }
                    // RFC 3262 §4: the PRACK transaction just ends; even a
                    // 481 changes nothing for the call.
                    Some(Owner::Prack(_))
                    | Some(Owner::ReferNotify(_))
                    | Some(Owner::Cancel)
                    | Some(Owner::Incoming(_))
                    | None => {}
                }
            }
            TxEvent::Timeout { transaction } | TxEvent::TransportError { transaction } => {
                let failure = if matches!(ev, TxEvent::Timeout { .. }) {
                    Failure::Timeout
                } else {
                    Failure::Transport
                };
                self.on_tx_failure(now, transaction, failure);
            }
            TxEvent::TimerC { transaction } => {
                // §16.8 / §9.1: give up on the INVITE, as if the user hung up.
                if let Some(Owner::Invite(call)) = self.owners.get(&transaction).copied() {
                    let _ = self.hangup(now, call);
                }
            }
            TxEvent::Terminated { transaction, kind } => {
                let owner = self.owners.remove(&transaction);
                if let Some(Owner::Incoming(h)) = owner {
                    self.incoming.remove(&h);
                }
                if kind == Kind::ServerInvite {
                    if let Some(Owner::Invite(call)) = owner {
                        if let Some(c) = self.calls.get_mut(&call) {
                            if c.invite_tx == Some(transaction) {
                                c.invite_tx = None;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Answers a 401/407 to a request in a call's dialog (BYE, re-INVITE,
    /// UPDATE, INFO ...): the same request again with credentials and the
    /// next CSeq (RFC 3261 §22.2, §22.3, §12.2.1.1). False if it cannot
    /// (no credentials, refused ones, not an in-dialog request).
    fn retry_in_dialog(
        &mut self,
        now: Instant,
        tx: TransactionId,
        r: &Response,
        owner: Owner,
    ) -> bool {
        let (Owner::ReInvite(call)
        | Owner::Update(call)
        | Owner::Bye(call)
        | Owner::InDialog(call, _)) = owner
        else {
            return false;
        };
        let Some(mut req) = self.tx.request(tx).and_then(|m| m.as_request()).cloned() else {
            return false;
        };
        // Credentials already sent with this request and challenged again
        // (not stale): they were refused.
        let had_credentials = req.headers.contains(StdHeader::Authorization)
            || req.headers.contains(StdHeader::ProxyAuthorization);
        if !self.learn_challenge(r, u32::from(had_credentials)) {
            return false;
        }
        let Some(d) = self.calls.get_mut(&call).and_then(|c| c.dialog.as_mut()) else {
            return false;
        };
        let seq = d.next_seq();
        let next = d.next_hop();
        req.headers.set(
            StdHeader::CSeq,
            sipline_message::header::CSeq::new(seq, req.method.clone()).to_string(),
        );
        self.authorize(&mut req);
        let Some(hop) = self.route(&next) else {
            return false;
        };
        let method = req.method.clone();
        let Some(id) = self.start_client(now, req.clone(), &hop, owner) else {
            return false;
        };
        if let Some(c) = self.calls.get_mut(&call) {
            if c.offer_out == OfferOut::Pending(tx) {
                c.offer_out = OfferOut::Pending(id);
            }
            if method == Method::Invite {
                // The ACK of the 2xx carries the new CSeq number.
                c.reinvite_seq = Some(seq);
            }
        }
        if let Owner::InDialog(_, h) = owner {
            if let Some(out) = self.requests.get_mut(&h) {
                out.request = req;
            }
        }
        true
    }

    fn on_tx_failure(&mut self, now: Instant, transaction: TransactionId, failure: Failure) {
        let reason = match failure {
            Failure::Timeout => EndReason::Timeout,
            _ => EndReason::TransportError,
        };
        match self.owners.get(&transaction).copied() {
            Some(Owner::Invite(call)) => {
                let role = self.calls.get(&call).map(|c| c.role);
                if role == Some(Role::Uac) {
                    let established = self
                        .calls
                        .get(&call)
                        .is_some_and(|c| c.state == CallState::Established);
                    if !established {
                        self.end_call(call, reason);
                    }
                }
            }
            Some(Owner::ReInvite(call)) | Some(Owner::Update(call)) => {
                // §12.2.1.2: a 408 (or no response) ends the dialog.
                self.bye_and_end(now, call, reason);
            }
            Some(Owner::Bye(call)) => self.end_call(call, EndReason::LocalBye),
            Some(Owner::InDialog(call, req)) => {
                let status = if failure == Failure::Timeout {
                    408
                } else {
                    503
                };
                self.emit_in_dialog_failure(call, req, status);
                if failure == Failure::Timeout {
                    self.bye_and_end(now, call, EndReason::DialogGone(408));
                }
            }
            Some(Owner::Request(h)) => {
                self.requests.remove(&h);
                self.events.push_back(Event::RequestFailed {
                    request: h,
                    failure,
                });
            }
            Some(Owner::Register(h)) => {
                let status = if failure == Failure::Timeout {
                    408
                } else {
                    503
                };
                self.register_failed(now, h, status, failure_reason(status).into(), true);
            }
            Some(Owner::Subscribe(h)) => {
                let status = if failure == Failure::Timeout {
                    408
                } else {
                    503
                };
                self.on_subscribe_failure(now, h, status);
            }
            Some(Owner::Notify(h)) => self.on_notify_result(transaction, h, 408),
            // RFC 3515: a NOTIFY of the refer subscription that fails
            // changes nothing for the call.
            Some(Owner::Prack(_))
            | Some(Owner::ReferNotify(_))
            | Some(Owner::Cancel)
            | Some(Owner::Incoming(_))
            | None => {}
        }
    }

    fn emit_in_dialog_failure(&mut self, call: Handle, req: Handle, status: u16) {
        let Some(out) = self.requests.remove(&req) else {
            return;
        };
        let resp = response_to(
            &out.request,
            StatusCode::new(status).unwrap_or(StatusCode::REQUEST_TIMEOUT),
            None,
        );
        self.emit_call(
            call,
            CallEvent::Response {
                request: req,
                status,
                response: resp,
            },
        );
    }

    // ----- calls: UAC -----

    /// The start of a request that begins outside any dialog (RFC 3261
    /// §8.1.1): first hop (the outbound proxy, as a preloaded loose Route,
    /// §8.1.2, else the target), a new Call-ID and From tag, To without a
    /// tag, CSeq 1.
    pub(crate) fn initial_request(
        &mut self,
        method: Method,
        target: Uri,
    ) -> Result<Initial<A>, Error> {
        let next = self
            .config
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| target.clone());
        let hop = self
            .route(&next)
            .ok_or_else(|| Error::NoRoute(next.to_string()))?;
        let call_id = format!("{}@{}", self.token(12), sent_host(hop.local));
        let from_tag = self.token(6);
        let mut from = self.config.identity.clone();
        from.set_tag(&from_tag);
        let mut b = RequestBuilder::new(method, target.clone());
        if let Some(p) = &self.config.outbound_proxy {
            b = b.header(StdHeader::Route, format!("<{}>", loose(p)));
        }
        let builder = b
            .to(&NameAddr::new(target))
            .from(&from)
            .call_id(&call_id)
            .cseq(1);
        Ok(Initial {
            builder,
            hop,
            call_id,
            from_tag,
        })
    }

    /// Calls `target` with an optional offer (RFC 3261 §13.2.1), extra
    /// header rows, and returns the call's handle. Events follow:
    /// `Progress`, then `Answered` or `Ended`.
    pub fn call(
        &mut self,
        now: Instant,
        target: Uri,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<Handle, Error> {
        let Initial {
            builder: mut b,
            hop,
            call_id,
            from_tag,
        } = self.initial_request(Method::Invite, target)?;
        b = b
            .header(StdHeader::Contact, self.dialog_forming_contact(&hop))
            .header(StdHeader::Allow, ALLOW)
            .header(StdHeader::Supported, self.supported());
        for (n, v) in self.session_request_headers(None, 0) {
            b = b.header(n, v);
        }
        for (n, v) in headers {
            b = b.header(n.as_str(), v);
        }
        b = self.common_headers(b);
        if let Some(body) = body.clone() {
            b = b.body(&body.content_type, body.data);
        }
        let mut invite = b.build();
        self.authorize(&mut invite);
        let h = self.handle();
        let tx = self.start_client(now, invite.clone(), &hop, Owner::Invite(h));
        let mut call = Call::new(Role::Uac, CallState::Calling, invite, from_tag.clone());
        call.invite_tx = tx;
        call.hop = Some(hop);
        call.local_sdp = body;
        self.calls.insert(h, call);
        self.by_dialog.insert((call_id, from_tag), h);
        self.pump(now);
        Ok(h)
    }

    fn on_invite_response(&mut self, now: Instant, h: Handle, tx: TransactionId, r: Response) {
        let status = r.status.as_u16();
        let msg = Message::Response(r.clone());
        let Some(call) = self.calls.get_mut(&h) else {
            // The call ended (e.g. cancelled) but a 2xx came: ACK and BYE it.
            if r.status.is_success() {
                self.ack_and_bye_stray(now, h, tx, &r);
            }
            return;
        };
        if call.role != Role::Uac {
            return;
        }
        if r.status.is_provisional() {
            if status == 100 {
                if !call.provisional {
                    call.provisional = true;
                    if call.cancel_pending {
                        self.send_cancel(now, h);
                    }
                }
                return;
            }
            call.provisional = true;
            if msg.to_tag().is_some() {
                let tag = msg.to_tag().unwrap_or_default().to_string();
                if let Some(d) = call.early.iter_mut().find(|d| d.id.remote_tag == tag) {
                    d.refresh_target(&msg);
                    call.dialog = Some(d.clone());
                } else if let Some(d) = Dialog::uac(&call.invite, &msg) {
                    call.dialog = Some(d.clone());
                    call.early.push(d);
                }
            }
            let pending = call.cancel_pending;
            let mut owed = false;
            if prack::has_tag(&msg, StdHeader::Require, prack::TAG_100REL) {
                // RFC 3262 §4: PRACK it, once, in order.
                match self.on_reliable_provisional(now, h, &msg) {
                    None => return,
                    Some(o) => owed = o,
                }
            }
            self.emit_call(
                h,
                CallEvent::Progress {
                    status,
                    reason: r.reason.to_string(),
                    body: Body::of(&msg),
                },
            );
            if owed {
                self.emit_call(h, CallEvent::PrackNeeded);
            }
            if pending {
                self.send_cancel(now, h);
            }
            return;
        }
        if r.status.is_success() {
            let tag = msg.to_tag().unwrap_or_default().to_string();
            // A retransmission of a 2xx we ACKed: ACK again (§13.2.2.4).
            if let Some((bytes, dest, acked_tag)) = &call.ack {
                if *acked_tag == tag {
                    let (bytes, dest) = (bytes.clone(), dest.clone());
                    self.send_out_of_transaction(dest, bytes);
                    return;
                }
            }
            if call.state == CallState::Established
                || call.state == CallState::Ending
                || call.ack_owed
            {
                if call.dialog.as_ref().is_some_and(|d| d.id.remote_tag == tag) {
                    return; // the app still owes the ACK
                }
                // §13.2.2.4: a 2xx from another fork: ACK it and BYE it.
                self.ack_and_bye_stray(now, h, tx, &r);
                return;
            }
            let Some(mut dialog) = Dialog::uac(&call.invite, &msg) else {
                // No To tag or Contact: cannot ACK in a dialog; give up.
                self.end_call(
                    h,
                    EndReason::Rejected {
                        status: 502,
                        reason: "2xx without tag or Contact".into(),
                    },
                );
                return;
            };
            dialog.state = DialogState::Confirmed;
            if let Some(e) = call
                .early
                .iter()
                .find(|e| e.id.remote_tag == dialog.id.remote_tag)
            {
                // §12.1.2: the early dialog becomes the confirmed one; its
                // CSeq numbers (PRACK, UPDATE ...) go on.
                dialog.local_seq = dialog.local_seq.max(e.local_seq);
                dialog.remote_seq = e.remote_seq;
            }
            call.dialog = Some(dialog);
            call.early.clear();
            call.rseq_in.clear();
            call.prack_owed = None;
            call.state = CallState::Established;
            let offered = !call.invite.body.is_empty();
            let body = Body::of(&msg);
            let invite = call.invite.clone();
            // RFC 4028 §7.2: the session timer the 2xx sets.
            self.session_on_2xx(now, h, &msg, &invite);
            if offered || body.is_none() {
                self.send_ack(now, h, None);
            } else if let Some(c) = self.calls.get_mut(&h) {
                c.ack_owed = true;
            }
            let cancelled = self.calls.get(&h).is_some_and(|c| c.cancelled);
            self.emit_call(
                h,
                CallEvent::Answered {
                    status,
                    body,
                    needs_ack: !offered && !msg.body().is_empty(),
                },
            );
            if cancelled {
                // CANCEL crossed the 2xx (§9.1): the call is up; end it.
                let _ = self.hangup(now, h);
            }
            return;
        }
        // 300-699
        let tries = call.auth_tries;
        let cancelled = call.cancelled;
        let sent = call.invite.clone();
        // RFC 4028 §7.3: 422: again with the larger Min-SE (and a
        // Session-Expires at least as large).
        let min_se = if status == 422 && !cancelled && tries < 3 {
            self.session_on_422(h, &r, &sent)
        } else {
            None
        };
        if min_se.is_some()
            || matches!(status, 401 | 407) && !cancelled && self.learn_challenge(&r, tries)
        {
            let call = self.calls.get_mut(&h).expect("checked");
            call.auth_tries += 1;
            let mut invite = call.invite.clone();
            if let Some(min) = min_se {
                let se = Message::Request(invite.clone())
                    .headers()
                    .get(StdHeader::SessionExpires)
                    .and_then(|v| sipline_message::header::ParamValue::parse_delta(v).ok())
                    .and_then(|p| p.as_u32())
                    .unwrap_or(0);
                invite
                    .headers
                    .set(StdHeader::SessionExpires, se.max(min).to_string());
                invite.headers.set(StdHeader::MinSe, min.to_string());
            }
            bump_cseq(&mut invite);
            self.authorize(&mut invite);
            let hop = self.calls.get(&h).and_then(|c| c.hop.clone());
            if let Some(hop) = hop {
                if let Some(id) = self.start_client(now, invite.clone(), &hop, Owner::Invite(h)) {
                    let c = self.calls.get_mut(&h).expect("checked");
                    c.invite = invite;
                    c.invite_tx = Some(id);
                    c.provisional = false;
                    return;
                }
            }
        }
        if (300..400).contains(&status) && !cancelled && self.follow_redirect(now, h, &r) {
            return;
        }
        let reason = if status == 487 && cancelled {
            EndReason::Cancelled
        } else {
            EndReason::Rejected {
                status,
                reason: r.reason.to_string(),
            }
        };
        self.end_call(h, reason);
    }

    /// RFC 3261 §8.1.3.4 (and RFC 5359 §2.6-2.8, call forwarding by a 3xx):
    /// the INVITE again to the best Contact of the 3xx not tried yet, with
    /// the same Call-ID, From and To, CSeq + 1 and a new branch. False when
    /// there is none (or the limit is reached): the call fails with the 3xx.
    fn follow_redirect(&mut self, now: Instant, h: Handle, r: &Response) -> bool {
        let max = self.config.max_redirects;
        let Some(c) = self.calls.get(&h) else {
            return false;
        };
        if c.redirects >= max {
            return false;
        }
        let mut contacts: Vec<NameAddr> = Message::Response(r.clone())
            .contacts()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.address().cloned())
            .filter(|a| matches!(a.uri, Uri::Sip(_)))
            .filter(|a| !a.uri.equivalent(&c.invite.uri))
            .filter(|a| !c.tried.iter().any(|t| t.equivalent(&a.uri)))
            .collect();
        // Highest q first (§16.6 / RFC 3841 order; no q means 1.0).
        contacts.sort_by(|a, b| {
            b.q()
                .unwrap_or(1.0)
                .partial_cmp(&a.q().unwrap_or(1.0))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let Some(target) = contacts.into_iter().next().map(|a| a.uri) else {
            return false;
        };
        let mut invite = c.invite.clone();
        invite.uri = target.clone();
        bump_cseq(&mut invite);
        let next = match &self.config.outbound_proxy {
            Some(p) => p.clone(),
            None => target.clone(),
        };
        let Some(hop) = self.route(&next) else {
            return false;
        };
        let Some(id) = self.start_client(now, invite.clone(), &hop, Owner::Invite(h)) else {
            return false;
        };
        let c = self.calls.get_mut(&h).expect("checked");
        let previous = std::mem::replace(&mut c.invite, invite).uri;
        c.tried.push(previous);
        c.invite_tx = Some(id);
        c.provisional = false;
        c.redirects += 1;
        c.hop = Some(hop);
        self.emit_call(
            h,
            CallEvent::Redirected {
                status: r.status.as_u16(),
                target,
            },
        );
        true
    }

    /// ACK (and BYE) a 2xx for a call that does not want it (§13.2.2.4).
    fn ack_and_bye_stray(&mut self, now: Instant, _h: Handle, tx: TransactionId, r: &Response) {
        let Some(invite) = self.tx.request(tx).and_then(|m| m.as_request()).cloned() else {
            return;
        };
        let msg = Message::Response(r.clone());
        let Some(mut d) = Dialog::uac(&invite, &msg) else {
            return;
        };
        let key = (d.id.call_id.clone(), d.id.remote_tag.clone());
        if let Some((bytes, dest, _)) = self.acks.get(&key) {
            let (bytes, dest) = (bytes.clone(), dest.clone());
            self.send_out_of_transaction(dest, bytes);
            return;
        }
        let Some(hop) = self.route(&d.next_hop()) else {
            return;
        };
        let seq = d.local_seq.unwrap_or(1);
        let mut ack = d.request(Method::Ack, seq).build();
        let via = self.via(&hop);
        ack.headers.push_front(StdHeader::Via, via);
        copy_auth(&invite, &mut ack);
        let bytes = Message::Request(ack).to_bytes();
        self.send_out_of_transaction(hop.destination.clone(), bytes.clone());
        let until = now + self.config.timers.t1x64();
        self.acks
            .insert(key, (bytes, hop.destination.clone(), until));
        self.schedule(until, Timer::AckCache);
        let seq = d.next_seq();
        let bye = self.common_headers(d.request(Method::Bye, seq)).build();
        self.start_client(now, bye, &hop, Owner::Cancel);
    }

    fn send_ack(&mut self, now: Instant, h: Handle, body: Option<Body>) {
        let Some(call) = self.calls.get(&h) else {
            return;
        };
        let Some(d) = call.dialog.clone() else {
            return;
        };
        let seq = call
            .reinvite_seq
            .unwrap_or_else(|| call.invite.headers.cseq().map_or(1, |c| c.seq));
        let invite = call.invite.clone();
        let Some(hop) = self.route(&d.next_hop()) else {
            return;
        };
        let mut b = d.request(Method::Ack, seq);
        if let Some(body) = body {
            b = b.body(&body.content_type, body.data);
        }
        let mut ack = b.build();
        let via = self.via(&hop);
        ack.headers.push_front(StdHeader::Via, via);
        copy_auth(&invite, &mut ack);
        let bytes = Message::Request(ack).to_bytes();
        self.send_out_of_transaction(hop.destination.clone(), bytes.clone());
        let tag = d.id.remote_tag.clone();
        let until = now + self.config.timers.t1x64();
        self.acks.insert(
            (d.id.call_id.clone(), tag.clone()),
            (bytes.clone(), hop.destination.clone(), until),
        );
        self.schedule(until, Timer::AckCache);
        if let Some(c) = self.calls.get_mut(&h) {
            c.ack = Some((bytes, hop.destination.clone(), tag));
            c.hop = Some(hop);
        }
    }

    /// Sends the ACK for a 2xx that carried the offer (the INVITE had
    /// none), with our answer (RFC 3261 §13.2.1).
    pub fn ack(&mut self, now: Instant, call: Handle, body: Option<Body>) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        if !c.ack_owed {
            return Err(Error::State("no ACK owed"));
        }
        c.ack_owed = false;
        if body.is_some() {
            c.local_sdp = body.clone();
        }
        self.send_ack(now, call, body);
        self.pump(now);
        Ok(())
    }

    fn send_cancel(&mut self, now: Instant, h: Handle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        call.cancel_pending = false;
        call.cancelled = true;
        let cancel = sipline_transaction::cancel_for(&call.invite_with_via(&self.tx));
        let Some(hop) = call.hop.clone() else {
            return;
        };
        // The CANCEL keeps the INVITE's branch: send it without a new Via.
        let reliable = hop.transport.is_reliable();
        if let Ok(id) = self.tx.send_request(
            now,
            Message::Request(cancel),
            hop.destination.clone(),
            reliable,
        ) {
            self.owners.insert(id, Owner::Cancel);
        }
    }

    // ----- calls: UAS -----

    fn on_incoming_invite(&mut self, now: Instant, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        if let Some(bad) = unsupported_requirements(&m, &self.config.supported) {
            // RFC 3261 §8.2.2.3: 420 with Unsupported.
            let mut r = response_to(&req, StatusCode::new(420).expect("valid"), Some("u"));
            r.headers.push(StdHeader::Unsupported, bad);
            self.respond_tx(now, tx, r);
            return;
        }
        if !self.session_check_request(now, tx, &req) {
            return; // RFC 4028 §9: 422
        }
        if m.contacts().map_or(true, |c| c.is_empty()) {
            // §8.1.1.8: an INVITE must carry a Contact.
            let r = response_to(&req, StatusCode::BAD_REQUEST, Some("x"));
            let mut r = r;
            r.reason = "Missing Contact".into();
            self.respond_tx(now, tx, r);
            return;
        }
        let replaces = match self.match_replaces(&m) {
            Ok(r) => r,
            Err(status) => {
                // RFC 3891 §3.
                self.simple_response(now, tx, &req, status);
                return;
            }
        };
        let h = self.handle();
        let local_tag = self.token(6);
        let mut call = Call::new(
            Role::Uas,
            CallState::Incoming,
            req.clone(),
            local_tag.clone(),
        );
        call.invite_tx = Some(tx);
        call.replaces = replaces;
        self.owners.insert(tx, Owner::Invite(h));
        self.by_dialog
            .insert((m.call_id().unwrap_or_default().to_string(), local_tag), h);
        self.calls.insert(h, call);
        self.events.push_back(Event::IncomingCall {
            call: h,
            request: req,
        });
    }

    fn uas_response(&mut self, h: Handle, status: u16, body: Option<Body>) -> Option<Response> {
        let call = self.calls.get(&h)?;
        let code = StatusCode::new(status)?;
        let mut r = response_to(&call.invite, code, Some(&call.local_tag));
        if (101..300).contains(&status) {
            // §12.1.1: Record-Route copied, Contact ours.
            for rr in call.invite.headers.rows(StdHeader::RecordRoute) {
                r.headers
                    .push_row(Header::new(rr.name.clone(), rr.value.clone()));
            }
            let src = Message::Request(call.invite.clone());
            let hop = self.uas_hop(&src);
            if let Some(hop) = hop {
                r.headers.push(StdHeader::Contact, self.contact(&hop));
            }
            r.headers.push(StdHeader::Allow, ALLOW);
            r.headers.push(StdHeader::Supported, self.supported());
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        set_response_body(&mut r, body);
        Some(r)
    }

    /// Our hop towards the previous hop of a request, for our Contact: the
    /// address and transport the request came over (its top Via), so our
    /// Contact names a transport we were reached on (RFC 3261 §8.1.1.8),
    /// not whatever the peer's own Contact uses.
    fn uas_hop(&mut self, m: &Message) -> Option<Hop<A>> {
        let via = m.top_via().ok();
        let by_via = via.and_then(|v| {
            let host = match &v.host {
                Host::Ipv6(a) => format!("[{a}]"),
                h => h.to_string(),
            };
            let port = v.port.map(|p| format!(":{p}")).unwrap_or_default();
            // Written as a URI would name that transport: TLS as `sips:`,
            // WSS as `sips:` with `transport=ws` (RFC 7118 §5.2, §5.5).
            let (scheme, param) = match Transport::parse(&v.transport) {
                Some(Transport::Udp) => ("sip", String::new()),
                Some(Transport::Tls) => ("sips", String::new()),
                Some(t) if t.is_secure() => ("sips", format!(";transport={}", t.uri_param())),
                Some(t) => ("sip", format!(";transport={}", t.uri_param())),
                None => (
                    "sip",
                    format!(";transport={}", v.transport.to_ascii_lowercase()),
                ),
            };
            Uri::parse(&format!("{scheme}:{host}{port}{param}")).ok()
        });
        if let Some(hop) = by_via.and_then(|u| self.route(&u)) {
            return Some(hop);
        }
        let uri = contact_uri(m)?;
        self.route(&uri)
    }

    /// Sends a provisional response (101-199) to an incoming call, e.g. 180
    /// Ringing, or 183 with early-media SDP. Creates the early dialog. If
    /// the INVITE had `Require: 100rel`, it is sent reliably as by
    /// [`ring_reliably`](Self::ring_reliably) (RFC 3262 §3: "MUST").
    pub fn ring(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), Error> {
        if !(101..200).contains(&status) {
            return Err(Error::Status(status));
        }
        let c = self.calls.get(&call).ok_or(Error::Unknown)?;
        if c.role != Role::Uas || c.state != CallState::Incoming {
            return Err(Error::State("not an unanswered incoming call"));
        }
        if prack::has_tag(
            &Message::Request(c.invite.clone()),
            StdHeader::Require,
            prack::TAG_100REL,
        ) {
            return self.ring_reliably(now, call, status, body);
        }
        if c.answer_pending.is_some() {
            return Err(Error::State("the call is being answered"));
        }
        let tx = c
            .invite_tx
            .ok_or(Error::State("INVITE transaction ended"))?;
        let r = self
            .uas_response(call, status, body)
            .ok_or(Error::Unknown)?;
        let c = self.calls.get_mut(&call).expect("checked");
        if c.dialog.is_none() {
            c.dialog = Dialog::uas(&c.invite, &c.local_tag, DialogState::Early);
        }
        self.respond_tx(now, tx, r);
        self.pump(now);
        Ok(())
    }

    /// Answers an incoming call with 2xx and an optional body (the answer,
    /// or the offer if the INVITE had none). The 2xx is resent until the
    /// ACK arrives (§13.3.1.4).
    ///
    /// While a reliable provisional response with a session description is
    /// unacknowledged, the 2xx waits for its PRACK (RFC 3262 §3, §5).
    pub fn answer(&mut self, now: Instant, call: Handle, body: Option<Body>) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        if c.role != Role::Uas || c.state != CallState::Incoming {
            return Err(Error::State("not an unanswered incoming call"));
        }
        if c.answer_pending.is_some() {
            return Err(Error::State("the call is being answered"));
        }
        if c.rel_out.delays_2xx() {
            c.answer_pending = Some(body);
            return Ok(());
        }
        self.answer_now(now, call, body)
    }

    fn answer_now(&mut self, now: Instant, call: Handle, body: Option<Body>) -> Result<(), Error> {
        let tx = self
            .calls
            .get(&call)
            .ok_or(Error::Unknown)?
            .invite_tx
            .ok_or(Error::State("INVITE transaction ended"))?;
        if self.tx_destination(tx).is_none() {
            return Err(Error::State("INVITE transaction ended"));
        }
        let c = self.calls.get_mut(&call).expect("checked");
        c.rel_out.finish();
        let invite = c.invite.clone();
        if body.is_some() {
            c.local_sdp = body.clone();
        }
        let mut r = self.uas_response(call, 200, body).ok_or(Error::Unknown)?;
        // RFC 4028 §9: Session-Expires with the refresher in the 2xx.
        for (n, v) in self.session_response_headers(now, call, &invite) {
            r.headers.push(n, v);
        }
        let bytes = Message::Response(r.clone()).to_bytes();
        let c = self.calls.get_mut(&call).expect("checked");
        let mut d = c
            .dialog
            .take()
            .or_else(|| Dialog::uas(&c.invite, &c.local_tag, DialogState::Confirmed))
            .ok_or(Error::State("INVITE without dialog fields"))?;
        d.state = DialogState::Confirmed;
        c.dialog = Some(d);
        c.state = CallState::Established;
        let Some(destination) = self.tx_destination(tx) else {
            return Err(Error::State("INVITE transaction ended"));
        };
        self.respond_tx(now, tx, r);
        let t1 = self.config.timers.t1;
        let c = self.calls.get_mut(&call).expect("checked");
        c.ok = Some(OkRetransmit {
            bytes,
            destination,
            interval: t1,
            next: now + t1,
            give_up: now + t1 * 64,
        });
        let replaced = c.replaces;
        self.schedule(now + t1, Timer::Ok(call));
        if let Some(old) = replaced {
            // RFC 3891 §3: accept the new INVITE and shut the replaced
            // dialog down (BYE, or CANCEL if it is still early).
            let _ = self.hangup(now, old);
        }
        self.pump(now);
        Ok(())
    }

    fn tx_destination(&self, tx: TransactionId) -> Option<A> {
        self.tx.destination(tx).cloned()
    }

    fn on_ok_timer(&mut self, now: Instant, at: Instant, h: Handle) {
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        let Some(ok) = c.ok.as_mut() else {
            return;
        };
        if ok.next != at {
            return;
        }
        if now >= ok.give_up {
            // §13.3.1.4: no ACK within 64*T1: confirm and end with BYE.
            c.ok = None;
            self.bye_and_end(now, h, EndReason::Timeout);
            return;
        }
        let (bytes, dest) = (ok.bytes.clone(), ok.destination.clone());
        ok.interval = (ok.interval * 2).min(self.config.timers.t2);
        ok.next = now + ok.interval;
        let next = ok.next.min(ok.give_up);
        ok.next = next;
        self.send_out_of_transaction(dest, bytes);
        self.schedule(next, Timer::Ok(h));
    }

    /// Rejects an incoming call with a 300-699 status (e.g. 486, 603).
    pub fn reject(&mut self, now: Instant, call: Handle, status: u16) -> Result<(), Error> {
        if !(300..700).contains(&status) {
            return Err(Error::Status(status));
        }
        self.final_non_2xx(now, call, status, &[])?;
        self.end_call(call, EndReason::Declined);
        self.pump(now);
        Ok(())
    }

    /// Redirects an incoming call: 302 (or 300 for several) with these
    /// contacts (RFC 3261 §8.3, §21.3).
    pub fn redirect(&mut self, now: Instant, call: Handle, contacts: &[Uri]) -> Result<(), Error> {
        let status = if contacts.len() > 1 { 300 } else { 302 };
        self.final_non_2xx(now, call, status, contacts)?;
        self.end_call(call, EndReason::Declined);
        self.pump(now);
        Ok(())
    }

    fn final_non_2xx(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
        contacts: &[Uri],
    ) -> Result<(), Error> {
        let c = self.calls.get(&call).ok_or(Error::Unknown)?;
        if c.role != Role::Uas || c.state != CallState::Incoming {
            return Err(Error::State("not an unanswered incoming call"));
        }
        let tx = c
            .invite_tx
            .ok_or(Error::State("INVITE transaction ended"))?;
        let code = StatusCode::new(status).ok_or(Error::Status(status))?;
        let mut r = response_to(&c.invite, code, Some(&c.local_tag));
        for uri in contacts {
            r.headers.push(StdHeader::Contact, format!("<{uri}>"));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.rel_out.finish();
        }
        self.respond_tx(now, tx, r);
        Ok(())
    }

    fn on_ack(&mut self, now: Instant, ack: Message) {
        let Some(h) = self.find_dialog_call(ack.headers()) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        let seq = ack.cseq().map_or(0, |c| c.seq);
        let invite_seq = c
            .offer_in_seq()
            .or_else(|| c.invite.headers.cseq().ok().map(|x| x.seq));
        if c.ok.is_some() && Some(seq) >= invite_seq {
            c.ok = None;
            let body = Body::of(&ack);
            self.emit_call(h, CallEvent::Confirmed { body });
        }
        let _ = now;
    }

    // ----- requests received -----

    fn on_request(&mut self, now: Instant, tx: TransactionId, req: Request) {
        if req.method != Method::Invite && req.headers.contains(StdHeader::Replaces) {
            // RFC 3891 §3: Replaces outside an INVITE: 400.
            self.simple_response(now, tx, &req, 400);
            return;
        }
        if req.headers.to_tag().is_some() {
            self.on_in_dialog_request(now, tx, req);
            return;
        }
        match req.method {
            Method::Invite => self.on_incoming_invite(now, tx, req),
            Method::Options => self.simple_response(now, tx, &req, 200),
            Method::Bye => self.simple_response(now, tx, &req, 481),
            Method::Prack | Method::Update => self.simple_response(now, tx, &req, 481),
            Method::Register | Method::Publish => self.simple_response(now, tx, &req, 405),
            Method::Subscribe => self.on_incoming_subscribe(now, tx, req),
            _ => {
                let h = self.handle();
                self.owners.insert(tx, Owner::Incoming(h));
                self.incoming.insert(h, tx);
                self.events.push_back(Event::IncomingRequest {
                    request: h,
                    message: req,
                });
            }
        }
    }

    fn find_dialog_call(&self, m: &sipline_message::Headers) -> Option<Handle> {
        let call_id = m.call_id()?.to_string();
        let local = m.to_tag()?.to_string();
        let h = *self.by_dialog.get(&(call_id, local))?;
        let remote = m.from_tag().unwrap_or("");
        let c = self.calls.get(&h)?;
        match &c.dialog {
            Some(d) if d.id.remote_tag == remote => Some(h),
            // UAS dialog not created yet (no 1xx with tag sent), or an early
            // dialog of a fork: only the remote tag of the INVITE counts.
            None if c.role == Role::Uas => Some(h),
            _ => c
                .early
                .iter()
                .any(|d| d.id.remote_tag == remote)
                .then_some(h),
        }
    }

    fn on_in_dialog_request(&mut self, now: Instant, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let Some(h) = self.find_dialog_call(&req.headers) else {
            if matches!(req.method, Method::Subscribe | Method::Notify) {
                // RFC 6665: a subscription's dialog (or 481).
                self.on_subscription_request(now, tx, req);
                return;
            }
            // §12.2.2: no such dialog.
            self.simple_response(now, tx, &req, 481);
            return;
        };
        let c = self.calls.get_mut(&h).expect("found");
        let Some(d) = c.dialog.as_mut() else {
            self.simple_response(now, tx, &req, 481);
            return;
        };
        if d.check_remote_seq(&m).is_err() {
            self.simple_response(now, tx, &req, 500);
            return;
        }
        c.sync_early();
        if matches!(req.method, Method::Invite | Method::Update)
            && !self.session_check_request(now, tx, &req)
        {
            return; // RFC 4028 §9: 422, the interval is too small.
        }
        let c = self.calls.get_mut(&h).expect("found");
        match req.method {
            Method::Bye => {
                let (status, reason) = if c.state == CallState::Incoming {
                    // BYE before our final response (e.g. on an early
                    // dialog): end it; the INVITE gets 487 (§15.1.2).
                    (200, EndReason::RemoteBye)
                } else {
                    (200, EndReason::RemoteBye)
                };
                if c.state == CallState::Incoming {
                    if let Some(itx) = c.invite_tx {
                        let r = response_to(
                            &c.invite,
                            StatusCode::REQUEST_TERMINATED,
                            Some(&c.local_tag),
                        );
                        self.respond_tx(now, itx, r);
                    }
                }
                self.simple_response(now, tx, &req, status);
                self.end_call(h, reason);
            }
            Method::Update if req.body.is_empty() => {
                // RFC 3311 §5.2: an UPDATE before our final response to a
                // previous one: 500 with Retry-After.
                if c.offer_in
                    .as_ref()
                    .is_some_and(|(_, r)| r.method == Method::Update)
                {
                    self.retry_later(now, tx, &req);
                    return;
                }
                // Without an offer it only refreshes the target (and the
                // session timer, RFC 4028 §10): answered here.
                if let Some(d) = c.dialog.as_mut() {
                    d.refresh_target(&m);
                }
                c.sync_early();
                self.respond_update_without_offer(now, h, tx, &req);
            }
            Method::Invite | Method::Update => {
                // RFC 3261 §14.2 and RFC 3311 §5.2: an offer while one of
                // ours is unanswered: 491; while we have not answered one
                // we received: 500 with Retry-After.
                let early = c.state != CallState::Established;
                if req.method == Method::Invite && early {
                    // No re-INVITE before the dialog is confirmed.
                    self.retry_later(now, tx, &req);
                    return;
                }
                let ours_unanswered = c.offer_out != OfferOut::None
                    || (early && !c.early_answered && c.role == Role::Uac && c.invite_had_offer())
                    || (early
                        && !c.early_answered
                        && c.role == Role::Uas
                        && !c.invite_had_offer()
                        && c.rel_out_has_offer());
                if ours_unanswered {
                    self.simple_response(now, tx, &req, 491);
                    return;
                }
                if c.offer_in.is_some() || (early && !c.early_answered) {
                    self.retry_later(now, tx, &req);
                    return;
                }
                if let Some(d) = c.dialog.as_mut() {
                    d.refresh_target(&m);
                }
                c.sync_early();
                c.offer_in = Some((tx, req.clone()));
                let method = req.method.clone();
                if method == Method::Invite {
                    self.owners.insert(tx, Owner::ReInvite(h));
                } else {
                    self.owners.insert(tx, Owner::Update(h));
                }
                self.emit_call(
                    h,
                    CallEvent::Offer {
                        method,
                        body: Body::of(&m),
                    },
                );
            }
            Method::Options => self.simple_response(now, tx, &req, 200),
            Method::Prack => self.on_prack(now, h, tx, req),
            Method::Refer => self.on_refer(now, h, tx, req),
            Method::Notify if refer::is_refer_notify(&m) => self.on_refer_notify(now, h, tx, req),
            _ => {
                // INFO, MESSAGE, NOTIFY, REFER ...: accepted; the
                // application sees the request.
                let status = if req.method == Method::Refer {
                    202
                } else {
                    200
                };
                self.simple_response(now, tx, &req, status);
                self.emit_call(h, CallEvent::Request { request: req });
            }
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Request,
        invite: Option<TransactionId>,
    ) {
        let call = invite.and_then(|i| match self.owners.get(&i) {
            Some(Owner::Invite(h)) => Some(*h),
            _ => None,
        });
        let Some(h) = call else {
            // §9.2: no matching transaction: 481.
            self.simple_response(now, tx, req, 481);
            return;
        };
        self.simple_response(now, tx, req, 200);
        let Some(c) = self.calls.get(&h) else {
            return;
        };
        if c.state == CallState::Incoming {
            if let Some(itx) = c.invite_tx {
                let r = response_to(
                    &c.invite,
                    StatusCode::REQUEST_TERMINATED,
                    Some(&c.local_tag),
                );
                self.respond_tx(now, itx, r);
            }
            self.end_call(h, EndReason::CancelledByPeer);
        }
        // Already answered: the CANCEL has no effect (§9.2).
    }

    // ----- mid-call -----

    /// Ends a call: CANCEL while calling (§9.1), 603 for an unanswered
    /// incoming call, BYE once the dialog is confirmed (§15.1.1).
    pub fn hangup(&mut self, now: Instant, call: Handle) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        match (c.role, c.state) {
            (Role::Uac, CallState::Calling) => {
                if c.cancelled || c.cancel_pending {
                    return Ok(());
                }
                if c.provisional {
                    self.send_cancel(now, call);
                } else {
                    // §9.1: wait for a provisional response before CANCEL.
                    c.cancel_pending = true;
                    c.cancelled = true;
                }
            }
            (Role::Uas, CallState::Incoming) => {
                self.final_non_2xx(now, call, 603, &[])?;
                self.end_call(call, EndReason::Declined);
            }
            (_, CallState::Established) => {
                if c.ack_owed {
                    c.ack_owed = false;
                    self.send_ack(now, call, None);
                }
                self.send_bye(now, call);
            }
            (_, CallState::Ending) => {}
            _ => {}
        }
        self.pump(now);
        Ok(())
    }

    fn send_bye(&mut self, now: Instant, h: Handle) {
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        c.state = CallState::Ending;
        c.ok = None;
        let Some(d) = c.dialog.as_mut() else {
            self.end_call(h, EndReason::LocalBye);
            return;
        };
        let seq = d.next_seq();
        let bye = d.request(Method::Bye, seq);
        let next = d.next_hop();
        let bye = self.common_headers(bye).build();
        let Some(hop) = self.route(&next) else {
            self.end_call(h, EndReason::NoRoute);
            return;
        };
        if self.start_client(now, bye, &hop, Owner::Bye(h)).is_none() {
            self.end_call(h, EndReason::LocalBye);
        }
    }

    fn bye_and_end(&mut self, now: Instant, h: Handle, reason: EndReason) {
        let Some(c) = self.calls.get(&h) else {
            return;
        };
        if c.state != CallState::Ending {
            self.send_bye(now, h);
        }
        // Detach the BYE's transaction from the call: it ends now.
        for o in self.owners.values_mut() {
            if *o == Owner::Bye(h) {
                *o = Owner::Cancel;
            }
        }
        self.end_call(h, reason);
    }

    /// Sends a re-INVITE in a confirmed call (e.g. hold with a sendonly
    /// offer, §14.1). `CallEvent::OfferResult` follows; on 491 the
    /// endpoint retries after the random wait of §14.1.
    pub fn reinvite(
        &mut self,
        now: Instant,
        call: Handle,
        body: Option<Body>,
    ) -> Result<(), Error> {
        self.send_offer(now, call, Method::Invite, body)
    }

    /// Sends an UPDATE with an offer (RFC 3311).
    pub fn update(&mut self, now: Instant, call: Handle, body: Option<Body>) -> Result<(), Error> {
        self.send_offer(now, call, Method::Update, body)
    }

    fn send_offer(
        &mut self,
        now: Instant,
        call: Handle,
        method: Method,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let early_update = method == Method::Update
            && matches!(c.state, CallState::Calling | CallState::Incoming)
            && c.dialog.is_some();
        if c.state != CallState::Established && !early_update {
            return Err(Error::State("call not established"));
        }
        if early_update && body.is_some() && !c.early_answered {
            // RFC 3311 §5.1: an offer in an early dialog only once the
            // initial offer/answer is done (reliable 1xx and PRACK).
            return Err(Error::State("initial offer/answer not finished"));
        }
        if c.offer_out != OfferOut::None || c.offer_in.is_some() {
            return Err(Error::State("an offer is already in progress"));
        }
        let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let seq = d.next_seq();
        let next = d.next_hop();
        let mut b = d.request(method.clone(), seq);
        let Some(hop) = (self.router)(&next) else {
            return Err(Error::NoRoute(next.to_string()));
        };
        b = b
            .header(StdHeader::Contact, self.contact(&hop))
            .header(StdHeader::Allow, ALLOW)
            .header(StdHeader::Supported, self.supported());
        // RFC 4028 §7.4: every re-INVITE and UPDATE is a session refresh.
        for (n, v) in self.session_request_headers(Some(call), 0) {
            b = b.header(n, v);
        }
        b = self.common_headers(b);
        if let Some(body) = body.clone() {
            b = b.body(&body.content_type, body.data);
        }
        let mut req = b.build();
        let c = self.calls.get(&call).expect("checked");
        copy_auth(&c.invite, &mut req);
        let owner = if method == Method::Invite {
            Owner::ReInvite(call)
        } else {
            Owner::Update(call)
        };
        let id = self
            .start_client(now, req, &hop, owner)
            .ok_or(Error::State("transaction refused"))?;
        let c = self.calls.get_mut(&call).expect("checked");
        c.sync_early();
        c.offer_out = OfferOut::Pending(id);
        c.session.refreshing = false;
        c.pending_body = body;
        if method == Method::Invite {
            c.reinvite_seq = Some(seq);
            c.glare_retry = None;
        }
        self.pump(now);
        Ok(())
    }

    fn on_reinvite_response(&mut self, now: Instant, h: Handle, tx: TransactionId, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        let msg = Message::Response(r.clone());
        let sent = self.tx.request(tx).and_then(|m| m.as_request()).cloned();
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        let status = r.status.as_u16();
        let refresh = c.session.refreshing;
        if r.status.is_success() {
            if let Some(d) = c.dialog.as_mut() {
                d.refresh_target(&msg);
            }
            // Retransmitted 2xx: resend the ACK.
            if c.offer_out == OfferOut::None {
                if let Some((bytes, dest, _)) = c.ack.clone() {
                    self.send_out_of_transaction(dest, bytes);
                }
                return;
            }
            c.offer_out = OfferOut::None;
            if let Some(b) = c.pending_body.take() {
                c.local_sdp = Some(b);
            }
            self.send_ack(now, h, None);
            if let Some(sent) = &sent {
                // RFC 4028 §7.2: every 2xx to a re-INVITE refreshes.
                self.session_on_2xx(now, h, &msg, sent);
            }
        } else {
            c.offer_out = OfferOut::None;
            c.reinvite_seq = None;
            if matches!(status, 481 | 408) {
                self.bye_and_end(now, h, EndReason::DialogGone(status));
                return;
            }
            // §14.1: retry after 2.1-4 s if we own the Call-ID (we
            // sent the initial INVITE), else 0-2 s, in 10 ms units.
            let ms = if c.role == Role::Uac {
                self.rng.random_range(210..=400u64) * 10
            } else {
                self.rng.random_range(0..=200u64) * 10
            };
            let wait = Duration::from_millis(ms);
            if refresh {
                c.session.refreshing = false;
                if let Some(sent) = &sent {
                    self.session_refresh_failed(now, h, &r, sent, wait);
                }
            } else if status == 491 {
                let at = now + wait;
                let c = self.calls.get_mut(&h).expect("checked");
                c.glare_retry = Some((at, c.pending_body.clone()));
                self.schedule(at, Timer::Glare(h));
            }
        }
        if refresh {
            // A session refresh of our own (RFC 4028): not the app's.
            return;
        }
        self.emit_call(
            h,
            CallEvent::OfferResult {
                method: Method::Invite,
                status,
                body: Body::of(&msg),
            },
        );
    }

    fn on_update_response(&mut self, now: Instant, h: Handle, tx: TransactionId, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        let msg = Message::Response(r.clone());
        let sent = self.tx.request(tx).and_then(|m| m.as_request()).cloned();
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        c.offer_out = OfferOut::None;
        let refresh = c.session.refreshing;
        let status = r.status.as_u16();
        if r.status.is_success() {
            if let Some(d) = c.dialog.as_mut() {
                d.refresh_target(&msg);
            }
            c.sync_early();
            if let Some(b) = c.pending_body.take() {
                c.local_sdp = Some(b);
            }
            if let Some(sent) = &sent {
                // RFC 4028 §7.2: every 2xx to an UPDATE refreshes.
                self.session_on_2xx(now, h, &msg, sent);
            }
        } else if matches!(status, 481 | 408) {
            self.bye_and_end(now, h, EndReason::DialogGone(status));
            return;
        } else if refresh {
            c.session.refreshing = false;
            c.pending_body = None;
            if let Some(sent) = &sent {
                let ms = if c.role == Role::Uac {
                    self.rng.random_range(210..=400u64) * 10
                } else {
                    self.rng.random_range(0..=200u64) * 10
                };
                self.session_refresh_failed(now, h, &r, sent, Duration::from_millis(ms));
            }
        } else {
            c.pending_body = None;
        }
        if refresh {
            return;
        }
        self.emit_call(
            h,
            CallEvent::OfferResult {
                method: Method::Update,
                status,
                body: Body::of(&msg),
            },
        );
    }

    /// Answers the peer's re-INVITE or UPDATE (`CallEvent::Offer`): 2xx
    /// with the answer, or e.g. 488 to keep the old session (§14.2).
    pub fn respond_offer(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), Error> {
        if !(200..700).contains(&status) {
            return Err(Error::Status(status));
        }
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let (tx, req) = c
            .offer_in
            .take()
            .ok_or(Error::State("no offer to answer"))?;
        let local_tag = c.dialog.as_ref().map(|d| d.id.local_tag.clone());
        let code = StatusCode::new(status).ok_or(Error::Status(status))?;
        let mut r = response_to(&req, code, local_tag.as_deref());
        let reqm = Message::Request(req.clone());
        if status < 300 {
            if let Some(hop) = self.uas_hop(&reqm) {
                r.headers.push(StdHeader::Contact, self.contact(&hop));
            }
            r.headers.push(StdHeader::Supported, self.supported());
            // RFC 4028 §9: our 2xx to a session refresh request.
            for (n, v) in self.session_response_headers(now, call, &req) {
                r.headers.push(n, v);
            }
            if let (Some(c), Some(b)) = (self.calls.get_mut(&call), &body) {
                c.local_sdp = Some(b.clone());
            }
        }
        set_response_body(&mut r, body);
        if req.method == Method::Invite && status < 300 {
            // §13.3.1.4 applies to re-INVITEs too: resend until ACK.
            let bytes = Message::Response(r.clone()).to_bytes();
            let dest = self.tx_destination(tx);
            self.respond_tx(now, tx, r);
            if let Some(destination) = dest {
                let t1 = self.config.timers.t1;
                let c = self.calls.get_mut(&call).expect("checked");
                c.ok = Some(OkRetransmit {
                    bytes,
                    destination,
                    interval: t1,
                    next: now + t1,
                    give_up: now + t1 * 64,
                });
                c.ok_seq = reqm.cseq().ok().map(|x| x.seq);
                self.schedule(now + t1, Timer::Ok(call));
            }
        } else {
            self.respond_tx(now, tx, r);
        }
        self.pump(now);
        Ok(())
    }

    /// Sends a request in a call's dialog (INFO, MESSAGE, REFER, NOTIFY,
    /// OPTIONS ...). `CallEvent::Response` follows.
    pub fn send_in_dialog(
        &mut self,
        now: Instant,
        call: Handle,
        method: Method,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<Handle, Error> {
        if matches!(
            method,
            Method::Invite | Method::Ack | Method::Cancel | Method::Bye
        ) {
            return Err(Error::State("use reinvite, hangup"));
        }
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let seq = d.next_seq();
        let next = d.next_hop();
        let mut b = d.request(method, seq);
        c.sync_early();
        for (n, v) in headers {
            b = b.header(n.as_str(), v);
        }
        if let Some(body) = body {
            b = b.body(&body.content_type, body.data);
        }
        let hop = (self.router)(&next).ok_or_else(|| Error::NoRoute(next.to_string()))?;
        let req = self.common_headers(b).build();
        let h = self.handle();
        self.start_client(now, req.clone(), &hop, Owner::InDialog(call, h))
            .ok_or(Error::State("transaction refused"))?;
        self.requests.insert(
            h,
            OutRequest {
                request: req,
                auth_tries: 0,
                call: Some(call),
            },
        );
        self.pump(now);
        Ok(h)
    }

    fn on_in_dialog_response(&mut self, now: Instant, call: Handle, req: Handle, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        self.requests.remove(&req);
        let status = r.status.as_u16();
        self.emit_call(
            call,
            CallEvent::Response {
                request: req,
                status,
                response: r,
            },
        );
        if matches!(status, 481 | 408) {
            self.bye_and_end(now, call, EndReason::DialogGone(status));
        }
    }

    fn end_call(&mut self, h: Handle, reason: EndReason) {
        let Some(c) = self.calls.remove(&h) else {
            return;
        };
        let call_id = c.invite.headers.call_id().unwrap_or_default().to_string();
        self.by_dialog.remove(&(call_id, c.local_tag.clone()));
        // Transactions still running keep their table entries until they
        // end; they no longer belong to the call.
        for o in self.owners.values_mut() {
            match *o {
                Owner::Invite(x)
                | Owner::ReInvite(x)
                | Owner::Update(x)
                | Owner::Bye(x)
                | Owner::Prack(x)
                | Owner::ReferNotify(x)
                    if x == h =>
                {
                    *o = Owner::Cancel
                }
                Owner::InDialog(x, _) if x == h => *o = Owner::Cancel,
                _ => {}
            }
        }
        self.requests.retain(|_, r| r.call != Some(h));
        self.emit_call(h, CallEvent::Ended { reason });
    }

    fn on_stray_response(&mut self, m: Message) {
        // A 2xx retransmission for an INVITE whose transaction is gone:
        // resend our ACK if we still have it (§13.2.2.4, RFC 6026 §8.4).
        if m.as_response().is_some_and(|r| r.status.is_success())
            && m.cseq().is_ok_and(|c| c.method == Method::Invite)
        {
            let key = (
                m.call_id().unwrap_or_default().to_string(),
                m.to_tag().unwrap_or_default().to_string(),
            );
            if let Some((bytes, dest, _)) = self.acks.get(&key) {
                let (bytes, dest) = (bytes.clone(), dest.clone());
                self.send_out_of_transaction(dest, bytes);
            }
        }
    }

    // ----- requests outside dialogs -----

    /// Sends a request outside any dialog (MESSAGE, OPTIONS, PUBLISH,
    /// INFO ...) to `target`; `Event::Response` or `Event::RequestFailed`
    /// follows. 401/407 challenges are answered with the configured
    /// credentials.
    pub fn request(
        &mut self,
        now: Instant,
        method: Method,
        target: Uri,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<Handle, Error> {
        if matches!(
            method,
            Method::Invite | Method::Ack | Method::Cancel | Method::Register
        ) {
            return Err(Error::State("use call or register"));
        }
        let Initial {
            builder: mut b,
            hop,
            ..
        } = self.initial_request(method.clone(), target)?;
        if matches!(method, Method::Subscribe | Method::Refer) {
            // Dialog-forming (RFC 6665 §4.1.2.1, RFC 3515 §2.4.1).
            b = b.header(StdHeader::Contact, self.dialog_forming_contact(&hop));
        } else if method == Method::Notify {
            b = b.header(StdHeader::Contact, self.contact(&hop));
        }
        for (n, v) in headers {
            b = b.header(n.as_str(), v);
        }
        b = self.common_headers(b);
        if let Some(body) = body {
            b = b.body(&body.content_type, body.data);
        }
        let mut req = b.build();
        self.authorize(&mut req);
        let h = self.handle();
        self.start_client(now, req.clone(), &hop, Owner::Request(h))
            .ok_or(Error::State("transaction refused"))?;
        self.requests.insert(
            h,
            OutRequest {
                request: req,
                auth_tries: 0,
                call: None,
            },
        );
        self.pump(now);
        Ok(h)
    }

    fn on_request_response(&mut self, now: Instant, h: Handle, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        let status = r.status.as_u16();
        let tries = self.requests.get(&h).map_or(0, |o| o.auth_tries);
        if matches!(status, 401 | 407) && self.learn_challenge(&r, tries) {
            if let Some(mut out) = self.requests.remove(&h) {
                let mut req = out.request.clone();
                bump_cseq(&mut req);
                self.authorize(&mut req);
                let next = first_route(&req).unwrap_or_else(|| req.uri.clone());
                if let Some(hop) = self.route(&next) {
                    if self
                        .start_client(now, req.clone(), &hop, Owner::Request(h))
                        .is_some()
                    {
                        out.request = req;
                        out.auth_tries += 1;
                        self.requests.insert(h, out);
                        return;
                    }
                }
            }
        }
        self.requests.remove(&h);
        self.events.push_back(Event::Response {
            request: h,
            response: r,
        });
    }

    /// Answers a request given by `Event::IncomingRequest`.
    pub fn respond(
        &mut self,
        now: Instant,
        request: Handle,
        status: u16,
        body: Option<Body>,
        headers: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let tx = *self.incoming.get(&request).ok_or(Error::Unknown)?;
        let req = self
            .tx
            .request(tx)
            .and_then(|m| m.as_request())
            .cloned()
            .ok_or(Error::Unknown)?;
        let code = StatusCode::new(status).ok_or(Error::Status(status))?;
        let tag = self.token(6);
        let mut r = response_to(&req, code, Some(&tag));
        for (n, v) in headers {
            r.headers.push(n.as_str(), v);
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        set_response_body(&mut r, body);
        if code.is_final() {
            self.incoming.remove(&request);
        }
        self.tx
            .respond(now, tx, Message::Response(r))
            .map_err(|_| Error::State("response not allowed"))?;
        self.pump(now);
        Ok(())
    }

    // ----- registration -----

    /// Registers our Contact for our identity at `registrar` for `expires`
    /// seconds, and keeps it registered: refreshed before it expires,
    /// retried with back-off after failures (RFC 3261 §10.2, RFC 5626 §4.5).
    pub fn register(
        &mut self,
        now: Instant,
        registrar: Uri,
        expires: u32,
    ) -> Result<Handle, Error> {
        let next = self
            .config
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| registrar.clone());
        self.route(&next)
            .ok_or_else(|| Error::NoRoute(next.to_string()))?;
        let h = self.handle();
        let call_id = format!("{}@sipline", self.token(12));
        let from_tag = self.token(6);
        self.registrations.insert(
            h,
            Registration {
                registrar,
                call_id,
                from_tag,
                seq: 0,
                expires,
                contact: None,
                tx: None,
                auth_tries: 0,
                failures: 0,
                flow_failures: 0,
                next_attempt: None,
                removing: false,
            },
        );
        self.send_register(now, h);
        self.pump(now);
        Ok(h)
    }

    /// Removes the binding (Expires: 0); `Unregistered` follows and the
    /// handle ends.
    pub fn unregister(&mut self, now: Instant, registration: Handle) -> Result<(), Error> {
        let r = self
            .registrations
            .get_mut(&registration)
            .ok_or(Error::Unknown)?;
        r.removing = true;
        r.next_attempt = None;
        if r.tx.is_none() {
            self.send_register(now, registration);
        }
        self.pump(now);
        Ok(())
    }

    /// The flow the registration went over has failed: a keep-alive went
    /// unanswered, or the address the registrar sees us at changed (RFC
    /// 5626 §4.4.2: a changed XOR-MAPPED-ADDRESS "MUST" be treated as a
    /// failure on the flow). A new flow is formed by registering again,
    /// with the same Call-ID and reg-id (§4.4, §4.5; §3.5: a UA "needs to
    /// re-register").
    ///
    /// `proven`: at least one keep-alive response came back on the flow.
    /// §4.5 calls a flow successful only then; after a successful flow the
    /// UA registers again now. After one that never was (the registrar took
    /// the REGISTER but never answered a keep-alive), forming it again at
    /// once could loop; it is a failure, and the next REGISTER waits the
    /// §4.5 back-off, W = min(max-time, base-time · 2^(failed flows in a
    /// row)), 50-100% of W. If a REGISTER fails, the usual back-off
    /// follows. Nothing to do while a REGISTER is in progress or the
    /// binding is being removed. [`Error::Unknown`] for a dead handle.
    pub fn flow_failed(
        &mut self,
        now: Instant,
        registration: Handle,
        proven: bool,
    ) -> Result<(), Error> {
        let r = self
            .registrations
            .get_mut(&registration)
            .ok_or(Error::Unknown)?;
        if r.tx.is_some() || r.removing {
            return Ok(());
        }
        if proven {
            r.flow_failures = 0;
        } else {
            r.flow_failures = r.flow_failures.saturating_add(1);
            let failures = r.flow_failures;
            let wait = self.retry_wait(failures);
            self.register_at(registration, now + wait);
            return Ok(());
        }
        // send_register clears next_attempt, so the refresh timer already
        // scheduled finds nothing due.
        self.send_register(now, registration);
        self.pump(now);
        Ok(())
    }

    fn send_register(&mut self, now: Instant, h: Handle) {
        let Some(reg) = self.registrations.get(&h) else {
            return;
        };
        let next = self
            .config
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| reg.registrar.clone());
        let Some(hop) = self.route(&next) else {
            self.register_failed(now, h, 503, "no route to registrar".into(), true);
            return;
        };
        let contact = self.contact(&hop);
        // RFC 5626 §4.2: instance id and reg-id on the Contact.
        let contact_row = match &self.config.instance {
            Some(i) => format!("{contact};reg-id=1;+sip.instance=\"<{i}>\""),
            None => contact.clone(),
        };
        let outbound = self.config.instance.is_some();
        let reg = self.registrations.get_mut(&h).expect("checked");
        reg.seq += 1;
        reg.next_attempt = None;
        let expires = if reg.removing { 0 } else { reg.expires };
        let mut from = self.config.identity.clone();
        from.set_tag(&reg.from_tag);
        let mut to = self.config.identity.clone();
        to.params = Default::default();
        let mut b = RequestBuilder::new(Method::Register, reg.registrar.clone());
        if let Some(p) = &self.config.outbound_proxy {
            b = b.header(StdHeader::Route, format!("<{}>", loose(p)));
        }
        b = b
            .to(&to)
            .from(&from)
            .call_id(&reg.call_id.clone())
            .cseq(reg.seq)
            .header(StdHeader::Contact, contact_row)
            .header(StdHeader::Expires, expires.to_string())
            .header(StdHeader::Allow, ALLOW);
        if outbound {
            b = b.header(StdHeader::Supported, "outbound, path");
        }
        reg.contact = NameAddr::parse(&contact.clone().into())
            .ok()
            .and_then(|n| match n.uri {
                Uri::Sip(s) => Some(s),
                _ => None,
            });
        let mut req = self.common_headers(b).build();
        self.authorize(&mut req);
        let id = self.start_client(now, req, &hop, Owner::Register(h));
        if let Some(reg) = self.registrations.get_mut(&h) {
            reg.tx = id;
        }
    }

    fn on_register_response(&mut self, now: Instant, h: Handle, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        let status = r.status.as_u16();
        let tries = self.registrations.get(&h).map_or(0, |x| x.auth_tries);
        if let Some(reg) = self.registrations.get_mut(&h) {
            reg.tx = None;
        } else {
            return;
        }
        if matches!(status, 401 | 407) && self.learn_challenge(&r, tries) {
            if let Some(reg) = self.registrations.get_mut(&h) {
                reg.auth_tries += 1;
            }
            self.send_register(now, h);
            return;
        }
        let msg = Message::Response(r.clone());
        if status == 423 {
            // §10.2.8: retry with at least Min-Expires.
            let min = msg
                .headers()
                .get(StdHeader::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            if let (Some(min), Some(reg)) = (min, self.registrations.get_mut(&h)) {
                if min > reg.expires {
                    reg.expires = min;
                    self.send_register(now, h);
                    return;
                }
            }
        }
        let reg = self.registrations.get_mut(&h).expect("checked");
        reg.auth_tries = 0;
        if r.status.is_success() {
            if reg.removing {
                self.registrations.remove(&h);
                self.events.push_back(Event::Registration {
                    registration: h,
                    event: RegistrationEvent::Unregistered,
                });
                return;
            }
            reg.failures = 0;
            let contacts = msg.contacts().unwrap_or_default();
            let header_expires = msg.expires().ok().flatten();
            let mut granted = None;
            let mut listed = Vec::new();
            for c in &contacts {
                if let Some(a) = c.address() {
                    listed.push(a.to_string());
                    if let (Uri::Sip(u), Some(mine)) = (&a.uri, &reg.contact) {
                        if u.equivalent(mine) {
                            granted = a.expires().or(header_expires);
                        }
                    }
                }
            }
            let expires = granted.or(header_expires).unwrap_or(reg.expires);
            let outbound = msg
                .tokens(StdHeader::Require)
                .iter()
                .any(|t| t.trim().eq_ignore_ascii_case("outbound"))
                || msg
                    .name_addrs(StdHeader::Path)
                    .ok()
                    .and_then(|p| p.into_iter().next())
                    .is_some_and(|p| p.uri.as_sip().is_some_and(|u| u.has_param("ob")));
            // Refresh ahead of expiry: halfway for short bindings, else
            // ten minutes early.
            let ahead = if expires > 1200 {
                expires - 600
            } else {
                (expires / 2).max(1)
            };
            let at = now + Duration::from_secs(u64::from(ahead));
            reg.next_attempt = Some(at);
            self.schedule(at, Timer::Register(h));
            self.events.push_back(Event::Registration {
                registration: h,
                event: RegistrationEvent::Registered {
                    expires,
                    contacts: listed,
                    outbound,
                },
            });
        } else {
            let retry = !matches!(status, 401 | 403 | 404 | 407 | 423 | 484 | 603);
            let reason = r.reason.to_string();
            self.register_failed(now, h, status, reason, retry);
        }
    }

    /// RFC 5626 §4.5: how long to wait after `failures` failures in a row
    /// (1 or more): 50-100% of W = min(max-time, base-time · 2^(failures-1)),
    /// drawn at random.
    fn retry_wait(&mut self, failures: u32) -> Duration {
        let exponent = failures.clamp(1, 16) - 1;
        let w = self
            .config
            .register_retry_base
            .saturating_mul(1u32 << exponent)
            .min(self.config.register_retry_max);
        w * self.rng.random_range(50..=100u32) / 100
    }

    /// Registration `h` sends its next REGISTER at `at` (and not before:
    /// a timer set earlier for it finds `next_attempt` changed).
    fn register_at(&mut self, h: Handle, at: Instant) {
        if let Some(reg) = self.registrations.get_mut(&h) {
            reg.next_attempt = Some(at);
        }
        self.schedule(at, Timer::Register(h));
    }

    fn register_failed(
        &mut self,
        now: Instant,
        h: Handle,
        status: u16,
        reason: String,
        retry: bool,
    ) {
        let Some(reg) = self.registrations.get_mut(&h) else {
            return;
        };
        reg.tx = None;
        if reg.removing {
            self.registrations.remove(&h);
            self.events.push_back(Event::Registration {
                registration: h,
                event: RegistrationEvent::Unregistered,
            });
            return;
        }
        let retry_in = if retry {
            reg.failures = reg.failures.saturating_add(1);
            let failures = reg.failures;
            let wait = self.retry_wait(failures);
            self.register_at(h, now + wait);
            Some(wait)
        } else {
            None
        };
        self.events.push_back(Event::Registration {
            registration: h,
            event: RegistrationEvent::Failed {
                status,
                reason,
                retry_in,
            },
        });
        if retry_in.is_none() {
            self.registrations.remove(&h);
        }
    }
}

impl<A: Clone> Call<A> {
    fn new(role: Role, state: CallState, invite: Request, local_tag: String) -> Self {
        Call {
            role,
            state,
            invite,
            invite_tx: None,
            dialog: None,
            early: Vec::new(),
            local_tag,
            provisional: false,
            cancel_pending: false,
            cancelled: false,
            ok: None,
            ack: None,
            ack_owed: false,
            offer_out: OfferOut::None,
            offer_in: None,
            glare_retry: None,
            hop: None,
            auth_tries: 0,
            reinvite_seq: None,
            pending_body: None,
            ok_seq: None,
            redirects: 0,
            tried: Vec::new(),
            rel_out: prack::ReliableOut::default(),
            rseq_in: Vec::new(),
            prack_owed: None,
            early_answered: false,
            answer_pending: None,
            session: session_timer::SessionState::default(),
            local_sdp: None,
            refer_in: None,
            replaces: None,
        }
    }

    /// UAS: an unacknowledged reliable 1xx carries a session description.
    fn rel_out_has_offer(&self) -> bool {
        self.rel_out.unacked_has_body()
    }

    /// Whether the INVITE that created the call carried an offer.
    fn invite_had_offer(&self) -> bool {
        !self.invite.body.is_empty()
    }

    /// The CSeq number of the initial INVITE.
    fn invite_seq(&self) -> u32 {
        self.invite.headers.cseq().map_or(1, |c| c.seq)
    }

    /// UAC: writes the current dialog back into the list of early dialogs
    /// after its sequence numbers changed (PRACK, UPDATE, requests in an
    /// early dialog).
    fn sync_early(&mut self) {
        if let Some(d) = &self.dialog {
            if let Some(e) = self
                .early
                .iter_mut()
                .find(|e| e.id.remote_tag == d.id.remote_tag)
            {
                *e = d.clone();
            }
        }
    }

    fn offer_in_seq(&self) -> Option<u32> {
        self.ok_seq
    }

    fn invite_with_via(&self, tx: &Transactions<A>) -> Request {
        self.invite_tx
            .and_then(|id| tx.request(id))
            .and_then(|m| m.as_request())
            .cloned()
            .unwrap_or_else(|| self.invite.clone())
    }
}

/// A request outside any dialog, before its method-specific headers.
pub(crate) struct Initial<A> {
    pub(crate) builder: RequestBuilder,
    pub(crate) hop: Hop<A>,
    pub(crate) call_id: String,
    pub(crate) from_tag: String,
}

/// Puts a body (and its Content-Type and Content-Length) in a response.
fn set_response_body(r: &mut Response, body: Option<Body>) {
    if let Some(b) = body {
        r.headers.push(StdHeader::ContentType, b.content_type);
        r.headers
            .set(StdHeader::ContentLength, b.data.len().to_string());
        r.body = b.data;
    }
}

fn to_tag_of(r: &Request) -> Option<&str> {
    r.headers
        .get(StdHeader::To)
        .and_then(|v| sipline_message::header::find_tag(v))
}

fn failure_reason(status: u16) -> &'static str {
    match status {
        408 => "Request Timeout",
        _ => "Service Unavailable",
    }
}

fn sent_by(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
    }
}

fn sent_host(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    }
}

fn loose(uri: &Uri) -> Uri {
    match uri {
        Uri::Sip(s) if !s.lr() => Uri::Sip(s.clone().with_param("lr", None)),
        u => u.clone(),
    }
}

fn contact_uri(m: &Message) -> Option<Uri> {
    m.contacts().ok()?.into_iter().find_map(|c| match c {
        Contact::Address(a) => Some(a.uri),
        Contact::Wildcard => None,
    })
}

fn first_route(r: &Request) -> Option<Uri> {
    r.headers.routes().ok()?.into_iter().next().map(|n| n.uri)
}

/// Copies Authorization and Proxy-Authorization rows (§13.2.2.4: the ACK
/// of a 2xx carries the INVITE's credentials; §22 for re-INVITEs).
fn copy_auth(from: &Request, to: &mut Request) {
    for row in from.headers.iter() {
        if matches!(
            row.name.std(),
            Some(StdHeader::Authorization | StdHeader::ProxyAuthorization)
        ) {
            to.headers
                .push_row(Header::new(row.name.clone(), row.value.clone()));
        }
    }
}

/// Increments the CSeq number of a request being resent with credentials
/// (§22.2: a new request with the same Call-ID, From tag; CSeq + 1).
fn bump_cseq(req: &mut Request) {
    let m = Message::Request(req.clone());
    if let Ok(c) = m.cseq() {
        let v = sipline_message::header::CSeq::new(c.seq.wrapping_add(1), c.method).to_string();
        req.headers.set(StdHeader::CSeq, v);
    }
}

/// The option tags of Require we do not support (§8.2.2.3), comma-joined.
fn unsupported_requirements(m: &Message, supported: &[String]) -> Option<String> {
    let bad: Vec<String> = m
        .tokens(StdHeader::Require)
        .into_iter()
        .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(|t| t.to_string())
        .collect();
    (!bad.is_empty()).then(|| bad.join(", "))
}
