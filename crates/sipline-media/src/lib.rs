//! Minimal media for a SIP user agent: enough for a call to carry real
//! audio and DTMF end to end.
//!
//! * [`g711`]: G.711 µ-law and A-law ([`Codec::Pcmu`], payload type 0;
//!   [`Codec::Pcma`], payload type 8; RFC 3551 §4.5.14).
//! * [`rtp`]: the RTP packet ([`RtpPacket`], RFC 3550 §5.1) and receiver
//!   statistics ([`ReceiverStats`], RFC 3550 Appendix A.1, A.3, A.8).
//! * [`dtmf`]: telephone events (RFC 4733): payload, the packets for one
//!   digit, and a [`DtmfDetector`].
//! * [`wav`]: read and write 8 kHz mono WAV files.
//! * [`tone`]: a sine generator and the Goertzel filter.
//! * [`session`]: the async part: an [`RtpSession`] on a tokio UDP socket
//!   runs one call's media and hands back a [`MediaHandle`] (statistics,
//!   DTMF, hold, re-targeting, and a [`MediaReport`] with the recording at
//!   the end).
//!
//! Everything except [`session`] is plain synchronous code without I/O
//! (apart from [`wav::read`] and [`wav::write`]). No RTCP is sent or read.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dtmf;
pub mod g711;
pub mod rtp;
pub mod session;
pub mod tone;
pub mod wav;

pub use dtmf::{DtmfDetector, DtmfError, TelephoneEvent};
pub use g711::Codec;
pub use rtp::{ReceiverStats, RtpError, RtpPacket};
pub use session::{MediaConfig, MediaHandle, MediaReport, MediaStats, RtpSession, Source};
pub use wav::WavError;
