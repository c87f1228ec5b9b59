//! Parse errors: what is wrong, and where.

use crate::header::StdHeader;
use std::fmt;

/// A message that could not be parsed, with the byte offset of the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Byte offset into the message where the fault was found.
    pub offset: usize,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// Line and column (both 1-based) of the fault in `input`, the bytes that were parsed.
    pub fn line_col(&self, input: &[u8]) -> (usize, usize) {
        let end = self.offset.min(input.len());
        let before = &input[..end];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        (line, end - line_start + 1)
    }

    /// The status code a server answers a request with this fault with:
    /// 400, or 413/414/505 where those say more (RFC 3261 §21.4).
    pub fn status_code(&self) -> u16 {
        match self.kind {
            ErrorKind::MessageTooLarge => 513,
            ErrorKind::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// A reason phrase for the response, naming the fault, e.g.
    /// `Bad Request (malformed Via header)`.
    pub fn reason_phrase(&self) -> String {
        match self.status_code() {
            513 => "Message Too Large".to_string(),
            505 => "Version Not Supported".to_string(),
            _ => format!("Bad Request ({})", self.kind),
        }
    }
}

/// What is wrong with a message. Each variant's text is a reason a person can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Nothing but white space.
    #[error("empty message")]
    Empty,
    /// The header section has no end (no empty line).
    #[error("incomplete message: header section not terminated by an empty line")]
    Incomplete,
    /// The message is over the configured size limit.
    #[error("message too large")]
    MessageTooLarge,
    /// A line is over the configured length limit.
    #[error("line too long")]
    LineTooLong,
    /// More header fields than the configured limit.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    InvalidUtf8,
    /// A control character where text is expected.
    #[error("control character in message head")]
    ControlCharacter,
    /// The start line is neither a request line nor a status line.
    #[error("malformed start line")]
    MalformedStartLine,
    /// The method is not a token.
    #[error("invalid method")]
    InvalidMethod,
    /// The Request-URI does not parse.
    #[error("malformed Request-URI")]
    InvalidRequestUri,
    /// The SIP-Version is not `SIP/x.y`.
    #[error("malformed SIP-Version")]
    MalformedVersion,
    /// The SIP-Version is not 2.0.
    #[error("unsupported SIP-Version")]
    UnsupportedVersion,
    /// The status code is not three digits from 100 to 699.
    #[error("invalid status code")]
    InvalidStatusCode,
    /// A header line without a colon, or with an empty or non-token name.
    #[error("malformed header line")]
    MalformedHeaderLine,
    /// A continuation line (starting with white space) with no header before it.
    #[error("continuation line before the first header")]
    UnexpectedContinuation,
    /// A known header's value does not follow its grammar.
    #[error("malformed {0} header")]
    InvalidHeader(StdHeader),
    /// A header that may appear only once appears more than once.
    #[error("duplicate {0} header")]
    DuplicateHeader(StdHeader),
    /// A header every request or response must carry is missing (RFC 3261 §8.1.1).
    #[error("missing {0} header")]
    MissingHeader(StdHeader),
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CseqMethodMismatch,
    /// Content-Length is larger than the bytes that follow the head.
    #[error("Content-Length larger than the body received")]
    BodyTooShort,
    /// On a stream transport every message needs a Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
}

impl fmt::Display for StdHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
