//! `certa collaborator …`: the operators' view of a box's collaborators (multiutenza) and
//! the revocation of one, e.g. when a box's holder cannot reach the webmail.

use anyhow::Context;
use clap::Subcommand;
use services::collaboration;
use std::path::Path;

#[derive(Subcommand)]
pub enum CollaboratorCommand {
    /// The collaborations and invitations of a box.
    List { mailbox: String },
    /// Revoke a collaborator's access to a box; their sessions end.
    Revoke { mailbox: String, username: String },
}

pub fn run(data: &Path, cmd: &CollaboratorCommand) -> anyhow::Result<()> {
    let (cfg, store) = crate::admin::open(data)?;
    let now = crate::now();
    let mailbox = |address: &str| {
        store
            .mailbox(&address.to_ascii_lowercase())?
            .with_context(|| format!("casella {address} inesistente"))
    };
    match cmd {
        CollaboratorCommand::List { mailbox: address } => {
            let m = mailbox(address)?;
            println!("collaboratore\tnome\tdelega\tstato\tinvito a\tscadenza");
            for c in collaboration::list_box(&*store, m.id, now)? {
                let expires = c.row.expires.map_or_else(
                    || "illimitata".to_string(),
                    |t| pec::PecTime::from_unix_or_epoch(t).giorno(),
                );
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    c.row.collaborator.as_deref().unwrap_or("-"),
                    c.row.name,
                    c.delegation.italian(),
                    c.state,
                    c.row.invite_email,
                    expires
                );
            }
        }
        CollaboratorCommand::Revoke {
            mailbox: address,
            username,
        } => {
            let m = mailbox(address)?;
            let n = collaboration::revoke_by_username(&*store, m.id, username, now)?;
            if n == 0 {
                anyhow::bail!("{username} non collabora sulla casella {}", m.address);
            }
            services::operators::record(
                &*store,
                &cfg.provider.name,
                services::operators::Action {
                    event: "collaborazione-revocata",
                    target: &format!("casella:{}", m.address),
                    actor: &crate::admin::actor(),
                },
                &format!("collaborazione di {username} revocata"),
                now,
            )?;
            println!("collaborazione di {username} su {} revocata", m.address);
        }
    }
    Ok(())
}
