//! Fuzzes the STUN code every SIP UDP listener runs on untrusted datagrams
//! (RFC 5626 §8 keep-alives): `stun::binding_response` (the server's
//! answer to a Binding Request) and `stun::BindingResponse::decode` (the
//! UA reading a Binding Response). Neither may panic; every answer the
//! server makes must decode to the source address it was made for, with
//! the request's transaction ID; and a Binding Request we encode, with a
//! transaction ID from the input, must be answered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_transport::stun::{binding_response, BindingOutcome, BindingRequest, BindingResponse};
use std::net::{Ipv6Addr, SocketAddr};

fn check_answer(request: &[u8], source: SocketAddr) {
    if let Some(answer) = binding_response(request, source) {
        let decoded = BindingResponse::decode(&answer).expect("our answer decodes");
        assert_eq!(decoded.outcome, BindingOutcome::Mapped(source));
        assert_eq!(&decoded.transaction_id[..], &request[8..20]);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = BindingResponse::decode(data);
    let v4: SocketAddr = "192.0.2.7:5060".parse().unwrap();
    let v6 = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 40000);
    check_answer(data, v4);
    check_answer(data, v6);
    if data.len() >= 12 {
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&data[..12]);
        let request = BindingRequest::new(tid).encode();
        assert!(
            binding_response(&request, v4).is_some(),
            "our request is answered"
        );
        check_answer(&request, v6);
    }
});
