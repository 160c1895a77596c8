//! The mailbox service against a real provider (SQLite and blob files in a temporary
//! directory): the rules each protocol relies on, and the rights checked inside each
//! operation whatever protocol calls it.

use services::mailbox::{self, Access, Deleted, FlagOp, MailboxError, TextField, INBOX, TRASH};
use services::principal::{Denied, Permission, Principal, Rights};
use services::testing::{Options, TestProvider, USER};

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: mittente@example.test\r\nTo: {USER}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn holder(t: &TestProvider) -> Principal {
    let m = t.provider.store.mailbox(USER).unwrap().unwrap();
    Principal::holder(&m)
}

/// Runs one step as `who`, the way every protocol does.
async fn run<T: Send + 'static>(
    t: &TestProvider,
    who: &Principal,
    f: impl FnOnce(&Access) -> Result<T, MailboxError> + Send + 'static,
) -> Result<T, MailboxError> {
    mailbox::run(&t.provider, who, f).await
}

#[tokio::test]
async fn a_reader_reads_everything_and_changes_nothing() {
    let t = TestProvider::new(Options::default());
    let first = t.append(USER, INBOX, &message("uno", "primo messaggio"));
    t.append(USER, INBOX, &message("due", "secondo messaggio"));
    let holder = holder(&t);
    let reader = Principal {
        rights: Rights::of(&[Permission::Read]),
        ..holder.clone()
    };

    // The holder changes flags; the reader sees the change and the bytes.
    let inbox = run(&t, &holder, |m| m.existing_folder(INBOX))
        .await
        .unwrap();
    let id = inbox.id;
    let changed = run(&t, &holder, move |m| {
        m.store_flags(id, &[first], FlagOp::Add, &["\\Flagged".into()], None)
    })
    .await
    .unwrap();
    assert_eq!(changed.changed.len(), 1);
    let seen = run(&t, &reader, move |m| {
        Ok((m.messages(id)?, m.content(id, first)?, m.folders()?))
    })
    .await
    .unwrap();
    assert_eq!(seen.0.len(), 2);
    assert!(seen.0[0].flags.contains("\\Flagged"));
    assert!(seen.1.data.starts_with(b"From: mittente@example.test"));
    assert!(seen.2.iter().any(|f| f.name == TRASH));

    // Every change is refused to the reader, naming the missing right...
    let refusals = run(&t, &reader, move |m| {
        let trash = m.existing_folder(TRASH)?.id;
        Ok(vec![
            m.store_flags(id, &[first], FlagOp::Add, &["\\Seen".into()], None)
                .err(),
            m.expunge(id, &[first]).err(),
            m.copy(id, &[first], trash, false).err(),
            m.delete(id, &[first]).err(),
            m.empty_trash().err(),
            m.create_folder("Progetti").err(),
            m.rename_folder(INBOX, "Vecchia").err(),
            m.claim_recent(id).err(),
            m.set_setting("layout", "columns").err(),
        ])
    })
    .await
    .unwrap();
    for (i, r) in refusals.into_iter().enumerate() {
        let want = if i == 8 {
            Permission::Settings
        } else {
            Permission::Modify
        };
        assert!(
            matches!(r, Some(MailboxError::Denied(Denied(p))) if p == want),
            "operation {i}: {r:?}"
        );
    }
    // ...and nothing changed.
    let after = run(&t, &holder, move |m| Ok((m.messages(id)?, m.folders()?)))
        .await
        .unwrap();
    assert_eq!(after.0, seen.0);
    assert_eq!(after.1.len(), seen.2.len());
    assert_eq!(
        run(&t, &holder, |m| m.setting("layout")).await.unwrap(),
        None
    );

    // Without Read, not even the list.
    let nobody = Principal {
        rights: Rights::of(&[]),
        ..holder
    };
    assert!(matches!(
        run(&t, &nobody, |m| m.folders()).await,
        Err(MailboxError::Denied(Denied(Permission::Read)))
    ));
}

#[tokio::test]
async fn delete_goes_to_the_trash_then_for_good() {
    let t = TestProvider::new(Options::default());
    let uid = t.append(USER, INBOX, &message("cestino", "da eliminare"));
    let who = holder(&t);
    let (inbox, trash) = run(&t, &who, |m| {
        Ok((m.existing_folder(INBOX)?.id, m.existing_folder(TRASH)?.id))
    })
    .await
    .unwrap();

    assert_eq!(
        run(&t, &who, move |m| m.delete(inbox, &[uid]))
            .await
            .unwrap(),
        Deleted::ToTrash
    );
    let (left, binned) = run(&t, &who, move |m| {
        Ok((m.messages(inbox)?, m.messages(trash)?))
    })
    .await
    .unwrap();
    assert!(left.is_empty());
    assert_eq!(binned.len(), 1);

    let in_trash = binned[0].uid;
    assert_eq!(
        run(&t, &who, move |m| m.delete(trash, &[in_trash]))
            .await
            .unwrap(),
        Deleted::Purged
    );
    assert!(run(&t, &who, move |m| m.messages(trash))
        .await
        .unwrap()
        .is_empty());

    // Emptying the Trash removes whatever is there.
    let again = t.append(USER, INBOX, &message("altro", "di nuovo"));
    run(&t, &who, move |m| m.delete(inbox, &[again]))
        .await
        .unwrap();
    run(&t, &who, |m| m.empty_trash()).await.unwrap();
    assert!(run(&t, &who, move |m| m.messages(trash))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_full_mailbox_refuses_appends_and_copies_and_keeps_what_it_has() {
    let t = TestProvider::new(Options::default());
    let uid = t.append(USER, INBOX, &message("piccolo", "poche parole"));
    let who = holder(&t);
    let inbox = run(&t, &who, |m| m.existing_folder(INBOX))
        .await
        .unwrap()
        .id;
    // Room for a copy: it works.
    let copied = run(&t, &who, move |m| {
        let to = m.existing_folder(TRASH)?.id;
        m.copy(inbox, &[uid], to, false)
    })
    .await
    .unwrap();
    assert_eq!(copied.len(), 1);

    let (used, _) = run(&t, &who, |m| m.quota()).await.unwrap();
    t.provider.store.set_quota(USER, used).unwrap();
    let big = services::delivery::Ingest {
        folder: INBOX.into(),
        bytes: message("grande", &"x".repeat(10_000)),
        flags: String::new(),
        internal_date: None,
        uid: None,
    };
    assert!(matches!(
        run(&t, &who, move |m| m.append(big)).await,
        Err(MailboxError::OverQuota)
    ));
    assert!(matches!(
        run(&t, &who, move |m| {
            let to = m.existing_folder(TRASH)?.id;
            m.copy(inbox, &[uid], to, false)
        })
        .await,
        Err(MailboxError::OverQuota)
    ));
    let (after, _) = run(&t, &who, |m| m.quota()).await.unwrap();
    assert_eq!(after, used);
    assert_eq!(
        run(&t, &who, move |m| m.messages(inbox))
            .await
            .unwrap()
            .len(),
        1,
        "the refused copy left the inbox as it was"
    );
    // A move takes no more space: it still works in a full mailbox.
    let moved = run(&t, &who, move |m| {
        let to = m.existing_folder(TRASH)?.id;
        m.copy(inbox, &[uid], to, true)
    })
    .await
    .unwrap();
    assert_eq!(moved.len(), 1);
    let (after_move, _) = run(&t, &who, |m| m.quota()).await.unwrap();
    assert_eq!(after_move, used);
    assert!(run(&t, &who, move |m| m.messages(inbox))
        .await
        .unwrap()
        .is_empty());
}

/// The special-use folders every mailbox has keep their names and stay (the rule is the
/// service's alone: the store would rename or delete them).
#[tokio::test]
async fn special_folders_keep_their_names_and_stay() {
    let t = TestProvider::new(Options::default());
    let who = holder(&t);
    // Happy path: an ordinary folder is renamed, then deleted.
    run(&t, &who, |m| {
        m.create_folder("Pratiche")?;
        m.rename_folder("Pratiche", "Archivio")?;
        m.delete_folder("Archivio")
    })
    .await
    .unwrap();
    for name in ["Posta inviata", "Bozze", "Cestino", "Posta indesiderata"] {
        let renamed = run(&t, &who, move |m| m.rename_folder(name, "Altro")).await;
        assert!(
            matches!(&renamed, Err(MailboxError::Special(n)) if n == name),
            "{name}: {renamed:?}"
        );
        let deleted = run(&t, &who, move |m| m.delete_folder(name)).await;
        assert!(
            matches!(&deleted, Err(MailboxError::Special(n)) if n == name),
            "{name}: {deleted:?}"
        );
    }
    let deleted = run(&t, &who, |m| m.delete_folder("INBOX")).await;
    assert!(
        matches!(deleted, Err(MailboxError::Special(_))),
        "{deleted:?}"
    );
    // Nothing changed: every special folder is there, nothing else is.
    let names: Vec<String> = run(&t, &who, |m| m.folders())
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        [
            "INBOX",
            "Bozze",
            "Cestino",
            "Posta indesiderata",
            "Posta inviata"
        ]
    );
}

#[tokio::test]
async fn text_search_reads_what_the_index_cannot_answer() {
    let t = TestProvider::new(Options::default());
    t.append(USER, INBOX, &message("fattura", "importo dovuto: 42 euro"));
    t.append(USER, INBOX, &message("saluti", "a presto"));
    let who = holder(&t);
    let folders = run(&t, &who, |m| m.folders()).await.unwrap();
    let inbox: Vec<_> = folders.into_iter().filter(|f| f.name == INBOX).collect();

    // Three characters or more: the index answers.
    let by_index = {
        let inbox = inbox.clone();
        run(&t, &who, move |m| {
            m.find_text(&inbox, "euro", TextField::Body)
        })
        .await
        .unwrap()
    };
    assert_eq!(by_index.len(), 1);
    // Two: too short for the index, the messages are read, with the same answer.
    let by_reading = {
        let inbox = inbox.clone();
        run(&t, &who, move |m| {
            m.find_text(&inbox, "42", TextField::Body)
        })
        .await
        .unwrap()
    };
    assert_eq!(by_reading.len(), 1);
    assert_eq!(by_reading[0].uid, by_index[0].uid);
    // An empty needle is every message; a needle nowhere, none.
    let all = {
        let inbox = inbox.clone();
        run(&t, &who, move |m| {
            m.find_text(&inbox, "", TextField::Anywhere)
        })
        .await
        .unwrap()
    };
    assert_eq!(all.len(), 2);
    assert!(run(&t, &who, move |m| m.find_text(
        &inbox,
        "zz",
        TextField::Body
    ))
    .await
    .unwrap()
    .is_empty());
}

/// Messages are stored without their text in the index; the background indexer adds it
/// later. Searches give the same answers while it is behind (they read the messages
/// themselves) and once it has caught up (the index answers).
#[tokio::test]
async fn search_answers_are_the_same_with_the_indexer_behind_and_caught_up() {
    let t = TestProvider::new(Options::default());
    let who = holder(&t);
    let bodies = [
        ("fattura", "importo dovuto: 42 euro"),
        ("saluti", "a presto, con una fattura allegata"),
        ("verbale", "riunione del consiglio"),
        ("ricevuta", "euro ricevuti"),
        ("avviso", "nessuna parola cercata"),
    ];
    for (subject, body) in bodies {
        let m = services::delivery::Ingest {
            folder: INBOX.into(),
            bytes: message(subject, body),
            flags: String::new(),
            internal_date: None,
            uid: None,
        };
        run(&t, &who, move |a| a.append(m)).await.unwrap();
    }
    let questions = [
        ("fattura", TextField::Body),
        ("euro", TextField::Body),
        ("saluti", TextField::Subject),
        ("mittente@example", TextField::From),
        ("fattura", TextField::Anywhere),
        ("nulla di simile", TextField::Anywhere),
    ];
    let answers = |t: &TestProvider| {
        let (p, who) = (t.provider.clone(), who.clone());
        async move {
            mailbox::run(&p, &who, move |m| {
                let inbox: Vec<_> = m
                    .folders()?
                    .into_iter()
                    .filter(|f| f.name == INBOX)
                    .collect();
                let mut out = vec![];
                for (needle, field) in questions {
                    let mut uids: Vec<i64> = m
                        .find_text(&inbox, needle, field)?
                        .into_iter()
                        .map(|f| f.uid)
                        .collect();
                    uids.sort();
                    out.push(uids);
                }
                let hits = m.text_search("fattura", TextField::Body)?;
                Ok::<_, MailboxError>((out, hits))
            })
            .await
            .unwrap()
        }
    };

    // Behind: nothing is indexed, every message is read.
    let (behind, hits) = answers(&t).await;
    let hits = hits.expect("long enough for the index");
    assert!(hits.found.is_empty());
    assert_eq!(hits.unindexed.len(), 5);
    assert_eq!(
        behind,
        vec![
            vec![2],
            vec![1, 4],
            vec![2],
            vec![1, 2, 3, 4, 5],
            vec![1, 2],
            vec![]
        ]
    );

    // Caught up (two at a time, so the batches loop): the index answers, the same.
    let indexed = services::delivery::index_stored_text(&t.provider, 2).unwrap();
    assert_eq!(indexed, 5);
    let (caught_up, hits) = answers(&t).await;
    let hits = hits.expect("long enough for the index");
    assert!(hits.unindexed.is_empty());
    assert_eq!(hits.found.len(), 1);
    assert_eq!(caught_up, behind);
    assert_eq!(
        services::delivery::index_stored_text(&t.provider, 2).unwrap(),
        0
    );
}

/// The forecast beside the quota bar (issue 18 item 5): shown from half full up, at the
/// pace of the last 28 days, the growth measured at most once a day.
#[tokio::test]
async fn the_quota_bar_forecasts_when_the_box_will_be_full() {
    let t = TestProvider::new(Options::default());
    let holder = holder(&t);
    // 40 KB in a 100 KB box: below half, no forecast.
    t.provider.store.set_quota(USER, 100 * 1024).unwrap();
    let body = "x".repeat(10 * 1024);
    for i in 0..4 {
        t.append(USER, INBOX, &message(&format!("m{i}"), &body));
    }
    let f = run(&t, &holder, |m| m.quota_forecast(m.quota()?))
        .await
        .unwrap();
    assert_eq!(f, None, "below half");
    // 60 KB, all received today: about 40 KB left at 60 KB / 28 days → 19 days.
    t.append(USER, INBOX, &message("m4", &body));
    t.append(USER, INBOX, &message("m5", &body));
    let f = run(&t, &holder, |m| m.quota_forecast(m.quota()?))
        .await
        .unwrap();
    let (used, quota) = run(&t, &holder, |m| m.quota()).await.unwrap();
    let expected = services::quota::days_to_full(used, quota, used);
    assert!(
        expected.is_some_and(|d| (15..=25).contains(&d)),
        "{expected:?}"
    );
    assert_eq!(f, expected);
    // The growth is kept for the day: another message moves the used space (and the
    // forecast) but not the measured pace.
    t.append(USER, INBOX, &message("m6", &body));
    let (used2, _) = run(&t, &holder, |m| m.quota()).await.unwrap();
    let f2 = run(&t, &holder, |m| m.quota_forecast(m.quota()?))
        .await
        .unwrap();
    assert_eq!(f2, services::quota::days_to_full(used2, quota, used));
}

/// The 70 % warning comes whatever made the box grow: here an IMAP APPEND (or a draft), not
/// a delivery — once, in the box.
#[tokio::test]
async fn an_append_that_fills_the_box_warns_once() {
    let t = TestProvider::new(Options::default());
    let holder = holder(&t);
    t.provider.store.set_quota(USER, 100 * 1024).unwrap();
    let warnings = || {
        t.provider
            .store
            .folder_messages(USER, INBOX)
            .unwrap()
            .iter()
            .filter(|m| m.subject.starts_with("Avviso: spazio della casella"))
            .count()
    };
    let append = |subject: &str| services::delivery::Ingest {
        folder: "Bozze".into(),
        bytes: message(subject, &"x".repeat(15 * 1024)),
        flags: String::new(),
        internal_date: None,
        uid: None,
    };
    for (i, expected) in [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1)] {
        let m = append(&format!("bozza {i}"));
        run(&t, &holder, move |a| a.append(m)).await.unwrap();
        assert_eq!(
            warnings(),
            expected,
            "after {i} appends of 15 KB into 100 KB"
        );
    }
}
