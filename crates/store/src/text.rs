//! The full-text index of message text, on SQLite FTS5 with the trigram tokenizer: any
//! substring of three characters or more is found from the index, so IMAP SEARCH BODY
//! (RFC 9051 §6.4.4, a substring match) and the webmail's search keep their meaning and
//! stop reading every message. Text is indexed once per blob (a copied message shares it),
//! lower-cased by the caller, so matching is `text.contains(needle)` on lower-cased strings.

use crate::{MessageText, Result, TextField, TextHits};
use rusqlite::{params, Connection, Transaction};

/// Needles shorter than this many characters cannot be answered by trigrams.
pub const MIN_NEEDLE_CHARS: usize = 3;

/// Indexes a blob's text unless it already is (the same bytes appended twice).
pub fn index(tx: &Transaction<'_>, hash: &str, text: &MessageText) -> Result<()> {
    let added = tx.execute("INSERT OR IGNORE INTO blob_text(hash) VALUES (?1)", [hash])?;
    if added == 1 {
        tx.execute(
            "INSERT OR REPLACE INTO text_index(rowid, subject, sender, recipient, cc, body)
             VALUES (last_insert_rowid(), ?1, ?2, ?3, ?4, ?5)",
            params![text.subject, text.from, text.to, text.cc, text.body],
        )?;
    }
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

/// The UIDs of a folder whose indexed text holds `needle` (already lower-cased), and those
/// whose blob is not indexed yet. `None` when the needle is too short for trigrams.
pub fn search(
    c: &Connection,
    folder_id: i64,
    needle: &str,
    field: TextField,
) -> Result<Option<TextHits>> {
    if needle.chars().count() < MIN_NEEDLE_CHARS {
        return Ok(None);
    }
    let mut found = c.prepare_cached(
        "SELECT m.uid FROM messages m JOIN blob_text b ON b.hash = m.blob
         WHERE m.folder_id = ?1
           AND b.id IN (SELECT rowid FROM text_index WHERE text_index MATCH ?2)
         ORDER BY m.uid",
    )?;
    let found = found
        .query_map(params![folder_id, phrase(field, needle)], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(Some(TextHits {
        found,
        unindexed: unindexed_uids(c, folder_id)?,
    }))
}

fn unindexed_uids(c: &Connection, folder_id: i64) -> Result<Vec<i64>> {
    let mut q = c.prepare_cached(
        "SELECT m.uid FROM messages m WHERE m.folder_id = ?1
         AND NOT EXISTS (SELECT 1 FROM blob_text b WHERE b.hash = m.blob) ORDER BY m.uid",
    )?;
    let uids = q
        .query_map([folder_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(uids)
}

/// Blobs of stored messages that have no text in the index yet (messages stored before
/// the index existed), at most `limit`.
pub fn unindexed_blobs(c: &Connection, limit: i64) -> Result<Vec<String>> {
    let mut q = c.prepare_cached(
        "SELECT DISTINCT m.blob FROM messages m
         WHERE NOT EXISTS (SELECT 1 FROM blob_text b WHERE b.hash = m.blob) LIMIT ?1",
    )?;
    let blobs = q
        .query_map([limit], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(blobs)
}
