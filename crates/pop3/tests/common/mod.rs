//! Test harness: a real provider (SQLite store in a temporary directory, a test CA, the PEC
//! signing certificate, a TLS certificate) and the POP3 server in-process on loopback, with
//! an STLS listener and an implicit-TLS listener. Clients are real: Python's poplib,
//! fetchmail, and a small blocking client over std sockets and OpenSSL for the raw wire.
#![allow(dead_code)]

use openssl::ssl::{SslConnector, SslMethod, SslStream};
use pop3::{serve_connection, MaildropLocks, Pop3Config};
use services::mailbox::MessageEntry;
use services::provider::Provider;
use services::testing::{self, TestProvider};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use services::testing::{HOSTNAME, PASSWORD, USER};

#[derive(Clone, Copy)]
pub struct Options {
    /// `[security] allow_plaintext_auth`.
    pub allow_plaintext_auth: bool,
    /// Failed logins before throttling.
    pub max_failures: usize,
    /// `[limits] command_deadline_secs`.
    pub command_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_plaintext_auth: false,
            max_failures: 10,
            command_deadline: Duration::from_secs(60),
        }
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub provider: Arc<Provider>,
    pub locks: Arc<MaildropLocks>,
    /// Plain POP3 with STLS.
    pub port: u16,
    /// Implicit TLS.
    pub tls_port: u16,
    pub ca: PathBuf,
    test: TestProvider,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start(opts: Options) -> Server {
        let test = TestProvider::new(testing::Options {
            allow_plaintext_auth: opts.allow_plaintext_auth,
            max_failures: opts.max_failures,
        });
        let provider = test.provider.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let locks = Arc::new(MaildropLocks::default());
        let mut ports = vec![];
        for implicit_tls in [false, true] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            ports.push(listener.local_addr().unwrap().port());
            let cfg = Arc::new(Pop3Config {
                tls: Some(test.tls.clone()),
                implicit_tls,
                hostname: HOSTNAME.to_string(),
                command_deadline: opts.command_deadline,
            });
            let (provider, locks) = (provider.clone(), locks.clone());
            runtime.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((tcp, peer)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(serve_connection(
                        provider.clone(),
                        tcp,
                        peer,
                        cfg.clone(),
                        locks.clone(),
                    ));
                }
            });
        }
        Server {
            dir: tempfile::tempdir().unwrap(),
            provider,
            locks,
            port: ports[0],
            tls_port: ports[1],
            ca: test.ca.clone(),
            test,
            runtime: Some(runtime),
        }
    }

    /// Delivers `data` to the INBOX; its UID.
    pub fn append(&self, data: &[u8]) -> i64 {
        self.test.append(USER, services::mailbox::INBOX, data)
    }

    pub fn inbox(&self) -> Vec<MessageEntry> {
        let id = self.mailbox_id();
        let folder = self
            .provider
            .store
            .folder(id, services::mailbox::INBOX)
            .unwrap()
            .unwrap();
        self.provider.store.messages(folder.id).unwrap()
    }

    pub fn uidvalidity(&self) -> i64 {
        self.provider
            .store
            .folder(self.mailbox_id(), services::mailbox::INBOX)
            .unwrap()
            .unwrap()
            .uidvalidity
    }

    pub fn mailbox_id(&self) -> services::mailbox::MailboxId {
        self.test.mailbox_id(USER)
    }

    /// Waits until no session holds the maildrop (the server noticed the client left).
    pub fn wait_unlocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.locks.is_locked(self.mailbox_id()) {
            assert!(Instant::now() < deadline, "maildrop still locked");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `script` with python3 after [`PY_PRELUDE`], which reads the arguments
    /// `port tls_port ca user password workdir`; returns stdout, failing on a non-zero exit.
    pub fn python(&self, script: &str) -> String {
        let out = testkit::tool("python3")
            .arg("-c")
            .arg(format!("{PY_PRELUDE}\n{script}"))
            .arg(self.port.to_string())
            .arg(self.tls_port.to_string())
            .arg(&self.ca)
            .arg(USER)
            .arg(PASSWORD)
            .arg(self.dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "python failed:\n{stdout}\n{stderr}");
        stdout
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Common Python code: arguments, a TLS context trusting the test CA, and helpers.
pub const PY_PRELUDE: &str = r#"
import base64, poplib, socket, ssl, sys
HOST = '127.0.0.1'
PORT, TLS_PORT, CA, USER, PASSWORD, WORK = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
CTX = ssl.create_default_context(cafile=CA)

def plain():
    return poplib.POP3(HOST, PORT, timeout=20)

def starttls():
    p = plain()
    p.stls(CTX)
    return p

def implicit():
    return poplib.POP3_SSL(HOST, TLS_PORT, context=CTX, timeout=20)

def login(p):
    p.user(USER)
    p.pass_(PASSWORD)
    return p

def err(f, *args):
    """The -ERR line that f(*args) must get."""
    try:
        r = f(*args)
    except poplib.error_proto as e:
        return e.args[0].decode() if isinstance(e.args[0], bytes) else str(e.args[0])
    raise SystemExit('expected -ERR, got %r' % (r,))

def plain_b64(authz, user, password):
    return base64.b64encode(('%s\0%s\0%s' % (authz, user, password)).encode()).decode()
"#;

/// A message with headers and `body`, CRLF line endings.
pub fn message(n: usize, body: &str) -> Vec<u8> {
    format!(
        "From: mittente@pec.example.test\r\nTo: {USER}\r\nSubject: prova {n}\r\n\
         Message-ID: <prova-{n}@pec.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// What a client reads for `data` in a multi-line answer: dot-stuffed, then `.` CRLF.
pub fn stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A blocking client for the raw wire.
pub struct Client {
    r: BufReader<Conn>,
    pub greeting: String,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Client {
            r: BufReader::new(Conn::Plain(tcp)),
            greeting: String::new(),
        };
        c.greeting = c.line().unwrap();
        c
    }

    pub fn send(&mut self, data: &[u8]) {
        let w = self.r.get_mut();
        w.write_all(data).unwrap();
        w.flush().unwrap();
    }

    /// One line without its CRLF; `None` at end of stream.
    pub fn line(&mut self) -> Option<String> {
        let mut buf = vec![];
        match self.r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(
                String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
        }
    }

    /// Sends `command` CRLF and reads the status line.
    pub fn cmd(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes());
        self.line().unwrap_or_default()
    }

    /// The raw body of a multi-line answer, terminator included.
    pub fn multi(&mut self) -> Vec<u8> {
        let mut out = vec![];
        loop {
            let mut buf = vec![];
            let n = self.r.read_until(b'\n', &mut buf).unwrap();
            assert!(n > 0, "end of stream inside a multi-line answer");
            out.extend_from_slice(&buf);
            if buf == b".\r\n" {
                return out;
            }
        }
    }

    /// Whether the server closed the connection (after any data still in flight).
    pub fn closed(&mut self) -> bool {
        let mut rest = vec![];
        self.r.read_to_end(&mut rest).is_ok()
    }

    /// STLS, then the TLS handshake checking the certificate for `localhost`.
    pub fn stls(mut self, ca: &Path) -> Client {
        self.send(b"STLS\r\n");
        self.tls_handshake(ca)
    }

    /// Reads the `+OK` to an STLS already sent, then does the TLS handshake.
    pub fn tls_handshake(mut self, ca: &Path) -> Client {
        let reply = self.line().unwrap_or_default();
        assert!(reply.starts_with("+OK"), "{reply}");
        let Conn::Plain(tcp) = self.r.into_inner() else {
            panic!("already TLS");
        };
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(ca).unwrap();
        let tls = b.build().connect("localhost", tcp).unwrap();
        Client {
            r: BufReader::new(Conn::Tls(Box::new(tls))),
            greeting: self.greeting,
        }
    }
}
