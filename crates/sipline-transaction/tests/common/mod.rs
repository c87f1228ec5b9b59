//! A virtual-time harness for one transaction table: jump to each timer,
//! record what is sent and when.
#![allow(dead_code, unreachable_pub)]

use sipline_message::{Bytes, Message, StatusCode};
use sipline_transaction::{Config, Event, Transactions};
use std::time::{Duration, Instant};

pub struct Harness {
    pub table: Transactions<&'static str>,
    pub t0: Instant,
    pub now: Instant,
    /// (time since t0, message, retransmission)
    pub sent: Vec<(Duration, Bytes, bool)>,
    pub events: Vec<(Duration, Event)>,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        let t0 = Instant::now();
        Self {
            table: Transactions::new(config),
            t0,
            now: t0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Collects what the table has to send and tell.
    pub fn drain(&mut self) {
        while let Some(t) = self.table.poll_transmit() {
            self.sent
                .push((self.elapsed(), t.message, t.retransmission));
        }
        while let Some(e) = self.table.poll_event() {
            self.events.push((self.elapsed(), e));
        }
    }

    /// Runs timers until `until` (from t0), or until nothing is scheduled.
    pub fn run_until(&mut self, until: Duration) {
        self.drain();
        while let Some(at) = self.table.poll_timeout() {
            if at - self.t0 > until {
                break;
            }
            assert!(at >= self.now, "timers never go back in time");
            self.now = at;
            self.table.handle_timeout(at);
            self.drain();
        }
        if self.t0 + until > self.now {
            self.now = self.t0 + until;
        }
    }

    /// Runs every timer until the table has none left.
    pub fn run_to_end(&mut self) {
        self.run_until(Duration::from_secs(3600));
    }

    pub fn advance(&mut self, d: Duration) {
        let until = self.elapsed() + d;
        self.run_until(until);
    }

    pub fn send_times(&self) -> Vec<Duration> {
        self.sent.iter().map(|(t, _, _)| *t).collect()
    }

    pub fn timeouts(&self) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Timeout { .. }))
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn responses(&self) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Response { response, .. } => {
                    Some(response.as_response().unwrap().status.as_u16())
                }
                _ => None,
            })
            .collect()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// RFC defaults scaled by `num/den` (T1, T2, T4 and the 100 Trying delay).
pub fn scaled(num: u32, den: u32) -> Config {
    let c = Config::default();
    Config {
        t1: c.t1 * num / den,
        t2: c.t2 * num / den,
        t4: c.t4 * num / den,
        trying_delay: c.trying_delay * num / den,
        timer_c: c.timer_c * num / den,
    }
}

pub fn request(method: &str, branch: &str) -> Message {
    let text = format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch={branch}\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 {method}\r\n\
Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).unwrap()
}

pub fn response_to(req: &Message, code: u16) -> Message {
    let tag = if code > 100 { Some("a6c85cf") } else { None };
    Message::from(sipline_message::builder::response_to(
        req.as_request().unwrap(),
        StatusCode::new(code).unwrap(),
        tag,
    ))
}

pub fn status_of(bytes: &Bytes) -> Option<u16> {
    Message::parse(bytes.clone())
        .ok()?
        .as_response()
        .map(|r| r.status.as_u16())
}

pub fn method_of(bytes: &Bytes) -> Option<String> {
    Message::parse(bytes.clone())
        .ok()?
        .as_request()
        .map(|r| r.method.to_string())
}
