//! The proxy core driven through its public API, sans-IO: requests in,
//! actions out, responses fed back per branch.

use sipline_message::builder::response_to;
use sipline_message::header::StdHeader;
use sipline_message::uri::SipUri;
use sipline_message::{Message, StatusCode, Uri};
use sipline_proxy::{
    Action, BranchId, ContextId, Forking, Locator, Mode, Proxy, ProxyConfig, RouteMatch,
    ServerTxId, StaticRoute, Target,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TX: ServerTxId = ServerTxId(1);

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

fn config() -> ProxyConfig {
    let mut c = ProxyConfig::new(SipUri::parse("sip:192.0.2.1:5060;lr").unwrap());
    c.domains = vec!["example.com".into()];
    c.local.push(("proxy.example.com".into(), None));
    c
}

fn proxy() -> Proxy {
    Proxy::with_seed(config(), 42)
}

fn request(method: &str, ruri: &str, extra: &str) -> Message {
    let s = format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKupstream1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1@203.0.113.5\r\n\
CSeq: 1 {method}\r\n\
{extra}Content-Length: 0\r\n\r\n"
    );
    Message::parse(s.into_bytes()).unwrap()
}

fn invite(ruri: &str) -> Message {
    request("INVITE", ruri, "Contact: <sip:alice@203.0.113.5>\r\n")
}

fn location(entries: &[(&str, Vec<Target>)]) -> HashMap<String, Vec<Target>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn bob(contacts: &[(&str, f32)]) -> HashMap<String, Vec<Target>> {
    location(&[(
        "sip:bob@example.com",
        contacts
            .iter()
            .map(|(u, q)| Target::new(uri(u)).with_q(*q))
            .collect(),
    )])
}

/// A locator that must not be consulted.
fn no_lookup(_: &str) -> Option<Vec<Target>> {
    panic!("location service consulted")
}

#[derive(Debug, Clone)]
struct Fwd {
    context: ContextId,
    branch: BranchId,
    request: Message,
    next_hop: Uri,
    flow: Option<String>,
}

fn forwards(actions: &[Action]) -> Vec<Fwd> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Forward {
                context,
                branch,
                request,
                next_hop,
                flow,
            } => Some(Fwd {
                context: *context,
                branch: *branch,
                request: request.clone(),
                next_hop: next_hop.clone(),
                flow: flow.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn responses(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { response, .. } => Some(response.clone()),
            _ => None,
        })
        .collect()
}

fn codes(actions: &[Action]) -> Vec<u16> {
    responses(actions).iter().map(code).collect()
}

fn code(m: &Message) -> u16 {
    m.as_response().unwrap().status.as_u16()
}

fn cancels(actions: &[Action]) -> Vec<BranchId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Cancel {
                branch, request, ..
            } => {
                assert_eq!(request.method(), Some(sipline_message::Method::Cancel));
                Some(*branch)
            }
            _ => None,
        })
        .collect()
}

fn is_done(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Done { .. }))
}

fn answer(f: &Fwd, code: u16, tag: &str) -> Message {
    Message::from(response_to(
        f.request.as_request().unwrap(),
        StatusCode::new(code).unwrap(),
        Some(tag),
    ))
}

fn ruri(m: &Message) -> String {
    m.as_request().unwrap().uri.to_string()
}

fn values(m: &Message, h: StdHeader) -> Vec<String> {
    m.headers().values(h).map(|v| v.to_string()).collect()
}

fn one_reply(p: &mut Proxy, msg: Message, loc: &impl Locator) -> Message {
    let actions = p.on_request(Instant::now(), TX, msg, loc);
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let r = responses(&actions);
    assert_eq!(r.len(), 1, "{actions:#?}");
    r[0].clone()
}

// ---------------------------------------------------------------- §16.3

#[test]
fn s16_3_1_malformed_is_400() {
    let m = Message::parse(
        &b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKx\r\nMax-Forwards: 70\r\n\
From: <sip:alice@example.org>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .unwrap();
    let r = one_reply(&mut proxy(), m, &bob(&[]));
    assert_eq!(code(&r), 400);
    assert!(r.to_tag().is_some(), "a UAS response carries a To tag");

    let bad_route = request("INVITE", "sip:bob@example.com", "Route: <sip:\r\n");
    assert_eq!(code(&one_reply(&mut proxy(), bad_route, &bob(&[]))), 400);
}

#[test]
fn s16_3_2_unknown_scheme_is_416() {
    let m = request("INVITE", "http://example.com/bob", "");
    assert_eq!(code(&one_reply(&mut proxy(), m, &bob(&[]))), 416);
}

#[test]
fn s16_3_3_max_forwards_zero_is_483() {
    let m = invite("sip:bob@example.com")
        .to_string()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let m = Message::parse(m.into_bytes()).unwrap();
    assert_eq!(
        code(&one_reply(&mut proxy(), m, &bob(&[("sip:b@h", 1.0)]))),
        483
    );
}

#[test]
fn s16_3_3_options_for_us_with_max_forwards_zero_is_answered() {
    let mk = |ruri: &str| {
        let m = request("OPTIONS", ruri, "")
            .to_string()
            .replace("Max-Forwards: 70", "Max-Forwards: 0");
        Message::parse(m.into_bytes()).unwrap()
    };
    let r = one_reply(&mut proxy(), mk("sip:192.0.2.1"), &bob(&[]));
    assert_eq!(code(&r), 200);
    assert!(r.headers().get(StdHeader::Allow).is_some(), "§11.2");
    let r = one_reply(&mut proxy(), mk("sip:example.com"), &bob(&[]));
    assert_eq!(code(&r), 200);
    // OPTIONS for a user: not for us, 483
    let r = one_reply(&mut proxy(), mk("sip:bob@example.com"), &bob(&[]));
    assert_eq!(code(&r), 483);
}

#[test]
fn s16_3_5_proxy_require_is_420_with_unsupported() {
    let m = request(
        "INVITE",
        "sip:bob@example.com",
        "Proxy-Require: foo, bar\r\n",
    );
    let r = one_reply(&mut proxy(), m, &bob(&[]));
    assert_eq!(code(&r), 420);
    assert_eq!(values(&r, StdHeader::Unsupported), ["foo", "bar"]);

    let mut c = config();
    c.proxy_require_supported = vec!["foo".into(), "BAR".into()];
    let mut p = Proxy::with_seed(c, 1);
    let m = request(
        "INVITE",
        "sip:bob@example.com",
        "Proxy-Require: foo, bar\r\n",
    );
    let a = p.on_request(
        Instant::now(),
        TX,
        m,
        &bob(&[("sip:bob@198.51.100.7", 1.0)]),
    );
    assert_eq!(forwards(&a).len(), 1);
}

/// §16.3 step 4 with RFC 5393 §4.2: the same request back with our Via in it
/// is a loop (482); one whose Request-URI changed is a spiral.
#[test]
fn s16_3_4_loop_detected_spiral_allowed() {
    let now = Instant::now();
    // a request for a foreign domain comes back unchanged: loop
    let mut p = proxy();
    let a = p.on_request(now, TX, invite("sip:carol@example.net"), &bob(&[]));
    let f = forwards(&a);
    assert_eq!(f.len(), 1);
    let back = f[0].request.clone();
    let r = p.on_request(now, ServerTxId(2), back.clone(), &bob(&[]));
    assert_eq!(codes(&r), [482]);
    // also when it went through another proxy on the way (its Via on top)
    let mut via_other = back.clone();
    via_other.headers_mut().push_front(
        StdHeader::Via,
        "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKother",
    );
    let r = p.on_request(now, ServerTxId(3), via_other, &bob(&[]));
    assert_eq!(codes(&r), [482]);

    // spiral: bob@example.com is forwarded to alias@example.com, which comes
    // back through us; the Request-URI differs, so it is processed again
    let loc = location(&[
        (
            "sip:bob@example.com",
            vec![Target::new(uri("sip:alias@example.com"))],
        ),
        (
            "sip:alias@example.com",
            vec![Target::new(uri("sip:bob@198.51.100.7"))],
        ),
    ]);
    let mut p = proxy();
    let a = p.on_request(now, TX, invite("sip:bob@example.com"), &loc);
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:alias@example.com");
    let a2 = p.on_request(now, ServerTxId(2), f[0].request.clone(), &loc);
    let f2 = forwards(&a2);
    assert_eq!(f2.len(), 1, "{a2:#?}");
    assert_eq!(ruri(&f2[0].request), "sip:bob@198.51.100.7");
    assert_eq!(f2[0].request.vias().unwrap().len(), 3);
}

// ---------------------------------------------------------------- §16.4

#[test]
fn s16_4_strict_router_request_uri_restored() {
    // a strict router upstream put our Record-Route URI in the Request-URI
    // and the real target at the end of the Route set
    let m = request(
        "BYE",
        "sip:192.0.2.1:5060;lr",
        "Route: <sip:p2.example.net;lr>, <sip:bob@198.51.100.7>\r\n",
    )
    .to_string()
    .replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=b1",
    );
    let m = Message::parse(m.into_bytes()).unwrap();
    let a = proxy().on_request(Instant::now(), TX, m, &no_lookup);
    let f = forwards(&a);
    assert_eq!(f.len(), 1, "{a:#?}");
    assert_eq!(ruri(&f[0].request), "sip:bob@198.51.100.7");
    assert_eq!(
        values(&f[0].request, StdHeader::Route),
        ["<sip:p2.example.net;lr>"]
    );
    assert_eq!(f[0].next_hop.to_string(), "sip:p2.example.net;lr");
}

#[test]
fn s16_4_own_route_removed() {
    let m = request(
        "INVITE",
        "sip:carol@example.net",
        "Route: <sip:192.0.2.1;lr>, <sip:proxy.example.com:5070;lr>, <sip:edge.example.net;lr>\r\n",
    );
    let a = proxy().on_request(Instant::now(), TX, m, &no_lookup);
    let f = forwards(&a);
    assert_eq!(
        values(&f[0].request, StdHeader::Route),
        ["<sip:edge.example.net;lr>"]
    );
    assert_eq!(f[0].next_hop.to_string(), "sip:edge.example.net;lr");
    assert_eq!(ruri(&f[0].request), "sip:carol@example.net");
}

#[test]
fn s16_4_own_maddr_stripped() {
    let m = invite("sip:bob@example.com;maddr=192.0.2.1;transport=udp");
    let a = proxy().on_request(
        Instant::now(),
        TX,
        m,
        &bob(&[("sip:bob@198.51.100.7", 1.0)]),
    );
    let f = forwards(&a);
    assert_eq!(
        ruri(&f[0].request),
        "sip:bob@198.51.100.7",
        "maddr stripped, then located"
    );
    // a foreign maddr makes the Request-URI the only target (§16.5)
    let m = invite("sip:bob@example.com;maddr=198.51.100.99");
    let a = proxy().on_request(Instant::now(), TX, m, &no_lookup);
    assert_eq!(
        ruri(&forwards(&a)[0].request),
        "sip:bob@example.com;maddr=198.51.100.99"
    );
}

// ---------------------------------------------------------------- §16.5 / §16.6

#[test]
fn s16_5_unknown_user_404_unregistered_480() {
    let loc = location(&[("sip:bob@example.com", vec![])]);
    assert_eq!(
        code(&one_reply(
            &mut proxy(),
            invite("sip:nobody@example.com"),
            &loc
        )),
        404
    );
    assert_eq!(
        code(&one_reply(
            &mut proxy(),
            invite("sip:bob@example.com"),
            &loc
        )),
        480
    );
}

#[test]
fn s16_6_one_contact() {
    let a = proxy().on_request(
        Instant::now(),
        TX,
        invite("sip:bob@Example.COM"),
        &bob(&[("sip:bob@198.51.100.7:5062;transport=tcp", 1.0)]),
    );
    let f = forwards(&a);
    assert_eq!(f.len(), 1);
    let r = &f[0].request;
    assert_eq!(ruri(r), "sip:bob@198.51.100.7:5062;transport=tcp");
    assert_eq!(
        f[0].next_hop.to_string(),
        "sip:bob@198.51.100.7:5062;transport=tcp"
    );
    assert_eq!(r.max_forwards().unwrap(), Some(69));
    assert_eq!(
        values(r, StdHeader::RecordRoute),
        ["<sip:192.0.2.1:5060;lr>"]
    );
    let vias = r.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].sent_by(), "192.0.2.1:5060");
    assert!(vias[0].branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(vias[1].branch(), Some("z9hG4bKupstream1"));
    assert_eq!(r.headers().get("Max-Breadth").unwrap(), "60");
    // the rest unchanged, in order
    assert_eq!(r.call_id(), Some("call-1@203.0.113.5"));
    assert_eq!(
        r.headers().get(StdHeader::Contact).unwrap(),
        "<sip:alice@203.0.113.5>"
    );
}

#[test]
fn s16_6_two_contacts_parallel_with_path() {
    let loc = location(&[(
        "sip:bob@example.com",
        vec![
            Target::new(uri("sip:bob@198.51.100.7")).with_flow("conn-1"),
            Target::new(uri("sip:bob@10.0.0.9:5070")).with_path(vec![
                uri("sip:edge1.example.com;lr"),
                uri("sip:edge2.example.com;lr"),
            ]),
        ],
    )]);
    let a = proxy().on_request(Instant::now(), TX, invite("sip:bob@example.com"), &loc);
    let f = forwards(&a);
    assert_eq!(f.len(), 2);
    assert_ne!(f[0].branch, f[1].branch);
    assert_ne!(f[0].request.branch(), f[1].request.branch());
    assert_eq!(f[0].context, f[1].context);
    for x in &f {
        assert_eq!(x.request.max_forwards().unwrap(), Some(69));
        assert_eq!(
            values(&x.request, StdHeader::RecordRoute),
            ["<sip:192.0.2.1:5060;lr>"]
        );
        assert_eq!(x.request.headers().get("Max-Breadth").unwrap(), "30");
    }
    assert_eq!(ruri(&f[0].request), "sip:bob@198.51.100.7");
    assert_eq!(f[0].flow.as_deref(), Some("conn-1"));
    assert!(f[0].request.headers().get(StdHeader::Route).is_none());
    // RFC 3327 §5.4: the Path becomes the Route set, and the next hop
    assert_eq!(ruri(&f[1].request), "sip:bob@10.0.0.9:5070");
    assert_eq!(
        values(&f[1].request, StdHeader::Route),
        ["<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"]
    );
    assert_eq!(f[1].next_hop.to_string(), "sip:edge1.example.com;lr");
}

#[test]
fn s16_6_step6_strict_next_hop() {
    // a Path entry without lr is a strict router: it gets the Request-URI
    let loc = location(&[(
        "sip:bob@example.com",
        vec![Target::new(uri("sip:bob@10.0.0.9")).with_path(vec![uri("sip:strict.example.com")])],
    )]);
    let a = proxy().on_request(Instant::now(), TX, invite("sip:bob@example.com"), &loc);
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:strict.example.com");
    assert_eq!(
        values(&f[0].request, StdHeader::Route),
        ["<sip:bob@10.0.0.9>"]
    );
    assert_eq!(f[0].next_hop.to_string(), "sip:strict.example.com");
}

#[test]
fn s16_6_max_forwards_added_when_absent() {
    let m = invite("sip:carol@example.net")
        .to_string()
        .replace("Max-Forwards: 70\r\n", "");
    let a = proxy().on_request(
        Instant::now(),
        TX,
        Message::parse(m.into_bytes()).unwrap(),
        &no_lookup,
    );
    assert_eq!(forwards(&a)[0].request.max_forwards().unwrap(), Some(70));
}

#[test]
fn rfc5393_max_breadth_limits_parallel_branches() {
    let m = request("INVITE", "sip:bob@example.com", "Max-Breadth: 1\r\n");
    let loc = bob(&[("sip:bob@198.51.100.7", 1.0), ("sip:bob@198.51.100.8", 1.0)]);
    let mut p = proxy();
    let now = Instant::now();
    let a = p.on_request(now, TX, m, &loc);
    let f = forwards(&a);
    assert_eq!(f.len(), 1, "only one branch fits in Max-Breadth 1");
    assert_eq!(f[0].request.headers().get("Max-Breadth").unwrap(), "1");
    let a = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 486, "x"));
    let f2 = forwards(&a);
    assert_eq!(f2.len(), 1, "breadth reclaimed (§5.3.3.1)");
    assert_eq!(ruri(&f2[0].request), "sip:bob@198.51.100.8");
    let a = p.on_response(now, f2[0].context, f2[0].branch, answer(&f2[0], 404, "y"));
    assert_eq!(codes(&a), [486]);
    assert!(is_done(&a));
}

#[test]
fn static_route_by_user_prefix() {
    let mut c = config();
    c.static_routes = vec![
        StaticRoute {
            matcher: RouteMatch::UserPrefix("+1".into()),
            next_hops: vec![uri("sip:gw1.example.net"), uri("sip:gw2.example.net")],
            permanent: false,
        },
        StaticRoute {
            matcher: RouteMatch::Domain("partner.example".into()),
            next_hops: vec![uri("sip:sbc.example.com;lr")],
            permanent: false,
        },
    ];
    let now = Instant::now();
    let mut p = Proxy::with_seed(c, 9);
    let a = p.on_request(now, TX, invite("sip:+15551234@example.com"), &no_lookup);
    let f = forwards(&a);
    assert_eq!(f.len(), 1, "next hops are alternatives, one at a time");
    assert_eq!(ruri(&f[0].request), "sip:+15551234@gw1.example.net");
    let a = p.on_branch_transport_error(now, f[0].context, f[0].branch);
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:+15551234@gw2.example.net");
    let a = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 503, "g"));
    assert_eq!(codes(&a), [500], "503 goes upstream as 500 (§16.7 step 6)");

    // an lr next hop for a foreign domain: Route pushed, Request-URI kept
    let a = p.on_request(
        now,
        ServerTxId(2),
        invite("sip:dave@partner.example"),
        &no_lookup,
    );
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:dave@partner.example");
    assert_eq!(
        values(&f[0].request, StdHeader::Route),
        ["<sip:sbc.example.com;lr>"]
    );
}

// ---------------------------------------------------------------- forking

#[test]
fn sequential_forking_by_q_with_branch_timeout() {
    let mut c = config();
    c.forking = Forking::Sequential;
    c.branch_timeout = Some(Duration::from_secs(20));
    let mut p = Proxy::with_seed(c, 5);
    let loc = bob(&[
        ("sip:bob@198.51.100.3", 0.5),
        ("sip:bob@198.51.100.1", 1.0),
        ("sip:bob@198.51.100.2", 1.0),
    ]);
    let t0 = Instant::now();
    let a = p.on_request(t0, TX, invite("sip:bob@example.com"), &loc);
    let g1 = forwards(&a);
    assert_eq!(g1.len(), 2, "the q=1.0 group in parallel");
    assert_eq!(ruri(&g1[0].request), "sip:bob@198.51.100.1");
    assert_eq!(ruri(&g1[1].request), "sip:bob@198.51.100.2");
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    // one rings, the other says nothing
    let a = p.on_response(t0, g1[0].context, g1[0].branch, answer(&g1[0], 180, "r1"));
    assert_eq!(codes(&a), [180]);
    assert!(p.handle_timeout(t0 + Duration::from_secs(19)).is_empty());
    let t1 = t0 + Duration::from_secs(20);
    let a = p.handle_timeout(t1);
    assert_eq!(
        cancels(&a),
        [g1[0].branch],
        "the ringing branch is cancelled"
    );
    let g2 = forwards(&a);
    assert_eq!(g2.len(), 1);
    assert_eq!(ruri(&g2[0].request), "sip:bob@198.51.100.3");
    assert_eq!(p.poll_timeout(), None, "no group after this one");
    // the silent branch rings late: cancelled at once (§9.1)
    let a = p.on_response(t1, g1[1].context, g1[1].branch, answer(&g1[1], 180, "r2"));
    assert_eq!(cancels(&a), [g1[1].branch]);
    // 487s, then the last group answers
    let a = p.on_response(t1, g1[0].context, g1[0].branch, answer(&g1[0], 487, "r1"));
    assert!(a.is_empty(), "{a:#?}");
    let a = p.on_response(t1, g1[1].context, g1[1].branch, answer(&g1[1], 487, "r2"));
    assert!(a.is_empty(), "{a:#?}");
    let a = p.on_response(t1, g2[0].context, g2[0].branch, answer(&g2[0], 200, "r3"));
    assert_eq!(codes(&a), [200]);
    assert!(is_done(&a));
    assert!(p.is_empty());
}

#[test]
fn sequential_forking_next_group_after_failure() {
    let mut c = config();
    c.forking = Forking::Sequential;
    let mut p = Proxy::with_seed(c, 5);
    let loc = bob(&[("sip:bob@198.51.100.1", 0.9), ("sip:bob@198.51.100.2", 0.1)]);
    let now = Instant::now();
    let a = p.on_request(now, TX, invite("sip:bob@example.com"), &loc);
    let f = forwards(&a);
    assert_eq!(f.len(), 1);
    assert_eq!(p.poll_timeout(), None);
    let a = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 486, "x"));
    assert!(responses(&a).is_empty());
    let f2 = forwards(&a);
    assert_eq!(ruri(&f2[0].request), "sip:bob@198.51.100.2");
    let a = p.on_response(now, f2[0].context, f2[0].branch, answer(&f2[0], 404, "y"));
    assert_eq!(codes(&a), [486], "best of 486 and 404");
}

#[test]
fn request_disposition_sequential_overrides_config() {
    let m = request(
        "INVITE",
        "sip:bob@example.com",
        "Request-Disposition: sequential\r\n",
    );
    let loc = bob(&[("sip:bob@198.51.100.1", 0.9), ("sip:bob@198.51.100.2", 0.1)]);
    let a = proxy().on_request(Instant::now(), TX, m, &loc);
    assert_eq!(forwards(&a).len(), 1);
}

// ---------------------------------------------------------------- §16.7

fn fork2(p: &mut Proxy) -> (Fwd, Fwd) {
    let loc = bob(&[("sip:bob@198.51.100.1", 1.0), ("sip:bob@198.51.100.2", 1.0)]);
    let a = p.on_request(Instant::now(), TX, invite("sip:bob@example.com"), &loc);
    let f = forwards(&a);
    assert_eq!(f.len(), 2);
    (f[0].clone(), f[1].clone())
}

#[test]
fn s16_7_best_response_404_486() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, b) = fork2(&mut p);
    assert!(p
        .on_response(now, a.context, a.branch, answer(&a, 404, "a"))
        .is_empty());
    let out = p.on_response(now, b.context, b.branch, answer(&b, 486, "b"));
    assert_eq!(codes(&out), [486]);
    let r = &responses(&out)[0];
    assert_eq!(r.vias().unwrap().len(), 1, "our Via removed (§16.7 step 3)");
    assert_eq!(r.to_tag(), Some("b"), "To tag preserved");
    assert!(is_done(&out));
}

#[test]
fn s16_7_provisional_forwarded_100_absorbed() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, _) = fork2(&mut p);
    assert!(p
        .on_response(now, a.context, a.branch, answer(&a, 100, "a"))
        .is_empty());
    let out = p.on_response(now, a.context, a.branch, answer(&a, 183, "a"));
    assert_eq!(codes(&out), [183]);
}

#[test]
fn s16_7_2xx_forwarded_and_pending_cancelled() {
    let mut p = proxy();
    let now = Instant::now();
    let loc = bob(&[
        ("sip:bob@198.51.100.1", 1.0),
        ("sip:bob@198.51.100.2", 1.0),
        ("sip:bob@198.51.100.3", 1.0),
    ]);
    let f = forwards(&p.on_request(now, TX, invite("sip:bob@example.com"), &loc));
    let (a, b, c) = (&f[0], &f[1], &f[2]);
    assert_eq!(
        codes(&p.on_response(now, a.context, a.branch, answer(a, 180, "a"))),
        [180]
    );
    assert!(p
        .on_response(now, b.context, b.branch, answer(b, 486, "b"))
        .is_empty());
    let out = p.on_response(now, c.context, c.branch, answer(c, 200, "c"));
    assert_eq!(codes(&out), [200], "2xx forwarded at once");
    assert_eq!(
        cancels(&out),
        [a.branch],
        "only the branch with a provisional is cancelled"
    );
    assert!(!is_done(&out));
    // a second 2xx (another fork downstream) is forwarded too
    let out = p.on_response(now, a.context, a.branch, answer(a, 200, "a2"));
    assert_eq!(codes(&out), [200]);
    assert!(is_done(&out));
}

#[test]
fn s16_7_6xx_cancels_others_and_wins() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, b) = fork2(&mut p);
    p.on_response(now, a.context, a.branch, answer(&a, 180, "a"));
    let out = p.on_response(now, b.context, b.branch, answer(&b, 603, "b"));
    assert_eq!(cancels(&out), [a.branch]);
    assert!(responses(&out).is_empty(), "6xx not forwarded at once");
    let out = p.on_response(now, a.context, a.branch, answer(&a, 487, "a"));
    assert_eq!(codes(&out), [603]);
    assert!(is_done(&out));
}

#[test]
fn s16_7_step7_401_407_aggregated() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, b) = fork2(&mut p);
    let mut r1 = answer(&a, 401, "a");
    r1.headers_mut().push(
        StdHeader::WwwAuthenticate,
        "Digest realm=\"a.example\", nonce=\"1\"",
    );
    let mut r2 = answer(&b, 407, "b");
    r2.headers_mut().push(
        StdHeader::ProxyAuthenticate,
        "Digest realm=\"b.example\", nonce=\"2\"",
    );
    r2.headers_mut().push(
        StdHeader::WwwAuthenticate,
        "Digest realm=\"c.example\", nonce=\"3\"",
    );
    assert!(p.on_response(now, a.context, a.branch, r1).is_empty());
    let out = p.on_response(now, b.context, b.branch, r2);
    let r = &responses(&out)[0];
    assert_eq!(code(r), 401);
    assert_eq!(r.headers().get_all(StdHeader::WwwAuthenticate).count(), 2);
    assert_eq!(
        r.headers().get(StdHeader::ProxyAuthenticate).unwrap(),
        "Digest realm=\"b.example\", nonce=\"2\""
    );
}

#[test]
fn s16_7_step4_recursion_on_3xx() {
    let mut c = config();
    c.recurse_on_3xx = true;
    let mut p = Proxy::with_seed(c, 3);
    let now = Instant::now();
    let f = forwards(&p.on_request(
        now,
        TX,
        invite("sip:bob@example.com"),
        &bob(&[("sip:bob@198.51.100.1", 1.0)]),
    ));
    let mut moved = answer(&f[0], 302, "m");
    moved.headers_mut().push(
        StdHeader::Contact,
        "<sip:bob@203.0.113.9>;q=0.7, <sip:bob@198.51.100.1>, <mailto:bob@example.com>",
    );
    let out = p.on_response(now, f[0].context, f[0].branch, moved);
    let f2 = forwards(&out);
    assert_eq!(f2.len(), 1, "only the new SIP contact is tried: {out:#?}");
    assert_eq!(ruri(&f2[0].request), "sip:bob@203.0.113.9");
    let out = p.on_response(now, f2[0].context, f2[0].branch, answer(&f2[0], 480, "n"));
    // the 302 kept only the contact it could not recurse on, and 3xx beats 4xx
    let r = &responses(&out)[0];
    assert_eq!(code(r), 302);
    assert_eq!(values(r, StdHeader::Contact), ["<mailto:bob@example.com>"]);
}

#[test]
fn s16_7_3xx_passed_up_without_recursion() {
    let mut p = proxy();
    let now = Instant::now();
    let f = forwards(&p.on_request(
        now,
        TX,
        invite("sip:bob@example.com"),
        &bob(&[("sip:bob@198.51.100.1", 1.0)]),
    ));
    let mut moved = answer(&f[0], 302, "m");
    moved
        .headers_mut()
        .push(StdHeader::Contact, "<sip:bob@203.0.113.9>");
    let out = p.on_response(now, f[0].context, f[0].branch, moved);
    assert!(forwards(&out).is_empty());
    assert_eq!(codes(&out), [302]);
}

#[test]
fn s16_8_timer_c() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, b) = fork2(&mut p);
    p.on_response(now, a.context, a.branch, answer(&a, 180, "a"));
    let out = p.on_timer_c(now, a.context, a.branch);
    assert_eq!(cancels(&out), [a.branch], "provisional received: CANCEL");
    let out = p.on_timer_c(now, b.context, b.branch);
    assert!(cancels(&out).is_empty(), "no provisional: acts as 408");
    // b wakes up later: it is cancelled, and its 180 is not forwarded
    let out = p.on_response(now, b.context, b.branch, answer(&b, 180, "b"));
    assert_eq!(cancels(&out), [b.branch]);
    assert!(responses(&out).is_empty());
    let out = p.on_response(now, a.context, a.branch, answer(&a, 487, "a"));
    assert_eq!(codes(&out), [408], "408 beats 487 in the choice");
    assert!(is_done(&out));
    // events for a finished context are ignored
    assert!(p
        .on_response(now, b.context, b.branch, answer(&b, 487, "b"))
        .is_empty());
}

#[test]
fn non_invite_first_2xx_wins_no_cancel() {
    let mut p = proxy();
    let now = Instant::now();
    let loc = bob(&[("sip:bob@198.51.100.1", 1.0), ("sip:bob@198.51.100.2", 1.0)]);
    let m = request("MESSAGE", "sip:bob@example.com", "Max-Breadth: 100\r\n");
    let f = forwards(&p.on_request(now, TX, m, &loc));
    assert_eq!(
        f[0].request.headers().get("Max-Breadth").unwrap(),
        "30",
        "100 capped at 60, split"
    );
    let out = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 202, "a"));
    assert_eq!(codes(&out), [202]);
    assert!(cancels(&out).is_empty(), "no CANCEL for non-INVITE (§9.1)");
    let out = p.on_response(now, f[1].context, f[1].branch, answer(&f[1], 404, "b"));
    assert!(responses(&out).is_empty());
    assert!(is_done(&out));
}

#[test]
fn s16_9_transport_error_is_503_sent_as_500() {
    let mut p = proxy();
    let now = Instant::now();
    let f = forwards(&p.on_request(
        now,
        TX,
        invite("sip:bob@example.com"),
        &bob(&[("sip:bob@198.51.100.1", 1.0)]),
    ));
    let out = p.on_branch_transport_error(now, f[0].context, f[0].branch);
    assert_eq!(codes(&out), [500]);
    assert!(is_done(&out));
}

#[test]
fn branch_timeout_non_invite_sends_no_408() {
    // RFC 4320 §4.2: no 408 to a non-INVITE request
    let mut p = proxy();
    let now = Instant::now();
    let m = request("MESSAGE", "sip:bob@example.com", "");
    let f = forwards(&p.on_request(now, TX, m, &bob(&[("sip:bob@198.51.100.1", 1.0)])));
    assert!(
        f[0].request.headers().get(StdHeader::RecordRoute).is_none(),
        "MESSAGE is not record-routed"
    );
    let out = p.on_branch_timeout(now, f[0].context, f[0].branch);
    assert!(responses(&out).is_empty());
    assert!(is_done(&out));
    // and for INVITE the 408 goes up
    let f = forwards(&p.on_request(
        now,
        ServerTxId(2),
        invite("sip:bob@example.com"),
        &bob(&[("sip:bob@198.51.100.1", 1.0)]),
    ));
    assert_eq!(
        codes(&p.on_branch_timeout(now, f[0].context, f[0].branch)),
        [408]
    );
}

// ---------------------------------------------------------------- §16.10

#[test]
fn s16_10_cancel_cancels_pending_branches() {
    let mut p = proxy();
    let now = Instant::now();
    let (a, b) = fork2(&mut p);
    p.on_response(now, a.context, a.branch, answer(&a, 180, "a"));
    let ctx = p.context_for(TX).unwrap();
    let out = p.on_cancel(now, ctx);
    assert_eq!(cancels(&out), [a.branch]);
    // b had no provisional: its CANCEL goes when it rings (§9.1)
    let out = p.on_response(now, b.context, b.branch, answer(&b, 180, "b"));
    assert_eq!(cancels(&out), [b.branch]);
    assert!(
        codes(&out).is_empty(),
        "not forwarded: the call is being cancelled"
    );
    assert!(p
        .on_response(now, a.context, a.branch, answer(&a, 487, "a"))
        .is_empty());
    let out = p.on_response(now, b.context, b.branch, answer(&b, 487, "b"));
    assert_eq!(codes(&out), [487]);
    assert!(is_done(&out));
    assert_eq!(p.context_for(TX), None);
}

#[test]
fn s16_10_unmatched_cancel_forwarded_statelessly_with_invite_branch() {
    // the INVITE went statelessly; its CANCEL must get the same branch
    let p = proxy();
    let inv = invite("sip:carol@example.net");
    let Ok(Action::ForwardStateless { message: fi, .. }) = p.forward_stateless(inv.clone(), None)
    else {
        panic!()
    };
    let cancel = Message::from(sipline_transaction::cancel_for(inv.as_request().unwrap()));
    let mut p = proxy();
    let out = p.on_request(Instant::now(), ServerTxId(7), cancel, &no_lookup);
    let Action::ForwardStateless { message: fc, .. } = &out[0] else {
        panic!("{out:#?}")
    };
    assert_eq!(fc.branch(), fi.branch());
}

// ---------------------------------------------------------------- §8.3

#[test]
fn s8_3_redirect_302_and_300() {
    let mut c = config();
    c.mode = Mode::Redirect;
    let mut p = Proxy::with_seed(c.clone(), 1);
    let mut t = Target::new(uri("sip:bob@198.51.100.1")).with_q(0.8);
    t.expires = Some(3600);
    let loc = location(&[("sip:bob@example.com", vec![t.clone()])]);
    let r = one_reply(&mut p, invite("sip:bob@example.com"), &loc);
    assert_eq!(code(&r), 302);
    assert_eq!(
        values(&r, StdHeader::Contact),
        ["<sip:bob@198.51.100.1>;q=0.8;expires=3600"]
    );
    assert!(r.to_tag().is_some());
    assert!(p.is_empty(), "no context for a redirect");

    let loc = location(&[(
        "sip:bob@example.com",
        vec![t, Target::new(uri("sip:bob@198.51.100.2"))],
    )]);
    let r = one_reply(&mut p, invite("sip:bob@example.com"), &loc);
    assert_eq!(code(&r), 300);
    assert_eq!(r.contacts().unwrap().len(), 2);
    assert_eq!(
        code(&one_reply(&mut p, invite("sip:nobody@example.com"), &loc)),
        404
    );
    // not responsible: no redirect to the Request-URI itself (§8.3), 404
    assert_eq!(
        code(&one_reply(&mut p, invite("sip:carol@example.net"), &loc)),
        404
    );
    // a redirect server sends no request: ACK dropped, stray CANCEL 481
    let ack = request("ACK", "sip:bob@example.com", "");
    assert!(p.on_request(Instant::now(), TX, ack, &loc).is_empty());
    let cancel = request("CANCEL", "sip:bob@example.com", "");
    assert_eq!(code(&one_reply(&mut p, cancel, &loc)), 481);

    c.static_routes = vec![StaticRoute {
        matcher: RouteMatch::UserPrefix("old".into()),
        next_hops: vec![uri("sip:new.example.net")],
        permanent: true,
    }];
    let mut p = Proxy::with_seed(c, 1);
    let r = one_reply(&mut p, invite("sip:oldbob@example.com"), &no_lookup);
    assert_eq!(code(&r), 301);
    assert_eq!(
        values(&r, StdHeader::Contact),
        ["<sip:oldbob@new.example.net>;q=1"]
    );
}

// ---------------------------------------------------------------- in dialog

#[test]
fn in_dialog_request_routed_by_route() {
    let m = request(
        "BYE",
        "sip:alice@203.0.113.5",
        "Route: <sip:192.0.2.1:5060;lr>\r\n",
    )
    .to_string()
    .replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=b1",
    );
    let a = proxy().on_request(
        Instant::now(),
        TX,
        Message::parse(m.into_bytes()).unwrap(),
        &no_lookup,
    );
    let f = forwards(&a);
    assert_eq!(f.len(), 1);
    assert_eq!(ruri(&f[0].request), "sip:alice@203.0.113.5");
    assert_eq!(f[0].next_hop.to_string(), "sip:alice@203.0.113.5");
    assert!(f[0].request.headers().get(StdHeader::Route).is_none());
    assert!(
        f[0].request.headers().get(StdHeader::RecordRoute).is_none(),
        "in-dialog requests are not record-routed again"
    );
}

#[test]
fn ack_for_2xx_forwarded_statelessly() {
    let m = request(
        "ACK",
        "sip:bob@198.51.100.7",
        "Route: <sip:192.0.2.1;lr>\r\n",
    )
    .to_string()
    .replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>;tag=b1",
    );
    let a = proxy().on_request(
        Instant::now(),
        TX,
        Message::parse(m.into_bytes()).unwrap(),
        &no_lookup,
    );
    let Action::ForwardStateless {
        message, next_hop, ..
    } = &a[0]
    else {
        panic!("{a:#?}")
    };
    assert_eq!(next_hop.to_string(), "sip:bob@198.51.100.7");
    assert_eq!(message.max_forwards().unwrap(), Some(69));
    // a broken ACK is dropped, never answered
    let bad = request("ACK", "mailto:x@y", "");
    assert!(proxy()
        .on_request(Instant::now(), TX, bad, &no_lookup)
        .is_empty());
}

// ---------------------------------------------------------------- §16.11

#[test]
fn s16_11_stateless_branch_is_deterministic() {
    let p = proxy();
    let loc = bob(&[("sip:bob@198.51.100.2", 0.5), ("sip:bob@198.51.100.1", 0.9)]);
    let go = |m: Message| match p.forward_stateless(m, Some(&loc)) {
        Ok(Action::ForwardStateless {
            message, next_hop, ..
        }) => (message, next_hop),
        other => panic!("{other:?}"),
    };
    let (m1, h1) = go(invite("sip:bob@example.com"));
    let (m2, h2) = go(invite("sip:bob@example.com"));
    assert_eq!(m1, m2, "a retransmission is forwarded identically");
    assert_eq!(h1, h2);
    assert_eq!(ruri(&m1), "sip:bob@198.51.100.1", "the highest q");
    // another proxy instance (another seed) computes the same branch
    let other = Proxy::with_seed(config(), 999);
    let Ok(Action::ForwardStateless { message: m3, .. }) =
        other.forward_stateless(invite("sip:bob@example.com"), Some(&loc))
    else {
        panic!()
    };
    assert_eq!(m3.branch(), m1.branch());
    // a different transaction gets a different branch
    let m = invite("sip:bob@example.com")
        .to_string()
        .replace("z9hG4bKupstream1", "z9hG4bKupstream2");
    let (m4, _) = go(Message::parse(m.into_bytes()).unwrap());
    assert_ne!(m4.branch(), m1.branch());
    // errors come back as responses
    let Err(Some(r)) = p.forward_stateless(invite("sip:nobody@example.com"), Some(&loc)) else {
        panic!()
    };
    assert_eq!(code(&r), 404);
}

#[test]
fn stateless_mode() {
    let mut c = config();
    c.mode = Mode::Stateless;
    let mut p = Proxy::with_seed(c, 1);
    let a = p.on_request(
        Instant::now(),
        TX,
        invite("sip:bob@example.com"),
        &bob(&[("sip:bob@198.51.100.1", 1.0)]),
    );
    assert!(matches!(&a[..], [Action::ForwardStateless { .. }]));
    assert!(p.is_empty());
}

#[test]
fn stateless_response_forwarding() {
    let p = proxy();
    let Ok(Action::ForwardStateless { message, .. }) =
        p.forward_stateless(invite("sip:carol@example.net"), None)
    else {
        panic!()
    };
    let resp = Message::from(response_to(
        message.as_request().unwrap(),
        StatusCode::OK,
        Some("z"),
    ));
    let up = p.forward_response_stateless(resp.clone()).unwrap();
    assert_eq!(up.vias().unwrap().len(), 1);
    assert_eq!(up.branch(), Some("z9hG4bKupstream1"));
    // not our Via on top: discarded
    assert!(p.forward_response_stateless(up).is_none());
}

#[test]
fn rewrite_top_via_keeps_branch() {
    let a = proxy().on_request(
        Instant::now(),
        TX,
        invite("sip:carol@example.net"),
        &no_lookup,
    );
    let mut m = forwards(&a)[0].request.clone();
    let b = m.branch().unwrap().to_string();
    sipline_proxy::rewrite_top_via(&mut m, "tcp", "198.51.100.77".parse().unwrap(), Some(5090));
    let v = m.top_via().unwrap();
    assert_eq!(v.transport, "TCP");
    assert_eq!(v.sent_by(), "198.51.100.77:5090");
    assert_eq!(v.branch(), Some(b.as_str()));
    assert_eq!(m.vias().unwrap().len(), 2);
}

/// A static route's next hops are failover alternatives: a gateway that
/// answers 503 (or times out) is followed by the next one; the last one's
/// answer goes upstream.
#[test]
fn static_route_fails_over_on_503_and_timeout() {
    let mut c = config();
    c.static_routes = vec![StaticRoute {
        matcher: RouteMatch::UserPrefix("+1".into()),
        next_hops: vec![
            uri("sip:gw1.example.net"),
            uri("sip:gw2.example.net"),
            uri("sip:gw3.example.net"),
        ],
        permanent: false,
    }];
    let now = Instant::now();
    let mut p = Proxy::with_seed(c, 9);
    let a = p.on_request(now, TX, invite("sip:+15551234@example.com"), &no_lookup);
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:+15551234@gw1.example.net");
    let a = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 503, "g1"));
    let f = forwards(&a);
    assert_eq!(f.len(), 1, "{:?}", codes(&a));
    assert_eq!(ruri(&f[0].request), "sip:+15551234@gw2.example.net");
    let a = p.on_branch_timeout(now, f[0].context, f[0].branch);
    let f = forwards(&a);
    assert_eq!(ruri(&f[0].request), "sip:+15551234@gw3.example.net");
    let a = p.on_response(now, f[0].context, f[0].branch, answer(&f[0], 200, "g3"));
    assert_eq!(codes(&a), [200]);
}
