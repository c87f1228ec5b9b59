//! `tel:` URIs (RFC 3966 §3, comparison §4).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::escape::{self, PARAM_CHARS, RESERVED, UNSAFE, URIC_CHARS};
use super::host::check_hostname;
use super::{split_scheme, UriError, UriErrorKind, UriParam};

/// A `tel:` URI (RFC 3966): `telephone-subscriber = global-number / local-number`.
///
/// `number` is kept as written, including the leading `+` of a global number and any visual
/// separators; parameters are kept as written, in order. A local number always has a
/// `phone-context` parameter (RFC 3966 §5.1.5, enforced by the parser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number as written: `+` and digits for a global number, hex digits, `*` and `#` for
    /// a local one, both with visual separators (`-`, `.`, `(`, `)`).
    pub number: String,
    /// Parameters in order.
    pub params: Vec<UriParam>,
}

/// `visual-separator = "-" / "." / "(" / ")"` (RFC 3966 §3).
fn is_visual_separator(c: u8) -> bool {
    matches!(c, b'-' | b'.' | b'(' | b')')
}

/// First index in `from..to` whose byte satisfies `pred`, else `to`.
fn find(b: &[u8], from: usize, to: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(from..to)
        .and_then(|r| r.iter().position(|&c| pred(c)))
        .map_or(to, |i| from + i)
}

/// Checks `global-number-digits = "+" *phonedigit DIGIT *phonedigit` or
/// `local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex`
/// (RFC 3966 §3). Returns whether the number is global.
fn check_number(n: &[u8], base: usize) -> Result<bool, UriError> {
    let (global, digits) = match n.split_first() {
        Some((b'+', rest)) => (true, rest),
        _ => (false, n),
    };
    let off = base + usize::from(global);
    let mut has_digit = false;
    for (i, &c) in digits.iter().enumerate() {
        let is_digit = if global {
            c.is_ascii_digit()
        } else {
            c.is_ascii_hexdigit() || c == b'*' || c == b'#'
        };
        if is_digit {
            has_digit = true;
        } else if !is_visual_separator(c) {
            return Err(UriError::new(UriErrorKind::InvalidTelNumber, off + i));
        }
    }
    if !has_digit {
        return Err(UriError::new(UriErrorKind::EmptyTelNumber, base));
    }
    Ok(global)
}

/// `descriptor = domainname / global-number-digits` (RFC 3966 §3). Domain names are checked
/// with the same tolerance as SIP host names; digits and dots only (a number missing its `+`)
/// are rejected.
fn check_descriptor(d: &[u8], base: usize) -> Result<(), UriError> {
    let bad = UriError::new(UriErrorKind::InvalidPhoneContext, base);
    if d.first() == Some(&b'+') {
        return match check_number(d, base) {
            Ok(true) => Ok(()),
            _ => Err(bad),
        };
    }
    if check_hostname(d, base).is_err() || d.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        return Err(bad);
    }
    Ok(())
}

/// Parses a tel URI whose `scheme:` (already checked) ends at `start`.
pub(super) fn parse_tel(s: &str, start: usize) -> Result<TelUri, UriError> {
    let b = s.as_bytes();
    let len = b.len();
    let sub = |from: usize, to: usize| s.get(from..to).unwrap_or_default();
    let err = UriError::new;

    let num_end = find(b, start, len, |c| c == b';');
    let number = sub(start, num_end);
    let global = check_number(number.as_bytes(), start)?;

    // par = parameter / extension / isdn-subaddress, context = ";phone-context=" descriptor
    // (RFC 3966 §3). The order rules ("isdn-subaddress or extension MUST appear first, ...
    // followed by any other parameters in lexicographical order") are not enforced.
    let mut params: Vec<UriParam> = Vec::new();
    let mut has_context = false;
    let mut pos = num_end;
    while b.get(pos) == Some(&b';') {
        let n0 = pos + 1;
        let end = find(b, n0, len, |c| c == b';');
        let eq = find(b, n0, end, |c| c == b'=');
        let name = sub(n0, eq);
        if name.is_empty() {
            return Err(err(UriErrorKind::EmptyParamName, n0));
        }
        // pname = 1*( alphanum / "-" )
        if let Some(i) = name
            .bytes()
            .position(|c| !(c.is_ascii_alphanumeric() || c == b'-'))
        {
            return Err(err(UriErrorKind::InvalidParamChar, n0 + i));
        }
        let v0 = eq + 1;
        let value = if eq < end {
            let v = sub(v0, end);
            if v.is_empty() {
                return Err(err(UriErrorKind::EmptyParamValue, v0));
            }
            Some(v)
        } else {
            None
        };
        if name.eq_ignore_ascii_case("isub") {
            // isdn-subaddress = ";isub=" 1*uric
            let v = value.ok_or(err(UriErrorKind::InvalidIsub, n0))?;
            escape::check(v.as_bytes(), v0, URIC_CHARS, UriErrorKind::InvalidIsub)?;
        } else if name.eq_ignore_ascii_case("ext") {
            // extension = ";ext=" 1*phonedigit
            let v = value.ok_or(err(UriErrorKind::InvalidExtension, n0))?;
            if let Some(i) = v
                .bytes()
                .position(|c| !(c.is_ascii_digit() || is_visual_separator(c)))
            {
                return Err(err(UriErrorKind::InvalidExtension, v0 + i));
            }
        } else if name.eq_ignore_ascii_case("phone-context") {
            let v = value.ok_or(err(UriErrorKind::InvalidPhoneContext, n0))?;
            check_descriptor(v.as_bytes(), v0)?;
            has_context = true;
        } else if let Some(v) = value {
            // pvalue = 1*paramchar
            escape::check(
                v.as_bytes(),
                v0,
                PARAM_CHARS,
                UriErrorKind::InvalidParamChar,
            )?;
        }
        params.push(UriParam {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
        pos = end;
    }
    // RFC 3966 §3: "Each parameter name ("pname"), the ISDN subaddress, the 'extension', and
    // the 'context' MUST NOT appear more than once."
    if let Some(idx) = find_duplicate(&params) {
        let off = b
            .iter()
            .enumerate()
            .skip(num_end)
            .filter(|&(_, &c)| c == b';')
            .nth(idx)
            .map_or(num_end, |(i, _)| i + 1);
        return Err(err(UriErrorKind::DuplicateParam, off));
    }
    // RFC 3966 §5.1.5: "Local numbers MUST have a 'phone-context' parameter".
    if !global && !has_context {
        return Err(err(UriErrorKind::MissingPhoneContext, start));
    }
    Ok(TelUri {
        number: number.to_owned(),
        params,
    })
}

fn name_cmp(a: &str, b: &str) -> Ordering {
    escape::cmp_norm(a, b, RESERVED | UNSAFE, true)
}

/// Index of the earliest second occurrence of a parameter name (case-insensitive).
fn find_duplicate(params: &[UriParam]) -> Option<usize> {
    if params.len() < 2 {
        return None;
    }
    let mut idx: Vec<usize> = (0..params.len()).collect();
    let name = |i: usize| params.get(i).map_or("", |p| p.name.as_str());
    idx.sort_by(|&x, &y| name_cmp(name(x), name(y)));
    idx.windows(2)
        .filter_map(|w| match w {
            [x, y] if name_cmp(name(*x), name(*y)) == Ordering::Equal => Some(*y),
            _ => None,
        })
        .min()
}

/// Digits compared after removing visual separators, case-insensitively (RFC 3966 §4).
fn digits_eq(a: &str, b: &str) -> bool {
    fn units(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes()
            .filter(|&c| !is_visual_separator(c))
            .map(|c| c.to_ascii_lowercase())
    }
    units(a).eq(units(b))
}

/// Parameter values compare case-insensitively; characters other than reserved and unsafe ones
/// equal their escape (RFC 3966 §3, §4).
fn value_eq(name: &str, a: Option<&str>, b: Option<&str>) -> bool {
    let (a, b) = match (a, b) {
        (None, None) => return true,
        (Some(a), Some(b)) => (a, b),
        _ => return false,
    };
    if name.eq_ignore_ascii_case("phone-context") {
        // RFC 3966 §4: "the 'phone-context' parameter value is compared as a host name if it
        // is a 'domainname' or digit by digit if it is 'global-number-digits'. The latter is
        // compared after removing all 'visual-separator' characters."
        match (a.starts_with('+'), b.starts_with('+')) {
            (true, true) => digits_eq(a, b),
            (false, false) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    } else if name.eq_ignore_ascii_case("ext") {
        // ext = 1*phonedigit: visual separators are not significant (RFC 3966 §5.1.1).
        digits_eq(a, b)
    } else {
        escape::eq_norm(a, b, RESERVED | UNSAFE, true)
    }
}

impl TelUri {
    /// Parses a `tel:` URI (scheme case-insensitive); any other scheme is an
    /// [`UnexpectedScheme`](UriErrorKind::UnexpectedScheme) error.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let (scheme, start) = split_scheme(s)?;
        if !scheme.eq_ignore_ascii_case("tel") {
            return Err(UriError::new(UriErrorKind::UnexpectedScheme, 0));
        }
        parse_tel(s, start)
    }

    /// Whether this is a global number (starts with `+`, RFC 3966 §5.1.4).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number without visual separators (RFC 3966 §5.1.1), keeping the leading `+` of a
    /// global number: `+1-201-555-0123` → `+12015550123`.
    pub fn digits(&self) -> Cow<'_, str> {
        if self.number.bytes().any(is_visual_separator) {
            Cow::Owned(
                self.number
                    .chars()
                    .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
                    .collect(),
            )
        } else {
            Cow::Borrowed(&self.number)
        }
    }

    /// A parameter by name (case-insensitive): `None` if absent, `Some(None)` if present
    /// without value, `Some(Some(v))` with its value as written.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// Whether a parameter is present (name case-insensitive).
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// The `phone-context` descriptor, as written (RFC 3966 §5.1.5).
    pub fn phone_context(&self) -> Option<&str> {
        self.param("phone-context").flatten()
    }

    /// The `ext` parameter, as written (RFC 3966 §5.3).
    pub fn ext(&self) -> Option<&str> {
        self.param("ext").flatten()
    }

    /// The `isub` parameter, as written (RFC 3966 §5.2).
    pub fn isub(&self) -> Option<&str> {
        self.param("isub").flatten()
    }

    /// RFC 3966 §4 equivalence: both global or both local; numbers equal after removing visual
    /// separators; the same set of parameter names (order not significant), with equal values:
    /// `phone-context` as a host name (case-insensitive) or digit by digit without visual
    /// separators, `ext` without visual separators, others case-insensitively with escapes of
    /// unreserved characters equal to the characters.
    pub fn equivalent(&self, other: &TelUri) -> bool {
        if self.is_global() != other.is_global()
            || !digits_eq(&self.number, &other.number)
            || self.params.len() != other.params.len()
        {
            return false;
        }
        let mut sa: Vec<&UriParam> = self.params.iter().collect();
        let mut sb: Vec<&UriParam> = other.params.iter().collect();
        sa.sort_by(|x, y| name_cmp(&x.name, &y.name));
        sb.sort_by(|x, y| name_cmp(&x.name, &y.name));
        sa.iter().zip(&sb).all(|(p, q)| {
            name_cmp(&p.name, &q.name) == Ordering::Equal
                && value_eq(&p.name, p.value.as_deref(), q.value.as_deref())
        })
    }
}

impl FromStr for TelUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TelUri::parse(s)
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tel:")?;
        f.write_str(&self.number)?;
        for p in &self.params {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}
