//! RFC 5626 through a NAT-like path: `sipline answer --outbound` registers
//! through a user-space "NAT" whose UDP bindings expire after 1 s without
//! outgoing traffic. `sipline serve` routes the call back over the
//! registered flow (the NAT's public address), which only works while the
//! binding lives: with `--keepalive 0.3` it does, three seconds later;
//! without keep-alives the INVITE is lost in the expired binding. And a
//! caller with `--outbound` gets a flow token in serve's Record-Route
//! (its Contact's `ob`, RFC 5626 §4.3, §5.3.2).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::serve::{Serve, ServeOptions};
use support::{bin, Child};

/// A NAT for one server: clients send to `inside`; each client gets its own
/// public socket towards the server, dropped after `ttl` without outgoing
/// traffic (then what the server sends to it is lost).
struct Nat {
    inside: SocketAddr,
    stop: Arc<AtomicBool>,
    /// STUN Binding Requests from clients, and Binding Success Responses
    /// from the server, that passed (RFC 5389 §6: type, cookie).
    stun: Arc<[AtomicUsize; 2]>,
}

fn is_stun(data: &[u8], kind: [u8; 2]) -> bool {
    data.len() >= 20 && data[..2] == kind && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

impl Drop for Nat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn nat(server: SocketAddr, ttl: Duration) -> Nat {
    let inside = UdpSocket::bind("127.0.0.1:0").unwrap();
    inside.set_nonblocking(true).unwrap();
    let addr = inside.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let stun = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counted = Arc::clone(&stun);
    std::thread::spawn(move || {
        // client → (public socket, last outgoing packet)
        let mut bindings: HashMap<SocketAddr, (UdpSocket, Instant)> = HashMap::new();
        let mut buf = [0u8; 65535];
        while !stopped.load(Ordering::Relaxed) {
            let mut idle = true;
            while let Ok((n, client)) = inside.recv_from(&mut buf) {
                idle = false;
                let entry = bindings.entry(client).or_insert_with(|| {
                    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                    s.set_nonblocking(true).unwrap();
                    (s, Instant::now())
                });
                entry.1 = Instant::now();
                if is_stun(&buf[..n], [0x00, 0x01]) {
                    counted[0].fetch_add(1, Ordering::Relaxed);
                }
                let _ = entry.0.send_to(&buf[..n], server);
            }
            for (client, (public, _)) in &bindings {
                while let Ok((n, _)) = public.recv_from(&mut buf) {
                    idle = false;
                    if is_stun(&buf[..n], [0x01, 0x01]) {
                        counted[1].fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = inside.send_to(&buf[..n], client);
                }
            }
            // Expired bindings: their public sockets close.
            bindings.retain(|_, (_, last)| last.elapsed() < ttl);
            if idle {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    Nat {
        inside: addr,
        stop,
        stun,
    }
}

/// `sipline serve` for example.test with T1 = 50 ms: a branch lost in the
/// NAT times out (Timer B, 64·T1) in 3.2 s.
fn serve(name: &str) -> Serve {
    let options = ServeOptions::new(&format!("nat-{name}"));
    let data = options.data_dir();
    options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\ndomains = [\"example.test\"]\ndata_dir = \"{}\"\n\n[timers]\nt1_ms = 50\nt2_ms = 400\nt4_ms = 500\n",
            data.display()
        ))
        .start()
}

/// Registers bob behind the NAT, waits `idle`, then calls him through
/// serve; true if the call was answered, and the STUN Binding Requests
/// and Responses that went through the NAT.
fn call_behind_nat(name: &str, keepalive: Option<&str>, idle: Duration) -> (bool, usize, usize) {
    let serve = serve(name);
    let port = serve.port();
    let server = serve.udp();
    let nat = nat(server, Duration::from_secs(1));
    let proxy = format!("sip:{}", nat.inside);
    let mut args = vec![
        "answer",
        "--register",
        "sip:example.test",
        "--proxy",
        &proxy,
        "--from",
        "sip:bob@example.test",
        "--outbound",
        "--count",
        "1",
        "--listen",
        "127.0.0.1:0",
    ];
    if let Some(k) = keepalive {
        args.extend(["--keepalive", k]);
    }
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _bob = Child::new("sipline answer", child);
    let mut lines = BufReader::new(out).lines();
    let registered = (0..3).any(|_| {
        lines
            .next()
            .and_then(Result::ok)
            .is_some_and(|l| l.starts_with("registered"))
    });
    assert!(registered, "bob registered through the NAT");
    std::thread::sleep(idle);
    let status = bin()
        .args([
            "call",
            "sip:bob@example.test",
            "--proxy",
            &format!("sip:127.0.0.1:{port}"),
            "--from",
            "sip:alice@example.test",
            "--duration",
            "0.5",
            "--timeout",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    (
        status.success(),
        nat.stun[0].load(Ordering::Relaxed),
        nat.stun[1].load(Ordering::Relaxed),
    )
}

/// With `--outbound --keepalive`, serve's 200 says `Require: outbound`
/// (RFC 5626 §6), so bob's keep-alives are STUN Binding Requests (§4.4.2,
/// §8) and serve answers each one (§8).
#[test]
fn keepalives_hold_the_nat_binding_open_for_incoming_calls() {
    let (answered, requests, responses) =
        call_behind_nat("keepalive", Some("0.3"), Duration::from_secs(3));
    assert!(
        answered,
        "with keep-alives the call reaches bob over his flow"
    );
    // 3 s at one every 240-300 ms
    assert!(requests >= 8, "{requests} STUN Binding Requests");
    assert!(
        responses + 1 >= requests,
        "{responses} of {requests} answered"
    );
}

#[test]
fn without_keepalives_the_binding_expires_and_the_call_is_lost() {
    // Right after registering the binding is fresh: the call gets through.
    assert!(call_behind_nat("fresh", None, Duration::ZERO).0);
    // Three seconds idle: the NAT forgot bob; serve's INVITE to the flow
    // is lost and the caller gives up.
    let (answered, requests, _) = call_behind_nat("expired", None, Duration::from_secs(3));
    assert!(!answered);
    assert_eq!(requests, 0, "no keep-alives asked for");
}

/// RFC 5626 §4.3: alice calls with `--outbound` (never registered), so her
/// INVITE's Contact has `ob`, and serve (§5.3.2: "the edge proxy can use
/// the presence of the "ob" URI parameter in the UAC's Contact URI")
/// Record-Routes the value facing her with a flow token (`ft-...`): the
/// 200 she gets back carries it, and bob's BYE reaches her through it.
/// Called again without `--outbound`: no `ob`, no flow token. (No NAT
/// here: alice's Contact and her flow are the same address on loopback;
/// a preloaded Route naming the NAT would not name serve.)
#[test]
fn outbound_caller_gets_a_flow_token_record_route() {
    let serve = serve("ob-caller");
    let proxy = format!("sip:127.0.0.1:{}", serve.port());
    let mut child = bin()
        .args([
            "answer",
            "--register",
            "sip:example.test",
            "--proxy",
            &proxy,
            "--from",
            "sip:bob@example.test",
            "--count",
            "2",
            "--duration",
            "0.3",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _bob = Child::new("sipline answer", child);
    let mut lines = BufReader::new(out).lines();
    let registered = (0..3).any(|_| {
        lines
            .next()
            .and_then(Result::ok)
            .is_some_and(|l| l.starts_with("registered"))
    });
    assert!(registered, "bob registered");
    for outbound in [true, false] {
        let mut args = vec![
            "call",
            "sip:bob@example.test",
            "--proxy",
            &proxy,
            "--from",
            "sip:alice@example.test",
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "5",
            "--json",
            "--trace",
        ];
        if outbound {
            args.push("--outbound");
        }
        let out = bin().args(&args).output().unwrap();
        let trace = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{trace}");
        let events = support::json_lines(&out.stdout);
        assert_eq!(
            support::find_event(&events, "ended").unwrap()["reason"],
            "RemoteBye",
            "{events:?}"
        );
        let contact = message_rows(&trace, " --> UDP ", "INVITE sip:", "Contact:");
        assert_eq!(contact.len(), 1, "{trace}");
        assert_eq!(contact[0].contains(";ob>"), outbound, "{trace}");
        let rr = message_rows(&trace, " <-- UDP ", "SIP/2.0 200 OK", "Record-Route:");
        assert!(!rr.is_empty(), "{trace}");
        assert_eq!(
            rr.iter().any(|r| r.contains("<sip:ft-")),
            outbound,
            "outbound: {outbound}, Record-Route: {rr:?}"
        );
    }
}

/// The header rows named `header` of the first message of the `--trace`
/// ladder on a line with `arrow` (e.g. " --> UDP ") and `first` (its
/// first line), trimmed.
fn message_rows<'a>(trace: &'a str, arrow: &str, first: &str, header: &str) -> Vec<&'a str> {
    trace
        .lines()
        .skip_while(|l| !(l.contains(arrow) && l.contains(first)))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .filter(|l| l.starts_with(header))
        .collect()
}
