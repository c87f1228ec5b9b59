//! The task that runs the sans-IO core on real transports: the one place
//! in this crate that reads the clock, owns sockets and resolves names.

use crate::{
    Call, Config, Incoming, IncomingCall, IncomingRequest, IncomingSubscription, UaError, UserAgent,
};
use bytes::Bytes;
use sipline_dialog::{
    Body, CallEvent, DialogId, Endpoint, Event, Failure, Handle, Hop, RegistrationEvent,
    SubscriptionEvent, SubscriptionState,
};
use sipline_dns::{
    resolve_uri, DnsProtocol, HickoryConfig, HickoryLookup, NameServer, ResolveConfig,
};
use sipline_message::uri::{Host, Scheme};
use sipline_message::{Message, Method, Response, Transport, Uri};
use sipline_transport::stun::{BindingOutcome, StunReceived, TransactionId};
use sipline_transport::{
    response_destination, Destination, Incoming as Received, ListenSpec, PemSource,
    TlsClientConfig, TransportConfig, TransportLayer,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot};

/// One message sent or received, for `--trace` and ladder diagrams.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    /// When.
    pub at: SystemTime,
    /// True if we sent it.
    pub outgoing: bool,
    /// The transport.
    pub transport: Transport,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The message as on the wire.
    pub bytes: Bytes,
}

type Reply<T> = oneshot::Sender<T>;
type CallReply = Reply<Result<(Handle, mpsc::UnboundedReceiver<CallEvent>), UaError>>;
type RegReply = Reply<Result<(Handle, mpsc::UnboundedReceiver<RegistrationEvent>), UaError>>;
type RequestReply = Reply<Result<oneshot::Receiver<Result<Response, Failure>>, UaError>>;
type SubReply = Reply<Result<(Handle, mpsc::UnboundedReceiver<SubscriptionEvent>), UaError>>;

pub(crate) enum Command {
    Call {
        target: Uri,
        body: Option<Body>,
        headers: Vec<(String, String)>,
        reply: CallReply,
    },
    CallOp {
        call: Handle,
        op: CallOp,
        reply: Reply<Result<(), sipline_dialog::Error>>,
    },
    Request {
        method: Method,
        target: Uri,
        body: Option<Body>,
        headers: Vec<(String, String)>,
        reply: RequestReply,
    },
    Register {
        registrar: Uri,
        expires: u32,
        reply: RegReply,
    },
    Unregister {
        handle: Handle,
        reply: Reply<Result<(), sipline_dialog::Error>>,
    },
    Respond {
        handle: Handle,
        status: u16,
        body: Option<Body>,
        reply: Reply<Result<(), sipline_dialog::Error>>,
    },
    Resolve {
        uri: Uri,
        reply: Reply<Result<(), UaError>>,
    },
    Subscribe {
        target: Uri,
        event: String,
        accept: String,
        expires: u32,
        reply: SubReply,
    },
    SubscriptionOp {
        handle: Handle,
        op: SubscriptionOp,
        reply: Reply<Result<(), sipline_dialog::Error>>,
    },
    /// Accept an incoming subscription and take its events.
    Accept {
        handle: Handle,
        expires: u32,
        status: u16,
        reply: SubReply,
    },
    DialogId {
        call: Handle,
        reply: Reply<Option<DialogId>>,
    },
    Stop,
}

pub(crate) enum SubscriptionOp {
    Unsubscribe,
    Reject(u16),
    Notify(SubscriptionState, Option<Body>),
}

pub(crate) enum CallOp {
    Hangup,
    Ring(u16, Option<Body>),
    Answer(Option<Body>),
    Reject(u16),
    Redirect(Vec<Uri>),
    Reinvite(Option<Body>),
    RespondOffer(u16, Option<Body>),
    Ack(Option<Body>),
    Send(Method, Option<Body>, Vec<(String, String)>),
    RingReliably(u16, Option<Body>),
    Prack(Option<Body>),
    Transfer(Uri, Option<DialogId>),
    TransferProgress(u16),
}

/// How many times a STUN keep-alive is sent before the flow counts as
/// failed. RFC 5389 §7.2.1 retransmits with a doubling RTO (Rc = 7, and
/// RFC 5626 §4.4.2 waits for all of them, 16 × RTO); we stop at 3 sends
/// (at 0, RTO and 3 × RTO, giving up at 7 × RTO: 3.5 s with the default
/// 500 ms T1 as RTO), so a dead flow is found in seconds, well within the
/// next keep-alive, and registered again.
const STUN_SENDS: u32 = 3;

/// A registration whose flow we keep alive (RFC 5626 §4.4).
struct KeepAlive {
    /// The URI of the first hop (outbound proxy or registrar).
    first_hop: Uri,
    /// Registered: keep-alives are due (RFC 5626 §4.2, §4.4).
    registered: bool,
    /// The last 2xx said the first hop supports outbound (`Require:
    /// outbound`, or `ob` in its first Path URI): the explicit indication
    /// RFC 5626 §8 asks for before any STUN is sent on the flow.
    stun: bool,
    /// RFC 5626 §4.4.2: the XOR-MAPPED-ADDRESS of the flow's first STUN
    /// Binding Response; a different one later means the flow failed.
    mapped: Option<SocketAddr>,
    /// The Binding Request waiting for its response.
    pending: Option<StunPending>,
}

/// A STUN keep-alive in flight (RFC 5389 §7.2.1).
struct StunPending {
    transaction_id: TransactionId,
    destination: Destination,
    /// How many times it was sent.
    sent: u32,
    /// When to send it again, or give up.
    next: tokio::time::Instant,
}

/// What the router knows: listeners, names resolved, local addresses.
struct Routes {
    listeners: Vec<(Transport, SocketAddr)>,
    default_transport: Transport,
    /// "host:port:transport" → (transport, address, TLS name).
    names: HashMap<String, (Transport, SocketAddr, String)>,
    local_ips: HashMap<IpAddr, IpAddr>,
}

fn name_key(uri: &sipline_message::uri::SipUri) -> String {
    format!(
        "{}:{:?}:{:?}:{:?}",
        uri.host,
        uri.port,
        uri.transport().map(str::to_ascii_lowercase),
        uri.scheme
    )
}

impl Routes {
    /// The transport to reach `uri` (a numeric host) on: its `transport`
    /// parameter read with the scheme (`sips:` with `tcp` is TLS, with `ws`
    /// WSS: RFC 3261 §26.2.2, RFC 7118 §5.2, §5.5), else TLS for SIPS and
    /// our default for SIP (RFC 3263 §4.1).
    fn transport_of(&self, uri: &sipline_message::uri::SipUri) -> Transport {
        if let Some(t) = uri.transport_protocol() {
            return t;
        }
        if uri.scheme == Scheme::Sips {
            Transport::Tls
        } else {
            self.default_transport
        }
    }

    fn hop(&mut self, uri: &Uri) -> Option<Hop<Destination>> {
        let Uri::Sip(s) = uri else {
            return None;
        };
        let host_ip = match &s.host {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        };
        let (transport, addr, name) = match host_ip {
            Some(ip) => {
                let t = self.transport_of(s);
                (
                    t,
                    SocketAddr::new(ip, s.port.unwrap_or(t.default_port())),
                    None,
                )
            }
            None => {
                let (t, a, n) = self.names.get(&name_key(s))?.clone();
                (t, a, Some(n))
            }
        };
        // Our address on that transport; for a connection we open on a
        // transport we do not listen on (TLS, WS, WSS: client only), the
        // TCP listener's address stands in for Via and Contact (responses
        // come back on the connection, RFC 3261 §18.2.2; RFC 7118 §5).
        let same_family = |a: &SocketAddr| a.is_ipv4() == addr.is_ipv4();
        let listener = self
            .listeners
            .iter()
            .find(|(t, a)| *t == transport && same_family(a))
            .or_else(|| self.listeners.iter().find(|(t, _)| *t == transport))
            .or_else(|| {
                transport.is_reliable().then(|| {
                    self.listeners
                        .iter()
                        .find(|(t, a)| *t == Transport::Tcp && same_family(a))
                })?
            })?
            .1;
        let local = if listener.ip().is_unspecified() {
            let ip = *self
                .local_ips
                .entry(addr.ip())
                .or_insert_with(|| sipline_transport::local_ip_for(addr));
            SocketAddr::new(ip, listener.port())
        } else {
            listener
        };
        let mut destination = Destination::new(transport, addr);
        if transport.is_secure() {
            destination.server_name = name.or_else(|| Some(addr.ip().to_string()));
        }
        Some(Hop {
            destination,
            transport,
            local,
        })
    }
}

pub(crate) async fn start(config: Config) -> Result<(UserAgent, Incoming), UaError> {
    let mut tc = TransportConfig {
        keepalive: sipline_transport::KeepaliveConfig {
            // RFC 5626 §4.4.1: CRLF pings on the connections we open.
            ping_interval: config.keepalive,
            ..sipline_transport::KeepaliveConfig::default()
        },
        listen: config
            .listen
            .iter()
            .map(|(t, a)| ListenSpec::new(*t, *a))
            .collect(),
        ..TransportConfig::default()
    };
    tc.tls_client = TlsClientConfig {
        roots: config
            .ca_files
            .iter()
            .cloned()
            .map(PemSource::File)
            .collect(),
    };
    let (layer, received) =
        TransportLayer::start(tc).map_err(|e| UaError::Transport(e.to_string()))?;
    let stun = layer.subscribe_stun();
    let listeners = layer.listeners();
    let routes = Arc::new(Mutex::new(Routes {
        listeners: listeners.clone(),
        default_transport: config.transport.unwrap_or(Transport::Udp),
        names: HashMap::new(),
        local_ips: HashMap::new(),
    }));
    let router_routes = Arc::clone(&routes);
    let endpoint = Endpoint::new(
        config.dialog_config(),
        Box::new(move |uri: &Uri| router_routes.lock().ok()?.hop(uri)),
    );
    let lookup = match config.nameserver {
        Some(addr) => HickoryLookup::new(&HickoryConfig {
            name_servers: vec![NameServer {
                addr,
                protocol: DnsProtocol::Udp,
            }],
            ..HickoryConfig::default()
        }),
        None => HickoryLookup::system(),
    }
    .map_err(|e| UaError::Dns(e.to_string()))?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (trace, _) = broadcast::channel(1024);
    let (calls_tx, calls) = mpsc::unbounded_channel();
    let (requests_tx, requests) = mpsc::unbounded_channel();
    let (subs_tx, subscriptions) = mpsc::unbounded_channel();
    let ua = UserAgent {
        commands,
        trace: trace.clone(),
        listeners,
        config: config.clone(),
    };
    let weak = ua.commands.downgrade();
    let driver = Driver {
        endpoint,
        layer,
        routes,
        lookup: Arc::new(lookup),
        trace_on: config.trace,
        trace,
        calls: HashMap::new(),
        requests: HashMap::new(),
        registrations: HashMap::new(),
        keepalive: HashMap::new(),
        subscriptions: HashMap::new(),
        incoming_subscriptions: subs_tx,
        incoming_calls: calls_tx,
        incoming_requests: requests_tx,
        weak,
        listeners_cfg: config.clone(),
    };
    tokio::spawn(driver.run(received, command_rx, stun));
    Ok((
        ua,
        Incoming {
            calls,
            requests,
            subscriptions,
        },
    ))
}

struct Driver {
    endpoint: Endpoint<Destination>,
    layer: TransportLayer,
    routes: Arc<Mutex<Routes>>,
    lookup: Arc<HickoryLookup>,
    trace_on: bool,
    trace: broadcast::Sender<TraceEntry>,
    calls: HashMap<Handle, mpsc::UnboundedSender<CallEvent>>,
    requests: HashMap<Handle, oneshot::Sender<Result<Response, Failure>>>,
    registrations: HashMap<Handle, mpsc::UnboundedSender<RegistrationEvent>>,
    /// Registrations to keep alive.
    keepalive: HashMap<Handle, KeepAlive>,
    subscriptions: HashMap<Handle, mpsc::UnboundedSender<SubscriptionEvent>>,
    incoming_subscriptions: mpsc::UnboundedSender<IncomingSubscription>,
    incoming_calls: mpsc::UnboundedSender<IncomingCall>,
    incoming_requests: mpsc::UnboundedSender<IncomingRequest>,
    /// To make `UserAgent` values for incoming calls without keeping the
    /// command channel open ourselves.
    weak: mpsc::WeakUnboundedSender<Command>,
    listeners_cfg: Config,
}

impl Driver {
    async fn run(
        mut self,
        mut received: mpsc::Receiver<Received>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut stun: broadcast::Receiver<StunReceived>,
    ) {
        let mut next_keepalive = self.next_keepalive();
        loop {
            let wake = self.endpoint.poll_timeout();
            let stun_at = self.next_stun_retransmit();
            let stun_timer = async {
                match stun_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let keepalive_at = next_keepalive;
            let keepalive = async {
                match keepalive_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = received.recv() => {
                    let Some(m) = m else { break };
                    self.on_received(m);
                }
                c = commands.recv() => {
                    match c {
                        None | Some(Command::Stop) => break,
                        Some(Command::Resolve { uri, reply }) => {
                            // Resolution may take a while: off the loop.
                            let routes = Arc::clone(&self.routes);
                            let lookup = Arc::clone(&self.lookup);
                            tokio::spawn(async move {
                                let _ = reply.send(resolve(uri, routes, lookup).await);
                            });
                        }
                        Some(c) => self.on_command(c),
                    }
                }
                () = sleep => {
                    self.endpoint.handle_timeout(Instant::now());
                }
                () = keepalive => {
                    self.send_keepalives().await;
                    next_keepalive = self.next_keepalive();
                }
                () = stun_timer => {
                    self.retransmit_keepalives().await;
                }
                r = stun.recv() => {
                    // Lagged: some responses lost, as if on the network.
                    if let Ok(r) = r {
                        self.on_stun_response(r);
                    }
                }
            }
            if next_keepalive.is_none() {
                next_keepalive = self.next_keepalive();
            }
            self.flush().await;
        }
        self.layer.shutdown();
    }

    /// When the next keep-alive is due (RFC 5626 §4.4.1: 80-100% of the
    /// interval), if any registration wants one.
    fn next_keepalive(&self) -> Option<tokio::time::Instant> {
        let interval = self.listeners_cfg.keepalive?;
        if !self.keepalive.values().any(|k| k.registered) {
            return None;
        }
        let frac = 0.8 + 0.2 * rand::random::<f64>();
        Some(tokio::time::Instant::now() + interval.mul_f64(frac))
    }

    /// A STUN Binding Request to each registered UDP flow (RFC 5626
    /// §4.4.2, §8), from the socket the REGISTER went out on, to the first
    /// hop, when the registration's 2xx said the first hop supports
    /// outbound (§8: the `keepalive` setting alone is the kind of "Do
    /// keep-alives?" option that MUST NOT imply STUN support). Other UDP
    /// flows get a CRLFCRLF datagram instead, which refreshes a NAT binding
    /// just as well and which registrars commonly ignore, without failure
    /// detection. A flow whose last
    /// request is still unanswered is left to its retransmissions
    /// ([`Driver::retransmit_keepalives`]); the responses come back on the
    /// transport layer's STUN channel ([`Driver::on_stun_response`]), and a
    /// missing response or a changed XOR-MAPPED-ADDRESS fails the flow
    /// ([`Driver::flow_failed`]: a new REGISTER, at once or after the §4.5
    /// back-off). Connection flows
    /// (TCP, TLS, WS) are pinged with CRLF by the transport layer (§4.4.1).
    async fn send_keepalives(&mut self) {
        let due: Vec<(Handle, Destination, bool)> = match self.routes.lock() {
            Ok(mut r) => self
                .keepalive
                .iter()
                .filter(|(_, k)| k.registered && k.pending.is_none())
                .filter_map(|(h, k)| Some((*h, r.hop(&k.first_hop)?.destination, k.stun)))
                .filter(|(_, d, _)| d.transport == Transport::Udp)
                .collect(),
            Err(_) => return,
        };
        let rto = self.listeners_cfg.t1;
        for (h, destination, stun) in due {
            if !stun {
                let _ = self
                    .layer
                    .send_bytes(&destination, Bytes::from_static(b"\r\n\r\n"))
                    .await;
                continue;
            }
            // RFC 5389 §6: a new random 96-bit transaction ID per request.
            let transaction_id: TransactionId = rand::random();
            let _ = self
                .layer
                .send_stun_binding(&destination, transaction_id)
                .await;
            if let Some(k) = self.keepalive.get_mut(&h) {
                k.pending = Some(StunPending {
                    transaction_id,
                    destination,
                    sent: 1,
                    next: tokio::time::Instant::now() + rto,
                });
            }
        }
    }

    /// When the next STUN keep-alive is due to be sent again (or given up).
    fn next_stun_retransmit(&self) -> Option<tokio::time::Instant> {
        self.keepalive
            .values()
            .filter_map(|k| k.pending.as_ref().map(|p| p.next))
            .min()
    }

    /// RFC 5389 §7.2.1: a Binding Request unanswered after RTO is sent
    /// again, the wait doubling each time; after the last (`STUN_SENDS`)
    /// the flow has failed (RFC 5626 §4.4.2, §8: "failure of a STUN
    /// request (including its retransmissions) is considered a failure of
    /// the underlying flow").
    async fn retransmit_keepalives(&mut self) {
        let now = tokio::time::Instant::now();
        let rto = self.listeners_cfg.t1;
        let due: Vec<Handle> = self
            .keepalive
            .iter()
            .filter(|(_, k)| k.pending.as_ref().is_some_and(|p| p.next <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            let Some(p) = self.keepalive.get_mut(&h).and_then(|k| k.pending.as_mut()) else {
                continue;
            };
            if p.sent >= STUN_SENDS {
                self.flow_failed(h);
                continue;
            }
            let wait = rto * 2u32.pow(p.sent);
            p.sent += 1;
            p.next = now + wait;
            let (d, tid) = (p.destination.clone(), p.transaction_id);
            let _ = self.layer.send_stun_binding(&d, tid).await;
        }
    }

    /// A Binding Response: matched to our request by transaction ID (RFC
    /// 5389 §7.3.3; anything else is ignored). RFC 5626 §4.4.2: an error
    /// response, or an XOR-MAPPED-ADDRESS other than the flow's first, is a
    /// failure of the flow.
    fn on_stun_response(&mut self, r: StunReceived) {
        let tid = r.response.transaction_id;
        let Some((h, k)) = self
            .keepalive
            .iter_mut()
            .find(|(_, k)| k.pending.as_ref().is_some_and(|p| p.transaction_id == tid))
        else {
            return;
        };
        let h = *h;
        k.pending = None;
        match r.response.outcome {
            BindingOutcome::Mapped(a) if k.mapped.is_none_or(|m| m == a) => {
                k.mapped = Some(a);
            }
            BindingOutcome::Mapped(_) | BindingOutcome::Error(_) => self.flow_failed(h),
        }
    }

    /// The flow of registration `h` failed (RFC 5626 §4.4.2): forget what
    /// we knew of it, stop its keep-alives until it is registered again,
    /// and have the endpoint register again over a new flow: now if a
    /// keep-alive was ever answered on this one (a "successful" flow,
    /// §4.5), else after the §4.5 back-off.
    fn flow_failed(&mut self, h: Handle) {
        let mut proven = false;
        if let Some(k) = self.keepalive.get_mut(&h) {
            proven = k.mapped.is_some();
            k.registered = false;
            k.mapped = None;
            k.pending = None;
        }
        let _ = self.endpoint.flow_failed(Instant::now(), h, proven);
    }

    fn on_received(&mut self, mut m: Received) {
        let now = Instant::now();
        if self.trace_on {
            let _ = self.trace.send(TraceEntry {
                at: SystemTime::now(),
                outgoing: false,
                transport: m.transport,
                peer: m.source,
                bytes: m.raw.clone(),
            });
        }
        let reliable = m.transport.is_reliable();
        let source = match &m.message {
            Message::Request(_) => {
                // (the transport parsed the top Via on receipt)
                let Some(via) = m.top_via.take().or_else(|| m.message.top_via().ok()) else {
                    return;
                };
                match response_destination(&via, m.transport, m.source, m.connection) {
                    Ok(mut d) => {
                        if m.transport == Transport::Udp {
                            d.local = Some(m.local);
                        }
                        d
                    }
                    Err(_) => {
                        let mut d = Destination::new(m.transport, m.source);
                        d.connection = m.connection;
                        d
                    }
                }
            }
            Message::Response(_) => Destination::new(m.transport, m.source),
        };
        // The transport layer validated it (`Message::validate`) before
        // passing it up, and answered 400 itself otherwise.
        self.endpoint
            .handle_message(now, m.message, source, reliable);
    }

    fn user_agent(&self) -> Option<UserAgent> {
        let commands = self.weak.upgrade()?;
        Some(UserAgent {
            commands,
            trace: self.trace.clone(),
            listeners: self.layer.listeners(),
            config: self.listeners_cfg.clone(),
        })
    }

    fn on_command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Call {
                target,
                body,
                headers,
                reply,
            } => {
                let r = self.endpoint.call(now, target, body, headers).map(|h| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    self.calls.insert(h, tx);
                    (h, rx)
                });
                let _ = reply.send(r.map_err(UaError::from));
            }
            Command::CallOp { call, op, reply } => {
                let e = &mut self.endpoint;
                let r = match op {
                    CallOp::Hangup => e.hangup(now, call),
                    CallOp::Ring(s, b) => e.ring(now, call, s, b),
                    CallOp::Answer(b) => e.answer(now, call, b),
                    CallOp::Reject(s) => e.reject(now, call, s),
                    CallOp::Redirect(t) => e.redirect(now, call, &t),
                    CallOp::Reinvite(b) => e.reinvite(now, call, b),
                    CallOp::RespondOffer(s, b) => e.respond_offer(now, call, s, b),
                    CallOp::Ack(b) => e.ack(now, call, b),
                    CallOp::Send(m, b, h) => e.send_in_dialog(now, call, m, b, h).map(|_| ()),
                    CallOp::RingReliably(s, b) => e.ring_reliably(now, call, s, b),
                    CallOp::Prack(b) => e.prack(now, call, b),
                    CallOp::Transfer(t, r) => e.transfer(now, call, t, r.as_ref()).map(|_| ()),
                    CallOp::TransferProgress(s) => e.transfer_progress(now, call, s),
                };
                let _ = reply.send(r);
            }
            Command::Request {
                method,
                target,
                body,
                headers,
                reply,
            } => {
                let r = self
                    .endpoint
                    .request(now, method, target, body, headers)
                    .map(|h| {
                        let (tx, rx) = oneshot::channel();
                        self.requests.insert(h, tx);
                        rx
                    });
                let _ = reply.send(r.map_err(UaError::from));
            }
            Command::Register {
                registrar,
                expires,
                reply,
            } => {
                let first_hop = self
                    .listeners_cfg
                    .outbound_proxy
                    .clone()
                    .unwrap_or_else(|| registrar.clone());
                let r = self.endpoint.register(now, registrar, expires).map(|h| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    self.registrations.insert(h, tx);
                    self.keepalive.insert(
                        h,
                        KeepAlive {
                            first_hop,
                            registered: false,
                            stun: false,
                            mapped: None,
                            pending: None,
                        },
                    );
                    (h, rx)
                });
                let _ = reply.send(r.map_err(UaError::from));
            }
            Command::Unregister { handle, reply } => {
                let _ = reply.send(self.endpoint.unregister(now, handle));
            }
            Command::Respond {
                handle,
                status,
                body,
                reply,
            } => {
                let _ = reply.send(self.endpoint.respond(now, handle, status, body, vec![]));
            }
            Command::Subscribe {
                target,
                event,
                accept,
                expires,
                reply,
            } => {
                let r = self
                    .endpoint
                    .subscribe(now, target, &event, &accept, expires)
                    .map(|h| {
                        let (tx, rx) = mpsc::unbounded_channel();
                        self.subscriptions.insert(h, tx);
                        (h, rx)
                    });
                let _ = reply.send(r.map_err(UaError::from));
            }
            Command::Accept {
                handle,
                expires,
                status,
                reply,
            } => {
                let r = self
                    .endpoint
                    .accept_subscription(now, handle, expires, status)
                    .map(|()| {
                        let (tx, rx) = mpsc::unbounded_channel();
                        self.subscriptions.insert(handle, tx);
                        (handle, rx)
                    });
                let _ = reply.send(r.map_err(UaError::from));
            }
            Command::SubscriptionOp { handle, op, reply } => {
                let e = &mut self.endpoint;
                let r = match op {
                    SubscriptionOp::Unsubscribe => e.unsubscribe(now, handle),
                    SubscriptionOp::Reject(s) => e.reject_subscription(now, handle, s),
                    SubscriptionOp::Notify(state, body) => e.notify(now, handle, state, body),
                };
                let _ = reply.send(r);
            }
            Command::DialogId { call, reply } => {
                let _ = reply.send(self.endpoint.dialog(call).map(|d| d.id.clone()));
            }
            Command::Resolve { .. } | Command::Stop => {}
        }
    }

    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.endpoint.poll_transmit() {
                progressed = true;
                if self.trace_on {
                    let _ = self.trace.send(TraceEntry {
                        at: SystemTime::now(),
                        outgoing: true,
                        transport: t.destination.transport,
                        peer: t.destination.addr,
                        bytes: t.message.clone(),
                    });
                }
                if self
                    .layer
                    .send_bytes(&t.destination, t.message)
                    .await
                    .is_err()
                {
                    if let Some(tx) = t.transaction {
                        self.endpoint.handle_transport_error(Instant::now(), tx);
                    }
                }
            }
            while let Some(ev) = self.endpoint.poll_event() {
                progressed = true;
                self.dispatch(ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::IncomingCall { call, request } => {
                let Some(ua) = self.user_agent() else {
                    return;
                };
                let (tx, rx) = mpsc::unbounded_channel();
                self.calls.insert(call, tx);
                let _ = self.incoming_calls.send(IncomingCall {
                    call: Call {
                        handle: call,
                        events: rx,
                        ua,
                        ended: false,
                    },
                    request,
                });
            }
            Event::Call { call, event } => {
                let ended = matches!(event, CallEvent::Ended { .. });
                if let Some(tx) = self.calls.get(&call) {
                    let _ = tx.send(event);
                }
                if ended {
                    self.calls.remove(&call);
                }
            }
            Event::IncomingRequest { request, message } => {
                let Some(ua) = self.user_agent() else {
                    return;
                };
                let _ = self.incoming_requests.send(IncomingRequest {
                    handle: request,
                    request: message,
                    ua,
                    answered: false,
                });
            }
            Event::Response { request, response } => {
                if let Some(tx) = self.requests.remove(&request) {
                    let _ = tx.send(Ok(response));
                }
            }
            Event::RequestFailed { request, failure } => {
                if let Some(tx) = self.requests.remove(&request) {
                    let _ = tx.send(Err(failure));
                }
            }
            Event::Registration {
                registration,
                event,
            } => {
                let last = matches!(
                    event,
                    RegistrationEvent::Unregistered
                        | RegistrationEvent::Failed { retry_in: None, .. }
                );
                if let Some(k) = self.keepalive.get_mut(&registration) {
                    k.registered = matches!(event, RegistrationEvent::Registered { .. });
                    k.stun = matches!(event, RegistrationEvent::Registered { outbound: true, .. });
                    if !k.registered {
                        k.pending = None;
                    }
                }
                if let Some(tx) = self.registrations.get(&registration) {
                    let _ = tx.send(event);
                }
                if last {
                    self.registrations.remove(&registration);
                    self.keepalive.remove(&registration);
                }
            }
            Event::IncomingSubscription {
                subscription,
                request,
            } => {
                let Some(ua) = self.user_agent() else {
                    return;
                };
                let _ = self.incoming_subscriptions.send(IncomingSubscription {
                    handle: subscription,
                    request,
                    ua,
                    answered: false,
                });
            }
            Event::Subscription {
                subscription,
                event,
            } => {
                let last = matches!(
                    event,
                    SubscriptionEvent::Terminated { .. } | SubscriptionEvent::Failed { .. }
                );
                if let Some(tx) = self.subscriptions.get(&subscription) {
                    let _ = tx.send(event);
                }
                if last {
                    self.subscriptions.remove(&subscription);
                }
            }
        }
    }
}

/// Resolves the host of a URI (RFC 3263) into the router's table; IP
/// literals need nothing.
async fn resolve(
    uri: Uri,
    routes: Arc<Mutex<Routes>>,
    lookup: Arc<HickoryLookup>,
) -> Result<(), UaError> {
    let Uri::Sip(s) = &uri else {
        return Err(UaError::Uri(format!(
            "{uri}: only sip: and sips: URIs can be reached"
        )));
    };
    if !matches!(s.host, Host::Domain(_)) {
        return Ok(());
    }
    let key = name_key(s);
    let mut s2 = s.clone();
    let forced = routes.lock().map(|r| r.default_transport).ok();
    if s2.transport().is_none() && s2.scheme == Scheme::Sip {
        if let Some(t) = forced.filter(|t| *t != Transport::Udp) {
            s2.set_param("transport", Some(&t.as_str().to_ascii_lowercase()));
        }
    }
    let transports = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];
    let rc = ResolveConfig::with_transports(&transports);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(rand::random());
    let targets = resolve_uri(&s2, &rc, lookup.as_ref(), &mut rng)
        .await
        .map_err(|e| UaError::Dns(format!("{uri}: {e}")))?;
    let first = targets
        .into_iter()
        .next()
        .ok_or_else(|| UaError::Dns(format!("{uri}: no server found")))?;
    if let Ok(mut r) = routes.lock() {
        r.names
            .insert(key, (first.transport, first.addr, first.host.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(listeners: &[(Transport, &str)]) -> Routes {
        Routes {
            listeners: listeners
                .iter()
                .map(|(t, a)| (*t, a.parse().unwrap()))
                .collect(),
            default_transport: Transport::Udp,
            names: HashMap::new(),
            local_ips: HashMap::new(),
        }
    }

    fn hop(r: &mut Routes, uri: &str) -> Hop<Destination> {
        r.hop(&Uri::parse(uri).unwrap()).unwrap()
    }

    /// RFC 7118 §5.2, §5.5: `sips:` with `transport=ws` is WSS (port 443
    /// by default); `transport=wss`, as some write it, is WSS too; `sip:`
    /// with `ws` is plain WS. RFC 3261 §26.2.2: `sips:` with `tcp` is TLS.
    #[test]
    fn transport_of_reads_sips_with_ws_as_wss() {
        let mut r = routes(&[
            (Transport::Udp, "127.0.0.1:5060"),
            (Transport::Tcp, "127.0.0.1:5060"),
        ]);
        let h = hop(&mut r, "sips:127.0.0.1:8443;transport=ws;lr");
        assert_eq!(h.transport, Transport::Wss);
        assert_eq!(h.destination.transport, Transport::Wss);
        assert_eq!(h.destination.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            hop(&mut r, "sips:127.0.0.1;transport=ws")
                .destination
                .addr
                .port(),
            443
        );
        assert_eq!(
            hop(&mut r, "sips:127.0.0.1:8443;transport=wss").transport,
            Transport::Wss
        );
        assert_eq!(
            hop(&mut r, "sip:127.0.0.1:8443;transport=wss").transport,
            Transport::Wss
        );
        let ws = hop(&mut r, "sip:127.0.0.1:8080;transport=ws");
        assert_eq!(ws.transport, Transport::Ws);
        assert_eq!(
            hop(&mut r, "sips:127.0.0.1;transport=tcp").transport,
            Transport::Tls
        );
        assert_eq!(hop(&mut r, "sips:127.0.0.1").transport, Transport::Tls);
        assert_eq!(hop(&mut r, "sip:127.0.0.1").transport, Transport::Udp);
    }
}
