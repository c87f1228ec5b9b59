//! SUBSCRIBE/NOTIFY (RFC 6665) with presence documents (RFC 3856, RFC
//! 3863) between two user agents on the simulated network.

mod common;

use common::*;
use sipline_dialog::presence::{Presence, PIDF_CONTENT_TYPE};
use sipline_dialog::{Event, Handle, SubscriptionEvent, SubscriptionState};
use sipline_message::header::StdHeader;
use sipline_message::{Message, Method, Request};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn sub_events(w: &World, i: usize, h: Handle) -> Vec<(Duration, SubscriptionEvent)> {
    w.events[i]
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Subscription {
                subscription,
                event,
            } if *subscription == h => Some((*t, event.clone())),
            _ => None,
        })
        .collect()
}

fn incoming(w: &World, i: usize) -> Option<(Handle, Request)> {
    w.events[i].iter().find_map(|(_, e)| match e {
        Event::IncomingSubscription {
            subscription,
            request,
        } => Some((*subscription, request.clone())),
        _ => None,
    })
}

fn notifies(w: &World, i: usize, h: Handle) -> Vec<(String, Option<String>, Option<Presence>)> {
    sub_events(w, i, h)
        .into_iter()
        .filter_map(|(_, e)| match e {
            SubscriptionEvent::Notify {
                state,
                reason,
                body,
            } => Some((
                state,
                reason,
                body.map(|b| {
                    assert_eq!(b.content_type, PIDF_CONTENT_TYPE);
                    Presence::parse(std::str::from_utf8(&b.data).unwrap()).unwrap()
                }),
            )),
            _ => None,
        })
        .collect()
}

fn terminated(w: &World, i: usize, h: Handle) -> Option<Option<String>> {
    sub_events(w, i, h).into_iter().find_map(|(_, e)| match e {
        SubscriptionEvent::Terminated { reason } => Some(reason),
        _ => None,
    })
}

fn presence(open: bool) -> Presence {
    let mut p = Presence::new("pres:bob@10.0.0.2", open);
    p.note = Some(if open { "Available" } else { "Out & about" }.into());
    p
}

/// Alice (1) subscribes to bob's (2) presence for `expires` s; bob accepts
/// for as long and notifies "open".
fn subscribed(w: &mut World, expires: u32) -> (usize, usize, Handle, Handle) {
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let sub = w
        .ep(a)
        .subscribe(now, uri("bob", 2), "presence", PIDF_CONTENT_TYPE, expires)
        .unwrap();
    assert!(w.run_until(S, |w| incoming(w, b).is_some()));
    let (inc, req) = incoming(w, b).unwrap();
    assert_eq!(req.method, Method::Subscribe);
    let now = w.now;
    w.ep(b).accept_subscription(now, inc, 3600, 200).unwrap();
    w.ep(b)
        .notify(
            now,
            inc,
            SubscriptionState::Active,
            Some(presence(true).to_body()),
        )
        .unwrap();
    (a, b, sub, inc)
}

/// RFC 6665 §4.1.2, §4.2.1: the SUBSCRIBE asks for 60 s and gets 200
/// with Expires: 60 (the notifier never lengthens it); the first NOTIFY
/// (active, PIDF "open") follows at once. Alice refreshes halfway, in the
/// dialog; bob's endpoint answers and notifies the last state again.
/// Bob then notifies "closed". Alice unsubscribes (Expires: 0) and the
/// final NOTIFY (terminated;reason=timeout) ends it on both sides; both
/// endpoints are empty afterwards.
#[test]
fn subscribe_notify_refresh_unsubscribe() {
    let mut w = World::perfect();
    let (a, b, sub, inc) = subscribed(&mut w, 60);
    assert!(w.run_until(S, |w| notifies(w, a, sub).len() == 1
        && sub_events(w, a, sub).len() == 2));
    let ev = sub_events(&w, a, sub);
    assert!(
        matches!(ev[0].1, SubscriptionEvent::Accepted { expires: 60 }),
        "{ev:?}"
    );
    let t_accepted = ev[0].0;
    let n = &notifies(&w, a, sub)[0];
    assert_eq!(n.0, "active");
    assert_eq!(n.2.as_ref().unwrap(), &presence(true));
    let first = &w.sent_by(2, "NOTIFY ")[0].1;
    assert_eq!(
        first
            .headers()
            .get(StdHeader::SubscriptionState)
            .unwrap()
            .to_string(),
        "active;expires=60"
    );
    assert_eq!(
        first.headers().get(StdHeader::Event).unwrap().to_string(),
        "presence"
    );
    // Refresh at 30 s, in the dialog.
    assert!(w.run_until(S * 40, |w| w.sent_by(1, "SUBSCRIBE ").len() == 2));
    let refresh = w.sent_by(1, "SUBSCRIBE ").pop().unwrap();
    assert_eq!(refresh.0, t_accepted + S * 30);
    assert!(refresh.1.to_tag().is_some());
    assert_eq!(refresh.1.cseq().unwrap().seq, 2);
    assert!(w.run_until(S, |w| notifies(w, a, sub).len() == 2));
    assert!(sub_events(&w, b, inc)
        .iter()
        .any(|(_, e)| *e == SubscriptionEvent::Refreshed { expires: 60 }));
    assert_eq!(notifies(&w, a, sub)[1].2.as_ref().unwrap(), &presence(true));
    // A change of state.
    let now = w.now;
    w.ep(b)
        .notify(
            now,
            inc,
            SubscriptionState::Active,
            Some(presence(false).to_body()),
        )
        .unwrap();
    assert!(w.run_until(S, |w| notifies(w, a, sub).len() == 3));
    assert_eq!(
        notifies(&w, a, sub)[2].2.as_ref().unwrap(),
        &presence(false)
    );
    // Unsubscribe.
    let now = w.now;
    w.ep(a).unsubscribe(now, sub).unwrap();
    assert!(w.run_until(S, |w| terminated(w, a, sub).is_some()
        && terminated(w, b, inc).is_some()));
    let unsub = w.sent_by(1, "SUBSCRIBE ").pop().unwrap().1;
    assert_eq!(unsub.expires().unwrap(), Some(0));
    let last = notifies(&w, a, sub).pop().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_deref()),
        ("terminated", Some("timeout"))
    );
    assert_eq!(terminated(&w, a, sub), Some(Some("timeout".into())));
    assert_eq!(terminated(&w, b, inc), Some(Some("timeout".into())));
    // Every NOTIFY was answered 200.
    assert_eq!(w.count_sent("SIP/2.0 481"), 0);
    assert!(w.settle(S * 64));
}

/// §4.1.2.4: the 200 to the SUBSCRIBE is lost and the NOTIFY arrives
/// first: it creates the dialog and is answered 200; the 200, resent for
/// the retransmitted SUBSCRIBE, is then taken as well.
#[test]
fn notify_before_the_200() {
    let mut w = World::perfect();
    let mut dropped = false;
    w.drop = Some(Box::new(move |from, _, m| {
        if from == 2 && !dropped && m.starts_with(b"SIP/2.0 200") {
            dropped = true;
            return true;
        }
        false
    }));
    let (a, b, sub, inc) = subscribed(&mut w, 60);
    assert!(w.run_until(S * 2, |w| sub_events(w, a, sub).len() == 2));
    let ev = sub_events(&w, a, sub);
    assert!(
        matches!(ev[0].1, SubscriptionEvent::Notify { .. }),
        "{ev:?}"
    );
    assert!(
        matches!(ev[1].1, SubscriptionEvent::Accepted { expires: 60 }),
        "{ev:?}"
    );
    assert!(
        ev[1].0 >= ev[0].0 + MS * 400,
        "the 200 came with the SUBSCRIBE retransmission"
    );
    let oks = w.sent_by(1, "SIP/2.0 200");
    assert_eq!(oks[0].1.cseq().unwrap().method, Method::Notify);
    let now = w.now;
    w.ep(a).unsubscribe(now, sub).unwrap();
    assert!(w.settle(S * 64));
    assert_eq!(terminated(&w, b, inc), Some(Some("timeout".into())));
}

/// §4.2.1.4: the refreshes never reach bob; when the subscription expires
/// (60 s after it was accepted) bob's endpoint sends NOTIFY
/// terminated;reason=timeout by itself, alice answers it 200, and both
/// ends forget the subscription.
#[test]
fn the_notifier_ends_an_unrefreshed_subscription() {
    let mut w = World::perfect();
    w.drop = Some(Box::new(|from, _, m| {
        from == 1
            && m.starts_with(b"SUBSCRIBE ")
            && Message::parse(sipline_message::Bytes::copy_from_slice(m))
                .unwrap()
                .to_tag()
                .is_some()
    }));
    let t0 = w.now;
    let (a, b, sub, inc) = subscribed(&mut w, 60);
    let t_accept = w.now - t0;
    assert!(w.run_until(S * 100, |w| terminated(w, b, inc).is_some()));
    let notify = w.sent_by(2, "NOTIFY ").pop().unwrap();
    assert_eq!(notify.0, t_accept + S * 60);
    assert_eq!(
        notify
            .1
            .headers()
            .get(StdHeader::SubscriptionState)
            .unwrap()
            .to_string(),
        "terminated;reason=timeout"
    );
    assert_eq!(terminated(&w, a, sub), Some(Some("timeout".into())));
    assert_eq!(terminated(&w, b, inc), Some(Some("timeout".into())));
    assert_eq!(w.count_sent("SIP/2.0 481"), 0);
    assert!(w.settle(S * 64));
}

/// A refused subscription: `Failed` with the status; nothing is left.
#[test]
fn a_rejected_subscription_fails() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |_| {});
    let now = w.now;
    let sub = w
        .ep(a)
        .subscribe(now, uri("bob", 2), "presence", PIDF_CONTENT_TYPE, 600)
        .unwrap();
    assert!(w.run_until(S, |w| incoming(w, b).is_some()));
    let (inc, _) = incoming(&w, b).unwrap();
    let now = w.now;
    w.ep(b).reject_subscription(now, inc, 403).unwrap();
    assert!(w.run_until(S, |w| !sub_events(w, a, sub).is_empty()));
    assert_eq!(
        sub_events(&w, a, sub)[0].1,
        SubscriptionEvent::Failed { status: 403 }
    );
    assert!(w.settle(S * 64));
}

/// Subscribe, notify and unsubscribe over a lossy network (20% loss each
/// way, duplicates, jitter): every subscription ends on the subscriber's
/// side (`Terminated`, or `Failed` if the SUBSCRIBE never got through),
/// and both endpoints end empty.
#[test]
fn subscriptions_survive_loss() {
    let mut clean = 0;
    for seed in 0..30u64 {
        let (mut w, a, b) = World::lossy(0.2, seed);
        let now = w.now;
        let sub = w
            .ep(a)
            .subscribe(now, uri("bob", 2), "presence", PIDF_CONTENT_TYPE, 120)
            .unwrap();
        w.run_until(S * 40, |w| {
            incoming(w, b).is_some() || !sub_events(w, a, sub).is_empty()
        });
        if let Some((inc, _)) = incoming(&w, b) {
            let now = w.now;
            w.ep(b).accept_subscription(now, inc, 120, 200).unwrap();
            w.ep(b)
                .notify(
                    now,
                    inc,
                    SubscriptionState::Active,
                    Some(presence(true).to_body()),
                )
                .unwrap();
            w.run(S * 5);
            let now = w.now;
            let _ = w.ep(a).unsubscribe(now, sub);
        }
        assert!(
            w.run_until(S * 200, |w| sub_events(w, a, sub).iter().any(
                |(_, e)| matches!(
                    e,
                    SubscriptionEvent::Terminated { .. } | SubscriptionEvent::Failed { .. }
                )
            )),
            "seed {seed}: {:?}",
            sub_events(&w, a, sub)
        );
        if terminated(&w, a, sub) == Some(Some("timeout".into())) {
            clean += 1;
        }
        assert!(w.settle(S * 300), "seed {seed}: endpoints not empty");
    }
    assert!(
        clean >= 20,
        "only {clean} of 30 ended with the final NOTIFY"
    );
}
