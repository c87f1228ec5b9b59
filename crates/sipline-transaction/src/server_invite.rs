//! The INVITE server transaction (RFC 3261 §17.2.1, with RFC 6026's Accepted state).
//!
//! ```text
//!                                     |INVITE
//!                                     |pass INV to TU
//!                  INVITE             V send 100 if TU won't in 200 ms
//!                  send response+------------+
//!                      +--------|            |--------+ 101-199 from TU
//!                      |        |            |        | send response
//!                      +------->|            |<-------+
//!                               | Proceeding |
//!                               |            |--------+ Transport Err.
//!                               |            |        | Inform TU
//!                               |            |<-------+
//!                               +------------+
//!                  300-699 from TU |    |2xx from TU
//!                  send response   |    |send response
//!                   +--------------+    +------------+
//!                   |                                |
//!  INVITE           V          Timer G fires         |
//!  send response +-----------+ send response         |
//!       +--------|           |--------+              |
//!       |        |           |        |              |
//!       +------->| Completed |<-------+      INVITE  |  Transport Err.
//!                |           |               -       |  Inform TU
//!       +--------|           |----+          +-----+ |  +---+
//!       |        +-----------+    | ACK      |     v v  |   v
//!       |          ^   |          | -        |  +------------+
//!       |          |   |          |          |  |            |---+ ACK
//!       +----------+   |          |          +--|  Accepted  |   | to TU
//!       Transport Err. |          |             |            |<--+
//!       Inform TU      |          V             +------------+
//!                      |      +-----------+        |  ^     |
//!                      |      |           |        |  |     |
//!                      |      | Confirmed |        |  +-----+
//!                      |      |           |        |  2xx from TU
//!        Timer H fires |      +-----------+        |  send response
//!        -             |          |                |
//!                      |          | Timer I fires  |
//!                      |          | -              | Timer L fires
//!                      |          V                | -
//!                      |        +------------+     |
//!                      |        |            |<----+
//!                      +------->| Terminated |
//!                               |            |
//!                               +------------+
//! ```

use crate::config::Config;
use crate::timer::Timer;
use crate::tx::{timer_duration_t2_capped, Out, State, Tx};
use crate::{ApiError, Event};
use sipline_message::{Bytes, Message, StatusCode};
use std::time::Instant;

/// The request was passed to the TU; 100 Trying goes out if the TU has not
/// answered within 200 ms (§17.2.1).
pub(crate) fn start<A: Clone>(tx: &mut Tx<A>, now: Instant, cfg: &Config) {
    tx.state = State::Proceeding;
    tx.start_timer(Timer::Trying, now, cfg.trying_delay);
}

/// A retransmission of the INVITE (§17.2.1): resend the last response in
/// Proceeding and Completed; Accepted and Confirmed absorb it.
pub(crate) fn on_retransmission<A: Clone>(tx: &mut Tx<A>, out: &mut Out<A>) {
    if matches!(tx.state, State::Proceeding | State::Completed) {
        if let Some(r) = tx.last_response.clone() {
            tx.send(out, r, true);
        }
    }
}

/// What became of an ACK that matched this transaction.
pub(crate) enum AckOutcome {
    /// Absorbed (Completed -> Confirmed, or a retransmission).
    Absorbed,
    /// In Accepted: the TU gets it (RFC 6026 §7.1).
    ToTu,
}

pub(crate) fn on_ack<A: Clone>(tx: &mut Tx<A>, now: Instant, cfg: &Config) -> AckOutcome {
    match tx.state {
        State::Completed => {
            tx.state = State::Confirmed;
            tx.timers.stop(Timer::G);
            tx.timers.stop(Timer::H);
            let i = if tx.reliable {
                std::time::Duration::ZERO
            } else {
                cfg.t4
            };
            tx.start_timer(Timer::I, now, i);
            AckOutcome::Absorbed
        }
        State::Accepted => AckOutcome::ToTu,
        _ => AckOutcome::Absorbed,
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
    match (tx.state, status.class()) {
        (State::Proceeding, 1) => {
            tx.timers.stop(Timer::Trying);
            tx.send(out, bytes.clone(), false);
            tx.last_response = Some(bytes);
        }
        // RFC 6026 §7.1: 2xx -> Accepted with Timer L; the TU retransmits the 2xx.
        (State::Proceeding, 2) => {
            tx.timers.stop_all();
            tx.send(out, bytes, false);
            tx.last_response = None;
            tx.state = State::Accepted;
            tx.start_timer(Timer::L, now, cfg.t1x64());
        }
        (State::Accepted, 2) => tx.send(out, bytes, true),
        // §17.2.1: 300-699 -> Completed; Timer G on unreliable transports, Timer H.
        (State::Proceeding, 3..=6) => {
            tx.timers.stop_all();
            tx.send(out, bytes.clone(), false);
            tx.last_response = Some(bytes);
            tx.state = State::Completed;
            if !tx.reliable {
                tx.interval = cfg.t1;
                tx.start_timer(Timer::G, now, cfg.t1);
            }
            tx.start_timer(Timer::H, now, cfg.t1x64());
        }
        _ => return Err(ApiError::InvalidState),
    }
    Ok(())
}

/// `due` is when the timer was due (the base for the timers it sets).
pub(crate) fn on_timer<A: Clone>(
    tx: &mut Tx<A>,
    timer: Timer,
    due: Instant,
    cfg: &Config,
    out: &mut Out<A>,
) {
    match (tx.state, timer) {
        (State::Proceeding, Timer::Trying) if tx.last_response.is_none() => {
            if let Some(req) = tx.request.as_deref().and_then(Message::as_request) {
                let trying = sipline_message::builder::response_to(req, StatusCode::TRYING, None);
                let bytes = Message::from(trying).to_bytes();
                tx.send(out, bytes.clone(), false);
                tx.last_response = Some(bytes);
            }
        }
        // §17.2.1: Timer G -> resend, interval doubles up to T2.
        (State::Completed, Timer::G) => {
            if let Some(r) = tx.last_response.clone() {
                tx.send(out, r, true);
            }
            tx.interval = timer_duration_t2_capped(tx.interval, cfg);
            tx.start_timer(Timer::G, due, tx.interval);
        }
        // Timer H: the ACK never came; the TU is told.
        (State::Completed, Timer::H) => {
            tx.event(out, Event::Timeout { transaction: tx.id });
            tx.terminate();
        }
        (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => tx.terminate(),
        _ => {}
    }
}
