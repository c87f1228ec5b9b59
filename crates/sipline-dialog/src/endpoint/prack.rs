//! Reliable provisional responses and PRACK (RFC 3262), both sides.
//!
//! UAS: a reliable 1xx carries `Require: 100rel` and an `RSeq`; it is
//! passed again to the INVITE server transaction at T1, 2·T1, 4·T1 ...
//! (no T2 cap, §3) until the matching PRACK arrives, and the INVITE is
//! rejected with 504 after 64·T1 without one. Only one reliable 1xx is
//! unacknowledged at a time; later ones wait in a queue.
//!
//! UAC: each reliable 1xx with the next expected RSeq of its early dialog
//! is acknowledged with a PRACK in that dialog; retransmissions and
//! out-of-order ones are dropped (§4).

use super::{copy_auth, Body, CallEvent, CallState, Endpoint, Error, Handle, Owner, Role, Timer};
use sipline_message::header::{RAck, StdHeader};
use sipline_message::{Message, Method, Request, Response};
use sipline_transaction::TransactionId;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The option tag (RFC 3262 §8.1).
pub(super) const TAG_100REL: &str = "100rel";

/// UAS state of the reliable provisional responses of one INVITE.
#[derive(Debug, Default)]
pub(super) struct ReliableOut {
    /// The RSeq of the next reliable 1xx (0: none sent yet).
    next_rseq: u32,
    /// The reliable 1xx waiting for its PRACK.
    unacked: Option<Unacked>,
    /// Reliable 1xx the application asked for while one was unacknowledged
    /// (§3: not before the previous one is acknowledged).
    queue: VecDeque<(u16, Option<Body>)>,
}

#[derive(Debug)]
struct Unacked {
    rseq: u32,
    response: Response,
    /// It carried a session description (the 2xx must wait for its PRACK).
    has_body: bool,
    interval: Duration,
    /// The next retransmission; `None` once a final response went out
    /// (§3: no more retransmissions, but a PRACK is still answered).
    next: Option<Instant>,
    give_up: Instant,
}

impl ReliableOut {
    /// A reliable 1xx with a session description is still being
    /// retransmitted: a 2xx must wait (§3, §5).
    fn blocks_2xx(&self) -> bool {
        self.unacked
            .as_ref()
            .is_some_and(|u| u.has_body && u.next.is_some())
    }

    /// An unacknowledged reliable 1xx carries a session description.
    pub(super) fn unacked_has_body(&self) -> bool {
        self.unacked.as_ref().is_some_and(|u| u.has_body)
    }

    /// The 2xx must wait: a reliable 1xx is queued, or one with a session
    /// description is unacknowledged.
    pub(super) fn delays_2xx(&self) -> bool {
        self.blocks_2xx() || !self.queue.is_empty()
    }

    /// A final response went out: stop retransmitting and forget the
    /// queue (§3: no new reliable 1xx after a final response).
    pub(super) fn finish(&mut self) {
        if let Some(u) = self.unacked.as_mut() {
            u.next = None;
        }
        self.queue.clear();
    }
}

/// Whether `m` lists `tag` in the header `h`.
pub(super) fn has_tag(m: &Message, h: StdHeader, tag: &str) -> bool {
    m.tokens(h).iter().any(|t| t.eq_ignore_ascii_case(tag))
}

impl<A: Clone + Debug + Eq + Hash> Endpoint<A> {
    /// Sends a provisional response (101-199) reliably (RFC 3262 §3):
    /// with `Require: 100rel` and an RSeq, retransmitted until the PRACK
    /// arrives; after 64·T1 without one the INVITE is rejected with 504 and
    /// the call ends with [`EndReason::Timeout`](crate::EndReason::Timeout).
    /// The INVITE must have listed 100rel in Supported or Require, and
    /// 100rel must be in [`Config::supported`](crate::Config::supported).
    /// A reliable 1xx asked for while the previous one is unacknowledged is
    /// queued and sent when the PRACK comes. `CallEvent::PrackReceived`
    /// tells of each PRACK.
    pub fn ring_reliably(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), Error> {
        if !(101..200).contains(&status) {
            return Err(Error::Status(status));
        }
        if !self
            .config
            .supported
            .iter()
            .any(|t| t.eq_ignore_ascii_case(TAG_100REL))
        {
            return Err(Error::State("100rel is not in Config::supported"));
        }
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        if c.role != Role::Uas || c.state != CallState::Incoming {
            return Err(Error::State("not an unanswered incoming call"));
        }
        if c.answer_pending.is_some() {
            return Err(Error::State("the call is being answered"));
        }
        let m = Message::Request(c.invite.clone());
        if !has_tag(&m, StdHeader::Supported, TAG_100REL)
            && !has_tag(&m, StdHeader::Require, TAG_100REL)
        {
            return Err(Error::State("the INVITE does not support 100rel"));
        }
        if c.invite_tx.is_none() {
            return Err(Error::State("INVITE transaction ended"));
        }
        if c.rel_out.unacked.is_some() {
            // §3: not before the previous one is acknowledged.
            c.rel_out.queue.push_back((status, body));
            return Ok(());
        }
        self.send_reliable(now, call, status, body)?;
        self.pump(now);
        Ok(())
    }

    fn send_reliable(
        &mut self,
        now: Instant,
        call: Handle,
        status: u16,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let has_body = body.is_some();
        if let (Some(c), Some(b)) = (self.calls.get_mut(&call), &body) {
            c.local_sdp = Some(b.clone());
        }
        let mut r = self
            .uas_response(call, status, body)
            .ok_or(Error::Unknown)?;
        let first = self.rng_rseq();
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let tx = c
            .invite_tx
            .ok_or(Error::State("INVITE transaction ended"))?;
        // §3: the first RSeq between 1 and 2^31 - 1, then one more each.
        let rseq = if c.rel_out.next_rseq == 0 {
            first
        } else {
            c.rel_out.next_rseq
        };
        c.rel_out.next_rseq = rseq + 1;
        r.headers.push(StdHeader::Require, TAG_100REL);
        r.headers.push(StdHeader::RSeq, rseq.to_string());
        if c.dialog.is_none() {
            c.dialog = crate::Dialog::uas(&c.invite, &c.local_tag, crate::DialogState::Early);
        }
        let t1 = self.config.timers.t1;
        c.rel_out.unacked = Some(Unacked {
            rseq,
            response: r.clone(),
            has_body,
            interval: t1,
            next: Some(now + t1),
            give_up: now + t1 * 64,
        });
        self.respond_tx(now, tx, r);
        self.schedule(now + t1, Timer::Reliable(call));
        Ok(())
    }

    fn rng_rseq(&mut self) -> u32 {
        use rand::RngExt as _;
        self.rng.random_range(1..(1u32 << 31))
    }

    /// Timer of a reliable 1xx: retransmit at T1, 2·T1, 4·T1 ... (§3) or
    /// give up after 64·T1 and reject the INVITE with 504.
    pub(super) fn on_reliable_timer(&mut self, now: Instant, at: Instant, call: Handle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(u) = c.rel_out.unacked.as_mut() else {
            return;
        };
        if u.next != Some(at) {
            return;
        }
        if now >= u.give_up {
            // §3: "the UAS SHOULD reject the original request with a 5xx".
            u.next = None;
            if c.state == CallState::Incoming {
                let _ = self.final_non_2xx(now, call, 504, &[]);
                self.end_call(call, crate::EndReason::Timeout);
            }
            return;
        }
        u.interval *= 2;
        let next = (now + u.interval).min(u.give_up);
        u.next = Some(next);
        let r = u.response.clone();
        if let Some(tx) = c.invite_tx {
            self.respond_tx(now, tx, r);
        }
        self.schedule(next, Timer::Reliable(call));
    }

    /// A PRACK in the dialog of `call` (§3): 200 if it matches the
    /// unacknowledged reliable 1xx, else 481.
    pub(super) fn on_prack(&mut self, now: Instant, call: Handle, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let rack = m
            .headers()
            .get(StdHeader::RAck)
            .and_then(|v| RAck::parse(v).ok());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let invite_seq = c.invite_seq();
        let matches = match (&rack, &c.rel_out.unacked) {
            (Some(r), Some(u)) => {
                r.rseq == u.rseq && r.cseq == invite_seq && r.method == Method::Invite
            }
            _ => false,
        };
        if !matches {
            // §3: no matching unacknowledged reliable 1xx.
            self.simple_response(now, tx, &req, 481);
            return;
        }
        let u = c.rel_out.unacked.take().expect("matched");
        let body = Body::of(&m);
        if u.has_body && (c.invite_had_offer() || body.is_some()) {
            // Our 1xx had the answer, or the offer answered in this PRACK:
            // the initial offer/answer is done (RFC 3262 §5).
            c.early_answered = true;
        }
        self.simple_response(now, tx, &req, 200);
        self.emit_call(call, CallEvent::PrackReceived { body });
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state != CallState::Incoming {
            return;
        }
        if let Some((status, body)) = c.rel_out.queue.pop_front() {
            let _ = self.send_reliable(now, call, status, body);
        }
        self.answer_if_unblocked(now, call);
    }

    /// Sends the 2xx `answer` deferred, once no reliable 1xx is queued and
    /// none with a session description is unacknowledged.
    fn answer_if_unblocked(&mut self, now: Instant, call: Handle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.rel_out.delays_2xx() {
            return;
        }
        if let Some(answer) = c.answer_pending.take() {
            let _ = self.answer_now(now, call, answer);
        }
    }

    /// UAC: a provisional response with `Require: 100rel` (§4). `None` if
    /// it must be dropped (a retransmission or out of order), else whether
    /// the application owes the PRACK (the 1xx carried an offer).
    pub(super) fn on_reliable_provisional(
        &mut self,
        now: Instant,
        call: Handle,
        msg: &Message,
    ) -> Option<bool> {
        let Some(rseq) = msg
            .headers()
            .get(StdHeader::RSeq)
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return Some(false); // no RSeq: treat it as unreliable
        };
        let Some(tag) = msg.to_tag().map(str::to_string) else {
            return Some(false); // no early dialog to PRACK in
        };
        let c = self.calls.get_mut(&call)?;
        match c.rseq_in.iter_mut().find(|(t, _)| *t == tag) {
            // §4: only the next in-order one is acknowledged and processed.
            Some((_, last)) if rseq != last.wrapping_add(1) => return None,
            Some((_, last)) => *last = rseq,
            None => c.rseq_in.push((tag.clone(), rseq)),
        }
        let cseq = msg.cseq().map_or(1, |c| c.seq);
        let rack = format!("{rseq} {cseq} INVITE");
        let has_body = !msg.body().is_empty();
        if has_body && !c.invite_had_offer() {
            // §5: the 1xx carried the offer; the PRACK must carry the answer.
            c.prack_owed = Some((tag, rack));
            return Some(true);
        }
        if has_body {
            c.early_answered = true;
        }
        self.send_prack(now, call, &tag, &rack, None);
        Some(false)
    }

    /// Sends the PRACK for a reliable 1xx that carried an offer (the INVITE
    /// had none), with the answer (RFC 3262 §5). `CallEvent::PrackNeeded`
    /// says when.
    pub fn prack(&mut self, now: Instant, call: Handle, body: Option<Body>) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::Unknown)?;
        let (tag, rack) = c.prack_owed.take().ok_or(Error::State("no PRACK owed"))?;
        if body.is_some() {
            c.early_answered = true;
            c.local_sdp = body.clone();
        }
        self.send_prack(now, call, &tag, &rack, body);
        self.pump(now);
        Ok(())
    }

    fn send_prack(
        &mut self,
        now: Instant,
        call: Handle,
        tag: &str,
        rack: &str,
        body: Option<Body>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(d) = c.early.iter_mut().find(|d| d.id.remote_tag == tag) else {
            return;
        };
        let seq = d.next_seq();
        let next = d.next_hop();
        let mut b = d
            .request(Method::Prack, seq)
            .header(StdHeader::RAck, rack.to_string());
        if let Some(body) = body {
            b = b.body(&body.content_type, body.data);
        }
        if c.dialog.as_ref().is_some_and(|x| x.id.remote_tag == tag) {
            c.dialog.as_mut().expect("checked").local_seq = d.local_seq;
        }
        let mut req = self.common_headers(b).build();
        let c = self.calls.get(&call).expect("checked");
        copy_auth(&c.invite, &mut req);
        if let Some(hop) = self.route(&next) {
            self.start_client(now, req, &hop, Owner::Prack(call));
        }
    }
}
