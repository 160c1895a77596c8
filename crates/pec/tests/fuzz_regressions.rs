//! Inputs the fuzzers once crashed on (fuzz/regressions): they must now be handled.

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        out.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(!out.is_empty());
    out
}

#[test]
fn classify_and_verify_never_panic_on_past_crashes() {
    for data in inputs("classify") {
        if let Ok(p) = pec::classify(&data) {
            let v = pec::verify(
                &data,
                &p,
                &pec::ProviderIndex::default(),
                &pec::TrustAnchors::from_certs(vec![]),
            );
            assert!(!v.verdict.is_valid());
        }
    }
}

#[test]
fn daticert_writing_reaches_a_fixed_point_on_past_crashes() {
    for data in inputs("daticert") {
        if let Ok(d) = pec::DatiCert::parse(&data) {
            let once = pec::DatiCert::parse(d.to_xml().as_bytes()).unwrap();
            let twice = pec::DatiCert::parse(once.to_xml().as_bytes()).unwrap();
            assert_eq!(once, twice);
        }
    }
}
