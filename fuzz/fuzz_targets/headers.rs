//! Fuzzes the header value grammars: `validate_value` for one standard
//! header (chosen by the first input byte) and every typed parser in
//! `sipline_message::header`, with a Display round trip for each value that
//! parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_message::header::{
    validate_value, AuthParams, CSeq, Challenge, Contact, InvalidValue, MediaType, NameAddr,
    ParamValue, RAck, StdHeader, Timestamp, Via, Warning,
};
use sipline_message::ByteString;
use std::fmt::{Debug, Display};

/// If `parse` accepts `value`, its Display form must parse again to an equal value.
fn check<T>(what: &str, value: &ByteString, parse: fn(&ByteString) -> Result<T, InvalidValue>)
where
    T: Display + Debug + PartialEq,
{
    let Ok(v) = parse(value) else { return };
    let text = v.to_string();
    match parse(&ByteString::from(text.clone())) {
        Ok(again) => assert_eq!(
            again, v,
            "{what}: round trip changed the value; input {value:?}, text {text:?}"
        ),
        Err(_) => panic!("{what}: serialized value does not parse again; input {value:?}, text {text:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&idx, rest)) = data.split_first() else { return };
    let h = StdHeader::ALL[usize::from(idx) % StdHeader::ALL.len()];
    let Ok(s) = std::str::from_utf8(rest) else { return };
    let value = ByteString::from(s.to_owned());

    let _ = validate_value(h, &value);
    let _ = h.as_str();
    let _ = h.compact();
    let _ = h.is_list();
    let _ = h.is_single();

    check("Via", &value, Via::parse);
    check("NameAddr", &value, NameAddr::parse);
    check("Contact", &value, Contact::parse);
    check("CSeq", &value, CSeq::parse);
    check("RAck", &value, RAck::parse);
    check("MediaType", &value, MediaType::parse);
    check("Challenge", &value, Challenge::parse);
    check("AuthParams", &value, AuthParams::parse_value);
    check("Warning", &value, Warning::parse);
    check("Timestamp", &value, Timestamp::parse);
    check("ParamValue::parse_token", &value, ParamValue::parse_token);
    check("ParamValue::parse_delta", &value, ParamValue::parse_delta);
    check("ParamValue::parse_star", &value, ParamValue::parse_star);
    check("ParamValue::parse_callid", &value, ParamValue::parse_callid);

    // Accessors on the values that parse.
    if let Ok(v) = Via::parse(&value) {
        let _ = (v.branch(), v.has_rfc3261_branch(), v.received(), v.rport(), v.maddr(), v.ttl());
        let _ = v.sent_by();
    }
    if let Ok(n) = NameAddr::parse(&value) {
        let _ = (n.tag(), n.q(), n.expires());
    }
    if let Ok(c) = Contact::parse(&value) {
        let _ = c.address();
    }
    if let Ok(m) = MediaType::parse(&value) {
        let _ = m.param("boundary");
        let _ = m.param("charset");
    }
    if let Ok(c) = Challenge::parse(&value) {
        let _ = (c.param("realm"), c.param("nonce"), c.param("qop"));
    }
    if let Ok(p) = ParamValue::parse_delta(&value) {
        let _ = p.as_u32();
    }
});
