//! `certa quickstart`: a working provider in a directory, with its own test CA.

use crate::config::{
    Config, KeyPair, LimitsSection, Listen, ProviderSection, Security, Signing, TimersSection,
};
use anyhow::{bail, Context};
use std::path::Path;

pub struct QuickstartArgs<'a> {
    pub data: &'a Path,
    pub domain: &'a str,
    pub provider_name: Option<&'a str>,
    pub bind: &'a str,
    pub port_base: Option<u16>,
}

/// Writes a private key readable by its owner only: the file is created with mode 0600, so
/// the key is never readable by others, not even for an instant.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // A file left by an interrupted earlier run keeps its mode on open: set it before writing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("protecting {}", path.display()))?;
    }
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(a: &QuickstartArgs<'_>) -> anyhow::Result<()> {
    let domain = a.domain.trim().to_ascii_lowercase();
    if domain.is_empty()
        || !domain.contains('.')
        || domain
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    {
        bail!("--domain must be a mail domain such as pec.example.it");
    }
    if Config::path(a.data).exists() {
        // Run again (the next morning, a script): the provider is there, nothing changes.
        let existing = Config::load(a.data)?;
        already_there(a.data, &existing, &domain);
        return Ok(());
    }
    std::fs::create_dir_all(a.data.join("pki"))?;
    std::fs::create_dir_all(a.data.join("tls"))?;
    let name = a
        .provider_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("Certa {domain}"));
    let hostname = format!("mail.{domain}");

    let ca = pec::pki::new_ca(&format!("{name} CA"), &name)?;
    let signing = pec::pki::issue_signing_certificate(&ca, &name, &domain, 3 * 365)?;
    let mut names = vec![
        hostname.clone(),
        domain.clone(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    if a.bind != "0.0.0.0" && a.bind != "::" && !names.contains(&a.bind.to_string()) {
        names.push(a.bind.to_string());
    }
    let tls = pec::pki::issue_tls_certificate(&ca, &names, 825)?;
    std::fs::write(a.data.join("pki/ca.pem"), ca.cert_pem()?)?;
    write_private(&a.data.join("pki/ca-key.pem"), &ca.key_pem()?)?;
    std::fs::write(a.data.join("pki/signing.pem"), signing.cert_pem()?)?;
    write_private(&a.data.join("pki/signing-key.pem"), &signing.key_pem()?)?;
    let mut tls_chain = tls.cert_pem()?;
    tls_chain.extend(ca.cert_pem()?);
    std::fs::write(a.data.join("tls/cert.pem"), tls_chain)?;
    write_private(&a.data.join("tls/key.pem"), &tls.key_pem()?)?;

    let listen = match a.port_base {
        Some(b) if b > u16::MAX - 7 => bail!("--port-base must leave room for 8 ports"),
        Some(b) => Listen::with_port_base(a.bind, b),
        None => Listen::standard(a.bind),
    };
    let config = Config {
        provider: ProviderSection {
            name: name.clone(),
            domain: domain.clone(),
            hostname,
        },
        listen,
        tls: KeyPair {
            cert: "tls/cert.pem".into(),
            key: "tls/key.pem".into(),
            peer_ca: vec![],
        },
        signing: Signing {
            cert: "pki/signing.pem".into(),
            key: "pki/signing-key.pem".into(),
            ca: "pki/ca.pem".into(),
            ca_key: Some("pki/ca-key.pem".into()),
        },
        limits: LimitsSection::default(),
        timers: TimersSection::default(),
        security: Security::default(),
        antivirus: Default::default(),
        dns: Default::default(),
        queue: Default::default(),
        web: Default::default(),
        verification: Default::default(),
        log: Default::default(),
        migration: Default::default(),
        sms: None,
        admin: Default::default(),
    };
    config.save(a.data)?;

    let store = crate::admin::open_store(a.data)?;
    let now = crate::now();
    store.add_domain(&domain, now)?;
    // The provider service mailbox (RFC 6109 §2.2.5): presa in carico and virus notices.
    let service = format!("posta-certificata@{domain}");
    use services::accounts::{create_mailbox, FirstPassword, NewAccount};
    let account = |address, password| NewAccount {
        address,
        password,
        quota: 1 << 30,
        recovery_email: None,
    };
    create_mailbox(
        store.as_ref(),
        &account(&service, FirstPassword::Unknown),
        now,
    )?;
    let user = format!("utente@{domain}");
    // Printed below; the holder changes it at the first webmail login.
    let password =
        create_mailbox(store.as_ref(), &account(&user, FirstPassword::Welcome), now)?.password;

    let entry = pec::ProviderEntry::for_certificate(
        &signing.cert,
        &name,
        std::slice::from_ref(&domain),
        &service,
    );
    std::fs::write(a.data.join("provider-entry.ldif"), entry.to_ldif())?;

    let d = a.data.display();
    println!("Certa: gestore PEC «{name}» creato in {d}");
    println!();
    println!("  dominio PEC:         {domain}");
    println!("  SMTP in ingresso:    {}", config.listen.smtp);
    println!("  invio (STARTTLS):    {}", config.listen.submission);
    println!("  invio (TLS):         {}", config.listen.submissions);
    println!(
        "  webmail:             {}   (certificato autofirmato: il browser chiede conferma)",
        config.listen.webmail_url()
    );
    println!();
    println!("  casella di prova:    {user}");
    println!("  password:            {password}   (da cambiare al primo accesso alla webmail)");
    println!("  accesso alla webmail: indirizzo {user} e la password qui sopra");
    println!(
        "  client di posta:     IMAP {} o POP3 {} con TLS, SMTP {} con TLS, utente {user}",
        config.listen.imaps, config.listen.pop3s, config.listen.submissions
    );
    println!("                       (certificato della CA in {d}/pki/ca.pem)");
    println!();
    println!("Avvio:                 certa --data {d} serve");
    println!("Nuova casella:         certa --data {d} mailbox add nome@{domain} --password '...'");
    println!("Certificato della CA:  certa --data {d} ca export   (i client e gli altri gestori devono fidarsene)");
    println!("Voce per l'indice:     certa --data {d} index export");
    Ok(())
}

/// What `quickstart` says when the data directory already holds a provider: which one, where
/// its webmail is and how to log in. The first mailbox's password was shown once, at
/// creation, and is not kept anywhere readable; the command to set a new one is printed.
fn already_there(data: &Path, config: &Config, asked_domain: &str) {
    let d = data.display();
    let domain = &config.provider.domain;
    println!(
        "Certa: {d} contiene già il gestore PEC «{}»: nessuna modifica.",
        config.provider.name
    );
    if asked_domain != domain {
        println!("  (il dominio richiesto, {asked_domain}, è ignorato: il gestore esistente è per {domain})");
    }
    println!();
    println!("  dominio PEC:         {domain}");
    println!("  webmail:             {}", config.listen.webmail_url());
    println!("  casella di prova:    utente@{domain}");
    println!("  password:            mostrata alla creazione; per impostarne una nuova:");
    println!(
        "                       certa --data {d} mailbox passwd utente@{domain} --password '...'"
    );
    println!();
    println!("Avvio:                 certa --data {d} serve");
}
