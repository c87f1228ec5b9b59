//! Memory per transaction: fills a table with N server transactions (an
//! INVITE received, not yet answered, as after a flood) and reports the
//! growth of resident memory per transaction (allocator overhead included).
//!
//! `cargo run --release -p sipline-transaction --example tx_memory -- 1000000`

use sipline_message::{Bytes, Message};
use sipline_transaction::{Config, Transactions};
use std::time::Instant;

/// Resident memory of this process in bytes (Linux), allocator overhead included.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn invite(n: usize) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK{n}\r\n\
Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: {n}@pc33.atlanta.example.com\r\nCSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |s| s.parse().expect("count"));
    let mut table: Transactions<u32> = Transactions::new(Config::default());
    let now = Instant::now();
    let base = rss();
    let mut message_bytes = 0;
    let start = Instant::now();
    for i in 0..n {
        let data = invite(i);
        message_bytes += data.len();
        let msg = Message::parse(data).expect("parse");
        let _ = table.handle_request(now, msg, 1, false);
    }
    let took = start.elapsed();
    let used = rss().saturating_sub(base);
    println!(
        "{n} INVITE server transactions in flight: {} bytes of resident memory each \
         (the received message is {} bytes), created at {:.0}/s",
        used / n,
        message_bytes / n,
        n as f64 / took.as_secs_f64()
    );
    assert_eq!(table.len(), n);
}
