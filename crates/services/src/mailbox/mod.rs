//! Operations on a mailbox, each written once with its rules and the principal's rights
//! checked inside, for IMAP, POP3 and the webmail alike (mox's `webops`, Stalwart's
//! `email` crate). The protocols translate between the wire and these.
//!
//! The store is synchronous (SQLite, fsync on commit); the protocols are async. The one
//! boundary between them is [`run`]: it moves a closure to the blocking pool and hands it an
//! [`Access`], the only way to reach a mailbox's folders and messages. Every protocol calls
//! it the same way, one call per step of a command (`run(&p, &who, move |m| m.expunge(…))`),
//! so no async task ever waits on the disk.
//!
//! - [`folders`]: folder names, the special folders, create/delete/rename/subscribe
//!   (RFC 9051 §6.3.4–6.3.8, RFC 6154);
//! - [`messages`]: listing, reading, flags, copy/move, expunge, the Trash, quota, settings;
//! - [`search`]: the full-text index, and reading what it has not indexed yet.

mod folders;
mod messages;
mod search;

pub use messages::{Deleted, OrdinaryMail};

pub use folders::{folder_name, is_special};
pub use store::{
    normalize_flags, FlagChanges, FlagOp, Folder, FolderChanges, FolderId, FoundMessage, ListKey,
    ListOrder, ListedMessage, MailboxId, MessageContent, MessageEntry, OpenFolder, PecTransaction,
    TextField, TextHits, INBOX, SENT, SPECIAL_FOLDERS,
};

use crate::principal::{Denied, Permission, Principal};
use crate::provider::Provider;
use std::sync::Arc;
use store::StoreError;

/// The Trash folder (seed manual §2): where the webmail's delete moves messages.
pub const TRASH: &str = "Cestino";

/// Why an operation on a mailbox was refused. The text is Italian ([`MailboxError::english`]
/// for the webmail in English); the protocols add their codes (IMAP's `[OVERQUOTA]`, the
/// webmail's status).
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("nome di cartella non valido: {0}")]
    InvalidName(String),
    #[error("la cartella {0} esiste già")]
    Exists(String),
    #[error("la cartella {0} non esiste")]
    NotFound(String),
    /// Something other than a folder (a message, a setting) is not there.
    #[error("{0} non esiste")]
    Missing(String),
    #[error("{0} è una cartella di sistema: non si rinomina né si elimina")]
    Special(String),
    #[error("la cartella {0} contiene sottocartelle: eliminarle prima")]
    HasChildren(String),
    #[error("spazio della casella esaurito")]
    OverQuota,
    /// The store refused the operation for a reason of its own.
    #[error("{0}")]
    Refused(String),
    /// The store failed; the operation may be tried again. The detail is for the log, never
    /// for the user.
    #[error("servizio non disponibile, riprovare più tardi")]
    Unavailable(String),
    /// The stored data is damaged, or a bug: trying again will not help, the operator must
    /// look. The detail is for the log, never for the user.
    #[error("errore interno del server: l'operazione non è stata eseguita")]
    Internal(String),
}

impl MailboxError {
    pub fn english(&self) -> String {
        match self {
            MailboxError::Denied(d) => format!("not allowed: lacking the {:?} permission", d.0),
            MailboxError::InvalidName(n) => format!("invalid folder name: {n}"),
            MailboxError::Exists(n) => format!("the folder {n} already exists"),
            MailboxError::NotFound(n) => format!("the folder {n} does not exist"),
            MailboxError::Missing(n) => format!("{n} does not exist"),
            MailboxError::Special(n) => {
                format!("{n} is a system folder: it cannot be renamed or deleted")
            }
            MailboxError::HasChildren(n) => {
                format!("the folder {n} has subfolders: delete them first")
            }
            MailboxError::OverQuota => "the mailbox is full".into(),
            MailboxError::Refused(r) => r.clone(),
            MailboxError::Unavailable(_) => "service unavailable, try again later".into(),
            MailboxError::Internal(_) => "internal server error: nothing was done".into(),
        }
    }
}

impl From<StoreError> for MailboxError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(w) => MailboxError::Missing(w),
            StoreError::Exists(w) => MailboxError::Refused(format!("{w} esiste già")),
            StoreError::OverQuota(_) => MailboxError::OverQuota,
            StoreError::Refused(w) => MailboxError::Refused(w),
            StoreError::Retryable(w) => {
                tracing::warn!(error = %w, "store unavailable");
                MailboxError::Unavailable(w)
            }
            StoreError::Corrupt(w) | StoreError::Internal(w) => {
                tracing::error!(error = %w, "store failure");
                MailboxError::Internal(w)
            }
        }
    }
}

/// A principal's way into its mailbox, handed out by [`run`] on the blocking pool. Each
/// method checks the right it needs first.
pub struct Access {
    p: Arc<Provider>,
    who: Principal,
}

impl Access {
    pub fn principal(&self) -> &Principal {
        &self.who
    }

    fn may(&self, permission: Permission) -> Result<(), MailboxError> {
        Ok(self.who.require(permission)?)
    }

    fn mailbox(&self) -> MailboxId {
        self.who.mailbox
    }

    /// The provider, for the rules kept beside the mailbox's (reports, notifications).
    pub(crate) fn provider(&self) -> &Provider {
        &self.p
    }

    /// Records, for the holder's "Attività dei collaboratori", what a collaborator did
    /// (nothing is recorded for the holder; `detail` is made only when needed).
    fn note(&self, action: &str, detail: impl FnOnce() -> String) {
        if self.who.delegate.is_some() {
            crate::collaboration::record(&self.p, &self.who, action, &detail());
        }
    }
}

/// UIDs as an activity record names them: the first few, then how many more.
fn uid_list(uids: &[i64]) -> String {
    let mut s = uids
        .iter()
        .take(10)
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if uids.len() > 10 {
        s.push_str(&format!(" e altri {}", uids.len() - 10));
    }
    format!("UID {s}")
}

/// Runs `f` with the principal's [`Access`] on the blocking pool: the one place where an
/// async protocol waits for the store. `E` is the caller's error (the webmail's, IMAP's
/// refusal…), made from a [`MailboxError`] when the pool itself fails.
pub async fn run<T, E>(
    p: &Arc<Provider>,
    who: &Principal,
    f: impl FnOnce(&Access) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<MailboxError> + Send + 'static,
{
    let access = Access {
        p: p.clone(),
        who: who.clone(),
    };
    blocking(move || f(&access)).await
}

/// Runs `f` on the blocking pool; a task that panicked or was cancelled is a
/// [`MailboxError::Unavailable`], never a panic of the caller.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<MailboxError> + Send + 'static,
{
    match crate::blocking(f).await {
        Some(r) => r,
        None => Err(MailboxError::Internal("the task did not finish".into()).into()),
    }
}

/// A receiver woken after each commit that changed a folder of the principal's mailbox
/// (IMAP IDLE). Needs no disk: it is not behind [`run`].
pub fn watch(p: &Provider, who: &Principal) -> Result<tokio::sync::watch::Receiver<u64>, Denied> {
    who.require(Permission::Read)?;
    Ok(p.store.changes().watch_mailbox(who.mailbox))
}
