//! Headers whose value is one item and parameters, and a few small shapes:
//! Event, Subscription-State, Content-Disposition, Session-Expires, Min-SE,
//! Retry-After, Reason, Accept-Contact, Reject-Contact, Replaces, Warning,
//! Timestamp.

use super::params::Params;
use super::scan::{unquote, Cursor};
use super::InvalidValue;
use bytestring::ByteString;
use std::fmt;

/// `value *( SEMI generic-param )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamValue {
    /// The value before the parameters.
    pub value: ByteString,
    /// The parameters.
    pub params: Params,
}

impl ParamValue {
    /// A token followed by parameters: Event (RFC 6665 §8.4 event-type),
    /// Subscription-State, Content-Disposition, Reason (protocol), Priority.
    pub fn parse_token(value: &ByteString) -> Result<Self, InvalidValue> {
        Self::parse_with(value, crate::method::is_token_byte)
    }

    /// delta-seconds followed by parameters: Session-Expires, Min-SE (RFC 4028),
    /// Retry-After (RFC 3261 §20.33, whose comment is skipped).
    pub fn parse_delta(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let v = c.take_while(|b| b.is_ascii_digit());
        if v.is_empty() || v.len() > 10 || v.parse::<u32>().is_err() {
            return Err(InvalidValue);
        }
        c.skip_ws();
        if c.peek() == Some(b'(') {
            // comment: skip to the matching parenthesis
            let mut depth = 0u32;
            while let Some(b) = c.peek() {
                c.pos += 1;
                match b {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if depth != 0 {
                return Err(InvalidValue);
            }
        }
        Self::finish(v, c)
    }

    /// `*` followed by parameters: Accept-Contact, Reject-Contact (RFC 3841 §9).
    pub fn parse_star(value: &ByteString) -> Result<Self, InvalidValue> {
        Self::parse_with(value, |b| b == b'*')
    }

    /// A Call-ID followed by parameters: Replaces (RFC 3891 §6.1).
    pub fn parse_callid(value: &ByteString) -> Result<Self, InvalidValue> {
        Self::parse_with(value, |b| is_word_byte(b) || b == b'@')
    }

    fn parse_with(value: &ByteString, f: impl Fn(u8) -> bool) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let v = c.take_while(f);
        if v.is_empty() {
            return Err(InvalidValue);
        }
        Self::finish(v, c)
    }

    fn finish(value: ByteString, mut c: Cursor<'_>) -> Result<Self, InvalidValue> {
        let params = Params::parse(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(InvalidValue);
        }
        Ok(Self { value, params })
    }

    /// The value as a number (for the delta-seconds headers).
    pub fn as_u32(&self) -> Option<u32> {
        self.value.parse().ok()
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.params)
    }
}

/// `word` of RFC 3261 §25.1, as used by Call-ID.
pub(crate) fn is_word_byte(b: u8) -> bool {
    crate::method::is_token_byte(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
pub(crate) fn is_call_id(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    let ok = |w: Option<&str>| w.is_some_and(|w| !w.is_empty() && w.bytes().all(is_word_byte));
    ok(parts.next()) && parts.next().is_none_or(|w| ok(Some(w)))
}

/// One Warning value (RFC 3261 §20.43): `307 isi.edu "Session parameter 'foo' not understood"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// warn-code, three digits.
    pub code: u16,
    /// warn-agent: host[:port] or a pseudonym.
    pub agent: ByteString,
    /// warn-text, unquoted.
    pub text: String,
}

impl Warning {
    /// Parses one Warning value.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let code = c.take_while(|b| b.is_ascii_digit());
        if code.len() != 3 {
            return Err(InvalidValue);
        }
        let code = code.parse().map_err(|_| InvalidValue)?;
        c.skip_ws();
        let agent = c.take_while(|b| !matches!(b, b' ' | b'\t' | b'"'));
        if agent.is_empty() {
            return Err(InvalidValue);
        }
        c.skip_ws();
        let text = c.quoted().ok_or(InvalidValue)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(InvalidValue);
        }
        Ok(Self {
            code,
            agent,
            text: unquote(&text).into_owned(),
        })
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // warn-code = 3DIGIT (RFC 3261 §25.1): keep leading zeros
        write!(
            f,
            "{:03} {} {}",
            self.code,
            self.agent,
            super::scan::quote(&self.text)
        )
    }
}

/// Timestamp (RFC 3261 §20.38): `1*(DIGIT) [ "." *(DIGIT) ] [ LWS delay ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The time value as written.
    pub time: ByteString,
    /// The delay as written.
    pub delay: Option<ByteString>,
}

impl Timestamp {
    /// Parses a Timestamp value.
    pub fn parse(value: &ByteString) -> Result<Self, InvalidValue> {
        let mut it = value.split_ascii_whitespace();
        let time = it.next().filter(|t| is_decimal(t)).ok_or(InvalidValue)?;
        let delay = it.next();
        if delay.is_some_and(|d| !is_decimal(d)) || it.next().is_some() {
            return Err(InvalidValue);
        }
        Ok(Self {
            time: value.slice_ref(time),
            delay: delay.map(|d| value.slice_ref(d)),
        })
    }
}

fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.time)?;
        if let Some(d) = &self.delay {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> ByteString {
        ByteString::from(s.to_string())
    }

    #[test]
    fn param_values() {
        let e = ParamValue::parse_token(&b("presence;id=1")).unwrap();
        assert_eq!(e.value, "presence");
        assert_eq!(e.params.get("id"), Some(Some("1")));
        let s = ParamValue::parse_token(&b("active;expires=60")).unwrap();
        assert_eq!(s.params.get("expires"), Some(Some("60")));
        let se = ParamValue::parse_delta(&b("1800;refresher=uac")).unwrap();
        assert_eq!(se.as_u32(), Some(1800));
        let ra = ParamValue::parse_delta(&b("18000;duration=3600")).unwrap();
        assert_eq!(ra.params.get("duration"), Some(Some("3600")));
        let ra = ParamValue::parse_delta(&b("120 (I'm in a meeting)")).unwrap();
        assert_eq!(ra.as_u32(), Some(120));
        assert!(ParamValue::parse_delta(&b("120 (open")).is_err());
        let r = ParamValue::parse_token(&b("SIP ;cause=200 ;text=\"Call completed elsewhere\""))
            .unwrap();
        assert_eq!(
            r.params.get_unquoted("text").unwrap(),
            "Call completed elsewhere"
        );
        let ac = ParamValue::parse_star(&b("*;audio;require;explicit")).unwrap();
        assert!(ac.params.contains("explicit"));
        let rp =
            ParamValue::parse_callid(&b("425928@bobster.example.org;to-tag=7743;from-tag=6472"))
                .unwrap();
        assert_eq!(rp.value, "425928@bobster.example.org");
        assert!(ParamValue::parse_token(&b("")).is_err());
        assert!(ParamValue::parse_delta(&b("abc")).is_err());
    }

    #[test]
    fn call_ids() {
        assert!(is_call_id(
            "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com"
        ));
        assert!(is_call_id("a84b4c76e66710"));
        assert!(!is_call_id(""));
        assert!(!is_call_id("a b"));
        assert!(!is_call_id("a@"));
    }

    #[test]
    fn warning_and_timestamp() {
        let w = Warning::parse(&b(
            r#"307 isi.edu "Session parameter 'foo' not understood""#,
        ))
        .unwrap();
        assert_eq!(w.code, 307);
        assert_eq!(w.agent, "isi.edu");
        assert_eq!(Warning::parse(&b(&w.to_string())).unwrap(), w);
        assert!(Warning::parse(&b("30 x \"y\"")).is_err());
        // found by fuzzing: a leading zero must survive printing
        let w = Warning::parse(&b("071'od\"od\""))
            .unwrap_or_else(|_| Warning::parse(&b("071 'od \"od\"")).unwrap());
        assert_eq!(Warning::parse(&b(&w.to_string())).unwrap(), w);
        let t = Timestamp::parse(&b("54.21 0.3")).unwrap();
        assert_eq!(t.delay.as_deref(), Some("0.3"));
        assert!(Timestamp::parse(&b("x")).is_err());
    }
}
