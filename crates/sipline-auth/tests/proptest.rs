//! Verification never panics, whatever the parameters.

use proptest::prelude::*;
use sipline_auth::{
    respond, Algorithm, Credential, DigestRequest, DigestServer, DigestServerConfig, Qop, Verdict,
};
use sipline_message::header::{AuthParams, Challenge, Credentials};
use sipline_message::{ByteString, Method};
use std::time::{Duration, SystemTime};

const NAMES: &[&str] = &[
    "username",
    "username*",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "qop",
    "nc",
    "cnonce",
    "opaque",
    "userhash",
    "stale",
    "x",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        "\"[a-zA-Z0-9+/=_:@.-]{0,60}\"",
        "[0-9a-fA-F]{0,70}",
        Just("\"realm\"".to_string()),
        Just("MD5-sess".to_string()),
        Just("SHA-512-256".to_string()),
        Just("auth-int".to_string()),
        Just("ffffffff".to_string()),
        Just("00000001".to_string()),
        Just("\"sip:bob@biloxi.com\"".to_string()),
    ]
}

fn server() -> DigestServer {
    let mut cfg = DigestServerConfig::new("realm", [3; 32]);
    cfg.algorithms = Algorithm::ALL.to_vec();
    cfg.qops = vec![Qop::Auth, Qop::AuthInt];
    cfg.allow_rfc2069 = true;
    cfg.replay_cache_capacity = 4;
    DigestServer::new(cfg).unwrap()
}

fn lookup(u: &str, _: &str) -> Option<Credential> {
    (u == "bob").then(|| Credential::Password("pw".into()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_params_never_panic(
        scheme in prop_oneof![Just("Digest".to_string()), "[A-Za-z]{1,8}"],
        params in proptest::collection::vec((0..NAMES.len(), value()), 0..14),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        secs in any::<u32>(),
    ) {
        let mut s = server();
        let mut p = AuthParams::default();
        for (i, v) in &params {
            p.push(NAMES[*i], v);
        }
        let creds = Credentials { scheme: ByteString::from(scheme), params: p };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(secs));
        let req = DigestRequest::new(&Method::Register, "sip:bob@biloxi.com", body.as_deref());
        let v = s.verify(now, &req, &creds, lookup);
        // Without a nonce of ours, nothing can succeed.
        prop_assert!(!matches!(v, Verdict::Ok { .. }), "{:?}", v);
        // Also through the textual header path.
        if let Ok(parsed) = Challenge::parse(&ByteString::from(creds.to_string())) {
            let v = s.verify(now, &req, &parsed, lookup);
            prop_assert!(!matches!(v, Verdict::Ok { .. }), "{:?}", v);
        }
    }

    #[test]
    fn mutated_valid_credentials_never_panic(
        alg in 0..Algorithm::ALL.len(),
        idx in 0..12usize,
        v in value(),
        nc in 1u32..,
    ) {
        let mut s = server();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ch = s.challenge(now, false).remove(alg);
        let req = DigestRequest::new(&Method::Register, "sip:bob@biloxi.com", Some(&[]));
        let good = respond(&ch, &req, "bob", &Credential::Password("pw".into()), "cn", nc).unwrap();
        let mut params = good.params.clone();
        if let Some(p) = params.0.get_mut(idx) {
            p.value = Some(ByteString::from(v));
        }
        let changed = params != good.params;
        let creds = Credentials { scheme: good.scheme.clone(), params };
        let verdict = s.verify(now, &req, &creds, lookup);
        if !changed {
            prop_assert!(matches!(verdict, Verdict::Ok { .. }), "{:?}", verdict);
        }
    }
}
