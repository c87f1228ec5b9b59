//! The limited STUN server RFC 5626 §8 asks of every SIP UDP port: a
//! Binding Request (RFC 5389 §6) gets a Binding Success Response carrying
//! the request's source in XOR-MAPPED-ADDRESS (RFC 5389 §15.2), which is
//! how a user agent behind a NAT keeps its flow open and learns whether its
//! public address changed (RFC 5626 §4.4.2). Anything else that looks like
//! STUN is dropped.

use std::net::SocketAddr;

/// RFC 5389 §6: the magic cookie, bytes 4-7 of every STUN message.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// RFC 5389 §18.1: Binding Request, Binding Success Response.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
/// RFC 5389 §18.2: XOR-MAPPED-ADDRESS.
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const HEADER_LEN: usize = 20;

/// True if `data` is a STUN message as RFC 5389 §6 frames it: the two top
/// bits zero, the cookie, and a length that matches (a multiple of 4).
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN
        && data[0] & 0xc0 == 0
        && data[4..8] == MAGIC_COOKIE.to_be_bytes()
        && usize::from(u16::from_be_bytes([data[2], data[3]])) == data.len() - HEADER_LEN
        && (data.len() - HEADER_LEN).is_multiple_of(4)
}

/// The Binding Success Response to `data` if it is a Binding Request from
/// `source`; `None` for anything else. The request's attributes are not
/// needed (RFC 5626 §8: "These Binding Requests do not require any STUN
/// attributes") and are not looked at.
pub(crate) fn binding_response(data: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(data) || u16::from_be_bytes([data[0], data[1]]) != BINDING_REQUEST {
        return None;
    }
    let transaction_id = &data[8..20];
    // RFC 5389 §15.2: the port XOR the cookie's top 16 bits; an IPv4
    // address XOR the cookie, an IPv6 one XOR the cookie and transaction ID.
    let port = source.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut value = vec![0u8];
    match source {
        SocketAddr::V4(a) => {
            value.push(0x01);
            value.extend_from_slice(&port.to_be_bytes());
            let x = u32::from(*a.ip()) ^ MAGIC_COOKIE;
            value.extend_from_slice(&x.to_be_bytes());
        }
        SocketAddr::V6(a) => {
            value.push(0x02);
            value.extend_from_slice(&port.to_be_bytes());
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(transaction_id);
            for (o, k) in a.ip().octets().iter().zip(key) {
                value.push(o ^ k);
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + value.len());
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction_id);
    out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(&value);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tid: [u8; 12]) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x00];
        r.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        r.extend_from_slice(&tid);
        r
    }

    /// The XOR-MAPPED-ADDRESS of a response, decoded.
    fn mapped(resp: &[u8]) -> SocketAddr {
        assert_eq!(&resp[0..2], &BINDING_SUCCESS.to_be_bytes());
        assert!(is_stun(resp));
        assert_eq!(&resp[20..22], &XOR_MAPPED_ADDRESS.to_be_bytes());
        let v = &resp[24..];
        let port = u16::from_be_bytes([v[2], v[3]]) ^ 0x2112;
        match v[1] {
            1 => {
                let ip = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) ^ MAGIC_COOKIE;
                SocketAddr::from((std::net::Ipv4Addr::from(ip), port))
            }
            2 => {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&resp[4..8]);
                key[4..].copy_from_slice(&resp[8..20]);
                let mut o = [0u8; 16];
                for i in 0..16 {
                    o[i] = v[4 + i] ^ key[i];
                }
                SocketAddr::from((std::net::Ipv6Addr::from(o), port))
            }
            f => panic!("family {f}"),
        }
    }

    #[test]
    fn binding_request_gets_the_source_back() {
        // RFC 5769 §2.2's example address and port
        let tid = [
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ];
        let v4: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let r = binding_response(&request(tid), v4).unwrap();
        assert_eq!(&r[8..20], &tid, "the request's transaction ID");
        assert_eq!(mapped(&r), v4);
        // RFC 5769 §2.2: X-Port 0xa147, X-Address 0xe112a643
        assert_eq!(&r[26..32], &[0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
        let v6: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        assert_eq!(mapped(&binding_response(&request(tid), v6).unwrap()), v6);
    }

    #[test]
    fn anything_else_gets_nothing() {
        let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let ok = request([1; 12]);
        assert!(binding_response(&ok, src).is_some());
        let mut wrong_cookie = ok.clone();
        wrong_cookie[4] = 0;
        let mut indication = ok.clone();
        indication[1] = 0x11; // Binding Indication
        let mut bad_length = ok.clone();
        bad_length[3] = 4;
        for bad in [
            &wrong_cookie[..],
            &indication,
            &bad_length,
            &ok[..19],
            b"\r\n\r\n",
            b"",
        ] {
            assert!(binding_response(bad, src).is_none(), "{bad:?}");
        }
        // with attributes (e.g. a FINGERPRINT): still answered
        let mut with_attr = ok.clone();
        with_attr[3] = 8;
        with_attr.extend_from_slice(&[0x80, 0x28, 0x00, 0x04, 1, 2, 3, 4]);
        assert!(binding_response(&with_attr, src).is_some());
    }
}
