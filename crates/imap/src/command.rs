//! IMAP commands (RFC 9051 §6, RFC 3501 §6 and the extensions Certa announces), parsed
//! from one complete command. Pure: no I/O, never panics, any input gives a command or a
//! [`SyntaxError`] (answered `BAD`).

use crate::wire::{Cursor, Result, SyntaxError};

/// A sequence set (RFC 9051 §9 `sequence-set`); `u32::MAX` stands for `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(u64, u64)>);

/// `*` in a set: wider than any number a client can write (4294967295 is a UID, not `*`).
pub const STAR: u64 = u64::MAX;

impl SeqSet {
    pub fn parse(c: &mut Cursor<'_>) -> Result<SeqSet> {
        let mut ranges = vec![];
        loop {
            let a = seq_number(c)?;
            let b = if c.eat(b':') { seq_number(c)? } else { a };
            ranges.push((a.min(b), a.max(b)));
            if !c.eat(b',') {
                return Ok(SeqSet(ranges));
            }
            if ranges.len() > 10_000 {
                return Err(SyntaxError("sequence set too long".into()));
            }
        }
    }

    /// Whether `n` is in the set, `*` being `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        let (n, max) = (u64::from(n), u64::from(max));
        self.0.iter().any(|&(a, b)| {
            let a = if a == STAR { max } else { a };
            let b = if b == STAR { max } else { b };
            n >= a.min(b) && n <= a.max(b)
        })
    }
}

fn seq_number(c: &mut Cursor<'_>) -> Result<u64> {
    if c.eat(b'*') {
        return Ok(STAR);
    }
    let n = c.nz_number()?;
    u32::try_from(n)
        .map(u64::from)
        .map_err(|_| SyntaxError("number out of range".into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Section {
    /// `BODY[]` or `BODY[1.2]`: the whole message or a part's body.
    Part(Vec<u32>),
    Header(Vec<u32>),
    HeaderFields {
        path: Vec<u32>,
        not: bool,
        fields: Vec<String>,
    },
    Text(Vec<u32>),
    Mime(Vec<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    BodyStructure,
    /// `BODY` without a section: the structure without extension data.
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    ModSeq,
    BodySection {
        section: Section,
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    Binary {
        path: Vec<u32>,
        partial: Option<(u32, u32)>,
        peek: bool,
    },
    BinarySize(Vec<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    SeqSet(SeqSet),
    Uid(SeqSet),
    Flag(String, bool),
    Keyword(String, bool),
    New,
    Old,
    Recent,
    Header(String, String),
    Body(String),
    Text(String),
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    ModSeq(u64),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    /// RFC 5267 §4: the display name of the first From address, or its address.
    DisplayFrom,
    /// RFC 5267 §4: the same of the first To address.
    DisplayTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SeqSet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Login {
        user: Vec<u8>,
        password: Vec<u8>,
    },
    Enable(Vec<String>),
    Id,
    Namespace,
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<QresyncParams>,
    },
    Create(String),
    Delete(String),
    Rename(String, String),
    Subscribe(String),
    Unsubscribe(String),
    List {
        reference: String,
        patterns: Vec<String>,
        select: Vec<String>,
        returns: Vec<String>,
        status: Vec<String>,
        lsub: bool,
    },
    Status {
        mailbox: String,
        items: Vec<String>,
    },
    Append(AppendCommand),
    GetQuota(String),
    GetQuotaRoot(String),
    SetQuota,
    Check,
    Close,
    Unselect,
    Expunge(Option<SeqSet>),
    Search {
        uid: bool,
        returns: Option<Vec<String>>,
        key: SearchKey,
    },
    Sort {
        uid: bool,
        returns: Option<Vec<String>>,
        criteria: Vec<(SortKey, bool)>,
        key: SearchKey,
    },
    Thread {
        uid: bool,
        algorithm: crate::thread::Algorithm,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SeqSet,
        atts: Vec<FetchAtt>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SeqSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SeqSet,
        mailbox: String,
        remove: bool,
    },
    Idle,
    /// RFC 4978: the mechanism, upper-cased.
    Compress(String),
}

/// APPEND's arguments (RFC 9051 §6.3.12): one message, or several for MULTIAPPEND
/// (RFC 3502 §6.3.11), appended all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendCommand {
    pub mailbox: String,
    pub messages: Vec<AppendMessage>,
}

/// One message of an APPEND with its flags and internal date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    pub date: Option<String>,
    pub message: Vec<u8>,
}

impl AppendCommand {
    /// The bytes of all its messages.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(|m| m.message.len()).sum()
    }
}

/// A command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub command: Command,
}

/// The tag of a command, for answering one that does not parse.
pub fn tag_of(buf: &[u8]) -> Option<String> {
    Cursor::new(buf).tag().ok()
}

/// Parses one complete command (lines and literals).
pub fn parse(buf: &[u8]) -> std::result::Result<Tagged, (Option<String>, SyntaxError)> {
    let mut c = Cursor::new(buf);
    let tag = c.tag().map_err(|e| (None, e))?;
    let command = (|| {
        c.sp()?;
        let name = c.atom()?.to_ascii_uppercase();
        let cmd = command(&mut c, &name)?;
        c.end()?;
        Ok(cmd)
    })()
    .map_err(|e| (Some(tag.clone()), e))?;
    Ok(Tagged { tag, command })
}

fn command(c: &mut Cursor<'_>, name: &str) -> Result<Command> {
    Ok(match name {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "NAMESPACE" => Command::Namespace,
        "IDLE" => Command::Idle,
        "EXPUNGE" => Command::Expunge(None),
        "AUTHENTICATE" => {
            c.sp()?;
            let mechanism = c.atom()?.to_ascii_uppercase();
            let initial = if c.eat(b' ') {
                let a = c.take_rest();
                Some(a)
            } else {
                None
            };
            Command::Authenticate { mechanism, initial }
        }
        "LOGIN" => {
            c.sp()?;
            let user = c.astring()?;
            c.sp()?;
            let password = c.astring()?;
            Command::Login { user, password }
        }
        "ENABLE" => {
            let mut caps = vec![];
            while c.eat(b' ') {
                caps.push(c.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return Err(SyntaxError("ENABLE needs a capability".into()));
            }
            Command::Enable(caps)
        }
        "ID" => {
            c.sp()?;
            // RFC 2971: NIL or a list of field/value pairs; we read and ignore it.
            if c.eat(b'(') {
                while !c.eat(b')') {
                    if c.at_end() {
                        return Err(SyntaxError("unterminated ID list".into()));
                    }
                    c.eat(b' ');
                    if c.peek() == Some(b'N') || c.peek() == Some(b'n') {
                        c.atom()?;
                    } else {
                        c.string()?;
                    }
                }
            } else {
                c.atom()?;
            }
            Command::Id
        }
        "SELECT" | "EXAMINE" => {
            c.sp()?;
            let mailbox = c.mailbox(false)?;
            let (mut condstore, mut qresync) = (false, None);
            if c.eat(b' ') {
                c.expect(b'(')?;
                loop {
                    let p = c.atom()?.to_ascii_uppercase();
                    match p.as_str() {
                        "CONDSTORE" => condstore = true,
                        "QRESYNC" => {
                            c.sp()?;
                            qresync = Some(qresync_params(c)?);
                        }
                        _ => return Err(SyntaxError(format!("unknown SELECT parameter {p}"))),
                    }
                    if c.eat(b')') {
                        break;
                    }
                    c.sp()?;
                }
            }
            Command::Select {
                mailbox,
                read_only: name == "EXAMINE",
                condstore,
                qresync,
            }
        }
        "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETQUOTAROOT" | "GETQUOTA" => {
            c.sp()?;
            let m = c.mailbox(false)?;
            if name == "CREATE" && c.eat(b' ') {
                c.atom_list_any()?; // RFC 6154 CREATE-SPECIAL-USE options: not supported, ignored
            }
            match name {
                "CREATE" => Command::Create(m),
                "DELETE" => Command::Delete(m),
                "SUBSCRIBE" => Command::Subscribe(m),
                "UNSUBSCRIBE" => Command::Unsubscribe(m),
                "GETQUOTA" => Command::GetQuota(m),
                _ => Command::GetQuotaRoot(m),
            }
        }
        "SETQUOTA" => {
            let _ = c.take_rest();
            Command::SetQuota
        }
        "RENAME" => {
            c.sp()?;
            let a = c.mailbox(false)?;
            c.sp()?;
            let b = c.mailbox(false)?;
            Command::Rename(a, b)
        }
        "LIST" | "LSUB" => list(c, name == "LSUB")?,
        "STATUS" => {
            c.sp()?;
            let mailbox = c.mailbox(false)?;
            c.sp()?;
            let items = c.atom_list_any()?;
            Command::Status { mailbox, items }
        }
        "APPEND" => append(c)?,
        "COMPRESS" => {
            c.sp()?;
            Command::Compress(c.atom()?.to_ascii_uppercase())
        }
        "SEARCH" => search_command(c, false)?,
        "FETCH" => fetch(c, false)?,
        "STORE" => store(c, false)?,
        "COPY" | "MOVE" => copy(c, false, name == "MOVE")?,
        "SORT" => sort(c, false)?,
        "THREAD" => thread(c, false)?,
        "UID" => {
            c.sp()?;
            let sub = c.atom()?.to_ascii_uppercase();
            match sub.as_str() {
                "SEARCH" => search_command(c, true)?,
                "FETCH" => fetch(c, true)?,
                "STORE" => store(c, true)?,
                "COPY" | "MOVE" => copy(c, true, sub == "MOVE")?,
                "SORT" => sort(c, true)?,
                "THREAD" => thread(c, true)?,
                "EXPUNGE" => {
                    c.sp()?;
                    Command::Expunge(Some(SeqSet::parse(c)?))
                }
                _ => return Err(SyntaxError(format!("unknown UID command {sub}"))),
            }
        }
        _ => return Err(SyntaxError(format!("unknown command {name}"))),
    })
}

impl Cursor<'_> {
    /// The rest of the command, as bytes.
    fn take_rest(&mut self) -> Vec<u8> {
        let r = self.rest().to_vec();
        while !self.at_end() {
            self.eat_any();
        }
        r
    }

    fn eat_any(&mut self) {
        let _ = self.peek().map(|b| self.eat(b));
    }

    /// `(atom atom ...)`, upper-cased.
    fn atom_list_any(&mut self) -> Result<Vec<String>> {
        Ok(self
            .atom_list()?
            .into_iter()
            .map(|a| a.to_ascii_uppercase())
            .collect())
    }
}

fn qresync_params(c: &mut Cursor<'_>) -> Result<QresyncParams> {
    // RFC 7162 §3.2.5: (uidvalidity modseq [known-uids [seq-match-data]])
    c.expect(b'(')?;
    let uidvalidity = u32::try_from(c.nz_number()?)
        .map_err(|_| SyntaxError("UIDVALIDITY out of range".into()))?;
    c.sp()?;
    let modseq = c.number()?;
    let mut known_uids = None;
    if c.eat(b' ') {
        if c.peek() != Some(b'(') {
            known_uids = Some(SeqSet::parse(c)?);
            c.eat(b' ');
        }
        if c.eat(b'(') {
            SeqSet::parse(c)?;
            c.sp()?;
            SeqSet::parse(c)?;
            c.expect(b')')?;
        }
    }
    c.expect(b')')?;
    Ok(QresyncParams {
        uidvalidity,
        modseq,
        known_uids,
    })
}

fn list(c: &mut Cursor<'_>, lsub: bool) -> Result<Command> {
    c.sp()?;
    let mut select = vec![];
    if !lsub && c.peek() == Some(b'(') {
        select = c.atom_list_any()?;
        for o in &mut select {
            o.make_ascii_uppercase();
            // RFC 5258 §3.1 and RFC 6154 §3: the selection options we know.
            if !matches!(
                o.as_str(),
                "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE"
            ) {
                return Err(SyntaxError(format!(
                    "opzione di selezione sconosciuta: {o}"
                )));
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH qualifies another option; alone it is an error.
        if select.iter().any(|o| o == "RECURSIVEMATCH")
            && !select
                .iter()
                .any(|o| o != "RECURSIVEMATCH" && o != "REMOTE")
        {
            return Err(SyntaxError("RECURSIVEMATCH senza altra opzione".into()));
        }
        c.sp()?;
    }
    let reference = c
        .mailbox(false)
        .or_else(|_| Ok::<_, SyntaxError>(String::new()))?;
    c.sp()?;
    let mut patterns = vec![];
    if !lsub && c.eat(b'(') {
        loop {
            patterns.push(c.mailbox(true)?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        patterns.push(c.mailbox(true)?);
    }
    let mut returns = vec![];
    let mut status = vec![];
    if !lsub && c.eat(b' ') {
        let kw = c.atom()?.to_ascii_uppercase();
        if kw != "RETURN" {
            return Err(SyntaxError("expected RETURN".into()));
        }
        c.sp()?;
        c.expect(b'(')?;
        while !c.eat(b')') {
            c.eat(b' ');
            let opt = c.atom()?.to_ascii_uppercase();
            match opt.as_str() {
                "STATUS" => {
                    c.sp()?;
                    status = c.atom_list_any()?;
                }
                "SUBSCRIBED" | "CHILDREN" | "SPECIAL-USE" => {}
                _ => return Err(SyntaxError(format!("opzione RETURN sconosciuta: {opt}"))),
            }
            returns.push(opt);
        }
    }
    Ok(Command::List {
        reference,
        patterns,
        select,
        returns,
        status,
        lsub,
    })
}

/// RFC 3502 §6.3.11: `APPEND mailbox 1*(SP [flag-list SP] [date-time SP] literal)`.
fn append(c: &mut Cursor<'_>) -> Result<Command> {
    c.sp()?;
    let mailbox = c.mailbox(false)?;
    let mut messages = vec![];
    while c.eat(b' ') {
        let mut flags = vec![];
        if c.peek() == Some(b'(') {
            flags = c.atom_list()?;
            c.sp()?;
        }
        let mut date = None;
        if c.peek() == Some(b'"') {
            date = Some(String::from_utf8_lossy(&c.string()?).into_owned());
            c.sp()?;
        }
        let message = c.literal()?;
        messages.push(AppendMessage {
            flags,
            date,
            message,
        });
    }
    if messages.is_empty() {
        return Err(SyntaxError("APPEND needs a message".into()));
    }
    Ok(Command::Append(AppendCommand { mailbox, messages }))
}

/// `RETURN (…)` of SEARCH (RFC 4731 ESEARCH) and SORT (RFC 5267 ESORT): MIN, MAX, ALL and
/// COUNT; any other option is an error (RFC 4466 §2.6.1: we announce no other, so SAVE
/// and PARTIAL are unknown too).
fn returns(c: &mut Cursor<'_>) -> Result<Option<Vec<String>>> {
    let save = c.rest();
    if save.len() >= 6 && save[..6].eq_ignore_ascii_case(b"RETURN") {
        c.atom()?;
        c.sp()?;
        let r = c.atom_list_any()?;
        if let Some(unknown) = r
            .iter()
            .find(|o| !matches!(o.as_str(), "MIN" | "MAX" | "ALL" | "COUNT"))
        {
            return Err(SyntaxError(format!(
                "opzione RETURN sconosciuta: {unknown}"
            )));
        }
        c.sp()?;
        return Ok(Some(r));
    }
    Ok(None)
}

fn search_command(c: &mut Cursor<'_>, uid: bool) -> Result<Command> {
    c.sp()?;
    let returns = returns(c)?;
    charset(c)?;
    let key = search_keys(c)?;
    Ok(Command::Search { uid, returns, key })
}

/// `CHARSET x`: UTF-8 and US-ASCII (RFC 9051 §6.4.4); others are refused.
fn charset(c: &mut Cursor<'_>) -> Result<()> {
    let r = c.rest();
    if r.len() >= 8 && r[..8].eq_ignore_ascii_case(b"CHARSET ") {
        c.atom()?;
        c.sp()?;
        search_charset(c)?;
        c.sp()?;
    }
    Ok(())
}

/// The charset of a search: UTF-8 and US-ASCII (RFC 9051 §6.4.4); others are refused.
fn search_charset(c: &mut Cursor<'_>) -> Result<()> {
    let cs = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
    if cs != "UTF-8" && cs != "US-ASCII" {
        return Err(SyntaxError(format!("[BADCHARSET (UTF-8 US-ASCII)] {cs}")));
    }
    Ok(())
}

/// One or more search keys separated by spaces (an implicit AND).
pub fn search_keys(c: &mut Cursor<'_>) -> Result<SearchKey> {
    let mut keys = vec![search_key(c, 0)?];
    while c.eat(b' ') {
        keys.push(search_key(c, 0)?);
    }
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

fn search_string(c: &mut Cursor<'_>) -> Result<String> {
    c.sp()?;
    Ok(String::from_utf8_lossy(&c.astring()?).into_owned())
}

fn search_date(c: &mut Cursor<'_>) -> Result<i64> {
    c.sp()?;
    let raw = String::from_utf8_lossy(&c.astring()?).into_owned();
    crate::date::parse_search_date(&raw).ok_or_else(|| SyntaxError(format!("bad date {raw}")))
}

fn search_key(c: &mut Cursor<'_>, depth: usize) -> Result<SearchKey> {
    if depth > 32 {
        return Err(SyntaxError("search too deeply nested".into()));
    }
    if c.eat(b'(') {
        let mut keys = vec![search_key(c, depth + 1)?];
        while c.eat(b' ') {
            keys.push(search_key(c, depth + 1)?);
        }
        c.expect(b')')?;
        return Ok(SearchKey::And(keys));
    }
    if matches!(c.peek(), Some(b'0'..=b'9') | Some(b'*')) {
        return Ok(SearchKey::SeqSet(SeqSet::parse(c)?));
    }
    let name = c.atom()?.to_ascii_uppercase();
    let flag = |f: &str, set: bool| SearchKey::Flag(f.to_string(), set);
    Ok(match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => flag("\\Answered", true),
        "DELETED" => flag("\\Deleted", true),
        "DRAFT" => flag("\\Draft", true),
        "FLAGGED" => flag("\\Flagged", true),
        "SEEN" => flag("\\Seen", true),
        "UNANSWERED" => flag("\\Answered", false),
        "UNDELETED" => flag("\\Deleted", false),
        "UNDRAFT" => flag("\\Draft", false),
        "UNFLAGGED" => flag("\\Flagged", false),
        "UNSEEN" => flag("\\Seen", false),
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "KEYWORD" | "UNKEYWORD" => {
            c.sp()?;
            SearchKey::Keyword(c.atom()?, name == "KEYWORD")
        }
        "BCC" | "CC" | "FROM" | "SUBJECT" | "TO" => {
            SearchKey::Header(name.to_ascii_lowercase(), search_string(c)?)
        }
        "HEADER" => {
            let h = search_string(c)?;
            SearchKey::Header(h.to_ascii_lowercase(), search_string(c)?)
        }
        "BODY" => SearchKey::Body(search_string(c)?),
        "TEXT" => SearchKey::Text(search_string(c)?),
        "BEFORE" => SearchKey::Before(search_date(c)?),
        "ON" => SearchKey::On(search_date(c)?),
        "SINCE" => SearchKey::Since(search_date(c)?),
        "SENTBEFORE" => SearchKey::SentBefore(search_date(c)?),
        "SENTON" => SearchKey::SentOn(search_date(c)?),
        "SENTSINCE" => SearchKey::SentSince(search_date(c)?),
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(SeqSet::parse(c)?)
        }
        "MODSEQ" => {
            // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer
            c.sp()?;
            if c.peek() == Some(b'"') {
                c.string()?;
                c.sp()?;
                c.atom()?;
                c.sp()?;
            }
            SearchKey::ModSeq(c.number()?)
        }
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(search_key(c, depth + 1)?))
        }
        "OR" => {
            c.sp()?;
            let a = search_key(c, depth + 1)?;
            c.sp()?;
            let b = search_key(c, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(SyntaxError(format!("unknown search key {name}"))),
    })
}

fn section_path(c: &mut Cursor<'_>) -> Result<Vec<u32>> {
    let mut path = vec![];
    while matches!(c.peek(), Some(b'1'..=b'9')) {
        let n = u32::try_from(c.nz_number()?)
            .map_err(|_| SyntaxError("part number out of range".into()))?;
        path.push(n);
        if path.len() > 64 {
            return Err(SyntaxError("section too deep".into()));
        }
        if !c.eat(b'.') {
            break;
        }
    }
    Ok(path)
}

fn section(c: &mut Cursor<'_>) -> Result<Section> {
    c.expect(b'[')?;
    let path = section_path(c)?;
    if c.eat(b']') {
        return Ok(Section::Part(path));
    }
    let word = c.atom()?.to_ascii_uppercase();
    let s = match word.as_str() {
        "HEADER" => Section::Header(path),
        "TEXT" => Section::Text(path),
        "MIME" if !path.is_empty() => Section::Mime(path),
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            c.sp()?;
            c.expect(b'(')?;
            let mut fields = vec![];
            loop {
                fields.push(String::from_utf8_lossy(&c.astring()?).to_ascii_lowercase());
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
            Section::HeaderFields {
                path,
                not: word.ends_with(".NOT"),
                fields,
            }
        }
        _ => return Err(SyntaxError(format!("bad section {word}"))),
    };
    c.expect(b']')?;
    Ok(s)
}

fn partial(c: &mut Cursor<'_>) -> Result<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let start = u32::try_from(c.number()?).map_err(|_| SyntaxError("offset too big".into()))?;
    c.expect(b'.')?;
    let len = u32::try_from(c.nz_number()?).map_err(|_| SyntaxError("length too big".into()))?;
    c.expect(b'>')?;
    Ok(Some((start, len)))
}

fn fetch_att(c: &mut Cursor<'_>, out: &mut Vec<FetchAtt>) -> Result<()> {
    let name = c.tag_until_bracket()?.to_ascii_uppercase();
    match name.as_str() {
        "ALL" | "FAST" | "FULL" => {
            out.extend([
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
            ]);
            if name != "FAST" {
                out.push(FetchAtt::Envelope);
            }
            if name == "FULL" {
                out.push(FetchAtt::Body);
            }
        }
        "UID" => out.push(FetchAtt::Uid),
        "FLAGS" => out.push(FetchAtt::Flags),
        "INTERNALDATE" => out.push(FetchAtt::InternalDate),
        "RFC822.SIZE" => out.push(FetchAtt::Rfc822Size),
        "ENVELOPE" => out.push(FetchAtt::Envelope),
        "BODYSTRUCTURE" => out.push(FetchAtt::BodyStructure),
        "RFC822" => out.push(FetchAtt::Rfc822),
        "RFC822.HEADER" => out.push(FetchAtt::Rfc822Header),
        "RFC822.TEXT" => out.push(FetchAtt::Rfc822Text),
        "MODSEQ" => out.push(FetchAtt::ModSeq),
        "BODY" | "BODY.PEEK" => {
            if c.peek() == Some(b'[') {
                let section = section(c)?;
                let partial = partial(c)?;
                out.push(FetchAtt::BodySection {
                    section,
                    partial,
                    peek: name == "BODY.PEEK",
                });
            } else if name == "BODY" {
                out.push(FetchAtt::Body);
            } else {
                return Err(SyntaxError("BODY.PEEK needs a section".into()));
            }
        }
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            c.expect(b'[')?;
            let path = section_path(c)?;
            c.expect(b']')?;
            if name == "BINARY.SIZE" {
                out.push(FetchAtt::BinarySize(path));
            } else {
                let partial = partial(c)?;
                out.push(FetchAtt::Binary {
                    path,
                    partial,
                    peek: name == "BINARY.PEEK",
                });
            }
        }
        _ => return Err(SyntaxError(format!("unknown fetch attribute {name}"))),
    }
    Ok(())
}

impl Cursor<'_> {
    /// A fetch attribute name: stops at `[`, `<`, space and parentheses.
    fn tag_until_bracket(&mut self) -> Result<String> {
        let mut s = String::new();
        while let Some(b) = self.peek() {
            if b == b'[' || b == b'<' || b == b' ' || b == b'(' || b == b')' {
                break;
            }
            if !(b.is_ascii_alphanumeric() || b == b'.') {
                return Err(SyntaxError("bad fetch attribute".into()));
            }
            s.push(b as char);
            self.eat(b);
        }
        if s.is_empty() {
            return Err(SyntaxError("expected a fetch attribute".into()));
        }
        Ok(s)
    }
}

fn fetch(c: &mut Cursor<'_>, uid: bool) -> Result<Command> {
    c.sp()?;
    let set = SeqSet::parse(c)?;
    c.sp()?;
    let mut atts = vec![];
    if c.eat(b'(') {
        loop {
            fetch_att(c, &mut atts)?;
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        fetch_att(c, &mut atts)?;
    }
    let (mut changed_since, mut vanished) = (None, false);
    if c.eat(b' ') {
        // RFC 7162 §3.1.4 / §3.2.6: (CHANGEDSINCE n [VANISHED])
        c.expect(b'(')?;
        loop {
            let m = c.atom()?.to_ascii_uppercase();
            match m.as_str() {
                "CHANGEDSINCE" => {
                    c.sp()?;
                    changed_since = Some(c.number()?);
                }
                "VANISHED" => vanished = true,
                _ => return Err(SyntaxError(format!("unknown FETCH modifier {m}"))),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    if vanished && (!uid || changed_since.is_none()) {
        return Err(SyntaxError(
            "VANISHED needs UID FETCH with CHANGEDSINCE".into(),
        ));
    }
    Ok(Command::Fetch {
        uid,
        set,
        atts,
        changed_since,
        vanished,
    })
}

fn store(c: &mut Cursor<'_>, uid: bool) -> Result<Command> {
    c.sp()?;
    let set = SeqSet::parse(c)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.eat(b'(') {
        let m = c.atom()?.to_ascii_uppercase();
        if m != "UNCHANGEDSINCE" {
            return Err(SyntaxError(format!("unknown STORE modifier {m}")));
        }
        c.sp()?;
        unchanged_since = Some(c.number()?);
        c.expect(b')')?;
        c.sp()?;
    }
    let item = c.atom()?.to_ascii_uppercase();
    let (op, rest) = match item.as_bytes().first() {
        Some(b'+') => (StoreOp::Add, &item[1..]),
        Some(b'-') => (StoreOp::Remove, &item[1..]),
        _ => (StoreOp::Replace, &item[..]),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(SyntaxError(format!("bad STORE item {item}"))),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.atom_list()?
    } else {
        let mut f = vec![c.flag()?];
        while c.eat(b' ') {
            f.push(c.flag()?);
        }
        f
    };
    Ok(Command::Store {
        uid,
        set,
        op,
        silent,
        flags,
        unchanged_since,
    })
}

fn copy(c: &mut Cursor<'_>, uid: bool, remove: bool) -> Result<Command> {
    c.sp()?;
    let set = SeqSet::parse(c)?;
    c.sp()?;
    let mailbox = c.mailbox(false)?;
    Ok(Command::Copy {
        uid,
        set,
        mailbox,
        remove,
    })
}

fn sort(c: &mut Cursor<'_>, uid: bool) -> Result<Command> {
    c.sp()?;
    let returns = returns(c)?;
    let mut criteria = vec![];
    let mut reverse = false;
    for k in c.atom_list_any()? {
        let key = match k.as_str() {
            "REVERSE" => {
                reverse = true;
                continue;
            }
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(SyntaxError(format!("unknown sort key {k}"))),
        };
        criteria.push((key, reverse));
        reverse = false;
    }
    if criteria.is_empty() {
        return Err(SyntaxError("SORT needs a criterion".into()));
    }
    c.sp()?;
    search_charset(c)?;
    c.sp()?;
    let key = search_keys(c)?;
    Ok(Command::Sort {
        uid,
        returns,
        criteria,
        key,
    })
}

fn thread(c: &mut Cursor<'_>, uid: bool) -> Result<Command> {
    c.sp()?;
    let name = c.atom()?;
    let algorithm = crate::thread::Algorithm::parse(&name)
        .ok_or_else(|| SyntaxError(format!("unknown thread algorithm {name}")))?;
    c.sp()?;
    search_charset(c)?;
    c.sp()?;
    let key = search_keys(c)?;
    Ok(Command::Thread {
        uid,
        algorithm,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Command {
        parse(s.as_bytes()).unwrap().command
    }

    #[test]
    fn commands() {
        assert_eq!(
            p("a LOGIN \"user@x\" {4+}\r\npass\r\n"),
            Command::Login {
                user: b"user@x".to_vec(),
                password: b"pass".to_vec()
            }
        );
        match p("a UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>) (CHANGEDSINCE 5 VANISHED)") {
            Command::Fetch { uid, atts, changed_since, vanished, .. } => {
                assert!(uid && vanished);
                assert_eq!(changed_since, Some(5));
                assert_eq!(atts.len(), 3);
            }
            c => panic!("{c:?}"),
        }
        match p("t STORE 1,3:5 +FLAGS.SILENT (\\Seen $Label1)") {
            Command::Store {
                op, silent, flags, ..
            } => {
                assert_eq!(op, StoreOp::Add);
                assert!(silent);
                assert_eq!(flags, vec!["\\Seen", "$Label1"]);
            }
            c => panic!("{c:?}"),
        }
        match p("t SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM mario (SINCE 1-Feb-2024 NOT SEEN) UID 1:5") {
            Command::Search { returns, key: SearchKey::And(keys), .. } => {
                assert_eq!(returns, Some(vec!["MIN".into(), "COUNT".into()]));
                assert_eq!(keys.len(), 2);
            }
            c => panic!("{c:?}"),
        }
        // RFC 3502: one message, or several each with its own flags and date.
        match p(
            "m APPEND Bozze (\\Seen) {1+}\r\na \" 1-Feb-2024 10:00:00 +0100\" {2+}\r\nbc {0+}\r\n\r\n",
        ) {
            Command::Append(a) => {
                assert_eq!(a.mailbox, "Bozze");
                assert_eq!(a.messages.len(), 3);
                assert_eq!(a.messages[0].flags, vec!["\\Seen"]);
                assert_eq!(a.messages[1].message, b"bc");
                assert!(a.messages[1].date.is_some() && a.messages[1].flags.is_empty());
                assert!(a.messages[2].message.is_empty());
                assert_eq!(a.bytes(), 3);
            }
            c => panic!("{c:?}"),
        }
        assert_eq!(p("z COMPRESS deflate"), Command::Compress("DEFLATE".into()));
        match p("s UID SORT RETURN (MIN MAX) (REVERSE DISPLAYFROM DISPLAYTO) UTF-8 ALL") {
            Command::Sort {
                uid,
                returns,
                criteria,
                ..
            } => {
                assert!(uid);
                assert_eq!(returns, Some(vec!["MIN".into(), "MAX".into()]));
                assert_eq!(
                    criteria,
                    vec![(SortKey::DisplayFrom, true), (SortKey::DisplayTo, false)]
                );
            }
            c => panic!("{c:?}"),
        }
        assert!(matches!(
            p("x LIST (SUBSCRIBED) \"\" (\"*\" \"Posta%\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))"),
            Command::List { .. }
        ));
        assert!(matches!(
            p("x SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
            Command::Select {
                qresync: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn bad_input() {
        for bad in [
            "",
            "a",
            "a FOO",
            "a FETCH",
            "a FETCH 0 FLAGS",
            "a FETCH 1 (FLAGS",
            "a LOGIN {999}\r\nx x",
            "a SEARCH OR",
            "a STORE 1 FLAGS",
            "a UID XYZ 1",
            "a SELECT",
            "a SEARCH CHARSET KOI8-R TEXT x",
            "a APPEND x",
            "a APPEND x {1+}\r\na ",
            "a APPEND x {1+}\r\na (\\Seen)",
            "a SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL",
            "a SEARCH RETURN (PARTIAL 1:5) ALL",
            "a COMPRESS",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = format!("a SEARCH {}ALL{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
