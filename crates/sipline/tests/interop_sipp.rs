//! SIPp (Debian package `sip-tester`, installed by `.ci/run`) through
//! `sipline serve`: a SIPp UAS registers, a SIPp UAC calls it through the
//! proxy (INVITE, 180, 200, ACK, BYE, record-routed), on 127.0.0.1 with
//! ports picked free. SIPp exits 0 only if every call succeeded.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(dir: &std::path::Path) -> (Kill, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let port = banner.trim().rsplit(':').next().unwrap().parse().unwrap();
    (Kill(child), port)
}

fn register(server: u16, user: &str, contact_port: u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let l = s.local_addr().unwrap();
    let msg = format!(
        "REGISTER sip:127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg1;rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@127.0.0.1:{server}>\r\nFrom: <sip:{user}@127.0.0.1:{server}>;tag=r1\r\n\
Call-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{contact_port}>\r\n\
Content-Length: 0\r\n\r\n"
    );
    s.send_to(msg.as_bytes(), ("127.0.0.1", server)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).expect("REGISTER answered");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn sipp_calls_through_the_proxy() {
    assert!(
        Command::new("sipp").arg("-v").output().is_ok(),
        "sipp is not installed: run .ci/run, or apt-get install sip-tester"
    );
    let dir = std::env::temp_dir().join(format!("sipline-sipp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (_server, port) = start_server(&dir);

    let uas_port = free_udp_port();
    let _uas = Kill(
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
    register(port, "callee", uas_port);

    let uac_port = free_udp_port();
    let out = Command::new("timeout")
        .args(["60", "sipp", "-sn", "uac", &format!("127.0.0.1:{port}")])
        .args([
            "-s", "callee", "-m", "200", "-r", "100", "-l", "50", "-d", "100",
        ])
        .args(["-i", "127.0.0.1", "-p", &uac_port.to_string(), "-nostdin"])
        .args(["-timeout", "50", "-timeout_error"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
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
