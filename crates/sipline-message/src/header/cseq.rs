//! CSeq (RFC 3261 §20.16) and RAck (RFC 3262 §7.2).

use super::InvalidValue;
use crate::method::Method;
use bytestring::ByteString;
use std::fmt;

/// `CSeq: 4711 INVITE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, less than 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// A CSeq.
    pub fn new(seq: u32, method: Method) -> Self {
        Self { seq, method }
    }

    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut it = value.split_ascii_whitespace();
        let seq = parse_seq(it.next().ok_or(InvalidValue)?)?;
        let m = it.next().ok_or(InvalidValue)?;
        if it.next().is_some() {
            return Err(InvalidValue);
        }
        let method = Method::parse_shared(value, m).ok_or(InvalidValue)?;
        Ok(Self { seq, method })
    }
}

/// A sequence number: 1*DIGIT below 2^31 (RFC 3261 §8.1.1.5, RFC 3262 §7.1).
fn parse_seq(s: &str) -> Result<u32, InvalidValue> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidValue);
    }
    s.parse::<u32>()
        .ok()
        .filter(|&n| n < 1 << 31)
        .ok_or(InvalidValue)
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `RAck: 776656 1 INVITE` (RFC 3262 §7.2)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the response acknowledged.
    pub rseq: u32,
    /// Its CSeq number.
    pub cseq: u32,
    /// Its CSeq method.
    pub method: Method,
}

impl RAck {
    /// Parses `response-num LWS CSeq-num LWS Method`.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut it = value.split_ascii_whitespace();
        let rseq = parse_seq(it.next().ok_or(InvalidValue)?)?;
        let cseq = parse_seq(it.next().ok_or(InvalidValue)?)?;
        let method = Method::parse(it.next().ok_or(InvalidValue)?).ok_or(InvalidValue)?;
        if it.next().is_some() {
            return Err(InvalidValue);
        }
        Ok(Self { rseq, cseq, method })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        let c = CSeq::parse(&ByteString::from("4711   INVITE")).unwrap();
        assert_eq!(c, CSeq::new(4711, Method::Invite));
        assert_eq!(c.to_string(), "4711 INVITE");
        let c = CSeq::parse(&ByteString::from("1 FOO")).unwrap();
        assert_eq!(c.method.as_str(), "FOO");
        for bad in [
            "",
            "INVITE",
            "1",
            "x INVITE",
            "2147483648 INVITE",
            "1 INVITE x",
            "-1 ACK",
        ] {
            assert!(CSeq::parse(&ByteString::from(bad)).is_err(), "{bad}");
        }
        assert!(CSeq::parse(&ByteString::from("2147483647 ACK")).is_ok());
    }

    #[test]
    fn rack() {
        let r = RAck::parse(&ByteString::from("776656 1 INVITE")).unwrap();
        assert_eq!(
            (r.rseq, r.cseq, r.method.clone()),
            (776656, 1, Method::Invite)
        );
        assert_eq!(r.to_string(), "776656 1 INVITE");
        assert!(RAck::parse(&ByteString::from("1 INVITE")).is_err());
    }
}
