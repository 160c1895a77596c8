//! Copies from an old provider: one job per mailbox, started again to resume, claimed under a
//! lease; items written with the messages they copied, never removed by a deletion at the
//! source, re-keyed when the source's UIDVALIDITY changes.

use super::*;
use crate::{MigrationErrorKind, MigrationItem, MigrationState, NewMigrationJob};

fn new_job<'a>(mailbox_id: MailboxId, old_address: &'a str) -> NewMigrationJob<'a> {
    NewMigrationJob {
        mailbox_id,
        old_address,
        host: "imaps.old.test",
        port: 993,
        ca_pem: None,
        into_inbox: false,
        all_folders: false,
        switch_at: None,
        secret: b"cifrato",
    }
}

fn item(uidvalidity: i64, uid: i64, sha256: &str, dest_uid: i64) -> MigrationItem {
    MigrationItem {
        uidvalidity,
        uid,
        sha256: sha256.into(),
        size: 10,
        dest_uid,
        deleted_at_source: false,
    }
}

/// A job starts due and preparing; it is claimed once under its lease, ends its run with
/// the next one scheduled; a new start with the same old address resumes it (same id), with
/// another one is refused until the job has ended, then replaces it.
pub fn migration_jobs_start_claim_and_resume(s: &dyn Store) {
    let alice = mailbox(s, ALICE, LARGE_QUOTA);
    let id = s
        .migration_start(&new_job(alice, "mario@old.test"), 100)
        .expect("migration_start");
    let job = s
        .migration_job(alice)
        .expect("job")
        .expect("the job is there");
    assert_eq!(
        (job.state, job.next_run, job.address.as_str()),
        (MigrationState::Preparing, Some(100), ALICE)
    );
    assert_eq!(job.secret.as_deref(), Some(&b"cifrato"[..]));
    assert!(
        s.migration_claim(99, 60, 8).expect("claim").is_empty(),
        "not due yet"
    );
    let claimed = s.migration_claim(100, 60, 8).expect("claim");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert!(
        s.migration_claim(150, 60, 8).expect("claim").is_empty(),
        "leased until 160"
    );
    s.migration_set_state(
        id,
        MigrationState::Failed,
        Some((MigrationErrorKind::Tls, "x")),
        120,
    )
    .expect("set_state");
    s.migration_end_run(id, 100, (120, 20_000), None)
        .expect("end_run");
    let job = s.migration_job(alice).expect("job").expect("job");
    assert_eq!(
        (
            job.state,
            job.error_kind,
            job.state_since,
            job.runs,
            job.next_run
        ),
        (
            MigrationState::Failed,
            Some(MigrationErrorKind::Tls),
            120,
            1,
            None
        )
    );
    assert!(
        s.migration_claim(1_000, 60, 8).expect("claim").is_empty(),
        "nothing due"
    );

    let again = s
        .migration_start(&new_job(alice, "MARIO@old.test"), 200)
        .expect("resume");
    assert_eq!(again, id, "the same old address resumes the job");
    let job = s.migration_job(alice).expect("job").expect("job");
    assert_eq!(
        (job.state, job.error_kind, job.state_since),
        (MigrationState::Preparing, None, 200)
    );
    assert!(
        is_exists(&s.migration_start(&new_job(alice, "altro@old.test"), 300)),
        "another old address while this job is alive"
    );
    s.migration_set_state(id, MigrationState::Stopped, None, 300)
        .expect("stop");
    let replaced = s
        .migration_start(&new_job(alice, "altro@old.test"), 400)
        .expect("replace an ended job");
    assert_ne!(replaced, id);
    assert_eq!(s.migration_jobs().expect("jobs").len(), 1);
    s.migration_erase_secret(replaced).expect("erase");
    let job = s.migration_job(alice).expect("job").expect("job");
    assert_eq!(
        (job.old_address.as_str(), job.secret),
        ("altro@old.test", None)
    );
}

/// Items commit with the messages of their transaction, or not at all; counts follow them;
/// a deletion at the source marks, a UIDVALIDITY change re-keys, and a second item with the
/// same key is refused.
pub fn migration_items_commit_with_their_messages(s: &dyn Store) {
    let alice = mailbox(s, ALICE, LARGE_QUOTA);
    let id = s
        .migration_start(&new_job(alice, "mario@old.test"), 100)
        .expect("migration_start");
    let f = s
        .migration_folder(id, b"INBOX", "mario@old.test")
        .expect("migration_folder");
    assert_eq!(
        s.migration_folder(id, b"INBOX", "ignored").expect("again"),
        f,
        "the same source gives the same folder"
    );
    let blob = s.put_blob(b"Subject: uno\r\n\r\nx").expect("put_blob");
    let meta = MessageMeta::default();
    let m = NewMessage {
        blob: &blob,
        size: 10,
        meta: &meta,
    };
    let failed: crate::Result<()> = s.write(|tx| {
        let uid = tx.append(ALICE, INBOX, &m, 100)?;
        tx.migration_record(f.id, &[item(7, 1, "aa", uid)])?;
        Err(StoreError::Refused("abbandonata".into()))
    });
    assert!(failed.is_err());
    assert!(
        s.migration_items(f.id).expect("items").is_empty(),
        "rolled back"
    );
    s.write(|tx| {
        let one = tx.append(ALICE, INBOX, &m, 100)?;
        let two = tx.append(ALICE, INBOX, &m, 100)?;
        tx.migration_record(f.id, &[item(7, 1, "aa", one), item(7, 2, "bb", two)])
    })
    .expect("copy");
    let job = s.migration_job(alice).expect("job").expect("job");
    assert_eq!((job.copied_messages, job.copied_bytes), (2, 20));
    assert!(
        is_exists(&s.write(|tx| tx.migration_record(f.id, &[item(7, 1, "cc", 9)]))),
        "one item per source key"
    );

    s.migration_mark_deleted(f.id, &[(7, 2)])
        .expect("mark_deleted");
    let items = s.migration_items(f.id).expect("items");
    assert_eq!(
        items
            .iter()
            .map(|i| i.deleted_at_source)
            .collect::<Vec<_>>(),
        vec![false, true]
    );
    assert_eq!(
        s.migration_job(alice)
            .expect("job")
            .expect("job")
            .deleted_at_source,
        1
    );

    s.migration_rekey(f.id, &[((7, 1), (8, 40)), ((7, 2), (8, 41))])
        .expect("rekey");
    let keys: Vec<(i64, i64, bool)> = s
        .migration_items(f.id)
        .expect("items")
        .iter()
        .map(|i| (i.uidvalidity, i.uid, i.deleted_at_source))
        .collect();
    assert_eq!(keys, vec![(8, 40, false), (8, 41, false)]);
    s.migration_set_uidvalidity(f.id, 8).expect("uidvalidity");
    assert_eq!(s.migration_folders(id).expect("folders")[0].uidvalidity, 8);

    // Reports: the last run's is read back byte for byte.
    assert_eq!(s.migration_report(id).expect("report"), None);
    let report = |run: i64| crate::MigrationReport {
        run,
        finished: 100 + run,
        json: format!("{{\"run\":{run}}}").into_bytes(),
        signature: vec![0x30, run as u8],
    };
    s.write(|tx| tx.migration_report(id, &report(1)))
        .expect("report 1");
    s.write(|tx| tx.migration_report(id, &report(2)))
        .expect("report 2");
    assert_eq!(s.migration_report(id).expect("report"), Some(report(2)));
}

/// A copy keeps the old provider's UIDs: a folder that never held a message takes the old
/// UIDVALIDITY (one no folder of the mailbox could have had), messages take their old UIDs
/// (never below UIDNEXT); once a UID was given out, a lower one is refused and nothing is
/// written.
pub fn kept_uids_and_uidvalidity(s: &dyn Store) {
    mailbox(s, BOB, LARGE_QUOTA);
    let new_box = NewMailbox {
        address: ALICE,
        password_hash: "hash",
        quota: LARGE_QUOTA,
        recovery_email: None,
        must_change_password: false,
    };
    let alice = s.add_mailbox(&new_box, 100_000).expect("add_mailbox");
    s.create_folder(alice, "vecchia", 200_000)
        .expect("create_folder");
    let before = folder(s, alice, "vecchia");
    assert!(before.uidvalidity >= 200_000);
    let blob = s.put_blob(b"Subject: x\r\n\r\nx").expect("put_blob");
    let meta = MessageMeta::default();
    let m = NewMessage {
        blob: &blob,
        size: 10,
        meta: &meta,
    };
    assert!(
        !s.write(|tx| tx.adopt_uidvalidity(ALICE, "vecchia", before.uidvalidity))
            .expect("adopt"),
        "a value given out already"
    );
    assert!(s
        .write(|tx| tx.adopt_uidvalidity(ALICE, "vecchia", 0))
        .is_ok_and(|a| !a));
    assert!(
        !s.write(|tx| tx.adopt_uidvalidity(ALICE, "vecchia", 150_000))
            .expect("adopt"),
        "a value the mailbox may have given out"
    );
    assert!(s
        .write(|tx| tx.adopt_uidvalidity(BOB, INBOX, 900_000))
        .expect("adopt above every value given out"));
    assert!(s
        .write(|tx| tx.adopt_uidvalidity(ALICE, "vecchia", 1_234))
        .expect("adopt below the mailbox's creation"));
    let uids = s
        .write(|tx| {
            Ok((
                tx.append_at(ALICE, "vecchia", 7, &m, 10)?,
                tx.append_at(ALICE, "vecchia", 9, &m, 10)?,
            ))
        })
        .expect("append_at");
    assert_eq!(uids, (7, 9));
    let f = folder(s, alice, "vecchia");
    assert_eq!((f.uidvalidity, f.uidnext, f.messages), (1_234, 10, 2));
    assert!(is_refused(
        &s.write(|tx| tx.append_at(ALICE, "vecchia", 9, &m, 10))
    ));
    assert_eq!(folder(s, alice, "vecchia").messages, 2, "nothing written");
    assert_eq!(
        s.write(|tx| tx.append(ALICE, "vecchia", &m, 10))
            .expect("append"),
        10
    );
    assert!(
        !s.write(|tx| tx.adopt_uidvalidity(ALICE, "vecchia", 1_000))
            .expect("adopt"),
        "a folder with messages keeps its UIDVALIDITY"
    );
    // POP3 unique ids kept from the old provider: one per message, unique in the folder,
    // gone with the message.
    let set = s
        .write(|tx| {
            tx.set_pop3_uidls(
                f.id,
                &[
                    (7, "0000000a5f000001".into()),
                    (9, "0000000b5f000001".into()),
                    (10, "0000000a5f000001".into()),
                    (99, "nessuno".into()),
                ],
            )
        })
        .expect("set_pop3_uidls");
    assert_eq!(set, 2);
    assert_eq!(
        s.pop3_uidls(f.id).expect("pop3_uidls"),
        vec![
            (7, "0000000a5f000001".to_string()),
            (9, "0000000b5f000001".to_string())
        ]
    );
    s.expunge(f.id, &[7]).expect("expunge");
    assert_eq!(
        s.pop3_uidls(f.id).expect("pop3_uidls"),
        vec![(9, "0000000b5f000001".to_string())]
    );
    // A folder created after keeps above every value given out.
    s.create_folder(alice, "nuova", 6_000)
        .expect("create_folder");
    assert_eq!(folder(s, alice, "vecchia").uidvalidity, 1_234);
    assert!(folder(s, alice, "nuova").uidvalidity > before.uidvalidity);
}

/// A domain taken over from another provider is in migration until its switch-over, due at
/// its time; the switch makes it active and gives every copy into its boxes that has not
/// ended its last run, now — once.
pub fn a_domain_in_migration_switches_once(s: &dyn Store) {
    s.add_domain("attivo.test", 10).expect("add_domain");
    let new = crate::NewDomain {
        name: "Pec.Vecchio.test",
        migrating: true,
        switch_at: Some(1_000),
        old_provider: Some("Vecchio Gestore"),
        old_server: Some("imaps.vecchio.test:993"),
        old_ca_pem: Some("CA"),
        old_pop3: Some("pop3s.vecchio.test:995"),
    };
    s.add_domain_with(&new, 20).expect("add_domain_with");
    assert!(is_exists(&s.add_domain("pec.vecchio.test", 30)));
    let list = s.domain_list().expect("domain_list");
    let names: Vec<(&str, crate::DomainState)> =
        list.iter().map(|d| (d.name.as_str(), d.state)).collect();
    assert_eq!(
        names,
        vec![
            ("attivo.test", crate::DomainState::Active),
            ("pec.vecchio.test", crate::DomainState::Migrating)
        ]
    );
    assert_eq!(list[1].old_provider.as_deref(), Some("Vecchio Gestore"));
    assert_eq!(
        (list[1].old_ca_pem.as_deref(), list[1].old_pop3.as_deref()),
        (Some("CA"), Some("pop3s.vecchio.test:995"))
    );
    assert_eq!(
        list[1].decertification,
        crate::Decertification::NotRequested
    );
    s.set_decertification(
        "pec.vecchio.test",
        crate::Decertification::Requested,
        Some("PEC del 2/12"),
    )
    .expect("set_decertification");
    assert!(is_not_found(&s.set_decertification(
        "nessuno.test",
        crate::Decertification::Confirmed,
        None
    )));
    let d = s
        .domain("pec.vecchio.test")
        .expect("domain")
        .expect("domain");
    assert_eq!(
        (d.decertification, d.decertification_note.as_deref()),
        (crate::Decertification::Requested, Some("PEC del 2/12"))
    );
    // Until its switch-over the domain is the old provider's: not local, not in our entry.
    assert!(!s
        .is_local_domain("pec.vecchio.test")
        .expect("is_local_domain"));
    assert!(!s
        .write(|tx| tx.is_local_domain("pec.vecchio.test"))
        .expect("tx"));
    assert_eq!(
        s.domains().expect("domains"),
        vec!["attivo.test".to_string()]
    );
    assert_eq!(
        s.domain("PEC.vecchio.test")
            .expect("domain")
            .map(|d| d.state),
        Some(crate::DomainState::Migrating)
    );
    assert_eq!(s.domain("nessuno.test").expect("domain"), None);
    let version = s.index_version().expect("index_version");
    assert!(s.domains_due_to_switch(999).expect("due").is_empty());
    assert_eq!(
        s.domains_due_to_switch(1_000).expect("due"),
        vec!["pec.vecchio.test".to_string()]
    );

    // Two boxes of the domain with copies (one stopped), one box elsewhere with a copy.
    let m = |address: &'static str| {
        let b = NewMailbox {
            address,
            password_hash: "hash",
            quota: LARGE_QUOTA,
            recovery_email: None,
            must_change_password: false,
        };
        s.add_mailbox(&b, 40).expect("add_mailbox")
    };
    let job = |mailbox_id| crate::NewMigrationJob {
        mailbox_id,
        old_address: "x@pec.vecchio.test",
        host: "imaps.vecchio.test",
        port: 993,
        ca_pem: None,
        into_inbox: false,
        all_folders: false,
        switch_at: Some(1_000),
        secret: b"s",
    };
    let (a, b, c) = (
        m("a@pec.vecchio.test"),
        m("b@PEC.vecchio.test"),
        m("c@attivo.test"),
    );
    for id in [a, b, c] {
        s.migration_start(&job(id), 50).expect("start");
        let claimed = s.migration_claim(50, 60, 8).expect("claim");
        for j in claimed {
            s.migration_end_run(j.id, 50, (51, 1), None)
                .expect("end_run");
        }
    }
    let stopped = s.migration_job(b).expect("job").expect("job").id;
    s.migration_set_state(stopped, MigrationState::Stopped, None, 60)
        .expect("stop");

    // Passwords for after the switch: a's waits for it; b's is superseded by a new one;
    // c is of another domain.
    s.set_pending_password("a@pec.vecchio.test", "dopo-a")
        .expect("pending a");
    s.set_pending_password("b@pec.vecchio.test", "dopo-b")
        .expect("pending b");
    s.set_password("b@pec.vecchio.test", "cambiata-b", false)
        .expect("set_password");
    s.set_pending_password("c@attivo.test", "dopo-c")
        .expect("pending c");
    assert!(is_not_found(
        &s.set_pending_password("z@pec.vecchio.test", "x")
    ));
    let hash = |a: &str| {
        s.mailbox(a)
            .expect("mailbox")
            .unwrap_or_else(|| panic!("{a}"))
            .password_hash
    };
    assert_eq!(hash("a@pec.vecchio.test"), "hash", "not before the switch");

    assert!(is_refused(
        &s.write(|tx| tx.switch_domain("attivo.test", 900))
    ));
    assert!(is_not_found(
        &s.write(|tx| tx.switch_domain("nessuno.test", 900))
    ));
    assert_eq!(
        s.write(|tx| tx.switch_domain("pec.vecchio.test", 900))
            .expect("switch"),
        1,
        "the live copy of the domain, not the stopped one nor the other domain's"
    );
    let d = &s.domain_list().expect("list")[1];
    assert_eq!(
        (d.state, d.switched_at),
        (crate::DomainState::Active, Some(900))
    );
    assert!(s
        .is_local_domain("pec.vecchio.test")
        .expect("is_local_domain"));
    assert_eq!(s.domains().expect("domains").len(), 2);
    assert_eq!(
        (
            hash("a@pec.vecchio.test"),
            hash("b@pec.vecchio.test"),
            hash("c@attivo.test")
        ),
        ("dopo-a".into(), "cambiata-b".into(), "hash".into()),
        "the switch applies its domain's waiting passwords"
    );
    assert_ne!(
        s.index_version().expect("index_version"),
        version,
        "the index is read again: our entry lists the domain now"
    );
    let ja = s.migration_job(a).expect("job").expect("job");
    assert_eq!((ja.next_run, ja.switch_at), (Some(900), Some(900)));
    assert_eq!(
        s.migration_job(b).expect("job").expect("job").next_run,
        None
    );
    assert_eq!(
        s.migration_job(c).expect("job").expect("job").next_run,
        None
    );
    assert!(
        is_refused(&s.write(|tx| tx.switch_domain("pec.vecchio.test", 901))),
        "once"
    );
    assert!(s.domains_due_to_switch(2_000).expect("due").is_empty());
}
