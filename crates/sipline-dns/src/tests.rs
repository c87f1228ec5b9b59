//! RFC 3263 rules over an in-memory zone.

use std::net::{IpAddr, SocketAddr};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use sipline_message::uri::{Host, SipUri};
use sipline_message::Transport::{self, Tcp, Tls, Udp, Ws, Wss};

use crate::*;

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn uri(s: &str) -> SipUri {
    s.parse().unwrap()
}

fn cfg(ts: &[Transport]) -> ResolveConfig {
    ResolveConfig::with_transports(ts)
}

async fn go(
    u: &str,
    config: &ResolveConfig,
    zone: &MemoryLookup,
) -> Result<Vec<Target>, ResolveError> {
    resolve_uri(&uri(u), config, zone, &mut rng()).await
}

/// (transport, "addr:port") of each target.
fn flat(ts: &[Target]) -> Vec<(Transport, String)> {
    ts.iter()
        .map(|t| (t.transport, t.addr.to_string()))
        .collect()
}

fn q(zone: &MemoryLookup) -> Vec<String> {
    zone.queries()
        .into_iter()
        .map(|(k, n)| format!("{k:?} {n}"))
        .collect()
}

/// The zone of the RFC 3263 §4.1 example, with addresses.
fn example_zone() -> MemoryLookup {
    let mut z = MemoryLookup::new();
    z.add_naptr(
        "example.com",
        Naptr::srv(50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
    )
    .add_naptr(
        "example.com",
        Naptr::srv(90, 50, "SIP+D2T", "_sip._tcp.example.com"),
    )
    .add_naptr(
        "example.com",
        Naptr::srv(100, 50, "SIP+D2U", "_sip._udp.example.com."),
    )
    .add_srv(
        "_sips._tcp.example.com",
        Srv::new(0, 0, 5061, "tls.example.com."),
    )
    .add_srv(
        "_sip._tcp.example.com",
        Srv::new(0, 1, 5060, "server1.example.com"),
    )
    .add_srv(
        "_sip._tcp.example.com",
        Srv::new(0, 2, 5060, "server2.example.com"),
    )
    .add_srv(
        "_sip._udp.example.com",
        Srv::new(0, 0, 5060, "server1.example.com"),
    )
    .add_ip("tls.example.com", ip("192.0.2.1"))
    .add_ip("server1.example.com", ip("192.0.2.11"))
    .add_ip("server2.example.com", ip("192.0.2.12"))
    .add_ip("example.com", ip("192.0.2.99"));
    z
}

/// RFC 3263 §4.1/§4.2: numeric TARGET: no lookup, UDP (sip) or TLS over TCP (sips), default
/// port of the transport.
#[tokio::test]
async fn numeric_ipv4_no_lookup() {
    let z = example_zone();
    let all = cfg(&[Udp, Tcp, Tls]);
    let t = go("sip:alice@192.0.2.5", &all, &z).await.unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.5:5060".into())]);
    assert_eq!(t[0].host, "192.0.2.5");
    assert_eq!(t[0].port, 5060);
    let t = go("sips:alice@192.0.2.5", &all, &z).await.unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.5:5061".into())]);
    let t = go("sip:192.0.2.5:5080;transport=tcp", &all, &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tcp, "192.0.2.5:5080".into())]);
    let t = go("sip:192.0.2.5;transport=tls", &all, &z).await.unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.5:5061".into())]);
    assert!(z.queries().is_empty());
}

/// RFC 3263 §4.2 with an IPv6 reference.
#[tokio::test]
async fn numeric_ipv6_literal() {
    let z = MemoryLookup::new();
    let t = go("sip:[2001:db8::1]:5080", &cfg(&[Udp]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "[2001:db8::1]:5080".into())]);
    assert_eq!(t[0].host, "2001:db8::1");
    let t = go("sips:bob@[2001:db8::2]", &cfg(&[Udp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "[2001:db8::2]:5061".into())]);
    assert!(z.queries().is_empty());
}

/// RFC 3263 §4: TARGET is maddr when present.
#[tokio::test]
async fn maddr_overrides_host() {
    let z = example_zone();
    let t = go("sip:alice@example.com;maddr=192.0.2.7", &cfg(&[Udp]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.7:5060".into())]);
    let t = go(
        "sip:alice@example.com;maddr=[2001:db8::7]",
        &cfg(&[Udp]),
        &z,
    )
    .await
    .unwrap();
    assert_eq!(flat(&t), [(Udp, "[2001:db8::7]:5060".into())]);
    assert!(z.queries().is_empty());
    // maddr with a name: that name is resolved.
    let t = go(
        "sip:alice@192.0.2.1:5070;maddr=server1.example.com",
        &cfg(&[Udp]),
        &z,
    )
    .await
    .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.11:5070".into())]);
    assert_eq!(t[0].host, "server1.example.com");
}

/// RFC 3263 §4.2: a name with an explicit port: A/AAAA only, no NAPTR, no SRV; UDP for sip,
/// TLS for sips.
#[tokio::test]
async fn explicit_port_skips_srv() {
    let z = example_zone();
    let t = go("sip:example.com:5070", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.99:5070".into())]);
    assert_eq!(q(&z), ["Ip example.com"]);
    let t = go("sips:example.com:5070", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.99:5070".into())]);
    // Even with the default port written out (the RFC 2543 rule is gone).
    let z = example_zone();
    let t = go("sip:example.com:5060;transport=tcp", &cfg(&[Udp, Tcp]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tcp, "192.0.2.99:5060".into())]);
    assert_eq!(q(&z), ["Ip example.com"]);
}

/// RFC 3263 §4.2: a transport parameter and no port: SRV for that transport only (no
/// NAPTR); `_sips` for TLS.
#[tokio::test]
async fn transport_param_srv_only() {
    let z = example_zone();
    let t = go("sip:alice@example.com;transport=tcp", &cfg(&[Udp, Tcp]), &z)
        .await
        .unwrap();
    let mut got = flat(&t);
    got.sort();
    assert_eq!(
        got,
        [
            (Tcp, "192.0.2.11:5060".into()),
            (Tcp, "192.0.2.12:5060".into())
        ]
    );
    assert_eq!(q(&z)[0], "Srv _sip._tcp.example.com");
    assert!(!q(&z).iter().any(|s| s.starts_with("Naptr")));
    let z = example_zone();
    let t = go("sip:example.com;transport=tls", &cfg(&[Udp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
    assert_eq!(q(&z)[0], "Srv _sips._tcp.example.com");
    // sips + transport=tcp is TLS over TCP.
    let t = go("sips:example.com;transport=tcp", &cfg(&[Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
}

/// RFC 3263 §4.2: transport given, no SRV: A/AAAA at the transport's default port.
#[tokio::test]
async fn transport_param_no_srv_uses_default_port() {
    let mut z = MemoryLookup::new();
    z.add_ip("plain.example.com", ip("192.0.2.50"));
    let t = go("sip:plain.example.com;transport=tls", &cfg(&[Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.50:5061".into())]);
    let t = go("sip:plain.example.com;transport=tcp", &cfg(&[Tcp]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tcp, "192.0.2.50:5060".into())]);
    // RFC 7118 §5.5: WS without SRV/port: 80; sips + ws: 443.
    let t = go("sip:plain.example.com;transport=ws", &cfg(&[Ws, Wss]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Ws, "192.0.2.50:80".into())]);
    let t = go("sips:plain.example.com;transport=ws", &cfg(&[Ws, Wss]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Wss, "192.0.2.50:443".into())]);
}

/// RFC 3263 §4.1 example: a client supporting TCP and UDP gets TCP, from the SRV of the
/// NAPTR replacement.
#[tokio::test]
async fn naptr_rfc3263_example() {
    let z = example_zone();
    let t = go("sip:user@example.com", &cfg(&[Udp, Tcp]), &z)
        .await
        .unwrap();
    assert!(t.iter().all(|t| t.transport == Tcp), "{t:?}");
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|t| t.host == "example.com"));
    let mut names: Vec<_> = t.iter().map(|t| t.lookup_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["server1.example.com", "server2.example.com"]);
    let qs = q(&z);
    assert_eq!(qs[..2], ["Naptr example.com", "Srv _sip._tcp.example.com"]);
    // A client with TLS too: SIPS+D2T has the lowest order (retained for a SIP URI).
    let t = go("sip:user@example.com", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
    assert_eq!(t[0].lookup_name, "tls.example.com");
}

/// RFC 3263 §4.1: a SIPS URI discards non-SIPS NAPTR services.
#[tokio::test]
async fn naptr_sips_filter() {
    let mut z = example_zone();
    // Make plain SIP the most preferred: sips must still skip it.
    z.add_naptr(
        "example.com",
        Naptr::srv(10, 10, "SIP+D2U", "_sip._udp.example.com"),
    );
    let t = go("sips:user@example.com", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
    let t = go("sip:user@example.com", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.11:5060".into())]);
    // sips with a client lacking TLS: nothing usable.
    assert_eq!(
        go("sips:user@example.com", &cfg(&[Udp, Tcp]), &z).await,
        Err(ResolveError::NoSupportedTransport)
    );
}

/// RFC 3403 §4.1 ordering; with `naptr_all_orders` the list fails over across transports.
#[tokio::test]
async fn naptr_all_orders_concatenates() {
    let z = example_zone();
    let mut c = cfg(&[Udp, Tcp, Tls]);
    c.naptr_all_orders = true;
    let t = go("sip:example.com", &c, &z).await.unwrap();
    let ts: Vec<_> = t.iter().map(|t| t.transport).collect();
    assert_eq!(ts, [Tls, Tcp, Tcp, Udp]);
    assert_eq!(t[3].addr, "192.0.2.11:5060".parse::<SocketAddr>().unwrap());
}

/// RFC 7118 §5.5: SIP+D2W / SIPS+D2W NAPTR services.
#[tokio::test]
async fn naptr_websocket() {
    let mut z = MemoryLookup::new();
    z.add_naptr(
        "ws.example.com",
        Naptr::srv(10, 10, "SIPS+D2W", "_sips._ws.ws.example.com"),
    )
    .add_naptr(
        "ws.example.com",
        Naptr::srv(20, 10, "SIP+D2W", "_sip._ws.ws.example.com"),
    )
    .add_srv(
        "_sips._ws.ws.example.com",
        Srv::new(0, 0, 8443, "edge.ws.example.com"),
    )
    .add_srv(
        "_sip._ws.ws.example.com",
        Srv::new(0, 0, 8080, "edge.ws.example.com"),
    )
    .add_ip("edge.ws.example.com", ip("192.0.2.80"));
    let t = go("sip:ws.example.com", &cfg(&[Ws, Wss]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Wss, "192.0.2.80:8443".into())]);
    let t = go("sip:ws.example.com", &cfg(&[Ws]), &z).await.unwrap();
    assert_eq!(flat(&t), [(Ws, "192.0.2.80:8080".into())]);
}

/// RFC 3263 §4.1: no NAPTR: SRV for each supported transport (`_sips._tcp`, `_sip._tcp`,
/// `_sip._udp`), all found kept in that order.
#[tokio::test]
async fn no_naptr_srv_fallback_order() {
    let mut z = MemoryLookup::new();
    z.add_srv("_sip._udp.b.example", Srv::new(0, 0, 5060, "u.b.example"))
        .add_srv("_sip._tcp.b.example", Srv::new(0, 0, 5062, "t.b.example"))
        .add_ip("u.b.example", ip("192.0.2.21"))
        .add_ip("t.b.example", ip("192.0.2.22"))
        .add_ip("b.example", ip("192.0.2.20"));
    let t = go("sip:b.example", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(
        flat(&t),
        [
            (Tcp, "192.0.2.22:5062".into()),
            (Udp, "192.0.2.21:5060".into())
        ]
    );
    let srv_and_naptr: Vec<String> = q(&z).into_iter().filter(|s| !s.starts_with("Ip")).collect();
    assert_eq!(
        srv_and_naptr,
        [
            "Naptr b.example",
            "Srv _sips._tcp.b.example",
            "Srv _sip._tcp.b.example",
            "Srv _sip._udp.b.example"
        ]
    );
    // A UDP-only client queries only _sip._udp.
    let z2 = z.clone();
    let before = z2.queries().len();
    let t = go("sip:b.example", &cfg(&[Udp]), &z2).await.unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.21:5060".into())]);
    let qs = q(&z2);
    assert_eq!(
        qs[before..before + 2],
        ["Naptr b.example", "Srv _sip._udp.b.example"]
    );
    // SIPS: only _sips._tcp, and there is none: A record, TLS, 5061.
    let t = go("sips:b.example", &cfg(&[Udp, Tcp, Tls]), &z)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.20:5061".into())]);
}

/// RFC 3263 §4.1: NAPTR records exist but none is for a transport the client supports:
/// SRV queries as if there were none.
#[tokio::test]
async fn naptr_unusable_falls_back_to_srv() {
    let mut z = MemoryLookup::new();
    z.add_naptr(
        "c.example",
        Naptr::srv(10, 10, "SIP+D2S", "_sip._sctp.c.example"),
    )
    .add_srv("_sip._udp.c.example", Srv::new(0, 0, 5060, "h.c.example"))
    .add_ip("h.c.example", ip("192.0.2.30"));
    let t = go("sip:c.example", &cfg(&[Udp]), &z).await.unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.30:5060".into())]);
}

/// RFC 3263 §4.2: no NAPTR, no SRV: A/AAAA with the default transport and port; both
/// families kept, in the configured order.
#[tokio::test]
async fn a_aaaa_fallback_both_families() {
    let mut z = MemoryLookup::new();
    z.add_ip("d.example", ip("2001:db8::40"))
        .add_ip("d.example", ip("192.0.2.40"));
    let t = go("sip:d.example", &cfg(&[Udp, Tcp]), &z).await.unwrap();
    assert_eq!(
        flat(&t),
        [
            (Udp, "192.0.2.40:5060".into()),
            (Udp, "[2001:db8::40]:5060".into())
        ]
    );
    let mut c = cfg(&[Udp]);
    c.ip_order = IpOrder::Ipv6First;
    let t = go("sip:d.example", &c, &z).await.unwrap();
    assert_eq!(
        flat(&t),
        [
            (Udp, "[2001:db8::40]:5060".into()),
            (Udp, "192.0.2.40:5060".into())
        ]
    );
    c.ip_order = IpOrder::Ipv6Only;
    assert_eq!(go("sip:d.example", &c, &z).await.unwrap().len(), 1);
    // A TCP-only client uses TCP ("another transport, such as TCP, MAY be used").
    let t = go("sip:d.example", &cfg(&[Tcp]), &z).await.unwrap();
    assert_eq!(t[0].transport, Tcp);
}

/// RFC 2782: SRV priority orders the targets; weights order within a priority.
#[tokio::test]
async fn srv_priority_in_targets() {
    let mut z = MemoryLookup::new();
    z.add_srv(
        "_sip._udp.e.example",
        Srv::new(20, 0, 5060, "backup.e.example"),
    )
    .add_srv(
        "_sip._udp.e.example",
        Srv::new(10, 50, 5060, "p1.e.example"),
    )
    .add_srv(
        "_sip._udp.e.example",
        Srv::new(10, 50, 5060, "p2.e.example"),
    )
    .add_ip("backup.e.example", ip("192.0.2.59"))
    .add_ip("p1.e.example", ip("192.0.2.51"))
    .add_ip("p2.e.example", ip("192.0.2.52"));
    let c = cfg(&[Udp]);
    let mut firsts = std::collections::HashSet::new();
    let mut r = rng();
    for _ in 0..50 {
        let t = resolve_uri(&uri("sip:e.example"), &c, &z, &mut r)
            .await
            .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].lookup_name, "backup.e.example");
        firsts.insert(t[0].lookup_name.clone());
    }
    // Both equal-weight primaries come first sometimes.
    assert_eq!(firsts.len(), 2);
}

/// RFC 2782: target "." means the service is not available: no A/AAAA fallback.
#[tokio::test]
async fn srv_dot_means_unavailable() {
    let mut z = MemoryLookup::new();
    z.add_srv("_sip._udp.f.example", Srv::new(0, 0, 0, "."))
        .add_ip("f.example", ip("192.0.2.60"));
    assert_eq!(
        go("sip:f.example", &cfg(&[Udp]), &z).await,
        Err(ResolveError::ServiceUnavailable("f.example".into()))
    );
    assert_eq!(
        go("sip:f.example;transport=udp", &cfg(&[Udp]), &z).await,
        Err(ResolveError::ServiceUnavailable("f.example".into()))
    );
    // Another transport still works: TCP has no SRV, but UDP said "." so no A fallback either.
    assert!(go("sip:f.example", &cfg(&[Udp, Tcp]), &z).await.is_err());
}

/// NXDOMAIN on the NAPTR query ends resolution (RFC 8020); NODATA goes on.
#[tokio::test]
async fn nxdomain_vs_nodata_vs_failure() {
    let z = MemoryLookup::new();
    assert_eq!(
        go("sip:nowhere.example", &cfg(&[Udp]), &z).await,
        Err(ResolveError::NxDomain("nowhere.example".into()))
    );
    assert_eq!(q(&z), ["Naptr nowhere.example"]);
    // Name exists (has an A record) but no NAPTR/SRV: NODATA, then A.
    let mut z = MemoryLookup::new();
    z.add_ip("g.example", ip("192.0.2.70"));
    assert_eq!(
        go("sip:g.example", &cfg(&[Udp]), &z).await.unwrap().len(),
        1
    );
    // NAPTR SERVFAIL: treated as no NAPTR, SRV still tried.
    let mut z = MemoryLookup::new();
    z.fail(
        "h.example",
        RecordKind::Naptr,
        LookupError::Failure("SERVFAIL".into()),
    )
    .add_srv("_sip._udp.h.example", Srv::new(0, 0, 5070, "x.h.example"))
    .add_ip("x.h.example", ip("192.0.2.80"));
    let t = go("sip:h.example", &cfg(&[Udp]), &z).await.unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.80:5070".into())]);
    // Everything fails: the failure is reported, not "not found".
    let mut z = MemoryLookup::new();
    let f = LookupError::Failure("timeout".into());
    z.fail("i.example", RecordKind::Naptr, f.clone())
        .fail("_sip._udp.i.example", RecordKind::Srv, f.clone())
        .fail("i.example", RecordKind::Ip, f.clone());
    assert_eq!(
        go("sip:i.example", &cfg(&[Udp]), &z).await,
        Err(ResolveError::Lookup {
            name: "i.example".into(),
            error: f
        })
    );
    // Name exists, no address records anywhere: NotFound.
    let mut z = MemoryLookup::new();
    z.add_naptr("j.example", Naptr::srv(1, 1, "SIP+D2X", "_x.j.example"));
    assert_eq!(
        go("sip:j.example", &cfg(&[Udp]), &z).await,
        Err(ResolveError::NotFound("j.example".into()))
    );
    // Explicit port, NXDOMAIN on A/AAAA.
    let z = MemoryLookup::new();
    assert_eq!(
        go("sip:k.example:5060", &cfg(&[Udp]), &z).await,
        Err(ResolveError::NxDomain("k.example".into()))
    );
}

/// SRV targets with no address are skipped; duplicates are removed.
#[tokio::test]
async fn skip_dead_targets_and_dedupe() {
    let mut z = MemoryLookup::new();
    z.add_srv(
        "_sip._udp.l.example",
        Srv::new(0, 0, 5060, "dead.l.example"),
    )
    .add_srv("_sip._udp.l.example", Srv::new(1, 0, 5060, "a.l.example"))
    .add_srv("_sip._udp.l.example", Srv::new(2, 0, 5060, "b.l.example"))
    .add_ip("a.l.example", ip("192.0.2.90"))
    .add_ip("b.l.example", ip("192.0.2.90"))
    .add_ip("dead2.l.example", ip("192.0.2.91"));
    let t = go("sip:l.example", &cfg(&[Udp]), &z).await.unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.90:5060".into())]);
    assert_eq!(t[0].lookup_name, "a.l.example");
}

/// Transport errors of the destination itself.
#[tokio::test]
async fn transport_errors() {
    let z = example_zone();
    assert_eq!(
        go("sip:example.com;transport=tcp", &cfg(&[Udp]), &z).await,
        Err(ResolveError::UnsupportedTransport(Tcp))
    );
    assert_eq!(
        go("sips:example.com;transport=udp", &cfg(&[Udp, Tls]), &z).await,
        Err(ResolveError::InsecureTransport(Udp))
    );
    assert_eq!(
        go("sip:example.com;transport=quic", &cfg(&[Udp]), &z).await,
        Err(ResolveError::UnknownTransport("quic".into()))
    );
    assert_eq!(
        go("sips:192.0.2.1", &cfg(&[Udp, Tcp]), &z).await,
        Err(ResolveError::NoSupportedTransport)
    );
}

/// An explicit destination (not from a URI).
#[tokio::test]
async fn explicit_destination() {
    let z = example_zone();
    let d = Destination::new(Host::Domain("example.com".into()), None, Some(Tcp), true).unwrap();
    assert_eq!(d.transport, Some(Tls));
    let t = resolve(&d, &cfg(&[Tls]), &z, &mut rng()).await.unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
    let d = Destination::new(Host::Domain("192.0.2.3".into()), Some(5099), None, false).unwrap();
    assert_eq!(d.host, Host::Ipv4("192.0.2.3".parse().unwrap()));
}

/// RFC 3263 §5: sent-by resolution for responses.
#[tokio::test]
async fn sent_by() {
    let z = example_zone();
    let c = ResolveConfig::default();
    let mut r = rng();
    // Numeric: that address, port or the transport's default.
    let h = Host::Ipv4("192.0.2.5".parse().unwrap());
    let t = resolve_sent_by(&h, None, Tls, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.5:5061".into())]);
    let t = resolve_sent_by(&h, Some(5099), Udp, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.5:5099".into())]);
    assert!(z.queries().is_empty());
    // Name and port: A/AAAA only.
    let h = Host::Domain("server1.example.com".into());
    let t = resolve_sent_by(&h, Some(5070), Tcp, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tcp, "192.0.2.11:5070".into())]);
    assert_eq!(q(&z), ["Ip server1.example.com"]);
    // Name, no port: SRV, _sips._tcp for TLS.
    let z = example_zone();
    let h = Host::Domain("example.com".into());
    let t = resolve_sent_by(&h, None, Tls, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tls, "192.0.2.1:5061".into())]);
    assert_eq!(q(&z)[0], "Srv _sips._tcp.example.com");
    let t = resolve_sent_by(&h, None, Udp, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Udp, "192.0.2.11:5060".into())]);
    // No SRV: A/AAAA at the default port.
    let h = Host::Domain("server2.example.com".into());
    let t = resolve_sent_by(&h, None, Tcp, &c, &z, &mut r)
        .await
        .unwrap();
    assert_eq!(flat(&t), [(Tcp, "192.0.2.12:5060".into())]);
}

/// The blacklist in front of a resolved list (RFC 3263 §4.3).
#[tokio::test]
async fn blacklist_over_resolution() {
    use std::time::{Duration, Instant};
    let z = example_zone();
    let mut c = cfg(&[Udp, Tcp, Tls]);
    c.naptr_all_orders = true;
    let t = go("sip:example.com", &c, &z).await.unwrap();
    let now = Instant::now();
    let mut bl = Blacklist::new(Duration::from_secs(32));
    bl.mark_failed(
        &t[0],
        Failure::ServiceUnavailable { retry_after: None },
        now,
    );
    let f = bl.filter(&t, now);
    assert_eq!(f, t[1..]);
    let r = bl.reorder(&t, now);
    assert_eq!(r[..3], t[1..]);
    assert_eq!(r[3], t[0]);
}
