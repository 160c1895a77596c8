//! `certa`: one binary for a complete PEC provider. This file only parses the command line;
//! each subcommand lives in its own module.

mod bench;
mod index_cmd;
mod verify_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "certa",
    version,
    about = "Certa: un gestore completo di Posta Elettronica Certificata (PEC)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify and verify a PEC message: kind, provider, identifiers and the verdict.
    Verify(verify_cmd::VerifyArgs),
    /// Provider index (IGPEC LDIF) tools.
    Index {
        #[command(subcommand)]
        command: index_cmd::IndexCommand,
    },
    /// Benchmarks that print figures (not tests).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Index { command } => index_cmd::run(&command).map(|()| ExitCode::SUCCESS),
        Command::Bench { command } => bench::run(&command).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("certa: errore: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Reads a file with its name in the error.
pub fn read_file(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
