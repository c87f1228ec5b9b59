//! The offer/answer model (RFC 3264).
//!
//! [`offer`] builds an initial offer from our [`Capabilities`], [`answer`]
//! answers a peer's offer, [`hold`] and [`resume`] (or
//! [`LocalSession::hold_offer`] / [`LocalSession::resume_offer`]) build
//! modified offers, and [`negotiated`] tells what an offer/answer exchange
//! agreed on. Every description we send goes through a [`LocalSession`],
//! which keeps the `o=` line and bumps its version only when the description
//! changed (RFC 3264 §8).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::attributes::{static_payload_type_for, Direction, Rtpmap};
use crate::model::{
    Attribute, Connection, MediaDescription, Origin, PayloadTable, SessionDescription,
};

/// A codec we support.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// Encoding name, compared ASCII case-insensitively.
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels; `None` means 1.
    pub channels: Option<u16>,
    /// Format parameters we send (`a=fmtp`) when the offer has none for
    /// this codec, and in our own offers.
    pub fmtp: Option<String>,
    /// Payload type to use in our offers. `None`: the static payload type of
    /// RFC 3551 if the codec has one, else the first free dynamic one
    /// (96-127). Answers always use the offer's payload types.
    pub payload_type: Option<u8>,
}

impl Codec {
    /// A codec with no channels, fmtp or preferred payload type.
    pub fn new(encoding: impl Into<String>, clock_rate: u32) -> Codec {
        Codec {
            encoding: encoding.into(),
            clock_rate,
            channels: None,
            fmtp: None,
            payload_type: None,
        }
    }

    /// Sets the channel count.
    pub fn with_channels(mut self, channels: u16) -> Codec {
        self.channels = Some(channels);
        self
    }

    /// Sets the fmtp parameters.
    pub fn with_fmtp(mut self, fmtp: impl Into<String>) -> Codec {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// Sets the payload type used in offers.
    pub fn with_payload_type(mut self, payload_type: u8) -> Codec {
        self.payload_type = Some(payload_type);
        self
    }

    /// G.711 µ-law, `PCMU/8000` (static payload type 0).
    pub fn pcmu() -> Codec {
        Codec::new("PCMU", 8000)
    }

    /// G.711 A-law, `PCMA/8000` (static payload type 8).
    pub fn pcma() -> Codec {
        Codec::new("PCMA", 8000)
    }

    /// G.722, `G722/8000` (static payload type 9; RFC 3551 §4.5.2).
    pub fn g722() -> Codec {
        Codec::new("G722", 8000)
    }

    /// RFC 4733 DTMF events, `telephone-event/8000` with fmtp `0-16`.
    pub fn telephone_event() -> Codec {
        Codec::new("telephone-event", 8000).with_fmtp("0-16")
    }

    /// Whether an rtpmap names this codec (encoding, clock rate, channels).
    pub fn matches(&self, rtpmap: &Rtpmap) -> bool {
        self.encoding.eq_ignore_ascii_case(&rtpmap.encoding)
            && self.clock_rate == rtpmap.clock_rate
            && self.channels.unwrap_or(1) == rtpmap.channels.unwrap_or(1)
    }

    fn rtpmap(&self, payload_type: u8) -> Rtpmap {
        Rtpmap {
            payload_type,
            encoding: self.encoding.clone(),
            clock_rate: self.clock_rate,
            channels: self.channels,
        }
    }
}

/// What we support for one media type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaCapability {
    /// Media type: `audio`, `video`, ...
    pub media: String,
    /// Our port for the first stream of this type; further streams of the
    /// same type in one offer get `port + 2`, `port + 4`, ... (RTP/RTCP pairs).
    pub port: u16,
    /// Accepted transport protocols (ASCII case-insensitive); the first one
    /// is used in offers.
    pub protocols: Vec<String>,
    /// Supported codecs in order of preference. For non-RTP protocols the
    /// encoding names are matched against the offered formats.
    pub codecs: Vec<Codec>,
    /// `a=ptime` we ask for, if any.
    pub ptime: Option<u32>,
}

impl MediaCapability {
    /// A capability with protocol `RTP/AVP` and no ptime.
    pub fn new(media: impl Into<String>, port: u16, codecs: Vec<Codec>) -> MediaCapability {
        MediaCapability {
            media: media.into(),
            port,
            protocols: vec!["RTP/AVP".to_owned()],
            codecs,
            ptime: None,
        }
    }

    /// `audio` over `RTP/AVP`.
    pub fn audio(port: u16, codecs: Vec<Codec>) -> MediaCapability {
        MediaCapability::new("audio", port, codecs)
    }

    /// `video` over `RTP/AVP`.
    pub fn video(port: u16, codecs: Vec<Codec>) -> MediaCapability {
        MediaCapability::new("video", port, codecs)
    }

    /// Replaces the accepted protocols.
    pub fn with_protocols<S: Into<String>>(
        mut self,
        protocols: impl IntoIterator<Item = S>,
    ) -> MediaCapability {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the ptime.
    pub fn with_ptime(mut self, ptime: u32) -> MediaCapability {
        self.ptime = Some(ptime);
        self
    }

    fn accepts_protocol(&self, protocol: &str) -> bool {
        self.protocols
            .iter()
            .any(|p| p.eq_ignore_ascii_case(protocol))
    }
}

/// Our side of a negotiation: address, media and codecs, wanted direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// Where we receive media (`c=`), also used in `o=`.
    pub address: IpAddr,
    /// `s=` value; RFC 3264 §5 recommends `-`.
    pub session_name: String,
    /// Supported media types.
    pub media: Vec<MediaCapability>,
    /// The direction we want for our streams: `SendRecv` normally,
    /// `SendOnly` to put the peer on hold, ...
    pub direction: Direction,
}

impl Capabilities {
    /// Capabilities with no media, `s=-` and sendrecv.
    pub fn new(address: IpAddr) -> Capabilities {
        Capabilities {
            address,
            session_name: "-".to_owned(),
            media: Vec::new(),
            direction: Direction::SendRecv,
        }
    }

    /// Adds a media capability.
    pub fn with_media(mut self, media: MediaCapability) -> Capabilities {
        self.media.push(media);
        self
    }

    /// Sets the wanted direction.
    pub fn with_direction(mut self, direction: Direction) -> Capabilities {
        self.direction = direction;
        self
    }

    fn media_for(&self, media: &str) -> Option<&MediaCapability> {
        self.media
            .iter()
            .find(|m| m.media.eq_ignore_ascii_case(media))
    }
}

/// Our side of one SDP session: the `o=` line and the last description we
/// sent (the "previous SDP" of RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    username: String,
    session_id: u64,
    initial_version: u64,
    last_sent: Option<SessionDescription>,
}

impl LocalSession {
    /// A session that has sent nothing yet. RFC 3264 §5: the session id and
    /// version must fit a signed 64-bit integer, and the initial version
    /// must be below 2^62 - 1; a time-based or random id is usual.
    pub fn new(username: impl Into<String>, session_id: u64, initial_version: u64) -> LocalSession {
        LocalSession {
            username: username.into(),
            session_id,
            initial_version,
            last_sent: None,
        }
    }

    /// The last description stamped (sent).
    pub fn last_sent(&self) -> Option<&SessionDescription> {
        self.last_sent.as_ref()
    }

    /// Records `sdp` as the next description we send, and returns it with
    /// its `o=` line set (RFC 3264 §8): the first one gets our username,
    /// session id and initial version; later ones get the previous `o=`
    /// unchanged if the description is the same as the previous one, or with
    /// the version incremented by one if it differs.
    pub fn stamp(&mut self, mut sdp: SessionDescription) -> SessionDescription {
        match &self.last_sent {
            Some(prev) => {
                // "the o= line of the new SDP MUST be identical to that in the
                // previous SDP, except that the version ... MUST increment by
                // one" (RFC 3264 §8).
                sdp.origin = prev.origin.clone();
                if sdp != *prev {
                    sdp.origin.session_version = prev.origin.session_version.wrapping_add(1);
                }
            }
            None => {
                sdp.origin.username = self.username.clone();
                sdp.origin.session_id = self.session_id;
                sdp.origin.session_version = self.initial_version;
            }
        }
        self.last_sent = Some(sdp.clone());
        sdp
    }

    /// A re-offer putting the peer on hold (see [`hold`]), stamped. `None`
    /// if nothing was sent yet.
    pub fn hold_offer(&mut self) -> Option<SessionDescription> {
        let sdp = hold(self.last_sent.as_ref()?);
        Some(self.stamp(sdp))
    }

    /// A re-offer taking the peer off hold (see [`resume`]), stamped. `None`
    /// if nothing was sent yet.
    pub fn resume_offer(&mut self, wanted: Direction) -> Option<SessionDescription> {
        let sdp = resume(self.last_sent.as_ref()?, wanted);
        Some(self.stamp(sdp))
    }
}

fn base_description(caps: &Capabilities) -> SessionDescription {
    // o= is filled in by LocalSession::stamp.
    let mut sdp = SessionDescription::new(Origin::new("-", 0, 0, caps.address));
    sdp.session_name = caps.session_name.clone();
    sdp.connection = Some(Connection::new(caps.address));
    sdp
}

fn push_codec_attributes(m: &mut MediaDescription, rtpmap: &Rtpmap, fmtp: Option<&str>) {
    m.attributes
        .push(Attribute::new("rtpmap", rtpmap.to_string()));
    if let Some(f) = fmtp {
        m.attributes.push(Attribute::new(
            "fmtp",
            format!("{} {f}", rtpmap.payload_type),
        ));
    }
}

/// Builds an initial offer (RFC 3264 §5): one media description per
/// [`MediaCapability`], in order, with all its codecs, `c=` our address,
/// `t=0 0`, and the wanted direction on each stream. Payload types: the
/// codec's own, else its static one (RFC 3551), else the first free dynamic
/// one; codecs that find no free payload type are left out, and so are
/// media capabilities without any codec. The result is stamped by
/// `session`.
pub fn offer(caps: &Capabilities, session: &mut LocalSession) -> SessionDescription {
    let mut sdp = base_description(caps);
    for cap in &caps.media {
        let protocol = cap.protocols.first().map_or("RTP/AVP", String::as_str);
        let mut m = MediaDescription::new(cap.media.clone(), cap.port, protocol, Vec::new());
        if m.is_rtp() {
            // Fixed payload types first, so dynamic ones avoid them.
            let fixed: Vec<Option<u8>> = cap
                .codecs
                .iter()
                .map(|c| {
                    c.payload_type
                        .or_else(|| static_payload_type_for(&c.encoding, c.clock_rate, c.channels))
                })
                .collect();
            let mut used: Vec<u8> = fixed.iter().flatten().copied().collect();
            for (codec, pt) in cap.codecs.iter().zip(fixed) {
                let pt = match pt {
                    Some(pt) => pt,
                    None => {
                        let Some(pt) = (96..=127).find(|p| !used.contains(p)) else {
                            continue;
                        };
                        used.push(pt);
                        pt
                    }
                };
                if m.formats.contains(&pt.to_string()) {
                    continue;
                }
                m.formats.push(pt.to_string());
                push_codec_attributes(&mut m, &codec.rtpmap(pt), codec.fmtp.as_deref());
            }
        } else {
            m.formats = cap.codecs.iter().map(|c| c.encoding.clone()).collect();
        }
        if m.formats.is_empty() {
            continue;
        }
        if let Some(p) = cap.ptime {
            m.attributes.push(Attribute::new("ptime", p.to_string()));
        }
        m.set_direction(caps.direction);
        sdp.media.push(m);
    }
    session.stamp(sdp)
}

/// A rejected stream (RFC 3264 §6): port 0, same media type and protocol,
/// the offered formats (at least one must stay, as SDP requires).
fn rejected(offered: &MediaDescription) -> MediaDescription {
    let mut formats = offered.formats.clone();
    if formats.is_empty() {
        formats.push("0".to_owned());
    }
    MediaDescription::new(offered.media.clone(), 0, offered.protocol.clone(), formats)
}

/// Answers an offer (RFC 3264 §6, §6.1), stamped by `session`.
///
/// * One media description per offered one, same order and media type.
/// * A stream is rejected with port 0 when it was offered with port 0
///   (§8.2), when we have no capability for its media type or protocol, or
///   when no codec is in common (§6).
/// * Codecs are matched by encoding name (ASCII case-insensitive), clock
///   rate and channels; a payload type without `a=rtpmap` stands for its
///   static codec (RFC 3551, RFC 3264 §5.1). The answer lists the common
///   formats in the offer's order with the offer's payload type numbers,
///   an `a=rtpmap` for each, and `a=fmtp`: the offer's for that payload
///   type (e.g. telephone-event's event list) or else ours.
/// * Direction: the offer's (media, else session, else sendrecv) seen from
///   our side, limited by `caps.direction`: offered sendonly → recvonly,
///   recvonly → sendonly, inactive → inactive, sendrecv → our wanted
///   direction.
/// * `t=` is copied from the offer (§6); `c=` is our address; accepted
///   streams get our port for their media type.
///
/// If every stream ends up rejected the whole offer is in effect refused
/// (§6); [`negotiated`] tells so.
pub fn answer(
    offer: &SessionDescription,
    caps: &Capabilities,
    session: &mut LocalSession,
) -> SessionDescription {
    let mut sdp = base_description(caps);
    if !offer.times.is_empty() {
        sdp.times = offer.times.clone();
    }
    let mut streams_of_type: HashMap<String, u16> = HashMap::new();
    for offered in &offer.media {
        let m = answer_media(offer, offered, caps, &mut streams_of_type)
            .unwrap_or_else(|| rejected(offered));
        sdp.media.push(m);
    }
    session.stamp(sdp)
}

fn answer_media(
    offer: &SessionDescription,
    offered: &MediaDescription,
    caps: &Capabilities,
    streams_of_type: &mut HashMap<String, u16>,
) -> Option<MediaDescription> {
    // RFC 3264 §8.2: offered with port 0 → port 0 in the answer.
    if offered.port == 0 {
        return None;
    }
    let cap = caps.media_for(&offered.media)?;
    if !cap.accepts_protocol(&offered.protocol) {
        return None;
    }
    let mut m = MediaDescription::new(
        offered.media.clone(),
        0,
        offered.protocol.clone(),
        Vec::new(),
    );
    if offered.is_rtp() {
        // Payload types are 0-127: each is looked at once, in O(1).
        let table = offered.payload_table();
        let mut seen = [false; 128];
        for format in &offered.formats {
            let Some(pt) = PayloadTable::payload_type(format) else {
                continue;
            };
            if std::mem::replace(&mut seen[usize::from(pt)], true) {
                continue;
            }
            let Some(rtpmap) = table.codec(pt) else {
                continue;
            };
            let Some(codec) = cap.codecs.iter().find(|c| c.matches(rtpmap)) else {
                continue;
            };
            m.formats.push(format.clone());
            // RFC 3264 §6.1: the same payload type number, with an rtpmap
            // even for static payload types; fmtp parameters that describe
            // the format are echoed.
            let fmtp = table.fmtp(pt).or(codec.fmtp.as_deref());
            push_codec_attributes(&mut m, rtpmap, fmtp);
        }
    } else {
        let mut seen = HashSet::new();
        for format in &offered.formats {
            if cap
                .codecs
                .iter()
                .any(|c| c.encoding.eq_ignore_ascii_case(format))
                && seen.insert(format.as_str())
            {
                m.formats.push(format.clone());
            }
        }
    }
    // RFC 3264 §6: no media formats in common → reject with port 0.
    if m.formats.is_empty() {
        return None;
    }
    let n = streams_of_type
        .entry(offered.media.to_ascii_lowercase())
        .or_insert(0);
    m.port = n.checked_mul(2).and_then(|k| cap.port.checked_add(k))?;
    *n += 1;
    if let Some(p) = cap.ptime {
        m.attributes.push(Attribute::new("ptime", p.to_string()));
    }
    // RFC 3264 §6.1 direction rules.
    let offered_dir = offer.media_direction(offered);
    m.set_direction(offered_dir.reverse().intersect(caps.direction));
    Some(m)
}

/// A copy of `previous` (the last description we sent) putting the peer on
/// hold (RFC 3264 §8.4): each stream not rejected becomes sendonly if it
/// was sendrecv, inactive if it was recvonly (streams already sendonly or
/// inactive stay so). Session-level direction attributes are replaced by
/// media-level ones. Stamp the result with [`LocalSession::stamp`].
pub fn hold(previous: &SessionDescription) -> SessionDescription {
    set_directions(previous, |d| d.intersect(Direction::SendOnly))
}

/// A copy of `previous` setting every stream that is not rejected to
/// `wanted` (typically sendrecv), e.g. to take the peer off hold. The
/// peer's answer tells whether it still holds us.
pub fn resume(previous: &SessionDescription, wanted: Direction) -> SessionDescription {
    set_directions(previous, |_| wanted)
}

fn set_directions(
    previous: &SessionDescription,
    f: impl Fn(Direction) -> Direction,
) -> SessionDescription {
    let mut sdp = previous.clone();
    sdp.attributes.retain(|a| a.direction().is_none());
    for (m, old) in sdp.media.iter_mut().zip(&previous.media) {
        if m.port != 0 {
            m.set_direction(f(previous.media_direction(old)));
        }
    }
    sdp
}

/// What an offer/answer exchange agreed on for one stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NegotiatedStream {
    /// Media type.
    pub media: String,
    /// The agreed format: the first one in the answer that the offer also
    /// lists (RFC 3264 §7).
    pub format: String,
    /// The codec of `format` (from the answer's rtpmap, else the offer's,
    /// else the static assignment), for RTP media.
    pub codec: Option<Rtpmap>,
    /// All formats in common, in the answer's order.
    pub formats: Vec<String>,
    /// The payload type of telephone-event (RFC 4733), if in common.
    pub telephone_event: Option<u8>,
    /// The answerer's effective direction for the stream.
    pub direction: Direction,
}

/// The agreed codec and direction per offered stream, in order; `None` for
/// a stream that is rejected (port 0 in the offer or the answer, missing
/// from the answer, or without a common format). All `None` means the
/// session was refused.
pub fn negotiated(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Vec<Option<NegotiatedStream>> {
    offer
        .media
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let a = answer.media.get(i)?;
            if o.port == 0 || a.port == 0 {
                return None;
            }
            let offered: HashSet<&str> = o.formats.iter().map(String::as_str).collect();
            let formats: Vec<String> = a
                .formats
                .iter()
                .filter(|f| offered.contains(f.as_str()))
                .cloned()
                .collect();
            let format = formats.first()?.clone();
            let rtp = a.is_rtp() && o.is_rtp();
            let (at, ot) = (a.payload_table(), o.payload_table());
            let codec_of = |f: &str| {
                let pt = PayloadTable::payload_type(f).filter(|_| rtp)?;
                at.codec(pt).or_else(|| ot.codec(pt)).cloned()
            };
            let telephone_event = formats
                .iter()
                .filter_map(|f| PayloadTable::payload_type(f).filter(|_| rtp))
                .find(|&pt| {
                    at.codec(pt)
                        .or_else(|| ot.codec(pt))
                        .is_some_and(|c| c.encoding.eq_ignore_ascii_case("telephone-event"))
                });
            Some(NegotiatedStream {
                media: a.media.clone(),
                codec: codec_of(&format),
                format,
                formats,
                telephone_event,
                direction: answer.media_direction(a),
            })
        })
        .collect()
}
