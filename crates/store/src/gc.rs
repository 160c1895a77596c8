//! Giving back the space of message bytes nobody references any more: messages expunged
//! or deleted with their folder or mailbox, queue items done, quarantine entries past
//! retention. Triggers note each released blob in `blob_release`; a collection, at least
//! a grace period later, checks that no message, queue item or quarantine entry uses it
//! again, then drops its inline copy, its full-text rows and (after the commit) its file.
//! Blob files written within the grace period stay (see `blob.rs`).
//!
//! A blob file whose transaction failed after the write has no release: the sweep of
//! orphans ([`crate::Store::sweep_orphan_blobs`]) finds it by walking the files.

use crate::cached::Cached;
use crate::{Result, Unix};
use rusqlite::{params, Connection, OptionalExtension};

/// Checks up to `limit` blobs released at least `grace_secs` before `now`. Returns how many
/// were checked and the unreferenced ones: their inline copies and index rows are gone
/// when the caller commits, their files are the caller's to remove.
pub fn collect(
    tx: &Connection,
    now: Unix,
    grace_secs: i64,
    limit: i64,
) -> Result<(usize, Vec<String>)> {
    tx.exec(
        "UPDATE blob_release SET since = ?1 WHERE since IS NULL",
        [now],
    )?;
    let due: Vec<String> = tx
        .prepare_cached("SELECT hash FROM blob_release WHERE since <= ?1 LIMIT ?2")?
        .query_map(params![now - grace_secs, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut free = vec![];
    let checked = due.len();
    for hash in due {
        tx.exec("DELETE FROM blob_release WHERE hash = ?1", [&hash])?;
        if in_use(tx, &hash)? {
            continue;
        }
        tx.exec("DELETE FROM small_blobs WHERE hash = ?1", [&hash])?;
        tx.exec(
            "DELETE FROM text_index WHERE rowid IN (SELECT id FROM mailbox_text WHERE hash = ?1)",
            [&hash],
        )?;
        tx.exec("DELETE FROM mailbox_text WHERE hash = ?1", [&hash])?;
        free.push(hash);
    }
    Ok((checked, free))
}

/// Whether a message, queue item or quarantine entry uses the bytes named `hash`.
pub fn in_use(c: &Connection, hash: &str) -> Result<bool> {
    Ok(c.row(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM messages WHERE blob = ?1)
                OR EXISTS (SELECT 1 FROM queue WHERE blob = ?1)
                OR EXISTS (SELECT 1 FROM quarantine WHERE blob = ?1)",
        [hash],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}
