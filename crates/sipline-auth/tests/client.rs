//! Challenge selection and client-side errors.

use sipline_auth::{
    choose_challenge, choose_challenge_per_realm, choose_topmost_challenge, respond, Algorithm,
    AuthError, Credential, DigestRequest, Ha1Set, Qop,
};
use sipline_message::header::Challenge;
use sipline_message::{ByteString, Method};

fn c(s: &str) -> Challenge {
    Challenge::parse(&ByteString::from(s)).unwrap()
}

fn alg_of(ch: Option<&Challenge>) -> Option<String> {
    ch.map(|c| {
        c.param("algorithm")
            .map(|a| a.into_owned())
            .unwrap_or_else(|| "(none)".into())
    })
}

#[test]
fn strongest_supported_wins_ties_go_to_the_top() {
    let list = [
        c(r#"Basic realm="a""#),
        c(r#"Digest realm="a", nonce="n", algorithm=MD5, qop="auth""#),
        c(r#"Digest realm="a", nonce="n", algorithm=SHA3-256, qop="auth""#),
        c(r#"Digest realm="a", nonce="n", algorithm=SHA-512-256, qop="auth""#),
        c(r#"Digest realm="a", nonce="n", algorithm=SHA-256, qop="auth""#),
    ];
    assert_eq!(alg_of(choose_challenge(&list)).unwrap(), "SHA-512-256");
    // RFC 8760 §2.4 plain rule: the topmost supported one.
    assert_eq!(alg_of(choose_topmost_challenge(&list)).unwrap(), "MD5");
    // Absent algorithm means MD5; unknown qops make a challenge unusable.
    let list = [
        c(r#"Digest realm="a", nonce="n", algorithm=SHA-256, qop="auth-conf""#),
        c(r#"Digest realm="a", nonce="n""#),
    ];
    assert_eq!(alg_of(choose_challenge(&list)).unwrap(), "(none)");
    assert!(choose_challenge(&[c(r#"Digest realm="a", algorithm=MD5"#)]).is_none());
    assert!(choose_challenge(&[]).is_none());
}

#[test]
fn one_challenge_per_realm() {
    let list = [
        c(r#"Digest realm="proxy.a", nonce="1", algorithm=MD5, qop="auth""#),
        c(r#"Digest realm="b", nonce="2", algorithm=SHA-256, qop="auth""#),
        c(r#"Digest realm="proxy.a", nonce="3", algorithm=SHA-256, qop="auth""#),
        c(r#"Digest realm="b", nonce="4", algorithm=MD5, qop="auth""#),
    ];
    let chosen = choose_challenge_per_realm(&list);
    let nonces: Vec<_> = chosen
        .iter()
        .map(|c| c.param("nonce").unwrap().into_owned())
        .collect();
    assert_eq!(nonces, ["3", "2"]);
}

#[test]
fn client_errors() {
    let m = Method::Invite;
    let req = DigestRequest::new(&m, "sip:bob@biloxi.com", Some(&[]));
    let pw = Credential::Password("pw".into());
    let ok = c(r#"Digest realm="a", nonce="n", algorithm=SHA-256, qop="auth""#);
    assert_eq!(
        respond(&c(r#"Basic realm="a""#), &req, "u", &pw, "c", 1),
        Err(AuthError::UnsupportedScheme)
    );
    assert_eq!(
        respond(&c(r#"Digest nonce="n""#), &req, "u", &pw, "c", 1),
        Err(AuthError::MissingParameter("realm"))
    );
    assert_eq!(
        respond(&c(r#"Digest realm="a""#), &req, "u", &pw, "c", 1),
        Err(AuthError::MissingParameter("nonce"))
    );
    assert_eq!(
        respond(
            &c(r#"Digest realm="a", nonce="n", algorithm=SHA3-256"#),
            &req,
            "u",
            &pw,
            "c",
            1
        ),
        Err(AuthError::UnsupportedAlgorithm)
    );
    assert_eq!(
        respond(
            &c(r#"Digest realm="a", nonce="n", qop="auth-conf""#),
            &req,
            "u",
            &pw,
            "c",
            1
        ),
        Err(AuthError::UnsupportedQop)
    );
    assert_eq!(
        respond(
            &c(r#"Digest realm="a", nonce="n", algorithm=MD5-sess"#),
            &req,
            "u",
            &pw,
            "c",
            1
        ),
        Err(AuthError::SessionWithoutQop)
    );
    assert_eq!(
        respond(&ok, &req, "u", &pw, "c", 0),
        Err(AuthError::InvalidNonceCount)
    );
    assert!(matches!(
        respond(&ok, &req, "u", &pw, "", 1),
        Err(AuthError::InvalidValue(_))
    ));
    assert!(matches!(
        respond(&ok, &req, "u\r\nX: y", &pw, "c", 1),
        Err(AuthError::InvalidValue(_))
    ));
    let md5_only = Credential::Ha1(Ha1Set {
        md5: Ha1Set::from_password("u", "a", "pw").md5,
        ..Ha1Set::default()
    });
    assert_eq!(
        respond(&ok, &req, "u", &md5_only, "c", 1),
        Err(AuthError::MissingHa1)
    );
    // Quotes in values are escaped, and the result re-parses to the same values.
    let a = respond(&ok, &req, "o\"brien\\", &pw, "c\"n", 1).unwrap();
    let again = Challenge::parse(&ByteString::from(a.to_string())).unwrap();
    assert_eq!(again.param("username").unwrap(), "o\"brien\\");
    assert_eq!(again.param("cnonce").unwrap(), "c\"n");
}

#[test]
fn names_round_trip() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        assert_eq!(Algorithm::parse(&a.as_str().to_lowercase()), Some(a));
        assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        assert_eq!(a.is_session(), a.as_str().ends_with("-sess"));
    }
    assert_eq!(
        Qop::parse_list(" auth-int , auth,foo,auth"),
        [Qop::AuthInt, Qop::Auth]
    );
    assert!(Algorithm::parse("SHA-1").is_none());
    // Secrets stay out of debug output.
    let dbg = format!("{:?}", Credential::Password("hunter2".into()));
    assert!(!dbg.contains("hunter2"));
}
