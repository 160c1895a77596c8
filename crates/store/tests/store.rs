//! The store on a real SQLite file: UIDs and MODSEQ, quota, queue leases, the log chain.

use store::{
    LogRecord, MessageMeta, NewMailbox, NewMessage, QueueClaim, QueueFailure, QueueFailureKind,
    QueueKind, SqliteStore, Store, INBOX,
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

#[test]
fn append_assigns_increasing_uids_and_counts_quota() {
    let (_d, s) = open();
    let meta = MessageMeta::default();
    let blob = s.put_blob(b"From: x\r\n\r\nbody").unwrap();
    assert_eq!(s.blob(&blob).unwrap(), b"From: x\r\n\r\nbody");
    let m = NewMessage {
        blob: &blob,
        size: 40,
        meta: &meta,
    };
    let uids: Vec<i64> = (0..2)
        .map(|_| {
            s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true))
                .unwrap()
        })
        .collect();
    assert_eq!(uids, vec![1, 2]);
    let over = s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true));
    assert!(
        matches!(over, Err(store::StoreError::OverQuota(_))),
        "{over:?}"
    );
    let msgs = s.folder_messages("a@pec.test", INBOX).unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[1].modseq > msgs[0].modseq);
    assert_eq!(s.mailbox("A@PEC.TEST").unwrap().unwrap().used, 80);
    let again = NewMailbox {
        address: "a@pec.test",
        password_hash: "h",
        quota: 1,
        recovery_email: None,
        must_change_password: false,
    };
    assert!(s.add_mailbox(&again, 0).is_err(), "no duplicate mailbox");
    assert!(
        s.blob("../../etc/passwd").is_err(),
        "blob names are hashes only"
    );
}

#[test]
fn queue_lease_hides_an_item_until_it_expires() {
    let (_d, s) = open();
    s.write(|tx| {
        tx.enqueue(
            QueueKind::Relay,
            "a@pec.test",
            &["b@x.test".into()],
            "00",
            None,
            10,
        )
    })
    .unwrap();
    let item = s.queue_claim(10, 300, &ANY).unwrap().unwrap();
    assert_eq!(item.attempts, 0);
    assert!(s.queue_claim(11, 300, &ANY).unwrap().is_none(), "leased");
    assert_eq!(
        s.release_leases().unwrap(),
        1,
        "a restart releases the crashed process's lease"
    );
    assert!(s.queue_claim(12, 300, &ANY).unwrap().is_some());
    let again = s.queue_claim(313, 300, &ANY).unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts),
        (item.id, 2),
        "a crash only delays it"
    );
    s.queue_retry(
        item.id,
        &QueueFailure {
            kind: QueueFailureKind::Temporary,
            error: "down",
            next_attempt: 400,
            now: 313,
            park_after: None,
        },
    )
    .unwrap();
    assert!(s.queue_claim(399, 300, &ANY).unwrap().is_none());
    assert!(s.write(|tx| tx.dequeue(item.id)).unwrap());
    assert!(!s.write(|tx| tx.dequeue(item.id)).unwrap(), "done once");
    assert_eq!(s.queue_len().unwrap(), 0);
}

const ANY: QueueClaim = QueueClaim {
    kinds: &[QueueKind::Relay, QueueKind::Deliver],
    skip_destinations: &[],
};

#[test]
fn queue_parks_poison_and_skips_busy_destinations() {
    let (_d, s) = open();
    s.write(|tx| {
        tx.enqueue(
            QueueKind::Relay,
            "a@pec.test",
            &["x@Slow.Test".into(), "y@slow.test".into()],
            "00",
            None,
            10,
        )?;
        tx.enqueue(
            QueueKind::Relay,
            "a@pec.test",
            &["z@fast.test".into()],
            "00",
            None,
            10,
        )?;
        tx.enqueue(
            QueueKind::Deliver,
            "a@pec.test",
            &["b@pec.test".into()],
            "00",
            None,
            10,
        )
    })
    .unwrap();
    // Happy path: the first relay is the slow destination's.
    let relays = QueueClaim {
        kinds: &[QueueKind::Relay],
        skip_destinations: &[],
    };
    let slow = s.queue_claim(10, 300, &relays).unwrap().unwrap();
    assert_eq!(slow.destination, "slow.test");
    assert_eq!(slow.recipients, ["x@Slow.Test", "y@slow.test"], "as queued");
    // A busy destination is skipped; relays never take local deliveries and vice versa.
    let busy = ["slow.test".to_string()];
    s.release_leases().unwrap();
    let fast = s
        .queue_claim(
            10,
            300,
            &QueueClaim {
                kinds: &[QueueKind::Relay],
                skip_destinations: &busy,
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(fast.destination, "fast.test");
    assert!(s.queue_claim(10, 300, &relays).unwrap().unwrap().id == slow.id);
    assert!(s.queue_claim(10, 300, &relays).unwrap().is_none());
    let local = QueueClaim {
        kinds: &[QueueKind::Deliver],
        skip_destinations: &[],
    };
    assert_eq!(
        s.queue_claim(10, 300, &local).unwrap().unwrap().kind,
        QueueKind::Deliver
    );
    assert!(s.queue_renew(slow.id, 900).unwrap());

    // Failing the same way three times parks it; another kind of failure resets the count.
    let fail = |kind: QueueFailureKind, now: i64| {
        s.queue_retry(
            slow.id,
            &QueueFailure {
                kind,
                error: "risposta malformata",
                next_attempt: now,
                now,
                park_after: Some(3),
            },
        )
        .unwrap()
    };
    assert!(!fail(QueueFailureKind::Peer, 20));
    assert!(!fail(QueueFailureKind::Peer, 21));
    assert!(
        !fail(QueueFailureKind::Internal, 22),
        "a different failure starts again"
    );
    assert!(!fail(QueueFailureKind::Internal, 23));
    assert!(
        fail(QueueFailureKind::Internal, 24),
        "third in a row: parked"
    );
    assert!(
        s.queue_claim(1000, 300, &relays)
            .unwrap()
            .is_none_or(|i| i.id != slow.id),
        "a parked item is never claimed"
    );
    assert!(s.queue_claim(1000, 300, &relays).unwrap().is_none());
    let entries = s.queue_entries().unwrap();
    let parked = entries.iter().find(|e| e.item.id == slow.id).unwrap();
    assert_eq!(parked.parked, Some(24));
    assert_eq!(parked.same_failures, 3);
    assert_eq!(parked.last_error.as_deref(), Some("risposta malformata"));
    // Put back: due now, count reset.
    assert!(s.queue_unpark(slow.id, 30).unwrap());
    assert!(!s.queue_unpark(9999, 30).unwrap());
    assert_eq!(
        s.queue_claim(30, 300, &relays).unwrap().unwrap().id,
        slow.id
    );
    let again = s.queue_entries().unwrap();
    let e = again.iter().find(|e| e.item.id == slow.id).unwrap();
    assert_eq!((e.parked, e.same_failures), (None, 0));
}

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

#[test]
fn log_retention_drops_old_records_and_the_rest_still_verifies() {
    let month = 30 * 24 * 3600;
    let (d, s) = open();
    log_at(s.as_ref(), 0, "old1");
    log_at(s.as_ref(), month, "old2");
    log_at(s.as_ref(), 20 * month, "young");
    let now = 32 * month;
    assert_eq!(s.purge_log(now).unwrap(), 2, "older than 30 months");
    assert_eq!(s.purge_log(now).unwrap(), 0);
    let left: Vec<String> = s
        .log_records(None)
        .unwrap()
        .into_iter()
        .map(|e| e.msgid)
        .collect();
    assert_eq!(left, vec!["young"]);
    assert_eq!(s.log_verify(), Ok(1), "the chain starts at the anchor");
    log_at(s.as_ref(), now, "new");
    assert_eq!(s.log_verify(), Ok(2));
    assert_eq!(s.log_records(None).unwrap()[1].seq, 4, "seq keeps counting");
    drop(s);
    // Dropping a young record by hand is still detected.
    sql(d.path(), "DELETE FROM legal_log WHERE msgid = 'young'");
    assert_eq!(
        reopen(d.path()).log_verify(),
        Err(store::LogVerifyError::Broken { seq: 4 })
    );
}

fn append_text(s: &dyn Store, address: &str, bytes: &[u8], body: Option<&str>) -> i64 {
    let blob = s.put_blob(bytes).unwrap();
    let meta = MessageMeta {
        text: body.map(|b| store::MessageText {
            subject: "oggetto di prova".into(),
            from: "mario rossi mario@pec.test".into(),
            body: b.into(),
            ..Default::default()
        }),
        ..MessageMeta::default()
    };
    let m = NewMessage {
        blob: &blob,
        size: 1,
        meta: &meta,
    };
    s.write(|tx| tx.append(address, INBOX, &m, 1, true))
        .unwrap()
}

#[test]
fn text_index_finds_substrings_in_one_mailbox_and_names_what_it_has_not_indexed() {
    use store::{TextField, TextHits};
    let (_d, s) = open();
    let b = NewMailbox {
        address: "b@pec.test",
        password_hash: "hash",
        quota: 100,
        recovery_email: None,
        must_change_password: false,
    };
    let b_id = s.add_mailbox(&b, 0).unwrap();
    let inbox = s.folder_head(1, INBOX).unwrap().unwrap().id;
    append_text(
        &*s,
        "a@pec.test",
        b"1",
        Some("fattura n. 42 del \"saldo\" perché dovuto"),
    );
    append_text(&*s, "a@pec.test", b"2", Some("nessuna corrispondenza qui"));
    let old = append_text(&*s, "a@pec.test", b"3", None);
    // Another mailbox with the same words is never in a's answers.
    append_text(&*s, "b@pec.test", b"1", Some("fattura n. 42 anche qui"));
    let uids = |v: Vec<store::FoundMessage>| -> Vec<(i64, i64)> {
        v.into_iter().map(|m| (m.folder_id, m.uid)).collect()
    };
    let hits = |needle: &str, f| {
        s.text_search(1, needle, f)
            .unwrap()
            .map(|h| (uids(h.found), uids(h.unindexed)))
    };
    let just = |found: Vec<i64>| {
        Some((
            found.into_iter().map(|u| (inbox, u)).collect::<Vec<_>>(),
            vec![(inbox, old)],
        ))
    };
    // Substrings inside words, punctuation, quotes and accented letters.
    assert_eq!(hits("attura n", TextField::Body), just(vec![1]));
    assert_eq!(hits("\"saldo\"", TextField::Body), just(vec![1]));
    assert_eq!(hits("perché", TextField::Body), just(vec![1]));
    assert_eq!(hits("corrispondenza", TextField::Body), just(vec![2]));
    // Words present but not next to each other are not a match.
    assert_eq!(hits("fattura del", TextField::Body), just(vec![]));
    // Each field in its own column.
    assert_eq!(hits("mario rossi", TextField::Body), just(vec![]));
    assert_eq!(hits("mario rossi", TextField::Anywhere), just(vec![1, 2]));
    assert_eq!(hits("mario rossi", TextField::From), just(vec![1, 2]));
    assert_eq!(hits("mario rossi", TextField::Subject), just(vec![]));
    assert_eq!(hits("di prova", TextField::Subject), just(vec![1, 2]));
    // Too short for trigrams: the caller reads.
    assert_eq!(hits("42", TextField::Body), None);
    // FTS5 syntax in the needle is text, not a query.
    assert_eq!(hits("a OR b*", TextField::Body), just(vec![]));
    let b_hits = s
        .text_search(b_id, "fattura", TextField::Body)
        .unwrap()
        .unwrap();
    assert_eq!(b_hits.found.len(), 1);
    assert_ne!(b_hits.found[0].folder_id, inbox);

    // The message stored without text is indexed later.
    let pending = s.unindexed_texts(10).unwrap();
    assert_eq!(pending.len(), 1);
    let text = store::MessageText {
        body: "testo arretrato".into(),
        ..Default::default()
    };
    s.index_text(pending[0].0, &pending[0].1, &text).unwrap();
    assert!(s.unindexed_texts(10).unwrap().is_empty());
    assert_eq!(
        hits("arretrato", TextField::Body),
        Some((vec![(inbox, old)], vec![]))
    );

    // A copy keeps its text; an expunged message is no longer found; a deleted mailbox's
    // rows go with it.
    let drafts = s.folder_head(1, "Bozze").unwrap().unwrap().id;
    s.copy_messages(inbox, &[1], drafts, false).unwrap();
    assert_eq!(
        hits("fattura", TextField::Body).unwrap().0,
        vec![(inbox, 1), (drafts, 1)]
    );
    s.expunge(inbox, &[1]).unwrap();
    assert_eq!(
        hits("fattura", TextField::Body).unwrap().0,
        vec![(drafts, 1)]
    );
    s.delete_mailbox("b@pec.test").unwrap();
    assert_eq!(
        s.text_search(b_id, "fattura", TextField::Body).unwrap(),
        Some(TextHits::default())
    );
}

/// Each folder's counts (kept by triggers) equal what its messages say, after every kind of
/// change: append, flags, copy, move, expunge, renaming INBOX, deleting a folder.
#[test]
fn folder_counts_follow_every_change() {
    use store::FlagOp;
    let (_d, s) = open();
    s.set_quota("a@pec.test", 1_000_000).unwrap();
    let check = |when: &str| {
        for f in s.folders(1).unwrap() {
            let msgs = s.messages(f.id).unwrap();
            let unseen = msgs
                .iter()
                .filter(|m| !m.flags.split(' ').any(|x| x == "\\Seen"))
                .count() as i64;
            let deleted = msgs
                .iter()
                .filter(|m| m.flags.split(' ').any(|x| x == "\\Deleted"))
                .count() as i64;
            let size: i64 = msgs.iter().map(|m| m.size).sum();
            assert_eq!(
                (f.messages, f.unseen, f.deleted, f.size),
                (msgs.len() as i64, unseen, deleted, size),
                "{when}: folder {}",
                f.name
            );
        }
    };
    for i in 0..5 {
        let blob = s.put_blob(format!("m{i}").as_bytes()).unwrap();
        let meta = MessageMeta {
            flags: if i % 2 == 0 {
                "\\Seen".into()
            } else {
                String::new()
            },
            ..MessageMeta::default()
        };
        let m = NewMessage {
            blob: &blob,
            size: 10 + i,
            meta: &meta,
        };
        s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true))
            .unwrap();
    }
    check("append");
    let inbox = s.folder(1, INBOX).unwrap().unwrap();
    assert_eq!((inbox.messages, inbox.unseen, inbox.size), (5, 2, 60));
    assert_eq!(
        s.unclaimed_recent(inbox.id).unwrap(),
        5,
        "no session has seen them"
    );
    assert_eq!(s.claim_recent(inbox.id).unwrap(), 1);
    assert_eq!(s.unclaimed_recent(inbox.id).unwrap(), 0);
    let seen = ["\\Seen".to_string()];
    s.store_flags(inbox.id, &[2], FlagOp::Add, &seen, None)
        .unwrap();
    s.store_flags(inbox.id, &[1], FlagOp::Remove, &seen, None)
        .unwrap();
    s.store_flags(
        inbox.id,
        &[3],
        FlagOp::Replace,
        &["$Etichetta".into()],
        None,
    )
    .unwrap();
    s.store_flags(inbox.id, &[4, 5], FlagOp::Add, &["\\Deleted".into()], None)
        .unwrap();
    assert_eq!(s.folder(1, INBOX).unwrap().unwrap().deleted, 2);
    check("flags");
    let drafts = s.folder(1, "Bozze").unwrap().unwrap().id;
    let trash = s.folder(1, "Cestino").unwrap().unwrap().id;
    s.copy_messages(inbox.id, &[1, 2], drafts, false).unwrap();
    s.copy_messages(inbox.id, &[4], trash, true).unwrap();
    check("copy and move");
    s.expunge(inbox.id, &[5]).unwrap();
    check("expunge");
    s.rename_folder(1, INBOX, "Archivio", 2).unwrap();
    check("INBOX renamed");
    s.create_folder(1, "Pratiche", 3).unwrap();
    let archive = s.folder(1, "Archivio").unwrap().unwrap().id;
    let pratiche = s.folder(1, "Pratiche").unwrap().unwrap().id;
    s.copy_messages(archive, &[1, 2, 3], pratiche, false)
        .unwrap();
    check("copied to a new folder");
    s.delete_folder(1, "Pratiche").unwrap();
    check("folder deleted");
    let total: i64 = s.folders(1).unwrap().iter().map(|f| f.size).sum();
    assert_eq!(s.mailbox("a@pec.test").unwrap().unwrap().used, total);
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
    let large = vec![b'x'; store::INLINE_BLOB_MAX + 1];
    let large_hash = s.put_blob(&large).unwrap();
    let small = b"From: a\r\n\r\npiccolo".to_vec();
    let small_hash = store::BlobStore::name_of(&small);
    let text = store::MessageText {
        body: "testo indicizzato".into(),
        ..Default::default()
    };
    let meta = MessageMeta {
        text: Some(text),
        ..MessageMeta::default()
    };
    s.write(|tx| {
        tx.put_inline(&small_hash, &small)?;
        for blob in [&large_hash, &small_hash] {
            let m = NewMessage {
                blob,
                size: 10,
                meta: &meta,
            };
            tx.append("a@pec.test", INBOX, &m, 1, true)?;
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
    let inbox = s.folder(1, INBOX).unwrap().unwrap().id;
    let trash = s.folder(1, "Cestino").unwrap().unwrap().id;
    s.copy_messages(inbox, &[2], trash, false).unwrap();
    s.expunge(inbox, &[1, 2]).unwrap();
    let found = |s: &dyn Store| {
        s.text_search(1, "indicizzato", store::TextField::Body)
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
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true).map(|_| ()))
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
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true).map(|_| ()))
        .unwrap();
    backdate(&delivered);
    let pass = s.sweep_orphan_blobs(shard_of(&delivered), 3600).unwrap();
    assert_eq!((pass.checked, pass.freed, pass.files), (1, 0, 0));
    assert!(blob_file(d.path(), &delivered).exists());
    assert_eq!(s.blob(&delivered).unwrap(), b"From: a\r\n\r\nconsegnato");

    // The attack: the bytes are written, then the delivery fails (over quota) and its
    // transaction rolls back. Nothing references the file and no release was noted.
    s.set_quota("a@pec.test", 100).unwrap();
    let large = vec![b'y'; store::INLINE_BLOB_MAX + 1];
    let orphan = s.put_blob(&large).unwrap();
    let m = NewMessage {
        blob: &orphan,
        size: large.len() as i64,
        meta: &meta,
    };
    let failed = s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1, true).map(|_| ()));
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
