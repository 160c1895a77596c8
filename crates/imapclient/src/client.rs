//! [`Client`]: one IMAPS connection to the old server, and the commands the copy needs.
//!
//! Every command waits for its tagged completion (RFC 3501 §2.2.2); the untagged responses
//! that come meanwhile are parsed and used or ignored. Several `UID FETCH` commands of one
//! call are pipelined, a few at a time (RFC 3501 §5.5); a command with a synchronizing literal
//! is sent alone, its literal after the server's `+` (§7.5).

use crate::reader::{ReadBounds, Reader};
use crate::wire::{Code, ListEntry, RespText, Response, Status, Untagged};
use crate::{date, sequence_sets, utf7, Error, Limits, Timeouts};
use net::stream::Stream;
use openssl::ssl::SslConnector;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// At most this many folders from LIST.
const MAX_LIST_ENTRIES: usize = 10_000;
/// The longest sequence set in one `UID FETCH` (RFC 7162 §4 asks clients to keep command
/// lines within 8,192 octets).
const MAX_SET_TEXT: usize = 8000;
/// Commands in flight at once on the connection.
const PIPELINE_DEPTH: usize = 4;
/// Untagged responses accepted per command: this many, plus [`UNTAGGED_PER_ITEM`] for each
/// message (or folder) asked for; more is a flood.
const UNTAGGED_ALLOWANCE: usize = 10_000;
const UNTAGGED_PER_ITEM: usize = 10;
/// A search may name this many UIDs more than the folder held at EXAMINE (messages arrive).
const SEARCH_SLACK: usize = 100_000;
/// And never more than this (40 MB of UIDs).
const MAX_UIDS: usize = 10_000_000;
/// The longest a plain `* SEARCH` line needs per UID: ten digits and a space.
const SEARCH_BYTES_PER_UID: usize = 11;
/// Strings longer than this are sent as literals, not quoted.
const MAX_QUOTED: usize = 1024;
/// RFC 7888 §4: LITERAL- allows non-synchronizing literals up to this size.
const LITERAL_MINUS_MAX: usize = 4096;
/// Characters of the server's text kept in an error.
const MAX_ERROR_TEXT: usize = 300;

/// One folder from LIST (RFC 3501 §7.2.2).
#[derive(Debug, Clone)]
pub struct ListedFolder {
    /// The name exactly as on the wire (after unquoting or from its literal), to EXAMINE it.
    pub name_raw: Vec<u8>,
    /// Decoded from modified UTF-7 (RFC 3501 §5.1.3); when that is not valid, the raw bytes
    /// as UTF-8, lossily.
    pub name: String,
    pub delimiter: Option<char>,
    /// As sent: `\Noselect`, `\Sent`, `\HasNoChildren` …
    pub attributes: Vec<String>,
}

/// What EXAMINE tells of a folder.
#[derive(Debug, Clone)]
pub struct FolderStatus {
    /// Never 0 (RFC 3501 §2.3.1.1: nz-number).
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub exists: u32,
}

/// One message from `UID FETCH (UID FLAGS INTERNALDATE BODY.PEEK[])`.
#[derive(Debug, Clone)]
pub struct FetchedMessage {
    pub uid: u32,
    /// As the server sent them, `\Recent` removed.
    pub flags: Vec<String>,
    /// Unix seconds: the instant INTERNALDATE names (its zone applied).
    pub internal_date: i64,
    /// `BODY[]` exactly as sent, byte for byte.
    pub body: Vec<u8>,
}

/// A connection to an IMAPS server. See the crate's documentation for what is bounded.
pub struct Client {
    stream: Stream,
    reader: Reader,
    timeouts: Timeouts,
    limits: Limits,
    /// The line limit now: [`Limits::max_line`], raised while a plain SEARCH answers.
    line_limit: usize,
    capabilities: Vec<String>,
    /// How many times capabilities came (greeting, CAPABILITY, a `[CAPABILITY …]` code).
    capability_updates: u64,
    /// The number in the last tag sent (`A1`, `A2` …).
    last_tag: u64,
    /// Messages in the examined folder, as the server last said.
    exists: u32,
    /// The greeting was `* PREAUTH`.
    preauthenticated: bool,
    /// An error left the connection out of step with the server: nothing more is sent.
    broken: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("capabilities", &self.capabilities)
            .field("last_tag", &self.last_tag)
            .field("exists", &self.exists)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// A command without its tag, in chunks: the first is sent after the tag, each of the others
/// after a `+` continuation (the chunk before it ends with a synchronizing literal's
/// `{n}\r\n`, RFC 3501 §7.5). The last ends with CRLF.
struct Command {
    /// For logs: never an argument (it may be a password).
    name: &'static str,
    /// For [`Error::Timeout`].
    waiting_for: &'static str,
    chunks: Vec<Vec<u8>>,
}

impl Command {
    fn new(name: &'static str, waiting_for: &'static str, text: &[u8]) -> Command {
        Command {
            name,
            waiting_for,
            chunks: vec![text.to_vec()],
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        match self.chunks.last_mut() {
            Some(chunk) => chunk.extend_from_slice(bytes),
            None => self.chunks.push(bytes.to_vec()),
        }
    }

    /// An astring (RFC 3501 §4.3): quoted when every byte may be (7-bit, no CR, LF or NUL,
    /// not too long), else a literal: `{n+}` when the server takes non-synchronizing
    /// literals (RFC 7888), else `{n}` and the bytes after the server's `+`.
    fn astring(&mut self, value: &[u8], non_synchronizing: bool) {
        let quotable = value.len() <= MAX_QUOTED
            && value
                .iter()
                .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n');
        if quotable {
            let mut quoted = Vec::with_capacity(value.len() + 2);
            quoted.push(b'"');
            for &b in value {
                if b == b'"' || b == b'\\' {
                    quoted.push(b'\\');
                }
                quoted.push(b);
            }
            quoted.push(b'"');
            self.push(&quoted);
        } else if non_synchronizing {
            self.push(format!("{{{}+}}\r\n", value.len()).as_bytes());
            self.push(value);
        } else {
            self.push(format!("{{{}}}\r\n", value.len()).as_bytes());
            self.chunks.push(value.to_vec());
        }
    }

    fn end(mut self) -> Command {
        self.push(b"\r\n");
        self
    }
}

/// A command's `NO` or `BAD`: the connection is still in step.
struct Refusal {
    status: Status,
    text: RespText,
}

impl Refusal {
    /// RFC 5530 codes first: `[UNAVAILABLE]`, `[LIMIT]` (or "too many …") is throttling;
    /// `[AUTHENTICATIONFAILED]`, or any refusal of a login, is the credentials.
    fn into_error(self, login: bool) -> Error {
        let text = describe(&self.text);
        if self.throttled() {
            Error::Unavailable(text)
        } else if login || self.code() == "AUTHENTICATIONFAILED" {
            Error::AuthenticationFailed(text)
        } else {
            Error::Refused(text)
        }
    }

    fn code(&self) -> &str {
        match &self.text.code {
            Some(Code::Other(code)) => code.as_str(),
            _ => "",
        }
    }

    fn throttled(&self) -> bool {
        matches!(self.code(), "UNAVAILABLE" | "LIMIT")
            || String::from_utf8_lossy(&self.text.text)
                .to_lowercase()
                .contains("too many")
    }
}

/// The state of the commands of one [`Client::run`].
struct Run {
    /// Tags sent and not completed, with what their completion is.
    in_flight: VecDeque<(String, &'static str)>,
    refusal: Option<Refusal>,
    last_ok: RespText,
    untagged: usize,
    max_untagged: usize,
}

enum Handled {
    /// A `+`: the server waits for the rest of the command.
    Continuation,
    Other,
}

/// A command's outcome when the connection is still in step: its OK's text, or the refusal.
type Completion = Result<RespText, Refusal>;

/// The server's text, printable and short, with its code: for errors and logs.
fn describe(text: &RespText) -> String {
    let code = match &text.code {
        None => None,
        Some(Code::Capability(_)) => Some("CAPABILITY"),
        Some(Code::UidValidity(_)) => Some("UIDVALIDITY"),
        Some(Code::UidNext(_)) => Some("UIDNEXT"),
        Some(Code::Other(code)) => Some(code.as_str()),
    };
    let words = printable(&text.text);
    match code {
        Some(code) => format!("[{}] {words}", printable(code.as_bytes()))
            .trim_end()
            .to_string(),
        None => words,
    }
}

/// Bytes from the server as text fit for a log or a page: UTF-8 (lossily), no control
/// characters, at most [`MAX_ERROR_TEXT`] characters.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_TEXT)
        .collect()
}

fn fetch_commands(uids: &[u32], items: &str) -> Vec<Command> {
    sequence_sets(uids, MAX_SET_TEXT)
        .into_iter()
        .map(|set| {
            Command::new(
                "UID FETCH",
                "the response to UID FETCH",
                format!("UID FETCH {set} {items}\r\n").as_bytes(),
            )
        })
        .collect()
}

fn listed(entry: ListEntry) -> Result<ListedFolder, Error> {
    let delimiter = match entry.delimiter {
        None => None,
        Some(byte) if byte.is_ascii() => Some(char::from(byte)),
        Some(_) => {
            return Err(Error::Protocol(
                "a hierarchy delimiter that is not ASCII".to_string(),
            ))
        }
    };
    let name = utf7::decode(&entry.name)
        .unwrap_or_else(|| String::from_utf8_lossy(&entry.name).into_owned());
    Ok(ListedFolder {
        name_raw: entry.name,
        name,
        delimiter,
        attributes: entry.attributes,
    })
}

/// A message whose FETCH data may come in more than one response (RFC 3501 §7.4.2 does not
/// forbid it).
struct Partial {
    uid: u32,
    flags: Option<Vec<String>>,
    internal_date: Option<i64>,
    body: Option<Vec<u8>>,
}

impl Client {
    /// Implicit TLS (IMAPS): the TCP connection (within [`Timeouts::connect`]), the TLS
    /// handshake checking the certificate and `host` (within [`Timeouts::connect`] again),
    /// then the greeting: `* OK` or `* PREAUTH` (`* BYE` is [`Error::Unavailable`]), its
    /// `[CAPABILITY …]` remembered.
    pub async fn connect(
        host: &str,
        port: u16,
        connector: &SslConnector,
        timeouts: Timeouts,
        limits: Limits,
    ) -> Result<Client, Error> {
        let tcp =
            match tokio::time::timeout(timeouts.connect, TcpStream::connect((host, port))).await {
                Err(_) => {
                    return Err(Error::Connect(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no TCP connection to {host}:{port} within {} s",
                            timeouts.connect.as_secs_f32()
                        ),
                    )))
                }
                Ok(Err(e)) => return Err(Error::Connect(e)),
                Ok(Ok(tcp)) => tcp,
            };
        // Commands are small and each waits for its answer: no Nagle delay.
        tcp.set_nodelay(true).map_err(Error::Io)?;
        let handshake = Stream::connect_tls(tcp, connector, host);
        let stream = match tokio::time::timeout(timeouts.connect, handshake).await {
            Err(_) => return Err(Error::Timeout("the TLS handshake")),
            Ok(Err(e)) => return Err(Error::Tls(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        let mut client = Client {
            stream,
            reader: Reader::default(),
            timeouts,
            limits,
            line_limit: limits.max_line,
            capabilities: Vec::new(),
            capability_updates: 0,
            last_tag: 0,
            exists: 0,
            preauthenticated: false,
            broken: false,
        };
        // RFC 3501 §7.1: the greeting is an untagged OK, PREAUTH or BYE.
        match client.read("the server's greeting").await? {
            Response::Untagged(Untagged::Status {
                status: status @ (Status::Ok | Status::Preauth),
                text,
            }) => {
                client.note_code(text.code.as_ref());
                client.preauthenticated = status == Status::Preauth;
                tracing::debug!(greeting = %describe(&text), "IMAP server greeted");
            }
            Response::Untagged(Untagged::Status {
                status: Status::Bye,
                text,
            }) => return Err(Error::Unavailable(describe(&text))),
            _ => {
                return Err(Error::Protocol(
                    "the greeting is not * OK, * PREAUTH or * BYE".to_string(),
                ))
            }
        }
        Ok(client)
    }

    /// The server's capabilities, upper-cased: from the greeting, the login or CAPABILITY.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Whether a literal of `len` bytes may be sent without waiting for `+` (RFC 7888).
    fn non_synchronizing(&self, len: usize) -> bool {
        self.has("LITERAL+") || (self.has("LITERAL-") && len <= LITERAL_MINUS_MAX)
    }

    /// LOGIN (RFC 3501 §6.2.3), or AUTHENTICATE PLAIN (RFC 4616, with RFC 4959's initial
    /// response when offered) when the server says LOGINDISABLED or answers LOGIN with BAD.
    /// Asks CAPABILITY first if the greeting had none, and after, if the OK had none. A
    /// `NO` or `BAD` is [`Error::AuthenticationFailed`] (unless it says the server is
    /// throttling); nothing is retried with the same password. The password is never logged.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if self.preauthenticated {
            return Ok(());
        }
        if self.capability_updates == 0 {
            self.capability().await?;
        }
        let plain = self.has("AUTH=PLAIN");
        let updates_before = self.capability_updates;
        let completion = if self.has("LOGINDISABLED") {
            if !plain {
                return Err(Error::Refused(
                    "the server refuses LOGIN (LOGINDISABLED) and offers no AUTHENTICATE PLAIN"
                        .to_string(),
                ));
            }
            self.authenticate_plain(user, password).await?
        } else {
            match self.login_command(user, password).await? {
                Err(refusal) if refusal.status == Status::Bad && plain && !refusal.throttled() => {
                    self.authenticate_plain(user, password).await?
                }
                completion => completion,
            }
        };
        completion.map_err(|refusal| refusal.into_error(true))?;
        // RFC 3501 §6.2.3: capabilities may change once authenticated.
        if self.capability_updates == updates_before {
            self.capability().await?;
        }
        Ok(())
    }

    async fn login_command(&mut self, user: &str, password: &str) -> Result<Completion, Error> {
        let mut command = Command::new("LOGIN", "the response to LOGIN", b"LOGIN ");
        command.astring(user.as_bytes(), self.non_synchronizing(user.len()));
        command.push(b" ");
        command.astring(password.as_bytes(), self.non_synchronizing(password.len()));
        self.run(vec![command.end()], 0, |_| Ok(())).await
    }

    async fn authenticate_plain(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<Completion, Error> {
        // RFC 4616: authorization identity (empty), NUL, user, NUL, password.
        let mut message = Vec::with_capacity(user.len() + password.len() + 2);
        message.push(0);
        message.extend_from_slice(user.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        let response = openssl::base64::encode_block(&message);
        let waiting_for = "the response to AUTHENTICATE";
        let command = if self.has("SASL-IR") {
            Command::new(
                "AUTHENTICATE PLAIN",
                waiting_for,
                format!("AUTHENTICATE PLAIN {response}\r\n").as_bytes(),
            )
        } else {
            Command {
                name: "AUTHENTICATE PLAIN",
                waiting_for,
                chunks: vec![
                    b"AUTHENTICATE PLAIN\r\n".to_vec(),
                    format!("{response}\r\n").into_bytes(),
                ],
            }
        };
        self.run(vec![command], 0, |_| Ok(())).await
    }

    async fn capability(&mut self) -> Result<(), Error> {
        let command = Command::new(
            "CAPABILITY",
            "the response to CAPABILITY",
            b"CAPABILITY\r\n",
        );
        self.run(vec![command], 0, |_| Ok(()))
            .await?
            .map(drop)
            .map_err(|refusal| refusal.into_error(false))
    }

    /// `LIST "" "*"` (RFC 3501 §6.3.8): every folder, at most 10,000 (more is
    /// [`Error::Protocol`]); a name listed twice is kept once.
    pub async fn list(&mut self) -> Result<Vec<ListedFolder>, Error> {
        let mut folders = Vec::new();
        let mut names = HashSet::new();
        let command = Command::new("LIST", "the response to LIST", b"LIST \"\" \"*\"\r\n");
        self.run(vec![command], MAX_LIST_ENTRIES, |untagged| {
            if let Untagged::List(entry) = untagged {
                if !names.insert(entry.name.clone()) {
                    return Ok(());
                }
                if folders.len() >= MAX_LIST_ENTRIES {
                    return Err(Error::Protocol(format!(
                        "more than {MAX_LIST_ENTRIES} folders"
                    )));
                }
                folders.push(listed(entry)?);
            }
            Ok(())
        })
        .await?
        .map_err(|refusal| refusal.into_error(false))?;
        Ok(folders)
    }

    /// EXAMINE (RFC 3501 §6.3.2): the folder opened read-only, so nothing changes at the
    /// source. No UIDVALIDITY, UIDVALIDITY 0 or two different ones is [`Error::Protocol`].
    pub async fn examine(&mut self, name_raw: &[u8]) -> Result<FolderStatus, Error> {
        self.exists = 0;
        let mut command = Command::new("EXAMINE", "the response to EXAMINE", b"EXAMINE ");
        command.astring(name_raw, self.non_synchronizing(name_raw.len()));
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut conflicting = false;
        self.run(vec![command.end()], 0, |untagged| {
            if let Untagged::Status {
                status: Status::Ok,
                text,
            } = untagged
            {
                match text.code {
                    Some(Code::UidValidity(v)) => {
                        conflicting |= uidvalidity.is_some_and(|earlier| earlier != v);
                        uidvalidity.get_or_insert(v);
                    }
                    Some(Code::UidNext(n)) => uidnext = Some(n),
                    _ => {}
                }
            }
            Ok(())
        })
        .await?
        .map_err(|refusal| refusal.into_error(false))?;
        let uidvalidity = match uidvalidity {
            _ if conflicting => "two different UIDVALIDITY",
            None => "no UIDVALIDITY",
            Some(0) => "UIDVALIDITY 0",
            Some(v) => {
                return Ok(FolderStatus {
                    uidvalidity: v,
                    uidnext: uidnext.filter(|&n| n != 0),
                    exists: self.exists,
                })
            }
        };
        self.broken = true;
        Err(Error::Protocol(format!("EXAMINE gave {uidvalidity}")))
    }

    /// `UID SEARCH ALL` (RFC 3501 §6.4.4), or `UID SEARCH RETURN (ALL) ALL` when ESEARCH is
    /// offered (RFC 4731): the UIDs ascending, each once. More UIDs than the folder can hold
    /// (its EXISTS + 100,000, at most 10 million) is [`Error::Protocol`]; so is UID 0. A
    /// plain `* SEARCH` line may be longer than [`Limits::max_line`]: 11 bytes per UID,
    /// within [`Limits::max_literal`].
    pub async fn uid_search_all(&mut self) -> Result<Vec<u32>, Error> {
        let max_uids = usize::try_from(self.exists)
            .unwrap_or(usize::MAX)
            .saturating_add(SEARCH_SLACK)
            .min(MAX_UIDS);
        let too_many = || Error::Protocol("the search gave more UIDs than the folder holds".into());
        let esearch = self.has("ESEARCH");
        let tag = format!("A{}", self.last_tag + 1);
        let command = if esearch {
            b"UID SEARCH RETURN (ALL) ALL\r\n".as_slice()
        } else {
            self.line_limit = max_uids
                .saturating_mul(SEARCH_BYTES_PER_UID)
                .min(self.limits.max_literal)
                .max(self.limits.max_line);
            b"UID SEARCH ALL\r\n".as_slice()
        };
        let command = Command::new("UID SEARCH", "the response to UID SEARCH", command);
        let mut uids: Vec<u32> = Vec::new();
        let outcome = self
            .run(vec![command], 0, |untagged| {
                match untagged {
                    Untagged::Search(found) => {
                        if uids.len().saturating_add(found.len()) > max_uids {
                            return Err(too_many());
                        }
                        uids.extend(found);
                    }
                    Untagged::Esearch(result) => {
                        if result.tag.as_deref().is_some_and(|t| t != tag.as_bytes()) {
                            tracing::warn!("ESEARCH for another command ignored");
                            return Ok(());
                        }
                        if !result.uid {
                            return Err(Error::Protocol(
                                "ESEARCH without UID answering UID SEARCH".to_string(),
                            ));
                        }
                        for (low, high) in result.all {
                            let count = usize::try_from(high.saturating_sub(low))
                                .unwrap_or(usize::MAX)
                                .saturating_add(1);
                            if uids.len().saturating_add(count) > max_uids {
                                return Err(too_many());
                            }
                            uids.extend(low..=high);
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
            .await;
        self.line_limit = self.limits.max_line;
        outcome?.map_err(|refusal| refusal.into_error(false))?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// `UID FETCH <set> (UID RFC822.SIZE)` for `uids` (several commands, pipelined, when the
    /// set is long): `(uid, size)` ascending by UID, for the UIDs asked for that the server
    /// answered. A size without its UID is [`Error::Protocol`].
    pub async fn uid_fetch_sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u64)>, Error> {
        let commands = fetch_commands(uids, "(UID RFC822.SIZE)");
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let requested: HashSet<u32> = uids.iter().copied().collect();
        let mut sizes = BTreeMap::new();
        let mut unrequested = 0usize;
        self.run(commands, requested.len(), |untagged| {
            let Untagged::Fetch { items, .. } = untagged else {
                return Ok(());
            };
            match (items.uid, items.rfc822_size) {
                (None, Some(_)) => Err(Error::Protocol(
                    "a FETCH response with RFC822.SIZE but no UID".to_string(),
                )),
                (Some(uid), Some(size)) if requested.contains(&uid) => {
                    sizes.entry(uid).or_insert(size);
                    Ok(())
                }
                (Some(_), Some(_)) => {
                    unrequested += 1;
                    Ok(())
                }
                // A flag update.
                (_, None) => Ok(()),
            }
        })
        .await?
        .map_err(|refusal| refusal.into_error(false))?;
        if unrequested > 0 {
            tracing::warn!(unrequested, "sizes of UIDs not asked for ignored");
        }
        Ok(sizes.into_iter().collect())
    }

    /// `UID FETCH <set> (UID FLAGS INTERNALDATE BODY.PEEK[])` (RFC 3501 §6.4.5, §6.4.8):
    /// `PEEK`, so `\Seen` is not set at the source. The messages in the order their data
    /// came. Responses for UIDs not asked for are ignored (and counted in a warning); a UID
    /// sent twice keeps its first body; a FETCH with message data but no UID is
    /// [`Error::Protocol`], so is an INTERNALDATE that is no date; a UID asked for and not
    /// answered in full (body, flags and date) is simply absent. Other untagged responses in
    /// between (EXISTS, EXPUNGE, flag updates) are tolerated. The bodies of one call are at
    /// most twice [`Limits::max_literal`] together (more is [`Error::TooLarge`]).
    pub async fn uid_fetch_messages(&mut self, uids: &[u32]) -> Result<Vec<FetchedMessage>, Error> {
        let commands = fetch_commands(uids, "(UID FLAGS INTERNALDATE BODY.PEEK[])");
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let requested: HashSet<u32> = uids.iter().copied().collect();
        let body_limit = self.limits.max_literal.saturating_mul(2);
        let mut received: Vec<Partial> = Vec::new();
        let mut index: HashMap<u32, usize> = HashMap::new();
        let mut body_bytes = 0usize;
        let mut unrequested = 0usize;
        let mut repeated = 0usize;
        self.run(commands, requested.len(), |untagged| {
            let Untagged::Fetch { items, .. } = untagged else {
                return Ok(());
            };
            let Some(uid) = items.uid else {
                if items.body.is_some()
                    || items.internal_date.is_some()
                    || items.rfc822_size.is_some()
                {
                    return Err(Error::Protocol(
                        "a FETCH response with message data but no UID".to_string(),
                    ));
                }
                return Ok(()); // a flag update of some message
            };
            if !requested.contains(&uid) {
                if items.body.is_some() {
                    unrequested += 1;
                }
                return Ok(());
            }
            let at = *index.entry(uid).or_insert_with(|| {
                received.push(Partial {
                    uid,
                    flags: None,
                    internal_date: None,
                    body: None,
                });
                received.len() - 1
            });
            let Some(message) = received.get_mut(at) else {
                return Ok(());
            };
            let with_body = items.body.is_some();
            if let Some(body) = items.body {
                if message.body.is_some() {
                    repeated += 1;
                    return Ok(());
                }
                body_bytes = body_bytes.saturating_add(body.len());
                if body_bytes > body_limit {
                    return Err(Error::TooLarge { limit: body_limit });
                }
                message.body = Some(body);
            }
            // The flags that come with the body, else the first sent.
            if items.flags.is_some() && (with_body || message.flags.is_none()) {
                message.flags = items.flags;
            }
            if let (None, Some(text)) = (message.internal_date, items.internal_date) {
                let instant = date::parse_internal_date(&text).ok_or_else(|| {
                    Error::Protocol(format!("INTERNALDATE \"{}\" is no date", printable(&text)))
                })?;
                message.internal_date = Some(instant);
            }
            Ok(())
        })
        .await?
        .map_err(|refusal| refusal.into_error(false))?;

        let mut messages = Vec::with_capacity(received.len());
        let mut incomplete = 0usize;
        for message in received {
            match (message.body, message.flags, message.internal_date) {
                (Some(body), Some(flags), Some(internal_date)) => messages.push(FetchedMessage {
                    uid: message.uid,
                    flags: flags
                        .into_iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .collect(),
                    internal_date,
                    body,
                }),
                _ => incomplete += 1,
            }
        }
        if unrequested + repeated + incomplete > 0 {
            tracing::warn!(
                unrequested,
                repeated,
                incomplete,
                "FETCH responses ignored: for UIDs not asked for, repeated, or without body, \
                 flags or date"
            );
        }
        Ok(messages)
    }

    /// LOGOUT (RFC 3501 §6.1.3), then the TLS close; errors are ignored.
    pub async fn logout(mut self) {
        let idle = self.timeouts.idle;
        if !self.broken {
            self.last_tag += 1;
            let tag = format!("A{}", self.last_tag);
            let goodbye = async {
                self.write(format!("{tag} LOGOUT\r\n").as_bytes(), "LOGOUT to be sent")
                    .await?;
                // The BYE, then the completion; a few others at most.
                for _ in 0..100 {
                    if let Response::Tagged { tag: done, .. } =
                        self.read("the response to LOGOUT").await?
                    {
                        if done == tag.as_bytes() {
                            break;
                        }
                    }
                }
                Ok::<(), Error>(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(idle, goodbye).await {
                tracing::debug!(error = %e, "LOGOUT");
            }
        }
        let _ = tokio::time::timeout(idle, self.stream.shutdown()).await;
    }

    fn note_code(&mut self, code: Option<&Code>) {
        if let Some(Code::Capability(capabilities)) = code {
            self.set_capabilities(capabilities.clone());
        }
    }

    fn set_capabilities(&mut self, capabilities: Vec<String>) {
        self.capabilities = capabilities;
        self.capability_updates += 1;
    }

    async fn read(&mut self, waiting_for: &'static str) -> Result<Response, Error> {
        let bounds = ReadBounds {
            line_limit: self.line_limit,
            literal_limit: self.limits.max_literal,
            idle: self.timeouts.idle,
            waiting_for,
        };
        self.reader.next(&mut self.stream, bounds).await
    }

    async fn write(&mut self, bytes: &[u8], waiting_for: &'static str) -> Result<(), Error> {
        let send = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeouts.idle, send).await {
            Err(_) => Err(Error::Timeout(waiting_for)),
            Ok(Err(e)) => Err(Error::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends `commands` (at most [`PIPELINE_DEPTH`] in flight) and reads until each is
    /// complete, giving every untagged response to `on_untagged` (after noting EXISTS,
    /// EXPUNGE and capabilities); a BYE ends it. `Ok(Err(refusal))`: the first NO or BAD,
    /// after which no more commands are sent but those in flight are waited for, so the
    /// connection stays in step. `Err`: the connection is unusable from then on.
    /// `expected` is how many messages (or folders) are asked for, which bounds the untagged
    /// responses accepted.
    async fn run<F>(
        &mut self,
        commands: Vec<Command>,
        expected: usize,
        mut on_untagged: F,
    ) -> Result<Completion, Error>
    where
        F: FnMut(Untagged) -> Result<(), Error>,
    {
        if self.broken {
            return Err(Error::Protocol(
                "the connection is unusable after an earlier error".to_string(),
            ));
        }
        let outcome = self
            .run_commands(commands, expected, &mut on_untagged)
            .await;
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    async fn run_commands<F>(
        &mut self,
        commands: Vec<Command>,
        expected: usize,
        on_untagged: &mut F,
    ) -> Result<Completion, Error>
    where
        F: FnMut(Untagged) -> Result<(), Error>,
    {
        let mut run = Run {
            in_flight: VecDeque::new(),
            refusal: None,
            last_ok: RespText::default(),
            untagged: 0,
            max_untagged: UNTAGGED_ALLOWANCE
                .saturating_add(expected.saturating_mul(UNTAGGED_PER_ITEM)),
        };
        let mut commands = commands.into_iter().peekable();
        loop {
            while let Some(command) = commands.peek() {
                // A command with a synchronizing literal goes alone, so a `+` is its own.
                let alone = command.chunks.len() > 1;
                let room = if alone {
                    run.in_flight.is_empty()
                } else {
                    run.in_flight.len() < PIPELINE_DEPTH
                };
                if !room || run.refusal.is_some() {
                    break;
                }
                if let Some(command) = commands.next() {
                    self.send(command, &mut run, on_untagged).await?;
                }
            }
            let Some(&(_, waiting_for)) = run.in_flight.front() else {
                if run.refusal.is_some() || commands.peek().is_none() {
                    break;
                }
                continue;
            };
            let response = self.read(waiting_for).await?;
            if let Handled::Continuation = self.handle(response, &mut run, on_untagged)? {
                return Err(Error::Protocol(
                    "a continuation request when none was due".to_string(),
                ));
            }
        }
        Ok(match run.refusal {
            Some(refusal) => Err(refusal),
            None => Ok(run.last_ok),
        })
    }

    /// Sends one command: its first chunk after a new tag, each further one after the
    /// server's `+`; a completion instead of the `+` ends the command there.
    async fn send<F>(
        &mut self,
        command: Command,
        run: &mut Run,
        on_untagged: &mut F,
    ) -> Result<(), Error>
    where
        F: FnMut(Untagged) -> Result<(), Error>,
    {
        self.last_tag += 1;
        let tag = format!("A{}", self.last_tag);
        tracing::debug!(tag, command = command.name, "IMAP command");
        run.in_flight.push_back((tag.clone(), command.waiting_for));
        let mut chunks = command.chunks.into_iter();
        let mut first = format!("{tag} ").into_bytes();
        first.extend(chunks.next().unwrap_or_default());
        self.write(&first, "the server to take a command").await?;
        for chunk in chunks {
            loop {
                let response = self.read(command.waiting_for).await?;
                if let Handled::Continuation = self.handle(response, run, on_untagged)? {
                    break;
                }
                if !run.in_flight.iter().any(|(t, _)| *t == tag) {
                    return Ok(()); // refused before its literal
                }
            }
            self.write(&chunk, "the server to take a command").await?;
        }
        Ok(())
    }

    fn handle<F>(
        &mut self,
        response: Response,
        run: &mut Run,
        on_untagged: &mut F,
    ) -> Result<Handled, Error>
    where
        F: FnMut(Untagged) -> Result<(), Error>,
    {
        match response {
            Response::Continuation(_) => Ok(Handled::Continuation),
            Response::Tagged { tag, status, text } => {
                let Some(at) = run.in_flight.iter().position(|(t, _)| t.as_bytes() == tag) else {
                    return Err(Error::Protocol(format!(
                        "a completion tagged {} for no command in flight",
                        printable(&tag)
                    )));
                };
                run.in_flight.remove(at);
                self.note_code(text.code.as_ref());
                match status {
                    Status::Ok => run.last_ok = text,
                    Status::No | Status::Bad => {
                        run.refusal.get_or_insert(Refusal { status, text });
                    }
                    Status::Preauth | Status::Bye => {
                        return Err(Error::Protocol("a tagged PREAUTH or BYE".to_string()))
                    }
                }
                Ok(Handled::Other)
            }
            Response::Untagged(untagged) => {
                run.untagged += 1;
                if run.untagged > run.max_untagged {
                    return Err(Error::Protocol(format!(
                        "more than {} untagged responses to one command",
                        run.max_untagged
                    )));
                }
                match &untagged {
                    // RFC 3501 §7.1.5: the server is closing the connection.
                    Untagged::Status {
                        status: Status::Bye,
                        text,
                    } => return Err(Error::Unavailable(describe(text))),
                    Untagged::Status {
                        status: status @ (Status::No | Status::Bad),
                        text,
                    } => {
                        tracing::warn!(?status, text = %describe(text), "IMAP server warning");
                    }
                    Untagged::Status { text, .. } => self.note_code(text.code.as_ref()),
                    Untagged::Capability(capabilities) => {
                        self.set_capabilities(capabilities.clone());
                    }
                    Untagged::Exists(n) => self.exists = *n,
                    Untagged::Expunge(_) => self.exists = self.exists.saturating_sub(1),
                    _ => {}
                }
                on_untagged(untagged)?;
                Ok(Handled::Other)
            }
        }
    }
}
