//! The registrar's processing of REGISTER (RFC 3261 §10.3 steps 5 to 8), as
//! a pure function of the request, the time and the AOR's current bindings.
//!
//! Steps 1 to 4 are the caller's: step 1 (is the Request-URI's domain ours:
//! else proxy the request), step 2 (Require: reject unknown extensions with
//! 420), step 3 and 4 (authenticate, and check that the user may modify the
//! AOR). [`RegistrarConfig::domains`] gives the 404 of step 5 for AORs whose
//! host is not ours; anything subtler (e.g. the AOR exists in a user
//! database) is also the caller's, before calling [`Registrar::process`].

use crate::binding::{Binding, BindingKey, Change, ContactParam, Source};
use crate::{canonical_aor, http_date};
use sipline_message::builder::response_to;
use sipline_message::header::{Contact, NameAddr, StdHeader, Via};
use sipline_message::{Message, Method, Request, StatusCode, Uri};
use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Registrar policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrarConfig {
    /// Expiration used when neither the Contact's `expires` parameter nor an
    /// Expires header is present (RFC 3261 §10.3 step 7: "a
    /// locally-configured default value"). Default 3600.
    pub default_expires: u32,
    /// Requests for 0 < expires < this (and < 3600) get 423 Interval Too
    /// Brief with Min-Expires (RFC 3261 §10.3 step 7, §20.23). 0 disables the
    /// check. Values above 3600 are treated as 3600, since 423 is allowed
    /// only for intervals "smaller than one hour". Default 60.
    pub min_expires: u32,
    /// Longer requested intervals are shortened to this ("The registrar MAY
    /// choose an expiration less than the requested expiration interval").
    /// Default 86400.
    pub max_expires: u32,
    /// RFC 3327 §5.3: a REGISTER with Path from a UA that did not send
    /// `Supported: path` is rejected with 420 (the recommended policy) when
    /// true; when false, the Path is accepted anyway. Default true.
    pub path_requires_support: bool,
    /// RFC 5626 §6 outbound processing (instance-id + reg-id bindings, 439,
    /// `Require: outbound`). When false, `reg-id` is ignored. Default true.
    pub outbound: bool,
    /// Service-Route values (name-addr texts, e.g. `<sip:orig@scscf.example.com;lr>`)
    /// added to every 200 OK (RFC 3608 §6.3). Default none.
    pub service_route: Vec<String>,
    /// If not empty, the domains this registrar is responsible for: an AOR
    /// whose host is none of them gets 404 (RFC 3261 §10.3 step 5). Compared
    /// case-insensitively. Default empty (every domain accepted).
    pub domains: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 86400,
            path_requires_support: true,
            outbound: true,
            service_route: Vec::new(),
            domains: Vec::new(),
        }
    }
}

/// Per-request facts the message does not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterContext {
    /// The flow the request arrived on, stored in the bindings (RFC 5626 §6).
    pub source: Option<Arc<Source>>,
    /// To tag for the response (RFC 3261 §8.2.6.2). When `None`, one is
    /// derived from the request ([`to_tag_for`]).
    pub to_tag: Option<String>,
    /// The caller stores the AOR's whole new list
    /// ([`RegisterOutcome::bindings`]) and has no use for
    /// [`RegisterOutcome::changes`]: they are then not made (a refresh
    /// saves a copy of the binding), and [`RegisterOutcome::changed`] alone
    /// says whether anything is to be stored.
    pub bindings_only: bool,
    /// The request's canonical AOR, when the caller has it already (from
    /// [`Registrar::aor_of`]): the To URI is then not parsed again, unless
    /// the registrar checks domains ([`RegistrarConfig::domains`]).
    pub aor: Option<String>,
    /// The caller answers without a server transaction (a stateless UAS,
    /// RFC 3261 §8.2.7), so retransmissions reach the registrar. A request
    /// whose Call-ID and CSeq equal those of the request that wrote a
    /// binding it names is then taken for a retransmission of that request
    /// (a UA raises the CSeq for every new REGISTER in a Call-ID, §10.2.4,
    /// §8.1.1.5): the binding is left as it is and the request is answered
    /// like the first one (200 with the current bindings), where §10.3 step
    /// 7 would fail it. So identical requests get the same response, which
    /// §8.2.7 asks of a stateless UAS. A lower CSeq still fails.
    pub stateless: bool,
}

/// What the registrar decided.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    /// The response to send once `changes` are committed (200 OK), or at
    /// once (any other status: `changes` is then empty).
    pub response: Message,
    /// The canonical AOR, if the To header could be read.
    pub aor: Option<String>,
    /// Changes to apply to the AOR's bindings, atomically (§10.3 step 7:
    /// "committed ... if and only if all binding updates and additions
    /// succeed"). Also removes expired bindings found in the input. Empty
    /// when the request changed nothing, or when
    /// [`RegisterContext::bindings_only`] was set.
    pub changes: Vec<Change>,
    /// The request changed the AOR's bindings (or dropped expired ones):
    /// the new list must be stored before the 200 goes out.
    pub changed: bool,
    /// The AOR's bindings after the changes (unexpired), as listed in the
    /// response.
    pub bindings: Vec<Binding>,
}

impl RegisterOutcome {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match &self.response {
            Message::Response(r) => r.status,
            Message::Request(_) => StatusCode::SERVER_INTERNAL_ERROR,
        }
    }

    /// Replaces the Contact list of a 200 OK with `bindings` (e.g. what the
    /// store returned after applying the changes, which may include
    /// concurrent writes): §10.3 step 8, "all current bindings", each with
    /// its remaining `expires`. Expired bindings are left out.
    pub fn set_bindings(&mut self, now: u64, bindings: Vec<Binding>) {
        let live: Vec<Binding> = bindings
            .into_iter()
            .filter(|b| !b.is_expired(now))
            .collect();
        if self.status() == StatusCode::OK {
            let headers = self.response.headers_mut();
            headers.remove_all(StdHeader::Contact);
            for b in &live {
                headers.push(StdHeader::Contact, b.contact_value(now));
            }
        }
        self.bindings = live;
    }
}

/// The request given to [`Registrar::process`] is not a REGISTER request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a REGISTER request")]
pub struct NotRegister;

/// A registrar: RFC 3261 §10.3 steps 5 to 8 with RFC 3327, RFC 5626 and
/// RFC 3608. Holds only configuration; see [`crate::register`] for the
/// store round trip.
#[derive(Debug, Clone, Default)]
pub struct Registrar {
    config: RegistrarConfig,
}

fn status(code: u16) -> StatusCode {
    StatusCode::new(code).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR)
}

/// `delta-seconds` (RFC 3261 §25.1): values above 2^32-1 are taken as
/// 2^32-1 (§20.19 "larger than 2**32-1 ... treated as 2**32-1" by way of
/// saturation), malformed ones as 3600 (§20.19: "Malformed values SHOULD be
/// treated as equivalent to 3600").
fn delta_seconds(v: &str) -> u32 {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return 3600;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The changes a REGISTER makes, recorded or (for
/// [`RegisterContext::bindings_only`]) only noted.
struct Changes {
    record: bool,
    changed: bool,
    list: Vec<Change>,
}

impl Changes {
    fn new(bindings_only: bool) -> Self {
        Self {
            record: !bindings_only,
            changed: false,
            list: Vec::new(),
        }
    }

    fn push(&mut self, change: impl FnOnce() -> Change) {
        self.changed = true;
        if self.record {
            self.list.push(change());
        }
    }

    fn remove(&mut self, key: impl FnOnce() -> BindingKey) {
        self.push(|| Change::Remove(key()));
    }
}

/// One Contact, validated and with its expiry resolved.
struct Target<'a> {
    addr: &'a NameAddr,
    expires: u32,
    instance: Option<String>,
    reg_id: Option<u32>,
}

impl Registrar {
    /// A registrar with this policy.
    pub fn new(config: RegistrarConfig) -> Self {
        Self { config }
    }

    /// The policy.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The canonical AOR of a REGISTER (from its To header; §10.3 step 5),
    /// to fetch its bindings before [`Registrar::process`]. `None` if To is
    /// missing or malformed (`process` then answers 400).
    pub fn aor_of(&self, request: &Message) -> Option<String> {
        request.to_header().ok().map(|to| canonical_aor(&to.uri))
    }

    /// Processes a REGISTER against the AOR's `current` bindings (as read
    /// from the store; expired ones are removed). `now` is Unix seconds.
    ///
    /// Returns the response and the changes to commit; the response must be
    /// sent only after the changes are committed, and replaced by a 500 if
    /// the commit fails (§10.3 step 7).
    pub fn process(
        &self,
        now: u64,
        request: &Message,
        current: &[Binding],
        ctx: &RegisterContext,
    ) -> Result<RegisterOutcome, NotRegister> {
        let req = match request {
            Message::Request(r) if r.method == Method::Register => r,
            _ => return Err(NotRegister),
        };
        let tag = ctx.to_tag.clone().unwrap_or_else(|| to_tag_for(request));
        let reject = |code: u16, aor: Option<String>| RegisterOutcome {
            response: Message::from(response_to(req, status(code), Some(&tag))),
            aor,
            changes: Vec::new(),
            changed: false,
            bindings: Vec::new(),
        };

        // §10.3 step 5: the AOR is the To URI, canonicalized.
        let aor = match &ctx.aor {
            Some(aor) if self.config.domains.is_empty() => aor.clone(),
            _ => {
                let Ok(to) = request.to_header() else {
                    return Ok(reject(400, None));
                };
                let aor = canonical_aor(&to.uri);
                if !self.config.domains.is_empty() && !self.domain_ok(&to.uri) {
                    return Ok(reject(404, Some(aor)));
                }
                aor
            }
        };
        let (Some(call_id), Ok(cseq)) = (request.call_id(), request.cseq()) else {
            return Ok(reject(400, Some(aor)));
        };
        let call_id = call_id.trim();
        let cseq = cseq.seq;
        let Ok(contacts) = request.contacts() else {
            return Ok(reject(400, Some(aor)));
        };
        let Ok(path) = request.name_addrs(StdHeader::Path) else {
            return Ok(reject(400, Some(aor)));
        };
        let supported: Vec<String> = request
            .tokens(StdHeader::Supported)
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let supports = |tag: &str| supported.iter().any(|t| t == tag);

        // RFC 3327 §5.3: Path without `Supported: path` -> 420 (recommended policy).
        if !path.is_empty() && self.config.path_requires_support && !supports("path") {
            let mut out = reject(420, Some(aor));
            out.response
                .headers_mut()
                .push(StdHeader::Unsupported, "path");
            return Ok(out);
        }

        // The Expires header (§20.19), read leniently as §20.19 asks.
        let header_expires = request
            .headers()
            .get(StdHeader::Expires)
            .map(|v| delta_seconds(v));

        // Expired bindings are not "current" (§10.3 step 8) and are dropped.
        let mut changes = Changes::new(ctx.bindings_only);
        // Borrowed until the end: a binding this request replaces (a
        // refresh) is never copied.
        let mut working: Vec<Cow<'_, Binding>> = Vec::with_capacity(current.len() + contacts.len());
        for b in current {
            if b.is_expired(now) {
                changes.remove(|| b.key());
            } else {
                working.push(Cow::Borrowed(b));
            }
        }

        // §10.3 step 6: no Contact -> fetch; `*` -> remove all.
        if contacts.is_empty() {
            let working = working.into_iter().map(Cow::into_owned).collect();
            return Ok(self.ok(req, &tag, aor, now, changes, working, None, false));
        }
        if contacts.iter().any(|c| matches!(c, Contact::Wildcard)) {
            // "If the request has additional Contact fields or an expiration
            // time other than zero, the request is invalid ... 400".
            if contacts.len() != 1 || header_expires != Some(0) {
                return Ok(reject(400, Some(aor)));
            }
            for b in &working {
                if b.call_id == call_id && cseq <= b.cseq {
                    // "Otherwise, the update MUST be aborted and the request fails."
                    return Ok(self.stale(req, &tag, aor));
                }
            }
            let mut changes = Changes::new(ctx.bindings_only);
            changes.push(|| Change::RemoveAll);
            return Ok(self.ok(req, &tag, aor, now, changes, Vec::new(), None, false));
        }

        // RFC 5626 §6: outbound processing applies if we are the first hop
        // (one Via) or the first Path URI has `ob`.
        // (Exactly one Via value, and a valid one: counted without parsing
        // every Via of a request that came through proxies.)
        // Asked only for a contact with a reg-id.
        let outbound_ok = || {
            let first_hop = || {
                let mut vias = request.headers().values(StdHeader::Via);
                match (vias.next(), vias.next()) {
                    (Some(v), None) => Via::parse(&v).is_ok(),
                    _ => false,
                }
            };
            let path_ob = path
                .first()
                .and_then(|p| p.uri.as_sip())
                .is_some_and(|u| u.has_param("ob"));
            self.config.outbound && (path_ob || first_hop())
        };

        // Validate every Contact and resolve its expiry before changing
        // anything (a 4xx "skips the remaining steps").
        let mut targets = Vec::with_capacity(contacts.len());
        for c in &contacts {
            let Contact::Address(addr) = c else {
                continue;
            };
            // §10.3 step 7: the expires param, else the Expires header, else the default.
            let requested = match addr.params.get("expires") {
                Some(Some(v)) => delta_seconds(v),
                Some(None) => 3600,
                None => header_expires.unwrap_or(self.config.default_expires),
            };
            let min = self.config.min_expires.min(3600);
            if requested > 0 && requested < 3600 && requested < min {
                // §10.3 step 7 / §21.4.17: 423 with Min-Expires (§20.23).
                let mut out = reject(423, Some(aor));
                out.response
                    .headers_mut()
                    .push(StdHeader::MinExpires, min.to_string());
                return Ok(out);
            }
            let expires = requested.min(self.config.max_expires);
            let instance = addr
                .params
                .get_unquoted("+sip.instance")
                .map(|s| s.into_owned());
            let mut reg_id = match addr.params.get("reg-id") {
                Some(Some(v)) => match v.parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => return Ok(reject(400, Some(aor))),
                },
                Some(None) => return Ok(reject(400, Some(aor))),
                None => None,
            };
            if reg_id.is_some() {
                if instance.is_none() || !self.config.outbound {
                    // RFC 5626 §6: "a reg-id but no instance-id ... simply
                    // ignores the reg-id parameter".
                    reg_id = None;
                } else if !outbound_ok() {
                    // RFC 5626 §6: not first hop and no `ob` in Path.
                    if supports("outbound") {
                        return Ok(reject(439, Some(aor)));
                    }
                    reg_id = None;
                }
            }
            targets.push(Target {
                addr,
                expires,
                instance,
                reg_id,
            });
        }
        // RFC 5626 §6: several non-zero contacts, any with reg-id -> 400.
        let live: Vec<&Target<'_>> = targets.iter().filter(|t| t.expires > 0).collect();
        if live.len() > 1 && live.iter().any(|t| t.reg_id.is_some()) {
            return Ok(reject(400, Some(aor)));
        }

        let path_vector: Vec<String> = path.iter().map(|p| p.to_string()).collect();
        let user_agent = request
            .headers()
            .get(StdHeader::UserAgent)
            .map(|v| v.to_string());
        let mut outbound_used = false;

        // §10.3 step 7: each contact in turn, against the tentative list.
        let mut retransmission = false;
        for t in &targets {
            // The Contact URI as stored; a stored contact written the same
            // way is the same contact without parsing it again (a refresh).
            let contact_uri = t.addr.uri.to_string();
            let found = working.iter().position(|b| match (&t.instance, t.reg_id) {
                (Some(instance), Some(reg_id)) => {
                    b.reg_id == Some(reg_id) && b.instance.as_deref() == Some(instance.as_str())
                }
                _ => {
                    !(b.instance.is_some() && b.reg_id.is_some())
                        && (b.contact_uri == contact_uri || b.same_contact(&t.addr.uri))
                }
            });
            if let Some(i) = found {
                // Ordering applies against the bindings as they were before
                // this request (a Contact listed twice is not "out of
                // order"): the ones this request wrote are the owned ones.
                if let Cow::Borrowed(old) = &working[i] {
                    if old.call_id == call_id && cseq <= old.cseq {
                        if ctx.stateless && cseq == old.cseq {
                            retransmission = true;
                            break;
                        }
                        return Ok(self.stale(req, &tag, aor));
                    }
                }
            }
            if t.reg_id.is_some() {
                outbound_used = true;
            }
            if t.expires == 0 {
                if let Some(i) = found {
                    let old = working.remove(i);
                    changes.remove(|| old.key());
                }
                continue;
            }
            let params: Vec<ContactParam> = t
                .addr
                .params
                .iter()
                .filter(|p| !p.name.eq_ignore_ascii_case("expires"))
                .filter(|p| t.reg_id.is_some() || !p.name.eq_ignore_ascii_case("reg-id"))
                .map(|p| ContactParam {
                    name: p.name.to_string(),
                    value: p.value.as_ref().map(|v| v.to_string()),
                })
                .collect();
            let binding = Binding {
                aor: aor.clone(),
                contact_uri,
                params,
                q: t.addr.q(),
                expires_at: now + u64::from(t.expires),
                call_id: call_id.to_owned(),
                cseq,
                path: path_vector.clone(),
                instance: t.instance.clone(),
                reg_id: t.reg_id,
                source: ctx.source.clone(),
                user_agent: user_agent.clone(),
                updated_at: now,
            };
            if let Some(i) = found {
                if !working[i].same_key(&binding) {
                    // Equivalent URI written differently: replace.
                    changes.remove(|| working[i].key());
                }
            }
            changes.push(|| Change::Put(binding.clone()));
            match found {
                Some(i) => working[i] = Cow::Owned(binding),
                None => working.push(Cow::Owned(binding)),
            }
        }

        let echo_path = (!path.is_empty()).then_some(&path[..]);
        if retransmission {
            // Answered like the first one (see `RegisterContext::stateless`):
            // the bindings as they are, none of this request's changes made
            // again (only the expired ones go, as for any request).
            let mut changes = Changes::new(ctx.bindings_only);
            let mut list = Vec::with_capacity(current.len());
            for b in current {
                if b.is_expired(now) {
                    changes.remove(|| b.key());
                } else {
                    list.push(b.clone());
                }
            }
            let outbound = targets.iter().any(|t| t.reg_id.is_some());
            let require_outbound = outbound && supports("outbound");
            return Ok(self.ok(
                req,
                &tag,
                aor,
                now,
                changes,
                list,
                echo_path,
                require_outbound,
            ));
        }
        let require_outbound = outbound_used && supports("outbound");
        Ok(self.ok(
            req,
            &tag,
            aor,
            now,
            changes,
            working.into_iter().map(Cow::into_owned).collect(),
            echo_path,
            require_outbound,
        ))
    }

    fn domain_ok(&self, uri: &Uri) -> bool {
        let host = match uri {
            Uri::Sip(s) => s.host.to_string(),
            // tel and other URIs have no domain to check: left to the caller.
            _ => return true,
        };
        self.config
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&host))
    }

    /// §10.3 steps 6 and 7: "the update MUST be aborted and the request
    /// fails" for a CSeq not higher than the stored one with the same
    /// Call-ID. The status is 500, as for any failed update in step 7.
    fn stale(&self, req: &Request, tag: &str, aor: String) -> RegisterOutcome {
        let mut resp = response_to(req, StatusCode::SERVER_INTERNAL_ERROR, Some(tag));
        resp.reason = "Out of order CSeq for binding".into();
        RegisterOutcome {
            response: Message::from(resp),
            aor: Some(aor),
            changes: Vec::new(),
            changed: false,
            bindings: Vec::new(),
        }
    }

    /// §10.3 step 8: 200 OK with every current binding and its remaining
    /// expires, and Date; plus Path echo (RFC 3327 §5.3), Service-Route
    /// (RFC 3608 §6.3) and `Require: outbound` (RFC 5626 §6).
    #[allow(clippy::too_many_arguments)]
    fn ok(
        &self,
        req: &Request,
        tag: &str,
        aor: String,
        now: u64,
        changes: Changes,
        bindings: Vec<Binding>,
        path: Option<&[NameAddr]>,
        require_outbound: bool,
    ) -> RegisterOutcome {
        let mut resp = response_to(req, StatusCode::OK, Some(tag));
        let h = &mut resp.headers;
        for b in &bindings {
            h.push(StdHeader::Contact, b.contact_value(now));
        }
        h.push(StdHeader::Date, date_value(now));
        if let Some(path) = path {
            for p in path {
                h.push(StdHeader::Path, p.to_string());
            }
        }
        for sr in &self.config.service_route {
            h.push(StdHeader::ServiceRoute, sr.clone());
        }
        if require_outbound {
            h.push(StdHeader::Require, "outbound");
        }
        // Keep Content-Length last, as the builder wrote it.
        h.remove_all(StdHeader::ContentLength);
        h.push(StdHeader::ContentLength, "0");
        RegisterOutcome {
            response: Message::from(resp),
            aor: Some(aor),
            changed: changes.changed,
            changes: changes.list,
            bindings,
        }
    }
}

/// A To tag for a response to `request`, derived from it (Call-ID, CSeq,
/// From tag) with a key drawn once per process: a stateless UAS "MUST
/// generate tags in a stateless manner -- in a manner that will generate
/// the same tag for the same request consistently" (RFC 3261 §8.2.7), so a
/// retransmission answered again gets the same tag; and the key keeps
/// tags from being guessed (§19.3 wants them random).
pub fn to_tag_for(request: &Message) -> String {
    to_tag_of(request_key(request))
}

/// The To tag [`to_tag_for`] gives a request whose [`request_key`] is `key`.
pub fn to_tag_of(key: u64) -> String {
    format!("{:012x}", key & 0xffff_ffff_ffff)
}

/// A keyed hash (the key drawn once per process) of what makes a REGISTER
/// the same request to a registrar without a transaction: its Call-ID,
/// CSeq number and From tag. A retransmission has the same key; another
/// request of the client's has another, but for a chance of 2^-64.
pub fn request_key(request: &Message) -> u64 {
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = KEY.get_or_init(Default::default).build_hasher();
    request.call_id().hash(&mut h);
    request.cseq().ok().map(|c| c.seq).hash(&mut h);
    request.from_tag().hash(&mut h);
    h.finish()
}

/// The Date header value for `now` (Unix seconds): [`http_date`], made once
/// per second per thread (a registrar answers thousands of REGISTERs a
/// second, all with the same Date).
fn date_value(now: u64) -> sipline_message::ByteString {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u64, sipline_message::ByteString)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((t, v)) if *t == now => v.clone(),
            _ => {
                let v = sipline_message::ByteString::from(http_date(now));
                *last = Some((now, v.clone()));
                v
            }
        }
    })
}

#[cfg(test)]
mod date_tests {
    use super::{date_value, http_date};

    #[test]
    fn date_value_is_http_date_for_each_second() {
        for t in [1_289_690_940, 1_289_690_940, 1_289_690_941, 1_289_690_940] {
            assert_eq!(&*date_value(t), http_date(t).as_str());
        }
    }
}
