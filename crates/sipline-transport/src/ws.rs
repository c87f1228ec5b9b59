//! SIP over WebSocket (RFC 7118): the handshake with the `sip` subprotocol
//! (§4.1), for WS and WSS.

use crate::connection::{BoxIo, WsStream};
use crate::SendError;
use std::net::SocketAddr;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const PROTOCOL: &str = "Sec-WebSocket-Protocol";

fn ws_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// True if a `Sec-WebSocket-Protocol` value lists `sip`.
fn offers_sip(v: &HeaderValue) -> bool {
    v.to_str()
        .map(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case("sip")))
        .unwrap_or(false)
}

/// Server handshake: RFC 7118 §4.1, "The client MUST include the value
/// "sip" in the Sec-WebSocket-Protocol header in its handshake request. The
/// 101 reply from the server MUST contain "sip"". A request without it is
/// refused with HTTP 400.
pub(crate) async fn accept(io: BoxIo, max_message_size: usize) -> Result<WsStream, String> {
    let callback = check_subprotocol;
    tokio_tungstenite::accept_hdr_async_with_config(io, callback, Some(ws_config(max_message_size)))
        .await
        .map_err(|e| e.to_string())
}

/// The handshake callback: the 101 carries `sip`, or the request is refused.
// The Result type is tungstenite's callback signature.
#[allow(clippy::result_large_err)]
fn check_subprotocol(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    if req.headers().get_all(PROTOCOL).iter().any(offers_sip) {
        resp.headers_mut()
            .insert(PROTOCOL, HeaderValue::from_static("sip"));
        Ok(resp)
    } else {
        let mut e = ErrorResponse::new(Some(
            "WebSocket subprotocol \"sip\" required (RFC 7118)".into(),
        ));
        *e.status_mut() = StatusCode::BAD_REQUEST;
        Err(e)
    }
}

/// Client handshake to `ws[s]://host:port/` offering `sip`; the server must
/// accept it.
pub(crate) async fn connect(
    io: BoxIo,
    secure: bool,
    addr: SocketAddr,
    server_name: Option<&str>,
    max_message_size: usize,
) -> Result<WsStream, SendError> {
    let fail = |reason: String| SendError::WebSocket { addr, reason };
    let scheme = if secure { "wss" } else { "ws" };
    let url = match server_name {
        Some(h) => format!("{scheme}://{h}:{}/", addr.port()),
        None => format!("{scheme}://{addr}/"),
    };
    let mut req = url.into_client_request().map_err(|e| fail(e.to_string()))?;
    req.headers_mut()
        .insert(PROTOCOL, HeaderValue::from_static("sip"));
    let (ws, resp) =
        tokio_tungstenite::client_async_with_config(req, io, Some(ws_config(max_message_size)))
            .await
            .map_err(|e| fail(e.to_string()))?;
    if !resp.headers().get_all(PROTOCOL).iter().any(offers_sip) {
        return Err(fail("server did not accept the sip subprotocol".into()));
    }
    Ok(ws)
}
