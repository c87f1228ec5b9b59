//! A durable [`LocationStore`] as an append-only log, with group commit.
//!
//! The truth is in memory: a map AOR → encoded bindings
//! ([`crate::encode_bindings`]). Every write is a record appended to
//! `bindings.log` in the data directory; the writer thread groups jobs like
//! [`crate::RedbStore`]'s (see [`CommitMode`]), appends all the records of a
//! batch with one `write`, makes them durable with one `fdatasync`, and only
//! then updates the map and replies to each job. Readers
//! ([`LocationStore::get`], [`LocationStore::aors`], [`LocationStore::count`])
//! read the map and so see only durable data.
//!
//! # File format
//!
//! An 8-byte header `SIPLOG01`, then records:
//! `u32 body length (LE) | u32 CRC-32 of the body (LE) | body`, the body
//! being `u16 AOR length (LE) | AOR | value` (an empty value removes the
//! AOR). The last record of an AOR wins.
//!
//! # Recovery
//!
//! Opening reads the records in order and stops at the first one that is
//! cut short, fails its CRC, is longer than 16 MiB or is malformed; the file
//! is truncated there and synced. Only a batch that was never acknowledged
//! can be torn by a crash, so nothing acknowledged is lost; what was dropped
//! is reported by [`LogStore::dropped_on_open`].
//!
//! # Compaction
//!
//! When the file is larger than both [`LogOptions::compact_min_bytes`] and
//! [`LogOptions::compact_ratio`] times the live data (AOR and value bytes),
//! the writer starts a new log, `bindings.log.tmp`, and fills it in steps
//! from the map, which holds every live AOR (nothing is read back from the
//! old log): after each batch, and while no job is waiting, it copies
//! about [`LogOptions::compact_step_bytes`] of the map's entries in the
//! map's order, and syncs them. Meanwhile every batch is still appended to
//! the old log, which stays the one that counts until the switch, and its
//! records are also written to the new one, so that an AOR already copied
//! gets its later changes. When the last entry is copied, the new log is
//! synced, renamed over `bindings.log`, the directory is synced, and the
//! writer goes on appending to the new file. A crash at any point leaves
//! either the old log or the whole new one; a `bindings.log.tmp` left over
//! is never read, and is removed when the store opens.
//!
//! The map is an [`IndexMap`]: its order stays put except where an entry is
//! removed, which moves the last entry into the hole (`swap_remove`); an
//! entry moved from the part not yet copied into the part already copied is
//! written to the new log at once.
//!
//! So acknowledgements wait for one step at a time, not for the whole
//! store to be rewritten, however many AORs it holds.
//!
//! # Failures
//!
//! If appending or syncing a batch fails, every job of the batch fails with
//! [`StoreError::Backend`], the map is left as it was and the file is cut
//! back to its length before the batch. If even that fails, the store stops
//! writing: every later job fails (reads keep working).

use crate::binding::{
    apply_changes, decode_bindings, encode_bindings, may_have_expired, Binding, Change,
};
use crate::store::{LocationStore, StoreError};
use crate::writer::{backend, reply_committed, reply_failed, Counters, Job, Outcome, Writer};
use crate::writer::{CommitMode, CommitStats, EncodedBindings, PendingApply};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// The log file inside the data directory.
pub const LOG_FILE: &str = "bindings.log";

/// The first bytes of a log file.
const MAGIC: &[u8; 8] = b"SIPLOG01";

/// A record body longer than this is taken for garbage.
const MAX_RECORD: usize = 16 << 20;

/// Record header: body length and CRC.
const RECORD_HEADER: usize = 8;

/// The default [`LogOptions::compact_min_bytes`].
pub const DEFAULT_COMPACT_MIN_BYTES: u64 = 16 << 20;

/// The default [`LogOptions::compact_ratio`].
pub const DEFAULT_COMPACT_RATIO: u64 = 4;

/// The default [`LogOptions::compact_step_bytes`].
pub const DEFAULT_COMPACT_STEP_BYTES: u64 = 1 << 20;

/// How a [`LogStore`] commits and when it compacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// How the writer groups jobs into appends.
    pub mode: CommitMode,
    /// Compact only once the file is larger than this ...
    pub compact_min_bytes: u64,
    /// ... and larger than this many times the live data.
    pub compact_ratio: u64,
    /// A compaction copies about this many bytes of records into the new
    /// log at each step (see the module docs).
    pub compact_step_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            mode: CommitMode::default(),
            compact_min_bytes: DEFAULT_COMPACT_MIN_BYTES,
            compact_ratio: DEFAULT_COMPACT_RATIO,
            compact_step_bytes: DEFAULT_COMPACT_STEP_BYTES,
        }
    }
}

/// AOR → encoded bindings. foldhash: the keys are AORs of this server's
/// own users, and the map is read and written on every REGISTER. Indexed,
/// for compaction's steps (see the module docs).
type Map = IndexMap<String, Vec<u8>, foldhash::fast::RandomState>;

/// Bindings in memory, written through to an append-only log in a data
/// directory with group commit (see the module docs).
pub struct LogStore {
    map: Arc<RwLock<Map>>,
    writer: Writer,
    compactions: Arc<AtomicU64>,
    compactions_failed: Arc<AtomicU64>,
    compaction_error: Arc<Mutex<Option<String>>>,
    dropped_on_open: u64,
    path: PathBuf,
    /// [`LOCK_FILE`], locked for as long as the store is open; dropped
    /// last, after the writer thread has finished.
    _lock: File,
}

/// The file in the data directory that a [`LogStore`] holds an exclusive
/// lock on (`flock`) while it is open: two processes appending to one log
/// would interleave their records, and the next start would cut the log
/// at the first record that fails its CRC. Not the log itself, which
/// compaction replaces.
pub const LOCK_FILE: &str = "bindings.log.lock";

/// Takes the data directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Backend(format!(
            "{} is in use by another process (or another store in this one): {} is locked",
            dir.display(),
            LOCK_FILE
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!(
            "locking {}: {e}",
            path.display()
        ))),
    }
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`; `crc32fast` uses the
/// CPU's carry-less multiply where it has one).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Appends one record to `out`. AORs longer than 65,535 bytes cannot be
/// stored.
fn push_record(out: &mut Vec<u8>, aor: &str, value: &[u8]) -> Result<(), StoreError> {
    let aor_len = u16::try_from(aor.len())
        .map_err(|_| StoreError::Backend(format!("AOR of {} bytes is too long", aor.len())))?;
    let body_len = 2 + aor.len() + value.len();
    if body_len > MAX_RECORD {
        return Err(StoreError::Backend(format!(
            "record of {body_len} bytes is too long"
        )));
    }
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&aor_len.to_le_bytes());
    out.extend_from_slice(aor.as_bytes());
    out.extend_from_slice(value);
    let crc = crc32(&out[start + RECORD_HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Replays the records of a log's contents (after the header), read from
/// `r` record by record (a large log is never all in memory), into `map`;
/// returns how many bytes are valid records: the rest is a torn or corrupt
/// tail. An I/O error is returned as such, not taken for the end of the
/// valid records (which would cut good records off).
pub(crate) fn replay(mut r: impl Read, map: &mut Map) -> std::io::Result<u64> {
    let mut valid = 0u64;
    let mut header = [0u8; RECORD_HEADER];
    let mut body = Vec::new();
    loop {
        if !read_full(&mut r, &mut header)? {
            return Ok(valid);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if !(2..=MAX_RECORD).contains(&len) {
            return Ok(valid);
        }
        body.resize(len, 0);
        if !read_full(&mut r, &mut body)? || crc32(&body) != crc {
            return Ok(valid);
        }
        let aor_len = usize::from(u16::from_le_bytes([body[0], body[1]]));
        if 2 + aor_len > body.len() {
            return Ok(valid);
        }
        let Ok(aor) = std::str::from_utf8(&body[2..2 + aor_len]) else {
            return Ok(valid);
        };
        let value = &body[2 + aor_len..];
        if value.is_empty() {
            map.swap_remove(aor);
        } else {
            map.insert(aor.to_owned(), value.to_vec());
        }
        valid += (RECORD_HEADER + len) as u64;
    }
}

/// Fills `buf` from `r`: false if the input ends first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn live_bytes(map: &Map) -> u64 {
    map.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
}

/// Opens the log, creating it, recovering and truncating a torn tail.
/// Returns the file (for appending), the map, and the bytes dropped.
fn open_log(dir: &Path, path: &Path) -> Result<(File, Map, u64), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
    let file_len = file.metadata().map_err(backend)?.len();
    let mut head = Vec::with_capacity(MAGIC.len());
    (&file)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(backend)?;
    let mut map = Map::default();
    if head.len() < MAGIC.len() && MAGIC.starts_with(&head) {
        // New (or its creation was cut short): write the header.
        file.set_len(0).map_err(backend)?;
        file.write_all(MAGIC).map_err(backend)?;
        file.sync_all().map_err(backend)?;
        sync_dir(dir).map_err(backend)?;
        return Ok((file, map, head.len() as u64));
    }
    if head != MAGIC {
        return Err(StoreError::Backend(format!(
            "{} is not a sipline binding log (no SIPLOG01 header)",
            path.display()
        )));
    }
    let records = std::io::BufReader::with_capacity(1 << 20, &file);
    let valid = MAGIC.len() as u64
        + replay(records, &mut map)
            .map_err(|e| StoreError::Backend(format!("reading {}: {e}", path.display())))?;
    let dropped = file_len - valid;
    if dropped > 0 {
        file.set_len(valid).map_err(backend)?;
        file.sync_all().map_err(backend)?;
    }
    Ok((file, map, dropped))
}

/// The writer thread's side of the log.
struct LogWriter {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// The file's length: every byte a valid, durable record.
    len: u64,
    /// Sum of the AOR and value sizes in `map`.
    live: u64,
    map: Arc<RwLock<Map>>,
    options: LogOptions,
    compactions: Arc<AtomicU64>,
    compactions_failed: Arc<AtomicU64>,
    /// Why the last compaction given up was (its I/O error).
    compaction_error: Arc<Mutex<Option<String>>>,
    /// Set when a failed batch could not be cut back off the file.
    broken: Option<String>,
    /// The compaction under way, if any.
    compaction: Option<Compaction>,
}

/// A compaction under way (see the module docs).
struct Compaction {
    /// The new log, `bindings.log.tmp`, open for appending.
    file: File,
    /// Its length.
    len: u64,
    /// The map's entries before this index are in the new log with their
    /// current values.
    next: usize,
}

impl LogWriter {
    /// Opens the log in `dir` (see [`open_log`]); also returns the bytes
    /// cut off its end.
    fn open(dir: &Path, options: LogOptions) -> Result<(Self, u64), StoreError> {
        let path = dir.join(LOG_FILE);
        let (file, map, dropped) = open_log(dir, &path)?;
        // A compaction cut short by a crash: never read, and as large as
        // the live data.
        let tmp = tmp_log_path(&path);
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Backend(format!("{}: {e}", tmp.display())))
            }
            _ => {}
        }
        let len = file.metadata().map_err(backend)?.len();
        let live = live_bytes(&map);
        let writer = LogWriter {
            dir: dir.to_owned(),
            path,
            file,
            len,
            live,
            map: Arc::new(RwLock::new(map)),
            options,
            compactions: Arc::new(AtomicU64::new(0)),
            compactions_failed: Arc::new(AtomicU64::new(0)),
            compaction_error: Arc::new(Mutex::new(None)),
            broken: None,
            compaction: None,
        };
        Ok((writer, dropped))
    }

    fn read_map(&self) -> RwLockReadGuard<'_, Map> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits a batch, then does a step of compaction; returns whether a
    /// compaction is under way (an empty batch only does the step).
    fn commit(&mut self, batch: Vec<Job>, counters: &Counters) -> bool {
        if !batch.is_empty() {
            self.commit_batch(batch, counters);
        }
        if self.compaction.is_none() {
            self.maybe_compact();
        }
        self.compact_step();
        self.compaction.is_some()
    }

    fn commit_batch(&mut self, mut batch: Vec<Job>, counters: &Counters) {
        if let Some(msg) = &self.broken {
            let e = StoreError::Backend(format!("log store stopped writing: {msg}"));
            return reply_failed(batch, &e);
        }
        // The batch's new values in order (the last of an AOR wins); moved
        // out of Replace jobs, whose replies need nothing of them.
        let mut edits: Vec<(String, Vec<u8>)> = Vec::with_capacity(batch.len());
        // Where an AOR's newest edit is, for the jobs that read the AOR's
        // current value (Apply, Purge); not kept for a batch of Replaces.
        let reads = batch.iter().any(|j| !matches!(j, Job::Replace { .. }));
        let mut newest: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
        let mut buf = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let result = (|| -> Result<(), StoreError> {
            for job in &mut batch {
                match job {
                    Job::Apply { aor, changes, .. } => {
                        let current = match newest.get(aor.as_str()) {
                            Some(&i) => decode_bindings(&edits[i].1),
                            None => match self.read_map().get(aor.as_str()) {
                                Some(v) => decode_bindings(v),
                                None => Ok(Vec::new()),
                            },
                        };
                        let mut list = match current {
                            Ok(l) => l,
                            Err(e) => {
                                // Only this job fails; the others commit.
                                outcomes.push(Outcome::Applied(Err(e.into())));
                                continue;
                            }
                        };
                        apply_changes(&mut list, changes);
                        let value = if list.is_empty() {
                            Vec::new()
                        } else {
                            encode_bindings(&list)
                        };
                        push_record(&mut buf, aor, &value)?;
                        newest.insert(aor.clone(), edits.len());
                        edits.push((aor.clone(), value));
                        outcomes.push(Outcome::Applied(Ok(list)));
                    }
                    Job::Replace { aor, value, .. } => {
                        push_record(&mut buf, aor, value)?;
                        if reads {
                            newest.insert(aor.clone(), edits.len());
                        }
                        edits.push((std::mem::take(aor), std::mem::take(value)));
                        outcomes.push(Outcome::Replaced);
                    }
                    Job::Purge { now, .. } => {
                        let mut expired: Vec<(String, Vec<u8>)> = Vec::new();
                        let mut removed = 0;
                        {
                            let map = self.read_map();
                            let current = map
                                .iter()
                                .filter(|(k, _)| !newest.contains_key(k.as_str()))
                                .chain(newest.iter().map(|(k, &i)| (k, &edits[i].1)));
                            for (aor, value) in current {
                                // Only values with something expired are
                                // decoded: a purge every 30 s of 400,000
                                // AORs with none took 173 ms of the writer
                                // thread, decoding them all
                                // (examples/log_compaction.rs).
                                if !may_have_expired(value, *now) {
                                    continue;
                                }
                                // Undecodable values are left for an operator.
                                let Ok(list) = decode_bindings(value) else {
                                    continue;
                                };
                                let keep: Vec<Binding> = list
                                    .iter()
                                    .filter(|b| !b.is_expired(*now))
                                    .cloned()
                                    .collect();
                                if keep.len() != list.len() {
                                    removed += list.len() - keep.len();
                                    let value = if keep.is_empty() {
                                        Vec::new()
                                    } else {
                                        encode_bindings(&keep)
                                    };
                                    expired.push((aor.clone(), value));
                                }
                            }
                        }
                        for (aor, value) in expired {
                            push_record(&mut buf, &aor, &value)?;
                            newest.insert(aor.clone(), edits.len());
                            edits.push((aor, value));
                        }
                        outcomes.push(Outcome::Purged(removed));
                    }
                }
            }
            if !buf.is_empty() {
                self.append(&buf)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                // Entries moved into the copied part of the map.
                let copied = self.compaction.as_ref().map(|c| c.next);
                let mut moved = Vec::new();
                {
                    let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
                    for (aor, value) in edits {
                        let aor_len = aor.len() as u64;
                        let added = value.len() as u64;
                        let old = if value.is_empty() {
                            let removed = map.swap_remove_full(&aor);
                            if let (Some((i, ..)), Some(next)) = (&removed, copied) {
                                // The last entry, from index map.len(), is at i now.
                                if *i < next && next <= map.len() {
                                    moved.push(map.get_index(*i).map(|(k, _)| k.clone()));
                                }
                            }
                            removed.map(|(_, _, old)| old)
                        } else {
                            map.insert(aor, value)
                        };
                        if let Some(old) = old {
                            self.live -= aor_len + old.len() as u64;
                        }
                        if added > 0 {
                            self.live += aor_len + added;
                        }
                    }
                }
                reply_committed(batch, outcomes, counters);
                if let Some(next) = copied {
                    // The batch's records, then the current value of every
                    // entry moved below `next`, go to the new log too.
                    let map = self.read_map();
                    for aor in moved.into_iter().flatten() {
                        if let Some((i, aor, value)) = map.get_full(&aor) {
                            if i < next {
                                // Cannot fail: the record was written before.
                                let _ = push_record(&mut buf, aor, value);
                            }
                        }
                    }
                    drop(map);
                    self.compaction_append(&buf);
                }
            }
            // Nothing of the batch is in the map, nor in the file.
            Err(e) => reply_failed(batch, &e),
        }
    }

    /// Appends `buf` durably, or leaves the file as it was.
    fn append(&mut self, buf: &[u8]) -> Result<(), StoreError> {
        let written = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Later records must not follow a torn one.
                let cut = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_data());
                if let Err(e2) = cut {
                    self.broken = Some(format!("appending: {e}; cutting the log back: {e2}"));
                }
                Err(backend(format!(
                    "appending to {}: {e}",
                    self.path.display()
                )))
            }
        }
    }

    fn tmp_path(&self) -> PathBuf {
        tmp_log_path(&self.path)
    }

    /// Starts a compaction when the log has grown past the thresholds.
    fn maybe_compact(&mut self) {
        let o = self.options;
        if self.broken.is_some()
            || self.len <= o.compact_min_bytes
            || self.len <= self.live.saturating_mul(o.compact_ratio)
        {
            return;
        }
        let tmp = self.tmp_path();
        match create_new_log(&tmp) {
            Ok(file) => {
                self.compaction = Some(Compaction {
                    file,
                    len: MAGIC.len() as u64,
                    next: 0,
                })
            }
            // The old log stays in use; a later batch tries again.
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                self.count_compaction_failure(&tmp, e);
            }
        }
    }

    /// Drops the compaction under way (the store closes, or stopped
    /// writing): the old log stays in use.
    fn abandon_compaction(&mut self) {
        if self.compaction.take().is_some() {
            let _ = std::fs::remove_file(self.tmp_path());
        }
    }

    /// The compaction under way failed (its file could not be written or
    /// renamed): counted, and given up; a later batch starts another.
    fn fail_compaction(&mut self, e: std::io::Error) {
        self.count_compaction_failure(&self.tmp_path(), e);
        self.abandon_compaction();
    }

    /// A compaction given up: counted, and why kept for
    /// [`LogStore::last_compaction_error`].
    fn count_compaction_failure(&self, file: &Path, e: std::io::Error) {
        self.compactions_failed.fetch_add(1, Ordering::Relaxed);
        let why = format!("{}: {e}", file.display());
        *self
            .compaction_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }

    /// Appends a batch's records to the new log, if a compaction is under
    /// way (not synced: until the switch, the old log is the one that
    /// counts).
    fn compaction_append(&mut self, buf: &[u8]) {
        let Some(c) = &mut self.compaction else {
            return;
        };
        match c.file.write_all(buf) {
            Ok(()) => c.len += buf.len() as u64,
            Err(e) => self.fail_compaction(e),
        }
    }

    /// Copies the next [`LogOptions::compact_step_bytes`] of the map into
    /// the new log and syncs it; after the last entry, switches to it.
    fn compact_step(&mut self) {
        if self.broken.is_some() {
            return self.abandon_compaction();
        }
        let step = self.options.compact_step_bytes;
        let Some(c) = &mut self.compaction else {
            return;
        };
        let mut buf = Vec::new();
        let done = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            while let Some((aor, value)) = map.get_index(c.next) {
                if buf.len() as u64 >= step {
                    break;
                }
                // Cannot fail: the record was written before.
                let _ = push_record(&mut buf, aor, value);
                c.next += 1;
            }
            c.next >= map.len()
        };
        let written = c.file.write_all(&buf).and_then(|()| {
            if done {
                c.file.sync_all()
            } else {
                c.file.sync_data()
            }
        });
        if let Err(e) = written {
            return self.fail_compaction(e);
        }
        c.len += buf.len() as u64;
        if done {
            self.switch_to_new_log();
        }
    }

    /// Renames the new, synced log over the old one and appends to it from
    /// now on.
    fn switch_to_new_log(&mut self) {
        if let Err(e) = std::fs::rename(self.tmp_path(), &self.path) {
            return self.fail_compaction(e);
        }
        let Some(c) = self.compaction.take() else {
            return;
        };
        // Renamed: the new file is the log now, whatever happens next (the
        // old one is unlinked; appending to it would lose the records).
        self.file = c.file;
        self.len = c.len;
        self.compactions.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = sync_dir(&self.dir) {
            // A crash could bring the old name back, without what is
            // appended from here on: acknowledge nothing more.
            self.broken = Some(format!("syncing the directory after compaction: {e}"));
        }
    }
}

/// The new log of a compaction beside the log at `path`: `bindings.log.tmp`.
fn tmp_log_path(path: &Path) -> PathBuf {
    path.with_extension("log.tmp")
}

impl Drop for LogWriter {
    /// A compaction cut short by closing the store leaves no tmp file.
    fn drop(&mut self) {
        self.abandon_compaction();
    }
}

/// Creates `tmp` as a new log, open for appending, with its header only (a
/// file left there by a crash is stale, and removed first).
fn create_new_log(tmp: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(MAGIC)?;
    Ok(file)
}

/// Writes a whole log of `items` to `tmp` (a new file) and syncs it; the
/// caller renames it over the log, so that a crash leaves either the old
/// log or the new one, never part of it. Returns the file, open for
/// appending (after the rename it is the log), and its length.
fn write_new_log<'a>(
    tmp: &Path,
    items: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<(File, u64), StoreError> {
    let result = (|| -> Result<(File, u64), StoreError> {
        let mut buf = Vec::new();
        for (aor, value) in items {
            push_record(&mut buf, aor, value)?;
        }
        let mut f = create_new_log(tmp).map_err(backend)?;
        f.write_all(&buf).map_err(backend)?;
        f.sync_all().map_err(backend)?;
        Ok((f, (MAGIC.len() + buf.len()) as u64))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// What the redb database of a data directory is renamed to once
/// [`LogStore::open_importing_redb`] has copied it into the log.
pub const IMPORTED_DB_FILE: &str = "bindings.redb.imported";

impl LogStore {
    /// Opens (creating if needed) the store in `dir` with group commit.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_options(dir, LogOptions::default())
    }

    /// Opens (creating if needed) the store in `dir` with this commit mode.
    pub fn open_with(dir: impl AsRef<Path>, mode: CommitMode) -> Result<Self, StoreError> {
        Self::open_with_options(
            dir,
            LogOptions {
                mode,
                ..LogOptions::default()
            },
        )
    }

    /// Opens (creating if needed) the store in `dir` with these options.
    pub fn open_with_options(
        dir: impl AsRef<Path>,
        options: LogOptions,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(backend)?;
        let lock = lock_dir(dir)?;
        Self::open_locked(dir, options, lock)
    }

    /// Opens the store in `dir`, whose lock the caller holds.
    fn open_locked(dir: &Path, options: LogOptions, lock: File) -> Result<Self, StoreError> {
        let (mut state, dropped_on_open) = LogWriter::open(dir, options)?;
        let map = Arc::clone(&state.map);
        let compactions = Arc::clone(&state.compactions);
        let compactions_failed = Arc::clone(&state.compactions_failed);
        let compaction_error = Arc::clone(&state.compaction_error);
        let path = state.path.clone();
        let writer = Writer::spawn("registrar-log-writer", options.mode, move |batch, c| {
            state.commit(batch, c)
        })?;
        Ok(Self {
            map,
            writer,
            compactions,
            compactions_failed,
            compaction_error,
            dropped_on_open,
            path,
            _lock: lock,
        })
    }

    /// Opens the store in `dir` like [`LogStore::open`]; but when `dir`
    /// has no log yet and holds a [`crate::RedbStore`] database
    /// ([`crate::DB_FILE`], the default store of earlier versions), its
    /// bindings are first copied into a new log (written whole and synced
    /// before it takes the log's name), and the database is then renamed
    /// [`IMPORTED_DB_FILE`]. A crash between the two leaves the new log in
    /// use and the database where it was, unread. Returns the store and the
    /// number of AORs imported.
    pub fn open_importing_redb(dir: impl AsRef<Path>) -> Result<(Self, usize), StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(backend)?;
        // Before the import: another process may be serving this directory.
        let lock = lock_dir(dir)?;
        let db = dir.join(crate::DB_FILE);
        let log = dir.join(LOG_FILE);
        let mut imported = 0;
        if db.exists() && !log.exists() {
            let items = crate::redb_store::read_all(&db)
                .map_err(|e| StoreError::Backend(format!("importing {}: {e}", db.display())))?;
            imported = items.len();
            let refs = items.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
            let tmp = tmp_log_path(&log);
            write_new_log(&tmp, refs)?;
            if let Err(e) = std::fs::rename(&tmp, &log) {
                let _ = std::fs::remove_file(&tmp);
                return Err(backend(e));
            }
            sync_dir(dir).map_err(backend)?;
            std::fs::rename(&db, dir.join(IMPORTED_DB_FILE)).map_err(backend)?;
            sync_dir(dir).map_err(backend)?;
        }
        Ok((
            Self::open_locked(dir, LogOptions::default(), lock)?,
            imported,
        ))
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a torn or corrupt tail cut off the log when it was opened.
    pub fn dropped_on_open(&self) -> u64 {
        self.dropped_on_open
    }

    /// Compactions done since the store was opened.
    pub fn compactions(&self) -> u64 {
        self.compactions.load(Ordering::Relaxed)
    }

    /// Compactions given up since the store was opened, because the new
    /// log could not be created, written, synced or renamed (a full disk):
    /// the old log stayed in use, and a later batch tried again.
    pub fn compactions_failed(&self) -> u64 {
        self.compactions_failed.load(Ordering::Relaxed)
    }

    /// Why the last compaction counted in
    /// [`LogStore::compactions_failed`] was given up: the file and its I/O
    /// error (e.g. "No space left on device").
    pub fn last_compaction_error(&self) -> Option<String> {
        self.compaction_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends changes to the writer without waiting (see
    /// [`crate::RedbStore::submit`]). The changes are durable once
    /// [`PendingApply::wait`] returns `Ok`.
    pub fn submit(&self, aor: &str, changes: Vec<Change>) -> PendingApply {
        self.writer.submit(aor, changes)
    }

    /// Like [`LogStore::submit`]; `then` is called with the result on the
    /// writer thread right after the batch is durable (see
    /// [`crate::RedbStore::submit_then`]). `then` must not block.
    pub fn submit_then(
        &self,
        aor: &str,
        changes: Vec<Change>,
        then: impl FnOnce(Result<Vec<Binding>, StoreError>) + Send + 'static,
    ) {
        self.writer.submit_then(aor, changes, then);
    }

    /// Replaces the AOR's bindings with `bindings` durably, and calls
    /// `then` on the writer thread once they are (see
    /// [`crate::RedbStore::submit_replace_then`]). An empty list removes
    /// the AOR.
    pub fn submit_replace_then(
        &self,
        aor: &str,
        bindings: EncodedBindings,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        self.writer.submit_replace_then(aor, bindings, then);
    }

    /// Commits (durable appends) and applies acknowledged so far.
    pub fn stats(&self) -> CommitStats {
        self.writer.stats()
    }

    fn read_map(&self) -> RwLockReadGuard<'_, Map> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl LocationStore for LogStore {
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        match self.read_map().get(aor) {
            Some(v) => Ok(decode_bindings(v)?),
            None => Ok(Vec::new()),
        }
    }

    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError> {
        self.submit(aor, changes.to_vec()).wait()
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        self.writer.purge(now)
    }

    fn aors(&self) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = self.read_map().keys().cloned().collect();
        v.sort();
        Ok(v)
    }

    fn count(&self) -> Result<usize, StoreError> {
        let map = self.read_map();
        let mut n = 0;
        for v in map.values() {
            n += decode_bindings(v)?.len();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn records(items: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (aor, value) in items {
            push_record(&mut out, aor, value).unwrap();
        }
        out
    }

    #[test]
    fn replay_applies_in_order_and_removes() {
        let log = records(&[("a", b"1"), ("b", b"2"), ("a", b"3"), ("b", b"")]);
        let mut map = Map::default();
        assert_eq!(replay(&log[..], &mut map).unwrap(), log.len() as u64);
        assert_eq!(map.len(), 1);
        assert_eq!(map["a"], b"3");
    }

    #[test]
    fn replay_stops_at_a_torn_record() {
        let good = records(&[("a", b"1"), ("b", b"2")]);
        let mut log = good.clone();
        log.extend_from_slice(&records(&[("c", b"33333")]));
        // Every cut inside the third record keeps exactly the first two.
        for cut in good.len()..log.len() {
            let mut map = Map::default();
            assert_eq!(
                replay(&log[..cut], &mut map).unwrap(),
                good.len() as u64,
                "cut at {cut}"
            );
            assert_eq!(map.len(), 2);
            assert!(!map.contains_key("c"));
        }
    }

    #[test]
    fn replay_stops_at_a_bad_crc_or_length() {
        let first = records(&[("a", b"1")]);
        let mut log = first.clone();
        log.extend_from_slice(&records(&[("b", b"2"), ("c", b"3")]));
        // A flipped bit in the second record's body: it and the third go.
        let mut bad = log.clone();
        bad[first.len() + RECORD_HEADER + 2] ^= 0x01;
        let mut map = Map::default();
        assert_eq!(replay(&bad[..], &mut map).unwrap(), first.len() as u64);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a"]);
        // An absurd length.
        let mut bad = log.clone();
        bad[first.len()..first.len() + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut map = Map::default();
        assert_eq!(replay(&bad[..], &mut map).unwrap(), first.len() as u64);
        // Zeroes (a preallocated tail): a zero length is not a record.
        let mut zeros = first.clone();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(
            replay(&zeros[..], &mut Map::default()).unwrap(),
            first.len() as u64
        );
    }

    /// A read that fails is an error, not the end of the valid records:
    /// taking it for a torn tail would cut good records off the file.
    #[test]
    fn replay_passes_read_errors_on() {
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("disk gone"));
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let log = records(&[("a", b"1"), ("b", b"2")]);
        let mut map = Map::default();
        let e = replay(Failing(&log), &mut map).unwrap_err();
        assert_eq!(e.to_string(), "disk gone");
        // The records read before the failure were applied.
        assert_eq!(map.len(), 2);
    }

    fn replay_file(path: &Path) -> Map {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..MAGIC.len()], MAGIC);
        let mut map = Map::default();
        let valid = replay(&bytes[MAGIC.len()..], &mut map).unwrap();
        assert_eq!(valid as usize, bytes.len() - MAGIC.len(), "no torn tail");
        map
    }

    fn sorted(map: &Map) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort();
        v
    }

    /// A compaction in small steps runs across many batches of changes,
    /// removals among them (which move entries in the map). After every
    /// batch: the log replays to exactly the acknowledged state (the old
    /// log during a compaction, the new one after the switch); and the new
    /// log, replayed, holds every entry before the cursor, and nothing that
    /// is not in the map with its current value. Closing the store in the
    /// middle of a compaction leaves no tmp file.
    #[test]
    fn compaction_in_steps_keeps_every_change() {
        let dir = std::env::temp_dir().join(format!("sipline-logsteps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let options = LogOptions {
            mode: CommitMode::PerApply,
            compact_min_bytes: 4096,
            compact_ratio: 2,
            compact_step_bytes: 100,
        };
        let (mut w, _) = LogWriter::open(&dir, options).unwrap();
        let counters = Counters::default();
        let mut model: HashMap<String, Vec<u8>> = HashMap::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (mut batches_during, mut copied_checked) = (0, 0);
        for i in 0..1500 {
            let mut batch = Vec::new();
            for _ in 0..=next() % 3 {
                let r = next();
                let aor = format!("sip:u{}@example.com", r % 60);
                // A third of the changes remove the AOR.
                let value = if (r >> 8) % 3 == 0 {
                    Vec::new()
                } else {
                    format!("{i}:")
                        .repeat(1 + (r >> 16) as usize % 4)
                        .into_bytes()
                };
                if value.is_empty() {
                    model.remove(&aor);
                } else {
                    model.insert(aor.clone(), value.clone());
                }
                batch.push(Job::Replace {
                    aor,
                    value,
                    then: Box::new(|r| r.unwrap()),
                });
            }
            let cursor = w.compaction.as_ref().map(|c| c.next);
            w.commit(batch, &counters);
            if cursor.is_some() {
                batches_during += 1;
            }
            let mut expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            expected.sort();
            assert_eq!(sorted(&w.read_map()), expected, "batch {i}: the map");
            assert_eq!(
                sorted(&replay_file(&w.path)),
                expected,
                "batch {i}: the log"
            );
            if let Some(c) = &w.compaction {
                let new = replay_file(&w.tmp_path());
                let map = w.read_map();
                for (aor, value) in &new {
                    assert_eq!(map.get(aor), Some(value), "batch {i}: {aor} in the new log");
                }
                for (aor, value) in map.iter().take(c.next) {
                    assert_eq!(new.get(aor), Some(value), "batch {i}: {aor}, copied");
                    copied_checked += 1;
                }
            }
        }
        let compactions = w.compactions.load(Ordering::Relaxed);
        assert!(compactions >= 10, "{compactions} compactions");
        assert!(batches_during >= 200, "{batches_during} batches during one");
        assert!(copied_checked > 0);
        // One under way when the store closes: its tmp file goes.
        while w.compaction.is_none() {
            let job = Job::Replace {
                aor: "sip:u0@example.com".into(),
                value: b"x".repeat(64),
                then: Box::new(|r| r.unwrap()),
            };
            w.commit(vec![job], &counters);
        }
        assert!(w.tmp_path().exists());
        let tmp = w.tmp_path();
        drop(w);
        assert!(!tmp.exists());
        // One left by a crash goes at the next open, which reads the log.
        std::fs::write(&tmp, b"SIPLOG01 and the start of a copy").unwrap();
        let (w, _) = LogWriter::open(&dir, options).unwrap();
        assert!(!tmp.exists());
        model.insert("sip:u0@example.com".into(), b"x".repeat(64));
        let mut expected: Vec<_> = model.into_iter().collect();
        expected.sort();
        assert_eq!(sorted(&w.read_map()), expected);
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn open_truncates_the_torn_tail_and_refuses_other_files() {
        let dir = std::env::temp_dir().join(format!("sipline-logunit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LOG_FILE);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&records(&[("a", b"1")]));
        let keep = bytes.len();
        bytes.extend_from_slice(&records(&[("b", b"2")])[..5]);
        std::fs::write(&path, &bytes).unwrap();
        let (_, map, dropped) = open_log(&dir, &path).unwrap();
        assert_eq!(dropped, 5);
        assert_eq!(map.len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), keep as u64);

        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        let e = open_log(&dir, &path).unwrap_err().to_string();
        assert!(e.contains("not a sipline binding log"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
