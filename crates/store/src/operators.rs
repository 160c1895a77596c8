//! The operator console's accounts and sessions (issue 16): people who run the provider, not
//! mailbox holders. Only hashes are stored — of the password (argon2id, the services') and
//! of each session's token — and the TOTP secret sealed by the services' key.

use crate::cached::Cached;
use crate::{Result, StoreError, Unix};
use rusqlite::{params, Connection, OptionalExtension};

/// An operator of the console.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub password_hash: String,
    /// The TOTP secret, sealed (`None`: no second factor).
    pub totp_secret: Option<Vec<u8>>,
    /// The last TOTP time step accepted: a code is used once (RFC 6238 §5.2).
    pub totp_last_step: i64,
    pub disabled: bool,
    pub created: Unix,
}

/// What an operator update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OperatorUpdate<'a> {
    pub password_hash: Option<&'a str>,
    /// `Some(None)` removes the second factor.
    pub totp_secret: Option<Option<&'a [u8]>>,
    pub disabled: Option<bool>,
}

/// One logged-in console browser.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub token_hash: String,
    pub operator: String,
    pub csrf: String,
    pub created: Unix,
    pub last_seen: Unix,
}

/// Operators and their sessions.
pub trait OperatorStore {
    /// `Exists` when the name is taken (names compare case-insensitively).
    fn add_operator(
        &self,
        name: &str,
        password_hash: &str,
        totp_secret: Option<&[u8]>,
        now: Unix,
    ) -> Result<()>;
    fn operator(&self, name: &str) -> Result<Option<Operator>>;
    fn operators(&self) -> Result<Vec<Operator>>;
    /// A new password, a changed second factor or a disabled account ends every session of
    /// the operator. `NotFound` for an unknown name.
    fn update_operator(&self, name: &str, update: &OperatorUpdate<'_>) -> Result<()>;
    /// Records `step` as used when it is later than the last one; false when it is not
    /// (a replayed or older code).
    fn use_totp_step(&self, name: &str, step: i64) -> Result<bool>;
    /// Records a new session, dropping those idle since before `expired_before`.
    fn start_operator_session(&self, s: &OperatorSession, expired_before: Unix) -> Result<()>;
    /// A session of an operator not disabled.
    fn operator_session(&self, token_hash: &str) -> Result<Option<OperatorSession>>;
    fn touch_operator_session(&self, token_hash: &str, now: Unix) -> Result<()>;
    fn end_operator_session(&self, token_hash: &str) -> Result<()>;
}

pub(crate) fn add(
    tx: &Connection,
    name: &str,
    password_hash: &str,
    totp_secret: Option<&[u8]>,
    now: Unix,
) -> Result<()> {
    let n = tx.exec(
        "INSERT OR IGNORE INTO operators(name, password_hash, totp_secret, created)
         VALUES (?1, ?2, ?3, ?4)",
        params![name, password_hash, totp_secret, now],
    )?;
    if n == 0 {
        return Err(StoreError::Exists(format!("operator {name}")));
    }
    Ok(())
}

const COLUMNS: &str = "name, password_hash, totp_secret, totp_last_step, disabled, created";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Operator> {
    Ok(Operator {
        name: r.get(0)?,
        password_hash: r.get(1)?,
        totp_secret: r.get(2)?,
        totp_last_step: r.get(3)?,
        disabled: r.get(4)?,
        created: r.get(5)?,
    })
}

pub(crate) fn get(c: &Connection, name: &str) -> Result<Option<Operator>> {
    Ok(c.row(
        &format!("SELECT {COLUMNS} FROM operators WHERE name = ?1"),
        [name],
        row,
    )
    .optional()?)
}

pub(crate) fn list(c: &Connection) -> Result<Vec<Operator>> {
    let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM operators ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn update(tx: &Connection, name: &str, u: &OperatorUpdate<'_>) -> Result<()> {
    let id: Option<i64> = tx
        .row("SELECT id FROM operators WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(id) = id else {
        return Err(StoreError::NotFound(format!("operator {name}")));
    };
    if let Some(hash) = u.password_hash {
        tx.exec(
            "UPDATE operators SET password_hash = ?2 WHERE id = ?1",
            params![id, hash],
        )?;
    }
    if let Some(secret) = u.totp_secret {
        tx.exec(
            "UPDATE operators SET totp_secret = ?2, totp_last_step = 0 WHERE id = ?1",
            params![id, secret],
        )?;
    }
    if let Some(disabled) = u.disabled {
        tx.exec(
            "UPDATE operators SET disabled = ?2 WHERE id = ?1",
            params![id, disabled],
        )?;
    }
    if u.password_hash.is_some() || u.totp_secret.is_some() || u.disabled == Some(true) {
        tx.exec("DELETE FROM operator_sessions WHERE operator_id = ?1", [id])?;
    }
    Ok(())
}

pub(crate) fn use_step(tx: &Connection, name: &str, step: i64) -> Result<bool> {
    let n = tx.exec(
        "UPDATE operators SET totp_last_step = ?2 WHERE name = ?1 AND totp_last_step < ?2",
        params![name, step],
    )?;
    Ok(n == 1)
}

pub(crate) fn start_session(
    tx: &Connection,
    s: &OperatorSession,
    expired_before: Unix,
) -> Result<()> {
    tx.exec(
        "DELETE FROM operator_sessions WHERE last_seen < ?1",
        [expired_before],
    )?;
    let n = tx.exec(
        "INSERT INTO operator_sessions(token_hash, operator_id, csrf, created, last_seen)
         SELECT ?1, id, ?3, ?4, ?4 FROM operators WHERE name = ?2 AND disabled = 0",
        params![s.token_hash, s.operator, s.csrf, s.created],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("operator {}", s.operator)));
    }
    Ok(())
}

pub(crate) fn session(c: &Connection, token_hash: &str) -> Result<Option<OperatorSession>> {
    Ok(c.row(
        "SELECT s.token_hash, o.name, s.csrf, s.created, s.last_seen
         FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
         WHERE s.token_hash = ?1 AND o.disabled = 0",
        [token_hash],
        |r| {
            Ok(OperatorSession {
                token_hash: r.get(0)?,
                operator: r.get(1)?,
                csrf: r.get(2)?,
                created: r.get(3)?,
                last_seen: r.get(4)?,
            })
        },
    )
    .optional()?)
}

pub(crate) fn touch(tx: &Connection, token_hash: &str, now: Unix) -> Result<()> {
    tx.exec(
        "UPDATE operator_sessions SET last_seen = ?2 WHERE token_hash = ?1",
        params![token_hash, now],
    )?;
    Ok(())
}

pub(crate) fn end(tx: &Connection, token_hash: &str) -> Result<()> {
    tx.exec(
        "DELETE FROM operator_sessions WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(())
}
