//! Folders: names, the special folders every mailbox has, and CREATE, DELETE, RENAME,
//! SUBSCRIBE (RFC 9051 §6.3.4–6.3.8, RFC 6154 for the special-use ones).

use super::{Access, MailboxError};
use crate::principal::Permission;
use store::{Folder, OpenFolder, StoreError, INBOX, SPECIAL_FOLDERS};

/// A folder's full name (levels separated by `/`), as the store keeps it: no empty level,
/// no wildcard, no control character, at most 255 bytes. A trailing `/` is dropped
/// (RFC 9051 §6.3.4).
pub fn folder_name(name: &str) -> Result<String, MailboxError> {
    let name = name.trim_end_matches('/');
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('/')
        || name.contains("//")
        || name.contains(['*', '%'])
        || name.chars().any(char::is_control)
        || name.split('/').any(|level| level.trim().is_empty())
    {
        return Err(MailboxError::InvalidName(name.to_string()));
    }
    Ok(name.to_string())
}

/// Whether `name` is one of the folders every mailbox has (INBOX, Posta inviata, …).
pub fn is_special(name: &str) -> bool {
    name.eq_ignore_ascii_case(INBOX) || SPECIAL_FOLDERS.iter().any(|(s, _)| *s == name)
}

/// A store refusal about the folder `name`, said with its name.
fn folder_error(e: StoreError, name: &str) -> MailboxError {
    match e {
        StoreError::NotFound(_) => MailboxError::NotFound(name.to_string()),
        StoreError::Exists(_) => MailboxError::Exists(name.to_string()),
        e => MailboxError::from(e),
    }
}

impl Access {
    /// The folders, with their counts, by name.
    pub fn folders(&self) -> Result<Vec<Folder>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.folders(self.mailbox())?)
    }

    /// One folder with its counts.
    pub fn folder(&self, name: &str) -> Result<Option<Folder>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.folder(self.mailbox(), name)?)
    }

    /// One folder without its counts (no scan of its messages): its id, UIDVALIDITY, UIDNEXT.
    pub fn folder_head(&self, name: &str) -> Result<Option<Folder>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.folder_head(self.mailbox(), name)?)
    }

    /// A folder that must exist: `NotFound` names it otherwise.
    pub fn existing_folder(&self, name: &str) -> Result<Folder, MailboxError> {
        self.folder_head(name)?
            .ok_or_else(|| MailboxError::NotFound(name.to_string()))
    }

    /// A folder with every UID and whether it is unseen: what SELECT needs.
    pub fn open_folder(&self, name: &str) -> Result<Option<OpenFolder>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.open_folder(self.mailbox(), name)?)
    }

    /// Creates `parent` and each level above it that does not exist yet.
    fn create_parents(&self, parent: &str) -> Result<(), MailboxError> {
        let mut prefix = String::new();
        for (i, level) in parent.split('/').enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(level);
            match self
                .p
                .store
                .create_folder(self.mailbox(), &prefix, self.p.now())
            {
                Ok(()) | Err(StoreError::Exists(_)) => {}
                Err(e) => return Err(folder_error(e, &prefix)),
            }
        }
        Ok(())
    }

    /// RFC 9051 §6.3.4 CREATE: the levels above are created as needed.
    pub fn create_folder(&self, name: &str) -> Result<(), MailboxError> {
        self.may(Permission::Modify)?;
        let name = folder_name(name)?;
        if name.eq_ignore_ascii_case(INBOX) {
            return Err(MailboxError::Exists(INBOX.into()));
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            self.create_parents(parent)?;
        }
        self.p
            .store
            .create_folder(self.mailbox(), &name, self.p.now())
            .map_err(|e| folder_error(e, &name))?;
        self.note("cartella-creata", || name.clone());
        Ok(())
    }

    /// RFC 9051 §6.3.5 DELETE: not a special folder, not one with subfolders (they go
    /// first).
    pub fn delete_folder(&self, name: &str) -> Result<(), MailboxError> {
        self.may(Permission::Modify)?;
        if is_special(name) {
            return Err(MailboxError::Special(name.to_string()));
        }
        let folders = self
            .p
            .store
            .folders(self.mailbox())
            .map_err(|e| folder_error(e, name))?;
        if !folders.iter().any(|f| f.name == name) {
            return Err(MailboxError::NotFound(name.to_string()));
        }
        let children = format!("{name}/");
        if folders.iter().any(|f| f.name.starts_with(&children)) {
            return Err(MailboxError::HasChildren(name.to_string()));
        }
        self.p
            .store
            .delete_folder(self.mailbox(), name)
            .map_err(|e| folder_error(e, name))?;
        self.note("cartella-eliminata", || name.to_string());
        Ok(())
    }

    /// RFC 9051 §6.3.6 RENAME: subfolders follow; INBOX's messages move to the new folder
    /// and INBOX stays, empty; the other special folders keep their names.
    pub fn rename_folder(&self, from: &str, to: &str) -> Result<(), MailboxError> {
        self.may(Permission::Modify)?;
        if is_special(from) && !from.eq_ignore_ascii_case(INBOX) {
            return Err(MailboxError::Special(from.to_string()));
        }
        let to = folder_name(to)?;
        if is_special(&to) {
            return Err(MailboxError::Exists(to));
        }
        if let Some((parent, _)) = to.rsplit_once('/') {
            self.create_parents(parent)?;
        }
        self.p
            .store
            .rename_folder(self.mailbox(), from, &to, self.p.now())
            .map_err(|e| match e {
                StoreError::Exists(_) => MailboxError::Exists(to.clone()),
                e => folder_error(e, from),
            })?;
        self.note("cartella-rinominata", || format!("{from} → {to}"));
        Ok(())
    }

    /// The subscribed names, folders or not (RFC 9051 §6.3.7: a deleted folder's name stays
    /// subscribed until it is unsubscribed).
    pub fn subscriptions(&self) -> Result<Vec<String>, MailboxError> {
        self.may(Permission::Read)?;
        Ok(self.p.store.subscriptions(self.mailbox())?)
    }

    /// RFC 9051 §6.3.7–6.3.8 SUBSCRIBE and UNSUBSCRIBE.
    pub fn subscribe(&self, name: &str, on: bool) -> Result<(), MailboxError> {
        self.may(Permission::Modify)?;
        self.p
            .store
            .subscribe(self.mailbox(), name, on)
            .map_err(|e| folder_error(e, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_checked_once_for_every_protocol() {
        assert_eq!(folder_name("Progetti/2026/").unwrap(), "Progetti/2026");
        assert_eq!(folder_name("Perché sì").unwrap(), "Perché sì");
        for bad in [
            "",
            "/",
            "/a",
            "a//b",
            "a/ /b",
            "a*",
            "a%b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(folder_name(bad), Err(MailboxError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(is_special("INBOX") && is_special("inbox") && is_special("Cestino"));
        assert!(!is_special("Cestino/Vecchi"));
    }
}
