//! Who is acting. A successful login yields a [`Principal`]; every protocol session (SMTP
//! submission, IMAP, POP3, the webmail) holds one and asks it, before each operation,
//! whether the operation is allowed ([`Principal::require`] against one [`Permission`]
//! enum, as Stalwart's `assert_has_permission`). A login is the mailbox's holder, who may do
//! everything, or a collaborator (multiutenza, [`crate::collaboration`]) with the rights of
//! their delegation.

pub use store::MailboxId;

/// What an operation on a mailbox needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See folders and messages: list, select, fetch, search, download.
    Read,
    /// Change what is in the mailbox: flags, append, copy, move, expunge, folders.
    Modify,
    /// Send messages from the mailbox (submission, the webmail's compose).
    Send,
    /// Change the mailbox's settings, password included.
    Settings,
}

impl Permission {
    const ALL: [Permission; 4] = [
        Permission::Read,
        Permission::Modify,
        Permission::Send,
        Permission::Settings,
    ];

    fn bit(self) -> u8 {
        match self {
            Permission::Read => 1,
            Permission::Modify => 2,
            Permission::Send => 4,
            Permission::Settings => 8,
        }
    }

    /// In Italian, for refusals shown to the user.
    pub fn italian(self) -> &'static str {
        match self {
            Permission::Read => "consultazione",
            Permission::Modify => "modifica",
            Permission::Send => "invio",
            Permission::Settings => "impostazioni",
        }
    }
}

/// A set of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights(u8);

impl Rights {
    /// Everything: the mailbox's holder.
    pub fn all() -> Rights {
        Rights::of(&Permission::ALL)
    }

    pub fn of(permissions: &[Permission]) -> Rights {
        Rights(permissions.iter().fold(0, |r, p| r | p.bit()))
    }

    pub fn allows(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
}

/// An operation refused to a principal: the permission it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("operazione non consentita: manca il permesso di {}", .0.italian())]
pub struct Denied(pub Permission);

/// The logged-in identity every protocol session holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The mailbox acted on.
    pub mailbox: MailboxId,
    /// The mailbox's address.
    pub address: String,
    /// The name the login was made with: the address today; `user/mailbox@domain` for a
    /// collaborator.
    pub login: String,
    pub rights: Rights,
    /// Logged in with the password mailed at creation (only the webmail lets this in, to
    /// change it).
    pub must_change_password: bool,
    /// A collaborator (multiutenza): who, on which collaboration; `None` for the holder.
    pub delegate: Option<crate::collaboration::Delegate>,
}

impl Principal {
    /// The holder of `mailbox`, with every right.
    pub fn holder(mailbox: &store::Mailbox) -> Principal {
        Principal {
            mailbox: mailbox.id,
            address: mailbox.address.clone(),
            login: mailbox.address.clone(),
            rights: Rights::all(),
            must_change_password: mailbox.must_change_password,
            delegate: None,
        }
    }

    /// The first line of every operation: `Err` names the missing permission.
    pub fn require(&self, p: Permission) -> Result<(), Denied> {
        if self.rights.allows(p) {
            Ok(())
        } else {
            Err(Denied(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_may_do_everything_and_a_narrower_principal_is_refused() {
        let mailbox = store::Mailbox {
            id: MailboxId(7),
            address: "utente@pec.example.test".into(),
            password_hash: String::new(),
            quota: 0,
            used: 0,
            recovery_email: None,
            must_change_password: false,
            ordinary_mail: "reject".into(),
            ordinary_forward: None,
            name: None,
            plan: None,
            welcomed_at: None,
            suspended: false,
        };
        let holder = Principal::holder(&mailbox);
        assert_eq!(holder.mailbox, MailboxId(7));
        for p in Permission::ALL {
            assert_eq!(holder.require(p), Ok(()));
        }
        let reader = Principal {
            rights: Rights::of(&[Permission::Read]),
            ..holder
        };
        assert_eq!(reader.require(Permission::Read), Ok(()));
        assert_eq!(
            reader.require(Permission::Send),
            Err(Denied(Permission::Send))
        );
        assert_eq!(
            Denied(Permission::Modify).to_string(),
            "operazione non consentita: manca il permesso di modifica"
        );
    }
}
