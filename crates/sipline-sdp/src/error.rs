//! Typed parse errors.

use std::fmt;

/// An SDP parse failure: what went wrong ([`ParseErrorKind`]) and on which
/// line (1-based).
///
/// Displays as `line N: reason`, for example
/// `line 3: invalid origin (o=) line: expected 6 fields`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    line: usize,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(line: usize, kind: ParseErrorKind) -> Self {
        ParseError { line, kind }
    }

    /// The 1-based line number the error was found on. Errors about
    /// something missing at the end of the description point at the last
    /// line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What went wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }
}

/// A line type letter, displayed as `x=` (helper for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineType(pub char);

impl fmt::Display for LineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.0)
    }
}

/// The kinds of SDP parse errors.
///
/// Errors marked *strict* are only reported with
/// [`ParseOptions::STRICT`](crate::ParseOptions::STRICT).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseErrorKind {
    /// The input is not valid UTF-8 (only from
    /// [`SessionDescription::parse_bytes`](crate::SessionDescription::parse_bytes)).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A line is not of the form `<type>=<value>` (RFC 4566 §5).
    #[error("malformed line: expected `<type>=<value>` with a one-letter type")]
    MalformedLine,
    /// An empty line inside the description (*strict*).
    #[error("empty line")]
    EmptyLine,
    /// A NUL or a lone CR inside a line (RFC 4566 §9 `byte-string`).
    #[error("invalid character (NUL or CR) in line")]
    InvalidCharacter,
    /// A line type letter that RFC 4566 does not define (*strict*).
    #[error("unknown line type `{0}`")]
    UnknownLineType(LineType),
    /// A line out of the order required by RFC 4566 §5 (*strict*).
    #[error("`{found}` line out of order (after a `{after}` line)")]
    OutOfOrder {
        /// The type of the offending line.
        found: LineType,
        /// The type of the line before it.
        after: LineType,
    },
    /// A line that may appear at most once appeared again.
    #[error("duplicate `{0}` line")]
    DuplicateLine(LineType),
    /// A required line is missing (`o=` always; `v=`, `s=`, `t=` when strict).
    #[error("missing required `{0}` line")]
    MissingLine(LineType),
    /// Fields separated by more than one space, or empty fields (*strict*).
    #[error("invalid `{0}` line: fields must be separated by single spaces")]
    FieldSeparator(LineType),
    /// A field that must be an RFC 4566 `token` is not (*strict*).
    #[error("invalid `{0}` line: field is not a valid token")]
    InvalidToken(LineType),
    /// `v=` is not a decimal number.
    #[error("invalid protocol version (v=) line: expected a decimal number")]
    InvalidVersion,
    /// `v=` is not 0 (*strict*).
    #[error("unsupported protocol version (v=): only 0 is defined")]
    UnsupportedVersion,
    /// `o=` does not have 6 fields.
    #[error("invalid origin (o=) line: expected 6 fields")]
    OriginFieldCount,
    /// `o=` session id is not a decimal number that fits 64 bits.
    #[error("invalid origin (o=) line: session id is not a 64-bit decimal number")]
    InvalidSessionId,
    /// `o=` session version is not a decimal number that fits 64 bits.
    #[error("invalid origin (o=) line: session version is not a 64-bit decimal number")]
    InvalidSessionVersion,
    /// `c=` does not have 3 fields.
    #[error("invalid connection (c=) line: expected 3 fields")]
    ConnectionFieldCount,
    /// `c=` address is empty or has too many `/` parts.
    #[error("invalid connection (c=) line: bad connection address")]
    InvalidConnectionAddress,
    /// `c=` multicast TTL is not a number in 0-255.
    #[error("invalid connection (c=) line: TTL is not a number in 0-255")]
    InvalidTtl,
    /// `c=` number of addresses is not a decimal number.
    #[error("invalid connection (c=) line: number of addresses is not a number")]
    InvalidAddressCount,
    /// IPv4 multicast address without a TTL (*strict*, RFC 4566 §5.7).
    #[error("invalid connection (c=) line: IPv4 multicast address requires a TTL")]
    MulticastTtlMissing,
    /// Slash notation used with a unicast address (*strict*, RFC 4566 §5.7).
    #[error("invalid connection (c=) line: slash notation is not allowed for unicast addresses")]
    UnicastSlashNotation,
    /// A media section without `c=` while the session has none (*strict*).
    #[error("media description without connection (c=) line and no session-level c= line")]
    MissingConnection,
    /// `b=` is not `<bwtype>:<bandwidth>`.
    #[error("invalid bandwidth (b=) line: expected `<bwtype>:<bandwidth>`")]
    BandwidthSyntax,
    /// `b=` bandwidth is not a decimal number.
    #[error("invalid bandwidth (b=) line: bandwidth is not a decimal number")]
    InvalidBandwidthValue,
    /// `t=` does not have 2 fields.
    #[error("invalid timing (t=) line: expected 2 fields")]
    TimingFieldCount,
    /// A `t=`/`z=` time is not a decimal number.
    #[error("invalid time: expected a decimal number of seconds")]
    InvalidTime,
    /// `r=` with too few fields.
    #[error("invalid repeat (r=) line: expected an interval, a duration and offsets")]
    RepeatFieldCount,
    /// `r=` without a preceding `t=`.
    #[error("repeat (r=) line without a preceding timing (t=) line")]
    RepeatWithoutTiming,
    /// A typed time (`r=`, `z=`) is not digits with an optional d/h/m/s unit.
    #[error("invalid typed time: expected digits and an optional d, h, m or s unit")]
    InvalidTypedTime,
    /// `z=` does not consist of pairs of fields.
    #[error("invalid time zone (z=) line: expected pairs of adjustment time and offset")]
    TimeZoneFieldCount,
    /// `k=` is not one of prompt, clear:, base64:, uri: (*strict*).
    #[error("invalid encryption key (k=) line: unknown method")]
    InvalidKey,
    /// `m=` has too few fields.
    #[error("invalid media (m=) line: expected media, port, protocol and formats")]
    MediaFieldCount,
    /// `m=` port is not a number in 0-65535.
    #[error("invalid media (m=) line: port is not a number in 0-65535")]
    InvalidPort,
    /// `m=` number of ports is not a decimal number.
    #[error("invalid media (m=) line: number of ports is not a number")]
    InvalidPortCount,
    /// `m=` protocol is not `token *("/" token)` (*strict*).
    #[error("invalid media (m=) line: bad protocol")]
    InvalidProtocol,
    /// `a=` attribute name is not a token (*strict*).
    #[error("invalid attribute (a=) line: attribute name is not a token")]
    InvalidAttributeName,
    /// Invalid `a=rtpmap` value (*strict*).
    #[error(
        "invalid rtpmap attribute: expected `<payload type> <encoding>/<clock rate>[/<channels>]`"
    )]
    InvalidRtpmap,
    /// Invalid `a=fmtp` value (*strict*).
    #[error("invalid fmtp attribute: expected `<format> <parameters>`")]
    InvalidFmtp,
    /// Invalid `a=ptime` value (*strict*).
    #[error("invalid ptime attribute: expected a number of milliseconds")]
    InvalidPtime,
    /// Invalid `a=maxptime` value (*strict*).
    #[error("invalid maxptime attribute: expected a number of milliseconds")]
    InvalidMaxptime,
    /// A direction attribute (sendrecv, ...) with a value (*strict*).
    #[error("invalid direction attribute: it takes no value")]
    InvalidDirection,
    /// Invalid `a=rtcp` value (*strict*, RFC 3605).
    #[error("invalid rtcp attribute: expected `<port> [<nettype> <addrtype> <address>]`")]
    InvalidRtcp,
    /// Invalid `a=candidate` value (*strict*, RFC 5245 §15.1).
    #[error("invalid candidate attribute")]
    InvalidCandidate,
}
