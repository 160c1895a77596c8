//! `certa queue`: what waits in the delivery queue, and the items parked after failing the
//! same way again and again (see services::worker), which only an administrator puts back
//! (`retry`) or removes (`drop`). Works on a running server's store.

use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Every item in the queue: waiting, being worked on, or parked.
    List,
    /// Put an item (parked or waiting) back in the queue, due now.
    Retry { id: i64 },
    /// Remove an item from the queue for good (noted in the legal log).
    Drop { id: i64 },
}

pub fn run(data: &Path, cmd: &QueueCommand) -> anyhow::Result<ExitCode> {
    let (cfg, store) = crate::admin::open(data)?;
    let now = crate::now();
    match cmd {
        QueueCommand::List => {
            let entries = store.queue_entries()?;
            if entries.is_empty() {
                println!("coda vuota");
            }
            for e in entries {
                let state = if e.parked.is_some() {
                    "sospeso"
                } else if e.lease_until > now {
                    "in corso"
                } else {
                    "in attesa"
                };
                let when = pec::PecTime::from_unix_or_epoch(e.item.created);
                println!(
                    "{}\t{}\t{}\t{} {}\t{}\t{}\t{} tentativi\t{}",
                    e.item.id,
                    state,
                    e.item.kind,
                    when.giorno(),
                    when.ora(),
                    e.item.mail_from,
                    e.item.recipients.join(","),
                    e.item.attempts,
                    e.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Retry { id } => {
            if services::console::queue_retry(
                &*store,
                &cfg.provider.name,
                *id,
                &crate::admin::actor(),
                now,
            )? {
                println!("elemento {id} di nuovo in coda");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("nessun elemento {id} in coda");
                Ok(ExitCode::from(1))
            }
        }
        QueueCommand::Drop { id } => {
            let item = store::QueueId(*id);
            let Some(e) = store
                .queue_entries()?
                .into_iter()
                .find(|e| e.item.id == item)
            else {
                println!("nessun elemento {id} in coda");
                return Ok(ExitCode::from(1));
            };
            if e.lease_until > now && e.parked.is_none() {
                // Removing it under a worker's feet would not stop a send in progress.
                println!("elemento {id} in corso di invio: riprovare tra poco");
                return Ok(ExitCode::from(1));
            }
            let why = format!(
                "rimosso dall'amministratore: {}",
                e.last_error.as_deref().unwrap_or("")
            );
            let removed = store.write(|db| {
                let removed = db.dequeue(item)?;
                if removed {
                    db.log_append(&store::LogRecord {
                        time: now,
                        event: "rimosso-dalla-coda",
                        msgid: e.item.identificativo.as_deref().unwrap_or(""),
                        sender: &e.item.mail_from,
                        recipients: &e.item.recipients,
                        subject: &why,
                        related: &[],
                        provider: &cfg.provider.name,
                        actor: "",
                    })?;
                }
                Ok(removed)
            })?;
            if removed {
                println!("elemento {id} rimosso dalla coda");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("nessun elemento {id} in coda");
                Ok(ExitCode::from(1))
            }
        }
    }
}
