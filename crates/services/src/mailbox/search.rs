//! Search by text: the full-text index answers; messages it has not indexed yet, and
//! needles too short for it, are read and given the same text the index keeps, so both
//! ways agree.

use super::{Access, MailboxError};
use crate::principal::Permission;
use store::{Folder, FoundMessage, MessageMeta, TextField, TextHits};

/// Messages read at a time when the index cannot answer.
const READ_BATCH: usize = 256;

impl Access {
    /// The index's answer for a lower-cased needle over the whole mailbox; `None` when the
    /// needle is too short for it (fewer than three characters) and the caller must read.
    pub fn text_search(
        &self,
        needle: &str,
        field: TextField,
    ) -> Result<Option<TextHits>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.text_search(self.mailbox(), needle, field)?)
    }

    /// The messages of `folders` whose `field` holds `needle` (lower-cased; empty matches
    /// everything), folder by folder in the order given.
    pub fn find_text(
        &self,
        folders: &[Folder],
        needle: &str,
        field: TextField,
    ) -> Result<Vec<FoundMessage>, MailboxError> {
        let everything = |f: &Folder| -> Result<Vec<FoundMessage>, MailboxError> {
            Ok(self
                .messages(f.id)?
                .into_iter()
                .map(|e| FoundMessage {
                    folder_id: f.id,
                    uid: e.uid,
                    internal_date: e.internal_date,
                    flags: e.flags,
                })
                .collect())
        };
        let hits = match needle.is_empty() {
            true => None,
            false => self.text_search(needle, field)?,
        };
        let mut out = vec![];
        for f in folders {
            let of_folder = |v: &[FoundMessage]| -> Vec<FoundMessage> {
                v.iter().filter(|m| m.folder_id == f.id).cloned().collect()
            };
            let (found, unread) = match (&hits, needle.is_empty()) {
                (_, true) => (everything(f)?, vec![]),
                (Some(h), false) => (of_folder(&h.found), of_folder(&h.unindexed)),
                (None, false) => (vec![], everything(f)?),
            };
            out.extend(found);
            out.extend(self.read_for_text(f, unread, needle, field)?);
        }
        Ok(out)
    }

    /// The candidates whose text holds `needle`, found by reading them.
    fn read_for_text(
        &self,
        f: &Folder,
        candidates: Vec<FoundMessage>,
        needle: &str,
        field: TextField,
    ) -> Result<Vec<FoundMessage>, MailboxError> {
        let mut out = vec![];
        for chunk in candidates.chunks(READ_BATCH) {
            let uids: Vec<i64> = chunk.iter().map(|m| m.uid).collect();
            let listed = self.listed(f.id, &uids)?;
            for c in self.contents(f.id, &uids)? {
                let (Some(m), Some(l)) = (
                    chunk.iter().find(|m| m.uid == c.uid),
                    listed.iter().find(|l| l.uid == c.uid),
                ) else {
                    continue;
                };
                let st = c
                    .structure
                    .as_deref()
                    .and_then(message::Structure::from_json)
                    .unwrap_or_else(|| message::Structure::parse(&c.data));
                let meta = MessageMeta {
                    subject: l.subject.clone(),
                    sender: l.sender.clone(),
                    ..MessageMeta::default()
                };
                let text = crate::delivery::index_text(&c.data, &st, &meta);
                let column = match field {
                    TextField::Subject => text.subject,
                    TextField::From => text.from,
                    TextField::To => text.to,
                    TextField::Cc => text.cc,
                    TextField::Body => text.body,
                    TextField::Anywhere => {
                        [text.subject, text.from, text.to, text.cc, text.body].join("\n")
                    }
                };
                if column.contains(needle) {
                    out.push(m.clone());
                }
            }
        }
        Ok(out)
    }
}
