//! The server's driver: one task owns the transaction table and the
//! registrar state and reacts to what the transport, the clock and the
//! background work (durable commits, sends that open connections) report.
//! It never waits on I/O itself: the only awaits in the loop are the select
//! and UDP sends.

use super::config::{Config, Mode, StoreKind};
use sipline_auth::{Credential, DigestServer, DigestServerConfig, Verdict};
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::text::push_socket_addr;
use sipline_message::uri::{Host, Scheme, SipUri, Uri};
use sipline_message::{Bytes, Message, Method, Request, StatusCode, Transport};
use sipline_proxy::{
    Action, BranchId, ContextId, Inbound, Locator, Proxy, ProxyConfig, ServerTxId, Target,
};
use sipline_registrar::{
    Binding, DurableStore, LocationStore, LogStore, RedbStore, RegisterContext, Registrar,
    RegistrarConfig, Source, StoreError,
};
use sipline_transaction::{Config as TimerConfig, Event, Received, TransactionId, Transactions};
use sipline_transport::{
    ConnectionId, Destination, Incoming, ListenSpec, PemSource, TlsServerConfig, TransportConfig,
    TransportEvent, TransportLayer,
};
use std::collections::VecDeque;

/// The maps of the message threads (keyed by transaction ids, AORs, Call-IDs
/// that peers choose): foldhash, seeded per process, which costs a fraction
/// of std's SipHash per lookup.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Where the response to a REGISTER for this registrar goes.
#[derive(Debug, Clone)]
enum Answer {
    /// Through the request's server transaction.
    Tx(TransactionId),
    /// Straight to the transport, without a transaction: a stateless UAS
    /// (RFC 3261 §8.2.7), whose registrar takes a retransmission for what
    /// it is (`RegisterContext::stateless`). `registrar.stateless`. `key`:
    /// the request's [`sipline_registrar::request_key`], which a
    /// retransmission shares and which gives the To tag.
    Direct { dest: Box<Destination>, key: u64 },
}

impl Answer {
    /// The request's key, for a REGISTER without a transaction.
    fn key(&self) -> Option<u64> {
        match self {
            Answer::Tx(_) => None,
            Answer::Direct { key, .. } => Some(*key),
        }
    }

    /// The To tag of a response: random with a transaction, which keeps
    /// the response for retransmissions; without one, derived from the
    /// request, so that a retransmission answered again gets the same one
    /// (RFC 3261 §8.2.7).
    fn to_tag(&self) -> String {
        match self {
            Answer::Tx(_) => tag(),
            Answer::Direct { key, .. } => sipline_registrar::to_tag_of(*key),
        }
    }
}

/// A REGISTER's 200 while its bindings are being stored. Without a
/// transaction it is serialized at once, while the request and the
/// response are still in the CPU's caches, and only its bytes wait for the
/// commit (with the group-commit window, a few hundred at a time at 20,000
/// REGISTER/s). Keeping the whole outcome (the response as a `Message`, a
/// heap object per header, and the request's buffer that their values
/// share, and the bindings) until then, and putting it in the cache then,
/// cost ~5% of the REGISTER rate under a CPU quota (bench/RESULTS.md,
/// session 11).
enum Pending {
    /// Through the request's server transaction.
    Tx(TransactionId, Box<Message>),
    /// Straight to the transport: the response as it goes out.
    Direct {
        dest: Box<Destination>,
        bytes: Bytes,
    },
}

/// Work finished in the background, reported back to the driver.
enum Done {
    /// A REGISTER's changes are durably stored (or failed).
    Registered {
        pending: Pending,
        aor: String,
        result: Result<(), StoreError>,
    },
    /// A send that had to open a connection failed.
    SendFailed { tx: TransactionId },
    /// The next hop of a branch was resolved by RFC 3263 (empty: not found).
    Resolved {
        context: ContextId,
        branch: BranchId,
        request: Box<Message>,
        targets: Vec<Destination>,
    },
}

/// A REGISTER waiting for an earlier one of the same AOR to be committed
/// (RFC 3261 §10.3 step 7 reads then writes the bindings: one at a time per AOR).
struct Queued {
    answer: Answer,
    request: Message,
    source: Source,
}

/// An AOR whose REGISTER is being processed (its bindings being stored),
/// and the REGISTERs of the AOR waiting for it, in order.
struct Busy {
    /// [`Answer::key`] of the one being processed
    key: Option<u64>,
    queue: VecDeque<Queued>,
}

/// One message-handling thread's state (a shard): its own transaction
/// table, proxy and redirect cores, REGISTER queues and send queues. The
/// transport routes every message of a dialog or transaction to the same
/// shard ([`route`]): requests by Call-ID, REGISTERs by address of record
/// (so one shard reads and writes an AOR's bindings, one REGISTER at a
/// time), responses by the shard digit in our branch. What all shards share:
/// the location store and its cache, the digest nonce state, the transport.
struct Server {
    /// This shard's number (a hex digit in the branches it creates).
    shard: usize,
    cfg: Arc<Config>,
    table: Transactions<Destination>,
    layer: TransportLayer,
    registrar: Registrar,
    /// The durable location store (redb or the log); `None` with
    /// `registrar.store = "memory"`, where `bindings` is the store.
    store: Option<Arc<DurableStore>>,
    /// Compactions of the store's log given up, as last said (shard 0).
    compactions_failed_seen: u64,
    /// Digest nonces and their counts (replay detection) are one state for
    /// every shard: a client's next request may land on another.
    auth: Option<Arc<Mutex<DigestServer>>>,
    users: Arc<HashMap<String, Credential>>,
    /// Our own addresses: a URI naming one of them names this server.
    local: Vec<SocketAddr>,
    done_tx: mpsc::UnboundedSender<Done>,
    busy: HashMap<String, Busy>,
    /// The unexpired bindings of each AOR as last committed (or read): the
    /// registrar and the proxy read these instead of the store; the store
    /// is written through on every change and read only on a miss.
    bindings: Arc<BindingCache>,
    /// The proxy core (a stateless one in stateless mode).
    proxy: Proxy,
    /// The redirect server (§8.3) for requests to domains in redirect mode
    /// (all, in redirect mode). It only ever answers, so its contexts and
    /// branches never mix with the proxy's.
    redirector: Proxy,
    /// Client transactions of proxy branches, and where each was sent.
    branches: HashMap<TransactionId, (ContextId, BranchId)>,
    /// Where each branch of a context was sent, by context: a finished
    /// context drops its entry in one step (a scan of every branch per
    /// finished context made the cost grow with the number of calls).
    branch_dest: HashMap<ContextId, Vec<(BranchId, Destination)>>,
    /// Server transactions handed to the proxy, by the id it knows them by.
    server_txs: HashMap<u64, TransactionId>,
    /// Messages sent without a transaction, in the order decided.
    stateless: Vec<(Destination, Bytes)>,
    /// In-order send queues for stream destinations.
    queues: HashMap<(Transport, SocketAddr), mpsc::UnboundedSender<Outgoing>>,
    /// The queue of every UDP datagram: a task on the runtime's workers
    /// sends them in order, so that the driver's thread never makes the
    /// (loopback-expensive) send system calls itself.
    udp_out: mpsc::UnboundedSender<Vec<Outgoing>>,
    /// UDP datagrams decided since the last hand-over to `udp_out`: handed
    /// over together (one wake-up of the sender per batch of messages).
    udp_pending: Vec<Outgoing>,
    /// Datagrams handed to the sender task and not sent yet: while there
    /// are any, new ones queue behind them.
    udp_backlog: Arc<AtomicUsize>,
    /// Send datagrams from this thread when the socket takes them at once
    /// (with more than one thread; with one, the sender task does it on
    /// the other core).
    send_inline: bool,
    shutting_down: Option<Instant>,
    /// Per thread, whether it has nothing left to finish (while shutting down).
    idle: Arc<Vec<AtomicBool>>,
    /// `cfg.server_header`, shared by every response (no copy per response).
    server_header: sipline_message::ByteString,
}

/// The bindings of every AOR, shared by the shards: an AOR is written only
/// by the shard its REGISTERs are routed to, and read by any (routing a
/// call). Split into buckets, each behind its own lock, so that shards
/// rarely wait for each other.
pub(crate) struct BindingCache {
    buckets: Vec<RwLock<HashMap<String, Vec<Binding>>>>,
}

impl BindingCache {
    const BUCKETS: usize = 64;

    fn new() -> Self {
        Self {
            buckets: (0..Self::BUCKETS).map(|_| RwLock::default()).collect(),
        }
    }

    fn bucket(&self, aor: &str) -> &RwLock<HashMap<String, Vec<Binding>>> {
        &self.buckets[hash(aor.as_bytes()) as usize % Self::BUCKETS]
    }

    fn read(&self, aor: &str) -> std::sync::RwLockReadGuard<'_, HashMap<String, Vec<Binding>>> {
        self.bucket(aor)
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, aor: &str) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<Binding>>> {
        self.bucket(aor)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn contains(&self, aor: &str) -> bool {
        self.read(aor).contains_key(aor)
    }

    /// Runs `f` on the AOR's cached bindings under the bucket's read lock;
    /// `None` if the AOR is not cached.
    fn cached<R>(&self, aor: &str, f: impl FnOnce(&[Binding]) -> R) -> Option<R> {
        self.read(aor).get(aor).map(|list| f(list))
    }

    /// Runs `f` on the AOR's cached bindings (empty if none), under the
    /// bucket's read lock.
    fn with<R>(&self, aor: &str, f: impl FnOnce(&[Binding]) -> R) -> R {
        let bucket = self.read(aor);
        f(bucket.get(aor).map_or(&[][..], Vec::as_slice))
    }

    /// The AOR's bindings are now `bindings` (its name is copied only
    /// when it is new to the cache).
    fn insert(&self, aor: &str, bindings: Vec<Binding>) {
        let mut bucket = self.write(aor);
        match bucket.get_mut(aor) {
            Some(cached) => *cached = bindings,
            None => {
                bucket.insert(aor.to_owned(), bindings);
            }
        }
    }

    /// Forgets the AOR: the store is read again when it is next needed.
    fn remove(&self, aor: &str) {
        self.write(aor).remove(aor);
    }

    /// Drops expired bindings, and AORs left with none.
    fn purge(&self, now: u64) {
        for b in &self.buckets {
            b.write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, list| {
                    list.retain(|b| !b.is_expired(now));
                    !list.is_empty()
                });
        }
    }
}

/// The shard of a Call-ID or AOR, the bucket of an AOR: foldhash with a
/// fixed seed, the same in every thread of the process (as predictable as
/// std's SipHash with its fixed keys was; each bucket's map has its own
/// random seed).
fn hash(bytes: &[u8]) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::fast::FixedState::default().hash_one(bytes)
}

/// The shard of a received message (the transport takes it modulo the
/// number of shards). A response to one of our client transactions goes to
/// the shard whose number is in its branch; a REGISTER goes by its address
/// of record (RFC 3261 §10.3: its bindings are read, then written, one
/// REGISTER at a time); everything else by Call-ID, so that a transaction's
/// retransmissions, its CANCEL and ACK, and the requests of a dialog meet
/// the same shard. (A CANCEL of a REGISTER, which has no effect anyway
/// (§9.1), goes by Call-ID; with `registrar.stateless` there is no
/// transaction to match, and it is answered 481 (§9.2), or forwarded like
/// any CANCEL with no transaction; without, it may miss the REGISTER's
/// shard, with the same result.)
fn route(inc: &Incoming) -> usize {
    let m = &inc.message;
    let by_call_id = |m: &Message| m.call_id().map_or(0, |c| hash(c.as_bytes()) as usize);
    match m {
        Message::Response(_) => match m.branch().and_then(sipline_proxy::branch_instance) {
            Some(i) => usize::from(i),
            None => by_call_id(m),
        },
        // (To as the transport parsed it)
        Message::Request(r) if r.method == Method::Register => {
            hash(sipline_registrar::canonical_aor(&inc.to.uri).as_bytes()) as usize
        }
        Message::Request(_) => by_call_id(m),
    }
}

pub(crate) async fn run(cfg: Config) -> Result<(), String> {
    let cfg = Arc::new(cfg);
    let store = if cfg.store == StoreKind::Memory {
        None
    } else {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| format!("data directory {}: {e}", cfg.data_dir.display()))?;
        let opened = match cfg.store {
            StoreKind::Log => LogStore::open_importing_redb(&cfg.data_dir).map(|(s, n)| {
                if s.dropped_on_open() > 0 {
                    // Not silent: a crash tears only records never
                    // acknowledged, but a corrupt record loses what follows.
                    warn!(
                        "cut {} bytes off the end of {}: a record there was torn or corrupt \
                         (a crash tears only changes never acknowledged)",
                        s.dropped_on_open(),
                        s.path().display()
                    );
                }
                if n > 0 {
                    info!(
                        "imported the bindings of {n} addresses of record from {} into {} \
                         (the database is kept as {})",
                        sipline_registrar::DB_FILE,
                        sipline_registrar::LOG_FILE,
                        sipline_registrar::IMPORTED_DB_FILE
                    );
                }
                DurableStore::from(s)
            }),
            _ => {
                if cfg.data_dir.join(sipline_registrar::LOG_FILE).exists() {
                    warn!(
                        "{} in {} is not read with registrar.store = \"redb\"",
                        sipline_registrar::LOG_FILE,
                        cfg.data_dir.display()
                    );
                }
                RedbStore::open(&cfg.data_dir).map(DurableStore::from)
            }
        };
        Some(Arc::new(opened.map_err(|e| {
            format!("location store in {}: {e}", cfg.data_dir.display())
        })?))
    };
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
    let (layer, incoming) = TransportLayer::start_sharded(tc, cfg.threads, Arc::new(route))
        .map_err(|e| format!("listen: {e}"))?;
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
        mode_name(cfg.mode),
        cfg.domains
            .iter()
            .map(|d| match cfg.mode_for(d) {
                m if m == cfg.mode => d.clone(),
                m => format!("{d} ({})", mode_name(m)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        match &store {
            None => "in memory (lost on restart)".to_string(),
            Some(s) => format!(
                "{} ({})",
                cfg.data_dir.display(),
                match **s {
                    DurableStore::Redb(_) => "redb",
                    DurableStore::Log(_) => "append-only log",
                }
            ),
        }
    );
    let _ = out.flush();
    info!(
        "record-route {}, {} forking, branch timeout {:?}, {} threads",
        cfg.record_route,
        if cfg.sequential_forking {
            "sequential"
        } else {
            "parallel"
        },
        cfg.branch_timeout,
        cfg.threads
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
        Some(Arc::new(Mutex::new(
            DigestServer::new(c).map_err(|e| format!("auth: {e}"))?,
        )))
    };
    let users: Arc<HashMap<String, Credential>> = Arc::new(
        cfg.users
            .iter()
            .map(|u| (u.name.clone(), u.secret.clone()))
            .collect(),
    );
    let bindings = Arc::new(BindingCache::new());
    // The flow-token key (RFC 5626 §5.2): random per start, like the nonce
    // key, so tokens from before a restart (whose flows are gone anyway)
    // are refused. One for all threads: a token one made, another checks.
    let flow_key: [u8; 32] = rand::random();
    let server_header = sipline_message::ByteString::from(cfg.server_header.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let idle: Arc<Vec<AtomicBool>> =
        Arc::new((0..cfg.threads).map(|_| AtomicBool::new(false)).collect());
    let mut shards = Vec::new();
    for (shard, incoming) in incoming.into_iter().enumerate() {
        let registrar = Registrar::new(RegistrarConfig {
            default_expires: cfg.default_expires,
            min_expires: cfg.min_expires,
            max_expires: cfg.max_expires,
            service_route: cfg.service_route.clone(),
            ..RegistrarConfig::default()
        });
        let timers = TimerConfig {
            t1: cfg.t1,
            t2: cfg.t2,
            t4: cfg.t4,
            timer_c: cfg.timer_c,
            ..TimerConfig::default()
        };
        let mut proxy_cfg = proxy_config(&cfg, &listeners, flow_key);
        proxy_cfg.instance = u8::try_from(shard).unwrap_or(0);
        let mut redirect_config = proxy_cfg.clone();
        redirect_config.mode = sipline_proxy::Mode::Redirect;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let udp_backlog = Arc::new(AtomicUsize::new(0));
        let (udp_out, udp_task) = udp_sender(layer.clone(), done_tx.clone(), udp_backlog.clone());
        let server = Server {
            shard,
            local: listeners.iter().map(|(_, a)| *a).collect(),
            cfg: cfg.clone(),
            table: Transactions::new(timers),
            layer: layer.clone(),
            registrar,
            store: store.clone(),
            compactions_failed_seen: 0,
            auth: auth.clone(),
            users: users.clone(),
            done_tx,
            busy: HashMap::default(),
            bindings: bindings.clone(),
            proxy: Proxy::new(proxy_cfg),
            redirector: Proxy::new(redirect_config),
            branches: HashMap::default(),
            branch_dest: HashMap::default(),
            server_txs: HashMap::default(),
            stateless: Vec::new(),
            queues: HashMap::default(),
            udp_out,
            udp_pending: Vec::new(),
            udp_backlog,
            send_inline: cfg.threads > 1,
            shutting_down: None,
            idle: idle.clone(),
            server_header: server_header.clone(),
        };
        shards.push(tokio::spawn(server.run(
            incoming,
            done_rx,
            udp_task,
            stop_rx.clone(),
        )));
    }
    drop(stop_rx);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("signal handler: {e}"))?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("signal handler: {e}"))?;
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
        // a shard ends by itself only when the transport is gone
        _ = stop_rx_closed(&stop_tx) => {}
    }
    info!(
        "shutting down: no new requests; waiting up to {:?} for open transactions",
        cfg.shutdown_grace
    );
    let _ = stop_tx.send(true);
    let mut open = 0;
    for s in shards {
        open += s.await.unwrap_or(0);
    }
    layer.shutdown();
    info!("stopped; {open} transactions were still unfinished");
    // Dropping the store waits for its writer: every acknowledged binding is on disk.
    drop(store);
    Ok(())
}

/// Resolves when every shard has ended (dropped its stop receiver).
async fn stop_rx_closed(stop: &tokio::sync::watch::Sender<bool>) {
    stop.closed().await;
}

impl Server {
    /// The shard's loop, until shutdown; returns how many transactions were
    /// still unfinished at the end ([`Transactions::unfinished`]).
    async fn run(
        mut self,
        mut incoming: mpsc::Receiver<Incoming>,
        mut done_rx: mpsc::UnboundedReceiver<Done>,
        udp_task: tokio::task::JoinHandle<()>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> usize {
        let mut transport_events = self.layer.subscribe();
        let purge_every = std::time::Duration::from_secs(30);
        let mut next_purge = Instant::now() + purge_every;
        // One timer, moved when the next deadline changes (a new one per turn
        // of the loop cost a timer-wheel registration per message).
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(next_purge));
        tokio::pin!(sleep);
        // Messages are taken from the transport in batches: one wake-up of this
        // task for all that arrived meanwhile.
        let mut batch: Vec<Incoming> = Vec::with_capacity(INCOMING_BATCH);
        loop {
            self.flush();
            self.hand_over_udp();
            if let Some(deadline) = self.shutting_down {
                // A thread stops only when every thread is idle (or the
                // grace period is over): one that stopped alone would leave
                // the requests routed to it unanswered, not refused with 503.
                // Transactions that only absorb retransmissions (Timer J
                // keeps a non-INVITE one for 64*T1 after its response) are
                // not waited for: only those still in their exchange.
                let idle = self.table.unfinished() == 0 && self.busy.is_empty();
                self.idle[self.shard].store(idle, Ordering::Release);
                if Instant::now() >= deadline || self.idle.iter().all(|i| i.load(Ordering::Acquire))
                {
                    break;
                }
            }
            // The transactions' timers, and the proxy core's own (the branch
            // timeout of sequential forking, RFC 3841 §7.2.4 / RFC 3261 §16.6).
            let mut wake = [self.table.poll_timeout(), self.proxy.poll_timeout()]
                .into_iter()
                .flatten()
                .fold(next_purge, Instant::min);
            if let Some(d) = self.shutting_down {
                // and look again at the other threads now and then
                wake = wake.min(d).min(Instant::now() + SHUTDOWN_POLL);
            }
            let wake = tokio::time::Instant::from_std(wake);
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
            tokio::select! {
                n = incoming.recv_many(&mut batch, INCOMING_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    // Each message as if it came alone: what it made the
                    // transactions send or report is handled before the next.
                    for m in batch.drain(..) {
                        self.on_incoming(m);
                        self.flush();
                    }
                }
                Some(d) = done_rx.recv() => {
                    self.on_done(d);
                    while let Ok(d) = done_rx.try_recv() {
                        self.flush();
                        self.on_done(d);
                    }
                }
                ev = transport_events.recv() => {
                    if let Ok(TransportEvent::ConnectionClosed { transport, remote, reason, .. }) = ev {
                        debug!("{transport} connection with {remote} closed: {reason:?}");
                        self.queues.remove(&(transport, remote));
                    }
                }
                () = &mut sleep => {
                    let now = Instant::now();
                    self.table.handle_timeout(now);
                    let actions = self.proxy.handle_timeout(now);
                    self.act(actions);
                    if now >= next_purge {
                        next_purge = now + purge_every;
                        self.purge();
                    }
                }
                r = stop.changed(), if self.shutting_down.is_none() => {
                    if r.is_err() || *stop.borrow() {
                        self.shutting_down = Some(Instant::now() + self.cfg.shutdown_grace);
                    }
                }
            }
        }
        // What was decided before the end still goes out: the UDP sender
        // finishes its queue (briefly) before the listeners close.
        self.flush();
        self.hand_over_udp();
        let (closed, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.udp_out, closed));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), udp_task).await;
        self.table.unfinished()
    }

    /// Expired bindings out of the cache and the store: one shard does it
    /// for all.
    fn purge(&mut self) {
        if self.shard != 0 {
            return;
        }
        let now = sipline_registrar::unix_now();
        self.bindings.purge(now);
        let Some(store) = self.store.clone() else {
            return;
        };
        // A compaction given up (a full disk) leaves the old log in use,
        // growing, and is tried again: said once for each new failure.
        let (failed, why) = store.compaction_failures();
        if failed > self.compactions_failed_seen {
            self.compactions_failed_seen = failed;
            let why = why.unwrap_or_default();
            warn!(
                "the location store's log could not be compacted ({failed} times since start; last: {why}); \
                 it keeps every binding and grows until a compaction succeeds"
            );
        }
        // The store's purge scans every binding in a write transaction and
        // waits for its commit: off this thread, which keeps handling
        // messages meanwhile.
        tokio::task::spawn_blocking(move || match store.purge_expired(now) {
            Ok(0) => {}
            Ok(n) => debug!("purged {n} expired bindings"),
            Err(e) => warn!("purging expired bindings: {e}"),
        });
    }

    /// Sends what the transactions have to send and handles their events.
    fn flush(&mut self) {
        loop {
            while let Some(t) = self.table.poll_transmit() {
                self.send_out(Outgoing {
                    dest: t.destination,
                    data: t.message,
                    retransmission: t.retransmission,
                    tx: Some(t.transaction),
                });
            }
            if !self.stateless.is_empty() {
                let mut stateless = std::mem::take(&mut self.stateless);
                for (dest, data) in stateless.drain(..) {
                    self.send_out(Outgoing {
                        dest,
                        data,
                        retransmission: false,
                        tx: None,
                    });
                }
                // keep the allocation for the next ones
                if self.stateless.is_empty() {
                    self.stateless = stateless;
                }
            }
            let Some(e) = self.table.poll_event() else {
                break;
            };
            self.on_event(e);
        }
    }

    /// UDP through the one UDP queue; streams through the destination's
    /// queue, which may open a connection. Both keep their messages in
    /// order (a 100 before its 200); a failed send comes back as
    /// [`Done::SendFailed`] and fails its transaction.
    fn send_out(&mut self, o: Outgoing) {
        if o.dest.transport == Transport::Udp {
            self.udp_pending.push(o);
            return;
        }
        let key = (o.dest.transport, o.dest.addr);
        let layer = &self.layer;
        let done = &self.done_tx;
        let queue = self
            .queues
            .entry(key)
            .or_insert_with(|| send_queue(layer.clone(), done.clone()));
        if queue.send(o).is_err() {
            self.queues.remove(&key);
        }
    }

    /// Hands the UDP datagrams decided so far to the sender task, in order.
    fn hand_over_udp(&mut self) {
        if self.udp_pending.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.udp_pending);
        if self.send_inline && self.udp_backlog.load(Ordering::Acquire) == 0 {
            // With a thread per CPU, each sends its own datagrams: a
            // hand-over would wake another task per batch for nothing. What
            // the socket does not take at once goes to the sender task,
            // with everything after it (in order).
            let now = Instant::now();
            let mut sent = 0;
            for o in &batch {
                match self.layer.try_send_udp(&o.dest, &o.data, o.retransmission) {
                    Ok(true) => sent += 1,
                    Ok(false) => break,
                    Err(e) => {
                        debug!("send to {}: {e}", o.dest.addr);
                        if let Some(tx) = o.tx {
                            self.table.handle_transport_error(now, tx);
                        }
                        sent += 1;
                    }
                }
            }
            batch.drain(..sent);
            if batch.is_empty() {
                self.udp_pending = batch; // keep the allocation
                return;
            }
        }
        self.udp_backlog.fetch_add(batch.len(), Ordering::AcqRel);
        if let Err(mpsc::error::SendError(batch)) = self.udp_out.send(batch) {
            // The sender task is gone only when the runtime shuts down.
            let now = Instant::now();
            for tx in batch.into_iter().filter_map(|o| o.tx) {
                self.table.handle_transport_error(now, tx);
            }
        }
    }

    /// Transaction events: those of proxy branches go to the proxy core
    /// (RFC 3261 §16.7, §16.8, §16.9).
    fn on_event(&mut self, e: Event) {
        let now = Instant::now();
        let actions = match e {
            Event::Response {
                transaction,
                response,
            } => match self.branches.get(&transaction) {
                Some(&(c, b)) => self.proxy.on_response(now, c, b, response),
                None => Vec::new(),
            },
            Event::Timeout { transaction } => match self.branches.get(&transaction) {
                Some(&(c, b)) => self.proxy.on_branch_timeout(now, c, b),
                None => Vec::new(),
            },
            Event::TransportError { transaction } => match self.branches.get(&transaction) {
                Some(&(c, b)) => self.proxy.on_branch_transport_error(now, c, b),
                None => Vec::new(),
            },
            Event::TimerC { transaction } => match self.branches.get(&transaction) {
                Some(&(c, b)) => self.proxy.on_timer_c(now, c, b),
                None => Vec::new(),
            },
            Event::Terminated { transaction, .. } => {
                self.branches.remove(&transaction);
                self.server_txs.remove(&transaction.as_u64());
                Vec::new()
            }
        };
        self.act(actions);
    }

    /// Carries out what the proxy core decided.
    fn act(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Respond {
                    server_tx,
                    response,
                } => {
                    if let Some(&tx) = self.server_txs.get(&server_tx.0) {
                        self.respond(tx, response);
                    }
                }
                Action::Forward {
                    context,
                    branch,
                    request,
                    next_hop,
                    flow,
                } => self.forward(context, branch, request, &next_hop, flow.as_deref()),
                Action::Cancel {
                    context,
                    branch,
                    request,
                } => {
                    // §16.10, §9.1: the CANCEL goes where the branch went.
                    let dest = self.branch_dest.get(&context).and_then(|list| {
                        list.iter()
                            .find(|(b, _)| *b == branch)
                            .map(|(_, d)| d.clone())
                    });
                    if let Some(dest) = dest {
                        let reliable = dest.transport.is_reliable();
                        let _ = self
                            .table
                            .send_request(Instant::now(), request, dest, reliable);
                    }
                }
                Action::ForwardStateless {
                    message,
                    next_hop,
                    flow,
                } => self.send_stateless(message, &next_hop, flow.as_deref()),
                Action::Done { context } => {
                    self.branch_dest.remove(&context);
                }
            }
        }
    }

    /// Sends a branch's request on a new client transaction (§16.6 steps 7-10).
    fn forward(
        &mut self,
        context: ContextId,
        branch: BranchId,
        request: Message,
        next_hop: &Uri,
        flow: Option<&str>,
    ) {
        if let Some(dest) = self.flow_destination(flow) {
            return self.send_branch(context, branch, request, dest);
        }
        match direct_destination(next_hop) {
            Some(dest) => self.send_branch(context, branch, request, dest),
            None => {
                let Some(sip) = next_hop.as_sip().cloned() else {
                    let actions =
                        self.proxy
                            .on_branch_transport_error(Instant::now(), context, branch);
                    return self.act(actions);
                };
                // RFC 3263: resolve in the background.
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    let targets = resolve(&sip).await;
                    let _ = done.send(Done::Resolved {
                        context,
                        branch,
                        request: Box::new(request),
                        targets,
                    });
                });
            }
        }
    }

    fn send_branch(
        &mut self,
        context: ContextId,
        branch: BranchId,
        mut request: Message,
        mut dest: Destination,
    ) {
        // §18.1.1: a request within 200 bytes of the MTU goes over TCP.
        if dest.transport == Transport::Udp
            && self.layer.listener(Transport::Tcp).is_some()
            && request.encoded_len() > 1300
        {
            dest.transport = Transport::Tcp;
        }
        set_our_via(&self.layer, &mut request, dest.transport);
        let reliable = dest.transport.is_reliable();
        match self
            .table
            .send_request(Instant::now(), request, dest.clone(), reliable)
        {
            Ok(tx) => {
                self.branches.insert(tx, (context, branch));
                let list = self.branch_dest.entry(context).or_default();
                match list.iter_mut().find(|(b, _)| *b == branch) {
                    Some((_, d)) => *d = dest,
                    None => list.push((branch, dest)),
                }
            }
            Err(e) => {
                debug!("forwarding: {e}");
                let actions = self
                    .proxy
                    .on_branch_transport_error(Instant::now(), context, branch);
                self.act(actions);
            }
        }
    }

    /// An outbound flow (RFC 5626): the connection the UA registered over.
    fn flow_destination(&self, flow: Option<&str>) -> Option<Destination> {
        let flow = flow?;
        if let Some(udp) = flow.strip_prefix("udp:") {
            // RFC 5626 §5.3: back to the address the REGISTER came from,
            // from the socket it came to (a NAT's binding is per pair).
            let (remote, local) = udp.split_once('@')?;
            let mut d = Destination::new(Transport::Udp, remote.parse().ok()?);
            d.local = local.parse().ok();
            return Some(d);
        }
        let id: u64 = flow.parse().ok()?;
        let info = self.layer.connection(ConnectionId(id))?;
        let mut d = Destination::new(info.transport, info.remote);
        d.connection = Some(info.id);
        Some(d)
    }

    /// Sends a message without a transaction (§16.11): an ACK for a 2xx.
    /// Our Via names the transport it goes over, as for a branch (§18.1.1).
    fn send_stateless(&mut self, mut message: Message, next_hop: &Uri, flow: Option<&str>) {
        let dest = self
            .flow_destination(flow)
            .or_else(|| direct_destination(next_hop));
        let layer = self.layer.clone();
        match dest {
            Some(d) => {
                set_our_via(&self.layer, &mut message, d.transport);
                self.stateless.push((d, message.to_bytes()));
            }
            None => {
                let Some(sip) = next_hop.as_sip().cloned() else {
                    return;
                };
                tokio::spawn(async move {
                    if let Some(d) = resolve(&sip).await.into_iter().next() {
                        set_our_via(&layer, &mut message, d.transport);
                        let _ = layer.send(&d, &message).await;
                    }
                });
            }
        }
    }

    fn on_done(&mut self, d: Done) {
        match d {
            Done::Registered {
                pending,
                aor,
                result,
            } => {
                match result {
                    Ok(()) => self.send_pending(pending),
                    Err(e) => {
                        warn!("storing the bindings of {aor}: {e}");
                        self.store_failed(&aor, pending);
                    }
                }
                self.release(&aor);
            }
            Done::SendFailed { tx } => self.table.handle_transport_error(Instant::now(), tx),
            Done::Resolved {
                context,
                branch,
                request,
                targets,
            } => match targets.into_iter().next() {
                Some(dest) => self.send_branch(context, branch, *request, dest),
                None => {
                    let actions =
                        self.proxy
                            .on_branch_transport_error(Instant::now(), context, branch);
                    self.act(actions);
                }
            },
        }
    }

    fn on_incoming(&mut self, inc: Incoming) {
        let now = Instant::now();
        if !inc.message.is_request() {
            if let sipline_transaction::ResponseMatch::Stray(resp) =
                self.table.handle_response(now, inc.message)
            {
                // §16.7 / §16.11: e.g. a 2xx retransmission after its branch ended
                match self.proxy.forward_response_stateless(resp) {
                    Some(fwd) => self.send_response_stateless(fwd),
                    None => debug!("response matching no transaction and not ours: dropped"),
                }
            }
            return;
        }
        // Where responses to this request go (§18.2.2).
        // (the transport parsed the top Via on receipt)
        let top_via = match inc.top_via {
            Some(via) => Ok(via),
            None => inc.message.top_via(),
        };
        let mut dest = match top_via {
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

        let source = Arrival {
            transport: inc.transport,
            remote: inc.source,
            local: inc.local,
            connection: inc.connection,
        };
        // RFC 3261 §8.2 / §16.3 step 1: what a transaction needs is there:
        // the transport layer checked it (`Message::validate`) and answered
        // 400 itself otherwise.
        if self.cfg.mode == Mode::Stateless && !self.takes_statefully(&inc.message) {
            // §16.11: forwarded without a transaction; a retransmission takes
            // the same path with the same branch.
            let inbound = self.inbound(&inc.message, source);
            let locator = self.locator();
            match self
                .proxy
                .forward_stateless_from(inc.message, Some(&locator), &inbound)
            {
                Ok(action) => self.act(vec![action]),
                Err(Some(resp)) => self.stateless.push((dest, resp.to_bytes())),
                Err(None) => {
                    debug!("stateless proxy dropped a request (e.g. an ACK with nowhere to go)")
                }
            }
            return;
        }
        if self.cfg.stateless_register
            && inc
                .message
                .as_request()
                .is_some_and(|r| r.method == Method::Register && self.is_for_us(&r.uri))
        {
            // Without a server transaction (`Answer::Direct`).
            let answer = Answer::Direct {
                dest: Box::new(dest),
                key: sipline_registrar::request_key(&inc.message),
            };
            if self.shutting_down.is_some() {
                return self.reply_to(answer, &inc.message, 503, Some("Shutting Down"));
            }
            return self.register(answer, inc.message, &inc.to, source.source());
        }
        let reliable = inc.transport.is_reliable();
        match self
            .table
            .handle_request(now, inc.message, dest.clone(), reliable)
        {
            Received::New {
                transaction,
                request,
                ..
            } => self.on_request(transaction, request, inc.to, source),
            Received::Cancel {
                transaction,
                invite,
                request,
            } => {
                // §16.10: 200 to the CANCEL, then cancel the INVITE's pending
                // branches.
                let context = invite.and_then(|i| self.proxy.context_for(ServerTxId(i.as_u64())));
                match context {
                    Some(c) => {
                        self.reply(transaction, 200, None);
                        let actions = self.proxy.on_cancel(now, c);
                        self.act(actions);
                    }
                    // The INVITE is known but already has its final
                    // response: the CANCEL has no effect, still 200 (§9.2).
                    None if invite.is_some() => self.reply(transaction, 200, None),
                    // §16.10: no response context at all: the CANCEL is
                    // forwarded statelessly (the INVITE may have been too);
                    // 481 only when it cannot be routed.
                    None => {
                        let inbound = self.inbound(&request, source);
                        let locator = self.locator();
                        match self
                            .proxy
                            .forward_stateless_from(request, Some(&locator), &inbound)
                        {
                            Ok(action) => {
                                self.reply(transaction, 200, None);
                                self.act(vec![action]);
                            }
                            Err(_) => self.reply(transaction, 481, None),
                        }
                    }
                }
            }

            Received::Invalid(m) => {
                self.reply_stateless(&m, dest, 400, "Bad Request (no Via branch or CSeq)")
            }
            // The ACK of a 2xx belongs to the dialog: forwarded statelessly by Route (§16.11).
            Received::StrayAck(ack) | Received::Ack { ack, .. } => {
                // §8.3: a redirect server sends no requests of its own
                if ack
                    .as_request()
                    .is_some_and(|r| self.mode_for(r) == Mode::Redirect)
                {
                    return;
                }
                let inbound = self.inbound(&ack, source);
                let locator = self.locator();
                if let Ok(action) = self
                    .proxy
                    .forward_stateless_from(ack, Some(&locator), &inbound)
                {
                    self.act(vec![action]);
                }
            }
            Received::Retransmission { .. } | Received::AckAbsorbed { .. } => {}
        }
    }

    /// `to`: the request's To, as the transport parsed it.
    fn on_request(&mut self, tx: TransactionId, request: Message, to: NameAddr, source: Arrival) {
        if self.shutting_down.is_some() {
            self.reply(tx, 503, Some("Shutting Down"));
            return;
        }
        let Some(req) = request.as_request() else {
            return;
        };
        let for_us = self.is_for_us(&req.uri);
        match &req.method {
            Method::Register if for_us => {
                self.register(Answer::Tx(tx), request, &to, source.source())
            }
            Method::Options if for_us && req.uri.as_sip().is_some_and(|s| s.user.is_none()) => {
                self.respond(tx, self.options_ok(req))
            }
            _ => self.proxy_request(tx, request, source),
        }
    }

    /// In stateless mode, what is still handled with a transaction: REGISTER
    /// and OPTIONS for this server, and every request (ACK included, §17.2.1)
    /// for a domain in redirect mode.
    fn takes_statefully(&self, m: &Message) -> bool {
        m.as_request().is_some_and(|r| {
            (matches!(r.method, Method::Register | Method::Options) && self.is_for_us(&r.uri))
                || self.mode_for(r) == Mode::Redirect
        })
    }

    /// The mode for a request: its Request-URI's domain's own (`[[domain]]`),
    /// else the server's.
    fn mode_for(&self, req: &Request) -> Mode {
        match req.uri.as_sip().map(|s| &s.host) {
            Some(Host::Domain(d)) => self.cfg.mode_for(d),
            _ => self.cfg.mode,
        }
    }

    /// Everything that is not for the registrar goes through the proxy core.
    fn proxy_request(&mut self, tx: TransactionId, request: Message, source: Arrival) {
        // RFC 3261 §22.3, §16.3 step 6: a new request from one of our users
        // must prove it (407); requests within a dialog, ACK and CANCEL are
        // not challenged.
        if self.auth.is_some() && self.is_from_local_user(&request) {
            let users = &self.users;
            let auth = self.auth.as_ref().expect("checked above");
            let verdict = lock(auth).verify_message(SystemTime::now(), &request, true, |u, _| {
                users.get(u).cloned()
            });
            match verdict {
                None => return self.proxy_challenge(tx, &request, false),
                Some(Verdict::Stale { .. }) => return self.proxy_challenge(tx, &request, true),
                Some(Verdict::Rejected) => return self.reply(tx, 403, None),
                Some(Verdict::Malformed(why)) => {
                    return self.reply(tx, 400, Some(&format!("Bad Request ({why})")))
                }
                Some(Verdict::Ok { .. }) => {}
            }
        }
        self.server_txs.insert(tx.as_u64(), tx);
        let redirect = request
            .as_request()
            .is_some_and(|r| self.mode_for(r) == Mode::Redirect);
        let inbound = self.inbound(&request, source);
        let locator = StoreLocator::new(self.store.as_deref(), &self.users, self.auth.is_some())
            .with_cache(&self.bindings)
            .with_layer(&self.layer);
        let core = if redirect {
            &mut self.redirector
        } else {
            &mut self.proxy
        };
        let actions = core.on_request_from(
            Instant::now(),
            ServerTxId(tx.as_u64()),
            request,
            &locator,
            &inbound,
        );
        self.act(actions);
    }

    /// The location service and flows, as the proxy core sees them.
    fn locator(&self) -> StoreLocator<'_> {
        StoreLocator::new(self.store.as_deref(), &self.users, self.auth.is_some())
            .with_cache(&self.bindings)
            .with_layer(&self.layer)
    }

    /// How a request arrived, for Record-Route (RFC 5658) and flow tokens
    /// (RFC 5626 §5.3). The flow is the connection, or for UDP the remote
    /// and local address pair (the registrar's notation, [`Arrival::source`]).
    ///
    /// The Record-Route value facing the sender carries a flow token (so the
    /// dialog's requests towards it go over this flow instead of to its
    /// Contact) when:
    /// * it came over a connection (TCP, TLS, WS, WSS): the sender may have
    ///   no listener at all (a WebSocket or TLS client), and the connection
    ///   it opened is the one way back; if it closes, requests towards the
    ///   sender get 430 (RFC 5626 §5.3.1);
    /// * it came over UDP from a sender using outbound: a dialog-creating
    ///   request whose Contact has the `ob` parameter (§5.3.2: "the edge
    ///   proxy can use the presence of the "ob" URI parameter in the UAC's
    ///   Contact URI"), or whose From is registered with a `reg-id` over this
    ///   very UDP flow (§6). Any other UDP sender is reached at its Contact,
    ///   as before.
    fn inbound(&self, request: &Message, a: Arrival) -> Inbound {
        let flow = a.flow();
        let token = a.connection.is_some() || self.udp_outbound(request, &flow);
        Inbound::new(a.transport).with_flow(flow, token)
    }

    /// A dialog-creating request (no To tag) over UDP from a sender using
    /// outbound on `flow` (see [`Server::inbound`]).
    fn udp_outbound(&self, request: &Message, flow: &str) -> bool {
        // only what may be record-routed (RFC 3261 §16.6 step 4) is worth
        // the look at Contact and the bindings
        let dialog_forming = matches!(
            request.method(),
            Some(Method::Invite | Method::Subscribe | Method::Refer | Method::Extension(_))
        );
        if !dialog_forming || request.to_tag().is_some() {
            return false;
        }
        let ob = request.contacts().is_ok_and(|cs| {
            cs.iter().any(|c| {
                c.address()
                    .and_then(|na| na.uri.as_sip())
                    .is_some_and(|s| s.has_param("ob"))
            })
        });
        if ob {
            return true;
        }
        let Ok(from) = request.from_header() else {
            return false;
        };
        let aor = sipline_registrar::canonical_aor(&from.uri);
        // read in place: no copy of the caller's bindings per INVITE
        self.bindings.with(&aor, |list| {
            list.iter().any(|b| {
                b.reg_id.is_some()
                    && b.source
                        .as_ref()
                        .and_then(|s| s.connection.as_deref())
                        .is_some_and(|c| c == flow)
            })
        })
    }

    /// An initial request (no To tag, not ACK or CANCEL) whose From is in one of our domains.
    fn is_from_local_user(&self, request: &Message) -> bool {
        let Some(req) = request.as_request() else {
            return false;
        };
        if matches!(req.method, Method::Ack | Method::Cancel) || request.to_tag().is_some() {
            return false;
        }
        // Our domains, and our own addresses (with any port or none): the
        // registrar serves both as addresses of record, so a From naming
        // either claims one of our users.
        request.from_header().is_ok_and(|f| {
            f.uri.as_sip().is_some_and(|s| match &s.host {
                Host::Domain(d) => self.cfg.domains.iter().any(|x| x.eq_ignore_ascii_case(d)),
                Host::Ipv4(ip) => self.names_us(IpAddr::V4(*ip), None),
                Host::Ipv6(ip) => self.names_us(IpAddr::V6(*ip), None),
            })
        })
    }

    fn proxy_challenge(&mut self, tx: TransactionId, request: &Message, stale: bool) {
        let Some(auth) = &self.auth else { return };
        let Some(req) = request.as_request() else {
            return;
        };
        let mut r = sipline_message::builder::response_to(
            req,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            Some(&tag()),
        );
        let challenges = lock(auth).challenge(SystemTime::now(), stale);
        for c in challenges {
            r.headers.push(StdHeader::ProxyAuthenticate, c.to_string());
        }
        self.respond(tx, Message::from(r));
    }

    /// A response forwarded without a transaction goes where its top Via
    /// says (§18.2.2, the same rules as for our own responses).
    fn send_response_stateless(&mut self, response: Message) {
        let Ok(via) = response.top_via() else {
            debug!("stateless response without a Via: dropped");
            return;
        };
        let transport = Transport::parse(&via.transport).unwrap_or(Transport::Udp);
        // No request to fall back on: the Via alone must give an address.
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        match sipline_transport::response_destination(&via, transport, unknown, None) {
            Ok(dest) if !dest.addr.ip().is_unspecified() => {
                self.stateless.push((dest, response.to_bytes()));
            }
            _ => debug!(
                "stateless response to {}: sent-by needs DNS, dropped",
                via.sent_by()
            ),
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

    fn register(&mut self, answer: Answer, request: Message, to: &NameAddr, source: Source) {
        // §10.3 step 5 (the transport checked To)
        let aor = sipline_registrar::canonical_aor(&to.uri);
        // A retransmission of a REGISTER without a transaction that is still
        // being processed (or waits behind another of its AOR) is dropped,
        // as its transaction would have absorbed it (RFC 3261 §17.2.2,
        // Trying): its response is on its way. Answered, it would cost as
        // much as the first, just when the store is slow and clients
        // retransmit; with digest authentication its reused nonce count
        // would even get a 401 stale before the first's 200.
        if let (Some(key), Some(busy)) = (answer.key(), self.busy.get(&aor)) {
            if busy.key == Some(key) || busy.queue.iter().any(|q| q.answer.key() == Some(key)) {
                debug!("REGISTER of {aor} retransmitted while in progress: dropped");
                return;
            }
        }
        // RFC 3261 §10.3 steps 3-4 (RFC 3261 §22.4): every REGISTER is
        // authenticated when users are configured, and one may register
        // only its own address of record.
        if let Some(auth) = &self.auth {
            let users = &self.users;
            let verdict = lock(auth).verify_message(SystemTime::now(), &request, false, |u, _| {
                users.get(u).cloned()
            });
            match verdict {
                None => return self.challenge(answer, &request, false),
                // A retransmission of an authenticated REGISTER reuses its
                // nonce count. A transaction would have absorbed it; without
                // one it is answered like the first, if it is one.
                Some(Verdict::Stale {
                    replayed: true,
                    username,
                }) if self.is_recent_retransmission(&answer, &request, to, &aor, &username) => {}
                Some(Verdict::Stale { .. }) => return self.challenge(answer, &request, true),
                // Unknown users and wrong passwords get the same answer.
                Some(Verdict::Rejected) => return self.reply_to(answer, &request, 403, None),
                Some(Verdict::Malformed(why)) => {
                    let reason = format!("Bad Request ({why})");
                    return self.reply_to(answer, &request, 400, Some(&reason));
                }
                Some(Verdict::Ok { username, .. }) => {
                    let aor_user = to.uri.as_sip().and_then(|s| s.user_unescaped());
                    if aor_user.as_deref() != Some(username.as_str()) {
                        let reason = "Forbidden (not your address of record)";
                        return self.reply_to(answer, &request, 403, Some(reason));
                    }
                }
            }
        }
        if let Some(busy) = self.busy.get_mut(&aor) {
            busy.queue.push_back(Queued {
                answer,
                request,
                source,
            });
            return;
        }
        let key = answer.key();
        let queue = VecDeque::new();
        self.busy.insert(aor.clone(), Busy { key, queue });
        self.process_register(answer, request, source, aor);
    }

    /// Whether a REGISTER without a transaction, authenticated as
    /// `username` but with a nonce count already used, is a retransmission:
    /// for the user's own AOR, with the Call-ID and CSeq of a binding of it
    /// written at most 64*T1 ago, as long as a server transaction would
    /// have kept the request (Timer J, RFC 3261 §17.2.2). The registrar then
    /// answers it like the first and writes nothing
    /// (`RegisterContext::stateless`).
    fn is_recent_retransmission(
        &self,
        answer: &Answer,
        request: &Message,
        to: &NameAddr,
        aor: &str,
        username: &str,
    ) -> bool {
        let (Answer::Direct { .. }, Some(call_id), Ok(cseq)) =
            (answer, request.call_id(), request.cseq())
        else {
            return false;
        };
        let own = to.uri.as_sip().and_then(|s| s.user_unescaped());
        if own.as_deref() != Some(username) {
            return false;
        }
        let window = (self.cfg.t1 * 64).as_secs().max(1);
        let now = sipline_registrar::unix_now();
        self.bindings.with(aor, |list| {
            list.iter().any(|b| {
                b.call_id == call_id.trim()
                    && b.cseq == cseq.seq
                    && now.saturating_sub(b.updated_at) <= window
            })
        })
    }

    fn process_register(&mut self, answer: Answer, request: Message, source: Source, aor: String) {
        if let (false, Some(store)) = (self.bindings.contains(&aor), &self.store) {
            match store.get(&aor) {
                Ok(b) => self.bindings.insert(&aor, b),
                Err(e) => {
                    warn!("reading the bindings of {aor}: {e}");
                    self.reply_to(answer, &request, 500, Some("Location store failure"));
                    return self.release(&aor);
                }
            }
        }
        let ctx = RegisterContext {
            source: Some(Arc::new(source)),
            to_tag: Some(answer.to_tag()),
            // The store takes the whole list (below), never the changes.
            bindings_only: true,
            // lent to the registrar, which need not parse To again
            aor: Some(aor),
            // no transaction absorbs retransmissions
            stateless: matches!(answer, Answer::Direct { .. }),
        };
        let now = sipline_registrar::unix_now();
        let registrar = &self.registrar;
        let key = ctx.aor.as_deref().unwrap_or_default();
        let processed = self.bindings.with(key, |current| {
            registrar.process(now, &request, current, &ctx)
        });
        let aor = ctx.aor.unwrap_or_default();
        let Ok(outcome) = processed else {
            self.reply_to(answer, &request, 400, None);
            return self.release(&aor);
        };
        if !outcome.changed {
            let response = outcome.response;
            self.answer(answer, response);
            return self.release(&aor);
        }
        let pending = self.pending(answer, outcome.response);
        let Some(store) = &self.store else {
            // In memory only: the cache is the store, and the registrar's
            // list (the AOR's bindings with the changes applied) its new
            // entry.
            self.bindings.insert(&aor, outcome.bindings);
            self.send_pending(pending);
            return self.release(&aor);
        };
        // The 200 goes out only once the bindings are on disk; commits of
        // concurrent REGISTERs are grouped by the store's writer, which
        // reports each one here right after its commit. This thread holds
        // the AOR's current bindings and is the only one writing the AOR
        // (REGISTERs of an AOR come to one thread, one at a time): the
        // registrar's list is the AOR's whole new value, encoded here, and
        // the store's one writer thread only puts it in the tree.
        //
        // The cache takes the new list at once, and the AOR stays busy
        // (its next REGISTER waits) until the commit: what waits for it is
        // only the 200's bytes, so that little of a REGISTER is still in
        // memory when the commit comes back (bench/RESULTS.md). A call may
        // be routed to the new bindings a few milliseconds before they are
        // on disk (RFC 3261 §10.3 step 7 has them "committed (that is,
        // made visible to the proxy or redirect server)"); should the
        // commit fail, the cache goes back to what the store holds.
        let value = sipline_registrar::EncodedBindings::new(&outcome.bindings);
        self.bindings.insert(&aor, outcome.bindings);
        let done = self.done_tx.clone();
        store.submit_replace_then(&aor.clone(), value, move |result| {
            let _ = done.send(Done::Registered {
                pending,
                aor,
                result,
            });
        });
    }

    /// A REGISTER's 200, made ready to go once its bindings are stored.
    fn pending(&self, answer: Answer, mut response: Message) -> Pending {
        match answer {
            Answer::Tx(tx) => Pending::Tx(tx, Box::new(response)),
            Answer::Direct { dest, .. } => {
                self.add_server_header(&mut response);
                let bytes = response.to_bytes();
                Pending::Direct { dest, bytes }
            }
        }
    }

    /// A REGISTER's bindings are stored: its 200.
    fn send_pending(&mut self, pending: Pending) {
        match pending {
            Pending::Tx(tx, response) => self.respond(tx, *response),
            Pending::Direct { dest, bytes } => self.stateless.push((*dest, bytes)),
        }
    }

    /// A REGISTER's bindings could not be stored: the AOR's cached
    /// bindings go back to the store's (which the AOR's busy state kept
    /// from changing meanwhile), and a 500 instead of its 200 (RFC 3261
    /// §10.3 step 7: "If any one of them fails, the request MUST fail
    /// with a 500").
    fn store_failed(&mut self, aor: &str, pending: Pending) {
        match self.store.as_ref().map(|s| s.get(aor)) {
            Some(Ok(stored)) => self.bindings.insert(aor, stored),
            _ => self.bindings.remove(aor),
        }
        match pending {
            Pending::Tx(tx, response) => self.respond(tx, store_failure(*response)),
            Pending::Direct { dest, bytes } => {
                // The 200's own bytes, which this server wrote, parse.
                let ok = match Message::parse(bytes) {
                    Ok(ok) => ok,
                    Err(e) => return warn!("the 200 to {aor} did not parse again: {e}"),
                };
                let mut response = store_failure(ok);
                self.add_server_header(&mut response);
                self.stateless.push((*dest, response.to_bytes()));
            }
        }
    }

    /// The AOR's REGISTER is done: start the next one waiting for it.
    fn release(&mut self, aor: &str) {
        // One lookup: an AOR seldom has a REGISTER waiting.
        let Some((name, mut busy)) = self.busy.remove_entry(aor) else {
            return;
        };
        if let Some(q) = busy.queue.pop_front() {
            busy.key = q.answer.key();
            self.busy.insert(name, busy);
            self.process_register(q.answer, q.request, q.source, aor.to_string())
        }
    }

    fn challenge(&mut self, answer: Answer, request: &Message, stale: bool) {
        let Some(auth) = &self.auth else { return };
        let Some(req) = request.as_request() else {
            return;
        };
        let to_tag = answer.to_tag();
        let mut r =
            sipline_message::builder::response_to(req, StatusCode::UNAUTHORIZED, Some(&to_tag));
        let challenges = lock(auth).challenge(SystemTime::now(), stale);
        for c in challenges {
            r.headers.push(StdHeader::WwwAuthenticate, c.to_string());
        }
        self.answer(answer, Message::from(r));
    }

    fn reply(&mut self, tx: TransactionId, code: u16, reason: Option<&str>) {
        let Some(request) = self.table.request(tx).cloned() else {
            return;
        };
        self.reply_to(Answer::Tx(tx), &request, code, reason);
    }

    /// Sends a response to a REGISTER for the registrar.
    fn answer(&mut self, answer: Answer, response: Message) {
        let pending = self.pending(answer, response);
        self.send_pending(pending);
    }

    /// A response made here to a request at hand: `reply`, for a REGISTER
    /// for the registrar whether or not it has a transaction.
    fn reply_to(&mut self, answer: Answer, request: &Message, code: u16, reason: Option<&str>) {
        let Some(req) = request.as_request() else {
            return;
        };
        let status = StatusCode::new(code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let to_tag = answer.to_tag();
        let mut r = sipline_message::builder::response_to(req, status, Some(&to_tag));
        if let Some(reason) = reason {
            r.reason = reason.to_string().into();
        }
        self.answer(answer, Message::from(r));
    }

    /// Our Server header, only when the response has none: a response
    /// forwarded from a UAS keeps its own, and a second Server header would
    /// make it malformed (RFC 3261 §7.3.1: only comma-separated list headers
    /// may repeat; Server is not one, §20.35, §25.1).
    fn add_server_header(&self, response: &mut Message) {
        if !response.headers().contains(StdHeader::Server) {
            response
                .headers_mut()
                .push(StdHeader::Server, self.server_header.clone());
        }
    }

    fn respond(&mut self, tx: TransactionId, mut response: Message) {
        self.add_server_header(&mut response);
        if let Err(e) = self.table.respond(Instant::now(), tx, response) {
            debug!("respond on {tx:?}: {e}");
        }
    }

    /// A response sent without a transaction (to a request that could not get one).
    fn reply_stateless(&self, request: &Message, dest: Destination, code: u16, reason: &str) {
        let Some(req) = request.as_request() else {
            return;
        };
        // never answer an ACK; nowhere to send without a Via
        if req.method == Method::Ack || request.top_via().is_err() {
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

/// The 500 for a REGISTER whose bindings could not be stored, made from
/// the 200 that was to go (the request is gone by then): its Via, From, To
/// (with our tag), Call-ID and CSeq, as RFC 3261 §8.2.6.2 has a response
/// copy them, and nothing else (no Contact, Date, Path ...).
fn store_failure(ok: Message) -> Message {
    let Message::Response(mut r) = ok else {
        return ok;
    };
    let mut headers = sipline_message::header::Headers::with_capacity(8);
    for row in r.headers.iter() {
        if matches!(
            row.name.std(),
            Some(
                StdHeader::Via
                    | StdHeader::From
                    | StdHeader::To
                    | StdHeader::CallId
                    | StdHeader::CSeq
            )
        ) {
            headers.push_row(row.clone());
        }
    }
    r.headers = headers;
    r.status = StatusCode::SERVER_INTERNAL_ERROR;
    r.reason = "Location store failure".into();
    r.body = Bytes::new();
    Message::from(r)
}

/// The proxy core's view of the location store.
struct StoreLocator<'a> {
    store: Option<&'a DurableStore>,
    cache: Option<&'a BindingCache>,
    /// The open connections (flows, RFC 5626): none known without it.
    layer: Option<&'a TransportLayer>,
    users: &'a HashMap<String, Credential>,
    known_users_only: bool,
    now: u64,
}

impl<'a> StoreLocator<'a> {
    fn new(
        store: Option<&'a DurableStore>,
        users: &'a HashMap<String, Credential>,
        known_users_only: bool,
    ) -> Self {
        Self {
            store,
            cache: None,
            layer: None,
            users,
            known_users_only,
            now: sipline_registrar::unix_now(),
        }
    }
}

impl<'a> StoreLocator<'a> {
    fn with_cache(mut self, cache: &'a BindingCache) -> Self {
        self.cache = Some(cache);
        self
    }

    fn with_layer(mut self, layer: &'a TransportLayer) -> Self {
        self.layer = Some(layer);
        self
    }
}

impl Locator for StoreLocator<'_> {
    /// `None` (404) for a user we do not know, when users are configured;
    /// else the unexpired bindings (none: 480).
    fn lookup(&self, aor: &str) -> Option<Vec<Target>> {
        // (whether the AOR has any binding, its unexpired ones as targets),
        // read in place from the cache (no copy per request), else from
        // the store
        let targets = |bindings: &[Binding]| {
            let list: Vec<Target> = bindings
                .iter()
                .filter_map(|b| Target::from_binding(b, self.now))
                .collect();
            (bindings.is_empty(), list)
        };
        let (none, targets) = match self.cache.and_then(|c| c.cached(aor, targets)) {
            Some(found) => found,
            None => targets(
                &self
                    .store
                    .map(|s| s.get(aor).unwrap_or_default())
                    .unwrap_or_default(),
            ),
        };
        if none && self.known_users_only {
            let user = aor
                .strip_prefix("sip:")
                .or_else(|| aor.strip_prefix("sips:"))
                .and_then(|r| r.split_once('@'))
                .map(|(u, _)| u);
            if user.is_none_or(|u| !self.users.contains_key(u)) {
                return None;
            }
        }
        Some(targets)
    }

    /// A connection flow exists while the connection is open; a UDP flow
    /// (`udp:REMOTE@LOCAL`) cannot be seen to fail here, so it always does.
    fn flow_exists(&self, flow: &str) -> bool {
        if flow.starts_with("udp:") {
            return true;
        }
        match (self.layer, flow.parse::<u64>()) {
            (Some(layer), Ok(id)) => layer.connection(ConnectionId(id)).is_some(),
            _ => false,
        }
    }
}

/// The proxy core's settings from the server's.
fn proxy_config(
    cfg: &Config,
    listeners: &[(Transport, SocketAddr)],
    flow_key: [u8; 32],
) -> ProxyConfig {
    let (rr_transport, rr_addr) = listeners
        .iter()
        .find(|(t, _)| *t == Transport::Udp)
        .or_else(|| listeners.first())
        .copied()
        .unwrap_or((Transport::Udp, SocketAddr::from(([127, 0, 0, 1], 5060))));
    let rr = listener_uri(rr_transport, rr_addr).with_param("lr", None);
    let mut pc = ProxyConfig::new(rr);
    // RFC 5658: Record-Route names the listener of each side of a request.
    pc.listeners = listeners
        .iter()
        .map(|(t, a)| (*t, listener_uri(*t, *a)))
        .collect();
    pc.flow_token_key = Some(flow_key);
    pc.domains = cfg.domains.clone();
    pc.local = listeners
        .iter()
        .map(|(_, a)| (a.ip().to_string(), Some(a.port())))
        .collect();
    pc.record_route = cfg.record_route;
    pc.forking = if cfg.sequential_forking {
        sipline_proxy::Forking::Sequential
    } else {
        sipline_proxy::Forking::Parallel
    };
    pc.branch_timeout = cfg.branch_timeout;
    pc.timer_c = cfg.timer_c;
    // The transport layer validates every message it passes up (and
    // answers 400 itself): the core need not do it again.
    pc.prevalidated = true;
    // Redirect-mode requests go to a redirect core of their own.
    pc.mode = match cfg.mode {
        Mode::Proxy | Mode::Redirect => sipline_proxy::Mode::Proxy,
        Mode::Stateless => sipline_proxy::Mode::Stateless,
    };
    pc.static_routes = cfg
        .routes
        .iter()
        .map(|r| sipline_proxy::StaticRoute {
            matcher: match (&r.prefix, &r.domain) {
                (Some(p), _) => sipline_proxy::RouteMatch::UserPrefix(p.clone()),
                (None, d) => sipline_proxy::RouteMatch::Domain(d.clone().unwrap_or_default()),
            },
            next_hops: r.next_hops.clone(),
            permanent: r.permanent,
        })
        .collect();
    pc
}

/// Where a next hop with a numeric host goes, without DNS (RFC 3263 §4.1,
/// §4.2): the transport its `transport` parameter names, read with the
/// scheme (a SIPS URI with `tcp` is TLS, with `ws` WSS: RFC 3261 §26.2.2,
/// RFC 7118 §5.2, §5.5; `wss` as some write it is WSS too), else TLS for
/// SIPS and UDP for SIP; the port given, else the transport's default (443
/// for WSS). `None` for a host name.
fn direct_destination(uri: &Uri) -> Option<Destination> {
    let sip = uri.as_sip()?;
    let ip = match &sip.host {
        Host::Ipv4(a) => IpAddr::V4(*a),
        Host::Ipv6(a) => IpAddr::V6(*a),
        Host::Domain(_) => return None,
    };
    let transport = match sip.transport_protocol() {
        Some(t) => t,
        None if sip.scheme == Scheme::Sips => Transport::Tls,
        None => Transport::Udp,
    };
    let port = sip.port.unwrap_or(transport.default_port());
    Some(Destination::new(transport, SocketAddr::new(ip, port)))
}

/// Our URI on a listener, for Record-Route (RFC 5658 §6.2): UDP plain,
/// TCP and WS with their `transport` parameter, TLS as a SIPS URI (never
/// `transport=tls`), WSS as a SIPS URI with `transport=ws` (RFC 7118 §5.2
/// defines no "wss"; §5.5: SIPS with "ws" is secure WebSocket).
fn listener_uri(transport: Transport, addr: SocketAddr) -> SipUri {
    let host = match addr.ip() {
        IpAddr::V4(a) => Host::Ipv4(a),
        IpAddr::V6(a) => Host::Ipv6(a),
    };
    let scheme = if transport.is_secure() {
        Scheme::Sips
    } else {
        Scheme::Sip
    };
    let mut uri = SipUri::new(scheme, host).with_port(addr.port());
    if !matches!(transport, Transport::Udp | Transport::Tls) {
        uri.set_param("transport", Some(transport.uri_param()));
    }
    uri
}

/// Sets the transport and sent-by of the top Via (ours, put there by the
/// proxy core) to the transport the request goes over and our listening
/// address for it (RFC 3261 §18.1.1, §16.6 step 8): a request sent over TCP
/// must not say UDP.
fn set_our_via(layer: &TransportLayer, request: &mut Message, transport: Transport) {
    // The proxy core writes its Via with the UDP listener's address and
    // transport when there is one (`proxy_config`): for UDP it is already
    // right, and re-parsing and re-writing it would only cost.
    if transport == Transport::Udp && layer.listener(Transport::Udp).is_some() {
        return;
    }
    let Some(local) = layer
        .listener(transport)
        .or_else(|| layer.listener(Transport::Udp))
    else {
        return;
    };
    let host = match local.ip() {
        IpAddr::V4(a) => Host::Ipv4(a),
        IpAddr::V6(a) => Host::Ipv6(a),
    };
    sipline_proxy::rewrite_top_via(request, transport.as_str(), host, Some(local.port()));
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Proxy => "proxy",
        Mode::Redirect => "redirect",
        Mode::Stateless => "stateless proxy",
    }
}

/// RFC 3263 resolution of a next hop with the system's resolver.
async fn resolve(uri: &SipUri) -> Vec<Destination> {
    let Ok(lookup) = sipline_dns::HickoryLookup::system() else {
        return Vec::new();
    };
    let rc = sipline_dns::ResolveConfig::with_transports(&[
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ]);
    // SRV weights need randomness that can cross an await (Send).
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(rand::random());
    match sipline_dns::resolve_uri(uri, &rc, &lookup, &mut rng).await {
        Ok(targets) => targets
            .into_iter()
            .map(|t| {
                let mut d = Destination::new(t.transport, t.addr);
                if t.transport.is_secure() {
                    d.server_name = Some(t.host);
                }
                d
            })
            .collect(),
        Err(e) => {
            debug!("resolving {uri}: {e}");
            Vec::new()
        }
    }
}

/// How often a thread that is shutting down looks whether all are idle.
const SHUTDOWN_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Incoming messages handled per wake-up of the driver, at most.
const INCOMING_BATCH: usize = 64;

/// Where a request came from, kept as addresses: only a REGISTER needs
/// them as the registrar's [`Source`] strings.
#[derive(Clone, Copy)]
struct Arrival {
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    connection: Option<ConnectionId>,
}

impl Arrival {
    fn source(self) -> Source {
        // each address written once (this runs for every REGISTER)
        let (remote, local) = (addr_text(self.remote), addr_text(self.local));
        let connection = match self.connection {
            Some(c) => c.0.to_string(),
            None => udp_flow_of(&remote, &local),
        };
        Source {
            transport: self.transport.as_str().to_string(),
            remote,
            local: Some(local),
            connection: Some(connection),
        }
    }

    /// The flow it came over (RFC 5626 §6), as bindings and flow tokens
    /// name it ([`Server::flow_destination`] reads it back): a connection
    /// id, or for UDP [`udp_flow_of`].
    fn flow(self) -> String {
        match self.connection {
            Some(c) => c.0.to_string(),
            None => udp_flow_of(&addr_text(self.remote), &addr_text(self.local)),
        }
    }
}

/// An address as `Display` writes it, by hand (see [`push_socket_addr`]).
fn addr_text(addr: SocketAddr) -> String {
    let mut text = String::with_capacity(21);
    push_socket_addr(&mut text, addr);
    text
}

/// A UDP flow's name, `udp:REMOTE@LOCAL`: the address pair is all a UDP
/// flow is (RFC 5626 §5.3: back to the address the request came from, from
/// the socket it came to).
fn udp_flow_of(remote: &str, local: &str) -> String {
    let mut flow = String::with_capacity(5 + remote.len() + local.len());
    flow.push_str("udp:");
    flow.push_str(remote);
    flow.push('@');
    flow.push_str(local);
    flow
}

/// A message on its way out.
struct Outgoing {
    dest: Destination,
    data: Bytes,
    retransmission: bool,
    /// The transaction it belongs to, whose failure it is if it cannot be sent.
    tx: Option<TransactionId>,
}

/// The task that sends every UDP datagram, batch by batch, in order; a
/// failure fails that message's transaction. It ends when its queue is
/// closed and empty.
fn udp_sender(
    layer: TransportLayer,
    done: mpsc::UnboundedSender<Done>,
    backlog: Arc<AtomicUsize>,
) -> (
    mpsc::UnboundedSender<Vec<Outgoing>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Outgoing>>();
    let task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            for o in batch {
                if let Err(e) = layer.send_transmit(&o.dest, o.data, o.retransmission).await {
                    debug!("send to {}: {e}", o.dest.addr);
                    if let Some(tx) = o.tx {
                        let _ = done.send(Done::SendFailed { tx });
                    }
                }
                backlog.fetch_sub(1, Ordering::AcqRel);
            }
        }
    });
    (tx, task)
}

/// A task that sends one destination's messages in order; a failure fails
/// that message's transaction.
fn send_queue(
    layer: TransportLayer,
    done: mpsc::UnboundedSender<Done>,
) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    tokio::spawn(async move {
        while let Some(o) = rx.recv().await {
            if let Err(e) = layer.send_transmit(&o.dest, o.data, o.retransmission).await {
                debug!("send to {}: {e}", o.dest.addr);
                if let Some(tx) = o.tx {
                    let _ = done.send(Done::SendFailed { tx });
                }
            }
        }
    });
    tx
}

/// The lock of a shared state; a shard that panicked holding it left
/// nothing half-written that the others cannot use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A To tag: 64 random bits (RFC 3261 §19.3).
fn tag() -> String {
    crate::client::random_token(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7118 §5.2, §5.5: our WSS listener is `sips:` with
    /// `transport=ws`, never `transport=wss`; WS `sip:` with it; TLS
    /// `sips:` alone (RFC 5658 §6.2, RFC 3261 §26.2.2).
    #[test]
    fn listener_uris() {
        let a: SocketAddr = "192.0.2.1:8443".parse().unwrap();
        let uri = |t| listener_uri(t, a).to_string();
        assert_eq!(uri(Transport::Wss), "sips:192.0.2.1:8443;transport=ws");
        assert_eq!(uri(Transport::Ws), "sip:192.0.2.1:8443;transport=ws");
        assert_eq!(uri(Transport::Tls), "sips:192.0.2.1:8443");
        assert_eq!(uri(Transport::Tcp), "sip:192.0.2.1:8443;transport=tcp");
        assert_eq!(uri(Transport::Udp), "sip:192.0.2.1:8443");
    }

    /// The proxy core's own Record-Route URI (and Via, when no listener
    /// takes over) is the UDP listener's, else the first listener's,
    /// written as [`listener_uri`] writes it: a server on WSS alone is
    /// `sips:...;transport=ws`.
    #[test]
    fn proxy_record_route_uri_is_a_listener_uri() {
        let cfg = Config::load(None, &super::super::config::Overrides::default()).unwrap();
        let rr = |listeners: &[(Transport, &str)]| {
            let l: Vec<(Transport, SocketAddr)> = listeners
                .iter()
                .map(|(t, a)| (*t, a.parse().unwrap()))
                .collect();
            proxy_config(&cfg, &l, [0; 32]).record_route_uri.to_string()
        };
        assert_eq!(
            rr(&[(Transport::Wss, "192.0.2.1:8443")]),
            "sips:192.0.2.1:8443;transport=ws;lr"
        );
        assert_eq!(
            rr(&[(Transport::Tls, "192.0.2.1:5061")]),
            "sips:192.0.2.1:5061;lr"
        );
        assert_eq!(
            rr(&[
                (Transport::Wss, "192.0.2.1:8443"),
                (Transport::Udp, "192.0.2.1:5060")
            ]),
            "sip:192.0.2.1:5060;lr"
        );
    }

    /// A SIPS URI with `transport=ws` is WSS (port 443 by default), as is
    /// one with `transport=wss` as some write it; SIP with `ws` plain WS;
    /// SIPS with `tcp` or nothing TLS; a host name needs DNS.
    #[test]
    fn direct_destinations() {
        let d = |s: &str| {
            direct_destination(&Uri::parse(s).unwrap()).map(|d| (d.transport, d.addr.to_string()))
        };
        let wss = Some((Transport::Wss, "192.0.2.1:8443".to_string()));
        assert_eq!(d("sips:192.0.2.1:8443;transport=ws;lr"), wss);
        assert_eq!(d("sips:192.0.2.1:8443;transport=wss;lr"), wss);
        assert_eq!(d("sip:192.0.2.1:8443;transport=wss"), wss);
        assert_eq!(
            d("sips:bob@192.0.2.1;transport=ws"),
            Some((Transport::Wss, "192.0.2.1:443".to_string()))
        );
        assert_eq!(
            d("sip:192.0.2.1:8080;transport=ws"),
            Some((Transport::Ws, "192.0.2.1:8080".to_string()))
        );
        assert_eq!(
            d("sips:192.0.2.1;transport=tcp"),
            Some((Transport::Tls, "192.0.2.1:5061".to_string()))
        );
        assert_eq!(
            d("sips:192.0.2.1"),
            Some((Transport::Tls, "192.0.2.1:5061".to_string()))
        );
        assert_eq!(
            d("sip:192.0.2.1"),
            Some((Transport::Udp, "192.0.2.1:5060".to_string()))
        );
        assert_eq!(d("sips:proxy.example.com;transport=ws"), None);
    }
}
