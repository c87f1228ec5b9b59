//! The location service (RFC 3261 §10.2: "the location service for the
//! domain") as a storage trait.

use crate::binding::{Binding, Change, DecodeError};

/// Why a store operation failed. A REGISTER whose changes could not be
/// committed MUST fail with 500 (RFC 3261 §10.3 step 7).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage backend failed (I/O, database, network ...).
    #[error("storage backend: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store is shut down (its writer thread is gone).
    #[error("store closed")]
    Closed,
}

/// Where bindings live.
///
/// Every method is synchronous and may block (on a lock, a disk commit or a
/// network round trip): async callers run them on a blocking thread. The
/// contract is small enough for a networked backend (e.g. one Redis hash per
/// AOR with a `MULTI`/Lua script for [`LocationStore::apply`]):
///
/// * [`LocationStore::apply`] is atomic per AOR: all the changes are visible
///   or none is, and it returns only once they are durable (for a durable
///   store), which is what lets a registrar send its 200 OK afterwards.
/// * Readers never see half of an `apply`.
///
/// The store does not serialize read-modify-write cycles of a registrar: two
/// REGISTERs for the same AOR processed at once may both compute their changes
/// from the same snapshot. Callers that need strict §10.3 step 7 ordering
/// across concurrent requests for one AOR serialize them (e.g. by sharding
/// REGISTER processing on the AOR).
pub trait LocationStore: Send + Sync {
    /// The bindings of `aor` (expired ones included until purged).
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError>;

    /// Applies `changes` to `aor` atomically and durably; returns the AOR's
    /// bindings afterwards.
    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError>;

    /// Removes every binding with `expires_at <= now` (Unix seconds); returns
    /// how many were removed. Meant to be called from a timer.
    fn purge_expired(&self, now: u64) -> Result<usize, StoreError>;

    /// Every AOR with at least one binding, sorted (for admin listings).
    fn aors(&self) -> Result<Vec<String>, StoreError>;

    /// The number of bindings over all AORs.
    fn count(&self) -> Result<usize, StoreError>;
}

impl<S: LocationStore + ?Sized> LocationStore for std::sync::Arc<S> {
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        (**self).get(aor)
    }
    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError> {
        (**self).apply(aor, changes)
    }
    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        (**self).purge_expired(now)
    }
    fn aors(&self) -> Result<Vec<String>, StoreError> {
        (**self).aors()
    }
    fn count(&self) -> Result<usize, StoreError> {
        (**self).count()
    }
}
