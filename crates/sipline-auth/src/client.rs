//! The client (UAC) side: choosing a challenge and answering it
//! (RFC 3261 §22.2, §22.3; RFC 7616 §3.4; RFC 8760 §2.4).

use crate::algorithm::{hex, Algorithm, Qop};
use crate::credential::{base_ha1, quote, Credential, DigestInput};
use crate::server::credentials_header_name;
use crate::{AuthError, DigestRequest};
use sipline_message::header::{AuthParams, Challenge, Credentials, StdHeader};
use sipline_message::ByteString;
use std::sync::atomic::{AtomicU64, Ordering};

fn is_digest(c: &Challenge) -> bool {
    c.scheme.eq_ignore_ascii_case("Digest")
}

/// The algorithm of a challenge this crate can answer, or `None` (not
/// Digest, unknown algorithm, no realm or nonce, or only unknown qops).
fn usable_algorithm(c: &Challenge) -> Option<Algorithm> {
    if !is_digest(c) || c.param("realm").is_none() || c.param("nonce").is_none() {
        return None;
    }
    if c.param("qop")
        .is_some_and(|q| Qop::parse_list(&q).is_empty())
    {
        return None;
    }
    match c.param("algorithm") {
        // RFC 7616 §3.3: absent means MD5.
        None => Some(Algorithm::Md5),
        Some(a) => Algorithm::parse(&a),
    }
}

/// Picks the challenge to answer among those of a 401/407 response: the
/// strongest supported algorithm (SHA-256 and SHA-512-256 above MD5), and
/// among equally strong ones the topmost, i.e. the server's preference.
///
/// RFC 8760 §2.4 says a UAC SHOULD use the topmost challenge it supports
/// "unless a local policy dictates otherwise" and MUST ignore challenges it
/// does not understand; preferring strength is such a local policy, and it
/// resists a downgrade by reordering. Use [`choose_topmost_challenge`] for
/// the plain RFC rule. Challenges are not grouped by realm here; see
/// [`choose_challenge_per_realm`].
pub fn choose_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    strongest(challenges.iter())
}

fn strongest<'a>(challenges: impl Iterator<Item = &'a Challenge>) -> Option<&'a Challenge> {
    let mut best: Option<(&Challenge, u8)> = None;
    for c in challenges {
        if let Some(a) = usable_algorithm(c) {
            if best.is_none_or(|(_, s)| a.strength() > s) {
                best = Some((c, a.strength()));
            }
        }
    }
    best.map(|(c, _)| c)
}

/// The topmost challenge with a supported algorithm (RFC 8760 §2.4, RFC
/// 7616 §3.7: "use the first challenge it supports").
pub fn choose_topmost_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges.iter().find(|c| usable_algorithm(c).is_some())
}

/// One challenge per realm, as [`choose_challenge`] picks within each
/// realm, in the order realms first appear. RFC 8760 §2.4: with several
/// realms (e.g. a forked request challenged by two proxies, RFC 8760 §2.5),
/// the UAC answers each realm it has credentials for.
pub fn choose_challenge_per_realm(challenges: &[Challenge]) -> Vec<&Challenge> {
    let mut realms: Vec<String> = Vec::new();
    for c in challenges {
        if usable_algorithm(c).is_some() {
            if let Some(r) = c.param("realm") {
                if !realms.iter().any(|x| *x == r) {
                    realms.push(r.into_owned());
                }
            }
        }
    }
    realms
        .iter()
        .filter_map(|r| {
            strongest(
                challenges
                    .iter()
                    .filter(|c| c.param("realm").as_deref() == Some(r.as_str())),
            )
        })
        .collect()
}

fn check_text(s: &str, what: &'static str) -> Result<(), AuthError> {
    if s.chars().any(char::is_control) {
        Err(AuthError::InvalidValue(what))
    } else {
        Ok(())
    }
}

/// Answers one Digest challenge: the Authorization / Proxy-Authorization
/// value (RFC 7616 §3.4, RFC 3261 §22.2).
///
/// * qop: `auth` if offered; otherwise `auth-int` if offered and
///   `request.body` is `Some` (RFC 7616 §3.4.3); if the challenge has no qop,
///   the RFC 2069 form without cnonce and nc (RFC 2617 §3.2.2.1), which a
///   `-sess` algorithm cannot use (RFC 3261 §22.4 item 8).
/// * `secret`: the password, or stored HA1 values for the challenge's hash.
/// * `cnonce` (quoted, non-empty) and `nc` (at least 1) are used only with
///   qop; the caller keeps `nc` counting up for the same nonce
///   (RFC 7616 §3.4; see [`ClientAuthState`]).
/// * `userhash=true` in the challenge makes the username
///   `H(username ":" realm)` (RFC 7616 §3.4.4).
/// * `opaque` and `algorithm` are echoed as given (RFC 7616 §3.4).
pub fn respond(
    challenge: &Challenge,
    request: &DigestRequest<'_>,
    username: &str,
    secret: &Credential,
    cnonce: impl Into<String>,
    nc: u32,
) -> Result<Credentials, AuthError> {
    if !is_digest(challenge) {
        return Err(AuthError::UnsupportedScheme);
    }
    let realm = challenge
        .param("realm")
        .ok_or(AuthError::MissingParameter("realm"))?;
    let nonce = challenge
        .param("nonce")
        .ok_or(AuthError::MissingParameter("nonce"))?;
    let algorithm_param = challenge.param("algorithm");
    let algorithm = match &algorithm_param {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or(AuthError::UnsupportedAlgorithm)?,
    };
    check_text(username, "username")?;
    check_text(&realm, "realm")?;
    check_text(&nonce, "nonce")?;
    if request.uri.is_empty() {
        return Err(AuthError::InvalidValue("uri"));
    }
    check_text(request.uri, "uri")?;
    let qop = match challenge.param("qop") {
        None => None,
        Some(list) => {
            let offered = Qop::parse_list(&list);
            if offered.contains(&Qop::Auth) {
                Some(Qop::Auth)
            } else if offered.contains(&Qop::AuthInt) && request.body.is_some() {
                Some(Qop::AuthInt)
            } else {
                return Err(AuthError::UnsupportedQop);
            }
        }
    };
    if qop.is_none() && algorithm.is_session() {
        return Err(AuthError::SessionWithoutQop);
    }
    let cnonce = cnonce.into();
    let nc_text = format!("{nc:08x}");
    if qop.is_some() {
        if nc == 0 {
            return Err(AuthError::InvalidNonceCount);
        }
        if cnonce.is_empty() {
            return Err(AuthError::InvalidValue("cnonce"));
        }
        check_text(&cnonce, "cnonce")?;
    }
    let h = algorithm.hash();
    let base = base_ha1(secret, h, username, &realm).ok_or(AuthError::MissingHa1)?;
    let input = DigestInput {
        algorithm,
        nonce: &nonce,
        qop: qop.map(|q| (q, nc_text.as_str(), cnonce.as_str())),
        method: request.method.as_str(),
        uri: request.uri,
        body: request.body.unwrap_or_default(),
    };
    let response = input.response(&base).to_hex();

    // RFC 7616 §3.4.4: with userhash, the username sent is H(user ":" realm).
    let userhash = challenge
        .param("userhash")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let sent_username = if userhash {
        h.hash_parts(&[username.as_bytes(), b":", realm.as_bytes()])
            .to_hex()
    } else {
        username.to_owned()
    };

    // RFC 7616 §3.4: username, realm, nonce, uri, response, cnonce, opaque
    // quoted; algorithm, qop, nc not (RFC 3261 §22.4 item 2: uri quoted).
    let mut p = AuthParams::default();
    p.push("username", &quote(&sent_username));
    p.push("realm", &quote(&realm));
    p.push("nonce", &quote(&nonce));
    p.push("uri", &quote(request.uri));
    p.push("response", &quote(&response));
    if algorithm_param.is_some() {
        p.push("algorithm", algorithm.as_str());
    }
    if qop.is_some() {
        p.push("cnonce", &quote(&cnonce));
    }
    if let Some(o) = challenge.param("opaque") {
        p.push("opaque", &quote(&o));
    }
    if let Some(q) = qop {
        p.push("qop", q.as_str());
        p.push("nc", &nc_text);
    }
    if userhash {
        p.push("userhash", "true");
    }
    Ok(Credentials {
        scheme: ByteString::from_static("Digest"),
        params: p,
    })
}

/// A fresh random cnonce: 12 random bytes as 24 hex digits.
fn random_cnonce() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        // The cnonce need not be secret; it only has to vary.
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        b[4..].copy_from_slice(&n.to_be_bytes());
    }
    hex(&b)
}

#[derive(Debug, Clone)]
struct RealmSession {
    realm: String,
    is_proxy: bool,
    challenge: Challenge,
    cnonce: String,
    nc: u32,
}

/// What [`ClientAuthState::on_challenge`] learned about a realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeUpdate {
    /// The realm.
    pub realm: String,
    /// The challenge said `stale=true` (RFC 7616 §3.3).
    pub stale: bool,
    /// False when credentials were already sent for this realm and the new
    /// challenge is not stale: the server refused them, so new credentials
    /// must be obtained rather than retrying (RFC 7616 §3.3 "stale").
    pub retry: bool,
}

/// Client memory per realm: the last challenge, its cnonce and nonce count,
/// so that later requests can carry credentials preemptively with an
/// increasing `nc` (RFC 2617 §3.2.2, RFC 7616 §3.6). Sans-IO: feed it the
/// challenges of 401/407 responses and any Authentication-Info.
#[derive(Debug, Clone, Default)]
pub struct ClientAuthState {
    sessions: Vec<RealmSession>,
}

impl ClientAuthState {
    /// No realms known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns the challenges of a 401 (`is_proxy = false`) or 407
    /// (`is_proxy = true`) response: per realm, the one
    /// [`choose_challenge_per_realm`] picks, with a fresh random cnonce and
    /// nc reset to 0 (RFC 7616 §3.6: a new challenge starts a new session).
    pub fn on_challenges(
        &mut self,
        challenges: &[Challenge],
        is_proxy: bool,
    ) -> Vec<ChallengeUpdate> {
        choose_challenge_per_realm(challenges)
            .into_iter()
            .filter_map(|c| self.on_challenge(c, is_proxy, random_cnonce()))
            .collect()
    }

    /// Learns one challenge with a given cnonce; `None` if it cannot be
    /// answered (see [`choose_challenge`]).
    pub fn on_challenge(
        &mut self,
        challenge: &Challenge,
        is_proxy: bool,
        cnonce: impl Into<String>,
    ) -> Option<ChallengeUpdate> {
        usable_algorithm(challenge)?;
        let realm = challenge.param("realm")?.into_owned();
        let stale = challenge
            .param("stale")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let session = RealmSession {
            realm: realm.clone(),
            is_proxy,
            challenge: challenge.clone(),
            cnonce: cnonce.into(),
            nc: 0,
        };
        let had_sent = match self.sessions.iter_mut().find(|s| s.realm == realm) {
            Some(s) => {
                let sent = s.nc > 0;
                *s = session;
                sent
            }
            None => {
                self.sessions.push(session);
                false
            }
        };
        Some(ChallengeUpdate {
            realm,
            stale,
            retry: stale || !had_sent,
        })
    }

    /// Applies an Authentication-Info value from a 2xx (RFC 7616 §3.5): a
    /// `nextnonce` replaces the realm's nonce and restarts nc.
    pub fn on_authentication_info(&mut self, realm: &str, info: &AuthParams) {
        let Some(next) = info.get("nextnonce") else {
            return;
        };
        if let Some(s) = self.sessions.iter_mut().find(|s| s.realm == realm) {
            let mut params = AuthParams::default();
            for p in &s.challenge.params.0 {
                if p.name.eq_ignore_ascii_case("nonce") {
                    params.push("nonce", &quote(&next));
                } else if !p.name.eq_ignore_ascii_case("stale") {
                    params.0.push(p.clone());
                }
            }
            s.challenge.params = params;
            s.nc = 0;
        }
    }

    /// The realms known, with whether each came from a proxy (407).
    pub fn realms(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        self.sessions.iter().map(|s| (s.realm.as_str(), s.is_proxy))
    }

    /// Forgets a realm (e.g. after its credentials were refused).
    pub fn forget(&mut self, realm: &str) {
        self.sessions.retain(|s| s.realm != realm);
    }

    /// The next credentials for `realm`: increments the realm's nc and
    /// answers its remembered challenge. Returns the header to put them in
    /// (Authorization or Proxy-Authorization, RFC 3261 §22.2, §22.3).
    pub fn authorize(
        &mut self,
        realm: &str,
        request: &DigestRequest<'_>,
        username: &str,
        secret: &Credential,
    ) -> Result<(StdHeader, Credentials), AuthError> {
        let s = self
            .sessions
            .iter_mut()
            .find(|s| s.realm == realm)
            .ok_or(AuthError::UnknownRealm)?;
        let nc = s.nc.checked_add(1).ok_or(AuthError::NonceCountExhausted)?;
        let creds = respond(
            &s.challenge,
            request,
            username,
            secret,
            s.cnonce.clone(),
            nc,
        )?;
        s.nc = nc;
        Ok((credentials_header_name(s.is_proxy), creds))
    }
}
