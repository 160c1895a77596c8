//! RFC 6109 §3.1.6: a certified recipient with no delivery receipt 12 hours after dispatch
//! (and no presa in carico) gets the sender a first notice; with none after 24 hours (not
//! before 22), a second one, and the transaction is closed as failed. Durations come from
//! the configuration so tests can shorten them.

use crate::delivery;
use crate::metrics::Outcome;
use crate::provider::Provider;
use pec::{Builder, RecipientKind, TimeoutStage};
use store::{DeliveryState, StoreError};

/// Sends the notices that are due; returns how many.
pub fn run_once(p: &Provider) -> Result<usize, StoreError> {
    let now = p.now();
    crate::takeover::remind_due(p)?;
    crate::takeover::switch_due(p)?;
    p.store.purge_quarantine(now)?;
    p.store.purge_log(now)?;
    let mut sent = 0;
    for ident in p
        .store
        .pending_transactions(&DeliveryState::AWAITING_RECEIPT)?
    {
        let Some(t) = p.store.transaction(&ident)? else {
            continue;
        };
        let elapsed = now - t.created;
        let tx = delivery::transaction_of(&t, now);
        for r in &t.recipients {
            let waiting = r.kind == RecipientKind::Certificato && r.state.awaits_receipt();
            if !waiting {
                continue;
            }
            let stage = if elapsed >= p.timers.notice_24h_secs && !r.notice_24h {
                TimeoutStage::Hours24
            } else if elapsed >= p.timers.notice_12h_secs
                && !r.notice_12h
                && !r.taken_in_charge
                && !r.notice_24h
            {
                TimeoutStage::Hours12
            } else {
                continue;
            };
            let notice = delivery::sign(
                p,
                &Builder::new(&p.identity).delivery_timeout(&tx, &r.address, stage),
            )?;
            let index = p.index();
            let event = if stage == TimeoutStage::Hours24 {
                "preavviso-24h"
            } else {
                "preavviso-12h"
            };
            p.store.write(|db| {
                delivery::dispatch(db, &index, &notice, now)?;
                db.mark_notice(
                    &t.identificativo,
                    &r.address,
                    stage == TimeoutStage::Hours24,
                )?;
                if stage == TimeoutStage::Hours24 {
                    db.update_recipient(
                        &t.identificativo,
                        &r.address,
                        DeliveryState::TimedOut,
                        Some("nessuna ricevuta di consegna entro 24 ore"),
                        now,
                    )?;
                }
                delivery::log(p, db, event, &tx, &notice.message_id)?;
                Ok(())
            })?;
            if stage == TimeoutStage::Hours24 {
                p.metrics.message(Outcome::Failed, "mancata-consegna-24h");
            }
            tracing::warn!(
                id = %t.identificativo,
                rcpt = %r.address,
                event,
                "no delivery receipt in time: timeout notice emitted"
            );
            sent += 1;
        }
    }
    Ok(sent)
}
