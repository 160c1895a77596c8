//! The daily reports' reads, their once-per-day claims and the SMS outbox (issue 18).

use super::*;
use crate::{NewSms, PecTransaction, RecipientState, SmsState};
use ::pec::{MessageKind, ReceiptType};

fn arrived(s: &dyn Store, address: &str, folder: &str, kind: Option<MessageKind>, at: Unix) {
    let meta = MessageMeta {
        pec_kind: kind,
        internal_date: Some(at),
        ..MessageMeta::default()
    };
    append_meta(
        s,
        address,
        folder,
        format!("{at}{kind:?}").as_bytes(),
        &meta,
    );
}

pub fn daily_reports_and_the_sms_outbox(s: &dyn Store) {
    let alice = mailbox(s, ALICE, LARGE_QUOTA);
    let bob = mailbox(s, BOB, LARGE_QUOTA);

    // Boxes that asked for a report, by setting.
    s.set_setting(alice, "report-email", "a").expect("set");
    s.set_setting(bob, "report-sms", "b").expect("set");
    assert_eq!(
        s.settings_named("report-email").expect("settings_named"),
        vec![(alice, ALICE.to_string(), "a".to_string())]
    );
    assert!(s.settings_named("nothing").expect("none").is_empty());

    // Arrivals since a time, by kind, over every folder; older ones not counted.
    arrived(s, ALICE, INBOX, Some(MessageKind::TransportEnvelope), 1_000);
    arrived(
        s,
        ALICE,
        "Cestino",
        Some(MessageKind::TransportEnvelope),
        1_001,
    );
    s.create_folder(alice, "Pratiche", 0)
        .expect("create_folder");
    arrived(
        s,
        ALICE,
        "Pratiche",
        Some(MessageKind::Delivery(ReceiptType::Breve)),
        1_002,
    );
    arrived(s, ALICE, INBOX, None, 1_003);
    arrived(s, ALICE, INBOX, Some(MessageKind::TransportEnvelope), 10);
    arrived(s, BOB, INBOX, Some(MessageKind::TransportEnvelope), 1_000);
    let mut got = s.arrivals_since(alice, 1_000).expect("arrivals_since");
    got.sort();
    assert_eq!(
        got,
        vec![
            (None, 1),
            (Some("avvenuta-consegna-breve".to_string()), 1),
            (Some("busta-trasporto".to_string()), 2),
        ]
    );
    assert!(s.arrivals_since(alice, 2_000).expect("later").is_empty());

    // PEC sent still waiting for a delivery receipt: certified recipients accepted or
    // taken in charge; delivered and ordinary ones are not waiting.
    let recipient = |address: &str, kind, state| RecipientState {
        address: address.to_string(),
        kind,
        state,
        detail: None,
        updated: 100,
        taken_in_charge: false,
        notice_12h: false,
        notice_24h: false,
    };
    let t = PecTransaction {
        identificativo: "ID-R".to_string(),
        sender: ALICE.to_string(),
        subject: "Ricorso".to_string(),
        msgid: None,
        receipt_type: ReceiptType::Completa,
        created: 500,
        recipients: vec![
            recipient("uno@altro.test", CERTIFIED, ACCEPTED),
            recipient("due@altro.test", CERTIFIED, DELIVERED),
            recipient("tre@altro.test", CERTIFIED, TAKEN_IN_CHARGE),
            recipient("quattro@example.test", EXTERNAL, SENT_ORDINARY),
        ],
        sent_by: None,
    };
    s.write(|tx| tx.create_transaction(&t))
        .expect("create_transaction");
    let waiting: Vec<String> = s
        .awaiting_delivery(&ALICE.to_uppercase(), 10)
        .expect("awaiting_delivery")
        .into_iter()
        .map(|a| a.recipient)
        .collect();
    assert_eq!(waiting, strings(&["tre@altro.test", "uno@altro.test"]));
    assert_eq!(s.awaiting_delivery(ALICE, 1).expect("limit").len(), 1);
    assert!(s.awaiting_delivery(BOB, 10).expect("bob").is_empty());

    // A report day is claimed once, per box and kind; a failed transaction claims nothing.
    let claim = |m, kind: &str, day: &str| {
        s.write(|tx| tx.claim_daily_report(m, kind, day, 1_000))
            .expect("claim")
    };
    assert!(claim(alice, "email", "2026-12-03"));
    assert!(!claim(alice, "email", "2026-12-03"), "the same day again");
    assert!(claim(alice, "sms", "2026-12-03"), "another kind");
    assert!(claim(bob, "email", "2026-12-03"), "another box");
    assert!(claim(alice, "email", "2026-12-04"), "the next day");
    let failed: crate::Result<()> = s.write(|tx| {
        assert!(tx.claim_daily_report(alice, "email", "2026-12-05", 1_000)?);
        Err(StoreError::Refused("rolled back".into()))
    });
    assert!(is_refused(&failed));
    assert!(
        claim(alice, "email", "2026-12-05"),
        "the failed claim kept nothing"
    );
    let mut done = s
        .daily_reports_done("email", "2026-12-03")
        .expect("daily_reports_done");
    done.sort();
    assert_eq!(done, vec![alice, bob]);
    assert_eq!(
        s.daily_reports_done("sms", "2026-12-03").expect("sms"),
        vec![alice]
    );

    // The outbox: queued due now, claimed once per lease, sent or retried or given up.
    let sms = |number: &str| {
        s.write(|tx| {
            tx.queue_sms(
                &NewSms {
                    mailbox_id: alice,
                    number,
                    text: "PEC: 2 messaggi",
                },
                1_000,
            )
        })
        .expect("queue_sms")
    };
    let first = sms("+393331112222");
    let second = sms("+393334445555");
    assert!(s.sms_claim(999, 60, 10).expect("not due yet").is_empty());
    let claimed = s.sms_claim(1_000, 60, 1).expect("claim");
    assert_eq!(claimed.len(), 1, "at most the limit");
    assert_eq!((claimed[0].id, claimed[0].attempts), (first, 1));
    assert_eq!(claimed[0].mailbox, ALICE);
    assert_eq!(claimed[0].number, "+393331112222");
    let claimed = s.sms_claim(1_000, 60, 10).expect("claim");
    assert_eq!(
        claimed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second],
        "the first is leased"
    );
    s.sms_sent(first, 1_010).expect("sent");
    s.sms_failed(second, "503 dal gateway", Some(1_100))
        .expect("retry");
    assert!(s.sms_claim(1_099, 60, 10).expect("claim").is_empty());
    let again = s.sms_claim(1_100, 60, 10).expect("claim");
    assert_eq!(again.len(), 1, "the sent one is never claimed again");
    assert_eq!((again[0].id, again[0].attempts), (second, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("503 dal gateway"));
    s.sms_failed(second, "rifiutato", None).expect("give up");
    assert!(s.sms_claim(99_999, 60, 10).expect("claim").is_empty());
    assert!(
        s.sms_sent(second, 2_000).is_err(),
        "a given-up SMS is not sent later"
    );
    let list = s.sms_list(10).expect("sms_list");
    let states: Vec<(crate::SmsId, SmsState)> = list.iter().map(|m| (m.id, m.state)).collect();
    assert_eq!(
        states,
        vec![(second, SmsState::Failed), (first, SmsState::Sent)]
    );
    assert_eq!(list[1].sent_at, Some(1_010));

    // Kept 90 days, then dropped; a deleted box takes its outbox with it.
    s.sms_claim(1_000 + crate::SMS_RETENTION_SECS + 1, 60, 10)
        .expect("claim");
    assert!(s.sms_list(10).expect("sms_list").is_empty());
    sms("+393331112222");
    s.delete_mailbox(ALICE).expect("delete_mailbox");
    assert!(s.sms_list(10).expect("sms_list").is_empty());
    assert!(s.settings_named("report-email").expect("gone").is_empty());
}
