//! Typed views of well-known attributes and the RTP/AVP static payload types.
//!
//! Attributes are stored verbatim as [`Attribute`](crate::Attribute); the
//! types here are parsed from an attribute value on demand, so a description
//! always serializes exactly as it was received.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseErrorKind;
use crate::model::Connection;
use crate::parse::{parse_connection_fields, parse_num};

/// Media direction attribute (RFC 4566 §6, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default when no direction attribute is present.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// All four directions.
    pub const ALL: [Direction; 4] = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];

    /// The attribute name: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Direction> {
        Direction::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// Builds a direction from "sends media" and "receives media" flags.
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether media is sent in this direction.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether media is received in this direction.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the peer: sendonly ↔ recvonly.
    pub fn reverse(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// Both directions at once: sends only if both send, receives only if
    /// both receive.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `a=rtpmap` value (RFC 4566 §6):
/// `<payload type> <encoding name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtpmap {
    /// RTP payload type, 0-127.
    pub payload_type: u8,
    /// Encoding name, e.g. `PCMU` or `telephone-event` (case as received).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the number of audio channels, if given.
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// Creates an rtpmap without a channel count.
    pub fn new(payload_type: u8, encoding: impl Into<String>, clock_rate: u32) -> Rtpmap {
        Rtpmap {
            payload_type,
            encoding: encoding.into(),
            clock_rate,
            channels: None,
        }
    }

    /// Whether this and `other` name the same codec: encoding name
    /// (ASCII case-insensitive), clock rate and channels (absent counts as 1).
    /// Payload types are not compared.
    pub fn same_codec(&self, other: &Rtpmap) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }
}

impl FromStr for Rtpmap {
    type Err = ParseErrorKind;

    fn from_str(s: &str) -> Result<Rtpmap, ParseErrorKind> {
        let e = ParseErrorKind::InvalidRtpmap;
        let (pt, rest) = s.split_once(' ').ok_or(e)?;
        let payload_type: u8 = parse_num(pt).filter(|p| *p <= 127).ok_or(e)?;
        let rest = rest.trim_start_matches(' ');
        let mut parts = rest.split('/');
        let encoding = parts.next().filter(|x| !x.is_empty()).ok_or(e)?;
        if encoding.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(e);
        }
        let clock_rate = parts.next().and_then(parse_num::<u32>).ok_or(e)?;
        let channels = match parts.next() {
            None => None,
            Some(c) => Some(parse_num::<u16>(c).ok_or(e)?),
        };
        if parts.next().is_some() {
            return Err(e);
        }
        Ok(Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// A parsed `a=fmtp` value (RFC 4566 §6): `<format> <format specific parameters>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fmtp {
    /// The format (payload type for RTP).
    pub format: String,
    /// The parameters, verbatim.
    pub params: String,
}

impl FromStr for Fmtp {
    type Err = ParseErrorKind;

    fn from_str(s: &str) -> Result<Fmtp, ParseErrorKind> {
        let (format, params) = s.split_once(' ').ok_or(ParseErrorKind::InvalidFmtp)?;
        if format.is_empty() {
            return Err(ParseErrorKind::InvalidFmtp);
        }
        Ok(Fmtp {
            format: format.to_owned(),
            params: params.to_owned(),
        })
    }
}

impl fmt::Display for Fmtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.params)
    }
}

/// A parsed `a=rtcp` value (RFC 3605 §2.1):
/// `<port> [<nettype> <addrtype> <connection-address>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, if it differs from the media's.
    pub connection: Option<Connection>,
}

impl FromStr for Rtcp {
    type Err = ParseErrorKind;

    fn from_str(s: &str) -> Result<Rtcp, ParseErrorKind> {
        let e = ParseErrorKind::InvalidRtcp;
        let fields: Vec<&str> = s.split_ascii_whitespace().collect();
        let port = fields.first().and_then(|p| parse_num(p)).ok_or(e)?;
        let connection = match fields.len() {
            1 => None,
            4 => Some(parse_connection_fields(&fields[1..], false).map_err(|_| e)?),
            _ => return Err(e),
        };
        Ok(Rtcp { port, connection })
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(c) = &self.connection {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// A parsed `a=candidate` value (ICE, RFC 5245 §15.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Foundation.
    pub foundation: String,
    /// Component id (1 = RTP, 2 = RTCP).
    pub component: u32,
    /// Transport, e.g. `UDP`.
    pub transport: String,
    /// Priority.
    pub priority: u32,
    /// Connection address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Candidate type: `host`, `srflx`, `prflx`, `relay` or an extension.
    pub typ: String,
    /// `raddr`, if present.
    pub related_address: Option<String>,
    /// `rport`, if present.
    pub related_port: Option<u16>,
    /// Extension attributes (name, value), in order.
    pub extensions: Vec<(String, String)>,
}

impl FromStr for Candidate {
    type Err = ParseErrorKind;

    fn from_str(s: &str) -> Result<Candidate, ParseErrorKind> {
        let e = ParseErrorKind::InvalidCandidate;
        let f: Vec<&str> = s.split_ascii_whitespace().collect();
        if f.len() < 8 || f[6] != "typ" {
            return Err(e);
        }
        let mut c = Candidate {
            foundation: f[0].to_owned(),
            component: parse_num(f[1]).ok_or(e)?,
            transport: f[2].to_owned(),
            priority: parse_num(f[3]).ok_or(e)?,
            address: f[4].to_owned(),
            port: parse_num(f[5]).ok_or(e)?,
            typ: f[7].to_owned(),
            related_address: None,
            related_port: None,
            extensions: Vec::new(),
        };
        let mut rest = &f[8..];
        if let [name, value, tail @ ..] = rest {
            if *name == "raddr" {
                c.related_address = Some((*value).to_owned());
                rest = tail;
            }
        }
        if let [name, value, tail @ ..] = rest {
            if *name == "rport" {
                c.related_port = Some(parse_num(value).ok_or(e)?);
                rest = tail;
            }
        }
        if !rest.len().is_multiple_of(2) {
            return Err(e);
        }
        c.extensions = rest
            .chunks_exact(2)
            .map(|p| (p[0].to_owned(), p[1].to_owned()))
            .collect();
        Ok(c)
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport,
            self.priority,
            self.address,
            self.port,
            self.typ
        )?;
        if let Some(a) = &self.related_address {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.related_port {
            write!(f, " rport {p}")?;
        }
        for (n, v) in &self.extensions {
            write!(f, " {n} {v}")?;
        }
        Ok(())
    }
}

/// RFC 3551 §6 Tables 4 and 5: static RTP/AVP payload types.
/// (payload type, encoding name, clock rate, channels)
const STATIC_PAYLOAD_TYPES: &[(u8, &str, u32, Option<u16>)] = &[
    (0, "PCMU", 8000, None),
    (3, "GSM", 8000, None),
    (4, "G723", 8000, None),
    (5, "DVI4", 8000, None),
    (6, "DVI4", 16000, None),
    (7, "LPC", 8000, None),
    (8, "PCMA", 8000, None),
    // RFC 3551 §4.5.2: G722 is sampled at 16 kHz but its RTP clock is 8000.
    (9, "G722", 8000, None),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, None),
    (12, "QCELP", 8000, None),
    (13, "CN", 8000, None),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, None),
    (16, "DVI4", 11025, None),
    (17, "DVI4", 22050, None),
    (18, "G729", 8000, None),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

/// The codec a static RTP/AVP payload type stands for (RFC 3551 §6), used
/// when a description lists the payload type without an `a=rtpmap`
/// (RFC 3264 §5.1).
///
/// ```
/// let pcma = sipline_sdp::static_payload_type(8).unwrap();
/// assert_eq!(pcma.to_string(), "8 PCMA/8000");
/// assert!(sipline_sdp::static_payload_type(96).is_none());
/// ```
pub fn static_payload_type(payload_type: u8) -> Option<Rtpmap> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|e| e.0 == payload_type)
        .map(|&(pt, enc, rate, ch)| Rtpmap {
            payload_type: pt,
            encoding: enc.to_owned(),
            clock_rate: rate,
            channels: ch,
        })
}

/// The static payload type (RFC 3551 §6) for a codec, if it has one.
pub fn static_payload_type_for(
    encoding: &str,
    clock_rate: u32,
    channels: Option<u16>,
) -> Option<u8> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|&&(_, enc, rate, ch)| {
            enc.eq_ignore_ascii_case(encoding)
                && rate == clock_rate
                && ch.unwrap_or(1) == channels.unwrap_or(1)
        })
        .map(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_parse_and_display() {
        let r: Rtpmap = "98 L16/16000/2".parse().unwrap();
        assert_eq!(r.payload_type, 98);
        assert_eq!(r.encoding, "L16");
        assert_eq!(r.clock_rate, 16000);
        assert_eq!(r.channels, Some(2));
        assert_eq!(r.to_string(), "98 L16/16000/2");
        let r: Rtpmap = "99 h263-1998/90000".parse().unwrap();
        assert_eq!(r.channels, None);
        for bad in [
            "",
            "96",
            "96 ",
            "128 X/8000",
            "96 X",
            "96 X/abc",
            "96 X/8000/2/3",
            "x PCMU/8000",
        ] {
            assert!(bad.parse::<Rtpmap>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fmtp_parse() {
        let f: Fmtp = "101 0-15".parse().unwrap();
        assert_eq!((f.format.as_str(), f.params.as_str()), ("101", "0-15"));
        assert!("101".parse::<Fmtp>().is_err());
    }

    #[test]
    fn rtcp_parse() {
        let r: Rtcp = "53020".parse().unwrap();
        assert_eq!(r.port, 53020);
        assert!(r.connection.is_none());
        let r: Rtcp = "53020 IN IP6 2001:2345:6789:ABCD:EF01:2345:6789:ABCD"
            .parse()
            .unwrap();
        assert_eq!(
            r.to_string(),
            "53020 IN IP6 2001:2345:6789:ABCD:EF01:2345:6789:ABCD"
        );
        assert!("x".parse::<Rtcp>().is_err());
        assert!("1 IN IP4".parse::<Rtcp>().is_err());
    }

    #[test]
    fn candidate_parse() {
        let s = "1 1 UDP 2130706431 10.0.1.1 8998 typ host";
        let c: Candidate = s.parse().unwrap();
        assert_eq!(c.port, 8998);
        assert_eq!(c.to_string(), s);
        let s =
            "2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998 generation 0";
        let c: Candidate = s.parse().unwrap();
        assert_eq!(c.related_address.as_deref(), Some("10.0.1.1"));
        assert_eq!(c.related_port, Some(8998));
        assert_eq!(c.extensions, vec![("generation".into(), "0".into())]);
        assert_eq!(c.to_string(), s);
        assert!("1 1 UDP 1 10.0.1.1 8998 host".parse::<Candidate>().is_err());
        assert!("1 1 UDP 1 10.0.1.1 8998 typ host odd"
            .parse::<Candidate>()
            .is_err());
    }

    #[test]
    fn directions() {
        use Direction::*;
        assert_eq!(SendOnly.reverse(), RecvOnly);
        assert_eq!(Inactive.reverse(), Inactive);
        assert_eq!(SendRecv.intersect(SendOnly), SendOnly);
        assert_eq!(RecvOnly.intersect(SendOnly), Inactive);
        assert_eq!(Direction::from_name("SENDONLY"), Some(SendOnly));
        assert_eq!(Direction::from_name("foo"), None);
        assert_eq!(Direction::default(), SendRecv);
    }

    #[test]
    fn static_types() {
        assert_eq!(static_payload_type(0).unwrap().encoding, "PCMU");
        assert_eq!(static_payload_type(18).unwrap().encoding, "G729");
        assert_eq!(static_payload_type(2), None);
        assert_eq!(static_payload_type_for("pcma", 8000, None), Some(8));
        assert_eq!(static_payload_type_for("PCMA", 8000, Some(1)), Some(8));
        assert_eq!(static_payload_type_for("opus", 48000, Some(2)), None);
    }
}
