//! `certa --data DIR serve`: every listener on one runtime, the queue workers and the timers.

use crate::config::Config;
use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use services::{Limits, Provider, SystemClock, Timers};
use smtp::server::{self, Envelope, Handler, Mode};
use smtp::Reply;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Builds the provider from the data directory.
pub fn provider(data: &Path, cfg: &Config) -> anyhow::Result<Provider> {
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
        store: crate::admin::open_store(data)?,
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
        index_cache: Default::default(),
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

const QUEUE_WORKERS: usize = 8;

struct Submission {
    p: Arc<Provider>,
    wake: Arc<Notify>,
}

struct Inbound {
    p: Arc<Provider>,
    wake: Arc<Notify>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static, fallback: T) -> T {
    tokio::task::spawn_blocking(f).await.unwrap_or(fallback)
}

fn internal_error() -> Reply {
    Reply::new(451, "4.3.0", "Errore temporaneo del sistema, riprovare")
}

impl Handler for Submission {
    async fn authenticate(
        &self,
        login: &str,
        password: &str,
        peer: SocketAddr,
    ) -> Result<String, Reply> {
        let (p, login, password) = (self.p.clone(), login.to_string(), password.to_string());
        let r = blocking(
            move || {
                p.authenticate(&login, &password, peer.ip())
                    .map(|m| m.address)
            },
            Err(services::provider::AuthError::Invalid),
        )
        .await;
        r.map_err(|e| match e {
            services::provider::AuthError::Throttled => Reply::new(
                454,
                "4.7.0",
                "Troppi tentativi falliti: riprovare più tardi",
            ),
            services::provider::AuthError::Invalid => {
                Reply::new(535, "5.7.8", "Credenziali non valide")
            }
        })
    }

    async fn mail_from(&self, env: &Envelope, from: &str) -> Result<(), Reply> {
        // The sender is the authenticated mailbox (RFC 6109 §3.1.1 checks From against it).
        match &env.auth {
            Some(a) if a.eq_ignore_ascii_case(from) => Ok(()),
            _ => Err(Reply::new(
                553,
                "5.7.1",
                format!("Il mittente deve essere la casella autenticata, non {from}"),
            )),
        }
    }

    async fn rcpt_to(&self, _env: &Envelope, _rcpt: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn data(&self, env: &Envelope, message: Vec<u8>) -> Reply {
        let (p, env) = (self.p.clone(), env.clone());
        let auth = env.auth.clone().unwrap_or_default();
        let r = blocking(
            move || services::access::submit(&p, &auth, &env.mail_from, &env.rcpt_to, &message),
            internal_error(),
        )
        .await;
        self.wake.notify_waiters();
        r
    }
}

impl Handler for Inbound {
    async fn authenticate(
        &self,
        _login: &str,
        _password: &str,
        _peer: SocketAddr,
    ) -> Result<String, Reply> {
        Err(Reply::new(
            502,
            "5.5.1",
            "AUTH non disponibile su questo servizio",
        ))
    }

    async fn mail_from(&self, _env: &Envelope, _from: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn rcpt_to(&self, _env: &Envelope, rcpt: &str) -> Result<(), Reply> {
        let (p, rcpt) = (self.p.clone(), rcpt.to_string());
        if blocking(
            move || services::incoming::accepts_recipient(&p, &rcpt),
            false,
        )
        .await
        {
            Ok(())
        } else {
            Err(Reply::new(
                550,
                "5.7.1",
                "Relay non consentito: destinatario di un altro dominio",
            ))
        }
    }

    async fn data(&self, env: &Envelope, message: Vec<u8>) -> Reply {
        let (p, env) = (self.p.clone(), env.clone());
        let r = blocking(
            move || services::incoming::receive(&p, &env.mail_from, &env.rcpt_to, message),
            internal_error(),
        )
        .await;
        self.wake.notify_waiters();
        r
    }
}

async fn listen<H: Handler + 'static>(
    addr: String,
    cfg: Arc<server::Config>,
    handler: Arc<H>,
) -> anyhow::Result<()> {
    accept_loop(&addr, move |tcp, peer| {
        let (cfg, handler) = (cfg.clone(), handler.clone());
        async move {
            let _ = server::serve(tcp, peer, &cfg, handler.as_ref()).await;
        }
    })
    .await
}

/// Accepts connections on `addr` and hands each to `serve` on its own task, with
/// `TCP_NODELAY` (replies go out at once, not after the client's delayed ACK).
async fn accept_loop<F, Fut>(addr: &str, serve: F) -> anyhow::Result<()>
where
    F: Fn(tokio::net::TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                // Out of descriptors or similar: let other work run, then try again.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp, peer));
        }
    });
    Ok(())
}

async fn listen_imap(
    addr: &str,
    p: Arc<Provider>,
    cfg: Arc<imap::ImapConfig>,
) -> anyhow::Result<()> {
    accept_loop(addr, move |tcp, peer| {
        imap::serve_connection(p.clone(), tcp, peer, cfg.clone())
    })
    .await
}

async fn listen_pop3(
    addr: &str,
    p: Arc<Provider>,
    cfg: Arc<pop3::Pop3Config>,
    locks: Arc<pop3::MaildropLocks>,
) -> anyhow::Result<()> {
    accept_loop(addr, move |tcp, peer| {
        pop3::serve_connection(p.clone(), tcp, peer, cfg.clone(), locks.clone())
    })
    .await
}

pub fn run(data: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(data)?;
    let p = Arc::new(provider(data, &cfg)?);
    p.check_trust()
        .map_err(|why| anyhow::anyhow!("certa serve non parte: {why}"))?;
    let released = p.store.release_leases()?;
    if released > 0 {
        println!("Certa: {released} operazioni interrotte riprendono");
    }
    let tls = acceptor(data, &cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let wake = Arc::new(Notify::new());
        let smtp_cfg = |mode, implicit_tls| {
            Arc::new(server::Config {
                hostname: cfg.provider.hostname.clone(),
                mode,
                tls: Some(tls.clone()),
                implicit_tls,
                max_message_bytes: cfg.limits.max_message_bytes,
                max_recipients: cfg.limits.max_recipients,
                allow_plaintext_auth: cfg.security.allow_plaintext_auth,
            })
        };
        let inbound = Arc::new(Inbound {
            p: p.clone(),
            wake: wake.clone(),
        });
        let submission = Arc::new(Submission {
            p: p.clone(),
            wake: wake.clone(),
        });
        listen(
            cfg.listen.smtp.clone(),
            smtp_cfg(Mode::Inbound, false),
            inbound,
        )
        .await?;
        listen(
            cfg.listen.submission.clone(),
            smtp_cfg(Mode::Submission, false),
            submission.clone(),
        )
        .await?;
        listen(
            cfg.listen.submissions.clone(),
            smtp_cfg(Mode::Submission, true),
            submission,
        )
        .await?;
        let imap_cfg = |implicit_tls| {
            Arc::new(imap::ImapConfig {
                tls: Some(tls.clone()),
                implicit_tls,
                hostname: cfg.provider.hostname.clone(),
                max_message_bytes: cfg.limits.max_message_bytes,
            })
        };
        listen_imap(&cfg.listen.imap, p.clone(), imap_cfg(false)).await?;
        listen_imap(&cfg.listen.imaps, p.clone(), imap_cfg(true)).await?;
        let pop3_cfg = |implicit_tls| {
            Arc::new(pop3::Pop3Config {
                tls: Some(tls.clone()),
                implicit_tls,
                hostname: cfg.provider.hostname.clone(),
            })
        };
        // One set of maildrop locks for both POP3 listeners (RFC 1939 §8).
        let locks = Arc::new(pop3::MaildropLocks::default());
        listen_pop3(&cfg.listen.pop3, p.clone(), pop3_cfg(false), locks.clone()).await?;
        listen_pop3(&cfg.listen.pop3s, p.clone(), pop3_cfg(true), locks).await?;
        web::serve(
            &cfg.listen.http,
            p.clone(),
            web::WebConfig {
                // Behind a proxy, TLS ends at the proxy.
                tls: cfg.web.proxy.is_none().then(|| tls.clone()),
                proxy: cfg.web.proxy,
                max_upload_bytes: cfg.limits.max_message_bytes + 1024 * 1024,
                wake: wake.clone(),
            },
        )
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen.http))?;
        // Queue work waits on the disk (fsync) more than on the processor.
        for _ in 0..QUEUE_WORKERS {
            tokio::spawn(services::worker::run_queue(p.clone(), wake.clone()));
        }
        tokio::spawn(services::worker::index_stored_text(p.clone()));
        tokio::spawn(services::worker::run_blob_collection(
            p.clone(),
            Duration::from_secs(600),
        ));
        tokio::spawn(services::worker::run_timers(
            p.clone(),
            Duration::from_secs(cfg.timers.scan_secs.max(1)),
        ));
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
        tokio::signal::ctrl_c().await?;
        println!("Certa: arresto");
        anyhow::Ok(())
    })
}
