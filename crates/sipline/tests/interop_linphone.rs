//! The user agent (`sipline call`, `sipline answer --register`) and a real
//! softphone, linphone's console client `linphonec` (Debian `linphone-cli`,
//! installed by `.ci/run`), through `sipline serve` with digest
//! authentication, all on UDP 127.0.0.1 with ports picked free:
//!
//! - `sipline call` (bob) dials alice, who is linphonec answering by
//!   itself (`-a`); we hang up after `--duration`.
//! - linphonec (alice) dials bob, who is `sipline answer --register`; its
//!   INVITE is challenged (407) and sent again with credentials; it hangs
//!   up (`terminate`) after a few seconds.
//!
//! Each side must receive the other's audio: linphonec sends a 1,000 Hz
//! WAV file and records what it gets (`soundcard use files`: no sound
//! device), sipline sends a 440 Hz tone and records; each recording must
//! hold the other side's tone. When linphonec is not installed the tests
//! print SKIPPED and pass.

mod support;

use sipline_media::tone::{goertzel, ToneGenerator};
use sipline_media::wav;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::answer::Answer;
use support::linphone::{self, Linphone, LinphoneOptions};
use support::serve::{Serve, ServeOptions};
use support::{bin, dominant_frequency, events, find_event, text};

/// The tone linphonec sends (a WAV file).
const LINPHONE_TONE_HZ: f64 = 1000.0;
/// The tone sipline sends (`--tone`).
const SIPLINE_TONE_HZ: f64 = 440.0;

/// `sipline serve` on UDP 127.0.0.1 (a free port) for example.test, with
/// alice and bob as users, its standard error in `serve.log`.
fn serve(name: &str) -> Serve {
    ServeOptions::new(&format!("interop-linphone-{name}"))
        .udp()
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .log_to_file()
        .start()
}

/// linphonec as alice, registered through `serve`, sending 20 s of
/// `LINPHONE_TONE_HZ` and recording into `DIR/alice.wav`.
fn alice(serve: &Serve, auto_answer: bool) -> Linphone {
    let dir = serve.dir();
    let play = dir.join("linphone-tone.wav");
    wav::write(
        &play,
        &ToneGenerator::new(LINPHONE_TONE_HZ, 8000).frame(20 * 8000),
    )
    .unwrap();
    let phone = Linphone::start(
        "alice",
        "example.test",
        dir,
        serve.udp(),
        &LinphoneOptions {
            auto_answer,
            play: &play,
            record: &dir.join("alice.wav"),
        },
    );
    phone.wait_registered();
    phone
}

/// Checks a recording (at least 2 s) holds `theirs`, not `ours`.
fn assert_heard(record: &Path, theirs: f64, ours: f64, context: &str) {
    let heard = wav::read(record).unwrap_or_else(|e| panic!("{}: {e}", record.display()));
    assert!(
        heard.len() >= 16_000,
        "at least 2 s recorded in {}, got {} samples\n{context}",
        record.display(),
        heard.len()
    );
    let f = dominant_frequency(&heard);
    assert!(
        (f - theirs).abs() <= 10.0,
        "{}: dominant frequency {f} Hz, the other side sends {theirs} Hz\n{context}",
        record.display()
    );
    assert!(
        goertzel(&heard, theirs) > 100.0 * goertzel(&heard, ours),
        "{}: the sender's own {ours} Hz tone in the recording\n{context}",
        record.display()
    );
}

/// `sipline call` (bob) → `sipline serve` → linphonec (alice, auto-answer):
/// bob's INVITE is challenged and forked to alice's binding; she answers;
/// bob hangs up after 3 s.
#[test]
fn sipline_call_to_linphone_through_serve() {
    if !linphone::available("sipline_call_to_linphone_through_serve") {
        return;
    }
    let serve = serve("call");
    let mut alice = alice(&serve, true);
    let record = serve.dir().join("bob.wav");
    let out = bin()
        .arg("call")
        .arg("sip:alice@example.test")
        .arg("--proxy")
        .arg(format!("sip:{}", serve.udp()))
        .args(["--from", "sip:bob@example.test", "--user", "bob"])
        .args(["--password", "bob-pw", "--listen", "127.0.0.1:0"])
        .args(["--duration", "3", "--timeout", "10", "--json", "--trace"])
        .args(["--tone", &SIPLINE_TONE_HZ.to_string(), "--record"])
        .arg(&record)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let context = format!(
        "sipline call stdout:\n{stdout}\nstderr:\n{}\nlinphonec output:\n{}\nserve log:\n{}",
        text(&out.stderr),
        alice.output(),
        serve.log()
    );
    assert!(out.status.success(), "{}\n{context}", out.status);
    // Challenged (bob is a local user) and sent again with credentials.
    assert!(
        text(&out.stderr).contains("SIP/2.0 407 Proxy Authentication Required"),
        "{context}"
    );
    let evs = events(&stdout);
    assert!(find_event(&evs, "answered").is_some(), "{context}");
    let ended = find_event(&evs, "ended").expect("ended event");
    assert_eq!(ended["reason"], "LocalBye", "{context}");
    let media = find_event(&evs, "media").expect("media event");
    assert!(
        media["packets_received"].as_u64().unwrap() >= 100,
        "{media}\n{context}"
    );

    alice.wait_output(
        "Call 1 with sip:bob@example.test ended",
        Duration::from_secs(5),
    );
    let output = alice.output();
    for needle in [
        "Receiving new incoming call from sip:bob@example.test",
        "Call 1 with sip:bob@example.test connected.",
        "Media streams established with sip:bob@example.test for call 1 (audio).",
    ] {
        assert!(output.contains(needle), "no {needle:?}\n{context}");
    }
    assert!(alice.quit().success(), "{context}");
    assert_heard(&record, LINPHONE_TONE_HZ, SIPLINE_TONE_HZ, &context);
    assert_heard(
        &serve.dir().join("alice.wav"),
        SIPLINE_TONE_HZ,
        LINPHONE_TONE_HZ,
        &context,
    );
}

/// linphonec (alice) → `sipline serve` → `sipline answer --register` (bob):
/// alice's INVITE is challenged (407) and sent again with
/// Proxy-Authorization; bob answers; alice hangs up after 3 s.
#[test]
fn linphone_calls_sipline_answer_through_serve() {
    if !linphone::available("linphone_calls_sipline_answer_through_serve") {
        return;
    }
    let serve = serve("answer");
    let record = serve.dir().join("bob.wav");
    let record_arg = record.to_str().unwrap();
    let tone = SIPLINE_TONE_HZ.to_string();
    let mut bob = Answer::start(
        &serve,
        "bob",
        "example.test",
        "bob-pw",
        &["--count", "1", "--tone", &tone, "--record", record_arg],
    );
    let mut alice = alice(&serve, false);
    alice.command("call sip:bob@example.test");
    alice.wait_output(
        "Call 1 with sip:bob@example.test connected.",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(3));
    alice.command("terminate");
    alice.wait_output(
        "Call 1 with sip:bob@example.test ended",
        Duration::from_secs(5),
    );
    let status = bob.wait(Duration::from_secs(5));
    let context = || {
        format!(
            "{}\nlinphonec output:\n{}\nserve log:\n{}",
            bob.text(),
            alice.output(),
            serve.log()
        )
    };
    assert!(status.success(), "{status}\n{}", context());
    let evs = bob.events();
    let incoming = find_event(&evs, "incoming").expect("incoming event");
    assert!(
        incoming["from"]
            .as_str()
            .unwrap()
            .starts_with("<sip:alice@example.test>"),
        "{incoming}"
    );
    let ended = find_event(&evs, "ended").expect("ended event");
    assert_eq!(ended["reason"], "RemoteBye", "{}", context());
    let media = find_event(&evs, "media").expect("media event");
    assert!(
        media["packets_received"].as_u64().unwrap() >= 100,
        "{media}\n{}",
        context()
    );
    let context = context();
    assert!(alice.quit().success(), "{context}");
    // The proxy challenged linphonec's INVITE, and it answered (its log is
    // complete once it has exited).
    let log = alice.log_text();
    assert!(
        log.contains("SIP/2.0 407 Proxy Authentication Required")
            && log.lines().any(|l| l.starts_with("Proxy-Authorization:")
                && l.contains("username=\"alice\"")
                && l.contains("uri=\"sip:bob@example.test\"")),
        "{context}\nlinphonec log:\n{log}"
    );
    assert_heard(&record, LINPHONE_TONE_HZ, SIPLINE_TONE_HZ, &context);
    assert_heard(
        &serve.dir().join("alice.wav"),
        SIPLINE_TONE_HZ,
        LINPHONE_TONE_HZ,
        &context,
    );
}
