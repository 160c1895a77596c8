//! The queue workers: claim an item with a lease, do it, and either remove it (in the same
//! commit as its effects) or schedule a retry with back-off. A crash only delays work: the
//! lease runs out and another worker takes the item again.
//!
//! Hostile or broken peers cannot stop the queue:
//! - local deliveries and relays have separate workers, so mail for our own mailboxes never
//!   waits behind a remote destination;
//! - a destination (the recipient domain) has at most `per_destination` relays at once:
//!   the claim skips it while it is busy, so one slow domain cannot take every worker;
//! - each item runs in its own task with a deadline: a panic or a stall fails that item,
//!   never the worker; while it runs its lease is renewed, so no other worker sends it too;
//! - an item that fails the same way `park_after` times in a row (a panic, an internal
//!   error, a peer that breaks the protocol or stalls) is parked until an administrator
//!   retries or drops it (`certa queue`); a destination that is only down keeps its
//!   RFC 6109 schedule (retries, then the non-delivery notice).

use crate::delivery;
use crate::dns::{self, DnsError};
use crate::metrics::RelayOutcome;
use crate::provider::{Destination, Provider};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::QueueFailureKind as FailureKind;
use store::{QueueClaim, QueueFailure, QueueItem, QueueKind};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// How the queue runs; `[queue]` in certa.toml.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// Concurrent local deliveries (never shared with relays).
    pub local_workers: usize,
    /// Concurrent relays to other servers.
    pub remote_workers: usize,
    /// Concurrent relays to one destination domain.
    pub per_destination: usize,
    /// Failures of the same kind in a row after which an item is parked.
    pub park_after: i64,
    /// A claimed item is someone's for this long; renewed while it is worked on.
    pub lease_secs: i64,
    /// Each network step of a relay: connect, greeting, TLS handshake, each reply, each
    /// 64 KiB of DATA.
    pub step_timeout: Duration,
    /// The whole relay of a message (all its next hops), shorter than the lease…
    pub transaction_timeout: Duration,
    /// …plus the time its bytes take at this rate (a large message on a slow link).
    pub min_bytes_per_sec: u64,
    /// Follow MX records to loopback and private addresses (private networks, tests); static
    /// routes may always name them.
    pub allow_private_mx: bool,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            // A local delivery waits for its group commit, not for a peer: more of them at
            // once share each commit (4 → 16 made the pipeline benchmark 20-40 % faster).
            local_workers: 16,
            remote_workers: 8,
            per_destination: 2,
            park_after: 5,
            lease_secs: 300,
            step_timeout: Duration::from_secs(60),
            transaction_timeout: Duration::from_secs(240),
            min_bytes_per_sec: 16 * 1024,
            allow_private_mx: false,
        }
    }
}

impl QueueSettings {
    /// How long relaying `bytes` may take.
    fn deadline(&self, bytes: usize) -> Duration {
        self.transaction_timeout + Duration::from_secs(bytes as u64 / self.min_bytes_per_sec.max(1))
    }
}

#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    why: String,
}

impl Failure {
    fn new(kind: FailureKind, why: impl Into<String>) -> Failure {
        Failure {
            kind,
            why: why.into(),
        }
    }
}

/// Runs the queue until the process ends: one dispatcher for local deliveries, one for
/// relays. They wake when the store's change feed says work was queued.
pub async fn run_queue(p: Arc<Provider>, settings: QueueSettings) {
    let settings = Arc::new(settings);
    let local = tokio::spawn(dispatch_deliveries(p.clone(), settings.clone()));
    dispatch_relays(p, settings).await;
    let _ = local.await;
}

/// Claims local deliveries for every free worker at once, in one claim (a claim returns
/// only after its commit, so claiming one at a time would cap deliveries at one per
/// commit), each into its own task.
async fn dispatch_deliveries(p: Arc<Provider>, settings: Arc<QueueSettings>) {
    const LOCAL: &[QueueKind] = &[QueueKind::Deliver];
    let slots = Arc::new(Semaphore::new(settings.local_workers.max(1)));
    let mut queued = p.store.changes().watch_queue();
    loop {
        let Ok(first) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut free = vec![first];
        while let Ok(more) = slots.clone().try_acquire_owned() {
            free.push(more);
        }
        // Whatever is queued from now on wakes the wait below, even before it starts.
        queued.borrow_and_update();
        let claimed = {
            let (p, lease, max) = (p.clone(), settings.lease_secs, free.len());
            tokio::task::spawn_blocking(move || {
                p.store.queue_claim_many(
                    p.now(),
                    lease,
                    &QueueClaim {
                        kinds: LOCAL,
                        skip_destinations: &[],
                    },
                    max,
                )
            })
            .await
        };
        match claimed {
            Ok(Ok(items)) if !items.is_empty() => {
                for (item, slot) in items.into_iter().zip(free) {
                    let (p, settings) = (p.clone(), settings.clone());
                    let span = item_span(&item);
                    tokio::spawn(
                        async move {
                            attempt(&p, &settings, item).await;
                            drop(slot);
                        }
                        .instrument(span),
                    );
                }
            }
            Ok(Ok(_)) => {
                drop(free);
                let _ = tokio::time::timeout(Duration::from_millis(500), queued.changed()).await;
            }
            _ => {
                drop(free);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// An item's log lines carry its transaction's identificativo (a relayed receipt has it
/// recorded once its bytes are read).
fn item_span(item: &QueueItem) -> tracing::Span {
    tracing::info_span!(
        "queue",
        item = item.id.0,
        kind = %item.kind,
        attempt = item.attempts,
        id = item.identificativo.as_deref().map(tracing::field::display),
    )
}

/// Counts the attempts in flight per destination; one is released when its guard drops,
/// however the attempt ended.
#[derive(Default)]
struct InFlight(Mutex<HashMap<String, usize>>);

impl InFlight {
    fn busy(&self, limit: usize) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|(_, n)| **n >= limit)
            .map(|(d, _)| d.clone())
            .collect()
    }

    fn enter(self: &Arc<Self>, destination: &str) -> InFlightGuard {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(destination.to_string()).or_default() += 1;
        InFlightGuard {
            set: self.clone(),
            destination: destination.to_string(),
        }
    }
}

struct InFlightGuard {
    set: Arc<InFlight>,
    destination: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.set.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.destination) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.destination);
            }
        }
    }
}

/// Claims relays while it has free workers, each into its own task, at most
/// `per_destination` at once to one destination.
async fn dispatch_relays(p: Arc<Provider>, settings: Arc<QueueSettings>) {
    const RELAYS: &[QueueKind] = &[QueueKind::Relay];
    let capacity = settings.remote_workers.max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let in_flight = Arc::new(InFlight::default());
    let mut queued = p.store.changes().watch_queue();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // Whatever is queued from now on wakes the wait below, even before it starts.
        queued.borrow_and_update();
        let skip = in_flight.busy(settings.per_destination.max(1));
        let claimed = {
            let (p, lease) = (p.clone(), settings.lease_secs);
            tokio::task::spawn_blocking(move || {
                p.store.queue_claim(
                    p.now(),
                    lease,
                    &QueueClaim {
                        kinds: RELAYS,
                        skip_destinations: &skip,
                    },
                )
            })
            .await
        };
        match claimed {
            Ok(Ok(Some(item))) => {
                let guard = in_flight.enter(&item.destination);
                let (p, settings) = (p.clone(), settings.clone());
                let span = item_span(&item);
                tokio::spawn(
                    async move {
                        attempt(&p, &settings, item).await;
                        drop((guard, slot));
                        // A destination may have room again.
                        p.store.changes().queue_changed();
                    }
                    .instrument(span),
                );
            }
            Ok(Ok(None)) => {
                drop(slot);
                let _ = tokio::time::timeout(Duration::from_millis(500), queued.changed()).await;
            }
            _ => {
                drop(slot);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One attempt at one item, isolated: its own task (a panic is that item's failure), its
/// lease renewed while it runs, and a deadline as a backstop.
async fn attempt(p: &Arc<Provider>, settings: &Arc<QueueSettings>, item: QueueItem) {
    let renewal = {
        let (p, id, lease) = (p.clone(), item.id, settings.lease_secs);
        tokio::spawn(async move {
            let every = Duration::from_secs((lease as u64 / 3).max(1));
            loop {
                tokio::time::sleep(every).await;
                let p = p.clone();
                let renewed =
                    tokio::task::spawn_blocking(move || p.store.queue_renew(id, p.now() + lease))
                        .await;
                // Gone (done, or dropped by the administrator): nothing left to keep. A store
                // error is tried again at the next turn, well before the lease runs out.
                if matches!(renewed, Ok(Ok(false))) {
                    return;
                }
            }
        })
    };
    let mut task = {
        let (p, settings, item) = (p.clone(), settings.clone(), item.clone());
        tokio::spawn(async move { process(&p, &settings, item).await }.in_current_span())
    };
    // The relay bounds itself by its size; this only catches what escapes that bound.
    let backstop = settings.deadline(p.limits.max_message_bytes) + 2 * settings.step_timeout;
    let outcome = match tokio::time::timeout(backstop, &mut task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Err(Failure::new(
            FailureKind::Panic,
            format!("errore interno (panic): {e}"),
        )),
        Err(_) => {
            task.abort();
            Err(Failure::new(
                FailureKind::Deadline,
                format!("tempo massimo di {backstop:?} superato"),
            ))
        }
    };
    renewal.abort();
    if let Err(f) = outcome {
        fail(p, settings, &item, f).await;
    }
}

/// The background indexer: messages are stored without their text in the full-text index
/// (out of the delivery's transaction, issue 14); this indexes them in batches, looking
/// again every `every` when it has caught up. Searches read what is not indexed yet.
pub async fn run_text_index(p: Arc<Provider>, every: Duration) {
    // Something queued since the last batch means messages are flowing: the indexer then
    // takes one small batch every `INDEX_BUSY_PAUSE`, leaving the writer to the deliveries (the
    // index catches up when the peak is over; searches are right meanwhile).
    let mut queued = p.store.changes().watch_queue();
    loop {
        queued.borrow_and_update();
        let q = p.clone();
        let r = tokio::task::spawn_blocking(move || {
            delivery::index_stored_batch(&q, INDEX_BATCH_MESSAGES, INDEX_BATCH_BYTES)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        let pause = match r {
            Ok(0) => every,
            Ok(n) => {
                tracing::debug!(messages = n, "text added to the search index");
                match queued.has_changed() {
                    Ok(true) => INDEX_BUSY_PAUSE,
                    _ => Duration::ZERO,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "search index not completed");
                every
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// The background indexer's batch: messages, and message bytes read, a transaction.
const INDEX_BATCH_MESSAGES: i64 = 256;
const INDEX_BATCH_BYTES: usize = 512 * 1024;
/// The indexer's pause between batches while messages are being queued.
const INDEX_BUSY_PAUSE: Duration = Duration::from_millis(250);

/// How long released message bytes wait before their space is given back: longer than any
/// write takes from storing the bytes to committing what refers to them.
pub const BLOB_GRACE_SECS: i64 = 3600;

/// How many `xx/` blob directories (of 256) each collection pass sweeps for files no row
/// references: the whole store is walked every 16 passes, a slice at a time.
const ORPHAN_SHARDS_PER_PASS: u8 = 16;

/// Gives back the space of message bytes nobody references any more, every `every`: the
/// released ones, then the next slice of blob files for orphans (bytes whose transaction
/// failed or never committed).
pub async fn run_blob_collection(p: Arc<Provider>, every: Duration) {
    let mut next_shard: u8 = 0;
    loop {
        tokio::time::sleep(every).await;
        let p = p.clone();
        let first_shard = next_shard;
        next_shard = next_shard.wrapping_add(ORPHAN_SHARDS_PER_PASS);
        let r = tokio::task::spawn_blocking(move || {
            loop {
                let pass = p.store.collect_blobs(p.now(), BLOB_GRACE_SECS, 1000)?;
                if pass.checked < 1000 {
                    break;
                }
            }
            let mut removed = 0;
            for i in 0..ORPHAN_SHARDS_PER_PASS {
                let shard = first_shard.wrapping_add(i);
                removed += p.store.sweep_orphan_blobs(shard, BLOB_GRACE_SECS)?.files;
            }
            if removed > 0 {
                println!("Certa: {removed} file di messaggi orfani rimossi");
            }
            Ok::<_, store::StoreError>(())
        })
        .await;
        if let Ok(Err(e)) = r {
            tracing::error!(error = %e, "blob space collection failed");
        }
    }
}

/// Runs the 12 h / 24 h timers every `every`.
pub async fn run_timers(p: Arc<Provider>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let p = p.clone();
        let r = tokio::task::spawn_blocking(move || crate::timers::run_once(&p)).await;
        if let Ok(Err(e)) = r {
            tracing::error!(error = %e, "timers: due notices not sent");
        }
    }
}

async fn process(
    p: &Arc<Provider>,
    settings: &QueueSettings,
    item: QueueItem,
) -> Result<(), Failure> {
    match item.kind {
        QueueKind::Deliver => {
            let (p, span) = (p.clone(), tracing::Span::current());
            match tokio::task::spawn_blocking(move || {
                span.in_scope(|| delivery::deliver(&p, &item))
            })
            .await
            {
                Ok(Ok(())) => Ok(()),
                // A busy database passes: that is no reason to park the item.
                Ok(Err(e @ store::StoreError::Retryable(_))) => Err(Failure::new(
                    FailureKind::Temporary,
                    format!("archivio momentaneamente non disponibile: {e}"),
                )),
                Ok(Err(e)) => Err(Failure::new(
                    FailureKind::Internal,
                    format!("errore interno di consegna: {e}"),
                )),
                Err(e) => Err(Failure::new(
                    FailureKind::Panic,
                    format!("errore interno di consegna (panic): {e}"),
                )),
            }
        }
        QueueKind::Relay => relay(p, settings, item).await,
    }
}

/// After a failed attempt: give up past the maximum time in the queue (RFC 6109 §2.2.2),
/// otherwise retry with back-off, or park the item when it keeps failing the same way.
async fn fail(p: &Arc<Provider>, settings: &QueueSettings, item: &QueueItem, f: Failure) {
    let (p2, it, park_after) = (p.clone(), item.clone(), settings.park_after.max(1));
    let span = tracing::Span::current();
    let r = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let now = p2.now();
        if now - it.created > p2.timers.max_queue_secs {
            tracing::warn!(
                failure = f.kind.as_str(),
                why = %f.why,
                "queue: past the maximum time in the queue, given up"
            );
            let why = format!("consegna non riuscita entro il tempo massimo: {}", f.why);
            let failed: Vec<(String, String)> = it
                .recipients
                .iter()
                .map(|r| (r.clone(), why.clone()))
                .collect();
            return delivery::relay_finished(&p2, &it, &[], "", &failed).map(|()| false);
        }
        let delay = delivery::backoff(p2.timers.retry_secs, p2.timers.retry_max_secs, it.attempts);
        let parked = p2.store.queue_retry(
            it.id,
            &QueueFailure {
                kind: f.kind,
                error: &f.why,
                next_attempt: now + delay,
                now,
                park_after: (f.kind != FailureKind::Temporary).then_some(park_after),
            },
        )?;
        if parked {
            tracing::error!(
                failure = f.kind.as_str(),
                why = %f.why,
                park_after,
                "queue: item parked after failing the same way again and again (certa queue)"
            );
        } else {
            tracing::warn!(
                failure = f.kind.as_str(),
                why = %f.why,
                retry_in_secs = delay,
                "queue: attempt failed, retried later"
            );
        }
        Ok(parked)
    })
    .await;
    if let Ok(Err(e)) = r {
        tracing::error!(error = %e, "queue: retry not recorded");
    }
}

pub(crate) fn connector(ca_pem: Option<&str>) -> Result<SslConnector, openssl::error::ErrorStack> {
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::PEER);
    if let Some(pem) = ca_pem {
        for c in X509::stack_from_pem(pem.as_bytes())? {
            b.cert_store_mut().add_cert(c)?;
        }
    }
    Ok(b.build())
}

/// Mail exchangers of one domain tried in one attempt, most preferred first.
const MAX_EXCHANGERS: usize = 5;
/// Addresses tried per exchanger.
const MAX_ADDRESSES: usize = 4;

/// One next hop to try: where to connect and the name its certificate must carry.
struct Hop {
    connect: String,
    port: u16,
    tls_name: String,
}

/// Why a domain has no next hop to try.
enum NoHop {
    Dns(DnsError),
    /// Every address of its exchangers is loopback or private (M8: DNS must not send our
    /// mail to internal services).
    Private(String),
}

/// The next hops of a domain: its static route, or its mail exchangers from DNS (RFC 5321
/// §5.1), each with its addresses. Addresses from DNS that are loopback or private are
/// dropped unless `allow_private`; a static route is the operator's word and may name them.
fn next_hops(
    p: &Provider,
    domain: &str,
    route: Option<&store::Route>,
    allow_private: bool,
) -> Result<Vec<Hop>, NoHop> {
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
        .ok_or_else(|| {
            NoHop::Dns(DnsError::Temporary(
                "nessun resolver DNS configurato".into(),
            ))
        })?;
    let mut hops = Vec::new();
    let mut refused = Vec::new();
    // A hostile zone may list a hundred exchangers whose lookups all time out: the most
    // preferred few are tried (RFC 5321 §5.1 asks for more than one, not for all).
    let exchangers = dns::mail_exchangers(resolver, domain).map_err(NoHop::Dns)?;
    for mx in exchangers.into_iter().take(MAX_EXCHANGERS) {
        let addresses = dns::addresses(resolver, &mx).map_err(NoHop::Dns)?;
        for ip in addresses.into_iter().take(MAX_ADDRESSES) {
            if !allow_private && !dns::is_public(ip) {
                refused.push(format!("{mx} ({ip})"));
                continue;
            }
            hops.push(Hop {
                connect: ip.to_string(),
                port: p.mx_port,
                tls_name: mx.clone(),
            });
        }
    }
    if hops.is_empty() && !refused.is_empty() {
        return Err(NoHop::Private(format!(
            "i server di posta di {domain} hanno indirizzi privati o locali, rifiutati: {}",
            refused.join(", ")
        )));
    }
    Ok(hops)
}

async fn relay(
    p: &Arc<Provider>,
    settings: &QueueSettings,
    item: QueueItem,
) -> Result<(), Failure> {
    let (p2, it, allow_private) = (p.clone(), item.clone(), settings.allow_private_mx);
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let data = p2.store.blob(&it.blob).map_err(|e| e.to_string())?;
        let first = it.recipients.first().cloned().unwrap_or_default();
        let domain = pec::build::domain_of(&first).to_string();
        let route = p2.store.route(&domain).map_err(|e| e.to_string())?;
        let destination = p2
            .destination(&first, &p2.index())
            .map_err(|e| e.to_string())?;
        let pec_peer = matches!(destination, Destination::Pec(_));
        let hops = next_hops(&p2, &domain, route.as_ref(), allow_private);
        let ca = route
            .and_then(|r| r.ca_pem)
            .or_else(|| p2.peer_ca_pem.clone());
        Ok((data, hops, ca, pec_peer))
    })
    .await;
    let (data, hops, ca, pec_peer) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureKind::Internal,
                format!("messaggio non leggibile dall'archivio: {e}"),
            ))
        }
        Err(e) => return Err(Failure::new(FailureKind::Panic, e.to_string())),
    };
    // A relayed receipt or notice is queued without the identificativo (it is not our
    // transaction's envelope); its daticert names it. Only small messages are read for it.
    if item.identificativo.is_none() && data.len() <= 1024 * 1024 {
        if let Some(d) = pec::classify(&data).ok().and_then(|m| m.daticert) {
            tracing::Span::current().record("id", d.identificativo.as_str());
        }
    }
    let rcpts = item.recipients.clone();
    let hops = match hops {
        Ok(h) if !h.is_empty() => h,
        Ok(_) => {
            return Err(Failure::new(
                FailureKind::Temporary,
                "nessun indirizzo per i server di posta del dominio",
            ))
        }
        Err(NoHop::Dns(DnsError::NoSuchDomain(d))) => {
            let why = format!("il dominio {d} non esiste");
            let failed = rcpts.iter().map(|r| (r.clone(), why.clone())).collect();
            return finish(p, &item, vec![], "DNS".into(), failed).await;
        }
        Err(NoHop::Private(why)) => {
            let failed = rcpts.iter().map(|r| (r.clone(), why.clone())).collect();
            return finish(p, &item, vec![], "DNS".into(), failed).await;
        }
        Err(NoHop::Dns(e)) => return Err(Failure::new(FailureKind::Temporary, e.to_string())),
    };
    let tls = connector(ca.as_deref())
        .map_err(|e| Failure::new(FailureKind::Internal, format!("configurazione TLS: {e}")))?;
    let deadline = settings.deadline(data.len());
    let mut last = Failure::new(FailureKind::Temporary, "nessun server di posta");
    let tried = tokio::time::timeout(deadline, async {
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
                step_timeout: settings.step_timeout,
            };
            let name = format!("{}:{} ({})", hop.connect, hop.port, hop.tls_name);
            let result = smtp::client::deliver(&d).await;
            log_relay_attempt(p, &name, &rcpts, &result);
            match result {
                Ok(outcome) => return Some((name, Ok(outcome))),
                Err(smtp::client::ClientError::Permanent(why)) => {
                    return Some((name, Err(why)));
                }
                // The next exchanger may be reachable.
                Err(smtp::client::ClientError::Temporary(why)) => {
                    last = Failure::new(FailureKind::Temporary, format!("{name}: {why}"));
                }
                Err(smtp::client::ClientError::Misbehaving(why)) => {
                    last = Failure::new(FailureKind::Peer, format!("{name}: {why}"));
                }
            }
        }
        None
    })
    .await;
    match tried {
        Ok(Some((name, Ok(outcome)))) => {
            finish(p, &item, outcome.accepted, name, outcome.refused).await
        }
        Ok(Some((name, Err(why)))) => {
            let failed = rcpts.iter().map(|r| (r.clone(), why.clone())).collect();
            finish(p, &item, vec![], name, failed).await
        }
        Ok(None) => Err(last),
        Err(_) => Err(Failure::new(
            FailureKind::Deadline,
            format!("inoltro non concluso entro {deadline:?} ({})", last.why),
        )),
    }
}

/// One attempt at one next hop, with the peer's reply (cut short: it is the peer's text).
fn log_relay_attempt(
    p: &Provider,
    hop: &str,
    rcpts: &[String],
    result: &Result<smtp::client::Outcome, smtp::client::ClientError>,
) {
    use smtp::client::ClientError;
    let short = |t: &str| t.chars().take(512).collect::<String>();
    let rcpts = rcpts.join(",");
    match result {
        Ok(o) => {
            p.metrics.relay_attempt(RelayOutcome::Delivered);
            tracing::info!(
                event = "tentativo-inoltro",
                hop,
                rcpts,
                outcome = "delivered",
                accepted = o.accepted.len(),
                refused = o.refused.len(),
                reply = %short(&o.reply),
                "relay attempt: the peer took the message"
            );
        }
        Err(e) => {
            let (outcome, why) = match e {
                ClientError::Permanent(w) => (RelayOutcome::Refused, w),
                ClientError::Temporary(w) => (RelayOutcome::Temporary, w),
                ClientError::Misbehaving(w) => (RelayOutcome::Misbehaving, w),
            };
            p.metrics.relay_attempt(outcome);
            tracing::warn!(
                event = "tentativo-inoltro",
                hop,
                rcpts,
                outcome = ?outcome,
                reply = %short(why),
                "relay attempt failed"
            );
        }
    }
}

async fn finish(
    p: &Arc<Provider>,
    item: &QueueItem,
    accepted: Vec<String>,
    hop: String,
    failed: Vec<(String, String)>,
) -> Result<(), Failure> {
    let (p2, it, span) = (p.clone(), item.clone(), tracing::Span::current());
    match tokio::task::spawn_blocking(move || {
        span.in_scope(|| delivery::relay_finished(&p2, &it, &accepted, &hop, &failed))
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::new(
            FailureKind::Internal,
            format!("esito dell'inoltro non registrato: {e}"),
        )),
        Err(e) => Err(Failure::new(FailureKind::Panic, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_at_their_limit_are_busy_until_their_attempts_end() {
        let set = Arc::new(InFlight::default());
        let a1 = set.enter("slow.test");
        assert!(set.busy(2).is_empty());
        let a2 = set.enter("slow.test");
        let _b = set.enter("fast.test");
        assert_eq!(set.busy(2), vec!["slow.test".to_string()]);
        drop(a1);
        assert!(set.busy(2).is_empty());
        drop(a2);
        assert_eq!(set.busy(1), vec!["fast.test".to_string()]);
    }

    #[test]
    fn a_large_message_gets_more_time_than_a_small_one() {
        let s = QueueSettings::default();
        assert!(s.deadline(0) < Duration::from_secs(s.lease_secs as u64));
        assert!(s.deadline(100 * 1024 * 1024) > s.deadline(0) + Duration::from_secs(600));
    }
}
