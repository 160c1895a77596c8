//! IMAP for Certa mailboxes: IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) with LITERAL+,
//! IDLE, UIDPLUS, MOVE, SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, NAMESPACE, ID, ENABLE,
//! QUOTA, CONDSTORE/QRESYNC, ESEARCH, SORT, THREAD (REFERENCES, ORDEREDSUBJECT), UNSELECT, CHILDREN, BINARY.
//!
//! Layers: [`wire`] and [`command`] parse (pure, fuzzed); the session modules give each
//! command its meaning over the [`store::Store`]; [`serve_connection`] does the I/O: lines
//! and literals with limits, STARTTLS, AUTHENTICATE continuations and IDLE.

pub mod command;
mod date;
mod fetch;
mod mailboxes;
mod messages;
mod search;
mod session;
pub mod thread;
mod uidmap;
mod utf7;
pub mod wire;

use command::Command;
use session::{Outcome, Session};
use smtp::stream::Stream;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct ImapConfig {
    /// TLS for STARTTLS (on `imap`) or implicit TLS (on `imaps`).
    pub tls: Option<Arc<openssl::ssl::SslAcceptor>>,
    pub implicit_tls: bool,
    pub hostname: String,
    /// The largest APPEND accepted.
    pub max_message_bytes: usize,
}

/// A command line (without its literals) is at most this long.
const MAX_LINE: usize = 64 * 1024;
/// Literals of commands other than APPEND are at most this long.
const MAX_SMALL_LITERAL: usize = 64 * 1024;
/// RFC 9051 §5.4: the autologout timer is at least 30 minutes.
const AUTOLOGOUT: Duration = Duration::from_secs(30 * 60);
/// At most this many pipelined APPENDs share one commit.
const APPEND_BATCH: usize = 100;
/// IDLE re-reads the folder at least this often, for changes made by other processes.
const IDLE_POLL: Duration = Duration::from_secs(20);

enum Read {
    Command(Vec<u8>),
    /// Answered already (a literal too big); read the next one.
    Skipped,
    Closed,
}

type Conn = BufReader<Stream>;

/// `{n}`, `{n+}` or `~{n}` at the end of a line: (n, non-synchronising).
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let l = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let inner = &l[open + 1..];
    let (digits, plus) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus))
}

async fn write(conn: &mut Conn, data: &[u8]) -> std::io::Result<()> {
    let s = conn.get_mut();
    s.write_all(data).await?;
    s.flush().await
}

/// Reads one command with its literals (RFC 9051 §4.3), answering `+` for synchronising
/// literals and refusing those over the limits.
async fn read_command(conn: &mut Conn, max_append: usize) -> std::io::Result<Read> {
    let mut buf = Vec::new();
    let mut line_start = 0;
    loop {
        if !smtp::stream::read_line_limited(conn, &mut buf, line_start + MAX_LINE).await? {
            return Ok(Read::Closed);
        }
        let line = &buf[line_start..];
        let Some((n, plus)) = literal_at_end(line) else {
            return Ok(Read::Command(buf));
        };
        let is_append = {
            let head = String::from_utf8_lossy(&buf[..buf.len().min(200)]).to_ascii_uppercase();
            head.split(' ').nth(1) == Some("APPEND")
        };
        let limit = if is_append {
            max_append
        } else {
            MAX_SMALL_LITERAL
        };
        if n > limit || buf.len() + n > max_append + MAX_LINE {
            let tag = command::tag_of(&buf).unwrap_or_else(|| "*".into());
            if plus {
                // The client sends the data anyway; we will not read it (RFC 7888 §4).
                write(conn, b"* BYE literal troppo grande\r\n").await?;
                return Ok(Read::Closed);
            }
            write(
                conn,
                format!("{tag} NO [TOOBIG] dati troppo grandi ({n} byte)\r\n").as_bytes(),
            )
            .await?;
            return Ok(Read::Skipped);
        }
        if !plus {
            write(conn, b"+ pronto\r\n").await?;
        }
        let start = buf.len();
        buf.resize(start + n, 0);
        conn.read_exact(&mut buf[start..]).await?;
        line_start = buf.len();
    }
}

/// Serves one client connection until LOGOUT, end of stream or autologout.
pub async fn serve_connection(
    p: Arc<services::provider::Provider>,
    tcp: TcpStream,
    peer: SocketAddr,
    cfg: Arc<ImapConfig>,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match (&cfg.tls, cfg.implicit_tls) {
        (Some(acceptor), true) => match Stream::accept_tls(tcp, acceptor).await {
            Ok(s) => s,
            Err(_) => return,
        },
        _ => Stream::Plain(tcp),
    };
    let tls = stream.is_tls();
    let mut conn = BufReader::with_capacity(4096, stream);
    let mut session = Session::new(p, cfg.clone(), peer, tls);
    let greeting = format!(
        "* OK [CAPABILITY {}] {} Certa IMAP pronto\r\n",
        session.capabilities(),
        cfg.hostname
    );
    if write(&mut conn, greeting.as_bytes()).await.is_err() {
        return;
    }
    let _ = run(conn, &mut session, &cfg).await;
}

async fn run(mut conn: Conn, session: &mut Session, cfg: &Arc<ImapConfig>) -> std::io::Result<()> {
    let mut bad_commands = 0;
    let mut pending: Option<Vec<u8>> = None;
    loop {
        let read = match pending.take() {
            Some(b) => Ok(Ok(Read::Command(b))),
            None => {
                tokio::time::timeout(AUTOLOGOUT, read_command(&mut conn, cfg.max_message_bytes))
                    .await
            }
        };
        let read = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                write(&mut conn, b"* BYE riga di comando troppo lunga\r\n").await?;
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                write(&mut conn, b"* BYE inattivo da troppo tempo\r\n").await?;
                return Ok(());
            }
        };
        let buf = match read {
            Read::Command(b) => b,
            Read::Skipped => continue,
            Read::Closed => return Ok(()),
        };
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let tagged = match command::parse(&buf) {
            Ok(t) => t,
            Err((tag, e)) => {
                bad_commands += 1;
                let tag = tag.unwrap_or_else(|| "*".into());
                write(&mut conn, format!("{tag} BAD {e}\r\n").as_bytes()).await?;
                if bad_commands >= 20 {
                    write(&mut conn, b"* BYE troppi comandi non validi\r\n").await?;
                    return Ok(());
                }
                continue;
            }
        };
        let outcome = match tagged.command {
            Command::Append(a) if !conn.buffer().is_empty() && session.mailbox.is_some() => {
                let batch =
                    pipelined_appends(&mut conn, (tagged.tag, a), cfg, &mut pending).await?;
                session.append_all(batch).await;
                Outcome::Continue
            }
            command => {
                session
                    .handle(command::Tagged {
                        tag: tagged.tag,
                        command,
                    })
                    .await
            }
        };
        let out = std::mem::take(&mut session.out);
        write(&mut conn, &out).await?;
        match outcome {
            Outcome::Continue => {}
            Outcome::Logout => return Ok(()),
            Outcome::StartTls => {
                let Some(acceptor) = cfg.tls.clone() else {
                    return Ok(());
                };
                // Bytes pipelined after STARTTLS are dropped (RFC 9051 §6.2.1).
                let Some(tcp) = conn.into_inner().into_tcp() else {
                    return Ok(());
                };
                let tls = Stream::accept_tls(tcp, &acceptor).await?;
                conn = BufReader::with_capacity(4096, tls);
                session.tls = true;
            }
            Outcome::NeedAuthData(tag) => {
                write(&mut conn, b"+ \r\n").await?;
                let mut line = Vec::new();
                if !smtp::stream::read_line_limited(&mut conn, &mut line, MAX_LINE).await? {
                    return Ok(());
                }
                let r = session.authenticate_plain(&line).await;
                let reply = match r {
                    Ok(text) => format!("{tag} OK {text}\r\n"),
                    Err(session::Refusal(status, text)) => format!("{tag} {status} {text}\r\n"),
                };
                write(&mut conn, reply.as_bytes()).await?;
            }
            Outcome::Idle(tag) => idle(&mut conn, session, &tag).await?,
        }
    }
}

/// The APPENDs a client pipelined after `first` (already in our buffer): they are committed
/// together. The first other command read is left in `pending`.
async fn pipelined_appends(
    conn: &mut Conn,
    first: (String, command::AppendCommand),
    cfg: &ImapConfig,
    pending: &mut Option<Vec<u8>>,
) -> std::io::Result<Vec<(String, command::AppendCommand)>> {
    let mut batch = vec![first];
    while batch.len() < APPEND_BATCH && !conn.buffer().is_empty() {
        match read_command(conn, cfg.max_message_bytes).await? {
            Read::Command(b) => match command::parse(&b) {
                Ok(command::Tagged {
                    tag,
                    command: Command::Append(a),
                }) => batch.push((tag, a)),
                _ => {
                    *pending = Some(b);
                    break;
                }
            },
            Read::Skipped | Read::Closed => break,
        }
    }
    Ok(batch)
}

/// RFC 2177: updates as they happen until the client says DONE.
async fn idle(conn: &mut Conn, session: &mut Session, tag: &str) -> std::io::Result<()> {
    let out = std::mem::take(&mut session.out);
    write(conn, &out).await?;
    write(conn, b"+ in attesa\r\n").await?;
    let mut watch = match &session.mailbox {
        Some(m) => session.p.store.watch(m.id),
        None => return Ok(()),
    };
    let mut line = Vec::new();
    let deadline = tokio::time::Instant::now() + AUTOLOGOUT;
    loop {
        tokio::select! {
            r = smtp::stream::read_line_limited(conn, &mut line, MAX_LINE) => {
                if !r? {
                    return Ok(());
                }
                let word = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                let reply = if word == "DONE" {
                    format!("{tag} OK IDLE terminato\r\n")
                } else {
                    format!("{tag} BAD atteso DONE\r\n")
                };
                write(conn, reply.as_bytes()).await?;
                return Ok(());
            }
            changed = watch.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(IDLE_POLL).await;
                }
                session.sync(true);
            }
            _ = tokio::time::sleep(IDLE_POLL) => session.sync(true),
            _ = tokio::time::sleep_until(deadline) => {
                write(conn, b"* BYE inattivo da troppo tempo\r\n").await?;
                return Ok(());
            }
        }
        let out = std::mem::take(&mut session.out);
        if !out.is_empty() {
            write(conn, &out).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::literal_at_end;

    #[test]
    fn literal_markers() {
        assert_eq!(literal_at_end(b"a APPEND x {12}\r\n"), Some((12, false)));
        assert_eq!(literal_at_end(b"a LOGIN {3+}\r\n"), Some((3, true)));
        assert_eq!(literal_at_end(b"a LOGIN x\r\n"), None);
        assert_eq!(literal_at_end(b"a X {}\r\n"), None);
        assert_eq!(literal_at_end(b"a X {99999999999}\r\n"), None);
    }
}
