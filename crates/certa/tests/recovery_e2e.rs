//! "Hai dimenticato la password?" (issue 18 item 6) on a running server, over HTTP with the
//! mail read at an ordinary mailbox (tests/clients/password_recovery.py).

mod common;

use common::*;

#[test]
fn a_forgotten_password_is_reset_once_by_the_mailed_link() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    let box_ = "protocollo@pec.alpha.test";
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "add",
            box_,
            "--password",
            PASSWORD,
            "--recovery-email",
            "titolare@example.org",
        ],
    );
    a.start();
    let params = serde_json::json!({
        "web": a.web_url(),
        "ca": a.ca(),
        "box": box_,
        "password": PASSWORD,
        "recovery": "titolare@example.org",
        "sink": sink_dir.path(),
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/password_recovery.py"
    );
    testkit::require_python(&["aiosmtpd"]);
    let out = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "OK"),
        "password_recovery.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same reset in headless Chromium (tests/clients/recovery_browser.py), screenshots
/// kept under the target's temporary directory.
#[test]
fn a_forgotten_password_is_reset_by_the_mailed_link_in_chromium() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    let box_ = "protocollo@pec.alpha.test";
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "add",
            box_,
            "--password",
            PASSWORD,
            "--recovery-email",
            "titolare@example.org",
        ],
    );
    a.start();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recovery-screenshots");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium", "aiosmtpd"]);
    let params = serde_json::json!({
        "web": a.web_url(), "box": box_, "recovery": "titolare@example.org",
        "sink": sink_dir.path(), "out": out,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/recovery_browser.py"
    );
    let run = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.lines().any(|l| l == "OK"),
        "recovery_browser.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
