//! Request validation (RFC 3261 §16.3, step 4 as replaced by RFC 5393 §4.2.2).

use crate::branch;
use crate::config::ProxyConfig;
use sipline_message::header::{StdHeader, Via};
use sipline_message::{Message, Method, Request, StatusCode, Uri};

/// Why a request is not forwarded: the response to send as a UAS (§16.3
/// "the element MUST behave as a user agent server [...] and respond with an
/// error code").
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) reason: Option<String>,
    pub(crate) headers: Vec<(StdHeader, String)>,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode) -> Self {
        Self {
            status,
            reason: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn code(code: u16) -> Self {
        Self::new(StatusCode::new(code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR))
    }

    pub(crate) fn reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }

    fn header(mut self, h: StdHeader, v: impl Into<String>) -> Self {
        self.headers.push((h, v.into()));
        self
    }
}

/// The methods listed in Allow when this proxy answers OPTIONS itself.
pub(crate) const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH";

/// The Max-Breadth header field name (RFC 5393 §5.8; not a [`StdHeader`]).
pub(crate) const MAX_BREADTH: &str = "Max-Breadth";

/// Runs the checks of §16.3 on a received request. `Err` carries the
/// response to send (for OPTIONS with Max-Forwards 0 addressed to this
/// element, a 200: step 3).
pub(crate) fn validate(msg: &Message, req: &Request, cfg: &ProxyConfig) -> Result<(), Refusal> {
    // 1. Reasonable syntax: what a server transaction needs (Via, From, To,
    //    Call-ID, CSeq, Max-Forwards, Content-Length) and what forwarding
    //    reads (Route, Max-Breadth). Other header fields are not looked at.
    if !cfg.prevalidated {
        if let Err(e) = msg.validate(false) {
            return Err(Refusal::new(StatusCode::BAD_REQUEST).reason(format!("Bad Request ({e})")));
        }
    }
    if msg.routes().is_err() {
        return Err(Refusal::new(StatusCode::BAD_REQUEST).reason("Bad Request (malformed Route)"));
    }
    if let Some(v) = req.headers.get(MAX_BREADTH) {
        if v.trim().parse::<u32>().is_err() {
            return Err(
                Refusal::new(StatusCode::BAD_REQUEST).reason("Bad Request (malformed Max-Breadth)")
            );
        }
    }
    // 2. URI scheme: sip, sips and tel are understood.
    if !matches!(req.uri, Uri::Sip(_) | Uri::Tel(_)) {
        return Err(Refusal::code(416));
    }
    // 3. Max-Forwards.
    if msg.max_forwards().ok().flatten() == Some(0) {
        if req.method == Method::Options && addressed_to_us(&req.uri, cfg) {
            // "the element MAY act as the final recipient and respond per Section 11"
            return Err(Refusal::new(StatusCode::OK)
                .header(StdHeader::Allow, ALLOW)
                .header(StdHeader::Supported, "path")
                .header(StdHeader::Accept, "application/sdp"));
        }
        return Err(Refusal::code(483));
    }
    // 4. Loop detection (RFC 5393 §4.2.2).
    if looped(req, cfg) {
        return Err(Refusal::code(482));
    }
    // 5. Proxy-Require.
    let unsupported: Vec<String> = msg
        .tokens(StdHeader::ProxyRequire)
        .iter()
        .filter(|t| {
            !cfg.proxy_require_supported
                .iter()
                .any(|s| s.eq_ignore_ascii_case(t))
        })
        .map(|t| t.to_string())
        .collect();
    if !unsupported.is_empty() {
        return Err(Refusal::code(420).header(StdHeader::Unsupported, unsupported.join(", ")));
    }
    // 6. Proxy-Authorization: left to the server, which authenticates
    //    (sipline-auth) before handing the request to the proxy core.
    Ok(())
}

/// An OPTIONS for this element itself: the Request-URI names us, or is a
/// served domain without user part.
fn addressed_to_us(uri: &Uri, cfg: &ProxyConfig) -> bool {
    match uri {
        Uri::Sip(s) => cfg.is_local_uri(s) || (s.user.is_none() && cfg.serves_domain(&s.host)),
        _ => false,
    }
}

/// RFC 5393 §4.2.2: every Via whose sent-by is ours and whose branch has a
/// loop part is compared with the loop part computed on this request; equal
/// means a loop, different a spiral. Vias that do not parse are skipped
/// (§4.2.4: other elements' Vias must not make the check fail).
pub(crate) fn looped(req: &Request, cfg: &ProxyConfig) -> bool {
    let mut mine = req
        .headers
        .values(StdHeader::Via)
        .filter_map(|v| Via::parse(&v).ok())
        .filter(|v| cfg.is_local(&v.host, v.port))
        .filter_map(|v| v.branch().and_then(branch::loop_part))
        .peekable();
    if mine.peek().is_none() {
        return false;
    }
    let here = branch::loop_hash(req);
    mine.any(|lp| lp == here)
}
