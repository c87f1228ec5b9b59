//! RFC 5626 (SIP Outbound) on the user agent side, beyond REGISTER: the
//! `ob` Contact URI parameter of dialog-forming requests (§4.3).

mod common;

use common::*;
use sipline_message::header::{NameAddr, StdHeader};
use sipline_message::{Message, Method};
use std::time::Duration;

const INSTANCE: &str = "urn:uuid:00000000-0000-4000-8000-000000000001";

/// The single Contact of `m` (a name-addr, so the URI's own parameters
/// are the ones inside `<>`).
fn contact(m: &Message) -> NameAddr {
    let mut c = m.contacts().unwrap();
    assert_eq!(c.len(), 1, "one Contact in {m:?}");
    c.remove(0).address().unwrap().clone()
}

/// Whether the Contact URI of `m` has the `ob` URI parameter (and never
/// as a Contact header parameter, outside `<>`).
fn contact_has_ob(m: &Message) -> bool {
    let c = contact(m);
    assert!(c.params.get("ob").is_none(), "ob outside <>: {c}");
    c.uri.as_sip().unwrap().has_param("ob")
}

/// Alice (host 1, outbound on if `outbound`) sends an INVITE, a SUBSCRIBE
/// and a REFER outside a dialog to the scripted party at host 9; returns
/// what reached it, in that order.
fn dialog_forming_requests(outbound: bool) -> Vec<Message> {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |c| {
        if outbound {
            c.instance = Some(INSTANCE.into());
        }
    });
    let s = w.script(9);
    let now = w.now;
    w.ep(a)
        .call(now, uri("bob", 9), Some(sdp(4000, "sendrecv")), vec![])
        .unwrap();
    w.ep(a)
        .subscribe(now, uri("bob", 9), "presence", "application/pidf+xml", 60)
        .unwrap();
    w.ep(a)
        .request(
            now,
            Method::Refer,
            uri("bob", 9),
            None,
            vec![("Refer-To".into(), "<sip:carol@10.0.0.3>".into())],
        )
        .unwrap();
    w.run(Duration::from_millis(50));
    let inbox = std::mem::take(w.inbox(s));
    let methods: Vec<Method> = inbox
        .iter()
        .map(|m| m.as_request().unwrap().method.clone())
        .collect();
    assert_eq!(methods, [Method::Invite, Method::Subscribe, Method::Refer]);
    inbox
}

/// RFC 5626 §4.3: with outbound on (an instance id), the UAC "adds an
/// "ob" parameter to its Contact header field value" in a dialog-forming
/// request, so that the dialog's later requests come over the same flow:
/// the INVITE, the SUBSCRIBE and the REFER (outside a dialog) all have it.
#[test]
fn dialog_forming_requests_carry_ob_with_outbound() {
    for m in dialog_forming_requests(true) {
        assert!(contact_has_ob(&m), "no ;ob in {}", contact(&m));
    }
}

/// Without outbound, no `ob` anywhere.
#[test]
fn no_ob_without_outbound() {
    for m in dialog_forming_requests(false) {
        assert!(!contact_has_ob(&m), "unexpected ;ob in {}", contact(&m));
    }
}

/// §4.3: a UA doing outbound "SHOULD include the outbound option tag in a
/// Supported header field in a request that is not a REGISTER request":
/// the INVITE's Supported lists it with outbound on, not without.
#[test]
fn invite_supported_lists_outbound_with_outbound() {
    for outbound in [true, false] {
        let invite = &dialog_forming_requests(outbound)[0];
        let supported = header(invite, StdHeader::Supported).unwrap();
        let tags: Vec<&str> = supported.split(',').map(str::trim).collect();
        assert_eq!(tags.contains(&"outbound"), outbound, "{supported}");
    }
}

/// §4.3 asks the `ob` of the UAC only: an outbound UA answering a call
/// (where an edge proxy on the registered flow Record-Routes from the
/// Path's `ob`, §5.3.1) does not put it in its 2xx.
#[test]
fn uas_2xx_has_no_ob() {
    let mut w = World::perfect();
    let a = w.ua("alice", 1, |_| {});
    let b = w.ua("bob", 2, |c| c.instance = Some(INSTANCE.into()));
    let (_, inc) = call_bob(&mut w, a, b);
    answer(&mut w, b, inc);
    assert!(w.run_until(Duration::from_secs(1), |w| confirmed(w, b, inc)));
    let (_, ok) = w.sent_by(2, "SIP/2.0 200").pop().unwrap();
    assert!(ok.cseq().unwrap().method == Method::Invite);
    assert!(!contact_has_ob(&ok), "{}", contact(&ok));
}
