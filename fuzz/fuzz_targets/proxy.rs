//! Fuzzes the proxy core (RFC 3261 §16, RFC 5658 double Record-Route,
//! RFC 5626 flow tokens) with hostile peers: the input is cut into messages
//! at each "\n--\n". A request goes to the core as if it came over the
//! transport its chunk's length picks (with a flow); a response is handed
//! to the branch forwarded most recently and also forwarded statelessly.
//! Every few messages the clock moves on, a context is cancelled or a
//! branch times out. Nothing may panic, every response the core makes must
//! serialize and parse again, and after the virtual time of every timer
//! the core must hold no finished context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_message::uri::SipUri;
use sipline_message::{Message, Transport, Uri};
use sipline_proxy::{
    Action, BranchId, ContextId, Inbound, Locator, Proxy, ProxyConfig, ServerTxId, Target,
};
use std::time::{Duration, Instant};

fn sip(s: &str) -> SipUri {
    SipUri::parse(s).unwrap()
}

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
    c.flow_token_key = Some([7; 32]);
    c.branch_timeout = Some(Duration::from_secs(2));
    c
}

/// bob has two contacts (one over a flow), carol none; every other user is
/// unknown. Flows ending in 9 are gone.
struct Loc;

impl Locator for Loc {
    fn lookup(&self, aor: &str) -> Option<Vec<Target>> {
        match aor {
            "sip:bob@example.com" => Some(vec![
                Target::new(Uri::parse("sip:bob@198.51.100.7:5062").unwrap()).with_q(0.5),
                Target::new(Uri::parse("sip:bob@198.51.100.8;transport=tcp").unwrap())
                    .with_flow_over("12", Transport::Tcp),
            ]),
            "sip:carol@example.com" => Some(Vec::new()),
            _ => None,
        }
    }

    fn flow_exists(&self, flow: &str) -> bool {
        !flow.ends_with('9')
    }
}

const TRANSPORTS: [Transport; 5] = [
    Transport::Udp,
    Transport::Tcp,
    Transport::Tls,
    Transport::Ws,
    Transport::Wss,
];

fn check(actions: &[Action], branches: &mut Vec<(ContextId, BranchId)>) {
    for a in actions {
        match a {
            Action::Respond { response, .. } => {
                let bytes = response.to_bytes();
                assert!(
                    Message::parse(bytes.clone()).is_ok(),
                    "the core made a response that does not parse: {:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            Action::Forward {
                context,
                branch,
                request,
                ..
            } => {
                let _ = request.to_bytes();
                branches.push((*context, *branch));
            }
            Action::Cancel { request, .. }
            | Action::ForwardStateless {
                message: request, ..
            } => {
                let _ = request.to_bytes();
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut proxy = Proxy::with_seed(config(), 1);
    let mut now = Instant::now();
    let mut branches: Vec<(ContextId, BranchId)> = Vec::new();
    let mut next_tx = 0;
    for (i, chunk) in split(data).enumerate() {
        now += Duration::from_millis(200);
        let actions = proxy.handle_timeout(now);
        check(&actions, &mut branches);
        let Ok(m) = Message::parse(bytes::Bytes::copy_from_slice(chunk)) else {
            continue;
        };
        let transport = TRANSPORTS[chunk.len() % TRANSPORTS.len()];
        let flow = format!("{}", chunk.len() % 20);
        let inbound = Inbound::new(transport).with_flow(flow, transport != Transport::Udp);
        if m.is_request() {
            let _ = proxy.forward_stateless_from(m.clone(), Some(&Loc), &inbound);
            next_tx += 1;
            let actions = proxy.on_request_from(now, ServerTxId(next_tx), m, &Loc, &inbound);
            check(&actions, &mut branches);
        } else {
            if let Some(&(c, b)) = branches.last() {
                let actions = proxy.on_response(now, c, b, m.clone());
                check(&actions, &mut branches);
            }
            let _ = proxy.forward_response_stateless(m);
        }
        if let Some(&(c, b)) = branches.get(i % branches.len().max(1)) {
            let actions = match i % 7 {
                3 => proxy.on_cancel(now, c),
                5 => proxy.on_branch_timeout(now, c, b),
                6 => proxy.on_branch_transport_error(now, c, b),
                _ => Vec::new(),
            };
            check(&actions, &mut branches);
        }
    }
    // Every timer: the core's own (branch timeouts) run out; each pending
    // branch then times out (as its transaction would, Timer B/F or C).
    for _ in 0..20 {
        now += Duration::from_secs(200);
        let actions = proxy.handle_timeout(now);
        check(&actions, &mut branches);
        for &(c, b) in branches.clone().iter() {
            let actions = proxy.on_branch_timeout(now, c, b);
            check(&actions, &mut branches);
        }
    }
    assert!(
        proxy.is_empty(),
        "{} contexts left after every branch timed out",
        proxy.len()
    );
});

/// The chunks of `data` between "\n--\n" separators.
fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.windows(4).position(|w| w == b"\n--\n") {
            Some(i) => {
                let chunk = &rest[..i];
                rest = &rest[i + 4..];
                Some(chunk)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}
