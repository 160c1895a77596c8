//! One IMAP session's state (RFC 9051 §3): not authenticated, authenticated, selected; the
//! dispatch of commands to their handlers; and the updates told to the client about changes
//! other sessions and deliveries made (RFC 9051 §7.1–§7.4, RFC 7162).

use crate::command::{Command, SeqSet, Tagged, STAR};
use crate::uidmap::UidMap;
use crate::utf7;
use crate::ImapConfig;
use net::Stream;
use services::mailbox::{self, Access, Folder, MailboxError};
use services::principal::{Permission, Principal};
use services::provider::{AuthError, Provider};
use std::net::SocketAddr;
use std::sync::Arc;

pub const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// What the connection loop must do after a command.
pub enum Outcome {
    Continue,
    StartTls,
    /// AUTHENTICATE without an initial response: send `+ ` and hand back the next line.
    NeedAuthData(String),
    Idle(String),
    /// RFC 4978: compress both directions from the next byte on.
    Compress,
    Logout,
}

/// The selected folder as this session knows it.
pub struct Selected {
    pub folder: Folder,
    pub read_only: bool,
    /// Sequence number − 1 → UID.
    pub uids: UidMap,
    /// MODSEQs of changes this session made and already told its client about.
    pub own_modseqs: Vec<i64>,
    /// The HIGHESTMODSEQ this session has caught up with.
    pub modseq: i64,
    /// The UIDs that are `\Recent` in this session.
    pub recent: UidMap,
    /// UIDs expunged by others, not told yet (no EXPUNGE during FETCH/STORE/SEARCH).
    pub pending_expunge: Vec<u32>,
    /// The keywords the client was told of in `FLAGS` (RFC 9051 §7.3.5), in that order.
    pub keywords: Vec<String>,
}

/// The untagged FLAGS and PERMANENTFLAGS responses for a folder using `keywords`.
pub fn flags_responses(keywords: &[String]) -> [String; 2] {
    let mut all = SYSTEM_FLAGS.to_string();
    for k in keywords {
        all.push(' ');
        all.push_str(k);
    }
    [
        format!("FLAGS ({all})"),
        format!("OK [PERMANENTFLAGS ({all} \\*)] flag permanenti"),
    ]
}

/// Whether `flag` is a keyword (not a system flag), which FLAGS must announce.
pub fn is_keyword(flag: &str) -> bool {
    !flag.is_empty() && !flag.starts_with('\\')
}

impl Selected {
    /// RFC 9051 §7.3.5: a keyword must be in a FLAGS response before a FETCH shows it.
    /// Records the keywords of `flags` not announced yet and returns the FLAGS and
    /// PERMANENTFLAGS responses to send first, if any.
    pub fn announce(&mut self, flags: &str) -> Option<[String; 2]> {
        let mut grew = false;
        for f in flags.split(' ').filter(|f| is_keyword(f)) {
            if !self.keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) {
                self.keywords.push(f.to_string());
                grew = true;
            }
        }
        grew.then(|| flags_responses(&self.keywords))
    }

    pub fn seq_of(&self, uid: u32) -> Option<usize> {
        self.uids.position(uid)
    }

    pub fn uid_at(&self, index: usize) -> u32 {
        self.uids.get(index).unwrap_or(0)
    }

    pub fn max_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }

    /// A message sequence number beyond the last message is an error (RFC 9051 §9,
    /// `seq-number`); UIDs beyond the last are not.
    pub fn check_seq(&self, set: &SeqSet, uid: bool) -> Result<(), Refusal> {
        let n = self.uids.len() as u64;
        let beyond = set
            .0
            .iter()
            .any(|&(a, b)| (a != STAR && a > n) || (b != STAR && b > n));
        if !uid && beyond {
            return Err(bad("numero di messaggio inesistente"));
        }
        Ok(())
    }

    /// Indexes (seq − 1) of a set of sequence numbers or UIDs. Overlapping ranges are
    /// merged first, so a set repeating `1:*` costs no more than one `1:*`.
    pub fn resolve(&self, set: &SeqSet, uid: bool) -> Vec<usize> {
        // `*` is the highest UID in use or the last sequence number (RFC 9051 §9).
        let star = if uid {
            u64::from(self.max_uid())
        } else {
            self.uids.len() as u64
        };
        let mut ranges: Vec<(usize, usize)> = set
            .0
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (
                    if a == STAR { star } else { a },
                    if b == STAR { star } else { b },
                );
                let (lo, hi) = (a.min(b), a.max(b));
                if uid {
                    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
                    let r = self.uids.index_range(clamp(lo), clamp(hi));
                    (r.start, r.end)
                } else {
                    let n = self.uids.len();
                    ((lo.max(1) as usize - 1).min(n), (hi as usize).min(n))
                }
            })
            .filter(|(s, e)| s < e)
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = vec![];
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged.into_iter().flat_map(|(s, e)| s..e).collect()
    }
}

#[derive(Default)]
pub struct Enabled {
    pub condstore: bool,
    pub qresync: bool,
    /// IMAP4rev2 (RFC 9051) or UTF8=ACCEPT: UTF-8 mailbox names, ESEARCH, no \Recent.
    pub rev2: bool,
    pub utf8: bool,
}

pub struct Session {
    pub p: Arc<Provider>,
    pub cfg: Arc<ImapConfig>,
    pub peer: SocketAddr,
    pub tls: bool,
    /// Who logged in; `None` before authentication.
    pub principal: Option<Principal>,
    pub selected: Option<Selected>,
    pub enabled: Enabled,
    pub out: Vec<u8>,
    /// Failed logins on this connection: after [`MAX_AUTH_FAILURES`] it is closed.
    auth_failures: u32,
}

/// What a collaborator whose collaboration ended is told as the connection closes.
pub const COLLABORATION_ENDED: &str = "collaborazione scaduta o revocata: sessione terminata";

/// Failed logins one connection may make (security review H4: a connection repeating
/// LOGIN is cut, whatever the throttle allows its address).
const MAX_AUTH_FAILURES: u32 = 3;

/// A tagged NO/BAD with a response code.
pub struct Refusal(pub &'static str, pub String);

pub type Handled = Result<String, Refusal>;

pub fn no(code: &str, text: impl Into<String>) -> Refusal {
    let text = text.into();
    if code.is_empty() {
        Refusal("NO", text)
    } else {
        Refusal("NO", format!("[{code}] {text}"))
    }
}

pub fn bad(text: impl Into<String>) -> Refusal {
    Refusal("BAD", text.into())
}

/// The mailbox service's refusals as clients understand them (RFC 5530 response codes).
pub fn refusal(e: MailboxError) -> Refusal {
    let code = match &e {
        MailboxError::Denied(_) => "NOPERM",
        MailboxError::InvalidName(_) | MailboxError::Special(_) | MailboxError::Refused(_) => {
            "CANNOT"
        }
        MailboxError::Exists(_) => "ALREADYEXISTS",
        MailboxError::NotFound(_) | MailboxError::Missing(_) => "NONEXISTENT",
        MailboxError::HasChildren(_) => "INUSE",
        MailboxError::OverQuota => "OVERQUOTA",
        MailboxError::Unavailable(_) => "UNAVAILABLE",
        MailboxError::Internal(_) => "SERVERBUG",
    };
    no(code, e.to_string())
}

impl Session {
    pub fn new(p: Arc<Provider>, cfg: Arc<ImapConfig>, peer: SocketAddr, tls: bool) -> Session {
        Session {
            p,
            cfg,
            peer,
            tls,
            principal: None,
            selected: None,
            enabled: Enabled::default(),
            out: Vec::with_capacity(256),
            auth_failures: 0,
        }
    }

    pub fn untagged(&mut self, line: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn tagged(&mut self, tag: &str, status: &str, text: &str) {
        self.out
            .extend_from_slice(format!("{tag} {status} {text}\r\n").as_bytes());
    }

    pub fn capabilities(&self) -> String {
        let mut c = String::from("IMAP4rev1 IMAP4rev2");
        if self.principal.is_none() {
            if !self.tls && self.cfg.tls.is_some() {
                c.push_str(" STARTTLS");
            }
            if self.tls || self.p.allow_plaintext_auth {
                c.push_str(" AUTH=PLAIN SASL-IR");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c.push_str(
            " LITERAL+ IDLE UIDPLUS MOVE SPECIAL-USE LIST-EXTENDED LIST-STATUS NAMESPACE ID ENABLE \
             QUOTA QUOTA=RES-STORAGE CONDSTORE QRESYNC ESEARCH SORT THREAD=REFERENCES THREAD=ORDEREDSUBJECT UNSELECT \
             CHILDREN BINARY UTF8=ACCEPT MULTIAPPEND ESORT SORT=DISPLAY",
        );
        if self.principal.is_some() {
            c.push_str(" COMPRESS=DEFLATE");
        }
        c
    }

    /// A mailbox name from the wire to the store's UTF-8 name.
    pub fn name_in(&self, wire: &str) -> String {
        let name = if self.enabled.utf8 || !wire.contains('&') {
            wire.to_string()
        } else {
            utf7::decode(wire).unwrap_or_else(|| wire.to_string())
        };
        if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".into()
        } else if let Some(rest) = name.strip_prefix("inbox/").or(name.strip_prefix("Inbox/")) {
            format!("INBOX/{rest}")
        } else {
            name
        }
    }

    /// A store name as the client wants it.
    pub fn name_out(&self, name: &str) -> String {
        if self.enabled.utf8 {
            name.to_string()
        } else {
            utf7::encode(name)
        }
    }

    /// Runs one command; its responses go to `self.out`, except FETCH's, which are
    /// written to `w` as they are made (a write error ends the command).
    pub async fn handle(&mut self, t: Tagged, w: &mut Stream) -> std::io::Result<Outcome> {
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.untagged("BYE troppi accessi non riusciti: connessione chiusa");
            return Ok(Outcome::Logout);
        }
        if !self.collaboration_holds().await {
            self.untagged(&format!("BYE {COLLABORATION_ENDED}"));
            return Ok(Outcome::Logout);
        }
        let tag = t.tag.clone();
        let allowed = match (
            &t.command,
            self.principal.is_some(),
            self.selected.is_some(),
        ) {
            (Command::Capability | Command::Noop | Command::Logout | Command::Id, _, _) => true,
            (
                Command::StartTls | Command::Login { .. } | Command::Authenticate { .. },
                false,
                _,
            ) => true,
            (Command::StartTls | Command::Login { .. } | Command::Authenticate { .. }, true, _) => {
                false
            }
            (
                Command::Check
                | Command::Close
                | Command::Unselect
                | Command::Expunge(_)
                | Command::Search { .. }
                | Command::Sort { .. }
                | Command::Thread { .. }
                | Command::Fetch { .. }
                | Command::Store { .. }
                | Command::Copy { .. },
                _,
                selected,
            ) => selected,
            (_, authenticated, _) => authenticated,
        };
        if !allowed {
            let what = if self.principal.is_none() {
                "autenticarsi prima"
            } else if self.selected.is_none() {
                "selezionare prima una cartella"
            } else {
                "comando non valido in questo stato"
            };
            self.tagged(&tag, "BAD", what);
            return Ok(Outcome::Continue);
        }
        // The one permission check of every command (RFC 9051 §7.1: NO [NOPERM]).
        if let (Some(needed), Some(principal)) = (permission(&t.command), &self.principal) {
            if let Err(denied) = principal.require(needed) {
                self.tagged(&tag, "NO", &format!("[NOPERM] {denied}"));
                return Ok(Outcome::Continue);
            }
        }
        let result = match t.command {
            Command::Capability => {
                let c = self.capabilities();
                self.untagged(&format!("CAPABILITY {c}"));
                Ok("CAPABILITY completato".into())
            }
            Command::Noop | Command::Check => {
                self.sync(true).await;
                Ok("NOOP completato".into())
            }
            Command::Logout => {
                self.untagged("BYE Certa IMAP: arrivederci");
                self.tagged(&tag, "OK", "LOGOUT completato");
                return Ok(Outcome::Logout);
            }
            Command::StartTls => {
                if self.tls || self.cfg.tls.is_none() {
                    Err(bad("TLS già attivo o non disponibile"))
                } else {
                    self.tagged(&tag, "OK", "avvio TLS");
                    return Ok(Outcome::StartTls);
                }
            }
            Command::Login { user, password } => self.login(&user, &password).await,
            Command::Authenticate { mechanism, initial } => {
                if mechanism != "PLAIN" {
                    Err(no("CANNOT", "meccanismo non supportato: usare PLAIN"))
                } else if let Some(data) = initial {
                    self.authenticate_plain(&data).await
                } else if !self.tls && !self.p.allow_plaintext_auth {
                    Err(no(
                        "PRIVACYREQUIRED",
                        "usare STARTTLS prima di autenticarsi",
                    ))
                } else {
                    return Ok(Outcome::NeedAuthData(tag));
                }
            }
            Command::Id => {
                self.untagged(&format!(
                    "ID (\"name\" \"Certa\" \"version\" \"{}\")",
                    env!("CARGO_PKG_VERSION")
                ));
                Ok("ID completato".into())
            }
            Command::Enable(caps) => Ok(self.enable(&caps)),
            Command::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                Ok("NAMESPACE completato".into())
            }
            Command::Idle => {
                self.sync(true).await;
                return Ok(Outcome::Idle(tag));
            }
            Command::Compress(mechanism) => {
                if mechanism != "DEFLATE" {
                    Err(bad(format!("compressione non supportata: {mechanism}")))
                } else if w.is_compressed() {
                    Err(no("COMPRESSIONACTIVE", "compressione attiva da prima"))
                } else {
                    // RFC 4978 §3: this OK is the last response sent uncompressed.
                    self.tagged(&tag, "OK", "DEFLATE attivo");
                    return Ok(Outcome::Compress);
                }
            }
            Command::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => {
                // Who may not change the mailbox sees every folder as with EXAMINE: reading
                // marks nothing \Seen and CLOSE expunges nothing.
                let read_only = read_only || !self.may_modify();
                self.select(&mailbox, read_only, condstore, qresync).await
            }
            Command::Create(m) => self.create(&m).await,
            Command::Delete(m) => self.delete(&m).await,
            Command::Rename(a, b) => self.rename(&a, &b).await,
            Command::Subscribe(m) => self.subscribe(&m, true).await,
            Command::Unsubscribe(m) => self.subscribe(&m, false).await,
            Command::List {
                reference,
                patterns,
                select,
                returns,
                status,
                lsub,
            } => {
                self.list(&reference, &patterns, &select, &returns, &status, lsub)
                    .await
            }
            Command::Status { mailbox, items } => self.status(&mailbox, &items).await,
            Command::Append(a) => {
                self.append_all(vec![(tag, a)]).await;
                return Ok(Outcome::Continue);
            }
            Command::GetQuota(root) => self.quota(&root, false).await,
            Command::GetQuotaRoot(m) => self.quota(&m, true).await,
            Command::SetQuota => Err(no("NOPERM", "la quota si cambia dal pannello del gestore")),
            Command::Close => self.close(true).await,
            Command::Unselect => self.close(false).await,
            Command::Expunge(set) => self.expunge(set.as_ref()).await,
            Command::Search { uid, returns, key } => self.search(&tag, uid, returns, &key).await,
            Command::Sort {
                uid,
                returns,
                criteria,
                key,
            } => self.sort(&tag, uid, returns, &criteria, &key).await,
            Command::Thread {
                uid,
                algorithm,
                key,
            } => self.thread(uid, algorithm, &key).await,
            Command::Fetch {
                uid,
                set,
                atts,
                changed_since,
                vanished,
            } => {
                self.fetch(w, uid, &set, &atts, changed_since, vanished)
                    .await?
            }
            Command::Store {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            } => {
                self.store(uid, &set, op, silent, &flags, unchanged_since)
                    .await
            }
            Command::Copy {
                uid,
                set,
                mailbox,
                remove,
            } => self.copy(uid, &set, &mailbox, remove).await,
        };
        match result {
            Ok(text) => self.tagged(&tag, "OK", &text),
            Err(Refusal(status, text)) => self.tagged(&tag, status, &text),
        }
        Ok(Outcome::Continue)
    }

    fn enable(&mut self, caps: &[String]) -> String {
        let mut done = vec![];
        for c in caps {
            match c.as_str() {
                "CONDSTORE" => self.enabled.condstore = true,
                "QRESYNC" => {
                    self.enabled.qresync = true;
                    self.enabled.condstore = true;
                }
                "IMAP4REV2" => {
                    self.enabled.rev2 = true;
                    self.enabled.utf8 = true;
                }
                "UTF8=ACCEPT" => self.enabled.utf8 = true,
                _ => continue,
            }
            done.push(c.clone());
        }
        self.untagged(format!("ENABLED {}", done.join(" ")).trim_end());
        "ENABLE completato".into()
    }

    async fn login(&mut self, user: &[u8], password: &[u8]) -> Handled {
        if !self.tls && !self.p.allow_plaintext_auth {
            return Err(no(
                "PRIVACYREQUIRED",
                "usare STARTTLS prima di autenticarsi",
            ));
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let password = String::from_utf8_lossy(password).into_owned();
        self.authenticate(user, password).await
    }

    /// SASL PLAIN (RFC 4616): base64 of `authzid NUL authcid NUL password`.
    pub async fn authenticate_plain(&mut self, data: &[u8]) -> Handled {
        use base64::Engine;
        if !self.tls && !self.p.allow_plaintext_auth {
            return Err(no(
                "PRIVACYREQUIRED",
                "usare STARTTLS prima di autenticarsi",
            ));
        }
        let text = String::from_utf8_lossy(data).trim().to_string();
        if text == "*" {
            return Err(bad("autenticazione annullata"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| bad("base64 non valido"))?;
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authz, user, pw] = parts.as_slice() else {
            return Err(bad("risposta PLAIN non valida"));
        };
        if !authz.is_empty() && authz != user {
            return Err(no(
                "AUTHORIZATIONFAILED",
                "identità di autorizzazione non ammessa",
            ));
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let pw = String::from_utf8_lossy(pw).into_owned();
        self.authenticate(user, pw).await
    }

    async fn authenticate(&mut self, user: String, password: String) -> Handled {
        let p = self.p.clone();
        let ip = self.peer.ip();
        let r = p
            .authenticate(&user, &password, ip, services::provider::LoginVia::Imap)
            .await;
        if matches!(r, Err(AuthError::Invalid | AuthError::Throttled)) {
            self.auth_failures += 1;
        }
        match r {
            Ok(m) => {
                self.principal = Some(m);
                let caps = self.capabilities();
                Ok(format!("[CAPABILITY {caps}] accesso eseguito"))
            }
            Err(AuthError::Throttled) => Err(no(
                "UNAVAILABLE",
                "troppi tentativi falliti: riprovare più tardi",
            )),
            Err(AuthError::Invalid) => Err(no("AUTHENTICATIONFAILED", "credenziali non valide")),
            Err(e @ AuthError::MustChangePassword) => Err(no("EXPIRED", e.to_string())),
            Err(e @ AuthError::Suspended) => Err(no("CONTACTADMIN", e.to_string())),
            // RFC 5530: the credentials are right, the access is not allowed.
            Err(e @ (AuthError::SendOnly | AuthError::Ended)) => {
                Err(no("AUTHORIZATIONFAILED", e.to_string()))
            }
            Err(e @ AuthError::Unavailable) => Err(no("UNAVAILABLE", e.to_string())),
        }
    }

    /// RFC 7162 §3.1: a CONDSTORE-enabling command (FETCH MODSEQ or CHANGEDSINCE, STORE
    /// UNCHANGEDSINCE, SEARCH MODSEQ) turns CONDSTORE on for the session; the first one
    /// with a folder selected is told the folder's HIGHESTMODSEQ.
    pub fn enable_condstore(&mut self) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        if let Some(m) = self.selected.as_ref().map(|s| s.modseq) {
            self.untagged(&format!("OK [HIGHESTMODSEQ {m}] ultimo MODSEQ"));
        }
    }

    /// Tells the client what changed in the selected folder since it last heard. EXPUNGE
    /// only when `allow_expunge` (RFC 9051 §7.5.1: not during FETCH, STORE, SEARCH).
    pub async fn sync(&mut self, allow_expunge: bool) {
        let Some((folder, since)) = self.selected.as_ref().map(|s| (s.folder.id, s.modseq)) else {
            return;
        };
        let Ok(ch) = self
            .on_mailbox(move |m| m.changes_since(folder, since))
            .await
        else {
            return;
        };
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut lines: Vec<String> = vec![];
        for uid in ch.expunged {
            let uid = uid as u32;
            if sel.seq_of(uid).is_some() && !sel.pending_expunge.contains(&uid) {
                sel.pending_expunge.push(uid);
            }
        }
        let mut grew = false;
        for e in ch.changed {
            let uid = e.uid as u32;
            match sel.seq_of(uid) {
                Some(i) if !sel.own_modseqs.contains(&e.modseq) => {
                    if let Some(announce) = sel.announce(&e.flags) {
                        lines.extend(announce);
                    }
                    let mut l = format!("{} FETCH (UID {uid} FLAGS ({}", i + 1, e.flags);
                    if !self.enabled.rev2 && sel.recent.contains(uid) {
                        l.push_str(if e.flags.is_empty() {
                            "\\Recent"
                        } else {
                            " \\Recent"
                        });
                    }
                    l.push(')');
                    if self.enabled.condstore {
                        l.push_str(&format!(" MODSEQ ({})", e.modseq));
                    }
                    l.push(')');
                    lines.push(l);
                }
                Some(_) => {}
                None if uid > sel.max_uid() => {
                    sel.uids.push(uid);
                    grew = true;
                }
                None => {}
            }
        }
        sel.own_modseqs.retain(|&m| m > ch.highestmodseq);
        // FETCH lines above use the numbers from before these expunges; EXPUNGE lines go
        // from the highest number down so each is right when the client reads it.
        if allow_expunge && !sel.pending_expunge.is_empty() {
            let mut gone = std::mem::take(&mut sel.pending_expunge);
            gone.sort_unstable();
            if self.enabled.qresync {
                lines.push(format!("VANISHED {}", uid_set(&gone)));
            }
            for uid in gone.iter().rev() {
                if let Some(i) = sel.seq_of(*uid) {
                    if !self.enabled.qresync {
                        lines.push(format!("{} EXPUNGE", i + 1));
                    }
                    sel.uids.remove(i);
                    if let Some(r) = sel.recent.position(*uid) {
                        sel.recent.remove(r);
                    }
                }
            }
        }
        // Expunges not told yet are kept in `pending_expunge`; re-reading a change is
        // harmless (flags are compared, UIDs checked), so catching up is safe.
        sel.modseq = ch.highestmodseq;
        let claim = grew && !sel.read_only;
        if claim {
            if let Ok(first) = self.on_mailbox(move |m| m.claim_recent(folder)).await {
                if let Some(sel) = self.selected.as_mut() {
                    let newly: Vec<u32> = sel.uids.iter().filter(|&u| u as i64 >= first).collect();
                    for u in newly {
                        sel.recent.push(u);
                    }
                }
            }
        }
        if let Some(sel) = self.selected.as_ref().filter(|_| grew) {
            lines.push(format!("{} EXISTS", sel.uids.len()));
            if !self.enabled.rev2 {
                lines.push(format!("{} RECENT", sel.recent.len()));
            }
        }
        for l in lines {
            self.untagged(&l);
        }
    }

    pub async fn folder_named(&self, wire: &str) -> Result<Folder, Refusal> {
        let name = self.name_in(wire);
        let found = {
            let name = name.clone();
            self.on_mailbox(move |m| m.folder(&name)).await?
        };
        found.ok_or_else(|| no("NONEXISTENT", format!("la cartella {name} non esiste")))
    }

    /// Like [`Session::folder_named`] without the counts: no scan of the folder's messages
    /// (APPEND, COPY and MOVE targets).
    pub async fn folder_head_named(&self, wire: &str) -> Result<Folder, Refusal> {
        let name = self.name_in(wire);
        let found = {
            let name = name.clone();
            self.on_mailbox(move |m| m.folder_head(&name)).await?
        };
        found.ok_or_else(|| no("NONEXISTENT", format!("la cartella {name} non esiste")))
    }

    /// One step of a command on the mailbox service (on the blocking pool, with the
    /// principal's rights checked there); its refusal as the client reads it.
    pub async fn on_mailbox<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Access) -> Result<T, MailboxError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let who = self
            .principal
            .as_ref()
            .ok_or_else(|| bad("autenticarsi prima"))?;
        mailbox::run(&self.p, who, f).await.map_err(refusal)
    }

    /// Whether a collaborator's collaboration still holds (revoked, expired or changed, the
    /// session ends); always for the holder. A store that cannot answer ends nothing.
    pub async fn collaboration_holds(&self) -> bool {
        let Some(who) = self.principal.clone().filter(|p| p.delegate.is_some()) else {
            return true;
        };
        let p = self.p.clone();
        services::blocking(move || services::collaboration::still_valid(&p, &who))
            .await
            .is_none_or(|r| r.unwrap_or(true))
    }

    /// Whether the principal may change the mailbox.
    pub fn may_modify(&self) -> bool {
        self.principal
            .as_ref()
            .is_some_and(|p| p.require(Permission::Modify).is_ok())
    }
}

/// The permission a command needs once logged in; `None` for those of any state.
fn permission(c: &Command) -> Option<Permission> {
    Some(match c {
        Command::Capability
        | Command::Noop
        | Command::Logout
        | Command::StartTls
        | Command::Authenticate { .. }
        | Command::Login { .. }
        | Command::Id
        | Command::Compress(_) => return None,
        Command::Enable(_)
        | Command::Namespace
        | Command::Select { .. }
        | Command::List { .. }
        | Command::Status { .. }
        | Command::GetQuota(_)
        | Command::GetQuotaRoot(_)
        | Command::Check
        | Command::Close
        | Command::Unselect
        | Command::Search { .. }
        | Command::Sort { .. }
        | Command::Thread { .. }
        | Command::Fetch { .. }
        | Command::Idle => Permission::Read,
        Command::Create(_)
        | Command::Delete(_)
        | Command::Rename(..)
        | Command::Subscribe(_)
        | Command::Unsubscribe(_)
        | Command::Append(_)
        | Command::SetQuota
        | Command::Expunge(_)
        | Command::Store { .. }
        | Command::Copy { .. } => Permission::Modify,
    })
}

/// `1:3,5` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::{permission, Permission};

    #[test]
    fn every_command_that_changes_the_mailbox_needs_modify() {
        let needs = |line: &str| {
            let t = crate::command::parse(format!("a {line}\r\n").as_bytes())
                .unwrap_or_else(|_| panic!("{line} parses"));
            permission(&t.command)
        };
        for line in [
            "CREATE x",
            "DELETE x",
            "RENAME x y",
            "SUBSCRIBE x",
            "UNSUBSCRIBE x",
            "APPEND INBOX {1+}\r\nx",
            "EXPUNGE",
            "UID EXPUNGE 1",
            "STORE 1 +FLAGS (\\Seen)",
            "COPY 1 x",
            "UID MOVE 1 x",
        ] {
            assert_eq!(needs(line), Some(Permission::Modify), "{line}");
        }
        for line in [
            "SELECT INBOX",
            "EXAMINE INBOX",
            "LIST \"\" *",
            "STATUS INBOX (MESSAGES)",
            "FETCH 1 FLAGS",
            "SEARCH ALL",
            "IDLE",
            "CLOSE",
        ] {
            assert_eq!(needs(line), Some(Permission::Read), "{line}");
        }
        for line in ["CAPABILITY", "NOOP", "LOGOUT", "LOGIN a b"] {
            assert_eq!(needs(line), None, "{line}");
        }
    }
}
