//! SDP: parse and serialize session descriptions (RFC 4566, obsoleted by
//! RFC 8866 with the same grammar), and the offer/answer model (RFC 3264).
//!
//! * [`SessionDescription`] is the typed model; `str::parse` /
//!   [`SessionDescription::parse_with`] read it ([`ParseOptions`]: strict or
//!   tolerant) and `Display` writes it back with CRLF line ends. Any
//!   description the parser accepts serializes to text that parses to the
//!   same description, and well-formed CRLF text serializes byte for byte
//!   as it was received.
//! * Attributes are kept verbatim, in order; typed views are parsed on
//!   demand: [`MediaDescription::rtpmaps`], [`MediaDescription::fmtp`],
//!   [`MediaDescription::ptime`], [`MediaDescription::rtcp`],
//!   [`SessionDescription::media_direction`], ...
//! * [`offer`], [`answer`], [`hold`], [`resume`] and [`negotiated`]
//!   implement RFC 3264, with [`LocalSession`] keeping our `o=` line.
//!
//! ```
//! use sipline_sdp::{answer, negotiated, Capabilities, Codec, Direction, LocalSession,
//!     MediaCapability, SessionDescription};
//!
//! let offer: SessionDescription = "v=0\r\n\
//! o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
//! s=-\r\n\
//! c=IN IP4 192.0.2.10\r\n\
//! t=0 0\r\n\
//! m=audio 49170 RTP/AVP 0 8 101\r\n\
//! a=rtpmap:101 telephone-event/8000\r\n\
//! a=fmtp:101 0-15\r\n\
//! a=sendonly\r\n".parse()?;
//! assert_eq!(offer.media[0].formats, ["0", "8", "101"]);
//!
//! let caps = Capabilities::new("192.0.2.20".parse().unwrap())
//!     .with_media(MediaCapability::audio(30000, vec![Codec::pcma(), Codec::telephone_event()]));
//! let mut session = LocalSession::new("bob", 1234, 1);
//! let ans = answer(&offer, &caps, &mut session);
//!
//! assert_eq!(ans.to_string(), "v=0\r\n\
//! o=bob 1234 1 IN IP4 192.0.2.20\r\n\
//! s=-\r\n\
//! c=IN IP4 192.0.2.20\r\n\
//! t=0 0\r\n\
//! m=audio 30000 RTP/AVP 8 101\r\n\
//! a=rtpmap:8 PCMA/8000\r\n\
//! a=rtpmap:101 telephone-event/8000\r\n\
//! a=fmtp:101 0-15\r\n\
//! a=recvonly\r\n");
//! let agreed = negotiated(&offer, &ans);
//! let stream = agreed[0].as_ref().unwrap();
//! assert_eq!(stream.codec.as_ref().unwrap().encoding, "PCMA");
//! assert_eq!(stream.direction, Direction::RecvOnly);
//! # Ok::<(), sipline_sdp::ParseError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attributes;
mod error;
mod model;
mod offer_answer;
mod parse;

pub use attributes::{
    static_payload_type, static_payload_type_for, Candidate, Direction, Fmtp, Rtcp, Rtpmap,
};
pub use error::{LineType, ParseError, ParseErrorKind};
pub use model::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, Repeat, SessionDescription,
    TimeUnit, TimeZone, Timing, TypedTime, UnknownLine,
};
pub use offer_answer::{
    answer, hold, negotiated, offer, resume, Capabilities, Codec, LocalSession, MediaCapability,
    NegotiatedStream,
};
pub use parse::ParseOptions;
