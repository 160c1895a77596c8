//! Impostazioni pages on a running server (issue 18): the rule for ordinary mail set in the
//! webmail (tests/clients/forwarding_rule.py), then proved by ordinary mail arriving over
//! SMTP — forwarded to an aiosmtpd sink, delivered into the box as an anomaly, refused
//! after Reset — and a bad address or a POST without its token changing nothing; the
//! notification rules, the quota warnings; the Preferenze sections and Identità
//! (tests/clients/settings_sections.py over HTTPS, settings_browser.py in Chromium), each
//! proved where it acts: rows per page, receipt type, the From of a PEC as received.

mod common;

use common::*;

fn rule(a: &Node, box_: &str, args: &[&str]) -> String {
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "password": PASSWORD,
    });
    run_client("forwarding_rule.py", &params, args)
}

fn ordinary(subject: &str, to: &str) -> Vec<u8> {
    format!(
        "From: fornitore@example.net\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.net>\r\n\r\nPosta ordinaria.\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

#[test]
fn the_rule_for_ordinary_mail_set_in_the_webmail_is_what_smtp_does() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink = example_org_sink(&a);
    let sink_dir = &sink.dir;
    let box_ = a.mailbox("protocollo");
    a.start();
    let send = |subject: &str| {
        python_mx(
            a.smtp_port(),
            "fornitore@example.net",
            &box_,
            &ordinary(subject, &box_),
        )
    };

    // The default: refused, and the page says so.
    assert!(rule(&a, &box_, &["show"]).starts_with("rifiuta"));
    assert!(send("prima").starts_with("ERR"), "refused by default");

    // Forwarded to an ordinary address.
    let shown = rule(&a, &box_, &["salva", "Ufficio@Example.org"]);
    assert_eq!(
        shown,
        "inoltra inoltra i messaggi non certificati a ufficio@example.org"
    );
    assert_eq!(send("seconda"), "OK");
    let forwarded = String::from_utf8_lossy(&first_received(sink_dir.path())).into_owned();
    assert!(forwarded.contains("Subject: seconda"), "{forwarded}");

    // A bad address or a POST without its token leaves the rule as it was.
    assert!(rule(&a, &box_, &["bad"]).starts_with("inoltra"));
    assert!(rule(&a, &box_, &["nocsrf"]).starts_with("inoltra"));

    // The box's own address: delivered into the box, never as certified.
    assert!(rule(&a, &box_, &["salva", &box_]).starts_with("casella"));
    assert_eq!(send("terza"), "OK");
    a.wait_folder(
        &box_,
        "INBOX",
        "the ordinary message as an anomaly",
        |msgs| {
            msgs.iter().any(|(kind, m)| {
                kind.as_deref() == Some("busta-anomalia")
                    && String::from_utf8_lossy(m).contains("terza")
            })
        },
    );

    // Reset: refused again.
    assert!(rule(&a, &box_, &["reset"]).starts_with("rifiuta"));
    assert!(send("quarta").starts_with("ERR"));
}

fn notification_rules(a: &Node, box_: &str, args: &[&str]) -> String {
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "password": PASSWORD,
    });
    run_client("notification_rule.py", &params, args)
}

/// The messages the sink holds, as text, oldest first.
fn sink_mails(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
    });
    names
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

fn wait_sink(dir: &std::path::Path, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = sink_mails(dir);
        if got.len() >= n {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "sink has {got:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_notification_rule_announces_each_pec_received_once_and_only_from_its_sender() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink = example_org_sink(&a);
    let sink_dir = &sink.dir;
    let box_ = a.mailbox("protocollo");
    let anna = a.mailbox("anna");
    let bruno = a.mailbox("bruno");
    a.start();
    let pec = |from: &str, subject: &str| {
        let m = format!(
            "From: {from}\r\nTo: {box_}\r\nSubject: {subject}\r\nMessage-ID: <{}@mua>\r\n\r\n\
             Testo riservato del messaggio.\r\n",
            subject.replace(' ', "-")
        );
        let r = python_submit(
            a.submissions_port(),
            &a.ca(),
            from,
            from,
            &[&box_],
            m.as_bytes(),
        );
        assert_eq!(r, "OK", "{r}");
    };

    // A rule for every sender: exactly one notice per PEC, with sender, subject and kind,
    // never the text.
    assert_eq!(notification_rules(&a, &box_, &["show"]), "");
    let shown = notification_rules(&a, &box_, &["add", "segreteria@example.org"]);
    assert_eq!(shown, "segreteria@example.org tutti i mittenti");
    pec(&anna, "Convocazione");
    let notice = wait_sink(sink_dir.path(), 1).remove(0);
    assert!(notice.contains("To: segreteria@example.org"), "{notice}");
    assert!(notice.contains(&format!("Mittente: {anna}")), "{notice}");
    assert!(notice.contains("Oggetto: Convocazione") && notice.contains("Tipo: posta certificata"));
    assert!(
        !notice.contains("Testo riservato"),
        "never the body: {notice}"
    );
    assert!(
        notice.contains("From: posta-certificata@pec.alpha.test"),
        "{notice}"
    );

    // A rule for one sender only; the rule for everyone reset. A PEC from another sender
    // announces nothing; one from the sender, one notice.
    notification_rules(&a, &box_, &["add", "ufficio@example.org", &bruno]);
    let shown = notification_rules(&a, &box_, &["reset", "0"]);
    assert_eq!(shown, format!("ufficio@example.org {bruno}"));
    assert_eq!(
        notification_rules(&a, &box_, &["bad"]),
        shown,
        "a bad rule changes nothing"
    );
    pec(&anna, "Non annunciato");
    pec(&bruno, "Annunciato");
    let all = wait_sink(sink_dir.path(), 2);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let all_now = sink_mails(sink_dir.path());
    assert_eq!(all_now.len(), 2, "one notice per matching PEC: {all:?}");
    assert!(all_now[1].contains("To: ufficio@example.org") && all_now[1].contains("Annunciato"));
    a.wait_folder(&box_, "INBOX", "both PEC delivered", |msgs| {
        ["Non annunciato", "Annunciato"].iter().all(|s| {
            msgs.iter().any(|(k, m)| {
                k.as_deref() == Some("busta-trasporto") && String::from_utf8_lossy(m).contains(s)
            })
        })
    });
}

#[test]
fn quota_warnings_at_70_and_90_percent_once_each_in_the_box_and_at_the_recovery_address() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink = example_org_sink(&a);
    let sink_dir = &sink.dir;
    let box_ = "piccola@pec.alpha.test";
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "add",
            box_,
            "--password",
            PASSWORD,
            "--quota",
            "300KB",
            "--recovery-email",
            "titolare@example.org",
        ],
    );
    let sender = a.mailbox("mittente");
    a.start();
    let store = a.store();
    let pct = || {
        let m = store.mailbox(box_).unwrap().unwrap();
        m.used * 100 / m.quota
    };
    let warnings = |a: &Node| {
        a.folder(box_, "INBOX")
            .into_iter()
            .filter(|(_, m)| {
                String::from_utf8_lossy(m).contains("Subject: Avviso: spazio della casella")
            })
            .count()
    };
    // About 55 KB each: 18 %, 37 %, 55 %, 73 % (warned), 92 % (warned), then full.
    let filler = "x".repeat(76);
    let body: String = (0..700).map(|_| format!("{filler}\r\n")).collect();
    let mut seen = vec![];
    for i in 1..=5 {
        let m = format!(
            "From: {sender}\r\nTo: {box_}\r\nSubject: Pratica {i}\r\nMessage-ID: <q{i}@mua>\r\n\r\n{body}"
        );
        let r = python_submit(
            a.submissions_port(),
            &a.ca(),
            &sender,
            &sender,
            &[box_],
            m.as_bytes(),
        );
        assert_eq!(r, "OK", "{r}");
        a.wait_folder(box_, "INBOX", "delivered", |msgs| {
            msgs.iter()
                .any(|(_, m)| String::from_utf8_lossy(m).contains(&format!("Subject: Pratica {i}")))
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        seen.push((pct(), warnings(&a)));
    }
    // No warning below 70 %, one on crossing 70 %, a second on crossing 90 %, none after.
    let expected: Vec<usize> = seen
        .iter()
        .map(|(p, _)| match p {
            p if *p >= 90 => 2,
            p if *p >= 70 => 1,
            _ => 0,
        })
        .collect();
    assert_eq!(
        seen.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        expected,
        "{seen:?}"
    );
    assert_eq!(expected.last(), Some(&2), "the test reaches 90 %: {seen:?}");
    // The pace of the last weeks gives the forecast (everything arrived just now).
    let texts: Vec<String> = a
        .folder(box_, "INBOX")
        .into_iter()
        .map(|(_, m)| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.contains("Subject: Avviso: spazio della casella"))
        .collect();
    assert!(
        texts
            .iter()
            .all(|m| m.contains("Al ritmo attuale la casella sar")),
        "{texts:?}"
    );
    let at_recovery = wait_sink(sink_dir.path(), 2);
    assert!(at_recovery
        .iter()
        .all(|m| m.contains("To: titolare@example.org") && m.contains("Avviso: spazio")));
    // And beside the quota bar of every page.
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "password": PASSWORD,
    });
    let html = run_client("page_as.py", &params, &["/settings"]);
    assert!(
        html.contains("id=\"quota-forecast\" data-days=\"1\""),
        "{html}"
    );
}

fn report(a: &Node, box_: &str, kind: &str, args: &[&str]) -> String {
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "password": PASSWORD,
    });
    let args: Vec<&str> = std::iter::once(kind).chain(args.iter().copied()).collect();
    run_client("report_setting.py", &params, &args)
}

/// A local HTTP server acting as the SMS gateway: records each request's body, answers 200.
fn sms_gateway() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = std::io::BufReader::new(conn);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                recorded
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

#[test]
fn daily_reports_by_email_and_sms_come_once_at_the_chosen_hour_even_across_a_restart() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink = example_org_sink(&a);
    let sink_dir = &sink.dir;
    let (gateway, sms) = sms_gateway();
    a.edit_config(|c| {
        format!(
            "{c}\n[sms]\nadapter = \"http\"\nsender = \"CertaPEC\"\n[sms.http]\n\
             url = \"http://127.0.0.1:{gateway}/sms\"\nbody = \"to={{to}}&testo={{text}}\"\n"
        )
    });
    let box_ = a.mailbox("protocollo");
    let sender = a.mailbox("mittente");
    a.start();

    // A PEC arrives in the box.
    let m = format!(
        "From: {sender}\r\nTo: {box_}\r\nSubject: Pratica 7\r\nMessage-ID: <r7@mua>\r\n\r\nTesto.\r\n"
    );
    let r = python_submit(
        a.submissions_port(),
        &a.ca(),
        &sender,
        &sender,
        &[&box_],
        m.as_bytes(),
    );
    assert_eq!(r, "OK", "{r}");
    a.wait_folder(&box_, "INBOX", "delivered", |msgs| {
        msgs.iter()
            .any(|(_, m)| String::from_utf8_lossy(m).contains("Subject: Pratica 7"))
    });

    // The pages: nothing set; a bad value or a POST without its token changes nothing.
    for kind in ["email", "sms"] {
        assert_eq!(report(&a, &box_, kind, &["show"]), "none");
        assert_eq!(report(&a, &box_, kind, &["bad"]), "none");
        assert_eq!(report(&a, &box_, kind, &["nocsrf"]), "none");
    }
    // Midnight, Italian time: always come today, so both are due at once.
    assert_eq!(
        report(&a, &box_, "email", &["salva", "Ufficio@Example.org", "0"]),
        "ufficio@example.org 0"
    );
    assert_eq!(
        report(&a, &box_, "sms", &["salva", "333 123 4567", "0"]),
        "+393331234567 0"
    );

    let mail = String::from_utf8_lossy(&first_received(sink_dir.path())).into_owned();
    assert!(
        mail.contains(&format!(
            "Subject: Report giornaliero della casella PEC {box_}"
        )),
        "{mail}"
    );
    assert!(
        mail.contains("- messaggi di posta certificata: 1"),
        "{mail}"
    );
    assert!(!mail.contains("Testo."), "never the body:\n{mail}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sms.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no SMS at the gateway"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let body = sms.lock().unwrap()[0].clone();
    let fields: std::collections::HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(fields.get("to").map(String::as_str), Some("+393331234567"));
    let text = fields.get("testo").cloned().unwrap_or_default();
    assert!(text.contains("1 messaggi certificati"), "{text}");
    let (ok, list) = certa(a.data(), &["sms", "list"]);
    assert!(
        ok && list.contains("+393331234567") && list.contains("sent"),
        "{list}"
    );

    // A restart the same day: no second report of either kind. (The relay of the e-mail must
    // have finished first: one killed between the sink's 250 and its own dequeue delivers
    // again after the restart, as SMTP allows.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !certa_ok(a.data(), &["queue", "list"]).contains("coda vuota") {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not empty"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    a.kill();
    a.start();
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(sms.lock().unwrap().len(), 1, "one SMS a day");
    let mails = std::fs::read_dir(sink_dir.path()).unwrap().count();
    assert_eq!(mails, 1, "one e-mail report a day");

    // Reset: the page shows none.
    assert_eq!(report(&a, &box_, "sms", &["reset"]), "none");
}

/// Receipts in real time in headless Chromium (tests/clients/live_receipts.py): the open
/// INBOX list shows the acceptance and delivery receipts of a PEC sent by another client
/// within 2 seconds, with no click; the list page allows only its own script.
#[test]
fn receipts_appear_in_the_open_list_within_two_seconds_in_chromium() {
    let mut a = Node::new("pec.alpha.test", None);
    let box_ = a.mailbox("protocollo");
    let other = a.mailbox("ragioneria");
    a.start();
    // A message already in the list, to tick.
    let m = format!(
        "From: {other}\r\nTo: {box_}\r\nSubject: Da spuntare\r\nMessage-ID: <tick@mua>\r\n\r\nx\r\n"
    );
    let r = python_submit(
        a.submissions_port(),
        &a.ca(),
        &other,
        &other,
        &[&box_],
        m.as_bytes(),
    );
    assert_eq!(r, "OK", "{r}");
    a.wait_folder(&box_, "INBOX", "delivered", |msgs| !msgs.is_empty());
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-receipts");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "other": other,
        "password": PASSWORD, "submissions": a.submissions_port(), "out": out,
    });
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium"]);
    run_flow("live_receipts.py", &params);
}

/// The From of the original a transport envelope carries, as Python's e-mail package
/// reads it (RFC 2047 decoded): display name and address.
fn original_from(envelope: &[u8]) -> (String, String) {
    use std::io::Write;
    let script = "import sys, email, email.policy\n\
        m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n\
        inner = [p for p in m.walk() if p.get_content_type() == 'message/rfc822'][0].get_content()\n\
        a = inner['From'].addresses[0]\n\
        print(a.display_name); print(a.addr_spec)\n";
    let mut child = testkit::tool("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(envelope).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().map(str::to_string);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// Each section of Preferenze and Identità saves, and acts where it should: the page size
/// and order of the list, HTML or text first, marking as read, the receipt preselected in
/// compose, quoting, the signature in the compose form; bad values answer 400 and change
/// nothing, a POST without its token 403. The PEC then sent from the compose form arrives
/// with the display name in its From and gets the default receipt type.
#[test]
fn each_preference_saves_and_shows_its_effect_where_it_acts() {
    let mut a = Node::new("pec.alpha.test", None);
    let box_ = a.mailbox("protocollo");
    let recipient = a.mailbox("anagrafe");
    a.start();
    let name = "Ufficio Protocollo – Comune di Forlì";
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "imaps": a.base + 4, "box": box_,
        "password": PASSWORD, "recipient": recipient, "name": name,
        "signature": "Mario Rossi\nUfficio protocollo",
    });
    run_flow("settings_sections.py", &params);

    // As received: the name in the From of the original, the address the box's.
    let received = a.wait_folder(&recipient, "INBOX", "the PEC delivered", |msgs| {
        msgs.iter().any(|(k, m)| {
            k.as_deref() == Some("busta-trasporto")
                && String::from_utf8_lossy(m).contains("Verbale del protocollo")
        })
    });
    let envelope = received
        .iter()
        .find(|(k, _)| k.as_deref() == Some("busta-trasporto"))
        .map(|(_, m)| m.clone())
        .unwrap();
    assert_eq!(original_from(&envelope), (name.to_string(), box_.clone()));
    // The receipt type preselected from Composizione Messaggi is the one delivered.
    a.wait_folder(&box_, "INBOX", "a sintetica delivery receipt", |msgs| {
        count(msgs, "avvenuta-consegna-sintetica") == 1
    });
}

/// Impostazioni in headless Chromium (tests/clients/settings_browser.py): the tabs, every
/// built section in the same frame, each section saved, Identità's name and signature in
/// the compose form; screenshots kept under the target's temporary directory.
#[test]
fn impostazioni_tabs_and_sections_in_chromium() {
    let mut a = Node::new("pec.alpha.test", None);
    let box_ = a.mailbox("protocollo");
    a.start();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("settings-screenshots");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium"]);
    let params = serde_json::json!({
        "web": a.web_url(), "box": box_, "password": PASSWORD, "out": out,
    });
    run_flow("settings_browser.py", &params);
    for shot in [
        "01-interfaccia-utente",
        "03-impaginazione",
        "06-cartelle",
        "07-identita",
        "08-compose",
        "09-english",
    ] {
        let len = std::fs::metadata(out.join(format!("{shot}.png")))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 10_000, "{shot}.png saved ({len} bytes)");
    }
}
