//! Property tests: the parser never panics, and serialization round-trips.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use sipline_sdp::{
    Attribute, Bandwidth, Connection, Direction, MediaDescription, Origin, ParseOptions, Repeat,
    Rtpmap, SessionDescription, TimeUnit, TimeZone, Timing, TypedTime, UnknownLine,
};

const BOTH: [ParseOptions; 2] = [ParseOptions::STRICT, ParseOptions::TOLERANT];

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.+!#$%&'*^_`{|}~-]{0,8}"
}

/// RFC 4566 `text`: any characters but CR, LF and NUL.
fn text() -> impl Strategy<Value = String> {
    "[^\r\n\x00]{0,16}"
}

fn typed_time() -> impl Strategy<Value = TypedTime> {
    (
        any::<u64>(),
        option::of(prop_oneof![
            Just(TimeUnit::Days),
            Just(TimeUnit::Hours),
            Just(TimeUnit::Minutes),
            Just(TimeUnit::Seconds),
        ]),
    )
        .prop_map(|(value, unit)| TypedTime { value, unit })
}

fn timing() -> impl Strategy<Value = Timing> {
    let repeat = (typed_time(), typed_time(), vec(typed_time(), 1..3)).prop_map(
        |(interval, duration, offsets)| Repeat {
            interval,
            duration,
            offsets,
        },
    );
    (any::<u64>(), any::<u64>(), vec(repeat, 0..3)).prop_map(|(start, stop, repeats)| Timing {
        start,
        stop,
        repeats,
    })
}

fn zone() -> impl Strategy<Value = TimeZone> {
    (any::<u64>(), any::<bool>(), typed_time()).prop_map(|(adjustment, negative, offset)| {
        TimeZone {
            adjustment,
            negative,
            offset,
        }
    })
}

fn connection() -> impl Strategy<Value = Connection> {
    let c = |addr_type: &str, address: String, ttl, num_addresses| Connection {
        net_type: "IN".into(),
        addr_type: addr_type.into(),
        address,
        ttl,
        num_addresses,
    };
    prop_oneof![
        any::<[u8; 4]>().prop_map(move |a| {
            let a = [a[0] % 224, a[1], a[2], a[3]];
            c("IP4", std::net::Ipv4Addr::from(a).to_string(), None, None)
        }),
        (
            224u8..240,
            any::<[u8; 3]>(),
            any::<u8>(),
            option::of(1u32..10)
        )
            .prop_map(move |(m, a, ttl, n)| c(
                "IP4",
                format!("{m}.{}.{}.{}", a[0], a[1], a[2]),
                Some(ttl),
                n
            )),
        any::<[u16; 8]>().prop_map(move |a| {
            let mut a = a;
            a[0] = a[0].min(0xfe00);
            c("IP6", std::net::Ipv6Addr::from(a).to_string(), None, None)
        }),
        (any::<u16>(), option::of(1u32..10)).prop_map(move |(x, n)| c(
            "IP6",
            format!("FF15::{x:x}"),
            None,
            n
        )),
        "[a-z]{1,8}\\.example\\.com".prop_map(move |h| c("IP4", h, None, None)),
    ]
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    (token(), any::<u64>()).prop_map(|(bwtype, bandwidth)| Bandwidth { bwtype, bandwidth })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("prompt".to_owned()),
        text().prop_map(|t| format!("clear:{t}")),
        "[A-Za-z0-9+/]{0,12}".prop_map(|t| format!("base64:{t}")),
        "[a-z]{1,8}".prop_map(|t| format!("uri:https://{t}.example/")),
    ]
}

/// Attributes valid in strict mode: well-known ones with valid values and
/// `x-` extensions with any value.
fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        ("x-[a-z0-9-]{1,8}", option::of(text()))
            .prop_map(|(name, value)| Attribute { name, value }),
        prop::sample::select(Direction::ALL.to_vec()).prop_map(|d| Attribute::flag(d.as_str())),
        (
            0u8..128,
            "[A-Za-z0-9-]{1,10}",
            any::<u32>(),
            option::of(any::<u16>())
        )
            .prop_map(|(pt, enc, rate, ch)| {
                let r = Rtpmap {
                    payload_type: pt,
                    encoding: enc,
                    clock_rate: rate,
                    channels: ch,
                };
                Attribute::new("rtpmap", r.to_string())
            }),
        (0u8..128, text()).prop_map(|(pt, p)| Attribute::new("fmtp", format!("{pt} {p}"))),
        any::<u32>().prop_map(|p| Attribute::new("ptime", p.to_string())),
        any::<u32>().prop_map(|p| Attribute::new("maxptime", p.to_string())),
        any::<u16>().prop_map(|p| Attribute::new("rtcp", p.to_string())),
        (any::<u32>(), any::<u16>()).prop_map(|(prio, port)| Attribute::new(
            "candidate",
            format!("1 1 UDP {prio} 192.0.2.1 {port} typ host")
        )),
    ]
}

fn media() -> impl Strategy<Value = MediaDescription> {
    (
        (
            prop_oneof![Just("audio".to_owned()), Just("video".to_owned()), token()],
            any::<u16>(),
            option::of(any::<u32>()),
            prop_oneof![
                Just("RTP/AVP".to_owned()),
                Just("RTP/SAVP".to_owned()),
                Just("UDP/TLS/RTP/SAVPF".to_owned()),
                Just("udp".to_owned()),
                (token(), token()).prop_map(|(a, b)| format!("{a}/{b}")),
            ],
            vec(token(), 1..5),
        ),
        (
            option::of(text()),
            vec(connection(), 0..3),
            vec(bandwidth(), 0..2),
            option::of(key()),
            vec(attribute(), 0..6),
        ),
    )
        .prop_map(
            |(
                (media, port, port_count, protocol, formats),
                (information, connections, bandwidths, key, attributes),
            )| {
                MediaDescription {
                    media,
                    port,
                    port_count,
                    protocol,
                    formats,
                    information,
                    connections,
                    bandwidths,
                    key,
                    attributes,
                    unknown_lines: Vec::new(),
                }
            },
        )
}

/// Descriptions the strict parser accepts.
fn description() -> impl Strategy<Value = SessionDescription> {
    (
        (
            token(),
            any::<u64>(),
            any::<u64>(),
            connection(),
            text(),
            option::of(text()),
            option::of(text()),
            vec(text(), 0..3),
            vec(text(), 0..3),
        ),
        (
            option::of(connection()),
            vec(bandwidth(), 0..3),
            vec(timing(), 1..3),
            vec(zone(), 0..3),
            option::of(key()),
            vec(attribute(), 0..5),
            vec(media(), 0..4),
        ),
    )
        .prop_map(
            |(
                (username, id, version, oc, session_name, information, uri, emails, phones),
                (connection, bandwidths, times, time_zones, key, attributes, media),
            )| {
                let mut sdp = SessionDescription {
                    version: 0,
                    origin: Origin {
                        username,
                        session_id: id,
                        session_version: version,
                        net_type: oc.net_type.clone(),
                        addr_type: oc.addr_type.clone(),
                        unicast_address: oc.address.clone(),
                    },
                    session_name,
                    information,
                    uri,
                    emails,
                    phones,
                    connection,
                    bandwidths,
                    times,
                    time_zones,
                    key,
                    attributes,
                    media,
                    unknown_lines: Vec::new(),
                };
                // RFC 4566 §5.7: c= at session level or in every media.
                if sdp.media.iter().any(|m| m.connections.is_empty()) {
                    sdp.connection.get_or_insert(oc);
                }
                sdp
            },
        )
}

fn unknown_line() -> impl Strategy<Value = UnknownLine> {
    (
        prop::sample::select(vec![
            'd', 'f', 'g', 'h', 'j', 'l', 'n', 'q', 'w', 'x', 'y', 'A', 'Z',
        ]),
        text(),
    )
        .prop_map(|(kind, value)| UnknownLine { kind, value })
}

/// Plausible values for one line type: mostly valid, sometimes invalid or
/// random.
fn value_for(kind: char) -> BoxedStrategy<String> {
    let (valid, invalid): (Vec<&'static str>, Vec<&'static str>) = match kind {
        'v' => (vec!["0"], vec!["1", "x"]),
        'o' => (
            vec!["- 1 2 IN IP4 192.0.2.1"],
            vec!["-  1 2 IN IP6 ::1", "jdoe 1 IN IP4 x"],
        ),
        's' | 'i' | 'u' | 'e' | 'p' => (
            vec!["-", "", " ", "Jane <j@example.com>", "+1 617 555-6011"],
            vec!["a\tb"],
        ),
        'c' => (
            vec![
                "IN IP4 224.2.1.1/127/3",
                "IN IP6 FF15::101/3",
                "IN IP4 192.0.2.1",
                "IN IP6 2001:db8::1",
                "IN IP4 host.example.com",
            ],
            vec![
                "IN IP4 224.2.1.1",
                "IN IP4 10.0.0.1/3",
                "IN  IP4 192.0.2.2",
                "IN IP4 1.1.1.1/1/1/1",
            ],
        ),
        'b' => (vec!["AS:64", "CT:1000", "X-YZ:128"], vec!["AS:x", "AS"]),
        't' => (vec!["0 0", "3034423619 3042462419"], vec!["1", "0  0"]),
        'r' => (
            vec!["7d 1h 0 25h", "604800 3600 0 90000"],
            vec!["1 2", "1x 2 3"],
        ),
        'z' => (vec!["2882844526 -1h 2898848070 0", "1 0"], vec!["1"]),
        'k' => (vec!["prompt", "clear:x", "base64:AAAA"], vec!["bogus"]),
        'a' => (
            vec![
                "rtpmap:96 opus/48000/2",
                "rtpmap:0 PCMU/8000",
                "sendonly",
                "recvonly",
                "inactive",
                "fmtp:101 0-15",
                "ptime:20",
                "candidate:1 1 UDP 1 192.0.2.1 5 typ host raddr 1.2.3.4 rport 9",
                "rtcp:5 IN IP4 192.0.2.1",
                "rtcp-mux",
                "x-thing:a:b",
            ],
            vec![
                "rtpmap:96 opus",
                "sendrecv:x",
                "fmtp:101",
                "maxptime:x",
                "bad name",
                "",
            ],
        ),
        'm' => (
            vec![
                "audio 5004 RTP/AVP 0 8 101",
                "video 5004/2 RTP/AVP 96",
                "audio 0 RTP/AVP 0",
            ],
            vec![
                "application 0 udp",
                "text 1 RTP/AVP",
                "audio 99999 RTP/AVP 0",
            ],
        ),
        _ => (vec!["anything", ""], vec![]),
    };
    let invalid = if invalid.is_empty() {
        valid.clone()
    } else {
        invalid
    };
    prop_oneof![
        30 => prop::sample::select(valid).prop_map(str::to_owned),
        1 => prop::sample::select(invalid).prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
        1 => text(),
    ]
    .boxed()
}

fn line_of(kinds: &'static str) -> impl Strategy<Value = (char, String)> {
    prop::sample::select(kinds.chars().collect::<Vec<_>>())
        .prop_flat_map(|k| (Just(k), value_for(k)))
}

/// Random SDP-like text: an optional valid header, session lines and media
/// sections with plausible values, optionally in RFC 4566 order, some junk
/// lines, CRLF or LF.
fn sdp_like() -> impl Strategy<Value = String> {
    const SESSION_ORDER: &str = "vosiuepcbtrzka";
    const MEDIA_ORDER: &str = "icbka";
    let junk = prop_oneof![text(), Just(String::new()), "[a-z]=[ -~]{0,10}"];
    let section = (value_for('m'), vec(line_of("icbkaaax"), 0..6));
    (
        prop::bool::weighted(0.85),
        vec(line_of("iuepcbtrzkaaaaaxvos"), 0..6),
        vec(section, 0..4),
        any::<bool>(),
        option::weighted(0.1, (0usize..30, junk)),
        any::<bool>(),
    )
        .prop_map(|(header, mut session, mut media, ordered, junk, lf)| {
            let rank = |order: &str, k: char| order.find(k).unwrap_or(order.len());
            if ordered {
                session.sort_by_key(|(k, _)| rank(SESSION_ORDER, *k));
                for (_, lines) in &mut media {
                    lines.sort_by_key(|(k, _)| rank(MEDIA_ORDER, *k));
                }
            }
            let mut lines: Vec<String> = Vec::new();
            if header {
                lines.extend(["v=0", "o=- 1 2 IN IP4 192.0.2.1", "s=-"].map(str::to_owned));
            }
            let (before_t, after_t): (Vec<_>, Vec<_>) = session
                .into_iter()
                .partition(|(k, _)| rank(SESSION_ORDER, *k) < rank(SESSION_ORDER, 't'));
            lines.extend(before_t.into_iter().map(|(k, v)| format!("{k}={v}")));
            if header {
                lines.push("c=IN IP4 192.0.2.1".to_owned());
                lines.push("t=0 0".to_owned());
            }
            lines.extend(after_t.into_iter().map(|(k, v)| format!("{k}={v}")));
            for (m, section) in media {
                lines.push(format!("m={m}"));
                lines.extend(section.into_iter().map(|(k, v)| format!("{k}={v}")));
            }
            if let Some((at, j)) = junk {
                lines.insert(at.min(lines.len()), j);
            }
            let eol = if lf { "\n" } else { "\r\n" };
            lines.iter().map(|l| format!("{l}{eol}")).collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        for opts in BOTH {
            let _ = SessionDescription::parse_with(&s, opts);
        }
        let _ = SessionDescription::parse_bytes(s.as_bytes(), ParseOptions::STRICT);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(b in vec(any::<u8>(), 0..200)) {
        for opts in BOTH {
            let _ = SessionDescription::parse_bytes(&b, opts);
        }
    }

    /// For every description the parser accepts, parse(serialize(d)) == d.
    #[test]
    fn accepted_sdp_like_text_round_trips(text in sdp_like()) {
        for opts in BOTH {
            let Ok(d) = SessionDescription::parse_with(&text, opts) else { continue };
            let out = d.to_string();
            let again = SessionDescription::parse_with(&out, opts);
            prop_assert_eq!(again.as_ref(), Ok(&d), "text:\n{}\nserialized:\n{}", text, out);
            prop_assert_eq!(again.unwrap().to_string(), out);
            // Strictly accepted text is also tolerantly accepted, identically.
            if opts.strict {
                prop_assert_eq!(SessionDescription::parse(&text), Ok(d));
            }
        }
    }

    #[test]
    fn generated_descriptions_round_trip(d in description()) {
        let text = d.to_string();
        for opts in BOTH {
            let parsed = SessionDescription::parse_with(&text, opts);
            prop_assert_eq!(parsed.as_ref(), Ok(&d), "{}", text);
            prop_assert_eq!(parsed.unwrap().to_string(), text.clone());
        }
        // Bare LF parses to the same description.
        let lf = text.replace("\r\n", "\n");
        prop_assert_eq!(SessionDescription::parse(&lf), Ok(d));
    }

    #[test]
    fn unknown_lines_round_trip_tolerant(
        mut d in description(),
        session in vec(unknown_line(), 0..3),
        per_media in vec(unknown_line(), 0..3),
    ) {
        d.unknown_lines = session;
        if let Some(m) = d.media.first_mut() {
            m.unknown_lines = per_media;
        }
        let text = d.to_string();
        prop_assert_eq!(SessionDescription::parse(&text), Ok(d.clone()));
        let has_unknown = !d.unknown_lines.is_empty() || d.media.iter().any(|m| !m.unknown_lines.is_empty());
        prop_assert_eq!(
            SessionDescription::parse_with(&text, ParseOptions::STRICT).is_err(),
            has_unknown
        );
    }
}
