//! linphone's console client, `linphonec` (Debian `linphone-cli`,
//! installed by `.ci/run`), as a softphone in the tests: its own
//! configuration file and home directory, an account registered with digest
//! authentication through `sipline serve`, driven by commands written to
//! its standard input and watched through its console output and its debug
//! log (`-d 6 -l FILE`, which holds every SIP message).
//!
//! There is no sound device: `soundcard use files` makes it send a WAV file
//! (`play`) and record what it receives into another (`record`).
//!
//! What linphonec 5.1 (Debian 12) needs here: `$HOME/.local/share/linphone`
//! must exist (its database; without it nothing registers), and
//! `reg_route` (not only `reg_proxy`) so that calls to the account's
//! domain go to the proxy instead of that domain's DNS records. It rewrites
//! its configuration file (the password becomes `ha1`).

use super::{read, Child};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Whether linphonec can be run.
pub(crate) fn installed() -> bool {
    super::runs("linphonec", "-v")
}

/// Whether linphonec can be run; if not, says that `test` is SKIPPED.
pub(crate) fn available(test: &str) -> bool {
    super::installed_or_skipped(installed(), "linphonec", "linphone-cli", test)
}

/// How a [`Linphone`] is set up.
pub(crate) struct LinphoneOptions<'a> {
    /// Answers incoming calls by itself (`-a`).
    pub(crate) auto_answer: bool,
    /// The WAV file it sends in calls.
    pub(crate) play: &'a Path,
    /// Where it records what it receives in calls (a WAV file).
    pub(crate) record: &'a Path,
}

/// One linphonec.
pub(crate) struct Linphone {
    pub(crate) name: &'static str,
    stdin: ChildStdin,
    out: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Linphone {
    /// Starts linphonec as `name@DOMAIN` (password `NAME-pw`), registering
    /// through `sipline serve` at `serve`, with a random SIP port (UDP
    /// only) and a random RTP port; its files in `dir/NAME`, its console
    /// output in `dir/NAME.out` and its log in `dir/NAME.log`. See
    /// [`Linphone::wait_registered`].
    pub(crate) fn start(
        name: &'static str,
        domain: &str,
        dir: &Path,
        serve: SocketAddr,
        options: &LinphoneOptions<'_>,
    ) -> Linphone {
        let home = dir.join(name);
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let config = home.join("linphonerc");
        std::fs::write(
            &config,
            format!(
                "[sip]\nsip_port=-1\nsip_tcp_port=0\nsip_tls_port=0\ndefault_proxy=0\n\
                 [rtp]\naudio_rtp_port=-1\n\
                 [proxy_0]\nreg_proxy=<sip:{serve}>\nreg_route=<sip:{serve};lr>\n\
                 reg_identity=sip:{name}@{domain}\nreg_expires=600\nreg_sendregister=1\n\
                 publish=0\n\
                 [auth_info_0]\nusername={name}\npasswd={name}-pw\nrealm={domain}\n"
            ),
        )
        .unwrap();
        let out = dir.join(format!("{name}.out"));
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new("linphonec");
        if options.auto_answer {
            cmd.arg("-a");
        }
        cmd.arg("-c")
            .arg(&config)
            .args(["-d", "6", "-l"])
            .arg(&log)
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null());
        let mut child = Child::new("linphonec", cmd.spawn().expect("start linphonec"));
        let stdin = child.child.stdin.take().unwrap();
        let mut phone = Linphone {
            name,
            stdin,
            out,
            log,
            child,
        };
        phone.command("soundcard use files");
        phone.wait_output(
            "Using wav files instead of soundcard.",
            Duration::from_secs(10),
        );
        phone.command(&format!("play {}", options.play.display()));
        phone.command(&format!("record {}", options.record.display()));
        phone
    }

    /// Waits (10 s at most) until its account is registered: REGISTER,
    /// 401, REGISTER with credentials, 200.
    pub(crate) fn wait_registered(&self) {
        self.wait_log("to [LinphoneRegistrationOk]", Duration::from_secs(10));
    }

    /// Writes one command line to its standard input.
    pub(crate) fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("{}: {line}: {e}\n{}", self.name, self.output()));
    }

    /// Its console output so far.
    pub(crate) fn output(&self) -> String {
        read(&self.out)
    }

    /// Its debug log so far.
    pub(crate) fn log_text(&self) -> String {
        read(&self.log)
    }

    /// Waits until its console output contains `needle`.
    pub(crate) fn wait_output(&self, needle: &str, within: Duration) {
        self.wait_for(needle, within, &self.out);
    }

    /// Waits until its debug log contains `needle`.
    pub(crate) fn wait_log(&self, needle: &str, within: Duration) {
        self.wait_for(needle, within, &self.log);
    }

    fn wait_for(&self, needle: &str, within: Duration, file: &Path) {
        let deadline = Instant::now() + within;
        while !read(file).contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?} within {within:?} in {}; output:\n{}",
                self.name,
                file.display(),
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `quit`, and waits (10 s at most) for it to exit.
    pub(crate) fn quit(&mut self) -> ExitStatus {
        self.command("quit");
        self.child.wait(Duration::from_secs(10))
    }
}
