//! Fuzzes the URI parser (`Uri::parse`: sip, sips, tel, other schemes), its
//! Display round trip and equivalence, and the percent-escaping helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_message::uri::escape::{
    escape_header, escape_param, escape_password, escape_user, unescape, unescape_bytes,
    unescape_lossy,
};
use sipline_message::uri::Uri;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };

    if let Ok(u) = Uri::parse(s) {
        let text = u.to_string();
        match Uri::parse(&text) {
            Ok(again) => {
                assert_eq!(again, u, "URI round trip changed the value; input {s:?}, text {text:?}");
                assert!(again.equivalent(&u) && u.equivalent(&again));
            }
            Err(e) => panic!("serialized URI does not parse again: {e:?}; input {s:?}, text {text:?}"),
        }
        assert!(u.equivalent(&u), "URI not equivalent to itself: {s:?}");
        let _ = u.scheme();
        let _ = u.as_sip();
        let _ = u.as_tel();
        let _ = u.as_other();
    }

    // Decoding.
    let strict = unescape(s);
    let lossy = unescape_lossy(s);
    let bytes = unescape_bytes(s);
    if let Ok(d) = &strict {
        assert_eq!(d.as_ref(), lossy.as_ref(), "unescape and unescape_lossy disagree");
        assert_eq!(bytes.as_deref().ok(), Some(d.as_bytes()));
    }

    // Escaping then unescaping gives back the input.
    for esc in [escape_user(s), escape_password(s), escape_param(s), escape_header(s)] {
        assert_eq!(
            unescape(&esc).as_deref().ok(),
            Some(s),
            "escape/unescape round trip failed; escaped {esc:?}"
        );
    }
});
