//! `host = hostname / IPv4address / IPv6reference` (RFC 3261 §25.1).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::{Host, UriError, UriErrorKind};

impl Host {
    /// Parses a host: a domain name, a dotted-quad IPv4 address or a bracketed IPv6 reference
    /// (`[2001:db8::1]`; a bare IPv6 address is rejected, as in the `host` rule of
    /// RFC 3261 §25.1). Escapes are not allowed (RFC 3261 §19.1.2).
    ///
    /// Domain names follow `hostname` of RFC 3261 §25.1 (labels of alphanumerics and `-`, not
    /// starting or ending with `-`, separated by `.`, optional trailing `.`), with two
    /// tolerances: `_` is accepted in labels and the top label may start with a digit (as long
    /// as the whole name is not made of digits and dots only, which must be an IPv4 address).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        parse_host(s, 0)
    }

    /// Compares hosts as RFC 3261 §19.1.4 does: domain names case-insensitively, addresses by
    /// value. A domain name never equals an address ("An IP address that is the result of a
    /// DNS lookup of a host name does not match that host name").
    pub fn eq_ignore_case(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }

    /// Appends the host as `Display` writes it (IPv6 in brackets).
    pub fn push_to(&self, out: &mut String) {
        match self {
            Host::Domain(d) => out.push_str(d),
            Host::Ipv4(a) => out.push_str(crate::text::ipv4(*a).as_str()),
            Host::Ipv6(a) => {
                use fmt::Write as _;
                let _ = write!(out, "[{a}]");
            }
        }
    }

    /// Whether this is an IPv4 or IPv6 address.
    pub fn is_ip(&self) -> bool {
        !matches!(self, Host::Domain(_))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => f.write_str(crate::text::ipv4(*a).as_str()),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

impl FromStr for Host {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Host::parse(s)
    }
}

impl From<Ipv4Addr> for Host {
    fn from(a: Ipv4Addr) -> Self {
        Host::Ipv4(a)
    }
}

impl From<Ipv6Addr> for Host {
    fn from(a: Ipv6Addr) -> Self {
        Host::Ipv6(a)
    }
}

/// Parses the host text `h`, which starts at byte `base` of the whole URI.
pub(super) fn parse_host(h: &str, base: usize) -> Result<Host, UriError> {
    let b = h.as_bytes();
    match b.first() {
        None => Err(UriError::new(UriErrorKind::EmptyHost, base)),
        Some(b'[') => {
            // IPv6reference = "[" IPv6address "]" (RFC 3261 §25.1)
            let err = UriError::new(UriErrorKind::InvalidIpv6, base);
            if b.len() < 3 || b.last() != Some(&b']') {
                return Err(err);
            }
            h.get(1..h.len() - 1)
                .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
                .map(Host::Ipv6)
                .ok_or(err)
        }
        Some(_) => {
            check_hostname(b, base)?;
            if b.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
                // Digits and dots only: no toplabel (it starts with ALPHA), so an IPv4address.
                return parse_ipv4(b)
                    .map(Host::Ipv4)
                    .ok_or(UriError::new(UriErrorKind::InvalidIpv4, base));
            }
            Ok(Host::Domain(h.to_owned()))
        }
    }
}

/// `hostname = *( domainlabel "." ) toplabel [ "." ]` (RFC 3261 §25.1), tolerant as described
/// in [`Host::parse`]. Also accepts dotted digits (checked as IPv4 by the caller).
pub(super) fn check_hostname(b: &[u8], base: usize) -> Result<(), UriError> {
    if b.is_empty() {
        return Err(UriError::new(UriErrorKind::EmptyHost, base));
    }
    let bad = |i: usize| Err(UriError::new(UriErrorKind::InvalidHost, base + i));
    let mut label_start = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'.' => {
                // Empty label ("a..b", ".a") or label ending in '-'.
                if i == label_start {
                    return bad(i);
                }
                if b.get(i - 1) == Some(&b'-') {
                    return bad(i - 1);
                }
                label_start = i + 1;
            }
            b'-' if i == label_start => return bad(i),
            c if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' => {}
            _ => return bad(i),
        }
    }
    // Last label: may be empty only after a trailing dot ("example.com.").
    if b.last() == Some(&b'-') {
        return bad(b.len() - 1);
    }
    Ok(())
}

/// `IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT` (RFC 3261 §25.1), each
/// part at most 255. Leading zeros are accepted (the ABNF allows them).
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = b.split(|&c| c == b'.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 {
            return None;
        }
        let mut v = 0u16;
        for &d in p {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(d - b'0');
        }
        *o = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}
