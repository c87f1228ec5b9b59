//! Route information preprocessing (RFC 3261 §16.4) and the route helpers
//! of §16.6 steps 4 and 6.

use crate::config::ProxyConfig;
use crate::flow;
use crate::locate::Target;
use crate::util::{pop_last_value, push_back_value};
use crate::validate::Refusal;
use crate::Inbound;
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::uri::{Host, Scheme, SipUri};
use sipline_message::{ByteString, Request, Transport, Uri};

/// §16.4, in order:
/// 1. a Request-URI that is a value we placed in Record-Route (the upstream
///    element is a strict router) is replaced with the last Route value,
///    which is removed;
/// 2. a `maddr` naming this element (or a served domain) is stripped, with
///    the port and `transport` (the core cannot see the port and transport
///    the request arrived on; it accepts a port this element listens on);
/// 3. the top Route value is removed while it names this element (so both
///    values of a double Record-Route, RFC 5658 §5: "a proxy MAY remove two
///    Route headers instead of one").
///
/// Returns the URIs of the Route values removed in step 3, in order: the
/// last one faces the next hop (see [`route_flow`]).
pub(crate) fn preprocess(req: &mut Request, cfg: &ProxyConfig) -> Vec<SipUri> {
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
    let mut popped = Vec::new();
    while let Some(top) = req.headers.first_value(StdHeader::Route) {
        let ours = NameAddr::parse(&top).ok().and_then(|na| match na.uri {
            Uri::Sip(s) if is_our_route(&s, cfg) => Some(s),
            _ => None,
        });
        let Some(uri) = ours else {
            break;
        };
        req.headers.pop_first_value(StdHeader::Route);
        popped.push(uri);
    }
    popped
}

/// The flow a request must go out over, from the Route values of ours that
/// §16.4 removed (`popped`, in order): RFC 5626 §5.3.
///
/// Every value with a flow token must carry a valid one: "If the flow token
/// has been tampered with, the proxy SHOULD send a 403 (Forbidden)
/// response" (§5.3.1). The value that counts is the last one: with double
/// Record-Route (RFC 5658 §5) the first of our two values faces the sender
/// and the second the next hop. Its flow is used unless it is the flow the
/// request came from (§5.3: the token "matches the source [...] of the
/// request": an "outgoing" request, routed normally), which is how a single
/// value naming one flow works both ways. Without a configured key, tokens
/// are not looked at.
pub(crate) fn route_flow(
    popped: &[SipUri],
    cfg: &ProxyConfig,
    inbound: Option<&Inbound>,
) -> Result<Option<String>, Refusal> {
    let Some(key) = &cfg.flow_token_key else {
        return Ok(None);
    };
    let mut last = None;
    for (i, uri) in popped.iter().enumerate() {
        let Some(user) = uri.user.as_deref().filter(|u| flow::is_token(u)) else {
            continue;
        };
        let Some(flow) = flow::open(key, user) else {
            return Err(Refusal::code(403).reason("Forbidden (bad flow token)"));
        };
        if i + 1 == popped.len() {
            last = Some(flow);
        }
    }
    Ok(last.filter(|f| inbound.and_then(|i| i.flow.as_ref()) != Some(f)))
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
/// host and port of [`ProxyConfig::record_route_uri`] or of one of
/// [`ProxyConfig::listeners`], the same user part (or a flow token), and
/// the `lr` parameter we always add.
pub(crate) fn is_our_record_route(uri: &SipUri, cfg: &ProxyConfig) -> bool {
    let ours = |rr: &SipUri| {
        rr.host.eq_ignore_case(&uri.host)
            && rr.port_or_default() == uri.port_or_default()
            && (rr.user == uri.user || uri.user.as_deref().is_some_and(flow::is_token))
    };
    uri.lr() && (ours(&cfg.record_route_uri) || cfg.listeners.iter().any(|(_, u)| ours(u)))
}

/// The transport a request to `uri` leaves on, as far as the URI says
/// (RFC 3263 §4.1 for a numeric host: the `transport` parameter, else TLS
/// for SIPS and UDP for SIP; a domain's NAPTR records may choose otherwise,
/// and then the value still names a listener of ours that works).
fn uri_transport(uri: &Uri) -> Transport {
    match uri {
        Uri::Sip(s) => sip_uri_transport(s),
        _ => Transport::Udp,
    }
}

/// [`uri_transport`] of a SIP or SIPS URI: the `transport` parameter read
/// with the scheme (SIPS with `tcp` is TLS, with `ws` WSS: RFC 3261
/// §26.2.2, RFC 7118 §5.2, §5.5), else TLS for SIPS and UDP for SIP.
pub(crate) fn sip_uri_transport(s: &SipUri) -> Transport {
    match s.transport_protocol() {
        Some(t) => t,
        None if s.scheme == Scheme::Sips => Transport::Tls,
        None => Transport::Udp,
    }
}

/// Our secure listener standing in for `transport`: WSS for WS (then TLS),
/// TLS for the others; `None` if we have none.
fn secure_listener_for(cfg: &ProxyConfig, transport: Transport) -> Option<Transport> {
    let has = |t: Transport| cfg.listeners.iter().any(|(x, _)| *x == t);
    [Transport::Wss, Transport::Tls]
        .into_iter()
        .filter(|t| transport == Transport::Ws || *t == Transport::Tls)
        .find(|t| has(*t))
}

/// One Record-Route URI: the listener for `transport` with `lr`, the flow
/// token if any, SIPS if `sips`; `double`: with a `transport` parameter
/// (RFC 5658 §6.2), `transport=udp` included (TLS is the `sips` scheme:
/// "MUST NOT use a "transport=tls" parameter").
fn record_route_uri(
    cfg: &ProxyConfig,
    transport: Transport,
    token: Option<String>,
    sips: bool,
    double: bool,
) -> SipUri {
    let mut rr = cfg.listener_uri(transport).clone();
    if sips {
        rr.scheme = Scheme::Sips;
    }
    if double && transport == Transport::Udp && rr.transport().is_none() {
        rr.set_param("transport", Some("udp"));
    }
    if !rr.lr() {
        rr.set_param("lr", None);
    }
    if let Some(t) = token {
        rr.user = Some(t);
    }
    rr
}

/// The values to put in Record-Route (§16.6 step 4), top first, for `req`
/// going to `target` (Path and static-route hops already pushed as Route,
/// §16.6 step 6).
///
/// * The outgoing side: our listener for the transport the request leaves
///   on (the target's flow's, else its next hop's), SIPS if the Request-URI
///   or the top Route is SIPS (§16.6 step 4) or the listener is, with a
///   flow token if the target is reached over a flow (RFC 5626 §5.3).
/// * With `inbound` known, the incoming side: our listener for the
///   transport the request came on, SIPS if that listener is or the
///   Request-URI received was (`upstream_sips`), with a flow token if the
///   sender is reached back over its flow.
///
/// When the two are the same, one value; otherwise both (RFC 5658 §5: the
/// value facing the next hop on top, the one facing the sender under it),
/// each with a `transport` parameter (§6.2).
pub(crate) fn record_route_values(
    req: &Request,
    cfg: &ProxyConfig,
    target: &Target,
    inbound: Option<&Inbound>,
    upstream_sips: bool,
) -> Vec<String> {
    let top = req
        .headers
        .first_value(StdHeader::Route)
        .and_then(|v| NameAddr::parse(&v).ok());
    let top_sips = top.as_ref().is_some_and(|na| na.uri.scheme() == "sips");
    let next_hop = top.map_or_else(|| req.uri.clone(), |na| na.uri);
    let seal = |flow: &Option<String>| match (&cfg.flow_token_key, flow) {
        (Some(key), Some(f)) => Some(flow::seal(key, f)),
        _ => None,
    };
    let out_transport = match (&target.flow, target.flow_transport) {
        (Some(_), Some(t)) => t,
        _ => uri_transport(&next_hop),
    };
    let out_sips = req.uri.scheme() == "sips" || top_sips;
    let out_token = seal(&target.flow);
    let incoming = inbound.map(|i| {
        let token = if i.flow_token { seal(&i.flow) } else { None };
        (i.transport, token)
    });
    let value = |t: Transport, token: Option<String>, sips: bool, double: bool| {
        // §16.6 step 4 wants a SIPS URI here; a SIPS URI is reached over
        // TLS (§26.2.2; WSS for WebSocket, RFC 7118 §5.5): name our secure
        // listener rather than a plain one with its scheme changed (which
        // would send the dialog's requests with TLS to a port without it).
        let t = if sips && !t.is_secure() {
            secure_listener_for(cfg, t).unwrap_or(t)
        } else {
            t
        };
        let listener_sips = cfg.listener_uri(t).scheme == Scheme::Sips;
        record_route_uri(cfg, t, token, sips || listener_sips, double)
    };
    let single = value(out_transport, out_token.clone(), out_sips, false);
    let Some((in_transport, in_token)) = incoming else {
        return vec![format!("<{single}>")];
    };
    let facing_sender = value(in_transport, in_token.clone(), upstream_sips, false);
    if facing_sender == single {
        return vec![format!("<{single}>")];
    }
    vec![
        format!("<{}>", value(out_transport, out_token, out_sips, true)),
        format!("<{}>", value(in_transport, in_token, upstream_sips, true)),
    ]
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
