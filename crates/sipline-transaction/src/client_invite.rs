//! The INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026's Accepted state).
//!
//! ```text
//!                                |INVITE from TU
//!              Timer A fires     |INVITE sent
//!              Reset A,          V                      Timer B fires
//!              INVITE sent +-----------+                or Transport Err.
//!                +---------|           |---------------+inform TU
//!                |         |  Calling  |               |
//!                +-------->|           |-------------->|
//!                          +-----------+ 2xx           |
//!                             |  |       2xx to TU     |
//!                             |  |1xx                  |
//!     300-699 +---------------+  |1xx to TU            |
//!    ACK sent |                  |                     |
//! resp. to TU |  1xx             V                     |
//!             |  1xx to TU  -----------+               |
//!             |  +---------|           |               |
//!             |  |         |Proceeding |-------------->|
//!             |  +-------->|           | 2xx           |
//!             |            +-----------+ 2xx to TU     |
//!             |       300-699    |                     |
//!             |       ACK sent,  |                     |
//!             |       resp. to TU|                     |
//!             |                  |                     |
//!             |                  V                     |
//!             |            +-----------+               |
//!             |            |           |               |
//!             +----------->| Completed |               |
//!                          |           |               |
//!                          +-----------+               |
//!                            ^   |    |                |
//!                            |   |    | Timer D fires  |
//!                            +---+    | -              |
//!                          300-699    V                |
//!                          ACK sent +-----------+      |
//!                                   | Accepted  |<-----+ (2xx: Timer M)
//!                                   +-----------+   2xx to TU
//!                                         | Timer M fires
//!                                         V
//!                                    Terminated
//! ```

use crate::config::Config;
use crate::timer::Timer;
use crate::tx::{Out, State, Tx};
use crate::Event;
use sipline_message::Message;
use std::time::Instant;

/// §17.1.1.2: send the request; on unreliable transports start Timer A
/// at T1; always start Timer B at 64·T1.
pub(crate) fn start<A: Clone>(tx: &mut Tx<A>, now: Instant, cfg: &Config, out: &mut Out<A>) {
    tx.state = State::Calling;
    tx.send(out, tx.request_bytes.clone(), false);
    if !tx.reliable {
        tx.interval = cfg.t1;
        tx.start_timer(Timer::A, now, cfg.t1);
    }
    tx.start_timer(Timer::B, now, cfg.t1x64());
    tx.start_timer(Timer::C, now, cfg.timer_c);
}

pub(crate) fn on_response<A: Clone>(
    tx: &mut Tx<A>,
    now: Instant,
    cfg: &Config,
    response: Message,
    out: &mut Out<A>,
) {
    let Some(status) = response.as_response().map(|r| r.status) else {
        return;
    };
    match (tx.state, status.class()) {
        // §17.1.1.2: a provisional response moves Calling to Proceeding and
        // stops the retransmissions; each is passed to the TU.
        (State::Calling | State::Proceeding, 1) => {
            tx.state = State::Proceeding;
            tx.timers.stop(Timer::A);
            tx.timers.stop(Timer::B);
            // §16.7 step 2 (proxies) and the same safety for UAs: each
            // provisional response restarts Timer C.
            if !tx.timer_c_fired {
                tx.start_timer(Timer::C, now, cfg.timer_c);
            }
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        // RFC 6026 §7.2: a 2xx moves to Accepted with Timer M; no ACK here,
        // the TU sends it. Further 2xx (retransmissions, other forks) go up too.
        (State::Calling | State::Proceeding, 2) => {
            tx.state = State::Accepted;
            tx.timers.stop_all();
            tx.start_timer(Timer::M, now, cfg.t1x64());
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        (State::Accepted, 2) => {
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        // §17.1.1.2: 300-699 -> send ACK, pass up, Completed with Timer D.
        (State::Calling | State::Proceeding, 3..=6) => {
            let invite = tx
                .request
                .as_deref()
                .and_then(Message::as_request)
                .expect("client INVITE holds its request");
            let ack = Message::from(crate::build::ack_for_non_2xx(invite, &response)).to_bytes();
            tx.send(out, ack.clone(), false);
            tx.ack = Some(ack);
            tx.state = State::Completed;
            tx.timers.stop_all();
            tx.start_timer(Timer::D, now, cfg.timer_d(tx.reliable));
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        // Retransmitted final response: resend the ACK, do not pass it up.
        (State::Completed, 3..=6) => {
            if let Some(ack) = tx.ack.clone() {
                tx.send(out, ack, true);
            }
        }
        // Anything else (1xx after a final, 2xx in Completed ...) is dropped.
        _ => {}
    }
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
        // §17.1.1.2: Timer A fires -> retransmit, double A (no upper bound).
        (State::Calling, Timer::A) => {
            tx.send(out, tx.request_bytes.clone(), true);
            tx.interval *= 2;
            tx.start_timer(Timer::A, due, tx.interval);
        }
        (State::Calling, Timer::B) => {
            tx.event(out, Event::Timeout { transaction: tx.id });
            tx.terminate();
        }
        // Timer C: the TU is told (a proxy or UA cancels the request,
        // §16.8, §9.1); if no final response comes within 64*T1 after
        // that, the transaction is destroyed (§9.1) and the TU told.
        (State::Calling | State::Proceeding, Timer::C) if !tx.timer_c_fired => {
            tx.timer_c_fired = true;
            tx.event(out, Event::TimerC { transaction: tx.id });
            tx.start_timer(Timer::C, due, cfg.t1x64());
        }
        (State::Calling | State::Proceeding, Timer::C) => {
            tx.event(out, Event::Timeout { transaction: tx.id });
            tx.terminate();
        }
        (State::Completed, Timer::D) | (State::Accepted, Timer::M) => tx.terminate(),
        _ => {}
    }
}
