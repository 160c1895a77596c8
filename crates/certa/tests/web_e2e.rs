//! The webmail against the real server over HTTPS: headless Chromium (Selenium, Debian's
//! chromium and chromium-driver) for the user's journey and hostile HTML, Python's urllib
//! for CSRF and cross-mailbox checks. Each script under tests/clients/ can be rerun by hand
//! with the same arguments.

mod common;

use common::{Node, PASSWORD};
use std::path::PathBuf;

fn run(script: &str, args: &[String]) -> String {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium"]);
    let out = testkit::tool("python3")
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
    for shot in ["folders.png", "main-list.png", "main-columns.png"] {
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

/// Sessions live in the store: they survive a restart, only a hash of the token is kept,
/// and a new password (changed in the webmail, or reset by the operator) ends the
/// mailbox's other sessions (tests/clients/webmail_sessions.py).
#[test]
fn sessions_survive_a_restart_and_end_with_the_password() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("sessioni");
    a.start();
    let state = a.data().join("sessions.json");
    let phase = |a: &Node, phase: &str| {
        run(
            "webmail_sessions.py",
            &[
                a.web_url(),
                a.ca().display().to_string(),
                user.clone(),
                PASSWORD.to_string(),
                state.display().to_string(),
                phase.to_string(),
            ],
        )
    };
    phase(&a, "login");
    let cookies = std::fs::read_to_string(&state).unwrap();
    let stored = testkit::tool("sqlite3")
        .arg(a.data().join("certa.db"))
        .arg("SELECT token_hash FROM web_sessions ORDER BY token_hash")
        .output()
        .unwrap();
    let stored = String::from_utf8(stored.stdout).unwrap();
    assert_eq!(stored.lines().count(), 2, "{stored}");
    for hash in stored.lines() {
        assert!(!cookies.contains(hash), "the token itself is stored");
    }
    // Each stored value is the SHA-256 of one cookie's token.
    let token = cookies.split("certa_session=").nth(1).unwrap();
    let token = &token[..64];
    let digest = openssl::sha::sha256(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert!(stored.lines().any(|h| h == hex), "{stored}");

    a.kill();
    a.start();
    phase(&a, "survive");
    common::certa_ok(
        a.data(),
        &["mailbox", "passwd", &user, "--password", "Reimpostata#77"],
    );
    phase(&a, "ended");
}

/// `[web] proxy`: plain HTTP behind a TLS-terminating proxy, which alone may connect; the
/// client's address comes from `X-Forwarded-For` (tests/clients/webmail_proxy.py).
#[test]
fn behind_a_proxy_only_the_proxy_connects_and_clients_are_told_apart() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("proxy");
    a.edit_config(|text| {
        if text.contains("\n[web]\n") {
            text.replace("\n[web]\n", "\n[web]\nproxy = \"127.0.0.2\"\n")
        } else {
            format!("{text}\n[web]\nproxy = \"127.0.0.2\"\n")
        }
    });
    a.start();
    run(
        "webmail_proxy.py",
        &[
            "127.0.0.1".into(),
            (a.base + 7).to_string(),
            "127.0.0.2".into(),
            user,
            PASSWORD.into(),
        ],
    );
}

/// Compose beyond the first message: a draft saved, edited and sent; duplicate and forward;
/// the print view; a message not delivered and one never delivered in time, each in the
/// sent message's status; the size limits; English (tests/clients/webmail_compose.py).
#[test]
fn drafts_duplicates_forwards_failures_and_limits_in_chromium() {
    // 12 h → 2 s, 24 h → 4 s; B is a peer provider that never comes up.
    let mut a = Node::new("pec.alpha.test", Some((2, 4)));
    let b = Node::new("pec.beta.test", None);
    a.peer_with(&b);
    let user = a.mailbox("mittente");
    let other = a.mailbox("collega");
    let down = format!("assente@{}", b.domain);
    let max_bytes = 400_000;
    a.edit_config(|text| {
        let limit = "max_message_bytes = 104857600";
        assert!(text.contains(limit), "{text}");
        text.replace(limit, &format!("max_message_bytes = {max_bytes}"))
    });
    a.start();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webmail-compose");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let log = run(
        "webmail_compose.py",
        &[
            a.web_url(),
            user,
            PASSWORD.to_string(),
            other,
            down,
            max_bytes.to_string(),
            out.display().to_string(),
        ],
    );
    println!("{log}");
}

/// Issue 11 in the webmail (tests/clients/webmail_trust.py): a header injection gives the
/// submitted message no second From or Subject (M4); a transaction's status is its
/// sender's only (L3).
#[test]
fn webmail_injects_no_repeated_field_and_shows_status_to_the_sender_only() {
    let mut a = Node::new("pec.alpha.test", None);
    let (one, two) = (a.mailbox("uno"), a.mailbox("due"));
    a.start();
    run(
        "webmail_trust.py",
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

/// Issue 15 in the webmail (tests/clients/webmail_migrate.py): the mailbox's domain is being
/// taken over from an old provider (Dovecot over IMAPS, `[[migration.domain]]`); the banner
/// leads to the page, a wrong old password shows "Credenziali errate" with its hint, the
/// right one copies every message into the folder named after the old address.
#[test]
fn webmail_migrate_flow_in_chromium() {
    use common::old_provider::{OldProvider, OLD_PASSWORD, OLD_USER};
    let old = OldProvider::start();
    old.seed();
    let seeded = old.dump().messages.len();
    assert!(seeded >= 25, "seeded: {seeded}");
    let mut a = Node::new("pec.vecchio.test", None);
    let entry = format!(
        "domain = [{{ name = \"pec.vecchio.test\", server = \"{}\", ca = \"{}\" }}]",
        old.server(),
        old.ca().display()
    );
    a.edit_config(|text| {
        let section = text.find("[migration]").expect("[migration] in certa.toml");
        let line = text[section..]
            .find("\ndomain = []\n")
            .map(|at| section + at)
            .expect("domain = [] in [migration]");
        format!(
            "{}\n{entry}\n{}",
            &text[..line],
            &text[line + "\ndomain = []\n".len()..]
        )
    });
    let user = a.mailbox("vecchio");
    assert_eq!(user, OLD_USER, "a takeover keeps the address");
    a.start();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webmail-migrate");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let log = run(
        "webmail_migrate.py",
        &[
            a.web_url(),
            user.clone(),
            PASSWORD.to_string(),
            OLD_USER.to_string(),
            OLD_PASSWORD.to_string(),
            "Sbagliata$Pass2".to_string(),
            seeded.to_string(),
            out.display().to_string(),
        ],
    );
    println!("{log}");
    let status = common::certa_ok(a.data(), &["migrate", "status", &user, "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    let job = &status[0];
    assert_eq!(job["state"], "copied", "{status}");
    assert_eq!(
        job["copied_messages"].as_u64(),
        Some(seeded as u64),
        "{status}"
    );
    assert_eq!(job["old_address"], OLD_USER, "{status}");
    // A second box of the domain copies the same old box into INBOX (its own browser
    // profile: no session of the first).
    let second = a.mailbox("segreteria");
    let out = out.join("inbox");
    std::fs::create_dir_all(&out).unwrap();
    let log = run(
        "webmail_migrate.py",
        &[
            a.web_url(),
            second.clone(),
            PASSWORD.to_string(),
            OLD_USER.to_string(),
            OLD_PASSWORD.to_string(),
            "Sbagliata$Pass2".to_string(),
            seeded.to_string(),
            out.display().to_string(),
            "inbox".to_string(),
        ],
    );
    println!("{log}");
    let status = common::certa_ok(a.data(), &["migrate", "status", &second, "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(
        (&status[0]["state"], &status[0]["into_inbox"]),
        (&serde_json::json!("copied"), &serde_json::json!(true)),
        "{status}"
    );
    // The old passwords are in no log.
    let served = std::fs::read_to_string(a.log_path()).unwrap_or_default();
    for secret in [OLD_PASSWORD, "Sbagliata$Pass2"] {
        assert!(!served.contains(secret), "{secret} in the log");
    }
}
