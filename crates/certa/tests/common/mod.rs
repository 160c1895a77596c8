//! End-to-end harness: real `certa` processes on loopback, each made by `certa quickstart`,
//! driven with the CLI and Python's smtplib, inspected through the store and checked with
//! openssl and shared/tools/check-pec-message.
#![allow(dead_code)]

pub mod old_provider;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "Rosso#Tramonto7";

pub fn shared() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        for c in [dir.join("shared"), dir.join("../shared")] {
            if c.join("fixtures").is_dir() {
                return c;
            }
        }
        assert!(dir.pop(), "cannot find shared/");
    }
}

pub fn certa(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_certa"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub fn certa_ok(data: &Path, args: &[&str]) -> String {
    let (ok, out) = certa(data, args);
    assert!(ok, "certa {args:?}: {out}");
    out
}

/// Eight consecutive free ports, never overlapping the eight of another node of this test
/// process: the tests of one file run in parallel, and a node whose ports overlapped
/// another's would answer for it (its `start` would see the other's webmail port open).
pub fn free_port_base() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = l.local_addr().unwrap().port();
        drop(l);
        if base > 65000 {
            continue;
        }
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if handed_out.iter().any(|b| base.abs_diff(*b) < 8) {
            continue;
        }
        if (0..8).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            handed_out.push(base);
            return base;
        }
    }
}

pub struct Node {
    pub dir: tempfile::TempDir,
    pub domain: String,
    pub base: u16,
    /// What `quickstart` printed (its first mailbox and password among it).
    pub quickstart: String,
    child: Option<Child>,
}

impl Node {
    /// `certa quickstart` with shortened timers (`notice_12h`, `notice_24h` seconds).
    pub fn new(domain: &str, timers: Option<(i64, i64)>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let base = free_port_base();
        let name = format!("Certa {domain}");
        let quickstart = certa_ok(
            dir.path(),
            &[
                "quickstart",
                "--domain",
                domain,
                "--provider-name",
                &name,
                "--port-base",
                &base.to_string(),
            ],
        );
        let cfg_path = dir.path().join("certa.toml");
        let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
        cfg = cfg
            .replace("scan_secs = 60", "scan_secs = 1")
            .replace("retry_secs = 60", "retry_secs = 1");
        if let Some((t12, t24)) = timers {
            cfg = cfg
                .replace(
                    "notice_12h_secs = 43200",
                    &format!("notice_12h_secs = {t12}"),
                )
                .replace(
                    "notice_24h_secs = 86400",
                    &format!("notice_24h_secs = {t24}"),
                );
        }
        std::fs::write(&cfg_path, cfg).unwrap();
        Node {
            dir,
            domain: domain.to_string(),
            base,
            quickstart,
            child: None,
        }
    }

    /// Rewrites `certa.toml` (before `start`).
    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let path = self.data().join("certa.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, f(text)).unwrap();
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn smtp_port(&self) -> u16 {
        self.base
    }

    pub fn submissions_port(&self) -> u16 {
        self.base + 2
    }

    /// The quickstart mailbox and its first password (to be changed at the first login).
    pub fn first_login(&self) -> (String, String) {
        let field = |name: &str| {
            self.quickstart
                .lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or_default()
                .to_string()
        };
        (field("casella di prova:"), field("password:"))
    }

    pub fn web_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.base + 7)
    }

    pub fn ca(&self) -> PathBuf {
        self.data().join("pki/ca.pem")
    }

    pub fn mailbox(&self, local: &str) -> String {
        let address = format!("{local}@{}", self.domain);
        certa_ok(
            self.data(),
            &["mailbox", "add", &address, "--password", PASSWORD],
        );
        address
    }

    /// Imports `other`'s index entry and a static route to it.
    pub fn peer_with(&self, other: &Node) {
        let entry = self.data().join(format!("{}.ldif", other.domain));
        std::fs::write(&entry, certa_ok(other.data(), &["index", "export"])).unwrap();
        certa_ok(
            self.data(),
            &["index", "import", "--unsigned", entry.to_str().unwrap()],
        );
        let next_hop = format!("127.0.0.1:{}", other.smtp_port());
        certa_ok(
            self.data(),
            &[
                "route",
                "add",
                &other.domain,
                &next_hop,
                "--ca",
                other.ca().to_str().unwrap(),
            ],
        );
    }

    /// Starts `certa serve`; its log goes to [`Node::log_path`] (shown when a test fails).
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_certa"))
            .arg("--data")
            .arg(self.data())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // The webmail is the last listener bound.
        while std::net::TcpStream::connect(("127.0.0.1", self.base + 7)).is_err() {
            assert!(Instant::now() < deadline, "certa serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `certa serve` process's id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The running server's peak resident memory (`VmHWM`), in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        let pid = self.child.as_ref().expect("started").id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn store(&self) -> Box<dyn store::Store> {
        Box::new(store::SqliteStore::open(self.data()).unwrap())
    }

    /// The messages of a folder, as bytes with their kind.
    pub fn folder(&self, address: &str, folder: &str) -> Vec<(Option<String>, Vec<u8>)> {
        let s = self.store();
        s.folder_messages(address, folder)
            .unwrap()
            .into_iter()
            .map(|m| {
                (
                    m.pec_kind.map(|k| k.code().to_string()),
                    s.blob(&m.blob).unwrap(),
                )
            })
            .collect()
    }

    /// Waits until `cond` holds for the folder's messages.
    pub fn wait_folder(
        &self,
        address: &str,
        folder: &str,
        what: &str,
        cond: impl Fn(&[(Option<String>, Vec<u8>)]) -> bool,
    ) -> Vec<(Option<String>, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let msgs = self.folder(address, folder);
            if cond(&msgs) {
                return msgs;
            }
            if Instant::now() > deadline {
                let kinds: Vec<_> = msgs.iter().map(|m| m.0.clone()).collect();
                panic!("{address}/{folder}: {what} did not happen; has {kinds:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Node {
    /// Where `certa serve` logs, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.data().join("serve.log")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows the end of each server's log.
        if std::thread::panicking() {
            let log = std::fs::read(self.log_path()).unwrap_or_default();
            let log = String::from_utf8_lossy(&log);
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "--- last lines of {} ---\n{}",
                self.log_path().display(),
                tail.join("\n")
            );
        }
    }
}

pub fn count(msgs: &[(Option<String>, Vec<u8>)], kind: &str) -> usize {
    msgs.iter().filter(|m| m.0.as_deref() == Some(kind)).count()
}

/// Submits `message` over implicit TLS with Python's smtplib, trusting `ca`. Returns
/// smtplib's outcome: "OK" or the exception text.
pub fn python_submit(
    port: u16,
    ca: &Path,
    user: &str,
    from: &str,
    rcpts: &[&str],
    message: &[u8],
) -> String {
    python_submit_as(port, ca, (user, PASSWORD), from, rcpts, message)
}

/// [`python_submit`] with the login's own password.
pub fn python_submit_as(
    port: u16,
    ca: &Path,
    (user, password): (&str, &str),
    from: &str,
    rcpts: &[&str],
    message: &[u8],
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg.eml");
    std::fs::write(&msg, message).unwrap();
    let script = r#"
import smtplib, ssl, sys
port, ca, user, password, sender, msg = sys.argv[1:7]
rcpts = sys.argv[7:]
ctx = ssl.create_default_context(cafile=ca)
try:
    with smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=60) as s:
        s.login(user, password)
        s.sendmail(sender, rcpts, open(msg, "rb").read())
    print("OK")
except smtplib.SMTPException as e:
    print("ERR", e)
"#;
    let mut cmd = testkit::tool("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(ca)
        .arg(user)
        .arg(password)
        .arg(from)
        .arg(&msg);
    cmd.args(rcpts);
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// openssl smime -verify against `ca`, and the independent checker (xmllint on daticert).
pub fn check_signed(bytes: &[u8], ca: &Path, kind: Option<&str>) {
    testkit::require(&["xmllint"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.eml");
    std::fs::write(&f, bytes).unwrap();
    let out = testkit::tool("openssl")
        .args(["smime", "-verify", "-CAfile"])
        .arg(ca)
        .arg("-in")
        .arg(&f)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl smime -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = testkit::tool("python3");
    cmd.arg(shared().join("tools/check-pec-message"))
        .arg(&f)
        .arg("--ca")
        .arg(ca);
    if let Some(k) = kind {
        cmd.arg("--kind").arg(k);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "check-pec-message: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

pub fn daticert(bytes: &[u8]) -> pec::DatiCert {
    pec::classify(bytes)
        .unwrap()
        .daticert
        .expect("daticert.xml")
}

/// A helper process that is killed when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An ordinary mail server: Python's aiosmtpd, writing each message's bytes as received into
/// `dir` (its Mailbox handler re-serialises messages through the email package, which is not
/// what a mail server does to a signed message). Returns the process and its port.
pub fn ordinary_mail_server(dir: &Path) -> (Proc, u16) {
    let port = free_port_base();
    let script = r#"
import sys, time, os
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = len(os.listdir(out))
        with open(os.path.join(out, "%d.eml" % n), "wb") as f:
            f.write(envelope.original_content)
        return "250 OK"
Controller(Sink(), hostname="127.0.0.1", port=port).start()
while True:
    time.sleep(3600)
"#;
    testkit::require_python(&["aiosmtpd"]);
    let proc = Proc(
        testkit::tool("python3")
            .arg("-c")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (proc, port)
}

/// Waits for the first message an [`ordinary_mail_server`] wrote.
pub fn first_received(dir: &Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(Ok(f)) = std::fs::read_dir(dir).ok().and_then(|mut d| d.next()) {
            return std::fs::read(f.path()).unwrap();
        }
        assert!(Instant::now() < deadline, "the ordinary server got nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sends raw bytes to an MX with Python's smtplib over plain SMTP, as another provider or
/// an attacker would: "OK", or "ERR" with the server's refusal.
pub fn python_mx(port: u16, from: &str, to: &str, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.eml");
    std::fs::write(&f, data).unwrap();
    let script = r#"
import smtplib, sys
port, sender, rcpt, path = sys.argv[1:5]
try:
    with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
        s.sendmail(sender, [rcpt], open(path, "rb").read())
    print("OK")
except smtplib.SMTPException as e:
    print("ERR", e)
"#;
    let out = testkit::tool("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(from)
        .arg(to)
        .arg(&f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// A DNS server on UDP loopback (Python, hand-built answers, RFC 1035 §4.1) that knows
/// only `zone`: (name, "MX" or "A", value) records; any other name does not exist (NXDOMAIN).
/// Returns the process and its port, for `[dns] resolver`.
pub fn fake_dns(zone: &[(&str, &str, &str)]) -> (Proc, u16) {
    const SERVER: &str = r#"
import json, socket, struct, sys
# Each record: name, type (MX, A, TXT; "MX@300" gives its TTL, else 60), value ("10 host" or
# "host" for an MX). A name may have several.
port, zone = int(sys.argv[1]), {}
for n, t, v in json.loads(sys.argv[2]):
    t, _, ttl = t.partition("@")
    zone.setdefault(n.lower(), []).append((t, v, int(ttl or 60)))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
def encode(name):
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
TYPES = {"A": 1, "MX": 15, "TXT": 16}
while True:
    q, addr = s.recvfrom(512)
    pos, labels = 12, []
    while q[pos]:
        n = q[pos]; labels.append(q[pos + 1:pos + 1 + n].decode()); pos += 1 + n
    qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
    question = q[12:pos + 5]
    name = ".".join(labels).lower()
    recs, answers, count, rcode = zone.get(name), b"", 0, 0
    if recs is None:
        rcode = 3
    for t, v, ttl in recs or []:
        if TYPES.get(t) != qtype:
            continue
        if t == "MX":
            pref, _, host = v.partition(" ") if v.split(" ")[0].isdigit() else ("10", "", v)
            rdata = struct.pack(">H", int(pref)) + encode(host)
        elif t == "A":
            rdata = socket.inet_aton(v)
        else:
            b = v.encode()
            rdata = b"".join(bytes([len(b[i:i + 255])]) + b[i:i + 255] for i in range(0, len(b), 255))
        answers += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, ttl, len(rdata)) + rdata
        count += 1
    s.sendto(q[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, count, 0, 0) + question + answers, addr)
"#;
    let records: Vec<[&str; 3]> = zone.iter().map(|&(n, t, v)| [n, t, v]).collect();
    let port = free_port_base();
    let proc = Proc(
        testkit::tool("python3")
            .args([
                "-c",
                SERVER,
                &port.to_string(),
                &serde_json::to_string(&records).unwrap(),
            ])
            .spawn()
            .unwrap(),
    );
    (proc, port)
}

/// Runs the Python client `tests/clients/NAME` with its parameters (JSON) and arguments; the
/// test fails with the client's output unless it exits 0. Its standard output, trimmed.
pub fn run_client(name: &str, params: &serde_json::Value, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name);
    let out = testkit::tool("python3")
        .arg(script)
        .arg(params.to_string())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_string()
}

/// [`run_client`] for a script that walks a whole flow (often in Chromium) and ends by
/// printing `OK` on a line of its own.
pub fn run_flow(name: &str, params: &serde_json::Value) {
    let out = run_client(name, params, &[]);
    assert!(
        out.lines().any(|l| l == "OK"),
        "{name} did not finish:\n{out}"
    );
}

/// An ordinary mail server (aiosmtpd) that `example.org` is routed to from `node`: what the
/// provider relays to ordinary addresses there lands in `dir`, one file per message.
pub struct Sink {
    pub dir: tempfile::TempDir,
    _server: Proc,
}

pub fn example_org_sink(node: &Node) -> Sink {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = ordinary_mail_server(dir.path());
    certa_ok(
        node.data(),
        &["route", "add", "example.org", &format!("127.0.0.1:{port}")],
    );
    Sink {
        dir,
        _server: server,
    }
}
