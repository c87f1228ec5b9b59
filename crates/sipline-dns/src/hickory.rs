//! [`Lookup`] over real DNS with `hickory-resolver` (tokio).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::lookup::{Lookup, LookupError, Naptr, Srv};

/// How to reach a name server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsProtocol {
    /// UDP (retried over TCP when the answer is truncated).
    Udp,
    /// TCP only.
    Tcp,
}

/// A name server to query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameServer {
    /// Address and port of the server.
    pub addr: SocketAddr,
    /// Protocol.
    pub protocol: DnsProtocol,
}

/// Configuration of a [`HickoryLookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HickoryConfig {
    /// The name servers to query, in order; empty means the system configuration
    /// (`/etc/resolv.conf` on Unix).
    pub name_servers: Vec<NameServer>,
    /// Time to wait for one answer.
    pub timeout: Duration,
    /// Number of tries per query.
    pub attempts: usize,
    /// Whether to cache answers (for their TTL).
    pub cache: bool,
}

impl Default for HickoryConfig {
    /// System name servers, 5 s timeout, 2 attempts, cache on.
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            cache: true,
        }
    }
}

impl HickoryConfig {
    /// Query only `servers` (e.g. a test server on loopback), otherwise default.
    pub fn with_name_servers(servers: &[NameServer]) -> Self {
        Self {
            name_servers: servers.to_vec(),
            ..Self::default()
        }
    }
}

/// A [`Lookup`] that queries DNS through `hickory-resolver` on tokio.
///
/// Names are queried as fully qualified (no search list). Must be used within a tokio
/// runtime.
#[derive(Clone)]
pub struct HickoryLookup {
    resolver: TokioResolver,
}

impl std::fmt::Debug for HickoryLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryLookup").finish_non_exhaustive()
    }
}

/// The resolver could not be set up (e.g. the system configuration is unreadable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("DNS resolver configuration: {0}")]
pub struct ConfigError(String);

impl HickoryLookup {
    /// A resolver with `config`.
    pub fn new(config: &HickoryConfig) -> Result<Self, ConfigError> {
        let mut builder = if config.name_servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| ConfigError(e.to_string()))?
        } else {
            let servers = config
                .name_servers
                .iter()
                .map(|ns| {
                    let mut conn = ConnectionConfig::new(match ns.protocol {
                        DnsProtocol::Udp => ProtocolConfig::Udp,
                        DnsProtocol::Tcp => ProtocolConfig::Tcp,
                    });
                    conn.port = ns.addr.port();
                    let mut conns = vec![conn];
                    if ns.protocol == DnsProtocol::Udp {
                        // Truncated UDP answers are retried over TCP on the same port.
                        let mut tcp = ConnectionConfig::new(ProtocolConfig::Tcp);
                        tcp.port = ns.addr.port();
                        conns.push(tcp);
                    }
                    NameServerConfig::new(ns.addr.ip(), true, conns)
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        opts.timeout = config.timeout;
        opts.attempts = config.attempts.max(1);
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        if !config.cache {
            opts.cache_size = 0;
        }
        let resolver = builder.build().map_err(|e| ConfigError(e.to_string()))?;
        Ok(Self { resolver })
    }

    /// A resolver with the system configuration.
    pub fn system() -> Result<Self, ConfigError> {
        Self::new(&HickoryConfig::default())
    }
}

/// The name as an absolute name, so that no search domain is appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// A domain name as text, without the trailing dot ("." stays ".").
fn name_text(name: &hickory_resolver::proto::rr::Name) -> String {
    let s = name.to_ascii();
    match s.strip_suffix('.') {
        Some("") | None => s,
        Some(t) => t.to_owned(),
    }
}

fn map_err<T>(e: NetError) -> Result<Vec<T>, LookupError> {
    if e.is_nx_domain() {
        Err(LookupError::NxDomain)
    } else if e.is_no_records_found() {
        Ok(Vec::new())
    } else {
        Err(LookupError::Failure(e.to_string()))
    }
}

impl Lookup for HickoryLookup {
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Vec<Naptr>, LookupError>> + Send {
        let name = fqdn(name);
        async move {
            match self.resolver.lookup(name.as_str(), RecordType::NAPTR).await {
                Ok(l) => Ok(l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NAPTR(n) => Some(Naptr {
                            order: n.order,
                            preference: n.preference,
                            flags: String::from_utf8_lossy(&n.flags).into_owned(),
                            services: String::from_utf8_lossy(&n.services).into_owned(),
                            regexp: String::from_utf8_lossy(&n.regexp).into_owned(),
                            replacement: name_text(&n.replacement),
                        }),
                        _ => None,
                    })
                    .collect()),
                Err(e) => map_err(e),
            }
        }
    }

    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, LookupError>> + Send {
        let name = fqdn(name);
        async move {
            match self.resolver.lookup(name.as_str(), RecordType::SRV).await {
                Ok(l) => Ok(l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(s) => Some(Srv {
                            priority: s.priority,
                            weight: s.weight,
                            port: s.port,
                            target: name_text(&s.target),
                        }),
                        _ => None,
                    })
                    .collect()),
                Err(e) => map_err(e),
            }
        }
    }

    fn ip(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, LookupError>> + Send {
        let name = fqdn(name);
        async move {
            match self.resolver.lookup_ip(name.as_str()).await {
                Ok(l) => Ok(l.iter().collect()),
                Err(e) => map_err(e),
            }
        }
    }
}
