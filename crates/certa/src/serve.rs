//! `certa --data DIR serve`: every listener on one runtime, the queue workers and the timers.

use crate::config::Config;
use anyhow::Context;
use net::connections::{Caps, Connections, Refused};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use services::{Limits, Provider, SystemClock, Timers};
use smtp::server::{self, Handler, Mode};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::Instrument;

/// Builds the provider from the data directory.
pub fn provider(data: &Path, cfg: &Config) -> anyhow::Result<Provider> {
    let metrics = Arc::new(services::metrics::Metrics::default());
    let store = store::SqliteStore::open(data).context("opening the store")?;
    let observed = metrics.clone();
    store.observe_writes(move |took| observed.store_write(took));
    let read = |p: &Path| {
        std::fs::read(Config::resolve(data, p)).with_context(|| format!("reading {}", p.display()))
    };
    let signer = pec::Signer::from_pem(&read(&cfg.signing.cert)?, &read(&cfg.signing.key)?)
        .context("signing certificate")?;
    let ca = openssl::x509::X509::from_pem(&read(&cfg.signing.ca)?).context("CA certificate")?;
    Ok(Provider {
        identity: pec::ProviderIdentity::new(
            cfg.provider.name.clone(),
            cfg.provider.domain.clone(),
        ),
        signer,
        ca,
        store: Arc::new(store),
        limits: Limits {
            max_message_bytes: cfg.limits.max_message_bytes,
            pec: pec::checks::Limits {
                max_recipients: cfg.limits.max_recipients,
                max_size_times_recipients: cfg.limits.max_size_times_recipients,
            },
        },
        timers: Timers {
            notice_12h_secs: cfg.timers.notice_12h_secs,
            notice_24h_secs: cfg.timers.notice_24h_secs,
            max_queue_secs: cfg.timers.max_queue_secs,
            retry_secs: cfg.timers.retry_secs,
            retry_max_secs: cfg.timers.retry_max_secs,
            signed_before_arrival_secs: cfg.verification.signed_before_arrival_secs,
            signed_after_arrival_secs: cfg.verification.signed_after_arrival_secs,
        },
        clock: Arc::new(SystemClock),
        throttle: Default::default(),
        sending: services::accounts::SendRate::new(services::accounts::SendRules {
            per_minute: cfg.limits.messages_per_minute,
            per_hour: cfg.limits.messages_per_hour,
        }),
        passwords: Default::default(),
        hostname: cfg.provider.hostname.clone(),
        allow_plaintext_auth: cfg.security.allow_plaintext_auth,
        antivirus: cfg.antivirus.clamd.clone(),
        dns_resolver: match &cfg.dns.resolver {
            Some(r) => Some(
                r.parse()
                    .with_context(|| format!("[dns] resolver {r:?} is not ip:port"))?,
            ),
            None => None,
        },
        mx_port: cfg.dns.mx_port,
        peer_ca_pem: {
            let mut pem = String::new();
            for f in &cfg.tls.peer_ca {
                pem.push_str(
                    &std::fs::read_to_string(Config::resolve(data, f))
                        .with_context(|| format!("reading {}", f.display()))?,
                );
            }
            (!pem.is_empty()).then_some(pem)
        },
        srs: services::srs::SrsKey::load_or_create(&data.join("srs.key"))
            .context("the SRS secret (srs.key)")?,
        index_cache: Default::default(),
        metrics,
        migration: cfg.migration_settings(data)?,
        sms: match &cfg.sms {
            Some(c) => Some(Arc::new(sms::Gateway::new(c.clone()).context("[sms]")?)),
            None => None,
        },
    })
}

fn acceptor(data: &Path, cfg: &Config) -> anyhow::Result<Arc<SslAcceptor>> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_certificate_chain_file(Config::resolve(data, &cfg.tls.cert))
        .context("TLS certificate")?;
    b.set_private_key_file(Config::resolve(data, &cfg.tls.key), SslFiletype::PEM)
        .context("TLS key")?;
    b.check_private_key()
        .context("TLS key does not match the certificate")?;
    Ok(Arc::new(b.build()))
}

/// How a listener's protocol refuses a connection over the caps, in the clear before
/// closing (implicit-TLS listeners just close).
#[derive(Clone, Copy)]
enum Protocol {
    Smtp,
    Imap,
    Pop3,
    Tls,
}

impl Protocol {
    fn refusal(self, why: Refused) -> Option<String> {
        let text = match why {
            Refused::Total => "troppe connessioni al server, riprovare più tardi",
            Refused::PerIp => "troppe connessioni da questo indirizzo, riprovare più tardi",
        };
        match self {
            // RFC 5321 §3.8: 421 instead of the greeting.
            Protocol::Smtp => Some(format!("421 4.7.0 {text}\r\n")),
            // RFC 9051 §7.1.5 greeting BYE; RFC 5530 UNAVAILABLE.
            Protocol::Imap => Some(format!("* BYE [UNAVAILABLE] {text}\r\n")),
            // RFC 1939 §4 -ERR greeting; RFC 3206 SYS/TEMP.
            Protocol::Pop3 => Some(format!("-ERR [SYS/TEMP] {text}\r\n")),
            Protocol::Tls => None,
        }
    }
}

/// A listener: its configuration name, address, protocol and the process's connection caps.
struct Listener<'a> {
    name: &'static str,
    addr: &'a str,
    protocol: Protocol,
    connections: Arc<Connections>,
}

async fn listen<H: Handler + 'static>(
    l: Listener<'_>,
    cfg: Arc<server::Config>,
    handler: Arc<H>,
) -> anyhow::Result<()> {
    accept_loop(l, move |tcp, peer| {
        let (cfg, handler) = (cfg.clone(), handler.clone());
        async move {
            let _ = server::serve(tcp, peer, &cfg, handler.as_ref()).await;
        }
    })
    .await
}

/// Accepts connections on the listener's address and hands each to `serve` on its own
/// task, with `TCP_NODELAY` (replies go out at once, not after the client's delayed ACK).
/// A connection over the caps (in total, or from its address on this listener) gets the
/// protocol's refusal and is closed; its slot is held until `serve` is done.
async fn accept_loop<F, Fut>(l: Listener<'_>, serve: F) -> anyhow::Result<()>
where
    F: Fn(tokio::net::TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(l.addr)
        .await
        .with_context(|| format!("cannot listen on {}", l.addr))?;
    let Listener {
        name,
        protocol,
        connections,
        ..
    } = l;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                // Out of descriptors or similar: let other work run, then try again.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            match connections.admit(name, Some(peer.ip())) {
                Ok(slot) => {
                    // The connection's lines carry where it comes from; `tls=true` appears
                    // at the handshake (implicit or STARTTLS), `login` once a login succeeds
                    // (never the password).
                    let span = tracing::info_span!(
                        "conn",
                        listener = name,
                        %peer,
                        tls = tracing::field::Empty,
                        login = tracing::field::Empty
                    );
                    let served = serve(tcp, peer);
                    tokio::spawn(
                        async move {
                            tracing::debug!("connection opened");
                            served.await;
                            drop(slot);
                            tracing::debug!("connection closed");
                        }
                        .instrument(span),
                    );
                }
                Err(why) => {
                    // A fresh socket's send buffer is empty: this write does not block. The
                    // refusal goes out and the socket closes before anything else (the log
                    // line after), so what the client sends meanwhile is unlikely to be
                    // unread at the close and turn it into a reset that loses the refusal.
                    if let Some(text) = protocol.refusal(why) {
                        let _ = tcp.try_write(text.as_bytes());
                    }
                    drop(tcp);
                    tracing::warn!(listener = name, %peer, %why, "connection refused");
                }
            }
        }
    });
    Ok(())
}

async fn listen_imap(
    l: Listener<'_>,
    p: Arc<Provider>,
    cfg: Arc<imap::ImapConfig>,
) -> anyhow::Result<()> {
    accept_loop(l, move |tcp, peer| {
        imap::serve_connection(p.clone(), tcp, peer, cfg.clone())
    })
    .await
}

async fn listen_pop3(
    l: Listener<'_>,
    p: Arc<Provider>,
    cfg: Arc<pop3::Pop3Config>,
    locks: Arc<pop3::MaildropLocks>,
) -> anyhow::Result<()> {
    accept_loop(l, move |tcp, peer| {
        pop3::serve_connection(p.clone(), tcp, peer, cfg.clone(), locks.clone())
    })
    .await
}

pub fn run(data: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(data)?;
    crate::logging::init(&cfg.log)?;
    let p = Arc::new(provider(data, &cfg)?);
    p.check_trust()
        .map_err(|why| anyhow::anyhow!("certa serve non parte: {why}"))?;
    let released = p.store.release_leases()?;
    if released > 0 {
        println!("Certa: {released} operazioni interrotte riprendono");
        tracing::info!(released, "queue work interrupted by a stop resumes");
    }
    let copies = p.store.migration_release_leases()?;
    if copies > 0 {
        tracing::info!(
            copies,
            "copies from old providers interrupted by a stop resume"
        );
    }
    let tls = acceptor(data, &cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let connections = Connections::new(Caps {
            total: cfg.limits.max_connections,
            per_ip: cfg.limits.max_connections_per_ip,
        });
        let listener = |name, addr, protocol| Listener {
            name,
            addr,
            protocol,
            connections: connections.clone(),
        };
        let command_deadline = Duration::from_secs(cfg.limits.command_deadline_secs.max(1));
        let smtp_cfg = |mode, implicit_tls| {
            Arc::new(server::Config {
                hostname: cfg.provider.hostname.clone(),
                mode,
                tls: Some(tls.clone()),
                implicit_tls,
                max_message_bytes: cfg.limits.max_message_bytes,
                max_recipients: cfg.limits.max_recipients,
                allow_plaintext_auth: cfg.security.allow_plaintext_auth,
                line_deadline: command_deadline,
                data_deadline: Duration::from_secs(cfg.limits.smtp_data_deadline_secs.max(1)),
            })
        };
        let inbound = Arc::new(smtpserver::Inbound::new(p.clone()));
        let submission = Arc::new(smtpserver::Submission::new(p.clone()));
        listen(
            listener("smtp", &cfg.listen.smtp, Protocol::Smtp),
            smtp_cfg(Mode::Inbound, false),
            inbound,
        )
        .await?;
        listen(
            listener("submission", &cfg.listen.submission, Protocol::Smtp),
            smtp_cfg(Mode::Submission, false),
            submission.clone(),
        )
        .await?;
        listen(
            listener("submissions", &cfg.listen.submissions, Protocol::Tls),
            smtp_cfg(Mode::Submission, true),
            submission,
        )
        .await?;
        // One literal budget for both IMAP listeners.
        let literal_budget = imap::LiteralBudget::new(cfg.limits.imap_literal_budget_bytes);
        let imap_cfg = |implicit_tls| {
            Arc::new(imap::ImapConfig {
                tls: Some(tls.clone()),
                implicit_tls,
                hostname: cfg.provider.hostname.clone(),
                max_message_bytes: cfg.limits.max_message_bytes,
                command_deadline,
                literal_budget: literal_budget.clone(),
            })
        };
        let imap = listener("imap", &cfg.listen.imap, Protocol::Imap);
        listen_imap(imap, p.clone(), imap_cfg(false)).await?;
        let imaps = listener("imaps", &cfg.listen.imaps, Protocol::Tls);
        listen_imap(imaps, p.clone(), imap_cfg(true)).await?;
        let pop3_cfg = |implicit_tls| {
            Arc::new(pop3::Pop3Config {
                tls: Some(tls.clone()),
                implicit_tls,
                hostname: cfg.provider.hostname.clone(),
                command_deadline,
            })
        };
        // One set of maildrop locks for both POP3 listeners (RFC 1939 §8).
        let locks = Arc::new(pop3::MaildropLocks::default());
        let pop3 = listener("pop3", &cfg.listen.pop3, Protocol::Pop3);
        listen_pop3(pop3, p.clone(), pop3_cfg(false), locks.clone()).await?;
        let pop3s = listener("pop3s", &cfg.listen.pop3s, Protocol::Tls);
        listen_pop3(pop3s, p.clone(), pop3_cfg(true), locks).await?;
        web::serve(
            &cfg.listen.http,
            p.clone(),
            web::WebConfig {
                // Behind a proxy, TLS ends at the proxy.
                tls: cfg.web.proxy.is_none().then(|| tls.clone()),
                proxy: cfg.web.proxy,
                max_upload_bytes: cfg.limits.max_message_bytes + 1024 * 1024,
                connections: connections.clone(),
                session_lifetime_secs: cfg.web.session_lifetime_secs,
                header_read_timeout: Duration::from_secs(cfg.web.header_read_timeout_secs.max(1)),
                clients: cfg.client_endpoints(),
                terms: cfg.web.terms(data)?.map(Arc::new),
            },
        )
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen.http))?;
        if let Some(addr) = &cfg.listen.admin {
            web::serve_admin(
                addr,
                p.clone(),
                web::AdminConfig {
                    tls: tls.clone(),
                    connections: connections.clone(),
                    limits: services::operators::SessionLimits {
                        idle_secs: cfg.admin.session_idle_secs.max(60),
                        lifetime_secs: cfg.admin.session_lifetime_secs.max(60),
                    },
                    require_totp: cfg.admin.require_totp,
                    dns: cfg.dns_expectation(),
                    header_read_timeout: Duration::from_secs(
                        cfg.web.header_read_timeout_secs.max(1),
                    ),
                },
            )
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        }
        if let Some(addr) = &cfg.listen.metrics {
            serve_metrics(addr, p.clone(), connections.clone()).await?;
        }
        tokio::spawn(services::worker::run_queue(
            p.clone(),
            cfg.queue.settings(&cfg.dns),
        ));
        tokio::spawn(services::worker::run_text_index(
            p.clone(),
            Duration::from_secs(1),
        ));
        tokio::spawn(services::worker::run_blob_collection(
            p.clone(),
            Duration::from_secs(600),
        ));
        tokio::spawn(services::worker::run_timers(
            p.clone(),
            Duration::from_secs(cfg.timers.scan_secs.max(1)),
        ));
        tokio::spawn(services::migration::run_due_jobs(p.clone()));
        tokio::spawn(services::reports::run(
            p.clone(),
            Duration::from_secs(cfg.timers.scan_secs.max(1)),
        ));
        let l = &cfg.listen;
        tracing::info!(
            provider = %cfg.provider.name,
            domain = %cfg.provider.domain,
            hostname = %cfg.provider.hostname,
            smtp = %l.smtp,
            submission = %l.submission,
            submissions = %l.submissions,
            imap = %l.imap,
            imaps = %l.imaps,
            pop3 = %l.pop3,
            pop3s = %l.pop3s,
            http = %l.http,
            metrics = l.metrics.as_deref().unwrap_or("off"),
            admin = l.admin.as_deref().unwrap_or("off"),
            web_proxy = ?cfg.web.proxy,
            max_connections = cfg.limits.max_connections,
            max_connections_per_ip = cfg.limits.max_connections_per_ip,
            max_message_bytes = cfg.limits.max_message_bytes,
            local_workers = cfg.queue.local_workers,
            remote_workers = cfg.queue.remote_workers,
            antivirus = cfg.antivirus.clamd.is_some(),
            allow_plaintext_auth = cfg.security.allow_plaintext_auth,
            "certa serve started"
        );
        println!("Certa «{}» in servizio", cfg.provider.name);
        println!("  smtp         {}", cfg.listen.smtp);
        println!("  submission   {} (STARTTLS)", cfg.listen.submission);
        println!("  submissions  {} (TLS)", cfg.listen.submissions);
        println!("  imap         {} (STARTTLS)", cfg.listen.imap);
        println!("  imaps        {} (TLS)", cfg.listen.imaps);
        println!("  pop3         {} (STLS)", cfg.listen.pop3);
        println!("  pop3s        {} (TLS)", cfg.listen.pop3s);
        match cfg.web.proxy {
            None => println!(
                "  webmail      {} (https su {})",
                cfg.listen.webmail_url(),
                cfg.listen.http
            ),
            Some(proxy) => println!(
                "  webmail      http su {} dietro il proxy {proxy}",
                cfg.listen.http
            ),
        }
        if let Some(addr) = &cfg.listen.admin {
            println!("  console      https://{addr}/ (operatori: certa operator add)");
        }
        tokio::signal::ctrl_c().await?;
        tracing::info!("certa serve stopping");
        println!("Certa: arresto");
        anyhow::Ok(())
    })
}

/// The listeners' names, as `[listen]` and the connection caps know them.
const LISTENERS: [&str; 10] = [
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "http",
    "metrics",
    "admin",
];

/// `[listen] metrics`: Prometheus's `GET /metrics` in the text format 0.0.4, over plain
/// HTTP, one request per connection. Its connections count against the caps like any other.
async fn serve_metrics(
    addr: &str,
    p: Arc<Provider>,
    connections: Arc<Connections>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let slot = match connections.admit("metrics", Some(peer.ip())) {
                Ok(slot) => slot,
                Err(why) => {
                    tracing::warn!(listener = "metrics", %peer, %why, "connection refused");
                    continue;
                }
            };
            let (p, connections) = (p.clone(), connections.clone());
            tokio::spawn(async move {
                // A scraper that sends nothing is cut off.
                let answer = answer_metrics(tcp, &p, &connections);
                let _ = tokio::time::timeout(Duration::from_secs(10), answer).await;
                drop(slot);
            });
        }
    });
    Ok(())
}

/// The request head may take 8 KiB; only `GET /metrics` gets the metrics, anything else 404.
async fn answer_metrics(
    mut tcp: tokio::net::TcpStream,
    p: &Arc<Provider>,
    connections: &Connections,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MAX_HEAD: usize = 8 * 1024;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return tcp
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let wanted = head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?");
    let (status, body) = if !wanted {
        ("404 Not Found", String::new())
    } else {
        let store = p.store.clone();
        let now = p.now();
        // Queue gauges are read from the store when scraped: two small reads, whatever
        // the queue's length.
        let queue = tokio::task::spawn_blocking(move || -> store::Result<_> {
            Ok((store.queue_len()?, store.queue_oldest()?))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        match queue {
            Ok((depth, oldest)) => {
                // Every listener has its series, at 0 before its first connection.
                let mut open: Vec<(&'static str, usize)> = LISTENERS.map(|l| (l, 0)).to_vec();
                for (listener, n) in connections.open_by_listener() {
                    match open.iter_mut().find(|(l, _)| *l == listener) {
                        Some(slot) => slot.1 = n,
                        None => open.push((listener, n)),
                    }
                }
                let gauges = services::metrics::Gauges {
                    connections: open,
                    queue_depth: usize::try_from(depth).unwrap_or_default(),
                    queue_oldest_secs: oldest.map_or(0, |t| (now - t).max(0)),
                };
                ("200 OK", p.metrics.render(&gauges))
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics: queue not readable");
                ("503 Service Unavailable", String::new())
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await
}
