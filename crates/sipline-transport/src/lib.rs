//! The SIP transport layer (RFC 3261 §18): UDP, TCP, TLS and SIP over
//! WebSocket (RFC 7118, WS and WSS), on tokio.
//!
//! [`TransportLayer::start`] binds the configured listeners and hands back a
//! channel of [`Incoming`] messages. Received requests have their top Via
//! stamped with `received` and `rport` (RFC 3261 §18.2.1, RFC 3581 §4);
//! malformed requests are answered with 400 by the transport itself.
//! [`TransportLayer::send`] sends to a [`Destination`], reusing open
//! connections and opening new ones on demand; [`response_destination`]
//! says where a response goes (RFC 3261 §18.2.2). Connection closes are
//! reported as [`TransportEvent`]s ([`TransportLayer::subscribe`]) so the
//! transaction layer can fail the transactions that used them (§17.1.4).
//!
//! The CRLF keep-alive of RFC 5626 §3.5.1 and §4.4.1 is answered on every
//! connection and, with [`KeepaliveConfig::ping_interval`], sent on the
//! connections the layer opens; a missing pong closes the connection with
//! [`CloseReason::KeepaliveTimeout`].
//!
//! Every UDP listener answers STUN Binding Requests (RFC 5626 §8). For a
//! user agent's STUN keep-alives over UDP (RFC 5626 §4.4.2),
//! [`TransportLayer::send_stun_binding`] sends a Binding Request and
//! [`TransportLayer::subscribe_stun`] hands back the Binding Responses that
//! arrive, for the caller to match by transaction ID ([`stun`]).
//!
//! SCTP (RFC 4168) is not implemented: see the README.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod connection;
mod counters;
mod destination;
mod error;
mod inbound;
mod sctp;
pub mod stun;
mod tcp;
mod tls;
mod udp;
mod via;
mod ws;

pub use config::{
    KeepaliveConfig, ListenSpec, PemSource, TlsClientConfig, TlsServerConfig, TransportConfig,
};
pub use connection::{CloseReason, ConnectionId, ConnectionInfo};
pub use counters::{CountersSnapshot, TransportCounters};
pub use destination::{response_destination, Destination, NeedsResolution};
pub use error::SendError;

use bytes::Bytes;
use connection::Connections;
use counters::Counters;
use sipline_message::header::{NameAddr, Via};
use sipline_message::parse::ParseOptions;
use sipline_message::{Message, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// A message received by the transport layer.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The message; for a request, the top Via has `received`/`rport` added
    /// as RFC 3261 §18.2.1 and RFC 3581 §4 say.
    pub message: Message,
    /// For a request: its top Via as parsed on receipt, with the
    /// `received`/`rport` added (what `message.top_via()` gives), so that
    /// the receiver need not parse it again, e.g. for
    /// [`response_destination`].
    pub top_via: Option<Via>,
    /// Its To as parsed on receipt (what `message.to_header()` gives), for
    /// the same reason.
    pub to: NameAddr,
    /// The bytes as received (before the Via was stamped).
    pub raw: Bytes,
    /// The transport it came over.
    pub transport: Transport,
    /// The peer's address (the packet source).
    pub source: SocketAddr,
    /// Our address it came to (the listener, or our end of the connection).
    pub local: SocketAddr,
    /// The connection it came over (not for UDP).
    pub connection: Option<ConnectionId>,
}

/// A change in the connections, for the transaction layer (RFC 3261 §17.1.4:
/// a transport failure fails the transactions using the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// A connection was accepted or opened.
    ConnectionOpened(ConnectionInfo),
    /// A connection closed; it can no longer be used.
    ConnectionClosed {
        /// The connection.
        id: ConnectionId,
        /// Its transport.
        transport: Transport,
        /// The peer's address.
        remote: SocketAddr,
        /// Why it closed.
        reason: CloseReason,
    },
}

/// Picks the queue of a received message: see [`TransportLayer::start_sharded`].
pub type Route = dyn Fn(&Incoming) -> usize + Send + Sync;

/// The queues received messages are passed up on.
pub(crate) struct Inbound {
    senders: Vec<mpsc::Sender<Incoming>>,
    route: Arc<Route>,
}

impl Inbound {
    /// Waits for room in the message's queue (back-pressure on the receiver).
    pub(crate) async fn send(&self, inc: Incoming) {
        let i = match self.senders.len() {
            1 => 0,
            n => (self.route)(&inc) % n,
        };
        let _ = self.senders[i].send(inc).await;
    }
}

/// Shared state of a running transport layer.
pub(crate) struct Inner {
    pub(crate) config: TransportConfig,
    pub(crate) incoming: Inbound,
    pub(crate) events: broadcast::Sender<TransportEvent>,
    /// STUN Binding Responses received on the UDP sockets.
    pub(crate) stun: broadcast::Sender<stun::StunReceived>,
    pub(crate) counters: Counters,
    pub(crate) conns: Connections,
    pub(crate) udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    pub(crate) listeners: Vec<(Transport, SocketAddr)>,
    pub(crate) tls_acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) tls_connector: tokio_rustls::TlsConnector,
    pub(crate) shutdown: CancellationToken,
    epoch: Instant,
}

impl Inner {
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How to parse a message received over `t`: streams need Content-Length
    /// (RFC 3261 §18.3); datagrams and WebSocket messages do not (RFC 7118 §5).
    pub(crate) fn parse_options(&self, t: Transport) -> ParseOptions {
        ParseOptions {
            stream: t.is_stream(),
            max_message_size: self.config.max_message_size,
            ..ParseOptions::default()
        }
    }
}

/// The running transport layer. Cheap to clone (an `Arc` inside); when the
/// last clone is dropped, it shuts down as [`TransportLayer::shutdown`] does.
#[derive(Clone)]
pub struct TransportLayer {
    inner: Arc<Inner>,
    _stop_on_drop: Arc<tokio_util::sync::DropGuard>,
}

impl std::fmt::Debug for TransportLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportLayer")
            .field("listeners", &self.inner.listeners)
            .finish_non_exhaustive()
    }
}

/// A bound listener, before the tasks start.
enum Bound {
    Udp(SocketAddr, Arc<UdpSocket>),
    Tcp(Transport, SocketAddr, tokio::net::TcpListener),
}

/// Binds a TCP listener on the port of `udp`, a UDP listener bound from
/// `spec` with port 0 (RFC 3261 §18.2.1: a server listening on a UDP port
/// MUST listen on the same port for TCP). The kernel picked that port free
/// for UDP only; the same TCP port may be taken, e.g. as the local port of
/// an outgoing connection of this or another process (Linux gives those
/// from the same range). The listeners then got different ports; now the
/// UDP socket is bound again on another port and the pair tried again, a
/// few times. None if every try failed.
fn pair_with_udp(udp: &mut Bound, spec: SocketAddr) -> Option<tokio::net::TcpListener> {
    const TRIES: usize = 16;
    for _ in 0..TRIES {
        let Bound::Udp(addr, _) = udp else {
            return None;
        };
        match tcp::bind(*addr) {
            Ok(l) => return Some(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
            Err(_) => return None,
        }
        // Bound before the old socket closes, so it gets another port.
        let sock = udp::bind(spec).ok()?;
        let addr = sock.local_addr().ok()?;
        *udp = Bound::Udp(addr, Arc::new(sock));
    }
    None
}

impl TransportLayer {
    /// Binds every listener of `config` and starts receiving. Must be called
    /// within a tokio runtime. Fails if a listener cannot be bound, a TLS or
    /// WSS listener has no [`TransportConfig::tls`], the TLS material does
    /// not load, or a listener is SCTP (not supported, see the README).
    pub fn start(
        config: TransportConfig,
    ) -> io::Result<(TransportLayer, mpsc::Receiver<Incoming>)> {
        let (layer, mut queues) = Self::start_sharded(config, 1, Arc::new(|_| 0))?;
        let rx = queues.pop().expect("one queue");
        Ok((layer, rx))
    }

    /// Like [`TransportLayer::start`], with the received messages split over
    /// `queues` queues (at least one): `route` picks each message's queue
    /// (taken modulo their number). A server that handles messages on
    /// several cores routes every message of a transaction or dialog to
    /// the same queue, e.g. by Call-ID. `route` runs on the receiving task,
    /// after parsing: it should be cheap.
    pub fn start_sharded(
        config: TransportConfig,
        queues: usize,
        route: Arc<Route>,
    ) -> io::Result<(TransportLayer, Vec<mpsc::Receiver<Incoming>>)> {
        tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("no tokio runtime: {e}")))?;
        let tls_acceptor = match &config.tls {
            Some(t) => Some(tls::server(t)?),
            None => None,
        };
        let tls_connector = tls::client(&config.tls_client)?;

        // UDP first, so that a TCP listener with port 0 can take the same
        // port (RFC 3261 §18.2.1).
        let mut bound = Vec::new();
        // IP -> where in `bound` its first UDP listener with port 0 is, and its spec
        let mut udp_any: HashMap<IpAddr, (usize, SocketAddr)> = HashMap::new();
        for spec in config
            .listen
            .iter()
            .filter(|s| s.transport == Transport::Udp)
        {
            let sock = udp::bind(spec.addr)?;
            let addr = sock.local_addr()?;
            if spec.addr.port() == 0 {
                udp_any.entry(addr.ip()).or_insert((bound.len(), spec.addr));
            }
            bound.push(Bound::Udp(addr, Arc::new(sock)));
        }
        for spec in config
            .listen
            .iter()
            .filter(|s| s.transport != Transport::Udp)
        {
            let t = spec.transport;
            match t {
                Transport::Sctp => return Err(sctp::unsupported()),
                Transport::Tls | Transport::Wss if tls_acceptor.is_none() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{t} listener {} needs TransportConfig::tls", spec.addr),
                    ))
                }
                _ => {}
            }
            let paired = (t == Transport::Tcp && spec.addr.port() == 0)
                .then(|| udp_any.remove(&spec.addr.ip()))
                .flatten()
                .and_then(|(i, udp_spec)| pair_with_udp(&mut bound[i], udp_spec));
            let listener = match paired {
                Some(l) => l,
                None => tcp::bind(spec.addr)?,
            };
            bound.push(Bound::Tcp(t, listener.local_addr()?, listener));
        }

        let listeners = bound
            .iter()
            .map(|b| match b {
                Bound::Udp(a, _) => (Transport::Udp, *a),
                Bound::Tcp(t, a, _) => (*t, *a),
            })
            .collect();
        let udp = bound
            .iter()
            .filter_map(|b| match b {
                Bound::Udp(a, s) => Some((*a, s.clone())),
                Bound::Tcp(..) => None,
            })
            .collect();
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..queues.max(1))
            .map(|_| mpsc::channel(config.incoming_queue.max(1)))
            .unzip();
        let (events, _) = broadcast::channel(256);
        let (stun, _) = broadcast::channel(256);
        let inner = Arc::new(Inner {
            config,
            incoming: Inbound { senders, route },
            events,
            stun,
            counters: Counters::default(),
            conns: Connections::new(),
            udp,
            listeners,
            tls_acceptor,
            tls_connector,
            shutdown: CancellationToken::new(),
            epoch: Instant::now(),
        });
        for b in bound {
            match b {
                Bound::Udp(a, s) => {
                    tokio::spawn(udp::recv_loop(inner.clone(), s, a));
                }
                Bound::Tcp(t, _, l) => {
                    tokio::spawn(tcp::accept_loop(inner.clone(), l, t));
                }
            }
        }
        let guard = Arc::new(inner.shutdown.clone().drop_guard());
        Ok((
            TransportLayer {
                inner,
                _stop_on_drop: guard,
            },
            receivers,
        ))
    }

    /// The bound listeners, with the ports picked for port 0.
    pub fn listeners(&self) -> Vec<(Transport, SocketAddr)> {
        self.inner.listeners.clone()
    }

    /// The first bound listener of `transport`, if any.
    pub fn listener(&self, transport: Transport) -> Option<SocketAddr> {
        self.inner
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// Subscribes to connection events (from now on).
    pub fn subscribe(&self) -> broadcast::Receiver<TransportEvent> {
        self.inner.events.subscribe()
    }

    /// Subscribes to the STUN Binding Responses (success and error) that
    /// arrive on the UDP listeners from now on, e.g. to keep-alives sent
    /// with [`TransportLayer::send_stun_binding`]; the subscriber matches
    /// them to its requests by transaction ID (RFC 5389 §7.3.3). Without a
    /// subscriber they are dropped (they are not counted as errors).
    pub fn subscribe_stun(&self) -> broadcast::Receiver<stun::StunReceived> {
        self.inner.stun.subscribe()
    }

    /// Sends a STUN Binding Request with `transaction_id` (random, RFC 5389
    /// §6) to `dest` from the UDP listener bound to `dest.local` (or the
    /// first of the address family): the keep-alive of RFC 5626 §4.4.2 and
    /// §8, over the same flow as the SIP messages to `dest`. UDP only:
    /// [`SendError::Unsupported`] for other transports (RFC 5626 §4.4.2:
    /// STUN "MUST NOT be used for connection-oriented transports"). The
    /// response comes on [`TransportLayer::subscribe_stun`].
    pub async fn send_stun_binding(
        &self,
        dest: &Destination,
        transaction_id: stun::TransactionId,
    ) -> Result<(), SendError> {
        if dest.transport != Transport::Udp {
            return Err(SendError::Unsupported(dest.transport));
        }
        let data = stun::BindingRequest::new(transaction_id).encode();
        udp::send_datagram(&self.inner, dest.addr, dest.local, &data, false).await
    }

    /// Sends `msg` to `dest`.
    ///
    /// - [`Destination::connection`], if still open, is used first.
    /// - UDP: a request larger than `udp_mtu - 200` bytes goes over TCP to
    ///   the same address instead, with the top Via's transport rewritten
    ///   (RFC 3261 §18.1.1); if TCP fails the error is returned (no silent
    ///   fallback to UDP).
    /// - TCP, TLS, WS, WSS: an open connection to the same transport and
    ///   address is reused (accepted or opened; RFC 3261 §18.1.1, RFC 5923),
    ///   else one is opened within the connect timeout.
    pub async fn send(&self, dest: &Destination, msg: &Message) -> Result<(), SendError> {
        let inner = &self.inner;
        let on_open_connection = dest
            .connection
            .is_some_and(|id| inner.conns.get(id).is_some());
        let limit = inner.config.udp_mtu.saturating_sub(200);
        if dest.transport == Transport::Udp
            && !on_open_connection
            && msg.is_request()
            && msg.encoded_len() > limit
        {
            // RFC 3261 §18.1.1: congestion-controlled transport for
            // requests within 200 bytes of the MTU.
            let mut tcp_msg = msg.clone();
            via::set_top_via_transport(&mut tcp_msg, Transport::Tcp)
                .map_err(|e| SendError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
            let tcp = Destination {
                transport: Transport::Tcp,
                ..dest.clone()
            };
            return self.send_raw(&tcp, tcp_msg.to_bytes()).await.map(|_| ());
        }
        self.send_raw(dest, msg.to_bytes()).await.map(|_| ())
    }

    /// Sends bytes already serialized (e.g. a transaction's [`Transmit`]),
    /// as they are: no switch from UDP to TCP here, for the sender decided
    /// the transport when it built the message's Via (RFC 3261 §18.1.1).
    ///
    /// [`Transmit`]: https://docs.rs/sipline-transaction
    pub async fn send_bytes(&self, dest: &Destination, data: Bytes) -> Result<(), SendError> {
        self.send_raw(dest, data).await.map(|_| ())
    }

    /// Like [`TransportLayer::send_bytes`], saying whether `data` is a
    /// retransmission (a transaction's `Transmit::retransmission`); those
    /// are counted in [`TransportCounters::retransmissions_out`] of the
    /// transport they went over, besides `messages_out`.
    pub async fn send_transmit(
        &self,
        dest: &Destination,
        data: Bytes,
        retransmission: bool,
    ) -> Result<(), SendError> {
        let used = self.send_raw(dest, data).await?;
        if retransmission {
            let c = self.inner.counters.of(used);
            counters::Atomic::add(&c.retransmissions_out, 1);
        }
        Ok(())
    }

    /// Sends a UDP datagram now if the socket takes it without waiting:
    /// `Ok(true)` sent, `Ok(false)` the socket's buffer is full (send it
    /// with [`TransportLayer::send_transmit`] instead, after anything
    /// already waiting for it). For a caller on its own thread that sends
    /// many datagrams and should not wake another task for each batch.
    pub fn try_send_udp(
        &self,
        dest: &Destination,
        data: &[u8],
        retransmission: bool,
    ) -> Result<bool, SendError> {
        let inner = &self.inner;
        match udp::try_send(inner, dest.addr, dest.local, data) {
            Ok(()) => {
                if retransmission {
                    let c = inner.counters.of(Transport::Udp);
                    counters::Atomic::add(&c.retransmissions_out, 1);
                }
                Ok(true)
            }
            Err(SendError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends `data` as it is; returns the transport it went over.
    async fn send_raw(&self, dest: &Destination, data: Bytes) -> Result<Transport, SendError> {
        let inner = &self.inner;
        if let Some(id) = dest.connection {
            if let Some(conn) = inner.conns.get(id) {
                match conn.write(inner, data.clone(), true).await {
                    Err(SendError::ConnectionClosed { .. }) => {}
                    other => return other.map(|()| conn.transport),
                }
            }
        }
        match dest.transport {
            Transport::Udp => udp::send_datagram(inner, dest.addr, dest.local, &data, true)
                .await
                .map(|()| Transport::Udp),
            Transport::Sctp => Err(SendError::Unsupported(Transport::Sctp)),
            t => {
                let conn = match inner.conns.find(t, dest.addr) {
                    Some(c) => c,
                    None => tcp::open(inner, t, dest.addr, dest.server_name.as_deref()).await?,
                };
                conn.write(inner, data, true).await.map(|()| t)
            }
        }
    }

    /// Sends a response; the same as [`TransportLayer::send`] (the
    /// destination comes from [`response_destination`]).
    pub async fn send_response(&self, dest: &Destination, msg: &Message) -> Result<(), SendError> {
        self.send(dest, msg).await
    }

    /// The counters of every transport.
    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }

    /// The open connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.inner.conns.list()
    }

    /// The open connection with this id, if it is still open (one lookup,
    /// where [`TransportLayer::connections`] lists them all).
    pub fn connection(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.inner.conns.get(id).map(|c| c.info())
    }

    /// Closes a connection; returns false if it was not open.
    pub fn close_connection(&self, id: ConnectionId) -> bool {
        match self.inner.conns.get(id) {
            Some(c) => {
                c.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops listening and closes every connection.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }
}

/// The local address the system routes to `remote` from (a UDP socket is
/// connected, no packet is sent); the unspecified address if there is no
/// route. For Via sent-by and Contact when listening on a wildcard address.
pub fn local_ip_for(remote: SocketAddr) -> IpAddr {
    let any: SocketAddr = if remote.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| s.connect(remote).and_then(|()| s.local_addr()))
        .map_or(any.ip(), |a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sctp_listener_is_refused() {
        let config = TransportConfig {
            listen: vec![ListenSpec::new(
                Transport::Sctp,
                "127.0.0.1:0".parse().unwrap(),
            )],
            ..TransportConfig::default()
        };
        let err = TransportLayer::start(config).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("RFC 4168"), "{err}");
    }

    #[test]
    fn start_needs_a_runtime() {
        assert!(TransportLayer::start(TransportConfig::default()).is_err());
    }
}
