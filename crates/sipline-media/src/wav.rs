//! RIFF WAVE files of telephone audio: 8000 Hz mono, as 16-bit PCM or
//! 8-bit G.711 (µ-law format tag 7, A-law format tag 6).
//!
//! A RIFF file is `"RIFF" size "WAVE"` followed by chunks, each an id of 4
//! octets, a little-endian 32-bit size and the data, padded to an even
//! length. The `fmt ` chunk describes the samples and the `data` chunk holds
//! them; other chunks (`LIST`, `fact`, `cue `, ...) are skipped.
//! WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE) is read through its sub-format.

use std::fs;
use std::io;
use std::path::Path;

use crate::g711::{alaw_decode, ulaw_decode};

/// The only sample rate read and written.
pub const SAMPLE_RATE: u32 = 8000;

const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Reading or writing the file failed.
    #[error("WAV file I/O: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with `RIFF....WAVE`.
    #[error("not a RIFF WAVE file")]
    NotWave,
    /// A chunk header or the `fmt ` chunk is cut short.
    #[error("WAV file is truncated in the {0} chunk")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the end of the file.
    #[error("WAV file has no fmt chunk")]
    MissingFormat,
    /// No `data` chunk before the end of the file.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// The samples are not 8000 Hz mono 16-bit PCM, µ-law or A-law.
    #[error(
        "unsupported WAV format: {} ({format_tag:#06x}), {channels} channel(s), {sample_rate} Hz, \
         {bits_per_sample} bits per sample; need mono 8000 Hz 16-bit PCM, 8-bit µ-law or 8-bit A-law",
        format_name(*format_tag)
    )]
    Unsupported {
        /// The format tag (1 PCM, 3 float, 6 A-law, 7 µ-law, ...); for
        /// WAVE_FORMAT_EXTENSIBLE, the sub-format's tag.
        format_tag: u16,
        /// Number of channels.
        channels: u16,
        /// Samples per second.
        sample_rate: u32,
        /// Bits per sample.
        bits_per_sample: u16,
    },
    /// Writing: more samples than a RIFF file's 32-bit sizes can hold.
    #[error("{0} samples do not fit in a WAV file")]
    TooLong(usize),
}

fn format_name(tag: u16) -> &'static str {
    match tag {
        FORMAT_PCM => "PCM",
        2 => "ADPCM",
        3 => "IEEE float",
        FORMAT_ALAW => "A-law",
        FORMAT_ULAW => "µ-law",
        0x11 => "IMA ADPCM",
        0x55 => "MP3",
        FORMAT_EXTENSIBLE => "extensible",
        _ => "unknown",
    }
}

/// How the samples of the `data` chunk are stored.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Pcm16,
    Ulaw,
    Alaw,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_format(fmt: &[u8]) -> Result<Encoding, WavError> {
    if fmt.len() < 16 {
        return Err(WavError::Truncated("fmt"));
    }
    let mut format_tag = le16(fmt, 0);
    let channels = le16(fmt, 2);
    let sample_rate = le32(fmt, 4);
    let bits_per_sample = le16(fmt, 14);
    if format_tag == FORMAT_EXTENSIBLE {
        // cbSize, valid bits, channel mask, then the sub-format GUID whose
        // first two octets are the plain format tag.
        if fmt.len() < 26 {
            return Err(WavError::Truncated("fmt"));
        }
        format_tag = le16(fmt, 24);
    }
    let encoding = match (format_tag, bits_per_sample) {
        (FORMAT_PCM, 16) => Some(Encoding::Pcm16),
        (FORMAT_ULAW, 8) => Some(Encoding::Ulaw),
        (FORMAT_ALAW, 8) => Some(Encoding::Alaw),
        _ => None,
    };
    match encoding {
        Some(encoding) if channels == 1 && sample_rate == SAMPLE_RATE => Ok(encoding),
        _ => Err(WavError::Unsupported {
            format_tag,
            channels,
            sample_rate,
            bits_per_sample,
        }),
    }
}

/// Reads the samples of a WAV file (see [`parse`]).
pub fn read(path: impl AsRef<Path>) -> Result<Vec<i16>, WavError> {
    parse(&fs::read(path)?)
}

/// Reads the samples of a WAV file held in memory.
///
/// The RIFF size field is not trusted (streaming writers leave it wrong),
/// and a `data` chunk that claims more octets than the file has is read to
/// the end of the file, whole samples only.
pub fn parse(file: &[u8]) -> Result<Vec<i16>, WavError> {
    if file.len() < 12 || &file[0..4] != b"RIFF" || &file[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut encoding = None;
    let mut data = None;
    let mut at = 12;
    while at < file.len() {
        if file.len() - at < 8 {
            return Err(WavError::Truncated("chunk header"));
        }
        let id = &file[at..at + 4];
        let size = le32(file, at + 4) as usize;
        let start = at + 8;
        let end = start.saturating_add(size).min(file.len());
        let body = &file[start..end];
        match id {
            b"fmt " => {
                if size > body.len() {
                    return Err(WavError::Truncated("fmt"));
                }
                encoding = Some(parse_format(body)?);
            }
            b"data" => data = Some(body),
            _ => {}
        }
        if data.is_some() && encoding.is_some() {
            break;
        }
        // Chunks are padded to an even length.
        at = end.saturating_add(size & 1);
    }
    let encoding = encoding.ok_or(WavError::MissingFormat)?;
    let data = data.ok_or(WavError::MissingData)?;
    Ok(match encoding {
        Encoding::Pcm16 => data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
        Encoding::Ulaw => data.iter().map(|&b| ulaw_decode(b)).collect(),
        Encoding::Alaw => data.iter().map(|&b| alaw_decode(b)).collect(),
    })
}

/// Writes samples as a 16-bit PCM, mono, 8000 Hz WAV file.
pub fn write(path: impl AsRef<Path>, samples: &[i16]) -> Result<(), WavError> {
    fs::write(path, to_bytes(samples)?)?;
    Ok(())
}

/// The bytes of a 16-bit PCM, mono, 8000 Hz WAV file holding `samples`.
pub fn to_bytes(samples: &[i16]) -> Result<Vec<u8>, WavError> {
    let data_len = samples
        .len()
        .checked_mul(2)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| n.checked_add(36).is_some())
        .ok_or(WavError::TooLong(samples.len()))?;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Codec;

    fn header(format_tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&format_tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        let align = channels * bits / 8;
        out.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn write_then_read_back() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 - 16_000) as i16).collect();
        let path =
            std::env::temp_dir().join(format!("sipline-media-wav-{}.wav", std::process::id()));
        write(&path, &samples).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 44 + 2000);
        assert_eq!(le32(&bytes, 4), 36 + 2000);
        assert_eq!(read(&path).unwrap(), samples);
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unknown_chunks_are_skipped() {
        let mut file = to_bytes(&[1, 2, 3]).unwrap();
        // Insert an odd-sized LIST chunk (padded) between fmt and data.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc\0"].concat();
        let data_at = 36;
        file.splice(data_at..data_at, list);
        assert_eq!(parse(&file).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn reads_g711_files() {
        let samples = [0i16, 1000, -1000, 30_000];
        let ulaw = Codec::Pcmu.encode(&samples);
        let alaw = Codec::Pcma.encode(&samples);
        assert_eq!(
            parse(&header(7, 1, 8000, 8, &ulaw)).unwrap(),
            Codec::Pcmu.decode(&ulaw)
        );
        assert_eq!(
            parse(&header(6, 1, 8000, 8, &alaw)).unwrap(),
            Codec::Pcma.decode(&alaw)
        );
    }

    #[test]
    fn rejects_stereo_44k_naming_it() {
        let file = header(1, 2, 44_100, 16, &[0; 16]);
        let err = parse(&file).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                WavError::Unsupported {
                    format_tag: 1,
                    channels: 2,
                    sample_rate: 44_100,
                    bits_per_sample: 16
                }
            ),
            "{err:?}"
        );
        assert!(text.contains("PCM"), "{text}");
        assert!(text.contains("2 channel"), "{text}");
        assert!(text.contains("44100 Hz"), "{text}");
    }

    #[test]
    fn rejects_other_formats_and_broken_files() {
        let float = parse(&header(3, 1, 8000, 32, &[0; 8])).unwrap_err();
        assert!(float.to_string().contains("IEEE float"), "{float}");
        let pcm8 = parse(&header(1, 1, 8000, 8, &[0; 8])).unwrap_err();
        assert!(pcm8.to_string().contains("8 bits"), "{pcm8}");
        assert!(matches!(parse(b"RIFX\0\0\0\0WAVE"), Err(WavError::NotWave)));
        let mut no_data = to_bytes(&[]).unwrap();
        no_data.truncate(36);
        assert!(matches!(parse(&no_data), Err(WavError::MissingData)));
        let mut cut = to_bytes(&[]).unwrap();
        cut.truncate(30);
        assert!(matches!(parse(&cut), Err(WavError::Truncated("fmt"))));
    }

    #[test]
    fn data_chunk_longer_than_file_is_read_to_the_end() {
        let mut file = to_bytes(&[5, 6, 7]).unwrap();
        file.truncate(file.len() - 1);
        assert_eq!(parse(&file).unwrap(), [5, 6]);
    }

    #[test]
    fn extensible_pcm_is_read() {
        let mut file = Vec::new();
        file.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        file.extend_from_slice(&40u32.to_le_bytes());
        file.extend_from_slice(&FORMAT_EXTENSIBLE.to_le_bytes());
        file.extend_from_slice(&1u16.to_le_bytes());
        file.extend_from_slice(&8000u32.to_le_bytes());
        file.extend_from_slice(&16_000u32.to_le_bytes());
        file.extend_from_slice(&2u16.to_le_bytes());
        file.extend_from_slice(&16u16.to_le_bytes());
        file.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        file.extend_from_slice(&16u16.to_le_bytes()); // valid bits
        file.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        file.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        file.extend_from_slice(&[0; 14]); // rest of the GUID
        file.extend_from_slice(b"data");
        file.extend_from_slice(&4u32.to_le_bytes());
        file.extend_from_slice(&[1, 0, 2, 0]);
        assert_eq!(parse(&file).unwrap(), [1, 2]);
    }
}
