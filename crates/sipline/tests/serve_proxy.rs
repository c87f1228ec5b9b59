//! `sipline serve` as a proxy and redirect server, from the outside: a
//! caller and scripted phones on UDP sockets on 127.0.0.1 (RFC 3261 §16,
//! §8.3). The phones register under one address of record; the caller's
//! INVITE forks to both.

mod support;

use sipline_message::header::StdHeader;
use sipline_message::{Bytes, Message, Method};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;
use support::serve::{Serve, ServeOptions};
use support::{drain, phone_response, recv, status, udp_socket};

/// `sipline serve` on UDP with these arguments more.
fn start(name: &str, extra: &[&str]) -> Serve {
    ServeOptions::new(&format!("proxy-{name}"))
        .udp()
        .args(extra)
        .start()
}

/// How a phone answers an INVITE: 180 at once, then `answer` after `delay`
/// (None: keep ringing until CANCEL).
#[derive(Clone, Copy)]
struct Phone {
    answer: Option<u16>,
    delay: Duration,
}

/// Runs a phone on its own socket; reports every request it receives.
fn phone(behaviour: Phone) -> (u16, mpsc::Receiver<Method>) {
    let sock = udp_socket(Duration::from_millis(100));
    let port = sock.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut invite: Option<(Message, SocketAddr)> = None;
        let mut answer_at: Option<std::time::Instant> = None;
        for _ in 0..200 {
            let mut buf = [0u8; 65535];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let Ok(m) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                    continue;
                };
                let Some(req) = m.as_request() else { continue };
                if tx.send(req.method.clone()).is_err() {
                    return;
                }
                let reply = |code: u16, to: &Message| {
                    let _ = sock.send_to(&phone_response(to, code, port), from);
                };
                match req.method {
                    // a re-INVITE within the dialog: accepted at once
                    Method::Invite if m.to_tag().is_some() => reply(200, &m),
                    Method::Invite if invite.is_none() => {
                        reply(180, &m);
                        answer_at = behaviour
                            .answer
                            .map(|_| std::time::Instant::now() + behaviour.delay);
                        invite = Some((m, from));
                    }
                    Method::Cancel => {
                        reply(200, &m);
                        if let Some((inv, _)) = invite.take() {
                            reply(487, &inv);
                        }
                        answer_at = None;
                    }
                    Method::Bye => reply(200, &m),
                    _ => {}
                }
            }
            if answer_at.is_some_and(|t| std::time::Instant::now() >= t) {
                answer_at = None;
                if let (Some((inv, from)), Some(code)) = (&invite, behaviour.answer) {
                    let _ = sock.send_to(&phone_response(inv, code, port), from);
                }
            }
        }
    });
    (port, rx)
}

/// Registers bob with a binding for each of these ports.
fn register(server: u16, contacts: &[u16]) {
    let values: Vec<String> = contacts
        .iter()
        .map(|p| format!("<sip:bob@127.0.0.1:{p}>"))
        .collect();
    support::register(server, "bob", &values);
}

struct Caller {
    sock: UdpSocket,
    server: u16,
}

impl Caller {
    fn new(server: u16) -> Self {
        let sock = udp_socket(Duration::from_secs(5));
        Self { sock, server }
    }

    fn request(
        &self,
        method: &str,
        branch: &str,
        cseq: u32,
        to_tag: Option<&str>,
        route: Option<&str>,
    ) -> String {
        let l = self.sock.local_addr().unwrap();
        let s = self.server;
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let route = route.map(|r| format!("Route: {r}\r\n")).unwrap_or_default();
        format!(
            "{method} sip:bob@127.0.0.1:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\n\
Max-Forwards: 70\r\n{route}To: <sip:bob@127.0.0.1:{s}>{to_tag}\r\nFrom: <sip:alice@127.0.0.1:{s}>;tag=a1\r\n\
Call-ID: call-{}\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{l}>\r\nContent-Length: 0\r\n\r\n",
            // one Call-ID per caller: all its requests are one dialog (§12)
            l.port()
        )
    }

    fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), ("127.0.0.1", self.server))
            .unwrap();
    }

    /// Responses until a final one for `method`.
    fn final_for(&self, method: Method) -> (Vec<u16>, Message) {
        let mut seen = Vec::new();
        loop {
            let m = recv(&self.sock).expect("a response");
            seen.push(status(&m));
            if status(&m) >= 200 && m.cseq().unwrap().method == method {
                return (seen, m);
            }
        }
    }
}

#[test]
fn forking_486_and_200_then_ack_and_bye() {
    let server = start("fork", &[]);
    let (busy, busy_rx) = phone(Phone {
        answer: Some(486),
        delay: Duration::ZERO,
    });
    let (ok, ok_rx) = phone(Phone {
        answer: Some(200),
        delay: Duration::from_millis(200),
    });
    register(server.port(), &[busy, ok]);

    let caller = Caller::new(server.port());
    let branch = "z9hG4bKcall1";
    caller.send(&caller.request("INVITE", branch, 1, None, None));
    let (seen, ok200) = caller.final_for(Method::Invite);
    assert!(seen.contains(&180), "{seen:?}");
    assert_eq!(status(&ok200), 200, "the 2xx wins over the 486 (§16.7)");
    let rr = ok200
        .headers()
        .get(StdHeader::RecordRoute)
        .expect("record-routed")
        .to_string();
    assert!(
        rr.contains(&format!("127.0.0.1:{}", server.port())) && rr.contains("lr"),
        "{rr}"
    );

    // ACK and BYE to the remote target (the 2xx's Contact), through the
    // proxy by the route set (§12.2.1.1)
    let to_tag = ok200.to_tag().unwrap().to_string();
    let target = ok200.contacts().unwrap()[0]
        .address()
        .unwrap()
        .uri
        .to_string();
    let in_dialog = |method: &str, branch: &str, cseq: u32| {
        caller
            .request(method, branch, cseq, Some(&to_tag), Some(&rr))
            .replacen(&format!("sip:bob@127.0.0.1:{}", server.port()), &target, 1)
    };
    caller.send(&in_dialog("ACK", "z9hG4bKack1", 1));
    // a re-INVITE in the dialog, through the proxy by the route set, then its ACK
    caller.send(&in_dialog("INVITE", "z9hG4bKreinv1", 2));
    let (_, re_ok) = caller.final_for(Method::Invite);
    assert_eq!(status(&re_ok), 200, "{re_ok}");
    caller.send(&in_dialog("ACK", "z9hG4bKack2", 2));
    caller.send(&in_dialog("BYE", "z9hG4bKbye1", 3));
    let (_, bye_ok) = caller.final_for(Method::Bye);
    assert_eq!(status(&bye_ok), 200);

    let ok_got = drain(&ok_rx, Duration::from_millis(300));
    assert_eq!(
        ok_got,
        [
            Method::Invite,
            Method::Ack,
            Method::Invite,
            Method::Ack,
            Method::Bye
        ],
        "the answering phone"
    );
    let busy_got = drain(&busy_rx, Duration::from_millis(300));
    // the 486 branch: its INVITE and the ACK the proxy's transaction sends (§17.1.1.3)
    assert_eq!(busy_got, [Method::Invite, Method::Ack], "the busy phone");
}

#[test]
fn cancel_stops_both_ringing_phones() {
    let server = start("cancel", &[]);
    let ring = Phone {
        answer: None,
        delay: Duration::ZERO,
    };
    let (p1, rx1) = phone(ring);
    let (p2, rx2) = phone(ring);
    register(server.port(), &[p1, p2]);

    let caller = Caller::new(server.port());
    let invite = caller.request("INVITE", "z9hG4bKcall2", 1, None, None);
    caller.send(&invite);
    let first = recv(&caller.sock).unwrap();
    assert_eq!(status(&first), 180);
    caller.send(
        &invite
            .replacen("INVITE sip", "CANCEL sip", 1)
            .replace("1 INVITE", "1 CANCEL"),
    );
    let mut statuses = Vec::new();
    while !(statuses.contains(&487) && statuses.contains(&200)) {
        let m = recv(&caller.sock).expect("responses to CANCEL and INVITE");
        statuses.push(status(&m));
    }
    assert!(drain(&rx1, Duration::from_millis(300)).contains(&Method::Cancel));
    assert!(drain(&rx2, Duration::from_millis(300)).contains(&Method::Cancel));
}

#[test]
fn redirect_mode_answers_302_with_contacts() {
    let server = start("redirect", &["--mode", "redirect"]);
    register(server.port(), &[40001, 40002]);
    let caller = Caller::new(server.port());
    caller.send(&caller.request("INVITE", "z9hG4bKcall3", 1, None, None));
    let (_, r) = caller.final_for(Method::Invite);
    // two contacts: 300 Multiple Choices (§8.3), each with its expires
    assert_eq!(status(&r), 300, "{r}");
    let contacts = r.contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    assert!(contacts
        .iter()
        .all(|c| c.address().unwrap().expires().is_some()));
}

#[test]
fn local_users_must_authenticate_their_invites() {
    let server = start("auth", &["--domain", "example.test", "--user", "alice:pw"]);
    let caller = Caller::new(server.port());
    let invite = caller
        .request("INVITE", "z9hG4bKcall4", 1, None, None)
        .replace(
            "From: <sip:alice@127.0.0.1",
            "From: <sip:alice@example.test",
        )
        .replace(
            &format!("<sip:alice@example.test:{}>", server.port()),
            "<sip:alice@example.test>",
        );
    caller.send(&invite);
    let (_, r) = caller.final_for(Method::Invite);
    assert_eq!(status(&r), 407, "{r}");
    assert!(r.headers().contains(StdHeader::ProxyAuthenticate));

    // A From naming the server by its address (with its port, or none) is
    // one of our users too: the registrar serves those addresses of record.
    let port = server.port();
    for from in [format!("127.0.0.1:{port}"), "127.0.0.1".to_string()] {
        let caller = Caller::new(port);
        let invite = caller
            .request("INVITE", &format!("z9hG4bKip{}", from.len()), 1, None, None)
            .replace(
                &format!("From: <sip:alice@127.0.0.1:{port}>"),
                &format!("From: <sip:alice@{from}>"),
            );
        caller.send(&invite);
        let (_, r) = caller.final_for(Method::Invite);
        assert_eq!(status(&r), 407, "From sip:alice@{from}: {r}");
    }
}

#[test]
fn stateless_mode_forwards_without_transactions() {
    let server = start("stateless", &["--mode", "stateless"]);
    let (ok, ok_rx) = phone(Phone {
        answer: Some(200),
        delay: Duration::from_millis(300),
    });
    register(server.port(), &[ok]);
    let caller = Caller::new(server.port());
    let invite = caller.request("INVITE", "z9hG4bKcall5", 1, None, None);
    caller.send(&invite);
    std::thread::sleep(Duration::from_millis(100));
    // a retransmission is forwarded again (a stateful proxy would absorb it)
    caller.send(&invite);
    let (seen, r) = caller.final_for(Method::Invite);
    assert_eq!(status(&r), 200, "{seen:?}");
    let got = drain(&ok_rx, Duration::from_millis(300));
    assert_eq!(
        got.iter().filter(|m| **m == Method::Invite).count(),
        2,
        "{got:?}"
    );
}

/// A CANCEL that arrives after the INVITE got its final response has no
/// effect but is still answered 200 (RFC 3261 §9.2), not 481; the phone
/// never sees it.
#[test]
fn cancel_after_the_final_response_gets_200() {
    let server = start("late-cancel", &[]);
    let (p, rx) = phone(Phone {
        answer: Some(200),
        delay: Duration::ZERO,
    });
    register(server.port(), &[p]);
    let caller = Caller::new(server.port());
    let invite = caller.request("INVITE", "z9hG4bKcall9", 1, None, None);
    caller.send(&invite);
    let (_, ok) = caller.final_for(Method::Invite);
    assert_eq!(status(&ok), 200);
    caller.send(
        &invite
            .replacen("INVITE sip", "CANCEL sip", 1)
            .replace("1 INVITE", "1 CANCEL"),
    );
    let (_, r) = caller.final_for(Method::Cancel);
    assert_eq!(status(&r), 200, "{r}");
    assert!(!drain(&rx, Duration::from_millis(300)).contains(&Method::Cancel));
}

/// With four message-handling threads: the two REGISTERs of each address
/// of record, sent at once from two Call-IDs, are handled one after the
/// other by one thread (a fetch lists both bindings), and calls with many
/// Call-IDs, whose responses come back by the thread's digit in the
/// proxy's branch, fork, complete and end with ACK and BYE.
#[test]
fn four_threads_keep_transactions_and_bindings_together() {
    let server = start("threads", &["--threads", "4"]);
    let port = server.port();
    let users: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    let mut phones = Vec::new();
    for user in &users {
        let (ok, ok_rx) = phone(Phone {
            answer: Some(200),
            delay: Duration::from_millis(100),
        });
        let (busy, busy_rx) = phone(Phone {
            answer: Some(486),
            delay: Duration::ZERO,
        });
        // both REGISTERs at once, from different Call-IDs (and sockets)
        let socks: Vec<UdpSocket> = [ok, busy]
            .iter()
            .enumerate()
            .map(|(n, contact)| {
                let s = udp_socket(Duration::from_secs(5));
                let l = s.local_addr().unwrap();
                let msg = format!(
                    "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKr{n}{user};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@127.0.0.1:{port}>\r\nFrom: <sip:{user}@127.0.0.1:{port}>;tag=r{n}\r\n\
Call-ID: reg{n}-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:{contact}>\r\nContent-Length: 0\r\n\r\n"
                );
                s.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
                s
            })
            .collect();
        for s in &socks {
            let r = recv(s).expect("REGISTER answered");
            assert_eq!(status(&r), 200, "{r}");
        }
        let fetched = support::register(port, user, &[]);
        assert_eq!(
            fetched.contacts().unwrap().len(),
            2,
            "{user}: both bindings kept: {fetched}"
        );
        phones.push((user.clone(), ok_rx, busy_rx));
    }

    for (user, ok_rx, busy_rx) in &phones {
        let caller = Caller::new(port);
        let branch = format!("z9hG4bKcall{user}");
        let for_user = |text: String| text.replace("sip:bob@", &format!("sip:{user}@"));
        caller.send(&for_user(caller.request("INVITE", &branch, 1, None, None)));
        let (_, ok200) = caller.final_for(Method::Invite);
        assert_eq!(status(&ok200), 200, "{user}: {ok200}");
        let rr = ok200
            .headers()
            .get(StdHeader::RecordRoute)
            .expect("record-routed")
            .to_string();
        let to_tag = ok200.to_tag().unwrap().to_string();
        let target = ok200.contacts().unwrap()[0]
            .address()
            .unwrap()
            .uri
            .to_string();
        let in_dialog = |method: &str, branch: &str, cseq: u32| {
            for_user(caller.request(method, branch, cseq, Some(&to_tag), Some(&rr))).replacen(
                &format!("sip:{user}@127.0.0.1:{port}"),
                &target,
                1,
            )
        };
        caller.send(&in_dialog("ACK", &format!("{branch}a"), 1));
        caller.send(&in_dialog("BYE", &format!("{branch}b"), 2));
        let (_, bye_ok) = caller.final_for(Method::Bye);
        assert_eq!(status(&bye_ok), 200, "{user}");
        assert_eq!(
            drain(ok_rx, Duration::from_millis(300)),
            [Method::Invite, Method::Ack, Method::Bye],
            "{user}'s answering phone"
        );
        assert_eq!(
            drain(busy_rx, Duration::from_millis(100)),
            [Method::Invite, Method::Ack],
            "{user}'s busy phone"
        );
    }
}

/// SIGTERM after REGISTERs that all have their final responses: the server
/// exits at once, not at the end of its grace period (5 s). Their
/// transactions only wait out Timer J (64*T1 = 32 s, RFC 3261 §17.2.2) to
/// absorb retransmissions, which is nothing to wait for.
#[test]
fn sigterm_does_not_wait_for_timer_j() {
    let mut server = start("sigterm-idle", &[]);
    // two REGISTERs, each answered 200 (`register` checks)
    register(server.port(), &[5]);
    register(server.port(), &[6, 7]);
    let stopped_at = std::time::Instant::now();
    server.terminate();
    let exit = server.wait(Duration::from_secs(8));
    assert!(exit.success(), "exit status {exit}");
    assert!(
        stopped_at.elapsed() < Duration::from_millis(2500),
        "stopped without waiting out the grace period: {:?}",
        stopped_at.elapsed()
    );
}

/// SIGTERM while a call rings (the graceful shutdown): new
/// requests get 503 (whichever thread they go to), the ringing call's 200 still reaches the caller and
/// its ACK the phone, and the server then exits 0 before its grace period
/// (`shutdown_grace_s`, 5 s) ends.
#[test]
fn sigterm_lets_the_ringing_call_finish_and_refuses_new_requests() {
    // four threads: the new requests below land on threads with nothing
    // of their own to finish, which must still answer them
    let mut server = start("sigterm", &["--threads", "4"]);
    let (p, rx) = phone(Phone {
        answer: Some(200),
        delay: Duration::from_millis(800),
    });
    register(server.port(), &[p]);
    let caller = Caller::new(server.port());
    caller.send(&caller.request("INVITE", "z9hG4bKterm1", 1, None, None));
    // the 180 (the phone rings at once)
    loop {
        let m = recv(&caller.sock).expect("a provisional response");
        if status(&m) == 180 {
            break;
        }
    }
    let stopped_at = std::time::Instant::now();
    server.terminate();
    std::thread::sleep(Duration::from_millis(150));
    for i in 0..6 {
        let late = Caller::new(server.port());
        late.send(&late.request("OPTIONS", &format!("z9hG4bKterm2{i}"), 1, None, None));
        let (_, r) = late.final_for(Method::Options);
        assert_eq!(status(&r), 503, "a new request while shutting down: {r}");
    }

    let (_, ok) = caller.final_for(Method::Invite);
    assert_eq!(status(&ok), 200, "the ringing call is answered: {ok}");
    let rr = ok
        .headers()
        .get(StdHeader::RecordRoute)
        .expect("record-routed")
        .to_string();
    let to_tag = ok.to_tag().unwrap().to_string();
    let target = ok.contacts().unwrap()[0].address().unwrap().uri.to_string();
    let ack = caller
        .request("ACK", "z9hG4bKterm3", 1, Some(&to_tag), Some(&rr))
        .replacen(&format!("sip:bob@127.0.0.1:{}", server.port()), &target, 1);
    caller.send(&ack);
    let status = server.wait(Duration::from_secs(8));
    assert!(status.success(), "exit status {status}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(6),
        "stopped within the grace period: {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(
        drain(&rx, Duration::from_millis(200)),
        [Method::Invite, Method::Ack],
        "the phone got the INVITE and, after SIGTERM, the ACK"
    );
}
