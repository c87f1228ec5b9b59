//! Where to send: [`Destination`], and where a response goes
//! ([`response_destination`], RFC 3261 §18.2.2 with RFC 3581 §4).

use crate::ConnectionId;
use sipline_message::header::Via;
use sipline_message::uri::Host;
use sipline_message::Transport;
use std::net::{IpAddr, SocketAddr};

/// Where to send a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// The name to send as TLS SNI and check the certificate against
    /// (TLS, WSS; also the WebSocket `Host`). Without it the IP address is checked.
    pub server_name: Option<String>,
    /// A connection to use if it is still open (RFC 3261 §18.2.2 first
    /// bullet); when it is gone, `transport` and `addr` are used.
    pub connection: Option<ConnectionId>,
    /// For UDP: the local address to send from, e.g. [`crate::Incoming::local`]
    /// of the request a response answers (RFC 3581 §4: "The response MUST be
    /// sent from the same address and port that the corresponding request was
    /// received on"). Without it, the first UDP listener of the address family.
    pub local: Option<SocketAddr>,
}

impl Destination {
    /// A destination with only a transport and an address.
    pub fn new(transport: Transport, addr: SocketAddr) -> Self {
        Self {
            transport,
            addr,
            server_name: None,
            connection: None,
            local: None,
        }
    }
}

/// A response whose top Via names a host, not an address, with nothing else
/// to go by: the caller resolves `host` with RFC 3263 §5 (SRV on `transport`
/// when `port` is none, else A/AAAA) and sends to the result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("response to {host} needs RFC 3263 §5 resolution")]
pub struct NeedsResolution {
    /// The host name (sent-by host, or maddr when it is a name).
    pub host: String,
    /// The port, if the Via gave one.
    pub port: Option<u16>,
    /// The transport.
    pub transport: Transport,
}

/// Where to send a response whose top Via is `via`, for a request that came
/// over `received_on` from `source` (on `connection`, for a connection
/// transport). `via` is the top Via as the transport layer stamped it on
/// receipt (`received`/`rport` added).
///
/// RFC 3261 §18.2.2, in order:
/// 1. reliable sent-protocol (or the request came over a connection): the same
///    connection if still open ([`Destination::connection`]; the send path
///    falls back when it is gone) else `received` (or the sent-by IP, or the
///    source IP) with the sent-by port or the transport's default port;
/// 2. `maddr`: that address, sent-by port or 5060 (the `ttl` parameter is not
///    applied: the send path does no multicast);
/// 3. (RFC 3581 §4, between 2 and 3) unreliable with `received` and an
///    `rport` value: `received`:`rport`;
/// 4. unreliable with `received`: `received`, sent-by port or 5060;
/// 5. otherwise sent-by: an IP address with its port or the default; a host
///    name gives [`NeedsResolution`].
///
/// [`Destination::local`] is left empty: set it from [`crate::Incoming::local`].
pub fn response_destination(
    via: &Via,
    received_on: Transport,
    source: SocketAddr,
    connection: Option<ConnectionId>,
) -> Result<Destination, NeedsResolution> {
    let transport = Transport::parse(&via.transport).unwrap_or(received_on);
    let received: Option<IpAddr> = via.received().and_then(parse_ip);
    let host_ip = host_ip(&via.host);
    let sent_by_domain = match &via.host {
        Host::Domain(d) => Some(d.clone()),
        _ => None,
    };
    let dest = |t: Transport, ip: IpAddr, port: u16| Destination {
        transport: t,
        addr: SocketAddr::new(ip, port),
        server_name: sent_by_domain.clone(),
        connection: None,
        local: None,
    };

    // §18.2.2 bullet 1: reliable transports answer on the request's connection.
    if transport.is_reliable() || (received_on.is_reliable() && connection.is_some()) {
        let t = if received_on.is_reliable() {
            received_on
        } else {
            transport
        };
        let ip = received.or(host_ip).unwrap_or_else(|| source.ip());
        let mut d = dest(t, ip, via.port.unwrap_or(t.default_port()));
        d.connection = connection;
        return Ok(d);
    }
    // §18.2.2 bullet 2: maddr (ttl not applied: no multicast on the send path).
    if let Some(maddr) = via.maddr() {
        let port = via.port.unwrap_or(5060);
        return match parse_ip(maddr) {
            Some(ip) => Ok(dest(transport, ip, port)),
            None => Err(NeedsResolution {
                host: maddr.to_string(),
                port: Some(port),
                transport,
            }),
        };
    }
    if let Some(ip) = received {
        // RFC 3581 §4: received + rport → that address and port.
        if let Some(Some(rport)) = via.rport() {
            return Ok(dest(transport, ip, rport));
        }
        // §18.2.2 bullet 3: received, sent-by port or 5060.
        return Ok(dest(transport, ip, via.port.unwrap_or(5060)));
    }
    // §18.2.2 bullet 4: sent-by, via RFC 3263 §5 for a host name.
    match host_ip {
        Some(ip) => Ok(dest(
            transport,
            ip,
            via.port.unwrap_or(transport.default_port()),
        )),
        None => Err(NeedsResolution {
            host: via.host.to_string(),
            port: via.port,
            transport,
        }),
    }
}

fn host_ip(h: &Host) -> Option<IpAddr> {
    match h {
        Host::Ipv4(a) => Some(IpAddr::V4(*a)),
        Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// An IP address as written in `received` or `maddr` (IPv6 with or without brackets).
fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipline_message::ByteString;

    fn via(s: &str) -> Via {
        Via::parse(&ByteString::from(s.to_string())).unwrap()
    }
    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }
    const ID: ConnectionId = ConnectionId(7);

    #[test]
    fn reliable_uses_connection_then_received_and_sent_by_port() {
        let v = via("SIP/2.0/TCP client.example:5070;branch=z9hG4bK1;received=192.0.2.9");
        let d = response_destination(&v, Transport::Tcp, sa("192.0.2.9:40000"), Some(ID)).unwrap();
        assert_eq!(d.connection, Some(ID));
        assert_eq!(d.transport, Transport::Tcp);
        // fallback when the connection is gone: received + sent-by port
        assert_eq!(d.addr, sa("192.0.2.9:5070"));
        assert_eq!(d.server_name.as_deref(), Some("client.example"));
    }

    #[test]
    fn reliable_default_port_per_transport() {
        let v = via("SIP/2.0/TLS 192.0.2.9;branch=z9hG4bK1");
        let d = response_destination(&v, Transport::Tls, sa("192.0.2.9:40000"), None).unwrap();
        assert_eq!(d.addr, sa("192.0.2.9:5061"));
        assert_eq!(d.connection, None);
        // no received, host name sent-by: the source IP stands in for received
        let v = via("SIP/2.0/TCP c.example;branch=z9hG4bK1");
        let d = response_destination(&v, Transport::Tcp, sa("192.0.2.7:40000"), None).unwrap();
        assert_eq!(d.addr, sa("192.0.2.7:5060"));
        // WebSocket: default 80 (RFC 7118 §5.5)
        let v = via("SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK1;received=192.0.2.7");
        let d = response_destination(&v, Transport::Ws, sa("192.0.2.7:40000"), Some(ID)).unwrap();
        assert_eq!((d.addr, d.connection), (sa("192.0.2.7:80"), Some(ID)));
    }

    #[test]
    fn maddr_wins_over_received() {
        let v = via("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;maddr=239.255.255.1;ttl=1;received=192.0.2.1;rport=1234");
        let d = response_destination(&v, Transport::Udp, sa("192.0.2.1:1234"), None).unwrap();
        assert_eq!(d.addr, sa("239.255.255.1:5062"));
        let v = via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;maddr=239.255.255.1");
        let d = response_destination(&v, Transport::Udp, sa("10.0.0.1:5060"), None).unwrap();
        assert_eq!(d.addr, sa("239.255.255.1:5060"));
        let v = via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;maddr=sip.example");
        let e = response_destination(&v, Transport::Udp, sa("10.0.0.1:5060"), None).unwrap_err();
        assert_eq!(e.host, "sip.example");
    }

    #[test]
    fn udp_received_with_rport() {
        // RFC 3581 §6 example
        let v =
            via("SIP/2.0/UDP 10.1.1.1:4540;received=192.0.2.1;rport=9988;branch=z9hG4bKkjshdyff");
        let d = response_destination(&v, Transport::Udp, sa("192.0.2.1:9988"), None).unwrap();
        assert_eq!(d.addr, sa("192.0.2.1:9988"));
        assert_eq!(d.transport, Transport::Udp);
    }

    #[test]
    fn udp_received_without_rport() {
        let v = via("SIP/2.0/UDP pc.example:5070;branch=z9hG4bK1;received=192.0.2.4");
        let d = response_destination(&v, Transport::Udp, sa("192.0.2.4:33333"), None).unwrap();
        assert_eq!(d.addr, sa("192.0.2.4:5070"));
        let v = via("SIP/2.0/UDP pc.example;branch=z9hG4bK1;received=2001:db8::4");
        let d = response_destination(&v, Transport::Udp, sa("[2001:db8::4]:1"), None).unwrap();
        assert_eq!(d.addr, sa("[2001:db8::4]:5060"));
    }

    #[test]
    fn udp_sent_by_ip_or_needs_resolution() {
        let v = via("SIP/2.0/UDP 192.0.2.5:5090;branch=z9hG4bK1");
        let d = response_destination(&v, Transport::Udp, sa("192.0.2.5:5090"), None).unwrap();
        assert_eq!(d.addr, sa("192.0.2.5:5090"));
        let v = via("SIP/2.0/UDP [2001:db8::5];branch=z9hG4bK1");
        let d = response_destination(&v, Transport::Udp, sa("[2001:db8::5]:5060"), None).unwrap();
        assert_eq!(d.addr, sa("[2001:db8::5]:5060"));
        let v = via("SIP/2.0/UDP pc.example:5070;branch=z9hG4bK1");
        let e = response_destination(&v, Transport::Udp, sa("192.0.2.5:5070"), None).unwrap_err();
        assert_eq!(
            e,
            NeedsResolution {
                host: "pc.example".into(),
                port: Some(5070),
                transport: Transport::Udp
            }
        );
    }
}
