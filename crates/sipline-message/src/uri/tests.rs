//! Tests of the URI module.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::escape::{
    self, escape_header, escape_param, escape_password, escape_user, unescape, unescape_bytes,
    unescape_lossy,
};
use super::*;

fn sip(s: &str) -> SipUri {
    match Uri::parse(s) {
        Ok(Uri::Sip(u)) => u,
        other => panic!("{s:?} did not parse as SIP URI: {other:?}"),
    }
}

fn tel(s: &str) -> TelUri {
    match Uri::parse(s) {
        Ok(Uri::Tel(u)) => u,
        other => panic!("{s:?} did not parse as tel URI: {other:?}"),
    }
}

fn err(s: &str) -> (UriErrorKind, usize) {
    match Uri::parse(s) {
        Ok(u) => panic!("{s:?} parsed: {u:?}"),
        Err(e) => {
            assert!(e.offset <= s.len(), "offset out of range for {s:?}: {e:?}");
            (e.kind, e.offset)
        }
    }
}

/// Parses, checks that Display gives the input back byte for byte and that it reparses equal.
fn round_trip_exact(s: &str) -> Uri {
    let u = Uri::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert_eq!(u.to_string(), s);
    assert_eq!(Uri::parse(&u.to_string()), Ok(u.clone()));
    u
}

fn equiv(a: &str, b: &str) -> bool {
    let (ua, ub) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
    let r = ua.equivalent(&ub);
    assert_eq!(
        r,
        ub.equivalent(&ua),
        "equivalence not symmetric for {a:?} / {b:?}"
    );
    r
}

// ---------------------------------------------------------------------------------------------
// RFC 3261 §19.1.3 examples.

#[test]
fn rfc3261_19_1_3_examples_round_trip() {
    for s in [
        "sip:alice@atlanta.com",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        // RFC 3261 §19.1.1
        "sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15",
        // RFC 3261 §19.1.6
        "sip:+358-555-1234567;postd=pp22@foo.com;user=phone",
        "sips:+358-555-1234567;postd=pp22@foo.com;user=phone",
        "sip:+358-555-1234567@foo.com;postd=pp22;user=phone",
        // The brief's examples.
        "sip:[2001:db8::10]:5070;transport=tcp",
        "sips:alice:secret@atlanta.com;maddr=239.255.255.1;ttl=15?subject=project%20x&priority=urgent",
    ] {
        let u = round_trip_exact(s);
        assert!(matches!(u, Uri::Sip(_)), "{s}");
        assert!(u.equivalent(&u), "{s} not equivalent to itself");
    }
}

#[test]
fn rfc3261_19_1_3_example_fields() {
    let u = sip("sip:alice@atlanta.com");
    assert_eq!(u.scheme, Scheme::Sip);
    assert_eq!(u.user.as_deref(), Some("alice"));
    assert_eq!(u.password, None);
    assert_eq!(u.host, Host::Domain("atlanta.com".into()));
    assert_eq!(u.port, None);
    assert!(u.params.is_empty() && u.headers.is_empty());

    let u = sip("sip:alice:secretword@atlanta.com;transport=tcp");
    assert_eq!(u.user.as_deref(), Some("alice"));
    assert_eq!(u.password.as_deref(), Some("secretword"));
    assert_eq!(u.transport(), Some("tcp"));

    let u = sip("sips:alice@atlanta.com?subject=project%20x&priority=urgent");
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!(
        u.headers,
        vec![
            ("subject".to_string(), "project%20x".to_string()),
            ("priority".to_string(), "urgent".to_string())
        ]
    );
    assert_eq!(u.header("Subject"), Some("project%20x"));
    assert_eq!(unescape(u.header("subject").unwrap()).unwrap(), "project x");

    let u = sip("sip:+1-212-555-1212:1234@gateway.com;user=phone");
    assert_eq!(u.user.as_deref(), Some("+1-212-555-1212"));
    assert_eq!(u.password.as_deref(), Some("1234"));
    assert_eq!(u.user_param(), Some("phone"));

    let u = sip("sips:1212@gateway.com");
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!(u.user.as_deref(), Some("1212"));

    let u = sip("sip:alice@192.0.2.4");
    assert_eq!(u.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 4)));

    let u = sip("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com");
    assert_eq!(u.user, None);
    assert_eq!(u.host, Host::Domain("atlanta.com".into()));
    assert_eq!(u.method_param(), Some("REGISTER"));
    assert_eq!(u.header("to"), Some("alice%40atlanta.com"));

    // "The last sample URI above has a user field value of "alice;day=tuesday"."
    let u = sip("sip:alice;day=tuesday@atlanta.com");
    assert_eq!(u.user.as_deref(), Some("alice;day=tuesday"));
    assert!(u.params.is_empty());

    let u = sip("sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15");
    assert_eq!(u.maddr(), Some("239.255.255.1"));
    assert_eq!(u.ttl(), Some(15));

    let u = sip("sip:+358-555-1234567;postd=pp22@foo.com;user=phone");
    assert_eq!(u.user.as_deref(), Some("+358-555-1234567;postd=pp22"));
    assert_eq!(u.params, vec![UriParam::new("user", Some("phone"))]);
}

#[test]
fn brief_examples() {
    let u = sip("sip:[2001:db8::10]:5070;transport=tcp");
    assert_eq!(
        u.host,
        Host::Ipv6("2001:db8::10".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(u.port, Some(5070));
    assert_eq!(u.transport(), Some("tcp"));
    assert_eq!(u.host_port(), "[2001:db8::10]:5070");

    let u = sip("sips:alice:secret@atlanta.com;maddr=239.255.255.1;ttl=15?subject=project%20x&priority=urgent");
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!(u.password.as_deref(), Some("secret"));
    assert_eq!(u.maddr(), Some("239.255.255.1"));
    assert_eq!(u.ttl(), Some(15));
    assert_eq!(u.headers.len(), 2);
    assert_eq!(u.header("priority"), Some("urgent"));
}

// ---------------------------------------------------------------------------------------------
// RFC 3261 §19.1.4 comparison: every example.

#[test]
fn rfc3261_19_1_4_equivalent_sets() {
    let sets: &[&[&str]] = &[
        &[
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp",
        ],
        &[
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5",
            "sip:carol@chicago.com;security=on",
        ],
        &[
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ],
        &[
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ],
    ];
    for set in sets {
        for a in *set {
            for b in *set {
                assert!(equiv(a, b), "{a} should be equivalent to {b}");
            }
        }
    }
}

#[test]
fn rfc3261_19_1_4_non_equivalent_pairs() {
    for (a, b) in [
        // (different usernames)
        (
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP",
        ),
        // (can resolve to different ports)
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        // (can resolve to different transports)
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        // (can resolve to different port and transports)
        (
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp",
        ),
        // (different header component)
        (
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting",
        ),
        // (even though that's what phone21.boxesbybob.com resolves to)
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ] {
        assert!(!equiv(a, b), "{a} should not be equivalent to {b}");
    }
}

#[test]
fn rfc3261_19_1_4_not_transitive() {
    let plain = "sip:carol@chicago.com";
    let on = "sip:carol@chicago.com;security=on";
    let off = "sip:carol@chicago.com;security=off";
    assert!(equiv(plain, on));
    assert!(equiv(plain, off));
    assert!(!equiv(on, off));
}

#[test]
fn rfc3261_19_1_4_rules() {
    // A SIP and SIPS URI are never equivalent.
    assert!(!equiv("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
    // Scheme case does not matter.
    assert!(equiv("SIP:alice@atlanta.com", "sip:alice@atlanta.com"));
    // Userinfo is case-sensitive, including passwords and telephone-subscribers.
    assert!(!equiv(
        "sip:alice:PW@atlanta.com",
        "sip:alice:pw@atlanta.com"
    ));
    assert!(!equiv(
        "sip:+1-212-555-1212;POSTD=PP22@gw.com",
        "sip:+1-212-555-1212;postd=pp22@gw.com"
    ));
    // RFC 3261 §19.1.6 example.
    assert!(!equiv(
        "sip:+358-555-1234567;postd=pp22@foo.com;user=phone",
        "sip:+358-555-1234567;POSTD=PP22@foo.com;user=phone"
    ));
    // Omitting user / password.
    assert!(!equiv("sip:atlanta.com", "sip:alice@atlanta.com"));
    assert!(!equiv("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"));
    assert!(equiv(
        "sip:alice:pw@atlanta.com",
        "sip:alice:p%77@atlanta.com"
    ));
    // Default port is not the same as no port, for sips too.
    assert!(!equiv(
        "sips:alice@atlanta.com",
        "sips:alice@atlanta.com:5061"
    ));
    assert!(equiv(
        "sip:alice@atlanta.com:5060",
        "sip:alice@atlanta.com:05060"
    ));
    assert!(!equiv(
        "sip:alice@atlanta.com:5060",
        "sip:alice@atlanta.com:5070"
    ));
    // Hosts: case-insensitive names, addresses by value, a name never equals an address.
    assert!(equiv("sip:[2001:DB8::10]", "sip:[2001:db8:0:0:0:0:0:10]"));
    assert!(!equiv("sip:[::ffff:192.0.2.4]", "sip:192.0.2.4"));
    assert!(!equiv("sip:atlanta.com", "sip:atlanta.com."));
    // Non-reserved characters equal their escapes; hex case is insignificant.
    assert!(equiv("sip:%41lice@atlanta.com", "sip:Alice@atlanta.com"));
    assert!(!equiv("sip:%41lice@atlanta.com", "sip:alice@atlanta.com"));
    assert!(equiv("sip:a%3bb@atlanta.com", "sip:a%3Bb@atlanta.com"));
    // ...but reserved characters do not.
    assert!(!equiv("sip:a;b@atlanta.com", "sip:a%3Bb@atlanta.com"));
    assert!(!equiv("sip:a%253Bb@atlanta.com", "sip:a%3Bb@atlanta.com"));
    assert!(!equiv("sip:a?b@atlanta.com", "sip:a%3Fb@atlanta.com"));
    // Parameters present in both must match (case-insensitively).
    assert!(equiv("sip:a@b.com;x=ABC", "sip:a@b.com;X=abc"));
    assert!(equiv("sip:a@b.com;x=%41", "sip:a@b.com;x=a"));
    assert!(!equiv("sip:a@b.com;x=1", "sip:a@b.com;x=2"));
    assert!(!equiv("sip:a@b.com;x", "sip:a@b.com;x=1"));
    assert!(equiv("sip:a@b.com;lr", "sip:a@b.com;LR"));
    // user, ttl, method, maddr, transport in only one never match, even with default values.
    for p in [
        "user=ip",
        "ttl=1",
        "method=INVITE",
        "maddr=239.255.255.1",
        "transport=udp",
        "USER=ip",
    ] {
        assert!(!equiv("sip:a@b.com", &format!("sip:a@b.com;{p}")), "{p}");
        assert!(
            !equiv("sip:a@b.com;lr", &format!("sip:a@b.com;{p};lr")),
            "{p}"
        );
    }
    // Other parameters in only one are ignored (lr included).
    assert!(equiv("sip:a@b.com;lr", "sip:a@b.com"));
    assert!(equiv("sip:a@b.com;lr;x=1", "sip:a@b.com;y=2"));
    assert!(equiv(
        "sip:a@b.com;transport=tcp;foo",
        "sip:a@b.com;bar;transport=TCP"
    ));
    // Headers: never ignored, names case-insensitive, values case-sensitive, order free.
    assert!(equiv("sip:a@b.com?Subject=hi", "sip:a@b.com?subject=hi"));
    assert!(!equiv("sip:a@b.com?subject=Hi", "sip:a@b.com?subject=hi"));
    assert!(equiv("sip:a@b.com?subject=h%69", "sip:a@b.com?subject=hi"));
    assert!(!equiv(
        "sip:a@b.com?subject=hi",
        "sip:a@b.com?subject=hi&priority=urgent"
    ));
    assert!(!equiv(
        "sip:a@b.com?subject=hi&subject=hi",
        "sip:a@b.com?subject=hi&priority=urgent"
    ));
    assert!(equiv("sip:a@b.com?a=1&a=2", "sip:a@b.com?a=2&a=1"));
    assert!(!equiv("sip:a@b.com?a=1&a=1", "sip:a@b.com?a=1&a=2"));
}

#[test]
fn uri_equivalent_dispatch() {
    assert!(!equiv("sip:alice@atlanta.com", "tel:+1234"));
    assert!(!equiv("tel:+1234", "urn:x:1234"));
    assert!(equiv("URN:service:sos", "urn:service:sos"));
    assert!(!equiv("urn:service:SOS", "urn:service:sos"));
    assert!(equiv("mailto:a@b.com", "Mailto:a@b.com"));
}

// ---------------------------------------------------------------------------------------------
// Parsing details.

#[test]
fn scheme_dispatch() {
    assert!(matches!(Uri::parse("SIP:a@b.com"), Ok(Uri::Sip(u)) if u.scheme == Scheme::Sip));
    assert!(matches!(Uri::parse("SiPs:a@b.com"), Ok(Uri::Sip(u)) if u.scheme == Scheme::Sips));
    assert!(matches!(Uri::parse("TEL:+1"), Ok(Uri::Tel(_))));
    assert!(
        matches!(Uri::parse("sipx:foo"), Ok(Uri::Other(o)) if o.scheme == "sipx" && o.rest == "foo")
    );
    let u = round_trip_exact("http://example.com/a%20b?x=1#frag");
    assert_eq!(u.scheme(), "http");
    round_trip_exact("urn:service:sos");
    round_trip_exact("mailto:alice@atlanta.com");
    round_trip_exact("im:alice@atlanta.com");
    round_trip_exact("x-my.scheme+v1:stuff");
    round_trip_exact("http://[2001:db8::1]:8080/");
    // The scheme is written in lower case for sip/sips/tel.
    assert_eq!(
        Uri::parse("SIP:a@b.com").unwrap().to_string(),
        "sip:a@b.com"
    );
    assert_eq!(Uri::parse("Tel:+1").unwrap().to_string(), "tel:+1");
    assert_eq!(Uri::parse("sips:a@b.com").unwrap().scheme(), "sips");
    assert_eq!(Uri::parse("TEL:+1").unwrap().scheme(), "tel");
    assert!(Uri::parse("sip:a@b.com").unwrap().as_sip().is_some());
    assert!(Uri::parse("tel:+1").unwrap().as_tel().is_some());
    assert!(Uri::parse("foo:bar").unwrap().as_other().is_some());
    assert!(Uri::parse("foo:bar").unwrap().as_sip().is_none());
}

#[test]
fn from_str_impls() {
    let u: Uri = "sip:alice@atlanta.com".parse().unwrap();
    assert!(matches!(u, Uri::Sip(_)));
    let s: SipUri = "sips:alice@atlanta.com:5061".parse().unwrap();
    assert_eq!(s.port, Some(5061));
    let t: TelUri = "tel:+1-201-555-0123".parse().unwrap();
    assert!(t.is_global());
    let h: Host = "Example.COM".parse().unwrap();
    assert_eq!(h, Host::Domain("Example.COM".into()));
    assert_eq!(
        "tel:+1".parse::<SipUri>().map_err(|e| e.kind),
        Err(UriErrorKind::UnexpectedScheme)
    );
    assert_eq!(
        "sip:a@b".parse::<TelUri>().map_err(|e| e.kind),
        Err(UriErrorKind::UnexpectedScheme)
    );
    assert_eq!(
        "nocolon".parse::<SipUri>().map_err(|e| e.kind),
        Err(UriErrorKind::MissingScheme)
    );
    assert_eq!(SipUri::parse("SIPS:x.com").unwrap().scheme, Scheme::Sips);
}

#[test]
fn valid_sip_uris_round_trip() {
    for s in [
        "sip:a.b",
        "sip:example.com.",
        "sip:my_host.example.com",
        "sip:123.example.com",
        "sip:example.123a",
        "sip:host:0",
        "sip:host:65535",
        "sip:alice@host:5060;lr",
        "sip:alice:@host",
        "sip:alice:p%40ss&=+$,@host",
        "sip:%61%6C%69%63%65@host",
        "sip:*67#123@gw.example.com;user=phone",
        "sip:a-b_c.d!e~f*g'h(i)j&k=l+m$n,o;p?q/r@host",
        "sip:host;transport=udp;user=ip;method=INVITE;ttl=255;maddr=[::1];lr;x=[a]/b:c&d+e$f",
        "sip:host;%78=%79",
        "sip:host?to=sip:bob%40biloxi.com&x=&y=a?b/c:d[e]+$",
        "sip:host;lr?body=hello%20world",
        "sip:[::1]",
        "sip:[::1]:5060",
        "sip:user@[2001:db8::1];transport=tls",
        "sip:[::ffff:192.0.2.1]",
        "sip:0.0.0.0",
        "sip:255.255.255.255:1",
        "sips:bob@biloxi.example.com:5061;transport=tcp;lr?Route=%3Csip:a%3E",
        "sip:1234@10.0.0.1;user=phone",
    ] {
        let u = round_trip_exact(s);
        assert!(u.equivalent(&u), "{s}");
    }
}

#[test]
fn canonicalized_forms_round_trip() {
    for (input, canonical) in [
        ("sip:[2001:DB8:0:0::10]:05070", "sip:[2001:db8::10]:5070"),
        ("sip:192.000.002.004", "sip:192.0.2.4"),
        ("SIPS:a@b", "sips:a@b"),
        ("sip:[0:0:0:0:0:0:0:1]", "sip:[::1]"),
    ] {
        let u = Uri::parse(input).unwrap();
        assert_eq!(u.to_string(), canonical);
        assert_eq!(Uri::parse(&u.to_string()), Ok(u));
    }
}

#[test]
fn host_parse() {
    assert_eq!(
        Host::parse("atlanta.com"),
        Ok(Host::Domain("atlanta.com".into()))
    );
    assert_eq!(Host::parse("a"), Ok(Host::Domain("a".into())));
    assert_eq!(Host::parse("a_b.c"), Ok(Host::Domain("a_b.c".into())));
    assert_eq!(Host::parse("x.y."), Ok(Host::Domain("x.y.".into())));
    assert_eq!(
        Host::parse("10.1.2.3"),
        Ok(Host::Ipv4(Ipv4Addr::new(10, 1, 2, 3)))
    );
    assert_eq!(Host::parse("[::1]"), Ok(Host::Ipv6(Ipv6Addr::LOCALHOST)));
    let e = |s: &str| Host::parse(s).map_err(|e| (e.kind, e.offset)).unwrap_err();
    assert_eq!(e(""), (UriErrorKind::EmptyHost, 0));
    assert_eq!(e("::1"), (UriErrorKind::InvalidHost, 0));
    assert_eq!(e("[::1"), (UriErrorKind::InvalidIpv6, 0));
    assert_eq!(e("[]"), (UriErrorKind::InvalidIpv6, 0));
    assert_eq!(e("[1.2.3.4]"), (UriErrorKind::InvalidIpv6, 0));
    assert_eq!(e("[::1%eth0]"), (UriErrorKind::InvalidIpv6, 0));
    assert_eq!(e("1.2.3.256"), (UriErrorKind::InvalidIpv4, 0));
    assert_eq!(e("1.2.3.4.5"), (UriErrorKind::InvalidIpv4, 0));
    assert_eq!(e("1.2.3.0004"), (UriErrorKind::InvalidIpv4, 0));
    assert_eq!(e("1..2.3"), (UriErrorKind::InvalidHost, 2));
    assert_eq!(e("1.2.3."), (UriErrorKind::InvalidIpv4, 0));
    assert_eq!(e("123"), (UriErrorKind::InvalidIpv4, 0));
    assert_eq!(e("."), (UriErrorKind::InvalidHost, 0));
    assert_eq!(e("a..b"), (UriErrorKind::InvalidHost, 2));
    assert_eq!(e("-a.b"), (UriErrorKind::InvalidHost, 0));
    assert_eq!(e("a-.b"), (UriErrorKind::InvalidHost, 1));
    assert_eq!(e("a.b-"), (UriErrorKind::InvalidHost, 3));
    assert_eq!(e("a.-b"), (UriErrorKind::InvalidHost, 2));
    assert_eq!(e("a b"), (UriErrorKind::InvalidHost, 1));
    assert_eq!(e("a\tb"), (UriErrorKind::InvalidHost, 1));
    assert_eq!(e("ex%41mple.com"), (UriErrorKind::InvalidHost, 2));
    assert_eq!(e("exämple.com"), (UriErrorKind::InvalidHost, 2));
}

#[test]
fn host_display_and_compare() {
    assert_eq!(Host::Ipv6(Ipv6Addr::LOCALHOST).to_string(), "[::1]");
    assert_eq!(
        Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)).to_string(),
        "192.0.2.1"
    );
    assert_eq!(
        Host::Domain("Example.com".into()).to_string(),
        "Example.com"
    );
    let d = |s: &str| Host::Domain(s.into());
    assert!(d("AtLanTa.CoM").eq_ignore_case(&d("atlanta.com")));
    assert!(!d("atlanta.com").eq_ignore_case(&d("atlanta.org")));
    assert!(!d("192.0.2.4").eq_ignore_case(&Host::Ipv4(Ipv4Addr::new(192, 0, 2, 4))));
    assert!(Host::from(Ipv4Addr::LOCALHOST).is_ip());
    assert!(Host::from(Ipv6Addr::LOCALHOST).is_ip());
    assert!(!d("x").is_ip());
}

#[test]
fn sip_errors() {
    use UriErrorKind::*;
    let cases: &[(&str, UriErrorKind, usize)] = &[
        ("", MissingScheme, 0),
        ("alice@atlanta.com", MissingScheme, 0),
        (":foo", MissingScheme, 0),
        ("1sip:a", InvalidScheme, 0),
        ("s p:a", InvalidScheme, 1),
        ("alice@atlanta.com:5060", InvalidScheme, 5),
        ("sip:", EmptyHost, 4),
        ("sip:@host", EmptyUser, 4),
        ("sip::pw@host", EmptyUser, 4),
        ("sip:al ice@host", InvalidUserChar, 6),
        ("sip:al[ice@host", InvalidUserChar, 6),
        ("sip:alice:se:cret@host", InvalidPasswordChar, 12),
        ("sip:alice:se;cret@host", InvalidPasswordChar, 12),
        ("sip:alice@", EmptyHost, 10),
        ("sip:alice@:5060", EmptyHost, 10),
        ("sip:alice@;lr", EmptyHost, 10),
        ("sip:alice@atl anta.com", InvalidHost, 13),
        ("sip:alice@atlanta..com", InvalidHost, 18),
        ("sip:alice@-atlanta.com", InvalidHost, 10),
        ("sip:alice@atlanta-.com", InvalidHost, 17),
        ("sip:alice@ho%41st", InvalidHost, 12),
        ("sip:alice@host>", InvalidHost, 14),
        ("sip:alice@atlanta.com ", InvalidHost, 21),
        ("sip:alice@a@b", InvalidHost, 11),
        ("sip:alice@256.1.1.1", InvalidIpv4, 10),
        ("sip:alice@1.2.3", InvalidIpv4, 10),
        ("sip:[::1", InvalidIpv6, 4),
        ("sip:[::g]", InvalidIpv6, 4),
        ("sip:[]", InvalidIpv6, 4),
        ("sip:[1:2:3:4:5:6:7:8:9]", InvalidIpv6, 4),
        ("sip:[::1]x", InvalidHost, 9),
        ("sip:[::1]]", InvalidHost, 9),
        ("sip:alice@host:", EmptyPort, 15),
        ("sip:alice@host:;lr", EmptyPort, 15),
        ("sip:alice@host:65536", InvalidPort, 15),
        ("sip:alice@host:99999999999999999999", InvalidPort, 15),
        ("sip:alice@host:50a0", InvalidPort, 17),
        ("sip:alice@host:-1", InvalidPort, 15),
        ("sip:alice@host:5060:5060", InvalidPort, 19),
        ("sip:[::1]:", EmptyPort, 10),
        ("sip:alice@host;", EmptyParamName, 15),
        ("sip:alice@host;;lr", EmptyParamName, 15),
        ("sip:alice@host;=x", EmptyParamName, 15),
        ("sip:alice@host;transport=", EmptyParamValue, 25),
        ("sip:alice@host;a=b=c", InvalidParamChar, 18),
        ("sip:alice@host;a b", InvalidParamChar, 16),
        ("sip:alice@host;a=\"b\"", InvalidParamChar, 17),
        ("sip:alice@host;lr;LR", DuplicateParam, 18),
        ("sip:alice@host;x=1;y;X=2", DuplicateParam, 21),
        ("sip:alice@host;%78=1;x=2", DuplicateParam, 21),
        ("sip:alice@host?", EmptyHeaderName, 15),
        ("sip:alice@host?=v", EmptyHeaderName, 15),
        ("sip:alice@host?subject", MissingHeaderValue, 22),
        ("sip:alice@host?a=b&", EmptyHeaderName, 19),
        ("sip:alice@host?a=b&&c=d", EmptyHeaderName, 19),
        ("sip:alice@host?a=b c", InvalidHeaderChar, 18),
        ("sip:alice@host?a=b=c", InvalidHeaderChar, 18),
        ("sip:alice@host?a;b=c", InvalidHeaderChar, 16),
        ("sip:al%2@host", InvalidEscape, 6),
        ("sip:al%zzice@host", InvalidEscape, 6),
        ("sip:alice%@host", InvalidEscape, 9),
        ("sip:alice:pw%@host", InvalidEscape, 12),
        ("sip:alice@host;x=%4", InvalidEscape, 17),
        ("sip:alice@host?x=%", InvalidEscape, 17),
        ("sip:ålice@host", InvalidUserChar, 4),
        ("sip:alice@host\r\n", InvalidHost, 14),
        ("sip:alice@host;x=\u{0}", InvalidParamChar, 17),
    ];
    for &(s, kind, offset) in cases {
        assert_eq!(err(s), (kind, offset), "{s:?}");
    }
}

#[test]
fn duplicate_detection_many_params() {
    let mut s = String::from("sip:host");
    for i in 0..40 {
        s.push_str(&format!(";p{i}"));
    }
    assert!(Uri::parse(&s).is_ok());
    let dup_at = s.len() + 1;
    s.push_str(";P7");
    s.push_str(";q");
    assert_eq!(err(&s), (UriErrorKind::DuplicateParam, dup_at));
    // Large inputs stay fast (sort-based check).
    let mut big = String::from("sip:host");
    for i in 0..20_000 {
        big.push_str(&format!(";p{i}"));
    }
    let u = sip(&big);
    assert_eq!(u.params.len(), 20_000);
    assert!(u.equivalent(&u));
}

#[test]
fn equivalence_large_lists() {
    // More than 16 parameters / headers take the sort-based path; same rules apply.
    let names: Vec<String> = (0..24).map(|i| format!("p{i}=v{i}")).collect();
    let fwd = names.join(";");
    let rev = names.iter().rev().cloned().collect::<Vec<_>>().join(";");
    let a = format!("sip:a@b.com;{fwd}");
    assert!(equiv(&a, &format!("sip:a@b.com;{rev}")));
    assert!(equiv(&a, &format!("sip:a@b.com;{rev};extra")));
    assert!(!equiv(&a, &format!("sip:a@b.com;{rev};transport=udp")));
    assert!(!equiv(
        &a,
        &format!("sip:a@b.com;{}", rev.replace("v3", "w3"))
    ));
    assert!(equiv(
        &a,
        &format!("sip:a@b.com;{}", rev.replace("v3", "V3"))
    ));
    let hf = names.join("&");
    let hr = names.iter().rev().cloned().collect::<Vec<_>>().join("&");
    let h = format!("sip:a@b.com?{hf}");
    assert!(equiv(
        &h,
        &format!("sip:a@b.com?{}", hr.to_uppercase().replace('V', "v"))
    ));
    assert!(!equiv(
        &h,
        &format!("sip:a@b.com?{}", hr.replace("v3", "V3"))
    ));
    assert!(!equiv(&h, &format!("sip:a@b.com?{hr}&x=1")));
}

#[test]
fn error_display() {
    let e = Uri::parse("sip:alice@host:65536").unwrap_err();
    assert_eq!(e.to_string(), "invalid port at byte 15");
    assert_eq!(UriErrorKind::MissingScheme.to_string(), "missing scheme");
    assert_eq!(UriErrorKind::EmptyHost.to_string(), "empty host");
    assert_eq!(
        UriErrorKind::InvalidIpv6.to_string(),
        "invalid IPv6 reference"
    );
    assert_eq!(
        UriErrorKind::InvalidUserChar.to_string(),
        "invalid character in user part"
    );
    assert_eq!(
        UriErrorKind::InvalidEscape.to_string(),
        "invalid escape sequence"
    );
    assert_eq!(UriErrorKind::EmptyTelNumber.to_string(), "empty tel number");
    assert_eq!(
        UriErrorKind::MissingPhoneContext.to_string(),
        "local tel number without phone-context"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers on SipUri.

#[test]
fn param_helpers() {
    let mut u = sip("sip:alice@atlanta.com;Transport=TCP;lr;ttl=15;maddr=239.255.255.1;user=phone;method=INVITE;x=a%20b");
    assert_eq!(u.param("transport"), Some(Some("TCP")));
    assert_eq!(u.param("TRANSPORT"), Some(Some("TCP")));
    assert_eq!(u.param("lr"), Some(None));
    assert_eq!(u.param("nope"), None);
    assert!(u.has_param("LR"));
    assert!(u.lr());
    assert_eq!(u.transport(), Some("TCP"));
    assert_eq!(u.ttl(), Some(15));
    assert_eq!(u.maddr(), Some("239.255.255.1"));
    assert_eq!(u.user_param(), Some("phone"));
    assert_eq!(u.method_param(), Some("INVITE"));
    assert_eq!(u.param("x"), Some(Some("a%20b")));

    u.set_param("transport", Some("udp"));
    assert_eq!(u.transport(), Some("udp"));
    assert_eq!(u.params.first().map(|p| p.name.as_str()), Some("Transport"));
    u.set_param("new", Some("a b;c"));
    assert_eq!(u.param("new"), Some(Some("a%20b%3Bc")));
    u.set_param("flag", None);
    u.set_param("empty", Some(""));
    assert_eq!(u.param("flag"), Some(None));
    assert_eq!(u.param("empty"), Some(None));
    let removed = u.remove_param("LR").unwrap();
    assert_eq!(removed, UriParam::new("lr", None::<String>));
    assert!(!u.lr());
    assert_eq!(u.remove_param("lr"), None);
    // The result still round-trips.
    assert_eq!(Uri::parse(&u.to_string()), Ok(Uri::Sip(u.clone())));

    for (v, ttl) in [
        ("0", Some(0)),
        ("255", Some(255)),
        ("256", None),
        ("+1", None),
        ("0001", None),
        ("x", None),
    ] {
        let u = sip(&format!("sip:h;ttl={v}"));
        assert_eq!(u.ttl(), ttl, "{v}");
    }
    assert_eq!(sip("sip:h;ttl").ttl(), None);
    assert_eq!(sip("sip:h;transport").transport(), None);
}

#[test]
fn user_unescaped_and_ports() {
    let u = sip("sip:j%40s0n:p%20w@host");
    assert_eq!(u.user_unescaped().as_deref(), Some("j@s0n"));
    assert_eq!(u.password_unescaped().as_deref(), Some("p w"));
    assert_eq!(sip("sip:host").user_unescaped(), None);
    assert_eq!(
        sip("sip:%FFx@host").user_unescaped().as_deref(),
        Some("\u{FFFD}x")
    );

    assert_eq!(sip("sip:host").default_port(), 5060);
    assert_eq!(sip("sips:host").default_port(), 5061);
    assert_eq!(sip("sip:host;transport=TLS").default_port(), 5061);
    assert_eq!(sip("sip:host").port_or_default(), 5060);
    assert_eq!(sip("sip:host:5070").port_or_default(), 5070);
    assert_eq!(Scheme::Sip.default_port(), 5060);
    assert_eq!(Scheme::Sips.default_port(), 5061);
    assert_eq!(Scheme::Sips.to_string(), "sips");
    assert_eq!(sip("sip:host").host_port(), "host");
    assert_eq!(sip("sip:u@host:1;lr").host_port(), "host:1");
    assert_eq!(sip("sip:[::1]").host_port(), "[::1]");
}

#[test]
fn builder() {
    let u = SipUri::new(Scheme::Sip, Host::Domain("atlanta.com".into()))
        .with_user("j@s0n")
        .with_password("p w")
        .with_port(5060)
        .with_param("transport", Some("tcp"))
        .with_param("lr", None)
        .with_header("Subject", "project x")
        .with_header("priority", "urgent");
    assert_eq!(
        u.to_string(),
        "sip:j%40s0n:p%20w@atlanta.com:5060;transport=tcp;lr?Subject=project%20x&priority=urgent"
    );
    assert_eq!(Uri::parse(&u.to_string()), Ok(Uri::Sip(u.clone())));
    let v = SipUri::new(Scheme::Sips, Host::Ipv6(Ipv6Addr::LOCALHOST));
    assert_eq!(v.to_string(), "sips:[::1]");
    assert_eq!(Uri::from(v.clone()).to_string(), "sips:[::1]");
    assert_eq!(SipUri::parse("sips:[::1]"), Ok(v));
}

// ---------------------------------------------------------------------------------------------
// Escaping.

#[test]
fn escape_functions() {
    assert_eq!(unescape("project%20x").unwrap(), "project x");
    assert!(matches!(
        unescape("plain").unwrap(),
        std::borrow::Cow::Borrowed("plain")
    ));
    assert_eq!(unescape("%C3%A9t%c3%a9").unwrap(), "été");
    assert_eq!(unescape("100%25").unwrap(), "100%");
    let e = unescape("ab%2").unwrap_err();
    assert_eq!((e.kind, e.offset), (UriErrorKind::InvalidEscape, 2));
    let e = unescape("%zz").unwrap_err();
    assert_eq!((e.kind, e.offset), (UriErrorKind::InvalidEscape, 0));
    let e = unescape("ab%C3%28").unwrap_err();
    assert_eq!((e.kind, e.offset), (UriErrorKind::InvalidUtf8, 2));
    let e = unescape("%41%42x%FF").unwrap_err();
    assert_eq!((e.kind, e.offset), (UriErrorKind::InvalidUtf8, 7));
    assert_eq!(unescape_bytes("%FF%00a").unwrap().as_ref(), b"\xff\x00a");
    assert_eq!(unescape_lossy("a%FFb%zz%4"), "a\u{FFFD}b%zz%4");
    assert_eq!(unescape_lossy("a%20b"), "a b");

    assert_eq!(escape_user("j@s0n"), "j%40s0n");
    assert_eq!(escape_user("+1-212;x=y?/&$,"), "+1-212;x=y?/&$,");
    assert_eq!(escape_user("a:b#c%d é"), "a%3Ab%23c%25d%20%C3%A9");
    assert_eq!(escape_password("p:w;@"), "p%3Aw%3B%40");
    assert_eq!(escape_password("&=+$,"), "&=+$,");
    assert_eq!(escape_param("a=b;c?d"), "a%3Db%3Bc%3Fd");
    assert_eq!(escape_param("[::1]:5060/&+$"), "[::1]:5060/&+$");
    assert_eq!(escape_header("project x"), "project%20x");
    assert_eq!(escape_header("a&b=c?d"), "a%26b%3Dc?d");
    assert!(matches!(
        escape_user("alice"),
        std::borrow::Cow::Borrowed("alice")
    ));
    for s in ["j@s0n", "a b%c", "é;?/:&=", "\u{0}\u{7f}", ""] {
        assert_eq!(unescape(&escape_user(s)).unwrap(), s);
        assert_eq!(unescape(&escape_password(s)).unwrap(), s);
        assert_eq!(unescape(&escape_param(s)).unwrap(), s);
        assert_eq!(unescape(&escape_header(s)).unwrap(), s);
    }
}

#[test]
fn escape_normalized_comparison() {
    use escape::{cmp_norm, eq_norm, RESERVED};
    assert!(eq_norm("%61", "a", RESERVED, false));
    assert!(eq_norm("%41", "a", RESERVED, true));
    assert!(!eq_norm("%41", "a", RESERVED, false));
    assert!(eq_norm("%3b", "%3B", RESERVED, false));
    assert!(!eq_norm("%3B", ";", RESERVED, false));
    assert!(!eq_norm("%25", "%", RESERVED, false));
    assert!(!eq_norm("%2541", "%41", RESERVED, false));
    assert_eq!(
        cmp_norm("a", "%62", RESERVED, false),
        std::cmp::Ordering::Less
    );
    assert_eq!(
        cmp_norm("%41", "a", RESERVED, true),
        std::cmp::Ordering::Equal
    );
}

// ---------------------------------------------------------------------------------------------
// tel URIs (RFC 3966).

#[test]
fn rfc3966_examples() {
    // RFC 3966 §6.
    let t = tel("tel:+1-201-555-0123");
    assert!(t.is_global());
    assert_eq!(t.number, "+1-201-555-0123");
    assert_eq!(t.digits(), "+12015550123");
    assert!(t.params.is_empty());
    round_trip_exact("tel:+1-201-555-0123");

    let t = tel("tel:7042;phone-context=example.com");
    assert!(!t.is_global());
    assert_eq!(t.digits(), "7042");
    assert!(matches!(t.digits(), std::borrow::Cow::Borrowed(_)));
    assert_eq!(t.phone_context(), Some("example.com"));
    round_trip_exact("tel:7042;phone-context=example.com");

    let t = tel("tel:863-1234;phone-context=+1-914-555");
    assert!(!t.is_global());
    assert_eq!(t.digits(), "8631234");
    assert_eq!(t.phone_context(), Some("+1-914-555"));
    round_trip_exact("tel:863-1234;phone-context=+1-914-555");
}

#[test]
fn tel_valid() {
    for s in [
        "tel:+1",
        "tel:+(1)-.2",
        "tel:+1-201-555-0123;ext=1234",
        "tel:+1-201-555-0123;isub=12345;x-foo=bar",
        "tel:+1-201-555-0123;isub=a/b?c:d@e&f=g+h$i,j%20",
        "tel:+358-555-1234567;postd=pp22",
        "tel:*67#;phone-context=example.com",
        "tel:ABCD;phone-context=+1",
        "tel:911;phone-context=+1",
        "tel:1234;phone-context=pbx.example.com.",
        "tel:+1234;phone-context=example.com",
        "tel:+1234;flag;x=[a]/b:c&d+e$f",
        "tel:+1234;m-mandatory=1",
    ] {
        let u = round_trip_exact(s);
        assert!(u.equivalent(&u), "{s}");
    }
    let t = tel("tel:+1-201-555-0123;ext=1234");
    assert_eq!(t.ext(), Some("1234"));
    assert_eq!(t.isub(), None);
    assert_eq!(t.param("EXT"), Some(Some("1234")));
    let t = tel("tel:+1;isub=99;Flag");
    assert_eq!(t.isub(), Some("99"));
    assert_eq!(t.param("flag"), Some(None));
    assert!(t.has_param("FLAG"));
    assert!(!t.has_param("ext"));
    assert_eq!(t.phone_context(), None);
}

#[test]
fn tel_errors() {
    use UriErrorKind::*;
    let cases: &[(&str, UriErrorKind, usize)] = &[
        ("tel:", EmptyTelNumber, 4),
        ("tel:+", EmptyTelNumber, 4),
        ("tel:+--", EmptyTelNumber, 4),
        ("tel:;phone-context=+1", EmptyTelNumber, 4),
        ("tel:+1 212", InvalidTelNumber, 6),
        ("tel:+12a", InvalidTelNumber, 7),
        ("tel:12x;phone-context=+1", InvalidTelNumber, 6),
        ("tel:+1234?x=y", InvalidTelNumber, 9),
        ("tel:1+1;phone-context=+1", InvalidTelNumber, 5),
        ("tel:1234", MissingPhoneContext, 4),
        ("tel:1234;ext=5", MissingPhoneContext, 4),
        ("tel:+1;", EmptyParamName, 7),
        ("tel:+1;=x", EmptyParamName, 7),
        ("tel:+1;a_b=1", InvalidParamChar, 8),
        ("tel:+1;a=b=c", InvalidParamChar, 10),
        ("tel:+1;a=b c", InvalidParamChar, 10),
        ("tel:+1;a=", EmptyParamValue, 9),
        ("tel:+1;a=%G0", InvalidEscape, 9),
        ("tel:+1;ext=12a", InvalidExtension, 13),
        ("tel:+1;ext", InvalidExtension, 7),
        ("tel:+1;isub", InvalidIsub, 7),
        ("tel:+1;isub=a b", InvalidIsub, 13),
        ("tel:7042;phone-context=", EmptyParamValue, 23),
        ("tel:7042;phone-context", InvalidPhoneContext, 9),
        (
            "tel:7042;phone-context=exa mple.com",
            InvalidPhoneContext,
            23,
        ),
        ("tel:7042;phone-context=123", InvalidPhoneContext, 23),
        ("tel:7042;phone-context=+", InvalidPhoneContext, 23),
        ("tel:7042;phone-context=+1a", InvalidPhoneContext, 23),
        ("tel:+1;ext=1;EXT=2", DuplicateParam, 13),
        (
            "tel:1;phone-context=a.com;phone-context=b.com",
            DuplicateParam,
            26,
        ),
    ];
    for &(s, kind, offset) in cases {
        assert_eq!(err(s), (kind, offset), "{s:?}");
    }
}

#[test]
fn tel_equivalence() {
    // RFC 3966 §4.
    assert!(equiv("tel:+1-201-555-0123", "tel:+12015550123"));
    assert!(equiv("tel:+1-201-555-0123", "tel:+1.201.(555).0123"));
    assert!(!equiv("tel:+1-201-555-0123", "tel:+1-201-555-0124"));
    assert!(!equiv(
        "tel:+1234;phone-context=+1",
        "tel:1234;phone-context=+1"
    ));
    assert!(equiv(
        "tel:12ab;phone-context=+1",
        "tel:12AB;phone-context=+1"
    ));
    assert!(equiv(
        "tel:863-1234;phone-context=+1-914-555",
        "tel:8631234;phone-context=+1914555"
    ));
    assert!(equiv(
        "tel:7042;phone-context=Example.COM",
        "tel:7042;phone-context=example.com"
    ));
    assert!(!equiv(
        "tel:7042;phone-context=example.com",
        "tel:7042;phone-context=example.org"
    ));
    assert!(!equiv(
        "tel:7042;phone-context=+1",
        "tel:7042;phone-context=example.com"
    ));
    // RFC 3261 §19.1.6: these tel URLs are equivalent.
    assert!(equiv(
        "tel:+358-555-1234567;postd=pp22",
        "tel:+358-555-1234567;POSTD=PP22"
    ));
    // Parameter order is not significant; a parameter in only one URI makes them differ.
    assert!(equiv("tel:+1;a=1;b=2", "tel:+1;b=2;a=1"));
    assert!(!equiv("tel:+1;a=1", "tel:+1"));
    assert!(!equiv("tel:+1;a=1", "tel:+1;b=1"));
    assert!(!equiv("tel:+1;a", "tel:+1;a=1"));
    assert!(equiv("tel:+1;isub=AB", "tel:+1;isub=ab"));
    assert!(equiv("tel:+1;ext=1-2", "tel:+1;ext=12"));
    assert!(equiv("tel:+1;x=%41", "tel:+1;x=a"));
    assert!(!equiv("tel:+1;x=%2F", "tel:+1;x=/"));
}

// ---------------------------------------------------------------------------------------------
// Other URIs.

#[test]
fn other_errors() {
    use UriErrorKind::*;
    for &(s, kind, offset) in &[
        ("foo:", EmptyBody, 4),
        ("foo:a b", InvalidChar, 5),
        ("foo:a<b", InvalidChar, 5),
        ("foo:a\"b", InvalidChar, 5),
        ("foo:%zz", InvalidEscape, 4),
        ("foo:ab%4", InvalidEscape, 6),
        ("foo:é", InvalidChar, 4),
    ] {
        assert_eq!(err(s), (kind, offset), "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.

mod prop {
    use proptest::prelude::*;
    use proptest::string::string_regex;

    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::super::escape::{eq_norm, RESERVED};
    use super::super::*;

    fn re(r: &str) -> BoxedStrategy<String> {
        string_regex(r).expect("valid regex").boxed()
    }

    fn host() -> BoxedStrategy<String> {
        prop_oneof![
            re("([a-z0-9]([a-z0-9_-]{0,4}[a-z0-9])?\\.){0,3}[a-zA-Z]([a-zA-Z0-9-]{0,4}[a-z0-9])?\\.?"),
            any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        ]
        .boxed()
    }

    fn dedup(v: Vec<(String, Option<String>)>) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (n, val) in v {
            if !out.iter().any(|(m, _)| eq_norm(m, &n, RESERVED, true)) {
                out.push((n, val));
            }
        }
        out
    }

    fn sip_uri_text() -> impl Strategy<Value = (String, bool)> {
        let user = re("([a-zA-Z0-9._~!*'()&=+$,;?/#-]|%[0-9A-Fa-f]{2}){1,10}");
        let password = re("([a-zA-Z0-9._~!*'()&=+$,-]|%[0-9a-fA-F]{2}){0,6}");
        let pchar = "([a-zA-Z0-9._~!*'()\\[\\]/:&+$-]|%[0-9A-F]{2})";
        let params = prop::collection::vec(
            (
                re(&format!("{pchar}{{1,8}}")),
                prop::option::of(re(&format!("{pchar}{{1,8}}"))),
            ),
            0..5,
        )
        .prop_map(dedup);
        let hchar = "([a-zA-Z0-9._~!*'()\\[\\]/?:+$-]|%[0-9A-F]{2})";
        let headers = prop::collection::vec(
            (
                re(&format!("{hchar}{{1,6}}")),
                re(&format!("{hchar}{{0,6}}")),
            ),
            0..3,
        );
        (
            prop::sample::select(vec!["sip", "sips", "SIP", "Sips"]),
            prop::option::of((user, prop::option::of(password))),
            host(),
            prop::option::of(any::<u16>()),
            params,
            headers,
        )
            .prop_map(|(scheme, userinfo, host, port, params, headers)| {
                let mut s = format!("{scheme}:");
                if let Some((u, p)) = userinfo {
                    s.push_str(&u);
                    if let Some(p) = p {
                        s.push(':');
                        s.push_str(&p);
                    }
                    s.push('@');
                }
                s.push_str(&host);
                if let Some(p) = port {
                    s.push_str(&format!(":{p}"));
                }
                for (n, v) in params {
                    s.push(';');
                    s.push_str(&n);
                    if let Some(v) = v {
                        s.push('=');
                        s.push_str(&v);
                    }
                }
                for (i, (n, v)) in headers.iter().enumerate() {
                    s.push(if i == 0 { '?' } else { '&' });
                    s.push_str(&format!("{n}={v}"));
                }
                let exact = scheme.chars().all(|c| c.is_ascii_lowercase());
                (s, exact)
            })
    }

    fn tel_uri_text() -> impl Strategy<Value = String> {
        let global = re("\\+[0-9().-]{0,5}[0-9][0-9().-]{0,8}");
        let local = re("[0-9A-Fa-f*#().-]{0,4}[0-9A-F*#][0-9a-f*#().-]{0,6}");
        let context = prop_oneof![
            re("\\+[0-9-]{0,3}[0-9][0-9().-]{0,5}"),
            re("([a-z0-9]{1,5}\\.){0,2}[a-z][a-z0-9]{0,4}"),
        ];
        let pchar = "([a-zA-Z0-9._~!*'()\\[\\]/:&+$-]|%[0-9A-F]{2})";
        let other = prop::collection::vec(
            (
                re("[a-zA-Z0-9-]{1,6}"),
                prop::option::of(re(&format!("{pchar}{{1,6}}"))),
            ),
            0..4,
        );
        let first = prop_oneof![
            Just(String::new()),
            re("[0-9().-]{0,3}[0-9]{1,4}").prop_map(|e| format!(";ext={e}")),
            re("[a-zA-Z0-9/?:@&=+$,._~!*'()-]{1,6}").prop_map(|i| format!(";isub={i}")),
        ];
        (prop::bool::ANY, global, local, context, first, other).prop_map(
            |(is_global, g, l, ctx, first, other)| {
                let mut s = String::from("tel:");
                s.push_str(if is_global { &g } else { &l });
                s.push_str(&first);
                if !is_global {
                    s.push_str(";phone-context=");
                    s.push_str(&ctx);
                }
                let mut seen: Vec<String> =
                    vec!["ext".into(), "isub".into(), "phone-context".into()];
                for (n, v) in other {
                    if seen.iter().any(|m| m.eq_ignore_ascii_case(&n)) {
                        continue;
                    }
                    seen.push(n.clone());
                    s.push(';');
                    s.push_str(&n);
                    if let Some(v) = v {
                        s.push('=');
                        s.push_str(&v);
                    }
                }
                s
            },
        )
    }

    fn uri_ish() -> BoxedStrategy<String> {
        prop_oneof![
            any::<String>(),
            re("(sip|sips|tel|SIP|TeL|foo|x)?:?[a-zA-Z0-9@:;=?&%\\[\\]+.#*()/,$!~'_ <>\"\\\\-]{0,40}"),
            re("sips?:([a-z%0-9:;@]{0,8}@)?(\\[[0-9a-fA-F:.]{0,20}\\]|[a-z0-9.-]{0,10})(:[0-9]{0,7})?(;[a-z%0-9=\\[\\]:]{0,6}){0,4}(\\?[a-z%0-9=&?]{0,10})?"),
            re("tel:[+0-9a-fA-F*#().;=-]{0,20}(;phone-context=[+0-9a-z.-]{0,10})?"),
        ]
        .boxed()
    }

    fn check_round_trip(u: &Uri) {
        let text = u.to_string();
        assert_eq!(Uri::parse(&text).as_ref(), Ok(u), "display: {text:?}");
        assert!(u.equivalent(u), "not reflexive: {text:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn sip_round_trip((text, exact) in sip_uri_text()) {
            let u = Uri::parse(&text);
            prop_assert!(u.is_ok(), "{:?} rejected: {:?}", text, u);
            let u = u.unwrap();
            prop_assert!(matches!(u, Uri::Sip(_)));
            if exact {
                prop_assert_eq!(u.to_string(), text.clone());
            }
            check_round_trip(&u);
            let s = SipUri::parse(&text);
            prop_assert_eq!(s.map(Uri::Sip), Ok(u.clone()));
        }

        #[test]
        fn tel_round_trip(text in tel_uri_text()) {
            let u = Uri::parse(&text);
            prop_assert!(u.is_ok(), "{:?} rejected: {:?}", text, u);
            let u = u.unwrap();
            prop_assert!(matches!(u, Uri::Tel(_)));
            prop_assert_eq!(u.to_string(), text.clone());
            check_round_trip(&u);
        }

        #[test]
        fn parse_never_panics(text in uri_ish()) {
            match Uri::parse(&text) {
                Ok(u) => check_round_trip(&u),
                Err(e) => {
                    prop_assert!(e.offset <= text.len());
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            let _ = SipUri::parse(&text);
            let _ = TelUri::parse(&text);
            let _ = Host::parse(&text);
            let _ = escape::unescape(&text);
            let _ = escape::unescape_lossy(&text);
            if let Ok(u) = SipUri::parse(&text) {
                let _ = (u.user_unescaped(), u.ttl(), u.host_port(), u.default_port());
            }
        }

        #[test]
        fn escape_round_trip(text in any::<String>()) {
            prop_assert_eq!(escape::unescape(&escape::escape_user(&text)).unwrap().into_owned(), text.clone());
            prop_assert_eq!(escape::unescape(&escape::escape_password(&text)).unwrap().into_owned(), text.clone());
            prop_assert_eq!(escape::unescape(&escape::escape_param(&text)).unwrap().into_owned(), text.clone());
            prop_assert_eq!(escape::unescape(&escape::escape_header(&text)).unwrap().into_owned(), text.clone());
        }

        #[test]
        fn builder_round_trip(user in any::<String>(), pw in any::<String>(), name in "[a-z]{1,5}",
                              value in any::<String>(), hn in any::<String>(), hv in any::<String>()) {
            let mut u = SipUri::new(Scheme::Sip, Host::Domain("example.com".into()))
                .with_param(&name, Some(&value))
                .with_header(&hn, &hv);
            if !user.is_empty() {
                u = u.with_user(&user).with_password(&pw);
            }
            let text = u.to_string();
            prop_assert_eq!(SipUri::parse(&text), Ok(u.clone()), "{}", text);
            if !user.is_empty() {
                prop_assert_eq!(u.user_unescaped().unwrap(), user.as_str());
            }
        }
    }
}

/// RFC 7118 §5.2, §5.5 and RFC 3261 §26.2.2: the transport a URI names is
/// read with its scheme; `wss` and `tls` as some write them.
#[test]
fn transport_protocol_reads_the_scheme() {
    use crate::Transport::*;
    let t = |s: &str| sip(s).transport_protocol();
    assert_eq!(t("sips:a@192.0.2.1:443;transport=ws"), Some(Wss));
    assert_eq!(t("sips:a@192.0.2.1:443;transport=WS"), Some(Wss));
    assert_eq!(t("sip:a@192.0.2.1:80;transport=ws"), Some(Ws));
    assert_eq!(t("sips:a@192.0.2.1;transport=wss"), Some(Wss));
    assert_eq!(t("sip:a@192.0.2.1;transport=wss"), Some(Wss));
    assert_eq!(t("sips:a@192.0.2.1;transport=tcp"), Some(Tls));
    assert_eq!(t("sip:a@192.0.2.1;transport=tls"), Some(Tls));
    assert_eq!(t("sip:a@192.0.2.1;transport=tcp"), Some(Tcp));
    assert_eq!(t("sip:a@192.0.2.1;transport=udp"), Some(Udp));
    assert_eq!(t("sips:a@192.0.2.1"), None);
    assert_eq!(t("sip:a@192.0.2.1;transport=quic"), None);
}
