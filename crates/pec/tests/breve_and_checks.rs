//! The breve transform on a message with three attachments (one a message/rfc822), and the
//! access point's formal checks, one table row per rule.

use pec::breve::{sha1_hex, transform};
use pec::checks::{formal_checks, Limits, Violation};
use pec::text::Lang;

const PDF: &[u8] = b"%PDF-1.4 fake invoice body\n";
const XML: &[u8] = b"<FatturaElettronica versione=\"FPR12\"/>";
const INNER: &str =
    "From: x@example.org\r\nTo: y@example.org\r\nSubject: inoltrato\r\n\r\nmessaggio inoltrato\r\n";

fn three_attachments() -> String {
    use base64::Engine;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    format!(
        "From: a@pec.alpha.test\r\nTo: b@pec.beta.test\r\nSubject: tre allegati\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCorpo del messaggio.\r\n\
--outer\r\nContent-Type: application/pdf; name=\"fattura.pdf\"\r\nContent-Disposition: attachment; filename=\"fattura.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--outer\r\nContent-Type: application/xml\r\nContent-Disposition: attachment; filename=\"IT01234567890_00001.xml\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n\
--outer\r\nContent-Type: message/rfc822; name=\"inoltrato.eml\"\r\nContent-Disposition: attachment; filename=\"inoltrato.eml\"\r\n\r\n{}\r\n\
--outer--\r\n",
        b64(PDF),
        String::from_utf8_lossy(XML).replace('=', "=3D"),
        INNER
    )
}

#[test]
fn breve_replaces_each_named_part_by_its_sha1() {
    let original = three_attachments();
    let out = transform(original.as_bytes());
    let parsed = pec::classify(&out).unwrap();
    let mut hashes = parsed.hashes.clone();
    hashes.sort();
    let mut expected = vec![
        ("fattura.pdf".to_string(), sha1_hex(PDF)),
        ("IT01234567890_00001.xml".to_string(), sha1_hex(XML)),
        ("inoltrato.eml".to_string(), sha1_hex(INNER.as_bytes())),
    ];
    expected.sort();
    assert_eq!(hashes, expected);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("Corpo del messaggio."), "the body text stays");
    assert!(
        !text.contains("messaggio inoltrato"),
        "the forwarded message is hashed whole"
    );
    assert_eq!(
        text.matches(".hash\"").count(),
        6,
        "name and filename of three parts"
    );
    // The structure is kept: same boundaries, same number of parts.
    assert_eq!(
        text.matches("--outer").count(),
        original.matches("--outer").count()
    );
    // Python's email package agrees on the names.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &out).unwrap();
    let out = testkit::tool("python3")
        .arg("-c")
        .arg("import email,sys\nm=email.message_from_binary_file(open(sys.argv[1],'rb'))\nfor p in m.walk():\n  n=p.get_filename()\n  if n: print(n, p.get_payload(decode=True).decode())\n")
        .arg(f.path())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&format!("fattura.pdf.hash {}", sha1_hex(PDF))),
        "{listing}"
    );
    assert!(
        listing.contains(&format!(
            "inoltrato.eml.hash {}",
            sha1_hex(INNER.as_bytes())
        )),
        "{listing}"
    );
}

#[test]
fn breve_leaves_encrypted_originals_whole() {
    let enc = b"From: a@x\r\nTo: b@y\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n";
    assert_eq!(transform(enc), enc.to_vec());
    let plain = b"From: a@x\r\nTo: b@y\r\nSubject: s\r\n\r\nno attachments\r\n";
    assert_eq!(transform(plain), plain.to_vec());
}

fn msg(headers: &str) -> Vec<u8> {
    format!("{headers}Subject: prova\r\n\r\ncorpo\r\n").into_bytes()
}

/// name, reverse path, forward paths, message, expected violations
type Row = (
    &'static str,
    &'static str,
    Vec<String>,
    Vec<u8>,
    Vec<Violation>,
);

#[test]
fn formal_checks_one_rule_per_row() {
    let limits = Limits {
        max_recipients: 3,
        max_size_times_recipients: 1000,
    };
    let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ok = "From: a@pec.it\r\nTo: b@pec.it\r\nCc: c@pec.it\r\n";
    let table: Vec<Row> = vec![
        (
            "valid",
            "a@pec.it",
            r(&["b@pec.it", "c@pec.it"]),
            msg(ok),
            vec![],
        ),
        (
            "case-insensitive",
            "A@PEC.IT",
            r(&["B@pec.it"]),
            msg(ok),
            vec![],
        ),
        (
            "no From",
            "a@pec.it",
            r(&["b@pec.it"]),
            msg("To: b@pec.it\r\n"),
            vec![Violation::MissingFrom],
        ),
        (
            "From field twice (M4: the first shown, the last checked)",
            "a@pec.it",
            r(&["b@pec.it"]),
            msg("From: boss@pec.it\r\nFrom: a@pec.it\r\nTo: b@pec.it\r\n"),
            vec![Violation::RepeatedField {
                name: "From".into(),
                count: 2,
            }],
        ),
        (
            "To and Subject twice",
            "a@pec.it",
            r(&["b@pec.it"]),
            msg("From: a@pec.it\r\nTo: b@pec.it\r\nto: b@pec.it\r\nSubject: altro\r\n"),
            vec![
                Violation::RepeatedField {
                    name: "To".into(),
                    count: 2,
                },
                Violation::RepeatedField {
                    name: "Subject".into(),
                    count: 2,
                },
            ],
        ),
        (
            "two From",
            "a@pec.it",
            r(&["b@pec.it"]),
            msg("From: a@pec.it, z@pec.it\r\nTo: b@pec.it\r\n"),
            vec![Violation::MultipleFrom { count: 2 }],
        ),
        (
            "no To",
            "a@pec.it",
            r(&["c@pec.it"]),
            msg("From: a@pec.it\r\nCc: c@pec.it\r\n"),
            vec![Violation::MissingTo],
        ),
        (
            "reverse path differs",
            "z@pec.it",
            r(&["b@pec.it"]),
            msg(ok),
            vec![Violation::ReversePathMismatch {
                reverse_path: "z@pec.it".into(),
                from: "a@pec.it".into(),
            }],
        ),
        (
            "recipient not in To/Cc",
            "a@pec.it",
            r(&["b@pec.it", "d@pec.it"]),
            msg(ok),
            vec![Violation::RecipientNotInHeaders {
                recipient: "d@pec.it".into(),
            }],
        ),
        (
            "Bcc present",
            "a@pec.it",
            r(&["b@pec.it"]),
            msg("From: a@pec.it\r\nTo: b@pec.it\r\nBcc: e@pec.it\r\n"),
            vec![Violation::BccPresent],
        ),
        (
            "too many recipients",
            "a@pec.it",
            r(&["b@pec.it", "c@pec.it", "b@pec.it", "c@pec.it"]),
            msg(ok),
            vec![Violation::TooManyRecipients { count: 4, max: 3 }],
        ),
    ];
    for (name, rp, rcpts, m, expected) in table {
        assert_eq!(formal_checks(rp, &rcpts, &m, &limits), expected, "{name}");
    }
    let big = format!("{ok}Subject: x\r\n\r\n{}\r\n", "x".repeat(600)).into_bytes();
    let v = formal_checks("a@pec.it", &r(&["b@pec.it", "c@pec.it"]), &big, &limits);
    assert!(
        matches!(
            v.as_slice(),
            [Violation::TooLarge {
                recipients: 2,
                limit: 1000,
                ..
            }]
        ),
        "{v:?}"
    );
    assert_eq!(
        formal_checks(
            "a@pec.it",
            &r(&["b@pec.it"]),
            b"not a message at all",
            &limits
        ),
        vec![Violation::NotAMessage]
    );
    // Every violation found at once, each with an Italian and an English message.
    let all = formal_checks(
        "z@pec.it",
        &r(&["q@pec.it"]),
        &msg("Bcc: e@pec.it\r\n"),
        &limits,
    );
    assert_eq!(all.len(), 4, "{all:?}");
    for v in &all {
        assert!(!v.message(Lang::It).is_empty() && v.message(Lang::It) != v.message(Lang::En));
    }
    assert_eq!(
        Limits::default(),
        Limits {
            max_recipients: 50,
            max_size_times_recipients: 30_000_000
        }
    );
}
