//! RFC 5626 §4.4.2 STUN keep-alives over UDP, against a hand-written fake
//! registrar on a loopback socket: it answers REGISTER with 200 and each
//! STUN Binding Request with a Binding Success Response it builds itself,
//! whose XOR-MAPPED-ADDRESS it can change or leave out.

use sipline_message::builder::response_to;
use sipline_message::header::StdHeader;
use sipline_message::{Bytes, Message, StatusCode};
use sipline_ua::{Config, RegistrationEvent, UserAgent};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

/// What the fake registrar saw.
#[derive(Debug)]
enum Seen {
    Register,
    /// A STUN Binding Request, with its transaction ID.
    Stun([u8; 12]),
    /// Anything else (a CRLF keep-alive ...).
    Other(Vec<u8>),
}

/// How the fake registrar answers the `n`th (0-based) Binding Request.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// With the sender's address.
    Truthfully,
    /// Truthfully until `n`, then with another address.
    ChangeAt(usize),
    /// Truthfully until `n`, then not at all.
    SilentFrom(usize),
    /// Not at all.
    Never,
    /// Not at all, and its 200 to REGISTER has no `Require: outbound`:
    /// a registrar that does not support RFC 5626.
    NoOutbound,
}

/// RFC 5389 §6, §15.2, written out here rather than taken from the crate.
fn binding_success(tid: &[u8], mapped: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(a) = mapped else {
        panic!("IPv4 only here")
    };
    let mut r = vec![0x01, 0x01, 0x00, 0x0c];
    r.extend_from_slice(&COOKIE);
    r.extend_from_slice(tid);
    r.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    r.extend_from_slice(&(a.port() ^ 0x2112).to_be_bytes());
    let ip = a.ip().octets();
    for i in 0..4 {
        r.push(ip[i] ^ COOKIE[i]);
    }
    r
}

/// Starts the fake registrar; what it sees comes on the channel.
async fn fake_registrar(answer: Answer) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let mut stun_seen = 0;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let data = &buf[..n];
            if n == 20 && data[0..2] == [0x00, 0x01] && data[4..8] == COOKIE {
                let mut tid = [0u8; 12];
                tid.copy_from_slice(&data[8..20]);
                let mapped = match answer {
                    Answer::Never | Answer::NoOutbound => None,
                    Answer::SilentFrom(k) if stun_seen >= k => None,
                    Answer::ChangeAt(k) if stun_seen >= k => {
                        Some(SocketAddr::from(([198, 51, 100, 7], 40_000)))
                    }
                    _ => Some(from),
                };
                stun_seen += 1;
                if let Some(m) = mapped {
                    let _ = sock.send_to(&binding_success(&tid, m), from).await;
                }
                if tx.send(Seen::Stun(tid)).is_err() {
                    return;
                }
                continue;
            }
            let Ok(Message::Request(req)) = Message::parse(Bytes::copy_from_slice(data)) else {
                let _ = tx.send(Seen::Other(data.to_vec()));
                continue;
            };
            let mut ok = response_to(&req, StatusCode::OK, Some("reg"));
            if let Some(c) = req.headers.get(StdHeader::Contact) {
                ok.headers.push("Contact", format!("{c};expires=3600"));
            }
            // RFC 5626 §6: outbound registration succeeded.
            if answer != Answer::NoOutbound {
                ok.headers.push(StdHeader::Require, "outbound");
            }
            let _ = sock.send_to(&Message::Response(ok).to_bytes(), from).await;
            if tx.send(Seen::Register).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// A UA registered with keep-alives every 200-250 ms and T1 (the STUN
/// RTO) of 100 ms.
async fn registered_ua(registrar: SocketAddr) -> (UserAgent, sipline_ua::Registration) {
    let mut c = Config::new("sip:alice@127.0.0.1").unwrap();
    c.t1 = Duration::from_millis(100);
    c.keepalive = Some(Duration::from_millis(250));
    c.outbound = true;
    let (ua, _incoming) = UserAgent::start(c).await.unwrap();
    let target = format!("sip:127.0.0.1:{}", registrar.port())
        .parse()
        .unwrap();
    let mut reg = ua.register(target, 3600).await.unwrap();
    let ev = timeout(Duration::from_secs(5), reg.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, RegistrationEvent::Registered { .. }), "{ev:?}");
    (ua, reg)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the fake registrar heard something within 5 s")
        .unwrap()
}

/// Keep-alives over UDP are STUN Binding Requests (not CRLF), each with a
/// new transaction ID; answered with the same address, the UA stays on
/// its registration (no new REGISTER).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_keepalives_are_stun_and_answered_ones_keep_the_flow() {
    let (registrar, mut seen) = fake_registrar(Answer::Truthfully).await;
    let (_ua, _reg) = registered_ua(registrar).await;
    assert!(matches!(next(&mut seen).await, Seen::Register));
    let start = Instant::now();
    let mut tids = Vec::new();
    while tids.len() < 4 {
        match next(&mut seen).await {
            Seen::Stun(tid) => tids.push(tid),
            other => panic!("after the REGISTER, only STUN: {other:?}"),
        }
    }
    // 4 keep-alives at 200-250 ms each, none of them retransmitted (a
    // retransmission keeps its transaction ID)
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 4, "a new transaction ID each time");
}

/// RFC 5626 §4.4.2: "If the XOR-MAPPED-ADDRESS in the STUN Binding
/// Response changes, the UA MUST treat this event as a failure on the
/// flow"; it registers again (§4.5) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_mapped_address_makes_the_ua_register_again() {
    let (registrar, mut seen) = fake_registrar(Answer::ChangeAt(2)).await;
    let (_ua, mut reg) = registered_ua(registrar).await;
    assert!(matches!(next(&mut seen).await, Seen::Register));
    for _ in 0..2 {
        assert!(matches!(next(&mut seen).await, Seen::Stun(_)));
    }
    // the third is answered with another address
    assert!(matches!(next(&mut seen).await, Seen::Stun(_)));
    let changed = Instant::now();
    assert!(
        matches!(next(&mut seen).await, Seen::Register),
        "a REGISTER right after the changed address"
    );
    let took = changed.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    let ev = timeout(Duration::from_secs(5), reg.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, RegistrationEvent::Registered { .. }), "{ev:?}");
    // and keeps the new flow alive with STUN
    assert!(matches!(next(&mut seen).await, Seen::Stun(_)));
}

/// RFC 5626 §4.4.2, §8: a keep-alive unanswered after its retransmissions
/// (RFC 5389 §7.2.1, bounded here: sent at 0, RTO, 3 RTO, given up at
/// 7 RTO) is a failed flow; the flow had answered before (a "successful"
/// flow, §4.5), so the UA registers again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_keepalive_makes_the_ua_register_again() {
    let (registrar, mut seen) = fake_registrar(Answer::SilentFrom(1)).await;
    let (_ua, _reg) = registered_ua(registrar).await;
    assert!(matches!(next(&mut seen).await, Seen::Register));
    assert!(matches!(next(&mut seen).await, Seen::Stun(_)), "answered");
    let mut tids = Vec::new();
    let first = loop {
        match next(&mut seen).await {
            Seen::Stun(tid) => tids.push((tid, Instant::now())),
            Seen::Register => break tids[0].1,
            Seen::Other(o) => panic!("{o:?}"),
        }
    };
    // one transaction, sent 3 times (retransmissions keep the ID)
    assert_eq!(tids.len(), 3, "{tids:?}");
    assert!(tids.iter().all(|(t, _)| *t == tids[0].0));
    let waited = first.elapsed();
    // 7 RTO = 700 ms after the first send
    assert!(
        waited >= Duration::from_millis(650) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// RFC 5626 §8: no STUN without an explicit indication. A 200 without
/// `Require: outbound` (and without `ob` in a Path) gives none, so the
/// UA's UDP keep-alives stay CRLFCRLF datagrams (NAT refresh only), and it
/// does not take the missing STUN answers for a failed flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stun_without_require_outbound() {
    let (registrar, mut seen) = fake_registrar(Answer::NoOutbound).await;
    let (_ua, _reg) = registered_ua(registrar).await;
    assert!(matches!(next(&mut seen).await, Seen::Register));
    for _ in 0..4 {
        match next(&mut seen).await {
            Seen::Other(o) => assert_eq!(o, b"\r\n\r\n"),
            other => panic!("only CRLF keep-alives: {other:?}"),
        }
    }
}

/// RFC 5626 §4.5: a flow on which no keep-alive was ever answered was not
/// "successful": after its keep-alive fails, the UA does not register
/// again at once (which would loop against a registrar that takes
/// REGISTERs but not STUN) but waits the back-off, 15-30 s the first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_never_answered_backs_off() {
    let (registrar, mut seen) = fake_registrar(Answer::Never).await;
    let (_ua, _reg) = registered_ua(registrar).await;
    assert!(matches!(next(&mut seen).await, Seen::Register));
    for _ in 0..3 {
        assert!(matches!(next(&mut seen).await, Seen::Stun(_)));
    }
    // given up 7 RTO (700 ms) after the first send; then 15 s at least
    let quiet = timeout(Duration::from_secs(3), seen.recv()).await;
    assert!(quiet.is_err(), "no REGISTER or keep-alive: {quiet:?}");
}
