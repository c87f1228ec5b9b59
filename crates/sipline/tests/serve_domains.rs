//! Per-domain mode and Service-Route of `sipline serve`, from the outside,
//! over UDP on 127.0.0.1: a domain in "redirect" mode answers 302 (RFC 3261
//! §8.3) while the others are proxied (§16), and the other way round; a
//! bad `[[domain]]` stops the start with an error naming the key; the
//! registrar returns the configured Service-Route (RFC 3608 §6.3), which a
//! phone then preloads as Route (§6.1) and the proxy follows.

mod support;

use sipline_message::header::StdHeader;
use sipline_message::{Bytes, Message, Method, StatusCode};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::serve::{Serve, ServeOptions};
use support::{bin, drain, status, udp_socket, TempDir};

/// `sipline serve` on a free UDP port with these `[server]` keys and the
/// rest of the configuration (no users: open), and its banner's second line.
fn start(name: &str, server: &str, rest: &str) -> (Serve, String) {
    let options = ServeOptions::new(&format!("domains-{name}"));
    let data = options.data_dir();
    let serve = options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\ndata_dir = \"{}\"\n{server}\n{rest}",
            data.display()
        ))
        .start();
    let second = serve.next_line();
    (serve, second)
}

struct Ua {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Ua {
    fn new(server: SocketAddr) -> Self {
        let sock = udp_socket(Duration::from_secs(5));
        Self { sock, server }
    }

    fn send(&self, text: &str) {
        self.sock.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// Responses until the final one for `cseq`.
    fn final_for(&self, cseq: u32) -> Message {
        let mut buf = [0u8; 65535];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
            if status(&m) >= 200 && m.cseq().unwrap().seq == cseq {
                return m;
            }
        }
    }

    /// REGISTERs `user@domain` with these contacts (none: a fetch).
    fn register(&self, user: &str, domain: &str, cseq: u32, contacts: &[String]) -> Message {
        let l = self.sock.local_addr().unwrap();
        let mut text = format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKr{user}{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@{domain}>\r\nFrom: <sip:{user}@{domain}>;tag=r{user}\r\n\
Call-ID: reg-{user}-{}\r\nCSeq: {cseq} REGISTER\r\n",
            l.port()
        );
        for c in contacts {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.send(&text);
        self.final_for(cseq)
    }

    /// An INVITE to `uri`, with these Route values (RFC 3261 §8.1.2).
    fn invite(&self, uri: &str, id: &str, routes: &[String]) -> Message {
        let l = self.sock.local_addr().unwrap();
        let route = routes
            .iter()
            .map(|r| format!("Route: {r}\r\n"))
            .collect::<String>();
        self.send(&format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{id};rport\r\n\
Max-Forwards: 70\r\n{route}To: <{uri}>\r\nFrom: <sip:alice@{l}>;tag=a{id}\r\n\
Call-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{l}>\r\nContent-Length: 0\r\n\r\n"
        ));
        let r = self.final_for(1);
        if status(&r) >= 300 {
            // ACK for a non-2xx: same branch, to the server (§17.1.1.3)
            let to = r.headers().get(StdHeader::To).unwrap().to_string();
            self.send(&format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{id};rport\r\n\
Max-Forwards: 70\r\n{route}To: {to}\r\nFrom: <sip:alice@{l}>;tag=a{id}\r\n\
Call-ID: {id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            ));
        }
        r
    }
}

/// A phone that answers every INVITE 200 and reports each request it gets
/// (its Request-URI and top Route) for 10 s.
fn phone() -> (u16, mpsc::Receiver<(Method, String, Option<String>)>) {
    let sock = udp_socket(Duration::from_millis(50));
    let port = sock.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let mut buf = [0u8; 65535];
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(m) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            let Some(req) = m.as_request() else { continue };
            let route = m.headers().get(StdHeader::Route).map(|r| r.to_string());
            let _ = tx.send((req.method.clone(), req.uri.to_string(), route));
            if req.method == Method::Invite {
                let mut r = sipline_message::builder::response_to(
                    req,
                    StatusCode::OK,
                    Some(&format!("ph{port}")),
                );
                r.headers
                    .push(StdHeader::Contact, format!("<sip:ph@127.0.0.1:{port}>"));
                let _ = sock.send_to(&Message::from(r).to_bytes(), from);
            }
        }
    });
    (port, rx)
}

/// bob@proxied.test and carol@moved.test each register one phone; a call
/// to bob reaches his phone, a call to carol is redirected to hers.
/// `shown`: how the banner lists the domain whose mode is not the server's.
fn proxied_and_redirected(name: &str, server: &str, domains: &str, shown: &str) {
    let (server, banner) = start(name, server, domains);
    assert!(banner.contains(shown), "{banner}");
    let (bob, bob_rx) = phone();
    let (carol, carol_rx) = phone();
    let ua = Ua::new(server.udp());
    let r = ua.register(
        "bob",
        "proxied.test",
        1,
        &[format!("<sip:bob@127.0.0.1:{bob}>")],
    );
    assert_eq!(status(&r), 200, "{r}");
    let r = ua.register(
        "carol",
        "moved.test",
        2,
        &[format!("<sip:carol@127.0.0.1:{carol}>")],
    );
    assert_eq!(
        status(&r),
        200,
        "the registrar serves a redirect domain too: {r}"
    );

    let r = ua.invite("sip:bob@proxied.test", &format!("{name}1"), &[]);
    assert_eq!(status(&r), 200, "proxied: {r}");
    assert_eq!(r.to_tag(), Some(format!("ph{bob}").as_str()));
    let got = drain(&bob_rx, Duration::from_millis(300));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].1,
        format!("sip:bob@127.0.0.1:{bob}"),
        "retargeted to the binding"
    );

    let r = ua.invite("sip:carol@moved.test", &format!("{name}2"), &[]);
    assert_eq!(status(&r), 302, "redirected: {r}");
    let contacts = r.contacts().unwrap();
    assert_eq!(contacts.len(), 1, "{r}");
    assert_eq!(
        contacts[0].address().unwrap().uri.to_string(),
        format!("sip:carol@127.0.0.1:{carol}")
    );
    assert!(
        drain(&carol_rx, Duration::from_millis(300)).is_empty(),
        "a redirect server sends no request (§8.3)"
    );
}

#[test]
fn a_redirect_domain_in_a_proxy_server() {
    proxied_and_redirected(
        "inproxy",
        "mode = \"proxy\"",
        "[[domain]]\nname = \"proxied.test\"\n[[domain]]\nname = \"moved.test\"\nmode = \"redirect\"\n",
        "moved.test (redirect)",
    );
}

#[test]
fn a_proxy_domain_in_a_redirect_server() {
    // moved.test is redirected as every domain without a mode of its own
    proxied_and_redirected(
        "inredirect",
        "mode = \"redirect\"\ndomains = [\"moved.test\"]",
        "[[domain]]\nname = \"proxied.test\"\nmode = \"proxy\"\n",
        "proxied.test (proxy)",
    );
}

#[test]
fn a_redirect_domain_in_a_stateless_server() {
    let (server, banner) = start(
        "instateless",
        "mode = \"stateless\"",
        "[[domain]]\nname = \"moved.test\"\nmode = \"redirect\"\n",
    );
    assert!(banner.contains("moved.test (redirect)"), "{banner}");
    let (carol, carol_rx) = phone();
    let ua = Ua::new(server.udp());
    let r = ua.register(
        "carol",
        "moved.test",
        1,
        &[format!("<sip:carol@127.0.0.1:{carol}>")],
    );
    assert_eq!(status(&r), 200, "{r}");
    let r = ua.invite("sip:carol@moved.test", "stl1", &[]);
    assert_eq!(status(&r), 302, "{r}");
    assert!(drain(&carol_rx, Duration::from_millis(300)).is_empty());
}

#[test]
fn bad_domain_tables_stop_the_start_naming_the_key() {
    for (config, key) in [
        (
            "[[domain]]\nname = \"a.test\"\nmode = \"relay\"\n",
            "domain[0].mode",
        ),
        (
            "[[domain]]\nname = \"a.test\"\n[[domain]]\nname = \"b test\"\n",
            "domain[1].name",
        ),
        (
            "[server]\nmode = \"stateless\"\n[[domain]]\nname = \"a.test\"\nmode = \"proxy\"\n",
            "domain[0].mode",
        ),
        (
            "[registrar]\nservice_route = [\"sip:edge.test\"]\n",
            "registrar.service_route[0]",
        ),
    ] {
        let dir = TempDir::new("domains-bad");
        let path = dir.file("bad.toml");
        std::fs::write(&path, config).unwrap();
        let out = bin()
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(["--listen", "udp:127.0.0.1:0", "--data-dir"])
            .arg(dir.file("data"))
            .output()
            .unwrap();
        drop(dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {stderr}");
        assert!(
            stderr.contains(&format!("config: {key}:")),
            "{config}: {stderr}"
        );
    }
}

#[test]
fn service_route_is_returned_and_followed() {
    // the "home service proxy" the Service-Route names: a socket of ours
    let (hsp, hsp_rx) = phone();
    let (server, _) = start(
        "sr",
        "",
        &format!(
            "[registrar]\nservice_route = [\"sip:orig@127.0.0.1:{hsp};lr\", \"<sip:edge.invalid;lr>\"]\n\
             [[domain]]\nname = \"home.test\"\n"
        ),
    );
    let ua = Ua::new(server.udp());
    let sr = |m: &Message| -> Vec<String> {
        m.headers()
            .get_all(StdHeader::ServiceRoute)
            .map(|v| v.to_string())
            .collect()
    };
    let expected = [
        format!("<sip:orig@127.0.0.1:{hsp};lr>"),
        "<sip:edge.invalid;lr>".to_string(),
    ];
    let r = ua.register(
        "alice",
        "home.test",
        1,
        &["<sip:alice@192.0.2.10>".to_string()],
    );
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(sr(&r), expected, "in order (RFC 3608 §6.3)");
    // a fetch returns the same (§6.3: "SHOULD return the same value")
    let r = ua.register("alice", "home.test", 2, &[]);
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(sr(&r), expected);

    // alice preloads her outbound proxy (this server) and the service
    // route (§6.1): the server takes its own Route off and forwards to the
    // first Service-Route hop, which gets the rest
    let mut routes = vec![format!("<sip:{};lr>", server.udp())];
    routes.extend(expected.iter().cloned());
    let r = ua.invite("sip:carol@elsewhere.invalid", "srcall", &routes);
    assert_eq!(status(&r), 200, "{r}");
    let got = drain(&hsp_rx, Duration::from_millis(300));
    assert_eq!(got.len(), 1, "{got:?}");
    let (method, uri, route) = &got[0];
    assert_eq!(*method, Method::Invite);
    assert_eq!(
        uri, "sip:carol@elsewhere.invalid",
        "loose routing keeps the Request-URI"
    );
    assert_eq!(route.as_deref(), Some(expected[0].as_str()), "{got:?}");
}
