//! Integration tests over loopback (127.0.0.1 and [::1]), ports from port 0,
//! everything bounded by timeouts.

use futures_util::{SinkExt, StreamExt};
use sipline_message::builder::response_to;
use sipline_message::{Bytes, Message, StatusCode, Transport};
use sipline_transport::{
    response_destination, CloseReason, Destination, Incoming, ListenSpec, PemSource, SendError,
    TlsClientConfig, TlsServerConfig, TransportConfig, TransportEvent, TransportLayer,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const T: Duration = Duration::from_secs(5);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(listen: &[(Transport, &str)]) -> TransportConfig {
    TransportConfig {
        listen: listen
            .iter()
            .map(|(t, a)| ListenSpec::new(*t, sa(a)))
            .collect(),
        ..TransportConfig::default()
    }
}

fn start(cfg: TransportConfig) -> (TransportLayer, mpsc::Receiver<Incoming>) {
    TransportLayer::start(cfg).expect("start")
}

fn request_text(method: &str, via: &str, branch: &str, body: &str) -> String {
    format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/{via};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 {method}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn request(method: &str, via: &str, branch: &str, body: &str) -> Message {
    Message::parse(Bytes::from(request_text(method, via, branch, body))).unwrap()
}

fn ok_for(m: &Message) -> Message {
    Message::Response(response_to(
        m.as_request().unwrap(),
        StatusCode::OK,
        Some("b1"),
    ))
}

async fn recv(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    let inc = timeout(T, rx.recv())
        .await
        .expect("timed out waiting for a message")
        .expect("channel closed");
    // what the layer parsed on receipt is what the message says (as
    // stamped, for the top Via of a request)
    assert_eq!(inc.to, inc.message.to_header().unwrap());
    if inc.message.is_request() {
        assert_eq!(inc.top_via, Some(inc.message.top_via().unwrap()));
    }
    inc
}

/// Answers `inc` (a request) with 200 OK where RFC 3261 §18.2.2 says.
async fn answer(layer: &TransportLayer, inc: &Incoming) -> Destination {
    let via = inc.message.top_via().unwrap();
    let mut dest = response_destination(&via, inc.transport, inc.source, inc.connection).unwrap();
    dest.local = Some(inc.local);
    timeout(T, layer.send_response(&dest, &ok_for(&inc.message)))
        .await
        .unwrap()
        .unwrap();
    dest
}

async fn read_until(s: &mut (impl AsyncReadExt + Unpin), needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        let n = timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(
            n > 0,
            "EOF before {needle:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

async fn expect_eof(s: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut rest = Vec::new();
    timeout(T, s.read_to_end(&mut rest))
        .await
        .expect("connection not closed")
        .ok();
    rest
}

async fn closed_event(events: &mut broadcast::Receiver<TransportEvent>) -> CloseReason {
    loop {
        match timeout(T, events.recv()).await.unwrap().unwrap() {
            TransportEvent::ConnectionClosed { reason, .. } => return reason,
            TransportEvent::ConnectionOpened(_) => {}
        }
    }
}

/// Waits for the close of the connection whose peer is `remote`; events of
/// other connections are skipped (tests run side by side, each on its own
/// ports, but a stray connection should not fail a test).
async fn closed_event_of(
    events: &mut broadcast::Receiver<TransportEvent>,
    remote: SocketAddr,
) -> CloseReason {
    loop {
        match timeout(T, events.recv()).await.unwrap().unwrap() {
            TransportEvent::ConnectionClosed {
                reason, remote: r, ..
            } if r == remote => return reason,
            _ => {}
        }
    }
}

/// A loopback address where nothing listens, for as long as the socket
/// lives: it is bound without SO_REUSEADDR and does not listen, so a
/// connection to it is refused, and no test running alongside can listen on
/// its port meanwhile. (A listener bound on port 0 and closed again does not
/// do: its port can be picked at once by another test's listener, which then
/// gets the connection that was meant to be refused.)
fn refusing_addr() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&sa("127.0.0.1:0").into()).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}

// ---------------------------------------------------------------- UDP

async fn udp_both_ways(ip: &str) {
    let any = format!("{ip}:0");
    let (server, mut srx) = start(config(&[(Transport::Udp, &any)]));
    let (client, mut crx) = start(config(&[(Transport::Udp, &any)]));
    let s_addr = server.listener(Transport::Udp).unwrap();
    let c_addr = client.listener(Transport::Udp).unwrap();
    assert_ne!(s_addr.port(), 0);

    // sent-by a host name with an empty rport: received and rport get filled.
    let req = request(
        "OPTIONS",
        "UDP client.invalid:5999;rport",
        "z9hG4bKudp1",
        "",
    );
    client
        .send(&Destination::new(Transport::Udp, s_addr), &req)
        .await
        .unwrap();
    let inc = recv(&mut srx).await;
    assert_eq!(inc.transport, Transport::Udp);
    assert_eq!(inc.source, c_addr);
    assert_eq!(inc.local, s_addr);
    assert_eq!(inc.connection, None);
    let via = inc.message.top_via().unwrap();
    let ip_text = c_addr.ip().to_string();
    assert_eq!(via.received(), Some(ip_text.as_str()));
    assert_eq!(via.rport(), Some(Some(c_addr.port())));
    assert!(!String::from_utf8_lossy(&inc.raw).contains("received="));

    // The response goes to received:rport (RFC 3581 §4), not sent-by.
    let dest = answer(&server, &inc).await;
    assert_eq!(dest.addr, c_addr);
    let resp = recv(&mut crx).await;
    assert!(!resp.message.is_request());
    assert_eq!(resp.source, s_addr);
    assert_eq!(resp.message.call_id(), Some("z9hG4bKudp1@test"));

    let sc = server.counters().get(Transport::Udp);
    assert_eq!((sc.messages_in, sc.messages_out), (1, 1));
    assert!(sc.bytes_in > 200 && sc.bytes_out > 200);
    let cc = client.counters().get(Transport::Udp);
    assert_eq!((cc.messages_in, cc.messages_out), (1, 1));
    assert_eq!(cc.bytes_out, sc.bytes_in);
}

#[tokio::test]
async fn udp_send_and_receive_ipv4() {
    udp_both_ways("127.0.0.1").await;
}

#[tokio::test]
async fn udp_send_and_receive_ipv6() {
    udp_both_ways("[::1]").await;
}

#[tokio::test]
async fn udp_malformed_request_gets_400_back_to_source() {
    let (server, _srx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let s_addr = server.listener(Transport::Udp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bad = request_text("OPTIONS", "UDP 127.0.0.1:1;rport", "z9hG4bKbad", "")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    sock.send_to(bad.as_bytes(), s_addr).await.unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = timeout(T, sock.recv_from(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(from, s_addr);
    assert!(text.starts_with("SIP/2.0 400 Bad Request ("), "{text}");
    assert!(text.contains("Call-ID: z9hG4bKbad@test"));
    // a malformed response is dropped silently, a garbage datagram too
    sock.send_to(b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", s_addr)
        .await
        .unwrap();
    sock.send_to(b"hello", s_addr).await.unwrap();
    sock.send_to(b"\r\n\r\n", s_addr).await.unwrap(); // keep-alive: not an error
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = server.counters().get(Transport::Udp);
    assert_eq!(c.parse_errors, 3);
    assert_eq!(c.messages_in, 0);
    assert_eq!(c.messages_out, 1);
}

/// Damage outside the rows a response copies (what sipsak's random-trash
/// mode sends: a byte of a header name or value replaced) still gets a 400.
#[tokio::test]
async fn udp_request_damaged_in_another_row_gets_400() {
    let (server, _srx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let s_addr = server.listener(Transport::Udp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let damaged: [(&str, &[u8], &[u8]); 3] = [
        ("z9hG4bKname", b"Max-Forwards", b"Max-\xeborwards"),
        ("z9hG4bKvalue", b"Max-Forwards: 70", b"Max-Forwards: 7\xb6"),
        (
            "z9hG4bKfolded",
            b"CSeq: 1 OPTIONS\r\n",
            b"CSeq: 1 OPTIONS\r\nUser-Agent: a\r\n \xff\r\n",
        ),
    ];
    for (branch, from, to) in damaged {
        let good = request_text("OPTIONS", "UDP 127.0.0.1:1;rport", branch, "");
        let at = good.find(std::str::from_utf8(from).unwrap()).unwrap();
        let mut bad = good.as_bytes()[..at].to_vec();
        bad.extend_from_slice(to);
        bad.extend_from_slice(&good.as_bytes()[at + from.len()..]);
        sock.send_to(&bad, s_addr).await.unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = timeout(T, sock.recv_from(&mut buf)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("SIP/2.0 400 Bad Request"), "{text}");
        assert!(text.contains(&format!("Call-ID: {branch}@test")), "{text}");
        assert!(text.contains("CSeq: 1 OPTIONS\r\n"), "{text}");
    }
}

#[tokio::test]
async fn large_udp_request_goes_over_tcp_with_via_rewritten() {
    // UDP and TCP port 0 on one IP share the port (RFC 3261 §18.2.1).
    let (server, mut srx) = start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]));
    let udp = server.listener(Transport::Udp).unwrap();
    assert_eq!(server.listener(Transport::Tcp), Some(udp));
    let (client, _crx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));

    let body = "x".repeat(2000);
    let req = request("MESSAGE", "UDP 127.0.0.1:5060", "z9hG4bKbig", &body);
    assert!(req.encoded_len() > 1300);
    client
        .send(&Destination::new(Transport::Udp, udp), &req)
        .await
        .unwrap();
    let inc = recv(&mut srx).await;
    assert_eq!(inc.transport, Transport::Tcp);
    assert!(inc.connection.is_some());
    assert_eq!(inc.message.top_via().unwrap().transport, "TCP");
    assert_eq!(inc.message.body().len(), 2000);
    assert_eq!(client.counters().get(Transport::Udp).messages_out, 0);
    assert_eq!(client.counters().get(Transport::Tcp).messages_out, 1);

    // small requests and large responses stay on UDP
    let small = request("OPTIONS", "UDP 127.0.0.1:5060", "z9hG4bKsmall", "");
    client
        .send(&Destination::new(Transport::Udp, udp), &small)
        .await
        .unwrap();
    assert_eq!(recv(&mut srx).await.transport, Transport::Udp);

    // No TCP listener at the destination: the error comes back, no UDP fallback.
    let (udp_only, _rx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let mut dest = Destination::new(Transport::Udp, udp_only.listener(Transport::Udp).unwrap());
    // make sure nothing listens on TCP there
    let (_refusing, addr) = refusing_addr();
    dest.addr = addr;
    let err = client.send(&dest, &req).await.unwrap_err();
    assert!(matches!(err, SendError::ConnectRefused { .. }), "{err:?}");
}

// ---------------------------------------------------------------- TCP

#[tokio::test]
async fn tcp_split_writes_and_pipelined_messages() {
    let (server, mut srx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let addr = server.listener(Transport::Tcp).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let local = s.local_addr().unwrap();

    // one message in three writes, split inside the head and inside the body
    let one = request_text(
        "MESSAGE",
        "TCP 127.0.0.1:5060",
        "z9hG4bKsplit",
        "hello body",
    );
    let (a, rest) = one.split_at(30);
    let (b, c) = rest.split_at(rest.len() - 4);
    for part in [a, b, c] {
        s.write_all(part.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let inc = recv(&mut srx).await;
    assert_eq!(inc.message.body().as_ref(), b"hello body");
    assert_eq!(inc.source, local);
    assert_eq!(inc.transport, Transport::Tcp);
    let conn = inc.connection.expect("connection id");
    // sent-by is 127.0.0.1 = source: no received (RFC 3261 §18.2.1)
    assert_eq!(inc.message.top_via().unwrap().received(), None);

    // two messages in one write (with a lone CRLF between them)
    let two = format!(
        "{}\r\n{}",
        request_text("OPTIONS", "TCP 127.0.0.1:5060", "z9hG4bKp1", ""),
        request_text("OPTIONS", "TCP 127.0.0.1:5060", "z9hG4bKp2", "")
    );
    s.write_all(two.as_bytes()).await.unwrap();
    let p1 = recv(&mut srx).await;
    let p2 = recv(&mut srx).await;
    assert_eq!(p1.message.branch(), Some("z9hG4bKp1"));
    assert_eq!(p2.message.branch(), Some("z9hG4bKp2"));
    assert_eq!(p2.connection, Some(conn));

    // the response goes back over the same connection
    let dest = answer(&server, &p2).await;
    assert_eq!(dest.connection, Some(conn));
    let text = read_until(&mut s, "\r\n\r\n").await;
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.contains("branch=z9hG4bKp2"));
    let c = server.counters().get(Transport::Tcp);
    assert_eq!(
        (c.messages_in, c.messages_out, c.connections_open),
        (3, 1, 1)
    );
}

#[tokio::test]
async fn tcp_ipv6_layer_to_layer_with_connection_reuse() {
    let (server, mut srx) = start(config(&[(Transport::Tcp, "[::1]:0")]));
    let (client, mut crx) = start(config(&[]));
    let mut events = server.subscribe();
    let addr = server.listener(Transport::Tcp).unwrap();
    assert!(addr.is_ipv6());
    let dest = Destination::new(Transport::Tcp, addr);
    for branch in ["z9hG4bK6a", "z9hG4bK6b"] {
        let req = request("OPTIONS", "TCP client.invalid", branch, "");
        client.send(&dest, &req).await.unwrap();
        let inc = recv(&mut srx).await;
        assert_eq!(inc.message.top_via().unwrap().received(), Some("::1"));
        answer(&server, &inc).await;
        let resp = recv(&mut crx).await;
        assert_eq!(resp.message.branch(), Some(branch));
        assert_eq!(resp.transport, Transport::Tcp);
    }
    // one connection on each side, reused for both requests and responses
    assert_eq!(client.connections().len(), 1);
    assert_eq!(server.connections().len(), 1);
    assert!(server.connections()[0].inbound && !client.connections()[0].inbound);
    let id = server.connections()[0].id;
    assert_eq!(server.connection(id), Some(server.connections()[0].clone()));
    // closing it on one side is reported on the other
    assert!(client.close_connection(client.connections()[0].id));
    assert_eq!(closed_event(&mut events).await, CloseReason::PeerClosed);
    assert!(server.connections().is_empty());
    assert_eq!(server.connection(id), None);
    assert_eq!(server.counters().get(Transport::Tcp).connections_open, 0);
}

#[tokio::test]
async fn tcp_connect_refused_is_reported() {
    let (client, _rx) = start(config(&[]));
    let (_refusing, addr) = refusing_addr();
    let req = request("OPTIONS", "TCP 127.0.0.1", "z9hG4bKref", "");
    let err = client
        .send(&Destination::new(Transport::Tcp, addr), &req)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::ConnectRefused { addr: a } if a == addr),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_content_length_gets_400_and_close() {
    let (server, _srx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut events = server.subscribe();
    let mut s = TcpStream::connect(server.listener(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let bad = request_text("INVITE", "TCP 127.0.0.1:5060", "z9hG4bKcl", "")
        .replace("Content-Length: 0", "Content-Length: abc");
    s.write_all(bad.as_bytes()).await.unwrap();
    let rest = expect_eof(&mut s).await;
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("SIP/2.0 400 Bad Request ("), "{text}");
    assert!(text.contains("Call-ID: z9hG4bKcl@test"));
    assert!(text.contains("CSeq: 1 INVITE"));
    assert!(matches!(
        closed_event(&mut events).await,
        CloseReason::Framing(_)
    ));
    let c = server.counters().get(Transport::Tcp);
    assert_eq!(
        (c.parse_errors, c.messages_in, c.connections_open),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn missing_content_length_and_oversize_close_the_stream() {
    let mut cfg = config(&[(Transport::Tcp, "127.0.0.1:0")]);
    cfg.max_message_size = 2048;
    let (server, _srx) = start(cfg);
    let addr = server.listener(Transport::Tcp).unwrap();

    let mut s = TcpStream::connect(addr).await.unwrap();
    let no_cl = request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKnocl", "")
        .replace("Content-Length: 0\r\n", "");
    s.write_all(no_cl.as_bytes()).await.unwrap();
    let text = String::from_utf8(expect_eof(&mut s).await).unwrap();
    assert!(
        text.starts_with("SIP/2.0 400 Bad Request (missing Content-Length"),
        "{text}"
    );

    // a Content-Length over the limit: 513, closed before the body is read
    let mut s = TcpStream::connect(addr).await.unwrap();
    let big = request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKbig", "")
        .replace("Content-Length: 0", "Content-Length: 100000");
    s.write_all(big.as_bytes()).await.unwrap();
    let text = String::from_utf8(expect_eof(&mut s).await).unwrap();
    assert!(text.starts_with("SIP/2.0 513 Message Too Large"), "{text}");

    // a head that never ends: closed once max_message_size bytes are buffered
    let mut s = TcpStream::connect(addr).await.unwrap();
    let endless = format!(
        "OPTIONS sip:b@example.com SIP/2.0\r\n{}",
        "X-Pad: yyyyyyyy\r\n".repeat(200)
    );
    let _ = s.write_all(endless.as_bytes()).await;
    expect_eof(&mut s).await;
    assert_eq!(server.counters().get(Transport::Tcp).parse_errors, 3);
}

#[tokio::test]
async fn crlf_ping_gets_pong() {
    let (server, mut srx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut s = TcpStream::connect(server.listener(Transport::Tcp).unwrap())
        .await
        .unwrap();
    // RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    timeout(T, s.read_exact(&mut pong)).await.unwrap().unwrap();
    assert_eq!(&pong, b"\r\n");
    // a ping split across two writes
    s.write_all(b"\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"\r\n").await.unwrap();
    timeout(T, s.read_exact(&mut pong)).await.unwrap().unwrap();
    assert_eq!(&pong, b"\r\n");
    // a lone CRLF before a message is skipped, no pong
    let msg = format!(
        "\r\n{}",
        request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKka", "")
    );
    s.write_all(msg.as_bytes()).await.unwrap();
    assert_eq!(recv(&mut srx).await.message.branch(), Some("z9hG4bKka"));
    let mut more = [0u8; 1];
    assert!(timeout(Duration::from_millis(200), s.read(&mut more))
        .await
        .is_err());
    let c = server.counters().get(Transport::Tcp);
    assert_eq!((c.messages_in, c.parse_errors, c.bytes_out), (1, 0, 4));
}

#[tokio::test]
async fn max_connections_enforced() {
    let mut cfg = config(&[(Transport::Tcp, "127.0.0.1:0")]);
    cfg.max_connections = 2;
    let (server, mut srx) = start(cfg);
    let addr = server.listener(Transport::Tcp).unwrap();
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    // wait until both are registered
    for _ in 0..100 {
        if server.connections().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.connections().len(), 2);
    let mut c = TcpStream::connect(addr).await.unwrap();
    expect_eof(&mut c).await; // refused: closed at once
    assert_eq!(server.counters().get(Transport::Tcp).connections_refused, 1);
    for (s, br) in [(&mut a, "z9hG4bKmc1"), (&mut b, "z9hG4bKmc2")] {
        let m = request_text("OPTIONS", "TCP 127.0.0.1", br, "");
        s.write_all(m.as_bytes()).await.unwrap();
        assert_eq!(recv(&mut srx).await.message.branch(), Some(br));
    }
    // a slot frees when a connection closes
    drop(a);
    for _ in 0..100 {
        if server.connections().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut d = TcpStream::connect(addr).await.unwrap();
    d.write_all(request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKmc3", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(recv(&mut srx).await.message.branch(), Some("z9hG4bKmc3"));
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let mut cfg = config(&[(Transport::Tcp, "127.0.0.1:0")]);
    cfg.idle_timeout = Duration::from_millis(300);
    let (server, _srx) = start(cfg);
    let mut events = server.subscribe();
    let mut s = TcpStream::connect(server.listener(Transport::Tcp).unwrap())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    expect_eof(&mut s).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Ours, not another's: a connection meant for a closed port of a test
    // running alongside once came here and closed first (PeerClosed).
    let ours = s.local_addr().unwrap();
    assert_eq!(closed_event_of(&mut events, ours).await, CloseReason::Idle);
}

// ---------------------------------------------------------------- TLS

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn tls_config(p: &Pki, listen: &[(Transport, &str)]) -> TransportConfig {
    TransportConfig {
        tls: Some(TlsServerConfig {
            cert_chain: PemSource::Pem(p.cert_pem.clone()),
            private_key: PemSource::Pem(p.key_pem.clone()),
        }),
        tls_client: TlsClientConfig {
            roots: vec![PemSource::Pem(p.ca_pem.clone())],
        },
        ..config(listen)
    }
}

#[tokio::test]
async fn tls_layer_to_layer() {
    let p = pki();
    let (server, mut srx) = start(tls_config(&p, &[(Transport::Tls, "127.0.0.1:0")]));
    let (client, mut crx) = start(tls_config(&p, &[]));
    let addr = server.listener(Transport::Tls).unwrap();
    let mut dest = Destination::new(Transport::Tls, addr);
    dest.server_name = Some("localhost".into());
    let req = request("OPTIONS", "TLS client.invalid", "z9hG4bKtls", "");
    client.send(&dest, &req).await.unwrap();
    let inc = recv(&mut srx).await;
    assert_eq!(inc.transport, Transport::Tls);
    assert_eq!(inc.message.top_via().unwrap().received(), Some("127.0.0.1"));
    answer(&server, &inc).await;
    let resp = recv(&mut crx).await;
    assert_eq!(resp.transport, Transport::Tls);
    assert_eq!(resp.message.branch(), Some("z9hG4bKtls"));

    // without a name the certificate's IP address SAN is checked
    let (client2, _rx2) = start(tls_config(&p, &[]));
    client2
        .send(&Destination::new(Transport::Tls, addr), &req)
        .await
        .unwrap();
    recv(&mut srx).await;

    // a client that does not trust the CA fails with a TLS error
    let (untrusting, _rx3) = start(config(&[]));
    let err = untrusting.send(&dest, &req).await.unwrap_err();
    assert!(matches!(err, SendError::Tls { .. }), "{err:?}");
    // and a wrong name too
    dest.server_name = Some("other.example".into());
    let (client3, _rx4) = start(tls_config(&p, &[]));
    let err = client3.send(&dest, &req).await.unwrap_err();
    assert!(matches!(err, SendError::Tls { .. }), "{err:?}");
}

#[test]
fn tls_listener_needs_a_certificate() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let err = TransportLayer::start(config(&[(Transport::Tls, "127.0.0.1:0")])).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------- WebSocket

fn ws_request(url: &str, sip: bool) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    if sip {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    }
    req
}

async fn ws_exchange<S>(
    server: &TransportLayer,
    srx: &mut mpsc::Receiver<Incoming>,
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    transport: Transport,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // RFC 7118 §5: no Content-Length needed over WebSocket
    let text = request_text(
        "REGISTER",
        &format!("{transport} df7jal23ls0d.invalid"),
        "z9hG4bKws",
        "",
    )
    .replace("Content-Length: 0\r\n", "");
    ws.send(WsMessage::text(text)).await.unwrap();
    let inc = recv(srx).await;
    assert_eq!(inc.transport, transport);
    assert!(inc.connection.is_some());
    assert_eq!(inc.message.top_via().unwrap().received(), Some("127.0.0.1"));
    let dest = answer(server, &inc).await;
    assert_eq!(dest.connection, inc.connection);
    let reply = timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
    let WsMessage::Text(reply) = reply else {
        panic!("expected a text frame, got {reply:?}")
    };
    assert!(reply.as_str().starts_with("SIP/2.0 200 OK\r\n"));
    // CRLF keep-alive over WebSocket (RFC 7118 §6)
    ws.send(WsMessage::text("\r\n\r\n")).await.unwrap();
    let pong = timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(pong.into_data().as_ref(), b"\r\n");
}

#[tokio::test]
async fn ws_with_sip_subprotocol() {
    let (server, mut srx) = start(config(&[(Transport::Ws, "127.0.0.1:0")]));
    let addr = server.listener(Transport::Ws).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut ws, resp) =
        tokio_tungstenite::client_async(ws_request(&format!("ws://{addr}/"), true), tcp)
            .await
            .unwrap();
    assert_eq!(resp.headers().get("Sec-WebSocket-Protocol").unwrap(), "sip");
    ws_exchange(&server, &mut srx, &mut ws, Transport::Ws).await;
    let c = server.counters().get(Transport::Ws);
    assert_eq!(
        (c.messages_in, c.messages_out, c.connections_open),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn ws_handshake_without_sip_is_refused() {
    let (server, _srx) = start(config(&[(Transport::Ws, "127.0.0.1:0")]));
    let addr = server.listener(Transport::Ws).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let err = tokio_tungstenite::client_async(ws_request(&format!("ws://{addr}/"), false), tcp)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 400),
        e => panic!("expected an HTTP error, got {e:?}"),
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(server.connections().is_empty());
}

#[tokio::test]
async fn wss_with_sip_subprotocol() {
    let p = pki();
    let (server, mut srx) = start(tls_config(&p, &[(Transport::Wss, "127.0.0.1:0")]));
    let addr = server.listener(Transport::Wss).unwrap();

    // tokio-tungstenite client over a rustls connection trusting the test CA
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(p.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls_cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(tls_cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/", addr.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(ws_request(&url, true), tls)
        .await
        .unwrap();
    assert_eq!(resp.headers().get("Sec-WebSocket-Protocol").unwrap(), "sip");
    ws_exchange(&server, &mut srx, &mut ws, Transport::Wss).await;

    // and layer to layer: our own WSS client
    let (client, mut crx) = start(tls_config(&p, &[]));
    let mut dest = Destination::new(Transport::Wss, addr);
    dest.server_name = Some("localhost".into());
    let req = request("OPTIONS", "WSS client.invalid", "z9hG4bKwss2", "");
    client.send(&dest, &req).await.unwrap();
    let inc = recv(&mut srx).await;
    assert_eq!(inc.transport, Transport::Wss);
    answer(&server, &inc).await;
    let resp = recv(&mut crx).await;
    assert_eq!(resp.message.branch(), Some("z9hG4bKwss2"));
    assert_eq!(resp.transport, Transport::Wss);
}

#[tokio::test]
async fn ws_layer_to_layer_and_refusal_by_a_non_sip_server() {
    let (server, mut srx) = start(config(&[(Transport::Ws, "[::1]:0")]));
    let (client, mut crx) = start(config(&[]));
    let addr = server.listener(Transport::Ws).unwrap();
    let req = request("OPTIONS", "WS client.invalid", "z9hG4bKws6", "");
    client
        .send(&Destination::new(Transport::Ws, addr), &req)
        .await
        .unwrap();
    let inc = recv(&mut srx).await;
    answer(&server, &inc).await;
    assert_eq!(recv(&mut crx).await.message.branch(), Some("z9hG4bKws6"));

    // a WebSocket server that does not speak "sip": our client refuses it
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let paddr = plain.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = plain.accept().await.unwrap();
        let _ws = tokio_tungstenite::accept_async(tcp).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let err = client
        .send(&Destination::new(Transport::Ws, paddr), &req)
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::WebSocket { .. }), "{err:?}");
}

#[tokio::test]
async fn response_falls_back_to_a_new_connection_when_the_first_closed() {
    let (server, mut srx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let (client, mut crx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut events = server.subscribe();
    let c_port = client.listener(Transport::Tcp).unwrap().port();
    let req = request(
        "OPTIONS",
        &format!("TCP 127.0.0.1:{c_port}"),
        "z9hG4bKfb",
        "",
    );
    let dest = Destination::new(Transport::Tcp, server.listener(Transport::Tcp).unwrap());
    client.send(&dest, &req).await.unwrap();
    let inc = recv(&mut srx).await;
    client.close_connection(client.connections()[0].id);
    closed_event(&mut events).await;
    // RFC 3261 §18.2.2: the connection is gone, so connect to the sent-by port
    let d = answer(&server, &inc).await;
    assert_eq!(d.addr.port(), c_port);
    let resp = recv(&mut crx).await;
    assert_eq!(resp.message.branch(), Some("z9hG4bKfb"));
    assert_ne!(resp.connection, inc.connection);
}

#[tokio::test]
async fn dropping_the_layer_stops_it() {
    let (server, mut rx) = start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let addr = server.listener(Transport::Tcp).unwrap();
    let clone = server.clone();
    drop(server);
    // a clone keeps it running: it accepts and reads
    let mut c = TcpStream::connect(addr).await.unwrap();
    let m = request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKdrop", "");
    c.write_all(m.as_bytes()).await.unwrap();
    assert_eq!(recv(&mut rx).await.message.branch(), Some("z9hG4bKdrop"));
    drop((clone, rx));
    // its connections are closed...
    expect_eof(&mut c).await;
    // ...and so is its listener: the port can be bound again. Not checked
    // by connecting to it, as it once was: a closed port can be taken at
    // once by the listener of a test running alongside, and then the
    // connection succeeded (failing this test) and reached that test (failing
    // it too: idle_connections_are_closed saw it close first). A bind with
    // SO_REUSEADDR fails with EADDRINUSE while a socket listens on the
    // address; the probe does not listen, so nothing can connect to it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let probe =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        probe.set_reuse_address(true).unwrap();
        match probe.bind(&addr.into()) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                // ours still listening, or another test's listener took the port
                assert!(
                    std::time::Instant::now() < deadline,
                    "{addr} still listened on 10 s after the layer was dropped"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

// ---------------------------------------------------------------- keep-alive (RFC 5626 §4.4.1)

/// A layer that pings on the connections it opens.
fn pinging(mut cfg: TransportConfig, interval_ms: u64, pong_timeout_ms: u64) -> TransportConfig {
    cfg.keepalive.ping_interval = Some(Duration::from_millis(interval_ms));
    cfg.keepalive.pong_timeout = Duration::from_millis(pong_timeout_ms);
    cfg
}

/// Reads exactly `n` bytes.
async fn read_n(s: &mut (impl AsyncReadExt + Unpin), n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(T, s.read_exact(&mut buf)).await.unwrap().unwrap();
    buf
}

/// A client layer that pings every 160–200 ms, connected to a bare TCP
/// server that has read the first request: (client, its incoming channel,
/// its events, the server's end).
async fn pinging_client_and_bare_server() -> (
    TransportLayer,
    mpsc::Receiver<Incoming>,
    broadcast::Receiver<TransportEvent>,
    TcpStream,
) {
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (client, crx) = start(pinging(config(&[]), 200, 300));
    let events = client.subscribe();
    let req = request("OPTIONS", "TCP client.invalid", "z9hG4bKka1", "");
    client
        .send(
            &Destination::new(Transport::Tcp, bare.local_addr().unwrap()),
            &req,
        )
        .await
        .unwrap();
    let (mut s, _) = timeout(T, bare.accept()).await.unwrap().unwrap();
    read_until(&mut s, "Content-Length: 0\r\n\r\n").await;
    (client, crx, events, s)
}

#[tokio::test]
async fn outbound_tcp_pings_and_pongs_keep_it_open() {
    let (client, mut crx, mut events, mut s) = pinging_client_and_bare_server().await;
    let mut last = std::time::Instant::now();
    for round in 0..3 {
        assert_eq!(read_n(&mut s, 4).await, b"\r\n\r\n", "ping {round}");
        // 80–100% of the interval after the request or the previous pong
        let waited = last.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited < Duration::from_millis(1000), "{waited:?}");
        match round {
            // a pong split across two writes
            0 => {
                s.write_all(b"\r").await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                s.write_all(b"\n").await.unwrap();
            }
            // a pong right before a message: both are taken
            1 => {
                let resp = "SIP/2.0 200 OK\r\n\
                    Via: SIP/2.0/TCP client.invalid;branch=z9hG4bKka1\r\n\
                    From: <sip:alice@example.com>;tag=a1\r\n\
                    To: <sip:bob@example.com>;tag=b1\r\n\
                    Call-ID: z9hG4bKka1@test\r\n\
                    CSeq: 1 OPTIONS\r\n\
                    Content-Length: 0\r\n\r\n";
                s.write_all(format!("\r\n{resp}").as_bytes()).await.unwrap();
                let inc = recv(&mut crx).await;
                assert_eq!(inc.message.branch(), Some("z9hG4bKka1"));
            }
            _ => s.write_all(b"\r\n").await.unwrap(),
        }
        last = std::time::Instant::now();
    }
    // still open: well past the 300 ms pong timeout of the first ping
    assert_eq!(client.connections().len(), 1);
    assert_no_close(&mut events);
    let c = client.counters().get(Transport::Tcp);
    assert_eq!((c.messages_out, c.messages_in, c.parse_errors), (1, 1, 0));
}

#[tokio::test]
async fn outbound_tcp_silent_peer_closes_with_keepalive_timeout() {
    let (client, _crx, mut events, mut s) = pinging_client_and_bare_server().await;
    assert_eq!(read_n(&mut s, 4).await, b"\r\n\r\n");
    let pinged = std::time::Instant::now();
    // no pong; other data is not a pong either
    s.write_all(b"X").await.unwrap();
    assert_eq!(
        closed_event(&mut events).await,
        CloseReason::KeepaliveTimeout
    );
    let waited = pinged.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(expect_eof(&mut s).await.is_empty());
    assert!(client.connections().is_empty());
    assert_eq!(client.counters().get(Transport::Tcp).connections_open, 0);
}

#[tokio::test]
async fn accepted_connections_are_not_pinged() {
    let (server, mut srx) = start(pinging(
        config(&[(Transport::Tcp, "127.0.0.1:0")]),
        100,
        100,
    ));
    let mut s = TcpStream::connect(server.listener(Transport::Tcp).unwrap())
        .await
        .unwrap();
    s.write_all(request_text("OPTIONS", "TCP 127.0.0.1", "z9hG4bKin", "").as_bytes())
        .await
        .unwrap();
    recv(&mut srx).await;
    let mut one = [0u8; 1];
    assert!(timeout(Duration::from_millis(400), s.read(&mut one))
        .await
        .is_err());
    assert_eq!(server.connections().len(), 1);
}

/// No connection closed so far.
fn assert_no_close(events: &mut broadcast::Receiver<TransportEvent>) {
    while let Ok(e) = events.try_recv() {
        assert!(matches!(e, TransportEvent::ConnectionOpened(_)), "{e:?}");
    }
}

/// Layer to layer over `transport`: the client pings every 80–100 ms and
/// waits 500 ms for a pong; the server answers (the default) or not.
async fn pings_layer_to_layer(transport: Transport, answer: bool) {
    let p = pki();
    let mut server_cfg = tls_config(&p, &[(transport, "127.0.0.1:0")]);
    server_cfg.keepalive.answer_crlf_ping = answer;
    let (server, mut srx) = start(server_cfg);
    let (client, _crx) = start(pinging(tls_config(&p, &[]), 100, 500));
    let mut events = client.subscribe();
    let mut dest = Destination::new(transport, server.listener(transport).unwrap());
    dest.server_name = Some("localhost".into());
    let req = request(
        "OPTIONS",
        &format!("{transport} client.invalid"),
        "z9hG4bKl2l",
        "",
    );
    client.send(&dest, &req).await.unwrap();
    recv(&mut srx).await;
    let sent = client.counters().get(transport).bytes_out;
    if answer {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(client.connections().len(), 1);
        assert_no_close(&mut events);
        let c = client.counters().get(transport);
        let pings = (c.bytes_out - sent) / 4;
        assert!((2..=9).contains(&pings), "{pings} pings in 700 ms");
        // every ping but perhaps the last was answered
        assert!(c.bytes_in >= 2 * (pings - 1), "{c:?}");
        assert_eq!(server.counters().get(transport).parse_errors, 0);
    } else {
        let started = std::time::Instant::now();
        assert_eq!(
            closed_event(&mut events).await,
            CloseReason::KeepaliveTimeout
        );
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(500), "{waited:?}");
        assert_eq!(client.counters().get(transport).bytes_out, sent + 4);
    }
}

#[tokio::test]
async fn tls_pings_answered_keep_it_open() {
    pings_layer_to_layer(Transport::Tls, true).await;
}

#[tokio::test]
async fn tls_pings_unanswered_time_out() {
    pings_layer_to_layer(Transport::Tls, false).await;
}

#[tokio::test]
async fn ws_pings_answered_keep_it_open() {
    pings_layer_to_layer(Transport::Ws, true).await;
}

#[tokio::test]
async fn wss_pings_unanswered_time_out() {
    pings_layer_to_layer(Transport::Wss, false).await;
}

// ---------------------------------------------------------------- counters

#[tokio::test]
async fn retransmissions_are_counted_per_transport() {
    let (server, mut srx) = start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]));
    let (client, _crx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let raw = Bytes::from(request_text("OPTIONS", "UDP 127.0.0.1", "z9hG4bKrt", ""));
    let udp = Destination::new(Transport::Udp, server.listener(Transport::Udp).unwrap());
    client.send_bytes(&udp, raw.clone()).await.unwrap();
    client
        .send_transmit(&udp, raw.clone(), false)
        .await
        .unwrap();
    client.send_transmit(&udp, raw.clone(), true).await.unwrap();
    client.send_transmit(&udp, raw.clone(), true).await.unwrap();
    let tcp = Destination::new(Transport::Tcp, server.listener(Transport::Tcp).unwrap());
    client.send_transmit(&tcp, raw.clone(), true).await.unwrap();
    for _ in 0..5 {
        recv(&mut srx).await;
    }
    let u = client.counters().get(Transport::Udp);
    assert_eq!((u.messages_out, u.retransmissions_out), (4, 2));
    let t = client.counters().get(Transport::Tcp);
    assert_eq!((t.messages_out, t.retransmissions_out), (1, 1));
    // a failed send is not counted
    let (udp_only, _rx) = start(config(&[]));
    assert!(udp_only.send_transmit(&udp, raw, true).await.is_err());
    assert_eq!(
        udp_only.counters().get(Transport::Udp).retransmissions_out,
        0
    );
}

/// `start_sharded`: each message reaches the queue its route picks, over
/// UDP and TCP alike, and a route beyond the number of queues wraps.
#[tokio::test]
async fn sharded_queues_follow_the_route() {
    let route: Arc<sipline_transport::Route> = Arc::new(|inc: &Incoming| {
        // the Call-ID's first digit picks the queue
        inc.message
            .call_id()
            .and_then(|c| c.chars().next())
            .and_then(|c| c.to_digit(10))
            .unwrap_or(0) as usize
    });
    let cfg = config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]);
    let (layer, mut queues) = TransportLayer::start_sharded(cfg, 3, route).expect("start");
    assert_eq!(queues.len(), 3);
    let udp = layer.listener(Transport::Udp).unwrap();
    let tcp = layer.listener(Transport::Tcp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    // Call-IDs "0..@test" to "5..@test": queue = digit % 3
    for i in 0..6u32 {
        let text = request_text("OPTIONS", "UDP 127.0.0.1:9", &format!("{i}z9hG4bKq{i}"), "")
            .replace(
                &format!("Call-ID: {i}z9hG4bKq{i}@test"),
                &format!("Call-ID: {i}x@test"),
            );
        if i % 2 == 0 {
            sock.send_to(text.as_bytes(), udp).await.unwrap();
        } else {
            stream.write_all(text.as_bytes()).await.unwrap();
        }
    }
    let mut seen = vec![Vec::new(); 3];
    for (q, rx) in queues.iter_mut().enumerate() {
        for _ in 0..2 {
            let inc = recv(rx).await;
            seen[q].push(inc.message.call_id().unwrap().to_string());
        }
        assert!(
            timeout(Duration::from_millis(200), rx.recv())
                .await
                .is_err(),
            "queue {q} got a third message"
        );
    }
    for (q, ids) in seen.iter_mut().enumerate() {
        ids.sort();
        assert_eq!(
            *ids,
            vec![format!("{q}x@test"), format!("{}x@test", q + 3)],
            "queue {q}"
        );
    }
}

/// RFC 5626 §8: the SIP UDP port answers a STUN Binding Request (a
/// keep-alive) with a Binding Success Response whose XOR-MAPPED-ADDRESS is
/// the sender's address; the request never reaches the SIP layer.
#[tokio::test]
async fn udp_port_answers_stun_binding_requests() {
    let (layer, mut rx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let server = layer.listener(Transport::Udp).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let tid = *b"sipline-stun";
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(&tid);
    sock.send_to(&req, server).await.unwrap();
    let mut buf = [0u8; 128];
    let (n, from) = timeout(T, sock.recv_from(&mut buf)).await.unwrap().unwrap();
    let r = &buf[..n];
    assert_eq!(from, server);
    assert_eq!(&r[0..2], &[0x01, 0x01], "Binding Success Response");
    assert_eq!(&r[8..20], &tid);
    assert_eq!(&r[20..22], &[0x00, 0x20], "XOR-MAPPED-ADDRESS");
    let port = u16::from_be_bytes([r[26], r[27]]) ^ 0x2112;
    let ip = u32::from_be_bytes([r[28], r[29], r[30], r[31]]) ^ 0x2112_a442;
    assert_eq!(SocketAddr::from((std::net::Ipv4Addr::from(ip), port)), me);
    assert!(
        timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err(),
        "nothing passed up to SIP"
    );
    // other STUN (a Binding Indication) and binary garbage: no answer, no
    // message, each counted as an error
    let mut indication = req.clone();
    indication[1] = 0x11;
    sock.send_to(&indication, server).await.unwrap();
    sock.send_to(&[0x00, 0xff, 0x13], server).await.unwrap();
    assert!(
        timeout(Duration::from_millis(200), sock.recv_from(&mut buf))
            .await
            .is_err()
    );
    assert!(timeout(Duration::from_millis(50), rx.recv()).await.is_err());
    let c = layer.counters().get(Transport::Udp);
    assert_eq!((c.parse_errors, c.messages_in), (2, 0));
}

/// RFC 5626 §4.4.2: a layer sends a STUN Binding Request from its SIP UDP
/// socket to another layer's and gets the Binding Success Response back on
/// `subscribe_stun`, with its own address as XOR-MAPPED-ADDRESS; the
/// response is not a parse error. Binary that is not a Binding Response
/// still is; STUN over a connection transport is refused.
#[tokio::test]
async fn stun_keepalive_round_trip_between_two_layers() {
    use sipline_transport::stun::{BindingOutcome, BindingRequest};
    let (server, _srx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let (client, mut crx) = start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let server_addr = server.listener(Transport::Udp).unwrap();
    let client_addr = client.listener(Transport::Udp).unwrap();
    let mut stun = client.subscribe_stun();
    let tid = *b"keepalive-01";
    let dest = Destination::new(Transport::Udp, server_addr);
    client.send_stun_binding(&dest, tid).await.unwrap();
    let got = timeout(T, stun.recv()).await.unwrap().unwrap();
    assert_eq!(got.response.transaction_id, tid);
    assert_eq!(got.response.outcome, BindingOutcome::Mapped(client_addr));
    assert_eq!((got.source, got.local), (server_addr, client_addr));
    let c = client.counters().get(Transport::Udp);
    assert_eq!((c.parse_errors, c.messages_in, c.messages_out), (0, 0, 0));
    assert_eq!(server.counters().get(Transport::Udp).parse_errors, 0);

    // a stray Binding Request to the client is answered, not passed up;
    // garbage is still an error
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&BindingRequest::new([5; 12]).encode(), client_addr)
        .await
        .unwrap();
    let mut buf = [0u8; 128];
    let (n, _) = timeout(T, sock.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[8..20], &[5; 12]);
    assert_eq!(n, 32);
    sock.send_to(&[0x01, 0x01, 0x00, 0x00, 0, 0, 0, 0], client_addr)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(stun.try_recv().is_err(), "nothing else passed up");
    assert!(crx.try_recv().is_err());
    assert_eq!(client.counters().get(Transport::Udp).parse_errors, 1);

    let tcp = Destination::new(Transport::Tcp, server_addr);
    assert!(matches!(
        client.send_stun_binding(&tcp, tid).await,
        Err(SendError::Unsupported(Transport::Tcp))
    ));
}
