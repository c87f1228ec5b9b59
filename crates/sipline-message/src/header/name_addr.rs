//! name-addr / addr-spec headers (RFC 3261 §20.10, §20.20, §20.39, §25.1):
//! From, To, Contact, Route, Record-Route, Path, Service-Route, Reply-To,
//! Refer-To, Referred-By, P-Asserted-Identity.

use super::params::{find_param, Params};
use super::scan::{quote, skip_quoted, unquote, Cursor};
use super::InvalidValue;
use crate::uri::Uri;
use bytestring::ByteString;
use std::fmt;

/// `[display-name] <URI> *(;param)` or `addr-spec *(;param)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display_name: Option<ByteString>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (after `>` or, in addr-spec form, after the URI).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with just a URI.
    pub fn new(uri: Uri) -> Self {
        Self {
            display_name: None,
            uri,
            params: Params::new(),
        }
    }

    /// Parses one value (not a comma list).
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let bytes = c.bytes();
        let display_name;
        let uri_text;
        if c.peek() == Some(b'"') {
            let q = c.quoted().ok_or(InvalidValue)?;
            display_name = Some(ByteString::from(unquote(&q).into_owned()));
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return Err(InvalidValue);
            }
            uri_text = angle_uri(&mut c)?;
        } else if let Some(lt) = top_level_angle(bytes, c.pos) {
            let name = value[c.pos..lt].trim_matches([' ', '\t']);
            display_name = if name.is_empty() {
                None
            } else {
                // display-name = *(token LWS) (RFC 3261 §25.1)
                if !name
                    .bytes()
                    .all(|b| crate::method::is_token_byte(b) || b == b' ' || b == b'\t')
                {
                    return Err(InvalidValue);
                }
                Some(value.slice_ref(name))
            };
            c.pos = lt;
            uri_text = angle_uri(&mut c)?;
        } else {
            // addr-spec: the URI ends at the first `;` (RFC 3261 §20.10: its
            // parameters are header parameters) or white space.
            display_name = None;
            let start = c.pos;
            while c
                .peek()
                .is_some_and(|b| !matches!(b, b';' | b' ' | b'\t' | b','))
            {
                c.pos += 1;
            }
            uri_text = &value[start..c.pos];
        }
        let uri = Uri::parse(uri_text).map_err(|_| InvalidValue)?;
        let params = Params::parse(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(InvalidValue);
        }
        Ok(Self {
            display_name,
            uri,
            params,
        })
    }

    /// The tag parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    /// Sets the tag parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }

    /// The q parameter (RFC 3261 §20.10), 0.0 to 1.0.
    pub fn q(&self) -> Option<f32> {
        self.params
            .get("q")
            .flatten()
            .and_then(|v| v.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
    }

    /// The expires parameter (RFC 3261 §20.10).
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .flatten()
            .and_then(|v| v.parse().ok())
    }
}

/// Offset of the first `<` that is not inside a quoted string, if any.
fn top_level_angle(bytes: &[u8], mut i: usize) -> Option<usize> {
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_quoted(bytes, i),
            b'<' => return Some(i),
            b';' | b',' => return None,
            _ => i += 1,
        }
    }
    None
}

/// At `<`: the text up to the matching `>`, leaving the cursor after it.
fn angle_uri<'a>(c: &mut Cursor<'a>) -> Result<&'a str, InvalidValue> {
    let start = c.pos + 1;
    let end = memchr::memchr(b'>', c.bytes().get(start..).ok_or(InvalidValue)?)
        .ok_or(InvalidValue)?
        + start;
    c.pos = end + 1;
    let src: &'a ByteString = c.src;
    Ok(&src[start..end])
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            f.write_str(&quote(name))?;
            f.write_str(" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        fmt::Display::fmt(&self.params, f)
    }
}

/// A Contact value (RFC 3261 §20.10): an address, or `*` in a REGISTER that
/// removes every binding (§10.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `*`
    Wildcard,
    /// An address with its parameters (q, expires, feature tags of RFC 3840 ...).
    Address(NameAddr),
}

impl Contact {
    /// Parses one Contact value.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        if value.trim() == "*" {
            Ok(Self::Wildcard)
        } else {
            NameAddr::parse(value).map(Self::Address)
        }
    }

    /// The address, unless this is `*`.
    pub fn address(&self) -> Option<&NameAddr> {
        match self {
            Self::Wildcard => None,
            Self::Address(a) => Some(a),
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wildcard => f.write_str("*"),
            Self::Address(a) => fmt::Display::fmt(a, f),
        }
    }
}

/// The tag parameter of a From or To value, read without parsing the URI:
/// the fast path for transaction and dialog matching.
pub fn find_tag(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    let params_start = match top_level_angle(bytes, 0) {
        Some(lt) => lt + memchr::memchr(b'>', &bytes[lt..])? + 1,
        None => memchr::memchr(b';', bytes)?,
    };
    find_param(&value[params_start..], "tag").flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(s: &str) -> Result<NameAddr, InvalidValue> {
        NameAddr::parse(&ByteString::from(s.to_string()))
    }

    #[test]
    fn forms_of_rfc3261_20_20() {
        let a = na(r#""A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s"#).unwrap();
        assert_eq!(a.display_name.as_deref(), Some("A. G. Bell"));
        assert_eq!(a.tag(), Some("a48s"));
        let b = na("sip:+12125551212@server.phone2net.com;tag=887s").unwrap();
        assert!(b.display_name.is_none());
        assert_eq!(b.tag(), Some("887s"));
        assert_eq!(b.uri.to_string(), "sip:+12125551212@server.phone2net.com");
        let c = na("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8").unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Anonymous"));
        let d = na(r#""\"quoted\" name" <sips:x@y.com;transport=tcp>"#).unwrap();
        assert_eq!(d.display_name.as_deref(), Some("\"quoted\" name"));
        assert_eq!(na(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn uri_params_inside_brackets_are_not_header_params() {
        let a = na("<sip:alice@atlanta.com;transport=tcp>;expires=60;q=0.5").unwrap();
        assert_eq!(a.expires(), Some(60));
        assert_eq!(a.q(), Some(0.5));
        assert!(a.params.get("transport").is_none());
        let b = na("sip:alice@atlanta.com;expires=60").unwrap();
        assert_eq!(b.expires(), Some(60));
        assert_eq!(b.uri.to_string(), "sip:alice@atlanta.com");
    }

    #[test]
    fn contact_star_and_feature_tags() {
        assert_eq!(
            Contact::parse(&ByteString::from(" * ")).unwrap(),
            Contact::Wildcard
        );
        let c = Contact::parse(&ByteString::from(
            r#"<sip:u@h>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;audio;expires=3600"#,
        ))
        .unwrap();
        let a = c.address().unwrap();
        assert_eq!(
            a.params.get_unquoted("+sip.instance").unwrap(),
            "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
        );
        assert_eq!(a.params.get("audio"), Some(None));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "<sip:a@b",
            "\"open <sip:a@b>",
            "\"name\" sip:a@b",
            "<sip:a@b> junk",
            "<sip:a@b>;",
            "name@ <sip:a@b>",
            "<nouri>",
        ] {
            assert!(na(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fast_tag() {
        assert_eq!(find_tag(r#""a;tag=x" <sip:a@b;tag=y>;tag=z"#), Some("z"));
        assert_eq!(find_tag("sip:a@b;tag=1928301774"), Some("1928301774"));
        assert_eq!(find_tag("<sip:a@b;tag=y>"), None);
        assert_eq!(find_tag("sip:a@b"), None);
    }
}
