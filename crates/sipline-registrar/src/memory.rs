//! An in-memory [`LocationStore`]: a `HashMap` behind a `Mutex`.

use crate::binding::{apply_changes, Binding, Change};
use crate::store::{LocationStore, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Bindings in memory, lost when dropped. For tests and for registrars that
/// accept losing registrations on restart (UAs re-register within their
/// expiry anyway).
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Vec<Binding>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<Binding>>> {
        // A panic while holding the lock cannot leave a half-applied change
        // (changes are applied to a copy first), so poisoning is ignored.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LocationStore for MemoryStore {
    fn get(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        Ok(self.lock().get(aor).cloned().unwrap_or_default())
    }

    fn apply(&self, aor: &str, changes: &[Change]) -> Result<Vec<Binding>, StoreError> {
        let mut map = self.lock();
        let mut list = map.get(aor).cloned().unwrap_or_default();
        apply_changes(&mut list, changes);
        if list.is_empty() {
            map.remove(aor);
        } else {
            map.insert(aor.to_owned(), list.clone());
        }
        Ok(list)
    }

    fn purge_expired(&self, now: u64) -> Result<usize, StoreError> {
        let mut map = self.lock();
        let mut removed = 0;
        map.retain(|_, list| {
            let before = list.len();
            list.retain(|b| !b.is_expired(now));
            removed += before - list.len();
            !list.is_empty()
        });
        Ok(removed)
    }

    fn aors(&self) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = self.lock().keys().cloned().collect();
        v.sort();
        Ok(v)
    }

    fn count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().values().map(Vec::len).sum())
    }
}
