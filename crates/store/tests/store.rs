//! What is private to the SQLite backend: the legal log edited with `sqlite3` behind the
//! store's back, inline small blobs and blob files' times. Everything any backend must do
//! is in the conformance suite (`store::conformance`, run by `tests/conformance.rs`).

use store::prelude::*;
use store::{
    LogRecord, MailboxId, MessageMeta, NewMailbox, NewMessage, QueueClaim, QueueKind, SqliteStore,
    INBOX,
};

fn reopen(dir: &std::path::Path) -> Box<dyn Store> {
    Box::new(SqliteStore::open(dir).unwrap())
}

fn open() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = reopen(dir.path());
    s.add_domain("pec.test", 0).unwrap();
    let m = NewMailbox {
        address: "a@pec.test",
        password_hash: "hash",
        quota: 100,
        recovery_email: None,
        must_change_password: false,
    };
    s.add_mailbox(&m, 0).unwrap();
    (dir, s)
}

const ANY: QueueClaim = QueueClaim {
    kinds: &[QueueKind::Relay, QueueKind::Deliver],
    skip_destinations: &[],
};

fn log_at(s: &dyn Store, time: i64, msgid: &str) {
    s.write(|tx| {
        tx.log_append(&LogRecord {
            time,
            event: "accettazione",
            msgid,
            sender: "a@pec.test",
            recipients: &["b@pec.test".into()],
            subject: "oggetto",
            related: &[],
            provider: "Certa",
            actor: "",
        })
    })
    .unwrap();
}

fn log3(s: &dyn Store) {
    for i in 0..3 {
        log_at(s, i, &format!("id{i}"));
    }
}

fn sql(dir: &std::path::Path, q: &str) {
    let c = testkit::tool("sqlite3")
        .arg(dir.join("certa.db"))
        .arg(q)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
}

#[test]
fn log_chain_detects_edit_delete_and_reorder() {
    let (d, s) = open();
    log3(s.as_ref());
    assert_eq!(s.log_verify(), Ok(3));
    drop(s);
    sql(
        d.path(),
        "UPDATE legal_log SET subject = 'altro' WHERE seq = 2",
    );
    assert_eq!(
        reopen(d.path()).log_verify(),
        Err(store::LogVerifyError::Edited { seq: 2 })
    );

    let (d, s) = open();
    log3(s.as_ref());
    drop(s);
    sql(d.path(), "DELETE FROM legal_log WHERE seq = 2");
    assert_eq!(
        reopen(d.path()).log_verify(),
        Err(store::LogVerifyError::Broken { seq: 3 })
    );

    let (d, s) = open();
    log3(s.as_ref());
    drop(s);
    // Swap the first two records, each with its own hash intact.
    sql(d.path(), "UPDATE legal_log SET seq = -1 WHERE seq = 1; UPDATE legal_log SET seq = 1 WHERE seq = 2; UPDATE legal_log SET seq = 2 WHERE seq = -1; CREATE TABLE t AS SELECT * FROM legal_log ORDER BY seq; DELETE FROM legal_log; INSERT INTO legal_log SELECT * FROM t; DROP TABLE t;");
    assert!(reopen(d.path()).log_verify().is_err());
}

/// After retention dropped old records the chain starts at an anchor (the suite checks
/// that); a young record deleted by hand behind it is still detected.
#[test]
fn log_retention_anchor_still_detects_a_deleted_record() {
    let month = 30 * 24 * 3600;
    let (d, s) = open();
    log_at(s.as_ref(), 0, "old1");
    log_at(s.as_ref(), month, "old2");
    log_at(s.as_ref(), 20 * month, "young");
    let now = 32 * month;
    assert_eq!(s.purge_log(now).unwrap(), 2, "older than 30 months");
    log_at(s.as_ref(), now, "new");
    assert_eq!(s.log_verify(), Ok(2));
    drop(s);
    sql(d.path(), "DELETE FROM legal_log WHERE msgid = 'young'");
    assert_eq!(
        reopen(d.path()).log_verify(),
        Err(store::LogVerifyError::Broken { seq: 4 })
    );
}

fn blob_file(dir: &std::path::Path, hash: &str) -> std::path::PathBuf {
    dir.join("blobs").join(&hash[..2]).join(hash)
}

/// Bytes nobody references are given back after the grace period: the inline copy, the
/// file and the full-text rows; bytes still used by a copy, a queue item or a recent
/// write stay.
#[test]
fn unreferenced_blobs_are_collected_after_the_grace_period() {
    let (d, s) = open();
    s.set_quota("a@pec.test", 10_000_000).unwrap();
    let large = vec![b'x'; SqliteStore::INLINE_BLOB_MAX + 1];
    let large_hash = s.put_blob(&large).unwrap();
    let small = b"From: a\r\n\r\npiccolo".to_vec();
    let small_hash = store::blob_name(&small);
    let text = store::MessageText {
        body: "testo indicizzato".into(),
        ..Default::default()
    };
    let meta = MessageMeta {
        text: Some(text),
        ..MessageMeta::default()
    };
    let small_prepared = s.prepare_blob(&small).unwrap();
    assert_eq!(small_prepared.name(), small_hash);
    s.write(|tx| {
        tx.keep_blob(&small_prepared)?;
        for blob in [&large_hash, &small_hash] {
            let m = NewMessage {
                blob,
                size: 10,
                meta: &meta,
            };
            tx.append("a@pec.test", INBOX, &m, 1)?;
        }
        // A queue item also holds the large blob.
        tx.enqueue(
            QueueKind::Relay,
            "a@pec.test",
            &["b@x.test".into()],
            &large_hash,
            None,
            1,
        )
    })
    .unwrap();
    let inbox = s.folder(MailboxId(1), INBOX).unwrap().unwrap().id;
    let trash = s.folder(MailboxId(1), "Cestino").unwrap().unwrap().id;
    s.write(|tx| tx.copy_messages(inbox, &[2], trash, false))
        .unwrap();
    s.expunge(inbox, &[1, 2]).unwrap();
    let found = |s: &dyn Store| {
        s.text_search(MailboxId(1), "indicizzato", store::TextField::Body)
            .unwrap()
            .unwrap()
            .found
            .len()
    };
    assert_eq!(found(&*s), 1, "the copy in Cestino");

    // Within the grace period nothing goes; after it, what is still used stays.
    assert_eq!(s.collect_blobs(100, 3600, 100).unwrap().freed, 0);
    assert_eq!(s.collect_blobs(100 + 3600, 3600, 100).unwrap().freed, 0);
    assert!(s.blob(&small_hash).is_ok() && s.blob(&large_hash).is_ok());

    // The copy goes: the small blob and its text are given back.
    s.expunge(trash, &[1]).unwrap();
    assert_eq!(s.collect_blobs(10_000, 0, 100).unwrap().freed, 1);
    assert!(s.blob(&small_hash).is_err(), "inline copy dropped");
    assert_eq!(found(&*s), 0);

    // The queue item is done: the large blob is unreferenced, but its file was written
    // within the hour (a writer may be about to use it again), so it stays...
    let item = s.queue_claim(2, 60, &ANY).unwrap().unwrap();
    s.write(|tx| tx.dequeue(item.id).map(|_| ())).unwrap();
    assert_eq!(
        s.collect_blobs(20_000, 3600, 100).unwrap().freed,
        0,
        "not yet due"
    );
    let pass = s.collect_blobs(23_600, 3600, 100).unwrap();
    assert_eq!((pass.checked, pass.freed, pass.files), (1, 1, 0));
    assert!(
        blob_file(d.path(), &large_hash).exists(),
        "written too recently"
    );
    // ...and once its file is old, the next release of it removes the file.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let backdate = || {
        std::fs::File::options()
            .write(true)
            .open(blob_file(d.path(), &large_hash))
            .unwrap()
            .set_modified(old)
            .unwrap()
    };
    backdate();
    // Storing the same bytes again refreshes the file: it is in use again.
    assert_eq!(s.put_blob(&large).unwrap(), large_hash);
    let fresh = std::fs::metadata(blob_file(d.path(), &large_hash))
        .unwrap()
        .modified()
        .unwrap();
    assert!(fresh > old + std::time::Duration::from_secs(3600));
    backdate();
    let m = NewMessage {
        blob: &large_hash,
        size: 10,
        meta: &meta,
    };
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1).map(|_| ()))
        .unwrap();
    s.expunge(inbox, &[3]).unwrap();
    assert_eq!(
        s.collect_blobs(30_000, 3600, 100).unwrap().freed,
        0,
        "not yet due"
    );
    let pass = s.collect_blobs(40_000, 3600, 100).unwrap();
    assert_eq!((pass.checked, pass.freed, pass.files), (1, 1, 1));
    assert!(!blob_file(d.path(), &large_hash).exists(), "file removed");
    assert!(s.blob(&large_hash).is_err());
}

/// A blob file written for a transaction that then failed (here a delivery over quota) is
/// referenced by nothing and never released: the sweep of orphans removes it once older
/// than the grace period, and leaves alone files in use or written recently.
#[test]
fn orphan_blob_files_of_failed_transactions_are_swept() {
    let (d, s) = open();
    let shard_of = |hash: &str| u8::from_str_radix(&hash[..2], 16).unwrap();
    let backdate = |hash: &str| {
        std::fs::File::options()
            .write(true)
            .open(blob_file(d.path(), hash))
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap()
    };
    let meta = MessageMeta::default();

    // Happy path: a delivered message's file, old, stays; a fresh unreferenced one (a
    // writer that has not committed yet) stays.
    s.set_quota("a@pec.test", 10_000_000).unwrap();
    let delivered = s.put_blob(b"From: a\r\n\r\nconsegnato").unwrap();
    let m = NewMessage {
        blob: &delivered,
        size: 30,
        meta: &meta,
    };
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1).map(|_| ()))
        .unwrap();
    backdate(&delivered);
    let pass = s.sweep_orphan_blobs(shard_of(&delivered), 3600).unwrap();
    assert_eq!((pass.checked, pass.freed, pass.files), (1, 0, 0));
    assert!(blob_file(d.path(), &delivered).exists());
    assert_eq!(s.blob(&delivered).unwrap(), b"From: a\r\n\r\nconsegnato");

    // The attack: the bytes are written, then the delivery fails (the services' quota
    // rule refuses it inside the transaction) and the transaction rolls back. Nothing
    // references the file and no release was noted.
    let large = vec![b'y'; SqliteStore::INLINE_BLOB_MAX + 1];
    let orphan = s.put_blob(&large).unwrap();
    let m = NewMessage {
        blob: &orphan,
        size: large.len() as i64,
        meta: &meta,
    };
    let failed = s.write(|tx| {
        tx.append("a@pec.test", INBOX, &m, 1)?;
        Err::<(), _>(store::StoreError::OverQuota("a@pec.test".into()))
    });
    assert!(
        matches!(failed, Err(store::StoreError::OverQuota(_))),
        "{failed:?}"
    );
    assert!(blob_file(d.path(), &orphan).exists());
    // The regular collection knows nothing of it.
    assert_eq!(s.collect_blobs(100_000, 0, 100).unwrap().checked, 0);
    // Within the grace period it stays: a writer may be about to commit it.
    let pass = s.sweep_orphan_blobs(shard_of(&orphan), 3600).unwrap();
    assert_eq!(pass.files, 0);
    assert!(
        blob_file(d.path(), &orphan).exists(),
        "written too recently"
    );
    // Once old, the sweep of its directory removes it, and only it.
    backdate(&orphan);
    let pass = s.sweep_orphan_blobs(shard_of(&orphan), 3600).unwrap();
    assert_eq!(pass.files, 1);
    assert!(!blob_file(d.path(), &orphan).exists(), "orphan removed");
    assert!(s.blob(&orphan).is_err());
    let pass = s.sweep_orphan_blobs(shard_of(&delivered), 0).unwrap();
    assert_eq!(pass.files, 0);
    assert!(
        blob_file(d.path(), &delivered).exists(),
        "delivered bytes kept"
    );
}
