//! SIPp (Debian package `sip-tester`, installed by `.ci/run`) through
//! `sipline serve`: a SIPp UAS registers, a SIPp UAC calls it through the
//! proxy (INVITE, 180, 200, ACK, BYE, record-routed), on 127.0.0.1 with
//! ports picked free. SIPp exits 0 only if every call succeeded.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::serve::ServeOptions;
use support::{free_udp_port, register, sipp, Child};

#[test]
fn sipp_calls_through_the_proxy() {
    assert!(
        sipp::installed(),
        "sipp is not installed: run .ci/run, or apt-get install sip-tester"
    );
    let server = ServeOptions::new("sipp").udp().start();
    let port = server.port();

    let uas_port = free_udp_port();
    let _uas = Child::new(
        "sipp uas",
        Command::new("sipp")
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-nostdin",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    register(
        port,
        "callee",
        &[format!("<sip:callee@127.0.0.1:{uas_port}>")],
    );

    let uac_port = free_udp_port();
    let out = Command::new("timeout")
        .args(["60", "sipp", "-sn", "uac", &format!("127.0.0.1:{port}")])
        // 40 calls/s: this checks interop, not load (bench/ does that); at
        // 100/s a busy CI machine made SIPp count a few calls failed.
        .args([
            "-s", "callee", "-m", "200", "-r", "40", "-l", "20", "-d", "100",
        ])
        .args(["-i", "127.0.0.1", "-p", &uac_port.to_string(), "-nostdin"])
        .args(["-timeout", "50", "-timeout_error"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "SIPp reported failed calls:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("Successful call") && l.trim_end().ends_with("200")),
        "{text}"
    );
}
