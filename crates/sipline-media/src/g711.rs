//! ITU-T G.711 companding: µ-law (PCMU) and A-law (PCMA).
//!
//! Both laws map a linear sample onto 8 segments of 16 quantisation steps
//! each, the step doubling from one segment to the next (the "segment
//! algorithm" of G.711 §2 and its Tables 1a/2a). Linear samples here are
//! 16-bit; G.711 itself is defined on 14-bit (µ-law) and 13-bit (A-law)
//! values, which are the top bits of the 16-bit sample.
//!
//! Decoding goes through 256-entry tables built at compile time; encoding
//! is a handful of integer operations per sample. RFC 3551 §4.5.14 carries
//! one G.711 octet per sample in RTP, PCMU as static payload type 0 and PCMA
//! as static payload type 8 (RFC 3551 §6, Table 4), both at 8000 Hz.

/// µ-law bias: added to the magnitude so that every segment starts at a
/// power of two (G.711 Table 2a, scaled to 16 bits).
const ULAW_BIAS: i32 = 0x84;
/// Largest 16-bit magnitude that µ-law can represent before clipping
/// (8159 on the 14-bit scale, times 4, less the bias).
const ULAW_CLIP: i32 = 32_635;

/// An audio codec of RFC 3551 that this crate can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, "PCMU", static payload type 0.
    Pcmu,
    /// G.711 A-law, "PCMA", static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 §6, Table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The encoding name used in SDP `a=rtpmap` (RFC 3551 §6).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate in Hz: 8000 for both (RFC 3551 §4.5.14).
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec with this static payload type, if it is one of ours.
    pub fn from_payload_type(payload_type: u8) -> Option<Self> {
        match payload_type {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The codec with this encoding name; the comparison ignores ASCII case
    /// (media type names are case-insensitive, RFC 4566 §6 `a=rtpmap`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Self::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Self::Pcma)
        } else {
            None
        }
    }

    /// Encodes linear samples, one octet per sample.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            Self::Pcmu => samples.iter().map(|&s| ulaw_encode(s)).collect(),
            Self::Pcma => samples.iter().map(|&s| alaw_encode(s)).collect(),
        }
    }

    /// Decodes octets into linear samples, one sample per octet.
    pub fn decode(self, octets: &[u8]) -> Vec<i16> {
        match self {
            Self::Pcmu => octets.iter().map(|&o| ulaw_decode(o)).collect(),
            Self::Pcma => octets.iter().map(|&o| alaw_decode(o)).collect(),
        }
    }

    /// Decodes one octet.
    pub fn decode_one(self, octet: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_decode(octet),
            Self::Pcma => alaw_decode(octet),
        }
    }

    /// Encodes one sample.
    pub fn encode_one(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => ulaw_encode(sample),
            Self::Pcma => alaw_encode(sample),
        }
    }
}

/// Encodes one 16-bit sample as µ-law.
///
/// The sign goes into bit 7, the magnitude (biased, clipped) into a 3-bit
/// segment number and a 4-bit step within the segment, and the whole octet
/// is inverted (G.711 Table 2a: "character signal" bits are transmitted
/// inverted).
pub fn ulaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample);
    let (sign, magnitude) = if value < 0 {
        (0x80u8, -value)
    } else {
        (0x00u8, value)
    };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // The biased value lies in [0x84, 0x7FFF]; its highest set bit is 7..=14,
    // which gives segments 0..=7.
    let segment = (31 - biased.leading_zeros()) as i32 - 7;
    let step = ((biased >> (segment + 3)) & 0x0F) as u8;
    !(sign | ((segment as u8) << 4) | step)
}

/// Decodes one µ-law octet to a 16-bit sample (the midpoint of its step).
pub fn ulaw_decode(octet: u8) -> i16 {
    ULAW_DECODE[usize::from(octet)]
}

/// Encodes one 16-bit sample as A-law.
///
/// The 13-bit value is split into a segment (0 and 1 share the smallest
/// step) and a 4-bit step; even bits are inverted for transmission
/// (G.711 Table 1a, XOR 0x55), and bit 7 is 1 for positive values.
pub fn alaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3;
    let (mask, magnitude) = if value >= 0 {
        (0xD5u8, value)
    } else {
        // -1 ..= -4096 map onto 0 ..= 4095: A-law has no negative zero step.
        (0x55u8, -value - 1)
    };
    // The magnitude is at most 0xFFF; segment s >= 1 covers [16 << s, 32 << s).
    let segment = if magnitude < 0x20 {
        0
    } else {
        (31 - magnitude.leading_zeros()) as i32 - 4
    };
    let shift = if segment < 2 { 1 } else { segment };
    let step = ((magnitude >> shift) & 0x0F) as u8;
    (((segment as u8) << 4) | step) ^ mask
}

/// Decodes one A-law octet to a 16-bit sample (the midpoint of its step).
pub fn alaw_decode(octet: u8) -> i16 {
    ALAW_DECODE[usize::from(octet)]
}

const fn ulaw_decode_calc(octet: u8) -> i16 {
    let bits = !octet;
    let segment = (bits >> 4) & 0x07;
    let step = (bits & 0x0F) as i32;
    let magnitude = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if bits & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_calc(octet: u8) -> i16 {
    let bits = octet ^ 0x55;
    let segment = (bits >> 4) & 0x07;
    let step = (bits & 0x0F) as i32;
    // Midpoint of the step on the 16-bit scale: steps are 16 wide in
    // segments 0 and 1, and 16 << (s - 1) wide from segment 2 on.
    let magnitude = match segment {
        0 => (step << 4) + 8,
        _ => ((step << 4) + 0x108) << (segment - 1),
    };
    if bits & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    table
}

const fn alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = ulaw_table();
static ALAW_DECODE: [i16; 256] = alaw_table();

#[cfg(test)]
mod tests {
    use super::*;

    /// Half the quantisation step of the segment the code belongs to, on
    /// the 16-bit scale: the most a correctly decoded sample may differ from
    /// the input (within the clipping range).
    fn half_step(codec: Codec, code: u8) -> i32 {
        match codec {
            Codec::Pcmu => {
                let segment = i32::from((!code >> 4) & 0x07);
                4 << segment
            }
            Codec::Pcma => {
                let segment = i32::from(((code ^ 0x55) >> 4) & 0x07);
                if segment < 2 {
                    8
                } else {
                    8 << (segment - 1)
                }
            }
        }
    }

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        // 14-bit G.711 value 1 sits in step 0 of segment 0 (Table 2a),
        // decoding to 2 (×4 = 8 on the 16-bit scale).
        assert_eq!(ulaw_decode(0xFE), 8);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
    }

    #[test]
    fn round_trip_error_within_quantisation_bound_for_every_sample() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for sample in i16::MIN..=i16::MAX {
                let code = codec.encode_one(sample);
                let back = i32::from(codec.decode_one(code));
                let error = (back - i32::from(sample)).abs();
                let mut bound = half_step(codec, code);
                if codec == Codec::Pcmu {
                    // Beyond the µ-law range the input is clipped to the
                    // top step, whose midpoint is 32124.
                    bound = bound.max(i32::from(sample).abs() - 32_124);
                }
                assert!(
                    error <= bound,
                    "{codec:?} sample {sample} -> {code:#04x} -> {back}: error {error} > {bound}"
                );
            }
        }
    }

    #[test]
    fn decode_is_monotonic_over_codes() {
        // µ-law: 0x00..=0x7F run from the most negative value up to zero,
        // 0xFF..=0x80 from zero up to the most positive.
        let ulaw_order: Vec<u8> = (0x00..=0x7F).chain((0x80..=0xFF).rev()).collect();
        let values: Vec<i16> = ulaw_order.iter().map(|&c| ulaw_decode(c)).collect();
        for pair in values.windows(2) {
            assert!(pair[0] <= pair[1], "{pair:?}");
        }
        let distinct: std::collections::BTreeSet<i16> = values.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            255,
            "only 0x7F and 0xFF share a value (zero)"
        );

        // A-law: after undoing the even-bit inversion, sign-magnitude order.
        let negative = (0x00..=0x7Fu8).rev().map(|c| c ^ 0x55);
        let positive = (0x80..=0xFFu8).map(|c| c ^ 0x55);
        let values: Vec<i16> = negative.chain(positive).map(alaw_decode).collect();
        for pair in values.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
    }

    #[test]
    fn encode_is_monotonic_over_samples() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut previous = i16::MIN;
            for sample in i16::MIN..=i16::MAX {
                let value = codec.decode_one(codec.encode_one(sample));
                assert!(value >= previous, "{codec:?} at {sample}");
                previous = value;
            }
        }
    }

    #[test]
    fn codec_names_and_payload_types() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::Pcma.clock_rate(), 8000);
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(3), None);
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("PcMa"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("G722"), None);
    }

    #[test]
    fn slice_encode_decode() {
        let samples = [0i16, 1000, -1000, 32_000, -32_000];
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let octets = codec.encode(&samples);
            assert_eq!(octets.len(), samples.len());
            let back = codec.decode(&octets);
            assert_eq!(back.len(), samples.len());
            assert!(back[0].abs() <= 8);
        }
    }
}
