//! STUN (RFC 5389) as SIP outbound uses it (RFC 5626 §3.5.2, §4.4.2, §8).
//!
//! Server side: the limited STUN server RFC 5626 §8 asks of every SIP UDP
//! port: a Binding Request (RFC 5389 §6) gets a Binding Success Response
//! carrying the request's source in XOR-MAPPED-ADDRESS (RFC 5389 §15.2),
//! which is how a user agent behind a NAT keeps its flow open and learns
//! whether its public address changed (RFC 5626 §4.4.2).
//!
//! Client side, sans-IO: [`BindingRequest`] encodes the keep-alive request
//! and [`BindingResponse::decode`] reads the Binding Success or Error
//! Response to it; the transport layer sends the one
//! ([`crate::TransportLayer::send_stun_binding`]) and passes the other up
//! ([`crate::TransportLayer::subscribe_stun`]). Anything else that looks
//! like STUN is dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// RFC 5389 §6: the magic cookie, bytes 4-7 of every STUN message.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// RFC 5389 §18.1: Binding Request, Success Response, Error Response.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
/// RFC 5389 §18.2: MAPPED-ADDRESS, ERROR-CODE, XOR-MAPPED-ADDRESS,
/// FINGERPRINT.
const MAPPED_ADDRESS: u16 = 0x0001;
const ERROR_CODE: u16 = 0x0009;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const FINGERPRINT: u16 = 0x8028;
/// RFC 5389 §15.5: the CRC-32 of FINGERPRINT is XORed with this.
const FINGERPRINT_XOR: u32 = 0x5354_554e;
const HEADER_LEN: usize = 20;

/// A STUN transaction ID (RFC 5389 §6: 96 bits, chosen at random by the
/// client, "cryptographically random" and different for every request).
pub type TransactionId = [u8; 12];

/// A STUN Binding Request for a keep-alive (RFC 5626 §8: "These Binding
/// Requests do not require any STUN attributes"). Sans-IO: the caller
/// picks the transaction ID and sends [`BindingRequest::encode`]'s bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingRequest {
    /// The transaction ID the response echoes (RFC 5389 §6).
    pub transaction_id: TransactionId,
    /// Whether to add a FINGERPRINT attribute (RFC 5389 §15.5), which
    /// tells STUN apart from other traffic on the port; optional here.
    pub fingerprint: bool,
}

impl BindingRequest {
    /// A request with this transaction ID and no attributes.
    pub fn new(transaction_id: TransactionId) -> Self {
        Self {
            transaction_id,
            fingerprint: false,
        }
    }

    /// The request on the wire: RFC 5389 §6's 20-byte header (type,
    /// length, magic cookie, transaction ID), then FINGERPRINT if asked.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 8);
        out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id);
        if self.fingerprint {
            // RFC 5389 §15.5: the length already counts the FINGERPRINT
            // attribute when the CRC is computed over what precedes it.
            out[2..4].copy_from_slice(&8u16.to_be_bytes());
            let crc = crc32(&out) ^ FINGERPRINT_XOR;
            out.extend_from_slice(&FINGERPRINT.to_be_bytes());
            out.extend_from_slice(&4u16.to_be_bytes());
            out.extend_from_slice(&crc.to_be_bytes());
        }
        out
    }
}

/// What a Binding Response said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingOutcome {
    /// A Binding Success Response: our address as the server saw it
    /// (XOR-MAPPED-ADDRESS, RFC 5389 §15.2; MAPPED-ADDRESS, §15.1, if a
    /// server sent only that).
    Mapped(SocketAddr),
    /// A Binding Error Response with its ERROR-CODE (RFC 5389 §15.6;
    /// 0 without one). RFC 5626 §4.4.2: the flow has failed.
    Error(u16),
}

/// A STUN Binding Response (success or error), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingResponse {
    /// The transaction ID, to match with the request (RFC 5389 §7.3.3).
    pub transaction_id: TransactionId,
    /// What it said.
    pub outcome: BindingOutcome,
}

impl BindingResponse {
    /// Decodes a Binding Success or Error Response; `None` for anything
    /// else, for a malformed one (short, bad length, attributes running
    /// past the end, a wrong FINGERPRINT) and for a success response
    /// without a mapped address. Never panics.
    pub fn decode(data: &[u8]) -> Option<BindingResponse> {
        if !is_stun(data) {
            return None;
        }
        let kind = u16::from_be_bytes([data[0], data[1]]);
        if kind != BINDING_SUCCESS && kind != BINDING_ERROR {
            return None;
        }
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&data[8..20]);
        let mut xor_mapped = None;
        let mut mapped = None;
        let mut error = None;
        // RFC 5389 §15: type, length, value padded to a multiple of 4.
        let mut at = HEADER_LEN;
        while at < data.len() {
            let head = data.get(at..at + 4)?;
            let ty = u16::from_be_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let value = data.get(at + 4..at + 4 + len)?;
            match ty {
                XOR_MAPPED_ADDRESS if xor_mapped.is_none() => {
                    xor_mapped = Some(address(value, Some(&data[4..20]))?);
                }
                MAPPED_ADDRESS if mapped.is_none() => mapped = Some(address(value, None)?),
                ERROR_CODE if error.is_none() => {
                    // RFC 5389 §15.6: class (hundreds) in 3 bits, number
                    // (0-99) in the next 8.
                    let v = value.get(..4)?;
                    error = Some(u16::from(v[2] & 0x07) * 100 + u16::from(v[3]));
                }
                FINGERPRINT => {
                    // RFC 5389 §15.5: the last attribute, over everything
                    // before it.
                    let crc = u32::from_be_bytes(value.try_into().ok()?);
                    if at + 8 != data.len() || crc32(&data[..at]) ^ FINGERPRINT_XOR != crc {
                        return None;
                    }
                }
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        let outcome = if kind == BINDING_ERROR {
            BindingOutcome::Error(error.unwrap_or(0))
        } else {
            BindingOutcome::Mapped(xor_mapped.or(mapped)?)
        };
        Some(BindingResponse {
            transaction_id,
            outcome,
        })
    }
}

/// A Binding Response that arrived on one of the layer's SIP UDP sockets
/// ([`crate::TransportLayer::subscribe_stun`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunReceived {
    /// The response.
    pub response: BindingResponse,
    /// Who sent it (the server the request went to).
    pub source: SocketAddr,
    /// Our socket it came to.
    pub local: SocketAddr,
}

/// A (XOR-)MAPPED-ADDRESS value (RFC 5389 §15.1, §15.2): `key` is the
/// magic cookie and transaction ID for the XOR form, `None` for the plain.
fn address(value: &[u8], key: Option<&[u8]>) -> Option<SocketAddr> {
    let (family, port) = (value.get(1)?, value.get(2..4)?);
    let mut port = u16::from_be_bytes([port[0], port[1]]);
    let mut ip = value.get(4..)?.to_vec();
    if let Some(key) = key {
        xor_address(&mut port, &mut ip, key);
    }
    match (family, ip.len()) {
        (0x01, 4) => Some(SocketAddr::from((
            Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?),
            port,
        ))),
        (0x02, 16) => Some(SocketAddr::from((
            Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?),
            port,
        ))),
        _ => None,
    }
}

/// RFC 5389 §15.2: the port XOR the cookie's top 16 bits, the address XOR
/// the cookie (IPv4) or the cookie and transaction ID (IPv6); `key` is the
/// message's bytes 4-20 (cookie, transaction ID). Its own inverse.
fn xor_address(port: &mut u16, ip: &mut [u8], key: &[u8]) {
    *port ^= (MAGIC_COOKIE >> 16) as u16;
    for (b, k) in ip.iter_mut().zip(key) {
        *b ^= k;
    }
}

/// CRC-32 (ISO/IEC 3309, as FINGERPRINT uses it, RFC 5389 §15.5), bit by
/// bit: a keep-alive is 28 bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

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
/// attributes") and are not looked at. Every SIP UDP listener answers with
/// it; public for tests and fuzzing.
pub fn binding_response(data: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(data) || u16::from_be_bytes([data[0], data[1]]) != BINDING_REQUEST {
        return None;
    }
    let transaction_id = &data[8..20];
    let (family, mut ip) = match source.ip() {
        IpAddr::V4(a) => (0x01, a.octets().to_vec()),
        IpAddr::V6(a) => (0x02, a.octets().to_vec()),
    };
    let mut port = source.port();
    xor_address(&mut port, &mut ip, &data[4..20]);
    let mut value = vec![0u8, family];
    value.extend_from_slice(&port.to_be_bytes());
    value.extend_from_slice(&ip);
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
                SocketAddr::from((Ipv4Addr::from(ip), port))
            }
            2 => {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&resp[4..8]);
                key[4..].copy_from_slice(&resp[8..20]);
                let mut o = [0u8; 16];
                for i in 0..16 {
                    o[i] = v[4 + i] ^ key[i];
                }
                SocketAddr::from((Ipv6Addr::from(o), port))
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

    /// RFC 5769 §2.2: the sample IPv4 response (SOFTWARE,
    /// XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT).
    const RFC5769_V4: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// RFC 5769 §2.3: the sample IPv6 response.
    const RFC5769_V6: [u8; 92] = [
        0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01,
        0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9,
        0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
        0x0b, 0x4c,
    ];

    const RFC5769_TID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    #[test]
    fn decodes_rfc5769_responses() {
        // the FINGERPRINTs in the vectors check out, so the CRC is right
        let v4 = BindingResponse::decode(&RFC5769_V4).expect("§2.2");
        assert_eq!(v4.transaction_id, RFC5769_TID);
        assert_eq!(
            v4.outcome,
            BindingOutcome::Mapped("192.0.2.1:32853".parse().unwrap())
        );
        let v6 = BindingResponse::decode(&RFC5769_V6).expect("§2.3");
        assert_eq!(v6.transaction_id, RFC5769_TID);
        assert_eq!(
            v6.outcome,
            BindingOutcome::Mapped(
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                    .parse()
                    .unwrap()
            )
        );
        // a FINGERPRINT that does not match: dropped
        let mut bad = RFC5769_V4;
        bad[79] ^= 1;
        assert_eq!(BindingResponse::decode(&bad), None);
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn request_round_trips_through_our_server() {
        let tid = [7, 6, 5, 4, 3, 2, 1, 0, 0xff, 0xfe, 0xfd, 0xfc];
        for fingerprint in [false, true] {
            let req = BindingRequest {
                transaction_id: tid,
                fingerprint,
            }
            .encode();
            assert!(is_stun(&req));
            assert_eq!(&req[0..2], &[0x00, 0x01], "Binding Request");
            assert_eq!(&req[4..8], &[0x21, 0x12, 0xa4, 0x42], "magic cookie");
            assert_eq!(&req[8..20], &tid);
            assert_eq!(req.len(), if fingerprint { 28 } else { 20 });
            for src in [
                "198.51.100.7:61000",
                "[2001:db8::1]:5060",
                "[::ffff:10.0.0.1]:1",
            ] {
                let src: SocketAddr = src.parse().unwrap();
                let resp = binding_response(&req, src).unwrap();
                let decoded = BindingResponse::decode(&resp).unwrap();
                assert_eq!(decoded.transaction_id, tid);
                assert_eq!(decoded.outcome, BindingOutcome::Mapped(src));
            }
            // a request is not a response
            assert_eq!(BindingResponse::decode(&req), None);
        }
        // the FINGERPRINT is the one RFC 5389 §15.5 asks for
        let req = BindingRequest {
            transaction_id: tid,
            fingerprint: true,
        }
        .encode();
        let crc = u32::from_be_bytes(req[24..28].try_into().unwrap());
        assert_eq!(crc, crc32(&req[..20]) ^ FINGERPRINT_XOR);
    }

    #[test]
    fn error_response_and_plain_mapped_address() {
        let mut e = vec![0x01, 0x11, 0x00, 0x08];
        e.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        e.extend_from_slice(&[9; 12]);
        e.extend_from_slice(&[0x00, 0x09, 0x00, 0x04, 0x00, 0x00, 0x04, 0x00]);
        let d = BindingResponse::decode(&e).unwrap();
        assert_eq!(d.outcome, BindingOutcome::Error(400));
        assert_eq!(d.transaction_id, [9; 12]);
        // RFC 5389 §15.1: MAPPED-ADDRESS, not XORed
        let mut m = vec![0x01, 0x01, 0x00, 0x0c];
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[1; 12]);
        m.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x13, 0xc4, 10, 0, 0, 1]);
        assert_eq!(
            BindingResponse::decode(&m).unwrap().outcome,
            BindingOutcome::Mapped("10.0.0.1:5060".parse().unwrap())
        );
        // a success response with no address at all is of no use
        let mut none = m.clone();
        none[3] = 0;
        none.truncate(20);
        assert_eq!(BindingResponse::decode(&none), None);
    }

    #[test]
    fn short_or_garbled_input_is_refused_without_panicking() {
        for v in [&RFC5769_V4[..], &RFC5769_V6[..]] {
            for n in 0..v.len() {
                assert_eq!(BindingResponse::decode(&v[..n]), None, "{n} bytes");
            }
            // every single-byte corruption: no panic; the FINGERPRINT
            // catches any change it covers (all but its own 8 bytes: a
            // changed type makes it an unknown attribute, ignored)
            for i in 0..v.len() {
                for x in [0x01, 0x80, 0xff] {
                    let mut g = v.to_vec();
                    g[i] ^= x;
                    let r = BindingResponse::decode(&g);
                    if i < v.len() - 8 {
                        assert_eq!(r, None, "byte {i} ^ {x:#x} accepted");
                    }
                }
            }
        }
        // attribute lengths running past the end, an unknown family, a
        // truncated address: refused
        let mut head = vec![0x01, 0x01, 0x00, 0x08];
        head.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        head.extend_from_slice(&[3; 12]);
        for attr in [
            [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47],
            [0x00, 0x20, 0x00, 0xff, 0x00, 0x01, 0xa1, 0x47],
            [0x00, 0x20, 0x00, 0x04, 0x00, 0x03, 0xa1, 0x47],
            [0x00, 0x20, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00],
        ] {
            let mut g = head.clone();
            g.extend_from_slice(&attr);
            assert_eq!(BindingResponse::decode(&g), None, "{attr:?}");
        }
        for junk in [&b"SIP/2.0 200 OK\r\n\r\n"[..], b"\r\n\r\n", b"", &[0u8; 64]] {
            assert_eq!(BindingResponse::decode(junk), None);
        }
    }
}
