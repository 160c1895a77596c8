//! What the operator console reads and does besides the takeover and onboarding rules: the
//! store's view for an operator (domains, boxes, plans, queue, legal log), so the web crate
//! reaches the store only through services, as every protocol does. Each change takes the
//! actor and writes its legal-log record.

use crate::operators::{record, Action};
use store::Store;
pub use store::{
    Decertification, Domain, DomainState, LogEvent, Mailbox, OperatorSession, Plan, QueueEntry,
    StoreError,
};

pub fn domains(store: &dyn Store) -> Result<Vec<Domain>, StoreError> {
    store.domain_list()
}

pub fn domain(store: &dyn Store, name: &str) -> Result<Option<Domain>, StoreError> {
    store.domain(name)
}

pub fn mailboxes(store: &dyn Store) -> Result<Vec<Mailbox>, StoreError> {
    store.mailboxes()
}

pub fn plans(store: &dyn Store) -> Result<Vec<Plan>, StoreError> {
    store.plans()
}

pub fn queue(store: &dyn Store) -> Result<Vec<QueueEntry>, StoreError> {
    store.queue_entries()
}

/// Puts a parked queue item back into delivery; false when there is no such parked item.
pub fn queue_retry(
    store: &dyn Store,
    provider: &str,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<bool, StoreError> {
    if !store.queue_unpark(store::QueueId(id), now)? {
        return Ok(false);
    }
    record(
        store,
        provider,
        Action {
            event: "coda-riprova",
            target: &format!("coda:{id}"),
            actor,
        },
        &format!("elemento {id} della coda rimesso in consegna"),
        now,
    )?;
    Ok(true)
}

/// The legal log's records that contain `needle` (case-insensitive) in their event,
/// identifier, sender, recipients or subject, newest first, at most `limit`; and whether
/// there were more.
pub fn log_search(
    store: &dyn Store,
    needle: &str,
    limit: usize,
) -> Result<(Vec<LogEvent>, bool), StoreError> {
    let needle = needle.trim().to_lowercase();
    let mut found: Vec<LogEvent> = store
        .log_records(None)?
        .into_iter()
        .rev()
        .filter(|e| {
            needle.is_empty()
                || [&e.event, &e.msgid, &e.sender, &e.recipients, &e.subject]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
        })
        .take(limit + 1)
        .collect();
    let more = found.len() > limit;
    found.truncate(limit);
    Ok((found, more))
}

/// Logs a console session out.
pub fn end_session(store: &dyn Store, token_hash: &str) -> Result<(), StoreError> {
    store.end_operator_session(token_hash)
}
