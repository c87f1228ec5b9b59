//! `*( SEMI generic-param )` (RFC 3261 §25.1): parameters after a header value.

use super::scan::{unquote, Cursor};
use super::InvalidValue;
use bytestring::ByteString;
use std::borrow::Cow;
use std::fmt;

/// One `name[=value]` parameter; the value is kept as written (a quoted
/// string keeps its quotes), so printing gives back what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name, as written. Names compare case-insensitively.
    pub name: ByteString,
    /// Value as written, if any.
    pub value: Option<ByteString>,
}

/// Parameters in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Param> {
        self.0.iter()
    }

    /// `Some(value)` if the parameter is present (the inner `None` for a
    /// parameter without a value), compared case-insensitively by name.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value with quotes and escapes removed.
    pub fn get_unquoted(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).flatten().map(unquote)
    }

    /// True if the parameter is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets a parameter, replacing its value if present, else appending it.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(ByteString::from);
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.into(),
                value,
            }),
        }
    }

    /// Removes a parameter; true if it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
        before != self.0.len()
    }

    /// Parses `*( SEMI name [ EQUAL value ] )` at the cursor. Stops at the end
    /// or at anything that is not a `;` (the caller decides if that is an error).
    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Self, InvalidValue> {
        let mut params = Vec::new();
        while c.eat(b';') {
            let name = c.token().ok_or(InvalidValue)?;
            let value = if c.eat(b'=') {
                Some(param_value(c)?)
            } else {
                None
            };
            params.push(Param { name, value });
        }
        Ok(Self(params))
    }
}

/// `gen-value = token / host / quoted-string` (RFC 3261 §25.1). Host covers
/// IPv6 references and the IPv6 addresses of `received` (RFC 5118).
fn param_value(c: &mut Cursor<'_>) -> Result<ByteString, InvalidValue> {
    if c.peek() == Some(b'"') {
        return c.quoted().ok_or(InvalidValue);
    }
    let v = c.take_while(|b| {
        crate::method::is_token_byte(b) || matches!(b, b':' | b'[' | b']' | b'/' | b'@')
    });
    if v.is_empty() {
        Err(InvalidValue)
    } else {
        Ok(v)
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            f.write_str(";")?;
            f.write_str(&p.name)?;
            if let Some(v) = &p.value {
                f.write_str("=")?;
                f.write_str(v)?;
            }
        }
        Ok(())
    }
}

/// Finds a parameter's value in `*( SEMI generic-param )` text without
/// building a [`Params`]: the fast path for `tag` and `branch`.
pub(crate) fn find_param<'a>(s: &'a str, name: &str) -> Option<Option<&'a str>> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            i = super::scan::skip_quoted(bytes, i);
            continue;
        }
        if bytes[i] == b';' {
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
                j += 1;
            }
            let start = j;
            while j < bytes.len() && crate::method::is_token_byte(bytes[j]) {
                j += 1;
            }
            if s[start..j].eq_ignore_ascii_case(name) {
                while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'=' {
                    j += 1;
                    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
                        j += 1;
                    }
                    let vstart = j;
                    if j < bytes.len() && bytes[j] == b'"' {
                        j = super::scan::skip_quoted(bytes, j);
                    } else {
                        while j < bytes.len() && !matches!(bytes[j], b';' | b',' | b' ' | b'\t') {
                            j += 1;
                        }
                    }
                    return Some(Some(&s[vstart..j.min(s.len())]));
                }
                return Some(None);
            }
            i = j;
            continue;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Params, InvalidValue> {
        let src = ByteString::from(s.to_string());
        let mut c = Cursor::new(&src);
        let p = Params::parse(&mut c)?;
        if c.at_end() {
            Ok(p)
        } else {
            Err(InvalidValue)
        }
    }

    #[test]
    fn parse_and_print() {
        let p = parse(r#";branch=z9hG4bK1 ; lr;received=[2001:db8::1];x="a;b""#).unwrap();
        assert_eq!(p.get("BRANCH"), Some(Some("z9hG4bK1")));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.get("received"), Some(Some("[2001:db8::1]")));
        assert_eq!(p.get_unquoted("x").unwrap(), "a;b");
        assert_eq!(
            p.to_string(),
            r#";branch=z9hG4bK1;lr;received=[2001:db8::1];x="a;b""#
        );
        assert_eq!(parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn malformed() {
        assert!(parse(";").is_err());
        assert!(parse(";a=").is_err());
        assert!(parse(";a=\"open").is_err());
        assert!(parse(";=b").is_err());
    }

    #[test]
    fn edit() {
        let mut p = parse(";a=1;b").unwrap();
        p.set("A", Some("2"));
        p.set("c", None);
        assert!(p.remove("b"));
        assert!(!p.remove("zz"));
        assert_eq!(p.to_string(), ";a=2;c");
    }

    #[test]
    fn fast_find() {
        let s = r#";x="tag=no";tag = abc ;y"#;
        assert_eq!(find_param(s, "tag"), Some(Some("abc")));
        assert_eq!(find_param(s, "y"), Some(None));
        assert_eq!(find_param(s, "z"), None);
        assert_eq!(find_param(";tag=", "tag"), Some(Some("")));
    }
}
