//! Published and independently computed test vectors.

use sipline_auth::{choose_challenge, respond, Credential, DigestRequest, Ha1Set};
use sipline_message::header::Challenge;
use sipline_message::{ByteString, Method};

fn challenge(s: &str) -> Challenge {
    Challenge::parse(&ByteString::from(s)).unwrap()
}

fn get() -> Method {
    Method::parse("GET").unwrap()
}

/// RFC 2617 §3.5: MD5, qop=auth.
#[test]
fn rfc2617_section_3_5() {
    let c = challenge(
        r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    );
    let m = get();
    let req = DigestRequest::new(&m, "/dir/index.html", Some(&[]));
    let pw = Credential::Password("Circle Of Life".into());
    let a = respond(&c, &req, "Mufasa", &pw, "0a4f113b", 1).unwrap();
    assert_eq!(
        a.param("response").unwrap(),
        "6629fae49393a05397450978507c4ef1"
    );
    assert_eq!(a.param("qop").unwrap(), "auth");
    assert_eq!(a.params.get_raw("nc").unwrap(), "00000001");
    assert_eq!(a.params.get_raw("uri").unwrap(), "\"/dir/index.html\"");
    assert_eq!(
        a.param("opaque").unwrap(),
        "5ccc069c403ebaf9f0171e9517f40e41"
    );
    // No algorithm in the challenge: none in the answer (RFC 7616 §3.4).
    assert!(a.param("algorithm").is_none());
    // Same result from a stored HA1.
    let ha1 = Credential::Ha1(Ha1Set::from_password(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    ));
    let b = respond(&c, &req, "Mufasa", &ha1, "0a4f113b", 1).unwrap();
    assert_eq!(a, b);
    // The value re-parses as an Authorization header value.
    let again = Challenge::parse(&ByteString::from(a.to_string())).unwrap();
    assert_eq!(again, a);
}

const RFC7616_SHA256: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
const RFC7616_MD5: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

/// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
#[test]
fn rfc7616_section_3_9_1() {
    let challenges = [challenge(RFC7616_SHA256), challenge(RFC7616_MD5)];
    assert_eq!(
        choose_challenge(&challenges)
            .unwrap()
            .param("algorithm")
            .unwrap(),
        "SHA-256"
    );
    let m = get();
    let req = DigestRequest::new(&m, "/dir/index.html", None);
    let pw = Credential::Password("Circle of Life".into());
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let sha = respond(&challenges[0], &req, "Mufasa", &pw, cnonce, 1).unwrap();
    assert_eq!(
        sha.param("response").unwrap(),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(sha.params.get_raw("algorithm").unwrap(), "SHA-256");
    let md5 = respond(&challenges[1], &req, "Mufasa", &pw, cnonce, 1).unwrap();
    assert_eq!(
        md5.param("response").unwrap(),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
    assert_eq!(
        md5.param("opaque").unwrap(),
        "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    );
}

/// algorithm, qop, method, body, nc, expected response.
type Case<'a> = (&'a str, Option<&'a str>, Method, &'a [u8], u32, &'a str);

/// SIP vectors computed independently (Python hashlib), covering `-sess`,
/// auth-int with an empty and a non-empty body (RFC 8760 §2.6 item 7), the
/// RFC 2069 form and SHA-512/256.
#[test]
fn sip_vectors() {
    let pw = Credential::Password("zanzibar".into());
    let nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
    let cases: [Case<'_>; 4] = [
        (
            "MD5-sess",
            Some("auth-int"),
            Method::Register,
            b"",
            1,
            "74457a1c5658e3c035b45acbf309f16d",
        ),
        (
            "SHA-512-256-sess",
            Some("auth-int"),
            Method::Invite,
            b"v=0\r\n",
            10,
            "af6b68faaa8a05d5ea6dd24a13d627408fd16e36e90d74a0c567d1484cbb3ee0",
        ),
        (
            "SHA-256",
            None,
            Method::Invite,
            b"",
            1,
            "38aad98c50c33abe72c5f88dd17246ffcfa6b1f68852c855719ff0659386c0ca",
        ),
        (
            "SHA-256-sess",
            Some("auth"),
            Method::Bye,
            b"",
            1,
            "3c1998dcf34a0e28137fcb5bb074794f2b139334d6c71d958780f70c44361157",
        ),
    ];
    for (alg, qop, method, body, nc, want) in cases {
        let mut text = format!(r#"Digest realm="biloxi.com", nonce="{nonce}", algorithm={alg}"#);
        if let Some(q) = qop {
            text.push_str(&format!(r#", qop="{q}""#));
        }
        let c = challenge(&text);
        let req = DigestRequest::new(&method, "sip:bob@biloxi.com", Some(body));
        let a = respond(&c, &req, "bob", &pw, "0a4f113b", nc).unwrap();
        assert_eq!(a.param("response").unwrap(), want, "{alg} {qop:?}");
        assert_eq!(a.param("qop").as_deref(), qop);
        if qop.is_none() {
            assert!(a.param("cnonce").is_none() && a.param("nc").is_none());
        }
    }
}

/// RFC 7616 §3.4.4 username hashing. (The §3.9.2 example's published
/// values are not reproducible from its inputs — a known problem with that
/// example — so the expected hash here was computed with Python hashlib.)
#[test]
fn userhash() {
    let c = challenge(
        r#"Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true"#,
    );
    let m = get();
    let req = DigestRequest::new(&m, "/doe.json", None);
    let pw = Credential::Password("Secret, or not?".into());
    let a = respond(
        &c,
        &req,
        "J\u{e4}s\u{f8}n Doe",
        &pw,
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
        1,
    )
    .unwrap();
    assert_eq!(
        a.param("username").unwrap(),
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    );
    assert_eq!(a.param("userhash").unwrap(), "true");
    assert_eq!(
        a.param("response").unwrap(),
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );
}
