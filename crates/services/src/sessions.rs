//! Webmail sessions: kept in the store (a restart logs nobody out), named by the hash of
//! the random token the browser's cookie carries. A session ends after [`IDLE_SECS`]
//! unused or once older than the configured lifetime, whichever comes first; a new
//! password ends every session of its mailbox (the store does that).

use crate::mailbox::{blocking, MailboxError};
use crate::principal::Principal;
use crate::provider::Provider;
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
) -> Result<Option<SessionRecord>, MailboxError> {
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
        if now - s.last_seen >= TOUCH_SECS {
            // Losing a touch only shortens the session's life: the request goes on.
            if let Err(e) = p.store.touch_session(&s.token_hash, now) {
                tracing::warn!(error = %e, "webmail session not touched");
            }
        }
        Ok(Some(s))
    })
    .await
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
