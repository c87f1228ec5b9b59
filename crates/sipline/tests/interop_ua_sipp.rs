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

mod support;

use sipline_media::tone::goertzel;
use sipline_media::wav;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::sipp::{self, free_media_port};
use support::{bin, dominant_frequency, event_kinds, events, free_udp_port, read, Child, TempDir};

/// `sipline call` to SIPp's UAS: 180, 200 with SDP (PCMU), ACK; SIPp
/// echoes our RTP (a 440 Hz tone) back, we hang up after 2 s with BYE.
#[test]
fn sipline_call_to_sipp_uas_with_rtp_echo() {
    if !sipp::available("sipline_call_to_sipp_uas_with_rtp_echo") {
        return;
    }
    let dir = TempDir::new("interop-ua-sipp-uas");
    let sip_port = free_udp_port();
    let media_port = free_media_port();
    let sipp_out = dir.file("sipp.out");
    let mut sipp = Child::spawn(
        "sipp uas",
        Command::new("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p"])
            .arg(sip_port.to_string())
            .args(["-mi", "127.0.0.1", "-mp"])
            .arg(media_port.to_string())
            .args(["-rtp_echo", "-m", "1", "-nostdin"])
            .args(["-timeout", "40s", "-timeout_error"])
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&sipp_out).unwrap())
            .stderr(Stdio::null()),
    );
    // SIPp binds its socket quickly; give it a moment (an INVITE that
    // arrives earlier is retransmitted anyway, Timer A).
    std::thread::sleep(Duration::from_millis(300));

    let record = dir.file("echo.wav");
    let call_out = dir.file("call.out");
    let call_err = dir.file("call.err");
    let mut call = Child::spawn(
        "sipline call",
        bin()
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
        event_kinds(&evs),
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
        sipp::counter(&screen, "Successful call"),
        Some(1),
        "{screen}"
    );
    assert_eq!(sipp::counter(&screen, "Failed call"), Some(0), "{screen}");

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
    if !sipp::available(&format!("sipp_uac_calls_sipline_answer ({transport})")) {
        return;
    }
    let dir = TempDir::new(&format!("interop-ua-sipp-uac-{transport}"));
    let answer_out = dir.file("answer.out");
    let answer_err = dir.file("answer.err");
    let mut answer = Child::spawn(
        "sipline answer",
        bin()
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
    let mut sipp = Child::spawn(
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
            .current_dir(dir.path())
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
        sipp::counter(&screen, "Successful call"),
        Some(3),
        "{}",
        context()
    );
    assert_eq!(
        sipp::counter(&screen, "Failed call"),
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
