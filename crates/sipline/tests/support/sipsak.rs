//! sipsak (Debian package `sipsak`, installed by `.ci/run`) in the tests:
//! whether it is there, and one bounded run of it.
//!
//! What sipsak 0.9.8.1 (Debian 12) does that the tests work around:
//! - A port in the `-s` URI loses its last digit when it has five
//!   (`-s sip:127.0.0.1:38867` sends `OPTIONS sip:127.0.0.1:3886`), so the
//!   server's port is given with `-r` and the URI has none.
//! - In usrloc mode (`-U`) the digest username is the URI's user with an
//!   `@` appended (`username="alice@"`) unless `-u` names it.
//! - Its message mode (`-M`, with or without `-U`) crashes (SIGSEGV: it
//!   writes the 200 it expects into a buffer it never allocated) before it
//!   sends anything, so a MESSAGE is sent from a file (`-f`) instead.

use std::process::{Command, ExitStatus};

/// Whether sipsak can be run.
pub(crate) fn installed() -> bool {
    super::runs("sipsak", "-V")
}

/// Whether sipsak can be run; if not, says that `test` is SKIPPED.
pub(crate) fn available(test: &str) -> bool {
    super::installed_or_skipped(installed(), "sipsak", "sipsak", test)
}

/// What one run of sipsak did.
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    /// Its standard output and then its standard error.
    pub(crate) text: String,
}

impl Run {
    /// Its exit code (None if a signal ended it, e.g. `timeout`'s).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `sipsak ARGS` against the server on 127.0.0.1:`port` (`-s
/// sip:[USER@]127.0.0.1 -r PORT` are added), killed after `seconds`
/// (`timeout`: exit code 124).
pub(crate) fn run(seconds: u32, user: Option<&str>, port: u16, args: &[&str]) -> Run {
    let uri = match user {
        Some(u) => format!("sip:{u}@127.0.0.1"),
        None => "sip:127.0.0.1".to_string(),
    };
    let out = Command::new("timeout")
        .args([&seconds.to_string(), "sipsak"])
        .args(args)
        .args(["-s", &uri, "-r", &port.to_string()])
        .output()
        .expect("run sipsak");
    Run {
        status: out.status,
        text: super::text(&out.stdout) + &super::text(&out.stderr),
    }
}
