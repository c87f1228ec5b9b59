//! The dialog state of RFC 3261 §12: identifiers, sequence numbers, route
//! set and remote target, and the requests built from them.

use sipline_message::builder::RequestBuilder;
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::{Headers, Message, Method, Request, Uri};

/// A dialog identifier (RFC 3261 §12): Call-ID, local tag, remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag of requests we send).
    pub local_tag: String,
    /// The peer's tag (empty for an RFC 2543 peer that sent none).
    pub remote_tag: String,
}

/// Early (created by a provisional response) or confirmed (by a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 101-199 response with a To tag (§12.1).
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// Why a received in-dialog request is refused before any method-specific
/// handling (§12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceError {
    /// The CSeq is lower than the last one seen: 500 (§12.2.2).
    OutOfOrder,
}

/// The state of one dialog (RFC 3261 §12.1.1, §12.1.2).
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The identifier.
    pub id: DialogId,
    /// Early or confirmed.
    pub state: DialogState,
    /// Our last CSeq number (`None` until we send a request, UAS §12.1.1).
    pub local_seq: Option<u32>,
    /// The peer's last CSeq number (`None` until it sends one, UAC §12.1.2).
    pub remote_seq: Option<u32>,
    /// Our URI with our tag, as the From of our requests.
    pub local: NameAddr,
    /// The peer's URI with its tag, as the To of our requests.
    pub remote: NameAddr,
    /// Where requests go: the peer's Contact (§12.1.1, §12.1.2), refreshed
    /// by target-refresh requests and responses (§12.2).
    pub remote_target: Uri,
    /// The route set, in the order our requests list it (§12.1.1: the
    /// Record-Route of the request as is; §12.1.2: of the response, reversed).
    pub route_set: Vec<NameAddr>,
    /// Whether the dialog is secure (§12.1.1: sips Request-URI over TLS).
    pub secure: bool,
}

fn contact_uri(h: &Headers) -> Option<Uri> {
    h.contacts()
        .ok()?
        .into_iter()
        .find_map(|c| c.address().map(|a| a.uri.clone()))
}

impl Dialog {
    /// The UAS side of a dialog created by our response to `request`
    /// carrying `local_tag` (§12.1.1). `None` when the request lacks From,
    /// To, Call-ID, CSeq or Contact.
    pub fn uas(request: &Request, local_tag: &str, state: DialogState) -> Option<Dialog> {
        let m = &request.headers;
        let mut local = m.to_header().ok()?;
        local.set_tag(local_tag);
        let remote = m.from_header().ok()?;
        let remote_target = contact_uri(m)?;
        let route_set = m.record_routes().ok()?;
        let secure =
            matches!(&request.uri, Uri::Sip(s) if s.scheme == sipline_message::uri::Scheme::Sips);
        Some(Dialog {
            id: DialogId {
                call_id: m.call_id()?.to_string(),
                local_tag: local_tag.to_string(),
                remote_tag: remote.tag().unwrap_or("").to_string(),
            },
            state,
            local_seq: None,
            remote_seq: Some(m.cseq().ok()?.seq),
            local,
            remote,
            remote_target,
            route_set,
            secure,
        })
    }

    /// The UAC side of a dialog created by `response` to our `request`
    /// (§12.1.2): the response needs a To tag and a Contact.
    pub fn uac(request: &Request, response: &Message) -> Option<Dialog> {
        let status = response.as_response()?.status;
        let req = &request.headers;
        let remote = response.to_header().ok()?;
        let remote_tag = remote.tag()?.to_string();
        let local = req.from_header().ok()?;
        let mut route_set = response.record_routes().ok()?;
        route_set.reverse();
        let remote_target = contact_uri(response.headers())?;
        let secure =
            matches!(&request.uri, Uri::Sip(s) if s.scheme == sipline_message::uri::Scheme::Sips);
        Some(Dialog {
            id: DialogId {
                call_id: req.call_id()?.to_string(),
                local_tag: local.tag()?.to_string(),
                remote_tag,
            },
            state: if status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: Some(req.cseq().ok()?.seq),
            remote_seq: None,
            local,
            remote,
            remote_target,
            route_set,
            secure,
        })
    }

    /// Takes a new remote target from the Contact of a target-refresh
    /// request or response (§12.2.1.2, §12.2.2).
    pub fn refresh_target(&mut self, m: &Message) {
        if let Some(uri) = contact_uri(m.headers()) {
            self.remote_target = uri;
        }
    }

    /// §12.2.2: checks the CSeq of a request received in the dialog and
    /// remembers it. Lower than the last one: 500. ACK and CANCEL carry the
    /// INVITE's number and are not checked.
    pub fn check_remote_seq(&mut self, request: &Message) -> Result<(), SequenceError> {
        let Ok(cseq) = request.cseq() else {
            return Err(SequenceError::OutOfOrder);
        };
        if matches!(cseq.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        match self.remote_seq {
            Some(last) if cseq.seq < last => Err(SequenceError::OutOfOrder),
            // An equal number is a retransmission the transaction layer
            // absorbs, or a PRACK/other request racing; accepted.
            _ => {
                self.remote_seq = Some(cseq.seq);
                Ok(())
            }
        }
    }

    /// The next CSeq number for a new request (§12.2.1.1: one higher than
    /// the last; a UAS without one starts at a random-looking 1).
    pub fn next_seq(&mut self) -> u32 {
        let n = self.local_seq.map_or(1, |s| s.wrapping_add(1));
        self.local_seq = Some(n);
        n
    }

    /// A request within the dialog (§12.2.1.1) without Via, with CSeq
    /// number `seq`: Request-URI and Route from the route set and remote
    /// target (loose or strict routing), To, From, Call-ID.
    pub fn request(&self, method: Method, seq: u32) -> RequestBuilder {
        let (uri, routes) = self.route();
        let mut b = RequestBuilder::new(method, uri);
        for r in routes {
            b = b.header(StdHeader::Route, r);
        }
        b.header(StdHeader::To, self.remote.to_string())
            .header(StdHeader::From, self.local.to_string())
            .call_id(&self.id.call_id)
            .cseq(seq)
    }

    /// The Request-URI and Route values of a request in this dialog
    /// (§12.2.1.1).
    pub fn route(&self) -> (Uri, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if is_loose(&first.uri) => (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            ),
            Some(first) => {
                // Strict router: its URI becomes the Request-URI, stripped
                // of parameters not allowed there; the remote target goes
                // last in Route.
                let mut uri = first.uri.clone();
                if let Uri::Sip(s) = &mut uri {
                    s.headers.clear();
                    s.remove_param("method");
                }
                let mut routes: Vec<String> =
                    self.route_set[1..].iter().map(|r| r.to_string()).collect();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    /// The URI a request in this dialog is sent to (first Route, else the
    /// Request-URI; RFC 3261 §8.1.2).
    pub fn next_hop(&self) -> Uri {
        self.route_set
            .first()
            .map_or_else(|| self.remote_target.clone(), |r| r.uri.clone())
    }
}

/// Whether a route URI names a loose router (`lr`, RFC 3261 §16.12).
pub fn is_loose(uri: &Uri) -> bool {
    matches!(uri, Uri::Sip(s) if s.lr())
}
