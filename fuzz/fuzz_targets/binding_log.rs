//! The registrar's append-only binding log (`LogStore`) opened on any file
//! contents: what a crash, a full disk or a stray write can leave behind.
//! Opening never panics; it refuses a file that is not a log, or keeps the
//! longest valid prefix of records and cuts the rest off; every stored
//! value then decodes or fails cleanly; and recovery is idempotent: a
//! second open drops nothing and sees the same addresses of record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_registrar::{LocationStore, LogStore, LOG_FILE};

const MAGIC: &[u8] = b"SIPLOG01";

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("sipline-fuzz-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(LOG_FILE);
    // An even first byte puts the header in front, so that most inputs
    // reach the records.
    let mut bytes = Vec::new();
    match data.split_first() {
        Some((b, rest)) if b & 1 == 0 => {
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(rest);
        }
        _ => bytes.extend_from_slice(data),
    }
    std::fs::write(&path, &bytes).unwrap();
    let Ok(store) = LogStore::open(&dir) else {
        // Refused: the file is left as it was.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        return;
    };
    let kept = std::fs::read(&path).unwrap();
    if MAGIC.starts_with(&bytes) {
        // Nothing or a cut header: a new log.
        assert_eq!(kept, MAGIC);
    } else {
        assert!(bytes.starts_with(&kept), "the kept file is a prefix");
        assert_eq!(store.dropped_on_open(), (bytes.len() - kept.len()) as u64);
    }
    let aors = store.aors().unwrap();
    for aor in &aors {
        let _ = store.get(aor);
    }
    let count = store.count().ok();
    drop(store);
    let again = LogStore::open(&dir).unwrap();
    assert_eq!(again.dropped_on_open(), 0);
    assert_eq!(again.aors().unwrap(), aors);
    assert_eq!(again.count().ok(), count);
});
