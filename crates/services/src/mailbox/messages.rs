//! Messages: reading them (lists, changes, bytes), changing their flags, copying, moving,
//! expunging, the Trash; the quota and the mailbox's settings.

use super::{Access, MailboxError, TRASH};
use crate::delivery::Ingest;
use crate::principal::Permission;
use store::{
    FlagChanges, FlagOp, FolderChanges, FolderId, ListOrder, ListedMessage, MessageContent,
    MessageEntry, PecTransaction, StoreError,
};

/// Where the webmail's delete left the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Moved to the Trash.
    ToTrash,
    /// They were in the Trash already: removed for good.
    Purged,
}

/// The system flags (RFC 9051 §2.3.2), as they are stored and shown.
const SYSTEM_FLAGS: [&str; 6] = [
    "\\Answered",
    "\\Flagged",
    "\\Deleted",
    "\\Seen",
    "\\Draft",
    "\\Recent",
];

/// A flag as stored: system flags are case-insensitive (RFC 9051 §2.3.2), so `\deleted`
/// is `\Deleted`, and every rule comparing flags sees one spelling.
pub fn canonical_flag(flag: &str) -> &str {
    SYSTEM_FLAGS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(flag))
        .copied()
        .unwrap_or(flag)
}

/// Space-separated flags with the system ones in their canonical spelling.
fn canonical_flags(flags: &str) -> String {
    flags
        .split(' ')
        .map(canonical_flag)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rule for ordinary mail arriving for a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrdinaryMail {
    /// Refused (the default, seed 002 §2.6.6).
    Refused,
    /// Forwarded to this ordinary address.
    Forward(String),
    /// Delivered into the box inside an anomaly envelope (RFC 6109 §3.2.2).
    IntoTheBox,
}

impl Access {
    /// RFC 9051 §6.3.12 APPEND (and the webmail's drafts): stores messages a client hands
    /// in, all or none, in one transaction; their UIDs in order.
    pub fn append_all(&self, mut messages: Vec<Ingest>) -> Result<Vec<i64>, MailboxError> {
        self.may(Permission::Modify)?;
        for m in &mut messages {
            m.flags = canonical_flags(&m.flags);
        }
        let uids = crate::delivery::ingest_all(&self.p, &self.who.address, messages)?;
        self.note("aggiunta", || super::uid_list(&uids));
        self.check_quota();
        Ok(uids)
    }

    /// After the box grew: the 70 % / 90 % warnings (issue 18 item 5), whoever made it grow.
    /// A failed check never undoes what was stored.
    fn check_quota(&self) {
        if let Err(e) = crate::quota::check(&self.p, &self.who.address) {
            tracing::warn!(error = %e, mailbox = %self.who.address, "quota warning not checked");
        }
    }

    /// Messages copied from another provider (issue 15): like [`Access::append_all`], with
    /// `\Recent` dropped (it is the session's, not the message's) and `then` run in the same
    /// transaction with their UIDs, so what it records commits with them or not at all.
    pub fn import_all(
        &self,
        mut messages: Vec<Ingest>,
        then: impl FnOnce(&dyn store::Tx, &[i64]) -> Result<(), StoreError>,
    ) -> Result<Vec<i64>, MailboxError> {
        self.may(Permission::Modify)?;
        for m in &mut messages {
            m.flags = canonical_flags(&m.flags)
                .split(' ')
                .filter(|f| !f.is_empty() && *f != "\\Recent")
                .collect::<Vec<_>>()
                .join(" ");
        }
        let uids = crate::delivery::ingest_all_with(&self.p, &self.who.address, messages, then)?;
        self.check_quota();
        Ok(uids)
    }

    /// Gives a folder that never held a message the old provider's UIDVALIDITY, so that the
    /// messages copied keep their UIDs for a program that reads the box by UID (issue 15).
    /// `false` when the store may not (see `Tx::adopt_uidvalidity`).
    pub fn adopt_uidvalidity(&self, folder: &str, uidvalidity: i64) -> Result<bool, MailboxError> {
        self.may(Permission::Modify)?;
        let address = self.who.address.clone();
        Ok(self
            .p
            .store
            .write(|tx| tx.adopt_uidvalidity(&address, folder, uidvalidity))?)
    }

    /// The POP3 unique ids messages of a folder kept from an old provider, by UID.
    pub fn pop3_uidls(&self, folder: FolderId) -> Result<Vec<(i64, String)>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.pop3_uidls(folder)?)
    }

    /// Gives messages the POP3 unique ids they had at the old provider (issue 15): a program
    /// downloading the box by UIDL does not download it all again after the switch.
    pub fn set_pop3_uidls(
        &self,
        folder: FolderId,
        uidls: &[(i64, String)],
    ) -> Result<usize, MailboxError> {
        self.may(Permission::Modify)?;
        Ok(self.p.store.write(|tx| tx.set_pop3_uidls(folder, uidls))?)
    }

    /// What the webmail says about copying from an old provider on every page (issue 15):
    /// the page's link and the banner. Nothing for a principal who may not read.
    pub fn migration_invitation(&self) -> crate::migration::Invitation {
        if self.may(Permission::Read).is_err() {
            return crate::migration::Invitation::default();
        }
        crate::migration::invitation(
            &*self.p.store,
            &self.p.migration,
            (self.who.mailbox, &self.who.address),
            self.p.now(),
        )
    }

    /// One message handed in: its UID.
    pub fn append(&self, message: Ingest) -> Result<i64, MailboxError> {
        self.append_all(vec![message])?
            .first()
            .copied()
            .ok_or_else(|| MailboxError::Unavailable("nothing appended".into()))
    }

    /// A folder's messages, in UID order.
    pub fn messages(&self, folder: FolderId) -> Result<Vec<MessageEntry>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.messages(folder)?)
    }

    /// The messages with UIDs in `lo..=hi`, in UID order.
    pub fn messages_between(
        &self,
        folder: FolderId,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<MessageEntry>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.messages_between(folder, lo, hi)?)
    }

    /// What changed after `modseq` (RFC 7162 CONDSTORE and QRESYNC, session updates).
    pub fn changes_since(
        &self,
        folder: FolderId,
        modseq: i64,
    ) -> Result<FolderChanges, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.changes_since(folder, modseq)?)
    }

    /// Bytes and structure of some messages, read together.
    pub fn contents(
        &self,
        folder: FolderId,
        uids: &[i64],
    ) -> Result<Vec<MessageContent>, MailboxError> {
        self.may(Permission::Read)?;
        let contents = self.p.store.contents(folder, uids)?;
        self.note("lettura", || super::uid_list(uids));
        Ok(contents)
    }

    /// One message's bytes and structure.
    pub fn content(&self, folder: FolderId, uid: i64) -> Result<MessageContent, MailboxError> {
        self.contents(folder, &[uid])?
            .into_iter()
            .next()
            .ok_or_else(|| MailboxError::Missing(format!("il messaggio {uid}")))
    }

    /// Some messages as a list shows them, in UID order.
    pub fn listed(
        &self,
        folder: FolderId,
        uids: &[i64],
    ) -> Result<Vec<ListedMessage>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.listed(folder, uids)?)
    }

    /// One page of a folder's list.
    pub fn message_page(
        &self,
        folder: FolderId,
        order: ListOrder,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ListedMessage>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.message_page(folder, order, offset, limit)?)
    }

    /// The messages about one PEC transaction (the sent copy, its receipts), with their
    /// folder's name, oldest first.
    pub fn messages_with_identificativo(
        &self,
        identificativo: &str,
    ) -> Result<Vec<(String, ListedMessage)>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self
            .p
            .store
            .messages_with_identificativo(self.mailbox(), identificativo)?)
    }

    /// A PEC transaction this mailbox sent, with each recipient's state. A transaction is
    /// its sender's alone: a message that merely carries another mailbox's identificativo
    /// (an IMAP APPEND) shows nothing (security review L3).
    pub fn sent_transaction(
        &self,
        identificativo: &str,
    ) -> Result<Option<PecTransaction>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self
            .p
            .store
            .transaction(identificativo)?
            .filter(|t| t.sender.eq_ignore_ascii_case(&self.who.address)))
    }

    /// RFC 9051 §6.4.6 STORE: changes flags; with UNCHANGEDSINCE (RFC 7162 §3.1.3) the
    /// messages changed after it are left alone and named.
    pub fn store_flags(
        &self,
        folder: FolderId,
        uids: &[i64],
        op: FlagOp,
        flags: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<FlagChanges, MailboxError> {
        self.may(Permission::Modify)?;
        let flags: Vec<String> = flags
            .iter()
            .map(|f| canonical_flag(f).to_string())
            .collect();
        let changes = self
            .p
            .store
            .store_flags(folder, uids, op, &flags, unchanged_since)?;
        self.note("flag", || {
            let verb = match op {
                FlagOp::Replace => "imposta",
                FlagOp::Add => "aggiunge",
                FlagOp::Remove => "toglie",
            };
            format!("{verb} {} su {}", flags.join(" "), super::uid_list(uids))
        });
        Ok(changes)
    }

    /// Removes messages for good; returns the UIDs removed (unknown ones are ignored).
    pub fn expunge(&self, folder: FolderId, uids: &[i64]) -> Result<Vec<i64>, MailboxError> {
        self.may(Permission::Modify)?;
        let gone = self.p.store.expunge(folder, uids)?;
        if !gone.is_empty() {
            self.note("eliminazione", || super::uid_list(&gone));
        }
        Ok(gone)
    }

    /// Copies (RFC 9051 §6.4.7) or moves (RFC 6851) messages to another folder of the
    /// mailbox: the (old, new) UIDs. A copy counts against the quota.
    pub fn copy(
        &self,
        folder: FolderId,
        uids: &[i64],
        to: FolderId,
        remove: bool,
    ) -> Result<Vec<(i64, i64)>, MailboxError> {
        self.may(Permission::Modify)?;
        if uids.is_empty() {
            return Ok(vec![]);
        }
        // A move into the same folder gives the messages new UIDs (RFC 6851 §3.3).
        let address = &self.who.address;
        let pairs = self.p.store.write(|tx| {
            let pairs = tx.copy_messages(folder, uids, to, remove)?;
            // The quota rule: copies may not take the mailbox past its quota (a move
            // takes no more space than before).
            let usage = tx.usage(address)?;
            if !remove && usage.used > usage.quota {
                return Err(StoreError::OverQuota(address.clone()));
            }
            Ok(pairs)
        })?;
        self.note(if remove { "spostamento" } else { "copia" }, || {
            super::uid_list(uids)
        });
        Ok(pairs)
    }

    /// The webmail's delete: to the Trash, or for good when they are in it already.
    pub fn delete(&self, folder: FolderId, uids: &[i64]) -> Result<Deleted, MailboxError> {
        let trash = self.existing_folder(TRASH)?;
        if folder == trash.id {
            self.expunge(folder, uids)?;
            Ok(Deleted::Purged)
        } else {
            self.copy(folder, uids, trash.id, true)?;
            Ok(Deleted::ToTrash)
        }
    }

    /// Empties the Trash.
    pub fn empty_trash(&self) -> Result<(), MailboxError> {
        self.may(Permission::Modify)?;
        if let Some(trash) = self.folder_head(TRASH)? {
            let uids: Vec<i64> = self.messages(trash.id)?.iter().map(|m| m.uid).collect();
            self.expunge(trash.id, &uids)?;
        }
        Ok(())
    }

    /// How many messages no session has claimed as `\Recent` yet (STATUS RECENT).
    pub fn unclaimed_recent(&self, folder: FolderId) -> Result<i64, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.unclaimed_recent(folder)?)
    }

    /// Claims the `\Recent` messages for the session selecting the folder: the lowest such
    /// UID (RFC 3501 §2.3.2). Only who may change the mailbox claims them.
    pub fn claim_recent(&self, folder: FolderId) -> Result<i64, MailboxError> {
        self.may(Permission::Modify)?;
        Ok(self.p.store.claim_recent(folder)?)
    }

    /// Bytes used and the quota (RFC 9208), 0 for none.
    pub fn quota(&self) -> Result<(i64, i64), MailboxError> {
        self.may(Permission::Read)?;
        let m = self
            .p
            .store
            .mailbox(&self.who.address)?
            .ok_or_else(|| MailboxError::Missing(self.who.address.clone()))?;
        Ok((m.used, m.quota))
    }

    /// A setting of the mailbox (the webmail's layout, language…).
    pub fn setting(&self, key: &str) -> Result<Option<String>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.setting(self.mailbox(), key)?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), MailboxError> {
        self.may(Permission::Settings)?;
        Ok(self.p.store.set_setting(self.mailbox(), key, value)?)
    }

    /// A setting kept as JSON (notification rules, reports).
    pub(crate) fn set_setting_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), MailboxError> {
        let value = serde_json::to_string(value)
            .map_err(|e| MailboxError::Internal(format!("setting {key}: {e}")))?;
        self.set_setting(key, &value)
    }

    /// What happens to ordinary (non-certified) mail for the box (seed 002 §2.6.6).
    pub fn ordinary_mail(&self) -> Result<OrdinaryMail, MailboxError> {
        self.may(Permission::Read)?;
        let m = self
            .p
            .store
            .mailbox(&self.who.address)?
            .ok_or_else(|| MailboxError::Missing(self.who.address.clone()))?;
        Ok(match (m.ordinary_mail.as_str(), m.ordinary_forward) {
            ("forward", Some(to)) => OrdinaryMail::Forward(to),
            ("anomaly", _) => OrdinaryMail::IntoTheBox,
            _ => OrdinaryMail::Refused,
        })
    }

    /// "PEC – Inoltro Messaggi non Certificati": forward ordinary mail to `target`, or —
    /// the seed's way — deliver it into the box (as an anomaly, never as certified) when
    /// `target` is the box's own address; `None` ("Reset") refuses it again.
    pub fn set_ordinary_mail(&self, target: Option<&str>) -> Result<OrdinaryMail, MailboxError> {
        self.may(Permission::Settings)?;
        let address = &self.who.address;
        let rule = match target.map(str::trim).filter(|t| !t.is_empty()) {
            None => OrdinaryMail::Refused,
            Some(t) if t.eq_ignore_ascii_case(address) => OrdinaryMail::IntoTheBox,
            Some(t) => {
                if !crate::accounts::is_email_address(t) {
                    return Err(MailboxError::Refused(format!(
                        "indirizzo di inoltro non valido: {}",
                        t.chars().take(80).collect::<String>()
                    )));
                }
                OrdinaryMail::Forward(t.to_ascii_lowercase())
            }
        };
        let (policy, forward) = match &rule {
            OrdinaryMail::Refused => ("reject", None),
            OrdinaryMail::IntoTheBox => ("anomaly", None),
            OrdinaryMail::Forward(to) => ("forward", Some(to.as_str())),
        };
        self.p.store.set_ordinary_mail(address, policy, forward)?;
        Ok(rule)
    }
}
