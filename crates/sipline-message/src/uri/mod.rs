//! URIs: `sip:` and `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other absoluteURI kept
//! opaque.
//!
//! Parsing is strict about syntax (the ABNF of RFC 3261 §25.1 and RFC 3966 §3) with a few
//! documented tolerances (`_` in host names, `#` in the SIP user part). Components are stored
//! as written (escaped), so `Display` reproduces the input byte for byte, except that:
//! the scheme is written in lower case, IP addresses are written in canonical form
//! (`[2001:DB8:0::1]` → `[2001:db8::1]`, `192.000.002.004` → `192.0.2.4`), and leading zeros
//! of a port are dropped. For every URI that parses, `Uri::parse(&u.to_string()) == Ok(u)`.
//!
//! Comparison per RFC 3261 §19.1.4 and RFC 3966 §4 is [`Uri::equivalent`] (the derived
//! `PartialEq` is structural equality, used for round-trip checks).
//!
//! Error offsets are byte offsets into the text given to the parser.

use std::fmt;
use std::str::FromStr;

pub mod escape;
mod host;
mod sip;
mod tel;
#[cfg(test)]
mod tests;

pub use sip::SipUri;
pub use tel::TelUri;

use std::net::{Ipv4Addr, Ipv6Addr};

/// Any URI found in a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:` (RFC 3966).
    Tel(TelUri),
    /// Any other absoluteURI, kept as written.
    Other(OtherUri),
}

/// `sip` or `sips`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
}

impl Scheme {
    /// `"sip"` or `"sips"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
        }
    }

    /// The default port of the scheme: 5060 for `sip`, 5061 for `sips` (RFC 3261 §19.1.2
    /// Table 1 note (1)).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Sip => 5060,
            Scheme::Sips => 5061,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host: domain name, IPv4 address or IPv6 reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Domain(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

/// One `;name[=value]` URI parameter, as written (escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriParam {
    /// Parameter name.
    pub name: String,
    /// Value, if any.
    pub value: Option<String>,
}

impl UriParam {
    /// A parameter from already escaped name and value.
    pub fn new(name: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        Self {
            name: name.into(),
            value: value.map(Into::into),
        }
    }
}

/// `name` or `name=value`.
impl fmt::Display for UriParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            f.write_str("=")?;
            f.write_str(v)?;
        }
        Ok(())
    }
}

/// Any other absoluteURI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherUri {
    /// Scheme, as written.
    pub scheme: String,
    /// Everything after the first colon.
    pub rest: String,
}

impl OtherUri {
    /// Scheme compared case-insensitively (RFC 3986 §3.1), the rest byte for byte.
    pub fn equivalent(&self, other: &OtherUri) -> bool {
        self.scheme.eq_ignore_ascii_case(&other.scheme) && self.rest == other.rest
    }
}

/// Why a URI did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct UriError {
    /// What is wrong.
    pub kind: UriErrorKind,
    /// Byte offset into the URI text.
    pub offset: usize,
}

impl UriError {
    /// An error of `kind` at byte `offset`.
    pub fn new(kind: UriErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

/// What is wrong with a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum UriErrorKind {
    /// No `scheme:` at the start.
    #[error("missing scheme")]
    MissingScheme,
    /// The scheme is not `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    #[error("invalid character in scheme")]
    InvalidScheme,
    /// A specific parser (e.g. `SipUri::parse`) was given another scheme.
    #[error("unexpected scheme")]
    UnexpectedScheme,
    /// Nothing after `scheme:` (other schemes).
    #[error("nothing after scheme")]
    EmptyBody,
    /// A character not allowed in an absoluteURI (other schemes).
    #[error("invalid character in URI")]
    InvalidChar,
    /// `@` present but the user part is empty.
    #[error("empty user part")]
    EmptyUser,
    /// A character not allowed in the user part.
    #[error("invalid character in user part")]
    InvalidUserChar,
    /// A character not allowed in the password.
    #[error("invalid character in password")]
    InvalidPasswordChar,
    /// The host is empty.
    #[error("empty host")]
    EmptyHost,
    /// The host is not a valid host name.
    #[error("invalid host name")]
    InvalidHost,
    /// Digits and dots that are not a valid IPv4 address.
    #[error("invalid IPv4 address")]
    InvalidIpv4,
    /// A `[...]` that is not a valid IPv6 reference.
    #[error("invalid IPv6 reference")]
    InvalidIpv6,
    /// `:` not followed by a port.
    #[error("empty port")]
    EmptyPort,
    /// A port that is not a number up to 65535.
    #[error("invalid port")]
    InvalidPort,
    /// `;` not followed by a parameter name.
    #[error("empty parameter name")]
    EmptyParamName,
    /// `name=` without a value.
    #[error("empty parameter value")]
    EmptyParamValue,
    /// A character not allowed in a parameter name or value.
    #[error("invalid character in parameter")]
    InvalidParamChar,
    /// The same parameter name twice (RFC 3261 §19.1.1, RFC 3966 §3).
    #[error("duplicate parameter")]
    DuplicateParam,
    /// An empty header name in the `?` part.
    #[error("empty header name")]
    EmptyHeaderName,
    /// A header in the `?` part without `=`.
    #[error("missing '=' in header")]
    MissingHeaderValue,
    /// A character not allowed in a header name or value.
    #[error("invalid character in header")]
    InvalidHeaderChar,
    /// `%` not followed by two hex digits.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// Escaped bytes that do not decode to UTF-8 (only from `escape::unescape`).
    #[error("escaped bytes are not valid UTF-8")]
    InvalidUtf8,
    /// A tel URI without digits.
    #[error("empty tel number")]
    EmptyTelNumber,
    /// A character not allowed in a tel number.
    #[error("invalid character in tel number")]
    InvalidTelNumber,
    /// A local tel number without `;phone-context=` (RFC 3966 §5.1.5).
    #[error("local tel number without phone-context")]
    MissingPhoneContext,
    /// A phone-context that is neither a domain name nor a global number.
    #[error("invalid phone-context")]
    InvalidPhoneContext,
    /// An `ext` parameter that is not `1*phonedigit`.
    #[error("invalid ext parameter")]
    InvalidExtension,
    /// An `isub` parameter that is not `1*uric`.
    #[error("invalid isub parameter")]
    InvalidIsub,
}

/// Splits `scheme ":"` off `s` (RFC 3986 §3.1, RFC 3261 §25.1
/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`). Returns the scheme as written and
/// the offset just past the colon.
pub(super) fn split_scheme(s: &str) -> Result<(&str, usize), UriError> {
    let b = s.as_bytes();
    let colon = b
        .iter()
        .position(|&c| c == b':')
        .ok_or(UriError::new(UriErrorKind::MissingScheme, 0))?;
    if colon == 0 {
        return Err(UriError::new(UriErrorKind::MissingScheme, 0));
    }
    for (i, &c) in b.iter().enumerate().take(colon) {
        let ok = if i == 0 {
            c.is_ascii_alphabetic()
        } else {
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
        };
        if !ok {
            return Err(UriError::new(UriErrorKind::InvalidScheme, i));
        }
    }
    Ok((s.get(..colon).unwrap_or_default(), colon + 1))
}

impl Uri {
    /// Parses a URI, dispatching on the scheme (case-insensitively): `sip` and `sips` give
    /// [`Uri::Sip`], `tel` gives [`Uri::Tel`], any other valid scheme gives [`Uri::Other`]
    /// (absoluteURI of RFC 3261 §25.1: the rest must be non-empty and made of `uric`
    /// characters, escapes, `#`, `[` and `]`).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let (scheme, start) = split_scheme(s)?;
        if scheme.eq_ignore_ascii_case("sip") {
            sip::parse_sip(s, Scheme::Sip, start).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            sip::parse_sip(s, Scheme::Sips, start).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            tel::parse_tel(s, start).map(Uri::Tel)
        } else {
            parse_other(s, scheme, start).map(Uri::Other)
        }
    }

    /// Equivalence: RFC 3261 §19.1.4 for SIP/SIPS ([`SipUri::equivalent`]), RFC 3966 §4 for tel
    /// ([`TelUri::equivalent`]), otherwise scheme case-insensitive and the rest byte for byte.
    /// URIs of different kinds are never equivalent.
    pub fn equivalent(&self, other: &Uri) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.equivalent(b),
            (Uri::Other(a), Uri::Other(b)) => a.equivalent(b),
            _ => false,
        }
    }

    /// The scheme: `"sip"`, `"sips"`, `"tel"` or another scheme as written.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) => u.scheme.as_str(),
            Uri::Tel(_) => "tel",
            Uri::Other(o) => &o.scheme,
        }
    }

    /// The SIP/SIPS URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The tel URI, if this is one.
    pub fn as_tel(&self) -> Option<&TelUri> {
        match self {
            Uri::Tel(u) => Some(u),
            _ => None,
        }
    }

    /// The other URI, if this is one.
    pub fn as_other(&self) -> Option<&OtherUri> {
        match self {
            Uri::Other(u) => Some(u),
            _ => None,
        }
    }
}

/// absoluteURI = scheme ":" ( hier-part / opaque-part ) (RFC 3261 §25.1): kept opaque, but it
/// must be non-empty and contain only `uric` characters and escapes (plus `#` for fragments and
/// `[` `]` for IPv6 literals, RFC 3986 §3.2.2).
fn parse_other(s: &str, scheme: &str, start: usize) -> Result<OtherUri, UriError> {
    let rest = s.get(start..).unwrap_or_default();
    if rest.is_empty() {
        return Err(UriError::new(UriErrorKind::EmptyBody, start));
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b'%' {
            if escape::escape_at(bytes, i).is_none() {
                return Err(UriError::new(UriErrorKind::InvalidEscape, start + i));
            }
            i += 3;
        } else if escape::is(c, escape::URIC_CHARS) || matches!(c, b'#' | b'[' | b']') {
            i += 1;
        } else {
            return Err(UriError::new(UriErrorKind::InvalidChar, start + i));
        }
    }
    Ok(OtherUri {
        scheme: scheme.to_owned(),
        rest: rest.to_owned(),
    })
}

impl FromStr for Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
            Uri::Other(o) => o.fmt(f),
        }
    }
}

impl fmt::Display for OtherUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        f.write_str(":")?;
        f.write_str(&self.rest)
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Self {
        Uri::Sip(u)
    }
}

impl From<TelUri> for Uri {
    fn from(u: TelUri) -> Self {
        Uri::Tel(u)
    }
}

impl From<OtherUri> for Uri {
    fn from(u: OtherUri) -> Self {
        Uri::Other(u)
    }
}
