//! Signature wrapping (review C1, M5): Aruba's real, signed 2018 acceptance receipt verifies,
//! and every way of wrapping its untouched signed bytes in another structure — a second
//! Content-Type, a new outer multipart, nested boundaries, a second daticert.xml, folded or
//! respelled fields, duplicated From/X-Trasporto, an outer label that is not the signed
//! `tipo` — is refused or yields exactly the certification data of the untouched message.
//! A property test then applies random changes outside the signed bytes.

mod common;

use common::fixture;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use pec::{
    classify, verify, DatiCert, MessageKind, ProviderEntry, ProviderIndex, TrustAnchors, Verdict,
};
use proptest::prelude::*;

const ACCEPTANCE: &str = "l10n-italy/ACCETTAZIONE_ IT03339130126_00009.xml.txt";
const FORGED_SENDER: &str = "boss@pec.aruba.it";

struct Ctx {
    raw: Vec<u8>,
    index: ProviderIndex,
    trust: TrustAnchors,
}

fn ctx() -> Ctx {
    let raw = fixture(ACCEPTANCE);
    let der = classify(&raw).unwrap().signature.unwrap();
    let p7 = Pkcs7::from_der(&der).unwrap();
    let signer = p7
        .signers(&Stack::new().unwrap(), Pkcs7Flags::empty())
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .to_owned();
    let entry = ProviderEntry::for_certificate(
        &signer,
        "ARUBA PEC S.p.A.",
        &["pec.aruba.it".to_string(), "pec.it".to_string()],
        "posta-certificata@pec.aruba.it",
    );
    let index = ProviderIndex::from_ldif(&entry.to_ldif()).unwrap();
    let trust = TrustAnchors::from_pem(
        &std::fs::read("/etc/ssl/certs/Actalis_Authentication_Root_CA.pem").unwrap(),
    )
    .unwrap();
    Ctx { raw, index, trust }
}

/// What a valid message certifies: its kind, its daticert and the original it carries.
#[derive(Debug, PartialEq)]
struct Certified {
    kind: Option<MessageKind>,
    daticert: Option<DatiCert>,
    original: Option<Vec<u8>>,
    certified_subject: Option<String>,
    original_to: Vec<String>,
}

/// `Ok(data)` when `raw` verifies, `Err(verdict)` otherwise.
fn certified(c: &Ctx, raw: &[u8]) -> Result<Certified, Verdict> {
    let Ok(p) = classify(raw) else {
        return Err(Verdict::NotPec);
    };
    let v = verify(raw, &p, &c.index, &c.trust);
    if !v.verdict.is_valid() {
        return Err(v.verdict);
    }
    Ok(Certified {
        kind: p.kind,
        original: p.original(raw).map(<[u8]>::to_vec),
        certified_subject: p.certified_subject(),
        original_to: p.original_to.clone(),
        daticert: p.daticert,
    })
}

fn find(h: &[u8], n: &[u8]) -> usize {
    h.windows(n.len())
        .position(|w| w == n)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(n)))
}

fn replace(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = find(raw, from.as_bytes());
    [&raw[..at], to.as_bytes(), &raw[at + from.len()..]].concat()
}

/// The header block and the body of the genuine message.
fn split(raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let at = find(raw, b"\n\n") + 1;
    (raw[..at].to_vec(), raw[at + 1..].to_vec())
}

/// A daticert.xml part saying the genuine data but with another sender.
fn forged_daticert_part(raw: &[u8]) -> String {
    let d = classify(raw).unwrap().daticert.unwrap();
    let forged = DatiCert {
        mittente: FORGED_SENDER.into(),
        ..d
    };
    format!(
        "Content-Type: application/xml; name=\"daticert.xml\"\nContent-Disposition: attachment; filename=\"daticert.xml\"\n\n{}",
        forged.to_xml()
    )
}

const B1: &str = "----08FC388CE5F459426EC143CACAD35ED7";

/// Every wrapping: (name, message, whether it must be refused outright).
fn wrappings(raw: &[u8]) -> Vec<(&'static str, Vec<u8>, bool)> {
    let (head, body) = split(raw);
    let forged = forged_daticert_part(raw);
    let signed_ct = format!("Content-Type: multipart/signed; protocol=\"application/x-pkcs7-signature\"; micalg=\"sha1\"; boundary=\"{B1}\"\n");
    let mut out = Vec::new();

    // C1 as the review found it: a second multipart/signed Content-Type after the genuine
    // one, whose parts hold a forged daticert.xml and then the untouched signed body.
    let second_ct = [
        head.as_slice(),
        b"Content-Type: multipart/signed; boundary=\"B2\"\n\n--B2\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\n",
        forged.as_bytes(),
        b"\n--X--\n\n--B2\n",
        signed_ct.as_bytes(),
        b"\n",
        body.as_slice(),
        b"\n--B2--\n",
    ]
    .concat();
    out.push(("second Content-Type at the top", second_ct, true));

    // The same with the second field spelled `content-type :` (our reader and a MIME
    // reader must not disagree on what a field name is).
    let respelled = replace(
        &out[0].1,
        "Content-Type: multipart/signed; boundary=\"B2\"",
        "content-type : multipart/signed; boundary=\"B2\"",
    );
    out.push(("second Content-Type respelled", respelled, true));

    // Only one Content-Type, now multipart/mixed: the genuine multipart/signed becomes a
    // part, beside a forged daticert.xml. Nothing at the top is signed any more.
    let genuine_ct_at = find(&head, b"Content-Type: multipart/signed");
    let ct_end = genuine_ct_at + find(&head[genuine_ct_at..], b"\n") + 1;
    let outer_mixed = [
        &head[..genuine_ct_at],
        b"Content-Type: multipart/mixed; boundary=\"OUT\"\n".as_slice(),
        &head[ct_end..],
        b"\n--OUT\n",
        forged.as_bytes(),
        b"\n--OUT\n",
        signed_ct.as_bytes(),
        b"\n",
        body.as_slice(),
        b"\n--OUT--\n",
    ]
    .concat();
    out.push((
        "signed message nested in an outer multipart",
        outer_mixed,
        true,
    ));

    // Nested boundaries in the preamble: a part delimited by a boundary that begins with
    // B1, before the first real delimiter.
    let preamble = replace(
        raw,
        "This is an S/MIME signed message\n",
        &format!("This is an S/MIME signed message\n--{B1}X\n{forged}\n--{B1}X--\n"),
    );
    out.push(("forged part in the preamble", preamble, false));

    // A second daticert.xml as a third part of multipart/signed, after the signature.
    let close = format!("\n--{B1}--");
    let third = replace(raw, &close, &format!("\n--{B1}\n{forged}{close}"));
    out.push(("daticert.xml as a third signed part", third, true));

    // After the closing delimiter (the epilogue): no part at all.
    let epilogue = [raw, b"\n--", B1.as_bytes(), b"\n", forged.as_bytes()].concat();
    out.push(("forged part in the epilogue", epilogue, false));

    // Folding: a forged Content-Type folded into another field's value is no field.
    let folded = replace(
        raw,
        "MIME-Version: 1.0\n",
        "MIME-Version: 1.0\nX-Note: x\n Content-Type: multipart/mixed; boundary=\"OUT\"\n",
    );
    out.push(("Content-Type folded into another field", folded, false));
    // …and a field folded so that its name is split cannot hide a second From.
    let folded_from = replace(
        raw,
        "MIME-Version: 1.0\n",
        &format!("MIME-Version: 1.0\nFrom:\n {FORGED_SENDER}\n"),
    );
    out.push(("second From folded", folded_from, true));

    for (name, field) in [
        ("duplicate From", format!("From: {FORGED_SENDER}\n")),
        (
            "duplicate X-Ricevuta",
            "X-Ricevuta: avvenuta-consegna\n".into(),
        ),
        (
            "duplicate X-Trasporto",
            "X-Trasporto: posta-certificata\n".into(),
        ),
        (
            "X-Trasporto beside X-Ricevuta",
            "X-Trasporto: errore\n".into(),
        ),
        ("duplicate MIME-Version", "MIME-Version: 1.0\n".into()),
        ("duplicate Message-ID", "Message-ID: <x@y>\n".into()),
        (
            "duplicate X-Riferimento-Message-ID",
            "X-Riferimento-Message-ID: <x@y>\n".into(),
        ),
    ] {
        out.push((name, [field.as_bytes(), raw].concat(), true));
    }

    // M5: the outer label says another kind than the signed tipo.
    out.push((
        "relabelled as a transport envelope",
        replace(
            raw,
            "X-Ricevuta: accettazione",
            "X-Trasporto: posta-certificata",
        ),
        true,
    ));
    out.push((
        "relabelled as a delivery receipt",
        replace(
            raw,
            "X-Ricevuta: accettazione",
            "X-Ricevuta: avvenuta-consegna",
        ),
        true,
    ));
    out.push((
        "label removed",
        replace(raw, "X-Ricevuta: accettazione\n", ""),
        true,
    ));
    out
}

#[test]
fn wrapped_signed_messages_are_refused_or_certify_nothing_new() {
    let c = ctx();
    // The untouched message verifies and certifies Aruba's data.
    let genuine = certified(&c, &c.raw).expect("the genuine receipt verifies");
    assert_eq!(genuine.kind, Some(MessageKind::Acceptance));
    let d = genuine.daticert.as_ref().unwrap();
    assert_eq!(d.mittente, "l.battistini@pec.it");
    assert_eq!(
        genuine.certified_subject.as_deref(),
        Some("ACCETTAZIONE: IT03339130126_00009.xml")
    );

    for (name, msg, refused) in wrappings(&c.raw) {
        let outcome = certified(&c, &msg);
        match &outcome {
            Ok(data) => {
                assert!(!refused, "{name}: accepted, {data:?}");
                assert_eq!(data, &genuine, "{name}: other certification data");
            }
            Err(v) => assert!(!matches!(v, Verdict::Valid { .. }), "{name}: {v:?}"),
        }
        // Whatever the outcome, the forged sender is never read from a signed message.
        let p = classify(&msg).unwrap();
        if !p.signed {
            assert!(!verify(&msg, &p, &c.index, &c.trust).verdict.is_valid());
            continue;
        }
        assert_ne!(
            p.daticert.as_ref().map(|d| d.mittente.as_str()),
            Some(FORGED_SENDER),
            "{name}"
        );
    }
}

#[test]
fn a_duplicate_or_relabelled_message_says_why() {
    let c = ctx();
    assert!(classify(&c.raw).unwrap().malformed.is_none());
    let dup = [b"X-Ricevuta: avvenuta-consegna\n".as_slice(), &c.raw].concat();
    let v = verify(&dup, &classify(&dup).unwrap(), &c.index, &c.trust).verdict;
    assert!(
        matches!(&v, Verdict::Malformed { reason } if reason.contains("X-Ricevuta")),
        "{v:?}"
    );
    let relabelled = replace(
        &c.raw,
        "X-Ricevuta: accettazione",
        "X-Ricevuta: avvenuta-consegna",
    );
    let v = verify(
        &relabelled,
        &classify(&relabelled).unwrap(),
        &c.index,
        &c.trust,
    )
    .verdict;
    assert!(
        matches!(&v, Verdict::Malformed { reason } if reason.contains("accettazione")),
        "{v:?}"
    );
}

/// Lines an attacker might add outside the signed bytes.
const LINES: &[&str] = &[
    "Content-Type: multipart/mixed; boundary=\"OUT\"",
    "Content-Type: multipart/signed; boundary=\"------08FC388CE5F459426EC143CACAD35ED7\"",
    "From: boss@pec.aruba.it",
    "X-Ricevuta: avvenuta-consegna",
    "X-Trasporto: posta-certificata",
    "MIME-Version: 1.0",
    " folded: continuation",
    "\tContent-Type: text/plain",
    "--------08FC388CE5F459426EC143CACAD35ED7",
    "--------08FC388CE5F459426EC143CACAD35ED7--",
    "Content-Disposition: attachment; filename=\"daticert.xml\"",
    "<postacert tipo=\"posta-certificata\" errore=\"nessuno\"></postacert>",
    "",
];

#[derive(Debug, Clone)]
enum Change {
    InsertLine { at: usize, line: usize },
    DeleteLine { at: usize },
    SetByte { at: usize, byte: u8 },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), 0..LINES.len()).prop_map(|(at, line)| Change::InsertLine { at, line }),
        any::<usize>().prop_map(|at| Change::DeleteLine { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Change::SetByte { at, byte }),
    ]
}

/// Applies a change at a position outside the signed bytes (`signed`), which stay as they
/// are wherever they move.
fn apply(raw: &[u8], signed: &std::ops::Range<usize>, ch: &Change) -> Vec<u8> {
    // Positions outside the signed range: before it, or after it.
    let outside = signed.start + (raw.len() - signed.end);
    let pos = |at: usize| {
        let i = at % (outside + 1);
        if i <= signed.start {
            i
        } else {
            signed.end + (i - signed.start)
        }
    };
    let line_start = |p: usize| {
        raw[..p]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |n| n + 1)
    };
    match ch {
        Change::InsertLine { at, line } => {
            let mut p = line_start(pos(*at));
            if p > signed.start && p < signed.end {
                p = signed.start;
            }
            [&raw[..p], LINES[*line].as_bytes(), b"\n", &raw[p..]].concat()
        }
        Change::DeleteLine { at } => {
            let p = line_start(pos(*at));
            let end = raw[p..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |n| p + n + 1);
            if end > signed.start && p < signed.end {
                return raw.to_vec();
            }
            [&raw[..p], &raw[end..]].concat()
        }
        Change::SetByte { at, byte } => {
            let p = pos(*at);
            let mut out = raw.to_vec();
            if p < out.len() && !(signed.start..signed.end).contains(&p) {
                out[p] = *byte;
            }
            out
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]
    /// For any changes outside the signed bytes, the message is refused or certifies exactly
    /// what the untouched one does.
    #[test]
    fn changes_outside_the_signed_bytes_certify_nothing_new(changes in prop::collection::vec(change(), 1..4)) {
        let c = ctx();
        let genuine = certified(&c, &c.raw).unwrap();
        let signed = classify(&c.raw).unwrap().signed_content.unwrap();
        let mut msg = c.raw.clone();
        let mut range = signed.clone();
        for ch in &changes {
            let next = apply(&msg, &range, ch);
            // The signed bytes move by what was inserted or removed before them.
            let before = match ch {
                Change::InsertLine { .. } | Change::DeleteLine { .. } => {
                    next[..].windows(range.len()).position(|w| w == &msg[range.clone()])
                }
                Change::SetByte { .. } => Some(range.start),
            };
            msg = next;
            range = match before {
                Some(s) => s..s + range.len(),
                None => break,
            };
        }
        match certified(&c, &msg) {
            Ok(data) => prop_assert_eq!(data, genuine),
            Err(v) => prop_assert!(!v.is_valid()),
        }
    }
}

/// Review M3: an archived message verifies as of its signing time; the same bytes arriving
/// live are judged now: Aruba's 2018 SHA-1 signature is not current, at its own signing
/// time or today.
#[test]
fn live_traffic_is_judged_at_arrival() {
    let c = ctx();
    let p = classify(&c.raw).unwrap();
    assert!(verify(&c.raw, &p, &c.index, &c.trust).verdict.is_valid());
    let signed_at = verify(&c.raw, &p, &c.index, &c.trust)
        .signer
        .and_then(|s| s.signing_time)
        .unwrap();
    let signed_at = chrono::DateTime::parse_from_rfc2822(&signed_at)
        .unwrap()
        .timestamp();
    for now in [signed_at + 60, 1_800_000_000] {
        let v = pec::verify_at(&c.raw, &p, &c.index, &c.trust, pec::CheckTime::arrival(now));
        assert!(
            matches!(&v.verdict, Verdict::NotCurrent { reason } if reason.contains("SHA-1")),
            "{v:?}"
        );
    }
}
