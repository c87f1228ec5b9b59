//! `sipline parse [--strict] [--json] FILE|-`

use serde_json::{json, Map, Value};
use sipline_message::body::Multipart;
use sipline_message::header::{CSeq, Contact, MediaType, NameAddr, StdHeader, Via};
use sipline_message::parse::{parse, ParseOptions, Parsed};
use sipline_message::uri::{Host, Uri};
use sipline_message::{Bytes, Message};
use std::io::{Read, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Check the grammar of every known header and the headers every
    /// request and response must carry (what a server answers 400 for).
    #[arg(long)]
    strict: bool,
    /// Print the message's structure as JSON instead of the normalized message.
    #[arg(long)]
    json: bool,
    /// The message was read from a stream (TCP/TLS): Content-Length is required.
    #[arg(long)]
    stream: bool,
    /// File holding one message, or - for standard input.
    file: String,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let input = match read_input(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sipline parse: cannot read {}: {e}", args.file);
            return ExitCode::from(2);
        }
    };
    let opts = ParseOptions {
        strict: args.strict,
        stream: args.stream,
        max_message_size: input.len().max(65_535),
        ..ParseOptions::default()
    };
    match parse(input.clone(), &opts) {
        Ok(parsed) => {
            let out = if args.json {
                let mut s = serde_json::to_string_pretty(&to_json(&parsed)).unwrap_or_default();
                s.push('\n');
                s.into_bytes()
            } else {
                eprintln!("{}", summary(&parsed));
                normalized(&parsed.message)
            };
            let _ = std::io::stdout().write_all(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let (line, col) = e.line_col(&input);
            if args.json {
                let v = json!({
                    "error": e.kind.to_string(),
                    "offset": e.offset,
                    "line": line,
                    "column": col,
                    "status": e.status_code(),
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("sipline parse: line {line}, column {col}: {}", e.kind);
            ExitCode::from(1)
        }
    }
}

fn read_input(file: &str) -> std::io::Result<Bytes> {
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin().read_to_end(&mut buf)?;
    } else {
        buf = std::fs::read(file)?;
    }
    Ok(Bytes::from(buf))
}

fn summary(p: &Parsed) -> String {
    let m = &p.message;
    let what = match m {
        Message::Request(r) => format!("request {}", r.method),
        Message::Response(r) => format!("response {}", r.status),
    };
    format!(
        "sipline parse: {what}, {} header rows, {}-byte body, line endings {}",
        m.headers().len(),
        m.body().len(),
        p.line_ending
    )
}

/// The message with canonical header names, folded rows joined, CRLF line ends.
fn normalized(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    match m {
        Message::Request(r) => {
            out.extend_from_slice(format!("{} {} {}\r\n", r.method, r.uri, r.version).as_bytes())
        }
        Message::Response(r) => {
            out.extend_from_slice(format!("{} {} {}\r\n", r.version, r.status, r.reason).as_bytes())
        }
    }
    for h in m.headers() {
        out.extend_from_slice(format!("{}: {}\r\n", h.name.canonical(), h.value).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(m.body());
    out
}

fn to_json(p: &Parsed) -> Value {
    let m = &p.message;
    let mut o = Map::new();
    match m {
        Message::Request(r) => {
            o.insert("type".into(), json!("request"));
            o.insert("method".into(), json!(r.method.as_str()));
            o.insert("uri".into(), uri_json(&r.uri));
            o.insert("version".into(), json!(r.version.to_string()));
        }
        Message::Response(r) => {
            o.insert("type".into(), json!("response"));
            o.insert("version".into(), json!(r.version.to_string()));
            o.insert("status".into(), json!(r.status.as_u16()));
            o.insert("reason".into(), json!(&*r.reason));
        }
    }
    o.insert("line_ending".into(), json!(p.line_ending.to_string()));
    let headers: Vec<Value> = m
        .headers()
        .iter()
        .map(|h| {
            let mut e = Map::new();
            e.insert("name".into(), json!(h.name.canonical()));
            if h.name.as_str() != h.name.canonical() {
                e.insert("as_written".into(), json!(h.name.as_str()));
            }
            e.insert("value".into(), json!(&*h.value));
            if let Some(std) = h.name.std() {
                if let Some(v) = typed_json(m, std, &h.value) {
                    e.insert("parsed".into(), v);
                }
            }
            Value::Object(e)
        })
        .collect();
    o.insert("headers".into(), Value::Array(headers));
    o.insert("body".into(), body_json(m));
    Value::Object(o)
}

fn typed_json(_m: &Message, h: StdHeader, value: &sipline_message::ByteString) -> Option<Value> {
    let list = |f: &dyn Fn(&sipline_message::ByteString) -> Option<Value>| -> Option<Value> {
        let hs: sipline_message::Headers =
            std::iter::once(sipline_message::Header::new(h, value.clone())).collect();
        let items: Option<Vec<Value>> = hs.values(h).map(|v| f(&v)).collect();
        items.map(Value::Array)
    };
    match h {
        StdHeader::Via => list(&|v| Via::parse(v).ok().map(|v| via_json(&v))),
        StdHeader::From | StdHeader::To | StdHeader::ReferTo | StdHeader::ReferredBy => {
            NameAddr::parse(value).ok().map(|n| name_addr_json(&n))
        }
        StdHeader::Contact => list(&|v| {
            Contact::parse(v).ok().map(|c| match c {
                Contact::Wildcard => json!("*"),
                Contact::Address(n) => name_addr_json(&n),
            })
        }),
        StdHeader::Route
        | StdHeader::RecordRoute
        | StdHeader::Path
        | StdHeader::ServiceRoute
        | StdHeader::PAssertedIdentity => {
            list(&|v| NameAddr::parse(v).ok().map(|n| name_addr_json(&n)))
        }
        StdHeader::CSeq => CSeq::parse(value)
            .ok()
            .map(|c| json!({"seq": c.seq, "method": c.method.as_str()})),
        StdHeader::ContentType => MediaType::parse(value).ok().map(|m| {
            json!({"type": &*m.mtype, "subtype": &*m.subtype, "params": params_json(m.params.iter())})
        }),
        StdHeader::ContentLength
        | StdHeader::MaxForwards
        | StdHeader::Expires
        | StdHeader::MinExpires
        | StdHeader::RSeq => value.trim().parse::<u32>().ok().map(|n| json!(n)),
        StdHeader::Require
        | StdHeader::Supported
        | StdHeader::Unsupported
        | StdHeader::ProxyRequire
        | StdHeader::Allow
        | StdHeader::AllowEvents => list(&|v| Some(json!(&**v))),
        _ => None,
    }
}

fn params_json<'a>(it: impl Iterator<Item = &'a sipline_message::header::Param>) -> Value {
    let mut m = Map::new();
    for p in it {
        m.insert(
            p.name.to_string(),
            p.value.as_deref().map_or(Value::Bool(true), |v| json!(v)),
        );
    }
    Value::Object(m)
}

fn host_json(h: &Host) -> Value {
    json!(h.to_string())
}

fn via_json(v: &Via) -> Value {
    json!({
        "protocol": format!("{}/{}", v.protocol, v.version),
        "transport": &*v.transport,
        "host": host_json(&v.host),
        "port": v.port,
        "branch": v.branch(),
        "params": params_json(v.params.iter()),
    })
}

fn name_addr_json(n: &NameAddr) -> Value {
    json!({
        "display_name": n.display_name.as_deref(),
        "uri": uri_json(&n.uri),
        "tag": n.tag(),
        "params": params_json(n.params.iter()),
    })
}

fn uri_json(u: &Uri) -> Value {
    match u {
        Uri::Sip(s) => {
            let params: Map<String, Value> = s
                .params
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.value.clone().map_or(Value::Bool(true), Value::String),
                    )
                })
                .collect();
            json!({
                "text": u.to_string(),
                "scheme": s.scheme.as_str(),
                "user": s.user,
                "host": host_json(&s.host),
                "port": s.port,
                "params": params,
                "headers": s.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            })
        }
        Uri::Tel(t) => json!({
            "text": u.to_string(),
            "scheme": "tel",
            "number": t.number,
            "global": t.is_global(),
        }),
        Uri::Other(_) => json!({ "text": u.to_string(), "scheme": u.scheme() }),
    }
}

fn body_json(m: &Message) -> Value {
    let body = m.body();
    let mut o = Map::new();
    o.insert("length".into(), json!(body.len()));
    if let Ok(Some(ct)) = m.content_type() {
        o.insert("content_type".into(), json!(ct.to_string()));
    }
    match std::str::from_utf8(body) {
        Ok(text) => o.insert("text".into(), json!(text)),
        Err(_) => o.insert("hex".into(), json!(hex(body))),
    };
    if let Some(Ok(mp)) = Multipart::from_message(m) {
        let parts: Vec<Value> = mp
            .parts
            .iter()
            .map(|p| {
                let ct = p.content_type().map(|c| c.to_string());
                let content = match std::str::from_utf8(&p.body) {
                    Ok(t) => json!({"text": t}),
                    Err(_) => json!({"hex": hex(&p.body)}),
                };
                json!({"content_type": ct, "length": p.body.len(), "content": content})
            })
            .collect();
        o.insert("parts".into(), Value::Array(parts));
    }
    Value::Object(o)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
