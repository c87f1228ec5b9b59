//! Fuzzes the PIDF reader (RFC 3863): no panic on any text, and whatever
//! it reads, written back out, reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_dialog::presence::Presence;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Presence::parse(text) {
        let xml = p.to_xml();
        let again = Presence::parse(&xml).expect("a written document parses");
        assert_eq!(again, p, "PIDF round trip changed the document: {xml}");
    }
});
