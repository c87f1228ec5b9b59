//! Matching rules: RFC 3261 §17.1.3, §17.2.3 (with the RFC 2543 fallback),
//! §9.2 (CANCEL), §8.2.2.2 (merged requests).

mod common;

use common::*;
use sipline_message::header::StdHeader;
use sipline_message::{Bytes, Message};
use sipline_transaction::{cancel_for, Config, Received, ResponseMatch, State};

fn with(msg: &Message, h: StdHeader, value: &str) -> Message {
    let mut m = msg.clone();
    m.headers_mut().set(h, value.to_string());
    m
}

#[test]
fn response_matches_by_branch_and_cseq_method() {
    let mut h = Harness::new(Config::default());
    let invite = request("INVITE", "z9hG4bK1");
    let id = h
        .table
        .send_request(h.now, invite.clone(), "peer", false)
        .unwrap();
    // the CANCEL has the same branch but its own transaction (§9.1, §17.1.3)
    let cancel = Message::from(cancel_for(invite.as_request().unwrap()));
    let cid = h
        .table
        .send_request(h.now, cancel.clone(), "peer", false)
        .unwrap();
    assert_ne!(id, cid);
    let r = h.table.handle_response(h.now, response_to(&cancel, 200));
    assert!(matches!(r, ResponseMatch::Matched(x) if x == cid));
    assert_eq!(h.table.state(id), Some(State::Calling));
    let r = h.table.handle_response(h.now, response_to(&invite, 487));
    assert!(matches!(r, ResponseMatch::Matched(x) if x == id));
    // another branch: stray
    let other = response_to(&request("INVITE", "z9hG4bKother"), 200);
    assert!(matches!(
        h.table.handle_response(h.now, other),
        ResponseMatch::Stray(_)
    ));
    assert_eq!(h.table.stats().stray_responses, 1);
}

#[test]
fn server_matching_uses_branch_sent_by_and_method() {
    let mut h = Harness::new(Config::default());
    let req = request("INVITE", "z9hG4bK1");
    let Received::New { transaction, .. } = h.table.handle_request(h.now, req.clone(), "a", false)
    else {
        panic!()
    };
    // same branch, other sent-by: a different transaction (§17.2.3 rule 2)
    let other_host = with(
        &req,
        StdHeader::Via,
        "SIP/2.0/UDP elsewhere.example.com;branch=z9hG4bK1",
    );
    assert!(matches!(
        h.table.handle_request(h.now, other_host, "b", false),
        Received::New { .. }
    ));
    // sent-by host compares case-insensitively
    let upper = with(
        &req,
        StdHeader::Via,
        "SIP/2.0/UDP PC33.Atlanta.Example.COM;branch=z9hG4bK1",
    );
    assert!(matches!(
        h.table.handle_request(h.now, upper, "a", false),
        Received::Retransmission { transaction: t } if t == transaction
    ));
    // CANCEL: its own transaction, and it finds the INVITE (§9.2)
    let cancel = Message::from(cancel_for(req.as_request().unwrap()));
    match h.table.handle_request(h.now, cancel, "a", false) {
        Received::Cancel {
            transaction: c,
            invite,
            ..
        } => {
            assert_ne!(c, transaction);
            assert_eq!(invite, Some(transaction));
        }
        r => panic!("{r:?}"),
    }
    // a CANCEL for nothing
    let lone = Message::from(cancel_for(
        request("INVITE", "z9hG4bKnone").as_request().unwrap(),
    ));
    assert!(matches!(
        h.table.handle_request(h.now, lone, "a", false),
        Received::Cancel { invite: None, .. }
    ));
}

#[test]
fn rfc2543_requests_without_magic_cookie() {
    let mut h = Harness::new(Config::default());
    let req = request("INVITE", "oldstyle1");
    let Received::New { transaction, .. } = h.table.handle_request(h.now, req.clone(), "a", false)
    else {
        panic!()
    };
    // a retransmission matches on Request-URI, tags, Call-ID, CSeq, top Via
    assert!(matches!(
        h.table.handle_request(h.now, req.clone(), "a", false),
        Received::Retransmission { .. }
    ));
    // a different CSeq is a new transaction
    let next = with(&req, StdHeader::CSeq, "314160 INVITE");
    assert!(matches!(
        h.table.handle_request(h.now, next, "a", false),
        Received::New { .. }
    ));
    // the ACK for a 486 matches only with the To tag of the response
    h.table
        .respond(h.now, transaction, response_to(&req, 486))
        .unwrap();
    let ack = with(
        &with(&req, StdHeader::CSeq, "314159 ACK"),
        StdHeader::To,
        "Bob <sip:bob@biloxi.example.com>;tag=wrong",
    );
    let mut ack_req = ack.clone();
    if let Message::Request(r) = &mut ack_req {
        r.method = sipline_message::Method::Ack;
    }
    assert!(matches!(
        h.table.handle_request(h.now, ack_req.clone(), "a", false),
        Received::StrayAck(_)
    ));
    let good = with(
        &ack_req,
        StdHeader::To,
        "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
    );
    assert!(matches!(
        h.table.handle_request(h.now, good, "a", false),
        Received::AckAbsorbed { transaction: t } if t == transaction
    ));
    assert_eq!(h.table.state(transaction), Some(State::Confirmed));
}

#[test]
fn merged_requests_are_flagged() {
    // §8.2.2.2: same From tag, Call-ID and CSeq, no To tag, another branch
    // (the request forked and came back by two paths).
    let mut h = Harness::new(Config::default());
    let first = request("INVITE", "z9hG4bKpath1");
    let Received::New {
        transaction,
        merged,
        ..
    } = h.table.handle_request(h.now, first, "a", false)
    else {
        panic!()
    };
    assert_eq!(merged, None);
    let second = request("INVITE", "z9hG4bKpath2");
    let Received::New { merged, .. } = h.table.handle_request(h.now, second, "b", false) else {
        panic!()
    };
    assert_eq!(merged, Some(transaction));
}

#[test]
fn requests_without_key_are_invalid() {
    let mut h = Harness::new(Config::default());
    let no_via = Message::parse(Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
    ))
    .unwrap();
    assert!(matches!(
        h.table.handle_request(h.now, no_via.clone(), "a", false),
        Received::Invalid(_)
    ));
    assert!(h.table.send_request(h.now, no_via, "a", false).is_err());
    let ack = request("ACK", "z9hG4bK1");
    assert_eq!(
        h.table.send_request(h.now, ack, "a", false).unwrap_err(),
        sipline_transaction::ApiError::AckIsNotATransaction
    );
    let dup = request("OPTIONS", "z9hG4bKdup");
    h.table
        .send_request(h.now, dup.clone(), "a", false)
        .unwrap();
    assert_eq!(
        h.table.send_request(h.now, dup, "a", false).unwrap_err(),
        sipline_transaction::ApiError::DuplicateTransaction
    );
}

#[test]
fn completed_non_invite_server_matches_without_its_request() {
    // §17.2.2: after its final response a non-INVITE server transaction
    // keeps only its keys and the response, yet still absorbs
    // retransmissions (resending the response) and is found as the
    // "ongoing transaction" of §8.2.2.2 until Timer J; then every key goes.
    let mut h = Harness::new(Config::default());
    let req = request("REGISTER", "z9hG4bKreg1");
    let Received::New { transaction, .. } = h.table.handle_request(h.now, req.clone(), "a", false)
    else {
        panic!()
    };
    assert!(h.table.request(transaction).is_some());
    h.table
        .respond(h.now, transaction, response_to(&req, 200))
        .unwrap();
    h.drain();
    assert!(
        h.table.request(transaction).is_none(),
        "let go with the final response"
    );
    assert!(matches!(
        h.table.handle_request(h.now, req.clone(), "a", false),
        Received::Retransmission { transaction: t } if t == transaction
    ));
    h.drain();
    let sent: Vec<_> = h
        .sent
        .iter()
        .map(|(_, m, re)| (status_of(m), *re))
        .collect();
    assert_eq!(sent, vec![(Some(200), false), (Some(200), true)]);
    // the same request by another path is still a merged one
    let other_path = request("REGISTER", "z9hG4bKreg2");
    let Received::New {
        transaction: second,
        merged,
        ..
    } = h
        .table
        .handle_request(h.now, other_path.clone(), "b", false)
    else {
        panic!()
    };
    assert_eq!(merged, Some(transaction));
    h.table
        .respond(h.now, second, response_to(&other_path, 482))
        .unwrap();
    h.run_to_end();
    assert!(h.table.is_empty());
    // Timer J removed the keys: the same branch now starts afresh, unmerged
    assert!(matches!(
        h.table.handle_request(h.now, req, "a", false),
        Received::New { merged: None, transaction: t, .. } if t != transaction
    ));
}
