//! "PEC – Report Email giornaliero" and "PEC – Report SMS giornaliero" (issue 18 item 4;
//! seed 002 §2.6.5, N2–N3): once a day, at the hour the holder chose in Italian time, a
//! summary of the box —
//! - by e-mail: unread messages, PEC received in the last 24 hours, receipts and notices by
//!   kind, anomalies, ordinary mail, the PEC sent still waiting for a delivery receipt, and
//!   the space used; sent when something arrived or something waits;
//! - by SMS: certified messages, delivery receipts, non-delivery notices and "Altro" of the
//!   last 24 hours; sent only when something arrived.
//!
//! Each report is made once per box, kind and Italian calendar day: the day is claimed in
//! the transaction that queues the report (`Tx::claim_daily_report`), so a restart, a
//! retried write or the hour that repeats when summer time ends never makes a second, and a
//! report missed while the server was down goes out when it is back, the same day. The
//! e-mail goes through the relay queue from the service address; the SMS waits in the
//! outbox, drained by [`send_due_sms`] through the configured gateway with retries.

use crate::accounts::is_email_address;
use crate::mailbox::{Access, MailboxError};
use crate::provider::Provider;
use chrono::{TimeZone, Timelike};
use pec::{MessageKind, PecTime};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use store::{AwaitingDelivery, Mailbox, MailboxId, NewSms, QueueKind, StoreError};

const EMAIL_SETTING: &str = "report-email";
const SMS_SETTING: &str = "report-sms";
/// The period a report covers, in seconds.
const PERIOD: i64 = 86_400;
/// PEC waiting for a delivery receipt listed one by one; the rest are counted.
const AWAITING_LISTED: usize = 20;

/// The e-mail report: its recipient and hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailReport {
    pub to: String,
    /// 0–23, Italian time.
    pub hour: u32,
}

/// The SMS report: its number (E.164) and hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsReport {
    pub number: String,
    /// 0–23, Italian time.
    pub hour: u32,
}

/// The two reports, as the store names their days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Email,
    Sms,
}

impl ReportKind {
    fn code(self) -> &'static str {
        match self {
            ReportKind::Email => "email",
            ReportKind::Sms => "sms",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            ReportKind::Email => EMAIL_SETTING,
            ReportKind::Sms => SMS_SETTING,
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(value: Option<String>) -> Option<T> {
    value.and_then(|v| serde_json::from_str(&v).ok())
}

fn hour_or_refuse(hour: &str) -> Result<u32, MailboxError> {
    hour.trim()
        .parse::<u32>()
        .ok()
        .filter(|h| *h < 24)
        .ok_or_else(|| MailboxError::Refused("ora non valida: scegliere da 0 a 23".into()))
}

impl Access {
    /// The box's e-mail report, if it asked for one.
    pub fn email_report(&self) -> Result<Option<EmailReport>, MailboxError> {
        Ok(parse(self.setting(EMAIL_SETTING)?))
    }

    /// Asks for the e-mail report to `to` at `hour` (Italian time).
    pub fn set_email_report(&self, to: &str, hour: &str) -> Result<(), MailboxError> {
        let to = to.trim();
        if !is_email_address(to) {
            return Err(MailboxError::Refused(format!(
                "indirizzo non valido: {}",
                to.chars().take(80).collect::<String>()
            )));
        }
        let r = EmailReport {
            to: to.to_ascii_lowercase(),
            hour: hour_or_refuse(hour)?,
        };
        self.set_setting_json(EMAIL_SETTING, &r)
    }

    /// The box's SMS report, if it asked for one.
    pub fn sms_report(&self) -> Result<Option<SmsReport>, MailboxError> {
        Ok(parse(self.setting(SMS_SETTING)?))
    }

    /// Whether the provider can send SMS (an `[sms]` gateway is configured).
    pub fn sms_offered(&self) -> bool {
        self.provider().sms.is_some()
    }

    /// Asks for the SMS report to `number` at `hour`; refused when the provider has no
    /// SMS gateway.
    pub fn set_sms_report(&self, number: &str, hour: &str) -> Result<(), MailboxError> {
        if !self.sms_offered() {
            return Err(MailboxError::Refused(
                "il servizio SMS non è attivo presso questo gestore".into(),
            ));
        }
        let number = sms::normalize_number(number).ok_or_else(|| {
            MailboxError::Refused(format!(
                "numero di cellulare non valido: {}",
                number.chars().take(20).collect::<String>()
            ))
        })?;
        let r = SmsReport {
            number,
            hour: hour_or_refuse(hour)?,
        };
        self.set_setting_json(SMS_SETTING, &r)
    }

    /// "Reset": no more reports of `kind`.
    pub fn clear_report(&self, kind: ReportKind) -> Result<(), MailboxError> {
        self.set_setting(kind.setting(), "")
    }
}

/// The Italian calendar day of `now` (`2026-12-03`) when `hour` has come on it. On the
/// day summer time starts, an hour that does not exist comes with the next one; on the day
/// it ends, with the first of the two.
pub fn due_day(now: i64, hour: u32) -> Option<String> {
    let local = chrono_tz::Europe::Rome.timestamp_opt(now, 0).single()?;
    (local.hour() >= hour).then(|| local.date_naive().format("%Y-%m-%d").to_string())
}

/// What a box received in a period, and where it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Unread messages, outside Cestino and Posta indesiderata.
    pub unread: i64,
    /// Certified messages received (transport envelopes).
    pub certified: i64,
    /// Receipts and notices by kind, in a stable order.
    pub notices: Vec<(MessageKind, i64)>,
    /// Anomaly envelopes.
    pub anomalies: i64,
    /// Ordinary (non-certified) mail.
    pub ordinary: i64,
    /// Certified recipients of PEC sent, still without a delivery receipt (the first
    /// [`AWAITING_LISTED`] + 1).
    pub awaiting: Vec<AwaitingDelivery>,
    pub used: i64,
    pub quota: i64,
}

impl Summary {
    /// Anything received in the period.
    pub fn anything_arrived(&self) -> bool {
        self.certified + self.anomalies + self.ordinary + self.count(|_| true) > 0
    }

    fn count(&self, f: impl Fn(MessageKind) -> bool) -> i64 {
        self.notices
            .iter()
            .filter(|(k, _)| f(*k))
            .map(|(_, n)| n)
            .sum()
    }

    /// Delivery receipts.
    pub fn delivered(&self) -> i64 {
        self.count(|k| matches!(k, MessageKind::Delivery(_)))
    }

    /// Non-delivery notices (for any reason).
    pub fn not_delivered(&self) -> i64 {
        self.count(|k| {
            matches!(
                k,
                MessageKind::NonDelivery
                    | MessageKind::NonDeliveryVirus
                    | MessageKind::DeliveryTimeout(_)
            )
        })
    }

    /// What the SMS calls "Altro": every other receipt, anomalies, ordinary mail.
    pub fn other(&self) -> i64 {
        self.count(|_| true) - self.delivered() - self.not_delivered()
            + self.anomalies
            + self.ordinary
    }
}

/// The box's summary of what arrived since `since`.
pub fn summary(p: &Provider, m: &Mailbox, since: i64) -> Result<Summary, StoreError> {
    let mut s = Summary {
        used: m.used,
        quota: m.quota,
        ..Summary::default()
    };
    s.unread = p
        .store
        .folders(m.id)?
        .iter()
        .filter(|f| !matches!(f.special_use.as_deref(), Some("\\Trash" | "\\Junk")))
        .map(|f| f.unseen)
        .sum();
    for (code, n) in p.store.arrivals_since(m.id, since)? {
        match code.as_deref().and_then(MessageKind::from_code) {
            None => s.ordinary += n,
            Some(MessageKind::TransportEnvelope) => s.certified += n,
            Some(MessageKind::AnomalyEnvelope) => s.anomalies += n,
            Some(k) => s.notices.push((k, n)),
        }
    }
    s.notices
        .sort_by_key(|(k, _)| MessageKind::ALL.iter().position(|x| x == k));
    s.awaiting = p.store.awaiting_delivery(&m.address, AWAITING_LISTED + 1)?;
    Ok(s)
}

/// The SMS text (one SMS, 160 characters, for an address of ordinary length).
pub fn sms_text(address: &str, s: &Summary) -> String {
    format!(
        "PEC {address}, ultime 24 ore: {} messaggi certificati, {} ricevute di consegna, {} \
         mancate consegne, {} altro. Da leggere: {}.",
        s.certified,
        s.delivered(),
        s.not_delivered(),
        s.other(),
        s.unread
    )
}

fn mb(bytes: i64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1 << 20)).replace('.', ",")
}

/// Header-safe, one-line text of at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// The e-mail report's subject and body.
pub fn email_text(address: &str, s: &Summary, now: i64, provider: &str) -> (String, String) {
    let when = PecTime::from_unix_or_epoch(now);
    let mut b = format!(
        "Report giornaliero della casella di posta certificata {address}\r\n\
         del {} alle ore {} (ultime 24 ore).\r\n\r\n\
         Messaggi da leggere: {}\r\n\r\n\
         Ricevuti nelle ultime 24 ore:\r\n\
         - messaggi di posta certificata: {}\r\n",
        when.giorno(),
        when.ora(),
        s.unread,
        s.certified
    );
    for (k, n) in &s.notices {
        b.push_str(&format!("- {}: {n}\r\n", k.name_it()));
    }
    b.push_str(&format!(
        "- anomalie (buste di anomalia): {}\r\n- posta ordinaria (non certificata): {}\r\n\r\n",
        s.anomalies, s.ordinary
    ));
    if s.awaiting.is_empty() {
        b.push_str("Nessuna PEC inviata è in attesa della ricevuta di consegna.\r\n");
    } else {
        b.push_str("PEC inviate ancora in attesa della ricevuta di avvenuta consegna:\r\n");
        for a in s.awaiting.iter().take(AWAITING_LISTED) {
            let t = PecTime::from_unix_or_epoch(a.accepted);
            b.push_str(&format!(
                "- {} {}, \"{}\" a {} (identificativo {})\r\n",
                t.giorno(),
                t.ora(),
                clean(&a.subject, 120),
                clean(&a.recipient, 254),
                clean(&a.identificativo, 200)
            ));
        }
        if s.awaiting.len() > AWAITING_LISTED {
            b.push_str("- e altre ancora: le trova in Posta inviata.\r\n");
        }
    }
    let pct = if s.quota > 0 {
        s.used.saturating_mul(100) / s.quota
    } else {
        0
    };
    b.push_str(&format!(
        "\r\nSpazio occupato: {} MB di {} MB ({pct}%).\r\n\r\n\
         Il report non riporta il contenuto dei messaggi: li legga nella casella.\r\n\
         Per non riceverlo più: Impostazioni > PEC – Report Email giornaliero > Reset.\r\n\r\n{provider}\r\n",
        mb(s.used),
        mb(s.quota)
    ));
    (format!("Report giornaliero della casella PEC {address}"), b)
}

/// What one pass made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub emails: usize,
    pub sms: usize,
}

/// Makes the reports due at `now` (each box's chosen hour come, its day not done yet).
pub fn run_due(p: &Provider, now: i64) -> Result<Made, StoreError> {
    let mut made = Made::default();
    for kind in [ReportKind::Email, ReportKind::Sms] {
        let Some(today) = due_day(now, 0) else {
            continue;
        };
        let done: HashSet<MailboxId> = p
            .store
            .daily_reports_done(kind.code(), &today)?
            .into_iter()
            .collect();
        for (id, address, value) in p.store.settings_named(kind.setting())? {
            if done.contains(&id) {
                continue;
            }
            let r = match kind {
                ReportKind::Email => one_email(p, id, &address, &value, now),
                ReportKind::Sms => one_sms(p, id, &address, &value, now),
            };
            match r {
                Ok(true) => match kind {
                    ReportKind::Email => made.emails += 1,
                    ReportKind::Sms => made.sms += 1,
                },
                Ok(false) => {}
                // One box's failure is logged; the others still get theirs.
                Err(e) => tracing::error!(mailbox = %address, kind = kind.code(), error = %e,
                    "daily report not made"),
            }
        }
    }
    Ok(made)
}

/// A report rule: the hour it comes at.
trait Scheduled: for<'de> Deserialize<'de> {
    fn hour(&self) -> u32;
}

impl Scheduled for EmailReport {
    fn hour(&self) -> u32 {
        self.hour
    }
}

impl Scheduled for SmsReport {
    fn hour(&self) -> u32 {
        self.hour
    }
}

/// A box's rule (its setting `value`) when its report is due at `now`: the rule, the day
/// and the box's summary of the last 24 hours.
fn due<T: Scheduled>(
    p: &Provider,
    address: &str,
    value: &str,
    now: i64,
) -> Result<Option<(T, String, Summary)>, StoreError> {
    let Some(rule) = parse::<T>(Some(value.to_string())) else {
        return Ok(None);
    };
    let Some(day) = due_day(now, rule.hour()) else {
        return Ok(None);
    };
    let Some(m) = p.store.mailbox(address)? else {
        return Ok(None);
    };
    let s = summary(p, &m, now - PERIOD)?;
    Ok(Some((rule, day, s)))
}

/// One box's e-mail report if due; whether one was queued.
fn one_email(
    p: &Provider,
    id: MailboxId,
    address: &str,
    value: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some((rule, day, s)) = due::<EmailReport>(p, address, value, now)? else {
        return Ok(false);
    };
    if !s.anything_arrived() && s.awaiting.is_empty() {
        // Nothing to tell: the day is done all the same.
        p.store
            .write(|db| db.claim_daily_report(id, ReportKind::Email.code(), &day, now))?;
        return Ok(false);
    }
    let (subject, body) = email_text(address, &s, now, &p.identity.name);
    let bytes = crate::onboarding::plain_mail(&p.identity, &rule.to, &subject, &body, now);
    let blob = p.store.put_blob(&bytes)?;
    let from = p.identity.service_address();
    let queued = p.store.write(|db| {
        if !db.claim_daily_report(id, ReportKind::Email.code(), &day, now)? {
            return Ok(false);
        }
        db.enqueue(
            QueueKind::Relay,
            &from,
            std::slice::from_ref(&rule.to),
            &blob,
            None,
            now,
        )?;
        Ok(true)
    })?;
    if queued {
        tracing::info!(mailbox = %address, day = %day, "daily e-mail report queued");
    }
    Ok(queued)
}

/// One box's SMS report if due; whether one was queued.
fn one_sms(
    p: &Provider,
    id: MailboxId,
    address: &str,
    value: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some((rule, day, s)) = due::<SmsReport>(p, address, value, now)? else {
        return Ok(false);
    };
    let text = sms_text(address, &s);
    let queued = p.store.write(|db| {
        if !db.claim_daily_report(id, ReportKind::Sms.code(), &day, now)? {
            return Ok(false);
        }
        // Sent only if PEC arrived: otherwise the day is done, silently.
        if !s.anything_arrived() {
            return Ok(false);
        }
        db.queue_sms(
            &NewSms {
                mailbox_id: id,
                number: &rule.number,
                text: &text,
            },
            now,
        )?;
        Ok(true)
    })?;
    if queued {
        tracing::info!(mailbox = %address, day = %day, "daily SMS report queued");
    }
    Ok(queued)
}

/// How long a claimed SMS is hidden from another attempt (longer than the gateway's
/// deadline).
const SMS_LEASE_SECS: i64 = 180;
/// Delays after the 1st, 2nd… failed attempt; after the last, the SMS is given up.
const SMS_RETRIES: [i64; 5] = [60, 300, 900, 3_600, 3 * 3_600];

/// Sends the SMS due now through the gateway; how many were sent. Without a gateway the
/// outbox waits (the operator sees it with `certa sms list`).
pub async fn send_due_sms(p: &std::sync::Arc<Provider>) -> Result<usize, StoreError> {
    let Some(gateway) = p.sms.clone() else {
        return Ok(0);
    };
    let (store, now) = (p.store.clone(), p.now());
    let due = crate::blocking(move || store.sms_claim(now, SMS_LEASE_SECS, 10))
        .await
        .ok_or_else(|| StoreError::Internal("sms claim task failed".into()))??;
    let mut sent = 0;
    for sms in due {
        let result = gateway.send(&sms.number, &sms.text).await;
        let (store, now) = (p.store.clone(), p.now());
        let span = tracing::info_span!("sms", id = %sms.id, mailbox = %sms.mailbox);
        let _entered = span.enter();
        let outcome = match &result {
            Ok(()) => {
                sent += 1;
                p.metrics.sms("sent");
                tracing::info!(attempt = sms.attempts, "SMS sent");
                None
            }
            Err(e) => {
                let retry = usize::try_from(sms.attempts - 1)
                    .ok()
                    .and_then(|i| SMS_RETRIES.get(i))
                    .map(|d| now + d);
                p.metrics
                    .sms(if retry.is_some() { "retry" } else { "failed" });
                tracing::warn!(attempt = sms.attempts, error = %e, given_up = retry.is_none(),
                    "SMS not sent");
                Some((e.to_string(), retry))
            }
        };
        let id = sms.id;
        let r = crate::blocking(move || match outcome {
            None => store.sms_sent(id, now),
            Some((error, retry)) => store.sms_failed(id, &error, retry),
        })
        .await;
        if let Some(Err(e)) = r {
            tracing::error!(error = %e, "SMS outcome not recorded");
        }
    }
    Ok(sent)
}

/// Makes the due reports every `every` and drains the SMS outbox.
pub async fn run(p: std::sync::Arc<Provider>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let p2 = p.clone();
        let now = p.now();
        if let Some(Err(e)) = crate::blocking(move || run_due(&p2, now)).await {
            tracing::error!(error = %e, "daily reports: not made");
        }
        if let Err(e) = send_due_sms(&p).await {
            tracing::error!(error = %e, "SMS outbox: not drained");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::due_day;
    use chrono::TimeZone;

    fn rome(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono_tz::Europe::Rome
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .map(|t| t.timestamp())
            .unwrap_or_default()
    }

    #[test]
    fn the_day_comes_at_the_italian_hour_across_summer_time() {
        assert_eq!(due_day(rome(2026, 12, 3, 7, 59), 8), None);
        assert_eq!(
            due_day(rome(2026, 12, 3, 8, 0), 8).as_deref(),
            Some("2026-12-03")
        );
        assert_eq!(
            due_day(rome(2026, 12, 3, 23, 59), 8).as_deref(),
            Some("2026-12-03")
        );
        assert_eq!(due_day(rome(2026, 12, 4, 0, 0), 8), None, "a new day waits");
        // 29 March 2026: 02:00 does not exist; the 2 o'clock report comes at 03:00.
        let spring = rome(2026, 3, 29, 1, 59);
        assert_eq!(due_day(spring, 2), None);
        assert_eq!(due_day(spring + 60, 2).as_deref(), Some("2026-03-29"));
        // 25 October 2026: 02:00–02:59 twice; due from the first, the same day.
        let autumn = rome(2026, 10, 25, 2, 30);
        assert_eq!(due_day(autumn, 2).as_deref(), Some("2026-10-25"));
        assert_eq!(due_day(autumn + 3_600, 2).as_deref(), Some("2026-10-25"));
    }
}
