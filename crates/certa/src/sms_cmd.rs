//! `certa sms`: the outbox of the daily SMS reports (services::reports) — what waits, what
//! the gateway accepted, what was given up and why. Works on a running server's store.

use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand)]
pub enum SmsCommand {
    /// The outbox, newest first: state, attempts, next attempt, last error.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per SMS.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data: &Path, cmd: &SmsCommand) -> anyhow::Result<()> {
    let (_cfg, store) = crate::admin::open(data)?;
    match cmd {
        SmsCommand::List { limit, json } => {
            let list = store.sms_list(*limit)?;
            if list.is_empty() && !json {
                println!("nessun SMS");
            }
            for s in list {
                let at = |t: i64| {
                    let t = pec::PecTime::from_unix_or_epoch(t);
                    format!("{} {}", t.giorno(), t.ora())
                };
                if *json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": s.id, "mailbox": s.mailbox, "number": s.number,
                            "state": s.state, "attempts": s.attempts, "created": s.created,
                            "next_at": s.next_at, "sent_at": s.sent_at,
                            "last_error": s.last_error,
                        })
                    );
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\tcreato {}\t{} tentativi\tprossimo {}\t{}",
                        s.id,
                        s.state,
                        s.mailbox,
                        s.number,
                        at(s.created),
                        s.attempts,
                        at(s.next_at),
                        s.last_error.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}
