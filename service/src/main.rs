//! The `tessera` binary: parse the command line, run it, map failures to exit codes
//! (2: bad input or configuration, 1: refused or failed).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{Cli, run};

/// mimalloc: the hot paths allocate many small short-lived buffers (forms, JSON,
/// query rows); glibc's allocator showed up at ~8% of the token endpoint's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout();
    match run(cli, &mut input, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = out.flush();
            eprintln!("tessera: {}", error.message);
            ExitCode::from(error.code)
        }
    }
}
