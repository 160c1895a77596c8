//! The store's closed vocabularies: what a queue item is for, why its last attempt failed,
//! where a recipient of one of our transactions stands. Each is kept as the same text it
//! always was (no migration); text no version of Certa wrote reads back as damage
//! ([`crate::StoreError::Corrupt`]), never as a guess.

use pec::UnknownName;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// An enum kept as text: `as_str` gives the stored name, `FromStr` reads it back exactly.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name the store keeps.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownName { what: $what, text: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a queue item is for; each kind has its own workers.
    pub enum QueueKind ("queue kind") {
        /// A transport envelope into one of our mailboxes (RFC 6109 §3.3).
        Deliver => "deliver",
        /// A message to another server: a PEC provider or an ordinary one.
        Relay => "relay",
    }
}

text_enum! {
    /// Why a queue item's attempt failed. Failures of the same kind in a row count
    /// towards parking the item.
    pub enum QueueFailureKind ("queue failure kind") {
        /// Expected to pass: the destination is down, busy or answered 4xx.
        Temporary => "temporary",
        /// The peer broke the protocol or stalled.
        Peer => "peer",
        /// The whole attempt ran past its deadline.
        Deadline => "deadline",
        /// Our side could not process the item (unreadable bytes, a store error).
        Internal => "internal",
        /// The item's task panicked.
        Panic => "panic",
    }
}

text_enum! {
    /// Where a recipient of a transaction we sent stands (RFC 6109 §3.1–3.3): accepted,
    /// perhaps taken in charge by its provider, then delivered, failed or timed out.
    pub enum DeliveryState ("recipient state") {
        /// In the transport envelope; no receipt yet.
        Accepted => "accepted",
        /// Its provider sent a presa in carico (§3.2.3); no delivery receipt yet.
        TakenInCharge => "taken-in-charge",
        /// A delivery receipt came (§3.3.2).
        Delivered => "delivered",
        /// A non-delivery notice came or was issued (§3.3.3).
        Failed => "failed",
        /// No delivery receipt within 24 hours (§3.1.6): the transaction is closed.
        TimedOut => "timed-out",
        /// An ordinary (non-PEC) address: sent, no receipt will come.
        SentOrdinary => "sent-ordinary",
    }
}

text_enum! {
    /// Where one of our domains stands (issue 16): taken over from another provider, its boxes
    /// exist and copy their old mail but the domain is still the old provider's until the
    /// switch-over; then ours.
    pub enum DomainState ("domain state") {
        /// "In migrazione": created here, not yet switched over.
        Migrating => "migrating",
        /// "Attivo": the domain's mail is ours.
        Active => "active",
    }
}

text_enum! {
    /// Where the old provider's decertification of a domain taken over stands (seed 001:
    /// it leaves the old provider's index entry at the switch), as the operator records it.
    pub enum Decertification ("decertification") {
        NotRequested => "not-requested",
        Requested => "requested",
        Confirmed => "confirmed",
    }
}

text_enum! {
    /// Where a copy from an old provider's box stands (issue 15; seed 000's states).
    pub enum MigrationState ("migration state") {
        /// Started: checking the old box (credentials, size, space) before copying.
        Preparing => "preparing",
        /// Copying messages.
        Copying => "copying",
        /// Everything copied; kept in step by a sync every day until the switch.
        Copied => "copied",
        /// Stopped by an error (its kind says what to do); starting again resumes.
        Failed => "failed",
        /// Stopped by the user or the operator: the old password is erased.
        Stopped => "stopped",
        /// The switch-over date passed: the last sync ran, the old password is erased.
        Finished => "finished",
    }
}

text_enum! {
    /// Why a copy from an old provider stopped, by what the user or the operator can do.
    pub enum MigrationErrorKind ("migration error kind") {
        /// The old provider refused the address or the password.
        Credentials => "credentials",
        /// Not enough space in the box for what the old box holds.
        Space => "space",
        /// The old server did not answer (DNS, connection refused, timeout).
        Unreachable => "unreachable",
        /// The old server's TLS certificate is not trusted, or the handshake failed.
        Tls => "tls",
        /// The old server keeps refusing connections (too many, unavailable).
        Throttled => "throttled",
        /// The old server broke the protocol, or our side failed.
        Internal => "internal",
    }
}

impl DeliveryState {
    /// The states of a certified recipient still waiting for its delivery receipt, whom
    /// the 12 and 24 hour notices are about (RFC 6109 §3.1.6).
    pub const AWAITING_RECEIPT: [DeliveryState; 2] =
        [DeliveryState::Accepted, DeliveryState::TakenInCharge];

    pub fn awaits_receipt(self) -> bool {
        Self::AWAITING_RECEIPT.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_written() {
        for k in QueueKind::ALL {
            assert_eq!(k.as_str().parse::<QueueKind>(), Ok(*k));
        }
        for k in QueueFailureKind::ALL {
            assert_eq!(k.as_str().parse::<QueueFailureKind>(), Ok(*k));
        }
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(*s));
        }
        for s in MigrationState::ALL {
            assert_eq!(s.as_str().parse::<MigrationState>(), Ok(*s));
        }
        for s in Decertification::ALL {
            assert_eq!(s.as_str().parse::<Decertification>(), Ok(*s));
        }
        for s in DomainState::ALL {
            assert_eq!(s.as_str().parse::<DomainState>(), Ok(*s));
        }
        for k in MigrationErrorKind::ALL {
            assert_eq!(k.as_str().parse::<MigrationErrorKind>(), Ok(*k));
        }
        assert_eq!(
            "Deliver".parse::<QueueKind>(),
            Err(UnknownName {
                what: "queue kind",
                text: "Deliver".into()
            })
        );
        assert!("timedout".parse::<DeliveryState>().is_err());
        assert!("".parse::<QueueFailureKind>().is_err());
    }
}

text_enum! {
    /// Where an SMS of the outbox stands: waiting for (another) attempt, accepted by the
    /// gateway, or given up after its last attempt.
    pub enum SmsState ("sms state") {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
    }
}
