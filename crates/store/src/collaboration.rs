//! Multiutenza (issue 17; seed 002 §2.6.7): collaborators — people with one username and
//! password for every box they work on — and their collaborations on boxes, from the
//! owner's invitation to its expiry or revocation; and what collaborators did, for the
//! owner's activity page.

use crate::cached::Cached;
use crate::{MailboxId, Result, StoreError, Unix};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A collaborator's account, provider-wide.
#[derive(Debug, Clone)]
pub struct Collaborator {
    pub id: i64,
    pub username: String,
    /// Where invitations and password resets go.
    pub email: String,
    pub mobile: Option<String>,
    /// The password for the boxes (webmail, IMAP, POP3, submission).
    pub password_hash: String,
    /// The password for the collaborator's panel.
    pub panel_password_hash: String,
    pub created: Unix,
}

/// A new collaborator's account.
#[derive(Debug, Clone)]
pub struct NewCollaborator<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub mobile: Option<&'a str>,
    pub password_hash: &'a str,
    pub panel_password_hash: &'a str,
}

/// One collaboration on a box, from its invitation on.
#[derive(Debug, Clone)]
pub struct Collaboration {
    pub id: i64,
    pub mailbox_id: MailboxId,
    /// The box's address.
    pub mailbox: String,
    /// The collaborator once the invitation is accepted.
    pub collaborator: Option<String>,
    /// The ordinary address the invitation went to.
    pub invite_email: String,
    /// The collaborator's name as the owner gave it.
    pub name: String,
    /// `invio`, `consultazione` or `completo` (the services' `Delegation`).
    pub kind: String,
    /// When the collaboration ends; `None`: never.
    pub expires: Option<Unix>,
    /// `invitata`, `attiva` or `revocata`.
    pub state: String,
    pub invited_at: Unix,
    /// The invitation's link stops working then.
    pub invite_expires: Unix,
    pub accepted_at: Option<Unix>,
}

/// An invitation to record.
#[derive(Debug, Clone)]
pub struct NewCollaboration<'a> {
    pub mailbox_id: MailboxId,
    pub invite_email: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub expires: Option<Unix>,
    /// SHA-256 of the link's token.
    pub token_hash: &'a str,
    pub invite_expires: Unix,
}

/// Something a collaborator did on a box.
#[derive(Debug, Clone)]
pub struct Activity {
    pub mailbox_id: MailboxId,
    pub collaborator: String,
    /// `webmail`, `imap`, `pop3`, `smtp`.
    pub protocol: String,
    pub ip: String,
    /// `accesso`, `lettura`, `invio`, `spostamento`, `eliminazione`, …
    pub action: String,
    pub detail: String,
    pub time: Unix,
}

/// A collaborator's panel session or password-reset link: only the token's hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollaboratorToken {
    pub token_hash: String,
    pub username: String,
    /// `pannello` (a panel session), `reset-webmail`, `reset-pannello`, `reset-entrambe`.
    pub kind: String,
    pub csrf: String,
    pub created: Unix,
    pub expires: Unix,
}

pub trait CollaborationStore {
    /// Records an invitation; `Refused` when the box has `max` collaborations that are
    /// active (unexpired) or invited (link still valid) already.
    fn invite(&self, c: &NewCollaboration<'_>, max: usize, now: Unix) -> Result<i64>;
    /// A new token for an invitation not accepted yet (the owner's "resend").
    fn renew_invitation(&self, id: i64, token_hash: &str, invite_expires: Unix) -> Result<()>;
    /// The invitation a link's token names, whatever its state.
    fn invitation(&self, token_hash: &str) -> Result<Option<Collaboration>>;
    /// Accepts an invitation for `collaborator` (an existing account or the one created in
    /// the same transaction by `register`): `Refused` when it is not `invitata` or its link
    /// expired, or the collaborator already works on the box.
    fn accept(&self, token_hash: &str, collaborator: &str, now: Unix) -> Result<Collaboration>;
    /// Creates the account and accepts the invitation, all or nothing; `Exists` when the
    /// username is taken.
    fn register(
        &self,
        token_hash: &str,
        account: &NewCollaborator<'_>,
        now: Unix,
    ) -> Result<Collaboration>;
    fn collaborator(&self, username: &str) -> Result<Option<Collaborator>>;
    /// New hashes (`None` leaves one as it is) and mobile.
    fn update_collaborator(
        &self,
        username: &str,
        password_hash: Option<&str>,
        panel_password_hash: Option<&str>,
        mobile: Option<&str>,
    ) -> Result<()>;
    /// The box's collaborations, invitations included, newest first.
    fn collaborations_of_box(&self, mailbox_id: MailboxId) -> Result<Vec<Collaboration>>;
    /// A collaborator's collaborations, and the invitations sent to their e-mail address.
    fn collaborations_of(&self, username: &str) -> Result<Vec<Collaboration>>;
    /// The active collaboration of `username` on the box `address`, if any (expiry is the
    /// caller's to check, against its clock).
    fn active_collaboration(&self, username: &str, address: &str) -> Result<Option<Collaboration>>;
    fn collaboration(&self, id: i64) -> Result<Option<Collaboration>>;
    /// Accepts, from the collaborator's panel, an invitation sent to the address of their
    /// account (the one an earlier link proved theirs): `Refused` as [`Self::accept`].
    fn accept_by_id(&self, id: i64, collaborator: &str, now: Unix) -> Result<Collaboration>;
    /// Records a panel session or a reset link; expired tokens go on the way.
    fn add_collaborator_token(&self, t: &CollaboratorToken) -> Result<()>;
    /// The unexpired token with this hash.
    fn collaborator_token(&self, token_hash: &str, now: Unix) -> Result<Option<CollaboratorToken>>;
    /// The unexpired token with this hash, removed: a reset link works once.
    fn take_collaborator_token(
        &self,
        token_hash: &str,
        now: Unix,
    ) -> Result<Option<CollaboratorToken>>;
    /// How many of a collaborator's tokens whose kind starts with `kind` were made since.
    fn collaborator_tokens_since(&self, username: &str, kind: &str, since: Unix) -> Result<usize>;
    /// Removes a collaborator's tokens whose kind starts with `kind` (`pannello`, `reset`).
    fn end_collaborator_tokens(&self, username: &str, kind: &str) -> Result<()>;
    /// Revokes a collaboration or an invitation of the box; its webmail sessions end.
    fn revoke(&self, mailbox_id: MailboxId, id: i64, now: Unix) -> Result<()>;
    /// New delegation and expiry for a collaboration of the box; its webmail sessions end
    /// (they carry the old rights).
    fn change_collaboration(
        &self,
        mailbox_id: MailboxId,
        id: i64,
        kind: &str,
        expires: Option<Unix>,
    ) -> Result<()>;
    fn record_activity(&self, a: &Activity) -> Result<()>;
    /// The box's activity between two times, newest first, at most `limit`.
    fn activity(
        &self,
        mailbox_id: MailboxId,
        collaborator: Option<&str>,
        since: Unix,
        until: Unix,
        limit: usize,
    ) -> Result<Vec<Activity>>;
}

const COLUMNS: &str = "c.id, c.mailbox_id, m.address, u.username, c.invite_email, c.name, c.kind,
    c.expires, c.state, c.invited_at, c.invite_expires, c.accepted_at";
const FROM: &str = "FROM collaborations c JOIN mailboxes m ON m.id = c.mailbox_id
    LEFT JOIN collaborators u ON u.id = c.collaborator_id";

fn row(r: &Row<'_>) -> rusqlite::Result<Collaboration> {
    Ok(Collaboration {
        id: r.get(0)?,
        mailbox_id: MailboxId(r.get(1)?),
        mailbox: r.get(2)?,
        collaborator: r.get(3)?,
        invite_email: r.get(4)?,
        name: r.get(5)?,
        kind: r.get(6)?,
        expires: r.get(7)?,
        state: r.get(8)?,
        invited_at: r.get(9)?,
        invite_expires: r.get(10)?,
        accepted_at: r.get(11)?,
    })
}

fn query(c: &Connection, filter: &str, p: impl rusqlite::Params) -> Result<Vec<Collaboration>> {
    let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} {FROM} WHERE {filter}"))?;
    let rows = st.query_map(p, row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn invite(
    tx: &Connection,
    c: &NewCollaboration<'_>,
    max: usize,
    now: Unix,
) -> Result<i64> {
    let open: i64 = tx.row(
        "SELECT count(*) FROM collaborations WHERE mailbox_id = ?1
           AND ((state = 'attiva' AND (expires IS NULL OR expires > ?2))
             OR (state = 'invitata' AND invite_expires > ?2))",
        params![c.mailbox_id.0, now],
        |r| r.get(0),
    )?;
    if usize::try_from(open).unwrap_or(usize::MAX) >= max {
        return Err(StoreError::Refused(format!(
            "la casella ha già {open} collaborazioni (al massimo {max})"
        )));
    }
    tx.exec(
        "INSERT INTO collaborations(mailbox_id, invite_email, name, kind, expires, state,
            invited_at, invite_token_hash, invite_expires)
         VALUES (?1, ?2, ?3, ?4, ?5, 'invitata', ?6, ?7, ?8)",
        params![
            c.mailbox_id.0,
            c.invite_email,
            c.name,
            c.kind,
            c.expires,
            now,
            c.token_hash,
            c.invite_expires
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn renew(tx: &Connection, id: i64, token_hash: &str, expires: Unix) -> Result<()> {
    let n = tx.exec(
        "UPDATE collaborations SET invite_token_hash = ?2, invite_expires = ?3
         WHERE id = ?1 AND state = 'invitata'",
        params![id, token_hash, expires],
    )?;
    if n == 0 {
        return Err(StoreError::Refused(
            "l'invito non è più in attesa di accettazione".into(),
        ));
    }
    Ok(())
}

pub(crate) fn by_token(c: &Connection, token_hash: &str) -> Result<Option<Collaboration>> {
    Ok(query(c, "c.invite_token_hash = ?1", [token_hash])?
        .into_iter()
        .next())
}

pub(crate) fn by_id(c: &Connection, id: i64) -> Result<Option<Collaboration>> {
    Ok(query(c, "c.id = ?1", [id])?.into_iter().next())
}

pub(crate) fn accept(
    tx: &Connection,
    token_hash: &str,
    username: &str,
    now: Unix,
) -> Result<Collaboration> {
    let invitation = by_token(tx, token_hash)?;
    accept_invitation(tx, invitation, username, now)
}

pub(crate) fn accept_by_id(
    tx: &Connection,
    id: i64,
    username: &str,
    now: Unix,
) -> Result<Collaboration> {
    let email: Option<String> = tx
        .row(
            "SELECT email FROM collaborators WHERE username = ?1",
            [username],
            |r| r.get(0),
        )
        .optional()?;
    let invitation = by_id(tx, id)?.filter(|i| {
        email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&i.invite_email))
    });
    accept_invitation(tx, invitation, username, now)
}

fn accept_invitation(
    tx: &Connection,
    invitation: Option<Collaboration>,
    username: &str,
    now: Unix,
) -> Result<Collaboration> {
    let invitation = invitation
        .filter(|i| i.state == "invitata" && i.invite_expires > now)
        .ok_or_else(|| StoreError::Refused("invito non valido, già usato o scaduto".into()))?;
    let user: i64 = tx
        .row(
            "SELECT id FROM collaborators WHERE username = ?1",
            [username],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("collaboratore {username}")))?;
    let already: Option<i64> = tx
        .row(
            "SELECT id FROM collaborations WHERE mailbox_id = ?1 AND collaborator_id = ?2
               AND state = 'attiva'",
            params![invitation.mailbox_id.0, user],
            |r| r.get(0),
        )
        .optional()?;
    if already.is_some() {
        return Err(StoreError::Refused(format!(
            "{username} collabora già sulla casella {}",
            invitation.mailbox
        )));
    }
    // The token is spent with the acceptance: a link works once.
    tx.exec(
        "UPDATE collaborations SET collaborator_id = ?2, state = 'attiva', accepted_at = ?3,
            invite_token_hash = NULL
         WHERE id = ?1",
        params![invitation.id, user, now],
    )?;
    by_id(tx, invitation.id)?.ok_or_else(|| StoreError::Internal("collaboration gone".into()))
}

pub(crate) fn register(
    tx: &Connection,
    token_hash: &str,
    a: &NewCollaborator<'_>,
    now: Unix,
) -> Result<Collaboration> {
    let n = tx.exec(
        "INSERT OR IGNORE INTO collaborators(username, email, mobile, password_hash,
            panel_password_hash, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            a.username,
            a.email,
            a.mobile,
            a.password_hash,
            a.panel_password_hash,
            now
        ],
    )?;
    if n == 0 {
        return Err(StoreError::Exists(format!("username {}", a.username)));
    }
    accept(tx, token_hash, a.username, now)
}

pub(crate) fn collaborator(c: &Connection, username: &str) -> Result<Option<Collaborator>> {
    Ok(c.row(
        "SELECT id, username, email, mobile, password_hash, panel_password_hash, created
         FROM collaborators WHERE username = ?1",
        [username],
        |r| {
            Ok(Collaborator {
                id: r.get(0)?,
                username: r.get(1)?,
                email: r.get(2)?,
                mobile: r.get(3)?,
                password_hash: r.get(4)?,
                panel_password_hash: r.get(5)?,
                created: r.get(6)?,
            })
        },
    )
    .optional()?)
}

pub(crate) fn update_collaborator(
    tx: &Connection,
    username: &str,
    password_hash: Option<&str>,
    panel_password_hash: Option<&str>,
    mobile: Option<&str>,
) -> Result<()> {
    let n = tx.exec(
        "UPDATE collaborators SET password_hash = coalesce(?2, password_hash),
            panel_password_hash = coalesce(?3, panel_password_hash),
            mobile = coalesce(?4, mobile)
         WHERE username = ?1",
        params![username, password_hash, panel_password_hash, mobile],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("collaboratore {username}")));
    }
    if password_hash.is_some() {
        end_sessions(
            tx,
            "collaboration_id IN (SELECT c.id FROM collaborations c JOIN collaborators u
               ON u.id = c.collaborator_id WHERE u.username = ?1)",
            params![username],
        )?;
    }
    Ok(())
}

fn end_sessions(tx: &Connection, filter: &str, p: impl rusqlite::Params) -> Result<()> {
    tx.exec(&format!("DELETE FROM web_sessions WHERE {filter}"), p)?;
    Ok(())
}

pub(crate) fn of_box(c: &Connection, mailbox_id: MailboxId) -> Result<Vec<Collaboration>> {
    query(
        c,
        "c.mailbox_id = ?1 ORDER BY c.invited_at DESC, c.id DESC",
        [mailbox_id.0],
    )
}

pub(crate) fn of_collaborator(c: &Connection, username: &str) -> Result<Vec<Collaboration>> {
    query(
        c,
        "u.username = ?1 OR (c.collaborator_id IS NULL AND c.state = 'invitata'
            AND lower(c.invite_email) = (SELECT lower(email) FROM collaborators
                                         WHERE username = ?1))
         ORDER BY c.invited_at DESC, c.id DESC",
        [username],
    )
}

pub(crate) fn active(
    c: &Connection,
    username: &str,
    address: &str,
) -> Result<Option<Collaboration>> {
    Ok(query(
        c,
        "u.username = ?1 AND m.address = ?2 AND c.state = 'attiva'",
        params![username, address],
    )?
    .into_iter()
    .next())
}

pub(crate) fn revoke(tx: &Connection, mailbox_id: MailboxId, id: i64, now: Unix) -> Result<()> {
    let n = tx.exec(
        "UPDATE collaborations SET state = 'revocata', revoked_at = ?3, invite_token_hash = NULL
         WHERE id = ?1 AND mailbox_id = ?2 AND state != 'revocata'",
        params![id, mailbox_id.0, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("collaborazione {id}")));
    }
    end_sessions(tx, "collaboration_id = ?1", [id])
}

pub(crate) fn change(
    tx: &Connection,
    mailbox_id: MailboxId,
    id: i64,
    kind: &str,
    expires: Option<Unix>,
) -> Result<()> {
    let n = tx.exec(
        "UPDATE collaborations SET kind = ?3, expires = ?4
         WHERE id = ?1 AND mailbox_id = ?2 AND state != 'revocata'",
        params![id, mailbox_id.0, kind, expires],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("collaborazione {id}")));
    }
    end_sessions(tx, "collaboration_id = ?1", [id])
}

pub(crate) fn record(tx: &Connection, a: &Activity) -> Result<()> {
    tx.exec(
        "INSERT INTO collaborator_activity(mailbox_id, collaborator, protocol, ip, action,
            detail, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            a.mailbox_id.0,
            a.collaborator,
            a.protocol,
            a.ip,
            a.action,
            a.detail,
            a.time
        ],
    )?;
    Ok(())
}

pub(crate) fn activity(
    c: &Connection,
    mailbox_id: MailboxId,
    collaborator: Option<&str>,
    since: Unix,
    until: Unix,
    limit: usize,
) -> Result<Vec<Activity>> {
    let mut st = c.prepare_cached(
        "SELECT mailbox_id, collaborator, protocol, ip, action, detail, time
         FROM collaborator_activity
         WHERE mailbox_id = ?1 AND (?2 IS NULL OR collaborator = ?2) AND time >= ?3
           AND time < ?4
         ORDER BY time DESC, id DESC LIMIT ?5",
    )?;
    let rows = st.query_map(
        params![
            mailbox_id.0,
            collaborator,
            since,
            until,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| {
            Ok(Activity {
                mailbox_id: MailboxId(r.get(0)?),
                collaborator: r.get(1)?,
                protocol: r.get(2)?,
                ip: r.get(3)?,
                action: r.get(4)?,
                detail: r.get(5)?,
                time: r.get(6)?,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn add_token(tx: &Connection, t: &CollaboratorToken) -> Result<()> {
    tx.exec(
        "DELETE FROM collaborator_tokens WHERE expires <= ?1",
        [t.created],
    )?;
    let n = tx.exec(
        "INSERT INTO collaborator_tokens(token_hash, collaborator_id, kind, csrf, created, expires)
         SELECT ?1, id, ?3, ?4, ?5, ?6 FROM collaborators WHERE username = ?2",
        params![
            t.token_hash,
            t.username,
            t.kind,
            t.csrf,
            t.created,
            t.expires
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "collaboratore {}",
            t.username
        )));
    }
    Ok(())
}

pub(crate) fn token(
    c: &Connection,
    token_hash: &str,
    now: Unix,
) -> Result<Option<CollaboratorToken>> {
    Ok(c.row(
        "SELECT t.token_hash, u.username, t.kind, t.csrf, t.created, t.expires
         FROM collaborator_tokens t JOIN collaborators u ON u.id = t.collaborator_id
         WHERE t.token_hash = ?1 AND t.expires > ?2",
        params![token_hash, now],
        |r| {
            Ok(CollaboratorToken {
                token_hash: r.get(0)?,
                username: r.get(1)?,
                kind: r.get(2)?,
                csrf: r.get(3)?,
                created: r.get(4)?,
                expires: r.get(5)?,
            })
        },
    )
    .optional()?)
}

pub(crate) fn take_token(
    tx: &Connection,
    token_hash: &str,
    now: Unix,
) -> Result<Option<CollaboratorToken>> {
    let t = token(tx, token_hash, now)?;
    tx.exec(
        "DELETE FROM collaborator_tokens WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(t)
}

pub(crate) fn end_tokens(tx: &Connection, username: &str, kind: &str) -> Result<()> {
    tx.exec(
        "DELETE FROM collaborator_tokens WHERE substr(kind, 1, length(?2)) = ?2
           AND collaborator_id = (SELECT id FROM collaborators WHERE username = ?1)",
        params![username, kind],
    )?;
    Ok(())
}

pub(crate) fn tokens_since(
    c: &Connection,
    username: &str,
    kind: &str,
    since: Unix,
) -> Result<usize> {
    let n: i64 = c.row(
        "SELECT count(*) FROM collaborator_tokens WHERE substr(kind, 1, length(?2)) = ?2
           AND created >= ?3
           AND collaborator_id = (SELECT id FROM collaborators WHERE username = ?1)",
        params![username, kind, since],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}
