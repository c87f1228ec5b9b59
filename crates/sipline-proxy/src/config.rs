//! What the proxy is responsible for and how it forwards.

use sipline_message::uri::{Host, SipUri};
use sipline_message::{Transport, Uri};
use std::time::Duration;

/// How a target set with several targets is processed (RFC 3261 §16.6:
/// "It MAY process multiple targets serially [...] It MAY start client
/// transactions with every target in parallel").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forking {
    /// Every target at once (limited by Max-Breadth, RFC 5393 §5).
    #[default]
    Parallel,
    /// Groups of equal q-value, highest first (RFC 3261 §16.6, RFC 3841
    /// §7.2.4): the next group starts when every branch of the current one
    /// completed without a 2xx or 6xx, or when
    /// [`ProxyConfig::branch_timeout`] expires.
    Sequential,
}

/// What the element does with requests for resources it is responsible for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Transaction-stateful proxy (RFC 3261 §16.2 to §16.10).
    #[default]
    Proxy,
    /// Redirect server (RFC 3261 §8.3): answers 3xx with the targets as Contacts.
    Redirect,
    /// Stateless proxy (RFC 3261 §16.11): one target per request, no
    /// response context; the server forwards without transactions.
    Stateless,
}

/// What a [`StaticRoute`] matches in the Request-URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// The user part of a SIP/SIPS Request-URI (unescaped), or the number of a
    /// `tel` URI, starts with this prefix (e.g. `"+1"`, `"00"`; `""` matches
    /// every URI with a user part).
    UserPrefix(String),
    /// The host of the Request-URI is this domain (case-insensitive).
    Domain(String),
}

/// A routing rule of local policy, applied before the location service
/// (RFC 3261 §16.5 "algorithmic substitution", §16.6 step 6).
///
/// Each next hop is one target, tried in the order given (one at a time:
/// next hops are alternatives, not forks):
/// * a next hop with an `lr` parameter is a loose-routing proxy: the
///   Request-URI is kept and the next hop is pushed as the top Route
///   (§16.6 step 6);
/// * any other next hop replaces the Request-URI (a retarget, only done when
///   the proxy is responsible for the Request-URI, §16.5); if it has no user
///   part, the Request-URI's user part is copied into it, so
///   `sip:gw.example.net` turns `sip:+15551234@example.com` into
///   `sip:+15551234@gw.example.net`. For a Request-URI the proxy is not
///   responsible for, it is pushed as a Route like an `lr` hop (so it should
///   carry `lr`).
///
/// In [`Mode::Redirect`] the next hops (in their retargeted form) are returned
/// as Contacts: with 301 if `permanent`, else 302 (300 for several).
#[derive(Debug, Clone, PartialEq)]
pub struct StaticRoute {
    /// What the rule matches.
    pub matcher: RouteMatch,
    /// Where matching requests go, in order of preference.
    pub next_hops: Vec<Uri>,
    /// The resource moved for good: a redirect server answers 301.
    pub permanent: bool,
}

/// Configuration of a [`crate::Proxy`].
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Domains this proxy is responsible for (RFC 3261 §16.5), compared
    /// case-insensitively. A Request-URI in one of them is resolved through
    /// the location service.
    pub domains: Vec<String>,
    /// This element's own host names and addresses, with the port they are
    /// reached on (`None`: any port). A URI naming one of them is "us"
    /// (§16.4: our Route value, Request-URI addressed to us; §16.3 step 4:
    /// our Via).
    pub local: Vec<(String, Option<u16>)>,
    /// Insert Record-Route into dialog-initiating requests (§16.6 step 4).
    pub record_route: bool,
    /// The URI used in Record-Route (an `lr` parameter is added if missing),
    /// e.g. `sip:192.0.2.1:5060;lr`; when it comes back as a Route value or,
    /// from a strict router, as the Request-URI, it is recognised as ours
    /// (§16.4). Its host, port and `transport` also give the sent-by of the
    /// Via the proxy inserts (§16.6 step 8), which the server may rewrite
    /// once it chose the transport ([`crate::rewrite_top_via`]).
    pub record_route_uri: SipUri,
    /// This element's URI on each transport it listens on, e.g.
    /// `sip:192.0.2.1:5060` for UDP, `sip:192.0.2.1:5060;transport=tcp`,
    /// `sips:192.0.2.1:5061` for TLS (RFC 5658 §6.2: a TLS hop is encoded by
    /// the `sips` scheme, never by `transport=tls`). Record-Route names the
    /// listener of the transport a request arrived on and the one it leaves
    /// on: when the two differ, or a flow token is needed on either side
    /// ([`ProxyConfig::flow_token_key`]), two values are inserted (RFC 5658
    /// §5 double Record-Route; §6.2 with a `transport` parameter on each).
    /// A transport with no entry here is named by
    /// [`ProxyConfig::record_route_uri`]. Empty (the default): one value,
    /// [`ProxyConfig::record_route_uri`], as before.
    pub listeners: Vec<(Transport, SipUri)>,
    /// The key of flow tokens (RFC 5626 §5.2), random per start of the
    /// server: with it, a Record-Route value facing a peer reached over a
    /// flow (the flow of [`crate::Inbound`], or a [`crate::Target`]'s
    /// `flow`) carries a token naming that flow in its user part, and an
    /// in-dialog request routed through such a value is forwarded over the
    /// flow (§5.3.1; 403 for a token not made with this key, 430 when the
    /// flow is gone). `None` (the default): no tokens; a Route value with
    /// one is removed like any other of ours.
    pub flow_token_key: Option<[u8; 32]>,
    /// Parallel or sequential processing of the target set.
    pub forking: Forking,
    /// With [`Forking::Sequential`], how long a group of targets is given
    /// before its pending branches are cancelled and the next group starts.
    /// `None`: wait for the group's final responses.
    pub branch_timeout: Option<Duration>,
    /// Timer C (§16.6 step 11, more than 3 minutes). The transaction layer
    /// runs it (`sipline_transaction::Config::timer_c`, reported as
    /// `Event::TimerC`, which the server passes to
    /// [`crate::Proxy::on_timer_c`]); the server should configure the same
    /// value there. The core keeps no Timer C of its own.
    pub timer_c: Duration,
    /// The largest Incoming Max-Breadth accepted, and the value given to
    /// requests without one (RFC 5393 §5.3.3, recommended 60).
    pub max_breadth: u32,
    /// Recurse on 3xx responses: add their Contacts to the target set
    /// (§16.5, §16.7 step 4) instead of passing them upstream.
    pub recurse_on_3xx: bool,
    /// Proxy, redirect server or stateless proxy.
    pub mode: Mode,
    /// Rules of local policy, tried in order before the location service.
    pub static_routes: Vec<StaticRoute>,
    /// Option-tags this proxy understands in Proxy-Require (§16.3 step 5);
    /// any other one is refused with 420.
    pub proxy_require_supported: Vec<String>,
    /// Every request handed to the core has already passed
    /// `Message::validate(false)` (e.g. the transport layer checks every
    /// message it passes up, answering 400 itself): §16.3 step 1 then skips
    /// that check instead of running it a second time. Its other parts
    /// (Route, Max-Breadth) are still checked. Default false.
    pub prevalidated: bool,
    /// A number from 0 to 15 written as the first digit of every branch this
    /// core creates (stateful forwarding). A server that runs one core per
    /// CPU gives each its own and reads it back from a response's top Via
    /// ([`crate::branch_instance`]) to hand the response to the core whose
    /// client transaction it answers. Default 0.
    pub instance: u8,
}

impl ProxyConfig {
    /// A configuration with defaults: no served domain, `local` holding the
    /// Record-Route URI's host and port, Record-Route on, parallel forking,
    /// no branch timeout, Timer C 181 s, Max-Breadth 60, no recursion, proxy
    /// mode, no static route, no Proxy-Require option supported.
    pub fn new(record_route_uri: SipUri) -> Self {
        let local = vec![(host_text(&record_route_uri.host), record_route_uri.port)];
        Self {
            domains: Vec::new(),
            local,
            record_route: true,
            record_route_uri,
            listeners: Vec::new(),
            flow_token_key: None,
            forking: Forking::Parallel,
            branch_timeout: None,
            timer_c: Duration::from_secs(181),
            max_breadth: 60,
            recurse_on_3xx: false,
            mode: Mode::Proxy,
            static_routes: Vec::new(),
            proxy_require_supported: Vec::new(),
            prevalidated: false,
            instance: 0,
        }
    }

    /// The URI of our listener for `transport` ([`ProxyConfig::listeners`]),
    /// else [`ProxyConfig::record_route_uri`].
    pub fn listener_uri(&self, transport: Transport) -> &SipUri {
        self.listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .map_or(&self.record_route_uri, |(_, u)| u)
    }

    /// True if `host` is one of [`ProxyConfig::domains`].
    pub fn serves_domain(&self, host: &Host) -> bool {
        let Host::Domain(d) = host else {
            return false;
        };
        let d = d.trim_end_matches('.');
        self.domains
            .iter()
            .any(|s| s.trim_end_matches('.').eq_ignore_ascii_case(d))
    }

    /// True if `host:port` names this element: one of
    /// [`ProxyConfig::local`], the Record-Route URI or a listener URI. A URI without a
    /// port names us whatever port we listen on; with a port, it must be one
    /// of ours (a `None` port in `local` matches any port).
    pub fn is_local(&self, host: &Host, port: Option<u16>) -> bool {
        let rr = &self.record_route_uri;
        // A URI naming one of our addresses without a port names us, whatever
        // port we listen on (so `sip:alice@192.0.2.1` reaches a server on
        // 192.0.2.1:5080); with a port, it must be one of ours.
        let port_ok = |ours: Option<u16>| match (port, ours) {
            (None, _) | (_, None) => true,
            (Some(p), Some(o)) => p == o,
        };
        let named = |u: &SipUri| u.host.eq_ignore_case(host) && port_ok(Some(u.port_or_default()));
        if named(rr) || self.listeners.iter().any(|(_, u)| named(u)) {
            return true;
        }
        let text = host_text(host);
        self.local
            .iter()
            .any(|(h, p)| host_eq(h, &text) && port_ok(*p))
    }

    /// True if the SIP/SIPS URI names this element ([`ProxyConfig::is_local`]).
    pub fn is_local_uri(&self, uri: &SipUri) -> bool {
        self.is_local(&uri.host, uri.port)
    }
}

/// A host as text, IPv6 without brackets, for comparing with configured names.
pub(crate) fn host_text(host: &Host) -> String {
    match host {
        Host::Ipv6(a) => a.to_string(),
        other => other.to_string(),
    }
}

/// Compares a configured host with a host text: case-insensitive, brackets
/// and a trailing dot ignored, IP addresses by value.
fn host_eq(configured: &str, text: &str) -> bool {
    let a = configured.trim_start_matches('[').trim_end_matches(']');
    let a = a.trim_end_matches('.');
    let b = text.trim_end_matches('.');
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_domains() {
        let mut c = ProxyConfig::new(SipUri::parse("sip:192.0.2.1:5060;lr").unwrap());
        c.domains = vec!["Example.COM".into()];
        c.local.push(("proxy.example.com".into(), None));
        c.local.push(("2001:db8::1".into(), Some(5070)));
        let u = |s: &str| SipUri::parse(s).unwrap();
        assert!(c.is_local_uri(&u("sip:192.0.2.1")));
        assert!(c.is_local_uri(&u("sip:192.0.2.1:5060;lr")));
        assert!(!c.is_local_uri(&u("sip:192.0.2.1:5080")));
        assert!(c.is_local_uri(&u("sip:PROXY.example.com:9999")));
        assert!(c.is_local_uri(&u("sip:[2001:db8::1]:5070")));
        // without a port, any of our addresses names us (the issue: "by any
        // of its listen addresses, with or without port")
        assert!(c.is_local_uri(&u("sip:[2001:db8::1]")));
        assert!(!c.is_local_uri(&u("sip:[2001:db8::1]:5060")));
        assert!(c.serves_domain(&u("sip:bob@example.com").host));
        assert!(!c.serves_domain(&u("sip:bob@example.org").host));
    }
}
