//! The user agent (`sipline call`, `sipline answer`) against SIPp (Debian
//! package `sip-tester`, installed by `.ci/run`), on 127.0.0.1 with ports
//! picked free:
//!
//! - `sipline call` to SIPp's built-in UAS (`-sn uas`: 180, 200 with SDP,
//!   waits for the ACK and the BYE) with `-rtp_echo`: SIPp sends every RTP
//!   packet back to where it came from, so our recording is our own tone.
//!   SIPp's answer has no telephone-event, so `--dtmf` must send nothing.
//! - SIPp's built-in UAC (`-sn uac`, three calls: INVITE with SDP, ACK,
//!   BYE after a pause) to `sipline answer --count 3`, over UDP and TCP.
//!
//! SIPp exits 0 only if every call of its scenario succeeded; its final
//! statistics screen (printed on standard output) counts them. When `sipp`
//! is not installed the tests print SKIPPED and pass.

use serde_json::Value;
use sipline_media::tone::goertzel;
use sipline_media::wav;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn sipp_installed() -> bool {
    Command::new("sipp")
        .arg("-v")
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
            "sipline-interop-ua-sipp-{}-{name}",
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

/// A UDP port on 127.0.0.1 that was free a moment ago (bound, released).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A media port for SIPp: with `-rtp_echo` it binds this port (audio) and
/// this port + 2 (video); both must be free.
fn free_media_port() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < 65_000 && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of media ports");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
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

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect()
}

/// The value on SIPp's final statistics screen in the "Cumulative" column
/// of the line that starts with `label` (e.g. "Successful call").
fn sipp_counter(screen: &str, label: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))?
        .split('|')
        .nth(2)?
        .trim()
        .parse()
        .ok()
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

/// `sipline call` to SIPp's UAS: 180, 200 with SDP (PCMU), ACK; SIPp
/// echoes our RTP (a 440 Hz tone) back, we hang up after 2 s with BYE.
#[test]
fn sipline_call_to_sipp_uas_with_rtp_echo() {
    if !sipp_installed() {
        eprintln!(
            "SKIPPED sipline_call_to_sipp_uas_with_rtp_echo: sipp is not installed \
             (run .ci/run, or apt-get install sip-tester)"
        );
        return;
    }
    let dir = TempDir::new("uas");
    let sip_port = free_udp_port();
    let media_port = free_media_port();
    let sipp_out = dir.file("sipp.out");
    let mut sipp = Proc::spawn(
        "sipp uas",
        Command::new("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p"])
            .arg(sip_port.to_string())
            .args(["-mi", "127.0.0.1", "-mp"])
            .arg(media_port.to_string())
            .args(["-rtp_echo", "-m", "1", "-nostdin"])
            .args(["-timeout", "40s", "-timeout_error"])
            .current_dir(&dir.0)
            .stdout(std::fs::File::create(&sipp_out).unwrap())
            .stderr(Stdio::null()),
    );
    // SIPp binds its socket quickly; give it a moment (an INVITE that
    // arrives earlier is retransmitted anyway, Timer A).
    std::thread::sleep(Duration::from_millis(300));

    let record = dir.file("echo.wav");
    let call_out = dir.file("call.out");
    let call_err = dir.file("call.err");
    let mut call = Proc::spawn(
        "sipline call",
        Command::new(env!("CARGO_BIN_EXE_sipline"))
            .arg("call")
            .arg(format!("sip:service@127.0.0.1:{sip_port}"))
            .args(["--duration", "2", "--tone", "440", "--dtmf", "12"])
            .args(["--trace", "--json", "--record"])
            .arg(&record)
            .stdout(std::fs::File::create(&call_out).unwrap())
            .stderr(std::fs::File::create(&call_err).unwrap()),
    );
    let status = call.wait(Duration::from_secs(30));
    let out = read(&call_out);
    let context = || {
        format!(
            "sipline call stdout:\n{out}\nstderr:\n{}\nSIPp:\n{}",
            read(&call_err),
            read(&sipp_out)
        )
    };
    assert!(status.success(), "sipline call: {status}\n{}", context());
    let evs = events(&out);
    assert_eq!(
        kinds(&evs),
        ["calling", "progress", "answered", "ended", "media"],
        "{}",
        context()
    );
    assert_eq!(evs[1]["status"], 180, "{}", context());
    assert_eq!(evs[2]["status"], 200, "{}", context());
    let media = &evs[4];
    let sent = media["packets_sent"].as_u64().unwrap_or(0);
    let received = media["packets_received"].as_u64().unwrap_or(0);
    assert!(sent >= 80, "2 s of 20 ms packets sent: {media}");
    assert!(received > 0, "SIPp echoed none of our RTP: {media}");
    assert!(
        received >= sent / 2,
        "most of our packets came back: {media}"
    );
    // SIPp's answer has PCMU only (`m=audio PORT RTP/AVP 0`), no
    // telephone-event: `--dtmf` must not send RFC 4733 events then (RFC
    // 3264 §5.1: only what the answer lists). SIPp echoes whatever it
    // gets, so a digit sent would come back in dtmf_received.
    assert_eq!(media["dtmf_received"], "", "{}", context());
    assert!(
        read(&call_err).contains("cannot send DTMF '1'"),
        "{}",
        context()
    );

    // SIPp's UAS ends after the BYE (and its 4 s time-wait): one call,
    // successful.
    let status = sipp.wait(Duration::from_secs(20));
    let screen = read(&sipp_out);
    assert!(status.success(), "SIPp: {status}\n{screen}");
    assert_eq!(
        sipp_counter(&screen, "Successful call"),
        Some(1),
        "{screen}"
    );
    assert_eq!(sipp_counter(&screen, "Failed call"), Some(0), "{screen}");

    // What came back is our own tone.
    let heard = wav::read(&record).unwrap();
    assert!(
        heard.len() >= 8000,
        "at least 1 s recorded: {}",
        heard.len()
    );
    let f = dominant_frequency(&heard);
    assert!((f - 440.0).abs() <= 10.0, "dominant frequency {f} Hz");
    assert!(goertzel(&heard, 440.0) > 100.0 * goertzel(&heard, 1000.0));
}

/// SIPp's UAC calls `sipline answer` three times over UDP (INVITE with an
/// SDP offer, 200 with our answer, ACK, BYE after 1 s); SIPp echoes the
/// RTP we send, so each of our calls also receives audio.
#[test]
fn sipp_uac_calls_sipline_answer_three_times() {
    sipp_uac_calls_sipline_answer("udp");
}

/// The same over TCP (SIPp `-t t1`: one connection for all calls).
#[test]
fn sipp_uac_calls_sipline_answer_three_times_over_tcp() {
    sipp_uac_calls_sipline_answer("tcp");
}

fn sipp_uac_calls_sipline_answer(transport: &str) {
    if !sipp_installed() {
        eprintln!(
            "SKIPPED sipp_uac_calls_sipline_answer ({transport}): sipp is not installed \
             (run .ci/run, or apt-get install sip-tester)"
        );
        return;
    }
    let dir = TempDir::new(&format!("uac-{transport}"));
    let answer_out = dir.file("answer.out");
    let answer_err = dir.file("answer.err");
    let mut answer = Proc::spawn(
        "sipline answer",
        Command::new(env!("CARGO_BIN_EXE_sipline"))
            .args(["answer", "--listen", "127.0.0.1:0"])
            .args(["--count", "3", "--tone", "1000", "--json"])
            .stdout(std::fs::File::create(&answer_out).unwrap())
            .stderr(std::fs::File::create(&answer_err).unwrap()),
    );
    // Wait until it listens: the "listening" event names the port it got.
    let deadline = Instant::now() + Duration::from_secs(10);
    let address = loop {
        let evs = events(&read(&answer_out));
        if let Some(a) = evs.iter().find(|e| {
            e["event"] == "listening"
                && e["transport"].as_str() == Some(&transport.to_ascii_uppercase())
        }) {
            break a["address"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "sipline answer does not listen:\n{}{}",
            read(&answer_out),
            read(&answer_err)
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    let sipp_out = dir.file("sipp.out");
    let mut sipp = Proc::spawn(
        "sipp uac",
        Command::new("sipp")
            .args(["-sn", "uac", &address])
            .args(["-t", if transport == "tcp" { "t1" } else { "u1" }])
            .args(["-s", "bob", "-m", "3", "-r", "3", "-d", "1000"])
            .args(["-i", "127.0.0.1", "-p"])
            .arg(free_udp_port().to_string())
            .args(["-mi", "127.0.0.1", "-mp"])
            .arg(free_media_port().to_string())
            .args(["-rtp_echo", "-nostdin", "-timeout", "40s", "-timeout_error"])
            .current_dir(&dir.0)
            .stdout(std::fs::File::create(&sipp_out).unwrap())
            .stderr(Stdio::null()),
    );
    let status = sipp.wait(Duration::from_secs(45));
    let screen = read(&sipp_out);
    let context = || {
        format!(
            "SIPp:\n{screen}\nsipline answer stdout:\n{}\nstderr:\n{}",
            read(&answer_out),
            read(&answer_err)
        )
    };
    assert!(status.success(), "SIPp: {status}\n{}", context());
    assert_eq!(
        sipp_counter(&screen, "Successful call"),
        Some(3),
        "{}",
        context()
    );
    assert_eq!(
        sipp_counter(&screen, "Failed call"),
        Some(0),
        "{}",
        context()
    );

    // `--count 3`: it exits by itself once the third call has ended.
    let status = answer.wait(Duration::from_secs(10));
    assert!(status.success(), "sipline answer: {status}\n{}", context());
    let evs = events(&read(&answer_out));
    for kind in ["incoming", "answered", "ended", "media"] {
        let n = evs.iter().filter(|e| e["event"] == kind).count();
        assert_eq!(n, 3, "{kind} events\n{}", context());
    }
    let mut calls: Vec<u64> = Vec::new();
    for e in evs.iter().filter(|e| e["event"] == "ended") {
        assert_eq!(e["reason"], "RemoteBye", "SIPp hung up: {e}\n{}", context());
        calls.push(e["call"].as_u64().unwrap());
    }
    calls.sort_unstable();
    assert_eq!(calls, [1, 2, 3], "{}", context());
    for e in evs.iter().filter(|e| e["event"] == "media") {
        assert!(
            e["packets_sent"].as_u64().unwrap_or(0) >= 25,
            "our tone was sent: {e}\n{}",
            context()
        );
        assert!(
            e["packets_received"].as_u64().unwrap_or(0) > 0,
            "SIPp echoed our RTP: {e}\n{}",
            context()
        );
    }
}
