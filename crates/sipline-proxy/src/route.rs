//! Route information preprocessing (RFC 3261 §16.4) and the route helpers
//! of §16.6 steps 4 and 6.

use crate::config::ProxyConfig;
use crate::util::{pop_last_value, push_back_value};
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::uri::{Host, Scheme, SipUri};
use sipline_message::{ByteString, Request, Uri};

/// §16.4, in order:
/// 1. a Request-URI that is a value we placed in Record-Route (the upstream
///    element is a strict router) is replaced with the last Route value,
///    which is removed;
/// 2. a `maddr` naming this element (or a served domain) is stripped, with
///    the port and `transport` (the core cannot see the port and transport
///    the request arrived on; it accepts a port this element listens on);
/// 3. the top Route value is removed while it names this element.
pub(crate) fn preprocess(req: &mut Request, cfg: &ProxyConfig) {
    if let Uri::Sip(s) = &req.uri {
        if is_our_record_route(s, cfg) && req.headers.contains(StdHeader::Route) {
            if let Some(last) = pop_last_value(&mut req.headers, StdHeader::Route) {
                if let Ok(na) = NameAddr::parse(&last) {
                    req.uri = na.uri;
                }
            }
        }
    }
    if let Uri::Sip(s) = &mut req.uri {
        let ours = s
            .maddr()
            .and_then(|m| Host::parse(m).ok())
            .is_some_and(|h| cfg.serves_domain(&h) || cfg.is_local(&h, s.port));
        if ours {
            s.remove_param("maddr");
            s.remove_param("transport");
            s.port = None;
        }
    }
    while let Some(top) = req.headers.first_value(StdHeader::Route) {
        let ours = NameAddr::parse(&top)
            .ok()
            .and_then(|na| na.uri.as_sip().map(|s| is_our_route(s, cfg)))
            .unwrap_or(false);
        if !ours {
            break;
        }
        req.headers.pop_first_value(StdHeader::Route);
    }
}

/// A Route value that indicates this proxy (§16.4 last paragraph): a URI
/// naming one of our addresses, or a served domain with no user part and no
/// explicit non-default port.
pub(crate) fn is_our_route(uri: &SipUri, cfg: &ProxyConfig) -> bool {
    cfg.is_local_uri(uri)
        || (uri.user.is_none()
            && uri.port.is_none_or(|p| p == uri.default_port())
            && cfg.serves_domain(&uri.host))
}

/// A value this proxy placed in Record-Route (§16.4 first paragraph): the
/// host and port of [`ProxyConfig::record_route_uri`], the same user part,
/// and the `lr` parameter we always add.
pub(crate) fn is_our_record_route(uri: &SipUri, cfg: &ProxyConfig) -> bool {
    let rr = &cfg.record_route_uri;
    rr.host.eq_ignore_case(&uri.host)
        && rr.port_or_default() == uri.port_or_default()
        && rr.user == uri.user
        && uri.lr()
}

/// The URI to put in Record-Route (§16.6 step 4): the configured one with
/// `lr`, as a SIPS URI if the Request-URI or the top Route is SIPS.
pub(crate) fn record_route_value(req: &Request, cfg: &ProxyConfig) -> String {
    let mut rr = cfg.record_route_uri.clone();
    if !rr.lr() {
        rr.set_param("lr", None);
    }
    let top_sips = req
        .headers
        .first_value(StdHeader::Route)
        .and_then(|v| NameAddr::parse(&v).ok())
        .is_some_and(|na| na.uri.scheme() == "sips");
    if req.uri.scheme() == "sips" || top_sips {
        rr.scheme = Scheme::Sips;
    } else {
        rr.scheme = Scheme::Sip;
    }
    format!("<{rr}>")
}

/// §16.6 steps 6 (second half) and 7: if the top Route has no `lr` (a
/// strict router), the Request-URI goes to the end of the Route set and the
/// top Route becomes the Request-URI, which is then the next hop; otherwise
/// the next hop is the top Route if any, else the Request-URI.
pub(crate) fn finish_routing(req: &mut Request) -> Uri {
    let Some(top) = req
        .headers
        .first_value(StdHeader::Route)
        .and_then(|v| NameAddr::parse(&v).ok())
    else {
        return req.uri.clone();
    };
    if top.uri.as_sip().is_some_and(SipUri::lr) {
        return top.uri;
    }
    let old = std::mem::replace(&mut req.uri, top.uri);
    req.headers.pop_first_value(StdHeader::Route);
    push_back_value(
        &mut req.headers,
        StdHeader::Route,
        ByteString::from(format!("<{old}>")),
    );
    req.uri.clone()
}
