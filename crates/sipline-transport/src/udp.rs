//! UDP (RFC 3261 §18): one socket per listener, each datagram one message.

use crate::counters::Atomic;
use crate::{Inner, SendError};
use bytes::Bytes;
use sipline_message::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Largest UDP payload over IPv4 (65 535 minus IP and UDP headers).
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// Socket buffer size asked for on every UDP socket.
const UDP_BUFFER: usize = 4 << 20;

/// Binds a UDP socket; an IPv6 one is IPv6-only, so `[::]` and `0.0.0.0` can
/// share a port.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    // Bursts of datagrams outrun the default 208 KB receive buffer and are
    // dropped by the kernel before we read them; ask for more (the kernel
    // caps it at net.core.rmem_max / wmem_max). Failure only means smaller.
    let _ = s.set_recv_buffer_size(UDP_BUFFER);
    let _ = s.set_send_buffer_size(UDP_BUFFER);
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Receives datagrams until shutdown. RFC 3261 §18.3: a datagram is one
/// message; whitespace-only datagrams (keep-alives) are skipped; STUN
/// Binding Requests are answered and Binding Responses passed up
/// (RFC 5626 §8).
pub(crate) async fn recv_loop(inner: Arc<Inner>, sock: Arc<UdpSocket>, local: SocketAddr) {
    let counters = inner.counters.of(Transport::Udp);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, source) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(v) => v,
                // e.g. an ICMP error reported on the socket: keep going,
                // without spinning if the error repeats
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                }
            },
            () = inner.shutdown.cancelled() => return,
        };
        Atomic::add(&counters.bytes_in, n as u64);
        let data = &buf[..n];
        // RFC 5626 §8: a STUN Binding Request on the SIP port (a keep-alive,
        // §4.4.2) gets its Binding Response.
        if let Some(reply) = crate::stun::binding_response(data, source) {
            if sock.send_to(&reply, source).await.is_ok() {
                counters.sent(reply.len(), false);
            }
            continue;
        }
        // The Binding Response to a keep-alive of ours (RFC 5626 §4.4.2):
        // up to whoever sent the request (matched by transaction ID there,
        // RFC 5389 §7.3.3); not an error, even with no one listening.
        if let Some(response) = crate::stun::BindingResponse::decode(data) {
            let _ = inner.stun.send(crate::stun::StunReceived {
                response,
                source,
                local,
            });
            continue;
        }
        if data.iter().all(u8::is_ascii_whitespace) {
            continue; // CRLF keep-alive
        }
        if data.first().is_some_and(|b| *b < 0x20) {
            // binary: other STUN, or garbage; not SIP, and counted
            Atomic::add(&counters.parse_errors, 1);
            continue;
        }
        let raw = Bytes::copy_from_slice(data);
        if let Some(reply) = inner
            .receive(raw, Transport::Udp, source, local, None)
            .await
        {
            if sock.send_to(&reply, source).await.is_ok() {
                counters.sent(reply.len(), true);
            }
        }
    }
}

/// Like [`send`], without waiting: `WouldBlock` when the socket's buffer
/// is full.
pub(crate) fn try_send(
    inner: &Inner,
    addr: SocketAddr,
    local: Option<SocketAddr>,
    data: &[u8],
) -> Result<(), SendError> {
    let sock = socket_for(inner, addr, local, data)?;
    sock.try_send_to(data, addr)?;
    inner.counters.of(Transport::Udp).sent(data.len(), true);
    Ok(())
}

/// The listener's socket to send `data` to `addr` from.
fn socket_for<'a>(
    inner: &'a Inner,
    addr: SocketAddr,
    local: Option<SocketAddr>,
    data: &[u8],
) -> Result<&'a UdpSocket, SendError> {
    if data.len() > MAX_DATAGRAM {
        return Err(SendError::MessageTooLarge {
            size: data.len(),
            limit: MAX_DATAGRAM,
        });
    }
    let same_family = |a: &SocketAddr| a.is_ipv4() == addr.is_ipv4();
    local
        .and_then(|l| inner.udp.iter().find(|(a, _)| *a == l))
        .or_else(|| inner.udp.iter().find(|(a, _)| same_family(a)))
        .map(|(_, s)| &**s)
        .ok_or(SendError::NoListener(Transport::Udp))
}

/// Sends one datagram to `addr` from the listener bound to `local` (or the
/// first of the address family); `message`: a SIP message (counted in
/// `messages_out`), not a STUN keep-alive.
pub(crate) async fn send_datagram(
    inner: &Inner,
    addr: SocketAddr,
    local: Option<SocketAddr>,
    data: &[u8],
    message: bool,
) -> Result<(), SendError> {
    let sock = socket_for(inner, addr, local, data)?;
    sock.send_to(data, addr).await?;
    inner.counters.of(Transport::Udp).sent(data.len(), message);
    Ok(())
}
