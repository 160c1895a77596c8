//! Just enough POP3 (RFC 1939, over implicit TLS as RFC 8314 says) to learn the old
//! provider's unique ids of the INBOX's messages (`UIDL`) with their sizes (`LIST`): a
//! program that downloads the box by UIDL then sees the copy as the same box. The server is
//! not trusted: lines are bounded, entries are counted, every wait has a timeout.

use crate::{Error, Timeouts};
use net::stream::Stream;
use openssl::ssl::SslConnector;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// RFC 1939 §4: a response line is at most 512 bytes; some servers go beyond.
const MAX_LINE: usize = 1024;
/// Messages in one maildrop accepted from a LIST or UIDL.
const MAX_ENTRIES: usize = 1_000_000;

/// A message of the maildrop: its number, size and unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Message {
    pub number: u32,
    pub size: u64,
    pub uidl: String,
}

/// One POP3S connection.
pub struct Pop3 {
    stream: BufReader<Stream>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Pop3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pop3")
    }
}

impl Pop3 {
    /// Implicit TLS, the server's certificate checked for `host`, then the `+OK` greeting.
    pub async fn connect(
        host: &str,
        port: u16,
        connector: &SslConnector,
        timeouts: Timeouts,
    ) -> Result<Pop3, Error> {
        let tcp =
            match tokio::time::timeout(timeouts.connect, TcpStream::connect((host, port))).await {
                Err(_) => {
                    return Err(Error::Connect(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no TCP connection to {host}:{port}"),
                    )))
                }
                Ok(Err(e)) => return Err(Error::Connect(e)),
                Ok(Ok(tcp)) => tcp,
            };
        let stream =
            match tokio::time::timeout(timeouts.connect, Stream::connect_tls(tcp, connector, host))
                .await
            {
                Err(_) => return Err(Error::Timeout("the TLS handshake")),
                Ok(Err(e)) => return Err(Error::Tls(e.to_string())),
                Ok(Ok(s)) => s,
            };
        let mut c = Pop3 {
            stream: BufReader::new(stream),
            timeouts,
        };
        c.status("the greeting").await.map_err(|e| match e {
            Error::Refused(t) => Error::Unavailable(t),
            e => e,
        })?;
        Ok(c)
    }

    /// RFC 1939 §7 USER and PASS; a refusal is `AuthenticationFailed`.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if [user, password]
            .iter()
            .any(|s| s.bytes().any(|b| b == b'\r' || b == b'\n'))
        {
            return Err(Error::AuthenticationFailed(
                "a line break in the credentials".into(),
            ));
        }
        let auth = |e| match e {
            Error::Refused(t) => Error::AuthenticationFailed(t),
            e => e,
        };
        self.send(&format!("USER {user}\r\n")).await?;
        self.status("USER").await.map_err(auth)?;
        self.send(&format!("PASS {password}\r\n")).await?;
        self.status("PASS").await.map_err(auth)?;
        Ok(())
    }

    /// `LIST` and `UIDL` together: every message with its size and unique id, by number.
    /// A number in one list and not the other, a UIDL outside RFC 1939 §7's 1–70 printable
    /// characters, or the same UIDL twice is the server's error (`Protocol`).
    pub async fn messages(&mut self) -> Result<Vec<Pop3Message>, Error> {
        self.send("LIST\r\n").await?;
        self.status("LIST").await?;
        let mut sizes = Vec::new();
        for line in self.multiline("LIST").await? {
            let mut words = line.split_ascii_whitespace();
            let (Some(n), Some(size)) = (words.next(), words.next()) else {
                return Err(Error::Protocol(format!("LIST line {line:?}")));
            };
            match (n.parse::<u32>(), size.parse::<u64>()) {
                (Ok(n), Ok(size)) => sizes.push((n, size)),
                _ => return Err(Error::Protocol(format!("LIST line {line:?}"))),
            }
        }
        self.send("UIDL\r\n").await?;
        self.status("UIDL").await?;
        let mut ids = std::collections::HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for line in self.multiline("UIDL").await? {
            let mut words = line.split_ascii_whitespace();
            let (Some(n), Some(uidl)) = (words.next(), words.next()) else {
                return Err(Error::Protocol(format!("UIDL line {line:?}")));
            };
            let valid =
                (1..=70).contains(&uidl.len()) && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b));
            let Ok(n) = n.parse::<u32>() else {
                return Err(Error::Protocol(format!("UIDL line {line:?}")));
            };
            if !valid || !seen.insert(uidl.to_string()) {
                return Err(Error::Protocol(format!(
                    "UIDL {uidl:?} invalid or repeated"
                )));
            }
            ids.insert(n, uidl.to_string());
        }
        let mut out = Vec::with_capacity(sizes.len());
        for (number, size) in sizes {
            let uidl = ids
                .remove(&number)
                .ok_or_else(|| Error::Protocol(format!("message {number} has no UIDL")))?;
            out.push(Pop3Message { number, size, uidl });
        }
        if !ids.is_empty() {
            return Err(Error::Protocol("UIDL names messages LIST does not".into()));
        }
        Ok(out)
    }

    /// QUIT, ignoring errors (nothing was deleted: the maildrop is left as it was).
    pub async fn quit(mut self) {
        if self.send("QUIT\r\n").await.is_ok() {
            let _ = self.line("QUIT").await;
        }
    }

    async fn send(&mut self, text: &str) -> Result<(), Error> {
        let io = async {
            let s = self.stream.get_mut();
            s.write_all(text.as_bytes()).await?;
            s.flush().await
        };
        match tokio::time::timeout(self.timeouts.idle, io).await {
            Err(_) => Err(Error::Timeout("sending a POP3 command")),
            Ok(r) => r.map_err(Error::Io),
        }
    }

    /// One line, without its line ending; bounded and timed.
    async fn line(&mut self, what: &'static str) -> Result<String, Error> {
        let mut buf = Vec::new();
        let read = async {
            (&mut self.stream)
                .take(MAX_LINE as u64 + 2)
                .read_until(b'\n', &mut buf)
                .await
        };
        let n = match tokio::time::timeout(self.timeouts.idle, read).await {
            Err(_) => return Err(Error::Timeout(what)),
            Ok(r) => r.map_err(Error::Io)?,
        };
        if n == 0 {
            return Err(Error::Closed);
        }
        if buf.last() != Some(&b'\n') {
            return Err(Error::TooLarge { limit: MAX_LINE });
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// A status line: `+OK` or the server's `-ERR` text as `Refused`.
    async fn status(&mut self, what: &'static str) -> Result<String, Error> {
        let line = self.line(what).await?;
        if let Some(rest) = line.strip_prefix("+OK") {
            Ok(rest.trim().to_string())
        } else if let Some(rest) = line.strip_prefix("-ERR") {
            Err(Error::Refused(rest.trim().to_string()))
        } else {
            Err(Error::Protocol(format!("{what}: {line:?}")))
        }
    }

    /// The lines of a multi-line response up to the lone `.` (RFC 1939 §3), unstuffed.
    async fn multiline(&mut self, what: &'static str) -> Result<Vec<String>, Error> {
        let mut lines = Vec::new();
        loop {
            let line = self.line(what).await?;
            if line == "." {
                return Ok(lines);
            }
            if lines.len() >= MAX_ENTRIES {
                return Err(Error::Protocol(format!(
                    "{what}: more than {MAX_ENTRIES} lines"
                )));
            }
            lines.push(line.strip_prefix('.').map(str::to_string).unwrap_or(line));
        }
    }
}
