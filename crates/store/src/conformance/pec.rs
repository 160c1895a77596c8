//! PEC transactions and their recipients' states, the 12 h / 24 h notices, the incoming
//! point's replay guard, the hash-chained legal log (RFC 6109 §2.3) and the quarantine.

use super::*;
use crate::{PecTransaction, Quarantine, RecipientState, RETENTION_SECS};

fn recipient(address: &str, kind: RecipientKind, state: DeliveryState) -> RecipientState {
    RecipientState {
        address: address.to_string(),
        kind,
        state,
        detail: None,
        updated: 100,
        taken_in_charge: false,
        notice_12h: false,
        notice_24h: false,
    }
}

fn transaction(identificativo: &str, recipients: Vec<RecipientState>) -> PecTransaction {
    PecTransaction {
        identificativo: identificativo.to_string(),
        sender: ALICE.to_string(),
        subject: "Oggetto".to_string(),
        msgid: Some(format!("<{identificativo}@pec.test>")),
        receipt_type: ::pec::ReceiptType::Completa,
        created: 100,
        recipients,
        sent_by: None,
    }
}

fn state_of(s: &dyn Store, identificativo: &str, address: &str) -> RecipientState {
    s.transaction(identificativo)
        .expect("transaction")
        .unwrap_or_else(|| panic!("transaction {identificativo} missing"))
        .recipients
        .into_iter()
        .find(|r| r.address == address)
        .unwrap_or_else(|| panic!("recipient {address} missing"))
}

pub fn pec_transactions_and_recipient_states(s: &dyn Store) {
    assert!(s.transaction("ID-1").expect("transaction").is_none());
    let t = transaction(
        "ID-1",
        vec![
            recipient("uno@altro.test", CERTIFIED, ACCEPTED),
            recipient("due@altro.test", CERTIFIED, ACCEPTED),
            recipient("tre@example.test", EXTERNAL, SENT_ORDINARY),
        ],
    );
    s.write(|tx| tx.create_transaction(&t))
        .expect("create_transaction");
    let got = s
        .transaction("ID-1")
        .expect("transaction")
        .expect("created");
    assert_eq!(got.sender, ALICE);
    assert_eq!(got.subject, "Oggetto");
    assert_eq!(got.msgid.as_deref(), Some("<ID-1@pec.test>"));
    assert_eq!((got.receipt_type.as_str(), got.created), ("completa", 100));
    let addresses: Vec<&str> = got.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addresses,
        vec!["uno@altro.test", "due@altro.test", "tre@example.test"],
        "in the order given"
    );
    assert_eq!(got.recipients[2].kind, EXTERNAL);
    assert_eq!(got.recipients[2].state, SENT_ORDINARY);

    // States are set as given, read back by `recipient_state` and in the transaction.
    let ok = s
        .write(|tx| tx.update_recipient("ID-1", "uno@altro.test", TAKEN_IN_CHARGE, None, 200))
        .expect("update_recipient");
    assert!(ok);
    let ok = s
        .write(|tx| tx.note_taken_in_charge("ID-1", "uno@altro.test", 200))
        .expect("note_taken_in_charge");
    assert!(ok);
    let r = state_of(s, "ID-1", "uno@altro.test");
    assert_eq!(
        (r.state, r.taken_in_charge, r.updated),
        (TAKEN_IN_CHARGE, true, 200)
    );
    let read = s
        .write(|tx| tx.recipient_state("ID-1", "UNO@altro.test"))
        .expect("recipient_state");
    assert_eq!(read, Some(TAKEN_IN_CHARGE));
    s.write(|tx| tx.update_recipient("ID-1", "uno@altro.test", DELIVERED, Some("consegnata"), 300))
        .expect("update_recipient");
    let r = state_of(s, "ID-1", "uno@altro.test");
    assert_eq!(
        (r.state, r.detail.as_deref()),
        (DELIVERED, Some("consegnata"))
    );
    // Noting a presa in carico changes only the flag and the time.
    s.write(|tx| tx.note_taken_in_charge("ID-1", "uno@altro.test", 400))
        .expect("note_taken_in_charge");
    let r = state_of(s, "ID-1", "uno@altro.test");
    assert_eq!(
        (r.state, r.taken_in_charge, r.updated),
        (DELIVERED, true, 400)
    );
    // Not our transaction, or not its recipient: nothing to change.
    let r = s.write(|tx| {
        Ok((
            tx.recipient_state("ID-9", "uno@altro.test")?,
            tx.note_taken_in_charge("ID-1", "nessuno@altro.test", 1)?,
            tx.update_recipient("ID-9", "uno@altro.test", DELIVERED, None, 1)?,
        ))
    });
    assert_eq!(r.expect("unknown"), (None, false, false));
    // The address matches without regard to case.
    s.write(|tx| tx.update_recipient("ID-1", "DUE@altro.test", FAILED, Some("no-dest"), 500))
        .expect("update_recipient");
    let r = state_of(s, "ID-1", "due@altro.test");
    assert_eq!(
        (r.state, r.detail.as_deref(), r.taken_in_charge),
        (FAILED, Some("no-dest"), false)
    );

    // Not ours: nothing changes.
    let theirs = s
        .write(|tx| tx.update_recipient("ID-X", "uno@altro.test", DELIVERED, None, 600))
        .expect("update_recipient");
    assert!(!theirs, "unknown transaction");
    let stranger = s
        .write(|tx| tx.update_recipient("ID-1", "quattro@altro.test", DELIVERED, None, 600))
        .expect("update_recipient");
    assert!(!stranger, "not a recipient of it");
    assert_eq!(
        s.transaction("ID-1")
            .expect("transaction")
            .expect("kept")
            .recipients
            .len(),
        3
    );
    assert_eq!(state_of(s, "ID-1", "uno@altro.test").updated, 400);

    // One identificativo, one transaction.
    let dup = s.write(|tx| tx.create_transaction(&transaction("ID-1", vec![])));
    assert!(
        dup.is_err(),
        "a second transaction with the same identificativo"
    );
    assert_eq!(
        s.transaction("ID-1")
            .expect("transaction")
            .expect("kept")
            .recipients
            .len(),
        3
    );
}

pub fn notices_and_pending_transactions(s: &dyn Store) {
    let awaiting = [ACCEPTED, TAKEN_IN_CHARGE];
    assert!(s
        .pending_transactions(&awaiting)
        .expect("pending_transactions")
        .is_empty());
    let waiting = transaction(
        "ID-W",
        vec![
            recipient("uno@altro.test", CERTIFIED, ACCEPTED),
            recipient("due@altro.test", CERTIFIED, ACCEPTED),
        ],
    );
    let ordinary = transaction(
        "ID-O",
        vec![recipient("x@example.test", EXTERNAL, SENT_ORDINARY)],
    );
    let done = transaction("ID-D", vec![recipient("y@altro.test", CERTIFIED, ACCEPTED)]);
    s.write(|tx| {
        tx.create_transaction(&waiting)?;
        tx.create_transaction(&ordinary)?;
        tx.create_transaction(&done)
    })
    .expect("create_transaction");
    s.write(|tx| {
        tx.update_recipient("ID-D", "y@altro.test", DELIVERED, None, 200)
            .map(|_| ())
    })
    .expect("update_recipient");
    assert_eq!(
        s.pending_transactions(&awaiting)
            .expect("pending_transactions"),
        strings(&["ID-W"]),
        "certified recipients still waiting for a delivery receipt"
    );
    s.write(|tx| {
        tx.update_recipient("ID-W", "uno@altro.test", TAKEN_IN_CHARGE, None, 200)
            .map(|_| ())
    })
    .expect("update_recipient");
    assert_eq!(
        s.pending_transactions(&awaiting)
            .expect("pending_transactions"),
        strings(&["ID-W"]),
        "taken in charge still waits"
    );
    assert_eq!(
        s.pending_transactions(&[DELIVERED])
            .expect("pending_transactions"),
        strings(&["ID-D"]),
        "only the states asked for"
    );

    s.write(|tx| tx.mark_notice("ID-W", "uno@altro.test", false))
        .expect("mark_notice 12h");
    let r = state_of(s, "ID-W", "uno@altro.test");
    assert_eq!((r.notice_12h, r.notice_24h), (true, false));
    assert_eq!(
        s.pending_transactions(&awaiting)
            .expect("pending_transactions"),
        strings(&["ID-W"])
    );
    s.write(|tx| {
        tx.mark_notice("ID-W", "uno@altro.test", true)?;
        tx.mark_notice("ID-W", "due@altro.test", true)
    })
    .expect("mark_notice 24h");
    let r = state_of(s, "ID-W", "due@altro.test");
    assert_eq!((r.notice_12h, r.notice_24h), (false, true));
    assert!(
        s.pending_transactions(&awaiting)
            .expect("pending_transactions")
            .is_empty(),
        "after the 24 h notice nothing more is due"
    );
}

/// RFC 6109 §3.2: a replayed envelope or receipt changes nothing (review H1).
pub fn incoming_claims_are_taken_once(s: &dyn Store) {
    let claim = |what: &str, id: &str, rcpt: &str| {
        s.write(|tx| tx.claim_incoming(what, id, rcpt, 100))
            .expect("claim_incoming")
    };
    assert!(claim(ENVELOPE, "ID-1", BOB), "first time");
    assert!(!claim(ENVELOPE, "ID-1", BOB), "a replay");
    assert!(claim(ENVELOPE, "ID-1", ALICE), "another recipient");
    assert!(claim(ENVELOPE, "ID-2", BOB), "another transaction");
    assert!(
        claim("ricevuta-consegna", "ID-1", BOB),
        "another kind of message"
    );
    assert!(!claim("ricevuta-consegna", "ID-1", BOB));
    // A claim inside a transaction that fails is not kept.
    let failed = s.write(|tx| {
        tx.claim_incoming(ENVELOPE, "ID-3", BOB, 100)?;
        Err::<(), _>(StoreError::Refused("fallita".into()))
    });
    assert!(is_refused(&failed), "{failed:?}");
    assert!(claim(ENVELOPE, "ID-3", BOB), "rolled back, so still free");
}

pub fn legal_log_chain_and_records(s: &dyn Store) {
    assert_eq!(s.log_verify(), Ok(0), "an empty log verifies");
    log_at(s, 10, "ID-1", &[]);
    log_at(s, 20, "ID-2", &[]);
    log_at(s, 30, "ricevuta-3", &strings(&["ID-1", "altro"]));
    assert_eq!(s.log_verify(), Ok(3));
    let all = s.log_records(None).expect("log_records");
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    let first = &all[0];
    assert_eq!((first.time, first.event.as_str()), (10, "accettazione"));
    assert_eq!(
        (first.sender.as_str(), first.recipients.as_str()),
        (ALICE, BOB)
    );
    assert_eq!(
        (first.subject.as_str(), first.provider.as_str()),
        ("oggetto", "Certa")
    );
    // By identificativo: its own records and those that name it as related.
    let about: Vec<String> = s
        .log_records(Some("ID-1"))
        .expect("log_records")
        .into_iter()
        .map(|e| e.msgid)
        .collect();
    assert_eq!(about, strings(&["ID-1", "ricevuta-3"]));
    assert!(all[2].related.contains("ID-1") && all[2].related.contains("altro"));
    assert!(s.log_records(Some("ID-9")).expect("log_records").is_empty());
    // The chain goes on with each append.
    log_at(s, 40, "ID-4", &[]);
    assert_eq!(s.log_verify(), Ok(4));
    assert_eq!(s.log_records(None).expect("log_records")[3].seq, 4);
}

pub fn legal_log_retention_keeps_the_chain(s: &dyn Store) {
    let month = 30 * 24 * 3600;
    log_at(s, 0, "old1", &[]);
    log_at(s, month, "old2", &[]);
    log_at(s, 20 * month, "young", &[]);
    let now = 32 * month;
    assert!(now - RETENTION_SECS > month && now - RETENTION_SECS < 20 * month);
    assert_eq!(
        s.purge_log(now).expect("purge_log"),
        2,
        "older than 30 months"
    );
    assert_eq!(s.purge_log(now).expect("purge_log"), 0, "once");
    let left: Vec<String> = s
        .log_records(None)
        .expect("log_records")
        .into_iter()
        .map(|e| e.msgid)
        .collect();
    assert_eq!(left, strings(&["young"]));
    assert_eq!(
        s.log_verify(),
        Ok(1),
        "the chain starts at the last dropped record"
    );
    log_at(s, now, "new", &[]);
    assert_eq!(s.log_verify(), Ok(2));
    assert_eq!(
        s.log_records(None).expect("log_records")[1].seq,
        4,
        "seq keeps counting"
    );
}

pub fn quarantine_and_its_retention(s: &dyn Store) {
    assert!(s.quarantined().expect("quarantined").is_empty());
    let blob = s
        .put_blob(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}")
        .expect("put_blob");
    let rcpts = strings(&[BOB]);
    let month = 30 * 24 * 3600;
    for (time, ident) in [(0, Some("ID-V")), (20 * month, None)] {
        s.write(|tx| {
            tx.quarantine(&Quarantine {
                time,
                blob: &blob,
                sender: ALICE,
                recipients: &rcpts,
                virus: "Eicar-Test-Signature",
                identificativo: ident,
            })
        })
        .expect("quarantine");
    }
    let q = s.quarantined().expect("quarantined");
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].time, q[0].sender.as_str()), (0, ALICE));
    assert_eq!(q[0].virus, "Eicar-Test-Signature");
    assert_eq!(q[0].identificativo.as_deref(), Some("ID-V"));
    assert_eq!(q[1].identificativo, None, "oldest first");
    // A quarantined message's bytes are kept while it is.
    assert_eq!(
        s.collect_blobs(1_000_000, 0, 100)
            .expect("collect_blobs")
            .freed,
        0
    );
    assert!(s.blob(&blob).is_ok());
    assert_eq!(s.purge_quarantine(32 * month).expect("purge_quarantine"), 1);
    assert_eq!(s.purge_quarantine(32 * month).expect("purge_quarantine"), 0);
    let q = s.quarantined().expect("quarantined");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].time, 20 * month);
}
