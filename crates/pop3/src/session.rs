//! One POP3 session (RFC 1939 §3): the AUTHORIZATION state (USER/PASS, AUTH PLAIN per
//! RFC 5034, STLS per RFC 2595), the TRANSACTION state over a snapshot of the INBOX, and the
//! UPDATE state entered by QUIT. Extended response codes per RFC 2449 §8 and RFC 3206.

use crate::command::{self, Command, ParseError, MAX_LINE};
use crate::maildrop::{self, Maildrop, MaildropLocks, Message, Missing};
use net::Stream;
use services::mailbox::{self, FlagOp, MailboxError, INBOX};
use services::principal::{Permission, Principal};
use services::provider::{AuthError, Provider};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How a listener serves POP3.
pub struct Pop3Config {
    /// TLS for STLS (on `pop3`) or implicit TLS (on `pop3s`).
    pub tls: Option<Arc<openssl::ssl::SslAcceptor>>,
    /// TLS from the first byte (RFC 8314 §3.3, port 995).
    pub implicit_tls: bool,
    /// Named in the greeting.
    pub hostname: String,
    /// A TLS handshake, a whole command line and an AUTH continuation must arrive within
    /// this from their first byte (a client sending a byte every few seconds is closed).
    pub command_deadline: Duration,
}

/// RFC 1939 §3: the inactivity autologout timer is at least 10 minutes.
const IDLE: Duration = Duration::from_secs(10 * 60);
/// This many malformed commands in a row close the connection.
const MAX_BAD_COMMANDS: u32 = 3;
/// This many failed logins on one connection close it, as IMAP and SMTP do: a password
/// guesser reconnects, and each connection costs it the throttle's delay again.
const MAX_AUTH_FAILURES: u32 = 3;
/// Answers are sent at least once they are this long, even while commands are pipelined.
const FLUSH_AT: usize = 64 * 1024;

type Conn = BufReader<Stream>;

/// What the connection loop does after a command.
enum Outcome {
    Continue,
    /// `+OK` to STLS sent: the TLS handshake follows.
    StartTls,
    /// AUTH PLAIN without an initial response: send `+ ` and read the response.
    NeedAuthData,
    Quit,
}

/// RFC 1939 §3 session states (UPDATE lasts only as long as QUIT does).
enum State {
    /// The mailbox name given by USER, waiting for PASS.
    Authorization {
        user: Option<String>,
    },
    Transaction(Maildrop),
}

struct Session {
    p: Arc<Provider>,
    cfg: Arc<Pop3Config>,
    locks: Arc<MaildropLocks>,
    peer: SocketAddr,
    tls: bool,
    state: State,
    out: Vec<u8>,
    /// Failed logins on this connection (see [`MAX_AUTH_FAILURES`]).
    auth_failures: u32,
    /// Who logged in (TRANSACTION state).
    principal: Option<Principal>,
}

/// Serves one client connection until QUIT, end of stream, an error or the idle timeout.
/// Deletions are applied only by QUIT (RFC 1939 §6); the maildrop lock is released in every
/// case.
pub async fn serve_connection(
    provider: Arc<Provider>,
    tcp: TcpStream,
    peer: SocketAddr,
    cfg: Arc<Pop3Config>,
    locks: Arc<MaildropLocks>,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match (&cfg.tls, cfg.implicit_tls) {
        (Some(acceptor), true) => {
            let handshake = Stream::accept_tls(tcp, acceptor);
            match tokio::time::timeout(cfg.command_deadline, handshake).await {
                Ok(Ok(s)) => s,
                _ => return,
            }
        }
        // Implicit TLS without a certificate: nothing can be served.
        (None, true) => return,
        _ => Stream::Plain(tcp),
    };
    let mut session = Session {
        p: provider,
        tls: stream.is_tls(),
        cfg,
        locks,
        peer,
        state: State::Authorization { user: None },
        out: Vec::with_capacity(256),
        auth_failures: 0,
        principal: None,
    };
    let mut conn = BufReader::with_capacity(4096, stream);
    // RFC 1939 §4: the greeting. No APOP timestamp: APOP is not offered.
    let greeting = format!("+OK {} Certa POP3 pronto\r\n", session.cfg.hostname);
    if write(&mut conn, greeting.as_bytes()).await.is_err() {
        return;
    }
    let _ = run(conn, &mut session).await;
}

async fn write(conn: &mut Conn, data: &[u8]) -> std::io::Result<()> {
    let s = conn.get_mut();
    s.write_all(data).await?;
    s.flush().await
}

enum Line {
    Complete(Vec<u8>),
    /// End of stream, the idle timeout (RFC 1939 §3: close without a word) or an error.
    Closed,
    /// Over [`MAX_LINE`]: answered, and the connection is closed.
    TooLong,
    /// Started but not finished within the command deadline: answered, and closed.
    TooSlow,
}

/// A line that starts within `idle` and then arrives whole within `deadline`.
async fn next_line(conn: &mut Conn, idle: Duration, deadline: Duration) -> Line {
    match tokio::time::timeout(idle, conn.fill_buf()).await {
        Ok(Ok([])) | Ok(Err(_)) | Err(_) => return Line::Closed,
        Ok(Ok(_)) => {}
    }
    let mut buf = Vec::new();
    match tokio::time::timeout(deadline, net::read_line_limited(conn, &mut buf, MAX_LINE)).await {
        Ok(Ok(true)) => Line::Complete(buf),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Line::TooLong,
        Err(_) => Line::TooSlow,
        _ => Line::Closed,
    }
}

async fn run(mut conn: Conn, session: &mut Session) -> std::io::Result<()> {
    let mut bad_commands = 0;
    loop {
        let line = match next_line(&mut conn, IDLE, session.cfg.command_deadline).await {
            Line::Complete(l) => l,
            Line::Closed => return Ok(()),
            Line::TooSlow => {
                write(
                    &mut conn,
                    b"-ERR comando troppo lento: connessione chiusa\r\n",
                )
                .await?;
                return Ok(());
            }
            Line::TooLong => {
                session.err(&format!("{}: connessione chiusa", ParseError::TooLong));
                let out = std::mem::take(&mut session.out);
                write(&mut conn, &out).await?;
                net::close_unread(&mut conn).await;
                return Ok(());
            }
        };
        let outcome = match command::parse(&line) {
            Ok(cmd) => {
                bad_commands = 0;
                session.handle(cmd).await
            }
            Err(e) => {
                bad_commands += 1;
                if bad_commands >= MAX_BAD_COMMANDS {
                    session.err(&format!(
                        "{e}; troppi comandi non validi: connessione chiusa"
                    ));
                    let out = std::mem::take(&mut session.out);
                    write(&mut conn, &out).await?;
                    net::close_unread(&mut conn).await;
                    return Ok(());
                } else {
                    session.err(&e.to_string());
                    Outcome::Continue
                }
            }
        };
        // RFC 2449 §6.6 PIPELINING: answers to commands already received go out together.
        let more_pipelined = conn.buffer().contains(&b'\n');
        if !matches!(outcome, Outcome::Continue) || !more_pipelined || session.out.len() >= FLUSH_AT
        {
            let out = std::mem::take(&mut session.out);
            write(&mut conn, &out).await?;
        }
        if session.auth_failures >= MAX_AUTH_FAILURES {
            let out = std::mem::take(&mut session.out);
            write(&mut conn, &out).await?;
            net::close_unread(&mut conn).await;
            return Ok(());
        }
        match outcome {
            Outcome::Continue => {}
            Outcome::Quit => return Ok(()),
            Outcome::StartTls => {
                let Some(acceptor) = session.cfg.tls.clone() else {
                    return Ok(());
                };
                // RFC 2595 §4: anything the client pipelined after STLS is dropped with the
                // plain-text buffer, never read as if it came over TLS.
                let Some(tcp) = conn.into_inner().into_tcp() else {
                    return Ok(());
                };
                let handshake = Stream::accept_tls(tcp, &acceptor);
                let stream =
                    match tokio::time::timeout(session.cfg.command_deadline, handshake).await {
                        Ok(Ok(s)) => s,
                        _ => return Ok(()),
                    };
                conn = BufReader::with_capacity(4096, stream);
                session.tls = true;
                // RFC 2595 §4: the session starts again, USER included.
                session.state = State::Authorization { user: None };
            }
            Outcome::NeedAuthData => {
                write(&mut conn, b"+ \r\n").await?;
                let deadline = session.cfg.command_deadline;
                match next_line(&mut conn, deadline, deadline).await {
                    Line::Complete(l) => {
                        let response = String::from_utf8_lossy(&l);
                        session.auth_plain(response.trim_end()).await;
                    }
                    Line::Closed => return Ok(()),
                    Line::TooSlow => {
                        write(&mut conn, b"-ERR risposta SASL troppo lenta\r\n").await?;
                        return Ok(());
                    }
                    Line::TooLong => {
                        write(&mut conn, b"-ERR risposta SASL troppo lunga\r\n").await?;
                        return Ok(());
                    }
                }
                let out = std::mem::take(&mut session.out);
                write(&mut conn, &out).await?;
                if session.auth_failures >= MAX_AUTH_FAILURES {
                    net::close_unread(&mut conn).await;
                    return Ok(());
                }
            }
        }
    }
}

impl Session {
    /// Whether a collaborator's collaboration still holds; always for the holder. A store
    /// that cannot answer ends nothing.
    async fn collaboration_holds(&self) -> bool {
        let Some(who) = self.principal.clone().filter(|p| p.delegate.is_some()) else {
            return true;
        };
        let p = self.p.clone();
        services::blocking(move || services::collaboration::still_valid(&p, &who))
            .await
            .is_none_or(|r| r.unwrap_or(true))
    }

    /// Whether the principal may change the mailbox (DELE, and RETR marking `\Seen`).
    fn may_modify(&self) -> bool {
        self.principal
            .as_ref()
            .is_some_and(|p| p.require(Permission::Modify).is_ok())
    }

    fn ok(&mut self, text: &str) {
        self.out.extend_from_slice(b"+OK ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn err(&mut self, text: &str) {
        self.out.extend_from_slice(b"-ERR ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Whether credentials may be sent: under TLS, or where the configuration allows it.
    fn auth_allowed(&self) -> bool {
        self.tls || self.p.allow_plaintext_auth
    }

    fn stls_available(&self) -> bool {
        !self.tls && self.cfg.tls.is_some() && matches!(self.state, State::Authorization { .. })
    }

    /// `-ERR [AUTH]` for credentials sent in clear (RFC 2595 §2.3).
    fn refuse_plaintext(&mut self) {
        if self.stls_available() {
            self.err("[AUTH] autenticazione in chiaro non consentita: usare prima STLS");
        } else {
            self.err("[AUTH] autenticazione consentita solo su connessione TLS");
        }
    }

    async fn handle(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Capa => self.capa(),
            Command::Noop => self.ok("in attesa"),
            Command::Quit => return self.quit().await,
            Command::Stls => return self.stls(),
            Command::User(_) | Command::Pass(_) | Command::Auth { .. }
                if matches!(self.state, State::Transaction(_)) =>
            {
                self.err("autenticazione già eseguita");
            }
            Command::User(name) => self.user(name),
            Command::Pass(password) => self.pass(password).await,
            Command::Auth { mechanism, initial } => {
                return self.auth(mechanism, initial).await;
            }
            cmd => {
                // A collaborator's session ends with the collaboration: nothing is
                // committed (no UPDATE state, RFC 1939 §6), the connection closes.
                if !self.collaboration_holds().await {
                    self.err("[AUTH] collaborazione scaduta o revocata: sessione terminata");
                    return Outcome::Quit;
                }
                let may_modify = self.may_modify();
                let State::Transaction(md) = &mut self.state else {
                    self.err("autenticarsi prima di usare questo comando");
                    return Outcome::Continue;
                };
                let mut reply = Reply::default();
                match cmd {
                    Command::Stat => {
                        let (n, size) = md.stat();
                        reply.ok(&format!("{n} {size}"));
                    }
                    Command::List(n) => list(md, n, &mut reply),
                    Command::Uidl(n) => uidl(md, n, &mut reply),
                    Command::Dele(n) => match md.get_mut(n) {
                        Ok(_) if !may_modify => reply.err(&format!(
                            "{}",
                            services::principal::Denied(Permission::Modify)
                        )),
                        Ok(m) => {
                            m.deleted = true;
                            reply.ok(&format!("messaggio {n} eliminato"));
                        }
                        Err(e) => reply.missing(e),
                    },
                    Command::Rset => {
                        md.undelete_all();
                        let (n, size) = md.stat();
                        reply.ok(&format!("{n} messaggi ({size} ottetti)"));
                    }
                    Command::Retr(n) => {
                        return self.send_message(n, None).await;
                    }
                    Command::Top(n, lines) => {
                        return self.send_message(n, Some(lines)).await;
                    }
                    _ => reply.err("comando non valido in questo stato"),
                }
                self.out.extend_from_slice(&reply.0);
            }
        }
        Outcome::Continue
    }

    /// RFC 2449 §5: the capabilities of the current state.
    fn capa(&mut self) {
        let mut caps = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if self.auth_allowed() {
            caps.extend(["USER", "SASL PLAIN"]);
        }
        if self.stls_available() {
            caps.push("STLS");
        }
        caps.push("IMPLEMENTATION Certa");
        self.ok("elenco delle capacità");
        for c in caps {
            self.out.extend_from_slice(c.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
    }

    /// RFC 2595 §4: only in the AUTHORIZATION state of a plain connection.
    fn stls(&mut self) -> Outcome {
        if self.tls {
            self.err("TLS già attivo");
            Outcome::Continue
        } else if matches!(self.state, State::Transaction(_)) {
            self.err("STLS è consentito solo prima dell'autenticazione");
            Outcome::Continue
        } else if !self.stls_available() {
            self.err("STLS non disponibile");
            Outcome::Continue
        } else {
            self.ok("avvio della negoziazione TLS");
            Outcome::StartTls
        }
    }

    /// RFC 1939 §7 USER: the name is kept for PASS; whether it exists is not told.
    fn user(&mut self, name: String) {
        if !self.auth_allowed() {
            self.refuse_plaintext();
            return;
        }
        self.state = State::Authorization { user: Some(name) };
        self.ok("inviare la password con PASS");
    }

    /// RFC 1939 §7 PASS, after USER.
    async fn pass(&mut self, password: String) {
        if !self.auth_allowed() {
            self.refuse_plaintext();
            return;
        }
        let user = match &mut self.state {
            State::Authorization { user } => user.take(),
            State::Transaction(_) => None,
        };
        match user {
            Some(user) => self.login(user, password).await,
            None => self.err("inviare prima USER"),
        }
    }

    /// RFC 5034 §4 AUTH: the mechanism list, or SASL PLAIN with or without an initial
    /// response.
    async fn auth(&mut self, mechanism: Option<String>, initial: Option<String>) -> Outcome {
        if let State::Authorization { user } = &mut self.state {
            *user = None;
        }
        let Some(mechanism) = mechanism else {
            // The mechanism list many clients ask for with a bare AUTH (RFC 1734 practice).
            self.ok("meccanismi SASL disponibili");
            if self.auth_allowed() {
                self.out.extend_from_slice(b"PLAIN\r\n");
            }
            self.out.extend_from_slice(b".\r\n");
            return Outcome::Continue;
        };
        if mechanism != "PLAIN" {
            self.err("meccanismo SASL non supportato: usare PLAIN");
            return Outcome::Continue;
        }
        if !self.auth_allowed() {
            self.refuse_plaintext();
            return Outcome::Continue;
        }
        match initial {
            Some(r) => {
                self.auth_plain(&r).await;
                Outcome::Continue
            }
            None => Outcome::NeedAuthData,
        }
    }

    /// SASL PLAIN (RFC 4616): base64 of `authzid NUL authcid NUL password`; `=` is an empty
    /// response and `*` cancels (RFC 5034 §4).
    async fn auth_plain(&mut self, response: &str) {
        use base64::Engine;
        let response = response.trim();
        if response == "*" {
            self.err("autenticazione annullata");
            return;
        }
        let response = if response == "=" { "" } else { response };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(response) else {
            self.err("risposta SASL non valida: base64 atteso");
            return;
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authz, user, password] = parts.as_slice() else {
            self.err("risposta SASL PLAIN non valida");
            return;
        };
        if !authz.is_empty() && authz != user {
            self.err("[AUTH] identità di autorizzazione non ammessa");
            return;
        }
        let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password))
        else {
            self.err("[AUTH] credenziali non valide");
            return;
        };
        self.login(user.to_string(), password.to_string()).await;
    }

    /// Checks the credentials, takes the maildrop lock and the snapshot of the INBOX
    /// (RFC 1939 §4: AUTHORIZATION → TRANSACTION).
    async fn login(&mut self, user: String, password: String) {
        let p = self.p.clone();
        let ip = self.peer.ip();
        let authenticated = p
            .authenticate(&user, &password, ip, services::provider::LoginVia::Pop3)
            .await;
        let principal = match authenticated {
            Ok(m) => m,
            Err(AuthError::Invalid) => {
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    return self.err(
                        "[AUTH] credenziali non valide; troppi accessi non riusciti: \
                         connessione chiusa",
                    );
                }
                return self.err("[AUTH] credenziali non valide");
            }
            Err(
                e @ (AuthError::MustChangePassword
                | AuthError::Suspended
                | AuthError::SendOnly
                | AuthError::Ended),
            ) => return self.err(&format!("[AUTH] {e}")),
            Err(e @ (AuthError::Throttled | AuthError::Unavailable)) => {
                return self.err(&format!("[SYS/TEMP] {e}"))
            }
        };
        if let Err(denied) = principal.require(Permission::Read) {
            return self.err(&format!("[AUTH] {denied}"));
        }
        let mailbox = principal.mailbox;
        // RFC 1939 §8 and RFC 2449 §8.1.2: one session per maildrop.
        let Some(guard) = self.locks.try_lock(mailbox) else {
            return self.err("[IN-USE] la casella è già aperta da un'altra sessione");
        };
        let snapshot = mailbox::run(&self.p, &principal, |m| {
            let folder = m.existing_folder(INBOX)?;
            let entries = m.messages(folder.id)?;
            let kept: std::collections::HashMap<i64, String> =
                m.pop3_uidls(folder.id)?.into_iter().collect();
            Ok::<_, MailboxError>((folder, entries, kept))
        })
        .await;
        let Ok((folder, entries, mut kept)) = snapshot else {
            // The guard goes with this return: the lock is released before the refusal.
            return self.err("[SYS/TEMP] casella non disponibile: riprovare più tardi");
        };
        let messages = entries
            .into_iter()
            .map(|e| Message {
                uid: e.uid,
                size: u64::try_from(e.size).unwrap_or(0),
                seen: e.flags.split(' ').any(|f| f.eq_ignore_ascii_case("\\Seen")),
                deleted: false,
                kept_uidl: kept.remove(&e.uid),
            })
            .collect();
        let md = Maildrop::new(folder.id, folder.uidvalidity, messages, guard);
        let (n, size) = md.stat();
        self.state = State::Transaction(md);
        self.principal = Some(principal);
        self.ok(&format!("accesso eseguito: {n} messaggi ({size} ottetti)"));
    }

    /// RFC 1939 §7 RETR (`lines` = None) and TOP: the message, byte-stuffed. RETR marks it
    /// `\Seen`, as an IMAP client reading it would.
    async fn send_message(&mut self, n: u32, lines: Option<u32>) -> Outcome {
        let may_modify = self.may_modify();
        let State::Transaction(md) = &mut self.state else {
            return Outcome::Continue;
        };
        let (uid, seen) = match md.get(n) {
            Ok(m) => (m.uid, m.seen),
            Err(e) => {
                let mut reply = Reply::default();
                reply.missing(e);
                self.out.extend_from_slice(&reply.0);
                return Outcome::Continue;
            }
        };
        let folder_id = md.folder_id;
        // Reading marks the message read only for who may change the mailbox.
        let mark_seen = lines.is_none() && !seen && may_modify;
        let Some(who) = self.principal.as_ref() else {
            return Outcome::Continue;
        };
        let read = mailbox::run(&self.p, who, move |m| {
            let data = m.content(folder_id, uid)?.data;
            if mark_seen {
                m.store_flags(
                    folder_id,
                    &[uid],
                    FlagOp::Add,
                    &["\\Seen".to_string()],
                    None,
                )?;
            }
            Ok::<_, MailboxError>(data)
        })
        .await;
        let Ok(data) = read else {
            self.err("[SYS/TEMP] messaggio non disponibile: riprovare più tardi");
            return Outcome::Continue;
        };
        if mark_seen {
            if let Ok(m) = md.get_mut(n) {
                m.seen = true;
            }
        }
        match lines {
            None => self.ok(&format!("{} ottetti", data.len())),
            Some(_) => self.ok("intestazioni e righe richieste"),
        }
        let data = match lines {
            Some(l) => maildrop::top(&data, l),
            None => &data,
        };
        maildrop::multiline(&mut self.out, data);
        Outcome::Continue
    }

    /// RFC 1939 §6: QUIT in TRANSACTION enters UPDATE and removes the messages marked as
    /// deleted; the lock goes with the session.
    async fn quit(&mut self) -> Outcome {
        let bye = format!("{} Certa POP3 chiude la connessione", self.cfg.hostname);
        let State::Transaction(md) = &self.state else {
            self.ok(&bye);
            return Outcome::Quit;
        };
        let uids = md.deleted_uids();
        if uids.is_empty() {
            self.ok(&bye);
            return Outcome::Quit;
        }
        let Some(who) = self.principal.as_ref() else {
            return Outcome::Quit;
        };
        let folder_id = md.folder_id;
        let count = uids.len();
        let expunged = mailbox::run(&self.p, who, move |m| m.expunge(folder_id, &uids)).await;
        match expunged {
            Ok(_) => self.ok(&format!("{bye} ({count} messaggi eliminati)")),
            _ => self.err("[SYS/TEMP] i messaggi eliminati non sono stati rimossi: riprovare"),
        }
        Outcome::Quit
    }
}

/// An answer built while the maildrop is borrowed.
#[derive(Default)]
struct Reply(Vec<u8>);

impl Reply {
    fn ok(&mut self, text: &str) {
        self.0
            .extend_from_slice(format!("+OK {text}\r\n").as_bytes());
    }

    fn err(&mut self, text: &str) {
        self.0
            .extend_from_slice(format!("-ERR {text}\r\n").as_bytes());
    }

    fn line(&mut self, text: &str) {
        self.0.extend_from_slice(format!("{text}\r\n").as_bytes());
    }

    fn missing(&mut self, e: Missing) {
        match e {
            Missing::NoSuchMessage => self.err("messaggio inesistente"),
            Missing::Deleted => self.err("messaggio già eliminato"),
        }
    }
}

/// RFC 1939 §5 LIST: sizes of one message or of all those not deleted.
fn list(md: &Maildrop, n: Option<u32>, reply: &mut Reply) {
    match n {
        Some(n) => match md.get(n) {
            Ok(m) => reply.ok(&format!("{n} {}", m.size)),
            Err(e) => reply.missing(e),
        },
        None => {
            let (count, size) = md.stat();
            reply.ok(&format!("{count} messaggi ({size} ottetti)"));
            for (i, m) in md.live() {
                reply.line(&format!("{i} {}", m.size));
            }
            reply.line(".");
        }
    }
}

/// RFC 1939 §7 UIDL: unique-ids of one message or of all those not deleted.
fn uidl(md: &Maildrop, n: Option<u32>, reply: &mut Reply) {
    match n {
        Some(n) => match md.get(n) {
            Ok(m) => reply.ok(&format!("{n} {}", md.unique_id(m))),
            Err(e) => reply.missing(e),
        },
        None => {
            reply.ok("identificativi univoci");
            for (i, m) in md.live() {
                reply.line(&format!("{i} {}", md.unique_id(m)));
            }
            reply.line(".");
        }
    }
}
