//! `HickoryLookup` against a real authoritative DNS server: `hickory-server` in process,
//! serving an `example.test.` zone (NAPTR, SRV, A, AAAA) on a free UDP port of 127.0.0.1.
//! Every query is bounded by the resolver timeout and every test by an overall timeout.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use sipline_dns::{
    resolve_sent_by, resolve_uri, DnsProtocol, HickoryConfig, HickoryLookup, Lookup, LookupError,
    NameServer, ResolveConfig, ResolveError, Target,
};
use sipline_message::uri::{Host, SipUri};
use sipline_message::Transport::{self, Tcp, Tls, Udp};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 300
@       IN SOA   ns.example.test. admin.example.test. 1 3600 600 86400 300
@       IN NS    ns.example.test.
ns      IN A     127.0.0.1
; RFC 3263 §4.1: TLS preferred over TCP over UDP.
@       IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.example.test.
@       IN NAPTR 20 50 "s" "SIP+D2T"  "" _sip._tcp.example.test.
@       IN NAPTR 30 50 "s" "SIP+D2U"  "" _sip._udp.example.test.
; a service this client does not know
@       IN NAPTR 5  50 "s" "SIP+D2Q"  "" _sip._quic.example.test.
_sips._tcp IN SRV 0 0 5061 tls.example.test.
_sip._tcp  IN SRV 10 60 5060 tcp1.example.test.
_sip._tcp  IN SRV 20 0  5062 tcp2.example.test.
_sip._udp  IN SRV 0 0 5060 udp.example.test.
tls     IN A     192.0.2.1
tls     IN AAAA  2001:db8::1
tcp1    IN A     192.0.2.2
tcp2    IN A     192.0.2.3
udp     IN A     192.0.2.4
host    IN A     192.0.2.5
host    IN AAAA  2001:db8::5
; no NAPTR here: SRV fallback
nonaptr IN A     192.0.2.6
_sip._udp.nonaptr IN SRV 0 0 5080 udp.example.test.
"#;

/// Starts the server; returns it (drop stops it) and its address.
async fn start_server() -> (Server<Catalog>, SocketAddr) {
    let origin = Name::from_str("example.test.").unwrap();
    let (origin, records) = Parser::new(ZONE, None, Some(origin)).parse().unwrap();
    let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
        origin.clone(),
        records,
        ZoneType::Primary,
        AxfrPolicy::Deny,
    )
    .unwrap();
    let mut catalog = Catalog::new();
    let handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(handler)];
    catalog.upsert(LowerName::new(&origin), handlers);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    (server, addr)
}

fn lookup(addr: SocketAddr) -> HickoryLookup {
    let mut config = HickoryConfig::with_name_servers(&[NameServer {
        addr,
        protocol: DnsProtocol::Udp,
    }]);
    config.timeout = Duration::from_secs(2);
    config.attempts = 1;
    HickoryLookup::new(&config).unwrap()
}

fn flat(ts: &[Target]) -> Vec<(Transport, String)> {
    ts.iter()
        .map(|t| (t.transport, t.addr.to_string()))
        .collect()
}

fn s(t: Transport, a: &str) -> (Transport, String) {
    (t, a.to_owned())
}

async fn go(
    l: &HickoryLookup,
    uri: &str,
    config: &ResolveConfig,
) -> Result<Vec<Target>, ResolveError> {
    let uri: SipUri = uri.parse().unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    resolve_uri(&uri, config, l, &mut rng).await
}

/// Runs `f` against a fresh server, within 30 s overall.
async fn with_server<F, Fut>(f: F)
where
    F: FnOnce(HickoryLookup) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut server, addr) = start_server().await;
    let l = lookup(addr);
    tokio::time::timeout(Duration::from_secs(30), f(l))
        .await
        .expect("test timed out");
    let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown_gracefully()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_lookups() {
    with_server(|l| async move {
        let n = l.naptr("example.test").await.unwrap();
        assert_eq!(n.len(), 4);
        assert!(n.iter().any(|r| r.services == "SIPS+D2T"
            && r.flags == "s"
            && r.replacement == "_sips._tcp.example.test"));
        let srv = l.srv("_sip._tcp.example.test.").await.unwrap();
        assert_eq!(srv.len(), 2);
        let mut ips = l.ip("tls.example.test").await.unwrap();
        ips.sort();
        assert_eq!(ips.len(), 2);
        // NXDOMAIN vs NODATA.
        assert_eq!(
            l.naptr("nope.example.test").await,
            Err(LookupError::NxDomain)
        );
        assert_eq!(l.naptr("host.example.test").await, Ok(vec![]));
        assert_eq!(
            l.srv("_sip._udp.host.example.test").await,
            Err(LookupError::NxDomain)
        );
    })
    .await;
}

/// RFC 3263 §4.1: NAPTR (lowest order supported: SIPS+D2T) → SRV → A and AAAA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_uri_naptr_srv_a_aaaa() {
    with_server(|l| async move {
        let all = ResolveConfig::with_transports(&[Udp, Tcp, Tls]);
        let t = go(&l, "sip:example.test", &all).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Tls, "192.0.2.1:5061"), s(Tls, "[2001:db8::1]:5061")]
        );
        assert_eq!(t[0].host, "example.test");
        assert_eq!(t[0].lookup_name, "tls.example.test");

        // Without TLS: SIP+D2T, SRV priority order tcp1 (10) then tcp2 (20).
        let t = go(
            &l,
            "sip:example.test",
            &ResolveConfig::with_transports(&[Udp, Tcp]),
        )
        .await
        .unwrap();
        assert_eq!(
            flat(&t),
            [s(Tcp, "192.0.2.2:5060"), s(Tcp, "192.0.2.3:5062")]
        );

        // All orders: TLS, TCP, UDP.
        let mut every = all.clone();
        every.naptr_all_orders = true;
        let t = go(&l, "sip:example.test", &every).await.unwrap();
        assert_eq!(
            flat(&t),
            [
                s(Tls, "192.0.2.1:5061"),
                s(Tls, "[2001:db8::1]:5061"),
                s(Tcp, "192.0.2.2:5060"),
                s(Tcp, "192.0.2.3:5062"),
                s(Udp, "192.0.2.4:5060"),
            ]
        );
    })
    .await;
}

/// RFC 3263 §4.1: SIPS keeps only SIPS services.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sips_uri() {
    with_server(|l| async move {
        let mut c = ResolveConfig::with_transports(&[Udp, Tcp, Tls]);
        c.naptr_all_orders = true;
        let t = go(&l, "sips:example.test", &c).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Tls, "192.0.2.1:5061"), s(Tls, "[2001:db8::1]:5061")]
        );
    })
    .await;
}

/// RFC 3263 §4.2: transport parameter, no port: SRV for that transport only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_param() {
    with_server(|l| async move {
        let c = ResolveConfig::with_transports(&[Udp, Tcp, Tls]);
        let t = go(&l, "sip:alice@example.test;transport=tcp", &c)
            .await
            .unwrap();
        assert_eq!(
            flat(&t),
            [s(Tcp, "192.0.2.2:5060"), s(Tcp, "192.0.2.3:5062")]
        );
        let t = go(&l, "sip:alice@example.test;transport=udp", &c)
            .await
            .unwrap();
        assert_eq!(flat(&t), [s(Udp, "192.0.2.4:5060")]);
    })
    .await;
}

/// RFC 3263 §4.2: explicit port: A and AAAA only, UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_port() {
    with_server(|l| async move {
        let mut c = ResolveConfig::with_transports(&[Udp, Tcp, Tls]);
        let t = go(&l, "sip:host.example.test:5070", &c).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Udp, "192.0.2.5:5070"), s(Udp, "[2001:db8::5]:5070")]
        );
        c.ip_order = sipline_dns::IpOrder::Ipv6First;
        let t = go(&l, "sip:host.example.test:5070", &c).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Udp, "[2001:db8::5]:5070"), s(Udp, "192.0.2.5:5070")]
        );
    })
    .await;
}

/// No NAPTR: SRV fallback; no SRV: A/AAAA with default port; NXDOMAIN reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_and_nxdomain() {
    with_server(|l| async move {
        let c = ResolveConfig::with_transports(&[Udp, Tcp, Tls]);
        let t = go(&l, "sip:nonaptr.example.test", &c).await.unwrap();
        assert_eq!(flat(&t), [s(Udp, "192.0.2.4:5080")]);
        let t = go(&l, "sip:host.example.test", &c).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Udp, "192.0.2.5:5060"), s(Udp, "[2001:db8::5]:5060")]
        );
        let t = go(&l, "sips:host.example.test", &c).await.unwrap();
        assert_eq!(
            flat(&t),
            [s(Tls, "192.0.2.5:5061"), s(Tls, "[2001:db8::5]:5061")]
        );
        assert_eq!(
            go(&l, "sip:nope.example.test", &c).await,
            Err(ResolveError::NxDomain("nope.example.test".into()))
        );
    })
    .await;
}

/// RFC 3263 §5: sent-by without port → SRV; with port → A/AAAA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_by() {
    with_server(|l| async move {
        let c = ResolveConfig::default();
        let mut rng = SmallRng::seed_from_u64(2);
        let h = Host::Domain("example.test".into());
        let t = resolve_sent_by(&h, None, Tls, &c, &l, &mut rng)
            .await
            .unwrap();
        assert_eq!(
            flat(&t),
            [s(Tls, "192.0.2.1:5061"), s(Tls, "[2001:db8::1]:5061")]
        );
        let h = Host::Domain("host.example.test".into());
        let t = resolve_sent_by(&h, Some(5099), Udp, &c, &l, &mut rng)
            .await
            .unwrap();
        assert_eq!(
            flat(&t),
            [s(Udp, "192.0.2.5:5099"), s(Udp, "[2001:db8::5]:5099")]
        );
    })
    .await;
}

/// A server that does not answer: the lookup fails within the timeout, as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let mut config = HickoryConfig::with_name_servers(&[NameServer {
        addr,
        protocol: DnsProtocol::Udp,
    }]);
    config.timeout = Duration::from_millis(300);
    config.attempts = 1;
    let l = HickoryLookup::new(&config).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), l.naptr("example.test"))
        .await
        .expect("bounded by the resolver timeout");
    assert!(matches!(r, Err(LookupError::Failure(_))), "{r:?}");
    drop(silent);
}

/// The resolution future can be spawned on a multi-threaded runtime.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let l = HickoryLookup::new(&HickoryConfig::with_name_servers(&[NameServer {
        addr: "127.0.0.1:53".parse().unwrap(),
        protocol: DnsProtocol::Tcp,
    }]))
    .unwrap();
    let uri: SipUri = "sip:example.test".parse().unwrap();
    let c = ResolveConfig::default();
    let mut rng = SmallRng::seed_from_u64(1);
    let f = resolve_uri(&uri, &c, &l, &mut rng);
    assert_send(&f);
    drop(f);
}
