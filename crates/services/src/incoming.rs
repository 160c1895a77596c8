//! The incoming point (RFC 6109 §3.2, §2.2.2): what reaches our MX from other providers and
//! from the Internet. A valid transport envelope gets a presa in carico back to the sender's
//! provider and goes to the delivery point; a valid receipt goes to its mailbox and moves our
//! transaction on; anything else is ordinary mail, which a PEC mailbox refuses unless its
//! holder chose to forward it or to receive it inside an anomaly envelope.

use crate::antivirus::ScanResult;
use crate::delivery::{self, Stored};
use crate::metrics::Outcome;
use crate::outcome::{Received, RecipientRefused, Unavailable};
use crate::provider::{Destination, Provider};
use pec::{Builder, MessageKind, PecTime, Transaction, Verdict};
use store::{DeliveryState, QueueKind, StoreError, INBOX};

/// Whether the MX takes mail for this recipient at all (our domains only; no open relay).
fn accepts_recipient(p: &Provider, rcpt: &str) -> Result<bool, StoreError> {
    p.store.is_local_domain(pec::build::domain_of(rcpt))
}

pub fn receive(p: &Provider, mail_from: &str, rcpts: &[String], message: Vec<u8>) -> Received {
    match try_receive(p, mail_from, rcpts, message) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "incoming point: message not taken (temporary error)");
            Received::Unavailable(Unavailable::Store(e))
        }
    }
}

fn try_receive(
    p: &Provider,
    mail_from: &str,
    rcpts: &[String],
    message: Vec<u8>,
) -> Result<Received, StoreError> {
    // Bounces of our forwards: RCPT TO kept them apart from every other recipient.
    if rcpts.iter().any(|r| is_return_address(p, r)) {
        return return_to_sender(p, mail_from, rcpts, message);
    }
    let now = p.now();
    let parsed = match pec::classify(&message) {
        Ok(m) => m,
        Err(e) => {
            p.metrics.message(Outcome::Refused, "non-valido");
            tracing::info!(from = mail_from, error = %e, "incoming point: unreadable message refused");
            return Ok(Received::Unreadable(e));
        }
    };
    // Every line about a PEC message carries its transaction's identificativo.
    let ident = parsed.daticert.as_ref().map(|d| d.identificativo.as_str());
    let _span = tracing::info_span!("pec", id = ident.map(tracing::field::display)).entered();
    let index = p.index();
    let verdict = if parsed.kind.is_some() || parsed.daticert.is_some() {
        // RFC 6109 §3.2.1, review M3: live traffic is judged now, not as of the time the
        // signer claims.
        pec::verify_at(&message, &parsed, &index, &p.trust(), p.arrival())
    } else {
        pec::Verification {
            verdict: Verdict::NotPec,
            signer: None,
            provider: None,
        }
    };
    match (verdict.verdict.is_valid(), parsed.kind) {
        (true, Some(MessageKind::TransportEnvelope)) => {
            let Some(d) = parsed.daticert.as_ref() else {
                return ordinary(
                    p,
                    mail_from,
                    rcpts,
                    message,
                    "busta di trasporto senza dati di certificazione",
                );
            };
            // RFC 6109 §3.2.1 (review H1): an envelope is for the recipients its signed
            // daticert.xml lists, and for no other, whatever RCPT TO says.
            let (listed, unlisted): (Vec<String>, Vec<String>) =
                rcpts.iter().cloned().partition(|r| {
                    d.destinatari
                        .iter()
                        .any(|x| x.address.eq_ignore_ascii_case(r))
                });
            if !unlisted.is_empty() {
                p.store.write(|db| {
                    db.log_append(&store::LogRecord {
                        time: now,
                        event: "destinatario-non-certificato",
                        msgid: &d.identificativo,
                        sender: mail_from,
                        recipients: &unlisted,
                        subject: "destinatario assente dai dati di certificazione",
                        related: &[],
                        provider: &p.identity.name,
                        actor: "",
                    })
                })?;
                tracing::warn!(
                    event = "destinatario-non-certificato",
                    from = mail_from,
                    recipients = %unlisted.join(","),
                    "anomaly: RCPT TO names recipients the envelope's daticert does not list"
                );
            }
            if listed.is_empty() {
                p.metrics.message(Outcome::Refused, "busta-trasporto");
                return Ok(Received::NotCertifiedRecipient);
            }
            let rcpts = &listed;
            let time = PecTime::from_unix_or_epoch(now);
            // Primary or Cc from the signed original's To:, never from the outer fields.
            let tx = Transaction::from_daticert(d, time, &parsed.original_to);
            let mail_receipt = verdict.provider.map(|e| e.mail_receipt).unwrap_or_default();
            match p.scan(&message) {
                Err(e) => return Ok(Received::Unavailable(Unavailable::Antivirus(e))),
                Ok(ScanResult::Infected(virus)) => {
                    return virus_found(p, &tx, &mail_receipt, rcpts, message, &virus)
                }
                Ok(ScanResult::Clean) => {}
            }
            let envelope = Stored::put(p, message, Some(MessageKind::TransportEnvelope))?;
            let taken = delivery::sign(
                p,
                &Builder::new(&p.identity).taken_in_charge(&tx, &mail_receipt, rcpts),
            )?;
            let taken_now = p.store.write(|db| {
                // At most once per (identificativo, recipient): a replay is neither delivered
                // again nor given a second presa in carico.
                let mut fresh = Vec::new();
                for r in rcpts {
                    if db.claim_incoming("busta", &tx.identificativo, r, now)? {
                        fresh.push(r.clone());
                    }
                }
                for r in &fresh {
                    delivery::enqueue(
                        db,
                        QueueKind::Deliver,
                        mail_from,
                        std::slice::from_ref(r),
                        &envelope,
                        Some(&tx.identificativo),
                        now,
                    )?;
                }
                if fresh.is_empty() {
                    delivery::log(p, db, "busta-duplicata", &tx, "")?;
                    return Ok(false);
                }
                if !mail_receipt.is_empty() {
                    delivery::dispatch(db, &index, &taken, now)?;
                }
                delivery::log(p, db, "presa-in-carico", &tx, &taken.message_id)?;
                Ok(true)
            })?;
            if taken_now {
                p.metrics.message(Outcome::Accepted, "busta-trasporto");
                tracing::info!(
                    event = "presa-in-carico",
                    from = mail_from,
                    recipients = %rcpts.join(","),
                    receipt_to = %mail_receipt,
                    "transport envelope taken in charge at the incoming point; receipt emitted"
                );
            } else {
                tracing::info!(
                    event = "busta-duplicata",
                    "transport envelope already taken in charge"
                );
            }
            let identificativo = tx.identificativo;
            Ok(if taken_now {
                Received::TakenInCharge { identificativo }
            } else {
                Received::AlreadyTakenInCharge { identificativo }
            })
        }
        (true, Some(kind)) if kind != MessageKind::AnomalyEnvelope => {
            receipt(p, kind, &parsed, &verdict, mail_from, rcpts, message)
        }
        (false, _) if verdict.verdict != Verdict::NotPec => {
            let why = verdict.verdict.describe_it();
            ordinary(
                p,
                mail_from,
                rcpts,
                message,
                &format!("messaggio PEC non valido: {why}"),
            )
        }
        _ => ordinary(p, mail_from, rcpts, message, "messaggio di posta ordinaria"),
    }
}

/// RFC 6109 §3.2.3: a virus inside a valid envelope. Not delivered, kept in quarantine; the
/// sender's provider gets an avviso di rilevazione virus per local recipient.
fn virus_found(
    p: &Provider,
    tx: &Transaction,
    mail_receipt: &str,
    rcpts: &[String],
    message: Vec<u8>,
    virus: &str,
) -> Result<Received, StoreError> {
    let now = p.now();
    let builder = Builder::new(&p.identity);
    let notices = rcpts
        .iter()
        .map(|r| delivery::sign(p, &builder.virus_detected(tx, mail_receipt, r, virus)))
        .collect::<Result<Vec<_>, _>>()?;
    let blob = p.store.put_blob(&message)?;
    let index = p.index();
    p.store.write(|db| {
        db.quarantine(&store::Quarantine {
            time: now,
            blob: &blob,
            sender: &tx.sender,
            recipients: rcpts,
            virus,
            identificativo: Some(&tx.identificativo),
        })?;
        for n in &notices {
            if !mail_receipt.is_empty() {
                delivery::dispatch(db, &index, n, now)?;
            }
            delivery::log(p, db, "rilevazione-virus", tx, &n.message_id)?;
        }
        Ok(())
    })?;
    p.metrics.message(Outcome::Refused, "busta-trasporto");
    tracing::warn!(
        event = "rilevazione-virus",
        virus,
        "virus in a transport envelope: quarantined, notice emitted"
    );
    Ok(Received::VirusHeld {
        virus: virus.to_string(),
    })
}

/// Whose state a receipt of this kind reports, by its signed data: the recipient it was
/// delivered (or not) to, the recipients taken in charge, or none (the notices the sender's
/// own provider issues).
fn reported_addresses(kind: MessageKind, d: &pec::DatiCert) -> Vec<String> {
    match kind {
        MessageKind::Delivery(_)
        | MessageKind::NonDelivery
        | MessageKind::NonDeliveryVirus
        | MessageKind::VirusDetected => d.consegna.iter().cloned().collect(),
        MessageKind::TakenInCharge => d.ricezione.clone(),
        _ => vec![],
    }
}

/// Why a valid receipt may not touch our transaction (review H1), if it may not: it must be
/// about a transaction of ours, go to that transaction's sender, report only that
/// transaction's recipients, and be signed by the provider that manages each of them (for
/// the sender-side notices, the sender's: us).
fn receipt_refusal(
    t: Option<&store::PecTransaction>,
    signer: Option<&pec::ProviderEntry>,
    rcpts: &[String],
    service_address: &str,
    reported: &[String],
    d: &pec::DatiCert,
) -> Option<String> {
    let Some(t) = t else {
        return Some(format!(
            "ricevuta per una trasmissione ({}) che non è di questo gestore",
            d.identificativo
        ));
    };
    let Some(signer) = signer else {
        return Some("ricevuta senza gestore firmatario".into());
    };
    // Receipts go to the sender; presa in carico and rilevazione virus to our service
    // mailbox (RFC 6109 §3.2.1, §3.2.4: the sender's provider's mailReceipt).
    if let Some(r) = rcpts
        .iter()
        .find(|r| !r.eq_ignore_ascii_case(&t.sender) && !r.eq_ignore_ascii_case(service_address))
    {
        return Some(format!(
            "ricevuta indirizzata a {r}, che non è il mittente della trasmissione"
        ));
    }
    if !d.mittente.eq_ignore_ascii_case(&t.sender) {
        return Some("il mittente certificato non è quello della trasmissione".into());
    }
    let speaks_for: Vec<&str> = if reported.is_empty() {
        vec![t.sender.as_str()]
    } else {
        reported.iter().map(String::as_str).collect()
    };
    for a in &speaks_for {
        if !reported.is_empty()
            && !t
                .recipients
                .iter()
                .any(|x| x.address.eq_ignore_ascii_case(a))
        {
            return Some(format!("{a} non è un destinatario della trasmissione"));
        }
        let domain = pec::build::domain_of(a);
        if !signer.manages(domain) {
            return Some(format!(
                "il gestore firmatario ({}) non gestisce il dominio {domain}",
                signer.name
            ));
        }
    }
    None
}

/// A receipt or notice from another provider (or ours, looping back): into the sender's
/// mailbox, and our transaction's state moves on — only when the receipt is bound to that
/// transaction (see [`receipt_refusal`]), and once.
fn receipt(
    p: &Provider,
    kind: MessageKind,
    parsed: &pec::PecMessage,
    verification: &pec::Verification,
    mail_from: &str,
    rcpts: &[String],
    message: Vec<u8>,
) -> Result<Received, StoreError> {
    let now = p.now();
    let Some(d) = parsed.daticert.clone() else {
        return ordinary(
            p,
            mail_from,
            rcpts,
            message,
            "ricevuta senza dati di certificazione",
        );
    };
    let t = p.store.transaction(&d.identificativo)?;
    let reported = reported_addresses(kind, &d);
    if let Some(why) = receipt_refusal(
        t.as_ref(),
        verification.provider.as_ref(),
        rcpts,
        &p.identity.service_address(),
        &reported,
        &d,
    ) {
        tracing::warn!(event = "ricevuta-anomala", kind = kind.code(), why = %why, "receipt not bound to our transaction");
        return ordinary(p, mail_from, rcpts, message, &format!("anomalia: {why}"));
    }
    let stored = Stored::put(p, message, Some(kind))?;
    // RFC 6109 §3.2.4: the recipient's provider found a virus in one of our envelopes; our
    // sender gets the avviso di mancata consegna per virus.
    let virus_notice = match (&t, kind, &d.consegna) {
        (Some(t), MessageKind::VirusDetected, Some(rcpt)) => {
            let tx = delivery::transaction_of(t, now);
            let why = format!(
                "virus rilevato dal gestore del destinatario: {}",
                d.errore_esteso.as_deref().unwrap_or("virus informatico")
            );
            Some((
                delivery::sign(
                    p,
                    &Builder::new(&p.identity).non_delivery(&tx, rcpt, pec::ErrorCode::Virus, &why),
                )?,
                rcpt.clone(),
                why,
                tx,
            ))
        }
        _ => None,
    };
    let index = p.index();
    let what = format!("{}:{}", kind.code(), reported.join(","));
    let fresh = p.store.write(|db| {
        let mut fresh = Vec::new();
        for r in rcpts {
            if db.claim_incoming(&what, &d.identificativo, r, now)? {
                fresh.push(r.clone());
            }
        }
        if fresh.is_empty() {
            return Ok(false);
        }
        if let Some((n, rcpt, why, tx)) = &virus_notice {
            delivery::dispatch(db, &index, n, now)?;
            db.update_recipient(
                &tx.identificativo,
                rcpt,
                DeliveryState::Failed,
                Some(why),
                now,
            )?;
            delivery::log(p, db, "mancata-consegna-virus", tx, &n.message_id)?;
        }
        for r in &fresh {
            if db.mailbox_exists(r)? {
                delivery::append(db, r, INBOX, &stored, now, false)?;
            }
        }
        let state = match kind {
            MessageKind::Delivery(_) => Some(DeliveryState::Delivered),
            MessageKind::NonDelivery | MessageKind::NonDeliveryVirus => Some(DeliveryState::Failed),
            MessageKind::TakenInCharge => Some(DeliveryState::TakenInCharge),
            _ => None,
        };
        if let Some(state) = state {
            for a in &reported {
                let detail = d.errore_esteso.as_deref();
                delivery::record_state(db, &d.identificativo, a, state, detail, now)?;
            }
        }
        let tx = Transaction::from_daticert(&d, PecTime::from_unix_or_epoch(now), &[]);
        delivery::log(
            p,
            db,
            &format!("ricevuta-{}", kind.code()),
            &tx,
            &stored.message_id,
        )?;
        Ok(true)
    })?;
    if fresh {
        p.metrics.message(Outcome::Accepted, kind.code());
    }
    tracing::info!(
        event = %format!("ricevuta-{}", kind.code()),
        fresh,
        reported = %reported.join(","),
        "receipt received at the incoming point"
    );
    Ok(if fresh {
        Received::ReceiptDelivered
    } else {
        Received::ReceiptAlreadyDelivered
    })
}

/// Ordinary mail (or a PEC message that does not verify) for PEC mailboxes: by default refused
/// (seed manual §2.6.6); per mailbox, forwarded to an ordinary address or delivered inside an
/// anomaly envelope (RFC 6109 §3.2.2). Never delivered as certified.
fn ordinary(
    p: &Provider,
    mail_from: &str,
    rcpts: &[String],
    message: Vec<u8>,
    why: &str,
) -> Result<Received, StoreError> {
    let now = p.now();
    let mut anomaly_for = Vec::new();
    let mut forward_to = Vec::new();
    let mut refused = Vec::new();
    for r in rcpts {
        match p.store.mailbox(r)? {
            Some(m) if m.ordinary_mail == "anomaly" => anomaly_for.push(r.clone()),
            Some(m) if m.ordinary_mail == "forward" && m.ordinary_forward.is_some() => {
                forward_to.extend(m.ordinary_forward.clone());
            }
            _ => refused.push(r.clone()),
        }
    }
    let infected = if anomaly_for.is_empty() && forward_to.is_empty() {
        None
    } else {
        match p.scan(&message) {
            Err(e) => return Ok(Received::Unavailable(Unavailable::Antivirus(e))),
            Ok(ScanResult::Infected(v)) => Some(v),
            Ok(ScanResult::Clean) => None,
        }
    };
    if let Some(virus) = infected {
        let blob = p.store.put_blob(&message)?;
        p.store.write(|db| {
            db.quarantine(&store::Quarantine {
                time: now,
                blob: &blob,
                sender: mail_from,
                recipients: rcpts,
                virus: &virus,
                identificativo: None,
            })
        })?;
        return Ok(Received::VirusRefused { virus });
    }
    if anomaly_for.is_empty() && forward_to.is_empty() {
        p.store.write(|db| {
            db.log_append(&store::LogRecord {
                time: now,
                event: "posta-ordinaria-rifiutata",
                msgid: "",
                sender: mail_from,
                recipients: rcpts,
                subject: why,
                related: &[],
                provider: &p.identity.name,
                actor: "",
            })?;
            Ok(())
        })?;
        p.metrics.message(Outcome::Refused, "posta-ordinaria");
        tracing::info!(
            event = "posta-ordinaria-rifiutata",
            from = mail_from,
            why,
            "ordinary mail refused"
        );
        return Ok(Received::OrdinaryRefused {
            why: why.to_string(),
        });
    }
    let time = PecTime::from_unix_or_epoch(now);
    let anomaly = if anomaly_for.is_empty() {
        None
    } else {
        Some(delivery::sign(
            p,
            &Builder::new(&p.identity).anomaly_envelope(&message, mail_from, time, why),
        )?)
    };
    let original = Stored::put(p, message, None)?;
    let forward_from = forward_sender(p, mail_from);
    let index = p.index();
    let local_forward: Vec<bool> = forward_to
        .iter()
        .map(|f| Ok(p.destination(f, &index)? == Destination::Local))
        .collect::<Result<_, StoreError>>()?;
    p.store.write(|db| {
        if let Some(a) = &anomaly {
            for r in &anomaly_for {
                delivery::append(db, r, INBOX, a, now, false)?;
            }
        }
        for (f, local) in forward_to.iter().zip(&local_forward) {
            if !local {
                let to = std::slice::from_ref(f);
                delivery::enqueue(
                    db,
                    QueueKind::Relay,
                    &forward_from,
                    to,
                    &original,
                    None,
                    now,
                )?;
            }
        }
        db.log_append(&store::LogRecord {
            time: now,
            event: "posta-ordinaria",
            msgid: "",
            sender: mail_from,
            recipients: rcpts,
            subject: why,
            related: &forward_to,
            provider: &p.identity.name,
            actor: "",
        })?;
        Ok(())
    })?;
    p.metrics.message(Outcome::Accepted, "posta-ordinaria");
    tracing::info!(
        event = "posta-ordinaria",
        from = mail_from,
        why,
        anomaly_envelopes = anomaly_for.len(),
        forwarded = forward_to.len(),
        "ordinary mail taken: in an anomaly envelope or forwarded"
    );
    Ok(Received::OrdinaryTaken)
}

/// The envelope sender of ordinary mail we forward: ours, not the original one, whose
/// domain's SPF does not list our servers (and DMARC would then fail). It is the original
/// rewritten with SRS, so a bounce comes back to us and goes on to the original sender
/// (see [`return_to_sender`]); a sender SRS cannot carry (too long) gets our service
/// address, where bounces are refused. A null reverse-path stays null (RFC 5321 §4.5.5: no
/// bounce of a bounce).
fn forward_sender(p: &Provider, original: &str) -> String {
    match p.srs.forward(original, &p.identity.domain, p.now()) {
        Ok(rewritten) => rewritten,
        Err(_) => p.identity.service_address(),
    }
}

/// Whether `rcpt` is a return address (SRS) of our forwards, before it is verified.
fn is_return_address(p: &Provider, rcpt: &str) -> bool {
    crate::srs::is_ours(rcpt, &p.identity.domain)
}

/// Where a bounce to the return address `rcpt` goes back to, or the 550 that refuses it:
/// only a verified address of ours, not expired, taking a bounce (null reverse-path: other
/// mail to it would make us an open relay towards whoever the address names), for a sender
/// outside our domains (our mailboxes never send ordinary mail through the MX, so such a
/// sender was forged and its bounce would be backscatter).
fn return_path(p: &Provider, mail_from: &str, rcpt: &str) -> Result<String, RecipientRefused> {
    let original = p
        .srs
        .reverse(rcpt, &p.identity.domain, p.now())
        .map_err(RecipientRefused::ReturnAddress)?;
    if !mail_from.is_empty() {
        return Err(RecipientRefused::NotABounce);
    }
    let destination = p
        .destination(&original, &p.index())
        .map_err(|_| RecipientRefused::Unavailable)?;
    if destination == Destination::Local {
        return Err(RecipientRefused::LocalSender);
    }
    Ok(original)
}

/// RCPT TO on the MX: our domains, or a verified return address of our forwards; the two
/// never in one transaction (RFC 5321 §3.3: a 452 makes the client send the rest in
/// another), so that each gets its own reply to its DATA.
pub fn check_recipient(
    p: &Provider,
    mail_from: &str,
    earlier: &[String],
    rcpt: &str,
) -> Result<(), RecipientRefused> {
    let returning = is_return_address(p, rcpt);
    if earlier.iter().any(|r| is_return_address(p, r) != returning) {
        return Err(RecipientRefused::MixedWithReturn);
    }
    if returning {
        return return_path(p, mail_from, rcpt).map(|_| ());
    }
    match accepts_recipient(p, rcpt) {
        Ok(true) => Ok(()),
        // Not known to be ours is not known to be someone else's: try again later.
        Err(_) => Err(RecipientRefused::Unavailable),
        Ok(false) => match p.store.domain(pec::build::domain_of(rcpt)) {
            // Still its previous provider's (issue 16): said so, and within a day of the
            // switch-over temporarily, so that nothing is lost in the pause.
            Ok(Some(d)) if d.state == store::DomainState::Migrating => {
                let now = p.now();
                Err(RecipientRefused::NotYetActive {
                    switch_at: d.switch_at,
                    soon: d.switch_at.is_some_and(|t| t - now < 86_400),
                })
            }
            Ok(_) => Err(RecipientRefused::RelayDenied),
            Err(_) => Err(RecipientRefused::Unavailable),
        },
    }
}

/// A bounce of ordinary mail we forwarded, sent to our SRS return addresses: verified
/// again, then relayed to the original senders with a null reverse-path.
fn return_to_sender(
    p: &Provider,
    mail_from: &str,
    rcpts: &[String],
    message: Vec<u8>,
) -> Result<Received, StoreError> {
    let mut originals = Vec::with_capacity(rcpts.len());
    for r in rcpts {
        match return_path(p, mail_from, r) {
            Ok(original) => originals.push(original),
            Err(refused) => return Ok(Received::Recipient(refused)),
        }
    }
    match p.scan(&message) {
        Err(e) => return Ok(Received::Unavailable(Unavailable::Antivirus(e))),
        Ok(ScanResult::Infected(virus)) => return Ok(Received::VirusRefused { virus }),
        Ok(ScanResult::Clean) => {}
    }
    let now = p.now();
    let bounce = Stored::put(p, message, None)?;
    p.store.write(|db| {
        for original in &originals {
            let to = std::slice::from_ref(original);
            delivery::enqueue(db, QueueKind::Relay, "", to, &bounce, None, now)?;
        }
        db.log_append(&store::LogRecord {
            time: now,
            event: "ritorno-inoltro",
            msgid: "",
            sender: mail_from,
            recipients: rcpts,
            subject: "avviso di mancato recapito di posta ordinaria inoltrata",
            related: &originals,
            provider: &p.identity.name,
            actor: "",
        })?;
        Ok(())
    })?;
    Ok(Received::BounceReturned)
}
