//! The SDP parser (RFC 4566 §5 and the ABNF of §9).
//!
//! One pass over the lines, no backtracking; every allocation is bounded by
//! the size of the input.

use std::net::IpAddr;
use std::str::FromStr;

use crate::attributes::{Candidate, Direction, Rtcp, Rtpmap};
use crate::error::{LineType, ParseError, ParseErrorKind as K};
use crate::model::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, Repeat, SessionDescription,
    TimeUnit, TimeZone, Timing, TypedTime, UnknownLine,
};

/// How strictly to parse.
///
/// Both modes accept CRLF or bare LF line ends (RFC 4566 §5: "parsers SHOULD
/// be tolerant and also accept records terminated with a single newline"),
/// a missing final line end, and an empty `s=` (used by RFC 3264 §10).
///
/// * **Strict** enforces the line order of RFC 4566 §5, the required `v=`
///   (first, and 0), `o=`, `s=` and `t=` lines, `c=` at the session level or
///   in every media description, single spaces between fields, token syntax,
///   and the syntax of the well-known attributes (rtpmap, fmtp, ptime,
///   maxptime, rtcp, candidate, directions). Unknown line types are errors,
///   as RFC 4566 §5 requires.
/// * **Tolerant** (the default) accepts lines in any order (a session-level
///   line found after an `m=` line applies to the session), runs of
///   whitespace between fields, empty lines, unknown line types (kept in
///   [`SessionDescription::unknown_lines`] /
///   [`MediaDescription::unknown_lines`]) and any attribute value. It still
///   needs an `o=` line and rejects lines it cannot represent (bad numbers,
///   wrong field counts, duplicates of single lines).
///
/// Both modes keep every attribute verbatim and in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Strict mode (see above); `false` is tolerant.
    pub strict: bool,
}

impl ParseOptions {
    /// Strict parsing.
    pub const STRICT: ParseOptions = ParseOptions { strict: true };
    /// Tolerant parsing (the default).
    pub const TOLERANT: ParseOptions = ParseOptions { strict: false };

    /// Options with the given strictness.
    pub fn new(strict: bool) -> ParseOptions {
        ParseOptions { strict }
    }
}

/// RFC 4566 §9 `token-char`.
fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

/// RFC 4566 §9 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A decimal number of ASCII digits only (no sign, no whitespace).
pub(crate) fn parse_num<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits a line value into space separated fields. Strict: exactly one SP
/// between fields (RFC 4566 §5); tolerant: any run of whitespace.
fn fields(value: &str, strict: bool, lt: char) -> Result<Vec<&str>, K> {
    if strict {
        if value.is_empty() {
            return Ok(Vec::new());
        }
        let f: Vec<&str> = value.split(' ').collect();
        // Empty fields (runs of spaces) and other whitespace (TAB, FF) are
        // not allowed: fields are non-ws strings or tokens (RFC 4566 §9).
        if f.iter().any(|x| x.is_empty())
            || value.bytes().any(|b| b != b' ' && b.is_ascii_whitespace())
        {
            return Err(K::FieldSeparator(LineType(lt)));
        }
        Ok(f)
    } else {
        Ok(value.split_ascii_whitespace().collect())
    }
}

fn check_token(s: &str, strict: bool, lt: char) -> Result<(), K> {
    if strict && !is_token(s) {
        return Err(K::InvalidToken(LineType(lt)));
    }
    Ok(())
}

/// `o=` (RFC 4566 §5.2).
fn parse_origin(value: &str, strict: bool) -> Result<Origin, K> {
    let f = fields(value, strict, 'o')?;
    let [username, id, version, net, addr_type, address] = f[..] else {
        return Err(K::OriginFieldCount);
    };
    check_token(net, strict, 'o')?;
    check_token(addr_type, strict, 'o')?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: parse_num(id).ok_or(K::InvalidSessionId)?,
        session_version: parse_num(version).ok_or(K::InvalidSessionVersion)?,
        net_type: net.to_owned(),
        addr_type: addr_type.to_owned(),
        unicast_address: address.to_owned(),
    })
}

/// `c=` (RFC 4566 §5.7) from its three fields.
pub(crate) fn parse_connection_fields(f: &[&str], strict: bool) -> Result<Connection, K> {
    let [net, addr_type, address] = f[..] else {
        return Err(K::ConnectionFieldCount);
    };
    check_token(net, strict, 'c')?;
    check_token(addr_type, strict, 'c')?;
    let mut c = Connection {
        net_type: net.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
        ttl: None,
        num_addresses: None,
    };
    let ip4 = addr_type.eq_ignore_ascii_case("IP4");
    let ip6 = addr_type.eq_ignore_ascii_case("IP6");
    if ip4 || ip6 {
        // IP4-multicast = m1 3("." decimal-uchar) "/" ttl ["/" integer]
        // IP6-multicast = hexpart ["/" integer]            (RFC 4566 §9)
        let mut parts = address.split('/');
        let addr = parts.next().unwrap_or_default();
        let p1 = parts.next();
        let p2 = parts.next();
        if parts.next().is_some() || (ip6 && p2.is_some()) {
            return Err(K::InvalidConnectionAddress);
        }
        c.address = addr.to_owned();
        if ip4 {
            c.ttl = p1.map(|t| parse_num(t).ok_or(K::InvalidTtl)).transpose()?;
            c.num_addresses = p2
                .map(|n| parse_num(n).ok_or(K::InvalidAddressCount))
                .transpose()?;
        } else {
            c.num_addresses = p1
                .map(|n| parse_num(n).ok_or(K::InvalidAddressCount))
                .transpose()?;
        }
        if strict {
            // RFC 4566 §5.7: IPv4 multicast needs a TTL; the slash notation
            // MUST NOT be used for unicast addresses.
            if let Ok(ip) = addr.parse::<IpAddr>() {
                let slash = c.ttl.is_some() || c.num_addresses.is_some();
                if ip.is_multicast() && ip4 && c.ttl.is_none() {
                    return Err(K::MulticastTtlMissing);
                }
                if !ip.is_multicast() && slash {
                    return Err(K::UnicastSlashNotation);
                }
            }
        }
    }
    if c.address.is_empty() {
        return Err(K::InvalidConnectionAddress);
    }
    Ok(c)
}

fn parse_connection(value: &str, strict: bool) -> Result<Connection, K> {
    parse_connection_fields(&fields(value, strict, 'c')?, strict)
}

/// `b=` (RFC 4566 §5.8).
fn parse_bandwidth(value: &str, strict: bool) -> Result<Bandwidth, K> {
    let (bwtype, bw) = value.split_once(':').ok_or(K::BandwidthSyntax)?;
    if bwtype.is_empty() {
        return Err(K::BandwidthSyntax);
    }
    check_token(bwtype, strict, 'b')?;
    Ok(Bandwidth {
        bwtype: bwtype.to_owned(),
        bandwidth: parse_num(bw).ok_or(K::InvalidBandwidthValue)?,
    })
}

/// `t=` (RFC 4566 §5.9).
fn parse_timing(value: &str, strict: bool) -> Result<Timing, K> {
    let f = fields(value, strict, 't')?;
    let [start, stop] = f[..] else {
        return Err(K::TimingFieldCount);
    };
    Ok(Timing {
        start: parse_num(start).ok_or(K::InvalidTime)?,
        stop: parse_num(stop).ok_or(K::InvalidTime)?,
        repeats: Vec::new(),
    })
}

/// `typed-time = 1*DIGIT [fixed-len-time-unit]` (RFC 4566 §9).
fn parse_typed_time(s: &str) -> Result<TypedTime, K> {
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'd') => (&s[..s.len() - 1], Some(TimeUnit::Days)),
        Some(b'h') => (&s[..s.len() - 1], Some(TimeUnit::Hours)),
        Some(b'm') => (&s[..s.len() - 1], Some(TimeUnit::Minutes)),
        Some(b's') => (&s[..s.len() - 1], Some(TimeUnit::Seconds)),
        _ => (s, None),
    };
    Ok(TypedTime {
        value: parse_num(digits).ok_or(K::InvalidTypedTime)?,
        unit,
    })
}

/// `r=` (RFC 4566 §5.10).
fn parse_repeat(value: &str, strict: bool) -> Result<Repeat, K> {
    let f = fields(value, strict, 'r')?;
    // repeat-fields = %x72 "=" repeat-interval SP typed-time 1*(SP typed-time)
    let min = if strict { 3 } else { 2 };
    if f.len() < min {
        return Err(K::RepeatFieldCount);
    }
    Ok(Repeat {
        interval: parse_typed_time(f[0])?,
        duration: parse_typed_time(f[1])?,
        offsets: f[2..]
            .iter()
            .map(|x| parse_typed_time(x))
            .collect::<Result<_, _>>()?,
    })
}

/// `z=` (RFC 4566 §5.11).
fn parse_zones(value: &str, strict: bool) -> Result<Vec<TimeZone>, K> {
    let f = fields(value, strict, 'z')?;
    if f.is_empty() || f.len() % 2 != 0 {
        return Err(K::TimeZoneFieldCount);
    }
    f.chunks_exact(2)
        .map(|p| {
            let (negative, off) = match p[1].strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, p[1]),
            };
            Ok(TimeZone {
                adjustment: parse_num(p[0]).ok_or(K::InvalidTime)?,
                negative,
                offset: parse_typed_time(off)?,
            })
        })
        .collect()
}

/// `k=` (RFC 4566 §5.12).
fn check_key(value: &str, strict: bool) -> Result<(), K> {
    if strict
        && value != "prompt"
        && !["clear:", "base64:", "uri:"]
            .iter()
            .any(|p| value.starts_with(p))
    {
        return Err(K::InvalidKey);
    }
    Ok(())
}

/// `a=` (RFC 4566 §5.13); in strict mode also the syntax of the attributes
/// of RFC 4566 §6 we understand, RFC 3605 rtcp and RFC 5245 candidate.
fn parse_attribute(value: &str, strict: bool) -> Result<Attribute, K> {
    let attr = match value.split_once(':') {
        Some((n, v)) => Attribute::new(n, v),
        None => Attribute::flag(value),
    };
    if strict {
        if !is_token(&attr.name) {
            return Err(K::InvalidAttributeName);
        }
        let v = attr.value.as_deref();
        let name = attr.name.to_ascii_lowercase();
        let ok = match name.as_str() {
            "rtpmap" => v.is_some_and(|v| v.parse::<Rtpmap>().is_ok()),
            "fmtp" => v.is_some_and(|v| v.split_once(' ').is_some_and(|(f, _)| is_token(f))),
            "ptime" | "maxptime" => v.and_then(parse_num::<u32>).is_some(),
            "rtcp" => v.is_some_and(|v| v.parse::<Rtcp>().is_ok()),
            "candidate" => v.is_some_and(|v| v.parse::<Candidate>().is_ok()),
            n if Direction::from_name(n).is_some() => v.is_none(),
            _ => true,
        };
        if !ok {
            return Err(match name.as_str() {
                "rtpmap" => K::InvalidRtpmap,
                "fmtp" => K::InvalidFmtp,
                "ptime" => K::InvalidPtime,
                "maxptime" => K::InvalidMaxptime,
                "rtcp" => K::InvalidRtcp,
                "candidate" => K::InvalidCandidate,
                _ => K::InvalidDirection,
            });
        }
    }
    Ok(attr)
}

/// `m=` (RFC 4566 §5.14): `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`.
fn parse_media(value: &str, strict: bool) -> Result<MediaDescription, K> {
    let f = fields(value, strict, 'm')?;
    // media-field = %x6d "=" media SP port ["/" integer] SP proto 1*(SP fmt)
    // Tolerant mode also accepts an m= line without formats.
    let min = if strict { 4 } else { 3 };
    if f.len() < min {
        return Err(K::MediaFieldCount);
    }
    check_token(f[0], strict, 'm')?;
    let (port, count) = match f[1].split_once('/') {
        Some((p, n)) => (p, Some(parse_num(n).ok_or(K::InvalidPortCount)?)),
        None => (f[1], None),
    };
    let port = parse_num(port).ok_or(K::InvalidPort)?;
    // proto = token *("/" token)
    if strict && !f[2].split('/').all(is_token) {
        return Err(K::InvalidProtocol);
    }
    for fmt in &f[3..] {
        check_token(fmt, strict, 'm')?;
    }
    let mut m = MediaDescription::new(
        f[0],
        port,
        f[2],
        f[3..].iter().map(|s| (*s).to_owned()).collect(),
    );
    m.port_count = count;
    Ok(m)
}

/// Position of each line type in the session section (RFC 4566 §5).
/// `t=` and `r=` share a rank: time descriptions repeat as `t= r=*`.
fn session_rank(kind: char) -> u8 {
    match kind {
        'v' => 0,
        'o' => 1,
        's' => 2,
        'i' => 3,
        'u' => 4,
        'e' => 5,
        'p' => 6,
        'c' => 7,
        'b' => 8,
        't' | 'r' => 9,
        'z' => 10,
        'k' => 11,
        'a' => 12,
        _ => 13, // m=
    }
}

/// Position of each line type in a media section (RFC 4566 §5).
fn media_rank(kind: char) -> u8 {
    match kind {
        'm' => 0,
        'i' => 1,
        'c' => 2,
        'b' => 3,
        'k' => 4,
        _ => 5, // a=
    }
}

struct Parser {
    strict: bool,
    version: Option<u32>,
    origin: Option<Origin>,
    session_name: Option<String>,
    sdp: SessionDescription,
    /// Line number of each `m=` line.
    media_lines: Vec<usize>,
    /// Strict mode: rank of the last line and its type.
    rank: u8,
    last_kind: char,
}

/// Parses a session description.
pub(crate) fn parse(text: &str, options: ParseOptions) -> Result<SessionDescription, ParseError> {
    let mut p = Parser {
        strict: options.strict,
        version: None,
        origin: None,
        session_name: None,
        sdp: SessionDescription::new(Origin {
            username: String::new(),
            session_id: 0,
            session_version: 0,
            net_type: String::new(),
            addr_type: String::new(),
            unicast_address: String::new(),
        }),
        media_lines: Vec::new(),
        rank: 0,
        last_kind: 'v',
    };
    p.sdp.session_name.clear();
    p.sdp.times.clear();

    let mut last_line = 1;
    let mut segments = text.split('\n').enumerate().peekable();
    while let Some((i, seg)) = segments.next() {
        let n = i + 1;
        let is_last = segments.peek().is_none();
        let line = seg.strip_suffix('\r').unwrap_or(seg);
        if line.is_empty() {
            if is_last {
                break; // after the final line end, or empty input
            }
            if p.strict {
                return Err(ParseError::new(n, K::EmptyLine));
            }
            continue;
        }
        last_line = n;
        p.line(n, line).map_err(|k| ParseError::new(n, k))?;
    }
    p.finish(last_line)
}

impl Parser {
    fn line(&mut self, n: usize, line: &str) -> Result<(), K> {
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_alphabetic() {
            return Err(K::MalformedLine);
        }
        let kind = b[0] as char;
        // b[0] and b[1] are ASCII, so index 2 is a char boundary.
        let value = &line[2..];
        // byte-string = 1*(%x01-09/%x0B-0C/%x0E-FF): no NUL, CR or LF.
        if value.bytes().any(|c| c == 0 || c == b'\r') {
            return Err(K::InvalidCharacter);
        }
        let in_media = !self.sdp.media.is_empty();
        match kind {
            'm' => {
                self.check_session_order(kind)?;
                self.rank = 0;
                let m = parse_media(value, self.strict)?;
                self.sdp.media.push(m);
                self.media_lines.push(n);
            }
            'i' | 'c' | 'b' | 'k' | 'a' if in_media => self.media_line(kind, value)?,
            'v' | 'o' | 's' | 'i' | 'u' | 'e' | 'p' | 'c' | 'b' | 't' | 'r' | 'z' | 'k' | 'a' => {
                if in_media {
                    if self.strict {
                        return Err(K::OutOfOrder {
                            found: LineType(kind),
                            after: LineType(self.last_kind),
                        });
                    }
                } else {
                    self.check_session_order(kind)?;
                }
                self.session_line(kind, value)?;
            }
            _ => {
                if self.strict {
                    // RFC 4566 §5: a parser MUST ignore a description with a
                    // type letter it does not understand.
                    return Err(K::UnknownLineType(LineType(kind)));
                }
                let u = UnknownLine {
                    kind,
                    value: value.to_owned(),
                };
                match self.sdp.media.last_mut() {
                    Some(m) => m.unknown_lines.push(u),
                    None => self.sdp.unknown_lines.push(u),
                }
            }
        }
        self.last_kind = kind;
        Ok(())
    }

    /// Strict mode: the session-level order of RFC 4566 §5 and the required
    /// lines before this one.
    fn check_session_order(&mut self, kind: char) -> Result<(), K> {
        if !self.strict {
            return Ok(());
        }
        let r = session_rank(kind);
        if self.sdp.media.is_empty() && r < self.rank {
            return Err(K::OutOfOrder {
                found: LineType(kind),
                after: LineType(self.last_kind),
            });
        }
        if r > 0 && self.version.is_none() {
            return Err(K::MissingLine(LineType('v')));
        }
        if r > 1 && self.origin.is_none() {
            return Err(K::MissingLine(LineType('o')));
        }
        if r > 2 && self.session_name.is_none() {
            return Err(K::MissingLine(LineType('s')));
        }
        if r > 9 && self.sdp.times.is_empty() {
            return Err(K::MissingLine(LineType('t')));
        }
        self.rank = r;
        Ok(())
    }

    fn session_line(&mut self, kind: char, value: &str) -> Result<(), K> {
        let strict = self.strict;
        let dup = || K::DuplicateLine(LineType(kind));
        let sdp = &mut self.sdp;
        match kind {
            'v' => {
                if self.version.is_some() {
                    return Err(dup());
                }
                let v = parse_num(value).ok_or(K::InvalidVersion)?;
                if strict && v != 0 {
                    return Err(K::UnsupportedVersion);
                }
                self.version = Some(v);
            }
            'o' => {
                if self.origin.is_some() {
                    return Err(dup());
                }
                self.origin = Some(parse_origin(value, strict)?);
            }
            's' => {
                if self.session_name.is_some() {
                    return Err(dup());
                }
                self.session_name = Some(value.to_owned());
            }
            'i' => set_once(&mut sdp.information, value, kind)?,
            'u' => set_once(&mut sdp.uri, value, kind)?,
            'e' => sdp.emails.push(value.to_owned()),
            'p' => sdp.phones.push(value.to_owned()),
            'c' => {
                if sdp.connection.is_some() {
                    // RFC 4566 §5.7: a single session-level c= field.
                    return Err(dup());
                }
                sdp.connection = Some(parse_connection(value, strict)?);
            }
            'b' => sdp.bandwidths.push(parse_bandwidth(value, strict)?),
            't' => sdp.times.push(parse_timing(value, strict)?),
            'r' => {
                let repeat = parse_repeat(value, strict)?;
                sdp.times
                    .last_mut()
                    .ok_or(K::RepeatWithoutTiming)?
                    .repeats
                    .push(repeat);
            }
            'z' => {
                if !sdp.time_zones.is_empty() {
                    return Err(dup());
                }
                sdp.time_zones = parse_zones(value, strict)?;
            }
            'k' => {
                check_key(value, strict)?;
                set_once(&mut sdp.key, value, kind)?;
            }
            _ => sdp.attributes.push(parse_attribute(value, strict)?),
        }
        Ok(())
    }

    fn media_line(&mut self, kind: char, value: &str) -> Result<(), K> {
        let strict = self.strict;
        if strict {
            let r = media_rank(kind);
            if r < self.rank {
                return Err(K::OutOfOrder {
                    found: LineType(kind),
                    after: LineType(self.last_kind),
                });
            }
            self.rank = r;
        }
        let Some(m) = self.sdp.media.last_mut() else {
            return Err(K::MalformedLine);
        };
        match kind {
            'i' => set_once(&mut m.information, value, kind)?,
            'c' => m.connections.push(parse_connection(value, strict)?),
            'b' => m.bandwidths.push(parse_bandwidth(value, strict)?),
            'k' => {
                check_key(value, strict)?;
                set_once(&mut m.key, value, kind)?;
            }
            _ => m.attributes.push(parse_attribute(value, strict)?),
        }
        Ok(())
    }

    fn finish(mut self, last_line: usize) -> Result<SessionDescription, ParseError> {
        let missing = |c| ParseError::new(last_line, K::MissingLine(LineType(c)));
        if self.strict {
            if self.version.is_none() {
                return Err(missing('v'));
            }
            if self.origin.is_none() {
                return Err(missing('o'));
            }
            if self.session_name.is_none() {
                return Err(missing('s'));
            }
            if self.sdp.times.is_empty() {
                return Err(missing('t'));
            }
            // RFC 4566 §5.7: c= in every media description or at session level.
            if self.sdp.connection.is_none() {
                for (m, &n) in self.sdp.media.iter().zip(&self.media_lines) {
                    if m.connections.is_empty() {
                        return Err(ParseError::new(n, K::MissingConnection));
                    }
                }
            }
        }
        let Some(origin) = self.origin.take() else {
            return Err(missing('o'));
        };
        self.sdp.origin = origin;
        self.sdp.version = self.version.unwrap_or(0);
        self.sdp.session_name = self.session_name.take().unwrap_or_default();
        Ok(self.sdp)
    }
}

fn set_once(slot: &mut Option<String>, value: &str, kind: char) -> Result<(), K> {
    if slot.is_some() {
        return Err(K::DuplicateLine(LineType(kind)));
    }
    *slot = Some(value.to_owned());
    Ok(())
}
