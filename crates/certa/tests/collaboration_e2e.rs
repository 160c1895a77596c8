//! Multiutenza (issue 17) on a running server: the protocol matrix over real sockets
//! (tests/clients/collaboration_matrix.py: the webmail over HTTP, raw IMAPS, poplib, smtplib,
//! mbsync pulling a read-only login, invitations read from an ordinary mailbox), then what
//! only the operator sees — the legal log's actor on the collaborators' PEC and the CLI's
//! `collaborator list` and `revoke`.

mod common;

use common::*;

#[test]
fn every_delegation_on_every_protocol_and_what_the_log_and_the_cli_show() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    let box_ = a.mailbox("protocollo");
    let colleague = a.mailbox("collega");
    a.start();
    let mbsync_dir = tempfile::tempdir().unwrap();
    let params = serde_json::json!({
        "work": mbsync_dir.path(),
        "web": a.web_url(),
        "ca": a.ca(),
        "imaps": a.base + 4,
        "pop3s": a.base + 6,
        "submissions": a.submissions_port(),
        "box": box_,
        "password": PASSWORD,
        "colleague": colleague,
        "sink": sink_dir.path(),
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/collaboration_matrix.py"
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
        "collaboration_matrix.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The PEC the collaborators sent: the box is the certified sender, the legal log's
    // acceptance names who sent it, and the chain verifies.
    let store = a.store();
    let records = store.log_records(None).unwrap();
    let acceptances: Vec<_> = records
        .iter()
        .filter(|r| r.event == "accettazione" && r.subject.starts_with("da "))
        .collect();
    let actors: Vec<(&str, &str)> = acceptances
        .iter()
        .map(|r| (r.subject.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        actors,
        [
            ("da pieno", "collaboratore:pieno"),
            ("da app", "collaboratore:app")
        ]
    );
    assert!(acceptances.iter().all(|r| r.sender == box_));
    let invitations = records
        .iter()
        .filter(|r| r.event == "accettazione" && r.subject.starts_with("Invito a collaborare"))
        .count();
    // 3, then 28 more up to 30 open (the revoked reader's place is free again); the refused
    // 31st was never sent.
    assert_eq!(invitations, 31);
    assert!(records
        .iter()
        .filter(|r| r.subject.starts_with("Invito"))
        .all(|r| r.actor.is_empty()));
    let verified = certa_ok(a.data(), &["log", "verify"]);
    assert!(verified.contains("registro integro"), "{verified}");

    // An expired collaboration is refused at login over a real socket: app's expiry moved
    // into the past in the store (the server's clock cannot be moved).
    let m = store.mailbox(&box_).unwrap().unwrap();
    let app = store
        .collaborations_of_box(m.id)
        .unwrap()
        .into_iter()
        .find(|c| c.collaborator.as_deref() == Some("app"))
        .expect("app's collaboration");
    store
        .change_collaboration(m.id, app.id, "invio", Some(unix_now() - 1))
        .unwrap();
    let login = testkit::tool("python3")
        .args([
            "-c",
            &[
                "import smtplib, ssl, sys",
                "ctx = ssl.create_default_context(cafile=sys.argv[2])",
                "s = smtplib.SMTP_SSL('127.0.0.1', int(sys.argv[1]), context=ctx)",
                "try:",
                "    s.login(sys.argv[3], 'Verde#Prato42'); print('LOGGED IN')",
                "except smtplib.SMTPAuthenticationError as e:",
                "    print(e.smtp_code, e.smtp_error.decode())",
            ]
            .join("\n"),
            &a.submissions_port().to_string(),
            &a.ca().display().to_string(),
            &format!("app/{box_}"),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&login.stdout);
    assert!(
        said.starts_with("535 5.7.8") && said.contains("scaduta o revocata"),
        "{said}{}",
        String::from_utf8_lossy(&login.stderr)
    );

    // The operator's CLI: the list, a revocation logged with its actor.
    let list = certa_ok(a.data(), &["collaborator", "list", &box_]);
    assert!(
        list.contains("pieno\tPieno\tAccesso completo\tattiva"),
        "{list}"
    );
    assert!(
        list.contains("lettore\tLettore\tSolo consultazione\trevocata"),
        "{list}"
    );
    assert!(list.contains("app\tApp\tSolo invio\tscaduta"), "{list}");
    certa_ok(a.data(), &["collaborator", "revoke", &box_, "pieno"]);
    let list = certa_ok(a.data(), &["collaborator", "list", &box_]);
    assert!(
        list.contains("pieno\tPieno\tAccesso completo\trevocata"),
        "{list}"
    );
    let (ok, out) = certa(a.data(), &["collaborator", "revoke", &box_, "pieno"]);
    assert!(!ok && out.contains("non collabora"), "{out}");
    let (ok, out) = certa(
        a.data(),
        &["collaborator", "list", "nessuna@pec.alpha.test"],
    );
    assert!(!ok && out.contains("inesistente"), "{out}");
    let logged = certa_ok(
        a.data(),
        &["log", "search", "--event", "collaborazione-revocata"],
    );
    assert!(logged.contains(&format!("casella:{box_}")), "{logged}");
    let search = certa_ok(a.data(), &["log", "search", "--event", "accettazione"]);
    assert!(search.contains("\tcollaboratore:app"), "{search}");
}

/// The acceptance path in headless Chromium (tests/clients/collaboration_browser.py):
/// invitation, registration, a PEC with an attachment sent by the collaborator, "inviato
/// da", the activity page, a second box's invitation accepted in the panel, the reset.
#[test]
fn a_collaborator_from_invitation_to_password_reset_in_chromium() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    let box_ = a.mailbox("protocollo");
    let box2 = a.mailbox("segreteria");
    let colleague = a.mailbox("collega");
    a.start();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("collaboration-shots");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let params = serde_json::json!({
        "web": a.web_url(),
        "box": box_,
        "box2": box2,
        "password": PASSWORD,
        "colleague": colleague,
        "sink": sink_dir.path(),
        "out": out,
    });
    testkit::require(&["chromium", "chromedriver"]);
    testkit::require_python(&["selenium", "aiosmtpd"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/collaboration_browser.py"
    );
    let run = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.lines().any(|l| l == "OK"),
        "collaboration_browser.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // What the browser could not see: the PEC went out from the box, sent by mario.
    let store = a.store();
    let sent = store
        .log_records(None)
        .unwrap()
        .into_iter()
        .find(|r| r.event == "accettazione" && r.subject == "Verbale di mario")
        .expect("the acceptance of mario's PEC");
    assert_eq!(
        (sent.sender.as_str(), sent.actor.as_str()),
        (box_.as_str(), "collaboratore:mario")
    );
    a.wait_folder(&colleague, "INBOX", "mario's PEC delivered", |msgs| {
        msgs.iter()
            .any(|(_, m)| String::from_utf8_lossy(m).contains("Verbale di mario"))
    });
}
