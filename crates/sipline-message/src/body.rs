//! Message bodies: multipart MIME (RFC 2046 §5.1, RFC 5621 for SIP), with
//! each part's bytes kept exactly as received (binary parts such as SIP-T
//! ISUP, RFC 3204, come through untouched).

use crate::header::{HeaderName, Headers, MediaType, StdHeader};
use crate::message::Message;
use bytes::Bytes;
use bytestring::ByteString;

/// One body part: its MIME headers and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's headers (Content-Type, Content-Disposition, Content-ID ...).
    pub headers: Headers,
    /// The content, byte for byte.
    pub body: Bytes,
}

impl Part {
    /// The part's Content-Type, if present and well formed.
    pub fn content_type(&self) -> Option<MediaType> {
        MediaType::parse(self.headers.get(StdHeader::ContentType)?).ok()
    }
}

/// A multipart body (multipart/mixed, related, alternative ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The boundary.
    pub boundary: String,
    /// The parts, in order.
    pub parts: Vec<Part>,
}

/// Why a multipart body did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The Content-Type has no boundary parameter, or an invalid one.
    #[error("multipart Content-Type without a valid boundary")]
    NoBoundary,
    /// The first boundary is missing.
    #[error("no opening boundary in multipart body")]
    NoOpeningBoundary,
    /// The closing boundary (`--boundary--`) is missing.
    #[error("no closing boundary in multipart body")]
    NoClosingBoundary,
    /// A part's headers are not well formed.
    #[error("malformed headers in a body part")]
    MalformedPartHeaders,
}

impl Multipart {
    /// The multipart body of a message, if its Content-Type is multipart/*.
    pub fn from_message(msg: &Message) -> Option<Result<Self, MultipartError>> {
        let ct = msg.content_type().ok()??;
        if !ct.mtype.eq_ignore_ascii_case("multipart") {
            return None;
        }
        Some(match ct.param("boundary") {
            Some(b) => Self::parse(msg.body(), &b),
            None => Err(MultipartError::NoBoundary),
        })
    }

    /// Splits `body` at `boundary` (RFC 2046 §5.1.1). The preamble and
    /// epilogue are dropped.
    pub fn parse(body: &Bytes, boundary: &str) -> Result<Self, MultipartError> {
        // boundary := 0*69<bchars> bcharsnospace
        if boundary.is_empty() || boundary.len() > 70 {
            return Err(MultipartError::NoBoundary);
        }
        let delim = format!("--{boundary}");
        let d = delim.as_bytes();
        let bytes = &body[..];
        let finder = memchr::memmem::Finder::new(d);
        // A delimiter starts a line: at offset 0 or after a line end.
        let find_delim = |from: usize| -> Option<usize> {
            let mut at = from;
            while let Some(i) = finder.find(bytes.get(at..)?) {
                let pos = at + i;
                if pos == 0 || bytes[pos - 1] == b'\n' {
                    return Some(pos);
                }
                at = pos + 1;
            }
            None
        };
        let mut pos = find_delim(0).ok_or(MultipartError::NoOpeningBoundary)?;
        let mut parts = Vec::new();
        loop {
            let after = pos + d.len();
            if bytes.get(after..after + 2) == Some(b"--") {
                break; // close-delimiter
            }
            // skip transport padding and the line end after the delimiter
            let line_end = memchr::memchr(b'\n', &bytes[after..])
                .map(|i| after + i + 1)
                .ok_or(MultipartError::NoClosingBoundary)?;
            let next = find_delim(line_end).ok_or(MultipartError::NoClosingBoundary)?;
            // the CRLF before the next delimiter belongs to the delimiter
            let mut end = next;
            if end > line_end && bytes[end - 1] == b'\n' {
                end -= 1;
                if end > line_end && bytes[end - 1] == b'\r' {
                    end -= 1;
                }
            }
            parts.push(parse_part(body.slice(line_end..end))?);
            pos = next;
        }
        Ok(Self {
            boundary: boundary.to_string(),
            parts,
        })
    }

    /// The body bytes: each part after `--boundary`, then `--boundary--`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::new();
        for p in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(self.boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            for h in p.headers.iter() {
                out.extend_from_slice(h.name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&p.body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        Bytes::from(out)
    }
}

/// A part: headers up to an empty line, then content. A part that starts
/// with an empty line has no headers (RFC 2046 §5.1.1).
fn parse_part(part: Bytes) -> Result<Part, MultipartError> {
    let bytes = &part[..];
    let mut headers = Headers::new();
    let mut pos = 0;
    loop {
        let Some(nl) = memchr::memchr(b'\n', &bytes[pos..]) else {
            // no empty line: headers only, no content (tolerated)
            if pos < bytes.len() {
                push_header(&mut headers, &bytes[pos..])?;
            }
            return Ok(Part {
                headers,
                body: Bytes::new(),
            });
        };
        let line = &bytes[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // folded MIME header line
            let last = headers
                .iter_mut()
                .last()
                .ok_or(MultipartError::MalformedPartHeaders)?;
            let more = std::str::from_utf8(line)
                .map_err(|_| MultipartError::MalformedPartHeaders)?
                .trim();
            last.value = ByteString::from(format!("{} {more}", last.value));
            continue;
        }
        push_header(&mut headers, line)?;
    }
    Ok(Part {
        headers,
        body: part.slice(pos..),
    })
}

fn push_header(headers: &mut Headers, line: &[u8]) -> Result<(), MultipartError> {
    let line = std::str::from_utf8(line).map_err(|_| MultipartError::MalformedPartHeaders)?;
    let (name, value) = line
        .split_once(':')
        .ok_or(MultipartError::MalformedPartHeaders)?;
    let name = name.trim();
    if name.is_empty() || !crate::method::is_token(name) {
        return Err(MultipartError::MalformedPartHeaders);
    }
    headers.push(HeaderName::new(name.to_string()), value.trim().to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_and_binary_isup() {
        // RFC 3204 style SIP-T body: SDP plus a binary ISUP IAM.
        let mut body = Vec::new();
        body.extend_from_slice(b"preamble\r\n--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\n--unique-boundary-1\r\nContent-Type: application/ISUP; version=nxv3; base=etsi121\r\nContent-Disposition: signal; handling=optional\r\n\r\n");
        let isup: Vec<u8> = vec![
            0x01, 0x00, 0x49, 0x00, 0x00, 0x03, 0x02, 0x00, 0x07, 0x04, 0x10, 0x00, 0x33, 0x63,
            0x21, 0x43, 0x00, 0x00, 0x03, b'\r', b'\n', 0xff, 0x0d,
        ];
        body.extend_from_slice(&isup);
        body.extend_from_slice(b"\r\n--unique-boundary-1--\r\nepilogue");
        let m = Multipart::parse(&Bytes::from(body), "unique-boundary-1").unwrap();
        assert_eq!(m.parts.len(), 2);
        assert!(m.parts[0].content_type().unwrap().is("application", "sdp"));
        assert_eq!(&m.parts[0].body[..], b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
        assert_eq!(&m.parts[1].body[..], &isup[..]);
        assert_eq!(
            m.parts[1].headers.get("content-disposition").unwrap(),
            "signal; handling=optional"
        );
        let again = Multipart::parse(&m.to_bytes(), "unique-boundary-1").unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn errors() {
        let b = Bytes::from_static(b"--x\r\nContent-Type: a/b\r\n\r\nbody\r\n");
        assert_eq!(
            Multipart::parse(&b, "x"),
            Err(MultipartError::NoClosingBoundary)
        );
        let b = Bytes::from_static(b"nothing here");
        assert_eq!(
            Multipart::parse(&b, "x"),
            Err(MultipartError::NoOpeningBoundary)
        );
        assert_eq!(Multipart::parse(&b, ""), Err(MultipartError::NoBoundary));
        let b = Bytes::from_static(b"--x\r\nbad header line\r\n\r\nbody\r\n--x--");
        assert_eq!(
            Multipart::parse(&b, "x"),
            Err(MultipartError::MalformedPartHeaders)
        );
        // a part without headers
        let b = Bytes::from_static(b"--x\r\n\r\nplain\r\n--x--\r\n");
        let m = Multipart::parse(&b, "x").unwrap();
        assert!(m.parts[0].headers.is_empty());
        assert_eq!(&m.parts[0].body[..], b"plain");
    }
}
