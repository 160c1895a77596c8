//! Copies from an old provider (issue 15) against a real one: Debian's Dovecot over IMAPS with
//! a CA of its own, seeded with real signed PEC messages and generated mail (attachments,
//! 8-bit bytes without MIME, odd MIME, long lines), flags and old internal dates. The copy is
//! started with `certa migrate` and run by `certa serve`; both boxes are read back over IMAPS
//! with Python's imaplib (`tests/clients/old_provider.py`) and compared byte for byte.

mod common;

use common::old_provider::*;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const INBOX_NAME: &str = "INBOX";

/// Our side of the copy: Certa's IMAPS, read the same way.
fn dump_here(node: &Node, user: &str, folder: &str) -> Dump {
    dump(node.base + 4, user, PASSWORD, &node.ca(), folder)
}

/// (size, UIDL) of every INBOX message by POP3S, in maildrop order.
fn uidls(port: u16, user: &str, password: &str, ca: &Path) -> Vec<(u64, String)> {
    let out = tool(&[
        "uidl",
        "127.0.0.1",
        &port.to_string(),
        user,
        password,
        path(ca),
    ]);
    serde_json::from_str(&out).expect("uidl JSON")
}

fn status(node: &Node, address: &str) -> Value {
    let out = certa_ok(node.data(), &["migrate", "status", address, "--json"]);
    let v: Value = serde_json::from_str(&out).expect("status JSON");
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .expect("one job")
}

/// Waits until the job's state is `state` and it has run more than `runs` times.
fn wait_state(node: &Node, address: &str, state: &str, runs: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(node, address);
        if s["state"] == state && s["runs"].as_i64().unwrap_or(0) > runs {
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

fn password_file(dir: &Path, password: &str) -> PathBuf {
    let f = dir.join("old-password");
    std::fs::write(&f, format!("{password}\n")).expect("write");
    f
}

fn start(node: &Node, old: &OldProvider, address: &str, password: &Path, extra: &[&str]) -> String {
    let server = old.server();
    let ca = old.ca();
    let mut args = vec![
        "migrate",
        "start",
        address,
        "--old-address",
        OLD_USER,
        "--password-file",
        path(password),
        "--server",
        &server,
        "--ca",
        path(&ca),
    ];
    args.extend_from_slice(extra);
    certa_ok(node.data(), &args)
}

/// The real PEC files the old box is seeded with.
fn pec_fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != "SOURCES.txt") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&shared().join("fixtures/pec-real"), &mut out);
    out
}

/// An index with Aruba's entry, made from the signer of a real Aruba receipt (as the
/// operator would with `certa index entry`).
fn aruba_index(dir: &Path) -> PathBuf {
    let eml =
        shared().join("fixtures/pec-real/l10n-italy/ACCETTAZIONE_ IT03339130126_00009.xml.txt");
    let raw = std::fs::read(&eml).expect("fixture");
    let der = pec::classify(&raw)
        .expect("classify")
        .signature
        .expect("signed");
    let p7 = openssl::pkcs7::Pkcs7::from_der(&der).expect("pkcs7");
    let signers = p7
        .signers(
            &openssl::stack::Stack::new().expect("stack"),
            openssl::pkcs7::Pkcs7Flags::empty(),
        )
        .expect("signers");
    let cert = dir.join("aruba.pem");
    let pem = signers
        .iter()
        .next()
        .expect("signer")
        .to_pem()
        .expect("pem");
    std::fs::write(&cert, pem).expect("write");
    let ldif = certa_ok(
        dir,
        &[
            "index",
            "entry",
            "--cert",
            path(&cert),
            "--name",
            "ARUBA PEC S.p.A.",
            "--domain",
            "pec.aruba.it",
            "--domain",
            "pec.it",
            "--receipt-address",
            "posta-certificata@pec.aruba.it",
        ],
    );
    let index = dir.join("index.ldif");
    std::fs::write(&index, ldif).expect("write");
    index
}

/// `certa verify --json`: (kind, msgid, valid).
fn verdict(file: &Path, index: &Path) -> (Value, Value, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_certa"))
        .arg("verify")
        .arg(file)
        .arg("--index")
        .arg(index)
        .args([
            "--trust",
            "/etc/ssl/certs/Actalis_Authentication_Root_CA.pem",
            "--json",
        ])
        .output()
        .expect("certa verify");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (v["kind"].clone(), v["msgid"].clone(), v["valid"].clone())
}

fn sorted_hashes(d: &Dump) -> Vec<String> {
    let mut v: Vec<String> = d.messages.iter().map(|m| m.sha256.clone()).collect();
    v.sort();
    v
}

#[test]
fn migrate_copies_byte_identical_then_syncs_without_duplicates() {
    let old = OldProvider::start();
    old.seed();
    let source = old.dump();
    assert!(
        source.messages.len() >= 25,
        "seeded: {}",
        source.messages.len()
    );
    let mut node = Node::new("pec.nuovo.test", None);
    let user = node.mailbox("ufficio");
    node.start();
    let work = tempfile::tempdir().expect("tempdir");
    let pw = password_file(work.path(), OLD_PASSWORD);

    let out = start(&node, &old, &user, &pw, &[]);
    assert!(out.contains("In preparazione"), "{out}");
    let s = wait_state(&node, &user, "copied", 0);
    assert_eq!(
        s["copied_messages"].as_u64(),
        Some(source.messages.len() as u64)
    );
    assert_eq!(s["source_messages"], s["copied_messages"]);

    // Into the folder named after the old address: every message byte-identical, with its
    // flags and its internal date.
    let here = dump_here(&node, &user, OLD_USER);
    assert_eq!(here.messages.len(), source.messages.len());
    for (a, b) in source.messages.iter().zip(&here.messages) {
        assert_eq!(a.sha256, b.sha256, "bytes of source UID {}", a.uid);
        assert_eq!(a.flags, b.flags, "flags of source UID {}", a.uid);
        assert_eq!(a.date, b.date, "internal date of source UID {}", a.uid);
    }
    assert!(
        dump_here(&node, &user, "INBOX").messages.is_empty(),
        "nothing in INBOX"
    );
    // A new folder keeps the old UIDVALIDITY and UIDs: a program reading by UID sees the
    // same box.
    assert_eq!(here.uidvalidity, source.uidvalidity);
    assert_eq!(
        here.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        source.messages.iter().map(|m| m.uid).collect::<Vec<_>>()
    );
    // The PEC messages still verify as they did: the same (kind, msgid, valid) for the
    // copies (CRLF, as Dovecot serves them) as for the original files; the Aruba receipts
    // whose signer the index holds are valid.
    let verdicts_here: Vec<(Value, Value, Value)> = {
        let index = aruba_index(work.path());
        let originals = pec_fixtures()
            .iter()
            .map(|f| verdict(f, &index))
            .collect::<Vec<_>>();
        let copies = node
            .folder(&user, OLD_USER)
            .iter()
            .enumerate()
            .map(|(i, (_, bytes))| {
                let f = work.path().join(format!("copia-{i}.eml"));
                std::fs::write(&f, bytes).expect("write");
                verdict(&f, &index)
            })
            .collect::<Vec<_>>();
        let pec_only = |mut v: Vec<(Value, Value, Value)>| {
            v.retain(|(kind, _, _)| !kind.is_null());
            v.sort_by_key(|t| format!("{t:?}"));
            v
        };
        let originals = pec_only(originals);
        assert_eq!(pec_only(copies), originals);
        originals
    };
    assert!(
        verdicts_here
            .iter()
            .filter(|(_, _, valid)| *valid == true)
            .count()
            >= 2,
        "the 2018 Aruba receipts (signer in the index) verify: {verdicts_here:?}"
    );
    // Nothing changed at the source: BODY.PEEK[] set no \Seen.
    let after = old.dump();
    assert_eq!(
        after.messages.iter().map(|m| &m.flags).collect::<Vec<_>>(),
        source.messages.iter().map(|m| &m.flags).collect::<Vec<_>>()
    );

    // New arrivals come at the next sync; a deletion at the source stays here.
    tool(&["append", old.dir(), "3", "sync1"]);
    let deleted = source.messages[1].uid.to_string();
    tool(&["expunge", old.dir(), &deleted]);
    certa_ok(node.data(), &["migrate", "sync", &user]);
    let runs = s["runs"].as_i64().unwrap_or(0);
    let s = wait_state(&node, &user, "copied", runs);
    assert_eq!(s["deleted_at_source"].as_u64(), Some(1));
    let here = dump_here(&node, &user, OLD_USER);
    assert_eq!(here.messages.len(), source.messages.len() + 3);
    assert!(
        here.messages
            .iter()
            .any(|m| m.sha256 == source.messages[1].sha256),
        "the message deleted at the source is still here"
    );
    let now_at_source = old.dump();
    for m in &now_at_source.messages {
        assert!(
            here.messages
                .iter()
                .any(|h| h.uid == m.uid && h.sha256 == m.sha256),
            "UID {} kept for a new arrival",
            m.uid
        );
    }
    let mut expected = sorted_hashes(&now_at_source);
    expected.push(source.messages[1].sha256.clone());
    expected.sort();
    assert_eq!(sorted_hashes(&here), expected);

    // A re-run adds nothing.
    let runs = s["runs"].as_i64().unwrap_or(0);
    certa_ok(node.data(), &["migrate", "sync", &user]);
    let s = wait_state(&node, &user, "copied", runs);
    assert_eq!(
        dump_here(&node, &user, OLD_USER).messages.len(),
        here.messages.len()
    );
    assert_eq!(
        s["copied_messages"].as_u64(),
        Some(here.messages.len() as u64)
    );

    // The report lists exactly what the source holds, and what was deleted there since;
    // it is signed by the provider.
    let sig = work.path().join("rapporto.p7s");
    let json = certa_ok(
        node.data(),
        &[
            "migrate",
            "report",
            &user,
            "--json",
            "--signature",
            path(&sig),
        ],
    );
    let json_file = work.path().join("rapporto.json");
    std::fs::write(&json_file, &json).expect("write");
    let verified = testkit::tool("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-content"])
        .arg(&json_file)
        .arg("-in")
        .arg(&sig)
        .arg("-CAfile")
        .arg(node.ca())
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl");
    assert!(
        verified.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let report: Value = serde_json::from_str(&json).expect("report JSON");
    let folder = &report["folders"][0];
    let hashes = |list: &Value| -> Vec<String> {
        let mut v: Vec<String> = list
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m["sha256"].as_str().expect("sha").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(hashes(&folder["messages"]), sorted_hashes(&now_at_source));
    assert_eq!(
        hashes(&folder["deleted_at_source"]),
        vec![source.messages[1].sha256.clone()]
    );
    assert_eq!(folder["missing"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        report["totals"]["source_messages"].as_u64(),
        Some(now_at_source.messages.len() as u64)
    );
    // One report message after the first copy and one after the sync that found something;
    // the re-run that found nothing mails none.
    let reports = node.folder(&user, "Rapporti di copia");
    assert_eq!(reports.len(), 2, "report messages");
    for (_, bytes) in &reports {
        let f = work.path().join("report.eml");
        std::fs::write(&f, bytes).expect("write");
        let out = testkit::tool("openssl")
            .args(["smime", "-verify", "-CAfile"])
            .arg(node.ca())
            .arg("-in")
            .arg(&f)
            .args(["-out", "/dev/null"])
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = certa_ok(node.data(), &["log", "verify"]);
    assert!(log.contains("registro integro"), "{log}");

    // Stop: the old password is erased, no more syncs.
    let out = certa_ok(node.data(), &["migrate", "stop", &user]);
    assert!(out.contains("cancellata"), "{out}");
    let store = node.store();
    let mailbox = store.mailbox(&user).expect("mailbox").expect("mailbox");
    let job = store.migration_job(mailbox.id).expect("job").expect("job");
    assert_eq!((job.secret, job.next_run), (None, None));
}

#[test]
fn migrate_errors_are_typed_and_a_start_again_resumes_into_inbox() {
    let old = OldProvider::start();
    old.seed();
    let source = old.dump();
    let mut node = Node::new("pec.nuovo.test", None);
    let user = node.mailbox("ufficio");
    node.start();
    let work = tempfile::tempdir().expect("tempdir");

    // Wrong password: "Credenziali errate" with the seed's hint about `$`.
    let wrong = password_file(work.path(), "Sbagliata$1");
    start(&node, &old, &user, &wrong, &["--into", "inbox"]);
    let s = wait_state(&node, &user, "failed", 0);
    assert_eq!(s["error_kind"], "credentials");
    let text = certa_ok(node.data(), &["migrate", "status", &user]);
    assert!(
        text.contains("Credenziali errate") && text.contains("\"$\""),
        "{text}"
    );

    // Not enough space: refused before anything is copied.
    certa_ok(node.data(), &["mailbox", "quota", &user, "100KB"]);
    let right = password_file(work.path(), OLD_PASSWORD);
    start(&node, &old, &user, &right, &["--into", "inbox"]);
    let s = wait_state(&node, &user, "failed", 1);
    assert_eq!(s["error_kind"], "space", "{s}");
    assert_eq!(s["copied_messages"].as_u64(), Some(0));
    assert!(dump_here(&node, &user, "INBOX").messages.is_empty());

    // Raised: starting again completes, into INBOX.
    certa_ok(node.data(), &["mailbox", "quota", &user, "1GB"]);
    start(&node, &old, &user, &right, &["--into", "inbox"]);
    wait_state(&node, &user, "copied", 2);
    let here = dump_here(&node, &user, "INBOX");
    assert_eq!(sorted_hashes(&here), sorted_hashes(&source));
    assert_eq!(
        (
            here.uidvalidity,
            here.messages.iter().map(|m| m.uid).collect::<Vec<_>>()
        ),
        (
            source.uidvalidity,
            source.messages.iter().map(|m| m.uid).collect::<Vec<_>>()
        ),
        "an empty INBOX takes the old UIDVALIDITY and UIDs"
    );

    // The old server down: "unreachable", tried again later by itself.
    let closed = free_port_base();
    let s2 = node.mailbox("secondo");
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            &s2,
            "--old-address",
            OLD_USER,
            "--password-file",
            path(&right),
            "--server",
            &format!("127.0.0.1:{closed}"),
        ],
    );
    let s = wait_state(&node, &s2, "failed", 0);
    assert_eq!(s["error_kind"], "unreachable", "{s}");
    assert!(s["next_run"].as_i64().is_some(), "retried later: {s}");

    // A server whose certificate we do not trust: "tls", never a copy in the clear.
    let s3 = node.mailbox("terzo");
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            &s3,
            "--old-address",
            OLD_USER,
            "--password-file",
            path(&right),
            "--server",
            &old.server(),
        ],
    );
    let s = wait_state(&node, &s3, "failed", 0);
    assert_eq!(s["error_kind"], "tls", "{s}");
    node.kill();
}

#[test]
fn migrate_kill_9_mid_copy_finishes_with_nothing_missing_or_twice() {
    let old = OldProvider::start();
    tool(&["bulk", old.dir(), "3000", "4000"]);
    let source = old.dump();
    assert_eq!(source.messages.len(), 3000);
    let mut node = Node::new("pec.nuovo.test", None);
    node.edit_config(|c| {
        assert!(c.contains("batch_messages = 256"));
        c.replace("batch_messages = 256", "batch_messages = 50")
    });
    let user = node.mailbox("ufficio");
    node.start();
    let work = tempfile::tempdir().expect("tempdir");
    let pw = password_file(work.path(), OLD_PASSWORD);
    start(&node, &old, &user, &pw, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = status(&node, &user);
        let copied = s["copied_messages"].as_u64().unwrap_or(0);
        if copied > 0 {
            assert!(copied < 3000, "the kill came before the end: {s}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
    node.kill();
    node.start();
    let s = wait_state(&node, &user, "copied", 0);
    assert_eq!(s["copied_messages"].as_u64(), Some(3000));
    let here = dump_here(&node, &user, OLD_USER);
    assert_eq!(here.messages.len(), 3000, "nothing missing, nothing twice");
    assert_eq!(sorted_hashes(&here), sorted_hashes(&source));
}

#[test]
fn migrate_recognises_a_new_uidvalidity_by_content_and_ends_at_the_switch() {
    use chrono::TimeZone;
    let mut old = OldProvider::start();
    old.seed();
    let source = old.dump();
    let mut node = Node::new("pec.vecchio.test", None);
    // The operator's configuration for the old domain: its server, its CA, the switch-over.
    let switch = chrono_tz::Europe::Rome
        .timestamp_opt(unix_now() + 40, 0)
        .single()
        .expect("time")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let ca = old.ca();
    let server = old.server();
    node.edit_config(|c| {
        assert!(c.contains("domain = []"));
        c.replace(
            "domain = []",
            &format!(
                "domain = [{{ name = \"pec.vecchio.test\", server = \"{server}\", ca = \"{}\", switch = \"{switch}\", pop3 = \"127.0.0.1:{}\" }}]",
                path(&ca),
                old.pop3
            ),
        )
    });
    // In a takeover the address stays the same.
    let user = node.mailbox("vecchio");
    assert_eq!(user, OLD_USER);
    node.start();
    let work = tempfile::tempdir().expect("tempdir");
    let pw = password_file(work.path(), OLD_PASSWORD);
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            &user,
            "--old-address",
            OLD_USER,
            "--password-file",
            path(&pw),
            "--into",
            "inbox",
        ],
    );
    let s = wait_state(&node, &user, "copied", 0);
    assert!(s["switch_at"].as_i64().is_some(), "{s}");
    let before = dump_here(&node, &user, INBOX_NAME);
    assert_eq!(sorted_hashes(&before), sorted_hashes(&source));
    // A program that downloads the box by POP3 sees the same unique ids here as at the old
    // provider: it will not download everything again after the switch.
    let old_uidls = uidls(old.pop3, OLD_USER, OLD_PASSWORD, &old.ca());
    assert_eq!(old_uidls.len(), source.messages.len());
    assert_eq!(uidls(node.base + 6, &user, PASSWORD, &node.ca()), old_uidls);
    let report: Value = serde_json::from_str(&certa_ok(
        node.data(),
        &["migrate", "report", &user, "--json"],
    ))
    .expect("report");
    assert_eq!(
        report["pop3_uidls_kept"].as_u64(),
        Some(source.messages.len() as u64),
        "{}",
        report["pop3_uidls_not_kept"]
    );

    old.restart_with_new_uidvalidity();
    let moved = old.dump();
    assert_ne!(
        moved.uidvalidity, source.uidvalidity,
        "the source's UIDVALIDITY changed"
    );
    let runs = s["runs"].as_i64().unwrap_or(0);
    certa_ok(node.data(), &["migrate", "sync", &user]);
    let s = wait_state(&node, &user, "copied", runs);
    assert_eq!(
        s["deleted_at_source"].as_u64(),
        Some(0),
        "recognised, not deleted: {s}"
    );
    let after = dump_here(&node, &user, INBOX_NAME);
    assert_eq!(
        after.messages.len(),
        before.messages.len(),
        "nothing copied again"
    );
    let report: Value = serde_json::from_str(&certa_ok(
        node.data(),
        &["migrate", "report", &user, "--json"],
    ))
    .expect("report");
    assert_eq!(
        report["folders"][0]["uidvalidity"].as_u64(),
        Some(moved.uidvalidity)
    );
    assert_eq!(report["totals"]["missing"].as_u64(), Some(0));
    assert_eq!(
        report["totals"]["here_messages"].as_u64(),
        Some(source.messages.len() as u64)
    );

    // Another box of the domain whose user gave a wrong password and never came back: its
    // job waits, without a new login, for the switch.
    let other = node.mailbox("distratto");
    let wrong = password_file(work.path(), "Sbagliata$9");
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            &other,
            "--old-address",
            OLD_USER,
            "--password-file",
            path(&wrong),
        ],
    );
    let failed = wait_state(&node, &other, "failed", 0);
    assert_eq!(failed["error_kind"], "credentials");
    assert_eq!(
        failed["next_run"], s["switch_at"],
        "due again only at the switch: {failed}"
    );

    // At the switch-over: one last sync, then the job ends and the old password is erased;
    // the job that failed ends too, its password erased.
    let s = wait_state(&node, &user, "finished", 0);
    assert!(s["next_run"].is_null(), "{s}");
    let ended = wait_state(&node, &other, "finished", 1);
    assert_eq!(ended["error_kind"], "credentials", "{ended}");
    let store = node.store();
    for address in [&user, &other] {
        let mailbox = store.mailbox(address).expect("mailbox").expect("mailbox");
        let job = store.migration_job(mailbox.id).expect("job").expect("job");
        assert_eq!((job.secret, job.next_run), (None, None), "{address}");
    }
}

#[test]
fn migrate_every_folder_when_the_operator_allows_it() {
    let old = OldProvider::start();
    old.seed();
    tool(&["folders", old.dir()]);
    let mut node = Node::new("pec.nuovo.test", None);
    let user = node.mailbox("ufficio");
    let work = tempfile::tempdir().expect("tempdir");
    let pw = password_file(work.path(), OLD_PASSWORD);
    // Not allowed by default: refused, nothing recorded.
    let refused = certa(
        node.data(),
        &[
            "migrate",
            "start",
            &user,
            "--old-address",
            OLD_USER,
            "--password-file",
            path(&pw),
            "--server",
            &old.server(),
            "--all-folders",
        ],
    );
    assert!(
        !refused.0 && refused.1.contains("non è consentita"),
        "{}",
        refused.1
    );
    node.edit_config(|c| {
        assert!(c.contains("all_folders = false"));
        c.replace("all_folders = false", "all_folders = true")
    });
    node.start();
    start(&node, &old, &user, &pw, &["--all-folders"]);
    let s = wait_state(&node, &user, "copied", 0);
    let inbox = old.dump().messages.len();
    assert_eq!(
        s["copied_messages"].as_u64(),
        Some((inbox + 6) as u64),
        "{s}"
    );
    // Under the folder named after the old address, the old tree with "/" for its ".",
    // the modified UTF-7 name decoded.
    for (folder, n) in [
        (OLD_USER.to_string(), inbox),
        (format!("{OLD_USER}/Archivio"), 3),
        (format!("{OLD_USER}/Archivio/2020"), 2),
        (format!("{OLD_USER}/Perché"), 1),
    ] {
        let store = node.store();
        let here = store.folder_messages(&user, &folder).expect("folder");
        assert_eq!(here.len(), n, "{folder}");
    }
}
