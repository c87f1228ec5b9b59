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

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::baresip::{self, Phone, PhoneOptions};
use support::serve::ServeOptions;

/// How both phones are set up: a 440 Hz tone, auto-answer, the SIP trace
/// and rtcpsummary.
const PHONE: PhoneOptions = PhoneOptions {
    tone_hz: 440.0,
    auto_answer: true,
    sip_trace: true,
    rtcp_summary: true,
};

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
    if !baresip::available("baresip_calls_baresip_through_the_proxy") {
        return;
    }
    let server = ServeOptions::new("baresip-call")
        .udp()
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .args(["--log", "debug"])
        .log_to_file()
        .start();
    let serve_addr = server.udp().to_string();
    assert!(serve_addr.starts_with("127.0.0.1:"), "{}", server.banner());

    let mut alice = Phone::start("alice", server.dir(), &serve_addr, &PHONE);
    let mut bob = Phone::start("bob", server.dir(), &serve_addr, &PHONE);
    // REGISTER, 401, REGISTER with credentials, 200 (RFC 3261 §10.3, §22)
    alice.wait_registered();
    bob.wait_registered();

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
}
