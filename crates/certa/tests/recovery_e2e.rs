//! "Hai dimenticato la password?" (issue 18 item 6) on a running server, over HTTP with the
//! mail read at an ordinary mailbox (tests/clients/password_recovery.py).

mod common;

use common::*;

const BOX: &str = "protocollo@pec.alpha.test";

/// A running provider whose box [`BOX`] has a recovery address at the sink's domain.
fn started_with_recovery_box() -> (Node, Sink) {
    let mut a = Node::new("pec.alpha.test", None);
    let sink = example_org_sink(&a);
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "add",
            BOX,
            "--password",
            PASSWORD,
            "--recovery-email",
            "titolare@example.org",
        ],
    );
    a.start();
    (a, sink)
}

#[test]
fn a_forgotten_password_is_reset_once_by_the_mailed_link() {
    let (a, sink) = started_with_recovery_box();
    let params = serde_json::json!({
        "web": a.web_url(),
        "ca": a.ca(),
        "box": BOX,
        "password": PASSWORD,
        "recovery": "titolare@example.org",
        "sink": sink.dir.path(),
    });
    run_flow("password_recovery.py", &params);
}

/// The same reset in headless Chromium (tests/clients/recovery_browser.py), screenshots
/// kept under the target's temporary directory.
#[test]
fn a_forgotten_password_is_reset_by_the_mailed_link_in_chromium() {
    let (a, sink) = started_with_recovery_box();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recovery-screenshots");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium", "aiosmtpd"]);
    let params = serde_json::json!({
        "web": a.web_url(), "box": BOX, "recovery": "titolare@example.org",
        "sink": sink.dir.path(), "out": out,
    });
    run_flow("recovery_browser.py", &params);
}
