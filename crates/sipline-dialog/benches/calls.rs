//! Whole calls between two endpoints, messages handed over in memory:
//! INVITE, 200, ACK, BYE, 200, each parsed from the bytes the other side
//! serialized (what a user agent's CPU does per call, without sockets).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipline_dialog::{Body, CallEvent, Config, Endpoint, Event, Hop};
use sipline_message::header::NameAddr;
use sipline_message::{Message, Transport, Uri};
use std::net::SocketAddr;
use std::time::Instant;

fn endpoint(user: &str, me: u16) -> Endpoint<u16> {
    let uri = Uri::parse(&format!("sip:{user}@10.0.0.{me}")).unwrap();
    let mut c = Config::new(NameAddr::new(uri));
    c.seed = Some(u64::from(me));
    let local: SocketAddr = format!("10.0.0.{me}:5060").parse().unwrap();
    Endpoint::new(
        c,
        Box::new(move |u: &Uri| {
            let to = match u {
                Uri::Sip(s) => s.host.to_string().rsplit('.').next()?.parse().ok()?,
                _ => return None,
            };
            Some(Hop {
                destination: to,
                transport: Transport::Udp,
                local,
            })
        }),
    )
}

/// Delivers everything in flight until both sides are quiet.
fn pump(eps: &mut [Endpoint<u16>; 2], now: Instant, events: &mut Vec<(usize, Event)>) {
    loop {
        let mut moved = false;
        for i in 0..2 {
            while let Some(t) = eps[i].poll_transmit() {
                moved = true;
                let to = usize::from(t.destination - 1);
                let m = Message::parse(t.message).unwrap();
                eps[to].handle_message(now, m, (i + 1) as u16, false);
            }
            while let Some(e) = eps[i].poll_event() {
                moved = true;
                events.push((i, e));
            }
        }
        if !moved {
            return;
        }
    }
}

fn one_call(
    eps: &mut [Endpoint<u16>; 2],
    now: Instant,
    sdp: &Body,
    events: &mut Vec<(usize, Event)>,
) {
    let target = Uri::parse("sip:bob@10.0.0.2").unwrap();
    let call = eps[0].call(now, target, Some(sdp.clone()), vec![]).unwrap();
    pump(eps, now, events);
    let inc = events
        .iter()
        .find_map(|(i, e)| match e {
            Event::IncomingCall { call, .. } if *i == 1 => Some(*call),
            _ => None,
        })
        .unwrap();
    eps[1].answer(now, inc, Some(sdp.clone())).unwrap();
    pump(eps, now, events);
    eps[0].hangup(now, call).unwrap();
    pump(eps, now, events);
    assert!(events.iter().any(|(i, e)| *i == 1
        && matches!(
            e,
            Event::Call {
                event: CallEvent::Ended { .. },
                ..
            }
        )));
    events.clear();
}

fn calls(c: &mut Criterion) {
    let sdp = Body::sdp(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    let mut eps = [endpoint("alice", 1), endpoint("bob", 2)];
    let mut events = Vec::new();
    let mut now = Instant::now();
    let mut g = c.benchmark_group("dialog");
    g.throughput(Throughput::Elements(1));
    g.bench_function("call_setup_and_teardown", |b| {
        b.iter(|| {
            one_call(&mut eps, now, &sdp, &mut events);
            // Let the transactions' timers run out now and then so that
            // the tables stay small, as they would in real time.
            now += std::time::Duration::from_millis(1);
        });
        now += std::time::Duration::from_secs(64);
        for e in &mut eps {
            e.handle_timeout(now);
        }
    });
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
