//! Small scanning helpers shared by the typed header parsers.

use bytestring::ByteString;

/// Offset of the first comma at `start` or after that is not inside a quoted
/// string, angle brackets or a comment (RFC 3261 §25.1).
pub(crate) fn find_top_level_comma(bytes: &[u8], start: usize) -> Option<usize> {
    // Most values have no comma, or none after a quote, `<` or `(`: two
    // vectorised searches say so (this runs on every header value that is
    // read, several times per message).
    let rest = bytes.get(start..)?;
    let comma = start + memchr::memchr(b',', rest)?;
    if memchr::memchr3(b'"', b'<', b'(', &bytes[start..comma]).is_none() {
        return Some(comma);
    }
    scan_top_level_comma(bytes, start)
}

/// [`find_top_level_comma`] byte by byte.
fn scan_top_level_comma(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    let mut angle = false;
    let mut paren = 0u32;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = skip_quoted(bytes, i);
                continue;
            }
            b'<' => angle = true,
            b'>' => angle = false,
            b'(' => paren += 1,
            b')' => paren = paren.saturating_sub(1),
            b',' if !angle && paren == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Given `bytes[i] == '"'`, the offset just past the closing quote (or the end).
pub(crate) fn skip_quoted(bytes: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// Removes the quotes and backslash escapes of a quoted-string (RFC 3261 §25.1);
/// a string without quotes is returned as is.
pub(crate) fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.into();
    };
    if !inner.contains('\\') {
        return inner.into();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Writes `s` as a quoted-string, escaping `"` and `\`.
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

/// A cursor over a header value that hands out zero-copy slices of it.
pub(crate) struct Cursor<'a> {
    pub(crate) src: &'a ByteString,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a ByteString) -> Self {
        Self { src, pos: 0 }
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Skips white space, then eats `c` if it is next (and white space after it).
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn slice(&self, start: usize, end: usize) -> ByteString {
        self.src.slice_ref(&self.src[start..end])
    }

    /// Takes bytes while `f` holds; returns the slice (possibly empty).
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> ByteString {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// A token (RFC 3261 §25.1), or None if there is none here.
    pub(crate) fn token(&mut self) -> Option<ByteString> {
        let t = self.take_while(crate::method::is_token_byte);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted-string including its quotes, or None if none starts here or it is unterminated.
    pub(crate) fn quoted(&mut self) -> Option<ByteString> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos;
        let end = skip_quoted(self.bytes(), start);
        if end < start + 2 || self.bytes().get(end - 1) != Some(&b'"') || end > self.src.len() {
            return None;
        }
        // `skip_quoted` may stop on an escaped quote at the very end: make sure it is a real close.
        let inner = &self.bytes()[start + 1..end - 1];
        let mut backslashes = 0;
        for &b in inner.iter().rev() {
            if b == b'\\' {
                backslashes += 1;
            } else {
                break;
            }
        }
        if backslashes % 2 == 1 {
            return None;
        }
        self.pos = end;
        Some(self.slice(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick exits give what the byte-by-byte scan gives.
    #[test]
    fn top_level_comma_same_as_full_scan() {
        for v in [
            "",
            ",",
            "a, b",
            "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g",
            "\"Doe, J\" <sip:j@h>, <sip:k@h>",
            "<sip:a@h;x=1,2>, <sip:b@h>",
            "a (comment, here), b",
            "a > b, c",
            "a ) b, c",
            "\"un,closed",
            "\"esc\\\",\" x, y",
            "<sip:a@h>,<sip:b@h>,",
        ] {
            let b = v.as_bytes();
            for start in 0..=b.len() + 1 {
                assert_eq!(
                    find_top_level_comma(b, start),
                    scan_top_level_comma(b, start),
                    "{v:?} from {start}"
                );
            }
        }
        // and on every short string of the bytes that matter (pseudo-random)
        let alphabet = b",\"<>()\\ a";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 13) as usize;
            let b: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (4 + 4 * k)) % alphabet.len() as u64) as usize])
                .collect();
            let start = ((x >> 60) as usize) % (len + 1);
            assert_eq!(
                find_top_level_comma(&b, start),
                scan_top_level_comma(&b, start),
                "{b:?} from {start}"
            );
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote(r#""a \"b\" \\ c""#), r#"a "b" \ c"#);
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(quote(r#"a "b" \"#), r#""a \"b\" \\""#);
        assert_eq!(unquote(&quote("x\"y")), "x\"y");
    }

    #[test]
    fn quoted_cursor() {
        let s = ByteString::from(r#""ab\"c" rest"#);
        let mut c = Cursor::new(&s);
        assert_eq!(c.quoted().unwrap(), r#""ab\"c""#);
        let s = ByteString::from(r#""unterminated\""#);
        assert!(Cursor::new(&s).quoted().is_none());
        let s = ByteString::from("\"");
        assert!(Cursor::new(&s).quoted().is_none());
    }
}
