//! Flow tokens (RFC 5626 §5.2): the user part of a Record-Route value that
//! names the flow (a connection, or a UDP address pair) an in-dialog
//! request must go back over.
//!
//! # Layout
//!
//! ```text
//! raw   = tag (10) || flow          ; flow: the server's flow identity, UTF-8
//! tag   = HMAC-SHA-256(key, "sipline flow token v1" 0x00 flow)[..10]
//! token = "ft-" base64url-without-padding(raw)
//! ```
//!
//! The key is random per start of the server (RFC 5626 §5.2: "When the
//! proxy boots, it selects a [...] crypto random key called K that only the
//! edge proxy knows"), so a token is only good until the server restarts,
//! like the flows it names. The tag is HMAC-SHA-256 truncated to 80 bits,
//! the length of the RFC's HMAC-SHA1-80. The `ft-` prefix tells a token
//! from any other user part; base64url characters are all unreserved in a
//! SIP URI user part (RFC 3261 §25.1), so the token needs no escaping.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What every token starts with.
pub(crate) const PREFIX: &str = "ft-";
const TAG_LEN: usize = 10;
const DOMAIN: &[u8] = b"sipline flow token v1";

fn mac(key: &[u8; 32], flow: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(DOMAIN);
    mac.update(&[0]);
    mac.update(flow);
    mac
}

/// The token for `flow`.
pub(crate) fn seal(key: &[u8; 32], flow: &str) -> String {
    let tag = mac(key, flow.as_bytes()).finalize().into_bytes();
    let mut raw = Vec::with_capacity(TAG_LEN + flow.len());
    raw.extend_from_slice(&tag[..TAG_LEN]);
    raw.extend_from_slice(flow.as_bytes());
    let mut out = String::with_capacity(PREFIX.len() + raw.len().div_ceil(3) * 4);
    out.push_str(PREFIX);
    b64url_encode(&raw, &mut out);
    out
}

/// True if `user` (a URI's user part) is meant as a flow token.
pub(crate) fn is_token(user: &str) -> bool {
    user.starts_with(PREFIX)
}

/// The flow a token names, or `None` if it was not made with `key` (forged,
/// tampered with, or from before a restart).
pub(crate) fn open(key: &[u8; 32], token: &str) -> Option<String> {
    let raw = b64url_decode(token.strip_prefix(PREFIX)?)?;
    if raw.len() <= TAG_LEN {
        return None;
    }
    let (tag, flow) = raw.split_at(TAG_LEN);
    // constant time (RFC 5626 §5.2: "the token cannot be modified by attackers")
    mac(key, flow).verify_truncated_left(tag).ok()?;
    String::from_utf8(flow.to_vec()).ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 4648 §5).
fn b64url_encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // the unused low bits of the last character must be zero (canonical form)
    (acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn round_trip() {
        for flow in [
            "1",
            "42",
            "udp:192.0.2.4:5070@192.0.2.1:5060",
            "udp:[2001:db8::1]:5060@[2001:db8::2]:5060",
        ] {
            let t = seal(&KEY, flow);
            assert!(is_token(&t), "{t}");
            assert!(
                t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{t}"
            );
            assert_eq!(open(&KEY, &t).as_deref(), Some(flow), "{t}");
        }
    }

    #[test]
    fn another_key_or_a_changed_character_is_refused() {
        let t = seal(&KEY, "17");
        assert_eq!(open(&[8; 32], &t), None);
        // every single-character change is detected
        for i in PREFIX.len()..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(open(&KEY, &changed), None, "{changed}");
        }
        // a flow swapped under the same tag
        let other = seal(&KEY, "18");
        let forged = format!("{}{}", &t[..PREFIX.len() + 13], &other[PREFIX.len() + 13..]);
        assert_eq!(open(&KEY, &forged), None);
        // not base64url, too short, no prefix
        assert_eq!(open(&KEY, "ft-!!!!"), None);
        assert_eq!(open(&KEY, "ft-AAAA"), None);
        assert_eq!(open(&KEY, &t[PREFIX.len()..]), None);
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, without padding
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            b64url_encode(plain.as_bytes(), &mut s);
            assert_eq!(s, enc);
            assert_eq!(b64url_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(b64url_decode("Zh"), None, "non-zero trailing bits");
    }
}
