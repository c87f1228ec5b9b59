//! The message parser: framing (RFC 3261 §7.5, §18.3), start line (§7.1,
//! §7.2), header rows (§7.3.1), body (§7.4, §18.3).
//!
//! Parsing is one pass over the head that records where each row is and
//! hands out slices of the received buffer; nothing in a header value is
//! copied unless the row was folded over several lines.

pub use crate::error::{ErrorKind, ParseError};
use crate::header::{parse_u32, Header, HeaderName, Headers, StdHeader};
use crate::message::{LineEnding, Message, Request, Response, Version};
use crate::method::{is_token_byte, Method};
use crate::status::StatusCode;
use crate::uri::Uri;
use bytes::Bytes;
use bytestring::ByteString;

/// How to read a message.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Check the grammar of every known header and the headers every message
    /// must carry ([`Message::validate`] with `strict`).
    pub strict: bool,
    /// The message came over a stream (TCP, TLS): Content-Length is required
    /// (RFC 3261 §18.3). Otherwise it is a datagram: a missing Content-Length
    /// means the rest of the datagram, a shorter one truncates the body.
    pub stream: bool,
    /// Largest message accepted, head and body, in bytes.
    pub max_message_size: usize,
    /// Most header rows accepted.
    pub max_headers: usize,
    /// Longest line accepted, in bytes.
    pub max_line_length: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            strict: false,
            stream: false,
            max_message_size: 65_535,
            max_headers: 256,
            max_line_length: 8_192,
        }
    }
}

/// A parsed message and what the parser saw while reading it.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The message.
    pub message: Message,
    /// How its lines ended.
    pub line_ending: LineEnding,
    /// Bytes of the input the message took, including CRLFs before it.
    pub length: usize,
}

/// Parses one message.
pub fn parse(input: Bytes, opts: &ParseOptions) -> Result<Parsed, ParseError> {
    let bytes = &input[..];
    let err = |kind, at| Err(ParseError::new(kind, at));
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::new(ErrorKind::Empty, bytes.len()))?;

    // Pass 1: where the lines are, up to the empty line that ends the head.
    let split = split_lines(bytes, start, opts, true)?
        .ok_or(ParseError::new(ErrorKind::Incomplete, bytes.len()))?;
    let (head_end, body_start) = (split.head_end, split.body_start);
    if body_start > opts.max_message_size {
        return err(ErrorKind::MessageTooLarge, opts.max_message_size);
    }
    let Ok(head) = ByteString::try_from(input.slice(start..head_end)) else {
        let at = std::str::from_utf8(&bytes[start..head_end])
            .err()
            .map_or(0, |e| e.valid_up_to());
        return err(ErrorKind::InvalidUtf8, start + at);
    };
    let line = |i: usize| -> (&str, usize) {
        let (a, b) = split.lines[i];
        (&head[a as usize - start..b as usize - start], a as usize)
    };

    // Control characters (RFC 3261 §25.1): one pass over the whole head in a
    // form the compiler vectorizes; only a head that has one, or a CR that
    // does not end a line, is checked line by line to say where.
    let (controls, crs) = scan_controls(head.as_bytes());
    if controls || crs != split.crlf {
        // A quoted string may go on across a folded line: the quote state
        // carries over to continuation lines, as in the joined value.
        let mut in_quotes = false;
        for i in 0..split.lines.len() {
            let (text, at) = line(i);
            if !text.starts_with([' ', '\t']) {
                in_quotes = false;
            }
            in_quotes = check_controls(text, at, in_quotes)?;
        }
    }

    // Pass 2: header rows. A row's continuation lines (starting with SP or
    // HT) are joined to it with single spaces (RFC 3261 §7.3.1).
    let mut headers = Headers::with_capacity(split.lines.len());
    let mut folded: Option<String> = None;
    for i in 1..split.lines.len() {
        let (text, abs) = line(i);
        let b = text.as_bytes();
        if b[0] == b' ' || b[0] == b'\t' {
            let last = headers
                .last_mut()
                .ok_or(ParseError::new(ErrorKind::UnexpectedContinuation, abs))?;
            let more = trim(text);
            if !more.is_empty() {
                let v = folded.get_or_insert_with(|| last.value.to_string());
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(more);
            }
            continue;
        }
        if let Some(v) = folded.take() {
            set_last_value(&mut headers, v);
        }
        // field-name = token; HCOLON = *( SP / HTAB ) ":" SWS (RFC 3261 §25.1)
        let mut n = 0;
        while n < b.len() && is_token_byte(b[n]) {
            n += 1;
        }
        let mut colon = n;
        while colon < b.len() && (b[colon] == b' ' || b[colon] == b'\t') {
            colon += 1;
        }
        if n == 0 || colon >= b.len() || b[colon] != b':' {
            return err(ErrorKind::MalformedHeaderLine, abs);
        }
        if headers.len() >= opts.max_headers {
            return err(ErrorKind::TooManyHeaders, abs);
        }
        let name = &text[..n];
        let value = trim(&text[colon + 1..]);
        let std = StdHeader::from_name(name);
        headers.push_row(Header {
            name: HeaderName::from_parts(std, name_text(&head, std, name)),
            value: head.slice_ref(value),
            offset: u32::try_from(abs).unwrap_or(u32::MAX),
        });
    }
    if let Some(v) = folded.take() {
        set_last_value(&mut headers, v);
    }
    let content_length = content_length(&headers)?;

    // Body (RFC 3261 §18.3).
    let available = bytes.len() - body_start;
    let (body, length) = match content_length {
        Some(cl) => {
            let cl = cl as usize;
            if body_start.saturating_add(cl) > opts.max_message_size {
                return err(ErrorKind::MessageTooLarge, opts.max_message_size);
            }
            if cl > available {
                return err(ErrorKind::BodyTooShort, bytes.len());
            }
            (input.slice(body_start..body_start + cl), body_start + cl)
        }
        None if opts.stream => return err(ErrorKind::MissingContentLength, head_end),
        None => {
            if bytes.len() > opts.max_message_size {
                return err(ErrorKind::MessageTooLarge, opts.max_message_size);
            }
            (input.slice(body_start..), bytes.len())
        }
    };

    let (first, first_at) = line(0);
    let message = parse_start_line(&head, first, first_at, headers, body, opts.strict)?;
    if opts.strict {
        message.validate(true)?;
    }
    let line_ending = match (split.crlf, split.lf) {
        (_, 0) => LineEnding::Crlf,
        (0, _) => LineEnding::Lf,
        _ => LineEnding::Mixed,
    };
    Ok(Parsed {
        message,
        line_ending,
        length,
    })
}

/// The lines of a head: (start, end without line end) in the input.
struct SplitLines {
    lines: Vec<(u32, u32)>,
    head_end: usize,
    body_start: usize,
    crlf: usize,
    lf: usize,
}

/// One pass over the newlines of the input, up to the empty line that ends
/// the head, recording where each line is (if `record`). `None` if the head
/// is not complete in `bytes`; an error if a line or the head is over the limits.
fn split_lines(
    bytes: &[u8],
    start: usize,
    opts: &ParseOptions,
    record: bool,
) -> Result<Option<SplitLines>, ParseError> {
    let mut split = SplitLines {
        lines: Vec::with_capacity(if record { 24 } else { 0 }),
        head_end: 0,
        body_start: 0,
        crlf: 0,
        lf: 0,
    };
    let mut line_start = start;
    for nl in memchr::memchr_iter(b'\n', &bytes[start..]) {
        let nl = start + nl;
        if nl - line_start > opts.max_line_length {
            return Err(ParseError::new(ErrorKind::LineTooLong, line_start));
        }
        let cr = nl > line_start && bytes[nl - 1] == b'\r';
        let end = if cr { nl - 1 } else { nl };
        if end == line_start {
            // the empty line: the head ends after the previous line's line end
            split.head_end = line_start;
            split.body_start = nl + 1;
            return Ok(Some(split));
        }
        if cr {
            split.crlf += 1;
        } else {
            split.lf += 1;
        }
        // offsets fit: the input is limited far below 4 GiB by the check below
        if record {
            split.lines.push((line_start as u32, end as u32));
        }
        line_start = nl + 1;
        if line_start - start > opts.max_message_size {
            return Err(ParseError::new(
                ErrorKind::MessageTooLarge,
                opts.max_message_size,
            ));
        }
    }
    if bytes.len() - line_start > opts.max_line_length {
        return Err(ParseError::new(ErrorKind::LineTooLong, line_start));
    }
    if bytes.len() - start > opts.max_message_size {
        return Err(ParseError::new(
            ErrorKind::MessageTooLarge,
            opts.max_message_size,
        ));
    }
    Ok(None)
}

/// Removes SP and HT at both ends.
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let mut a = 0;
    let mut e = b.len();
    while a < e && (b[a] == b' ' || b[a] == b'\t') {
        a += 1;
    }
    while e > a && (b[e - 1] == b' ' || b[e - 1] == b'\t') {
        e -= 1;
    }
    &s[a..e]
}

/// Whether the bytes hold a control character other than HT, CR and LF,
/// and how many CRs they hold. Written over fixed-size chunks with bitwise
/// operations so that it compiles to vector instructions.
fn scan_controls(bytes: &[u8]) -> (bool, usize) {
    #[inline(always)]
    fn bad(b: u8) -> u8 {
        (u8::from(b < 0x20) & u8::from(b != b'\t') & u8::from(b != b'\r') & u8::from(b != b'\n'))
            | u8::from(b == 0x7f)
    }
    let mut any = 0u8;
    let mut crs = 0usize;
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        let mut c = 0u8;
        for &b in chunk {
            any |= bad(b);
            c += u8::from(b == b'\r');
        }
        crs += usize::from(c);
    }
    for &b in chunks.remainder() {
        any |= bad(b);
        crs += usize::from(b == b'\r');
    }
    (any != 0, crs)
}

fn set_last_value(headers: &mut Headers, v: String) {
    if let Some(last) = headers.last_mut() {
        last.value = ByteString::from(v);
    }
}

/// The name's text: for a known header spelled canonically or in its compact
/// form, a static string (no reference count to touch), else a slice of the head.
fn name_text(head: &ByteString, std: Option<StdHeader>, name: &str) -> ByteString {
    if let Some(h) = std {
        if name == h.as_str() {
            return ByteString::from_static(h.as_str());
        }
        if let Some(c) = StdHeader::compact_str(name) {
            return ByteString::from_static(c);
        }
    }
    head.slice_ref(name)
}

/// The message's Content-Length. Framing depends on it, so it is checked
/// however tolerant the reading: a bad or conflicting Content-Length is an
/// error (RFC 3261 §18.3).
fn content_length(headers: &Headers) -> Result<Option<u32>, ParseError> {
    let mut found = None;
    for row in headers.rows(StdHeader::ContentLength) {
        let n = parse_u32(&row.value).ok_or(ParseError::new(
            ErrorKind::InvalidHeader(StdHeader::ContentLength),
            row.offset(),
        ))?;
        if found.is_some_and(|old| old != n) {
            return Err(ParseError::new(
                ErrorKind::DuplicateHeader(StdHeader::ContentLength),
                row.offset(),
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

/// No control characters but HT in a line (RFC 3261 §25.1: TEXT-UTF8 and
/// tokens exclude them), except escaped in a quoted-string, where
/// `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)` allows all but CR and LF.
/// Takes and returns whether the line starts and ends inside a quoted string.
fn check_controls(line: &str, at: usize, mut in_quotes: bool) -> Result<bool, ParseError> {
    let bytes = line.as_bytes();
    let is_control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_quotes = !in_quotes,
            // the escaped byte may be a control, but never CR or LF
            b'\\' if in_quotes && bytes.get(i + 1).is_some_and(|&n| n != b'\r' && n != b'\n') => {
                i += 2;
                continue;
            }
            b if is_control(b) => {
                return Err(ParseError::new(ErrorKind::ControlCharacter, at + i));
            }
            _ => {}
        }
        i += 1;
    }
    Ok(in_quotes)
}

fn parse_version(s: &str, at: usize) -> Result<Version, ParseError> {
    // RFC 3261 §7.1: SIP-Version is case-insensitive.
    let bad = || ParseError::new(ErrorKind::MalformedVersion, at);
    let rest = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &s[4..])
        .ok_or_else(bad)?;
    let (maj, min) = rest.split_once('.').ok_or_else(bad)?;
    let num = |t: &str| -> Result<u8, ParseError> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let v = Version {
        major: num(maj)?,
        minor: num(min)?,
    };
    if v != Version::SIP_2_0 {
        return Err(ParseError::new(ErrorKind::UnsupportedVersion, at));
    }
    Ok(v)
}

fn parse_start_line(
    head: &ByteString,
    line: &str,
    at: usize,
    headers: Headers,
    body: Bytes,
    strict: bool,
) -> Result<Message, ParseError> {
    let bad = |k, off: usize| ParseError::new(k, at + off);
    // The grammar has exactly one SP between the parts (RFC 3261 §7.1,
    // §7.2); reading tolerantly, runs of spaces are accepted too.
    let skip = |s: &str| {
        if strict {
            0
        } else {
            s.len() - s.trim_start_matches(' ').len()
        }
    };
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
        let sp = line
            .find(' ')
            .ok_or(bad(ErrorKind::MalformedStartLine, line.len()))?;
        let version = parse_version(&line[..sp], at)?;
        let sp = sp + skip(&line[sp + 1..]);
        let rest = &line[sp + 1..];
        let code_txt = rest.get(..3).unwrap_or(rest);
        let code = if code_txt.len() == 3 && code_txt.bytes().all(|b| b.is_ascii_digit()) {
            code_txt.parse::<u16>().ok().and_then(StatusCode::new)
        } else {
            None
        }
        .ok_or(bad(ErrorKind::InvalidStatusCode, sp + 1))?;
        let after = &rest[3..];
        let reason = match after.strip_prefix(' ') {
            Some(r) => r,
            None if after.is_empty() => "",
            None => return Err(bad(ErrorKind::InvalidStatusCode, sp + 1)),
        };
        return Ok(Message::Response(Response {
            version,
            status: code,
            reason: head.slice_ref(reason),
            headers,
            body,
        }));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1)
    let sp1 = line
        .find(' ')
        .ok_or(bad(ErrorKind::MalformedStartLine, line.len()))?;
    let sp2 = line
        .rfind(' ')
        .filter(|&i| i > sp1)
        .ok_or(bad(ErrorKind::MalformedStartLine, line.len()))?;
    let method =
        Method::parse_shared(head, &line[..sp1]).ok_or(bad(ErrorKind::InvalidMethod, 0))?;
    let uri_txt = &line[sp1 + 1..sp2];
    let uri_txt = if strict {
        uri_txt
    } else {
        uri_txt.trim_matches(' ')
    };
    if uri_txt.is_empty() || uri_txt.contains(' ') {
        return Err(bad(ErrorKind::MalformedStartLine, sp1 + 1));
    }
    let uri =
        Uri::parse(uri_txt).map_err(|e| bad(ErrorKind::InvalidRequestUri, sp1 + 1 + e.offset))?;
    let version = parse_version(&line[sp2 + 1..], at + sp2 + 1)?;
    Ok(Message::Request(Request {
        method,
        uri,
        version,
        headers,
        body,
    }))
}

/// What a stream holds at its front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole message yet: read more.
    Incomplete,
    /// This many CR/LF bytes before any message: keep-alives (RFC 5626 §3.5.1)
    /// or the CRLFs RFC 3261 §7.5 says to ignore. Drop them and look again.
    Keepalive(usize),
    /// A whole message of this many bytes.
    Message(usize),
}

/// Finds the extent of the first message on a stream by its Content-Length
/// (RFC 3261 §18.3), without parsing it. A stream with no or a bad
/// Content-Length, or a message over the limits, cannot be framed: the
/// caller answers 400 if it can and closes the connection.
pub fn frame(buf: &[u8], opts: &ParseOptions) -> Result<Frame, ParseError> {
    let crlfs = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if crlfs > 0 {
        return Ok(Frame::Keepalive(crlfs));
    }
    let Some(split) = split_lines(buf, 0, opts, false)? else {
        return Ok(Frame::Incomplete);
    };
    let (head_end, body_start) = (split.head_end, split.body_start);
    let cl = find_content_length(&buf[..head_end])?
        .ok_or(ParseError::new(ErrorKind::MissingContentLength, head_end))?;
    let total = body_start.saturating_add(cl as usize);
    if total > opts.max_message_size {
        return Err(ParseError::new(
            ErrorKind::MessageTooLarge,
            opts.max_message_size,
        ));
    }
    if buf.len() < total {
        return Ok(Frame::Incomplete);
    }
    Ok(Frame::Message(total))
}

/// The Content-Length of a head (folded rows included), without building rows.
fn find_content_length(head: &[u8]) -> Result<Option<u32>, ParseError> {
    let mut found: Option<u32> = None;
    let mut pos = 0;
    while pos < head.len() {
        let end = memchr::memchr(b'\n', &head[pos..]).map_or(head.len(), |i| pos + i);
        let line = &head[pos..end];
        let line_at = pos;
        pos = end + 1;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim_bytes(&line[..colon]);
        let is_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
        if !is_cl || line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let mut value = trim_bytes(&line[colon + 1..]).to_vec();
        // continuation lines
        while pos < head.len() && matches!(head[pos], b' ' | b'\t') {
            let end = memchr::memchr(b'\n', &head[pos..]).map_or(head.len(), |i| pos + i);
            value.extend_from_slice(trim_bytes(&head[pos..end]));
            pos = end + 1;
        }
        let n = std::str::from_utf8(&value)
            .ok()
            .and_then(parse_u32)
            .ok_or(ParseError::new(
                ErrorKind::InvalidHeader(StdHeader::ContentLength),
                line_at,
            ))?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::new(
                ErrorKind::DuplicateHeader(StdHeader::ContentLength),
                line_at,
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\r'))
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
        .map_or(s, |i| i + 1);
    &b[s..e.max(s)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:carol@chicago.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877\r\n\
Max-Forwards: 70\r\n\
To: <sip:carol@chicago.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

    fn p(s: &str) -> Result<Parsed, ParseError> {
        parse(Bytes::from(s.to_string()), &ParseOptions::default())
    }

    fn kind(s: &str) -> ErrorKind {
        p(s).unwrap_err().kind
    }

    fn with_body(cl: Option<&str>, body: &str) -> String {
        let head = OPTIONS.replace("Content-Length: 0\r\n", "");
        let head = head.trim_end_matches("\r\n");
        match cl {
            Some(cl) => format!("{head}\r\nContent-Length: {cl}\r\n\r\n{body}"),
            None => format!("{head}\r\n\r\n{body}"),
        }
    }

    #[test]
    fn request_round_trips_byte_for_byte() {
        let parsed = p(OPTIONS).unwrap();
        assert_eq!(parsed.line_ending, LineEnding::Crlf);
        assert_eq!(parsed.length, OPTIONS.len());
        let m = parsed.message;
        assert_eq!(m.headers().len(), 9);
        assert_eq!(&m.to_bytes()[..], OPTIONS.as_bytes());
        assert_eq!(m.encoded_len(), OPTIONS.len(), "encoded_len is exact");
        m.validate(true).unwrap();
    }

    #[test]
    fn bare_lf_and_leading_crlf() {
        let lf = OPTIONS.replace("\r\n", "\n");
        let parsed = p(&format!("\r\n\n{lf}")).unwrap();
        assert_eq!(parsed.line_ending, LineEnding::Lf);
        assert_eq!(
            parsed.message.to_bytes(),
            p(OPTIONS).unwrap().message.to_bytes()
        );
        let mixed = OPTIONS.replacen("\r\n", "\n", 2);
        assert_eq!(p(&mixed).unwrap().line_ending, LineEnding::Mixed);
    }

    #[test]
    fn folding_and_whitespace_around_colon() {
        // RFC 3261 §7.3.1: the four Subject forms are equivalent, and folding
        // becomes a single space.
        for subj in [
            "Subject:            lunch",
            "Subject      :      lunch",
            "Subject            :lunch",
            "Subject: lunch",
        ] {
            let m = p(&OPTIONS.replace("Accept:", &format!("{subj}\r\nAccept:")))
                .unwrap()
                .message;
            assert_eq!(m.headers().get("subject").unwrap(), "lunch");
        }
        let folded = OPTIONS.replace(
            "Accept: application/sdp",
            "Subject: I know you're there,\r\n         pick up the phone\r\n\tand talk to me!\r\nAccept: application/sdp",
        );
        let m = p(&folded).unwrap().message;
        assert_eq!(
            m.headers().get(StdHeader::Subject).unwrap(),
            "I know you're there, pick up the phone and talk to me!"
        );
        let again = parse(m.to_bytes(), &ParseOptions::default())
            .unwrap()
            .message;
        assert_eq!(again, m);
    }

    #[test]
    fn datagram_body_rules() {
        // RFC 3261 §18.3: missing Content-Length on a datagram: the rest is the body
        let m = p(&with_body(None, "hello")).unwrap().message;
        assert_eq!(&m.body()[..], b"hello");
        // shorter: truncated
        let m = p(&with_body(Some("3"), "hello")).unwrap().message;
        assert_eq!(&m.body()[..], b"hel");
        // longer: error
        assert_eq!(
            kind(&with_body(Some("10"), "hello")),
            ErrorKind::BodyTooShort
        );
        assert_eq!(
            kind(&with_body(Some("-1"), "")),
            ErrorKind::InvalidHeader(StdHeader::ContentLength)
        );
        assert_eq!(
            kind(&with_body(Some("5\r\nl: 4"), "hello")),
            ErrorKind::DuplicateHeader(StdHeader::ContentLength)
        );
        // the same value twice is harmless
        assert!(p(&with_body(Some("5\r\nl: 5"), "hello")).is_ok());
    }

    #[test]
    fn stream_body_rules() {
        let opts = ParseOptions {
            stream: true,
            ..ParseOptions::default()
        };
        let e = parse(Bytes::from(with_body(None, "")), &opts).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingContentLength);
        let two = format!("{}{}", with_body(Some("5"), "hello"), OPTIONS);
        let parsed = parse(Bytes::from(two.clone()), &opts).unwrap();
        assert_eq!(&parsed.message.body()[..], b"hello");
        assert_eq!(&two[parsed.length..], OPTIONS);
    }

    #[test]
    fn framing_on_streams() {
        let opts = ParseOptions::default();
        let msg = with_body(Some("5"), "hello");
        let n = msg.len();
        assert_eq!(frame(msg.as_bytes(), &opts).unwrap(), Frame::Message(n));
        for cut in [1, 10, n - 6, n - 1] {
            assert_eq!(
                frame(&msg.as_bytes()[..cut], &opts).unwrap(),
                Frame::Incomplete
            );
        }
        assert_eq!(frame(b"\r\n\r\nINV", &opts).unwrap(), Frame::Keepalive(4));
        assert_eq!(frame(b"", &opts).unwrap(), Frame::Incomplete);
        let no_cl = with_body(None, "");
        assert_eq!(
            frame(no_cl.as_bytes(), &opts).unwrap_err().kind,
            ErrorKind::MissingContentLength
        );
        let folded_cl = OPTIONS.replace("Content-Length: 0", "l:\r\n 0");
        assert_eq!(
            frame(folded_cl.as_bytes(), &opts).unwrap(),
            Frame::Message(folded_cl.len())
        );
        // a line that never ends is cut off at the limit, not buffered forever
        let small = ParseOptions {
            max_line_length: 100,
            ..ParseOptions::default()
        };
        let long = "X".repeat(200);
        assert_eq!(
            frame(long.as_bytes(), &small).unwrap_err().kind,
            ErrorKind::LineTooLong
        );
        let huge = with_body(Some("999999"), "");
        assert_eq!(
            frame(huge.as_bytes(), &opts).unwrap_err().kind,
            ErrorKind::MessageTooLarge
        );
    }

    #[test]
    fn limits() {
        let opts = ParseOptions {
            max_headers: 5,
            ..ParseOptions::default()
        };
        let e = parse(Bytes::from(OPTIONS), &opts).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooManyHeaders);
        let opts = ParseOptions {
            max_message_size: 100,
            ..ParseOptions::default()
        };
        let e = parse(Bytes::from(OPTIONS), &opts).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MessageTooLarge);
        assert_eq!(e.status_code(), 513);
    }

    #[test]
    fn responses() {
        let r = "SIP/2.0 699 Something Über-new\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
        let m = p(r).unwrap().message;
        assert_eq!(m.encoded_len(), r.len());
        let resp = m.as_response().unwrap();
        assert_eq!(resp.status.as_u16(), 699);
        assert_eq!(resp.reason, "Something Über-new");
        assert_eq!(&m.to_bytes()[..], r.as_bytes());
        let empty_reason = "SIP/2.0 200 \r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            p(empty_reason)
                .unwrap()
                .message
                .as_response()
                .unwrap()
                .reason,
            ""
        );
        assert!(p("SIP/2.0 200\r\n\r\n").is_ok());
        assert_eq!(kind("SIP/2.0 99 Low\r\n\r\n"), ErrorKind::InvalidStatusCode);
        assert_eq!(
            kind("SIP/2.0 1000 High\r\n\r\n"),
            ErrorKind::InvalidStatusCode
        );
        assert_eq!(kind("SIP/2.0 2x0 OK\r\n\r\n"), ErrorKind::InvalidStatusCode);
        assert_eq!(
            kind("SIP/3.0 200 OK\r\n\r\n"),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(kind("SIP/2 200 OK\r\n\r\n"), ErrorKind::MalformedVersion);
        // RFC 3665 §3.9 prints `SIP/2.0  486 Busy Here`: tolerated, but not when strict
        let two = "SIP/2.0  486 Busy Here\r\n\r\n";
        let status = p(two).unwrap().message.as_response().unwrap().status;
        assert_eq!(status.as_u16(), 486);
        let strict = ParseOptions {
            strict: true,
            ..ParseOptions::default()
        };
        let e = parse(Bytes::from(two), &strict).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidStatusCode);
        let req = "OPTIONS  sip:a@b  SIP/2.0\r\n\r\n";
        let uri = p(req)
            .unwrap()
            .message
            .as_request()
            .unwrap()
            .uri
            .to_string();
        assert_eq!(uri, "sip:a@b");
        let e = parse(Bytes::from(req), &strict).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedStartLine);
        // found by fuzzing: a quoted string across a folded line; the joined
        // value has the control outside quotes, so it is refused
        let folded = "OPTIONS sip:b@h SIP/2.0\r\nX: a\"\r\n \"\\\u{1}\r\n\r\n";
        assert_eq!(kind(folded), ErrorKind::ControlCharacter);
        let folded_ok = "OPTIONS sip:b@h SIP/2.0\r\nX: \"a\r\n \\\u{1}\"\r\n\r\n";
        let m = p(folded_ok).unwrap().message;
        assert_eq!(
            parse(m.to_bytes(), &ParseOptions::default())
                .unwrap()
                .message,
            m
        );
        // controls are allowed only as quoted-pairs (RFC 3261 §25.1)
        let ok = "OPTIONS sip:a@b SIP/2.0\r\nTo: \"a\\\u{0}b\\\u{7f}\" <sip:a@b>\r\n\r\n";
        assert!(p(ok).is_ok());
        let bad = "OPTIONS sip:a@b SIP/2.0\r\nTo: \"a\u{0}b\" <sip:a@b>\r\n\r\n";
        assert_eq!(kind(bad), ErrorKind::ControlCharacter);
        let bad = "OPTIONS sip:a@b SIP/2.0\r\nTo: a\\\u{0}b <sip:a@b>\r\n\r\n";
        assert_eq!(kind(bad), ErrorKind::ControlCharacter);
    }

    #[test]
    fn malformed_with_positions() {
        let bad = OPTIONS.replace("Max-Forwards: 70", "Max-Forwards 70");
        let e = p(&bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedHeaderLine);
        assert_eq!(e.line_col(bad.as_bytes()), (3, 1));
        let e = p(&OPTIONS.replace("CSeq: 63104", "CSeq: 63\r104")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ControlCharacter);
        assert_eq!(e.line_col(OPTIONS.as_bytes()), (7, 9));
        let e = p(&OPTIONS.replace("CSeq: 63104", "CSeq: 63\u{0}104")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ControlCharacter);
        assert_eq!(e.line_col(OPTIONS.as_bytes()), (7, 9));
        assert_eq!(kind(" Via: x\r\n\r\n"), ErrorKind::InvalidMethod);
        assert_eq!(
            kind(&OPTIONS.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\n\u{1}")),
            ErrorKind::ControlCharacter
        );
        assert_eq!(
            kind("OPTIONS sip:a@b\r\n\r\n"),
            ErrorKind::MalformedStartLine
        );
        assert_eq!(
            kind("OPTIONS  SIP/2.0\r\n\r\n"),
            ErrorKind::MalformedStartLine
        );
        assert_eq!(
            kind("OPT IONS sip:a@b SIP/2.0\r\n\r\n"),
            ErrorKind::MalformedStartLine
        );
        assert_eq!(
            kind("OPTIONS nocolon SIP/2.0\r\n\r\n"),
            ErrorKind::InvalidRequestUri
        );
        assert_eq!(kind("OPTIONS sip:a@b SIP/2.0\r\n"), ErrorKind::Incomplete);
        assert_eq!(kind("\r\n\r\n"), ErrorKind::Empty);
        assert_eq!(
            kind("OPTIONS sip:a@b SIP/2.0\r\n: x\r\n\r\n"),
            ErrorKind::MalformedHeaderLine
        );
        assert_eq!(
            kind("OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n"),
            ErrorKind::MalformedHeaderLine
        );
        let mut latin1 = OPTIONS.as_bytes().to_vec();
        latin1[60] = 0xe9;
        let e = parse(Bytes::from(latin1), &ParseOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidUtf8);
        assert_eq!(e.offset, 60);
    }

    #[test]
    fn strict_and_validate() {
        let strict = ParseOptions {
            strict: true,
            ..ParseOptions::default()
        };
        let no_mf = OPTIONS.replace("Max-Forwards: 70\r\n", "");
        assert!(p(&no_mf).is_ok());
        let e = parse(Bytes::from(no_mf.clone()), &strict).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingHeader(StdHeader::MaxForwards));
        assert!(p(&no_mf).unwrap().message.validate(false).is_ok());

        let bad_accept = OPTIONS.replace("Accept: application/sdp", "Accept: garbage");
        assert!(p(&bad_accept).unwrap().message.validate(false).is_ok());
        let e = parse(Bytes::from(bad_accept.clone()), &strict).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidHeader(StdHeader::Accept));
        assert_eq!(e.line_col(bad_accept.as_bytes()).0, 9);
        assert_eq!(e.reason_phrase(), "Bad Request (malformed Accept header)");

        let mismatch = OPTIONS.replace("63104 OPTIONS", "63104 INVITE");
        assert_eq!(
            p(&mismatch)
                .unwrap()
                .message
                .validate(false)
                .unwrap_err()
                .kind,
            ErrorKind::CseqMethodMismatch
        );
        let no_via = OPTIONS.replace(
            "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877\r\n",
            "",
        );
        assert_eq!(
            p(&no_via)
                .unwrap()
                .message
                .validate(false)
                .unwrap_err()
                .kind,
            ErrorKind::MissingHeader(StdHeader::Via)
        );
        let two_call_ids = OPTIONS.replace("Call-ID: a84b4c76e66710", "Call-ID: a\r\ni: b");
        assert_eq!(
            p(&two_call_ids)
                .unwrap()
                .message
                .validate(false)
                .unwrap_err()
                .kind,
            ErrorKind::DuplicateHeader(StdHeader::CallId)
        );
        let bad_via = OPTIONS.replace("SIP/2.0/UDP pc33", "SIP/2.0/UDP pc33 junk");
        assert_eq!(
            p(&bad_via)
                .unwrap()
                .message
                .validate(false)
                .unwrap_err()
                .kind,
            ErrorKind::InvalidHeader(StdHeader::Via)
        );
    }

    #[test]
    fn validate_parsed_returns_the_top_via_and_to_and_checks_the_others() {
        let two_rows = "OPTIONS sip:b@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP a.example.com;rport;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK0\r\n\
Via: SIP/2.0/UDP c.example.com;branch=z9hG4bKc\r\n\
From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let m = p(two_rows).unwrap().message;
        for strict in [false, true] {
            let v = m.validate_parsed(strict).unwrap();
            assert_eq!(v.top_via, m.top_via().unwrap());
            assert_eq!(v.to, m.to_header().unwrap());
        }
        let kind = |text: String| {
            p(&text)
                .unwrap()
                .message
                .validate_parsed(false)
                .unwrap_err()
                .kind
        };
        let bad = ErrorKind::InvalidHeader(StdHeader::Via);
        // the top value, another value of its row, a later row
        assert_eq!(kind(two_rows.replace("a.example.com;", "a example;")), bad);
        assert_eq!(
            kind(two_rows.replace("SIP/2.0/TCP b", "SIP/2.0/TCP b junk")),
            bad
        );
        assert_eq!(kind(two_rows.replace("c.example.com;", "c junk;")), bad);
        // To: malformed, or twice
        let to = "To: <sip:b@example.com>\r\n";
        assert_eq!(
            kind(two_rows.replace(to, "To: <sip:b@exa mple.com>\r\n")),
            ErrorKind::InvalidHeader(StdHeader::To)
        );
        assert_eq!(
            kind(two_rows.replace(to, &format!("{to}t: <sip:c@example.com>\r\n"))),
            ErrorKind::DuplicateHeader(StdHeader::To)
        );
        assert_eq!(
            kind(
                two_rows
                    .replace("v: ", "X-Via: ")
                    .replace("Via: ", "X-Via: ")
            ),
            ErrorKind::MissingHeader(StdHeader::Via)
        );
    }

    #[test]
    fn compact_forms_and_typed_access() {
        let compact = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK0\r\n\
V: SIP/2.0/UDP c.example.com;branch=z9hG4bKc\r\n\
max-forwards: 70\r\n\
t: Bob <sip:bob@biloxi.com>\r\n\
f: \"Alice\" <sip:alice@atlanta.com>;tag=88\r\n\
i: abc@host\r\n\
CSEQ: 1 INVITE\r\n\
m: <sip:alice@1.2.3.4>;expires=30, <sip:alice@5.6.7.8>;q=0.1\r\n\
c: application/sdp\r\n\
k: 100rel, timer\r\n\
X-Custom: keep me\r\n\
l: 5\r\n\r\nv=0\r\n";
        let m = p(compact).unwrap().message;
        m.validate(true).unwrap();
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[1].port, Some(5070));
        assert_eq!(m.branch(), Some("z9hG4bK1"));
        assert_eq!(m.top_via().unwrap().host.to_string(), "a.example.com");
        assert_eq!(m.from_tag(), Some("88"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.call_id(), Some("abc@host"));
        assert_eq!(m.cseq().unwrap().seq, 1);
        assert_eq!(m.contacts().unwrap().len(), 2);
        assert!(m.content_type().unwrap().unwrap().is("application", "sdp"));
        assert_eq!(m.tokens(StdHeader::Supported), ["100rel", "timer"]);
        assert_eq!(m.headers().get("x-custom").unwrap(), "keep me");
        assert_eq!(&m.body()[..], b"v=0\r\n");
        assert_eq!(m.method(), Some(Method::Invite));
        // compact names survive serialization untouched
        assert_eq!(&m.to_bytes()[..], compact.as_bytes());
    }

    #[test]
    fn proxy_edits_leave_other_rows_alone() {
        let mut m = p(OPTIONS).unwrap().message;
        m.headers_mut().push_front(
            StdHeader::Via,
            "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1",
        );
        m.headers_mut().set(StdHeader::MaxForwards, "69");
        let out = m.to_bytes();
        let expect = OPTIONS
            .replace(
                "Via: SIP/2.0/UDP pc33",
                "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\nVia: SIP/2.0/UDP pc33",
            )
            .replace("Max-Forwards: 70", "Max-Forwards: 69");
        assert_eq!(&out[..], expect.as_bytes());
        let mut back = p(std::str::from_utf8(&out).unwrap()).unwrap().message;
        back.headers_mut().pop_first_value(StdHeader::Via);
        back.headers_mut().set(StdHeader::MaxForwards, "70");
        assert_eq!(&back.to_bytes()[..], OPTIONS.as_bytes());
    }
}
