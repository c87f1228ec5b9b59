//! One test suite for every `LocationStore`, plus redb specifics: reopen,
//! group commit under concurrency.

use sipline_registrar::{
    Binding, BindingKey, Change, CommitMode, ContactParam, EncodedBindings, LocationStore,
    MemoryStore, RedbStore,
};
use std::path::PathBuf;
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

#[test]
fn redb_reopen_keeps_bindings_and_expiry() {
    let dir = TempDir::new("reopen");
    let aor = "sip:carol@example.com";
    let written = {
        let s = RedbStore::open(&dir.0).unwrap();
        s.apply(
            aor,
            &[
                Change::Put(binding(aor, "sip:c1@h", 1_900_000_000)),
                Change::Put(flow(aor, "sip:c2@h", 3)),
            ],
        )
        .unwrap()
    };
    let s = RedbStore::open(&dir.0).unwrap();
    let read = s.get(aor).unwrap();
    assert_eq!(read, written);
    assert_eq!(read[0].expires_at, 1_900_000_000);
    assert_eq!(s.count().unwrap(), 2);
    assert!(s.path().ends_with("bindings.redb"));
}

/// Many threads applying at once: all acknowledged, all present, and the
/// writer needed fewer commits than applies.
#[test]
fn redb_group_commit_concurrent() {
    let dir = TempDir::new("group");
    let store = Arc::new(RedbStore::open(&dir.0).unwrap());
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
    let reopened = RedbStore::open(&dir.0).unwrap();
    assert_eq!(reopened.count().unwrap(), THREADS * PER + 100);
}

#[test]
fn redb_per_apply_commits_each() {
    let dir = TempDir::new("per");
    let store = RedbStore::open_with(&dir.0, CommitMode::PerApply).unwrap();
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
        let s = RedbStore::open(&dir.0).unwrap();
        let r = register(&Registrar::default(), &s, 1000, &m, &Default::default()).unwrap();
        assert!(r.to_string().starts_with("SIP/2.0 200 OK"));
    }
    let s = RedbStore::open(&dir.0).unwrap();
    let b = s.get("sip:dave@example.com").unwrap();
    assert_eq!(b[0].expires_at, 1600);
    assert_eq!(s.purge_expired(1600).unwrap(), 1);
}

/// `submit_replace_then`: the AOR's whole list is written as given (the
/// old one is not read), acknowledged after the commit, survives a reopen,
/// and an empty list removes the AOR. Other AORs are untouched.
#[test]
fn redb_replace_writes_the_whole_list() {
    let dir = TempDir::new("replace");
    let aor = "sip:dave@example.com";
    let other = "sip:erin@example.com";
    let replace = |s: &RedbStore, list: &[Binding]| {
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
        let s = RedbStore::open(&dir.0).unwrap();
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
    let s = RedbStore::open(&dir.0).unwrap();
    assert_eq!(s.get(aor).unwrap(), two, "durable");
    replace(&s, &[]);
    assert!(s.get(aor).unwrap().is_empty());
    assert_eq!(s.aors().unwrap(), vec![other.to_string()], "removed");
}
