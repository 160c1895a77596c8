//! `certa migrate`: copies from an old provider's box (issue 15), for the operator. The CLI
//! only records what is asked (services::migration); `certa serve` does the copying, so
//! there is one engine whether the webmail or the operator started a job. Exit codes: 0 done,
//! 2 usage or failure, 3 no such mailbox or job; `start` when it follows a job on a
//! terminal: 16 wrong credentials, 12 TLS, 101 unreachable, 113 no space, 1 other errors.

use anyhow::Context;
use clap::Subcommand;
use services::migration::{self, MigrationError, Server, StartRequest};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::{MigrationErrorKind, MigrationJob, MigrationState, Store};

#[derive(Subcommand)]
pub enum MigrateCommand {
    /// Start copying an old PEC box into ADDRESS (or resume a copy stopped by an error).
    Start {
        /// Our mailbox, copied into.
        address: String,
        /// The old box's address (its login at the old provider).
        #[arg(long)]
        old_address: String,
        /// A file whose first line is the old box's password.
        #[arg(long)]
        password_file: PathBuf,
        /// The old provider's IMAPS server, host:port (default: the configuration for the
        /// old domain, else the built-in table of the main providers).
        #[arg(long)]
        server: Option<String>,
        /// A CA certificate (PEM) trusted for the old server.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Into a folder named after the old address (default) or into INBOX.
        #[arg(long, value_enum, default_value = "folder")]
        into: Into,
        /// Every folder of the old box, not only INBOX (if the configuration allows it).
        #[arg(long)]
        all_folders: bool,
    },
    /// The state of one copy, or of every copy.
    Status {
        address: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Sync now, instead of at the daily hour.
    Sync { address: String },
    /// The last run's report: per folder, what the old box holds and what is here, every
    /// message with its SHA-256; signed by the provider.
    Report {
        address: String,
        /// The signed JSON itself, byte for byte.
        #[arg(long)]
        json: bool,
        /// Also write the provider's detached signature (DER) of the JSON to this file:
        /// `openssl cms -verify -binary -inform DER -content JSON -in FILE -CAfile ca.pem`.
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Stop a copy for good: no more syncs, the old password erased.
    Stop { address: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Into {
    Folder,
    Inbox,
}

pub fn run(data: &Path, cmd: &MigrateCommand) -> anyhow::Result<ExitCode> {
    let (cfg, store) = crate::admin::open(data)?;
    let now = crate::now();
    let result = match cmd {
        MigrateCommand::Start {
            address,
            old_address,
            password_file,
            server,
            ca,
            into,
            all_folders,
        } => {
            let settings = cfg.migration_settings(data)?;
            let server = match server {
                Some(s) => Some(
                    Server::parse(s).with_context(|| format!("--server {s:?} non è host:porta"))?,
                ),
                None => None,
            };
            let ca_pem = match ca {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("lettura di {}", f.display()))?,
                ),
                None => None,
            };
            let request = StartRequest {
                address: address.clone(),
                old_address: old_address.clone(),
                password: read_password(password_file)?,
                server,
                ca_pem,
                into_inbox: matches!(into, Into::Inbox),
                all_folders: *all_folders,
            };
            migration::start(&*store, &settings, &request, now).map(|job| {
                print_job(&job, now);
                if std::io::stdout().is_terminal() {
                    follow(&*store, address)
                } else {
                    ExitCode::SUCCESS
                }
            })
        }
        MigrateCommand::Status { address, json } => {
            let jobs = match address {
                Some(a) => migration::job_of(&*store, a).map(|j| vec![j]),
                None => store.migration_jobs().map_err(MigrationError::from),
            };
            jobs.map(|jobs| {
                if *json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&jobs).unwrap_or_default()
                    );
                } else if jobs.is_empty() {
                    println!("nessuna copia");
                } else {
                    for j in &jobs {
                        print_job(j, now);
                    }
                }
                ExitCode::SUCCESS
            })
        }
        MigrateCommand::Sync { address } => migration::sync_now(&*store, address, now).map(|j| {
            println!("{}: sincronizzazione richiesta", j.address);
            ExitCode::SUCCESS
        }),
        MigrateCommand::Report {
            address,
            json,
            signature,
        } => migration::latest_report(&*store, address).map(|report| {
            let Some(report) = report else {
                println!("{address}: nessun rapporto ancora (la prima copia non è conclusa)");
                return ExitCode::from(3);
            };
            if let Some(path) = signature {
                if let Err(e) = std::fs::write(path, &report.signature) {
                    eprintln!("certa: scrittura di {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if *json {
                // Exactly the bytes signed.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                if out
                    .write_all(&report.json)
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return ExitCode::from(2);
                }
            } else {
                print_report(&report.json);
            }
            ExitCode::SUCCESS
        }),
        MigrateCommand::Stop { address } => migration::stop(&*store, address, now).map(|j| {
            println!(
                "{}: copia interrotta, password del vecchio account cancellata",
                j.address
            );
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => Ok(code),
        Err(e @ (MigrationError::NoMailbox(_) | MigrationError::NoJob(_))) => {
            eprintln!("certa: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => {
            eprintln!("certa: errore: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The first line of the file, without its line ending: the password may hold any other
/// character, spaces included.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("lettura di {}", path.display()))?;
    let line = text.split('\n').next().unwrap_or("");
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

/// The report's totals and folders, as a table.
fn print_report(json: &[u8]) {
    let Ok(r) = serde_json::from_slice::<serde_json::Value>(json) else {
        println!("rapporto illeggibile");
        return;
    };
    let t = &r["totals"];
    println!(
        "{} ← {} ({}), esecuzione {}",
        r["mailbox"].as_str().unwrap_or(""),
        r["old_address"].as_str().unwrap_or(""),
        r["server"].as_str().unwrap_or(""),
        r["run"]
    );
    println!(
        "all'origine {} messaggi ({} byte), qui {} ({} byte), mancanti {}, eliminati all'origine {}, non copiati {}",
        t["source_messages"], t["source_bytes"], t["here_messages"], t["here_bytes"], t["missing"],
        t["deleted_at_source"], t["not_copied"]
    );
    println!("cartella\tdestinazione\tUIDVALIDITY\torigine\tqui\tmancanti");
    for f in r["folders"].as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            f["source"].as_str().unwrap_or(""),
            f["dest"].as_str().unwrap_or(""),
            f["uidvalidity"],
            f["source_messages"],
            f["here_messages"],
            f["missing"].as_array().map_or(0, Vec::len)
        );
    }
}

fn when(t: i64) -> String {
    let t = pec::PecTime::from_unix_or_epoch(t);
    format!("{} {}", t.giorno(), t.ora())
}

fn print_job(j: &MigrationJob, now: i64) {
    println!(
        "{}\t← {} ({}:{})\t{}\t{}",
        j.address,
        j.old_address,
        j.host,
        j.port,
        migration::state_caption(j, false),
        when(j.state_since)
    );
    println!(
        "\tcopiati {} di {} messaggi, {} di {} byte; eliminati all'origine {}",
        j.copied_messages, j.source_messages, j.copied_bytes, j.source_bytes, j.deleted_at_source
    );
    if let Some(left) = migration::estimate_left(j, now) {
        println!("\ttempo stimato rimanente: {left} s");
    }
    if let (Some(kind), Some(detail)) = (j.error_kind, &j.error_detail) {
        println!("\tcausa: {detail}");
        println!("\t{}", migration::error_advice(kind, false));
    }
    if let Some(next) = j.next_run {
        println!("\tprossima esecuzione: {}", when(next));
    }
    if let Some(s) = j.switch_at {
        println!("\tpassaggio al nuovo gestore: {}", when(s));
    }
}

/// Follows a job on a terminal until it is copied or stops with an error, with a progress
/// bar; Ctrl-C only stops following.
fn follow(store: &dyn Store, address: &str) -> ExitCode {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = crate::now();
    loop {
        let job = match migration::job_of(store, address) {
            Ok(j) => j,
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("certa: {e}");
                return ExitCode::from(2);
            }
        };
        bar.set_length(job.source_bytes.max(0) as u64);
        bar.set_position(job.copied_bytes.max(0) as u64);
        bar.set_message(format!(
            "{} ({}/{} messaggi)",
            migration::state_caption(&job, false),
            job.copied_messages,
            job.source_messages
        ));
        let waiting = job.state == MigrationState::Preparing && crate::now() - started > 30;
        match job.state {
            MigrationState::Copied | MigrationState::Finished => {
                bar.finish();
                return ExitCode::SUCCESS;
            }
            MigrationState::Failed | MigrationState::Stopped => {
                bar.finish();
                return match job.error_kind {
                    Some(MigrationErrorKind::Credentials) => ExitCode::from(16),
                    Some(MigrationErrorKind::Tls) => ExitCode::from(12),
                    Some(MigrationErrorKind::Unreachable) => ExitCode::from(101),
                    Some(MigrationErrorKind::Space) => ExitCode::from(113),
                    _ => ExitCode::from(1),
                };
            }
            _ if waiting => {
                bar.finish_and_clear();
                println!("certa serve non sta eseguendo la copia: partirà al suo avvio");
                return ExitCode::SUCCESS;
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(500)),
        }
    }
}
