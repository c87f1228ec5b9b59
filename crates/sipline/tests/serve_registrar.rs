//! `sipline serve` as a registrar, from the outside: REGISTER over UDP on
//! 127.0.0.1 to the real binary, with digest authentication and the durable
//! location store (RFC 3261 §10.3, §22).

mod support;

use sipline_message::header::{Challenge, StdHeader};
use sipline_message::{Bytes, Message, Method};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use support::serve::{Serve, ServeOptions};
use support::{digest_credentials, status, udp_socket};

/// `sipline serve` for example.test with alice and bob as users, on
/// `port` (0: any) of 127.0.0.1 and its location store in the data
/// directory of `options`.
fn start(options: ServeOptions, port: u16) -> Serve {
    start_with(options, port, "")
}

/// [`start`] with more configuration (TOML sections other than `[auth]`).
fn start_with(options: ServeOptions, port: u16, config: &str) -> Serve {
    let data = options.data_dir();
    // RFC 8760 order: SHA-256 first, MD5 for older clients
    options
        .config(format!(
            "[auth]\nalgorithms = [\"SHA-256\", \"MD5\"]\n{config}"
        ))
        .args([
            "--listen",
            &format!("udp:127.0.0.1:{port}"),
            "--domain",
            "example.test",
        ])
        .args([
            "--user",
            "alice:secret",
            "--user",
            "bob:hunter2",
            "--data-dir",
        ])
        .args([data])
        .start()
}

struct Client {
    sock: UdpSocket,
    server: SocketAddr,
    cseq: u32,
}

impl Client {
    fn new(server: SocketAddr) -> Self {
        let sock = udp_socket(Duration::from_secs(5));
        Self {
            sock,
            server,
            cseq: 0,
        }
    }

    fn register(&mut self, user: &str, contact: Option<&str>, extra: &[(&str, String)]) -> Message {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let mut text = format!(
            "REGISTER sip:example.test SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bKreg{}{};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@example.test>\r\n\
From: <sip:{user}@example.test>;tag=t{user}\r\nCall-ID: reg-{user}@{local}\r\n\
CSeq: {} REGISTER\r\n",
            self.cseq,
            std::process::id(),
            self.cseq
        );
        if let Some(c) = contact {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        for (h, v) in extra {
            text.push_str(&format!("{h}: {v}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.sock.send_to(text.as_bytes(), self.server).unwrap();
        let mut buf = [0u8; 65535];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let m = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
            let status = m.as_response().unwrap().status;
            if status.is_final() {
                return m;
            }
        }
    }

    /// REGISTER, answering a 401 with digest credentials.
    fn register_auth(
        &mut self,
        user: &str,
        password: &str,
        contact: Option<&str>,
        extra: &[(&str, String)],
    ) -> Message {
        let first = self.register(user, contact, extra);
        if status(&first) != 401 {
            return first;
        }
        let challenges: Vec<_> = first
            .headers()
            .get_all(StdHeader::WwwAuthenticate)
            .map(|v| Challenge::parse(v).unwrap())
            .collect();
        let chosen = sipline_auth::choose_challenge(&challenges).unwrap();
        let creds = digest_credentials(
            chosen,
            &Method::Register,
            "sip:example.test",
            user,
            password,
            "0a4f113b",
            1,
        );
        let mut extra = extra.to_vec();
        extra.push(("Authorization", creds));
        self.register(user, contact, &extra)
    }
}

fn contact_expires(m: &Message) -> Vec<(String, u32)> {
    m.contacts()
        .unwrap()
        .into_iter()
        .filter_map(|c| {
            let a = c.address()?.clone();
            Some((a.uri.to_string(), a.expires()?))
        })
        .collect()
}

#[test]
fn registration_with_auth_and_restart() {
    let server = start(ServeOptions::new("registrar"), 0);
    let mut alice = Client::new(server.udp());

    // no credentials: 401 with digest challenges, SHA-256 and MD5 (RFC 8760)
    let r = alice.register("alice", Some("<sip:alice@192.0.2.10:5060>"), &[]);
    assert_eq!(status(&r), 401);
    let algs: Vec<String> = r
        .headers()
        .get_all(StdHeader::WwwAuthenticate)
        .map(|v| v.to_string())
        .collect();
    assert!(algs.iter().any(|a| a.contains("SHA-256")), "{algs:?}");

    // wrong password and unknown user: the same answer (no enumeration)
    let wrong = alice.register_auth("alice", "nope", Some("<sip:alice@192.0.2.10>"), &[]);
    let mut mallory = Client::new(server.udp());
    let unknown = mallory.register_auth("mallory", "x", Some("<sip:m@192.0.2.66>"), &[]);
    assert_eq!((status(&wrong), status(&unknown)), (403, 403));

    // bob may not register alice's address (RFC 3261 §10.3 step 3)
    let mut bob = Client::new(server.udp());
    bob.cseq = 10;
    let mut text_extra = Vec::new();
    text_extra.push(("X-Test", "cross".to_string()));
    let r = {
        // bob's credentials on a REGISTER whose To is alice
        let first = bob.register("alice", Some("<sip:bob@192.0.2.11>"), &[]);
        let c = Challenge::parse(first.headers().get(StdHeader::WwwAuthenticate).unwrap()).unwrap();
        let creds = digest_credentials(
            &c,
            &Method::Register,
            "sip:example.test",
            "bob",
            "hunter2",
            "c1",
            1,
        );
        text_extra.push(("Authorization", creds));
        bob.register("alice", Some("<sip:bob@192.0.2.11>"), &text_extra)
    };
    assert_eq!(status(&r), 403);

    // too short: 423 with Min-Expires (§10.3 step 7)
    let r = alice.register_auth(
        "alice",
        "secret",
        Some("<sip:alice@192.0.2.10>;expires=10"),
        &[],
    );
    assert_eq!(status(&r), 423);
    assert_eq!(r.headers().get(StdHeader::MinExpires).unwrap(), "60");

    // a binding: 200 lists it with its expires (§10.3 step 8)
    let r = alice.register_auth(
        "alice",
        "secret",
        Some("<sip:alice@192.0.2.10:5060>"),
        &[("Expires", "600".into())],
    );
    assert_eq!(status(&r), 200, "{r}");
    let b = contact_expires(&r);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0, "sip:alice@192.0.2.10:5060");
    assert!((598..=600).contains(&b[0].1), "{b:?}");

    // kill -9, restart on the same port and data: the binding is still there
    let addr = server.udp();
    let dir = server.stop();
    let server = start(ServeOptions::in_dir(dir), addr.port());
    assert_eq!(server.udp(), addr);
    std::thread::sleep(Duration::from_millis(1100));
    let r = alice.register_auth("alice", "secret", None, &[]);
    assert_eq!(status(&r), 200, "{r}");
    let b = contact_expires(&r);
    assert_eq!(b.len(), 1, "binding survived the restart: {r}");
    assert!(
        b[0].1 < 600 && b[0].1 >= 590,
        "expiry kept, not reset: {b:?}"
    );

    // removal with Expires: 0
    let r = alice.register_auth(
        "alice",
        "secret",
        Some("<sip:alice@192.0.2.10:5060>"),
        &[("Expires", "0".into())],
    );
    assert_eq!(status(&r), 200);
    assert!(contact_expires(&r).is_empty());
    drop(server);
}

/// `[registrar] store = "memory"` (like Kamailio's usrloc db_mode=0):
/// REGISTER, a fetch and a call's location lookup work from memory, and
/// nothing is written to the data directory.
#[test]
fn memory_store_registers_without_touching_the_disk() {
    let options = ServeOptions::new("registrar-memory");
    let data = options.data_dir();
    let server = options
        .config(format!(
            "[server]\nlisten = [\"udp:127.0.0.1:0\"]\ndata_dir = \"{}\"\n\n[registrar]\nstore = \"memory\"\n",
            data.display()
        ))
        .start();
    let port = server.port();
    let ok = support::register(port, "carol", &["<sip:carol@127.0.0.1:40009>".to_string()]);
    assert!(
        ok.headers()
            .get(StdHeader::Contact)
            .is_some_and(|c| c.contains("40009")),
        "{ok}"
    );
    // A fetch (no Contact, its own transaction) lists the binding (RFC
    // 3261 §10.2.3).
    let s = udp_socket(Duration::from_secs(5));
    let l = s.local_addr().unwrap();
    let fetch = format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKfetch;rport\r\n\
Max-Forwards: 70\r\nTo: <sip:carol@127.0.0.1:{port}>\r\nFrom: <sip:carol@127.0.0.1:{port}>;tag=f1\r\n\
Call-ID: fetch-carol\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    s.send_to(fetch.as_bytes(), ("127.0.0.1", port)).unwrap();
    let fetched = support::recv(&s).expect("fetch answered");
    assert_eq!(status(&fetched), 200, "{fetched}");
    assert!(
        fetched
            .headers()
            .get(StdHeader::Contact)
            .is_some_and(|c| c.contains("40009")),
        "{fetched}"
    );
    assert!(
        !data.exists() || std::fs::read_dir(&data).unwrap().next().is_none(),
        "the memory store wrote to {}",
        data.display()
    );
}

/// A REGISTER sent twice (a UDP retransmission: the same datagram) is
/// registered once and answered twice alike. By default the registrar
/// answers without a server transaction (`registrar.stateless`, RFC 3261
/// §8.2.7): the second 200 is made again, with the same To tag (derived
/// from the request), the same binding and its expiry; the binding is not
/// written again (a later fetch lists one). With `stateless = false`, the
/// server transaction sends the first 200 again, byte for byte. A lower
/// CSeq in the same Call-ID still fails (§10.3 step 7).
#[test]
fn a_register_retransmission_is_answered_like_the_first() {
    for stateless in [true, false] {
        let options = ServeOptions::new("registrar-retransmission");
        let server = options
            .config(format!(
                "[server]\nlisten = [\"udp:127.0.0.1:0\"]\n\n[registrar]\nstore = \"memory\"\nstateless = {stateless}\n"
            ))
            .start();
        let port = server.port();
        let s = udp_socket(Duration::from_secs(5));
        let l = s.local_addr().unwrap();
        let register = |cseq: u32, contact: &str| {
            format!(
                "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKrtx{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:dave@127.0.0.1:{port}>\r\nFrom: <sip:dave@127.0.0.1:{port}>;tag=d1\r\n\
Call-ID: rtx-dave\r\nCSeq: {cseq} REGISTER\r\n{contact}Expires: 600\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let first = register(5, "Contact: <sip:dave@127.0.0.1:40011>\r\n");
        let mut answers = Vec::new();
        for _ in 0..2 {
            s.send_to(first.as_bytes(), ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 65535];
            let (n, _) = s.recv_from(&mut buf).expect("an answer");
            answers.push(buf[..n].to_vec());
        }
        let [a, b] = &answers[..] else { unreachable!() };
        let (a, b) = (
            Message::parse(Bytes::copy_from_slice(a)).unwrap(),
            Message::parse(Bytes::copy_from_slice(b)).unwrap(),
        );
        assert_eq!((status(&a), status(&b)), (200, 200), "{b}");
        assert_eq!(a.to_tag(), b.to_tag(), "stateless = {stateless}");
        assert_eq!(contact_expires(&a).len(), 1, "{a}");
        let (ea, eb) = (contact_expires(&a), contact_expires(&b));
        assert_eq!(ea[0].0, eb[0].0);
        assert!(ea[0].1 - eb[0].1 <= 1, "{ea:?} {eb:?}");
        if !stateless {
            assert_eq!(answers[0], answers[1], "the transaction's own 200 again");
        }
        // One binding, listed by a fetch in the same Call-ID.
        s.send_to(register(6, "").as_bytes(), ("127.0.0.1", port))
            .unwrap();
        let fetched = support::recv(&s).expect("fetch answered");
        assert_eq!(status(&fetched), 200, "{fetched}");
        assert_eq!(contact_expires(&fetched).len(), 1, "{fetched}");
        // A lower CSeq: out of order.
        let stale = register(4, "Contact: <sip:dave@127.0.0.1:40011>\r\n");
        s.send_to(stale.as_bytes(), ("127.0.0.1", port)).unwrap();
        let r = support::recv(&s).expect("answered");
        assert_eq!(status(&r), 500, "{r}");
    }
}

/// A REGISTER whose bindings cannot be stored (the data directory's file
/// system is full) gets a 500 "Location store failure" instead of its 200,
/// made from the 200 that was to go (RFC 3261 §8.2.6.2): the request's Via,
/// From, Call-ID and CSeq, the To with the 200's tag, and no Contact. With
/// a server transaction and without one (`registrar.stateless`, where the
/// 200 waits for the commit as bytes, and the 500 is made from them). Once
/// there is room again, the same REGISTER is stored and gets its 200.
#[test]
fn a_register_the_store_cannot_write_gets_a_500() {
    for stateless in [true, false] {
        let test = "a_register_the_store_cannot_write_gets_a_500";
        let options = ServeOptions::new(&format!("registrar-disk-full-{stateless}"));
        let Some(fs) = support::SmallFs::mount(&options.data_dir(), 512, test) else {
            return;
        };
        let server = options
            .config(format!("[registrar]\nstateless = {stateless}\n"))
            .udp()
            .start();
        let port = server.port();
        let s = udp_socket(Duration::from_secs(5));
        let l = s.local_addr().unwrap();
        // CSeq N binds port 4NNNN (a fetch: no Contact)
        let register = |cseq: u32, fetch: bool| {
            let contact = if fetch {
                String::new()
            } else {
                format!("Contact: <sip:erin@127.0.0.1:4{cseq:04}>\r\n")
            };
            format!(
                "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKfull{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:erin@127.0.0.1:{port}>\r\nFrom: <sip:erin@127.0.0.1:{port}>;tag=e1\r\n\
Call-ID: full-erin\r\nCSeq: {cseq} REGISTER\r\n{contact}Expires: 600\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let send_as = |cseq: u32, fetch: bool| {
            s.send_to(register(cseq, fetch).as_bytes(), ("127.0.0.1", port))
                .unwrap();
            support::recv(&s).expect("REGISTER answered")
        };
        let send = |cseq: u32| send_as(cseq, false);
        assert_eq!(status(&send(1)), 200);
        let filler = fs.fill();
        // The log's last page may still hold a few records.
        let (cseq, r) = (2..40)
            .map(|cseq| (cseq, send(cseq)))
            .find(|(_, r)| status(r) != 200)
            .expect("a REGISTER fails once the disk is full");
        assert_eq!(status(&r), 500, "stateless = {stateless}: {r}");
        let text = r.to_string();
        assert!(text.contains("Location store failure"), "{text}");
        assert!(
            text.contains(&format!("branch=z9hG4bKfull{cseq};")),
            "{text}"
        );
        assert!(text.contains(&format!("CSeq: {cseq} REGISTER")), "{text}");
        assert!(text.contains("Call-ID: full-erin"), "{text}");
        assert!(r.to_tag().is_some(), "{text}");
        assert!(r.headers().get(StdHeader::Server).is_some(), "{text}");
        assert!(r.headers().get(StdHeader::Contact).is_none(), "{text}");
        // The failed REGISTER's binding is not there (RFC 3261 §10.3 step
        // 7), the earlier ones are.
        let fetched = send_as(cseq + 1, true).to_string();
        assert!(fetched.contains("127.0.0.1:40001>"), "{fetched}");
        let failed = format!("127.0.0.1:4{cseq:04}>");
        assert!(!fetched.contains(&failed), "{failed} in {fetched}");
        std::fs::remove_file(filler).unwrap();
        let r = send(cseq + 2);
        assert_eq!(status(&r), 200, "stateless = {stateless}: {r}");
        assert!(r
            .to_string()
            .contains(&format!("127.0.0.1:4{:04}>", cseq + 2)));
        drop(server);
    }
}

/// A REGISTER of alice@example.test from `local`, in Call-ID `call_id`
/// (and a branch made of it and `cseq`), with `extra` header lines.
fn alice_register(local: SocketAddr, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}{cseq};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:alice@example.test>\r\nFrom: <sip:alice@example.test>;tag=a1\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:alice@192.0.2.10:5070>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// The Authorization header line of `user` answering the challenge of the
/// 401 `r` for a REGISTER to sip:example.test (nonce count 1).
fn authorization(r: &Message, user: &str, password: &str, cnonce: &str) -> String {
    assert_eq!(status(r), 401, "{r}");
    let c = Challenge::parse(r.headers().get(StdHeader::WwwAuthenticate).unwrap()).unwrap();
    let creds = digest_credentials(
        &c,
        &Method::Register,
        "sip:example.test",
        user,
        password,
        cnonce,
        1,
    );
    format!("Authorization: {creds}\r\n")
}

/// With digest authentication, a retransmission of an authenticated
/// REGISTER reuses its nonce count, which the digest check takes for a
/// replay (stale). Without a transaction to absorb it, the server answers
/// it like the first, 200 with the same To tag, as long as a transaction
/// would have kept the request (64*T1; T1 is 20 ms here, so about a
/// second); later, the same datagram gets 401 with stale=true, as any
/// replay does.
#[test]
fn an_authenticated_register_retransmission_is_answered_like_the_first() {
    let server = start_with(
        ServeOptions::new("registrar-auth-retransmission"),
        0,
        "[timers]\nt1_ms = 20\n[registrar]\nstore = \"memory\"\n",
    );
    let s = udp_socket(Duration::from_secs(5));
    let l = s.local_addr().unwrap();
    let register = |cseq: u32, extra: &str| alice_register(l, "art-alice", cseq, extra);
    let ask = |text: &str| {
        s.send_to(text.as_bytes(), server.udp()).unwrap();
        support::recv(&s).expect("an answer")
    };
    let authed = register(
        2,
        &authorization(&ask(&register(1, "")), "alice", "secret", "c1"),
    );
    let ok = ask(&authed);
    assert_eq!(status(&ok), 200, "{ok}");
    let again = ask(&authed);
    assert_eq!(status(&again), 200, "{again}");
    assert_eq!(ok.to_tag(), again.to_tag());
    assert_eq!(contact_expires(&again).len(), 1, "{again}");
    // bob's valid digest on the same request (alice's To, Call-ID and
    // CSeq): 403, and sent again, a replay, not alice's retransmission.
    let bobs = authorization(&ask(&register(3, "")), "bob", "hunter2", "c2");
    let forged = register(2, &bobs);
    assert_eq!(status(&ask(&forged)), 403);
    let r = ask(&forged);
    assert_eq!(status(&r), 401, "{r}");
    // Past 64*T1 (and a second, the bindings' clock): a replay.
    std::thread::sleep(Duration::from_millis(2500));
    let late = ask(&authed);
    assert_eq!(status(&late), 401, "{late}");
    assert!(
        late.headers()
            .get(StdHeader::WwwAuthenticate)
            .is_some_and(|v| v.contains("stale=true")),
        "{late}"
    );
}

/// Copies of an authenticated REGISTER that arrive while it is still being
/// stored (the durable default store: its 200 waits for the commit) are
/// dropped, as its transaction would have absorbed them (RFC 3261
/// §17.2.2): the client gets the 200 of the first. Before, each copy was
/// checked again, found a replay of the nonce count whose binding was not
/// yet written, and got 401 stale=true ahead of the first's 200. Copies
/// that arrive after the commit get the same 200 again; so whichever way
/// the race goes, every answer is that 200.
#[test]
fn register_copies_while_it_is_stored_are_absorbed() {
    let server = start(ServeOptions::new("registrar-absorb"), 0);
    let s = udp_socket(Duration::from_secs(5));
    let l = s.local_addr().unwrap();
    let register = |cseq: u32, extra: &str| alice_register(l, "absorb-alice", cseq, extra);
    s.send_to(register(1, "").as_bytes(), server.udp()).unwrap();
    let first = support::recv(&s).expect("a challenge");
    let authed = register(2, &authorization(&first, "alice", "secret", "c1"));
    for _ in 0..3 {
        s.send_to(authed.as_bytes(), server.udp()).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut answers = Vec::new();
    while let Some(m) = support::recv(&s) {
        answers.push(m);
        assert!(answers.len() <= 3, "more answers than requests");
    }
    assert!(!answers.is_empty(), "no answer");
    for a in &answers {
        assert_eq!(status(a), 200, "{a}");
        assert_eq!(a.to_tag(), answers[0].to_tag());
    }
}

/// Durability with several threads: 60 addresses of record, each with two
/// bindings registered at once from two Call-IDs (so the second REGISTER
/// waits for the first's commit on the AOR's thread), all answered 200
/// before a `kill -9`; after a restart on the same data, a fetch of every
/// AOR lists both bindings (RFC 3261 §10.3 step 7: committed before the
/// 200), with the expiry they were given. The default store is the
/// append-only log: the bindings are in `bindings.log`.
#[test]
fn every_acknowledged_binding_survives_kill_9_with_threads() {
    acknowledged_bindings_survive_kill_9("registrar-durable", None, None);
}

/// The same with `[registrar] store = "redb"`: the bindings are in a redb
/// database and survive `kill -9` and a restart on it.
#[test]
fn every_acknowledged_binding_survives_kill_9_with_the_redb_store() {
    acknowledged_bindings_survive_kill_9("registrar-durable-redb", Some("redb"), Some("redb"));
}

/// An upgrade: bindings written by the redb store (the default of earlier
/// versions), then `kill -9`, then a start with the default store: the log
/// takes the database over and every binding is still there.
#[test]
fn a_redb_data_directory_is_imported_by_the_default_store() {
    acknowledged_bindings_survive_kill_9("registrar-durable-import", Some("redb"), None);
}

/// Registers with `store`, `kill -9`, restarts with `restart_store` (each
/// `None` for the default) and fetches every binding.
fn acknowledged_bindings_survive_kill_9(
    tag: &str,
    store: Option<&str>,
    restart_store: Option<&str>,
) {
    let config_of = |store: Option<&str>| {
        store
            .map(|s| format!("[registrar]\nstore = \"{s}\"\n"))
            .unwrap_or_default()
    };
    let options = ServeOptions::new(tag).config(config_of(store));
    let server = options.udp().args(["--threads", "3"]).start();
    let port = server.port();
    let register = |user: &str, n: u32, contact: Option<&str>| -> UdpSocket {
        let s = udp_socket(Duration::from_secs(5));
        let l = s.local_addr().unwrap();
        let contact = contact
            .map(|c| format!("Contact: <{c}>\r\nExpires: 600\r\n"))
            .unwrap_or_default();
        let msg = format!(
            "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKd{n}{user};rport\r\n\
Max-Forwards: 70\r\nTo: <sip:{user}@127.0.0.1:{port}>\r\nFrom: <sip:{user}@127.0.0.1:{port}>;tag=d{n}\r\n\
Call-ID: durable{n}-{user}\r\nCSeq: 1 REGISTER\r\n{contact}Content-Length: 0\r\n\r\n"
        );
        s.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
        s
    };
    let users: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
    let mut pending = Vec::new();
    for user in &users {
        for n in 0..2 {
            let contact = format!("sip:{user}@192.0.2.{}:{}", n + 1, 5060 + n);
            pending.push(register(user, n, Some(&contact)));
        }
    }
    for s in &pending {
        let r = support::recv(s).expect("REGISTER answered");
        assert_eq!(status(&r), 200, "{r}");
    }
    let dir = server.stop(); // kill -9 right after the last 200
    let options = ServeOptions::in_dir(dir).config(config_of(restart_store));
    let data = options.data_dir();
    let file = if store == Some("redb") {
        "bindings.redb"
    } else {
        "bindings.log"
    };
    assert!(data.join(file).exists(), "{file} in {}", data.display());
    let server = options
        .args([
            "--listen".to_string(),
            format!("udp:127.0.0.1:{port}"),
            "--threads".to_string(),
            "3".to_string(),
            "--data-dir".to_string(),
        ])
        .args([&data])
        .start();
    assert_eq!(server.port(), port);
    for user in &users {
        let s = register(user, 9, None);
        let r = support::recv(&s).expect("fetch answered");
        assert_eq!(status(&r), 200, "{r}");
        let contacts: Vec<String> = r
            .headers()
            .get_all(StdHeader::Contact)
            .map(|c| c.to_string())
            .collect();
        let all = contacts.join(", ");
        assert!(
            all.contains("192.0.2.1:5060") && all.contains("192.0.2.2:5061"),
            "{user} after the restart: {all}"
        );
        assert!(
            all.contains("expires=5") || all.contains("expires=6"),
            "{all}"
        );
    }
    if store == Some("redb") && restart_store.is_none() {
        assert!(data.join("bindings.log").exists());
        assert!(data.join("bindings.redb.imported").exists());
        assert!(!data.join("bindings.redb").exists());
    }
}

/// A second `sipline serve` on the data directory of a running one is
/// refused at start with a message that says why (two processes appending
/// to one log would corrupt it); the first keeps serving.
#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let options = ServeOptions::new("registrar-locked");
    let data = options.data_dir();
    let server = options.udp().start();
    let mut second = support::bin()
        .args(["serve", "--listen", "udp:127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second server started on a data directory in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!exit.success(), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    let ok = support::register(
        server.port(),
        "dave",
        &["<sip:dave@127.0.0.1:40010>".to_string()],
    );
    assert_eq!(status(&ok), 200, "{ok}");
}

/// A log whose end was torn by a crash (here: half a record appended after
/// a `kill -9`) is cut back at start, and the server says so: how many
/// bytes, of which file. The acknowledged binding before it is kept.
#[test]
fn a_torn_log_tail_is_cut_and_reported() {
    let server = ServeOptions::new("registrar-torn").udp().start();
    let ok = support::register(
        server.port(),
        "erin",
        &["<sip:erin@127.0.0.1:40011>".to_string()],
    );
    assert_eq!(status(&ok), 200, "{ok}");
    let port = server.port();
    let dir = server.stop(); // kill -9
    let options = ServeOptions::in_dir(dir);
    let data = options.data_dir();
    let log = data.join("bindings.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let kept = bytes.len();
    // a record header promising 200 bytes, and only 5 of them
    bytes.extend_from_slice(&200u32.to_le_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4, 5]);
    std::fs::write(&log, &bytes).unwrap();
    // the same port: the AOR (To) names it
    let server = options
        .args(["--listen".to_string(), format!("udp:127.0.0.1:{port}")])
        .args(["--data-dir".as_ref(), data.as_os_str()])
        .log_to_file()
        .start();
    let fetched = support::register(port, "erin", &[]);
    assert_eq!(status(&fetched), 200, "{fetched}");
    assert!(
        fetched
            .headers()
            .get(StdHeader::Contact)
            .is_some_and(|c| c.contains("40011")),
        "{fetched}"
    );
    // the torn record is gone; what was appended after it is the fetch's
    // (none: a fetch changes nothing)
    assert_eq!(std::fs::metadata(&log).unwrap().len() as usize, kept);
    let text = server.log();
    assert!(
        text.contains("cut 13 bytes off the end of") && text.contains("bindings.log"),
        "{text}"
    );
}
