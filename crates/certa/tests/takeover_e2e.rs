//! Taking over a domain from another provider (issue 16, first part: the domain's
//! lifecycle). A domain added `--migrating` names its old server and its switch-over; its
//! boxes copy their old mail from there without being told the server; the switch — by the
//! operator or at its planned time — makes it active, ends every copy with a last run and
//! erases the old passwords, and is written in the legal log.

mod common;

use common::old_provider::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn status(node: &Node, address: &str) -> Value {
    let out = certa_ok(node.data(), &["migrate", "status", address, "--json"]);
    let v: Value = serde_json::from_str(&out).expect("status JSON");
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .expect("one job")
}

fn wait_state(node: &Node, address: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(node, address);
        if s["state"] == state {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {state}: {s}\n{}",
            std::fs::read_to_string(node.log_path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn domain_line(node: &Node, domain: &str) -> String {
    certa_ok(node.data(), &["domain", "list"])
        .lines()
        .find(|l| l.starts_with(&format!("{domain}\t")))
        .unwrap_or_default()
        .to_string()
}

/// "YYYY-MM-DD HH:MM:SS" in Italian time.
fn rome(t: i64) -> String {
    use chrono::TimeZone;
    chrono_tz::Europe::Rome
        .timestamp_opt(t, 0)
        .single()
        .expect("time")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn password_file(dir: &Path, password: &str) -> String {
    let f = dir.join("old-password");
    std::fs::write(&f, format!("{password}\n")).expect("write");
    path(&f).to_string()
}

#[test]
fn a_domain_in_migration_copies_from_its_old_server_and_switches_over() {
    let old = OldProvider::start();
    old.seed();
    let source = old.dump().messages.len();
    let mut node = Node::new("pec.certa.test", None);
    let switch = rome(unix_now() + 3 * 86_400);
    let out = certa_ok(
        node.data(),
        &[
            "domain",
            "add",
            "pec.vecchio.test",
            "--migrating",
            "--switch",
            &switch,
            "--old-provider",
            "Vecchio Gestore",
            "--old-server",
            &old.server(),
        ],
    );
    assert!(out.contains("in migrazione"), "{out}");
    let line = domain_line(&node, "pec.vecchio.test");
    assert!(
        line.contains("in migrazione") && line.contains("Vecchio Gestore"),
        "{line}"
    );
    // A migrating domain needs its switch-over date.
    let (ok, why) = certa(
        node.data(),
        &["domain", "add", "pec.altro.test", "--migrating"],
    );
    assert!(!ok && why.contains("--switch"), "{why}");

    // The box keeps its address at the new provider.
    let user = OLD_USER.to_string();
    certa_ok(
        node.data(),
        &["mailbox", "add", &user, "--password", PASSWORD],
    );
    node.start();
    let work = tempfile::tempdir().expect("tempdir");
    let pw = password_file(work.path(), OLD_PASSWORD);
    let ca = old.ca();
    // No --server: the domain's old server.
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            &user,
            "--old-address",
            OLD_USER,
            "--password-file",
            &pw,
            "--ca",
            path(&ca),
        ],
    );
    let s = wait_state(&node, &user, "copied");
    assert_eq!(s["copied_messages"].as_u64(), Some(source as u64));

    // Before the switch the box neither sends nor receives PEC, and says why.
    let other = node.mailbox("collega");
    let message = |to: &str| {
        format!("From: {OLD_USER}\r\nTo: {to}\r\nSubject: prova\r\n\r\nprova\r\n").into_bytes()
    };
    let sent = python_submit(
        node.submissions_port(),
        &node.ca(),
        &user,
        &user,
        &[&other],
        &message(&other),
    );
    assert!(
        sent.starts_with("ERR") && sent.contains("550") && sent.contains("Casella in migrazione"),
        "{sent}"
    );
    let received = python_mx(
        node.smtp_port(),
        "mittente@esterno.test",
        &user,
        &message(&user),
    );
    assert!(
        received.starts_with("ERR")
            && received.contains("550")
            && received.contains("Dominio in migrazione"),
        "{received}"
    );
    // Our index entry does not list the domain yet: it is still the old provider's.
    let entry = certa_ok(node.data(), &["index", "export"]);
    assert!(
        !entry.contains("pec.vecchio.test") && entry.contains("pec.certa.test"),
        "{entry}"
    );
    assert_eq!(s["host"], "127.0.0.1");
    assert!(
        s["switch_at"].as_i64().is_some(),
        "the domain's switch-over: {s}"
    );

    // The operator switches now: the domain is active, the copy runs its last sync and ends.
    let out = certa_ok(node.data(), &["domain", "switch", "pec.vecchio.test"]);
    assert!(out.contains("attivo") && out.contains("1 copie"), "{out}");
    assert!(domain_line(&node, "pec.vecchio.test").contains("\tattivo\t"));
    let s = wait_state(&node, &user, "finished");
    assert!(s["next_run"].is_null(), "{s}");
    let store = node.store();
    let mailbox = store.mailbox(&user).expect("mailbox").expect("mailbox");
    let job = store.migration_job(mailbox.id).expect("job").expect("job");
    assert_eq!(job.secret, None, "the old password is erased");
    drop(store);
    // After it, the box sends (a local recipient: accepted) and the domain is in our entry.
    let sent = python_submit(
        node.submissions_port(),
        &node.ca(),
        &user,
        &user,
        &[&other],
        &message(&other),
    );
    assert_eq!(sent, "OK", "{sent}");
    let entry = certa_ok(node.data(), &["index", "export"]);
    assert!(entry.contains("pec.vecchio.test"), "{entry}");
    let (ok, again) = certa(node.data(), &["domain", "switch", "pec.vecchio.test"]);
    assert!(!ok && again.contains("not in migration"), "{again}");
    let log = certa_ok(
        node.data(),
        &["log", "search", "--msgid", "dominio:pec.vecchio.test"],
    );
    assert!(
        log.contains("passaggio-dominio") && log.contains("cli:"),
        "{log}"
    );

    // A domain whose planned time comes switches by itself (the timers' scan).
    let soon = rome(unix_now() + 12);
    certa_ok(
        node.data(),
        &[
            "domain",
            "add",
            "pec.presto.test",
            "--migrating",
            "--switch",
            &soon,
        ],
    );
    assert!(domain_line(&node, "pec.presto.test").contains("in migrazione"));
    // Within a day of its switch-over, mail for it is deferred, not refused: the sender's
    // server tries again after the pause.
    certa_ok(
        node.data(),
        &[
            "mailbox",
            "add",
            "ufficio@pec.presto.test",
            "--password",
            PASSWORD,
        ],
    );
    let deferred = python_mx(
        node.smtp_port(),
        "mittente@esterno.test",
        "ufficio@pec.presto.test",
        &message("ufficio@pec.presto.test"),
    );
    assert!(
        deferred.starts_with("ERR") && deferred.contains("450"),
        "{deferred}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !domain_line(&node, "pec.presto.test").contains("\tattivo\t") {
        assert!(Instant::now() < deadline, "pec.presto.test did not switch");
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = certa_ok(
        node.data(),
        &["log", "search", "--msgid", "dominio:pec.presto.test"],
    );
    assert!(log.contains("sistema"), "{log}");
}
