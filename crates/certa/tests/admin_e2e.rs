//! Administration on a running server: a mailbox created with `--welcome` gets its password
//! by mail at the recovery address and works at once; `log search`; `mailbox` errors.

mod common;

use common::*;

#[test]
fn welcome_mail_carries_a_working_password_and_log_search_finds_events() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    a.start();
    // While the server runs.
    let out = certa_ok(
        a.data(),
        &[
            "mailbox",
            "add",
            "nuovo@pec.alpha.test",
            "--welcome",
            "--recovery-email",
            "titolare@example.org",
        ],
    );
    assert!(out.contains("titolare@example.org"), "{out}");
    let welcome = String::from_utf8_lossy(&first_received(sink_dir.path())).into_owned();
    assert!(welcome.contains("To: titolare@example.org"), "{welcome}");
    let password = welcome
        .lines()
        .find_map(|l| l.strip_prefix("Password provvisoria: "))
        .expect("the password is in the welcome mail")
        .trim()
        .to_string();
    assert!(services::accounts::check_password_policy(&password).is_ok());
    let mailbox = a.store().mailbox("nuovo@pec.alpha.test").unwrap().unwrap();
    assert!(
        mailbox.must_change_password,
        "to be changed at the first webmail login"
    );
    assert!(services::accounts::PasswordChecker::with_slots(1)
        .verify(&mailbox.password_hash, &password));

    // A mail client cannot use that password: it is changed in the webmail first (here by
    // the operator); then the new mailbox sends at once.
    let r = a.mailbox("r");
    let msg = format!("From: nuovo@pec.alpha.test\r\nTo: {r}\r\nSubject: primo\r\nMessage-ID: <w1@mua>\r\n\r\nciao\r\n");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.eml");
    std::fs::write(&f, &msg).unwrap();
    let script = "import smtplib,ssl,sys\nctx=ssl.create_default_context(cafile=sys.argv[2])\ns=smtplib.SMTP_SSL('127.0.0.1',int(sys.argv[1]),context=ctx)\ntry:\n  s.login('nuovo@pec.alpha.test',sys.argv[3])\nexcept smtplib.SMTPException as e:\n  print('ERR',e); sys.exit()\ns.sendmail('nuovo@pec.alpha.test',[sys.argv[4]],open(sys.argv[5],'rb').read())\nprint('OK')";
    let send = |password: &str| {
        let out = testkit::tool("python3")
            .args([
                "-c",
                script,
                &a.submissions_port().to_string(),
                a.ca().to_str().unwrap(),
                password,
                &r,
                f.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr)
    };
    let refused = send(&password);
    assert!(
        refused.starts_with("ERR") && refused.contains("webmail"),
        "{refused}"
    );
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "passwd",
            "nuovo@pec.alpha.test",
            "--password",
            PASSWORD,
        ],
    );
    assert_eq!(send(PASSWORD), "OK");
    a.wait_folder(&r, "INBOX", "envelope", |m| {
        count(m, "busta-trasporto") == 1
    });

    let log = certa_ok(
        a.data(),
        &["log", "search", "--sender", "nuovo@pec.alpha.test"],
    );
    assert!(
        log.contains("accettazione") && log.contains("busta-trasporto"),
        "{log}"
    );
    assert!(
        !log.contains("inoltro\t"),
        "only this sender's events: {log}"
    );
    let ident = a.store().folder_messages(&r, "INBOX").unwrap()[0]
        .identificativo
        .clone()
        .unwrap();
    let by_id = certa_ok(a.data(), &["log", "search", "--msgid", &ident]);
    assert!(
        by_id.lines().count() >= 3,
        "acceptance, envelope, delivery: {by_id}"
    );

    let since_then = certa_ok(a.data(), &["log", "search", "--since", "2000-01-01"]);
    assert!(
        since_then.lines().count() >= by_id.lines().count(),
        "{since_then}"
    );
    assert_eq!(
        certa_ok(a.data(), &["log", "search", "--since", "2999-01-01"]).trim(),
        "",
        "nothing after a future date"
    );
    let (ok, out) = certa(a.data(), &["log", "search", "--since", "ieri"]);
    assert!(!ok && out.contains("YYYY-MM-DD"), "{out}");

    // Clear refusals that change nothing.
    let (ok, out) = certa(
        a.data(),
        &[
            "mailbox",
            "add",
            "debole@pec.alpha.test",
            "--password",
            "password",
        ],
    );
    assert!(!ok && out.contains("politica"), "{out}");
    let (ok, out) = certa(
        a.data(),
        &["mailbox", "add", "x@altro.test", "--password", PASSWORD],
    );
    assert!(!ok && out.contains("not a domain"), "{out}");
    assert!(a
        .store()
        .mailbox("debole@pec.alpha.test")
        .unwrap()
        .is_none());
}
