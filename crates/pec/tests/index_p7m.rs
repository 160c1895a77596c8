//! The provider index as distributed: a signed `.p7m` (RFC 6109 §4.5.6), made here by
//! `openssl smime -sign`, read back only when its signature verifies against the trust given.

mod common;

use openssl::x509::store::X509StoreBuilder;
use pec::{ProviderEntry, ProviderIndex};

#[test]
fn signed_index_reads_when_it_verifies_and_not_otherwise() {
    let pki = common::test_pki("IGPEC", "igpec.test");
    let dir = tempfile::tempdir().unwrap();
    let entry = ProviderEntry::for_certificate(
        &pki.signing.cert,
        "Gestore Uno S.p.A.",
        &["pec.uno.test".into(), "PEC.Due.Test".into()],
        "ricevute@pec.uno.test",
    );
    let ldif = dir.path().join("index.ldif");
    std::fs::write(&ldif, entry.to_ldif()).unwrap();
    let (cert, key, out) = (
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
        dir.path().join("index.ldif.p7m"),
    );
    std::fs::write(&cert, pki.signing.cert_pem().unwrap()).unwrap();
    std::fs::write(&key, pki.signing.key_pem().unwrap()).unwrap();
    let st = testkit::tool("openssl")
        .args([
            "smime",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
        ])
        .arg(&ldif)
        .arg("-signer")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let p7m = std::fs::read(&out).unwrap();

    let mut trusted = X509StoreBuilder::new().unwrap();
    trusted.add_cert(pki.ca.cert.clone()).unwrap();
    let index = ProviderIndex::from_bytes(&p7m, Some(&trusted.build())).unwrap();
    assert_eq!(index.providers.len(), 1);
    assert!(index.by_domain("pec.due.test").is_some());
    assert!(index
        .by_certificate_hash(&pec::smime::certificate_sha1(&pki.signing.cert).to_lowercase())
        .is_some());

    // Signed by someone the trust does not know: refused.
    let other = common::test_pki("Altro", "altro.test");
    let mut wrong = X509StoreBuilder::new().unwrap();
    wrong.add_cert(other.ca.cert.clone()).unwrap();
    assert!(ProviderIndex::from_bytes(&p7m, Some(&wrong.build())).is_err());

    // Tampered content: refused even without a trust store.
    let mut bad = p7m.clone();
    let pos = bad.windows(12).position(|w| w == b"pec.uno.test").unwrap();
    bad[pos] = b'P';
    assert!(ProviderIndex::from_bytes(&bad, None).is_err());
    // Plain LDIF still reads.
    assert_eq!(
        ProviderIndex::from_bytes(entry.to_ldif().as_bytes(), None)
            .unwrap()
            .providers
            .len(),
        1
    );
}
