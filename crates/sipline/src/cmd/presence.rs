//! `sipline subscribe`, `sipline publish` (presence, RFC 3856/3903/3863) and
//! `sipline transfer` (REFER, RFC 3515).

use super::agent::{error_exit, exit, parse_uri, run_on, status_exit, Common};
use sipline_ua::presence::{Presence, PIDF_CONTENT_TYPE};
use sipline_ua::{CallEvent, EndReason, Method, SubscriptionEvent};
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Debug)]
pub(crate) struct SubscribeArgs {
    /// Whose state, e.g. sip:bob@example.com.
    uri: String,
    /// The event package (RFC 6665 §7.2).
    #[arg(long, default_value = "presence")]
    event: String,
    /// Accept header: the body types we take.
    #[arg(long, default_value = PIDF_CONTENT_TYPE)]
    accept: String,
    /// Subscription length asked for, in seconds (refreshed before expiry).
    #[arg(long, default_value_t = 600)]
    expires: u32,
    /// Unsubscribe after this many seconds (default: on Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PublishArgs {
    /// The presentity, e.g. sip:alice@example.com (sent to it, or through
    /// --proxy to the presence server).
    uri: String,
    /// The basic status to publish.
    #[arg(long, value_parser = ["open", "closed"], default_value = "open")]
    status: String,
    /// A note.
    #[arg(long)]
    note: Option<String>,
    /// How long the state holds, in seconds (RFC 3903 §4.1).
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TransferArgs {
    /// Who to call first (the transferee).
    uri: String,
    /// Where to send them (Refer-To).
    #[arg(long)]
    to: String,
    /// Seconds to wait for the transfer's outcome.
    #[arg(long, default_value_t = 32.0)]
    timeout: f64,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn run_subscribe(args: &SubscribeArgs) -> ExitCode {
    run_on(subscribe(args))
}

async fn subscribe(args: &SubscribeArgs) -> ExitCode {
    let target = match parse_uri("target", &args.uri) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&target)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut sub = match agent
        .ua
        .subscribe(target.clone(), &args.event, &args.accept, args.expires)
        .await
    {
        Ok(s) => s,
        Err(e) => return error_exit("subscribe", &e),
    };
    let forever = Instant::now() + Duration::from_secs(86400 * 365);
    let mut stop_at = args
        .duration
        .map_or(forever, |d| Instant::now() + Duration::from_secs_f64(d));
    let mut stopping = false;
    let code = loop {
        tokio::select! {
            ev = sub.next_event() => {
                let Some(ev) = ev else { break ExitCode::from(exit::FAILURE) };
                match ev {
                    SubscriptionEvent::Accepted { expires } => agent.event(
                        "accepted",
                        serde_json::json!({"expires": expires}),
                        &format!("subscribed to {} of {target} for {expires} s", args.event),
                    ),
                    SubscriptionEvent::Notify { state, reason, body } => {
                        let pidf = body
                            .as_ref()
                            .filter(|b| b.content_type.starts_with(PIDF_CONTENT_TYPE))
                            .and_then(|b| std::str::from_utf8(&b.data).ok())
                            .and_then(|t| Presence::parse(t).ok());
                        let text = body.as_ref().map(|b| String::from_utf8_lossy(&b.data).to_string());
                        let basic = pidf.as_ref().map(|p| if p.open { "open" } else { "closed" });
                        let note = pidf.as_ref().and_then(|p| p.note.clone());
                        agent.event(
                            "notify",
                            serde_json::json!({"state": state, "reason": reason, "basic": basic, "note": note, "body": text}),
                            &match basic {
                                Some(b) => format!("NOTIFY {state}: {target} is {b}{}", note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()),
                                None => format!("NOTIFY {state}{}", text.map(|t| format!(": {t}")).unwrap_or_default()),
                            },
                        );
                    }
                    SubscriptionEvent::Failed { status } => {
                        agent.event("failed", serde_json::json!({"status": status}), &format!("subscription failed: {status}"));
                        break status_exit(status);
                    }
                    SubscriptionEvent::Terminated { reason } => {
                        agent.event("terminated", serde_json::json!({"reason": reason}), &format!("subscription terminated{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()));
                        break ExitCode::SUCCESS;
                    }
                    SubscriptionEvent::Refreshed { .. } => {}
                }
            }
            () = tokio::time::sleep_until(stop_at), if !stopping => {
                stopping = true;
                stop_at = forever;
                let _ = sub.unsubscribe().await;
            }
            _ = tokio::signal::ctrl_c(), if !stopping => {
                stopping = true;
                let _ = sub.unsubscribe().await;
            }
        }
    };
    agent.ua.stop();
    code
}

pub(crate) fn run_publish(args: &PublishArgs) -> ExitCode {
    run_on(publish(args))
}

async fn publish(args: &PublishArgs) -> ExitCode {
    let target = match parse_uri("presentity", &args.uri) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&target)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut doc = Presence::new(target.to_string(), args.status == "open");
    doc.note = args.note.clone();
    // RFC 3903 §4: PUBLISH with the event package, Expires and the state.
    let headers = vec![
        ("Event".to_string(), "presence".to_string()),
        ("Expires".to_string(), args.expires.to_string()),
    ];
    let code = match agent
        .ua
        .request(Method::Publish, target, Some(doc.to_body()), headers)
        .await
    {
        Ok(r) => {
            let status = r.status.as_u16();
            let etag = r.headers.get("SIP-ETag").map(|v| v.to_string());
            agent.event(
                "response",
                serde_json::json!({"status": status, "reason": r.reason.to_string(), "etag": etag}),
                &format!(
                    "{status} {}{}",
                    r.reason,
                    etag.map(|e| format!(" (SIP-ETag {e})")).unwrap_or_default()
                ),
            );
            status_exit(status)
        }
        Err(e) => error_exit("publish", &e),
    };
    agent.ua.stop();
    code
}

pub(crate) fn run_transfer(args: &TransferArgs) -> ExitCode {
    run_on(transfer(args))
}

/// Blind transfer (RFC 5589 §6): call, REFER the peer to `--to`, report
/// the NOTIFYs, hang up once the transfer is done.
async fn transfer(args: &TransferArgs) -> ExitCode {
    let target = match parse_uri("target", &args.uri) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let to = match parse_uri("--to", &args.to) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&target)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut media =
        match sipline_ua::media::CallMedia::bind(sipline_ua::media::MediaOptions::new(agent.ip))
            .await
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("sipline transfer: {e}");
                return ExitCode::from(exit::TRANSPORT);
            }
        };
    let mut call = match agent.ua.call(target.clone(), Some(media.offer())).await {
        Ok(c) => c,
        Err(e) => return error_exit("transfer", &e),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let mut outcome: Option<u16> = None;
    let code = loop {
        let ev = tokio::select! {
            ev = call.next_event() => ev,
            () = tokio::time::sleep_until(deadline) => {
                let _ = call.hangup().await;
                outcome.get_or_insert(408);
                continue;
            }
        };
        let Some(ev) = ev else {
            break ExitCode::from(exit::FAILURE);
        };
        match ev {
            CallEvent::Answered { body, .. } => {
                if let Some(b) = body.filter(|b| b.is_sdp()) {
                    if media.accept_answer(&b).is_ok() {
                        let _ = media.start();
                    }
                }
                agent.event(
                    "answered",
                    serde_json::json!({}),
                    &format!("{target} answered; referring to {to}"),
                );
                if let Err(e) = call.transfer(to.clone(), None).await {
                    eprintln!("sipline transfer: {e}");
                    let _ = call.hangup().await;
                }
            }
            CallEvent::Response {
                status, response, ..
            } if response
                .headers
                .get("CSeq")
                .is_some_and(|c| c.contains("REFER")) =>
            {
                agent.event(
                    "refer-response",
                    serde_json::json!({"status": status}),
                    &format!("REFER answered {status}"),
                );
                if status >= 300 {
                    outcome = Some(status);
                    let _ = call.hangup().await;
                }
            }
            CallEvent::TransferProgress { status, done } => {
                agent.event(
                    "transfer",
                    serde_json::json!({"status": status, "done": done}),
                    &format!("transfer: {status}{}", if done { " (done)" } else { "" }),
                );
                if done {
                    outcome = Some(status);
                    // RFC 5589 §6: the transferor ends its call.
                    let _ = call.hangup().await;
                }
            }
            CallEvent::Ended { reason } => {
                agent.event(
                    "ended",
                    serde_json::json!({"reason": format!("{reason:?}")}),
                    &format!("call ended: {reason:?}"),
                );
                break match (outcome, reason) {
                    (Some(s), _) => status_exit(s),
                    (None, EndReason::Rejected { status, .. }) => status_exit(status),
                    (None, _) => ExitCode::from(exit::FAILURE),
                };
            }
            _ => {}
        }
    };
    let _ = media.stop().await;
    agent.ua.stop();
    code
}
