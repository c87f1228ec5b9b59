//! Parses one message file many times: a target for profilers.
//!
//! `cargo run --release --example parse_loop -- bench/messages/invite.sip 1000000`

use sipline_message::{Bytes, Message};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_loop FILE [COUNT]");
    let count: usize = args.next().map_or(1_000_000, |n| n.parse().expect("count"));
    let data = Bytes::from(std::fs::read(path).expect("read"));
    let start = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..count {
        let m = Message::parse(data.clone()).expect("parse");
        n += m.branch().map_or(0, str::len) + m.from_tag().map_or(0, str::len);
        n += m.cseq().map(|c| c.seq as usize).unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} parses in {secs:.3} s: {:.0}/s ({n})",
        count as f64 / secs
    );
}
