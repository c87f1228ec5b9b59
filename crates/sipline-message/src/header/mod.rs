//! Header fields: rows as received, and typed views parsed on demand.
//!
//! [`Headers`] keeps every row in the order received, with the name as it was
//! written and the value as a slice of the received buffer. Rows of a
//! comma-separated list header can be read value by value across rows
//! ([`Headers::values`]), which is how RFC 3261 §7.3.1 says they combine.
//! The typed modules parse one value into a struct when asked.

mod auth;
mod cseq;
mod media_type;
mod name;
mod name_addr;
mod params;
mod scan;
pub(crate) use typed::parse_u32;
pub(crate) use via::find_branch as via_branch;
pub(crate) use via::find_sent_by as via_sent_by;
mod simple;
mod typed;
mod via;

pub use auth::{AuthParams, Challenge, Credentials};
pub use cseq::{CSeq, RAck};
pub use media_type::MediaType;
pub use name::{HeaderName, StdHeader};
pub use name_addr::{find_tag, Contact, NameAddr};
pub use params::{Param, Params};
pub use simple::{ParamValue, Timestamp, Warning};
pub use typed::validate_value;
pub use via::{Via, MAGIC_COOKIE};

use bytestring::ByteString;

/// A header value that does not follow its header's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed header value")]
pub struct InvalidValue;

/// One header field row: a name and its value (without surrounding white space;
/// folded lines already joined by a single space, RFC 3261 §7.3.1).
#[derive(Debug, Clone)]
pub struct Header {
    /// The field name, as written.
    pub name: HeaderName,
    /// The field value.
    pub value: ByteString,
    /// Byte offset of the row in the message it was parsed from (0 for rows built here).
    pub(crate) offset: u32,
}

impl Header {
    /// A new row.
    pub fn new(name: impl Into<HeaderName>, value: impl Into<ByteString>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            offset: 0,
        }
    }

    /// Byte offset of this row in the message it was parsed from (0 for rows built in code).
    pub fn offset(&self) -> usize {
        self.offset as usize
    }
}

impl PartialEq for Header {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value
    }
}

impl Eq for Header {}

/// Something that names a header: a [`StdHeader`] or a name as text.
pub trait HeaderKey {
    /// True if `name` is this header.
    fn matches(&self, name: &HeaderName) -> bool;
    /// True if the header's value is a comma-separated list (RFC 3261 §7.3.1).
    fn is_list(&self) -> bool;
}

impl HeaderKey for StdHeader {
    #[inline]
    fn matches(&self, name: &HeaderName) -> bool {
        name.std() == Some(*self)
    }
    fn is_list(&self) -> bool {
        StdHeader::is_list(*self)
    }
}

impl HeaderKey for &str {
    fn matches(&self, name: &HeaderName) -> bool {
        match StdHeader::from_name(self) {
            Some(h) => name.std() == Some(h),
            None => name.std().is_none() && name.as_str().eq_ignore_ascii_case(self),
        }
    }
    fn is_list(&self) -> bool {
        StdHeader::from_name(self).is_some_and(StdHeader::is_list)
    }
}

impl HeaderKey for &HeaderName {
    fn matches(&self, name: &HeaderName) -> bool {
        *self == name
    }
    fn is_list(&self) -> bool {
        self.std().is_some_and(StdHeader::is_list)
    }
}

/// The header rows of a message, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    rows: Vec<Header>,
}

impl Headers {
    /// No rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// No rows, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            rows: Vec::with_capacity(n),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.rows.iter()
    }

    /// Every row in order, mutable.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Header> {
        self.rows.iter_mut()
    }

    /// The last row, mutable.
    pub(crate) fn last_mut(&mut self) -> Option<&mut Header> {
        self.rows.last_mut()
    }

    /// The rows as a slice.
    pub fn as_slice(&self) -> &[Header] {
        &self.rows
    }

    /// The value of the first row named `key`.
    pub fn get(&self, key: impl HeaderKey) -> Option<&ByteString> {
        self.rows
            .iter()
            .find(|h| key.matches(&h.name))
            .map(|h| &h.value)
    }

    /// The first row named `key`.
    pub fn get_row(&self, key: impl HeaderKey) -> Option<&Header> {
        self.rows.iter().find(|h| key.matches(&h.name))
    }

    /// The values of every row named `key` (rows, not split at commas).
    pub fn get_all<'a, K: HeaderKey + 'a>(
        &'a self,
        key: K,
    ) -> impl Iterator<Item = &'a ByteString> + 'a {
        self.rows
            .iter()
            .filter(move |h| key.matches(&h.name))
            .map(|h| &h.value)
    }

    /// Every row named `key`.
    pub fn rows<'a, K: HeaderKey + 'a>(&'a self, key: K) -> impl Iterator<Item = &'a Header> + 'a {
        self.rows.iter().filter(move |h| key.matches(&h.name))
    }

    /// Every value named `key`: for list headers each row split at its
    /// top-level commas (not inside quotes or angle brackets), across rows in
    /// order (RFC 3261 §7.3.1); for others, each row.
    pub fn values<'a, K: HeaderKey + 'a>(
        &'a self,
        key: K,
    ) -> impl Iterator<Item = ByteString> + 'a {
        let list = key.is_list();
        self.rows
            .iter()
            .filter(move |h| key.matches(&h.name))
            .flat_map(move |h| ListValues::new(&h.value, list))
    }

    /// The first value named `key` (for list headers, the first comma-separated item).
    pub fn first_value(&self, key: impl HeaderKey) -> Option<ByteString> {
        let list = key.is_list();
        let row = self.get_row(key)?;
        ListValues::new(&row.value, list).next()
    }

    /// True if a row named `key` exists.
    pub fn contains(&self, key: impl HeaderKey) -> bool {
        self.rows.iter().any(|h| key.matches(&h.name))
    }

    /// Number of rows named `key`.
    pub fn count(&self, key: impl HeaderKey) -> usize {
        self.rows.iter().filter(|h| key.matches(&h.name)).count()
    }

    /// Appends a row.
    pub fn push(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        self.rows.push(Header::new(name, value));
    }

    /// Appends a row.
    pub fn push_row(&mut self, row: Header) {
        self.rows.push(row);
    }

    /// Inserts a row at `index` (clamped to the end).
    pub fn insert(&mut self, index: usize, row: Header) {
        let index = index.min(self.rows.len());
        self.rows.insert(index, row);
    }

    /// Inserts a row before the first row of the same name, or at the top if
    /// there is none: how a proxy adds its Via (RFC 3261 §16.6 step 8) or a
    /// Record-Route (step 4).
    pub fn push_front(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        let row = Header::new(name, value);
        let at = self
            .rows
            .iter()
            .position(|h| h.name == row.name)
            .unwrap_or(0);
        self.rows.insert(at, row);
    }

    /// Replaces every row named like `name` with one row, where the first was
    /// (or at the end if there was none).
    pub fn set(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        let name = name.into();
        let value = value.into();
        match self.rows.iter().position(|h| h.name == name) {
            Some(i) => {
                self.rows[i].value = value;
                let mut j = i + 1;
                while j < self.rows.len() {
                    if self.rows[j].name == name {
                        self.rows.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.rows.push(Header::new(name, value)),
        }
    }

    /// Removes every row named `key`; returns how many were removed.
    pub fn remove_all(&mut self, key: impl HeaderKey) -> usize {
        let before = self.rows.len();
        self.rows.retain(|h| !key.matches(&h.name));
        before - self.rows.len()
    }

    /// Removes the first row named `key` and returns it.
    pub fn remove_first(&mut self, key: impl HeaderKey) -> Option<Header> {
        let i = self.rows.iter().position(|h| key.matches(&h.name))?;
        Some(self.rows.remove(i))
    }

    /// Removes the first value of a list header and returns it: the whole
    /// first row if it holds one value, else that row rewritten without its
    /// first value. How a proxy removes its Via from a response (RFC 3261
    /// §16.7 step 3) or a Route it consumed (§16.4).
    pub fn pop_first_value(&mut self, key: impl HeaderKey) -> Option<ByteString> {
        let i = self.rows.iter().position(|h| key.matches(&h.name))?;
        let row = &mut self.rows[i];
        let mut items = ListValues::new(&row.value, true);
        let first = items.next()?;
        let rest_start = items.rest_offset();
        match rest_start {
            Some(start) => {
                row.value = row.value.slice_ref(&row.value[start..]);
            }
            None => {
                self.rows.remove(i);
            }
        }
        Some(first)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<T: IntoIterator<Item = Header>>(iter: T) -> Self {
        Self {
            rows: iter.into_iter().collect(),
        }
    }
}

/// The comma-separated items of one row, each trimmed; commas inside quoted
/// strings, angle brackets or parentheses do not split.
pub(crate) struct ListValues<'a> {
    src: &'a ByteString,
    pos: usize,
    list: bool,
}

impl<'a> ListValues<'a> {
    pub(crate) fn new(src: &'a ByteString, list: bool) -> Self {
        Self { src, pos: 0, list }
    }

    /// Offset of the first non-blank byte after the last item returned, if any item remains.
    fn rest_offset(&self) -> Option<usize> {
        let bytes = self.src.as_bytes();
        let mut p = self.pos;
        while p < bytes.len() && matches!(bytes[p], b' ' | b'\t' | b',') {
            p += 1;
        }
        (p < bytes.len()).then_some(p)
    }
}

impl Iterator for ListValues<'_> {
    type Item = ByteString;

    fn next(&mut self) -> Option<ByteString> {
        let bytes = self.src.as_bytes();
        loop {
            if self.pos >= bytes.len() {
                return None;
            }
            let start = self.pos;
            let end = if self.list {
                scan::find_top_level_comma(bytes, start).unwrap_or(bytes.len())
            } else {
                bytes.len()
            };
            self.pos = end + 1;
            let item = self.src[start..end].trim_matches(|c| c == ' ' || c == '\t');
            if !item.is_empty() || !self.list {
                return Some(self.src.slice_ref(item));
            }
            // empty items between commas are skipped (RFC 7230 §7 style tolerance)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(rows: &[(&str, &str)]) -> Headers {
        rows.iter()
            .map(|(n, v)| Header::new(HeaderName::new(n.to_string()), v.to_string()))
            .collect()
    }

    #[test]
    fn rows_combine_per_rfc3261_7_3_1() {
        // The three equivalent groups of RFC 3261 §7.3.1.
        let a = h(&[
            ("Route", "<sip:alice@atlanta.com>"),
            ("Subject", "Lunch"),
            ("Route", "<sip:bob@biloxi.com>"),
            ("Route", "<sip:carol@chicago.com>"),
        ]);
        let b = h(&[
            ("Route", "<sip:alice@atlanta.com>, <sip:bob@biloxi.com>"),
            ("Route", "<sip:carol@chicago.com>"),
            ("Subject", "Lunch"),
        ]);
        let c = h(&[
            ("Subject", "Lunch"),
            (
                "Route",
                "<sip:alice@atlanta.com>, <sip:bob@biloxi.com>, <sip:carol@chicago.com>",
            ),
        ]);
        let want = [
            "<sip:alice@atlanta.com>",
            "<sip:bob@biloxi.com>",
            "<sip:carol@chicago.com>",
        ];
        for hs in [a, b, c] {
            let got: Vec<_> = hs.values(StdHeader::Route).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn commas_in_quotes_and_brackets_do_not_split() {
        let hs = h(&[(
            "Contact",
            r#""Smith, John" <sip:j@x.com;a=1,2>;q=0.5 , "a \" , b" <sip:b@y>"#,
        )]);
        let got: Vec<_> = hs.values(StdHeader::Contact).collect();
        assert_eq!(
            got,
            [
                r#""Smith, John" <sip:j@x.com;a=1,2>;q=0.5"#,
                r#""a \" , b" <sip:b@y>"#
            ]
        );
        // Authorization rows are never split (RFC 3261 §7.3.1 exceptions)
        let hs = h(&[("Authorization", "Digest username=\"a\", realm=\"b\"")]);
        assert_eq!(hs.values(StdHeader::Authorization).count(), 1);
        // nor are unknown headers
        let hs = h(&[("X-Foo", "a, b")]);
        assert_eq!(hs.values("x-foo").count(), 1);
    }

    #[test]
    fn pop_first_value_rewrites_only_that_row() {
        let mut hs = h(&[
            (
                "Via",
                "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
            ),
            ("v", "SIP/2.0/TCP c;branch=z9hG4bK3"),
        ]);
        assert_eq!(
            hs.pop_first_value(StdHeader::Via).unwrap(),
            "SIP/2.0/UDP a;branch=z9hG4bK1"
        );
        assert_eq!(hs.len(), 2);
        assert_eq!(hs.as_slice()[0].value, "SIP/2.0/UDP b;branch=z9hG4bK2");
        hs.pop_first_value(StdHeader::Via).unwrap();
        assert_eq!(hs.len(), 1);
        assert_eq!(hs.as_slice()[0].name.as_str(), "v");
        hs.pop_first_value(StdHeader::Via).unwrap();
        assert!(hs.is_empty());
        assert!(hs.pop_first_value(StdHeader::Via).is_none());
    }

    #[test]
    fn push_front_set_remove() {
        let mut hs = h(&[("To", "<sip:a@b>"), ("Via", "SIP/2.0/UDP x")]);
        hs.push_front(StdHeader::Via, "SIP/2.0/UDP proxy");
        assert_eq!(hs.as_slice()[1].value, "SIP/2.0/UDP proxy");
        hs.push_front(StdHeader::RecordRoute, "<sip:p;lr>");
        assert_eq!(hs.as_slice()[0].value, "<sip:p;lr>");
        hs.set(StdHeader::MaxForwards, "69");
        hs.set(StdHeader::MaxForwards, "68");
        assert_eq!(hs.count(StdHeader::MaxForwards), 1);
        assert_eq!(hs.get(StdHeader::MaxForwards).unwrap(), "68");
        assert_eq!(hs.remove_all(StdHeader::Via), 2);
        assert!(hs.get("via").is_none());
        assert!(hs.contains("to") && hs.contains("T"));
    }
}
