//! Transport protocols as named in Via sent-protocol and the `transport`
//! URI parameter (RFC 3261 §18, §19.1.1; RFC 7118 for WebSocket; RFC 4168 for SCTP).

use std::fmt;

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP (RFC 3261 §18)
    Udp,
    /// TCP (RFC 3261 §18)
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2)
    Tls,
    /// SCTP (RFC 4168)
    Sctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket (RFC 7118)
    Wss,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 6] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Sctp,
        Transport::Ws,
        Transport::Wss,
    ];

    /// The token as written in a Via (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The transport for a token, in any case (Via transport or URI `transport=`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The value of the `transport` URI parameter for this transport (RFC
    /// 3261 §19.1.1), the secure ones in a SIPS URI: TLS is `sips:` with
    /// `tcp` (RFC 3261 §26.2.2: "transport=tls" is deprecated; most write
    /// no parameter at all), WSS is `sips:` with `ws` (RFC 7118 §5.2 defines
    /// no "wss"; §5.5).
    pub const fn uri_param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp | Self::Tls => "tcp",
            Self::Sctp => "sctp",
            Self::Ws | Self::Wss => "ws",
        }
    }

    /// True for transports that deliver reliably: no retransmissions by the
    /// transaction layer (RFC 3261 §17.1.1.2, §17.1.2.2).
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// True for stream transports, where Content-Length frames messages (§18.3).
    pub const fn is_stream(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }

    /// True for transports secured by TLS.
    pub const fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// The default port: 5060, or 5061 for TLS (RFC 3261 §19.1.2), and the
    /// HTTP ports for WebSocket (RFC 7118 §5.2: no SIP default; 80 and 443).
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Udp | Self::Tcp | Self::Sctp => 5060,
            Self::Tls => 5061,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Transport {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::parse(s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        for t in Transport::ALL {
            assert_eq!(Transport::parse(t.as_str()), Some(t));
            assert_eq!(Transport::parse(&t.as_str().to_lowercase()), Some(t));
        }
        assert_eq!(Transport::parse("QUIC"), None);
        assert!(!Transport::Udp.is_reliable());
        assert!(Transport::Ws.is_reliable() && !Transport::Ws.is_stream());
        assert_eq!(Transport::Tls.default_port(), 5061);
    }

    /// RFC 7118 §5.2, §5.5: WSS is a SIPS URI with `transport=ws`.
    #[test]
    fn uri_param_of_wss_is_ws() {
        assert_eq!(Transport::Wss.uri_param(), "ws");
        assert_eq!(Transport::Ws.uri_param(), "ws");
        assert_eq!(Transport::Tls.uri_param(), "tcp");
        assert_eq!(Transport::Udp.uri_param(), "udp");
    }
}
