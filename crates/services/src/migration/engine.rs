//! One run of a copy: log in at the old provider, look at its folders, check the space here,
//! copy what has no item yet — fetching the next batch while the last one is written —,
//! note what was deleted at the source, and schedule the next run. The old server is not
//! trusted: the client (`imapclient`) bounds every byte it sends, and nothing it says is
//! taken for more than it proves (a size only plans; the bytes are what is stored).

use super::{report, MigrationError, Settings};
use crate::delivery::Ingest;
use crate::mailbox::{self, Access, MailboxError};
use crate::principal::Principal;
use crate::provider::Provider;
use imapclient::{Client, FetchedMessage, FolderStatus};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use store::{
    MigrationErrorKind, MigrationFolder, MigrationItem, MigrationJob, MigrationState, SourceKey,
    StoreError, INBOX,
};
use tracing::Instrument;

/// A running job's lease; renewed while it runs, so another claim never runs it twice.
pub(super) const LEASE_SECS: i64 = 120;
/// After an error that may pass by itself (the old server down or throttling), the next try.
const RETRY_SECS: i64 = 10 * 60;

/// Why a run stopped.
#[derive(Debug)]
struct RunError {
    kind: MigrationErrorKind,
    detail: String,
}

impl RunError {
    fn new(kind: MigrationErrorKind, detail: impl Into<String>) -> RunError {
        RunError {
            kind,
            detail: detail.into(),
        }
    }

    /// Errors that may pass by themselves are tried again later; the others wait for the
    /// user (a login is never retried by itself: the old provider may lock the box).
    fn retry_later(&self) -> bool {
        matches!(
            self.kind,
            MigrationErrorKind::Unreachable | MigrationErrorKind::Throttled
        )
    }
}

/// What the old server said, as the page may show it: printable, at most 200 characters.
fn quoted(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    format!("«{}»", clean.trim())
}

/// The cause in Italian, with the server's own words quoted (never trusted as more).
impl From<imapclient::Error> for RunError {
    fn from(e: imapclient::Error) -> Self {
        use imapclient::Error as E;
        use MigrationErrorKind as K;
        let (kind, detail) = match &e {
            E::Connect(io) => (
                K::Unreachable,
                format!("connessione al server non riuscita ({io})"),
            ),
            E::Timeout(what) => (
                K::Unreachable,
                format!("il server non ha risposto in tempo ({what})"),
            ),
            E::Closed => (K::Unreachable, "il server ha chiuso la connessione".into()),
            E::Io(io) => (K::Unreachable, format!("errore di rete ({io})")),
            E::Tls(t) => (
                K::Tls,
                format!("verifica del certificato o TLS non riuscita ({t})"),
            ),
            E::AuthenticationFailed(t) => (
                K::Credentials,
                format!(
                    "il vecchio gestore ha rifiutato indirizzo o password: {}",
                    quoted(t)
                ),
            ),
            E::Unavailable(t) => (
                K::Throttled,
                format!(
                    "il vecchio gestore rifiuta per ora le connessioni: {}",
                    quoted(t)
                ),
            ),
            E::Refused(t) => (
                K::Internal,
                format!("il vecchio gestore ha rifiutato un comando: {}", quoted(t)),
            ),
            E::Protocol(t) => (
                K::Internal,
                format!("risposta non valida del vecchio gestore: {}", quoted(t)),
            ),
            E::TooLarge { limit } => (
                K::Internal,
                format!("il vecchio gestore ha inviato più di {limit} byte in una risposta"),
            ),
        };
        RunError::new(kind, detail)
    }
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OverQuota(_) => {
                RunError::new(MigrationErrorKind::Space, "spazio della casella esaurito")
            }
            e => RunError::new(MigrationErrorKind::Internal, e.to_string()),
        }
    }
}

impl From<MailboxError> for RunError {
    fn from(e: MailboxError) -> Self {
        match e {
            MailboxError::OverQuota => {
                RunError::new(MigrationErrorKind::Space, "spazio della casella esaurito")
            }
            MailboxError::Unavailable(d) | MailboxError::Internal(d) => {
                RunError::new(MigrationErrorKind::Internal, d)
            }
            e => RunError::new(MigrationErrorKind::Internal, e.to_string()),
        }
    }
}

impl From<MigrationError> for RunError {
    fn from(e: MigrationError) -> Self {
        RunError::new(MigrationErrorKind::Internal, e.to_string())
    }
}

/// What a run found and did.
#[derive(Debug, Default)]
struct RunSummary {
    copied: usize,
    deleted_at_source: usize,
    /// Messages over the size limit, not copied: (uid, size).
    too_large: Vec<(u32, u64)>,
    /// The old POP3 unique ids given to the messages copied into INBOX: how many, or why
    /// none (`None`: not into INBOX).
    pop3_uidls: Option<Result<usize, String>>,
}

/// Runs one claimed job to the end of its run, and records how it ended.
pub async fn run_job(p: Arc<Provider>, job: MigrationJob, host: Arc<tokio::sync::Semaphore>) {
    let span = tracing::info_span!(
        "migration",
        job = %job.id,
        mailbox = %job.address,
        old = %job.old_address
    );
    async move {
        let started = p.now();
        let clock = std::time::Instant::now();
        let first_copy = job.state != MigrationState::Copied;
        let lease = renew_lease(p.clone(), job.id);
        // The lease is kept while the job waits for its turn at the old server.
        // Past the switch-over with credentials the old provider refused: no new login (it
        // may lock the box); the run only ends the job.
        let refused_at_switch = job.switch_at.is_some_and(|s| s <= started)
            && job.state == MigrationState::Failed
            && job.error_kind == Some(MigrationErrorKind::Credentials);
        let outcome = if refused_at_switch {
            Err(RunError::new(
                MigrationErrorKind::Credentials,
                job.error_detail.clone().unwrap_or_default(),
            ))
        } else {
            match host.acquire_owned().await {
                Ok(_turn) => copy(&p, &job, first_copy, started).await,
                Err(_) => Err(RunError::new(MigrationErrorKind::Internal, "shutting down")),
            }
        };
        lease.abort();
        let now = p.now();
        let ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        let store = p.store.clone();
        let settings_next = p.migration.next_sync(now);
        let id = job.id;
        let ended = crate::blocking(move || -> Result<(), StoreError> {
            // Stopped while running: it stays stopped.
            let current = store.migration_job(job.mailbox_id)?;
            let Some(current) = current.filter(|j| j.id == id && j.state != MigrationState::Stopped)
            else {
                return store.migration_end_run(id, started, (now, ms), None);
            };
            // The switch-over as it is now (it may have moved while the run went on): once
            // it has passed, this run was the last one, whatever its outcome, and the old
            // password goes.
            let switched = current.switch_at.is_some_and(|s| s <= now);
            if switched {
                store.migration_erase_secret(id)?;
                let error = match &outcome {
                    Err(e) => Some((e.kind, e.detail.as_str())),
                    Ok(_) => None,
                };
                store.migration_set_state(id, MigrationState::Finished, error, now)?;
                return store.migration_end_run(id, started, (now, ms), None);
            }
            let next = match &outcome {
                Ok(summary) if !summary.too_large.is_empty() => {
                    let list = summary
                        .too_large
                        .iter()
                        .map(|(uid, size)| format!("UID {uid} ({size} byte)"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let detail = format!(
                        "{} messaggi superano la dimensione massima e non sono stati copiati: {list}",
                        summary.too_large.len()
                    );
                    store.migration_set_state(
                        id,
                        MigrationState::Failed,
                        Some((MigrationErrorKind::Internal, &detail)),
                        now,
                    )?;
                    current.switch_at
                }
                Ok(summary) => {
                    tracing::info!(
                        copied = summary.copied,
                        deleted_at_source = summary.deleted_at_source,
                        ms,
                        "migration run finished"
                    );
                    store.migration_set_state(id, MigrationState::Copied, None, now)?;
                    Some(match current.switch_at {
                        Some(s) => settings_next.min(s),
                        None => settings_next,
                    })
                }
                Err(e) => {
                    tracing::warn!(kind = %e.kind, detail = %e.detail, "migration run failed");
                    store.migration_set_state(
                        id,
                        MigrationState::Failed,
                        Some((e.kind, &e.detail)),
                        now,
                    )?;
                    // Never past the switch-over: the last run is due then, to end the job
                    // and erase the password even if nobody starts it again.
                    match (e.retry_later(), current.switch_at) {
                        (true, Some(s)) => Some((now + RETRY_SECS).min(s)),
                        (true, None) => Some(now + RETRY_SECS),
                        (false, switch) => switch,
                    }
                }
            };
            store.migration_end_run(id, started, (now, ms), next)
        })
        .await;
        match ended {
            Some(Ok(())) => {}
            Some(Err(e)) => tracing::error!(error = %e, "recording the end of a migration run"),
            None => tracing::error!("recording the end of a migration run: task failed"),
        }
    }
    .instrument(span)
    .await
}

/// Logs in at the old server with the box's current password and out again (issue 16's
/// start page): nothing is read. The old server as a copy would use it.
pub async fn verify_old_password(
    p: &Arc<Provider>,
    address: &str,
    password: &str,
) -> Result<(), MigrationErrorKind> {
    let store = p.store.clone();
    let a = address.to_string();
    let ours = crate::blocking(move || super::migrating_domain(&*store, &a))
        .await
        .and_then(Result::ok)
        .flatten();
    let given = ours
        .as_ref()
        .and_then(|d| d.old_server.as_deref())
        .and_then(super::Server::parse);
    let (server, ca) = p
        .migration
        .server_for(address, given)
        .ok_or(MigrationErrorKind::Unreachable)?;
    let ca = ours.as_ref().and_then(|d| d.old_ca_pem.clone()).or(ca);
    let mut trusted = ca.unwrap_or_default();
    if let Some(peer) = &p.peer_ca_pem {
        trusted.push('\n');
        trusted.push_str(peer);
    }
    let connector =
        crate::worker::connector((!trusted.trim().is_empty()).then_some(trusted.as_str()))
            .map_err(|_| MigrationErrorKind::Tls)?;
    let attempt = async {
        let mut client = Client::connect(
            &server.host,
            server.port,
            &connector,
            p.migration.timeouts,
            imapclient::Limits::default(),
        )
        .await?;
        client.login(address, password).await?;
        client.logout().await;
        Ok::<(), imapclient::Error>(())
    };
    attempt.await.map_err(|e| RunError::from(e).kind)
}

/// Keeps the job's lease while it runs.
fn renew_lease(p: Arc<Provider>, id: store::MigrationJobId) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs((LEASE_SECS / 3) as u64)).await;
            let store = p.store.clone();
            let until = p.now() + LEASE_SECS;
            let _ = crate::blocking(move || store.migration_renew(id, until)).await;
        }
    })
}

/// A source folder and where it goes.
struct Source {
    raw: Vec<u8>,
    dest: String,
}

/// What one folder needs this run.
struct FolderPlan {
    folder: MigrationFolder,
    uidvalidity: i64,
    /// Our folder has the source's UIDVALIDITY: messages keep their UIDs where they can.
    keep_uids: bool,
    /// (uid, size) not copied yet, ascending.
    new: Vec<(u32, u64)>,
    /// What the source folder holds: (uid, size).
    source: Vec<(u32, u64)>,
    /// Messages over the size limit, not copied: (uid, size).
    too_large: Vec<(u32, u64)>,
}

async fn copy(
    p: &Arc<Provider>,
    job: &MigrationJob,
    first_copy: bool,
    started: i64,
) -> Result<RunSummary, RunError> {
    let settings: &Settings = &p.migration;
    let password = job
        .secret
        .as_deref()
        .and_then(|s| {
            settings
                .key
                .open(s, &super::secret_context(&job.address, &job.old_address))
        })
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            RunError::new(
                MigrationErrorKind::Credentials,
                "password della vecchia casella non disponibile: inserirla di nuovo",
            )
        })?;
    let who = holder(p, &job.address).await?;
    let mut ca = job.ca_pem.clone().unwrap_or_default();
    if let Some(peer) = &p.peer_ca_pem {
        ca.push('\n');
        ca.push_str(peer);
    }
    let connector = crate::worker::connector((!ca.trim().is_empty()).then_some(ca.as_str()))
        .map_err(|e| RunError::new(MigrationErrorKind::Tls, e.to_string()))?;
    let limits = imapclient::Limits {
        max_literal: p.limits.max_message_bytes.saturating_add(64 * 1024),
        ..imapclient::Limits::default()
    };
    let mut client =
        Client::connect(&job.host, job.port, &connector, settings.timeouts, limits).await?;
    client.login(&job.old_address, &password).await?;

    let sources = sources(&mut client, job).await?;
    let mut summary = RunSummary::default();
    let mut plans = Vec::with_capacity(sources.len());
    let (mut source_messages, mut source_bytes) = (0i64, 0i64);
    for source in sources {
        let dest = source.dest.clone();
        mailbox::run(p, &who, move |m: &Access| -> Result<(), MailboxError> {
            if m.folder_head(&dest)?.is_none() {
                m.create_folder(&dest)?;
            }
            Ok(())
        })
        .await?;
        let store = p.store.clone();
        let (job_id, raw, dest) = (job.id, source.raw.clone(), source.dest.clone());
        let folder = blocking(move || store.migration_folder(job_id, &raw, &dest)).await?;
        let status = client.examine(&source.raw).await?;
        let uids = client.uid_search_all().await?;
        let mut plan = plan_folder(p, &mut client, folder, &status, &uids, &mut summary).await?;
        source_messages += plan.source.len() as i64;
        source_bytes += plan.source.iter().map(|(_, s)| *s as i64).sum::<i64>();
        plan.keep_uids = keep_uids(p, &who, &plan).await?;
        plans.push(plan);
    }
    let store = p.store.clone();
    let id = job.id;
    blocking(move || store.migration_set_source(id, source_messages, source_bytes)).await?;

    // Space, before anything is copied (seed 000: "spazio insufficiente").
    let max = p.limits.max_message_bytes as u64;
    for plan in &mut plans {
        plan.too_large = plan
            .new
            .iter()
            .filter(|(_, size)| *size > max)
            .copied()
            .collect();
        summary.too_large.extend(&plan.too_large);
        plan.new.retain(|(_, size)| *size <= max);
    }
    let needed: u64 = plans.iter().flat_map(|p| &p.new).map(|(_, s)| *s).sum();
    let store = p.store.clone();
    let address = job.address.clone();
    let mailbox = blocking(move || store.mailbox(&address)).await?;
    if let Some(m) = mailbox {
        let free = (m.quota - m.used).max(0) as u64;
        if needed > free {
            return Err(RunError::new(
                MigrationErrorKind::Space,
                format!(
                    "servono {} MB, liberi {} MB",
                    needed.div_ceil(1 << 20),
                    free >> 20
                ),
            ));
        }
    }
    if first_copy && needed > 0 {
        let store = p.store.clone();
        let now = p.now();
        blocking(move || store.migration_set_state(id, MigrationState::Copying, None, now)).await?;
    }

    for plan in &plans {
        summary.copied += copy_folder(p, &who, &mut client, settings, plan).await?;
    }
    client.logout().await;
    if let Some(inbox) = plans
        .iter()
        .find(|plan| plan.folder.source == b"INBOX" && plan.folder.dest == INBOX)
    {
        // Our domain's old POP3 server (issue 16), else the configuration's, else the host.
        let store = p.store.clone();
        let old_domain = pec::build::domain_of(&job.old_address).to_string();
        let ours = blocking(move || store.domain(&old_domain)).await?;
        let pop3 = ours
            .and_then(|d| d.old_pop3)
            .and_then(|s| super::Server::parse(&s))
            .unwrap_or_else(|| settings.pop3_for(&job.old_address, &job.host));
        let kept = keep_pop3_uidls(p, &who, job, inbox, (&pop3, &connector, &password)).await;
        if let Err(why) = &kept {
            tracing::warn!(server = %pop3, why = %why, "POP3 unique ids not kept");
        }
        summary.pop3_uidls = Some(kept);
    }
    drop(password);
    let mails_report = first_copy
        || summary.copied > 0
        || summary.deleted_at_source > 0
        || !summary.too_large.is_empty();
    write_report(p, &who, (job, started), &plans, &summary, mails_report).await?;
    Ok(summary)
}

/// Keeping a POP3 program's view (issue 15 Build 6): the old server's UIDL of each INBOX
/// message, matched to the IMAP listing by position and size (both list the INBOX in UID
/// order), given to its copy here. Any mismatch keeps none: a wrong id is worse than a new one.
async fn keep_pop3_uidls(
    p: &Arc<Provider>,
    who: &Principal,
    job: &MigrationJob,
    inbox: &FolderPlan,
    (server, connector, password): (&super::Server, &openssl::ssl::SslConnector, &str),
) -> Result<usize, String> {
    let mut pop3 =
        imapclient::pop3::Pop3::connect(&server.host, server.port, connector, p.migration.timeouts)
            .await
            .map_err(|e| e.to_string())?;
    pop3.login(&job.old_address, password)
        .await
        .map_err(|e| e.to_string())?;
    let listed = pop3.messages().await.map_err(|e| e.to_string())?;
    pop3.quit().await;
    if listed.len() != inbox.source.len() {
        return Err(format!(
            "POP3 lists {} messages, IMAP {}",
            listed.len(),
            inbox.source.len()
        ));
    }
    let mut by_uid = HashMap::with_capacity(listed.len());
    for (m, (uid, size)) in listed.iter().zip(&inbox.source) {
        if m.size != *size {
            return Err(format!(
                "message {} is {} bytes by POP3, UID {uid} {size} by IMAP",
                m.number, m.size
            ));
        }
        by_uid.insert(i64::from(*uid), m.uidl.clone());
    }
    let store = p.store.clone();
    let fid = inbox.folder.id;
    let items = blocking(move || store.migration_items(fid))
        .await
        .map_err(|e| e.detail)?;
    let uidls: Vec<(i64, String)> = items
        .iter()
        .filter(|i| i.uidvalidity == inbox.uidvalidity)
        .filter_map(|i| by_uid.get(&i.uid).map(|u| (i.dest_uid, u.clone())))
        .collect();
    mailbox::run(p, who, move |m: &Access| -> Result<usize, MailboxError> {
        let folder = m.existing_folder(INBOX)?;
        m.set_pop3_uidls(folder.id, &uidls)
    })
    .await
    .map_err(|e| e.to_string())
}

/// Builds this run's report from the source's listing and the items, signs it, keeps it with
/// the job and — when the run copied or found something — mails it into the box, with a
/// legal-log record, all in one transaction.
async fn write_report(
    p: &Arc<Provider>,
    who: &Principal,
    (job, started): (&MigrationJob, i64),
    plans: &[FolderPlan],
    summary: &RunSummary,
    mail: bool,
) -> Result<(), RunError> {
    let mut folders = Vec::with_capacity(plans.len());
    for plan in plans {
        let store = p.store.clone();
        let fid = plan.folder.id;
        let items = blocking(move || store.migration_items(fid)).await?;
        folders.push(report::FolderRun::of(&report::FolderState {
            source_name: &plan.folder.source,
            dest: &plan.folder.dest,
            uidvalidity: plan.uidvalidity,
            source: &plan.source,
            items: &items,
            too_large: &plan.too_large,
            max_bytes: p.limits.max_message_bytes as u64,
        }));
    }
    let finished = p.now();
    let mut run = report::RunReport::new(
        job,
        job.runs + 1,
        (started, finished),
        folders,
        summary.copied,
    );
    match &summary.pop3_uidls {
        Some(Ok(n)) => run.pop3_uidls_kept = Some(*n),
        Some(Err(why)) => run.pop3_uidls_not_kept = Some(why.clone()),
        None => {}
    }
    let internal = |e: &dyn std::fmt::Display| {
        RunError::new(MigrationErrorKind::Internal, format!("report: {e}"))
    };
    let json = serde_json::to_vec_pretty(&run).map_err(|e| internal(&e))?;
    let time = pec::PecTime::from_unix_or_epoch(finished);
    let signature = p
        .signer
        .sign_detached(&json, time)
        .map_err(|e| internal(&e))?;
    let kept = store::MigrationReport {
        run: run.run,
        finished,
        json: json.clone(),
        signature: signature.clone(),
    };
    let id = job.id;
    if !mail {
        let store = p.store.clone();
        return blocking(move || store.write(|tx| tx.migration_report(id, &kept))).await;
    }
    let message_id = pec::build::derived_id(
        "rapporto-copia",
        &format!("{}-{}", job.id, run.run),
        &p.identity.domain,
    );
    let bytes = report::message(
        &p.signer,
        &p.identity.service_address(),
        &run,
        &json,
        &signature,
        &message_id,
    )
    .map_err(|e| internal(&e))?;
    let log_subject = format!(
        "Rapporto di copia: {} messaggi all'origine, {} qui, {} mancanti",
        run.totals.source_messages, run.totals.here_messages, run.totals.missing
    );
    let (old, address, provider) = (
        job.old_address.clone(),
        job.address.clone(),
        p.identity.name.clone(),
    );
    let report_hash = hex_sha256(&json);
    mailbox::run(p, who, move |m: &Access| -> Result<(), MailboxError> {
        if m.folder_head(report::REPORTS_FOLDER)?.is_none() {
            m.create_folder(report::REPORTS_FOLDER)?;
        }
        let message = Ingest {
            folder: report::REPORTS_FOLDER.to_string(),
            bytes,
            flags: String::new(),
            internal_date: None,
            uid: None,
        };
        m.import_all(vec![message], |tx, _| {
            tx.migration_report(id, &kept)?;
            tx.log_append(&store::LogRecord {
                time: finished,
                event: "copia-da-altro-gestore",
                msgid: &message_id,
                sender: &old,
                recipients: std::slice::from_ref(&address),
                subject: &log_subject,
                related: &[report_hash],
                provider: &provider,
                actor: "",
            })
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// The holder of our mailbox: the copy acts with the mailbox's rights, through the same
/// mailbox service as every protocol.
async fn holder(p: &Arc<Provider>, address: &str) -> Result<Principal, RunError> {
    let store = p.store.clone();
    let a = address.to_string();
    let mailbox = blocking(move || store.mailbox(&a)).await?.ok_or_else(|| {
        RunError::new(
            MigrationErrorKind::Internal,
            format!("casella {address} inesistente"),
        )
    })?;
    Ok(Principal::holder(&mailbox))
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, RunError> {
    match crate::blocking(f).await {
        Some(r) => Ok(r?),
        None => Err(RunError::new(MigrationErrorKind::Internal, "task failed")),
    }
}

/// The old folders to copy and their folders here: INBOX only, unless the job copies every
/// folder (then by the old server's list, its special folders onto ours when copying into
/// INBOX, the rest under the folder named after the old address).
async fn sources(client: &mut Client, job: &MigrationJob) -> Result<Vec<Source>, RunError> {
    let base = if job.into_inbox {
        INBOX.to_string()
    } else {
        job.old_address.to_ascii_lowercase()
    };
    if !job.all_folders {
        return Ok(vec![Source {
            raw: b"INBOX".to_vec(),
            dest: base,
        }]);
    }
    let listed = client.list().await?;
    let mut out = Vec::new();
    let mut taken = HashSet::new();
    for f in listed {
        if f.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        }) {
            continue;
        }
        let dest = dest_name(&base, job.into_inbox, &f.name, f.delimiter, &f.attributes);
        let mut unique = dest.clone();
        let mut n = 2;
        while !taken.insert(unique.to_lowercase()) {
            unique = format!("{dest} ({n})");
            n += 1;
        }
        out.push(Source {
            raw: f.name_raw,
            dest: unique,
        });
    }
    Ok(out)
}

/// Our folder for an old one.
fn dest_name(
    base: &str,
    into_inbox: bool,
    name: &str,
    delimiter: Option<char>,
    attributes: &[String],
) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return base.to_string();
    }
    let path: String = name
        .chars()
        .map(|c| match c {
            c if Some(c) == delimiter => '/',
            '/' => '-',
            c if c.is_control() || c == '*' || c == '%' => '_',
            c => c,
        })
        .collect();
    if into_inbox {
        let special = attributes.iter().find_map(|a| {
            store::SPECIAL_FOLDERS
                .iter()
                .find(|(_, use_)| use_.eq_ignore_ascii_case(a))
                .map(|(ours, _)| ours.to_string())
        });
        special.unwrap_or(path)
    } else {
        format!("{base}/{path}")
    }
}

/// Compares the old folder with the job's items: the source's UIDVALIDITY changed → items
/// recognised by their bytes; items whose UID is gone → deleted at the source; the rest of
/// the source → to copy.
async fn plan_folder(
    p: &Arc<Provider>,
    client: &mut Client,
    folder: MigrationFolder,
    status: &FolderStatus,
    uids: &[u32],
    summary: &mut RunSummary,
) -> Result<FolderPlan, RunError> {
    let uidvalidity = i64::from(status.uidvalidity);
    let store = p.store.clone();
    let fid = folder.id;
    let mut items = blocking(move || store.migration_items(fid)).await?;
    if items.iter().any(|i| i.uidvalidity != uidvalidity) {
        let sizes = if uids.is_empty() {
            Vec::new()
        } else {
            client.uid_fetch_sizes(uids).await?
        };
        let moves = recognise(client, &items, uidvalidity, &sizes).await?;
        tracing::info!(
            recognised = moves.len(),
            "the old folder's UIDVALIDITY changed: messages recognised by their bytes"
        );
        let store = p.store.clone();
        items = blocking(move || {
            store.migration_rekey(fid, &moves)?;
            store.migration_items(fid)
        })
        .await?;
    }
    let store = p.store.clone();
    blocking(move || store.migration_set_uidvalidity(fid, uidvalidity)).await?;
    // Sizes are asked only for what is not copied yet: a sync that finds nothing new costs
    // one SEARCH (the sizes of the copied ones are their bytes here).
    let copied: HashMap<u32, u64> = items
        .iter()
        .filter(|i| i.uidvalidity == uidvalidity)
        .filter_map(|i| Some((u32::try_from(i.uid).ok()?, i.size.max(0) as u64)))
        .collect();
    let unknown: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|uid| !copied.contains_key(uid))
        .collect();
    let mut fetched: HashMap<u32, u64> = if unknown.is_empty() {
        HashMap::new()
    } else {
        client
            .uid_fetch_sizes(&unknown)
            .await?
            .into_iter()
            .collect()
    };
    // A UID the SEARCH named but the FETCH did not is gone already: not in the listing.
    let sizes: Vec<(u32, u64)> = uids
        .iter()
        .filter_map(|uid| {
            copied
                .get(uid)
                .copied()
                .or_else(|| fetched.remove(uid))
                .map(|size| (*uid, size))
        })
        .collect();
    let sizes = &sizes;
    let at_source: HashSet<u32> = sizes.iter().map(|(uid, _)| *uid).collect();
    let known: HashSet<i64> = items
        .iter()
        .filter(|i| i.uidvalidity == uidvalidity)
        .map(|i| i.uid)
        .collect();
    let gone: Vec<(i64, i64)> = items
        .iter()
        .filter(|i| !i.deleted_at_source)
        .filter(|i| {
            i.uidvalidity != uidvalidity
                || u32::try_from(i.uid).is_ok_and(|uid| !at_source.contains(&uid))
        })
        .map(|i| (i.uidvalidity, i.uid))
        .collect();
    if !gone.is_empty() {
        summary.deleted_at_source += gone.len();
        let store = p.store.clone();
        blocking(move || store.migration_mark_deleted(fid, &gone)).await?;
    }
    let new = sizes
        .iter()
        .filter(|(uid, _)| !known.contains(&i64::from(*uid)))
        .copied()
        .collect();
    Ok(FolderPlan {
        folder,
        uidvalidity,
        keep_uids: false,
        new,
        source: sizes.to_vec(),
        too_large: Vec::new(),
    })
}

/// Keeping the application's view (issue 15 Build 6): our folder takes the old folder's
/// UIDVALIDITY when it never held a message, and from then on each message keeps its old
/// UID unless a message of ours took it meanwhile.
async fn keep_uids(
    p: &Arc<Provider>,
    who: &Principal,
    plan: &FolderPlan,
) -> Result<bool, RunError> {
    let dest = plan.folder.dest.clone();
    let v = plan.uidvalidity;
    Ok(
        mailbox::run(p, who, move |m: &Access| -> Result<bool, MailboxError> {
            let current = m.folder_head(&dest)?.map(|f| f.uidvalidity);
            if current == Some(v) {
                return Ok(true);
            }
            m.adopt_uidvalidity(&dest, v)
        })
        .await?,
    )
}

/// Items of an earlier UIDVALIDITY matched to the source's messages by size then SHA-256,
/// one to one (the same bytes twice are two messages): (old key, new key).
async fn recognise(
    client: &mut Client,
    items: &[MigrationItem],
    uidvalidity: i64,
    sizes: &[(u32, u64)],
) -> Result<Vec<(SourceKey, SourceKey)>, RunError> {
    let mut by_content: HashMap<(i64, String), Vec<(i64, i64)>> = HashMap::new();
    for i in items.iter().filter(|i| i.uidvalidity != uidvalidity) {
        by_content
            .entry((i.size, i.sha256.clone()))
            .or_default()
            .push((i.uidvalidity, i.uid));
    }
    let old_sizes: HashSet<i64> = by_content.keys().map(|(s, _)| *s).collect();
    let candidates: Vec<u32> = sizes
        .iter()
        .filter(|(_, s)| old_sizes.contains(&(*s as i64)))
        .map(|(uid, _)| *uid)
        .collect();
    let mut moves = Vec::new();
    for chunk in candidates.chunks(256) {
        for m in client.uid_fetch_messages(chunk).await? {
            let hash = hex_sha256(&m.body);
            if let Some(keys) = by_content.get_mut(&(m.body.len() as i64, hash)) {
                if let Some(old) = keys.pop() {
                    moves.push((old, (uidvalidity, i64::from(m.uid))));
                }
            }
        }
    }
    Ok(moves)
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Copies a folder's new messages in batches: the next batch is fetched while the last one
/// is written, each batch in one transaction with its items. Returns how many were copied.
async fn copy_folder(
    p: &Arc<Provider>,
    who: &Principal,
    client: &mut Client,
    settings: &Settings,
    plan: &FolderPlan,
) -> Result<usize, RunError> {
    let mut copied = 0;
    let mut writing: Option<tokio::task::JoinHandle<Result<usize, RunError>>> = None;
    for batch in batches(
        &plan.new,
        settings.batch_messages,
        settings.batch_bytes as u64,
    ) {
        let messages = client.uid_fetch_messages(&batch).await?;
        if let Some(w) = writing.take() {
            copied += join(w).await?;
        }
        if messages.is_empty() {
            continue;
        }
        writing = Some(tokio::spawn(write_batch(
            p.clone(),
            who.clone(),
            plan.folder.clone(),
            (plan.uidvalidity, plan.keep_uids),
            messages,
        )));
    }
    if let Some(w) = writing.take() {
        copied += join(w).await?;
    }
    Ok(copied)
}

async fn join(w: tokio::task::JoinHandle<Result<usize, RunError>>) -> Result<usize, RunError> {
    w.await
        .map_err(|e| RunError::new(MigrationErrorKind::Internal, format!("task: {e}")))?
}

/// Writes one batch and its items in one transaction: all of it or none.
async fn write_batch(
    p: Arc<Provider>,
    who: Principal,
    folder: MigrationFolder,
    (uidvalidity, keep_uids): (i64, bool),
    messages: Vec<FetchedMessage>,
) -> Result<usize, RunError> {
    let mut items = Vec::with_capacity(messages.len());
    let mut ingests = Vec::with_capacity(messages.len());
    for m in messages {
        items.push(MigrationItem {
            uidvalidity,
            uid: i64::from(m.uid),
            sha256: hex_sha256(&m.body),
            size: m.body.len() as i64,
            dest_uid: 0,
            deleted_at_source: false,
        });
        ingests.push(Ingest {
            folder: folder.dest.clone(),
            bytes: m.body,
            flags: m.flags.join(" "),
            internal_date: Some(m.internal_date),
            uid: keep_uids.then_some(i64::from(m.uid)),
        });
    }
    let n = items.len();
    let fid = folder.id;
    mailbox::run(&p, &who, move |m: &Access| {
        m.import_all(ingests, |tx, uids| {
            for (item, uid) in items.iter_mut().zip(uids) {
                item.dest_uid = *uid;
            }
            tx.migration_record(fid, &items)
        })
    })
    .await?;
    Ok(n)
}

/// UIDs in batches of at most `max_messages` and about `max_bytes` (one message over it is a
/// batch of its own).
fn batches(new: &[(u32, u64)], max_messages: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for (uid, size) in new {
        if !current.is_empty() && (current.len() >= max_messages.max(1) || bytes + size > max_bytes)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(*uid);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_to_both_limits_and_take_a_large_message_alone() {
        let new = [(1, 10), (2, 10), (3, 10), (4, 100), (5, 1)];
        assert_eq!(
            batches(&new, 2, 50),
            vec![vec![1, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(batches(&[], 2, 50), Vec::<Vec<u32>>::new());
        assert_eq!(
            batches(&new, 0, 1000),
            vec![vec![1], vec![2], vec![3], vec![4], vec![5]]
        );
    }

    #[test]
    fn old_folders_map_onto_ours() {
        let none: [String; 0] = [];
        assert_eq!(
            dest_name("a@old.it", false, "INBOX", Some('.'), &none),
            "a@old.it"
        );
        assert_eq!(
            dest_name("a@old.it", false, "Lavoro.2020", Some('.'), &none),
            "a@old.it/Lavoro/2020"
        );
        assert_eq!(
            dest_name("a@old.it", false, "x/y*", Some('.'), &none),
            "a@old.it/x-y_"
        );
        let sent = ["\\Sent".to_string()];
        assert_eq!(
            dest_name("INBOX", true, "Inviata", Some('/'), &sent),
            "Posta inviata"
        );
        assert_eq!(
            dest_name("INBOX", true, "Lavoro", Some('/'), &none),
            "Lavoro"
        );
    }
}
