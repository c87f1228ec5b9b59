//! IPv4 addresses, ports and socket addresses as text, written by hand:
//! through `core::fmt` an address costs a few thousand instructions, and
//! these are written for nearly every message (Via `received`, Contact and
//! AOR URIs, flow names).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A short text on the stack (an IPv4 address or a port).
#[derive(Clone, Copy)]
pub struct Short {
    buf: [u8; 15],
    len: usize,
}

impl Short {
    fn new() -> Self {
        Self {
            buf: [0; 15],
            len: 0,
        }
    }

    fn push_u16(&mut self, n: u16) {
        // Written in place from the last digit back: a loop that copied the
        // digits from a scratch array was compiled to a libc `memmove` call
        // per number (24 per REGISTER through `sipline serve`, `text::ipv4`
        // of every received Via: 72,004 calls in 3,000 REGISTERs under
        // callgrind, `bench/register-instructions.sh`).
        let width = match n {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            1000..=9999 => 4,
            _ => 5,
        };
        let end = self.len + width;
        let mut n = n;
        for d in self.buf[self.len..end].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len = end;
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // only ASCII digits and dots are ever written
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// `a.b.c.d`, as `Ipv4Addr`'s `Display` writes it.
pub fn ipv4(a: Ipv4Addr) -> Short {
    let mut s = Short::new();
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            s.buf[s.len] = b'.';
            s.len += 1;
        }
        s.push_u16(u16::from(o));
    }
    s
}

/// A port (or any u16) in decimal.
pub fn port(n: u16) -> Short {
    let mut s = Short::new();
    s.push_u16(n);
    s
}

/// Appends an address as `Display` writes it (IPv6 without brackets).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => out.push_str(ipv4(a).as_str()),
        IpAddr::V6(a) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

/// Appends a socket address as `Display` writes it (`1.2.3.4:5060`,
/// `[::1]:5060`).
pub fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => out.push_str(ipv4(*a.ip()).as_str()),
        SocketAddr::V6(a) => {
            use std::fmt::Write as _;
            let _ = write!(out, "[{}]", a.ip());
        }
    }
    out.push(':');
    out.push_str(port(addr.port()).as_str());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_display() {
        for a in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.9.100",
            "127.0.0.1",
            "1.22.133.4",
        ] {
            let ip: Ipv4Addr = a.parse().unwrap();
            assert_eq!(ipv4(ip).as_str(), ip.to_string());
        }
        // every u16, so every width and every digit boundary
        for n in 0..=u16::MAX {
            assert_eq!(port(n).as_str(), n.to_string());
        }
        for o in 0..=u8::MAX {
            let ip = Ipv4Addr::new(o, 255 - o, o / 3, 9);
            assert_eq!(ipv4(ip).as_str(), ip.to_string());
        }
        for a in [
            "192.0.2.1:5060",
            "[2001:db8::1]:5061",
            "[::ffff:1.2.3.4]:1",
            "0.0.0.0:0",
        ] {
            let sa: SocketAddr = a.parse().unwrap();
            let mut s = String::new();
            push_socket_addr(&mut s, sa);
            assert_eq!(s, sa.to_string());
            let mut s = String::new();
            push_ip(&mut s, sa.ip());
            assert_eq!(s, sa.ip().to_string());
        }
    }
}
