//! The "Rapporto di copia" (issue 15 Build 7): at the end of the first copy and of each sync
//! that copied or found something, what the old box held and what is here — per folder,
//! counts and bytes on both sides, the SHA-256 of every message, those missing (none, or the
//! run would not end "Copiato") and those deleted at the source since. The JSON is signed
//! with the provider's key (a detached CMS signature), kept with the job, and mailed into
//! the box's folder "Rapporti di copia" with its CSV, so the office can prove its archive
//! came over whole: `openssl cms -verify -binary -inform DER -content rapporto.json -in
//! rapporto.p7s -CAfile ca.pem`.

use serde::Serialize;
use store::{MigrationItem, MigrationJob};

/// The folder the reports are mailed to (not the copy's folder: a report there would take
/// the UID the next source message keeps, and a program reading the box would fetch it).
pub const REPORTS_FOLDER: &str = "Rapporti di copia";

/// One run's report, as signed.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub version: u32,
    pub mailbox: String,
    pub old_address: String,
    pub server: String,
    pub run: i64,
    pub started: i64,
    pub finished: i64,
    pub folders: Vec<FolderRun>,
    pub totals: Totals,
    /// Copies into INBOX: the old POP3 unique ids given to the messages this run…
    pub pop3_uidls_kept: Option<usize>,
    /// …or why none were.
    pub pop3_uidls_not_kept: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub source_messages: usize,
    pub source_bytes: u64,
    pub here_messages: usize,
    pub here_bytes: u64,
    pub copied_this_run: usize,
    pub missing: usize,
    pub deleted_at_source: usize,
    pub not_copied: usize,
}

#[derive(Debug, Serialize)]
pub struct FolderRun {
    /// The old folder's name (its bytes as UTF-8, lossy).
    pub source: String,
    pub dest: String,
    pub uidvalidity: i64,
    /// What the old folder holds now: messages and bytes (by its sizes).
    pub source_messages: usize,
    pub source_bytes: u64,
    /// What is here from it: every item not deleted at the source, by its bytes.
    pub here_messages: usize,
    pub here_bytes: u64,
    /// Source UIDs with no copy here (must be none).
    pub missing: Vec<u32>,
    /// Source messages not copied, and why (over the size limit).
    pub not_copied: Vec<NotCopied>,
    /// Copied earlier, deleted at the source since: kept here.
    pub deleted_at_source: Vec<Copied>,
    /// Every message copied that the source still holds.
    pub messages: Vec<Copied>,
}

#[derive(Debug, Serialize)]
pub struct NotCopied {
    pub uid: u32,
    pub size: u64,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Copied {
    pub uid: i64,
    pub dest_uid: i64,
    pub sha256: String,
    pub size: i64,
}

/// A folder as the run left it: the source's (uid, size) and the job's items.
pub struct FolderState<'a> {
    pub source_name: &'a [u8],
    pub dest: &'a str,
    pub uidvalidity: i64,
    pub source: &'a [(u32, u64)],
    pub items: &'a [MigrationItem],
    pub too_large: &'a [(u32, u64)],
    pub max_bytes: u64,
}

impl FolderRun {
    pub fn of(f: &FolderState<'_>) -> FolderRun {
        let current: std::collections::HashSet<i64> = f
            .items
            .iter()
            .filter(|i| i.uidvalidity == f.uidvalidity && !i.deleted_at_source)
            .map(|i| i.uid)
            .collect();
        let too_large: std::collections::HashSet<u32> =
            f.too_large.iter().map(|(u, _)| *u).collect();
        let copied = |i: &MigrationItem| Copied {
            uid: i.uid,
            dest_uid: i.dest_uid,
            sha256: i.sha256.clone(),
            size: i.size,
        };
        let messages: Vec<Copied> = f
            .items
            .iter()
            .filter(|i| !i.deleted_at_source)
            .map(copied)
            .collect();
        FolderRun {
            source: String::from_utf8_lossy(f.source_name).into_owned(),
            dest: f.dest.to_string(),
            uidvalidity: f.uidvalidity,
            source_messages: f.source.len(),
            source_bytes: f.source.iter().map(|(_, s)| *s).sum(),
            here_messages: messages.len(),
            here_bytes: messages.iter().map(|m| m.size.max(0) as u64).sum(),
            missing: f
                .source
                .iter()
                .map(|(uid, _)| *uid)
                .filter(|uid| !current.contains(&i64::from(*uid)) && !too_large.contains(uid))
                .collect(),
            not_copied: f
                .too_large
                .iter()
                .map(|(uid, size)| NotCopied {
                    uid: *uid,
                    size: *size,
                    reason: format!("oltre la dimensione massima di {} byte", f.max_bytes),
                })
                .collect(),
            deleted_at_source: f
                .items
                .iter()
                .filter(|i| i.deleted_at_source)
                .map(copied)
                .collect(),
            messages,
        }
    }
}

impl RunReport {
    pub fn new(
        job: &MigrationJob,
        run: i64,
        (started, finished): (i64, i64),
        folders: Vec<FolderRun>,
        copied_this_run: usize,
    ) -> RunReport {
        let mut totals = Totals {
            copied_this_run,
            ..Totals::default()
        };
        for f in &folders {
            totals.source_messages += f.source_messages;
            totals.source_bytes += f.source_bytes;
            totals.here_messages += f.here_messages;
            totals.here_bytes += f.here_bytes;
            totals.missing += f.missing.len();
            totals.deleted_at_source += f.deleted_at_source.len();
            totals.not_copied += f.not_copied.len();
        }
        RunReport {
            version: 1,
            mailbox: job.address.clone(),
            old_address: job.old_address.clone(),
            server: format!("{}:{}", job.host, job.port),
            run,
            started,
            finished,
            folders,
            totals,
            pop3_uidls_kept: None,
            pop3_uidls_not_kept: None,
        }
    }

    /// One row per message: folder, state, source UID, UID here, SHA-256, size.
    pub fn csv(&self) -> String {
        let mut out = String::from("cartella;stato;uid_origine;uid_qui;sha256;byte\r\n");
        let field = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        for f in &self.folders {
            for (state, list) in [
                ("copiato", &f.messages),
                ("eliminato all'origine", &f.deleted_at_source),
            ] {
                for m in list {
                    out.push_str(&format!(
                        "{};{};{};{};{};{}\r\n",
                        field(&f.source),
                        field(state),
                        m.uid,
                        m.dest_uid,
                        m.sha256,
                        m.size
                    ));
                }
            }
            for m in &f.not_copied {
                out.push_str(&format!(
                    "{};{};{};;;{}\r\n",
                    field(&f.source),
                    field("non copiato"),
                    m.uid,
                    m.size
                ));
            }
        }
        out
    }

    /// The message's text, Italian then English.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let when = pec::PecTime::from_unix_or_epoch(self.finished);
        format!(
            "Rapporto di copia dalla casella {old} ({server}) alla casella {mailbox}\r\n\
             Esecuzione n. {run}, conclusa il {day} alle {hour}.\r\n\r\n\
             All'origine: {sm} messaggi, {sb} byte. Qui: {hm} messaggi, {hb} byte.\r\n\
             Copiati in questa esecuzione: {copied}. Mancanti: {missing}. \
             Eliminati all'origine dopo la copia (conservati qui): {deleted}. \
             Non copiati: {not}.\r\n\r\n\
             L'elenco di ogni messaggio con la sua impronta SHA-256 è negli allegati \
             rapporto.json e rapporto.csv; rapporto.p7s è la firma del gestore su rapporto.json.\r\n\r\n\
             Copy report from {old} ({server}) into {mailbox}, run {run}: at the source {sm} \
             messages, {sb} bytes; here {hm} messages, {hb} bytes; copied in this run {copied}; \
             missing {missing}; deleted at the source since (kept here) {deleted}; not copied {not}.\r\n",
            old = self.old_address,
            server = self.server,
            mailbox = self.mailbox,
            run = self.run,
            day = when.giorno(),
            hour = when.ora(),
            sm = t.source_messages,
            sb = t.source_bytes,
            hm = t.here_messages,
            hb = t.here_bytes,
            copied = t.copied_this_run,
            missing = t.missing,
            deleted = t.deleted_at_source,
            not = t.not_copied,
        )
    }
}

/// The report as a message: signed (S/MIME, like our receipts) with the summary, the JSON,
/// its detached signature and the CSV attached.
pub fn message(
    signer: &pec::Signer,
    from: &str,
    report: &RunReport,
    json: &[u8],
    p7s: &[u8],
    message_id: &str,
) -> Result<Vec<u8>, pec::smime::SmimeError> {
    let time = pec::PecTime::from_unix_or_epoch(report.finished);
    let csv = report.csv();
    let summary = report.summary();
    let parts: [&[u8]; 4] = [summary.as_bytes(), json, p7s, csv.as_bytes()];
    let boundary = pec::smime::boundary_for(&parts, "rapporto");
    let mut entity = format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    entity.extend_from_slice(summary.as_bytes());
    for (name, kind, data) in [
        ("rapporto.json", "application/json", json),
        ("rapporto.p7s", "application/pkcs7-signature", p7s),
        ("rapporto.csv", "text/csv", csv.as_bytes()),
    ] {
        entity.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {kind}; name=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        entity.extend_from_slice(&pec::wire::base64_lines(data));
    }
    entity.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let headers = format!(
        "Date: {date}\r\nFrom: {from}\r\nTo: {to}\r\nSubject: Rapporto di copia da {old}\r\n\
         Message-ID: <{message_id}>\r\n",
        date = time.rfc5322(),
        to = report.mailbox,
        old = report.old_address,
    );
    signer.sign_message(headers.as_bytes(), &entity, time)
}
