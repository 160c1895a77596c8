//! Taking over a whole PEC domain from another provider (issue 16; seed 001): the domain is
//! created here *in migrazione*, its boxes copy their old mail (services::migration), and at
//! the switch-over — by the operator (`certa domain switch`) or at its planned time — it
//! becomes *attivo*: every copy into its boxes runs its last sync and ends, the old passwords
//! are erased. One transaction, one legal-log record.

use crate::provider::Provider;
use store::{LogRecord, Store, StoreError};

/// Switches a domain in migration over to us now; the copies that get their last run.
/// `actor` names who did it in the legal log (`cli:USER`, `sistema` for the planned time).
pub fn switch(
    store: &dyn Store,
    provider: &str,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let name = name.trim().to_ascii_lowercase();
    store.write(|tx| {
        let copies = tx.switch_domain(&name, now)?;
        tx.log_append(&LogRecord {
            time: now,
            event: "passaggio-dominio",
            msgid: &format!("dominio:{name}"),
            sender: actor,
            recipients: &[],
            subject: &format!("dominio {name} attivo: {copies} copie all'ultima sincronizzazione"),
            related: &[],
            provider,
        })?;
        Ok(copies)
    })
}

/// The automatic reminders (the timers' scan): for each domain in migration, once its last
/// threshold of `reminder_days` before the switch-over has passed, the holders who have not
/// started their copy get the reminder of that threshold, once.
pub fn remind_due(p: &Provider) -> Result<usize, StoreError> {
    let now = p.now();
    let mut sent = 0;
    for d in p.store.domain_list()? {
        let (store::DomainState::Migrating, Some(switch_at)) = (d.state, d.switch_at) else {
            continue;
        };
        let due = p
            .migration
            .reminder_days
            .iter()
            .filter(|days| switch_at - **days * 86_400 <= now && now < switch_at)
            .min();
        if let Some(days) = due {
            let reminded = crate::onboarding::remind(
                &*p.store,
                &p.identity,
                &d.name,
                &format!("auto-{days}"),
                "sistema",
                now,
            )?;
            if !reminded.is_empty() {
                tracing::info!(domain = %d.name, days, reminded = reminded.len(), "copy reminders sent");
            }
            sent += reminded.len();
        }
    }
    Ok(sent)
}

/// The switch-overs due now (the timers' scan): each domain whose planned time has come.
pub fn switch_due(p: &Provider) -> Result<usize, StoreError> {
    let now = p.now();
    let mut switched = 0;
    for name in p.store.domains_due_to_switch(now)? {
        let copies = switch(&*p.store, &p.identity.name, &name, "sistema", now)?;
        tracing::info!(domain = %name, copies, "domain switched over at its planned time");
        switched += 1;
    }
    Ok(switched)
}
