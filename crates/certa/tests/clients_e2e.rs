//! The client set-up (issue 18 item 8) on a running server, read the way mail clients read
//! it (tests/clients/client_setup.py): Thunderbird's autoconfig, Outlook's autodiscover, the
//! Apple profile and the page, checked against certa.toml's `[listen]` and proved by logging
//! in on every port they advertise.

mod common;

use common::*;

#[test]
fn autoconfig_autodiscover_and_the_profile_match_listen() {
    let mut a = Node::new("pec.alpha.test", None);
    let box_ = a.mailbox("protocollo");
    a.start();
    let params = serde_json::json!({
        "web": a.web_url(),
        "ca": a.ca(),
        "toml": a.data().join("certa.toml"),
        "box": box_,
        "password": PASSWORD,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/client_setup.py");
    let out = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "OK"),
        "client_setup.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
