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
            "--old-ca",
            path(&old.ca()),
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
    // No --server nor --ca: the domain's old server and its CA.
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

/// The mails the sink received, as text.
fn received(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
        .collect()
}

fn wait_received(dir: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = received(dir);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} mails received",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn boxes_imported_from_a_csv_are_welcomed_once_and_reminded_until_they_copy() {
    let mut node = Node::new("pec.certa.test", None);
    let sink = tempfile::tempdir().expect("tempdir");
    let (_sink, port) = ordinary_mail_server(sink.path());
    certa_ok(
        node.data(),
        &["route", "add", "esempio.org", &format!("127.0.0.1:{port}")],
    );
    certa_ok(node.data(), &["plan", "add", "base", "--quota", "1GB"]);
    certa_ok(
        node.data(),
        &["plan", "add", "scuole", "--quota", "6GB", "--archive"],
    );
    let switch = rome(unix_now() + 10 * 86_400);
    certa_ok(
        node.data(),
        &[
            "domain",
            "add",
            "pec.comune.test",
            "--migrating",
            "--switch",
            &switch,
            "--old-provider",
            "Vecchio Gestore",
        ],
    );
    // Reminders 11 days before the switch: due as soon as the server runs.
    node.edit_config(|c| {
        assert!(
            c.contains("reminders = [\n    7,\n    3,\n    1,\n]")
                || c.contains("reminders = [7, 3, 1]"),
            "{c}"
        );
        c.replacen("reminders = [", "reminders = [11, ", 1)
    });
    let work = tempfile::tempdir().expect("tempdir");

    // A file with bad rows changes nothing and names each.
    let bad = work.path().join("bad.csv");
    std::fs::write(
        &bad,
        "indirizzo;nome;email_recupero;piano\n\
         uno@pec.comune.test;Uno;uno@esempio.org;base\n\
         non-un-indirizzo;Due;due@esempio.org;base\n\
         tre@pec.comune.test;Tre;tre@esempio.org;oro\n\
         quattro@altro.test;Quattro;quattro@esempio.org;\n",
    )
    .expect("write");
    let (ok, why) = certa(node.data(), &["mailbox", "import", path(&bad)]);
    assert!(!ok, "{why}");
    for line in [
        "riga 3",
        "riga 4: piano sconosciuto: oro",
        "riga 5: altro.test",
    ] {
        assert!(why.contains(line), "{line}: {why}");
    }
    assert!(node
        .store()
        .mailbox("uno@pec.comune.test")
        .expect("mailbox")
        .is_none());

    let csv = work.path().join("caselle.csv");
    std::fs::write(
        &csv,
        "indirizzo;nome;email_recupero;piano;password\n\
         uno@pec.comune.test;Anna Uno;uno@esempio.org;scuole;\n\
         due@pec.comune.test;\"Bruno; Due\";due@esempio.org;base;\n\
         tre@pec.comune.test;Carla Tre;tre@esempio.org;base;Scelta#Dall0perator3\n\
         quattro@pec.comune.test;;quattro@esempio.org;;\n",
    )
    .expect("write");
    let out = certa_ok(node.data(), &["mailbox", "import", path(&csv)]);
    assert!(out.contains("4 create, 0 invariate, 0 diverse"), "{out}");
    let again = certa_ok(node.data(), &["mailbox", "import", path(&csv)]);
    assert!(
        again.contains("0 create, 4 invariate, 0 diverse"),
        "{again}"
    );
    let store = node.store();
    let uno = store
        .mailbox("uno@pec.comune.test")
        .expect("mailbox")
        .expect("uno");
    assert_eq!((uno.plan.as_deref(), uno.quota), (Some("scuole"), 6 << 30));
    assert_eq!(uno.name.as_deref(), Some("Anna Uno"));
    assert!(uno.must_change_password && uno.welcomed_at.is_some());
    let tre = store
        .mailbox("tre@pec.comune.test")
        .expect("mailbox")
        .expect("tre");
    assert!(
        tre.must_change_password,
        "a password mailed is changed at the first login"
    );
    drop(store);
    // One box starts its copy before the server runs (its old server is down: it will fail,
    // but it has started).
    let pw = password_file(work.path(), "vecchia");
    certa_ok(
        node.data(),
        &[
            "migrate",
            "start",
            "uno@pec.comune.test",
            "--old-address",
            "uno@pec.comune.test",
            "--password-file",
            &pw,
            "--server",
            &format!("127.0.0.1:{}", free_port_base()),
        ],
    );

    node.start();
    // 4 welcome mails (once: the re-run sent none) and 3 automatic reminders, to the boxes
    // that have not started.
    let mails = wait_received(sink.path(), 7);
    std::thread::sleep(Duration::from_secs(3));
    let mails_now = received(sink.path());
    assert_eq!(mails_now.len(), 7, "no more: {mails_now:?}");
    let welcomes: Vec<&String> = mails.iter().filter(|m| m.contains("Benvenuto")).collect();
    assert_eq!(welcomes.len(), 4);
    for w in &welcomes {
        assert!(
            w.contains("Password provvisoria: ")
                && w.contains("prenderà il posto")
                && w.contains("Vecchio Gestore")
                && w.contains("clicca qui"),
            "{w}"
        );
    }
    assert!(welcomes
        .iter()
        .any(|w| w.contains("Password provvisoria: Scelta#Dall0perator3")));
    let reminders: Vec<&String> = mails.iter().filter(|m| m.contains("Promemoria")).collect();
    assert_eq!(reminders.len(), 3);
    assert!(!reminders.iter().any(|m| m.contains("To: uno@esempio.org")));

    // By hand: the same three again, once more.
    let out = certa_ok(node.data(), &["domain", "remind", "pec.comune.test"]);
    assert!(out.contains("promemoria inviati: 3"), "{out}");
    wait_received(sink.path(), 10);
    // Each action is in the legal log with who did it.
    let log = certa_ok(
        node.data(),
        &["log", "search", "--msgid", "casella:due@pec.comune.test"],
    );
    assert!(
        log.contains("casella-creata") && log.contains("cli:"),
        "{log}"
    );
    assert_eq!(log.matches("promemoria-copia").count(), 2, "{log}");
    assert!(log.contains("sistema"), "{log}");
    assert!(certa_ok(node.data(), &["log", "verify"]).contains("registro integro"));
}

/// The start page driven as a browser would post it (urllib over HTTPS): prints each step's
/// status and the text that matters, then "OK".
const START_PAGE: &str = r#"
import re, ssl, sys, urllib.parse, urllib.request, urllib.error
url, ca, box, old, new = sys.argv[1:6]
guess = sys.argv[6:7] == ["guess"]
ctx = ssl.create_default_context(cafile=ca)
def post(path, fields):
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(url + path, data=data, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
if guess:
    # Guessing is throttled like a login: failures from one address end in a refusal.
    for i in range(40):
        status, page = post("/attivazione", {"address": "prova%d@pec.vecchio.test" % i, "password": "x"})
        if "Troppi tentativi" in page:
            print("OK")
            sys.exit(0)
    raise AssertionError("never throttled")
with urllib.request.urlopen(url + "/attivazione", context=ctx) as r:
    assert r.status == 200 and "Indirizzo della casella" in r.read().decode()
for who, password in ((box, "Sbagliata$1"), ("nessuno@pec.vecchio.test", old), ("x@pec.certa.test", old)):
    status, page = post("/attivazione", {"address": who, "password": password})
    assert status == 422 and "Credenziali non valide" in page, (who, status, page[:2000])
status, page = post("/attivazione", {"address": box, "password": old})
assert status == 200 and "solo dopo il passaggio al nuovo gestore" in page, page[:2000]
ticket = re.search(r'name="ticket" value="([0-9a-f]+)"', page).group(1)
assert old not in page, "the current password is not in the page"
status, page = post("/attivazione/password", {"ticket": ticket, "address": box, "password": "corta", "confirm": "corta"})
assert status == 422 and "Password non valida" in page, page[:2000]
status, page = post("/attivazione/password", {"ticket": ticket, "address": box, "password": new, "confirm": new + "x"})
assert status == 422 and "non coincidono" in page, page[:2000]
status, page = post("/attivazione/password", {"ticket": ticket[:-2] + "00", "address": box, "password": new, "confirm": new})
assert status == 422 and "Sessione scaduta" in page, page[:2000]
status, page = post("/attivazione/password", {"ticket": ticket, "address": box, "password": new, "confirm": new})
assert status == 200 and "importazione dei suoi messaggi PEC è iniziata" in page, (status, re.findall(r'id="start-error">([^<]*)', page))
assert "non modificare la sua password fino al passaggio" in page
print("OK")
"#;

/// Whether IMAPS accepts a login.
fn imap_login(node: &Node, user: &str, password: &str) -> bool {
    let script = "import imaplib,ssl,sys\nctx=ssl.create_default_context(cafile=sys.argv[2])\nm=imaplib.IMAP4_SSL('127.0.0.1',int(sys.argv[1]),ssl_context=ctx)\ntry:\n  m.login(sys.argv[3],sys.argv[4]); print('OK')\nexcept imaplib.IMAP4.error: print('NO')";
    let out = testkit::tool("python3")
        .args(["-c", script])
        .arg((node.base + 4).to_string())
        .arg(node.ca())
        .args([user, password])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim() == "OK"
}

#[test]
fn the_start_page_checks_the_current_password_and_sets_the_one_for_after_the_switch() {
    let old = OldProvider::start();
    old.seed();
    let source = old.dump().messages.len();
    let mut node = Node::new("pec.certa.test", None);
    let switch = rome(unix_now() + 2 * 86_400);
    certa_ok(
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
            "--old-ca",
            path(&old.ca()),
        ],
    );
    certa_ok(
        node.data(),
        &["mailbox", "add", OLD_USER, "--password", PASSWORD],
    );
    node.start();
    let new = "Nuova#Password2026";
    let out = testkit::tool("python3")
        .args(["-c", START_PAGE])
        .arg(node.web_url())
        .arg(node.ca())
        .args([OLD_USER, OLD_PASSWORD, new])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim().ends_with("OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The copy into INBOX started and completes.
    let s = wait_state(&node, OLD_USER, "copied");
    assert_eq!(
        (s["copied_messages"].as_u64(), &s["into_inbox"]),
        (Some(source as u64), &serde_json::json!(true))
    );
    // Until the switch the box keeps its password; the new one opens it from the switch.
    assert!(imap_login(&node, OLD_USER, PASSWORD));
    assert!(!imap_login(&node, OLD_USER, new));
    certa_ok(node.data(), &["domain", "switch", "pec.vecchio.test"]);
    assert!(
        imap_login(&node, OLD_USER, new),
        "the start page's password"
    );
    assert!(
        !imap_login(&node, OLD_USER, PASSWORD),
        "the old one no longer"
    );
    let s = wait_state(&node, OLD_USER, "finished");
    assert!(s["next_run"].is_null());

    // Guessing on the start page is throttled like a login (last: it throttles this address).
    let out = testkit::tool("python3")
        .args(["-c", START_PAGE])
        .arg(node.web_url())
        .arg(node.ca())
        .args([OLD_USER, OLD_PASSWORD, new, "guess"])
        .output()
        .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).trim() == "OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_switch_over_checklist_reads_the_dns_record_by_record() {
    let node = Node::new("pec.certa.test", None);
    let (_dns, dns_port) = fake_dns(&[
        // Ready: MX at us with a low TTL, one SPF that includes us.
        ("pec.giusto.test", "MX@300", "10 mail.pec.certa.test"),
        ("pec.giusto.test", "MX@300", "20 backup.altro.test"),
        (
            "pec.giusto.test",
            "TXT@300",
            "v=spf1 include:_spf.pec.certa.test -all",
        ),
        // Not ready: MX at the old provider, TTL of a day, two SPF records.
        ("pec.sbagliato.test", "MX@86400", "10 mx.vecchio.test"),
        (
            "pec.sbagliato.test",
            "TXT",
            "v=spf1 include:_spf.vecchio.test -all",
        ),
        ("pec.sbagliato.test", "TXT", "v=spf1 -all"),
        ("pec.senza-spf.test", "MX@300", "mail.pec.certa.test"),
    ]);
    node.edit_config(|c| {
        assert!(c.contains("[dns]\nmx_port = 25"));
        c.replace(
            "[dns]\nmx_port = 25",
            &format!("[dns]\nresolver = \"127.0.0.1:{dns_port}\"\nmx_port = 25"),
        )
    });
    let tomorrow = rome(unix_now() + 86_400);
    for d in [
        "pec.giusto.test",
        "pec.sbagliato.test",
        "pec.senza-spf.test",
        "pec.assente.test",
    ] {
        certa_ok(
            node.data(),
            &["domain", "add", d, "--migrating", "--switch", &tomorrow],
        );
    }
    let check = |d: &str| -> Vec<(String, String, String)> {
        let out = certa_ok(node.data(), &["domain", "checklist", d, "--json"]);
        let v: Value = serde_json::from_str(&out).expect("checklist JSON");
        v.as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                (
                    l["item"].as_str().unwrap_or("").to_string(),
                    l["state"].as_str().unwrap_or("").to_string(),
                    l["found"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let states = |lines: &[(String, String, String)]| -> Vec<String> {
        lines.iter().map(|(_, s, _)| s.clone()).collect()
    };
    let good = check("pec.giusto.test");
    assert_eq!(
        states(&good),
        ["ok", "da fare", "ok", "ok", "ok"],
        "{good:?}"
    );
    assert!(good[2].2.contains("10 mail.pec.certa.test"), "{good:?}");
    // The operator records the old provider's decertification.
    certa_ok(
        node.data(),
        &[
            "domain",
            "decert",
            "pec.giusto.test",
            "confermata",
            "--note",
            "PEC del gestore",
        ],
    );
    let good = check("pec.giusto.test");
    assert_eq!(states(&good), ["ok", "ok", "ok", "ok", "ok"], "{good:?}");
    assert!(
        good[1].2.contains("confermata (PEC del gestore)"),
        "{good:?}"
    );
    let bad = check("pec.sbagliato.test");
    assert_eq!(states(&bad)[2..], ["errato", "errato", "errato"], "{bad:?}");
    assert!(
        bad[2].2.contains("mx.vecchio.test") && bad[3].2.contains("86400"),
        "{bad:?}"
    );
    assert!(bad[4].2.contains("2 record SPF"), "{bad:?}");
    let no_spf = check("pec.senza-spf.test");
    assert_eq!(states(&no_spf)[2..], ["ok", "ok", "errato"], "{no_spf:?}");
    let missing = check("pec.assente.test");
    assert_eq!(
        states(&missing)[2..],
        ["errato", "errato", "errato"],
        "{missing:?}"
    );
    // Far from the switch, a high TTL is still to do, not wrong.
    let later = rome(unix_now() + 20 * 86_400);
    certa_ok(
        node.data(),
        &["domain", "set", "pec.sbagliato.test", "--switch", &later],
    );
    assert_eq!(check("pec.sbagliato.test")[3].1, "da fare");
    // The resolver down: not verifiable, not wrong.
    drop(_dns);
    let down = check("pec.giusto.test");
    assert_eq!(
        states(&down)[2..],
        ["non verificabile", "non verificabile", "non verificabile"],
        "{down:?}"
    );
    // The entry for the index authority lists the domain before it is ours.
    let entry = certa_ok(
        node.data(),
        &["index", "export", "--including", "pec.giusto.test"],
    );
    assert!(
        entry.contains("pec.giusto.test") && !entry.contains("pec.sbagliato.test"),
        "{entry}"
    );
}

#[test]
fn the_operator_suspends_resumes_and_resets_a_box() {
    let mut node = Node::new("pec.certa.test", None);
    let sink = tempfile::tempdir().expect("tempdir");
    let (_sink, port) = ordinary_mail_server(sink.path());
    certa_ok(
        node.data(),
        &["route", "add", "esempio.org", &format!("127.0.0.1:{port}")],
    );
    let user = "segreteria@pec.certa.test";
    certa_ok(
        node.data(),
        &[
            "mailbox",
            "add",
            user,
            "--password",
            PASSWORD,
            "--recovery-email",
            "titolare@esempio.org",
        ],
    );
    node.start();
    assert!(imap_login(&node, user, PASSWORD));
    certa_ok(node.data(), &["mailbox", "suspend", user]);
    assert!(!imap_login(&node, user, PASSWORD), "suspended");
    let sent = python_submit(
        node.submissions_port(),
        &node.ca(),
        user,
        user,
        &[user],
        b"Subject: x\r\n\r\nx\r\n",
    );
    assert!(sent.contains("sospesa"), "{sent}");
    certa_ok(node.data(), &["mailbox", "resume", user]);
    assert!(imap_login(&node, user, PASSWORD), "resumed");

    let out = certa_ok(node.data(), &["mailbox", "reset", user]);
    assert!(out.contains("titolare@esempio.org"), "{out}");
    let mail = wait_received(sink.path(), 1).remove(0);
    let password = mail
        .lines()
        .find_map(|l| l.strip_prefix("Password provvisoria: "))
        .expect("the new password is in the mail")
        .trim()
        .to_string();
    assert!(
        !imap_login(&node, user, PASSWORD),
        "the old password no longer"
    );
    assert!(
        !imap_login(&node, user, &password),
        "a mail client waits until it is changed in the webmail"
    );
    let store = node.store();
    let m = store.mailbox(user).expect("mailbox").expect("mailbox");
    assert!(m.must_change_password && !m.suspended);
    assert!(services::accounts::PasswordChecker::with_slots(1).verify(&m.password_hash, &password));
    let log = certa_ok(
        node.data(),
        &["log", "search", "--msgid", &format!("casella:{user}")],
    );
    for event in [
        "casella-sospesa",
        "casella-riattivata",
        "password-reimpostata",
    ] {
        assert!(log.contains(event), "{event}: {log}");
    }
}

/// Runs `console_takeover.py` (headless Chromium) for one phase; its output.
fn console_script(params: &Path, phase: &str) -> String {
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/console_takeover.py"
    );
    let out = testkit::tool("python3")
        .arg(script)
        .arg(params)
        .arg(phase)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "OK"),
        "console_takeover.py {phase}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value after `label` on its line of `text`.
fn field_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{label} not in {text}"))
}

/// Issue 16's acceptance: a whole domain of 20 boxes taken over from Dovecot. CSV import →
/// 20 welcome mails → 8 boxes start their copy from the webmail and 7 from the public start
/// page → the operator's console (Chromium, password + TOTP) shows 15 started and 5 not,
/// reminds exactly those 5, records the decertification and activates the domain → the
/// boxes work here: a start-page box logs in with its new password (not the welcome one),
/// sends PEC to a box that copied from the webmail, which receives it; every old password
/// is erased; each operator action is in `certa log search` under the operator's name.
#[test]
fn a_whole_domain_of_20_boxes_switches_over_through_the_console() {
    const DOMAIN: &str = "pec.comune.test";
    const BOXES: usize = 20;
    let old = OldProvider::start_with_users(DOMAIN, BOXES);
    old.fill(DOMAIN, BOXES, 3);
    let mut node = Node::new("pec.certa.test", None);
    let sink = tempfile::tempdir().expect("tempdir");
    let (_sink, port) = ordinary_mail_server(sink.path());
    certa_ok(
        node.data(),
        &["route", "add", "esempio.org", &format!("127.0.0.1:{port}")],
    );
    certa_ok(node.data(), &["plan", "add", "base", "--quota", "1GB"]);
    certa_ok(
        node.data(),
        &["plan", "add", "scuole", "--quota", "6GB", "--archive"],
    );
    // Ten days ahead: no automatic reminder is due yet (7, 3 and 1 days before).
    let switch = rome(unix_now() + 10 * 86_400);
    certa_ok(
        node.data(),
        &[
            "domain",
            "add",
            DOMAIN,
            "--migrating",
            "--switch",
            &switch,
            "--old-provider",
            "Vecchio Gestore",
            "--old-server",
            &old.server(),
            "--old-ca",
            path(&old.ca()),
        ],
    );
    let address = |i: usize| format!("casella{i:02}@{DOMAIN}");
    let recovery = |i: usize| format!("titolare{i:02}@esempio.org");
    let work = tempfile::tempdir().expect("tempdir");
    let csv = work.path().join("caselle.csv");
    let mut text = String::from("indirizzo;nome;email_recupero;piano\n");
    for i in 1..=BOXES {
        let plan = if i % 2 == 0 { "scuole" } else { "base" };
        text.push_str(&format!(
            "{};Scuola {i:02};{};{plan}\n",
            address(i),
            recovery(i)
        ));
    }
    std::fs::write(&csv, text).expect("write");
    let out = certa_ok(node.data(), &["mailbox", "import", path(&csv)]);
    assert!(out.contains("20 create, 0 invariate, 0 diverse"), "{out}");
    let again = certa_ok(node.data(), &["mailbox", "import", path(&csv)]);
    assert!(
        again.contains("0 create, 20 invariate, 0 diverse"),
        "{again}"
    );
    // The operator, with a second factor.
    let created = certa_ok(node.data(), &["operator", "add", "mario", "--totp"]);
    let operator_password = field_after(&created, "password:").to_string();
    let uri = field_after(&created, "totp:");
    let secret = uri
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("secret in the otpauth URI")
        .to_string();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(":mario?"),
        "{uri}"
    );
    let admin_port = free_port_base();
    node.edit_config(|c| {
        c.replacen(
            "[listen]\n",
            &format!("[listen]\nadmin = \"127.0.0.1:{admin_port}\"\n"),
            1,
        )
    });
    node.start();

    // Exactly one welcome mail per box, to its recovery address, with its password.
    let mails = wait_received(sink.path(), BOXES);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received(sink.path()).len(), BOXES, "the re-run sent none");
    let welcome_password = |i: usize| {
        let mail = mails
            .iter()
            .find(|m| m.contains(&format!("To: {}", recovery(i))))
            .unwrap_or_else(|| panic!("no welcome for {}", recovery(i)));
        assert!(
            mail.contains(&address(i)) && mail.contains("attivazione"),
            "{mail}"
        );
        field_after(mail, "Password provvisoria:").to_string()
    };
    let new_password = |i: usize| format!("Dopo#Cambio{i:02}z");
    // Boxes 1–8 copy from the webmail, 9–15 from the start page, 16–20 do nothing.
    let webmail_boxes: Vec<Value> = (1..=8)
        .map(|i| {
            serde_json::json!([
                address(i),
                welcome_password(i),
                new_password(i),
                box_password(i)
            ])
        })
        .collect();
    let start_boxes: Vec<Value> = (9..=15)
        .map(|i| serde_json::json!([address(i), box_password(i), new_password(i)]))
        .collect();
    let not_started: Vec<String> = (16..=BOXES).map(address).collect();
    let out_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-takeover");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let params = out_dir.join("params.json");
    std::fs::write(
        &params,
        serde_json::json!({
            "webmail": node.web_url(),
            "console": format!("https://127.0.0.1:{admin_port}"),
            "domain": DOMAIN,
            "operator": "mario",
            "password": operator_password,
            "totp_secret": secret,
            "out": out_dir,
            "webmail_boxes": webmail_boxes,
            "start_boxes": start_boxes,
            "not_started": not_started,
            "started": 15,
        })
        .to_string(),
    )
    .expect("params");
    console_script(&params, "copy");
    for i in 1..=15 {
        let s = wait_state(&node, &address(i), "copied");
        assert_eq!(s["copied_messages"].as_u64(), Some(3), "{s}");
    }
    // Before the switch the start page's password opens nothing yet.
    assert!(!imap_login(&node, &address(9), &new_password(9)));

    console_script(&params, "console");

    // Exactly the five not started were reminded, once each.
    let mails = received(sink.path());
    let reminders: Vec<&String> = mails.iter().filter(|m| m.contains("Promemoria")).collect();
    assert_eq!(reminders.len(), 5, "{reminders:?}");
    for i in 16..=BOXES {
        assert!(
            reminders
                .iter()
                .any(|m| m.contains(&format!("To: {}", recovery(i)))),
            "{} reminded",
            recovery(i)
        );
    }
    // The domain is active; every copy ran its last sync and forgot the old password.
    assert!(domain_line(&node, DOMAIN).contains("\tattivo\t"));
    for i in 1..=15 {
        wait_state(&node, &address(i), "finished");
    }
    let store = node.store();
    for i in 1..=15 {
        let m = store.mailbox(&address(i)).expect("mailbox").expect("box");
        let job = store.migration_job(m.id).expect("job").expect("job");
        assert_eq!(
            job.secret,
            None,
            "{}: the old password is erased",
            address(i)
        );
    }
    drop(store);
    // The start page's password is the box's now; the welcome one is not.
    assert!(imap_login(&node, &address(9), &new_password(9)));
    assert!(!imap_login(&node, &address(9), &welcome_password(9)));
    // A start-page box sends PEC to a box that copied from the webmail, which receives it.
    let message = format!(
        "From: {}\r\nTo: {}\r\nSubject: primo messaggio dopo il passaggio\r\n\r\nprova\r\n",
        address(9),
        address(1)
    );
    let sent = python_submit_as(
        node.submissions_port(),
        &node.ca(),
        (&address(9), &new_password(9)),
        &address(9),
        &[&address(1)],
        message.as_bytes(),
    );
    assert_eq!(sent, "OK", "{sent}");
    let inbox = node.wait_folder(&address(9), "INBOX", "acceptance and delivery", |m| {
        count(m, "accettazione") == 1 && count(m, "avvenuta-consegna-completa") == 1
    });
    assert_eq!(
        inbox.iter().filter(|m| m.0.is_none()).count(),
        3,
        "the start page's copy went into INBOX"
    );
    let theirs = node.wait_folder(&address(1), "INBOX", "the PEC", |m| {
        count(m, "busta-trasporto") == 1
    });
    assert_eq!(theirs.len(), 1, "{:?}", theirs.len());
    assert_eq!(
        node.folder(&address(1), &address(1)).len(),
        3,
        "the webmail's copy went into the folder named after the old address"
    );

    // Each console action under the operator's name, the import under the CLI's.
    let log = certa_ok(
        node.data(),
        &["log", "search", "--sender", "operatore:mario"],
    );
    for event in [
        "operatore-accesso",
        "promemoria-copia",
        "decertificazione",
        "piano-creato",
        "casella-sospesa",
        "casella-riattivata",
        "passaggio-dominio",
    ] {
        assert!(log.contains(event), "{event}: {log}");
    }
    assert_eq!(log.matches("promemoria-copia").count(), 5, "{log}");
    let created = certa_ok(node.data(), &["log", "search", "--event", "casella-creata"]);
    assert_eq!(created.lines().count(), BOXES, "{created}");
    assert!(created.lines().all(|l| l.contains("cli:")), "{created}");
    assert!(!log.contains(&operator_password));
    // Operators are managed from the command line, which is logged too.
    let list = certa_ok(node.data(), &["operator", "list"]);
    assert!(list.contains("mario\ttotp\tattivo"), "{list}");
    certa_ok(node.data(), &["operator", "disable", "mario"]);
    let list = certa_ok(node.data(), &["operator", "list"]);
    assert!(list.contains("mario\ttotp\tdisabilitato"), "{list}");
    let changed = certa_ok(
        node.data(),
        &["log", "search", "--msgid", "operatore:mario"],
    );
    assert!(
        changed.contains("operatore-creato") && changed.contains("operatore-modificato"),
        "{changed}"
    );
    assert!(certa_ok(node.data(), &["log", "verify"]).contains("registro integro"));
}
