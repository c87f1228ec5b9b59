//! The non-INVITE server transaction (RFC 3261 §17.2.2, RFC 4320).
//!
//! ```text
//!                                   |Request received
//!                                   |pass to TU
//!                                   V
//!                             +-----------+
//!                             |           |
//!                             | Trying    |-------------+
//!                             |           |             |
//!                             +-----------+             |200-699 from TU
//!                                   |                   |send response
//!                                   |1xx from TU        |
//!                                   |send response      |
//!                                   |                   |
//!                Request            V      1xx from TU  |
//!                send response+-----------+send response|
//!                    +--------|           |--------+    |
//!                    |        | Proceeding|        |    |
//!                    +------->|           |<-------+    |
//!             +<--------------|           |             |
//!             |Trnsprt Err    +-----------+             |
//!             |Inform TU            |                   |
//!             |                     |                   |
//!             |                     |200-699 from TU    |
//!             |                     |send response      |
//!             |  Request            V                   |
//!             |  send response+-----------+             |
//!             |      +--------|           |             |
//!             |      |        | Completed |<------------+
//!             |      +------->|           |
//!             +<--------------|           |
//!             |Trnsprt Err    +-----------+
//!             |Inform TU            |
//!             |                     |Timer J fires
//!             |                     |-
//!             |                     |
//!             |                     V
//!             |               +-----------+
//!             |               |           |
//!             +-------------->| Terminated|
//!                             |           |
//!                             +-----------+
//! ```

use crate::config::Config;
use crate::timer::Timer;
use crate::tx::{Out, State, Tx};
use crate::ApiError;
use sipline_message::{Bytes, Message, StatusCode};
use std::time::Instant;

/// The request was passed to the TU. RFC 4320 §4.1: 100 Trying goes out if
/// the TU has not answered by the time a client's Timer E reaches T2.
pub(crate) fn start<A: Clone>(tx: &mut Tx<A>, now: Instant, cfg: &Config) {
    tx.state = State::Trying;
    tx.start_timer(Timer::Trying, now, cfg.non_invite_trying_delay());
}

/// A retransmission of the request: Trying absorbs it; Proceeding and
/// Completed resend the last response (§17.2.2).
pub(crate) fn on_retransmission<A: Clone>(tx: &mut Tx<A>, out: &mut Out<A>) {
    if matches!(tx.state, State::Proceeding | State::Completed) {
        if let Some(r) = tx.last_response.clone() {
            tx.send(out, r, true);
        }
    }
}

pub(crate) fn respond<A: Clone>(
    tx: &mut Tx<A>,
    now: Instant,
    cfg: &Config,
    status: StatusCode,
    bytes: Bytes,
    out: &mut Out<A>,
) -> Result<(), ApiError> {
    // RFC 4320 §4.1 and §4.2: no provisional but 100, and never 408.
    if status.is_provisional() && status != StatusCode::TRYING {
        return Err(ApiError::ProvisionalToNonInvite);
    }
    if status == StatusCode::REQUEST_TIMEOUT {
        return Err(ApiError::Timeout408ToNonInvite);
    }
    match tx.state {
        State::Trying | State::Proceeding if status.is_provisional() => {
            tx.timers.stop(Timer::Trying);
            tx.state = State::Proceeding;
            tx.send(out, bytes.clone(), false);
            tx.last_response = Some(bytes);
        }
        State::Trying | State::Proceeding => {
            tx.timers.stop_all();
            tx.send(out, bytes.clone(), false);
            tx.last_response = Some(bytes);
            tx.state = State::Completed;
            let j = if tx.reliable {
                std::time::Duration::ZERO
            } else {
                cfg.t1x64()
            };
            tx.start_timer(Timer::J, now, j);
        }
        _ => return Err(ApiError::InvalidState),
    }
    Ok(())
}

/// `due` is when the timer was due (the base for the timers it sets).
pub(crate) fn on_timer<A: Clone>(
    tx: &mut Tx<A>,
    timer: Timer,
    _due: Instant,
    _cfg: &Config,
    out: &mut Out<A>,
) {
    match (tx.state, timer) {
        (State::Trying, Timer::Trying) => {
            if let Some(req) = tx.request.as_deref().and_then(Message::as_request) {
                let trying = sipline_message::builder::response_to(req, StatusCode::TRYING, None);
                let bytes = Message::from(trying).to_bytes();
                tx.send(out, bytes.clone(), false);
                tx.last_response = Some(bytes);
                tx.state = State::Proceeding;
            }
        }
        (State::Completed, Timer::J) => tx.terminate(),
        _ => {}
    }
}
