//! Parsing and serializing typical messages: an INVITE with SDP (two Vias,
//! Record-Route), a REGISTER and a 200 OK (the inputs in `bench/messages/`).
//!
//! `parse` is framing, start line and header rows; `parse+key` also reads
//! what a transaction layer needs to match the message: the top Via's branch
//! and sent-by, CSeq, Call-ID, and the From and To tags, through the typed
//! Via; `parse+key-fast` reads the same through the accessors that do not
//! allocate (`branch`, `top_via_sent_by`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipline_message::{Bytes, Message};
use std::hint::black_box;

fn input(name: &str) -> Bytes {
    let path = format!("{}/../../bench/messages/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(path).expect("bench message"))
}

/// Through the typed Via (which allocates its host and parameters).
fn key(m: &Message) -> usize {
    let via = m.top_via().expect("via");
    let cseq = m.cseq().expect("cseq");
    black_box(via.branch().map_or(0, str::len))
        + black_box(via.host.to_string().len())
        + black_box(via.port.unwrap_or(0) as usize)
        + black_box(cseq.seq as usize)
        + black_box(m.call_id().map_or(0, str::len))
        + black_box(m.from_tag().map_or(0, str::len))
        + black_box(m.to_tag().map_or(0, str::len))
}

/// Through the accessors that read the top Via in place, without allocating.
fn key_fast(m: &Message) -> usize {
    let (host, port) = m.top_via_sent_by().expect("sent-by");
    let cseq = m.cseq().expect("cseq");
    black_box(m.branch().map_or(0, str::len))
        + black_box(host.len())
        + black_box(port.unwrap_or(0) as usize)
        + black_box(cseq.seq as usize)
        + black_box(m.call_id().map_or(0, str::len))
        + black_box(m.from_tag().map_or(0, str::len))
        + black_box(m.to_tag().map_or(0, str::len))
}

fn bench(c: &mut Criterion) {
    for name in ["invite.sip", "register.sip", "ok.sip"] {
        let data = input(name);
        let mut g = c.benchmark_group(name.trim_end_matches(".sip"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("parse", |b| {
            b.iter(|| Message::parse(black_box(data.clone())).expect("parse"))
        });
        g.bench_function("parse+key", |b| {
            b.iter(|| {
                let m = Message::parse(black_box(data.clone())).expect("parse");
                key(&m)
            })
        });
        g.bench_function("parse+key-fast", |b| {
            b.iter(|| {
                let m = Message::parse(black_box(data.clone())).expect("parse");
                key_fast(&m)
            })
        });
        let msg = Message::parse(data.clone()).expect("parse");
        let mut buf = Vec::with_capacity(2048);
        g.bench_function("serialize", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).write_to(&mut buf);
                buf.len()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
