//! RFC 9051 §6.4.4 SEARCH and UID SEARCH.

use crate::harness::*;

#[test]
fn search_by_header_text_and_flags() {
    let s = Server::start();
    s.deliver("INBOX", "contratto");
    s.deliver("INBOX", "fattura");
    s.deliver("INBOX", "sollecito");
    let mut c = s.select("INBOX");
    c.ok("STORE 3 +FLAGS.SILENT (\\Seen)");
    let r = c.ok("SEARCH SUBJECT fattura");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 2", "{r:?}");
    let r = c.ok("SEARCH BODY \"Testo di contratto\"");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1", "{r:?}");
    let r = c.ok("UID SEARCH UNSEEN");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1 2", "{r:?}");
    let r = c.ok("SEARCH NOT SEEN SUBJECT sollecito");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH", "{r:?}");
    c.bad("SEARCH (((");
}

#[test]
fn address_keys_see_through_comments_and_a_set_to_4294967295_is_not_star() {
    let s = Server::start();
    s.deliver_raw(
        "INBOX",
        "From: <user-from (commento)@ (commento) domain.org>\r\nSubject: a\r\n\r\nx\r\n",
    );
    s.deliver_raw("INBOX", "From: altro@domain.org\r\nSubject: b\r\n\r\nx\r\n");
    let mut c = s.select("INBOX");
    let r = c.ok("SEARCH FROM user-from@domain.org");
    assert_eq!(r.lines("SEARCH"), vec!["SEARCH 1"], "{r:?}");

    // UIDNEXT:4294967295 names no message; UIDNEXT:* names the last one (RFC 9051 §9).
    let r = c.ok("UID SEARCH UID 3:4294967295");
    assert_eq!(r.lines("SEARCH"), vec!["SEARCH"], "{r:?}");
    let r = c.ok("UID SEARCH UID 3:*");
    assert_eq!(r.lines("SEARCH"), vec!["SEARCH 2"], "{r:?}");
}

#[test]
fn condstore_turned_on_by_a_command_is_told_highestmodseq_and_esearch_max_its_modseq() {
    let s = Server::start();
    for subject in ["uno", "due", "tre"] {
        s.deliver("INBOX", subject);
    }
    let mut c = s.select("INBOX");
    // RFC 7162 §3.1: the first CONDSTORE-enabling command gets HIGHESTMODSEQ.
    let r = c.ok("FETCH 1 MODSEQ");
    assert!(r.has("* OK [HIGHESTMODSEQ "), "{r:?}");
    let r = c.ok("FETCH 1 MODSEQ");
    assert!(!r.has("HIGHESTMODSEQ"), "told once: {r:?}");
    // STORE answers carry MODSEQ from then on.
    let r = c.ok("STORE 3 +FLAGS (\\Seen)");
    let m3: i64 = modseq_of(&r.untagged[0]);
    let r = c.ok("STORE 1 +FLAGS (\\Seen)");
    let m1: i64 = modseq_of(&r.untagged[0]);
    assert!(m1 > m3, "{m1} {m3}");
    // MAX names message 3: its MODSEQ, not the highest of every match.
    let r = c.ok("SEARCH RETURN (MAX) 1:3 MODSEQ 1");
    assert!(r.has(&format!("MAX 3 MODSEQ {m3}")), "{r:?}");
    let r = c.ok("SEARCH RETURN (ALL) 1:3 MODSEQ 1");
    assert!(r.has(&format!("MODSEQ {m1}")), "{r:?}");
}

fn modseq_of(line: &str) -> i64 {
    line.split("MODSEQ (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn sort_by_subject_uses_the_base_subject_and_ascii_casemap() {
    let s = Server::start();
    for subject in ["[xyz]", "b", "Re: [lista] Fwd: a (fwd)", "_"] {
        s.deliver_raw("INBOX", &format!("Subject: {subject}\r\n\r\nx\r\n"));
    }
    let mut c = s.select("INBOX");
    // a, b, then `[xyz]` and `_`: upper-cased, the brackets sort after the letters.
    let r = c.ok("SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(r.lines("SORT"), vec!["SORT 3 2 1 4"], "{r:?}");
    let r = c.ok("SORT (REVERSE SUBJECT) UTF-8 ALL");
    assert_eq!(r.lines("SORT"), vec!["SORT 4 1 2 3"], "{r:?}");
}
