//! webchat-load: a load driver for webchat, built to cost far less CPU per delivery
//! than the servers it measures (shared/bench/load/load.js is the reference for the
//! semantics and the report fields). See `webchat-load --help`.

// The fanout report is one large json! literal.
#![recursion_limit = "256"]

mod api;
mod cli;
mod client;
mod payload;
mod procwatch;
mod report;
mod scenarios;
mod setup;
mod stats;
mod util;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    util::start_clock();
    let cli = Cli::parse();
    let limit = util::raise_nofile_limit();
    let wanted = match &cli.command {
        Command::Fanout(a) => a.conns,
        Command::Connect(a) => a.conns,
        _ => 0,
    };
    if (wanted as u64) + 256 > limit {
        eprintln!("WARNING: open-file limit {limit} is below {wanted} sockets + headroom; raise `ulimit -Hn`");
    }
    // One multi-threaded runtime (--threads workers); each socket is a task and
    // nothing blocks a worker.
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if cli.threads > 0 {
        rt.worker_threads(cli.threads);
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    // The scenario runs as a task too, not on the main thread: its sends then wake
    // socket tasks on the same worker instead of across threads.
    let scenario = rt.spawn(async move {
        match cli.command {
            Command::Fanout(a) => scenarios::fanout::run(a).await,
            Command::Connect(a) => scenarios::connect::run(a).await,
            Command::Send(a) => scenarios::send::run(a).await,
            Command::History(a) => scenarios::history::run(a).await,
        }
    });
    let result = rt
        .block_on(scenario)
        .unwrap_or_else(|e| Err(anyhow::anyhow!("scenario task failed: {e}")));
    // Dropping the runtime would wait for socket tasks still closing; exit instead.
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("\nFATAL: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
