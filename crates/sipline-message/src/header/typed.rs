//! One table from header to the grammar its value must follow: what strict
//! parsing and 400 decisions check.

use super::auth::{AuthParams, Challenge};
use super::cseq::{CSeq, RAck};
use super::media_type::MediaType;
use super::name::StdHeader;
use super::name_addr::{Contact, NameAddr};
use super::simple::{is_call_id, ParamValue, Timestamp, Warning};
use super::via::Via;
use super::ListValues;
use bytestring::ByteString;

/// True if `value` (one row) follows the grammar of header `h`. Headers whose
/// grammar is free text, or that sipline does not type, are always accepted.
pub fn validate_value(h: StdHeader, value: &ByteString) -> bool {
    use StdHeader as H;
    let each = |f: fn(&ByteString) -> bool| {
        let mut n = 0;
        for v in ListValues::new(value, true) {
            if !f(&v) {
                return false;
            }
            n += 1;
        }
        n > 0
    };
    match h {
        H::Via => each(|v| Via::parse(v).is_ok()),
        H::From | H::To | H::ReplyTo | H::ReferTo | H::ReferredBy => NameAddr::parse(value).is_ok(),
        H::Contact => each(|v| Contact::parse(v).is_ok()),
        H::Route
        | H::RecordRoute
        | H::Path
        | H::ServiceRoute
        | H::PAssertedIdentity
        | H::PPreferredIdentity => each(|v| NameAddr::parse(v).is_ok()),
        H::CallId => is_call_id(value.trim()),
        H::CSeq => CSeq::parse(value).is_ok(),
        H::RAck => RAck::parse(value).is_ok(),
        H::ContentLength | H::Expires | H::MinExpires | H::RSeq | H::FlowTimer => {
            parse_u32(value).is_some()
        }
        // RFC 3261 §20.22: 0-255
        H::MaxForwards => parse_u32(value).is_some_and(|n| n <= 255),
        H::ContentType => MediaType::parse(value).is_ok(),
        // Accept may be empty: nothing is acceptable (RFC 3261 §20.1)
        H::Accept => value.trim().is_empty() || each(|v| MediaType::parse(v).is_ok()),
        H::Require
        | H::Supported
        | H::Unsupported
        | H::ProxyRequire
        | H::Allow
        | H::AllowEvents
        | H::ContentEncoding
        | H::RequestDisposition
        | H::ContentLanguage => {
            // Supported and Allow may be empty (RFC 3261 §20.37, §20.5)
            value.trim().is_empty() || each(is_token_str)
        }
        H::AcceptEncoding | H::AcceptLanguage => {
            value.trim().is_empty() || each(|v| ParamValue::parse_token(v).is_ok())
        }
        H::Authorization | H::ProxyAuthorization | H::WwwAuthenticate | H::ProxyAuthenticate => {
            Challenge::parse(value).is_ok()
        }
        H::AuthenticationInfo => AuthParams::parse_value(value).is_ok(),
        H::Event | H::SubscriptionState | H::ContentDisposition | H::Priority | H::ReferSub => {
            ParamValue::parse_token(value).is_ok()
        }
        H::Reason => each(|v| ParamValue::parse_token(v).is_ok()),
        H::SessionExpires | H::MinSe | H::RetryAfter => ParamValue::parse_delta(value).is_ok(),
        H::AcceptContact | H::RejectContact => each(|v| ParamValue::parse_star(v).is_ok()),
        H::Replaces => ParamValue::parse_callid(value).is_ok(),
        H::Warning => each(|v| Warning::parse(v).is_ok()),
        H::Timestamp => Timestamp::parse(value).is_ok(),
        H::AlertInfo | H::CallInfo | H::ErrorInfo => each(|v| v.trim_start().starts_with('<')),
        _ => true,
    }
}

fn is_token_str(v: &ByteString) -> bool {
    crate::method::is_token(v)
}

/// `1*DIGIT` as a u32 (surrounding white space allowed).
pub(crate) fn parse_u32(value: &str) -> Option<u32> {
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(h: StdHeader, v: &str) -> bool {
        validate_value(h, &ByteString::from(v.to_string()))
    }

    #[test]
    fn table() {
        assert!(ok(
            StdHeader::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b"
        ));
        assert!(!ok(StdHeader::Via, "SIP/2.0/UDP a, garbage"));
        assert!(!ok(StdHeader::Via, ""));
        assert!(ok(StdHeader::MaxForwards, "70"));
        assert!(!ok(StdHeader::MaxForwards, "256"));
        assert!(!ok(StdHeader::ContentLength, "-1"));
        assert!(!ok(StdHeader::ContentLength, "99999999999"));
        assert!(ok(StdHeader::Supported, ""));
        assert!(ok(StdHeader::Supported, "100rel, timer"));
        assert!(!ok(StdHeader::Require, "a b"));
        assert!(ok(StdHeader::Contact, "*"));
        assert!(ok(StdHeader::Accept, "application/sdp, multipart/mixed"));
        assert!(!ok(StdHeader::CallId, "a b"));
        assert!(ok(StdHeader::Subject, "anything, really"));
        assert!(ok(
            StdHeader::AlertInfo,
            "<http://www.example.com/sounds/moo.wav>"
        ));
        assert!(ok(StdHeader::AcceptLanguage, "da, en-gb;q=0.8, en;q=0.7"));
    }
}
