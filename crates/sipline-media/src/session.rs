//! One call's media: G.711 over RTP on a tokio UDP socket, with DTMF
//! events, hold, statistics and recording.
//!
//! ```no_run
//! # async fn call() -> std::io::Result<()> {
//! use sipline_media::{Codec, MediaConfig, RtpSession, Source};
//!
//! let session = RtpSession::bind("0.0.0.0:0".parse().unwrap()).await?;
//! let port = session.local_addr().port(); // goes into the SDP m= line
//! # let _ = port;
//! let remote = "192.0.2.7:30000".parse().unwrap(); // from the SDP answer
//! let media = session.start(MediaConfig {
//!     source: Source::Tone { freq_hz: 440.0, amplitude: 8000 },
//!     record: true,
//!     ..MediaConfig::new(remote, Codec::Pcmu)
//! });
//! media.send_dtmf('5').unwrap();
//! let report = media.stop().await;
//! sipline_media::wav::write("call.wav", &report.received_samples).unwrap();
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::dtmf::{self, DigitTiming, DtmfDetector, DtmfError, EventPacket};
use crate::g711::Codec;
use crate::rtp::{ReceiverStats, RtpPacket};
use crate::tone::ToneGenerator;

/// Shortest and longest packet interval accepted in [`MediaConfig::ptime`].
const PTIME_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(1000));
/// Pause between two DTMF digits: above the 40 ms minimum pause of ITU-T
/// Q.24 that RFC 4733 §3.1 quotes, and the 50 ms of a V.18 sender.
const DTMF_PAUSE: Duration = Duration::from_millis(60);
/// A received timestamp more than this far ahead of the recording's end
/// starts a new stretch instead of being padded with silence.
const MAX_RECORDING_GAP: i64 = 10 * 8000;
/// A received timestamp more than this far behind the recording's end is
/// taken as a new timestamp base rather than a late packet.
const MAX_RECORDING_LATE: i64 = 8000;
/// The send loop catches up on missed ticks in a burst (see
/// [`RtpSession::start`]) unless it fell further behind than this.
const MAX_BURST_LATENESS: Duration = Duration::from_millis(200);

/// What the session sends as audio.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Digital silence (still sent, so that the far end and any NAT see a
    /// live stream).
    Silence,
    /// A sine tone.
    Tone {
        /// Frequency in Hz.
        freq_hz: f64,
        /// Peak sample value.
        amplitude: i16,
    },
    /// Recorded samples at 8000 Hz (for example from [`crate::wav::read`]),
    /// played once. When they run out the session stops sending audio
    /// (RFC 3551 §4.1 allows silence to be not sent at all): it keeps
    /// receiving and can still send DTMF, and
    /// [`MediaStats::source_finished`] turns true.
    Samples(Arc<Vec<i16>>),
    /// Recorded samples played again and again.
    Loop(Arc<Vec<i16>>),
}

/// How to run a call's media. Build it with [`MediaConfig::new`] and change
/// fields with struct update syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    /// Where to send RTP, and the only address RTP is accepted from (the
    /// connection address and port of the far end's SDP).
    pub remote: SocketAddr,
    /// The negotiated audio codec; packets of other payload types are not
    /// decoded.
    pub codec: Codec,
    /// What to send.
    pub source: Source,
    /// Keep the received audio for [`MediaReport::received_samples`].
    pub record: bool,
    /// Packet interval (SDP `a=ptime`, RFC 4566 §6); default 20 ms, 160
    /// samples. Clamped to 1 ms ..= 1 s.
    pub ptime: Duration,
    /// The negotiated `telephone-event` payload type, used to send and to
    /// receive (RFC 4733 §2.1); default 101.
    pub dtmf_payload_type: u8,
    /// How long each sent DTMF digit lasts; default 100 ms.
    pub dtmf_duration: Duration,
}

impl MediaConfig {
    /// Silence, no recording, 20 ms packets, DTMF on payload type 101.
    pub fn new(remote: SocketAddr, codec: Codec) -> Self {
        Self {
            remote,
            codec,
            source: Source::Silence,
            record: false,
            ptime: Duration::from_millis(20),
            dtmf_payload_type: dtmf::DEFAULT_PAYLOAD_TYPE,
            dtmf_duration: DigitTiming::default().duration,
        }
    }
}

/// Counters of a running or finished session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets sent, audio and DTMF.
    pub packets_sent: u64,
    /// RTP packets accepted: from the remote address, of the codec's or the
    /// DTMF payload type, while receiving.
    pub packets_received: u64,
    /// Payload octets sent (the RTCP sender's octet count, RFC 3550 §6.4.1:
    /// headers and padding not included).
    pub bytes_sent: u64,
    /// Payload octets of the accepted packets.
    pub bytes_received: u64,
    /// Cumulative packets lost (RFC 3550 A.3), summed over every remote
    /// SSRC; negative when duplicates outnumber losses.
    pub lost: i64,
    /// Interarrival jitter of the current remote source, in timestamp
    /// units (RFC 3550 A.8); 8 units are 1 ms at 8000 Hz.
    pub jitter: u32,
    /// Duplicated packets seen (by sequence number).
    pub duplicates: u64,
    /// Datagrams that were not valid RTP (RFC 3550 §5.1 checks).
    pub packets_invalid: u64,
    /// Valid datagrams dropped: from another address, of another payload
    /// type (RFC 3550 §5.1: "MUST ignore packets with payload types that it
    /// does not understand"), or arriving while receiving is off.
    pub packets_ignored: u64,
    /// Our SSRC.
    pub local_ssrc: u32,
    /// The SSRC of the last accepted packet.
    pub remote_ssrc: Option<u32>,
    /// DTMF digits received, in order, each once.
    pub dtmf_received: Vec<char>,
    /// The [`Source::Samples`] have all been sent.
    pub source_finished: bool,
}

/// What [`MediaHandle::stop`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaReport {
    /// The final counters.
    pub stats: MediaStats,
    /// The received audio at 8000 Hz (empty unless [`MediaConfig::record`]).
    ///
    /// Each packet's samples are placed by its RTP timestamp, so gaps from
    /// lost packets, DTMF events and silence suppression are filled with
    /// zeros and late packets land where they belong. A jump of more than
    /// 10 s ahead or 1 s back (a new timestamp base) and a new remote SSRC
    /// continue at the end of the recording instead.
    pub received_samples: Vec<i16>,
}

/// A UDP socket for one RTP stream, not yet sending.
#[derive(Debug)]
pub struct RtpSession {
    socket: UdpSocket,
    local: SocketAddr,
}

impl RtpSession {
    /// Binds the RTP socket; port 0 picks a free port (read it back with
    /// [`local_addr`](Self::local_addr) to put it in SDP).
    pub async fn bind(local: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(local).await?;
        let local = socket.local_addr()?;
        Ok(Self { socket, local })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts sending and receiving on a new tokio task.
    ///
    /// Sending: one packet per `ptime`, from this same socket (symmetric
    /// RTP, RFC 4961), paced by a `tokio::time::interval` with
    /// [`MissedTickBehavior::Burst`]: RTP timestamps advance by one packet's
    /// samples per packet and must follow the sampling clock (RFC 3550
    /// §5.1), so after a short stall the packets are caught up at once and
    /// the stream keeps its nominal rate; with `Delay` every stall would
    /// leave the stream permanently behind real time. After a stall longer
    /// than 200 ms the missed packets are skipped instead (their time is
    /// added to the timestamp), so that the far end does not get seconds
    /// of audio in one burst. SSRC, first sequence number and first
    /// timestamp are random (RFC 3550 §5.1); the first packet, and the first
    /// after sending resumes, has the marker bit (RFC 3551 §4.1).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self, config: MediaConfig) -> MediaHandle {
        let ptime = config.ptime.clamp(PTIME_RANGE.0, PTIME_RANGE.1);
        let clock_rate = config.codec.clock_rate();
        let samples_per_packet =
            ((ptime.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as usize).max(1);
        let ssrc: u32 = rand::random();
        let shared = Arc::new(Mutex::new(Shared {
            stats: MediaStats {
                local_ssrc: ssrc,
                ..MediaStats::default()
            },
            remote: config.remote,
            send: true,
            receive: true,
            dtmf_queue: VecDeque::new(),
        }));
        let sender = Outbound {
            ssrc,
            sequence: rand::random(),
            timestamp: rand::random(),
            marker: true,
            codec: config.codec,
            samples_per_packet,
            source: SourceState::new(&config.source),
            dtmf_payload_type: config.dtmf_payload_type,
            dtmf_timing: DigitTiming {
                duration: config.dtmf_duration,
                // RFC 4733 §2.5.1.2: "A natural interval is the spacing
                // between non-event audio packets."
                interval: ptime,
                ..DigitTiming::default()
            },
            dtmf_pause_ticks: DTMF_PAUSE.as_nanos().div_ceil(ptime.as_nanos()) as u32,
            digit: VecDeque::new(),
            pause_ticks: 0,
        };
        let receiver = Inbound {
            codec: config.codec,
            dtmf_payload_type: config.dtmf_payload_type,
            record: config.record,
            clock_rate,
            stats: ReceiverStats::new(),
            lost_before: 0,
            duplicates_before: 0,
            detector: DtmfDetector::new(),
            recording: Vec::new(),
            base: None,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            self.socket,
            ptime,
            sender,
            receiver,
            Arc::clone(&shared),
            stop_rx,
        ));
        MediaHandle {
            shared,
            stop: stop_tx,
            task,
            local: self.local,
        }
    }
}

/// Controls a running session; dropping it stops the session too.
#[derive(Debug)]
pub struct MediaHandle {
    shared: Arc<Mutex<Shared>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<i16>>,
    local: SocketAddr,
}

impl MediaHandle {
    /// The local address of the RTP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The counters so far.
    pub fn stats(&self) -> MediaStats {
        lock(&self.shared).stats.clone()
    }

    /// Sends to, and accepts from, another address from now on (a re-INVITE
    /// may change the far end's SDP).
    pub fn set_remote(&self, remote: SocketAddr) {
        lock(&self.shared).remote = remote;
    }

    /// Turns sending and receiving on or off, as the SDP direction asks
    /// (RFC 3264 §5.1: `sendonly`, `recvonly`, `inactive` for hold). While
    /// sending is off, time and the source still run (RTP timestamps keep
    /// following the clock) but nothing is sent and DTMF digits wait; while
    /// receiving is off, packets are dropped and counted as ignored.
    pub fn set_direction(&self, send: bool, receive: bool) {
        let mut shared = lock(&self.shared);
        shared.send = send;
        shared.receive = receive;
    }

    /// Queues one DTMF digit (`0-9 * # A-D`), sent as RFC 4733 events in
    /// place of audio once the digits queued before it are done.
    pub fn send_dtmf(&self, digit: char) -> Result<(), DtmfError> {
        dtmf::digit_to_event(digit).ok_or(DtmfError::UnknownDigit(digit))?;
        lock(&self.shared).dtmf_queue.push_back(digit);
        Ok(())
    }

    /// Stops sending and receiving and returns the counters and the
    /// recording.
    pub async fn stop(self) -> MediaReport {
        let Self {
            shared, stop, task, ..
        } = self;
        // The task may already be gone; then there is nothing to stop.
        let _ = stop.send(());
        let received_samples = task.await.unwrap_or_default();
        let stats = lock(&shared).stats.clone();
        MediaReport {
            stats,
            received_samples,
        }
    }
}

/// State shared by the handle and the task.
#[derive(Debug)]
struct Shared {
    stats: MediaStats,
    remote: SocketAddr,
    send: bool,
    receive: bool,
    dtmf_queue: VecDeque<char>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The lock is never held across code that can panic, but a poisoned
    // lock still holds consistent counters.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where audio frames come from.
#[derive(Debug)]
enum SourceState {
    Silence,
    Tone(ToneGenerator),
    Samples {
        samples: Arc<Vec<i16>>,
        position: usize,
        looped: bool,
    },
}

impl SourceState {
    fn new(source: &Source) -> Self {
        match source {
            Source::Silence => Self::Silence,
            Source::Tone { freq_hz, amplitude } => {
                Self::Tone(ToneGenerator::new(*freq_hz, *amplitude))
            }
            Source::Samples(samples) => Self::Samples {
                samples: Arc::clone(samples),
                position: 0,
                looped: false,
            },
            Source::Loop(samples) => Self::Samples {
                samples: Arc::clone(samples),
                position: 0,
                looped: true,
            },
        }
    }

    /// The next frame of up to `len` samples; `None` once played-once
    /// samples have run out. The last frame may be short.
    fn next_frame(&mut self, len: usize) -> Option<Vec<i16>> {
        match self {
            Self::Silence => Some(vec![0; len]),
            Self::Tone(generator) => Some(generator.frame(len)),
            Self::Samples {
                samples,
                position,
                looped,
            } => {
                if samples.is_empty() {
                    return if *looped { Some(vec![0; len]) } else { None };
                }
                if *position >= samples.len() {
                    if !*looped {
                        return None;
                    }
                    *position = 0;
                }
                let mut frame = Vec::with_capacity(len);
                while frame.len() < len {
                    let end = (*position + len - frame.len()).min(samples.len());
                    frame.extend_from_slice(&samples[*position..end]);
                    *position = end;
                    if *position == samples.len() {
                        if !*looped {
                            break;
                        }
                        *position = 0;
                    }
                }
                Some(frame)
            }
        }
    }

    fn finished(&self) -> bool {
        matches!(self, Self::Samples { samples, position, looped: false } if *position >= samples.len())
    }
}

/// The sending half of the task.
#[derive(Debug)]
struct Outbound {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// The next audio packet gets the marker bit.
    marker: bool,
    codec: Codec,
    samples_per_packet: usize,
    source: SourceState,
    dtmf_payload_type: u8,
    dtmf_timing: DigitTiming,
    dtmf_pause_ticks: u32,
    /// Reports of the digit being sent, with its start timestamp.
    digit: VecDeque<(u32, EventPacket)>,
    /// Audio ticks still to go before the next digit may start.
    pause_ticks: u32,
}

impl Outbound {
    /// One packet interval: the packet to send now, if any. `sending` is
    /// false on hold; `next_digit` pops the queued digit to start.
    fn tick(
        &mut self,
        sending: bool,
        next_digit: impl FnOnce() -> Option<char>,
    ) -> Option<RtpPacket> {
        let frame = self.source.next_frame(self.samples_per_packet);
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_packet as u32);

        if self.digit.is_empty() && sending {
            if self.pause_ticks > 0 {
                self.pause_ticks -= 1;
            } else if let Some(digit) = next_digit() {
                // Checked when queued, so this cannot fail; a failure would
                // only skip the digit.
                if let Ok(reports) = dtmf::digit_packets(digit, &self.dtmf_timing) {
                    // RFC 4733 §2.5.1.2: events share the audio's timestamp
                    // base; every report carries the event's start.
                    self.digit = reports.into_iter().map(|r| (timestamp, r)).collect();
                }
            }
        }
        if let Some((start, report)) = self.digit.pop_front() {
            if self.digit.is_empty() {
                self.pause_ticks = self.dtmf_pause_ticks;
            }
            if !sending {
                return None;
            }
            return Some(self.packet(
                self.dtmf_payload_type,
                report.marker,
                start,
                Bytes::copy_from_slice(&report.event.to_bytes()),
            ));
        }
        if !sending {
            // RFC 3551 §4.1: the first packet after a silence gets the marker.
            self.marker = true;
            return None;
        }
        let frame = frame?;
        let marker = std::mem::take(&mut self.marker);
        Some(self.packet(
            self.codec.payload_type(),
            marker,
            timestamp,
            Bytes::from(self.codec.encode(&frame)),
        ))
    }

    fn packet(
        &mut self,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: Bytes,
    ) -> RtpPacket {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        RtpPacket {
            payload_type,
            marker,
            sequence,
            timestamp,
            ssrc: self.ssrc,
            csrc: Vec::new(),
            payload,
        }
    }

    /// Skips `packets` intervals after a long stall: their time passes.
    fn skip(&mut self, packets: u32) {
        for _ in 0..packets {
            let _ = self.source.next_frame(self.samples_per_packet);
            self.timestamp = self.timestamp.wrapping_add(self.samples_per_packet as u32);
        }
    }
}

/// What became of one received datagram.
#[derive(Debug, PartialEq, Eq)]
enum Received {
    Invalid,
    Ignored,
    Accepted {
        payload_len: usize,
        digits: Vec<char>,
    },
}

/// The receiving half of the task.
#[derive(Debug)]
struct Inbound {
    codec: Codec,
    dtmf_payload_type: u8,
    record: bool,
    clock_rate: u32,
    stats: ReceiverStats,
    lost_before: i64,
    duplicates_before: u64,
    detector: DtmfDetector,
    recording: Vec<i16>,
    /// The RTP timestamp of `recording[0]`; `None` until audio arrives from
    /// the current SSRC.
    base: Option<u32>,
}

impl Inbound {
    /// Handles one datagram from the remote address. `arrival` is the
    /// arrival time in clock units (any origin).
    fn handle(&mut self, data: Bytes, arrival: u32, remote_ssrc: &mut Option<u32>) -> Received {
        let Ok(packet) = RtpPacket::parse(&data) else {
            return Received::Invalid;
        };
        let is_audio = packet.payload_type == self.codec.payload_type();
        let is_dtmf = !is_audio && packet.payload_type == self.dtmf_payload_type;
        if !is_audio && !is_dtmf {
            return Received::Ignored;
        }
        if *remote_ssrc != Some(packet.ssrc) {
            // A new source (a restart, or another far end after a
            // re-INVITE): fresh statistics (RFC 3550 A.1), keeping the
            // losses counted so far.
            if remote_ssrc.is_some() {
                self.lost_before += i64::from(self.stats.cumulative_lost());
                self.duplicates_before += self.stats.duplicates();
            }
            *remote_ssrc = Some(packet.ssrc);
            self.stats = ReceiverStats::new();
            self.detector = DtmfDetector::new();
            self.base = None;
        }
        // The sequence space is shared by audio and events (RFC 4733
        // §2.5.1.6), so both count; the verdict only affects statistics.
        let _ = self.stats.update(packet.sequence);
        let mut digits = Vec::new();
        if is_audio {
            // Not for events: their timestamp is the event's start, repeated
            // for up to seconds, which would read as huge jitter.
            self.stats.update_jitter(packet.timestamp, arrival);
            if self.record {
                let samples = self.codec.decode(&packet.payload);
                self.place(packet.timestamp, &samples);
            }
        } else {
            match self.detector.handle(packet.timestamp, &packet.payload) {
                Ok(found) => digits = found,
                Err(_) => return Received::Invalid,
            }
        }
        Received::Accepted {
            payload_len: packet.payload.len(),
            digits,
        }
    }

    /// Writes samples into the recording at the place of their timestamp.
    fn place(&mut self, timestamp: u32, samples: &[i16]) {
        let len = self.recording.len();
        let base = *self
            .base
            .get_or_insert_with(|| timestamp.wrapping_sub(len as u32));
        let end = base.wrapping_add(len as u32);
        // Signed distance from the end of the recording, modulo 2^32.
        let mut ahead = i64::from(timestamp.wrapping_sub(end) as i32);
        if !(-MAX_RECORDING_LATE..=MAX_RECORDING_GAP).contains(&ahead) {
            self.base = Some(timestamp.wrapping_sub(len as u32));
            ahead = 0;
        }
        let Ok(index) = usize::try_from(len as i64 + ahead) else {
            // Earlier than the start of the recording.
            return;
        };
        let needed = index + samples.len();
        if needed > len {
            self.recording.resize(needed, 0);
        }
        self.recording[index..needed].copy_from_slice(samples);
    }

    fn arrival_units(&self, elapsed: Duration) -> u32 {
        (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32
    }
}

/// Compares addresses with IPv4-mapped IPv6 addresses taken as IPv4, as a
/// dual-stack socket reports them.
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip().to_canonical() == b.ip().to_canonical() && a.port() == b.port()
}

async fn run(
    socket: UdpSocket,
    ptime: Duration,
    mut sender: Outbound,
    mut receiver: Inbound,
    shared: Arc<Mutex<Shared>>,
    mut stop: oneshot::Receiver<()>,
) -> Vec<i16> {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(ptime);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut buffer = vec![0u8; 65_536];
    let mut remote_ssrc = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            scheduled = ticker.tick() => {
                let late = Instant::now().saturating_duration_since(scheduled);
                if late > MAX_BURST_LATENESS {
                    let missed = late.as_nanos() / ptime.as_nanos();
                    sender.skip(u32::try_from(missed).unwrap_or(u32::MAX));
                    ticker.reset();
                }
                let (sending, remote) = {
                    let guard = lock(&shared);
                    (guard.send, guard.remote)
                };
                let packet = sender.tick(sending, || lock(&shared).dtmf_queue.pop_front());
                let finished = sender.source.finished();
                let mut sent = None;
                if let Some(packet) = packet {
                    if let Ok(bytes) = packet.to_bytes() {
                        // A send error (no route, ICMP feedback) loses this
                        // packet only; the next tick tries again.
                        if socket.send_to(&bytes, remote).await.is_ok() {
                            sent = Some(packet.payload.len() as u64);
                        }
                    }
                }
                let mut guard = lock(&shared);
                guard.stats.source_finished = finished;
                if let Some(payload_len) = sent {
                    guard.stats.packets_sent += 1;
                    guard.stats.bytes_sent += payload_len;
                }
            }
            received = socket.recv_from(&mut buffer) => {
                // Errors such as ICMP port unreachable from an earlier send
                // are not fatal for a UDP socket.
                let Ok((len, from)) = received else { continue };
                let (receiving, remote) = {
                    let guard = lock(&shared);
                    (guard.receive, guard.remote)
                };
                let outcome = if !same_address(from, remote) || !receiving {
                    Received::Ignored
                } else {
                    let arrival = receiver.arrival_units(started.elapsed());
                    let data = Bytes::copy_from_slice(&buffer[..len]);
                    receiver.handle(data, arrival, &mut remote_ssrc)
                };
                let mut guard = lock(&shared);
                let stats = &mut guard.stats;
                match outcome {
                    Received::Invalid => stats.packets_invalid += 1,
                    Received::Ignored => stats.packets_ignored += 1,
                    Received::Accepted { payload_len, digits } => {
                        stats.packets_received += 1;
                        stats.bytes_received += payload_len as u64;
                        stats.remote_ssrc = remote_ssrc;
                        stats.lost = receiver.lost_before + i64::from(receiver.stats.cumulative_lost());
                        stats.duplicates = receiver.duplicates_before + receiver.stats.duplicates();
                        stats.jitter = receiver.stats.jitter();
                        stats.dtmf_received.extend(digits);
                    }
                }
            }
        }
    }
    receiver.recording
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(record: bool) -> Inbound {
        Inbound {
            codec: Codec::Pcmu,
            dtmf_payload_type: 101,
            record,
            clock_rate: 8000,
            stats: ReceiverStats::new(),
            lost_before: 0,
            duplicates_before: 0,
            detector: DtmfDetector::new(),
            recording: Vec::new(),
            base: None,
        }
    }

    fn audio(sequence: u16, timestamp: u32, samples: &[i16]) -> Bytes {
        RtpPacket {
            payload_type: 0,
            marker: false,
            sequence,
            timestamp,
            ssrc: 7,
            csrc: Vec::new(),
            payload: Bytes::from(Codec::Pcmu.encode(samples)),
        }
        .to_bytes()
        .unwrap()
    }

    fn sender(source: Source) -> Outbound {
        Outbound {
            ssrc: 1,
            sequence: 65_534,
            timestamp: u32::MAX - 100,
            marker: true,
            codec: Codec::Pcma,
            samples_per_packet: 160,
            source: SourceState::new(&source),
            dtmf_payload_type: 101,
            dtmf_timing: DigitTiming {
                interval: Duration::from_millis(20),
                ..DigitTiming::default()
            },
            dtmf_pause_ticks: 3,
            digit: VecDeque::new(),
            pause_ticks: 0,
        }
    }

    #[test]
    fn recording_places_packets_by_timestamp() {
        let mut rx = receiver(true);
        let mut ssrc = None;
        let one = [1000i16; 4];
        let two = [-1000i16; 4];
        let decoded_one = Codec::Pcmu.decode(&Codec::Pcmu.encode(&one));
        let decoded_two = Codec::Pcmu.decode(&Codec::Pcmu.encode(&two));
        rx.handle(audio(1, 100, &one), 0, &mut ssrc);
        // Packet 2 lost, packet 3 arrives: four samples of silence between.
        rx.handle(audio(3, 108, &one), 16, &mut ssrc);
        // Packet 2 arrives late and fills the gap.
        rx.handle(audio(2, 104, &two), 20, &mut ssrc);
        let expected: Vec<i16> = [&decoded_one[..], &decoded_two, &decoded_one].concat();
        assert_eq!(rx.recording, expected);
        // A jump far ahead continues at the end instead of padding 20 s.
        rx.handle(audio(4, 100 + 160_000, &two), 30, &mut ssrc);
        assert_eq!(rx.recording.len(), 16);
        assert_eq!(ssrc, Some(7));
    }

    #[test]
    fn receiver_sorts_packets() {
        let mut rx = receiver(false);
        let mut ssrc = None;
        assert_eq!(
            rx.handle(Bytes::from_static(b"not rtp"), 0, &mut ssrc),
            Received::Invalid
        );
        let other = RtpPacket {
            payload_type: 8,
            marker: false,
            sequence: 1,
            timestamp: 0,
            ssrc: 7,
            csrc: Vec::new(),
            payload: Bytes::from_static(&[0xD5; 160]),
        };
        assert_eq!(
            rx.handle(other.to_bytes().unwrap(), 0, &mut ssrc),
            Received::Ignored
        );
        assert_eq!(ssrc, None);
        let bad_dtmf = RtpPacket {
            payload_type: 101,
            payload: Bytes::from_static(&[1, 2, 3]),
            ..other
        };
        assert_eq!(
            rx.handle(bad_dtmf.to_bytes().unwrap(), 0, &mut ssrc),
            Received::Invalid
        );
        assert!(rx.recording.is_empty());
    }

    #[test]
    fn sender_sends_audio_then_dtmf_in_its_place() {
        let mut tx = sender(Source::Tone {
            freq_hz: 1000.0,
            amplitude: 1000,
        });
        let first = tx.tick(true, || None).unwrap();
        assert!(first.marker);
        assert_eq!(first.payload_type, 8);
        assert_eq!(first.payload.len(), 160);
        assert_eq!(first.timestamp, u32::MAX - 100);
        let second = tx.tick(true, || None).unwrap();
        assert!(!second.marker);
        assert_eq!(second.timestamp, (u32::MAX - 100).wrapping_add(160));
        assert_eq!(second.sequence, 65_535);

        let mut digit = Some('7');
        let mut events = Vec::new();
        for _ in 0..7 {
            let packet = tx.tick(true, || digit.take()).unwrap();
            assert_eq!(packet.payload_type, 101);
            events.push(packet);
        }
        let start = (u32::MAX - 100).wrapping_add(320);
        assert!(events.iter().all(|p| p.timestamp == start));
        assert!(events[0].marker && events[1..].iter().all(|p| !p.marker));
        let parsed: Vec<_> = events
            .iter()
            .map(|p| dtmf::TelephoneEvent::parse(&p.payload).unwrap())
            .collect();
        assert!(parsed.iter().all(|e| e.event == 7));
        let durations: Vec<u16> = parsed.iter().map(|e| e.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert_eq!(parsed.iter().filter(|e| e.end).count(), 3);
        // Audio resumes, its timestamp having run on meanwhile; the next
        // digit waits for the pause.
        let mut next = Some('8');
        let resumed = tx.tick(true, || next.take()).unwrap();
        assert_eq!(resumed.payload_type, 8);
        assert_eq!(resumed.timestamp, start.wrapping_add(7 * 160));
        assert_eq!(next, Some('8'));
    }

    #[test]
    fn hold_sends_nothing_and_marks_the_next_packet() {
        let mut tx = sender(Source::Silence);
        assert!(tx.tick(true, || None).is_some());
        assert!(tx.tick(false, || Some('1')).is_none());
        let after = tx.tick(true, || None).unwrap();
        assert!(after.marker);
        assert_eq!(after.timestamp, (u32::MAX - 100).wrapping_add(320));
    }

    #[test]
    fn samples_play_once_or_loop() {
        let samples = Arc::new((0..200).collect::<Vec<i16>>());
        let mut once = sender(Source::Samples(Arc::clone(&samples)));
        assert_eq!(once.tick(true, || None).unwrap().payload.len(), 160);
        assert_eq!(once.tick(true, || None).unwrap().payload.len(), 40);
        assert!(once.source.finished());
        assert!(once.tick(true, || None).is_none());
        let mut looped = SourceState::new(&Source::Loop(samples));
        assert_eq!(looped.next_frame(160).unwrap()[0], 0);
        let second = looped.next_frame(160).unwrap();
        assert_eq!(second[39], 199);
        assert_eq!(second[40], 0);
        assert!(!looped.finished());
        let mut empty = SourceState::new(&Source::Loop(Arc::new(Vec::new())));
        assert_eq!(empty.next_frame(4), Some(vec![0; 4]));
    }

    #[test]
    fn mapped_addresses_compare_equal() {
        let v4: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert!(same_address(v4, mapped));
        assert!(!same_address(v4, "127.0.0.1:4001".parse().unwrap()));
    }
}
