//! What the durable stores share: the jobs sent to one writer thread, the
//! group-commit batching loop, the replies made after a commit, and the
//! counters. A store supplies the function that makes a batch durable.

use crate::binding::{encode_bindings, Binding, Change};
use crate::store::StoreError;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// The default [`CommitMode::Group::window`]. At 20,000 REGISTER/s on one
/// core, 1 ms cut the server's CPU from 92% to 78% of the core (batches of
/// ~50 jobs instead of ~6); 10 ms cuts the writer thread's CPU by a further
/// ~30% against the message thread's (`bench/RESULTS.md`), for at most
/// 10 ms more latency, and only under load (a lone REGISTER is committed
/// at once).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(10);

/// How the writer thread groups applies into commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Batch every job pending when a commit starts into one durable write
    /// transaction.
    Group {
        /// At most this many jobs in one transaction.
        max_batch: usize,
        /// When the previous batch held more than one job, sleep this long
        /// after the first job of the next before taking the queued ones
        /// (zero: take only what is already queued, i.e. what arrived
        /// during the previous commit).
        window: Duration,
    },
    /// One durable write transaction per apply (the baseline).
    PerApply,
}

impl Default for CommitMode {
    fn default() -> Self {
        Self::Group {
            max_batch: 1024,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Counters of the writer thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Applies acknowledged as committed.
    pub applies: u64,
}

/// What the writer does with an apply's result once its batch is committed.
pub(crate) enum Reply {
    /// Send it to a [`PendingApply`].
    Wait(mpsc::Sender<Result<Vec<Binding>, StoreError>>),
    /// Call this on the writer thread (`submit_then`).
    Then(Box<dyn FnOnce(Result<Vec<Binding>, StoreError>) + Send>),
}

impl Reply {
    fn send(self, result: Result<Vec<Binding>, StoreError>) {
        match self {
            Self::Wait(tx) => {
                let _ = tx.send(result);
            }
            Self::Then(f) => f(result),
        }
    }
}

pub(crate) enum Job {
    Apply {
        aor: String,
        changes: Vec<Change>,
        reply: Reply,
    },
    Purge {
        now: u64,
        reply: mpsc::Sender<Result<usize, StoreError>>,
    },
    /// The AOR's whole value, encoded by the caller (empty: no bindings).
    Replace {
        aor: String,
        value: Vec<u8>,
        then: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    },
}

/// One AOR's whole list of bindings as the store keeps it, for
/// `submit_replace_then` ([`crate::RedbStore::submit_replace_then`],
/// [`crate::LogStore::submit_replace_then`]); made on the caller's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBindings(Vec<u8>);

impl EncodedBindings {
    /// Encodes `bindings` (none: the AOR is removed).
    pub fn new(bindings: &[Binding]) -> Self {
        if bindings.is_empty() {
            Self(Vec::new())
        } else {
            Self(encode_bindings(bindings))
        }
    }
}

/// An apply sent to the writer thread, not yet known to be committed.
#[derive(Debug)]
#[must_use = "the changes are durable only once wait() returns Ok"]
pub struct PendingApply(mpsc::Receiver<Result<Vec<Binding>, StoreError>>);

impl PendingApply {
    /// Blocks until the changes are committed (or failed); returns the AOR's
    /// bindings after them.
    pub fn wait(self) -> Result<Vec<Binding>, StoreError> {
        self.0.recv().unwrap_or(Err(StoreError::Closed))
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    applies: AtomicU64,
}

pub(crate) fn backend(e: impl Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The result of one job of a batch, in the batch's order.
pub(crate) enum Outcome {
    Applied(Result<Vec<Binding>, StoreError>),
    Purged(usize),
    Replaced,
}

/// Replies to every job of a committed batch (`outcomes` follow the jobs).
pub(crate) fn reply_committed(batch: Vec<Job>, outcomes: Vec<Outcome>, counters: &Counters) {
    counters.commits.fetch_add(1, Ordering::Relaxed);
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Applied(Ok(_)) | Outcome::Replaced))
        .count();
    counters
        .applies
        .fetch_add(applied as u64, Ordering::Relaxed);
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        match (job, outcome) {
            (Job::Apply { reply, .. }, Outcome::Applied(r)) => reply.send(r),
            (Job::Replace { then, .. }, Outcome::Replaced) => then(Ok(())),
            (Job::Purge { reply, .. }, Outcome::Purged(n)) => {
                let _ = reply.send(Ok(n));
            }
            _ => unreachable!("outcomes follow the jobs in order"),
        }
    }
}

/// Fails every job of a batch of which nothing was committed.
pub(crate) fn reply_failed(batch: Vec<Job>, e: &StoreError) {
    let msg = e.to_string();
    for job in batch {
        match job {
            Job::Apply { reply, .. } => {
                reply.send(Err(StoreError::Backend(msg.clone())));
            }
            Job::Purge { reply, .. } => {
                let _ = reply.send(Err(StoreError::Backend(msg.clone())));
            }
            Job::Replace { then, .. } => then(Err(StoreError::Backend(msg.clone()))),
        }
    }
}

/// The writer thread of a durable store and the sending side of its jobs.
/// Dropping it closes the channel and waits for the queued jobs.
pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the thread: it groups jobs per `mode` and hands every batch to
    /// `commit`, which must make it durable and then reply to every job
    /// ([`reply_committed`] or [`reply_failed`]). `commit` returns whether
    /// it has work of its own left (a compaction in steps): then, whenever
    /// no job is queued, it is called again with an empty batch.
    pub(crate) fn spawn(
        name: &str,
        mode: CommitMode,
        mut commit: impl FnMut(Vec<Job>, &Counters) -> bool + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread = {
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    batch_loop(&rx, mode, |batch| commit(batch, &counters));
                })
                .map_err(backend)?
        };
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
            counters,
        })
    }

    pub(crate) fn submit(&self, aor: &str, changes: Vec<Change>) -> PendingApply {
        let (reply, rx) = mpsc::channel();
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Apply {
                aor: aor.to_owned(),
                changes,
                reply: Reply::Wait(reply),
            });
        }
        PendingApply(rx)
    }

    pub(crate) fn submit_then(
        &self,
        aor: &str,
        changes: Vec<Change>,
        then: impl FnOnce(Result<Vec<Binding>, StoreError>) + Send + 'static,
    ) {
        let job = Job::Apply {
            aor: aor.to_owned(),
            changes,
            reply: Reply::Then(Box::new(then)),
        };
        let refused = match &self.jobs {
            Some(jobs) => jobs.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(Job::Apply { reply, .. }) = refused {
            reply.send(Err(StoreError::Closed));
        }
    }

    pub(crate) fn submit_replace_then(
        &self,
        aor: &str,
        bindings: EncodedBindings,
        then: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) {
        let job = Job::Replace {
            aor: aor.to_owned(),
            value: bindings.0,
            then: Box::new(then),
        };
        let refused = match &self.jobs {
            Some(jobs) => jobs.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(Job::Replace { then, .. }) = refused {
            then(Err(StoreError::Closed));
        }
    }

    pub(crate) fn purge(&self, now: u64) -> Result<usize, StoreError> {
        let (reply, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job::Purge { now, reply })
            .map_err(|_| StoreError::Closed)?;
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            applies: self.counters.applies.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel stops the writer once the queued jobs are done.
        self.jobs = None;
        if let Some(w) = self.thread.take() {
            let _ = w.join();
        }
    }
}

/// Takes the first pending job, then (group commit) sleeps the window when
/// the previous batch held more than one job, then everything queued, up to
/// `max_batch`. While `commit` says it has work left, an empty queue gets
/// it an empty batch instead of a wait.
fn batch_loop(
    rx: &mpsc::Receiver<Job>,
    mode: CommitMode,
    mut commit: impl FnMut(Vec<Job>) -> bool,
) {
    let mut last_batch = 0;
    let mut busy = false;
    loop {
        let first = if busy {
            match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Empty) => {
                    busy = commit(Vec::new());
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let mut batch = vec![first];
        if let CommitMode::Group { max_batch, window } = mode {
            if last_batch > 1 && !window.is_zero() {
                std::thread::sleep(window);
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        last_batch = batch.len();
        busy = commit(batch);
    }
}
