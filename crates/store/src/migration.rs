//! Copies from an old provider's box (issue 15): one job per mailbox, the old box's folders
//! as the copy knows them, and one item per source message — its (UIDVALIDITY, UID), its
//! SHA-256 and where it went. Items are written in the same transaction as the messages
//! they copied ([`crate::Tx::migration_record`]): after a crash, what has an item is here
//! and what has none is not, so a restart copies nothing twice and misses nothing.

use crate::cached::Cached;
use crate::{
    MailboxId, MigrationErrorKind, MigrationFolderId, MigrationJobId, MigrationState, Result,
    StoreError, Unix,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use std::str::FromStr;

/// A message at the source: (UIDVALIDITY, UID).
pub type SourceKey = (i64, i64);

/// A copy from an old provider's box into one of ours.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationJob {
    pub id: MigrationJobId,
    pub mailbox_id: MailboxId,
    /// The mailbox copied into.
    pub address: String,
    /// The old box's address (its login at the old provider).
    pub old_address: String,
    /// The old provider's IMAPS server.
    pub host: String,
    pub port: u16,
    /// Extra CA (PEM) trusted for the old server, besides the system's.
    #[serde(skip)]
    pub ca_pem: Option<String>,
    /// The old INBOX goes into our INBOX; otherwise into a folder named after the old
    /// address.
    pub into_inbox: bool,
    /// Every folder of the old box, not only its INBOX.
    pub all_folders: bool,
    pub state: MigrationState,
    pub error_kind: Option<MigrationErrorKind>,
    /// The cause as the old server or our side gave it, for the user and the operator.
    pub error_detail: Option<String>,
    /// When the state (or its error) last changed.
    pub state_since: Unix,
    pub created: Unix,
    /// The switch-over date: the last sync runs then and the job ends.
    pub switch_at: Option<Unix>,
    /// When the next run (the first copy, a resume or a sync) is due; `None`: none is.
    pub next_run: Option<Unix>,
    pub runs: i64,
    pub last_run_started: Option<Unix>,
    pub last_run_finished: Option<Unix>,
    /// How long the last run took, in milliseconds.
    pub last_run_ms: Option<i64>,
    /// What the old box held at the last count.
    pub source_messages: i64,
    pub source_bytes: i64,
    /// What the items say was copied so far.
    pub copied_messages: i64,
    pub copied_bytes: i64,
    /// Items whose message was deleted at the source after it was copied (kept here).
    pub deleted_at_source: i64,
    /// The old password, encrypted (the services' key); `None` once erased.
    #[serde(skip)]
    pub secret: Option<Vec<u8>>,
}

/// A job about to be started (or started again).
#[derive(Debug, Clone)]
pub struct NewMigrationJob<'a> {
    pub mailbox_id: MailboxId,
    pub old_address: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub ca_pem: Option<&'a str>,
    pub into_inbox: bool,
    pub all_folders: bool,
    pub switch_at: Option<Unix>,
    pub secret: &'a [u8],
}

/// A folder of the old box as a job knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFolder {
    pub id: MigrationFolderId,
    pub job_id: MigrationJobId,
    /// The folder's name as the old server sends it (any bytes).
    pub source: Vec<u8>,
    /// Our folder it is copied into.
    pub dest: String,
    /// The old folder's UIDVALIDITY at the last run (0: never examined).
    pub uidvalidity: i64,
}

/// One message of the old box, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationItem {
    pub uidvalidity: i64,
    pub uid: i64,
    /// SHA-256 (hex) of the bytes, which are the same here and at the source.
    pub sha256: String,
    pub size: i64,
    /// Its UID in our folder.
    pub dest_uid: i64,
    pub deleted_at_source: bool,
}

/// A run's report as signed: the JSON and the provider's detached CMS signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub run: i64,
    pub finished: Unix,
    pub json: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The jobs, their folders and items.
pub trait MigrationStore {
    /// Creates the mailbox's job, or starts its existing one again with these settings: state
    /// [`MigrationState::Preparing`], due at `now`, error cleared. The items stay when the old
    /// address is the same (a resume copies only what is missing); a job from another old
    /// address that has not ended is refused with `Exists`, one that has is replaced.
    fn migration_start(&self, job: &NewMigrationJob<'_>, now: Unix) -> Result<MigrationJobId>;
    /// Every job, by mailbox address.
    fn migration_jobs(&self) -> Result<Vec<MigrationJob>>;
    fn migration_job(&self, mailbox_id: MailboxId) -> Result<Option<MigrationJob>>;
    /// Leases up to `max` jobs due at `now` and not leased: each is this caller's until
    /// `now + lease_secs` or [`MigrationStore::migration_end_run`].
    fn migration_claim(&self, now: Unix, lease_secs: i64, max: usize) -> Result<Vec<MigrationJob>>;
    /// Extends the lease of a job still running.
    fn migration_renew(&self, id: MigrationJobId, lease_until: Unix) -> Result<()>;
    /// At start-up of the only node: no job is running.
    fn migration_release_leases(&self) -> Result<usize>;
    /// Sets a job's state and error; `state_since` moves only when either changes.
    fn migration_set_state(
        &self,
        id: MigrationJobId,
        state: MigrationState,
        error: Option<(MigrationErrorKind, &str)>,
        now: Unix,
    ) -> Result<()>;
    /// What the old box holds: messages and bytes.
    fn migration_set_source(&self, id: MigrationJobId, messages: i64, bytes: i64) -> Result<()>;
    /// A run ended: its times kept, the lease released, the next run due at `next_run`.
    fn migration_end_run(
        &self,
        id: MigrationJobId,
        started: Unix,
        finished_ms: (Unix, i64),
        next_run: Option<Unix>,
    ) -> Result<()>;
    /// Makes the next run due at `at` (`None`: no run is due).
    fn migration_schedule(&self, id: MigrationJobId, at: Option<Unix>) -> Result<bool>;
    /// Forgets the old password.
    fn migration_erase_secret(&self, id: MigrationJobId) -> Result<()>;
    /// The job's folder for a source name, created with `dest` the first time.
    fn migration_folder(
        &self,
        job: MigrationJobId,
        source: &[u8],
        dest: &str,
    ) -> Result<MigrationFolder>;
    fn migration_folders(&self, job: MigrationJobId) -> Result<Vec<MigrationFolder>>;
    /// The last run's report (see `Tx::migration_report`).
    fn migration_report(&self, job: MigrationJobId) -> Result<Option<MigrationReport>>;
    /// Notes the source folder's UIDVALIDITY as of this run.
    fn migration_set_uidvalidity(&self, folder: MigrationFolderId, uidvalidity: i64) -> Result<()>;
    /// A folder's items, by (UIDVALIDITY, UID).
    fn migration_items(&self, folder: MigrationFolderId) -> Result<Vec<MigrationItem>>;
    /// Items whose message is gone from the source: marked, never removed (seed 000: a
    /// deletion at the old provider is not copied).
    fn migration_mark_deleted(&self, folder: MigrationFolderId, keys: &[SourceKey]) -> Result<()>;
    /// The source's UIDVALIDITY changed: items recognised by their bytes take their new
    /// (UIDVALIDITY, UID), pairs of (old key, new key).
    fn migration_rekey(
        &self,
        folder: MigrationFolderId,
        moves: &[(SourceKey, SourceKey)],
    ) -> Result<()>;
}

const JOB_COLUMNS: &str = "j.id, j.mailbox_id, m.address, j.old_address, j.host, j.port, j.ca_pem,
    j.into_inbox, j.all_folders, j.state, j.error_kind, j.error_detail, j.state_since, j.created,
    j.switch_at, j.next_run, j.runs, j.last_run_started, j.last_run_finished, j.last_run_ms,
    j.source_messages, j.source_bytes, j.secret,
    (SELECT count(*) FROM migration_items i JOIN migration_folders f ON f.id = i.folder_id
     WHERE f.job_id = j.id),
    (SELECT coalesce(sum(i.size), 0) FROM migration_items i
     JOIN migration_folders f ON f.id = i.folder_id WHERE f.job_id = j.id),
    (SELECT count(*) FROM migration_items i JOIN migration_folders f ON f.id = i.folder_id
     WHERE f.job_id = j.id AND i.deleted_at_source = 1)";

fn parsed<T: FromStr>(r: &Row<'_>, i: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn job(r: &Row<'_>) -> rusqlite::Result<MigrationJob> {
    let error_kind: Option<String> = r.get(10)?;
    let error_kind = match error_kind {
        Some(k) => Some(k.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
        })?),
        None => None,
    };
    Ok(MigrationJob {
        id: r.get(0)?,
        mailbox_id: r.get(1)?,
        address: r.get(2)?,
        old_address: r.get(3)?,
        host: r.get(4)?,
        port: r.get(5)?,
        ca_pem: r.get(6)?,
        into_inbox: r.get(7)?,
        all_folders: r.get(8)?,
        state: parsed(r, 9)?,
        error_kind,
        error_detail: r.get(11)?,
        state_since: r.get(12)?,
        created: r.get(13)?,
        switch_at: r.get(14)?,
        next_run: r.get(15)?,
        runs: r.get(16)?,
        last_run_started: r.get(17)?,
        last_run_finished: r.get(18)?,
        last_run_ms: r.get(19)?,
        source_messages: r.get(20)?,
        source_bytes: r.get(21)?,
        secret: r.get(22)?,
        copied_messages: r.get(23)?,
        copied_bytes: r.get(24)?,
        deleted_at_source: r.get(25)?,
    })
}

pub(crate) fn start(tx: &Connection, j: &NewMigrationJob<'_>, now: Unix) -> Result<MigrationJobId> {
    let existing: Option<(MigrationJobId, String, String)> = tx
        .row(
            "SELECT id, old_address, state FROM migration_jobs WHERE mailbox_id = ?1",
            [j.mailbox_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, old, state)) = existing {
        if old.eq_ignore_ascii_case(j.old_address) {
            tx.exec(
                "UPDATE migration_jobs SET host = ?2, port = ?3, ca_pem = ?4, into_inbox = ?5,
                   all_folders = ?6, switch_at = ?7, secret = ?8, state = ?9, error_kind = NULL,
                   error_detail = NULL, state_since = ?10, next_run = ?10
                 WHERE id = ?1",
                params![
                    id,
                    j.host,
                    j.port,
                    j.ca_pem,
                    j.into_inbox,
                    j.all_folders,
                    j.switch_at,
                    j.secret,
                    MigrationState::Preparing.as_str(),
                    now
                ],
            )?;
            return Ok(id);
        }
        let ended = [MigrationState::Stopped, MigrationState::Finished]
            .iter()
            .any(|s| s.as_str() == state);
        if !ended {
            return Err(StoreError::Exists(format!(
                "a copy from {old} into this mailbox"
            )));
        }
        tx.exec("DELETE FROM migration_jobs WHERE id = ?1", [id])?;
    }
    tx.exec(
        "INSERT INTO migration_jobs(mailbox_id, old_address, host, port, ca_pem, into_inbox,
           all_folders, state, state_since, created, switch_at, next_run, secret)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?9, ?11)",
        params![
            j.mailbox_id,
            j.old_address,
            j.host,
            j.port,
            j.ca_pem,
            j.into_inbox,
            j.all_folders,
            MigrationState::Preparing.as_str(),
            now,
            j.switch_at,
            j.secret
        ],
    )?;
    Ok(MigrationJobId(tx.last_insert_rowid()))
}

pub(crate) fn jobs(c: &Connection, mailbox: Option<MailboxId>) -> Result<Vec<MigrationJob>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM migration_jobs j JOIN mailboxes m ON m.id = j.mailbox_id
         WHERE ?1 IS NULL OR j.mailbox_id = ?1 ORDER BY m.address"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map([mailbox], job)?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

pub(crate) fn claim(
    tx: &Connection,
    now: Unix,
    lease_secs: i64,
    max: usize,
) -> Result<Vec<MigrationJob>> {
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let ids: Vec<MigrationJobId> = tx
        .prepare_cached(
            "SELECT id FROM migration_jobs WHERE next_run <= ?1 AND lease_until <= ?1
             ORDER BY next_run, id LIMIT ?2",
        )?
        .query_map(params![now, max], |r| r.get(0))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM migration_jobs j JOIN mailboxes m ON m.id = j.mailbox_id
         WHERE j.id = ?1"
    );
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        tx.exec(
            "UPDATE migration_jobs SET lease_until = ?2 WHERE id = ?1",
            params![id, now + lease_secs],
        )?;
        claimed.push(tx.row(&sql, [id], job)?);
    }
    Ok(claimed)
}

pub(crate) fn set_state(
    tx: &Connection,
    id: MigrationJobId,
    state: MigrationState,
    error: Option<(MigrationErrorKind, &str)>,
    now: Unix,
) -> Result<()> {
    let (kind, detail) = match error {
        Some((k, d)) => (Some(k.as_str()), Some(d)),
        None => (None, None),
    };
    tx.exec(
        "UPDATE migration_jobs SET
           state_since = CASE WHEN state IS ?2 AND error_kind IS ?3 THEN state_since ELSE ?5 END,
           state = ?2, error_kind = ?3, error_detail = ?4
         WHERE id = ?1",
        params![id, state.as_str(), kind, detail, now],
    )?;
    Ok(())
}

pub(crate) fn folder(
    tx: &Connection,
    job: MigrationJobId,
    source: &[u8],
    dest: &str,
) -> Result<MigrationFolder> {
    tx.exec(
        "INSERT OR IGNORE INTO migration_folders(job_id, source, dest) VALUES (?1, ?2, ?3)",
        params![job, source, dest],
    )?;
    Ok(tx.row(
        "SELECT id, job_id, source, dest, uidvalidity FROM migration_folders
         WHERE job_id = ?1 AND source = ?2",
        params![job, source],
        folder_row,
    )?)
}

fn folder_row(r: &Row<'_>) -> rusqlite::Result<MigrationFolder> {
    Ok(MigrationFolder {
        id: r.get(0)?,
        job_id: r.get(1)?,
        source: r.get(2)?,
        dest: r.get(3)?,
        uidvalidity: r.get(4)?,
    })
}

pub(crate) fn folders(c: &Connection, job: MigrationJobId) -> Result<Vec<MigrationFolder>> {
    let mut st = c.prepare_cached(
        "SELECT id, job_id, source, dest, uidvalidity FROM migration_folders
         WHERE job_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([job], folder_row)?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

pub(crate) fn items(c: &Connection, folder: MigrationFolderId) -> Result<Vec<MigrationItem>> {
    let mut st = c.prepare_cached(
        "SELECT uidvalidity, uid, sha256, size, dest_uid, deleted_at_source
         FROM migration_items WHERE folder_id = ?1 ORDER BY uidvalidity, uid",
    )?;
    let rows = st.query_map([folder], |r| {
        Ok(MigrationItem {
            uidvalidity: r.get(0)?,
            uid: r.get(1)?,
            sha256: r.get(2)?,
            size: r.get(3)?,
            dest_uid: r.get(4)?,
            deleted_at_source: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Records copied messages, in the transaction that appended them.
pub(crate) fn record(
    tx: &Connection,
    folder: MigrationFolderId,
    items: &[MigrationItem],
) -> Result<()> {
    for i in items {
        tx.exec(
            "INSERT INTO migration_items(folder_id, uidvalidity, uid, sha256, size, dest_uid,
               deleted_at_source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                folder,
                i.uidvalidity,
                i.uid,
                i.sha256,
                i.size,
                i.dest_uid,
                i.deleted_at_source
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn mark_deleted(
    tx: &Connection,
    folder: MigrationFolderId,
    keys: &[SourceKey],
) -> Result<()> {
    for (uidvalidity, uid) in keys {
        tx.exec(
            "UPDATE migration_items SET deleted_at_source = 1
             WHERE folder_id = ?1 AND uidvalidity = ?2 AND uid = ?3",
            params![folder, uidvalidity, uid],
        )?;
    }
    Ok(())
}

pub(crate) fn rekey(
    tx: &Connection,
    folder: MigrationFolderId,
    moves: &[(SourceKey, SourceKey)],
) -> Result<()> {
    for ((old_v, old_uid), (new_v, new_uid)) in moves {
        tx.exec(
            "UPDATE migration_items SET uidvalidity = ?4, uid = ?5, deleted_at_source = 0
             WHERE folder_id = ?1 AND uidvalidity = ?2 AND uid = ?3",
            params![folder, old_v, old_uid, new_v, new_uid],
        )?;
    }
    Ok(())
}
