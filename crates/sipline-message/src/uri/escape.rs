//! Percent-encoding: `escaped = "%" HEXDIG HEXDIG` (RFC 3261 §25.1), `pct-encoded` (RFC 3986 §2.1).
//!
//! The parser keeps every URI component in its escaped form (as written). This module turns
//! escaped text into plain text and back:
//!
//! * [`unescape`] is strict: a malformed escape (`%` not followed by two hex digits) is an
//!   [`InvalidEscape`](UriErrorKind::InvalidEscape) error, and decoded bytes that are not valid
//!   UTF-8 are an [`InvalidUtf8`](UriErrorKind::InvalidUtf8) error. Invalid UTF-8 is never
//!   produced silently.
//! * [`unescape_bytes`] decodes to raw bytes (no UTF-8 requirement).
//! * [`unescape_lossy`] never fails: malformed escapes are kept literally and invalid UTF-8 is
//!   replaced with U+FFFD (the replacement is visible, not silent).
//! * `escape_*` percent-encode (upper-case hex, RFC 3986 §2.1) every byte that may not appear
//!   unescaped in the given component, always including `%` itself and every non-ASCII byte.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{UriError, UriErrorKind};

// ---------------------------------------------------------------------------------------------
// Character classes (bit flags in a 256-entry table).

/// `alphanum` (RFC 3261 §25.1).
pub(super) const ALPHANUM: u16 = 1 << 0;
/// `unreserved = alphanum / mark`, `mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"`
/// (RFC 3261 §25.1).
pub(super) const UNRESERVED: u16 = 1 << 1;
/// `user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"` (RFC 3261 §25.1).
pub(super) const USER_UNRESERVED: u16 = 1 << 2;
/// The extra characters of `password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )`
/// (RFC 3261 §25.1).
pub(super) const PASSWORD_EXTRA: u16 = 1 << 3;
/// `param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"` (RFC 3261 §25.1, RFC 3966 §3).
pub(super) const PARAM_UNRESERVED: u16 = 1 << 4;
/// `hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"` (RFC 3261 §25.1).
pub(super) const HNV_UNRESERVED: u16 = 1 << 5;
/// `reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","` (RFC 3261 §25.1,
/// RFC 2396 §2.2).
pub(super) const RESERVED: u16 = 1 << 6;
/// RFC 2396 §2.4.3 "unsafe" characters (delims and unwise):
/// space `<` `>` `#` `%` `"` `{` `}` `|` `\` `^` `[` `]` `` ` ``.
pub(super) const UNSAFE: u16 = 1 << 7;
/// `#`: not in the `user` rule, but part of telephone-subscriber (RFC 2806 / RFC 3966
/// `local-number-digits`). Accepted unescaped in the SIP user part for robustness, although
/// RFC 3261 §19.1.2 says it MUST be escaped there.
pub(super) const TEL_USER_EXTRA: u16 = 1 << 8;
/// `HEXDIG`.
pub(super) const HEXDIG: u16 = 1 << 9;

const fn in_set(set: &[u8], b: u8) -> bool {
    let mut i = 0;
    while i < set.len() {
        if set[i] == b {
            return true;
        }
        i += 1;
    }
    false
}

const fn build_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0usize;
    while i < 256 {
        let b = i as u8;
        let mut f = 0u16;
        if b.is_ascii_alphanumeric() {
            f |= ALPHANUM | UNRESERVED;
        }
        if b.is_ascii_hexdigit() {
            f |= HEXDIG;
        }
        if in_set(b"-_.!~*'()", b) {
            f |= UNRESERVED;
        }
        if in_set(b"&=+$,;?/", b) {
            f |= USER_UNRESERVED;
        }
        if in_set(b"&=+$,", b) {
            f |= PASSWORD_EXTRA;
        }
        if in_set(b"[]/:&+$", b) {
            f |= PARAM_UNRESERVED;
        }
        if in_set(b"[]/?:+$", b) {
            f |= HNV_UNRESERVED;
        }
        if in_set(b";/?:@&=+$,", b) {
            f |= RESERVED;
        }
        if in_set(b" <>#%\"{}|\\^[]`", b) {
            f |= UNSAFE;
        }
        if b == b'#' {
            f |= TEL_USER_EXTRA;
        }
        t[i] = f;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = build_table();

/// The class bits of a byte.
#[inline]
pub(super) fn class(b: u8) -> u16 {
    TABLE[usize::from(b)]
}

/// Whether `b` is in any of the classes in `mask`.
#[inline]
pub(super) fn is(b: u8, mask: u16) -> bool {
    class(b) & mask != 0
}

/// `user` characters accepted unescaped (RFC 3261 §25.1, plus `#`, see [`TEL_USER_EXTRA`]).
pub(super) const USER_CHARS: u16 = UNRESERVED | USER_UNRESERVED | TEL_USER_EXTRA;
/// `password` characters accepted unescaped (RFC 3261 §25.1).
pub(super) const PASSWORD_CHARS: u16 = UNRESERVED | PASSWORD_EXTRA;
/// `paramchar` without `escaped` (RFC 3261 §25.1, RFC 3966 §3).
pub(super) const PARAM_CHARS: u16 = UNRESERVED | PARAM_UNRESERVED;
/// `hname` / `hvalue` characters without `escaped` (RFC 3261 §25.1).
pub(super) const HEADER_CHARS: u16 = UNRESERVED | HNV_UNRESERVED;
/// `uric` without `escaped` (RFC 2396 §2, RFC 3966 §3).
pub(super) const URIC_CHARS: u16 = UNRESERVED | RESERVED;

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes the escape starting at `s[i]` (which must be `%`), if it is well formed.
#[inline]
pub(super) fn escape_at(s: &[u8], i: usize) -> Option<u8> {
    let hi = hex_val(*s.get(i.checked_add(1)?)?)?;
    let lo = hex_val(*s.get(i.checked_add(2)?)?)?;
    Some((hi << 4) | lo)
}

/// Checks that every byte of `s` is either in `allowed` or starts a well formed escape.
/// Errors carry `base + index` as offset: `kind` for a forbidden byte, `InvalidEscape` for a
/// malformed escape.
pub(super) fn check(
    s: &[u8],
    base: usize,
    allowed: u16,
    kind: UriErrorKind,
) -> Result<(), UriError> {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            if escape_at(s, i).is_none() {
                return Err(UriError::new(UriErrorKind::InvalidEscape, base + i));
            }
            i += 3;
        } else if is(b, allowed) {
            i += 1;
        } else {
            return Err(UriError::new(kind, base + i));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/// Percent-decodes `s` to bytes. Strict: a `%` not followed by two hex digits is an
/// [`InvalidEscape`](UriErrorKind::InvalidEscape) error (offset = byte offset of the `%` in `s`).
/// Borrows when `s` contains no `%`.
pub fn unescape_bytes(s: &str) -> Result<Cow<'_, [u8]>, UriError> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Ok(Cow::Borrowed(b));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let Some(d) = escape_at(b, i) else {
                return Err(UriError::new(UriErrorKind::InvalidEscape, i));
            };
            out.push(d);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(Cow::Owned(out))
}

/// Percent-decodes `s` to a string. Strict: malformed escapes are
/// [`InvalidEscape`](UriErrorKind::InvalidEscape) errors and decoded bytes that are not UTF-8
/// are an [`InvalidUtf8`](UriErrorKind::InvalidUtf8) error whose offset is the byte offset in
/// `s` of the escape that starts the bad sequence. Borrows when `s` contains no `%`.
pub fn unescape(s: &str) -> Result<Cow<'_, str>, UriError> {
    match unescape_bytes(s)? {
        Cow::Borrowed(_) => Ok(Cow::Borrowed(s)),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(st) => Ok(Cow::Owned(st)),
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                Err(UriError::new(
                    UriErrorKind::InvalidUtf8,
                    encoded_offset(s.as_bytes(), bad),
                ))
            }
        },
    }
}

/// Maps an offset in the decoded bytes of `s` back to a byte offset in `s`.
fn encoded_offset(s: &[u8], decoded: usize) -> usize {
    let mut i = 0;
    let mut n = 0;
    while n < decoded {
        match s.get(i) {
            Some(b'%') if escape_at(s, i).is_some() => i += 3,
            Some(_) => i += 1,
            None => break,
        }
        n += 1;
    }
    i
}

/// Percent-decodes `s`, never failing: malformed escapes are kept literally and decoded bytes
/// that are not valid UTF-8 are replaced with U+FFFD REPLACEMENT CHARACTER.
pub fn unescape_lossy(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, escape_at(b, i)) {
            (b'%', Some(d)) => {
                out.push(d);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(st) => Cow::Owned(st),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

fn escape_with(s: &str, allowed: u16) -> Cow<'_, str> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let needs = |b: u8| b == b'%' || !is(b, allowed);
    if !s.bytes().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if needs(b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

/// Escapes plain text for the `user` part of a SIP URI: everything except `unreserved` and
/// `user-unreserved` is percent-encoded (RFC 3261 §19.1.2, §25.1), e.g. `j@s0n` → `j%40s0n`.
pub fn escape_user(s: &str) -> Cow<'_, str> {
    escape_with(s, UNRESERVED | USER_UNRESERVED)
}

/// Escapes plain text for the `password` part of a SIP URI (RFC 3261 §25.1).
pub fn escape_password(s: &str) -> Cow<'_, str> {
    escape_with(s, PASSWORD_CHARS)
}

/// Escapes plain text for a uri-parameter name or value (`paramchar`, RFC 3261 §25.1).
pub fn escape_param(s: &str) -> Cow<'_, str> {
    escape_with(s, PARAM_CHARS)
}

/// Escapes plain text for a header name or value in the `?` part of a SIP URI
/// (`hname` / `hvalue`, RFC 3261 §25.1), e.g. `project x` → `project%20x`.
pub fn escape_header(s: &str) -> Cow<'_, str> {
    escape_with(s, HEADER_CHARS)
}

// ---------------------------------------------------------------------------------------------
// Comparison under escape normalization.

/// Iterates the comparison units of escaped text.
///
/// RFC 3261 §19.1.4: "Characters other than those in the "reserved" set (see RFC 2396 [5]) are
/// equivalent to their "%" HEX HEX encoding." An escape of a character in `keep` (and of `%`
/// itself, otherwise `%253B` would decode to the same text as `%3B`) stays distinct from the
/// literal character; all other escapes compare as the decoded byte. Hex digit case inside an
/// escape is insignificant (RFC 3986 §2.1). With `ci`, ASCII letters are compared
/// case-insensitively.
#[derive(Clone)]
struct Units<'a> {
    s: &'a [u8],
    i: usize,
    keep: u16,
    ci: bool,
}

impl Iterator for Units<'_> {
    type Item = u16;

    #[inline]
    fn next(&mut self) -> Option<u16> {
        let b = *self.s.get(self.i)?;
        let fold = |c: u8| u16::from(if self.ci { c.to_ascii_lowercase() } else { c });
        if b == b'%' {
            if let Some(d) = escape_at(self.s, self.i) {
                self.i += 3;
                if d == b'%' || is(d, self.keep) {
                    return Some(0x100 | u16::from(d));
                }
                return Some(fold(d));
            }
            // A malformed escape (only possible in hand-built values): a unit of its own.
            self.i += 1;
            return Some(0x200 | u16::from(b'%'));
        }
        self.i += 1;
        Some(fold(b))
    }
}

fn units(s: &str, keep: u16, ci: bool) -> Units<'_> {
    Units {
        s: s.as_bytes(),
        i: 0,
        keep,
        ci,
    }
}

/// Equality of two escaped strings under escape normalization (see [`Units`]).
pub(super) fn eq_norm(a: &str, b: &str, keep: u16, ci: bool) -> bool {
    if a.len() == b.len()
        && (if ci {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        })
    {
        return true;
    }
    units(a, keep, ci).eq(units(b, keep, ci))
}

/// Total order consistent with [`eq_norm`].
pub(super) fn cmp_norm(a: &str, b: &str, keep: u16, ci: bool) -> Ordering {
    units(a, keep, ci).cmp(units(b, keep, ci))
}
