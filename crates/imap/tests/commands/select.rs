//! RFC 9051 §6.3.2–6.3.3: SELECT and EXAMINE, with the responses a client builds its
//! view from.

use crate::harness::*;

#[test]
fn select_reports_the_folder_and_examine_is_read_only() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    s.deliver("INBOX", "due");
    let mut c = s.login();
    let r = c.ok("SELECT INBOX");
    assert!(r.tagged.contains("[READ-WRITE]"), "{r:?}");
    assert_eq!(r.lines("2 EXISTS").len(), 1, "{r:?}");
    assert_eq!(r.lines("FLAGS (").len(), 1, "{r:?}");
    for code in [
        "[PERMANENTFLAGS (",
        "[UIDVALIDITY ",
        "[UIDNEXT 3]",
        "[UNSEEN 1]",
    ] {
        assert!(r.has(code), "{code} missing: {r:?}");
    }
    // RFC 3501 §2.3.1.2: the messages are \Recent for the first session only.
    assert_eq!(r.lines("2 RECENT").len(), 1, "{r:?}");

    let r = c.ok("EXAMINE INBOX");
    assert!(r.tagged.contains("[READ-ONLY]"), "{r:?}");
    assert_eq!(r.lines("0 RECENT").len(), 1, "{r:?}");
    let r = c.no("STORE 1 +FLAGS (\\Seen)");
    assert!(r.tagged.contains("[READ-ONLY]"), "{r:?}");
    c.no("EXPUNGE");
    // Nothing changed: the message is still unread.
    let r = c.ok("FETCH 1 FLAGS");
    assert!(!r.untagged[0].contains("\\Seen"), "{r:?}");
}

#[test]
fn a_missing_folder_leaves_no_folder_selected() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    let mut c = s.select("INBOX");
    c.ok("FETCH 1 UID");
    let r = c.no("SELECT Inesistente");
    assert!(r.tagged.contains("[NONEXISTENT]"), "{r:?}");
    // RFC 9051 §6.3.2: a failed SELECT closes the folder that was selected.
    c.bad("FETCH 1 UID");
}

#[test]
fn examine_shows_recent_messages_without_claiming_them() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    s.deliver("INBOX", "due");
    let mut c = s.login();
    let r = c.ok("EXAMINE INBOX");
    assert!(r.has("* 2 RECENT"), "{r:?}");
    // Not claimed: the next SELECT still has them as \Recent.
    let r = c.ok("SELECT INBOX");
    assert!(r.has("* 2 RECENT"), "{r:?}");
    let mut other = s.login();
    let r = other.ok("EXAMINE INBOX");
    assert!(r.has("* 0 RECENT"), "claimed by the SELECT: {r:?}");
}

#[test]
fn a_tilde_not_before_a_brace_is_part_of_an_atom() {
    let s = Server::start();
    let mut c = s.login();
    c.ok("CREATE ~progetti");
    let r = c.ok("LIST \"\" ~progetti");
    assert!(r.has("~progetti"), "{r:?}");
    c.ok("SELECT ~progetti");
}
