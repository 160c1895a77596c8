//! Property tests: build → sign → parse round trip with random subjects (UTF-8, encoded-word
//! look-alikes, 1,000-character lines), attachments and recipient lists.

mod common;

use chrono::TimeZone;
use pec::{classify, Builder, PecTime, ProviderIdentity, ReceiptType, Signer, Transaction};
use proptest::prelude::*;
use std::sync::OnceLock;

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let pki = common::test_pki("Certa Prop", "pec.prop.test");
        Signer::new(pki.signing.cert, pki.signing.key, vec![]).unwrap()
    })
}

fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 àèéìòù€—✓.,:;!?()\\[\\]'\"-]{0,80}",
        Just("=?UTF-8?B?bm90IGRlY29kZWQ=?= letterale".to_string()),
        "[a-z]{1000}",
        "[ -~]{0,300}",
        "\\PC{0,60}",
    ]
}

fn local_part() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9.]{0,12}[a-z0-9]"
}

fn encode_subject(s: &str) -> String {
    // How a client writes any subject: encoded words when it is not plain ASCII.
    pec::wire::header("Subject", s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn envelope_round_trip(
        subj in subject(),
        to in prop::collection::vec(local_part(), 1..5),
        cc in prop::collection::vec(local_part(), 0..4),
        attachments in prop::collection::vec((local_part(), prop::collection::vec(any::<u8>(), 0..3000)), 0..4),
        rt in prop_oneof![Just(ReceiptType::Completa), Just(ReceiptType::Breve), Just(ReceiptType::Sintetica)],
        secs in 1_500_000_000i64..2_000_000_000i64,
    ) {
        let to: Vec<String> = to.iter().map(|l| format!("{l}@pec.beta.test")).collect();
        let cc: Vec<String> = cc.iter().map(|l| format!("{l}@example.org")).collect();
        let mut original = format!("From: a@pec.prop.test\r\nTo: {}\r\n", to.join(", "));
        if !cc.is_empty() {
            original.push_str(&format!("Cc: {}\r\n", cc.join(", ")));
        }
        original.push_str(&encode_subject(&subj));
        original.push_str(&format!("Message-ID: <m{secs}@client>\r\nX-TipoRicevuta: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\ntesto\r\n", rt.as_str()));
        for (name, data) in &attachments {
            original.push_str(&format!("--zz\r\nContent-Type: application/octet-stream; name=\"{name}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}", String::from_utf8_lossy(&pec::wire::base64_lines(data))));
        }
        original.push_str("--zz--\r\n");

        let time = PecTime::new(chrono::Utc.timestamp_opt(secs, 0).unwrap());
        let rcpts: Vec<String> = to.iter().chain(cc.iter()).cloned().collect();
        let ident = pec::build::new_identificativo(time, secs as u64, "pec.prop.test");
        let tx = Transaction::from_original(original.as_bytes(), "a@pec.prop.test", &rcpts, ident.clone(), time, |d| d.ends_with(".test"));
        let provider = ProviderIdentity::new("Certa Prop", "pec.prop.test");
        let b = Builder::new(&provider);
        let env = b.transport_envelope(&tx, original.as_bytes()).sign(signer()).unwrap();
        let p = classify(&env).unwrap();
        prop_assert_eq!(p.kind, Some(pec::MessageKind::TransportEnvelope));
        let d = p.daticert.clone().unwrap();
        let expected_subject = tx.subject.clone();
        prop_assert_eq!(d.oggetto.as_deref(), Some(expected_subject.as_str()));
        let want = format!("POSTA CERTIFICATA: {expected_subject}");
        prop_assert_eq!(p.subject.trim_end(), want.trim_end());
        prop_assert_eq!(&d.identificativo, &ident);
        prop_assert_eq!(d.data, time);
        prop_assert_eq!(d.ricevuta, Some(rt));
        prop_assert_eq!(d.destinatari.iter().map(|x| x.address.clone()).collect::<Vec<_>>(), rcpts.clone());
        let carried = p.original(&env).unwrap();
        let expected = pec::headers::rewrite_message_id(original.as_bytes(), &ident, Some(&format!("<m{secs}@client>")));
        prop_assert_eq!(carried, &expected[..]);
        for line in env.split(|&c| c == b'\n') {
            prop_assert!(line.len() <= 1000, "long line: {}", String::from_utf8_lossy(&line[..120]));
        }

        // The delivery receipt for the first To recipient, from the carried original.
        let rtx = Transaction::from_daticert(&d, time, &p.to);
        let receipt = b.delivery(&rtx, &to[0], carried).sign(signer()).unwrap();
        let r = classify(&receipt).unwrap();
        prop_assert_eq!(r.kind, Some(pec::MessageKind::Delivery(rt)));
        if rt == ReceiptType::Breve {
            prop_assert_eq!(r.hashes.len(), attachments.len());
            for ((name, data), (hname, hash)) in attachments.iter().zip(r.hashes.iter()) {
                prop_assert_eq!(hname, &format!("{name}.bin"));
                prop_assert_eq!(hash, &pec::breve::sha1_hex(data));
            }
        }
    }
}
