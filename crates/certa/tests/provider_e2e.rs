//! Issue "The provider": two providers (pec.alpha.test and pec.beta.test), each from
//! `certa quickstart`, each importing the other's index entry and a static route; real
//! processes on loopback, real SMTP with TLS, Python's smtplib as the client.

mod common;

use common::*;
use std::time::Duration;

fn original(from: &str, to: &str, cc: Option<&str>, receipt: &str, msgid: &str) -> Vec<u8> {
    use std::fmt::Write;
    let mut m = format!("From: {from}\r\nTo: {to}\r\n");
    if let Some(cc) = cc {
        let _ = write!(m, "Cc: {cc}\r\n");
    }
    let _ = write!(
        m,
        "Subject: Fattura n. 7 del 23/11\r\nMessage-ID: <{msgid}>\r\nX-TipoRicevuta: {receipt}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato la fattura e il contratto.\r\n\
--b\r\nContent-Type: application/pdf; name=\"fattura.pdf\"\r\nContent-Disposition: attachment; filename=\"fattura.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKZmF0dHVyYQo=\r\n\
--b\r\nContent-Type: application/xml; name=\"contratto.xml\"\r\nContent-Disposition: attachment; filename=\"contratto.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\nPGNvbnRyYXR0by8+\r\n--b--\r\n"
    );
    m.into_bytes()
}

#[test]
fn two_providers_to_and_cc_with_breve_receipts() {
    let mut a = Node::new("pec.alpha.test", None);
    let mut b = Node::new("pec.beta.test", None);
    let sender = a.mailbox("a");
    let (rb, rc) = (b.mailbox("b"), b.mailbox("c"));
    a.peer_with(&b);
    b.peer_with(&a);
    a.start();
    b.start();

    let msg = original(&sender, &rb, Some(&rc), "breve", "client-42@mua.example");
    let r = python_submit(
        a.submissions_port(),
        &a.ca(),
        &sender,
        &sender,
        &[&rb, &rc],
        &msg,
    );
    assert_eq!(r, "OK");

    let inbox_a = a.wait_folder(
        &sender,
        "INBOX",
        "acceptance and two delivery receipts",
        |m| {
            count(m, "accettazione") == 1
                && count(m, "avvenuta-consegna-breve") == 1
                && count(m, "avvenuta-consegna-sintetica") == 1
        },
    );
    let env_b = b.wait_folder(&rb, "INBOX", "envelope for b", |m| {
        count(m, "busta-trasporto") == 1
    });
    let env_c = b.wait_folder(&rc, "INBOX", "envelope for c", |m| {
        count(m, "busta-trasporto") == 1
    });
    let service = format!("posta-certificata@{}", a.domain);
    let taken = a.wait_folder(&service, "INBOX", "presa in carico", |m| {
        count(m, "presa-in-carico") == 1
    });

    // Every message verifies with its issuing CA and has a DTD-valid daticert.xml, and all
    // carry one identificativo.
    let acc = &inbox_a
        .iter()
        .find(|m| m.0.as_deref() == Some("accettazione"))
        .unwrap()
        .1;
    let ident = daticert(acc).identificativo;
    check_signed(acc, &a.ca(), Some("accettazione"));
    for (_, bytes) in inbox_a
        .iter()
        .filter(|m| m.0.as_deref() != Some("accettazione"))
    {
        check_signed(bytes, &b.ca(), Some("avvenuta-consegna"));
        assert_eq!(daticert(bytes).identificativo, ident);
    }
    check_signed(&taken[0].1, &b.ca(), Some("presa-in-carico"));
    assert_eq!(daticert(&taken[0].1).identificativo, ident);
    for env in [&env_b[0].1, &env_c[0].1] {
        check_signed(env, &a.ca(), Some("posta-certificata"));
        assert_eq!(daticert(env).identificativo, ident);
        let parsed = pec::classify(env).unwrap();
        let expected =
            pec::headers::rewrite_message_id(&msg, &ident, Some("<client-42@mua.example>"));
        assert_eq!(
            parsed.original(env).unwrap(),
            &expected[..],
            "postacert.eml is the submission but for the Message-ID"
        );
    }
    // Breve for the To recipient with the attachments' SHA-1; sintetica for Cc.
    let breve = &inbox_a
        .iter()
        .find(|m| m.0.as_deref() == Some("avvenuta-consegna-breve"))
        .unwrap()
        .1;
    let p = pec::classify(breve).unwrap();
    assert_eq!(p.daticert.unwrap().consegna.as_deref(), Some(rb.as_str()));
    let mut hashes = p.hashes.clone();
    hashes.sort();
    assert_eq!(
        hashes,
        vec![
            (
                "contratto.xml".to_string(),
                pec::breve::sha1_hex(b"<contratto/>")
            ),
            (
                "fattura.pdf".to_string(),
                pec::breve::sha1_hex(b"%PDF-1.4\nfattura\n")
            ),
        ]
    );
    let sintetica = &inbox_a
        .iter()
        .find(|m| m.0.as_deref() == Some("avvenuta-consegna-sintetica"))
        .unwrap()
        .1;
    assert_eq!(daticert(sintetica).consegna.as_deref(), Some(rc.as_str()));

    // The sender's copy in Posta inviata, and the status per recipient.
    let sent = a.folder(&sender, "Posta inviata");
    assert_eq!(sent.len(), 1);
    let status = certa_ok(a.data(), &["message", "status", &ident]);
    assert!(
        status.contains(&format!("{rb}\tcertificato\tdelivered")),
        "{status}"
    );
    assert!(
        status.contains(&format!("{rc}\tcertificato\tdelivered")),
        "{status}"
    );
    for n in [&a, &b] {
        assert!(certa_ok(n.data(), &["log", "verify"]).contains("registro integro"));
    }
}

#[test]
fn within_one_provider_formal_errors_and_unknown_recipient() {
    let mut a = Node::new("pec.alpha.test", None);
    let (s, r) = (a.mailbox("mario"), a.mailbox("luisa"));
    a.start();

    // Delivery within one provider: acceptance and a complete delivery receipt.
    let msg = original(&s, &r, None, "completa", "local-1@mua.example");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&r], &msg),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "acceptance and delivery", |m| {
        count(m, "accettazione") == 1 && count(m, "avvenuta-consegna-completa") == 1
    });
    for (_, bytes) in &inbox {
        check_signed(bytes, &a.ca(), None);
    }
    a.wait_folder(&r, "INBOX", "envelope", |m| {
        count(m, "busta-trasporto") == 1
    });

    // A formal error: the SMTP session says so, and a signed notice arrives.
    let bcc = format!("From: {s}\r\nTo: {r}\r\nBcc: {r}\r\nSubject: con Bcc\r\n\r\ntesto\r\n");
    let out = python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&r], bcc.as_bytes());
    // Build §3: the reason in Italian, then in English.
    let italian = "la posta certificata non ammette destinatari in copia nascosta (campo Bcc)";
    let english = "certified mail does not allow blind-copy recipients (Bcc field)";
    assert!(
        out.starts_with("ERR")
            && out.contains("550")
            && out.contains(&format!("{italian} / {english}")),
        "{out}"
    );
    let inbox = a.wait_folder(&s, "INBOX", "non-acceptance", |m| {
        count(m, "non-accettazione") == 1
    });
    let notice = &inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("non-accettazione"))
        .unwrap()
        .1;
    check_signed(notice, &a.ca(), Some("non-accettazione"));
    assert!(String::from_utf8_lossy(notice).contains("AVVISO DI NON ACCETTAZIONE"));
    assert_eq!(
        daticert(notice).errore_esteso.as_deref(),
        Some(format!("{italian} / {english}").as_str())
    );

    // Every other formal error (RFC 6109 §3.1.1), each: SMTP 550 naming it and one more signed
    // notice.
    let cases = [
        (format!("To: {r}\r\nSubject: senza From\r\n\r\nx\r\n"), "From"),
        (format!("From: {s}, altro@pec.alpha.test\r\nTo: {r}\r\nSubject: due From\r\n\r\nx\r\n"), "From"),
        (format!("From: {s}\r\nCc: {r}\r\nSubject: senza To\r\n\r\nx\r\n"), "To"),
        (format!("From: {s}\r\nTo: altro@pec.alpha.test\r\nSubject: destinatario assente\r\n\r\nx\r\n"), "non compare"),
    ];
    for (i, (m, needle)) in cases.iter().enumerate() {
        let out = python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&r], m.as_bytes());
        assert!(
            out.starts_with("ERR") && out.contains("550") && out.contains(needle),
            "{m}: {out}"
        );
        a.wait_folder(&s, "INBOX", "one notice per formal error", |msgs| {
            count(msgs, "non-accettazione") == i + 2
        });
    }

    // From differing from the authenticated mailbox is refused at MAIL FROM.
    let out = python_submit(a.submissions_port(), &a.ca(), &s, &r, &[&r], &msg);
    assert!(out.starts_with("ERR") && out.contains("553"), "{out}");

    // Unknown recipient: avviso di mancata consegna (no-dest).
    let ghost = format!("nessuno@{}", a.domain);
    let msg = original(&s, &ghost, None, "completa", "local-2@mua.example");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&ghost], &msg),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "non-delivery", |m| {
        count(m, "mancata-consegna") == 1
    });
    let nd = &inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("mancata-consegna"))
        .unwrap()
        .1;
    check_signed(nd, &a.ca(), Some("errore-consegna"));
    let d = daticert(nd);
    assert_eq!(d.errore, pec::ErrorCode::NoDest);
    assert_eq!(d.consegna.as_deref(), Some(ghost.as_str()));

    a.kill();
    // The legal log verifies, and editing one record breaks it.
    assert!(certa_ok(a.data(), &["log", "verify"]).contains("registro integro"));
    let db = rusqlite_edit(a.data());
    assert!(db, "edited a log record");
    let (ok, out) = certa(a.data(), &["log", "verify"]);
    assert!(!ok && out.contains("ALTERATO"), "{out}");
}

/// Edits one legal-log record behind Certa's back, with the sqlite3 command.
fn rusqlite_edit(data: &std::path::Path) -> bool {
    let out = testkit::tool("sqlite3")
        .arg(data.join("certa.db"))
        .arg("UPDATE legal_log SET sender = 'falso@pec.alpha.test' WHERE seq = 2;")
        .output();
    matches!(out, Ok(o) if o.status.success())
}

#[test]
fn unknown_provider_or_altered_content_is_never_delivered_as_certified() {
    let mut b = Node::new("pec.beta.test", None);
    let rb = b.mailbox("b");
    b.start();
    // A provider B does not know signs a perfectly formed envelope.
    let rogue = Node::new("pec.rogue.test", None);
    let signer = pec::Signer::from_pem(
        &std::fs::read(rogue.data().join("pki/signing.pem")).unwrap(),
        &std::fs::read(rogue.data().join("pki/signing-key.pem")).unwrap(),
    )
    .unwrap();
    let provider = pec::ProviderIdentity::new("Rogue", "pec.rogue.test");
    let msg = original("x@pec.rogue.test", &rb, None, "completa", "rogue@mua");
    let time = pec::PecTime::from_unix_or_epoch(unix_now());
    let tx = pec::Transaction::from_original(
        &msg,
        "x@pec.rogue.test",
        std::slice::from_ref(&rb),
        "rogue.1@pec.rogue.test".into(),
        time,
        |_| true,
    );
    let envelope = pec::Builder::new(&provider)
        .transport_envelope(&tx, &msg)
        .sign(&signer)
        .unwrap();
    let out = python_mx(b.smtp_port(), "x@pec.rogue.test", &rb, &envelope);
    assert!(out.contains("550"), "unknown provider refused: {out}");

    // Now B knows the provider, but the content was altered after signing.
    b.peer_with(&rogue);
    let altered = String::from_utf8_lossy(&envelope)
        .replacen("In allegato la fattura", "In allegato la FATTURA", 1)
        .into_bytes();
    let out = python_mx(b.smtp_port(), "x@pec.rogue.test", &rb, &altered);
    assert!(
        out.contains("550") && out.contains("alterato"),
        "altered content refused: {out}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(b.folder(&rb, "INBOX").is_empty(), "nothing delivered");

    // With the mailbox set to receive ordinary mail as anomalies, it arrives wrapped, not certified.
    certa_ok(b.data(), &["mailbox", "ordinary", &rb, "anomaly"]);
    let out = python_mx(b.smtp_port(), "x@pec.rogue.test", &rb, &altered);
    assert!(out.starts_with("OK"), "{out}");
    let inbox = b.wait_folder(&rb, "INBOX", "anomaly envelope", |m| {
        count(m, "busta-anomalia") == 1
    });
    check_signed(&inbox[0].1, &b.ca(), None);
    assert!(String::from_utf8_lossy(&inbox[0].1).contains("ANOMALIA MESSAGGIO:"));

    // The genuine envelope from a known provider is taken in charge and delivered.
    let out = python_mx(b.smtp_port(), "x@pec.rogue.test", &rb, &envelope);
    assert!(out.starts_with("OK"), "{out}");
    b.wait_folder(&rb, "INBOX", "certified envelope", |m| {
        count(m, "busta-trasporto") == 1
    });
}

#[test]
fn timeout_notices_when_the_recipient_provider_is_down() {
    // 12 h → 3 s, 24 h → 10 s.
    let mut a = Node::new("pec.alpha.test", Some((3, 10)));
    let mut b = Node::new("pec.beta.test", None);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    a.peer_with(&b);
    b.peer_with(&a);
    a.start();
    // B is down: the 12 h notice, then the 24 h notice.
    let msg = original(&s, &rb, None, "completa", "t-1@mua");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&rb], &msg),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "12 h notice", |m| {
        count(m, "mancata-consegna-12h") == 1
    });
    check_signed(
        &inbox
            .iter()
            .find(|m| m.0.as_deref() == Some("mancata-consegna-12h"))
            .unwrap()
            .1,
        &a.ca(),
        Some("preavviso-errore-consegna"),
    );
    let inbox = a.wait_folder(&s, "INBOX", "24 h notice", |m| {
        count(m, "mancata-consegna-24h") == 1
    });
    assert_eq!(count(&inbox, "mancata-consegna-12h"), 1);

    // Second message; B comes back before the 24 h mark: delivered, only the 12 h notice.
    let msg = original(&s, &rb, None, "completa", "t-2@mua");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&rb], &msg),
        "OK"
    );
    a.wait_folder(&s, "INBOX", "second 12 h notice", |m| {
        count(m, "mancata-consegna-12h") == 2
    });
    b.start();
    let inbox = a.wait_folder(&s, "INBOX", "delivery after restart", |m| {
        count(m, "avvenuta-consegna-completa") == 1
    });
    std::thread::sleep(Duration::from_secs(9));
    let inbox_later = a.folder(&s, "INBOX");
    assert_eq!(
        count(&inbox_later, "mancata-consegna-24h"),
        1,
        "no 24 h notice for the delivered message"
    );
    let _ = inbox;
}

#[test]
fn pec_to_an_ordinary_address_relays_the_signed_envelope() {
    let mut a = Node::new("pec.alpha.test", Some((2, 4)));
    let s = a.mailbox("a");
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    a.start();

    let msg = original(&s, "x@example.org", None, "completa", "ord-1@mua");
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &["x@example.org"],
            &msg
        ),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "acceptance", |m| count(m, "accettazione") == 1);
    let acc = &inbox[0].1;
    assert!(String::from_utf8_lossy(acc).contains("x@example.org (\"posta ordinaria\")"));
    assert_eq!(
        daticert(acc).destinatari[0].tipo,
        pec::RecipientKind::Esterno
    );

    // The sink receives the signed envelope, which verifies.
    let received = first_received(sink_dir.path());
    check_signed(&received, &a.ca(), Some("posta-certificata"));
    assert!(String::from_utf8_lossy(&received).contains("X-Trasporto: posta-certificata"));

    // No delivery receipt and no timeout notice for an ordinary address.
    std::thread::sleep(Duration::from_secs(6));
    let inbox = a.folder(&s, "INBOX");
    assert_eq!(
        inbox.len(),
        1,
        "only the acceptance: {:?}",
        inbox.iter().map(|m| m.0.clone()).collect::<Vec<_>>()
    );
    let ident = daticert(acc).identificativo;
    assert!(certa_ok(a.data(), &["message", "status", &ident])
        .contains("x@example.org\testerno\tsent-ordinary"));
}

#[test]
fn ordinary_mail_forwarded_and_pec_never_sent_without_tls() {
    let mut a = Node::new("pec.alpha.test", None);
    let mut b = Node::new("pec.beta.test", None);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    // B forwards ordinary mail for b to an ordinary address.
    certa_ok(
        b.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    certa_ok(
        b.data(),
        &[
            "mailbox",
            "ordinary",
            &rb,
            "forward",
            "--to",
            "b.privato@example.org",
        ],
    );
    // A knows B from the index, but its route points at a server without STARTTLS.
    a.peer_with(&b);
    certa_ok(
        a.data(),
        &[
            "route",
            "add",
            "pec.beta.test",
            &format!("127.0.0.1:{port}"),
        ],
    );
    a.start();
    b.start();

    let ordinary = "From: amico@example.org\r\nTo: b@pec.beta.test\r\nSubject: ciao\r\nMessage-ID: <o1@example.org>\r\n\r\nposta ordinaria\r\n";
    let out = python_mx(b.smtp_port(), "amico@example.org", &rb, ordinary.as_bytes());
    assert!(out.starts_with("OK"), "{out}");
    let forwarded = String::from_utf8_lossy(&first_received(sink_dir.path())).into_owned();
    assert!(
        forwarded.contains("posta ordinaria") && forwarded.contains("Message-ID: <o1@example.org>"),
        "{forwarded}"
    );
    assert!(
        b.folder(&rb, "INBOX").is_empty(),
        "ordinary mail is not delivered to the PEC mailbox"
    );

    let msg = original(&s, &rb, None, "completa", "notls@mua");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&rb], &msg),
        "OK"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        std::fs::read_dir(sink_dir.path()).unwrap().count(),
        1,
        "the envelope never went to a server without TLS"
    );
    let out = testkit::tool("sqlite3")
        .arg(a.data().join("certa.db"))
        .arg("SELECT last_error FROM queue")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("STARTTLS"), "{err}");
}

#[test]
fn giving_up_after_the_24h_notice_sends_nothing_more() {
    // 12 h → 2 s, 24 h → 4 s, the relay gives up after 6 s; B never comes up.
    let mut a = Node::new("pec.alpha.test", Some((2, 4)));
    let b = Node::new("pec.beta.test", None);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    a.peer_with(&b);
    let cfg_path = a.data().join("certa.toml");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("max_queue_secs = 86400", "max_queue_secs = 6");
    std::fs::write(&cfg_path, cfg).unwrap();
    a.start();
    let msg = original(&s, &rb, None, "completa", "giveup@mua");
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), &s, &s, &[&rb], &msg),
        "OK"
    );
    a.wait_folder(&s, "INBOX", "24 h notice", |m| {
        count(m, "mancata-consegna-24h") == 1
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while a.store().queue_len().unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay never gave up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let inbox = a.folder(&s, "INBOX");
    assert_eq!(
        count(&inbox, "mancata-consegna"),
        0,
        "no second notice after the 24 h one"
    );
    assert_eq!(count(&inbox, "mancata-consegna-12h"), 1);
    assert!(certa_ok(a.data(), &["log", "search", "--sender", &s]).contains("inoltro-fallito"));
}
