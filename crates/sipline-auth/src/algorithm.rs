//! Digest algorithms and quality-of-protection values (RFC 7616 §3.2, §3.3;
//! RFC 8760 §2.1, §2.7), and the hash plumbing shared by client and server.

use md5::Md5;
use sha2::{Digest as _, Sha256, Sha512_256};
use std::fmt;
use std::str::FromStr;

/// A Digest `algorithm` value (RFC 7616 §3.3, IANA "Hash Algorithms for HTTP
/// Digest Authentication"; RFC 8760 §2.7 ABNF for SIP).
///
/// Each hash has a plain and a `-sess` variant; the session variant derives
/// A1 from the nonce and cnonce as well (RFC 7616 §3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617; the default when `algorithm` is absent, RFC 7616 §3.3).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616 §3.3, mandatory to implement per §3.7).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`: SHA-512/256 (RFC 7616 §3.3, backup algorithm per §3.7).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm, strongest first (within equal strength, the order of
    /// RFC 7616 §3.7: SHA-256, then SHA-512/256).
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
        Algorithm::Md5,
        Algorithm::Md5Sess,
    ];

    /// The token as written in `algorithm=` (RFC 7616 §6.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Parses an `algorithm` token, ASCII case-insensitively; `None` for an
    /// algorithm this crate does not implement.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// True for the `-sess` variants (RFC 7616 §3.4.2).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// The underlying hash function `H` (RFC 7616 §3.3).
    pub fn hash(self) -> HashFunction {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFunction::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFunction::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashFunction::Sha512_256,
        }
    }

    /// A rank for "strongest first" choices: SHA-256 and SHA-512/256 rank
    /// equally (both 256-bit), above MD5 (RFC 7616 §3.2: "NOT RECOMMENDED").
    pub(crate) fn strength(self) -> u8 {
        match self.hash() {
            HashFunction::Md5 => 0,
            HashFunction::Sha256 | HashFunction::Sha512_256 => 1,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = crate::AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or(crate::AuthError::UnsupportedAlgorithm)
    }
}

/// The hash function behind an [`Algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFunction {
    /// MD5: 16-byte digests (32 hex digits).
    Md5,
    /// SHA-256: 32-byte digests (64 hex digits).
    Sha256,
    /// SHA-512/256: 32-byte digests (64 hex digits).
    Sha512_256,
}

impl HashFunction {
    /// Digest length in bytes (RFC 7616 §3.2: 32 or 64 hex digits).
    pub fn output_len(self) -> usize {
        match self {
            HashFunction::Md5 => 16,
            HashFunction::Sha256 | HashFunction::Sha512_256 => 32,
        }
    }

    /// `H(concat(parts))`.
    pub(crate) fn hash_parts(self, parts: &[&[u8]]) -> DigestValue {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> DigestValue {
            for p in parts {
                d.update(p);
            }
            DigestValue::from_slice(&d.finalize())
        }
        match self {
            HashFunction::Md5 => run(Md5::new(), parts),
            HashFunction::Sha256 => run(Sha256::new(), parts),
            HashFunction::Sha512_256 => run(Sha512_256::new(), parts),
        }
    }
}

/// A binary digest of up to 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DigestValue {
    buf: [u8; 32],
    len: usize,
}

impl DigestValue {
    pub(crate) fn from_slice(b: &[u8]) -> Self {
        let mut buf = [0u8; 32];
        let len = b.len().min(32);
        buf[..len].copy_from_slice(&b[..len]);
        Self { buf, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Lower-case hex (RFC 7616 §3.2).
    pub(crate) fn to_hex(self) -> String {
        hex(self.as_bytes())
    }
}

impl fmt::Debug for DigestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestValue(..)")
    }
}

/// Lower-case hex of `b` (RFC 7616 §3.2).
pub(crate) fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    s
}

/// Decodes hex (either case) into bytes; `None` if not hex or odd length.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    s.chunks(2)
        .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
        .collect()
}

/// A `qop` value (RFC 7616 §3.3, §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication only; A2 = Method ":" uri (RFC 7616 §3.4.3).
    Auth,
    /// `auth-int`: authentication with integrity protection of the body;
    /// A2 = Method ":" uri ":" H(entity-body) (RFC 7616 §3.4.3).
    AuthInt,
}

impl Qop {
    /// The token as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }

    /// Parses one qop token, ASCII case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auth") {
            Some(Qop::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }

    /// Parses a challenge's comma-separated qop-options list, skipping
    /// unrecognized options (RFC 7616 §3.3: "Unrecognized options MUST be
    /// ignored").
    pub fn parse_list(s: &str) -> Vec<Qop> {
        let mut out = Vec::new();
        for q in s.split(',').filter_map(Qop::parse) {
            if !out.contains(&q) {
                out.push(q);
            }
        }
        out
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
