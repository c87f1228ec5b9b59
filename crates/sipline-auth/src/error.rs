//! Errors.

/// Why a client could not answer a challenge, or a server could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The challenge's scheme is not `Digest` (RFC 3261 §22.4: SIP never
    /// uses Basic).
    #[error("unsupported authentication scheme")]
    UnsupportedScheme,
    /// The challenge names an algorithm this crate does not implement.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// The challenge offers no qop this client can use (e.g. only
    /// `auth-int` and no body was given).
    #[error("no usable qop offered")]
    UnsupportedQop,
    /// A required challenge parameter (`realm` or `nonce`) is missing.
    #[error("challenge lacks required parameter `{0}`")]
    MissingParameter(&'static str),
    /// A `-sess` algorithm without qop: impossible, since the session key
    /// needs a cnonce (RFC 3261 §22.4 item 8).
    #[error("a -sess algorithm requires qop")]
    SessionWithoutQop,
    /// The stored credential has no HA1 for the challenge's hash function.
    #[error("no HA1 stored for this hash function")]
    MissingHa1,
    /// The nonce count is 0; it starts at 1 (RFC 7616 §3.4).
    #[error("nonce count must be at least 1")]
    InvalidNonceCount,
    /// A value (username, uri, cnonce, realm ...) contains characters that
    /// cannot be written in a quoted-string (control characters), or is
    /// empty where it may not be.
    #[error("invalid value for `{0}`")]
    InvalidValue(&'static str),
    /// A server configuration is unusable (no algorithms, no qop, duplicate
    /// algorithms, zero lifetime).
    #[error("invalid server configuration: {0}")]
    InvalidConfig(&'static str),
    /// No state is held for this realm (see
    /// [`ClientAuthState`](crate::ClientAuthState)).
    #[error("no challenge remembered for this realm")]
    UnknownRealm,
    /// The nonce count of a remembered challenge reached `u32::MAX`.
    #[error("nonce count exhausted")]
    NonceCountExhausted,
}
