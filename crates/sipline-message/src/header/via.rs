//! Via (RFC 3261 §20.42, §25.1; received/rport of RFC 3581).

use super::params::{find_param, Params};
use super::scan::Cursor;
use super::InvalidValue;
use crate::uri::Host;
use bytestring::ByteString;
use std::fmt;

/// The branch magic cookie of RFC 3261 §8.1.1.7.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// protocol-name, normally `SIP`.
    pub protocol: ByteString,
    /// protocol-version, normally `2.0`.
    pub version: ByteString,
    /// transport, e.g. `UDP`, `TCP`, `TLS`, `WS`.
    pub transport: ByteString,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params: branch, received, rport, maddr, ttl and any other.
    pub params: Params,
}

impl Via {
    /// A `SIP/2.0/<transport>` Via with a branch.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Self {
            protocol: ByteString::from_static("SIP"),
            version: ByteString::from_static("2.0"),
            transport: ByteString::from(transport),
            host,
            port,
            params,
        }
    }

    /// Parses one Via value (not a comma list).
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let protocol = c.token().ok_or(InvalidValue)?;
        if !c.eat(b'/') {
            return Err(InvalidValue);
        }
        let version = c.token().ok_or(InvalidValue)?;
        if !c.eat(b'/') {
            return Err(InvalidValue);
        }
        let transport = c.token().ok_or(InvalidValue)?;
        c.skip_ws();
        let (host, port) = parse_host_port(&mut c)?;
        let params = Params::parse(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(InvalidValue);
        }
        Ok(Self {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// True if the branch starts with the RFC 3261 magic cookie (§8.1.1.7).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The received parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    /// The rport parameter (RFC 3581): `Some(None)` when present without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|v| v.parse().ok()))
    }

    /// The maddr parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.get("maddr").flatten()
    }

    /// The ttl parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get("ttl")
            .flatten()
            .and_then(|v| v.parse().ok())
    }

    /// `host[:port]` as written in sent-by.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

/// The branch of a Via value, read without parsing the rest: the fast path for
/// transaction matching.
pub(crate) fn find_branch(value: &str) -> Option<&str> {
    let end = super::scan::find_top_level_comma(value.as_bytes(), 0).unwrap_or(value.len());
    let first = &value[..end];
    let semi = first.find(';')?;
    find_param(&first[semi..], "branch").flatten()
}

/// The sent-by of a Via value, read without allocating: the host as
/// written and the port. The fast path for transaction matching (§17.2.3).
pub(crate) fn find_sent_by(value: &str) -> Option<(&str, Option<u16>)> {
    let end = super::scan::find_top_level_comma(value.as_bytes(), 0).unwrap_or(value.len());
    let v = &value.as_bytes()[..end];
    let mut i = 0;
    // sent-protocol: three tokens separated by "/" with optional LWS
    for part in 0..3 {
        while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
            i += 1;
        }
        let start = i;
        while i < v.len() && crate::method::is_token_byte(v[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        if part < 2 {
            while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
                i += 1;
            }
            if v.get(i) != Some(&b'/') {
                return None;
            }
            i += 1;
        }
    }
    while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
        i += 1;
    }
    let host_start = i;
    if v.get(i) == Some(&b'[') {
        while i < v.len() && v[i] != b']' {
            i += 1;
        }
        if i == v.len() {
            return None;
        }
        i += 1;
    } else {
        while i < v.len() && (v[i].is_ascii_alphanumeric() || matches!(v[i], b'.' | b'-' | b'_')) {
            i += 1;
        }
    }
    if i == host_start {
        return None;
    }
    let host = &value[host_start..i];
    while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
        i += 1;
    }
    let port = if v.get(i) == Some(&b':') {
        i += 1;
        while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
            i += 1;
        }
        let start = i;
        while i < v.len() && v[i].is_ascii_digit() {
            i += 1;
        }
        Some(value[start..i].parse().ok()?)
    } else {
        None
    };
    Some((host, port))
}

/// `host [ COLON port ]`, with IPv6 references in brackets.
pub(crate) fn parse_host_port(c: &mut Cursor<'_>) -> Result<(Host, Option<u16>), InvalidValue> {
    let start = c.pos;
    if c.peek() == Some(b'[') {
        while let Some(b) = c.peek() {
            c.pos += 1;
            if b == b']' {
                break;
            }
        }
    } else {
        while c
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            c.pos += 1;
        }
    }
    let host_text = c.src.get(start..c.pos).ok_or(InvalidValue)?;
    let host = Host::parse(host_text).map_err(|_| InvalidValue)?;
    let port = if c.eat(b':') {
        let digits = c.take_while(|b| b.is_ascii_digit());
        Some(digits.parse::<u16>().map_err(|_| InvalidValue)?)
    } else {
        None
    };
    Ok((host, port))
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        fmt::Display::fmt(&self.params, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(s: &str) -> Result<Via, InvalidValue> {
        Via::parse(&ByteString::from(s.to_string()))
    }

    #[test]
    fn rfc3261_examples() {
        let v = via("SIP/2.0/UDP erlang.bell-telephone.com:5060;branch=z9hG4bK87asdks7").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host.to_string(), "erlang.bell-telephone.com");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK87asdks7"));
        assert!(v.has_rfc3261_branch());
        let v =
            via("SIP/2.0/UDP 192.0.2.1:5060 ;received=192.0.2.207;branch=z9hG4bK77asjd").unwrap();
        assert_eq!(v.received(), Some("192.0.2.207"));
        // §7.3.1 / §25: LWS around the slashes
        let v = via("SIP / 2.0 / TCP  [2001:db8::9]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host.to_string(), "[2001:db8::9]");
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP [2001:db8::9]:5070;rport;branch=z9hG4bKx"
        );
    }

    #[test]
    fn rport_maddr_ttl() {
        let v = via("SIP/2.0/UDP h;rport=5061;maddr=224.2.0.1;ttl=16;received=::1").unwrap();
        assert_eq!(v.rport(), Some(Some(5061)));
        assert_eq!(v.maddr(), Some("224.2.0.1"));
        assert_eq!(v.ttl(), Some(16));
        assert_eq!(v.received(), Some("::1"));
        assert_eq!(v.sent_by(), "h");
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "SIP/2.0",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host:",
            "SIP/2.0/UDP host junk",
            "SIP/2.0/UDP [::1",
            "SIP/2.0/UDP host;=x",
        ] {
            assert!(via(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fast_sent_by() {
        assert_eq!(
            find_sent_by("SIP/2.0/UDP pc33.atlanta.com:5060;branch=z9hG4bK1"),
            Some(("pc33.atlanta.com", Some(5060)))
        );
        assert_eq!(
            find_sent_by("SIP / 2.0 / TCP [2001:db8::9] : 5070 ;rport"),
            Some(("[2001:db8::9]", Some(5070)))
        );
        assert_eq!(
            find_sent_by("SIP/2.0/UDP h, SIP/2.0/UDP g:1"),
            Some(("h", None))
        );
        for bad in [
            "",
            "SIP/2.0",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP [::1",
            "SIP/2.0/UDP h:99999",
        ] {
            assert_eq!(find_sent_by(bad), None, "{bad}");
        }
        // agrees with the full parser
        for v in [
            "SIP/2.0/UDP a.b:1;x",
            "SIP/2.0/TLS [::1]:5061",
            "SIP/2.0/WS c",
        ] {
            let full = Via::parse(&ByteString::from(v)).unwrap();
            let (host, port) = find_sent_by(v).unwrap();
            assert_eq!((host.to_string(), port), (full.host.to_string(), full.port));
        }
    }

    #[test]
    fn fast_branch() {
        assert_eq!(
            find_branch("SIP/2.0/UDP h;rport;branch=z9hG4bK-1;x"),
            Some("z9hG4bK-1")
        );
        assert_eq!(find_branch("SIP/2.0/UDP h"), None);
        assert_eq!(
            find_branch("SIP/2.0/UDP h, SIP/2.0/UDP g;branch=z9hG4bK2"),
            None
        );
    }
}
