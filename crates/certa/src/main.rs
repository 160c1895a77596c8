//! `certa`: one binary for a complete PEC provider. This file only parses the command line;
//! each subcommand lives in its own module.

mod admin;
mod bench;
mod collaborator_cmd;
mod config;
mod index_cmd;
mod logging;
mod migrate_cmd;
mod operator_cmd;
mod queue_cmd;
mod quickstart;
mod serve;
mod sms_cmd;
mod verify_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "certa",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CERTA_COMMIT"), ")"),
    about = "Certa: a complete provider of Italian certified e-mail (PEC, Posta Elettronica Certificata)"
)]
struct Cli {
    /// The provider's data directory (certa.toml, store, certificates).
    #[arg(long, global = true, default_value = "certa-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a working provider in --data: configuration, test CA, signing and TLS
    /// certificates, store, a first mailbox.
    /// Run again on a directory that already holds a provider, it changes nothing, says
    /// where the webmail is and exits successfully.
    Quickstart {
        /// The PEC mail domain to manage, e.g. pec.example.it.
        #[arg(long)]
        domain: String,
        /// The provider's name in certificates and the index [default: "Certa DOMAIN"].
        #[arg(long)]
        provider_name: Option<String>,
        /// The address every listener binds to.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Listeners on ports N … N+7: smtp, submission, submissions, imap, imaps, pop3,
        /// pop3s, http.
        #[arg(long)]
        port_base: Option<u16>,
    },
    /// Run every listener, the queue and the timers.
    Serve,
    /// Managed PEC domains.
    Domain {
        #[command(subcommand)]
        command: admin::DomainCommand,
    },
    /// Mailboxes.
    Mailbox {
        #[command(subcommand)]
        command: admin::MailboxCommand,
    },
    /// Plans boxes belong to (quota, security archive).
    Plan {
        #[command(subcommand)]
        command: admin::PlanCommand,
    },
    /// Static routes to other providers.
    Route {
        #[command(subcommand)]
        command: admin::RouteCommand,
    },
    /// Print the CA certificate of this provider (for peers and clients to trust).
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// The legal log.
    Log {
        #[command(subcommand)]
        command: admin::LogCommand,
    },
    /// Sent PEC messages.
    Message {
        #[command(subcommand)]
        command: MessageCommand,
    },
    /// The delivery queue: items waiting, and those parked after failing again and again.
    Queue {
        #[command(subcommand)]
        command: queue_cmd::QueueCommand,
    },
    /// Classify and verify a PEC message: kind, provider, identifiers and the verdict.
    Verify(verify_cmd::VerifyArgs),
    /// Provider index (IGPEC LDIF).
    Index {
        #[command(subcommand)]
        command: index_cmd::IndexCommand,
    },
    /// Copies from an old provider's box: start, status, sync, report, stop.
    Migrate {
        #[command(subcommand)]
        command: migrate_cmd::MigrateCommand,
    },
    /// Collaborators of a box (multiutenza): list, revoke.
    Collaborator {
        #[command(subcommand)]
        command: collaborator_cmd::CollaboratorCommand,
    },
    /// The outbox of the daily SMS reports.
    Sms {
        #[command(subcommand)]
        command: sms_cmd::SmsCommand,
    },
    /// The operator console's accounts (password, optional TOTP).
    Operator {
        #[command(subcommand)]
        command: operator_cmd::OperatorCommand,
    },
    /// Benchmarks that print figures (not tests).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Print the CA certificate (PEM) on standard output.
    Export,
}

#[derive(Subcommand)]
enum MessageCommand {
    /// Per-recipient state of a sent PEC message, by identificativo.
    Status { id: String },
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data = cli.data.as_path();
    let ok = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match &cli.command {
        Command::Quickstart {
            domain,
            provider_name,
            bind,
            port_base,
        } => ok(quickstart::run(&quickstart::QuickstartArgs {
            data,
            domain,
            provider_name: provider_name.as_deref(),
            bind,
            port_base: *port_base,
        })),
        Command::Serve => ok(serve::run(data)),
        Command::Domain { command } => ok(admin::domain(data, command)),
        Command::Mailbox { command } => ok(admin::mailbox(data, command)),
        Command::Plan { command } => ok(admin::plan(data, command)),
        Command::Route { command } => ok(admin::route(data, command)),
        Command::Ca {
            command: CaCommand::Export,
        } => ok(admin::ca_export(data)),
        Command::Log { command } => admin::log(data, command),
        Command::Message {
            command: MessageCommand::Status { id },
        } => admin::message_status(data, id),
        Command::Queue { command } => queue_cmd::run(data, command),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Index { command } => ok(index_cmd::run(data, command)),
        Command::Migrate { command } => migrate_cmd::run(data, command),
        Command::Operator { command } => ok(operator_cmd::run(data, command)),
        Command::Sms { command } => ok(sms_cmd::run(data, command)),
        Command::Collaborator { command } => ok(collaborator_cmd::run(data, command)),
        Command::Bench { command } => ok(bench::run(command)),
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
