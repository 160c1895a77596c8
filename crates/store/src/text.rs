//! The full-text index of message text, on SQLite FTS5 with the trigram tokenizer: any
//! substring of three characters or more is found from the index, so IMAP SEARCH BODY
//! (RFC 9051 §6.4.4, a substring match) and the webmail's search keep their meaning and
//! stop reading every message. Text is lower-cased by the caller, so matching is
//! `text.contains(needle)` on lower-cased strings.
//!
//! One index row per message text per mailbox (`mailbox_text`; copies in the same mailbox
//! share it), and each row's id is `mailbox_id << 32 | n`: a search asks FTS5 for one
//! rowid range, so its cost follows the mailbox's hits, not the whole provider's.
//! `messages.text_id` points at the row; NULL means not indexed yet.

use crate::cached::Cached;
use crate::{FoundMessage, MailboxId, MessageText, Result, TextField, TextHits};
use rusqlite::{params, Connection, OptionalExtension};

/// Needles shorter than this many characters cannot be answered by trigrams.
pub const MIN_NEEDLE_CHARS: usize = 3;

fn id_range(mailbox_id: MailboxId) -> (i64, i64) {
    (mailbox_id.0 << 32, (mailbox_id.0 << 32) | 0xFFFF_FFFF)
}

/// The index row of a blob's text in a mailbox, if it has one.
pub fn existing(tx: &Connection, mailbox_id: MailboxId, hash: &str) -> Result<Option<i64>> {
    Ok(tx
        .row(
            "SELECT id FROM mailbox_text WHERE mailbox_id = ?1 AND hash = ?2",
            params![mailbox_id, hash],
            |r| r.get(0),
        )
        .optional()?)
}

/// Indexes a blob's text for a mailbox unless it already is; returns its row id.
pub fn index(
    tx: &Connection,
    mailbox_id: MailboxId,
    hash: &str,
    text: &MessageText,
) -> Result<i64> {
    if let Some(id) = existing(tx, mailbox_id, hash)? {
        return Ok(id);
    }
    let (lo, hi) = id_range(mailbox_id);
    let id: i64 = tx.row(
        "SELECT coalesce(max(id), ?1) + 1 FROM mailbox_text WHERE id BETWEEN ?1 AND ?2",
        params![lo, hi],
        |r| r.get(0),
    )?;
    tx.exec(
        "INSERT INTO mailbox_text(id, mailbox_id, hash) VALUES (?1, ?2, ?3)",
        params![id, mailbox_id, hash],
    )?;
    tx.exec(
        "INSERT OR REPLACE INTO text_index(rowid, subject, sender, recipient, cc, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, text.subject, text.from, text.to, text.cc, text.body],
    )?;
    Ok(id)
}

/// Indexes the text of a stored blob for a mailbox and points its messages at it.
pub fn index_stored(
    tx: &Connection,
    mailbox_id: MailboxId,
    hash: &str,
    text: &MessageText,
) -> Result<()> {
    let id = index(tx, mailbox_id, hash, text)?;
    tx.exec(
        "UPDATE messages SET text_id = ?1 WHERE text_id IS NULL AND blob = ?2
         AND folder_id IN (SELECT id FROM folders WHERE mailbox_id = ?3)",
        params![id, hash, mailbox_id],
    )?;
    Ok(())
}

/// Drops a mailbox's rows (the mailbox is being deleted).
pub fn forget_mailbox(tx: &Connection, mailbox_id: MailboxId) -> Result<()> {
    let (lo, hi) = id_range(mailbox_id);
    tx.exec(
        "DELETE FROM text_index WHERE rowid BETWEEN ?1 AND ?2",
        params![lo, hi],
    )?;
    tx.exec(
        "DELETE FROM mailbox_text WHERE mailbox_id = ?1",
        [mailbox_id],
    )?;
    Ok(())
}

/// An FTS5 phrase: the needle in double quotes, its own quotes doubled.
fn phrase(field: TextField, needle: &str) -> String {
    let quoted = format!("\"{}\"", needle.replace('"', "\"\""));
    let column = match field {
        TextField::Subject => "subject",
        TextField::From => "sender",
        TextField::To => "recipient",
        TextField::Cc => "cc",
        TextField::Body => "body",
        TextField::Anywhere => return quoted,
    };
    format!("{column} : {quoted}")
}

fn found_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FoundMessage> {
    Ok(FoundMessage {
        folder_id: r.get(0)?,
        uid: r.get(1)?,
        internal_date: r.get(2)?,
        flags: r.get(3)?,
    })
}

/// The messages of a mailbox whose indexed text holds `needle` (already lower-cased), and
/// those not indexed yet. `None` when the needle is too short for trigrams.
pub fn search(
    c: &Connection,
    mailbox_id: MailboxId,
    needle: &str,
    field: TextField,
) -> Result<Option<TextHits>> {
    if needle.chars().count() < MIN_NEEDLE_CHARS {
        return Ok(None);
    }
    let (lo, hi) = id_range(mailbox_id);
    // Two steps, so that SQLite never runs the full-text query once per message.
    let mut ids = c.prepare_cached(
        "SELECT rowid FROM text_index WHERE text_index MATCH ?1 AND rowid BETWEEN ?2 AND ?3",
    )?;
    let ids = ids
        .query_map(params![phrase(field, needle), lo, hi], |r| {
            r.get::<_, i64>(0)
        })?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    // The hits' messages in one statement (the ids as a JSON array), from one index.
    let ids = format!(
        "[{}]",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    let mut by_text = c.prepare_cached(
        "SELECT m.folder_id, m.uid, m.internal_date, m.flags
         FROM json_each(?1) j JOIN messages m ON m.text_id = j.value",
    )?;
    let mut found = by_text
        .query_map([ids], found_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    found.sort_by_key(|m| (m.folder_id, m.uid));
    let mut pending = c.prepare_cached(
        "SELECT m.folder_id, m.uid, m.internal_date, m.flags FROM messages m
         WHERE m.text_id IS NULL
           AND m.folder_id IN (SELECT id FROM folders WHERE mailbox_id = ?1)
         ORDER BY m.folder_id, m.uid",
    )?;
    let unindexed = pending
        .query_map([mailbox_id], found_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(TextHits { found, unindexed }))
}

/// Blobs of stored messages that have no text in the index yet (messages stored before
/// the index existed), with their mailbox, at most `limit`.
pub fn unindexed(c: &Connection, limit: i64) -> Result<Vec<(MailboxId, String)>> {
    let mut q = c.prepare_cached(
        "SELECT DISTINCT f.mailbox_id, m.blob FROM messages m JOIN folders f ON f.id = m.folder_id
         WHERE m.text_id IS NULL LIMIT ?1",
    )?;
    let rows = q
        .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
