//! Certa's store, behind the [`Store`] trait so that the services never see which database
//! holds the data. The backend here is [`SqliteStore`]: SQLite in WAL mode with
//! synchronous=FULL (a commit is on disk when it returns), versioned schema migrations, and
//! content-addressed blobs for message bytes. Everything a delivery changes (folder entry,
//! quota, PEC transaction, log record, queue items) commits in one transaction: see
//! [`Store::write`] and the operations of [`Tx`].

mod blob;
mod cached;
mod changes;
mod checkpoint;
mod collaboration;
#[cfg(feature = "conformance")]
pub mod conformance;
mod folders;
mod gc;
mod group;
mod ids;
mod kinds;
mod log;
mod migration;
mod operators;
mod reports;
mod sessions;
mod sqlite;
mod text;

pub use blob::{blob_name, BlobStore, LocalBlobs};
pub use changes::{ChangeFeed, LocalChanges};
pub use collaboration::{
    Activity, Collaboration, CollaborationStore, Collaborator, CollaboratorToken, NewCollaboration,
    NewCollaborator,
};
pub use folders::normalize_flags;
pub use ids::{FolderId, MailboxId, MigrationFolderId, MigrationJobId, QueueId, SmsId};
pub use kinds::{
    Decertification, DeliveryState, DomainState, MigrationErrorKind, MigrationState,
    QueueFailureKind, QueueKind, SmsState,
};
pub use log::{LogEvent, LogVerifyError};
pub use migration::{
    MigrationFolder, MigrationItem, MigrationJob, MigrationReport, MigrationStore, NewMigrationJob,
    SourceKey,
};
pub use operators::{Operator, OperatorSession, OperatorStore, OperatorUpdate};
pub use reports::{AwaitingDelivery, NewSms, ReportStore, Sms, SMS_RETENTION_SECS};
pub use sqlite::SqliteStore;

use pec::{MessageKind, ReceiptType, RecipientKind};
use serde::Serialize;
use thiserror::Error;

/// What went wrong, by what the caller can do about it; each carries the source error's
/// text for the log.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The thing named does not exist (a mailbox, a folder, a blob).
    #[error("{0} not found")]
    NotFound(String),
    /// The thing named exists already, or the change conflicts with one that does.
    #[error("{0} already exists")]
    Exists(String),
    #[error("mailbox {0} is over quota")]
    OverQuota(String),
    /// A rule of the store refuses the change (a special-use folder, …).
    #[error("{0}")]
    Refused(String),
    /// May pass if tried again later: the database busy or locked by another writer, a
    /// full disk, an I/O error.
    #[error("temporarily unavailable: {0}")]
    Retryable(String),
    /// The stored data is damaged: not what this code writes (a malformed database, a
    /// value no version of Certa stores, a blob gone).
    #[error("damaged data: {0}")]
    Corrupt(String),
    /// A bug: the store used in a way it does not support.
    #[error("internal error: {0}")]
    Internal(String),
}

/// I/O errors of the blob files, by kind: a missing file is not found, unreadable data is
/// damage, everything else (a full disk, an I/O error, an interrupted call) may pass.
impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let text = format!("blob store: {e}");
        match e.kind() {
            ErrorKind::NotFound => StoreError::NotFound(text),
            ErrorKind::InvalidData | ErrorKind::UnexpectedEof => StoreError::Corrupt(text),
            ErrorKind::InvalidInput | ErrorKind::Unsupported => StoreError::Internal(text),
            _ => StoreError::Retryable(text),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The IMAP special-use folders, with the Italian names the users see (seed manual §2).
pub const SPECIAL_FOLDERS: &[(&str, &str)] = &[
    ("INBOX", "\\Inbox"),
    ("Posta inviata", "\\Sent"),
    ("Bozze", "\\Drafts"),
    ("Cestino", "\\Trash"),
    ("Posta indesiderata", "\\Junk"),
];
pub const INBOX: &str = "INBOX";
pub const SENT: &str = "Posta inviata";

/// 30 months, the retention of the legal log and of quarantined messages.
pub const RETENTION_SECS: i64 = 30 * 30 * 24 * 3600 + 15 * 24 * 3600;

/// Seconds since the epoch; every time in the store is one.
pub type Unix = i64;

#[derive(Debug, Clone, Serialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub address: String,
    #[serde(skip)]
    pub password_hash: String,
    pub quota: i64,
    pub used: i64,
    pub recovery_email: Option<String>,
    pub must_change_password: bool,
    /// What happens to ordinary (non-PEC) mail: `reject`, `forward` or `anomaly`.
    pub ordinary_mail: String,
    pub ordinary_forward: Option<String>,
    /// The holder's name, as the operator gave it (issue 16).
    pub name: Option<String>,
    /// The plan the box belongs to, which set its quota.
    pub plan: Option<String>,
    /// When its welcome message (credentials, invitation to copy) was queued.
    pub welcomed_at: Option<Unix>,
    /// Suspended by the operator: no login; mail for it is still received.
    pub suspended: bool,
}

/// A plan boxes belong to (issue 16; seeds: 1 GB, 6 GB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub name: String,
    pub quota: i64,
    /// With the security archive (a later issue): stored and shown.
    pub archive: bool,
    /// Collaborators per box (multiutenza); `None`: the services' default.
    pub max_collaborators: Option<i64>,
}

/// What the operator knows of a box besides its credentials; `None` fields are set to NULL,
/// except `welcomed_at`, which is kept.
#[derive(Debug, Clone, Default)]
pub struct MailboxProfile<'a> {
    pub name: Option<&'a str>,
    /// The plan, whose quota becomes the box's.
    pub plan: Option<&'a str>,
    pub welcomed_at: Option<Unix>,
}

/// Fields of a message parsed once, at delivery.
#[derive(Debug, Clone, Default)]
pub struct MessageMeta {
    pub subject: String,
    pub sender: String,
    pub pec_kind: Option<MessageKind>,
    pub identificativo: Option<String>,
    pub flags: String,
    /// The MIME structure and envelope (JSON from the `message` crate), parsed at delivery.
    pub structure: Option<String>,
    /// The IMAP internal date when it is not the time of the append (IMAP APPEND, import).
    pub internal_date: Option<Unix>,
    /// The text the full-text index keeps, extracted at delivery.
    pub text: Option<MessageText>,
}

/// A message's text for the full-text index, lower-cased and decoded, one column each.
#[derive(Debug, Clone, Default)]
pub struct MessageText {
    pub subject: String,
    /// The From names and addresses (and an envelope's certified sender).
    pub from: String,
    pub to: String,
    pub cc: String,
    /// The text of every text part, nested messages included.
    pub body: String,
}

/// Where a full-text search looks: one column of [`MessageText`], or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Subject,
    From,
    To,
    Cc,
    Body,
    Anywhere,
}

/// What one pass of [`Store::collect_blobs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobCollection {
    /// Released blobs whose references were checked.
    pub checked: usize,
    /// Those nothing uses any more: inline copies and index rows dropped.
    pub freed: usize,
    /// Blob files removed.
    pub files: usize,
}

/// A logged-in webmail browser, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 (hex) of the cookie's token; the token itself is never stored.
    pub token_hash: String,
    pub mailbox_id: MailboxId,
    /// The mailbox's address (read from the mailbox, not kept in the session).
    pub address: String,
    /// The CSRF token every form sends back.
    pub csrf: String,
    pub lang: String,
    /// Read from the mailbox on every request: a reset by the operator takes effect at once.
    pub must_change_password: bool,
    /// When the session began (its login): it ends a fixed time after, however busy.
    pub created: Unix,
    pub last_seen: Unix,
    /// A collaborator's session: the collaboration it is for (its revocation ends it).
    pub collaboration_id: Option<i64>,
}

/// A message a full-text search names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundMessage {
    pub folder_id: FolderId,
    pub uid: i64,
    pub internal_date: Unix,
    pub flags: String,
}

/// A full-text search's answer for one mailbox, by folder and UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextHits {
    /// Messages whose text holds the needle.
    pub found: Vec<FoundMessage>,
    /// Messages whose text is not indexed yet: the caller reads those itself.
    pub unindexed: Vec<FoundMessage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredMessage {
    pub folder: String,
    pub uid: i64,
    pub modseq: i64,
    pub flags: String,
    pub size: i64,
    pub blob: String,
    pub subject: String,
    pub sender: String,
    pub pec_kind: Option<MessageKind>,
    pub identificativo: Option<String>,
    pub internal_date: Unix,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub id: QueueId,
    pub kind: QueueKind,
    pub mail_from: String,
    /// In the order they were queued; one for a delivery, one or more (of one
    /// destination) for a relay.
    pub recipients: Vec<String>,
    pub blob: String,
    pub identificativo: Option<String>,
    pub created: Unix,
    pub attempts: i64,
    /// Where it goes: the (lower-case) domain of its first recipient.
    pub destination: String,
}

/// The destination of a queue item: the domain of its first recipient, lower-cased.
pub fn queue_destination(first_recipient: &str) -> String {
    first_recipient
        .rsplit_once('@')
        .map_or(first_recipient, |(_, d)| d)
        .to_ascii_lowercase()
}

/// Which items a worker may claim.
#[derive(Debug, Clone, Copy)]
pub struct QueueClaim<'a> {
    pub kinds: &'a [QueueKind],
    /// Destinations already at their limit of concurrent attempts.
    pub skip_destinations: &'a [String],
}

/// A failed attempt, for [`Store::queue_retry`].
#[derive(Debug, Clone, Copy)]
pub struct QueueFailure<'a> {
    /// Failures of the same kind count as "the same way".
    pub kind: QueueFailureKind,
    pub error: &'a str,
    pub next_attempt: Unix,
    pub now: Unix,
    /// Park the item after this many failures of the same kind in a row; `None` for
    /// failures that are expected to pass (a destination down, a 4xx reply).
    pub park_after: Option<i64>,
}

/// A queue item as the administrator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub item: QueueItem,
    pub next_attempt: Unix,
    pub lease_until: Unix,
    pub last_error: Option<String>,
    pub failure_kind: Option<QueueFailureKind>,
    pub same_failures: i64,
    /// When it was parked as poison: only an administrator puts it back.
    pub parked: Option<Unix>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientState {
    pub address: String,
    pub kind: RecipientKind,
    pub state: DeliveryState,
    pub detail: Option<String>,
    pub updated: Unix,
    pub taken_in_charge: bool,
    pub notice_12h: bool,
    pub notice_24h: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PecTransaction {
    pub identificativo: String,
    pub sender: String,
    pub subject: String,
    pub msgid: Option<String>,
    pub receipt_type: ReceiptType,
    pub created: Unix,
    pub recipients: Vec<RecipientState>,
    /// The collaborator who sent it from the box (multiutenza), for "inviato da".
    pub sent_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub domain: String,
    pub host: String,
    pub port: u16,
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub time: Unix,
    pub sender: String,
    pub virus: String,
    pub identificativo: Option<String>,
}

/// How durable a write must be when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk (fsync) before `Ok`: everything that a client's `250`/`OK` stands on.
    Durable,
    /// May be lost by a crash without harm (a queue lease only delays an item).
    Relaxed,
}

/// Operations inside one write transaction: all of them commit together or none does.
pub trait Tx {
    /// Makes a prepared blob durable with this transaction (see [`Blobs::prepare_blob`]).
    fn keep_blob(&self, blob: &PreparedBlob) -> Result<()>;
    /// One of our active domains (see [`DirectoryStore::is_local_domain`]).
    fn is_local_domain(&self, domain: &str) -> Result<bool>;
    fn mailbox_exists(&self, address: &str) -> Result<bool>;
    /// A mailbox's quota and the space its messages use, as of this transaction; no other
    /// writer changes them before it commits (the rules on quota are the caller's).
    fn usage(&self, address: &str) -> Result<Usage>;
    /// Appends a message to a folder of a mailbox: next UID and MODSEQ, its size added to
    /// the mailbox's use. Returns the UID.
    fn append(&self, address: &str, folder: &str, m: &NewMessage<'_>, now: Unix) -> Result<i64>;
    /// Like [`Tx::append`] with the given UID (a copy keeping the old provider's UIDs): it
    /// must not be below the folder's UIDNEXT, which becomes `uid + 1`; a lower one is refused
    /// (`Refused`) and nothing is written.
    fn append_at(
        &self,
        address: &str,
        folder: &str,
        uid: i64,
        m: &NewMessage<'_>,
        now: Unix,
    ) -> Result<i64>;
    /// Gives a folder that never held a message another UIDVALIDITY (a copy keeping the old
    /// provider's): only if no folder of the mailbox could have had it (it is below the
    /// mailbox's creation, or above every value given out), so a client's cache of another
    /// folder by that name is never taken for this one (RFC 9051 §2.3.1.1). `false` when it
    /// may not.
    fn adopt_uidvalidity(&self, address: &str, folder: &str, uidvalidity: i64) -> Result<bool>;
    /// Copies (or moves) messages to another folder of the same mailbox: (old, new) UIDs.
    /// A copy adds their size to the mailbox's use; a move does not change it.
    fn copy_messages(
        &self,
        folder_id: FolderId,
        uids: &[i64],
        to_folder_id: FolderId,
        remove: bool,
    ) -> Result<Vec<(i64, i64)>>;
    /// Queues work for the delivery workers, for one or more recipients (in this order).
    fn enqueue(
        &self,
        kind: QueueKind,
        mail_from: &str,
        recipients: &[String],
        blob: &str,
        identificativo: Option<&str>,
        now: Unix,
    ) -> Result<()>;
    /// Removes a finished queue item; `false` if it was already gone (done by someone else).
    fn dequeue(&self, id: QueueId) -> Result<bool>;
    fn create_transaction(&self, t: &PecTransaction) -> Result<()>;
    /// The state of one recipient of a transaction we sent; `None` when there is no such
    /// recipient (not our transaction). The address matches without regard to case.
    fn recipient_state(&self, identificativo: &str, address: &str)
        -> Result<Option<DeliveryState>>;
    /// Sets the state of one recipient of a transaction we sent (the transitions are the
    /// services': `services::delivery::record_state`). `false` when there is no such
    /// recipient.
    fn update_recipient(
        &self,
        identificativo: &str,
        address: &str,
        state: DeliveryState,
        detail: Option<&str>,
        now: Unix,
    ) -> Result<bool>;
    /// Notes that the recipient's provider took the message in charge, whatever its state
    /// now. `false` when there is no such recipient.
    fn note_taken_in_charge(&self, identificativo: &str, address: &str, now: Unix) -> Result<bool>;
    fn mark_notice(&self, identificativo: &str, address: &str, stage_24h: bool) -> Result<()>;
    /// Appends a legal-log record (RFC 6109 §2.3), chained to the previous one.
    fn log_append(&self, record: &LogRecord<'_>) -> Result<()>;
    /// Keeps an infected message out of every mailbox, for the retention period.
    fn quarantine(&self, q: &Quarantine<'_>) -> Result<()>;
    /// Records that the incoming point took `what` (an envelope, or one receipt) of
    /// transaction `identificativo` for `recipient`; `false` when it already had: the
    /// unique key makes a replay change nothing (RFC 6109 §3.2, review H1).
    fn claim_incoming(
        &self,
        what: &str,
        identificativo: &str,
        recipient: &str,
        now: Unix,
    ) -> Result<bool>;
    /// Records messages a copy from an old provider appended in this transaction
    /// (`MigrationStore`): with them, or not at all.
    fn migration_record(&self, folder: MigrationFolderId, items: &[MigrationItem]) -> Result<()>;
    /// The switch-over of a domain in migration (issue 16): it becomes active, the passwords
    /// its boxes set for after the switch take effect (their sessions end), and every copy
    /// into one of its boxes that has not ended gets its last run, due now. Returns how
    /// many copies; `Refused` for a domain that is active already, `NotFound` for none.
    fn switch_domain(&self, name: &str, now: Unix) -> Result<usize>;
    /// Notes a reminder of `kind` sent to a box's holder (issue 16); `false` when one of
    /// that kind was sent already, so each is sent once.
    fn note_reminder(&self, mailbox: MailboxId, kind: &str, actor: &str, now: Unix)
        -> Result<bool>;
    /// Gives messages of a folder the POP3 unique ids they had at the old provider (a copy
    /// keeping a program's view); a UID with no message, one that has an id already or an id
    /// taken in the folder is skipped. Returns how many were set.
    fn set_pop3_uidls(&self, folder_id: FolderId, uidls: &[(i64, String)]) -> Result<usize>;
    /// Keeps a run's signed report with the job (the last one per run number).
    fn migration_report(&self, job: MigrationJobId, report: &MigrationReport) -> Result<()>;
    /// Notes the daily report of `kind` for the Italian calendar `day` (`2026-12-03`) as
    /// done (issue 18); `false` when it was already, so each is made once per day, whatever
    /// restarts and clock changes happen.
    fn claim_daily_report(
        &self,
        mailbox: MailboxId,
        kind: &str,
        day: &str,
        now: Unix,
    ) -> Result<bool>;
    /// Puts an SMS in the outbox, due now.
    fn queue_sms(&self, sms: &NewSms<'_>, now: Unix) -> Result<SmsId>;
}

/// A mailbox's quota and what it uses, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub quota: i64,
    pub used: i64,
}

/// Message bytes named and ready for [`Tx::keep_blob`].
#[derive(Debug, Clone)]
pub struct PreparedBlob {
    name: String,
    /// Bytes the transaction itself keeps; `None` when they are durable already.
    pending: Option<Vec<u8>>,
}

impl PreparedBlob {
    /// The blob's name ([`blob_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One legal-log record about to be written.
pub struct LogRecord<'a> {
    pub time: Unix,
    pub event: &'a str,
    pub msgid: &'a str,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub related: &'a [String],
    pub provider: &'a str,
    /// Who acted for the sender, when not the sender itself: `collaboratore:mario` for a
    /// PEC a collaborator sent from the box (multiutenza). Empty: nobody else.
    pub actor: &'a str,
}

/// An infected message about to be quarantined.
pub struct Quarantine<'a> {
    pub time: Unix,
    pub blob: &'a str,
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub virus: &'a str,
    pub identificativo: Option<&'a str>,
}

/// The store the services use: one implementation per database ([`SqliteStore`] is the
/// embedded one), seen through one narrow trait per aggregate below; every protocol and the
/// admin CLI reach it only through `services`. The traits hold persistence only: the mail
/// rules (special-use folders, quota, rights) are the services' (`services::mailbox`).
pub trait Store:
    AccountStore
    + MailStore
    + SettingStore
    + SessionStore
    + DirectoryStore
    + QueueStore
    + PecStore
    + MigrationStore
    + OperatorStore
    + CollaborationStore
    + ReportStore
    + Blobs
    + Send
    + Sync
{
    /// Runs `f` in one write transaction (see [`Durability`]); none of it is kept if `f`
    /// fails. Callers use the typed [`Store::write`] / [`Store::write_relaxed`].
    fn write_with(
        &self,
        durability: Durability,
        f: &mut dyn FnMut(&dyn Tx) -> Result<()>,
    ) -> Result<()>;
    /// What sessions and workers wait on: told after each commit what it changed.
    fn changes(&self) -> &dyn ChangeFeed;
}

/// Every trait of the store, for `use store::prelude::*`.
pub mod prelude {
    pub use super::{
        AccountStore, Blobs, CollaborationStore, DirectoryStore, MailStore, MigrationStore,
        OperatorStore, PecStore, QueueStore, ReportStore, SessionStore, SettingStore, Store,
    };
}

/// Mailboxes (accounts): credentials, quota, the policy for ordinary mail.
pub trait AccountStore {
    fn add_mailbox(&self, m: &NewMailbox<'_>, now: Unix) -> Result<MailboxId>;
    fn mailbox(&self, address: &str) -> Result<Option<Mailbox>>;
    fn mailboxes(&self) -> Result<Vec<Mailbox>>;
    /// A new password ends every webmail session of the mailbox, and every reset link.
    fn set_password(&self, address: &str, hash: &str, must_change: bool) -> Result<()>;
    /// Records a password-reset link (its token's hash); expired ones go on the way.
    fn add_password_reset(
        &self,
        mailbox_id: MailboxId,
        token_hash: &str,
        created: Unix,
        expires: Unix,
    ) -> Result<()>;
    /// How many reset links of the box were made since `since`.
    fn password_resets_since(&self, mailbox_id: MailboxId, since: Unix) -> Result<usize>;
    /// The box an unexpired reset link is for (a new password spends it, with the others).
    fn password_reset(&self, token_hash: &str, now: Unix) -> Result<Option<String>>;
    fn set_quota(&self, address: &str, quota: i64) -> Result<()>;
    /// Suspends a box (its webmail sessions end) or resumes it.
    fn set_suspended(&self, address: &str, suspended: bool) -> Result<()>;
    /// Keeps a password that becomes the box's at its domain's switch-over (issue 16, the
    /// start page); a password set meanwhile supersedes it.
    fn set_pending_password(&self, address: &str, hash: &str) -> Result<()>;
    /// Adds a plan; `Exists` if one has its name.
    fn add_plan(&self, plan: &Plan, now: Unix) -> Result<()>;
    fn plans(&self) -> Result<Vec<Plan>>;
    /// Sets a box's name and plan (its quota becomes the plan's; `NotFound` for no such
    /// plan) and, when given, when it was welcomed.
    fn set_profile(&self, address: &str, profile: &MailboxProfile<'_>) -> Result<()>;
    fn set_ordinary_mail(&self, address: &str, policy: &str, forward: Option<&str>) -> Result<()>;
    fn delete_mailbox(&self, address: &str) -> Result<()>;
}

/// Folders and messages, as IMAP, POP3 and the webmail see them (UIDs, MODSEQ, flags),
/// and their full-text index.
pub trait MailStore {
    /// The bytes of the box's messages whose internal date is `since` or later (its recent
    /// growth, for the quota forecast). Reads every message of the box: for rare uses.
    fn bytes_since(&self, mailbox_id: MailboxId, since: Unix) -> Result<i64>;
    /// Messages of a folder, in UID order.
    fn folder_messages(&self, address: &str, folder: &str) -> Result<Vec<StoredMessage>>;
    /// The folders of a mailbox, with counts, by name.
    fn folders(&self, mailbox_id: MailboxId) -> Result<Vec<Folder>>;
    fn folder(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>>;
    /// A folder without its counts (`messages`, `unseen`, `size` are zero): no scan of its
    /// messages, for callers that only need its id, UIDVALIDITY or UIDNEXT.
    fn folder_head(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<Folder>>;
    fn create_folder(&self, mailbox_id: MailboxId, name: &str, now: Unix) -> Result<()>;
    /// Deletes a folder and its messages (quota given back); special-use folders stay.
    fn delete_folder(&self, mailbox_id: MailboxId, name: &str) -> Result<()>;
    /// Renames a folder and the folders below it (`a` → `b` renames `a/x` to `b/x`).
    /// Renaming INBOX moves its messages to the new folder (RFC 9051 §6.3.6).
    fn rename_folder(&self, mailbox_id: MailboxId, from: &str, to: &str, now: Unix) -> Result<()>;
    fn subscribe(&self, mailbox_id: MailboxId, name: &str, subscribed: bool) -> Result<()>;
    /// The subscribed names, folders or not (a deleted folder stays subscribed), by name.
    fn subscriptions(&self, mailbox_id: MailboxId) -> Result<Vec<String>>;
    /// The messages of a folder, in UID order.
    fn messages(&self, folder_id: FolderId) -> Result<Vec<MessageEntry>>;
    /// One page of a folder for the webmail's list, in the given order.
    fn message_page(
        &self,
        folder_id: FolderId,
        order: ListOrder,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ListedMessage>>;
    /// Some messages of a folder as the list shows them, in UID order.
    fn listed(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<ListedMessage>>;
    /// Every message of a mailbox about one PEC transaction (the sent copy and its receipts),
    /// with its folder's name, oldest first.
    fn messages_with_identificativo(
        &self,
        mailbox_id: MailboxId,
        identificativo: &str,
    ) -> Result<Vec<(String, ListedMessage)>>;
    /// A folder with every UID in order and whether each is unseen: what SELECT needs, in
    /// one pass over the folder's rows.
    fn open_folder(&self, mailbox_id: MailboxId, name: &str) -> Result<Option<OpenFolder>>;
    /// What changed in a folder after `modseq` (CONDSTORE/QRESYNC and session updates).
    fn changes_since(&self, folder_id: FolderId, modseq: i64) -> Result<FolderChanges>;
    /// The messages of a folder with UIDs in `lo..=hi`, in UID order.
    fn messages_between(&self, folder_id: FolderId, lo: i64, hi: i64) -> Result<Vec<MessageEntry>>;
    /// Bytes and the structure parsed at delivery (JSON) of some messages, fetched together.
    fn contents(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<MessageContent>>;
    fn store_flags(
        &self,
        folder_id: FolderId,
        uids: &[i64],
        op: FlagOp,
        flags: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<FlagChanges>;
    /// Removes the given messages; returns the UIDs removed.
    fn expunge(&self, folder_id: FolderId, uids: &[i64]) -> Result<Vec<i64>>;
    /// The POP3 unique ids messages of a folder keep from an old provider, by UID; the
    /// others have Certa's own.
    fn pop3_uidls(&self, folder_id: FolderId) -> Result<Vec<(i64, String)>>;
    /// How many messages no session has claimed as `\Recent` yet (STATUS RECENT).
    fn unclaimed_recent(&self, folder_id: FolderId) -> Result<i64>;
    /// Claims the messages that are `\Recent` for the one session that selects the folder
    /// first: returns the lowest such UID (RFC 3501 §2.3.2).
    fn claim_recent(&self, folder_id: FolderId) -> Result<i64>;
    /// Full-text search of a mailbox for a lower-cased needle; `None` when the needle is
    /// too short for the index (fewer than three characters) and the caller must read.
    fn text_search(
        &self,
        mailbox_id: MailboxId,
        needle: &str,
        field: TextField,
    ) -> Result<Option<TextHits>>;
    /// (mailbox, blob) of stored messages whose text is not indexed yet, at most `limit`.
    fn unindexed_texts(&self, limit: i64) -> Result<Vec<(MailboxId, String)>>;
    /// Indexes the texts of stored blobs, each for a mailbox, in one transaction (the
    /// background indexer's batch; messages are stored without their text).
    fn index_texts(&self, texts: &[(MailboxId, String, MessageText)]) -> Result<()>;
}

/// Per-mailbox settings (webmail layout, language, notification rules…).
pub trait SettingStore {
    fn setting(&self, mailbox_id: MailboxId, key: &str) -> Result<Option<String>>;
    fn set_setting(&self, mailbox_id: MailboxId, key: &str, value: &str) -> Result<()>;
}

/// Webmail sessions.
pub trait SessionStore {
    /// Records a new session; sessions idle since before `expired_before` are dropped.
    fn start_session(&self, s: &WebSession, expired_before: Unix) -> Result<()>;
    fn session(&self, token_hash: &str) -> Result<Option<WebSession>>;
    /// Notes that a session was used (a crash may lose this: it only shortens its life).
    fn touch_session(&self, token_hash: &str, now: Unix) -> Result<()>;
    fn set_session_lang(&self, token_hash: &str, lang: &str) -> Result<()>;
    fn end_session(&self, token_hash: &str) -> Result<()>;
}

/// One of our domains with its lifecycle (issue 16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    pub name: String,
    pub state: DomainState,
    pub created: Unix,
    /// The planned switch-over from the old provider.
    pub switch_at: Option<Unix>,
    /// When it became active by a switch.
    pub switched_at: Option<Unix>,
    /// The old provider's name, as users read it.
    pub old_provider: Option<String>,
    /// The old provider's IMAPS server, `host:port`.
    pub old_server: Option<String>,
    /// A CA (PEM) trusted for the old server, besides the system's.
    #[serde(skip)]
    pub old_ca_pem: Option<String>,
    /// The old provider's POP3S server, `host:port` (for the UIDLs a copy keeps).
    pub old_pop3: Option<String>,
    pub decertification: Decertification,
    pub decertification_note: Option<String>,
}

/// A domain about to be added.
#[derive(Debug, Clone, Default)]
pub struct NewDomain<'a> {
    pub name: &'a str,
    /// Taken over from another provider: in migration until its switch-over.
    pub migrating: bool,
    pub switch_at: Option<Unix>,
    pub old_provider: Option<&'a str>,
    pub old_server: Option<&'a str>,
    pub old_ca_pem: Option<&'a str>,
    pub old_pop3: Option<&'a str>,
}

/// Where mail goes: our domains, relay routes, the imported provider index.
pub trait DirectoryStore {
    /// Adds one of our domains, active.
    fn add_domain(&self, name: &str, now: Unix) -> Result<()> {
        self.add_domain_with(
            &NewDomain {
                name,
                ..NewDomain::default()
            },
            now,
        )
    }
    /// Adds a domain, active or in migration (issue 16).
    fn add_domain_with(&self, domain: &NewDomain<'_>, now: Unix) -> Result<()>;
    /// Our domains with their lifecycle, by name.
    fn domain_list(&self) -> Result<Vec<Domain>>;
    /// One of our domains, in any state.
    fn domain(&self, name: &str) -> Result<Option<Domain>>;
    /// Moves the switch-over of a domain in migration (`Refused` for an active one), and of
    /// the copies into its boxes.
    fn set_domain_switch(&self, name: &str, switch_at: Unix) -> Result<()>;
    /// Records where the old provider's decertification of a domain stands.
    fn set_decertification(
        &self,
        name: &str,
        state: Decertification,
        note: Option<&str>,
    ) -> Result<()>;
    /// Domains in migration whose switch-over is due at `now`.
    fn domains_due_to_switch(&self, now: Unix) -> Result<Vec<String>>;
    /// Our active domains: those whose mail is ours (the index entry, routing).
    fn domains(&self) -> Result<Vec<String>>;
    /// One of our active domains (a domain in migration is still its old provider's).
    fn is_local_domain(&self, domain: &str) -> Result<bool>;
    fn add_route(&self, route: &Route) -> Result<()>;
    fn route(&self, domain: &str) -> Result<Option<Route>>;
    fn routes(&self) -> Result<Vec<Route>>;
    /// Stores provider-index entries (LDIF per DN), replacing those with the same DN.
    fn import_index_entries(&self, entries: &[(String, String)], now: Unix) -> Result<()>;
    /// Changes whenever the imported index or our domains change.
    fn index_version(&self) -> Result<String>;
    /// The whole imported index as LDIF.
    fn index_ldif(&self) -> Result<String>;
}

/// The delivery queue: claims with leases, retries, parking.
pub trait QueueStore {
    /// Claims the next due item of `claim`'s kinds with a lease, skipping parked items and
    /// busy destinations; a crash before [`Tx::dequeue`] only delays it.
    fn queue_claim(
        &self,
        now: Unix,
        lease_secs: i64,
        claim: &QueueClaim<'_>,
    ) -> Result<Option<QueueItem>> {
        Ok(self
            .queue_claim_many(now, lease_secs, claim, 1)?
            .into_iter()
            .next())
    }
    /// Like [`QueueStore::queue_claim`] for up to `max` items at once, in one transaction
    /// (the local deliveries claim as many as they have free workers).
    fn queue_claim_many(
        &self,
        now: Unix,
        lease_secs: i64,
        claim: &QueueClaim<'_>,
        max: usize,
    ) -> Result<Vec<QueueItem>>;
    /// Extends the lease of an item still being worked on; `false` if it is gone.
    fn queue_renew(&self, id: QueueId, lease_until: Unix) -> Result<bool>;
    /// At start-up of the only node using this store, nobody holds a lease: items claimed
    /// by a process that crashed are due again at once.
    fn release_leases(&self) -> Result<usize>;
    /// Schedules the next attempt after a failure, or parks the item when it failed the
    /// same way `park_after` times in a row. Returns whether it is now parked.
    fn queue_retry(&self, id: QueueId, failure: &QueueFailure<'_>) -> Result<bool>;
    /// Every item, parked or not, oldest first.
    fn queue_entries(&self) -> Result<Vec<QueueEntry>>;
    /// Puts an item (parked or waiting) back in the queue, due at `now`, with its failure
    /// count reset; `false` if there is no such item.
    fn queue_unpark(&self, id: QueueId, now: Unix) -> Result<bool>;
    fn queue_len(&self) -> Result<i64>;
    /// When the oldest item still in the queue (parked or not) was queued.
    fn queue_oldest(&self) -> Result<Option<Unix>>;
    /// The earliest time something in the queue is due.
    fn queue_next_due(&self) -> Result<Option<Unix>>;
}

/// PEC transactions and their recipients' states, the legal log, the quarantine.
pub trait PecStore {
    fn transaction(&self, identificativo: &str) -> Result<Option<PecTransaction>>;
    /// Transactions with a certified recipient in one of the `waiting` states that has not
    /// had its 24-hour notice yet.
    fn pending_transactions(&self, waiting: &[DeliveryState]) -> Result<Vec<String>>;
    /// Walks the hash chain; the number of records checked.
    fn log_verify(&self) -> std::result::Result<u64, LogVerifyError>;
    fn log_records(&self, identificativo: Option<&str>) -> Result<Vec<LogEvent>>;
    /// Drops log records older than the retention period, keeping the chain verifiable
    /// from the last dropped record's hash. Returns how many were dropped.
    fn purge_log(&self, now: Unix) -> Result<usize>;
    /// Quarantined messages, oldest first.
    fn quarantined(&self) -> Result<Vec<Quarantined>>;
    /// Drops quarantine entries older than the retention period.
    fn purge_quarantine(&self, now: Unix) -> Result<usize>;
}

/// Content-addressed message bytes: written before the transaction that references them,
/// collected when nothing does any more.
pub trait Blobs {
    /// Stores message bytes in the blob store, durably, and returns their name.
    fn put_blob(&self, data: &[u8]) -> Result<String>;
    /// Gets message bytes ready for a transaction that will reference them: the backend
    /// either stores them now (as [`Blobs::put_blob`]) or keeps them in the transaction
    /// itself ([`Tx::keep_blob`]), as SQLite does with small ones.
    fn prepare_blob(&self, data: &[u8]) -> Result<PreparedBlob>;
    /// A message's bytes, wherever they are kept.
    fn blob(&self, hash: &str) -> Result<Vec<u8>>;
    /// Gives back the space of blobs that nothing has referenced for `grace_secs` (a blob
    /// file written within that time stays), checking up to `limit` of them.
    fn collect_blobs(&self, now: Unix, grace_secs: i64, limit: i64) -> Result<BlobCollection>;
    /// Removes the blob files of directory `shard` (the first byte of their names, 0–255)
    /// that no message, queue item or quarantine entry references and that were written
    /// more than `grace_secs` ago: the bytes of a transaction that failed or never
    /// committed after writing them. In the result, `checked` counts the files old enough,
    /// `freed` those unreferenced, `files` those removed.
    fn sweep_orphan_blobs(&self, shard: u8, grace_secs: i64) -> Result<BlobCollection>;
}

impl dyn Store + '_ {
    /// Runs `f` in one durable write transaction: all of it is on disk when this returns
    /// `Ok`, none of it if `f` fails.
    pub fn write<T>(&self, f: impl FnOnce(&dyn Tx) -> Result<T>) -> Result<T> {
        self.write_typed(Durability::Durable, f)
    }

    /// Like [`Store::write`] for changes a crash may lose without harm.
    pub fn write_relaxed<T>(&self, f: impl FnOnce(&dyn Tx) -> Result<T>) -> Result<T> {
        self.write_typed(Durability::Relaxed, f)
    }

    fn write_typed<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&dyn Tx) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.write_with(durability, &mut |tx| {
            let f = f
                .take()
                .ok_or_else(|| StoreError::Internal("write closure called twice".into()))?;
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::Internal("write closure not called".into()))
    }
}

/// A folder of a mailbox with its IMAP state and counts.
#[derive(Debug, Clone, Serialize)]
pub struct Folder {
    pub id: FolderId,
    pub name: String,
    pub special_use: Option<String>,
    pub subscribed: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    pub messages: i64,
    pub unseen: i64,
    pub size: i64,
    /// Messages marked `\Deleted` (IMAP4rev2 STATUS DELETED).
    pub deleted: i64,
}

/// The column a message list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKey {
    Date,
    Sender,
    Subject,
    Size,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOrder {
    pub key: ListKey,
    pub descending: bool,
}

/// A message as a list shows it: the fields recorded at delivery, no bytes.
#[derive(Debug, Clone, Serialize)]
pub struct ListedMessage {
    pub uid: i64,
    pub flags: String,
    pub size: i64,
    pub internal_date: Unix,
    pub subject: String,
    pub sender: String,
    pub pec_kind: Option<MessageKind>,
    pub identificativo: Option<String>,
    /// The structure parsed at delivery (JSON), for attachment marks.
    pub structure: Option<String>,
}

/// A folder as SELECT opens it.
#[derive(Debug, Clone)]
pub struct OpenFolder {
    pub folder: Folder,
    /// (UID, unseen) in UID order.
    pub uids: Vec<(i64, bool)>,
}

/// One message of a folder as a mail client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntry {
    pub uid: i64,
    pub modseq: i64,
    /// Space-separated IMAP flags.
    pub flags: String,
    pub size: i64,
    pub internal_date: Unix,
    pub blob: String,
}

/// A message's bytes and its structure as parsed at delivery (JSON, when recorded).
#[derive(Debug, Clone)]
pub struct MessageContent {
    pub uid: i64,
    pub data: Vec<u8>,
    pub structure: Option<String>,
}

/// What happened in a folder after a MODSEQ: changed or new messages, and expunged UIDs.
#[derive(Debug, Clone, Default)]
pub struct FolderChanges {
    pub highestmodseq: i64,
    pub changed: Vec<MessageEntry>,
    pub expunged: Vec<i64>,
}

/// How STORE changes flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

/// The result of a flag change: messages changed (uid, flags, modseq) and, with
/// UNCHANGEDSINCE, those left alone because they changed after it (RFC 7162 §3.1.3).
#[derive(Debug, Clone, Default)]
pub struct FlagChanges {
    pub changed: Vec<(i64, String, i64)>,
    pub modified: Vec<i64>,
}

/// A message about to be appended: its blob and what was parsed from it.
pub struct NewMessage<'a> {
    pub blob: &'a str,
    pub size: i64,
    pub meta: &'a MessageMeta,
}

/// A mailbox about to be created.
pub struct NewMailbox<'a> {
    pub address: &'a str,
    pub password_hash: &'a str,
    pub quota: i64,
    pub recovery_email: Option<&'a str>,
    pub must_change_password: bool,
}
