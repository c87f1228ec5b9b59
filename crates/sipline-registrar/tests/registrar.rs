//! RFC 3261 §10.3 (and RFC 3327, RFC 5626 §6, RFC 3608) through
//! `register()` with a `MemoryStore`, and `Registrar::process` directly.

use sipline_message::header::{Contact, StdHeader};
use sipline_message::{Bytes, Message, StatusCode};
use sipline_registrar::{
    register, Binding, BindingKey, Change, LocationStore, MemoryStore, RegisterContext, Registrar,
    RegistrarConfig, Source, StoreError,
};

const AOR: &str = "sip:bob@example.com";
const T0: u64 = 1_700_000_000;

/// A REGISTER for bob with one Via (first hop) unless `extra` adds more.
fn req(call_id: &str, cseq: u32, contacts: &[&str], extra: &[&str]) -> Message {
    let mut s = String::from("REGISTER sip:example.com SIP/2.0\r\n");
    for h in extra.iter().filter(|h| h.starts_with("Via:")) {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("Via: SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bKnashds7\r\n");
    s.push_str("Max-Forwards: 70\r\nTo: Bob <sip:bob@example.com>\r\n");
    s.push_str("From: Bob <sip:bob@example.com>;tag=456248\r\n");
    s.push_str(&format!("Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"));
    for c in contacts {
        s.push_str(&format!("Contact: {c}\r\n"));
    }
    for h in extra.iter().filter(|h| !h.starts_with("Via:")) {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    Message::parse(Bytes::from(s)).unwrap()
}

fn status(m: &Message) -> u16 {
    m.as_response().unwrap().status.as_u16()
}

/// Contact values of a response: (uri text, expires param).
fn listed(m: &Message) -> Vec<(String, u32)> {
    m.contacts()
        .unwrap()
        .into_iter()
        .map(|c| match c {
            Contact::Address(a) => (a.uri.to_string(), a.expires().unwrap()),
            Contact::Wildcard => panic!("* in a response"),
        })
        .collect()
}

struct Env {
    reg: Registrar,
    store: MemoryStore,
}

impl Env {
    fn new() -> Self {
        Self::with(RegistrarConfig::default())
    }
    fn with(config: RegistrarConfig) -> Self {
        Self {
            reg: Registrar::new(config),
            store: MemoryStore::new(),
        }
    }
    fn send(&self, now: u64, m: &Message) -> Message {
        register(&self.reg, &self.store, now, m, &RegisterContext::default()).unwrap()
    }
    fn bindings(&self) -> Vec<Binding> {
        self.store.get(AOR).unwrap()
    }
}

#[test]
fn add_uses_default_expiry_and_answers_with_date() {
    let e = Env::new();
    let r = e.send(T0, &req("c1", 1, &["<sip:bob@192.0.2.4>"], &[]));
    assert_eq!(status(&r), 200);
    assert_eq!(listed(&r), vec![("sip:bob@192.0.2.4".into(), 3600)]);
    assert!(r.headers().get(StdHeader::Date).unwrap().ends_with(" GMT"));
    assert!(r.to_tag().is_some(), "§8.2.6.2 To tag");
    let b = e.bindings();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_at, T0 + 3600);
    assert_eq!((b[0].call_id.as_str(), b[0].cseq), ("c1", 1));
    // Configurable default.
    let e = Env::with(RegistrarConfig {
        default_expires: 600,
        ..Default::default()
    });
    let r = e.send(T0, &req("c1", 1, &["<sip:bob@192.0.2.4>"], &[]));
    assert_eq!(listed(&r)[0].1, 600);
}

#[test]
fn expires_param_wins_over_header() {
    let e = Env::new();
    let r = e.send(
        T0,
        &req(
            "c1",
            1,
            &["<sip:a@192.0.2.4>;expires=120", "<sip:b@192.0.2.4>"],
            &["Expires: 300"],
        ),
    );
    let mut l = listed(&r);
    l.sort();
    assert_eq!(
        l,
        vec![
            ("sip:a@192.0.2.4".into(), 120),
            ("sip:b@192.0.2.4".into(), 300)
        ]
    );
}

#[test]
fn refresh_updates_expiry_and_cseq() {
    let e = Env::new();
    e.send(
        T0,
        &req("c1", 1, &["<sip:bob@192.0.2.4>"], &["Expires: 600"]),
    );
    let r = e.send(
        T0 + 500,
        &req("c1", 2, &["<sip:bob@192.0.2.4>"], &["Expires: 600"]),
    );
    assert_eq!(status(&r), 200);
    assert_eq!(listed(&r), vec![("sip:bob@192.0.2.4".into(), 600)]);
    let b = e.bindings();
    assert_eq!((b.len(), b[0].cseq, b[0].expires_at), (1, 2, T0 + 1100));
}

#[test]
fn remove_with_expires_param_zero() {
    let e = Env::new();
    e.send(
        T0,
        &req("c1", 1, &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"], &[]),
    );
    let r = e.send(T0 + 1, &req("c1", 2, &["<sip:a@192.0.2.4>;expires=0"], &[]));
    assert_eq!(status(&r), 200);
    assert_eq!(listed(&r), vec![("sip:b@192.0.2.4".into(), 3599)]);
    assert_eq!(e.bindings().len(), 1);
}

#[test]
fn remove_with_expires_header_zero() {
    let e = Env::new();
    e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>"], &[]));
    let r = e.send(T0, &req("c1", 2, &["<sip:a@192.0.2.4>"], &["Expires: 0"]));
    assert_eq!(status(&r), 200);
    assert!(listed(&r).is_empty());
    assert!(e.bindings().is_empty());
    assert!(e.store.aors().unwrap().is_empty());
    // Removing a binding that does not exist is fine.
    let r = e.send(T0, &req("c1", 3, &["<sip:z@192.0.2.4>"], &["Expires: 0"]));
    assert_eq!(status(&r), 200);
}

#[test]
fn star_removes_everything() {
    let e = Env::new();
    e.send(
        T0,
        &req("c1", 1, &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"], &[]),
    );
    e.send(T0, &req("other", 1, &["<sip:c@192.0.2.4>"], &[]));
    let r = e.send(T0 + 1, &req("c1", 2, &["*"], &["Expires: 0"]));
    assert_eq!(status(&r), 200);
    assert!(listed(&r).is_empty());
    assert!(e.bindings().is_empty());
}

#[test]
fn star_misuse_is_400() {
    let e = Env::new();
    e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>"], &[]));
    for (contacts, extra) in [
        (&["*"][..], &[][..]),                                  // no Expires
        (&["*"][..], &["Expires: 30"][..]),                     // non-zero
        (&["*", "<sip:a@192.0.2.4>"][..], &["Expires: 0"][..]), // other contacts
    ] {
        let r = e.send(T0, &req("c1", 5, contacts, extra));
        assert_eq!(status(&r), 400, "{contacts:?} {extra:?}");
    }
    assert_eq!(e.bindings().len(), 1, "nothing removed");
}

#[test]
fn star_with_stale_cseq_fails() {
    let e = Env::new();
    e.send(T0, &req("c1", 5, &["<sip:a@192.0.2.4>"], &[]));
    let r = e.send(T0, &req("c1", 5, &["*"], &["Expires: 0"]));
    assert_eq!(status(&r), 500);
    assert_eq!(e.bindings().len(), 1);
}

#[test]
fn fetch_lists_without_changing() {
    let e = Env::new();
    e.send(
        T0,
        &req("c1", 1, &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"], &[]),
    );
    let before = e.bindings();
    let r = e.send(T0 + 10, &req("fetcher", 1, &[], &[]));
    assert_eq!(status(&r), 200);
    assert_eq!(listed(&r).len(), 2);
    assert!(listed(&r).iter().all(|(_, exp)| *exp == 3590));
    assert_eq!(e.bindings(), before);
    let out = e
        .reg
        .process(
            T0 + 10,
            &req("f", 1, &[], &[]),
            &before,
            &Default::default(),
        )
        .unwrap();
    assert!(out.changes.is_empty());
}

#[test]
fn same_call_id_needs_higher_cseq() {
    let e = Env::new();
    e.send(
        T0,
        &req("c1", 10, &["<sip:a@192.0.2.4>"], &["Expires: 600"]),
    );
    for cseq in [9, 10] {
        let r = e.send(
            T0 + 1,
            &req("c1", cseq, &["<sip:a@192.0.2.4>"], &["Expires: 0"]),
        );
        assert_eq!(status(&r), 500, "CSeq {cseq}: the update is aborted");
    }
    let b = e.bindings();
    assert_eq!((b.len(), b[0].cseq), (1, 10), "binding untouched");
    // A failed contact aborts the whole request: the new one is not added.
    let r = e.send(
        T0 + 1,
        &req("c1", 10, &["<sip:new@192.0.2.4>", "<sip:a@192.0.2.4>"], &[]),
    );
    assert_eq!(status(&r), 500);
    assert_eq!(e.bindings().len(), 1);
}

/// Answering without a server transaction (`RegisterContext::stateless`),
/// the registrar sees retransmissions: one (same Call-ID and CSeq as the
/// request that wrote the bindings) is answered like the first request,
/// with the bindings as they are and nothing written; a lower CSeq still
/// fails, and a higher one is a new request.
#[test]
fn stateless_answers_a_retransmission_like_the_first() {
    let e = Env::new();
    let ctx = RegisterContext {
        stateless: true,
        ..Default::default()
    };
    let send = |now, m: &Message| register(&e.reg, &e.store, now, m, &ctx).unwrap();
    let both = req(
        "c1",
        10,
        &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"],
        &["Expires: 600"],
    );
    assert_eq!(status(&send(T0, &both)), 200);
    let before = e.bindings();
    // Another UA's binding, so the list is not only the retransmitted one's.
    send(T0, &req("c2", 1, &["<sip:c@192.0.2.4>"], &["Expires: 900"]));
    let r = send(T0 + 2, &both);
    assert_eq!(status(&r), 200);
    let mut l = listed(&r);
    l.sort();
    assert_eq!(
        l,
        vec![
            ("sip:a@192.0.2.4".into(), 598),
            ("sip:b@192.0.2.4".into(), 598),
            ("sip:c@192.0.2.4".into(), 898)
        ]
    );
    let after = e.bindings();
    assert_eq!(after.len(), 3);
    assert_eq!(&after[..2], &before[..], "nothing written again");
    // The same CSeq with another contact added is taken for a retransmission
    // too: nothing of it is applied.
    let r = send(
        T0 + 3,
        &req(
            "c1",
            10,
            &["<sip:a@192.0.2.4>", "<sip:new@192.0.2.4>"],
            &["Expires: 600"],
        ),
    );
    assert_eq!(status(&r), 200);
    assert_eq!(e.bindings().len(), 3);
    // Lower: out of order, as with a transaction.
    let r = send(T0 + 3, &req("c1", 9, &["<sip:a@192.0.2.4>"], &[]));
    assert_eq!(status(&r), 500);
    // A removal, then its retransmission: both 200, b and c listed.
    let remove = req("c1", 11, &["<sip:a@192.0.2.4>"], &["Expires: 0"]);
    for _ in 0..2 {
        let r = send(T0 + 4, &remove);
        assert_eq!(status(&r), 200);
        assert_eq!(listed(&r).len(), 2);
    }
    // Without `stateless`, the retransmission fails (§10.3 step 7): a
    // server transaction would have answered it.
    assert_eq!(status(&e.send(T0 + 5, &both)), 500);
}

#[test]
fn other_call_id_replaces_regardless_of_cseq() {
    let e = Env::new();
    e.send(T0, &req("c1", 10, &["<sip:a@192.0.2.4>"], &[]));
    let r = e.send(
        T0 + 1,
        &req("c2", 1, &["<sip:a@192.0.2.4>"], &["Expires: 60"]),
    );
    assert_eq!(status(&r), 200);
    let b = e.bindings();
    assert_eq!((b.len(), b[0].call_id.as_str(), b[0].cseq), (1, "c2", 1));
    assert_eq!(b[0].expires_at, T0 + 61);
    let r = e.send(
        T0 + 2,
        &req("c3", 1, &["<sip:a@192.0.2.4>"], &["Expires: 0"]),
    );
    assert_eq!(status(&r), 200);
    assert!(e.bindings().is_empty());
}

#[test]
fn contact_listed_twice_is_not_out_of_order() {
    let e = Env::new();
    let r = e.send(
        T0,
        &req(
            "c1",
            1,
            &[
                "<sip:a@192.0.2.4>;expires=60",
                "<sip:a@192.0.2.4>;expires=90",
            ],
            &[],
        ),
    );
    assert_eq!(status(&r), 200);
    assert_eq!(listed(&r), vec![("sip:a@192.0.2.4".into(), 90)]);
}

#[test]
fn equivalent_uri_written_differently_is_the_same_binding() {
    let e = Env::new();
    e.send(T0, &req("c1", 1, &["<sip:a@HOST.example.com>"], &[]));
    let r = e.send(T0, &req("c1", 2, &["<sip:a@host.example.com>"], &[]));
    assert_eq!(listed(&r), vec![("sip:a@host.example.com".into(), 3600)]);
    assert_eq!(e.bindings().len(), 1);
    // Different port: a different contact (§19.1.4).
    let r = e.send(T0, &req("c1", 3, &["<sip:a@host.example.com:5070>"], &[]));
    assert_eq!(listed(&r).len(), 2);
}

#[test]
fn min_expires_423() {
    let e = Env::new();
    let r = e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>;expires=30"], &[]));
    assert_eq!(status(&r), 423);
    assert_eq!(r.headers().get(StdHeader::MinExpires).unwrap(), "60");
    let r = e.send(T0, &req("c1", 2, &["<sip:a@192.0.2.4>"], &["Expires: 59"]));
    assert_eq!(status(&r), 423);
    assert!(e.bindings().is_empty());
    let r = e.send(T0, &req("c1", 3, &["<sip:a@192.0.2.4>"], &["Expires: 60"]));
    assert_eq!(status(&r), 200);
    // One brief contact rejects the whole request.
    let r = e.send(
        T0,
        &req(
            "c1",
            4,
            &[
                "<sip:b@192.0.2.4>;expires=100",
                "<sip:c@192.0.2.4>;expires=1",
            ],
            &[],
        ),
    );
    assert_eq!(status(&r), 423);
    assert_eq!(e.bindings().len(), 1);
    // "If and only if ... smaller than one hour": a minimum above 3600 is
    // enforced as 3600.
    let e = Env::with(RegistrarConfig {
        min_expires: 7200,
        ..Default::default()
    });
    let r = e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>;expires=3599"], &[]));
    assert_eq!(r.headers().get(StdHeader::MinExpires).unwrap(), "3600");
    let r = e.send(T0, &req("c1", 2, &["<sip:a@192.0.2.4>;expires=3600"], &[]));
    assert_eq!(status(&r), 200);
}

#[test]
fn max_expires_caps() {
    let e = Env::with(RegistrarConfig {
        max_expires: 7200,
        ..Default::default()
    });
    let r = e.send(
        T0,
        &req("c1", 1, &["<sip:a@192.0.2.4>;expires=99999999999"], &[]),
    );
    assert_eq!(listed(&r), vec![("sip:a@192.0.2.4".into(), 7200)]);
    assert_eq!(e.bindings()[0].expires_at, T0 + 7200);
}

#[test]
fn malformed_expires_is_3600() {
    let e = Env::new();
    let r = e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>;expires=soon"], &[]));
    assert_eq!(listed(&r)[0].1, 3600);
}

#[test]
fn q_values_and_feature_tags_kept() {
    let e = Env::new();
    let contact = r#"<sip:a@192.0.2.4;transport=tcp>;q=0.7;audio;video;methods="INVITE,BYE";+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";expires=600"#;
    let r = e.send(
        T0,
        &req("c1", 1, &[contact, "<sip:b@192.0.2.4>;q=0.1"], &[]),
    );
    assert_eq!(status(&r), 200);
    let row = r.headers().get(StdHeader::Contact).unwrap().to_string();
    assert_eq!(
        row,
        r#"<sip:a@192.0.2.4;transport=tcp>;q=0.7;audio;video;methods="INVITE,BYE";+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";expires=600"#
    );
    let b = e.bindings();
    assert_eq!(b[0].q, Some(0.7));
    assert_eq!(b[1].q, Some(0.1));
    assert_eq!(
        b[0].instance.as_deref(),
        Some("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>")
    );
    let names: Vec<&str> = b[0].params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["q", "audio", "video", "methods", "+sip.instance"]);
    let cs = r.contacts().unwrap();
    assert_eq!(cs[1].address().unwrap().q(), Some(0.1));
}

#[test]
fn several_contacts_and_all_listed_with_decreasing_expires() {
    let e = Env::new();
    e.send(T0, &req("ua1", 1, &["<sip:a@192.0.2.4>;expires=1000"], &[]));
    e.send(
        T0 + 100,
        &req(
            "ua2",
            1,
            &[
                "<sip:b@192.0.2.5>;expires=1000",
                "<sip:c@192.0.2.6>;expires=2000",
            ],
            &[],
        ),
    );
    let r = e.send(T0 + 200, &req("f", 1, &[], &[]));
    let mut l = listed(&r);
    l.sort();
    assert_eq!(
        l,
        vec![
            ("sip:a@192.0.2.4".into(), 800),
            ("sip:b@192.0.2.5".into(), 900),
            ("sip:c@192.0.2.6".into(), 1900),
        ]
    );
    let r = e.send(T0 + 950, &req("f", 2, &[], &[]));
    let mut l = listed(&r);
    l.sort();
    assert_eq!(
        l,
        vec![
            ("sip:a@192.0.2.4".into(), 50),
            ("sip:b@192.0.2.5".into(), 150),
            ("sip:c@192.0.2.6".into(), 1150),
        ]
    );
    // After a's expiry it is no longer listed, and a REGISTER purges it.
    let r = e.send(
        T0 + 1000,
        &req("ua3", 1, &["<sip:d@192.0.2.7>;expires=100"], &[]),
    );
    let l = listed(&r);
    assert_eq!(l.len(), 3);
    assert!(l.iter().all(|(u, _)| u != "sip:a@192.0.2.4"));
    assert_eq!(e.bindings().len(), 3);
}

#[test]
fn path_stored_and_echoed_with_supported_path() {
    let e = Env::new();
    let r = e.send(
        T0,
        &req(
            "c1",
            1,
            &["<sip:a@192.0.2.4>"],
            &[
                "Via: SIP/2.0/UDP edge.example.com;branch=z9hG4bKedge1",
                "Path: <sip:p1.example.com;lr>",
                "Path: <sip:p2.example.com;lr>",
                "Supported: path",
            ],
        ),
    );
    assert_eq!(status(&r), 200);
    let echoed: Vec<String> = r
        .name_addrs(StdHeader::Path)
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        echoed,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(e.bindings()[0].path, echoed);
}

#[test]
fn path_without_supported_is_420_unless_configured() {
    let e = Env::new();
    let m = req(
        "c1",
        1,
        &["<sip:a@192.0.2.4>"],
        &["Path: <sip:p1.example.com;lr>"],
    );
    let r = e.send(T0, &m);
    assert_eq!(status(&r), 420);
    assert_eq!(r.headers().get(StdHeader::Unsupported).unwrap(), "path");
    assert!(e.bindings().is_empty());
    let e = Env::with(RegistrarConfig {
        path_requires_support: false,
        ..Default::default()
    });
    assert_eq!(status(&e.send(T0, &m)), 200);
    assert_eq!(e.bindings()[0].path, ["<sip:p1.example.com;lr>"]);
}

const INST: &str = r#"+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>""#;

#[test]
fn outbound_instance_reg_id_replaces_flow() {
    let e = Env::new();
    let c1 = format!("<sip:bob@192.0.2.4:50001;transport=tcp>;{INST};reg-id=1");
    let r = e.send(T0, &req("c1", 1, &[&c1], &["Supported: outbound, path"]));
    assert_eq!(status(&r), 200);
    assert_eq!(r.headers().get(StdHeader::Require).unwrap(), "outbound");
    let b = e.bindings();
    assert_eq!(b[0].reg_id, Some(1));
    assert_eq!(
        b[0].key(),
        BindingKey::Flow {
            instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into(),
            reg_id: 1
        }
    );
    // The UA reboots / reconnects: new flow, new Contact URI, new Call-ID.
    let c1b = format!("<sip:bob@192.0.2.4:50777;transport=tcp>;{INST};reg-id=1");
    let r = e.send(T0 + 5, &req("c9", 1, &[&c1b], &["Supported: outbound"]));
    assert_eq!(status(&r), 200);
    assert_eq!(
        listed(&r),
        vec![("sip:bob@192.0.2.4:50777;transport=tcp".into(), 3600)]
    );
    // A second flow of the same instance is a second binding.
    let c2 = format!("<sip:bob@198.51.100.1:50002;transport=tcp>;{INST};reg-id=2");
    let r = e.send(T0 + 6, &req("c9", 2, &[&c2], &["Supported: outbound"]));
    assert_eq!(listed(&r).len(), 2);
    // Without Supported: outbound, no Require: outbound (RFC 5626 §6).
    let r = e.send(T0 + 7, &req("c9", 3, &[&c2], &[]));
    assert_eq!(status(&r), 200);
    assert!(r.headers().get(StdHeader::Require).is_none());
    // Removing a flow by instance + reg-id.
    let gone = format!("<sip:whatever@192.0.2.4>;{INST};reg-id=1;expires=0");
    let r = e.send(T0 + 8, &req("c9", 4, &[&gone], &["Supported: outbound"]));
    assert_eq!(
        listed(&r),
        vec![("sip:bob@198.51.100.1:50002;transport=tcp".into(), 3599)]
    );
}

#[test]
fn outbound_first_hop_rules() {
    let c = format!("<sip:bob@192.0.2.4:50001;transport=tcp>;{INST};reg-id=1");
    let via2 = "Via: SIP/2.0/TCP edge.example.com;branch=z9hG4bKedge";
    // Not first hop, no Path with ob, Supported: outbound -> 439.
    let e = Env::new();
    let r = e.send(T0, &req("c1", 1, &[&c], &[via2, "Supported: outbound"]));
    assert_eq!(status(&r), 439);
    // ... same without Supported: outbound -> reg-id ignored.
    let r = e.send(T0, &req("c1", 2, &[&c], &[via2]));
    assert_eq!(status(&r), 200);
    let b = e.bindings();
    assert_eq!(b[0].reg_id, None);
    assert!(matches!(b[0].key(), BindingKey::Contact(_)));
    assert!(b[0].params.iter().all(|p| p.name != "reg-id"));
    // Path whose first URI has ob -> outbound applies.
    let e = Env::new();
    let r = e.send(
        T0,
        &req(
            "c1",
            1,
            &[&c],
            &[
                via2,
                "Path: <sip:edge.example.com;lr;ob>",
                "Supported: outbound, path",
            ],
        ),
    );
    assert_eq!(status(&r), 200);
    assert_eq!(e.bindings()[0].reg_id, Some(1));
    // reg-id without instance -> ignored.
    let e = Env::new();
    e.send(
        T0,
        &req(
            "c1",
            1,
            &["<sip:a@192.0.2.4>;reg-id=1"],
            &["Supported: outbound"],
        ),
    );
    assert_eq!(e.bindings()[0].reg_id, None);
}

#[test]
fn outbound_several_live_contacts_with_reg_id_is_400() {
    let e = Env::new();
    let c1 = format!("<sip:bob@192.0.2.4:1>;{INST};reg-id=1");
    let r = e.send(
        T0,
        &req(
            "c1",
            1,
            &[&c1, "<sip:x@192.0.2.9>"],
            &["Supported: outbound"],
        ),
    );
    assert_eq!(status(&r), 400);
    // With the other contact at expires=0 it is fine.
    let r = e.send(
        T0,
        &req(
            "c1",
            2,
            &[&c1, "<sip:x@192.0.2.9>;expires=0"],
            &["Supported: outbound"],
        ),
    );
    assert_eq!(status(&r), 200);
}

#[test]
fn source_and_user_agent_stored() {
    let e = Env::new();
    let ctx = RegisterContext {
        source: Some(std::sync::Arc::new(Source {
            transport: "TCP".into(),
            remote: "203.0.113.9:40000".into(),
            local: Some("192.0.2.1:5060".into()),
            connection: Some("conn-42".into()),
        })),
        to_tag: Some("regtag".into()),
        ..Default::default()
    };
    let m = req(
        "c1",
        1,
        &["<sip:a@10.0.0.2>"],
        &["User-Agent: softphone/1.0"],
    );
    let r = register(&e.reg, &e.store, T0, &m, &ctx).unwrap();
    assert_eq!(r.to_tag(), Some("regtag"));
    let b = e.bindings();
    assert_eq!(b[0].source, ctx.source);
    assert_eq!(b[0].user_agent.as_deref(), Some("softphone/1.0"));
    assert_eq!(b[0].updated_at, T0);
}

#[test]
fn service_route_returned() {
    let e = Env::with(RegistrarConfig {
        service_route: vec!["<sip:orig@scscf.example.com;lr>".into()],
        ..Default::default()
    });
    let r = e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4>"], &[]));
    assert_eq!(
        r.headers().get(StdHeader::ServiceRoute).unwrap(),
        "<sip:orig@scscf.example.com;lr>"
    );
}

#[test]
fn aor_canonical_and_domain_check() {
    let e = Env::new();
    let m = Message::parse(Bytes::from(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
         To: <sip:%62ob@EXAMPLE.com;user=phone>\r\nFrom: <sip:bob@example.com>;tag=1\r\n\
         Call-ID: x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@192.0.2.4>\r\nContent-Length: 0\r\n\r\n",
    ))
    .unwrap();
    assert_eq!(status(&e.send(T0, &m)), 200);
    assert_eq!(e.store.aors().unwrap(), [AOR]);
    let e = Env::with(RegistrarConfig {
        domains: vec!["other.example".into()],
        ..Default::default()
    });
    assert_eq!(status(&e.send(T0, &m)), 404);
    let e = Env::with(RegistrarConfig {
        domains: vec!["Example.COM".into()],
        ..Default::default()
    });
    assert_eq!(status(&e.send(T0, &m)), 200);
}

#[test]
fn malformed_requests_are_400_and_non_register_rejected() {
    let e = Env::new();
    let r = e.send(T0, &req("c1", 1, &["<sip:a@192.0.2.4"], &[]));
    assert_eq!(status(&r), 400);
    let invite = Message::parse(
        &b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
To: <sip:bob@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: x\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .unwrap();
    assert!(register(&e.reg, &e.store, T0, &invite, &Default::default()).is_err());
}

#[test]
fn process_is_pure_and_reports_changes() {
    let reg = Registrar::default();
    let m = req("c1", 1, &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"], &[]);
    let out = reg.process(T0, &m, &[], &Default::default()).unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(out.aor.as_deref(), Some(AOR));
    assert_eq!(out.changes.len(), 2);
    assert!(out.changes.iter().all(|c| matches!(c, Change::Put(_))));
    assert_eq!(out.bindings.len(), 2);
    // Expired input bindings are removed and not listed.
    let mut old = out.bindings.clone();
    old[0].expires_at = T0 + 5;
    let out = reg
        .process(T0 + 10, &req("f", 1, &[], &[]), &old, &Default::default())
        .unwrap();
    assert_eq!(out.changes, vec![Change::Remove(old[0].key())]);
    assert_eq!(out.bindings.len(), 1);
    assert_eq!(listed(&out.response).len(), 1);
}

/// A store whose commits fail.
struct Broken;
impl LocationStore for Broken {
    fn get(&self, _: &str) -> Result<Vec<Binding>, StoreError> {
        Ok(Vec::new())
    }
    fn apply(&self, _: &str, _: &[Change]) -> Result<Vec<Binding>, StoreError> {
        Err(StoreError::Backend("disk full".into()))
    }
    fn purge_expired(&self, _: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
    fn aors(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    fn count(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
}

#[test]
fn failed_commit_is_500() {
    let m = req("c1", 1, &["<sip:a@192.0.2.4>"], &[]);
    let r = register(&Registrar::default(), &Broken, T0, &m, &Default::default()).unwrap();
    assert_eq!(status(&r), 500);
    assert!(r.contacts().unwrap().is_empty());
}

/// `bindings_only`: the same response and list as with changes recorded,
/// no changes, and `changed` telling whether anything is to be stored.
#[test]
fn bindings_only_gives_the_same_list_without_changes() {
    let reg = Registrar::default();
    let full = RegisterContext {
        to_tag: Some("t".into()),
        ..Default::default()
    };
    let lean = RegisterContext {
        bindings_only: true,
        ..full.clone()
    };
    let add = req("c1", 1, &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>"], &[]);
    let a = reg.process(T0, &add, &[], &full).unwrap();
    let b = reg.process(T0, &add, &[], &lean).unwrap();
    assert!(a.changed && b.changed);
    assert_eq!(a.changes.len(), 2);
    assert!(b.changes.is_empty());
    assert_eq!(a.bindings, b.bindings);
    assert_eq!(a.response.to_bytes(), b.response.to_bytes());

    // A refresh of one, removal of the other, and an expired one dropped.
    let mut old = a.bindings.clone();
    old.push(Binding {
        contact_uri: "sip:c@192.0.2.4".into(),
        expires_at: T0 + 5,
        ..old[0].clone()
    });
    let next = req(
        "c1",
        2,
        &["<sip:a@192.0.2.4>", "<sip:b@192.0.2.4>;expires=0"],
        &[],
    );
    let a = reg.process(T0 + 10, &next, &old, &full).unwrap();
    let b = reg.process(T0 + 10, &next, &old, &lean).unwrap();
    assert!(a.changed && b.changed);
    assert_eq!(a.changes.len(), 3);
    assert!(b.changes.is_empty());
    assert_eq!(a.bindings, b.bindings);
    assert_eq!(b.bindings.len(), 1);
    assert_eq!(b.bindings[0].cseq, 2);

    // A fetch of live bindings changes nothing.
    let fetch = req("f", 1, &[], &[]);
    let b = reg.process(T0 + 20, &fetch, &b.bindings, &lean).unwrap();
    assert_eq!(b.status(), StatusCode::OK);
    assert!(!b.changed);
    assert_eq!(listed(&b.response).len(), 1);
}

/// `RegisterContext::aor`: the caller's AOR (from `aor_of`) is used as is,
/// without reading To again, unless the registrar checks domains.
#[test]
fn a_given_aor_is_used_unless_domains_are_checked() {
    let reg = Registrar::default();
    let r = req("c1", 1, &["<sip:a@192.0.2.4>"], &[]);
    assert_eq!(reg.aor_of(&r).as_deref(), Some(AOR));
    let given = |aor: &str| RegisterContext {
        aor: Some(aor.into()),
        ..Default::default()
    };
    let out = reg.process(T0, &r, &[], &given(AOR)).unwrap();
    assert_eq!(status(&out.response), 200);
    assert_eq!(out.aor.as_deref(), Some(AOR));
    assert!(out.bindings.iter().all(|b| b.aor == AOR));
    // what the caller gives is what is used (To is not read again)
    let out = reg
        .process(T0, &r, &[], &given("sip:carol@example.com"))
        .unwrap();
    assert_eq!(out.aor.as_deref(), Some("sip:carol@example.com"));
    // checking domains reads To: a foreign one is 404 whatever is given
    let strict = Registrar::new(RegistrarConfig {
        domains: vec!["other.example".into()],
        ..Default::default()
    });
    let out = strict.process(T0, &r, &[], &given(AOR)).unwrap();
    assert_eq!(status(&out.response), 404);
}
