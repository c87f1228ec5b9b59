//! Two real softphones call each other through `sipline serve`: baresip
//! (Debian `baresip-core`, installed by `.ci/run`) as alice and bob, each
//! with its own configuration directory, registered with digest
//! authentication on UDP 127.0.0.1 (ports picked free). Alice dials bob,
//! bob answers by itself (`;answermode=auto`), audio is a 440 Hz sine
//! (`ausine`) played into `aubridge` (no sound device), RTP and RTCP flow
//! directly between the phones on 127.0.0.1, alice hangs up, and both are
//! idle again.
//!
//! Each baresip is driven and watched through its `ctrl_tcp` module
//! (netstring-framed JSON commands, responses and events) and its SIP trace
//! (`-s`), which shows every message with its source and destination: that
//! is where Record-Route and the in-dialog path through the proxy are
//! checked (RFC 3261 §16.6 step 4, §12.1.2, §12.2.1.1).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn baresip_installed() -> bool {
    Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A child process killed (by its id) when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port that was free a moment ago (bind, read the port, release).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One baresip instance and its control connection.
struct Phone {
    name: &'static str,
    log: PathBuf,
    ctrl: TcpStream,
    events: mpsc::Receiver<Value>,
    /// Messages received but not yet asked for.
    backlog: Vec<Value>,
    /// Everything received, for failure messages.
    history: Vec<String>,
    token: u32,
    // last: killed after the control connection is closed
    _child: Proc,
}

impl Phone {
    fn start(name: &'static str, dir: &Path, password: &str, serve_addr: &str) -> Phone {
        let conf = dir.join(name);
        std::fs::create_dir_all(&conf).unwrap();
        let ctrl_port = free_tcp_port();
        // sip_listen port 0: baresip binds a free port and puts it in its
        // Contact. net_interface keeps the SDP (and so RTP) on 127.0.0.1.
        // ausine only produces 48 kHz stereo: baresip resamples to PCMU.
        std::fs::write(
            conf.join("config"),
            format!(
                "sip_listen 127.0.0.1:0\nnet_interface 127.0.0.1\n\
                 module_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
                 module account.so\nmodule menu.so\nmodule ctrl_tcp.so\nmodule rtcpsummary.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
                 audio_source ausine,440\naudio_player aubridge,{name}\naudio_alert aubridge,{name}\n\
                 ausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\n"
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("accounts"),
            format!(
                "<sip:{name}@example.test>;outbound=\"sip:{serve_addr}\";auth_pass={password};\
                 regint=600;answermode=auto\n"
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("baresip")
            .arg("-s") // SIP trace: every message with its addresses
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start baresip");
        let child = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!(
                    "{name}: ctrl_tcp on port {ctrl_port}: {e}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        };
        let (tx, events) = mpsc::channel();
        let reader = ctrl.try_clone().unwrap();
        std::thread::spawn(move || read_netstrings(reader, &tx));
        Phone {
            name,
            log,
            ctrl,
            events,
            backlog: Vec::new(),
            history: Vec::new(),
            token: 0,
            _child: child,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the phone's output contains `needle`.
    fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?} within {within:?}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first control message (event or response) that `pred` accepts.
    fn wait(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.history.push(v.to_string());
                    if pred(&v) {
                        return v;
                    }
                    self.backlog.push(v);
                }
                Err(_) => panic!(
                    "{}: no {what} within {within:?}; control messages:\n{}\noutput:\n{}",
                    self.name,
                    self.history.join("\n"),
                    self.log_text()
                ),
            }
        }
    }

    fn event(&mut self, kind: &str, within: Duration) -> Value {
        self.wait(&format!("{kind} event"), within, |v| {
            v["event"] == true && v["type"] == kind
        })
    }

    /// Runs a command (of the menu module) and returns its response.
    fn command(&mut self, command: &str, params: &str) -> Value {
        self.token += 1;
        let token = format!("t{}", self.token);
        let json =
            serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        self.ctrl
            .write_all(format!("{}:{json},", json.len()).as_bytes())
            .unwrap();
        let r = self.wait(
            &format!("response to {command}"),
            Duration::from_secs(5),
            |v| v["response"] == true && v["token"] == token.as_str(),
        );
        assert_eq!(r["ok"], true, "{}: {command} {params}: {r}", self.name);
        r
    }
}

/// ctrl_tcp frames each JSON message as a netstring: `LEN:JSON,`.
fn read_netstrings(stream: TcpStream, tx: &mpsc::Sender<Value>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        if r.read_until(b':', &mut len).unwrap_or(0) == 0 {
            return;
        }
        let Ok(n) = String::from_utf8_lossy(&len[..len.len() - 1])
            .trim()
            .parse::<usize>()
        else {
            return;
        };
        let mut body = vec![0u8; n + 1]; // and the ','
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&body[..n]) {
            if tx.send(v).is_err() {
                return;
            }
        }
    }
}

/// One message of baresip's SIP trace: "UDP FROM -> TO" and the message.
struct Traced {
    from: String,
    to: String,
    text: String,
}

fn trace(log: &str) -> Vec<Traced> {
    log.split("#\n")
        .filter_map(|chunk| {
            let (first, rest) = chunk.split_once('\n')?;
            let (proto, addrs) = first.split_once(' ')?;
            if proto != "UDP" {
                return None;
            }
            let (from, to) = addrs.split_once(" -> ")?;
            let text = rest.split("\x1b[").next().unwrap_or(rest);
            Some(Traced {
                from: from.trim().to_string(),
                to: to.trim().to_string(),
                text: text.replace("\r\n", "\n"),
            })
        })
        .collect()
}

fn header_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    text.lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .collect()
}

fn rtcp_rx_sent(v: &Value) -> u64 {
    v["rtcp_stats"]["rx"]["sent"].as_u64().unwrap_or(0)
}

/// rtcpsummary's line at the end of a call: packets received and sent.
fn summary_packets(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().find(|l| l.starts_with("EX=BareSip;CS="))?;
    let field = |k: &str| {
        line.split(';')
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse().ok())
    };
    Some((field("PR=")?, field("PS=")?))
}

#[test]
fn baresip_calls_baresip_through_the_proxy() {
    if !baresip_installed() {
        eprintln!(
            "SKIPPED baresip_calls_baresip_through_the_proxy: baresip is not installed \
             (run .ci/run, or apt-get install baresip-core)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("sipline-baresip-call-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let serve_log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .args(["serve", "--listen", "udp:127.0.0.1:0"])
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .args(["--log", "debug", "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(serve_log)
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let _server = Proc(server);
    // "sipline serve: listening on udp:127.0.0.1:PORT"
    let serve_addr = banner.trim().rsplit("udp:").next().unwrap().to_string();
    assert!(serve_addr.starts_with("127.0.0.1:"), "{banner}");

    let mut alice = Phone::start("alice", &dir, "alice-pw", &serve_addr);
    let mut bob = Phone::start("bob", &dir, "bob-pw", &serve_addr);
    // REGISTER, 401, REGISTER with credentials, 200 (RFC 3261 §10.3, §22)
    alice.wait_log(
        "alice@example.test: {0/UDP/v4} 200 OK (sipline/",
        Duration::from_secs(10),
    );
    bob.wait_log(
        "bob@example.test: {0/UDP/v4} 200 OK (sipline/",
        Duration::from_secs(10),
    );

    // alice's INVITE gets 407 from the proxy (she is a local user), is
    // sent again with credentials, and forked to bob's one binding
    alice.command("dial", "sip:bob@example.test");
    let incoming = bob.event("CALL_ESTABLISHED", Duration::from_secs(10));
    assert_eq!(incoming["direction"], "incoming", "{incoming}");
    assert_eq!(incoming["peeruri"], "sip:alice@example.test", "{incoming}");
    let outgoing = alice.event("CALL_ESTABLISHED", Duration::from_secs(10));
    assert_eq!(outgoing["peeruri"], "sip:bob@example.test", "{outgoing}");

    // media: each side receives RTP from the other (CALL_RTPESTAB is sent
    // on the first packet received), then RTCP in which the other side
    // reports how many RTP packets it sent (RFC 3550 §6.4.1 sender reports;
    // the first comes within a few seconds)
    alice.event("CALL_RTPESTAB", Duration::from_secs(5));
    bob.event("CALL_RTPESTAB", Duration::from_secs(5));
    for p in [&mut alice, &mut bob] {
        let r = p.wait(
            "RTCP with packets sent by the peer",
            Duration::from_secs(15),
            |v| v["type"] == "CALL_RTCP" && rtcp_rx_sent(v) > 0,
        );
        assert!(
            rtcp_rx_sent(&r) >= 25,
            "{}: half a second of audio at least: {r}",
            p.name
        );
    }

    for p in [&mut alice, &mut bob] {
        let r = p.command("listcalls", "");
        let data = r["data"].as_str().unwrap_or_default();
        assert!(data.contains("Active calls (1)"), "{}: {r}", p.name);
    }

    // alice hangs up: her BYE follows the route set through the proxy
    alice.command("hangup", "");
    let closed = alice.event("CALL_CLOSED", Duration::from_secs(5));
    assert_eq!(closed["peeruri"], "sip:bob@example.test", "{closed}");
    let closed = bob.event("CALL_CLOSED", Duration::from_secs(5));
    assert_eq!(closed["peeruri"], "sip:alice@example.test", "{closed}");
    // the 200 to the BYE comes back through the proxy to alice
    let deadline = Instant::now() + Duration::from_secs(5);
    while !trace(&alice.log_text()).iter().any(|m| {
        m.from == serve_addr && m.text.starts_with("SIP/2.0 200") && m.text.contains(" BYE\n")
    }) {
        assert!(
            Instant::now() < deadline,
            "no 200 to the BYE:\n{}",
            alice.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // both idle again
    for p in [&mut alice, &mut bob] {
        let r = p.command("listcalls", "");
        let data = r["data"].as_str().unwrap_or_default();
        assert!(data.contains("Active calls (0)"), "{}: {r}", p.name);
    }

    let alice_log = alice.log_text();
    let bob_log = bob.log_text();
    let (a, b) = (trace(&alice_log), trace(&bob_log));
    let rr = format!("Record-Route: <sip:{serve_addr};lr>");

    // bob got the INVITE from the proxy, record-routed (§16.6 step 4)
    let invite = b
        .iter()
        .find(|m| m.text.starts_with("INVITE sip:bob"))
        .unwrap_or_else(|| panic!("bob got no INVITE:\n{bob_log}"));
    assert_eq!(invite.from, serve_addr, "{}", invite.text);
    assert!(invite.text.contains(&rr), "{}", invite.text);
    // alice's 200 came from the proxy with the Record-Route, and with one
    // Server header: a proxy must not add a second one to a forwarded
    // response (§7.3.1: only comma-list headers may repeat; §20.35)
    let ok = a
        .iter()
        .find(|m| m.text.starts_with("SIP/2.0 200") && m.text.contains(" INVITE\n"))
        .unwrap_or_else(|| panic!("alice got no 200 to her INVITE:\n{alice_log}"));
    assert_eq!(ok.from, serve_addr, "{}", ok.text);
    assert!(ok.text.contains(&rr), "{}", ok.text);
    assert_eq!(header_lines(&ok.text, "Server").len(), 1, "{}", ok.text);

    // in the dialog, alice's ACK and BYE go to the proxy with a Route
    // (§12.2.1.1), and the proxy forwards them to bob's Contact
    for method in ["ACK", "BYE"] {
        let sent = a
            .iter()
            // to bob's Contact (the remote target), not the ACK of the 407
            .find(|m| {
                m.text.starts_with(&format!("{method} sip:bob"))
                    && !m
                        .text
                        .starts_with(&format!("{method} sip:bob@example.test"))
            })
            .filter(|m| m.to == serve_addr)
            .unwrap_or_else(|| panic!("alice sent no {method} to the proxy:\n{alice_log}"));
        assert!(
            sent.text.contains(&format!("Route: <sip:{serve_addr};lr>")),
            "{}",
            sent.text
        );
        let got = b
            .iter()
            .find(|m| m.text.starts_with(&format!("{method} sip:bob")))
            .unwrap_or_else(|| panic!("bob got no {method}:\n{bob_log}"));
        assert_eq!(
            got.from, serve_addr,
            "{method} through the proxy: {}",
            got.text
        );
        // the proxy's Via on top, alice's under it (§16.6 step 8)
        let vias = header_lines(&got.text, "Via");
        assert!(
            vias.len() >= 2 && vias[0].contains(&serve_addr),
            "{}",
            got.text
        );
    }

    // rtcpsummary at the end of the call: RTP packets received and sent
    for (name, log) in [("alice", &alice_log), ("bob", &bob_log)] {
        let (received, sent) =
            summary_packets(log).unwrap_or_else(|| panic!("{name}: no call summary:\n{log}"));
        assert!(received > 0 && sent > 0, "{name}: PR={received} PS={sent}");
    }
    drop((alice, bob));
    let _ = std::fs::remove_dir_all(&dir);
}
