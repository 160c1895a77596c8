//! Copying an old PEC box from the provider it leaves (issue 15; seeds 000 and 001, features
//! G1–G5 and S3). The user (webmail) or the operator (`certa migrate`) starts a job with the
//! old address and password; `certa serve` runs it in the background ([`engine`]): it reads
//! the old box over IMAPS and puts every message here byte for byte, through the mailbox
//! service, then keeps the box in step every day until the switch-over date.
//!
//! The rules, written once for the webmail and the CLI:
//! - only the old INBOX unless the operator allows every folder (G3);
//! - into a folder named after the old address (default) or into INBOX (G1);
//! - a message is known by its (UIDVALIDITY, UID) and its SHA-256: a run copies only what
//!   has no item yet, and a deletion at the source is counted, never copied (G4);
//! - the state and its time stamp, with errors by kind and what to do (G2, G5, S3);
//! - the old password sealed at rest ([`SecretKey`]) and erased when the job ends.

mod engine;
mod providers;
pub mod report;
mod secret;

pub use engine::{run_job, verify_old_password};
pub use secret::SecretKey;
pub use store::{MigrationErrorKind, MigrationJob, MigrationState};

use crate::provider::Provider;
use std::sync::Arc;
use store::{MailboxId, NewMigrationJob, Store, StoreError};

/// An IMAPS server of an old provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
}

impl Server {
    /// `host:port`, or `host` for the IMAPS port 993.
    pub fn parse(text: &str) -> Option<Server> {
        let text = text.trim();
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (text, 993),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        (valid && port != 0).then(|| Server {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The operator's configuration for the boxes of one old domain (`[[migration.domain]]`).
#[derive(Debug, Clone)]
pub struct OldDomain {
    pub name: String,
    pub server: Server,
    /// Extra CA (PEM) trusted for that server.
    pub ca_pem: Option<String>,
    /// The switch-over date of the boxes of that domain.
    pub switch_at: Option<i64>,
    /// Its POP3S server, for the unique ids a program reading the box by POP3 knows
    /// (default: the IMAPS server's host, port 995).
    pub pop3: Option<Server>,
}

impl OldDomain {
    /// The boxes of `name` are read at `server`; no extra CA, no switch-over date, POP3 on
    /// the same host.
    pub fn new(name: &str, server: Server) -> OldDomain {
        OldDomain {
            name: name.to_ascii_lowercase(),
            server,
            ca_pem: None,
            switch_at: None,
            pop3: None,
        }
    }
}

/// How copies run (`[migration]` in certa.toml).
#[derive(Debug)]
pub struct Settings {
    /// The page, the banner and `migrate start`; off, nothing starts.
    pub enabled: bool,
    /// Users may copy every folder of the old box, not only its INBOX.
    pub all_folders_allowed: bool,
    /// The daily sync, in Italian time (hour, minute).
    pub sync_at: (u32, u32),
    /// Jobs running at once.
    pub jobs: usize,
    /// Jobs running at once against one old server.
    pub per_host: usize,
    /// Days before a domain's switch-over when the holders who have not started their copy
    /// are reminded (issue 16).
    pub reminder_days: Vec<i64>,
    /// Messages and bytes per fetch and per transaction.
    pub batch_messages: usize,
    pub batch_bytes: usize,
    pub domains: Vec<OldDomain>,
    pub timeouts: imapclient::Timeouts,
    pub key: SecretKey,
    /// The webmail's public address ("https://…/"), written in welcome and reminder mails
    /// (with its start page, `attivazione`): never taken from a request's Host.
    pub public_url: String,
}

impl Settings {
    /// The defaults, with `key`.
    pub fn new(key: SecretKey) -> Settings {
        Settings {
            enabled: true,
            all_folders_allowed: false,
            sync_at: (3, 0),
            jobs: 8,
            per_host: 4,
            reminder_days: vec![7, 3, 1],
            batch_messages: 256,
            batch_bytes: 8 << 20,
            domains: Vec::new(),
            timeouts: imapclient::Timeouts::default(),
            key,
            public_url: String::new(),
        }
    }

    /// Where the boxes of `old_address` are read: the one given, else the operator's
    /// configuration for its domain, else the built-in table of the main providers.
    pub fn server_for(
        &self,
        old_address: &str,
        given: Option<Server>,
    ) -> Option<(Server, Option<String>)> {
        if let Some(s) = given {
            let ca = self.domain_of(old_address).and_then(|d| d.ca_pem.clone());
            return Some((s, ca));
        }
        if let Some(d) = self.domain_of(old_address) {
            return Some((d.server.clone(), d.ca_pem.clone()));
        }
        let domain = old_address.rsplit_once('@')?.1;
        providers::server_of(domain).map(|s| (s, None))
    }

    /// The operator's entry for the domain of an address.
    pub fn domain_of(&self, old_address: &str) -> Option<&OldDomain> {
        let domain = old_address.rsplit_once('@')?.1;
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain))
    }

    /// The POP3S server of the boxes of `old_address` read at `imap_host`.
    pub fn pop3_for(&self, old_address: &str, imap_host: &str) -> Server {
        self.domain_of(old_address)
            .and_then(|d| d.pop3.clone())
            .unwrap_or_else(|| Server {
                host: imap_host.to_string(),
                port: 995,
            })
    }

    /// The switch-over date of the boxes of `old_address`'s domain, if the operator set one.
    pub fn switch_for(&self, old_address: &str) -> Option<i64> {
        self.domain_of(old_address).and_then(|d| d.switch_at)
    }

    /// The domain of our `address` is being taken over from another provider (the
    /// operator's entry; in a takeover the addresses stay), its switch-over still to come.
    pub fn takes_over(&self, address: &str, now: i64) -> bool {
        self.enabled
            && self
                .domain_of(address)
                .is_some_and(|d| d.switch_at.is_none_or(|t| t > now))
    }

    /// The next daily sync after `now`.
    pub fn next_sync(&self, now: i64) -> i64 {
        next_daily(now, self.sync_at)
    }
}

/// What a user or the operator asks to start.
pub struct StartRequest {
    /// Our mailbox, copied into.
    pub address: String,
    pub old_address: String,
    pub password: String,
    /// The old server, when given (else [`Settings::server_for`]).
    pub server: Option<Server>,
    /// Extra CA (PEM) for the old server.
    pub ca_pem: Option<String>,
    pub into_inbox: bool,
    pub all_folders: bool,
}

/// Why a job could not be started or changed. The text is Italian, for the page and the CLI.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("la copia da un altro gestore non è attiva su questo servizio")]
    Disabled,
    #[error("la casella {0} non esiste")]
    NoMailbox(String),
    #[error("indirizzo PEC non valido: {0}")]
    InvalidAddress(String),
    #[error("la password è vuota o troppo lunga")]
    InvalidPassword,
    #[error("server del vecchio gestore sconosciuto per {0}: indicarlo (host:porta)")]
    UnknownServer(String),
    #[error("la copia di tutte le cartelle non è consentita dal gestore")]
    AllFoldersNotAllowed,
    #[error("è già in corso una copia da un'altra casella: fermarla prima")]
    Busy,
    #[error("la copia è in corso: attendere che finisca")]
    Running,
    #[error("nessuna copia per la casella {0}")]
    NoJob(String),
    #[error("servizio non disponibile, riprovare più tardi")]
    Store(#[from] StoreError),
}

impl MigrationError {
    /// The same in English, for the webmail in English.
    pub fn english(&self) -> String {
        match self {
            MigrationError::Disabled => "copying from another provider is not enabled here".into(),
            MigrationError::NoMailbox(a) => format!("the mailbox {a} does not exist"),
            MigrationError::InvalidAddress(a) => format!("invalid PEC address: {a}"),
            MigrationError::InvalidPassword => "the password is empty or too long".into(),
            MigrationError::UnknownServer(a) => {
                format!("unknown server of the old provider for {a}: enter it (host:port)")
            }
            MigrationError::AllFoldersNotAllowed => {
                "copying every folder is not allowed by the provider".into()
            }
            MigrationError::Busy => "a copy from another box is under way: stop it first".into(),
            MigrationError::Running => "the copy is under way: wait for it to finish".into(),
            MigrationError::NoJob(a) => format!("no copy for the mailbox {a}"),
            MigrationError::Store(_) => "service unavailable, try again later".into(),
        }
    }
}

/// What the webmail says about copying on every page: whether Impostazioni links the page,
/// and whether the banner inviting to copy is due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Invitation {
    pub enabled: bool,
    pub banner: bool,
}

/// The banner is due while the mailbox's domain is being taken over and its copy is not
/// done (copied and kept in step, ended, or stopped). One store read, only for a domain
/// being taken over; a store failure hides the banner, never the page.
pub fn invitation(
    store: &dyn Store,
    settings: &Settings,
    (mailbox, address): (MailboxId, &str),
    now: i64,
) -> Invitation {
    let taken_over = settings.takes_over(address, now)
        || (settings.enabled && matches!(migrating_domain(store, address), Ok(Some(_))));
    let banner = taken_over
        && match store.migration_job(mailbox) {
            Ok(job) => job.is_none_or(|j| {
                !matches!(
                    j.state,
                    MigrationState::Copied | MigrationState::Finished | MigrationState::Stopped
                )
            }),
            Err(_) => false,
        };
    Invitation {
        enabled: settings.enabled,
        banner,
    }
}

/// The longest password accepted (IMAP servers take far less).
const MAX_PASSWORD: usize = 1024;

/// What seals a job's password: its mailbox and old address, so the sealed bytes open only
/// for that job.
fn secret_context(address: &str, old_address: &str) -> Vec<u8> {
    format!(
        "{}\0{}",
        address.to_ascii_lowercase(),
        old_address.to_ascii_lowercase()
    )
    .into_bytes()
}

fn valid_address(a: &str) -> bool {
    match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && a.len() <= 254
                && !domain.contains('@')
                && a.bytes().all(|b| b.is_ascii_graphic())
        }
        None => false,
    }
}

/// Starts a copy into `req.address`, or starts its job again (a resume after an error: what
/// was copied stays and is not copied twice). The job runs in `certa serve`.
pub fn start(
    store: &dyn Store,
    settings: &Settings,
    req: &StartRequest,
    now: i64,
) -> Result<MigrationJob, MigrationError> {
    if !settings.enabled {
        return Err(MigrationError::Disabled);
    }
    let old = req.old_address.trim();
    if !valid_address(old) {
        return Err(MigrationError::InvalidAddress(old.to_string()));
    }
    if req.password.is_empty() || req.password.len() > MAX_PASSWORD {
        return Err(MigrationError::InvalidPassword);
    }
    if req.all_folders && !settings.all_folders_allowed {
        return Err(MigrationError::AllFoldersNotAllowed);
    }
    let mailbox = store
        .mailbox(&req.address)?
        .ok_or_else(|| MigrationError::NoMailbox(req.address.clone()))?;
    if store
        .migration_job(mailbox.id)?
        .is_some_and(|j| j.state == MigrationState::Copying)
    {
        return Err(MigrationError::Running);
    }
    // A domain of ours in migration (issue 16) names its old server and its switch-over;
    // else the operator's configuration, else the table of the main providers.
    let ours = migrating_domain(store, old)?;
    let given = req.server.clone().or_else(|| {
        ours.as_ref()
            .and_then(|d| d.old_server.as_deref())
            .and_then(Server::parse)
    });
    let (server, domain_ca) = settings
        .server_for(old, given)
        .ok_or_else(|| MigrationError::UnknownServer(old.to_string()))?;
    let secret = settings
        .key
        .seal(
            req.password.as_bytes(),
            &secret_context(&mailbox.address, old),
        )
        .map_err(|e| StoreError::Internal(format!("sealing the password: {e}")))?;
    let ca_pem = req
        .ca_pem
        .clone()
        .or_else(|| ours.as_ref().and_then(|d| d.old_ca_pem.clone()))
        .or(domain_ca);
    let job = NewMigrationJob {
        mailbox_id: mailbox.id,
        old_address: old,
        host: &server.host,
        port: server.port,
        ca_pem: ca_pem.as_deref(),
        into_inbox: req.into_inbox,
        all_folders: req.all_folders,
        switch_at: ours
            .and_then(|d| d.switch_at)
            .or_else(|| settings.switch_for(old)),
        secret: &secret,
    };
    match store.migration_start(&job, now) {
        Ok(_) => {}
        Err(StoreError::Exists(_)) => return Err(MigrationError::Busy),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(mailbox = %mailbox.address, old = %old, server = %server, "migration started");
    job_of(store, &mailbox.address)
}

/// Our domain of `address`, when it is in migration (issue 16).
pub(crate) fn migrating_domain(
    store: &dyn Store,
    address: &str,
) -> Result<Option<store::Domain>, StoreError> {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Ok(None);
    };
    Ok(store
        .domain_list()?
        .into_iter()
        .find(|d| d.name.eq_ignore_ascii_case(domain) && d.state == store::DomainState::Migrating))
}

/// The job of a mailbox.
pub fn job_of(store: &dyn Store, address: &str) -> Result<MigrationJob, MigrationError> {
    let mailbox = store
        .mailbox(address)?
        .ok_or_else(|| MigrationError::NoMailbox(address.to_string()))?;
    store
        .migration_job(mailbox.id)?
        .ok_or_else(|| MigrationError::NoJob(address.to_string()))
}

/// Runs the job's sync now (`migrate sync`, the page's "Sincronizza ora").
pub fn sync_now(
    store: &dyn Store,
    address: &str,
    now: i64,
) -> Result<MigrationJob, MigrationError> {
    let job = job_of(store, address)?;
    if matches!(
        job.state,
        MigrationState::Stopped | MigrationState::Finished
    ) || job.secret.is_none()
    {
        return Err(MigrationError::NoJob(address.to_string()));
    }
    store.migration_schedule(job.id, Some(now))?;
    job_of(store, address)
}

/// Stops a job for good: no more syncs, the old password erased; what was copied stays.
pub fn stop(store: &dyn Store, address: &str, now: i64) -> Result<MigrationJob, MigrationError> {
    let job = job_of(store, address)?;
    store.migration_erase_secret(job.id)?;
    store.migration_schedule(job.id, None)?;
    store.migration_set_state(job.id, MigrationState::Stopped, None, now)?;
    tracing::info!(mailbox = %address, "migration stopped, old password erased");
    job_of(store, address)
}

/// The last run's signed report of a mailbox's copy (`None` before a run ended).
pub fn latest_report(
    store: &dyn Store,
    address: &str,
) -> Result<Option<store::MigrationReport>, MigrationError> {
    let job = job_of(store, address)?;
    Ok(store.migration_report(job.id)?)
}

/// The state as the page and the CLI show it (seed 000's captions), Italian or English.
pub fn state_caption(job: &MigrationJob, english: bool) -> String {
    match (job.state, english) {
        (MigrationState::Preparing, false) => "In preparazione. La copia comincerà a breve.".into(),
        (MigrationState::Preparing, true) => "Preparing. The copy will begin shortly.".into(),
        (MigrationState::Copying, false) => "Copia in corso.".into(),
        (MigrationState::Copying, true) => "Copy in progress.".into(),
        (MigrationState::Copied, false) => {
            "Copiato. Manterremo periodicamente sincronizzato il tuo account.".into()
        }
        (MigrationState::Copied, true) => "Copied. We will keep your account in sync.".into(),
        (MigrationState::Failed, false) => match job.error_kind {
            Some(k) => format!("Errore: {}", error_caption(k, false)),
            None => "Errore".into(),
        },
        (MigrationState::Failed, true) => match job.error_kind {
            Some(k) => format!("Error: {}", error_caption(k, true)),
            None => "Error".into(),
        },
        (MigrationState::Stopped, false) => "Copia interrotta.".into(),
        (MigrationState::Stopped, true) => "Copy stopped.".into(),
        (MigrationState::Finished, false) => {
            "Copia conclusa: il passaggio al nuovo gestore è avvenuto.".into()
        }
        (MigrationState::Finished, true) => "Copy finished: the switch-over took place.".into(),
    }
}

/// An error's name (seed 000: "Credenziali errate").
pub fn error_caption(kind: MigrationErrorKind, english: bool) -> &'static str {
    match (kind, english) {
        (MigrationErrorKind::Credentials, false) => "Credenziali errate",
        (MigrationErrorKind::Credentials, true) => "Wrong credentials",
        (MigrationErrorKind::Space, false) => "spazio insufficiente nella casella",
        (MigrationErrorKind::Space, true) => "not enough space in the mailbox",
        (MigrationErrorKind::Unreachable, false) => "il server del vecchio gestore non risponde",
        (MigrationErrorKind::Unreachable, true) => "the old provider's server does not answer",
        (MigrationErrorKind::Tls, false) => "connessione sicura al vecchio gestore non riuscita",
        (MigrationErrorKind::Tls, true) => "secure connection to the old provider failed",
        (MigrationErrorKind::Throttled, false) => "il vecchio gestore limita le connessioni",
        (MigrationErrorKind::Throttled, true) => "the old provider is limiting connections",
        (MigrationErrorKind::Internal, false) => "errore durante la copia",
        (MigrationErrorKind::Internal, true) => "error while copying",
    }
}

/// What to do about an error.
pub fn error_advice(kind: MigrationErrorKind, english: bool) -> &'static str {
    match (kind, english) {
        (MigrationErrorKind::Credentials, false) => {
            "Controlla indirizzo e password della vecchia casella. Se sei sicuro di averli \
             inseriti correttamente, la vecchia password potrebbe contenere caratteri speciali \
             non accettati, come il carattere \"$\" (quelli accettati sono: -?#+;:!@): \
             modificala dal pannello del precedente gestore eliminandoli, poi premi di nuovo \
             \"Avvia\"."
        }
        (MigrationErrorKind::Credentials, true) => {
            "Check the old box's address and password. If you are sure they are right, the old \
             password may contain special characters that are not accepted, such as \"$\" \
             (accepted: -?#+;:!@): change it at the old provider removing them, then press \
             \"Start\" again."
        }
        (MigrationErrorKind::Space, false) => {
            "Libera spazio nella casella o chiedi al gestore di aumentarlo, poi premi di nuovo \
             \"Avvia\": la copia riprende da dove si era fermata."
        }
        (MigrationErrorKind::Space, true) => {
            "Free some space or ask the provider for more, then press \"Start\" again: the \
             copy resumes where it stopped."
        }
        (MigrationErrorKind::Unreachable, false) | (MigrationErrorKind::Throttled, false) => {
            "Riproveremo automaticamente tra qualche minuto; puoi anche premere di nuovo \
             \"Avvia\"."
        }
        (MigrationErrorKind::Unreachable, true) | (MigrationErrorKind::Throttled, true) => {
            "We will try again automatically in a few minutes; you may also press \"Start\" \
             again."
        }
        (MigrationErrorKind::Tls, false) => {
            "Il certificato del server del vecchio gestore non è attendibile: contatta \
             l'assistenza."
        }
        (MigrationErrorKind::Tls, true) => {
            "The old provider's server certificate is not trusted: contact support."
        }
        (MigrationErrorKind::Internal, false) => {
            "Premi di nuovo \"Avvia\" per riprendere; se l'errore si ripete contatta \
             l'assistenza."
        }
        (MigrationErrorKind::Internal, true) => {
            "Press \"Start\" again to resume; if the error comes back, contact support."
        }
    }
}

/// Seconds left for the copy, from the bytes copied so far since the run began; `None`
/// before there is anything to go by.
pub fn estimate_left(job: &MigrationJob, now: i64) -> Option<i64> {
    if job.state != MigrationState::Copying {
        return None;
    }
    let elapsed = now - job.state_since;
    let done = job.copied_bytes;
    let left = job.source_bytes.saturating_sub(done);
    (elapsed > 0 && done > 0).then(|| left.saturating_mul(elapsed) / done)
}

/// The next `at` (hour, minute in Italian time) after `now`.
fn next_daily(now: i64, (hour, minute): (u32, u32)) -> i64 {
    use chrono::{Duration, TimeZone};
    let tz = chrono_tz::Europe::Rome;
    let Some(local) = tz.timestamp_opt(now, 0).single() else {
        return now + 86_400;
    };
    let mut day = local.date_naive();
    for _ in 0..3 {
        let candidate = day
            .and_hms_opt(hour.min(23), minute.min(59), 0)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp());
        if let Some(t) = candidate.filter(|t| *t > now) {
            return t;
        }
        day += Duration::days(1);
    }
    now + 86_400
}

/// Runs due jobs until the process ends: at most `settings.jobs` at once, each on its own
/// task (a panic in one is that job's error, never the loop's). Woken every few seconds.
pub async fn run_due_jobs(p: Arc<Provider>) {
    let settings = &p.migration;
    if !settings.enabled {
        return;
    }
    let running = Arc::new(tokio::sync::Semaphore::new(settings.jobs.max(1)));
    // Connections per old server: a provider's server is shared by all its boxes, and it
    // throttles (or locks) those that open too many.
    let mut hosts: std::collections::HashMap<String, Arc<tokio::sync::Semaphore>> =
        std::collections::HashMap::new();
    loop {
        let free = running.available_permits();
        if free > 0 {
            let now = p.now();
            let store = p.store.clone();
            let claimed =
                crate::blocking(move || store.migration_claim(now, engine::LEASE_SECS, free)).await;
            match claimed {
                Some(Ok(jobs)) => {
                    for job in jobs {
                        let Ok(permit) = running.clone().try_acquire_owned() else {
                            break;
                        };
                        let p = p.clone();
                        let host = hosts
                            .entry(job.host.to_ascii_lowercase())
                            .or_insert_with(|| {
                                Arc::new(tokio::sync::Semaphore::new(settings.per_host.max(1)))
                            })
                            .clone();
                        tokio::spawn(async move {
                            let id = job.id;
                            let store = p.store.clone();
                            let run = tokio::spawn(run_job(p.clone(), job, host));
                            if let Err(e) = run.await {
                                tracing::error!(job = %id, error = %e, "migration task failed");
                                let now = p.now();
                                let _ = crate::blocking(move || {
                                    store.migration_set_state(
                                        id,
                                        MigrationState::Failed,
                                        Some((MigrationErrorKind::Internal, "errore interno")),
                                        now,
                                    )?;
                                    store.migration_end_run(id, now, (now, 0), None)
                                })
                                .await;
                            }
                            drop(permit);
                        });
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "claiming migration jobs"),
                None => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_with_the_imaps_port_by_default() {
        assert_eq!(
            Server::parse("imaps.Old.example:1993"),
            Some(Server {
                host: "imaps.old.example".into(),
                port: 1993
            })
        );
        assert_eq!(Server::parse("imap.old.example").map(|s| s.port), Some(993));
        for bad in ["", ":993", "a b:993", "host:0", "host:99999", "h/x", "hôst"] {
            assert_eq!(Server::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_server_comes_from_the_request_then_the_operator_then_the_table() {
        let mut s = Settings::new(SecretKey::new([1; 32]));
        s.domains.push(OldDomain {
            name: "pec.vecchio.it".into(),
            server: Server::parse("imaps.vecchio.it").expect("server"),
            ca_pem: Some("CA".into()),
            switch_at: Some(5),
            pop3: None,
        });
        let given = Server::parse("altro.it:1993");
        assert_eq!(
            s.server_for("a@pec.vecchio.it", given.clone()),
            given.clone().map(|g| (g, Some("CA".into())))
        );
        assert_eq!(
            s.server_for("a@PEC.vecchio.it", None).map(|x| x.0.host),
            Some("imaps.vecchio.it".into())
        );
        assert_eq!(s.switch_for("a@pec.vecchio.it"), Some(5));
        assert_eq!(
            s.server_for("a@legalmail.it", None).map(|x| x.0.host),
            Some("mbox.cert.legalmail.it".into())
        );
        assert_eq!(s.server_for("a@sconosciuto.it", None), None);
    }

    #[test]
    fn the_daily_sync_is_at_the_hour_in_italian_time() {
        // 2026-12-02 10:00 UTC = 11:00 in Rome (CET): 03:00 CET next day = 02:00 UTC.
        let now = 1_796_205_600;
        assert_eq!(next_daily(now, (3, 0)), 1_796_263_200);
        // 2026-07-01 10:00 UTC = 12:00 in Rome (CEST): 13:30 CEST the same day = 11:30 UTC.
        let summer = 1_782_900_000;
        assert_eq!(next_daily(summer, (13, 30)), summer + 5_400);
    }
}
