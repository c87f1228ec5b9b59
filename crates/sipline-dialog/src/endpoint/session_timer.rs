//! Session timers (RFC 4028): Session-Expires and Min-SE in INVITE,
//! UPDATE and their 2xx, the refresher's re-INVITE or UPDATE at half the
//! session interval, and the BYE of the other side when no refresh came.
//!
//! Only when [`Config::session_expires`](crate::Config::session_expires)
//! is set; otherwise the endpoint behaves as a UA without the extension
//! (no "timer" in Supported, Session-Expires in requests ignored).

use super::{prack::has_tag, Body, CallState, EndReason, Endpoint, Handle, Method, Timer};
use sipline_message::builder::response_to;
use sipline_message::header::{ParamValue, StdHeader};
use sipline_message::{Message, Request, Response, StatusCode};
use sipline_transaction::TransactionId;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The option tag (RFC 4028 §12.3).
pub(super) const TAG_TIMER: &str = "timer";

/// The absolute minimum session interval (RFC 4028 §4, §5).
const ABSOLUTE_MIN_SE: u32 = 90;

/// The session timer state of one call.
#[derive(Debug, Default)]
pub(super) struct SessionState {
    /// The negotiated timer, if any.
    active: Option<Active>,
    /// The largest Min-SE seen on this dialog: from 422 responses and
    /// requests of the peer (§7.4); 0 until one was seen.
    min_se: u32,
    /// Our re-INVITE or UPDATE in flight is a session refresh (not asked
    /// by the application, which is not told of its result).
    pub(super) refreshing: bool,
    /// The peer allows UPDATE (its Allow), so refreshes use it (§7.4).
    peer_update: bool,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    /// The session interval in seconds.
    interval: u32,
    /// We perform the refreshes.
    we_refresh: bool,
    /// When the session expires (last 2xx to a refresh plus the interval).
    expires_at: Instant,
    /// When the timer fires next and what it does then.
    due: Instant,
    refresh_due: bool,
}

impl SessionState {
    /// The negotiated session interval and whether we refresh (for tests
    /// and the application).
    pub(super) fn get(&self) -> Option<(u32, bool)> {
        self.active.map(|a| (a.interval, a.we_refresh))
    }
}

/// Session-Expires value and its refresher parameter.
fn session_expires(m: &Message) -> Option<(u32, Option<String>)> {
    let v = m.headers().get(StdHeader::SessionExpires)?;
    let p = ParamValue::parse_delta(v).ok()?;
    let refresher = p
        .params
        .get_unquoted("refresher")
        .map(|r| r.to_ascii_lowercase());
    Some((p.as_u32()?, refresher))
}

fn min_se(m: &Message) -> Option<u32> {
    let v = m.headers().get(StdHeader::MinSe)?;
    ParamValue::parse_delta(v).ok()?.as_u32()
}

impl<A: Clone + Debug + Eq + Hash> Endpoint<A> {
    fn timers_on(&self) -> bool {
        self.config.session_expires.is_some()
    }

    /// Our smallest acceptable session interval (never below 90 s, §5).
    pub(super) fn own_min_se(&self) -> u32 {
        self.config.min_se.max(ABSOLUTE_MIN_SE)
    }

    /// The interval we ask for (never below our Min-SE).
    fn own_se(&self) -> u32 {
        self.config
            .session_expires
            .unwrap_or(1800)
            .max(self.own_min_se())
    }

    /// Session-Expires and Min-SE for an INVITE or UPDATE we send (§7.1,
    /// §7.4); none when timers are off. `call` is `None` for an initial
    /// INVITE, whose Min-SE is `min_se` (raised by 422 responses).
    pub(super) fn session_request_headers(
        &self,
        call: Option<Handle>,
        min_se: u32,
    ) -> Vec<(StdHeader, String)> {
        if !self.timers_on() {
            return Vec::new();
        }
        let state = call.and_then(|h| self.calls.get(&h)).map(|c| &c.session);
        let min = min_se
            .max(state.map_or(0, |s| s.min_se))
            .max(self.own_min_se());
        let se = match state.and_then(|s| s.active) {
            // §7.4: the current interval (at least Min-SE), and the same
            // refresher as now.
            Some(a) => format!(
                "{};refresher={}",
                a.interval.max(min),
                if a.we_refresh { "uac" } else { "uas" }
            ),
            // §7.1: no refresher parameter, the UAS chooses.
            None => self.own_se().max(min).to_string(),
        };
        vec![
            (StdHeader::SessionExpires, se),
            (StdHeader::MinSe, min.to_string()),
        ]
    }

    /// §9: a request whose Session-Expires is below our minimum gets 422
    /// with our Min-SE. Returns false when it was answered so.
    pub(super) fn session_check_request(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: &Request,
    ) -> bool {
        if !self.timers_on() {
            return true;
        }
        let m = Message::Request(req.clone());
        let Some((se, _)) = session_expires(&m) else {
            return true;
        };
        let min = self.own_min_se();
        if se >= min {
            return true;
        }
        let code = StatusCode::new(422).expect("valid");
        let mut r = response_to(req, code, Some(&self.token(6)));
        r.reason = "Session Interval Too Small".into();
        r.headers.push(StdHeader::MinSe, min.to_string());
        self.respond_tx(now, tx, r);
        false
    }

    /// The Session-Expires (and Require: timer) of our 2xx to an INVITE,
    /// re-INVITE or UPDATE (§9, Table 2), and the timer it starts: "the
    /// time of transmission of the last 2xx ... plus the session interval".
    pub(super) fn session_response_headers(
        &mut self,
        now: Instant,
        call: Handle,
        req: &Request,
    ) -> Vec<(StdHeader, String)> {
        if !self.timers_on() {
            return Vec::new();
        }
        let ours = self.own_se();
        let own_min = self.own_min_se();
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        let m = Message::Request(req.clone());
        c.session.peer_update |= has_tag(&m, StdHeader::Allow, "UPDATE");
        let supports = has_tag(&m, StdHeader::Supported, TAG_TIMER)
            || has_tag(&m, StdHeader::Require, TAG_TIMER);
        let req_min = min_se(&m);
        if let Some(v) = req_min {
            c.session.min_se = c.session.min_se.max(v);
        }
        let floor = req_min.unwrap_or(ABSOLUTE_MIN_SE).max(own_min);
        let (interval, uac_refreshes) = match session_expires(&m) {
            // Copied; we may lower it to ours but not below Min-SE (§9).
            Some((v, refresher)) => (
                v.min(ours.max(floor)),
                match refresher.as_deref() {
                    Some("uac") => true,
                    Some("uas") => false,
                    // Table 2: "uas or uac" when the UAC supports timers:
                    // the UAC refreshes; "uas" when it does not.
                    _ => supports,
                },
            ),
            // The UAS may ask for a timer itself (§9).
            None => (
                c.session.active.map_or(ours, |a| a.interval).max(floor),
                supports,
            ),
        };
        self.arm_session(now, call, interval, !uac_refreshes);
        let mut out = vec![(
            StdHeader::SessionExpires,
            format!(
                "{interval};refresher={}",
                if uac_refreshes { "uac" } else { "uas" }
            ),
        )];
        if supports {
            // §9: MUST with refresher=uac, SHOULD with uas when supported.
            out.push((StdHeader::Require, TAG_TIMER.into()));
        }
        out
    }

    /// A 2xx to our INVITE, re-INVITE or UPDATE (§7.2): the interval and
    /// the refresher it names; none named while we asked for one: we
    /// refresh with the interval we asked for.
    pub(super) fn session_on_2xx(
        &mut self,
        now: Instant,
        call: Handle,
        msg: &Message,
        sent: &Request,
    ) {
        if !self.timers_on() {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.session.peer_update |= has_tag(msg, StdHeader::Allow, "UPDATE");
        c.session.refreshing = false;
        let (interval, we_refresh) = match session_expires(msg) {
            Some((v, refresher)) => (v, refresher.as_deref() != Some("uas")),
            None => match session_expires(&Message::Request(sent.clone())) {
                Some((v, _)) => (v, true),
                None => return,
            },
        };
        self.arm_session(now, call, interval, we_refresh);
    }

    /// A 422 to our INVITE, re-INVITE or UPDATE (§7.3): remembers its
    /// Min-SE; returns it if it is larger than what we sent.
    pub(super) fn session_on_422(
        &mut self,
        call: Handle,
        r: &Response,
        sent: &Request,
    ) -> Option<u32> {
        if !self.timers_on() {
            return None;
        }
        let min = min_se(&Message::Response(r.clone()))?;
        let sent_min = min_se(&Message::Request(sent.clone())).unwrap_or(0);
        if let Some(c) = self.calls.get_mut(&call) {
            c.session.min_se = c.session.min_se.max(min);
        }
        (min > sent_min).then_some(min)
    }

    fn arm_session(&mut self, now: Instant, call: Handle, interval: u32, we_refresh: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let secs = Duration::from_secs(u64::from(interval));
        let expires_at = now + secs;
        let due = if we_refresh {
            // §7.2, §9: RECOMMENDED at half the interval.
            now + secs / 2
        } else {
            // §10: the BYE slightly before expiry: min(32 s, interval / 3).
            expires_at - Duration::from_secs(32).min(secs / 3)
        };
        c.session.active = Some(Active {
            interval,
            we_refresh,
            expires_at,
            due,
            refresh_due: we_refresh,
        });
        self.schedule(due, Timer::Session(call));
    }

    pub(super) fn on_session_timer(&mut self, now: Instant, at: Instant, call: Handle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(a) = c.session.active.as_mut() else {
            return;
        };
        if a.due != at || c.state != CallState::Established {
            return;
        }
        if !a.refresh_due {
            // §10: no refresh arrived (or ours got none) before expiry.
            self.bye_and_end(now, call, EndReason::SessionExpired);
            return;
        }
        a.refresh_due = false;
        a.due = a.expires_at;
        let expires_at = a.expires_at;
        self.schedule(expires_at, Timer::Session(call));
        self.send_session_refresh(now, call);
    }

    /// The refresher's re-INVITE or UPDATE (§7.4, §10): an UPDATE without
    /// an offer if the peer allows it, else a re-INVITE with our last
    /// session description unchanged. Skipped while another offer is in
    /// progress (its 2xx refreshes the session too).
    fn send_session_refresh(&mut self, now: Instant, call: Handle) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.offer_out != super::OfferOut::None || c.offer_in.is_some() {
            return;
        }
        let (method, body): (Method, Option<Body>) = if c.session.peer_update {
            (Method::Update, None)
        } else {
            (Method::Invite, c.local_sdp.clone())
        };
        if self.send_offer(now, call, method, body).is_ok() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.session.refreshing = true;
            }
        }
    }

    /// A refresh of ours failed with a non-2xx other than 408/481 (§10):
    /// 422 raises Min-SE and retries at once; 491 retries after `wait`;
    /// otherwise the session expires at its time.
    pub(super) fn session_refresh_failed(
        &mut self,
        now: Instant,
        call: Handle,
        r: &Response,
        sent: &Request,
        wait: Duration,
    ) {
        let status = r.status.as_u16();
        if status == 422 && self.session_on_422(call, r, sent).is_some() {
            self.send_session_refresh(now, call);
            return;
        }
        if status == 491 {
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            if let Some(a) = c.session.active.as_mut() {
                let at = (now + wait).min(a.expires_at);
                a.due = at;
                a.refresh_due = at < a.expires_at;
                self.schedule(at, Timer::Session(call));
            }
        }
    }
}
