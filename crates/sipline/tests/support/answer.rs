//! `sipline answer --register` as the far end of a test: registered with
//! digest authentication through `sipline serve`, its `--json` events and
//! standard error in files of a test's directory.

use super::serve::Serve;
use super::{bin, events, find_event, read, Child};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// A running `sipline answer --register`.
pub(crate) struct Answer {
    out: PathBuf,
    err: PathBuf,
    child: Child,
}

impl Answer {
    /// Starts `sipline answer` as `user@DOMAIN` (`--from`, `--user`,
    /// `--password`) registering with `serve` from a free port of
    /// 127.0.0.1, with `--json` and `args`; its output in
    /// `DIR/answer-USER.{out,err}`. Waits (10 s at most) until it says it
    /// is registered.
    pub(crate) fn start(
        serve: &Serve,
        user: &str,
        domain: &str,
        password: &str,
        args: &[&str],
    ) -> Answer {
        let out = serve.dir().join(format!("answer-{user}.out"));
        let err = serve.dir().join(format!("answer-{user}.err"));
        let child = Child::spawn(
            "sipline answer",
            bin()
                .arg("answer")
                .arg("--register")
                .arg(format!("sip:{}", serve.udp()))
                .args(["--from", &format!("sip:{user}@{domain}")])
                .args(["--user", user, "--password", password])
                .args(["--listen", "127.0.0.1:0", "--json"])
                .args(args)
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&err).unwrap()),
        );
        let mut answer = Answer { out, err, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while find_event(&answer.events(), "registered").is_none() {
            assert!(
                Instant::now() < deadline,
                "sipline answer did not register\n{}\nserve log:\n{}",
                answer.text(),
                serve.log()
            );
            assert!(
                answer.child.try_wait().is_none(),
                "sipline answer exited\n{}",
                answer.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        answer
    }

    /// Its `--json` events so far.
    pub(crate) fn events(&self) -> Vec<Value> {
        events(&read(&self.out))
    }

    /// Waits (at most `within`) for the first event of this kind.
    pub(crate) fn wait_event(&self, kind: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = find_event(&self.events(), kind) {
                return e.clone();
            }
            assert!(
                Instant::now() < deadline,
                "sipline answer: no {kind} event within {within:?}\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most `within`) for it to exit.
    pub(crate) fn wait(&mut self, within: Duration) -> ExitStatus {
        self.child.wait(within)
    }

    /// Its standard error so far (with `--trace`: every message).
    pub(crate) fn stderr(&self) -> String {
        read(&self.err)
    }

    /// Its standard output and error, for failure messages.
    pub(crate) fn text(&self) -> String {
        format!(
            "sipline answer stdout:\n{}\nstderr:\n{}",
            read(&self.out),
            read(&self.err)
        )
    }
}
