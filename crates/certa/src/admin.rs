//! Administration on a running server, without restart: the commands write to the store,
//! which the server reads on every operation.

use crate::config::Config;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::Store;

#[derive(Subcommand)]
pub enum DomainCommand {
    /// Add a PEC mail domain managed by this provider; with --migrating, one taken over from
    /// another provider, "in migrazione" until its switch-over.
    Add {
        domain: String,
        /// Taken over from another provider: in migration until the switch.
        #[arg(long, requires = "switch")]
        migrating: bool,
        /// The planned switch-over, "YYYY-MM-DD HH:MM[:SS]" in Italian time.
        #[arg(long, requires = "migrating")]
        switch: Option<String>,
        /// The old provider's name, as users read it.
        #[arg(long, requires = "migrating")]
        old_provider: Option<String>,
        /// The old provider's IMAPS server, HOST:PORT, for the copies of its boxes.
        #[arg(long, requires = "migrating")]
        old_server: Option<String>,
        /// A CA certificate (PEM) trusted for the old provider's servers.
        #[arg(long, requires = "migrating")]
        old_ca: Option<PathBuf>,
        /// The old provider's POP3S server, HOST:PORT (for the UIDLs a copy into INBOX keeps).
        #[arg(long, requires = "migrating")]
        old_pop3: Option<String>,
    },
    /// Move the switch-over of a domain in migration.
    Set {
        domain: String,
        /// The new switch-over, "YYYY-MM-DD HH:MM[:SS]" in Italian time.
        #[arg(long)]
        switch: String,
    },
    /// Record where the old provider's decertification of the domain stands.
    Decert {
        domain: String,
        #[arg(value_enum)]
        state: DecertState,
        #[arg(long)]
        note: Option<String>,
    },
    /// Switch a domain in migration over to this provider now: it becomes active, and the
    /// copies of its boxes run their last sync and end.
    Switch { domain: String },
    /// Remind the holders of a domain in migration who have not started their copy (a mail
    /// to their recovery address).
    Remind { domain: String },
    /// The switch-over checklist: the domain's state, and its DNS checked live (MX at us,
    /// the TTL lowered the day before, SPF authorising us).
    Checklist {
        domain: String,
        #[arg(long)]
        json: bool,
    },
    /// List the managed domains with their state.
    List,
}

/// The old provider's decertification, as the operator records it.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DecertState {
    /// Asked of the old provider.
    Richiesta,
    /// Confirmed by the old provider.
    Confermata,
}

#[derive(Subcommand)]
pub enum MailboxCommand {
    /// Create a mailbox.
    Add {
        address: String,
        #[arg(long, conflicts_with = "welcome")]
        password: Option<String>,
        /// Generate a password and send it to the recovery address; it must be changed at the
        /// first webmail login.
        #[arg(long, requires = "recovery_email")]
        welcome: bool,
        #[arg(long, default_value = "1GB")]
        quota: String,
        #[arg(long)]
        recovery_email: Option<String>,
    },
    /// List the mailboxes with their use, quota and ordinary-mail policy.
    List,
    /// Suspend a box: no login anywhere (its mail is still received).
    Suspend { address: String },
    /// Resume a suspended box.
    Resume { address: String },
    /// A new temporary password, mailed to the recovery address (changed at the first
    /// webmail login); every session ends.
    Reset { address: String },
    /// Create the boxes of a CSV file (columns indirizzo, nome, email_recupero, piano,
    /// password; `;` or `,`), each welcomed at its recovery address; every row is checked
    /// first, and a re-run creates and mails nothing.
    Import { file: PathBuf },
    /// Set a new password.
    Passwd {
        address: String,
        #[arg(long)]
        password: String,
    },
    /// Set the quota (e.g. 2GB, 500MB).
    Quota { address: String, quota: String },
    /// Delete a mailbox and its messages.
    Delete { address: String },
    /// What to do with ordinary (non-PEC) mail: reject (default), forward --to ADDRESS, or
    /// anomaly (deliver inside an anomaly envelope).
    Ordinary {
        address: String,
        policy: String,
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RouteCommand {
    /// Static next hop for a domain (private networks, tests); its TLS certificate (and its
    /// signatures) are checked against the CA in FILE.
    Add {
        domain: String,
        next_hop: String,
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// List the static routes.
    List,
}

#[derive(Subcommand)]
pub enum LogCommand {
    /// Check the hash chain of the legal log.
    Verify,
    /// Records about a message, a sender or since a date (YYYY-MM-DD).
    Search {
        #[arg(long)]
        msgid: Option<String>,
        #[arg(long)]
        sender: Option<String>,
        #[arg(long)]
        since: Option<String>,
        /// Records whose event starts with this (e.g. `casella-`, `operatore-accesso`).
        #[arg(long)]
        event: Option<String>,
    },
}

pub fn open(data: &Path) -> anyhow::Result<(Config, Arc<dyn Store>)> {
    let cfg = Config::load(data)?;
    Ok((cfg, open_store(data)?))
}

/// The store of a data directory: the embedded SQLite backend.
pub fn open_store(data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::SqliteStore::open(data).context("opening the store")?;
    Ok(Arc::new(store))
}

/// `1GB`, `500MB`, `100KB`, or bytes.
pub fn parse_size(s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("GB") {
        (n, 1i64 << 30)
    } else if let Some(n) = t.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = t.strip_suffix("KB") {
        (n, 1 << 10)
    } else {
        (t.strip_suffix('B').unwrap_or(&t), 1)
    };
    let n: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("invalid size {s:?} (e.g. 1GB, 500MB)"))?;
    if !n.is_finite() || n <= 0.0 || n * mult as f64 > 1e15 {
        bail!("invalid size {s:?}");
    }
    Ok((n * mult as f64) as i64)
}

pub fn domain(data: &Path, cmd: &DomainCommand) -> anyhow::Result<()> {
    let (cfg, store) = open(data)?;
    match cmd {
        DomainCommand::Add {
            domain,
            migrating,
            switch,
            old_provider,
            old_server,
            old_ca,
            old_pop3,
        } => {
            let old_ca_pem = match old_ca {
                Some(f) => {
                    let pem = std::fs::read_to_string(f)
                        .with_context(|| format!("lettura di {}", f.display()))?;
                    openssl::x509::X509::stack_from_pem(pem.as_bytes())
                        .context("--old-ca non è un certificato PEM")?;
                    Some(pem)
                }
                None => None,
            };
            if let Some(server) = old_pop3 {
                if services::migration::Server::parse(server).is_none() {
                    bail!("--old-pop3 {server:?} non è host:porta");
                }
            }
            let switch_at = match switch {
                Some(t) => Some(
                    crate::config::parse_italian_time(t)
                        .with_context(|| format!("--switch {t:?} non è AAAA-MM-GG HH:MM"))?,
                ),
                None => None,
            };
            if let Some(server) = old_server {
                if services::migration::Server::parse(server).is_none() {
                    bail!("--old-server {server:?} non è host:porta");
                }
            }
            store.add_domain_with(
                &store::NewDomain {
                    name: domain,
                    migrating: *migrating,
                    switch_at,
                    old_provider: old_provider.as_deref(),
                    old_server: old_server.as_deref(),
                    old_ca_pem: old_ca_pem.as_deref(),
                    old_pop3: old_pop3.as_deref(),
                },
                crate::now(),
            )?;
            if *migrating {
                println!(
                    "dominio {domain} aggiunto in migrazione (passaggio: {})",
                    switch.as_deref().unwrap_or("")
                );
            } else {
                println!(
                    "dominio {domain} aggiunto (rigenerare la voce dell'indice: certa index export)"
                );
            }
        }
        DomainCommand::Switch { domain } => {
            let copies = services::takeover::switch(
                &*store,
                &cfg.provider.name,
                domain,
                &actor(),
                crate::now(),
            )?;
            println!("dominio {domain} attivo; {copies} copie eseguono l'ultima sincronizzazione");
        }
        DomainCommand::Set { domain, switch } => {
            let at = crate::config::parse_italian_time(switch)
                .with_context(|| format!("--switch {switch:?} non è AAAA-MM-GG HH:MM"))?;
            store.set_domain_switch(domain, at)?;
            println!("dominio {domain}: passaggio spostato al {switch}");
        }
        DomainCommand::Decert {
            domain,
            state,
            note,
        } => {
            let state = match state {
                DecertState::Richiesta => store::Decertification::Requested,
                DecertState::Confermata => store::Decertification::Confirmed,
            };
            services::takeover::set_decertification(
                &*store,
                &cfg.provider.name,
                domain,
                state,
                note.as_deref(),
                &actor(),
                crate::now(),
            )?;
            println!(
                "dominio {domain}: decertificazione {}",
                services::takeover::decertification_caption(state)
            );
        }
        DomainCommand::Remind { domain } => {
            let now = crate::now();
            let provider =
                pec::ProviderIdentity::new(cfg.provider.name.clone(), cfg.provider.domain.clone());
            let sent = services::onboarding::remind(
                &*store,
                &provider,
                &cfg.public_url(),
                domain,
                &format!("manual-{now}"),
                &actor(),
                now,
            )?;
            println!("promemoria inviati: {}", sent.len());
            for a in sent {
                println!("\t{a}");
            }
        }
        DomainCommand::Checklist { domain, json } => {
            let Some(d) = store.domain(domain)? else {
                bail!("{domain} non è un dominio di questo gestore");
            };
            let resolver = match &cfg.dns.resolver {
                Some(r) => Some(r.parse().with_context(|| format!("[dns] resolver {r:?}"))?),
                None => services::dns::system_resolver(),
            };
            let want = cfg.dns_expectation();
            let lines = services::takeover::checklist(resolver, &d, &want, crate::now());
            if *json {
                println!("{}", serde_json::to_string_pretty(&lines)?);
            } else {
                for l in &lines {
                    let state = serde_json::to_value(l.state)?;
                    println!(
                        "{}\t{}\tatteso: {}\ttrovato: {}",
                        l.item,
                        state.as_str().unwrap_or(""),
                        l.expected,
                        l.found
                    );
                }
                if d.state == store::DomainState::Migrating {
                    println!(
                        "voce dell'indice per l'autorità: certa index export --including {}",
                        d.name
                    );
                }
            }
        }
        DomainCommand::List => {
            for d in store.domain_list()? {
                let state = match d.state {
                    store::DomainState::Active => "attivo",
                    store::DomainState::Migrating => "in migrazione",
                };
                let when = |t: Option<i64>| {
                    t.map(|t| {
                        let t = pec::PecTime::from_unix_or_epoch(t);
                        format!("{} {}", t.giorno(), t.ora())
                    })
                    .unwrap_or_default()
                };
                println!(
                    "{}\t{state}\t{}\t{}\t{}",
                    d.name,
                    match d.state {
                        store::DomainState::Migrating => when(d.switch_at),
                        store::DomainState::Active => when(d.switched_at),
                    },
                    d.old_provider.as_deref().unwrap_or(""),
                    d.old_server.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Who acts from the command line, in the legal log: `cli:USER`.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "?".into())
    )
}

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Add a plan boxes belong to (its quota becomes theirs).
    Add {
        name: String,
        #[arg(long)]
        quota: String,
        /// With the security archive.
        #[arg(long)]
        archive: bool,
        /// Collaborators per box (multiutenza); default 30.
        #[arg(long)]
        collaborators: Option<u32>,
    },
    /// List the plans.
    List,
}

pub fn plan(data: &Path, cmd: &PlanCommand) -> anyhow::Result<()> {
    let (cfg, store) = open(data)?;
    match cmd {
        PlanCommand::Add {
            name,
            quota,
            archive,
            collaborators,
        } => {
            services::onboarding::add_plan(
                &*store,
                &pec::ProviderIdentity::new(cfg.provider.name.clone(), cfg.provider.domain.clone()),
                &store::Plan {
                    name: name.clone(),
                    quota: parse_size(quota)?,
                    archive: *archive,
                    max_collaborators: collaborators.map(i64::from),
                },
                &actor(),
                crate::now(),
            )?;
            println!("piano {name} aggiunto");
        }
        PlanCommand::List => {
            for p in store.plans()? {
                println!(
                    "{}\t{}\t{}",
                    p.name,
                    p.quota,
                    if p.archive { "archivio" } else { "" }
                );
            }
        }
    }
    Ok(())
}

pub fn mailbox(data: &Path, cmd: &MailboxCommand) -> anyhow::Result<()> {
    let (cfg, store) = open(data)?;
    match cmd {
        MailboxCommand::Add {
            address,
            password,
            welcome,
            quota,
            recovery_email,
        } => {
            use services::accounts::{AccountError, FirstPassword, NewAccount};
            let password = match (password, welcome) {
                (Some(pw), false) => FirstPassword::Chosen(pw),
                (None, true) => FirstPassword::Welcome,
                _ => bail!("give --password or --welcome"),
            };
            let new = NewAccount {
                address,
                password,
                quota: parse_size(quota)?,
                recovery_email: recovery_email.as_deref(),
            };
            let now = crate::now();
            let created = match services::accounts::create_mailbox(store.as_ref(), &new, now) {
                Ok(created) => created,
                Err(AccountError::NotAnAddress(_)) => bail!("not a mailbox address"),
                Err(AccountError::NotOurDomain(d)) => {
                    bail!("{d} is not a domain of this provider (certa domain add)")
                }
                Err(e) => return Err(e.into()),
            };
            if *welcome {
                let to = recovery_email.as_deref().unwrap_or_default();
                let (mailbox, pw) = (&created.address, &created.password);
                let provider = pec::ProviderIdentity::new(
                    cfg.provider.name.clone(),
                    cfg.provider.domain.clone(),
                );
                let domain = store.domain(pec::build::domain_of(mailbox))?;
                let (subject, body) = services::onboarding::welcome_message(
                    &provider,
                    &cfg.public_url(),
                    mailbox,
                    pw,
                    domain.as_ref(),
                );
                services::onboarding::queue_plain_mail(
                    store.as_ref(),
                    &provider,
                    to,
                    &subject,
                    &body,
                    now,
                )?;
                store.set_profile(
                    mailbox,
                    &store::MailboxProfile {
                        welcomed_at: Some(now),
                        ..Default::default()
                    },
                )?;
                println!(
                    "casella {mailbox} creata; password inviata a {to} (da cambiare al primo accesso)"
                );
            } else {
                println!("casella {} creata", created.address);
            }
        }
        MailboxCommand::Suspend { address } | MailboxCommand::Resume { address } => {
            let suspend = matches!(cmd, MailboxCommand::Suspend { .. });
            let provider =
                pec::ProviderIdentity::new(cfg.provider.name.clone(), cfg.provider.domain.clone());
            services::onboarding::set_suspended(
                &*store,
                &provider,
                address,
                suspend,
                &actor(),
                crate::now(),
            )?;
            println!(
                "casella {address} {}",
                if suspend { "sospesa" } else { "riattivata" }
            );
        }
        MailboxCommand::Reset { address } => {
            let provider =
                pec::ProviderIdentity::new(cfg.provider.name.clone(), cfg.provider.domain.clone());
            let to = services::onboarding::reset_password(
                &*store,
                &provider,
                address,
                &actor(),
                crate::now(),
            )?;
            println!("password di {address} reimpostata e inviata a {to}");
        }
        MailboxCommand::Import { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("lettura di {}", file.display()))?;
            let rows = match services::onboarding::parse_csv(&text) {
                Ok(rows) => rows,
                Err(errors) => bail!("file non importato:\n{}", errors.join("\n")),
            };
            let provider =
                pec::ProviderIdentity::new(cfg.provider.name.clone(), cfg.provider.domain.clone());
            let report = match services::onboarding::import(
                &*store,
                &provider,
                &cfg.public_url(),
                &rows,
                &actor(),
                crate::now(),
            ) {
                Ok(r) => r,
                Err(services::onboarding::ImportError::Rows(errors)) => {
                    bail!(
                        "file non importato, nessuna casella creata:\n{}",
                        errors.join("\n")
                    )
                }
                Err(e) => return Err(e.into()),
            };
            println!(
                "{} create, {} invariate, {} diverse",
                report.created.len(),
                report.unchanged.len(),
                report.different.len()
            );
            for d in &report.different {
                println!("\t{d}");
            }
        }
        MailboxCommand::List => {
            for m in store.mailboxes()? {
                println!(
                    "{}\t{} / {} byte\t{}",
                    m.address, m.used, m.quota, m.ordinary_mail
                );
            }
        }
        MailboxCommand::Passwd { address, password } => {
            services::accounts::set_password(store.as_ref(), address, password)?;
            println!("password di {address} aggiornata");
        }
        MailboxCommand::Quota { address, quota } => {
            store.set_quota(address, parse_size(quota)?)?;
            println!("quota di {address} aggiornata");
        }
        MailboxCommand::Delete { address } => {
            store.delete_mailbox(address)?;
            println!("casella {address} eliminata");
        }
        MailboxCommand::Ordinary {
            address,
            policy,
            to,
        } => {
            match (policy.as_str(), to) {
                ("reject", _) | ("anomaly", _) => store.set_ordinary_mail(address, policy, None)?,
                ("forward", Some(t)) => store.set_ordinary_mail(address, policy, Some(t))?,
                ("forward", None) => bail!("forward needs --to ADDRESS"),
                _ => bail!("policy must be reject, forward or anomaly"),
            }
            println!("posta ordinaria per {address}: {policy}");
        }
    }
    Ok(())
}

pub fn route(data: &Path, cmd: &RouteCommand) -> anyhow::Result<()> {
    let (_, store) = open(data)?;
    match cmd {
        RouteCommand::Add {
            domain,
            next_hop,
            ca,
        } => {
            let (host, port) = next_hop.rsplit_once(':').context("next hop is HOST:PORT")?;
            let port: u16 = port.parse().context("invalid port")?;
            let ca_pem = match ca {
                Some(f) => {
                    let pem = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    openssl::x509::X509::stack_from_pem(pem.as_bytes())
                        .context("--ca is not a PEM certificate")?;
                    Some(pem)
                }
                None => None,
            };
            store.add_route(&store::Route {
                domain: domain.to_ascii_lowercase(),
                host: host.to_string(),
                port,
                ca_pem,
            })?;
            println!("instradamento {domain} → {host}:{port}");
        }
        RouteCommand::List => {
            for r in store.routes()? {
                println!(
                    "{}\t{}:{}\t{}",
                    r.domain,
                    r.host,
                    r.port,
                    if r.ca_pem.is_some() {
                        "CA propria"
                    } else {
                        "CA di sistema"
                    }
                );
            }
        }
    }
    Ok(())
}

/// Review M7: the index is the root of PEC trust. A signed `.p7m` is read only if the
/// configured authority signed it; plain LDIF only when the operator says `--unsigned`.
pub fn index_import(
    data: &Path,
    file: &Path,
    signer: Option<&Path>,
    unsigned: bool,
) -> anyhow::Result<()> {
    let (cfg, store) = open(data)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let index = if pec::ProviderIndex::is_ldif(&bytes) {
        if !unsigned {
            anyhow::bail!(
                "{} è un LDIF non firmato: per importarlo senza verifica della firma usare --unsigned",
                file.display()
            );
        }
        eprintln!(
            "ATTENZIONE: indice non firmato, importato senza verifica ({})",
            file.display()
        );
        pec::ProviderIndex::from_bytes(&bytes, None)
            .with_context(|| format!("reading {}", file.display()))?
    } else {
        let authority_path = match (signer, &cfg.verification.index_signer) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) => Config::resolve(data, p),
            (None, None) => anyhow::bail!(
                "manca il certificato dell'autorità che firma l'indice: --signer CERT.pem o [verification] index_signer"
            ),
        };
        let pem = std::fs::read(&authority_path)
            .with_context(|| format!("reading {}", authority_path.display()))?;
        let authority = openssl::x509::X509::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", authority_path.display()))?;
        pec::ProviderIndex::from_signed(&bytes, &authority)
            .with_context(|| format!("{}: indice rifiutato", file.display()))?
    };
    let entries: Vec<(String, String)> = index
        .providers
        .iter()
        .map(|p| (p.dn.clone(), p.to_ldif()))
        .collect();
    store.import_index_entries(&entries, crate::now())?;
    println!("{} gestori importati", entries.len());
    Ok(())
}

pub fn index_export(data: &Path, including: &[String]) -> anyhow::Result<()> {
    let (cfg, store) = open(data)?;
    let mut domains = store.domains()?;
    for d in including {
        let Some(found) = store.domain(d)? else {
            bail!("{d} non è un dominio di questo gestore");
        };
        if !domains.contains(&found.name) {
            domains.push(found.name);
        }
    }
    domains.sort();
    let pem = std::fs::read(Config::resolve(data, &cfg.signing.cert))?;
    let cert = openssl::x509::X509::from_pem(&pem)?;
    let entry = pec::ProviderEntry::for_certificate(
        &cert,
        &cfg.provider.name,
        &domains,
        &format!("posta-certificata@{}", cfg.provider.domain),
    );
    print!("{}", entry.to_ldif());
    Ok(())
}

pub fn ca_export(data: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(data)?;
    let pem = std::fs::read_to_string(Config::resolve(data, &cfg.signing.ca))?;
    print!("{pem}");
    Ok(())
}

pub fn log(data: &Path, cmd: &LogCommand) -> anyhow::Result<std::process::ExitCode> {
    let (_, store) = open(data)?;
    match cmd {
        LogCommand::Verify => match store.log_verify() {
            Ok(n) => {
                println!("registro integro: {n} eventi, catena di hash verificata");
                Ok(std::process::ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("registro ALTERATO: {e}");
                Ok(std::process::ExitCode::from(1))
            }
        },
        LogCommand::Search {
            msgid,
            sender,
            since,
            event,
        } => {
            let since = match since {
                Some(s) => Some(
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .context("--since is YYYY-MM-DD")?
                        .and_hms_opt(0, 0, 0)
                        .map(|d| d.and_utc().timestamp())
                        .unwrap_or(0),
                ),
                None => None,
            };
            for e in store.log_records(msgid.as_deref())? {
                if sender
                    .as_ref()
                    .is_some_and(|s| !e.sender.eq_ignore_ascii_case(s))
                    || since.is_some_and(|t| e.time < t)
                    || event
                        .as_ref()
                        .is_some_and(|p| !e.event.starts_with(p.as_str()))
                {
                    continue;
                }
                let when = pec::PecTime::from_unix_or_epoch(e.time);
                // Who acted for the sender (a collaborator) comes last, only when there is
                // one: the columns scripts read before stay as they were.
                let actor = if e.actor.is_empty() {
                    String::new()
                } else {
                    format!("\t{}", e.actor)
                };
                println!(
                    "{}\t{} {}\t{}\t{}\t{}\t{}\t{}{actor}",
                    e.seq,
                    when.giorno(),
                    when.ora(),
                    e.event,
                    e.msgid,
                    e.sender,
                    e.recipients,
                    e.related
                );
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

pub fn message_status(data: &Path, id: &str) -> anyhow::Result<std::process::ExitCode> {
    let (_, store) = open(data)?;
    let id = id.trim().trim_matches(|c| c == '<' || c == '>');
    let Some(t) = store.transaction(id)? else {
        println!("nessun messaggio con identificativo {id}");
        return Ok(std::process::ExitCode::from(1));
    };
    println!("identificativo: {}", t.identificativo);
    println!("mittente:       {}", t.sender);
    println!("oggetto:        {}", t.subject);
    for r in &t.recipients {
        let when = pec::PecTime::from_unix_or_epoch(r.updated);
        println!(
            "  {}\t{}\t{}\t{} {}{}",
            r.address,
            r.kind,
            r.state,
            when.giorno(),
            when.ora(),
            r.detail
                .as_deref()
                .map(|d| format!("\t{d}"))
                .unwrap_or_default()
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
