//! Errors of the send path.

use crate::ConnectionId;
use sipline_message::Transport;
use std::net::SocketAddr;

/// Why a message could not be sent. For a request, the transaction layer
/// treats any of these as a transport error (RFC 3261 §17.1.4, §8.1.3.1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The peer refused the connection (TCP reset).
    #[error("connection to {addr} refused")]
    ConnectRefused {
        /// Where we tried to connect.
        addr: SocketAddr,
    },
    /// Opening the connection (handshakes included) took longer than the
    /// configured connect timeout.
    #[error("connecting to {addr} timed out")]
    ConnectTimeout {
        /// Where we tried to connect.
        addr: SocketAddr,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, ...).
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// The peer.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The WebSocket handshake failed, or the server did not accept the
    /// `sip` subprotocol (RFC 7118 §4.1).
    #[error("WebSocket handshake with {addr} failed: {reason}")]
    WebSocket {
        /// The peer.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The connection closed, or failed while writing.
    #[error("connection {id} closed")]
    ConnectionClosed {
        /// The connection.
        id: ConnectionId,
    },
    /// Writing took longer than the configured write timeout.
    #[error("write on connection {id} timed out")]
    WriteTimeout {
        /// The connection.
        id: ConnectionId,
    },
    /// The message does not fit the transport (a UDP datagram over 65 507 bytes).
    #[error("message of {size} bytes over the {limit}-byte limit")]
    MessageTooLarge {
        /// Encoded size of the message.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No listener of this transport (and address family) to send from.
    #[error("no {0} listener to send from")]
    NoListener(Transport),
    /// The transport is not implemented here (SCTP), or cannot carry what
    /// was asked (a STUN keep-alive over a connection, RFC 5626 §4.4.2).
    #[error("{0} transport not supported")]
    Unsupported(Transport),
    /// Another I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
