//! One test suite for every `LocationStore`, plus the durable stores'
//! specifics (redb and the log): reopen, group commit under concurrency, and
//! the log's recovery and compaction.

use sipline_registrar::{
    Binding, BindingKey, Change, CommitMode, ContactParam, DurableStore, EncodedBindings,
    LocationStore, LogOptions, LogStore, MemoryStore, RedbStore,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "sipline-registrar-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binding(aor: &str, contact: &str, expires_at: u64) -> Binding {
    Binding {
        aor: aor.into(),
        contact_uri: contact.into(),
        params: vec![ContactParam {
            name: "audio".into(),
            value: None,
        }],
        q: Some(0.5),
        expires_at,
        call_id: "cid".into(),
        cseq: 1,
        path: vec!["<sip:edge.example.com;lr>".into()],
        instance: None,
        reg_id: None,
        source: None,
        user_agent: Some("ua".into()),
        updated_at: 10,
    }
}

fn flow(aor: &str, contact: &str, reg_id: u32) -> Binding {
    Binding {
        instance: Some("<urn:uuid:1>".into()),
        reg_id: Some(reg_id),
        ..binding(aor, contact, 1000)
    }
}

/// The behaviour every store must have.
fn store_suite<S: LocationStore>(s: &S) {
    let a = "sip:alice@example.com";
    let b = "sip:bob@example.com";
    assert!(s.get(a).unwrap().is_empty());
    assert_eq!(s.count().unwrap(), 0);

    // Put adds; a Put with the same key replaces.
    let l = s
        .apply(
            a,
            &[
                Change::Put(binding(a, "sip:a1@h", 100)),
                Change::Put(binding(a, "sip:a2@h", 200)),
            ],
        )
        .unwrap();
    assert_eq!(l.len(), 2);
    let l = s
        .apply(a, &[Change::Put(binding(a, "sip:a1@h", 150))])
        .unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(s.get(a).unwrap(), l);
    assert_eq!(
        l.iter()
            .find(|x| x.contact_uri == "sip:a1@h")
            .unwrap()
            .expires_at,
        150
    );
    // Every field survives the store.
    assert_eq!(
        s.get(a).unwrap()[1],
        binding(a, "sip:a2@h", 200),
        "round trip"
    );

    // Flow keys: same instance + reg-id replaces whatever the contact.
    s.apply(b, &[Change::Put(flow(b, "sip:b@1.1.1.1:1", 1))])
        .unwrap();
    let l = s
        .apply(b, &[Change::Put(flow(b, "sip:b@2.2.2.2:2", 1))])
        .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].contact_uri, "sip:b@2.2.2.2:2");
    let l = s
        .apply(b, &[Change::Put(flow(b, "sip:b@3.3.3.3:3", 2))])
        .unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(s.aors().unwrap(), [a, b]);
    assert_eq!(s.count().unwrap(), 4);

    // Remove by key; several changes apply atomically in order.
    let l = s
        .apply(
            b,
            &[
                Change::Remove(BindingKey::Flow {
                    instance: "<urn:uuid:1>".into(),
                    reg_id: 1,
                }),
                Change::Put(binding(b, "sip:plain@h", 500)),
                Change::Remove(BindingKey::Contact("sip:nothere@h".into())),
            ],
        )
        .unwrap();
    assert_eq!(l.len(), 2);
    let l = s
        .apply(
            b,
            &[Change::RemoveAll, Change::Put(binding(b, "sip:z@h", 50))],
        )
        .unwrap();
    assert_eq!(l.len(), 1);
    let l = s
        .apply(b, &[Change::Remove(BindingKey::Contact("sip:z@h".into()))])
        .unwrap();
    assert!(l.is_empty());
    assert_eq!(s.aors().unwrap(), [a], "an AOR without bindings disappears");

    // Purge: expires_at <= now goes.
    s.apply(b, &[Change::Put(binding(b, "sip:b9@h", 400))])
        .unwrap();
    assert_eq!(s.count().unwrap(), 3);
    assert_eq!(s.purge_expired(149).unwrap(), 0);
    assert_eq!(s.purge_expired(150).unwrap(), 1);
    assert_eq!(s.count().unwrap(), 2);
    assert_eq!(s.purge_expired(1000).unwrap(), 2);
    assert_eq!(s.count().unwrap(), 0);
    assert!(s.aors().unwrap().is_empty());
    assert_eq!(s.purge_expired(1000).unwrap(), 0);
}

#[test]
fn memory_store_suite() {
    store_suite(&MemoryStore::new());
}

#[test]
fn redb_store_suite() {
    let dir = TempDir::new("suite");
    store_suite(&RedbStore::open(&dir.0).unwrap());
}

#[test]
fn redb_store_suite_per_apply() {
    let dir = TempDir::new("suite-per");
    store_suite(&RedbStore::open_with(&dir.0, CommitMode::PerApply).unwrap());
}

#[test]
fn redb_store_suite_with_window() {
    let dir = TempDir::new("suite-win");
    let mode = CommitMode::Group {
        max_batch: 8,
        window: Duration::from_millis(1),
    };
    store_suite(&RedbStore::open_with(&dir.0, mode).unwrap());
}

fn open_redb(dir: &Path) -> DurableStore {
    RedbStore::open(dir).unwrap().into()
}

fn open_log(dir: &Path) -> DurableStore {
    LogStore::open(dir).unwrap().into()
}

fn reopen_keeps_bindings_and_expiry(open: fn(&Path) -> DurableStore, file: &str) {
    let dir = TempDir::new("reopen");
    let aor = "sip:carol@example.com";
    let written = {
        let s = open(&dir.0);
        s.apply(
            aor,
            &[
                Change::Put(binding(aor, "sip:c1@h", 1_900_000_000)),
                Change::Put(flow(aor, "sip:c2@h", 3)),
            ],
        )
        .unwrap()
    };
    let s = open(&dir.0);
    let read = s.get(aor).unwrap();
    assert_eq!(read, written);
    assert_eq!(read[0].expires_at, 1_900_000_000);
    assert_eq!(s.count().unwrap(), 2);
    assert!(s.path().ends_with(file));
}

#[test]
fn log_store_suite() {
    let dir = TempDir::new("log-suite");
    store_suite(&LogStore::open(&dir.0).unwrap());
}

#[test]
fn log_store_suite_per_apply() {
    let dir = TempDir::new("log-suite-per");
    store_suite(&LogStore::open_with(&dir.0, CommitMode::PerApply).unwrap());
}

#[test]
fn log_store_suite_with_window() {
    let dir = TempDir::new("log-suite-win");
    let mode = CommitMode::Group {
        max_batch: 8,
        window: Duration::from_millis(1),
    };
    store_suite(&LogStore::open_with(&dir.0, mode).unwrap());
}

/// The suite again after a reopen of every step's store: what the log
/// replays is what was written (removals and purges included).
#[test]
fn log_store_suite_survives_reopen() {
    let dir = TempDir::new("log-suite-reopen");
    store_suite(&LogStore::open(&dir.0).unwrap());
    let s = LogStore::open(&dir.0).unwrap();
    assert_eq!(s.count().unwrap(), 0, "purged and removed AORs stay gone");
    assert_eq!(s.dropped_on_open(), 0);
    store_suite(&s);
}

#[test]
fn redb_reopen_keeps_bindings_and_expiry() {
    reopen_keeps_bindings_and_expiry(open_redb, "bindings.redb");
}

#[test]
fn log_reopen_keeps_bindings_and_expiry() {
    reopen_keeps_bindings_and_expiry(open_log, "bindings.log");
}

/// Many threads applying at once: all acknowledged, all present, and the
/// writer needed fewer commits than applies.
#[test]
fn redb_group_commit_concurrent() {
    group_commit_concurrent(open_redb);
}

#[test]
fn log_group_commit_concurrent() {
    group_commit_concurrent(open_log);
}

fn group_commit_concurrent(open: fn(&Path) -> DurableStore) {
    let dir = TempDir::new("group");
    let store = Arc::new(open(&dir.0));
    const THREADS: usize = 8;
    const PER: usize = 40;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..PER {
                    // Half to a shared AOR (ordering inside one AOR), half to own AORs.
                    let aor = if i % 2 == 0 {
                        "sip:shared@example.com".to_string()
                    } else {
                        format!("sip:u{t}-{i}@example.com")
                    };
                    let contact = format!("sip:t{t}-{i}@10.0.0.1");
                    let l = store
                        .apply(&aor, &[Change::Put(binding(&aor, &contact, 5000))])
                        .unwrap();
                    assert!(l.iter().any(|b| b.contact_uri == contact));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.count().unwrap(), THREADS * PER);
    assert_eq!(
        store.get("sip:shared@example.com").unwrap().len(),
        THREADS * PER / 2
    );
    let stats = store.stats();
    assert_eq!(stats.applies, (THREADS * PER) as u64);
    eprintln!("group commit: {stats:?}");
    assert!(
        stats.commits < stats.applies,
        "batching happened: {stats:?}"
    );
    // Pipelined submits from one thread.
    let pending: Vec<_> = (0..100)
        .map(|i| {
            let aor = format!("sip:p{i}@example.com");
            store.submit(&aor, vec![Change::Put(binding(&aor, "sip:x@h", 5000))])
        })
        .collect();
    for p in pending {
        assert_eq!(p.wait().unwrap().len(), 1);
    }
    assert_eq!(store.count().unwrap(), THREADS * PER + 100);
    drop(store);
    let reopened = open(&dir.0);
    assert_eq!(reopened.count().unwrap(), THREADS * PER + 100);
}

#[test]
fn redb_per_apply_commits_each() {
    per_apply_commits_each(|d| {
        RedbStore::open_with(d, CommitMode::PerApply)
            .unwrap()
            .into()
    });
}

#[test]
fn log_per_apply_commits_each() {
    per_apply_commits_each(|d| LogStore::open_with(d, CommitMode::PerApply).unwrap().into());
}

fn per_apply_commits_each(open: fn(&Path) -> DurableStore) {
    let dir = TempDir::new("per");
    let store = open(&dir.0);
    let pending: Vec<_> = (0..20)
        .map(|i| {
            let aor = format!("sip:p{i}@example.com");
            store.submit(&aor, vec![Change::Put(binding(&aor, "sip:x@h", 5000))])
        })
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
    let stats = store.stats();
    assert_eq!((stats.commits, stats.applies), (20, 20));
}

/// The registrar end to end over redb, across a restart.
#[test]
fn register_over_redb_survives_restart() {
    register_survives_restart(open_redb);
}

/// The registrar end to end over the log, across a restart.
#[test]
fn register_over_log_survives_restart() {
    register_survives_restart(open_log);
}

fn register_survives_restart(open: fn(&Path) -> DurableStore) {
    use sipline_message::Message;
    use sipline_registrar::{register, Registrar};
    let dir = TempDir::new("e2e");
    let m = Message::parse(
        &b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
To: <sip:dave@example.com>\r\nFrom: <sip:dave@example.com>;tag=1\r\nCall-ID: x\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:d@192.0.2.4>;expires=600\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .unwrap();
    {
        let s = open(&dir.0);
        let r = register(&Registrar::default(), &s, 1000, &m, &Default::default()).unwrap();
        assert!(r.to_string().starts_with("SIP/2.0 200 OK"));
    }
    let s = open(&dir.0);
    let b = s.get("sip:dave@example.com").unwrap();
    assert_eq!(b[0].expires_at, 1600);
    assert_eq!(s.purge_expired(1600).unwrap(), 1);
}

/// `submit_replace_then`: the AOR's whole list is written as given (the
/// old one is not read), acknowledged after the commit, survives a reopen,
/// and an empty list removes the AOR. Other AORs are untouched.
#[test]
fn redb_replace_writes_the_whole_list() {
    replace_writes_the_whole_list(open_redb);
}

#[test]
fn log_replace_writes_the_whole_list() {
    replace_writes_the_whole_list(open_log);
}

fn replace_writes_the_whole_list(open: fn(&Path) -> DurableStore) {
    let dir = TempDir::new("replace");
    let aor = "sip:dave@example.com";
    let other = "sip:erin@example.com";
    let replace = |s: &DurableStore, list: &[Binding]| {
        let (tx, rx) = std::sync::mpsc::channel();
        s.submit_replace_then(aor, EncodedBindings::new(list), move |r| {
            let _ = tx.send(r);
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    };
    let two = vec![
        binding(aor, "sip:d1@h", 1_900_000_000),
        flow(aor, "sip:d2@h", 2),
    ];
    {
        let s = open(&dir.0);
        s.apply(
            other,
            &[Change::Put(binding(other, "sip:e@h", 1_900_000_000))],
        )
        .unwrap();
        s.apply(
            aor,
            &[Change::Put(binding(aor, "sip:old@h", 1_900_000_000))],
        )
        .unwrap();
        replace(&s, &two);
        assert_eq!(s.get(aor).unwrap(), two, "replaced, not merged");
        assert_eq!(s.stats().applies, 3);
    }
    let s = open(&dir.0);
    assert_eq!(s.get(aor).unwrap(), two, "durable");
    replace(&s, &[]);
    assert!(s.get(aor).unwrap().is_empty());
    assert_eq!(s.aors().unwrap(), vec![other.to_string()], "removed");
}

fn put(s: &LogStore, aor: &str, contact: &str) {
    s.apply(aor, &[Change::Put(binding(aor, contact, 1_900_000_000))])
        .unwrap();
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// A crash mid-append leaves a torn record at the end: reopening keeps
/// every record before it, cuts the file there, and later appends survive
/// another reopen.
#[test]
fn log_torn_tail_is_cut_off() {
    let dir = TempDir::new("log-torn");
    let (path, lens) = {
        let s = LogStore::open(&dir.0).unwrap();
        let mut lens = vec![len(s.path())];
        for i in 0..5 {
            put(&s, &format!("sip:u{i}@example.com"), "sip:x@h");
            lens.push(len(s.path()));
        }
        (s.path().to_owned(), lens)
    };
    // Garbage after the last record.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\x20\x00\x00\x00garbage");
    std::fs::write(&path, &bytes).unwrap();
    {
        let s = LogStore::open(&dir.0).unwrap();
        assert_eq!(s.dropped_on_open(), 11);
        assert_eq!(len(&path), lens[5], "cut back to the last good record");
        assert_eq!(s.aors().unwrap().len(), 5);
        put(&s, "sip:after@example.com", "sip:y@h");
    }
    let s = LogStore::open(&dir.0).unwrap();
    assert_eq!(s.dropped_on_open(), 0);
    assert_eq!(s.aors().unwrap().len(), 6);
    assert_eq!(s.get("sip:after@example.com").unwrap().len(), 1);
    drop(s);

    // A record cut in the middle (the last one, written when the crash
    // came): the ones before are kept, it is gone.
    let full = len(&path);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(lens[5] + 7).unwrap();
    drop(f);
    assert!(lens[5] + 7 < full);
    let s = LogStore::open(&dir.0).unwrap();
    assert_eq!(s.dropped_on_open(), 7);
    assert_eq!(len(&path), lens[5]);
    assert_eq!(s.aors().unwrap().len(), 5);
    assert!(s.get("sip:after@example.com").unwrap().is_empty());
    put(&s, "sip:again@example.com", "sip:z@h");
    drop(s);
    let s = LogStore::open(&dir.0).unwrap();
    assert_eq!(s.aors().unwrap().len(), 6);
    assert_eq!(s.get("sip:again@example.com").unwrap().len(), 1);
}

/// A bad CRC in the middle: the records before it are kept, it and every
/// later one dropped (the log is only trusted up to the first bad record).
#[test]
fn log_bad_crc_drops_it_and_what_follows() {
    let dir = TempDir::new("log-crc");
    let (path, lens) = {
        let s = LogStore::open(&dir.0).unwrap();
        let mut lens = vec![len(s.path())];
        for i in 0..4 {
            put(&s, &format!("sip:u{i}@example.com"), "sip:x@h");
            lens.push(len(s.path()));
        }
        (s.path().to_owned(), lens)
    };
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte of the third record's body.
    bytes[lens[2] as usize + 12] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let s = LogStore::open(&dir.0).unwrap();
    assert_eq!(
        s.aors().unwrap(),
        ["sip:u0@example.com", "sip:u1@example.com"]
    );
    assert_eq!(s.dropped_on_open(), lens[4] - lens[2]);
    assert_eq!(len(&path), lens[2]);
}

#[test]
fn log_refuses_a_file_that_is_not_a_log() {
    let dir = TempDir::new("log-magic");
    std::fs::write(dir.0.join("bindings.log"), b"not a log at all").unwrap();
    let e = LogStore::open(&dir.0).unwrap_err().to_string();
    assert!(e.contains("not a sipline binding log"), "{e}");
}

/// With tiny thresholds, rewriting the same AORs again and again makes the
/// writer compact (in steps of a record or two): the file shrinks, appends
/// go on, and a reopen sees the same data.
#[test]
fn log_compacts_and_reopens() {
    let dir = TempDir::new("log-compact");
    let options = LogOptions {
        compact_min_bytes: 4096,
        compact_ratio: 4,
        compact_step_bytes: 200,
        ..LogOptions::default()
    };
    let (before, path, max_len) = {
        let s = LogStore::open_with_options(&dir.0, options).unwrap();
        let mut max_len = 0;
        for round in 0..100 {
            for i in 0..3 {
                let aor = format!("sip:u{i}@example.com");
                s.apply(
                    &aor,
                    &[
                        Change::RemoveAll,
                        Change::Put(binding(&aor, &format!("sip:r{round}@h"), 1_900_000_000)),
                    ],
                )
                .unwrap();
                max_len = max_len.max(len(s.path()));
            }
        }
        put(&s, "sip:last@example.com", "sip:l@h");
        s.apply("sip:u2@example.com", &[Change::RemoveAll]).unwrap();
        assert!(s.compactions() > 0, "compacted");
        let mut all = Vec::new();
        for aor in s.aors().unwrap() {
            all.push((aor.clone(), s.get(&aor).unwrap()));
        }
        (all, s.path().to_owned(), max_len)
    };
    // Never far above the threshold (each record is ~150 bytes).
    assert!(max_len < 4096 + 1024, "file kept small: {max_len}");
    assert!(!dir.0.join("bindings.log.tmp").exists());
    assert_eq!(before.len(), 3);
    assert_eq!(before[0].1[0].contact_uri, "sip:l@h");
    assert_eq!(before[1].1[0].contact_uri, "sip:r99@h");
    let s = LogStore::open_with_options(&dir.0, options).unwrap();
    assert_eq!(s.dropped_on_open(), 0);
    let mut after = Vec::new();
    for aor in s.aors().unwrap() {
        after.push((aor.clone(), s.get(&aor).unwrap()));
    }
    assert_eq!(after, before);
    assert!(len(&path) < 4096 + 1024);
}

/// A compaction goes on step by step while no change comes in: it ends,
/// and the file shrinks, without another job to drive it.
#[test]
fn log_finishes_a_compaction_while_idle() {
    let dir = TempDir::new("log-idle-compact");
    let options = LogOptions {
        compact_min_bytes: 8192,
        compact_ratio: 2,
        compact_step_bytes: 64,
        ..LogOptions::default()
    };
    let s = LogStore::open_with_options(&dir.0, options).unwrap();
    let tmp = dir.0.join("bindings.log.tmp");
    let mut round = 0;
    // Rewrite 40 AORs until a compaction is seen under way (each step
    // copies one record, so it takes ~40 steps).
    while !tmp.exists() {
        for i in 0..40 {
            let aor = format!("sip:u{i}@example.com");
            let contact = format!("sip:r{round}@h");
            s.apply(
                &aor,
                &[
                    Change::RemoveAll,
                    Change::Put(binding(&aor, &contact, 1_900_000_000)),
                ],
            )
            .unwrap();
            if tmp.exists() {
                break;
            }
        }
        round += 1;
        assert!(round < 1000, "no compaction started");
    }
    let (before, size) = (s.compactions(), len(s.path()));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.compactions() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the compaction did not end while idle"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!tmp.exists());
    assert!(len(s.path()) < size, "{} < {size}", len(s.path()));
    assert_eq!(s.aors().unwrap().len(), 40);
}

/// A data directory of the earlier default store (redb) is taken over by
/// the log on its first start: every AOR's bindings, expiry times included,
/// and the database kept aside, not read again.
#[test]
fn log_imports_a_redb_database_once() {
    let dir = TempDir::new("log-import");
    let aors = [
        "sip:a@example.com",
        "sip:b@example.com",
        "sip:c@example.com",
    ];
    let written: Vec<Vec<Binding>> = {
        let s = RedbStore::open(&dir.0).unwrap();
        aors.iter()
            .enumerate()
            .map(|(i, aor)| {
                let mut changes = vec![Change::Put(binding(
                    aor,
                    "sip:x@h",
                    1_900_000_000 + i as u64,
                ))];
                if i == 1 {
                    changes.push(Change::Put(flow(aor, "sip:y@h", 2)));
                }
                s.apply(aor, &changes).unwrap()
            })
            .collect()
    };
    let (s, imported) = LogStore::open_importing_redb(&dir.0).unwrap();
    assert_eq!(imported, 3);
    for (aor, bindings) in aors.iter().zip(&written) {
        assert_eq!(&s.get(aor).unwrap(), bindings, "{aor}");
    }
    assert_eq!(s.count().unwrap(), 4);
    assert!(!dir.0.join(sipline_registrar::DB_FILE).exists());
    assert!(dir.0.join(sipline_registrar::IMPORTED_DB_FILE).exists());
    // Changes after the import are the log's; a second open imports nothing.
    put(&s, aors[0], "sip:z@h");
    drop(s);
    let (s, imported) = LogStore::open_importing_redb(&dir.0).unwrap();
    assert_eq!(imported, 0);
    assert_eq!(s.get(aors[0]).unwrap().len(), 2);
    assert_eq!(s.count().unwrap(), 5);
    drop(s);
    // A log already there wins over a database put back beside it.
    std::fs::rename(
        dir.0.join(sipline_registrar::IMPORTED_DB_FILE),
        dir.0.join(sipline_registrar::DB_FILE),
    )
    .unwrap();
    let (s, imported) = LogStore::open_importing_redb(&dir.0).unwrap();
    assert_eq!(imported, 0);
    assert_eq!(s.count().unwrap(), 5);
}

/// An empty directory: nothing to import, a new log.
#[test]
fn log_import_without_a_database_opens_a_new_log() {
    let dir = TempDir::new("log-import-none");
    let (s, imported) = LogStore::open_importing_redb(&dir.0).unwrap();
    assert_eq!(imported, 0);
    assert_eq!(s.count().unwrap(), 0);
    assert!(s.path().exists());
}

/// One log store per data directory: a second open (another process, or
/// another store in this one) is refused while the first is open, with an
/// error that says so, and works once it is closed. Importing takes the
/// lock too.
#[test]
fn log_data_directory_is_locked_while_open() {
    let dir = TempDir::new("log-lock");
    let first = LogStore::open(&dir.0).unwrap();
    put(&first, "sip:a@example.com", "sip:a@h");
    let e = LogStore::open(&dir.0).unwrap_err().to_string();
    assert!(e.contains("in use"), "{e}");
    assert!(e.contains(sipline_registrar::LOCK_FILE), "{e}");
    let e = LogStore::open_importing_redb(&dir.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("in use"), "{e}");
    drop(first);
    let second = LogStore::open(&dir.0).unwrap();
    assert_eq!(second.count().unwrap(), 1);
}
