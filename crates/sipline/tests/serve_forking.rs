//! Sequential forking by q-value through `sipline serve`, over UDP sockets
//! on 127.0.0.1 (RFC 3261 §16.6: "It MAY process multiple targets
//! serially"; RFC 3841 §7.2.4 / RFC 3261 §16.6 and §16.7: targets of the
//! highest q first, the next group when the current one ends without a 2xx
//! or 6xx, or when its time is up, the still ringing branches being
//! cancelled, §16.10 / §9.1). Two phones register one address of record
//! with q=1.0 and q=0.5.

mod support;

use sipline_message::header::StdHeader;
use sipline_message::{Bytes, Message, Method};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::serve::{Serve, ServeOptions};
use support::{drain, phone_response, status, udp_socket};

/// `sipline serve` with sequential forking and this branch timeout.
fn start(name: &str, branch_timeout_s: u64) -> Serve {
    let options = ServeOptions::new(&format!("fork-{name}"));
    let data = options.data_dir();
    options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\nforking = \"sequential\"\n\
             data_dir = \"{}\"\n[timers]\nbranch_timeout_s = {branch_timeout_s}\n",
            data.display()
        ))
        .start()
}

/// How a phone answers an INVITE: 180 at once, then `answer` after `delay`
/// (None: ring until CANCEL; a 487 then ends the INVITE, §9.2).
#[derive(Clone, Copy)]
struct Behaviour {
    ring: bool,
    answer: Option<u16>,
    delay: Duration,
}

/// A scripted phone on its own UDP socket; reports every request it gets
/// with the time it got it. It runs for at most 10 s.
fn phone(b: Behaviour) -> (u16, mpsc::Receiver<(Method, Instant)>) {
    let sock = udp_socket(Duration::from_millis(20));
    let port = sock.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
        let mut invite: Option<(Message, SocketAddr)> = None;
        let mut answer_at: Option<Instant> = None;
        let send = |code: u16, to: &Message, from: SocketAddr| {
            let _ = sock.send_to(&phone_response(to, code, port), from);
        };
        while Instant::now() < end {
            let mut buf = [0u8; 65535];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let Ok(m) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                    continue;
                };
                let Some(req) = m.as_request() else { continue };
                if tx.send((req.method.clone(), Instant::now())).is_err() {
                    return;
                }
                match req.method {
                    // a retransmission of the INVITE: absorbed
                    Method::Invite if invite.is_some() => {}
                    Method::Invite => {
                        if b.ring {
                            send(180, &m, from);
                        }
                        answer_at = b.answer.map(|_| Instant::now() + b.delay);
                        invite = Some((m, from));
                    }
                    Method::Cancel => {
                        send(200, &m, from);
                        if let Some((inv, from)) = &invite {
                            if answer_at.take().is_some() || b.answer.is_none() {
                                send(487, inv, *from);
                            }
                        }
                    }
                    Method::Bye => send(200, &m, from),
                    _ => {}
                }
            }
            if answer_at.is_some_and(|t| Instant::now() >= t) {
                answer_at = None;
                if let (Some((inv, from)), Some(code)) = (&invite, b.answer) {
                    send(code, inv, *from);
                }
            }
        }
    });
    (port, rx)
}

/// Registers bob with these (port, q) contacts.
fn register(server: u16, contacts: &[(u16, &str)]) {
    let values: Vec<String> = contacts
        .iter()
        .map(|(p, q)| format!("<sip:bob@127.0.0.1:{p}>;q={q}"))
        .collect();
    let r = support::register(server, "bob", &values);
    assert_eq!(r.contacts().unwrap().len(), contacts.len(), "{r}");
}

/// Sends an INVITE for bob and collects the responses until the final one
/// (then ACKs a 2xx, §13.2.2.4, through the proxy by its Record-Route).
fn call(server: u16, id: &str) -> (Vec<u16>, Message, Instant) {
    let sock = udp_socket(Duration::from_secs(8));
    let l = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:bob@127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{id};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:bob@127.0.0.1:{server}>\r\nFrom: <sip:alice@127.0.0.1:{server}>;tag=a1\r\n\
Call-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{l}>\r\nContent-Length: 0\r\n\r\n"
    );
    let sent = Instant::now();
    sock.send_to(invite.as_bytes(), ("127.0.0.1", server))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 65535];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("a response to the INVITE");
        let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
        seen.push(status(&m));
        if status(&m) >= 200 {
            if status(&m) == 200 {
                let rr = m.headers().get(StdHeader::RecordRoute).unwrap().to_string();
                let target = m.contacts().unwrap()[0].address().unwrap().uri.to_string();
                let ack = format!(
                    "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK{id}ack;rport\r\n\
Max-Forwards: 70\r\nRoute: {rr}\r\nTo: <sip:bob@127.0.0.1:{server}>;tag={}\r\n\
From: <sip:alice@127.0.0.1:{server}>;tag=a1\r\nCall-ID: {id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                    m.to_tag().unwrap()
                );
                sock.send_to(ack.as_bytes(), ("127.0.0.1", server)).unwrap();
            }
            return (seen, m, sent);
        }
    }
}

fn methods(got: &[(Method, Instant)]) -> Vec<Method> {
    got.iter().map(|(m, _)| m.clone()).collect()
}

fn when(got: &[(Method, Instant)], method: Method) -> Instant {
    got.iter()
        .find(|(m, _)| *m == method)
        .unwrap_or_else(|| panic!("no {method}: {:?}", methods(got)))
        .1
}

#[test]
fn ringing_first_choice_is_cancelled_after_the_branch_timeout() {
    let server = start("timeout", 1);
    let (first, first_rx) = phone(Behaviour {
        ring: true,
        answer: None,
        delay: Duration::ZERO,
    });
    let (second, second_rx) = phone(Behaviour {
        ring: true,
        answer: Some(200),
        delay: Duration::from_millis(100),
    });
    register(server.port(), &[(second, "0.5"), (first, "1.0")]);

    let (seen, ok, sent) = call(server.port(), "seqtimeout");
    assert_eq!(status(&ok), 200, "{seen:?}");
    // the 200 is the second phone's (its To tag), after both 180s
    assert_eq!(ok.to_tag(), Some(format!("ph{second}").as_str()), "{ok}");
    assert!(seen.iter().filter(|s| **s == 180).count() >= 1, "{seen:?}");
    // the first phone's 487 is not passed upstream (§16.7 step 6: a 2xx won)
    assert!(!seen.contains(&487), "{seen:?}");

    let got1 = drain(&first_rx, Duration::from_millis(300));
    let got2 = drain(&second_rx, Duration::from_millis(300));
    // INVITE, CANCEL, and the ACK of its 487 (§17.1.1.3)
    assert_eq!(
        methods(&got1),
        [Method::Invite, Method::Cancel, Method::Ack],
        "the q=1.0 phone"
    );
    assert_eq!(
        methods(&got2),
        [Method::Invite, Method::Ack],
        "the q=0.5 phone"
    );
    // q=1.0 first, alone for the branch timeout (1 s), then CANCEL, and the
    // q=0.5 phone gets its INVITE then, not before
    let (invite1, cancel1, invite2) = (
        when(&got1, Method::Invite),
        when(&got1, Method::Cancel),
        when(&got2, Method::Invite),
    );
    assert!(invite1 < invite2, "q=1.0 tried first");
    let waited = invite2.duration_since(sent);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1800),
        "the second group started {waited:?} after the INVITE (branch timeout 1 s)"
    );
    let gap = if cancel1 > invite2 {
        cancel1.duration_since(invite2)
    } else {
        invite2.duration_since(cancel1)
    };
    assert!(
        gap < Duration::from_millis(500),
        "CANCEL and next INVITE together: {gap:?}"
    );
}

#[test]
fn busy_first_choice_moves_on_at_once() {
    // a long branch timeout: the next group must start on the 486, not on it
    let server = start("busy", 20);
    let (first, first_rx) = phone(Behaviour {
        ring: false,
        answer: Some(486),
        delay: Duration::ZERO,
    });
    let (second, second_rx) = phone(Behaviour {
        ring: true,
        answer: Some(200),
        delay: Duration::from_millis(100),
    });
    register(server.port(), &[(first, "1.0"), (second, "0.5")]);

    let (seen, ok, sent) = call(server.port(), "seqbusy");
    assert_eq!(status(&ok), 200, "{seen:?}");
    assert_eq!(ok.to_tag(), Some(format!("ph{second}").as_str()), "{ok}");
    assert!(!seen.contains(&486), "{seen:?}");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );

    let got1 = drain(&first_rx, Duration::from_millis(300));
    let got2 = drain(&second_rx, Duration::from_millis(300));
    // the 486 branch: its INVITE and the ACK of the proxy's client
    // transaction (§17.1.1.3); no CANCEL, it had completed
    assert_eq!(
        methods(&got1),
        [Method::Invite, Method::Ack],
        "the q=1.0 phone"
    );
    assert_eq!(
        methods(&got2),
        [Method::Invite, Method::Ack],
        "the q=0.5 phone"
    );
    let gap = when(&got2, Method::Invite).duration_since(when(&got1, Method::Invite));
    assert!(
        gap < Duration::from_millis(500),
        "next group at once: {gap:?}"
    );
}

#[test]
fn answered_first_choice_leaves_the_second_alone() {
    let server = start("answered", 20);
    let (first, first_rx) = phone(Behaviour {
        ring: true,
        answer: Some(200),
        delay: Duration::from_millis(100),
    });
    let (second, second_rx) = phone(Behaviour {
        ring: true,
        answer: Some(200),
        delay: Duration::ZERO,
    });
    register(server.port(), &[(second, "0.5"), (first, "1.0")]);
    let (seen, ok, _) = call(server.port(), "seqanswered");
    assert_eq!(status(&ok), 200, "{seen:?}");
    assert_eq!(ok.to_tag(), Some(format!("ph{first}").as_str()), "{ok}");
    assert_eq!(
        methods(&drain(&first_rx, Duration::from_millis(300))),
        [Method::Invite, Method::Ack]
    );
    assert!(drain(&second_rx, Duration::from_millis(300)).is_empty());
}
