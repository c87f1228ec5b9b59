//! Media types of Content-Type and Accept (RFC 3261 §20.1, §20.15).

use super::params::Params;
use super::scan::Cursor;
use super::InvalidValue;
use bytestring::ByteString;
use std::fmt;

/// `type/subtype *(;param)`, e.g. `application/sdp` or `multipart/mixed;boundary=x`.
/// Accept also allows `*` for type and subtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// m-type, e.g. `application`.
    pub mtype: ByteString,
    /// m-subtype, e.g. `sdp`.
    pub subtype: ByteString,
    /// Parameters.
    pub params: Params,
}

impl MediaType {
    /// A media type without parameters.
    pub fn new(mtype: &str, subtype: &str) -> Self {
        Self {
            mtype: mtype.into(),
            subtype: subtype.into(),
            params: Params::new(),
        }
    }

    /// Parses one media-type.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let mtype = c.token().ok_or(InvalidValue)?;
        if !c.eat(b'/') {
            return Err(InvalidValue);
        }
        let subtype = c.token().ok_or(InvalidValue)?;
        let params = Params::parse(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(InvalidValue);
        }
        Ok(Self {
            mtype,
            subtype,
            params,
        })
    }

    /// True if this is `mtype/subtype`, compared case-insensitively (RFC 3261 §7.3.1).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// A parameter, unquoted (e.g. `boundary`, `charset`).
    pub fn param(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.params.get_unquoted(name)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.mtype, self.subtype, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print() {
        let m = MediaType::parse(&ByteString::from(
            "multipart/mixed ; boundary=\"unique-boundary-1\"",
        ))
        .unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(m.param("boundary").unwrap(), "unique-boundary-1");
        assert_eq!(
            m.to_string(),
            "multipart/mixed;boundary=\"unique-boundary-1\""
        );
        assert!(MediaType::parse(&ByteString::from("*/*")).is_ok());
        for bad in ["", "application", "application/", "a/b c", "a/b;"] {
            assert!(MediaType::parse(&ByteString::from(bad)).is_err(), "{bad}");
        }
    }
}
