//! SCTP (RFC 4168): not implemented; see the crate README. This is the seam:
//! a listener or a send for [`Transport::Sctp`](sipline_message::Transport)
//! ends here.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;

/// IANA protocol number of SCTP.
const IPPROTO_SCTP: i32 = 132;

/// Whether this kernel can open an SCTP socket at all.
pub(crate) fn kernel_supports_sctp() -> bool {
    Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(IPPROTO_SCTP)),
    )
    .is_ok()
}

/// The error for an SCTP listener.
pub(crate) fn unsupported() -> io::Error {
    let kernel = if kernel_supports_sctp() {
        "the kernel has SCTP, but sipline-transport does not implement it yet"
    } else {
        "this kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails)"
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("SCTP transport (RFC 4168) not supported: {kernel}"),
    )
}
