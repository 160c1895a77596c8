//! Operations on a mailbox, each written once with its rules and the principal's rights
//! checked inside, for IMAP, POP3 and the webmail alike (mox's `webops`, Stalwart's
//! `email` crate). The protocols translate between the wire and these. Each function is
//! async and does its store work on the blocking pool: the one async↔blocking boundary.
//!
//! Today: the folders (RFC 9051 §6.3.4–6.3.7 and the special folders of RFC 6154).

use crate::principal::{Denied, Permission, Principal};
use crate::provider::Provider;
use std::sync::Arc;
use store::{StoreError, INBOX, SPECIAL_FOLDERS};

/// Why a folder operation was refused. The text is Italian ([`FolderError::english`] for
/// the webmail in English); the protocols add their codes.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("nome di cartella non valido: {0}")]
    InvalidName(String),
    #[error("la cartella {0} esiste già")]
    Exists(String),
    #[error("la cartella {0} non esiste")]
    NotFound(String),
    #[error("{0} è una cartella di sistema: non si rinomina né si elimina")]
    Special(String),
    #[error("la cartella {0} contiene sottocartelle: eliminarle prima")]
    HasChildren(String),
    /// The store failed; the operation may be tried again.
    #[error("servizio non disponibile, riprovare più tardi: {0}")]
    Unavailable(String),
}

impl FolderError {
    pub fn english(&self) -> String {
        match self {
            FolderError::Denied(d) => format!("not allowed: lacking the {:?} permission", d.0),
            FolderError::InvalidName(n) => format!("invalid folder name: {n}"),
            FolderError::Exists(n) => format!("the folder {n} already exists"),
            FolderError::NotFound(n) => format!("the folder {n} does not exist"),
            FolderError::Special(n) => {
                format!("{n} is a system folder: it cannot be renamed or deleted")
            }
            FolderError::HasChildren(n) => {
                format!("the folder {n} has subfolders: delete them first")
            }
            FolderError::Unavailable(e) => format!("service unavailable, try again later: {e}"),
        }
    }

    fn from_store(e: StoreError, name: &str) -> FolderError {
        match e {
            StoreError::NotFound(_) => FolderError::NotFound(name.to_string()),
            StoreError::Exists(_) => FolderError::Exists(name.to_string()),
            StoreError::Refused(_) => FolderError::Special(name.to_string()),
            e => FolderError::Unavailable(e.to_string()),
        }
    }
}

/// A folder's full name (levels separated by `/`), as the store keeps it: no empty level,
/// no wildcard, no control character, at most 255 bytes. A trailing `/` is dropped
/// (RFC 9051 §6.3.4).
pub fn folder_name(name: &str) -> Result<String, FolderError> {
    let name = name.trim_end_matches('/');
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('/')
        || name.contains("//")
        || name.contains(['*', '%'])
        || name.chars().any(char::is_control)
        || name.split('/').any(|level| level.trim().is_empty())
    {
        return Err(FolderError::InvalidName(name.to_string()));
    }
    Ok(name.to_string())
}

/// Whether `name` is one of the folders every mailbox has (INBOX, Posta inviata, …).
pub fn is_special(name: &str) -> bool {
    name.eq_ignore_ascii_case(INBOX) || SPECIAL_FOLDERS.iter().any(|(s, _)| *s == name)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FolderError> + Send + 'static,
) -> Result<T, FolderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FolderError::Unavailable(e.to_string()))?
}

/// Creates `parent` and each level above it that does not exist yet.
fn create_parents(p: &Provider, mailbox: i64, parent: &str) -> Result<(), FolderError> {
    let mut prefix = String::new();
    for (i, level) in parent.split('/').enumerate() {
        if i > 0 {
            prefix.push('/');
        }
        prefix.push_str(level);
        match p.store.create_folder(mailbox, &prefix, p.now()) {
            Ok(()) | Err(StoreError::Exists(_)) => {}
            Err(e) => return Err(FolderError::from_store(e, &prefix)),
        }
    }
    Ok(())
}

/// RFC 9051 §6.3.4 CREATE: the levels above are created as needed.
pub async fn create_folder(
    p: &Arc<Provider>,
    who: &Principal,
    name: &str,
) -> Result<(), FolderError> {
    who.require(Permission::Modify)?;
    let name = folder_name(name)?;
    if name.eq_ignore_ascii_case(INBOX) {
        return Err(FolderError::Exists(INBOX.into()));
    }
    let (p, mailbox) = (p.clone(), who.mailbox.0);
    blocking(move || {
        if let Some((parent, _)) = name.rsplit_once('/') {
            create_parents(&p, mailbox, parent)?;
        }
        p.store
            .create_folder(mailbox, &name, p.now())
            .map_err(|e| FolderError::from_store(e, &name))
    })
    .await
}

/// RFC 9051 §6.3.5 DELETE: not a special folder, not one with subfolders (they go first).
pub async fn delete_folder(
    p: &Arc<Provider>,
    who: &Principal,
    name: &str,
) -> Result<(), FolderError> {
    who.require(Permission::Modify)?;
    if is_special(name) {
        return Err(FolderError::Special(name.to_string()));
    }
    let (p, mailbox, name) = (p.clone(), who.mailbox.0, name.to_string());
    blocking(move || {
        let folders = p
            .store
            .folders(mailbox)
            .map_err(|e| FolderError::from_store(e, &name))?;
        if !folders.iter().any(|f| f.name == name) {
            return Err(FolderError::NotFound(name));
        }
        let children = format!("{name}/");
        if folders.iter().any(|f| f.name.starts_with(&children)) {
            return Err(FolderError::HasChildren(name));
        }
        p.store
            .delete_folder(mailbox, &name)
            .map_err(|e| FolderError::from_store(e, &name))
    })
    .await
}

/// RFC 9051 §6.3.6 RENAME: subfolders follow; INBOX's messages move to the new folder and
/// INBOX stays, empty; the other special folders keep their names.
pub async fn rename_folder(
    p: &Arc<Provider>,
    who: &Principal,
    from: &str,
    to: &str,
) -> Result<(), FolderError> {
    who.require(Permission::Modify)?;
    if is_special(from) && !from.eq_ignore_ascii_case(INBOX) {
        return Err(FolderError::Special(from.to_string()));
    }
    let to = folder_name(to)?;
    if is_special(&to) {
        return Err(FolderError::Exists(to));
    }
    let (p, mailbox, from) = (p.clone(), who.mailbox.0, from.to_string());
    blocking(move || {
        if let Some((parent, _)) = to.rsplit_once('/') {
            create_parents(&p, mailbox, parent)?;
        }
        p.store
            .rename_folder(mailbox, &from, &to, p.now())
            .map_err(|e| match e {
                StoreError::Exists(_) => FolderError::Exists(to.clone()),
                e => FolderError::from_store(e, &from),
            })
    })
    .await
}

/// RFC 9051 §6.3.7–6.3.8 SUBSCRIBE and UNSUBSCRIBE.
pub async fn subscribe(
    p: &Arc<Provider>,
    who: &Principal,
    name: &str,
    on: bool,
) -> Result<(), FolderError> {
    who.require(Permission::Modify)?;
    let (p, mailbox, name) = (p.clone(), who.mailbox.0, name.to_string());
    blocking(move || {
        p.store
            .subscribe(mailbox, &name, on)
            .map_err(|e| FolderError::from_store(e, &name))
    })
    .await
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
                matches!(folder_name(bad), Err(FolderError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(is_special("INBOX") && is_special("inbox") && is_special("Cestino"));
        assert!(!is_special("Cestino/Vecchi"));
    }
}
