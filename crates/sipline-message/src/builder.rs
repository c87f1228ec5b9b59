//! Building requests, and responses to requests (RFC 3261 §8.1.1, §8.2.6).

use crate::header::{CSeq, HeaderName, Headers, NameAddr, StdHeader, Via};
use crate::message::{Request, Response, Version};
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::Uri;
use bytes::Bytes;
use bytestring::ByteString;

/// Builds a request. Headers come out in the order they were added; `build`
/// adds Max-Forwards: 70 if none was given (RFC 3261 §8.1.1.6) and sets
/// Content-Length to the body's size.
///
/// ```
/// use sipline_message::builder::RequestBuilder;
/// use sipline_message::{Method, Uri};
///
/// let req = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@biloxi.com").unwrap())
///     .header("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877")
///     .header("To", "<sip:bob@biloxi.com>")
///     .header("From", "<sip:alice@atlanta.com>;tag=1928301774")
///     .header("Call-ID", "a84b4c76e66710")
///     .cseq(63104)
///     .build();
/// assert!(sipline_message::Message::from(req).validate(true).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: Uri,
    headers: Headers,
    body: Bytes,
}

impl RequestBuilder {
    /// A request with this method and Request-URI.
    pub fn new(method: Method, uri: Uri) -> Self {
        Self {
            method,
            uri,
            headers: Headers::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// Appends a header row.
    pub fn header(mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Appends a Via.
    pub fn via(self, via: &Via) -> Self {
        self.header(StdHeader::Via, via.to_string())
    }

    /// Sets From.
    pub fn from(self, from: &NameAddr) -> Self {
        self.header(StdHeader::From, from.to_string())
    }

    /// Sets To.
    pub fn to(self, to: &NameAddr) -> Self {
        self.header(StdHeader::To, to.to_string())
    }

    /// Sets Call-ID.
    pub fn call_id(self, call_id: &str) -> Self {
        self.header(StdHeader::CallId, call_id.to_string())
    }

    /// Sets CSeq with the request's method.
    pub fn cseq(self, seq: u32) -> Self {
        let v = CSeq::new(seq, self.method.clone()).to_string();
        self.header(StdHeader::CSeq, v)
    }

    /// Sets Max-Forwards.
    pub fn max_forwards(self, n: u8) -> Self {
        self.header(StdHeader::MaxForwards, n.to_string())
    }

    /// Appends a Contact.
    pub fn contact(self, contact: &NameAddr) -> Self {
        self.header(StdHeader::Contact, contact.to_string())
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers
            .push(StdHeader::ContentType, content_type.to_string());
        self.body = body.into();
        self
    }

    /// The request.
    pub fn build(mut self) -> Request {
        if !self.headers.contains(StdHeader::MaxForwards) {
            self.headers.push(StdHeader::MaxForwards, "70");
        }
        self.headers
            .set(StdHeader::ContentLength, self.body.len().to_string());
        Request {
            method: self.method,
            uri: self.uri,
            version: Version::SIP_2_0,
            headers: self.headers,
            body: self.body,
        }
    }
}

/// A response to `req` per RFC 3261 §8.2.6: Via rows (all, in order), From,
/// Call-ID and CSeq copied; To copied, with `to_tag` added when the request's
/// To had no tag and the status is not 100 (§8.2.6.2); Timestamp copied into
/// a 100 (§8.2.6.1); Content-Length: 0. The reason phrase is the canonical one.
pub fn response_to(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    // The six rows copied or written here, and room for the few a UAS or
    // registrar adds (Contact, Date, Server ...) without growing.
    let mut headers = Headers::with_capacity(12);
    for row in req.headers.iter() {
        let Some(h) = row.name.std() else { continue };
        match h {
            StdHeader::Via | StdHeader::From | StdHeader::CallId | StdHeader::CSeq => headers
                .push_row(crate::header::Header::new(
                    row.name.clone(),
                    row.value.clone(),
                )),
            StdHeader::To => {
                let needs_tag =
                    status != StatusCode::TRYING && crate::header::find_tag(&row.value).is_none();
                let value = match to_tag {
                    Some(tag) if needs_tag => ByteString::from(format!("{};tag={tag}", row.value)),
                    _ => row.value.clone(),
                };
                headers.push(row.name.clone(), value);
            }
            StdHeader::Timestamp if status == StatusCode::TRYING => {
                headers.push(row.name.clone(), row.value.clone())
            }
            _ => {}
        }
    }
    headers.push(StdHeader::ContentLength, "0");
    Response {
        version: Version::SIP_2_0,
        status,
        reason: ByteString::from_static(status.canonical_reason()),
        headers,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n\
Max-Forwards: 69\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn response_copies_per_8_2_6() {
        let msg = Message::parse(INVITE).unwrap();
        let req = msg.as_request().unwrap();
        let ringing = Message::from(response_to(req, StatusCode::RINGING, Some("a6c85cf")));
        assert_eq!(ringing.vias().unwrap().len(), 2);
        assert_eq!(ringing.to_tag(), Some("a6c85cf"));
        assert_eq!(ringing.from_tag(), Some("1928301774"));
        assert_eq!(ringing.call_id(), Some("a84b4c76e66710"));
        assert_eq!(ringing.cseq().unwrap(), CSeq::new(314159, Method::Invite));
        assert!(!ringing.headers().contains(StdHeader::Timestamp));
        assert!(!ringing.headers().contains(StdHeader::Contact));
        ringing.validate(true).unwrap();
        let wire = ringing.to_bytes();
        assert!(wire.starts_with(b"SIP/2.0 180 Ringing\r\n"));
        assert_eq!(Message::parse(wire).unwrap(), ringing);

        let trying = Message::from(response_to(req, StatusCode::TRYING, Some("x")));
        assert_eq!(trying.to_tag(), None, "no tag on 100 (§8.2.6.2)");
        assert_eq!(trying.headers().get(StdHeader::Timestamp).unwrap(), "54");
    }

    #[test]
    fn existing_to_tag_kept() {
        let with_tag = String::from_utf8(INVITE.to_vec()).unwrap().replace(
            "To: Bob <sip:bob@biloxi.com>",
            "To: Bob <sip:bob@biloxi.com>;tag=old",
        );
        let msg = Message::parse(Bytes::from(with_tag)).unwrap();
        let ok = Message::from(response_to(
            msg.as_request().unwrap(),
            StatusCode::OK,
            Some("new"),
        ));
        assert_eq!(ok.to_tag(), Some("old"));
    }

    #[test]
    fn build_sets_max_forwards_and_length() {
        let req = RequestBuilder::new(Method::Message, Uri::parse("sip:bob@b.com").unwrap())
            .header("Via", "SIP/2.0/TCP a.com;branch=z9hG4bK1")
            .header("From", "<sip:a@a.com>;tag=1")
            .header("To", "<sip:bob@b.com>")
            .call_id("c1")
            .cseq(1)
            .body("text/plain", &b"hello"[..])
            .build();
        let msg = Message::from(req);
        msg.validate(true).unwrap();
        assert_eq!(msg.max_forwards().unwrap(), Some(70));
        assert_eq!(msg.content_length().unwrap(), Some(5));
        assert_eq!(Message::parse(msg.to_bytes()).unwrap(), msg);
    }
}
