//! The transaction table: matching in O(1) by key, timers in a heap.

use crate::config::Config;
use crate::key::{ClientKey, MergeKey, ServerKey};
use crate::server_invite::AckOutcome;
use crate::shard::ShardedMap;
use crate::timer::TimerTable;
use crate::tx::{Kind, Out, State, Tx};
use crate::{
    client_invite, client_non_invite, server_invite, server_non_invite, ApiError, Event,
    TransactionId, Transmit,
};
use sipline_message::{Bytes, Message, Method};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What became of a received request.
#[allow(clippy::large_enum_variant)] // see ResponseMatch
#[derive(Debug)]
pub enum Received {
    /// A new server transaction: the TU must answer it with
    /// [`Transactions::respond`].
    New {
        /// The new server transaction.
        transaction: TransactionId,
        /// The request.
        request: Message,
        /// Another server transaction with the same From tag, Call-ID and
        /// CSeq: a merged request (RFC 3261 §8.2.2.2), which a UAS answers
        /// with 482. Proxies ignore this.
        merged: Option<TransactionId>,
    },
    /// A CANCEL: a new non-INVITE server transaction (answer it), and the
    /// INVITE server transaction it cancels, if one matches (§9.2).
    Cancel {
        /// The CANCEL's own server transaction.
        transaction: TransactionId,
        /// The CANCEL.
        request: Message,
        /// The INVITE transaction it matches.
        invite: Option<TransactionId>,
    },
    /// A retransmission of a request a transaction has: absorbed, and the
    /// last response resent where the state machine says so.
    Retransmission {
        /// The transaction.
        transaction: TransactionId,
    },
    /// An ACK for a 300-699 response, absorbed by its INVITE transaction.
    AckAbsorbed {
        /// The INVITE server transaction.
        transaction: TransactionId,
    },
    /// An ACK that matched an INVITE server transaction in the Accepted
    /// state: for the TU (RFC 6026 §7.1).
    Ack {
        /// The INVITE server transaction.
        invite: TransactionId,
        /// The ACK.
        ack: Message,
    },
    /// An ACK that matches no transaction: the ACK of a 2xx, which belongs
    /// to the dialog (RFC 3261 §17.2.3, §13.3.1.4), or a stray.
    StrayAck(Message),
    /// The request lacks what matching needs (a top Via, CSeq, Call-ID):
    /// the caller answers 400 statelessly or drops it.
    Invalid(Message),
}

/// What became of a received response.
// Messages are moved, not copied, through these enums: boxing them would add
// an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ResponseMatch {
    /// It matched this client transaction (its events say what followed).
    Matched(TransactionId),
    /// It matches no transaction: a proxy forwards it statelessly
    /// (§16.7), a UAC drops it (§8.1.3.3 aside, §17.1.3).
    Stray(Message),
}

/// Counters since the table was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client transactions created.
    pub client_created: u64,
    /// Server transactions created.
    pub server_created: u64,
    /// Messages sent again by a timer or for an absorbed duplicate.
    pub retransmissions: u64,
    /// Timers B, F and H that fired.
    pub timeouts: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
}

/// Every transaction of an endpoint. `A` is the caller's notion of where
/// to send (an address, a connection, ...): the table stores it with each
/// transaction and hands it back with every [`Transmit`].
pub struct Transactions<A> {
    config: Config,
    /// Boxed: the map moves only pointers when it grows. Sharded maps
    /// (see [`ShardedMap`]): these hold every transaction for 64*T1 after
    /// it ends, millions under load, and must not stop the thread to grow.
    txs: ShardedMap<TransactionId, Box<Tx<A>>>,
    client_keys: ShardedMap<ClientKey, TransactionId>,
    server_keys: ShardedMap<ServerKey, TransactionId>,
    merge_keys: ShardedMap<MergeKey, TransactionId>,
    heap: BinaryHeap<Reverse<(Instant, TransactionId)>>,
    next_id: u64,
    out: Out<A>,
    stats: Stats,
    /// Live transactions whose state [`State::is_unfinished`].
    unfinished: usize,
}

impl<A: Clone> Transactions<A> {
    /// An empty table.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            txs: ShardedMap::new(),
            client_keys: ShardedMap::new(),
            server_keys: ShardedMap::new(),
            merge_keys: ShardedMap::new(),
            heap: BinaryHeap::new(),
            next_id: 0,
            out: Out::default(),
            stats: Stats::default(),
            unfinished: 0,
        }
    }

    /// The timer configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Live transactions that are not done with their exchange: no final
    /// response yet, or a 2xx whose ACK is still to pass
    /// ([`State::is_unfinished`]). The others only wait out the timers
    /// (J, K, D, I) that absorb retransmissions: what a graceful shutdown
    /// need not wait for, where [`Transactions::len`] counts them too.
    pub fn unfinished(&self) -> usize {
        self.unfinished
    }

    /// A transaction's state, if it is alive.
    pub fn state(&self, id: TransactionId) -> Option<State> {
        self.txs.get(&id).map(|t| t.state)
    }

    /// A transaction's kind, if it is alive.
    pub fn kind(&self, id: TransactionId) -> Option<Kind> {
        self.txs.get(&id).map(|t| t.kind)
    }

    /// The request that created a transaction, while it is alive; a
    /// non-INVITE server transaction holds it only until its final
    /// response.
    pub fn request(&self, id: TransactionId) -> Option<&Message> {
        self.txs.get(&id).and_then(|t| t.request.as_deref())
    }

    /// Where a transaction sends: the destination of a client transaction,
    /// the source of a server transaction's request.
    pub fn destination(&self, id: TransactionId) -> Option<&A> {
        self.txs.get(&id).map(|t| &t.dest)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            retransmissions: self.out.retransmissions,
            ..self.stats
        }
    }

    fn new_tx(&mut self, kind: Kind, request: Message, dest: A, reliable: bool) -> Tx<A> {
        self.next_id += 1;
        Tx {
            id: TransactionId(self.next_id),
            kind,
            state: State::Terminated,
            reliable,
            dest,
            timers: TimerTable::default(),
            interval: self.config.t1,
            request: Some(Box::new(request)),
            key_hash: None,
            merge_hash: None,
            rfc2543: false,
            request_bytes: Bytes::new(),
            last_response: None,
            ack: None,
            final_to_tag: None,
            timer_c_fired: false,
            scheduled: None,
            unfinished: false,
        }
    }

    /// Starts a client transaction for `request` (not ACK) and sends it to
    /// `destination`. `reliable` says whether the transport is (no
    /// retransmissions then, §17.1.1.2, §17.1.2.2).
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        destination: A,
        reliable: bool,
    ) -> Result<TransactionId, ApiError> {
        let method = match &request {
            Message::Request(r) => r.method.clone(),
            Message::Response(_) => return Err(ApiError::WrongMessageKind),
        };
        if method == Method::Ack {
            return Err(ApiError::AckIsNotATransaction);
        }
        let key = ClientKey::of(&request).ok_or(ApiError::MissingKey)?;
        if self.client_keys.contains_key(&key) {
            return Err(ApiError::DuplicateTransaction);
        }
        let kind = if method == Method::Invite {
            Kind::ClientInvite
        } else {
            Kind::ClientNonInvite
        };
        let bytes = request.to_bytes();
        let mut tx = self.new_tx(kind, request, destination, reliable);
        tx.request_bytes = bytes;
        match kind {
            Kind::ClientInvite => client_invite::start(&mut tx, now, &self.config, &mut self.out),
            _ => client_non_invite::start(&mut tx, now, &self.config, &mut self.out),
        }
        let id = tx.id;
        tx.key_hash = Some(self.client_keys.insert(key, id));
        self.stats.client_created += 1;
        self.insert(tx);
        Ok(id)
    }

    /// Sends a response in a server transaction.
    pub fn respond(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Message,
    ) -> Result<(), ApiError> {
        let status = match &response {
            Message::Response(r) => r.status,
            Message::Request(_) => return Err(ApiError::WrongMessageKind),
        };
        let tx = self.txs.get_mut(&id).ok_or(ApiError::UnknownTransaction)?;
        if status.is_final() {
            tx.final_to_tag = response.to_tag().map(str::to_string);
        }
        let bytes = response.to_bytes();
        match tx.kind {
            Kind::ServerInvite => {
                server_invite::respond(tx, now, &self.config, status, bytes, &mut self.out)?
            }
            Kind::ServerNonInvite => {
                server_non_invite::respond(tx, now, &self.config, status, bytes, &mut self.out)?;
                // §17.2.2: from here on the transaction only absorbs
                // retransmissions (matched by its keys) and resends its
                // response, for 64*T1 over UDP: the request goes now
                // rather than stay in memory that long. RFC 2543 matching
                // needs the request's To tag, so such requests stay.
                if status.is_final() && !tx.rfc2543 {
                    tx.request = None;
                }
            }
            _ => return Err(ApiError::NotAServerTransaction),
        }
        self.settle(id);
        Ok(())
    }

    /// A request from the network, from `source` (where responses go), over
    /// a reliable transport or not. Matching follows §17.2.3; the caller has
    /// already checked the message (e.g. with `Message::validate`).
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Message,
        source: A,
        reliable: bool,
    ) -> Received {
        let method = match &request {
            Message::Request(r) => r.method.clone(),
            Message::Response(_) => return Received::Invalid(request),
        };
        let Some(key) = ServerKey::of(&request, None) else {
            return Received::Invalid(request);
        };
        if method == Method::Ack {
            return self.handle_ack(now, request, &key);
        }
        if let Some(&id) = self.server_keys.get(&key) {
            let tx = self
                .txs
                .get_mut(&id)
                .expect("keys point at live transactions");
            // The key holds the method (an ACK went its own way above).
            // RFC 2543 matching also needs the To tag of the request (§17.2.3).
            let same = !key.is_rfc2543()
                || tx.request.as_deref().and_then(Message::to_tag) == request.to_tag();
            if same {
                match tx.kind {
                    Kind::ServerInvite => server_invite::on_retransmission(tx, &mut self.out),
                    _ => server_non_invite::on_retransmission(tx, &mut self.out),
                }
                return Received::Retransmission { transaction: id };
            }
        }
        let merge = MergeKey::of(&request);
        let merged = merge.as_ref().and_then(|m| self.merge_keys.get(m).copied());
        let kind = if method == Method::Invite {
            Kind::ServerInvite
        } else {
            Kind::ServerNonInvite
        };
        let mut tx = self.new_tx(kind, request.clone(), source, reliable);
        match kind {
            Kind::ServerInvite => server_invite::start(&mut tx, now, &self.config),
            _ => server_non_invite::start(&mut tx, now, &self.config),
        }
        let id = tx.id;
        tx.rfc2543 = key.is_rfc2543();
        tx.key_hash = Some(self.server_keys.insert(key, id));
        // the first transaction of a merge key owns it (and removes it)
        if let (Some(m), None) = (merge, merged) {
            tx.merge_hash = Some(self.merge_keys.insert(m, id));
        }
        self.stats.server_created += 1;
        self.insert(tx);
        if method == Method::Cancel {
            // §9.2: the CANCEL matches the INVITE it cancels by the rules of
            // §17.2.3 with the method taken as INVITE.
            let invite = ServerKey::of(&request, Some(Method::Invite))
                .and_then(|k| self.server_keys.get(&k).copied())
                .filter(|i| self.kind(*i) == Some(Kind::ServerInvite));
            return Received::Cancel {
                transaction: id,
                request,
                invite,
            };
        }
        Received::New {
            transaction: id,
            request,
            merged,
        }
    }

    fn handle_ack(&mut self, now: Instant, ack: Message, key: &ServerKey) -> Received {
        let Some(&id) = self.server_keys.get(key) else {
            return Received::StrayAck(ack);
        };
        let tx = self
            .txs
            .get_mut(&id)
            .expect("keys point at live transactions");
        if tx.kind != Kind::ServerInvite {
            return Received::StrayAck(ack);
        }
        // RFC 2543 ACKs match only with the To tag of the final response (§17.2.3).
        if key.is_rfc2543() && tx.final_to_tag.as_deref() != ack.to_tag() {
            return Received::StrayAck(ack);
        }
        let outcome = server_invite::on_ack(tx, now, &self.config);
        self.settle(id);
        match outcome {
            AckOutcome::Absorbed => Received::AckAbsorbed { transaction: id },
            AckOutcome::ToTu => Received::Ack { invite: id, ack },
        }
    }

    /// A response from the network (§17.1.3 matching).
    pub fn handle_response(&mut self, now: Instant, response: Message) -> ResponseMatch {
        let Some(key) = ClientKey::of(&response) else {
            self.stats.stray_responses += 1;
            return ResponseMatch::Stray(response);
        };
        let Some(&id) = self.client_keys.get(&key) else {
            self.stats.stray_responses += 1;
            return ResponseMatch::Stray(response);
        };
        let tx = self
            .txs
            .get_mut(&id)
            .expect("keys point at live transactions");
        match tx.kind {
            Kind::ClientInvite => {
                client_invite::on_response(tx, now, &self.config, response, &mut self.out)
            }
            _ => client_non_invite::on_response(tx, now, &self.config, response, &mut self.out),
        }
        self.settle(id);
        ResponseMatch::Matched(id)
    }

    /// The transport failed to deliver a message of transaction `id`
    /// (§17.1.4, §17.2.4, RFC 6026 §7.1).
    pub fn handle_transport_error(&mut self, _now: Instant, id: TransactionId) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        self.out
            .events
            .push_back(Event::TransportError { transaction: id });
        if matches!(tx.kind, Kind::ClientInvite | Kind::ClientNonInvite) {
            tx.terminate();
        }
        self.settle(id);
    }

    /// Fires every timer due at `now`. Calling it early or twice does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(tx) = self.txs.get_mut(&id) else {
                continue;
            };
            if tx.scheduled != Some(at) {
                continue; // a stale entry
            }
            tx.scheduled = None;
            // A timer's follow-up is scheduled from when it was due, not from
            // when it was handled, so late wake-ups do not add up (drift).
            while let Some((timer, due)) = tx.timers.take_expired(now) {
                let is_timeout = matches!(
                    (timer, tx.kind, tx.state),
                    (crate::Timer::B, Kind::ClientInvite, State::Calling)
                        | (
                            crate::Timer::C,
                            Kind::ClientInvite,
                            State::Calling | State::Proceeding
                        )
                        | (
                            crate::Timer::F,
                            Kind::ClientNonInvite,
                            State::Trying | State::Proceeding
                        )
                        | (crate::Timer::H, Kind::ServerInvite, State::Completed)
                );
                // Timer C's first firing only warns the TU
                if is_timeout && (timer != crate::Timer::C || tx.timer_c_fired) {
                    self.stats.timeouts += 1;
                }
                match tx.kind {
                    Kind::ClientInvite => {
                        client_invite::on_timer(tx, timer, due, &self.config, &mut self.out)
                    }
                    Kind::ClientNonInvite => {
                        client_non_invite::on_timer(tx, timer, due, &self.config, &mut self.out)
                    }
                    Kind::ServerInvite => {
                        server_invite::on_timer(tx, timer, due, &self.config, &mut self.out)
                    }
                    Kind::ServerNonInvite => {
                        server_non_invite::on_timer(tx, timer, due, &self.config, &mut self.out)
                    }
                }
                if tx.state == State::Terminated {
                    break;
                }
            }
            self.settle(id);
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if self.txs.get(&id).is_some_and(|t| t.scheduled == Some(at)) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    fn insert(&mut self, tx: Tx<A>) {
        let id = tx.id;
        self.txs.insert(id, Box::new(tx));
        self.settle(id);
    }

    /// After a transaction changed: remove it if it ended, else make sure
    /// the heap has its next timer.
    fn settle(&mut self, id: TransactionId) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        // Every change of state ends here (and a transaction leaves the
        // table only from here, as Terminated, which is not unfinished).
        if tx.state.is_unfinished() != tx.unfinished {
            tx.unfinished = !tx.unfinished;
            if tx.unfinished {
                self.unfinished += 1;
            } else {
                self.unfinished -= 1;
            }
        }
        if tx.state == State::Terminated {
            self.remove(id);
            return;
        }
        if let Some(next) = tx.timers.next() {
            if tx.scheduled.is_none_or(|s| next < s) {
                tx.scheduled = Some(next);
                self.heap.push(Reverse((next, id)));
            }
        }
    }

    fn remove(&mut self, id: TransactionId) {
        let Some(tx) = self.txs.remove(&id) else {
            return;
        };
        // Its keys' entries are found by their hashes and its id (a key
        // taken over by a later transaction is that one's to remove).
        if let Some(h) = tx.key_hash {
            match tx.kind {
                Kind::ClientInvite | Kind::ClientNonInvite => {
                    self.client_keys.remove_hashed(h, |t| *t == id)
                }
                Kind::ServerInvite | Kind::ServerNonInvite => {
                    self.server_keys.remove_hashed(h, |t| *t == id)
                }
            };
        }
        if let Some(h) = tx.merge_hash {
            self.merge_keys.remove_hashed(h, |t| *t == id);
        }
        self.out.events.push_back(Event::Terminated {
            transaction: id,
            kind: tx.kind,
        });
    }
}
