//! A hash map in shards that grow one at a time, for tables of millions of
//! entries that must never stop the thread that owns them for long.
//!
//! A server transaction stays in the table for 64*T1 after its final
//! response (RFC 3261 §17.2.2, Timer J: 32 s over UDP), so a server taking
//! 40,000 requests a second holds about 1.3 million of them. A single
//! `HashMap` that size grows by doubling all at once: every entry moves and
//! every String key is read and hashed again. Growing past 917,504 String
//! keys took ~90 ms, and the table had three such maps growing together: at
//! 40,000 REGISTER/s the thread stopped long enough for its socket's 4 MiB
//! receive buffer to overflow, and the dropped datagrams came back as
//! retransmissions on top of the load (`bench/RESULTS.md`). Here the entries
//! are spread over [`SHARDS`] tables that each grow on their own, and each
//! entry keeps its hash, so a table that grows never reads a key again.
//!
//! Tables that fill evenly would all reach their limit within a few
//! thousand insertions of each other and grow one right after the other,
//! which is one long pause again. So the shards take unequal shares of the
//! keys, from 1 to 2 in geometric steps: each doubling of the whole map
//! makes each shard grow once, at its own point of the octave, and no two
//! pauses (each ~1/64 of the work) come together.

use hashbrown::hash_table::{Entry as Slot, HashTable};
use std::hash::{BuildHasher, Hash};

/// Tables per map.
const SHARDS: usize = 64;

/// Bits of the hash that choose the shard, through a lookup table: 1,024
/// values for 64 shards, 11 to 22 each.
const SLICE_BITS: u32 = 10;

/// A map from `K` to `V` in [`SHARDS`] tables chosen by the key's hash,
/// hashed with foldhash seeded per process, so that keys chosen by peers
/// (branches, tags, Call-IDs) cannot be made to collide on purpose.
pub(crate) struct ShardedMap<K, V> {
    shards: Box<[HashTable<Entry<K, V>>]>,
    /// The shard of each value of [`SLICE_BITS`] bits of a hash.
    lookup: Box<[u8]>,
    hasher: foldhash::fast::RandomState,
    len: usize,
}

struct Entry<K, V> {
    hash: u64,
    key: K,
    value: V,
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    pub(crate) fn new() -> Self {
        // shard i takes a share 2^(i/SHARDS) of the keys (relative): the
        // values of the slice up to the sum of the shares so far are its
        let weight = |i: usize| (i as f64 / SHARDS as f64).exp2();
        let total: f64 = (0..SHARDS).map(weight).sum();
        let values = 1usize << SLICE_BITS;
        let mut ends = (0..SHARDS).scan(0.0, |sum, i| {
            *sum += weight(i);
            Some((*sum / total * values as f64).round() as usize)
        });
        let mut lookup = vec![0u8; values].into_boxed_slice();
        let (mut shard, mut end) = (0, ends.next().unwrap_or(values));
        for (v, slot) in lookup.iter_mut().enumerate() {
            while v >= end && shard + 1 < SHARDS {
                shard += 1;
                end = ends.next().unwrap_or(values);
            }
            *slot = shard as u8;
        }
        Self {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            lookup,
            hasher: foldhash::fast::RandomState::default(),
            len: 0,
        }
    }

    /// The hash `key` is filed under (what [`remove_hashed`](Self::remove_hashed) takes).
    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash, by bits the tables do not use themselves
    /// (hashbrown takes the bucket from the low bits and the control byte
    /// from the top seven), so that the keys of one shard still spread
    /// over its table.
    fn shard(&self, hash: u64) -> usize {
        let slice = (hash >> (57 - SLICE_BITS)) as usize & ((1 << SLICE_BITS) - 1); // bits 47..57
        usize::from(self.lookup[slice])
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let h = self.hash(key);
        self.shards[self.shard(h)]
            .find(h, |e| e.hash == h && e.key == *key)
            .map(|e| &e.value)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let h = self.hash(key);
        self.shards[self.shard(h)]
            .find_mut(h, |e| e.hash == h && e.key == *key)
            .map(|e| &mut e.value)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Files `value` under `key`, replacing the value it had; returns the
    /// key's hash.
    pub(crate) fn insert(&mut self, key: K, value: V) -> u64 {
        let h = self.hash(&key);
        let slot = self.shards[self.shard(h)].entry(
            h,
            |e| e.hash == h && e.key == key,
            |e| e.hash, // growing reads the stored hash, never the key
        );
        match slot {
            Slot::Occupied(mut o) => o.get_mut().value = value,
            Slot::Vacant(v) => {
                v.insert(Entry {
                    hash: h,
                    key,
                    value,
                });
                self.len += 1;
            }
        }
        h
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let h = self.hash(key);
        self.take(h, |e| e.hash == h && e.key == *key)
    }

    /// Removes the entry filed under `hash` whose value `is` picks, for a
    /// caller that kept the hash [`insert`](Self::insert) returned instead
    /// of the key.
    pub(crate) fn remove_hashed(&mut self, hash: u64, is: impl Fn(&V) -> bool) -> Option<V> {
        self.take(hash, |e| e.hash == hash && is(&e.value))
    }

    fn take(&mut self, hash: u64, eq: impl FnMut(&Entry<K, V>) -> bool) -> Option<V> {
        let found = self.shards[self.shard(hash)].find_entry(hash, eq).ok()?;
        let (entry, _) = found.remove();
        self.len -= 1;
        Some(entry.value)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries of each shard (for tests).
    #[cfg(test)]
    fn shard_lens(&self) -> Vec<usize> {
        self.shards.iter().map(HashTable::len).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn behaves_like_a_hash_map() {
        // the same random operations on both; every answer must agree
        let mut ours: ShardedMap<String, u32> = ShardedMap::new();
        let mut std: HashMap<String, u32> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("z9hG4bK{}", x % 3_000);
            match x % 5 {
                0 | 1 => {
                    std.insert(key.clone(), i);
                    let h = ours.insert(key.clone(), i);
                    assert_eq!(h, ours.hash(&key));
                }
                2 => assert_eq!(ours.remove(&key), std.remove(&key)),
                3 => {
                    // by hash and value, as a transaction leaves the table
                    let want = std.get(&key).copied();
                    let got = want.and_then(|v| ours.remove_hashed(ours.hash(&key), |w| *w == v));
                    assert_eq!(got, want);
                    std.remove(&key);
                }
                _ => {
                    if let (Some(a), Some(b)) = (ours.get_mut(&key), std.get_mut(&key)) {
                        *a += 1;
                        *b += 1;
                    }
                }
            }
            assert_eq!(ours.get(&key), std.get(&key));
            assert_eq!(ours.contains_key(&key), std.contains_key(&key));
            assert_eq!(ours.len(), std.len());
            assert_eq!(ours.is_empty(), std.is_empty());
        }
        for (k, v) in &std {
            assert_eq!(ours.get(k), Some(v));
        }
    }

    #[test]
    fn remove_hashed_takes_only_the_value_asked_for() {
        let mut m: ShardedMap<&str, u32> = ShardedMap::new();
        let h = m.insert("a", 1);
        assert_eq!(m.remove_hashed(h, |v| *v == 2), None);
        assert_eq!(m.get(&"a"), Some(&1));
        assert_eq!(m.remove_hashed(h, |v| *v == 1), Some(1));
        assert!(m.is_empty());
    }

    #[test]
    fn shards_take_shares_from_one_to_two() {
        let mut m: ShardedMap<u64, ()> = ShardedMap::new();
        for i in 0..256_000u64 {
            m.insert(i, ());
        }
        // 4,000 per shard on average, 2,770 in the first and 5,500 in the last
        let lens = m.shard_lens();
        let share = |i: usize| lens[i] as f64 / 256_000.0 * SHARDS as f64;
        assert!((0.62..0.76).contains(&share(0)), "{lens:?}");
        assert!((1.30..1.47).contains(&share(SHARDS - 1)), "{lens:?}");
        assert!((0.93..1.04).contains(&share(SHARDS / 2)), "{lens:?}");
        // so they fill up, and grow, at different points
        let full = lens.iter().filter(|&&n| n > 4_800).count();
        assert!((5..30).contains(&full), "{lens:?}");
    }
}
