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

mod support;

use sipline_media::tone::goertzel;
use sipline_media::wav;
use std::path::Path;
use std::time::Duration;
use support::answer::Answer;
use support::baresip::{self, Phone, PhoneOptions};
use support::serve::{Serve, ServeOptions};
use support::{bin, dominant_frequency, events, find_event, read, Child};

/// The tone baresip sends (`audio_source ausine,FREQ`).
const BARESIP_TONE_HZ: f64 = 700.0;

/// `sipline serve` on UDP 127.0.0.1 (a free port) for example.test, with
/// alice and bob as users, its standard error in `serve.log`.
fn serve(name: &str) -> Serve {
    let serve = ServeOptions::new(&format!("interop-ua-baresip-{name}"))
        .udp()
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .log_to_file()
        .start();
    let addr = serve.udp().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{}", serve.banner());
    serve
}

/// baresip as `name`, registered through `serve`.
fn phone(name: &'static str, serve: &Serve, auto_answer: bool) -> Phone {
    let phone = Phone::start(
        name,
        serve.dir(),
        &serve.udp().to_string(),
        &PhoneOptions {
            tone_hz: BARESIP_TONE_HZ,
            auto_answer,
            sip_trace: false,
            rtcp_summary: false,
        },
    );
    phone.wait_registered();
    phone
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
    if !baresip::available("baresip_calls_sipline_answer_through_serve") {
        return;
    }
    let serve = serve("answer");
    let dir = serve.dir();
    let record = dir.join("bob.wav");
    let record_arg = record.to_str().unwrap();
    let mut bob = Answer::start(
        &serve,
        "bob",
        "example.test",
        "bob-pw",
        &[
            "--tone", "1000", "--count", "1", "--trace", "--record", record_arg,
        ],
    );
    let answer_text = |bob: &Answer| format!("{}\nserve log:\n{}", bob.text(), serve.log());

    let mut alice = phone("alice", &serve, false);
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
        alice.clear_backlog();
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
        answer_text(&bob)
    );
    let evs = bob.events();
    let incoming = find_event(&evs, "incoming").unwrap_or_else(|| panic!("{}", answer_text(&bob)));
    assert!(
        incoming["from"]
            .as_str()
            .unwrap_or("")
            .contains("sip:alice@example.test"),
        "{incoming}"
    );
    assert!(
        find_event(&evs, "answered").is_some(),
        "{}",
        answer_text(&bob)
    );
    let ended = find_event(&evs, "ended").unwrap_or_else(|| panic!("{}", answer_text(&bob)));
    assert_eq!(ended["reason"], "RemoteBye", "{}", answer_text(&bob));
    let media = find_event(&evs, "media").unwrap_or_else(|| panic!("{}", answer_text(&bob)));
    assert!(
        media["packets_received"].as_u64().unwrap_or(0) >= 100,
        "3 s of baresip's 20 ms packets: {media}\n{}",
        answer_text(&bob)
    );
    assert!(
        media["packets_sent"].as_u64().unwrap_or(0) >= 100,
        "{media}"
    );
    assert_heard_baresip(&record, 1000.0, &answer_text(&bob));
    // Our answers (200 to the INVITE and to the two re-INVITEs): on hold
    // we only receive.
    assert_eq!(
        answer_directions(&bob.stderr()),
        ["sendrecv", "recvonly", "sendrecv"],
        "{}",
        answer_text(&bob)
    );
}

/// `sipline call` (alice) → `sipline serve` → baresip (bob, auto-answer):
/// our INVITE is challenged (407) and retried with credentials; baresip
/// answers, each side sends its tone, we hang up after 3 s.
#[test]
fn sipline_call_to_baresip_through_serve() {
    if !baresip::available("sipline_call_to_baresip_through_serve") {
        return;
    }
    let serve = serve("call");
    let dir = serve.dir();
    let mut bob = phone("bob", &serve, true);

    let record = dir.join("alice.wav");
    let call_out = dir.join("call.out");
    let call_err = dir.join("call.err");
    let mut call = Child::spawn(
        "sipline call",
        bin()
            .args(["call", "sip:bob@example.test", "--proxy"])
            .arg(format!("sip:{}", serve.udp()))
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
            serve.log()
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
    let answered = find_event(&evs, "answered").unwrap_or_else(|| panic!("{}", call_text()));
    assert_eq!(answered["status"], 200, "{}", call_text());
    let ended = find_event(&evs, "ended").unwrap_or_else(|| panic!("{}", call_text()));
    assert_eq!(ended["reason"], "LocalBye", "{}", call_text());
    let media = find_event(&evs, "media").unwrap_or_else(|| panic!("{}", call_text()));
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
