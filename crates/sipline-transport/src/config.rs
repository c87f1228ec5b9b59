//! Configuration of the transport layer.

use sipline_message::Transport;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One address to listen on with one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// The transport (UDP, TCP, TLS, WS or WSS; SCTP is refused, see the README).
    pub transport: Transport,
    /// The address; port 0 picks a free port ([`crate::TransportLayer::listeners`]
    /// reports it). A TCP listener with port 0 on the same IP as a UDP listener
    /// with port 0 is given the UDP port (the UDP port is picked again, a few
    /// times, while that TCP port is taken), as RFC 3261 §18.2.1
    /// wants ("for any port and interface that a server listens on for UDP, it
    /// MUST listen on that same port and interface for TCP").
    pub addr: SocketAddr,
}

impl ListenSpec {
    /// A listener for `transport` on `addr`.
    pub fn new(transport: Transport, addr: SocketAddr) -> Self {
        Self { transport, addr }
    }
}

/// PEM text, from a file or in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file holding PEM blocks.
    File(PathBuf),
    /// PEM blocks in memory.
    Pem(String),
}

impl PemSource {
    pub(crate) fn load(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::File(p) => std::fs::read(p),
            Self::Pem(s) => Ok(s.clone().into_bytes()),
        }
    }
}

/// The server side of TLS (TLS and WSS listeners): certificate chain and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// The certificate chain, leaf first.
    pub cert_chain: PemSource,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PemSource,
}

/// The client side of TLS (outgoing TLS and WSS connections).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientConfig {
    /// Trusted root certificates. The server's certificate is checked against
    /// these and the name in [`crate::Destination::server_name`] (or the IP
    /// address when there is none). System roots are not loaded: list them
    /// here (see the README).
    pub roots: Vec<PemSource>,
}

/// Keep-alive behaviour on connections.
///
/// The CRLF keep-alive of RFC 5626 §3.5.1 and §4.4.1: the client sends a
/// double-CRLF "ping", the server answers a single-CRLF "pong". The server
/// side ([`KeepaliveConfig::answer_crlf_ping`]) is on by default; the client
/// side ([`KeepaliveConfig::ping_interval`]) is off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Answer a CRLFCRLF "ping" on a stream or WebSocket connection with a
    /// CRLF "pong" (RFC 5626 §3.5.1). Default true.
    pub answer_crlf_ping: bool,
    /// Turn on TCP keep-alive (SO_KEEPALIVE) with this idle time on every
    /// TCP, TLS, WS and WSS connection. Default none.
    pub tcp_keepalive: Option<Duration>,
    /// Send CRLFCRLF pings on connections this layer opened (outbound TCP,
    /// TLS, WS and WSS; not on accepted ones), RFC 5626 §4.4.1. This is the
    /// upper bound of the interval: each wait is drawn at random between 80%
    /// and 100% of it, anew for every ping ("the lower bound is 20% less
    /// then the upper bound"). The RFC recommends 120 s
    /// ([`KeepaliveConfig::RECOMMENDED_PING_INTERVAL`], so 96–120 s), or
    /// 840 s where battery power is a concern. Over WS and WSS the ping is a
    /// text frame holding CRLFCRLF (RFC 7118 §6 allows the RFC 5626 CRLF
    /// keep-alive there). Default none (no pings).
    pub ping_interval: Option<Duration>,
    /// How long to wait for the CRLF pong after a ping before the connection
    /// is treated as failed: it is closed and reported with
    /// [`crate::CloseReason::KeepaliveTimeout`]. Only a CRLF counts as a pong
    /// (other data received meanwhile does not). Default 10 s, as RFC 5626
    /// §4.4.1 requires.
    pub pong_timeout: Duration,
}

impl KeepaliveConfig {
    /// The ping interval upper bound RFC 5626 §4.4.1 recommends "where
    /// battery power is not a concern": 120 s.
    pub const RECOMMENDED_PING_INTERVAL: Duration = Duration::from_secs(120);
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self {
            answer_crlf_ping: true,
            tcp_keepalive: None,
            ping_interval: None,
            pong_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything [`crate::TransportLayer::start`] needs.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Addresses to listen on; several transports, IPv4 and IPv6 at once.
    pub listen: Vec<ListenSpec>,
    /// Certificate and key for TLS and WSS listeners (required when there is one).
    pub tls: Option<TlsServerConfig>,
    /// Trust for outgoing TLS and WSS connections.
    pub tls_client: TlsClientConfig,
    /// Most open connections (accepted and opened, all transports). Beyond
    /// it, new incoming connections are refused (closed at once); outgoing
    /// ones are still opened. Default 1024.
    pub max_connections: usize,
    /// A connection with nothing read or written for this long is closed.
    /// Default 300 s, for accepted and opened connections alike: longer than
    /// the 95–120 s a RFC 5626 client pings at, so kept-alive flows stay open.
    pub idle_timeout: Duration,
    /// Longest wait to open a connection, TLS and WebSocket handshakes
    /// included (outgoing and incoming). Default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for one write to a connection. Default 10 s.
    pub write_timeout: Duration,
    /// Largest message accepted, and the most bytes buffered per connection.
    /// Default 65 535.
    pub max_message_size: usize,
    /// Path MTU for UDP: a request larger than `udp_mtu - 200` bytes goes over
    /// TCP (RFC 3261 §18.1.1). Default 1500 (1300-byte requests).
    pub udp_mtu: usize,
    /// Capacity of the [`crate::Incoming`] channel. Default 1024.
    pub incoming_queue: usize,
    /// Keep-alive behaviour.
    pub keepalive: KeepaliveConfig,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            tls: None,
            tls_client: TlsClientConfig::default(),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_message_size: 65_535,
            udp_mtu: 1500,
            incoming_queue: 1024,
            keepalive: KeepaliveConfig::default(),
        }
    }
}
