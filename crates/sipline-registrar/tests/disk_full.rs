//! The log store on a full disk: a small tmpfs mounted for the test (as
//! root, or through `sudo -n`; skipped, and said so, where neither works).
//! Appends that do not fit fail without losing or tearing anything, a
//! compaction that does not fit leaves the old log in use, and both work
//! again once there is room.

use sipline_registrar::{Binding, Change, LocationStore, LogOptions, LogStore};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a few pages, unmounted on drop.
struct SmallFs {
    path: PathBuf,
    sudo: bool,
}

impl SmallFs {
    fn mount(tag: &str, kib: u32) -> Option<Self> {
        let path =
            std::env::temp_dir().join(format!("sipline-diskfull-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let opts = format!("size={kib}k,mode=0777");
        for sudo in [false, true] {
            let mut cmd = if sudo {
                let mut c = Command::new("sudo");
                c.args(["-n", "mount"]);
                c
            } else {
                Command::new("mount")
            };
            let ok = cmd
                .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(Self { path, sudo });
            }
        }
        let _ = std::fs::remove_dir(&path);
        eprintln!("skipped: cannot mount a tmpfs here (needs root or sudo -n)");
        None
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let mut cmd = if self.sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "umount"]);
            c
        } else {
            Command::new("umount")
        };
        let _ = cmd.arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Fills the file system: a file written until ENOSPC, minus `leave` bytes
/// cut off its end again.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let page = [0x55u8; 4096];
    loop {
        match f.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "{e}");
                break;
            }
        }
    }
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    path
}

fn binding(aor: &str, contact: &str) -> Binding {
    Binding {
        aor: aor.into(),
        contact_uri: contact.into(),
        params: vec![],
        q: None,
        expires_at: 1_900_000_000,
        call_id: "cid".into(),
        cseq: 1,
        path: vec![],
        instance: None,
        reg_id: None,
        source: None,
        user_agent: Some("ua".into()),
        updated_at: 10,
    }
}

fn set(s: &LogStore, aor: &str, contact: &str) -> Result<Vec<Binding>, String> {
    s.apply(
        aor,
        &[Change::RemoveAll, Change::Put(binding(aor, contact))],
    )
    .map_err(|e| e.to_string())
}

/// Every AOR's bindings, sorted by AOR.
fn all(s: &LogStore) -> Vec<(String, Vec<Binding>)> {
    s.aors()
        .unwrap()
        .into_iter()
        .map(|aor| {
            let b = s.get(&aor).unwrap();
            (aor, b)
        })
        .collect()
}

/// Appends fail with ENOSPC once the disk is full, and keep failing, with
/// nothing torn: a reopen finds exactly the acknowledged bindings and cuts
/// nothing off. With room again, appends succeed without a restart.
#[test]
fn appends_fail_cleanly_on_a_full_disk_and_resume() {
    let Some(fs) = SmallFs::mount("append", 256) else {
        return;
    };
    let data = fs.path.join("data");
    let s = LogStore::open(&data).unwrap();
    // (This contact's length puts no record end on a page boundary.)
    set(&s, "sip:first@example.com", "sip:first-contact@h").unwrap();
    let filler = fill(&fs.path, 0);
    // The log's last page may still hold a few records.
    let mut failed = None;
    for i in 0..200 {
        let aor = format!("sip:u{i}@example.com");
        if let Err(e) = set(&s, &aor, "sip:x@h") {
            failed = Some((aor, e));
            break;
        }
    }
    let (lost_aor, e) = failed.expect("an append failed once the disk was full");
    assert!(e.contains("No space left on device"), "{e}");
    // The last page had room for part of the record: the write was cut
    // short there, and that part was cut off again.
    let log_len = std::fs::metadata(s.path()).unwrap().len();
    assert_ne!(
        log_len % 4096,
        0,
        "the failed record fitted no part of a page"
    );
    // Still full: the next ones fail too, the store keeps reading.
    assert!(set(&s, "sip:later@example.com", "sip:y@h").is_err());
    assert!(s.get(&lost_aor).unwrap().is_empty());
    assert_eq!(s.get("sip:first@example.com").unwrap().len(), 1);
    let before_room = all(&s);

    // Room again: appends succeed, no restart needed.
    std::fs::remove_file(&filler).unwrap();
    set(&s, &lost_aor, "sip:z@h").unwrap();
    let acknowledged = all(&s);
    assert_eq!(acknowledged.len(), before_room.len() + 1);
    drop(s);

    let s = LogStore::open(&data).unwrap();
    assert_eq!(s.dropped_on_open(), 0, "nothing torn");
    assert_eq!(all(&s), acknowledged);
    drop(s);
    drop(fs);
}

/// A compaction whose new log does not fit is given up: the tmp file goes,
/// the old log stays in use and takes appends; with room again, the next
/// compaction goes through, and a reopen sees the same bindings.
#[test]
fn a_compaction_that_does_not_fit_leaves_the_old_log() {
    let Some(fs) = SmallFs::mount("compact", 512) else {
        return;
    };
    let data = fs.path.join("data");
    let aors: Vec<String> = (0..200).map(|i| format!("sip:u{i}@example.com")).collect();
    // Three rounds with compaction off: the log is ~3 times the live data.
    let off = LogOptions {
        compact_min_bytes: u64::MAX,
        ..LogOptions::default()
    };
    let s = LogStore::open_with_options(&data, off).unwrap();
    for round in 0..3 {
        for aor in &aors {
            set(&s, aor, &format!("sip:r{round}@h")).unwrap();
        }
    }
    let live_len = std::fs::metadata(s.path()).unwrap().len() / 3;
    drop(s);
    // Two pages free: room for appends, not for a copy of the live data.
    assert!(live_len > 3 * 4096, "live data {live_len} bytes");
    let filler = fill(&fs.path, 2 * 4096);
    let on = LogOptions {
        compact_min_bytes: 4096,
        compact_ratio: 2,
        ..LogOptions::default()
    };
    let s = LogStore::open_with_options(&data, on).unwrap();
    for aor in &aors[..20] {
        set(&s, aor, "sip:full@h").unwrap();
    }
    assert_eq!(s.compactions(), 0);
    // Each batch tries again after its acknowledgement; the last try's
    // tmp file goes when it fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while data.join("bindings.log.tmp").exists() {
        assert!(std::time::Instant::now() < deadline, "tmp file left");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(s.compactions(), 0);
    assert!(s.compactions_failed() > 0, "the failures are counted");
    // ... with why, for the server's warning
    let why = s.last_compaction_error().expect("the last failure's error");
    assert!(
        why.contains("bindings.log.tmp") && why.contains("No space left"),
        "{why}"
    );
    let size = std::fs::metadata(s.path()).unwrap().len();

    std::fs::remove_file(&filler).unwrap();
    set(&s, &aors[20], "sip:room@h").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.compactions() == 0 {
        assert!(std::time::Instant::now() < deadline, "no compaction");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(std::fs::metadata(s.path()).unwrap().len() < size);
    let acknowledged = all(&s);
    assert_eq!(acknowledged.len(), 200);
    assert_eq!(acknowledged[0].1[0].contact_uri, "sip:full@h");
    drop(s);
    let s = LogStore::open(&data).unwrap();
    assert_eq!(s.dropped_on_open(), 0);
    assert_eq!(all(&s), acknowledged);
    drop(s);
    drop(fs);
}
