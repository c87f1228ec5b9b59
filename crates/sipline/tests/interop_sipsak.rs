//! sipsak (Debian package `sipsak`, installed by `.ci/run`), a SIP test
//! and torture tool, against `sipline serve` on UDP 127.0.0.1 (ports picked
//! free), with digest authentication for alice and bob of example.test:
//!
//! - usrloc mode (`-U`): alice registers (REGISTER, 401, REGISTER with
//!   credentials, 200 listing her binding); a wrong password and an
//!   unknown user get 403.
//! - default mode: an OPTIONS ping to the server is answered 200.
//! - a MESSAGE from alice (`-f`, see `support::sipsak` for why not `-M`)
//!   goes through the proxy to bob, `sipline answer --register`: 407, the
//!   MESSAGE again with credentials, bob's 200 back; with a wrong password
//!   403 and nothing reaches bob.
//! - flood mode (`-F`) and random-trash mode (`-R`), bounded: the server
//!   still answers OPTIONS afterwards.
//!
//! sipsak exits 0 on a 200, 1 on another final response, 3 when nothing
//! came back. When sipsak is not installed the tests print SKIPPED and
//! pass.

mod support;

use std::time::Duration;
use support::answer::Answer;
use support::serve::{Serve, ServeOptions};
use support::sipsak::{self, Run};

/// `sipline serve` on UDP 127.0.0.1 (a free port) for example.test, with
/// alice and bob as users, its standard error in `serve.log`.
fn serve(name: &str) -> Serve {
    ServeOptions::new(&format!("interop-sipsak-{name}"))
        .udp()
        .args(["--domain", "example.test"])
        .args(["--user", "alice:alice-pw", "--user", "bob:bob-pw"])
        .log_to_file()
        .start()
}

/// An OPTIONS ping (`sipsak -vv`) answered 200 by the server itself.
fn assert_options_answered(serve: &Serve) {
    let r = sipsak::run(10, None, serve.port(), &["-vv"]);
    assert_eq!(r.code(), Some(0), "{}\nserve log:\n{}", r.text, serve.log());
    for needle in [
        "SIP/2.0 200 OK",
        "CSeq: 1 OPTIONS",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER",
        "Server: sipline/",
    ] {
        assert!(r.text.contains(needle), "no {needle:?} in:\n{}", r.text);
    }
}

/// The value of the first `name:` line of `text` after `from`.
fn header_after<'a>(text: &'a str, from: &str, name: &str) -> Option<&'a str> {
    let start = text.find(from)?;
    text[start..]
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

#[test]
fn sipsak_registers_with_digest_auth() {
    if !sipsak::available("sipsak_registers_with_digest_auth") {
        return;
    }
    let serve = serve("register");
    let port = serve.port();
    let usrloc = |user: &str, password: &str| -> Run {
        // -i: silences the warning that usrloc mode inserts no Via (its
        // requests have theirs); -x: 15 s by default, under our
        // Min-Expires (423).
        sipsak::run(
            10,
            Some("alice"),
            port,
            &["-U", "-i", "-vvv", "-x", "600", "-u", user, "-a", password],
        )
    };

    let ok = usrloc("alice", "alice-pw");
    assert_eq!(
        ok.code(),
        Some(0),
        "{}\nserve log:\n{}",
        ok.text,
        serve.log()
    );
    assert!(
        ok.text.contains("All usrloc tests completed successful"),
        "{}",
        ok.text
    );
    // Challenged first (RFC 3261 §22.4), then accepted with credentials.
    assert!(ok.text.contains("SIP/2.0 401 Unauthorized"), "{}", ok.text);
    assert!(
        ok.text
            .contains("WWW-Authenticate: Digest realm=\"example.test\""),
        "{}",
        ok.text
    );
    assert!(
        ok.text.contains("Authorization: Digest username=\"alice\""),
        "{}",
        ok.text
    );
    // The 200 lists the binding sipsak asked for, with the expiry granted
    // (RFC 3261 §10.3 step 8).
    let sent = header_after(&ok.text, "CSeq: 2 REGISTER", "Contact")
        .expect("sipsak's Contact")
        .to_string();
    assert!(sent.starts_with("sip:alice@127.0.0.1:"), "{sent}");
    let granted =
        header_after(&ok.text, "SIP/2.0 200 OK", "Contact").expect("a Contact in the 200");
    assert_eq!(granted, format!("<{sent}>;expires=600"), "{}", ok.text);

    // A wrong password and an unknown user get the same answer.
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-pw")] {
        let bad = usrloc(user, password);
        assert_eq!(bad.code(), Some(1), "{user}/{password}:\n{}", bad.text);
        assert!(
            bad.text.contains("SIP/2.0 403 Forbidden")
                && bad.text.contains("didn't received '200 OK' on register"),
            "{user}/{password}:\n{}",
            bad.text
        );
    }
}

#[test]
fn sipsak_options_ping_is_answered() {
    if !sipsak::available("sipsak_options_ping_is_answered") {
        return;
    }
    // Users configured: OPTIONS to the server itself is still not
    // challenged.
    let serve = serve("options");
    assert_options_answered(&serve);
}

#[test]
fn sipsak_message_reaches_sipline_answer_through_the_proxy() {
    if !sipsak::available("sipsak_message_reaches_sipline_answer_through_the_proxy") {
        return;
    }
    let serve = serve("message");
    let bob = Answer::start(&serve, "bob", "example.test", "bob-pw", &[]);
    // sipsak adds its Via (and answers the 407) to a request from a file.
    let message = |n: u32| {
        let body = format!("hello {n} from sipsak");
        let path = serve.dir().join(format!("message-{n}.sip"));
        std::fs::write(
            &path,
            format!(
                "MESSAGE sip:bob@example.test SIP/2.0\r\n\
                 From: <sip:alice@example.test>;tag=sipsak{n}\r\n\
                 To: <sip:bob@example.test>\r\n\
                 Call-ID: sipsak-message-{n}@127.0.0.1\r\n\
                 CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n\
                 Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let send = |n: u32, password: &str| {
        let file = message(n);
        sipsak::run(
            15,
            None,
            serve.port(),
            &["-vvv", "-f", &file, "-u", "alice", "-a", password],
        )
    };

    let ok = send(1, "alice-pw");
    let context = || format!("{}\nserve log:\n{}", bob.text(), serve.log());
    assert_eq!(ok.code(), Some(0), "{}\n{}", ok.text, context());
    // A local user's request is challenged by the proxy (RFC 3261 §22.3).
    assert!(
        ok.text
            .contains("SIP/2.0 407 Proxy Authentication Required")
            && ok
                .text
                .contains("Proxy-Authenticate: Digest realm=\"example.test\"")
            && ok
                .text
                .contains("Proxy-Authorization: Digest username=\"alice\""),
        "{}",
        ok.text
    );
    let request = bob.wait_event("request", Duration::from_secs(5));
    assert_eq!(request["method"], "MESSAGE", "{request}");
    assert_eq!(request["body"], "hello 1 from sipsak", "{request}");

    let bad = send(2, "wrong");
    assert_eq!(bad.code(), Some(1), "{}\n{}", bad.text, context());
    assert!(bad.text.contains("SIP/2.0 403 Forbidden"), "{}", bad.text);
    std::thread::sleep(Duration::from_millis(300));
    let requests = bob
        .events()
        .into_iter()
        .filter(|e| e["event"] == "request")
        .count();
    assert_eq!(requests, 1, "{}", context());
}

#[test]
fn sipsak_flood_and_random_trash_leave_serve_answering() {
    if !sipsak::available("sipsak_flood_and_random_trash_leave_serve_answering") {
        return;
    }
    let serve = serve("torture");
    let port = serve.port();

    // 2,000 OPTIONS as fast as sipsak sends them; the answers go to port 9
    // (discard), as its Via says.
    let flood = sipsak::run(30, None, port, &["-F", "-e", "2000"]);
    assert_eq!(flood.code(), Some(0), "{}", flood.text);
    assert!(flood.text.contains("flood end reached"), "{}", flood.text);
    assert_options_answered(&serve);

    // OPTIONS with 1, 2, ... 40 random characters replaced. sipsak wants
    // a 4xx for each and stops (exit 3) after three unanswered sends of
    // one (what cannot be answered: a broken Via, From, To, Call-ID or
    // CSeq); exit 0 when every one was answered.
    let trash = sipsak::run(60, None, port, &["-R", "-t", "40", "-vv"]);
    assert!(
        matches!(trash.code(), Some(0 | 3)),
        "{:?}\n{}",
        trash.code(),
        trash.text
    );
    assert_options_answered(&serve);
    let log = serve.log();
    assert!(!log.contains("panicked"), "{log}");
}
