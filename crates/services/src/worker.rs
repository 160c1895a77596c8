//! The queue workers: claim an item with a lease, do it, and either remove it (in the same
//! commit as its effects) or schedule a retry with back-off. A crash only delays work: the
//! lease runs out and another worker takes the item again.

use crate::delivery;
use crate::dns::{self, DnsError};
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

/// Indexes the text of messages stored before the full-text index existed, once, at start.
pub async fn index_stored_text(p: Arc<Provider>) {
    let r = tokio::task::spawn_blocking(move || delivery::index_stored_text(&p, 256)).await;
    match r {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => println!("Certa: testo di {n} messaggi aggiunto all'indice di ricerca"),
        Ok(Err(e)) => eprintln!("Certa: indice di ricerca non completato: {e}"),
        Err(e) => eprintln!("Certa: indice di ricerca non completato: {e}"),
    }
}

/// How long released message bytes wait before their space is given back: longer than any
/// write takes from storing the bytes to committing what refers to them.
pub const BLOB_GRACE_SECS: i64 = 3600;

/// Gives back the space of message bytes nobody references any more, every `every`.
pub async fn run_blob_collection(p: Arc<Provider>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let p = p.clone();
        let r = tokio::task::spawn_blocking(move || loop {
            let pass = p.store.collect_blobs(p.now(), BLOB_GRACE_SECS, 1000)?;
            if pass.checked < 1000 {
                return Ok::<_, store::StoreError>(());
            }
        })
        .await;
        if let Ok(Err(e)) = r {
            eprintln!("Certa: raccolta dello spazio dei messaggi non riuscita: {e}");
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

/// One next hop to try: where to connect and the name its certificate must carry.
struct Hop {
    connect: String,
    port: u16,
    tls_name: String,
}

/// The next hops of a domain: its static route, or its mail exchangers from DNS (RFC 5321
/// §5.1), each with its addresses.
fn next_hops(
    p: &Provider,
    domain: &str,
    route: Option<&store::Route>,
) -> Result<Vec<Hop>, DnsError> {
    if let Some(r) = route {
        return Ok(vec![Hop {
            connect: r.host.clone(),
            port: r.port,
            tls_name: r.host.clone(),
        }]);
    }
    let resolver = p
        .dns_resolver
        .or_else(dns::system_resolver)
        .ok_or_else(|| DnsError::Temporary("nessun resolver DNS configurato".into()))?;
    let mut hops = Vec::new();
    for mx in dns::mail_exchangers(resolver, domain)? {
        for ip in dns::addresses(resolver, &mx)? {
            hops.push(Hop {
                connect: ip.to_string(),
                port: p.mx_port,
                tls_name: mx.clone(),
            });
        }
    }
    Ok(hops)
}

async fn relay(p: &Arc<Provider>, item: QueueItem) {
    let (p2, it) = (p.clone(), item.clone());
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let data = p2.store.blob(&it.blob).map_err(|e| e.to_string())?;
        let rcpts = delivery::relay_recipients(&it);
        let first = rcpts.first().cloned().unwrap_or_default();
        let domain = pec::build::domain_of(&first).to_string();
        let route = p2.store.route(&domain).map_err(|e| e.to_string())?;
        let pec_peer = matches!(p2.destination(&first, &p2.index()), Destination::Pec(_));
        let hops = next_hops(&p2, &domain, route.as_ref());
        let ca = route
            .and_then(|r| r.ca_pem)
            .or_else(|| p2.peer_ca_pem.clone());
        Ok((data, hops, ca, pec_peer))
    })
    .await;
    let (data, hops, ca, pec_peer) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            return retry(
                p,
                &item,
                &format!("messaggio non leggibile dall'archivio: {e}"),
            )
            .await
        }
        Err(e) => return retry(p, &item, &e.to_string()).await,
    };
    let rcpts = delivery::relay_recipients(&item);
    let hops = match hops {
        Ok(h) if !h.is_empty() => h,
        Ok(_) => {
            return retry(
                p,
                &item,
                "nessun indirizzo per i server di posta del dominio",
            )
            .await
        }
        Err(DnsError::NoSuchDomain(d)) => {
            let why = format!("il dominio {d} non esiste");
            return finish(
                p,
                &item,
                vec![],
                "DNS".into(),
                rcpts.iter().map(|r| (r.clone(), why.clone())).collect(),
            )
            .await;
        }
        Err(e) => return retry(p, &item, &e.to_string()).await,
    };
    let tls = match connector(ca.as_deref()) {
        Ok(c) => c,
        Err(e) => return retry(p, &item, &format!("configurazione TLS: {e}")).await,
    };
    let mut last = String::new();
    for hop in &hops {
        let d = smtp::client::Delivery {
            host: &hop.connect,
            port: hop.port,
            tls_name: &hop.tls_name,
            helo: &p.hostname,
            tls: &tls,
            require_tls: pec_peer,
            mail_from: &item.mail_from,
            rcpt_to: &rcpts,
            data: &data,
        };
        let name = format!("{}:{} ({})", hop.connect, hop.port, hop.tls_name);
        match smtp::client::deliver(&d).await {
            Ok(outcome) => return finish(p, &item, outcome.accepted, name, outcome.refused).await,
            Err(smtp::client::ClientError::Permanent(why)) => {
                let failed = rcpts.iter().map(|r| (r.clone(), why.clone())).collect();
                return finish(p, &item, vec![], name, failed).await;
            }
            // The next exchanger may be reachable.
            Err(smtp::client::ClientError::Temporary(why)) => last = format!("{name}: {why}"),
        }
    }
    retry(p, &item, &last).await
}

async fn finish(
    p: &Arc<Provider>,
    item: &QueueItem,
    accepted: Vec<String>,
    hop: String,
    failed: Vec<(String, String)>,
) {
    let (p2, it) = (p.clone(), item.clone());
    let _ = tokio::task::spawn_blocking(move || {
        delivery::relay_finished(&p2, &it, &accepted, &hop, &failed)
    })
    .await;
}
