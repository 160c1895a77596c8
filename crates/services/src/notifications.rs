//! "PEC – Abilita Messaggi di Notifica" (issue 18 item 2; seed 002 §2.6.4, N1): for each PEC
//! delivered into a box, a short notice to an ordinary address — for every sender or one —
//! with sender, subject, date and kind, never the body or the attachments. The notices go
//! out through the relay queue from the provider's service address, queued in the same
//! transaction as the delivery they announce (so a delivery retried after a crash announces
//! itself once). A box has at most [`MAX_RULES`] rules, kept as one of its settings.

use crate::accounts::is_email_address;
use crate::mailbox::{Access, MailboxError};
use crate::provider::Provider;
use pec::PecTime;
use serde::{Deserialize, Serialize};
use store::{MailboxId, StoreError};

/// The setting the rules are kept under.
const SETTING: &str = "notifiche";
pub const MAX_RULES: usize = 10;

/// One rule: notify `to` of every PEC received, or only of those from `sender`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub to: String,
    /// `None`: every sender.
    pub sender: Option<String>,
}

impl Rule {
    fn matches(&self, sender: &str) -> bool {
        self.sender
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case(sender))
    }
}

fn parse(value: Option<String>) -> Vec<Rule> {
    value
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
}

fn address_or_refuse(s: &str, what: &str) -> Result<String, MailboxError> {
    let s = s.trim();
    if is_email_address(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(MailboxError::Refused(format!(
            "{what} non valido: {}",
            s.chars().take(80).collect::<String>()
        )))
    }
}

impl Access {
    /// The box's rules ("Attuale Regola Impostata").
    pub fn notification_rules(&self) -> Result<Vec<Rule>, MailboxError> {
        Ok(parse(self.setting(SETTING)?))
    }

    /// Adds a rule (the same rule twice is one); at most [`MAX_RULES`].
    pub fn add_notification_rule(
        &self,
        to: &str,
        sender: Option<&str>,
    ) -> Result<(), MailboxError> {
        let rule = Rule {
            to: address_or_refuse(to, "indirizzo di notifica")?,
            sender: sender
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| address_or_refuse(s, "mittente"))
                .transpose()?,
        };
        let mut rules = self.notification_rules()?;
        if rules.contains(&rule) {
            return Ok(());
        }
        if rules.len() >= MAX_RULES {
            return Err(MailboxError::Refused(format!(
                "al massimo {MAX_RULES} regole di notifica per casella"
            )));
        }
        rules.push(rule);
        self.set_setting_json(SETTING, &rules)
    }

    /// "Reset": removes the rule at `index` (as listed).
    pub fn remove_notification_rule(&self, index: usize) -> Result<(), MailboxError> {
        let mut rules = self.notification_rules()?;
        if index >= rules.len() {
            return Err(MailboxError::Missing(format!("la regola {}", index + 1)));
        }
        rules.remove(index);
        self.set_setting_json(SETTING, &rules)
    }
}

/// A notice ready to queue: its recipient and the stored bytes.
pub struct Notice {
    pub to: String,
    pub blob: String,
}

/// Header-safe text: no controls, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// The notices a PEC from `sender` delivered into `mailbox` calls for, their bytes stored
/// (an unused blob is collected like any other). Queue them with [`queue`] in the delivery's
/// transaction.
pub fn notices_for(
    p: &Provider,
    mailbox: MailboxId,
    address: &str,
    sender: &str,
    subject: &str,
    kind: &str,
    now: i64,
) -> Result<Vec<Notice>, StoreError> {
    let rules = parse(p.store.setting(mailbox, SETTING)?);
    let mut out = Vec::new();
    for r in rules.iter().filter(|r| r.matches(sender)) {
        let when = PecTime::from_unix_or_epoch(now);
        let body = format!(
            "Nella casella di posta certificata {address} è stato consegnato un messaggio.\r\n\r\n\
             Mittente: {}\r\nOggetto: {}\r\nData: {} {}\r\nTipo: {kind}\r\n\r\nIl messaggio si \
             legge nella casella; questa notifica non ne riporta il contenuto né gli \
             allegati.\r\n\r\n{}\r\n",
            clean(sender, 254),
            clean(subject, 300),
            when.giorno(),
            when.ora(),
            p.identity.name
        );
        let bytes = crate::onboarding::plain_mail(
            &p.identity,
            &r.to,
            &format!("Notifica: nuovo messaggio PEC da {}", clean(sender, 100)),
            &body,
            now,
        );
        out.push(Notice {
            to: r.to.clone(),
            blob: p.store.put_blob(&bytes)?,
        });
    }
    Ok(out)
}

/// Queues notices inside the caller's transaction.
pub fn queue(
    p: &Provider,
    db: &dyn store::Tx,
    notices: &[Notice],
    now: i64,
) -> Result<(), StoreError> {
    let from = p.identity.service_address();
    for n in notices {
        db.enqueue(
            store::QueueKind::Relay,
            &from,
            std::slice::from_ref(&n.to),
            &n.blob,
            None,
            now,
        )?;
    }
    Ok(())
}
