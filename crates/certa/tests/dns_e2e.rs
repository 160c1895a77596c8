//! Routing without static routes: MX records from DNS (RFC 5321 §5.1). A small DNS server
//! (Python, hand-built answers) says that pec.beta.test's exchanger is mail.pec.beta.test at
//! 127.0.0.1, and that nonesiste.test does not exist.

mod common;

use common::*;

#[test]
fn mx_lookup_routes_to_the_other_provider_and_a_missing_domain_fails() {
    let mut a = Node::new("pec.alpha.test", None);
    let mut b = Node::new("pec.beta.test", None);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    let (_dns, dns_port) = fake_dns(&[
        ("pec.beta.test", "MX", "mail.pec.beta.test"),
        ("mail.pec.beta.test", "A", "127.0.0.1"),
    ]);
    // A knows B from the index only: no static route; B's TLS chains up to B's CA.
    let entry = a.data().join("beta.ldif");
    std::fs::write(&entry, certa_ok(b.data(), &["index", "export"])).unwrap();
    certa_ok(
        a.data(),
        &["index", "import", "--unsigned", entry.to_str().unwrap()],
    );
    let cfg_path = a.data().join("certa.toml");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace(
            "peer_ca = []",
            &format!("peer_ca = [\"{}\"]", b.ca().display()),
        )
        .replace(
            "[dns]\nmx_port = 25",
            &format!(
                "[dns]\nresolver = \"127.0.0.1:{dns_port}\"\nmx_port = {}",
                b.smtp_port()
            ),
        )
        // The test's exchanger is on loopback, which DNS answers may name only when allowed.
        .replace("allow_private_mx = false", "allow_private_mx = true");
    std::fs::write(&cfg_path, cfg).unwrap();
    b.peer_with(&a);
    a.start();
    b.start();

    let msg = format!(
        "From: {s}\r\nTo: {rb}\r\nSubject: via MX\r\nMessage-ID: <mx-1@mua>\r\n\r\nciao\r\n"
    );
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[&rb],
            msg.as_bytes()
        ),
        "OK"
    );
    b.wait_folder(&rb, "INBOX", "envelope via MX", |m| {
        count(m, "busta-trasporto") == 1
    });
    a.wait_folder(&s, "INBOX", "delivery receipt", |m| {
        count(m, "avvenuta-consegna-completa") == 1
    });

    // A domain that does not exist: a non-delivery notice, not endless retries.
    let ghost = "x@nonesiste.test";
    let msg = format!(
        "From: {s}\r\nTo: {ghost}\r\nSubject: nessuno\r\nMessage-ID: <mx-2@mua>\r\n\r\nciao\r\n"
    );
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[ghost],
            msg.as_bytes()
        ),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "non-delivery for a missing domain", |m| {
        count(m, "mancata-consegna") == 1
    });
    let nd = &inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("mancata-consegna"))
        .unwrap()
        .1;
    assert!(daticert(nd)
        .errore_esteso
        .unwrap_or_default()
        .contains("non esiste"));
}
