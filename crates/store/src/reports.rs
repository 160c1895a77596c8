//! What the daily reports read and keep (issue 18 item 4; seed 002 §2.6.5, N2–N3): which
//! boxes asked for a report, what arrived in a box since a time, the PEC a box sent that
//! still wait for a delivery receipt, the report days already done (once per box, kind and
//! day, claimed in the transaction that queues the report), and the SMS outbox the gateway
//! worker drains with retries.

use crate::cached::Cached;
use crate::{MailboxId, Result, SmsId, SmsState, StoreError, Unix};
use rusqlite::{params, Connection, Row};

/// An SMS to queue.
#[derive(Debug, Clone)]
pub struct NewSms<'a> {
    pub mailbox_id: MailboxId,
    /// E.164, `+` and digits.
    pub number: &'a str,
    pub text: &'a str,
}

/// An SMS of the outbox.
#[derive(Debug, Clone)]
pub struct Sms {
    pub id: SmsId,
    pub mailbox_id: MailboxId,
    /// The box's address.
    pub mailbox: String,
    pub number: String,
    pub text: String,
    pub created: Unix,
    /// Attempts made (a claim is an attempt).
    pub attempts: i64,
    /// When it may be tried next (a claim's lease ends then too).
    pub next_at: Unix,
    pub state: SmsState,
    pub last_error: Option<String>,
    pub sent_at: Option<Unix>,
}

/// A recipient of a PEC the box sent that has no delivery receipt yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingDelivery {
    pub identificativo: String,
    pub subject: String,
    pub recipient: String,
    /// When the PEC was accepted.
    pub accepted: Unix,
}

/// Sent and failed SMS are kept this long for the operator, then dropped.
pub const SMS_RETENTION_SECS: i64 = 90 * 86_400;

pub trait ReportStore {
    /// Every box with the setting `key`: its id, address and the setting's value.
    fn settings_named(&self, key: &str) -> Result<Vec<(MailboxId, String, String)>>;
    /// Messages stored in the box (any folder) since `since`, counted by PEC kind (its
    /// code; `None`: ordinary mail).
    fn arrivals_since(
        &self,
        mailbox_id: MailboxId,
        since: Unix,
    ) -> Result<Vec<(Option<String>, i64)>>;
    /// The boxes whose report of `kind` for `day` is done.
    fn daily_reports_done(&self, kind: &str, day: &str) -> Result<Vec<MailboxId>>;
    /// The certified recipients of PEC sent by `sender` still waiting for a delivery
    /// receipt (accepted or taken in charge), oldest first, at most `limit`.
    fn awaiting_delivery(&self, sender: &str, limit: usize) -> Result<Vec<AwaitingDelivery>>;
    /// Claims up to `limit` SMS due at `now`: each counts an attempt and is hidden until
    /// `now + lease_secs` (a worker that dies leaves it to be tried again then).
    fn sms_claim(&self, now: Unix, lease_secs: i64, limit: usize) -> Result<Vec<Sms>>;
    /// The gateway accepted it.
    fn sms_sent(&self, id: SmsId, now: Unix) -> Result<()>;
    /// An attempt failed: tried again at `next_at`, or given up (`None`).
    fn sms_failed(&self, id: SmsId, error: &str, next_at: Option<Unix>) -> Result<()>;
    /// The outbox, newest first, at most `limit`.
    fn sms_list(&self, limit: usize) -> Result<Vec<Sms>>;
}

pub(crate) fn settings_named(
    c: &Connection,
    key: &str,
) -> Result<Vec<(MailboxId, String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT s.mailbox_id, m.address, s.value FROM mailbox_settings s
         JOIN mailboxes m ON m.id = s.mailbox_id WHERE s.key = ?1 ORDER BY s.mailbox_id",
    )?;
    let rows = st.query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn arrivals_since(
    c: &Connection,
    mailbox_id: MailboxId,
    since: Unix,
) -> Result<Vec<(Option<String>, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT m.pec_kind, count(*) FROM messages m JOIN folders f ON f.id = m.folder_id
         WHERE f.mailbox_id = ?1 AND m.internal_date >= ?2 GROUP BY m.pec_kind
         ORDER BY m.pec_kind",
    )?;
    let rows = st.query_map(params![mailbox_id, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn awaiting_delivery(
    c: &Connection,
    sender: &str,
    limit: usize,
) -> Result<Vec<AwaitingDelivery>> {
    let mut st = c.prepare_cached(
        "SELECT t.identificativo, t.subject, r.address, t.created
         FROM pec_transactions t JOIN pec_recipients r ON r.identificativo = t.identificativo
         WHERE t.sender = ?1 COLLATE NOCASE AND r.kind = 'certificato'
           AND r.state IN ('accepted', 'taken-in-charge')
         ORDER BY t.created, t.identificativo, r.address LIMIT ?2",
    )?;
    let rows = st.query_map(params![sender, limit as i64], |r| {
        Ok(AwaitingDelivery {
            identificativo: r.get(0)?,
            subject: r.get(1)?,
            recipient: r.get(2)?,
            accepted: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn daily_reports_done(c: &Connection, kind: &str, day: &str) -> Result<Vec<MailboxId>> {
    let mut st =
        c.prepare_cached("SELECT mailbox_id FROM daily_reports WHERE kind = ?1 AND day = ?2")?;
    let rows = st.query_map([kind, day], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records that the report of `kind` for `day` is done; false when it was already.
pub(crate) fn claim_daily_report(
    c: &Connection,
    mailbox_id: MailboxId,
    kind: &str,
    day: &str,
    now: Unix,
) -> Result<bool> {
    Ok(c.exec(
        "INSERT OR IGNORE INTO daily_reports(mailbox_id, kind, day, at) VALUES (?1, ?2, ?3, ?4)",
        params![mailbox_id, kind, day, now],
    )? == 1)
}

pub(crate) fn queue_sms(c: &Connection, sms: &NewSms<'_>, now: Unix) -> Result<SmsId> {
    c.exec(
        "INSERT INTO sms_outbox(mailbox_id, number, text, created, next_at, state)
         VALUES (?1, ?2, ?3, ?4, ?4, 'pending')",
        params![sms.mailbox_id, sms.number, sms.text, now],
    )?;
    Ok(SmsId(c.last_insert_rowid()))
}

const SMS_COLUMNS: &str = "o.id, o.mailbox_id, m.address, o.number, o.text, o.created, \
     o.attempts, o.next_at, o.state, o.last_error, o.sent_at";

fn sms_row(r: &Row<'_>) -> rusqlite::Result<(Sms, String)> {
    let state: String = r.get(8)?;
    Ok((
        Sms {
            id: r.get(0)?,
            mailbox_id: r.get(1)?,
            mailbox: r.get(2)?,
            number: r.get(3)?,
            text: r.get(4)?,
            created: r.get(5)?,
            attempts: r.get(6)?,
            next_at: r.get(7)?,
            state: SmsState::Pending,
            last_error: r.get(9)?,
            sent_at: r.get(10)?,
        },
        state,
    ))
}

fn typed(rows: Vec<(Sms, String)>) -> Result<Vec<Sms>> {
    rows.into_iter()
        .map(|(mut sms, state)| {
            sms.state = state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("sms {}: {e}", sms.id)))?;
            Ok(sms)
        })
        .collect()
}

pub(crate) fn sms_claim(
    c: &Connection,
    now: Unix,
    lease_secs: i64,
    limit: usize,
) -> Result<Vec<Sms>> {
    c.exec(
        "DELETE FROM sms_outbox WHERE state != 'pending' AND created < ?1",
        [now - SMS_RETENTION_SECS],
    )?;
    let due = {
        let mut st = c.prepare_cached(&format!(
            "SELECT {SMS_COLUMNS} FROM sms_outbox o JOIN mailboxes m ON m.id = o.mailbox_id
             WHERE o.state = 'pending' AND o.next_at <= ?1 ORDER BY o.next_at, o.id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![now, limit as i64], sms_row)?;
        typed(rows.collect::<rusqlite::Result<_>>()?)?
    };
    let mut out = Vec::with_capacity(due.len());
    for mut sms in due {
        sms.attempts += 1;
        sms.next_at = now + lease_secs;
        c.exec(
            "UPDATE sms_outbox SET attempts = ?2, next_at = ?3 WHERE id = ?1",
            params![sms.id, sms.attempts, sms.next_at],
        )?;
        out.push(sms);
    }
    Ok(out)
}

pub(crate) fn sms_sent(c: &Connection, id: SmsId, now: Unix) -> Result<()> {
    let n = c.exec(
        "UPDATE sms_outbox SET state = 'sent', sent_at = ?2, last_error = NULL
         WHERE id = ?1 AND state = 'pending'",
        params![id, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("sms {id} waiting to be sent")));
    }
    Ok(())
}

pub(crate) fn sms_failed(
    c: &Connection,
    id: SmsId,
    error: &str,
    next_at: Option<Unix>,
) -> Result<()> {
    let error: String = error.chars().take(500).collect();
    let n = match next_at {
        Some(at) => c.exec(
            "UPDATE sms_outbox SET last_error = ?2, next_at = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, error, at],
        )?,
        None => c.exec(
            "UPDATE sms_outbox SET last_error = ?2, state = 'failed' WHERE id = ?1 AND state = 'pending'",
            params![id, error],
        )?,
    };
    if n == 0 {
        return Err(StoreError::NotFound(format!("sms {id} waiting to be sent")));
    }
    Ok(())
}

pub(crate) fn sms_list(c: &Connection, limit: usize) -> Result<Vec<Sms>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SMS_COLUMNS} FROM sms_outbox o JOIN mailboxes m ON m.id = o.mailbox_id
         ORDER BY o.id DESC LIMIT ?1"
    ))?;
    let rows = st.query_map([limit as i64], sms_row)?;
    typed(rows.collect::<rusqlite::Result<_>>()?)
}
