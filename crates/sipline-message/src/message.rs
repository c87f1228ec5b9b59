//! Requests, responses, and their serialization (RFC 3261 §7).

use crate::error::{ErrorKind, ParseError};
use crate::header::InvalidValue;
use crate::header::{
    find_tag, validate_value, CSeq, Contact, Header, Headers, MediaType, NameAddr, StdHeader, Via,
};
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::Uri;
use bytes::Bytes;
use bytestring::ByteString;
use std::fmt;

/// SIP-Version (RFC 3261 §7.1): only 2.0 is understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
}

impl Version {
    /// SIP/2.0
    pub const SIP_2_0: Self = Self { major: 2, minor: 0 };
}

impl Default for Version {
    fn default() -> Self {
        Self::SIP_2_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

/// How the lines of a parsed message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// CRLF everywhere, as RFC 3261 requires.
    Crlf,
    /// Bare LF everywhere (read tolerantly).
    Lf,
    /// Some of each.
    Mixed,
}

impl fmt::Display for LineEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Crlf => "CRLF",
            Self::Lf => "LF",
            Self::Mixed => "mixed CRLF and LF",
        })
    }
}

/// A request: `METHOD Request-URI SIP/2.0`, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// SIP-Version.
    pub version: Version,
    /// Header rows.
    pub headers: Headers,
    /// The body (possibly empty).
    pub body: Bytes,
}

/// A response: `SIP/2.0 code reason`, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// SIP-Version.
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase (UTF-8, may be empty).
    pub reason: ByteString,
    /// Header rows.
    pub headers: Headers,
    /// The body (possibly empty).
    pub body: Bytes,
}

/// What [`Message::validate_parsed`] parsed while it checked a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The top Via (what [`Message::top_via`] gives).
    pub top_via: Via,
    /// To (what [`Message::to_header`] gives).
    pub to: NameAddr,
}

/// A SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

fn missing(h: StdHeader) -> ParseError {
    ParseError::new(ErrorKind::MissingHeader(h), 0)
}

fn invalid(h: StdHeader, row: &Header) -> ParseError {
    ParseError::new(ErrorKind::InvalidHeader(h), row.offset())
}

/// Typed views of header fields, for any message's headers (a
/// [`Request`]'s or a [`Response`]'s without wrapping them in a
/// [`Message`]); [`Message`] has the same methods.
impl Headers {
    fn first_row(&self, h: StdHeader) -> Result<&Header, ParseError> {
        self.get_row(h).ok_or_else(|| missing(h))
    }

    fn typed<T>(
        &self,
        h: StdHeader,
        parse: impl Fn(&ByteString) -> Result<T, InvalidValue>,
    ) -> Result<Option<T>, ParseError> {
        match self.get_row(h) {
            None => Ok(None),
            Some(row) => parse(&row.value).map(Some).map_err(|_| invalid(h, row)),
        }
    }

    fn typed_list<T>(
        &self,
        h: StdHeader,
        parse: impl Fn(&ByteString) -> Result<T, InvalidValue>,
    ) -> Result<Vec<T>, ParseError> {
        let mut out = Vec::new();
        for row in self.rows(h) {
            for v in crate::header::ListValues::new(&row.value, true) {
                out.push(parse(&v).map_err(|_| invalid(h, row))?);
            }
        }
        Ok(out)
    }

    /// The topmost Via value (RFC 3261 §20.42).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let row = self.first_row(StdHeader::Via)?;
        let v = self
            .first_value(StdHeader::Via)
            .ok_or_else(|| invalid(StdHeader::Via, row))?;
        Via::parse(&v).map_err(|_| invalid(StdHeader::Via, row))
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.typed_list(StdHeader::Via, Via::parse)
    }

    /// The branch of the top Via, read without parsing the rest of it.
    pub fn branch(&self) -> Option<&str> {
        let row = self.get_row(StdHeader::Via)?;
        crate::header::via_branch(&row.value)
    }

    /// The sent-by (host as written, and port) of the top Via, read without
    /// parsing the rest of it or allocating: with [`Message::branch`], what
    /// transaction matching needs (RFC 3261 §17.2.3).
    pub fn top_via_sent_by(&self) -> Option<(&str, Option<u16>)> {
        let row = self.get_row(StdHeader::Via)?;
        crate::header::via_sent_by(&row.value)
    }

    /// From (RFC 3261 §20.20).
    pub fn from_header(&self) -> Result<NameAddr, ParseError> {
        self.typed(StdHeader::From, NameAddr::parse)?
            .ok_or_else(|| missing(StdHeader::From))
    }

    /// To (RFC 3261 §20.39).
    pub fn to_header(&self) -> Result<NameAddr, ParseError> {
        self.typed(StdHeader::To, NameAddr::parse)?
            .ok_or_else(|| missing(StdHeader::To))
    }

    /// The From tag, read without parsing the URI.
    pub fn from_tag(&self) -> Option<&str> {
        find_tag(self.get(StdHeader::From)?)
    }

    /// The To tag, read without parsing the URI.
    pub fn to_tag(&self) -> Option<&str> {
        find_tag(self.get(StdHeader::To)?)
    }

    /// Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&str> {
        self.get(StdHeader::CallId).map(|v| &**v)
    }

    /// CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        self.typed(StdHeader::CSeq, CSeq::parse)?
            .ok_or_else(|| missing(StdHeader::CSeq))
    }

    /// Max-Forwards (RFC 3261 §20.22), if present.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.typed(StdHeader::MaxForwards, |v| {
            crate::header::parse_u32(v)
                .filter(|&n| n <= 255)
                .ok_or(InvalidValue)
        })
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.typed(StdHeader::ContentLength, |v| {
            crate::header::parse_u32(v).ok_or(InvalidValue)
        })
    }

    /// Expires (RFC 3261 §20.19), if present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.typed(StdHeader::Expires, |v| {
            crate::header::parse_u32(v).ok_or(InvalidValue)
        })
    }

    /// Content-Type (RFC 3261 §20.15), if present.
    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        self.typed(StdHeader::ContentType, MediaType::parse)
    }

    /// Every Contact value (RFC 3261 §20.10).
    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        self.typed_list(StdHeader::Contact, Contact::parse)
    }

    /// Every Route value, top first.
    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.typed_list(StdHeader::Route, NameAddr::parse)
    }

    /// Every Record-Route value, top first.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.typed_list(StdHeader::RecordRoute, NameAddr::parse)
    }

    /// Every value of a list of name-addrs (Path, Service-Route, P-Asserted-Identity ...).
    pub fn name_addrs(&self, h: StdHeader) -> Result<Vec<NameAddr>, ParseError> {
        self.typed_list(h, NameAddr::parse)
    }

    /// Every token of a token list (Require, Supported, Allow, Proxy-Require ...).
    pub fn tokens(&self, h: StdHeader) -> Vec<ByteString> {
        self.values(h).collect()
    }
}

impl Message {
    /// Parses one message received as a datagram, reading tolerantly
    /// (see [`crate::parse::parse`] for options).
    pub fn parse(input: impl Into<Bytes>) -> Result<Self, ParseError> {
        crate::parse::parse(input.into(), &crate::parse::ParseOptions::default()).map(|p| p.message)
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Self::Request(r) => Some(r),
            Self::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Self::Response(r) => Some(r),
            Self::Request(_) => None,
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self, Self::Request(_))
    }

    /// The header rows.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The header rows, mutable.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Self::Request(r) => &mut r.headers,
            Self::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Self::Request(r) => &r.body,
            Self::Response(r) => &r.body,
        }
    }

    /// Replaces the body and sets Content-Length to its size.
    pub fn set_body(&mut self, body: Bytes) {
        let len = body.len();
        match self {
            Self::Request(r) => r.body = body,
            Self::Response(r) => r.body = body,
        }
        self.headers_mut()
            .set(StdHeader::ContentLength, len.to_string());
    }

    /// The method: the request's, or for a response the one in its CSeq.
    pub fn method(&self) -> Option<Method> {
        match self {
            Self::Request(r) => Some(r.method.clone()),
            Self::Response(_) => self.cseq().ok().map(|c| c.method),
        }
    }

    /// The topmost Via value (RFC 3261 §20.42).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        self.headers().top_via()
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.headers().vias()
    }

    /// The branch of the top Via, read without parsing the rest of it.
    pub fn branch(&self) -> Option<&str> {
        self.headers().branch()
    }

    /// The sent-by (host as written, and port) of the top Via, read without
    /// parsing the rest of it or allocating: with [`Message::branch`], what
    /// transaction matching needs (RFC 3261 §17.2.3).
    pub fn top_via_sent_by(&self) -> Option<(&str, Option<u16>)> {
        self.headers().top_via_sent_by()
    }

    /// From (RFC 3261 §20.20).
    pub fn from_header(&self) -> Result<NameAddr, ParseError> {
        self.headers().from_header()
    }

    /// To (RFC 3261 §20.39).
    pub fn to_header(&self) -> Result<NameAddr, ParseError> {
        self.headers().to_header()
    }

    /// The From tag, read without parsing the URI.
    pub fn from_tag(&self) -> Option<&str> {
        self.headers().from_tag()
    }

    /// The To tag, read without parsing the URI.
    pub fn to_tag(&self) -> Option<&str> {
        self.headers().to_tag()
    }

    /// Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&str> {
        self.headers().call_id()
    }

    /// CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        self.headers().cseq()
    }

    /// Max-Forwards (RFC 3261 §20.22), if present.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.headers().max_forwards()
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.headers().content_length()
    }

    /// Expires (RFC 3261 §20.19), if present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.headers().expires()
    }

    /// Content-Type (RFC 3261 §20.15), if present.
    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        self.headers().content_type()
    }

    /// Every Contact value (RFC 3261 §20.10).
    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        self.headers().contacts()
    }

    /// Every Route value, top first.
    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.headers().routes()
    }

    /// Every Record-Route value, top first.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.headers().record_routes()
    }

    /// Every value of a list of name-addrs (Path, Service-Route, P-Asserted-Identity ...).
    pub fn name_addrs(&self, h: StdHeader) -> Result<Vec<NameAddr>, ParseError> {
        self.headers().name_addrs(h)
    }

    /// Every token of a token list (Require, Supported, Allow, Proxy-Require ...).
    pub fn tokens(&self, h: StdHeader) -> Vec<ByteString> {
        self.headers().tokens(h)
    }

    /// Checks what a transaction needs to process this message (RFC 3261
    /// §8.1.1, §8.2.2): Via, From, To, Call-ID and CSeq present and well
    /// formed, single-valued headers not repeated, the CSeq method equal to
    /// the request method, and a well-formed Max-Forwards and Content-Length.
    /// With `strict`, also Max-Forwards in requests and the grammar of every
    /// header sipline knows. The error names the header and where it is.
    pub fn validate(&self, strict: bool) -> Result<(), ParseError> {
        self.validate_parsed(strict).map(drop)
    }

    /// [`Message::validate`], handing back what it parsed on its way (the
    /// top Via and To), so that the caller need not parse them again: e.g.
    /// the transport, which stamps the top Via (RFC 3261 §18.2.1) and
    /// passes both up with the message.
    pub fn validate_parsed(&self, strict: bool) -> Result<Validated, ParseError> {
        const ESSENTIAL: [StdHeader; 4] = [
            StdHeader::From,
            StdHeader::To,
            StdHeader::CallId,
            StdHeader::CSeq,
        ];
        if !self.headers().contains(StdHeader::Via) {
            return Err(missing(StdHeader::Via));
        }
        for h in ESSENTIAL {
            if !self.headers().contains(h) {
                return Err(missing(h));
            }
        }
        if strict && self.is_request() && !self.headers().contains(StdHeader::MaxForwards) {
            return Err(missing(StdHeader::MaxForwards));
        }
        let mut seen = [false; 128];
        let mut top_via = None;
        let mut to = None;
        for row in self.headers() {
            let Some(h) = row.name.std() else { continue };
            if h == StdHeader::To && to.is_none() {
                // kept, where `validate_value` would parse it and drop it
                // (a second To is refused below as a duplicate)
                match NameAddr::parse(&row.value) {
                    Ok(n) => to = Some(n),
                    Err(_) => return Err(invalid(h, row)),
                }
                seen[h as usize % 128] = true;
                continue;
            }
            if h == StdHeader::Via && top_via.is_none() {
                // the first row: its first value kept, the rest checked as
                // `validate_value` would
                let mut values = crate::header::ListValues::new(&row.value, true);
                match values.next().map(|v| Via::parse(&v)) {
                    Some(Ok(via)) if values.all(|v| Via::parse(&v).is_ok()) => {
                        top_via = Some(via);
                        continue;
                    }
                    _ => return Err(invalid(h, row)),
                }
            }
            let slot = &mut seen[h as usize % 128];
            let check = strict
                || ESSENTIAL.contains(&h)
                || matches!(
                    h,
                    StdHeader::Via | StdHeader::MaxForwards | StdHeader::ContentLength
                );
            if h.is_single() && *slot && check {
                return Err(ParseError::new(ErrorKind::DuplicateHeader(h), row.offset()));
            }
            *slot = true;
            if check && !validate_value(h, &row.value) {
                return Err(invalid(h, row));
            }
        }
        if let Self::Request(r) = self {
            if self.cseq()?.method != r.method {
                let row = self.headers().first_row(StdHeader::CSeq)?;
                return Err(ParseError::new(ErrorKind::CseqMethodMismatch, row.offset()));
            }
        }
        Ok(Validated {
            top_via: top_via.ok_or_else(|| missing(StdHeader::Via))?,
            to: to.ok_or_else(|| missing(StdHeader::To))?,
        })
    }

    /// Number of bytes [`Message::write_to`] writes.
    pub fn encoded_len(&self) -> usize {
        let start = match self {
            // METHOD SP URI SP SIP/2.0 CRLF
            Self::Request(r) => r.method.as_str().len() + r.uri.to_string().len() + 11,
            // SIP/2.0 SP 123 SP reason CRLF
            Self::Response(r) => 14 + r.reason.len(),
        };
        let headers: usize = self
            .headers()
            .iter()
            .map(|h| h.name.as_str().len() + 2 + h.value.len() + 2)
            .sum();
        start + headers + 2 + self.body().len()
    }

    /// Serializes the message: start line, every header row as it is (names
    /// as written), an empty line, the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        match self {
            Self::Request(r) => {
                let _ = write!(out, "{} {} {}\r\n", r.method, r.uri, r.version);
            }
            Self::Response(r) => {
                let _ = write!(out, "{} {} {}\r\n", r.version, r.status, r.reason);
            }
        }
        for h in self.headers() {
            out.extend_from_slice(h.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body());
    }

    /// The serialized message.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len() + 16);
        self.write_to(&mut out);
        Bytes::from(out)
    }
}

impl fmt::Display for Message {
    /// The serialized message; a body that is not UTF-8 is shown lossily.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(&String::from_utf8_lossy(&bytes))
    }
}
