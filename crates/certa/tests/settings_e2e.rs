//! Impostazioni pages on a running server (issue 18): the rule for ordinary mail set in the
//! webmail (tests/clients/forwarding_rule.py), then proved by ordinary mail arriving over
//! SMTP — forwarded to an aiosmtpd sink, delivered into the box as an anomaly, refused
//! after Reset — and a bad address or a POST without its token changing nothing.

mod common;

use common::*;

fn rule(a: &Node, box_: &str, args: &[&str]) -> String {
    let params = serde_json::json!({
        "web": a.web_url(), "ca": a.ca(), "box": box_, "password": PASSWORD,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/forwarding_rule.py"
    );
    let out = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forwarding_rule.py {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ordinary(subject: &str, to: &str) -> Vec<u8> {
    format!(
        "From: fornitore@example.net\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.net>\r\n\r\nPosta ordinaria.\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

#[test]
fn the_rule_for_ordinary_mail_set_in_the_webmail_is_what_smtp_does() {
    let mut a = Node::new("pec.alpha.test", None);
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    let box_ = a.mailbox("protocollo");
    a.start();
    let send = |subject: &str| {
        python_mx(
            a.smtp_port(),
            "fornitore@example.net",
            &box_,
            &ordinary(subject, &box_),
        )
    };

    // The default: refused, and the page says so.
    assert!(rule(&a, &box_, &["show"]).starts_with("rifiuta"));
    assert!(send("prima").starts_with("ERR"), "refused by default");

    // Forwarded to an ordinary address.
    let shown = rule(&a, &box_, &["salva", "Ufficio@Example.org"]);
    assert_eq!(
        shown,
        "inoltra inoltra i messaggi non certificati a ufficio@example.org"
    );
    assert_eq!(send("seconda"), "OK");
    let forwarded = String::from_utf8_lossy(&first_received(sink_dir.path())).into_owned();
    assert!(forwarded.contains("Subject: seconda"), "{forwarded}");

    // A bad address or a POST without its token leaves the rule as it was.
    assert!(rule(&a, &box_, &["bad"]).starts_with("inoltra"));
    assert!(rule(&a, &box_, &["nocsrf"]).starts_with("inoltra"));

    // The box's own address: delivered into the box, never as certified.
    assert!(rule(&a, &box_, &["salva", &box_]).starts_with("casella"));
    assert_eq!(send("terza"), "OK");
    a.wait_folder(
        &box_,
        "INBOX",
        "the ordinary message as an anomaly",
        |msgs| {
            msgs.iter().any(|(kind, m)| {
                kind.as_deref() == Some("busta-anomalia")
                    && String::from_utf8_lossy(m).contains("terza")
            })
        },
    );

    // Reset: refused again.
    assert!(rule(&a, &box_, &["reset"]).starts_with("rifiuta"));
    assert!(send("quarta").starts_with("ERR"));
}
