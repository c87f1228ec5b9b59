//! The non-INVITE client transaction (RFC 3261 §17.1.2, RFC 4320).
//!
//! ```text
//!                                    |Request from TU
//!                                    |send request
//!                Timer E             V
//!                send request  +-----------+
//!                    +---------|           |-------------------+
//!                    |         |  Trying   |  Timer F          |
//!                    +-------->|           |  or Transport Err.|
//!                              +-----------+  inform TU        |
//!                 200-699         |  |                         |
//!                 resp. to TU     |  |1xx                      |
//!                 +---------------+  |resp. to TU              |
//!                 |                  |                         |
//!                 |   Timer E        V       Timer F           |
//!                 |   send req +-----------+ or Transport Err. |
//!                 |  +---------|           | inform TU         |
//!                 |  |         |Proceeding |------------------>|
//!                 |  +-------->|           |-----+             |
//!                 |            +-----------+     |1xx          |
//!                 |              |      ^        |resp to TU   |
//!                 | 200-699      |      +--------+             |
//!                 | resp. to TU  |                             |
//!                 |              |                             |
//!                 |              V                             |
//!                 |            +-----------+                   |
//!                 |            |           |                   |
//!                 |            | Completed |                   |
//!                 |            |           |                   |
//!                 |            +-----------+                   |
//!                 |              ^   |                         |
//!                 |              |   | Timer K                 |
//!                 +--------------+   | -                       |
//!                                    |                         |
//!                                    V                         |
//!              NOTE:           +-----------+                   |
//!                              |           |                   |
//!          transitions         | Terminated|<------------------+
//!          labeled with        |           |
//!          the event           +-----------+
//!          over the action
//!          to take
//! ```

use crate::config::Config;
use crate::timer::Timer;
use crate::tx::{timer_duration_t2_capped, Out, State, Tx};
use crate::Event;
use sipline_message::Message;
use std::time::Instant;

/// §17.1.2.2: send; Timer E at T1 on unreliable transports; Timer F at 64·T1.
pub(crate) fn start<A: Clone>(tx: &mut Tx<A>, now: Instant, cfg: &Config, out: &mut Out<A>) {
    tx.state = State::Trying;
    tx.send(out, tx.request_bytes.clone(), false);
    if !tx.reliable {
        tx.interval = cfg.t1;
        tx.start_timer(Timer::E, now, cfg.t1);
    }
    tx.start_timer(Timer::F, now, cfg.t1x64());
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
    match tx.state {
        State::Trying | State::Proceeding if status.is_provisional() => {
            tx.state = State::Proceeding;
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        // §17.1.2.2: a final response -> Completed, Timer K (T4 unreliable, 0 reliable).
        State::Trying | State::Proceeding => {
            tx.state = State::Completed;
            tx.timers.stop_all();
            let k = if tx.reliable {
                std::time::Duration::ZERO
            } else {
                cfg.t4
            };
            tx.start_timer(Timer::K, now, k);
            tx.event(
                out,
                Event::Response {
                    transaction: tx.id,
                    response,
                },
            );
        }
        // Completed absorbs retransmissions of the final response.
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
        // Trying: E doubles up to T2. Proceeding: retransmit every T2.
        (State::Trying, Timer::E) => {
            tx.send(out, tx.request_bytes.clone(), true);
            tx.interval = timer_duration_t2_capped(tx.interval, cfg);
            tx.start_timer(Timer::E, due, tx.interval);
        }
        (State::Proceeding, Timer::E) => {
            tx.send(out, tx.request_bytes.clone(), true);
            tx.interval = cfg.t2;
            tx.start_timer(Timer::E, due, cfg.t2);
        }
        (State::Trying | State::Proceeding, Timer::F) => {
            tx.event(out, Event::Timeout { transaction: tx.id });
            tx.terminate();
        }
        (State::Completed, Timer::K) => tx.terminate(),
        _ => {}
    }
}
