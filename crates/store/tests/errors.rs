//! Store errors keep their kind: each is provoked on a real SQLite file (or, for the busy
//! and locked cases, on two real connections to one, without waiting out the store's busy
//! timeout) after the same operation was shown to succeed.

use rusqlite::Connection;
use std::time::Duration;
use store::{NewMailbox, PecTransaction, SqliteStore, Store, StoreError, WebSession, INBOX};

fn open() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s: Box<dyn Store> = Box::new(SqliteStore::open(dir.path()).unwrap());
    s.add_domain("pec.test", 0).unwrap();
    s.add_mailbox(
        &NewMailbox {
            address: "a@pec.test",
            password_hash: "hash",
            quota: 1000,
            recovery_email: None,
            must_change_password: false,
        },
        0,
    )
    .unwrap();
    (dir, s)
}

/// A connection of the test's own to the store's database, busy at once when locked.
fn raw(dir: &std::path::Path) -> Connection {
    let c = Connection::open(dir.join("certa.db")).unwrap();
    c.busy_timeout(Duration::ZERO).unwrap();
    c
}

#[test]
fn another_writer_holding_the_lock_is_retryable() {
    let (d, s) = open();
    let (holder, other) = (raw(d.path()), raw(d.path()));
    other.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let busy = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
    let e = StoreError::from(busy);
    assert!(matches!(e, StoreError::Retryable(_)), "{e:?}");
    assert!(
        e.to_string().contains("locked"),
        "the source text stays: {e}"
    );
    // Readers are not held up by a writer (WAL).
    assert!(s.mailbox("a@pec.test").unwrap().is_some());
    holder.execute_batch("COMMIT").unwrap();
    other.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
}

#[test]
fn a_table_locked_by_a_running_statement_is_retryable() {
    let (d, _s) = open();
    let c = raw(d.path());
    c.execute_batch("CREATE TABLE scratch(x); INSERT INTO scratch VALUES (1), (2);")
        .unwrap();
    {
        let mut st = c.prepare("SELECT x FROM scratch").unwrap();
        let mut rows = st.query([]).unwrap();
        assert!(rows.next().unwrap().is_some());
        // SQLITE_LOCKED: the table cannot go while this connection is reading it.
        let locked = c.execute_batch("DROP TABLE scratch").unwrap_err();
        let e = StoreError::from(locked);
        assert!(matches!(e, StoreError::Retryable(_)), "{e:?}");
    }
    c.execute_batch("DROP TABLE scratch").unwrap();
}

#[test]
fn a_row_that_exists_already_is_a_conflict() {
    let (_d, s) = open();
    let t = PecTransaction {
        identificativo: "id-1@pec.test".into(),
        sender: "a@pec.test".into(),
        subject: "s".into(),
        msgid: None,
        receipt_type: pec::ReceiptType::Completa,
        created: 1,
        recipients: vec![],
        sent_by: None,
    };
    s.write(|tx| tx.create_transaction(&t)).unwrap();
    // The PRIMARY KEY of pec_transactions, not a check of ours.
    let again = s.write(|tx| tx.create_transaction(&t));
    assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
    assert!(s.transaction("id-1@pec.test").unwrap().is_some());
}

#[test]
fn a_reference_to_nothing_is_not_found() {
    let (_d, s) = open();
    let id = s.mailbox("a@pec.test").unwrap().unwrap().id;
    let session = |token: &str, mailbox_id| WebSession {
        token_hash: token.into(),
        mailbox_id,
        address: String::new(),
        csrf: "c".into(),
        lang: "it".into(),
        must_change_password: false,
        created: 1,
        last_seen: 1,
        collaboration_id: None,
    };
    s.start_session(&session("t1", id), 0).unwrap();
    // The foreign key to mailboxes: no such mailbox.
    let dangling = s.start_session(&session("t2", store::MailboxId(id.0 + 100)), 0);
    assert!(
        matches!(dangling, Err(StoreError::NotFound(_))),
        "{dangling:?}"
    );
    assert!(s.session("t2").unwrap().is_none());
    s.set_quota("a@pec.test", 10).unwrap();
    let missing = s.set_quota("b@pec.test", 10);
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// The store refuses what it cannot do: copying between two mailboxes (the mail rules,
/// special folders and quota, are the services' and tested there).
#[test]
fn a_copy_between_mailboxes_is_refused() {
    let (_d, s) = open();
    s.add_mailbox(
        &NewMailbox {
            address: "b@pec.test",
            password_hash: "hash",
            quota: 1000,
            recovery_email: None,
            must_change_password: false,
        },
        0,
    )
    .unwrap();
    let a = s.mailbox("a@pec.test").unwrap().unwrap().id;
    let b = s.mailbox("b@pec.test").unwrap().unwrap().id;
    let meta = store::MessageMeta::default();
    let m = store::NewMessage {
        blob: "00",
        size: 10,
        meta: &meta,
    };
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1)).unwrap();
    let a_inbox = s.folder(a, INBOX).unwrap().unwrap().id;
    let a_trash = s.folder(a, "Cestino").unwrap().unwrap().id;
    let b_inbox = s.folder(b, INBOX).unwrap().unwrap().id;
    // Happy path: within one mailbox.
    let copied = s.write(|tx| tx.copy_messages(a_inbox, &[1], a_trash, false));
    assert_eq!(copied.unwrap(), vec![(1, 1)]);
    let across = s.write(|tx| tx.copy_messages(a_inbox, &[1], b_inbox, false));
    assert!(matches!(across, Err(StoreError::Refused(_))), "{across:?}");
    assert_eq!(s.folder(b, INBOX).unwrap().unwrap().messages, 0);
    assert_eq!(s.mailbox("b@pec.test").unwrap().unwrap().used, 0);
}

#[test]
fn damaged_data_is_corrupt() {
    let (d, s) = open();
    let blob = s
        .put_blob(&[b'x'; SqliteStore::INLINE_BLOB_MAX + 1])
        .unwrap();
    let meta = store::MessageMeta::default();
    let m = store::NewMessage {
        blob: &blob,
        size: 1,
        meta: &meta,
    };
    s.write(|tx| tx.append("a@pec.test", INBOX, &m, 1)).unwrap();
    assert_eq!(s.folder_messages("a@pec.test", INBOX).unwrap().len(), 1);
    assert_eq!(
        s.blob(&blob).unwrap().len(),
        SqliteStore::INLINE_BLOB_MAX + 1
    );

    // A value of the wrong type where a number is stored.
    raw(d.path())
        .execute_batch("UPDATE messages SET size = 'grande'")
        .unwrap();
    let typed = s.folder_messages("a@pec.test", INBOX);
    assert!(matches!(typed, Err(StoreError::Corrupt(_))), "{typed:?}");

    // A blob file a message names, gone.
    let file = d.path().join("blobs").join(&blob[..2]).join(&blob);
    std::fs::remove_file(file).unwrap();
    let gone = s.blob(&blob);
    assert!(matches!(gone, Err(StoreError::Corrupt(_))), "{gone:?}");

    // A database file that is not one.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("certa.db"), vec![0x5a; 8192]).unwrap();
    let opened = SqliteStore::open(other.path());
    assert!(
        matches!(opened, Err(StoreError::Corrupt(_))),
        "{:?}",
        opened.err()
    );
}

#[test]
fn a_bug_of_ours_is_internal() {
    let (d, s) = open();
    let queue = |recipients: &[String]| {
        s.write(|tx| {
            tx.enqueue(
                store::QueueKind::Relay,
                "a@pec.test",
                recipients,
                "00",
                None,
                1,
            )
        })
    };
    queue(&["b@x.test".into()]).unwrap();
    let nobody = queue(&[]);
    assert!(matches!(nobody, Err(StoreError::Internal(_))), "{nobody:?}");
    assert_eq!(s.queue_len().unwrap(), 1);
    let c = raw(d.path());
    c.execute_batch("SELECT 1").unwrap();
    let e = StoreError::from(c.execute_batch("SELEC 1").unwrap_err());
    assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
    let e = StoreError::from(c.execute("SELECT ?1", [1, 2]).unwrap_err());
    assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
}

#[test]
fn blob_io_errors_by_kind() {
    use std::io::{Error, ErrorKind};
    let kind = |k| StoreError::from(Error::new(k, "x"));
    assert!(matches!(
        kind(ErrorKind::StorageFull),
        StoreError::Retryable(_)
    ));
    assert!(matches!(
        kind(ErrorKind::Interrupted),
        StoreError::Retryable(_)
    ));
    assert!(matches!(kind(ErrorKind::NotFound), StoreError::NotFound(_)));
    assert!(matches!(
        kind(ErrorKind::InvalidData),
        StoreError::Corrupt(_)
    ));
    assert!(matches!(
        kind(ErrorKind::InvalidInput),
        StoreError::Internal(_)
    ));
}

/// The kinds and states are kept as text; text no version of Certa wrote is damage,
/// reported as such, never a panic or a guess.
#[test]
fn an_unknown_name_in_the_database_is_corrupt() {
    use store::{DeliveryState, QueueKind, RecipientState};
    let (d, s) = open();
    let id = s.mailbox("a@pec.test").unwrap().unwrap().id;
    let meta = store::MessageMeta {
        pec_kind: Some(pec::MessageKind::Delivery(pec::ReceiptType::Breve)),
        ..Default::default()
    };
    let m = store::NewMessage {
        blob: "00",
        size: 1,
        meta: &meta,
    };
    s.write(|tx| {
        tx.append("a@pec.test", INBOX, &m, 1)?;
        tx.enqueue(
            QueueKind::Relay,
            "a@pec.test",
            &["b@x.test".into()],
            "00",
            None,
            1,
        )?;
        tx.create_transaction(&PecTransaction {
            identificativo: "id-1@pec.test".into(),
            sender: "a@pec.test".into(),
            subject: "s".into(),
            msgid: None,
            receipt_type: pec::ReceiptType::Breve,
            created: 1,
            recipients: vec![RecipientState {
                address: "b@x.test".into(),
                kind: pec::RecipientKind::Certificato,
                state: DeliveryState::Accepted,
                detail: None,
                updated: 1,
                taken_in_charge: false,
                notice_12h: false,
                notice_24h: false,
            }],
            sent_by: None,
        })
    })
    .unwrap();
    let inbox = s.folder(id, INBOX).unwrap().unwrap();
    let listed = s.listed(inbox.id, &[1]).unwrap();
    assert_eq!(
        listed[0].pec_kind,
        Some(pec::MessageKind::Delivery(pec::ReceiptType::Breve))
    );
    assert_eq!(s.queue_entries().unwrap()[0].item.kind, QueueKind::Relay);
    let t = s.transaction("id-1@pec.test").unwrap().unwrap();
    assert_eq!(t.receipt_type, pec::ReceiptType::Breve);
    assert_eq!(t.recipients[0].state, DeliveryState::Accepted);
    assert_eq!(t.recipients[0].kind, pec::RecipientKind::Certificato);
    // Stored as the same text as before the enums: no migration.
    let c = raw(d.path());
    let text = |q: &str| c.query_row(q, [], |r| r.get::<_, String>(0)).unwrap();
    assert_eq!(
        text("SELECT pec_kind FROM messages"),
        "avvenuta-consegna-breve"
    );
    assert_eq!(text("SELECT kind FROM queue"), "relay");
    assert_eq!(
        text("SELECT state || ' ' || kind FROM pec_recipients"),
        "accepted certificato"
    );

    let corrupt = |what: &str, r: store::Result<()>| {
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "{what}: {r:?}");
    };
    c.execute_batch("UPDATE messages SET pec_kind = 'consegna-forse'")
        .unwrap();
    corrupt("pec kind", s.listed(inbox.id, &[1]).map(drop));
    corrupt("pec kind", s.folder_messages("a@pec.test", INBOX).map(drop));
    c.execute_batch("UPDATE queue SET kind = 'teleport'")
        .unwrap();
    corrupt("queue kind", s.queue_entries().map(drop));
    c.execute_batch("UPDATE queue SET kind = 'relay', failure_kind = 'gremlins'")
        .unwrap();
    corrupt("failure kind", s.queue_entries().map(drop));
    c.execute_batch("UPDATE pec_recipients SET state = 'lost'")
        .unwrap();
    corrupt("recipient state", s.transaction("id-1@pec.test").map(drop));
    c.execute_batch("UPDATE pec_recipients SET state = 'accepted', kind = 'pec'")
        .unwrap();
    corrupt("recipient kind", s.transaction("id-1@pec.test").map(drop));
    c.execute_batch(
        "UPDATE pec_recipients SET kind = 'certificato';
         UPDATE pec_transactions SET receipt_type = 'lunga'",
    )
    .unwrap();
    corrupt("receipt type", s.transaction("id-1@pec.test").map(drop));
}
