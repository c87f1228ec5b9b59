//! Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2, §8.2.2.2).

use sipline_message::header::MAGIC_COOKIE;
use sipline_message::{Message, Method};
use std::fmt::Write as _;

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
    /// counts as INVITE).
    Rfc3261 {
        branch: String,
        sent_by: String,
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
                let mut sent_by = host.to_ascii_lowercase();
                if let Some(p) = port {
                    let _ = write!(sent_by, ":{p}");
                }
                Some(Self::Rfc3261 {
                    branch: b.to_string(),
                    sent_by,
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
    from_tag: String,
    call_id: String,
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
        Some(Self {
            from_tag: msg.from_tag()?.to_string(),
            call_id: msg.call_id()?.to_string(),
            cseq: msg.cseq().ok()?.seq,
            method: req.method.clone(),
        })
    }
}
