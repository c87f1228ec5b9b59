//! SIPp (Debian package `sip-tester`, installed by `.ci/run`) in the
//! tests: whether it is there, ports for its media, and its final
//! statistics screen.

use std::net::UdpSocket;

/// Whether SIPp can be run.
pub(crate) fn installed() -> bool {
    super::runs("sipp", "-v")
}

/// Whether SIPp can be run; if not, says that `test` is SKIPPED.
pub(crate) fn available(test: &str) -> bool {
    super::installed_or_skipped(installed(), "sipp", "sip-tester", test)
}

/// A media port for SIPp: with `-rtp_echo` it binds this port (audio) and
/// this port + 2 (video); both must be free.
pub(crate) fn free_media_port() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < 65_000 && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of media ports");
}

/// The value on SIPp's final statistics screen in the "Cumulative" column
/// of the line that starts with `label` (e.g. "Successful call").
pub(crate) fn counter(screen: &str, label: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))?
        .split('|')
        .nth(2)?
        .trim()
        .parse()
        .ok()
}
