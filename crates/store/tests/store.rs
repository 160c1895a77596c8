//! The store on a real SQLite file: UIDs and MODSEQ, quota, queue leases, the log chain.

use store::{MessageMeta, NewMessage, Store, INBOX};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.add_domain("pec.test", 0).unwrap();
    s.add_mailbox("a@pec.test", "hash", 100, None, false, 0)
        .unwrap();
    (dir, s)
}

#[test]
fn append_assigns_increasing_uids_and_counts_quota() {
    let (_d, s) = open();
    let meta = MessageMeta::default();
    let blob = s.blobs.put(b"From: x\r\n\r\nbody").unwrap();
    assert_eq!(s.blobs.get(&blob).unwrap(), b"From: x\r\n\r\nbody");
    let m = NewMessage {
        blob: &blob,
        size: 40,
        meta: &meta,
    };
    let uids: Vec<i64> = (0..2)
        .map(|_| {
            s.write(|tx| store::append(tx, "a@pec.test", INBOX, &m, 1, true))
                .unwrap()
        })
        .collect();
    assert_eq!(uids, vec![1, 2]);
    let over = s.write(|tx| store::append(tx, "a@pec.test", INBOX, &m, 1, true));
    assert!(
        matches!(over, Err(store::StoreError::OverQuota(_))),
        "{over:?}"
    );
    let msgs = s.folder_messages("a@pec.test", INBOX).unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[1].modseq > msgs[0].modseq);
    assert_eq!(s.mailbox("A@PEC.TEST").unwrap().unwrap().used, 80);
    assert!(
        s.add_mailbox("a@pec.test", "h", 1, None, false, 0).is_err(),
        "no duplicate mailbox"
    );
    assert!(
        s.blobs.get("../../etc/passwd").is_err(),
        "blob names are hashes only"
    );
}

#[test]
fn queue_lease_hides_an_item_until_it_expires() {
    let (_d, s) = open();
    s.write(|tx| store::enqueue(tx, "relay", "a@pec.test", "b@x.test", "00", None, 10))
        .unwrap();
    let item = s.queue_claim(10, 300).unwrap().unwrap();
    assert_eq!(item.attempts, 0);
    assert!(s.queue_claim(11, 300).unwrap().is_none(), "leased");
    assert_eq!(
        s.release_leases().unwrap(),
        1,
        "a restart releases the crashed process's lease"
    );
    assert!(s.queue_claim(12, 300).unwrap().is_some());
    let again = s.queue_claim(313, 300).unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts),
        (item.id, 2),
        "a crash only delays it"
    );
    s.queue_retry(item.id, 400, "down").unwrap();
    assert!(s.queue_claim(399, 300).unwrap().is_none());
    assert!(s.write(|tx| store::dequeue(tx, item.id)).unwrap());
    assert!(
        !s.write(|tx| store::dequeue(tx, item.id)).unwrap(),
        "done once"
    );
    assert_eq!(s.queue_len().unwrap(), 0);
}

fn log3(s: &Store) {
    for i in 0..3 {
        s.write(|tx| {
            store::log_append(
                tx,
                i,
                "accettazione",
                &format!("id{i}"),
                "a@pec.test",
                &["b@pec.test".into()],
                "oggetto",
                &[],
                "Certa",
            )?;
            Ok(())
        })
        .unwrap();
    }
}

fn sql(dir: &std::path::Path, q: &str) {
    let c = std::process::Command::new("sqlite3")
        .arg(dir.join("certa.db"))
        .arg(q)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
}

#[test]
fn log_chain_detects_edit_delete_and_reorder() {
    let (d, s) = open();
    log3(&s);
    assert_eq!(s.log_verify(), Ok(3));
    drop(s);
    sql(
        d.path(),
        "UPDATE legal_log SET subject = 'altro' WHERE seq = 2",
    );
    assert_eq!(
        Store::open(d.path()).unwrap().log_verify(),
        Err(store::LogVerifyError::Edited { seq: 2 })
    );

    let (d, s) = open();
    log3(&s);
    drop(s);
    sql(d.path(), "DELETE FROM legal_log WHERE seq = 2");
    assert_eq!(
        Store::open(d.path()).unwrap().log_verify(),
        Err(store::LogVerifyError::Broken { seq: 3 })
    );

    let (d, s) = open();
    log3(&s);
    drop(s);
    // Swap the first two records, each with its own hash intact.
    sql(d.path(), "UPDATE legal_log SET seq = -1 WHERE seq = 1; UPDATE legal_log SET seq = 1 WHERE seq = 2; UPDATE legal_log SET seq = 2 WHERE seq = -1; CREATE TABLE t AS SELECT * FROM legal_log ORDER BY seq; DELETE FROM legal_log; INSERT INTO legal_log SELECT * FROM t; DROP TABLE t;");
    assert!(Store::open(d.path()).unwrap().log_verify().is_err());
}
