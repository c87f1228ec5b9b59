//! Durability under `kill -9`: a child process (this test binary re-executed
//! with an environment variable) applies bindings from several threads and
//! prints an ACK line after each apply returns; the parent SIGKILLs it while
//! it is still writing, reopens the store and checks that every
//! acknowledged binding is there with its expiry. Run against both durable
//! stores (redb and the append-only log).

use sipline_registrar::{Binding, Change, DurableStore, LocationStore, LogStore, RedbStore};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIR_ENV: &str = "SIPLINE_REGISTRAR_CRASH_DIR";
const ROUND_ENV: &str = "SIPLINE_REGISTRAR_CRASH_ROUND";
const STORE_ENV: &str = "SIPLINE_REGISTRAR_CRASH_STORE";

fn open(kind: &str, dir: &std::path::Path) -> DurableStore {
    match kind {
        "redb" => RedbStore::open(dir).unwrap().into(),
        "log" => LogStore::open(dir).unwrap().into(),
        other => panic!("unknown store {other:?}"),
    }
}
const THREADS: usize = 4;

fn binding(aor: &str, contact: &str, expires_at: u64) -> Binding {
    Binding {
        aor: aor.into(),
        contact_uri: contact.into(),
        params: Vec::new(),
        q: None,
        expires_at,
        call_id: "crash".into(),
        cseq: 1,
        path: Vec::new(),
        instance: None,
        reg_id: None,
        source: None,
        user_agent: None,
        updated_at: 0,
    }
}

/// The child: does nothing unless started by the parent below.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let kind = std::env::var(STORE_ENV).unwrap_or_else(|_| "redb".into());
    let store = Arc::new(open(&kind, std::path::Path::new(&dir)));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let round = round.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                // Bounded: the parent kills us long before this ends.
                for i in 0..100_000u64 {
                    if start.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                    let aor = format!("sip:r{round}t{t}i{}@example.com", i % 50);
                    let contact = format!("sip:c{i}@10.0.{t}.1");
                    let expires_at = 2_000_000_000 + i;
                    store
                        .apply(&aor, &[Change::Put(binding(&aor, &contact, expires_at))])
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {aor} {contact} {expires_at}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// Runs a child round, kills it after `acks` acknowledgements; returns them.
fn crash_round(
    kind: &str,
    dir: &std::path::Path,
    round: u32,
    acks: usize,
) -> Vec<(String, String, u64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(DIR_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .env(STORE_ENV, kind)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let aor = parts.next().unwrap().to_string();
        let contact = parts.next().unwrap().to_string();
        let exp: u64 = parts.next().unwrap().parse().unwrap();
        seen.push((aor, contact, exp));
        if seen.len() >= acks {
            // SIGKILL on Unix: no destructor, no flush, mid-commit.
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "child was killed, not finished");
    seen
}

#[test]
fn acknowledged_bindings_survive_sigkill() {
    survive_sigkill("redb");
}

#[test]
fn acknowledged_bindings_survive_sigkill_log() {
    survive_sigkill("log");
}

fn survive_sigkill(kind: &str) {
    let dir = std::env::temp_dir().join(format!(
        "sipline-registrar-crash-{kind}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut all = Vec::new();
    for round in 0..2 {
        let acked = crash_round(kind, &dir, round, 300);
        assert_eq!(
            acked.len(),
            300,
            "child acknowledged enough before the kill"
        );
        all.extend(acked);
        let store = open(kind, &dir);
        let mut missing = 0;
        for (aor, contact, exp) in &all {
            let found = store
                .get(aor)
                .unwrap()
                .into_iter()
                .any(|b| &b.contact_uri == contact && b.expires_at == *exp);
            if !found {
                missing += 1;
            }
        }
        assert_eq!(missing, 0, "acknowledged bindings lost in round {round}");
        assert!(store.count().unwrap() >= all.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
