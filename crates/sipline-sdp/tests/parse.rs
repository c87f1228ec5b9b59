//! Parsing and serialization tests.

use sipline_sdp::{
    Attribute, Direction, LineType, ParseErrorKind, ParseOptions, SessionDescription, TimeUnit,
    TypedTime,
};

fn crlf(s: &str) -> String {
    s.lines().map(|l| format!("{l}\r\n")).collect()
}

fn strict(text: &str) -> SessionDescription {
    SessionDescription::parse_with(text, ParseOptions::STRICT)
        .unwrap_or_else(|e| panic!("strict parse failed: {e}\n{text}"))
}

/// Strict and tolerant parse, exact text round-trip, model round-trip.
fn round_trip(text: &str) -> SessionDescription {
    let sdp = strict(text);
    assert_eq!(sdp.to_string(), text);
    let tolerant: SessionDescription = text.parse().unwrap();
    assert_eq!(tolerant, sdp);
    assert_eq!(strict(&sdp.to_string()), sdp);
    sdp
}

fn err(text: &str, options: ParseOptions) -> (usize, ParseErrorKind, String) {
    let e = SessionDescription::parse_with(text, options).expect_err("should fail");
    (e.line(), e.kind(), e.to_string())
}

// RFC 4566 §5 example.
const RFC4566_EXAMPLE: &str = "v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
";

#[test]
fn rfc4566_section5_example() {
    let sdp = round_trip(&crlf(RFC4566_EXAMPLE));
    assert_eq!(sdp.version, 0);
    assert_eq!(sdp.origin.username, "jdoe");
    assert_eq!(sdp.origin.session_id, 2890844526);
    assert_eq!(sdp.origin.session_version, 2890842807);
    assert_eq!(sdp.origin.net_type, "IN");
    assert_eq!(sdp.origin.addr_type, "IP4");
    assert_eq!(sdp.origin.unicast_address, "10.47.16.5");
    assert_eq!(sdp.session_name, "SDP Seminar");
    assert_eq!(
        sdp.information.as_deref(),
        Some("A Seminar on the session description protocol")
    );
    assert_eq!(
        sdp.uri.as_deref(),
        Some("http://www.example.com/seminars/sdp.pdf")
    );
    assert_eq!(sdp.emails, ["j.doe@example.com (Jane Doe)"]);
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(
        (c.address.as_str(), c.ttl, c.num_addresses),
        ("224.2.17.12", Some(127), None)
    );
    assert_eq!(sdp.times.len(), 1);
    assert_eq!(
        (sdp.times[0].start, sdp.times[0].stop),
        (2873397496, 2873404696)
    );
    assert_eq!(sdp.direction(), Direction::RecvOnly);
    assert_eq!(sdp.media.len(), 2);
    // RFC 4566 §5: "each media behaves as if it were given a recvonly attribute"
    for m in &sdp.media {
        assert_eq!(m.direction(), None);
        assert_eq!(sdp.media_direction(m), Direction::RecvOnly);
        assert_eq!(sdp.media_connection(m), sdp.connection.as_ref());
    }
    let video = &sdp.media[1];
    assert_eq!(
        (video.media.as_str(), video.port, video.protocol.as_str()),
        ("video", 51372, "RTP/AVP")
    );
    let r = video.rtpmap(99).unwrap();
    assert_eq!(
        (r.encoding.as_str(), r.clock_rate, r.channels),
        ("h263-1998", 90000, None)
    );
    // Static payload type without rtpmap.
    assert_eq!(sdp.media[0].codec(0).unwrap().encoding, "PCMU");
}

#[test]
fn bare_lf_accepted_crlf_emitted() {
    let sdp: SessionDescription = RFC4566_EXAMPLE.parse().unwrap();
    assert_eq!(sdp.to_string(), crlf(RFC4566_EXAMPLE));
    assert_eq!(
        SessionDescription::parse_with(RFC4566_EXAMPLE, ParseOptions::STRICT).unwrap(),
        sdp
    );
    // No final line end, mixed line ends.
    let mixed = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\ns=-\r\nt=0 0";
    let sdp = strict(mixed);
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
    );
}

// RFC 3264 §10.1 and §10.2 bodies.
const RFC3264_BODIES: &[&str] = &[
    // 10.1 offer
    "v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
",
    // 10.1 answer
    "v=0
o=bob 2890844730 2890844730 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 49920 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
",
    // 10.1 second offer
    "v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 65422 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 51434 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=recvonly
",
    // 10.1 second answer
    "v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 53122 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=sendonly
",
    // 10.2 offer
    "v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 0 4 18
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=rtpmap:18 G729/8000
a=inactive
",
    // 10.2 answer
    "v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 0 4
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=inactive
",
    // 10.2 updated offer
    "v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
",
    // 10.2 final answer
    "v=0
o=bob 2890844730 2890844732 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
",
];

#[test]
fn rfc3264_section10_bodies_round_trip() {
    for body in RFC3264_BODIES {
        let sdp = round_trip(&crlf(body));
        assert_eq!(sdp.session_name, "");
        assert_eq!(
            sdp.connection.as_ref().unwrap().address.split('.').count(),
            3
        );
    }
    let offer = strict(&crlf(RFC3264_BODIES[2]));
    assert_eq!(offer.media.len(), 4);
    assert_eq!(offer.media[1].port, 0);
    assert_eq!(offer.media_direction(&offer.media[3]), Direction::RecvOnly);
    assert_eq!(offer.media_direction(&offer.media[0]), Direction::SendRecv);
    let offer = strict(&crlf(RFC3264_BODIES[4]));
    assert_eq!(offer.media[0].formats, ["0", "4", "18"]);
    assert_eq!(offer.media[0].rtpmaps().len(), 3);
}

#[test]
fn rfc3264_section9_capabilities_is_out_of_order() {
    // RFC 3264 §9 Figure 1 puts c= after t=, which RFC 4566 §5 forbids.
    let text = crlf(
        "v=0
o=carol 28908764872 28908764872 IN IP4 100.3.6.6
s=-
t=0 0
c=IN IP4 192.0.2.4
m=audio 0 RTP/AVP 0 1 3
a=rtpmap:0 PCMU/8000
a=rtpmap:1 1016/8000
a=rtpmap:3 GSM/8000
m=video 0 RTP/AVP 31 34
a=rtpmap:31 H261/90000
a=rtpmap:34 H263/90000
",
    );
    let (line, kind, msg) = err(&text, ParseOptions::STRICT);
    assert_eq!(line, 5);
    assert_eq!(
        kind,
        ParseErrorKind::OutOfOrder {
            found: LineType('c'),
            after: LineType('t')
        }
    );
    assert_eq!(msg, "line 5: `c=` line out of order (after a `t=` line)");
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.connection.as_ref().unwrap().address, "192.0.2.4");
    assert_eq!(sdp.media[1].formats, ["31", "34"]);
    // Serialized in RFC 4566 order, which strict parsing then accepts.
    assert_eq!(strict(&sdp.to_string()), sdp);
}

#[test]
fn every_line_type() {
    let text = crlf(
        "v=0
o=- 3724394400 3724394405 IN IP6 2001:db8::2
s=Every line
i=Session info
u=https://example.com/session
e=alice@example.com (Alice)
e=Bob <bob@example.com>
p=+1 617 555-6011
p=Carol <+44-20-7946-0000>
c=IN IP6 2001:db8::1
b=CT:384
b=X-YZ:128
t=3034423619 3042462419
r=604800 3600 0 90000
r=7d 1h 0 25h
t=0 0
z=2882844526 -1h 2898848070 0
k=clear:secretkey
a=tool:sipline
a=recvonly
a=x-custom
m=audio 49170/2 RTP/AVP 0 8 97 101
i=Voice
c=IN IP6 FF15::101/3
b=AS:64
k=prompt
a=rtpmap:97 opus/48000/2
a=fmtp:97 minptime=10;useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:40
a=rtcp:53020 IN IP4 126.16.64.4
a=candidate:1 1 UDP 2130706431 10.0.1.1 8998 typ host
a=sendonly
a=x-unknown:some value: with colon
m=video 51372 UDP/TLS/RTP/SAVPF 96
c=IN IP4 224.2.1.1/127/3
c=IN IP4 224.2.1.4/127
a=rtpmap:96 VP8/90000
m=application 0 udp wb
a=orient:portrait
",
    );
    let sdp = round_trip(&text);
    assert_eq!(sdp.origin.addr_type, "IP6");
    assert_eq!(sdp.origin.unicast_address, "2001:db8::2");
    assert_eq!(sdp.emails.len(), 2);
    assert_eq!(sdp.phones, ["+1 617 555-6011", "Carol <+44-20-7946-0000>"]);
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(
        (c.addr_type.as_str(), c.address.as_str()),
        ("IP6", "2001:db8::1")
    );
    assert_eq!(c.ip(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(sdp.bandwidths[0].bwtype, "CT");
    assert_eq!(sdp.bandwidths[0].bandwidth, 384);
    assert_eq!(sdp.bandwidths[1].bwtype, "X-YZ");
    assert_eq!(sdp.times.len(), 2);
    let t = &sdp.times[0];
    assert_eq!(t.repeats.len(), 2);
    assert_eq!(t.repeats[0].interval.as_seconds(), Some(604800));
    assert_eq!(
        t.repeats[1].interval,
        TypedTime {
            value: 7,
            unit: Some(TimeUnit::Days)
        }
    );
    // RFC 4566 §5.10: "r=7d 1h 0 25h" is the same as "r=604800 3600 0 90000".
    let secs = |r: &sipline_sdp::Repeat| {
        let mut v = vec![r.interval.as_seconds(), r.duration.as_seconds()];
        v.extend(r.offsets.iter().map(|o| o.as_seconds()));
        v
    };
    assert_eq!(secs(&t.repeats[0]), secs(&t.repeats[1]));
    assert!(sdp.times[1].repeats.is_empty());
    assert_eq!(sdp.time_zones.len(), 2);
    assert!(sdp.time_zones[0].negative);
    assert_eq!(sdp.time_zones[0].offset.as_seconds(), Some(3600));
    assert_eq!(sdp.time_zones[1].adjustment, 2898848070);
    assert_eq!(sdp.key.as_deref(), Some("clear:secretkey"));
    assert_eq!(sdp.attributes.len(), 3);
    assert_eq!(sdp.attributes[2], Attribute::flag("x-custom"));
    assert_eq!(sdp.attribute_value("tool"), Some("sipline"));

    let audio = &sdp.media[0];
    assert_eq!((audio.port, audio.port_count), (49170, Some(2)));
    assert_eq!(audio.formats, ["0", "8", "97", "101"]);
    assert_eq!(audio.information.as_deref(), Some("Voice"));
    let mc = &audio.connections[0];
    assert_eq!(
        (mc.address.as_str(), mc.ttl, mc.num_addresses),
        ("FF15::101", None, Some(3))
    );
    assert_eq!(audio.bandwidths[0].bandwidth, 64);
    assert_eq!(audio.key.as_deref(), Some("prompt"));
    let maps = audio.rtpmaps();
    assert_eq!(maps.len(), 2);
    assert_eq!((maps[0].payload_type, maps[0].channels), (97, Some(2)));
    assert_eq!(audio.fmtp("97"), Some("minptime=10;useinbandfec=1"));
    assert_eq!(audio.fmtp("101"), Some("0-16"));
    assert_eq!(audio.fmtp("0"), None);
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.maxptime(), Some(40));
    let rtcp = audio.rtcp().unwrap();
    assert_eq!(rtcp.port, 53020);
    assert_eq!(rtcp.connection.unwrap().address, "126.16.64.4");
    let cands = audio.candidates();
    assert_eq!(cands.len(), 1);
    assert_eq!((cands[0].port, cands[0].typ.as_str()), (8998, "host"));
    assert_eq!(audio.direction(), Some(Direction::SendOnly));
    assert_eq!(sdp.media_direction(audio), Direction::SendOnly);
    // Unknown attribute kept verbatim; value split at the first colon only.
    assert_eq!(
        audio.attributes.last().unwrap(),
        &Attribute::new("x-unknown", "some value: with colon")
    );

    let video = &sdp.media[1];
    assert_eq!(video.protocol, "UDP/TLS/RTP/SAVPF");
    assert!(video.is_rtp());
    let c = &video.connections[0];
    assert_eq!(
        (c.address.as_str(), c.ttl, c.num_addresses),
        ("224.2.1.1", Some(127), Some(3))
    );
    assert_eq!(video.connections[1].ttl, Some(127));
    // Media without a direction attribute inherits the session's.
    assert_eq!(sdp.media_direction(video), Direction::RecvOnly);

    let app = &sdp.media[2];
    assert_eq!(
        (app.media.as_str(), app.port, app.protocol.as_str()),
        ("application", 0, "udp")
    );
    assert!(!app.is_rtp());
    assert_eq!(app.codec(0), None);
    assert_eq!(app.attribute_value("orient"), Some("portrait"));
}

#[test]
fn ipv6_connection() {
    let text = crlf(
        "v=0
o=- 1 1 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
m=audio 5004 RTP/AVP 0
",
    );
    let sdp = round_trip(&text);
    let c = sdp.connection.unwrap();
    assert_eq!(c.address, "2001:db8::1");
    assert_eq!((c.ttl, c.num_addresses), (None, None));
    assert!(c.ip().unwrap().is_ipv6());
}

#[test]
fn unknown_attributes_kept_in_order() {
    let text = crlf(
        "v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=ice-ufrag:F7gI
a=ice-pwd:x9cml/YzichV2+XlhiMu8g
a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2
a=setup:actpass
a=mid:0
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=ssrc:1001 cname:abc
a=x-empty:
",
    );
    let sdp = round_trip(&text);
    let names: Vec<&str> = sdp.media[0]
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ice-ufrag",
            "ice-pwd",
            "fingerprint",
            "setup",
            "mid",
            "rtcp-mux",
            "rtpmap",
            "fmtp",
            "ssrc",
            "x-empty"
        ]
    );
    assert_eq!(sdp.attributes[1], Attribute::new("msid-semantic", " WMS"));
    assert_eq!(sdp.media[0].attributes[5], Attribute::flag("rtcp-mux"));
    assert_eq!(sdp.media[0].attributes[9], Attribute::new("x-empty", ""));
}

#[test]
fn set_direction_replaces_in_place() {
    let mut sdp = strict(&crlf(RFC3264_BODIES[2]));
    let m = &mut sdp.media[3];
    m.attributes.push(Attribute::flag("sendrecv")); // a second, conflicting one
    m.set_direction(Direction::Inactive);
    let names: Vec<&str> = m.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["rtpmap", "inactive"]);
    sdp.media[0].set_direction(Direction::SendOnly);
    assert_eq!(sdp.media[0].attributes.last().unwrap().name, "sendonly");
    sdp.set_direction(Direction::RecvOnly);
    assert_eq!(sdp.direction(), Direction::RecvOnly);
    assert_eq!(sdp.media_direction(&sdp.media[1]), Direction::RecvOnly);
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::SendOnly);
}

#[test]
fn tolerant_accepts_disorder_and_unknown_lines() {
    let text = "v=0\n\
                s=-\n\
                o=-  1 1 IN   IP4 192.0.2.1\n\
                t=0 0\n\
                a=sendonly\n\
                c=IN IP4 192.0.2.1\n\
                x=some extension\n\
                \n\
                m=audio 5004 RTP/AVP 0\n\
                a=ptime:20\n\
                y=media level unknown\n\
                c=IN IP4 192.0.2.2\n\
                e=late@example.com\n";
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.origin.session_id, 1);
    assert_eq!(sdp.unknown_lines.len(), 1);
    assert_eq!(
        (
            sdp.unknown_lines[0].kind,
            sdp.unknown_lines[0].value.as_str()
        ),
        ('x', "some extension")
    );
    assert_eq!(sdp.media[0].unknown_lines[0].kind, 'y');
    assert_eq!(sdp.media[0].connections[0].address, "192.0.2.2");
    // A session-level line after m= applies to the session.
    assert_eq!(sdp.emails, ["late@example.com"]);
    let out = sdp.to_string();
    assert_eq!(
        out,
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\ne=late@example.com\r\nc=IN IP4 192.0.2.1\r\n\
         t=0 0\r\na=sendonly\r\nx=some extension\r\nm=audio 5004 RTP/AVP 0\r\n\
         c=IN IP4 192.0.2.2\r\na=ptime:20\r\ny=media level unknown\r\n"
    );
    assert_eq!(out.parse::<SessionDescription>().unwrap(), sdp);

    // Strict rejects each of these.
    let (line, kind, _) = err(text, ParseOptions::STRICT);
    assert_eq!(
        (line, kind),
        (2, ParseErrorKind::MissingLine(LineType('o')))
    );
}

#[test]
fn strict_rejects_unknown_line_type() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nx=1\r\n";
    let (line, kind, msg) = err(text, ParseOptions::STRICT);
    assert_eq!(
        (line, kind),
        (5, ParseErrorKind::UnknownLineType(LineType('x')))
    );
    assert_eq!(msg, "line 5: unknown line type `x=`");
    let sdp: SessionDescription = text.parse().unwrap();
    assert_eq!(sdp.to_string(), text);
}

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

#[test]
fn error_cases_with_line_numbers() {
    use ParseErrorKind as K;
    let s = ParseOptions::STRICT;
    let t = ParseOptions::TOLERANT;
    let cases: &[(&str, ParseOptions, usize, K)] = &[
        (
            "v=0\r\ns=-\r\no=jdoe 1 IN IP4 10.0.0.1\r\nt=0 0\r\n",
            t,
            3,
            K::OriginFieldCount,
        ),
        (
            "v=0\r\no=jdoe 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n",
            s,
            2,
            K::OriginFieldCount,
        ),
        (
            "v=0\r\no=- x 1 IN IP4 10.0.0.1\r\n",
            t,
            2,
            K::InvalidSessionId,
        ),
        (
            "v=0\r\no=- 1 99999999999999999999 IN IP4 10.0.0.1\r\n",
            t,
            2,
            K::InvalidSessionVersion,
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n",
            s,
            3,
            K::MissingLine(LineType('t')),
        ),
        (
            "v=0\r\ns=-\r\nt=0 0\r\n",
            t,
            3,
            K::MissingLine(LineType('o')),
        ),
        (
            "o=- 1 1 IN IP4 10.0.0.1\r\n",
            s,
            1,
            K::MissingLine(LineType('v')),
        ),
        ("", s, 1, K::MissingLine(LineType('v'))),
        ("", t, 1, K::MissingLine(LineType('o'))),
        ("v=0\r\nv=0\r\n", t, 2, K::DuplicateLine(LineType('v'))),
        ("v=x\r\n", t, 1, K::InvalidVersion),
        ("v=1\r\n", s, 1, K::UnsupportedVersion),
        (
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\ns=again\r\n",
            t,
            4,
            K::DuplicateLine(LineType('s')),
        ),
        ("v=0\r\nhello\r\n", t, 2, K::MalformedLine),
        ("v=0\r\n=x\r\n", t, 2, K::MalformedLine),
        ("v=0\r\nv =0\r\n", t, 2, K::MalformedLine),
        ("v=0\r\n\r\no=- 1 1 IN IP4 1.2.3.4\r\n", s, 2, K::EmptyLine),
        ("v=0\r\na=x\0y\r\n", t, 2, K::InvalidCharacter),
        ("v=0\r\na=x\ry\r\n", t, 2, K::InvalidCharacter),
        (
            "v=0\r\no=-  1 1 IN IP4 1.2.3.4\r\n",
            s,
            2,
            K::FieldSeparator(LineType('o')),
        ),
        ("v=0\r\nr=1 2 3\r\n", t, 2, K::RepeatWithoutTiming),
    ];
    for (text, opts, line, kind) in cases {
        let e = SessionDescription::parse_with(text, *opts).expect_err(text);
        assert_eq!((e.line(), e.kind()), (*line, *kind), "{text:?}: {e}");
    }
    let e = SessionDescription::parse_with("v=0\r\ns=-\r\no=jdoe 1 IN IP4 10.0.0.1\r\n", t)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: invalid origin (o=) line: expected 6 fields"
    );
}

#[test]
fn error_cases_in_body() {
    use ParseErrorKind as K;
    let s = ParseOptions::STRICT;
    let t = ParseOptions::TOLERANT;
    // (extra lines after HEAD, options, line, kind); HEAD has 5 lines.
    let cases: &[(&str, ParseOptions, usize, K)] = &[
        ("m=audio 70000 RTP/AVP 0", t, 6, K::InvalidPort),
        ("m=audio x RTP/AVP 0", t, 6, K::InvalidPort),
        ("m=audio 5004/x RTP/AVP 0", t, 6, K::InvalidPortCount),
        ("m=audio 5004", t, 6, K::MediaFieldCount),
        ("m=audio 5004 RTP/AVP", s, 6, K::MediaFieldCount),
        ("m=audio 5004 RTP//AVP 0", s, 6, K::InvalidProtocol),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4",
            t,
            7,
            K::ConnectionFieldCount,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/300",
            t,
            7,
            K::InvalidTtl,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127/x",
            t,
            7,
            K::InvalidAddressCount,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/1/2/3",
            t,
            7,
            K::InvalidConnectionAddress,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP6 ff15::1/1/2",
            t,
            7,
            K::InvalidConnectionAddress,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 224.2.1.1",
            s,
            7,
            K::MulticastTtlMissing,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 10.0.0.1/127",
            s,
            7,
            K::UnicastSlashNotation,
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nc=IN IP6 2001:db8::1/2",
            s,
            7,
            K::UnicastSlashNotation,
        ),
        ("b=AS", t, 6, K::BandwidthSyntax),
        ("b=AS:x", t, 6, K::InvalidBandwidthValue),
        ("t=1", t, 6, K::TimingFieldCount),
        ("t=1 x", t, 6, K::InvalidTime),
        ("r=7x 1h 0", t, 6, K::InvalidTypedTime),
        ("r=7d 1h", s, 6, K::RepeatFieldCount),
        ("z=2882844526", t, 6, K::TimeZoneFieldCount),
        ("z=2882844526 --1h", t, 6, K::InvalidTypedTime),
        ("z=1 0\r\nz=2 0", t, 7, K::DuplicateLine(LineType('z'))),
        ("k=foo", s, 6, K::InvalidKey),
        ("a=rtpmap:96", s, 6, K::InvalidRtpmap),
        ("a=rtpmap:300 X/8000", s, 6, K::InvalidRtpmap),
        ("a=fmtp:101", s, 6, K::InvalidFmtp),
        ("a=ptime:abc", s, 6, K::InvalidPtime),
        ("a=maxptime:", s, 6, K::InvalidMaxptime),
        ("a=sendonly:yes", s, 6, K::InvalidDirection),
        ("a=rtcp:x", s, 6, K::InvalidRtcp),
        ("a=candidate:1 1 UDP", s, 6, K::InvalidCandidate),
        ("a=bad name", s, 6, K::InvalidAttributeName),
        (
            "m=audio 5004 RTP/AVP 0\r\ni=a\r\ni=b",
            t,
            8,
            K::DuplicateLine(LineType('i')),
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\na=x\r\nc=IN IP4 1.2.3.4",
            s,
            8,
            K::OutOfOrder {
                found: LineType('c'),
                after: LineType('a'),
            },
        ),
        (
            "m=audio 5004 RTP/AVP 0\r\nt=0 0",
            s,
            7,
            K::OutOfOrder {
                found: LineType('t'),
                after: LineType('m'),
            },
        ),
        ("c=IN IP4 1.2.3.4", t, 6, K::DuplicateLine(LineType('c'))),
    ];
    for (extra, opts, line, kind) in cases {
        let text = format!("{HEAD}{extra}\r\n");
        let e = SessionDescription::parse_with(&text, *opts).expect_err(&text);
        assert_eq!((e.line(), e.kind()), (*line, *kind), "{text:?}: {e}");
        // Whatever the strict parser rejects for syntax of a known attribute
        // the tolerant one keeps verbatim.
        if opts.strict && extra.starts_with("a=") {
            let sdp: SessionDescription = text.parse().unwrap();
            assert_eq!(sdp.to_string(), text);
        }
    }
}

#[test]
fn strict_requires_connection_somewhere() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=video 5006 RTP/AVP 31\r\n";
    let (line, kind, _) = err(text, ParseOptions::STRICT);
    assert_eq!((line, kind), (7, ParseErrorKind::MissingConnection));
    assert!(text.parse::<SessionDescription>().is_ok());
}

#[test]
fn invalid_utf8_reports_line() {
    let bytes = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\xff\r\n";
    let e = SessionDescription::parse_bytes(bytes, ParseOptions::TOLERANT).unwrap_err();
    assert_eq!((e.line(), e.kind()), (3, ParseErrorKind::InvalidUtf8));
    let ok = SessionDescription::parse_bytes(HEAD.as_bytes(), ParseOptions::STRICT).unwrap();
    assert_eq!(ok.to_string(), HEAD);
}

#[test]
fn utf8_text_fields() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=Séance ☎\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=x-note:héllo\r\n";
    let sdp = round_trip(text);
    assert_eq!(sdp.session_name, "Séance ☎");
}

#[test]
fn fqdn_and_other_address_types() {
    let text = "v=0\r\no=- 1 1 IN IP4 host.example.com\r\ns=-\r\nc=ATM NSAP 47.0091.8100.0000.0060.3e64.fd01/x\r\nt=0 0\r\n";
    let sdp = round_trip(text);
    let c = sdp.connection.unwrap();
    assert_eq!(c.address, "47.0091.8100.0000.0060.3e64.fd01/x");
    assert_eq!(c.ip(), None);
}
