//! IMAP against the real server: Python's imaplib drives every command over TLS and
//! STARTTLS (tests/clients/imap_commands.py; rerun it by hand with the same arguments).

mod common;

use common::{Node, PASSWORD};

#[test]
fn imaplib_drives_every_command() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("utente2");
    a.start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/imap_commands.py"
    );
    let out = testkit::tool("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg((a.base + 3).to_string())
        .arg((a.base + 4).to_string())
        .arg(a.ca())
        .arg(&user)
        .arg(PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{stdout}\n{stderr}"
    );
}

/// mbsync (isync) syncs a 1,000-message mailbox both ways: new messages, flags, deletions
/// and a new folder (tests/clients/mbsync_sync.py writes the mbsyncrc it runs).
#[test]
fn mbsync_syncs_both_ways() {
    testkit::require(&["mbsync"]);
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("sync");
    a.start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/mbsync_sync.py");
    let out = testkit::tool("python3")
        .arg(script)
        .arg(work.path())
        .arg((a.base + 4).to_string())
        .arg(a.ca())
        .arg(&user)
        .arg(PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK 999"),
        "{stdout}\n{stderr}"
    );
}

/// offlineimap3 syncs both ways (tests/clients/offlineimap_sync.py writes its rc file).
#[test]
fn offlineimap_syncs() {
    testkit::require(&["offlineimap"]);
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("offline");
    a.start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/offlineimap_sync.py"
    );
    let out = testkit::tool("python3")
        .arg(script)
        .arg(work.path())
        .arg((a.base + 4).to_string())
        .arg(a.ca())
        .arg(&user)
        .arg(PASSWORD)
        .env("HOME", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{stdout}\n{stderr}"
    );
}

/// IDLE wakes when a PEC message is delivered through SMTP: from the submitter's `250` to
/// the idling client's EXISTS in under a second.
#[test]
fn idle_wakes_on_smtp_delivery() {
    use std::io::{BufRead, BufReader, Write};
    let mut a = Node::new("pec.alpha.test", None);
    let sender = a.mailbox("mittente");
    let rcpt = a.mailbox("destinatario");
    a.start();
    let script = r#"
import imaplib, ssl, sys, time
port, ca, user, password = sys.argv[1:5]
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, password)
m.select("INBOX")
m.send(b"I IDLE\r\n")
assert m.readline().startswith(b"+")
print("IDLING", flush=True)
sys.stdin.readline()  # the message was submitted
t0 = time.time()
m.sock.settimeout(5)
line = m.readline()
print("GOT", line.decode().strip(), round(time.time() - t0, 3), flush=True)
"#;
    let mut child = testkit::tool("python3")
        .arg("-c")
        .arg(script)
        .arg((a.base + 4).to_string())
        .arg(a.ca())
        .arg(&rcpt)
        .arg(PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "IDLING");
    let msg = format!("From: {sender}\r\nTo: {rcpt}\r\nSubject: sveglia\r\n\r\nciao\r\n");
    let r = common::python_submit(
        a.submissions_port(),
        &a.ca(),
        &sender,
        &sender,
        &[&rcpt],
        msg.as_bytes(),
    );
    assert_eq!(r, "OK");
    writeln!(child.stdin.take().unwrap()).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    child.wait().unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[..3], ["GOT", "*", "1"], "{line}");
    assert_eq!(parts[3], "EXISTS", "{line}");
    let secs: f64 = parts[4].parse().unwrap();
    assert!(secs < 1.0, "EXISTS {secs} s after the 250");
}

/// BODY searches give the same answers from the full-text index and without it: right
/// after the APPENDs, once the background indexer has caught up, and with the index emptied
/// behind the server's back until it indexes them again (tests/clients/imap_search_index.py).
#[test]
fn body_search_answers_the_same_from_the_index_and_without_it() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("ricerca");
    a.start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/imap_search_index.py"
    );
    let run = |a: &Node, append: bool| -> String {
        let mut cmd = testkit::tool("python3");
        cmd.arg(script)
            .arg((a.base + 4).to_string())
            .arg(a.ca())
            .arg(&user)
            .arg(PASSWORD);
        if append {
            cmd.arg("--append");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let sql = |a: &Node, q: &str| -> String {
        let out = testkit::tool("sqlite3")
            .arg(a.data().join("certa.db"))
            .arg(q)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let expected = "\
BODY \"fattura n. 42\" => 1
BODY 42 => 1
CHARSET UTF-8 BODY \"PERCHÉ\" => 2
BODY risponde => 2
BODY ZANZIBAR => 3
BODY annullata => 4
BODY segretissimo => 
BODY \"contratto firmato\" => 6
BODY certificata => 6
OR BODY zanzibar BODY contratto => 3 6
NOT BODY zanzibar => 1 2 4 5 6
SUBJECT riunione BODY annullata => 4
TEXT fattura => 1
TEXT ufficio@pec => 1
";
    // Right after the APPENDs the background indexer may not have caught up: the
    // answers are the same either way.
    assert_eq!(run(&a, true), expected, "just appended");
    let indexed = "SELECT count(*) FROM messages WHERE text_id IS NOT NULL";
    let wait_indexed = |a: &Node, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while sql(a, indexed) != "6" {
            assert!(std::time::Instant::now() < deadline, "not indexed {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_indexed(&a, "by the background indexer");
    assert_eq!(run(&a, false), expected, "from the index");

    // The index emptied behind the server's back: read, until the indexer takes them
    // again (it looks every second), then from the index.
    a.kill();
    sql(&a, "UPDATE messages SET text_id = NULL");
    a.start();
    assert_eq!(run(&a, false), expected, "read, or indexed meanwhile");
    wait_indexed(&a, "again");
    assert_eq!(run(&a, false), expected, "indexed again");
}
