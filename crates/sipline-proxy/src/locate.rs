//! The abstract location service (RFC 3261 §16.5) and its targets.

use sipline_message::header::NameAddr;
use sipline_message::{ByteString, Transport, Uri};
use sipline_registrar::Binding;
use std::collections::HashMap;

/// One place to send a request: an element of the target set (RFC 3261 §16.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The URI the Request-URI is replaced with (§16.6 step 2).
    pub uri: Uri,
    /// The q-value (RFC 3261 §20.10), 0.0 to 1.0: higher is tried first in
    /// sequential forking and given in redirects.
    pub q: f32,
    /// Route set to push ahead of the request's Route values (RFC 3327 §5.4:
    /// the Path registered with the contact), top first.
    pub path: Vec<Uri>,
    /// Seconds the binding stays valid (given in redirects, §8.3).
    pub expires: Option<u32>,
    /// The instance-id (`+sip.instance`, RFC 5626 §4.1), informative.
    pub instance: Option<String>,
    /// An opaque flow token (RFC 5626 §5.3): the server maps it to the
    /// connection the contact registered over and sends through it.
    pub flow: Option<String>,
    /// The transport of `flow` (the one the contact registered over): the
    /// Record-Route value facing the target names our listener for it
    /// (RFC 5658 §5). `None`: the transport is taken from the next hop's URI.
    pub flow_transport: Option<Transport>,
}

impl Target {
    /// A target with q 1.0 and nothing else.
    pub fn new(uri: Uri) -> Self {
        Self {
            uri,
            q: 1.0,
            path: Vec::new(),
            expires: None,
            instance: None,
            flow: None,
            flow_transport: None,
        }
    }

    /// Sets the q-value (clamped to 0.0..=1.0).
    pub fn with_q(mut self, q: f32) -> Self {
        self.q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        self
    }

    /// Sets the Path route set.
    pub fn with_path(mut self, path: Vec<Uri>) -> Self {
        self.path = path;
        self
    }

    /// Sets the flow (RFC 5626 §5.3).
    pub fn with_flow(mut self, flow: impl Into<String>) -> Self {
        self.flow = Some(flow.into());
        self
    }

    /// Sets the flow and the transport it runs over.
    pub fn with_flow_over(mut self, flow: impl Into<String>, transport: Transport) -> Self {
        self.flow = Some(flow.into());
        self.flow_transport = Some(transport);
        self
    }

    /// The target a registrar binding stands for, at `now` (Unix seconds,
    /// as in `sipline_registrar`): `None` if it expired or its contact URI
    /// does not parse. Path values that do not parse are skipped. The flow is
    /// the binding's connection only for outbound bindings (RFC 5626 §6:
    /// `reg_id` present), where requests MUST go over the registered flow
    /// (§5.3).
    pub fn from_binding(binding: &Binding, now: u64) -> Option<Self> {
        if binding.expires_at <= now {
            return None;
        }
        let uri = Uri::parse(&binding.contact_uri).ok()?;
        let path = binding
            .path
            .iter()
            .filter_map(|p| {
                NameAddr::parse(&ByteString::from(p.as_str()))
                    .map(|n| n.uri)
                    .or_else(|_| Uri::parse(p))
                    .ok()
            })
            .collect();
        let (flow, flow_transport) = match (&binding.reg_id, &binding.source) {
            (Some(_), Some(s)) => (s.connection.clone(), Transport::parse(&s.transport)),
            _ => (None, None),
        };
        Some(Self {
            uri,
            q: binding.q.unwrap_or(1.0).clamp(0.0, 1.0),
            path,
            expires: Some(u32::try_from(binding.expires_at - now).unwrap_or(u32::MAX)),
            instance: binding.instance.clone(),
            flow,
            flow_transport,
        })
    }
}

/// The location service the proxy consults for Request-URIs it is
/// responsible for (RFC 3261 §16.5). The key is the canonical AOR of
/// [`sipline_registrar::canonical_aor`], so a registrar-backed locator finds
/// what the registrar stored.
pub trait Locator {
    /// The targets registered for `aor`.
    ///
    /// * `None`: no such user: the proxy answers 404 (§16.5 "If the
    ///   Request-URI indicates a resource at this proxy that does not exist,
    ///   the proxy MUST return a 404").
    /// * `Some(empty)`: the user exists but nothing is registered: 480
    ///   (§16.5 "If the target set remains empty [...] SHOULD be the 480").
    ///
    /// A locator that cannot tell the two apart should return `Some(vec![])`
    /// for "nothing found" if the domain has users it does not know about
    /// (480), and `None` otherwise.
    fn lookup(&self, aor: &str) -> Option<Vec<Target>>;

    /// True if the flow (RFC 5626 §5.2, in the server's notation) still
    /// exists. Asked for the flow of a token in the Route of an in-dialog
    /// request; `false` gets the request a 430 (Flow Failed, §5.3.1, §11.5).
    /// Default: every flow exists.
    fn flow_exists(&self, flow: &str) -> bool {
        let _ = flow;
        true
    }
}

/// A fixed table: AORs not in it are unknown users.
impl Locator for HashMap<String, Vec<Target>> {
    fn lookup(&self, aor: &str) -> Option<Vec<Target>> {
        self.get(aor).cloned()
    }
}

/// Any function from AOR to targets.
impl<F: Fn(&str) -> Option<Vec<Target>>> Locator for F {
    fn lookup(&self, aor: &str) -> Option<Vec<Target>> {
        self(aor)
    }
}

/// A locator that knows nobody (every lookup is `None`: 404).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLocator;

impl Locator for NoLocator {
    fn lookup(&self, _aor: &str) -> Option<Vec<Target>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipline_registrar::Source;

    #[test]
    fn binding_to_target() {
        let b = Binding {
            aor: "sip:bob@example.com".into(),
            contact_uri: "sip:bob@192.0.2.4:5070;transport=tcp".into(),
            params: Vec::new(),
            q: Some(0.5),
            expires_at: 1_100,
            call_id: "c".into(),
            cseq: 1,
            path: vec!["<sip:edge.example.com;lr>".into()],
            instance: Some("<urn:uuid:1>".into()),
            reg_id: Some(1),
            source: Some(std::sync::Arc::new(Source {
                transport: "TCP".into(),
                remote: "192.0.2.4:5070".into(),
                local: None,
                connection: Some("conn-7".into()),
            })),
            user_agent: None,
            updated_at: 1_000,
        };
        let t = Target::from_binding(&b, 1_000).unwrap();
        assert_eq!(t.uri.to_string(), "sip:bob@192.0.2.4:5070;transport=tcp");
        assert_eq!(t.q, 0.5);
        assert_eq!(t.expires, Some(100));
        assert_eq!(t.path[0].to_string(), "sip:edge.example.com;lr");
        assert_eq!(t.flow.as_deref(), Some("conn-7"));
        assert_eq!(t.flow_transport, Some(Transport::Tcp));
        assert!(Target::from_binding(&b, 1_100).is_none());
    }
}
