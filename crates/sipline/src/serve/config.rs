//! `sipline serve` configuration: a TOML file, checked at start with errors
//! that name the key, and the flags that override it for quick runs.

use serde::Deserialize;
use sipline_message::uri::Uri;
use sipline_message::Transport;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole file. Every section and key is optional.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    #[serde(default)]
    server: ServerSection,
    tls: Option<TlsSection>,
    #[serde(default)]
    timers: TimersSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    registrar: RegistrarSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    routes: Vec<RouteSection>,
    #[serde(default)]
    domain: Vec<DomainSection>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
    mode: Option<String>,
    record_route: Option<bool>,
    forking: Option<String>,
    server_header: Option<String>,
    threads: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TimersSection {
    t1_ms: Option<u64>,
    t2_ms: Option<u64>,
    t4_ms: Option<u64>,
    timer_c_s: Option<u64>,
    branch_timeout_s: Option<u64>,
    shutdown_grace_s: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_message_size: Option<usize>,
    max_connections: Option<usize>,
    idle_timeout_s: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegistrarSection {
    default_expires: Option<u32>,
    min_expires: Option<u32>,
    max_expires: Option<u32>,
    service_route: Option<Vec<String>>,
    store: Option<String>,
    stateless: Option<bool>,
}

/// `[[domain]]`: a domain served, with its own mode.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainSection {
    name: String,
    mode: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    realm: Option<String>,
    users: Option<Vec<UserSection>>,
    users_file: Option<PathBuf>,
    nonce_lifetime_s: Option<u64>,
    algorithms: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct UserSection {
    name: String,
    password: Option<String>,
    ha1_md5: Option<String>,
    ha1_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSection {
    prefix: Option<String>,
    domain: Option<String>,
    next_hops: Vec<String>,
    #[serde(default)]
    permanent: bool,
}

/// The most message-handling threads: each one's number is a hex digit in
/// the branches it creates (`sipline_proxy::ProxyConfig::instance`).
pub(crate) const MAX_THREADS: usize = 16;

/// `registrar.store`: where the bindings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// `"log"` (the default): durable, in memory and in an append-only log
    /// in `data_dir`.
    Log,
    /// `"redb"`: durable, in a redb database in `data_dir` (the default
    /// before the log; a log store takes such a database over on its first
    /// start).
    Redb,
    /// `"memory"`: in memory only (lost on restart, 200 without waiting for
    /// a disk commit).
    Memory,
}

/// A configuration error, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}: {message}")]
pub(crate) struct ConfigError {
    key: String,
    message: String,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Proxy or redirect server (RFC 3261 §16, §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Proxy,
    Redirect,
    /// §16.11: forward without transactions (a front-end load balancer).
    Stateless,
}

/// One address to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listen {
    pub(crate) transport: Transport,
    pub(crate) addr: SocketAddr,
}

/// A user and what proves it is them.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) secret: sipline_auth::Credential,
}

/// A static route: requests whose user part starts with `prefix`, or whose
/// domain is `domain`, go to the first of `next_hops` that answers.
#[derive(Debug, Clone)]
pub(crate) struct StaticRoute {
    pub(crate) prefix: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) next_hops: Vec<Uri>,
    pub(crate) permanent: bool,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: Vec<Listen>,
    pub(crate) domains: Vec<String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) mode: Mode,
    pub(crate) record_route: bool,
    pub(crate) sequential_forking: bool,
    pub(crate) server_header: String,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) t1: Duration,
    pub(crate) t2: Duration,
    pub(crate) t4: Duration,
    pub(crate) timer_c: Duration,
    pub(crate) branch_timeout: Option<Duration>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) default_expires: u32,
    pub(crate) min_expires: u32,
    pub(crate) max_expires: u32,
    pub(crate) realm: Option<String>,
    pub(crate) users: Vec<User>,
    pub(crate) nonce_lifetime: Duration,
    pub(crate) algorithms: Vec<sipline_auth::Algorithm>,
    pub(crate) routes: Vec<StaticRoute>,
    /// Service-Route values for the 200 to REGISTER (RFC 3608 §6.3), as
    /// name-addrs, in order.
    pub(crate) service_route: Vec<String>,
    /// `registrar.store`: where bindings are kept.
    pub(crate) store: StoreKind,
    /// `registrar.stateless` (default true): REGISTERs for this registrar
    /// are answered without a server transaction (RFC 3261 §8.2.7), the
    /// registrar taking a request with a binding's Call-ID and CSeq for a
    /// retransmission (`RegisterContext::stateless`); false: each gets a
    /// server transaction, which absorbs retransmissions (over UDP it is
    /// kept for Timer J, 64*T1).
    pub(crate) stateless_register: bool,
    /// Threads that handle messages (`server.threads`; 0 or absent: one per
    /// CPU). Each runs its own share of the transactions, calls and
    /// REGISTERs (see `server.rs`).
    pub(crate) threads: usize,
    /// Domains whose mode is not `mode` (from `[[domain]]`).
    pub(crate) domain_modes: Vec<(String, Mode)>,
}

impl Config {
    /// The mode for requests to this domain: its own, else the server's.
    pub(crate) fn mode_for(&self, domain: &str) -> Mode {
        self.domain_modes
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map_or(self.mode, |(_, m)| *m)
    }
}

/// Settings given as flags; they override the file.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) listen: Vec<String>,
    pub(crate) domains: Vec<String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) mode: Option<String>,
    pub(crate) users: Vec<String>,
    pub(crate) threads: Option<usize>,
}

/// `udp:127.0.0.1:5060`, `tls:[::1]:5061` ...
pub(crate) fn parse_listen(key: &str, s: &str) -> Result<Listen, ConfigError> {
    let (t, addr) = s.split_once(':').ok_or_else(|| {
        err(
            key,
            format!("{s:?}: expected TRANSPORT:ADDRESS:PORT, e.g. udp:127.0.0.1:5060"),
        )
    })?;
    let transport = Transport::parse(t)
        .filter(|t| *t != Transport::Sctp)
        .ok_or_else(|| {
            err(
                key,
                format!("{s:?}: unknown transport {t:?} (udp, tcp, tls, ws, wss)"),
            )
        })?;
    let addr: SocketAddr = addr.parse().map_err(|_| {
        err(
            key,
            format!("{s:?}: {addr:?} is not IP:PORT ([::1]:5060 for IPv6)"),
        )
    })?;
    Ok(Listen { transport, addr })
}

fn hex_bytes<const N: usize>(key: &str, s: &str) -> Result<[u8; N], ConfigError> {
    let bad = || err(key, format!("expected {} hex digits", N * 2));
    if s.len() != N * 2 {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn user(key: &str, u: &UserSection, realm: &str) -> Result<User, ConfigError> {
    if u.name.is_empty() {
        return Err(err(format!("{key}.name"), "empty user name"));
    }
    let secret = match (&u.password, &u.ha1_md5, &u.ha1_sha256) {
        (Some(p), None, None) => sipline_auth::Credential::Password(p.clone()),
        (None, md5, sha) if md5.is_some() || sha.is_some() => {
            let mut set = sipline_auth::Ha1Set::default();
            if let Some(h) = md5 {
                set.md5 = Some(hex_bytes::<16>(&format!("{key}.ha1_md5"), h)?);
            }
            if let Some(h) = sha {
                set.sha256 = Some(hex_bytes::<32>(&format!("{key}.ha1_sha256"), h)?);
            }
            sipline_auth::Credential::Ha1(set)
        }
        (Some(_), _, _) => {
            return Err(err(
                key,
                "give either password or ha1_md5/ha1_sha256, not both",
            ))
        }
        _ => {
            return Err(err(
                key,
                format!(
                    "user {:?} needs a password or an HA1 (realm {realm:?})",
                    u.name
                ),
            ))
        }
    };
    Ok(User {
        name: u.name.clone(),
        secret,
    })
}

impl Config {
    /// Reads the file (if any), applies the flags, and checks everything.
    pub(crate) fn load(file: Option<&std::path::Path>, o: &Overrides) -> Result<Self, ConfigError> {
        let f: File = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(path.display().to_string(), e.to_string()))?;
                toml::from_str(&text).map_err(|e| {
                    let key = e
                        .span()
                        .map(|s| {
                            let line = text[..s.start.min(text.len())].lines().count().max(1);
                            format!("{} line {line}", path.display())
                        })
                        .unwrap_or_else(|| path.display().to_string());
                    err(key, e.message().to_string())
                })?
            }
            None => File::default(),
        };
        Self::from_file(f, o)
    }

    fn from_file(f: File, o: &Overrides) -> Result<Self, ConfigError> {
        let listen_text: Vec<(String, String)> = if o.listen.is_empty() {
            match &f.server.listen {
                Some(l) => l
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("server.listen[{i}]"), s.clone()))
                    .collect(),
                None => vec![
                    ("default".into(), "udp:127.0.0.1:5060".into()),
                    ("default".into(), "tcp:127.0.0.1:5060".into()),
                ],
            }
        } else {
            o.listen
                .iter()
                .map(|s| ("--listen".to_string(), s.clone()))
                .collect()
        };
        let listen = listen_text
            .iter()
            .map(|(k, s)| parse_listen(k, s))
            .collect::<Result<Vec<_>, _>>()?;
        if listen.is_empty() {
            return Err(err("server.listen", "nothing to listen on"));
        }
        let tls = f.tls.map(|t| (t.cert, t.key));
        if tls.is_none() && listen.iter().any(|l| l.transport.is_secure()) {
            return Err(err("tls", "a tls or wss listener needs [tls] cert and key"));
        }
        if let Some((cert, key)) = &tls {
            for (k, p) in [("tls.cert", cert), ("tls.key", key)] {
                if !p.is_file() {
                    return Err(err(k, format!("{} is not a readable file", p.display())));
                }
            }
        }
        let mut domains = f.server.domains.unwrap_or_default();
        domains.extend(o.domains.iter().cloned());
        let not_a_domain = |d: &str| d.is_empty() || d.contains([' ', ':', '@', '/']);
        for (i, d) in domains.iter().enumerate() {
            if not_a_domain(d) {
                return Err(err(
                    format!("server.domains[{i}]"),
                    format!("{d:?} is not a domain name"),
                ));
            }
        }
        let mode = match o
            .mode
            .as_deref()
            .or(f.server.mode.as_deref())
            .unwrap_or("proxy")
        {
            "proxy" => Mode::Proxy,
            "redirect" => Mode::Redirect,
            "stateless" => Mode::Stateless,
            m => {
                return Err(err(
                    "server.mode",
                    format!("{m:?}: expected \"proxy\", \"redirect\" or \"stateless\""),
                ))
            }
        };
        // [[domain]]: each one is served (added to the domains), in its own
        // mode if it gives one.
        let mut domain_modes: Vec<(String, Mode)> = Vec::new();
        for (i, d) in f.domain.iter().enumerate() {
            let key = format!("domain[{i}]");
            if not_a_domain(&d.name) {
                return Err(err(
                    format!("{key}.name"),
                    format!("{:?} is not a domain name", d.name),
                ));
            }
            if f.domain[..i]
                .iter()
                .any(|e| e.name.eq_ignore_ascii_case(&d.name))
            {
                return Err(err(
                    format!("{key}.name"),
                    format!("{:?} has two [[domain]] tables", d.name),
                ));
            }
            if !domains.iter().any(|x| x.eq_ignore_ascii_case(&d.name)) {
                domains.push(d.name.clone());
            }
            let m = match d.mode.as_deref() {
                None => continue,
                Some("proxy") => Mode::Proxy,
                Some("redirect") => Mode::Redirect,
                Some("stateless") => {
                    return Err(err(
                        format!("{key}.mode"),
                        "\"stateless\" is for the whole server only (server.mode); \
                         a domain is \"proxy\" or \"redirect\"",
                    ))
                }
                Some(m) => {
                    return Err(err(
                        format!("{key}.mode"),
                        format!("{m:?}: expected \"proxy\" or \"redirect\""),
                    ))
                }
            };
            if m == Mode::Proxy && mode == Mode::Stateless {
                return Err(err(
                    format!("{key}.mode"),
                    "a stateful \"proxy\" domain needs server.mode \"proxy\" or \"redirect\"",
                ));
            }
            if m != mode {
                domain_modes.push((d.name.clone(), m));
            }
        }
        let sequential_forking = match f.server.forking.as_deref().unwrap_or("parallel") {
            "parallel" => false,
            "sequential" => true,
            m => {
                return Err(err(
                    "server.forking",
                    format!("{m:?}: expected \"parallel\" or \"sequential\""),
                ))
            }
        };
        let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
        let t1 = ms(f.timers.t1_ms, 500);
        if t1.is_zero() {
            return Err(err("timers.t1_ms", "must be above 0"));
        }
        let timer_c = Duration::from_secs(f.timers.timer_c_s.unwrap_or(181));
        if timer_c <= Duration::from_secs(180) {
            return Err(err(
                "timers.timer_c_s",
                "must be more than 180 (RFC 3261 §16.6 step 11)",
            ));
        }
        let branch_timeout = f.timers.branch_timeout_s.map(Duration::from_secs);
        if branch_timeout.is_some_and(|t| t.is_zero()) {
            return Err(err(
                "timers.branch_timeout_s",
                "must be above 0 (leave it out to wait for each group's answers)",
            ));
        }
        // A nonce must live long enough to be answered (RFC 7616 §3.3): with
        // 0 every authenticated request would be stale.
        let nonce_lifetime = Duration::from_secs(f.auth.nonce_lifetime_s.unwrap_or(300));
        if nonce_lifetime.is_zero() {
            return Err(err("auth.nonce_lifetime_s", "must be above 0"));
        }
        let realm = f.auth.realm.clone().or_else(|| domains.first().cloned());
        let realm_text = realm.clone().unwrap_or_else(|| "sipline".into());
        let mut users = Vec::new();
        for (i, u) in f.auth.users.iter().flatten().enumerate() {
            users.push(user(&format!("auth.users[{i}]"), u, &realm_text)?);
        }
        if let Some(path) = &f.auth.users_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| err("auth.users_file", format!("{}: {e}", path.display())))?;
            let uf: UsersFile = toml::from_str(&text).map_err(|e| {
                err(
                    "auth.users_file",
                    format!("{}: {}", path.display(), e.message()),
                )
            })?;
            for (i, u) in uf.users.iter().enumerate() {
                users.push(user(
                    &format!("{}: users[{i}]", path.display()),
                    u,
                    &realm_text,
                )?);
            }
        }
        for (i, u) in o.users.iter().enumerate() {
            let (name, password) = u
                .split_once(':')
                .ok_or_else(|| err(format!("--user[{i}]"), "expected NAME:PASSWORD"))?;
            users.push(User {
                name: name.into(),
                secret: sipline_auth::Credential::Password(password.into()),
            });
        }
        let mut routes = Vec::new();
        for (i, r) in f.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            if r.prefix.is_none() == r.domain.is_none() {
                return Err(err(&key, "give exactly one of prefix or domain"));
            }
            if r.next_hops.is_empty() {
                return Err(err(format!("{key}.next_hops"), "at least one next hop"));
            }
            let next_hops = r
                .next_hops
                .iter()
                .enumerate()
                .map(|(j, h)| {
                    Uri::parse(h)
                        .map_err(|e| err(format!("{key}.next_hops[{j}]"), format!("{h:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            routes.push(StaticRoute {
                prefix: r.prefix.clone(),
                domain: r.domain.clone(),
                next_hops,
                permanent: r.permanent,
            });
        }
        // MD5 only by default: deployed phones fail on a 401 that also
        // offers an algorithm they do not know (baresip 1.0 rejects the
        // whole response when one challenge is SHA-256). Fleets that follow
        // RFC 8760 list SHA-256 first here.
        let algorithms = match &f.auth.algorithms {
            None => vec![sipline_auth::Algorithm::Md5],
            Some(list) => {
                let mut out = Vec::new();
                for (i, a) in list.iter().enumerate() {
                    let alg = sipline_auth::Algorithm::parse(a).ok_or_else(|| {
                        err(
                            format!("auth.algorithms[{i}]"),
                            format!("{a:?}: expected MD5, SHA-256, SHA-512-256 (or a -sess form)"),
                        )
                    })?;
                    out.push(alg);
                }
                if out.is_empty() {
                    return Err(err("auth.algorithms", "at least one algorithm"));
                }
                out
            }
        };
        let reg = &f.registrar;
        // RFC 3608 §5: a Service-Route value is a Route element, and "MUST
        // include the loose-routing indicator parameter ;lr".
        let mut service_route = Vec::new();
        for (i, text) in reg.service_route.iter().flatten().enumerate() {
            let key = format!("registrar.service_route[{i}]");
            let inner = text
                .trim()
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or(text.trim());
            let uri = Uri::parse(inner).map_err(|e| err(&key, format!("{text:?}: {e}")))?;
            let sip = uri
                .as_sip()
                .ok_or_else(|| err(&key, format!("{text:?}: a sip: or sips: URI")))?;
            if !sip.has_param("lr") {
                return Err(err(
                    &key,
                    format!("{text:?}: a Service-Route is a loose route: add ;lr (RFC 3608 §5)"),
                ));
            }
            service_route.push(format!("<{uri}>"));
        }
        let store = match reg.store.as_deref() {
            None | Some("log") => StoreKind::Log,
            Some("redb") => StoreKind::Redb,
            Some("memory") => StoreKind::Memory,
            Some(other) => {
                return Err(err(
                    "registrar.store",
                    format!(
                        "{other:?}: expected \"log\" (durable, an append-only log, the \
                         default), \"redb\" (durable, a database) or \"memory\""
                    ),
                ))
            }
        };
        let threads = match o.threads.or(f.server.threads).unwrap_or(0) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS)),
            n if n > MAX_THREADS => {
                return Err(err(
                    "server.threads",
                    format!("{n}: at most {MAX_THREADS} (0: one per CPU)"),
                ))
            }
            n => n,
        };
        Ok(Self {
            threads,
            listen,
            domains,
            data_dir: o
                .data_dir
                .clone()
                .or(f.server.data_dir)
                .unwrap_or_else(|| PathBuf::from("sipline-data")),
            mode,
            record_route: f.server.record_route.unwrap_or(true),
            sequential_forking,
            server_header: f
                .server
                .server_header
                .unwrap_or_else(|| concat!("sipline/", env!("CARGO_PKG_VERSION")).into()),
            tls,
            t1,
            t2: ms(f.timers.t2_ms, 4000),
            t4: ms(f.timers.t4_ms, 5000),
            timer_c,
            branch_timeout,
            shutdown_grace: Duration::from_secs(f.timers.shutdown_grace_s.unwrap_or(5)),
            max_message_size: f.limits.max_message_size.unwrap_or(65_535),
            max_connections: f.limits.max_connections.unwrap_or(1024),
            idle_timeout: Duration::from_secs(f.limits.idle_timeout_s.unwrap_or(300)),
            default_expires: reg.default_expires.unwrap_or(3600),
            min_expires: reg.min_expires.unwrap_or(60),
            max_expires: reg.max_expires.unwrap_or(86_400),
            realm,
            users,
            nonce_lifetime,
            algorithms,
            routes,
            service_route,
            store,
            stateless_register: reg.stateless.unwrap_or(true),
            domain_modes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let f: File = toml::from_str(text).map_err(|e| err("toml", e.message().to_string()))?;
        Config::from_file(f, &Overrides::default())
    }

    #[test]
    fn threads() {
        let one_per_cpu = std::thread::available_parallelism().map_or(1, |n| n.get().min(16));
        assert_eq!(load("").unwrap().threads, one_per_cpu);
        assert_eq!(load("[server]\nthreads = 0").unwrap().threads, one_per_cpu);
        assert_eq!(load("[server]\nthreads = 3").unwrap().threads, 3);
        let e = load("[server]\nthreads = 17").unwrap_err().to_string();
        assert!(
            e.contains("server.threads") && e.contains("at most 16"),
            "{e}"
        );
    }

    #[test]
    fn defaults() {
        let c = load("").unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.listen[0].addr, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(c.mode, Mode::Proxy);
        assert!(c.users.is_empty());
        assert_eq!(c.store, StoreKind::Log);
    }

    #[test]
    fn registrar_store() {
        let kind = |v: &str| {
            load(&format!("[registrar]\nstore = \"{v}\""))
                .unwrap()
                .store
        };
        assert_eq!(kind("redb"), StoreKind::Redb);
        assert_eq!(kind("log"), StoreKind::Log);
        assert_eq!(kind("memory"), StoreKind::Memory);
        let e = load("[registrar]\nstore = \"disk\"").unwrap_err();
        assert!(e.to_string().contains("config: registrar.store:"), "{e}");
        assert!(
            e.to_string().contains("\"log\""),
            "the choices are listed: {e}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = load("[server]\nlisten = [\"udp:127.0.0.1:5060\", \"foo:1.2.3.4:5\"]").unwrap_err();
        assert!(
            e.to_string().starts_with("config: server.listen[1]:"),
            "{e}"
        );
        let e = load("[server]\nmode = \"relay\"").unwrap_err();
        assert!(e.to_string().contains("server.mode"), "{e}");
        let e = load("[server]\nlisten = [\"tls:127.0.0.1:5061\"]").unwrap_err();
        assert!(e.to_string().contains("config: tls:"), "{e}");
        let e = load("[[auth.users]]\nname = \"alice\"").unwrap_err();
        assert!(e.to_string().contains("auth.users[0]"), "{e}");
        let e = load("[[routes]]\nprefix = \"+1\"\nnext_hops = [\"not a uri\"]").unwrap_err();
        assert!(e.to_string().contains("routes[0].next_hops[0]"), "{e}");
        let e = load("[timers]\ntimer_c_s = 60").unwrap_err();
        assert!(e.to_string().contains("timers.timer_c_s"), "{e}");
        let e = load("[auth]\nnonce_lifetime_s = 0").unwrap_err();
        assert!(e.to_string().contains("auth.nonce_lifetime_s"), "{e}");
        let e = load("[timers]\nbranch_timeout_s = 0").unwrap_err();
        assert!(e.to_string().contains("timers.branch_timeout_s"), "{e}");
        let e = load("[[domain]]\nname = \"a.test\"\nmode = \"relay\"").unwrap_err();
        assert!(e.to_string().contains("config: domain[0].mode:"), "{e}");
        let e = load("[[domain]]\nname = \"a.test\"\nmode = \"stateless\"").unwrap_err();
        assert!(e.to_string().contains("config: domain[0].mode:"), "{e}");
        let e =
            load("[server]\nmode = \"stateless\"\n[[domain]]\nname = \"a.test\"\nmode = \"proxy\"")
                .unwrap_err();
        assert!(e.to_string().contains("config: domain[0].mode:"), "{e}");
        let e = load("[[domain]]\nname = \"a.test\"\n[[domain]]\nname = \"A.test\"").unwrap_err();
        assert!(e.to_string().contains("config: domain[1].name:"), "{e}");
        let e = load("[[domain]]\nname = \"a test\"").unwrap_err();
        assert!(e.to_string().contains("config: domain[0].name:"), "{e}");
        let e =
            load("[registrar]\nservice_route = [\"sip:p.test;lr\", \"sip:q.test\"]").unwrap_err();
        assert!(
            e.to_string()
                .contains("config: registrar.service_route[1]:"),
            "{e}"
        );
        let e = load("[registrar]\nservice_route = [\"tel:+123\"]").unwrap_err();
        assert!(
            e.to_string()
                .contains("config: registrar.service_route[0]:"),
            "{e}"
        );
        let e = load("[server]\nlisten_on = []").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn the_example_config_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sipline.example.toml");
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(c.domains, ["example.com", "moved.example.com"]);
        assert_eq!(c.mode_for("Moved.Example.com"), Mode::Redirect);
        assert_eq!(c.mode_for("example.com"), Mode::Proxy);
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.routes.len(), 2);
    }

    #[test]
    fn domain_modes_and_service_route() {
        let c = load(
            "[server]\nmode = \"redirect\"\ndomains = [\"a.test\"]\n\
             [[domain]]\nname = \"a.test\"\nmode = \"proxy\"\n\
             [[domain]]\nname = \"b.test\"\n\
             [registrar]\nservice_route = [\"<sip:orig@p.test;lr>\", \"sip:q.test:5070;lr\"]\n",
        )
        .unwrap();
        assert_eq!(c.domains, ["a.test", "b.test"]);
        assert_eq!(c.mode_for("a.test"), Mode::Proxy);
        assert_eq!(c.mode_for("b.test"), Mode::Redirect);
        assert_eq!(c.mode_for("elsewhere.test"), Mode::Redirect);
        assert_eq!(
            c.service_route,
            ["<sip:orig@p.test;lr>", "<sip:q.test:5070;lr>"]
        );
    }

    #[test]
    fn users_and_routes() {
        let c = load(
            "[auth]\nrealm = \"example.com\"\n[[auth.users]]\nname = \"alice\"\npassword = \"secret\"\n\
             [[auth.users]]\nname = \"bob\"\nha1_md5 = \"00112233445566778899aabbccddeeff\"\n\
             [[routes]]\nprefix = \"+1\"\nnext_hops = [\"sip:gw1.example.com\", \"sip:gw2.example.com\"]\n",
        )
        .unwrap();
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.realm.as_deref(), Some("example.com"));
        assert_eq!(c.routes[0].next_hops.len(), 2);
    }
}
