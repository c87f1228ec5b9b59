//! A durable [`LocationStore`] in an embedded [redb](https://docs.rs/redb)
//! database, with group commit.
//!
//! # Group commit
//!
//! A REGISTER may be answered with 200 only once its bindings are durable
//! (RFC 3261 §10.3 step 7: the updates are "committed" before step 8), and a
//! durable commit costs an `fsync`. So all writes go through one writer
//! thread: [`LocationStore::apply`] (or [`RedbStore::submit`]) sends the
//! changes over a channel and waits for the reply. The writer takes the first
//! pending job, then everything else already queued (the jobs that arrived
//! while the previous commit was running), up to
//! [`CommitMode::Group::max_batch`], applies them in arrival order in ONE
//! write transaction with [`redb::Durability::Immediate`], commits, and only
//! then replies to each caller. One `fsync` thus acknowledges a whole batch;
//! under load the batch grows by itself.
//!
//! Under load a commit's cost (the B-tree pages rewritten, the `fsync`, the
//! wake-ups) is worth sharing further: when the previous batch held more
//! than one job, the writer sleeps [`CommitMode::Group::window`] before it
//! drains the queue (PostgreSQL's `commit_delay` with `commit_siblings`). A
//! lone REGISTER on a quiet server is committed at once. The writer sleeps
//! rather than waiting on the channel, which would wake it for every job.
//! [`CommitMode::PerApply`] commits every job on its own, for comparison.
//!
//! Each AOR's bindings are one value (key: the canonical AOR, value:
//! [`crate::encode_bindings`]), so an apply is atomic per AOR; expiry times
//! are absolute Unix seconds and survive restarts and crashes.
//!
//! Reads ([`LocationStore::get`], [`LocationStore::aors`],
//! [`LocationStore::count`]) use read transactions on the caller's thread and
//! see only committed data.

use crate::binding::{apply_changes, decode_bindings, encode_bindings, Binding, Change};
use crate::store::{LocationStore, StoreError};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// AOR → encoded bindings.
const BINDINGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bindings");

/// The database file inside the data directory.
pub const DB_FILE: &str = "bindings.redb";

/// The default [`CommitMode::Group::window`]. At 20,000 REGISTER/s on one
/// core, 1 ms cut the server's CPU from 92% to 78% of the core (batches of
/// ~50 jobs instead of ~6); 10 ms cuts the writer thread's CPU by a further
/// ~30% against the message thread's (`bench/RESULTS.md`), for at most
/// 10 ms more latency, and only under load (a lone REGISTER is committed
/// at once).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(10);

/// How the writer thread groups applies into commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Batch every job pending when a commit starts into one durable write
    /// transaction.
    Group {
        /// At most this many jobs in one transaction.
        max_batch: usize,
        /// When the previous batch held more than one job, sleep this long
        /// after the first job of the next before taking the queued ones
        /// (zero: take only what is already queued, i.e. what arrived
        /// during the previous commit).
        window: Duration,
    },
    /// One durable write transaction per apply (the baseline).
    PerApply,
}

impl Default for CommitMode {
    fn default() -> Self {
        Self::Group {
            max_batch: 1024,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Counters of the writer thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Applies acknowledged as committed.
    pub applies: u64,
}

/// What the writer does with an apply's result once its batch is committed.
enum Reply {
    /// Send it to a [`PendingApply`].
    Wait(mpsc::Sender<Result<Vec<Binding>, StoreError>>),
    /// Call this on the writer thread ([`RedbStore::submit_then`]).
    Then(Box<dyn FnOnce(Result<Vec<Binding>, StoreError>) + Send>),
}

impl Reply {
    fn send(self, result: Result<Vec<Binding>, StoreError>) {
        match self {
            Self::Wait(tx) => {
                let _ = tx.send(result);
            }
            Self::Then(f) => f(result),
        }
    }
}

enum Job {
    Apply {
        aor: String,
        changes: Vec<Change>,
        reply: Reply,
    },
    Purge {
        now: u64,
        reply: mpsc::Sender<Result<usize, StoreError>>,
    },
    /// The AOR's whole value, encoded by the caller (empty: no bindings).
    Replace {
        aor: String,
        value: Vec<u8>,
        then: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    },
}

/// One AOR's whole list of bindings as the store keeps it, for
/// [`RedbStore::submit_replace_then`]; made on the caller's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBindings(Vec<u8>);

impl EncodedBindings {
    /// Encodes `bindings` (none: the AOR is removed).
    pub fn new(bindings: &[Binding]) -> Self {
        if bindings.is_empty() {
            Self(Vec::new())
        } else {
            Self(encode_bindings(bindings))
        }
    }
}

/// An apply sent to the writer thread, not yet known to be committed.
#[derive(Debug)]
#[must_use = "the changes are durable only once wait() returns Ok"]
pub struct PendingApply(mpsc::Receiver<Result<Vec<Binding>, StoreError>>);

impl PendingApply {
    /// Blocks until the changes are committed (or failed); returns the AOR's
    /// bindings after them.
    pub fn wait(self) -> Result<Vec<Binding>, StoreError> {
        self.0.recv().unwrap_or(Err(StoreError::Closed))
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    applies: AtomicU64,
}

/// Bindings in a redb database in a data directory, written with group
/// commit (see the module docs).
pub struct RedbStore {
    db: Arc<Database>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn backend(e: impl Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedbStore {
    /// Opens (creating if needed) the store in `dir` with group commit.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, CommitMode::default())
    }

    /// Opens (creating if needed) the store in `dir` with this commit mode.
    pub fn open_with(dir: impl AsRef<Path>, mode: CommitMode) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir.as_ref()).map_err(backend)?;
        let path = dir.as_ref().join(DB_FILE);
        let db = Arc::new(Database::create(&path).map_err(backend)?);
        // Create the table so readers always find it.
        let mut txn = db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(BINDINGS).map_err(backend)?;
        txn.commit().map_err(backend)?;

        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let writer = {
            let db = Arc::clone(&db);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("registrar-redb-writer".into())
                .spawn(move || writer_loop(&db, &rx, mode, &counters))
                .map_err(backend)?
        };
        Ok(Self {
            db,
            jobs: Some(tx),
            writer: Some(writer),
            counters,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends changes to the writer without waiting: many applies can be in
    /// flight from one thread (e.g. an async task per REGISTER awaiting the
    /// result on a blocking pool). The changes are durable once
    /// [`PendingApply::wait`] returns `Ok`.
    pub fn submit(&self, aor: &str, changes: Vec<Change>) -> PendingApply {
        let (reply, rx) = mpsc::channel();
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Apply {
                aor: aor.to_owned(),
                changes,
                reply: Reply::Wait(reply),
            });
        }
        PendingApply(rx)
    }

    /// Like [`RedbStore::submit`], without a [`PendingApply`] to wait on:
    /// `then` is called with the result on the writer thread, right after
    /// the commit that made the changes durable (or with the error), so an
    /// event loop gets it without a thread of its own waiting. `then` must
    /// not block (e.g. it sends to a channel). If the store is closed, it is
    /// called at once with [`StoreError::Closed`].
    pub fn submit_then(
        &self,
        aor: &str,
        changes: Vec<Change>,
        then: impl FnOnce(Result<Vec<Binding>, StoreError>) + Send + 'static,
    ) {
        let job = Job::Apply {
            aor: aor.to_owned(),
            changes,
            reply: Reply::Then(Box::new(then)),
        };
        let refused = match &self.jobs {
            Some(jobs) => jobs.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(Job::Apply { reply, .. }) = refused {
            reply.send(Err(StoreError::Closed));
        }
    }

    /// Replaces the AOR's bindings with `bindings` (encoded by the caller,
    /// [`EncodedBindings::new`]), durably, and calls `then` on the writer
    /// thread right after the commit (or with the error), like
    /// [`RedbStore::submit_then`]. The writer neither reads nor decodes the
    /// old bindings: this is for a caller that holds every AOR's current
    /// bindings itself and writes each AOR from one place at a time (a
    /// registrar that keeps them in memory and writes them through), so
    /// that the one writer thread does only the B-tree update and the
    /// commit. An empty list removes the AOR.
    pub fn submit_replace_then(
        &self,
        aor: &str,
        bindings: EncodedBindings,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        let job = Job::Replace {
            aor: aor.to_owned(),
            value: bindings.0,
            then: Box::new(then),
        };
        let refused = match &self.jobs {
            Some(jobs) => jobs.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(Job::Replace { then, .. }) = refused {
            then(Err(StoreError::Closed));
        }
    }

    /// Commits and applies acknowledged so far.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            applies: self.counters.applies.load(Ordering::Relaxed),
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(BINDINGS).map_err(backend)?;
        f(&table)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Closing the channel stops the writer once the queued jobs are done.
        self.jobs = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl LocationStore for RedbStore {
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        self.read(|t| match t.get(aor).map_err(backend)? {
            Some(v) => Ok(decode_bindings(v.value())?),
            None => Ok(Vec::new()),
        })
    }

    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError> {
        self.submit(aor, changes.to_vec()).wait()
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        let (reply, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job::Purge { now, reply })
            .map_err(|_| StoreError::Closed)?;
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    fn aors(&self) -> Result<Vec<String>, StoreError> {
        self.read(|t| {
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (k, _) = row.map_err(backend)?;
                out.push(k.value().to_owned());
            }
            Ok(out) // redb iterates keys in order
        })
    }

    fn count(&self) -> Result<usize, StoreError> {
        self.read(|t| {
            let mut n = 0;
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                n += decode_bindings(v.value())?.len();
            }
            Ok(n)
        })
    }
}

fn writer_loop(db: &Database, rx: &mpsc::Receiver<Job>, mode: CommitMode, counters: &Counters) {
    let mut last_batch = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        if let CommitMode::Group { max_batch, window } = mode {
            if last_batch > 1 && !window.is_zero() {
                std::thread::sleep(window);
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        last_batch = batch.len();
        commit_batch(db, batch, counters);
    }
}

enum Outcome {
    Applied(Result<Vec<Binding>, StoreError>),
    Purged(usize),
    Replaced,
}

/// Runs a batch in one durable write transaction; replies after the commit.
fn commit_batch(db: &Database, batch: Vec<Job>, counters: &Counters) {
    let result = (|| -> Result<Vec<Outcome>, StoreError> {
        let mut txn = db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::Immediate);
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut table = txn.open_table(BINDINGS).map_err(backend)?;
            for job in &batch {
                match job {
                    Job::Apply { aor, changes, .. } => {
                        let current = match table.get(aor.as_str()).map_err(backend)? {
                            Some(v) => decode_bindings(v.value()),
                            None => Ok(Vec::new()),
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
                        if list.is_empty() {
                            table.remove(aor.as_str()).map_err(backend)?;
                        } else {
                            let enc = encode_bindings(&list);
                            table
                                .insert(aor.as_str(), enc.as_slice())
                                .map_err(backend)?;
                        }
                        outcomes.push(Outcome::Applied(Ok(list)));
                    }
                    Job::Replace { aor, value, .. } => {
                        if value.is_empty() {
                            table.remove(aor.as_str()).map_err(backend)?;
                        } else {
                            table
                                .insert(aor.as_str(), value.as_slice())
                                .map_err(backend)?;
                        }
                        outcomes.push(Outcome::Replaced);
                    }
                    Job::Purge { now, .. } => {
                        let mut edits: Vec<(String, Vec<Binding>)> = Vec::new();
                        let mut removed = 0;
                        for row in table.iter().map_err(backend)? {
                            let (k, v) = row.map_err(backend)?;
                            // Undecodable values are left for an operator.
                            let Ok(list) = decode_bindings(v.value()) else {
                                continue;
                            };
                            let keep: Vec<Binding> = list
                                .iter()
                                .filter(|b| !b.is_expired(*now))
                                .cloned()
                                .collect();
                            if keep.len() != list.len() {
                                removed += list.len() - keep.len();
                                edits.push((k.value().to_owned(), keep));
                            }
                        }
                        for (aor, keep) in edits {
                            if keep.is_empty() {
                                table.remove(aor.as_str()).map_err(backend)?;
                            } else {
                                let enc = encode_bindings(&keep);
                                table
                                    .insert(aor.as_str(), enc.as_slice())
                                    .map_err(backend)?;
                            }
                        }
                        outcomes.push(Outcome::Purged(removed));
                    }
                }
            }
        }
        txn.commit().map_err(backend)?;
        Ok(outcomes)
    })();

    match result {
        Ok(outcomes) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            let applied = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Applied(Ok(_)) | Outcome::Replaced))
                .count();
            counters
                .applies
                .fetch_add(applied as u64, Ordering::Relaxed);
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                match (job, outcome) {
                    (Job::Apply { reply, .. }, Outcome::Applied(r)) => reply.send(r),
                    (Job::Replace { then, .. }, Outcome::Replaced) => then(Ok(())),
                    (Job::Purge { reply, .. }, Outcome::Purged(n)) => {
                        let _ = reply.send(Ok(n));
                    }
                    _ => unreachable!("outcomes follow the jobs in order"),
                }
            }
        }
        Err(e) => {
            // Nothing of the batch was committed: every job fails.
            let msg = e.to_string();
            for job in batch {
                match job {
                    Job::Apply { reply, .. } => {
                        reply.send(Err(StoreError::Backend(msg.clone())));
                    }
                    Job::Purge { reply, .. } => {
                        let _ = reply.send(Err(StoreError::Backend(msg.clone())));
                    }
                    Job::Replace { then, .. } => then(Err(StoreError::Backend(msg.clone()))),
                }
            }
        }
    }
}
