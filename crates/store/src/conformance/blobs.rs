//! Message bytes: named by their SHA-256, kept while something references them, given back
//! a grace period after the last reference went.

use super::*;

pub fn blobs_round_trip_by_content_name(s: &dyn Store) {
    let bytes = b"From: a@pec.test\r\n\r\ncorpo".to_vec();
    let name = s.put_blob(&bytes).expect("put_blob");
    assert_eq!(name, crate::blob_name(&bytes), "the SHA-256, in hex");
    assert_eq!(s.blob(&name).expect("blob"), bytes);
    assert_eq!(
        s.put_blob(&bytes).expect("put_blob again"),
        name,
        "same bytes, same name"
    );
    let empty = s.put_blob(b"").expect("put_blob empty");
    assert_eq!(s.blob(&empty).expect("blob"), b"");
    let large = vec![7u8; 3 * 1024 * 1024];
    let big = s.put_blob(&large).expect("put_blob large");
    assert_eq!(s.blob(&big).expect("blob"), large);

    // Names that are not ones the store gave out read nothing.
    let unknown = crate::blob_name(b"never stored");
    assert!(s.blob(&unknown).is_err(), "unknown blob");
    for bad in [
        "../../etc/passwd",
        "",
        "..",
        "/etc/passwd",
        &format!("{name}/x"),
    ] {
        assert!(s.blob(bad).is_err(), "blob names are hashes only: {bad:?}");
    }
}

pub fn released_blobs_are_collected_after_the_grace(s: &dyn Store) {
    let grace = 3600;
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let trash = folder_id(s, id, "Cestino");
    let kept = b"resta: un messaggio la usa".to_vec();
    let copied = b"resta: una copia la usa".to_vec();
    let queued = b"resta: la coda la usa".to_vec();
    let gone = b"va: nessuno la usa".to_vec();
    let kept_uid = append(s, ALICE, INBOX, &kept, "");
    let copied_uid = append(s, ALICE, INBOX, &copied, "");
    let gone_uid = append(s, ALICE, INBOX, &gone, "");
    let queued_name = s.put_blob(&queued).expect("put_blob");
    let queued_uid = append(s, ALICE, INBOX, &queued, "");
    s.write(|tx| {
        tx.enqueue(
            RELAY,
            ALICE,
            &["x@altro.test".into()],
            &queued_name,
            None,
            1,
        )
    })
    .expect("enqueue");
    copy(s, inbox, &[copied_uid], trash, false).expect("copy_messages");
    s.expunge(inbox, &[copied_uid, gone_uid, queued_uid])
        .expect("expunge");
    let name = crate::blob_name;

    // Within the grace nothing goes.
    let first = s.collect_blobs(1_000, grace, 100).expect("collect_blobs");
    assert_eq!(first.freed, 0, "{first:?}");
    assert_eq!(s.blob(&name(&gone)).expect("still there"), gone);
    // After it, only the bytes nothing uses.
    let pass = s
        .collect_blobs(1_000 + grace, grace, 100)
        .expect("collect_blobs");
    assert_eq!(pass.freed, 1, "{pass:?}");
    assert_eq!(s.blob(&name(&kept)).expect("referenced by a message"), kept);
    assert_eq!(
        s.blob(&name(&copied)).expect("referenced by a copy"),
        copied
    );
    assert_eq!(
        s.blob(&queued_name).expect("referenced by the queue"),
        queued
    );
    let again = s
        .collect_blobs(10_000 + grace, grace, 100)
        .expect("collect_blobs");
    assert_eq!(again.freed, 0, "collected once: {again:?}");
    // Messages that still reference their bytes read them.
    assert_eq!(
        s.contents(inbox, &[kept_uid]).expect("contents")[0].data,
        kept
    );

    // With no grace, bytes whose last reference went are gone at the next collection.
    let copy_uid = uids(s, trash)[0];
    s.expunge(trash, &[copy_uid]).expect("expunge");
    let pass = s.collect_blobs(20_000, 0, 100).expect("collect_blobs");
    assert_eq!(pass.freed, 1, "{pass:?}");
    assert!(s.blob(&name(&copied)).is_err(), "the copy's bytes are gone");
    assert_eq!(s.blob(&name(&kept)).expect("still referenced"), kept);
    assert_eq!(s.blob(&queued_name).expect("still queued"), queued);
}
