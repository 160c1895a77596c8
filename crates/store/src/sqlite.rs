//! The embedded backend of [`Store`]: SQLite in WAL mode with synchronous=FULL, one writer
//! connection and a few read-only ones, and the blob directory.

use crate::cached::Cached;
use crate::checkpoint::Checkpointer;
use crate::group::Writer;
use crate::log;
use crate::*;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension};
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

/// SQLite's errors by what the caller can do: busy or locked (another writer past the busy
/// timeout), a full disk or an I/O error may pass; a UNIQUE or PRIMARY KEY violation means
/// the row exists; a foreign key violation, that what it refers to does not; a malformed
/// file or a value of the wrong type is damage; the rest is a bug of ours.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::{self, ErrorCode};
        use rusqlite::Error as E;
        let text = format!("database: {e}");
        match &e {
            E::SqliteFailure(f, _) => match f.code {
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::SchemaChanged
                | ErrorCode::OperationInterrupted => StoreError::Retryable(text),
                ErrorCode::ConstraintViolation => match f.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        StoreError::Exists(text)
                    }
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::NotFound(text),
                    _ => StoreError::Internal(text),
                },
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase | ErrorCode::TypeMismatch => {
                    StoreError::Corrupt(text)
                }
                _ => StoreError::Internal(text),
            },
            E::QueryReturnedNoRows => StoreError::NotFound(text),
            E::FromSqlConversionFailure(..)
            | E::InvalidColumnType(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(_) => StoreError::Corrupt(text),
            _ => StoreError::Internal(text),
        }
    }
}

const MIGRATIONS: &[&str] = &[
    // 1: accounts, folders, messages, queue, PEC transactions, legal log, routes, index.
    r#"
    CREATE TABLE domains(name TEXT PRIMARY KEY COLLATE NOCASE, created INTEGER NOT NULL);
    CREATE TABLE mailboxes(
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        quota INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        recovery_email TEXT,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        ordinary_mail TEXT NOT NULL DEFAULT 'reject',
        ordinary_forward TEXT,
        created INTEGER NOT NULL);
    CREATE TABLE folders(
        id INTEGER PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        special_use TEXT,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        UNIQUE(mailbox_id, name));
    CREATE TABLE messages(
        id INTEGER PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        flags TEXT NOT NULL DEFAULT '',
        internal_date INTEGER NOT NULL,
        size INTEGER NOT NULL,
        blob TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        sender TEXT NOT NULL DEFAULT '',
        pec_kind TEXT,
        identificativo TEXT,
        UNIQUE(folder_id, uid));
    CREATE INDEX messages_ident ON messages(identificativo);
    CREATE TABLE queue(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt TEXT NOT NULL,
        blob TEXT NOT NULL,
        identificativo TEXT,
        created INTEGER NOT NULL,
        next_attempt INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NOT NULL DEFAULT 0,
        last_error TEXT);
    CREATE INDEX queue_due ON queue(next_attempt);
    CREATE TABLE pec_transactions(
        identificativo TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        subject TEXT NOT NULL,
        msgid TEXT,
        receipt_type TEXT NOT NULL,
        created INTEGER NOT NULL);
    CREATE TABLE pec_recipients(
        identificativo TEXT NOT NULL REFERENCES pec_transactions(identificativo),
        address TEXT NOT NULL COLLATE NOCASE,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT,
        updated INTEGER NOT NULL,
        notice_12h INTEGER NOT NULL DEFAULT 0,
        notice_24h INTEGER NOT NULL DEFAULT 0,
        taken_in_charge INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(identificativo, address));
    CREATE TABLE legal_log(
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        event TEXT NOT NULL,
        msgid TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        related TEXT NOT NULL,
        provider TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL);
    CREATE TABLE routes(domain TEXT PRIMARY KEY COLLATE NOCASE, host TEXT NOT NULL, port INTEGER NOT NULL, ca_pem TEXT);
    CREATE TABLE provider_index(dn TEXT PRIMARY KEY COLLATE NOCASE, ldif TEXT NOT NULL, imported INTEGER NOT NULL);
    "#,
    // 2: the virus quarantine (DPR 68/2005 art. 12: kept 30 months).
    r#"
    CREATE TABLE quarantine(
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        blob TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        virus TEXT NOT NULL,
        identificativo TEXT);
    "#,
    // 3: small message bytes inside the database, so that they commit with the transaction
    // that references them (one fsync instead of one per file).
    r#"
    CREATE TABLE small_blobs(hash TEXT PRIMARY KEY, data BLOB NOT NULL);
    "#,
    // 4: where the legal log starts after records past retention were dropped.
    r#"
    CREATE TABLE legal_log_anchor(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        dropped_before INTEGER NOT NULL);
    "#,
    // 5: mailbox access: subscriptions, the \\Recent claim, the structure parsed at delivery,
    // expunged UIDs for QRESYNC (RFC 7162 §3.2.5), changes by MODSEQ.
    r#"
    ALTER TABLE folders ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE folders ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN structure TEXT;
    CREATE TABLE expunged(
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        PRIMARY KEY(folder_id, uid));
    CREATE INDEX messages_modseq ON messages(folder_id, modseq);
    "#,
    // 6: the webmail: pages of a folder by date, per-mailbox settings (layout, language).
    r#"
    CREATE INDEX messages_date ON messages(folder_id, internal_date);
    CREATE TABLE mailbox_settings(
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY(mailbox_id, key));
    "#,
    // 7: lists of large folders: counts and SELECT read an index, not the rows (which carry
    // the structure JSON); every sort key of the webmail's list has its index.
    r#"
    CREATE INDEX messages_summary ON messages(folder_id, uid, flags, size);
    CREATE INDEX messages_subject ON messages(folder_id, subject COLLATE NOCASE);
    CREATE INDEX messages_sender ON messages(folder_id, sender COLLATE NOCASE);
    CREATE INDEX messages_size ON messages(folder_id, size);
    "#,
    // 8: unread counts from an index of the unseen messages only.
    r#"
    CREATE INDEX messages_unseen ON messages(folder_id) WHERE instr(flags, '\Seen') = 0;
    "#,
    // 9: the full-text index (see text.rs): per mailbox and blob, trigrams for substrings,
    // no copy of the text kept (contentless). A hit finds its messages from one index.
    r#"
    CREATE TABLE mailbox_text(id INTEGER PRIMARY KEY, mailbox_id INTEGER NOT NULL,
        hash TEXT NOT NULL, UNIQUE(mailbox_id, hash));
    CREATE VIRTUAL TABLE text_index USING fts5(subject, sender, recipient, cc, body, content='',
        contentless_delete=1, tokenize='trigram');
    ALTER TABLE messages ADD COLUMN text_id INTEGER;
    CREATE INDEX messages_text ON messages(text_id, folder_id, uid, internal_date, flags);
    CREATE INDEX messages_blob ON messages(blob);
    CREATE INDEX mailbox_text_hash ON mailbox_text(hash);
    "#,
    // 10: webmail sessions survive a restart (see sessions.rs).
    r#"
    CREATE TABLE web_sessions(
        token_hash TEXT PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        lang TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL);
    CREATE INDEX web_sessions_mailbox ON web_sessions(mailbox_id, last_seen);
    CREATE INDEX web_sessions_seen ON web_sessions(last_seen);
    "#,
    // 11: each folder counts its messages, unseen and deleted messages and bytes, kept by
    // triggers on every change of `messages` (append, copy, move, flags, expunge, a folder's
    // deletion), so listing folders reads no message at all. System flags are never part
    // of a keyword (no backslash there), so `instr` is exact.
    r#"
    ALTER TABLE folders ADD COLUMN n_messages INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE folders ADD COLUMN n_unseen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE folders ADD COLUMN n_deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE folders ADD COLUMN n_bytes INTEGER NOT NULL DEFAULT 0;
    DROP INDEX messages_unseen;
    UPDATE folders SET
        n_messages = (SELECT count(*) FROM messages m WHERE m.folder_id = folders.id),
        n_unseen = (SELECT count(*) FROM messages m
                    WHERE m.folder_id = folders.id AND instr(m.flags, '\Seen') = 0),
        n_deleted = (SELECT count(*) FROM messages m
                     WHERE m.folder_id = folders.id AND instr(m.flags, '\Deleted') > 0),
        n_bytes = (SELECT coalesce(sum(m.size), 0) FROM messages m
                   WHERE m.folder_id = folders.id);
    CREATE TRIGGER messages_count_in AFTER INSERT ON messages BEGIN
        UPDATE folders SET n_messages = n_messages + 1,
            n_unseen = n_unseen + (instr(NEW.flags, '\Seen') = 0),
            n_deleted = n_deleted + (instr(NEW.flags, '\Deleted') > 0),
            n_bytes = n_bytes + NEW.size
        WHERE id = NEW.folder_id;
    END;
    CREATE TRIGGER messages_count_out AFTER DELETE ON messages BEGIN
        UPDATE folders SET n_messages = n_messages - 1,
            n_unseen = n_unseen - (instr(OLD.flags, '\Seen') = 0),
            n_deleted = n_deleted - (instr(OLD.flags, '\Deleted') > 0),
            n_bytes = n_bytes - OLD.size
        WHERE id = OLD.folder_id;
    END;
    CREATE TRIGGER messages_count_change AFTER UPDATE OF folder_id, flags, size ON messages
    BEGIN
        UPDATE folders SET n_messages = n_messages - 1,
            n_unseen = n_unseen - (instr(OLD.flags, '\Seen') = 0),
            n_deleted = n_deleted - (instr(OLD.flags, '\Deleted') > 0),
            n_bytes = n_bytes - OLD.size
        WHERE id = OLD.folder_id;
        UPDATE folders SET n_messages = n_messages + 1,
            n_unseen = n_unseen + (instr(NEW.flags, '\Seen') = 0),
            n_deleted = n_deleted + (instr(NEW.flags, '\Deleted') > 0),
            n_bytes = n_bytes + NEW.size
        WHERE id = NEW.folder_id;
    END;
    "#,
    // 12: blobs whose last reference may have gone, for the collection in gc.rs. Inline
    // blobs stored before this migration are all checked once.
    r#"
    CREATE TABLE blob_release(hash TEXT PRIMARY KEY, since INTEGER);
    CREATE TRIGGER messages_release_blob AFTER DELETE ON messages BEGIN
        INSERT OR IGNORE INTO blob_release(hash) VALUES (OLD.blob);
    END;
    CREATE TRIGGER queue_release_blob AFTER DELETE ON queue BEGIN
        INSERT OR IGNORE INTO blob_release(hash) VALUES (OLD.blob);
    END;
    CREATE TRIGGER quarantine_release_blob AFTER DELETE ON quarantine BEGIN
        INSERT OR IGNORE INTO blob_release(hash) VALUES (OLD.blob);
    END;
    CREATE INDEX queue_blob ON queue(blob);
    CREATE INDEX quarantine_blob ON quarantine(blob);
    INSERT OR IGNORE INTO blob_release(hash) SELECT hash FROM small_blobs;
    "#,
    // 13 (queue hardening, issue 11 H2): the destination of each item, so one slow
    // destination cannot take every worker; the kind of the last failure and how many times
    // in a row it happened; when the item was parked as poison (0: it is not).
    r#"
    ALTER TABLE queue ADD COLUMN destination TEXT NOT NULL DEFAULT '';
    ALTER TABLE queue ADD COLUMN failure_kind TEXT;
    ALTER TABLE queue ADD COLUMN same_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE queue ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
    UPDATE queue SET destination = lower(substr(rcpt, instr(rcpt, '@') + 1,
        CASE instr(rcpt, char(10)) WHEN 0 THEN length(rcpt)
        ELSE instr(rcpt, char(10)) - instr(rcpt, '@') - 1 END));
    "#,
    // 14 (trust hardening, issue 11 H1): what the incoming point took, once per (what,
    // identificativo, recipient): a replayed envelope or receipt changes nothing.
    r#"
    CREATE TABLE incoming_claims(
        what TEXT NOT NULL,
        identificativo TEXT NOT NULL,
        recipient TEXT NOT NULL COLLATE NOCASE,
        time INTEGER NOT NULL,
        PRIMARY KEY(what, identificativo, recipient)
    ) WITHOUT ROWID;
    "#,
    // 15 (store conformance, issue 12 item 4): the highest UIDVALIDITY a mailbox's folders
    // ever had, so a folder deleted (or renamed) and created again in the same second gets
    // a new one (RFC 9051 §2.3.1.1); it was the old folder's, and a client kept its UIDs.
    r#"
    ALTER TABLE mailboxes ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0;
    "#,
    // 16 (a typed store, issue 12 item 3): a queue item's recipients as rows, in their
    // order, instead of one column joined by line breaks; the rows of the items queued
    // before are split out of it, and the column goes.
    r#"
    CREATE TABLE queue_recipients(
        queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        address TEXT NOT NULL,
        PRIMARY KEY(queue_id, position)
    ) WITHOUT ROWID;
    WITH RECURSIVE split(queue_id, position, address, rest) AS (
        SELECT id, -1, '', rcpt || char(10) FROM queue
        UNION ALL
        SELECT queue_id, position + 1,
            substr(rest, 1, instr(rest, char(10)) - 1),
            substr(rest, instr(rest, char(10)) + 1)
        FROM split WHERE rest <> ''
    )
    INSERT INTO queue_recipients(queue_id, position, address)
        SELECT queue_id, position, address FROM split WHERE position >= 0 AND address <> '';
    ALTER TABLE queue DROP COLUMN rcpt;
    "#,
    // 17 (imaptest, issue 13): subscriptions apart from the folders (RFC 9051 §6.3.7): a
    // deleted folder's name stays subscribed (LIST shows it \NonExistent), and CREATE no
    // longer subscribes by itself; the special folders are subscribed.
    r#"
    CREATE TABLE subscriptions(
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        PRIMARY KEY(mailbox_id, name)
    ) WITHOUT ROWID;
    INSERT INTO subscriptions(mailbox_id, name)
        SELECT mailbox_id, name FROM folders WHERE subscribed = 1;
    ALTER TABLE folders DROP COLUMN subscribed;
    "#,
    // 18 (copies from an old provider, issue 15): one job per mailbox, the old box's folders
    // as the job knows them, one item per source message copied (see migration.rs), each
    // run's signed report; and the POP3 unique ids a copied message keeps from the old
    // provider. Job ids are never reused: a report names its job.
    r#"
    CREATE TABLE migration_jobs(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox_id INTEGER NOT NULL UNIQUE REFERENCES mailboxes(id) ON DELETE CASCADE,
        old_address TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        ca_pem TEXT,
        into_inbox INTEGER NOT NULL,
        all_folders INTEGER NOT NULL,
        state TEXT NOT NULL,
        error_kind TEXT,
        error_detail TEXT,
        state_since INTEGER NOT NULL,
        created INTEGER NOT NULL,
        switch_at INTEGER,
        next_run INTEGER,
        lease_until INTEGER NOT NULL DEFAULT 0,
        runs INTEGER NOT NULL DEFAULT 0,
        last_run_started INTEGER,
        last_run_finished INTEGER,
        last_run_ms INTEGER,
        source_messages INTEGER NOT NULL DEFAULT 0,
        source_bytes INTEGER NOT NULL DEFAULT 0,
        secret BLOB);
    CREATE INDEX migration_jobs_due ON migration_jobs(next_run);
    CREATE TABLE migration_folders(
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES migration_jobs(id) ON DELETE CASCADE,
        source BLOB NOT NULL,
        dest TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL DEFAULT 0,
        UNIQUE(job_id, source));
    CREATE TABLE migration_items(
        folder_id INTEGER NOT NULL REFERENCES migration_folders(id) ON DELETE CASCADE,
        uidvalidity INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        dest_uid INTEGER NOT NULL,
        deleted_at_source INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(folder_id, uidvalidity, uid)
    ) WITHOUT ROWID;
    CREATE INDEX migration_items_hash ON migration_items(folder_id, sha256);
    CREATE TABLE migration_reports(
        job_id INTEGER NOT NULL REFERENCES migration_jobs(id) ON DELETE CASCADE,
        run INTEGER NOT NULL,
        finished INTEGER NOT NULL,
        json BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY(job_id, run)
    ) WITHOUT ROWID;
    CREATE TABLE pop3_uidls(
        folder_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        uidl TEXT NOT NULL,
        PRIMARY KEY(folder_id, uid),
        UNIQUE(folder_id, uidl),
        FOREIGN KEY(folder_id, uid) REFERENCES messages(folder_id, uid)
            ON DELETE CASCADE ON UPDATE CASCADE
    ) WITHOUT ROWID;
    "#,
    // 19 (taking over a domain, issue 16): a domain's lifecycle — in migration until its
    // switch-over from the old provider, then active — and the old provider's name and
    // server. Every domain before reads active.
    r#"
    ALTER TABLE domains ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
    ALTER TABLE domains ADD COLUMN switch_at INTEGER;
    ALTER TABLE domains ADD COLUMN switched_at INTEGER;
    ALTER TABLE domains ADD COLUMN old_provider TEXT;
    ALTER TABLE domains ADD COLUMN old_server TEXT;
    ALTER TABLE domains ADD COLUMN old_ca_pem TEXT;
    ALTER TABLE domains ADD COLUMN old_pop3 TEXT;
    ALTER TABLE domains ADD COLUMN decertification TEXT NOT NULL DEFAULT 'not-requested';
    ALTER TABLE domains ADD COLUMN decertification_note TEXT;
    CREATE TABLE plans(
        name TEXT PRIMARY KEY COLLATE NOCASE,
        quota INTEGER NOT NULL,
        archive INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL);
    ALTER TABLE mailboxes ADD COLUMN name TEXT;
    ALTER TABLE mailboxes ADD COLUMN plan TEXT;
    ALTER TABLE mailboxes ADD COLUMN welcomed_at INTEGER;
    ALTER TABLE mailboxes ADD COLUMN pending_password_hash TEXT;
    ALTER TABLE mailboxes ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE takeover_reminders(
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY(mailbox_id, kind)
    ) WITHOUT ROWID;
    "#,
    // 20: the operator console's accounts and sessions (issue 16).
    r#"
    CREATE TABLE operators(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        totp_secret BLOB,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        disabled INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL
    );
    CREATE TABLE operator_sessions(
        token_hash TEXT PRIMARY KEY,
        operator_id INTEGER NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX operator_sessions_seen ON operator_sessions(last_seen);
    "#,
    // 21: multiutenza (issue 17): collaborators, their collaborations on boxes (from the
    // invitation on), what they did; a webmail session knows the collaboration it is for.
    r#"
    CREATE TABLE collaborators(
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email TEXT NOT NULL,
        mobile TEXT,
        password_hash TEXT NOT NULL,
        panel_password_hash TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE collaborations(
        id INTEGER PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        collaborator_id INTEGER REFERENCES collaborators(id) ON DELETE CASCADE,
        invite_email TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        expires INTEGER,
        state TEXT NOT NULL,
        invited_at INTEGER NOT NULL,
        invite_token_hash TEXT UNIQUE,
        invite_expires INTEGER NOT NULL,
        accepted_at INTEGER,
        revoked_at INTEGER
    );
    CREATE INDEX collaborations_box ON collaborations(mailbox_id, state);
    CREATE INDEX collaborations_user ON collaborations(collaborator_id);
    CREATE TABLE collaborator_activity(
        id INTEGER PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        collaborator TEXT NOT NULL,
        protocol TEXT NOT NULL,
        ip TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,
        time INTEGER NOT NULL
    );
    CREATE INDEX collaborator_activity_box ON collaborator_activity(mailbox_id, time);
    ALTER TABLE web_sessions ADD COLUMN collaboration_id INTEGER
        REFERENCES collaborations(id) ON DELETE CASCADE;
    ALTER TABLE pec_transactions ADD COLUMN sent_by TEXT;
    ALTER TABLE plans ADD COLUMN max_collaborators INTEGER;
    ALTER TABLE legal_log ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    CREATE TABLE collaborator_tokens(
        token_hash TEXT PRIMARY KEY,
        collaborator_id INTEGER NOT NULL REFERENCES collaborators(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX collaborator_tokens_user ON collaborator_tokens(collaborator_id, kind);
    "#,
    // 22: "Hai dimenticato la password?" (issue 18): single-use links, only their hash kept.
    r#"
    CREATE TABLE password_resets(
        token_hash TEXT PRIMARY KEY,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX password_resets_box ON password_resets(mailbox_id, created);
    "#,
    // 23: daily reports by e-mail and SMS (issue 18): the days done per box and kind, and
    // the SMS outbox (kept 90 days once sent or given up).
    r#"
    CREATE TABLE daily_reports(
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        day TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY(mailbox_id, kind, day)
    );
    CREATE TABLE sms_outbox(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        number TEXT NOT NULL,
        text TEXT NOT NULL,
        created INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        last_error TEXT,
        sent_at INTEGER
    );
    CREATE INDEX sms_outbox_due ON sms_outbox(state, next_at);
    "#,
];

/// The embedded store: one SQLite connection behind a mutex (SQLite has one writer anyway),
/// read-only connections, and the blob directory.
pub struct SqliteStore {
    /// The one connection that writes, with group commit.
    writer: Writer,
    /// Read-only connections: in WAL mode readers never wait for the writer's fsync.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    blobs: Box<dyn BlobStore>,
    /// Told after each commit which mailboxes it changed and whether it queued work.
    changes: LocalChanges,
    /// Told how long each durable write took, lock wait and commit included (metrics).
    write_observer: std::sync::OnceLock<WriteObserver>,
    /// Copies the WAL into the database file, off the writer.
    _checkpoints: Checkpointer,
}

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

type WriteObserver = Box<dyn Fn(std::time::Duration) + Send + Sync>;

const READERS: usize = 4;

impl SqliteStore {
    /// Messages up to this size live in the database (in the transaction that references
    /// them: no file and no second fsync); larger ones in the blob store.
    pub const INLINE_BLOB_MAX: usize = 256 * 1024;

    /// Opens (creating if needed) `dir/certa.db` and `dir/blobs`, applying migrations.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)?;
        let conn = Connection::open(dir.join("certa.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Checkpoints are the checkpointer's (`checkpoint.rs`), never a writer's.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // After a burst the WAL is reused from its start but keeps its size unless limited:
        // a copy of 10,000 messages left 1.5 GB of it (bench/migrate.py).
        conn.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
        conn.set_prepared_statement_cache_capacity(crate::cached::CAPACITY);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                dir.join("certa.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            r.set_prepared_statement_cache_capacity(crate::cached::CAPACITY);
            readers.push(Mutex::new(r));
        }
        Ok(SqliteStore {
            writer: Writer::new(conn),
            readers,
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            blobs: Box::new(LocalBlobs::open(dir.join("blobs"))?),
            changes: LocalChanges::default(),
            write_observer: std::sync::OnceLock::new(),
            _checkpoints: Checkpointer::start(&dir.join("certa.db"), CHECKPOINT_EVERY)?,
        })
    }

    /// Sets, once, what is told the duration of each durable write.
    pub fn observe_writes(&self, f: impl Fn(std::time::Duration) + Send + Sync + 'static) {
        let _ = self.write_observer.set(Box::new(f));
    }

    /// Runs `f` in a write transaction, shared with the writers that come at the same time
    /// (group commit, `group.rs`): all of it is on disk when this returns `Ok`, none of it
    /// if `f` fails.
    fn sql_write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let started = std::time::Instant::now();
        let out = self.writer.write(f)?;
        if let Some(observe) = self.write_observer.get() {
            observe(started.elapsed());
        }
        Ok(out)
    }

    /// Like [`Store::write`] for changes a crash may lose without harm (a queue lease: a lost
    /// lease only means the item is claimed again): the commit does not wait for the disk.
    fn sql_write_relaxed<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.writer.write_relaxed(f)
    }

    /// The bytes of a blob kept in a file. A row names it, so a missing file is damage,
    /// not a name never stored.
    fn blob_file(&self, hash: &str) -> Result<Vec<u8>> {
        self.blobs.get(hash).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::Corrupt(format!("blob {hash} missing")),
            _ => e.into(),
        })
    }

    /// Read-only access.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.readers.len();
        let conn = self.readers[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

impl Store for SqliteStore {
    fn write_with(
        &self,
        durability: Durability,
        f: &mut dyn FnMut(&dyn Tx) -> Result<()>,
    ) -> Result<()> {
        let touched = RefCell::new(Vec::new());
        let queued = Cell::new(false);
        let run = |tx: &Connection| {
            f(&SqliteTx {
                tx,
                touched: &touched,
                queued: &queued,
            })
        };
        match durability {
            Durability::Durable => self.sql_write(run)?,
            Durability::Relaxed => self.sql_write_relaxed(run)?,
        }
        for mailbox_id in touched.into_inner() {
            self.changes.mailbox_changed(mailbox_id);
        }
        if queued.get() {
            self.changes.queue_changed();
        }
        Ok(())
    }

    fn changes(&self) -> &dyn ChangeFeed {
        &self.changes
    }
}

impl MailStore for SqliteStore {
    fn bytes_since(&self, mailbox_id: MailboxId, since: Unix) -> Result<i64> {
        self.read(|c| {
            Ok(c.row(
                "SELECT coalesce(sum(m.size), 0) FROM messages m
                 JOIN folders f ON f.id = m.folder_id
                 WHERE f.mailbox_id = ?1 AND m.internal_date >= ?2",
                params![mailbox_id.0, since],
                |r| r.get(0),
            )?)
        })
    }

    fn folders(&self, mailbox_id: MailboxId) -> Result<Vec<Folder>> {
        self.read(|c| folders::folders(c, mailbox_id))
    }

    fn folder(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>> {
        self.read(|c| folders::folder(c, mailbox_id, name))
    }

    fn create_folder(&self, mailbox_id: MailboxId, name: &str, now: Unix) -> Result<()> {
        self.sql_write(|tx| folders::create_folder(tx, mailbox_id, name, now))?;
        self.changes.mailbox_changed(mailbox_id);
        Ok(())
    }

    fn delete_folder(&self, mailbox_id: MailboxId, name: &str) -> Result<()> {
        self.sql_write(|tx| folders::delete_folder(tx, mailbox_id, name))?;
        self.changes.mailbox_changed(mailbox_id);
        Ok(())
    }

    fn rename_folder(&self, mailbox_id: MailboxId, from: &str, to: &str, now: Unix) -> Result<()> {
        self.sql_write(|tx| folders::rename_folder(tx, mailbox_id, from, to, now))?;
        self.changes.mailbox_changed(mailbox_id);
        Ok(())
    }

    fn subscribe(&self, mailbox_id: MailboxId, name: &str, subscribed: bool) -> Result<()> {
        self.sql_write(|tx| folders::subscribe(tx, mailbox_id, name, subscribed))
    }

    fn subscriptions(&self, mailbox_id: MailboxId) -> Result<Vec<String>> {
        self.read(|c| folders::subscriptions(c, mailbox_id))
    }

    fn messages(&self, folder_id: FolderId) -> Result<Vec<MessageEntry>> {
        self.read(|c| folders::messages(c, folder_id))
    }

    fn message_page(
        &self,
        folder_id: FolderId,
        order: ListOrder,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ListedMessage>> {
        self.read(|c| folders::message_page(c, folder_id, order, offset, limit))
    }

    fn listed(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<ListedMessage>> {
        self.read(|c| folders::listed(c, folder_id, uids))
    }

    fn messages_with_identificativo(
        &self,
        mailbox_id: MailboxId,
        identificativo: &str,
    ) -> Result<Vec<(String, ListedMessage)>> {
        self.read(|c| folders::messages_with_identificativo(c, mailbox_id, identificativo))
    }

    fn folder_head(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>> {
        self.read(|c| folders::folder_head(c, mailbox_id, name))
    }

    fn open_folder(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<OpenFolder>> {
        self.read(|c| folders::open_folder(c, mailbox_id, name))
    }

    fn changes_since(&self, folder_id: FolderId, modseq: i64) -> Result<FolderChanges> {
        self.read(|c| folders::changes_since(c, folder_id, modseq))
    }

    fn messages_between(&self, folder_id: FolderId, lo: i64, hi: i64) -> Result<Vec<MessageEntry>> {
        self.read(|c| folders::messages_between(c, folder_id, lo, hi))
    }

    fn contents(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<MessageContent>> {
        let rows = self.read(|c| folders::contents(c, folder_id, uids))?;
        rows.into_iter()
            .map(|(uid, blob, data, structure)| {
                let data = match data {
                    Some(d) => d,
                    None => self.blob_file(&blob)?,
                };
                Ok(MessageContent {
                    uid,
                    data,
                    structure,
                })
            })
            .collect()
    }

    fn store_flags(
        &self,
        folder_id: FolderId,
        uids: &[i64],
        op: FlagOp,
        flags: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<FlagChanges> {
        let (mailbox, out) = self.sql_write(|tx| {
            let out = folders::store_flags(tx, folder_id, uids, op, flags, unchanged_since)?;
            Ok((folders::mailbox_of(tx, folder_id)?, out))
        })?;
        if !out.changed.is_empty() {
            self.changes.mailbox_changed(mailbox);
        }
        Ok(out)
    }

    fn expunge(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<i64>> {
        let (mailbox, out) = self.sql_write(|tx| {
            let out = folders::expunge(tx, folder_id, uids)?;
            Ok((folders::mailbox_of(tx, folder_id)?, out))
        })?;
        if !out.is_empty() {
            self.changes.mailbox_changed(mailbox);
        }
        Ok(out)
    }

    fn claim_recent(&self, folder_id: FolderId) -> Result<i64> {
        self.sql_write_relaxed(|tx| folders::claim_recent(tx, folder_id))
    }

    fn text_search(
        &self,
        mailbox_id: MailboxId,
        needle: &str,
        field: TextField,
    ) -> Result<Option<TextHits>> {
        self.read(|c| crate::text::search(c, mailbox_id, needle, field))
    }

    fn unindexed_texts(&self, limit: i64) -> Result<Vec<(MailboxId, String)>> {
        self.read(|c| crate::text::unindexed(c, limit))
    }

    fn index_texts(&self, texts: &[(MailboxId, String, MessageText)]) -> Result<()> {
        // Rebuilt from the blob if lost: no need to wait for the disk.
        self.sql_write_relaxed(|tx| {
            for (mailbox_id, blob, text) in texts {
                crate::text::index_stored(tx, *mailbox_id, blob, text)?;
            }
            Ok(())
        })
    }

    fn pop3_uidls(&self, folder_id: FolderId) -> Result<Vec<(i64, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT uid, uidl FROM pop3_uidls WHERE folder_id = ?1 ORDER BY uid",
            )?;
            let rows = st.query_map([folder_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn unclaimed_recent(&self, folder_id: FolderId) -> Result<i64> {
        self.read(|c| folders::unclaimed_recent(c, folder_id))
    }

    /// Messages of a folder, in UID order.
    fn folder_messages(&self, address: &str, folder: &str) -> Result<Vec<StoredMessage>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT f.name, m.uid, m.modseq, m.flags, m.size, m.blob, m.subject, m.sender, m.pec_kind, m.identificativo, m.internal_date
                 FROM messages m JOIN folders f ON f.id = m.folder_id JOIN mailboxes b ON b.id = f.mailbox_id
                 WHERE b.address = ?1 AND f.name = ?2 ORDER BY m.uid",
            )?;
            let rows = st
                .query_map(params![address, folder], |r| {
                    Ok(StoredMessage {
                        folder: r.get(0)?,
                        uid: r.get(1)?,
                        modseq: r.get(2)?,
                        flags: r.get(3)?,
                        size: r.get(4)?,
                        blob: r.get(5)?,
                        subject: r.get(6)?,
                        sender: r.get(7)?,
                        pec_kind: named_opt(r, 8)?,
                        identificativo: r.get(9)?,
                        internal_date: r.get(10)?,
                    })
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

impl SettingStore for SqliteStore {
    fn setting(&self, mailbox_id: MailboxId, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT value FROM mailbox_settings WHERE mailbox_id = ?1 AND key = ?2",
            )?
            .query_row(params![mailbox_id, key], |r| r.get(0))
            .optional()?)
        })
    }

    fn set_setting(&self, mailbox_id: MailboxId, key: &str, value: &str) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "INSERT INTO mailbox_settings(mailbox_id, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(mailbox_id, key) DO UPDATE SET value = excluded.value",
                params![mailbox_id, key, value],
            )?;
            Ok(())
        })
    }
}

impl Blobs for SqliteStore {
    fn put_blob(&self, data: &[u8]) -> Result<String> {
        Ok(self.blobs.put(data)?)
    }

    fn prepare_blob(&self, data: &[u8]) -> Result<PreparedBlob> {
        Ok(if data.len() <= Self::INLINE_BLOB_MAX {
            PreparedBlob {
                name: blob_name(data),
                pending: Some(data.to_vec()),
            }
        } else {
            PreparedBlob {
                name: self.blobs.put(data)?,
                pending: None,
            }
        })
    }

    fn collect_blobs(&self, now: Unix, grace_secs: i64, limit: i64) -> Result<BlobCollection> {
        let (checked, free) =
            self.sql_write(|tx| crate::gc::collect(tx, now, grace_secs, limit))?;
        let grace = std::time::Duration::from_secs(grace_secs.max(0) as u64);
        let files = self.blobs.remove_unreferenced(&free, grace)?;
        Ok(BlobCollection {
            checked,
            freed: free.len(),
            files,
        })
    }

    fn sweep_orphan_blobs(&self, shard: u8, grace_secs: i64) -> Result<BlobCollection> {
        let grace = std::time::Duration::from_secs(grace_secs.max(0) as u64);
        let old = self.blobs.written_before(shard, grace)?;
        let checked = old.len();
        let mut orphans = vec![];
        for hash in old {
            if !self.read(|c| crate::gc::in_use(c, &hash))? {
                orphans.push(hash);
            }
        }
        // A writer about to reference one of them has refreshed its time under the shared
        // lock: `remove_unreferenced` checks that time again under the exclusive one.
        let files = if orphans.is_empty() {
            0
        } else {
            self.blobs.remove_unreferenced(&orphans, grace)?
        };
        Ok(BlobCollection {
            checked,
            freed: orphans.len(),
            files,
        })
    }

    /// A message's bytes, wherever they are kept.
    fn blob(&self, hash: &str) -> Result<Vec<u8>> {
        let inline: Option<Vec<u8>> = self.read(|c| {
            Ok(c.row(
                "SELECT data FROM small_blobs WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        match inline {
            Some(d) => Ok(d),
            None => self.blob_file(hash),
        }
    }
}

impl DirectoryStore for SqliteStore {
    fn add_domain_with(&self, d: &NewDomain<'_>, now: Unix) -> Result<()> {
        let state = if d.migrating {
            DomainState::Migrating
        } else {
            DomainState::Active
        };
        self.sql_write(|tx| {
            let n = tx.exec(
                "INSERT OR IGNORE INTO domains(name, created, state, switch_at, old_provider,
                   old_server, old_ca_pem, old_pop3) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    d.name.to_ascii_lowercase(),
                    now,
                    state.as_str(),
                    d.switch_at,
                    d.old_provider,
                    d.old_server,
                    d.old_ca_pem,
                    d.old_pop3
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Exists(format!("domain {}", d.name)));
            }
            Ok(())
        })
    }

    fn domain_list(&self) -> Result<Vec<Domain>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, state, created, switch_at, switched_at, old_provider, old_server,
                   old_ca_pem, old_pop3, decertification, decertification_note
                 FROM domains ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                let state: String = r.get(1)?;
                Ok(Domain {
                    name: r.get(0)?,
                    state: state.parse().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(e))
                    })?,
                    created: r.get(2)?,
                    switch_at: r.get(3)?,
                    switched_at: r.get(4)?,
                    old_provider: r.get(5)?,
                    old_server: r.get(6)?,
                    old_ca_pem: r.get(7)?,
                    old_pop3: r.get(8)?,
                    decertification: {
                        let text: String = r.get(9)?;
                        text.parse().map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(9, Type::Text, Box::new(e))
                        })?
                    },
                    decertification_note: r.get(10)?,
                })
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn domain(&self, name: &str) -> Result<Option<Domain>> {
        Ok(self
            .domain_list()?
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(name)))
    }

    fn set_domain_switch(&self, name: &str, switch_at: Unix) -> Result<()> {
        self.sql_write(|tx| {
            let state: String = tx
                .row("SELECT state FROM domains WHERE name = ?1", [name], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
            if state != DomainState::Migrating.as_str() {
                return Err(StoreError::Refused(format!("domain {name} is not in migration")));
            }
            tx.exec(
                "UPDATE domains SET switch_at = ?2 WHERE name = ?1",
                params![name, switch_at],
            )?;
            tx.exec(
                "UPDATE migration_jobs SET switch_at = ?2,
                   next_run = CASE WHEN next_run IS NOT NULL AND next_run > ?2 THEN ?2 ELSE next_run END
                 WHERE state NOT IN ('stopped', 'finished') AND mailbox_id IN
                   (SELECT id FROM mailboxes
                    WHERE lower(substr(address, length(address) - length(?1))) = '@' || lower(?1))",
                params![name, switch_at],
            )?;
            Ok(())
        })
    }

    fn set_decertification(
        &self,
        name: &str,
        state: Decertification,
        note: Option<&str>,
    ) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "UPDATE domains SET decertification = ?2, decertification_note = ?3 WHERE name = ?1",
                params![name, state.as_str(), note],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("domain {name}")));
            }
            Ok(())
        })
    }

    fn domains_due_to_switch(&self, now: Unix) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name FROM domains WHERE state = 'migrating' AND switch_at <= ?1
                 ORDER BY switch_at, name",
            )?;
            let rows = st.query_map([now], |r| r.get(0))?;
            Ok(rows.collect::<std::result::Result<Vec<String>, _>>()?)
        })
    }

    fn domains(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT name FROM domains WHERE state = 'active' ORDER BY name")?;
            let rows = st
                .query_map([], |r| r.get(0))?
                .collect::<std::result::Result<Vec<String>, _>>()?;
            Ok(rows)
        })
    }

    fn is_local_domain(&self, domain: &str) -> Result<bool> {
        self.read(|c| {
            Ok(c.row(
                "SELECT 1 FROM domains WHERE name = ?1 AND state = 'active'",
                [domain],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    fn add_route(&self, route: &Route) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "INSERT OR REPLACE INTO routes(domain, host, port, ca_pem) VALUES (?1, ?2, ?3, ?4)",
                params![route.domain, route.host, route.port, route.ca_pem],
            )?;
            Ok(())
        })
    }

    fn route(&self, domain: &str) -> Result<Option<Route>> {
        self.read(|c| {
            Ok(c.row(
                "SELECT domain, host, port, ca_pem FROM routes WHERE domain = ?1",
                [domain],
                |r| {
                    Ok(Route {
                        domain: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        ca_pem: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn routes(&self) -> Result<Vec<Route>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT domain, host, port, ca_pem FROM routes ORDER BY domain")?;
            let rows = st
                .query_map([], |r| {
                    Ok(Route {
                        domain: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        ca_pem: r.get(3)?,
                    })
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Stores provider-index entries (LDIF per DN), replacing those with the same DN.
    fn import_index_entries(&self, entries: &[(String, String)], now: Unix) -> Result<()> {
        self.sql_write(|tx| {
            for (dn, ldif) in entries {
                tx.exec(
                    "INSERT OR REPLACE INTO provider_index(dn, ldif, imported) VALUES (?1, ?2, ?3)",
                    params![dn, ldif, now],
                )?;
            }
            Ok(())
        })
    }

    /// Changes whenever the imported index or our domains change.
    fn index_version(&self) -> Result<String> {
        self.read(|c| {
            Ok(c.row(
                "SELECT (SELECT count(*) || ':' || coalesce(max(imported), 0) FROM provider_index) || '/' || (SELECT coalesce(group_concat(name || ':' || state), '') FROM domains)",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// The whole imported index as LDIF.
    fn index_ldif(&self) -> Result<String> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT ldif FROM provider_index ORDER BY dn")?;
            let parts = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(parts.join("\n"))
        })
    }
}

impl AccountStore for SqliteStore {
    fn add_mailbox(&self, m: &NewMailbox<'_>, now: Unix) -> Result<MailboxId> {
        let address = m.address;
        self.sql_write(|tx| {
            let exists = tx.row("SELECT 1 FROM mailboxes WHERE address = ?1", [address], |_| Ok(())).optional()?;
            if exists.is_some() {
                return Err(StoreError::Exists(format!("mailbox {address}")));
            }
            tx.exec(
                "INSERT INTO mailboxes(address, password_hash, quota, recovery_email, must_change_password, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![address.to_ascii_lowercase(), m.password_hash, m.quota, m.recovery_email, m.must_change_password, now],
            )?;
            let id = MailboxId(tx.last_insert_rowid());
            for (i, (name, special)) in SPECIAL_FOLDERS.iter().enumerate() {
                tx.exec(
                    "INSERT INTO folders(mailbox_id, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4)",
                    params![id, name, special, now + i as i64],
                )?;
                tx.exec(
                    "INSERT INTO subscriptions(mailbox_id, name) VALUES (?1, ?2)",
                    params![id, name],
                )?;
            }
            Ok(id)
        })
    }

    fn mailbox(&self, address: &str) -> Result<Option<Mailbox>> {
        self.read(|c| mailbox_row(c, address))
    }

    fn mailboxes(&self) -> Result<Vec<Mailbox>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT address FROM mailboxes ORDER BY address")?;
            let addrs = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            addrs
                .iter()
                .filter_map(|a| mailbox_row(c, a).transpose())
                .collect()
        })
    }

    /// A new password ends every webmail session of the mailbox.
    fn set_password(&self, address: &str, hash: &str, must_change: bool) -> Result<()> {
        self.sql_write(|tx| {
            // A newer password supersedes one waiting for the switch-over.
            let n = tx.exec("UPDATE mailboxes SET password_hash = ?2, must_change_password = ?3, pending_password_hash = NULL WHERE address = ?1", params![address, hash, must_change])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            tx.exec(
                "DELETE FROM web_sessions WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)",
                [address],
            )?;
            // ...and every reset link still out.
            tx.exec(
                "DELETE FROM password_resets WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)",
                [address],
            )?;
            Ok(())
        })
    }

    fn add_password_reset(
        &self,
        mailbox_id: MailboxId,
        token_hash: &str,
        created: Unix,
        expires: Unix,
    ) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec("DELETE FROM password_resets WHERE expires <= ?1", [created])?;
            tx.exec(
                "INSERT INTO password_resets(token_hash, mailbox_id, created, expires)
                 VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, mailbox_id.0, created, expires],
            )?;
            Ok(())
        })
    }

    fn password_resets_since(&self, mailbox_id: MailboxId, since: Unix) -> Result<usize> {
        self.read(|c| {
            let n: i64 = c.row(
                "SELECT count(*) FROM password_resets WHERE mailbox_id = ?1 AND created >= ?2",
                params![mailbox_id.0, since],
                |r| r.get(0),
            )?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn password_reset(&self, token_hash: &str, now: Unix) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.row(
                "SELECT m.address FROM password_resets r JOIN mailboxes m ON m.id = r.mailbox_id
                 WHERE r.token_hash = ?1 AND r.expires > ?2",
                params![token_hash, now],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn add_plan(&self, plan: &Plan, now: Unix) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "INSERT OR IGNORE INTO plans(name, quota, archive, created, max_collaborators)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    plan.name,
                    plan.quota,
                    plan.archive,
                    now,
                    plan.max_collaborators
                ],
            )?;
            if n == 0 {
                return Err(StoreError::Exists(format!("plan {}", plan.name)));
            }
            Ok(())
        })
    }

    fn plans(&self) -> Result<Vec<Plan>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, quota, archive, max_collaborators FROM plans ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Plan {
                    name: r.get(0)?,
                    quota: r.get(1)?,
                    archive: r.get(2)?,
                    max_collaborators: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn set_profile(&self, address: &str, profile: &MailboxProfile<'_>) -> Result<()> {
        self.sql_write(|tx| {
            let quota: Option<i64> = match profile.plan {
                Some(plan) => Some(
                    tx.row("SELECT quota FROM plans WHERE name = ?1", [plan], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("plan {plan}")))?,
                ),
                None => None,
            };
            let n = tx.exec(
                "UPDATE mailboxes SET name = ?2, plan = ?3, quota = coalesce(?4, quota),
                   welcomed_at = coalesce(?5, welcomed_at)
                 WHERE address = ?1",
                params![
                    address,
                    profile.name,
                    profile.plan,
                    quota,
                    profile.welcomed_at
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            Ok(())
        })
    }

    fn set_suspended(&self, address: &str, suspended: bool) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "UPDATE mailboxes SET suspended = ?2 WHERE address = ?1",
                params![address, suspended],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            if suspended {
                tx.exec(
                    "DELETE FROM web_sessions WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)",
                    [address],
                )?;
            }
            Ok(())
        })
    }

    fn set_pending_password(&self, address: &str, hash: &str) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "UPDATE mailboxes SET pending_password_hash = ?2 WHERE address = ?1",
                params![address, hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            Ok(())
        })
    }

    fn set_quota(&self, address: &str, quota: i64) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "UPDATE mailboxes SET quota = ?2 WHERE address = ?1",
                params![address, quota],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            Ok(())
        })
    }

    fn set_ordinary_mail(&self, address: &str, policy: &str, forward: Option<&str>) -> Result<()> {
        self.sql_write(|tx| {
            let n = tx.exec(
                "UPDATE mailboxes SET ordinary_mail = ?2, ordinary_forward = ?3 WHERE address = ?1",
                params![address, policy, forward],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {address}")));
            }
            Ok(())
        })
    }

    fn delete_mailbox(&self, address: &str) -> Result<()> {
        self.sql_write(|tx| {
            let id: MailboxId = tx
                .row(
                    "SELECT id FROM mailboxes WHERE address = ?1",
                    [address],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
            crate::text::forget_mailbox(tx, id)?;
            tx.exec("DELETE FROM mailboxes WHERE id = ?1", [id])?;
            Ok(())
        })
    }
}

impl SessionStore for SqliteStore {
    fn start_session(&self, s: &WebSession, expired_before: Unix) -> Result<()> {
        self.sql_write(|tx| crate::sessions::start(tx, s, expired_before))
    }

    fn session(&self, token_hash: &str) -> Result<Option<WebSession>> {
        self.read(|c| crate::sessions::get(c, token_hash))
    }

    fn touch_session(&self, token_hash: &str, now: Unix) -> Result<()> {
        self.sql_write_relaxed(|tx| crate::sessions::touch(tx, token_hash, now))
    }

    fn set_session_lang(&self, token_hash: &str, lang: &str) -> Result<()> {
        self.sql_write_relaxed(|tx| crate::sessions::set_lang(tx, token_hash, lang))
    }

    fn end_session(&self, token_hash: &str) -> Result<()> {
        self.sql_write(|tx| crate::sessions::end(tx, token_hash))
    }
}

impl CollaborationStore for SqliteStore {
    fn invite(&self, c: &NewCollaboration<'_>, max: usize, now: Unix) -> Result<i64> {
        self.sql_write(|tx| crate::collaboration::invite(tx, c, max, now))
    }

    fn renew_invitation(&self, id: i64, token_hash: &str, invite_expires: Unix) -> Result<()> {
        self.sql_write(|tx| crate::collaboration::renew(tx, id, token_hash, invite_expires))
    }

    fn invitation(&self, token_hash: &str) -> Result<Option<Collaboration>> {
        self.read(|c| crate::collaboration::by_token(c, token_hash))
    }

    fn accept(&self, token_hash: &str, collaborator: &str, now: Unix) -> Result<Collaboration> {
        self.sql_write(|tx| crate::collaboration::accept(tx, token_hash, collaborator, now))
    }

    fn register(
        &self,
        token_hash: &str,
        account: &NewCollaborator<'_>,
        now: Unix,
    ) -> Result<Collaboration> {
        self.sql_write(|tx| crate::collaboration::register(tx, token_hash, account, now))
    }

    fn collaborator(&self, username: &str) -> Result<Option<Collaborator>> {
        self.read(|c| crate::collaboration::collaborator(c, username))
    }

    fn update_collaborator(
        &self,
        username: &str,
        password_hash: Option<&str>,
        panel_password_hash: Option<&str>,
        mobile: Option<&str>,
    ) -> Result<()> {
        self.sql_write(|tx| {
            crate::collaboration::update_collaborator(
                tx,
                username,
                password_hash,
                panel_password_hash,
                mobile,
            )
        })
    }

    fn collaborations_of_box(&self, mailbox_id: MailboxId) -> Result<Vec<Collaboration>> {
        self.read(|c| crate::collaboration::of_box(c, mailbox_id))
    }

    fn collaborations_of(&self, username: &str) -> Result<Vec<Collaboration>> {
        self.read(|c| crate::collaboration::of_collaborator(c, username))
    }

    fn active_collaboration(&self, username: &str, address: &str) -> Result<Option<Collaboration>> {
        self.read(|c| crate::collaboration::active(c, username, address))
    }

    fn collaboration(&self, id: i64) -> Result<Option<Collaboration>> {
        self.read(|c| crate::collaboration::by_id(c, id))
    }

    fn accept_by_id(&self, id: i64, collaborator: &str, now: Unix) -> Result<Collaboration> {
        self.sql_write(|tx| crate::collaboration::accept_by_id(tx, id, collaborator, now))
    }

    fn add_collaborator_token(&self, t: &CollaboratorToken) -> Result<()> {
        self.sql_write(|tx| crate::collaboration::add_token(tx, t))
    }

    fn collaborator_token(&self, token_hash: &str, now: Unix) -> Result<Option<CollaboratorToken>> {
        self.read(|c| crate::collaboration::token(c, token_hash, now))
    }

    fn take_collaborator_token(
        &self,
        token_hash: &str,
        now: Unix,
    ) -> Result<Option<CollaboratorToken>> {
        self.sql_write(|tx| crate::collaboration::take_token(tx, token_hash, now))
    }

    fn collaborator_tokens_since(&self, username: &str, kind: &str, since: Unix) -> Result<usize> {
        self.read(|c| crate::collaboration::tokens_since(c, username, kind, since))
    }

    fn end_collaborator_tokens(&self, username: &str, kind: &str) -> Result<()> {
        self.sql_write(|tx| crate::collaboration::end_tokens(tx, username, kind))
    }

    fn revoke(&self, mailbox_id: MailboxId, id: i64, now: Unix) -> Result<()> {
        self.sql_write(|tx| crate::collaboration::revoke(tx, mailbox_id, id, now))
    }

    fn change_collaboration(
        &self,
        mailbox_id: MailboxId,
        id: i64,
        kind: &str,
        expires: Option<Unix>,
    ) -> Result<()> {
        self.sql_write(|tx| crate::collaboration::change(tx, mailbox_id, id, kind, expires))
    }

    fn record_activity(&self, a: &Activity) -> Result<()> {
        self.sql_write_relaxed(|tx| crate::collaboration::record(tx, a))
    }

    fn activity(
        &self,
        mailbox_id: MailboxId,
        collaborator: Option<&str>,
        since: Unix,
        until: Unix,
        limit: usize,
    ) -> Result<Vec<Activity>> {
        self.read(|c| {
            crate::collaboration::activity(c, mailbox_id, collaborator, since, until, limit)
        })
    }
}

impl OperatorStore for SqliteStore {
    fn add_operator(
        &self,
        name: &str,
        password_hash: &str,
        totp_secret: Option<&[u8]>,
        now: Unix,
    ) -> Result<()> {
        self.sql_write(|tx| crate::operators::add(tx, name, password_hash, totp_secret, now))
    }

    fn operator(&self, name: &str) -> Result<Option<Operator>> {
        self.read(|c| crate::operators::get(c, name))
    }

    fn operators(&self) -> Result<Vec<Operator>> {
        self.read(crate::operators::list)
    }

    fn update_operator(&self, name: &str, update: &OperatorUpdate<'_>) -> Result<()> {
        self.sql_write(|tx| crate::operators::update(tx, name, update))
    }

    fn use_totp_step(&self, name: &str, step: i64) -> Result<bool> {
        self.sql_write(|tx| crate::operators::use_step(tx, name, step))
    }

    fn start_operator_session(&self, s: &OperatorSession, expired_before: Unix) -> Result<()> {
        self.sql_write(|tx| crate::operators::start_session(tx, s, expired_before))
    }

    fn operator_session(&self, token_hash: &str) -> Result<Option<OperatorSession>> {
        self.read(|c| crate::operators::session(c, token_hash))
    }

    fn touch_operator_session(&self, token_hash: &str, now: Unix) -> Result<()> {
        self.sql_write_relaxed(|tx| crate::operators::touch(tx, token_hash, now))
    }

    fn end_operator_session(&self, token_hash: &str) -> Result<()> {
        self.sql_write(|tx| crate::operators::end(tx, token_hash))
    }
}

impl QueueStore for SqliteStore {
    /// Claims the next due item of the given kinds with a lease, skipping parked items and
    /// the destinations given; a crash before [`dequeue`] only delays it.
    fn queue_claim_many(
        &self,
        now: Unix,
        lease_secs: i64,
        claim: &QueueClaim<'_>,
        max: usize,
    ) -> Result<Vec<QueueItem>> {
        let kinds: Vec<&str> = claim.kinds.iter().map(|k| k.as_str()).collect();
        let kinds =
            serde_json::to_string(&kinds).map_err(|e| StoreError::Internal(e.to_string()))?;
        let skip = serde_json::to_string(claim.skip_destinations)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.sql_write_relaxed(|tx| {
            let mut items = tx
                .prepare_cached(
                    "SELECT id, kind, mail_from, blob, identificativo, created, attempts, destination FROM queue
                     WHERE next_attempt <= ?1 AND lease_until <= ?1 AND parked = 0
                       AND kind IN (SELECT value FROM json_each(?2))
                       AND destination NOT IN (SELECT value FROM json_each(?3))
                     ORDER BY next_attempt, id LIMIT ?4",
                )?
                .query_map(params![now, kinds, skip, max], queue_item)?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for item in &mut items {
                tx.exec("UPDATE queue SET lease_until = ?2, attempts = attempts + 1 WHERE id = ?1", params![item.id, now + lease_secs])?;
                item.recipients = queue_recipients(tx, item.id)?;
            }
            Ok(items)
        })
    }

    /// Keeps the lease of an item being worked on (a long transfer outlives one lease).
    fn queue_renew(&self, id: QueueId, lease_until: Unix) -> Result<bool> {
        self.sql_write_relaxed(|tx| {
            Ok(tx.exec(
                "UPDATE queue SET lease_until = ?2 WHERE id = ?1 AND lease_until > 0",
                params![id, lease_until],
            )? == 1)
        })
    }

    /// At start-up of the only node using this store, nobody holds a lease: items claimed by
    /// a process that crashed are due again at once.
    fn release_leases(&self) -> Result<usize> {
        self.sql_write(|tx| {
            Ok(tx.exec("UPDATE queue SET lease_until = 0 WHERE lease_until > 0", [])?)
        })
    }

    fn queue_retry(&self, id: QueueId, failure: &QueueFailure<'_>) -> Result<bool> {
        self.sql_write(|tx| {
            let Some((kind, same)) = tx
                .row(
                    "SELECT failure_kind, same_failures FROM queue WHERE id = ?1",
                    [id],
                    |r| Ok((named_opt::<QueueFailureKind>(r, 0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?
            else {
                return Ok(false);
            };
            let same = if kind == Some(failure.kind) {
                same + 1
            } else {
                1
            };
            let parked = failure.park_after.is_some_and(|n| same >= n);
            tx.exec(
                "UPDATE queue SET next_attempt = ?2, lease_until = 0, last_error = ?3,
                     failure_kind = ?4, same_failures = ?5, parked = ?6 WHERE id = ?1",
                params![
                    id,
                    failure.next_attempt,
                    failure.error,
                    failure.kind.as_str(),
                    same,
                    if parked { failure.now.max(1) } else { 0 }
                ],
            )?;
            Ok(parked)
        })
    }

    fn queue_entries(&self) -> Result<Vec<QueueEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, mail_from, blob, identificativo, created, attempts, destination,
                        next_attempt, lease_until, last_error, failure_kind, same_failures, parked
                 FROM queue ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(QueueEntry {
                    item: queue_item(r)?,
                    next_attempt: r.get(8)?,
                    lease_until: r.get(9)?,
                    last_error: r.get(10)?,
                    failure_kind: named_opt(r, 11)?,
                    same_failures: r.get(12)?,
                    parked: Some(r.get::<_, i64>(13)?).filter(|t| *t > 0),
                })
            })?;
            let mut entries = rows.collect::<std::result::Result<Vec<_>, _>>()?;
            for e in &mut entries {
                e.item.recipients = queue_recipients(c, e.item.id)?;
            }
            Ok(entries)
        })
    }

    fn queue_unpark(&self, id: QueueId, now: Unix) -> Result<bool> {
        self.sql_write(|tx| {
            Ok(tx.exec(
                "UPDATE queue SET parked = 0, same_failures = 0, failure_kind = NULL,
                     next_attempt = ?2, lease_until = 0 WHERE id = ?1",
                params![id, now],
            )? == 1)
        })
    }

    fn queue_len(&self) -> Result<i64> {
        self.read(|c| Ok(c.row("SELECT count(*) FROM queue", [], |r| r.get(0))?))
    }

    fn queue_oldest(&self) -> Result<Option<Unix>> {
        self.read(|c| Ok(c.row("SELECT min(created) FROM queue", [], |r| r.get(0))?))
    }

    /// The earliest time something in the queue is due.
    fn queue_next_due(&self) -> Result<Option<Unix>> {
        self.read(|c| {
            Ok(c.row(
                "SELECT min(max(next_attempt, lease_until)) FROM queue WHERE parked = 0",
                [],
                |r| r.get(0),
            )?)
        })
    }
}

impl crate::ReportStore for SqliteStore {
    fn settings_named(&self, key: &str) -> Result<Vec<(MailboxId, String, String)>> {
        self.read(|c| crate::reports::settings_named(c, key))
    }

    fn arrivals_since(
        &self,
        mailbox_id: MailboxId,
        since: Unix,
    ) -> Result<Vec<(Option<String>, i64)>> {
        self.read(|c| crate::reports::arrivals_since(c, mailbox_id, since))
    }

    fn daily_reports_done(&self, kind: &str, day: &str) -> Result<Vec<MailboxId>> {
        self.read(|c| crate::reports::daily_reports_done(c, kind, day))
    }

    fn awaiting_delivery(
        &self,
        sender: &str,
        limit: usize,
    ) -> Result<Vec<crate::AwaitingDelivery>> {
        self.read(|c| crate::reports::awaiting_delivery(c, sender, limit))
    }

    fn sms_claim(&self, now: Unix, lease_secs: i64, limit: usize) -> Result<Vec<crate::Sms>> {
        self.sql_write(|tx| crate::reports::sms_claim(tx, now, lease_secs, limit))
    }

    fn sms_sent(&self, id: crate::SmsId, now: Unix) -> Result<()> {
        self.sql_write(|tx| crate::reports::sms_sent(tx, id, now))
    }

    fn sms_failed(&self, id: crate::SmsId, error: &str, next_at: Option<Unix>) -> Result<()> {
        self.sql_write(|tx| crate::reports::sms_failed(tx, id, error, next_at))
    }

    fn sms_list(&self, limit: usize) -> Result<Vec<crate::Sms>> {
        self.read(|c| crate::reports::sms_list(c, limit))
    }
}

impl MigrationStore for SqliteStore {
    fn migration_start(&self, job: &NewMigrationJob<'_>, now: Unix) -> Result<MigrationJobId> {
        self.sql_write(|tx| crate::migration::start(tx, job, now))
    }

    fn migration_jobs(&self) -> Result<Vec<MigrationJob>> {
        self.read(|c| crate::migration::jobs(c, None))
    }

    fn migration_job(&self, mailbox_id: MailboxId) -> Result<Option<MigrationJob>> {
        Ok(self
            .read(|c| crate::migration::jobs(c, Some(mailbox_id)))?
            .into_iter()
            .next())
    }

    fn migration_claim(&self, now: Unix, lease_secs: i64, max: usize) -> Result<Vec<MigrationJob>> {
        self.sql_write_relaxed(|tx| crate::migration::claim(tx, now, lease_secs, max))
    }

    fn migration_renew(&self, id: MigrationJobId, lease_until: Unix) -> Result<()> {
        self.sql_write_relaxed(|tx| {
            tx.exec(
                "UPDATE migration_jobs SET lease_until = ?2 WHERE id = ?1",
                params![id, lease_until],
            )?;
            Ok(())
        })
    }

    fn migration_release_leases(&self) -> Result<usize> {
        self.sql_write(|tx| {
            Ok(tx.exec(
                "UPDATE migration_jobs SET lease_until = 0 WHERE lease_until > 0",
                [],
            )?)
        })
    }

    fn migration_set_state(
        &self,
        id: MigrationJobId,
        state: MigrationState,
        error: Option<(MigrationErrorKind, &str)>,
        now: Unix,
    ) -> Result<()> {
        self.sql_write(|tx| crate::migration::set_state(tx, id, state, error, now))
    }

    fn migration_set_source(&self, id: MigrationJobId, messages: i64, bytes: i64) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "UPDATE migration_jobs SET source_messages = ?2, source_bytes = ?3 WHERE id = ?1",
                params![id, messages, bytes],
            )?;
            Ok(())
        })
    }

    fn migration_end_run(
        &self,
        id: MigrationJobId,
        started: Unix,
        (finished, ms): (Unix, i64),
        next_run: Option<Unix>,
    ) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "UPDATE migration_jobs SET runs = runs + 1, last_run_started = ?2,
                   last_run_finished = ?3, last_run_ms = ?4, next_run = ?5, lease_until = 0
                 WHERE id = ?1",
                params![id, started, finished, ms, next_run],
            )?;
            Ok(())
        })
    }

    fn migration_schedule(&self, id: MigrationJobId, at: Option<Unix>) -> Result<bool> {
        self.sql_write(|tx| {
            Ok(tx.exec(
                "UPDATE migration_jobs SET next_run = ?2 WHERE id = ?1",
                params![id, at],
            )? == 1)
        })
    }

    fn migration_erase_secret(&self, id: MigrationJobId) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "UPDATE migration_jobs SET secret = NULL WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
    }

    fn migration_folder(
        &self,
        job: MigrationJobId,
        source: &[u8],
        dest: &str,
    ) -> Result<MigrationFolder> {
        self.sql_write(|tx| crate::migration::folder(tx, job, source, dest))
    }

    fn migration_report(&self, job: MigrationJobId) -> Result<Option<MigrationReport>> {
        self.read(|c| {
            Ok(c.row(
                "SELECT run, finished, json, signature FROM migration_reports WHERE job_id = ?1
                 ORDER BY run DESC LIMIT 1",
                [job],
                |r| {
                    Ok(MigrationReport {
                        run: r.get(0)?,
                        finished: r.get(1)?,
                        json: r.get(2)?,
                        signature: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn migration_folders(&self, job: MigrationJobId) -> Result<Vec<MigrationFolder>> {
        self.read(|c| crate::migration::folders(c, job))
    }

    fn migration_set_uidvalidity(&self, folder: MigrationFolderId, uidvalidity: i64) -> Result<()> {
        self.sql_write(|tx| {
            tx.exec(
                "UPDATE migration_folders SET uidvalidity = ?2 WHERE id = ?1",
                params![folder, uidvalidity],
            )?;
            Ok(())
        })
    }

    fn migration_items(&self, folder: MigrationFolderId) -> Result<Vec<MigrationItem>> {
        self.read(|c| crate::migration::items(c, folder))
    }

    fn migration_mark_deleted(&self, folder: MigrationFolderId, keys: &[SourceKey]) -> Result<()> {
        self.sql_write(|tx| crate::migration::mark_deleted(tx, folder, keys))
    }

    fn migration_rekey(
        &self,
        folder: MigrationFolderId,
        moves: &[(SourceKey, SourceKey)],
    ) -> Result<()> {
        self.sql_write(|tx| crate::migration::rekey(tx, folder, moves))
    }
}

impl PecStore for SqliteStore {
    fn transaction(&self, identificativo: &str) -> Result<Option<PecTransaction>> {
        self.read(|c| {
            let head = c
                .row(
                    "SELECT identificativo, sender, subject, msgid, receipt_type, created, sent_by FROM pec_transactions WHERE identificativo = ?1",
                    [identificativo],
                    |r| {
                        Ok(PecTransaction {
                            identificativo: r.get(0)?,
                            sender: r.get(1)?,
                            subject: r.get(2)?,
                            msgid: r.get(3)?,
                            receipt_type: named(r, 4)?,
                            created: r.get(5)?,
                            recipients: vec![],
                            sent_by: r.get(6)?,
                        })
                    },
                )
                .optional()?;
            let Some(mut t) = head else { return Ok(None) };
            let mut st = c.prepare_cached(
                "SELECT address, kind, state, detail, updated, taken_in_charge, notice_12h, notice_24h FROM pec_recipients WHERE identificativo = ?1 ORDER BY rowid",
            )?;
            t.recipients = st
                .query_map([identificativo], |r| {
                    Ok(RecipientState {
                        address: r.get(0)?,
                        kind: named(r, 1)?,
                        state: named(r, 2)?,
                        detail: r.get(3)?,
                        updated: r.get(4)?,
                        taken_in_charge: r.get(5)?,
                        notice_12h: r.get(6)?,
                        notice_24h: r.get(7)?,
                    })
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Some(t))
        })
    }

    /// Transactions whose certified recipients are still waiting for a delivery receipt.
    fn pending_transactions(&self, waiting: &[DeliveryState]) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT identificativo FROM pec_recipients
                 WHERE state = ?1 AND kind = ?2 AND notice_24h = 0",
            )?;
            let mut out = Vec::new();
            for state in waiting {
                let rows = st.query_map(
                    params![state.as_str(), RecipientKind::Certificato.as_str()],
                    |r| r.get::<_, String>(0),
                )?;
                for ident in rows {
                    out.push(ident?);
                }
            }
            // A transaction with recipients in several of the states comes once.
            out.sort_unstable();
            out.dedup();
            Ok(out)
        })
    }

    fn log_verify(&self) -> std::result::Result<u64, LogVerifyError> {
        self.read(|c| Ok(log::verify(c)))
            .unwrap_or_else(|e| Err(LogVerifyError::Db(e.to_string())))
    }

    fn log_records(&self, identificativo: Option<&str>) -> Result<Vec<LogEvent>> {
        self.read(|c| log::records(c, identificativo))
    }

    /// Quarantined messages, oldest first.
    fn purge_log(&self, now: Unix) -> Result<usize> {
        self.sql_write(|tx| log::purge(tx, now - RETENTION_SECS))
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT time, sender, virus, identificativo FROM quarantine ORDER BY id",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(Quarantined {
                        time: r.get(0)?,
                        sender: r.get(1)?,
                        virus: r.get(2)?,
                        identificativo: r.get(3)?,
                    })
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Drops quarantine entries older than the retention period.
    fn purge_quarantine(&self, now: Unix) -> Result<usize> {
        self.sql_write(|tx| {
            Ok(tx.exec(
                "DELETE FROM quarantine WHERE time < ?1",
                [now - RETENTION_SECS],
            )?)
        })
    }
}

/// A column kept as one of an enum's names; any other text is damage, read as
/// [`StoreError::Corrupt`] (through the conversion failure), never guessed.
pub(crate) fn named<T: FromStr<Err = pec::UnknownName>>(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

/// [`named`] for a column that may be NULL.
pub(crate) fn named_opt<T: FromStr<Err = pec::UnknownName>>(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = r.get(i)?;
    text.map(|t| {
        t.parse()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
    })
    .transpose()
}

fn mailbox_row(c: &Connection, address: &str) -> Result<Option<Mailbox>> {
    Ok(c.prepare_cached(
        "SELECT id, address, password_hash, quota, used, recovery_email, must_change_password, ordinary_mail, ordinary_forward, name, plan, welcomed_at, suspended FROM mailboxes WHERE address = ?1",
    )?.query_row(
        [address],
        |r| {
            Ok(Mailbox {
                id: r.get(0)?,
                address: r.get(1)?,
                password_hash: r.get(2)?,
                quota: r.get(3)?,
                used: r.get(4)?,
                recovery_email: r.get(5)?,
                must_change_password: r.get(6)?,
                ordinary_mail: r.get(7)?,
                ordinary_forward: r.get(8)?,
                name: r.get(9)?,
                plan: r.get(10)?,
                welcomed_at: r.get(11)?,
                suspended: r.get(12)?,
            })
        },
    )
    .optional()?)
}

/// [`Tx`] over a SQLite write transaction; remembers the mailboxes it changed and whether
/// it queued work, so their watchers are woken after the commit.
struct SqliteTx<'a> {
    tx: &'a Connection,
    touched: &'a RefCell<Vec<MailboxId>>,
    queued: &'a Cell<bool>,
}

impl SqliteTx<'_> {
    /// Appends with the next UID, or with `at` when it is not below the next (then the next
    /// is the one after it); a lower `at` is refused and nothing is written.
    fn append_uid(
        &self,
        address: &str,
        folder: &str,
        m: &NewMessage<'_>,
        now: Unix,
        at: Option<i64>,
    ) -> Result<i64> {
        let mailbox_id: MailboxId = self
            .tx
            .row(
                "SELECT id FROM mailboxes WHERE address = ?1",
                [address],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
        let (folder_id, uid, modseq): (FolderId, i64, i64) = self.tx
        .row("SELECT id, uidnext, highestmodseq + 1 FROM folders WHERE mailbox_id = ?1 AND name = ?2", params![mailbox_id, folder], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("folder {folder} of {address}")))?;
        let uid = match at {
            None => uid,
            Some(at) if at >= uid && at <= i64::from(u32::MAX) => at,
            Some(at) => {
                return Err(StoreError::Refused(format!(
                    "UID {at} is below the folder's next ({uid})"
                )))
            }
        };
        let text_id = match &m.meta.text {
            Some(text) => Some(crate::text::index(self.tx, mailbox_id, m.blob, text)?),
            None => crate::text::existing(self.tx, mailbox_id, m.blob)?,
        };
        self.tx.exec(
        "INSERT INTO messages(folder_id, uid, modseq, flags, internal_date, size, blob, subject, sender, pec_kind, identificativo, structure, text_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![folder_id, uid, modseq, crate::normalize_flags(m.meta.flags.split(' ')), m.meta.internal_date.unwrap_or(now), m.size, m.blob, m.meta.subject, m.meta.sender, m.meta.pec_kind.map(MessageKind::code), m.meta.identificativo, m.meta.structure, text_id],
    )?;
        self.tx.exec(
            "UPDATE folders SET uidnext = ?3 + 1, highestmodseq = ?2 WHERE id = ?1",
            params![folder_id, modseq, uid],
        )?;
        self.tx.exec(
            "UPDATE mailboxes SET used = used + ?2 WHERE id = ?1",
            params![mailbox_id, m.size],
        )?;
        self.touched.borrow_mut().push(mailbox_id);
        Ok(uid)
    }
}

impl Tx for SqliteTx<'_> {
    fn claim_daily_report(
        &self,
        mailbox: MailboxId,
        kind: &str,
        day: &str,
        now: Unix,
    ) -> Result<bool> {
        crate::reports::claim_daily_report(self.tx, mailbox, kind, day, now)
    }

    fn queue_sms(&self, sms: &crate::NewSms<'_>, now: Unix) -> Result<crate::SmsId> {
        crate::reports::queue_sms(self.tx, sms, now)
    }

    fn note_reminder(
        &self,
        mailbox: MailboxId,
        kind: &str,
        actor: &str,
        now: Unix,
    ) -> Result<bool> {
        Ok(self.tx.exec(
            "INSERT OR IGNORE INTO takeover_reminders(mailbox_id, kind, sent_at, actor)
             VALUES (?1, ?2, ?3, ?4)",
            params![mailbox, kind, now, actor],
        )? == 1)
    }

    fn switch_domain(&self, name: &str, now: Unix) -> Result<usize> {
        let state: String = self
            .tx
            .row("SELECT state FROM domains WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
        if state != DomainState::Migrating.as_str() {
            return Err(StoreError::Refused(format!(
                "domain {name} is not in migration"
            )));
        }
        self.tx.exec(
            "UPDATE domains SET state = 'active', switched_at = ?2 WHERE name = ?1",
            params![name, now],
        )?;
        // Passwords set on the start page take effect now; those boxes' sessions end.
        let boxes = "(SELECT id FROM mailboxes WHERE pending_password_hash IS NOT NULL
              AND lower(substr(address, length(address) - length(?1))) = '@' || lower(?1))";
        self.tx.exec(
            &format!("DELETE FROM web_sessions WHERE mailbox_id IN {boxes}"),
            [name],
        )?;
        self.tx.exec(
            &format!(
                "UPDATE mailboxes SET password_hash = pending_password_hash,
                   must_change_password = 0, pending_password_hash = NULL WHERE id IN {boxes}"
            ),
            [name],
        )?;
        // The boxes of the domain: their address ends with '@' and the domain's name.
        Ok(self.tx.exec(
            "UPDATE migration_jobs SET switch_at = ?2, next_run = ?2
             WHERE state NOT IN ('stopped', 'finished') AND mailbox_id IN
               (SELECT id FROM mailboxes
                WHERE lower(substr(address, length(address) - length(?1))) = '@' || lower(?1))",
            params![name, now],
        )?)
    }

    fn set_pop3_uidls(&self, folder_id: FolderId, uidls: &[(i64, String)]) -> Result<usize> {
        let mut n = 0;
        for (uid, uidl) in uidls {
            n += self.tx.exec(
                "INSERT OR IGNORE INTO pop3_uidls(folder_id, uid, uidl)
                 SELECT ?1, ?2, ?3 WHERE EXISTS
                   (SELECT 1 FROM messages WHERE folder_id = ?1 AND uid = ?2)",
                params![folder_id, uid, uidl],
            )?;
        }
        Ok(n)
    }

    fn migration_report(&self, job: MigrationJobId, report: &MigrationReport) -> Result<()> {
        self.tx.exec(
            "INSERT OR REPLACE INTO migration_reports(job_id, run, finished, json, signature)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                job,
                report.run,
                report.finished,
                report.json,
                report.signature
            ],
        )?;
        Ok(())
    }

    fn migration_record(&self, folder: MigrationFolderId, items: &[MigrationItem]) -> Result<()> {
        crate::migration::record(self.tx, folder, items)
    }

    /// Small message bytes are kept in the database, in the transaction that references
    /// them; large ones are in the blob store already.
    fn keep_blob(&self, blob: &PreparedBlob) -> Result<()> {
        if let Some(data) = &blob.pending {
            self.tx.exec(
                "INSERT OR IGNORE INTO small_blobs(hash, data) VALUES (?1, ?2)",
                params![blob.name, data],
            )?;
        }
        Ok(())
    }

    fn is_local_domain(&self, domain: &str) -> Result<bool> {
        Ok(self
            .tx
            .row(
                "SELECT 1 FROM domains WHERE name = ?1 AND state = 'active'",
                [domain],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn mailbox_exists(&self, address: &str) -> Result<bool> {
        Ok(self
            .tx
            .row(
                "SELECT 1 FROM mailboxes WHERE address = ?1",
                [address],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Appends a message to a folder of a mailbox: next UID and MODSEQ, quota counted. With
    /// `enforce_quota`, a full mailbox refuses it.
    fn usage(&self, address: &str) -> Result<Usage> {
        self.tx
            .row(
                "SELECT quota, used FROM mailboxes WHERE address = ?1",
                [address],
                |r| {
                    Ok(Usage {
                        quota: r.get(0)?,
                        used: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))
    }

    fn append(&self, address: &str, folder: &str, m: &NewMessage<'_>, now: Unix) -> Result<i64> {
        self.append_uid(address, folder, m, now, None)
    }

    fn append_at(
        &self,
        address: &str,
        folder: &str,
        uid: i64,
        m: &NewMessage<'_>,
        now: Unix,
    ) -> Result<i64> {
        self.append_uid(address, folder, m, now, Some(uid))
    }

    fn adopt_uidvalidity(&self, address: &str, folder: &str, uidvalidity: i64) -> Result<bool> {
        crate::folders::adopt_uidvalidity(self.tx, address, folder, uidvalidity)
    }

    /// Queues work for the delivery workers, one row per recipient beside the item.
    fn enqueue(
        &self,
        kind: QueueKind,
        mail_from: &str,
        recipients: &[String],
        blob: &str,
        identificativo: Option<&str>,
        now: Unix,
    ) -> Result<()> {
        let Some(first) = recipients.first() else {
            return Err(StoreError::Internal(
                "a queue item without recipients".into(),
            ));
        };
        self.tx.exec(
            "INSERT INTO queue(kind, mail_from, blob, identificativo, created, next_attempt, destination)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![kind.as_str(), mail_from, blob, identificativo, now, crate::queue_destination(first)],
        )?;
        let id = self.tx.last_insert_rowid();
        let mut st = self.tx.prepare_cached(
            "INSERT INTO queue_recipients(queue_id, position, address) VALUES (?1, ?2, ?3)",
        )?;
        for (position, address) in recipients.iter().enumerate() {
            st.execute(params![id, position as i64, address])?;
        }
        self.queued.set(true);
        Ok(())
    }

    /// Removes a finished queue item; `false` if it was already gone (done by someone else).
    fn copy_messages(
        &self,
        folder_id: FolderId,
        uids: &[i64],
        to_folder_id: FolderId,
        remove: bool,
    ) -> Result<Vec<(i64, i64)>> {
        let out = folders::copy_messages(self.tx, folder_id, uids, to_folder_id, remove)?;
        self.touched
            .borrow_mut()
            .push(folders::mailbox_of(self.tx, folder_id)?);
        Ok(out)
    }

    fn dequeue(&self, id: QueueId) -> Result<bool> {
        Ok(self.tx.exec("DELETE FROM queue WHERE id = ?1", [id])? == 1)
    }

    fn create_transaction(&self, t: &PecTransaction) -> Result<()> {
        self.tx.exec(
        "INSERT INTO pec_transactions(identificativo, sender, subject, msgid, receipt_type, created, sent_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![t.identificativo, t.sender, t.subject, t.msgid, t.receipt_type.as_str(), t.created, t.sent_by],
    )?;
        for r in &t.recipients {
            self.tx.exec(
            "INSERT INTO pec_recipients(identificativo, address, kind, state, detail, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![t.identificativo, r.address, r.kind.as_str(), r.state.as_str(), r.detail, r.updated],
        )?;
        }
        Ok(())
    }

    /// Moves one recipient of a transaction we sent to a new state (accepted → taken-in-charge
    /// → delivered / failed / timed-out). Returns false when the transaction is not ours.
    fn update_recipient(
        &self,
        identificativo: &str,
        address: &str,
        state: DeliveryState,
        detail: Option<&str>,
        now: Unix,
    ) -> Result<bool> {
        let n = self.tx.exec(
            "UPDATE pec_recipients SET state = ?3, detail = ?4, updated = ?5
             WHERE identificativo = ?1 AND address = ?2",
            params![identificativo, address, state.as_str(), detail, now],
        )?;
        Ok(n > 0)
    }

    fn recipient_state(
        &self,
        identificativo: &str,
        address: &str,
    ) -> Result<Option<DeliveryState>> {
        let state: Option<String> = self
            .tx
            .row(
                "SELECT state FROM pec_recipients WHERE identificativo = ?1 AND address = ?2",
                params![identificativo, address],
                |r| r.get(0),
            )
            .optional()?;
        state
            .map(|s| {
                s.parse()
                    .map_err(|e| StoreError::Corrupt(format!("recipient state: {e}")))
            })
            .transpose()
    }

    fn note_taken_in_charge(&self, identificativo: &str, address: &str, now: Unix) -> Result<bool> {
        let n = self.tx.exec(
            "UPDATE pec_recipients SET taken_in_charge = 1, updated = ?3
             WHERE identificativo = ?1 AND address = ?2",
            params![identificativo, address, now],
        )?;
        Ok(n > 0)
    }

    fn mark_notice(&self, identificativo: &str, address: &str, stage_24h: bool) -> Result<()> {
        let col = if stage_24h {
            "notice_24h"
        } else {
            "notice_12h"
        };
        self.tx.exec(
            &format!(
                "UPDATE pec_recipients SET {col} = 1 WHERE identificativo = ?1 AND address = ?2"
            ),
            params![identificativo, address],
        )?;
        Ok(())
    }

    fn log_append(&self, record: &LogRecord<'_>) -> Result<()> {
        Ok(log::append(self.tx, record)?)
    }

    fn claim_incoming(
        &self,
        what: &str,
        identificativo: &str,
        recipient: &str,
        now: Unix,
    ) -> Result<bool> {
        let n = self.tx.exec(
            "INSERT OR IGNORE INTO incoming_claims(what, identificativo, recipient, time) VALUES (?1, ?2, ?3, ?4)",
            params![what, identificativo, recipient, now],
        )?;
        Ok(n > 0)
    }

    /// Keeps an infected message out of every mailbox, for the retention period.
    fn quarantine(&self, q: &Quarantine<'_>) -> Result<()> {
        self.tx.exec(
        "INSERT INTO quarantine(time, blob, sender, recipients, virus, identificativo) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![q.time, q.blob, q.sender, q.recipients.join(", "), q.virus, q.identificativo],
    )?;
        Ok(())
    }
}

/// A queue row's item columns, in the order the queue queries select them; its
/// recipients are read by [`queue_recipients`].
fn queue_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueItem> {
    Ok(QueueItem {
        id: r.get(0)?,
        kind: named(r, 1)?,
        mail_from: r.get(2)?,
        recipients: vec![],
        blob: r.get(3)?,
        identificativo: r.get(4)?,
        created: r.get(5)?,
        attempts: r.get(6)?,
        destination: r.get(7)?,
    })
}

/// The recipients of a queue item, in the order they were queued. An item has at least
/// one ([`Tx::enqueue`] refuses none): without any it is damaged.
fn queue_recipients(c: &Connection, id: QueueId) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT address FROM queue_recipients WHERE queue_id = ?1 ORDER BY position",
    )?;
    let recipients = st
        .query_map([id], |r| r.get(0))?
        .collect::<std::result::Result<Vec<String>, _>>()?;
    if recipients.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "queue item {id} has no recipients"
        )));
    }
    Ok(recipients)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of the schema before the queue's recipients became rows, with items
    /// queued by that version, opened by this one: each item keeps its recipients, in
    /// order, and its queue state.
    #[test]
    fn queued_recipients_move_to_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ours = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE queue_recipients"))
            .unwrap();
        {
            let c = Connection::open(dir.path().join("certa.db")).unwrap();
            for m in &MIGRATIONS[..ours] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", ours as i64).unwrap();
            c.execute_batch(
                "INSERT INTO queue(kind, mail_from, rcpt, blob, created, next_attempt,
                                   attempts, destination)
                 VALUES ('relay', 'a@pec.test', 'x@b.test' || char(10) || 'y@b.test'
                         || char(10) || 'z@b.test', '00', 1, 1, 2, 'b.test'),
                        ('deliver', 'a@pec.test', 'c@pec.test', '00', 1, 1, 0, 'pec.test'),
                        ('relay', '', 'w@d.test' || char(10), '00', 1, 1, 0, 'd.test');",
            )
            .unwrap();
        }
        let s = SqliteStore::open(dir.path()).unwrap();
        let entries = s.queue_entries().unwrap();
        let got: Vec<(QueueKind, Vec<&str>, i64)> = entries
            .iter()
            .map(|e| {
                let r = e.item.recipients.iter().map(String::as_str).collect();
                (e.item.kind, r, e.item.attempts)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    QueueKind::Relay,
                    vec!["x@b.test", "y@b.test", "z@b.test"],
                    2
                ),
                (QueueKind::Deliver, vec!["c@pec.test"], 0),
                (QueueKind::Relay, vec!["w@d.test"], 0),
            ]
        );
        drop(s);
        let c = Connection::open(dir.path().join("certa.db")).unwrap();
        let columns: Vec<String> = c
            .prepare_cached("SELECT name FROM pragma_table_info('queue')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert!(!columns.iter().any(|c| c == "rcpt"), "{columns:?}");
        // A finished item takes its recipients with it.
        c.exec("DELETE FROM queue WHERE id = ?1", [entries[0].item.id])
            .unwrap();
        let left: i64 = c
            .row("SELECT count(*) FROM queue_recipients", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 2);
    }
}
