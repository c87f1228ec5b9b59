//! Small helpers: a stable hash, header row surgery, locally generated responses.

use sipline_message::builder::response_to;
use sipline_message::header::{Header, HeaderName, StdHeader};
use sipline_message::{ByteString, Headers, Message, Request, StatusCode};

/// FNV-1a, 64 bits: stable across processes and versions, so that branch
/// values computed for loop detection (RFC 5393 §4.2.4: "a relatively small
/// hash value, such as 32 bits" suffices) and stateless forwarding (RFC 3261
/// §16.11) do not depend on a random seed unless one is mixed in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // a separator, so that ("ab","c") and ("a","bc") differ
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn finish(&self) -> u64 {
        // final avalanche (splitmix64), FNV's low bits mix poorly
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Inserts `value` as the first value of header `name`: before the first row
/// of that name, or, if there is none, right after the last Via row (or at
/// the top). Keeps Route and Record-Route next to the Via rows instead of
/// above the start of the header block.
pub(crate) fn push_front_value(
    headers: &mut Headers,
    name: impl Into<HeaderName>,
    value: impl Into<ByteString>,
) {
    let name = name.into();
    if headers.iter().any(|h| h.name == name) {
        headers.push_front(name, value);
        return;
    }
    let at = headers
        .iter()
        .rposition(|h| h.name.is(StdHeader::Via))
        .map_or(0, |i| i + 1);
    headers.insert(at, Header::new(name, value));
}

/// Every value of header `h` in a single row's value (split at top-level commas).
pub(crate) fn row_values(h: StdHeader, value: &ByteString) -> Vec<ByteString> {
    let one: Headers = std::iter::once(Header::new(h, value.clone())).collect();
    one.values(h).collect()
}

/// Removes the last value of a list header (RFC 3261 §16.4: "remove that
/// value from the Route header field") and returns it. Other rows are kept
/// as they are.
pub(crate) fn pop_last_value(headers: &mut Headers, h: StdHeader) -> Option<ByteString> {
    let idx = headers.iter().rposition(|r| r.name.is(h))?;
    let mut rows: Vec<Header> = headers.iter().cloned().collect();
    let mut values = row_values(h, &rows[idx].value);
    let last = values.pop()?;
    if values.is_empty() {
        rows.remove(idx);
    } else {
        let joined: Vec<&str> = values.iter().map(|v| &**v).collect();
        rows[idx].value = ByteString::from(joined.join(", "));
    }
    *headers = rows.into_iter().collect();
    Some(last)
}

/// Appends `value` as the last value of header `h` (a new row after the last
/// row of that name, or after the Via rows).
pub(crate) fn push_back_value(headers: &mut Headers, h: StdHeader, value: impl Into<ByteString>) {
    let at = headers
        .iter()
        .rposition(|r| r.name.is(h))
        .or_else(|| headers.iter().rposition(|r| r.name.is(StdHeader::Via)))
        .map_or(0, |i| i + 1);
    headers.insert(at, Header::new(h, value));
}

/// A To tag for responses this proxy generates (RFC 3261 §8.2.6.2), derived
/// from the request so that a retransmission gets the same one.
pub(crate) fn local_tag(req: &Request, seed: u64) -> String {
    let msg_headers = &req.headers;
    let mut h = Fnv::new();
    h.u64(seed);
    for name in [StdHeader::CallId, StdHeader::From, StdHeader::CSeq] {
        if let Some(v) = msg_headers.get(name) {
            h.str(v);
        }
    }
    if let Some(row) = msg_headers.get_row(StdHeader::Via) {
        h.str(&row.value);
    }
    format!("{:012x}", h.finish() >> 16)
}

/// A response this element generates as a UAS (RFC 3261 §8.2.6), with a
/// reason phrase if given.
pub(crate) fn reply(req: &Request, status: StatusCode, reason: Option<&str>, seed: u64) -> Message {
    let tag = local_tag(req, seed);
    let mut resp = response_to(req, status, Some(&tag));
    if let Some(r) = reason {
        resp.reason = ByteString::from(r);
    }
    Message::from(resp)
}

/// Formats a q-value as RFC 3261 §25.1 `qvalue` (`"0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]`).
pub(crate) fn fmt_q(q: f32) -> String {
    if q >= 1.0 {
        return "1".into();
    }
    if q <= 0.0 || q.is_nan() {
        return "0".into();
    }
    let s = format!("{q:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_format() {
        assert_eq!(fmt_q(1.0), "1");
        assert_eq!(fmt_q(0.5), "0.5");
        assert_eq!(fmt_q(0.125), "0.125");
        assert_eq!(fmt_q(0.0), "0");
        assert_eq!(fmt_q(0.0001), "0");
    }

    #[test]
    fn pop_last_route() {
        let mut h: Headers = [
            Header::new(StdHeader::Via, "SIP/2.0/UDP a;branch=z9hG4bK1"),
            Header::new(StdHeader::Route, "<sip:a;lr>, <sip:b;lr>"),
            Header::new(StdHeader::Route, "<sip:c>, <sip:d>"),
        ]
        .into_iter()
        .collect();
        assert_eq!(pop_last_value(&mut h, StdHeader::Route).unwrap(), "<sip:d>");
        assert_eq!(pop_last_value(&mut h, StdHeader::Route).unwrap(), "<sip:c>");
        assert_eq!(h.count(StdHeader::Route), 1);
        assert_eq!(
            pop_last_value(&mut h, StdHeader::Route).unwrap(),
            "<sip:b;lr>"
        );
        push_back_value(&mut h, StdHeader::Route, "<sip:z>");
        let all: Vec<_> = h.values(StdHeader::Route).collect();
        assert_eq!(all, ["<sip:a;lr>", "<sip:z>"]);
    }

    #[test]
    fn hash_is_stable() {
        let a = Fnv::new().str("ab").str("c").finish();
        let b = Fnv::new().str("a").str("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, Fnv::new().str("ab").str("c").finish());
    }
}
