//! Digest authentication of `sipline serve` against replays and old nonces,
//! over UDP on 127.0.0.1 (RFC 3261 §22, RFC 7616).
//!
//! A nonce may be used again with a higher nonce count (RFC 7616 §3.3,
//! §3.4: "nc" counts the requests sent with that nonce), but credentials
//! replayed verbatim (same nonce, same nc) in a new transaction are refused
//! with a fresh challenge marked stale (RFC 7616 §5.4, §5.9), as are
//! credentials whose nonce outlived its lifetime (§3.3: "stale ... the
//! request from the client was rejected because the nonce value was
//! stale"). Stale is only said when the digest itself was right.

mod support;

use sipline_message::header::{Challenge, StdHeader};
use sipline_message::{Bytes, Message, Method};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use support::serve::{Serve, ServeOptions};
use support::{digest_credentials, status, udp_socket};

/// `sipline serve` for example.test with MD5 digest authentication of
/// alice, nonces living `nonce_lifetime_s`.
fn start(name: &str, nonce_lifetime_s: u64) -> Serve {
    let options = ServeOptions::new(&format!("digest-{name}"));
    let data = options.data_dir();
    options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\ndomains = [\"example.test\"]\n\
             data_dir = \"{}\"\n\
             [auth]\nnonce_lifetime_s = {nonce_lifetime_s}\nalgorithms = [\"MD5\"]\n\
             [[auth.users]]\nname = \"alice\"\npassword = \"wonderland\"\n",
            data.display()
        ))
        .start()
}

struct Client {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Client {
    fn new(server: SocketAddr) -> Self {
        let sock = udp_socket(Duration::from_secs(5));
        Self { sock, server }
    }

    /// A REGISTER for alice's AOR: its own transaction (branch from the
    /// CSeq), in one registration (one Call-ID, CSeq rising, §10.2).
    fn register(&self, cseq: u32, headers: &[(&str, &str)]) -> Message {
        let l = self.sock.local_addr().unwrap();
        let mut text = format!(
            "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKdig{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:alice@example.test>\r\nFrom: <sip:alice@example.test>;tag=d1\r\n\
Call-ID: digest-{}\r\nCSeq: {cseq} REGISTER\r\n",
            l.port()
        );
        for (h, v) in headers {
            text.push_str(&format!("{h}: {v}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.sock.send_to(text.as_bytes(), self.server).unwrap();
        self.final_for(cseq)
    }

    fn final_for(&self, cseq: u32) -> Message {
        let mut buf = [0u8; 65535];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
            let r = m.as_response().unwrap();
            if r.status.is_final() && m.cseq().unwrap().seq == cseq {
                return m;
            }
        }
    }
}

fn challenge(m: &Message, header: StdHeader) -> Challenge {
    Challenge::parse(m.headers().get(header).expect("a challenge")).unwrap()
}

fn is_stale(c: &Challenge) -> bool {
    c.param("stale")
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// Credentials for alice answering `c`, with this nonce count.
fn answer(c: &Challenge, method: &Method, uri: &str, password: &str, nc: u32) -> String {
    digest_credentials(c, method, uri, "alice", password, "0a4f113b", nc)
}

fn bindings(m: &Message) -> Vec<String> {
    m.contacts()
        .unwrap()
        .iter()
        .filter_map(|c| Some(c.address()?.uri.to_string()))
        .collect()
}

#[test]
fn replayed_register_credentials_get_a_new_challenge() {
    let server = start("replay", 300);
    let alice = Client::new(server.udp());
    let contact = ("Contact", "<sip:alice@192.0.2.10:5060>");

    let r = alice.register(1, &[contact]);
    assert_eq!(status(&r), 401, "{r}");
    let c = challenge(&r, StdHeader::WwwAuthenticate);
    assert!(!is_stale(&c), "{r}");
    let nonce = c.param("nonce").unwrap().into_owned();

    let auth1 = answer(&c, &Method::Register, "sip:example.test", "wonderland", 1);
    let r = alice.register(2, &[contact, ("Authorization", &auth1)]);
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(bindings(&r), ["sip:alice@192.0.2.10:5060"]);

    // the same Authorization (same nonce, nc=1) in a new transaction, as an
    // eavesdropper would send it, trying to remove alice's binding: refused
    // with a fresh challenge, stale=true
    let r = alice.register(3, &[contact, ("Expires", "0"), ("Authorization", &auth1)]);
    assert_eq!(status(&r), 401, "a replay must not be accepted: {r}");
    let fresh = challenge(&r, StdHeader::WwwAuthenticate);
    assert!(is_stale(&fresh), "{r}");
    assert_ne!(fresh.param("nonce").unwrap(), nonce, "a new nonce");

    // the same nonce with the next nonce count is the client's right
    // (RFC 7616 §3.4): accepted; the binding is still there
    let auth2 = answer(&c, &Method::Register, "sip:example.test", "wonderland", 2);
    let r = alice.register(4, &[("Authorization", &auth2)]);
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        bindings(&r),
        ["sip:alice@192.0.2.10:5060"],
        "the replay changed nothing"
    );

    // nc=2 again, and a lower count: replays too
    let r = alice.register(5, &[("Authorization", &auth2)]);
    assert_eq!(status(&r), 401, "{r}");
    assert!(is_stale(&challenge(&r, StdHeader::WwwAuthenticate)), "{r}");
    let r = alice.register(6, &[("Authorization", &auth1)]);
    assert_eq!(status(&r), 401, "{r}");

    // the fresh nonce works at once
    let auth = answer(
        &fresh,
        &Method::Register,
        "sip:example.test",
        "wonderland",
        1,
    );
    let r = alice.register(7, &[contact, ("Expires", "0"), ("Authorization", &auth)]);
    assert_eq!(status(&r), 200, "{r}");
    assert!(bindings(&r).is_empty(), "{r}");
}

#[test]
fn expired_nonce_is_stale_only_with_the_right_password() {
    let server = start("expired", 1);
    let alice = Client::new(server.udp());
    let r = alice.register(1, &[]);
    assert_eq!(status(&r), 401, "{r}");
    let c = challenge(&r, StdHeader::WwwAuthenticate);

    std::thread::sleep(Duration::from_millis(1300));
    // right password, nonce older than nonce_lifetime_s: 401, stale=true
    let auth = answer(&c, &Method::Register, "sip:example.test", "wonderland", 1);
    let r = alice.register(2, &[("Authorization", &auth)]);
    assert_eq!(status(&r), 401, "{r}");
    let fresh = challenge(&r, StdHeader::WwwAuthenticate);
    assert!(is_stale(&fresh), "{r}");
    assert_ne!(fresh.param("nonce"), c.param("nonce"));
    // wrong password with the old nonce: not stale, refused (the same
    // answer as for an unknown user)
    let wrong = answer(&c, &Method::Register, "sip:example.test", "guess", 1);
    let r = alice.register(3, &[("Authorization", &wrong)]);
    assert_eq!(status(&r), 403, "{r}");
    // the fresh nonce, answered at once: accepted
    let auth = answer(
        &fresh,
        &Method::Register,
        "sip:example.test",
        "wonderland",
        1,
    );
    let r = alice.register(4, &[("Authorization", &auth)]);
    assert_eq!(status(&r), 200, "{r}");
}

#[test]
fn replayed_invite_credentials_get_a_new_proxy_challenge() {
    let server = start("invite", 300);
    let alice = Client::new(server.udp());
    let l = alice.sock.local_addr().unwrap();
    let uri = "sip:nobody@example.test";
    let invite = |cseq: u32, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKinv{cseq};rport\r\n\
Max-Forwards: 70\r\n{auth}To: <{uri}>\r\nFrom: <sip:alice@example.test>;tag=i1\r\n\
Call-ID: digest-invite-{cseq}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:alice@{l}>\r\n\
Content-Length: 0\r\n\r\n"
        )
    };
    let send = |text: String, cseq: u32| {
        alice.sock.send_to(text.as_bytes(), server.udp()).unwrap();
        let r = alice.final_for(cseq);
        // ACK the non-2xx final response (§17.1.1.3), same branch
        let to = r.headers().get(StdHeader::To).unwrap().to_string();
        let ack = format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKinv{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: {to}\r\nFrom: <sip:alice@example.test>;tag=i1\r\n\
Call-ID: digest-invite-{cseq}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n"
        );
        alice.sock.send_to(ack.as_bytes(), server.udp()).unwrap();
        r
    };

    let r = send(invite(1, None), 1);
    assert_eq!(status(&r), 407, "{r}");
    let c = challenge(&r, StdHeader::ProxyAuthenticate);
    let auth = answer(&c, &Method::Invite, uri, "wonderland", 1);
    // authenticated, then looked up: nobody is not a user here (404)
    let r = send(invite(2, Some(&auth)), 2);
    assert_eq!(status(&r), 404, "{r}");
    // the same Proxy-Authorization in a new INVITE: challenged again, stale
    let r = send(invite(3, Some(&auth)), 3);
    assert_eq!(status(&r), 407, "a replay must not be forwarded: {r}");
    assert!(
        is_stale(&challenge(&r, StdHeader::ProxyAuthenticate)),
        "{r}"
    );
}
