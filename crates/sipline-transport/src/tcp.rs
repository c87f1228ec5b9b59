//! Connection transports over TCP: listening, accepting (with
//! `max_connections`) and opening TCP, TLS, WS and WSS connections.

use crate::connection::{register, Conn, ConnIo, Slot};
use crate::counters::Atomic;
use crate::{Inner, SendError};
use sipline_message::Transport;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Binds a listening TCP socket (IPv6 ones IPv6-only).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

fn tune(inner: &Inner, tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    if let Some(idle) = inner.config.keepalive.tcp_keepalive {
        let _ = SockRef::from(tcp).set_tcp_keepalive(&TcpKeepalive::new().with_time(idle));
    }
}

/// Accepts connections until shutdown. Beyond `max_connections` a new
/// connection is closed at once and counted as refused.
pub(crate) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, transport: Transport) {
    let counters = inner.counters.of(transport);
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(_) => {
                    // EMFILE and the like: back off a little
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = inner.shutdown.cancelled() => return,
        };
        let Some(slot) = Slot::try_acquire(&inner.conns.slots, inner.config.max_connections) else {
            Atomic::add(&counters.connections_refused, 1);
            drop(tcp);
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let Ok(local) = tcp.local_addr() else { return };
            tune(&inner, &tcp);
            let setup = upgrade_inbound(&inner, tcp, transport);
            if let Ok(Ok(io)) = tokio::time::timeout(inner.config.connect_timeout, setup).await {
                register(&inner, transport, remote, local, io, slot, true);
            }
        });
    }
}

async fn upgrade_inbound(inner: &Inner, tcp: TcpStream, t: Transport) -> Result<ConnIo, String> {
    let max = inner.config.max_message_size;
    let tls = || {
        inner
            .tls_acceptor
            .as_ref()
            .ok_or("no TLS acceptor".to_string())
    };
    Ok(match t {
        Transport::Tcp => ConnIo::Stream(Box::new(tcp)),
        Transport::Tls => ConnIo::Stream(
            crate::tls::accept(tls()?, tcp)
                .await
                .map_err(|e| e.to_string())?,
        ),
        Transport::Ws => ConnIo::Ws(Box::new(crate::ws::accept(Box::new(tcp), max).await?)),
        Transport::Wss => {
            let io = crate::tls::accept(tls()?, tcp)
                .await
                .map_err(|e| e.to_string())?;
            ConnIo::Ws(Box::new(crate::ws::accept(io, max).await?))
        }
        Transport::Udp | Transport::Sctp => return Err("not a TCP transport".into()),
    })
}

/// Opens a connection of `transport` to `addr`: TCP connect, then the TLS
/// and WebSocket handshakes, all within the connect timeout.
pub(crate) async fn open(
    inner: &Arc<Inner>,
    transport: Transport,
    addr: SocketAddr,
    server_name: Option<&str>,
) -> Result<Arc<Conn>, SendError> {
    let max = inner.config.max_message_size;
    let setup = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => SendError::ConnectRefused { addr },
            _ => SendError::Io(e),
        })?;
        tune(inner, &tcp);
        let local = tcp.local_addr()?;
        let io = match transport {
            Transport::Tcp => ConnIo::Stream(Box::new(tcp)),
            Transport::Tls => ConnIo::Stream(
                crate::tls::connect(&inner.tls_connector, tcp, addr, server_name).await?,
            ),
            Transport::Ws => ConnIo::Ws(Box::new(
                crate::ws::connect(Box::new(tcp), false, addr, server_name, max).await?,
            )),
            Transport::Wss => {
                let io = crate::tls::connect(&inner.tls_connector, tcp, addr, server_name).await?;
                ConnIo::Ws(Box::new(
                    crate::ws::connect(io, true, addr, server_name, max).await?,
                ))
            }
            Transport::Udp | Transport::Sctp => return Err(SendError::Unsupported(transport)),
        };
        Ok::<_, SendError>((io, local))
    };
    let (io, local) = tokio::time::timeout(inner.config.connect_timeout, setup)
        .await
        .map_err(|_| SendError::ConnectTimeout { addr })??;
    let slot = Slot::acquire(&inner.conns.slots);
    Ok(register(inner, transport, addr, local, io, slot, false))
}
