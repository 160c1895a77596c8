//! IMAP for Certa mailboxes: IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) with LITERAL+,
//! IDLE, UIDPLUS, MOVE, SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, NAMESPACE, ID, ENABLE,
//! QUOTA, CONDSTORE/QRESYNC, ESEARCH, SORT (ESORT, SORT=DISPLAY), THREAD (REFERENCES,
//! ORDEREDSUBJECT), UNSELECT, CHILDREN, BINARY, MULTIAPPEND, COMPRESS=DEFLATE.
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
use net::Stream;
use session::{Outcome, Session};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub struct ImapConfig {
    /// TLS for STARTTLS (on `imap`) or implicit TLS (on `imaps`).
    pub tls: Option<Arc<openssl::ssl::SslAcceptor>>,
    pub implicit_tls: bool,
    pub hostname: String,
    /// The largest APPEND accepted.
    pub max_message_bytes: usize,
    /// A TLS handshake, a whole command line and an AUTHENTICATE continuation must arrive
    /// within this from their first byte (a slow client holds a connection no longer).
    pub command_deadline: Duration,
    /// Literal bytes held in memory at once, shared by every connection of the process.
    pub literal_budget: Arc<LiteralBudget>,
}

/// The process-wide room for literals being read (APPEND messages): a literal takes its
/// size from it before it is read, and gives it back once its command is done.
pub struct LiteralBudget {
    bytes: usize,
    room: Arc<Semaphore>,
}

impl LiteralBudget {
    pub fn new(bytes: usize) -> Arc<LiteralBudget> {
        let bytes = bytes.min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        Arc::new(LiteralBudget {
            bytes,
            room: Arc::new(Semaphore::new(bytes)),
        })
    }

    /// Room for `n` bytes, waiting at most `wait`; `None` if there was none.
    async fn take(&self, n: usize, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n)
            .ok()
            .filter(|&n| n as usize <= self.bytes)?;
        tokio::time::timeout(wait, self.room.clone().acquire_many_owned(n))
            .await
            .ok()?
            .ok()
    }
}

/// A command line (without its literals) is at most this long.
const MAX_LINE: usize = 64 * 1024;
/// Each connection's read buffer: commands are short, literals bypass it
/// ([`LITERAL_CHUNK`]); small, since it is held by every idle connection (security review M1).
const CONN_BUFFER: usize = 1024;
/// A literal is read in steps of at most this much, so its buffer grows with what arrives.
const LITERAL_CHUNK: usize = 64 * 1024;
/// Before authentication a command with its literals (LOGIN's user name and password, an
/// AUTHENTICATE response, ID) is at most this long: an unauthenticated client costs no
/// more memory than this (security review H3). Room for the largest ID a client may send
/// (RFC 2971 §3.3: at most 30 pairs, values of at most 1024 octets).
const MAX_PREAUTH_COMMAND: usize = 36 * 1024;
/// Literals of commands other than APPEND are at most this long.
const MAX_SMALL_LITERAL: usize = 64 * 1024;
/// RFC 9051 §5.4: the autologout timer is at least 30 minutes (after authentication).
const AUTOLOGOUT: Duration = Duration::from_secs(30 * 60);
/// Before authentication a client has this long to start each command.
const PREAUTH_IDLE: Duration = Duration::from_secs(120);
/// At most this many messages of pipelined APPENDs share one commit...
const APPEND_BATCH: usize = 100;
/// ...and a batch stops growing once its messages hold this many bytes.
const APPEND_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// RFC 3502: one APPEND holds at most this many messages...
const MAX_MULTIAPPEND: usize = 100;
/// ...and its literals together at most this many bytes (or one message of the largest
/// size allowed, if that is more).
const MAX_MULTIAPPEND_BYTES: usize = 32 * 1024 * 1024;
/// After the command deadline, a literal must arrive at least this fast (bytes/s).
const MIN_LITERAL_RATE: usize = 16 * 1024;
/// A literal waits at most this long for room in the [`LiteralBudget`].
const BUDGET_WAIT: Duration = Duration::from_secs(30);
/// IDLE re-reads the folder at least this often, for changes made by other processes.
const IDLE_POLL: Duration = Duration::from_secs(20);

/// A command with its literals, and the room they take in the [`LiteralBudget`].
struct Incoming {
    bytes: Vec<u8>,
    room: Vec<OwnedSemaphorePermit>,
}

enum Read {
    Command(Incoming),
    /// Answered already (a literal refused); read the next one.
    Skipped,
    Closed,
    /// Answered with `* BYE` already: close.
    Refused,
    /// Nothing started within the idle time.
    Idle,
    /// A command started but did not arrive within the command deadline.
    TooSlow,
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

/// What [`read_command`] accepts now.
struct ReadLimits<'a> {
    authenticated: bool,
    max_append: usize,
    deadline: Duration,
    budget: &'a LiteralBudget,
}

/// Reads `n` literal bytes into `buf`, which grows as they arrive (never to the announced
/// size up front). `Ok(false)` at end of stream.
async fn read_literal(conn: &mut Conn, buf: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
    use tokio::io::AsyncReadExt;
    let mut left = n;
    while left > 0 {
        // The buffer grows by what may arrive next, never to the announced size; a chunk
        // larger than the connection's buffer is read straight into it.
        let start = buf.len();
        buf.resize(start + left.min(LITERAL_CHUNK), 0);
        let got = conn.read(&mut buf[start..]).await;
        let got = got.inspect_err(|_| buf.truncate(start))?;
        buf.truncate(start + got);
        if got == 0 {
            return Ok(false);
        }
        left -= got;
    }
    Ok(true)
}

/// Reads one command with its literals (RFC 9051 §4.3), answering `+` for synchronising
/// literals and refusing those over the limits before reading them. The command must
/// start within the idle time and then arrive whole within the command deadline (its
/// literals add time at [`MIN_LITERAL_RATE`]).
async fn read_command(conn: &mut Conn, limits: &ReadLimits<'_>) -> std::io::Result<Read> {
    let idle = if limits.authenticated {
        AUTOLOGOUT
    } else {
        PREAUTH_IDLE
    };
    match tokio::time::timeout(idle, conn.fill_buf()).await {
        Err(_) => return Ok(Read::Idle),
        Ok(Ok([])) => return Ok(Read::Closed),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
    }
    // Boxed: an idle connection's task holds only the wait above, not a command's state.
    Box::pin(read_started_command(conn, limits)).await
}

/// The rest of [`read_command`], once its first byte has arrived.
async fn read_started_command(conn: &mut Conn, limits: &ReadLimits<'_>) -> std::io::Result<Read> {
    let mut deadline = Instant::now() + limits.deadline;
    let mut max_command = if limits.authenticated {
        limits.max_append + MAX_LINE
    } else {
        MAX_PREAUTH_COMMAND
    };
    let mut buf = Vec::new();
    let mut room = Vec::new();
    let mut line_start = 0;
    let mut literals = 0;
    loop {
        let line_limit = (line_start + MAX_LINE).min(max_command);
        let read = net::read_line_limited(conn, &mut buf, line_limit);
        match tokio::time::timeout_at(deadline, read).await {
            Err(_) => return Ok(Read::TooSlow),
            Ok(Ok(false)) => return Ok(Read::Closed),
            Ok(Ok(true)) => {}
            Ok(Err(e)) => return Err(e),
        }
        let line = &buf[line_start..];
        let Some((n, plus)) = literal_at_end(line) else {
            return Ok(Read::Command(Incoming { bytes: buf, room }));
        };
        let tag = command::tag_of(&buf).unwrap_or_else(|| "*".into());
        let is_append = {
            let head = String::from_utf8_lossy(&buf[..buf.len().min(200)]).to_ascii_uppercase();
            head.split(' ').nth(1) == Some("APPEND")
        };
        let limit = match (limits.authenticated, is_append) {
            (false, _) => MAX_PREAUTH_COMMAND,
            (true, true) => limits.max_append,
            (true, false) => MAX_SMALL_LITERAL,
        };
        if limits.authenticated && is_append {
            // A MULTIAPPEND (RFC 3502) holds several messages: together at most
            // [`MAX_MULTIAPPEND_BYTES`] (or one message of the largest size), at most
            // [`MAX_MULTIAPPEND`] of them.
            max_command = limits.max_append.max(MAX_MULTIAPPEND_BYTES) + MAX_LINE;
        }
        literals += 1;
        if is_append && literals > MAX_MULTIAPPEND {
            if plus {
                write(conn, b"* BYE troppi messaggi in un APPEND\r\n").await?;
                return Ok(Read::Refused);
            }
            let text =
                format!("{tag} NO [LIMIT] al massimo {MAX_MULTIAPPEND} messaggi in un APPEND\r\n");
            write(conn, text.as_bytes()).await?;
            return Ok(Read::Skipped);
        }
        if n > limit || buf.len().saturating_add(n) > max_command {
            if plus {
                // The client sends the data anyway; we will not read it (RFC 7888 §4).
                write(conn, b"* BYE literal troppo grande\r\n").await?;
                return Ok(Read::Refused);
            }
            let text = if limits.authenticated {
                format!("{tag} NO [TOOBIG] dati troppo grandi ({n} byte)\r\n")
            } else {
                format!(
                    "{tag} NO [TOOBIG] prima dell'autenticazione i dati sono al massimo \
                     {MAX_PREAUTH_COMMAND} byte\r\n"
                )
            };
            write(conn, text.as_bytes()).await?;
            return Ok(Read::Skipped);
        }
        // The bytes are taken from the process-wide budget before any is read (H3).
        let Some(permit) = limits.budget.take(n, BUDGET_WAIT).await else {
            if plus {
                write(conn, b"* BYE [UNAVAILABLE] server occupato, riprovare\r\n").await?;
                return Ok(Read::Refused);
            }
            write(
                conn,
                format!("{tag} NO [UNAVAILABLE] server occupato, riprovare più tardi\r\n")
                    .as_bytes(),
            )
            .await?;
            return Ok(Read::Skipped);
        };
        room.push(permit);
        if !plus {
            write(conn, b"+ pronto\r\n").await?;
        }
        deadline += Duration::from_secs((n / MIN_LITERAL_RATE) as u64);
        match tokio::time::timeout_at(deadline, read_literal(conn, &mut buf, n)).await {
            Err(_) => return Ok(Read::TooSlow),
            Ok(Ok(false)) => return Ok(Read::Closed),
            Ok(Ok(true)) => {}
            Ok(Err(e)) => return Err(e),
        }
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
        (Some(acceptor), true) => {
            let handshake = Box::pin(Stream::accept_tls(tcp, acceptor));
            match tokio::time::timeout(cfg.command_deadline, handshake).await {
                Ok(Ok(s)) => s,
                _ => return,
            }
        }
        // Implicit TLS without a certificate: nothing can be served.
        (None, true) => return,
        _ => Stream::Plain(tcp),
    };
    let tls = stream.is_tls();
    let mut conn = BufReader::with_capacity(CONN_BUFFER, stream);
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
    let mut pending: Option<Read> = None;
    loop {
        let limits = ReadLimits {
            authenticated: session.principal.is_some(),
            max_append: cfg.max_message_bytes,
            deadline: cfg.command_deadline,
            budget: &cfg.literal_budget,
        };
        let read = match pending.take() {
            Some(r) => r,
            None => match read_command(&mut conn, &limits).await {
                Ok(r) => r,
                Err(e) if net::deflate::is_corrupt_input(&e) => {
                    write(&mut conn, b"* BYE dati compressi non validi\r\n").await?;
                    net::close_unread(&mut conn).await;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    write(&mut conn, b"* BYE riga di comando troppo lunga\r\n").await?;
                    net::close_unread(&mut conn).await;
                    return Ok(());
                }
                Err(e) => return Err(e),
            },
        };
        let incoming = match read {
            Read::Command(b) => b,
            Read::Skipped => continue,
            Read::Closed => return Ok(()),
            Read::Refused => {
                net::close_unread(&mut conn).await;
                return Ok(());
            }
            Read::Idle => {
                write(&mut conn, b"* BYE inattivo da troppo tempo\r\n").await?;
                return Ok(());
            }
            Read::TooSlow => {
                write(&mut conn, b"* BYE comando troppo lento\r\n").await?;
                return Ok(());
            }
        };
        let buf = &incoming.bytes;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let tagged = match command::parse(buf) {
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
            Command::Append(a) if !conn.buffer().is_empty() && session.principal.is_some() => {
                let (batch, _room) = Box::pin(pipelined_appends(
                    &mut conn,
                    (tagged.tag, a),
                    incoming.room,
                    &limits,
                    &mut pending,
                ))
                .await?;
                Box::pin(session.append_all(batch)).await;
                Outcome::Continue
            }
            command => {
                drop(incoming);
                // Boxed, as every command's future below: the connection's task keeps only
                // what waiting for the next command needs, not the largest command's state
                // (an idle logged-in connection's memory, security review M1).
                Box::pin(session.handle(
                    command::Tagged {
                        tag: tagged.tag,
                        command,
                    },
                    conn.get_mut(),
                ))
                .await?
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
                let handshake = Box::pin(Stream::accept_tls(tcp, &acceptor));
                let Ok(tls) = tokio::time::timeout(cfg.command_deadline, handshake).await else {
                    return Ok(());
                };
                conn = BufReader::with_capacity(CONN_BUFFER, tls?);
                session.tls = true;
            }
            Outcome::NeedAuthData(tag) => {
                write(&mut conn, b"+ \r\n").await?;
                let mut line = Vec::new();
                let read = net::read_line_limited(&mut conn, &mut line, MAX_PREAUTH_COMMAND);
                match tokio::time::timeout(cfg.command_deadline, read).await {
                    Err(_) => {
                        write(&mut conn, b"* BYE risposta troppo lenta\r\n").await?;
                        return Ok(());
                    }
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => return Ok(()),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                        write(&mut conn, b"* BYE risposta troppo lunga\r\n").await?;
                        return Ok(());
                    }
                    Ok(Err(e)) => return Err(e),
                }
                let r = Box::pin(session.authenticate_plain(&line)).await;
                let reply = match r {
                    Ok(text) => format!("{tag} OK {text}\r\n"),
                    Err(session::Refusal(status, text)) => format!("{tag} {status} {text}\r\n"),
                };
                write(&mut conn, reply.as_bytes()).await?;
            }
            Outcome::Idle(tag) => {
                if !Box::pin(idle(&mut conn, session, &tag)).await? {
                    return Ok(());
                }
            }
            Outcome::Compress => {
                // RFC 4978 §3: the client compresses from the byte after the command's
                // CRLF; what it sent already is the start of its deflate stream.
                let already_read = conn.buffer().to_vec();
                let stream = conn.into_inner().compress(already_read);
                conn = BufReader::with_capacity(CONN_BUFFER, stream);
            }
        }
    }
}

/// The APPENDs a client pipelined after `first` (already in our buffer): they are committed
/// together, with the budget room their literals hold. The batch stops at
/// [`APPEND_BATCH`] messages or [`APPEND_BATCH_BYTES`]; the first other read is left in
/// `pending`.
async fn pipelined_appends(
    conn: &mut Conn,
    first: (String, command::AppendCommand),
    first_room: Vec<OwnedSemaphorePermit>,
    limits: &ReadLimits<'_>,
    pending: &mut Option<Read>,
) -> std::io::Result<(
    Vec<(String, command::AppendCommand)>,
    Vec<OwnedSemaphorePermit>,
)> {
    let mut bytes = first.1.bytes();
    let mut messages = first.1.messages.len();
    let mut batch = vec![first];
    let mut room = first_room;
    while messages < APPEND_BATCH && bytes < APPEND_BATCH_BYTES && !conn.buffer().is_empty() {
        match read_command(conn, limits).await? {
            Read::Command(incoming) => match command::parse(&incoming.bytes) {
                Ok(command::Tagged {
                    tag,
                    command: Command::Append(a),
                }) => {
                    bytes += a.bytes();
                    messages += a.messages.len();
                    batch.push((tag, a));
                    room.extend(incoming.room);
                }
                _ => {
                    *pending = Some(Read::Command(incoming));
                    break;
                }
            },
            other => {
                *pending = Some(other);
                break;
            }
        }
    }
    Ok((batch, room))
}

/// RFC 2177: updates as they happen until the client says DONE.
/// RFC 2177 IDLE: `false` when the connection is to close (autologout, a collaboration that
/// ended while waiting).
async fn idle(conn: &mut Conn, session: &mut Session, tag: &str) -> std::io::Result<bool> {
    let out = std::mem::take(&mut session.out);
    write(conn, &out).await?;
    write(conn, b"+ in attesa\r\n").await?;
    let mut watch = match session
        .principal
        .as_ref()
        .map(|who| services::mailbox::watch(&session.p, who))
    {
        Some(Ok(w)) => w,
        _ => return Ok(true),
    };
    let mut line = Vec::new();
    let deadline = tokio::time::Instant::now() + AUTOLOGOUT;
    loop {
        tokio::select! {
            r = net::read_line_limited(conn, &mut line, MAX_LINE) => {
                if !r? {
                    return Ok(false);
                }
                let word = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                let reply = if word == "DONE" {
                    format!("{tag} OK IDLE terminato\r\n")
                } else {
                    format!("{tag} BAD atteso DONE\r\n")
                };
                write(conn, reply.as_bytes()).await?;
                return Ok(true);
            }
            changed = watch.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(IDLE_POLL).await;
                }
                session.sync(true).await;
            }
            _ = tokio::time::sleep(IDLE_POLL) => session.sync(true).await,
            _ = tokio::time::sleep_until(deadline) => {
                write(conn, b"* BYE inattivo da troppo tempo\r\n").await?;
                return Ok(false);
            }
        }
        // A collaborator's session ends with the collaboration (checked at least every
        // IDLE_POLL).
        if !session.collaboration_holds().await {
            write(
                conn,
                format!("* BYE {}\r\n", session::COLLABORATION_ENDED).as_bytes(),
            )
            .await?;
            return Ok(false);
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
