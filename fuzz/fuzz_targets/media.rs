//! Fuzzes what the media layer reads from the network and from files: RTP
//! packets (with the write -> parse round trip), RFC 4733 telephone-event
//! payloads and the DTMF detector, and WAV files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_media::{wav, DtmfDetector, RtpPacket, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(p) = RtpPacket::parse(&bytes) {
        if let Ok(written) = p.to_bytes() {
            let again = RtpPacket::parse(&written).expect("a written packet parses");
            assert_eq!(again, p, "RTP round trip changed the packet");
        }
        let mut detector = DtmfDetector::new();
        let _ = detector.handle(p.timestamp, &p.payload);
        let _ = TelephoneEvent::parse_all(&p.payload);
    }
    let _ = TelephoneEvent::parse(data);
    let _ = wav::parse(data);
});
