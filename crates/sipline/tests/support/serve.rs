//! `sipline serve` in a temporary directory, on ports picked by the
//! system: started from a configuration file and/or flags, its addresses
//! read from its banner ("sipline serve: listening on udp:127.0.0.1:A,
//! tcp:127.0.0.1:B, ..."), killed and its directory removed when dropped.

use super::{bin, read, Child, TempDir};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// How to start `sipline serve`: `serve [--config DIR/sipline.toml] ARGS`.
pub(crate) struct ServeOptions {
    dir: TempDir,
    config: Option<String>,
    args: Vec<OsString>,
    log_to_file: bool,
}

impl ServeOptions {
    /// In a new temporary directory named after `name` (see [`TempDir`]).
    pub(crate) fn new(name: &str) -> ServeOptions {
        ServeOptions::in_dir(TempDir::new(name))
    }

    /// In `dir` as it is, e.g. the one a stopped server used.
    pub(crate) fn in_dir(dir: TempDir) -> ServeOptions {
        ServeOptions {
            dir,
            config: None,
            args: Vec::new(),
            log_to_file: false,
        }
    }

    /// The temporary directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR/data`: for the location store (`data_dir`, `--data-dir`).
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.file("data")
    }

    /// Writes this to `DIR/sipline.toml`, given with `--config`.
    pub(crate) fn config(mut self, toml: impl Into<String>) -> ServeOptions {
        self.config = Some(toml.into());
        self
    }

    /// More arguments (after `--config`).
    pub(crate) fn args<I, S>(mut self, args: I) -> ServeOptions
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `--listen udp:127.0.0.1:0 --data-dir DIR/data`.
    pub(crate) fn udp(self) -> ServeOptions {
        let data = self.data_dir();
        self.args(["--listen", "udp:127.0.0.1:0", "--data-dir"])
            .args([data])
    }

    /// Standard error to `DIR/serve.log` (see [`Serve::log`]); by default
    /// it is discarded.
    pub(crate) fn log_to_file(mut self) -> ServeOptions {
        self.log_to_file = true;
        self
    }

    /// Starts the server and waits (10 s at most) for its banner.
    pub(crate) fn start(self) -> Serve {
        let mut cmd = bin();
        cmd.arg("serve");
        if let Some(toml) = &self.config {
            let path = self.dir.file("sipline.toml");
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.args(&self.args).stdout(Stdio::piped());
        if self.log_to_file {
            cmd.stderr(File::create(self.dir.file("serve.log")).unwrap());
        } else {
            cmd.stderr(Stdio::null());
        }
        let mut child = Child::spawn("sipline serve", &mut cmd);
        // Its standard output, line by line, read on a thread so that the
        // waits are bounded.
        let stdout = child.child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut serve = Serve {
            child,
            lines,
            banner: String::new(),
            listeners: Vec::new(),
            log_to_file: self.log_to_file,
            dir: self.dir,
        };
        serve.banner = serve.next_line();
        serve.listeners = serve
            .banner
            .trim()
            .trim_start_matches("sipline serve: listening on ")
            .split(", ")
            .filter_map(|s| {
                let (t, a) = s.split_once(':')?;
                Some((t.to_string(), a.parse().ok()?))
            })
            .collect();
        assert!(!serve.listeners.is_empty(), "banner: {:?}", serve.banner);
        serve
    }
}

/// A running `sipline serve`.
pub(crate) struct Serve {
    // first: killed before its directory is removed
    child: Child,
    lines: mpsc::Receiver<String>,
    banner: String,
    /// What it listens on, by transport name ("udp", "tls", ...).
    listeners: Vec<(String, SocketAddr)>,
    log_to_file: bool,
    dir: TempDir,
}

impl Serve {
    /// The first line it printed: "sipline serve: listening on ...".
    pub(crate) fn banner(&self) -> &str {
        &self.banner
    }

    /// The next line it prints (10 s at most).
    pub(crate) fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("sipline serve printed no line: {e}\n{}", self.log()))
    }

    /// Every address it listens on, by transport name.
    pub(crate) fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    /// Its address for `transport` ("udp", "tcp", "tls", "ws", "wss").
    pub(crate) fn addr(&self, transport: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(t, _)| t == transport)
            .unwrap_or_else(|| panic!("no {transport} listener: {:?}", self.listeners))
            .1
    }

    /// Its UDP address.
    pub(crate) fn udp(&self) -> SocketAddr {
        self.addr("udp")
    }

    /// Its UDP port.
    pub(crate) fn port(&self) -> u16 {
        self.udp().port()
    }

    /// Its temporary directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What it wrote to standard error, with [`ServeOptions::log_to_file`].
    pub(crate) fn log(&self) -> String {
        if self.log_to_file {
            read(&self.dir.file("serve.log"))
        } else {
            String::new()
        }
    }

    /// Sends it SIGTERM (graceful shutdown).
    pub(crate) fn terminate(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM sipline serve");
    }

    /// Waits (at most `within`) for it to exit; its exit status.
    pub(crate) fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        self.child.wait(within)
    }

    /// Kills it (as `kill -9` would) and hands back its directory, kept.
    pub(crate) fn stop(self) -> TempDir {
        let Serve { child, dir, .. } = self;
        drop(child);
        dir
    }
}
