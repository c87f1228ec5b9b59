//! The user agent (`sipline call`, `sipline answer --register`) and a real
//! softphone, baresip (Debian `baresip-core`, installed by `.ci/run`),
//! through `sipline serve` with digest authentication, all on UDP
//! 127.0.0.1 with ports picked free:
//!
//! - baresip (alice) dials bob, who is `sipline answer --register`;
//!   baresip sends a sine tone (`ausine`) and hangs up after a few seconds.
//! - `sipline call` (alice) dials bob, who is baresip answering by itself
//!   (`;answermode=auto`); we hang up after `--duration`.
//!
//! Each side must receive the other's RTP: our `--json` media event counts
//! packets and our `--record` WAV must hold baresip's tone; baresip reports
//! `CALL_RTPESTAB` (sent on the first RTP packet received) through its
//! `ctrl_tcp` module (netstring-framed JSON), and counts our packets in the
//! `audio_debug` command's RTCP member table (`rcvd=`; sipline sends no
//! RTCP, so baresip's `rtcpsummary` has no statistics). baresip plays into `aubridge` and takes its audio from
//! `ausine`, so no sound device is needed. When baresip is not installed
//! the tests print SKIPPED and pass.

use serde_json::Value;
use sipline_media::tone::goertzel;
use sipline_media::wav;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The tone baresip sends (`audio_source ausine,FREQ`).
const BARESIP_TONE_HZ: f64 = 700.0;

fn baresip_installed() -> bool {
    Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A child process, killed by its id when dropped (pass or fail).
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { child, name }
    }

    /// Waits for the process to exit, at most `within`.
    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "sipline-interop-ua-baresip-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A TCP port that was free a moment ago (bind, read the port, release).
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The JSON events `sipline --json` printed, one per line (a last line
/// still being written is left out).
fn events(stdout: &str) -> Vec<Value> {
    let complete = stdout.rfind('\n').map_or("", |i| &stdout[..i]);
    complete
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn find<'a>(events: &'a [Value], kind: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["event"] == kind)
}

/// The frequency (10 Hz steps, 100 to 3,900 Hz) with the most energy,
/// summed over 50 ms windows.
fn dominant_frequency(samples: &[i16]) -> f64 {
    let windows: Vec<&[i16]> = samples.chunks_exact(400).collect();
    (10..=390)
        .map(|f| f64::from(f) * 10.0)
        .map(|f| (f, windows.iter().map(|w| goertzel(w, f)).sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0.0, |(f, _)| f)
}

/// `sipline serve` on UDP 127.0.0.1 (a free port) for example.test, with
/// alice and bob as users.
struct Serve {
    addr: String,
    _proc: Proc,
}

fn serve(dir: &TempDir) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .args(["serve", "--listen", "udp:127.0.0.1:0"])
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .arg("--data-dir")
        .arg(dir.file("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.file("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let proc = Proc {
        child,
        name: "sipline serve",
    };
    // "sipline serve: listening on udp:127.0.0.1:PORT", read on a thread
    // so that the wait is bounded.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        let _ = BufReader::new(stdout).read_line(&mut banner);
        let _ = tx.send(banner);
    });
    let banner = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("sipline serve starts");
    let addr = banner.trim().rsplit("udp:").next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{banner}");
    Serve { addr, _proc: proc }
}

/// One baresip and its control connection.
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
    _proc: Proc,
}

impl Phone {
    /// Starts baresip as `name@example.test`, registered through `serve`.
    fn start(name: &'static str, dir: &TempDir, serve: &str, auto_answer: bool) -> Phone {
        let conf = dir.file(name);
        std::fs::create_dir_all(&conf).unwrap();
        let ctrl_port = free_tcp_port();
        // sip_listen port 0: baresip binds a free port. net_interface keeps
        // the SDP (and so RTP) on 127.0.0.1. ausine only produces 48 kHz
        // stereo: baresip resamples it for PCMU.
        std::fs::write(
            conf.join("config"),
            format!(
                "sip_listen 127.0.0.1:0\nnet_interface 127.0.0.1\n\
                 module_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
                 module account.so\nmodule menu.so\nmodule ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
                 audio_source ausine,{BARESIP_TONE_HZ}\naudio_player aubridge,{name}\n\
                 audio_alert aubridge,{name}\n\
                 ausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\n"
            ),
        )
        .unwrap();
        let answermode = if auto_answer { ";answermode=auto" } else { "" };
        std::fs::write(
            conf.join("accounts"),
            format!(
                "<sip:{name}@example.test>;outbound=\"sip:{serve}\";auth_pass={name}-pw;\
                 regint=600{answermode}\n"
            ),
        )
        .unwrap();
        let log = dir.file(&format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let proc = Proc::spawn(
            "baresip",
            Command::new("baresip")
                .arg("-f")
                .arg(&conf)
                .stdout(out.try_clone().unwrap())
                .stderr(out),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("{name}: ctrl_tcp on port {ctrl_port}: {e}\n{}", read(&log)),
            }
        };
        let (tx, events) = mpsc::channel();
        let reader = ctrl.try_clone().unwrap();
        std::thread::spawn(move || read_netstrings(reader, &tx));
        let phone = Phone {
            name,
            log,
            ctrl,
            events,
            backlog: Vec::new(),
            history: Vec::new(),
            token: 0,
            _proc: proc,
        };
        // REGISTER, 401, REGISTER with credentials, 200.
        phone.wait_log(
            &format!("{name}@example.test: {{0/UDP/v4}} 200 OK (sipline/"),
            Duration::from_secs(10),
        );
        phone
    }

    fn log_text(&self) -> String {
        read(&self.log)
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

    /// RTP packets received from the peer so far in the current call:
    /// `rcvd=N` of the peer's SSRC in the RTCP session table of the
    /// `audio_debug` command.
    fn rtp_received(&mut self) -> u64 {
        let r = self.command("audio_debug", "");
        let data = r["data"].as_str().unwrap_or_default();
        data.split_whitespace()
            .filter_map(|w| w.strip_prefix("rcvd="))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or_else(|| panic!("{}: no rcvd= in audio_debug:\n{data}", self.name))
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

/// The SDP direction attribute of each 200 to an INVITE that `--trace`
/// shows we sent ("--> UDP ADDR  SIP/2.0 200 OK", then the message
/// indented).
fn answer_directions(trace: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    let mut finish = |msg: Option<Vec<&str>>| {
        let Some(lines) = msg else { return };
        if lines
            .iter()
            .any(|l| l.starts_with("CSeq:") && l.ends_with(" INVITE"))
        {
            if let Some(d) = lines.iter().find_map(|l| {
                ["sendrecv", "sendonly", "recvonly", "inactive"]
                    .into_iter()
                    .find(|d| l.strip_prefix("a=") == Some(*d))
            }) {
                found.push(d.to_string());
            }
        }
    };
    for line in trace.lines() {
        if let Some(body) = line.strip_prefix("    ") {
            if let Some(m) = current.as_mut() {
                m.push(body.trim_end());
            }
        } else {
            finish(current.take());
            if line.contains(" --> ") && line.ends_with("SIP/2.0 200 OK") {
                current = Some(Vec::new());
            }
        }
    }
    finish(current);
    found
}

/// Checks a recording holds baresip's tone, not ours.
fn assert_heard_baresip(record: &Path, ours: f64, context: &str) {
    let heard = wav::read(record).unwrap_or_else(|e| panic!("{}: {e}", record.display()));
    assert!(
        heard.len() >= 16_000,
        "at least 2 s recorded, got {} samples\n{context}",
        heard.len()
    );
    let f = dominant_frequency(&heard);
    assert!(
        (f - BARESIP_TONE_HZ).abs() <= 10.0,
        "dominant frequency {f} Hz, baresip sends {BARESIP_TONE_HZ} Hz\n{context}"
    );
    assert!(
        goertzel(&heard, BARESIP_TONE_HZ) > 100.0 * goertzel(&heard, ours),
        "our own {ours} Hz tone in the recording\n{context}"
    );
}

/// baresip (alice) → `sipline serve` → `sipline answer --register` (bob):
/// alice's INVITE is challenged (407) and forked to bob's binding; bob
/// answers with a 1,000 Hz tone and records; alice sends 700 Hz, puts bob
/// on hold and back (re-INVITEs) and hangs up (BYE) after about 4.5 s.
#[test]
fn baresip_calls_sipline_answer_through_serve() {
    if !baresip_installed() {
        eprintln!(
            "SKIPPED baresip_calls_sipline_answer_through_serve: baresip is not installed \
             (run .ci/run, or apt-get install baresip-core)"
        );
        return;
    }
    let dir = TempDir::new("answer");
    let serve = serve(&dir);
    let record = dir.file("bob.wav");
    let answer_out = dir.file("answer.out");
    let answer_err = dir.file("answer.err");
    let mut bob = Proc::spawn(
        "sipline answer",
        Command::new(env!("CARGO_BIN_EXE_sipline"))
            .arg("answer")
            .arg("--register")
            .arg(format!("sip:{}", serve.addr))
            .args(["--from", "sip:bob@example.test", "--user", "bob"])
            .args(["--password", "bob-pw", "--listen", "127.0.0.1:0"])
            .args(["--tone", "1000", "--json", "--count", "1", "--trace"])
            .arg("--record")
            .arg(&record)
            .stdout(std::fs::File::create(&answer_out).unwrap())
            .stderr(std::fs::File::create(&answer_err).unwrap()),
    );
    let answer_text = || {
        format!(
            "sipline answer stdout:\n{}\nstderr:\n{}\nserve log:\n{}",
            read(&answer_out),
            read(&answer_err),
            read(&dir.file("serve.log"))
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while find(&events(&read(&answer_out)), "registered").is_none() {
        assert!(
            Instant::now() < deadline,
            "bob did not register\n{}",
            answer_text()
        );
        assert!(
            bob.child.try_wait().unwrap().is_none(),
            "sipline answer exited\n{}",
            answer_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut alice = Phone::start("alice", &dir, &serve.addr, false);
    alice.command("dial", "sip:bob@example.test");
    let established = alice.event("CALL_ESTABLISHED", Duration::from_secs(10));
    assert_eq!(
        established["peeruri"], "sip:bob@example.test",
        "{established}"
    );
    // The first RTP packet from us reached baresip.
    alice.event("CALL_RTPESTAB", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    // Hold and resume: re-INVITEs with a=sendonly, then a=sendrecv, that
    // sipline answers in the dialog (RFC 3264 §8.4).
    for command in ["hold", "resume"] {
        // (the answer to the first INVITE is still in the backlog)
        alice.backlog.clear();
        alice.command(command, "");
        alice.wait(
            &format!("the answer to the {command} re-INVITE"),
            Duration::from_secs(5),
            |v| v["type"] == "CALL_REMOTE_SDP" && v["param"] == "answer",
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(1));
    // baresip's count of the RTP packets it got from us, mid-call.
    let received = alice.rtp_received();
    assert!(
        received >= 100,
        "alice received {received} RTP packets from us"
    );
    alice.command("hangup", "");
    alice.event("CALL_CLOSED", Duration::from_secs(5));

    // `--count 1`: bob exits by itself once the call has ended.
    let status = bob.wait(Duration::from_secs(10));
    assert!(
        status.success(),
        "sipline answer: {status}\n{}",
        answer_text()
    );
    let evs = events(&read(&answer_out));
    let incoming = find(&evs, "incoming").unwrap_or_else(|| panic!("{}", answer_text()));
    assert!(
        incoming["from"]
            .as_str()
            .unwrap_or("")
            .contains("sip:alice@example.test"),
        "{incoming}"
    );
    assert!(find(&evs, "answered").is_some(), "{}", answer_text());
    let ended = find(&evs, "ended").unwrap_or_else(|| panic!("{}", answer_text()));
    assert_eq!(ended["reason"], "RemoteBye", "{}", answer_text());
    let media = find(&evs, "media").unwrap_or_else(|| panic!("{}", answer_text()));
    assert!(
        media["packets_received"].as_u64().unwrap_or(0) >= 100,
        "3 s of baresip's 20 ms packets: {media}\n{}",
        answer_text()
    );
    assert!(
        media["packets_sent"].as_u64().unwrap_or(0) >= 100,
        "{media}"
    );
    assert_heard_baresip(&record, 1000.0, &answer_text());
    // Our answers (200 to the INVITE and to the two re-INVITEs): on hold
    // we only receive.
    assert_eq!(
        answer_directions(&read(&answer_err)),
        ["sendrecv", "recvonly", "sendrecv"],
        "{}",
        answer_text()
    );
}

/// `sipline call` (alice) → `sipline serve` → baresip (bob, auto-answer):
/// our INVITE is challenged (407) and retried with credentials; baresip
/// answers, each side sends its tone, we hang up after 3 s.
#[test]
fn sipline_call_to_baresip_through_serve() {
    if !baresip_installed() {
        eprintln!(
            "SKIPPED sipline_call_to_baresip_through_serve: baresip is not installed \
             (run .ci/run, or apt-get install baresip-core)"
        );
        return;
    }
    let dir = TempDir::new("call");
    let serve = serve(&dir);
    let mut bob = Phone::start("bob", &dir, &serve.addr, true);

    let record = dir.file("alice.wav");
    let call_out = dir.file("call.out");
    let call_err = dir.file("call.err");
    let mut call = Proc::spawn(
        "sipline call",
        Command::new(env!("CARGO_BIN_EXE_sipline"))
            .args(["call", "sip:bob@example.test", "--proxy"])
            .arg(format!("sip:{}", serve.addr))
            .args(["--from", "sip:alice@example.test", "--user", "alice"])
            .args(["--password", "alice-pw", "--duration", "3"])
            .args(["--tone", "440", "--json", "--record"])
            .arg(&record)
            .stdout(std::fs::File::create(&call_out).unwrap())
            .stderr(std::fs::File::create(&call_err).unwrap()),
    );
    let call_text = || {
        format!(
            "sipline call stdout:\n{}\nstderr:\n{}\nserve log:\n{}",
            read(&call_out),
            read(&call_err),
            read(&dir.file("serve.log"))
        )
    };
    let incoming = bob.event("CALL_ESTABLISHED", Duration::from_secs(10));
    assert_eq!(incoming["direction"], "incoming", "{incoming}");
    assert_eq!(incoming["peeruri"], "sip:alice@example.test", "{incoming}");
    // The first RTP packet from us reached baresip.
    bob.event("CALL_RTPESTAB", Duration::from_secs(5));
    // Mid-call (we hang up 3 s after the answer): baresip's count of the
    // RTP packets it got from us.
    std::thread::sleep(Duration::from_millis(1500));
    let received = bob.rtp_received();
    assert!(
        received >= 50,
        "bob received {received} RTP packets from us"
    );
    // Our BYE after --duration.
    bob.event("CALL_CLOSED", Duration::from_secs(10));

    let status = call.wait(Duration::from_secs(15));
    assert!(status.success(), "sipline call: {status}\n{}", call_text());
    let evs = events(&read(&call_out));
    let answered = find(&evs, "answered").unwrap_or_else(|| panic!("{}", call_text()));
    assert_eq!(answered["status"], 200, "{}", call_text());
    let ended = find(&evs, "ended").unwrap_or_else(|| panic!("{}", call_text()));
    assert_eq!(ended["reason"], "LocalBye", "{}", call_text());
    let media = find(&evs, "media").unwrap_or_else(|| panic!("{}", call_text()));
    assert!(
        media["packets_received"].as_u64().unwrap_or(0) >= 100,
        "3 s of baresip's 20 ms packets: {media}\n{}",
        call_text()
    );
    assert!(
        media["packets_sent"].as_u64().unwrap_or(0) >= 100,
        "{media}"
    );
    assert_heard_baresip(&record, 440.0, &call_text());
}
