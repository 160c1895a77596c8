//! Every kind of PEC message we build is accepted by tools that are not ours: `openssl smime
//! -verify` with the test CA, `xmllint --dtdvalid` on daticert.xml (both through
//! shared/tools/check-pec-message), Python's `email` package finding each part by name; and
//! our own classifier reads back the same fields.

mod common;

use chrono::TimeZone;
use common::{run, shared, test_pki, TestPki};
use pec::{
    classify, verify, Builder, ErrorCode, MessageKind, PecTime, ProviderEntry, ProviderIdentity,
    ProviderIndex, ReceiptType, Signer, TimeoutStage, Transaction, TrustAnchors, Verdict,
};

const ORIGINAL: &str = "From: Mario Rossi <a@pec.alpha.test>\r\nTo: b@pec.beta.test\r\nCc: c@pec.beta.test, x@example.org\r\nSubject: Fattura n. 12 — è pronta\r\nMessage-ID: <client-1@mua.example>\r\nX-TipoRicevuta: breve\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIn allegato la fattura.\r\n--b1\r\nContent-Type: application/pdf; name=\"fattura.pdf\"\r\nContent-Disposition: attachment; filename=\"fattura.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--b1--\r\n";

struct Fixture {
    pki: TestPki,
    signer: Signer,
    provider: ProviderIdentity,
    tx: Transaction,
    dir: tempfile::TempDir,
}

/// Messages of a fixed day, for the tests that compare dates as text.
fn fixture() -> Fixture {
    fixture_at(PecTime::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 15, 30)
            .unwrap(),
    ))
}

/// Messages of this second: the test PKI is issued now, and a message signed before its
/// certificate existed does not verify.
fn fixture_now() -> Fixture {
    let now = chrono::Utc::now().timestamp();
    fixture_at(PecTime::new(chrono::Utc.timestamp_opt(now, 0).unwrap()))
}

fn fixture_at(time: PecTime) -> Fixture {
    let pki = test_pki("Certa Alpha", "pec.alpha.test");
    let signer = Signer::new(pki.signing.cert.clone(), pki.signing.key.clone(), vec![]).unwrap();
    let provider = ProviderIdentity::new("Certa Alpha", "pec.alpha.test");
    let rcpts = vec![
        "b@pec.beta.test".to_string(),
        "c@pec.beta.test".to_string(),
        "x@example.org".to_string(),
    ];
    let tx = Transaction::from_original(
        ORIGINAL.as_bytes(),
        "a@pec.alpha.test",
        &rcpts,
        pec::build::new_identificativo(time, 1, "pec.alpha.test"),
        time,
        |d| d.ends_with(".test"),
    );
    Fixture {
        pki,
        signer,
        provider,
        tx,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn all_kinds(f: &Fixture) -> Vec<(MessageKind, Vec<u8>)> {
    let b = Builder::new(&f.provider);
    let tx = &f.tx;
    let envelope = b.transport_envelope(tx, ORIGINAL.as_bytes());
    let env_bytes = envelope.sign(&f.signer).unwrap();
    let parsed_env = classify(&env_bytes).unwrap();
    let carried = parsed_env.original(&env_bytes).unwrap().to_vec();
    let mut sintetica_tx = tx.clone();
    sintetica_tx.receipt_type = ReceiptType::Completa;
    let msgs = vec![
        b.acceptance(tx),
        b.non_acceptance(tx, &["il campo Bcc non è ammesso".into()], false),
        b.non_acceptance(tx, &["Eicar-Signature".into()], true),
        b.taken_in_charge(tx, "posta-certificata@pec.alpha.test", &["b@pec.beta.test".into(), "c@pec.beta.test".into()]),
        b.virus_detected(tx, "posta-certificata@pec.alpha.test", "b@pec.beta.test", "Eicar-Signature"),
        b.delivery(&sintetica_tx, "b@pec.beta.test", &carried),
        b.delivery(tx, "b@pec.beta.test", &carried),
        b.delivery(tx, "c@pec.beta.test", &carried),
        b.non_delivery(tx, "b@pec.beta.test", ErrorCode::NoDest, "5.1.1 - Certa Alpha - indirizzo non valido"),
        b.non_delivery(tx, "b@pec.beta.test", ErrorCode::Virus, "Eicar-Signature"),
        b.delivery_timeout(tx, "b@pec.beta.test", TimeoutStage::Hours12),
        b.delivery_timeout(tx, "b@pec.beta.test", TimeoutStage::Hours24),
        b.anomaly_envelope(b"From: z@example.org\r\nTo: b@pec.beta.test\r\nSubject: ordinaria\r\nMessage-ID: <o1@example.org>\r\n\r\nciao\r\n", "z@example.org", tx.time, "messaggio non certificato"),
    ];
    let mut out = vec![(MessageKind::TransportEnvelope, env_bytes)];
    for m in msgs {
        out.push((m.kind, m.sign(&f.signer).unwrap()));
    }
    out
}

#[test]
fn every_kind_passes_openssl_xmllint_and_python() {
    testkit::require(&["openssl", "xmllint", "python3"]);
    let f = fixture();
    let ca = f.dir.path().join("ca.pem");
    std::fs::write(&ca, f.pki.ca.cert_pem().unwrap()).unwrap();
    let tool = shared().join("tools/check-pec-message");
    let kinds = all_kinds(&f);
    let expected = [
        MessageKind::TransportEnvelope,
        MessageKind::Acceptance,
        MessageKind::NonAcceptance,
        MessageKind::NonAcceptanceVirus,
        MessageKind::TakenInCharge,
        MessageKind::VirusDetected,
        MessageKind::Delivery(ReceiptType::Completa),
        MessageKind::Delivery(ReceiptType::Breve),
        MessageKind::Delivery(ReceiptType::Sintetica),
        MessageKind::NonDelivery,
        MessageKind::NonDeliveryVirus,
        MessageKind::DeliveryTimeout(TimeoutStage::Hours12),
        MessageKind::DeliveryTimeout(TimeoutStage::Hours24),
        MessageKind::AnomalyEnvelope,
    ];
    assert_eq!(kinds.iter().map(|k| k.0).collect::<Vec<_>>(), expected);
    for (kind, bytes) in &kinds {
        let path = f.dir.path().join(format!("{}.eml", kind.code()));
        std::fs::write(&path, bytes).unwrap();
        let mut cmd = testkit::tool("python3");
        cmd.arg(&tool).arg(&path).arg("--ca").arg(&ca);
        if let Some(t) = kind.daticert_tipo() {
            cmd.arg("--kind").arg(t.as_str());
        }
        let (ok, out) = run(&mut cmd);
        assert!(ok, "{}: check-pec-message failed:\n{out}", kind.code());
        let (ok, out) = run(testkit::tool("openssl")
            .args(["cms", "-verify", "-purpose", "smimesign", "-CAfile"])
            .arg(&ca)
            .arg("-in")
            .arg(&path)
            .args(["-out", "/dev/null"]));
        assert!(ok, "{}: openssl cms -verify: {out}", kind.code());
        assert!(
            !bytes.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "{}: bare LF",
            kind.code()
        );
        assert!(
            bytes.split(|&b| b == b'\n').all(|l| l.len() <= 1000),
            "{}: line too long",
            kind.code()
        );
    }
}

#[test]
fn python_email_finds_each_part_by_name() {
    let f = fixture();
    for (kind, bytes) in all_kinds(&f) {
        let path = f.dir.path().join(format!("{}.eml", kind.code()));
        std::fs::write(&path, &bytes).unwrap();
        let script = "import email,sys\nm=email.message_from_binary_file(open(sys.argv[1],'rb'))\nnames=[p.get_filename() for p in m.walk() if p.get_filename()]\nhdr=[k for k in m.keys() if k.lower().startswith('x-')]\nprint(';'.join(names)); print(';'.join(hdr)); print(m['Subject'])\n";
        let (ok, out) = run(testkit::tool("python3").arg("-c").arg(script).arg(&path));
        assert!(ok, "{out}");
        let names: Vec<&str> = out.lines().next().unwrap_or("").split(';').collect();
        assert!(names.contains(&"smime.p7s"), "{}: {out}", kind.code());
        assert_eq!(
            names.contains(&"daticert.xml"),
            kind.daticert_tipo().is_some(),
            "{}: {out}",
            kind.code()
        );
        assert_eq!(
            names.contains(&"postacert.eml"),
            kind.carries_original(),
            "{}: {out}",
            kind.code()
        );
        if kind == MessageKind::Delivery(ReceiptType::Breve) {
            assert!(names.contains(&"fattura.pdf.hash"), "{out}");
        }
    }
}

#[test]
fn our_classifier_reads_back_the_same_fields_and_verifies() {
    let f = fixture_now();
    let entry = ProviderEntry::for_certificate(
        f.signer.certificate(),
        "Certa Alpha",
        &["pec.alpha.test".into()],
        "posta-certificata@pec.alpha.test",
    );
    let index = ProviderIndex::from_ldif(&entry.to_ldif()).unwrap();
    let trust = TrustAnchors::from_certs(vec![f.pki.ca.cert.clone()]);
    for (kind, bytes) in all_kinds(&f) {
        let p = classify(&bytes).unwrap();
        assert_eq!(p.kind, Some(kind), "{}", kind.code());
        if kind == MessageKind::AnomalyEnvelope {
            assert!(p.daticert.is_none());
            assert_eq!(p.subject, "ANOMALIA MESSAGGIO: ordinaria");
            assert_eq!(p.message_id.as_deref(), Some("<o1@example.org>"));
            continue;
        }
        assert_eq!(
            p.subject,
            format!("{}{}", kind.subject_prefix(), f.tx.subject)
        );
        let d = p.daticert.as_ref().unwrap();
        assert_eq!(Some(d.tipo), kind.daticert_tipo());
        assert_eq!(d.identificativo, f.tx.identificativo);
        assert_eq!(d.msgid.as_deref(), Some("<client-1@mua.example>"));
        assert_eq!(d.mittente, "a@pec.alpha.test");
        assert_eq!(d.oggetto.as_deref(), Some("Fattura n. 12 — è pronta"));
        assert_eq!(d.data, f.tx.time);
        assert_eq!(d.destinatari.len(), 3);
        assert_eq!(d.destinatari[2].tipo, pec::RecipientKind::Esterno);
        assert_eq!(
            p.riferimento_message_id.as_deref(),
            Some("<client-1@mua.example>")
        );
        assert_eq!(
            p.date.as_deref(),
            Some(f.tx.time.rfc5322().as_str()),
            "one time stamp in Date: and daticert"
        );
        let v = verify(&bytes, &p, &index, &trust);
        assert_eq!(
            v.verdict,
            Verdict::Valid {
                provider: "Certa Alpha".into()
            },
            "{}",
            kind.code()
        );
        assert_eq!(v.signer.and_then(|s| s.digest).as_deref(), Some("sha-256"));
    }
}

#[test]
fn envelope_headers_and_original_follow_rfc_6109() {
    let f = fixture();
    let b = Builder::new(&f.provider);
    let bytes = b
        .transport_envelope(&f.tx, ORIGINAL.as_bytes())
        .sign(&f.signer)
        .unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let head = &text[..text.find("\r\n\r\n").unwrap()];
    assert!(head.contains("\r\nX-Trasporto: posta-certificata\r\n"));
    assert!(head.contains(
        "\r\nFrom: \"Per conto di: a@pec.alpha.test\" <posta-certificata@pec.alpha.test>\r\n"
    ));
    assert!(head.contains("\r\nReply-To: a@pec.alpha.test\r\n"));
    assert!(head.contains(&format!("\r\nMessage-ID: <{}>\r\n", f.tx.identificativo)));
    assert!(head.contains("\r\nX-Riferimento-Message-ID: <client-1@mua.example>\r\n"));
    assert!(head.contains("\r\nX-TipoRicevuta: breve\r\n"));
    assert!(head.starts_with("To: b@pec.beta.test\r\nCc: c@pec.beta.test, x@example.org\r\n"));
    assert!(head.contains("micalg=\"sha-256\""));
    // postacert.eml is the original but for the Message-ID rewrite, never base64.
    let p = classify(&bytes).unwrap();
    let carried = p.original(&bytes).unwrap();
    let expected = ORIGINAL.replace(
        "Message-ID: <client-1@mua.example>\r\n",
        &format!(
            "Message-ID: <{}>\r\nX-Riferimento-Message-ID: <client-1@mua.example>\r\n",
            f.tx.identificativo
        ),
    );
    assert_eq!(String::from_utf8_lossy(carried), expected);
    assert!(text.contains("Content-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: inline; filename=\"postacert.eml\"\r\nContent-Transfer-Encoding: 8bit\r\n"));

    let acc = b.acceptance(&f.tx).sign(&f.signer).unwrap();
    let acc = String::from_utf8_lossy(&acc);
    assert!(
        acc.starts_with("X-Ricevuta: accettazione\r\nDate: Mon, 23 Nov 2026 10:15:30 +0100\r\n")
    );
    assert!(acc.contains("\r\nFrom: posta-certificata@pec.alpha.test\r\nTo: a@pec.alpha.test\r\n"));
    assert!(acc.contains("Il giorno 23/11/2026 alle ore 10:15:30 (+0100)"));
    assert!(acc.contains("x@example.org (\"posta ordinaria\")"));
    assert!(
        !acc.contains("postacert.eml"),
        "the acceptance never carries the original"
    );
}

#[test]
fn receipt_type_follows_to_and_cc() {
    let f = fixture();
    let primary =
        f.tx.recipients
            .iter()
            .find(|r| r.address == "b@pec.beta.test")
            .unwrap();
    let cc =
        f.tx.recipients
            .iter()
            .find(|r| r.address == "c@pec.beta.test")
            .unwrap();
    assert!(primary.primary && !cc.primary);
    assert_eq!(f.tx.receipt_type, ReceiptType::Breve);
}

#[test]
#[ignore = "writes samples to $CERTA_SAMPLES for people to look at"]
fn write_samples() {
    let f = fixture();
    let dir = std::env::var("CERTA_SAMPLES").unwrap_or_else(|_| "/tmp/certa-samples".into());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/ca.pem"), f.pki.ca.cert_pem().unwrap()).unwrap();
    for (kind, bytes) in all_kinds(&f) {
        std::fs::write(format!("{dir}/{}.eml", kind.code()), bytes).unwrap();
    }
}
