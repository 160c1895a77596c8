//! `certa verify` and `certa index entry` as an operator runs them, on a real Aruba receipt.

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
mod common;

use common::shared;
use std::process::Command;

fn certa(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_certa"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn verify_a_real_aruba_receipt_with_an_index_entry_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let eml =
        shared().join("fixtures/pec-real/l10n-italy/ACCETTAZIONE_ IT03339130126_00009.xml.txt");
    let raw = std::fs::read(&eml).unwrap();
    let der = pec::classify(&raw).unwrap().signature.unwrap();
    let p7 = Pkcs7::from_der(&der).unwrap();
    let signer = p7
        .signers(&Stack::new().unwrap(), Pkcs7Flags::empty())
        .unwrap();
    let cert = dir.path().join("aruba.pem");
    std::fs::write(&cert, signer.iter().next().unwrap().to_pem().unwrap()).unwrap();

    let (code, ldif) = certa(&[
        "index",
        "entry",
        "--cert",
        cert.to_str().unwrap(),
        "--name",
        "ARUBA PEC S.p.A.",
        "--domain",
        "pec.aruba.it",
        "--domain",
        "pec.it",
        "--receipt-address",
        "posta-certificata@pec.aruba.it",
    ]);
    assert_eq!(code, 0, "{ldif}");
    assert!(ldif.contains("dn: providerName=ARUBA PEC S.p.A.,o=postacert"));
    assert!(ldif.contains("managedDomains: pec.it"));
    let index = dir.path().join("index.ldif");
    std::fs::write(&index, &ldif).unwrap();

    let trust = "/etc/ssl/certs/Actalis_Authentication_Root_CA.pem";
    let (code, out) = certa(&[
        "verify",
        eml.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
        "--trust",
        trust,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Ricevuta di accettazione"), "{out}");
    assert!(
        out.contains("opec288.20181113163926.01838.310.1.63@pec.aruba.it"),
        "{out}"
    );
    assert!(
        out.contains("VALIDO: messaggio PEC valido, firmato da ARUBA PEC S.p.A."),
        "{out}"
    );
    assert!(out.contains("13/11/2018 16:39:26 (+0100)"), "{out}");

    let (code, out) = certa(&[
        "verify",
        eml.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
        "--trust",
        trust,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["kind"], "accettazione");
    assert_eq!(j["valid"], true);
    assert_eq!(j["provider"], "ARUBA PEC S.p.A.");
    assert_eq!(j["msgid"], "<1542123565.921546936035156.464602125997431-openerp-8-fatturapa.attachment.out@elbati-Vostro-3550>");
    assert_eq!(j["sender"], "l.battistini@pec.it");

    // One byte changed: exit 1 and the reason.
    let altered = dir.path().join("altered.eml");
    let text =
        String::from_utf8_lossy(&raw).replacen("accettato dal sistema", "accettato dal sistemA", 1);
    std::fs::write(&altered, text).unwrap();
    let (code, out) = certa(&[
        "verify",
        altered.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
        "--trust",
        trust,
        "--lang",
        "en",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT VALID: content altered"), "{out}");

    // No index: unknown provider.
    let (code, out) = certa(&["verify", eml.to_str().unwrap(), "--trust", trust]);
    assert_eq!(code, 1);
    assert!(out.contains("gestore sconosciuto"), "{out}");

    // Not a message at all: a clear error, exit 2.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x00\x01\x02").unwrap();
    let (code, out) = certa(&["verify", junk.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("errore"), "{out}");
}

/// Review C1/M5 from the command line: the genuine receipt verifies, and copies wrapped in a
/// second Content-Type, with a repeated From or X-Ricevuta, or relabelled, do not.
#[test]
fn verify_refuses_wrapped_and_relabelled_copies() {
    let dir = tempfile::tempdir().unwrap();
    let eml =
        shared().join("fixtures/pec-real/l10n-italy/ACCETTAZIONE_ IT03339130126_00009.xml.txt");
    let raw = std::fs::read(&eml).unwrap();
    let der = pec::classify(&raw).unwrap().signature.unwrap();
    let p7 = Pkcs7::from_der(&der).unwrap();
    let signer = p7
        .signers(&Stack::new().unwrap(), Pkcs7Flags::empty())
        .unwrap();
    let entry = pec::ProviderEntry::for_certificate(
        &signer.iter().next().unwrap().to_owned(),
        "ARUBA PEC S.p.A.",
        &["pec.aruba.it".to_string(), "pec.it".to_string()],
        "posta-certificata@pec.aruba.it",
    );
    let index = dir.path().join("index.ldif");
    std::fs::write(&index, entry.to_ldif()).unwrap();
    let trust = "/etc/ssl/certs/Actalis_Authentication_Root_CA.pem";
    let run = |bytes: &[u8]| {
        let f = dir.path().join("m.eml");
        std::fs::write(&f, bytes).unwrap();
        certa(&[
            "verify",
            f.to_str().unwrap(),
            "--index",
            index.to_str().unwrap(),
            "--trust",
            trust,
        ])
    };
    let (code, out) = run(&raw);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ACCETTAZIONE: IT03339130126_00009.xml"),
        "{out}"
    );

    let text = String::from_utf8_lossy(&raw).into_owned();
    let body_at = text.find("\n\n").unwrap() + 1;
    let forged = text.replacen("l.battistini@pec.it", "boss@pec.it", 1);
    let wrapped = format!(
        "{}Content-Type: multipart/signed; boundary=\"B2\"\n\n--B2\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\nContent-Type: application/xml; name=\"daticert.xml\"\nContent-Disposition: attachment; filename=\"daticert.xml\"\n\n<postacert tipo=\"accettazione\" errore=\"nessuno\"/>\n--X--\n\n--B2\n{}\n--B2--\n",
        &text[..body_at],
        &forged[body_at..]
    );
    for (what, msg) in [
        ("second Content-Type", wrapped),
        ("duplicate From", format!("From: boss@pec.it\n{text}")),
        (
            "duplicate X-Ricevuta",
            format!("X-Ricevuta: avvenuta-consegna\n{text}"),
        ),
        (
            "relabelled",
            text.replacen(
                "X-Ricevuta: accettazione",
                "X-Trasporto: posta-certificata",
                1,
            ),
        ),
    ] {
        let (code, out) = run(msg.as_bytes());
        assert_eq!(code, 1, "{what}: {out}");
        assert!(out.contains("NON VALIDO"), "{what}: {out}");
        assert!(!out.contains("boss@pec.it"), "{what}: {out}");
    }
}

/// Review M7: `index import` of a signed .p7m checks its signer against the configured
/// authority; plain LDIF needs --unsigned and says so.
#[test]
fn index_import_is_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, out) = common::certa(
        &data,
        &[
            "quickstart",
            "--domain",
            "pec.alpha.test",
            "--provider-name",
            "Alpha",
            "--port-base",
            "40100",
        ],
    );
    assert!(ok, "{out}");
    let authority = pec::pki::new_ca("IGPEC", "AgID").unwrap();
    let stranger = pec::pki::new_ca("Altro", "Altro").unwrap();
    let entry = pec::ProviderEntry::for_certificate(
        &stranger.cert,
        "Gestore Uno",
        &["pec.uno.test".into()],
        "posta-certificata@pec.uno.test",
    );
    let ldif = dir.path().join("index.ldif");
    std::fs::write(&ldif, entry.to_ldif()).unwrap();
    let sign = |who: &pec::pki::Credential, name: &str| {
        let (c, k, out) = (
            dir.path().join(format!("{name}.pem")),
            dir.path().join(format!("{name}-key.pem")),
            dir.path().join(format!("{name}.p7m")),
        );
        std::fs::write(&c, who.cert_pem().unwrap()).unwrap();
        std::fs::write(&k, who.key_pem().unwrap()).unwrap();
        let st = Command::new("openssl")
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
            .args(["-signer"])
            .arg(&c)
            .arg("-inkey")
            .arg(&k)
            .arg("-out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        (c, out)
    };
    let (authority_pem, good) = sign(&authority, "igpec");
    let (_, forged) = sign(&stranger, "altro");
    let import = |args: &[&str]| {
        let mut a = vec!["index", "import"];
        a.extend_from_slice(args);
        common::certa(&data, &a)
    };
    // Signed by the authority: imported.
    let (ok, out) = import(&[
        good.to_str().unwrap(),
        "--signer",
        authority_pem.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("1 gestori importati"), "{out}");
    // Signed by someone else, or with no authority configured: refused.
    let (ok, out) = import(&[
        forged.to_str().unwrap(),
        "--signer",
        authority_pem.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("indice rifiutato"), "{out}");
    let (ok, out) = import(&[good.to_str().unwrap()]);
    assert!(!ok && out.contains("--signer"), "{out}");
    // The authority from the configuration works as the flag does.
    let cfg = data.join("certa.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[verification]\n",
        &format!(
            "[verification]\nindex_signer = {:?}\n",
            authority_pem.to_str().unwrap()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let (ok, out) = import(&[good.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = import(&[forged.to_str().unwrap()]);
    assert!(!ok, "{out}");
    // Plain LDIF: only with --unsigned, and then with a warning.
    let (ok, out) = import(&[ldif.to_str().unwrap()]);
    assert!(!ok && out.contains("--unsigned"), "{out}");
    let (ok, out) = import(&[ldif.to_str().unwrap(), "--unsigned"]);
    assert!(ok && out.contains("non firmato"), "{out}");
}
