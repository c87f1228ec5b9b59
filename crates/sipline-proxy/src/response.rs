//! Choosing the best final response (RFC 3261 §16.7 step 6) and
//! aggregating challenges (§16.7 step 7).

use sipline_message::header::StdHeader;
use sipline_message::{ByteString, Message, StatusCode};

/// The status of a response (0 for a request).
pub(crate) fn status(msg: &Message) -> u16 {
    msg.as_response().map_or(0, |r| r.status.as_u16())
}

/// How much a 4xx tells the caller, lower is better. §16.7 step 6: "The
/// proxy SHOULD give preference to responses that provide information
/// affecting resubmission of this request, such as 401, 407, 415, 420, and
/// 484". Then this implementation prefers what says most about the callee:
/// 486 (the user exists and is busy), other 4xx, 480, 404, and last the
/// responses the proxy itself caused or made up: 408 and 487.
fn rank_4xx(code: u16) -> u8 {
    match code {
        401 | 407 => 0,
        415 | 420 | 484 => 1,
        486 => 2,
        480 => 4,
        404 => 5,
        408 => 6,
        487 => 7,
        _ => 3,
    }
}

/// The index of the best response among `responses` (in the order they were
/// received), per §16.7 step 6: a 6xx if any (the first); otherwise the
/// lowest class; within 4xx by [`rank_4xx`]; within 5xx anything but 503
/// first; otherwise the first received.
pub(crate) fn choose_best(responses: &[&Message]) -> Option<usize> {
    let key = |code: u16| -> (u8, u8) {
        let class = (code / 100) as u8;
        let class_key = if class == 6 { 0 } else { class };
        let within = match class {
            4 => rank_4xx(code),
            5 => u8::from(code == 503),
            _ => 0,
        };
        (class_key, within)
    };
    responses
        .iter()
        .enumerate()
        .min_by_key(|(i, m)| (key(status(m)), *i))
        .map(|(i, _)| i)
}

/// §16.7 step 7: if `chosen` is a 401 or 407, adds every WWW-Authenticate
/// and Proxy-Authenticate value of the other 401 and 407 responses, without
/// modification (values it already has are not repeated).
pub(crate) fn aggregate_challenges(chosen: &mut Message, others: &[&Message]) {
    if !matches!(status(chosen), 401 | 407) {
        return;
    }
    for other in others {
        if !matches!(status(other), 401 | 407) {
            continue;
        }
        for row in other.headers().iter() {
            let is_challenge = row.name.is(StdHeader::WwwAuthenticate)
                || row.name.is(StdHeader::ProxyAuthenticate);
            if !is_challenge {
                continue;
            }
            let dup = chosen
                .headers()
                .iter()
                .any(|r| r.name == row.name && r.value == row.value);
            if !dup {
                chosen.headers_mut().push_row(row.clone());
            }
        }
    }
}

/// §16.7 step 6: "If the only response that was received is a 503, the
/// proxy SHOULD generate a 500 response": a chosen 503 goes upstream as a
/// 500 (its Retry-After, which speaks for the downstream server, removed).
pub(crate) fn no_503_upstream(msg: &mut Message) {
    if let Message::Response(r) = msg {
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            r.status = StatusCode::SERVER_INTERNAL_ERROR;
            r.reason = ByteString::from_static("Server Internal Error");
            r.headers.remove_all(StdHeader::RetryAfter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipline_message::builder::response_to;
    use sipline_message::Message;

    fn resp(code: u16) -> Message {
        let req = Message::parse(
            &b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        Message::from(response_to(
            req.as_request().unwrap(),
            StatusCode::new(code).unwrap(),
            Some("t"),
        ))
    }

    fn best(codes: &[u16]) -> u16 {
        let msgs: Vec<Message> = codes.iter().map(|&c| resp(c)).collect();
        let refs: Vec<&Message> = msgs.iter().collect();
        status(refs[choose_best(&refs).unwrap()])
    }

    /// §16.7 step 6 choice table.
    #[test]
    fn best_response_table() {
        assert_eq!(best(&[404, 486]), 486);
        assert_eq!(best(&[486, 404]), 486);
        assert_eq!(best(&[404, 603]), 603);
        assert_eq!(best(&[302, 404]), 302);
        assert_eq!(best(&[500, 404]), 404);
        assert_eq!(best(&[503, 500]), 500);
        assert_eq!(best(&[503]), 503);
        // the RFC's example: 503, 407, 501, 404 → 407
        assert_eq!(best(&[503, 407, 501, 404]), 407);
        assert_eq!(best(&[487, 480]), 480);
        assert_eq!(best(&[408, 487]), 408);
        assert_eq!(best(&[403, 404]), 403);
        assert_eq!(best(&[484, 486]), 484);
        assert_eq!(best(&[600, 603]), 600);
    }

    #[test]
    fn five_oh_three_becomes_500() {
        let mut m = resp(503);
        m.headers_mut().push(StdHeader::RetryAfter, "10");
        no_503_upstream(&mut m);
        assert_eq!(status(&m), 500);
        assert!(!m.headers().contains(StdHeader::RetryAfter));
    }
}
