//! The incoming decision (review C1, M5): a genuine signed transport envelope, changed by the
//! fuzzer anywhere outside its signed bytes (inserted, replaced or removed bytes), is either
//! refused or certifies exactly what the untouched envelope does: kind, daticert, original.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ops::Range;
use std::sync::OnceLock;

struct Genuine {
    raw: Vec<u8>,
    signed: Range<usize>,
    index: pec::ProviderIndex,
    ca: openssl::x509::X509,
    certified: Certified,
}

#[derive(Debug, PartialEq)]
struct Certified {
    kind: Option<pec::MessageKind>,
    daticert: Option<pec::DatiCert>,
    original: Option<Vec<u8>>,
    original_to: Vec<String>,
}

fn certified(g: &Genuine, raw: &[u8]) -> Option<Certified> {
    let p = pec::classify(raw).ok()?;
    let trust = pec::TrustAnchors::from_certs(vec![g.ca.clone()]);
    if !pec::verify(raw, &p, &g.index, &trust).verdict.is_valid() {
        return None;
    }
    Some(Certified {
        kind: p.kind,
        original: p.original(raw).map(<[u8]>::to_vec),
        original_to: p.original_to.clone(),
        daticert: p.daticert,
    })
}

fn genuine() -> &'static Genuine {
    static G: OnceLock<Genuine> = OnceLock::new();
    G.get_or_init(|| {
        let ca = pec::pki::new_ca("Fuzz CA", "Fuzz").expect("ca");
        let signing =
            pec::pki::issue_signing_certificate(&ca, "Fuzz", "pec.fuzz.test", 365).expect("cert");
        let signer =
            pec::Signer::new(signing.cert.clone(), signing.key.clone(), vec![]).expect("signer");
        let id = pec::ProviderIdentity::new("Fuzz", "pec.fuzz.test");
        let original = b"From: a@pec.fuzz.test\r\nTo: b@pec.fuzz.test\r\nSubject: prova\r\nMessage-ID: <m@mua>\r\n\r\ntesto\r\n";
        // Now: the fuzz PKI is issued now, and an envelope dated before its certificate
        // would not verify at all.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let time = pec::PecTime::from_unix_or_epoch(now);
        let tx = pec::Transaction::from_original(
            original,
            "a@pec.fuzz.test",
            &["b@pec.fuzz.test".to_string()],
            "opec.1@pec.fuzz.test".into(),
            time,
            |_| true,
        );
        let raw = pec::Builder::new(&id)
            .transport_envelope(&tx, original)
            .sign(&signer)
            .expect("sign");
        let entry = pec::ProviderEntry::for_certificate(
            &signing.cert,
            "Fuzz",
            &["pec.fuzz.test".to_string()],
            "posta-certificata@pec.fuzz.test",
        );
        let index = pec::ProviderIndex::from_ldif(&entry.to_ldif()).expect("index");
        let signed = pec::classify(&raw)
            .ok()
            .and_then(|p| p.signed_content)
            .expect("signed");
        let mut g = Genuine {
            raw,
            signed,
            index,
            ca: ca.cert.clone(),
            certified: Certified {
                kind: None,
                daticert: None,
                original: None,
                original_to: vec![],
            },
        };
        g.certified = certified(&g, &g.raw).expect("the genuine envelope verifies");
        g
    })
}

fuzz_target!(|data: &[u8]| {
    let g = genuine();
    // Each change: 4 bytes of position, 1 of length to remove, 1 of length to insert, then
    // the inserted bytes; positions fall outside the signed range.
    let mut msg = g.raw.clone();
    let mut signed = g.signed.clone();
    let mut rest = data;
    while rest.len() >= 6 {
        let at = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let (remove, insert) = (rest[4] as usize % 8, rest[5] as usize);
        rest = &rest[6..];
        let insert = &rest[..insert.min(rest.len())];
        rest = &rest[insert.len()..];
        let outside = signed.start + (msg.len() - signed.end);
        let i = at % (outside + 1);
        let (pos, before) = if i <= signed.start {
            (i, true)
        } else {
            (signed.end + (i - signed.start), false)
        };
        let remove = if before {
            remove.min(signed.start - pos)
        } else {
            remove.min(msg.len() - pos)
        };
        msg.splice(pos..pos + remove, insert.iter().copied());
        if before {
            let shift = insert.len() as isize - remove as isize;
            signed = (signed.start as isize + shift) as usize..(signed.end as isize + shift) as usize;
        }
    }
    if let Some(c) = certified(g, &msg) {
        assert_eq!(c, g.certified, "a change outside the signed bytes certified other data");
    }
});
