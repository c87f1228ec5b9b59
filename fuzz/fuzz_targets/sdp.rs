//! Fuzzes the SDP parser (tolerant and strict), the parse -> serialize ->
//! parse round trip, and the RFC 3264 answerer on every accepted offer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_sdp::{
    answer, hold, negotiated, resume, Capabilities, Codec, Direction, LocalSession,
    MediaCapability, ParseOptions, SessionDescription,
};

fuzz_target!(|data: &[u8]| {
    // parse_bytes must agree with the &str entry points on UTF-8 input and
    // must not panic on anything else.
    let tolerant_bytes = SessionDescription::parse_bytes(data, ParseOptions::TOLERANT);
    let strict_bytes = SessionDescription::parse_bytes(data, ParseOptions::STRICT);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(tolerant_bytes.is_err() && strict_bytes.is_err());
        return;
    };

    let tolerant = SessionDescription::parse(text);
    let strict = SessionDescription::parse_with(text, ParseOptions::STRICT);
    assert_eq!(tolerant.is_ok(), tolerant_bytes.is_ok());
    assert_eq!(strict.is_ok(), strict_bytes.is_ok());
    if let (Ok(a), Ok(b)) = (&tolerant, &tolerant_bytes) {
        assert_eq!(a, b, "parse and parse_bytes disagree");
    }
    if strict.is_ok() {
        // Anything strict mode accepts, tolerant mode accepts too.
        assert!(tolerant.is_ok(), "strict accepted what tolerant rejected");
    }

    for (sdp, opts) in [(tolerant, ParseOptions::TOLERANT), (strict, ParseOptions::STRICT)] {
        let Ok(sdp) = sdp else { continue };
        round_trip(&sdp, opts);
        exercise(&sdp);
    }
});

fn round_trip(sdp: &SessionDescription, opts: ParseOptions) {
    let text = sdp.to_string();
    match SessionDescription::parse_with(&text, opts) {
        Ok(again) => assert_eq!(&again, sdp, "round trip changed the description; text: {text:?}"),
        Err(e) => panic!("serialized description does not parse again: {e:?}; text: {text:?}"),
    }
}

fn caps() -> Capabilities {
    Capabilities::new("192.0.2.20".parse().unwrap()).with_media(MediaCapability::audio(
        30000,
        vec![Codec::pcmu(), Codec::pcma(), Codec::telephone_event()],
    ))
}

fn exercise(offer: &SessionDescription) {
    // Typed views parsed on demand.
    let _ = offer.direction();
    for m in &offer.media {
        let _ = offer.media_direction(m);
        let _ = offer.media_connection(m);
        let _ = m.rtpmaps();
        let _ = m.fmtps();
        let _ = m.ptime();
        let _ = m.maxptime();
        let _ = m.rtcp();
        let _ = m.candidates();
        let _ = m.direction();
        let _ = m.is_rtp();
        for f in &m.formats {
            let _ = m.fmtp(f);
            if let Ok(pt) = f.parse::<u8>() {
                let _ = m.codec(pt);
            }
        }
    }

    let caps = caps();
    let mut session = LocalSession::new("fuzz", 1234, 1);
    let ans = answer(offer, &caps, &mut session);
    assert_eq!(
        ans.media.len(),
        offer.media.len(),
        "answer has a different number of m-lines than the offer"
    );
    // The answer is built by sipline: it must serialize to text that the
    // tolerant parser reads back unchanged.
    let text = ans.to_string();
    match SessionDescription::parse(&text) {
        Ok(again) => assert_eq!(again, ans, "answer does not round-trip; text: {text:?}"),
        Err(e) => panic!("answer does not parse: {e:?}; text: {text:?}; offer: {offer:?}"),
    }
    let agreed = negotiated(offer, &ans);
    assert_eq!(agreed.len(), offer.media.len());

    let held = hold(offer);
    assert_eq!(held.media.len(), offer.media.len());
    let resumed = resume(&held, Direction::SendRecv);
    assert_eq!(resumed.media.len(), offer.media.len());
}
