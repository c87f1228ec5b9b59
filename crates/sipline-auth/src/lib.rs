//! SIP Digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760),
//! sans-IO: no clock reads and no I/O. Time is passed in as
//! [`std::time::SystemTime`] (wall-clock, so nonces survive restarts);
//! randomness comes from the OS (`getrandom`) or is passed in
//! (`*_with_random`, `on_challenge`).
//!
//! * Algorithms: MD5, SHA-256, SHA-512-256 and their `-sess` variants
//!   ([`Algorithm`], RFC 7616 §3.2, §6.1); qop `auth` and `auth-int`
//!   ([`Qop`]), and the RFC 2069 form without qop when a server allows it.
//! * Server: [`DigestServer`] issues stateless HMAC-protected nonces
//!   ([`DigestServer::challenge`]), verifies credentials
//!   ([`DigestServer::verify`] → [`Verdict`]) against a plaintext password or
//!   precomputed HA1 ([`Credential`]), detects nonce-count replays in a
//!   bounded cache, and builds Authentication-Info
//!   ([`DigestServer::authentication_info`]).
//! * Client: [`choose_challenge`], [`respond`] and [`ClientAuthState`]
//!   (nonce-count bookkeeping per realm).
//!
//! ```
//! use sipline_auth::{
//!     choose_challenge, respond, Credential, DigestRequest, DigestServer, DigestServerConfig,
//!     Verdict,
//! };
//! use sipline_message::Method;
//! use std::time::{Duration, SystemTime};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let mut server = DigestServer::new(DigestServerConfig::new("biloxi.com", [42; 32])).unwrap();
//!
//! // The UAS answers an unauthenticated REGISTER with 401 and these
//! // WWW-Authenticate values (SHA-256 first, then MD5: RFC 8760 §2.3).
//! let challenges = server.challenge(now, false);
//! assert_eq!(challenges.len(), 2);
//!
//! // The UAC picks one and answers it.
//! let request = DigestRequest::new(&Method::Register, "sip:biloxi.com", Some(&[]));
//! let password = Credential::Password("zanzibar".into());
//! let chosen = choose_challenge(&challenges).unwrap();
//! assert_eq!(chosen.param("algorithm").unwrap(), "SHA-256");
//! let authorization = respond(chosen, &request, "bob", &password, "0a4f113b", 1).unwrap();
//!
//! // The UAS verifies the Authorization value.
//! let verdict = server.verify(now, &request, &authorization, |user, _realm| {
//!     (user == "bob").then(|| Credential::Password("zanzibar".into()))
//! });
//! assert!(matches!(verdict, Verdict::Ok { ref username, .. } if username == "bob"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod algorithm;
mod client;
mod credential;
mod error;
mod nonce;
mod server;

pub use algorithm::{Algorithm, HashFunction, Qop};
pub use client::{
    choose_challenge, choose_challenge_per_realm, choose_topmost_challenge, respond,
    ChallengeUpdate, ClientAuthState,
};
pub use credential::{Credential, Ha1Set};
pub use error::AuthError;
pub use server::{
    authentication_info_header_name, challenge_header_name, credentials_header_name, AuthSession,
    DigestServer, DigestServerConfig, UriCheck, Verdict,
};

use sipline_message::Method;

/// The parts of a request that a digest covers (RFC 7616 §3.4.3, §3.4.6).
#[derive(Debug, Clone, Copy)]
pub struct DigestRequest<'a> {
    /// The request method (A2's Method).
    pub method: &'a Method,
    /// For a client: the digest-uri-value to sign, normally the
    /// Request-URI (RFC 3261 §22.4 item 3). For a server: the Request-URI
    /// of the received request, which the `uri` parameter is checked
    /// against ([`UriCheck`]).
    pub uri: &'a str,
    /// The message body, needed for `qop=auth-int`; `None` when it is not
    /// available (a client then avoids auth-int, a server rejects it). An
    /// empty body is `Some(b"")`, hashed as `H("")` (RFC 8760 §2.6 item 7).
    pub body: Option<&'a [u8]>,
}

impl<'a> DigestRequest<'a> {
    /// A request description.
    pub fn new(method: &'a Method, uri: &'a str, body: Option<&'a [u8]>) -> Self {
        Self { method, uri, body }
    }
}
