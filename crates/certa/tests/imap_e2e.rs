//! IMAP against the real server: Python's imaplib drives every command over TLS and
//! STARTTLS (tests/clients/imap_commands.py; rerun it by hand with the same arguments).

mod common;

use common::{Node, PASSWORD};
use std::process::Command;

#[test]
fn imaplib_drives_every_command() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("utente2");
    a.start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/imap_commands.py"
    );
    let out = Command::new("python3")
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
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("sync");
    a.start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/mbsync_sync.py");
    let out = Command::new("python3")
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
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("offline");
    a.start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/offlineimap_sync.py"
    );
    let out = Command::new("python3")
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
    let mut child = Command::new("python3")
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
