//! `sipline`: SIP registrar, proxy, redirect server and user agent.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

/// SIP registrar, proxy, redirect server and user agent.
#[derive(Parser)]
#[command(name = "sipline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse one SIP message and print it normalized (or as JSON).
    ///
    /// Exits 0 if the message parses, 1 if it is malformed (the reason is
    /// printed with its line and column), 2 on usage or I/O errors.
    Parse(cmd::parse::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => cmd::parse::run(&args),
    }
}
