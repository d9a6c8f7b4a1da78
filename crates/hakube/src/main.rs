//! hakube's entry point: parses the command line and hands each subcommand to the module that owns
//! it; turns an error into one `error: …` line on stderr and a non-zero exit status.

mod admin_client;
mod cli;
mod commands;
mod error;
mod process;
mod up;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ImagesCommand};
use crate::commands::{add_node, config, daemon, dbctl, inspect, join, lifecycle, status};
use crate::error::not_implemented;

/// jemalloc instead of glibc's malloc: a node's memory comes and goes in bursts (a list of
/// thousands of objects, a controller round), and glibc keeps what a burst freed in its arenas.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let (code, line) = error::report(&e);
            if let Some(line) = line {
                eprintln!("error: {line}");
            }
            ExitCode::from(code.max(1))
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let dir: &Path = &cli.data_dir;
    match &cli.command {
        Command::Daemon(args) => daemon::run(dir, args),
        Command::Version => {
            config::version();
            Ok(())
        }
        Command::Start(args) => block_on(lifecycle::start(dir, args)),
        Command::Stop => block_on(lifecycle::stop(dir)),
        Command::Status(args) => block_on(status::run(dir, args)),
        Command::AddNode(args) => block_on(add_node::run(dir, args)),
        Command::Join(args) => block_on(join::join(dir, args)),
        Command::Leave => block_on(join::leave(dir)),
        Command::RemoveNode(args) => block_on(join::remove_node(dir, args)),
        Command::Config(args) => block_on(config::config(dir, args)),
        Command::Kubectl(args) => block_on(config::kubectl(dir, args)),
        Command::Dbctl(args) => block_on(dbctl::run(dir, args)),
        Command::Inspect => block_on(inspect::run(dir)),
        Command::Recover => Err(not_implemented("recover")),
        Command::Images(images) => match &images.command {
            ImagesCommand::Import { files } => block_on(commands::images::import(dir, files)),
        },
        Command::Up(args) => block_on(up::up(args)),
        Command::Down(args) => block_on(up::down(args)),
        Command::ApiBench(args) => commands::bench_api::run(args),
    }
}

/// Runs a client command on a small single-threaded runtime.
fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(future)
}
