//! RFC 3263 §4 (locating the server for a request) and §5 (the client for a response), over
//! any [`Lookup`].

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rand::Rng;
use sipline_message::uri::{Host, Scheme, SipUri};
use sipline_message::Transport;

use crate::lookup::{normalize, Lookup, LookupError, Srv};
use crate::select::{order_srv, select_naptr, srv_prefix, srv_unavailable, IpOrder};

/// Upper bound on the NAPTR records followed for one resolution (a hostile zone cannot make
/// the resolver issue unbounded queries).
const MAX_NAPTR: usize = 16;
/// Upper bound on the SRV records used from one SRV answer.
const MAX_SRV: usize = 32;

/// Where a request is to be sent, before resolution: the TARGET of RFC 3263 §4 with its
/// port and transport, as taken from a SIP or SIPS URI ([`Destination::from_uri`]) or given
/// explicitly (e.g. an outbound proxy configured by host name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// TARGET: the `maddr` parameter if present, else the host of the URI (RFC 3263 §4).
    pub host: Host,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Explicit transport (the `transport` URI parameter), if any. For a secure destination it
    /// is [`Transport::Tls`] or [`Transport::Wss`].
    pub transport: Option<Transport>,
    /// A SIPS URI: only TLS-secured transports may be used (RFC 3263 §4.1).
    pub secure: bool,
}

impl Destination {
    /// The destination of a SIP or SIPS URI (RFC 3263 §4): TARGET is `maddr` if present, else
    /// the host; the port and the `transport` parameter as given. For `sips`,
    /// `transport=tcp` (or `tls`) means TLS over TCP and `transport=ws` (or `wss`) means secure
    /// WebSocket (RFC 3261 §26.2.2, RFC 7118 §5.5); `transport=udp` or `sctp` with `sips` is an
    /// error ([`ResolveError::InsecureTransport`]), as is an unknown transport
    /// ([`ResolveError::UnknownTransport`]).
    pub fn from_uri(uri: &SipUri) -> Result<Self, ResolveError> {
        let host = match uri.maddr() {
            Some(m) => parse_host(m),
            None => uri.host.clone(),
        };
        let secure = uri.scheme == Scheme::Sips;
        let transport = match uri.transport() {
            Some(t) => Some(
                Transport::parse(t).ok_or_else(|| ResolveError::UnknownTransport(t.to_owned()))?,
            ),
            None => None,
        };
        Self::new(host, uri.port, transport, secure)
    }

    /// An explicit destination. With `secure`, TCP becomes TLS and WS becomes WSS; UDP and
    /// SCTP are refused ([`ResolveError::InsecureTransport`]).
    pub fn new(
        host: Host,
        port: Option<u16>,
        transport: Option<Transport>,
        secure: bool,
    ) -> Result<Self, ResolveError> {
        let transport = match (transport, secure) {
            (Some(Transport::Tcp), true) => Some(Transport::Tls),
            (Some(Transport::Ws), true) => Some(Transport::Wss),
            (Some(t @ (Transport::Udp | Transport::Sctp)), true) => {
                return Err(ResolveError::InsecureTransport(t))
            }
            (t, _) => t,
        };
        // A host name that is an IP address in disguise (e.g. from an explicit config) is
        // treated as the address.
        let host = match host {
            Host::Domain(d) => parse_host(&d),
            h => h,
        };
        Ok(Self {
            host,
            port,
            transport,
            secure,
        })
    }
}

/// A host from text: an IPv4 address, an IPv6 address with or without brackets, or a name.
fn parse_host(s: &str) -> Host {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Host::Ipv4(a),
        Ok(IpAddr::V6(a)) => Host::Ipv6(a),
        Err(_) => Host::Domain(s.to_owned()),
    }
}

fn host_ip(host: &Host) -> Option<IpAddr> {
    match host {
        Host::Ipv4(a) => Some(IpAddr::V4(*a)),
        Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// One place to send a request: the result of resolution, tried in list order (RFC 3263
/// §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Transport protocol.
    pub transport: Transport,
    /// Address and port to connect or send to.
    pub addr: SocketAddr,
    /// The TARGET domain of RFC 3263 §4 (the URI's `maddr` or host, without a trailing dot),
    /// or the address as text for a numeric host: the name a TLS client sends as server name
    /// and checks the certificate against (RFC 5922 §4: the domain of the URI, not the SRV
    /// target).
    pub host: String,
    /// The port (the same as `addr.port()`).
    pub port: u16,
    /// The name whose A/AAAA records gave `addr`: the SRV target, or `host` when no SRV
    /// record was used.
    pub lookup_name: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.transport, self.addr, self.host)
    }
}

/// Why no target could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The `transport` parameter names no known transport.
    #[error("unknown transport {0:?}")]
    UnknownTransport(String),
    /// A SIPS destination with a transport that cannot carry TLS.
    #[error("transport {0} cannot be used for a SIPS URI")]
    InsecureTransport(Transport),
    /// The destination asks for a transport the client does not support.
    #[error("transport {0} is not supported")]
    UnsupportedTransport(Transport),
    /// The client supports no transport usable for this destination (e.g. a SIPS URI and no
    /// TLS).
    #[error("no supported transport for this destination")]
    NoSupportedTransport,
    /// The domain does not exist (NXDOMAIN).
    #[error("{0}: no such domain")]
    NxDomain(String),
    /// SRV records say the service is not available (target ".", RFC 2782).
    #[error("{0}: service not available")]
    ServiceUnavailable(String),
    /// The lookups succeeded but gave no address.
    #[error("{0}: no address found")]
    NotFound(String),
    /// A lookup failed (server failure, timeout) and nothing else gave an address.
    #[error("{name}: {error}")]
    Lookup {
        /// The name queried.
        name: String,
        /// The failure.
        error: LookupError,
    },
}

/// What the client supports and prefers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveConfig {
    /// The transports the client supports. Only these are used (RFC 3263 §4.1 "a client MUST
    /// discard any service fields that identify a resolution service whose value is not "D2X",
    /// for values of X that indicate transport protocols supported by the client").
    pub transports: Vec<Transport>,
    /// The order of address families.
    pub ip_order: IpOrder,
    /// Follow NAPTR records of every order, not only the lowest matching one, so that the
    /// target list fails over to the next transport the domain offers. RFC 3403 §4.1 says
    /// "once a match is found the client MUST NOT consider records with a different Order";
    /// off by default.
    pub naptr_all_orders: bool,
    /// Query `_sip._ws` / `_sips._ws` SRV records for WebSocket. RFC 7118 defines NAPTR
    /// services (`SIP+D2W`, `SIPS+D2W`, §5.5) but no SRV owner names, so this is off by
    /// default: without NAPTR, WebSocket is reached at the A/AAAA records with port 80/443.
    pub ws_srv: bool,
}

impl Default for ResolveConfig {
    /// UDP, TCP and TLS; IPv4 first; lowest NAPTR order only; no WebSocket SRV.
    fn default() -> Self {
        Self {
            transports: vec![Transport::Udp, Transport::Tcp, Transport::Tls],
            ip_order: IpOrder::default(),
            naptr_all_orders: false,
            ws_srv: false,
        }
    }
}

impl ResolveConfig {
    /// A configuration supporting `transports`, otherwise default.
    pub fn with_transports(transports: &[Transport]) -> Self {
        Self {
            transports: transports.to_vec(),
            ..Self::default()
        }
    }

    fn supports(&self, t: Transport) -> bool {
        self.transports.contains(&t)
    }

    /// The transport when none is given and none is found in DNS: UDP for SIP and TLS (over
    /// TCP) for SIPS (RFC 3263 §4.1 "the client SHOULD use UDP for a SIP URI, and TCP for a
    /// SIPS URI"), or, when the client lacks it, the next it supports ("another transport,
    /// such as TCP, MAY be used").
    fn default_transport(&self, secure: bool) -> Result<Transport, ResolveError> {
        let prefs: &[Transport] = if secure {
            &[Transport::Tls, Transport::Wss]
        } else {
            &[
                Transport::Udp,
                Transport::Tcp,
                Transport::Sctp,
                Transport::Tls,
                Transport::Ws,
                Transport::Wss,
            ]
        };
        prefs
            .iter()
            .copied()
            .find(|t| self.supports(*t))
            .ok_or(ResolveError::NoSupportedTransport)
    }

    /// The explicit transport if supported, else the default one.
    fn pick_transport(&self, dest: &Destination) -> Result<Transport, ResolveError> {
        match dest.transport {
            Some(t) if self.supports(t) => Ok(t),
            Some(t) => Err(ResolveError::UnsupportedTransport(t)),
            None => self.default_transport(dest.secure),
        }
    }
}

/// The §4.1 order of SRV queries when there are no NAPTR records: TLS, TCP, UDP, SCTP, then
/// the WebSocket ones (only with [`ResolveConfig::ws_srv`]).
const SRV_FALLBACK_ORDER: [Transport; 6] = [
    Transport::Tls,
    Transport::Tcp,
    Transport::Udp,
    Transport::Sctp,
    Transport::Wss,
    Transport::Ws,
];

/// Resolves a SIP or SIPS URI ([`Destination::from_uri`] then [`resolve`]).
pub async fn resolve_uri<L: Lookup, R: Rng + ?Sized>(
    uri: &SipUri,
    config: &ResolveConfig,
    lookup: &L,
    rng: &mut R,
) -> Result<Vec<Target>, ResolveError> {
    resolve(&Destination::from_uri(uri)?, config, lookup, rng).await
}

/// Resolves a destination into the ordered list of targets to try (RFC 3263 §4.1, §4.2).
///
/// - Numeric TARGET: no lookup; the transport given or the default (UDP for SIP, TLS for
///   SIPS), the port given or the transport's default.
/// - Name with a port: A/AAAA of the name only, no NAPTR and no SRV; transport as above.
/// - Name with a transport but no port: SRV for that transport only (`_sips` for TLS); if
///   there is none, A/AAAA with the transport's default port.
/// - Name alone: NAPTR ([`select_naptr`](crate::select_naptr)), then SRV of each selected
///   replacement; if no NAPTR record is usable, SRV for each supported transport in the
///   order TLS, TCP, UDP, SCTP (and WS if configured), `_sips` for TLS, `_sip` otherwise, all
///   found being kept in that order; if no SRV record at all, A/AAAA with the default
///   transport and port.
///
/// SRV records are ordered per RFC 2782 with `rng` ([`order_srv`](crate::order_srv)), and each
/// SRV target gives its addresses in [`ResolveConfig::ip_order`]. Duplicate (transport,
/// address) pairs are removed, keeping the first. The list is never empty on success.
///
/// NXDOMAIN for the NAPTR query of the domain ends resolution ([`ResolveError::NxDomain`]):
/// nothing exists at or below the name (RFC 8020). A failed NAPTR query is treated as no
/// NAPTR records; failed SRV queries as no SRV records; if nothing is found in the end, the
/// first failure is reported ([`ResolveError::Lookup`]).
pub async fn resolve<L: Lookup, R: Rng + ?Sized>(
    dest: &Destination,
    config: &ResolveConfig,
    lookup: &L,
    rng: &mut R,
) -> Result<Vec<Target>, ResolveError> {
    let mut run = Run::new(config, lookup);
    let name = match &dest.host {
        Host::Domain(d) => d.clone(),
        host => {
            // RFC 3263 §4.1: numeric TARGET, transport param or UDP (SIP) / TCP (SIPS);
            // §4.2: "If TARGET is a numeric IP address, the client uses that address. If the
            // URI also contains a port, it uses that port. If no port is specified, it uses
            // the default port for the particular transport protocol."
            let transport = config.pick_transport(dest)?;
            let ip = host_ip(host).ok_or(ResolveError::NoSupportedTransport)?;
            let port = dest.port.unwrap_or(transport.default_port());
            return Ok(vec![numeric_target(transport, ip, port)]);
        }
    };
    let domain = normalize(&name);

    if let Some(port) = dest.port {
        // RFC 3263 §4.1: explicit port, no transport: UDP for SIP, TCP (TLS) for SIPS.
        // §4.2: "If the TARGET was not a numeric IP address, but a port is present in the URI,
        // the client performs an A or AAAA record lookup of the domain name."
        let transport = config.pick_transport(dest)?;
        run.add_host(transport, &domain, &name, port).await;
        return run.finish(&domain);
    }

    if let Some(transport) = dest.transport {
        // RFC 3263 §4.2: "If it was not [done], because a transport was specified explicitly,
        // the client performs an SRV query for that specific transport, using the service
        // identifier "_sips" for SIPS URIs. For a SIP URI, if the client wishes to use TLS, it
        // also uses the service identifier "_sips" for that specific transport".
        if !config.supports(transport) {
            return Err(ResolveError::UnsupportedTransport(transport));
        }
        if let Some(prefix) = srv_prefix(transport, config.ws_srv) {
            let srv = run.query_srv(&format!("{prefix}.{domain}")).await;
            if !srv.is_empty() {
                run.add_srv(transport, &domain, &srv, rng).await;
                return run.finish(&domain);
            }
        }
        // §4.2: "If no SRV records were found, the client performs an A or AAAA record lookup
        // of the domain name. [...] at the default port for that transport."
        run.add_host(transport, &domain, &name, transport.default_port())
            .await;
        return run.finish(&domain);
    }

    // RFC 3263 §4.1: "if no transport protocol or port is specified, and the target is not a
    // numeric IP address, the client SHOULD perform a NAPTR query for the domain in the URI."
    let naptrs = match lookup.naptr(&name).await {
        Ok(v) => v,
        // RFC 8020: NXDOMAIN means nothing exists at or below the name: no SRV, no A/AAAA.
        Err(LookupError::NxDomain) => return Err(ResolveError::NxDomain(domain)),
        Err(e) => {
            run.note_failure(&domain, e);
            Vec::new()
        }
    };
    let selected = select_naptr(
        &naptrs,
        dest.secure,
        &config.transports,
        config.naptr_all_orders,
    );
    if !selected.is_empty() {
        // §4.2: "the client performs an SRV query on the record returned from the NAPTR
        // processing of Section 4.1".
        for (transport, naptr) in selected.into_iter().take(MAX_NAPTR) {
            let srv = run.query_srv(&naptr.replacement).await;
            run.add_srv(transport, &domain, &srv, rng).await;
        }
        // RFC 3403 §8: "If the lookup after a rewrite fails, clients are strongly encouraged
        // to report a failure, rather than backing up to pursue other rewrite paths."
        return run.finish(&domain);
    }

    // §4.1: "If no NAPTR records are found, the client constructs SRV queries for those
    // transport protocols it supports, and does a query for each. Queries are done using the
    // service identifier "_sip" for SIP URIs and "_sips" for SIPS URIs."
    let mut any_srv = false;
    for transport in SRV_FALLBACK_ORDER {
        if !config.supports(transport) || (dest.secure && !transport.is_secure()) {
            continue;
        }
        let Some(prefix) = srv_prefix(transport, config.ws_srv) else {
            continue;
        };
        let srv = run.query_srv(&format!("{prefix}.{domain}")).await;
        if !srv.is_empty() {
            any_srv = true;
            run.add_srv(transport, &domain, &srv, rng).await;
        }
    }
    if any_srv {
        return run.finish(&domain);
    }

    // §4.1: "If no SRV records are found, the client SHOULD use TCP for a SIPS URI, and UDP
    // for a SIP URI." §4.2: A/AAAA lookup, default port for that transport.
    let transport = config.default_transport(dest.secure)?;
    run.add_host(transport, &domain, &name, transport.default_port())
        .await;
    run.finish(&domain)
}

/// The targets for sending a response to the sent-by of the topmost Via when sending to the
/// received address failed (RFC 3263 §5).
///
/// - Numeric host: that address, the port given or the transport's default.
/// - Name and port: A/AAAA of the name, with that port.
/// - Name without port: SRV with `_sips` if the transport is TLS, `_sip` otherwise, and the
///   transport's protocol (TLS means TCP), ordered per RFC 2782; if there is no SRV record,
///   A/AAAA with the default port.
pub async fn resolve_sent_by<L: Lookup, R: Rng + ?Sized>(
    host: &Host,
    port: Option<u16>,
    transport: Transport,
    config: &ResolveConfig,
    lookup: &L,
    rng: &mut R,
) -> Result<Vec<Target>, ResolveError> {
    let host = match host {
        Host::Domain(d) => parse_host(d),
        h => h.clone(),
    };
    let name = match &host {
        Host::Domain(d) => d.clone(),
        h => {
            // §5: "If it contains a numeric IP address, the server attempts to send the
            // response to that address, using the transport protocol from the Via header, and
            // the port from sent-by, if present, else the default for that transport protocol."
            let ip = host_ip(h).ok_or(ResolveError::NoSupportedTransport)?;
            let port = port.unwrap_or(transport.default_port());
            return Ok(vec![numeric_target(transport, ip, port)]);
        }
    };
    let domain = normalize(&name);
    let mut run = Run::new(config, lookup);
    if let Some(port) = port {
        // §5: "If, however, the sent-by field contained a domain name and a port number, the
        // server queries for A or AAAA records with that name."
        run.add_host(transport, &domain, &name, port).await;
        return run.finish(&domain);
    }
    // §5: "If, however, the sent-by field contained a domain name and no port, the server
    // queries for SRV records at that domain name using the service identifier "_sips" if the
    // Via transport is "TLS", "_sip" otherwise, and the transport from the topmost Via header
    // ("TLS" implies that the transport protocol in the SRV query is TCP)."
    if let Some(prefix) = srv_prefix(transport, config.ws_srv) {
        let srv = run.query_srv(&format!("{prefix}.{domain}")).await;
        if !srv.is_empty() {
            run.add_srv(transport, &domain, &srv, rng).await;
            return run.finish(&domain);
        }
    }
    // RFC 2782 "Usage rules": no SRV RRs: A lookup of the name, at the default port.
    run.add_host(transport, &domain, &name, transport.default_port())
        .await;
    run.finish(&domain)
}

fn numeric_target(transport: Transport, ip: IpAddr, port: u16) -> Target {
    Target {
        transport,
        addr: SocketAddr::new(ip, port),
        host: ip.to_string(),
        port,
        lookup_name: ip.to_string(),
    }
}

/// State of one resolution: targets so far, and why lookups gave nothing.
struct Run<'a, L> {
    config: &'a ResolveConfig,
    lookup: &'a L,
    targets: Vec<Target>,
    seen: HashSet<(Transport, SocketAddr)>,
    /// First lookup failure (SERVFAIL, timeout), reported if nothing is found.
    failure: Option<ResolveError>,
    /// An address lookup of the domain itself said NXDOMAIN.
    nxdomain: bool,
    /// Some SRV answer was only ".".
    unavailable: bool,
}

impl<'a, L: Lookup> Run<'a, L> {
    fn new(config: &'a ResolveConfig, lookup: &'a L) -> Self {
        Self {
            config,
            lookup,
            targets: Vec::new(),
            seen: HashSet::new(),
            failure: None,
            nxdomain: false,
            unavailable: false,
        }
    }

    fn note_failure(&mut self, name: &str, error: LookupError) {
        if self.failure.is_none() {
            self.failure = Some(ResolveError::Lookup {
                name: name.to_owned(),
                error,
            });
        }
    }

    /// SRV records of `name`; NXDOMAIN and failures give none (failures are remembered).
    async fn query_srv(&mut self, name: &str) -> Vec<Srv> {
        match self.lookup.srv(name).await {
            Ok(v) => v,
            Err(LookupError::NxDomain) => Vec::new(),
            Err(e) => {
                self.note_failure(&normalize(name), e);
                Vec::new()
            }
        }
    }

    /// Adds the targets of an SRV answer, ordered per RFC 2782.
    async fn add_srv<R: Rng + ?Sized>(
        &mut self,
        transport: Transport,
        domain: &str,
        srv: &[Srv],
        rng: &mut R,
    ) {
        if srv_unavailable(srv) {
            self.unavailable = true;
            return;
        }
        for rec in order_srv(srv, rng).into_iter().take(MAX_SRV) {
            self.add_host(transport, domain, &rec.target, rec.port)
                .await;
        }
    }

    /// Adds one target per address of `name` (A/AAAA), in the configured family order.
    async fn add_host(&mut self, transport: Transport, domain: &str, name: &str, port: u16) {
        let lookup_name = normalize(name);
        let addrs = match self.lookup.ip(name).await {
            Ok(v) => v,
            Err(LookupError::NxDomain) => {
                if lookup_name == domain {
                    self.nxdomain = true;
                }
                Vec::new()
            }
            Err(e) => {
                self.note_failure(&lookup_name, e);
                Vec::new()
            }
        };
        for ip in self.config.ip_order.apply(&addrs) {
            let addr = SocketAddr::new(ip, port);
            if self.seen.insert((transport, addr)) {
                self.targets.push(Target {
                    transport,
                    addr,
                    host: domain.to_owned(),
                    port,
                    lookup_name: lookup_name.clone(),
                });
            }
        }
    }

    fn finish(self, domain: &str) -> Result<Vec<Target>, ResolveError> {
        if !self.targets.is_empty() {
            return Ok(self.targets);
        }
        if self.nxdomain {
            return Err(ResolveError::NxDomain(domain.to_owned()));
        }
        if let Some(f) = self.failure {
            return Err(f);
        }
        if self.unavailable {
            return Err(ResolveError::ServiceUnavailable(domain.to_owned()));
        }
        Err(ResolveError::NotFound(domain.to_owned()))
    }
}
