//! Webmail sessions, kept in the store so a restart (or another node) does not log anyone
//! out. Only a hash of each session's token is stored: reading the database does not give
//! a way into a mailbox.

use crate::cached::Cached;
use crate::{Result, Unix, WebSession};
use rusqlite::{params, Connection, OptionalExtension};

/// At most this many sessions per mailbox; the least recently used go first.
const PER_MAILBOX: i64 = 50;

/// Records a new session, dropping those idle since before `expired_before` and the
/// mailbox's oldest beyond [`PER_MAILBOX`].
pub fn start(tx: &Connection, s: &WebSession, expired_before: Unix) -> Result<()> {
    tx.exec(
        "DELETE FROM web_sessions WHERE last_seen < ?1",
        [expired_before],
    )?;
    tx.exec(
        "INSERT INTO web_sessions(token_hash, mailbox_id, csrf, lang, created, last_seen,
            collaboration_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![
            s.token_hash,
            s.mailbox_id,
            s.csrf,
            s.lang,
            s.last_seen,
            s.collaboration_id
        ],
    )?;
    tx.exec(
        // Per box and per login on it (the holder, each collaborator): a collaborator's
        // sessions never push the holder's out.
        "DELETE FROM web_sessions WHERE mailbox_id = ?1 AND collaboration_id IS ?3
           AND token_hash NOT IN
         (SELECT token_hash FROM web_sessions WHERE mailbox_id = ?1 AND collaboration_id IS ?3
          ORDER BY last_seen DESC LIMIT ?2)",
        params![s.mailbox_id, PER_MAILBOX, s.collaboration_id],
    )?;
    Ok(())
}

/// A session by its token's hash, with its mailbox's address and password state.
pub fn get(c: &Connection, token_hash: &str) -> Result<Option<WebSession>> {
    let mut st = c.prepare_cached(
        "SELECT s.token_hash, s.mailbox_id, m.address, s.csrf, s.lang, m.must_change_password,
                s.last_seen, s.created, s.collaboration_id
         FROM web_sessions s JOIN mailboxes m ON m.id = s.mailbox_id WHERE s.token_hash = ?1",
    )?;
    let s = st
        .query_row([token_hash], |r| {
            Ok(WebSession {
                token_hash: r.get(0)?,
                mailbox_id: r.get(1)?,
                address: r.get(2)?,
                csrf: r.get(3)?,
                lang: r.get(4)?,
                must_change_password: r.get(5)?,
                last_seen: r.get(6)?,
                created: r.get(7)?,
                collaboration_id: r.get(8)?,
            })
        })
        .optional()?;
    Ok(s)
}

pub fn touch(tx: &Connection, token_hash: &str, now: Unix) -> Result<()> {
    tx.exec(
        "UPDATE web_sessions SET last_seen = ?2 WHERE token_hash = ?1",
        params![token_hash, now],
    )?;
    Ok(())
}

pub fn set_lang(tx: &Connection, token_hash: &str, lang: &str) -> Result<()> {
    tx.exec(
        "UPDATE web_sessions SET lang = ?2 WHERE token_hash = ?1",
        params![token_hash, lang],
    )?;
    Ok(())
}

pub fn end(tx: &Connection, token_hash: &str) -> Result<()> {
    tx.exec(
        "DELETE FROM web_sessions WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(())
}
