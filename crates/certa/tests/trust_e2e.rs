//! Issue 11, trust hardening, over real SMTP on loopback: an envelope goes only to the
//! recipients its signed daticert lists, once (review H1); a wrapped or relabelled message
//! is never certified (C1, M5); a receipt moves our transaction only when it is ours and
//! signed by the provider of the recipient it reports (H1); duplicate fields at submission
//! are a formal error (M4).

mod common;

use common::*;
use std::time::Duration;

fn original(from: &str, to: &str, msgid: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Contratto firmato\r\nMessage-ID: <{msgid}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato il contratto.\r\n"
    )
    .into_bytes()
}

/// A provider nobody runs: only its key, to sign what it would send.
struct Signing {
    node: Node,
    signer: pec::Signer,
    identity: pec::ProviderIdentity,
}

fn signing(domain: &str) -> Signing {
    let node = Node::new(domain, None);
    let signer = pec::Signer::from_pem(
        &std::fs::read(node.data().join("pki/signing.pem")).unwrap(),
        &std::fs::read(node.data().join("pki/signing-key.pem")).unwrap(),
    )
    .unwrap();
    let identity = pec::ProviderIdentity::new(format!("Certa {domain}"), domain);
    Signing {
        node,
        signer,
        identity,
    }
}

fn envelope(s: &Signing, sender: &str, rcpt: &str, serial: u64) -> Vec<u8> {
    let msg = original(sender, rcpt, &format!("c{serial}@mua"));
    let tx = pec::Transaction::from_original(
        &msg,
        sender,
        &[rcpt.to_string()],
        format!("opec.{serial}@{}", s.identity.domain),
        pec::PecTime::from_unix_or_epoch(unix_now()),
        |_| true,
    );
    pec::Builder::new(&s.identity)
        .transport_envelope(&tx, &msg)
        .sign(&s.signer)
        .unwrap()
}

fn find(h: &[u8], n: &[u8]) -> usize {
    h.windows(n.len()).position(|w| w == n).unwrap()
}

#[test]
fn envelopes_go_once_and_only_to_their_certified_recipients() {
    let mut b = Node::new("pec.beta.test", None);
    let (rb, victim) = (b.mailbox("b"), b.mailbox("vittima"));
    let rogue = signing("pec.rogue.test");
    b.peer_with(&rogue.node);
    b.start();
    let sender = "x@pec.rogue.test";

    // Happy path: the envelope for b is taken in charge and delivered.
    let env = envelope(&rogue, sender, &rb, 1);
    let out = python_mx(b.smtp_port(), sender, &rb, &env);
    assert!(out.starts_with("OK"), "{out}");
    b.wait_folder(&rb, "INBOX", "envelope for b", |m| {
        count(m, "busta-trasporto") == 1
    });
    let queued = b.store().queue_len().unwrap();

    // The same envelope again: accepted, but nothing new is delivered or queued (no second
    // presa in carico towards the sender's provider).
    let out = python_mx(b.smtp_port(), sender, &rb, &env);
    assert!(out.starts_with("OK"), "{out}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&b.folder(&rb, "INBOX"), "busta-trasporto"), 1);
    assert!(b.store().queue_len().unwrap() <= queued, "no new work");

    // Redirected to someone its daticert does not list: refused, nothing delivered.
    let out = python_mx(b.smtp_port(), sender, &victim, &env);
    assert!(out.contains("550"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.folder(&victim, "INBOX").is_empty());

    // Wrapped (C1): a second Content-Type whose parts carry a forged daticert.xml naming the
    // victim, then the untouched signed body. Refused as not PEC-valid.
    let env2 = envelope(&rogue, sender, &rb, 2);
    let body_at = find(&env2, b"\r\n\r\n") + 4;
    let forged_xml = pec::classify(&env2)
        .unwrap()
        .daticert
        .map(|d| pec::DatiCert {
            destinatari: vec![pec::daticert::Destinatario {
                address: victim.clone(),
                tipo: pec::RecipientKind::Certificato,
            }],
            ..d
        })
        .unwrap()
        .to_xml()
        // SMTP carries CRLF lines only: a bare LF would be refused before the incoming
        // point ever judged the wrapping.
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let ct = pec::headers::get(&env2, "Content-Type").unwrap();
    let wrapped = [
        &env2[..body_at - 2],
        format!(
            "Content-Type: multipart/signed; boundary=\"B2\"\r\n\r\n--B2\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: attachment; filename=\"daticert.xml\"\r\n\r\n{forged_xml}\r\n--X--\r\n\r\n--B2\r\nContent-Type: {ct}\r\n\r\n"
        )
        .as_bytes(),
        &env2[body_at..],
        b"\r\n--B2--\r\n",
    ]
    .concat();
    for (what, msg) in [
        ("second Content-Type", wrapped),
        (
            "duplicate From",
            [b"From: boss@pec.rogue.test\r\n".as_slice(), &env2].concat(),
        ),
        (
            "duplicate X-Trasporto",
            [b"X-Trasporto: posta-certificata\r\n".as_slice(), &env2].concat(),
        ),
        (
            "relabelled as a receipt",
            String::from_utf8_lossy(&env2)
                .replacen(
                    "X-Trasporto: posta-certificata",
                    "X-Ricevuta: avvenuta-consegna",
                    1,
                )
                .into_bytes(),
        ),
    ] {
        let out = python_mx(b.smtp_port(), sender, &victim, &msg);
        assert!(
            out.contains("550") && out.contains("non conforme"),
            "{what}: {out}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.folder(&victim, "INBOX").is_empty(), "nothing certified");
    // The untouched second envelope still reaches b.
    let out = python_mx(b.smtp_port(), sender, &rb, &env2);
    assert!(out.starts_with("OK"), "{out}");
    b.wait_folder(&rb, "INBOX", "second envelope", |m| {
        count(m, "busta-trasporto") == 2
    });
}

#[test]
fn receipts_move_only_our_transactions_and_only_from_the_recipients_provider() {
    let mut b = Node::new("pec.beta.test", None);
    let rb = b.mailbox("b");
    let rogue = signing("pec.rogue.test");
    let other = signing("pec.other.test");
    b.peer_with(&rogue.node);
    b.peer_with(&other.node);
    b.start();

    // b's user sends to x@pec.rogue.test (nobody listens there: the relay just waits).
    let x = "x@pec.rogue.test";
    let msg = original(&rb, x, "tx1@mua");
    assert_eq!(
        python_submit(b.submissions_port(), &b.ca(), &rb, &rb, &[x], &msg),
        "OK"
    );
    let inbox = b.wait_folder(&rb, "INBOX", "acceptance", |m| {
        count(m, "accettazione") == 1
    });
    let ident = daticert(&inbox[0].1).identificativo;
    let d = daticert(&inbox[0].1);
    let tx = pec::Transaction::from_daticert(&d, pec::PecTime::from_unix_or_epoch(unix_now()), &[]);
    let status = || certa_ok(b.data(), &["message", "status", &ident]);
    assert!(!status().contains("delivered"), "{}", status());

    let delivery = |s: &Signing, tx: &pec::Transaction| {
        pec::Builder::new(&s.identity)
            .delivery(tx, x, &msg)
            .sign(&s.signer)
            .unwrap()
    };
    // Signed by a provider in the index that does not manage pec.rogue.test: no change.
    let forged = delivery(&other, &tx);
    let out = python_mx(
        b.smtp_port(),
        "posta-certificata@pec.other.test",
        &rb,
        &forged,
    );
    assert!(out.contains("550"), "{out}");
    // For a transaction that is not ours: no change either.
    let not_ours = pec::Transaction {
        identificativo: format!("{ident}.altro"),
        ..tx.clone()
    };
    let out = python_mx(
        b.smtp_port(),
        "posta-certificata@pec.rogue.test",
        &rb,
        &delivery(&rogue, &not_ours),
    );
    assert!(out.contains("550"), "{out}");
    // The right receipt, sent to someone who is not the sender: no change.
    let genuine = delivery(&rogue, &tx);
    let someone = b.mailbox("altro");
    let out = python_mx(
        b.smtp_port(),
        "posta-certificata@pec.rogue.test",
        &someone,
        &genuine,
    );
    assert!(out.contains("550"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!status().contains("delivered"), "{}", status());
    assert_eq!(
        count(&b.folder(&rb, "INBOX"), "avvenuta-consegna-completa"),
        0
    );

    // The genuine receipt from the recipient's provider moves the state, once.
    let out = python_mx(
        b.smtp_port(),
        "posta-certificata@pec.rogue.test",
        &rb,
        &genuine,
    );
    assert!(out.starts_with("OK"), "{out}");
    b.wait_folder(&rb, "INBOX", "delivery receipt", |m| {
        count(m, "avvenuta-consegna-completa") == 1
    });
    assert!(
        status().contains(&format!("{x}\tcertificato\tdelivered")),
        "{}",
        status()
    );
    let out = python_mx(
        b.smtp_port(),
        "posta-certificata@pec.rogue.test",
        &rb,
        &genuine,
    );
    assert!(out.starts_with("OK"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(&b.folder(&rb, "INBOX"), "avvenuta-consegna-completa"),
        1,
        "no second copy"
    );
}

#[test]
fn repeated_from_to_or_subject_at_submission_is_not_accepted() {
    let mut b = Node::new("pec.beta.test", None);
    let (rb, rc) = (b.mailbox("b"), b.mailbox("c"));
    b.start();
    let good = original(&rb, &rc, "ok@mua");
    assert_eq!(
        python_submit(b.submissions_port(), &b.ca(), &rb, &rb, &[&rc], &good),
        "OK"
    );
    b.wait_folder(&rc, "INBOX", "envelope", |m| {
        count(m, "busta-trasporto") == 1
    });
    for (name, extra) in [
        ("From", "From: direttore@pec.beta.test\r\n"),
        ("To", "To: c@pec.beta.test\r\n"),
        ("Subject", "Subject: Ordine di bonifico\r\n"),
    ] {
        let msg = [extra.as_bytes(), &good].concat();
        let out = python_submit(b.submissions_port(), &b.ca(), &rb, &rb, &[&rc], &msg);
        assert!(
            out.contains("550")
                && out.contains(&format!(
                    "il campo {name} compare 2 volte: RFC 5322 ne ammette uno solo / \
                     the {name} field occurs 2 times: RFC 5322 allows only one"
                )),
            "{name}: {out}"
        );
    }
    let inbox = b.wait_folder(&rb, "INBOX", "three non-acceptance notices", |m| {
        count(m, "non-accettazione") == 3
    });
    assert_eq!(
        inbox
            .iter()
            .filter(|m| m.0.as_deref() == Some("accettazione"))
            .count(),
        1
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(&b.folder(&rc, "INBOX"), "busta-trasporto"),
        1,
        "nothing more sent"
    );
}

/// Review M3: live traffic must have been signed close to its arrival ([verification]
/// signed_before_arrival_secs, here 3 s): a fresh envelope is delivered, a stale one is not.
#[test]
fn an_envelope_signed_long_before_it_arrives_is_not_certified() {
    let mut b = Node::new("pec.beta.test", None);
    let rb = b.mailbox("b");
    let rogue = signing("pec.rogue.test");
    b.peer_with(&rogue.node);
    b.edit_config(|c| {
        assert!(c.contains("signed_before_arrival_secs = 172800"), "{c}");
        c.replace(
            "signed_before_arrival_secs = 172800",
            "signed_before_arrival_secs = 3",
        )
    });
    b.start();
    let sender = "x@pec.rogue.test";
    let fresh = envelope(&rogue, sender, &rb, 1);
    let out = python_mx(b.smtp_port(), sender, &rb, &fresh);
    assert!(out.starts_with("OK"), "{out}");
    b.wait_folder(&rb, "INBOX", "fresh envelope", |m| {
        count(m, "busta-trasporto") == 1
    });
    let stale = envelope(&rogue, sender, &rb, 2);
    std::thread::sleep(Duration::from_secs(5));
    let out = python_mx(b.smtp_port(), sender, &rb, &stale);
    assert!(out.contains("550") && out.contains("non attuale"), "{out}");
    assert_eq!(count(&b.folder(&rb, "INBOX"), "busta-trasporto"), 1);
}

/// Review L9: a route CA or an index entry that no longer reads stops `serve` with a clear
/// error instead of leaving it running on an emptied trust store.
#[test]
fn serve_refuses_to_start_on_a_broken_trust_store() {
    let mut b = Node::new("pec.beta.test", None);
    let rogue = signing("pec.rogue.test");
    b.peer_with(&rogue.node);
    // Happy path: it starts.
    b.start();
    b.kill();
    let serve_fails = |what: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_certa"))
            .arg("--data")
            .arg(b.data())
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(!status.success(), "{what}: {err}");
                return err;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: serve started on a broken trust store");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let sql = |q: &str| {
        let out = std::process::Command::new("sqlite3")
            .arg(b.data().join("certa.db"))
            .arg(q)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    sql("UPDATE routes SET ca_pem = '-----BEGIN CERTIFICATE-----\nnon base64\n-----END CERTIFICATE-----\n';");
    let err = serve_fails("route CA");
    assert!(
        err.contains("non parte") && err.contains("pec.rogue.test"),
        "{err}"
    );
    sql("UPDATE routes SET ca_pem = NULL;");
    sql("UPDATE provider_index SET ldif = 'questo non è LDIF';");
    let err = serve_fails("index");
    assert!(err.contains("indice dei gestori non valido"), "{err}");
}
