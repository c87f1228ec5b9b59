//! The server's driver: one task owns the transaction table and the
//! registrar state and reacts to what the transport, the clock and the
//! background work (durable commits, sends that open connections) report.
//! It never waits on I/O itself: the only awaits in the loop are the select
//! and UDP sends.

use super::config::{Config, Mode};
use sipline_auth::{Credential, DigestServer, DigestServerConfig, Verdict};
use sipline_message::header::StdHeader;
use sipline_message::uri::{Host, Uri};
use sipline_message::{Message, Method, Request, StatusCode, Transport};
use sipline_registrar::{
    Binding, LocationStore, RedbStore, RegisterContext, RegisterOutcome, Registrar,
    RegistrarConfig, Source, StoreError,
};
use sipline_transaction::{
    Config as TimerConfig, Event, Received, TransactionId, Transactions, Transmit,
};
use sipline_transport::{
    Destination, Incoming, ListenSpec, PemSource, TlsServerConfig, TransportConfig, TransportEvent,
    TransportLayer,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Work finished in the background, reported back to the driver.
enum Done {
    /// A REGISTER's changes are durably stored (or failed).
    Registered {
        tx: TransactionId,
        aor: String,
        outcome: Box<RegisterOutcome>,
        result: Result<Vec<Binding>, StoreError>,
    },
    /// A send that had to open a connection failed.
    SendFailed { tx: TransactionId },
}

/// A REGISTER waiting for an earlier one of the same AOR to be committed
/// (RFC 3261 §10.3 step 7 reads then writes the bindings: one at a time per AOR).
struct Queued {
    tx: TransactionId,
    request: Message,
    source: Source,
}

struct Server {
    cfg: Config,
    table: Transactions<Destination>,
    layer: TransportLayer,
    registrar: Registrar,
    store: Arc<RedbStore>,
    auth: Option<DigestServer>,
    users: HashMap<String, Credential>,
    /// Our own addresses: a URI naming one of them names this server.
    local: Vec<SocketAddr>,
    done_tx: mpsc::UnboundedSender<Done>,
    busy: HashMap<String, VecDeque<Queued>>,
    /// In-order send queues for stream destinations.
    queues: HashMap<(Transport, SocketAddr), mpsc::UnboundedSender<Transmit<Destination>>>,
    shutting_down: Option<Instant>,
}

pub(crate) async fn run(cfg: Config) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("data directory {}: {e}", cfg.data_dir.display()))?;
    let store = Arc::new(
        RedbStore::open(&cfg.data_dir)
            .map_err(|e| format!("location store in {}: {e}", cfg.data_dir.display()))?,
    );
    let tc = TransportConfig {
        listen: cfg
            .listen
            .iter()
            .map(|l| ListenSpec {
                transport: l.transport,
                addr: l.addr,
            })
            .collect(),
        tls: cfg.tls.as_ref().map(|(cert, key)| TlsServerConfig {
            cert_chain: PemSource::File(cert.clone()),
            private_key: PemSource::File(key.clone()),
        }),
        max_message_size: cfg.max_message_size,
        max_connections: cfg.max_connections,
        idle_timeout: cfg.idle_timeout,
        ..TransportConfig::default()
    };
    let (layer, mut incoming) = TransportLayer::start(tc).map_err(|e| format!("listen: {e}"))?;
    let listeners = layer.listeners();
    let names: Vec<String> = listeners
        .iter()
        .map(|(t, a)| format!("{}:{a}", t.as_str().to_ascii_lowercase()))
        .collect();
    // The banner must not kill the server when nobody reads standard output.
    use std::io::Write as _;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "sipline serve: listening on {}", names.join(", "));
    let _ = writeln!(
        out,
        "sipline serve: mode {}, domains [{}], location store {}",
        match cfg.mode {
            Mode::Proxy => "proxy",
            Mode::Redirect => "redirect",
        },
        cfg.domains.join(", "),
        cfg.data_dir.display()
    );
    let _ = out.flush();
    info!(
        "record-route {}, {} forking, branch timeout {:?}",
        cfg.record_route,
        if cfg.sequential_forking {
            "sequential"
        } else {
            "parallel"
        },
        cfg.branch_timeout
    );
    for r in &cfg.routes {
        let hops: Vec<String> = r.next_hops.iter().map(ToString::to_string).collect();
        info!(
            "static route: {} -> {}{}",
            r.prefix
                .as_ref()
                .map(|p| format!("user prefix {p}"))
                .or_else(|| r.domain.as_ref().map(|d| format!("domain {d}")))
                .unwrap_or_default(),
            hops.join(", "),
            if r.permanent { " (permanent)" } else { "" }
        );
    }
    let auth = if cfg.users.is_empty() {
        eprintln!(
            "sipline serve: WARNING: no users are configured, so this server runs OPEN: \
             anyone who reaches it can register any address and call through it. \
             Add [[auth.users]] to the config or --user NAME:PASSWORD."
        );
        None
    } else {
        let realm = cfg.realm.clone().unwrap_or_else(|| "sipline".into());
        let mut secret = [0u8; 32];
        // The nonce key: random per start, so nonces from before a restart
        // are answered with a fresh challenge.
        for b in &mut secret {
            *b = rand::random();
        }
        let mut c = DigestServerConfig::new(realm, secret);
        c.nonce_lifetime = cfg.nonce_lifetime;
        c.algorithms = cfg.algorithms.clone();
        Some(DigestServer::new(c).map_err(|e| format!("auth: {e}"))?)
    };
    let users = cfg
        .users
        .iter()
        .map(|u| (u.name.clone(), u.secret.clone()))
        .collect();
    let registrar = Registrar::new(RegistrarConfig {
        default_expires: cfg.default_expires,
        min_expires: cfg.min_expires,
        max_expires: cfg.max_expires,
        ..RegistrarConfig::default()
    });
    let timers = TimerConfig {
        t1: cfg.t1,
        t2: cfg.t2,
        t4: cfg.t4,
        timer_c: cfg.timer_c,
        ..TimerConfig::default()
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut transport_events = layer.subscribe();
    let mut server = Server {
        local: listeners.iter().map(|(_, a)| *a).collect(),
        cfg,
        table: Transactions::new(timers),
        layer,
        registrar,
        store,
        auth,
        users,
        done_tx,
        busy: HashMap::new(),
        queues: HashMap::new(),
        shutting_down: None,
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("signal handler: {e}"))?;
    let purge_every = std::time::Duration::from_secs(30);
    let mut next_purge = Instant::now() + purge_every;
    loop {
        server.flush().await;
        if let Some(deadline) = server.shutting_down {
            if (server.table.is_empty() && server.busy.is_empty()) || Instant::now() >= deadline {
                break;
            }
        }
        let mut wake = server
            .table
            .poll_timeout()
            .unwrap_or(next_purge)
            .min(next_purge);
        if let Some(d) = server.shutting_down {
            wake = wake.min(d);
        }
        tokio::select! {
            m = incoming.recv() => match m {
                Some(m) => server.on_incoming(m),
                None => break,
            },
            Some(d) = done_rx.recv() => server.on_done(d),
            ev = transport_events.recv() => {
                if let Ok(TransportEvent::ConnectionClosed { transport, remote, reason, .. }) = ev {
                    debug!("{transport} connection with {remote} closed: {reason:?}");
                    server.queues.remove(&(transport, remote));
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                server.table.handle_timeout(now);
                if now >= next_purge {
                    next_purge = now + purge_every;
                    server.purge();
                }
            }
            _ = tokio::signal::ctrl_c(), if server.shutting_down.is_none() => server.begin_shutdown(),
            _ = sigterm.recv(), if server.shutting_down.is_none() => server.begin_shutdown(),
        }
    }
    server.layer.shutdown();
    info!(
        "stopped; {} transactions were still open",
        server.table.len()
    );
    // Dropping the store waits for its writer: every acknowledged binding is on disk.
    drop(server);
    Ok(())
}

impl Server {
    fn begin_shutdown(&mut self) {
        info!(
            "shutting down: no new requests; waiting up to {:?} for {} transactions",
            self.cfg.shutdown_grace,
            self.table.len()
        );
        self.shutting_down = Some(Instant::now() + self.cfg.shutdown_grace);
    }

    fn purge(&mut self) {
        match self.store.purge_expired(sipline_registrar::unix_now()) {
            Ok(0) => {}
            Ok(n) => debug!("purged {n} expired bindings"),
            Err(e) => warn!("purging expired bindings: {e}"),
        }
    }

    /// Sends what the transactions have to send and handles their events.
    async fn flush(&mut self) {
        while let Some(t) = self.table.poll_transmit() {
            if t.destination.transport == Transport::Udp {
                if let Err(e) = self
                    .layer
                    .send_transmit(&t.destination, t.message, t.retransmission)
                    .await
                {
                    debug!("send to {}: {e}", t.destination.addr);
                    self.table
                        .handle_transport_error(Instant::now(), t.transaction);
                }
            } else {
                // May open a connection, so not in this loop; one queue per
                // destination keeps its messages in order (a 100 before its 200).
                let key = (t.destination.transport, t.destination.addr);
                let layer = &self.layer;
                let done = &self.done_tx;
                let queue = self
                    .queues
                    .entry(key)
                    .or_insert_with(|| send_queue(layer.clone(), done.clone()));
                if queue.send(t).is_err() {
                    self.queues.remove(&key);
                }
            }
        }
        while let Some(e) = self.table.poll_event() {
            match e {
                Event::Terminated { .. } | Event::Response { .. } => {}
                other => debug!("transaction event: {other:?}"),
            }
        }
    }

    fn on_done(&mut self, d: Done) {
        match d {
            Done::Registered {
                tx,
                aor,
                mut outcome,
                result,
            } => {
                match result {
                    Ok(bindings) => {
                        outcome.set_bindings(sipline_registrar::unix_now(), bindings);
                        let response = outcome.response;
                        self.respond(tx, response);
                    }
                    Err(e) => {
                        warn!("storing the bindings of {aor}: {e}");
                        self.reply(tx, 500, Some("Location store failure"));
                    }
                }
                self.release(&aor);
            }
            Done::SendFailed { tx } => self.table.handle_transport_error(Instant::now(), tx),
        }
    }

    fn on_incoming(&mut self, inc: Incoming) {
        let now = Instant::now();
        let mut dest = match inc.message.top_via() {
            Ok(via) => sipline_transport::response_destination(
                &via,
                inc.transport,
                inc.source,
                inc.connection,
            )
            .unwrap_or_else(|_| Destination::new(inc.transport, inc.source)),
            Err(_) => Destination::new(inc.transport, inc.source),
        };
        dest.local = Some(inc.local);
        if !inc.message.is_request() {
            // No client transactions yet: responses have nowhere to go.
            let _ = self.table.handle_response(now, inc.message);
            return;
        }
        // RFC 3261 §8.2 / §16.3 step 1: what a transaction needs must be there.
        if let Err(e) = inc.message.validate(false) {
            debug!("{}: {e}", inc.source);
            self.reply_stateless(&inc.message, dest, e.status_code(), &e.reason_phrase());
            return;
        }
        let source = Source {
            transport: inc.transport.as_str().to_string(),
            remote: inc.source.to_string(),
            local: Some(inc.local.to_string()),
            connection: inc.connection.map(|c| c.0.to_string()),
        };
        let reliable = inc.transport.is_reliable();
        match self
            .table
            .handle_request(now, inc.message, dest.clone(), reliable)
        {
            Received::New {
                transaction,
                request,
                ..
            } => self.on_request(transaction, request, source),
            Received::Cancel {
                transaction,
                invite,
                ..
            } => {
                // §9.2: 200 to the CANCEL; with nothing to cancel, 481.
                let code = if invite.is_some() { 200 } else { 481 };
                self.reply(transaction, code, None);
            }
            Received::Invalid(m) => {
                self.reply_stateless(&m, dest, 400, "Bad Request (no Via branch or CSeq)")
            }
            Received::StrayAck(_)
            | Received::Ack { .. }
            | Received::Retransmission { .. }
            | Received::AckAbsorbed { .. } => {}
        }
    }

    fn on_request(&mut self, tx: TransactionId, request: Message, source: Source) {
        if self.shutting_down.is_some() {
            self.reply(tx, 503, Some("Shutting Down"));
            return;
        }
        let Some(req) = request.as_request() else {
            return;
        };
        let for_us = self.is_for_us(&req.uri);
        match &req.method {
            Method::Register if for_us => self.register(tx, request, source),
            Method::Options if for_us && req.uri.as_sip().is_some_and(|s| s.user.is_none()) => {
                self.respond(tx, self.options_ok(req))
            }
            _ => {
                // The proxy core is not wired in yet.
                self.reply(tx, 501, Some("Not Implemented (proxying comes next)"));
            }
        }
    }

    /// True if `uri` names this server: one of its domains, or one of the
    /// addresses it listens on (with or without the port).
    fn is_for_us(&self, uri: &Uri) -> bool {
        let Some(sip) = uri.as_sip() else {
            return false;
        };
        match &sip.host {
            Host::Domain(d) => {
                self.cfg.domains.iter().any(|x| x.eq_ignore_ascii_case(d))
                    && sip
                        .port
                        .is_none_or(|p| self.local.iter().any(|a| a.port() == p))
            }
            Host::Ipv4(ip) => self.names_us(IpAddr::V4(*ip), sip.port),
            Host::Ipv6(ip) => self.names_us(IpAddr::V6(*ip), sip.port),
        }
    }

    fn names_us(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.local.iter().any(|a| {
            (a.ip() == ip || a.ip().is_unspecified()) && port.is_none_or(|p| p == a.port())
        })
    }

    fn options_ok(&self, req: &Request) -> Message {
        let mut r = sipline_message::builder::response_to(req, StatusCode::OK, Some(&tag()));
        r.headers.push(
            StdHeader::Allow,
            "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH",
        );
        r.headers.push(StdHeader::Accept, "application/sdp");
        r.headers.push(StdHeader::Supported, "path, outbound");
        Message::from(r)
    }

    fn register(&mut self, tx: TransactionId, request: Message, source: Source) {
        // RFC 3261 §10.3 steps 3-4 (RFC 3261 §22.4): every REGISTER is
        // authenticated when users are configured, and one may register
        // only its own address of record.
        if let Some(auth) = &mut self.auth {
            let users = &self.users;
            let verdict = auth.verify_message(SystemTime::now(), &request, false, |u, _| {
                users.get(u).cloned()
            });
            match verdict {
                None => return self.challenge(tx, &request, false),
                Some(Verdict::Stale { .. }) => return self.challenge(tx, &request, true),
                // Unknown users and wrong passwords get the same answer.
                Some(Verdict::Rejected) => return self.reply(tx, 403, None),
                Some(Verdict::Malformed(why)) => {
                    return self.reply(tx, 400, Some(&format!("Bad Request ({why})")))
                }
                Some(Verdict::Ok { username, .. }) => {
                    let aor_user = request.to_header().ok().and_then(|t| {
                        t.uri
                            .as_sip()
                            .and_then(|s| s.user_unescaped())
                            .map(|u| u.into_owned())
                    });
                    if aor_user.as_deref() != Some(username.as_str()) {
                        return self.reply(tx, 403, Some("Forbidden (not your address of record)"));
                    }
                }
            }
        }
        let Some(aor) = self.registrar.aor_of(&request) else {
            return self.reply(tx, 400, Some("Bad Request (malformed To)"));
        };
        if let Some(queue) = self.busy.get_mut(&aor) {
            queue.push_back(Queued {
                tx,
                request,
                source,
            });
            return;
        }
        self.busy.insert(aor.clone(), VecDeque::new());
        self.process_register(tx, request, source, aor);
    }

    fn process_register(
        &mut self,
        tx: TransactionId,
        request: Message,
        source: Source,
        aor: String,
    ) {
        let current = match self.store.get(&aor) {
            Ok(b) => b,
            Err(e) => {
                warn!("reading the bindings of {aor}: {e}");
                self.reply(tx, 500, Some("Location store failure"));
                return self.release(&aor);
            }
        };
        let ctx = RegisterContext {
            source: Some(source),
            to_tag: Some(tag()),
        };
        let now = sipline_registrar::unix_now();
        let Ok(outcome) = self.registrar.process(now, &request, &current, &ctx) else {
            self.reply(tx, 400, None);
            return self.release(&aor);
        };
        if outcome.changes.is_empty() {
            let response = outcome.response;
            self.respond(tx, response);
            return self.release(&aor);
        }
        // The 200 goes out only once the bindings are on disk; commits of
        // concurrent REGISTERs are grouped by the store's writer.
        let pending = self.store.submit(&aor, outcome.changes.clone());
        let done = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let result = pending.wait();
            let _ = done.send(Done::Registered {
                tx,
                aor,
                outcome: Box::new(outcome),
                result,
            });
        });
    }

    /// The AOR's REGISTER is done: start the next one waiting for it.
    fn release(&mut self, aor: &str) {
        let next = self.busy.get_mut(aor).and_then(VecDeque::pop_front);
        match next {
            Some(q) => self.process_register(q.tx, q.request, q.source, aor.to_string()),
            None => {
                self.busy.remove(aor);
            }
        }
    }

    fn challenge(&mut self, tx: TransactionId, request: &Message, stale: bool) {
        let Some(auth) = &mut self.auth else { return };
        let Some(req) = request.as_request() else {
            return;
        };
        let mut r =
            sipline_message::builder::response_to(req, StatusCode::UNAUTHORIZED, Some(&tag()));
        for c in auth.challenge(SystemTime::now(), stale) {
            r.headers.push(StdHeader::WwwAuthenticate, c.to_string());
        }
        self.respond(tx, Message::from(r));
    }

    fn reply(&mut self, tx: TransactionId, code: u16, reason: Option<&str>) {
        let Some(Message::Request(req)) = self.table.request(tx).cloned() else {
            return;
        };
        let status = StatusCode::new(code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let mut r = sipline_message::builder::response_to(&req, status, Some(&tag()));
        if let Some(reason) = reason {
            r.reason = reason.to_string().into();
        }
        self.respond(tx, Message::from(r));
    }

    fn respond(&mut self, tx: TransactionId, mut response: Message) {
        response
            .headers_mut()
            .push(StdHeader::Server, self.cfg.server_header.clone());
        if let Err(e) = self.table.respond(Instant::now(), tx, response) {
            debug!("respond on {tx:?}: {e}");
        }
    }

    /// A response sent without a transaction (to a request that could not get one).
    fn reply_stateless(&self, request: &Message, dest: Destination, code: u16, reason: &str) {
        let Some(req) = request.as_request() else {
            return;
        };
        if req.method == Method::Ack
            || request.validate(false).is_err() && request.top_via().is_err()
        {
            return; // never answer an ACK; nowhere to send without a Via
        }
        let status = StatusCode::new(code).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = sipline_message::builder::response_to(req, status, Some(&tag()));
        r.reason = reason.to_string().into();
        let msg = Message::from(r);
        let layer = self.layer.clone();
        tokio::spawn(async move {
            let _ = layer.send(&dest, &msg).await;
        });
    }
}

/// A task that sends one destination's messages in order; a failure fails
/// that message's transaction.
fn send_queue(
    layer: TransportLayer,
    done: mpsc::UnboundedSender<Done>,
) -> mpsc::UnboundedSender<Transmit<Destination>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Transmit<Destination>>();
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if let Err(e) = layer
                .send_transmit(&t.destination, t.message, t.retransmission)
                .await
            {
                debug!("send to {}: {e}", t.destination.addr);
                let _ = done.send(Done::SendFailed { tx: t.transaction });
            }
        }
    });
    tx
}

/// A To tag: 64 random bits (RFC 3261 §19.3).
fn tag() -> String {
    crate::client::random_token(8)
}
