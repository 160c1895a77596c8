//! The old provider of the copy tests (issue 15): Debian's Dovecot over IMAPS with a CA of
//! its own (`tests/clients/old_provider.py` writes its configuration, seeds it and reads it
//! back with Python's imaplib), and the box `vecchio@pec.vecchio.test` in it.

use super::shared;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/old_provider.py");
pub const OLD_USER: &str = "vecchio@pec.vecchio.test";
/// A `$` on purpose: the seed's users had such characters in their old passwords.
pub const OLD_PASSWORD: &str = "Vecchia$Pass1";

/// The old password of box `i` (from 1) of a domain started with `start_with_users`.
pub fn box_password(i: usize) -> String {
    format!("Vecchia$Pass{i:02}")
}

/// Dovecot as the old provider, stopped when the test ends.
pub struct OldProvider {
    dir: tempfile::TempDir,
    /// Its IMAPS and POP3S ports on 127.0.0.1.
    pub port: u16,
    pub pop3: u16,
    child: Child,
}

impl OldProvider {
    pub fn start() -> OldProvider {
        Self::start_with(&[])
    }

    /// With the boxes of a whole domain besides the usual one: `casella01@DOMAIN` …
    /// `casellaNN@DOMAIN`, passwords [`box_password`].
    pub fn start_with_users(domain: &str, n: usize) -> OldProvider {
        Self::start_with(&[domain, &n.to_string()])
    }

    fn start_with(users: &[&str]) -> OldProvider {
        testkit::require(&["dovecot", "openssl", "python3"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["setup", path(dir.path())];
        args.extend_from_slice(users);
        let out = tool(&args);
        let setup: Value = serde_json::from_str(&out).expect("setup JSON");
        let port = setup["imaps"].as_u64().expect("port") as u16;
        let pop3 = setup["pop3s"].as_u64().expect("pop3 port") as u16;
        let child = dovecot(dir.path(), port);
        OldProvider {
            dir,
            port,
            pop3,
            child,
        }
    }

    /// Stops Dovecot, drops its index and UID list (the folder's UIDVALIDITY changes, as
    /// after a server move at the old provider) and starts it again.
    pub fn restart_with_new_uidvalidity(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let maildir = self.dir.path().join("mail").join(OLD_USER);
        for e in std::fs::read_dir(&maildir).expect("maildir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("dovecot") {
                std::fs::remove_file(e.path()).expect("remove index");
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        self.child = dovecot(self.dir.path(), self.port);
    }

    pub fn dir(&self) -> &str {
        path(self.dir.path())
    }

    /// The CA its certificate chains to.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Real PEC files and generated mail into the old INBOX.
    pub fn seed(&self) {
        let pec = shared().join("fixtures/pec-real");
        tool(&["seed", self.dir(), path(&pec)]);
    }

    /// `per_box` messages into the INBOX of each of the domain's `n` boxes.
    pub fn fill(&self, domain: &str, n: usize, per_box: usize) {
        tool(&[
            "fill",
            self.dir(),
            domain,
            &n.to_string(),
            &per_box.to_string(),
        ]);
    }

    /// The old INBOX.
    pub fn dump(&self) -> Dump {
        dump(self.port, OLD_USER, OLD_PASSWORD, &self.ca(), "INBOX")
    }
}

impl Drop for OldProvider {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// `dovecot -F` with the configuration in `dir`, once it answers on `port`.
fn dovecot(dir: &Path, port: u16) -> Child {
    let child = Command::new("dovecot")
        .args(["-F", "-c"])
        .arg(dir.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "dovecot did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `old_provider.py ARGS…`: its output, the script having succeeded.
pub fn tool(args: &[&str]) -> String {
    let out = testkit::tool("python3")
        .arg(TOOL)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "old_provider.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A folder as imaplib reads it: UIDVALIDITY and (uid, sha256, flags, date) per message.
#[derive(Debug)]
pub struct Dump {
    pub uidvalidity: u64,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub uid: u64,
    pub sha256: String,
    pub flags: Vec<String>,
    pub date: i64,
}

/// A folder of an IMAPS server on loopback, read with imaplib trusting `ca`.
pub fn dump(port: u16, user: &str, password: &str, ca: &Path, folder: &str) -> Dump {
    let out = tool(&[
        "dump",
        "127.0.0.1",
        &port.to_string(),
        user,
        password,
        path(ca),
        folder,
    ]);
    let v: Value = serde_json::from_str(&out).expect("dump JSON");
    let messages = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| Message {
            uid: m["uid"].as_u64().expect("uid"),
            sha256: m["sha256"].as_str().expect("sha256").to_string(),
            flags: m["flags"]
                .as_array()
                .expect("flags")
                .iter()
                .map(|f| f.as_str().expect("flag").to_string())
                .collect(),
            date: m["date"].as_i64().expect("date"),
        })
        .collect();
    Dump {
        uidvalidity: v["uidvalidity"].as_u64().expect("uidvalidity"),
        messages,
    }
}
