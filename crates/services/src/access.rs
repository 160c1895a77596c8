//! The access point (RFC 6109 §3.1): an authenticated user's message is checked (§3.1.1);
//! either a signed non-acceptance goes back (§3.1.2), or one time stamp certifies the
//! acceptance (§3.1.4) and the transport envelope (§3.1.5), and each recipient is queued.
//! [`Submitted::Accepted`] (SMTP's `250`) is returned only after all of it is on disk.

use crate::antivirus::ScanResult;
use crate::delivery::{self, Stored};
use crate::metrics::Outcome;
use crate::outcome::{Submitted, Unavailable};
use crate::principal::{Permission, Principal};
use crate::provider::{Destination, Provider};
use pec::text::Lang;
use pec::{Builder, PecTime, Transaction};
use store::{DeliveryState, PecTransaction, QueueKind, RecipientState, StoreError, INBOX, SENT};

/// Submits `message` from the mailbox of `who`, who must have the right to send.
pub fn submit(
    p: &Provider,
    who: &Principal,
    mail_from: &str,
    rcpts: &[String],
    message: &[u8],
) -> Submitted {
    if let Err(denied) = who.require(Permission::Send) {
        return Submitted::Denied(denied);
    }
    // A collaborator's login holds only while the collaboration does (revoked since, the
    // session may still be open).
    match crate::collaboration::still_valid(p, who) {
        Ok(true) => {}
        Ok(false) => return Submitted::Denied(crate::principal::Denied(Permission::Send)),
        Err(e) => return Submitted::Unavailable(Unavailable::Store(e)),
    }
    // A box of a domain still moving from its previous provider sends from the switch-over
    // (issue 16); it may log in and copy its old mail meanwhile.
    match p.store.domain(pec::build::domain_of(&who.address)) {
        Ok(Some(d)) if d.state == store::DomainState::Migrating => {
            return Submitted::NotYetActive {
                switch_at: d.switch_at,
            }
        }
        Ok(_) => {}
        Err(e) => return Submitted::Unavailable(Unavailable::Store(e)),
    }
    let sent_by = who.delegate.as_ref().map(|d| d.username.as_str());
    match try_submit(p, &who.address, sent_by, mail_from, rcpts, message) {
        Ok(r) => {
            if let Submitted::Accepted { identificativo } = &r {
                crate::collaboration::record(p, who, "invio", identificativo);
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "access point: message not taken (temporary error)");
            Submitted::Unavailable(Unavailable::Store(e))
        }
    }
}

/// `sent_by`: the collaborator sending from the box (multiutenza): the box stays the
/// certified sender (RFC 6109 and the law); the legal log's actor and the transaction name
/// them.
fn try_submit(
    p: &Provider,
    mailbox: &str,
    sent_by: Option<&str>,
    mail_from: &str,
    rcpts: &[String],
    message: &[u8],
) -> Result<Submitted, StoreError> {
    let now = p.now();
    let time = PecTime::from_unix_or_epoch(now);
    let index = p.index();
    let serial = p
        .serial()
        .map_err(|e| StoreError::Internal(format!("generatore casuale: {e}")))?;
    let ident = pec::build::new_identificativo(time, serial, &p.identity.domain);
    // Every line about this transaction carries its identificativo.
    let _span = tracing::info_span!("pec", id = %ident).entered();
    // Which recipients' domains are ours, asked before: a store error refuses the message
    // (temporarily) instead of reading as "not a PEC domain".
    let mut local_domains = std::collections::HashSet::new();
    for r in rcpts {
        let d = pec::build::domain_of(r);
        if p.store.is_local_domain(d)? {
            local_domains.insert(d.to_ascii_lowercase());
        }
    }
    let tx = Transaction::from_original(message, mail_from, rcpts, ident.clone(), time, |d| {
        local_domains.contains(&d.to_ascii_lowercase()) || index.is_pec_domain(d)
    });
    let builder = Builder::new(&p.identity);
    let violations = pec::checks::formal_checks(mail_from, rcpts, message, &p.limits.pec);
    if !violations.is_empty() {
        // Build §3: each reason in Italian, then in English, in the notice's text, in its
        // daticert `errore-esteso` (free text, RFC 6109 §4.4) and in the SMTP reply.
        let reasons: Vec<String> = violations
            .iter()
            .map(|v| format!("{} / {}", v.message(Lang::It), v.message(Lang::En)))
            .collect();
        let notice = delivery::sign(p, &builder.non_acceptance(&tx, &reasons, false))?;
        p.store.write(|db| {
            delivery::append(db, mailbox, INBOX, &notice, now, false)?;
            delivery::log(p, db, "non-accettazione", &tx, &notice.message_id)?;
            Ok(())
        })?;
        p.metrics.message(Outcome::Refused, "posta-certificata");
        tracing::info!(
            event = "non-accettazione",
            from = mail_from,
            reasons = %reasons.join("; "),
            "not accepted at the access point; notice sent"
        );
        return Ok(Submitted::NotAccepted { reasons });
    }

    // RFC 6109 §3.1.3: a virus makes the message not accepted; it is kept in quarantine.
    match p.scan(message) {
        Err(e) => return Ok(Submitted::Unavailable(Unavailable::Antivirus(e))),
        Ok(ScanResult::Infected(virus)) => {
            let notice = delivery::sign(
                p,
                &builder.non_acceptance(&tx, std::slice::from_ref(&virus), true),
            )?;
            let blob = p.store.put_blob(message)?;
            p.store.write(|db| {
                db.quarantine(&store::Quarantine {
                    time: now,
                    blob: &blob,
                    sender: mail_from,
                    recipients: rcpts,
                    virus: &virus,
                    identificativo: Some(&ident),
                })?;
                delivery::append(db, mailbox, INBOX, &notice, now, false)?;
                delivery::log(p, db, "non-accettazione-virus", &tx, &notice.message_id)?;
                Ok(())
            })?;
            p.metrics.message(Outcome::Refused, "posta-certificata");
            tracing::warn!(
                event = "non-accettazione-virus",
                from = mail_from,
                virus = %virus,
                "virus at the access point: quarantined, notice sent"
            );
            return Ok(Submitted::Virus { virus });
        }
        Ok(ScanResult::Clean) => {}
    }

    let envelope = delivery::sign(p, &builder.transport_envelope(&tx, message))?;
    let acceptance = delivery::sign(p, &builder.acceptance(&tx))?;
    let carried =
        pec::headers::rewrite_message_id(&pec::wire::to_crlf(message), &ident, tx.msgid.as_deref());
    // The copy in Posta inviata carries the transaction's identificativo, so its receipts and
    // per-recipient status can be found from it.
    let mut sent_copy = Stored::put(p, carried, None)?;
    sent_copy.meta.identificativo = Some(ident.clone());
    let routes: Vec<(String, Destination)> = rcpts
        .iter()
        .map(|r| Ok((r.clone(), p.destination(r, &index)?)))
        .collect::<Result<_, StoreError>>()?;
    p.store.write(|db| {
        db.create_transaction(&PecTransaction {
            identificativo: ident.clone(),
            sender: mail_from.to_string(),
            subject: tx.subject.clone(),
            msgid: tx.msgid.clone(),
            receipt_type: tx.receipt_type,
            created: now,
            recipients: tx
                .recipients
                .iter()
                .map(|r| RecipientState {
                    address: r.address.clone(),
                    kind: r.kind,
                    state: if r.kind == pec::RecipientKind::Esterno {
                        DeliveryState::SentOrdinary
                    } else {
                        DeliveryState::Accepted
                    },
                    detail: None,
                    updated: now,
                    taken_in_charge: false,
                    notice_12h: false,
                    notice_24h: false,
                })
                .collect(),
            sent_by: sent_by.map(str::to_string),
        })?;
        delivery::append(db, mailbox, INBOX, &acceptance, now, false)?;
        delivery::append_flagged(db, mailbox, SENT, &sent_copy, now, "\\Seen")?;
        // One delivery per local recipient; one SMTP transaction per remote domain, so the
        // other provider takes all its recipients in charge at once (RFC 6109 §3.2.1).
        let mut remote: Vec<(String, Vec<String>)> = Vec::new();
        for (rcpt, dest) in &routes {
            if *dest == Destination::Local {
                delivery::enqueue(
                    db,
                    QueueKind::Deliver,
                    mail_from,
                    std::slice::from_ref(rcpt),
                    &envelope,
                    Some(&ident),
                    now,
                )?;
                continue;
            }
            let domain = pec::build::domain_of(rcpt).to_ascii_lowercase();
            match remote.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, list)) => list.push(rcpt.clone()),
                None => remote.push((domain, vec![rcpt.clone()])),
            }
        }
        for (_, list) in &remote {
            delivery::enqueue(
                db,
                QueueKind::Relay,
                mail_from,
                list,
                &envelope,
                Some(&ident),
                now,
            )?;
        }
        let actor = sent_by.map(|u| format!("collaboratore:{u}"));
        delivery::log_by(
            p,
            db,
            "accettazione",
            &tx,
            &acceptance.message_id,
            actor.as_deref().unwrap_or(""),
        )?;
        delivery::log(p, db, "busta-trasporto", &tx, &envelope.message_id)?;
        Ok(())
    })?;
    p.metrics.message(Outcome::Accepted, "posta-certificata");
    // The acceptance and the sent copy grew the box (after the commit: a failed warning
    // never undoes an acceptance).
    if let Err(e) = crate::quota::check(p, mailbox) {
        tracing::warn!(error = %e, mailbox = %mailbox, "quota warning not checked");
    }
    tracing::info!(
        event = "accettazione",
        from = mail_from,
        recipients = rcpts.len(),
        "accepted at the access point; acceptance receipt emitted"
    );
    tracing::info!(
        event = "busta-trasporto",
        envelope = %envelope.message_id,
        local = routes.iter().filter(|(_, d)| *d == Destination::Local).count(),
        remote = routes.iter().filter(|(_, d)| *d != Destination::Local).count(),
        "transport envelope built and queued"
    );
    Ok(Submitted::Accepted {
        identificativo: ident,
    })
}
