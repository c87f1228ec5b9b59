//! The same three messages (`bench/messages/`) through three SIP parsers, side by side:
//! sipline-message, rsip, and the `sip` module of rsipstack.
//!
//! Per input there is one criterion group (`invite`, `register`, `ok`) with, for each
//! parser, `<parser>/parse` (bytes to message) and `<parser>/parse+key` (also read what a
//! transaction layer matches on: the top Via's branch and sent-by, CSeq, Call-ID and the
//! From and To tags, each through the parser's typed header access). Every `key` function
//! mirrors `key()` in `crates/sipline-message/benches/parse.rs`.
//!
//! Before anything is timed, every parser must parse every input and read the same key
//! fields (and body length) as sipline, so a parser that fails cannot look fast.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// The key fields, owned, for the up-front agreement check (not timed).
#[derive(Debug, PartialEq)]
struct Fields {
    branch: Option<String>,
    host: String,
    port: Option<u16>,
    seq: u32,
    method: String,
    call_id: Option<String>,
    from_tag: Option<String>,
    to_tag: Option<String>,
    body_len: usize,
}

/// sipline-message: `Message::parse(Bytes)`.
mod sipline {
    use super::{black_box, Fields};
    use sipline_message::{Bytes, Message};

    pub(crate) fn parse(data: &Bytes) -> Message {
        Message::parse(data.clone()).expect("sipline parse")
    }

    pub(crate) fn key(m: &Message) -> usize {
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

    /// The same fields through the accessors that do not allocate:
    /// `branch()` and `top_via_sent_by()` read the top Via in place.
    pub(crate) fn key_fast(m: &Message) -> usize {
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

    pub(crate) fn fields(m: &Message) -> Fields {
        let via = m.top_via().expect("via");
        let cseq = m.cseq().expect("cseq");
        Fields {
            branch: via.branch().map(str::to_owned),
            host: via.host.to_string(),
            port: via.port,
            seq: cseq.seq,
            method: cseq.method.to_string(),
            call_id: m.call_id().map(str::to_owned),
            from_tag: m.from_tag().map(str::to_owned),
            to_tag: m.to_tag().map(str::to_owned),
            body_len: m.body().len(),
        }
    }
}

/// rsip: `SipMessage::try_from(&[u8])`; typed headers via `HeadersExt` + `.typed()`.
/// `via_header()` is the first Via header row (the inputs have one Via per row).
mod rsip_ {
    use super::{black_box, Fields};
    use rsip::prelude::*;
    use rsip::SipMessage;

    pub(crate) fn parse(data: &[u8]) -> SipMessage {
        SipMessage::try_from(data).expect("rsip parse")
    }

    pub(crate) fn key(m: &SipMessage) -> usize {
        let via = m.via_header().expect("via").typed().expect("via");
        let cseq = m.cseq_header().expect("cseq").typed().expect("cseq");
        let sent_by = &via.sent_by().host_with_port;
        black_box(via.branch().map_or(0, |b| b.value().len()))
            + black_box(sent_by.host.to_string().len())
            + black_box(sent_by.port.map_or(0, |p| *p.value() as usize))
            + black_box(cseq.seq as usize)
            + black_box(m.call_id_header().map_or(0, |c| c.value().len()))
            + black_box(
                m.from_header()
                    .expect("from")
                    .tag()
                    .expect("from")
                    .map_or(0, |t| t.value().len()),
            )
            + black_box(
                m.to_header()
                    .expect("to")
                    .tag()
                    .expect("to")
                    .map_or(0, |t| t.value().len()),
            )
    }

    pub(crate) fn fields(m: &SipMessage) -> Fields {
        let via = m.via_header().expect("via").typed().expect("via");
        let cseq = m.cseq_header().expect("cseq").typed().expect("cseq");
        let sent_by = &via.sent_by().host_with_port;
        Fields {
            branch: via.branch().map(|b| b.value().to_owned()),
            host: sent_by.host.to_string(),
            port: sent_by.port.map(|p| *p.value()),
            seq: cseq.seq,
            method: cseq.method.to_string(),
            call_id: m.call_id_header().ok().map(|c| c.value().to_owned()),
            from_tag: m
                .from_header()
                .expect("from")
                .tag()
                .expect("from")
                .map(|t| t.value().to_owned()),
            to_tag: m
                .to_header()
                .expect("to")
                .tag()
                .expect("to")
                .map(|t| t.value().to_owned()),
            body_len: m.body().len(),
        }
    }
}

/// rsipstack: its own parser, `rsipstack::sip::parser::parse_message(&[u8])` (which is what
/// `rsipstack::sip::SipMessage::try_from(&[u8])` calls); typed headers via `HeadersExt` +
/// `.typed()`, the top Via via `top_via_header()`.
mod rsipstack_ {
    use super::{black_box, Fields};
    use rsipstack::sip::parser::parse_message;
    use rsipstack::sip::prelude::*;
    use rsipstack::sip::SipMessage;

    pub(crate) fn parse(data: &[u8]) -> SipMessage {
        parse_message(data).expect("rsipstack parse")
    }

    pub(crate) fn key(m: &SipMessage) -> usize {
        let via = m.top_via_header().expect("via").into_typed().expect("via");
        let cseq = m.cseq_header().expect("cseq").typed().expect("cseq");
        let sent_by = via.sent_by();
        black_box(via.branch().map_or(0, |b| b.value().len()))
            + black_box(sent_by.host.to_string().len())
            + black_box(sent_by.port.map_or(0, |p| p.value() as usize))
            + black_box(cseq.seq as usize)
            + black_box(m.call_id_header().map_or(0, |c| c.value().len()))
            + black_box(
                m.from_header()
                    .expect("from")
                    .tag()
                    .expect("from")
                    .map_or(0, |t| t.value().len()),
            )
            + black_box(
                m.to_header()
                    .expect("to")
                    .tag()
                    .expect("to")
                    .map_or(0, |t| t.value().len()),
            )
    }

    pub(crate) fn fields(m: &SipMessage) -> Fields {
        let via = m.top_via_header().expect("via").into_typed().expect("via");
        let cseq = m.cseq_header().expect("cseq").typed().expect("cseq");
        let sent_by = via.sent_by();
        let body = match m {
            SipMessage::Request(r) => r.body(),
            SipMessage::Response(r) => r.body(),
        };
        Fields {
            branch: via.branch().map(|b| b.value().to_owned()),
            host: sent_by.host.to_string(),
            port: sent_by.port.map(|p| p.value()),
            seq: cseq.seq,
            method: cseq.method.to_string(),
            call_id: m.call_id_header().ok().map(|c| c.value().to_owned()),
            from_tag: m
                .from_header()
                .expect("from")
                .tag()
                .expect("from")
                .map(|t| t.value().to_owned()),
            to_tag: m
                .to_header()
                .expect("to")
                .tag()
                .expect("to")
                .map(|t| t.value().to_owned()),
            body_len: body.len(),
        }
    }
}

fn input(name: &str) -> sipline_message::Bytes {
    let path = format!("{}/../messages/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

/// Every parser parses `data` and reads the same key fields as sipline (panics otherwise).
fn check(name: &str, data: &sipline_message::Bytes) {
    let want = sipline::fields(&sipline::parse(data));
    let want_key = sipline::key(&sipline::parse(data));
    assert_eq!(sipline::key_fast(&sipline::parse(data)), want_key, "fast accessors agree");
    let got = rsip_::fields(&rsip_::parse(data));
    assert_eq!(got, want, "{name}: rsip disagrees with sipline");
    assert_eq!(
        rsip_::key(&rsip_::parse(data)),
        want_key,
        "{name}: rsip key"
    );
    let got = rsipstack_::fields(&rsipstack_::parse(data));
    assert_eq!(got, want, "{name}: rsipstack disagrees with sipline");
    assert_eq!(
        rsipstack_::key(&rsipstack_::parse(data)),
        want_key,
        "{name}: rsipstack key"
    );
    eprintln!("checked {name}: all parsers agree: {want:?}");
}

fn bench(c: &mut Criterion) {
    for name in ["invite.sip", "register.sip", "ok.sip"] {
        let data = input(name);
        check(name, &data);
        let mut g = c.benchmark_group(name.trim_end_matches(".sip"));
        g.throughput(Throughput::Elements(1));

        g.bench_function("sipline/parse", |b| {
            b.iter(|| sipline::parse(black_box(&data)))
        });
        g.bench_function("sipline/parse+key", |b| {
            b.iter(|| sipline::key(&sipline::parse(black_box(&data))))
        });
        g.bench_function("sipline/parse+key-fast", |b| {
            b.iter(|| sipline::key_fast(&sipline::parse(black_box(&data))))
        });
        g.bench_function("rsip/parse", |b| b.iter(|| rsip_::parse(black_box(&data))));
        g.bench_function("rsip/parse+key", |b| {
            b.iter(|| rsip_::key(&rsip_::parse(black_box(&data))))
        });
        g.bench_function("rsipstack/parse", |b| {
            b.iter(|| rsipstack_::parse(black_box(&data)))
        });
        g.bench_function("rsipstack/parse+key", |b| {
            b.iter(|| rsipstack_::key(&rsipstack_::parse(black_box(&data))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
