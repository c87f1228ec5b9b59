//! `sipline register REGISTRAR` and `sipline message URI TEXT`.

use super::agent::{error_exit, exit, parse_uri, status_exit, Common};
use sipline_ua::{Body, Method, RegistrationEvent};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub(crate) struct RegisterArgs {
    /// The registrar, e.g. sip:example.com or sip:127.0.0.1:5060.
    registrar: String,
    /// Expiry asked for, in seconds (RFC 3261 §10.2.1.1).
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// Exit once registered, leaving the binding in place.
    #[arg(long, conflicts_with = "duration")]
    once: bool,
    /// Stay registered this many seconds (refreshing), then remove the
    /// binding and exit. Default: until Ctrl-C.
    #[arg(long)]
    duration: Option<f64>,
    /// Keep retrying after failures (with back-off) instead of exiting.
    #[arg(long)]
    keep_trying: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
pub(crate) struct MessageArgs {
    /// The recipient, e.g. sip:bob@example.com.
    uri: String,
    /// The text to send.
    text: String,
    /// Content-Type of the text.
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn run_register(args: &RegisterArgs) -> ExitCode {
    super::agent::run_on(register(args))
}

async fn register(args: &RegisterArgs) -> ExitCode {
    let registrar = match parse_uri("registrar", &args.registrar) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&registrar)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut reg = match agent.ua.register(registrar.clone(), args.expires).await {
        Ok(r) => r,
        Err(e) => return error_exit("register", &e),
    };
    let forever = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    let mut stop_at = forever;
    let mut removing = false;
    let code = loop {
        tokio::select! {
            ev = reg.next_event() => {
                let Some(ev) = ev else { break ExitCode::from(exit::FAILURE) };
                match ev {
                    RegistrationEvent::Registered {
                        expires, contacts, ..
                    } => {
                        agent.event(
                            "registered",
                            serde_json::json!({"expires": expires, "contacts": contacts}),
                            &format!("registered at {registrar} for {expires} s; bindings: {}", contacts.join(", ")),
                        );
                        if args.once {
                            break ExitCode::SUCCESS;
                        }
                        if stop_at == forever {
                            if let Some(d) = args.duration {
                                stop_at = tokio::time::Instant::now() + Duration::from_secs_f64(d);
                            }
                        }
                    }
                    RegistrationEvent::Failed { status, reason, retry_in } => {
                        agent.event(
                            "failed",
                            serde_json::json!({"status": status, "reason": reason, "retry_in": retry_in.map(|d| d.as_secs_f64())}),
                            &format!("registration failed: {status} {reason}"),
                        );
                        if removing || !args.keep_trying || retry_in.is_none() {
                            break status_exit(status);
                        }
                    }
                    RegistrationEvent::Unregistered => {
                        agent.event("unregistered", serde_json::json!({}), "unregistered");
                        break ExitCode::SUCCESS;
                    }
                }
            }
            () = tokio::time::sleep_until(stop_at), if !removing => {
                removing = true;
                let _ = reg.unregister().await;
            }
            _ = tokio::signal::ctrl_c(), if !removing => {
                removing = true;
                let _ = reg.unregister().await;
            }
        }
    };
    agent.ua.stop();
    code
}

pub(crate) fn run_message(args: &MessageArgs) -> ExitCode {
    super::agent::run_on(message(args))
}

async fn message(args: &MessageArgs) -> ExitCode {
    let target = match parse_uri("target", &args.uri) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&target)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let body = Body {
        content_type: args.content_type.clone(),
        data: args.text.clone().into(),
    };
    // RFC 3428 §4: MESSAGE outside a dialog, like any non-INVITE request.
    let code = match agent
        .ua
        .request(Method::Message, target, Some(body), vec![])
        .await
    {
        Ok(r) => {
            let status = r.status.as_u16();
            agent.event(
                "response",
                serde_json::json!({"status": status, "reason": r.reason.to_string()}),
                &format!("{status} {}", r.reason),
            );
            status_exit(status)
        }
        Err(e) => error_exit("message", &e),
    };
    agent.ua.stop();
    code
}
