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

use crate::binding::{
    apply_changes, decode_bindings, encode_bindings, may_have_expired, Binding, Change,
};
use crate::store::{LocationStore, StoreError};
use crate::writer::{backend, reply_committed, reply_failed, Counters, Job, Outcome, Writer};
pub use crate::writer::{CommitMode, CommitStats, EncodedBindings, PendingApply, DEFAULT_WINDOW};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// AOR → encoded bindings.
const BINDINGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bindings");

/// The database file inside the data directory.
pub const DB_FILE: &str = "bindings.redb";

/// Bindings in a redb database in a data directory, written with group
/// commit (see the module docs).
pub struct RedbStore {
    db: Arc<Database>,
    // Dropped after `db`: waits for the queued jobs (the thread holds its
    // own reference to the database).
    writer: Writer,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Every AOR and its encoded bindings in the redb database at `path`, read
/// without starting a writer (for [`crate::LogStore::open_importing_redb`]).
pub(crate) fn read_all(path: &Path) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let db = Database::open(path).map_err(backend)?;
    let txn = db.begin_read().map_err(backend)?;
    let table = match txn.open_table(BINDINGS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(backend(e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(backend)? {
        let (k, v) = row.map_err(backend)?;
        out.push((k.value().to_owned(), v.value().to_vec()));
    }
    Ok(out)
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

        let writer = {
            let db = Arc::clone(&db);
            Writer::spawn("registrar-redb-writer", mode, move |batch, counters| {
                commit_batch(&db, batch, counters);
                false
            })?
        };
        Ok(Self { db, writer, path })
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
        self.writer.submit(aor, changes)
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
        self.writer.submit_then(aor, changes, then);
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
        self.writer.submit_replace_then(aor, bindings, then);
    }

    /// Commits and applies acknowledged so far.
    pub fn stats(&self) -> CommitStats {
        self.writer.stats()
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
        self.writer.purge(now)
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
                            // Only values with something expired are decoded.
                            if !may_have_expired(v.value(), *now) {
                                continue;
                            }
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
        Ok(outcomes) => reply_committed(batch, outcomes, counters),
        // Nothing of the batch was committed: every job fails.
        Err(e) => reply_failed(batch, &e),
    }
}
