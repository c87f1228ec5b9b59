//! `sipline options URI`: is this SIP server there, and what does it support?

use crate::client::{request, ClientConfig, ClientError};
use sipline_message::header::StdHeader;
use sipline_message::{Method, Transport, Uri};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The server or user to ask, e.g. sip:example.com or sips:alice@example.com.
    uri: String,
    /// Transport to use (udp, tcp, tls, ws, wss); by default RFC 3263 picks one.
    #[arg(long, value_parser = parse_transport)]
    transport: Option<Transport>,
    /// Give up after this many seconds (default: when the transaction's
    /// Timer F fires, 64*T1 = 32 s).
    #[arg(long)]
    timeout: Option<f64>,
    /// T1 in milliseconds (RFC 3261 §17.1.1.1): the first retransmission
    /// interval over UDP; every other timer follows from it.
    #[arg(long, default_value_t = 500)]
    t1: u64,
    /// A CA certificate (PEM) to trust for TLS and WSS; repeatable.
    #[arg(long = "ca")]
    ca: Vec<PathBuf>,
    /// A DNS server (IP:port) to ask instead of the system's resolver.
    #[arg(long)]
    nameserver: Option<std::net::SocketAddr>,
    /// Print every message sent and received, with times, on standard error.
    #[arg(long)]
    trace: bool,
    /// Print the whole response, not only the summary.
    #[arg(long, short)]
    verbose: bool,
}

fn parse_transport(s: &str) -> Result<Transport, String> {
    Transport::parse(s)
        .filter(|t| *t != Transport::Sctp)
        .ok_or_else(|| format!("unknown transport {s:?} (udp, tcp, tls, ws, wss)"))
}

/// Exit status: 0 for a 2xx, 1 for another final response, 2 for usage
/// errors, 3 for no response (408), 4 for DNS or transport errors.
pub(crate) fn run(args: &Args) -> ExitCode {
    let uri = match Uri::parse(&args.uri) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("sipline options: bad URI {:?}: {e}", args.uri);
            return ExitCode::from(2);
        }
    };
    let cfg = ClientConfig {
        transport: args.transport,
        timeout: args.timeout.map(Duration::from_secs_f64),
        t1: Duration::from_millis(args.t1.max(1)),
        ca_files: args.ca.clone(),
        nameserver: args.nameserver,
        trace: args.trace,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipline options: {e}");
            return ExitCode::from(4);
        }
    };
    match rt.block_on(request(&uri, Method::Options, &cfg)) {
        Ok(outcome) => {
            let resp = &outcome.response;
            let r = resp.as_response().expect("a response");
            if args.verbose {
                print!("{resp}");
            } else {
                println!("{} {} {}", r.version, r.status, r.reason);
                for h in [
                    StdHeader::Allow,
                    StdHeader::Supported,
                    StdHeader::Server,
                    StdHeader::UserAgent,
                ] {
                    if let Some(v) = resp.headers().get(h) {
                        println!("{}: {v}", h.as_str());
                    }
                }
            }
            eprintln!(
                "sipline options: answered by {} over {}",
                outcome.target.addr, outcome.target.transport
            );
            if r.status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sipline options: {e}");
            ExitCode::from(match e {
                ClientError::Usage(_) => 2,
                ClientError::Timeout { .. } => 3,
                ClientError::Dns(_) | ClientError::Transport(_) => 4,
            })
        }
    }
}
