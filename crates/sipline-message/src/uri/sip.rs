//! `sip:` and `sips:` URIs (RFC 3261 §19.1, ABNF in §25.1).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::escape::{self, HEADER_CHARS, PARAM_CHARS, PASSWORD_CHARS, RESERVED, USER_CHARS};
use super::host::parse_host;
use super::{split_scheme, Host, Scheme, UriError, UriErrorKind, UriParam};
use crate::Transport;

/// A `sip:` or `sips:` URI (RFC 3261 §19.1.1):
/// `sip:user:password@host:port;uri-parameters?headers`.
///
/// User, password, parameters and headers are stored escaped, as written. Use
/// [`SipUri::equivalent`] for RFC 3261 §19.1.4 comparison; the derived `PartialEq` is
/// structural.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// sip or sips.
    pub scheme: Scheme,
    /// User part, escaped as written.
    pub user: Option<String>,
    /// Password, escaped as written.
    pub password: Option<String>,
    /// Host.
    pub host: Host,
    /// Port.
    pub port: Option<u16>,
    /// uri-parameters in order.
    pub params: Vec<UriParam>,
    /// `?` headers in order (name, value), escaped as written.
    pub headers: Vec<(String, String)>,
}

/// Parameters that must be present in both URIs or in neither (RFC 3261 §19.1.4: "A URI
/// omitting any component with a default value will not match a URI explicitly containing
/// that component with its default value. [...] The same is true for the transport-parameter,
/// ttl-parameter, user-parameter, and method components." and "A URI that includes an maddr
/// parameter will not match a URI that contains no maddr parameter.").
const MUST_BE_IN_BOTH: [&str; 5] = ["transport", "user", "ttl", "method", "maddr"];

/// Up to this many parameters, duplicates are found by linear search while parsing; beyond,
/// by sorting (keeps adversarial input from costing quadratic time).
const SMALL: usize = 16;

/// First index in `from..to` whose byte satisfies `pred`, else `to`.
fn find(b: &[u8], from: usize, to: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(from..to)
        .and_then(|r| r.iter().position(|&c| pred(c)))
        .map_or(to, |i| from + i)
}

/// Parameter names compare case-insensitively (RFC 3261 §19.1.4 "Comparison of all other
/// components of the URI is case-insensitive") and under escape normalization.
fn name_cmp(a: &str, b: &str) -> Ordering {
    escape::cmp_norm(a, b, RESERVED, true)
}

fn name_eq(a: &str, b: &str) -> bool {
    escape::eq_norm(a, b, RESERVED, true)
}

/// Parses a SIP/SIPS URI whose `scheme:` (already checked) ends at `start`.
pub(super) fn parse_sip(s: &str, scheme: Scheme, start: usize) -> Result<SipUri, UriError> {
    let b = s.as_bytes();
    let len = b.len();
    let sub = |from: usize, to: usize| s.get(from..to).unwrap_or_default();
    let err = UriError::new;
    let mut pos = start;

    // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"  (RFC 3261 §25.1).
    // "@" is allowed unescaped in no later component (host, paramchar, hname/hvalue), so the
    // first "@" ends the userinfo.
    let mut user = None;
    let mut password = None;
    let at = find(b, start, len, |c| c == b'@');
    if at < len {
        // user allows no ":", so the first ":" starts the password.
        let colon = find(b, start, at, |c| c == b':');
        let u = sub(start, colon);
        // RFC 3261 §19.1.1: "If the @ sign is present in a SIP or SIPS URI, the user field
        // MUST NOT be empty."
        if u.is_empty() {
            return Err(err(UriErrorKind::EmptyUser, start));
        }
        // user = 1*( unreserved / escaped / user-unreserved ) (RFC 3261 §25.1)
        escape::check(
            u.as_bytes(),
            start,
            USER_CHARS,
            UriErrorKind::InvalidUserChar,
        )?;
        user = Some(u.to_owned());
        if colon < at {
            // password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
            let p = sub(colon + 1, at);
            escape::check(
                p.as_bytes(),
                colon + 1,
                PASSWORD_CHARS,
                UriErrorKind::InvalidPasswordChar,
            )?;
            password = Some(p.to_owned());
        }
        pos = at + 1;
    }

    // hostport = host [ ":" port ] (RFC 3261 §25.1)
    let host_end = if b.get(pos) == Some(&b'[') {
        let close = find(b, pos, len, |c| c == b']');
        if close >= len {
            return Err(err(UriErrorKind::InvalidIpv6, pos));
        }
        close + 1
    } else {
        find(b, pos, len, |c| matches!(c, b':' | b';' | b'?'))
    };
    let host = parse_host(sub(pos, host_end), pos)?;
    pos = host_end;
    let mut port = None;
    if b.get(pos) == Some(&b':') {
        let p0 = pos + 1;
        let p1 = find(b, p0, len, |c| matches!(c, b';' | b'?'));
        port = Some(parse_port(b.get(p0..p1).unwrap_or_default(), p0)?);
        pos = p1;
    }
    if !matches!(b.get(pos), None | Some(b';' | b'?')) {
        return Err(err(UriErrorKind::InvalidHost, pos));
    }

    // uri-parameters = *( ";" uri-parameter ), other-param = pname [ "=" pvalue ],
    // pname = 1*paramchar, pvalue = 1*paramchar (RFC 3261 §25.1). The named parameters
    // (transport-param, user-param, ...) are all syntactically other-params.
    let params_start = pos;
    let mut params: Vec<UriParam> = Vec::new();
    while b.get(pos) == Some(&b';') {
        let n0 = pos + 1;
        let end = find(b, n0, len, |c| matches!(c, b';' | b'?'));
        let eq = find(b, n0, end, |c| c == b'=');
        let name = sub(n0, eq);
        if name.is_empty() {
            return Err(err(UriErrorKind::EmptyParamName, n0));
        }
        escape::check(
            name.as_bytes(),
            n0,
            PARAM_CHARS,
            UriErrorKind::InvalidParamChar,
        )?;
        let value = if eq < end {
            let v = sub(eq + 1, end);
            if v.is_empty() {
                return Err(err(UriErrorKind::EmptyParamValue, eq + 1));
            }
            escape::check(
                v.as_bytes(),
                eq + 1,
                PARAM_CHARS,
                UriErrorKind::InvalidParamChar,
            )?;
            Some(v.to_owned())
        } else {
            None
        };
        // RFC 3261 §19.1.1: "any given parameter-name MUST NOT appear more than once."
        if params.len() < SMALL && params.iter().any(|p| name_eq(&p.name, name)) {
            return Err(err(UriErrorKind::DuplicateParam, n0));
        }
        params.push(UriParam {
            name: name.to_owned(),
            value,
        });
        pos = end;
    }
    if params.len() > SMALL {
        if let Some(idx) = find_duplicate(&params) {
            return Err(err(
                UriErrorKind::DuplicateParam,
                param_offset(b, params_start, idx),
            ));
        }
    }

    // headers = "?" header *( "&" header ), header = hname "=" hvalue,
    // hname = 1*( hnv-unreserved / unreserved / escaped ),
    // hvalue = *( hnv-unreserved / unreserved / escaped ) (RFC 3261 §25.1)
    let mut headers = Vec::new();
    if b.get(pos) == Some(&b'?') {
        pos += 1;
        loop {
            let h0 = pos;
            let end = find(b, h0, len, |c| c == b'&');
            let eq = find(b, h0, end, |c| c == b'=');
            let name = sub(h0, eq);
            if name.is_empty() {
                return Err(err(UriErrorKind::EmptyHeaderName, h0));
            }
            escape::check(
                name.as_bytes(),
                h0,
                HEADER_CHARS,
                UriErrorKind::InvalidHeaderChar,
            )?;
            if eq >= end {
                return Err(err(UriErrorKind::MissingHeaderValue, end));
            }
            let value = sub(eq + 1, end);
            escape::check(
                value.as_bytes(),
                eq + 1,
                HEADER_CHARS,
                UriErrorKind::InvalidHeaderChar,
            )?;
            headers.push((name.to_owned(), value.to_owned()));
            pos = end;
            if b.get(pos) == Some(&b'&') {
                pos += 1;
            } else {
                break;
            }
        }
    }
    if pos != len {
        // Not reachable: every component above stops only at its terminator or at the end.
        return Err(err(UriErrorKind::InvalidChar, pos));
    }

    Ok(SipUri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// port = 1*DIGIT (RFC 3261 §25.1), at most 65535.
fn parse_port(p: &[u8], base: usize) -> Result<u16, UriError> {
    if p.is_empty() {
        return Err(UriError::new(UriErrorKind::EmptyPort, base));
    }
    let mut v: u32 = 0;
    for (i, &c) in p.iter().enumerate() {
        if !c.is_ascii_digit() {
            return Err(UriError::new(UriErrorKind::InvalidPort, base + i));
        }
        v = v * 10 + u32::from(c - b'0');
        if v > u32::from(u16::MAX) {
            return Err(UriError::new(UriErrorKind::InvalidPort, base));
        }
    }
    u16::try_from(v).map_err(|_| UriError::new(UriErrorKind::InvalidPort, base))
}

/// Index of the earliest second occurrence of a parameter name, by sorting (O(n log n)).
fn find_duplicate(params: &[UriParam]) -> Option<usize> {
    let mut idx: Vec<usize> = (0..params.len()).collect();
    let name = |i: usize| params.get(i).map_or("", |p| p.name.as_str());
    // Stable: equal names stay in input order.
    idx.sort_by(|&x, &y| name_cmp(name(x), name(y)));
    idx.windows(2)
        .filter_map(|w| match w {
            [x, y] if name_eq(name(*x), name(*y)) => Some(*y),
            _ => None,
        })
        .min()
}

/// Byte offset of the name of parameter `idx`: just after the `idx`-th `;` from `start`.
fn param_offset(b: &[u8], start: usize, idx: usize) -> usize {
    b.iter()
        .enumerate()
        .skip(start)
        .filter(|&(_, &c)| c == b';')
        .nth(idx)
        .map_or(start, |(i, _)| i + 1)
}

fn opt_eq(a: Option<&str>, b: Option<&str>, ci: bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => escape::eq_norm(a, b, RESERVED, ci),
        _ => false,
    }
}

fn must_be_in_both(p: &UriParam) -> bool {
    MUST_BE_IN_BOTH.iter().any(|n| name_eq(&p.name, n))
}

/// RFC 3261 §19.1.4 uri-parameter comparison.
fn params_equivalent(a: &[UriParam], b: &[UriParam]) -> bool {
    if a.len() <= SMALL && b.len() <= SMALL {
        return params_equivalent_small(a, b);
    }
    let mut sa: Vec<&UriParam> = a.iter().collect();
    let mut sb: Vec<&UriParam> = b.iter().collect();
    sa.sort_by(|x, y| name_cmp(&x.name, &y.name));
    sb.sort_by(|x, y| name_cmp(&x.name, &y.name));
    let (mut i, mut j) = (0, 0);
    loop {
        let order = match (sa.get(i), sb.get(j)) {
            (None, None) => return true,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(p), Some(q)) => name_cmp(&p.name, &q.name),
        };
        match order {
            Ordering::Less => {
                // Only in `a`: "A user, ttl, or method uri-parameter appearing in only one URI
                // never matches", maddr and transport likewise; "All other uri-parameters
                // appearing in only one URI are ignored".
                if sa.get(i).is_some_and(|p| must_be_in_both(p)) {
                    return false;
                }
                i += 1;
            }
            Ordering::Greater => {
                if sb.get(j).is_some_and(|q| must_be_in_both(q)) {
                    return false;
                }
                j += 1;
            }
            Ordering::Equal => {
                // "Any uri-parameter appearing in both URIs must match." (case-insensitive)
                let (p, q) = (sa.get(i), sb.get(j));
                let pv = p.and_then(|p| p.value.as_deref());
                let qv = q.and_then(|q| q.value.as_deref());
                if !opt_eq(pv, qv, true) {
                    return false;
                }
                i += 1;
                j += 1;
            }
        }
    }
}

/// [`params_equivalent`] without allocation, by linear search (parameter names are unique).
fn params_equivalent_small(a: &[UriParam], b: &[UriParam]) -> bool {
    fn find<'a>(list: &'a [UriParam], name: &str) -> Option<&'a UriParam> {
        list.iter().find(|q| name_eq(&q.name, name))
    }
    let a_ok = a.iter().all(|p| match find(b, &p.name) {
        // "Any uri-parameter appearing in both URIs must match."
        Some(q) => opt_eq(p.value.as_deref(), q.value.as_deref(), true),
        // transport, user, ttl, method, maddr in only one never match; others are ignored.
        None => !must_be_in_both(p),
    });
    a_ok && b
        .iter()
        .all(|q| !must_be_in_both(q) || find(a, &q.name).is_some())
}

/// RFC 3261 §19.1.4: "URI header components are never ignored. Any present header component
/// MUST be present in both URIs and match for the URIs to match." Header names compare
/// case-insensitively, values case-sensitively, both after unescaping (non-reserved
/// characters); order is not significant.
fn headers_equivalent(a: &[(String, String)], b: &[(String, String)]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= SMALL {
        // Multiset match without allocation.
        let mut used = [false; SMALL];
        return a.iter().all(|x| {
            let hit = b
                .iter()
                .enumerate()
                .position(|(j, y)| !used.get(j).copied().unwrap_or(true) && header_eq(x, y));
            match hit.and_then(|j| used.get_mut(j)) {
                Some(u) => {
                    *u = true;
                    true
                }
                None => false,
            }
        });
    }
    let key = |x: &&(String, String), y: &&(String, String)| {
        escape::cmp_norm(&x.0, &y.0, RESERVED, true)
            .then_with(|| escape::cmp_norm(&x.1, &y.1, RESERVED, false))
    };
    let mut sa: Vec<&(String, String)> = a.iter().collect();
    let mut sb: Vec<&(String, String)> = b.iter().collect();
    sa.sort_by(key);
    sb.sort_by(key);
    sa.iter()
        .zip(&sb)
        .all(|(x, y)| key(x, y) == Ordering::Equal)
}

/// Header names compare case-insensitively, values case-sensitively (after unescaping).
fn header_eq(x: &(String, String), y: &(String, String)) -> bool {
    escape::eq_norm(&x.0, &y.0, RESERVED, true) && escape::eq_norm(&x.1, &y.1, RESERVED, false)
}

impl SipUri {
    /// A URI with just a scheme and a host.
    pub fn new(scheme: Scheme, host: Host) -> Self {
        Self {
            scheme,
            user: None,
            password: None,
            host,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Parses a `sip:` or `sips:` URI (scheme case-insensitive); any other scheme is an
    /// [`UnexpectedScheme`](UriErrorKind::UnexpectedScheme) error.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let (scheme, start) = split_scheme(s)?;
        let scheme = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else {
            return Err(UriError::new(UriErrorKind::UnexpectedScheme, 0));
        };
        parse_sip(s, scheme, start)
    }

    /// Sets the user from plain text, escaping it as needed ([`escape::escape_user`]).
    pub fn with_user(mut self, user: &str) -> Self {
        self.user = Some(escape::escape_user(user).into_owned());
        self
    }

    /// Sets the password from plain text, escaping it as needed
    /// ([`escape::escape_password`]). Ignored by `Display` unless a user is set.
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(escape::escape_password(password).into_owned());
        self
    }

    /// Sets the port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets a parameter, see [`SipUri::set_param`].
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Self {
        self.set_param(name, value);
        self
    }

    /// Appends a `?` header from plain text, escaping name and value as needed
    /// ([`escape::escape_header`]). An empty name is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if !name.is_empty() {
            self.headers.push((
                escape::escape_header(name).into_owned(),
                escape::escape_header(value).into_owned(),
            ));
        }
        self
    }

    /// RFC 3261 §19.1.4 equivalence:
    ///
    /// * SIP and SIPS URIs are never equivalent;
    /// * user and password must both be absent or both present and equal, case-sensitively;
    /// * hosts compare case-insensitively ([`Host::eq_ignore_case`]); a name never matches an
    ///   address;
    /// * ports must both be absent or equal (an absent port does not match 5060);
    /// * a parameter present in both must match (case-insensitively); `transport`, `user`,
    ///   `ttl`, `method` and `maddr` present in only one never match; other parameters present
    ///   in only one are ignored;
    /// * headers must be present in both and match (names case-insensitive, values
    ///   case-sensitive);
    /// * escaped characters equal their literal form unless in the `reserved` set (or `%`);
    ///   parameter and header order does not matter.
    ///
    /// Note that this relation is not transitive (RFC 3261 §19.1.4).
    pub fn equivalent(&self, other: &SipUri) -> bool {
        self.scheme == other.scheme
            && opt_eq(self.user.as_deref(), other.user.as_deref(), false)
            && opt_eq(self.password.as_deref(), other.password.as_deref(), false)
            && self.host.eq_ignore_case(&other.host)
            && self.port == other.port
            && params_equivalent(&self.params, &other.params)
            && headers_equivalent(&self.headers, &other.headers)
    }

    fn find_param(&self, name: &str) -> Option<&UriParam> {
        self.params.iter().find(|p| name_eq(&p.name, name))
    }

    /// A parameter by name (case-insensitive): `None` if absent, `Some(None)` if present
    /// without value (`;lr`), `Some(Some(v))` with its value as written (escaped).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.find_param(name).map(|p| p.value.as_deref())
    }

    /// Whether a parameter is present (name case-insensitive).
    pub fn has_param(&self, name: &str) -> bool {
        self.find_param(name).is_some()
    }

    /// Sets a parameter: replaces the value of the first parameter with this name
    /// (case-insensitive), or appends one. `name` and `value` are plain text and are escaped as
    /// needed ([`escape::escape_param`]); an empty value means no value (`;name`), since
    /// `pvalue` cannot be empty.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value
            .filter(|v| !v.is_empty())
            .map(|v| escape::escape_param(v).into_owned());
        let escaped_name = escape::escape_param(name);
        if let Some(p) = self
            .params
            .iter_mut()
            .find(|p| name_eq(&p.name, &escaped_name))
        {
            p.value = value;
        } else {
            self.params.push(UriParam {
                name: escaped_name.into_owned(),
                value,
            });
        }
    }

    /// Removes every parameter with this name (case-insensitive); returns the first removed.
    pub fn remove_param(&mut self, name: &str) -> Option<UriParam> {
        let first = self.params.iter().position(|p| name_eq(&p.name, name))?;
        let removed = self.params.remove(first);
        self.params.retain(|p| !name_eq(&p.name, name));
        Some(removed)
    }

    fn param_value(&self, name: &str) -> Option<&str> {
        self.param(name).flatten()
    }

    /// The `transport` parameter value, as written.
    pub fn transport(&self) -> Option<&str> {
        self.param_value("transport")
    }

    /// The transport the `transport` parameter names, read with the scheme:
    /// in a SIPS URI `tcp` is TLS over TCP (RFC 3261 §26.2.2) and `ws` is
    /// secure WebSocket (RFC 7118 §5.2 defines "ws" as the only WebSocket
    /// value; §5.5: a "sips" URI with "ws" is secure WebSocket, default port
    /// 443). `tls` and `wss`, which some write, are TLS and WSS with either
    /// scheme. `None` without the parameter or with an unknown value; which
    /// transport that means is up to the caller (RFC 3263 §4.1).
    pub fn transport_protocol(&self) -> Option<Transport> {
        let t = Transport::parse(self.transport()?)?;
        Some(match (t, self.scheme) {
            (Transport::Tcp, Scheme::Sips) => Transport::Tls,
            (Transport::Ws, Scheme::Sips) => Transport::Wss,
            (t, _) => t,
        })
    }

    /// Whether the `lr` parameter is present (RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.has_param("lr")
    }

    /// The `maddr` parameter value, as written.
    pub fn maddr(&self) -> Option<&str> {
        self.param_value("maddr")
    }

    /// The `ttl` parameter (`ttl = 1*3DIGIT ; 0 to 255`, RFC 3261 §25.1); `None` if absent or
    /// not a valid ttl.
    pub fn ttl(&self) -> Option<u8> {
        let v = self.param_value("ttl")?;
        if v.is_empty() || v.len() > 3 || !v.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        v.parse().ok()
    }

    /// The `user` parameter value (`phone`, `ip`, ...), as written.
    pub fn user_param(&self) -> Option<&str> {
        self.param_value("user")
    }

    /// The `method` parameter value, as written.
    pub fn method_param(&self) -> Option<&str> {
        self.param_value("method")
    }

    /// The first `?` header with this name (case-insensitive), value as written.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| name_eq(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// The user, unescaped. Escapes that do not decode to UTF-8 are replaced with U+FFFD
    /// ([`escape::unescape_lossy`]); use [`escape::unescape`] on [`SipUri::user`] to detect
    /// them.
    pub fn user_unescaped(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(escape::unescape_lossy)
    }

    /// The password, unescaped (lossy, like [`SipUri::user_unescaped`]).
    pub fn password_unescaped(&self) -> Option<Cow<'_, str>> {
        self.password.as_deref().map(escape::unescape_lossy)
    }

    /// The default port (RFC 3261 §19.1.2 Table 1 note (1)): 5061 for `sips:` and for `sip:`
    /// with `transport=tls`, 5060 otherwise.
    pub fn default_port(&self) -> u16 {
        match self.scheme {
            Scheme::Sips => 5061,
            Scheme::Sip
                if self
                    .transport()
                    .is_some_and(|t| t.eq_ignore_ascii_case("tls")) =>
            {
                5061
            }
            Scheme::Sip => 5060,
        }
    }

    /// The explicit port, or [`SipUri::default_port`].
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.default_port())
    }

    /// `host[:port]` as it appears in the URI (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl FromStr for SipUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SipUri::parse(s)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        f.write_str(":")?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                f.write_str(":")?;
                f.write_str(p)?;
            }
            f.write_str("@")?;
        }
        fmt::Display::fmt(&self.host, f)?;
        if let Some(p) = self.port {
            f.write_str(":")?;
            f.write_str(crate::text::port(p).as_str())?;
        }
        for p in &self.params {
            f.write_str(";")?;
            fmt::Display::fmt(p, f)?;
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            f.write_str(n)?;
            f.write_str("=")?;
            f.write_str(v)?;
        }
        Ok(())
    }
}
