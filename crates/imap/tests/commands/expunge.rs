//! RFC 9051 §6.4.3 EXPUNGE, §6.4.2 CLOSE and the EXPUNGE responses other sessions get
//! (§7.5.1), as imaptest's `expunge` and `expunge2` groups check them.

use crate::harness::*;

#[test]
fn expunge_reports_each_removed_message_to_this_session_and_the_others() {
    let s = Server::start();
    for subject in ["uno", "due", "tre", "quattro"] {
        s.deliver("INBOX", subject);
    }
    let mut one = s.select("INBOX");
    let mut two = s.select("INBOX");
    // System flags are case-insensitive (RFC 9051 §2.3.2): `\deleted` is `\Deleted`.
    one.ok("STORE 1,3 FLAGS (\\deleted)");
    one.ok("STORE 2,4 FLAGS (\\seen)");
    let r = one.ok("EXPUNGE");
    // Highest first or not, each number is right when the client reads it: 3 then 1.
    assert_eq!(expunges(&r), vec!["* 3 EXPUNGE", "* 1 EXPUNGE"], "{r:?}");

    // The other session hears of them at CHECK, not during FETCH.
    let r = two.ok("FETCH 2,4 (UID)");
    assert!(expunges(&r).is_empty(), "{r:?}");
    let r = two.ok("CHECK");
    assert_eq!(expunges(&r), vec!["* 3 EXPUNGE", "* 1 EXPUNGE"], "{r:?}");
    let r = two.ok("FETCH 1:2 (UID FLAGS)");
    assert_eq!(r.untagged.len(), 2, "{r:?}");
    assert!(r.untagged[0].contains("UID 2 FLAGS (\\Seen)"), "{r:?}");
}

/// The `* n EXPUNGE` lines of a response, in order.
fn expunges(r: &Response) -> Vec<&str> {
    r.untagged
        .iter()
        .map(String::as_str)
        .filter(|l| l.ends_with(" EXPUNGE"))
        .collect()
}
