//! Client → server round trips and every verification outcome.

use sipline_auth::{
    authentication_info_header_name, challenge_header_name, credentials_header_name, respond,
    Algorithm, ClientAuthState, Credential, DigestRequest, DigestServer, DigestServerConfig,
    Ha1Set, Qop, UriCheck, Verdict,
};
use sipline_message::header::{AuthParams, Challenge, Credentials, StdHeader};
use sipline_message::{ByteString, Message, Method};
use std::time::{Duration, SystemTime};

const REALM: &str = "biloxi.com";
const URI: &str = "sip:bob@biloxi.com";

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn config() -> DigestServerConfig {
    let mut c = DigestServerConfig::new(REALM, [9; 32]);
    c.algorithms = Algorithm::ALL.to_vec();
    c.qops = vec![Qop::Auth, Qop::AuthInt];
    c
}

fn server() -> DigestServer {
    DigestServer::new(config()).unwrap()
}

fn password() -> Credential {
    Credential::Password("zanzibar".into())
}

fn users(user: &str, _realm: &str) -> Option<Credential> {
    match user {
        "bob" => Some(password()),
        "alice" => Some(Credential::Ha1(Ha1Set::from_password(
            "alice",
            REALM,
            "wonderland",
        ))),
        "md5only" => Some(Credential::Ha1(Ha1Set {
            md5: Ha1Set::from_password("md5only", REALM, "pw").md5,
            ..Ha1Set::default()
        })),
        _ => None,
    }
}

fn only(ch: &[Challenge], alg: Algorithm) -> Challenge {
    ch.iter()
        .find(|c| c.param("algorithm").as_deref() == Some(alg.as_str()))
        .unwrap()
        .clone()
}

/// A challenge restricted to one qop.
fn with_qop(c: &Challenge, qop: Option<&str>) -> Challenge {
    let mut params = AuthParams::default();
    for p in &c.params.0 {
        if !p.name.eq_ignore_ascii_case("qop") {
            params.0.push(p.clone());
        }
    }
    if let Some(q) = qop {
        params.push("qop", &format!("\"{q}\""));
    }
    Challenge {
        scheme: c.scheme.clone(),
        params,
    }
}

/// Rebuilds credentials with one parameter replaced (raw value) or removed.
fn edit(c: &Credentials, name: &str, value: Option<&str>) -> Credentials {
    let mut params = AuthParams::default();
    let mut done = false;
    for p in &c.params.0 {
        if p.name.eq_ignore_ascii_case(name) {
            if let Some(v) = value {
                params.push(name, v);
            }
            done = true;
        } else {
            params.0.push(p.clone());
        }
    }
    if !done {
        if let Some(v) = value {
            params.push(name, v);
        }
    }
    Credentials {
        scheme: c.scheme.clone(),
        params,
    }
}

fn ok_user(v: &Verdict) -> Option<&str> {
    match v {
        Verdict::Ok { username, .. } => Some(username),
        _ => None,
    }
}

#[test]
fn challenge_shape() {
    let mut s = DigestServer::new(DigestServerConfig::new(REALM, [1; 32])).unwrap();
    let ch = s.challenge(t0(), false);
    // RFC 8760 §2.3: one per algorithm, SHA-256 first, MD5 last.
    assert_eq!(ch.len(), 2);
    assert_eq!(ch[0].param("algorithm").unwrap(), "SHA-256");
    assert_eq!(ch[1].param("algorithm").unwrap(), "MD5");
    assert_eq!(ch[0].param("nonce"), ch[1].param("nonce"));
    assert_eq!(ch[0].param("realm").unwrap(), REALM);
    assert_eq!(ch[0].params.get_raw("qop").unwrap(), "\"auth\"");
    assert!(ch[0].param("stale").is_none());
    // Round-trips through the header syntax.
    let text = ch[0].to_string();
    assert!(text.starts_with("Digest realm=\"biloxi.com\", nonce=\""));
    assert_eq!(Challenge::parse(&ByteString::from(text)).unwrap(), ch[0]);
    let stale = s.challenge(t0(), true);
    assert_eq!(stale[0].params.get_raw("stale").unwrap(), "true");
    // Fresh nonces differ.
    assert_ne!(ch[0].param("nonce"), stale[0].param("nonce"));
    assert_eq!(challenge_header_name(false), StdHeader::WwwAuthenticate);
    assert_eq!(challenge_header_name(true), StdHeader::ProxyAuthenticate);
    assert_eq!(credentials_header_name(false), StdHeader::Authorization);
    assert_eq!(credentials_header_name(true), StdHeader::ProxyAuthorization);
    assert_eq!(
        authentication_info_header_name(false).as_str(),
        "Authentication-Info"
    );
    assert_eq!(
        authentication_info_header_name(true).as_str(),
        "Proxy-Authentication-Info"
    );
}

#[test]
fn bad_configs() {
    let mut c = config();
    c.algorithms.clear();
    assert!(DigestServer::new(c).is_err());
    let mut c = config();
    c.algorithms = vec![Algorithm::Md5, Algorithm::Md5];
    assert!(DigestServer::new(c).is_err());
    let mut c = config();
    c.qops.clear();
    assert!(DigestServer::new(c).is_err());
    let mut c = config();
    c.nonce_lifetime = Duration::ZERO;
    assert!(DigestServer::new(c).is_err());
    let mut c = config();
    c.realm = "a\r\nb".into();
    assert!(DigestServer::new(c).is_err());
}

#[test]
fn round_trip_every_algorithm_and_qop() {
    let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
    for alg in Algorithm::ALL {
        for qop in ["auth", "auth-int"] {
            for (user, secret) in [
                ("bob", password()),
                (
                    "alice",
                    Credential::Ha1(Ha1Set::from_password("alice", REALM, "wonderland")),
                ),
            ] {
                let mut s = server();
                let ch = with_qop(&only(&s.challenge(t0(), false), alg), Some(qop));
                let req = DigestRequest::new(&Method::Invite, URI, Some(body));
                let a = respond(&ch, &req, user, &secret, "c0ffee", 1).unwrap();
                assert_eq!(a.param("qop").unwrap(), qop);
                let v = s.verify(t0() + Duration::from_secs(1), &req, &a, users);
                assert_eq!(ok_user(&v), Some(user), "{alg} {qop} {user}: {v:?}");
                if let Verdict::Ok { session, .. } = &v {
                    assert_eq!(session.algorithm(), alg);
                    assert_eq!(session.qop().unwrap().as_str(), qop);
                    assert_eq!(session.nc(), Some("00000001"));
                    assert_eq!(session.cnonce(), Some("c0ffee"));
                    assert_eq!(session.uri(), URI);
                    assert_eq!(session.realm(), REALM);
                }
                if qop == "auth-int" {
                    // The body is covered.
                    let other = DigestRequest::new(&Method::Invite, URI, Some(b"v=1\r\n"));
                    let mut s2 = server();
                    assert_eq!(s2.verify(t0(), &other, &a, users), Verdict::Rejected);
                }
            }
        }
    }
}

#[test]
fn auth_int_when_only_offered_and_body_available() {
    let mut s = server();
    let ch = with_qop(&s.challenge(t0(), false)[0], Some("auth-int"));
    let no_body = DigestRequest::new(&Method::Message, URI, None);
    assert!(respond(&ch, &no_body, "bob", &password(), "x", 1).is_err());
    let empty = DigestRequest::new(&Method::Message, URI, Some(&[]));
    let a = respond(&ch, &empty, "bob", &password(), "x", 1).unwrap();
    assert_eq!(a.param("qop").unwrap(), "auth-int");
    assert_eq!(ok_user(&s.verify(t0(), &empty, &a, users)), Some("bob"));
    // A server that cannot see the body cannot check auth-int.
    let mut s2 = server();
    assert_eq!(s2.verify(t0(), &no_body, &a, users), Verdict::Rejected);
    // With both offered, auth is chosen.
    let both = with_qop(&ch, Some("auth-int,auth"));
    let a = respond(&both, &empty, "bob", &password(), "x", 1).unwrap();
    assert_eq!(a.param("qop").unwrap(), "auth");
}

#[test]
fn rfc2069_form_only_when_allowed() {
    let mut cfg = config();
    cfg.allow_rfc2069 = true;
    let mut lenient = DigestServer::new(cfg).unwrap();
    let mut strict = server();
    let req = DigestRequest::new(&Method::Register, "sip:biloxi.com", Some(&[]));
    let ch = with_qop(&only(&lenient.challenge(t0(), false), Algorithm::Md5), None);
    let a = respond(&ch, &req, "bob", &password(), "unused", 1).unwrap();
    assert!(a.param("qop").is_none() && a.param("cnonce").is_none());
    let v = lenient.verify(t0(), &req, &a, users);
    assert_eq!(ok_user(&v), Some("bob"));
    let Verdict::Ok { session, .. } = v else {
        unreachable!()
    };
    assert_eq!(session.qop(), None);
    // rspauth alone for the RFC 2069 form.
    let info = lenient.authentication_info(&session, b"", None);
    assert!(info.get("rspauth").is_some() && info.get("nc").is_none());
    // A server that does not allow it treats the missing qop as malformed.
    let ch = with_qop(&only(&strict.challenge(t0(), false), Algorithm::Md5), None);
    let a = respond(&ch, &req, "bob", &password(), "unused", 1).unwrap();
    assert!(matches!(
        strict.verify(t0(), &req, &a, users),
        Verdict::Malformed(_)
    ));
    // -sess cannot be answered without qop.
    let ch = with_qop(
        &only(&strict.challenge(t0(), false), Algorithm::Md5Sess),
        None,
    );
    assert!(respond(&ch, &req, "bob", &password(), "c", 1).is_err());
}

fn fresh(s: &mut DigestServer, alg: Algorithm, user: &str, secret: &Credential) -> Credentials {
    let ch = only(&s.challenge(t0(), false), alg);
    let req = DigestRequest::new(&Method::Register, URI, Some(&[]));
    respond(&ch, &req, user, secret, "abcdef", 1).unwrap()
}

fn reg() -> DigestRequest<'static> {
    DigestRequest::new(&Method::Register, URI, Some(&[]))
}

#[test]
fn stale_after_lifetime() {
    let mut s = server();
    let a = fresh(&mut s, Algorithm::Sha256, "bob", &password());
    let late = t0() + Duration::from_secs(301);
    assert_eq!(
        s.verify(late, &reg(), &a, users),
        Verdict::Stale {
            replayed: false,
            username: "bob".into()
        }
    );
    // Exactly at the lifetime it is still fresh.
    let mut s = server();
    let a = fresh(&mut s, Algorithm::Sha256, "bob", &password());
    assert_eq!(
        ok_user(&s.verify(t0() + Duration::from_secs(300), &reg(), &a, users)),
        Some("bob")
    );
    // An expired nonce with a wrong password is a rejection, not stale.
    let mut s = server();
    let a = fresh(
        &mut s,
        Algorithm::Sha256,
        "bob",
        &Credential::Password("x".into()),
    );
    assert_eq!(s.verify(late, &reg(), &a, users), Verdict::Rejected);
}

#[test]
fn tampered_nonce_wrong_password_unknown_user_look_alike() {
    let mut s = server();
    let good = fresh(&mut s, Algorithm::Sha256, "bob", &password());
    let mut verdicts = Vec::new();
    // Tampered nonce (one character changed), with a correctly recomputed
    // response so that only the MAC can catch it.
    let nonce = good.param("nonce").unwrap().into_owned();
    let mut bytes = nonce.clone().into_bytes();
    bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(bytes).unwrap();
    let forged_ch = Challenge::parse(&ByteString::from(format!(
        r#"Digest realm="{REALM}", nonce="{forged}", algorithm=SHA-256, qop="auth""#
    )))
    .unwrap();
    let forged_creds = respond(&forged_ch, &reg(), "bob", &password(), "abcdef", 1).unwrap();
    verdicts.push(s.verify(t0(), &reg(), &forged_creds, users));
    // A nonce made with another secret.
    let mut other = DigestServer::new(DigestServerConfig::new(REALM, [2; 32])).unwrap();
    let foreign = fresh(&mut other, Algorithm::Sha256, "bob", &password());
    verdicts.push(s.verify(t0(), &reg(), &foreign, users));
    // Wrong password.
    let wrong = fresh(
        &mut s,
        Algorithm::Sha256,
        "bob",
        &Credential::Password("nope".into()),
    );
    verdicts.push(s.verify(t0(), &reg(), &wrong, users));
    // Unknown user.
    let unknown = fresh(&mut s, Algorithm::Sha256, "mallory", &password());
    verdicts.push(s.verify(t0(), &reg(), &unknown, users));
    // Known user whose stored HA1 lacks the hash used.
    let md5only = fresh(&mut s, Algorithm::Sha256, "md5only", &password());
    verdicts.push(s.verify(t0(), &reg(), &md5only, users));
    // Altered response.
    let altered = edit(&good, "response", Some(&format!("\"{}\"", "0".repeat(64))));
    verdicts.push(s.verify(t0(), &reg(), &altered, users));
    // A Basic credential (RFC 3261 §22.4: never accepted).
    let basic = Challenge::parse(&ByteString::from("Basic realm=\"x\"")).unwrap();
    verdicts.push(s.verify(t0(), &reg(), &basic, users));
    for v in &verdicts {
        assert_eq!(*v, Verdict::Rejected);
    }
    // The untouched credentials still work after all that.
    assert_eq!(ok_user(&s.verify(t0(), &reg(), &good, users)), Some("bob"));
    // And the md5only user does verify with MD5.
    let md5 = fresh(
        &mut s,
        Algorithm::Md5,
        "md5only",
        &Credential::Password("pw".into()),
    );
    assert_eq!(
        ok_user(&s.verify(t0(), &reg(), &md5, users)),
        Some("md5only")
    );
}

#[test]
fn nonce_count_replay() {
    let mut s = server();
    let ch = only(&s.challenge(t0(), false), Algorithm::Sha256);
    let req = reg();
    let at = |n: u32| respond(&ch, &req, "bob", &password(), "abcdef", n).unwrap();
    assert_eq!(ok_user(&s.verify(t0(), &req, &at(1), users)), Some("bob"));
    // Exact replay.
    assert_eq!(
        s.verify(t0(), &req, &at(1), users),
        Verdict::Stale {
            replayed: true,
            username: "bob".into()
        }
    );
    // Increasing counts are accepted, gaps included.
    assert_eq!(ok_user(&s.verify(t0(), &req, &at(2), users)), Some("bob"));
    assert_eq!(ok_user(&s.verify(t0(), &req, &at(5), users)), Some("bob"));
    // Lower counts are refused.
    assert_eq!(
        s.verify(t0(), &req, &at(3), users),
        Verdict::Stale {
            replayed: true,
            username: "bob".into()
        }
    );
    assert_eq!(ok_user(&s.verify(t0(), &req, &at(6), users)), Some("bob"));
    // A failed attempt with a high nc does not poison the counter.
    let bad = respond(
        &ch,
        &req,
        "bob",
        &Credential::Password("x".into()),
        "abcdef",
        100,
    )
    .unwrap();
    assert_eq!(s.verify(t0(), &req, &bad, users), Verdict::Rejected);
    assert_eq!(ok_user(&s.verify(t0(), &req, &at(7), users)), Some("bob"));
    assert_eq!(s.replay_cache_len(), 1);
}

#[test]
fn replay_cache_is_bounded_and_eviction_is_safe() {
    let mut cfg = config();
    cfg.replay_cache_capacity = 2;
    let mut s = DigestServer::new(cfg).unwrap();
    let req = reg();
    let mut creds = Vec::new();
    for i in 0..3u64 {
        let ch = only(
            &s.challenge(t0() + Duration::from_millis(i), false),
            Algorithm::Md5,
        );
        creds.push((
            ch.clone(),
            respond(&ch, &req, "bob", &password(), "c", 1).unwrap(),
        ));
    }
    for (_, c) in &creds {
        assert_eq!(ok_user(&s.verify(t0(), &req, c, users)), Some("bob"));
    }
    assert_eq!(s.replay_cache_len(), 2);
    // The evicted (oldest) nonce cannot be replayed, nor even continued.
    assert_eq!(
        s.verify(t0(), &req, &creds[0].1, users),
        Verdict::Stale {
            replayed: false,
            username: "bob".into()
        }
    );
    let next = respond(&creds[0].0, &req, "bob", &password(), "c", 2).unwrap();
    assert_eq!(
        s.verify(t0(), &req, &next, users),
        Verdict::Stale {
            replayed: false,
            username: "bob".into()
        }
    );
    // The retained ones still detect replays.
    assert_eq!(
        s.verify(t0(), &req, &creds[2].1, users),
        Verdict::Stale {
            replayed: true,
            username: "bob".into()
        }
    );
}

#[test]
fn restart_is_safe() {
    let mut before = server();
    let a = fresh(&mut before, Algorithm::Sha256, "bob", &password());
    assert_eq!(
        ok_user(&before.verify(t0(), &reg(), &a, users)),
        Some("bob")
    );
    // A new process with the same secret has lost the nonce counts: nonces
    // from before its first use are stale, so the request cannot be replayed.
    let mut after = server();
    let later = t0() + Duration::from_secs(10);
    assert_eq!(
        after.verify(later, &reg(), &a, users),
        Verdict::Stale {
            replayed: false,
            username: "bob".into()
        }
    );
    // Its own nonces work.
    let ch = only(&after.challenge(later, false), Algorithm::Sha256);
    let b = respond(&ch, &reg(), "bob", &password(), "c", 1).unwrap();
    assert_eq!(
        ok_user(&after.verify(later, &reg(), &b, users)),
        Some("bob")
    );
    // Without strict replay protection, old nonces are accepted within
    // their lifetime (and their counts tracked from then on).
    let mut cfg = config();
    cfg.strict_replay = false;
    let mut lenient = DigestServer::new(cfg).unwrap();
    let next = edit(&a, "nc", Some("00000002"));
    let next = {
        // Recompute the response for nc=2.
        let ch = Challenge::parse(&ByteString::from(format!(
            r#"Digest realm="{REALM}", nonce="{}", algorithm=SHA-256, qop="auth""#,
            a.param("nonce").unwrap()
        )))
        .unwrap();
        let r = respond(&ch, &reg(), "bob", &password(), "abcdef", 2).unwrap();
        assert_eq!(r.param("nc"), next.param("nc"));
        r
    };
    assert_eq!(
        ok_user(&lenient.verify(later, &reg(), &next, users)),
        Some("bob")
    );
    assert_eq!(
        lenient.verify(later, &reg(), &next, users),
        Verdict::Stale {
            replayed: true,
            username: "bob".into()
        }
    );
}

#[test]
fn realm_uri_method_checks() {
    let mut s = server();
    // Wrong realm: credentials made for another realm's challenge with our
    // nonce.
    let ch = only(&s.challenge(t0(), false), Algorithm::Sha256);
    let other_realm = Challenge::parse(&ByteString::from(format!(
        r#"Digest realm="atlanta.com", nonce="{}", algorithm=SHA-256, qop="auth""#,
        ch.param("nonce").unwrap()
    )))
    .unwrap();
    let a = respond(&other_realm, &reg(), "bob", &password(), "c", 1).unwrap();
    assert_eq!(s.verify(t0(), &reg(), &a, users), Verdict::Rejected);

    // Wrong method: signed for REGISTER, sent as INVITE (Method is in A2).
    let a = respond(&ch, &reg(), "bob", &password(), "c", 1).unwrap();
    let invite = DigestRequest::new(&Method::Invite, URI, Some(&[]));
    assert_eq!(s.verify(t0(), &invite, &a, users), Verdict::Rejected);

    // The uri parameter altered to match another Request-URI: the digest
    // no longer matches.
    let moved = edit(&a, "uri", Some("\"sip:carol@biloxi.com\""));
    let to_carol = DigestRequest::new(&Method::Register, "sip:carol@biloxi.com", Some(&[]));
    assert_eq!(s.verify(t0(), &to_carol, &moved, users), Verdict::Rejected);

    // Request-URI differs from the signed uri: 400 (RFC 7616 §3.4.6).
    assert!(matches!(
        s.verify(t0(), &to_carol, &a, users),
        Verdict::Malformed(_)
    ));

    // An equivalent Request-URI (RFC 3261 §19.1.4: host case-insensitive).
    let upper = DigestRequest::new(&Method::Register, "sip:bob@BILOXI.COM", Some(&[]));
    assert_eq!(ok_user(&s.verify(t0(), &upper, &a, users)), Some("bob"));

    // Exact matching refuses it; Ignore accepts any Request-URI.
    let mut cfg = config();
    cfg.uri_check = UriCheck::Exact;
    let mut exact = DigestServer::new(cfg).unwrap();
    let b = fresh(&mut exact, Algorithm::Sha256, "bob", &password());
    assert!(matches!(
        exact.verify(t0(), &upper, &b, users),
        Verdict::Malformed(_)
    ));
    let mut cfg = config();
    cfg.uri_check = UriCheck::Ignore;
    let mut ignore = DigestServer::new(cfg).unwrap();
    let b = fresh(&mut ignore, Algorithm::Sha256, "bob", &password());
    assert_eq!(
        ok_user(&ignore.verify(t0(), &to_carol, &b, users)),
        Some("bob")
    );
}

#[test]
fn algorithm_and_qop_must_have_been_offered() {
    let mut cfg = config();
    cfg.algorithms = vec![Algorithm::Sha256];
    cfg.qops = vec![Qop::Auth];
    let mut s = DigestServer::new(cfg).unwrap();
    let ch = s.challenge(t0(), false).remove(0);
    let md5 = Challenge::parse(&ByteString::from(
        ch.to_string().replace("algorithm=SHA-256", "algorithm=MD5"),
    ))
    .unwrap();
    let a = respond(&md5, &reg(), "bob", &password(), "c", 1).unwrap();
    assert_eq!(s.verify(t0(), &reg(), &a, users), Verdict::Rejected);
    // No algorithm parameter means MD5 (RFC 7616 §3.3).
    let none = edit(&a, "algorithm", None);
    assert_eq!(s.verify(t0(), &reg(), &none, users), Verdict::Rejected);
    let int = with_qop(&ch, Some("auth-int"));
    let a = respond(&int, &reg(), "bob", &password(), "c", 1).unwrap();
    assert_eq!(s.verify(t0(), &reg(), &a, users), Verdict::Rejected);
    let unknown = edit(&a, "algorithm", Some("SHA3-512"));
    assert_eq!(s.verify(t0(), &reg(), &unknown, users), Verdict::Rejected);
    let hashed = edit(&a, "userhash", Some("true"));
    assert_eq!(s.verify(t0(), &reg(), &hashed, users), Verdict::Rejected);
}

#[test]
fn missing_or_invalid_parameters_are_malformed() {
    let mut s = server();
    let a = fresh(&mut s, Algorithm::Sha256, "bob", &password());
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("username", None),
        ("realm", None),
        ("nonce", None),
        ("uri", None),
        ("response", None),
        ("nc", None),
        ("cnonce", None),
        ("nc", Some("1")),
        ("nc", Some("0000000g")),
        ("nc", Some("00000000")),
        ("cnonce", Some("\"\"")),
        ("qop", Some("auth-conf")),
        ("response", Some("\"abc\"")),
        ("response", Some("\"zz\"")),
        ("response", Some("\"0123456789abcdef0123456789abcdef\"")),
        ("username*", Some("UTF-8''bob")),
    ];
    for (name, value) in cases {
        let c = edit(&a, name, value);
        assert!(
            matches!(s.verify(t0(), &reg(), &c, users), Verdict::Malformed(_)),
            "{name}={value:?}"
        );
    }
    // qop removed while cnonce and nc remain.
    let c = edit(&a, "qop", None);
    assert!(matches!(
        s.verify(t0(), &reg(), &c, users),
        Verdict::Malformed(_)
    ));
    // A repeated parameter.
    let mut c = a.clone();
    c.params.push("realm", "\"evil.com\"");
    assert!(matches!(
        s.verify(t0(), &reg(), &c, users),
        Verdict::Malformed(_)
    ));
    // None of that consumed the nonce count.
    assert_eq!(ok_user(&s.verify(t0(), &reg(), &a, users)), Some("bob"));
}

#[test]
fn authentication_info_rspauth() {
    let mut s = server();
    for (alg, qop) in [
        (Algorithm::Md5Sess, "auth-int"),
        (Algorithm::Sha256, "auth"),
        (Algorithm::Sha512_256Sess, "auth"),
    ] {
        let ch = with_qop(&only(&s.challenge(t0(), false), alg), Some(qop));
        let req = reg();
        let a = respond(&ch, &req, "bob", &password(), "c0ffee", 1).unwrap();
        let Verdict::Ok { session, .. } = s.verify(t0(), &req, &a, users) else {
            panic!("not ok")
        };
        let next = s.next_nonce(t0());
        let info = s.authentication_info(&session, b"", Some(&next));
        assert_eq!(info.get("nextnonce").unwrap(), next);
        assert_eq!(info.get_raw("qop").unwrap(), qop);
        assert_eq!(info.get_raw("nc").unwrap(), "00000001");
        assert_eq!(info.get("cnonce").unwrap(), "c0ffee");
        // rspauth is the response with an empty Method in A2 (RFC 7616
        // §3.5); compute it the client's way.
        let empty = Method::Extension(ByteString::from_static(""));
        let side = DigestRequest::new(&empty, URI, Some(&[]));
        let expect = respond(&ch, &side, "bob", &password(), "c0ffee", 1).unwrap();
        assert_eq!(info.get("rspauth"), expect.param("response"), "{alg}");
        // The value parses as an Authentication-Info value.
        let parsed = AuthParams::parse_value(&ByteString::from(info.to_string())).unwrap();
        assert_eq!(parsed, info);
    }
}

fn register_with(header: &str, value: &str) -> Message {
    let text = format!(
        "REGISTER sip:biloxi.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7\r\n\
         Max-Forwards: 70\r\n\
         To: Bob <sip:bob@biloxi.com>\r\n\
         From: Bob <sip:bob@biloxi.com>;tag=456248\r\n\
         Call-ID: 843817637684230@998sdasdh09\r\n\
         CSeq: 1826 REGISTER\r\n\
         Contact: <sip:bob@192.0.2.4>\r\n\
         Proxy-Authorization: Digest username=\"bob\", realm=\"other.com\", nonce=\"x\", uri=\"sip:biloxi.com\", response=\"00\"\r\n\
         {header}: {value}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(text.into_bytes()).unwrap()
}

#[test]
fn verify_message_picks_our_realm() {
    let mut s = server();
    let ch = only(&s.challenge(t0(), false), Algorithm::Sha256);
    let req = DigestRequest::new(&Method::Register, "sip:biloxi.com", Some(&[]));
    let a = respond(&ch, &req, "bob", &password(), "c", 1).unwrap();
    // As a proxy: Proxy-Authorization with our realm, after another realm's.
    let msg = register_with("Proxy-Authorization", &a.to_string());
    let v = s.verify_message(t0(), &msg, true, users).unwrap();
    assert_eq!(ok_user(&v), Some("bob"));
    // As a registrar, there is no Authorization: challenge.
    assert_eq!(s.verify_message(t0(), &msg, false, users), None);
    let msg = register_with("Authorization", &a.to_string());
    assert_eq!(
        s.verify_message(t0(), &msg, false, users),
        Some(Verdict::Stale {
            replayed: true,
            username: "bob".into()
        })
    );
}

#[test]
fn client_state_counts_and_follows_nextnonce() {
    let mut s = server();
    let mut client = ClientAuthState::new();
    let ch = s.challenge(t0(), false);
    let updates = client.on_challenges(&ch, false);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].realm, REALM);
    assert!(updates[0].retry && !updates[0].stale);
    assert_eq!(client.realms().collect::<Vec<_>>(), vec![(REALM, false)]);
    let req = reg();
    let mut last = None;
    for n in 1..=3u32 {
        let (h, a) = client.authorize(REALM, &req, "bob", &password()).unwrap();
        assert_eq!(h, StdHeader::Authorization);
        assert_eq!(a.param("nc").unwrap(), format!("{n:08x}"));
        assert_eq!(a.param("algorithm").unwrap(), "SHA-256");
        let v = s.verify(t0(), &req, &a, users);
        assert_eq!(ok_user(&v), Some("bob"), "nc {n}");
        last = Some(v);
    }
    // nextnonce moves the client to a new nonce with nc restarting at 1.
    let Some(Verdict::Ok { session, .. }) = last else {
        unreachable!()
    };
    let next = s.next_nonce(t0());
    let info = s.authentication_info(&session, b"", Some(&next));
    client.on_authentication_info(REALM, &info);
    let (_, a) = client.authorize(REALM, &req, "bob", &password()).unwrap();
    assert_eq!(a.param("nonce").unwrap(), next);
    assert_eq!(a.param("nc").unwrap(), "00000001");
    assert_eq!(ok_user(&s.verify(t0(), &req, &a, users)), Some("bob"));
    // A non-stale challenge after credentials were sent: refused, no retry.
    let u = client.on_challenges(&s.challenge(t0(), false), false);
    assert!(!u[0].retry);
    // A stale one: retry.
    client.authorize(REALM, &req, "bob", &password()).unwrap();
    let u = client.on_challenges(&s.challenge(t0(), true), false);
    assert!(u[0].retry && u[0].stale);
    client.forget(REALM);
    assert!(client.authorize(REALM, &req, "bob", &password()).is_err());
    // Proxy challenges produce Proxy-Authorization.
    client.on_challenges(&s.challenge(t0(), false), true);
    let (h, _) = client.authorize(REALM, &req, "bob", &password()).unwrap();
    assert_eq!(h, StdHeader::ProxyAuthorization);
}
