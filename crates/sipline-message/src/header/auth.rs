//! Authentication headers (RFC 3261 §20.6, §20.7, §20.27, §20.28, §20.44, §25.1):
//! `Digest realm="x", nonce="y", ...`.

use super::params::Param;
use super::scan::{unquote, Cursor};
use super::InvalidValue;
use bytestring::ByteString;
use std::borrow::Cow;
use std::fmt;

/// Comma-separated `name=value` pairs (values kept as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthParams(pub Vec<Param>);

impl AuthParams {
    /// A parameter's value, unquoted.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
            .map(unquote)
    }

    /// A parameter's value as written (quoted strings keep their quotes).
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
    }

    /// Appends a parameter whose value is written as given.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push(Param {
            name: name.into(),
            value: Some(value.into()),
        });
    }

    fn parse(c: &mut Cursor<'_>) -> Result<Self, InvalidValue> {
        let mut out = Vec::new();
        let mut after_comma = false;
        loop {
            c.skip_ws();
            if c.at_end() {
                if after_comma {
                    return Err(InvalidValue);
                }
                break;
            }
            let name = c.token().ok_or(InvalidValue)?;
            if !c.eat(b'=') {
                return Err(InvalidValue);
            }
            let value = if c.peek() == Some(b'"') {
                c.quoted().ok_or(InvalidValue)?
            } else {
                c.token().ok_or(InvalidValue)?
            };
            out.push(Param {
                name,
                value: Some(value),
            });
            after_comma = c.eat(b',');
            if !after_comma {
                c.skip_ws();
                if !c.at_end() {
                    return Err(InvalidValue);
                }
                break;
            }
        }
        Ok(Self(out))
    }

    /// Parses a whole Authentication-Info value.
    pub fn parse_value(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        let p = Self::parse(&mut c)?;
        if p.0.is_empty() {
            return Err(InvalidValue);
        }
        Ok(p)
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", p.name, p.value.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

/// A challenge: WWW-Authenticate or Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, e.g. `Digest`.
    pub scheme: ByteString,
    /// Its parameters (realm, nonce, opaque, algorithm, qop, stale ...).
    pub params: AuthParams,
}

/// Credentials: Authorization or Proxy-Authorization.
pub type Credentials = Challenge;

impl Challenge {
    /// Parses `scheme LWS param *(COMMA param)`.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let scheme = c.token().ok_or(InvalidValue)?;
        let params = AuthParams::parse(&mut c)?;
        Ok(Self { scheme, params })
    }

    /// A parameter's value, unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params.get(name)
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.scheme, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_challenge_and_credentials() {
        let v = ByteString::from(
            r#"Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5"#,
        );
        let c = Challenge::parse(&v).unwrap();
        assert_eq!(c.scheme, "Digest");
        assert_eq!(c.param("realm").unwrap(), "atlanta.com");
        assert_eq!(c.param("opaque").unwrap(), "");
        assert_eq!(c.param("ALGORITHM").unwrap(), "MD5");
        assert_eq!(
            Challenge::parse(&ByteString::from(c.to_string())).unwrap(),
            c
        );
        let a = Challenge::parse(&ByteString::from(
            r#"Digest username="bob",realm="biloxi.com",nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",uri="sip:bob@biloxi.com",qop=auth,nc=00000001,cnonce="0a4f113b",response="6629fae49393a05397450978507c4ef1",opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        ))
        .unwrap();
        assert_eq!(a.param("nc").unwrap(), "00000001");
        assert_eq!(a.param("uri").unwrap(), "sip:bob@biloxi.com");
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "Digest realm",
            "Digest realm=\"x",
            "Digest a=1 b=2",
            "Digest a=1,",
        ] {
            assert!(Challenge::parse(&ByteString::from(bad)).is_err(), "{bad}");
        }
    }
}
