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
