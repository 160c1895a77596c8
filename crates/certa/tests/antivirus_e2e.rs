//! Antivirus through a real clamd (Debian's clamav-daemon) with a one-line signature database
//! for the EICAR test string: non-accettazione per virus at the access point; between
//! providers, rilevazione virus to the sender's provider and mancata consegna per virus to
//! the sender. Infected messages are kept in quarantine.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// clamd in the foreground on a socket of its own, knowing only EICAR.
fn clamd(dir: &Path) -> (Proc, String) {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        db.join("certa-eicar.ndb"),
        format!("Eicar-Signature:0:*:{hex}\n"),
    )
    .unwrap();
    let sock = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nPidFile {}\nLogFile {}\n",
            sock.display(),
            db.display(),
            dir.join("clamd.pid").display(),
            dir.join("clamd.log").display()
        ),
    )
    .unwrap();
    let child = testkit::tool("clamd")
        .arg("-c")
        .arg(&conf)
        .spawn()
        .expect("clamd (Debian package clamav-daemon) is needed");
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "clamd did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    (proc, sock.display().to_string())
}

fn with_antivirus(node: &Node, sock: &str) {
    let path = node.data().join("certa.toml");
    let cfg = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[antivirus]\n", "");
    std::fs::write(&path, format!("{cfg}\n[antivirus]\nclamd = \"{sock}\"\n")).unwrap();
}

fn infected(from: &str, to: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(EICAR);
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: documento\r\nMessage-ID: <virus-1@mua>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"v\"\r\n\r\n--v\r\nContent-Type: text/plain\r\n\r\nIn allegato.\r\n--v\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Disposition: attachment; filename=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--v--\r\n"
    )
    .into_bytes()
}

#[test]
fn eicar_is_not_accepted_and_is_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let (_clamd, sock) = clamd(tmp.path());
    let mut a = Node::new("pec.alpha.test", None);
    with_antivirus(&a, &sock);
    let (s, r) = (a.mailbox("a"), a.mailbox("r"));
    a.start();
    let out = python_submit(
        a.submissions_port(),
        &a.ca(),
        &s,
        &s,
        &[&r],
        &infected(&s, &r),
    );
    assert!(
        out.starts_with("ERR") && out.contains("554") && out.contains("Virus"),
        "{out}"
    );
    let inbox = a.wait_folder(&s, "INBOX", "non-acceptance for virus", |m| {
        count(m, "non-accettazione-virus") == 1
    });
    let notice = &inbox[0].1;
    check_signed(notice, &a.ca(), Some("non-accettazione"));
    let text = String::from_utf8_lossy(notice);
    assert!(
        text.contains("X-VerificaSicurezza: errore")
            && text.contains("AVVISO DI NON ACCETTAZIONE PER VIRUS:")
    );
    assert_eq!(daticert(notice).errore, pec::ErrorCode::Virus);
    assert!(
        !text.contains("EICAR-STANDARD"),
        "the original is never included"
    );
    assert!(a.folder(&r, "INBOX").is_empty());
    let q = a.store().quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert!(q[0].virus.contains("Eicar"), "{q:?}");

    // A clean message still goes through.
    let clean = format!(
        "From: {s}\r\nTo: {r}\r\nSubject: pulito\r\nMessage-ID: <c1@mua>\r\n\r\nniente virus\r\n"
    );
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[&r],
            clean.as_bytes()
        ),
        "OK"
    );
    a.wait_folder(&r, "INBOX", "clean envelope", |m| {
        count(m, "busta-trasporto") == 1
    });
}

#[test]
fn virus_between_providers_gives_rilevazione_and_mancata_consegna_per_virus() {
    let tmp = tempfile::tempdir().unwrap();
    let (_clamd, sock) = clamd(tmp.path());
    // A has no antivirus (the case RFC 6109 §3.2.3 is for); B has one.
    let mut a = Node::new("pec.alpha.test", None);
    let mut b = Node::new("pec.beta.test", None);
    with_antivirus(&b, &sock);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    a.peer_with(&b);
    b.peer_with(&a);
    a.start();
    b.start();
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[&rb],
            &infected(&s, &rb)
        ),
        "OK"
    );
    let service = format!("posta-certificata@{}", a.domain);
    let svc = a.wait_folder(&service, "INBOX", "rilevazione virus", |m| {
        count(m, "rilevazione-virus") == 1
    });
    let rv = &svc
        .iter()
        .find(|m| m.0.as_deref() == Some("rilevazione-virus"))
        .unwrap()
        .1;
    check_signed(rv, &b.ca(), Some("rilevazione-virus"));
    assert!(String::from_utf8_lossy(rv).contains(&format!("X-Mittente: {s}")));
    let inbox = a.wait_folder(&s, "INBOX", "mancata consegna per virus", |m| {
        count(m, "mancata-consegna-virus") == 1
    });
    let nd = &inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("mancata-consegna-virus"))
        .unwrap()
        .1;
    check_signed(nd, &a.ca(), Some("errore-consegna"));
    assert!(String::from_utf8_lossy(nd).contains("X-VerificaSicurezza: errore"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.folder(&rb, "INBOX").is_empty(), "never delivered");
    assert_eq!(b.store().quarantined().unwrap().len(), 1);
}
