//! `sipline serve`: registrar and proxy (or redirect server).

mod config;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// A TOML configuration file (see sipline.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen on TRANSPORT:IP:PORT (udp, tcp, tls, ws, wss); repeatable.
    /// Default: udp:127.0.0.1:5060 and tcp:127.0.0.1:5060.
    #[arg(long)]
    listen: Vec<String>,
    /// A domain this server is responsible for; repeatable. It always also
    /// serves the addresses it listens on.
    #[arg(long)]
    domain: Vec<String>,
    /// Where the location store lives (default ./sipline-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// proxy (default), redirect, or stateless (RFC 3261 §16.11).
    #[arg(long)]
    mode: Option<String>,
    /// A user NAME:PASSWORD allowed to register and call; repeatable. With
    /// no users at all the server runs open.
    #[arg(long)]
    user: Vec<String>,
    /// Threads that handle messages (default: one per CPU, at most 16).
    #[arg(long)]
    threads: Option<usize>,
    /// Log filter, e.g. info, debug, sipline=debug.
    #[arg(long, default_value = "info")]
    log: String,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let overrides = config::Overrides {
        listen: args.listen.clone(),
        domains: args.domain.clone(),
        data_dir: args.data_dir.clone(),
        mode: args.mode.clone(),
        users: args.user.clone(),
        threads: args.threads,
    };
    let cfg = match config::Config::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sipline serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipline serve: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipline serve: {e}");
            ExitCode::from(1)
        }
    }
}
