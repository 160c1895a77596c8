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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/offlineimap_sync.py");
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
