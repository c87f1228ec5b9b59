//! A call's audio: SDP offer/answer (RFC 3264, `sipline-sdp`) joined to an
//! RTP session (`sipline-media`): G.711 PCMU/PCMA and RFC 4733 events.

use bytes::Bytes;
use sipline_dialog::Body;
use sipline_media::{Codec, MediaConfig, MediaHandle, MediaReport, MediaStats, RtpSession, Source};
use sipline_sdp::{
    answer, negotiated, offer, Capabilities, Codec as SdpCodec, Direction, LocalSession,
    MediaCapability, SessionDescription,
};
use std::net::{IpAddr, SocketAddr};

/// What a call sends and how.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// Our address for RTP (the `c=` line).
    pub address: IpAddr,
    /// Codecs offered or accepted, in order of preference.
    pub codecs: Vec<Codec>,
    /// What to send.
    pub source: Source,
    /// Keep what is received (for [`MediaReport::received_samples`]).
    pub record: bool,
    /// Offer and accept RFC 4733 telephone-event (payload type 101).
    pub dtmf: bool,
}

impl MediaOptions {
    /// PCMU then PCMA, silence, no recording, DTMF events.
    pub fn new(address: IpAddr) -> MediaOptions {
        MediaOptions {
            address,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            source: Source::Silence,
            record: false,
            dtmf: true,
        }
    }
}

/// Why media could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The body is not valid SDP.
    #[error("SDP: {0}")]
    Sdp(String),
    /// No audio stream in common (the offer is refused, RFC 3264 §6).
    #[error("no audio codec in common")]
    NoCommonCodec,
    /// An answer arrived before any offer was sent.
    #[error("answer without offer")]
    NoOffer,
    /// The RTP socket.
    #[error("RTP socket: {0}")]
    Io(#[from] std::io::Error),
}

/// The media of one call: our SDP session, the RTP socket, and once
/// negotiated, the running stream.
#[derive(Debug)]
pub struct CallMedia {
    options: MediaOptions,
    session: LocalSession,
    socket: Option<RtpSession>,
    port: u16,
    local_addr: SocketAddr,
    our_offer: Option<SessionDescription>,
    running: Option<MediaHandle>,
    remote: Option<(SocketAddr, Codec, Option<u8>, Direction)>,
    direction: Direction,
}

impl CallMedia {
    /// Binds an RTP socket on `options.address` (any free port).
    pub async fn bind(options: MediaOptions) -> Result<CallMedia, MediaError> {
        let socket = RtpSession::bind(SocketAddr::new(options.address, 0)).await?;
        let local_addr = socket.local_addr();
        let id = u64::from(rand::random::<u32>());
        Ok(CallMedia {
            options,
            session: LocalSession::new("sipline", id, id),
            port: local_addr.port(),
            local_addr,
            socket: Some(socket),
            our_offer: None,
            running: None,
            remote: None,
            direction: Direction::SendRecv,
        })
    }

    /// Our RTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn capabilities(&self) -> Capabilities {
        let mut codecs: Vec<SdpCodec> = self
            .options
            .codecs
            .iter()
            .map(|c| match c {
                Codec::Pcmu => SdpCodec::pcmu(),
                Codec::Pcma => SdpCodec::pcma(),
            })
            .collect();
        if self.options.dtmf {
            codecs.push(SdpCodec::telephone_event().with_payload_type(101));
        }
        Capabilities::new(self.options.address)
            .with_media(MediaCapability::audio(self.port, codecs).with_ptime(20))
            .with_direction(self.direction)
    }

    /// An offer (initial, or a re-offer with the current direction).
    pub fn offer(&mut self) -> Body {
        let caps = self.capabilities();
        let sdp = offer(&caps, &mut self.session);
        self.our_offer = Some(sdp.clone());
        Body::sdp(sdp.to_string())
    }

    /// A re-offer that puts the peer on hold (`a=sendonly`) or takes it
    /// off hold (RFC 3264 §8.4).
    pub fn hold_offer(&mut self, hold: bool) -> Body {
        self.direction = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        self.offer()
    }

    /// Answers the peer's offer; the stream's remote end is then known.
    pub fn answer(&mut self, remote_offer: &Body) -> Result<Body, MediaError> {
        let their = parse(remote_offer)?;
        let caps = self.capabilities();
        let ours = answer(&their, &caps, &mut self.session);
        self.learn(&their, &ours, &their, true)?;
        Ok(Body::sdp(ours.to_string()))
    }

    /// Takes the peer's answer to our last offer.
    pub fn accept_answer(&mut self, remote_answer: &Body) -> Result<(), MediaError> {
        let ours = self.our_offer.clone().ok_or(MediaError::NoOffer)?;
        let their = parse(remote_answer)?;
        self.learn(&ours, &their, &their, false)
    }

    /// Records what an offer/answer agreed: the remote address from the
    /// peer's description, codec and direction from the negotiation.
    fn learn(
        &mut self,
        offer_sdp: &SessionDescription,
        answer_sdp: &SessionDescription,
        peer: &SessionDescription,
        we_answered: bool,
    ) -> Result<(), MediaError> {
        let streams = negotiated(offer_sdp, answer_sdp);
        let (index, stream) = streams
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.as_ref().filter(|s| s.media == "audio").map(|s| (i, s)))
            .ok_or(MediaError::NoCommonCodec)?;
        let codec = stream
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find_map(Codec::from_payload_type)
            .or_else(|| {
                stream
                    .codec
                    .as_ref()
                    .and_then(|c| Codec::from_name(&c.encoding))
            })
            .ok_or(MediaError::NoCommonCodec)?;
        let m = &peer.media[index];
        let ip = m
            .connections
            .first()
            .and_then(|c| c.ip())
            .or_else(|| peer.connection.as_ref().and_then(|c| c.ip()))
            .ok_or_else(|| MediaError::Sdp("no c= address".into()))?;
        // Our direction: the answerer's as negotiated, seen from our side.
        let answerer_dir = stream.direction;
        let ours = if we_answered {
            answerer_dir
        } else {
            answerer_dir.reverse()
        };
        self.remote = Some((
            SocketAddr::new(ip, m.port),
            codec,
            stream.telephone_event,
            ours,
        ));
        Ok(())
    }

    /// Starts (or updates) the RTP stream to what was negotiated.
    pub fn start(&mut self) -> Result<(), MediaError> {
        let Some((remote, codec, dtmf_pt, dir)) = self.remote else {
            return Err(MediaError::NoOffer);
        };
        if let Some(h) = &self.running {
            h.set_remote(remote);
            h.set_direction(dir.sends(), dir.receives());
            return Ok(());
        }
        let Some(socket) = self.socket.take() else {
            return Ok(());
        };
        let mut cfg = MediaConfig::new(remote, codec);
        cfg.source = self.options.source.clone();
        cfg.record = self.options.record;
        if let Some(pt) = dtmf_pt {
            cfg.dtmf_payload_type = pt;
        }
        let h = socket.start(cfg);
        h.set_direction(dir.sends(), dir.receives());
        self.running = Some(h);
        Ok(())
    }

    /// The codec and remote address agreed, once known.
    pub fn remote(&self) -> Option<(SocketAddr, Codec)> {
        self.remote.map(|(a, c, _, _)| (a, c))
    }

    /// Statistics of the running stream.
    pub fn stats(&self) -> Option<MediaStats> {
        self.running.as_ref().map(|h| h.stats())
    }

    /// Sends a DTMF digit as an RFC 4733 event; false if it cannot be
    /// sent, also when the peer did not accept telephone-event: only the
    /// formats of the answer may be sent (RFC 3264 §5.1, §6.1).
    pub fn send_dtmf(&self, digit: char) -> bool {
        let negotiated = matches!(self.remote, Some((_, _, Some(_), _)));
        negotiated
            && self
                .running
                .as_ref()
                .is_some_and(|h| h.send_dtmf(digit).is_ok())
    }

    /// Stops the stream; what was received and the statistics.
    pub async fn stop(mut self) -> Option<MediaReport> {
        match self.running.take() {
            Some(h) => Some(h.stop().await),
            None => None,
        }
    }
}

fn parse(body: &Body) -> Result<SessionDescription, MediaError> {
    if !body.is_sdp() {
        return Err(MediaError::Sdp(format!(
            "body is {}, not application/sdp",
            body.content_type
        )));
    }
    let text = std::str::from_utf8(&body.data).map_err(|e| MediaError::Sdp(e.to_string()))?;
    SessionDescription::parse(text).map_err(|e| MediaError::Sdp(e.to_string()))
}

/// An SDP body from text.
pub fn sdp_body(text: impl Into<Bytes>) -> Body {
    Body::sdp(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answered_by(answer: &str) -> CallMedia {
        let mut m = CallMedia::bind(MediaOptions::new(IpAddr::from([127, 0, 0, 1])))
            .await
            .unwrap();
        let _ = m.offer();
        m.accept_answer(&sdp_body(answer.to_string())).unwrap();
        m.start().unwrap();
        m
    }

    /// DTMF events go out only if the answer accepted telephone-event
    /// (SIPp's UAS, for one, answers PCMU alone).
    #[tokio::test]
    async fn dtmf_only_when_the_answer_has_telephone_event() {
        let head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
        let pcmu_only = format!("{head}m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
        let m = answered_by(&pcmu_only).await;
        assert!(!m.send_dtmf('1'));
        let _ = m.stop().await;
        let with_events = format!(
            "{head}m=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        );
        let m = answered_by(&with_events).await;
        assert!(m.send_dtmf('1'));
        let _ = m.stop().await;
    }
}
