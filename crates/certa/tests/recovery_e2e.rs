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
