//! Sending one request and waiting for its final response: RFC 3263 to find
//! the server, a client transaction to (re)send it, failover to the next
//! target on timeout, transport error or 503 (RFC 3263 §4.3). The one place
//! in the client commands that reads the clock and drives the sans-IO
//! transaction table.

use rand::RngExt as _;
use sipline_dns::{
    resolve_uri, DnsProtocol, HickoryConfig, HickoryLookup, NameServer, ResolveConfig, Target,
};
use sipline_message::builder::RequestBuilder;
use sipline_message::uri::{Host, SipUri, Uri};
use sipline_message::{Message, Method, Transport};
use sipline_transaction::{Config as TimerConfig, Event, ResponseMatch, Transactions};
use sipline_transport::{
    Destination, ListenSpec, PemSource, TlsClientConfig, TransportConfig, TransportEvent,
    TransportLayer,
};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to send.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    /// Force a transport (else RFC 3263 picks one).
    pub(crate) transport: Option<Transport>,
    /// Give up after this long in all (else the transaction's Timer B/F decides).
    pub(crate) timeout: Option<Duration>,
    /// T1 (RFC 3261 §17.1.1.1); every other timer follows from it.
    pub(crate) t1: Duration,
    /// Certificates of CAs to trust for TLS and WSS.
    pub(crate) ca_files: Vec<PathBuf>,
    /// A DNS server to ask instead of the system's.
    pub(crate) nameserver: Option<SocketAddr>,
    /// Print every message sent and received on standard error.
    pub(crate) trace: bool,
}

/// The final response and what led to it.
pub(crate) struct Outcome {
    pub(crate) response: Message,
    pub(crate) target: Target,
}

/// Why no final response came.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("DNS: {0}")]
    Dns(String),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("408 Request Timeout (no final response from {tried}{how})")]
    Timeout { tried: String, how: &'static str },
}

/// Sends `method` to `uri` and waits for the final response.
pub(crate) async fn request(
    uri: &Uri,
    method: Method,
    cfg: &ClientConfig,
) -> Result<Outcome, ClientError> {
    let sip = match uri {
        Uri::Sip(s) => s.clone(),
        _ => {
            return Err(ClientError::Usage(format!(
                "{uri}: only sip: and sips: URIs can be sent to directly"
            )))
        }
    };
    let targets = resolve(&sip, cfg).await?;
    let started = Instant::now();
    let mut failures = Vec::new();
    for target in &targets {
        match attempt(uri, &method, target, cfg, started).await {
            Ok(outcome)
                if outcome.response.as_response().map(|r| r.status.as_u16()) == Some(503)
                    && target != targets.last().expect("not empty") =>
            {
                // RFC 3263 §4.3: a 503 means try the next server.
                failures.push(format!("{} answered 503", describe(target)));
            }
            Ok(outcome) => return Ok(outcome),
            Err(Attempt::Timeout(how)) => {
                failures.push(format!("{} timed out", describe(target)));
                if cfg.timeout.is_some_and(|t| started.elapsed() >= t) {
                    return Err(ClientError::Timeout {
                        tried: describe(target),
                        how,
                    });
                }
            }
            Err(Attempt::Transport(e)) => failures.push(format!("{}: {e}", describe(target))),
            Err(Attempt::Setup(e)) => return Err(ClientError::Transport(e)),
        }
    }
    let timeouts = failures.iter().all(|f| f.ends_with("timed out"));
    if timeouts {
        Err(ClientError::Timeout {
            tried: targets.iter().map(describe).collect::<Vec<_>>().join(", "),
            how: ": Timer F/B fired",
        })
    } else {
        Err(ClientError::Transport(failures.join("; ")))
    }
}

fn describe(t: &Target) -> String {
    format!("{} {}", t.transport, t.addr)
}

async fn resolve(sip: &SipUri, cfg: &ClientConfig) -> Result<Vec<Target>, ClientError> {
    let mut sip = sip.clone();
    if let Some(t) = cfg.transport {
        if t == Transport::Tls && sip.scheme == sipline_message::uri::Scheme::Sip {
            sip.set_param("transport", Some("tls"));
        } else {
            sip.set_param("transport", Some(&t.as_str().to_ascii_lowercase()));
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
    let lookup = match cfg.nameserver {
        Some(addr) => HickoryLookup::new(&HickoryConfig {
            name_servers: vec![NameServer {
                addr,
                protocol: DnsProtocol::Udp,
            }],
            ..HickoryConfig::default()
        }),
        None => HickoryLookup::system(),
    }
    .map_err(|e| ClientError::Dns(e.to_string()))?;
    let mut rng = rand::rng();
    let targets = resolve_uri(&sip, &rc, &lookup, &mut rng)
        .await
        .map_err(|e| ClientError::Dns(format!("{sip}: {e}")))?;
    if targets.is_empty() {
        return Err(ClientError::Dns(format!("{sip}: no server found")));
    }
    Ok(targets)
}

enum Attempt {
    Timeout(&'static str),
    Transport(String),
    Setup(String),
}

/// Random text for tags, branches and Call-IDs: at least 32 random bits
/// from a cryptographic generator (RFC 3261 §19.3, §8.1.1.7).
/// One allocation: a registrar makes one for every REGISTER's To tag.
pub(crate) fn random_token(bytes: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b = rng.random::<u8>();
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

fn build_request(uri: &Uri, method: &Method, transport: Transport, local: SocketAddr) -> Message {
    let host = match local.ip() {
        IpAddr::V4(a) => Host::Ipv4(a),
        IpAddr::V6(a) => Host::Ipv6(a),
    };
    let sent_by = match &host {
        Host::Ipv6(a) => format!("[{a}]:{}", local.port()),
        _ => format!("{}:{}", local.ip(), local.port()),
    };
    let tag = random_token(8);
    // TLS as `sips:` (RFC 3261 §26.2.2), WSS as `sips:` with
    // `transport=ws` (RFC 7118 §5.2, §5.5), as the user agent writes them.
    let scheme = if transport.is_secure() {
        sipline_message::uri::Scheme::Sips
    } else {
        sipline_message::uri::Scheme::Sip
    };
    let mut contact = SipUri::new(scheme, host)
        .with_user("sipline")
        .with_port(local.port());
    if !matches!(transport, Transport::Udp | Transport::Tls) {
        contact.set_param("transport", Some(transport.uri_param()));
    }
    let b = RequestBuilder::new(method.clone(), uri.clone())
        .header(
            "Via",
            format!(
                "SIP/2.0/{transport} {sent_by};branch=z9hG4bK{};rport",
                random_token(10)
            ),
        )
        .max_forwards(70)
        .header("From", format!("<sip:sipline@{sent_by}>;tag={tag}"))
        .header("To", format!("<{uri}>"))
        .call_id(&format!("{}@sipline", random_token(12)))
        .cseq(1)
        .header("Contact", format!("<{contact}>"))
        .header("User-Agent", concat!("sipline/", env!("CARGO_PKG_VERSION")));
    let b = if *method == Method::Options {
        b.header("Accept", "application/sdp")
    } else {
        b
    };
    Message::from(b.build())
}

async fn attempt(
    uri: &Uri,
    method: &Method,
    target: &Target,
    cfg: &ClientConfig,
    started: Instant,
) -> Result<Outcome, Attempt> {
    let local_ip = sipline_transport::local_ip_for(target.addr);
    let mut tc = TransportConfig {
        listen: vec![
            ListenSpec {
                transport: Transport::Udp,
                addr: SocketAddr::new(local_ip, 0),
            },
            ListenSpec {
                transport: Transport::Tcp,
                addr: SocketAddr::new(local_ip, 0),
            },
        ],
        ..TransportConfig::default()
    };
    tc.tls_client = TlsClientConfig {
        roots: cfg.ca_files.iter().cloned().map(PemSource::File).collect(),
    };
    let (layer, mut incoming) =
        TransportLayer::start(tc).map_err(|e| Attempt::Setup(e.to_string()))?;
    let mut events = layer.subscribe();
    let local = layer
        .listener(Transport::Udp)
        .ok_or_else(|| Attempt::Setup("no local UDP listener".into()))?;
    // RFC 3261 §18.1.1: a request within 200 bytes of the MTU goes over TCP.
    let mut transport = target.transport;
    let mut msg = build_request(uri, method, transport, local);
    if transport == Transport::Udp && msg.encoded_len() > 1300 {
        transport = Transport::Tcp;
        msg = build_request(uri, method, transport, local);
    }
    let mut dest = Destination::new(transport, target.addr);
    if transport.is_secure() {
        dest.server_name = Some(target.host.clone());
    }
    // T2 and T4 keep their RFC ratio to T1 (4 s and 5 s for 500 ms).
    let timers = TimerConfig {
        t1: cfg.t1,
        t2: cfg.t1 * 8,
        t4: cfg.t1 * 10,
        ..TimerConfig::default()
    };
    let mut table: Transactions<Destination> = Transactions::new(timers);
    if cfg.trace {
        trace(started, "->", target.addr, &msg);
    }
    let id = table
        .send_request(Instant::now(), msg, dest, transport.is_reliable())
        .map_err(|e| Attempt::Setup(e.to_string()))?;
    let deadline = cfg.timeout.map(|t| started + t);
    loop {
        while let Some(t) = table.poll_transmit() {
            if cfg.trace && t.retransmission {
                eprintln!(
                    "{:>9.3}s -> {} (retransmission)",
                    started.elapsed().as_secs_f64(),
                    t.destination.addr
                );
            }
            if let Err(e) = layer
                .send_transmit(&t.destination, t.message, t.retransmission)
                .await
            {
                layer.shutdown();
                return Err(Attempt::Transport(e.to_string()));
            }
        }
        while let Some(e) = table.poll_event() {
            match e {
                Event::Response { response, .. } => {
                    let status = response.as_response().map(|r| r.status);
                    if status.is_some_and(|s| s.is_final()) {
                        layer.shutdown();
                        return Ok(Outcome {
                            response,
                            target: target.clone(),
                        });
                    }
                    if cfg.trace {
                        trace(started, "<-", target.addr, &response);
                    }
                }
                Event::Timeout { .. } => {
                    layer.shutdown();
                    return Err(Attempt::Timeout(": Timer F/B fired"));
                }
                Event::TransportError { .. } => {
                    layer.shutdown();
                    return Err(Attempt::Transport("connection failed".into()));
                }
                _ => {}
            }
        }
        let wake = table.poll_timeout();
        let sleep_until = match (wake, deadline) {
            (Some(w), Some(d)) => Some(w.min(d)),
            (w, d) => w.or(d),
        };
        let sleep = async {
            match sleep_until {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = incoming.recv() => {
                let Some(m) = m else {
                    return Err(Attempt::Transport("transport stopped".into()));
                };
                if cfg.trace {
                    trace(started, "<-", m.source, &m.message);
                }
                if !m.message.is_request() {
                    let _ = table.handle_response(Instant::now(), m.message) as ResponseMatch;
                }
            }
            ev = events.recv() => {
                if let Ok(TransportEvent::ConnectionClosed { remote, reason, .. }) = ev {
                    if remote == target.addr && transport.is_reliable() {
                        if cfg.trace {
                            eprintln!("connection to {remote} closed: {reason:?}");
                        }
                        table.handle_transport_error(Instant::now(), id);
                    }
                }
            }
            () = sleep => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    layer.shutdown();
                    return Err(Attempt::Timeout(": --timeout reached"));
                }
                table.handle_timeout(now);
            }
        }
    }
}

fn trace(started: Instant, arrow: &str, peer: SocketAddr, m: &Message) {
    let first = m.to_string();
    let first = first.lines().next().unwrap_or("");
    eprintln!(
        "{:>9.3}s {arrow} {peer} {first}",
        started.elapsed().as_secs_f64()
    );
}

#[cfg(test)]
mod token_tests {
    #[test]
    fn random_token_is_lower_hex_of_the_length_asked() {
        let a = super::random_token(8);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, super::random_token(8));
    }
}
