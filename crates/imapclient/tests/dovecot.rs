//! The client against a real IMAPS server: Debian's Dovecot, private to the test (its own
//! base_dir, passwd-file, maildir and a certificate from a test CA), seeded by APPEND with
//! messages that are hard to copy exactly. Dovecot must be installed (packages
//! `dovecot-core` and `dovecot-imapd`): without it the test fails, it does not skip.

mod common;

use common::{free_port, make_pki, trusting, untrusting, Pki};
use imapclient::{Client, Error, Limits, Timeouts};
use net::stream::Stream;
use openssl::ssl::SslConnector;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVECOT_IMAP: &str = "/usr/lib/dovecot/imap";
const USER: &str = "utente";
/// With a `$` on purpose: it must reach the server as it is.
const PASSWORD: &str = "secret$1";

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A private Dovecot serving IMAPS on a free loopback port; stopped when dropped.
struct Dovecot {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    fn start(dir: tempfile::TempDir, pki: &Pki) -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists() && Path::new(DOVECOT_IMAP).exists(),
            "this test needs Dovecot's IMAP server ({DOVECOT} and {DOVECOT_IMAP}): install the \
             Debian packages dovecot-core and dovecot-imapd"
        );
        let root = dir.path();
        let port = free_port();
        let mail = root.join("mail");
        std::fs::create_dir(&mail).unwrap();
        std::fs::write(root.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        // Dovecot runs no mail process as root: as root, the mail belongs to its own user
        // (as bench/imap_vs_dovecot.py does); otherwise everything runs as the caller.
        let (internal_user, login_user, mail_user) = if output("id", &["-u"]) == "0" {
            output("chown", &["-R", "dovecot:dovecot", &mail.to_string_lossy()]);
            (
                "dovecot".to_string(),
                "dovenull".to_string(),
                "dovecot".to_string(),
            )
        } else {
            let me = output("id", &["-un"]);
            (me.clone(), me.clone(), me)
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root_text = root.to_string_lossy();
        let conf = format!(
            "base_dir = {root_text}/run
state_dir = {root_text}/state
log_path = {root_text}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_location = maildir:{root_text}/mail/%u
first_valid_uid = 1
default_internal_user = {internal_user}
default_login_user = {login_user}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
passdb {{
  driver = passwd-file
  args = {root_text}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root_text}/mail/%u
}}
",
            cert = pki.cert_path.display(),
            key = pki.key_path.display(),
        );
        let conf_path = root.join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = root.join("dovecot.log");
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut dovecot = Dovecot {
            child,
            port,
            log,
            _dir: dir,
        };
        dovecot.wait_listening();
        dovecot
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Dovecot exited ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "Dovecot is not listening on {}: {}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its children; SIGKILL if it takes too long.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message to APPEND: its bytes, flags and internal date.
struct Seed {
    body: Vec<u8>,
    flags: &'static [&'static str],
    date: &'static str,
    /// `date` as Unix seconds (`date -u -d … +%s`).
    instant: i64,
}

fn seeds() -> Vec<Seed> {
    let plain = |n: usize| {
        format!(
            "From: mittente{n}@pec.example.it\r\nTo: utente@pec.example.it\r\nSubject: \
             Messaggio {n}\r\nMessage-ID: <{n}@pec.example.it>\r\n\r\nTesto del messaggio {n}.\r\n"
        )
        .into_bytes()
    };
    let mut eight_bit = b"From: a@b.it\r\nSubject: caff\xe8 non MIME\r\n\r\n".to_vec();
    eight_bit.extend_from_slice("Perché così? À presto, è già l'ora.\r\n".as_bytes());
    eight_bit.extend((0x80u8..=0xff).chain(b"\r\n".iter().copied()));
    let bare_lf = b"From: a@b.it\nSubject: righe LF\n\nuna\ndue\r\ntre\n".to_vec();
    let mut big =
        b"From: a@b.it\r\nSubject: grande\r\nContent-Type: application/octet-stream\r\n\r\n"
            .to_vec();
    let mut line = 0u32;
    while big.len() < 3 << 20 {
        line += 1;
        big.extend_from_slice(format!("{line:08} ").as_bytes());
        big.extend(std::iter::repeat_n(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[line as usize % 36],
            67,
        ));
        big.extend_from_slice(b"\r\n");
    }
    // Bytes that look like IMAP inside a literal, and a line far longer than max_line.
    let mut imap_like =
        b"From: a@b.it\r\nSubject: trappola\r\n\r\n)\r\n* 1 FETCH (UID 99 BODY[] {5}\r\n\
                          A3 OK done\r\n* BYE\r\n"
            .to_vec();
    imap_like.extend(std::iter::repeat_n(b'x', 100_000));
    imap_like.extend_from_slice(b"\r\n");
    let headers_only = b"From: a@b.it\r\nSubject: solo intestazioni\r\n\r\n".to_vec();

    let mut seeds = vec![
        Seed {
            body: plain(1),
            flags: &["\\Seen"],
            date: "17-Jul-2014 02:44:25 -0700",
            instant: 1_405_590_265,
        },
        Seed {
            body: eight_bit,
            flags: &["\\Seen", "\\Flagged", "$Label1"],
            date: "01-Jan-2015 00:00:00 +0100",
            instant: 1_420_066_800,
        },
        Seed {
            body: bare_lf,
            flags: &[],
            date: " 7-Mar-2016 08:05:03 +0530",
            instant: 1_457_318_103,
        },
        Seed {
            body: big,
            flags: &["\\Flagged"],
            date: "29-Feb-2016 23:59:59 +0000",
            instant: 1_456_790_399,
        },
        Seed {
            body: imap_like,
            flags: &["$Label1"],
            date: "31-Dec-2019 23:30:00 -0500",
            instant: 1_577_853_000,
        },
        Seed {
            body: headers_only,
            flags: &["\\Answered", "\\Draft"],
            date: "15-Jun-2020 12:00:00 +0200",
            instant: 1_592_215_200,
        },
    ];
    let dates: [(&str, i64); 4] = [
        ("10-Oct-2017 10:10:10 +0200", 1_507_623_010),
        ("05-May-2018 05:05:05 +0000", 1_525_496_705),
        ("20-Nov-2019 20:20:20 -0300", 1_574_292_020),
        ("03-Feb-2020 03:04:05 +0100", 1_580_695_445),
    ];
    let flag_sets: [&'static [&'static str]; 4] = [
        &[],
        &["\\Seen"],
        &["\\Seen", "\\Flagged", "$Label1"],
        &["\\Answered"],
    ];
    for n in 7..=20 {
        let (date, instant) = dates[n % 4];
        seeds.push(Seed {
            body: plain(n),
            flags: flag_sets[n % 4],
            date,
            instant,
        });
    }
    seeds
}

/// Reads response lines until the one tagged `tag`, which it returns.
async fn until_tagged(conn: &mut BufReader<Stream>, tag: &str) -> String {
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).await.unwrap() > 0,
            "EOF before {tag}"
        );
        if line.starts_with(&format!("{tag} ")) {
            return line;
        }
    }
}

/// Seeds the box with a minimal client of its own (LITERAL+ APPEND, RFC 7888): the UID each
/// message got (APPENDUID, RFC 4315), in order.
async fn append_all(port: u16, connector: &SslConnector, seeds: &[Seed]) -> Vec<u32> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let stream = Stream::connect_tls(tcp, connector, "127.0.0.1")
        .await
        .unwrap();
    let mut conn = BufReader::new(stream);
    let mut greeting = String::new();
    conn.read_line(&mut greeting).await.unwrap();
    assert!(greeting.contains("LITERAL+"), "{greeting}");
    conn.get_mut()
        .write_all(format!("s1 LOGIN {USER} \"{PASSWORD}\"\r\n").as_bytes())
        .await
        .unwrap();
    assert!(until_tagged(&mut conn, "s1").await.starts_with("s1 OK"));
    // A folder with a modified UTF-7 name ("Perché"), holding one message.
    conn.get_mut()
        .write_all(b"s2 CREATE \"Perch&AOk-\"\r\n")
        .await
        .unwrap();
    assert!(until_tagged(&mut conn, "s2").await.starts_with("s2 OK"));
    let mut uids = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let tag = format!("a{i}");
        let mut command = format!(
            "{tag} APPEND INBOX ({}) \"{}\" {{{}+}}\r\n",
            seed.flags.join(" "),
            seed.date,
            seed.body.len()
        )
        .into_bytes();
        command.extend_from_slice(&seed.body);
        command.extend_from_slice(b"\r\n");
        conn.get_mut().write_all(&command).await.unwrap();
        let done = until_tagged(&mut conn, &tag).await;
        // "a0 OK [APPENDUID 1700000000 1] Append completed."
        let uid = done
            .split("APPENDUID ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ']']).nth(1))
            .and_then(|uid| uid.parse().ok())
            .unwrap_or_else(|| panic!("{done}"));
        uids.push(uid);
    }
    conn.get_mut()
        .write_all(b"s3 APPEND \"Perch&AOk-\" {9+}\r\nSubject:\r\n\r\n")
        .await
        .unwrap();
    assert!(until_tagged(&mut conn, "s3").await.starts_with("s3 OK"));
    conn.get_mut().write_all(b"s4 LOGOUT\r\n").await.unwrap();
    uids
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(10),
        idle: Duration::from_secs(30),
    }
}

/// Dovecot sends every message with CRLF line ends (RFC 5322): a bare LF is given its CR.
fn with_crlf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn sorted(flags: &[String]) -> Vec<String> {
    let mut flags = flags.to_vec();
    flags.sort();
    flags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_every_message_byte_identical_from_dovecot() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let dovecot = Dovecot::start(dir, &pki);
    let port = dovecot.port;
    let connector = trusting(&pki);
    let seeds = seeds();
    let uids = append_all(port, &connector, &seeds).await;
    assert_eq!(uids.len(), 20);

    let mut client = Client::connect("127.0.0.1", port, &connector, timeouts(), Limits::default())
        .await
        .unwrap();
    assert!(client.capabilities().iter().any(|c| c == "IMAP4REV1"));

    // The wrong password, then the right one on the same connection.
    match client.login(USER, "secret$2").await {
        Err(Error::AuthenticationFailed(text)) => {
            assert!(text.contains("AUTHENTICATIONFAILED"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    client.login(USER, PASSWORD).await.unwrap();
    assert!(client.capabilities().iter().any(|c| c == "ESEARCH"));

    let folders = client.list().await.unwrap();
    let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap();
    assert_eq!(inbox.name_raw, b"INBOX");
    assert!(inbox.delimiter.is_some());
    let perche = folders.iter().find(|f| f.name == "Perché").unwrap();
    assert_eq!(perche.name_raw, b"Perch&AOk-");

    // A folder that does not exist is refused, and the connection goes on.
    assert!(matches!(
        client.examine(b"Inesistente").await,
        Err(Error::Refused(_))
    ));
    let other = client.examine(&perche.name_raw).await.unwrap();
    assert_eq!(other.exists, 1);

    let status = client.examine(b"INBOX").await.unwrap();
    assert!(status.uidvalidity > 0);
    assert_ne!(status.uidvalidity, other.uidvalidity);
    assert_eq!(status.exists, 20);
    assert_eq!(status.uidnext, Some(uids[19] + 1));

    let found = client.uid_search_all().await.unwrap();
    assert_eq!(found, uids);

    let sizes: BTreeMap<u32, u64> = client
        .uid_fetch_sizes(&found)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(sizes.keys().copied().collect::<Vec<_>>(), uids);

    // All of them, plus a UID that does not exist (absent from the answer).
    let mut asked = found.clone();
    asked.push(uids[19] + 100);
    let messages = client.uid_fetch_messages(&asked).await.unwrap();
    assert_eq!(messages.len(), 20);
    for (seed, uid) in seeds.iter().zip(&uids) {
        let message = messages.iter().find(|m| m.uid == *uid).unwrap();
        assert!(
            message.body == with_crlf(&seed.body),
            "UID {uid}: {} bytes fetched, {} appended",
            message.body.len(),
            seed.body.len()
        );
        assert_eq!(sizes[uid], message.body.len() as u64, "UID {uid}");
        let want: Vec<String> = seed.flags.iter().map(|f| f.to_string()).collect();
        assert_eq!(sorted(&message.flags), sorted(&want), "UID {uid}");
        assert_eq!(message.internal_date, seed.instant, "UID {uid}");
    }
    // Byte-identical as appended, except the one message with bare LFs.
    let identical = seeds
        .iter()
        .zip(&uids)
        .filter(|(seed, uid)| {
            messages
                .iter()
                .any(|m| m.uid == **uid && m.body == seed.body)
        })
        .count();
    assert_eq!(identical, 19);
    client.logout().await;

    // The fetch set no \Seen at the source: a new session sees the same flags.
    let mut again = Client::connect("127.0.0.1", port, &connector, timeouts(), Limits::default())
        .await
        .unwrap();
    again.login(USER, PASSWORD).await.unwrap();
    again.examine(b"INBOX").await.unwrap();
    let unseen: Vec<u32> = seeds
        .iter()
        .zip(&uids)
        .filter(|(seed, _)| !seed.flags.contains(&"\\Seen"))
        .map(|(_, uid)| *uid)
        .collect();
    assert!(unseen.len() >= 5);
    for message in again.uid_fetch_messages(&unseen).await.unwrap() {
        assert!(
            !message.flags.iter().any(|f| f == "\\Seen"),
            "UID {} is \\Seen now: {:?}",
            message.uid,
            message.flags
        );
    }
    again.logout().await;

    // By name too (the certificate's DNS name), with a literal limit the big message is over.
    let small = Limits {
        max_literal: 1 << 20,
        max_line: 64 << 10,
    };
    let mut limited = Client::connect("localhost", port, &connector, timeouts(), small)
        .await
        .unwrap();
    limited.login(USER, PASSWORD).await.unwrap();
    limited.examine(b"INBOX").await.unwrap();
    assert!(matches!(
        limited.uid_fetch_messages(&[uids[3]]).await,
        Err(Error::TooLarge { limit }) if limit == 1 << 20
    ));
    limited.logout().await;

    // A connector that does not trust the test CA.
    let got = Client::connect(
        "127.0.0.1",
        port,
        &untrusting(),
        timeouts(),
        Limits::default(),
    )
    .await;
    match got {
        Err(Error::Tls(text)) => assert!(text.contains("certificate verify failed"), "{text}"),
        other => panic!("{other:?}"),
    }
    drop(dovecot);
}
