//! Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2, §8.2.2.2).

use sipline_message::header::MAGIC_COOKIE;
use sipline_message::{Message, Method};

/// The method a transaction is keyed by: an ACK or CANCEL matches the INVITE
/// it belongs to through `for_server`.
fn server_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

/// Client transaction key (§17.1.3): the top Via branch of the request and
/// the CSeq method (so a CANCEL's response does not match the INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    /// The key of a request we send, or of a response we receive.
    pub(crate) fn of(msg: &Message) -> Option<Self> {
        let branch = msg.branch()?;
        let method = match msg {
            Message::Request(r) => r.method.clone(),
            Message::Response(_) => msg.cseq().ok()?.method,
        };
        Some(Self {
            branch: branch.to_string(),
            method,
        })
    }
}

/// Server transaction key (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// The branch has the magic cookie: branch, sent-by and method (ACK
    /// counts as INVITE). Branch and sent-by (lower case) are one string,
    /// split after `branch_len` bytes: one allocation per key.
    Rfc3261 {
        branch_sent_by: String,
        branch_len: usize,
        method: Method,
    },
    /// An RFC 2543 request (no magic cookie): Request-URI, From tag,
    /// Call-ID, CSeq number, top Via and method (ACK counts as INVITE).
    /// The To tag is checked separately ([`LegacyTo`]).
    Rfc2543 {
        request_uri: String,
        from_tag: String,
        call_id: String,
        cseq: u32,
        via: String,
        method: Method,
    },
}

impl ServerKey {
    /// The key of a received request; `as_method` overrides its method (a
    /// CANCEL looks up the INVITE it cancels, §9.2).
    pub(crate) fn of(msg: &Message, as_method: Option<Method>) -> Option<Self> {
        let Message::Request(req) = msg else {
            return None;
        };
        let method = server_method(as_method.as_ref().unwrap_or(&req.method));
        let branch = msg.branch();
        match branch {
            Some(b) if b.starts_with(MAGIC_COOKIE) => {
                let (host, port) = msg.top_via_sent_by()?;
                let mut branch_sent_by = String::with_capacity(b.len() + host.len() + 8);
                branch_sent_by.push_str(b);
                branch_sent_by.push_str(host);
                branch_sent_by[b.len()..].make_ascii_lowercase();
                if let Some(p) = port {
                    branch_sent_by.push(':');
                    branch_sent_by.push_str(sipline_message::text::port(p).as_str());
                }
                Some(Self::Rfc3261 {
                    branch_sent_by,
                    branch_len: b.len(),
                    method,
                })
            }
            _ => {
                let cseq = msg.cseq().ok()?;
                let via = msg
                    .headers()
                    .first_value(sipline_message::header::StdHeader::Via)?;
                Some(Self::Rfc2543 {
                    request_uri: req.uri.to_string(),
                    from_tag: msg.from_tag().unwrap_or("").to_string(),
                    call_id: msg.call_id()?.to_string(),
                    cseq: cseq.seq,
                    via: via.to_string(),
                    method,
                })
            }
        }
    }

    pub(crate) fn is_rfc2543(&self) -> bool {
        matches!(self, Self::Rfc2543 { .. })
    }
}

/// Merged-request detection (§8.2.2.2): From tag, Call-ID and CSeq of a
/// request without a To tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    /// The From tag and the Call-ID in one string, split after
    /// `from_tag_len` bytes: one allocation per key.
    from_tag_call_id: String,
    from_tag_len: usize,
    cseq: u32,
    method: Method,
}

impl MergeKey {
    pub(crate) fn of(msg: &Message) -> Option<Self> {
        let Message::Request(req) = msg else {
            return None;
        };
        if msg.to_tag().is_some() || req.method == Method::Ack {
            return None;
        }
        let (from_tag, call_id) = (msg.from_tag()?, msg.call_id()?);
        let mut from_tag_call_id = String::with_capacity(from_tag.len() + call_id.len());
        from_tag_call_id.push_str(from_tag);
        from_tag_call_id.push_str(call_id);
        Some(Self {
            from_tag_call_id,
            from_tag_len: from_tag.len(),
            cseq: msg.cseq().ok()?.seq,
            method: req.method.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipline_message::Bytes;

    fn req(via: &str, from_tag: &str, call_id: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "MESSAGE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\n\
             From: <sip:a@example.com>;tag={from_tag}\r\nTo: <sip:b@example.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    #[test]
    fn joined_fields_keep_their_boundary() {
        // the same bytes split differently are different keys
        let a = req("h.example;branch=z9hG4bKab", "12", "34");
        let b = req("example;branch=z9hG4bKabh.", "1", "234");
        assert_ne!(ServerKey::of(&a, None), ServerKey::of(&b, None));
        assert_ne!(MergeKey::of(&a), MergeKey::of(&b));
        // sent-by compares without case, the branch with it
        let upper = req("H.Example;branch=z9hG4bKab", "12", "34");
        assert_eq!(ServerKey::of(&a, None), ServerKey::of(&upper, None));
        let other_branch = req("h.example;branch=z9hG4bKAB", "12", "34");
        assert_ne!(ServerKey::of(&a, None), ServerKey::of(&other_branch, None));
        assert_eq!(MergeKey::of(&a), MergeKey::of(&other_branch));
    }
}
