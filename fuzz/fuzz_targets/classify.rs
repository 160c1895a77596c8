//! Any bytes as an arriving message: classify, verify against an empty index, and the breve
//! transform must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = pec::classify(data) {
        let _ = parsed.original(data);
        let index = pec::ProviderIndex::default();
        let trust = pec::TrustAnchors::from_certs(vec![]);
        let _ = pec::verify(data, &parsed, &index, &trust);
    }
    let _ = pec::breve::transform(data);
    let _ = pec::checks::formal_checks("a@b.it", &["c@d.it".to_string()], data, &Default::default());
});
