//! Fuzzes the user-agent core with hostile peers: the input is cut into
//! messages at each "\n--\n"; every one that parses and validates is
//! delivered to an endpoint that has a call, a registration and a
//! subscription under way, with the clock moving on between messages and
//! the application answering whatever arrives. Then an hour of virtual
//! time runs. Nothing may panic, and the wake-ups must keep moving on
//! (registration and subscription refreshes never end, so the endpoint is
//! not expected to be empty).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_dialog::{Body, Config, Endpoint, Event, Hop};
use sipline_message::header::NameAddr;
use sipline_message::{Message, Transport, Uri};
use std::time::{Duration, Instant};

fn endpoint() -> Endpoint<u16> {
    let mut c = Config::new(NameAddr::new(Uri::parse("sip:alice@192.0.2.1").unwrap()));
    c.seed = Some(1);
    c.session_expires = Some(90);
    Endpoint::new(
        c,
        Box::new(|_| {
            Some(Hop {
                destination: 2,
                transport: Transport::Udp,
                local: "192.0.2.1:5060".parse().unwrap(),
            })
        }),
    )
}

fuzz_target!(|data: &[u8]| {
    let mut ep = endpoint();
    let mut now = Instant::now();
    let start = now;
    let peer = Uri::parse("sip:bob@192.0.2.2").unwrap();
    let sdp = Body::sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
    let _ = ep.call(now, peer.clone(), Some(sdp.clone()), vec![]);
    let _ = ep.register(now, Uri::parse("sip:192.0.2.2").unwrap(), 60);
    let _ = ep.subscribe(now, peer, "presence", "application/pidf+xml", 60);
    for chunk in split(data) {
        now += Duration::from_millis(50);
        ep.handle_timeout(now);
        if let Ok(m) = Message::parse(bytes::Bytes::copy_from_slice(chunk)) {
            if m.validate(false).is_ok() {
                ep.handle_message(now, m, 2, false);
            }
        }
        // The application answers whatever arrives, and hangs up calls.
        while let Some(e) = ep.poll_event() {
            match e {
                Event::IncomingCall { call, .. } => {
                    let _ = ep.answer(now, call, Some(sdp.clone()));
                }
                Event::IncomingRequest { request, .. } => {
                    let _ = ep.respond(now, request, 200, None, vec![]);
                }
                Event::IncomingSubscription { subscription, .. } => {
                    let _ = ep.reject_subscription(now, subscription, 403);
                }
                Event::Call { call, .. } => {
                    let _ = ep.hangup(now, call);
                }
                _ => {}
            }
        }
        while ep.poll_transmit().is_some() {}
    }
    // An hour of virtual time: every transaction and call timer runs out;
    // registration and subscription refreshes go on (nobody unregisters),
    // so the check is that the clock keeps moving and nothing panics.
    let mut steps = 0;
    while let Some(at) = ep.poll_timeout() {
        if at > start + Duration::from_secs(3600) || steps > 100_000 {
            break;
        }
        now = now.max(at);
        ep.handle_timeout(now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        steps += 1;
    }
});

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(4).position(|w| w == b"\n--\n") {
        out.push(&rest[..i]);
        rest = &rest[i + 4..];
    }
    out.push(rest);
    out
}
