//! Either durable store, for a server that picks one in its configuration.

use crate::binding::{Binding, Change};
use crate::log_store::LogStore;
use crate::redb_store::RedbStore;
use crate::store::{LocationStore, StoreError};
use crate::writer::{CommitStats, EncodedBindings, PendingApply};
use std::path::Path;

/// A [`RedbStore`] or a [`LogStore`], with the methods they share.
#[derive(Debug)]
pub enum DurableStore {
    /// Bindings in a redb database.
    Redb(RedbStore),
    /// Bindings in memory and in an append-only log.
    Log(LogStore),
}

impl DurableStore {
    /// The store's file.
    pub fn path(&self) -> &Path {
        match self {
            Self::Redb(s) => s.path(),
            Self::Log(s) => s.path(),
        }
    }

    /// [`RedbStore::submit`] or [`LogStore::submit`].
    pub fn submit(&self, aor: &str, changes: Vec<Change>) -> PendingApply {
        match self {
            Self::Redb(s) => s.submit(aor, changes),
            Self::Log(s) => s.submit(aor, changes),
        }
    }

    /// [`RedbStore::submit_replace_then`] or [`LogStore::submit_replace_then`].
    pub fn submit_replace_then(
        &self,
        aor: &str,
        bindings: EncodedBindings,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        match self {
            Self::Redb(s) => s.submit_replace_then(aor, bindings, then),
            Self::Log(s) => s.submit_replace_then(aor, bindings, then),
        }
    }

    /// Compactions of the log given up so far (a full disk), and why the
    /// last one was: see [`LogStore::compactions_failed`]. None for redb,
    /// which does not compact.
    pub fn compaction_failures(&self) -> (u64, Option<String>) {
        match self {
            Self::Redb(_) => (0, None),
            Self::Log(s) => (s.compactions_failed(), s.last_compaction_error()),
        }
    }

    /// Commits and applies acknowledged so far.
    pub fn stats(&self) -> CommitStats {
        match self {
            Self::Redb(s) => s.stats(),
            Self::Log(s) => s.stats(),
        }
    }

    fn inner(&self) -> &dyn LocationStore {
        match self {
            Self::Redb(s) => s,
            Self::Log(s) => s,
        }
    }
}

impl From<RedbStore> for DurableStore {
    fn from(s: RedbStore) -> Self {
        Self::Redb(s)
    }
}

impl From<LogStore> for DurableStore {
    fn from(s: LogStore) -> Self {
        Self::Log(s)
    }
}

impl LocationStore for DurableStore {
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        self.inner().get(aor)
    }
    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError> {
        self.inner().apply(aor, changes)
    }
    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        self.inner().purge_expired(now)
    }
    fn aors(&self) -> Result<Vec<String>, StoreError> {
        self.inner().aors()
    }
    fn count(&self) -> Result<usize, StoreError> {
        self.inner().count()
    }
}
