//! The proxy core: response contexts and branches (RFC 3261 §16.2, §16.6 to
//! §16.10), redirect (§8.3) and stateless forwarding (§16.11).

use crate::branch;
use crate::config::{Forking, Mode, ProxyConfig};
use crate::forward::{incoming_breadth, prepare, prepare_owned, wants_record_route, RecordRoute};
use crate::locate::{Locator, Target};
use crate::redirect::redirect;
use crate::response::{aggregate_challenges, choose_best, no_503_upstream, status};
use crate::route::{preprocess, route_flow};
use crate::target::{determine, group_by_q, Disposition, TargetSet};
use crate::util::reply;
use crate::validate::{validate, Refusal};
use crate::{Action, BranchId, ContextId, Inbound, ServerTxId};
use sipline_message::header::{Contact, Header, StdHeader};
use sipline_message::{ByteString, Message, Method, Request, StatusCode, Uri};
use sipline_transaction::cancel_for;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

/// A SIP proxy core (RFC 3261 §16), sans-IO. See the [crate] documentation
/// for the drive loop.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    seed: u64,
    next_id: u64,
    contexts: HashMap<ContextId, Context>,
    by_server_tx: HashMap<ServerTxId, ContextId>,
    /// Group deadlines of the contexts, earliest first.
    deadlines: BTreeSet<(Instant, ContextId)>,
}

/// One forwarded copy of the request (a client transaction).
#[derive(Debug)]
struct Branch {
    id: BranchId,
    group: u32,
    request: Request,
    breadth: u32,
    provisional: bool,
    completed: bool,
    abandoned: bool,
    cancel_wanted: bool,
    cancel_sent: bool,
    stored: Option<(u64, Message)>,
}

/// A response context (§16.6: "a "response context" created by the proxy
/// layer before forwarding the first request").
#[derive(Debug)]
struct Context {
    id: ContextId,
    server_tx: ServerTxId,
    /// The request as received: responses the proxy makes are built from it.
    received: Request,
    /// The request after §16.4: each branch starts from a copy.
    base: Request,
    loop_hash: u64,
    record_route: bool,
    /// How the request arrived (Record-Route names that side too, RFC 5658).
    inbound: Option<Inbound>,
    forking: Forking,
    recurse: bool,
    cancel_on_2xx: bool,
    responsible: bool,
    incoming_breadth: u32,
    /// Targets of the current group not started yet (waiting for Max-Breadth).
    current: VecDeque<Target>,
    /// Groups not started yet.
    groups: VecDeque<Vec<Target>>,
    group: u32,
    group_deadline: Option<Instant>,
    /// Every URI ever put in the target set (§16.5: "Targets can only be
    /// placed in the target set once").
    target_set: Vec<Uri>,
    branches: Vec<Branch>,
    final_sent: bool,
    no_new_branches: bool,
    cancelled: bool,
    order: u64,
}

impl Context {
    fn is_invite(&self) -> bool {
        self.received.method == Method::Invite
    }

    fn branch_mut(&mut self, id: BranchId) -> Option<&mut Branch> {
        self.branches.iter_mut().find(|b| b.id == id)
    }

    fn outgoing_breadth(&self) -> u32 {
        self.branches
            .iter()
            .filter(|b| !b.completed)
            .map(|b| b.breadth)
            .sum()
    }

    fn queued(&self) -> usize {
        self.current.len() + self.groups.iter().map(Vec::len).sum::<usize>()
    }
}

/// Fields the context functions need besides the context.
struct Env<'a> {
    config: &'a ProxyConfig,
    seed: u64,
    next_id: &'a mut u64,
}

impl Proxy {
    /// A proxy with this configuration. Branch values are made unique across
    /// restarts with a random seed taken from the standard library's
    /// randomly keyed hasher (no clock, no I/O).
    pub fn new(config: ProxyConfig) -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5157_11e0);
        Self::with_seed(config, h.finish())
    }

    /// A proxy with a fixed seed for branch values and generated To tags
    /// (tests, simulations). Two proxies on the same path must not share a
    /// seed.
    pub fn with_seed(config: ProxyConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            next_id: 1,
            contexts: HashMap::new(),
            by_server_tx: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Number of live response contexts.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// True if no response context is live.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// The response context of a server transaction (how the server finds
    /// the context a CANCEL applies to, §16.10).
    pub fn context_for(&self, server_tx: ServerTxId) -> Option<ContextId> {
        self.by_server_tx.get(&server_tx).copied()
    }

    fn env(&mut self) -> (Env<'_>, &mut HashMap<ContextId, Context>) {
        (
            Env {
                config: &self.config,
                seed: self.seed,
                next_id: &mut self.next_id,
            },
            &mut self.contexts,
        )
    }

    /// A request received on server transaction `server_tx` (any method but
    /// ACK and CANCEL have one; see below). Runs §16.3 validation, §16.4
    /// route preprocessing and §16.5 target determination, then, in
    /// [`Mode::Proxy`], creates a response context and forwards to the first
    /// targets (§16.6); in [`Mode::Redirect`] answers 3xx (§8.3); in
    /// [`Mode::Stateless`] forwards statelessly (§16.11).
    ///
    /// ACK (for a 2xx: the transaction layer absorbs the others) is
    /// forwarded statelessly and never answered; `server_tx` is not used. A
    /// CANCEL passed here is one the server found no response context for:
    /// it is forwarded statelessly too (§16.10 "It MUST statelessly forward
    /// the CANCEL request"). A CANCEL that matches a context goes to
    /// [`Proxy::on_cancel`] instead. In [`Mode::Redirect`] nothing is
    /// forwarded: ACK is dropped and an unmatched CANCEL gets 481.
    ///
    /// How the request arrived is not known here: Record-Route is the one
    /// value of the outgoing side. See [`Proxy::on_request_from`].
    pub fn on_request<L: Locator + ?Sized>(
        &mut self,
        now: Instant,
        server_tx: ServerTxId,
        request: Message,
        locator: &L,
    ) -> Vec<Action> {
        self.handle_request(now, server_tx, request, locator, None)
    }

    /// [`Proxy::on_request`] for a request that arrived as `inbound` says:
    /// Record-Route names both sides when they differ (RFC 5658 §5), with
    /// flow tokens where a side is a flow (RFC 5626 §5.3), and a Route value
    /// of ours with a flow token sends the request over that flow (403 for
    /// a bad token, 430 if [`Locator::flow_exists`] says it is gone).
    pub fn on_request_from<L: Locator + ?Sized>(
        &mut self,
        now: Instant,
        server_tx: ServerTxId,
        request: Message,
        locator: &L,
        inbound: &Inbound,
    ) -> Vec<Action> {
        self.handle_request(now, server_tx, request, locator, Some(inbound))
    }

    fn handle_request<L: Locator + ?Sized>(
        &mut self,
        now: Instant,
        server_tx: ServerTxId,
        request: Message,
        locator: &L,
        inbound: Option<&Inbound>,
    ) -> Vec<Action> {
        let Message::Request(req) = &request else {
            return Vec::new();
        };
        let mut lookup = |aor: &str| locator.lookup(aor);
        let flow_exists = |flow: &str| locator.flow_exists(flow);
        if self.config.mode == Mode::Redirect {
            // §8.3: "A redirect server does not issue any SIP requests of its
            // own"; a CANCEL that matched no transaction gets 481 (§9.2).
            return match req.method {
                Method::Ack => Vec::new(),
                Method::Cancel => vec![Action::Respond {
                    server_tx,
                    response: reply(req, StatusCode::CALL_DOES_NOT_EXIST, None, self.seed),
                }],
                _ => self.redirect_request(server_tx, &request, req, &mut lookup),
            };
        }
        let stateless = matches!(req.method, Method::Ack | Method::Cancel)
            || self.config.mode == Mode::Stateless;
        if stateless {
            return match self.stateless(&request, req, &mut lookup, &flow_exists, inbound) {
                Ok(a) => vec![a],
                Err(Some(response)) => vec![Action::Respond {
                    server_tx,
                    response,
                }],
                Err(None) => Vec::new(),
            };
        }
        if self.by_server_tx.contains_key(&server_tx) {
            return Vec::new(); // a retransmission the transaction layer let through
        }
        let respond = |r: Refusal, seed| Action::Respond {
            server_tx,
            response: refusal_response(req, &r, seed),
        };
        if let Err(r) = validate(&request, req, &self.config) {
            return vec![respond(r, self.seed)];
        }
        let mut base = req.clone();
        let popped = preprocess(&mut base, &self.config);
        let disposition = Disposition::of(req);
        let forking = disposition.forking.unwrap_or(self.config.forking);
        let set = match flow_target(&base, &popped, &self.config, inbound, &flow_exists) {
            Ok(Some(set)) => Ok(set),
            Ok(None) => determine(&base, &self.config, forking, disposition, &mut lookup),
            Err(r) => Err(r),
        };
        let set = match set {
            Ok(s) => s,
            Err(r) => return vec![respond(r, self.seed)],
        };
        if disposition.redirect && set.responsible {
            // RFC 3841 §9.1 proxy-directive "redirect"
            return vec![match redirect(&base, &set, self.seed) {
                Ok(response) => Action::Respond {
                    server_tx,
                    response,
                },
                Err(r) => respond(r, self.seed),
            }];
        }
        let id = ContextId(self.next_id);
        self.next_id += 1;
        let mut ctx = new_context(
            id,
            server_tx,
            req,
            base,
            set,
            forking,
            disposition,
            &self.config,
        );
        ctx.inbound = inbound.cloned();
        self.contexts.insert(id, ctx);
        self.by_server_tx.insert(server_tx, id);
        let mut out = Vec::new();
        self.run(id, now, &mut out, |_, _, _| {});
        out
    }

    /// [`Mode::Redirect`]: §16.3 to §16.5, then a 3xx (§8.3); a
    /// Request-URI the element is not responsible for gets 404.
    fn redirect_request(
        &self,
        server_tx: ServerTxId,
        msg: &Message,
        req: &Request,
        lookup: &mut dyn FnMut(&str) -> Option<Vec<Target>>,
    ) -> Vec<Action> {
        let result = validate(msg, req, &self.config).and_then(|()| {
            let mut base = req.clone();
            let _ = preprocess(&mut base, &self.config);
            let disposition = Disposition::of(req);
            let forking = disposition.forking.unwrap_or(self.config.forking);
            let set = determine(&base, &self.config, forking, disposition, lookup)?;
            if !set.responsible {
                return Err(Refusal::new(StatusCode::NOT_FOUND));
            }
            redirect(&base, &set, self.seed)
        });
        let response = result.unwrap_or_else(|r| refusal_response(req, &r, self.seed));
        vec![Action::Respond {
            server_tx,
            response,
        }]
    }

    /// Runs `f` on a context, then starts what can be started and settles
    /// the context (best response, `Done`).
    fn run(
        &mut self,
        id: ContextId,
        now: Instant,
        out: &mut Vec<Action>,
        f: impl FnOnce(&mut Env<'_>, &mut Context, &mut Vec<Action>),
    ) {
        let (mut env, contexts) = self.env();
        let Some(ctx) = contexts.get_mut(&id) else {
            return;
        };
        let before = ctx.group_deadline;
        f(&mut env, ctx, out);
        advance(&mut env, ctx, now, out);
        let done = settle(&env, ctx, out);
        let after = if done { None } else { ctx.group_deadline };
        let server_tx = ctx.server_tx;
        if before != after {
            if let Some(d) = before {
                self.deadlines.remove(&(d, id));
            }
            if let Some(d) = after {
                self.deadlines.insert((d, id));
            }
        }
        if done {
            self.contexts.remove(&id);
            self.by_server_tx.remove(&server_tx);
        }
    }

    /// A response received by the client transaction of `branch` (§16.7).
    /// Its top Via (ours) is removed; then: 100 is absorbed; other
    /// provisional responses go upstream at once (until a final response
    /// was sent); a 2xx goes upstream at once (to INVITE: every 2xx, also
    /// after the first, §16.7 step 5) and the other pending branches are
    /// cancelled (step 10); 3xx to 6xx are stored and the best goes
    /// upstream when no branch is left (step 6), with 3xx recursed on if
    /// configured (step 4) and a 6xx cancelling every other branch (step 5).
    ///
    /// A response for a context that no longer exists (e.g. a late 2xx
    /// retransmitted after `Done`) gives nothing: the server should pass it
    /// to [`Proxy::forward_response_stateless`] (§16.7 intro: responses that
    /// match nothing are forwarded statelessly).
    pub fn on_response(
        &mut self,
        now: Instant,
        context: ContextId,
        branch: BranchId,
        response: Message,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.run(context, now, &mut out, |_, ctx, out| {
            response_on_branch(ctx, branch, response, out);
        });
        out
    }

    /// Timer B or F fired on the branch's client transaction, or its
    /// destinations were exhausted: the branch acts as if it received a 408
    /// (§16.6 step 7, §17.1.1.2). An INVITE branch that later shows signs of
    /// life (a provisional response) is cancelled.
    pub fn on_branch_timeout(
        &mut self,
        now: Instant,
        context: ContextId,
        branch: BranchId,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.run(context, now, &mut out, |env, ctx, _| {
            complete_synthetic(env, ctx, branch, StatusCode::REQUEST_TIMEOUT);
        });
        out
    }

    /// The transport could not send the branch's request: the branch acts as
    /// if it received a 503 (§16.9), which goes upstream as 500 if chosen.
    pub fn on_branch_transport_error(
        &mut self,
        now: Instant,
        context: ContextId,
        branch: BranchId,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.run(context, now, &mut out, |env, ctx, _| {
            complete_synthetic(env, ctx, branch, StatusCode::SERVICE_UNAVAILABLE);
        });
        out
    }

    /// Timer C fired on an INVITE branch (§16.8; the transaction layer's
    /// `Event::TimerC`): if the branch received a provisional response it is
    /// cancelled (its 487, or the transaction's timeout, completes it);
    /// otherwise it acts as if it received a 408.
    pub fn on_timer_c(
        &mut self,
        now: Instant,
        context: ContextId,
        branch: BranchId,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.run(context, now, &mut out, |env, ctx, out| {
            let cid = ctx.id;
            let Some(b) = ctx.branch_mut(branch) else {
                return;
            };
            if b.completed {
                return;
            }
            if b.provisional {
                cancel_branch(cid, b, out);
            } else {
                complete_synthetic(env, ctx, branch, StatusCode::REQUEST_TIMEOUT);
            }
        });
        out
    }

    /// A CANCEL matched the context's INVITE (§16.10). The server answers
    /// the CANCEL 200 itself; this cancels every pending branch and starts
    /// no new one. The final response to the INVITE comes from the branches
    /// (normally 487s), or is a 487 made here if no branch was pending.
    /// Nothing happens for a non-INVITE context.
    pub fn on_cancel(&mut self, now: Instant, context: ContextId) -> Vec<Action> {
        let mut out = Vec::new();
        self.run(context, now, &mut out, |_, ctx, out| {
            if !ctx.is_invite() || ctx.final_sent {
                return;
            }
            ctx.cancelled = true;
            ctx.no_new_branches = true;
            cancel_pending(ctx, None, out);
        });
        out
    }

    /// When [`Proxy::handle_timeout`] wants to be called next: the earliest
    /// sequential-forking group deadline ([`ProxyConfig::branch_timeout`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Runs the proxy's own timers due at `now` (may be called early or
    /// spuriously). A sequential group whose [`ProxyConfig::branch_timeout`]
    /// expired has its pending branches cancelled and the next group starts
    /// (if there is none, the group keeps running).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let due: Vec<ContextId> = self
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, id)| *id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            self.run(id, now, &mut out, |_, ctx, out| {
                ctx.group_deadline = None;
                if ctx.no_new_branches || ctx.queued() == 0 {
                    return;
                }
                let group = ctx.group;
                let cid = ctx.id;
                for b in ctx.branches.iter_mut() {
                    if b.group == group && !b.completed {
                        b.abandoned = true;
                        cancel_branch(cid, b, out);
                    }
                }
            });
        }
        out
    }

    /// Forwards a request statelessly (§16.11): §16.3 and §16.4 as usual,
    /// one target only, chosen from the message and the configuration
    /// (highest q, then lowest URI, if a locator is given; without one, a
    /// Request-URI we are responsible for and no static route gives 480),
    /// and a branch computed from the received top Via branch so that a
    /// retransmission is forwarded identically (and a CANCEL or ACK for a
    /// non-2xx gets the branch of its INVITE).
    ///
    /// `Err(Some(response))`: send this response back (statelessly, to the
    /// top Via, §18.2.2). `Err(None)`: drop the request silently (a broken
    /// ACK: an ACK is never answered).
    #[allow(clippy::result_large_err)] // Ok (an Action) is as large; moved once
    pub fn forward_stateless(
        &self,
        request: Message,
        locator: Option<&dyn Locator>,
    ) -> Result<Action, Option<Message>> {
        self.forward_stateless_inner(request, locator, None)
    }

    /// [`Proxy::forward_stateless`] for a request that arrived as `inbound`
    /// says (see [`Proxy::on_request_from`]): an ACK for a 2xx follows a
    /// flow token in its Route like the other requests of its dialog.
    #[allow(clippy::result_large_err)]
    pub fn forward_stateless_from(
        &self,
        request: Message,
        locator: Option<&dyn Locator>,
        inbound: &Inbound,
    ) -> Result<Action, Option<Message>> {
        self.forward_stateless_inner(request, locator, Some(inbound))
    }

    #[allow(clippy::result_large_err)]
    fn forward_stateless_inner(
        &self,
        request: Message,
        locator: Option<&dyn Locator>,
        inbound: Option<&Inbound>,
    ) -> Result<Action, Option<Message>> {
        let Message::Request(req) = &request else {
            return Err(None);
        };
        let mut lookup = |aor: &str| match locator {
            Some(l) => l.lookup(aor),
            None => Some(Vec::new()),
        };
        let flow_exists = |flow: &str| locator.is_none_or(|l| l.flow_exists(flow));
        self.stateless(&request, req, &mut lookup, &flow_exists, inbound)
    }

    #[allow(clippy::result_large_err)]
    fn stateless(
        &self,
        msg: &Message,
        req: &Request,
        lookup: &mut dyn FnMut(&str) -> Option<Vec<Target>>,
        flow_exists: &dyn Fn(&str) -> bool,
        inbound: Option<&Inbound>,
    ) -> Result<Action, Option<Message>> {
        let is_ack = req.method == Method::Ack;
        let refuse = |r: Refusal| {
            if is_ack {
                None
            } else {
                Some(refusal_response(req, &r, self.seed))
            }
        };
        validate(msg, req, &self.config).map_err(refuse)?;
        let mut base = req.clone();
        let popped = preprocess(&mut base, &self.config);
        let set = match flow_target(&base, &popped, &self.config, inbound, flow_exists) {
            Ok(Some(set)) => set,
            Ok(None) => determine(
                &base,
                &self.config,
                Forking::Parallel,
                Disposition::default(),
                lookup,
            )
            .map_err(refuse)?,
            Err(r) => return Err(refuse(r)),
        };
        // "A stateless proxy MUST choose one and only one target [...] This
        // choice MUST only rely on fields in the message and time-invariant
        // properties of the server."
        let target = set
            .groups
            .into_iter()
            .flatten()
            .min_by(|a, b| {
                b.q.total_cmp(&a.q)
                    .then_with(|| a.uri.to_string().cmp(&b.uri.to_string()))
            })
            .ok_or_else(|| refuse(Refusal::code(480)))?;
        let branch = branch::stateless(msg, req, &target.uri.to_string(), branch::loop_hash(req));
        let rr = if wants_record_route(req, &self.config) {
            RecordRoute::Yes(inbound)
        } else {
            RecordRoute::No
        };
        let breadth = incoming_breadth(req, &self.config);
        let prepared = prepare_owned(base, &target, &self.config, rr, &branch, breadth);
        Ok(Action::ForwardStateless {
            message: prepared.request,
            next_hop: prepared.next_hop,
            flow: target.flow,
        })
    }

    /// A response that matched no client transaction, or whose context is
    /// gone, handled as a stateless proxy would (§16.7 intro, §16.11): if the
    /// top Via is ours it is removed and the response is returned, for the
    /// server to send to the (new) top Via (§18.2.2); otherwise `None`:
    /// discard it. Also `None` if no Via is left (the response was for this
    /// element).
    pub fn forward_response_stateless(&self, mut response: Message) -> Option<Message> {
        if response.is_request() {
            return None;
        }
        let top = response.top_via().ok()?;
        if !self.config.is_local(&top.host, top.port) {
            return None;
        }
        response.headers_mut().pop_first_value(StdHeader::Via);
        response
            .headers()
            .contains(StdHeader::Via)
            .then_some(response)
    }
}

/// RFC 5626 §5.3.1: a Route value of ours with a flow token facing the next
/// hop ([`route_flow`]) makes the target set the Request-URI, reached over
/// that flow ("forwards the request over the 'logical flow' identified by
/// the flow token"); "If the flow no longer exists, the proxy SHOULD send a
/// 430 (Flow Failed) response". `Ok(None)`: no such token, targets as usual.
fn flow_target(
    base: &Request,
    popped: &[sipline_message::uri::SipUri],
    config: &ProxyConfig,
    inbound: Option<&Inbound>,
    flow_exists: &dyn Fn(&str) -> bool,
) -> Result<Option<TargetSet>, Refusal> {
    let Some(flow) = route_flow(popped, config, inbound)? else {
        return Ok(None);
    };
    if !flow_exists(&flow) {
        return Err(Refusal::code(430));
    }
    Ok(Some(TargetSet::single(
        Target::new(base.uri.clone()).with_flow(flow),
    )))
}

/// The response for a refusal of §16.3 or §16.5.
fn refusal_response(req: &Request, r: &Refusal, seed: u64) -> Message {
    let mut resp = reply(req, r.status, r.reason.as_deref(), seed);
    let headers = resp.headers_mut();
    let at = headers.len().saturating_sub(1); // before Content-Length
    for (i, (h, v)) in r.headers.iter().enumerate() {
        headers.insert(at + i, Header::new(*h, ByteString::from(v.as_str())));
    }
    resp
}

#[allow(clippy::too_many_arguments)]
fn new_context(
    id: ContextId,
    server_tx: ServerTxId,
    received: &Request,
    base: Request,
    set: TargetSet,
    forking: Forking,
    disposition: Disposition,
    config: &ProxyConfig,
) -> Context {
    Context {
        id,
        server_tx,
        loop_hash: branch::loop_hash(received),
        record_route: wants_record_route(received, config),
        inbound: None,
        incoming_breadth: incoming_breadth(received, config),
        received: received.clone(),
        base,
        forking: if set.one_at_a_time {
            Forking::Sequential
        } else {
            forking
        },
        recurse: disposition.recurse.unwrap_or(config.recurse_on_3xx),
        cancel_on_2xx: !disposition.no_cancel,
        responsible: set.responsible,
        current: VecDeque::new(),
        target_set: set.groups.iter().flatten().map(|t| t.uri.clone()).collect(),
        groups: set.groups.into(),
        group: 0,
        group_deadline: None,
        branches: Vec::new(),
        final_sent: false,
        no_new_branches: false,
        cancelled: false,
        order: 0,
    }
}

/// Starts every branch that can start: the rest of the current group as far
/// as Max-Breadth allows (RFC 5393 §5.3.3: "SIP proxies MUST NOT allow the
/// Outgoing Max-Breadth to exceed the Incoming Max-Breadth"; what does not
/// fit waits for branches to complete, §5.3.3.1 and §5.5, so the proxy
/// never needs to answer 440), then the next group: at once when forking in
/// parallel, when the current group has no live branch left when sequential.
fn advance(env: &mut Env<'_>, ctx: &mut Context, now: Instant, out: &mut Vec<Action>) {
    loop {
        if ctx.no_new_branches {
            ctx.current.clear();
            ctx.groups.clear();
            ctx.group_deadline = None;
            return;
        }
        if !ctx.current.is_empty() {
            let avail = ctx.incoming_breadth.saturating_sub(ctx.outgoing_breadth());
            if avail == 0 {
                return;
            }
            let remaining = ctx.queued() as u32;
            let k = (ctx.current.len() as u32).min(avail);
            // Each branch gets an equal share of what is available, keeping
            // some for the targets still queued (§5.6: "A SIP proxy MAY
            // distribute Max-Breadth in an arbitrary fashion").
            let share = (avail / remaining.max(1)).max(1);
            let mut leftover = if k == remaining { avail - share * k } else { 0 };
            for _ in 0..k {
                let Some(target) = ctx.current.pop_front() else {
                    break;
                };
                let mut breadth = share;
                if leftover > 0 {
                    breadth += 1;
                    leftover -= 1;
                }
                start_branch(env, ctx, target, breadth, out);
            }
            if !ctx.current.is_empty() {
                return;
            }
        }
        let busy = ctx
            .branches
            .iter()
            .any(|b| b.group == ctx.group && !b.completed && !b.abandoned);
        if ctx.forking == Forking::Sequential && busy {
            return;
        }
        let Some(next) = ctx.groups.pop_front() else {
            return;
        };
        ctx.group += 1;
        ctx.current = next.into();
        // the branch timeout only moves on to a next group: none for the last
        ctx.group_deadline = match (ctx.forking, env.config.branch_timeout) {
            (Forking::Sequential, Some(t)) if !ctx.groups.is_empty() => Some(now + t),
            _ => None,
        };
    }
}

fn start_branch(
    env: &mut Env<'_>,
    ctx: &mut Context,
    target: Target,
    breadth: u32,
    out: &mut Vec<Action>,
) {
    let n = *env.next_id;
    *env.next_id += 1;
    let via_branch = branch::stateful(env.seed, n, ctx.loop_hash, env.config.instance);
    let record_route = if ctx.record_route {
        RecordRoute::Yes(ctx.inbound.as_ref())
    } else {
        RecordRoute::No
    };
    let prepared = prepare(
        &ctx.base,
        &target,
        env.config,
        record_route,
        &via_branch,
        breadth,
    );
    let id = BranchId(n);
    let Message::Request(request) = &prepared.request else {
        return;
    };
    ctx.branches.push(Branch {
        id,
        group: ctx.group,
        request: request.clone(),
        breadth,
        provisional: false,
        completed: false,
        abandoned: false,
        cancel_wanted: false,
        cancel_sent: false,
        stored: None,
    });
    out.push(Action::Forward {
        context: ctx.id,
        branch: id,
        request: prepared.request,
        next_hop: prepared.next_hop,
        flow: target.flow,
    });
}

/// Sends the best final response when nothing is left to wait for (§16.7
/// step 6: "if no final responses have been immediately forwarded [...] and
/// all client transactions in this response context have been
/// terminated"), and reports `Done` once a final response went upstream and
/// every branch completed. Returns true when the context is done.
fn settle(env: &Env<'_>, ctx: &mut Context, out: &mut Vec<Action>) -> bool {
    let active = ctx.branches.iter().any(|b| !b.completed);
    let queued = !ctx.no_new_branches && ctx.queued() > 0;
    if !ctx.final_sent && !active && !queued {
        ctx.final_sent = true;
        ctx.no_new_branches = true;
        if let Some(response) = best_response(env, ctx) {
            out.push(Action::Respond {
                server_tx: ctx.server_tx,
                response,
            });
        }
    }
    if ctx.final_sent && !active {
        out.push(Action::Done { context: ctx.id });
        return true;
    }
    false
}

/// §16.7 steps 6 and 7.
fn best_response(env: &Env<'_>, ctx: &Context) -> Option<Message> {
    let mut stored: Vec<&(u64, Message)> = ctx
        .branches
        .iter()
        .filter_map(|b| b.stored.as_ref())
        .collect();
    stored.sort_by_key(|(order, _)| *order);
    let msgs: Vec<&Message> = stored.iter().map(|(_, m)| m).collect();
    let chosen = match choose_best(&msgs) {
        Some(i) => {
            let mut c = msgs[i].clone();
            let others: Vec<&Message> = msgs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, m)| *m)
                .collect();
            aggregate_challenges(&mut c, &others);
            no_503_upstream(&mut c);
            c
        }
        None if ctx.cancelled => reply(
            &ctx.received,
            StatusCode::REQUEST_TERMINATED,
            None,
            env.seed,
        ),
        // "If there are no final responses in the context, the proxy MUST
        // send a 408 (Request Timeout) response"
        None => reply(&ctx.received, StatusCode::REQUEST_TIMEOUT, None, env.seed),
    };
    if status(&chosen) == 408 && !ctx.is_invite() {
        // RFC 4320 §4.2: "A transaction-stateful SIP element MUST NOT send a
        // response with Status-Code of 408 to a non-INVITE request": let
        // the server transaction time out instead.
        return None;
    }
    Some(chosen)
}

/// CANCELs a branch (§9.1: only once it received a provisional response;
/// before that, the CANCEL waits for one).
fn cancel_branch(context: ContextId, b: &mut Branch, out: &mut Vec<Action>) {
    if b.completed || b.cancel_sent || b.request.method != Method::Invite {
        return;
    }
    if b.provisional {
        send_cancel(context, b, out);
    } else {
        b.cancel_wanted = true;
    }
}

/// Emits the CANCEL of an INVITE branch, once.
fn send_cancel(context: ContextId, b: &mut Branch, out: &mut Vec<Action>) {
    b.cancel_wanted = false;
    if b.cancel_sent || b.request.method != Method::Invite {
        return;
    }
    b.cancel_sent = true;
    out.push(Action::Cancel {
        context,
        branch: b.id,
        request: Message::from(cancel_for(&b.request)),
    });
}

/// §16.7 step 10 / §16.10: CANCELs every pending branch but `except`.
fn cancel_pending(ctx: &mut Context, except: Option<BranchId>, out: &mut Vec<Action>) {
    let cid = ctx.id;
    for b in ctx.branches.iter_mut() {
        if Some(b.id) != except {
            cancel_branch(cid, b, out);
        }
    }
}

/// Completes a branch as if it received `status` (a timeout: 408, §16.6
/// step 7 and §16.8; a transport error: 503, §16.9).
fn complete_synthetic(env: &Env<'_>, ctx: &mut Context, branch: BranchId, status: StatusCode) {
    let response = reply(&ctx.received, status, None, env.seed);
    ctx.order += 1;
    let order = ctx.order;
    let Some(b) = ctx.branch_mut(branch) else {
        return;
    };
    if b.completed {
        return;
    }
    b.completed = true;
    // the client transaction may still be alive downstream: cancel it if it
    // ever sends a provisional response
    b.cancel_wanted = b.request.method == Method::Invite && !b.cancel_sent;
    b.stored = Some((order, response));
}

/// §16.7 for one response on one branch.
fn response_on_branch(
    ctx: &mut Context,
    branch: BranchId,
    mut response: Message,
    out: &mut Vec<Action>,
) {
    let Some(code) = response.as_response().map(|r| r.status) else {
        return;
    };
    // 3. Via: remove ours; none left means the response was for us.
    response.headers_mut().pop_first_value(StdHeader::Via);
    if !response.headers().contains(StdHeader::Via) {
        return;
    }
    let invite = ctx.is_invite();
    let cid = ctx.id;
    let server_tx = ctx.server_tx;
    let final_sent = ctx.final_sent;
    let cancelled = ctx.cancelled;
    let Some(b) = ctx.branch_mut(branch) else {
        return;
    };
    if code.is_provisional() {
        if code == StatusCode::TRYING {
            return; // §16.7 step 5: "MUST NOT forward any 100 (Trying)"
        }
        b.provisional = true;
        if b.cancel_wanted {
            // a CANCEL waiting for this provisional response (§9.1), also on
            // a branch already counted as a 408 (Timer C, timeout)
            send_cancel(cid, b, out);
        }
        // not from a branch that is being cancelled or is over: the caller
        // would see an early dialog that can only end in a 487
        let live = !b.completed && !b.cancel_sent && !b.abandoned;
        if !final_sent && !cancelled && live {
            out.push(Action::Respond {
                server_tx,
                response,
            });
        }
        return;
    }
    if code.is_success() {
        b.completed = true;
        if invite {
            // §16.7 step 5: every 2xx to an INVITE goes upstream at once,
            // also after a final response was sent.
            out.push(Action::Respond {
                server_tx,
                response,
            });
            ctx.final_sent = true;
            ctx.no_new_branches = true;
            if ctx.cancel_on_2xx {
                // step 10 (RFC 3841 §9.1 no-cancel turns it off)
                cancel_pending(ctx, Some(branch), out);
            }
        } else if !final_sent {
            out.push(Action::Respond {
                server_tx,
                response,
            });
            ctx.final_sent = true;
            ctx.no_new_branches = true;
        }
        return;
    }
    // 3xx to 6xx
    if b.completed {
        return;
    }
    b.completed = true;
    if final_sent {
        return; // nothing more goes upstream but 2xx
    }
    let mut keep = Some(response);
    if code.class() == 3 && ctx.recurse && ctx.responsible && !ctx.no_new_branches {
        keep = keep.and_then(|r| recurse(ctx, r));
    }
    if code.class() == 6 {
        // §16.7 step 5: cancel all pending, and "MUST NOT create any new
        // branches in this context"
        ctx.no_new_branches = true;
        cancel_pending(ctx, Some(branch), out);
    }
    if let Some(r) = keep {
        ctx.order += 1;
        let order = ctx.order;
        if let Some(b) = ctx.branch_mut(branch) {
            b.stored = Some((order, r));
        }
    }
}

/// §16.7 step 4 with §16.5: the SIP and SIPS Contacts of a 3xx (not SIP ones
/// for a SIPS request) are added to the target set, unless already in it,
/// and removed from the response; the response is kept (for the best
/// response choice) only if Contacts remain ("if the proxy recurses on all
/// of the contacts in a 3xx response, the proxy SHOULD NOT add the
/// resulting contactless response to the response context").
fn recurse(ctx: &mut Context, mut response: Message) -> Option<Message> {
    let Ok(contacts) = response.contacts() else {
        return Some(response);
    };
    let sips = ctx.received.uri.scheme() == "sips";
    let mut kept: Vec<String> = Vec::new();
    let mut new: Vec<Target> = Vec::new();
    for c in contacts {
        let Contact::Address(na) = &c else {
            kept.push(c.to_string());
            continue;
        };
        let usable = match na.uri.scheme() {
            "sips" => true,
            "sip" => !sips,
            _ => false,
        };
        if !usable {
            kept.push(c.to_string());
            continue;
        }
        if ctx.target_set.iter().any(|u| u.equivalent(&na.uri)) {
            continue; // already tried: not passed upstream either
        }
        ctx.target_set.push(na.uri.clone());
        let mut t = Target::new(na.uri.clone()).with_q(na.q().unwrap_or(1.0));
        t.expires = na.expires();
        new.push(t);
    }
    if !new.is_empty() {
        ctx.groups.extend(group_by_q(new, ctx.forking));
    }
    let headers = response.headers_mut();
    let at = headers
        .iter()
        .position(|h| h.name.is(StdHeader::Contact))
        .unwrap_or(headers.len());
    headers.remove_all(StdHeader::Contact);
    if kept.is_empty() {
        return None;
    }
    for (i, c) in kept.into_iter().enumerate() {
        headers.insert(at + i, Header::new(StdHeader::Contact, ByteString::from(c)));
    }
    Some(response)
}
