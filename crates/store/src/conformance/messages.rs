//! Folders and messages as IMAP, POP3 and the webmail see them: UIDs (RFC 9051 §2.3.1.1),
//! MODSEQ (RFC 7162), flags, copy/move/expunge, the counts, `\Recent`, quota and the
//! full-text index.

use super::*;
use crate::{FlagOp, ListKey, ListOrder, MessageText, TextField, TextHits, Usage};

pub fn folders_create_rename_delete_and_subscribe(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    s.create_folder(id, "Pratiche", 10).expect("create_folder");
    s.create_folder(id, "Pratiche/2026", 11)
        .expect("create_folder");
    let again = s.create_folder(id, "Pratiche", 12);
    assert!(is_exists(&again), "{again:?}");
    let child = append(s, ALICE, "Pratiche/2026", b"pratica n. 1", "\\Seen");
    let f = folder(s, id, "Pratiche/2026");
    assert_eq!((f.messages, f.special_use), (1, None));

    // A rename carries the folders below it, with their messages and UIDs.
    s.rename_folder(id, "Pratiche", "Archivio", 13)
        .expect("rename_folder");
    assert!(s.folder(id, "Pratiche").expect("folder").is_none());
    assert!(s.folder(id, "Pratiche/2026").expect("folder").is_none());
    let moved = folder_id(s, id, "Archivio/2026");
    assert_eq!(uids(s, moved), vec![child]);
    assert_eq!(
        s.contents(moved, &[child]).expect("contents")[0].data,
        b"pratica n. 1"
    );

    s.subscribe(id, "Archivio", true).expect("subscribe");
    assert!(folder(s, id, "Archivio").subscribed);
    s.subscribe(id, "Archivio", false).expect("unsubscribe");
    assert!(!folder(s, id, "Archivio").subscribed);

    // Refusals, each changing nothing.
    let r = s.rename_folder(id, "Archivio", "Bozze", 14);
    assert!(is_exists(&r), "rename onto an existing folder: {r:?}");
    let r = s.rename_folder(id, "Nessuna", "Altra", 14);
    assert!(is_not_found(&r), "{r:?}");
    let r = s.delete_folder(id, "Nessuna");
    assert!(is_not_found(&r), "{r:?}");
    let r = s.subscribe(id, "Nessuna", true);
    assert!(is_not_found(&r), "{r:?}");
    assert!(s.folder(id, "Bozze").expect("folder").is_some());
    assert!(s.folder(id, "Cestino").expect("folder").is_some());
    assert!(s.folder(id, "Brutte copie").expect("folder").is_none());

    // Deleting a folder takes its messages and gives their space back.
    assert_eq!(used(s, ALICE), 12);
    s.delete_folder(id, "Archivio/2026").expect("delete_folder");
    assert!(s.folder(id, "Archivio/2026").expect("folder").is_none());
    assert_eq!(used(s, ALICE), 0);
    let names: Vec<String> = s
        .folders(id)
        .expect("folders")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(names.contains(&"Archivio".to_string()), "{names:?}");
    assert_eq!(names.len(), crate::SPECIAL_FOLDERS.len() + 1, "{names:?}");
}

/// RFC 9051 §6.3.6: renaming INBOX moves its messages to a new folder; INBOX stays, empty.
pub fn renaming_inbox_moves_its_messages(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    append(s, ALICE, INBOX, b"uno", "\\Seen");
    append(s, ALICE, INBOX, b"due", "");
    s.rename_folder(id, INBOX, "Vecchia posta", 10)
        .expect("rename INBOX");
    let inbox = folder(s, id, INBOX);
    assert_eq!(inbox.messages, 0, "INBOX stays, empty");
    let old = folder(s, id, "Vecchia posta");
    assert_eq!((old.messages, old.unseen, old.size), (2, 1, 6));
    assert_eq!(used(s, ALICE), 6, "moving is not a new use of space");
    assert_eq!(append(s, ALICE, INBOX, b"tre", ""), 3, "INBOX's UIDs go on");
}

pub fn uidvalidity_is_stable_and_changes_for_a_new_folder(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    s.create_folder(id, "Pratiche", 10).expect("create_folder");
    let before = folder(s, id, "Pratiche").uidvalidity;
    assert!(before > 0, "RFC 9051 §2.3.1.1: a non-zero 32-bit number");
    let uid = append(s, ALICE, "Pratiche", b"uno", "");
    let f = folder_id(s, id, "Pratiche");
    s.store_flags(f, &[uid], FlagOp::Add, &strings(&["\\Seen"]), None)
        .expect("store_flags");
    s.expunge(f, &[uid]).expect("expunge");
    assert_eq!(folder(s, id, "Pratiche").uidvalidity, before, "stable");
    assert_eq!(
        s.folder_head(id, "Pratiche")
            .expect("folder_head")
            .expect("found")
            .uidvalidity,
        before
    );
    assert_eq!(
        s.open_folder(id, "Pratiche")
            .expect("open_folder")
            .expect("found")
            .folder
            .uidvalidity,
        before
    );

    // A new folder with the old name starts its UIDs again: it must say so.
    s.delete_folder(id, "Pratiche").expect("delete_folder");
    s.create_folder(id, "Pratiche", 10).expect("create_folder");
    let recreated = folder(s, id, "Pratiche");
    assert_ne!(recreated.uidvalidity, before, "never the old UIDVALIDITY");
    assert_eq!(recreated.uidnext, 1);
    // Likewise after a rename: the old name's new folder is not the renamed one.
    append(s, ALICE, "Pratiche", b"due", "");
    s.rename_folder(id, "Pratiche", "Archivio", 10)
        .expect("rename_folder");
    s.create_folder(id, "Pratiche", 10).expect("create_folder");
    let again = folder(s, id, "Pratiche").uidvalidity;
    assert!(
        again != recreated.uidvalidity && again != before,
        "{again} was used before"
    );
    assert_ne!(folder(s, id, "Archivio").uidvalidity, recreated.uidvalidity);
}

pub fn uids_increase_and_are_never_reused(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let first: Vec<i64> = (0..3)
        .map(|i| append(s, ALICE, INBOX, format!("m{i}").as_bytes(), ""))
        .collect();
    assert_eq!(first, vec![1, 2, 3]);
    assert_eq!(folder(s, id, INBOX).uidnext, 4);
    assert_eq!(s.expunge(inbox, &[3]).expect("expunge"), vec![3]);
    assert_eq!(folder(s, id, INBOX).uidnext, 4, "UIDNEXT does not go back");
    assert_eq!(append(s, ALICE, INBOX, b"m3", ""), 4, "3 is never reused");
    s.expunge(inbox, &[1, 2, 4]).expect("expunge");
    assert!(uids(s, inbox).is_empty());
    assert_eq!(append(s, ALICE, INBOX, b"m4", ""), 5);
    // Copies take the target's UIDs, after its own.
    let drafts = folder_id(s, id, "Bozze");
    append(s, ALICE, "Bozze", b"bozza", "");
    let pairs = copy(s, inbox, &[5], drafts, false).expect("copy_messages");
    assert_eq!(pairs, vec![(5, 2)]);
    assert_eq!(folder(s, id, "Bozze").uidnext, 3);
    assert_eq!(uids(s, drafts), vec![1, 2]);
}

pub fn modseq_increases_with_every_change(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let drafts = folder_id(s, id, "Bozze");
    let highest = |f: FolderId| {
        s.folders(id)
            .expect("folders")
            .into_iter()
            .find(|x| x.id == f)
            .expect("folder")
            .highestmodseq
    };
    let modseq_of = |f: FolderId, uid: i64| {
        s.messages(f)
            .expect("messages")
            .into_iter()
            .find(|m| m.uid == uid)
            .unwrap_or_else(|| panic!("uid {uid} missing"))
            .modseq
    };
    let mut last = highest(inbox);
    let mut step = |f: FolderId, what: &str| {
        let now = highest(f);
        assert!(now > last, "{what}: HIGHESTMODSEQ {now} after {last}");
        last = now;
        now
    };
    let a = append(s, ALICE, INBOX, b"uno", "");
    let m = step(inbox, "append");
    assert_eq!(
        modseq_of(inbox, a),
        m,
        "the message carries the folder's MODSEQ"
    );
    let b = append(s, ALICE, INBOX, b"due", "");
    let m = step(inbox, "second append");
    assert_eq!(modseq_of(inbox, b), m);
    let seen = strings(&["\\Seen"]);
    let ch = s
        .store_flags(inbox, &[a], FlagOp::Add, &seen, None)
        .expect("store_flags");
    let m = step(inbox, "flag");
    assert_eq!(ch.changed, vec![(a, "\\Seen".to_string(), m)]);
    assert_eq!(modseq_of(inbox, a), m);
    assert!(
        modseq_of(inbox, b) < m,
        "an unchanged message keeps its MODSEQ"
    );

    // RFC 7162 §3.1.3: a STORE that changes nothing changes no MODSEQ.
    let ch = s
        .store_flags(inbox, &[a], FlagOp::Add, &seen, None)
        .expect("store_flags");
    assert!(ch.changed.is_empty() && ch.modified.is_empty(), "{ch:?}");
    assert_eq!(highest(inbox), m, "no-op STORE");

    s.expunge(inbox, &[b]).expect("expunge");
    step(inbox, "expunge");

    // Copy into Bozze: the target moves on; the source does not.
    let before_source = highest(inbox);
    let mut last_drafts = highest(drafts);
    copy(s, inbox, &[a], drafts, false).expect("copy_messages");
    assert_eq!(
        highest(inbox),
        before_source,
        "a copy does not change its source"
    );
    let now = highest(drafts);
    assert!(now > last_drafts, "copy: {now} after {last_drafts}");
    assert_eq!(modseq_of(drafts, 1), now);
    last_drafts = now;
    // Move back: both folders change.
    copy(s, drafts, &[1], inbox, true).expect("move");
    assert!(highest(drafts) > last_drafts, "a move changes its source");
    step(inbox, "move into INBOX");
}

pub fn changes_since_names_exactly_what_changed(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    for i in 1..=3 {
        append(s, ALICE, INBOX, format!("m{i}").as_bytes(), "");
    }
    let base = folder(s, id, INBOX).highestmodseq;
    let nothing = s.changes_since(inbox, base).expect("changes_since");
    assert_eq!(nothing.highestmodseq, base);
    assert!(nothing.changed.is_empty() && nothing.expunged.is_empty());

    s.store_flags(inbox, &[1], FlagOp::Add, &strings(&["$Etichetta"]), None)
        .expect("store_flags");
    s.expunge(inbox, &[2]).expect("expunge");
    append(s, ALICE, INBOX, b"m4", "");
    let ch = s.changes_since(inbox, base).expect("changes_since");
    let changed: Vec<(i64, String)> = ch
        .changed
        .iter()
        .map(|m| (m.uid, m.flags.clone()))
        .collect();
    assert_eq!(
        changed,
        vec![(1, "$Etichetta".to_string()), (4, String::new())],
        "the flagged and the new, in UID order; not 3"
    );
    assert_eq!(ch.expunged, vec![2]);
    assert_eq!(ch.highestmodseq, folder(s, id, INBOX).highestmodseq);
    assert!(ch.changed.iter().all(|m| m.modseq > base));

    // From a later point only what came after.
    let mid = ch.changed[0].modseq;
    let later = s.changes_since(inbox, mid).expect("changes_since");
    assert_eq!(
        later.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(later.expunged, vec![2]);
    let all = s.changes_since(inbox, 0).expect("changes_since");
    assert_eq!(
        all.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 3, 4]
    );
    // Another folder's changes are not this one's.
    let drafts = folder_id(s, id, "Bozze");
    let d = s.changes_since(drafts, 0).expect("changes_since");
    assert!(d.changed.is_empty() && d.expunged.is_empty(), "{d:?}");
}

pub fn copy_keeps_flags_and_gives_new_uids(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let trash = folder_id(s, id, "Cestino");
    append(s, ALICE, INBOX, b"primo", "\\Seen $Etichetta");
    append(s, ALICE, INBOX, b"secondo", "\\Flagged");
    append(s, ALICE, "Cestino", b"gia qui", "");
    let pairs = copy(s, inbox, &[1, 2, 99], trash, false).expect("copy_messages");
    assert_eq!(pairs, vec![(1, 2), (2, 3)], "an unknown UID is skipped");
    let source = s.messages(inbox).expect("messages");
    let copied = s.messages(trash).expect("messages");
    assert_eq!(source.len(), 2, "a copy leaves the source alone");
    for (old, new) in &pairs {
        let a = source.iter().find(|m| m.uid == *old).expect("source");
        let b = copied.iter().find(|m| m.uid == *new).expect("copy");
        assert_eq!(a.flags, b.flags, "flags kept");
        assert_eq!((a.size, a.internal_date), (b.size, b.internal_date));
    }
    assert_eq!(
        s.contents(trash, &[2]).expect("contents")[0].data,
        b"primo",
        "the same bytes"
    );
    assert_eq!(
        used(s, ALICE),
        5 + 7 + 7 + 5 + 7,
        "a copy counts against the quota"
    );

    // Not across mailboxes, and a refusal changes nothing.
    let bob = mailbox(s, BOB, LARGE_QUOTA);
    let bob_inbox = folder_id(s, bob, INBOX);
    let r = copy(s, inbox, &[1], bob_inbox, false);
    assert!(is_refused(&r), "{r:?}");
    assert!(uids(s, bob_inbox).is_empty());
    assert_eq!(used(s, BOB), 0);
}

pub fn move_removes_from_the_source(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let trash = folder_id(s, id, "Cestino");
    append(s, ALICE, INBOX, b"resta", "");
    append(s, ALICE, INBOX, b"va", "\\Seen");
    let used_before = used(s, ALICE);
    let base = folder(s, id, INBOX).highestmodseq;
    let pairs = copy(s, inbox, &[2, 42], trash, true).expect("move");
    assert_eq!(pairs, vec![(2, 1)]);
    assert_eq!(uids(s, inbox), vec![1], "gone from the source");
    let moved = s.messages(trash).expect("messages");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].flags, "\\Seen");
    assert_eq!(
        s.changes_since(inbox, base)
            .expect("changes_since")
            .expunged,
        vec![2],
        "the source reports it expunged"
    );
    assert_eq!(
        used(s, ALICE),
        used_before,
        "a move does not change the quota"
    );
    assert_eq!(folder(s, id, INBOX).messages, 1);
    assert_eq!(folder(s, id, "Cestino").messages, 1);
}

pub fn expunge_of_unknown_uids_is_harmless(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    append(s, ALICE, INBOX, b"uno", "");
    append(s, ALICE, INBOX, b"due", "");
    append(s, ALICE, INBOX, b"tre", "");
    assert_eq!(s.expunge(inbox, &[2, 99]).expect("expunge"), vec![2]);
    assert_eq!(uids(s, inbox), vec![1, 3]);
    assert_eq!(used(s, ALICE), 6);
    let before = s.messages(inbox).expect("messages");
    assert!(s
        .expunge(inbox, &[2, 99])
        .expect("expunge again")
        .is_empty());
    assert!(s.expunge(inbox, &[]).expect("expunge nothing").is_empty());
    assert_eq!(
        s.messages(inbox).expect("messages"),
        before,
        "nothing changed"
    );
    assert_eq!(used(s, ALICE), 6);
    // A UID of another folder is not this folder's.
    let drafts = folder_id(s, id, "Bozze");
    assert!(s.expunge(drafts, &[1, 3]).expect("expunge").is_empty());
    assert_eq!(uids(s, inbox), vec![1, 3]);
}

/// Each folder's counts equal what its messages say, after every kind of change.
pub fn folder_counts_follow_every_change(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let check = |when: &str| {
        for f in s.folders(id).expect("folders") {
            let msgs = s.messages(f.id).expect("messages");
            let has = |m: &crate::MessageEntry, flag: &str| m.flags.split(' ').any(|x| x == flag);
            let unseen = msgs.iter().filter(|m| !has(m, "\\Seen")).count() as i64;
            let deleted = msgs.iter().filter(|m| has(m, "\\Deleted")).count() as i64;
            let size: i64 = msgs.iter().map(|m| m.size).sum();
            assert_eq!(
                (f.messages, f.unseen, f.deleted, f.size),
                (msgs.len() as i64, unseen, deleted, size),
                "{when}: folder {}",
                f.name
            );
            let open = s
                .open_folder(id, &f.name)
                .expect("open_folder")
                .expect("found");
            assert_eq!(
                (open.folder.messages, open.folder.unseen, open.folder.size),
                (f.messages, f.unseen, f.size),
                "{when}: open_folder {}",
                f.name
            );
            let open_uids: Vec<(i64, bool)> =
                msgs.iter().map(|m| (m.uid, !has(m, "\\Seen"))).collect();
            assert_eq!(open.uids, open_uids, "{when}: {}", f.name);
        }
        let total: i64 = s.folders(id).expect("folders").iter().map(|f| f.size).sum();
        assert_eq!(used(s, ALICE), total, "{when}: the quota's use");
    };
    for i in 0..5 {
        let flags = if i % 2 == 0 { "\\Seen" } else { "" };
        append(s, ALICE, INBOX, format!("messaggio {i}").as_bytes(), flags);
    }
    check("append");
    let inbox = folder(s, id, INBOX);
    assert_eq!((inbox.messages, inbox.unseen, inbox.size), (5, 2, 55));
    let seen = strings(&["\\Seen"]);
    s.store_flags(inbox.id, &[2], FlagOp::Add, &seen, None)
        .expect("store_flags");
    s.store_flags(inbox.id, &[1], FlagOp::Remove, &seen, None)
        .expect("store_flags");
    s.store_flags(
        inbox.id,
        &[3],
        FlagOp::Replace,
        &strings(&["$Etichetta"]),
        None,
    )
    .expect("store_flags");
    s.store_flags(
        inbox.id,
        &[4, 5],
        FlagOp::Add,
        &strings(&["\\Deleted"]),
        None,
    )
    .expect("store_flags");
    assert_eq!(folder(s, id, INBOX).deleted, 2);
    check("flags");
    let drafts = folder_id(s, id, "Bozze");
    let trash = folder_id(s, id, "Cestino");
    copy(s, inbox.id, &[1, 2], drafts, false).expect("copy_messages");
    copy(s, inbox.id, &[4], trash, true).expect("move");
    check("copy and move");
    s.expunge(inbox.id, &[5]).expect("expunge");
    check("expunge");
    s.rename_folder(id, INBOX, "Archivio", 2)
        .expect("rename INBOX");
    check("INBOX renamed");
    s.create_folder(id, "Pratiche", 3).expect("create_folder");
    let archive = folder_id(s, id, "Archivio");
    let pratiche = folder_id(s, id, "Pratiche");
    copy(s, archive, &[1, 2, 3], pratiche, false).expect("copy_messages");
    check("copied to a new folder");
    s.delete_folder(id, "Pratiche").expect("delete_folder");
    check("folder deleted");
}

/// RFC 3501 §2.3.2: a message is `\Recent` in the one session that selects its folder first.
pub fn recent_is_claimed_once(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 0);
    for i in 0..3 {
        append(s, ALICE, INBOX, format!("m{i}").as_bytes(), "");
    }
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 3);
    assert_eq!(
        s.claim_recent(inbox).expect("claim_recent"),
        1,
        "the first session"
    );
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 0);
    let none = s.claim_recent(inbox).expect("claim_recent");
    assert!(none > 3, "a second session has none recent: first {none}");
    append(s, ALICE, INBOX, b"m3", "");
    append(s, ALICE, INBOX, b"m4", "");
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 2);
    assert_eq!(
        s.claim_recent(inbox).expect("claim_recent"),
        4,
        "only the new ones"
    );
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 0);
    // Another folder's messages are its own.
    let drafts = folder_id(s, id, "Bozze");
    append(s, ALICE, "Bozze", b"bozza", "");
    assert_eq!(s.unclaimed_recent(drafts).expect("unclaimed_recent"), 1);
    assert_eq!(s.unclaimed_recent(inbox).expect("unclaimed_recent"), 0);
}

pub fn flags_add_remove_and_replace(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    append(s, ALICE, INBOX, b"uno", "\\Seen \\seen $B");
    append(s, ALICE, INBOX, b"due", "");
    let flags = |uid: i64| {
        s.messages(inbox)
            .expect("messages")
            .into_iter()
            .find(|m| m.uid == uid)
            .expect("message")
            .flags
    };
    assert_eq!(
        flags(1),
        "$B \\Seen",
        "normalized at append: sorted, no duplicates"
    );
    assert_eq!(flags(1), crate::normalize_flags(flags(1).split(' ')));
    let ch = s
        .store_flags(
            inbox,
            &[1, 2],
            FlagOp::Add,
            &strings(&["\\Flagged", "$A"]),
            None,
        )
        .expect("add");
    assert_eq!(
        ch.changed
            .iter()
            .map(|c| (c.0, c.1.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "$A $B \\Flagged \\Seen"), (2, "$A \\Flagged")]
    );
    assert_eq!(flags(2), "$A \\Flagged");
    s.store_flags(
        inbox,
        &[1],
        FlagOp::Remove,
        &strings(&["\\SEEN", "$B"]),
        None,
    )
    .expect("remove");
    assert_eq!(flags(1), "$A \\Flagged", "removal ignores case");
    s.store_flags(
        inbox,
        &[2],
        FlagOp::Replace,
        &strings(&["\\Answered"]),
        None,
    )
    .expect("replace");
    assert_eq!(flags(2), "\\Answered");
    s.store_flags(inbox, &[2], FlagOp::Replace, &[], None)
        .expect("replace with nothing");
    assert_eq!(flags(2), "");
    let ch = s
        .store_flags(inbox, &[99], FlagOp::Add, &strings(&["\\Seen"]), None)
        .expect("unknown uid");
    assert!(ch.changed.is_empty() && ch.modified.is_empty(), "{ch:?}");
    assert_eq!(flags(1), "$A \\Flagged");
}

/// RFC 7162 §3.1.3: UNCHANGEDSINCE leaves alone, and names, messages changed after it.
pub fn unchanged_since_leaves_newer_messages_alone(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    append(s, ALICE, INBOX, b"uno", "");
    append(s, ALICE, INBOX, b"due", "");
    let known = folder(s, id, INBOX).highestmodseq;
    // Happy path: nothing changed since, so the store applies.
    let ch = s
        .store_flags(inbox, &[1], FlagOp::Add, &strings(&["\\Seen"]), Some(known))
        .expect("store_flags");
    assert_eq!(ch.changed.len(), 1);
    assert!(ch.modified.is_empty());
    // Now 1 changed after `known`: a client that last saw `known` may not overwrite it.
    let ch = s
        .store_flags(
            inbox,
            &[1, 2],
            FlagOp::Replace,
            &strings(&["\\Deleted"]),
            Some(known),
        )
        .expect("store_flags");
    assert_eq!(ch.modified, vec![1]);
    assert_eq!(
        ch.changed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![2],
        "the unchanged one is stored"
    );
    let msgs = s.messages(inbox).expect("messages");
    assert_eq!(msgs[0].flags, "\\Seen", "left alone");
    assert_eq!(msgs[1].flags, "\\Deleted");
}

/// `Tx::usage` reports the quota and the space used as appends and copies change it; the
/// store appends beyond the quota (the rule is the services'), and a transaction that
/// fails keeps none of its change.
pub fn usage_counts_appends_and_copies(s: &dyn Store) {
    let id = mailbox(s, ALICE, 100);
    let inbox = folder_id(s, id, INBOX);
    let drafts = folder_id(s, id, "Bozze");
    assert_eq!(
        usage(s, ALICE),
        Usage {
            quota: 100,
            used: 0
        }
    );
    append(s, ALICE, INBOX, &[b'x'; 60], "");
    assert_eq!(
        usage(s, ALICE),
        Usage {
            quota: 100,
            used: 60
        }
    );
    assert_eq!(used(s, ALICE), 60, "the mailbox row agrees");

    let blob = s.put_blob(&[b'y'; 50]).expect("put_blob");
    let meta = MessageMeta::default();
    let m = NewMessage {
        blob: &blob,
        size: 50,
        meta: &meta,
    };
    let uid = s
        .write(|tx| tx.append(ALICE, INBOX, &m, 1))
        .expect("append beyond the quota");
    assert_eq!(uid, 2);
    assert_eq!(usage(s, ALICE).used, 110);
    copy(s, inbox, &[1], drafts, false).expect("copy");
    assert_eq!(usage(s, ALICE).used, 170, "a copy takes space");

    // A transaction that fails after a copy keeps neither the copy nor its space.
    let before = folder(s, id, "Bozze");
    let r = s.write(|tx| {
        tx.copy_messages(inbox, &[1, 2], drafts, false)?;
        let seen = tx.usage(ALICE)?;
        assert_eq!(seen.used, 280, "the transaction sees its own copy");
        Err::<(), _>(StoreError::OverQuota(ALICE.into()))
    });
    assert!(is_over_quota(&r), "{r:?}");
    let after = folder(s, id, "Bozze");
    assert_eq!(
        (after.messages, after.uidnext, after.highestmodseq),
        (before.messages, before.uidnext, before.highestmodseq),
        "a failed copy changes no folder"
    );
    assert_eq!(usage(s, ALICE).used, 170);

    // A mailbox or folder that does not exist is not found.
    let r = s.write(|tx| tx.usage("nessuno@pec.test"));
    assert!(is_not_found(&r), "{r:?}");
    let r = s.write(|tx| tx.append("nessuno@pec.test", INBOX, &m, 1));
    assert!(is_not_found(&r), "{r:?}");
    let r = s.write(|tx| tx.append(ALICE, "Nessuna", &m, 1));
    assert!(is_not_found(&r), "{r:?}");
}

pub fn quota_follows_expunge_move_and_folder_deletion(s: &dyn Store) {
    let id = mailbox(s, ALICE, 100);
    let inbox = folder_id(s, id, INBOX);
    let trash = folder_id(s, id, "Cestino");
    append(s, ALICE, INBOX, &[b'a'; 40], "");
    append(s, ALICE, INBOX, &[b'b'; 40], "");
    assert_eq!(used(s, ALICE), 80);
    s.expunge(inbox, &[1]).expect("expunge");
    assert_eq!(used(s, ALICE), 40, "an expunge gives the space back");
    append(s, ALICE, INBOX, &[b'c'; 40], "");
    assert_eq!(used(s, ALICE), 80);
    copy(s, inbox, &[2], trash, true).expect("move");
    assert_eq!(used(s, ALICE), 80, "a move keeps the space");
    s.create_folder(id, "Pratiche", 1).expect("create_folder");
    let pratiche = folder_id(s, id, "Pratiche");
    copy(s, trash, &[1], pratiche, true).expect("move");
    s.delete_folder(id, "Pratiche").expect("delete_folder");
    assert_eq!(used(s, ALICE), 40, "a deleted folder gives its space back");
    s.set_quota(ALICE, 30).expect("set_quota");
    assert_eq!(
        usage(s, ALICE),
        Usage {
            quota: 30,
            used: 40
        },
        "a new quota"
    );
}

/// `Store::write`: none of a transaction is kept when its closure fails.
pub fn a_failed_write_keeps_nothing(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let blob = s.put_blob(b"tutto o niente").expect("put_blob");
    let meta = MessageMeta::default();
    let m = NewMessage {
        blob: &blob,
        size: 14,
        meta: &meta,
    };
    let work = |fail: bool| {
        s.write(|tx| {
            tx.append(ALICE, INBOX, &m, 1)?;
            tx.enqueue(RELAY, ALICE, &["x@altro.test".into()], &blob, None, 1)?;
            log_at_tx(tx, "id-1")?;
            if fail {
                return Err(StoreError::Refused("fallita".into()));
            }
            Ok(())
        })
    };
    // Happy path: all of it.
    work(false).expect("write");
    assert_eq!(folder(s, id, INBOX).messages, 1);
    assert_eq!(s.queue_len().expect("queue_len"), 1);
    assert_eq!(s.log_records(None).expect("log_records").len(), 1);
    let before = folder(s, id, INBOX);
    // A failure after every step: none of it.
    let r = work(true);
    assert!(is_refused(&r), "the closure's error comes back: {r:?}");
    let after = folder(s, id, INBOX);
    assert_eq!(
        (after.messages, after.uidnext, after.highestmodseq),
        (before.messages, before.uidnext, before.highestmodseq)
    );
    assert_eq!(used(s, ALICE), 14);
    assert_eq!(s.queue_len().expect("queue_len"), 1);
    assert_eq!(s.log_records(None).expect("log_records").len(), 1);
    assert_eq!(s.log_verify(), Ok(1));
}

fn log_at_tx(tx: &dyn crate::Tx, msgid: &str) -> crate::Result<()> {
    tx.log_append(&crate::LogRecord {
        time: 1,
        event: "accettazione",
        msgid,
        sender: ALICE,
        recipients: &[],
        subject: "",
        related: &[],
        provider: "Certa",
        actor: "",
    })
}

pub fn lists_pages_and_contents(s: &dyn Store) {
    let id = mailbox(s, ALICE, LARGE_QUOTA);
    let inbox = folder_id(s, id, INBOX);
    let rows = [
        ("Beta", "carla@pec.test", 300, "ID-1", b"x".repeat(30)),
        ("alfa", "Bruno@pec.test", 100, "ID-2", b"y".repeat(10)),
        ("Gamma", "anna@pec.test", 200, "ID-1", b"z".repeat(20)),
    ];
    for (subject, sender, date, ident, bytes) in &rows {
        let meta = MessageMeta {
            subject: subject.to_string(),
            sender: sender.to_string(),
            pec_kind: Some(::pec::MessageKind::TransportEnvelope),
            identificativo: Some(ident.to_string()),
            flags: String::new(),
            structure: Some(format!("{{\"s\":\"{subject}\"}}")),
            internal_date: Some(*date),
            text: None,
        };
        append_meta(s, ALICE, INBOX, bytes, &meta);
    }
    let page = |key, descending, offset, limit| -> Vec<i64> {
        s.message_page(inbox, ListOrder { key, descending }, offset, limit)
            .expect("message_page")
            .into_iter()
            .map(|m| m.uid)
            .collect()
    };
    assert_eq!(page(ListKey::Date, false, 0, 10), vec![2, 3, 1]);
    assert_eq!(page(ListKey::Date, true, 0, 10), vec![1, 3, 2]);
    assert_eq!(
        page(ListKey::Subject, false, 0, 10),
        vec![2, 1, 3],
        "case-insensitive"
    );
    assert_eq!(
        page(ListKey::Sender, false, 0, 10),
        vec![3, 2, 1],
        "case-insensitive"
    );
    assert_eq!(page(ListKey::Size, true, 0, 10), vec![1, 3, 2]);
    assert_eq!(
        page(ListKey::Date, false, 1, 1),
        vec![3],
        "offset and limit"
    );
    assert!(page(ListKey::Date, false, 3, 10).is_empty());

    let listed = s.listed(inbox, &[3, 1, 9]).expect("listed");
    assert_eq!(listed.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(listed[0].subject, "Beta");
    assert_eq!(listed[0].sender, "carla@pec.test");
    assert_eq!(listed[0].internal_date, 300);
    assert_eq!(listed[0].size, 30);
    assert_eq!(
        listed[0].pec_kind,
        Some(::pec::MessageKind::TransportEnvelope)
    );
    assert_eq!(listed[0].structure.as_deref(), Some("{\"s\":\"Beta\"}"));

    let between: Vec<i64> = s
        .messages_between(inbox, 2, 3)
        .expect("messages_between")
        .into_iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(between, vec![2, 3]);
    let contents = s.contents(inbox, &[3, 2]).expect("contents");
    let mut got: Vec<(i64, Vec<u8>, Option<String>)> = contents
        .into_iter()
        .map(|c| (c.uid, c.data, c.structure))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (2, b"y".repeat(10), Some("{\"s\":\"alfa\"}".into())),
            (3, b"z".repeat(20), Some("{\"s\":\"Gamma\"}".into()))
        ]
    );
    assert!(s.contents(inbox, &[77]).expect("contents").is_empty());

    let stored = s.folder_messages(ALICE, INBOX).expect("folder_messages");
    assert_eq!(stored.len(), 3);
    assert_eq!(
        (
            stored[0].folder.as_str(),
            stored[0].uid,
            stored[0].identificativo.as_deref()
        ),
        (INBOX, 1, Some("ID-1"))
    );
    let same = s
        .messages_with_identificativo(id, "ID-1")
        .expect("messages_with_identificativo");
    assert_eq!(
        same.iter()
            .map(|(f, m)| (f.as_str(), m.uid))
            .collect::<Vec<_>>(),
        vec![(INBOX, 3), (INBOX, 1)],
        "oldest first"
    );
    let bob = mailbox(s, BOB, LARGE_QUOTA);
    assert!(s
        .messages_with_identificativo(bob, "ID-1")
        .expect("messages_with_identificativo")
        .is_empty());
}

fn append_text(s: &dyn Store, address: &str, bytes: &[u8], body: Option<&str>) -> i64 {
    let meta = MessageMeta {
        text: body.map(|b| MessageText {
            subject: "oggetto di prova".into(),
            from: "mario rossi mario@pec.test".into(),
            body: b.into(),
            ..Default::default()
        }),
        ..MessageMeta::default()
    };
    append_meta(s, address, INBOX, bytes, &meta)
}

/// Substring search (RFC 9051 §6.4.4 SEARCH BODY) from the index, per mailbox and column;
/// what is not indexed yet is named for the caller to read.
pub fn text_index_finds_substrings_and_names_the_unindexed(s: &dyn Store) {
    let a = mailbox(s, ALICE, LARGE_QUOTA);
    let b = mailbox(s, BOB, LARGE_QUOTA);
    let inbox = folder_id(s, a, INBOX);
    append_text(
        s,
        ALICE,
        b"1",
        Some("fattura n. 42 del \"saldo\" perché dovuto"),
    );
    append_text(s, ALICE, b"2", Some("nessuna corrispondenza qui"));
    let old = append_text(s, ALICE, b"3", None);
    // Another mailbox with the same words is never in alice's answers.
    append_text(s, BOB, b"1", Some("fattura n. 42 anche qui"));
    let pairs = |v: Vec<crate::FoundMessage>| -> Vec<(FolderId, i64)> {
        v.into_iter().map(|m| (m.folder_id, m.uid)).collect()
    };
    let hits = |needle: &str, f| {
        s.text_search(a, needle, f)
            .expect("text_search")
            .map(|h| (pairs(h.found), pairs(h.unindexed)))
    };
    let just = |found: Vec<i64>| {
        Some((
            found.into_iter().map(|u| (inbox, u)).collect::<Vec<_>>(),
            vec![(inbox, old)],
        ))
    };
    assert_eq!(hits("attura n", TextField::Body), just(vec![1]));
    assert_eq!(hits("\"saldo\"", TextField::Body), just(vec![1]));
    assert_eq!(hits("perché", TextField::Body), just(vec![1]));
    assert_eq!(hits("corrispondenza", TextField::Body), just(vec![2]));
    assert_eq!(
        hits("fattura del", TextField::Body),
        just(vec![]),
        "not adjacent"
    );
    assert_eq!(hits("mario rossi", TextField::Body), just(vec![]));
    assert_eq!(hits("mario rossi", TextField::Anywhere), just(vec![1, 2]));
    assert_eq!(hits("mario rossi", TextField::From), just(vec![1, 2]));
    assert_eq!(hits("mario rossi", TextField::Subject), just(vec![]));
    assert_eq!(hits("di prova", TextField::Subject), just(vec![1, 2]));
    assert_eq!(
        hits("42", TextField::Body),
        None,
        "too short: the caller reads"
    );
    assert_eq!(
        hits("a OR b*", TextField::Body),
        just(vec![]),
        "a needle is text"
    );
    let bob_hits = s
        .text_search(b, "fattura", TextField::Body)
        .expect("text_search")
        .expect("long enough");
    assert_eq!(bob_hits.found.len(), 1);
    assert_ne!(bob_hits.found[0].folder_id, inbox);

    // The message stored without text is indexed later.
    let pending = s.unindexed_texts(10).expect("unindexed_texts");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, a);
    let text = MessageText {
        body: "testo arretrato".into(),
        ..Default::default()
    };
    s.index_texts(&[(pending[0].0, pending[0].1.clone(), text)])
        .expect("index_texts");
    assert!(s.unindexed_texts(10).expect("unindexed_texts").is_empty());
    assert_eq!(
        hits("arretrato", TextField::Body),
        Some((vec![(inbox, old)], vec![]))
    );

    // A copy keeps its text; an expunged message is no longer found; a deleted mailbox's
    // text goes with it.
    let drafts = folder_id(s, a, "Bozze");
    copy(s, inbox, &[1], drafts, false).expect("copy_messages");
    assert_eq!(
        hits("fattura", TextField::Body).expect("long enough").0,
        vec![(inbox, 1), (drafts, 1)]
    );
    s.expunge(inbox, &[1]).expect("expunge");
    assert_eq!(
        hits("fattura", TextField::Body).expect("long enough").0,
        vec![(drafts, 1)]
    );
    s.delete_mailbox(BOB).expect("delete_mailbox");
    assert_eq!(
        s.text_search(b, "fattura", TextField::Body)
            .expect("text_search"),
        Some(TextHits::default())
    );
}
