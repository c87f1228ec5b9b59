//! Offer/answer (RFC 3264) tests.

use std::net::IpAddr;

use sipline_sdp::{
    answer, hold, negotiated, offer, resume, Capabilities, Codec, Direction, LocalSession,
    MediaCapability, ParseOptions, SessionDescription,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sdp(body: &str) -> SessionDescription {
    let text: String = body
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    SessionDescription::parse_with(&text, ParseOptions::STRICT).unwrap()
}

fn offer_with(media: &str) -> SessionDescription {
    sdp(&format!(
        "v=0
         o=alice 2890844526 2890844526 IN IP4 192.0.2.10
         s=-
         c=IN IP4 192.0.2.10
         t=0 0
         {media}"
    ))
}

fn audio_caps(codecs: Vec<Codec>) -> Capabilities {
    Capabilities::new(ip("192.0.2.20")).with_media(MediaCapability::audio(30000, codecs))
}

fn session() -> LocalSession {
    LocalSession::new("bob", 42, 7)
}

fn attr_lines(m: &sipline_sdp::MediaDescription) -> Vec<String> {
    m.attributes.iter().map(|a| a.to_string()).collect()
}

#[test]
fn codec_intersection_uses_offer_payload_types_and_order() {
    let offer = offer_with(
        "m=audio 49170 RTP/AVP 96 0 8 97 101
         a=rtpmap:96 opus/48000/2
         a=fmtp:96 useinbandfec=1
         a=rtpmap:0 PCMU/8000
         a=rtpmap:8 PCMA/8000
         a=rtpmap:97 iLBC/8000
         a=rtpmap:101 telephone-event/8000
         a=fmtp:101 0-15
         a=ptime:20",
    );
    // Our preference order differs; the answer keeps the offer's order
    // (RFC 3264 §6.1 recommendation) and the offer's payload types.
    let caps = audio_caps(vec![
        Codec::pcma(),
        Codec::new("OPUS", 48000).with_channels(2),
        Codec::new("opus", 48000), // mono opus does not match opus/48000/2
        Codec::telephone_event(),
    ]);
    let ans = answer(&offer, &caps, &mut session());
    assert_eq!(ans.media.len(), 1);
    let m = &ans.media[0];
    assert_eq!(
        (m.media.as_str(), m.port, m.protocol.as_str()),
        ("audio", 30000, "RTP/AVP")
    );
    assert_eq!(m.formats, ["96", "8", "101"]);
    assert_eq!(
        attr_lines(m),
        [
            "rtpmap:96 opus/48000/2",
            "fmtp:96 useinbandfec=1",
            "rtpmap:8 PCMA/8000",
            "rtpmap:101 telephone-event/8000",
            "fmtp:101 0-15", // telephone-event keeps the offer's fmtp
            "sendrecv",
        ]
    );
    assert_eq!(ans.origin.username, "bob");
    assert_eq!((ans.origin.session_id, ans.origin.session_version), (42, 7));
    assert_eq!(ans.origin.unicast_address, "192.0.2.20");
    assert_eq!(ans.connection.as_ref().unwrap().address, "192.0.2.20");
    assert_eq!(ans.times, offer.times);
    // The answer is a valid description that round-trips strictly.
    let text = ans.to_string();
    assert_eq!(
        SessionDescription::parse_with(&text, ParseOptions::STRICT).unwrap(),
        ans
    );

    let agreed = negotiated(&offer, &ans);
    let s = agreed[0].as_ref().unwrap();
    assert_eq!(s.format, "96");
    assert_eq!(s.codec.as_ref().unwrap().encoding, "opus");
    assert_eq!(s.formats, ["96", "8", "101"]);
    assert_eq!(s.telephone_event, Some(101));
    assert_eq!(s.direction, Direction::SendRecv);
}

#[test]
fn our_fmtp_used_when_offer_has_none() {
    let offer = offer_with(
        "m=audio 49170 RTP/AVP 101
         a=rtpmap:101 telephone-event/8000",
    );
    let ans = answer(
        &offer,
        &audio_caps(vec![Codec::telephone_event()]),
        &mut session(),
    );
    assert_eq!(
        attr_lines(&ans.media[0]),
        [
            "rtpmap:101 telephone-event/8000",
            "fmtp:101 0-16",
            "sendrecv"
        ]
    );
}

#[test]
fn static_payload_types_match_without_rtpmap() {
    let offer = offer_with("m=audio 49170 RTP/AVP 18 3 9 0");
    let caps = audio_caps(vec![Codec::g722(), Codec::pcmu(), Codec::new("gsm", 8000)]);
    let ans = answer(&offer, &caps, &mut session());
    let m = &ans.media[0];
    assert_eq!(m.formats, ["3", "9", "0"]);
    // RFC 3264 §6.1: rtpmap SHOULD be present for static payload types too.
    assert_eq!(
        attr_lines(m),
        [
            "rtpmap:3 GSM/8000",
            "rtpmap:9 G722/8000",
            "rtpmap:0 PCMU/8000",
            "sendrecv"
        ]
    );
    let s = negotiated(&offer, &ans)[0].clone().unwrap();
    assert_eq!(s.codec.unwrap().encoding, "GSM");
    assert_eq!(s.telephone_event, None);
}

#[test]
fn rtpmap_overrides_static_meaning() {
    // A static number remapped by rtpmap means what the rtpmap says.
    let offer = offer_with("m=audio 49170 RTP/AVP 8\na=rtpmap:8 foo/8000");
    let ans = answer(&offer, &audio_caps(vec![Codec::pcma()]), &mut session());
    assert_eq!(ans.media[0].port, 0);
}

#[test]
fn no_common_codec_rejects_with_port_zero() {
    let offer = offer_with(
        "m=audio 49170 RTP/AVP 18 96
         a=rtpmap:96 AMR/8000
         m=audio 49180 RTP/AVP 0",
    );
    let ans = answer(&offer, &audio_caps(vec![Codec::pcmu()]), &mut session());
    assert_eq!(ans.media.len(), 2);
    let rejected = &ans.media[0];
    assert_eq!(rejected.port, 0);
    assert_eq!(rejected.media, "audio");
    assert_eq!(rejected.protocol, "RTP/AVP");
    assert!(!rejected.formats.is_empty());
    assert_eq!(rejected.formats, ["18", "96"]);
    assert!(rejected.attributes.is_empty());
    // The second audio stream is the first accepted one: it gets the base port.
    assert_eq!(ans.media[1].port, 30000);
    let agreed = negotiated(&offer, &ans);
    assert!(agreed[0].is_none());
    assert_eq!(agreed[1].as_ref().unwrap().format, "0");
    // Still a valid description.
    assert!(SessionDescription::parse_with(&ans.to_string(), ParseOptions::STRICT).is_ok());
}

#[test]
fn unknown_media_type_and_protocol_rejected() {
    let offer = offer_with(
        "m=audio 49170 RTP/SAVP 0
         m=text 49180 RTP/AVP 98
         a=rtpmap:98 t140/1000
         m=audio 49190 RTP/AVP 0",
    );
    let caps = audio_caps(vec![Codec::pcmu()]);
    let ans = answer(&offer, &caps, &mut session());
    let ports: Vec<u16> = ans.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 0, 30000]);
    assert_eq!(ans.media[0].protocol, "RTP/SAVP");
    assert_eq!(ans.media[1].media, "text");
    assert_eq!(ans.media[1].formats, ["98"]);

    // Accepting RTP/SAVP as well.
    let caps = Capabilities::new(ip("192.0.2.20")).with_media(
        MediaCapability::audio(30000, vec![Codec::pcmu()]).with_protocols(["RTP/AVP", "rtp/savp"]),
    );
    let ans = answer(&offer, &caps, &mut session());
    let ports: Vec<u16> = ans.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [30000, 0, 30002]);
}

#[test]
fn stream_offered_with_port_zero_stays_zero() {
    let offer = offer_with(
        "m=audio 49170 RTP/AVP 0
         m=audio 0 RTP/AVP 0",
    );
    let ans = answer(&offer, &audio_caps(vec![Codec::pcmu()]), &mut session());
    assert_eq!(ans.media[0].port, 30000);
    assert_eq!(ans.media[1].port, 0);
    assert_eq!(ans.media[1].formats, ["0"]);
    assert!(negotiated(&offer, &ans)[1].is_none());
}

#[test]
fn m_line_count_and_order_preserved() {
    // RFC 3264 §10.1: Bob does not want the first video stream (H.261).
    let offer = sdp("v=0
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
         m=application 53100 TCP/MSRP *");
    let caps = Capabilities::new(ip("192.0.2.20"))
        .with_media(MediaCapability::audio(49920, vec![Codec::pcmu()]))
        .with_media(MediaCapability::video(
            53000,
            vec![Codec::new("MPV", 90000)],
        ))
        .with_media(
            MediaCapability::new("application", 9000, vec![Codec::new("*", 0)])
                .with_protocols(["TCP/MSRP"]),
        );
    let ans = answer(&offer, &caps, &mut session());
    let summary: Vec<(String, u16, Vec<String>)> = ans
        .media
        .iter()
        .map(|m| (m.media.clone(), m.port, m.formats.clone()))
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        summary,
        [
            (s("audio"), 49920, vec![s("0")]),
            (s("video"), 0, vec![s("31")]),
            (s("video"), 53000, vec![s("32")]),
            (s("application"), 9000, vec![s("*")]),
        ]
    );
    assert_eq!(attr_lines(&ans.media[3]), ["sendrecv"]);
}

#[test]
fn several_streams_of_one_type_get_distinct_ports() {
    let offer = offer_with(
        "m=video 50000 RTP/AVP 31
         m=video 50002 RTP/AVP 31",
    );
    let caps = Capabilities::new(ip("192.0.2.20")).with_media(MediaCapability::video(
        65532,
        vec![Codec::new("H261", 90000)],
    ));
    let ans = answer(&offer, &caps, &mut session());
    assert_eq!(ans.media[0].port, 65532);
    assert_eq!(ans.media[1].port, 65534);
    // Port overflow → rejected rather than wrapped.
    let caps = Capabilities::new(ip("192.0.2.20")).with_media(MediaCapability::video(
        65535,
        vec![Codec::new("H261", 90000)],
    ));
    let ans = answer(&offer, &caps, &mut session());
    assert_eq!((ans.media[0].port, ans.media[1].port), (65535, 0));
}

#[test]
fn answer_directions() {
    use Direction::*;
    let caps = audio_caps(vec![Codec::pcmu()]);
    // (offered, wanted, expected) — RFC 3264 §6.1.
    let cases = [
        (SendOnly, SendRecv, RecvOnly),
        (RecvOnly, SendRecv, SendOnly),
        (Inactive, SendRecv, Inactive),
        (SendRecv, SendRecv, SendRecv),
        (SendRecv, SendOnly, SendOnly),
        (SendRecv, Inactive, Inactive),
        (SendOnly, SendOnly, Inactive),
        (RecvOnly, RecvOnly, Inactive),
    ];
    for (offered, wanted, expected) in cases {
        let offer = offer_with(&format!("m=audio 49170 RTP/AVP 0\na={offered}"));
        let caps = caps.clone().with_direction(wanted);
        let ans = answer(&offer, &caps, &mut session());
        assert_eq!(
            ans.media[0].direction(),
            Some(expected),
            "{offered} {wanted}"
        );
        assert_eq!(ans.media[0].port, 30000);
        assert_eq!(
            negotiated(&offer, &ans)[0].as_ref().unwrap().direction,
            expected
        );
    }
    // Session-level direction in the offer applies to its media.
    let offer = sdp("v=0
         o=alice 1 1 IN IP6 2001:db8::10
         s=-
         c=IN IP6 2001:db8::10
         t=0 0
         a=sendonly
         m=audio 49170 RTP/AVP 0
         m=audio 49172 RTP/AVP 0
         a=inactive");
    let caps = Capabilities::new(ip("2001:db8::20"))
        .with_media(MediaCapability::audio(30000, vec![Codec::pcmu()]));
    let ans = answer(&offer, &caps, &mut session());
    assert_eq!(ans.media[0].direction(), Some(RecvOnly));
    assert_eq!(ans.media[1].direction(), Some(Inactive));
    assert_eq!(ans.connection.as_ref().unwrap().addr_type, "IP6");
    assert_eq!(ans.origin.addr_type, "IP6");
    assert!(ans.attributes.is_empty());
}

#[test]
fn initial_offer_from_capabilities() {
    let caps = Capabilities::new(ip("192.0.2.20"))
        .with_media(
            MediaCapability::audio(
                30000,
                vec![
                    Codec::new("opus", 48000)
                        .with_channels(2)
                        .with_fmtp("useinbandfec=1"),
                    Codec::pcmu(),
                    Codec::pcma(),
                    Codec::telephone_event().with_payload_type(101),
                    Codec::new("iLBC", 8000),
                ],
            )
            .with_ptime(20),
        )
        .with_media(MediaCapability::video(
            30002,
            vec![Codec::new("H264", 90000).with_fmtp("packetization-mode=1")],
        ))
        .with_media(MediaCapability::video(30004, vec![])); // no codec: left out
    let mut s = session();
    let o = offer(&caps, &mut s);
    assert_eq!(
        o.to_string(),
        "v=0\r\n\
         o=bob 42 7 IN IP4 192.0.2.20\r\n\
         s=-\r\n\
         c=IN IP4 192.0.2.20\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 96 0 8 101 97\r\n\
         a=rtpmap:96 opus/48000/2\r\n\
         a=fmtp:96 useinbandfec=1\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=rtpmap:97 iLBC/8000\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n\
         m=video 30002 RTP/AVP 96\r\n\
         a=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1\r\n\
         a=sendrecv\r\n"
    );
    assert_eq!(
        SessionDescription::parse_with(&o.to_string(), ParseOptions::STRICT).unwrap(),
        o
    );
    assert_eq!(s.last_sent(), Some(&o));

    // The peer answers; negotiated() from the offerer's side.
    let peer_caps = Capabilities::new(ip("192.0.2.30")).with_media(MediaCapability::audio(
        40000,
        vec![Codec::pcma(), Codec::telephone_event()],
    ));
    let ans = answer(&o, &peer_caps, &mut LocalSession::new("peer", 9, 9));
    let agreed = negotiated(&o, &ans);
    assert_eq!(agreed.len(), 2);
    let a = agreed[0].as_ref().unwrap();
    assert_eq!((a.format.as_str(), a.telephone_event), ("8", Some(101)));
    assert!(agreed[1].is_none());
}

#[test]
fn version_bumped_only_on_change() {
    let offer1 = offer_with("m=audio 49170 RTP/AVP 0 8");
    let caps = audio_caps(vec![Codec::pcmu()]);
    let mut s = session();
    let a1 = answer(&offer1, &caps, &mut s);
    assert_eq!(a1.origin.session_version, 7);
    // Same offer again (RFC 3264 §8: a no-op re-offer) → same answer, same version.
    let a2 = answer(&offer1, &caps, &mut s);
    assert_eq!(a2, a1);
    assert_eq!(a2.origin.session_version, 7);
    // The offer changes, and so does the answer → version + 1, rest of o= same.
    let offer2 = offer_with("m=audio 49170 RTP/AVP 0 8\na=sendonly");
    let a3 = answer(&offer2, &caps, &mut s);
    assert_eq!(a3.origin.session_version, 8);
    assert_eq!(a3.origin.session_id, a1.origin.session_id);
    assert_eq!(a3.origin.username, a1.origin.username);
    // Even if our address changes, o= keeps its first address.
    let caps2 = Capabilities {
        address: ip("192.0.2.99"),
        ..caps.clone()
    };
    let a4 = answer(&offer2, &caps2, &mut s);
    assert_eq!(a4.origin.session_version, 9);
    assert_eq!(a4.origin.unicast_address, "192.0.2.20");
    assert_eq!(a4.connection.as_ref().unwrap().address, "192.0.2.99");
    // And unchanged again.
    let a5 = answer(&offer2, &caps2, &mut s);
    assert_eq!(a5.origin.session_version, 9);
}

#[test]
fn hold_and_resume() {
    use Direction::*;
    let caps = Capabilities::new(ip("192.0.2.20"))
        .with_media(MediaCapability::audio(30000, vec![Codec::pcmu()]))
        .with_media(MediaCapability::video(
            30002,
            vec![Codec::new("H261", 90000)],
        ));
    let mut s = session();
    assert!(s.hold_offer().is_none());
    let o = offer(&caps, &mut s);
    assert_eq!(o.origin.session_version, 7);

    // RFC 3264 §8.4: sendrecv → sendonly.
    let held = s.hold_offer().unwrap();
    assert_eq!(held.origin.session_version, 8);
    assert!(held.media.iter().all(|m| m.direction() == Some(SendOnly)));
    assert_eq!(held.media.len(), o.media.len());
    // Holding again changes nothing → same version.
    let again = s.hold_offer().unwrap();
    assert_eq!(again.origin.session_version, 8);
    assert_eq!(again, held);

    let resumed = s.resume_offer(SendRecv).unwrap();
    assert_eq!(resumed.origin.session_version, 9);
    assert!(resumed
        .media
        .iter()
        .all(|m| m.direction() == Some(SendRecv)));
    // Back to the original description except for the version.
    let mut orig = o.clone();
    orig.origin.session_version = 9;
    assert_eq!(resumed, orig);
}

#[test]
fn hold_when_peer_already_holds_us_is_inactive() {
    use Direction::*;
    // The peer put us on hold: it offered sendonly, we answered recvonly.
    let peer_hold = offer_with(
        "m=audio 49170 RTP/AVP 0
         a=sendonly
         m=audio 0 RTP/AVP 0",
    );
    let mut s = session();
    let ans = answer(&peer_hold, &audio_caps(vec![Codec::pcmu()]), &mut s);
    assert_eq!(ans.media[0].direction(), Some(RecvOnly));
    // Now we hold too: recvonly → inactive (RFC 3264 §8.4); rejected stream untouched.
    let held = s.hold_offer().unwrap();
    assert_eq!(held.media[0].direction(), Some(Inactive));
    assert_eq!(held.media[1].port, 0);
    assert!(held.media[1].attributes.is_empty());
    assert_eq!(held.origin.session_version, ans.origin.session_version + 1);

    // The pure functions, with a session-level direction attribute.
    let mut prev = offer_with("m=audio 49170 RTP/AVP 0\nm=audio 49172 RTP/AVP 0\na=sendrecv");
    prev.set_direction(RecvOnly);
    let h = hold(&prev);
    assert!(h.attributes.is_empty());
    assert_eq!(h.media[0].direction(), Some(Inactive));
    assert_eq!(h.media[1].direction(), Some(SendOnly));
    let r = resume(&h, SendRecv);
    assert_eq!(r.media[0].direction(), Some(SendRecv));
    assert_eq!(r.media[1].direction(), Some(SendRecv));
}

#[test]
fn answer_to_empty_offer_has_no_media() {
    let offer = offer_with("");
    let ans = answer(&offer, &audio_caps(vec![Codec::pcmu()]), &mut session());
    assert!(ans.media.is_empty());
    assert!(negotiated(&offer, &ans).is_empty());
}

#[test]
fn large_offer_is_answered_in_linear_time() {
    // 40k formats and 40k rtpmaps: a quadratic answer would take minutes.
    let n = 40_000;
    let mut media = String::from("m=audio 49170 RTP/AVP");
    for i in 0..n {
        media.push_str(&format!(" {}", 96 + i % 32));
    }
    for i in 0..n {
        media.push_str(&format!("\na=rtpmap:{} X{i}/8000", 96 + i % 32));
    }
    media.push_str("\na=rtpmap:127 PCMU/8000\na=fmtp:127 x=1");
    let offer = offer_with(&media);
    let start = std::time::Instant::now();
    let ans = answer(&offer, &audio_caps(vec![Codec::pcmu()]), &mut session());
    // PT 127's first rtpmap (X31/8000) wins, so nothing matches.
    assert_eq!(ans.media[0].port, 0);
    let caps = audio_caps(vec![Codec::new("x5", 8000)]);
    let ans = answer(&offer, &caps, &mut session());
    assert_eq!(ans.media[0].formats, ["101"]);
    assert_eq!(negotiated(&offer, &ans)[0].as_ref().unwrap().format, "101");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}
