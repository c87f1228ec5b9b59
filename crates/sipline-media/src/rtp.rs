//! RTP data packets (RFC 3550 §5.1) and receiver statistics (RFC 3550
//! Appendix A.1, A.3 and A.8).

use bytes::{BufMut, Bytes, BytesMut};

/// The RTP version this crate speaks (RFC 3550 §5.1: "The version defined by
/// this specification is two").
pub const RTP_VERSION: u8 = 2;
/// Size of the fixed header, before any CSRC (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// At most 15 CSRC identifiers fit the 4-bit CC field (RFC 3550 §5.1).
pub const MAX_CSRC: usize = 15;

/// Why bytes are not an RTP packet, or a packet cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-octet fixed header.
    #[error("RTP packet too short: {0} octets, the fixed header needs 12")]
    TooShort(usize),
    /// The version field is not 2 (RFC 3550 §5.1, A.1).
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CC field announces more CSRC identifiers than the packet holds.
    #[error("RTP CSRC list of {0} entries is truncated")]
    CsrcListTruncated(u8),
    /// The X bit is set but the header extension is cut short (RFC 3550 §5.3.1).
    #[error("RTP header extension is truncated")]
    ExtensionTruncated,
    /// The P bit is set but the last octet is zero or counts more padding
    /// than the packet has after its header (RFC 3550 §5.1, A.1).
    #[error("RTP padding count {0} is invalid")]
    BadPadding(u8),
    /// Writing: the payload type does not fit in 7 bits.
    #[error("RTP payload type {0} does not fit in 7 bits")]
    PayloadTypeOutOfRange(u8),
    /// Writing: more than 15 CSRC identifiers.
    #[error("{0} CSRC identifiers, at most 15 fit")]
    TooManyCsrc(usize),
}

/// An RTP data packet (RFC 3550 §5.1).
///
/// Parsing drops padding and skips a header extension (its contents are
/// profile-specific, RFC 3550 §5.3.1); writing never emits either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Payload type, 7 bits.
    pub payload_type: u8,
    /// Marker bit; its meaning is set by the profile (RFC 3551 §4.1: first
    /// packet of a talkspurt).
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp, in units of the payload's clock rate.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrc: Vec<u32>,
    /// The payload, without padding.
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses one datagram. Never panics; every malformed input gives an
    /// [`RtpError`]. The payload shares `data`'s buffer.
    pub fn parse(data: &Bytes) -> Result<Self, RtpError> {
        let len = data.len();
        if len < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort(len));
        }
        let first = data[0];
        // RFC 3550 §5.1: V (2 bits), P, X, CC (4 bits).
        let version = first >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let csrc_count = first & 0x0F;
        let second = data[1];
        let marker = second & 0x80 != 0;
        let payload_type = second & 0x7F;
        let sequence = u16::from_be_bytes([data[2], data[3]]);
        let timestamp = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);

        let mut offset = FIXED_HEADER_LEN;
        let csrc_end = offset + 4 * usize::from(csrc_count);
        if csrc_end > len {
            return Err(RtpError::CsrcListTruncated(csrc_count));
        }
        let csrc = data[offset..csrc_end]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        offset = csrc_end;

        if extension {
            // RFC 3550 §5.3.1: 16 bits defined by profile, 16 bits length in
            // 32-bit words not counting this 4-octet header, then the data.
            if offset + 4 > len {
                return Err(RtpError::ExtensionTruncated);
            }
            let words = usize::from(u16::from_be_bytes([data[offset + 2], data[offset + 3]]));
            let end = offset + 4 + 4 * words;
            if end > len {
                return Err(RtpError::ExtensionTruncated);
            }
            offset = end;
        }

        let mut end = len;
        if padding {
            // RFC 3550 §5.1: the last octet counts the padding octets,
            // itself included; A.1: it must fit after the header.
            let count = data[len - 1];
            if count == 0 || usize::from(count) > len - offset {
                return Err(RtpError::BadPadding(count));
            }
            end = len - usize::from(count);
        }

        Ok(Self {
            payload_type,
            marker,
            sequence,
            timestamp,
            ssrc,
            csrc,
            payload: data.slice(offset..end),
        })
    }

    /// The length of the packet as [`write`](Self::write) produces it.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN + 4 * self.csrc.len() + self.payload.len()
    }

    /// Appends the packet to `out` (no padding, no extension).
    pub fn write(&self, out: &mut BytesMut) -> Result<(), RtpError> {
        if self.payload_type > 0x7F {
            return Err(RtpError::PayloadTypeOutOfRange(self.payload_type));
        }
        if self.csrc.len() > MAX_CSRC {
            return Err(RtpError::TooManyCsrc(self.csrc.len()));
        }
        out.reserve(self.encoded_len());
        out.put_u8((RTP_VERSION << 6) | self.csrc.len() as u8);
        out.put_u8((u8::from(self.marker) << 7) | self.payload_type);
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        for csrc in &self.csrc {
            out.put_u32(*csrc);
        }
        out.put_slice(&self.payload);
        Ok(())
    }

    /// The packet as one buffer.
    pub fn to_bytes(&self) -> Result<Bytes, RtpError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write(&mut out)?;
        Ok(out.freeze())
    }
}

/// RFC 3550 A.1: a gap larger than this is taken as a restart, not loss.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: packets this far behind the highest are late, not a restart.
const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1: sequential packets needed before a new source is valid.
pub const MIN_SEQUENTIAL: u8 = 2;
const SEQ_MOD: u32 = 1 << 16;
/// How many of the latest sequence numbers are remembered for duplicate
/// detection (one bit each).
const DUPLICATE_WINDOW: u32 = 128;

/// What [`ReceiverStats::update`] concluded about one packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// The packet is valid and counted (RFC 3550 A.1 `update_seq` returns 1).
    Valid,
    /// The source is still on probation (fewer than [`MIN_SEQUENTIAL`]
    /// packets in sequence); the packet is not counted.
    Probation,
    /// A very large jump: the packet is not counted unless the next one
    /// follows it, which is then a restart and resets the statistics.
    BadJump,
}

/// Reception statistics for one source: sequence tracking (RFC 3550 A.1),
/// expected and lost counts (A.3) and interarrival jitter (A.8).
///
/// One instance follows one SSRC; start a new one when the SSRC changes.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    started: bool,
    probation: u8,
    min_sequential: u8,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    duplicates: u64,
    /// Bit i set: extended sequence `extended_max - i` has been received.
    seen: u128,
    transit: Option<i64>,
    jitter: f64,
}

impl Default for ReceiverStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiverStats {
    /// Statistics for a source heard for the first time, which must send
    /// [`MIN_SEQUENTIAL`] packets in sequence to become valid (RFC 3550 A.1).
    pub fn new() -> Self {
        Self::with_min_sequential(MIN_SEQUENTIAL)
    }

    /// Like [`new`](Self::new) with another probation length; 1 (or 0)
    /// accepts the first packet at once, as A.1 allows when the source is
    /// already known by other means (here: the address from SDP).
    pub fn with_min_sequential(min_sequential: u8) -> Self {
        Self {
            started: false,
            probation: 0,
            min_sequential: min_sequential.max(1),
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            received: 0,
            duplicates: 0,
            seen: 0,
            transit: None,
            jitter: 0.0,
        }
    }

    /// RFC 3550 A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.duplicates = 0;
        self.seen = 0;
    }

    /// Records one packet's sequence number (RFC 3550 A.1 `update_seq`).
    ///
    /// Duplicates are counted in [`received`](Self::received), as A.3 says
    /// ("including any late or duplicate packets"), and also separately in
    /// [`duplicates`](Self::duplicates).
    pub fn update(&mut self, seq: u16) -> SequenceCheck {
        if !self.started {
            // A.1: on the first packet, init_seq; max_seq = seq - 1;
            // probation = MIN_SEQUENTIAL.
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = self.min_sequential;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    self.seen = 1;
                    return SequenceCheck::Valid;
                }
            } else {
                self.probation = self.min_sequential - 1;
                self.max_seq = seq;
            }
            return SequenceCheck::Probation;
        } else if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                // The sequence number wrapped: count another 64K cycle.
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
            self.seen = if u32::from(udelta) >= DUPLICATE_WINDOW {
                0
            } else {
                self.seen << udelta
            };
            // udelta == 0 is a duplicate of the highest packet.
            if udelta == 0 && self.seen & 1 != 0 {
                self.duplicates += 1;
            }
            self.seen |= 1;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: the other side restarted without
                // telling us, so resynchronise as if this were the first.
                self.init_seq(seq);
                self.seen = 1;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return SequenceCheck::BadJump;
            }
        } else {
            // Duplicate or reordered packet, behind the highest.
            let behind = u32::from(self.max_seq.wrapping_sub(seq));
            if behind < DUPLICATE_WINDOW {
                let bit = 1u128 << behind;
                if self.seen & bit != 0 {
                    self.duplicates += 1;
                }
                self.seen |= bit;
            }
        }
        self.received += 1;
        SequenceCheck::Valid
    }

    /// Updates the interarrival jitter with one packet (RFC 3550 A.8,
    /// §6.4.1). `arrival` is the arrival time in the same clock units as the
    /// RTP timestamp; only differences matter, so any origin will do.
    pub fn update_jitter(&mut self, rtp_timestamp: u32, arrival: u32) {
        // Transit times are compared modulo 2^32, as the C code does with
        // int arithmetic.
        let transit = i64::from(arrival.wrapping_sub(rtp_timestamp) as i32);
        if let Some(previous) = self.transit {
            let d = (transit - previous).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// The extended highest sequence number received: cycles plus the
    /// highest 16-bit number (RFC 3550 A.3 `extended_max`).
    pub fn extended_highest_sequence(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets received and counted, duplicates and late ones included
    /// (RFC 3550 A.3).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected: extended highest less base, plus one (RFC 3550
    /// A.3). Zero while the source is on probation.
    pub fn expected(&self) -> u64 {
        if !self.started || self.probation > 0 {
            return 0;
        }
        (u64::from(self.extended_highest_sequence()) + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// Cumulative number of packets lost: expected less received (RFC 3550
    /// A.3). Negative when duplicates outnumber losses; clamped to the
    /// 24-bit signed range of a reception report.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// Packets seen twice among the latest 128 sequence numbers.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Interarrival jitter in timestamp units (RFC 3550 A.8, as carried in
    /// a reception report).
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, RngExt, SeedableRng};

    fn sample_packet() -> RtpPacket {
        RtpPacket {
            payload_type: 0,
            marker: true,
            sequence: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
            csrc: vec![1, 2],
            payload: Bytes::from_static(&[0xFF; 160]),
        }
    }

    #[test]
    fn write_then_parse() {
        let packet = sample_packet();
        let bytes = packet.to_bytes().unwrap();
        assert_eq!(bytes.len(), 12 + 8 + 160);
        assert_eq!(bytes[0], 0x82);
        assert_eq!(bytes[1], 0x80);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), packet);
    }

    #[test]
    fn parse_known_header() {
        let data = Bytes::from_static(&[
            0x80, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0xA0, 0x12, 0x34, 0x56, 0x78, 0xD5, 0xD5,
        ]);
        let packet = RtpPacket::parse(&data).unwrap();
        assert_eq!(packet.payload_type, 8);
        assert!(!packet.marker);
        assert_eq!(packet.sequence, 1);
        assert_eq!(packet.timestamp, 160);
        assert_eq!(packet.ssrc, 0x1234_5678);
        assert!(packet.csrc.is_empty());
        assert_eq!(&packet.payload[..], &[0xD5, 0xD5]);
    }

    #[test]
    fn padding_and_extension_are_removed() {
        let mut raw = vec![0xB0, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        // Extension: profile 0xBEDE, one word.
        raw.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4]);
        raw.extend_from_slice(&[0xAA, 0xBB]);
        // Three padding octets, the last one counting them.
        raw.extend_from_slice(&[0, 0, 3]);
        let packet = RtpPacket::parse(&Bytes::from(raw)).unwrap();
        assert_eq!(&packet.payload[..], &[0xAA, 0xBB]);
    }

    #[test]
    fn malformed_packets_give_typed_errors() {
        let parse = |raw: &[u8]| RtpPacket::parse(&Bytes::copy_from_slice(raw));
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort(5)));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut csrc = vec![0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        csrc.extend_from_slice(&[0; 8]);
        assert_eq!(parse(&csrc), Err(RtpError::CsrcListTruncated(3)));
        let ext = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(parse(&ext), Err(RtpError::ExtensionTruncated));
        let ext_short = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&ext_short), Err(RtpError::ExtensionTruncated));
        let zero_pad = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(parse(&zero_pad), Err(RtpError::BadPadding(0)));
        let big_pad = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3];
        assert_eq!(parse(&big_pad), Err(RtpError::BadPadding(3)));
    }

    #[test]
    fn write_rejects_what_does_not_fit() {
        let mut packet = sample_packet();
        packet.payload_type = 128;
        assert_eq!(packet.to_bytes(), Err(RtpError::PayloadTypeOutOfRange(128)));
        let mut packet = sample_packet();
        packet.csrc = vec![0; 16];
        assert_eq!(packet.to_bytes(), Err(RtpError::TooManyCsrc(16)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = SmallRng::seed_from_u64(0x5EED);
        let mut valid = 0;
        for _ in 0..200_000 {
            let len = rng.random_range(0..64);
            let mut raw = vec![0u8; len];
            rng.fill_bytes(&mut raw);
            if len > 0 && rng.random_bool(0.5) {
                // Force version 2 so the deeper checks are reached.
                raw[0] = (raw[0] & 0x3F) | 0x80;
            }
            let data = Bytes::from(raw);
            if let Ok(packet) = RtpPacket::parse(&data) {
                valid += 1;
                assert!(packet.payload.len() <= data.len());
                // Whatever parses also writes and parses back the same
                // (padding and extension aside).
                let again = RtpPacket::parse(&packet.to_bytes().unwrap()).unwrap();
                assert_eq!(again, packet);
            }
        }
        assert!(valid > 1000, "only {valid} random packets parsed");
    }

    #[test]
    fn in_order_sequence_after_probation() {
        let mut stats = ReceiverStats::new();
        assert_eq!(stats.update(100), SequenceCheck::Probation);
        assert_eq!(stats.update(101), SequenceCheck::Valid);
        for seq in 102..=200 {
            assert_eq!(stats.update(seq), SequenceCheck::Valid);
        }
        // The base is the packet that ended probation (A.1 init_seq).
        assert_eq!(stats.received(), 100);
        assert_eq!(stats.expected(), 100);
        assert_eq!(stats.cumulative_lost(), 0);
        assert_eq!(stats.extended_highest_sequence(), 200);
    }

    #[test]
    fn sequence_wraps_around() {
        let mut stats = ReceiverStats::with_min_sequential(1);
        let mut seq: u16 = 65_530;
        for _ in 0..20 {
            assert_eq!(stats.update(seq), SequenceCheck::Valid);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(stats.extended_highest_sequence(), 65_536 + 13);
        assert_eq!(stats.expected(), 20);
        assert_eq!(stats.received(), 20);
        assert_eq!(stats.cumulative_lost(), 0);
    }

    #[test]
    fn loss_duplicates_and_reordering() {
        let mut stats = ReceiverStats::with_min_sequential(1);
        for seq in [65_534u16, 65_535, 1, 3, 2, 2, 3, 5] {
            stats.update(seq);
        }
        // Expected 65534..=65541 (8), received 8 including 2 duplicates;
        // 0 and 4 were lost: 2 lost, 2 duplicates, net 0.
        assert_eq!(stats.expected(), 8);
        assert_eq!(stats.received(), 8);
        assert_eq!(stats.duplicates(), 2);
        assert_eq!(stats.cumulative_lost(), 0);
        stats.update(9);
        assert_eq!(stats.expected(), 12);
        assert_eq!(stats.cumulative_lost(), 3);
    }

    #[test]
    fn large_jump_then_restart() {
        let mut stats = ReceiverStats::with_min_sequential(1);
        for seq in 10..20 {
            stats.update(seq);
        }
        assert_eq!(stats.update(40_000), SequenceCheck::BadJump);
        // The next packet follows the jump: a restart, statistics reset.
        assert_eq!(stats.update(40_001), SequenceCheck::Valid);
        assert_eq!(stats.received(), 1);
        assert_eq!(stats.expected(), 1);
    }

    #[test]
    fn probation_restarts_on_out_of_order() {
        let mut stats = ReceiverStats::new();
        assert_eq!(stats.update(5), SequenceCheck::Probation);
        assert_eq!(stats.update(9), SequenceCheck::Probation);
        assert_eq!(stats.update(10), SequenceCheck::Valid);
        assert_eq!(stats.expected(), 1);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_grows_otherwise() {
        let mut stats = ReceiverStats::new();
        for i in 0..50u32 {
            stats.update_jitter(1000 + i * 160, 7 + i * 160);
        }
        assert_eq!(stats.jitter(), 0);
        // Every other packet arrives 80 units late: |D| = 80 each time, so
        // J converges on 80 (J += (|D| - J) / 16).
        for i in 50..400u32 {
            let wobble = if i % 2 == 0 { 80 } else { 0 };
            stats.update_jitter(1000 + i * 160, 7 + i * 160 + wobble);
        }
        assert!((75..=80).contains(&stats.jitter()), "{}", stats.jitter());
        // Timestamps and arrival times wrapping around 2^32 change nothing.
        let mut wrapped = ReceiverStats::new();
        for i in 0..50u32 {
            wrapped.update_jitter((u32::MAX - 1000).wrapping_add(i * 160), i * 160);
        }
        assert_eq!(wrapped.jitter(), 0);
    }
}
