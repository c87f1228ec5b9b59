//! Messages the transaction layer (and its users) derive from a request:
//! the ACK for a non-2xx final response (RFC 3261 §17.1.1.3), CANCEL (§9.1).

use sipline_message::header::{CSeq, Header, StdHeader};
use sipline_message::{Bytes, Headers, Message, Method, Request, Version};

/// The ACK a client INVITE transaction sends for a 300-699 response
/// (RFC 3261 §17.1.1.3): the request's Request-URI, Call-ID, From and CSeq
/// number; the response's To (with its tag); only the request's top Via;
/// the request's Route rows; CSeq method ACK.
pub fn ack_for_non_2xx(invite: &Request, response: &Message) -> Request {
    let mut headers = Headers::with_capacity(8);
    if let Some(via) = invite.headers.get_row(StdHeader::Via) {
        let top = invite
            .headers
            .first_value(StdHeader::Via)
            .unwrap_or_else(|| via.value.clone());
        headers.push(via.name.clone(), top);
    }
    for row in invite.headers.iter() {
        match row.name.std() {
            Some(StdHeader::From | StdHeader::CallId | StdHeader::Route) => {
                headers.push_row(Header::new(row.name.clone(), row.value.clone()));
            }
            Some(StdHeader::CSeq) => {
                let seq = CSeq::parse(&row.value).map_or(0, |c| c.seq);
                headers.push(row.name.clone(), CSeq::new(seq, Method::Ack).to_string());
            }
            _ => {}
        }
    }
    if let Some(to) = response.headers().get_row(StdHeader::To) {
        headers.push_row(Header::new(to.name.clone(), to.value.clone()));
    }
    headers.push(StdHeader::MaxForwards, "70");
    headers.push(StdHeader::ContentLength, "0");
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: Version::SIP_2_0,
        headers,
        body: Bytes::new(),
    }
}

/// The CANCEL for a request (RFC 3261 §9.1): same Request-URI, Call-ID,
/// To, From and CSeq number, CSeq method CANCEL, the request's top Via
/// only (same branch, so it reaches the same servers), its Route rows.
pub fn cancel_for(request: &Request) -> Request {
    let mut headers = Headers::with_capacity(8);
    if let Some(via) = request.headers.get_row(StdHeader::Via) {
        let top = request
            .headers
            .first_value(StdHeader::Via)
            .unwrap_or_else(|| via.value.clone());
        headers.push(via.name.clone(), top);
    }
    for row in request.headers.iter() {
        match row.name.std() {
            Some(StdHeader::From | StdHeader::To | StdHeader::CallId | StdHeader::Route) => {
                headers.push_row(Header::new(row.name.clone(), row.value.clone()));
            }
            Some(StdHeader::CSeq) => {
                let seq = CSeq::parse(&row.value).map_or(0, |c| c.seq);
                headers.push(row.name.clone(), CSeq::new(seq, Method::Cancel).to_string());
            }
            _ => {}
        }
    }
    headers.push(StdHeader::MaxForwards, "70");
    headers.push(StdHeader::ContentLength, "0");
    Request {
        method: Method::Cancel,
        uri: request.uri.clone(),
        version: Version::SIP_2_0,
        headers,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8, SIP/2.0/UDP x;branch=z9hG4bKx\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn ack_per_17_1_1_3() {
        let inv = Message::parse(INVITE).unwrap();
        let req = inv.as_request().unwrap();
        let busy = Message::from(sipline_message::builder::response_to(
            req,
            sipline_message::StatusCode::BUSY_HERE,
            Some("a6c85cf"),
        ));
        let ack = Message::from(ack_for_non_2xx(req, &busy));
        ack.validate(true).unwrap();
        assert_eq!(ack.vias().unwrap().len(), 1);
        assert_eq!(ack.branch(), Some("z9hG4bKnashds8"));
        assert_eq!(ack.to_tag(), Some("a6c85cf"));
        assert_eq!(ack.cseq().unwrap(), CSeq::new(314159, Method::Ack));
        assert_eq!(ack.routes().unwrap().len(), 1);
        assert!(ack.body().is_empty());
        assert!(!ack.headers().contains(StdHeader::Contact));
    }

    #[test]
    fn cancel_per_9_1() {
        let inv = Message::parse(INVITE).unwrap();
        let cancel = Message::from(cancel_for(inv.as_request().unwrap()));
        cancel.validate(true).unwrap();
        assert_eq!(cancel.branch(), Some("z9hG4bKnashds8"));
        assert_eq!(cancel.to_tag(), None);
        assert_eq!(cancel.cseq().unwrap(), CSeq::new(314159, Method::Cancel));
        assert_eq!(
            cancel.as_request().unwrap().uri.to_string(),
            "sip:bob@biloxi.com"
        );
    }
}
