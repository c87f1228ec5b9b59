//! Stateless nonces (RFC 7616 §3.3 "nonce", §5.4) and the bounded
//! nonce-count replay cache (RFC 7616 §3.4 "nc", §5.5).
//!
//! # Nonce layout
//!
//! ```text
//! bytes = version (1, = 1) || issued_ms (8, big-endian ms since the Unix epoch)
//!         || random (14) || tag (16)
//! tag   = HMAC-SHA-256(secret, "sipline-auth nonce v1" 0x00 realm 0x00
//!                              version || issued_ms || random)[..16]
//! nonce = base64url-without-padding(bytes)    ; 39 bytes -> 52 characters
//! ```
//!
//! The server verifies a nonce with nothing but its secret: a valid tag
//! proves that this server (or one sharing the secret) issued it for this
//! realm, and `issued_ms` gives its age. Base64url never produces `"` or `\`,
//! so the nonce needs no escaping in a quoted-string (RFC 7616 §3.3).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

const VERSION: u8 = 1;
pub(crate) const RANDOM_LEN: usize = 14;
const TAG_LEN: usize = 16;
const RAW_LEN: usize = 1 + 8 + RANDOM_LEN + TAG_LEN;
const ENCODED_LEN: usize = RAW_LEN / 3 * 4;
const DOMAIN: &[u8] = b"sipline-auth nonce v1";

/// The identity of an issued nonce in the replay cache: its tag.
pub(crate) type NonceId = [u8; TAG_LEN];

/// What a valid nonce says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenedNonce {
    pub(crate) issued_ms: u64,
    pub(crate) id: NonceId,
}

/// Milliseconds since the Unix epoch; 0 before it.
pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn tag(secret: &[u8; 32], realm: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(DOMAIN);
    mac.update(&[0]);
    mac.update(realm.as_bytes());
    mac.update(&[0]);
    mac.update(body);
    mac
}

/// Builds a nonce issued at `issued_ms`.
pub(crate) fn seal(
    secret: &[u8; 32],
    realm: &str,
    issued_ms: u64,
    random: [u8; RANDOM_LEN],
) -> String {
    let mut raw = [0u8; RAW_LEN];
    raw[0] = VERSION;
    raw[1..9].copy_from_slice(&issued_ms.to_be_bytes());
    raw[9..9 + RANDOM_LEN].copy_from_slice(&random);
    let body_len = 9 + RANDOM_LEN;
    let t = tag(secret, realm, &raw[..body_len]).finalize().into_bytes();
    raw[body_len..].copy_from_slice(&t[..TAG_LEN]);
    b64url_encode(&raw)
}

/// Checks a nonce's tag (in constant time); `None` if it is not one of ours.
pub(crate) fn open(secret: &[u8; 32], realm: &str, nonce: &str) -> Option<OpenedNonce> {
    if nonce.len() != ENCODED_LEN {
        return None;
    }
    let raw = b64url_decode(nonce)?;
    if raw.len() != RAW_LEN || raw[0] != VERSION {
        return None;
    }
    let body_len = 9 + RANDOM_LEN;
    let (body, given) = raw.split_at(body_len);
    tag(secret, realm, body).verify_truncated_left(given).ok()?;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&body[1..9]);
    let mut id = [0u8; TAG_LEN];
    id.copy_from_slice(given);
    Some(OpenedNonce {
        issued_ms: u64::from_be_bytes(ts),
        id,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 4648 §5) of a length that is a multiple of 3.
fn b64url_encode(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len() / 3 * 4);
    for c in raw.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            let idx = (n >> (18 - 6 * i)) & 63;
            s.push(char::from(B64[idx as usize]));
        }
    }
    s
}

/// Inverse of [`b64url_encode`]; `None` on any non-alphabet byte.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        B64.iter()
            .position(|&b| b == c)
            .and_then(|p| u32::try_from(p).ok())
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for c in s.chunks(4) {
        let mut n = 0u32;
        for &b in c {
            n = (n << 6) | val(b)?;
        }
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    Some(out)
}

/// Why the replay cache refused a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayError {
    /// The nc is not above the highest seen for this nonce.
    Replayed,
    /// The nonce is unknown and older than what the cache can vouch for
    /// (issued before this server started, or before an eviction).
    Unknown,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    issued_ms: u64,
    max_nc: u32,
}

/// Highest nonce count seen per nonce, bounded in size.
///
/// Entries are ordered by the nonce's issue time; expired nonces (older than
/// the lifetime) are dropped first, and when the cache is still full the
/// oldest nonce is evicted and the *watermark* raised to its issue time. In
/// strict mode a nonce issued at or before the watermark that has no entry
/// is refused ([`ReplayError::Unknown`], answered as stale), so losing an
/// entry — by eviction or by restart, since the watermark starts at the
/// server's first use — never reopens a replay window: it only costs the
/// client one extra challenge.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    strict: bool,
    map: HashMap<NonceId, Entry>,
    order: BTreeSet<(u64, NonceId)>,
    /// Unknown nonces issued at or before this are refused in strict mode.
    watermark_ms: Option<u64>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize, strict: bool) -> Self {
        Self {
            capacity,
            strict,
            map: HashMap::new(),
            order: BTreeSet::new(),
            watermark_ms: None,
        }
    }

    /// Marks the server's first use: nonces issued before `now_ms` came from
    /// an earlier run, whose nonce counts are lost.
    pub(crate) fn note_start(&mut self, now_ms: u64) {
        if self.watermark_ms.is_none() {
            self.watermark_ms = Some(now_ms.saturating_sub(1));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn purge_expired(&mut self, now_ms: u64, lifetime_ms: u64) {
        while let Some(&(issued, id)) = self.order.first() {
            if issued.saturating_add(lifetime_ms) >= now_ms {
                break;
            }
            self.order.pop_first();
            self.map.remove(&id);
        }
    }

    /// Records `nc` for nonce `n` if it is above every count seen so far.
    pub(crate) fn check_and_record(
        &mut self,
        n: OpenedNonce,
        nc: u32,
        now_ms: u64,
        lifetime_ms: u64,
    ) -> Result<(), ReplayError> {
        if self.capacity == 0 {
            return Ok(());
        }
        self.purge_expired(now_ms, lifetime_ms);
        if let Some(e) = self.map.get_mut(&n.id) {
            if nc <= e.max_nc {
                return Err(ReplayError::Replayed);
            }
            e.max_nc = nc;
            return Ok(());
        }
        if self.strict && self.watermark_ms.is_some_and(|w| n.issued_ms <= w) {
            return Err(ReplayError::Unknown);
        }
        self.map.insert(
            n.id,
            Entry {
                issued_ms: n.issued_ms,
                max_nc: nc,
            },
        );
        self.order.insert((n.issued_ms, n.id));
        while self.map.len() > self.capacity {
            let Some((issued, id)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.map.remove(&id) {
                debug_assert_eq!(e.issued_ms, issued);
            }
            self.watermark_ms = Some(self.watermark_ms.map_or(issued, |w| w.max(issued)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_round_trip() {
        let raw: Vec<u8> = (0..39u8).map(|i| i.wrapping_mul(37)).collect();
        let s = b64url_encode(&raw);
        assert_eq!(s.len(), ENCODED_LEN);
        assert_eq!(b64url_decode(&s).unwrap(), raw);
        assert!(b64url_decode("ab=c").is_none());
    }

    #[test]
    fn seal_open() {
        let k = [7u8; 32];
        let n = seal(&k, "r", 123_456, [1; RANDOM_LEN]);
        assert_eq!(n.len(), 52);
        let o = open(&k, "r", &n).unwrap();
        assert_eq!(o.issued_ms, 123_456);
        assert!(open(&k, "other", &n).is_none());
        assert!(open(&[8u8; 32], "r", &n).is_none());
        // Flip one character.
        let mut b = n.into_bytes();
        b[12] = if b[12] == b'A' { b'B' } else { b'A' };
        assert!(open(&k, "r", std::str::from_utf8(&b).unwrap()).is_none());
    }

    fn nonce(issued_ms: u64, i: u8) -> OpenedNonce {
        OpenedNonce {
            issued_ms,
            id: [i; TAG_LEN],
        }
    }

    #[test]
    fn replay_cache_bounds_and_watermark() {
        let mut c = ReplayCache::new(2, true);
        c.note_start(1000);
        let life = 10_000;
        assert_eq!(
            c.check_and_record(nonce(999, 0), 1, 1000, life),
            Err(ReplayError::Unknown)
        );
        assert!(c.check_and_record(nonce(1000, 1), 1, 1000, life).is_ok());
        assert_eq!(
            c.check_and_record(nonce(1000, 1), 1, 1001, life),
            Err(ReplayError::Replayed)
        );
        assert!(c.check_and_record(nonce(1000, 1), 3, 1001, life).is_ok());
        assert_eq!(
            c.check_and_record(nonce(1000, 1), 2, 1001, life),
            Err(ReplayError::Replayed)
        );
        assert!(c.check_and_record(nonce(1001, 2), 1, 1002, life).is_ok());
        // A third nonce evicts the oldest (1) and raises the watermark.
        assert!(c.check_and_record(nonce(1002, 3), 1, 1003, life).is_ok());
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check_and_record(nonce(1000, 1), 9, 1004, life),
            Err(ReplayError::Unknown)
        );
        // Expired entries go first, without raising the watermark.
        assert!(c
            .check_and_record(nonce(20_000, 4), 1, 20_000, life)
            .is_ok());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn lenient_cache_accepts_unknown() {
        let mut c = ReplayCache::new(1, false);
        c.note_start(1000);
        assert!(c.check_and_record(nonce(500, 0), 1, 1000, 10_000).is_ok());
        let mut off = ReplayCache::new(0, true);
        assert!(off.check_and_record(nonce(500, 0), 1, 1000, 10_000).is_ok());
        assert!(off.check_and_record(nonce(500, 0), 1, 1000, 10_000).is_ok());
    }
}
