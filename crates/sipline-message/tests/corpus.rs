//! The parser over the test corpus in `tests/data` (see `tests/data/README.md`):
//!
//! * `rfc3261/`, `rfc3665/`: every complete message printed in RFC 3261 §24
//!   and RFC 3665, extracted by `tools/extract_rfc_messages.py` (which also
//!   writes `MANIFEST`, the list of files it produced). Each must parse
//!   strictly, validate, survive a round trip, serialize back to its own
//!   bytes, and show sensible typed fields.
//! * `edge/`: hand-written edge and hostile cases, each with its expected
//!   outcome in `edge/EXPECT`.
//!
//! Every case is checked and all failures are reported together, so one bad
//! file does not hide the others. URI details are not asserted beyond
//! `to_string()` round trips.

use sipline_message::header::StdHeader;
use sipline_message::parse::{parse, ParseOptions, Parsed};
use sipline_message::{Bytes, LineEnding, Message, Method, Uri};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `tools/extract_rfc_messages.py` writes (see the README's counts).
const RFC3261_FIXTURES: usize = 16;
const RFC3665_FIXTURES: usize = 175;
const RFC_DIRS: [(&str, usize); 2] = [("rfc3261", RFC3261_FIXTURES), ("rfc3665", RFC3665_FIXTURES)];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

fn strict() -> ParseOptions {
    ParseOptions {
        strict: true,
        ..ParseOptions::default()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `.sip` files of a directory under `tests/data`, sorted by name.
fn sip_files(dir: &str) -> Vec<String> {
    let path = data_dir().join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("listing {}: {e}", path.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .filter(|n| n.ends_with(".sip"))
        .collect();
    names.sort();
    names
}

/// `MANIFEST`: `rfcNNNN/<file>` per line.
fn manifest() -> Vec<String> {
    let text = String::from_utf8(read(&data_dir().join("MANIFEST"))).expect("MANIFEST is UTF-8");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn finish(what: &str, checked: usize, failures: Vec<String>) {
    if !failures.is_empty() {
        let mut report = format!("{} of {checked} {what} failed:\n", failures.len());
        for f in &failures {
            let _ = writeln!(report, "- {f}");
        }
        panic!("{report}");
    }
}

fn error_at(e: &sipline_message::ParseError, input: &[u8]) -> String {
    let (line, col) = e.line_col(input);
    format!("{e} (line {line}, column {col})")
}

#[test]
fn rfc_fixture_counts_match_manifest() {
    let manifest = manifest();
    assert_eq!(
        manifest.len(),
        RFC3261_FIXTURES + RFC3665_FIXTURES,
        "MANIFEST lists {} fixtures; regenerate with tools/extract_rfc_messages.py \
         and update the counts in this test",
        manifest.len()
    );
    for (dir, expected) in RFC_DIRS {
        let on_disk: Vec<String> = sip_files(dir)
            .into_iter()
            .map(|n| format!("{dir}/{n}"))
            .collect();
        let mut listed: Vec<String> = manifest
            .iter()
            .filter(|m| m.starts_with(&format!("{dir}/")))
            .cloned()
            .collect();
        listed.sort();
        assert_eq!(
            on_disk.len(),
            expected,
            "{dir}: {} fixtures on disk, expected {expected}",
            on_disk.len()
        );
        assert_eq!(on_disk, listed, "{dir}: files on disk differ from MANIFEST");
    }
}

/// The fixture with folded header lines joined as the parser joins them: the
/// line break and the white space starting the next line become one SP
/// (RFC 3261 §7.3.1). Serialization writes each row on one line, so this is
/// what it must reproduce; a fixture without folding must come back as is.
fn unfolded(fixture: &[u8]) -> Vec<u8> {
    let split = find(fixture, b"\r\n\r\n").expect("fixture has an empty line") + 2;
    let (head, rest) = fixture.split_at(split);
    let mut out: Vec<u8> = Vec::with_capacity(fixture.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // replace the previous line's CRLF by one SP
            out.truncate(out.len() - 2);
            while out.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
                out.pop();
            }
            let content = line
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(line.len());
            out.push(b' ');
            out.extend_from_slice(&line[content..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn has_folding(fixture: &[u8]) -> bool {
    let head_end = find(fixture, b"\r\n\r\n").unwrap_or(fixture.len());
    fixture[..head_end]
        .windows(3)
        .any(|w| w == b"\r\n " || w == b"\r\n\t")
}

/// Header rows as the fixture prints them (lines not starting with white space).
fn printed_rows(fixture: &[u8]) -> usize {
    let head_end = find(fixture, b"\r\n\r\n").unwrap_or(fixture.len());
    fixture[..head_end]
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !matches!(l.first(), Some(b' ' | b'\t')))
        .count()
}

fn check_uri_round_trip(uri: &Uri, what: &str) -> Result<(), String> {
    let text = uri.to_string();
    let again =
        Uri::parse(&text).map_err(|e| format!("{what}: {text:?} does not parse again: {e}"))?;
    if again.to_string() != text {
        return Err(format!(
            "{what}: {text:?} serializes as {:?} after a round trip",
            again.to_string()
        ));
    }
    Ok(())
}

fn check_rfc_fixture(rel: &str) -> Result<(), String> {
    let bytes = read(&data_dir().join(rel));
    let input = Bytes::from(bytes.clone());
    let Parsed {
        message: m,
        line_ending,
        length,
    } = parse(input.clone(), &strict())
        .map_err(|e| format!("strict parse: {}", error_at(&e, &bytes)))?;
    if line_ending != LineEnding::Crlf {
        return Err(format!(
            "line ending read as {line_ending}, fixture is CRLF"
        ));
    }
    if length != bytes.len() {
        return Err(format!("parse took {length} bytes of {}", bytes.len()));
    }
    m.validate(true)
        .map_err(|e| format!("validate(true): {}", error_at(&e, &bytes)))?;

    // round trip: parse(to_bytes(m)) == m
    let out = m.to_bytes();
    let again = parse(out.clone(), &strict())
        .map_err(|e| format!("re-parse of serialization: {}", error_at(&e, &out)))?
        .message;
    if again != m {
        return Err(format!(
            "round trip changed the message:\n{m:?}\n!=\n{again:?}"
        ));
    }
    // byte for byte: the fixture itself, or with its folded rows joined
    let expected = if has_folding(&bytes) {
        unfolded(&bytes)
    } else {
        bytes.clone()
    };
    if out[..] != expected[..] {
        let at = out
            .iter()
            .zip(expected.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(out.len().min(expected.len()));
        return Err(format!(
            "serialization differs from the fixture{} at byte {at}:\n{:?}\n!=\n{:?}",
            if has_folding(&bytes) {
                " (unfolded)"
            } else {
                ""
            },
            String::from_utf8_lossy(&out[at.saturating_sub(20)..(at + 40).min(out.len())]),
            String::from_utf8_lossy(
                &expected[at.saturating_sub(20)..(at + 40).min(expected.len())]
            ),
        ));
    }
    if m.headers().len() != printed_rows(&bytes) {
        return Err(format!(
            "{} header rows, the fixture prints {}",
            m.headers().len(),
            printed_rows(&bytes)
        ));
    }
    for row in m.headers() {
        if row.name.as_str().is_empty() {
            return Err("a header row with an empty name".into());
        }
    }

    // typed fields
    let via = m.top_via().map_err(|e| format!("top_via: {e}"))?;
    let branch = via.branch().ok_or("top Via without branch")?;
    if !branch.starts_with("z9hG4bK") {
        return Err(format!(
            "top Via branch {branch:?} lacks the z9hG4bK cookie"
        ));
    }
    if m.branch() != Some(branch) {
        return Err(format!(
            "branch() {:?} != top_via().branch() {branch:?}",
            m.branch()
        ));
    }
    let vias = m.vias().map_err(|e| format!("vias: {e}"))?;
    if vias.is_empty() || vias[0] != via {
        return Err("vias() does not start with top_via()".into());
    }
    let cseq = m.cseq().map_err(|e| format!("cseq: {e}"))?;
    match m.as_request() {
        Some(req) => {
            if cseq.method != req.method {
                return Err(format!(
                    "CSeq method {} != request method {}",
                    cseq.method, req.method
                ));
            }
            let first_line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            let first_line = std::str::from_utf8(first_line).map_err(|e| e.to_string())?;
            let uri_text = first_line.split(' ').nth(1).unwrap_or_default();
            if req.uri.to_string() != uri_text {
                return Err(format!(
                    "Request-URI {uri_text:?} serializes as {:?}",
                    req.uri.to_string()
                ));
            }
            check_uri_round_trip(&req.uri, "Request-URI")?;
            match m.max_forwards().map_err(|e| format!("max_forwards: {e}"))? {
                Some(n) if n <= 70 => {}
                other => return Err(format!("Max-Forwards {other:?}")),
            }
        }
        None => {
            let resp = m.as_response().expect("a response");
            let code = resp.status.as_u16();
            if !(100..=699).contains(&code) {
                return Err(format!("status {code}"));
            }
            if !Method::KNOWN.contains(&cseq.method) {
                return Err(format!(
                    "response CSeq method {} is not a known method",
                    cseq.method
                ));
            }
            if m.method() != Some(cseq.method.clone()) {
                return Err("method() of a response is not its CSeq method".into());
            }
        }
    }
    let from = m.from_header().map_err(|e| format!("from: {e}"))?;
    let tag = from.tag().ok_or("From without tag")?;
    if m.from_tag() != Some(tag) {
        return Err(format!(
            "from_tag() {:?} != from().tag() {tag:?}",
            m.from_tag()
        ));
    }
    check_uri_round_trip(&from.uri, "From URI")?;
    let to = m.to_header().map_err(|e| format!("to: {e}"))?;
    if m.to_tag() != to.tag() {
        return Err(format!(
            "to_tag() {:?} != to().tag() {:?}",
            m.to_tag(),
            to.tag()
        ));
    }
    check_uri_round_trip(&to.uri, "To URI")?;
    if m.call_id().is_none_or(str::is_empty) {
        return Err("no Call-ID".into());
    }
    for c in m.contacts().map_err(|e| format!("contacts: {e}"))? {
        if let Some(a) = c.address() {
            check_uri_round_trip(&a.uri, "Contact URI")?;
        }
    }
    for r in m.routes().map_err(|e| format!("routes: {e}"))? {
        check_uri_round_trip(&r.uri, "Route URI")?;
    }
    for r in m
        .record_routes()
        .map_err(|e| format!("record_routes: {e}"))?
    {
        check_uri_round_trip(&r.uri, "Record-Route URI")?;
    }
    match m
        .content_length()
        .map_err(|e| format!("content_length: {e}"))?
    {
        Some(n) if n as usize == m.body().len() => {}
        None if m.body().is_empty() => {}
        other => {
            return Err(format!(
                "Content-Length {other:?} for a body of {} bytes",
                m.body().len()
            ))
        }
    }
    let ctype = m.content_type().map_err(|e| format!("content_type: {e}"))?;
    if !m.body().is_empty() {
        let ctype = ctype.ok_or("a body without Content-Type")?;
        if !ctype.is("application", "sdp") {
            return Err(format!("Content-Type {}/{}", ctype.mtype, ctype.subtype));
        }
        let sdp = m.body().starts_with(b"v=0\r\n");
        let placeholder = rel.starts_with("rfc3261/") && m.body().starts_with(b"(");
        if !(sdp || placeholder) {
            return Err(format!(
                "unexpected body {:?}",
                String::from_utf8_lossy(m.body())
            ));
        }
    }
    Ok(())
}

#[test]
fn rfc_messages() {
    let manifest = manifest();
    assert!(
        !manifest.is_empty(),
        "no fixtures: run tools/extract_rfc_messages.py"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for (dir, _) in RFC_DIRS {
        for name in sip_files(dir) {
            let rel = format!("{dir}/{name}");
            checked += 1;
            if let Err(e) = check_rfc_fixture(&rel) {
                failures.push(format!("{rel}: {e}"));
            }
        }
    }
    assert_eq!(
        checked,
        RFC3261_FIXTURES + RFC3665_FIXTURES,
        "fixtures found"
    );
    finish("RFC fixtures", checked, failures);
}

#[test]
fn rfc3261_registration_fields() {
    let m = Message::parse(read(&data_dir().join("rfc3261/24.1-F1.sip"))).expect("24.1 F1 parses");
    let req = m.as_request().expect("a request");
    assert_eq!(req.method, Method::Register);
    assert_eq!(req.uri.to_string(), "sip:registrar.biloxi.com");
    assert_eq!(m.call_id(), Some("843817637684230@998sdasdh09"));
    assert_eq!(m.cseq().unwrap().seq, 1826);
    assert_eq!(m.from_tag(), Some("456248"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(m.expires().unwrap(), Some(7200));
    assert_eq!(m.contacts().unwrap().len(), 1);

    let m = Message::parse(read(&data_dir().join("rfc3261/24.1-F2.sip"))).expect("24.1 F2 parses");
    let resp = m.as_response().expect("a response");
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(&*resp.reason, "OK");
    let via = m.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bKnashds7"));
    assert_eq!(via.received(), Some("192.0.2.4"));
    assert_eq!(via.port, Some(5060));
    assert_eq!(&*via.transport, "UDP");
}

#[test]
fn rfc3665_session_fields() {
    // §3.2 F5: two Vias (the second folded), Record-Route, SDP body
    let m = Message::parse(read(&data_dir().join("rfc3665/3.2-F5.sip"))).expect("3.2 F5 parses");
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].branch(), Some("z9hG4bK2d4790.1"));
    assert_eq!(vias[1].received(), Some("192.0.2.101"));
    assert_eq!(m.record_routes().unwrap().len(), 1);
    assert_eq!(m.max_forwards().unwrap(), Some(69));
    assert_eq!(m.content_length().unwrap(), Some(151));
    assert_eq!(m.body().len(), 151);
    assert!(m.content_type().unwrap().unwrap().is("application", "sdp"));

    // §2.4 F1: Contact: * and Expires: 0
    let m = Message::parse(read(&data_dir().join("rfc3665/2.4-F1.sip"))).expect("2.4 F1 parses");
    assert_eq!(m.expires().unwrap(), Some(0));
    assert_eq!(m.headers().get(StdHeader::Contact).map(|v| &**v), Some("*"));
}

// ---------------------------------------------------------------------------
// edge/

/// `edge/EXPECT`: (file, expectation) in file order.
fn edge_expectations() -> Vec<(String, String)> {
    let text =
        String::from_utf8(read(&data_dir().join("edge").join("EXPECT"))).expect("EXPECT is UTF-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, exp) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("EXPECT line without TAB: {l:?}"));
            (file.to_owned(), exp.to_owned())
        })
        .collect()
}

fn edge_options(name: &str) -> ParseOptions {
    if name.starts_with("strict-") {
        strict()
    } else {
        ParseOptions::default()
    }
}

/// The bytes after the first empty line of a file (CRLF files).
fn after_head(bytes: &[u8]) -> &[u8] {
    &bytes[find(bytes, b"\r\n\r\n").expect("an empty line") + 4..]
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

/// What a particular edge file must parse to, beyond "it parses".
fn check_edge_details(name: &str, bytes: &[u8], p: &Parsed) -> Result<(), String> {
    let m = &p.message;
    let subject = || m.headers().get(StdHeader::Subject).map(|v| v.to_string());
    let method = || m.as_request().map(|r| r.method.as_str().to_owned());
    let reason = || m.as_response().map(|r| r.reason.to_string());
    let uri = || m.as_request().map(|r| r.uri.to_string());
    match name {
        "compact-forms.sip" | "strict-compact-forms.sip" => {
            check(m.call_id() == Some("a84b4c76e66710"), "i: is Call-ID")?;
            check(m.from_tag() == Some("1928301774"), "f: is From")?;
            check(m.to_header().is_ok(), "t: is To")?;
            check(m.branch() == Some("z9hG4bKnashds8"), "v: is Via")?;
            check(m.contacts().map(|c| c.len()) == Ok(1), "m: is Contact")?;
            check(
                m.content_type()
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.is("application", "sdp")),
                "c: is Content-Type",
            )?;
            check(
                m.content_length() == Ok(Some(m.body().len() as u32)),
                "l: is Content-Length",
            )?;
            check(m.body().starts_with(b"v=0\r\n"), "body")?;
            if name == "compact-forms.sip" {
                check(
                    subject().as_deref() == Some("compact subject"),
                    "s: is Subject",
                )?;
                check(
                    m.headers().get(StdHeader::Supported).map(|v| &**v) == Some("100rel"),
                    "k: is Supported",
                )?;
                check(
                    m.headers().get(StdHeader::ContentEncoding).map(|v| &**v) == Some("identity"),
                    "e: is Content-Encoding",
                )?;
            }
        }
        "folded-sp-ht.sip" => {
            check(
                subject().as_deref()
                    == Some("I know you're there, pick up the phone and talk to me!"),
                &format!("folded Subject read as {:?}", subject()),
            )?;
            check(
                m.contacts().map(|c| c.len()) == Ok(2),
                "folded Contact list has 2 values",
            )?;
        }
        "strict-folded-via.sip" => {
            let via = m.top_via().map_err(|e| e.to_string())?;
            check(
                via.branch() == Some("z9hG4bK776asdhds"),
                "branch on a continuation line",
            )?;
            check(
                via.received() == Some("192.0.2.1"),
                "received on an HT continuation line",
            )?;
        }
        "odd-case-names.sip" => {
            check(
                m.call_id() == Some("a84b4c76e66710@pc33.atlanta.example.com"),
                "call-id",
            )?;
            check(m.max_forwards() == Ok(Some(70)), "max-FORWARDS")?;
            check(m.cseq().map(|c| c.method) == Ok(Method::Options), "cseq")?;
            check(m.content_length() == Ok(Some(0)), "CONTENT-LENGTH")?;
            check(m.branch() == Some("z9hG4bK776asdhds"), "vIA")?;
            check(
                m.headers().iter().any(|h| h.name.as_str() == "fRoM"),
                "names kept as written",
            )?;
        }
        "subject-1.sip" | "subject-2.sip" | "subject-3.sip" | "subject-4.sip" => {
            check(
                subject().as_deref() == Some("lunch"),
                &format!("Subject read as {:?}", subject()),
            )?;
        }
        "multi-via.sip" | "strict-multi-via.sip" => {
            let vias = m.vias().map_err(|e| e.to_string())?;
            let n = if name == "multi-via.sip" { 4 } else { 3 };
            check(
                vias.len() == n,
                &format!("{} Via values, expected {n}", vias.len()),
            )?;
            check(m.branch() == Some("z9hG4bK1a"), "top branch")?;
            check(
                &*vias[1].transport == "TCP" && vias[1].port == Some(5061),
                "second Via",
            )?;
            check(vias[2].branch() == Some("z9hG4bK776asdhds"), "third Via")?;
            if n == 4 {
                check(
                    vias[3].received() == Some("192.0.2.1") && vias[3].port == Some(5060),
                    "fourth Via",
                )?;
            }
        }
        "unknown-headers.sip" => {
            let get = |n: &str| m.headers().get(n).map(|v| v.to_string());
            check(
                get("X-Custom").as_deref() == Some("some value, with a comma"),
                "X-Custom",
            )?;
            check(
                get("x-custom") == get("X-Custom"),
                "unknown names compare case-insensitively",
            )?;
            check(
                get("P-Weird-Header").as_deref() == Some("a;b=c"),
                "P-Weird-Header",
            )?;
            check(
                get("NewFangledHeader").as_deref()
                    == Some("newfangled value continued newfangled value"),
                "NewFangledHeader",
            )?;
            check(
                get("UnknownHeaderWithUnusualValue").as_deref() == Some(";;,,;;,;"),
                "unusual value",
            )?;
            check(get("X-Empty").as_deref() == Some(""), "empty value")?;
            check(
                m.headers().len() == 12,
                &format!("{} rows, expected 12", m.headers().len()),
            )?;
        }
        "utf8-reason.sip" => {
            check(
                reason().as_deref() == Some("Très bien — d'accord ☺"),
                "UTF-8 reason",
            )?;
        }
        "status-699.sip" => {
            let r = m.as_response().ok_or("not a response")?;
            check(r.status.as_u16() == 699, "status 699")?;
            check(&*r.reason == "Something Nobody Has Heard Of", "reason")?;
        }
        "empty-reason.sip" => {
            check(
                m.as_response().map(|r| r.status.as_u16()) == Some(100),
                "status 100",
            )?;
            check(reason().as_deref() == Some(""), "empty reason")?;
        }
        "extension-method.sip" | "strict-extension-method.sip" => {
            check(method().as_deref() == Some("FOOBAR"), "method FOOBAR")?;
            check(
                matches!(
                    m.as_request().map(|r| &r.method),
                    Some(Method::Extension(_))
                ),
                "an extension method",
            )?;
            check(
                m.cseq().map(|c| c.method.as_str() == "FOOBAR") == Ok(true),
                "CSeq method",
            )?;
        }
        "lowercase-version.sip" => {
            check(
                m.to_bytes()
                    .starts_with(b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n"),
                "version",
            )?;
        }
        "bare-lf.sip" => {
            check(
                p.line_ending == LineEnding::Lf,
                &format!("line ending {}", p.line_ending),
            )?;
            check(p.length == bytes.len(), "length")?;
            check(
                m.call_id() == Some("a84b4c76e66710@pc33.atlanta.example.com"),
                "Call-ID without CR",
            )?;
            check(
                !m.to_bytes()
                    .windows(2)
                    .any(|w| w[1] == b'\n' && w[0] != b'\r'),
                "serialized with CRLF",
            )?;
        }
        "leading-crlf.sip" => {
            check(p.length == bytes.len(), "length counts the leading CRLFs")?;
            check(
                method().as_deref() == Some("OPTIONS"),
                "start line after the CRLFs",
            )?;
        }
        "no-content-length-datagram.sip" => {
            check(m.content_length() == Ok(None), "no Content-Length")?;
            check(
                &m.body()[..] == b"Watson, come here.\r\nI want to see you.\r\n",
                "body is the rest",
            )?;
            check(p.length == bytes.len(), "length")?;
        }
        "content-length-shorter.sip" => {
            check(
                &m.body()[..] == b"Watson,",
                &format!("body truncated to 7 bytes: {:?}", m.body()),
            )?;
            check(
                p.length == bytes.len() - b" come here.\r\n".len(),
                "length stops at Content-Length",
            )?;
        }
        "sipt-multipart-isup.sip" | "strict-sipt-multipart-isup.sip" => {
            let body = after_head(bytes);
            check(&m.body()[..] == body, "body byte for byte")?;
            check(
                std::str::from_utf8(m.body()).is_err(),
                "the body is not UTF-8",
            )?;
            let ct = m
                .content_type()
                .map_err(|e| e.to_string())?
                .ok_or("no Content-Type")?;
            check(ct.is("multipart", "mixed"), "multipart/mixed")?;
            check(
                ct.param("boundary").as_deref() == Some("unique-boundary-1"),
                "boundary",
            )?;
            check(
                after_head(&m.to_bytes()) == body,
                "serialized body byte for byte",
            )?;
        }
        "4475-wsinv.sip" => {
            check(m.max_forwards() == Ok(Some(68)), "MaX-fOrWaRdS: 0068")?;
            let cseq = m.cseq().map_err(|e| format!("cseq: {e}"))?;
            check(
                cseq.seq == 9 && cseq.method == Method::Invite,
                "cseq: 0009 / INVITE",
            )?;
            let vias = m.vias().map_err(|e| format!("vias: {e}"))?;
            check(vias.len() == 3, "3 Via values")?;
            check(
                &*vias[0].transport == "UDP" && vias[0].rport() == Some(None),
                "top Via",
            )?;
            check(vias[1].branch() == Some("z9hG4bK9ikj8"), "second Via")?;
            check(vias[2].branch() == Some("z9hG4bK30239"), "third Via")?;
            check(m.from_tag() == Some("98asjd8"), "From tag")?;
            check(m.to_tag() == Some("1918181833n"), "To tag")?;
            let contacts = m.contacts().map_err(|e| format!("contacts: {e}"))?;
            check(contacts.len() == 1, "one Contact")?;
            check(
                contacts[0].address().and_then(|a| a.q()) == Some(0.33),
                "q = 0.33",
            )?;
            check(subject().as_deref() == Some(""), "empty Subject")?;
            check(
                m.body().len() == m.content_length().ok().flatten().unwrap_or(0) as usize,
                "body",
            )?;
        }
        "4475-intmeth.sip" | "4475-intmeth-quoted-controls.sip" => {
            let meth = "!interesting-Method0123456789_*+`.%indeed'~";
            check(method().as_deref() == Some(meth), "method")?;
            check(
                m.cseq().map(|c| c.method.as_str() == meth) == Ok(true),
                "CSeq method",
            )?;
            check(
                m.headers().get("extensionHeader-!.%*+_`'~").map(|v| &**v)
                    == Some("\u{feff}大停電"),
                "extension header",
            )?;
            check(m.from_tag() == Some("_token~1'+`*%!-."), "From tag")?;
            check(
                m.call_id() == Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"),
                "Call-ID",
            )?;
        }
        "4475-esc01.sip" => {
            check(
                uri().as_deref() == Some("sip:sips%3Auser%40example.com@example.net"),
                "escaped Request-URI",
            )?;
            check(
                m.headers().get(StdHeader::ContentType).map(|v| &**v) == Some("application/sdp"),
                "C:",
            )?;
        }
        "4475-escnull.sip" => {
            check(m.contacts().map(|c| c.len()) == Ok(2), "two Contacts")?;
            check(m.content_length() == Ok(Some(0)), "L:0")?;
        }
        "4475-esc02.sip" => {
            check(
                method().as_deref() == Some("RE%47IST%45R"),
                "escapes are not decoded in a method",
            )?;
            check(
                m.as_request().is_some_and(|r| r.method != Method::Register),
                "not REGISTER",
            )?;
            check(m.contacts().map(|c| c.len()) == Ok(3), "three Contacts")?;
        }
        "4475-lwsdisp.sip" => {
            let from = m.from_header().map_err(|e| format!("from: {e}"))?;
            check(
                from.display_name.as_deref() == Some("caller"),
                "display name without LWS before <",
            )?;
            check(from.tag() == Some("323"), "tag")?;
        }
        "4475-longreq.sip" => {
            check(m.vias().map(|v| v.len()) == Ok(40), "40 Vias")?;
            check(
                subject().map(|s| s.len()) == Some(4000),
                "4000-byte Subject",
            )?;
            check(
                m.from_tag().is_some_and(|t| t.len() == 2 + 180 + 3),
                "long tag",
            )?;
        }
        "4475-unreason.sip" => {
            check(
                reason().as_deref() == Some("= 2**3 * 5**2 но сто девяносто девять - простое"),
                &format!("reason {:?}", reason()),
            )?;
        }
        "4475-semiuri.sip" => {
            check(
                uri().as_deref() == Some("sip:user;par=u%40example.net@example.com"),
                "Request-URI",
            )?;
        }
        "4475-transports.sip" => {
            let vias = m.vias().map_err(|e| format!("vias: {e}"))?;
            let t: Vec<&str> = vias.iter().map(|v| &*v.transport).collect();
            check(
                t == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"],
                &format!("transports {t:?}"),
            )?;
        }
        "4475-unknown-scheme.sip" => {
            check(
                uri().as_deref() == Some("nobodyKnowsThisScheme:totallyopaquecontent"),
                "Request-URI",
            )?;
        }
        "4475-novelsc.sip" => {
            check(
                uri().as_deref() == Some("soap.beep://192.0.2.103:3002"),
                "Request-URI",
            )?;
        }
        "4475-ipv6-good.sip"
        | "4475-ipv6-port.sip"
        | "strict-4475-ipv6-port.sip"
        | "4475-ipv6-received.sip" => {
            let want = if name.contains("port") {
                "sip:[2001:db8::10]:5070"
            } else {
                "sip:[2001:db8::10]"
            };
            check(
                uri().as_deref() == Some(want),
                &format!("Request-URI {:?}", uri()),
            )?;
            let via = m.top_via().map_err(|e| format!("top_via: {e}"))?;
            check(
                via.branch() == Some("z9hG4bKas3-111"),
                "Via branch after an IPv6 sent-by",
            )?;
            check(
                via.port
                    == if name.contains("port") {
                        Some(5060)
                    } else {
                        None
                    },
                "Via port",
            )?;
            if name == "4475-ipv6-received.sip" {
                check(
                    via.received() == Some("[2001:db8::9:255]"),
                    "received=[IPv6]",
                )?;
            }
            check(
                m.contacts().map(|c| c.len()) == Ok(1),
                "Contact with IPv6 host",
            )?;
        }
        _ => {}
    }
    Ok(())
}

fn check_edge(name: &str, expect: &str) -> Result<(), String> {
    let bytes = read(&data_dir().join("edge").join(name));
    let opts = edge_options(name);
    let result = parse(Bytes::from(bytes.clone()), &opts);
    match (expect, result) {
        ("ok", Ok(p)) => {
            // round trip: parse(to_bytes(m)) == m
            let out = p.message.to_bytes();
            let again = parse(out.clone(), &opts)
                .map_err(|e| format!("re-parse of serialization: {}", error_at(&e, &out)))?;
            if again.message != p.message {
                return Err(format!(
                    "round trip changed the message:\n{:?}\n!=\n{:?}",
                    p.message, again.message
                ));
            }
            if again.line_ending != LineEnding::Crlf || again.length != out.len() {
                return Err("serialization is not one CRLF message".into());
            }
            if let Some(r) = p.message.as_request() {
                check_uri_round_trip(&r.uri, "Request-URI")?;
            }
            check_edge_details(name, &bytes, &p)
        }
        ("ok", Err(err)) => Err(format!(
            "expected ok, got error: {}",
            error_at(&err, &bytes)
        )),
        (exp, Ok(_)) => Err(format!("expected {exp}, but it parsed")),
        (exp, Err(err)) => {
            let want = exp
                .strip_prefix("error:")
                .ok_or_else(|| format!("bad expectation {exp:?} in EXPECT"))?;
            let text = err.to_string();
            if text.contains(want) {
                Ok(())
            } else {
                Err(format!(
                    "expected an error containing {want:?}, got {text:?}"
                ))
            }
        }
    }
}

#[test]
fn edge_cases() {
    let expectations = edge_expectations();
    let files = sip_files("edge");
    assert!(!files.is_empty(), "no edge files");
    let mut listed: Vec<String> = expectations.iter().map(|(f, _)| f.clone()).collect();
    listed.sort();
    let mut dedup = listed.clone();
    dedup.dedup();
    assert_eq!(listed, dedup, "a file is listed twice in edge/EXPECT");
    assert_eq!(
        files, listed,
        "the .sip files in edge/ and edge/EXPECT list different files"
    );
    let mut failures = Vec::new();
    for (name, expect) in &expectations {
        if let Err(e) = check_edge(name, expect) {
            failures.push(format!("edge/{name} ({expect}): {e}"));
        }
    }
    finish("edge cases", expectations.len(), failures);
}

/// Strict checks the edge corpus does not reach by file: error positions.
#[test]
fn edge_error_positions() {
    let bytes = read(&data_dir().join("edge").join("nul-in-header.sip"));
    let err =
        parse(Bytes::from(bytes.clone()), &ParseOptions::default()).expect_err("NUL is refused");
    let (line, col) = err.line_col(&bytes);
    assert_eq!(line, 8, "the Subject row is line 8");
    assert_eq!(col, "Subject: a".len() + 1, "column of the NUL");
    assert_eq!(bytes[err.offset], 0);

    let bytes = read(&data_dir().join("edge").join("header-without-colon.sip"));
    let err = parse(Bytes::from(bytes.clone()), &ParseOptions::default()).expect_err("no colon");
    assert_eq!(err.line_col(&bytes), (8, 1));
}

/// The stream option: a message without Content-Length cannot be framed.
#[test]
fn missing_content_length_on_a_stream() {
    let bytes = read(
        &data_dir()
            .join("edge")
            .join("no-content-length-datagram.sip"),
    );
    let opts = ParseOptions {
        stream: true,
        ..ParseOptions::default()
    };
    let err = parse(Bytes::from(bytes), &opts).expect_err("stream needs Content-Length");
    assert!(err.to_string().contains("missing Content-Length"), "{err}");
}
