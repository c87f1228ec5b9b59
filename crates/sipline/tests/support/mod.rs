//! What the integration tests of the `sipline` binary share: child
//! processes killed when a test ends, temporary directories, free ports on
//! 127.0.0.1, `sipline serve` started and read from its banner, raw SIP
//! over UDP sockets, the `--json` events of the user-agent commands, and
//! the helpers for the real SIP tools they are checked against (baresip,
//! SIPp, sipsak, linphone) and for `sipline answer` as their far end.
//!
//! Each test file includes this module with `mod support;` and uses only
//! part of it.
#![allow(dead_code)]

pub(crate) mod answer;
pub(crate) mod baresip;
pub(crate) mod linphone;
pub(crate) mod serve;
pub(crate) mod sipp;
pub(crate) mod sipsak;

use serde_json::Value;
use sipline_media::tone::goertzel;
use sipline_message::header::{Challenge, StdHeader};
use sipline_message::{Bytes, Message, Method, StatusCode};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `sipline` binary under test.
pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sipline"))
}

/// A child process, killed (and reaped) when dropped, pass or fail.
pub(crate) struct Child {
    child: std::process::Child,
    name: &'static str,
}

impl Child {
    /// Starts `cmd` with standard input closed; `name` is for messages.
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command) -> Child {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Child { child, name }
    }

    /// Guards a process started otherwise.
    pub(crate) fn new(name: &'static str, child: std::process::Child) -> Child {
        Child { child, name }
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status if it has exited.
    pub(crate) fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits for the process to exit, at most `within` (then panics).
    pub(crate) fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.try_wait() {
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

    /// Waits for the process to exit, however long it takes.
    pub(crate) fn exit_status(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory, empty when made, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// `sipline-NAME-PID` in the system's temporary directory (what an
    /// earlier run left there is removed first).
    pub(crate) fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("sipline-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tmpfs of `kib` KiB mounted on a directory (as root, or through
/// `sudo -n`), for a full disk; unmounted when dropped.
pub(crate) struct SmallFs {
    path: PathBuf,
    sudo: bool,
}

impl SmallFs {
    /// Mounts it on `path` (created); `None`, and says the test is
    /// SKIPPED, where neither root nor `sudo -n` can mount.
    pub(crate) fn mount(path: &Path, kib: u32, test: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(path).unwrap();
        let opts = format!("size={kib}k,mode=0777");
        for sudo in [false, true] {
            let mut cmd = if sudo {
                Command::new("sudo")
            } else {
                Command::new("mount")
            };
            if sudo {
                cmd.args(["-n", "mount"]);
            }
            let mounted = cmd
                .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
                .arg(path)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if mounted {
                let path = path.to_owned();
                return Some(SmallFs { path, sudo });
            }
        }
        eprintln!("SKIPPED {test}: cannot mount a tmpfs here (needs root or sudo -n)");
        None
    }

    /// Fills it: `filler` written until the file system has no room left.
    pub(crate) fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        while let Ok(n) = f.write(&[0x55; 4096]) {
            if n == 0 {
                break;
            }
        }
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let mut cmd = if self.sudo {
            Command::new("sudo")
        } else {
            Command::new("umount")
        };
        if self.sudo {
            cmd.args(["-n", "umount"]);
        }
        let _ = cmd.arg(&self.path).status();
    }
}

/// Whether `program` can be run (with `arg`, its output discarded).
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `installed`; if not, says that `test` is SKIPPED as `program` (of the
/// Debian package `package`) is not installed.
fn installed_or_skipped(installed: bool, program: &str, package: &str, test: &str) -> bool {
    if !installed {
        eprintln!(
            "SKIPPED {test}: {program} is not installed \
             (run .ci/run, or apt-get install {package})"
        );
    }
    installed
}

/// A file's text; empty if it cannot be read (yet).
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bound, released).
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, released).
pub(crate) fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port on 127.0.0.1 free for both UDP and TCP a moment ago.
pub(crate) fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A UDP socket on a free port of 127.0.0.1 whose reads give up after
/// `timeout`.
pub(crate) fn udp_socket(timeout: Duration) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s
}

/// The next SIP message on `s`; None on a timeout or what does not parse.
pub(crate) fn recv(s: &UdpSocket) -> Option<Message> {
    let mut buf = [0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Message::parse(Bytes::copy_from_slice(&buf[..n])).ok()
}

/// A response's status code; 0 for a request.
pub(crate) fn status(m: &Message) -> u16 {
    m.as_response().map_or(0, |r| r.status.as_u16())
}

/// Everything `rx` gets within `wait`.
pub(crate) fn drain<T>(rx: &mpsc::Receiver<T>, wait: Duration) -> Vec<T> {
    let mut out = Vec::new();
    let end = Instant::now() + wait;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(m) => out.push(m),
            Err(_) => break,
        }
    }
    out
}

/// REGISTERs `user@127.0.0.1:SERVER` with these Contact values, over UDP
/// to the server on 127.0.0.1:`server`, and checks the answer is 200;
/// returns it.
pub(crate) fn register(server: u16, user: &str, contacts: &[String]) -> Message {
    let s = udp_socket(Duration::from_secs(5));
    let l = s.local_addr().unwrap();
    let mut msg = format!(
        "REGISTER sip:127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg;rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@127.0.0.1:{server}>\r\nFrom: <sip:{user}@127.0.0.1:{server}>;tag=r1\r\n\
Call-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\n"
    );
    for c in contacts {
        msg.push_str(&format!("Contact: {c}\r\n"));
    }
    msg.push_str("Content-Length: 0\r\n\r\n");
    s.send_to(msg.as_bytes(), ("127.0.0.1", server)).unwrap();
    let r = recv(&s).expect("REGISTER answered");
    assert_eq!(status(&r), 200, "{r}");
    r
}

/// What a scripted phone on 127.0.0.1:`port` answers to `request`: To
/// tag `ph{port}`; a 200 to an INVITE has the phone's Contact
/// (`sip:bob@127.0.0.1:PORT`) and the request's Record-Route (RFC 3261
/// §12.1.1).
pub(crate) fn phone_response(request: &Message, code: u16, port: u16) -> Bytes {
    let req = request.as_request().unwrap();
    let mut r = sipline_message::builder::response_to(
        req,
        StatusCode::new(code).unwrap(),
        Some(&format!("ph{port}")),
    );
    if code == 200 && req.method == Method::Invite {
        r.headers
            .push(StdHeader::Contact, format!("<sip:bob@127.0.0.1:{port}>"));
        for rr in request.headers().get_all(StdHeader::RecordRoute) {
            r.headers.push(StdHeader::RecordRoute, rr.clone());
        }
    }
    Message::from(r).to_bytes()
}

/// The credentials (an Authorization or Proxy-Authorization value) of
/// `user` with `password` answering the digest challenge `c` for a
/// request without a body, with this client nonce and nonce count.
pub(crate) fn digest_credentials(
    c: &Challenge,
    method: &Method,
    uri: &str,
    user: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    sipline_auth::respond(
        c,
        &sipline_auth::DigestRequest {
            method,
            uri,
            body: Some(b""),
        },
        user,
        &sipline_auth::Credential::Password(password.into()),
        cnonce,
        nc,
    )
    .unwrap()
    .to_string()
}

/// A test CA and a certificate for localhost and 127.0.0.1 signed by it,
/// in PEM.
pub(crate) struct TestCerts {
    pub(crate) ca: String,
    pub(crate) cert: String,
    pub(crate) key: String,
}

pub(crate) fn test_certs() -> TestCerts {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    TestCerts {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Lossy UTF-8 text of a command's output.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Each line of `stdout` parsed as JSON (every line must be JSON).
pub(crate) fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The JSON events `sipline --json` printed so far, one per line (a last
/// line still being written is left out, and so is what is not JSON).
pub(crate) fn events(stdout: &str) -> Vec<Value> {
    let complete = stdout.rfind('\n').map_or("", |i| &stdout[..i]);
    complete
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The first event of this kind (its `event` member).
pub(crate) fn find_event<'a>(events: &'a [Value], kind: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["event"] == kind)
}

/// The kind of each event, in order.
pub(crate) fn event_kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect()
}

/// The frequency (10 Hz steps, 100 to 3,900 Hz) with the most energy,
/// summed over 50 ms windows.
pub(crate) fn dominant_frequency(samples: &[i16]) -> f64 {
    let windows: Vec<&[i16]> = samples.chunks_exact(400).collect();
    (10..=390)
        .map(|f| f64::from(f) * 10.0)
        .map(|f| (f, windows.iter().map(|w| goertzel(w, f)).sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0.0, |(f, _)| f)
}
