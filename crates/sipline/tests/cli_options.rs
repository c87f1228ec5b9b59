//! `sipline options` end to end: the real binary against responders built
//! on sipline's transport layer, on 127.0.0.1 with ports picked free.

mod support;

use sipline_message::Transport;
use sipline_message::{Message, StatusCode};
use sipline_transport::{ListenSpec, PemSource, TlsServerConfig, TransportConfig, TransportLayer};
use std::net::SocketAddr;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{bin, test_certs, text, TempDir};

/// How a responder behaves.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Requests to ignore before answering.
    drop_first: usize,
    /// Status to answer with; None: never answer.
    status: Option<u16>,
}

struct Responder {
    addr: SocketAddr,
    seen: Arc<AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

fn responder(
    transport: Transport,
    behaviour: Behaviour,
    tls: Option<TlsServerConfig>,
) -> Responder {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let addr = rt.block_on(async move {
        let mut listen = vec![ListenSpec {
            transport,
            addr: "127.0.0.1:0".parse().unwrap(),
        }];
        if transport == Transport::Udp {
            listen.push(ListenSpec {
                transport: Transport::Tcp,
                addr: "127.0.0.1:0".parse().unwrap(),
            });
        }
        let cfg = TransportConfig {
            listen,
            tls,
            ..TransportConfig::default()
        };
        let (layer, mut incoming) = TransportLayer::start(cfg).unwrap();
        let addr = layer.listener(transport).unwrap();
        tokio::spawn(async move {
            while let Some(inc) = incoming.recv().await {
                let Message::Request(req) = &inc.message else {
                    continue;
                };
                let n = seen2.fetch_add(1, Ordering::SeqCst);
                if n < behaviour.drop_first {
                    continue;
                }
                let Some(code) = behaviour.status else {
                    continue;
                };
                let mut resp = sipline_message::builder::response_to(
                    req,
                    StatusCode::new(code).unwrap(),
                    Some("resp1"),
                );
                resp.headers
                    .push("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE");
                resp.headers.push("Supported", "replaces, timer");
                resp.headers.push("Server", "test-responder");
                let via = inc.message.top_via().unwrap();
                let mut dest = sipline_transport::response_destination(
                    &via,
                    inc.transport,
                    inc.source,
                    inc.connection,
                )
                .unwrap();
                dest.local = Some(inc.local);
                layer.send(&dest, &Message::from(resp)).await.unwrap();
            }
        });
        addr
    });
    Responder {
        addr,
        seen,
        _rt: rt,
    }
}

/// A responder on UDP (and TCP) that ignores the first `drop_first`
/// requests and answers the others with `status` (None: never).
fn udp_responder(drop_first: usize, status: Option<u16>) -> Responder {
    responder(Transport::Udp, Behaviour { drop_first, status }, None)
}

fn sipline(args: &[&str]) -> Output {
    bin()
        .arg("options")
        .args(args)
        .output()
        .expect("run sipline")
}

#[test]
fn udp_200_prints_allow_supported_server() {
    let r = udp_responder(0, Some(200));
    let out = sipline(&[&format!("sip:{}", r.addr)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("SIP/2.0 200 OK\n"), "{stdout}");
    assert!(stdout.contains("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\n"));
    assert!(stdout.contains("Supported: replaces, timer\n"));
    assert!(stdout.contains("Server: test-responder\n"));
}

#[test]
fn udp_retransmits_as_timer_e_says() {
    // the first two copies are lost: answered on the third, sent at 1.5*T1... with T1 = 100 ms:
    // at 0, 100 ms, 300 ms (Timer E doubling, RFC 3261 §17.1.2.2)
    let r = udp_responder(2, Some(200));
    let out = sipline(&[&format!("sip:{}", r.addr), "--t1", "100", "--trace"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(r.seen.load(Ordering::SeqCst), 3);
    let stderr = text(&out.stderr);
    let times: Vec<f64> = stderr
        .lines()
        .filter(|l| l.contains("->"))
        .filter_map(|l| l.trim().split('s').next()?.trim().parse().ok())
        .collect();
    assert_eq!(times.len(), 3, "{stderr}");
    // Real sockets and a real clock: the schedule (T1, then 2·T1 later) is
    // checked exactly in virtual time by sipline-transaction's tests; here
    // only that the retransmissions are not early and keep the doubling,
    // with room for a loaded machine to be late.
    let (first, second) = (times[1] - times[0], times[2] - times[1]);
    assert!(
        (0.095..0.5).contains(&first) && (0.19..1.0).contains(&second) && second > first,
        "{times:?}"
    );
}

#[test]
fn no_answer_is_408_when_timer_f_fires() {
    let r = udp_responder(0, None);
    // T1 = 10 ms: Timer F at 64*T1 = 640 ms, 11 copies sent (E capped at T2 = 8*T1)
    let start = std::time::Instant::now();
    let out = sipline(&[&format!("sip:{}", r.addr), "--t1", "10"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("408 Request Timeout"),
        "{}",
        text(&out.stderr)
    );
    // the last copy leaves 10 ms before Timer F: let the responder count it
    let waited = std::time::Instant::now();
    while r.seen.load(Ordering::SeqCst) < 11 && waited.elapsed().as_secs() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(r.seen.load(Ordering::SeqCst), 11);
    assert!(took.as_millis() >= 600, "{took:?}");
}

#[test]
fn timeout_flag_stops_early() {
    let r = udp_responder(0, None);
    let out = sipline(&[&format!("sip:{}", r.addr), "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("--timeout"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn non_2xx_exits_1() {
    let r = udp_responder(0, Some(486));
    let out = sipline(&[&format!("sip:{}", r.addr)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("SIP/2.0 486 Busy Here"));
}

#[test]
fn tcp_and_ws() {
    for (t, flag) in [(Transport::Tcp, "tcp"), (Transport::Ws, "ws")] {
        let r = responder(
            t,
            Behaviour {
                drop_first: 0,
                status: Some(200),
            },
            None,
        );
        let out = sipline(&[&format!("sip:{}", r.addr), "--transport", flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(&format!("over {}", t.as_str())));
    }
}

#[test]
fn tls_with_a_test_ca() {
    let dir = TempDir::new("tls");
    let certs = test_certs();
    let ca_path = dir.file("ca.pem");
    std::fs::write(&ca_path, certs.ca).unwrap();
    let tls = TlsServerConfig {
        cert_chain: PemSource::Pem(certs.cert),
        private_key: PemSource::Pem(certs.key),
    };
    let r = responder(
        Transport::Tls,
        Behaviour {
            drop_first: 0,
            status: Some(200),
        },
        Some(tls),
    );
    let out = sipline(&[
        &format!("sip:{}", r.addr),
        "--transport",
        "tls",
        "--ca",
        ca_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // without the CA the certificate is refused: a transport error, named
    let out = sipline(&[&format!("sip:{}", r.addr), "--transport", "tls"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("transport error"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refused_connection_is_a_transport_error() {
    // a port nobody listens on: bind and drop
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = sipline(&[&format!("sip:127.0.0.1:{port}"), "--transport", "tcp"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("transport error"));
}

#[test]
fn bad_uri_is_a_usage_error() {
    let out = sipline(&["not a uri"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sipline(&["tel:+1-201-555-0123"]);
    assert_eq!(out.status.code(), Some(2));
}
