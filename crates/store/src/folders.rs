//! Folders and messages as the access protocols see them (RFC 9051 UIDs and flags, RFC 7162
//! MODSEQ, QRESYNC's expunged UIDs), on SQLite. Each function runs inside the caller's
//! transaction or connection; each change bumps the folder's HIGHESTMODSEQ once and gives
//! that value to every message it changed.

use crate::cached::Cached;
use crate::{
    FlagChanges, FlagOp, Folder, FolderChanges, FolderId, ListKey, ListOrder, ListedMessage,
    MailboxId, MessageEntry, OpenFolder, Result, StoreError, Unix,
};
use rusqlite::{params, Connection, OptionalExtension};

/// A folder with its counts, kept in the folder's row by triggers (migration 11).
const FOLDER: &str = "SELECT f.id, f.name, f.special_use,
    EXISTS(SELECT 1 FROM subscriptions s WHERE s.mailbox_id = f.mailbox_id AND s.name = f.name),
    f.uidvalidity, f.uidnext, f.highestmodseq, f.n_messages, f.n_unseen, f.n_bytes, f.n_deleted
    FROM folders f";

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: r.get(0)?,
        name: r.get(1)?,
        special_use: r.get(2)?,
        subscribed: r.get(3)?,
        uidvalidity: r.get(4)?,
        uidnext: r.get(5)?,
        highestmodseq: r.get(6)?,
        messages: r.get(7)?,
        unseen: r.get(8)?,
        size: r.get(9)?,
        deleted: r.get(10)?,
    })
}

pub fn folders(c: &Connection, mailbox_id: MailboxId) -> Result<Vec<Folder>> {
    let mut st = c.prepare_cached(&format!(
        "{FOLDER} WHERE f.mailbox_id = ?1 ORDER BY f.name = 'INBOX' DESC, f.name"
    ))?;
    let rows = st
        .query_map([mailbox_id], folder_row)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn folder(c: &Connection, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>> {
    Ok(
        c.prepare_cached(&format!("{FOLDER} WHERE f.mailbox_id = ?1 AND f.name = ?2"))?
            .query_row(params![mailbox_id, name], folder_row)
            .optional()?,
    )
}

fn folder_id(tx: &Connection, mailbox_id: MailboxId, name: &str) -> Result<FolderId> {
    tx.row(
        "SELECT id FROM folders WHERE mailbox_id = ?1 AND name = ?2",
        params![mailbox_id, name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("folder {name}")))
}

/// A UIDVALIDITY that differs from any the name had before: the creation time, and above
/// every one this mailbox's folders have or had (RFC 9051 §2.3.1.1).
fn new_uidvalidity(tx: &Connection, mailbox_id: MailboxId, now: Unix) -> Result<i64> {
    let max: i64 = tx
        .row(
            "SELECT max(last_uidvalidity,
                 (SELECT coalesce(max(uidvalidity), 0) FROM folders WHERE mailbox_id = ?1))
             FROM mailboxes WHERE id = ?1",
            [mailbox_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
    Ok(now.max(max + 1))
}

/// Keeps the highest UIDVALIDITY of the mailbox's folders before one of them goes or
/// changes, so [`new_uidvalidity`] never gives it out again.
fn remember_uidvalidity(tx: &Connection, mailbox_id: MailboxId) -> Result<()> {
    tx.exec(
        "UPDATE mailboxes SET last_uidvalidity = max(last_uidvalidity,
             (SELECT coalesce(max(uidvalidity), 0) FROM folders WHERE mailbox_id = ?1))
         WHERE id = ?1",
        [mailbox_id],
    )?;
    Ok(())
}

/// See `Tx::adopt_uidvalidity`.
pub fn adopt_uidvalidity(
    tx: &Connection,
    address: &str,
    name: &str,
    uidvalidity: i64,
) -> Result<bool> {
    if !(1..=i64::from(u32::MAX)).contains(&uidvalidity) {
        return Ok(false);
    }
    let (mailbox_id, created, given_out): (MailboxId, Unix, i64) = tx
        .row(
            "SELECT id, created, max(last_uidvalidity,
                 (SELECT coalesce(max(uidvalidity), 0) FROM folders WHERE mailbox_id = m.id))
             FROM mailboxes m WHERE address = ?1",
            [address],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
    if uidvalidity >= created && uidvalidity <= given_out {
        return Ok(false);
    }
    remember_uidvalidity(tx, mailbox_id)?;
    let n = tx.exec(
        "UPDATE folders SET uidvalidity = ?3 WHERE mailbox_id = ?1 AND name = ?2 AND uidnext = 1
           AND NOT EXISTS (SELECT 1 FROM messages WHERE folder_id = folders.id)",
        params![mailbox_id, name, uidvalidity],
    )?;
    Ok(n == 1)
}

pub fn create_folder(tx: &Connection, mailbox_id: MailboxId, name: &str, now: Unix) -> Result<()> {
    let uidvalidity = new_uidvalidity(tx, mailbox_id, now)?;
    let n = tx.exec(
        "INSERT OR IGNORE INTO folders(mailbox_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
        params![mailbox_id, name, uidvalidity],
    )?;
    if n == 0 {
        return Err(StoreError::Exists(format!("folder {name}")));
    }
    Ok(())
}

pub fn delete_folder(tx: &Connection, mailbox_id: MailboxId, name: &str) -> Result<()> {
    let id = folder_id(tx, mailbox_id, name)?;
    let size: i64 = tx.row(
        "SELECT coalesce(sum(size), 0) FROM messages WHERE folder_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    tx.exec(
        "UPDATE mailboxes SET used = max(0, used - ?2) WHERE id = ?1",
        params![mailbox_id, size],
    )?;
    remember_uidvalidity(tx, mailbox_id)?;
    tx.exec("DELETE FROM folders WHERE id = ?1", [id])?;
    Ok(())
}

pub fn rename_folder(
    tx: &Connection,
    mailbox_id: MailboxId,
    from: &str,
    to: &str,
    now: Unix,
) -> Result<()> {
    let id = folder_id(tx, mailbox_id, from)?;
    if folder_id(tx, mailbox_id, to).is_ok() {
        return Err(StoreError::Exists(format!("folder {to}")));
    }
    if from.eq_ignore_ascii_case("INBOX") {
        create_folder(tx, mailbox_id, to, now)?;
        let dest = folder_id(tx, mailbox_id, to)?;
        let uids = uids_of(tx, id)?;
        copy_messages(tx, id, &uids, dest, true)?;
        return Ok(());
    }
    // Children first keep their own UIDVALIDITY: their names change, their UIDs do not.
    let uidvalidity = new_uidvalidity(tx, mailbox_id, now)?;
    remember_uidvalidity(tx, mailbox_id)?;
    tx.exec(
        "UPDATE folders SET name = ?3 || substr(name, length(?2) + 1), uidvalidity = ?4 + id
         WHERE mailbox_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        params![mailbox_id, from, to, uidvalidity],
    )?;
    // The subscriptions follow the folders they name.
    tx.exec(
        "UPDATE OR REPLACE subscriptions SET name = ?3 || substr(name, length(?2) + 1)
         WHERE mailbox_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        params![mailbox_id, from, to],
    )?;
    Ok(())
}

/// RFC 9051 §6.3.7–6.3.8: a folder that exists is subscribed; a name is unsubscribed
/// whether its folder exists or not (a deleted folder's subscription stays until then).
pub fn subscribe(tx: &Connection, mailbox_id: MailboxId, name: &str, on: bool) -> Result<()> {
    if on {
        let exists: bool = tx.row(
            "SELECT EXISTS(SELECT 1 FROM folders WHERE mailbox_id = ?1 AND name = ?2)",
            params![mailbox_id, name],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::NotFound(format!("folder {name}")));
        }
        tx.exec(
            "INSERT OR IGNORE INTO subscriptions(mailbox_id, name) VALUES (?1, ?2)",
            params![mailbox_id, name],
        )?;
        return Ok(());
    }
    let n = tx.exec(
        "DELETE FROM subscriptions WHERE mailbox_id = ?1 AND name = ?2",
        params![mailbox_id, name],
    )?;
    let exists: bool = tx.row(
        "SELECT EXISTS(SELECT 1 FROM folders WHERE mailbox_id = ?1 AND name = ?2)",
        params![mailbox_id, name],
        |r| r.get(0),
    )?;
    if n == 0 && !exists {
        return Err(StoreError::NotFound(format!("folder {name}")));
    }
    Ok(())
}

/// The subscribed names, folders or not, by name.
pub fn subscriptions(c: &Connection, mailbox_id: MailboxId) -> Result<Vec<String>> {
    let mut st =
        c.prepare_cached("SELECT name FROM subscriptions WHERE mailbox_id = ?1 ORDER BY name")?;
    let rows = st
        .query_map([mailbox_id], |r| r.get(0))?
        .collect::<std::result::Result<Vec<String>, _>>()?;
    Ok(rows)
}

const ENTRY: &str = "SELECT uid, modseq, flags, size, internal_date, blob FROM messages";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageEntry> {
    Ok(MessageEntry {
        uid: r.get(0)?,
        modseq: r.get(1)?,
        flags: r.get(2)?,
        size: r.get(3)?,
        internal_date: r.get(4)?,
        blob: r.get(5)?,
    })
}

pub fn messages(c: &Connection, folder_id: FolderId) -> Result<Vec<MessageEntry>> {
    let mut st = c.prepare_cached(&format!("{ENTRY} WHERE folder_id = ?1 ORDER BY uid"))?;
    let rows = st
        .query_map([folder_id], entry_row)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

const LISTED: &str = "SELECT m.uid, m.flags, m.size, m.internal_date, m.subject, m.sender, \
    m.pec_kind, m.identificativo, m.structure FROM messages m";

fn listed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ListedMessage> {
    Ok(ListedMessage {
        uid: r.get(0)?,
        flags: r.get(1)?,
        size: r.get(2)?,
        internal_date: r.get(3)?,
        subject: r.get(4)?,
        sender: r.get(5)?,
        pec_kind: crate::sqlite::named_opt(r, 6)?,
        identificativo: r.get(7)?,
        structure: r.get(8)?,
    })
}

pub fn message_page(
    c: &Connection,
    folder_id: FolderId,
    order: ListOrder,
    offset: i64,
    limit: i64,
) -> Result<Vec<ListedMessage>> {
    let column = match order.key {
        ListKey::Date => "m.internal_date",
        ListKey::Sender => "m.sender COLLATE NOCASE",
        ListKey::Subject => "m.subject COLLATE NOCASE",
        ListKey::Size => "m.size",
    };
    let dir = if order.descending { "DESC" } else { "ASC" };
    let mut st = c.prepare_cached(&format!(
        // Ties by row id (arrival order, like UIDs): each sort then reads one index in order.
        "{LISTED} WHERE m.folder_id = ?1 ORDER BY {column} {dir}, m.id {dir} LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st
        .query_map(params![folder_id, limit, offset], listed_row)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn listed(c: &Connection, folder_id: FolderId, uids: &[i64]) -> Result<Vec<ListedMessage>> {
    let mut st = c.prepare_cached(&format!("{LISTED} WHERE m.folder_id = ?1 AND m.uid = ?2"))?;
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        if let Some(m) = st
            .query_row(params![folder_id, uid], listed_row)
            .optional()?
        {
            out.push(m);
        }
    }
    out.sort_by_key(|m| m.uid);
    Ok(out)
}

pub fn messages_with_identificativo(
    c: &Connection,
    mailbox_id: MailboxId,
    identificativo: &str,
) -> Result<Vec<(String, ListedMessage)>> {
    let mut st = c.prepare_cached(&format!(
        "{}, f.name FROM messages m JOIN folders f ON f.id = m.folder_id \
         WHERE f.mailbox_id = ?1 AND m.identificativo = ?2 ORDER BY m.internal_date, m.id",
        &LISTED[..LISTED.len() - " FROM messages m".len()]
    ))?;
    let rows = st
        .query_map(params![mailbox_id, identificativo], |r| {
            Ok((r.get(9)?, listed_row(r)?))
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A folder's identity and IMAP state, without counting its messages (counts are zero).
pub fn folder_head(c: &Connection, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>> {
    Ok(c.row(
        "SELECT f.id, f.name, f.special_use, EXISTS(SELECT 1 FROM subscriptions s \
         WHERE s.mailbox_id = f.mailbox_id AND s.name = f.name), f.uidvalidity, f.uidnext, \
         f.highestmodseq, 0, 0, 0, 0 FROM folders f WHERE f.mailbox_id = ?1 AND f.name = ?2",
        params![mailbox_id, name],
        folder_row,
    )
    .optional()?)
}

/// A folder and its UIDs in one pass: the counts come from the same rows, and the flags are
/// tested inside SQLite, so no row is built per message.
pub fn open_folder(
    c: &Connection,
    mailbox_id: MailboxId,
    name: &str,
) -> Result<Option<OpenFolder>> {
    let Some(mut folder) = folder_head(c, mailbox_id, name)? else {
        return Ok(None);
    };
    let mut st = c.prepare_cached(
        "SELECT uid, instr(' ' || flags || ' ', ' \\Seen ') = 0, size FROM messages \
         WHERE folder_id = ?1 ORDER BY uid",
    )?;
    let mut rows = st.query([folder.id])?;
    let mut uids = Vec::new();
    while let Some(r) = rows.next()? {
        let (uid, unseen, size): (i64, bool, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        folder.unseen += i64::from(unseen);
        folder.size += size;
        uids.push((uid, unseen));
    }
    folder.messages = uids.len() as i64;
    Ok(Some(OpenFolder { folder, uids }))
}

fn uids_of(c: &Connection, folder_id: FolderId) -> Result<Vec<i64>> {
    let mut st = c.prepare_cached("SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid")?;
    let rows = st
        .query_map([folder_id], |r| r.get(0))?
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    Ok(rows)
}

pub fn changes_since(c: &Connection, folder_id: FolderId, modseq: i64) -> Result<FolderChanges> {
    let highestmodseq: i64 = c.row(
        "SELECT highestmodseq FROM folders WHERE id = ?1",
        [folder_id],
        |r| r.get(0),
    )?;
    if highestmodseq <= modseq {
        return Ok(FolderChanges {
            highestmodseq,
            ..Default::default()
        });
    }
    let mut st = c.prepare_cached(&format!(
        "{ENTRY} WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid"
    ))?;
    let changed = st
        .query_map(params![folder_id, modseq], entry_row)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut st = c.prepare_cached(
        "SELECT uid FROM expunged WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid",
    )?;
    let expunged = st
        .query_map(params![folder_id, modseq], |r| r.get(0))?
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    Ok(FolderChanges {
        highestmodseq,
        changed,
        expunged,
    })
}

pub fn messages_between(
    c: &Connection,
    folder_id: FolderId,
    lo: i64,
    hi: i64,
) -> Result<Vec<MessageEntry>> {
    let mut st = c.prepare_cached(&format!(
        "{ENTRY} WHERE folder_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
    ))?;
    let rows = st
        .query_map(params![folder_id, lo, hi], entry_row)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// uid, blob name, bytes when kept in the database, structure.
pub type ContentRow = (i64, String, Option<Vec<u8>>, Option<String>);

/// Bytes (when kept in the database) and parsed structure of some messages, one query.
/// Messages whose bytes live in blob files come back with `data: None` and their blob name.
pub fn contents(c: &Connection, folder_id: FolderId, uids: &[i64]) -> Result<Vec<ContentRow>> {
    let mut out = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        // Not cached: the statement differs with the number of UIDs.
        let mut st = c.prepare(&format!(
            "SELECT m.uid, m.blob, s.data, m.structure FROM messages m LEFT JOIN small_blobs s ON s.hash = m.blob
             WHERE m.folder_id = ? AND m.uid IN ({marks})"
        ))?;
        let mut args: Vec<i64> = vec![folder_id.0];
        args.extend_from_slice(chunk);
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        for r in rows {
            out.push(r?);
        }
    }
    Ok(out)
}

/// The next MODSEQ of a folder, recorded as its HIGHESTMODSEQ.
fn next_modseq(tx: &Connection, folder_id: FolderId) -> Result<i64> {
    let m: i64 = tx.row(
        "UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
        [folder_id],
        |r| r.get(0),
    )?;
    Ok(m)
}

/// Flags as a sorted set, joined by spaces; system flags keep their case, keywords theirs.
pub fn normalize_flags<'a>(flags: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = flags.filter(|f| !f.is_empty()).collect();
    v.sort_by_key(|f| f.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v.join(" ")
}

pub fn store_flags(
    tx: &Connection,
    folder_id: FolderId,
    uids: &[i64],
    op: FlagOp,
    flags: &[String],
    unchanged_since: Option<i64>,
) -> Result<FlagChanges> {
    let mut out = FlagChanges::default();
    let mut modseq = None;
    let mut get =
        tx.prepare_cached("SELECT flags, modseq FROM messages WHERE folder_id = ?1 AND uid = ?2")?;
    let mut set = tx.prepare_cached(
        "UPDATE messages SET flags = ?3, modseq = ?4 WHERE folder_id = ?1 AND uid = ?2",
    )?;
    for &uid in uids {
        let Some((old, old_modseq)): Option<(String, i64)> = get
            .query_row(params![folder_id, uid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        else {
            continue;
        };
        if unchanged_since.is_some_and(|u| old_modseq > u) {
            out.modified.push(uid);
            continue;
        }
        let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
        let new = match op {
            FlagOp::Replace => normalize_flags(flags.iter().map(String::as_str)),
            FlagOp::Add => normalize_flags(old.split(' ').chain(flags.iter().map(String::as_str))),
            FlagOp::Remove => normalize_flags(old.split(' ').filter(|f| !has(f))),
        };
        if new == old {
            continue;
        }
        let m = match modseq {
            Some(m) => m,
            None => *modseq.insert(next_modseq(tx, folder_id)?),
        };
        set.execute(params![folder_id, uid, new, m])?;
        out.changed.push((uid, new, m));
    }
    Ok(out)
}

pub fn expunge(tx: &Connection, folder_id: FolderId, uids: &[i64]) -> Result<Vec<i64>> {
    if uids.is_empty() {
        return Ok(vec![]);
    }
    let modseq = next_modseq(tx, folder_id)?;
    let mut del =
        tx.prepare_cached("DELETE FROM messages WHERE folder_id = ?1 AND uid = ?2 RETURNING size")?;
    let mut gone = tx.prepare_cached(
        "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) VALUES (?1, ?2, ?3)",
    )?;
    let mut removed = vec![];
    let mut freed = 0i64;
    for &uid in uids {
        let size: Option<i64> = del
            .query_row(params![folder_id, uid], |r| r.get(0))
            .optional()?;
        if let Some(size) = size {
            gone.execute(params![folder_id, uid, modseq])?;
            freed += size;
            removed.push(uid);
        }
    }
    tx.exec(
        "UPDATE mailboxes SET used = max(0, used - ?2) WHERE id = (SELECT mailbox_id FROM folders WHERE id = ?1)",
        params![folder_id, freed],
    )?;
    Ok(removed)
}

pub fn copy_messages(
    tx: &Connection,
    folder_id: FolderId,
    uids: &[i64],
    to_folder_id: FolderId,
    remove: bool,
) -> Result<Vec<(i64, i64)>> {
    let same_mailbox: bool = tx.row(
        "SELECT (SELECT mailbox_id FROM folders WHERE id = ?1) = (SELECT mailbox_id FROM folders WHERE id = ?2)",
        params![folder_id, to_folder_id],
        |r| r.get(0),
    )?;
    if !same_mailbox {
        return Err(StoreError::Refused("folders of different mailboxes".into()));
    }
    let mut total = 0i64;
    let mut pairs = vec![];
    let modseq = next_modseq(tx, to_folder_id)?;
    let mut next_uid: i64 = tx.row(
        "SELECT uidnext FROM folders WHERE id = ?1",
        [to_folder_id],
        |r| r.get(0),
    )?;
    for &uid in uids {
        let n = tx.exec(
            "INSERT INTO messages(folder_id, uid, modseq, flags, internal_date, size, blob, subject, sender, pec_kind, identificativo, structure, text_id)
             SELECT ?3, ?4, ?5, flags, internal_date, size, blob, subject, sender, pec_kind, identificativo, structure, text_id
             FROM messages WHERE folder_id = ?1 AND uid = ?2",
            params![folder_id, uid, to_folder_id, next_uid, modseq],
        )?;
        if n == 1 {
            total += tx.row(
                "SELECT size FROM messages WHERE folder_id = ?1 AND uid = ?2",
                params![to_folder_id, next_uid],
                |r| r.get::<_, i64>(0),
            )?;
            pairs.push((uid, next_uid));
            next_uid += 1;
        }
    }
    tx.exec(
        "UPDATE folders SET uidnext = ?2 WHERE id = ?1",
        params![to_folder_id, next_uid],
    )?;
    if remove {
        let moved: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        expunge(tx, folder_id, &moved)?;
    }
    // The copies take space; moved messages take again what the expunge gave back.
    tx.exec(
        "UPDATE mailboxes SET used = used + ?2 WHERE id = (SELECT mailbox_id FROM folders WHERE id = ?1)",
        params![to_folder_id, total],
    )?;
    Ok(pairs)
}

/// Messages above the folder's claimed `\Recent` mark: an index range, short unless the
/// folder was never selected.
pub fn unclaimed_recent(c: &Connection, folder_id: FolderId) -> Result<i64> {
    Ok(c.row(
        "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id
         WHERE m.folder_id = ?1 AND m.uid > f.recent_uid",
        [folder_id],
        |r| r.get(0),
    )?)
}

pub fn claim_recent(tx: &Connection, folder_id: FolderId) -> Result<i64> {
    let (first, uidnext): (i64, i64) = tx.row(
        "SELECT recent_uid + 1, uidnext FROM folders WHERE id = ?1",
        [folder_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if first < uidnext {
        tx.exec(
            "UPDATE folders SET recent_uid = ?2 WHERE id = ?1",
            params![folder_id, uidnext - 1],
        )?;
    }
    Ok(first)
}

/// The mailbox a folder belongs to.
pub fn mailbox_of(c: &Connection, folder_id: FolderId) -> Result<MailboxId> {
    c.row(
        "SELECT mailbox_id FROM folders WHERE id = ?1",
        [folder_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder_id}")))
}
