//! DTMF digits as RTP telephone events (RFC 4733 §2 and §3).
//!
//! * [`TelephoneEvent`] is the 4-octet payload of RFC 4733 §2.3.
//! * [`digit_packets`] lists the packets that report one digit, in the
//!   order and at the times RFC 4733 §2.5.1 asks for.
//! * [`DtmfDetector`] turns received event packets into digits, each digit
//!   once however many packets report it.

use std::collections::VecDeque;
use std::time::Duration;

/// The payload type used for `telephone-event` when nothing else was
/// negotiated; RFC 4733 §2.1 gives it no static number, and 101 is the
/// common choice in SDP offers.
pub const DEFAULT_PAYLOAD_TYPE: u8 = 101;
/// The largest duration one event report can carry (RFC 4733 §2.3.5).
pub const MAX_DURATION: u16 = 0xFFFF;

/// Why a telephone-event payload or a digit request is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is not a whole number of 4-octet events (RFC 4733 §2.3).
    #[error("telephone-event payload of {0} octets is not a whole number of 4-octet events")]
    BadPayloadLength(usize),
    /// The character is not one of `0-9 * # A-D` (RFC 4733 §3.2, Table 3).
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    UnknownDigit(char),
    /// Zero update interval, zero duration, or a duration too long for one
    /// report (RFC 4733 §2.5.1.3 segments are not generated here).
    #[error("DTMF timing is out of range: {0}")]
    BadTiming(&'static str),
}

/// One named event as carried in the payload (RFC 4733 §2.3, Figure 1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (RFC 4733 §2.3.1); 0-15 are the DTMF digits (§3.2).
    pub event: u8,
    /// The E bit: this report contains the end of the event (§2.3.2).
    pub end: bool,
    /// Power level in -dBm0, 0 to 63 (§2.3.4); larger is quieter.
    pub volume: u8,
    /// Duration so far, in timestamp units (§2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Length of one event on the wire.
    pub const LEN: usize = 4;

    /// Parses the first event of a payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(Self {
                event: *event,
                end: flags & 0x80 != 0,
                // §2.3.3: the receiver MUST ignore the R bit.
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::BadPayloadLength(payload.len())),
        }
    }

    /// Parses every event of a payload; several consecutive events may be
    /// packed into one packet (RFC 4733 §2.5.1.5).
    pub fn parse_all(payload: &[u8]) -> Result<Vec<Self>, DtmfError> {
        if payload.is_empty() || !payload.len().is_multiple_of(Self::LEN) {
            return Err(DtmfError::BadPayloadLength(payload.len()));
        }
        payload.chunks_exact(Self::LEN).map(Self::parse).collect()
    }

    /// The 4 octets of this event; the R bit is sent as zero (§2.3.3) and
    /// the volume is cut to its 6 bits.
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }
}

/// The event code of a DTMF digit (RFC 4733 §3.2, Table 3): `0`-`9` are
/// 0-9, `*` is 10, `#` is 11, `A`-`D` (either case) are 12-15.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The DTMF digit of an event code 0-15 (RFC 4733 §3.2, Table 3).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// How long a digit lasts and how its reports are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitTiming {
    /// How long the tone lasts. The default, 100 ms, is above the 70 ms
    /// RFC 4733 §3.1 recommends for a V.18 DTMF sender.
    pub duration: Duration,
    /// Time between reports; RFC 4733 §2.5.1.2 recommends 50 ms (the
    /// default) or the audio packet interval.
    pub interval: Duration,
    /// Power level in -dBm0 (§2.3.4); the default, 10, is a usual level.
    pub volume: u8,
    /// RTP clock rate of the event payload type (§2.1: 8000 by default).
    pub clock_rate: u32,
}

impl Default for DigitTiming {
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(100),
            interval: Duration::from_millis(50),
            volume: 10,
            clock_rate: 8000,
        }
    }
}

/// One report of a digit, to be sent as its own RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// Set on the first report only (RFC 4733 §2.2.2, §2.5.1.2).
    pub marker: bool,
    /// When to send this report, in timestamp units after the start of the
    /// event. Every report carries the RTP timestamp of the event's start
    /// (§2.2.1, §2.5.1.2); the sequence number still increases by one per
    /// packet (§2.5.1.6).
    pub send_offset: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

/// The reports for one digit: the first with the marker bit, an update
/// every `interval` with the cumulative duration (§2.5.1.2), and the final
/// report, with the E bit and the full duration, sent three times at the
/// same interval (§2.5.1.4).
pub fn digit_packets(digit: char, timing: &DigitTiming) -> Result<Vec<EventPacket>, DtmfError> {
    let event = digit_to_event(digit).ok_or(DtmfError::UnknownDigit(digit))?;
    let units = |d: Duration| d.as_nanos() * u128::from(timing.clock_rate) / 1_000_000_000;
    let interval = units(timing.interval);
    let total = units(timing.duration);
    if interval == 0 {
        return Err(DtmfError::BadTiming(
            "the update interval is shorter than one clock tick",
        ));
    }
    if total == 0 {
        // §2.3.5: zero duration is reserved for states; DTMF is not one.
        return Err(DtmfError::BadTiming(
            "the duration is shorter than one clock tick",
        ));
    }
    if total > u128::from(MAX_DURATION) {
        return Err(DtmfError::BadTiming(
            "the duration exceeds one report (0xFFFF clock ticks)",
        ));
    }
    if interval > u128::from(MAX_DURATION) {
        return Err(DtmfError::BadTiming(
            "the update interval exceeds 0xFFFF clock ticks",
        ));
    }
    // Both fit in 16 bits now, and no send offset exceeds
    // total + 3 * interval.
    let total = total as u32;
    let interval = interval as u32;
    let report = |marker: bool, step: u32, duration: u32, end: bool| EventPacket {
        marker,
        send_offset: step * interval,
        event: TelephoneEvent {
            event,
            end,
            volume: timing.volume & 0x3F,
            duration: duration as u16,
        },
    };
    let mut packets = Vec::new();
    let mut step = 0;
    // Each report covers the time up to the next one, so the first already
    // carries one interval: a zero duration is not allowed (§2.3.5).
    while (step + 1) * interval < total {
        packets.push(report(step == 0, step, (step + 1) * interval, false));
        step += 1;
    }
    for retransmission in 0..3 {
        let first = step == 0 && retransmission == 0;
        packets.push(report(first, step, total, true));
        step += 1;
    }
    Ok(packets)
}

/// One event the detector has seen.
#[derive(Debug, Clone, Copy)]
struct SeenEvent {
    start: u32,
    event: u8,
    duration: u16,
    ended: bool,
}

/// Turns received telephone-event payloads into digits, each digit once.
///
/// An event is identified by its start timestamp and code: all reports of
/// one event share the RTP timestamp (RFC 4733 §2.2.1), and two presses of
/// the same key have different timestamps. A digit is reported on the first
/// report that arrives, marker or not (§2.5.2.2 allows playing an event
/// whose first packets were lost). Later reports of it, including the
/// three final ones, are dropped. A report that continues a long event in
/// a new segment (§2.5.2.3: same code, starting where the previous segment
/// of 0xFFFF ended, no E bit seen) is not a new digit. Events 16-255 are not
/// DTMF and give no digit; zero-duration reports are ignored (§2.3.5).
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    recent: VecDeque<SeenEvent>,
}

impl DtmfDetector {
    /// How many recent events are remembered, so that late retransmissions
    /// of an event are still recognised after newer events.
    const MEMORY: usize = 16;

    /// A detector that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one packet's RTP timestamp and payload; returns the digits
    /// it starts (usually none or one).
    pub fn handle(&mut self, timestamp: u32, payload: &[u8]) -> Result<Vec<char>, DtmfError> {
        let mut digits = Vec::new();
        let mut start = timestamp;
        for event in TelephoneEvent::parse_all(payload)? {
            // §2.5.2.4: a packed event starts where the one before it ended.
            let this_start = start;
            start = start.wrapping_add(u32::from(event.duration));
            if event.duration == 0 {
                continue;
            }
            if let Some(seen) = self
                .recent
                .iter_mut()
                .find(|s| s.start == this_start && s.event == event.event)
            {
                seen.duration = seen.duration.max(event.duration);
                seen.ended |= event.end;
                continue;
            }
            let continues_segment = self.recent.iter().any(|s| {
                s.event == event.event
                    && !s.ended
                    && s.duration == MAX_DURATION
                    && s.start.wrapping_add(u32::from(MAX_DURATION)) == this_start
            });
            if self.recent.len() == Self::MEMORY {
                self.recent.pop_front();
            }
            self.recent.push_back(SeenEvent {
                start: this_start,
                event: event.event,
                duration: event.duration,
                ended: event.end,
            });
            if continues_segment {
                continue;
            }
            if let Some(digit) = event_to_digit(event.event) {
                digits.push(digit);
            }
        }
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_known_bytes() {
        let event = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(event.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
        // The R bit is ignored on receipt (§2.3.3).
        assert_eq!(TelephoneEvent::parse(&[11, 0xCA, 0x03, 0x20]), Ok(event));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::BadPayloadLength(3))
        );
        assert_eq!(
            TelephoneEvent::parse_all(&[1, 2, 3, 4, 5]),
            Err(DtmfError::BadPayloadLength(5))
        );
    }

    #[test]
    fn digit_codes() {
        let digits = "0123456789*#ABCD";
        for (code, digit) in digits.chars().enumerate() {
            assert_eq!(digit_to_event(digit), Some(code as u8));
            assert_eq!(event_to_digit(code as u8), Some(digit));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn packets_for_one_digit() {
        let timing = DigitTiming {
            duration: Duration::from_millis(200),
            ..DigitTiming::default()
        };
        let packets = digit_packets('5', &timing).unwrap();
        let summary: Vec<(bool, u32, u16, bool)> = packets
            .iter()
            .map(|p| (p.marker, p.send_offset, p.event.duration, p.event.end))
            .collect();
        // 50 ms = 400 units: updates at 0, 50, 100 ms with 400, 800, 1200;
        // then the end (1600) three times, 50 ms apart.
        assert_eq!(
            summary,
            [
                (true, 0, 400, false),
                (false, 400, 800, false),
                (false, 800, 1200, false),
                (false, 1200, 1600, true),
                (false, 1600, 1600, true),
                (false, 2000, 1600, true),
            ]
        );
        assert!(packets
            .iter()
            .all(|p| p.event.event == 5 && p.event.volume == 10));
    }

    #[test]
    fn short_digit_is_one_report_sent_three_times() {
        let timing = DigitTiming {
            duration: Duration::from_millis(20),
            ..DigitTiming::default()
        };
        let packets = digit_packets('#', &timing).unwrap();
        assert_eq!(packets.len(), 3);
        assert!(packets[0].marker && !packets[1].marker && !packets[2].marker);
        assert!(packets
            .iter()
            .all(|p| p.event.end && p.event.duration == 160));
        assert_eq!(packets[2].send_offset, 800);
    }

    #[test]
    fn bad_requests() {
        let timing = DigitTiming::default();
        assert_eq!(
            digit_packets('x', &timing),
            Err(DtmfError::UnknownDigit('x'))
        );
        let zero = DigitTiming {
            interval: Duration::ZERO,
            ..timing
        };
        assert!(matches!(
            digit_packets('1', &zero),
            Err(DtmfError::BadTiming(_))
        ));
        let long = DigitTiming {
            duration: Duration::from_secs(9),
            ..timing
        };
        assert!(matches!(
            digit_packets('1', &long),
            Err(DtmfError::BadTiming(_))
        ));
    }

    #[test]
    fn detector_reports_each_digit_once() {
        let mut detector = DtmfDetector::new();
        let mut digits = Vec::new();
        let mut timestamp = 1000u32;
        for digit in ['1', '1', '#'] {
            for packet in digit_packets(digit, &DigitTiming::default()).unwrap() {
                digits.extend(
                    detector
                        .handle(timestamp, &packet.event.to_bytes())
                        .unwrap(),
                );
            }
            timestamp += 2000;
        }
        assert_eq!(digits, ['1', '1', '#']);
        // A late retransmission of the first digit's end changes nothing.
        let late = TelephoneEvent {
            event: 1,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert!(detector.handle(1000, &late.to_bytes()).unwrap().is_empty());
    }

    #[test]
    fn detector_catches_digit_whose_first_packets_were_lost() {
        let mut detector = DtmfDetector::new();
        let end = TelephoneEvent {
            event: 12,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(detector.handle(50, &end.to_bytes()).unwrap(), ['A']);
        assert!(detector.handle(50, &end.to_bytes()).unwrap().is_empty());
    }

    #[test]
    fn detector_ignores_zero_duration_and_non_dtmf_and_segments() {
        let mut detector = DtmfDetector::new();
        let zero = TelephoneEvent {
            event: 3,
            end: false,
            volume: 0,
            duration: 0,
        };
        assert!(detector.handle(0, &zero.to_bytes()).unwrap().is_empty());
        let flash = TelephoneEvent {
            event: 16,
            end: true,
            volume: 0,
            duration: 100,
        };
        assert!(detector.handle(0, &flash.to_bytes()).unwrap().is_empty());
        // A long '9': one full segment, then its continuation (§2.5.1.3).
        let first = TelephoneEvent {
            event: 9,
            end: false,
            volume: 10,
            duration: MAX_DURATION,
        };
        assert_eq!(detector.handle(100, &first.to_bytes()).unwrap(), ['9']);
        let next = TelephoneEvent {
            duration: 400,
            end: true,
            ..first
        };
        let next_start = 100 + u32::from(MAX_DURATION);
        assert!(detector
            .handle(next_start, &next.to_bytes())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn detector_reads_packed_events() {
        let mut detector = DtmfDetector::new();
        let one = TelephoneEvent {
            event: 1,
            end: true,
            volume: 10,
            duration: 800,
        };
        let two = TelephoneEvent { event: 2, ..one };
        let mut payload = one.to_bytes().to_vec();
        payload.extend_from_slice(&two.to_bytes());
        assert_eq!(detector.handle(0, &payload).unwrap(), ['1', '2']);
        // '2' started at 800 (§2.5.2.4); its own report is a repeat.
        assert!(detector.handle(800, &two.to_bytes()).unwrap().is_empty());
    }
}
