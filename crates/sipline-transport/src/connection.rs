//! Connections (TCP, TLS, WS, WSS): the table, writing, and the stream read
//! loop with Content-Length framing (RFC 3261 §18.3).

use crate::counters::Atomic;
use crate::{Inner, SendError, TransportEvent};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sipline_message::parse::{frame, Frame};
use sipline_message::ParseError;
use sipline_message::Transport;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Identifies one connection for as long as the transport layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An open connection, as [`crate::TransportLayer::connections`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// TCP, TLS, WS or WSS.
    pub transport: Transport,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// True if the peer opened it.
    pub inbound: bool,
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it.
    PeerClosed,
    /// Nothing was read or written for the idle timeout.
    Idle,
    /// The stream could not be framed (bad or missing Content-Length, too
    /// large: RFC 3261 §18.3); a 400 was sent when possible.
    Framing(String),
    /// A read or write failed.
    Error(String),
    /// Closed by [`crate::TransportLayer::close_connection`] or shutdown.
    Local,
    /// No CRLF pong came within [`crate::KeepaliveConfig::pong_timeout`]
    /// of a CRLFCRLF ping (RFC 5626 §4.4.1: "the client MUST treat the flow
    /// as failed").
    KeepaliveTimeout,
}

/// Anything a connection can run over: TCP, TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
pub(crate) type BoxIo = Box<dyn Io>;
pub(crate) type WsStream = WebSocketStream<BoxIo>;

/// A freshly opened or accepted connection, before it is registered.
pub(crate) enum ConnIo {
    /// Content-Length framed byte stream (TCP, TLS).
    Stream(BoxIo),
    /// One SIP message per WebSocket message (WS, WSS).
    Ws(Box<WsStream>),
}

enum Writer {
    Stream(WriteHalf<BoxIo>),
    Ws(SplitSink<WsStream, WsMessage>),
}

/// A slot counted against `max_connections`, given back on drop.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    pub(crate) fn try_acquire(count: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count.clone()))
    }

    pub(crate) fn acquire(count: &Arc<AtomicUsize>) -> Slot {
        count.fetch_add(1, Ordering::AcqRel);
        Slot(count.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct Conn {
    pub(crate) id: ConnectionId,
    pub(crate) transport: Transport,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) inbound: bool,
    writer: tokio::sync::Mutex<Option<Writer>>,
    /// Milliseconds since the layer's epoch of the last read or write.
    last_activity: AtomicU64,
    pub(crate) cancel: CancellationToken,
    _slot: Slot,
}

impl Conn {
    fn touch(&self, inner: &Inner) {
        self.last_activity.store(inner.now_ms(), Ordering::Relaxed);
    }

    /// Writes one message (or keep-alive) and flushes it.
    pub(crate) async fn write(
        &self,
        inner: &Inner,
        data: Bytes,
        message: bool,
    ) -> Result<(), SendError> {
        let id = self.id;
        let len = data.len();
        let mut guard = self.writer.lock().await;
        let Some(w) = guard.as_mut() else {
            return Err(SendError::ConnectionClosed { id });
        };
        let fut = async {
            match w {
                Writer::Stream(s) => {
                    s.write_all(&data).await?;
                    s.flush().await
                }
                // RFC 7118 §4.2: UTF-8 in text frames, anything else in binary.
                Writer::Ws(s) => {
                    let m = match std::str::from_utf8(&data) {
                        Ok(_) => match tokio_tungstenite::tungstenite::Utf8Bytes::try_from(data) {
                            Ok(t) => WsMessage::Text(t),
                            Err(_) => return Err(std::io::Error::other("not UTF-8")),
                        },
                        Err(_) => WsMessage::Binary(data),
                    };
                    s.send(m).await.map_err(std::io::Error::other)
                }
            }
        };
        match tokio::time::timeout(inner.config.write_timeout, fut).await {
            Ok(Ok(())) => {
                drop(guard);
                self.touch(inner);
                inner.counters.of(self.transport).sent(len, message);
                Ok(())
            }
            Ok(Err(_)) => {
                *guard = None;
                self.cancel.cancel();
                Err(SendError::ConnectionClosed { id })
            }
            Err(_) => {
                *guard = None;
                self.cancel.cancel();
                Err(SendError::WriteTimeout { id })
            }
        }
    }

    async fn shutdown_writer(&self) {
        let w = self.writer.lock().await.take();
        let fut = async {
            match w {
                Some(Writer::Stream(mut s)) => {
                    let _ = s.shutdown().await;
                }
                Some(Writer::Ws(mut s)) => {
                    let _ = s.close().await;
                }
                None => {}
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), fut).await;
    }

    /// When the idle timer fires next, and whether it has run out now.
    fn idle_left(&self, inner: &Inner) -> Option<Duration> {
        let idle = inner.config.idle_timeout;
        let since = inner
            .now_ms()
            .saturating_sub(self.last_activity.load(Ordering::Relaxed));
        let left = idle.saturating_sub(Duration::from_millis(since));
        (!left.is_zero()).then_some(left)
    }

    pub(crate) fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id,
            transport: self.transport,
            remote: self.remote,
            local: self.local,
            inbound: self.inbound,
        }
    }
}

/// Open connections, by id and by (transport, remote address).
#[derive(Default)]
pub(crate) struct Table {
    by_id: HashMap<ConnectionId, Arc<Conn>>,
    by_remote: HashMap<(Transport, SocketAddr), ConnectionId>,
}

pub(crate) struct Connections {
    table: Mutex<Table>,
    next_id: AtomicU64,
    /// Open (or handshaking) connections, against `max_connections`.
    pub(crate) slots: Arc<AtomicUsize>,
}

impl Connections {
    pub(crate) fn new() -> Self {
        Self {
            table: Mutex::new(Table::default()),
            next_id: AtomicU64::new(1),
            slots: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<Arc<Conn>> {
        self.lock().by_id.get(&id).cloned()
    }

    /// An open connection to `remote` over `t` (RFC 3261 §18.1.1: "it is
    /// RECOMMENDED that this connection be used to send the request").
    pub(crate) fn find(&self, t: Transport, remote: SocketAddr) -> Option<Arc<Conn>> {
        let table = self.lock();
        let id = table.by_remote.get(&(t, remote))?;
        table.by_id.get(id).cloned()
    }

    pub(crate) fn list(&self) -> Vec<ConnectionInfo> {
        let mut v: Vec<_> = self.lock().by_id.values().map(|c| c.info()).collect();
        v.sort_by_key(|c| c.id);
        v
    }

    fn remove(&self, c: &Conn) -> bool {
        let mut table = self.lock();
        if table.by_remote.get(&(c.transport, c.remote)) == Some(&c.id) {
            table.by_remote.remove(&(c.transport, c.remote));
        }
        table.by_id.remove(&c.id).is_some()
    }
}

/// Registers a new connection and starts its read loop.
pub(crate) fn register(
    inner: &Arc<Inner>,
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    io: ConnIo,
    slot: Slot,
    inbound: bool,
) -> Arc<Conn> {
    let id = ConnectionId(inner.conns.next_id.fetch_add(1, Ordering::Relaxed));
    let (writer, reader) = match io {
        ConnIo::Stream(s) => {
            let (r, w) = tokio::io::split(s);
            (Writer::Stream(w), Reader::Stream(r))
        }
        ConnIo::Ws(ws) => {
            let (w, r) = (*ws).split();
            (Writer::Ws(w), Reader::Ws(r))
        }
    };
    let conn = Arc::new(Conn {
        id,
        transport,
        remote,
        local,
        inbound,
        writer: tokio::sync::Mutex::new(Some(writer)),
        last_activity: AtomicU64::new(inner.now_ms()),
        cancel: inner.shutdown.child_token(),
        _slot: slot,
    });
    {
        let mut table = inner.conns.lock();
        table.by_id.insert(id, conn.clone());
        table.by_remote.insert((transport, remote), id);
    }
    Atomic::add(&inner.counters.of(transport).connections_open, 1);
    let _ = inner
        .events
        .send(TransportEvent::ConnectionOpened(conn.info()));
    let (inner2, conn2) = (inner.clone(), conn.clone());
    tokio::spawn(async move {
        let reason = match reader {
            Reader::Stream(r) => stream_loop(&inner2, &conn2, r).await,
            Reader::Ws(r) => ws_loop(&inner2, &conn2, r).await,
        };
        close(&inner2, &conn2, reason).await;
    });
    conn
}

enum Reader {
    Stream(ReadHalf<BoxIo>),
    Ws(SplitStream<WsStream>),
}

/// Takes a closed connection out of the table, shuts its writer down and
/// tells the event subscribers (RFC 3261 §17.1.4: the transaction layer
/// fails transactions that used it).
async fn close(inner: &Inner, conn: &Conn, reason: CloseReason) {
    conn.cancel.cancel();
    conn.shutdown_writer().await;
    if inner.conns.remove(conn) {
        inner
            .counters
            .of(conn.transport)
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
        let _ = inner.events.send(TransportEvent::ConnectionClosed {
            id: conn.id,
            transport: conn.transport,
            remote: conn.remote,
            reason,
        });
    }
}

/// What one wait on a connection gave.
enum Wake<T> {
    Read(T),
    /// The idle timer fired but there was activity meanwhile: wait again.
    Again,
    Idle,
    Cancelled,
}

/// Waits for `read` (cancel-safe), the idle timer, the keep-alive timer
/// (`Again` when it fires) or cancellation.
async fn wait<T>(
    inner: &Inner,
    conn: &Conn,
    pinger: Option<&Pinger>,
    read: impl std::future::Future<Output = T>,
) -> Wake<T> {
    let Some(left) = conn.idle_left(inner) else {
        return Wake::Idle;
    };
    let keepalive = async {
        match pinger {
            Some(p) => tokio::time::sleep_until(p.at).await,
            None => std::future::pending().await,
        }
    };
    // Biased: data already received is taken before a timer that fired
    // meanwhile, so a pong that came in time counts (RFC 5626 §4.4.1). The
    // timers are checked anyway before each wait (`Pinger::tick`, and the
    // idle time is reset by reading).
    tokio::select! {
        biased;
        () = conn.cancel.cancelled() => Wake::Cancelled,
        r = read => Wake::Read(r),
        () = tokio::time::sleep(left) => {
            if conn.idle_left(inner).is_none() { Wake::Idle } else { Wake::Again }
        }
        () = keepalive => Wake::Again,
    }
}

const PING: &[u8] = b"\r\n\r\n";
const PONG: &[u8] = b"\r\n";

/// The client side of the CRLF keep-alive (RFC 5626 §3.5.1, §4.4.1), run
/// by the read loop of a connection this layer opened: a ping every
/// 80–100% of `ping_interval`, then a pong is due within `pong_timeout`.
struct Pinger {
    interval: Duration,
    pong_timeout: Duration,
    /// When the next ping is due, or, while a pong is awaited, when it is late.
    at: tokio::time::Instant,
    awaiting_pong: bool,
}

impl Pinger {
    /// A pinger for `conn`, if it is outbound and pings are configured.
    fn new(inner: &Inner, conn: &Conn) -> Option<Pinger> {
        let ka = &inner.config.keepalive;
        let interval = ka.ping_interval.filter(|_| !conn.inbound)?;
        Some(Pinger {
            interval,
            pong_timeout: ka.pong_timeout,
            at: tokio::time::Instant::now() + jittered(interval),
            awaiting_pong: false,
        })
    }

    /// A pong came: schedule the next ping.
    fn pong(&mut self) {
        if self.awaiting_pong {
            self.awaiting_pong = false;
            self.at = tokio::time::Instant::now() + jittered(self.interval);
        }
    }

    /// Sends the ping if it is due, or fails the flow if the pong is late.
    /// Called after the received data has been processed, so a pong that
    /// came with it counts ("immediately after processing any incoming
    /// message being received when that 10 seconds expires", §4.4.1).
    async fn tick(&mut self, inner: &Inner, conn: &Conn) -> Result<(), CloseReason> {
        if tokio::time::Instant::now() < self.at {
            return Ok(());
        }
        if self.awaiting_pong {
            return Err(CloseReason::KeepaliveTimeout);
        }
        // `write` holds the writer for a whole message, so the ping goes
        // between messages (§4.4.1).
        if conn
            .write(inner, Bytes::from_static(PING), false)
            .await
            .is_err()
        {
            return Err(CloseReason::Error("writing ping failed".into()));
        }
        self.awaiting_pong = true;
        self.at = tokio::time::Instant::now() + self.pong_timeout;
        Ok(())
    }
}

/// `upper` times a random factor between 0.8 and 1 (RFC 5626 §4.4.1: a
/// random number between the upper bound and a lower bound 20% less, new for
/// each ping). Not cryptographic: `RandomState` is seeded anew on each call.
fn jittered(upper: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map_or(0, |d| d.as_nanos()),
    );
    let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64; // in [0, 1)
    upper.mul_f64(0.8 + 0.2 * unit)
}

/// Reads a TCP or TLS connection: frames messages by Content-Length (RFC
/// 3261 §18.3) with [`frame`], answers CRLFCRLF pings (RFC 5626 §3.5.1),
/// skips lone CRLFs (RFC 3261 §7.5), and never holds more than
/// `max_message_size` bytes. On an outbound connection with pings on, it
/// also sends the pings and takes a lone CRLF while one is awaited as the
/// pong.
async fn stream_loop(inner: &Inner, conn: &Conn, mut rd: ReadHalf<BoxIo>) -> CloseReason {
    let opts = inner.parse_options(Transport::Tcp);
    let max = inner.config.max_message_size;
    let counters = inner.counters.of(conn.transport);
    let mut pinger = Pinger::new(inner, conn);
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Take every whole message (and keep-alive) out of the buffer.
        loop {
            match frame(&buf, &opts) {
                Ok(Frame::Incomplete) => {
                    if buf.len() >= max {
                        let e = ParseError {
                            kind: sipline_message::ErrorKind::MessageTooLarge,
                            offset: max,
                        };
                        return framing_failed(inner, conn, &buf, e).await;
                    }
                    break;
                }
                Ok(Frame::Keepalive(n)) => {
                    let mut at = 0;
                    let mut pings = 0;
                    while buf[at..n].starts_with(PING) {
                        at += 4;
                        pings += 1;
                    }
                    match pinger.as_mut() {
                        // The CRLF left after whole pings is our pong.
                        Some(p) if p.awaiting_pong && buf[at..n].starts_with(PONG) => {
                            p.pong();
                            at = n;
                        }
                        // Keep a tail that may be the start of a ping (or
                        // pong) split across reads; drop lone CRLFs before a
                        // message.
                        _ if at < n && !(n == buf.len() && PING.starts_with(&buf[at..n])) => {
                            at = n;
                        }
                        _ => {}
                    }
                    let _ = buf.split_to(at);
                    if inner.config.keepalive.answer_crlf_ping {
                        for _ in 0..pings {
                            if conn
                                .write(inner, Bytes::from_static(PONG), false)
                                .await
                                .is_err()
                            {
                                return CloseReason::Error("writing pong failed".into());
                            }
                        }
                    }
                    if at < n {
                        break; // a partial ping: read more
                    }
                }
                Ok(Frame::Message(len)) => {
                    let raw = buf.split_to(len).freeze();
                    let reply = inner
                        .receive(raw, conn.transport, conn.remote, conn.local, Some(conn.id))
                        .await;
                    if let Some(reply) = reply {
                        let _ = conn.write(inner, reply, true).await;
                    }
                }
                Err(e) => return framing_failed(inner, conn, &buf, e).await,
            }
        }
        if let Some(p) = pinger.as_mut() {
            if let Err(reason) = p.tick(inner, conn).await {
                return reason;
            }
        }
        let room = (max - buf.len()).min(chunk.len());
        let n = match wait(inner, conn, pinger.as_ref(), rd.read(&mut chunk[..room])).await {
            Wake::Read(Ok(0)) => return CloseReason::PeerClosed,
            Wake::Read(Ok(n)) => n,
            Wake::Read(Err(e)) => return CloseReason::Error(e.to_string()),
            Wake::Again => continue,
            Wake::Idle => return CloseReason::Idle,
            Wake::Cancelled => return CloseReason::Local,
        };
        Atomic::add(&counters.bytes_in, n as u64);
        conn.touch(inner);
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A stream that cannot be framed: count it, answer 400 when the request
/// can be read (RFC 3261 §18.3 and §21.4.1), then close.
async fn framing_failed(inner: &Inner, conn: &Conn, buf: &[u8], e: ParseError) -> CloseReason {
    Atomic::add(&inner.counters.of(conn.transport).parse_errors, 1);
    if let Some(reply) = crate::inbound::error_reply_from_raw(inner, buf, &e) {
        let _ = conn.write(inner, reply, true).await;
    }
    CloseReason::Framing(e.to_string())
}

/// Reads a WS or WSS connection: one SIP message per WebSocket message
/// (RFC 7118 §5), text or binary (§4.2). CRLF keep-alives as [`stream_loop`]
/// does, a ping or pong being a whole WebSocket message.
async fn ws_loop(inner: &Inner, conn: &Conn, mut rd: SplitStream<WsStream>) -> CloseReason {
    let counters = inner.counters.of(conn.transport);
    let mut pinger = Pinger::new(inner, conn);
    loop {
        if let Some(p) = pinger.as_mut() {
            if let Err(reason) = p.tick(inner, conn).await {
                return reason;
            }
        }
        let msg = match wait(inner, conn, pinger.as_ref(), rd.next()).await {
            Wake::Read(None) => return CloseReason::PeerClosed,
            Wake::Read(Some(Err(e))) => {
                return match e {
                    tokio_tungstenite::tungstenite::Error::Capacity(_) => {
                        Atomic::add(&counters.parse_errors, 1);
                        CloseReason::Framing(e.to_string())
                    }
                    _ => CloseReason::Error(e.to_string()),
                };
            }
            Wake::Read(Some(Ok(m))) => m,
            Wake::Again => continue,
            Wake::Idle => return CloseReason::Idle,
            Wake::Cancelled => return CloseReason::Local,
        };
        conn.touch(inner);
        let raw: Bytes = match msg {
            WsMessage::Text(t) => Bytes::from(t),
            WsMessage::Binary(b) => b,
            WsMessage::Close(_) => return CloseReason::PeerClosed,
            _ => continue, // ping/pong: answered by tungstenite
        };
        Atomic::add(&counters.bytes_in, raw.len() as u64);
        // RFC 7118 §6: the CRLF keep-alive of RFC 5626 §3.5.1 is usable too.
        if raw.iter().all(|b| *b == b'\r' || *b == b'\n') {
            let ping = raw.windows(4).any(|w| w == PING);
            if ping && inner.config.keepalive.answer_crlf_ping {
                let _ = conn.write(inner, Bytes::from_static(PONG), false).await;
            }
            if let Some(p) = pinger.as_mut().filter(|_| !ping && raw.starts_with(PONG)) {
                p.pong();
            }
            continue;
        }
        let reply = inner
            .receive(raw, conn.transport, conn.remote, conn.local, Some(conn.id))
            .await;
        if let Some(reply) = reply {
            let _ = conn.write(inner, reply, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_intervals_are_80_to_100_percent_and_vary() {
        let upper = Duration::from_secs(120);
        let draws: Vec<_> = (0..200).map(|_| jittered(upper)).collect();
        for d in &draws {
            assert!(*d >= Duration::from_secs(96) && *d <= upper, "{d:?}");
        }
        let (lo, hi) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(*hi - *lo > Duration::from_secs(10), "{lo:?}..{hi:?}");
    }
}
