//! The IMAP server in-process on loopback over a whole test provider
//! (`services::testing`), and a client that states a behaviour in a line:
//! `c.ok("UID STORE 1 +FLAGS (\\Seen)")` sends the command with a fresh tag and returns
//! its untagged responses once the tagged `OK` came; `c.transact("NO", …)` expects `NO`.
//! Plain TCP with `allow_plaintext_auth`, as imaptest runs; TLS is tested elsewhere.

use imap::{ImapConfig, LiteralBudget};
use services::testing::{self, TestProvider};
pub use services::testing::{PASSWORD, USER};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

pub struct Server {
    pub test: TestProvider,
    pub port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start() -> Server {
        let test = TestProvider::new(testing::Options {
            allow_plaintext_auth: true,
            ..Default::default()
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cfg = Arc::new(ImapConfig {
            tls: Some(test.tls.clone()),
            implicit_tls: false,
            hostname: testing::HOSTNAME.to_string(),
            max_message_bytes: 1 << 20,
            command_deadline: Duration::from_secs(30),
            literal_budget: LiteralBudget::new(16 << 20),
        });
        let provider = test.provider.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(imap::serve_connection(
                    provider.clone(),
                    tcp,
                    peer,
                    cfg.clone(),
                ));
            }
        });
        Server {
            test,
            port,
            runtime: Some(runtime),
        }
    }

    /// A connection that has read the greeting.
    pub fn connect(&self) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Client {
            r: BufReader::new(tcp),
            next_tag: 0,
            greeting: String::new(),
        };
        c.greeting = c.line().expect("a greeting");
        c
    }

    /// A connection logged in as [`USER`].
    pub fn login(&self) -> Client {
        let mut c = self.connect();
        c.ok(&format!("LOGIN {USER} \"{PASSWORD}\""));
        c
    }

    /// A connection logged in with `INBOX` selected.
    pub fn select(&self, folder: &str) -> Client {
        let mut c = self.login();
        c.ok(&format!("SELECT \"{folder}\""));
        c
    }

    /// Delivers a small message to `folder` of [`USER`]; its UID.
    pub fn deliver(&self, folder: &str, subject: &str) -> i64 {
        let data = format!(
            "From: mittente@pec.example.test\r\nTo: {USER}\r\nSubject: {subject}\r\n\
             Message-ID: <{subject}@pec.example.test>\r\n\r\nTesto di {subject}.\r\n"
        );
        self.test.append(USER, folder, data.as_bytes())
    }

    /// Stores `data` as it is in `folder`: its UID.
    pub fn deliver_raw(&self, folder: &str, data: &str) -> i64 {
        self.test.append(USER, folder, data.as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub struct Client {
    r: BufReader<TcpStream>,
    next_tag: u32,
    pub greeting: String,
}

/// A command's answer: its untagged lines (literals inlined) and the tagged line.
#[derive(Debug)]
pub struct Response {
    pub untagged: Vec<String>,
    pub tagged: String,
}

impl Response {
    /// The untagged lines that start with `prefix` (after `* `).
    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        self.untagged
            .iter()
            .filter_map(|l| l.strip_prefix("* "))
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// Whether some untagged line contains `text`.
    pub fn has(&self, text: &str) -> bool {
        self.untagged.iter().any(|l| l.contains(text))
    }
}

impl Client {
    pub fn send(&mut self, bytes: &[u8]) {
        let w = self.r.get_mut();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    /// One response line without CRLF, a literal in it read and inlined; `None` at end
    /// of stream.
    pub fn line(&mut self) -> Option<String> {
        let mut line = Vec::new();
        loop {
            let start = line.len();
            if self.r.read_until(b'\n', &mut line).ok()? == 0 {
                return None;
            }
            let text = String::from_utf8_lossy(&line[start..]).into_owned();
            let size = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match size {
                Some(n) => {
                    let mut literal = vec![0; n];
                    self.r.read_exact(&mut literal).ok()?;
                    line.extend_from_slice(&literal);
                }
                None => {
                    let s = String::from_utf8_lossy(&line);
                    return Some(s.trim_end_matches(['\r', '\n']).to_string());
                }
            }
        }
    }

    /// Sends `command` with a fresh tag and reads up to its tagged line, which must have
    /// `status` (OK, NO or BAD).
    pub fn transact(&mut self, status: &str, command: &str) -> Response {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        self.send(format!("{tag} {command}\r\n").as_bytes());
        let mut untagged = vec![];
        loop {
            let line = self
                .line()
                .unwrap_or_else(|| panic!("{command}: connection closed after {untagged:?}"));
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(
                    rest.starts_with(&format!("{status} ")) || rest == status,
                    "{command}: expected {status}, got {line:?} after {untagged:?}"
                );
                return Response {
                    untagged,
                    tagged: line,
                };
            }
            untagged.push(line);
        }
    }

    pub fn ok(&mut self, command: &str) -> Response {
        self.transact("OK", command)
    }

    pub fn no(&mut self, command: &str) -> Response {
        self.transact("NO", command)
    }

    pub fn bad(&mut self, command: &str) -> Response {
        self.transact("BAD", command)
    }
}
