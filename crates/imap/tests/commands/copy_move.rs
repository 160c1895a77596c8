//! RFC 9051 §6.4.7 COPY, §6.4.8 MOVE (RFC 6851), §6.4.3 EXPUNGE, with UIDPLUS codes
//! (RFC 4315).

use crate::harness::*;

#[test]
fn copy_and_move_answer_with_copyuid_and_move_expunges() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    s.deliver("INBOX", "due");
    let mut c = s.select("INBOX");
    let r = c.ok("COPY 1 Cestino");
    assert!(r.tagged.contains("[COPYUID "), "{r:?}");
    let r = c.ok("STATUS Cestino (MESSAGES)");
    assert_eq!(r.lines("STATUS Cestino (MESSAGES 1)").len(), 1, "{r:?}");

    let r = c.ok("UID MOVE 2 Bozze");
    assert!(r.has("[COPYUID "), "{r:?}");
    assert_eq!(r.lines("2 EXPUNGE").len(), 1, "{r:?}");
    let r = c.ok("SEARCH ALL");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1", "{r:?}");

    // Into a folder that does not exist: refused with TRYCREATE, and nothing moves.
    let r = c.no("MOVE 1 Inesistente");
    assert!(r.tagged.contains("[TRYCREATE]"), "{r:?}");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(r.has("MESSAGES 1"), "{r:?}");
}

#[test]
fn expunge_removes_only_deleted_messages() {
    let s = Server::start();
    for subject in ["uno", "due", "tre"] {
        s.deliver("INBOX", subject);
    }
    let mut c = s.select("INBOX");
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("EXPUNGE");
    assert_eq!(r.untagged, vec!["* 2 EXPUNGE".to_string()], "{r:?}");
    let r = c.ok("UID SEARCH ALL");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1 3", "{r:?}");
}

#[test]
fn move_into_the_same_folder_gives_new_uids() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    let mut c = s.select("INBOX");
    // RFC 6851 §3.3: the message is moved, so it gets the folder's next UID.
    let r = c.ok("MOVE 1 INBOX");
    assert!(r.has("[COPYUID ") && r.has(" 1 2]"), "{r:?}");
    assert!(r.has("* 1 EXPUNGE"), "{r:?}");
    let r = c.ok("UID FETCH 1:* (UID)");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
    assert!(r.untagged[0].contains("UID 2"), "{r:?}");
}
