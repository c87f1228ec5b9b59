//! `sipline`: SIP registrar, proxy, redirect server and user agent.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc, not glibc's malloc: a REGISTER through `sipline serve` makes
/// ~60 allocations, and with glibc malloc and free were ~17% of the
/// server's perf samples. At 20,000 REGISTER/s on one core (`PIN=1
/// bench/register-cpu.sh BIN 20000 10 [--config mem.toml]`) the server took
/// 46-47% of it against 50-55% in memory, and 67-70% against 84-86% with
/// the durable store (`bench/RESULTS.md`). Built with `no_thp`: mimalloc
/// otherwise asks for transparent huge pages on its arenas, and the kernel
/// then clears 2 MiB pages as the transaction table grows
/// (`clear_page_erms` took 15% of the samples, more than the allocator
/// saved).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod cmd;
mod serve;

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
    /// Send an OPTIONS request and print the answer (status, Allow, Supported, Server).
    ///
    /// Finds the server by RFC 3263 (NAPTR, SRV, A/AAAA), retransmits as
    /// the transaction layer says, fails over to the next server on
    /// timeout, transport error or 503. Exits 0 on 2xx, 1 on another final
    /// response, 2 on usage errors, 3 when no response came (408), 4 on DNS
    /// or transport errors.
    Options(cmd::options::Args),
    /// Run the registrar and proxy (or redirect server).
    ///
    /// With no arguments: UDP and TCP on 127.0.0.1:5060, a location store in
    /// ./sipline-data, no users (open). See `--config` for everything else.
    Serve(serve::Args),
    /// Register with a registrar and keep the registration fresh.
    ///
    /// Refreshes before expiry; removes the binding on Ctrl-C or after
    /// --duration. Exits 0 on success, 1 on a failure response (e.g. 403),
    /// 3 when no response came, 4 on DNS or transport errors.
    Register(cmd::register::RegisterArgs),
    /// Call a URI: show progress, send and record G.711 audio, hang up.
    ///
    /// Hangs up after --duration or on Ctrl-C (CANCEL before the answer).
    /// Exits 0 if the call was answered, 1 if it was refused (4xx-6xx) or
    /// cancelled, 3 when no response came, 4 on DNS or transport errors.
    Call(cmd::call::CallArgs),
    /// Wait for calls and answer them (or reject, or redirect).
    ///
    /// Auto-answers with sipline's own audio (or --sdp), stays until BYE
    /// or --duration, and keeps answering until Ctrl-C or --count calls.
    /// MESSAGE requests are printed and answered 200.
    Answer(cmd::call::AnswerArgs),
    /// Send a MESSAGE (RFC 3428) and print the response.
    Message(cmd::register::MessageArgs),
    /// Subscribe to an event package (presence by default) and print each
    /// NOTIFY until --duration or Ctrl-C, then unsubscribe (RFC 6665).
    Subscribe(cmd::presence::SubscribeArgs),
    /// Publish a presence status (PIDF, RFC 3903/3863) and print the response.
    Publish(cmd::presence::PublishArgs),
    /// Call someone and transfer them elsewhere with REFER (RFC 3515);
    /// prints the transfer's progress; exits 0 when the new call was answered.
    Transfer(cmd::presence::TransferArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => cmd::parse::run(&args),
        Command::Options(args) => cmd::options::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Register(args) => cmd::register::run_register(&args),
        Command::Call(args) => cmd::call::run_call(&args),
        Command::Answer(args) => cmd::call::run_answer(&args),
        Command::Message(args) => cmd::register::run_message(&args),
        Command::Subscribe(args) => cmd::presence::run_subscribe(&args),
        Command::Publish(args) => cmd::presence::run_publish(&args),
        Command::Transfer(args) => cmd::presence::run_transfer(&args),
    }
}
