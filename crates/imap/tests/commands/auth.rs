//! RFC 9051 §6.1–6.2: CAPABILITY, LOGIN, LOGOUT, and what needs a login first.

use crate::harness::*;

#[test]
fn capabilities_change_with_login_and_credentials_are_checked() {
    let s = Server::start();
    let mut c = s.connect();
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY "),
        "{}",
        c.greeting
    );
    let r = c.ok("CAPABILITY");
    assert!(r.lines("CAPABILITY")[0].contains("IMAP4rev2"), "{r:?}");

    // A command of the authenticated state before LOGIN.
    c.bad("SELECT INBOX");
    let r = c.no(&format!("LOGIN {USER} sbagliata"));
    assert!(r.tagged.contains("[AUTHENTICATIONFAILED]"), "{r:?}");
    // An unknown mailbox gets the same answer: whether it exists is not told.
    let r = c.no(&format!("LOGIN nessuno@pec.example.test \"{PASSWORD}\""));
    assert!(r.tagged.contains("[AUTHENTICATIONFAILED]"), "{r:?}");

    let r = c.ok(&format!("LOGIN {USER} \"{PASSWORD}\""));
    assert!(r.tagged.contains("[CAPABILITY "), "{r:?}");
    let caps = c.ok("CAPABILITY");
    let caps = caps.lines("CAPABILITY")[0];
    for cap in ["UIDPLUS", "MOVE", "SPECIAL-USE", "CONDSTORE", "QUOTA"] {
        assert!(caps.contains(cap), "{cap} missing in {caps}");
    }
    // Logged in once, LOGIN is out of place.
    c.bad(&format!("LOGIN {USER} \"{PASSWORD}\""));
    let r = c.ok("LOGOUT");
    assert_eq!(r.lines("BYE").len(), 1, "{r:?}");
}

#[test]
fn the_third_failed_login_closes_the_connection() {
    let s = Server::start();
    let mut c = s.connect();
    c.no(&format!("LOGIN {USER} sbagliata1"));
    c.no(&format!("LOGIN {USER} sbagliata2"));
    c.no(&format!("LOGIN {USER} sbagliata3"));
    c.send(b"x NOOP\r\n");
    let bye = c.line().unwrap_or_default();
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert_eq!(c.line(), None, "closed after the BYE");
    // The holder still gets in on a new connection.
    s.login().ok("NOOP");
}

#[test]
fn many_sessions_of_one_user_logging_in_at_once_all_get_in() {
    let s = Server::start();
    // A mail client opens several connections at once (Thunderbird up to 5), an office
    // behind one address more: each waits its turn instead of being refused.
    let results: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    let mut c = s.connect();
                    c.transact("OK", &format!("LOGIN {USER} \"{PASSWORD}\""))
                        .tagged
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for r in &results {
        assert!(r.contains(" OK "), "{results:?}");
    }
    // Parallel guessing is still held to the limit: wrong passwords from one address are
    // checked ten at a time at most, and then refused.
    let refused = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let mut c = s.connect();
                    c.transact("NO", &format!("LOGIN {USER} sbagliata")).tagged
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .filter(|t| t.contains("[UNAVAILABLE]"))
            .count()
    });
    assert!(refused >= 10, "{refused} refused of 20");
}
