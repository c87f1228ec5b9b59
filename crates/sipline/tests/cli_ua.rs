//! The user-agent commands end to end with the real binary on 127.0.0.1:
//! `sipline call` to `sipline answer` with audio each way and DTMF;
//! rejection and its exit status; `register`, `message` and a call through
//! `sipline serve` with digest authentication.

mod support;

use sipline_media::tone::goertzel;
use sipline_media::wav;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::serve::{Serve, ServeOptions};
use support::{bin, free_port, json_lines, udp_socket, Child, TempDir};

/// Starts `sipline answer` and waits until it listens.
fn answer(args: &[&str], stdout_lines: usize) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = bin()
        .arg("answer")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // "listening on ..." lines (and "registered ..." if asked) come first.
    for _ in 0..stdout_lines {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("answer starts");
    }
    (Child::new("sipline answer", child), rx)
}

/// The lines `answer` printed so far, each parsed as JSON.
fn received_json(lines: &std::sync::mpsc::Receiver<String>) -> Vec<serde_json::Value> {
    lines
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn call_and_answer_with_audio_each_way_and_dtmf() {
    let dir = TempDir::new("cli-ua-audio");
    let port = free_port();
    let heard_by_callee = dir.file("callee.wav");
    let heard_by_caller = dir.file("caller.wav");
    let listen = format!("127.0.0.1:{port}");
    let (mut callee, lines) = answer(
        &[
            "--listen",
            &listen,
            "--count",
            "1",
            "--tone",
            "1000",
            "--record",
            heard_by_callee.to_str().unwrap(),
            "--json",
        ],
        2,
    );
    let out = run(bin().args([
        "call",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--duration",
        "2",
        "--tone",
        "440",
        "--dtmf",
        "5#",
        "--record",
        heard_by_caller.to_str().unwrap(),
        "--json",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let events = json_lines(&out.stdout);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["calling", "answered", "ended", "media"],
        "{events:?}"
    );
    assert!(events[3]["packets_received"].as_u64().unwrap() >= 80);
    // The callee exits after its one call.
    let status = callee.exit_status();
    assert!(status.success());
    let callee_events = received_json(&lines);
    let media = callee_events
        .iter()
        .find(|e| e["event"] == "media")
        .expect("callee media stats");
    assert!(media["packets_received"].as_u64().unwrap() >= 80, "{media}");
    assert_eq!(media["dtmf_received"], "5#");
    // Each side recorded the other's tone.
    let caller_heard = wav::read(&heard_by_caller).unwrap();
    let callee_heard = wav::read(&heard_by_callee).unwrap();
    assert!(caller_heard.len() >= 8000, "at least 1 s recorded");
    assert!(goertzel(&caller_heard, 1000.0) > 100.0 * goertzel(&caller_heard, 440.0));
    assert!(goertzel(&callee_heard, 440.0) > 100.0 * goertzel(&callee_heard, 1000.0));
}

/// DTMF as SIP INFO in the dialog: the callee sees each digit's INFO.
#[test]
fn dtmf_by_info() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut callee, lines) = answer(&["--listen", &listen, "--count", "1", "--json"], 2);
    let out = run(bin().args([
        "call",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--duration",
        "1",
        "--dtmf",
        "7*",
        "--dtmf-mode",
        "info",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(callee.exit_status().success());
    let infos: Vec<String> = lines
        .try_iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap())
        .filter(|e| e["event"] == "request" && e["method"] == "INFO")
        .map(|e| e["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert!(infos[0].contains("Signal=7") && infos[1].contains("Signal=*"));
}

#[test]
fn a_rejected_call_exits_1_and_an_unreachable_one_3() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (_callee, _lines) = answer(&["--listen", &listen, "--reject", "486"], 2);
    let out = run(bin().args(["call", &format!("sip:bob@127.0.0.1:{port}")]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("486 Busy Here"), "{}", text(&out));
    // Nobody listens: Timer B (64*T1, here 64*10 ms) ends it with exit 3.
    let dead = free_port();
    let out = run(bin().args(["call", &format!("sip:bob@127.0.0.1:{dead}"), "--t1", "10"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // A bad URI is a usage error.
    let out = run(bin().args(["call", "bob@nowhere"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// `sipline serve` on UDP for example.test, with digest authentication
/// (realm example.test) for alice and bob.
fn serve() -> Serve {
    let options = ServeOptions::new("cli-ua-serve");
    let data = options.data_dir();
    options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\ndomains = [\"example.test\"]\ndata_dir = \"{}\"\n\n[auth]\nrealm = \"example.test\"\n\n[[auth.users]]\nname = \"alice\"\npassword = \"alice-pw\"\n\n[[auth.users]]\nname = \"bob\"\npassword = \"bob-pw\"\n",
            data.display()
        ))
        .start()
}

/// Through `sipline serve` with digest authentication: register (and a
/// wrong password refused), a MESSAGE and a call to a registered
/// `sipline answer`, both challenged by the proxy (407) and retried.
#[test]
fn register_message_and_call_through_serve() {
    let s = serve();
    let registrar = format!("sip:127.0.0.1:{}", s.port());
    let proxy = format!("sip:127.0.0.1:{}", s.port());
    let alice = ["--from", "sip:alice@example.test", "--user", "alice"];
    let out = run(bin().args(["register", &registrar]).args(alice).args([
        "--password",
        "wrong",
        "--once",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("403"), "{}", text(&out));
    let out = run(bin()
        .args(["register", &registrar])
        .args(alice)
        .args(["--once", "--expires", "120"])
        .env("SIPLINE_PASSWORD", "alice-pw"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("registered at"), "{}", text(&out));
    // bob answers, registered through the proxy.
    let (mut bob, lines) = answer(
        &[
            "--register",
            &registrar,
            "--from",
            "sip:bob@example.test",
            "--user",
            "bob",
            "--password",
            "bob-pw",
            "--count",
            "1",
            "--listen",
            "127.0.0.1:0",
        ],
        3,
    );
    let out = run(bin()
        .args([
            "message",
            "sip:bob@example.test",
            "hello through the proxy",
            "--proxy",
            &proxy,
        ])
        .args(alice)
        .args(["--password", "alice-pw"]));
    assert!(out.status.success(), "{}", text(&out));
    let got = lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(got.contains("hello through the proxy"), "{got}");
    let out = run(bin()
        .args(["call", "sip:bob@example.test", "--proxy", &proxy])
        .args(alice)
        .args(["--password", "alice-pw", "--duration", "1"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("media: "), "{}", text(&out));
    assert!(bob.exit_status().success());
}

/// `sipline subscribe` to `sipline answer --presence`: the first NOTIFY
/// carries the PIDF status and note (RFC 6665, RFC 3863); unsubscribing
/// ends with a terminated NOTIFY and exit 0. Another event package gets 489.
#[test]
fn presence_subscription() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (_notifier, _lines) = answer(
        &[
            "--listen",
            &listen,
            "--presence",
            "open",
            "--note",
            "at my desk",
        ],
        2,
    );
    let out = run(bin().args([
        "subscribe",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--expires",
        "60",
        "--duration",
        "1",
        "--json",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let events = json_lines(&out.stdout);
    let notify = events
        .iter()
        .find(|e| e["event"] == "notify")
        .expect("a NOTIFY");
    assert_eq!(notify["state"], "active");
    assert_eq!(notify["basic"], "open");
    assert_eq!(notify["note"], "at my desk");
    assert_eq!(events.last().unwrap()["event"], "terminated", "{events:?}");
    let out = run(bin().args([
        "subscribe",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--event",
        "dialog",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("489"), "{}", text(&out));
}

/// `sipline publish` sends a PUBLISH with Event: presence, Expires and a
/// PIDF body (RFC 3903 §4) and reports the 200's SIP-ETag.
#[test]
fn publish_sends_pidf() {
    let server = udp_socket(Duration::from_secs(10));
    let port = server.local_addr().unwrap().port();
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 65535];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        let req =
            sipline_message::Message::parse(sipline_message::Bytes::copy_from_slice(&buf[..n]))
                .unwrap();
        let mut ok = sipline_message::builder::response_to(
            req.as_request().unwrap(),
            sipline_message::StatusCode::OK,
            Some("pa"),
        );
        ok.headers.push("SIP-ETag", "etag-1");
        ok.headers.push("Expires", "3600");
        server
            .send_to(&sipline_message::Message::Response(ok).to_bytes(), from)
            .unwrap();
        req
    });
    let out = run(bin().args([
        "publish",
        &format!("sip:alice@127.0.0.1:{port}"),
        "--status",
        "closed",
        "--note",
        "in a meeting",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SIP-ETag etag-1"), "{}", text(&out));
    let req = responder.join().unwrap();
    assert_eq!(req.method(), Some(sipline_message::Method::Publish));
    assert_eq!(
        req.headers().get("Event").unwrap().as_ref() as &str,
        "presence"
    );
    assert_eq!(
        req.headers().get("Content-Type").unwrap().as_ref() as &str,
        "application/pidf+xml"
    );
    let body = String::from_utf8_lossy(req.body()).to_string();
    assert!(
        body.contains("<basic>closed</basic>") && body.contains("in a meeting"),
        "{body}"
    );
}

/// Blind transfer (RFC 3515, RFC 5589 §6): `sipline transfer` calls bob,
/// REFERs him to carol; bob's `answer` calls carol with Referred-By and
/// reports 100 then 200 in sipfrag NOTIFYs; the transferor hangs up.
#[test]
fn blind_transfer() {
    let bob_port = free_port();
    let carol_port = free_port();
    let (mut bob, bob_lines) = answer(
        &[
            "--listen",
            &format!("127.0.0.1:{bob_port}"),
            "--count",
            "1",
            "--json",
        ],
        2,
    );
    let (mut carol, carol_lines) = answer(
        &[
            "--listen",
            &format!("127.0.0.1:{carol_port}"),
            "--count",
            "1",
            "--duration",
            "1",
            "--json",
        ],
        2,
    );
    let out = run(bin().args([
        "transfer",
        &format!("sip:bob@127.0.0.1:{bob_port}"),
        "--to",
        &format!("sip:carol@127.0.0.1:{carol_port}"),
        "--json",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let events = json_lines(&out.stdout);
    let progress: Vec<(u64, bool)> = events
        .iter()
        .filter(|e| e["event"] == "transfer")
        .map(|e| (e["status"].as_u64().unwrap(), e["done"].as_bool().unwrap()))
        .collect();
    assert_eq!(progress, vec![(100, false), (200, true)], "{events:?}");
    assert!(events
        .iter()
        .any(|e| e["event"] == "refer-response" && e["status"] == 202));
    assert!(bob.exit_status().success());
    assert!(carol.exit_status().success());
    let bob_events = received_json(&bob_lines);
    assert!(
        bob_events.iter().any(|e| e["event"] == "refer"),
        "{bob_events:?}"
    );
    let carol_events = received_json(&carol_lines);
    let incoming = carol_events
        .iter()
        .find(|e| e["event"] == "incoming")
        .unwrap();
    // RFC 3892: the transferee's INVITE names who referred it.
    assert!(
        incoming["referred_by"]
            .as_str()
            .is_some_and(|r| r.contains("sip:")),
        "{incoming}"
    );
}

/// RFC 5626: `--outbound` registers with `+sip.instance` and `reg-id`
/// (and Supported: outbound); `--keepalive` sends STUN Binding Requests
/// to the registrar while registered (RFC 5626 §4.4.2: UDP), none before
/// the 200 (whose `Require: outbound` is the §8 indication); answered,
/// they keep the registration as it is.
#[test]
fn outbound_registration_with_keepalives() {
    let registrar = udp_socket(Duration::from_millis(200));
    let port = registrar.local_addr().unwrap().port();
    let child = bin()
        .args([
            "register",
            &format!("sip:127.0.0.1:{port}"),
            "--from",
            "sip:alice@127.0.0.1",
            "--outbound",
            "--keepalive",
            "0.2",
            "--duration",
            "1.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Child::new("sipline register", child);
    let mut buf = [0u8; 65535];
    let mut register = None;
    let mut keepalives = 0;
    let mut registers = 0;
    let mut removed = false;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end && !removed {
        let Ok((n, from)) = registrar.recv_from(&mut buf) else {
            continue;
        };
        let data = &buf[..n];
        if n == 20 && data[..2] == [0x00, 0x01] && data[4..8] == [0x21, 0x12, 0xa4, 0x42] {
            assert!(register.is_some(), "keep-alive before the registration");
            keepalives += 1;
            // RFC 5389 §15.2: Binding Success Response, XOR-MAPPED-ADDRESS
            let std::net::SocketAddr::V4(a) = from else {
                panic!("{from}")
            };
            let mut r = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
            r.extend_from_slice(&data[8..20]);
            r.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
            r.extend_from_slice(&(a.port() ^ 0x2112).to_be_bytes());
            r.extend_from_slice(&(u32::from(*a.ip()) ^ 0x2112_a442).to_be_bytes());
            registrar.send_to(&r, from).unwrap();
            continue;
        }
        assert_ne!(data, b"\r\n\r\n", "no CRLF keep-alives over UDP");
        let req =
            sipline_message::Message::parse(sipline_message::Bytes::copy_from_slice(&buf[..n]))
                .unwrap();
        registers += 1;
        if req.expires().unwrap() == Some(0) {
            removed = true;
        } else {
            register.get_or_insert(req.clone());
        }
        let mut ok = sipline_message::builder::response_to(
            req.as_request().unwrap(),
            sipline_message::StatusCode::OK,
            Some("r"),
        );
        // RFC 5626 §6: outbound registration succeeded; the UA's STUN
        // keep-alives need this indication (§8).
        ok.headers.push("Require", "outbound");
        registrar
            .send_to(&sipline_message::Message::Response(ok).to_bytes(), from)
            .unwrap();
    }
    let register = register.expect("a REGISTER");
    let contact = register.headers().get("Contact").unwrap().to_string();
    assert!(
        contact.contains("reg-id=1") && contact.contains("+sip.instance=\"<urn:uuid:"),
        "{contact}"
    );
    assert!(register
        .headers()
        .get("Supported")
        .is_some_and(|v| v.contains("outbound")));
    assert!(removed, "unregistered at the end");
    assert_eq!(registers, 2, "one REGISTER and its removal: the flow held");
    // 1.5 s registered, one every 160-200 ms.
    assert!((5..=10).contains(&keepalives), "{keepalives} keep-alives");
}

/// `--transport tcp`: the call and its in-dialog requests go over TCP.
#[test]
fn call_over_tcp() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut callee, _lines) = answer(&["--listen", &listen, "--count", "1"], 2);
    let out = run(bin().args([
        "call",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--transport",
        "tcp",
        "--duration",
        "0.5",
        "--trace",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let trace = String::from_utf8_lossy(&out.stderr).to_string();
    for first in [
        "--> TCP",
        "INVITE sip:bob",
        "<-- TCP",
        "SIP/2.0 200 OK",
        "BYE sip:",
    ] {
        assert!(trace.contains(first), "{first} missing in\n{trace}");
    }
    assert!(!trace.contains("--> UDP"), "{trace}");
    assert!(callee.exit_status().success());
}

/// Ctrl-C (SIGINT) while the callee rings: the call is cancelled (CANCEL,
/// 487) and `sipline call` exits 1 at once.
#[test]
fn ctrl_c_cancels_a_ringing_call() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (_callee, _lines) = answer(&["--listen", &listen, "--ring", "20"], 2);
    let child = bin()
        .args(["call", &format!("sip:bob@127.0.0.1:{port}"), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(800));
    let started = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let events = json_lines(&out.stdout);
    assert!(events
        .iter()
        .any(|e| e["event"] == "progress" && e["status"] == 180));
    let ended = events.iter().find(|e| e["event"] == "ended").unwrap();
    assert_eq!(ended["reason"], "Cancelled", "{events:?}");
}
