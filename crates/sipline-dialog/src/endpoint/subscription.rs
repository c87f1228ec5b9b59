//! SIP-specific event notification (RFC 6665): subscriptions as the
//! subscriber (SUBSCRIBE, refresh, unsubscribe; NOTIFYs answered 200) and
//! as the notifier (incoming SUBSCRIBE accepted or rejected by the
//! application, NOTIFYs, refreshes, expiry).
//!
//! Each subscription has its own dialog (no dialog reuse, RFC 6665 §4.5.2)
//! and only the first dialog a forked SUBSCRIBE creates is kept (§4.1.4:
//! NOTIFYs from other forks get 481).

use super::{Body, Endpoint, Error, Event, Handle, Owner, Timer, ALLOW};
use crate::dialog::{Dialog, DialogState};
use sipline_message::builder::response_to;
use sipline_message::header::{ParamValue, StdHeader};
use sipline_message::{Message, Method, Request, Response, StatusCode, Uri};
use sipline_transaction::TransactionId;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What happened to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// Subscriber: a 2xx to our SUBSCRIBE (the first or a refresh): the
    /// subscription lasts `expires` seconds; a refresh is scheduled before
    /// then (RFC 6665 §4.1.2.2).
    Accepted {
        /// The duration the notifier granted (Expires of the 2xx).
        expires: u32,
    },
    /// Subscriber: a NOTIFY (answered 200 by the endpoint, §4.1.3).
    Notify {
        /// The Subscription-State value: "active", "pending",
        /// "terminated" (or an extension value).
        state: String,
        /// Its reason parameter (with "terminated": "timeout",
        /// "noresource", "rejected" ...).
        reason: Option<String>,
        /// The body (e.g. a PIDF document, see [`crate::presence`]).
        body: Option<Body>,
    },
    /// Subscriber: the SUBSCRIBE was refused (a final non-2xx; 408 for no
    /// response, 503 for a transport error), or a refresh got a response
    /// that ends the subscription (§4.1.2.2); the handle is dead.
    Failed {
        /// The status.
        status: u16,
    },
    /// Notifier: the subscriber refreshed; the subscription now lasts
    /// `expires` seconds. The endpoint answered it and sent a NOTIFY with
    /// the last state and body given to [`Endpoint::notify`] (§4.2.1.2).
    Refreshed {
        /// The new duration.
        expires: u32,
    },
    /// Either side: the subscription is over (a NOTIFY with "terminated",
    /// an unsubscribe, an expiry, or Timer N); the handle is dead.
    Terminated {
        /// The reason of the terminating NOTIFY, if any.
        reason: Option<String>,
    },
}

/// The state a notifier reports in Subscription-State (RFC 6665 §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Accepted and authorized.
    Active,
    /// Received, not yet authorized.
    Pending,
    /// Over; the subscription ends with this NOTIFY.
    Terminated {
        /// The reason code (e.g. "noresource", "rejected", "timeout").
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Subscriber,
    Notifier,
}

/// The timers of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SubTimer {
    /// Timer N: 64·T1 after a SUBSCRIBE, waiting for a NOTIFY (§4.1.2.4).
    N,
    /// Subscriber: time to refresh.
    Refresh,
    /// The subscription expires.
    Expire,
}

#[derive(Debug)]
pub(super) struct Subscription {
    role: Role,
    /// The Event header value (package and parameters).
    event: String,
    call_id: String,
    local_tag: String,
    dialog: Option<Dialog>,
    /// Subscriber: the last SUBSCRIBE sent; notifier: the initial SUBSCRIBE.
    request: Request,
    /// Subscriber: the duration asked for; notifier: the one granted.
    expires: u32,
    /// Subscriber: the SUBSCRIBE in flight.
    tx: Option<TransactionId>,
    auth_tries: u32,
    /// Subscriber: a NOTIFY arrived (the subscription exists).
    notified: bool,
    /// Subscriber: a 2xx arrived.
    accepted: bool,
    /// Subscriber: unsubscribe asked; notifier: the final NOTIFY is out.
    ending: bool,
    /// Subscriber: the unsubscribe waits for the SUBSCRIBE in flight.
    unsubscribe_queued: bool,
    n_at: Option<Instant>,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
    /// Notifier: the initial SUBSCRIBE waiting for the application.
    incoming: Option<TransactionId>,
    /// Notifier: the last state and body notified (sent again on refresh).
    last: Option<(SubscriptionState, Option<Body>)>,
    /// Notifier: the NOTIFY with "terminated", and its reason.
    final_notify: Option<(TransactionId, Option<String>)>,
}

/// The event package and id of an Event value (§8.2.1: they must match).
fn event_key(v: &str) -> Option<(String, Option<String>)> {
    let p = ParamValue::parse_token(&v.trim().into()).ok()?;
    Some((
        p.value.to_string(),
        p.params.get_unquoted("id").map(|s| s.to_string()),
    ))
}

fn same_event(a: &str, b: &str) -> bool {
    matches!((event_key(a), event_key(b)), (Some(x), Some(y)) if x == y)
}

/// When to refresh a subscription of `expires` seconds: halfway for short
/// ones, else ten minutes early (as registrations).
fn refresh_after(expires: u32) -> Duration {
    let ahead = if expires > 1200 {
        expires - 600
    } else {
        (expires / 2).max(1)
    };
    Duration::from_secs(u64::from(ahead))
}

impl<A: Clone + Debug + Eq + Hash> Endpoint<A> {
    fn emit_sub(&mut self, subscription: Handle, event: SubscriptionEvent) {
        self.events.push_back(Event::Subscription {
            subscription,
            event,
        });
    }

    fn sub_timer(&mut self, h: Handle, which: SubTimer, at: Option<Instant>) {
        let Some(s) = self.subs.get_mut(&h) else {
            return;
        };
        match which {
            SubTimer::N => s.n_at = at,
            SubTimer::Refresh => s.refresh_at = at,
            SubTimer::Expire => s.expire_at = at,
        }
        if let Some(at) = at {
            self.schedule(at, Timer::Subscription(h, which));
        }
    }

    /// Forgets a subscription and its dialog.
    fn drop_sub(&mut self, h: Handle) {
        let Some(s) = self.subs.remove(&h) else {
            return;
        };
        self.sub_dialogs.remove(&(s.call_id, s.local_tag));
        for o in self.owners.values_mut() {
            if matches!(*o, Owner::Subscribe(x) | Owner::Notify(x) if x == h) {
                *o = Owner::Cancel;
            }
        }
    }

    fn end_sub(&mut self, h: Handle, event: SubscriptionEvent) {
        if self.subs.contains_key(&h) {
            self.drop_sub(h);
            self.emit_sub(h, event);
        }
    }

    // ----- subscriber -----

    /// When a subscriber gives up on a subscription of `expires` seconds
    /// that was not refreshed: at its expiry plus T2, so that the
    /// notifier's final NOTIFY (terminated;reason=timeout, §4.2.1.4) sent
    /// at the same moment is still answered 200 rather than 481.
    fn sub_expiry(&self, now: Instant, expires: u32) -> Instant {
        now + Duration::from_secs(u64::from(expires)) + self.config.timers.t2
    }

    /// Subscribes to `event` (e.g. "presence", RFC 3856) of `target` for
    /// `expires` seconds, accepting bodies of type `accept` (RFC 6665
    /// §4.1.2.1). `Event::Subscription` events follow: `Accepted`,
    /// `Notify` (the first NOTIFY may come before the 2xx, §4.1.2.4), and
    /// at the end `Failed` or `Terminated`. The endpoint refreshes the
    /// subscription before it expires.
    pub fn subscribe(
        &mut self,
        now: Instant,
        target: Uri,
        event: &str,
        accept: &str,
        expires: u32,
    ) -> Result<Handle, Error> {
        let super::Initial {
            builder: b,
            hop,
            call_id,
            from_tag: tag,
        } = self.initial_request(Method::Subscribe, target)?;
        let b = b
            .header(StdHeader::Contact, self.dialog_forming_contact(&hop))
            .header(StdHeader::Event, event.to_string())
            .header(StdHeader::Accept, accept.to_string())
            .header(StdHeader::Expires, expires.to_string())
            .header(StdHeader::Allow, ALLOW);
        let mut req = self.common_headers(b).build();
        self.authorize(&mut req);
        let h = self.handle();
        let tx = self
            .start_client(now, req.clone(), &hop, Owner::Subscribe(h))
            .ok_or(Error::State("transaction refused"))?;
        self.subs.insert(
            h,
            Subscription {
                role: Role::Subscriber,
                event: event.to_string(),
                call_id: call_id.clone(),
                local_tag: tag.clone(),
                dialog: None,
                request: req,
                expires,
                tx: Some(tx),
                auth_tries: 0,
                notified: false,
                accepted: false,
                ending: false,
                unsubscribe_queued: false,
                n_at: None,
                refresh_at: None,
                expire_at: None,
                incoming: None,
                last: None,
                final_notify: None,
            },
        );
        self.sub_dialogs.insert((call_id, tag), h);
        self.sub_timer(h, SubTimer::N, Some(now + self.config.timers.t1x64()));
        self.pump(now);
        Ok(h)
    }

    /// Ends a subscription of ours: a SUBSCRIBE with Expires: 0 (RFC 6665
    /// §4.1.2.3); the notifier's final NOTIFY ("terminated") ends it with
    /// `SubscriptionEvent::Terminated`.
    pub fn unsubscribe(&mut self, now: Instant, subscription: Handle) -> Result<(), Error> {
        let s = self.subs.get_mut(&subscription).ok_or(Error::Unknown)?;
        if s.role != Role::Subscriber {
            return Err(Error::State("not a subscription of ours"));
        }
        if s.ending {
            return Ok(());
        }
        s.ending = true;
        s.refresh_at = None;
        if s.tx.is_some() {
            s.unsubscribe_queued = true;
            return Ok(());
        }
        self.send_subscribe(now, subscription, 0);
        self.pump(now);
        Ok(())
    }

    /// A SUBSCRIBE in the subscription's dialog (refresh or unsubscribe,
    /// §4.1.2.2), with Timer N.
    fn send_subscribe(&mut self, now: Instant, h: Handle, expires: u32) {
        let Some(s) = self.subs.get_mut(&h) else {
            return;
        };
        let Some(d) = s.dialog.as_mut() else {
            return;
        };
        let seq = d.next_seq();
        let next = d.next_hop();
        let accept = s
            .request
            .headers
            .get(StdHeader::Accept)
            .map(|v| v.to_string());
        let mut b = d
            .request(Method::Subscribe, seq)
            .header(StdHeader::Event, s.event.clone())
            .header(StdHeader::Expires, expires.to_string());
        if let Some(a) = accept {
            b = b.header(StdHeader::Accept, a);
        }
        let Some(hop) = self.route(&next) else {
            return;
        };
        b = b
            .header(StdHeader::Contact, self.contact(&hop))
            .header(StdHeader::Allow, ALLOW);
        let mut req = self.common_headers(b).build();
        self.authorize(&mut req);
        let tx = self.start_client(now, req.clone(), &hop, Owner::Subscribe(h));
        if let Some(s) = self.subs.get_mut(&h) {
            s.request = req;
            s.tx = tx;
        }
        self.sub_timer(h, SubTimer::N, Some(now + self.config.timers.t1x64()));
    }

    pub(super) fn on_subscribe_response(&mut self, now: Instant, h: Handle, r: Response) {
        if r.status.is_provisional() {
            return;
        }
        let status = r.status.as_u16();
        let msg = Message::Response(r.clone());
        let Some(s) = self.subs.get_mut(&h) else {
            return;
        };
        s.tx = None;
        let tries = s.auth_tries;
        if matches!(status, 401 | 407) && self.learn_challenge(&r, tries) {
            self.resend_subscribe(now, h, None);
            return;
        }
        if status == 423 {
            // RFC 3261 §10.2.8 (RFC 6665 §4.2.1.1): at least Min-Expires.
            let min = msg
                .headers()
                .get(StdHeader::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            let s = self.subs.get_mut(&h).expect("checked");
            if let Some(min) = min.filter(|m| *m > s.expires && !s.ending) {
                s.expires = min;
                self.resend_subscribe(now, h, Some(min));
                return;
            }
        }
        let s = self.subs.get_mut(&h).expect("checked");
        s.auth_tries = 0;
        if r.status.is_success() {
            if s.dialog.is_none() {
                let mut d = Dialog::uac(&s.request, &msg);
                if let Some(d) = d.as_mut() {
                    d.state = DialogState::Confirmed;
                }
                s.dialog = d;
            }
            s.accepted = true;
            if s.unsubscribe_queued {
                s.unsubscribe_queued = false;
                self.send_subscribe(now, h, 0);
                return;
            }
            if s.ending {
                return; // the final NOTIFY ends it
            }
            let expires = msg.expires().ok().flatten().unwrap_or(s.expires);
            self.sub_timer(h, SubTimer::Refresh, Some(now + refresh_after(expires)));
            let at = self.sub_expiry(now, expires);
            self.sub_timer(h, SubTimer::Expire, Some(at));
            self.emit_sub(h, SubscriptionEvent::Accepted { expires });
            return;
        }
        let refresh = s.notified || s.accepted;
        if s.ending {
            // The unsubscribe failed: the subscription is over anyway.
            self.end_sub(h, SubscriptionEvent::Terminated { reason: None });
        } else if !refresh || matches!(status, 404 | 405 | 410 | 416 | 480..=485 | 489 | 501 | 604)
        {
            // §4.1.2.1 (a failed SUBSCRIBE) and §4.1.2.2 (a refresh
            // answered so ends the subscription).
            self.end_sub(h, SubscriptionEvent::Failed { status });
        } else if s.unsubscribe_queued {
            s.unsubscribe_queued = false;
            self.send_subscribe(now, h, 0);
        }
        // Any other refresh failure: valid until it expires (§4.1.2.2).
    }

    fn resend_subscribe(&mut self, now: Instant, h: Handle, expires: Option<u32>) {
        let Some(s) = self.subs.get_mut(&h) else {
            return;
        };
        s.auth_tries += 1;
        let mut req = s.request.clone();
        if let Some(d) = s.dialog.as_mut() {
            let seq = d.next_seq();
            req.headers.set(
                StdHeader::CSeq,
                sipline_message::header::CSeq::new(seq, Method::Subscribe).to_string(),
            );
        } else {
            super::bump_cseq(&mut req);
        }
        if let Some(e) = expires {
            req.headers.set(StdHeader::Expires, e.to_string());
        }
        self.authorize(&mut req);
        let next = super::first_route(&req).unwrap_or_else(|| req.uri.clone());
        let Some(hop) = self.route(&next) else {
            self.end_sub(h, SubscriptionEvent::Failed { status: 503 });
            return;
        };
        let tx = self.start_client(now, req.clone(), &hop, Owner::Subscribe(h));
        if let Some(s) = self.subs.get_mut(&h) {
            s.request = req;
            s.tx = tx;
        }
    }

    pub(super) fn on_subscribe_failure(&mut self, now: Instant, h: Handle, status: u16) {
        let Some(s) = self.subs.get_mut(&h) else {
            return;
        };
        s.tx = None;
        if s.ending {
            self.end_sub(h, SubscriptionEvent::Terminated { reason: None });
        } else if !(s.notified || s.accepted) {
            self.end_sub(h, SubscriptionEvent::Failed { status });
        } else if s.unsubscribe_queued {
            s.unsubscribe_queued = false;
            self.send_subscribe(now, h, 0);
        }
    }

    /// A NOTIFY for one of our subscriptions (§4.1.3), in its dialog or
    /// creating it (§4.1.2.4, §4.4.1).
    fn on_notify(&mut self, now: Instant, h: Handle, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let Some(s) = self.subs.get_mut(&h) else {
            self.simple_response(now, tx, &req, 481);
            return;
        };
        let event = m.headers().get(StdHeader::Event).map(|v| v.to_string());
        if !event.as_deref().is_some_and(|e| same_event(e, &s.event)) {
            // §4.1.3: an event we did not subscribe to.
            self.simple_response(now, tx, &req, 489);
            return;
        }
        let Some(state) = m
            .headers()
            .get(StdHeader::SubscriptionState)
            .and_then(|v| ParamValue::parse_token(v).ok())
        else {
            self.simple_response(now, tx, &req, 400);
            return;
        };
        let remote = m.from_tag().unwrap_or("");
        match s.dialog.as_mut() {
            Some(d) if d.id.remote_tag != remote => {
                // §4.1.4: another fork; only the first dialog is kept.
                self.simple_response(now, tx, &req, 481);
                return;
            }
            Some(d) => {
                if d.check_remote_seq(&m).is_err() {
                    self.simple_response(now, tx, &req, 500);
                    return;
                }
                d.refresh_target(&m);
                if !s.notified {
                    // §4.4.1: the route set comes from the NOTIFY.
                    if let Ok(rr) = m.record_routes() {
                        d.route_set = rr;
                    }
                }
            }
            None => {
                // §4.1.2.4: the NOTIFY came before the 2xx: it creates
                // the dialog.
                let Some(mut d) = Dialog::uas(&req, &s.local_tag, DialogState::Confirmed) else {
                    self.simple_response(now, tx, &req, 400);
                    return;
                };
                d.local_seq = s.request.headers.cseq().ok().map(|c| c.seq);
                s.dialog = Some(d);
            }
        }
        s.notified = true;
        let value = state.value.to_ascii_lowercase();
        let reason = state.params.get_unquoted("reason").map(|r| r.to_string());
        let expires = state
            .params
            .get_unquoted("expires")
            .and_then(|e| e.trim().parse::<u32>().ok());
        self.simple_response(now, tx, &req, 200);
        self.sub_timer(h, SubTimer::N, None);
        let body = Body::of(&m);
        self.emit_sub(
            h,
            SubscriptionEvent::Notify {
                state: value.clone(),
                reason: reason.clone(),
                body,
            },
        );
        if value == "terminated" {
            self.end_sub(h, SubscriptionEvent::Terminated { reason });
            return;
        }
        let ending = self.subs.get(&h).is_some_and(|s| s.ending);
        if let (Some(e), false) = (expires, ending) {
            // §4.1.3: the expires parameter is authoritative.
            self.sub_timer(h, SubTimer::Refresh, Some(now + refresh_after(e)));
            let at = self.sub_expiry(now, e);
            self.sub_timer(h, SubTimer::Expire, Some(at));
        }
    }

    pub(super) fn on_sub_timer(&mut self, now: Instant, at: Instant, h: Handle, which: SubTimer) {
        let Some(s) = self.subs.get(&h) else {
            return;
        };
        let current = match which {
            SubTimer::N => s.n_at,
            SubTimer::Refresh => s.refresh_at,
            SubTimer::Expire => s.expire_at,
        };
        if current != Some(at) {
            return;
        }
        match (s.role, which) {
            (Role::Subscriber, SubTimer::N) => {
                // §4.1.2.4, §4.1.2.2: no NOTIFY within 64·T1.
                let event = if s.notified || s.accepted || s.ending {
                    SubscriptionEvent::Terminated { reason: None }
                } else {
                    SubscriptionEvent::Failed { status: 408 }
                };
                self.end_sub(h, event);
            }
            (Role::Subscriber, SubTimer::Refresh) => {
                if s.tx.is_none() && !s.ending {
                    let expires = s.expires;
                    self.send_subscribe(now, h, expires);
                }
            }
            (Role::Subscriber, SubTimer::Expire) => {
                self.end_sub(
                    h,
                    SubscriptionEvent::Terminated {
                        reason: Some("timeout".into()),
                    },
                );
            }
            (Role::Notifier, SubTimer::Expire) => {
                // §4.2.1.4: not refreshed: terminated;reason=timeout.
                let reason = Some("timeout".to_string());
                let _ = self.send_notify(now, h, SubscriptionState::Terminated { reason }, None);
            }
            (Role::Notifier, _) => {}
        }
    }

    // ----- notifier -----

    /// A SUBSCRIBE outside any dialog: the application accepts or rejects
    /// it (`Event::IncomingSubscription`).
    pub(super) fn on_incoming_subscribe(&mut self, now: Instant, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let Some(event) = m.headers().get(StdHeader::Event).map(|v| v.to_string()) else {
            // RFC 6665 §4.2.3: no Event, no PINT: 489.
            self.simple_response(now, tx, &req, 489);
            return;
        };
        if event_key(&event).is_some_and(|(p, _)| p.eq_ignore_ascii_case("refer")) {
            // RFC 3515 §2.4.4: only REFER creates refer subscriptions.
            self.simple_response(now, tx, &req, 403);
            return;
        }
        let h = self.handle();
        let local_tag = self.token(6);
        self.subs.insert(
            h,
            Subscription {
                role: Role::Notifier,
                event,
                call_id: m.call_id().unwrap_or_default().to_string(),
                local_tag,
                dialog: None,
                request: req.clone(),
                expires: m.expires().ok().flatten().unwrap_or(3600),
                tx: None,
                auth_tries: 0,
                notified: false,
                accepted: false,
                ending: false,
                unsubscribe_queued: false,
                n_at: None,
                refresh_at: None,
                expire_at: None,
                incoming: Some(tx),
                last: None,
                final_notify: None,
            },
        );
        self.events.push_back(Event::IncomingSubscription {
            subscription: h,
            request: req,
        });
    }

    /// Accepts a subscription given by `Event::IncomingSubscription` with
    /// 200 (or 202) for at most `expires` seconds (never more than asked,
    /// RFC 6665 §4.2.1.1), creating its dialog. The first NOTIFY must
    /// follow at once (§4.2.1.2): call [`notify`](Self::notify) right
    /// after. With a granted duration of 0 (a fetch, §4.4.3) that NOTIFY
    /// ends the subscription.
    pub fn accept_subscription(
        &mut self,
        now: Instant,
        subscription: Handle,
        expires: u32,
        status: u16,
    ) -> Result<(), Error> {
        if !matches!(status, 200 | 202) {
            return Err(Error::Status(status));
        }
        let s = self.subs.get_mut(&subscription).ok_or(Error::Unknown)?;
        if s.role != Role::Notifier {
            return Err(Error::State("not an incoming subscription"));
        }
        let tx = s
            .incoming
            .ok_or(Error::State("subscription already answered"))?;
        let granted = s.expires.min(expires);
        let dialog = Dialog::uas(&s.request, &s.local_tag, DialogState::Confirmed)
            .ok_or(Error::State("SUBSCRIBE without dialog fields"))?;
        let code = StatusCode::new(status).ok_or(Error::Status(status))?;
        let mut r = response_to(&s.request, code, Some(&s.local_tag));
        r.headers.push(StdHeader::Expires, granted.to_string());
        s.incoming = None;
        s.expires = granted;
        s.dialog = Some(dialog);
        s.accepted = true;
        let key = (s.call_id.clone(), s.local_tag.clone());
        let src = Message::Request(s.request.clone());
        if let Some(hop) = self.uas_hop(&src) {
            r.headers.push(StdHeader::Contact, self.contact(&hop));
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(StdHeader::Server, ua.clone());
        }
        self.sub_dialogs.insert(key, subscription);
        self.respond_tx(now, tx, r);
        let at = if granted == 0 {
            // A fetch: the first NOTIFY ends it; if it never comes, end
            // it after 64·T1.
            now + self.config.timers.t1x64()
        } else {
            now + Duration::from_secs(u64::from(granted))
        };
        self.sub_timer(subscription, SubTimer::Expire, Some(at));
        self.pump(now);
        Ok(())
    }

    /// Refuses a subscription given by `Event::IncomingSubscription` with
    /// a 300-699 status (403, 489 ...); the handle is dead.
    pub fn reject_subscription(
        &mut self,
        now: Instant,
        subscription: Handle,
        status: u16,
    ) -> Result<(), Error> {
        if !(300..700).contains(&status) {
            return Err(Error::Status(status));
        }
        let s = self.subs.get(&subscription).ok_or(Error::Unknown)?;
        let tx = s
            .incoming
            .ok_or(Error::State("subscription already answered"))?;
        let req = s.request.clone();
        self.drop_sub(subscription);
        self.simple_response(now, tx, &req, status);
        self.pump(now);
        Ok(())
    }

    /// Sends a NOTIFY in an accepted subscription (RFC 6665 §4.2.2) with
    /// this state and body. With `SubscriptionState::Terminated` the
    /// subscription ends once the NOTIFY transaction does
    /// (`SubscriptionEvent::Terminated` then).
    pub fn notify(
        &mut self,
        now: Instant,
        subscription: Handle,
        state: SubscriptionState,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let s = self.subs.get(&subscription).ok_or(Error::Unknown)?;
        if s.role != Role::Notifier || s.dialog.is_none() {
            return Err(Error::State("not an accepted incoming subscription"));
        }
        if s.ending {
            return Err(Error::State("subscription terminated"));
        }
        let state = if s.expires == 0 {
            // A fetch (§4.4.3): its only NOTIFY ends it.
            SubscriptionState::Terminated {
                reason: Some("timeout".into()),
            }
        } else {
            state
        };
        self.send_notify(now, subscription, state, body)?;
        self.pump(now);
        Ok(())
    }

    fn send_notify(
        &mut self,
        now: Instant,
        h: Handle,
        state: SubscriptionState,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let s = self.subs.get_mut(&h).ok_or(Error::Unknown)?;
        let remaining = s.expire_at.map_or(0, |at| {
            let left = at.saturating_duration_since(now);
            u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0)).unwrap_or(u32::MAX)
        });
        let value = match &state {
            SubscriptionState::Active => format!("active;expires={remaining}"),
            SubscriptionState::Pending => format!("pending;expires={remaining}"),
            SubscriptionState::Terminated { reason: Some(r) } => format!("terminated;reason={r}"),
            SubscriptionState::Terminated { reason: None } => "terminated".to_string(),
        };
        let d = s.dialog.as_mut().ok_or(Error::State("no dialog"))?;
        let seq = d.next_seq();
        let next = d.next_hop();
        let mut b = d
            .request(Method::Notify, seq)
            .header(StdHeader::Event, s.event.clone())
            .header(StdHeader::SubscriptionState, value);
        if let Some(body) = body.clone() {
            b = b.body(&body.content_type, body.data);
        }
        let hop = self
            .route(&next)
            .ok_or_else(|| Error::NoRoute(next.to_string()))?;
        b = b.header(StdHeader::Contact, self.contact(&hop));
        let req = self.common_headers(b).build();
        let tx = self
            .start_client(now, req, &hop, Owner::Notify(h))
            .ok_or(Error::State("transaction refused"))?;
        let s = self.subs.get_mut(&h).expect("checked");
        if let SubscriptionState::Terminated { reason } = &state {
            s.ending = true;
            s.expire_at = None;
            s.final_notify = Some((tx, reason.clone()));
        }
        s.last = Some((state, body));
        Ok(())
    }

    /// The response to (or failure of) one of our NOTIFYs (§4.2.2).
    pub(super) fn on_notify_result(&mut self, tx: TransactionId, h: Handle, status: u16) {
        let Some(s) = self.subs.get(&h) else {
            return;
        };
        if (100..200).contains(&status) {
            return;
        }
        if let Some((ftx, reason)) = &s.final_notify {
            if *ftx == tx {
                let reason = reason.clone();
                self.end_sub(h, SubscriptionEvent::Terminated { reason });
                return;
            }
        }
        // §4.2.2: Timer F (408 here) or these responses remove it.
        if matches!(
            status,
            404 | 405 | 408 | 410 | 416 | 480..=485 | 489 | 501 | 503 | 604
        ) {
            self.end_sub(h, SubscriptionEvent::Terminated { reason: None });
        }
    }

    /// A SUBSCRIBE in a subscription's dialog: refresh or unsubscribe
    /// (§4.2.1.4).
    fn on_resubscribe(&mut self, now: Instant, h: Handle, tx: TransactionId, req: Request) {
        let m = Message::Request(req.clone());
        let Some(s) = self.subs.get_mut(&h) else {
            self.simple_response(now, tx, &req, 481);
            return;
        };
        if s.ending {
            self.simple_response(now, tx, &req, 481);
            return;
        }
        let event = m.headers().get(StdHeader::Event).map(|v| v.to_string());
        if !event.as_deref().is_some_and(|e| same_event(e, &s.event)) {
            self.simple_response(now, tx, &req, 489);
            return;
        }
        let Some(d) = s.dialog.as_mut() else {
            self.simple_response(now, tx, &req, 481);
            return;
        };
        if d.check_remote_seq(&m).is_err() {
            self.simple_response(now, tx, &req, 500);
            return;
        }
        d.refresh_target(&m);
        let asked = m.expires().ok().flatten().unwrap_or(s.expires);
        // Never longer than asked (§4.2.1.4).
        let granted = asked.min(s.expires);
        let mut r = response_to(&req, StatusCode::OK, None);
        r.headers.push(StdHeader::Expires, granted.to_string());
        if let Some(hop) = self.uas_hop(&m) {
            r.headers.push(StdHeader::Contact, self.contact(&hop));
        }
        self.respond_tx(now, tx, r);
        if granted == 0 {
            // Unsubscribe: a final NOTIFY terminated;reason=timeout.
            let reason = Some("timeout".to_string());
            let _ = self.send_notify(now, h, SubscriptionState::Terminated { reason }, None);
            return;
        }
        self.sub_timer(
            h,
            SubTimer::Expire,
            Some(now + Duration::from_secs(u64::from(granted))),
        );
        // §4.2.1.2: a NOTIFY at once after accepting a refresh, with the
        // current state.
        let last = self.subs.get(&h).and_then(|s| s.last.clone());
        let (state, body) = last.unwrap_or((SubscriptionState::Pending, None));
        let _ = self.send_notify(now, h, state, body);
        self.emit_sub(h, SubscriptionEvent::Refreshed { expires: granted });
    }

    /// SUBSCRIBE and NOTIFY in a dialog that is not a call's: a
    /// subscription's, or 481 (RFC 6665 §4.1.3).
    pub(super) fn on_subscription_request(
        &mut self,
        now: Instant,
        tx: TransactionId,
        req: Request,
    ) {
        let m = Message::Request(req.clone());
        let key = (
            m.call_id().unwrap_or_default().to_string(),
            m.to_tag().unwrap_or_default().to_string(),
        );
        let found = self.sub_dialogs.get(&key).copied();
        let role = found.and_then(|h| self.subs.get(&h)).map(|s| s.role);
        match (found, role, &req.method) {
            (Some(h), Some(Role::Subscriber), Method::Notify) => self.on_notify(now, h, tx, req),
            (Some(h), Some(Role::Notifier), Method::Subscribe) => {
                let remote_ok = self.subs.get(&h).is_some_and(|s| {
                    s.dialog
                        .as_ref()
                        .is_some_and(|d| d.id.remote_tag == m.from_tag().unwrap_or(""))
                });
                if remote_ok {
                    self.on_resubscribe(now, h, tx, req);
                } else {
                    self.simple_response(now, tx, &req, 481);
                }
            }
            _ => self.simple_response(now, tx, &req, 481),
        }
    }
}
