//! The typed SDP model and its serialization.
//!
//! `Display` always writes lines in the order of RFC 4566 §5, each ended by
//! CRLF.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::attributes::{Candidate, Direction, Fmtp, Rtcp, Rtpmap};
use crate::error::ParseError;
use crate::parse::{parse, parse_num, ParseOptions};

/// A whole session description (RFC 4566 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    /// `v=` protocol version (RFC 4566 §5.1), 0.
    pub version: u32,
    /// `o=` origin (RFC 4566 §5.2).
    pub origin: Origin,
    /// `s=` session name (RFC 4566 §5.3). RFC 3264 §5 recommends `-` for
    /// unicast sessions; an empty name is accepted (RFC 3264 §10 uses it).
    pub session_name: String,
    /// `i=` session information (RFC 4566 §5.4).
    pub information: Option<String>,
    /// `u=` URI (RFC 4566 §5.5).
    pub uri: Option<String>,
    /// `e=` email addresses, verbatim (RFC 4566 §5.6).
    pub emails: Vec<String>,
    /// `p=` phone numbers, verbatim (RFC 4566 §5.6).
    pub phones: Vec<String>,
    /// Session-level `c=` (RFC 4566 §5.7).
    pub connection: Option<Connection>,
    /// Session-level `b=` lines (RFC 4566 §5.8).
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines (RFC 4566 §5.9, §5.10).
    pub times: Vec<Timing>,
    /// `z=` time zone adjustments (RFC 4566 §5.11); empty when absent.
    pub time_zones: Vec<TimeZone>,
    /// Session-level `k=` value, verbatim (RFC 4566 §5.12).
    pub key: Option<String>,
    /// Session-level `a=` lines, in order (RFC 4566 §5.13).
    pub attributes: Vec<Attribute>,
    /// Media descriptions, in order (RFC 4566 §5.14).
    pub media: Vec<MediaDescription>,
    /// Session-level lines of unknown type, kept in order by the tolerant
    /// parser; written after the session attributes.
    pub unknown_lines: Vec<UnknownLine>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// User name, `-` if none.
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version, bumped on each change (RFC 3264 §8).
    pub session_version: u64,
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// Address (or FQDN) of the originating host.
    pub unicast_address: String,
}

impl Origin {
    /// An `IN IP4`/`IN IP6` origin for an IP address.
    pub fn new(
        username: impl Into<String>,
        session_id: u64,
        session_version: u64,
        address: IpAddr,
    ) -> Origin {
        Origin {
            username: username.into(),
            session_id,
            session_version,
            net_type: "IN".to_owned(),
            addr_type: addr_type_of(address).to_owned(),
            unicast_address: address.to_string(),
        }
    }
}

fn addr_type_of(address: IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 4566 §5.7).
///
/// For `IP4` the address may carry `/<ttl>[/<number of addresses>]`, for
/// `IP6` `/<number of addresses>`; other address types are kept verbatim in
/// `address`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: String,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address (or FQDN), without TTL or count.
    pub address: String,
    /// IPv4 multicast TTL.
    pub ttl: Option<u8>,
    /// Number of contiguous multicast addresses.
    pub num_addresses: Option<u32>,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for a unicast IP address.
    pub fn new(address: IpAddr) -> Connection {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: addr_type_of(address).to_owned(),
            address: address.to_string(),
            ttl: None,
            num_addresses: None,
        }
    }

    /// The address as an IP address, when it is a literal one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(n) = self.num_addresses {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 4566 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bandwidth {
    /// Modifier: `CT`, `AS`, `TIAS`, ...
    pub bwtype: String,
    /// Bandwidth, in kbit/s for `CT` and `AS`.
    pub bandwidth: u64,
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bwtype, self.bandwidth)
    }
}

/// A `t=<start-time> <stop-time>` line with its `r=` lines (RFC 4566 §5.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Timing {
    /// Start, NTP seconds; 0 for unbounded/permanent.
    pub start: u64,
    /// Stop, NTP seconds; 0 for unbounded.
    pub stop: u64,
    /// `r=` repeat times.
    pub repeats: Vec<Repeat>,
}

impl Timing {
    /// `t=<start> <stop>` without repeats; `Timing::new(0, 0)` is the usual
    /// unicast value (RFC 3264 §5).
    pub fn new(start: u64, stop: u64) -> Timing {
        Timing {
            start,
            stop,
            repeats: Vec::new(),
        }
    }
}

/// `r=<repeat interval> <active duration> <offsets from start-time>`
/// (RFC 4566 §5.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repeat {
    /// Repeat interval.
    pub interval: TypedTime,
    /// Active duration.
    pub duration: TypedTime,
    /// Offsets from the start time.
    pub offsets: Vec<TypedTime>,
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.interval, self.duration)?;
        for o in &self.offsets {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

/// Unit suffix of a typed time (RFC 4566 §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `d`, 86400 seconds.
    Days,
    /// `h`, 3600 seconds.
    Hours,
    /// `m`, 60 seconds.
    Minutes,
    /// `s`, 1 second.
    Seconds,
}

impl TimeUnit {
    fn suffix(self) -> char {
        match self {
            TimeUnit::Days => 'd',
            TimeUnit::Hours => 'h',
            TimeUnit::Minutes => 'm',
            TimeUnit::Seconds => 's',
        }
    }

    fn seconds(self) -> u64 {
        match self {
            TimeUnit::Days => 86_400,
            TimeUnit::Hours => 3_600,
            TimeUnit::Minutes => 60,
            TimeUnit::Seconds => 1,
        }
    }
}

/// A number with an optional unit, like `7d` or `3600` (RFC 4566 §5.10).
/// The unit is kept so that the description serializes as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypedTime {
    /// The number.
    pub value: u64,
    /// The unit; none means seconds.
    pub unit: Option<TimeUnit>,
}

impl TypedTime {
    /// A plain number of seconds.
    pub fn seconds(value: u64) -> TypedTime {
        TypedTime { value, unit: None }
    }

    /// The value in seconds, `None` on overflow.
    pub fn as_seconds(&self) -> Option<u64> {
        self.value
            .checked_mul(self.unit.map_or(1, TimeUnit::seconds))
    }
}

impl fmt::Display for TypedTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)?;
        if let Some(u) = self.unit {
            write!(f, "{}", u.suffix())?;
        }
        Ok(())
    }
}

/// One `<adjustment time> <offset>` pair of a `z=` line (RFC 4566 §5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone {
    /// When the adjustment happens, NTP seconds.
    pub adjustment: u64,
    /// Whether the offset is negative (`-1h`).
    pub negative: bool,
    /// The offset's magnitude.
    pub offset: TypedTime,
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{} {}{}", self.adjustment, sign, self.offset)
    }
}

/// `a=<name>` or `a=<name>:<value>` (RFC 4566 §5.13), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The attribute name (text before the first `:`).
    pub name: String,
    /// The value (text after the first `:`), `None` for a property attribute.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute such as `a=recvonly`.
    pub fn flag(name: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute such as `a=ptime:20`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// Whether the name equals `name`, ASCII case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The direction this attribute sets, if it is a direction attribute
    /// without a value.
    pub fn direction(&self) -> Option<Direction> {
        if self.value.is_some() {
            return None;
        }
        Direction::from_name(&self.name)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

/// A line with a type letter RFC 4566 does not define, kept by the tolerant
/// parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownLine {
    /// The type letter (an ASCII letter).
    pub kind: char,
    /// The text after `=`.
    pub value: String,
}

/// A media description: an `m=` line and the lines up to the next one
/// (RFC 4566 §5.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `text`, `application`, `message`, ...
    pub media: String,
    /// Transport port; 0 rejects or disables the stream (RFC 3264 §6, §8.2).
    pub port: u16,
    /// `<port>/<number of ports>` form.
    pub port_count: Option<u32>,
    /// Transport protocol: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udp`, ...
    pub protocol: String,
    /// Formats (RTP payload types for RTP protocols), in order of preference.
    pub formats: Vec<String>,
    /// `i=` media title.
    pub information: Option<String>,
    /// Media-level `c=` lines.
    pub connections: Vec<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Media-level `k=` value, verbatim.
    pub key: Option<String>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Lines of unknown type in this section (tolerant parser); written last.
    pub unknown_lines: Vec<UnknownLine>,
}

/// Codec and fmtp per RTP payload type (index 0-127) of one media
/// description.
pub(crate) struct PayloadTable<'a> {
    codecs: Vec<Option<Rtpmap>>,
    fmtps: Vec<Option<&'a str>>,
}

impl PayloadTable<'_> {
    /// The payload type a format names, if it is one (0-127).
    pub(crate) fn payload_type(format: &str) -> Option<u8> {
        parse_num::<u8>(format).filter(|p| *p < 128)
    }

    pub(crate) fn codec(&self, payload_type: u8) -> Option<&Rtpmap> {
        self.codecs.get(usize::from(payload_type))?.as_ref()
    }

    pub(crate) fn fmtp(&self, payload_type: u8) -> Option<&str> {
        *self.fmtps.get(usize::from(payload_type))?
    }
}

/// Attribute helpers shared by the session and media levels.
fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attrs.iter().find(|a| a.is(name))
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(Attribute::direction)
}

fn set_direction_in(attrs: &mut Vec<Attribute>, direction: Direction) {
    let mut placed = false;
    attrs.retain_mut(|a| {
        if a.direction().is_none() {
            return true;
        }
        if placed {
            return false;
        }
        placed = true;
        *a = Attribute::flag(direction.as_str());
        true
    });
    if !placed {
        attrs.push(Attribute::flag(direction.as_str()));
    }
}

impl MediaDescription {
    /// A media description with no attributes.
    pub fn new(
        media: impl Into<String>,
        port: u16,
        protocol: impl Into<String>,
        formats: Vec<String>,
    ) -> MediaDescription {
        MediaDescription {
            media: media.into(),
            port,
            port_count: None,
            protocol: protocol.into(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
            unknown_lines: Vec::new(),
        }
    }

    /// The first attribute named `name` (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// The value of the first attribute named `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }

    /// All attributes named `name`, in order.
    pub fn attributes_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.attributes.iter().filter(move |a| a.is(name))
    }

    /// Whether the transport is RTP based (`RTP/AVP`, `RTP/SAVP`,
    /// `UDP/TLS/RTP/SAVPF`, ...), i.e. the formats are payload types.
    pub fn is_rtp(&self) -> bool {
        self.protocol
            .split('/')
            .any(|p| p.eq_ignore_ascii_case("RTP"))
    }

    /// The valid `a=rtpmap` attributes, in order (invalid ones are skipped).
    pub fn rtpmaps(&self) -> Vec<Rtpmap> {
        self.attributes_named("rtpmap")
            .filter_map(|a| a.value.as_deref()?.parse().ok())
            .collect()
    }

    /// The `a=rtpmap` for a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<Rtpmap> {
        self.attributes_named("rtpmap")
            .filter_map(|a| a.value.as_deref()?.parse::<Rtpmap>().ok())
            .find(|r| r.payload_type == payload_type)
    }

    /// The codec a payload type stands for: its `a=rtpmap`, or else the
    /// static assignment of RFC 3551 (RFC 3264 §5.1). `None` for non-RTP
    /// media.
    pub fn codec(&self, payload_type: u8) -> Option<Rtpmap> {
        if !self.is_rtp() {
            return None;
        }
        self.rtpmap(payload_type)
            .or_else(|| crate::attributes::static_payload_type(payload_type))
    }

    /// One pass over the attributes: the codec (first rtpmap, else static)
    /// and the first fmtp of every payload type, for O(1) lookups.
    pub(crate) fn payload_table(&self) -> PayloadTable<'_> {
        let mut table = PayloadTable {
            codecs: vec![None; 128],
            fmtps: vec![None; 128],
        };
        for a in &self.attributes {
            let Some(v) = a.value.as_deref() else {
                continue;
            };
            if a.is("rtpmap") {
                if let Ok(r) = v.parse::<Rtpmap>() {
                    let slot = &mut table.codecs[usize::from(r.payload_type)];
                    slot.get_or_insert(r);
                }
            } else if a.is("fmtp") {
                if let Some((f, params)) = v.split_once(' ') {
                    if let Some(pt) = parse_num::<u8>(f).filter(|p| *p < 128) {
                        table.fmtps[usize::from(pt)].get_or_insert(params);
                    }
                }
            }
        }
        for (pt, slot) in (0u8..).zip(table.codecs.iter_mut()) {
            if slot.is_none() {
                *slot = crate::attributes::static_payload_type(pt);
            }
        }
        table
    }

    /// The `a=fmtp` parameters for a format (payload type).
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.attributes_named("fmtp").find_map(|a| {
            let (f, params) = a.value.as_deref()?.split_once(' ')?;
            (f == format).then_some(params)
        })
    }

    /// All valid `a=fmtp` attributes, in order.
    pub fn fmtps(&self) -> Vec<Fmtp> {
        self.attributes_named("fmtp")
            .filter_map(|a| a.value.as_deref()?.parse().ok())
            .collect()
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_value("ptime").and_then(parse_num)
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute_value("maxptime").and_then(parse_num)
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_value("rtcp")?.parse().ok()
    }

    /// The valid `a=candidate` attributes (RFC 5245), in order.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.attributes_named("candidate")
            .filter_map(|a| a.value.as_deref()?.parse().ok())
            .collect()
    }

    /// The media-level direction attribute, if any. See
    /// [`SessionDescription::media_direction`] for the effective direction.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Sets the media-level direction: replaces the first direction
    /// attribute in place (removing any others) or appends one.
    pub fn set_direction(&mut self, direction: Direction) {
        set_direction_in(&mut self.attributes, direction);
    }
}

impl fmt::Display for MediaDescription {
    /// Writes the `m=` line and the media-level lines, each ended by CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.protocol)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        for c in &self.connections {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for u in &self.unknown_lines {
            write!(f, "{}={}\r\n", u.kind, u.value)?;
        }
        Ok(())
    }
}

impl SessionDescription {
    /// A minimal description: `v=0`, the origin, `s=-`, `t=0 0`
    /// (RFC 3264 §5), no media.
    pub fn new(origin: Origin) -> SessionDescription {
        SessionDescription {
            version: 0,
            origin,
            session_name: "-".to_owned(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![Timing::new(0, 0)],
            time_zones: Vec::new(),
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
            unknown_lines: Vec::new(),
        }
    }

    /// Parses with [`ParseOptions::TOLERANT`] (same as `str::parse`).
    pub fn parse(text: &str) -> Result<SessionDescription, ParseError> {
        parse(text, ParseOptions::TOLERANT)
    }

    /// Parses with the given options.
    pub fn parse_with(text: &str, options: ParseOptions) -> Result<SessionDescription, ParseError> {
        parse(text, options)
    }

    /// Parses a body of bytes (e.g. a SIP message body); invalid UTF-8 is
    /// reported with the line it is on.
    pub fn parse_bytes(
        bytes: &[u8],
        options: ParseOptions,
    ) -> Result<SessionDescription, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => parse(text, options),
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                Err(ParseError::new(line, crate::ParseErrorKind::InvalidUtf8))
            }
        }
    }

    /// The first session-level attribute named `name` (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attr(&self.attributes, name)
    }

    /// The value of the first session-level attribute named `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }

    /// The session-level direction: its direction attribute, or sendrecv
    /// (RFC 4566 §6).
    pub fn direction(&self) -> Direction {
        direction_of(&self.attributes).unwrap_or_default()
    }

    /// Sets the session-level direction attribute (see
    /// [`MediaDescription::set_direction`]).
    pub fn set_direction(&mut self, direction: Direction) {
        set_direction_in(&mut self.attributes, direction);
    }

    /// The effective direction of a media description: its own direction
    /// attribute, else the session-level one, else sendrecv
    /// (RFC 4566 §5, §6; RFC 3264 §5.1).
    pub fn media_direction(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| direction_of(&self.attributes))
            .unwrap_or_default()
    }

    /// The effective connection of a media description: its first `c=`,
    /// else the session-level one (RFC 4566 §5.7).
    pub fn media_connection<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connections.first().or(self.connection.as_ref())
    }
}

impl fmt::Display for SessionDescription {
    /// Writes the description in RFC 4566 §5 order, every line ended by CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v={}\r\n", self.version)?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.unicast_address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if !self.time_zones.is_empty() {
            f.write_str("z=")?;
            for (i, z) in self.time_zones.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{z}")?;
            }
            f.write_str("\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for u in &self.unknown_lines {
            write!(f, "{}={}\r\n", u.kind, u.value)?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl FromStr for SessionDescription {
    type Err = ParseError;

    /// Parses with [`ParseOptions::TOLERANT`].
    fn from_str(s: &str) -> Result<SessionDescription, ParseError> {
        parse(s, ParseOptions::TOLERANT)
    }
}
