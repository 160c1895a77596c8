//! "Hai dimenticato la password?" for a box's holder (issue 18 item 6; seed 002 §2.6.3): the
//! address → the partly hidden recovery address a single-use 30-minute link went to (only its
//! hash is kept) → a new password under the one policy → a confirmation mail. An unknown
//! address, or a box without a recovery address, gets the same page with a decoy; at most
//! one mail per box every few minutes. A new password ends every session of the box and
//! every other link (the store does that).

use crate::accounts::{check_password_policy, hash_password};
use crate::collaboration::{masked, token_hash};
use crate::provider::Provider;
use store::StoreError;

/// A link works this long, once.
pub const LINK_SECS: i64 = 30 * 60;
/// One mail per box this often at most.
const EVERY_SECS: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("collegamento non valido, già usato o scaduto: chiederne uno nuovo")]
    LinkInvalid,
    #[error("le due password non coincidono")]
    Mismatch,
    #[error("password non valida: {}", .0.join("; "))]
    Policy(Vec<String>),
    #[error("servizio non disponibile, riprovare più tardi")]
    Unavailable(String),
}

impl From<StoreError> for RecoveryError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "password recovery: store failure");
        RecoveryError::Unavailable(e.to_string())
    }
}

/// Mails a reset link for `address` to its recovery address; returns that address partly
/// hidden (or a decoy).
pub fn request(p: &Provider, address: &str) -> Result<String, RecoveryError> {
    let address = address.trim().to_ascii_lowercase();
    let found = match crate::accounts::parse_login(&address) {
        Some(l) if l.user.is_none() => p.store.mailbox(&l.mailbox)?,
        _ => None,
    };
    let Some((m, recovery)) = found.and_then(|m| {
        let r = m.recovery_email.clone()?;
        Some((m, r))
    }) else {
        return Ok(crate::collaboration::decoy(p, b"casella-finta", &address));
    };
    let shown = masked(&recovery);
    let now = p.now();
    if p.store.password_resets_since(m.id, now - EVERY_SECS)? > 0 {
        return Ok(shown);
    }
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| RecoveryError::Unavailable(format!("generatore casuale: {e}")))?;
    let token = hex::encode(b);
    p.store
        .add_password_reset(m.id, &token_hash(&token), now, now + LINK_SECS)?;
    let link = format!("{}recupero/reimposta?t={token}", p.migration.public_url);
    let body = format!(
        "Gentile utente,\r\n\r\nè stato chiesto di reimpostare la password della casella PEC \
         {address}. Per sceglierne una nuova apra entro 30 minuti il collegamento seguente \
         (funziona una sola volta):\r\n\r\n{link}\r\n\r\nSe non è stato lei a chiederlo, ignori \
         questo messaggio: la password attuale resta valida.\r\n\r\n{}\r\n",
        p.identity.name
    );
    crate::onboarding::queue_plain_mail(
        &*p.store,
        &p.identity,
        &recovery,
        "Reimpostazione della password della casella PEC",
        &body,
        now,
    )?;
    tracing::info!(mailbox = %address, "password reset link mailed to the recovery address");
    Ok(shown)
}

/// The box a link is for, while it works.
pub fn link(p: &Provider, token: &str) -> Result<Option<String>, RecoveryError> {
    Ok(p.store.password_reset(&token_hash(token), p.now())?)
}

/// Sets the new password by a link: every session of the box and every link end; a
/// confirmation goes to the recovery address.
pub fn reset(
    p: &Provider,
    token: &str,
    password: &str,
    again: &str,
) -> Result<String, RecoveryError> {
    let address = link(p, token)?.ok_or(RecoveryError::LinkInvalid)?;
    if password != again {
        return Err(RecoveryError::Mismatch);
    }
    check_password_policy(password).map_err(RecoveryError::Policy)?;
    let hash = hash_password(password).map_err(|e| RecoveryError::Unavailable(e.to_string()))?;
    p.store.set_password(&address, &hash, false)?;
    tracing::info!(mailbox = %address, "password reset by link");
    crate::accounts::notify_password_changed(p, &address)?;
    Ok(address)
}
