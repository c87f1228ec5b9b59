//! Record-Route across transports (RFC 5658 double Record-Route) and flow
//! tokens (RFC 5626 §5.2, §5.3), sans-IO: the values a dialog-creating
//! request gets, and where the dialog's later requests go when they come
//! back through them.

use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::uri::SipUri;
use sipline_message::{ByteString, Message, Transport, Uri};
use sipline_proxy::{Action, Inbound, Locator, Proxy, ProxyConfig, ServerTxId, Target};
use std::collections::HashMap;
use std::time::Instant;

const TX: ServerTxId = ServerTxId(1);
const KEY: [u8; 32] = [0x5a; 32];

fn sip(s: &str) -> SipUri {
    SipUri::parse(s).unwrap()
}

/// A proxy on 192.0.2.1 with a listener per transport, and a flow-token key.
fn config() -> ProxyConfig {
    let mut c = ProxyConfig::new(sip("sip:192.0.2.1:5060;lr"));
    c.domains = vec!["example.com".into()];
    c.listeners = vec![
        (Transport::Udp, sip("sip:192.0.2.1:5060")),
        (Transport::Tcp, sip("sip:192.0.2.1:5060;transport=tcp")),
        (Transport::Tls, sip("sips:192.0.2.1:5061")),
        (Transport::Ws, sip("sip:192.0.2.1:8080;transport=ws")),
        (Transport::Wss, sip("sips:192.0.2.1:8443;transport=ws")),
    ];
    c.flow_token_key = Some(KEY);
    c
}

fn proxy() -> Proxy {
    Proxy::with_seed(config(), 7)
}

/// Locates bob at `target`; flows in `gone` no longer exist.
struct Loc {
    bob: Vec<Target>,
    gone: Vec<&'static str>,
}

impl Locator for Loc {
    fn lookup(&self, aor: &str) -> Option<Vec<Target>> {
        (aor == "sip:bob@example.com").then(|| self.bob.clone())
    }

    fn flow_exists(&self, flow: &str) -> bool {
        !self.gone.contains(&flow)
    }
}

fn bob_at(target: Target) -> Loc {
    Loc {
        bob: vec![target],
        gone: Vec::new(),
    }
}

fn invite() -> Message {
    Message::parse(
        &b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKup1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=a1\r\n\
To: <sip:bob@example.com>\r\nCall-ID: rr-1@203.0.113.5\r\n\
CSeq: 1 INVITE\r\nContact: <sip:alice@203.0.113.5>\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .unwrap()
}

/// A request of the dialog with these Route values (top first).
fn in_dialog(method: &str, ruri: &str, routes: &[String]) -> Message {
    let route: String = routes.iter().map(|r| format!("Route: {r}\r\n")).collect();
    Message::parse(
        format!(
            "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKin{method}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\nCall-ID: rr-1@203.0.113.5\r\n\
CSeq: 2 {method}\r\n{route}Content-Length: 0\r\n\r\n"
        )
        .into_bytes(),
    )
    .unwrap()
}

/// The one request forwarded, its next hop and flow.
fn forwarded(actions: &[Action]) -> (Message, Uri, Option<String>) {
    match actions {
        [Action::Forward {
            request,
            next_hop,
            flow,
            ..
        }] => (request.clone(), next_hop.clone(), flow.clone()),
        [Action::ForwardStateless {
            message,
            next_hop,
            flow,
        }] => (message.clone(), next_hop.clone(), flow.clone()),
        other => panic!("one forward expected: {other:#?}"),
    }
}

fn code(actions: &[Action]) -> u16 {
    match actions {
        [Action::Respond { response, .. }] => response.as_response().unwrap().status.as_u16(),
        other => panic!("one response expected: {other:#?}"),
    }
}

fn record_routes(m: &Message) -> Vec<String> {
    m.headers()
        .values(StdHeader::RecordRoute)
        .map(|v| v.to_string())
        .collect()
}

fn user(value: &str) -> Option<String> {
    let na = NameAddr::parse(&ByteString::from(value)).unwrap();
    na.uri.as_sip().unwrap().user.clone()
}

/// The INVITE from `inbound` to bob at `target`: its Record-Route values.
fn record_route_for(inbound: &Inbound, target: Target) -> Vec<String> {
    let actions = proxy().on_request_from(Instant::now(), TX, invite(), &bob_at(target), inbound);
    record_routes(&forwarded(&actions).0)
}

#[test]
fn same_transport_both_sides_one_value() {
    let rr = record_route_for(
        &Inbound::new(Transport::Udp).with_flow("udp:203.0.113.5:5060@192.0.2.1:5060", false),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    assert_eq!(rr, ["<sip:192.0.2.1:5060;lr>"]);
}

#[test]
fn without_inbound_one_value_as_before() {
    // on_request knows nothing of the incoming side
    let actions = proxy().on_request(
        Instant::now(),
        TX,
        invite(),
        &bob_at(Target::new(
            Uri::parse("sip:bob@198.51.100.7:5062;transport=tcp").unwrap(),
        )),
    );
    assert_eq!(
        record_routes(&forwarded(&actions).0),
        ["<sip:192.0.2.1:5060;transport=tcp;lr>"]
    );
}

#[test]
fn rfc5658_transport_change_two_values_outgoing_on_top() {
    // UDP in, TCP out (the contact says so): §5 double Record-Route, the
    // value facing the next hop first; §6.2 a transport parameter on each
    let rr = record_route_for(
        &Inbound::new(Transport::Udp),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062;transport=tcp").unwrap()),
    );
    assert_eq!(
        rr,
        [
            "<sip:192.0.2.1:5060;transport=tcp;lr>",
            "<sip:192.0.2.1:5060;transport=udp;lr>"
        ]
    );
}

#[test]
fn rfc5658_tls_is_named_by_sips_never_transport_tls() {
    // TLS in (a connection: its flow gets a token), UDP out
    let rr = record_route_for(
        &Inbound::new(Transport::Tls).with_flow("12", true),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert_eq!(rr[0], "<sip:192.0.2.1:5060;transport=udp;lr>");
    assert!(rr[1].starts_with("<sips:ft-"), "{rr:?}");
    assert!(rr[1].ends_with("@192.0.2.1:5061;lr>"), "{rr:?}");
    assert!(!rr.iter().any(|v| v.contains("transport=tls")), "{rr:?}");
    // a SIPS contact reached over TLS: SIPS out, the UDP side stays SIP
    let rr = record_route_for(
        &Inbound::new(Transport::Udp),
        Target::new(Uri::parse("sips:bob@198.51.100.7:5063").unwrap()),
    );
    assert_eq!(
        rr,
        [
            "<sips:192.0.2.1:5061;lr>",
            "<sip:192.0.2.1:5060;transport=udp;lr>"
        ]
    );
}

/// RFC 3261 §16.6 step 4: a SIPS Request-URI makes the Record-Route URI
/// SIPS, and a SIPS URI is reached over TLS: when the request itself leaves
/// over plain TCP or WS (as the next hop's URI says), the value names our
/// TLS (for WS: WSS) listener, not the plain one with `sips:`.
#[test]
fn sips_request_uri_records_a_secure_listener() {
    for (route, facing) in [
        (
            "<sip:198.51.100.9:5060;transport=tcp;lr>",
            "<sips:192.0.2.1:5061;lr>",
        ),
        (
            "<sip:198.51.100.9:80;transport=ws;lr>",
            "<sips:192.0.2.1:8443;transport=ws;lr>",
        ),
    ] {
        let text = String::from_utf8(invite().to_bytes().to_vec())
            .unwrap()
            .replacen(
                "INVITE sip:bob@example.com",
                "INVITE sips:carol@example.net",
                1,
            )
            .replacen(
                "Max-Forwards: 70\r\n",
                &format!("Max-Forwards: 70\r\nRoute: {route}\r\n"),
                1,
            );
        let actions = proxy().on_request_from(
            Instant::now(),
            TX,
            Message::parse(text.into_bytes()).unwrap(),
            &bob_at(Target::new(Uri::parse("sip:unused@198.51.100.7").unwrap())),
            &Inbound::new(Transport::Udp),
        );
        let rr = record_routes(&forwarded(&actions).0);
        assert_eq!(rr[0], facing, "{route}: {rr:?}");
        assert!(
            !rr.iter()
                .any(|v| v.contains(":5060;transport=tcp") && v.starts_with("<sips:")),
            "{rr:?}"
        );
    }
}

/// RFC 7118 §5.2, §5.5: a SIPS next hop with `transport=ws` is WSS, so the
/// value facing it names our WSS listener, written `sips:...;transport=ws`
/// (no "wss"); a SIP one with `transport=ws` plain WS. `transport=wss`, as
/// some write it, is WSS too.
#[test]
fn rfc7118_sips_with_transport_ws_is_wss() {
    for (contact, facing) in [
        (
            "sips:bob@198.51.100.7:443;transport=ws",
            "<sips:192.0.2.1:8443;transport=ws;lr>",
        ),
        (
            "sips:bob@198.51.100.7:443;transport=wss",
            "<sips:192.0.2.1:8443;transport=ws;lr>",
        ),
        (
            "sip:bob@198.51.100.7:80;transport=ws",
            "<sip:192.0.2.1:8080;transport=ws;lr>",
        ),
    ] {
        let rr = record_route_for(
            &Inbound::new(Transport::Udp),
            Target::new(Uri::parse(contact).unwrap()),
        );
        assert_eq!(
            rr,
            [facing, "<sip:192.0.2.1:5060;transport=udp;lr>"],
            "{contact}"
        );
    }
}

/// The Via the core writes names the transport of its Record-Route URI as
/// that URI is read (RFC 3261 §18.1.1; RFC 7118 §5.1 "WSS"; the server
/// rewrites it for the transport actually used): SIPS with `transport=ws`
/// is WSS, SIPS alone TLS.
#[test]
fn via_transport_of_a_sips_record_route_uri() {
    for (rr, via) in [
        (
            "sips:192.0.2.1:8443;transport=ws;lr",
            "SIP/2.0/WSS 192.0.2.1:8443;",
        ),
        ("sips:192.0.2.1:5061;lr", "SIP/2.0/TLS 192.0.2.1:5061;"),
        ("sip:192.0.2.1:5060;lr", "SIP/2.0/UDP 192.0.2.1:5060;"),
    ] {
        let mut c = ProxyConfig::new(sip(rr));
        c.domains = vec!["example.com".into()];
        let mut p = Proxy::with_seed(c, 7);
        let actions = p.on_request(
            Instant::now(),
            TX,
            invite(),
            &bob_at(Target::new(
                Uri::parse("sip:bob@198.51.100.7:5062").unwrap(),
            )),
        );
        let (req, _, _) = forwarded(&actions);
        let top = req.headers().get(StdHeader::Via).unwrap().to_string();
        assert!(top.starts_with(via), "{rr}: {top}");
    }
}

#[test]
fn a_transport_without_listener_is_named_by_the_record_route_uri() {
    let mut c = config();
    c.listeners.retain(|(t, _)| *t == Transport::Udp);
    let mut p = Proxy::with_seed(c, 7);
    let actions = p.on_request_from(
        Instant::now(),
        TX,
        invite(),
        &bob_at(Target::new(
            Uri::parse("sip:bob@198.51.100.7:5062;transport=tcp").unwrap(),
        )),
        &Inbound::new(Transport::Udp),
    );
    assert_eq!(
        record_routes(&forwarded(&actions).0),
        ["<sip:192.0.2.1:5060;lr>"]
    );
}

#[test]
fn no_key_no_tokens() {
    let mut c = config();
    c.flow_token_key = None;
    let mut p = Proxy::with_seed(c, 7);
    let actions = p.on_request_from(
        Instant::now(),
        TX,
        invite(),
        &bob_at(Target::new(
            Uri::parse("sip:bob@198.51.100.7:5062").unwrap(),
        )),
        &Inbound::new(Transport::Tls).with_flow("12", true),
    );
    assert_eq!(
        record_routes(&forwarded(&actions).0),
        [
            "<sip:192.0.2.1:5060;transport=udp;lr>",
            "<sips:192.0.2.1:5061;lr>"
        ]
    );
}

/// Caller over TLS (flow "12"), callee registered over WS (flow "34"):
/// a token on each side; the dialog's requests each way go over the other
/// side's flow, the ACK (stateless) too.
#[test]
fn rfc5626_tokens_route_each_direction_over_its_flow() {
    let callee = Target::new(Uri::parse("sip:bob@df7jal23ls0d.invalid;transport=ws").unwrap())
        .with_flow_over("34", Transport::Ws);
    let caller = Inbound::new(Transport::Tls).with_flow("12", true);
    let mut p = proxy();
    let loc = bob_at(callee.clone());
    let actions = p.on_request_from(Instant::now(), TX, invite(), &loc, &caller);
    let (req, _, flow) = forwarded(&actions);
    assert_eq!(
        flow.as_deref(),
        Some("34"),
        "the INVITE goes over bob's flow"
    );
    let rr = record_routes(&req);
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(
        rr[0].starts_with("<sip:ft-") && rr[0].ends_with("@192.0.2.1:8080;transport=ws;lr>"),
        "{rr:?}"
    );
    assert!(
        rr[1].starts_with("<sips:ft-") && rr[1].ends_with("@192.0.2.1:5061;lr>"),
        "{rr:?}"
    );
    assert_ne!(user(&rr[0]), user(&rr[1]));

    // alice's route set is the reverse (§12.1.2): her BYE, over her flow
    let alice_routes = [rr[1].clone(), rr[0].clone()];
    let bye = in_dialog(
        "BYE",
        "sip:bob@df7jal23ls0d.invalid;transport=ws",
        &alice_routes,
    );
    let actions = p.on_request_from(Instant::now(), ServerTxId(2), bye, &loc, &caller);
    let (req, next_hop, flow) = forwarded(&actions);
    assert_eq!(flow.as_deref(), Some("34"), "{actions:#?}");
    assert_eq!(
        next_hop.to_string(),
        "sip:bob@df7jal23ls0d.invalid;transport=ws"
    );
    assert!(
        req.headers().get(StdHeader::Route).is_none(),
        "both of our values removed (RFC 5658 §5)"
    );
    assert!(req.headers().get(StdHeader::RecordRoute).is_none());

    // her ACK, stateless, the same way
    let ack = in_dialog(
        "ACK",
        "sip:bob@df7jal23ls0d.invalid;transport=ws",
        &alice_routes,
    );
    let (_, _, flow) = forwarded(&[p.forward_stateless_from(ack, Some(&loc), &caller).unwrap()]);
    assert_eq!(flow.as_deref(), Some("34"));

    // bob's BYE (his route set is the Record-Route as is), over alice's flow
    let bob_flow = Inbound::new(Transport::Ws).with_flow("34", true);
    let bye = in_dialog("BYE", "sip:alice@203.0.113.5", &rr);
    let actions = p.on_request_from(Instant::now(), ServerTxId(3), bye, &loc, &bob_flow);
    let (_, next_hop, flow) = forwarded(&actions);
    assert_eq!(flow.as_deref(), Some("12"));
    assert_eq!(next_hop.to_string(), "sip:alice@203.0.113.5");
}

#[test]
fn rfc5626_only_the_side_with_a_token_goes_over_a_flow() {
    // TLS caller with a token, UDP callee without one
    let caller = Inbound::new(Transport::Tls).with_flow("12", true);
    let rr = record_route_for(
        &caller,
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    let loc = bob_at(Target::new(Uri::parse("sip:unused@198.51.100.9").unwrap()));
    // the caller's BYE: the value facing bob has no token: by Request-URI
    let bye = in_dialog(
        "BYE",
        "sip:bob@198.51.100.7:5062",
        &[rr[1].clone(), rr[0].clone()],
    );
    let (_, next_hop, flow) =
        forwarded(&proxy().on_request_from(Instant::now(), TX, bye, &loc, &caller));
    assert_eq!(flow, None);
    assert_eq!(next_hop.to_string(), "sip:bob@198.51.100.7:5062");
    // bob's BYE over UDP: back over the caller's TLS connection
    let bye = in_dialog("BYE", "sips:alice@203.0.113.5", &rr);
    let (_, _, flow) = forwarded(&proxy().on_request_from(
        Instant::now(),
        TX,
        bye,
        &loc,
        &Inbound::new(Transport::Udp).with_flow("udp:198.51.100.7:5062@192.0.2.1:5060", false),
    ));
    assert_eq!(flow.as_deref(), Some("12"));
}

#[test]
fn rfc5626_a_token_naming_the_source_flow_is_not_followed() {
    // one value naming flow 12 (as after a single Record-Route): from flow 12
    // the request is "outgoing" (§5.3), routed by its Request-URI
    let rr = record_route_for(
        &Inbound::new(Transport::Tls).with_flow("12", true),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    let only = [rr[1].clone()];
    let loc = bob_at(Target::new(Uri::parse("sip:unused@198.51.100.9").unwrap()));
    let from = |flow: &str| Inbound::new(Transport::Tls).with_flow(flow, true);
    let bye = in_dialog("BYE", "sip:bob@198.51.100.7:5062", &only);
    let (_, _, flow) =
        forwarded(&proxy().on_request_from(Instant::now(), TX, bye, &loc, &from("12")));
    assert_eq!(flow, None);
    // from any other flow it is "incoming": over flow 12
    let bye = in_dialog("BYE", "sips:alice@203.0.113.5", &only);
    let (_, _, flow) =
        forwarded(&proxy().on_request_from(Instant::now(), TX, bye, &loc, &from("99")));
    assert_eq!(flow.as_deref(), Some("12"));
}

#[test]
fn rfc5626_tampered_token_is_403_and_a_gone_flow_430() {
    let rr = record_route_for(
        &Inbound::new(Transport::Udp),
        Target::new(Uri::parse("sips:bob@198.51.100.7:5063").unwrap())
            .with_flow_over("34", Transport::Tls),
    );
    let token = user(&rr[0]).unwrap();
    assert!(token.starts_with("ft-"), "{rr:?}");
    let alice =
        Inbound::new(Transport::Udp).with_flow("udp:203.0.113.5:5060@192.0.2.1:5060", false);
    let loc = bob_at(Target::new(Uri::parse("sip:unused@198.51.100.9").unwrap()));

    // one character of the token changed
    let last = token.chars().last().unwrap();
    let forged_token = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let forged = rr[0].replace(&token, &forged_token);
    let bye = in_dialog(
        "BYE",
        "sips:bob@198.51.100.7:5063",
        &[rr[1].clone(), forged.clone()],
    );
    assert_eq!(
        code(&proxy().on_request_from(Instant::now(), TX, bye, &loc, &alice)),
        403
    );
    // made by a proxy with another key (e.g. before a restart)
    let mut other = config();
    other.flow_token_key = Some([1; 32]);
    let bye = in_dialog(
        "BYE",
        "sips:bob@198.51.100.7:5063",
        &[rr[1].clone(), rr[0].clone()],
    );
    assert_eq!(
        code(&Proxy::with_seed(other, 7).on_request_from(Instant::now(), TX, bye, &loc, &alice)),
        403
    );
    // an ACK is never answered: dropped
    let ack = in_dialog(
        "ACK",
        "sips:bob@198.51.100.7:5063",
        &[rr[1].clone(), forged],
    );
    assert!(matches!(
        proxy().forward_stateless_from(ack, Some(&loc), &alice),
        Err(None)
    ));

    // the flow is gone: 430 Flow Failed (§11.5)
    let gone = Loc {
        bob: Vec::new(),
        gone: vec!["34"],
    };
    let bye = in_dialog(
        "BYE",
        "sips:bob@198.51.100.7:5063",
        &[rr[1].clone(), rr[0].clone()],
    );
    let actions = proxy().on_request_from(Instant::now(), TX, bye, &gone, &alice);
    assert_eq!(code(&actions), 430);
    let Action::Respond { response, .. } = &actions[0] else {
        unreachable!()
    };
    assert_eq!(
        response.as_response().unwrap().reason.to_string(),
        "Flow Failed"
    );
}

#[test]
fn without_a_key_a_token_like_user_is_just_our_route() {
    let mut c = config();
    c.flow_token_key = None;
    let loc: HashMap<String, Vec<Target>> = HashMap::new();
    let bye = in_dialog(
        "BYE",
        "sip:bob@198.51.100.7:5062",
        &["<sip:ft-garbage@192.0.2.1:5060;transport=udp;lr>".to_string()],
    );
    let (req, next_hop, flow) = forwarded(&Proxy::with_seed(c, 7).on_request_from(
        Instant::now(),
        TX,
        bye,
        &loc,
        &Inbound::new(Transport::Udp),
    ));
    assert_eq!(flow, None);
    assert_eq!(next_hop.to_string(), "sip:bob@198.51.100.7:5062");
    assert!(req.headers().get(StdHeader::Route).is_none());
}

#[test]
fn udp_flow_of_an_outbound_registration_gets_a_token() {
    // the server says the UDP flow is to be used back (flow_token: true)
    let rr = record_route_for(
        &Inbound::new(Transport::Udp).with_flow("udp:203.0.113.5:5060@192.0.2.1:5060", true),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert_eq!(rr[0], "<sip:192.0.2.1:5060;transport=udp;lr>");
    assert!(
        rr[1].starts_with("<sip:ft-") && rr[1].ends_with("@192.0.2.1:5060;transport=udp;lr>"),
        "{rr:?}"
    );
    // and a UDP flow from the location service gets one on the other side
    let rr = record_route_for(
        &Inbound::new(Transport::Udp),
        Target::new(Uri::parse("sip:bob@10.0.0.7:5062").unwrap())
            .with_flow_over("udp:198.51.100.7:40000@192.0.2.1:5060", Transport::Udp),
    );
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(rr[0].starts_with("<sip:ft-"), "{rr:?}");
}

#[test]
fn strict_router_restores_a_request_uri_that_is_our_tokened_value() {
    // §16.4: a strict router upstream put our (tokened) value in the
    // Request-URI and the remote target last in Route
    let rr = record_route_for(
        &Inbound::new(Transport::Tls).with_flow("12", true),
        Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()),
    );
    let ours = NameAddr::parse(&ByteString::from(rr[1].as_str()))
        .unwrap()
        .uri
        .to_string();
    let bye = in_dialog("BYE", &ours, &["<sip:bob@198.51.100.7:5062>".to_string()]);
    let loc = bob_at(Target::new(Uri::parse("sip:unused@198.51.100.9").unwrap()));
    let (req, next_hop, _) = forwarded(&proxy().on_request_from(
        Instant::now(),
        TX,
        bye,
        &loc,
        &Inbound::new(Transport::Udp),
    ));
    assert_eq!(next_hop.to_string(), "sip:bob@198.51.100.7:5062");
    assert_eq!(
        req.as_request().unwrap().uri.to_string(),
        "sip:bob@198.51.100.7:5062"
    );
}
