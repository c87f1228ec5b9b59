//! Request forwarding (RFC 3261 §16.6 steps 1 to 9): the copy of the
//! request sent to one target.

use crate::config::ProxyConfig;
use crate::locate::Target;
use crate::route::{finish_routing, record_route_values, sip_uri_transport};
use crate::util::push_front_value;
use crate::validate::MAX_BREADTH;
use crate::Inbound;
use sipline_message::header::{find_tag, StdHeader, Via};
use sipline_message::uri::Host;
use sipline_message::{ByteString, Message, Method, Request, Uri};

/// A request ready to go to one target.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) request: Message,
    pub(crate) next_hop: Uri,
}

/// Whether this request is record-routed (§16.6 step 4): when configured,
/// for requests that can create a dialog: INVITE, SUBSCRIBE and REFER
/// without To tag, and methods the proxy does not know ("SHOULD add a
/// Record-Route header field value to every request with a method it does
/// not understand since that method may have dialog semantics"). Requests
/// inside a dialog are not record-routed again: the route set is fixed by
/// the dialog-creating transaction.
pub(crate) fn wants_record_route(req: &Request, cfg: &ProxyConfig) -> bool {
    cfg.record_route
        && req
            .headers
            .get(StdHeader::To)
            .and_then(|v| find_tag(v))
            .is_none()
        && matches!(
            req.method,
            Method::Invite | Method::Subscribe | Method::Refer | Method::Extension(_)
        )
}

/// The Max-Breadth a received request brings (RFC 5393 §5.3.3: absent →
/// the configured value; above the configured maximum → the maximum; at
/// least 1).
pub(crate) fn incoming_breadth(req: &Request, cfg: &ProxyConfig) -> u32 {
    let max = cfg.max_breadth.max(1);
    req.headers
        .get(MAX_BREADTH)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(max, |v| v.clamp(1, max))
}

/// How to record-route a request: not at all, or with what is known of
/// where it came from (RFC 5658 §5).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordRoute<'a> {
    /// Not record-routed.
    No,
    /// Record-routed; the incoming side is named if known.
    Yes(Option<&'a Inbound>),
}

/// §16.6 steps 1 to 9 for one target. `base` is the request after §16.4.
pub(crate) fn prepare(
    base: &Request,
    target: &Target,
    cfg: &ProxyConfig,
    record_route: RecordRoute<'_>,
    branch: &str,
    breadth: u32,
) -> Prepared {
    // 1. Copy.
    prepare_owned(base.clone(), target, cfg, record_route, branch, breadth)
}

/// [`prepare`] for a `base` no longer needed afterwards (one target, as in
/// a stateless proxy): it becomes the copy (step 1) instead of being cloned.
pub(crate) fn prepare_owned(
    mut req: Request,
    target: &Target,
    cfg: &ProxyConfig,
    record_route: RecordRoute<'_>,
    branch: &str,
    breadth: u32,
) -> Prepared {
    // The Request-URI as received (after §16.4): the value of a double
    // Record-Route facing the sender is SIPS if it was (RFC 5658 §6.2).
    let upstream_sips = req.uri.scheme() == "sips";
    // 2. Request-URI, without what a Request-URI may not carry (§19.1.1
    //    Table 1: the method parameter and headers).
    req.uri = match &target.uri {
        Uri::Sip(s) => {
            let mut s = s.clone();
            s.remove_param("method");
            s.headers.clear();
            Uri::Sip(s)
        }
        other => other.clone(),
    };
    // 3. Max-Forwards.
    let mf = req
        .headers
        .get(StdHeader::MaxForwards)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(70, |n| n.saturating_sub(1));
    req.headers.set(StdHeader::MaxForwards, mf.to_string());
    // 5. Additional header fields: Max-Breadth (RFC 5393 §5.3.3 "All proxied
    //    requests MUST contain a single Max-Breadth header field value").
    req.headers
        .set(MAX_BREADTH, ByteString::from(breadth.max(1).to_string()));
    // 6. Routing: the Path route set (RFC 3327 §5.4 "inserting the stored
    //    path vector ahead of the Route header field values contained in the
    //    incoming request") or a static route's proxy, ahead of any Route.
    for hop in target.path.iter().rev() {
        push_front_value(
            &mut req.headers,
            StdHeader::Route,
            ByteString::from(format!("<{hop}>")),
        );
    }
    // 4. Record-Route (decided on the top Route after step 6): one value,
    //    or two (RFC 5658 §5), pushed bottom first so the one facing the
    //    next hop ends on top.
    if let RecordRoute::Yes(inbound) = record_route {
        let values = record_route_values(&req, cfg, target, inbound, upstream_sips);
        for rr in values.into_iter().rev() {
            push_front_value(
                &mut req.headers,
                StdHeader::RecordRoute,
                ByteString::from(rr),
            );
        }
    }
    // 6 (strict routers) and 7.
    let next_hop = finish_routing(&mut req);
    // 8. Via.
    let rr = &cfg.record_route_uri;
    let transport = sip_uri_transport(rr);
    let via = Via::new(transport.as_str(), rr.host.clone(), rr.port, branch);
    req.headers.push_front(StdHeader::Via, via.to_string());
    // 9. Content-Length.
    if !req.headers.contains(StdHeader::ContentLength) {
        req.headers
            .set(StdHeader::ContentLength, req.body.len().to_string());
    }
    Prepared {
        request: Message::from(req),
        next_hop,
    }
}

/// Rewrites the transport and sent-by of the top Via of a request the proxy
/// built, keeping its parameters (the branch above all). For the server,
/// once it has chosen the transport and local address for the next hop
/// (RFC 3261 §18.1.1: the Via must name the transport actually used).
/// Does nothing if the message has no parsable top Via. The new sent-by
/// should be in [`ProxyConfig::local`]: that is how loop detection (§16.3
/// step 4) and [`crate::Proxy::forward_response_stateless`] recognise the
/// Via as ours.
pub fn rewrite_top_via(request: &mut Message, transport: &str, host: Host, port: Option<u16>) {
    let Ok(mut via) = request.top_via() else {
        return;
    };
    via.transport = ByteString::from(transport.to_ascii_uppercase());
    via.host = host;
    via.port = port;
    let headers = request.headers_mut();
    headers.pop_first_value(StdHeader::Via);
    headers.push_front(StdHeader::Via, via.to_string());
}
