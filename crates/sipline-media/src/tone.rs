//! Test tones: a sine generator, and the Goertzel filter to measure how much
//! of one frequency a block of samples holds.

use std::f64::consts::TAU;

/// The sample rate of everything in this module, the G.711 rate.
pub const SAMPLE_RATE: u32 = 8000;

/// A continuous sine wave at 8000 samples per second, produced frame by
/// frame without phase jumps between frames.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// Phase advance per sample, in radians.
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl ToneGenerator {
    /// A tone of `freq_hz` with peak value `amplitude`.
    pub fn new(freq_hz: f64, amplitude: i16) -> Self {
        Self {
            step: TAU * freq_hz / f64::from(SAMPLE_RATE),
            phase: 0.0,
            amplitude: f64::from(amplitude),
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = (self.amplitude * self.phase.sin()).round() as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }

    /// The next `len` samples.
    pub fn frame(&mut self, len: usize) -> Vec<i16> {
        let mut out = vec![0; len];
        self.fill(&mut out);
        out
    }
}

/// Power of the `freq_hz` component of `samples` (taken at 8000 Hz), by the
/// Goertzel algorithm, normalised by the block length so that blocks of
/// different lengths compare: a full-scale sine at exactly `freq_hz` gives
/// about `(amplitude / 2)²`.
pub fn goertzel(samples: &[i16], freq_hz: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coefficient = 2.0 * (TAU * freq_hz / f64::from(SAMPLE_RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in samples {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let n = samples.len() as f64;
    power / (n * n)
}

/// Of the `candidates`, the frequency with the most power in `samples`
/// (by [`goertzel`]); `None` when there are no candidates.
pub fn dominant_frequency(samples: &[i16], candidates: &[f64]) -> Option<f64> {
    candidates
        .iter()
        .map(|&f| (f, goertzel(samples, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_continuous_and_bounded() {
        let mut generator = ToneGenerator::new(1000.0, 10_000);
        let mut all = generator.frame(160);
        all.extend(generator.frame(160));
        let mut whole = ToneGenerator::new(1000.0, 10_000);
        assert_eq!(all, whole.frame(320));
        assert!(all.iter().all(|s| s.abs() <= 10_000));
        // 1000 Hz at 8000 Hz: period of 8 samples.
        assert_eq!(all[2], 10_000);
        assert_eq!(all[6], -10_000);
        assert_eq!(all[0], all[8]);
    }

    #[test]
    fn goertzel_finds_the_tone() {
        let samples = ToneGenerator::new(440.0, 8000).frame(8000);
        let at_440 = goertzel(&samples, 440.0);
        let at_1000 = goertzel(&samples, 1000.0);
        assert!(
            (at_440 - 4000.0 * 4000.0).abs() < 0.01 * 4000.0 * 4000.0,
            "{at_440}"
        );
        assert!(at_440 > 1000.0 * at_1000, "{at_440} vs {at_1000}");
        assert_eq!(
            dominant_frequency(&samples, &[350.0, 440.0, 1000.0]),
            Some(440.0)
        );
        assert_eq!(goertzel(&[], 440.0), 0.0);
        assert_eq!(dominant_frequency(&samples, &[]), None);
    }
}
