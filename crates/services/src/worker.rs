//! The queue workers: claim an item with a lease, do it, and either remove it (in the same
//! commit as its effects) or schedule a retry with back-off. A crash only delays work: the
//! lease runs out and another worker takes the item again.

use crate::delivery;
use crate::provider::{Destination, Provider};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use std::sync::Arc;
use std::time::Duration;
use store::QueueItem;
use tokio::sync::Notify;

const LEASE_SECS: i64 = 300;

/// Runs the queue until the process ends. `wake` is notified when work is queued.
pub async fn run_queue(p: Arc<Provider>, wake: Arc<Notify>) {
    loop {
        let claimed = {
            let p = p.clone();
            tokio::task::spawn_blocking(move || p.store.queue_claim(p.now(), LEASE_SECS)).await
        };
        match claimed {
            Ok(Ok(Some(item))) => process(&p, item).await,
            Ok(Ok(None)) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Runs the 12 h / 24 h timers every `every`.
pub async fn run_timers(p: Arc<Provider>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let p = p.clone();
        let _ = tokio::task::spawn_blocking(move || crate::timers::run_once(&p)).await;
    }
}

async fn process(p: &Arc<Provider>, item: QueueItem) {
    match item.kind.as_str() {
        "deliver" => {
            let (p2, it) = (p.clone(), item.clone());
            let r = tokio::task::spawn_blocking(move || delivery::deliver(&p2, &it)).await;
            if !matches!(r, Ok(Ok(()))) {
                retry(p, &item, "errore interno di consegna").await;
            }
        }
        "relay" => relay(p, item).await,
        _ => retry(p, &item, "tipo di elemento sconosciuto").await,
    }
}

async fn retry(p: &Arc<Provider>, item: &QueueItem, why: &str) {
    let (p2, it, why) = (p.clone(), item.clone(), why.to_string());
    let _ = tokio::task::spawn_blocking(move || {
        let now = p2.now();
        if now - it.created > p2.timers.max_queue_secs {
            let why = format!("consegna non riuscita entro il tempo massimo: {why}");
            let failed: Vec<(String, String)> = delivery::relay_recipients(&it)
                .into_iter()
                .map(|r| (r, why.clone()))
                .collect();
            delivery::relay_finished(&p2, &it, &[], "", &failed)
        } else {
            p2.store.queue_retry(
                it.id,
                now + delivery::backoff(
                    p2.timers.retry_secs,
                    p2.timers.retry_max_secs,
                    it.attempts,
                ),
                &why,
            )
        }
    })
    .await;
}

fn connector(ca_pem: Option<&str>) -> Result<SslConnector, openssl::error::ErrorStack> {
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::PEER);
    if let Some(pem) = ca_pem {
        for c in X509::stack_from_pem(pem.as_bytes())? {
            b.cert_store_mut().add_cert(c)?;
        }
    }
    Ok(b.build())
}

async fn relay(p: &Arc<Provider>, item: QueueItem) {
    let (p2, it) = (p.clone(), item.clone());
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, store::StoreError> {
        let data = p2.store.blob(&it.blob)?;
        let rcpts = delivery::relay_recipients(&it);
        let first = rcpts.first().cloned().unwrap_or_default();
        let domain = pec::build::domain_of(&first).to_string();
        let route = p2.store.route(&domain)?;
        let pec_peer = matches!(p2.destination(&first, &p2.index()), Destination::Pec(_));
        Ok((data, domain, route, pec_peer))
    })
    .await;
    let Ok(Ok((data, domain, route, pec_peer))) = prepared else {
        retry(p, &item, "messaggio non leggibile dall'archivio").await;
        return;
    };
    // A static route, or the domain itself on port 25 (MX lookup is not implemented yet).
    let (host, port, ca) = match &route {
        Some(r) => (r.host.clone(), r.port, r.ca_pem.clone()),
        None => (domain.clone(), 25, None),
    };
    let tls = match connector(ca.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            retry(p, &item, &format!("configurazione TLS: {e}")).await;
            return;
        }
    };
    let rcpts = delivery::relay_recipients(&item);
    let d = smtp::client::Delivery {
        host: &host,
        port,
        tls_name: &host,
        helo: &p.hostname,
        tls: &tls,
        require_tls: pec_peer,
        mail_from: &item.mail_from,
        rcpt_to: &rcpts,
        data: &data,
    };
    match smtp::client::deliver(&d).await {
        Ok(outcome) => {
            let (p2, it) = (p.clone(), item.clone());
            let hop = format!("{host}:{port}");
            let _ = tokio::task::spawn_blocking(move || {
                delivery::relay_finished(&p2, &it, &outcome.accepted, &hop, &outcome.refused)
            })
            .await;
        }
        Err(smtp::client::ClientError::Permanent(why)) => {
            let (p2, it) = (p.clone(), item.clone());
            let hop = format!("{host}:{port}");
            let failed: Vec<(String, String)> =
                rcpts.iter().map(|r| (r.clone(), why.clone())).collect();
            let _ = tokio::task::spawn_blocking(move || {
                delivery::relay_finished(&p2, &it, &[], &hop, &failed)
            })
            .await;
        }
        Err(smtp::client::ClientError::Temporary(why)) => retry(p, &item, &why).await,
    }
}
