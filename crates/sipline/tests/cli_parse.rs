//! `sipline parse` from the outside: exit codes, normalized output, JSON, errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sipline");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const INVITE_LF: &str = "INVITE sip:bob@biloxi.com SIP/2.0\n\
v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\n\
Max-Forwards: 70\n\
t: Bob <sip:bob@biloxi.com>\n\
f: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
i: a84b4c76e66710@pc33.atlanta.com\n\
Subject: folded\n  line\n\
CSeq: 314159 INVITE\n\
l: 0\n\n";

#[test]
fn normalizes_and_reports_line_endings() {
    let out = run(&["-"], INVITE_LF.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP"));
    assert!(stdout.contains("\r\nTo: Bob <sip:bob@biloxi.com>\r\n"));
    assert!(stdout.contains("\r\nSubject: folded line\r\n"));
    assert!(stdout.ends_with("Content-Length: 0\r\n\r\n"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line endings LF"), "{stderr}");
    // the normalized output is itself a CRLF message that parses strictly
    let again = run(&["--strict", "-"], stdout.as_bytes());
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8(again.stderr)
        .unwrap()
        .contains("line endings CRLF"));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);
}

#[test]
fn json_structure() {
    let out = run(&["--json", "-"], INVITE_LF.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "request");
    assert_eq!(v["method"], "INVITE");
    assert_eq!(v["line_ending"], "LF");
    assert_eq!(v["uri"]["host"], "biloxi.com");
    let via = &v["headers"][0];
    assert_eq!(via["name"], "Via");
    assert_eq!(via["as_written"], "v");
    assert_eq!(via["parsed"][0]["branch"], "z9hG4bK776asdhds");
    let from = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "From")
        .unwrap();
    assert_eq!(from["parsed"]["tag"], "1928301774");
    assert_eq!(from["parsed"]["display_name"], "Alice");
}

#[test]
fn malformed_exits_1_with_line_and_column() {
    let bad = INVITE_LF.replace("Max-Forwards: 70", "Max-Forwards 70");
    let out = run(&["-"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 3, column 1: malformed header line"),
        "{stderr}"
    );

    // tolerant reading accepts a bad CSeq, strict reading names it
    let bad = INVITE_LF.replace("CSeq: 314159 INVITE", "CSeq: many INVITE");
    assert_eq!(run(&["-"], bad.as_bytes()).status.code(), Some(0));
    let out = run(&["--strict", "--json", "-"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "malformed CSeq header");
    assert_eq!(v["line"], 9);
    assert_eq!(v["status"], 400);
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = run(&["/nonexistent/message.sip"], b"");
    assert_eq!(out.status.code(), Some(2));
}
