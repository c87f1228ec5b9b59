//! Determining request targets (RFC 3261 §16.5), caller preferences for the
//! search (RFC 3841 §9.1 Request-Disposition) and the grouping of targets
//! for sequential search (RFC 3261 §16.6, RFC 3841 §7.2.4).

use crate::config::{Forking, ProxyConfig, RouteMatch, StaticRoute};
use crate::locate::Target;
use crate::validate::Refusal;
use sipline_message::header::StdHeader;
use sipline_message::uri::escape::unescape_lossy;
use sipline_message::uri::Host;
use sipline_message::{Request, StatusCode, Uri};

/// The Request-Disposition directives (RFC 3841 §9.1) the proxy honours.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Disposition {
    /// `redirect`: answer 3xx instead of proxying.
    pub(crate) redirect: bool,
    /// `no-fork`: only the best target.
    pub(crate) no_fork: bool,
    /// `parallel` / `sequential`.
    pub(crate) forking: Option<Forking>,
    /// `recurse` / `no-recurse`.
    pub(crate) recurse: Option<bool>,
    /// `no-cancel`: do not CANCEL other branches on a 2xx (still on a 6xx).
    pub(crate) no_cancel: bool,
}

impl Disposition {
    pub(crate) fn of(req: &Request) -> Self {
        let mut d = Self::default();
        for t in req.headers.values(StdHeader::RequestDisposition) {
            match t.to_ascii_lowercase().as_str() {
                "redirect" => d.redirect = true,
                "no-fork" => d.no_fork = true,
                "parallel" => d.forking = Some(Forking::Parallel),
                "sequential" => d.forking = Some(Forking::Sequential),
                "recurse" => d.recurse = Some(true),
                "no-recurse" => d.recurse = Some(false),
                "no-cancel" => d.no_cancel = true,
                _ => {}
            }
        }
        d
    }
}

/// The target set of a request.
#[derive(Debug, Clone)]
pub(crate) struct TargetSet {
    /// Groups of targets in the order they are tried; the targets of a group
    /// go out in parallel.
    pub(crate) groups: Vec<Vec<Target>>,
    /// The proxy is responsible for the Request-URI, so it may add targets
    /// later, e.g. from 3xx (§16.5 "A proxy MUST NOT add additional targets
    /// to the target set if the Request-URI of the original request does not
    /// indicate a resource this proxy is responsible for").
    pub(crate) responsible: bool,
    /// The targets come from a static route marked permanent (301 in redirects).
    pub(crate) permanent: bool,
    /// For a static route: its next hops in their retargeted form, the
    /// Contacts of a redirect.
    pub(crate) static_contacts: Option<Vec<Uri>>,
    /// The groups are alternatives tried one after the other whatever the
    /// configured forking (a static route's next hops).
    pub(crate) one_at_a_time: bool,
}

impl TargetSet {
    /// One target, nothing the proxy is responsible for (no recursion).
    pub(crate) fn single(target: Target) -> Self {
        Self {
            groups: vec![vec![target]],
            responsible: false,
            permanent: false,
            static_contacts: None,
            one_at_a_time: false,
        }
    }
}

/// §16.5, after §16.4 preprocessing:
/// 1. a remaining Route value: the target set is the Request-URI, unchanged
///    (the path was set upstream: a preloaded route or a dialog's route set;
///    a deliberate reading of §16.12 that leaves location lookups to the last
///    hop);
/// 2. a `maddr` in the Request-URI: the Request-URI is the only target;
/// 3. a matching [`StaticRoute`]: its next hops, one at a time;
/// 4. a Request-URI in a served domain or naming this element (or a `tel`
///    URI): the location service, keyed by the canonical AOR (§10.3 via
///    [`sipline_registrar::canonical_aor`]); unknown user: 404, nothing
///    registered: 480; if the URI names one of our addresses and the user is
///    unknown there, the user at our first served domain is looked up;
/// 5. any other Request-URI: the only target.
pub(crate) fn determine(
    req: &Request,
    cfg: &ProxyConfig,
    forking: Forking,
    disposition: Disposition,
    lookup: &mut dyn FnMut(&str) -> Option<Vec<Target>>,
) -> Result<TargetSet, Refusal> {
    let uri = &req.uri;
    let responsible = is_responsible(uri, cfg);
    let single = |responsible| TargetSet {
        groups: vec![vec![Target::new(uri.clone())]],
        responsible,
        permanent: false,
        static_contacts: None,
        one_at_a_time: false,
    };
    if req.headers.contains(StdHeader::Route) {
        return Ok(single(false));
    }
    if uri.as_sip().is_some_and(|s| s.maddr().is_some()) {
        return Ok(single(false));
    }
    if let Some(route) = cfg.static_routes.iter().find(|r| route_matches(r, uri)) {
        let groups = route
            .next_hops
            .iter()
            .map(|hop| vec![static_target(hop, uri, responsible)])
            .collect::<Vec<_>>();
        if groups.is_empty() {
            return Err(Refusal::code(480));
        }
        return Ok(TargetSet {
            groups,
            responsible,
            permanent: route.permanent,
            static_contacts: Some(route.next_hops.iter().map(|h| retarget(h, uri)).collect()),
            one_at_a_time: true,
        });
    }
    if !responsible {
        return Ok(single(false));
    }
    let aor = sipline_registrar::canonical_aor(uri);
    let mut found = lookup(&aor);
    if found.is_none() {
        if let (Uri::Sip(s), Some(domain)) = (uri, cfg.domains.first()) {
            if cfg.is_local_uri(s) && s.user.is_some() {
                let mut alt = s.clone();
                alt.host = Host::Domain(domain.clone());
                alt.port = None;
                found = lookup(&sipline_registrar::canonical_aor(&Uri::Sip(alt)));
            }
        }
    }
    let Some(found) = found else {
        return Err(Refusal::new(StatusCode::NOT_FOUND));
    };
    let sips = uri.scheme() == "sips";
    let mut targets: Vec<Target> = Vec::with_capacity(found.len());
    for t in found {
        // §26.4.4 / §16.7 step 4 spirit: a SIPS request is not sent to a non-SIPS target.
        if sips && t.uri.scheme() != "sips" {
            continue;
        }
        if targets.iter().any(|x| x.uri.equivalent(&t.uri)) {
            continue; // §16.5 "Targets can only be placed in the target set once"
        }
        targets.push(t);
    }
    if targets.is_empty() {
        return Err(Refusal::code(480));
    }
    let mut groups = group_by_q(targets, forking);
    if disposition.no_fork {
        // RFC 3841 §9.1 fork-directive: "proxy the request to the "best"
        // address (generally the one with the highest q-value)".
        groups.truncate(1);
        groups[0].truncate(1);
    }
    Ok(TargetSet {
        groups,
        responsible: true,
        permanent: false,
        static_contacts: None,
        one_at_a_time: false,
    })
}

/// The proxy is responsible for this URI: a served domain, one of our
/// addresses, or a `tel` URI (which names no domain at all, so only local
/// policy can route it).
pub(crate) fn is_responsible(uri: &Uri, cfg: &ProxyConfig) -> bool {
    match uri {
        Uri::Sip(s) => cfg.serves_domain(&s.host) || cfg.is_local_uri(s),
        Uri::Tel(_) => true,
        Uri::Other(_) => false,
    }
}

/// Sorts by q, highest first, keeping the order among equal q (stable), and
/// groups: parallel, one group; sequential, one group per q-value (RFC 3841
/// §7.2.4 "grouped into equivalence classes, such that all contacts with the
/// same q-value are in the same equivalence class").
pub(crate) fn group_by_q(mut targets: Vec<Target>, forking: Forking) -> Vec<Vec<Target>> {
    targets.sort_by(|a, b| b.q.total_cmp(&a.q));
    match forking {
        Forking::Parallel => vec![targets],
        Forking::Sequential => {
            let mut groups: Vec<Vec<Target>> = Vec::new();
            for t in targets {
                match groups.last_mut() {
                    Some(g) if (g[0].q - t.q).abs() < 1e-6 => g.push(t),
                    _ => groups.push(vec![t]),
                }
            }
            groups
        }
    }
}

fn route_matches(route: &StaticRoute, uri: &Uri) -> bool {
    match &route.matcher {
        RouteMatch::UserPrefix(p) => match uri {
            Uri::Sip(s) => s
                .user
                .as_deref()
                .is_some_and(|u| unescape_lossy(u).starts_with(p.as_str())),
            Uri::Tel(t) => t.digits().starts_with(p.as_str()),
            Uri::Other(_) => false,
        },
        RouteMatch::Domain(d) => uri.as_sip().is_some_and(|s| {
            matches!(&s.host, Host::Domain(h) if h.trim_end_matches('.').eq_ignore_ascii_case(d.trim_end_matches('.')))
        }),
    }
}

/// One target of a static route (see [`StaticRoute`]).
fn static_target(hop: &Uri, uri: &Uri, responsible: bool) -> Target {
    let loose = hop.as_sip().is_some_and(|s| s.lr());
    if loose || !responsible {
        Target::new(uri.clone()).with_path(vec![hop.clone()])
    } else {
        Target::new(retarget(hop, uri))
    }
}

/// A next hop as a new Request-URI: the old user part copied in if the hop
/// has none (a `tel` number becomes a user with `user=phone`, §19.1.6).
pub(crate) fn retarget(hop: &Uri, uri: &Uri) -> Uri {
    let Uri::Sip(h) = hop else {
        return hop.clone();
    };
    if h.user.is_some() {
        return hop.clone();
    }
    let mut out = h.clone();
    out.remove_param("lr");
    match uri {
        Uri::Sip(s) => out.user.clone_from(&s.user),
        Uri::Tel(t) => {
            out.user = Some(t.number.clone());
            out.set_param("user", Some("phone"));
        }
        Uri::Other(_) => {}
    }
    Uri::Sip(out)
}
