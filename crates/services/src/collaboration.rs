//! Multiutenza (issue 17; seed 002 §2.6.7): the owner of a box invites collaborators, each
//! with a [`Delegation`] and a duration; a collaborator has one username and password for
//! every box they work on and logs in as `username/box@domain` on every protocol, through
//! [`crate::provider::Provider::authenticate`]. Their rights are a [`Principal`]'s like the
//! owner's, so the mailbox service refuses what a delegation does not allow whatever the
//! protocol; what they do is recorded for the owner ([`record`]).

use crate::access;
use crate::accounts::{check_password_policy, hash_password};
use crate::outcome::Submitted;
use crate::principal::{Permission, Principal, Rights};
use crate::provider::Provider;
use pec::PecTime;
use std::net::IpAddr;
pub use store::Collaboration;
use store::{MailboxId, Store, StoreError};

/// At most this many collaborations (invited or active) per box, unless the plan says.
pub const MAX_PER_BOX: usize = 30;
/// An invitation's link works this long.
pub const INVITATION_SECS: i64 = 7 * 86_400;
/// The collaborators' passwords: the box policy, and at most this many characters (seed 002
/// §2.6.7: 8–20).
pub const MAX_PASSWORD_CHARS: usize = 20;

/// What a collaborator may do on a box (seed 002 §2.6.7, "Tipo di delega").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delegation {
    /// *Solo invio*: send PEC through SMTP submission (applications); nothing else.
    SendOnly,
    /// *Solo consultazione*: read received and sent messages; change and send nothing.
    ReadOnly,
    /// *Accesso completo*: what the owner does, except collaborators and the box's settings.
    Full,
}

impl Delegation {
    pub const ALL: [Delegation; 3] = [Delegation::SendOnly, Delegation::ReadOnly, Delegation::Full];

    /// As the store and the forms name it.
    pub fn code(self) -> &'static str {
        match self {
            Delegation::SendOnly => "invio",
            Delegation::ReadOnly => "consultazione",
            Delegation::Full => "completo",
        }
    }

    pub fn parse(code: &str) -> Option<Delegation> {
        Delegation::ALL.into_iter().find(|d| d.code() == code)
    }

    pub fn italian(self) -> &'static str {
        match self {
            Delegation::SendOnly => "Solo invio",
            Delegation::ReadOnly => "Solo consultazione",
            Delegation::Full => "Accesso completo",
        }
    }

    pub fn english(self) -> &'static str {
        match self {
            Delegation::SendOnly => "Send only",
            Delegation::ReadOnly => "Read only",
            Delegation::Full => "Full access",
        }
    }

    pub fn rights(self) -> Rights {
        match self {
            Delegation::SendOnly => Rights::of(&[Permission::Send]),
            Delegation::ReadOnly => Rights::of(&[Permission::Read]),
            Delegation::Full => {
                Rights::of(&[Permission::Read, Permission::Modify, Permission::Send])
            }
        }
    }
}

/// A collaborator's side of a [`Principal`]: who, on which collaboration, from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegate {
    pub username: String,
    pub collaboration: i64,
    pub delegation: Delegation,
    /// `None`: never ends.
    pub expires: Option<i64>,
    /// `webmail`, `imap`, `pop3`, `submission`: for the activity log.
    pub protocol: &'static str,
    pub ip: IpAddr,
}

/// How long a new collaboration lasts (seed: 3 months, 6 months, a date, unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duration {
    Months(u32),
    /// Until the end of this day (Unix time of its last second, Italian time).
    Until(i64),
    Unlimited,
}

impl Duration {
    /// When a collaboration starting `now` ends.
    pub fn expires(self, now: i64) -> Option<i64> {
        match self {
            // A month as 30 days: what "3 mesi" means to an office, to the day.
            Duration::Months(m) => Some(now + i64::from(m) * 30 * 86_400),
            Duration::Until(t) => Some(t),
            Duration::Unlimited => None,
        }
    }
}

/// Why a collaboration operation was refused: in Italian, for the user.
#[derive(Debug, thiserror::Error)]
pub enum CollaborationError {
    #[error("solo il titolare della casella gestisce i collaboratori")]
    NotOwner,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    #[error("il nome utente {0} è già in uso: sceglierne un altro")]
    UsernameTaken(String),
    #[error("invito non valido, già usato o scaduto")]
    InvitationInvalid,
    #[error("credenziali non valide")]
    Credentials,
    #[error("l'invito non è stato inviato: {0}")]
    NotSent(String),
    #[error("servizio non disponibile, riprovare più tardi")]
    Unavailable(String),
}

impl From<StoreError> for CollaborationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(w) => CollaborationError::Refused(w),
            StoreError::Exists(w) => CollaborationError::UsernameTaken(w),
            StoreError::NotFound(w) => CollaborationError::Refused(format!("{w} non esiste")),
            other => {
                tracing::error!(error = %other, "collaboration: store failure");
                CollaborationError::Unavailable(other.to_string())
            }
        }
    }
}

/// The owner's request for a new collaboration.
#[derive(Clone, Debug)]
pub struct Invitation<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub delegation: Delegation,
    pub duration: Duration,
}

/// A collaboration as the pages show it, its delegation typed.
#[derive(Clone, Debug)]
pub struct Shown {
    pub row: Collaboration,
    pub delegation: Delegation,
    /// `invitata`, `attiva`, `scaduta` (past its expiry) or `revocata`.
    pub state: &'static str,
}

fn shown(row: Collaboration, now: i64) -> Shown {
    let delegation = Delegation::parse(&row.kind).unwrap_or(Delegation::ReadOnly);
    let state = match row.state.as_str() {
        "revocata" => "revocata",
        _ if row.expires.is_some_and(|e| e <= now) => "scaduta",
        "attiva" => "attiva",
        _ if row.invite_expires <= now => "scaduta",
        _ => "invitata",
    };
    Shown {
        row,
        delegation,
        state,
    }
}

/// Only the owner (every right, not a delegate) manages collaborators.
fn owner(who: &Principal) -> Result<(), CollaborationError> {
    if who.delegate.is_some() || who.require(Permission::Settings).is_err() {
        return Err(CollaborationError::NotOwner);
    }
    Ok(())
}

/// 256 random bits, hex; the link carries it, the store its SHA-256.
fn new_token() -> Result<(String, String), CollaborationError> {
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| CollaborationError::Unavailable(format!("generatore casuale: {e}")))?;
    let token = hex::encode(b);
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(openssl::sha::sha256(token.as_bytes()))
}

/// An ordinary e-mail address as typed: one `@`, no spaces or controls, a dot in the domain.
fn check_email(email: &str) -> Result<(), CollaborationError> {
    if crate::accounts::is_email_address(email) {
        Ok(())
    } else {
        Err(CollaborationError::Invalid(format!(
            "indirizzo e-mail non valido: {}",
            email.chars().take(80).collect::<String>()
        )))
    }
}

/// A name for a person: 1–80 characters, no controls.
fn check_name(name: &str) -> Result<(), CollaborationError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 80 || name.chars().any(char::is_control) {
        return Err(CollaborationError::Invalid(
            "il nome del collaboratore è obbligatorio (al massimo 80 caratteri)".into(),
        ));
    }
    Ok(())
}

/// Usernames: 3–32 of `a-z 0-9 . _ -`, starting with a letter; unique provider-wide.
pub fn check_username(username: &str) -> Result<(), CollaborationError> {
    let ok = (3..=32).contains(&username.len())
        && username.starts_with(|c: char| c.is_ascii_lowercase())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CollaborationError::Invalid(
            "nome utente non valido: da 3 a 32 caratteri tra lettere minuscole, cifre, punto, \
             trattino e trattino basso, iniziando con una lettera"
                .into(),
        ))
    }
}

/// The box policy, plus the collaborators' upper bound of 20 characters.
pub fn check_password(password: &str, again: &str) -> Result<(), CollaborationError> {
    if password != again {
        return Err(CollaborationError::Invalid(
            "le due password non coincidono".into(),
        ));
    }
    let mut errors = check_password_policy(password).err().unwrap_or_default();
    if password.chars().count() > MAX_PASSWORD_CHARS {
        errors.push(format!(
            "deve contenere al massimo {MAX_PASSWORD_CHARS} caratteri"
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CollaborationError::Invalid(format!(
            "password non valida: {}",
            errors.join("; ")
        )))
    }
}

/// A mobile number: `+` and 6–15 digits, spaces allowed as typed.
fn check_mobile(mobile: &str) -> Result<String, CollaborationError> {
    let m: String = mobile.chars().filter(|c| *c != ' ').collect();
    let digits = m.strip_prefix('+').unwrap_or(&m);
    if (6..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(m)
    } else {
        Err(CollaborationError::Invalid(
            "numero di cellulare non valido".into(),
        ))
    }
}

fn day(t: i64) -> String {
    PecTime::from_unix_or_epoch(t).giorno()
}

/// The invitation's text (subject, body): who invites, with which rights, until when, and
/// the link.
fn invitation_message(
    p: &Provider,
    mailbox: &str,
    inv: &Invitation<'_>,
    expires: Option<i64>,
    link: &str,
    link_expires: i64,
) -> (String, String) {
    let until = expires.map_or_else(
        || "senza scadenza".to_string(),
        |e| format!("fino al {}", day(e)),
    );
    (
        format!("Invito a collaborare sulla casella PEC {mailbox}"),
        format!(
            "Gentile {name},\r\n\r\nil titolare della casella di posta elettronica certificata \
             {mailbox} la invita a collaborare con delega «{kind}» ({until}).\r\n\r\nPer \
             accettare apra il collegamento seguente entro il {link_day}; se non ha ancora un \
             account da collaboratore presso {provider} potrà crearlo nella stessa pagina:\r\n\
             \r\n{link}\r\n\r\nIl collegamento funziona una sola volta. Se non si aspettava \
             questo invito, lo ignori.\r\n\r\n{provider}\r\n",
            name = inv.name.trim(),
            kind = inv.delegation.italian(),
            link_day = day(link_expires),
            provider = p.identity.name,
        ),
    )
}

/// The message the box sends, as PEC, to the invitation's ordinary address.
fn message_bytes(p: &Provider, from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let date = PecTime::from_unix_or_epoch(p.now()).rfc5322();
    format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\n{}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        pec::wire::header("Subject", subject)
    )
    .into_bytes()
}

/// Sends the invitation for `id` with a new token, as a PEC from the box (the owner keeps
/// its acceptance receipt as proof).
fn send_invitation(
    p: &Provider,
    who: &Principal,
    inv: &Invitation<'_>,
    expires: Option<i64>,
    token: &str,
    link_expires: i64,
) -> Result<(), CollaborationError> {
    let link = format!("{}collaborazione?t={token}", p.migration.public_url);
    let (subject, body) = invitation_message(p, &who.address, inv, expires, &link, link_expires);
    let bytes = message_bytes(p, &who.address, inv.email, &subject, &body);
    match access::submit(p, who, &who.address, &[inv.email.to_string()], &bytes) {
        Submitted::Accepted { .. } => Ok(()),
        other => Err(CollaborationError::NotSent(other.to_string())),
    }
}

/// "Nuova collaborazione": records the invitation and sends it. A failed send leaves
/// nothing behind.
pub fn invite(
    p: &Provider,
    who: &Principal,
    inv: &Invitation<'_>,
) -> Result<i64, CollaborationError> {
    owner(who)?;
    check_email(inv.email)?;
    check_name(inv.name)?;
    let now = p.now();
    let expires = inv.duration.expires(now);
    if expires.is_some_and(|e| e <= now) {
        return Err(CollaborationError::Invalid(
            "la scadenza deve essere nel futuro".into(),
        ));
    }
    let (token, hash) = new_token()?;
    let link_expires = now + INVITATION_SECS;
    let id = p.store.invite(
        &store::NewCollaboration {
            mailbox_id: who.mailbox,
            invite_email: inv.email,
            name: inv.name.trim(),
            kind: inv.delegation.code(),
            expires,
            token_hash: &hash,
            invite_expires: link_expires,
        },
        max_per_box(p, who)?,
        now,
    )?;
    if let Err(e) = send_invitation(p, who, inv, expires, &token, link_expires) {
        // Not sent: the invitation goes too, and the slot is free again.
        if let Err(undo) = p.store.revoke(who.mailbox, id, now) {
            tracing::error!(error = %undo, "collaboration: unsent invitation not revoked");
        }
        return Err(e);
    }
    tracing::info!(mailbox = %who.address, collaboration = id, kind = inv.delegation.code(), "collaborator invited");
    log_holder(
        p,
        who,
        "collaboratore-invitato",
        &format!(
            "{} invitato con delega {}",
            inv.email,
            inv.delegation.italian()
        ),
    );
    Ok(id)
}

/// The legal-log record of what the holder did to the box's collaborators (after it was
/// done: a failure to write it is an operator's error, not the user's).
fn log_holder(p: &Provider, who: &Principal, event: &str, subject: &str) {
    let r = crate::operators::record(
        &*p.store,
        &p.identity.name,
        crate::operators::Action {
            event,
            target: &format!("casella:{}", who.address),
            actor: &format!("titolare:{}", who.address),
        },
        subject,
        p.now(),
    );
    if let Err(e) = r {
        tracing::error!(error = %e, event, "collaboration: legal-log record not written");
    }
}

/// The box's limit: its plan's, else [`MAX_PER_BOX`].
fn max_per_box(p: &Provider, who: &Principal) -> Result<usize, CollaborationError> {
    let Some(plan) = p.store.mailbox(&who.address)?.and_then(|m| m.plan) else {
        return Ok(MAX_PER_BOX);
    };
    Ok(p.store
        .plans()?
        .into_iter()
        .find(|x| x.name.eq_ignore_ascii_case(&plan))
        .and_then(|x| x.max_collaborators)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(MAX_PER_BOX))
}

/// "Reinvia": a new link (the old one stops working) and the invitation again.
pub fn resend(p: &Provider, who: &Principal, id: i64) -> Result<(), CollaborationError> {
    owner(who)?;
    let c = of_box(p, who, id)?;
    let (token, hash) = new_token()?;
    let link_expires = p.now() + INVITATION_SECS;
    p.store.renew_invitation(c.row.id, &hash, link_expires)?;
    let inv = Invitation {
        email: &c.row.invite_email,
        name: &c.row.name,
        delegation: c.delegation,
        duration: Duration::Unlimited,
    };
    send_invitation(p, who, &inv, c.row.expires, &token, link_expires)
}

/// One collaboration of the principal's box.
fn of_box(p: &Provider, who: &Principal, id: i64) -> Result<Shown, CollaborationError> {
    p.store
        .collaboration(id)?
        .filter(|c| c.mailbox_id == who.mailbox)
        .map(|c| shown(c, p.now()))
        .ok_or_else(|| CollaborationError::Refused(format!("collaborazione {id} non trovata")))
}

/// "Revoca": the collaboration ends now, its sessions with it.
pub fn revoke(p: &Provider, who: &Principal, id: i64) -> Result<(), CollaborationError> {
    owner(who)?;
    let c = of_box(p, who, id)?;
    p.store.revoke(who.mailbox, id, p.now())?;
    tracing::info!(mailbox = %who.address, collaboration = id, "collaboration revoked");
    let whom = c.row.collaborator.as_deref().unwrap_or(&c.row.invite_email);
    log_holder(
        p,
        who,
        "collaborazione-revocata",
        &format!("collaborazione di {whom} revocata"),
    );
    Ok(())
}

/// "Modifica": new rights or expiry; the collaborator's sessions end (they held the old ones).
pub fn change(
    p: &Provider,
    who: &Principal,
    id: i64,
    delegation: Delegation,
    duration: Duration,
) -> Result<(), CollaborationError> {
    owner(who)?;
    let now = p.now();
    let expires = duration.expires(now);
    if expires.is_some_and(|e| e <= now) {
        return Err(CollaborationError::Invalid(
            "la scadenza deve essere nel futuro".into(),
        ));
    }
    let c = of_box(p, who, id)?;
    p.store
        .change_collaboration(who.mailbox, id, delegation.code(), expires)?;
    let whom = c.row.collaborator.as_deref().unwrap_or(&c.row.invite_email);
    log_holder(
        p,
        who,
        "collaborazione-modificata",
        &format!("collaborazione di {whom}: delega {}", delegation.italian()),
    );
    Ok(())
}

/// The owner's list: collaborations and invitations, newest first.
pub fn list(p: &Provider, who: &Principal) -> Result<Vec<Shown>, CollaborationError> {
    owner(who)?;
    list_box(&*p.store, who.mailbox, p.now())
}

/// The collaborations of a box, for the owner's page and the operators' CLI.
pub fn list_box(
    store: &dyn Store,
    mailbox: MailboxId,
    now: i64,
) -> Result<Vec<Shown>, CollaborationError> {
    Ok(store
        .collaborations_of_box(mailbox)?
        .into_iter()
        .map(|c| shown(c, now))
        .collect())
}

/// What an invitation's link opens: the invitation, while it can be accepted.
pub fn invitation(p: &Provider, token: &str) -> Result<Shown, CollaborationError> {
    let now = p.now();
    p.store
        .invitation(&token_hash(token))?
        .map(|c| shown(c, now))
        .filter(|c| c.state == "invitata")
        .ok_or(CollaborationError::InvitationInvalid)
}

/// A new collaborator's registration from an invitation's link.
#[derive(Clone, Debug)]
pub struct Registration<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub password_again: &'a str,
    pub mobile: &'a str,
}

/// Creates the account and accepts the invitation, all or nothing. The password serves the
/// boxes and, until changed apart, the collaborator's panel. The account's e-mail is the one
/// the invitation reached (the link proves it is theirs): password resets go there.
pub fn register(
    p: &Provider,
    token: &str,
    r: &Registration<'_>,
) -> Result<Collaboration, CollaborationError> {
    let invitation = invitation(p, token)?;
    let username = r.username.trim().to_ascii_lowercase();
    check_username(&username)?;
    check_password(r.password, r.password_again)?;
    let mobile = check_mobile(r.mobile)?;
    let hash =
        hash_password(r.password).map_err(|e| CollaborationError::Unavailable(e.to_string()))?;
    let c = p.store.register(
        &token_hash(token),
        &store::NewCollaborator {
            username: &username,
            email: &invitation.row.invite_email,
            mobile: Some(&mobile),
            password_hash: &hash,
            panel_password_hash: &hash,
        },
        p.now(),
    )?;
    tracing::info!(collaborator = %username, mailbox = %c.mailbox, "collaborator registered");
    Ok(c)
}

/// "Accetta invito" for a collaborator who has an account: their panel credentials prove it.
pub async fn accept(
    p: &Provider,
    token: &str,
    username: &str,
    password: &str,
    ip: IpAddr,
) -> Result<Collaboration, CollaborationError> {
    let username = panel_login(p, username, password, ip).await?;
    let (store, hash, now) = (p.store.clone(), token_hash(token), p.now());
    let c = crate::blocking(move || store.accept(&hash, &username, now))
        .await
        .ok_or_else(|| CollaborationError::Unavailable("task".into()))?
        .map_err(|e| match e {
            StoreError::Refused(_) | StoreError::NotFound(_) => {
                CollaborationError::InvitationInvalid
            }
            other => other.into(),
        })?;
    Ok(c)
}

/// The collaborator's panel login (username and the panel's password), throttled like every
/// login; the username as stored.
pub async fn panel_login(
    p: &Provider,
    username: &str,
    password: &str,
    ip: IpAddr,
) -> Result<String, CollaborationError> {
    let username = username.trim().to_ascii_lowercase();
    let attempt = p
        .throttle
        .begin(ip, &format!("collaboratore:{username}"), p.now())
        .map_err(|_| {
            CollaborationError::Refused("troppi tentativi falliti: riprovare più tardi".into())
        })?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    let account = if check_username(&username).is_ok() {
        let (store, u) = (p.store.clone(), username.clone());
        crate::blocking(move || store.collaborator(&u))
            .await
            .ok_or_else(|| CollaborationError::Unavailable("task".into()))??
    } else {
        None
    };
    let hash = account.as_ref().map(|a| a.panel_password_hash.as_str());
    if !p.passwords.check(hash, password).await || account.is_none() {
        tracing::warn!(%ip, "collaborator panel login failed");
        return Err(CollaborationError::Credentials);
    }
    attempt.succeeded();
    Ok(username)
}

/// Which of a collaborator's passwords a change or a reset is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The boxes' (webmail, IMAP, POP3, submission).
    Boxes,
    /// The collaborator's panel.
    Panel,
    Both,
}

impl Which {
    pub fn parse(s: &str) -> Option<Which> {
        match s {
            "webmail" => Some(Which::Boxes),
            "pannello" => Some(Which::Panel),
            "entrambe" => Some(Which::Both),
            _ => None,
        }
    }
}

impl Which {
    fn code(self) -> &'static str {
        match self {
            Which::Boxes => "webmail",
            Which::Panel => "pannello",
            Which::Both => "entrambe",
        }
    }
}

/// Sets a collaborator's password(s): a new boxes' password ends their webmail sessions, a
/// new panel password their panel sessions.
pub fn set_password(
    p: &Provider,
    username: &str,
    which: Which,
    password: &str,
    again: &str,
) -> Result<(), CollaborationError> {
    check_password(password, again)?;
    let hash =
        hash_password(password).map_err(|e| CollaborationError::Unavailable(e.to_string()))?;
    let boxes = matches!(which, Which::Boxes | Which::Both).then_some(hash.as_str());
    let panel = matches!(which, Which::Panel | Which::Both).then_some(hash.as_str());
    p.store.update_collaborator(username, boxes, panel, None)?;
    if panel.is_some() {
        p.store.end_collaborator_tokens(username, "pannello")?;
    }
    tracing::info!(collaborator = %username, which = which.code(), "collaborator password changed");
    Ok(())
}

/// A panel session lasts this long from its login.
pub const PANEL_SESSION_SECS: i64 = 2 * 3600;
/// A reset link works this long, once.
pub const RESET_SECS: i64 = 30 * 60;
/// One reset mail per collaborator this often at most (no mail bombing).
const RESET_EVERY_SECS: i64 = 5 * 60;

/// A collaborator's panel session.
#[derive(Clone, Debug)]
pub struct PanelSession {
    pub username: String,
    pub csrf: String,
}

/// Starts a panel session for a collaborator who logged in; the token for the cookie.
pub fn panel_begin(p: &Provider, username: &str) -> Result<String, CollaborationError> {
    let (token, hash) = new_token()?;
    let (csrf, _) = new_token()?;
    let now = p.now();
    p.store.add_collaborator_token(&store::CollaboratorToken {
        token_hash: hash,
        username: username.to_string(),
        kind: "pannello".into(),
        csrf,
        created: now,
        expires: now + PANEL_SESSION_SECS,
    })?;
    Ok(token)
}

/// The live panel session a cookie's token names.
pub fn panel_session(
    p: &Provider,
    token: &str,
) -> Result<Option<PanelSession>, CollaborationError> {
    Ok(p.store
        .collaborator_token(&token_hash(token), p.now())?
        .filter(|t| t.kind == "pannello")
        .map(|t| PanelSession {
            username: t.username,
            csrf: t.csrf,
        }))
}

pub fn panel_end(p: &Provider, token: &str) -> Result<(), CollaborationError> {
    p.store
        .take_collaborator_token(&token_hash(token), p.now())?;
    Ok(())
}

/// "Password dimenticata": mails a single-use link for `which` password to the account's
/// address and returns that address partly hidden. An unknown username gets the same
/// answer with a decoy address only this provider can compute, always the same for the same
/// name — the page tells nothing about which usernames exist. At most one mail per
/// collaborator every few minutes (the answer is the same).
pub fn request_reset(
    p: &Provider,
    username: &str,
    which: Which,
) -> Result<String, CollaborationError> {
    let username = username.trim().to_ascii_lowercase();
    let account = if check_username(&username).is_ok() {
        p.store.collaborator(&username)?
    } else {
        None
    };
    let Some(account) = account else {
        return Ok(decoy(p, b"collaboratore-finto", &username));
    };
    let now = p.now();
    let shown = masked(&account.email);
    if p.store
        .collaborator_tokens_since(&account.username, "reset", now - RESET_EVERY_SECS)?
        > 0
    {
        return Ok(shown);
    }
    let (token, hash) = new_token()?;
    p.store.add_collaborator_token(&store::CollaboratorToken {
        token_hash: hash,
        username: account.username.clone(),
        kind: format!("reset-{}", which.code()),
        csrf: String::new(),
        created: now,
        expires: now + RESET_SECS,
    })?;
    let link = format!(
        "{}collaboratore/reimposta?t={token}",
        p.migration.public_url
    );
    let what = match which {
        Which::Boxes => "la password di accesso alle caselle",
        Which::Panel => "la password del pannello collaboratore",
        Which::Both => "le password di accesso alle caselle e del pannello collaboratore",
    };
    let body = format!(
        "Gentile {username},\r\n\r\nè stato chiesto di reimpostare {what}. Per sceglierne una \
         nuova apra entro 30 minuti il collegamento seguente (funziona una sola volta):\r\n\r\n\
         {link}\r\n\r\nSe non è stato lei a chiederlo, ignori questo messaggio: le password \
         attuali restano valide.\r\n\r\n{}\r\n",
        p.identity.name
    );
    crate::onboarding::queue_plain_mail(
        &*p.store,
        &p.identity,
        &account.email,
        "Reimpostazione della password da collaboratore",
        &body,
        now,
    )?;
    tracing::info!(collaborator = %username, which = which.code(), "collaborator reset link mailed");
    Ok(shown)
}

/// What a reset page shows for an unknown name: shaped like a real masked address, always
/// the same for the same name, computable only with the data directory's key.
pub(crate) fn decoy(p: &Provider, context: &[u8], name: &str) -> String {
    let mac = p
        .migration
        .key
        .mac(context, name.as_bytes())
        .unwrap_or_default();
    let letter = |i: usize| char::from(b'a' + mac.get(i).map_or(0, |b| b % 26));
    let tld = ["it", "com", "eu", "net"][usize::from(mac.get(4).copied().unwrap_or(0) % 4)];
    format!(
        "{}***{}@{}***{}.{tld}",
        letter(0),
        letter(1),
        letter(2),
        letter(3)
    )
}

/// The reset link's page: which password it resets, while it works.
pub fn reset_link(p: &Provider, token: &str) -> Result<Option<Which>, CollaborationError> {
    Ok(p.store
        .collaborator_token(&token_hash(token), p.now())?
        .and_then(|t| t.kind.strip_prefix("reset-").and_then(Which::parse)))
}

/// Sets the new password(s) by a reset link. A password the policy refuses leaves the link
/// working; once a password is set the link, and every other reset link, is spent.
pub fn reset(
    p: &Provider,
    token: &str,
    password: &str,
    again: &str,
) -> Result<(), CollaborationError> {
    check_password(password, again)?;
    let t = p
        .store
        .take_collaborator_token(&token_hash(token), p.now())?
        .ok_or(CollaborationError::InvitationInvalid)?;
    let which = t
        .kind
        .strip_prefix("reset-")
        .and_then(Which::parse)
        .ok_or(CollaborationError::InvitationInvalid)?;
    set_password(p, &t.username, which, password, again)?;
    p.store.end_collaborator_tokens(&t.username, "reset")?;
    Ok(())
}

/// Accepts, from the panel, an invitation sent to the collaborator's own address.
pub fn accept_from_panel(
    p: &Provider,
    username: &str,
    id: i64,
) -> Result<Collaboration, CollaborationError> {
    p.store
        .accept_by_id(id, username, p.now())
        .map_err(|e| match e {
            StoreError::Refused(_) | StoreError::NotFound(_) => {
                CollaborationError::InvitationInvalid
            }
            other => other.into(),
        })
}

/// "Modifica cellulare".
pub fn set_mobile(p: &Provider, username: &str, mobile: &str) -> Result<(), CollaborationError> {
    let mobile = check_mobile(mobile)?;
    p.store
        .update_collaborator(username, None, None, Some(&mobile))?;
    Ok(())
}

/// The collaborator's panel: their collaborations, and invitations to their address.
pub fn collaborations_of(p: &Provider, username: &str) -> Result<Vec<Shown>, CollaborationError> {
    let now = p.now();
    Ok(p.store
        .collaborations_of(username)?
        .into_iter()
        .map(|c| shown(c, now))
        .collect())
}

/// The principal of a collaborator's login on `mailbox` (its holder's record), once their
/// password was checked: `None` when the collaboration is not active or has expired.
pub fn principal(
    p: &Provider,
    mailbox: &store::Mailbox,
    collaboration: &Collaboration,
    username: &str,
    protocol: &'static str,
    ip: IpAddr,
) -> Option<Principal> {
    let s = shown(collaboration.clone(), p.now());
    if s.state != "attiva" {
        return None;
    }
    Some(Principal {
        mailbox: mailbox.id,
        address: mailbox.address.clone(),
        login: format!("{username}/{}", mailbox.address),
        rights: s.delegation.rights(),
        must_change_password: false,
        delegate: Some(Delegate {
            username: username.to_string(),
            collaboration: collaboration.id,
            delegation: s.delegation,
            expires: collaboration.expires,
            protocol,
            ip,
        }),
    })
}

/// Whether a collaborator's session may go on: its collaboration still active, unexpired,
/// with the rights the session holds. The owner's always may. Protocols ask before each
/// command and while waiting (IMAP IDLE), so a revocation ends a session within a minute.
pub fn still_valid(p: &Provider, who: &Principal) -> Result<bool, StoreError> {
    let Some(d) = &who.delegate else {
        return Ok(true);
    };
    let now = p.now();
    Ok(p.store.collaboration(d.collaboration)?.is_some_and(|c| {
        let s = shown(c, now);
        s.state == "attiva" && s.delegation == d.delegation
    }))
}

/// Records what a collaborator did (nothing for the owner). A failure to record is logged,
/// never the user's problem.
pub fn record(p: &Provider, who: &Principal, action: &str, detail: &str) {
    let Some(d) = &who.delegate else {
        return;
    };
    let a = store::Activity {
        mailbox_id: who.mailbox,
        collaborator: d.username.clone(),
        protocol: d.protocol.to_string(),
        ip: d.ip.to_string(),
        action: action.to_string(),
        detail: detail.chars().take(300).collect(),
        time: p.now(),
    };
    if let Err(e) = p.store.record_activity(&a) {
        tracing::warn!(error = %e, collaborator = %d.username, "collaborator activity not recorded");
    }
}

/// The owner's "Attività dei collaboratori".
pub fn activity(
    p: &Provider,
    who: &Principal,
    collaborator: Option<&str>,
    since: i64,
    until: i64,
) -> Result<Vec<store::Activity>, CollaborationError> {
    owner(who)?;
    Ok(p.store
        .activity(who.mailbox, collaborator, since, until, 5_000)?)
}

/// The activity as CSV (`;`, as Italian spreadsheets read it), newest first.
pub fn activity_csv(rows: &[store::Activity]) -> String {
    use crate::takeover::csv_field;
    let mut out = String::from("data;collaboratore;protocollo;indirizzo IP;azione;dettaglio\r\n");
    for a in rows {
        let t = PecTime::from_unix_or_epoch(a.time);
        out.push_str(
            &[
                format!("{} {}", t.giorno(), t.ora()),
                csv_field(&a.collaborator),
                csv_field(&a.protocol),
                csv_field(&a.ip),
                csv_field(&a.action),
                csv_field(&a.detail),
            ]
            .join(";"),
        );
        out.push_str("\r\n");
    }
    out
}

/// The partly hidden address a reset link goes to (`m***o@e***.it`), so the page confirms
/// where to look without disclosing it.
pub fn masked(email: &str) -> String {
    fn mask(s: &str) -> String {
        let chars: Vec<char> = s.chars().collect();
        match chars.as_slice() {
            [] => String::new(),
            [one] => format!("{one}***"),
            [first, .., last] => format!("{first}***{last}"),
        }
    }
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
            format!("{}@{}.{tld}", mask(local), mask(host))
        }
        None => mask(email),
    }
}

/// Revokes every open collaboration of `username` on a box (the operators' CLI); how many.
pub fn revoke_by_username(
    store: &dyn Store,
    mailbox: MailboxId,
    username: &str,
    now: i64,
) -> Result<usize, CollaborationError> {
    let mut n = 0;
    for c in store.collaborations_of_box(mailbox)? {
        if c.state != "revocata"
            && c.collaborator
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(username))
        {
            store.revoke(mailbox, c.id, now)?;
            n += 1;
        }
    }
    Ok(n)
}
