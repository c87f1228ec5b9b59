//! A world of user agents on the simulated network, in virtual time.
#![allow(dead_code, unreachable_pub)]

use sipline_dialog::{Body, CallEvent, Config, Endpoint, Event, Handle, Hop};
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::{Bytes, Message, Response, Transport, Uri};
use sipline_sim::{Conditions, Datagram, Network};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Host `n` lives at 10.0.0.n:5060.
pub fn addr(n: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n as u8)), 5060)
}

pub fn uri(user: &str, n: u16) -> Uri {
    Uri::parse(&format!("sip:{user}@10.0.0.{n}:5060")).unwrap()
}

/// The host a URI names (10.0.0.n).
pub fn host_of(u: &Uri) -> Option<u16> {
    match u {
        Uri::Sip(s) => match &s.host {
            sipline_message::uri::Host::Ipv4(a) => Some(a.octets()[3] as u16),
            _ => None,
        },
        _ => None,
    }
}

pub fn config(user: &str, n: u16, seed: u64) -> Config {
    let mut c = Config::new(NameAddr::new(uri(user, n)));
    c.seed = Some(seed);
    c
}

pub fn endpoint(config: Config, n: u16) -> Endpoint<u16> {
    endpoint_over(config, n, Transport::Udp)
}

/// An endpoint at host `n` whose every hop is over `transport` (the
/// simulated network carries it all the same).
pub fn endpoint_over(config: Config, n: u16, transport: Transport) -> Endpoint<u16> {
    Endpoint::new(
        config,
        Box::new(move |u: &Uri| {
            host_of(u).map(|h| Hop {
                destination: h,
                transport,
                local: addr(n),
            })
        }),
    )
}

/// A scripted peer: the test reads what reaches it and writes replies.
pub struct Script {
    pub inbox: Vec<Message>,
}

pub enum Party {
    Ua(Box<Endpoint<u16>>),
    Script(Script),
}

/// Decides whether a datagram (from, to, bytes) is lost.
pub type DropFilter = Box<dyn FnMut(u16, u16, &[u8]) -> bool>;

pub struct World {
    pub now: Instant,
    pub start: Instant,
    pub net: Network,
    pub parties: Vec<(u16, Party)>,
    /// Events per party index, in order.
    pub events: Vec<Vec<(Duration, Event)>>,
    /// Every datagram sent (time, from, to, message), for assertions.
    pub log: Vec<(Duration, u16, u16, Bytes)>,
    /// Drop datagrams matching this filter (from, to, bytes) -> drop.
    pub drop: Option<DropFilter>,
}

impl World {
    pub fn new(conditions: Conditions, seed: u64) -> World {
        let now = Instant::now();
        World {
            now,
            start: now,
            net: Network::new(conditions, seed),
            parties: Vec::new(),
            events: Vec::new(),
            log: Vec::new(),
            drop: None,
        }
    }

    pub fn perfect() -> World {
        World::new(Conditions::perfect(Duration::from_millis(10)), 1)
    }

    /// A network that loses `loss` of the datagrams each way, duplicates
    /// 5%, with 20 ms latency and 30 ms jitter; alice (host 1) and bob
    /// (host 2) on it, their endpoints seeded from `seed`. Returns the
    /// world and their indices.
    pub fn lossy(loss: f64, seed: u64) -> (World, usize, usize) {
        let mut w = World::new(
            Conditions {
                loss,
                duplicate: 0.05,
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(30),
            },
            seed,
        );
        let a = w.ua("alice", 1, |c| c.seed = Some(seed));
        let b = w.ua("bob", 2, |c| c.seed = Some(seed + 1000));
        (w, a, b)
    }

    /// Adds a user agent at host `n`; returns its index.
    pub fn ua(&mut self, user: &str, n: u16, tweak: impl FnOnce(&mut Config)) -> usize {
        let mut c = config(user, n, n as u64 * 7919);
        tweak(&mut c);
        self.parties.push((n, Party::Ua(Box::new(endpoint(c, n)))));
        self.events.push(Vec::new());
        self.parties.len() - 1
    }

    /// [`World::ua`] with every hop over `transport`.
    pub fn ua_over(
        &mut self,
        user: &str,
        n: u16,
        transport: Transport,
        tweak: impl FnOnce(&mut Config),
    ) -> usize {
        let mut c = config(user, n, n as u64 * 7919);
        tweak(&mut c);
        self.parties
            .push((n, Party::Ua(Box::new(endpoint_over(c, n, transport)))));
        self.events.push(Vec::new());
        self.parties.len() - 1
    }

    pub fn script(&mut self, n: u16) -> usize {
        self.parties
            .push((n, Party::Script(Script { inbox: Vec::new() })));
        self.events.push(Vec::new());
        self.parties.len() - 1
    }

    pub fn ep(&mut self, i: usize) -> &mut Endpoint<u16> {
        match &mut self.parties[i].1 {
            Party::Ua(e) => e,
            Party::Script(_) => panic!("party {i} is a script"),
        }
    }

    pub fn inbox(&mut self, i: usize) -> &mut Vec<Message> {
        match &mut self.parties[i].1 {
            Party::Script(s) => &mut s.inbox,
            Party::Ua(_) => panic!("party {i} is a user agent"),
        }
    }

    /// A scripted party sends a response to host `to`.
    pub fn send_response(&mut self, from: usize, to: u16, response: Response) {
        let text = String::from_utf8(Message::Response(response).to_bytes().to_vec()).unwrap();
        self.send_raw(from, to, &text.replace("\r\n", "\n"));
    }

    /// A scripted party sends raw text to host `to`.
    pub fn send_raw(&mut self, from: usize, to: u16, text: &str) {
        let host = self.parties[from].0;
        let data = Bytes::from(text.replace('\n', "\r\n").into_bytes());
        self.log
            .push((self.now - self.start, host, to, data.clone()));
        self.net.send(
            self.now,
            Datagram {
                from: host,
                to,
                data,
            },
        );
    }

    fn flush(&mut self) {
        for i in 0..self.parties.len() {
            let host = self.parties[i].0;
            let Party::Ua(ep) = &mut self.parties[i].1 else {
                continue;
            };
            let mut out = Vec::new();
            while let Some(t) = ep.poll_transmit() {
                out.push(t);
            }
            let mut evs = Vec::new();
            while let Some(e) = ep.poll_event() {
                evs.push(e);
            }
            let at = self.now - self.start;
            self.events[i].extend(evs.into_iter().map(|e| (at, e)));
            for t in out {
                if let Some(f) = self.drop.as_mut() {
                    if f(host, t.destination, &t.message) {
                        self.log.push((at, host, t.destination, t.message.clone()));
                        continue;
                    }
                }
                self.log.push((at, host, t.destination, t.message.clone()));
                self.net.send(
                    self.now,
                    Datagram {
                        from: host,
                        to: t.destination,
                        data: t.message,
                    },
                );
            }
        }
    }

    /// Runs until `limit` of virtual time has passed or `until` is true.
    pub fn run_until(&mut self, limit: Duration, mut until: impl FnMut(&World) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.flush();
            if until(self) {
                return true;
            }
            let mut next = self.net.poll_timeout();
            for (_, p) in self.parties.iter_mut() {
                if let Party::Ua(ep) = p {
                    if let Some(t) = ep.poll_timeout() {
                        next = Some(next.map_or(t, |n| n.min(t)));
                    }
                }
            }
            let Some(next) = next else {
                return until(self);
            };
            if next > end {
                self.now = end;
                return until(self);
            }
            self.now = self.now.max(next);
            while let Some(d) = self.net.poll_deliver(self.now) {
                let Some(i) = self.parties.iter().position(|(h, _)| *h == d.to) else {
                    continue;
                };
                let Ok(m) = Message::parse(d.data.clone()) else {
                    panic!("unparsable datagram: {:?}", d.data);
                };
                let now = self.now;
                match &mut self.parties[i].1 {
                    Party::Ua(ep) => ep.handle_message(now, m, d.from, false),
                    Party::Script(s) => s.inbox.push(m),
                }
            }
            let now = self.now;
            for (_, p) in self.parties.iter_mut() {
                if let Party::Ua(ep) = p {
                    if ep.poll_timeout().is_some_and(|t| t <= now) {
                        ep.handle_timeout(now);
                    }
                }
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Runs until every party is idle (or `limit`).
    pub fn settle(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |w| {
            w.parties.iter().all(|(_, p)| match p {
                Party::Ua(e) => e.is_idle(),
                Party::Script(_) => true,
            }) && w.net.in_flight() == 0
        })
    }

    /// The call events of party `i` for `call`, in order.
    pub fn call_events(&self, i: usize, call: Handle) -> Vec<CallEvent> {
        self.events[i]
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Call { call: c, event } if *c == call => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// The first incoming call of party `i`.
    pub fn incoming_call(&self, i: usize) -> Option<Handle> {
        self.events[i].iter().find_map(|(_, e)| match e {
            Event::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
    }

    pub fn incoming_calls(&self, i: usize) -> Vec<Handle> {
        self.events[i]
            .iter()
            .filter_map(|(_, e)| match e {
                Event::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .collect()
    }

    pub fn ended(&self, i: usize, call: Handle) -> Option<sipline_dialog::EndReason> {
        self.call_events(i, call).into_iter().find_map(|e| match e {
            CallEvent::Ended { reason } => Some(reason),
            _ => None,
        })
    }

    /// Every message sent whose first line starts with `start`, parsed,
    /// with the time it was sent.
    pub fn sent(&self, start: &str) -> Vec<(Duration, Message)> {
        self.log
            .iter()
            .filter(|(_, _, _, m)| m.starts_with(start.as_bytes()))
            .map(|(t, _, _, m)| (*t, Message::parse(m.clone()).unwrap()))
            .collect()
    }

    /// The same as [`World::sent`], of the messages host `from` sent.
    pub fn sent_by(&self, from: u16, start: &str) -> Vec<(Duration, Message)> {
        self.log
            .iter()
            .filter(|(_, f, _, m)| *f == from && m.starts_with(start.as_bytes()))
            .map(|(t, _, _, m)| (*t, Message::parse(m.clone()).unwrap()))
            .collect()
    }

    /// How many messages whose first line starts with `start` were sent.
    pub fn count_sent(&self, start: &str) -> usize {
        self.log
            .iter()
            .filter(|(_, _, _, m)| m.starts_with(start.as_bytes()))
            .count()
    }
}

pub fn sdp(port: u16, dir: &str) -> Body {
    Body::sdp(format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na={dir}\r\n"
    ))
}

/// A header's value, as text.
pub fn header(m: &Message, h: StdHeader) -> Option<String> {
    m.headers().get(h).map(|v| v.to_string())
}

/// Whether party `i` has had an event for `call` that `f` accepts.
pub fn has(w: &World, i: usize, call: Handle, f: impl Fn(&CallEvent) -> bool) -> bool {
    w.call_events(i, call).iter().any(f)
}

/// Whether party `i`'s `call` was answered (a 2xx).
pub fn answered(w: &World, i: usize, call: Handle) -> bool {
    has(w, i, call, |e| matches!(e, CallEvent::Answered { .. }))
}

/// Whether party `i`'s incoming `call` got its ACK.
pub fn confirmed(w: &World, i: usize, call: Handle) -> bool {
    has(w, i, call, |e| matches!(e, CallEvent::Confirmed { .. }))
}

/// How many offers (re-INVITE, UPDATE) party `i` got in `call`.
pub fn offers(w: &World, i: usize, call: Handle) -> usize {
    w.call_events(i, call)
        .iter()
        .filter(|e| matches!(e, CallEvent::Offer { .. }))
        .count()
}

/// Party `a` calls bob at host `n` with an offer (`sdp(4000,
/// "sendrecv")`), now.
pub fn call_with_offer(w: &mut World, a: usize, n: u16) -> Handle {
    let now = w.now;
    w.ep(a)
        .call(now, uri("bob", n), Some(sdp(4000, "sendrecv")), vec![])
        .unwrap()
}

/// Party `a` (alice) calls bob at host 2 with an offer (`sdp(4000,
/// "sendrecv")`); runs until party `b` (bob) has the call (1 s at most).
/// Returns alice's and bob's handles.
pub fn call_bob(w: &mut World, a: usize, b: usize) -> (Handle, Handle) {
    let call = call_with_offer(w, a, 2);
    assert!(w.run_until(Duration::from_secs(1), |w| w.incoming_call(b).is_some()));
    let inc = w.incoming_call(b).unwrap();
    (call, inc)
}

/// Alice (host 1) and bob (host 2), both as configured by default, and
/// alice's call to bob as [`call_bob`] makes it: (alice, bob, alice's
/// call, bob's).
pub fn alice_calls_bob(w: &mut World) -> (usize, usize, Handle, Handle) {
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let (call, inc) = call_bob(w, a, b);
    (a, b, call, inc)
}

/// Party `b` answers `inc` with 200 and its answer (`sdp(5000,
/// "sendrecv")`).
pub fn answer(w: &mut World, b: usize, inc: Handle) {
    let now = w.now;
    w.ep(b)
        .answer(now, inc, Some(sdp(5000, "sendrecv")))
        .unwrap();
}

/// [`alice_calls_bob`], bob answers, and runs until bob has the ACK.
pub fn established(w: &mut World) -> (usize, usize, Handle, Handle) {
    let (a, b, call, inc) = alice_calls_bob(w);
    answer(w, b, inc);
    assert!(w.run_until(Duration::from_secs(1), |w| confirmed(w, b, inc)));
    (a, b, call, inc)
}

/// Alice (host 1), bob (host 2) and carol (host 3), all configured by
/// default.
pub fn alice_bob_and_carol(w: &mut World) -> (usize, usize, usize) {
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let c = w.ua("carol", 3, |_| {});
    (a, b, c)
}

/// Party `a` calls bob at host 9, the scripted party `s`, with an offer
/// (`sdp(4000, "sendrecv")`); after 50 ms, returns the call and the
/// INVITE taken from the script's inbox.
pub fn call_script(w: &mut World, a: usize, s: usize) -> (Handle, Message) {
    let call = call_with_offer(w, a, 9);
    w.run(Duration::from_millis(50));
    let invite = w.inbox(s).remove(0);
    (call, invite)
}
