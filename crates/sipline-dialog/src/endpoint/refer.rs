//! Call transfer: REFER (RFC 3515) with its implicit subscription to the
//! "refer" event, Referred-By (RFC 3892) and Replaces (RFC 3891).
//!
//! Transferor: [`Endpoint::transfer`] sends the REFER in the call's
//! dialog; the NOTIFYs of its implicit subscription (message/sipfrag
//! bodies) are answered 200 and reported as `CallEvent::TransferProgress`.
//!
//! Transferee: a REFER in a call's dialog is answered 202 and reported as
//! `CallEvent::Refer`; the endpoint sends the first NOTIFY ("100 Trying",
//! RFC 3515 §2.4.4: "always results in an immediate NOTIFY") and the
//! application reports the progress of its new call with
//! [`Endpoint::transfer_progress`].
//!
//! Transfer target: an INVITE with Replaces is matched to the dialog it
//! replaces (RFC 3891 §3); [`Endpoint::replaces`] names that call, and
//! answering the new call hangs the old one up.

use super::{CallEvent, CallState, Endpoint, Error, Handle, Owner, Role};
use crate::dialog::DialogId;
use sipline_message::builder::response_to;
use sipline_message::header::{NameAddr, ParamValue, StdHeader};
use sipline_message::uri::escape::unescape;
use sipline_message::{Message, Method, Request, StatusCode, Uri};
use sipline_transaction::TransactionId;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The duration the transferee gives the implicit subscription (RFC 3515
/// §2.4.4: chosen by the agent accepting the REFER).
const REFER_EXPIRES: Duration = Duration::from_secs(180);

/// Transferee: the implicit subscription of a REFER we accepted.
#[derive(Debug)]
pub(super) struct ReferIn {
    /// The Event value of our NOTIFYs: "refer;id=<REFER CSeq>" (§2.4.6).
    event: String,
    expires_at: Instant,
    /// The last status reported.
    last: u16,
}

/// The status code of a message/sipfrag body's status line (RFC 3515
/// §2.4.5).
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    parts
        .next()?
        .parse()
        .ok()
        .filter(|s| (100..700).contains(s))
}

/// Whether a NOTIFY is for the "refer" event package.
pub(super) fn is_refer_notify(m: &Message) -> bool {
    m.headers()
        .get(StdHeader::Event)
        .and_then(|v| ParamValue::parse_token(v).ok())
        .is_some_and(|p| p.value.eq_ignore_ascii_case("refer"))
}

impl<A: Clone + Debug + Eq + Hash> Endpoint<A> {
    // ----- transferor -----

    /// Asks the peer of a confirmed call to call `target` (RFC 3515): a
    /// REFER in the call's dialog with Refer-To and Referred-By (our
    /// identity, RFC 3892). With `replaces` (attended transfer, RFC 3891)
    /// the Refer-To carries `?Replaces=` naming that dialog as the target
    /// sees it (to-tag = its remote tag, from-tag = its local tag). The
    /// REFER's final response comes as `CallEvent::Response` for the
    /// returned handle, the progress of the new call as
    /// `CallEvent::TransferProgress`.
    pub fn transfer(
        &mut self,
        now: Instant,
        call: Handle,
        target: Uri,
        replaces: Option<&DialogId>,
    ) -> Result<Handle, Error> {
        let c = self.calls.get(&call).ok_or(Error::Unknown)?;
        if c.state != CallState::Established {
            return Err(Error::State("call not established"));
        }
        let refer_to = match (replaces, target) {
            (None, t) => t,
            (Some(d), Uri::Sip(s)) => Uri::Sip(s.with_header(
                "Replaces",
                &format!(
                    "{};to-tag={};from-tag={}",
                    d.call_id, d.remote_tag, d.local_tag
                ),
            )),
            (Some(_), _) => return Err(Error::State("Replaces needs a SIP URI")),
        };
        let next = c
            .dialog
            .as_ref()
            .ok_or(Error::State("no dialog"))?
            .next_hop();
        let hop = self
            .route(&next)
            .ok_or_else(|| Error::NoRoute(next.to_string()))?;
        let headers = vec![
            ("Refer-To".to_string(), format!("<{refer_to}>")),
            (
                "Referred-By".to_string(),
                format!("<{}>", self.config.identity.uri),
            ),
            ("Contact".to_string(), self.contact(&hop)),
        ];
        self.send_in_dialog(now, call, Method::Refer, None, headers)
    }

    /// A NOTIFY of the "refer" event in a call's dialog (RFC 3515 §2.4.4):
    /// 200, and its sipfrag status as `CallEvent::TransferProgress`.
    pub(super) fn on_refer_notify(
        &mut self,
        now: Instant,
        call: Handle,
        tx: TransactionId,
        req: Request,
    ) {
        let m = Message::Request(req.clone());
        self.simple_response(now, tx, &req, 200);
        let done = m
            .headers()
            .get(StdHeader::SubscriptionState)
            .and_then(|v| ParamValue::parse_token(v).ok())
            .is_some_and(|p| p.value.eq_ignore_ascii_case("terminated"));
        match sipfrag_status(&req.body) {
            Some(status) => self.emit_call(call, CallEvent::TransferProgress { status, done }),
            None => self.emit_call(call, CallEvent::Request { request: req }),
        }
    }

    // ----- transferee -----

    /// A REFER in a call's dialog (RFC 3515 §2.4.2): 400 unless exactly
    /// one Refer-To; else 202, `CallEvent::Refer`, and the first NOTIFY.
    pub(super) fn on_refer(&mut self, now: Instant, call: Handle, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let rows: Vec<_> = m.headers().get_all(StdHeader::ReferTo).collect();
        let parsed = match rows.as_slice() {
            [one] => NameAddr::parse(one).ok(),
            _ => None,
        };
        let Some(refer_to) = parsed else {
            self.simple_response(now, tx, &req, 400);
            return;
        };
        let mut target = refer_to.uri;
        let mut replaces = None;
        if let Uri::Sip(s) = &mut target {
            // Headers of the Refer-To URI (§2.1): Replaces is for the new
            // INVITE; the others are dropped.
            replaces = s
                .header("Replaces")
                .map(|v| unescape(v).map_or_else(|_| v.to_string(), |u| u.into_owned()));
            s.headers.clear();
        }
        let referred_by = m
            .headers()
            .get(StdHeader::ReferredBy)
            .map(|v| v.to_string());
        let seq = m.cseq().map_or(0, |c| c.seq);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let local_tag = c.dialog.as_ref().map(|d| d.id.local_tag.clone());
        c.refer_in = Some(ReferIn {
            event: format!("refer;id={seq}"),
            expires_at: now + REFER_EXPIRES,
            last: 0,
        });
        let mut r = response_to(
            &req,
            StatusCode::new(202).expect("valid"),
            local_tag.as_deref(),
        );
        if let Some(hop) = self.uas_hop(&m) {
            // RFC 3515 §2.2: Contact is mandatory in the 2xx.
            r.headers.push(StdHeader::Contact, self.contact(&hop));
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        self.respond_tx(now, tx, r);
        self.emit_call(
            call,
            CallEvent::Refer {
                target,
                replaces,
                referred_by,
            },
        );
        // §2.4.4: the subscription's immediate NOTIFY.
        let _ = self.send_refer_notify(now, call, 100);
    }

    /// Reports the progress of the call made for a REFER we accepted
    /// (`CallEvent::Refer`): a NOTIFY with a message/sipfrag body
    /// `SIP/2.0 <status> <reason>` (RFC 3515 §2.4.5), "active" for 1xx,
    /// "terminated;reason=noresource" for a final status, which ends the
    /// implicit subscription (§2.4.7). A repeated 1xx status is not sent
    /// again (the endpoint already sent "100 Trying" itself).
    pub fn transfer_progress(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
    ) -> Result<(), Error> {
        if !(100..700).contains(&status) {
            return Err(Error::Status(status));
        }
        let c = self.calls.get(&call).ok_or(Error::Unknown)?;
        let r = c
            .refer_in
            .as_ref()
            .ok_or(Error::State("no REFER to report on"))?;
        if r.last == status && status < 200 {
            return Ok(());
        }
        self.send_refer_notify(now, call, status)?;
        self.pump(now);
        Ok(())
    }

    fn send_refer_notify(&mut self, now: Instant, call: Handle, status: u16) -> Result<(), Error> {
        let code = StatusCode::new(status).ok_or(Error::Status(status))?;
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let r = c
            .refer_in
            .as_mut()
            .ok_or(Error::State("no REFER to report on"))?;
        let state = if status >= 200 {
            "terminated;reason=noresource".to_string()
        } else {
            let left = r.expires_at.saturating_duration_since(now).as_secs().max(1);
            format!("active;expires={left}")
        };
        let event = r.event.clone();
        r.last = status;
        if status >= 200 {
            c.refer_in = None;
        }
        let d = c.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let seq = d.next_seq();
        let next = d.next_hop();
        let body = format!("SIP/2.0 {status} {}\r\n", code.canonical_reason());
        let b = d
            .request(Method::Notify, seq)
            .header(StdHeader::Event, event)
            .header(StdHeader::SubscriptionState, state)
            .body("message/sipfrag;version=2.0", body);
        c.sync_early();
        let hop = self
            .route(&next)
            .ok_or_else(|| Error::NoRoute(next.to_string()))?;
        let b = b.header(StdHeader::Contact, self.contact(&hop));
        let req = self.common_headers(b).build();
        self.start_client(now, req, &hop, Owner::ReferNotify(call))
            .ok_or(Error::State("transaction refused"))?;
        Ok(())
    }

    // ----- transfer target -----

    /// RFC 3891 §3: the call an INVITE with Replaces replaces. `Ok(None)`
    /// without Replaces; `Err(status)` to refuse the INVITE: 400 (several
    /// Replaces or a bad one), 481 (no such dialog, or an early dialog we
    /// did not initiate), 486 (early-only and the dialog is confirmed),
    /// 603 (the dialog is ending).
    pub(super) fn match_replaces(&self, m: &Message) -> Result<Option<Handle>, u16> {
        let rows: Vec<_> = m.headers().get_all(StdHeader::Replaces).collect();
        let value = match rows.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => return Err(400),
        };
        let p = ParamValue::parse_callid(value).map_err(|_| 400u16)?;
        let to_tag = p.params.get_unquoted("to-tag").ok_or(400u16)?;
        let from_tag = p.params.get_unquoted("from-tag").ok_or(400u16)?;
        let early_only = p.params.contains("early-only");
        // "to-tag is compared to the local tag, from-tag to the remote tag".
        let key = (p.value.to_string(), to_tag.to_string());
        let h = *self.by_dialog.get(&key).ok_or(481u16)?;
        let c = self.calls.get(&h).ok_or(481u16)?;
        let confirmed = c.dialog.as_ref().is_some_and(|d| {
            c.state != CallState::Calling
                && c.state != CallState::Incoming
                && d.id.remote_tag == from_tag
        });
        match c.state {
            CallState::Ending if confirmed => Err(603),
            CallState::Established if confirmed => {
                if early_only {
                    Err(486)
                } else {
                    Ok(Some(h))
                }
            }
            // An early dialog matches only if we initiated it.
            CallState::Calling
                if c.role == Role::Uac && c.early.iter().any(|d| d.id.remote_tag == from_tag) =>
            {
                Ok(Some(h))
            }
            _ => Err(481),
        }
    }

    /// The call an incoming call replaces (its INVITE had a Replaces
    /// header matching that call's dialog, RFC 3891). Answering the new
    /// call ends the old one (BYE, or CANCEL if it was still ringing).
    pub fn replaces(&self, call: Handle) -> Option<Handle> {
        self.calls.get(&call)?.replaces
    }
}
