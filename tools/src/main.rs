//! `gnntrack`: the command-line tool.

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: cli::alloc::CountingAlloc = cli::alloc::CountingAlloc;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .init();
    let args = cli::Cli::parse();
    if let Some(threads) = args.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
    {
        eprintln!("error: cannot set up {threads} threads: {e}");
        return ExitCode::FAILURE;
    }
    match cli::run(args.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
