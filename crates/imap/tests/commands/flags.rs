//! RFC 9051 §6.4.6 STORE and the flags FETCH reports.

use crate::harness::*;

#[test]
fn store_sets_and_clears_flags_silently_or_not() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    let mut c = s.select("INBOX");
    let r = c.ok("STORE 1 +FLAGS (\\Seen \\Flagged)");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
    assert!(r.untagged[0].starts_with("* 1 FETCH (FLAGS ("), "{r:?}");
    assert!(r.untagged[0].contains("\\Seen") && r.untagged[0].contains("\\Flagged"));

    let r = c.ok("STORE 1 -FLAGS.SILENT (\\Flagged)");
    assert!(r.untagged.is_empty(), "{r:?}");
    let r = c.ok("UID FETCH 1 FLAGS");
    assert!(r.untagged[0].contains("\\Seen") && !r.untagged[0].contains("\\Flagged"));

    // Another session sees the change (the flags are stored, not kept per session).
    let mut other = s.select("INBOX");
    let r = other.ok("FETCH 1 FLAGS");
    assert!(r.untagged[0].contains("\\Seen"), "{r:?}");

    // A message number past the end is refused and changes nothing.
    c.bad("STORE 2 +FLAGS (\\Deleted)");
    let r = c.ok("FETCH 1 FLAGS");
    assert!(!r.untagged[0].contains("\\Deleted"), "{r:?}");
}

#[test]
fn fetch_of_the_body_marks_it_seen_but_peek_does_not() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    let mut c = s.select("INBOX");
    let r = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(r.untagged[0].contains("Subject: uno"), "{r:?}");
    let r = c.ok("FETCH 1 FLAGS");
    assert!(!r.untagged[0].contains("\\Seen"), "{r:?}");
    let r = c.ok("FETCH 1 BODY[TEXT]");
    assert!(
        r.untagged.iter().any(|l| l.contains("Testo di uno.")),
        "{r:?}"
    );
    let r = c.ok("FETCH 1 FLAGS");
    assert!(r.untagged[0].contains("\\Seen"), "{r:?}");
}

#[test]
fn a_new_keyword_is_announced_in_flags_before_any_fetch_shows_it() {
    let s = Server::start();
    s.deliver("INBOX", "uno");
    let mut c = s.select("INBOX");
    let mut other = s.select("INBOX");
    // RFC 9051 §7.3.5: FLAGS (and PERMANENTFLAGS) name $Lavoro before a FETCH carries it.
    let r = c.ok("STORE 1 +FLAGS ($Lavoro)");
    let flags = r.untagged.iter().position(|l| l.starts_with("* FLAGS ("));
    let fetch = r.untagged.iter().position(|l| l.contains("FETCH"));
    assert!(flags.is_some() && flags < fetch, "{r:?}");
    assert!(r.untagged[flags.unwrap_or(0)].contains("$Lavoro"), "{r:?}");
    assert!(r.has("PERMANENTFLAGS (") && r.has("$Lavoro \\*)]"), "{r:?}");
    // Told once: setting it again announces nothing new.
    let r = c.ok("STORE 1 FLAGS ($Lavoro \\Seen)");
    assert!(!r.has("* FLAGS ("), "{r:?}");

    // The other session is told the same way when it hears of the change.
    let r = other.ok("NOOP");
    let flags = r.untagged.iter().position(|l| l.starts_with("* FLAGS ("));
    let fetch = r.untagged.iter().position(|l| l.contains("FETCH"));
    assert!(flags.is_some() && flags < fetch, "{r:?}");

    // A new session is told before its first FETCH that shows it.
    let mut third = s.select("INBOX");
    let r = third.ok("FETCH 1 FLAGS");
    let flags = r.untagged.iter().position(|l| l.starts_with("* FLAGS ("));
    let fetch = r.untagged.iter().position(|l| l.contains("FETCH"));
    assert!(flags.is_some() && flags < fetch, "{r:?}");
    assert!(r.has("$Lavoro)"), "{r:?}");
}
