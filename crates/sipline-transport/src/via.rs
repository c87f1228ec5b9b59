//! The top Via on receipt (RFC 3261 §18.2.1 `received`, RFC 3581 §4 `rport`)
//! and on sending (RFC 3261 §18.1.1 transport change).

use sipline_message::header::{Header, StdHeader, Via};
use sipline_message::uri::Host;
use sipline_message::{Message, ParseError, Transport};
use std::net::{IpAddr, SocketAddr};

/// Adds `received` and fills `rport` in the top Via of a request that came
/// from `source`; `via` is that top Via as parsed (by
/// [`Message::validate_parsed`]). Returns the top Via as it now is, and
/// whether it changed.
pub(crate) fn stamp_received(msg: &mut Message, source: SocketAddr, mut via: Via) -> (Via, bool) {
    let ip = source.ip().to_canonical();
    let rport = via.rport();
    // RFC 3581 §4: "If this Via header field value contains an "rport"
    // parameter with no value, it MUST set the value of the parameter to the
    // source port of the request."
    let fill_rport = rport == Some(None);
    // RFC 3261 §18.2.1: a domain name in sent-by, or an IP address that
    // differs from the packet source address, gets "received". RFC 3581 §4:
    // with rport, "received" is added "even if it is identical to the value
    // of the sent-by component". (RFC 7118 §5.3 lets a WebSocket server skip
    // it; we add it on every transport, which the same section allows.)
    let add_received = rport.is_some() || !host_is(&via.host, ip);
    if !fill_rport && !add_received {
        return (via, false);
    }
    // Most requests (every one from a client that asks for rport) come
    // here: the value is edited as text, the port written into the bare
    // `rport` and `received` appended, rather than the whole Via parsed
    // into parameters and written out again. A Via that already has a
    // `received`, or an `rport` with a value that is not a port, takes the
    // general way below.
    let as_text =
        via.received().is_none() && stamp_text(msg, fill_rport.then_some(source.port()), ip);
    // the parsed Via gets the same values (returned to the caller)
    if fill_rport {
        via.params.set(
            "rport",
            Some(sipline_message::text::port(source.port()).as_str()),
        );
    }
    if add_received {
        let mut text = String::with_capacity(15);
        sipline_message::text::push_ip(&mut text, ip);
        via.params.set("received", Some(&text));
    }
    if !as_text {
        replace_top_via(msg, &via);
    }
    (via, true)
}

/// Writes `port` into the bare `rport` parameter of the top Via (when
/// given) and appends `;received=IP`, editing the value's text. False
/// (and nothing changed) when there is no top Via or, with a port, no bare
/// `rport` in it.
fn stamp_text(msg: &mut Message, port: Option<u16>, ip: IpAddr) -> bool {
    let headers = msg.headers_mut();
    let Some(at) = headers
        .iter()
        .position(|h| h.name.std() == Some(StdHeader::Via))
    else {
        return false;
    };
    let name = headers.as_slice()[at].name.clone();
    let Some(first) = headers.first_value(StdHeader::Via) else {
        return false;
    };
    let rport_end = match port {
        Some(_) => match bare_param_end(first.as_bytes(), b"rport") {
            Some(end) => end,
            None => return false,
        },
        None => first.len(),
    };
    let mut value = String::with_capacity(first.len() + 64);
    value.push_str(&first[..rport_end]);
    if let Some(port) = port {
        value.push('=');
        value.push_str(sipline_message::text::port(port).as_str());
    }
    value.push_str(&first[rport_end..]);
    // RFC 3261 §25.1: IPv6 without brackets in received
    value.push_str(";received=");
    sipline_message::text::push_ip(&mut value, ip);
    headers.pop_first_value(StdHeader::Via);
    let at = at.min(headers.len());
    headers.insert(at, Header::new(name, value));
    true
}

/// Where the name of a parameter `name` without a value ends in a Via
/// value's text: `;` `name` (any case, white space around the `;`), then
/// the end, `;` or white space, never `=`. Quoted strings are skipped.
fn bare_param_end(v: &[u8], name: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut quoted = false;
    while i < v.len() {
        let c = v[i];
        if quoted {
            match c {
                b'\\' => i += 1,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b';' {
            let mut start = i + 1;
            while start < v.len() && matches!(v[start], b' ' | b'\t') {
                start += 1;
            }
            let end = start + name.len();
            if end <= v.len() && v[start..end].eq_ignore_ascii_case(name) {
                let mut next = end;
                while next < v.len() && matches!(v[next], b' ' | b'\t') {
                    next += 1;
                }
                if next == v.len() || v[next] == b';' {
                    return Some(end);
                }
            }
        }
        i += 1;
    }
    None
}

/// Rewrites the transport of the top Via (RFC 3261 §18.1.1: "If this causes
/// a change in the transport protocol from the one indicated in the top Via,
/// the value in the top Via MUST be changed.").
pub(crate) fn set_top_via_transport(msg: &mut Message, t: Transport) -> Result<(), ParseError> {
    let mut via = msg.top_via()?;
    if !via.transport.eq_ignore_ascii_case(t.as_str()) {
        via.transport = t.as_str().into();
        replace_top_via(msg, &via);
    }
    Ok(())
}

fn host_is(host: &Host, ip: IpAddr) -> bool {
    match (host, ip) {
        (Host::Ipv4(a), IpAddr::V4(b)) => *a == b,
        (Host::Ipv6(a), IpAddr::V6(b)) => *a == b,
        (Host::Ipv6(a), IpAddr::V4(b)) => a.to_ipv4_mapped() == Some(b),
        _ => false,
    }
}

/// Replaces the first value of the first Via row, keeping the row's name
/// (compact `v` stays `v`) and any further values of that row.
fn replace_top_via(msg: &mut Message, via: &Via) {
    let headers = msg.headers_mut();
    let Some(at) = headers
        .iter()
        .position(|h| h.name.std() == Some(StdHeader::Via))
    else {
        return;
    };
    let name = headers.as_slice()[at].name.clone();
    // The row goes, or keeps its other values; the new value goes where it was.
    headers.pop_first_value(StdHeader::Via);
    let at = at.min(headers.len());
    headers.insert(at, Header::new(name, via.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stamps the top Via, parsed first as the transport does.
    fn stamp(m: &mut Message, source: SocketAddr) -> (Via, bool) {
        let via = m.validate_parsed(false).unwrap().top_via;
        stamp_received(m, source, via)
    }

    fn req(via: &str) -> Message {
        Message::parse(format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\n{via}\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKlower\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap()
    }

    fn src(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn received_added_for_domain_and_other_ip() {
        // RFC 3261 §18.2.1 example
        let mut m = req("Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK1");
        assert!(stamp(&mut m, src("192.0.2.4:5060")).1);
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some("192.0.2.4"));
        assert_eq!(m.vias().unwrap().len(), 2);
        assert_eq!(m.vias().unwrap()[1].branch(), Some("z9hG4bKlower"));

        let mut m = req("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
        stamp(&mut m, src("192.0.2.4:5060"));
        assert_eq!(m.top_via().unwrap().received(), Some("192.0.2.4"));
    }

    #[test]
    fn no_received_when_same_ip() {
        let mut m = req("Via: SIP/2.0/UDP 192.0.2.4:5070;branch=z9hG4bK1");
        assert!(!stamp(&mut m, src("192.0.2.4:5070")).1);
        assert_eq!(m.top_via().unwrap().received(), None);
        let mut m = req("Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK1");
        assert!(!stamp(&mut m, src("[2001:db8::1]:5060")).1);
    }

    #[test]
    fn rport_filled_and_received_always() {
        // RFC 3581 §6 example
        let mut m = req("Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bK1");
        stamp(&mut m, src("192.0.2.1:9988"));
        let v = m.top_via().unwrap();
        assert_eq!(v.rport(), Some(Some(9988)));
        assert_eq!(v.received(), Some("192.0.2.1"));
        // same IP: received still added because of rport (RFC 3581 §4)
        let mut m = req("Via: SIP/2.0/UDP 192.0.2.1:4540;rport;branch=z9hG4bK1");
        stamp(&mut m, src("192.0.2.1:4540"));
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some("192.0.2.1"));
        assert_eq!(v.rport(), Some(Some(4540)));
    }

    #[test]
    fn text_edit_keeps_the_rest_of_the_value() {
        let mut m = req("Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bK1");
        stamp(&mut m, src("192.0.2.1:9988"));
        assert!(m.to_string().contains(
            "\r\nVia: SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bK1;received=192.0.2.1\r\n"
        ));
        // white space around the `;`, any case, rport last; a quoted
        // ";rport" in another parameter is not it
        for (via, rport_text) in [
            (
                "Via: SIP/2.0/UDP h.example ; RPort ;branch=z9hG4bK1",
                "RPort=9988 ;",
            ),
            (
                "Via: SIP/2.0/UDP h.example;x=\"a;rport;b\";branch=z9hG4bK1;rport",
                "branch=z9hG4bK1;rport=9988;received",
            ),
            (
                "Via: SIP/2.0/UDP h.example;rport ;branch=z9hG4bK1",
                "rport=9988 ;",
            ),
        ] {
            let mut m = req(via);
            stamp(&mut m, src("10.0.0.250:9988"));
            assert!(m.to_string().contains(rport_text), "{via}: {m}");
            let v = m.top_via().unwrap();
            assert_eq!(v.rport(), Some(Some(9988)), "{via}");
            assert_eq!(v.received(), Some("10.0.0.250"), "{via}");
            assert_eq!(v.branch(), Some("z9hG4bK1"), "{via}");
        }
        // an rport that is not a port, or a received already there: the
        // general way, same meaning
        let mut m = req("Via: SIP/2.0/UDP h.example;rport=x;branch=z9hG4bK1");
        stamp(&mut m, src("10.0.0.1:7"));
        assert_eq!(m.top_via().unwrap().rport(), Some(Some(7)));
        let mut m = req("Via: SIP/2.0/UDP h.example;received=1.2.3.4;rport;branch=z9hG4bK1");
        stamp(&mut m, src("10.0.0.1:7"));
        let v = m.top_via().unwrap();
        assert_eq!((v.received(), v.rport()), (Some("10.0.0.1"), Some(Some(7))));
        assert_eq!(m.to_string().matches("received").count(), 1);
        // octets of every width
        let mut m = req("Via: SIP/2.0/UDP h.example;branch=z9hG4bK1");
        stamp(&mut m, src("0.9.10.255:7"));
        assert_eq!(m.top_via().unwrap().received(), Some("0.9.10.255"));
    }

    /// What it returns is what the message now says (the transport hands
    /// it on so that the top Via is not parsed again).
    #[test]
    fn returned_via_is_the_stamped_one() {
        for (via, source) in [
            (
                "Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bK1",
                "192.0.2.1:9988",
            ),
            (
                "Via: SIP/2.0/UDP 10.1.1.1:4540;branch=z9hG4bK1",
                "192.0.2.1:9988",
            ),
            (
                "Via: SIP/2.0/UDP 192.0.2.1:9988;branch=z9hG4bK1",
                "192.0.2.1:9988",
            ),
            (
                "Via: SIP/2.0/UDP h.example;rport=x;branch=z9hG4bK1",
                "10.0.0.1:7",
            ),
            (
                "Via: SIP/2.0/UDP h.example;received=1.2.3.4;rport;branch=z9hG4bK1",
                "10.0.0.1:7",
            ),
            (
                "Via: SIP/2.0/TCP [2001:db8::1];rport;branch=z9hG4bK1",
                "[2001:db8::2]:5",
            ),
        ] {
            let mut m = req(via);
            let (returned, _) = stamp(&mut m, src(source));
            assert_eq!(returned, m.top_via().unwrap(), "{via}");
        }
    }

    #[test]
    fn ipv6_received_unbracketed() {
        let mut m = req("Via: SIP/2.0/UDP host.example;branch=z9hG4bK1");
        stamp(&mut m, src("[::1]:5060"));
        assert_eq!(m.top_via().unwrap().received(), Some("::1"));
    }

    #[test]
    fn comma_list_row_keeps_rest() {
        let mut m = Message::parse(
            &b"OPTIONS sip:b@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2\r\n\
From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        set_top_via_transport(&mut m, Transport::Tcp).unwrap();
        let vias = m.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].transport, "TCP");
        assert_eq!(vias[1].transport, "UDP");
        assert!(m
            .to_string()
            .contains("\r\nv: SIP/2.0/TCP a.example;branch=z9hG4bK1\r\n"));
    }
}
