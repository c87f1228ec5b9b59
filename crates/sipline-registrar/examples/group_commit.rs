//! Measures durable REGISTER-style applies per second on `RedbStore`, with
//! group commit and with one commit per apply.
//!
//! ```text
//! cargo run --release -p sipline-registrar --example group_commit -- [THREADS] [SECONDS] [DIR]
//! ```
//!
//! Each of THREADS threads plays a REGISTER handler: it applies one binding
//! (Put) for its own AORs and waits for the durable acknowledgement, in a
//! loop, for SECONDS. DIR (default: the system temp dir) should be on the
//! disk the registrar would use.

use sipline_registrar::{Binding, Change, CommitMode, LocationStore, RedbStore};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn binding(aor: &str, contact: &str, i: u64) -> Binding {
    Binding {
        aor: aor.into(),
        contact_uri: contact.into(),
        params: Vec::new(),
        q: None,
        expires_at: 2_000_000_000 + i,
        call_id: format!("call-{i}"),
        cseq: i as u32,
        path: vec!["<sip:edge.example.com;lr;ob>".into()],
        instance: None,
        reg_id: None,
        source: None,
        user_agent: Some("bench/1".into()),
        updated_at: 1_700_000_000,
    }
}

fn run(mode: CommitMode, threads: usize, secs: u64, base: &std::path::Path) -> (f64, u64, u64) {
    let dir = base.join(format!(
        "sipline-registrar-bench-{}-{threads}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let store = Arc::new(RedbStore::open_with(&dir, mode).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, stop, done) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let aor = format!("sip:user{t}-{}@example.com", i % 1000);
                    let contact = format!("sip:user@10.{t}.0.1:5060;transport=tcp");
                    store
                        .apply(&aor, &[Change::Put(binding(&aor, &contact, i))])
                        .expect("apply");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("thread");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let stats = store.stats();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        stats.commits,
        stats.applies,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: Vec<usize> = match args.get(1) {
        Some(t) => vec![t.parse().expect("THREADS")],
        None => vec![1, 8, 64],
    };
    let secs: u64 = args.get(2).map_or(3, |s| s.parse().expect("SECONDS"));
    let base = args
        .get(3)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    println!(
        "{:<10} {:>8} {:>12} {:>10} {:>10} {:>12}",
        "mode", "threads", "applies/s", "commits", "applies", "applies/commit"
    );
    for &t in &threads {
        for (name, mode) in [
            ("per-apply", CommitMode::PerApply),
            ("group", CommitMode::default()),
        ] {
            let (rate, commits, applies) = run(mode, t, secs, &base);
            println!(
                "{name:<10} {t:>8} {rate:>12.0} {commits:>10} {applies:>10} {:>12.1}",
                applies as f64 / commits.max(1) as f64
            );
        }
    }
}
