//! How our Contact and Via name the transport a hop goes over, WebSocket
//! above all (RFC 7118): WSS is a SIPS URI with `transport=ws`.

mod common;

use common::*;
use sipline_message::header::StdHeader;
use sipline_message::Transport;
use std::time::Duration;

/// RFC 7118 §5.1: Via "WS" and "WSS"; §5.2, §5.5: the URI transport value
/// is "ws" for both, WSS being the SIPS scheme with it (there is no
/// "transport=wss"). RFC 3261 §26.2.2: TLS is the SIPS scheme alone. The
/// INVITE alice sends over each, and the 200 bob answers with over the
/// same.
#[test]
fn contact_and_via_name_the_transport() {
    for (t, scheme, param) in [
        (Transport::Udp, "sip", ""),
        (Transport::Tcp, "sip", ";transport=tcp"),
        (Transport::Tls, "sips", ""),
        (Transport::Ws, "sip", ";transport=ws"),
        (Transport::Wss, "sips", ";transport=ws"),
    ] {
        let mut w = World::perfect();
        let a = w.ua_over("alice", 1, t, |_| {});
        let b = w.ua_over("bob", 2, t, |_| {});
        let (_, inc) = call_bob(&mut w, a, b);
        answer(&mut w, b, inc);
        assert!(w.run_until(Duration::from_secs(1), |w| confirmed(w, b, inc)));
        let (_, invite) = w.sent_by(1, "INVITE ").remove(0);
        assert_eq!(
            header(&invite, StdHeader::Contact).unwrap(),
            format!("<{scheme}:alice@10.0.0.1:5060{param}>"),
            "{t}"
        );
        let via = header(&invite, StdHeader::Via).unwrap();
        assert!(
            via.starts_with(&format!("SIP/2.0/{t} 10.0.0.1:5060;")),
            "{via}"
        );
        let (_, ok) = w.sent_by(2, "SIP/2.0 200").pop().unwrap();
        assert_eq!(
            header(&ok, StdHeader::Contact).unwrap(),
            format!("<{scheme}:bob@10.0.0.2:5060{param}>"),
            "{t}"
        );
    }
}
