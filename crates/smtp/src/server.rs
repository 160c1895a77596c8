//! One SMTP server session (RFC 5321) with ESMTP extensions PIPELINING (RFC 2920), SIZE
//! (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034), STARTTLS (RFC 3207) and
//! AUTH PLAIN/LOGIN (RFC 4954, 4616) offered only under TLS. Every line, message and
//! recipient list is bounded; what the session does with a message is the [`Handler`]'s.

use crate::Reply;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use net::Stream;
use openssl::ssl::SslAcceptor;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; AUTH lines may carry a longer
/// initial response (RFC 4954 §4), so commands get 12 KB.
const MAX_COMMAND_LINE: usize = 12 * 1024;
/// A text line of message content (RFC 5321 §4.5.3.1.6 says 1000): longer lines are refused.
const MAX_DATA_LINE: usize = 1000;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// A TLS handshake (implicit TLS or after STARTTLS) must finish in this time: a client that
/// connects and stalls holds a connection, not the server (security review M1).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A SASL continuation line (RFC 4954 §4) must come within this time.
pub const AUTH_LINE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ERRORS: u32 = 10;
const MAX_AUTH_FAILURES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Inbound MX: other providers and the Internet; STARTTLS offered, plaintext accepted.
    Inbound,
    /// Message submission (RFC 6409): authentication required, only under TLS.
    Submission,
}

pub struct Config {
    pub hostname: String,
    pub mode: Mode,
    /// TLS for STARTTLS, or for the whole session when `implicit_tls`.
    pub tls: Option<Arc<SslAcceptor>>,
    pub implicit_tls: bool,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// Allow AUTH without TLS (tests on loopback only).
    pub allow_plaintext_auth: bool,
    /// Once a command line's first byte has come, the whole line must arrive within this: a
    /// client trickling a byte every few seconds (slowloris) is closed. Waiting for the next
    /// command keeps RFC 5321's five minutes.
    pub line_deadline: Duration,
    /// The whole DATA transfer must end within this, however steadily its lines arrive.
    pub data_deadline: Duration,
}

/// What the session knows when it hands over a command.
#[derive(Debug, Clone)]
pub struct Envelope<I> {
    pub peer: SocketAddr,
    pub helo: String,
    pub tls: bool,
    /// Who the session acts as after AUTH (submission): the handler's identity.
    pub auth: Option<I>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

/// The semantics behind a session: accounts, routing, the PEC pipeline.
pub trait Handler: Send + Sync + 'static {
    /// Who a successful AUTH makes the session act as.
    type Identity: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// Checks a login; `Ok` with the identity to record, `Err` with the reply to give.
    fn authenticate(
        &self,
        login: &str,
        password: &str,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Self::Identity, Reply>> + Send;
    /// May refuse a sender (e.g. not the authenticated mailbox).
    fn mail_from(
        &self,
        env: &Envelope<Self::Identity>,
        from: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;
    /// May refuse a recipient (unknown local mailbox, relaying denied).
    fn rcpt_to(
        &self,
        env: &Envelope<Self::Identity>,
        rcpt: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;
    /// The message, exactly as received (CRLF lines, dot-unstuffed). `250` only once it is
    /// safely stored.
    fn data(
        &self,
        env: &Envelope<Self::Identity>,
        message: Vec<u8>,
    ) -> impl Future<Output = Reply> + Send;
}

enum Line {
    Text(Vec<u8>),
    /// Longer than allowed (consumed and dropped); whether it ended with CRLF.
    TooLong {
        crlf: bool,
    },
    Closed,
}

/// RFC 5321 §2.3.8: a line ends with CRLF, and a CR or LF alone is not a line ending. A
/// server that reads one where its front end does not lets a second message be smuggled
/// inside the first (SMTP smuggling, security review L2), so such lines are refused.
fn bad_line_ending(line: &[u8]) -> bool {
    match line.strip_suffix(b"\r\n") {
        Some(body) => body.iter().any(|&b| b == b'\r' || b == b'\n'),
        None => true,
    }
}

/// Why a command line could not be read in time.
enum Late {
    /// No command for `COMMAND_TIMEOUT` (RFC 5321 §4.5.3.2.7).
    Idle,
    /// A line begun and not finished within the line deadline.
    Slow,
}

/// Reads a command line: up to `COMMAND_TIMEOUT` for its first byte, then `line_deadline`
/// for the rest of it.
async fn read_command_line(
    r: &mut BufReader<Stream>,
    max: usize,
    line_deadline: Duration,
) -> std::io::Result<Result<Line, Late>> {
    match tokio::time::timeout(COMMAND_TIMEOUT, r.fill_buf()).await {
        Err(_) => return Ok(Err(Late::Idle)),
        Ok(buf) => {
            if buf?.is_empty() {
                return Ok(Ok(Line::Closed));
            }
        }
    }
    match tokio::time::timeout(line_deadline, read_line(r, max)).await {
        Err(_) => Ok(Err(Late::Slow)),
        Ok(line) => line.map(Ok),
    }
}

/// Reads one line (through LF) of at most `max` bytes; a longer line is consumed and reported.
async fn read_line(r: &mut BufReader<Stream>, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    // The last byte of a dropped long line, to tell CRLF from a bare LF at its end.
    let mut last = 0u8;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                Line::Closed
            } else if too_long {
                Line::TooLong { crlf: false }
            } else {
                Line::Text(line)
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(p) => (&buf[..=p], true),
            None => (buf, false),
        };
        let n = chunk.len();
        let crlf = match chunk {
            [.., b'\r', b'\n'] => true,
            [b'\n'] => last == b'\r',
            _ => false,
        };
        if let Some(&b) = chunk.last() {
            last = b;
        }
        if !too_long {
            if line.len() + n > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong { crlf }
            } else {
                Line::Text(line)
            });
        }
    }
}

struct Session<'a, H: Handler> {
    cfg: &'a Config,
    handler: &'a H,
    env: Envelope<H::Identity>,
    errors: u32,
    auth_failures: u32,
}

/// Runs a session on an accepted connection until QUIT, an error or a timeout.
pub async fn serve<H: Handler>(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    cfg: &Config,
    handler: &H,
) -> std::io::Result<()> {
    let stream = match (&cfg.tls, cfg.implicit_tls) {
        (Some(acc), true) => accept_tls(tcp, acc).await?,
        _ => Stream::Plain(tcp),
    };
    let tls = stream.is_tls();
    let mut s = Session {
        cfg,
        handler,
        env: Envelope {
            peer,
            helo: String::new(),
            tls,
            auth: None,
            mail_from: String::new(),
            rcpt_to: vec![],
        },
        errors: 0,
        auth_failures: 0,
    };
    let mut conn = BufReader::new(stream);
    send(
        &mut conn,
        &Reply::new(220, "", format!("{} ESMTP Certa", cfg.hostname)),
    )
    .await?;
    let mut has_mail = false;
    loop {
        let line = match read_command_line(&mut conn, MAX_COMMAND_LINE, cfg.line_deadline).await? {
            Err(late) => {
                let text = match late {
                    Late::Idle => "Tempo scaduto, connessione chiusa",
                    Late::Slow => "Comando troppo lento, connessione chiusa",
                };
                send(&mut conn, &Reply::new(421, "4.4.2", text)).await?;
                return Ok(());
            }
            Ok(line) => line,
        };
        let line = match line {
            Line::Closed => return Ok(()),
            Line::TooLong { .. } => {
                s.errors += 1;
                send(
                    &mut conn,
                    &Reply::new(500, "5.5.6", "Riga di comando troppo lunga"),
                )
                .await?;
                continue;
            }
            Line::Text(l) if bad_line_ending(&l) => {
                s.errors += 1;
                send(
                    &mut conn,
                    &Reply::new(
                        500,
                        "5.5.2",
                        "Riga di comando con CR o LF isolato: le righe terminano con CRLF \
                         (RFC 5321 §2.3.8)",
                    ),
                )
                .await?;
                if s.errors >= MAX_ERRORS {
                    return Ok(());
                }
                continue;
            }
            Line::Text(l) => l,
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => {
                if arg.is_empty() {
                    Reply::new(501, "5.5.4", "Sintassi: EHLO dominio")
                } else {
                    s.env.helo = arg.clone();
                    has_mail = false;
                    s.reset();
                    if verb == "EHLO" {
                        s.ehlo()
                    } else {
                        Reply::new(250, "", cfg.hostname.clone())
                    }
                }
            }
            "STARTTLS" => {
                let Some(acc) = cfg.tls.clone().filter(|_| !s.env.tls) else {
                    send(
                        &mut conn,
                        &Reply::new(502, "5.5.1", "STARTTLS non disponibile"),
                    )
                    .await?;
                    continue;
                };
                send(&mut conn, &Reply::new(220, "2.0.0", "Pronto per TLS")).await?;
                // RFC 3207 §4.2: anything the client pipelined before the handshake is discarded.
                let Some(tcp) = conn.into_inner().into_tcp() else {
                    return Ok(());
                };
                conn = BufReader::new(accept_tls(tcp, &acc).await?);
                s.env.tls = true;
                s.env.helo.clear();
                s.env.auth = None;
                has_mail = false;
                s.reset();
                continue;
            }
            "AUTH" => s.auth(&mut conn, &arg).await?,
            "MAIL" => {
                let r = s.mail(&arg).await;
                has_mail = r.is_positive();
                r
            }
            "RCPT" if !has_mail => Reply::new(503, "5.5.1", "Prima MAIL FROM"),
            "RCPT" => s.rcpt(&arg).await,
            "DATA" if s.env.rcpt_to.is_empty() => {
                Reply::new(503, "5.5.1", "Nessun destinatario valido")
            }
            "DATA" => {
                send(
                    &mut conn,
                    &Reply::new(354, "", "Inviare il messaggio, terminare con <CRLF>.<CRLF>"),
                )
                .await?;
                let r = s.data(&mut conn).await?;
                has_mail = false;
                s.reset();
                r
            }
            "RSET" => {
                has_mail = false;
                s.reset();
                Reply::new(250, "2.0.0", "OK")
            }
            "NOOP" => Reply::new(250, "2.0.0", "OK"),
            "VRFY" => Reply::new(252, "2.5.0", "Impossibile verificare l'indirizzo"),
            "HELP" => Reply::new(
                214,
                "2.0.0",
                "Certa: https://www.rfc-editor.org/rfc/rfc6109",
            ),
            "QUIT" => {
                send(&mut conn, &Reply::new(221, "2.0.0", "Arrivederci")).await?;
                return Ok(());
            }
            _ => {
                s.errors += 1;
                Reply::new(500, "5.5.2", "Comando non riconosciuto")
            }
        };
        if !reply.is_positive() && reply.code >= 500 {
            s.errors += 1;
        }
        send(&mut conn, &reply).await?;
        // RFC 5321 §3.8: a 421 (a DATA past its deadline, a handler shutting down) closes
        // the transmission channel.
        if reply.code == 421 {
            return Ok(());
        }
        if s.errors >= MAX_ERRORS || s.auth_failures >= MAX_AUTH_FAILURES {
            send(
                &mut conn,
                &Reply::new(421, "4.7.0", "Troppi errori, connessione chiusa"),
            )
            .await?;
            return Ok(());
        }
    }
}

/// A TLS handshake, bounded by [`HANDSHAKE_TIMEOUT`].
async fn accept_tls(tcp: tokio::net::TcpStream, acc: &SslAcceptor) -> std::io::Result<Stream> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, Stream::accept_tls(tcp, acc))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

async fn send(conn: &mut BufReader<Stream>, reply: &Reply) -> std::io::Result<()> {
    let w = conn.get_mut();
    w.write_all(reply.to_wire().as_bytes()).await?;
    w.flush().await
}

/// `<addr>` from `FROM:<addr> PARAMS` / `TO:<addr>`; the rest are the parameters.
fn path_arg(arg: &str, keyword: &str) -> Option<(String, Vec<String>)> {
    let upper = arg.to_ascii_uppercase();
    let rest = arg
        .get(keyword.len()..)
        .filter(|_| upper.starts_with(keyword))?
        .trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let addr = rest[..end].trim().to_string();
    if addr.len() > 254 || addr.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    let params = rest[end + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((addr, params))
}

impl<H: Handler> Session<'_, H> {
    fn reset(&mut self) {
        self.env.mail_from.clear();
        self.env.rcpt_to.clear();
    }

    fn auth_offered(&self) -> bool {
        self.cfg.mode == Mode::Submission && (self.env.tls || self.cfg.allow_plaintext_auth)
    }

    fn ehlo(&self) -> Reply {
        let mut lines = vec![
            self.cfg.hostname.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.cfg.max_message_bytes),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.cfg.tls.is_some() && !self.env.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        Reply::new(250, "", lines.join("\n"))
    }

    async fn auth(&mut self, conn: &mut BufReader<Stream>, arg: &str) -> std::io::Result<Reply> {
        if self.cfg.mode != Mode::Submission {
            return Ok(Reply::new(
                502,
                "5.5.1",
                "AUTH non disponibile su questo servizio",
            ));
        }
        if !self.auth_offered() {
            return Ok(Reply::new(
                538,
                "5.7.11",
                "Autenticazione consentita solo su connessione cifrata (STARTTLS)",
            ));
        }
        if self.env.auth.is_some() {
            return Ok(Reply::new(503, "5.5.1", "Già autenticato"));
        }
        let mut parts = arg.split_whitespace();
        let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next().map(str::to_string);
        let (login, password) = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(i) => i,
                    None => {
                        send(conn, &Reply::new(334, "", "")).await?;
                        match self.auth_line(conn).await? {
                            Some(l) => l,
                            None => {
                                return Ok(Reply::new(501, "5.7.0", "Autenticazione annullata"))
                            }
                        }
                    }
                };
                let Some(decoded) = STANDARD.decode(response.trim()).ok() else {
                    return Ok(Reply::new(501, "5.5.2", "Risposta base64 non valida"));
                };
                let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                if fields.len() != 3 {
                    return Ok(Reply::new(501, "5.5.2", "Risposta PLAIN non valida"));
                }
                (
                    String::from_utf8_lossy(fields[1]).into_owned(),
                    String::from_utf8_lossy(fields[2]).into_owned(),
                )
            }
            "LOGIN" => {
                let user = match initial {
                    Some(i) => i,
                    None => {
                        send(conn, &Reply::new(334, "", "VXNlcm5hbWU6")).await?;
                        match self.auth_line(conn).await? {
                            Some(l) => l,
                            None => {
                                return Ok(Reply::new(501, "5.7.0", "Autenticazione annullata"))
                            }
                        }
                    }
                };
                send(conn, &Reply::new(334, "", "UGFzc3dvcmQ6")).await?;
                let Some(pass) = self.auth_line(conn).await? else {
                    return Ok(Reply::new(501, "5.7.0", "Autenticazione annullata"));
                };
                let dec = |s: &str| {
                    STANDARD
                        .decode(s.trim())
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                };
                match (dec(&user), dec(&pass)) {
                    (Some(u), Some(p)) => (u, p),
                    _ => return Ok(Reply::new(501, "5.5.2", "Risposta base64 non valida")),
                }
            }
            _ => return Ok(Reply::new(504, "5.5.4", "Meccanismo non supportato")),
        };
        match self
            .handler
            .authenticate(&login, &password, self.env.peer)
            .await
        {
            Ok(identity) => {
                self.env.auth = Some(identity);
                Ok(Reply::new(235, "2.7.0", "Autenticazione riuscita"))
            }
            Err(reply) => {
                self.auth_failures += 1;
                Ok(reply)
            }
        }
    }

    /// A SASL continuation line; `None` if the client cancels with `*`. One that does not
    /// come within [`AUTH_LINE_TIMEOUT`] ends the connection.
    async fn auth_line(&mut self, conn: &mut BufReader<Stream>) -> std::io::Result<Option<String>> {
        let line = tokio::time::timeout(AUTH_LINE_TIMEOUT, read_line(conn, MAX_COMMAND_LINE))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no SASL continuation line in time",
                )
            })??;
        match line {
            Line::Text(l) if !bad_line_ending(&l) => {
                let s = String::from_utf8_lossy(&l).trim().to_string();
                Ok(if s == "*" { None } else { Some(s) })
            }
            _ => Ok(None),
        }
    }

    async fn mail(&mut self, arg: &str) -> Reply {
        if self.cfg.mode == Mode::Submission && self.env.auth.is_none() {
            return Reply::new(530, "5.7.0", "Autenticazione richiesta");
        }
        if self.env.helo.is_empty() {
            return Reply::new(503, "5.5.1", "Prima EHLO");
        }
        let Some((from, params)) = path_arg(arg, "FROM:") else {
            return Reply::new(501, "5.1.7", "Sintassi: MAIL FROM:<indirizzo>");
        };
        for p in &params {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "SIZE" => match v.parse::<usize>() {
                    Ok(n) if n > self.cfg.max_message_bytes => {
                        return Reply::new(
                            552,
                            "5.3.4",
                            format!(
                                "Messaggio troppo grande: il limite è {} byte",
                                self.cfg.max_message_bytes
                            ),
                        );
                    }
                    Ok(_) => {}
                    Err(_) => return Reply::new(501, "5.5.4", "Parametro SIZE non valido"),
                },
                "BODY" if v.eq_ignore_ascii_case("8BITMIME") || v.eq_ignore_ascii_case("7BIT") => {}
                "AUTH" => {}
                _ => return Reply::new(555, "5.5.4", format!("Parametro non supportato: {k}")),
            }
        }
        if let Err(r) = self.handler.mail_from(&self.env, &from).await {
            return r;
        }
        self.env.mail_from = from;
        self.env.rcpt_to.clear();
        Reply::new(250, "2.1.0", "Mittente OK")
    }

    async fn rcpt(&mut self, arg: &str) -> Reply {
        let Some((to, _)) = path_arg(arg, "TO:") else {
            return Reply::new(501, "5.1.3", "Sintassi: RCPT TO:<indirizzo>");
        };
        if to.is_empty() || !to.contains('@') {
            return Reply::new(501, "5.1.3", "Indirizzo del destinatario non valido");
        }
        if self.env.rcpt_to.len() >= self.cfg.max_recipients {
            return Reply::new(
                452,
                "4.5.3",
                format!(
                    "Troppi destinatari: il massimo è {}",
                    self.cfg.max_recipients
                ),
            );
        }
        if let Err(r) = self.handler.rcpt_to(&self.env, &to).await {
            return r;
        }
        if !self.env.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(&to)) {
            self.env.rcpt_to.push(to);
        }
        Reply::new(250, "2.1.5", "Destinatario OK")
    }

    /// Reads the message to the lone dot, dot-unstuffed (RFC 5321 §4.5.2), keeping at most the
    /// size limit in memory; then hands it over. Only CRLF "." CRLF ends it (RFC 5321
    /// §4.1.1.4): `\n.\r\n` and `\r\n.\n` are content, and a message with a bare CR or LF is
    /// refused whole once its real end has come (security review L2).
    async fn data(&mut self, conn: &mut BufReader<Stream>) -> std::io::Result<Reply> {
        let mut message = Vec::with_capacity(64 * 1024);
        let mut too_big = false;
        let mut long_line = false;
        let mut bare_line_ending = false;
        // The DATA command's own line ended with CRLF.
        let mut after_crlf = true;
        let data_ends = tokio::time::Instant::now() + self.cfg.data_deadline;
        loop {
            // Each line within RFC 5321's data-block timeout, all of them within the
            // DATA deadline.
            let line_ends = (tokio::time::Instant::now() + COMMAND_TIMEOUT).min(data_ends);
            let line = match tokio::time::timeout_at(line_ends, read_line(conn, MAX_DATA_LINE + 1))
                .await
            {
                Err(_) => return Ok(Reply::new(421, "4.4.2", "Tempo scaduto durante DATA")),
                Ok(l) => l?,
            };
            let line = match line {
                Line::Closed => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed in DATA",
                    ))
                }
                Line::TooLong { crlf } => {
                    long_line = true;
                    after_crlf = crlf;
                    continue;
                }
                Line::Text(l) => l,
            };
            if after_crlf && line == b".\r\n" {
                break;
            }
            after_crlf = line.ends_with(b"\r\n");
            if bad_line_ending(&line) {
                bare_line_ending = true;
            }
            let content = if line.first() == Some(&b'.') {
                &line[1..]
            } else {
                &line[..]
            };
            if message.len() + content.len() > self.cfg.max_message_bytes {
                too_big = true;
                continue;
            }
            if !too_big {
                message.extend_from_slice(content);
            }
        }
        if too_big {
            return Ok(Reply::new(
                552,
                "5.3.4",
                format!(
                    "Messaggio troppo grande: il limite è {} byte",
                    self.cfg.max_message_bytes
                ),
            ));
        }
        if bare_line_ending {
            return Ok(Reply::new(
                550,
                "5.6.0",
                "Messaggio rifiutato: contiene CR o LF isolati; le righe terminano con CRLF \
                 (RFC 5321 §2.3.8)",
            ));
        }
        if long_line {
            return Ok(Reply::new(
                500,
                "5.5.2",
                "Riga del messaggio più lunga di 1000 caratteri (RFC 5321 §4.5.3.1.6)",
            ));
        }
        Ok(self.handler.data(&self.env, message).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path_arg("FROM:<a@b.it> SIZE=10", "FROM:"),
            Some(("a@b.it".into(), vec!["SIZE=10".into()]))
        );
        assert_eq!(
            path_arg("from: <a@b.it>", "FROM:"),
            Some(("a@b.it".into(), vec![]))
        );
        assert_eq!(path_arg("FROM:<>", "FROM:"), Some((String::new(), vec![])));
        assert_eq!(path_arg("FROM:a@b.it", "FROM:"), None);
        assert_eq!(path_arg("TO:<a b@c>", "TO:"), None);
        assert_eq!(path_arg("", "TO:"), None);
    }

    #[test]
    fn multiline_reply() {
        let r = Reply::new(250, "", "host\nPIPELINING\nSIZE 10");
        assert_eq!(r.to_wire(), "250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
        assert_eq!(Reply::new(550, "5.7.1", "no").to_wire(), "550 5.7.1 no\r\n");
    }
}
