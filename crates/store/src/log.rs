//! The legal log (RFC 6109 §2.3): one record per event with msgid, time, sender, recipients,
//! subject, event type, related message identifiers and the sending provider. Each record
//! carries the SHA-256 of the previous one, so an edited, deleted or reordered record breaks
//! the chain and `certa log verify` says where.

use crate::cached::Cached;
use crate::LogRecord;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogEvent {
    pub seq: i64,
    pub time: i64,
    pub event: String,
    pub msgid: String,
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    pub related: String,
    pub provider: String,
    /// Who acted for the sender (a collaborator); empty for most records, and for every
    /// record written before the field existed.
    pub actor: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogVerifyError {
    #[error("record {seq}: its hash does not match its content (edited)")]
    Edited { seq: i64 },
    #[error("record {seq}: does not follow the previous record (deleted or reordered before it)")]
    Broken { seq: i64 },
    #[error("database: {0}")]
    Db(String),
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hash(prev: &str, e: &LogEvent) -> String {
    let mut h = Sha256::new();
    for field in [
        prev,
        &e.seq.to_string(),
        &e.time.to_string(),
        &e.event,
        &e.msgid,
        &e.sender,
        &e.recipients,
        &e.subject,
        &e.related,
        &e.provider,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    // Hashed only when present, so the records written before the field still verify.
    if !e.actor.is_empty() {
        h.update((e.actor.len() as u64).to_be_bytes());
        h.update(e.actor.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where the chain starts: genesis, or the last record dropped past retention.
fn anchor(c: &Connection) -> rusqlite::Result<(i64, String)> {
    Ok(c.row(
        "SELECT seq, hash FROM legal_log_anchor WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .unwrap_or((0, GENESIS.to_string())))
}

/// Appends a record inside the caller's transaction (so it commits with what it records).
pub fn append(tx: &Connection, r: &LogRecord<'_>) -> rusqlite::Result<()> {
    let last: Option<(i64, String)> = tx
        .row(
            "SELECT seq, hash FROM legal_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (last_seq, prev) = match last {
        Some(l) => l,
        None => anchor(tx)?,
    };
    let e = LogEvent {
        seq: last_seq + 1,
        time: r.time,
        event: r.event.to_string(),
        msgid: r.msgid.to_string(),
        sender: r.sender.to_string(),
        recipients: r.recipients.join(", "),
        subject: r.subject.to_string(),
        related: r.related.join(", "),
        provider: r.provider.to_string(),
        actor: r.actor.to_string(),
    };
    let h = hash(&prev, &e);
    tx.exec(
        "INSERT INTO legal_log(seq, time, event, msgid, sender, recipients, subject, related, provider, prev_hash, hash, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![e.seq, e.time, e.event, e.msgid, e.sender, e.recipients, e.subject, e.related, e.provider, prev, h, e.actor],
    )?;
    Ok(())
}

/// Drops the records older than `before` (the 30-month retention), remembering the seq and
/// hash of the last one dropped so the rest of the chain still verifies from there.
pub fn purge(tx: &Connection, before: i64) -> crate::Result<usize> {
    let oldest: Option<i64> = tx
        .row("SELECT time FROM legal_log ORDER BY seq LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    if oldest.is_none_or(|t| t >= before) {
        return Ok(0); // the usual case, answered from the first row
    }
    let last: Option<(i64, String)> = tx
        .row(
            "SELECT seq, hash FROM legal_log WHERE time < ?1 ORDER BY seq DESC LIMIT 1",
            [before],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((seq, hash)) = last else {
        return Ok(0);
    };
    // Records are appended in time order, so everything up to `seq` is past retention.
    let n = tx.exec("DELETE FROM legal_log WHERE seq <= ?1", [seq])?;
    tx.exec(
        "INSERT OR REPLACE INTO legal_log_anchor(id, seq, hash, dropped_before) VALUES (1, ?1, ?2, ?3)",
        params![seq, hash, before],
    )?;
    Ok(n)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(LogEvent, String, String)> {
    Ok((
        LogEvent {
            seq: r.get(0)?,
            time: r.get(1)?,
            event: r.get(2)?,
            msgid: r.get(3)?,
            sender: r.get(4)?,
            recipients: r.get(5)?,
            subject: r.get(6)?,
            related: r.get(7)?,
            provider: r.get(8)?,
            actor: r.get(11)?,
        },
        r.get(9)?,
        r.get(10)?,
    ))
}

const SELECT: &str = "SELECT seq, time, event, msgid, sender, recipients, subject, related, provider, prev_hash, hash, actor FROM legal_log";

/// Walks the chain in storage order; returns the number of records.
pub fn verify(c: &Connection) -> Result<u64, LogVerifyError> {
    let db = |e: rusqlite::Error| LogVerifyError::Db(e.to_string());
    let mut st = c
        .prepare_cached(&format!("{SELECT} ORDER BY rowid"))
        .map_err(db)?;
    let rows = st.query_map([], row).map_err(db)?;
    let (anchor_seq, mut prev) = anchor(c).map_err(db)?;
    let mut expected_seq = anchor_seq + 1;
    let mut n = 0;
    for r in rows {
        let (e, prev_hash, h) = r.map_err(db)?;
        if hash(&prev_hash, &e) != h {
            return Err(LogVerifyError::Edited { seq: e.seq });
        }
        if prev_hash != prev || e.seq != expected_seq {
            return Err(LogVerifyError::Broken { seq: e.seq });
        }
        prev = h;
        expected_seq = e.seq + 1;
        n += 1;
    }
    Ok(n)
}

pub fn records(c: &Connection, msgid: Option<&str>) -> crate::Result<Vec<LogEvent>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE ?1 IS NULL OR msgid = ?1 OR related LIKE '%' || ?1 || '%' ORDER BY seq"
    ))?;
    let rows = st
        .query_map([msgid], row)?
        .map(|r| r.map(|x| x.0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
