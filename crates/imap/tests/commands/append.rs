//! RFC 9051 §6.3.12 APPEND with APPENDUID (RFC 4315) and the size limit (RFC 7889).

use crate::harness::*;

#[test]
fn append_stores_the_bytes_with_their_flags() {
    let s = Server::start();
    let mut c = s.login();
    let message = "Subject: bozza\r\n\r\nTesto della bozza.\r\n";
    c.send(format!("a1 APPEND Bozze (\\Draft \\Seen) {{{}}}\r\n", message.len()).as_bytes());
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(format!("{message}\r\n").as_bytes());
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a1 OK [APPENDUID "), "{tagged}");

    c.ok("SELECT Bozze");
    let r = c.ok("FETCH 1 (FLAGS BODY.PEEK[])");
    assert!(
        r.untagged[0].contains("\\Draft") && r.untagged[0].contains("\\Seen"),
        "{r:?}"
    );
    assert!(r.untagged[0].contains(message), "the very bytes: {r:?}");

    // Over the limit (1 MiB here): refused before a byte is sent, nothing stored.
    let r = c.no(&format!("APPEND Bozze {{{}}}", 2 << 20));
    assert!(r.tagged.contains("[TOOBIG]"), "{r:?}");
    // Into a folder that does not exist: TRYCREATE.
    c.send(
        format!(
            "a2 APPEND Inesistente {{{}+}}\r\n{message}\r\n",
            message.len()
        )
        .as_bytes(),
    );
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a2 NO [TRYCREATE]"), "{tagged}");
    let r = c.ok("STATUS Bozze (MESSAGES)");
    assert!(r.has("MESSAGES 1"), "{r:?}");
}

#[test]
fn binary_bytes_go_out_as_binary_and_never_raw_in_a_body_literal() {
    let s = Server::start();
    let mut c = s.login();
    let message = "Content-Type: application/octet-stream\r\n\
                   Content-Transfer-Encoding: binary\r\n\r\n \0-\u{1}\r\n";
    // RFC 3516 §4.3: a binary literal, NUL included.
    c.send(format!("a1 APPEND INBOX ~{{{}+}}\r\n{message}\r\n", message.len()).as_bytes());
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a1 OK"), "{tagged}");
    c.ok("SELECT INBOX");
    // BINARY gives the bytes themselves, in a binary literal...
    let r = c.ok("FETCH 1 (BINARY.PEEK[1])");
    assert!(r.untagged[0].contains("BINARY[1] ~{"), "{r:?}");
    // ...BODY never puts a NUL in a literal (RFC 9051 §4.3): base64 instead.
    let r = c.ok("FETCH 1 (BODY.PEEK[1])");
    assert!(r.untagged.iter().all(|l| !l.contains('\0')), "{r:?}");
    assert!(r.has("IAAtAQ0K"), "{r:?}");
}

/// A small message with subject `subject`.
fn message(subject: &str) -> String {
    format!("Subject: {subject}\r\n\r\nTesto di {subject}.\r\n")
}

/// One APPEND with several messages sent with LITERAL+ (RFC 7888): `parts` are the
/// arguments before each literal (flags, date), `messages` the literals.
fn multiappend(tag: &str, folder: &str, parts: &[&str], messages: &[String]) -> Vec<u8> {
    let mut cmd = format!("{tag} APPEND {folder}").into_bytes();
    for (part, m) in parts.iter().zip(messages) {
        cmd.extend_from_slice(format!(" {part}{{{}+}}\r\n", m.len()).as_bytes());
        cmd.extend_from_slice(m.as_bytes());
    }
    cmd.extend_from_slice(b"\r\n");
    cmd
}

#[test]
fn multiappend_stores_every_message_in_order_and_answers_one_uid_set() {
    let s = Server::start();
    let mut c = s.login();
    assert!(
        c.ok("CAPABILITY").has(" MULTIAPPEND"),
        "announced (RFC 3502 §3)"
    );
    // Synchronising literals: a `+` for each (RFC 3502 §6.3.11).
    let (m1, m2, m3) = (message("uno"), message("due"), message("tre"));
    c.send(format!("a1 APPEND Bozze (\\Seen) {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(
        format!(
            "{m1} (\\Draft) \" 5-Mar-2024 10:00:00 +0100\" {{{}}}\r\n",
            m2.len()
        )
        .as_bytes(),
    );
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(format!("{m2} {{{}}}\r\n", m3.len()).as_bytes());
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(format!("{m3}\r\n").as_bytes());
    let tagged = c.line().unwrap_or_default();
    // RFC 4315 §3: APPENDUID with the UIDs of all of them as a set.
    assert!(tagged.starts_with("a1 OK [APPENDUID "), "{tagged}");
    assert!(tagged.contains(" 1:3]"), "{tagged}");

    c.ok("SELECT Bozze");
    let r = c.ok("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert_eq!(r.lines("").len(), 3, "{r:?}");
    assert!(
        r.untagged[0].contains("\\Seen") && r.untagged[0].contains("uno"),
        "{r:?}"
    );
    assert!(
        r.untagged[1].contains("\\Draft") && r.untagged[1].contains("due"),
        "{r:?}"
    );
    assert!(
        r.untagged[1].contains("\" 5-Mar-2024 10:00:00 +0100\""),
        "{r:?}"
    );
    let third = &r.untagged[2];
    assert!(
        third.contains("tre") && !third.contains("\\Seen") && !third.contains("\\Draft"),
        "{r:?}"
    );
}

#[test]
fn a_multiappend_with_one_bad_message_appends_nothing() {
    let s = Server::start();
    let mut c = s.login();
    let (m1, m2, m3) = (message("uno"), message("due"), message("tre"));
    let three = [m1.clone(), m2.clone(), m3.clone()];

    // The third literal is over the limit (1 MiB here): refused before it is read, after
    // two were; the command is not run.
    c.send(format!("a1 APPEND Bozze {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(format!("{m1} {{{}}}\r\n", m2.len()).as_bytes());
    assert!(c.line().unwrap_or_default().starts_with("+ "));
    c.send(format!("{m2} {{{}}}\r\n", 2 << 20).as_bytes());
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a1 NO [TOOBIG]"), "{tagged}");

    // A flag that is no flag, a date that is no date, a syntax error in the 2nd message.
    for (tag, parts) in [
        ("a2", ["", "(\\Bogus) ", ""]),
        ("a3", ["", "\"31-Feb-2024 99:00:00 +0100\" ", ""]),
        ("a4", ["", "(\\Seen ", ""]),
    ] {
        c.send(&multiappend(tag, "Bozze", &parts, &three));
        let tagged = c.line().unwrap_or_default();
        assert!(tagged.starts_with(&format!("{tag} BAD")), "{tagged}");
    }
    // A folder that does not exist: TRYCREATE, nothing anywhere.
    c.send(&multiappend("a5", "Inesistente", &["", "", ""], &three));
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a5 NO [TRYCREATE]"), "{tagged}");
    let r = c.ok("STATUS Bozze (MESSAGES)");
    assert!(r.has("MESSAGES 0"), "nothing appended: {r:?}");

    // More messages than one APPEND may hold: refused at the first literal too many.
    let mut cmd = format!("a6 APPEND Bozze {{{}}}\r\n", m1.len());
    for _ in 0..100 {
        c.send(cmd.as_bytes());
        assert!(c.line().unwrap_or_default().starts_with("+ "), "{cmd}");
        cmd = format!("{m1} {{{}}}\r\n", m1.len());
    }
    c.send(cmd.as_bytes());
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a6 NO [LIMIT]"), "{tagged}");
    let r = c.ok("STATUS Bozze (MESSAGES)");
    assert!(r.has("MESSAGES 0"), "nothing appended: {r:?}");

    // The connection is still good, and the same three go in.
    c.send(&multiappend("a7", "Bozze", &["", "", ""], &three));
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a7 OK [APPENDUID "), "{tagged}");
    let r = c.ok("STATUS Bozze (MESSAGES)");
    assert!(r.has("MESSAGES 3"), "{r:?}");
}

#[test]
fn a_multiappend_over_quota_appends_nothing_and_a_pipelined_append_beside_it_stands() {
    let s = Server::start();
    let mut c = s.login();
    let (m1, m2) = (message("uno"), message("due"));
    // Room for one of them, not for both.
    let room = m1.len() + m2.len() / 2;
    s.test.provider.store.set_quota(USER, room as i64).unwrap();
    c.send(&multiappend(
        "a1",
        "Bozze",
        &["", ""],
        &[m1.clone(), m2.clone()],
    ));
    let tagged = c.line().unwrap_or_default();
    assert!(tagged.starts_with("a1 NO [OVERQUOTA]"), "{tagged}");
    let r = c.ok("STATUS Bozze (MESSAGES)");
    assert!(r.has("MESSAGES 0"), "all or none: {r:?}");

    // Pipelined (one commit for the batch): the MULTIAPPEND that does not fit fails
    // whole, the single APPEND after it is stored.
    let mut both = multiappend("a2", "Bozze", &["", ""], &[m1.clone(), m2]);
    both.extend(multiappend("a3", "Bozze", &[""], std::slice::from_ref(&m1)));
    c.send(&both);
    let first = c.line().unwrap_or_default();
    let second = c.line().unwrap_or_default();
    assert!(first.starts_with("a2 NO [OVERQUOTA]"), "{first}");
    assert!(second.starts_with("a3 OK [APPENDUID "), "{second}");
    c.ok("SELECT Bozze");
    let r = c.ok("FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert_eq!(r.lines("").len(), 1, "{r:?}");
    assert!(r.untagged[0].contains("uno"), "{r:?}");
}
