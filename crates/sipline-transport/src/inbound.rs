//! What happens to received bytes: parse, stamp the top Via of requests,
//! pass up, or answer a malformed request with 400 (RFC 3261 §18.2.1, §21.4.1).

use crate::counters::Atomic;
use crate::{ConnectionId, Incoming, Inner};
use bytes::Bytes;
use sipline_message::builder::response_to;
use sipline_message::parse::parse;
use sipline_message::ParseError;
use sipline_message::{Message, Method, StatusCode, Transport, Validated};
use std::net::SocketAddr;

impl Inner {
    /// Handles one received message (a datagram, a framed stream message or a
    /// WebSocket message). Returns the error response to send back to the
    /// source, if the message was a malformed request that can be answered.
    pub(crate) async fn receive(
        &self,
        raw: Bytes,
        transport: Transport,
        source: SocketAddr,
        local: SocketAddr,
        connection: Option<ConnectionId>,
    ) -> Option<Bytes> {
        let counters = self.counters.of(transport);
        let opts = self.parse_options(transport);
        let parsed = parse(raw.clone(), &opts).and_then(|p| {
            let v = p.message.validate_parsed(false)?;
            Ok((p.message, v))
        });
        let (mut message, Validated { top_via: via, to }) = match parsed {
            Ok(m) => m,
            Err(e) => {
                Atomic::add(&counters.parse_errors, 1);
                return error_reply_from_raw(self, &raw, &e);
            }
        };
        let mut top_via = None;
        if message.is_request() {
            // RFC 3261 §18.2.1 and RFC 3581 §4.
            top_via = Some(crate::via::stamp_received(&mut message, source, via).0);
        }
        Atomic::add(&counters.messages_in, 1);
        self.incoming
            .send(Incoming {
                message,
                top_via,
                to,
                raw,
                transport,
                source,
                local,
                connection,
            })
            .await;
        None
    }
}

/// The response to a request that failed with `e`, if the request's Via,
/// From, To, Call-ID and CSeq can be read and it is not an ACK (which is
/// never answered, RFC 3261 §17.1.1.1). The status is `e.status_code()`
/// (400, or 505/513) with `e.reason_phrase()`.
fn error_reply(inner: &Inner, msg: &Message, e: &ParseError) -> Option<Bytes> {
    let req = msg.as_request()?;
    if req.method == Method::Ack
        || msg.top_via().is_err()
        || msg.from_header().is_err()
        || msg.to_header().is_err()
        || msg.call_id().is_none()
        || msg.cseq().is_err()
    {
        return None;
    }
    let status = StatusCode::new(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    let tag = format!("sl{:x}", inner.now_ms() ^ 0x5a5a_5a5a);
    let mut resp = response_to(req, status, Some(&tag));
    resp.reason = e.reason_phrase().into();
    Some(Message::Response(resp).to_bytes())
}

/// The rows [`error_reply`] needs (RFC 3261 §8.2.6.2: a response copies
/// Via, From, To, Call-ID and CSeq), full and compact names.
const COPIED_ROWS: [&[u8]; 9] = [
    b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq",
];

/// Like [`error_reply`], for bytes the parser refused: the head is read again
/// with only its request line and the rows a response copies, up to the
/// empty line or the last whole line, so that damage anywhere else (another
/// header, Content-Length, the body) still gets its answer.
pub(crate) fn error_reply_from_raw(inner: &Inner, raw: &[u8], e: &ParseError) -> Option<Bytes> {
    let start = raw.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    if !raw[start..].first().is_some_and(u8::is_ascii_uppercase) {
        return None; // a response or garbage: never answered
    }
    let head_end = find(&raw[start..], b"\r\n\r\n")
        .or_else(|| find(&raw[start..], b"\n\n"))
        .map(|i| start + i)
        .or_else(|| raw.iter().rposition(|b| *b == b'\n').map(|i| i + 1))?;
    let mut head = Vec::with_capacity(head_end - start + 24);
    let mut keep = true; // the request line
    for (i, line) in raw[start..head_end].split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A line starting with white space continues the row before it.
        if i > 0 && !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let name = line.split(|b| *b == b':').next().unwrap_or(&[]);
            let name = name.trim_ascii();
            keep = COPIED_ROWS.iter().any(|n| name.eq_ignore_ascii_case(n));
        }
        if keep && !line.is_empty() {
            head.extend_from_slice(line);
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let msg = Message::parse(head).ok()?;
    error_reply(inner, &msg, e)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
