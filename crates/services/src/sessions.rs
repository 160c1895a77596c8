//! Webmail sessions: kept in the store (a restart logs nobody out), named by the hash of
//! the random token the browser's cookie carries. A session ends after [`IDLE_SECS`]
//! unused or once older than the configured lifetime, whichever comes first; a new
//! password ends every session of its mailbox (the store does that).

use crate::collaboration;
use crate::mailbox::{blocking, MailboxError};
use crate::principal::{Principal, Rights};
use crate::provider::Provider;
use std::net::IpAddr;
use std::sync::Arc;

pub use store::WebSession as SessionRecord;

/// A session unused for this long ends.
pub const IDLE_SECS: i64 = 2 * 3600;
/// A session's last use is written at most this often.
pub const TOUCH_SECS: i64 = 60;

/// Records a new session for `who`; sessions idle for too long are dropped on the way.
pub async fn begin(
    p: &Arc<Provider>,
    who: &Principal,
    token_hash: String,
    csrf: String,
    lang: &str,
) -> Result<(), MailboxError> {
    let now = p.now();
    let s = SessionRecord {
        token_hash,
        mailbox_id: who.mailbox,
        address: String::new(),
        csrf,
        lang: lang.to_string(),
        must_change_password: false,
        created: now,
        last_seen: now,
        collaboration_id: who.delegate.as_ref().map(|d| d.collaboration),
    };
    let p = p.clone();
    blocking(move || Ok(p.store.start_session(&s, now - IDLE_SECS)?)).await
}

/// The live session named by `token_hash`, if any: an idle one, or one older than
/// `lifetime` (a stolen cookie does not work for ever by being used), ends here.
pub async fn lookup(
    p: &Arc<Provider>,
    token_hash: String,
    lifetime: i64,
    ip: IpAddr,
) -> Result<Option<(SessionRecord, Principal)>, MailboxError> {
    let p = p.clone();
    blocking(move || {
        let now = p.now();
        let Some(s) = p.store.session(&token_hash)? else {
            return Ok(None);
        };
        if now - s.last_seen >= IDLE_SECS || now - s.created >= lifetime {
            p.store.end_session(&s.token_hash)?;
            return Ok(None);
        }
        // A collaborator's session holds only while the collaboration does (an expired one
        // ends here; a revoked one's sessions are gone already).
        let Some(who) = principal(&p, &s, ip)? else {
            p.store.end_session(&s.token_hash)?;
            return Ok(None);
        };
        if now - s.last_seen >= TOUCH_SECS {
            // Losing a touch only shortens the session's life: the request goes on.
            if let Err(e) = p.store.touch_session(&s.token_hash, now) {
                tracing::warn!(error = %e, "webmail session not touched");
            }
        }
        Ok(Some((s, who)))
    })
    .await
}

/// Whether a session is still open, without touching it (a page's open stream is not the
/// user's activity): it exists, is within its idle and total lifetime, and a collaborator's
/// collaboration still holds. Anything unknown reads as closed.
pub async fn still_open(
    p: &Arc<Provider>,
    token_hash: String,
    lifetime: i64,
    who: Principal,
) -> bool {
    let p = p.clone();
    blocking(move || -> Result<bool, MailboxError> {
        let now = p.now();
        let Some(s) = p.store.session(&token_hash)? else {
            return Ok(false);
        };
        if now - s.last_seen >= IDLE_SECS || now - s.created >= lifetime {
            return Ok(false);
        }
        Ok(collaboration::still_valid(&p, &who)?)
    })
    .await
    .unwrap_or(false)
}

/// Who a session acts as: the holder, or the collaborator of its collaboration while it is
/// active.
fn principal(
    p: &Provider,
    s: &SessionRecord,
    ip: IpAddr,
) -> Result<Option<Principal>, MailboxError> {
    let Some(id) = s.collaboration_id else {
        return Ok(Some(Principal {
            mailbox: s.mailbox_id,
            address: s.address.clone(),
            login: s.address.clone(),
            rights: Rights::all(),
            must_change_password: s.must_change_password,
            delegate: None,
        }));
    };
    let Some(c) = p.store.collaboration(id)? else {
        return Ok(None);
    };
    let (Some(username), Some(mailbox)) = (c.collaborator.clone(), p.store.mailbox(&s.address)?)
    else {
        return Ok(None);
    };
    Ok(collaboration::principal(
        p, &mailbox, &c, &username, "webmail", ip,
    ))
}

/// Switches a session's language (the mailbox's default is a setting apart).
pub async fn set_lang(
    p: &Arc<Provider>,
    token_hash: String,
    lang: &str,
) -> Result<(), MailboxError> {
    let (p, lang) = (p.clone(), lang.to_string());
    blocking(move || Ok(p.store.set_session_lang(&token_hash, &lang)?)).await
}

/// Logs a session out.
pub async fn end(p: &Arc<Provider>, token_hash: String) -> Result<(), MailboxError> {
    let p = p.clone();
    blocking(move || Ok(p.store.end_session(&token_hash)?)).await
}
