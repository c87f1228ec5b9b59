//! Two user agents on loopback: a call with G.711 audio both ways, a
//! re-INVITE to hold, BYE; and a MESSAGE.

use sipline_media::tone::goertzel;
use sipline_media::Source;
use sipline_ua::media::{CallMedia, MediaOptions};
use sipline_ua::{Body, CallEvent, Config, EndReason, Method, UserAgent};
use std::time::Duration;
use tokio::time::timeout;

fn config(user: &str) -> Config {
    let mut c = Config::new(&format!("sip:{user}@127.0.0.1")).unwrap();
    c.t1 = Duration::from_millis(100);
    c
}

fn tone(freq: f64) -> MediaOptions {
    let mut o = MediaOptions::new("127.0.0.1".parse().unwrap());
    o.source = Source::Tone {
        freq_hz: freq,
        amplitude: 8000,
    };
    o.record = true;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_with_audio_both_ways_hold_and_bye() {
    let (alice, _alice_in) = UserAgent::start(config("alice")).await.unwrap();
    let (bob, mut bob_in) = UserAgent::start(config("bob")).await.unwrap();
    let bob_addr = bob.local_addr(sipline_ua::Transport::Udp).unwrap();
    let target = format!("sip:bob@{bob_addr}").parse().unwrap();

    let mut a_media = CallMedia::bind(tone(440.0)).await.unwrap();
    let offer = a_media.offer();
    let mut call = alice.call(target, Some(offer)).await.unwrap();

    let bob_task = tokio::spawn(async move {
        let inc = timeout(Duration::from_secs(5), bob_in.next_call())
            .await
            .expect("an incoming call")
            .unwrap();
        let mut b_media = CallMedia::bind(tone(1000.0)).await.unwrap();
        let offer = Body::sdp(inc.request.body.clone());
        let answer = b_media.answer(&offer).unwrap();
        inc.call.ring(180, None).await.unwrap();
        inc.call.answer(Some(answer)).await.unwrap();
        b_media.start().unwrap();
        let mut call = inc.call;
        let mut events = Vec::new();
        while let Some(ev) = timeout(Duration::from_secs(10), call.next_event())
            .await
            .expect("bob's call events")
        {
            if let CallEvent::Offer { body: Some(b), .. } = &ev {
                let answer = b_media.answer(b).unwrap();
                call.respond_offer(200, Some(answer)).await.unwrap();
                b_media.start().unwrap();
            }
            let end = matches!(ev, CallEvent::Ended { .. });
            events.push(ev);
            if end {
                break;
            }
        }
        (events, b_media.stop().await.unwrap())
    });

    let mut progress = Vec::new();
    loop {
        let ev = timeout(Duration::from_secs(5), call.next_event())
            .await
            .expect("alice's call events")
            .unwrap();
        match ev {
            CallEvent::Progress { status, .. } => progress.push(status),
            CallEvent::Answered { body: Some(b), .. } => {
                a_media.accept_answer(&b).unwrap();
                a_media.start().unwrap();
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(progress, vec![180]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Hold: sendonly offer, recvonly answer.
    let hold = a_media.hold_offer(true);
    assert!(std::str::from_utf8(&hold.data)
        .unwrap()
        .contains("a=sendonly"));
    call.reinvite(Some(hold)).await.unwrap();
    match timeout(Duration::from_secs(5), call.next_event())
        .await
        .unwrap()
    {
        Some(CallEvent::OfferResult {
            status: 200,
            body: Some(b),
            ..
        }) => {
            assert!(std::str::from_utf8(&b.data).unwrap().contains("a=recvonly"));
            a_media.accept_answer(&b).unwrap();
            a_media.start().unwrap();
        }
        other => panic!("{other:?}"),
    }
    call.hangup().await.unwrap();
    match timeout(Duration::from_secs(5), call.next_event())
        .await
        .unwrap()
    {
        Some(CallEvent::Ended { reason }) => assert_eq!(reason, EndReason::LocalBye),
        other => panic!("{other:?}"),
    }
    let a_report = a_media.stop().await.unwrap();
    let (b_events, b_report) = bob_task.await.unwrap();
    assert!(matches!(
        b_events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::RemoteBye
        })
    ));
    assert!(b_events
        .iter()
        .any(|e| matches!(e, CallEvent::Confirmed { .. })));
    // About 1.2 s of audio each way (50 packets/s); bob kept sending while
    // on hold (sendonly at alice's side means alice still receives).
    assert!(
        a_report.stats.packets_received >= 40,
        "{:?}",
        a_report.stats
    );
    assert!(
        b_report.stats.packets_received >= 40,
        "{:?}",
        b_report.stats
    );
    let a_heard = &a_report.received_samples;
    let b_heard = &b_report.received_samples;
    assert!(goertzel(a_heard, 1000.0) > 100.0 * goertzel(a_heard, 440.0));
    assert!(goertzel(b_heard, 440.0) > 100.0 * goertzel(b_heard, 1000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_and_options() {
    let (alice, _a) = UserAgent::start(config("alice")).await.unwrap();
    let (bob, mut bob_in) = UserAgent::start(config("bob")).await.unwrap();
    let bob_addr = bob.local_addr(sipline_ua::Transport::Udp).unwrap();
    let target: sipline_ua::Uri = format!("sip:bob@{bob_addr}").parse().unwrap();
    let responder = tokio::spawn(async move {
        let req = bob_in.next_request().await.unwrap();
        let text = String::from_utf8(req.request.body.to_vec()).unwrap();
        req.respond(200, None).await.unwrap();
        text
    });
    let body = Body {
        content_type: "text/plain".into(),
        data: "hi bob".into(),
    };
    let r = alice
        .request(Method::Message, target.clone(), Some(body), vec![])
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(responder.await.unwrap(), "hi bob");
    let r = alice
        .request(Method::Options, target, None, vec![])
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.headers.get("Allow").is_some_and(|v| v.contains("INVITE")));
}

/// The stack owns lifecycles: an incoming call or request the application
/// drops unanswered is declined at once (603, 500) instead of hanging until
/// the caller's timers fire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handles_are_answered_by_the_stack() {
    let (alice, _a) = UserAgent::start(config("alice")).await.unwrap();
    let (bob, mut bob_in) = UserAgent::start(config("bob")).await.unwrap();
    let bob_addr = bob.local_addr(sipline_ua::Transport::Udp).unwrap();
    let target: sipline_ua::Uri = format!("sip:bob@{bob_addr}").parse().unwrap();
    let drop_all = tokio::spawn(async move {
        let call = bob_in.next_call().await.unwrap();
        drop(call);
        let req = bob_in.next_request().await.unwrap();
        drop(req);
        bob_in
    });
    let mut call = alice.call(target.clone(), None).await.unwrap();
    let ended = timeout(Duration::from_secs(5), async {
        loop {
            if let Some(CallEvent::Ended { reason }) = call.next_event().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        matches!(ended, EndReason::Rejected { status: 603, .. }),
        "{ended:?}"
    );
    let r = timeout(
        Duration::from_secs(5),
        alice.request(Method::Message, target, None, vec![]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.status.as_u16(), 500);
    let _ = drop_all.await;
}
