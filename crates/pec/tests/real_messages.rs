//! Real PEC messages from other providers (shared/fixtures/pec-real): Aruba's signed 2014 and
//! 2018 messages classify and verify against the index and Debian's roots as of their signing
//! time; one changed byte makes them fail; anonymised samples parse and say why they don't
//! verify.

mod common;

use common::fixture;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::X509;
use pec::{
    classify, verify, ErrorCode, MessageKind, ProviderEntry, ProviderIndex, ReceiptType,
    TrustAnchors, Verdict,
};

const ARUBA_2018: &[(&str, MessageKind)] = &[
    (
        "l10n-italy/ACCETTAZIONE_ IT03339130126_00009.xml.txt",
        MessageKind::Acceptance,
    ),
    (
        "l10n-italy/CONSEGNA_ IT03339130126_00009.xml.txt",
        MessageKind::Delivery(ReceiptType::Completa),
    ),
];
const ARUBA_2014: &[(&str, MessageKind)] = &[
    (
        "l10n-italy/7.0-l10n_it_pec_messages/message1",
        MessageKind::TransportEnvelope,
    ),
    (
        "l10n-italy/7.0-l10n_it_pec_messages/message2",
        MessageKind::TransportEnvelope,
    ),
    (
        "l10n-italy/7.0-l10n_it_pec_messages/message2_accettazione",
        MessageKind::Acceptance,
    ),
    (
        "l10n-italy/7.0-l10n_it_pec_messages/message2_consegna",
        MessageKind::Delivery(ReceiptType::Completa),
    ),
];

fn signer_of(raw: &[u8]) -> X509 {
    let der = classify(raw).unwrap().signature.expect("signature part");
    let p7 = Pkcs7::from_der(&der).unwrap();
    let none = Stack::new().unwrap();
    let signers = p7.signers(&none, Pkcs7Flags::empty()).unwrap();
    signers.iter().next().unwrap().to_owned()
}

/// The index the test builds from the certificate inside the message, through LDIF.
fn aruba_index(raw: &[u8]) -> ProviderIndex {
    let domains = vec!["pec.aruba.it".to_string(), "pec.it".to_string()];
    let entry = ProviderEntry::for_certificate(
        &signer_of(raw),
        "ARUBA PEC S.p.A.",
        &domains,
        "posta-certificata@pec.aruba.it",
    );
    ProviderIndex::from_ldif(&entry.to_ldif()).unwrap()
}

fn root(file: &str) -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read(format!("/etc/ssl/certs/{file}")).unwrap()).unwrap()
}

fn check_real(files: &[(&str, MessageKind)], root_file: &str) {
    for (file, kind) in files {
        let raw = fixture(file);
        let parsed = classify(&raw).unwrap();
        assert_eq!(parsed.kind, Some(*kind), "{file}");
        let d = parsed
            .daticert
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: daticert"));
        assert_eq!(d.gestore_emittente, "ARUBA PEC S.p.A.");
        assert!(d.identificativo.starts_with("opec"), "{file}");
        let index = aruba_index(&raw);
        let v = verify(&raw, &parsed, &index, &root(root_file));
        assert_eq!(
            v.verdict,
            Verdict::Valid {
                provider: "ARUBA PEC S.p.A.".into()
            },
            "{file}"
        );
        assert_eq!(
            v.signer.as_ref().and_then(|s| s.digest.as_deref()),
            Some("sha1")
        );

        // The same message with one byte of its signed content changed.
        let pos = find(&raw, b"Il giorno").unwrap_or_else(|| panic!("{file}: text"));
        let mut altered = raw.clone();
        altered[pos + 3] = b'G';
        let p2 = classify(&altered).unwrap();
        assert_eq!(
            verify(&altered, &p2, &index, &root(root_file)).verdict,
            Verdict::ContentAltered,
            "{file}"
        );

        // Unknown provider; untrusted chain.
        let v = verify(&raw, &parsed, &ProviderIndex::default(), &root(root_file));
        assert!(
            matches!(v.verdict, Verdict::UnknownProvider { .. }),
            "{file}: {:?}",
            v.verdict
        );
        let wrong_root = if root_file.starts_with("Actalis") {
            "Baltimore_CyberTrust_Root.pem"
        } else {
            "Actalis_Authentication_Root_CA.pem"
        };
        let v = verify(&raw, &parsed, &index, &root(wrong_root));
        assert!(
            matches!(v.verdict, Verdict::ChainNotTrusted { .. }),
            "{file}: {:?}",
            v.verdict
        );
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[test]
fn aruba_2018_receipts_verify_with_actalis_as_of_signing_time() {
    check_real(ARUBA_2018, "Actalis_Authentication_Root_CA.pem");
}

#[test]
fn aruba_2014_messages_verify_with_baltimore_as_of_signing_time() {
    check_real(ARUBA_2014, "Baltimore_CyberTrust_Root.pem");
}

#[test]
fn aruba_envelope_carries_the_original_with_the_pec_message_id() {
    let raw = fixture("l10n-italy/7.0-l10n_it_pec_messages/message1");
    let parsed = classify(&raw).unwrap();
    let original = parsed.original(&raw).unwrap();
    let inner = pec::headers::get(original, "Message-ID").unwrap();
    assert_eq!(Some(inner), parsed.message_id);
    assert_eq!(
        pec::headers::get(original, "X-Riferimento-Message-ID"),
        parsed.riferimento_message_id
    );
    assert_eq!(parsed.receipt_type_header, Some(ReceiptType::Completa));
    assert_eq!(
        parsed.from.as_deref(),
        Some("posta-certificata@pec.aruba.it")
    );
}

#[test]
fn anonymised_samples_parse_and_say_why_they_do_not_verify() {
    let idx = ProviderIndex::default();
    let trust = TrustAnchors::system();

    let raw = fixture("java-pec-parser/accettazione.eml");
    let p = classify(&raw).unwrap();
    assert_eq!(p.kind, Some(MessageKind::Acceptance));
    assert_eq!(
        p.daticert.as_ref().unwrap().tipo,
        pec::DatiCertTipo::Accettazione
    );
    assert_eq!(verify(&raw, &p, &idx, &trust).verdict, Verdict::NoSignature);

    let raw = fixture("java-pec-parser/consegna.eml");
    let p = classify(&raw).unwrap();
    assert_eq!(p.kind, Some(MessageKind::NonDelivery));
    let d = p.daticert.as_ref().unwrap();
    assert_eq!(d.errore, ErrorCode::NoDest);
    assert_eq!(
        d.errore_esteso.as_deref(),
        Some("5.1.1 - FAKE Pec S.p.A. - indirizzo non valido")
    );
    assert_eq!(verify(&raw, &p, &idx, &trust).verdict, Verdict::NoSignature);

    for (file, kind) in [
        ("go-pec/accettazione.eml", MessageKind::Acceptance),
        ("go-pec/consegna.eml", MessageKind::NonDelivery),
        (
            "go-pec/email_2.eml",
            MessageKind::Delivery(ReceiptType::Completa),
        ),
        ("go-pec/email_3.eml", MessageKind::TransportEnvelope),
    ] {
        let raw = fixture(file);
        let p = classify(&raw).unwrap();
        assert_eq!(p.kind, Some(kind), "{file}");
        assert!(p.daticert.is_some(), "{file}");
        let v = verify(&raw, &p, &idx, &trust).verdict;
        assert!(
            matches!(v, Verdict::InvalidSignature { .. }),
            "{file}: placeholder signature, got {v:?}"
        );
    }
}

#[test]
fn sogei_envelopes_classify_with_lowercase_header_variant() {
    for file in [
        "l10n-italy/POSTA CERTIFICATA_ Invio File 7339338.txt",
        "l10n-italy/POSTA CERTIFICATA_ Invio File 7339338 (base64).txt",
        "l10n-italy/POSTA CERTIFICATA_ Invio File 7339338 (broken XML).txt",
        "l10n-italy/POSTA CERTIFICATA_ Ricevuta di consegna 6782414.txt",
        "l10n-italy/POSTA CERTIFICATA_mancata_consegna.txt",
    ] {
        let raw = fixture(file);
        let p = classify(&raw).unwrap();
        assert_eq!(p.kind, Some(MessageKind::TransportEnvelope), "{file}");
        assert!(p.original(&raw).is_some(), "{file}: postacert.eml");
    }
    let raw = fixture("l10n-italy/POSTA CERTIFICATA_ Invio File 7339338.txt");
    let p = classify(&raw).unwrap();
    assert_eq!(p.receipt_type_header, Some(ReceiptType::Breve));
    assert_eq!(p.daticert.unwrap().gestore_emittente, "Sogei SpA");
}

#[test]
fn ordinary_mail_is_not_pec() {
    let raw = b"From: a@b.it\r\nTo: c@d.it\r\nSubject: ciao\r\n\r\nhello\r\n";
    let p = classify(raw).unwrap();
    assert_eq!(p.kind, None);
    assert_eq!(
        verify(raw, &p, &ProviderIndex::default(), &TrustAnchors::system()).verdict,
        Verdict::NotPec
    );
    assert!(classify(b"").is_err());
    assert!(classify(b"\x00\x01garbage without headers").is_err());
}
