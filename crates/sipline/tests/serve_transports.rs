//! `sipline serve` on every transport at once (UDP, TCP, TLS, WS, WSS),
//! from the outside, on 127.0.0.1 with ports picked free: `sipline options`
//! over TLS (trusting a test CA written here), WS and WSS gets 200 from the
//! server itself; a phone registers over TCP and is called through the
//! proxy by a caller on UDP (RFC 3261 §18: the proxy opens a TCP connection
//! to the registered Contact and puts a TCP Via on top, and record-routes
//! both sides, RFC 5658 §5). User agents that only connect out (TLS and WS
//! clients with no listener for them) are reached inside a dialog over the
//! connection they opened (RFC 5626 §5.3 flow tokens in Record-Route):
//! as callee, and as caller.

mod support;

use sipline_message::header::StdHeader;
use sipline_message::parse::{frame, Frame};
use sipline_message::{Bytes, Message, Method, ParseOptions, StatusCode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Output;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::serve::{Serve, ServeOptions};
use support::{bin, status, test_certs, text, udp_socket};

/// `sipline serve` on UDP, TCP, TLS, WS and WSS, its certificate signed
/// by a test CA; returns the CA's file.
fn start(name: &str) -> (Serve, PathBuf) {
    let options = ServeOptions::new(&format!("transports-{name}"));
    let dir = options.dir().to_path_buf();
    let certs = test_certs();
    std::fs::write(dir.join("cert.pem"), certs.cert).unwrap();
    std::fs::write(dir.join("key.pem"), certs.key).unwrap();
    std::fs::write(dir.join("ca.pem"), certs.ca).unwrap();
    let data = options.data_dir();
    let server = options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\", \"tls:127.0.0.1:0\", \
             \"ws:127.0.0.1:0\", \"wss:127.0.0.1:0\"]\n\
             data_dir = \"{}\"\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            data.display(),
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ))
        .start();
    assert_eq!(server.listeners().len(), 5, "{}", server.banner());
    (server, dir.join("ca.pem"))
}

fn options(args: &[&str]) -> Output {
    bin()
        .arg("options")
        .args(["--timeout", "10"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn options_over_tls_ws_and_wss_get_200_from_the_server() {
    let (server, ca) = start("options");
    let ca = ca.to_str().unwrap();
    for (transport, ca) in [
        ("tls", Some(ca)),
        ("ws", None),
        ("wss", Some(ca)),
        ("tcp", None),
        ("udp", None),
    ] {
        let uri = format!("sip:{}", server.addr(transport));
        let mut args = vec![uri.as_str(), "--transport", transport, "-v"];
        if let Some(ca) = ca {
            args.extend(["--ca", ca]);
        }
        let out = options(&args);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{transport}: {}{stdout}",
            text(&out.stderr)
        );
        assert!(
            stdout.starts_with("SIP/2.0 200 OK"),
            "{transport}: {stdout}"
        );
        // answered by sipline serve itself (the OPTIONS is for it)
        assert!(stdout.contains("Server: sipline/"), "{transport}: {stdout}");
        assert!(stdout.contains("REGISTER"), "{transport}: Allow: {stdout}");
        assert!(
            text(&out.stderr).contains(&format!("over {}", transport.to_ascii_uppercase())),
            "{transport}: {}",
            text(&out.stderr)
        );
    }
    // the server's certificate is checked: without the CA, TLS fails
    let out = options(&[&format!("sip:{}", server.addr("tls")), "--transport", "tls"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

/// A SIP connection: messages framed by Content-Length (RFC 3261 §18.3).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, m: &[u8]) {
        self.stream.write_all(m).unwrap();
    }

    /// The next message within `within`, or None.
    fn recv(&mut self, within: Duration) -> Option<Message> {
        let deadline = Instant::now() + within;
        loop {
            match frame(&self.buf, &ParseOptions::default()) {
                Ok(Frame::Keepalive(n)) => {
                    self.buf.drain(..n);
                    continue;
                }
                Ok(Frame::Message(n)) => {
                    let bytes: Vec<u8> = self.buf.drain(..n).collect();
                    return Message::parse(Bytes::from(bytes)).ok();
                }
                Ok(Frame::Incomplete) => {}
                Err(e) => panic!("bad stream: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }
}

/// What the TCP phone saw: each request's method, top Via, and the
/// connection's remote address.
struct Seen {
    method: Method,
    top_via: String,
    peer: SocketAddr,
}

/// A phone that accepts TCP connections on `listener` for `run_for`,
/// answers INVITE with 180 then 200 (its Contact on TCP, the
/// Record-Route copied, §12.1.1), and BYE with 200.
fn tcp_phone(listener: TcpListener, run_for: Duration) -> mpsc::Receiver<Seen> {
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let deadline = Instant::now() + run_for;
        while Instant::now() < deadline {
            let Ok((stream, peer)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::new(stream);
                while Instant::now() < deadline {
                    let Some(m) = conn.recv(Duration::from_millis(200)) else {
                        continue;
                    };
                    let Some(req) = m.as_request() else { continue };
                    let _ = tx.send(Seen {
                        method: req.method.clone(),
                        top_via: m
                            .headers()
                            .get(StdHeader::Via)
                            .map(|v| v.to_string())
                            .unwrap_or_default(),
                        peer,
                    });
                    let reply = |code: u16| {
                        let mut r = sipline_message::builder::response_to(
                            req,
                            StatusCode::new(code).unwrap(),
                            Some("tcpphone"),
                        );
                        if code == 200 && req.method == Method::Invite {
                            r.headers.push(
                                StdHeader::Contact,
                                format!("<sip:bob@127.0.0.1:{port};transport=tcp>"),
                            );
                            for rr in m.headers().get_all(StdHeader::RecordRoute) {
                                r.headers.push(StdHeader::RecordRoute, rr.clone());
                            }
                        }
                        Message::from(r).to_bytes()
                    };
                    match req.method {
                        Method::Invite => {
                            conn.send(&reply(180));
                            conn.send(&reply(200));
                        }
                        Method::Bye => conn.send(&reply(200)),
                        _ => {}
                    }
                }
            });
        }
    });
    rx
}

#[test]
fn register_over_tcp_then_a_call_from_udp_reaches_it_over_tcp() {
    let (server, _) = start("tcpcall");
    let tcp = server.addr("tcp");
    let udp = server.addr("udp");

    // bob listens on TCP and registers that address, over a TCP connection
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let bob_port = listener.local_addr().unwrap().port();
    let seen = tcp_phone(listener, Duration::from_secs(20));
    let mut reg = Conn::new(TcpStream::connect(tcp).unwrap());
    let local = reg.stream.local_addr().unwrap();
    reg.send(
        format!(
            "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/TCP {local};branch=z9hG4bKtcpreg1\r\nMax-Forwards: 70\r\n\
To: <sip:bob@127.0.0.1:{port}>\r\nFrom: <sip:bob@127.0.0.1:{port}>;tag=r1\r\n\
Call-ID: tcpreg-bob\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:bob@127.0.0.1:{bob_port};transport=tcp>\r\nExpires: 600\r\n\
Content-Length: 0\r\n\r\n",
            port = tcp.port()
        )
        .as_bytes(),
    );
    // the answer comes back on the same connection (§18.2.2)
    let ok = loop {
        let m = reg
            .recv(Duration::from_secs(5))
            .expect("REGISTER answered over TCP");
        if status(&m) >= 200 {
            break m;
        }
    };
    assert_eq!(status(&ok), 200, "{ok}");
    let contacts = ok.contacts().unwrap();
    assert_eq!(contacts.len(), 1, "{ok}");
    assert_eq!(
        contacts[0].address().unwrap().uri.to_string(),
        format!("sip:bob@127.0.0.1:{bob_port};transport=tcp")
    );

    // alice calls bob's address of record over UDP
    let alice = udp_socket(Duration::from_secs(5));
    let a = alice.local_addr().unwrap();
    let request = |method: &str, branch: &str, cseq: u32, uri: &str, extra: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\n\
Max-Forwards: 70\r\n{extra}To: <sip:bob@127.0.0.1:{p}>\r\nFrom: <sip:alice@127.0.0.1:{p}>;tag=a1\r\n\
Call-ID: tcpcall-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{a}>\r\nContent-Length: 0\r\n\r\n",
            p = udp.port()
        )
    };
    let aor = format!("sip:bob@127.0.0.1:{}", udp.port());
    alice
        .send_to(
            request("INVITE", "z9hG4bKtcpcall1", 1, &aor, "").as_bytes(),
            udp,
        )
        .unwrap();
    let mut buf = [0u8; 65535];
    let mut statuses = Vec::new();
    let ok = loop {
        let (n, _) = alice.recv_from(&mut buf).expect("a response to the INVITE");
        let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
        statuses.push(status(&m));
        if status(&m) >= 200 {
            break m;
        }
    };
    assert_eq!(status(&ok), 200, "{statuses:?} {ok}");
    assert!(statuses.contains(&180), "{statuses:?}");
    // UDP in, TCP out: two values, the one facing bob on top, each with
    // its transport (RFC 5658 §5, §6.2); bob's side is no flow of his (the
    // proxy opened that connection to his Contact): no token
    let rr: Vec<String> = ok
        .headers()
        .values(StdHeader::RecordRoute)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        rr,
        [
            format!("<sip:{tcp};transport=tcp;lr>"),
            format!("<sip:{udp};transport=udp;lr>")
        ]
    );

    // ACK and BYE to bob's TCP Contact, through the proxy by the route set
    // (alice's: the Record-Route reversed, RFC 3261 §12.1.2)
    let to_tag = ok.to_tag().unwrap().to_string();
    let target = ok.contacts().unwrap()[0].address().unwrap().uri.to_string();
    let extra = format!("Route: {}\r\nRoute: {}\r\n", rr[1], rr[0]);
    let in_dialog = |method: &str, branch: &str, cseq: u32| {
        request(method, branch, cseq, &target, &extra).replace(
            &format!("To: <{aor}>"),
            &format!("To: <{aor}>;tag={to_tag}"),
        )
    };
    alice
        .send_to(in_dialog("ACK", "z9hG4bKtcpack1", 1).as_bytes(), udp)
        .unwrap();
    alice
        .send_to(in_dialog("BYE", "z9hG4bKtcpbye1", 2).as_bytes(), udp)
        .unwrap();
    let bye_ok = loop {
        let (n, _) = alice.recv_from(&mut buf).expect("a response to the BYE");
        let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
        if m.cseq().unwrap().method == Method::Bye && status(&m) >= 200 {
            break m;
        }
    };
    assert_eq!(status(&bye_ok), 200, "{bye_ok}");

    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(2);
    while got.len() < 3 {
        let left = end.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(s) => got.push(s),
            Err(_) => break,
        }
    }
    let methods: Vec<&Method> = got.iter().map(|s| &s.method).collect();
    assert_eq!(methods, [&Method::Invite, &Method::Ack, &Method::Bye]);
    for s in &got {
        // over TCP, from the proxy: its Via says TCP and its TCP listener
        // (§18.1.1 sent-by: where responses on other connections would go)
        assert!(
            s.top_via.starts_with("SIP/2.0/TCP ") && s.top_via.contains(&tcp.to_string()),
            "{:?}: {}",
            s.method,
            s.top_via
        );
        assert_eq!(s.peer.ip(), tcp.ip());
    }
}

/// The user agent as a client of TLS, WS and WSS (RFC 5630, RFC 7118):
/// alice sends her INVITE through the proxy over each (an outbound proxy
/// URI naming the transport), bob answers on UDP; the call has RTP both
/// ways and ends with alice's BYE. Inside the dialog alice follows the
/// route set, whose first value names serve's listener for her transport
/// (RFC 5658 double Record-Route), so her BYE goes over it too. WSS is
/// named as RFC 7118 §5.2, §5.5 has it, a SIPS URI with `transport=ws`
/// (which serve also writes in its Record-Route), and as some write it,
/// `transport=wss`.
#[test]
fn user_agent_calls_over_tls_ws_and_wss() {
    let (server, ca) = start("ua");
    let ca = ca.to_str().unwrap();
    let udp = server.addr("udp");
    for (n, (transport, scheme, param)) in [
        ("tls", "sip", "tls"),
        ("ws", "sip", "ws"),
        ("wss", "sips", "ws"),
        ("wss", "sip", "wss"),
    ]
    .into_iter()
    .enumerate()
    {
        let bob = format!("sip:bob-{n}@{udp}");
        let mut answer = support::Child::spawn(
            "sipline answer",
            bin()
                .args([
                    "answer",
                    "--register",
                    &format!("sip:{udp}"),
                    "--from",
                    &bob,
                    "--count",
                    "1",
                    "--listen",
                    "127.0.0.1:0",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        let proxy = format!("{scheme}:{};transport={param}", server.addr(transport));
        // The registration is the first thing answer does: retry briefly.
        let until = Instant::now() + Duration::from_secs(10);
        let out = loop {
            let out = bin()
                .args([
                    "call",
                    &bob,
                    "--proxy",
                    &proxy,
                    "--ca",
                    ca,
                    "--duration",
                    "0.5",
                    "--json",
                    "--trace",
                ])
                .output()
                .unwrap();
            if out.status.success() || Instant::now() > until {
                break out;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        assert!(out.status.success(), "{proxy}: {}", text(&out.stderr));
        let trace = text(&out.stderr);
        let upper = transport.to_ascii_uppercase();
        assert!(
            trace.contains(&format!("--> {upper} ")) && trace.contains("INVITE sip:bob"),
            "{proxy}: the INVITE went over {upper}:\n{trace}\n{}",
            text(&out.stdout)
        );
        assert!(
            sent_over(&trace, &upper, "BYE "),
            "{proxy}: the BYE went over {upper} (the route set names that listener):\n{trace}"
        );
        let events = support::json_lines(&out.stdout);
        let media = support::find_event(&events, "media").expect("media stats");
        assert!(
            media["packets_received"].as_u64().unwrap() >= 10,
            "{proxy}: {media}"
        );
        assert_eq!(
            support::find_event(&events, "ended").unwrap()["reason"],
            "LocalBye"
        );
        assert!(
            answer.wait(Duration::from_secs(10)).success(),
            "{proxy}: bob got the BYE and exits after his call"
        );
    }
}

/// True if the `--trace` ladder shows a message starting with `start` sent
/// (`-->`) over `transport` (e.g. "TLS").
fn sent_over(trace: &str, transport: &str, start: &str) -> bool {
    ladder_has(trace, "-->", transport, start)
}

/// True if the `--trace` ladder shows a message starting with `start`
/// received (`<--`) over `transport`.
fn received_over(trace: &str, transport: &str, start: &str) -> bool {
    ladder_has(trace, "<--", transport, start)
}

/// A ladder line is "SECS ARROW TRANSPORT PEER  FIRST-LINE".
fn ladder_has(trace: &str, arrow: &str, transport: &str, start: &str) -> bool {
    trace.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next().is_some_and(|t| t.parse::<f64>().is_ok())
            && words.next() == Some(arrow)
            && words.next() == Some(transport)
            && words.nth(1).is_some_and(|first| start.starts_with(first))
            && l.contains(start)
    })
}

/// A `sipline` user-agent command running in the background, its standard
/// output and error (`--json` events, `--trace` ladder) in files of `dir`.
struct Agent {
    child: support::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Agent {
    fn spawn(name: &'static str, dir: &std::path::Path, args: &[&str]) -> Agent {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = support::Child::spawn(
            name,
            bin()
                .args(args)
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&err).unwrap()),
        );
        Agent { child, out, err }
    }

    fn events(&self) -> Vec<serde_json::Value> {
        support::events(&support::read(&self.out))
    }

    fn trace(&self) -> String {
        support::read(&self.err)
    }

    /// Waits (at most `within`) for an event of this kind.
    fn wait_event(&self, kind: &str, within: Duration) -> serde_json::Value {
        let until = Instant::now() + within;
        loop {
            if let Some(e) = support::find_event(&self.events(), kind) {
                return e.clone();
            }
            assert!(
                Instant::now() < until,
                "no {kind:?} event within {within:?}: {:?}\n{}",
                self.events(),
                self.trace()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most `within`) for it to exit; true if it succeeded.
    fn wait(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait() {
                return s.success();
            }
            assert!(
                Instant::now() < until,
                "still running after {within:?}: {:?}\n{}",
                self.events(),
                self.trace()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Bob registers over `transport` (a TLS or WS client: nothing listens
/// on the transport his Contact names) with outbound (RFC 5626), so serve
/// reaches him over his flow. Alice calls him from UDP and hangs up after
/// a second: her ACK and BYE follow the route set to serve, and serve
/// sends them down bob's connection, by the flow token in the Record-Route
/// value facing him (RFC 5626 §5.3). Bob sees the remote BYE.
fn callee_over_a_connection_gets_the_callers_bye(transport: &str) {
    let (server, ca) = start(&format!("callee-{transport}"));
    let udp = server.addr("udp");
    let upper = transport.to_ascii_uppercase();
    let registrar = format!("sip:{}", server.addr(transport));
    let bob_aor = format!("sip:bob@{udp}");
    let mut bob = Agent::spawn(
        "bob",
        server.dir(),
        &[
            "answer",
            "--register",
            &registrar,
            "--transport",
            transport,
            "--outbound",
            "--ca",
            ca.to_str().unwrap(),
            "--from",
            &bob_aor,
            "--count",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--trace",
        ],
    );
    bob.wait_event("registered", Duration::from_secs(10));
    let out = bin()
        .args([
            "call",
            &bob_aor,
            "--from",
            &format!("sip:alice@{udp}"),
            "--duration",
            "1",
            "--timeout",
            "10",
            "--json",
            "--trace",
        ])
        .output()
        .unwrap();
    let alice = text(&out.stderr);
    assert!(
        out.status.success(),
        "{transport}: {alice}\n{}",
        bob.trace()
    );
    let events = support::json_lines(&out.stdout);
    assert_eq!(
        support::find_event(&events, "ended").unwrap()["reason"],
        "LocalBye",
        "{events:?}"
    );
    // alice's in-dialog requests went to serve over UDP
    assert!(sent_over(&alice, "UDP", "BYE sip"), "{alice}");
    assert!(
        bob.wait(Duration::from_secs(10)),
        "{transport}: bob's call went as planned"
    );
    let bob_events = bob.events();
    let ended = support::find_event(&bob_events, "ended").expect("bob's call ended");
    assert_eq!(ended["reason"], "RemoteBye", "{bob_events:?}");
    // the ACK and the BYE reached bob over his own connection
    let trace = bob.trace();
    assert!(received_over(&trace, &upper, "ACK sip"), "{trace}");
    assert!(received_over(&trace, &upper, "BYE sip"), "{trace}");
}

#[test]
fn callee_registered_over_tls_without_listener_gets_the_bye() {
    callee_over_a_connection_gets_the_callers_bye("tls");
}

#[test]
fn callee_registered_over_ws_without_listener_gets_the_bye() {
    callee_over_a_connection_gets_the_callers_bye("ws");
}

/// Alice calls over TLS (a TLS client: her Contact names no TLS listener)
/// and waits; bob, on UDP, answers and hangs up after a second. His BYE
/// follows his route set to serve's UDP listener, and serve sends it down
/// alice's TLS connection, by the flow token in the Record-Route value
/// facing her (RFC 5626 §5.3). Alice sees the remote BYE.
#[test]
fn caller_over_tls_without_listener_gets_the_callees_bye() {
    let (server, ca) = start("caller-tls");
    let udp = server.addr("udp");
    let bob_aor = format!("sip:bob@{udp}");
    let mut bob = Agent::spawn(
        "bob",
        server.dir(),
        &[
            "answer",
            "--register",
            &format!("sip:{udp}"),
            "--from",
            &bob_aor,
            "--count",
            "1",
            "--duration",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--trace",
        ],
    );
    bob.wait_event("registered", Duration::from_secs(10));
    let mut alice = Agent::spawn(
        "alice",
        server.dir(),
        &[
            "call",
            &bob_aor,
            "--proxy",
            &format!("sip:{};transport=tls", server.addr("tls")),
            "--ca",
            ca.to_str().unwrap(),
            "--from",
            &format!("sip:alice@{udp}"),
            "--timeout",
            "10",
            "--json",
            "--trace",
        ],
    );
    // no --duration: alice's call ends only by bob's BYE
    assert!(
        alice.wait(Duration::from_secs(15)),
        "alice's call: {:?}\n{}",
        alice.events(),
        alice.trace()
    );
    let events = alice.events();
    assert_eq!(
        support::find_event(&events, "ended").unwrap()["reason"],
        "RemoteBye",
        "{events:?}"
    );
    let trace = alice.trace();
    assert!(received_over(&trace, "TLS", "BYE sip"), "{trace}");
    assert!(bob.wait(Duration::from_secs(10)), "bob: {:?}", bob.events());
    assert_eq!(
        support::find_event(&bob.events(), "ended").unwrap()["reason"],
        "LocalBye"
    );
    // bob sent his BYE to serve over UDP (his route set's first value)
    assert!(sent_over(&bob.trace(), "UDP", "BYE sip"), "{}", bob.trace());
}

/// RFC 5626 §5.3.1 over real sockets: bob registers with outbound over a
/// TCP connection of his own (no listener), answers a call from alice on
/// UDP, and the Record-Route value facing him carries a flow token. A BYE
/// whose token was changed gets 403 (Forbidden); once bob's connection is
/// closed, the genuine route gets 430 (Flow Failed, §11.5).
#[test]
fn forged_flow_token_is_403_and_a_closed_flow_430() {
    let (server, _) = start("flow-token");
    let tcp = server.addr("tcp");
    let udp = server.addr("udp");
    let p = udp.port();
    let aor = format!("sip:bob@127.0.0.1:{p}");

    let mut bob = Conn::new(TcpStream::connect(tcp).unwrap());
    let local = bob.stream.local_addr().unwrap();
    bob.send(
        format!(
            "REGISTER sip:127.0.0.1:{p} SIP/2.0\r\n\
Via: SIP/2.0/TCP {local};branch=z9hG4bKflowreg1\r\nMax-Forwards: 70\r\n\
To: <{aor}>\r\nFrom: <{aor}>;tag=r1\r\nCall-ID: flowreg-bob\r\nCSeq: 1 REGISTER\r\n\
Supported: outbound\r\n\
Contact: <sip:bob@{local};transport=tcp;ob>;reg-id=1;\
+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-000000000001>\"\r\n\
Expires: 600\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let ok = loop {
        let m = bob.recv(Duration::from_secs(5)).expect("REGISTER answered");
        if status(&m) >= 200 {
            break m;
        }
    };
    assert_eq!(status(&ok), 200, "{ok}");

    // alice calls; the INVITE comes down bob's connection (his flow)
    let alice = udp_socket(Duration::from_secs(5));
    let a = alice.local_addr().unwrap();
    let request = |method: &str, branch: &str, cseq: u32, uri: &str, extra: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\n\
Max-Forwards: 70\r\n{extra}To: <{aor}>\r\nFrom: <sip:alice@127.0.0.1:{p}>;tag=a1\r\n\
Call-ID: flowcall-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{a}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    alice
        .send_to(
            request("INVITE", "z9hG4bKflowinv1", 1, &aor, "").as_bytes(),
            udp,
        )
        .unwrap();
    let invite = loop {
        let m = bob
            .recv(Duration::from_secs(5))
            .expect("the INVITE over bob's flow");
        if m.as_request().is_some_and(|r| r.method == Method::Invite) {
            break m;
        }
    };
    let mut r = sipline_message::builder::response_to(
        invite.as_request().unwrap(),
        StatusCode::OK,
        Some("b1"),
    );
    r.headers.push(
        StdHeader::Contact,
        format!("<sip:bob@{local};transport=tcp>"),
    );
    for rr in invite.headers().get_all(StdHeader::RecordRoute) {
        r.headers.push(StdHeader::RecordRoute, rr.clone());
    }
    bob.send(&Message::from(r).to_bytes());
    let mut buf = [0u8; 65535];
    let ok = loop {
        let (n, _) = alice.recv_from(&mut buf).expect("a response to the INVITE");
        let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
        if status(&m) >= 200 {
            break m;
        }
    };
    assert_eq!(status(&ok), 200, "{ok}");
    let rr: Vec<String> = ok
        .headers()
        .values(StdHeader::RecordRoute)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(
        rr[0].starts_with("<sip:ft-") && rr[0].ends_with(&format!("@{tcp};transport=tcp;lr>")),
        "{rr:?}"
    );
    assert_eq!(rr[1], format!("<sip:{udp};transport=udp;lr>"));

    let target = format!("sip:bob@{local};transport=tcp");
    let bye = |branch: &str, cseq: u32, routes: &[&str]| {
        let extra: String = routes.iter().map(|r| format!("Route: {r}\r\n")).collect();
        request("BYE", branch, cseq, &target, &extra)
            .replace(&format!("To: <{aor}>"), &format!("To: <{aor}>;tag=b1"))
    };
    let bye_status = |msg: String| -> u16 {
        alice.send_to(msg.as_bytes(), udp).unwrap();
        let mut buf = [0u8; 65535];
        loop {
            let (n, _) = alice.recv_from(&mut buf).expect("a response to the BYE");
            let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
            if m.cseq().unwrap().method == Method::Bye && status(&m) >= 200 {
                return status(&m);
            }
        }
    };
    // one character of the token changed: 403, and nothing reaches bob
    let token = rr[0]
        .trim_start_matches("<sip:")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    let last = token.chars().last().unwrap();
    let forged = rr[0].replace(
        &token,
        &format!(
            "{}{}",
            &token[..token.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        ),
    );
    assert_eq!(
        bye_status(bye("z9hG4bKflowbye1", 2, &[&rr[1], &forged])),
        403
    );
    assert!(
        bob.recv(Duration::from_millis(300)).is_none(),
        "the forged BYE went nowhere"
    );

    // bob's connection closes: his flow is gone, 430
    drop(bob);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        bye_status(bye("z9hG4bKflowbye2", 3, &[&rr[1], &rr[0]])),
        430
    );
}
