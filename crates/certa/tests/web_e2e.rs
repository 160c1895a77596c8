//! The webmail against the real server over HTTPS: headless Chromium (Selenium, Debian's
//! chromium and chromium-driver) for the user's journey and hostile HTML, Python's urllib
//! for CSRF and cross-mailbox checks. Each script under tests/clients/ can be rerun by hand
//! with the same arguments.

mod common;

use common::{Node, PASSWORD};
use std::path::PathBuf;
use std::process::Command;

fn run(script: &str, args: &[String]) -> String {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("OK")),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Where screenshots go: kept after the test, to be looked at.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webmail-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn user_journey_in_chromium() {
    let mut a = Node::new("pec.alpha.test", None);
    let recipient = a.mailbox("protocollo");
    let (first, first_password) = a.first_login();
    assert!(!first_password.is_empty(), "{}", a.quickstart);
    a.start();
    let out = screenshots();
    run(
        "webmail_browser.py",
        &[
            a.web_url(),
            first,
            first_password,
            recipient,
            PASSWORD.to_string(),
            out.display().to_string(),
        ],
    );
    for shot in ["main-list.png", "main-columns.png"] {
        let len = std::fs::metadata(out.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 10_000, "{shot} saved ({len} bytes)");
    }
}

#[test]
fn csrf_and_other_mailboxes_refused() {
    let mut a = Node::new("pec.alpha.test", None);
    let (one, two) = (a.mailbox("uno"), a.mailbox("due"));
    a.start();
    run(
        "webmail_security.py",
        &[
            a.web_url(),
            a.ca().display().to_string(),
            (a.base + 4).to_string(),
            one,
            PASSWORD.to_string(),
            two,
            PASSWORD.to_string(),
        ],
    );
}

#[test]
fn hostile_html_runs_no_script_and_loads_nothing() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("bersaglio");
    a.start();
    let out = tempfile::tempdir().unwrap();
    run(
        "webmail_hostile.py",
        &[
            a.web_url(),
            a.ca().display().to_string(),
            (a.base + 4).to_string(),
            user,
            PASSWORD.to_string(),
            out.path().display().to_string(),
        ],
    );
}
