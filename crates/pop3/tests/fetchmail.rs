//! fetchmail (Debian package `fetchmail`) against the real server: STLS with certificate
//! checking against the test CA, UIDL-based `keep`, deletion, and implicit TLS.
//!
//! To rerun by hand against a running server: write the rcfile shown in `rcfile` (mode
//! 0600), then
//! `HOME=DIR FETCHMAILHOME=DIR fetchmail -v -f DIR/fetchmailrc --pidfile DIR/fetchmail.pid -k`.

mod common;

use common::{message, Options, Server, PASSWORD, USER};
use std::path::Path;

/// The rcfile. fetchmail checks the certificate's DNS names only, never an IP address:
/// `sslcommonname` names the one to expect. `uidl` keeps track of seen messages by their UIDL in `$HOME/.fetchids`.
fn rcfile(port: u16, implicit_tls: bool, ca: &Path, mbox: &Path) -> String {
    format!(
        "set no bouncemail\n\
         poll 127.0.0.1 service {port} protocol POP3 uidl\n\
         \x20   user \"{USER}\" there with password \"{PASSWORD}\"\n\
         \x20   {}sslproto TLS1.2+ sslcertck sslcertfile \"{}\" sslcommonname localhost\n\
         \x20   mda \"cat >> {}\"\n",
        if implicit_tls { "ssl " } else { "" },
        ca.display(),
        mbox.display()
    )
}

fn write_rc(home: &Path, rc: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = home.join("fetchmailrc");
    std::fs::write(&path, rc).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `fetchmail -v -f RC --pidfile HOME/fetchmail.pid ARGS`, with HOME (and so `.fetchids`) in `home`: exit code and output.
fn fetchmail(home: &Path, rc: &Path, args: &[&str]) -> (i32, String) {
    let out = testkit::tool("fetchmail")
        .arg("-v")
        .arg("-f")
        .arg(rc)
        // Run as root, fetchmail would share /var/run/fetchmail.pid with any other.
        .arg("--pidfile")
        .arg(home.join("fetchmail.pid"))
        .args(args)
        .env("HOME", home)
        .env("FETCHMAILHOME", home)
        .output()
        .expect("fetchmail is installed (Debian package fetchmail)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn count(mbox: &Path, needle: &str) -> usize {
    std::fs::read_to_string(mbox)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[test]
fn fetchmail_over_stls_keeps_by_uidl_then_deletes() {
    let s = Server::start(Options::default());
    let home = tempfile::tempdir().unwrap();
    let mbox = home.path().join("posta.mbox");
    let rc = write_rc(home.path(), &rcfile(s.port, false, &s.ca, &mbox));
    s.append(&message(1, "uno\r\n"));
    s.append(&message(
        2,
        "Riga uno\r\n.riga che inizia con un punto\r\n..due punti\r\n",
    ));
    s.append(&message(3, "tre\r\n"));

    // 1. --keep: all three fetched, none deleted.
    let (code, log) = fetchmail(home.path(), &rc, &["-k"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("STLS"), "{log}");
    assert_eq!(count(&mbox, "Subject: prova "), 3, "{log}");
    assert_eq!(s.inbox().len(), 3);
    let text = std::fs::read_to_string(&mbox).unwrap();
    assert!(
        text.contains("\nRiga uno\n.riga che inizia con un punto\n..due punti\n"),
        "{text}"
    );
    let ids = std::fs::read_to_string(home.path().join(".fetchids")).unwrap();
    let v = s.uidvalidity();
    for e in s.inbox() {
        assert!(ids.contains(&format!("{v}-{}", e.uid)), "{ids}");
    }

    // 2. --keep again: UIDL says everything was seen; nothing new (exit code 1).
    let (code, log) = fetchmail(home.path(), &rc, &["-k"]);
    assert_eq!(code, 1, "{log}");
    assert_eq!(count(&mbox, "Subject: prova "), 3, "{log}");

    // 3. A new message; without --keep only it is fetched, and deleted.
    s.append(&message(4, "quattro\r\n"));
    let (code, log) = fetchmail(home.path(), &rc, &[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(count(&mbox, "Subject: prova "), 4, "{log}");
    assert_eq!(count(&mbox, "Subject: prova 4"), 1, "{log}");
    assert_eq!(s.inbox().len(), 3);

    // 4. --all without --keep: the three old ones fetched again and deleted.
    let (code, log) = fetchmail(home.path(), &rc, &["-a"]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(count(&mbox, "Subject: prova "), 7, "{log}");
    assert!(s.inbox().is_empty(), "{log}");
}

#[test]
fn fetchmail_over_implicit_tls() {
    let s = Server::start(Options::default());
    let home = tempfile::tempdir().unwrap();
    let mbox = home.path().join("posta.mbox");
    let rc = write_rc(home.path(), &rcfile(s.tls_port, true, &s.ca, &mbox));
    for i in 1..=2 {
        s.append(&message(i, "su TLS implicito\r\n"));
    }
    let (code, log) = fetchmail(home.path(), &rc, &["-k"]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(count(&mbox, "su TLS implicito"), 2, "{log}");
    assert_eq!(s.inbox().len(), 2);
    let (code, log) = fetchmail(home.path(), &rc, &[]);
    assert_eq!(code, 1, "{log}");
    assert_eq!(s.inbox().len(), 2, "seen messages are left alone");
}
