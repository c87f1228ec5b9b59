//! Pure ordering rules: SRV priority and weighted selection (RFC 2782), NAPTR service
//! mapping, filtering and ordering (RFC 3263 §4.1, RFC 3403 §4.1, RFC 7118 §5.5), and address
//! family order.

use std::net::IpAddr;

use rand::{Rng, RngExt};
use sipline_message::Transport;

use crate::lookup::{Naptr, Srv};

/// Orders SRV records as RFC 2782 ("Usage rules" and "Weight") prescribes: by priority,
/// lowest first; within one priority, by repeated weighted random selection.
///
/// Within a priority the records are arranged with those of weight 0 first (in the order
/// given), then the others (in the order given); a uniform random number between 0 and the sum
/// of the weights (inclusive) is drawn, and the first record whose running sum is greater than
/// or equal to it is selected, removed, and the process is repeated on the rest. So a record
/// of weight 0 among records of positive weight has a small chance (1 in sum + 1, for the
/// first one) of coming first, and records that all have weight 0 keep the order given.
///
/// Records whose target is `"."` are dropped (RFC 2782: "the service is decidedly not
/// available"); use [`srv_unavailable`] to tell that case from an empty answer.
pub fn order_srv<R: Rng + ?Sized>(records: &[Srv], rng: &mut R) -> Vec<Srv> {
    let mut rest: Vec<&Srv> = records.iter().filter(|r| !r.is_unavailable()).collect();
    // Stable: records of equal priority keep the order given.
    rest.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(rest.len());
    let mut start = 0;
    while start < rest.len() {
        let prio = rest.get(start).map_or(0, |r| r.priority);
        let end = rest
            .iter()
            .skip(start)
            .position(|r| r.priority != prio)
            .map_or(rest.len(), |n| start + n);
        // RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in any order, except
        // that all those with weight 0 are placed at the beginning of the list."
        let mut group: Vec<&Srv> = rest.get(start..end).unwrap_or_default().to_vec();
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            // "choose a uniform random number between 0 and the sum computed (inclusive)"
            let pick = rng.random_range(0..=sum);
            let mut running = 0u32;
            let mut chosen = group.len() - 1;
            for (i, r) in group.iter().enumerate() {
                running += u32::from(r.weight);
                // "select the RR whose running sum value is the first in the selected order
                // which is greater than or equal to the random number selected"
                if running >= pick {
                    chosen = i;
                    break;
                }
            }
            out.push(group.remove(chosen).clone());
        }
        start = end;
    }
    out
}

/// Whether an SRV answer says the service is not available: it is not empty and every target
/// is `"."` (RFC 2782: "If there is precisely one SRV RR, and its Target is "." (the root
/// domain), abort.").
pub fn srv_unavailable(records: &[Srv]) -> bool {
    !records.is_empty() && records.iter().all(Srv::is_unavailable)
}

/// The transport a NAPTR SERVICES field stands for, and whether it uses the `SIPS` protocol:
/// `SIP+D2U` UDP, `SIP+D2T` TCP, `SIPS+D2T` TLS, `SIP+D2S` SCTP (RFC 3263 §4.1), `SIP+D2W`
/// WS, `SIPS+D2W` WSS (RFC 7118 §5.5). Case-insensitive. `SIPS+D2U` ("SHOULD NOT be placed
/// into the DNS, since it is not possible to use TLS over UDP", RFC 3263 §4.1), `SIPS+D2S`
/// (no TLS over SCTP transport here) and anything else give `None`.
pub fn naptr_service(services: &str) -> Option<Transport> {
    let s = services.to_ascii_uppercase();
    match s.as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        "SIP+D2S" => Some(Transport::Sctp),
        "SIP+D2W" => Some(Transport::Ws),
        "SIPS+D2W" => Some(Transport::Wss),
        _ => None,
    }
}

/// The NAPTR records to follow, with their transports, in processing order.
///
/// Keeps records (RFC 3263 §4.1) whose flags are `"s"` (the next lookup is SRV) and whose
/// regexp is empty, whose service maps to a transport the client supports
/// ([`naptr_service`]), and, for a SIPS URI (`secure`), only those with `SIPS` as the protocol
/// ("a client resolving a SIPS URI MUST discard any services that do not contain "SIPS" as the
/// protocol in the service field"). For a SIP URI, SIPS records are kept when the client
/// supports their transport ("A client resolving a SIP URI SHOULD retain records with "SIPS"
/// as the protocol, if the client supports TLS").
///
/// Sorted by order, then preference (RFC 3403 §4.1); equal records keep the order given. Unless
/// `all_orders`, only the records with the lowest order are kept: "once a match is found the
/// client MUST NOT consider records with a different Order" (RFC 3403 §4.1).
pub fn select_naptr(
    records: &[Naptr],
    secure: bool,
    supported: &[Transport],
    all_orders: bool,
) -> Vec<(Transport, Naptr)> {
    let mut kept: Vec<(Transport, Naptr)> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s") && r.regexp.is_empty())
        .filter_map(|r| naptr_service(&r.services).map(|t| (t, r.clone())))
        .filter(|(t, _)| supported.contains(t) && (!secure || t.is_secure()))
        .collect();
    kept.sort_by_key(|(_, r)| (r.order, r.preference));
    if !all_orders {
        if let Some(first) = kept.first().map(|(_, r)| r.order) {
            kept.retain(|(_, r)| r.order == first);
        }
    }
    kept
}

/// The order in which the addresses of a name are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpOrder {
    /// IPv4 addresses first, then IPv6.
    #[default]
    Ipv4First,
    /// IPv6 addresses first, then IPv4.
    Ipv6First,
    /// IPv4 addresses only.
    Ipv4Only,
    /// IPv6 addresses only.
    Ipv6Only,
}

impl IpOrder {
    /// `addrs` filtered and ordered by family; within a family the order is kept.
    pub fn apply(self, addrs: &[IpAddr]) -> Vec<IpAddr> {
        let v4 = addrs.iter().filter(|a| a.is_ipv4()).copied();
        let v6 = addrs.iter().filter(|a| a.is_ipv6()).copied();
        match self {
            IpOrder::Ipv4First => v4.chain(v6).collect(),
            IpOrder::Ipv6First => v6.chain(v4).collect(),
            IpOrder::Ipv4Only => v4.collect(),
            IpOrder::Ipv6Only => v6.collect(),
        }
    }
}

/// The SRV owner name prefix for a transport: `_sip._udp`, `_sip._tcp`, `_sips._tcp`
/// (TLS: RFC 3263 §4.2 "using the service identifier "_sips""; the protocol is TCP),
/// `_sip._sctp`, and for WebSocket, which RFC 7118 gives no SRV name, `_sip._ws` and
/// `_sips._ws` (only when `ws_srv`).
pub fn srv_prefix(transport: Transport, ws_srv: bool) -> Option<&'static str> {
    match transport {
        Transport::Udp => Some("_sip._udp"),
        Transport::Tcp => Some("_sip._tcp"),
        Transport::Tls => Some("_sips._tcp"),
        Transport::Sctp => Some("_sip._sctp"),
        Transport::Ws if ws_srv => Some("_sip._ws"),
        Transport::Wss if ws_srv => Some("_sips._ws"),
        Transport::Ws | Transport::Wss => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::HashMap;

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(3263)
    }

    fn targets(v: &[Srv]) -> Vec<&str> {
        v.iter().map(|r| r.target.as_str()).collect()
    }

    /// RFC 2782 "Weight": larger weights get a proportionately higher probability of being
    /// selected first: 60/30/10 over many draws.
    #[test]
    fn weighted_selection_shares() {
        let recs = [
            Srv::new(10, 60, 5060, "a"),
            Srv::new(10, 30, 5060, "b"),
            Srv::new(10, 10, 5060, "c"),
        ];
        let mut rng = rng();
        let n = 20_000;
        let mut first: HashMap<String, u32> = HashMap::new();
        for _ in 0..n {
            let o = order_srv(&recs, &mut rng);
            assert_eq!(o.len(), 3);
            *first.entry(o[0].target.clone()).or_default() += 1;
        }
        let share = |t: &str| f64::from(first[t]) / f64::from(n);
        // Expected 60/101, 30/101, 10/101 plus the r = 0 draw going to the first: ~0.604,
        // ~0.297, ~0.099.
        assert!((share("a") - 0.60).abs() < 0.02, "a {}", share("a"));
        assert!((share("b") - 0.30).abs() < 0.02, "b {}", share("b"));
        assert!((share("c") - 0.10).abs() < 0.02, "c {}", share("c"));
    }

    /// RFC 2782: second choice is a weighted draw among the remaining records.
    #[test]
    fn weighted_selection_second_place() {
        let recs = [
            Srv::new(0, 60, 1, "a"),
            Srv::new(0, 30, 1, "b"),
            Srv::new(0, 10, 1, "c"),
        ];
        let mut rng = rng();
        let n = 20_000;
        let mut b_second_given_a_first = 0u32;
        let mut a_first = 0u32;
        for _ in 0..n {
            let o = order_srv(&recs, &mut rng);
            if o[0].target == "a" {
                a_first += 1;
                if o[1].target == "b" {
                    b_second_given_a_first += 1;
                }
            }
        }
        let p = f64::from(b_second_given_a_first) / f64::from(a_first);
        assert!((p - 0.75).abs() < 0.03, "{p}");
    }

    /// RFC 2782 "Priority": a client MUST attempt to contact the target host with the
    /// lowest-numbered priority it can reach.
    #[test]
    fn priority_first() {
        let recs = [
            Srv::new(20, 100, 1, "low1"),
            Srv::new(10, 1, 1, "high1"),
            Srv::new(30, 0, 1, "lowest"),
            Srv::new(10, 1, 1, "high2"),
            Srv::new(20, 100, 1, "low2"),
        ];
        let mut rng = rng();
        for _ in 0..200 {
            let o = order_srv(&recs, &mut rng);
            let t = targets(&o);
            assert!(
                t[..2].contains(&"high1") && t[..2].contains(&"high2"),
                "{t:?}"
            );
            assert!(
                t[2..4].contains(&"low1") && t[2..4].contains(&"low2"),
                "{t:?}"
            );
            assert_eq!(t[4], "lowest");
        }
    }

    /// RFC 2782: weight 0 records are placed first and get a very small chance (1 in sum+1)
    /// when others have positive weights.
    #[test]
    fn weight_zero_small_chance() {
        let recs = [Srv::new(0, 100, 1, "big"), Srv::new(0, 0, 1, "zero")];
        let mut rng = rng();
        let n = 50_000;
        let zero_first = (0..n)
            .filter(|_| order_srv(&recs, &mut rng)[0].target == "zero")
            .count();
        let share = zero_first as f64 / f64::from(n);
        // 1/101 ≈ 0.0099
        assert!(share > 0.005 && share < 0.015, "{share}");
    }

    /// RFC 2782: all weights 0: the sum is 0, the draw is 0, and the list order is kept.
    #[test]
    fn all_weight_zero_keeps_order() {
        let recs = [
            Srv::new(0, 0, 1, "x"),
            Srv::new(0, 0, 1, "y"),
            Srv::new(0, 0, 1, "z"),
        ];
        let mut rng = rng();
        for _ in 0..50 {
            assert_eq!(targets(&order_srv(&recs, &mut rng)), ["x", "y", "z"]);
        }
    }

    /// RFC 2782: a target of "." means the service is decidedly not available.
    #[test]
    fn dot_target() {
        let dot = [Srv::new(0, 0, 0, ".")];
        assert!(srv_unavailable(&dot));
        assert!(order_srv(&dot, &mut rng()).is_empty());
        assert!(!srv_unavailable(&[]));
        let mixed = [Srv::new(0, 0, 0, "."), Srv::new(1, 0, 5060, "h")];
        assert!(!srv_unavailable(&mixed));
        assert_eq!(targets(&order_srv(&mixed, &mut rng())), ["h"]);
    }

    /// Same seed, same order (the RNG is the only source of randomness).
    #[test]
    fn deterministic_with_seed() {
        let recs: Vec<Srv> = (0..10)
            .map(|i| Srv::new(0, 10 + i, 1, &format!("h{i}")))
            .collect();
        assert_eq!(order_srv(&recs, &mut rng()), order_srv(&recs, &mut rng()));
    }

    /// RFC 3263 §4.1, RFC 7118 §5.5: service field to transport.
    #[test]
    fn services() {
        assert_eq!(naptr_service("SIP+D2U"), Some(Transport::Udp));
        assert_eq!(naptr_service("sip+d2t"), Some(Transport::Tcp));
        assert_eq!(naptr_service("SIPS+D2T"), Some(Transport::Tls));
        assert_eq!(naptr_service("SIP+D2S"), Some(Transport::Sctp));
        assert_eq!(naptr_service("SIP+D2W"), Some(Transport::Ws));
        assert_eq!(naptr_service("SIPS+D2W"), Some(Transport::Wss));
        assert_eq!(naptr_service("SIPS+D2U"), None);
        assert_eq!(naptr_service("E2U+sip"), None);
    }

    fn rfc3263_example() -> Vec<Naptr> {
        vec![
            Naptr::srv(100, 50, "SIP+D2U", "_sip._udp.example.com."),
            Naptr::srv(90, 50, "SIP+D2T", "_sip._tcp.example.com"),
            Naptr::srv(50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
        ]
    }

    fn transports(v: &[(Transport, Naptr)]) -> Vec<Transport> {
        v.iter().map(|(t, _)| *t).collect()
    }

    /// RFC 3263 §4.1 example: a client supporting TCP and UDP uses TCP; with TLS, TLS.
    #[test]
    fn naptr_rfc3263_example() {
        let recs = rfc3263_example();
        let tcp_udp = [Transport::Udp, Transport::Tcp];
        assert_eq!(
            transports(&select_naptr(&recs, false, &tcp_udp, false)),
            [Transport::Tcp]
        );
        let all = [Transport::Udp, Transport::Tcp, Transport::Tls];
        assert_eq!(
            transports(&select_naptr(&recs, false, &all, false)),
            [Transport::Tls]
        );
        assert_eq!(
            transports(&select_naptr(&recs, false, &all, true)),
            [Transport::Tls, Transport::Tcp, Transport::Udp]
        );
    }

    /// RFC 3263 §4.1: a SIPS URI discards non-SIPS services.
    #[test]
    fn naptr_sips_only_secure() {
        let mut recs = rfc3263_example();
        recs.push(Naptr::srv(10, 10, "SIP+D2W", "_sip._ws.example.com"));
        recs.push(Naptr::srv(60, 10, "SIPS+D2W", "_sips._ws.example.com"));
        let all = Transport::ALL;
        assert_eq!(
            transports(&select_naptr(&recs, true, &all, true)),
            [Transport::Tls, Transport::Wss]
        );
        // Without TLS support nothing remains for sips.
        assert!(select_naptr(&recs, true, &[Transport::Udp, Transport::Tcp], true).is_empty());
    }

    /// RFC 3403 §4.1: order first, then preference; unknown flags/services and non-empty
    /// regexps are skipped.
    #[test]
    fn naptr_order_preference_filter() {
        let mut odd = Naptr::srv(1, 1, "SIP+D2U", "_sip._udp.x");
        odd.flags = "u".into();
        let mut re = Naptr::srv(1, 1, "SIP+D2U", "_sip._udp.x");
        re.regexp = "!^.*$!sip:a@b!".into();
        let recs = vec![
            odd,
            re,
            Naptr::srv(1, 0, "SIP+D2Q", "_sip._quic.x"),
            Naptr::srv(20, 30, "SIP+D2U", "u30"),
            Naptr::srv(20, 10, "SIP+D2T", "t10"),
            Naptr::srv(10, 99, "SIP+D2S", "sctp"),
            Naptr::srv(20, 20, "SIP+D2U", "u20"),
        ];
        let sup = [Transport::Udp, Transport::Tcp];
        let reps = |v: Vec<(Transport, Naptr)>| -> Vec<String> {
            v.into_iter().map(|(_, r)| r.replacement).collect()
        };
        // SCTP unsupported: its record (order 10) is discarded, so order 20 is the first match.
        assert_eq!(
            reps(select_naptr(&recs, false, &sup, false)),
            ["t10", "u20", "u30"]
        );
        let with_sctp = [Transport::Udp, Transport::Tcp, Transport::Sctp];
        assert_eq!(
            reps(select_naptr(&recs, false, &with_sctp, false)),
            ["sctp"]
        );
    }

    #[test]
    fn ip_order() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let c: IpAddr = "192.0.2.2".parse().unwrap();
        let v = [b, a, c];
        assert_eq!(IpOrder::Ipv4First.apply(&v), [a, c, b]);
        assert_eq!(IpOrder::Ipv6First.apply(&v), [b, a, c]);
        assert_eq!(IpOrder::Ipv4Only.apply(&v), [a, c]);
        assert_eq!(IpOrder::Ipv6Only.apply(&v), [b]);
    }
}
