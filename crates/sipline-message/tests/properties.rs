//! Property tests: whatever the parser accepts serializes back to an equal
//! message, and no input makes it (or any typed accessor) panic.

use proptest::prelude::*;
use sipline_message::body::Multipart;
use sipline_message::header::validate_value;
use sipline_message::parse::{frame, parse, ParseOptions};
use sipline_message::{Bytes, Message};

/// 400 cases per property, or `PROPTEST_CASES` for longer runs.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn tolerant() -> ParseOptions {
    ParseOptions::default()
}

/// Calls every accessor and check a caller could make; none may panic.
fn exercise(m: &Message) {
    let _ = m.validate(false);
    let _ = m.validate(true);
    let _ = m.top_via();
    let _ = m.vias();
    let _ = m.branch();
    let _ = m.from_header();
    let _ = m.to_header();
    let _ = m.from_tag();
    let _ = m.to_tag();
    let _ = m.call_id();
    let _ = m.cseq();
    let _ = m.max_forwards();
    let _ = m.content_length();
    let _ = m.expires();
    let _ = m.content_type();
    let _ = m.contacts();
    let _ = m.routes();
    let _ = m.record_routes();
    let _ = m.method();
    let _ = Multipart::from_message(m);
    for row in m.headers() {
        if let Some(h) = row.name.std() {
            let _ = validate_value(h, &row.value);
        }
    }
    let _ = m.to_string();
}

fn check_round_trip(data: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Message::parse(Bytes::copy_from_slice(data)) {
        exercise(&m);
        let wire = m.to_bytes();
        prop_assert_eq!(m.encoded_len(), wire.len(), "encoded_len is exact");
        let again = parse(wire.clone(), &tolerant());
        prop_assert!(again.is_ok(), "reparse failed: {:?}\n{:?}", again, wire);
        prop_assert_eq!(again.unwrap().message, m);
    }
    Ok(())
}

const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "UPDATE",
    "INFO",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
    "FOO",
    "x.y-z",
];
const URIS: &[&str] = &[
    "sip:bob@biloxi.example.com",
    "sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x%20y",
    "sip:+1-212-555-1212@gw.example.com;user=phone",
    "tel:+1-201-555-0123;ext=44",
    "tel:7042;phone-context=example.com",
    "sip:192.0.2.4:5070;maddr=239.255.255.1;ttl=15",
    "urn:service:sos",
];
const NAMES: &[&str] = &[
    "Via",
    "v",
    "VIA",
    "From",
    "f",
    "To",
    "t",
    "Call-ID",
    "i",
    "call-id",
    "CSeq",
    "cseq",
    "Max-Forwards",
    "Contact",
    "m",
    "Route",
    "Record-Route",
    "Content-Type",
    "c",
    "Supported",
    "k",
    "Require",
    "Allow",
    "Expires",
    "Authorization",
    "WWW-Authenticate",
    "Subject",
    "s",
    "Event",
    "o",
    "Session-Expires",
    "x",
    "Warning",
    "Timestamp",
    "X-Custom",
    "P-Foo.Bar",
];
const VALUES: &[&str] = &[
    "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;rport",
    "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bK1, SIP/2.0/UDP h;received=::1",
    "\"A. G. Bell\" <sip:agb@bell-telephone.com>;tag=a48s",
    "sip:+12125551212@server.phone2net.com;tag=887s",
    "<sip:a@b;lr>, <sip:c@d;lr>",
    "*",
    "4711 INVITE",
    "70",
    "application/sdp",
    "multipart/mixed;boundary=xyz",
    "100rel, timer",
    "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b\", uri=\"sip:bob@biloxi.com\", response=\"6629fae4\"",
    "presence;id=1",
    "1800;refresher=uac",
    "307 isi.edu \"Session parameter 'foo' not understood\"",
    "",
    "\"unterminated <sip:x@y>",
    "a@b",
];

fn message() -> impl Strategy<Value = Vec<u8>> {
    let start = prop_oneof![
        (prop::sample::select(METHODS), prop::sample::select(URIS))
            .prop_map(|(m, u)| format!("{m} {u} SIP/2.0")),
        (100u16..700, "[ -~\u{e9}\u{4e2d}]{0,20}").prop_map(|(c, r)| format!("SIP/2.0 {c} {r}")),
    ];
    let value = prop_oneof![
        prop::sample::select(VALUES).prop_map(str::to_string),
        "[ -~\t]{0,40}",
        "[a-z;=,<>\"@:. \\\\]{0,30}",
    ];
    let row = (
        prop::sample::select(NAMES),
        prop::sample::select(&[": ", ":", " : ", ":\t"][..]),
        value,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(n, sep, v, fold)| {
            if fold && v.contains(' ') {
                format!("{n}{sep}{}", v.replacen(' ', "\r\n  ", 1))
            } else {
                format!("{n}{sep}{v}")
            }
        });
    let body = prop::collection::vec(any::<u8>(), 0..40);
    (
        start,
        prop::collection::vec(row, 0..14),
        body,
        0u8..3,
        prop::bool::ANY,
    )
        .prop_map(|(start, rows, body, cl_mode, lf)| {
            let mut head = start;
            for r in rows {
                head.push_str("\r\n");
                head.push_str(&r);
            }
            match cl_mode {
                0 => head.push_str(&format!("\r\nContent-Length: {}", body.len())),
                1 => head.push_str(&format!("\r\nl: {}", body.len() / 2)),
                _ => {}
            }
            head.push_str("\r\n\r\n");
            if lf {
                head = head.replace("\r\n", "\n");
            }
            let mut out = head.into_bytes();
            out.extend_from_slice(&body);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// parse(serialize(m)) == m for every message the parser accepts.
    #[test]
    fn round_trip_generated(data in message()) {
        check_round_trip(&data)?;
    }

    /// Most generated messages are accepted: the property above is not vacuous.
    #[test]
    fn generated_messages_mostly_parse(batch in prop::collection::vec(message(), 50)) {
        let ok = batch.iter().filter(|d| Message::parse(Bytes::copy_from_slice(d)).is_ok()).count();
        prop_assert!(ok >= 40, "only {ok} of 50 parsed");
    }

    /// Any bytes: no panic in any reading mode, and round trip when accepted.
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        for opts in [
            tolerant(),
            ParseOptions { strict: true, ..tolerant() },
            ParseOptions { stream: true, ..tolerant() },
        ] {
            let _ = frame(&data, &opts);
            if let Ok(p) = parse(Bytes::copy_from_slice(&data), &opts) {
                exercise(&p.message);
            }
        }
        check_round_trip(&data)?;
    }

    /// A valid message with bytes changed, inserted or removed: no panic,
    /// round trip when accepted, and a framed length never past the input.
    #[test]
    fn mutated_messages(
        data in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut data = data;
        for (at, byte, kind) in edits {
            if data.is_empty() {
                break;
            }
            let i = at.index(data.len());
            match kind {
                0 => data[i] = byte,
                1 => data.insert(i, byte),
                _ => { data.remove(i); }
            }
        }
        if let Ok(sipline_message::parse::Frame::Message(n)) = frame(&data, &tolerant()) {
            prop_assert!(n <= data.len());
        }
        check_round_trip(&data)?;
    }
}
