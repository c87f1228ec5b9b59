//! How long a compaction of the append-only log holds up acknowledgements.
//!
//! Writes every one of N AORs' bindings (one binding of the size a SIPp
//! REGISTER makes, ~270 bytes a record) six times through
//! `LogStore::submit_replace_then`, 1,000 jobs every 20 ms (~50,000/s), and
//! prints the worst time from a submit to its acknowledgement, which
//! includes the group-commit window, the `fdatasync`, and any compaction
//! step that ran meanwhile (they run on the writer thread, between batches).
//! A second argument sets `LogOptions::compact_step_bytes`; `off` turns
//! compaction off, for the figure without it.
//!
//! Then it times one purge of expired bindings (none are), which also
//! runs on the writer thread.
//!
//!     cargo run --release -p sipline-registrar --example log_compaction -- 100000 [STEP|off]
use sipline_registrar::{Binding, EncodedBindings, LocationStore, LogOptions, LogStore};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut options = LogOptions::default();
    match std::env::args().nth(2).as_deref() {
        None => {}
        Some("off") => options.compact_min_bytes = u64::MAX,
        Some(step) => options.compact_step_bytes = step.parse().expect("STEP in bytes, or off"),
    }
    let dir = std::env::temp_dir().join(format!("sipline-log-compaction-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = LogStore::open_with_options(&dir, options).expect("open the log");
    let binding = |aor: &str, i: usize| Binding {
        aor: aor.into(),
        contact_uri: format!("sip:user{i}@127.0.0.1:5061;transport=udp"),
        params: vec![],
        q: None,
        expires_at: 1_900_000_000,
        call_id: format!("{i}-12345@127.0.0.1"),
        cseq: 1,
        path: vec![],
        instance: None,
        reg_id: None,
        source: None,
        user_agent: Some("SIPp".into()),
        updated_at: 1,
    };
    let rounds = 6;
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    for round in 0..rounds {
        for i in 0..n {
            let aor = format!("sip:user{i}@example.com");
            let value = EncodedBindings::new(&[binding(&aor, i + round)]);
            let tx = tx.clone();
            let sent = Instant::now();
            store.submit_replace_then(&aor, value, move |result| {
                let _ = tx.send(result.map(|()| sent.elapsed()));
            });
            if i % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    drop(tx);
    let mut waits: Vec<Duration> = rx
        .iter()
        .take(n * rounds)
        .map(|r| r.expect("apply"))
        .collect();
    waits.sort_unstable();
    let ms = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{n} AORs: {} applies in {:.1} s, {} compactions, acknowledgement p99 {:.1} ms, p99.9 {:.1} ms, worst {:.1} ms, log {} bytes",
        waits.len(),
        start.elapsed().as_secs_f64(),
        store.compactions(),
        ms(0.99),
        ms(0.999),
        ms(1.0),
        std::fs::metadata(store.path()).map_or(0, |m| m.len())
    );
    // The serve loop purges expired bindings every 30 s, on the writer
    // thread: how long that holds it up when nothing has expired.
    let t = Instant::now();
    let purged = store.purge_expired(1_800_000_000).expect("purge");
    println!(
        "purge of {n} AORs ({purged} expired) took {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
