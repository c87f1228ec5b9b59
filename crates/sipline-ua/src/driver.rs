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
    tokio::spawn(driver.run(received, command_rx));
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
    /// Registrations to keep alive: handle → (URI of the first hop, registered).
    keepalive: HashMap<Handle, (Uri, bool)>,
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
    ) {
        let mut next_keepalive = self.next_keepalive();
        loop {
            let wake = self.endpoint.poll_timeout();
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
        if !self.keepalive.values().any(|(_, registered)| *registered) {
            return None;
        }
        let frac = 0.8 + 0.2 * rand::random::<f64>();
        Some(tokio::time::Instant::now() + interval.mul_f64(frac))
    }

    /// A CRLFCRLF datagram to each registered UDP flow (RFC 5626 §3.5.1
    /// gives STUN for UDP; registrars commonly take the CRLF form, which
    /// refreshes NAT bindings the same way, and sipline serve ignores it).
    /// Connection flows are pinged by the transport layer.
    async fn send_keepalives(&mut self) {
        let hops: Vec<Destination> = match self.routes.lock() {
            Ok(mut r) => self
                .keepalive
                .values()
                .filter(|(_, registered)| *registered)
                .filter_map(|(uri, _)| r.hop(uri))
                .map(|h| h.destination)
                .filter(|d| d.transport == Transport::Udp)
                .collect(),
            Err(_) => return,
        };
        for d in hops {
            let _ = self
                .layer
                .send_bytes(&d, Bytes::from_static(b"\r\n\r\n"))
                .await;
        }
    }

    fn on_received(&mut self, m: Received) {
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
                let Ok(via) = m.message.top_via() else {
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
                    self.keepalive.insert(h, (first_hop, false));
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
                    k.1 = matches!(event, RegistrationEvent::Registered { .. });
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
