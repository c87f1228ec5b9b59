//! Transactions per second through the sans-IO table: a client table sends
//! a request, the server table receives it (parsed from the bytes the
//! client produced), answers, and the client matches the response; both
//! run their timers to the end. Reliable transport (Timer J and K are 0)
//! so every iteration creates, matches and completes two transactions.
//! Also: matching a retransmission against a table holding 100,000
//! transactions in flight.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipline_message::{Bytes, Message, StatusCode};
use sipline_transaction::{Config, Received, Transactions};
use std::hint::black_box;
use std::time::Instant;

fn options(n: u64) -> Message {
    Message::parse(Bytes::from(format!(
        "OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK{n}\r\n\
Max-Forwards: 70\r\nTo: <sip:bob@biloxi.example.com>\r\n\
From: <sip:alice@atlanta.example.com>;tag=88\r\n\
Call-ID: {n}@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("transaction");
    g.throughput(Throughput::Elements(1));
    let mut uac: Transactions<u8> = Transactions::new(Config::default());
    let mut uas: Transactions<u8> = Transactions::new(Config::default());
    let now = Instant::now();
    let mut n = 0u64;
    g.bench_function("options round trip (client+server, parse included)", |b| {
        b.iter(|| {
            n += 1;
            uac.send_request(now, options(n), 2, true).unwrap();
            let t = uac.poll_transmit().unwrap();
            let req = Message::parse(t.message).unwrap();
            let Received::New {
                transaction,
                request,
                ..
            } = uas.handle_request(now, req, 1, true)
            else {
                panic!()
            };
            let ok = sipline_message::builder::response_to(
                request.as_request().unwrap(),
                StatusCode::OK,
                Some("x"),
            );
            uas.respond(now, transaction, ok.into()).unwrap();
            let t = uas.poll_transmit().unwrap();
            let resp = Message::parse(t.message).unwrap();
            black_box(uac.handle_response(now, resp));
            uac.handle_timeout(now);
            uas.handle_timeout(now);
            while uac.poll_event().is_some() {}
            while uas.poll_event().is_some() {}
        })
    });
    assert!(uac.is_empty() && uas.is_empty());

    // matching against a full table
    let mut big: Transactions<u8> = Transactions::new(Config::default());
    for i in 0..100_000 {
        big.handle_request(now, options(i), 1, false);
    }
    let probe = options(50_000);
    g.bench_function("match a retransmission among 100k", |b| {
        b.iter(|| black_box(big.handle_request(now, probe.clone(), 1, false)))
    });
    g.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
