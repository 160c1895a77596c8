//! The delivery point (RFC 6109 §3.3) and the outbound relay, as queue work, plus the few
//! operations every point shares: storing a signed message, putting it in a mailbox, writing
//! the legal log, and sending a notice to its recipient wherever that is.

use crate::metrics::Outcome;
use crate::provider::{destination_with, Destination, Provider};
use pec::ProviderIndex;
use pec::{Builder, ErrorCode, MessageKind, PecTime, Transaction, UnsignedMessage};
use store::{
    DeliveryState, MessageMeta, MessageText, NewMessage, QueueItem, QueueKind, StoreError, Tx,
    INBOX,
};

/// A message written to the blob store.
pub struct Stored {
    pub blob: String,
    pub size: i64,
    pub message_id: String,
    pub meta: MessageMeta,
    pub rcpt_to: Vec<String>,
    pub mail_from: String,
    /// The bytes as the store prepared them, made durable by [`Stored::persist`] in the
    /// transaction that refers to them (small ones, in SQLite); `None` when they are already.
    pending: Option<store::PreparedBlob>,
}

impl Stored {
    /// Stores bytes (fsynced) and parses what the lists and searches need, once.
    pub fn put(
        p: &Provider,
        bytes: Vec<u8>,
        kind: Option<MessageKind>,
    ) -> Result<Stored, StoreError> {
        let parsed = pec::classify(&bytes).ok();
        let meta = meta_of(parsed.as_ref(), kind);
        let message_id = parsed.and_then(|m| m.message_id).unwrap_or_default();
        Stored::put_with(p, &bytes, meta, message_id)
    }

    /// Stores bytes whose fields are already known: the store either makes them durable now
    /// or with the first transaction that uses them (see `Blobs::prepare_blob`).
    pub fn put_with(
        p: &Provider,
        bytes: &[u8],
        mut meta: MessageMeta,
        message_id: String,
    ) -> Result<Stored, StoreError> {
        // Parsed once, here: IMAP and the webmail read the structure, never the MIME again.
        parse_once(bytes, &mut meta);
        let prepared = p.store.prepare_blob(bytes)?;
        Ok(Stored {
            blob: prepared.name().to_string(),
            size: bytes.len() as i64,
            message_id,
            meta,
            rcpt_to: vec![],
            mail_from: String::new(),
            pending: Some(prepared),
        })
    }

    /// A message already in the blob store; its structure is parsed here, once, like every
    /// other message's.
    pub fn existing(blob: String, bytes: &[u8], mut meta: MessageMeta) -> Stored {
        parse_once(bytes, &mut meta);
        Stored {
            blob,
            size: bytes.len() as i64,
            message_id: String::new(),
            meta,
            rcpt_to: vec![],
            mail_from: String::new(),
            pending: None,
        }
    }

    /// Makes the bytes durable with the caller's transaction (a no-op for blob files).
    pub fn persist(&self, db: &dyn Tx) -> Result<(), StoreError> {
        match &self.pending {
            Some(prepared) => db.keep_blob(prepared),
            None => Ok(()),
        }
    }
}

/// Fills in what is parsed from a message once, when it is stored: its structure. Its text
/// is indexed afterwards, out of the delivery's transaction, by the background indexer
/// ([`index_stored_text`]); searches read what is not indexed yet themselves.
fn parse_once(bytes: &[u8], meta: &mut MessageMeta) {
    if meta.structure.is_none() {
        meta.structure = Some(message::Structure::parse(bytes).to_json());
    }
}

/// A message's text as the full-text index keeps it (lower-cased): the subject, the people
/// it names (with the certified sender of an envelope) and the body text.
pub fn index_text(bytes: &[u8], s: &message::Structure, meta: &MessageMeta) -> MessageText {
    let people = |list: &[message::Address]| -> String {
        list.iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a.name.clone().unwrap_or_default(),
                    a.email().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase()
    };
    let e = &s.envelope;
    MessageText {
        subject: meta.subject.to_lowercase(),
        from: format!("{}\n{}", meta.sender.to_lowercase(), people(&e.from)),
        to: people(&e.to),
        cc: people(&e.cc),
        body: message::text_of(bytes, s).to_lowercase(),
    }
}

/// Indexes stored messages that have no text in the search index yet, batch after batch
/// of at most `batch` messages, until none is left; how many it indexed. Searches read
/// unindexed messages themselves meanwhile, so the answers are the same before and after.
pub fn index_stored_text(p: &Provider, batch: i64) -> Result<usize, StoreError> {
    let mut done = 0;
    loop {
        match index_stored_batch(p, batch, usize::MAX)? {
            0 => return Ok(done),
            n => done += n,
        }
    }
}

/// One batch of [`index_stored_text`], in one transaction: at most `max_messages`, and no
/// more once `max_bytes` of message bytes are read (at least one message, whatever its
/// size), so that the writer is held briefly. How many it indexed.
pub fn index_stored_batch(
    p: &Provider,
    max_messages: i64,
    max_bytes: usize,
) -> Result<usize, StoreError> {
    let pending = p.store.unindexed_texts(max_messages)?;
    let mut texts = Vec::with_capacity(pending.len());
    let mut read = 0usize;
    for (mailbox_id, blob) in pending {
        if read >= max_bytes {
            break;
        }
        // A blob that cannot be read is indexed as empty, so it is not tried forever.
        let bytes = p.store.blob(&blob).unwrap_or_default();
        read = read.saturating_add(bytes.len());
        let parsed = pec::classify(&bytes).ok();
        let meta = meta_of(parsed.as_ref(), None);
        let text = index_text(&bytes, &message::Structure::parse(&bytes), &meta);
        texts.push((mailbox_id, blob, text));
    }
    if !texts.is_empty() {
        // One transaction a batch: one FTS segment, not one a message.
        p.store.index_texts(&texts)?;
    }
    Ok(texts.len())
}

/// Puts a message a client hands us (IMAP APPEND, import) into a folder: the same path as a
/// delivery (stored, parsed once, quota enforced). Returns the UID.
pub fn ingest(p: &Provider, address: &str, message: Ingest) -> Result<i64, StoreError> {
    let uids = ingest_all(p, address, vec![message])?;
    uids.first()
        .copied()
        .ok_or_else(|| StoreError::Internal("nothing appended".into()))
}

/// A message a client hands us, for [`ingest`].
pub struct Ingest {
    pub folder: String,
    pub bytes: Vec<u8>,
    /// Space-separated IMAP flags.
    pub flags: String,
    pub internal_date: Option<i64>,
    /// The UID it should have (a copy keeping the old provider's UIDs), when the folder's
    /// next is not above it; `None`: the next.
    pub uid: Option<i64>,
}

/// Several messages in one transaction (one fsync for all): all are appended or none.
/// Returns their UIDs in order.
pub fn ingest_all(
    p: &Provider,
    address: &str,
    messages: Vec<Ingest>,
) -> Result<Vec<i64>, StoreError> {
    ingest_all_with(p, address, messages, |_, _| Ok(()))
}

/// Like [`ingest_all`], with `then` run in the same transaction once the messages are
/// appended (given their UIDs): what it writes commits with them or not at all (a copy from
/// an old provider records its items so).
pub fn ingest_all_with(
    p: &Provider,
    address: &str,
    messages: Vec<Ingest>,
    then: impl FnOnce(&dyn Tx, &[i64]) -> Result<(), StoreError>,
) -> Result<Vec<i64>, StoreError> {
    let mut stored = Vec::with_capacity(messages.len());
    for m in messages {
        let mut s = Stored::put(p, m.bytes, None)?;
        s.meta.flags = m.flags;
        s.meta.internal_date = m.internal_date;
        stored.push((m.folder, s, m.uid));
    }
    let now = p.now();
    p.store.write(|db| {
        let uids = stored
            .iter()
            .map(|(folder, s, uid)| match uid {
                None => append(db, address, folder, s, now, true),
                Some(uid) => append_keeping_uid(db, address, folder, s, now, *uid),
            })
            .collect::<Result<Vec<i64>, StoreError>>()?;
        then(db, &uids)?;
        Ok(uids)
    })
}

/// The fields a folder entry keeps, from a classified message.
pub fn meta_of(parsed: Option<&pec::PecMessage>, kind: Option<MessageKind>) -> MessageMeta {
    MessageMeta {
        // A signed PEC message is listed by what its signature covers (review H1): the kind's
        // prefix and daticert's oggetto, never the outer Subject.
        subject: parsed
            .map(|m| match (m.signed, &m.malformed, m.certified_subject()) {
                (true, None, Some(s)) => s,
                _ => m.subject.clone(),
            })
            .unwrap_or_default(),
        // An envelope comes from posta-certificata@ "on behalf of" the real sender: the lists
        // show the certified sender (daticert's mittente).
        sender: parsed
            .and_then(|m| match (m.kind, &m.daticert) {
                (Some(MessageKind::TransportEnvelope), Some(d)) => Some(d.mittente.clone()),
                _ => m.from.clone(),
            })
            .unwrap_or_default(),
        pec_kind: kind.or(parsed.and_then(|m| m.kind)),
        identificativo: parsed.and_then(|m| m.daticert.as_ref().map(|d| d.identificativo.clone())),
        flags: String::new(),
        structure: None,
        internal_date: None,
        text: None,
    }
}

/// Signs a built message and stores it; what the folder entry needs comes from the builder,
/// not from parsing what was just built.
pub fn sign(p: &Provider, m: &UnsignedMessage) -> Result<Stored, StoreError> {
    let bytes = m
        .sign(&p.signer)
        .map_err(|e| StoreError::Internal(format!("signing: {e}")))?;
    let meta = MessageMeta {
        subject: m.subject.clone(),
        sender: m.from.clone(),
        pec_kind: Some(m.kind),
        identificativo: m.identificativo.clone(),
        flags: String::new(),
        structure: None,
        internal_date: None,
        text: None,
    };
    let mut s = Stored::put_with(p, &bytes, meta, m.message_id.clone())?;
    s.rcpt_to = m.rcpt_to.clone();
    s.mail_from = m.mail_from.clone();
    Ok(s)
}

/// Appends a stored message to a folder in the caller's transaction. The quota rule: with
/// `enforce_quota` (a client's APPEND, a certified message delivered to a box), a message
/// that would take the mailbox past its quota is refused with `OverQuota`; our own
/// receipts and notices always land.
pub fn append(
    db: &dyn Tx,
    address: &str,
    folder: &str,
    s: &Stored,
    now: i64,
    enforce_quota: bool,
) -> Result<i64, StoreError> {
    append_with(db, address, folder, s, &s.meta, now, enforce_quota)
}

/// Appends with the UID asked for when the folder's next UID is not above it, else with the
/// next (a copy keeping the old provider's UIDs, when a local message took one meanwhile);
/// the quota is enforced.
fn append_keeping_uid(
    db: &dyn Tx,
    address: &str,
    folder: &str,
    s: &Stored,
    now: i64,
    uid: i64,
) -> Result<i64, StoreError> {
    let usage = db.usage(address)?;
    if usage.used + s.size > usage.quota {
        return Err(StoreError::OverQuota(address.to_string()));
    }
    s.persist(db)?;
    let m = NewMessage {
        blob: &s.blob,
        size: s.size,
        meta: &s.meta,
    };
    match db.append_at(address, folder, uid, &m, now) {
        Err(StoreError::Refused(_)) => db.append(address, folder, &m, now),
        r => r,
    }
}

/// Appends with flags already set (the sender's copy in Posta inviata is `\Seen`).
pub fn append_flagged(
    db: &dyn Tx,
    address: &str,
    folder: &str,
    s: &Stored,
    now: i64,
    flags: &str,
) -> Result<i64, StoreError> {
    let meta = MessageMeta {
        flags: flags.to_string(),
        ..s.meta.clone()
    };
    append_with(db, address, folder, s, &meta, now, false)
}

fn append_with(
    db: &dyn Tx,
    address: &str,
    folder: &str,
    s: &Stored,
    meta: &MessageMeta,
    now: i64,
    enforce_quota: bool,
) -> Result<i64, StoreError> {
    if enforce_quota {
        let usage = db.usage(address)?;
        if usage.used + s.size > usage.quota {
            return Err(StoreError::OverQuota(address.to_string()));
        }
    }
    s.persist(db)?;
    db.append(
        address,
        folder,
        &NewMessage {
            blob: &s.blob,
            size: s.size,
            meta,
        },
        now,
    )
}

/// Moves a recipient of a transaction we sent to the state a receipt reports (accepted →
/// taken in charge → delivered / failed / timed out). A presa in carico (RFC 6109 §3.2.2)
/// that arrives after the delivery receipt (they race) only notes that it came: it never
/// takes a delivered recipient back. `false` when the transaction is not ours.
pub fn record_state(
    db: &dyn Tx,
    identificativo: &str,
    address: &str,
    state: DeliveryState,
    detail: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    if state != DeliveryState::TakenInCharge {
        return db.update_recipient(identificativo, address, state, detail, now);
    }
    if !db.note_taken_in_charge(identificativo, address, now)? {
        return Ok(false);
    }
    if db.recipient_state(identificativo, address)? == Some(DeliveryState::Accepted) {
        db.update_recipient(identificativo, address, state, None, now)?;
    }
    Ok(true)
}

/// One legal-log record about a transaction (RFC 6109 §2.3).
pub fn log(
    p: &Provider,
    db: &dyn Tx,
    event: &str,
    tx: &Transaction,
    related: &str,
) -> Result<(), StoreError> {
    log_by(p, db, event, tx, related, "")
}

/// [`log`] with the record's actor: who acted for the sender (`collaboratore:NAME`).
pub fn log_by(
    p: &Provider,
    db: &dyn Tx,
    event: &str,
    tx: &Transaction,
    related: &str,
    actor: &str,
) -> Result<(), StoreError> {
    let rcpts: Vec<String> = tx.recipients.iter().map(|r| r.address.clone()).collect();
    let related = [related.to_string()];
    db.log_append(&store::LogRecord {
        time: p.now(),
        event,
        msgid: &tx.identificativo,
        sender: &tx.sender,
        recipients: &rcpts,
        subject: &tx.subject,
        related: &related,
        provider: &p.identity.name,
        actor,
    })?;
    Ok(())
}

/// Sends a signed notice to its recipient: into the mailbox when it is ours, otherwise through
/// the relay queue. Inside the caller's transaction; `index` is read before it.
pub fn dispatch(
    db: &dyn Tx,
    index: &ProviderIndex,
    s: &Stored,
    now: i64,
) -> Result<(), StoreError> {
    s.persist(db)?;
    for rcpt in &s.rcpt_to {
        let dest = destination_with(rcpt, index, |d| db.is_local_domain(d))?;
        match dest {
            Destination::Local => {
                if db.mailbox_exists(rcpt)? {
                    append(db, rcpt, INBOX, s, now, false)?;
                }
            }
            _ => db.enqueue(
                QueueKind::Relay,
                &s.mail_from,
                std::slice::from_ref(rcpt),
                &s.blob,
                None,
                now,
            )?,
        }
    }
    Ok(())
}

/// Queues work on a stored message, making its bytes durable in the same transaction.
pub fn enqueue(
    db: &dyn Tx,
    kind: QueueKind,
    mail_from: &str,
    recipients: &[String],
    s: &Stored,
    identificativo: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    s.persist(db)?;
    db.enqueue(kind, mail_from, recipients, &s.blob, identificativo, now)
}

/// What the delivery point knows of an envelope it holds.
fn envelope_transaction(
    p: &Provider,
    envelope: &[u8],
) -> Option<(Transaction, Vec<u8>, MessageMeta)> {
    let parsed = pec::classify(envelope).ok()?;
    let d = parsed.daticert.as_ref()?;
    let time = PecTime::from_unix_or_epoch(p.now());
    let tx = Transaction::from_daticert(d, time, &parsed.original_to);
    let original = parsed
        .original(envelope)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let meta = meta_of(Some(&parsed), Some(MessageKind::TransportEnvelope));
    Some((tx, original, meta))
}

/// Delivery point for one local recipient of a transport envelope: store it (fsynced, in the
/// same commit as the queue item's removal), then the delivery receipt of the requested kind
/// or, for an unknown or full mailbox, the non-delivery notice.
pub fn deliver(p: &Provider, item: &QueueItem) -> Result<(), StoreError> {
    let now = p.now();
    // Queued one recipient per item (access and incoming points).
    let [rcpt] = item.recipients.as_slice() else {
        return Err(StoreError::Corrupt(format!(
            "delivery item {} has {} recipients",
            item.id,
            item.recipients.len()
        )));
    };
    let bytes = p.store.blob(&item.blob)?;
    let Some((tx, original, meta)) = envelope_transaction(p, &bytes) else {
        // Not an envelope we can read: it was checked before queueing, so this is corruption.
        p.store.write(|db| {
            db.dequeue(item.id)?;
            db.log_append(&store::LogRecord {
                time: now,
                event: "errore-interno",
                msgid: item.identificativo.as_deref().unwrap_or(""),
                sender: &item.mail_from,
                recipients: &item.recipients,
                subject: "",
                related: &[],
                provider: &p.identity.name,
                actor: "",
            })?;
            Ok(())
        })?;
        tracing::error!(
            event = "errore-interno",
            item = item.id.0,
            "delivery point: queued envelope unreadable, dropped"
        );
        return Ok(());
    };
    let builder = Builder::new(&p.identity);
    let envelope = Stored::existing(item.blob.clone(), &bytes, meta);
    let mailbox = p.store.mailbox(rcpt)?;
    let exists = mailbox.is_some();
    // "Messaggi di Notifica" (N1): written before, queued with the delivery.
    let notices = match &mailbox {
        Some(m) => crate::notifications::notices_for(
            p,
            m.id,
            &m.address,
            &tx.sender,
            &tx.subject,
            "posta certificata",
            now,
        )?,
        None => vec![],
    };
    let index = p.index();
    let no_dest = format!("5.1.1 - {} - indirizzo non valido", p.identity.name);
    let full = format!("5.2.2 - {} - casella piena", p.identity.name);
    // One signature on the usual path: the receipt for what is expected. A box found full
    // inside the transaction rolls it back, and the delivery is written again with the
    // non-delivery notice signed then (the rare path pays for the second signature).
    let expected = match exists {
        true => (
            sign(p, &builder.delivery(&tx, rcpt, &original))?,
            DeliveryState::Delivered,
            "",
        ),
        false => (
            sign(
                p,
                &builder.non_delivery(&tx, rcpt, ErrorCode::NoDest, &no_dest),
            )?,
            DeliveryState::Failed,
            no_dest.as_str(),
        ),
    };
    let write = |(receipt, state, detail): &(Stored, DeliveryState, &str)| {
        p.store.write(|db| {
            if !db.dequeue(item.id)? {
                return Ok(None);
            }
            if *state == DeliveryState::Delivered {
                // Over quota: an error, so that nothing of this attempt stays.
                append(db, rcpt, INBOX, &envelope, now, true)?;
                crate::notifications::queue(p, db, &notices, now)?;
            }
            dispatch(db, &index, receipt, now)?;
            db.update_recipient(
                &tx.identificativo,
                rcpt,
                *state,
                Some(*detail).filter(|d| !d.is_empty()),
                now,
            )?;
            let event = match state {
                DeliveryState::Delivered => "consegna",
                _ => "mancata-consegna",
            };
            log(p, db, event, &tx, &receipt.message_id)?;
            Ok(Some((*state, detail.to_string())))
        })
    };
    let done = match write(&expected) {
        Err(StoreError::OverQuota(_)) => {
            let notice = sign(p, &builder.non_delivery(&tx, rcpt, ErrorCode::Altro, &full))?;
            write(&(notice, DeliveryState::Failed, full.as_str()))?
        }
        other => other?,
    };
    match done {
        Some((DeliveryState::Delivered, _)) => {
            p.metrics.message(Outcome::Delivered, "busta-trasporto");
            tracing::info!(
                event = "consegna",
                rcpt = %rcpt,
                "delivered into the mailbox; delivery receipt emitted"
            );
            // After the commit: a failed warning never undoes a delivery.
            if let Err(e) = crate::quota::check(p, rcpt) {
                tracing::warn!(error = %e, rcpt = %rcpt, "quota warning not checked");
            }
        }
        Some((_, detail)) => {
            p.metrics.message(Outcome::Failed, "busta-trasporto");
            tracing::info!(
                event = "mancata-consegna",
                rcpt = %rcpt,
                detail = %detail,
                "not delivered; non-delivery notice emitted"
            );
        }
        None => {}
    }
    Ok(())
}

/// Back-off after the n-th failed attempt: `base`, 2 × `base`, 4 × `base` … at most `max`.
pub fn backoff(base: i64, max: i64, attempts: i64) -> i64 {
    (base.max(1) << (attempts - 1).clamp(0, 20)).min(max.max(1))
}

/// Ends a relay item in one commit: it leaves the queue, the recipients the next hop took are
/// logged, and for each one that failed for good a non-delivery notice goes to the sender (for
/// our envelopes).
pub fn relay_finished(
    p: &Provider,
    item: &QueueItem,
    accepted: &[String],
    host: &str,
    failed: &[(String, String)],
) -> Result<(), StoreError> {
    let now = p.now();
    let mut notices = Vec::new();
    // A recipient whose 24 h notice went out already has its final word (RFC 6109 §3.1.6:
    // the transaction is closed); giving up the relay adds no second notice.
    let closed: Vec<String> = match &item.identificativo {
        Some(id) => p.store.transaction(id)?.map_or(vec![], |t| {
            t.recipients
                .into_iter()
                .filter(|r| r.notice_24h)
                .map(|r| r.address.to_ascii_lowercase())
                .collect()
        }),
        None => vec![],
    };
    if item.identificativo.is_some() && !failed.is_empty() {
        let bytes = p.store.blob(&item.blob)?;
        if let Some((tx, _, _)) = envelope_transaction(p, &bytes) {
            for (r, why) in failed
                .iter()
                .filter(|(r, _)| !closed.contains(&r.to_ascii_lowercase()))
            {
                let text = format!("4.4.7 - {} - {why}", p.identity.name);
                let n = sign(
                    p,
                    &Builder::new(&p.identity).non_delivery(&tx, r, ErrorCode::Altro, &text),
                )?;
                notices.push((r.clone(), n, tx.clone(), text));
            }
        }
    }
    let index = p.index();
    let ident = item.identificativo.as_deref().unwrap_or("");
    let done = p.store.write(|db| {
        if !db.dequeue(item.id)? {
            return Ok(false);
        }
        if !accepted.is_empty() {
            db.log_append(&store::LogRecord {
                time: now,
                event: "inoltro",
                msgid: ident,
                sender: &item.mail_from,
                recipients: accepted,
                subject: "",
                related: &[host.to_string()],
                provider: &p.identity.name,
                actor: "",
            })?;
        }
        for (r, n, tx, text) in &notices {
            dispatch(db, &index, n, now)?;
            db.update_recipient(
                &tx.identificativo,
                r,
                DeliveryState::Failed,
                Some(text),
                now,
            )?;
            log(p, db, "mancata-consegna", tx, &n.message_id)?;
        }
        let silent: Vec<&(String, String)> = failed
            .iter()
            .filter(|(r, _)| !notices.iter().any(|n| n.0 == *r))
            .collect();
        if !silent.is_empty() {
            let rcpts: Vec<String> = silent.iter().map(|f| f.0.clone()).collect();
            let why: Vec<String> = silent.iter().map(|f| f.1.clone()).collect();
            db.log_append(&store::LogRecord {
                time: now,
                event: "inoltro-fallito",
                msgid: ident,
                sender: &item.mail_from,
                recipients: &rcpts,
                subject: &why.join("; "),
                related: &[host.to_string()],
                provider: &p.identity.name,
                actor: "",
            })?;
        }
        Ok(true)
    })?;
    if !done {
        return Ok(());
    }
    if !accepted.is_empty() {
        tracing::info!(
            event = "inoltro",
            hop = host,
            recipients = %accepted.join(","),
            "relayed: the next hop took the message"
        );
    }
    for (r, why) in failed {
        p.metrics.message(Outcome::Failed, "inoltro");
        let notice = notices.iter().any(|n| n.0 == *r);
        tracing::warn!(
            event = "inoltro-fallito",
            hop = host,
            rcpt = %r,
            why = %why,
            notice,
            "relay given up for this recipient"
        );
    }
    Ok(())
}

/// Our own transaction, as the store keeps it, for notices issued after the fact.
pub fn transaction_of(t: &store::PecTransaction, now: i64) -> Transaction {
    Transaction {
        identificativo: t.identificativo.clone(),
        time: PecTime::from_unix_or_epoch(now),
        sender: t.sender.clone(),
        recipients: t
            .recipients
            .iter()
            .map(|r| pec::Recipient {
                address: r.address.clone(),
                kind: r.kind,
                primary: true,
            })
            .collect(),
        reply_to: t.sender.clone(),
        subject: t.subject.clone(),
        msgid: t.msgid.clone(),
        receipt_type: t.receipt_type,
    }
}

/// The recipient-state rule against a whole provider (feature `testing`).
#[cfg(all(test, feature = "testing"))]
mod state_tests {
    use super::*;
    use crate::testing::{Options, TestProvider, USER};
    use pec::{ReceiptType, RecipientKind};
    use store::{PecTransaction, RecipientState};

    fn state(t: &TestProvider, address: &str) -> (DeliveryState, bool) {
        let tx = t.provider.store.transaction("ID-1").unwrap().unwrap();
        let r = tx.recipients.iter().find(|r| r.address == address).unwrap();
        (r.state, r.taken_in_charge)
    }

    #[test]
    fn a_late_taken_in_charge_never_takes_a_delivered_recipient_back() {
        let t = TestProvider::new(Options::default());
        let recipient = |address: &str| RecipientState {
            address: address.into(),
            kind: RecipientKind::Certificato,
            state: DeliveryState::Accepted,
            detail: None,
            updated: 1,
            taken_in_charge: false,
            notice_12h: false,
            notice_24h: false,
        };
        let tx = PecTransaction {
            identificativo: "ID-1".into(),
            sender: USER.into(),
            subject: "Oggetto".into(),
            msgid: None,
            receipt_type: ReceiptType::Completa,
            created: 1,
            recipients: vec![recipient("uno@altro.test"), recipient("due@altro.test")],
            sent_by: None,
        };
        let store = &t.provider.store;
        store.write(|db| db.create_transaction(&tx)).unwrap();
        let record = |address: &str, s: DeliveryState| {
            store.write(|db| record_state(db, "ID-1", address, s, None, 2))
        };

        // In order: taken in charge, then delivered.
        assert!(record("uno@altro.test", DeliveryState::TakenInCharge).unwrap());
        assert_eq!(
            state(&t, "uno@altro.test"),
            (DeliveryState::TakenInCharge, true)
        );
        assert!(record("uno@altro.test", DeliveryState::Delivered).unwrap());
        assert_eq!(
            state(&t, "uno@altro.test"),
            (DeliveryState::Delivered, true)
        );

        // Raced: the delivery receipt first; the late presa in carico is only noted.
        assert!(record("due@altro.test", DeliveryState::Delivered).unwrap());
        assert!(record("due@altro.test", DeliveryState::TakenInCharge).unwrap());
        assert_eq!(
            state(&t, "due@altro.test"),
            (DeliveryState::Delivered, true)
        );

        // Someone else's transaction changes nothing.
        assert!(!record("tre@altro.test", DeliveryState::TakenInCharge).unwrap());
        assert!(!record("tre@altro.test", DeliveryState::Delivered).unwrap());
    }
}

/// The delivery point against a whole provider (feature `testing`).
#[cfg(all(test, feature = "testing"))]
mod delivery_tests {
    use super::*;
    use crate::access::submit;
    use crate::outcome::Submitted;
    use crate::principal::{Principal, Rights};
    use crate::testing::{Options, TestProvider, USER};
    use store::QueueClaim;

    const FULL: &str = "piena@pec.example.test";

    fn send(t: &TestProvider, rcpt: &str, body_lines: usize) -> String {
        let who = Principal {
            mailbox: t.mailbox_id(USER),
            address: USER.into(),
            login: USER.into(),
            rights: Rights::all(),
            must_change_password: false,
            delegate: None,
        };
        let body = "riga di testo del messaggio\r\n".repeat(body_lines);
        let m = format!("From: {USER}\r\nTo: {rcpt}\r\nSubject: prova\r\n\r\n{body}");
        match submit(&t.provider, &who, USER, &[rcpt.to_string()], m.as_bytes()) {
            Submitted::Accepted { identificativo } => identificativo,
            _ => panic!("not accepted"),
        }
    }

    /// Claims and delivers every local item queued.
    fn deliver_all(t: &TestProvider) {
        let claim = QueueClaim {
            kinds: &[QueueKind::Deliver],
            skip_destinations: &[],
        };
        while let Some(item) = t.provider.store.queue_claim(now(), 300, &claim).unwrap() {
            deliver(&t.provider, &item).unwrap();
        }
    }

    fn now() -> i64 {
        crate::testing::now()
    }

    fn kinds_in(t: &TestProvider, address: &str) -> Vec<Option<MessageKind>> {
        t.provider
            .store
            .folder_messages(address, INBOX)
            .unwrap()
            .into_iter()
            .map(|m| m.pec_kind)
            .collect()
    }

    fn state(t: &TestProvider, id: &str) -> (DeliveryState, Option<String>) {
        let tx = t.provider.store.transaction(id).unwrap().unwrap();
        let r = &tx.recipients[0];
        (r.state, r.detail.clone())
    }

    #[test]
    fn a_full_box_refuses_the_envelope_with_one_non_delivery_notice() {
        let t = TestProvider::new(Options::default());
        t.add_mailbox(FULL, "Rosso#Tramonto7");
        t.provider.store.set_quota(FULL, 40_000).unwrap();

        // Room for the first message: delivered, with its delivery receipt to the sender.
        let first = send(&t, FULL, 100);
        deliver_all(&t);
        assert_eq!(state(&t, &first), (DeliveryState::Delivered, None));
        assert_eq!(
            kinds_in(&t, FULL),
            vec![Some(MessageKind::TransportEnvelope)]
        );
        let receipts = |t: &TestProvider| {
            kinds_in(t, USER)
                .into_iter()
                .filter(|k| *k != Some(MessageKind::Acceptance))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            receipts(&t),
            vec![Some(MessageKind::Delivery(pec::ReceiptType::Completa))]
        );

        // The second does not fit: nothing of it in the box, one non-delivery notice ("casella
        // piena") to the sender instead of a delivery receipt, the recipient failed.
        let second = send(&t, FULL, 3_000);
        deliver_all(&t);
        let (s, detail) = state(&t, &second);
        assert_eq!(s, DeliveryState::Failed);
        assert!(detail.unwrap_or_default().contains("casella piena"));
        assert_eq!(kinds_in(&t, FULL).len(), 1, "the box holds only the first");
        assert_eq!(
            receipts(&t),
            vec![
                Some(MessageKind::Delivery(pec::ReceiptType::Completa)),
                Some(MessageKind::NonDelivery)
            ]
        );
        assert_eq!(t.provider.store.queue_len().unwrap(), 0, "dequeued once");
    }
}
