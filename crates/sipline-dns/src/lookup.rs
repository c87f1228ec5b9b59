//! The DNS records the resolver needs, and the [`Lookup`] trait through which it queries them.
//!
//! [`MemoryLookup`] is an in-memory zone implementing [`Lookup`], for tests and for static
//! configuration; [`crate::HickoryLookup`] queries real DNS servers.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;

/// A NAPTR record (RFC 3403 §4.1), as used by RFC 3263 §4.1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Naptr {
    /// ORDER: records are processed from lowest to highest.
    pub order: u16,
    /// PREFERENCE: the order among records of equal ORDER, lowest first.
    pub preference: u16,
    /// FLAGS, e.g. `"s"` (the next lookup is for SRV records).
    pub flags: String,
    /// SERVICES, e.g. `"SIP+D2U"` or `"SIPS+D2T"` (RFC 3263 §4.1, RFC 7118 §5.5).
    pub services: String,
    /// REGEXP: empty for SIP (RFC 3263 §4.1).
    pub regexp: String,
    /// REPLACEMENT: the domain name to query next, e.g. `_sip._udp.example.com`.
    pub replacement: String,
}

impl Naptr {
    /// A terminal (`"s"` flag) record with an empty regexp, as RFC 3263 §4.1 describes.
    pub fn srv(order: u16, preference: u16, services: &str, replacement: &str) -> Self {
        Self {
            order,
            preference,
            flags: "s".to_owned(),
            services: services.to_owned(),
            regexp: String::new(),
            replacement: replacement.to_owned(),
        }
    }
}

/// An SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Priority: lowest first.
    pub priority: u16,
    /// Weight: relative share among records of equal priority.
    pub weight: u16,
    /// Port of the service on the target.
    pub port: u16,
    /// Target host name; `"."` means the service is decidedly not available (RFC 2782).
    pub target: String,
}

impl Srv {
    /// An SRV record.
    pub fn new(priority: u16, weight: u16, port: u16, target: &str) -> Self {
        Self {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    /// Whether the target is `"."` (the root): "the service is decidedly not available at this
    /// domain" (RFC 2782, "Target").
    pub fn is_unavailable(&self) -> bool {
        self.target == "." || self.target.is_empty()
    }
}

/// Why a query gave no answer.
///
/// A query that succeeded but found no record of the asked type (NOERROR/NODATA) is not an
/// error: it returns `Ok` with an empty list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// NXDOMAIN: the name does not exist, nor any name below it (RFC 8020).
    #[error("no such domain")]
    NxDomain,
    /// No usable answer: SERVFAIL, REFUSED, a timeout, an I/O error, a malformed response.
    #[error("DNS failure: {0}")]
    Failure(String),
}

/// The DNS queries of RFC 3263. Implemented by [`crate::HickoryLookup`] (real DNS) and
/// [`MemoryLookup`] (an in-memory zone).
///
/// Names are given as written in the URI or in records, with or without a trailing dot, and
/// are meant as fully qualified (no search list). Each method returns `Ok(vec![])` when the
/// name exists but has no record of that type, [`LookupError::NxDomain`] when the name does
/// not exist, and [`LookupError::Failure`] when no answer could be had.
pub trait Lookup {
    /// NAPTR records of `name`.
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Vec<Naptr>, LookupError>> + Send;
    /// SRV records of `name` (e.g. `_sip._udp.example.com`).
    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, LookupError>> + Send;
    /// The addresses of `name`: its A and AAAA records, both families.
    fn ip(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, LookupError>> + Send;
}

/// A name in canonical form for comparisons: lower case, no trailing dot.
pub(crate) fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Which record type an injected error applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// NAPTR queries.
    Naptr,
    /// SRV queries.
    Srv,
    /// A/AAAA queries.
    Ip,
}

/// An in-memory zone: a [`Lookup`] that answers from records added to it.
///
/// Names compare case-insensitively, with or without a trailing dot. A name with no record
/// of any type, and no record below it, answers NXDOMAIN; a name that has records of other
/// types, or records below it (an "empty non-terminal", RFC 8020), answers with an empty
/// list. Errors can be injected per name and record type with [`MemoryLookup::fail`].
#[derive(Debug, Clone, Default)]
pub struct MemoryLookup {
    naptr: HashMap<String, Vec<Naptr>>,
    srv: HashMap<String, Vec<Srv>>,
    ip: HashMap<String, Vec<IpAddr>>,
    errors: HashMap<(String, RecordKind), LookupError>,
    queries: std::sync::Arc<std::sync::Mutex<Vec<(RecordKind, String)>>>,
}

impl MemoryLookup {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a NAPTR record at `name`.
    pub fn add_naptr(&mut self, name: &str, record: Naptr) -> &mut Self {
        self.naptr.entry(normalize(name)).or_default().push(record);
        self
    }

    /// Adds an SRV record at `name`.
    pub fn add_srv(&mut self, name: &str, record: Srv) -> &mut Self {
        self.srv.entry(normalize(name)).or_default().push(record);
        self
    }

    /// Adds an A or AAAA record at `name`.
    pub fn add_ip(&mut self, name: &str, addr: IpAddr) -> &mut Self {
        self.ip.entry(normalize(name)).or_default().push(addr);
        self
    }

    /// Makes queries of `kind` for `name` fail with `error`.
    pub fn fail(&mut self, name: &str, kind: RecordKind, error: LookupError) -> &mut Self {
        self.errors.insert((normalize(name), kind), error);
        self
    }

    /// The queries answered so far, in order, with names normalized (lower case, no trailing
    /// dot). Clones of a `MemoryLookup` share this log.
    pub fn queries(&self) -> Vec<(RecordKind, String)> {
        self.queries.lock().map(|q| q.clone()).unwrap_or_default()
    }

    fn exists(&self, name: &str) -> bool {
        let suffix = format!(".{name}");
        let below = |k: &String| k == name || k.ends_with(&suffix);
        self.naptr.keys().any(below) || self.srv.keys().any(below) || self.ip.keys().any(below)
    }

    fn answer<T: Clone>(
        &self,
        kind: RecordKind,
        map: &HashMap<String, Vec<T>>,
        name: &str,
    ) -> Result<Vec<T>, LookupError> {
        let name = normalize(name);
        if let Ok(mut q) = self.queries.lock() {
            q.push((kind, name.clone()));
        }
        if let Some(e) = self.errors.get(&(name.clone(), kind)) {
            return Err(e.clone());
        }
        match map.get(&name) {
            Some(v) => Ok(v.clone()),
            None if self.exists(&name) => Ok(Vec::new()),
            None => Err(LookupError::NxDomain),
        }
    }
}

impl Lookup for MemoryLookup {
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Vec<Naptr>, LookupError>> + Send {
        std::future::ready(self.answer(RecordKind::Naptr, &self.naptr, name))
    }

    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, LookupError>> + Send {
        std::future::ready(self.answer(RecordKind::Srv, &self.srv, name))
    }

    fn ip(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, LookupError>> + Send {
        std::future::ready(self.answer(RecordKind::Ip, &self.ip, name))
    }
}
