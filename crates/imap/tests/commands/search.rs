//! RFC 9051 §6.4.4 SEARCH and UID SEARCH; SORT (RFC 5256) with ESORT and SORT=DISPLAY (RFC 5267).

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

/// Five messages whose senders sort differently by address, by display name and by arrival.
fn senders(s: &Server) {
    for from in [
        "\"Zeta Rossi\" <a@pec.example.test>",
        "b@pec.example.test",
        "=?iso-8859-1?q?Anna_Bianchi?= <z@pec.example.test>",
        "gruppo: c@pec.example.test, d@pec.example.test;",
        "Mario Verdi <y@pec.example.test>",
    ] {
        s.deliver_raw("INBOX", &format!("From: {from}\r\nTo: {from}\r\n\r\nx\r\n"));
    }
}

#[test]
fn sort_display_orders_by_the_decoded_display_name_or_the_address() {
    let s = Server::start();
    senders(&s);
    let mut c = s.select("INBOX");
    assert!(c.ok("CAPABILITY").has(" SORT=DISPLAY"), "announced");
    // RFC 5267 §4: "Anna Bianchi" (decoded), "b@…" (no name: the address), "gruppo"
    // (a group: its name), "Mario Verdi", "Zeta Rossi".
    let r = c.ok("SORT (DISPLAYFROM) UTF-8 ALL");
    assert_eq!(r.lines("SORT"), vec!["SORT 3 2 4 5 1"], "{r:?}");
    let r = c.ok("SORT (REVERSE DISPLAYTO) UTF-8 ALL");
    assert_eq!(r.lines("SORT"), vec!["SORT 1 5 4 2 3"], "{r:?}");
    // FROM sorts by the mailbox (RFC 5256 §3): a, b, gruppo, y, z.
    let r = c.ok("SORT (FROM) UTF-8 ALL");
    assert_eq!(r.lines("SORT"), vec!["SORT 1 2 4 5 3"], "{r:?}");
}

/// What an ESEARCH response of the command `r` answers, after its `(TAG "…")`.
fn esearch(r: &Response) -> String {
    let tag = r.tagged.split(' ').next().unwrap_or_default();
    let lines = r.lines("ESEARCH");
    assert_eq!(lines.len(), 1, "{r:?}");
    let prefix = format!("ESEARCH (TAG \"{tag}\")");
    let rest = lines[0].strip_prefix(&prefix);
    rest.unwrap_or_else(|| panic!("{r:?}")).trim().to_string()
}

#[test]
fn esort_answers_min_max_count_and_all_in_the_sort_order() {
    let s = Server::start();
    // UIDs 2..=6 for sequence numbers 1..=5.
    s.deliver("INBOX", "da cancellare");
    senders(&s);
    let mut c = s.select("INBOX");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert!(c.ok("CAPABILITY").has(" ESORT"), "announced");
    // RFC 5267 §3.2: MIN and MAX are the first and last in the sort order, ALL keeps it.
    let r = c.ok("SORT RETURN (MIN MAX COUNT ALL) (DISPLAYFROM) UTF-8 ALL");
    assert_eq!(esearch(&r), "MIN 3 MAX 1 COUNT 5 ALL 3,2,4:5,1");
    let r = c.ok("UID SORT RETURN (ALL MIN) (REVERSE DISPLAYFROM) UTF-8 ALL");
    assert_eq!(esearch(&r), "UID MIN 2 ALL 2,6,5,3:4");
    // `RETURN ()` is ALL; nothing matching leaves MIN, MAX and ALL out, COUNT is 0.
    let r = c.ok("SORT RETURN () (ARRIVAL) UTF-8 ALL");
    assert_eq!(esearch(&r), "ALL 1:5");
    let r = c.ok("SORT RETURN (MIN MAX COUNT ALL) (ARRIVAL) UTF-8 SUBJECT nessuno");
    assert_eq!(esearch(&r), "COUNT 0");
    assert!(
        r.lines("SORT").is_empty(),
        "no SORT response with RETURN: {r:?}"
    );

    // Options nobody announced (CONTEXT=SORT, SEARCHRES), unknown ones and unknown sort
    // keys are BAD.
    for command in [
        "SORT RETURN (PARTIAL 1:2) (ARRIVAL) UTF-8 ALL",
        "SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL",
        "SORT RETURN (MINIMO) (ARRIVAL) UTF-8 ALL",
        "SEARCH RETURN (UPDATE) ALL",
        "SORT (DISPLAYNAME) UTF-8 ALL",
    ] {
        c.bad(command);
    }
}
