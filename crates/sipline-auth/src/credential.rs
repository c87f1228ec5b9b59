//! What a user's secret looks like to this crate, and the digest computations
//! of RFC 7616 §3.4.1–§3.4.3 shared by client and server.

use crate::algorithm::{Algorithm, DigestValue, HashFunction, Qop};
use std::fmt;

/// A user's secret, as a server stores it or a client holds it.
///
/// Storing [`Credential::Ha1`] lets a server verify requests without knowing
/// the password (RFC 7616 §3.6, §5.2); such a record works only for the hash
/// functions it has a value for.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The plaintext password.
    Password(String),
    /// Precomputed `H(username ":" realm ":" password)`, one per hash
    /// function (RFC 7616 §3.4.2, §5.2). The `-sess` variants derive from the
    /// same value.
    Ha1(Ha1Set),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(..)"),
            Credential::Ha1(h) => f.debug_tuple("Ha1").field(h).finish(),
        }
    }
}

/// Precomputed HA1 values, `H(username ":" realm ":" password)`, per hash
/// function (RFC 7616 §3.4.2). Any of them may be missing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ha1Set {
    /// For `MD5` and `MD5-sess`.
    pub md5: Option<[u8; 16]>,
    /// For `SHA-256` and `SHA-256-sess`.
    pub sha256: Option<[u8; 32]>,
    /// For `SHA-512-256` and `SHA-512-256-sess`.
    pub sha512_256: Option<[u8; 32]>,
}

impl fmt::Debug for Ha1Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1Set")
            .field("md5", &self.md5.is_some())
            .field("sha256", &self.sha256.is_some())
            .field("sha512_256", &self.sha512_256.is_some())
            .finish()
    }
}

impl Ha1Set {
    /// All three HA1 values for a user, for provisioning a user database.
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        let f = |h: HashFunction| ha1_plain(h, username, realm, password);
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(f(HashFunction::Md5).as_bytes());
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(f(HashFunction::Sha256).as_bytes());
        let mut sha512_256 = [0u8; 32];
        sha512_256.copy_from_slice(f(HashFunction::Sha512_256).as_bytes());
        Self {
            md5: Some(md5),
            sha256: Some(sha256),
            sha512_256: Some(sha512_256),
        }
    }

    /// The HA1 for hash function `h`, if stored.
    pub fn get(&self, h: HashFunction) -> Option<&[u8]> {
        match h {
            HashFunction::Md5 => self.md5.as_ref().map(|x| &x[..]),
            HashFunction::Sha256 => self.sha256.as_ref().map(|x| &x[..]),
            HashFunction::Sha512_256 => self.sha512_256.as_ref().map(|x| &x[..]),
        }
    }
}

/// `H(unq(username) ":" unq(realm) ":" passwd)` (RFC 7616 §3.4.2).
pub(crate) fn ha1_plain(
    h: HashFunction,
    username: &str,
    realm: &str,
    password: &str,
) -> DigestValue {
    h.hash_parts(&[
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The base HA1 (`H(user:realm:pw)`) for `credential` and hash `h`, or `None`
/// when an [`Ha1Set`] lacks that hash.
pub(crate) fn base_ha1(
    credential: &Credential,
    h: HashFunction,
    username: &str,
    realm: &str,
) -> Option<DigestValue> {
    match credential {
        Credential::Password(p) => Some(ha1_plain(h, username, realm, p)),
        Credential::Ha1(set) => set.get(h).map(DigestValue::from_slice),
    }
}

/// Everything the response digest depends on besides HA1.
pub(crate) struct DigestInput<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) nonce: &'a str,
    /// `(qop, nc as written, cnonce)`; `None` for the RFC 2069 form.
    pub(crate) qop: Option<(Qop, &'a str, &'a str)>,
    /// The Method part of A2; empty for `rspauth` (RFC 7616 §3.5).
    pub(crate) method: &'a str,
    /// The digest-uri-value.
    pub(crate) uri: &'a str,
    /// The entity body, needed for auth-int.
    pub(crate) body: &'a [u8],
}

impl DigestInput<'_> {
    /// The session HA1: for `-sess`, `H(HA1 ":" nonce ":" cnonce)`
    /// (RFC 7616 §3.4.2); otherwise the base HA1 itself.
    pub(crate) fn session_ha1(&self, base: &DigestValue) -> DigestValue {
        let h = self.algorithm.hash();
        if self.algorithm.is_session() {
            let cnonce = self.qop.map(|(_, _, c)| c).unwrap_or("");
            h.hash_parts(&[
                base.to_hex().as_bytes(),
                b":",
                self.nonce.as_bytes(),
                b":",
                cnonce.as_bytes(),
            ])
        } else {
            *base
        }
    }

    /// The request-digest (RFC 7616 §3.4.1; RFC 2617 §3.2.2.1 for the form
    /// without qop), given the base HA1.
    pub(crate) fn response(&self, base: &DigestValue) -> DigestValue {
        let h = self.algorithm.hash();
        let ha1 = self.session_ha1(base).to_hex();
        // RFC 7616 §3.4.3: A2 = Method ":" request-uri [":" H(entity-body)].
        // RFC 8760 §2.6 item 7 / RFC 3261 §22.4 item 7: an empty body hashes
        // as H("").
        let ha2 = match self.qop {
            Some((Qop::AuthInt, _, _)) => {
                let hb = h.hash_parts(&[self.body]).to_hex();
                h.hash_parts(&[
                    self.method.as_bytes(),
                    b":",
                    self.uri.as_bytes(),
                    b":",
                    hb.as_bytes(),
                ])
            }
            _ => h.hash_parts(&[self.method.as_bytes(), b":", self.uri.as_bytes()]),
        }
        .to_hex();
        match self.qop {
            // KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" HA2)
            Some((qop, nc, cnonce)) => h.hash_parts(&[
                ha1.as_bytes(),
                b":",
                self.nonce.as_bytes(),
                b":",
                nc.as_bytes(),
                b":",
                cnonce.as_bytes(),
                b":",
                qop.as_str().as_bytes(),
                b":",
                ha2.as_bytes(),
            ]),
            // RFC 2617 §3.2.2.1 (RFC 2069 compatibility): KD(HA1, nonce ":" HA2)
            None => h.hash_parts(&[
                ha1.as_bytes(),
                b":",
                self.nonce.as_bytes(),
                b":",
                ha2.as_bytes(),
            ]),
        }
    }
}

/// Writes `s` as a quoted-string (RFC 3261 §25.1), escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
