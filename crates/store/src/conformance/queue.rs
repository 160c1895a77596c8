//! The delivery queue: items enqueued in a write transaction, claimed under a lease (a
//! crash only delays an item), retried, parked as poison, put back by an administrator.

use super::*;
use crate::{QueueClaim, QueueFailure, QueueFailureKind};

const ANY: QueueClaim<'static> = QueueClaim {
    kinds: &[RELAY, DELIVER],
    skip_destinations: &[],
};
const RELAYS: QueueClaim<'static> = QueueClaim {
    kinds: &[RELAY],
    skip_destinations: &[],
};

fn temporary(next_attempt: Unix, now: Unix) -> QueueFailure<'static> {
    QueueFailure {
        kind: QueueFailureKind::Temporary,
        error: "destinazione irraggiungibile",
        next_attempt,
        now,
        park_after: None,
    }
}

/// Several due items in one claim: oldest first, at most `max`, only the kinds asked,
/// each with its recipients and under a lease (a second claim does not see them).
pub fn queue_claims_several_at_once(s: &dyn Store) {
    let deliveries = QueueClaim {
        kinds: &[DELIVER],
        skip_destinations: &[],
    };
    s.write(|tx| {
        tx.enqueue(DELIVER, ALICE, &[BOB.into()], "b1", Some("ID-1"), 10)?;
        tx.enqueue(RELAY, ALICE, &["z@fast.test".into()], "b2", None, 11)?;
        tx.enqueue(
            DELIVER,
            ALICE,
            &["carla@example.test".into()],
            "b3",
            None,
            12,
        )?;
        tx.enqueue(DELIVER, ALICE, &[BOB.into()], "b4", None, 13)
    })
    .expect("enqueue");
    let first = s
        .queue_claim_many(20, 60, &deliveries, 2)
        .expect("queue_claim_many");
    let blobs: Vec<&str> = first.iter().map(|i| i.blob.as_str()).collect();
    assert_eq!(blobs, ["b1", "b3"], "the two oldest deliveries");
    assert_eq!(first[1].recipients, vec!["carla@example.test".to_string()]);
    let rest = s
        .queue_claim_many(20, 60, &deliveries, 10)
        .expect("queue_claim_many");
    let blobs: Vec<&str> = rest.iter().map(|i| i.blob.as_str()).collect();
    assert_eq!(
        blobs,
        ["b4"],
        "the claimed ones are leased; the relay is not asked for"
    );
    assert!(s
        .queue_claim_many(20, 60, &deliveries, 10)
        .expect("queue_claim_many")
        .is_empty());
    // The leases run out: all three are due again, and the relay is still there.
    assert_eq!(
        s.queue_claim_many(81, 60, &ANY, 10)
            .expect("queue_claim_many")
            .len(),
        4
    );
}

pub fn queue_claims_by_kind_and_destination(s: &dyn Store) {
    assert!(
        s.queue_claim(0, 60, &ANY).expect("queue_claim").is_none(),
        "empty"
    );
    assert_eq!(s.queue_next_due().expect("queue_next_due"), None);
    assert_eq!(s.queue_oldest().expect("queue_oldest"), None);
    s.write(|tx| {
        tx.enqueue(
            RELAY,
            ALICE,
            &["x@Slow.Test".into(), "y@slow.test".into()],
            "b1",
            Some("ID-1"),
            10,
        )?;
        tx.enqueue(RELAY, ALICE, &["z@fast.test".into()], "b2", None, 11)?;
        tx.enqueue(DELIVER, ALICE, &[BOB.into()], "b3", Some("ID-1"), 12)
    })
    .expect("enqueue");
    assert_eq!(s.queue_len().expect("queue_len"), 3);
    assert_eq!(s.queue_oldest().expect("queue_oldest"), Some(10));
    assert_eq!(s.queue_next_due().expect("queue_next_due"), Some(10));
    assert!(
        s.queue_claim(9, 60, &ANY).expect("queue_claim").is_none(),
        "not due yet"
    );

    // Oldest due first, with everything it was enqueued with.
    let slow = s
        .queue_claim(20, 60, &RELAYS)
        .expect("queue_claim")
        .expect("due");
    assert_eq!(slow.kind, RELAY);
    assert_eq!(
        slow.destination, "slow.test",
        "the first recipient's domain, lower-case"
    );
    assert_eq!(slow.recipients, ["x@Slow.Test", "y@slow.test"]);
    assert_eq!((slow.mail_from.as_str(), slow.blob.as_str()), (ALICE, "b1"));
    assert_eq!(slow.identificativo.as_deref(), Some("ID-1"));
    assert_eq!((slow.created, slow.attempts), (10, 0));
    assert_eq!(
        slow.destination,
        crate::queue_destination(&slow.recipients[0])
    );
    s.release_leases().expect("release_leases");

    // A busy destination is skipped; relays never take local deliveries and vice versa.
    let busy = ["slow.test".to_string()];
    let not_slow = QueueClaim {
        kinds: &[RELAY],
        skip_destinations: &busy,
    };
    let fast = s
        .queue_claim(20, 60, &not_slow)
        .expect("queue_claim")
        .expect("due");
    assert_eq!(fast.destination, "fast.test");
    assert!(s
        .queue_claim(20, 60, &not_slow)
        .expect("queue_claim")
        .is_none());
    assert_eq!(
        s.queue_claim(20, 60, &RELAYS)
            .expect("queue_claim")
            .expect("due")
            .id,
        slow.id
    );
    assert!(
        s.queue_claim(20, 60, &RELAYS)
            .expect("queue_claim")
            .is_none(),
        "relays taken"
    );
    let local = QueueClaim {
        kinds: &[DELIVER],
        skip_destinations: &[],
    };
    let deliver = s
        .queue_claim(20, 60, &local)
        .expect("queue_claim")
        .expect("due");
    assert_eq!(
        (deliver.kind, deliver.recipients.as_slice()),
        (DELIVER, [BOB.to_string()].as_slice())
    );
    let none: QueueClaim = QueueClaim {
        kinds: &[],
        skip_destinations: &[],
    };
    s.release_leases().expect("release_leases");
    assert!(
        s.queue_claim(20, 60, &none).expect("queue_claim").is_none(),
        "no kinds, nothing"
    );
}

pub fn queue_lease_hides_an_item_until_it_expires(s: &dyn Store) {
    s.write(|tx| tx.enqueue(RELAY, ALICE, &["b@x.test".into()], "00", None, 10))
        .expect("enqueue");
    let item = s
        .queue_claim(10, 300, &ANY)
        .expect("queue_claim")
        .expect("due");
    assert_eq!(item.attempts, 0);
    assert!(
        s.queue_claim(11, 300, &ANY).expect("queue_claim").is_none(),
        "leased"
    );
    assert!(
        s.queue_claim(309, 300, &ANY)
            .expect("queue_claim")
            .is_none(),
        "still leased"
    );
    // The worker that holds it died: when the lease runs out another one takes it.
    let again = s
        .queue_claim(310, 300, &ANY)
        .expect("queue_claim")
        .expect("lease over");
    assert_eq!(
        (again.id, again.attempts),
        (item.id, 1),
        "the attempt is counted"
    );
    // A long transfer renews its lease.
    assert!(s.queue_renew(item.id, 1_000).expect("queue_renew"));
    assert!(
        s.queue_claim(700, 300, &ANY)
            .expect("queue_claim")
            .is_none(),
        "renewed"
    );
    let e = &s.queue_entries().expect("queue_entries")[0];
    assert_eq!(e.lease_until, 1_000);
    let third = s
        .queue_claim(1_000, 300, &ANY)
        .expect("queue_claim")
        .expect("renewal over");
    assert_eq!((third.id, third.attempts), (item.id, 2));
    assert!(s.write(|tx| tx.dequeue(item.id)).expect("dequeue"));
    assert!(!s.queue_renew(item.id, 2_000).expect("queue_renew"), "gone");
}

pub fn queue_retry_waits_for_the_next_attempt(s: &dyn Store) {
    s.write(|tx| tx.enqueue(RELAY, ALICE, &["b@x.test".into()], "00", None, 10))
        .expect("enqueue");
    let item = s
        .queue_claim(10, 300, &ANY)
        .expect("queue_claim")
        .expect("due");
    let parked = s
        .queue_retry(item.id, &temporary(400, 20))
        .expect("queue_retry");
    assert!(!parked, "a temporary failure never parks");
    assert!(
        s.queue_claim(399, 300, &ANY)
            .expect("queue_claim")
            .is_none(),
        "not before"
    );
    assert_eq!(s.queue_next_due().expect("queue_next_due"), Some(400));
    let e = &s.queue_entries().expect("queue_entries")[0];
    assert_eq!(e.next_attempt, 400);
    assert_eq!(
        e.last_error.as_deref(),
        Some("destinazione irraggiungibile")
    );
    assert_eq!(e.failure_kind, Some(QueueFailureKind::Temporary));
    assert_eq!((e.same_failures, e.parked), (1, None));
    let again = s
        .queue_claim(400, 300, &ANY)
        .expect("queue_claim")
        .expect("due at 400");
    assert_eq!((again.id, again.attempts), (item.id, 1));
    assert!(
        !s.queue_retry(crate::QueueId(9_999), &temporary(500, 20))
            .expect("queue_retry"),
        "unknown id"
    );
}

pub fn queue_parks_poison_and_unparks(s: &dyn Store) {
    s.write(|tx| {
        tx.enqueue(RELAY, ALICE, &["x@slow.test".into()], "00", None, 10)?;
        tx.enqueue(RELAY, ALICE, &["y@other.test".into()], "01", None, 10)
    })
    .expect("enqueue");
    let item = s
        .queue_claim(10, 300, &RELAYS)
        .expect("queue_claim")
        .expect("due");
    let fail = |kind: QueueFailureKind, now: Unix| {
        s.queue_retry(
            item.id,
            &QueueFailure {
                kind,
                error: "risposta malformata",
                next_attempt: now,
                now,
                park_after: Some(3),
            },
        )
        .expect("queue_retry")
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
    let other = s
        .queue_claim(1_000, 300, &RELAYS)
        .expect("queue_claim")
        .expect("due");
    assert_ne!(other.id, item.id, "a parked item is never claimed");
    assert!(s
        .queue_claim(1_000, 300, &RELAYS)
        .expect("queue_claim")
        .is_none());
    assert_eq!(
        s.release_leases().expect("release_leases"),
        1,
        "the other one's"
    );
    assert!(
        s.queue_claim(1_000, 300, &RELAYS)
            .expect("queue_claim")
            .is_some_and(|i| i.id == other.id),
        "released, and still not the parked one"
    );
    let entries = s.queue_entries().expect("queue_entries");
    assert_eq!(entries.len(), 2, "parked items are listed");
    let parked = entries
        .iter()
        .find(|e| e.item.id == item.id)
        .expect("listed");
    assert_eq!(parked.parked, Some(24));
    assert_eq!(parked.same_failures, 3);
    assert_eq!(parked.failure_kind, Some(QueueFailureKind::Internal));
    assert_eq!(parked.last_error.as_deref(), Some("risposta malformata"));
    assert_eq!(s.queue_len().expect("queue_len"), 2);

    assert!(s.queue_unpark(item.id, 30).expect("queue_unpark"));
    assert!(
        !s.queue_unpark(crate::QueueId(9_999), 30)
            .expect("queue_unpark"),
        "no such item"
    );
    assert_eq!(
        s.queue_claim(30, 300, &RELAYS)
            .expect("queue_claim")
            .expect("due now")
            .id,
        item.id
    );
    let e = s.queue_entries().expect("queue_entries");
    let e = e.iter().find(|e| e.item.id == item.id).expect("listed");
    assert_eq!((e.parked, e.same_failures), (None, 0), "count reset");
}

pub fn queue_release_and_dequeue(s: &dyn Store) {
    s.write(|tx| {
        tx.enqueue(RELAY, ALICE, &["a@x.test".into()], "00", None, 10)?;
        tx.enqueue(RELAY, ALICE, &["b@y.test".into()], "01", None, 10)?;
        tx.enqueue(DELIVER, ALICE, &[BOB.into()], "02", None, 10)
    })
    .expect("enqueue");
    let a = s
        .queue_claim(10, 300, &ANY)
        .expect("queue_claim")
        .expect("due");
    let b = s
        .queue_claim(10, 300, &ANY)
        .expect("queue_claim")
        .expect("due");
    assert_ne!(a.id, b.id);
    assert_eq!(
        s.release_leases().expect("release_leases"),
        2,
        "the two leased"
    );
    assert_eq!(s.release_leases().expect("release_leases"), 0, "none left");
    // Released: due again at once, the attempts counted.
    let ids: Vec<(crate::QueueId, i64)> = (0..3)
        .map(|_| {
            let i = s
                .queue_claim(11, 300, &ANY)
                .expect("queue_claim")
                .expect("due");
            (i.id, i.attempts)
        })
        .collect();
    assert!(
        ids.contains(&(a.id, 1)) && ids.contains(&(b.id, 1)),
        "{ids:?}"
    );
    assert!(s.write(|tx| tx.dequeue(a.id)).expect("dequeue"));
    assert!(
        !s.write(|tx| tx.dequeue(a.id)).expect("dequeue"),
        "done once"
    );
    assert_eq!(s.queue_len().expect("queue_len"), 2);
    assert!(s
        .queue_entries()
        .expect("queue_entries")
        .iter()
        .all(|e| e.item.id != a.id));
    for (id, _) in ids.iter().filter(|(id, _)| *id != a.id) {
        assert!(s.write(|tx| tx.dequeue(*id)).expect("dequeue"));
    }
    assert_eq!(s.queue_len().expect("queue_len"), 0);
    assert_eq!(s.queue_next_due().expect("queue_next_due"), None);
}
