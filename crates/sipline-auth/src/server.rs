//! The server (UAS, registrar, proxy) side: challenges and verification
//! (RFC 3261 §22.2, §22.3, §22.4; RFC 7616 §3.3–§3.6; RFC 8760 §2.3).

use crate::algorithm::{unhex, Algorithm, DigestValue, HashFunction, Qop};
use crate::credential::{base_ha1, ha1_plain, quote, Credential, DigestInput};
use crate::nonce::{self, millis, OpenedNonce, ReplayCache, ReplayError, RANDOM_LEN};
use crate::{AuthError, DigestRequest};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sipline_message::header::{AuthParams, Challenge, Credentials, StdHeader};
use sipline_message::{ByteString, HeaderName, Message, Uri};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// The header field that carries challenges: `WWW-Authenticate` in a 401
/// (UAS, registrar; RFC 3261 §22.2, §20.44) or `Proxy-Authenticate` in a 407
/// (proxy; RFC 3261 §22.3, §20.27).
pub fn challenge_header_name(is_proxy: bool) -> StdHeader {
    if is_proxy {
        StdHeader::ProxyAuthenticate
    } else {
        StdHeader::WwwAuthenticate
    }
}

/// The header field that carries credentials: `Authorization` (RFC 3261
/// §20.7) or `Proxy-Authorization` (RFC 3261 §20.28).
pub fn credentials_header_name(is_proxy: bool) -> StdHeader {
    if is_proxy {
        StdHeader::ProxyAuthorization
    } else {
        StdHeader::Authorization
    }
}

/// The header field for [`DigestServer::authentication_info`]:
/// `Authentication-Info` (RFC 3261 §20.6) or `Proxy-Authentication-Info`
/// (RFC 7616 §3.8, RFC 7615; not defined by RFC 3261 itself).
pub fn authentication_info_header_name(is_proxy: bool) -> HeaderName {
    if is_proxy {
        HeaderName::from("Proxy-Authentication-Info")
    } else {
        HeaderName::from(StdHeader::AuthenticationInfo)
    }
}

/// How the `uri` parameter must relate to the Request-URI.
///
/// RFC 2617 §3.2.2.5 and RFC 7616 §3.4.6 require the server to check that
/// both designate the same resource (400 otherwise); RFC 3261 §22.4 item 6
/// and RFC 8760 §2.6 item 6 relax this for SIP, where a proxy may have
/// retargeted the request. The digest itself always covers the `uri`
/// parameter as written, whatever this check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriCheck {
    /// Equal text, or both parse and are equivalent under RFC 3261 §19.1.4
    /// (tel: RFC 3966 §4). The default.
    #[default]
    Equivalent,
    /// Byte-for-byte equal text.
    Exact,
    /// No check (RFC 3261 §22.4 item 6): the application may inspect
    /// [`AuthSession::uri`] itself.
    Ignore,
}

/// Configuration of a [`DigestServer`].
#[derive(Clone)]
pub struct DigestServerConfig {
    /// The realm (RFC 3261 §22.1: e.g. the domain, `"atlanta.com"`).
    pub realm: String,
    /// HMAC key for nonces. Keep it secret and stable across restarts so
    /// that outstanding nonces stay valid; servers sharing it accept each
    /// other's nonces (but each keeps its own replay cache, so a request
    /// captured at one node can be replayed at another within the nonce
    /// lifetime: give nodes distinct secrets or route a client to one node).
    pub secret: [u8; 32],
    /// How long a nonce is accepted after it was issued; older ones get
    /// [`Verdict::Stale`]. Default 300 s.
    pub nonce_lifetime: Duration,
    /// Algorithms offered, most preferred first: one challenge each
    /// (RFC 8760 §2.3, RFC 7616 §3.7). Default `[SHA-256, MD5]`.
    pub algorithms: Vec<Algorithm>,
    /// qop values offered (RFC 3261 §22.4 item 8: always sent). Default
    /// `[auth]`.
    pub qops: Vec<Qop>,
    /// Accept the RFC 2069 form without `qop` (RFC 2617 §3.2.2.1; RFC 3261
    /// §22.4 asks SIP servers to stay compatible). Such requests carry no
    /// nonce count, so only the nonce lifetime limits replays. Default
    /// `false`.
    pub allow_rfc2069: bool,
    /// The `uri` check. Default [`UriCheck::Equivalent`].
    pub uri_check: UriCheck,
    /// Most nonces whose highest nonce count is remembered; 0 disables
    /// nonce-count replay detection. Default 16384.
    pub replay_cache_capacity: usize,
    /// Refuse (as stale) nonces the replay cache cannot vouch for: those
    /// issued before this server's first use (e.g. before a restart) or
    /// before the last eviction. Default `true`.
    pub strict_replay: bool,
}

impl fmt::Debug for DigestServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServerConfig")
            .field("realm", &self.realm)
            .field("secret", &"..")
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("algorithms", &self.algorithms)
            .field("qops", &self.qops)
            .field("allow_rfc2069", &self.allow_rfc2069)
            .field("uri_check", &self.uri_check)
            .field("replay_cache_capacity", &self.replay_cache_capacity)
            .field("strict_replay", &self.strict_replay)
            .finish()
    }
}

impl DigestServerConfig {
    /// A configuration with the defaults documented on each field.
    pub fn new(realm: impl Into<String>, secret: [u8; 32]) -> Self {
        Self {
            realm: realm.into(),
            secret,
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            qops: vec![Qop::Auth],
            allow_rfc2069: false,
            uri_check: UriCheck::Equivalent,
            replay_cache_capacity: 16384,
            strict_replay: true,
        }
    }
}

/// The outcome of [`DigestServer::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are valid: process the request.
    Ok {
        /// The authenticated user name, as sent.
        username: String,
        /// Details for [`DigestServer::authentication_info`] and logging.
        session: AuthSession,
    },
    /// The digest is right but the nonce can no longer be used: answer
    /// 401/407 with a fresh challenge from
    /// [`DigestServer::challenge`]`(now, true)` (RFC 7616 §3.3 `stale`), so
    /// the client retries without asking the user again.
    Stale {
        /// True when the nonce count was not above the highest already seen
        /// for this nonce: a replay or reordered request. RFC 7616 §5.4
        /// expects such reuse of a limited-use nonce to be answered with a
        /// stale indication; an eavesdropper replaying a request gains
        /// nothing from a fresh nonce, while a legitimate client recovers.
        /// False when the nonce expired (or, in strict mode, predates what
        /// the replay cache can vouch for).
        replayed: bool,
        /// The user name the valid digest is for.
        username: String,
    },
    /// Authentication failed: wrong password, unknown user, a nonce not
    /// issued by us, another realm, an algorithm or qop not offered, or a
    /// non-Digest scheme. One indistinguishable outcome, so that a client
    /// cannot enumerate users: answer 401/407 with a fresh challenge
    /// (`stale=false`), or 403 after repeated failures.
    Rejected,
    /// The credentials are syntactically unusable (a required parameter is
    /// missing or invalid) or the `uri` does not match the Request-URI:
    /// answer 400 (RFC 2617 §3.2.2, §3.2.2.5; RFC 7616 §3.4, §3.4.6).
    Malformed(&'static str),
}

/// What a successful verification established, for building
/// Authentication-Info (RFC 7616 §3.5) and for logging.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSession {
    realm: String,
    algorithm: Algorithm,
    qop: Option<Qop>,
    nonce: String,
    nc: Option<String>,
    cnonce: Option<String>,
    uri: String,
    issued: SystemTime,
    ha1: DigestValue,
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSession")
            .field("realm", &self.realm)
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop)
            .field("nc", &self.nc)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl AuthSession {
    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }
    /// The algorithm the client used.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// The qop the client used; `None` for the RFC 2069 form.
    pub fn qop(&self) -> Option<Qop> {
        self.qop
    }
    /// The nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
    /// The nonce count, as written (8 hex digits); `None` without qop.
    pub fn nc(&self) -> Option<&str> {
        self.nc.as_deref()
    }
    /// The client nonce; `None` without qop.
    pub fn cnonce(&self) -> Option<&str> {
        self.cnonce.as_deref()
    }
    /// The `uri` parameter (the digest-uri-value the client signed).
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// When the nonce was issued (millisecond precision).
    pub fn nonce_issued(&self) -> SystemTime {
        self.issued
    }
}

/// A stateless-nonce Digest server for one realm.
///
/// Time is always passed in as [`SystemTime`] (wall-clock, so that nonces
/// survive restarts; nonces carry millisecond timestamps). The only memory
/// is the bounded nonce-count replay cache (see [`DigestServerConfig`]).
/// `verify` takes `&mut self`; share a server between threads behind a
/// mutex.
#[derive(Debug)]
pub struct DigestServer {
    config: DigestServerConfig,
    replay: ReplayCache,
    /// A password for users that do not exist, so that they cost the same
    /// hashing as real ones.
    dummy_password: String,
    /// Fallback randomness if the OS source fails.
    counter: AtomicU64,
}

impl DigestServer {
    /// A server; fails if the configuration offers no algorithm or qop,
    /// repeats an algorithm, has a zero nonce lifetime, or a realm with
    /// control characters.
    pub fn new(config: DigestServerConfig) -> Result<Self, AuthError> {
        if config.algorithms.is_empty() {
            return Err(AuthError::InvalidConfig("no algorithm offered"));
        }
        for (i, a) in config.algorithms.iter().enumerate() {
            if config.algorithms[..i].contains(a) {
                // RFC 8760 §2.3: each challenge uses a different algorithm.
                return Err(AuthError::InvalidConfig("algorithm offered twice"));
            }
        }
        if config.qops.is_empty() {
            // RFC 3261 §22.4 item 8, RFC 8760 §2.6 item 8: always send qop.
            return Err(AuthError::InvalidConfig("no qop offered"));
        }
        if config.nonce_lifetime.is_zero() {
            return Err(AuthError::InvalidConfig("zero nonce lifetime"));
        }
        if config.realm.chars().any(char::is_control) {
            return Err(AuthError::InvalidConfig("realm has control characters"));
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&config.secret)
            .expect("HMAC accepts keys of any length");
        mac.update(b"sipline-auth dummy password");
        let dummy_password = crate::algorithm::hex(&mac.finalize().into_bytes());
        Ok(Self {
            replay: ReplayCache::new(config.replay_cache_capacity, config.strict_replay),
            config,
            dummy_password,
            counter: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DigestServerConfig {
        &self.config
    }

    /// How many nonces the replay cache currently tracks.
    pub fn replay_cache_len(&self) -> usize {
        self.replay.len()
    }

    /// The HA1 of a user that does not exist (or lacks an HA1 for `h`).
    fn dummy_ha1(&self, h: HashFunction, username: &str) -> DigestValue {
        ha1_plain(h, username, &self.config.realm, &self.dummy_password)
    }

    fn lifetime_ms(&self) -> u64 {
        u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX)
    }

    fn random(&self) -> [u8; RANDOM_LEN] {
        let mut r = [0u8; RANDOM_LEN];
        if getrandom::fill(&mut r).is_err() {
            // Uniqueness is all the nonce needs from these bytes (the tag
            // makes it unforgeable), so a keyed counter is an acceptable
            // fallback.
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.config.secret)
                .expect("HMAC accepts keys of any length");
            mac.update(b"sipline-auth fallback random");
            mac.update(&n.to_be_bytes());
            r.copy_from_slice(&mac.finalize().into_bytes()[..RANDOM_LEN]);
        }
        r
    }

    /// A fresh nonce (also usable as `nextnonce`, RFC 7616 §3.5), with
    /// randomness from the OS.
    pub fn next_nonce(&mut self, now: SystemTime) -> String {
        let r = self.random();
        self.next_nonce_with_random(now, r)
    }

    /// A fresh nonce with caller-supplied randomness (which only has to make
    /// nonces issued in the same millisecond differ).
    pub fn next_nonce_with_random(&mut self, now: SystemTime, random: [u8; 14]) -> String {
        let now_ms = millis(now);
        self.replay.note_start(now_ms);
        nonce::seal(&self.config.secret, &self.config.realm, now_ms, random)
    }

    /// The challenges for a 401/407 response, one per configured algorithm
    /// in preference order (RFC 8760 §2.3, RFC 7616 §3.7), all with the same
    /// fresh nonce; add each as its own header field named
    /// [`challenge_header_name`]. `stale` marks a retry after
    /// [`Verdict::Stale`] (RFC 7616 §3.3).
    pub fn challenge(&mut self, now: SystemTime, stale: bool) -> Vec<Challenge> {
        let r = self.random();
        self.challenge_with_random(now, stale, r)
    }

    /// [`DigestServer::challenge`] with caller-supplied randomness.
    pub fn challenge_with_random(
        &mut self,
        now: SystemTime,
        stale: bool,
        random: [u8; 14],
    ) -> Vec<Challenge> {
        let nonce = self.next_nonce_with_random(now, random);
        let realm = quote(&self.config.realm);
        let nonce = quote(&nonce);
        let qop = quote(
            &self
                .config
                .qops
                .iter()
                .map(|q| q.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        self.config
            .algorithms
            .iter()
            .map(|a| {
                // RFC 7616 §3.3: realm, nonce, qop quoted; stale and
                // algorithm never quoted.
                let mut p = AuthParams::default();
                p.push("realm", &realm);
                p.push("nonce", &nonce);
                if stale {
                    p.push("stale", "true");
                }
                p.push("algorithm", a.as_str());
                p.push("qop", &qop);
                Challenge {
                    scheme: ByteString::from_static("Digest"),
                    params: p,
                }
            })
            .collect()
    }

    /// Checks one set of credentials (an Authorization or
    /// Proxy-Authorization value) against `request`.
    ///
    /// `lookup(username, realm)` returns the user's stored secret, or `None`
    /// for an unknown user; it is called at most once, and only after every
    /// check that does not depend on the user, so its cost is the same for
    /// known and unknown users (for which a dummy HA1 is computed). Checks,
    /// in order: scheme and required parameters (`Malformed`), `uri` against
    /// the Request-URI (`Malformed`, RFC 7616 §3.4.6), realm, algorithm and
    /// qop offered, nonce tag (`Rejected`), response digest in constant time
    /// (`Rejected`), nonce age (`Stale`), nonce count above any seen before
    /// (`Stale { replayed: true }`).
    pub fn verify<F>(
        &mut self,
        now: SystemTime,
        request: &DigestRequest<'_>,
        credentials: &Credentials,
        lookup: F,
    ) -> Verdict
    where
        F: FnOnce(&str, &str) -> Option<Credential>,
    {
        let now_ms = millis(now);
        self.replay.note_start(now_ms);
        let parsed = match Parsed::from(credentials, &self.config) {
            Ok(p) => p,
            Err(f) => return f.into(),
        };
        if !uri_matches(self.config.uri_check, &parsed.uri, request.uri) {
            // RFC 2617 §3.2.2.5 / RFC 7616 §3.4.6: SHOULD return 400.
            return Verdict::Malformed("uri does not match the Request-URI");
        }
        if parsed.realm != self.config.realm
            || !self.config.algorithms.contains(&parsed.algorithm)
            || parsed
                .qop
                .as_ref()
                .is_some_and(|(q, _, _, _)| !self.config.qops.contains(q))
            || parsed.userhash
        {
            return Verdict::Rejected;
        }
        let Some(opened) = nonce::open(&self.config.secret, &self.config.realm, &parsed.nonce)
        else {
            return Verdict::Rejected;
        };
        let body = match (&parsed.qop, request.body) {
            (Some((Qop::AuthInt, ..)), None) => return Verdict::Rejected,
            (_, b) => b.unwrap_or_default(),
        };

        // From here on, the same work whether or not the user exists: one
        // A1 hash on every path (a stored HA1 pays for a throwaway one).
        let h = parsed.algorithm.hash();
        let stored = lookup(&parsed.username, &self.config.realm);
        let known = match &stored {
            Some(Credential::Password(p)) => {
                Some(ha1_plain(h, &parsed.username, &self.config.realm, p))
            }
            Some(c @ Credential::Ha1(_)) => {
                std::hint::black_box(self.dummy_ha1(h, &parsed.username));
                base_ha1(c, h, &parsed.username, &self.config.realm)
            }
            None => None,
        };
        let user_ok = known.is_some();
        let base = known.unwrap_or_else(|| self.dummy_ha1(h, &parsed.username));
        let input = DigestInput {
            algorithm: parsed.algorithm,
            nonce: &parsed.nonce,
            qop: parsed
                .qop
                .as_ref()
                .map(|(q, nc, _, cnonce)| (*q, nc.as_str(), cnonce.as_str())),
            method: request.method.as_str(),
            uri: &parsed.uri,
            body,
        };
        let expected = input.response(&base);
        let digest_ok: bool = expected.as_bytes().ct_eq(&parsed.response).into();
        if !(digest_ok & user_ok) {
            return Verdict::Rejected;
        }
        let session_ha1 = input.session_ha1(&base);

        // RFC 7616 §3.3 / §3.6: a valid digest with an old nonce is stale.
        let lifetime = self.lifetime_ms();
        let age_ok = opened.issued_ms.saturating_add(lifetime) >= now_ms
            // A nonce from the future (clock stepped back) is tolerated
            // within one lifetime.
            && opened.issued_ms <= now_ms.saturating_add(lifetime);
        if !age_ok {
            return Verdict::Stale {
                replayed: false,
                username: parsed.username,
            };
        }
        if let Some((_, _, nc, _)) = &parsed.qop {
            let replayed = match self.replay.check_and_record(opened, *nc, now_ms, lifetime) {
                Ok(()) => None,
                Err(ReplayError::Replayed) => Some(true),
                Err(ReplayError::Unknown) => Some(false),
            };
            if let Some(replayed) = replayed {
                return Verdict::Stale {
                    replayed,
                    username: parsed.username,
                };
            }
        }
        let (qop, nc, cnonce) = match parsed.qop {
            Some((q, nc_text, _, cnonce)) => (Some(q), Some(nc_text), Some(cnonce)),
            None => (None, None, None),
        };
        Verdict::Ok {
            username: parsed.username,
            session: AuthSession {
                realm: parsed.realm,
                algorithm: parsed.algorithm,
                qop,
                nonce: parsed.nonce,
                nc,
                cnonce,
                uri: parsed.uri,
                issued: issued_time(opened),
                ha1: session_ha1,
            },
        }
    }

    /// Finds the credentials for this realm in a request and verifies them:
    /// the first `Proxy-Authorization` (if `is_proxy`, RFC 3261 §22.3) or
    /// `Authorization` value with scheme Digest and our realm. `None` when
    /// there is none: challenge with `stale=false`. A value that does not
    /// parse is skipped, but if no value matched and one did not parse, the
    /// answer is [`Verdict::Malformed`]. Responses give `Malformed` too.
    pub fn verify_message<F>(
        &mut self,
        now: SystemTime,
        msg: &Message,
        is_proxy: bool,
        lookup: F,
    ) -> Option<Verdict>
    where
        F: FnOnce(&str, &str) -> Option<Credential>,
    {
        let Some(req) = msg.as_request() else {
            return Some(Verdict::Malformed("not a request"));
        };
        let mut unparsable = false;
        let mut found = None;
        for row in msg.headers().rows(credentials_header_name(is_proxy)) {
            match Challenge::parse(&row.value) {
                Ok(c) => {
                    if c.scheme.eq_ignore_ascii_case("Digest")
                        && c.param("realm").as_deref() == Some(self.config.realm.as_str())
                    {
                        found = Some(c);
                        break;
                    }
                }
                Err(_) => unparsable = true,
            }
        }
        let Some(creds) = found else {
            return unparsable.then_some(Verdict::Malformed("unparsable credentials"));
        };
        let uri = req.uri.to_string();
        let request = DigestRequest {
            method: &req.method,
            uri: &uri,
            body: Some(msg.body()),
        };
        Some(self.verify(now, &request, &creds, lookup))
    }

    /// The Authentication-Info (or Proxy-Authentication-Info) value for the
    /// response to an authenticated request (RFC 7616 §3.5, RFC 3261 §20.6):
    /// `nextnonce` if given, then `qop`, `rspauth`, `cnonce` and `nc`
    /// (`rspauth` alone for the RFC 2069 form). `rspauth` proves that the
    /// server knows the user's secret; its A2 is `":" uri` (auth) or
    /// `":" uri ":" H(response-body)` (auth-int), so `response_body` matters
    /// only for auth-int (empty body: `H("")`, RFC 8760 §2.6 item 7).
    pub fn authentication_info(
        &self,
        session: &AuthSession,
        response_body: &[u8],
        nextnonce: Option<&str>,
    ) -> AuthParams {
        let qop = session.qop.map(|q| {
            (
                q,
                session.nc.as_deref().unwrap_or(""),
                session.cnonce.as_deref().unwrap_or(""),
            )
        });
        let input = DigestInput {
            // The session HA1 is already derived, so use the plain variant.
            algorithm: plain(session.algorithm),
            nonce: &session.nonce,
            qop,
            method: "",
            uri: &session.uri,
            body: response_body,
        };
        let rspauth = input.response(&session.ha1).to_hex();
        // RFC 7616 §3.5: nextnonce, rspauth, cnonce quoted; qop, nc not.
        let mut p = AuthParams::default();
        if let Some(n) = nextnonce {
            p.push("nextnonce", &quote(n));
        }
        if let Some((q, nc, cnonce)) = qop {
            p.push("qop", q.as_str());
            p.push("rspauth", &quote(&rspauth));
            p.push("cnonce", &quote(cnonce));
            p.push("nc", nc);
        } else {
            p.push("rspauth", &quote(&rspauth));
        }
        p
    }
}

/// The non-session variant with the same hash.
pub(crate) fn plain(a: Algorithm) -> Algorithm {
    match a {
        Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
        Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => Algorithm::Sha512_256,
    }
}

fn issued_time(n: OpenedNonce) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(n.issued_ms))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The `uri` check of RFC 7616 §3.4.6 / RFC 3261 §22.4 item 6.
fn uri_matches(check: UriCheck, digest_uri: &str, request_uri: &str) -> bool {
    match check {
        UriCheck::Ignore => true,
        UriCheck::Exact => digest_uri == request_uri,
        UriCheck::Equivalent => {
            digest_uri == request_uri
                || matches!(
                    (Uri::parse(digest_uri), Uri::parse(request_uri)),
                    (Ok(a), Ok(b)) if a.equivalent(&b)
                )
        }
    }
}

/// Why [`Parsed::from`] gave up.
enum Fail {
    Malformed(&'static str),
    Rejected,
}

impl From<Fail> for Verdict {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Malformed(r) => Verdict::Malformed(r),
            Fail::Rejected => Verdict::Rejected,
        }
    }
}

/// The credentials' parameters, checked for presence and syntax.
struct Parsed {
    username: String,
    realm: String,
    nonce: String,
    uri: String,
    response: Vec<u8>,
    algorithm: Algorithm,
    /// `(qop, nc as written, nc, cnonce)`.
    qop: Option<(Qop, String, u32, String)>,
    userhash: bool,
}

impl Parsed {
    fn from(c: &Credentials, config: &DigestServerConfig) -> Result<Self, Fail> {
        use Fail::{Malformed, Rejected};
        if !c.scheme.eq_ignore_ascii_case("Digest") {
            // RFC 3261 §22.4: never Basic.
            return Err(Rejected);
        }
        let p = &c.params;
        // A repeated parameter is ambiguous (RFC 7235 §2.1: each name once).
        for (i, a) in p.0.iter().enumerate() {
            if p.0[..i]
                .iter()
                .any(|b| b.name.eq_ignore_ascii_case(&a.name))
            {
                return Err(Malformed("repeated parameter"));
            }
        }
        let username = match (p.get("username"), p.get_raw("username*")) {
            (Some(u), None) => u.into_owned(),
            // RFC 7616 §3.4: both MUST be treated as an error.
            (Some(_), Some(_)) => return Err(Malformed("both username and username*")),
            (None, Some(_)) => return Err(Malformed("username* is not supported")),
            (None, None) => return Err(Malformed("missing username")),
        };
        let realm = p
            .get("realm")
            .ok_or(Malformed("missing realm"))?
            .into_owned();
        let nonce = p
            .get("nonce")
            .ok_or(Malformed("missing nonce"))?
            .into_owned();
        let uri = p.get("uri").ok_or(Malformed("missing uri"))?.into_owned();
        let response = p.get("response").ok_or(Malformed("missing response"))?;
        // RFC 7616 §3.3: absent algorithm means MD5. An algorithm we do not
        // implement cannot be one we offered.
        let algorithm = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(Rejected)?,
        };
        let h = algorithm.hash();
        // RFC 7616 §3.2 / RFC 8760 §2.7: as many hex digits as the hash.
        let response = unhex(&response)
            .filter(|r| r.len() == h.output_len())
            .ok_or(Malformed("response is not a digest of the right length"))?;
        let cnonce = p.get("cnonce");
        let nc = p.get("nc");
        let qop = match p.get("qop") {
            Some(q) => {
                // RFC 7616 §3.4: a single token.
                let q = Qop::parse(&q).ok_or(Malformed("invalid qop"))?;
                let nc_text = nc.ok_or(Malformed("missing nc"))?;
                // RFC 2617 §3.2.2: nc-value = 8LHEX.
                if nc_text.len() != 8 || !nc_text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Malformed("nc is not 8 hex digits"));
                }
                let n = u32::from_str_radix(&nc_text, 16)
                    .map_err(|_| Malformed("nc is not 8 hex digits"))?;
                if n == 0 {
                    return Err(Malformed("nc is zero"));
                }
                let cnonce = cnonce.ok_or(Malformed("missing cnonce"))?;
                if cnonce.is_empty() {
                    return Err(Malformed("empty cnonce"));
                }
                Some((q, nc_text.into_owned(), n, cnonce.into_owned()))
            }
            None => {
                // RFC 2617 §3.2.2: cnonce and nc MUST NOT be sent without
                // qop; RFC 3261 §22.4 item 8: -sess needs qop.
                if cnonce.is_some() || nc.is_some() {
                    return Err(Malformed("cnonce or nc without qop"));
                }
                if algorithm.is_session() {
                    return Err(Malformed("-sess algorithm without qop"));
                }
                if !config.allow_rfc2069 {
                    return Err(Malformed("missing qop"));
                }
                None
            }
        };
        let userhash = p
            .get("userhash")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(Self {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            qop,
            userhash,
        })
    }
}
