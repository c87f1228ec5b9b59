//! `sipline call URI`: dial, show progress, play and record audio, hang up
//! after `--duration` or on Ctrl-C. And `sipline answer`: wait for calls
//! and answer, reject or redirect them.

use super::agent::{error_exit, exit, parse_uri, status_exit, Agent, Common};
use sipline_media::{wav, Codec, Source};
use sipline_ua::media::{CallMedia, MediaOptions};
use sipline_ua::{Body, Call, CallEvent, Either, EndReason, IncomingCall};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a call sends and keeps.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct MediaArgs {
    /// Send this WAV file (8 kHz mono, 16-bit PCM or G.711) once.
    #[arg(long, conflicts_with = "tone")]
    play: Option<PathBuf>,
    /// Send a sine tone of this frequency (Hz); default: silence.
    #[arg(long)]
    tone: Option<f64>,
    /// Write the audio received to this WAV file (8 kHz mono).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Codecs to offer or accept, in order: pcmu, pcma.
    #[arg(long, value_delimiter = ',', default_value = "pcmu,pcma")]
    codec: Vec<String>,
    /// Use this SDP file as our offer or answer instead of sipline's own
    /// media (no RTP is sent then).
    #[arg(long)]
    sdp: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CallArgs {
    /// Who to call, e.g. sip:bob@example.com.
    uri: String,
    /// Hang up this many seconds after the answer (default: wait for the
    /// other side or Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Send these DTMF digits once answered, 250 ms apart.
    #[arg(long)]
    dtmf: Option<String>,
    /// How DTMF is sent: rfc4733 (RTP telephone-events) or info (SIP INFO
    /// with an application/dtmf-relay body, RFC 6086 style).
    #[arg(long, value_parser = ["rfc4733", "info"], default_value = "rfc4733")]
    dtmf_mode: String,
    /// Give up (CANCEL) if not answered within this many seconds.
    #[arg(long)]
    timeout: Option<f64>,
    #[command(flatten)]
    media: MediaArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AnswerArgs {
    /// Stop after this many calls (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Reject every call with this status (e.g. 486, 603).
    #[arg(long, conflicts_with = "redirect")]
    reject: Option<u16>,
    /// Redirect every call to this URI (302).
    #[arg(long)]
    redirect: Option<String>,
    /// Ring (180) this many seconds before answering.
    #[arg(long, default_value_t = 0.0)]
    ring: f64,
    /// Hang up this many seconds after answering (default: wait for BYE).
    #[arg(long)]
    duration: Option<f64>,
    /// Accept presence subscriptions (RFC 3856) and notify this status:
    /// open or closed. Other event packages get 489.
    #[arg(long, value_parser = ["open", "closed"])]
    presence: Option<String>,
    /// A note for the presence document.
    #[arg(long)]
    note: Option<String>,
    /// Register our listening address with this registrar first (and keep
    /// it registered), so that calls through a proxy reach us.
    #[arg(long)]
    register: Option<String>,
    /// Expiry of that registration, in seconds.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    #[command(flatten)]
    media: MediaArgs,
    #[command(flatten)]
    common: Common,
}

impl MediaArgs {
    fn options(&self, ip: std::net::IpAddr) -> Result<MediaOptions, String> {
        let mut o = MediaOptions::new(ip);
        o.codecs = self
            .codec
            .iter()
            .map(|c| Codec::from_name(c).ok_or_else(|| format!("unknown codec {c:?} (pcmu, pcma)")))
            .collect::<Result<_, _>>()?;
        if let Some(f) = self.tone {
            o.source = Source::Tone {
                freq_hz: f,
                amplitude: 8000,
            };
        }
        if let Some(p) = &self.play {
            let samples = wav::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            o.source = Source::Samples(Arc::new(samples));
        }
        o.record = self.record.is_some();
        Ok(o)
    }

    fn sdp_file(&self) -> Result<Option<Body>, String> {
        match &self.sdp {
            Some(p) => std::fs::read(p)
                .map(|b| Some(Body::sdp(b)))
                .map_err(|e| format!("{}: {e}", p.display())),
            None => Ok(None),
        }
    }
}

/// Our media for one call: sipline's own RTP, or a fixed SDP file.
enum Media {
    Rtp(Box<CallMedia>),
    Fixed(Body),
}

impl Media {
    async fn new(args: &MediaArgs, ip: std::net::IpAddr) -> Result<Media, String> {
        if let Some(b) = args.sdp_file()? {
            return Ok(Media::Fixed(b));
        }
        let o = args.options(ip)?;
        CallMedia::bind(o)
            .await
            .map(|m| Media::Rtp(Box::new(m)))
            .map_err(|e| e.to_string())
    }

    fn offer(&mut self) -> Body {
        match self {
            Media::Rtp(m) => m.offer(),
            Media::Fixed(b) => b.clone(),
        }
    }

    fn answer(&mut self, offer: &Body) -> Result<Body, String> {
        match self {
            Media::Rtp(m) => {
                let a = m.answer(offer).map_err(|e| e.to_string())?;
                m.start().map_err(|e| e.to_string())?;
                Ok(a)
            }
            Media::Fixed(b) => Ok(b.clone()),
        }
    }

    fn accept(&mut self, answer: &Body) -> Result<(), String> {
        if let Media::Rtp(m) = self {
            m.accept_answer(answer).map_err(|e| e.to_string())?;
            m.start().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn dtmf(&self, d: char) -> bool {
        matches!(self, Media::Rtp(m) if m.send_dtmf(d))
    }

    /// Stops RTP; prints statistics and writes the recording.
    async fn finish(self, agent: &Agent, record: Option<&PathBuf>) {
        let Media::Rtp(m) = self else { return };
        let Some(report) = m.stop().await else {
            return;
        };
        let s = &report.stats;
        agent.event(
            "media",
            serde_json::json!({
                "packets_sent": s.packets_sent,
                "packets_received": s.packets_received,
                "lost": s.lost,
                "jitter": s.jitter,
                "dtmf_received": s.dtmf_received.iter().collect::<String>(),
            }),
            &format!(
                "media: {} RTP packets sent, {} received, {} lost{}",
                s.packets_sent,
                s.packets_received,
                s.lost,
                if s.dtmf_received.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", DTMF received {}",
                        s.dtmf_received.iter().collect::<String>()
                    )
                }
            ),
        );
        if let Some(p) = record {
            if let Err(e) = wav::write(p, &report.received_samples) {
                eprintln!("sipline: {}: {e}", p.display());
            }
        }
    }
}

fn body_sdp(b: &Option<Body>) -> Option<&Body> {
    b.as_ref().filter(|b| b.is_sdp())
}

fn describe_end(reason: &EndReason) -> String {
    match reason {
        EndReason::Rejected { status, reason } => format!("{status} {reason}"),
        other => format!("{other:?}"),
    }
}

pub(crate) fn run_call(args: &CallArgs) -> ExitCode {
    super::agent::run_on(call(args))
}

async fn call(args: &CallArgs) -> ExitCode {
    let target = match parse_uri("target", &args.uri) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let (agent, _incoming) = match args.common.start(Some(&target)).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut media = match Media::new(&args.media, agent.ip).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sipline call: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let offer = media.offer();
    let mut call = match agent.ua.call(target.clone(), Some(offer)).await {
        Ok(c) => c,
        Err(e) => return error_exit("call", &e),
    };
    agent.event(
        "calling",
        serde_json::json!({ "uri": target.to_string() }),
        &format!("calling {target}"),
    );
    let forever = Instant::now() + Duration::from_secs(86400 * 365);
    let mut hangup_at = args
        .timeout
        .map_or(forever, |t| Instant::now() + Duration::from_secs_f64(t));
    let mut answered = false;
    let mut interrupted = false;
    let code = loop {
        tokio::select! {
            ev = call.next_event() => {
                let Some(ev) = ev else { break ExitCode::from(exit::FAILURE) };
                match ev {
                    CallEvent::Progress { status, reason, body } => {
                        agent.event("progress", serde_json::json!({"status": status, "reason": reason}), &format!("{status} {reason}"));
                        if let Some(b) = body_sdp(&body) {
                            let _ = media.accept(b);
                        }
                    }
                    CallEvent::Answered { status, body, needs_ack } => {
                        answered = true;
                        agent.event("answered", serde_json::json!({"status": status}), &format!("{status} answered"));
                        if let Some(b) = body_sdp(&body) {
                            if needs_ack {
                                match media.answer(b) {
                                    Ok(a) => { let _ = call.ack(Some(a)).await; }
                                    Err(e) => { eprintln!("sipline call: {e}"); let _ = call.ack(None).await; }
                                }
                            } else if let Err(e) = media.accept(b) {
                                eprintln!("sipline call: {e}");
                            }
                        }
                        hangup_at = args.duration.map_or(forever, |d| Instant::now() + Duration::from_secs_f64(d));
                        if let Some(digits) = args.dtmf.clone() {
                            if args.dtmf_mode == "info" {
                                send_digits_info(&call, &digits).await;
                            } else {
                                send_digits(&media, &digits).await;
                            }
                        }
                    }
                    CallEvent::Offer { body, .. } => {
                        let answer = match body_sdp(&body) { Some(b) => media.answer(b).ok(), None => Some(media.offer()) };
                        let status = if answer.is_some() { 200 } else { 488 };
                        let _ = call.respond_offer(status, answer).await;
                    }
                    CallEvent::Request { request } => {
                        agent.event("request", serde_json::json!({"method": request.method.to_string()}), &format!("{} received", request.method));
                    }
                    CallEvent::Redirected { status, target } => {
                        agent.event("redirected", serde_json::json!({"status": status, "target": target.to_string()}), &format!("{status}: calling {target}"));
                    }
                    CallEvent::Ended { reason } => {
                        agent.event("ended", serde_json::json!({"reason": describe_end(&reason)}), &format!("call ended: {}", describe_end(&reason)));
                        break end_code(&reason, answered, interrupted);
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(hangup_at) => {
                hangup_at = forever;
                let _ = call.hangup().await;
            }
            _ = tokio::signal::ctrl_c() => {
                if interrupted { break ExitCode::from(exit::FAILURE) }
                interrupted = true;
                let _ = call.hangup().await;
            }
        }
    };
    media.finish(&agent, args.media.record.as_ref()).await;
    agent.ua.stop();
    code
}

async fn send_digits(media: &Media, digits: &str) {
    for d in digits.chars() {
        if !media.dtmf(d) {
            eprintln!("sipline: cannot send DTMF {d:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// DTMF in SIP INFO requests in the dialog (RFC 6086 §5; the widely
/// deployed application/dtmf-relay body).
async fn send_digits_info(call: &Call, digits: &str) {
    for d in digits.chars() {
        let body = Body {
            content_type: "application/dtmf-relay".into(),
            data: format!("Signal={d}\r\nDuration=160\r\n").into(),
        };
        if call
            .send(sipline_ua::Method::Info, Some(body), vec![])
            .await
            .is_err()
        {
            eprintln!("sipline: cannot send INFO for DTMF {d:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn end_code(reason: &EndReason, answered: bool, interrupted: bool) -> ExitCode {
    match reason {
        EndReason::Rejected { status, .. } => status_exit(*status),
        EndReason::Timeout if !answered => ExitCode::from(exit::TIMEOUT),
        EndReason::TransportError | EndReason::NoRoute => ExitCode::from(exit::TRANSPORT),
        _ if answered => ExitCode::SUCCESS,
        _ if interrupted => ExitCode::from(exit::FAILURE),
        _ => ExitCode::from(exit::FAILURE),
    }
}

pub(crate) fn run_answer(args: &AnswerArgs) -> ExitCode {
    super::agent::run_on(answer(args))
}

async fn answer(args: &AnswerArgs) -> ExitCode {
    let redirect = match &args.redirect {
        Some(r) => match parse_uri("redirect", r) {
            Ok(u) => Some(u),
            Err(c) => return c,
        },
        None => None,
    };
    let registrar = match &args.register {
        Some(r) => match parse_uri("registrar", r) {
            Ok(u) => Some(u),
            Err(c) => return c,
        },
        None => None,
    };
    let (agent, mut incoming) = match args.common.start(registrar.as_ref()).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    for (t, a) in agent.ua.listeners() {
        agent.event(
            "listening",
            serde_json::json!({"transport": t.to_string(), "address": a.to_string()}),
            &format!("listening on {t} {a}"),
        );
    }
    // RFC 3261 §10.2: bind our Contact before taking calls.
    let _registration = match registrar {
        Some(r) => match register_first(&agent, r, args.expires).await {
            Ok(reg) => Some(reg),
            Err(code) => return code,
        },
        None => None,
    };
    let agent = Arc::new(agent);
    let mut taken = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = false;
    loop {
        if args.count.is_some_and(|n| taken >= n) {
            break;
        }
        tokio::select! {
            next = incoming.next() => {
                match next {
                    Some(Either::Call(inc)) => {
                        taken += 1;
                        let n = taken;
                        let agent = Arc::clone(&agent);
                        let media = args.media.clone();
                        let plan = Plan { reject: args.reject, redirect: redirect.clone(), ring: args.ring, duration: args.duration, many: args.count != Some(1) };
                        tasks.spawn(async move { handle_call(&agent, inc, n, &media, &plan).await });
                    }
                    Some(Either::Subscription(sub)) => {
                        let agent = Arc::clone(&agent);
                        let presence = args.presence.clone().map(|p| (p == "open", args.note.clone()));
                        tokio::spawn(async move { serve_subscription(&agent, sub, presence).await });
                    }
                    Some(Either::Request(req)) => {
                        let text = String::from_utf8_lossy(&req.request.body).to_string();
                        agent.event("request", serde_json::json!({"method": req.request.method.to_string(), "body": text}), &format!("{} received: {text}", req.request.method));
                        let _ = req.respond(200, None).await;
                    }
                    None => break,
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                failed |= !done.unwrap_or(false);
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    while let Some(done) = tasks.join_next().await {
        failed |= !done.unwrap_or(false);
    }
    agent.ua.stop();
    if failed {
        ExitCode::from(exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

async fn register_first(
    agent: &Agent,
    registrar: sipline_ua::Uri,
    expires: u32,
) -> Result<sipline_ua::Registration, ExitCode> {
    let mut reg = agent
        .ua
        .register(registrar.clone(), expires)
        .await
        .map_err(|e| error_exit("answer", &e))?;
    match reg.next_event().await {
        Some(sipline_ua::RegistrationEvent::Registered { expires, .. }) => {
            agent.event(
                "registered",
                serde_json::json!({"registrar": registrar.to_string(), "expires": expires}),
                &format!("registered at {registrar} for {expires} s"),
            );
            Ok(reg)
        }
        Some(sipline_ua::RegistrationEvent::Failed { status, reason, .. }) => {
            eprintln!("sipline answer: registration failed: {status} {reason}");
            Err(status_exit(status))
        }
        _ => Err(ExitCode::from(exit::FAILURE)),
    }
}

/// Notifier side of one subscription (RFC 6665 §4.2, RFC 3856).
async fn serve_subscription(
    agent: &Agent,
    sub: sipline_ua::IncomingSubscription,
    presence: Option<(bool, Option<String>)>,
) {
    let event = sub
        .request
        .headers
        .get("Event")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let package = event
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((open, note)) = presence.filter(|_| package == "presence") else {
        // RFC 6665 §4.2.1.1: an event package we do not serve.
        let _ = sub.reject(489).await;
        return;
    };
    let expires = sub
        .request
        .headers
        .get("Expires")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(3600u32);
    let entity = sub.request.uri.to_string();
    let mut s = match sub.accept(expires, 200).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipline answer: {e}");
            return;
        }
    };
    let mut doc = sipline_ua::presence::Presence::new(entity, open);
    doc.note = note;
    agent.event(
        "subscription",
        serde_json::json!({"event": package, "expires": expires}),
        &format!("presence subscription for {expires} s"),
    );
    // §4.2.1.2: the first NOTIFY goes out at once.
    let _ = s
        .notify(sipline_ua::SubscriptionState::Active, Some(doc.to_body()))
        .await;
    while let Some(ev) = s.next_event().await {
        if let sipline_ua::SubscriptionEvent::Terminated { reason } = ev {
            agent.event(
                "subscription-ended",
                serde_json::json!({"reason": reason}),
                "presence subscription ended",
            );
            break;
        }
    }
}

/// Transferee side (RFC 3515 §2.4.4): call the Refer-To target and report
/// its progress to the transferor as sipfrag NOTIFYs.
async fn follow_refer(
    agent: &Agent,
    original: &Call,
    target: sipline_ua::Uri,
    referred_by: Option<String>,
    args: &MediaArgs,
) -> Option<(Call, Media)> {
    agent.event(
        "refer",
        serde_json::json!({"target": target.to_string()}),
        &format!("transferred to {target}"),
    );
    let mut media = Media::new(args, agent.ip).await.ok()?;
    let mut headers = Vec::new();
    if let Some(by) = referred_by {
        headers.push(("Referred-By".to_string(), by));
    }
    let offer = media.offer();
    let Ok(mut call) = agent.ua.call_with(target, Some(offer), headers).await else {
        let _ = original.transfer_progress(503).await;
        return None;
    };
    loop {
        match call.next_event().await? {
            CallEvent::Progress { status, body, .. } => {
                let _ = original.transfer_progress(status).await;
                if let Some(b) = body_sdp(&body) {
                    let _ = media.accept(b);
                }
            }
            CallEvent::Answered { status, body, .. } => {
                if let Some(b) = body_sdp(&body) {
                    let _ = media.accept(b);
                }
                let _ = original.transfer_progress(status).await;
                return Some((call, media));
            }
            CallEvent::Ended { reason } => {
                let status = match reason {
                    EndReason::Rejected { status, .. } => status,
                    EndReason::Timeout => 408,
                    _ => 500,
                };
                let _ = original.transfer_progress(status).await;
                return None;
            }
            _ => {}
        }
    }
}

struct Plan {
    reject: Option<u16>,
    redirect: Option<sipline_ua::Uri>,
    ring: f64,
    duration: Option<f64>,
    many: bool,
}

/// Handles one incoming call; true if it went as planned.
async fn handle_call(
    agent: &Agent,
    inc: IncomingCall,
    n: u64,
    args: &MediaArgs,
    plan: &Plan,
) -> bool {
    let IncomingCall { call, request } = inc;
    let from = request
        .headers
        .get("From")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let referred_by = request.headers.get("Referred-By").map(|v| v.to_string());
    agent.event(
        "incoming",
        serde_json::json!({"call": n, "from": from, "uri": request.uri.to_string(), "referred_by": referred_by}),
        &format!("call {n} from {from}"),
    );
    if let Some(code) = plan.reject {
        return call.reject(code).await.is_ok();
    }
    if let Some(to) = &plan.redirect {
        return call.redirect(vec![to.clone()]).await.is_ok();
    }
    let mut media = match Media::new(args, agent.ip).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sipline answer: {e}");
            let _ = call.reject(500).await;
            return false;
        }
    };
    let offer = (!request.body.is_empty()).then(|| Body::sdp(request.body.clone()));
    let answer = match &offer {
        Some(o) => match media.answer(o) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("sipline answer: {e}");
                let _ = call.reject(488).await;
                return false;
            }
        },
        None => media.offer(),
    };
    if plan.ring > 0.0 {
        let _ = call.ring(180, None).await;
        tokio::time::sleep(Duration::from_secs_f64(plan.ring)).await;
    }
    if call.answer(Some(answer)).await.is_err() {
        return false;
    }
    agent.event(
        "answered",
        serde_json::json!({"call": n}),
        &format!("call {n} answered"),
    );
    let ok = run_answered(
        agent,
        call,
        &mut media,
        offer.is_none(),
        n,
        plan.duration,
        args,
    )
    .await;
    let record = args
        .record
        .as_ref()
        .map(|p| if plan.many { numbered(p, n) } else { p.clone() });
    media.finish(agent, record.as_ref()).await;
    ok
}

fn numbered(p: &std::path::Path, n: u64) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "wav".into());
    p.with_file_name(format!("{stem}-{n}.{ext}"))
}

async fn run_answered(
    agent: &Agent,
    mut call: Call,
    media: &mut Media,
    answer_in_ack: bool,
    n: u64,
    duration: Option<f64>,
    media_args: &MediaArgs,
) -> bool {
    let forever = Instant::now() + Duration::from_secs(86400 * 365);
    let mut hangup_at = duration.map_or(forever, |d| Instant::now() + Duration::from_secs_f64(d));
    let mut transferred: Option<(Call, Media)> = None;
    loop {
        tokio::select! {
            ev = call.next_event() => {
                let Some(ev) = ev else { return false };
                match ev {
                    CallEvent::Confirmed { body } if answer_in_ack => {
                        if let Some(b) = body_sdp(&body) { let _ = media.accept(b); }
                    }
                    CallEvent::Offer { body, .. } => {
                        let answer = match body_sdp(&body) { Some(b) => media.answer(b).ok(), None => Some(media.offer()) };
                        let status = if answer.is_some() { 200 } else { 488 };
                        let _ = call.respond_offer(status, answer).await;
                    }
                    CallEvent::Request { request } => {
                        let body = String::from_utf8_lossy(&request.body).to_string();
                        agent.event("request", serde_json::json!({"call": n, "method": request.method.to_string(), "body": body}), &format!("call {n}: {} received {}", request.method, body.trim()));
                    }
                    CallEvent::Refer { target, referred_by, .. } => {
                        transferred = follow_refer(agent, &call, target, referred_by, media_args).await;
                    }
                    CallEvent::Ended { reason } => {
                        agent.event("ended", serde_json::json!({"call": n, "reason": describe_end(&reason)}), &format!("call {n} ended: {}", describe_end(&reason)));
                        if let Some((mut t, m)) = transferred.take() {
                            // Stay on the transferred call until it ends.
                            while let Some(ev) = t.next_event().await {
                                if let CallEvent::Ended { reason } = ev {
                                    agent.event("ended", serde_json::json!({"call": n, "transferred": true, "reason": describe_end(&reason)}), &format!("transferred call ended: {}", describe_end(&reason)));
                                    break;
                                }
                            }
                            m.finish(agent, None).await;
                        }
                        return matches!(reason, EndReason::RemoteBye | EndReason::LocalBye);
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(hangup_at) => {
                hangup_at = forever;
                let _ = call.hangup().await;
            }
        }
    }
}
