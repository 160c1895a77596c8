//! What the access and incoming points did with a message, and why a recipient was refused:
//! typed, so that each protocol says it its own way. SMTP maps every outcome to a reply code
//! (`smtpserver::replies`), the webmail shows the text. The text ([`std::fmt::Display`]) is
//! the one the user or the other provider reads: Italian, and English too where the notice
//! itself is bilingual (RFC 6109 §3.1.2 reasons).

use crate::antivirus::ScanError;
use crate::principal::Denied;
use crate::srs::SrsError;
use pec::PecTime;
use std::fmt;
use store::StoreError;

/// The message could not be taken now; nothing was done and the client may retry later.
#[derive(Debug)]
pub enum Unavailable {
    /// The store failed (disk, database).
    Store(StoreError),
    /// The antivirus could not scan it (RFC 6109 §5.4: never taken unscanned).
    Antivirus(ScanError),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Store(e) => write!(f, "Errore temporaneo del sistema, riprovare: {e}"),
            Unavailable::Antivirus(e) => {
                write!(
                    f,
                    "Messaggio non verificabile ora ({e}): riprovare più tardi"
                )
            }
        }
    }
}

/// What the access point (RFC 6109 §3.1) did with a submitted message.
#[derive(Debug)]
pub enum Submitted {
    /// Accepted: the acceptance receipt is in the sender's INBOX and every recipient is
    /// queued, all on disk (§3.1.4, §3.1.5).
    Accepted {
        identificativo: String,
    },
    /// The formal checks failed (§3.1.1); the notice of non-acceptance is in the sender's
    /// INBOX. Each reason reads "italiano / English".
    NotAccepted {
        reasons: Vec<String>,
    },
    /// A virus (§3.1.3): quarantined, notice of non-acceptance sent.
    Virus {
        virus: String,
    },
    /// The principal may not send from this mailbox: nothing was done.
    Denied(Denied),
    /// The mailbox's domain is still moving from its previous provider (issue 16): it sends
    /// from the switch-over. Nothing was done.
    NotYetActive {
        switch_at: Option<i64>,
    },
    Unavailable(Unavailable),
}

/// "il 15/01/2027 alle 00:00" in Italian time, or "al passaggio" when no date is set.
fn on_switch(switch_at: Option<i64>, english: bool) -> String {
    match (switch_at, english) {
        (Some(t), false) => {
            let t = PecTime::from_unix_or_epoch(t);
            format!("il {} alle {}", t.giorno(), t.ora())
        }
        (Some(t), true) => {
            let t = PecTime::from_unix_or_epoch(t);
            format!("on {} at {}", t.giorno(), t.ora())
        }
        (None, false) => "alla data del passaggio".into(),
        (None, true) => "on the switch-over date".into(),
    }
}

impl fmt::Display for Submitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Submitted::Accepted { identificativo } => {
                write!(f, "Messaggio accettato, identificativo {identificativo}")
            }
            // One reason a line (an SMTP multiline reply), each within the line length
            // however many there are.
            Submitted::NotAccepted { reasons } => write!(
                f,
                "Messaggio non accettato (avviso di non accettazione inviato) / \
                 Message not accepted (notice of non-acceptance sent):\n{}",
                reasons.join("\n")
            ),
            Submitted::Virus { virus } => write!(
                f,
                "Virus rilevato ({virus}): messaggio non accettato (avviso di non accettazione \
                 inviato)"
            ),
            Submitted::Denied(d) => d.fmt(f),
            Submitted::NotYetActive { switch_at } => write!(
                f,
                "Casella in migrazione dal precedente gestore: potrà inviare messaggi PEC dal \
                 passaggio al nuovo gestore, {} / Mailbox moving from its previous provider: it \
                 can send PEC messages from the switch-over, {}",
                on_switch(*switch_at, false),
                on_switch(*switch_at, true)
            ),
            Submitted::Unavailable(u) => u.fmt(f),
        }
    }
}

/// What the incoming point (RFC 6109 §3.2) did with a message from another provider or the
/// Internet.
#[derive(Debug)]
pub enum Received {
    /// A transport envelope taken in charge now (§3.2.1), its recipients queued.
    TakenInCharge {
        identificativo: String,
    },
    /// The same envelope again: neither delivered again nor taken in charge twice.
    AlreadyTakenInCharge {
        identificativo: String,
    },
    /// A virus inside a valid envelope (§3.2.3): held in quarantine, the sender's provider
    /// told. Taken, as far as the other provider's SMTP is concerned.
    VirusHeld {
        virus: String,
    },
    /// A receipt put in its mailbox, and our transaction moved on.
    ReceiptDelivered,
    /// The same receipt again.
    ReceiptAlreadyDelivered,
    /// Ordinary mail taken: inside an anomaly envelope or to be forwarded (§3.2.2).
    OrdinaryTaken,
    /// A bounce of ordinary mail we forwarded, queued back to its original sender.
    BounceReturned,
    /// Not an Internet message at all.
    Unreadable(pec::parse::ParseError),
    /// An envelope whose signed certification data list none of its RCPT TO recipients.
    NotCertifiedRecipient,
    /// Ordinary mail (or PEC that does not verify) that the mailboxes do not take; `why` says
    /// what it is.
    OrdinaryRefused {
        why: String,
    },
    /// Ordinary mail or a bounce carrying a virus: quarantined, refused.
    VirusRefused {
        virus: String,
    },
    /// A bounce to a return address that does not (or no longer) take it.
    Recipient(RecipientRefused),
    Unavailable(Unavailable),
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::TakenInCharge { identificativo } => {
                write!(f, "Presa in carico, identificativo {identificativo}")
            }
            Received::AlreadyTakenInCharge { identificativo } => {
                write!(
                    f,
                    "Busta già presa in carico, identificativo {identificativo}"
                )
            }
            Received::VirusHeld { virus } => write!(
                f,
                "Virus rilevato ({virus}): messaggio trattenuto, avviso inviato al gestore \
                 mittente"
            ),
            Received::ReceiptDelivered => f.write_str("Ricevuta consegnata"),
            Received::ReceiptAlreadyDelivered => f.write_str("Ricevuta già consegnata"),
            Received::OrdinaryTaken => f.write_str("Messaggio ricevuto"),
            Received::BounceReturned => f.write_str("Avviso di ritorno inoltrato al mittente"),
            Received::Unreadable(e) => write!(f, "Messaggio non valido: {e}"),
            Received::NotCertifiedRecipient => {
                f.write_str("Destinatario non presente nei dati di certificazione della busta")
            }
            Received::OrdinaryRefused { why } => write!(
                f,
                "La casella di posta certificata non accetta questo messaggio: {why}"
            ),
            Received::VirusRefused { virus } => {
                write!(f, "Virus rilevato ({virus}): messaggio rifiutato")
            }
            Received::Recipient(r) => r.fmt(f),
            Received::Unavailable(u) => u.fmt(f),
        }
    }
}

/// Why the MX does not take mail for a recipient (RCPT TO).
#[derive(Debug)]
pub enum RecipientRefused {
    /// Return addresses of our forwards and other recipients in one transaction: each must
    /// get its own reply to DATA, so the client sends the rest in another (RFC 5321 §3.3).
    MixedWithReturn,
    /// Not one of our domains: we are no open relay.
    RelayDenied,
    /// Not a valid, current return address of ours.
    ReturnAddress(SrsError),
    /// A return address takes only bounces (null reverse-path), or it would relay anything
    /// to whoever it names.
    NotABounce,
    /// The original sender is one of our mailboxes, which never send ordinary mail through
    /// the MX: the bounce is backscatter of a forgery.
    LocalSender,
    /// Whether the recipient is ours could not be read now; not known to be ours is not
    /// known to be someone else's.
    Unavailable,
    /// The recipient's domain is still moving to us from its previous provider (issue 16),
    /// which receives its mail until the switch-over; `soon`: within a day of it, when a
    /// sender should try again rather than give up.
    NotYetActive { switch_at: Option<i64>, soon: bool },
}

impl fmt::Display for RecipientRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientRefused::MixedWithReturn => f.write_str(
                "Avvisi di ritorno e altri destinatari in transazioni separate: riprovare",
            ),
            RecipientRefused::RelayDenied => {
                f.write_str("Relay non consentito: destinatario di un altro dominio")
            }
            RecipientRefused::ReturnAddress(e) => {
                write!(f, "Indirizzo di ritorno rifiutato: {e}")
            }
            RecipientRefused::NotABounce => f.write_str(
                "Indirizzo di ritorno di un inoltro: accetta solo avvisi di mancato recapito \
                 (mittente vuoto)",
            ),
            RecipientRefused::LocalSender => f.write_str(
                "Indirizzo di ritorno rifiutato: il mittente originale non ha inviato da qui",
            ),
            RecipientRefused::Unavailable => {
                f.write_str("Errore temporaneo del server: riprovare più tardi")
            }
            RecipientRefused::NotYetActive { switch_at, .. } => write!(
                f,
                "Dominio in migrazione: riceve la posta presso il precedente gestore fino al \
                 passaggio, {}",
                on_switch(*switch_at, false)
            ),
        }
    }
}
