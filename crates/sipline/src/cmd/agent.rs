//! What the user-agent commands (register, call, answer, message) share:
//! common flags, starting a `sipline_ua::UserAgent`, the `--trace` ladder
//! and `--json` events.

use sipline_message::uri::Host;
use sipline_message::{Transport, Uri};
use sipline_ua::{Config, TraceEntry, UaError, UserAgent};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Flags of every user-agent command.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Common {
    /// Send every request outside a dialog through this proxy (e.g.
    /// sip:127.0.0.1:5060), as a preloaded Route.
    #[arg(long)]
    pub(crate) proxy: Option<String>,
    /// Username for digest authentication (also the user part of the
    /// default identity).
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Password for digest authentication (or SIPLINE_PASSWORD).
    #[arg(long, env = "SIPLINE_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// Our identity (From), e.g. sip:alice@example.com. Default:
    /// sip:USER@<the proxy's or target's host>.
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Transport for URIs that name none: udp, tcp, tls, ws, wss.
    #[arg(long, value_parser = parse_transport)]
    pub(crate) transport: Option<Transport>,
    /// Local address to listen on (IP:PORT; port 0 picks one). Default:
    /// the address that routes to the proxy or target, any port.
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// T1 in milliseconds (RFC 3261 §17.1.1.1).
    #[arg(long, default_value_t = 500)]
    pub(crate) t1: u64,
    /// A CA certificate (PEM) to trust for TLS and WSS; repeatable.
    #[arg(long = "ca")]
    pub(crate) ca: Vec<PathBuf>,
    /// A DNS server (IP:port) to ask instead of the system's resolver.
    #[arg(long)]
    pub(crate) nameserver: Option<SocketAddr>,
    /// RFC 5626 outbound: register with an instance id and reg-id.
    #[arg(long)]
    pub(crate) outbound: bool,
    /// Send keep-alives to the registrar every this many seconds while
    /// registered (RFC 5626 §4.4: STUN over UDP when the 200 said
    /// `Require: outbound`, else CRLFCRLF; CRLF over connections; 80-100%
    /// of it, drawn each time).
    #[arg(long)]
    pub(crate) keepalive: Option<f64>,
    /// One JSON object per line on standard output for each event.
    #[arg(long)]
    pub(crate) json: bool,
    /// Every message sent and received on standard error, with a time and
    /// an arrow (--> sent, <-- received).
    #[arg(long)]
    pub(crate) trace: bool,
}

pub(crate) fn parse_transport(s: &str) -> Result<Transport, String> {
    Transport::parse(s)
        .filter(|t| *t != Transport::Sctp)
        .ok_or_else(|| format!("unknown transport {s:?} (udp, tcp, tls, ws, wss)"))
}

/// Exit statuses shared by the commands: 0 success (2xx), 1 another final
/// response, 2 usage, 3 no response (timeout), 4 DNS or transport error.
pub(crate) mod exit {
    pub(crate) const FAILURE: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const TIMEOUT: u8 = 3;
    pub(crate) const TRANSPORT: u8 = 4;
}

pub(crate) fn parse_uri(what: &str, s: &str) -> Result<Uri, ExitCode> {
    Uri::parse(s).map_err(|e| {
        eprintln!("sipline: bad {what} URI {s:?}: {e}");
        ExitCode::from(exit::USAGE)
    })
}

/// The host of a URI, as text.
fn host_of(uri: &Uri) -> Option<String> {
    match uri {
        Uri::Sip(s) => Some(match &s.host {
            Host::Ipv6(a) => format!("[{a}]"),
            h => h.to_string(),
        }),
        _ => None,
    }
}

fn ip_of(uri: &Uri) -> Option<IpAddr> {
    match uri {
        Uri::Sip(s) => match &s.host {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        },
        _ => None,
    }
}

/// The local address that routes to `remote`, or loopback if none does.
pub(crate) fn local_ip_for(remote: IpAddr) -> IpAddr {
    let ip = sipline_transport::local_ip_for(SocketAddr::new(remote, 9));
    if ip.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        ip
    }
}

/// A started user agent and what the command needs to know.
pub(crate) struct Agent {
    pub(crate) ua: UserAgent,
    /// Our IP address (for media).
    pub(crate) ip: IpAddr,
    pub(crate) json: bool,
    started: Instant,
}

impl Common {
    /// Starts a user agent that talks to `toward` (the target, registrar,
    /// or none for `answer`).
    pub(crate) async fn start(
        &self,
        toward: Option<&Uri>,
    ) -> Result<(Agent, sipline_ua::Incoming), ExitCode> {
        let proxy = match &self.proxy {
            Some(p) => Some(parse_uri("proxy", p)?),
            None => None,
        };
        let peer = proxy.as_ref().or(toward);
        let host = peer
            .and_then(host_of)
            .or_else(|| self.listen.map(|a| a.ip().to_string()))
            .unwrap_or_else(|| "localhost".into());
        let from = match &self.from {
            Some(f) => f.clone(),
            None => format!(
                "sip:{}@{host}",
                self.user.clone().unwrap_or_else(|| "sipline".into())
            ),
        };
        let mut config = Config::new(&from).map_err(|e| {
            eprintln!("sipline: --from: {e}");
            ExitCode::from(exit::USAGE)
        })?;
        let ip = match self.listen {
            Some(a) => a.ip(),
            None => peer
                .and_then(ip_of)
                .map_or(IpAddr::from([127, 0, 0, 1]), local_ip_for),
        };
        let ip = if ip.is_unspecified() {
            peer.and_then(ip_of).map_or(ip, local_ip_for)
        } else {
            ip
        };
        let listen = self.listen.unwrap_or(SocketAddr::new(ip, 0));
        // UDP and TCP listeners (a large request moves to TCP, RFC 3261
        // §18.1.1); TLS and WS are outgoing connections only.
        config.listen = vec![(Transport::Udp, listen), (Transport::Tcp, listen)];
        config.outbound_proxy = proxy;
        config.transport = self.transport;
        if let Some(u) = &self.user {
            config.credentials = Some((u.clone(), self.password.clone().unwrap_or_default()));
        }
        config.t1 = Duration::from_millis(self.t1.max(1));
        config.ca_files = self.ca.clone();
        config.nameserver = self.nameserver;
        config.trace = self.trace;
        config.outbound = self.outbound;
        config.keepalive = self
            .keepalive
            .filter(|k| *k > 0.0)
            .map(Duration::from_secs_f64);
        let (ua, incoming) = UserAgent::start(config).await.map_err(|e| {
            eprintln!("sipline: {e}");
            ExitCode::from(exit::TRANSPORT)
        })?;
        let started = Instant::now();
        if self.trace {
            let mut rx = ua.trace();
            tokio::spawn(async move {
                while let Ok(t) = rx.recv().await {
                    print_trace(started, &t);
                }
            });
        }
        Ok((
            Agent {
                ua,
                ip,
                json: self.json,
                started,
            },
            incoming,
        ))
    }
}

fn print_trace(started: Instant, t: &TraceEntry) {
    // Seconds since the command started: a ladder reads down the page.
    let secs = started.elapsed().as_secs_f64();
    let first = t
        .bytes
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
        .unwrap_or_default();
    let arrow = if t.outgoing { "-->" } else { "<--" };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{secs:.3} {arrow} {} {}  {first}", t.transport, t.peer);
    for line in String::from_utf8_lossy(&t.bytes).lines() {
        let _ = writeln!(err, "    {line}");
    }
}

impl Agent {
    /// Seconds since start.
    pub(crate) fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Prints an event: a JSON line, or `text` for people.
    pub(crate) fn event(&self, kind: &str, mut fields: serde_json::Value, text: &str) {
        if self.json {
            if let Some(o) = fields.as_object_mut() {
                o.insert("event".into(), kind.into());
                o.insert(
                    "t".into(),
                    serde_json::Value::from((self.elapsed() * 1000.0).round() / 1000.0),
                );
            }
            println!("{fields}");
        } else {
            println!("{text}");
        }
        let _ = std::io::stdout().flush();
    }
}

/// Exit status for an error of the user agent.
pub(crate) fn error_exit(context: &str, e: &UaError) -> ExitCode {
    eprintln!("sipline {context}: {e}");
    ExitCode::from(match e {
        UaError::Uri(_) => exit::USAGE,
        UaError::NoResponse(sipline_ua::Failure::Timeout) => exit::TIMEOUT,
        UaError::Dialog(sipline_dialog::Error::NoRoute(_)) => exit::TRANSPORT,
        UaError::Dialog(_) => exit::USAGE,
        _ => exit::TRANSPORT,
    })
}

/// Exit status for a final response.
pub(crate) fn status_exit(status: u16) -> ExitCode {
    if (200..300).contains(&status) {
        ExitCode::SUCCESS
    } else if status == 408 {
        ExitCode::from(exit::TIMEOUT)
    } else {
        ExitCode::from(exit::FAILURE)
    }
}

/// Runs a command's future on a multi-threaded runtime (the media task
/// needs a worker of its own); exit 4 if the runtime cannot start.
pub(crate) fn run_on<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("sipline: {e}");
            ExitCode::from(exit::TRANSPORT)
        }
    }
}
