//! Terms to accept at first access (issue 18 item 6; seed 001: "Accettare le clausole
//! vessatorie. Questa operazione è obbligatoria per procedere"): when the operator
//! configures them (`[web] terms`), a box's holder must accept the current version before
//! anything else; each acceptance is a legal-log record (`accettazione-condizioni`, by
//! `titolare:BOX`, naming the version). A new text is a new version, asked for again.
//! Collaborators work under the holder's acceptance.

use crate::mailbox::{Access, MailboxError};
use crate::principal::Permission;
use sha2::{Digest, Sha256};

const SETTING: &str = "condizioni-accettate";

/// The operator's terms and their version (the first 16 hex digits of their SHA-256).
#[derive(Debug, Clone)]
pub struct Terms {
    pub text: String,
    pub version: String,
}

impl Terms {
    pub fn new(text: String) -> Terms {
        let version = hex::encode(Sha256::digest(text.as_bytes()))
            .chars()
            .take(16)
            .collect();
        Terms { text, version }
    }
}

impl Access {
    /// Whether this session must accept `terms` before going on: the holder, until the
    /// current version is accepted.
    pub fn terms_pending(&self, terms: &Terms) -> Result<bool, MailboxError> {
        if self.principal().delegate.is_some() {
            return Ok(false);
        }
        Ok(self.setting(SETTING)?.as_deref() != Some(terms.version.as_str()))
    }

    /// The holder accepts `terms`: recorded in the legal log, then kept with the box.
    pub fn accept_terms(&self, terms: &Terms) -> Result<(), MailboxError> {
        let who = self.principal();
        if who.delegate.is_some() {
            return Err(MailboxError::Refused(
                "le condizioni le accetta il titolare della casella".into(),
            ));
        }
        who.require(Permission::Settings)?;
        let p = self.provider();
        crate::operators::record(
            &*p.store,
            &p.identity.name,
            crate::operators::Action {
                event: "accettazione-condizioni",
                target: &format!("casella:{}", who.address),
                actor: &format!("titolare:{}", who.address),
            },
            &format!("Condizioni del servizio, versione {}", terms.version),
            p.now(),
        )?;
        self.set_setting(SETTING, &terms.version)
    }
}
