//! baresip (Debian `baresip-core`, installed by `.ci/run`) as a softphone
//! in the tests: its own configuration directory, an account registered
//! with digest authentication through `sipline serve`, and its `ctrl_tcp`
//! module (netstring-framed JSON commands, responses and events) to drive
//! and watch it. Audio comes from `ausine` and plays into `aubridge`, so
//! no sound device is needed.

use super::{free_tcp_port, read, Child};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Whether baresip can be run.
pub(crate) fn installed() -> bool {
    super::runs("baresip", "-h")
}

/// Whether baresip can be run; if not, says that `test` is SKIPPED.
pub(crate) fn available(test: &str) -> bool {
    super::installed_or_skipped(installed(), "baresip", "baresip-core", test)
}

/// How a [`Phone`] is set up.
pub(crate) struct PhoneOptions {
    /// The sine tone it sends (`audio_source ausine,FREQ`).
    pub(crate) tone_hz: f64,
    /// Answers incoming calls by itself (`;answermode=auto`).
    pub(crate) auto_answer: bool,
    /// Logs every SIP message with its addresses (`-s`).
    pub(crate) sip_trace: bool,
    /// Loads `rtcpsummary` (a summary line at the end of each call).
    pub(crate) rtcp_summary: bool,
}

/// One baresip and its control connection.
pub(crate) struct Phone {
    pub(crate) name: &'static str,
    log: PathBuf,
    ctrl: TcpStream,
    events: mpsc::Receiver<Value>,
    /// Messages received but not yet asked for.
    backlog: Vec<Value>,
    /// Everything received, for failure messages.
    history: Vec<String>,
    token: u32,
    // last: killed after the control connection is closed
    _child: Child,
}

impl Phone {
    /// Starts baresip as `name@example.test` (password `NAME-pw`),
    /// registering through `sipline serve` at `serve` (ADDRESS:PORT), its
    /// configuration in `dir/NAME` and its output in `dir/NAME.log`.
    /// See [`Phone::wait_registered`].
    pub(crate) fn start(
        name: &'static str,
        dir: &Path,
        serve: &str,
        options: &PhoneOptions,
    ) -> Phone {
        let conf = dir.join(name);
        std::fs::create_dir_all(&conf).unwrap();
        let ctrl_port = free_tcp_port();
        let rtcp_summary = if options.rtcp_summary {
            "module rtcpsummary.so\n"
        } else {
            ""
        };
        let tone = options.tone_hz;
        // sip_listen port 0: baresip binds a free port and puts it in its
        // Contact. net_interface keeps the SDP (and so RTP) on 127.0.0.1.
        // ausine only produces 48 kHz stereo: baresip resamples it for PCMU.
        std::fs::write(
            conf.join("config"),
            format!(
                "sip_listen 127.0.0.1:0\nnet_interface 127.0.0.1\n\
                 module_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule ausine.so\nmodule aubridge.so\n\
                 module account.so\nmodule menu.so\nmodule ctrl_tcp.so\n{rtcp_summary}\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
                 audio_source ausine,{tone}\naudio_player aubridge,{name}\n\
                 audio_alert aubridge,{name}\n\
                 ausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\n"
            ),
        )
        .unwrap();
        let answermode = if options.auto_answer {
            ";answermode=auto"
        } else {
            ""
        };
        std::fs::write(
            conf.join("accounts"),
            format!(
                "<sip:{name}@example.test>;outbound=\"sip:{serve}\";auth_pass={name}-pw;\
                 regint=600{answermode}\n"
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new("baresip");
        if options.sip_trace {
            cmd.arg("-s");
        }
        let child = Child::spawn(
            "baresip",
            cmd.arg("-f")
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

    /// Waits (10 s at most) until the phone is registered: REGISTER, 401,
    /// REGISTER with credentials, 200 (RFC 3261 §10.3, §22).
    pub(crate) fn wait_registered(&self) {
        self.wait_log(
            &format!("{}@example.test: {{0/UDP/v4}} 200 OK (sipline/", self.name),
            Duration::from_secs(10),
        );
    }

    /// Everything the phone printed so far.
    pub(crate) fn log_text(&self) -> String {
        read(&self.log)
    }

    /// Waits until the phone's output contains `needle`.
    pub(crate) fn wait_log(&self, needle: &str, within: Duration) {
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

    /// Forgets the control messages received but not asked for yet.
    pub(crate) fn clear_backlog(&mut self) {
        self.backlog.clear();
    }

    /// The first control message (event or response) that `pred` accepts.
    pub(crate) fn wait(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
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

    /// The first event of this type (e.g. "CALL_ESTABLISHED").
    pub(crate) fn event(&mut self, kind: &str, within: Duration) -> Value {
        self.wait(&format!("{kind} event"), within, |v| {
            v["event"] == true && v["type"] == kind
        })
    }

    /// RTP packets received from the peer so far in the current call:
    /// `rcvd=N` of the peer's SSRC in the RTCP session table of the
    /// `audio_debug` command.
    pub(crate) fn rtp_received(&mut self) -> u64 {
        let r = self.command("audio_debug", "");
        let data = r["data"].as_str().unwrap_or_default();
        data.split_whitespace()
            .filter_map(|w| w.strip_prefix("rcvd="))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or_else(|| panic!("{}: no rcvd= in audio_debug:\n{data}", self.name))
    }

    /// Runs a command (of the menu module) and returns its response.
    pub(crate) fn command(&mut self, command: &str, params: &str) -> Value {
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
