//! Header field names: one table of every header sipline knows by name, with
//! its compact form (RFC 3261 §7.3.3 and the extensions that define one),
//! whether its value is a comma-separated list (§7.3.1), and whether it may
//! appear only once.

use bytestring::ByteString;
use std::fmt;

macro_rules! std_headers {
    ($( $(#[$doc:meta])* $variant:ident, $canon:literal, $_lower:literal, $compact:expr, $kind:ident; )*) => {
        /// A header field sipline knows by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum StdHeader {
            $( $(#[$doc])* $variant, )*
        }

        impl StdHeader {
            /// Every known header, in table order.
            pub const ALL: &'static [StdHeader] = &[ $( StdHeader::$variant, )* ];

            /// The canonical spelling, e.g. `Call-ID`.
            pub const fn as_str(self) -> &'static str {
                match self { $( StdHeader::$variant => $canon, )* }
            }

            /// The compact form, e.g. `i` for Call-ID.
            pub const fn compact(self) -> Option<char> {
                match self { $( StdHeader::$variant => $compact, )* }
            }

            const fn kind(self) -> Kind {
                match self { $( StdHeader::$variant => Kind::$kind, )* }
            }

        }
    };
}

/// The longest name in the table.
const MAX_NAME: usize = 24;

type Buckets = [[Vec<StdHeader>; 26]; MAX_NAME + 1];

/// Known headers by name length and lower-case first letter.
fn buckets() -> &'static Buckets {
    static B: std::sync::OnceLock<Box<Buckets>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let mut b: Box<Buckets> =
            Box::new(std::array::from_fn(|_| std::array::from_fn(|_| Vec::new())));
        for &h in StdHeader::ALL {
            let name = h.as_str().as_bytes();
            let first = name[0].to_ascii_lowercase();
            b[name.len()][usize::from(first - b'a')].push(h);
        }
        b
    })
}

/// How the value of a header field is shaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A comma-separated list: rows may be split and combined (RFC 3261 §7.3.1).
    List,
    /// At most one value in a message.
    Single,
    /// Several rows allowed, but never combined (§7.3.1's exceptions: the auth headers).
    Rows,
    /// Free text, several rows allowed, never split at commas.
    Text,
}

std_headers! {
    /// Accept (RFC 3261 §20.1)
    Accept, "Accept", b"accept", None, List;
    /// Accept-Contact (RFC 3841)
    AcceptContact, "Accept-Contact", b"accept-contact", Some('a'), List;
    /// Accept-Encoding (RFC 3261 §20.2)
    AcceptEncoding, "Accept-Encoding", b"accept-encoding", None, List;
    /// Accept-Language (RFC 3261 §20.3)
    AcceptLanguage, "Accept-Language", b"accept-language", None, List;
    /// Alert-Info (RFC 3261 §20.4)
    AlertInfo, "Alert-Info", b"alert-info", None, List;
    /// Allow (RFC 3261 §20.5)
    Allow, "Allow", b"allow", None, List;
    /// Allow-Events (RFC 6665)
    AllowEvents, "Allow-Events", b"allow-events", Some('u'), List;
    /// Authentication-Info (RFC 3261 §20.6)
    AuthenticationInfo, "Authentication-Info", b"authentication-info", None, Rows;
    /// Authorization (RFC 3261 §20.7)
    Authorization, "Authorization", b"authorization", None, Rows;
    /// Call-ID (RFC 3261 §20.8)
    CallId, "Call-ID", b"call-id", Some('i'), Single;
    /// Call-Info (RFC 3261 §20.9)
    CallInfo, "Call-Info", b"call-info", None, List;
    /// Contact (RFC 3261 §20.10)
    Contact, "Contact", b"contact", Some('m'), List;
    /// Content-Disposition (RFC 3261 §20.11)
    ContentDisposition, "Content-Disposition", b"content-disposition", None, Single;
    /// Content-Encoding (RFC 3261 §20.12)
    ContentEncoding, "Content-Encoding", b"content-encoding", Some('e'), List;
    /// Content-Language (RFC 3261 §20.13)
    ContentLanguage, "Content-Language", b"content-language", None, List;
    /// Content-Length (RFC 3261 §20.14)
    ContentLength, "Content-Length", b"content-length", Some('l'), Single;
    /// Content-Type (RFC 3261 §20.15)
    ContentType, "Content-Type", b"content-type", Some('c'), Single;
    /// CSeq (RFC 3261 §20.16)
    CSeq, "CSeq", b"cseq", None, Single;
    /// Date (RFC 3261 §20.17)
    Date, "Date", b"date", None, Single;
    /// Error-Info (RFC 3261 §20.18)
    ErrorInfo, "Error-Info", b"error-info", None, List;
    /// Event (RFC 6665)
    Event, "Event", b"event", Some('o'), Single;
    /// Expires (RFC 3261 §20.19)
    Expires, "Expires", b"expires", None, Single;
    /// Flow-Timer (RFC 5626)
    FlowTimer, "Flow-Timer", b"flow-timer", None, Single;
    /// From (RFC 3261 §20.20)
    From, "From", b"from", Some('f'), Single;
    /// Identity (RFC 8224)
    Identity, "Identity", b"identity", Some('y'), Rows;
    /// Identity-Info (RFC 4474)
    IdentityInfo, "Identity-Info", b"identity-info", Some('n'), Single;
    /// In-Reply-To (RFC 3261 §20.21)
    InReplyTo, "In-Reply-To", b"in-reply-to", None, List;
    /// Max-Forwards (RFC 3261 §20.22)
    MaxForwards, "Max-Forwards", b"max-forwards", None, Single;
    /// MIME-Version (RFC 3261 §20.24)
    MimeVersion, "MIME-Version", b"mime-version", None, Single;
    /// Min-Expires (RFC 3261 §20.23)
    MinExpires, "Min-Expires", b"min-expires", None, Single;
    /// Min-SE (RFC 4028)
    MinSe, "Min-SE", b"min-se", None, Single;
    /// Organization (RFC 3261 §20.25)
    Organization, "Organization", b"organization", None, Text;
    /// P-Asserted-Identity (RFC 3325)
    PAssertedIdentity, "P-Asserted-Identity", b"p-asserted-identity", None, List;
    /// P-Preferred-Identity (RFC 3325)
    PPreferredIdentity, "P-Preferred-Identity", b"p-preferred-identity", None, List;
    /// Path (RFC 3327)
    Path, "Path", b"path", None, List;
    /// Priority (RFC 3261 §20.26)
    Priority, "Priority", b"priority", None, Single;
    /// Privacy (RFC 3323)
    Privacy, "Privacy", b"privacy", None, Single;
    /// Proxy-Authenticate (RFC 3261 §20.27)
    ProxyAuthenticate, "Proxy-Authenticate", b"proxy-authenticate", None, Rows;
    /// Proxy-Authorization (RFC 3261 §20.28)
    ProxyAuthorization, "Proxy-Authorization", b"proxy-authorization", None, Rows;
    /// Proxy-Require (RFC 3261 §20.29)
    ProxyRequire, "Proxy-Require", b"proxy-require", None, List;
    /// RAck (RFC 3262)
    RAck, "RAck", b"rack", None, Single;
    /// Reason (RFC 3326)
    Reason, "Reason", b"reason", None, List;
    /// Record-Route (RFC 3261 §20.30)
    RecordRoute, "Record-Route", b"record-route", None, List;
    /// Refer-Sub (RFC 4488)
    ReferSub, "Refer-Sub", b"refer-sub", None, Single;
    /// Refer-To (RFC 3515)
    ReferTo, "Refer-To", b"refer-to", Some('r'), Single;
    /// Referred-By (RFC 3892)
    ReferredBy, "Referred-By", b"referred-by", Some('b'), Single;
    /// Reject-Contact (RFC 3841)
    RejectContact, "Reject-Contact", b"reject-contact", Some('j'), List;
    /// Replaces (RFC 3891)
    Replaces, "Replaces", b"replaces", None, Single;
    /// Reply-To (RFC 3261 §20.31)
    ReplyTo, "Reply-To", b"reply-to", None, Single;
    /// Request-Disposition (RFC 3841)
    RequestDisposition, "Request-Disposition", b"request-disposition", Some('d'), List;
    /// Require (RFC 3261 §20.32)
    Require, "Require", b"require", None, List;
    /// Retry-After (RFC 3261 §20.33)
    RetryAfter, "Retry-After", b"retry-after", None, Single;
    /// Route (RFC 3261 §20.34)
    Route, "Route", b"route", None, List;
    /// RSeq (RFC 3262)
    RSeq, "RSeq", b"rseq", None, Single;
    /// Security-Client (RFC 3329)
    SecurityClient, "Security-Client", b"security-client", None, List;
    /// Security-Server (RFC 3329)
    SecurityServer, "Security-Server", b"security-server", None, List;
    /// Security-Verify (RFC 3329)
    SecurityVerify, "Security-Verify", b"security-verify", None, List;
    /// Server (RFC 3261 §20.35)
    Server, "Server", b"server", None, Text;
    /// Service-Route (RFC 3608)
    ServiceRoute, "Service-Route", b"service-route", None, List;
    /// Session-Expires (RFC 4028)
    SessionExpires, "Session-Expires", b"session-expires", Some('x'), Single;
    /// SIP-ETag (RFC 3903)
    SipEtag, "SIP-ETag", b"sip-etag", None, Single;
    /// SIP-If-Match (RFC 3903)
    SipIfMatch, "SIP-If-Match", b"sip-if-match", None, Single;
    /// Subject (RFC 3261 §20.36)
    Subject, "Subject", b"subject", Some('s'), Text;
    /// Subscription-State (RFC 6665)
    SubscriptionState, "Subscription-State", b"subscription-state", None, Single;
    /// Supported (RFC 3261 §20.37)
    Supported, "Supported", b"supported", Some('k'), List;
    /// Timestamp (RFC 3261 §20.38)
    Timestamp, "Timestamp", b"timestamp", None, Single;
    /// To (RFC 3261 §20.39)
    To, "To", b"to", Some('t'), Single;
    /// Unsupported (RFC 3261 §20.40)
    Unsupported, "Unsupported", b"unsupported", None, List;
    /// User-Agent (RFC 3261 §20.41)
    UserAgent, "User-Agent", b"user-agent", None, Text;
    /// Via (RFC 3261 §20.42)
    Via, "Via", b"via", Some('v'), List;
    /// Warning (RFC 3261 §20.43)
    Warning, "Warning", b"warning", None, List;
    /// WWW-Authenticate (RFC 3261 §20.44)
    WwwAuthenticate, "WWW-Authenticate", b"www-authenticate", None, Rows;
}

impl StdHeader {
    /// The header for a name in any case, full or compact form.
    pub fn from_name(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        match bytes.len() {
            0 => None,
            1 => Self::from_compact(bytes[0]),
            n => {
                // Candidates share the length and the first letter; at most a
                // few per bucket, compared without copying.
                let first = bytes[0].to_ascii_lowercase();
                if n > MAX_NAME || !first.is_ascii_lowercase() {
                    return None;
                }
                let bucket = &buckets()[n][usize::from(first - b'a')];
                // most names come spelled canonically: try that first
                bucket
                    .iter()
                    .copied()
                    .find(|h| h.as_str().as_bytes() == bytes)
                    .or_else(|| {
                        bucket
                            .iter()
                            .copied()
                            .find(|h| h.as_str().as_bytes().eq_ignore_ascii_case(bytes))
                    })
            }
        }
    }

    /// RFC 3261 §7.3.3, and the compact forms of RFC 3841, RFC 3515, RFC 3892, RFC 4028, RFC 6665, RFC 8224.
    fn from_compact(c: u8) -> Option<Self> {
        Some(match c.to_ascii_lowercase() {
            b'a' => Self::AcceptContact,
            b'b' => Self::ReferredBy,
            b'c' => Self::ContentType,
            b'd' => Self::RequestDisposition,
            b'e' => Self::ContentEncoding,
            b'f' => Self::From,
            b'i' => Self::CallId,
            b'j' => Self::RejectContact,
            b'k' => Self::Supported,
            b'l' => Self::ContentLength,
            b'm' => Self::Contact,
            b'n' => Self::IdentityInfo,
            b'o' => Self::Event,
            b'r' => Self::ReferTo,
            b's' => Self::Subject,
            b't' => Self::To,
            b'u' => Self::AllowEvents,
            b'v' => Self::Via,
            b'x' => Self::SessionExpires,
            b'y' => Self::Identity,
            _ => return None,
        })
    }

    /// `name` as a static string if it is a lower-case compact form.
    pub(crate) fn compact_str(name: &str) -> Option<&'static str> {
        const COMPACT: [&str; 26] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
            "r", "s", "t", "u", "v", "w", "x", "y", "z",
        ];
        match name.as_bytes() {
            [c @ b'a'..=b'z'] => Some(COMPACT[usize::from(c - b'a')]),
            _ => None,
        }
    }

    /// True if the value is a comma-separated list whose rows may be split and
    /// combined (RFC 3261 §7.3.1).
    pub fn is_list(self) -> bool {
        self.kind() == Kind::List
    }

    /// True if the header may appear at most once in a message.
    pub fn is_single(self) -> bool {
        self.kind() == Kind::Single
    }
}

/// A header field name: known ones by [`StdHeader`], others by their text.
/// Names compare case-insensitively, and a compact form equals its full form.
/// The spelling that was received is kept, so a forwarded message is unchanged.
#[derive(Clone)]
pub struct HeaderName {
    std: Option<StdHeader>,
    text: ByteString,
}

impl HeaderName {
    /// A name from its text (any case, full or compact form).
    pub fn new(text: impl Into<ByteString>) -> Self {
        let text = text.into();
        Self {
            std: StdHeader::from_name(&text),
            text,
        }
    }

    /// A name from a slice of the message that was already looked up.
    pub(crate) fn from_parts(std: Option<StdHeader>, text: ByteString) -> Self {
        Self { std, text }
    }

    /// The known header this name stands for, if any.
    pub fn std(&self) -> Option<StdHeader> {
        self.std
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The canonical spelling for known headers, the text as written for others.
    pub fn canonical(&self) -> &str {
        match self.std {
            Some(h) => h.as_str(),
            None => &self.text,
        }
    }

    /// True if this is `h` (in any spelling).
    pub fn is(&self, h: StdHeader) -> bool {
        self.std == Some(h)
    }
}

impl From<StdHeader> for HeaderName {
    fn from(h: StdHeader) -> Self {
        Self {
            std: Some(h),
            text: ByteString::from_static(h.as_str()),
        }
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> Self {
        Self::new(ByteString::from(s))
    }
}

impl From<String> for HeaderName {
    fn from(s: String) -> Self {
        Self::new(ByteString::from(s))
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self.std, other.std) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.text.eq_ignore_ascii_case(&other.text),
            _ => false,
        }
    }
}

impl Eq for HeaderName {}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_compact_form_maps_back() {
        for &h in StdHeader::ALL {
            assert_eq!(StdHeader::from_name(h.as_str()), Some(h));
            assert_eq!(StdHeader::from_name(&h.as_str().to_uppercase()), Some(h));
            assert_eq!(StdHeader::from_name(&h.as_str().to_lowercase()), Some(h));
            if let Some(c) = h.compact() {
                assert_eq!(StdHeader::from_name(&c.to_string()), Some(h), "{h}");
                assert_eq!(
                    StdHeader::from_name(&c.to_ascii_uppercase().to_string()),
                    Some(h)
                );
            }
        }
        // and every compact form the lookup knows is in the table
        for c in b'a'..=b'z' {
            if let Some(h) = StdHeader::from_compact(c) {
                assert_eq!(h.compact(), Some(c as char));
            }
        }
    }

    #[test]
    fn unknown_and_overlong_names() {
        assert_eq!(StdHeader::from_name("X-Custom"), None);
        assert_eq!(StdHeader::from_name("z"), None);
        assert_eq!(StdHeader::from_name(&"a".repeat(100)), None);
        assert_eq!(HeaderName::new("x-foo"), HeaderName::new("X-FOO"));
        assert_eq!(HeaderName::new("v"), HeaderName::from(StdHeader::Via));
        assert_ne!(HeaderName::new("v"), HeaderName::new("x-v"));
    }

    #[test]
    fn kinds_follow_rfc3261_7_3_1() {
        assert!(StdHeader::Via.is_list());
        assert!(StdHeader::Route.is_list());
        assert!(!StdHeader::Authorization.is_list());
        assert!(!StdHeader::WwwAuthenticate.is_list());
        assert!(StdHeader::CallId.is_single());
        assert!(!StdHeader::Subject.is_list());
    }
}
