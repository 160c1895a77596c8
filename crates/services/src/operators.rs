//! The operators of the console (issue 16 Build 5): their accounts (argon2id passwords, an
//! optional TOTP second factor, RFC 6238), their logins — throttled like every other login —
//! their sessions, and the legal-log records of what they do. Operators are created from the
//! command line only (whoever is root on the host); the console does not manage them.

use crate::accounts::{self, HashError};
use crate::provider::Provider;
use std::net::IpAddr;
use std::sync::Arc;
use store::{OperatorSession, OperatorUpdate, Store, StoreError};

/// RFC 6238 §4.1: the time step X, in seconds (the default every authenticator app uses).
pub const TOTP_STEP: i64 = 30;
/// Digits of a code (RFC 4226 §5.3; what authenticator apps show).
const TOTP_DIGITS: u32 = 6;
/// A secret of 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA-1.
const TOTP_SECRET_BYTES: usize = 20;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("nome di operatore non valido: lettere minuscole, cifre, '.', '-' o '_', fino a 64")]
    InvalidName,
    #[error("l'operatore {0} esiste già")]
    Exists(String),
    #[error("operatore {0} sconosciuto")]
    NotFound(String),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("cifratura del secondo fattore non riuscita: {0}")]
    Seal(openssl::error::ErrorStack),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OperatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(what) => OperatorError::Exists(what),
            StoreError::NotFound(what) => OperatorError::NotFound(what),
            e => OperatorError::Store(e),
        }
    }
}

/// What a new operator (or a new password or second factor) is told once.
#[derive(Debug)]
pub struct Credentials {
    pub password: Option<String>,
    /// `otpauth://totp/…` for the authenticator app (its QR code is the operator's business).
    pub totp_uri: Option<String>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The AEAD context a secret is sealed under: a secret copied to another operator's row
/// does not open.
fn totp_context(name: &str) -> Vec<u8> {
    format!("operatore-totp:{}", name.to_ascii_lowercase()).into_bytes()
}

fn new_totp(
    key: &crate::migration::SecretKey,
    provider: &str,
    name: &str,
) -> Result<(Vec<u8>, String), OperatorError> {
    let mut secret = [0u8; TOTP_SECRET_BYTES];
    openssl::rand::rand_bytes(&mut secret).map_err(OperatorError::Seal)?;
    let sealed = key
        .seal(&secret, &totp_context(name))
        .map_err(OperatorError::Seal)?;
    let issuer: String = provider
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let issuer = if issuer.is_empty() {
        "Certa".to_string()
    } else {
        issuer
    };
    let uri = format!(
        "otpauth://totp/{issuer}:{name}?secret={}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}",
        base32(&secret)
    );
    Ok((sealed, uri))
}

/// Adds an operator with a generated password (and a second factor when asked).
pub fn create(
    store: &dyn Store,
    key: &crate::migration::SecretKey,
    provider: &str,
    name: &str,
    with_totp: bool,
    now: i64,
) -> Result<Credentials, OperatorError> {
    if !valid_name(name) {
        return Err(OperatorError::InvalidName);
    }
    let password = accounts::generate_password()?;
    let hash = accounts::hash_password(&password)?;
    let totp = match with_totp {
        true => Some(new_totp(key, provider, name)?),
        false => None,
    };
    store
        .add_operator(
            name,
            &hash,
            totp.as_ref().map(|(sealed, _)| sealed.as_slice()),
            now,
        )
        .map_err(|e| match e {
            StoreError::Exists(_) => OperatorError::Exists(name.to_string()),
            e => e.into(),
        })?;
    Ok(Credentials {
        password: Some(password),
        totp_uri: totp.map(|(_, uri)| uri),
    })
}

/// A new generated password; the operator's sessions end.
pub fn new_password(store: &dyn Store, name: &str) -> Result<String, OperatorError> {
    let password = accounts::generate_password()?;
    let hash = accounts::hash_password(&password)?;
    store.update_operator(
        name,
        &OperatorUpdate {
            password_hash: Some(&hash),
            ..Default::default()
        },
    )?;
    Ok(password)
}

/// Turns the second factor on (a new secret: its URI) or off; the sessions end.
pub fn set_totp(
    store: &dyn Store,
    key: &crate::migration::SecretKey,
    provider: &str,
    name: &str,
    on: bool,
) -> Result<Option<String>, OperatorError> {
    let totp = match on {
        true => Some(new_totp(key, provider, name)?),
        false => None,
    };
    store.update_operator(
        name,
        &OperatorUpdate {
            totp_secret: Some(totp.as_ref().map(|(sealed, _)| sealed.as_slice())),
            ..Default::default()
        },
    )?;
    Ok(totp.map(|(_, uri)| uri))
}

/// Disables (or enables again) an operator; disabling ends their sessions.
pub fn set_disabled(store: &dyn Store, name: &str, disabled: bool) -> Result<(), OperatorError> {
    store.update_operator(
        name,
        &OperatorUpdate {
            disabled: Some(disabled),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// RFC 4648 §6 base32, without padding (as `otpauth://` URIs carry secrets).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// RFC 4226 §5.3 HOTP with HMAC-SHA-1: the code for `counter`, `digits` long.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> Option<u32> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    let key = PKey::hmac(secret).ok()?;
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha1(), &key).ok()?;
    signer.update(&counter.to_be_bytes()).ok()?;
    let mac = signer.sign_to_vec().ok()?;
    // Dynamic truncation: the low 4 bits of the last byte choose where 31 bits are read.
    let offset = usize::from(*mac.last()? & 0x0f);
    let word = mac.get(offset..offset + 4)?;
    let value = u32::from_be_bytes([word[0] & 0x7f, word[1], word[2], word[3]]);
    Some(value % 10u32.pow(digits))
}

/// RFC 6238 §4.2: the time step of `now`.
pub fn totp_step(now: i64) -> i64 {
    now.div_euclid(TOTP_STEP)
}

/// The step among `now`'s and its neighbours (RFC 6238 §5.2: one step of drift each way)
/// whose code is `code`.
fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let step = totp_step(now);
    [step - 1, step, step + 1].into_iter().find(|s| {
        u64::try_from(*s)
            .ok()
            .and_then(|c| hotp(secret, c, TOTP_DIGITS))
            .is_some_and(|v| v == wanted)
    })
}

/// Why a console login was refused; the page says the same for every one of them but
/// the throttle and an unavailable store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsoleLoginError {
    #[error("accesso non riuscito")]
    Refused,
    #[error("troppi tentativi non riusciti: riprovare tra qualche minuto")]
    Throttled,
    #[error("servizio momentaneamente non disponibile")]
    Unavailable,
}

/// How long a throttled attempt waits at most for one in flight on the same account.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A console login: name, password and — when the operator has one, or the console
/// requires it — the TOTP code, each code usable once. Throttled with the logins of every
/// protocol (per address and per account, the account being `operatore:NAME`); an unknown
/// name costs the same argon2id work as a known one. A success is a legal-log record.
pub async fn authenticate(
    p: &Arc<Provider>,
    name: &str,
    password: &str,
    code: &str,
    ip: IpAddr,
    require_totp: bool,
) -> Result<String, ConsoleLoginError> {
    let key = format!("operatore:{}", name.trim().to_ascii_lowercase());
    let mut waited = std::time::Duration::ZERO;
    let attempt = loop {
        match p.throttle.begin(ip, &key, p.now()) {
            Ok(a) => break a,
            Err(accounts::Throttled::Busy) if waited < QUEUE_WAIT => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                waited += std::time::Duration::from_millis(100);
            }
            Err(_) => return Err(ConsoleLoginError::Throttled),
        }
    };
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    let (store, lookup) = (p.store.clone(), name.trim().to_string());
    let operator = tokio::task::spawn_blocking(move || store.operator(&lookup))
        .await
        .map_err(|_| ConsoleLoginError::Unavailable)?
        .map_err(|_| ConsoleLoginError::Unavailable)?
        .filter(|o| !o.disabled);
    let hash = operator.as_ref().map(|o| o.password_hash.as_str());
    if !p.passwords.check(hash, password).await {
        return Err(ConsoleLoginError::Refused);
    }
    let Some(operator) = operator else {
        return Err(ConsoleLoginError::Refused);
    };
    match &operator.totp_secret {
        Some(sealed) => {
            let secret = p
                .migration
                .key
                .open(sealed, &totp_context(&operator.name))
                .ok_or(ConsoleLoginError::Unavailable)?;
            let step = matching_step(&secret, code, p.now()).ok_or(ConsoleLoginError::Refused)?;
            // A code seen once (by a shoulder or a proxy) does not log in again.
            let (store, n) = (p.store.clone(), operator.name.clone());
            let fresh = tokio::task::spawn_blocking(move || store.use_totp_step(&n, step))
                .await
                .map_err(|_| ConsoleLoginError::Unavailable)?
                .map_err(|_| ConsoleLoginError::Unavailable)?;
            if !fresh {
                return Err(ConsoleLoginError::Refused);
            }
        }
        None if require_totp => return Err(ConsoleLoginError::Refused),
        None => {}
    }
    attempt.succeeded();
    let (store, provider, who, now) = (
        p.store.clone(),
        p.identity.name.clone(),
        operator.name.clone(),
        p.now(),
    );
    let actor = actor(&who);
    tokio::task::spawn_blocking(move || {
        record(
            &*store,
            &provider,
            Action {
                event: "operatore-accesso",
                target: &format!("operatore:{who}"),
                actor: &actor,
            },
            &format!("accesso alla console dell'operatore {who} da {ip}"),
            now,
        )
    })
    .await
    .map_err(|_| ConsoleLoginError::Unavailable)?
    .map_err(|_| ConsoleLoginError::Unavailable)?;
    tracing::info!(operator = %operator.name, %ip, "console login");
    Ok(operator.name)
}

/// How an operator is named in the legal log.
pub fn actor(name: &str) -> String {
    format!("operatore:{name}")
}

/// Console sessions' limits.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused for this long ends.
    pub idle_secs: i64,
    /// A session ends this long after its login, however busy.
    pub lifetime_secs: i64,
}

/// A session is touched at most this often.
const TOUCH_SECS: i64 = 60;

/// Records a console session for `operator` named by the hash of its token.
pub fn begin_session(
    store: &dyn Store,
    operator: &str,
    token_hash: String,
    csrf: String,
    limits: SessionLimits,
    now: i64,
) -> Result<(), StoreError> {
    store.start_operator_session(
        &OperatorSession {
            token_hash,
            operator: operator.to_string(),
            csrf,
            created: now,
            last_seen: now,
        },
        now - limits.idle_secs,
    )
}

/// The live console session named by `token_hash`: an idle or too old one ends here.
pub fn session(
    store: &dyn Store,
    token_hash: &str,
    limits: SessionLimits,
    now: i64,
) -> Result<Option<OperatorSession>, StoreError> {
    let Some(s) = store.operator_session(token_hash)? else {
        return Ok(None);
    };
    if now - s.last_seen >= limits.idle_secs || now - s.created >= limits.lifetime_secs {
        store.end_operator_session(token_hash)?;
        return Ok(None);
    }
    if now - s.last_seen >= TOUCH_SECS {
        store.touch_operator_session(token_hash, now)?;
    }
    Ok(Some(s))
}

/// What an operator (or the CLI, or the system) did, for its legal-log record.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// `casella-creata`, `piano-creato`, …
    pub event: &'a str,
    /// What it was done to, as `kind:name` (`casella:ADDR`, `dominio:D`, `piano:NOME`).
    pub target: &'a str,
    /// `operatore:NAME`, `cli:USER` or `sistema`.
    pub actor: &'a str,
}

/// Writes the legal-log record of an administrative action: its target in the message-id
/// field (so `certa log search --msgid casella:ADDR` finds a box's history) and who did it
/// in the sender's. Never a password.
pub fn record(
    store: &dyn Store,
    provider: &str,
    action: Action<'_>,
    subject: &str,
    now: i64,
) -> Result<(), StoreError> {
    store.write(|tx| {
        tx.log_append(&store::LogRecord {
            time: now,
            event: action.event,
            msgid: action.target,
            sender: action.actor,
            recipients: &[],
            subject,
            related: &[],
            provider,
            actor: "",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_as_in_rfc_4648_section_10() {
        for (plain, coded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), coded, "{plain}");
        }
    }

    #[test]
    fn totp_as_in_rfc_6238_appendix_b() {
        // The SHA-1 seed and the 8-digit values of the RFC's table.
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let step = u64::try_from(totp_step(time)).expect("step");
            assert_eq!(hotp(seed, step, 8), Some(code), "T = {time}");
        }
        // The 6-digit code is the same value's last six digits, zero-padded.
        assert_eq!(hotp(seed, 37037036, 6), Some(81804));
        assert_eq!(matching_step(seed, "081804", 1111111109), Some(37037036));
        // One step of drift either way is accepted, two are not; garbage never.
        assert_eq!(
            matching_step(seed, "081804", 1111111109 + 30),
            Some(37037036)
        );
        assert_eq!(matching_step(seed, "081804", 1111111109 + 60), None);
        for bad in ["", "08180", "0818045", "08180x", "-81804"] {
            assert_eq!(matching_step(seed, bad, 1111111109), None, "{bad:?}");
        }
    }

    #[test]
    fn operator_names() {
        assert!(valid_name("mario.rossi") && valid_name("op-1_a"));
        for bad in ["", "Mario", "mario rossi", "mario/x", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
