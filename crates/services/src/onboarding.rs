//! Bringing a whole administration's boxes in at once (issue 16; seeds 000, 001, 004): a CSV
//! of boxes becomes mailboxes, each with its plan and a welcome message to its holder's
//! recovery address — credentials and, for a domain in migration, the invitation to copy the
//! old box — and reminders to those who have not started their copy before the switch-over.
//! A re-run of the same file creates nothing and mails nothing.

use crate::accounts::{self, AccountError, FirstPassword, NewAccount};
use pec::ProviderIdentity;
use store::{Domain, DomainState, MailboxProfile, QueueKind, Store, StoreError};

/// At most this many rows in one file.
const MAX_ROWS: usize = 100_000;

/// One box of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The file's line number (the header is line 1).
    pub line: usize,
    pub address: String,
    pub name: Option<String>,
    pub recovery_email: String,
    pub plan: Option<String>,
    /// A first password the operator chose; mailed, so it must be changed at first login.
    pub password: Option<String>,
}

/// What an import did: boxes created (and welcomed), found as in the file, found otherwise.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub unchanged: Vec<String>,
    /// "address: what differs"; such a box is not changed.
    pub different: Vec<String>,
}

/// Why an import changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Every bad row, "riga N: motivo".
    #[error("{}", .0.join("\n"))]
    Rows(Vec<String>),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fields of one CSV record (RFC 4180: quotes, doubled quotes, separators inside quotes).
fn fields(line: &str, separator: char) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (c, false) if c == separator => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(field);
    Some(out.into_iter().map(|f| f.trim().to_string()).collect())
}

/// The rows of a file: a header naming the columns (Italian or English, any order:
/// `indirizzo`/`address`, `nome`/`name`, `email_recupero`/`recovery_email`, `piano`/`plan`,
/// `password`), separated by `;` (as Italian spreadsheets write) or `,`. Every malformed row
/// is named.
pub fn parse_csv(text: &str) -> Result<Vec<ImportRow>, Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(vec!["file vuoto".into()]);
    };
    let separator = if header.matches(';').count() >= header.matches(',').count() {
        ';'
    } else {
        ','
    };
    let columns = fields(header, separator).unwrap_or_default();
    let find = |names: &[&str]| {
        columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
    };
    let address = find(&["indirizzo", "address"]);
    let recovery = find(&["email_recupero", "recovery_email", "recupero"]);
    let (name, plan, password) = (
        find(&["nome", "name"]),
        find(&["piano", "plan"]),
        find(&["password"]),
    );
    let (Some(address), Some(recovery)) = (address, recovery) else {
        return Err(vec![
            "riga 1: servono le colonne indirizzo ed email_recupero".into(),
        ]);
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            errors.push(format!("riga {number}: più di {MAX_ROWS} righe"));
            break;
        }
        let Some(f) = fields(line, separator) else {
            errors.push(format!("riga {number}: virgolette non chiuse"));
            continue;
        };
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).filter(|v| !v.is_empty()).cloned();
        let (Some(a), Some(r)) = (get(Some(address)), get(Some(recovery))) else {
            errors.push(format!(
                "riga {number}: indirizzo ed email di recupero sono obbligatori"
            ));
            continue;
        };
        rows.push(ImportRow {
            line: number,
            address: a.to_ascii_lowercase(),
            name: get(name),
            recovery_email: r,
            plan: get(plan),
            password: get(password),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Imports the rows: every row is checked first (address, domain of ours, recovery address,
/// plan, password policy, duplicates) and any bad one changes nothing; then each box absent is
/// created with its plan and welcomed, each present is left as it is.
pub fn import(
    store: &dyn Store,
    provider: &ProviderIdentity,
    webmail: &str,
    rows: &[ImportRow],
    actor: &str,
    now: i64,
) -> Result<ImportReport, ImportError> {
    let plans = store.plans()?;
    let domains = store.domain_list()?;
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in rows {
        let mut bad = |why: String| errors.push(format!("riga {}: {why}", r.line));
        let Some(login) = accounts::parse_login(&r.address).filter(|l| l.user.is_none()) else {
            bad(format!("{} non è un indirizzo di casella", r.address));
            continue;
        };
        let domain = pec::build::domain_of(&login.mailbox);
        if !domains.iter().any(|d| d.name.eq_ignore_ascii_case(domain)) {
            bad(format!("{domain} non è un dominio di questo gestore"));
        }
        if !seen.insert(login.mailbox.clone()) {
            bad(format!("{} ripetuto nel file", r.address));
        }
        let recovery_ok = r
            .recovery_email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && r.recovery_email.len() <= 254
            && r.recovery_email.bytes().all(|b| b.is_ascii_graphic());
        if !recovery_ok || r.recovery_email.eq_ignore_ascii_case(&login.mailbox) {
            bad(format!(
                "email di recupero non valida: {}",
                r.recovery_email
            ));
        }
        if let Some(plan) = &r.plan {
            if !plans.iter().any(|p| p.name.eq_ignore_ascii_case(plan)) {
                bad(format!("piano sconosciuto: {plan}"));
            }
        }
        if let Some(pw) = &r.password {
            if let Err(why) = accounts::check_password_policy(pw) {
                bad(format!("password: {}", why.join("; ")));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    let mut report = ImportReport::default();
    for r in rows {
        let plan = r.plan.as_ref().and_then(|p| {
            plans
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(p))
                .map(|x| x.name.clone())
        });
        match store.mailbox(&r.address)? {
            Some(m) if m.welcomed_at.is_some() => {
                let mut diff = Vec::new();
                if !m
                    .recovery_email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&r.recovery_email))
                {
                    diff.push("email di recupero");
                }
                if m.plan != plan {
                    diff.push("piano");
                }
                if m.name != r.name {
                    diff.push("nome");
                }
                if diff.is_empty() {
                    report.unchanged.push(m.address);
                } else {
                    report.different.push(format!(
                        "{}: {} diversi, non modificata",
                        m.address,
                        diff.join(", ")
                    ));
                }
            }
            // Created by an earlier run that stopped before its welcome: a new password,
            // welcomed now.
            Some(m) => {
                let password = match &r.password {
                    Some(pw) => pw.clone(),
                    None => accounts::generate_password().map_err(AccountError::from)?,
                };
                let hash = accounts::hash_password(&password).map_err(AccountError::from)?;
                store.set_password(&m.address, &hash, true)?;
                welcome_and_mark(
                    store,
                    (provider, webmail),
                    (&m.address, actor),
                    r,
                    plan.as_deref(),
                    &password,
                    now,
                )?;
                report.created.push(m.address);
            }
            None => {
                let created = accounts::create_mailbox(
                    store,
                    &NewAccount {
                        address: &r.address,
                        password: match &r.password {
                            Some(pw) => FirstPassword::Temporary(pw),
                            None => FirstPassword::Welcome,
                        },
                        quota: 1 << 30,
                        recovery_email: Some(&r.recovery_email),
                    },
                    now,
                )?;
                welcome_and_mark(
                    store,
                    (provider, webmail),
                    (&created.address, actor),
                    r,
                    plan.as_deref(),
                    &created.password,
                    now,
                )?;
                report.created.push(created.address);
            }
        }
    }
    Ok(report)
}

/// The welcome queued with the legal-log record of the box's creation by `actor`, in one
/// transaction; then the box's profile.
fn welcome_and_mark(
    store: &dyn Store,
    (provider, webmail): (&ProviderIdentity, &str),
    (address, actor): (&str, &str),
    r: &ImportRow,
    plan: Option<&str>,
    password: &str,
    now: i64,
) -> Result<(), ImportError> {
    let domain = store.domain(pec::build::domain_of(address))?;
    let (subject, body) = welcome_message(provider, webmail, address, password, domain.as_ref());
    let bytes = plain_mail(provider, &r.recovery_email, &subject, &body, now);
    let blob = store.put_blob(&bytes)?;
    let from = provider.service_address();
    let to = [r.recovery_email.clone()];
    store.write(|tx| {
        tx.enqueue(QueueKind::Relay, &from, &to, &blob, None, now)?;
        tx.log_append(&store::LogRecord {
            time: now,
            event: "casella-creata",
            msgid: &format!("casella:{address}"),
            sender: actor,
            recipients: &to,
            subject: &format!("casella {address} creata e benvenuto inviato"),
            related: &[],
            provider: &provider.name,
            actor: "",
        })
    })?;
    store.set_profile(
        address,
        &MailboxProfile {
            name: r.name.as_deref(),
            plan,
            welcomed_at: Some(now),
        },
    )?;
    Ok(())
}

fn on(t: Option<i64>) -> (String, String) {
    match t {
        Some(t) => {
            let t = pec::PecTime::from_unix_or_epoch(t);
            (t.giorno(), t.ora())
        }
        None => ("—".into(), "—".into()),
    }
}

/// The welcome message (seed 000): the address and its temporary password and, for a domain
/// in migration, when it takes over and how to copy the old box. (subject, body)
pub fn welcome_message(
    provider: &ProviderIdentity,
    webmail: &str,
    address: &str,
    password: &str,
    domain: Option<&Domain>,
) -> (String, String) {
    let subject = "Benvenuto nella posta certificata".to_string();
    let body = match domain.filter(|d| d.state == DomainState::Migrating) {
        Some(d) => {
            let (day, hour) = on(d.switch_at);
            let old = d.old_provider.as_deref().unwrap_or("il gestore attuale");
            format!(
                "Gentile utente,\r\n\r\nè stata attivata presso {name} la casella di posta \
                 elettronica certificata {address}, che il {day} alle {hour} prenderà il posto \
                 di quella attuale presso {old}.\r\n\r\nNome utente: {address}\r\nPassword \
                 provvisoria: {password}\r\n\r\nPer copiare nella nuova casella i messaggi di \
                 quella attuale:\r\n- acceda alla webmail {webmail}, cambi la password al primo \
                 accesso e segua l'avviso «clicca qui»;\r\n- oppure apra la pagina \
                 {webmail}attivazione, inserisca l'indirizzo della casella e la password attuale \
                 e scelga la password da usare dopo il passaggio.\r\n\r\nFino al passaggio \
                 continui a usare la casella attuale per inviare e ricevere PEC e non ne modifichi \
                 la password.\r\n\r\n{name}\r\n",
                name = provider.name
            )
        }
        None => format!(
            "Gentile utente,\r\n\r\nè stata attivata la casella di posta elettronica certificata \
             {address}.\r\n\r\nPassword provvisoria: {password}\r\n\r\nAl primo accesso alla \
             webmail {webmail} le verrà chiesto di cambiarla.\r\n\r\n{}\r\n",
            provider.name
        ),
    };
    (subject, body)
}

/// The reminder to a holder who has not started the copy before the switch-over.
pub fn reminder_message(
    provider: &ProviderIdentity,
    webmail: &str,
    address: &str,
    domain: &Domain,
) -> (String, String) {
    let (day, hour) = on(domain.switch_at);
    (
        format!("Promemoria: copi i messaggi della sua casella PEC entro il {day}"),
        format!(
            "Gentile utente,\r\n\r\nil {day} alle {hour} la casella {address} passerà a {name}, \
             ma la copia dei messaggi dalla casella attuale non è ancora stata avviata. La avvii \
             dalla pagina {webmail}attivazione (indirizzo della casella e password attuale) \
             oppure dalla webmail {webmail}, con le credenziali del messaggio di benvenuto, \
             seguendo l'avviso «clicca qui».\r\n\r\nSenza la copia, i messaggi ricevuti finora resteranno solo \
             presso il gestore attuale.\r\n\r\n{name}\r\n",
            name = provider.name
        ),
    )
}

/// An ordinary message from the provider's service address, through the relay queue.
pub fn queue_plain_mail(
    store: &dyn Store,
    provider: &ProviderIdentity,
    to: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<(), StoreError> {
    let bytes = plain_mail(provider, to, subject, body, now);
    let blob = store.put_blob(&bytes)?;
    let from = provider.service_address();
    store.write(|db| db.enqueue(QueueKind::Relay, &from, &[to.to_string()], &blob, None, now))
}

/// An ordinary message's bytes from the provider's service address.
pub(crate) fn plain_mail(
    provider: &ProviderIdentity,
    to: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Vec<u8> {
    let from = provider.service_address();
    let date = pec::PecTime::from_unix_or_epoch(now).rfc5322();
    format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\n{}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        pec::wire::header("Subject", subject)
    )
    .into_bytes()
}

/// Reminds the holders of a domain in migration who have not started their copy (no job, or
/// a stopped one) and have a recovery address, each once per `kind` (`auto-7`, `manual-…`).
/// The addresses reminded.
pub fn remind(
    store: &dyn Store,
    provider: &ProviderIdentity,
    webmail: &str,
    domain: &str,
    kind: &str,
    actor: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let Some(d) = store
        .domain(domain)?
        .filter(|d| d.state == DomainState::Migrating)
    else {
        return Ok(Vec::new());
    };
    let suffix = format!("@{}", d.name);
    let mut sent = Vec::new();
    for m in store.mailboxes()? {
        if !m.address.to_ascii_lowercase().ends_with(&suffix) {
            continue;
        }
        let started = store
            .migration_job(m.id)?
            .is_some_and(|j| j.state != store::MigrationState::Stopped);
        let Some(to) = m.recovery_email.clone().filter(|_| !started) else {
            continue;
        };
        let (subject, body) = reminder_message(provider, webmail, &m.address, &d);
        let bytes = plain_mail(provider, &to, &subject, &body, now);
        let blob = store.put_blob(&bytes)?;
        let from = provider.service_address();
        let first = store.write(|tx| {
            if !tx.note_reminder(m.id, kind, actor, now)? {
                return Ok(false);
            }
            tx.enqueue(
                QueueKind::Relay,
                &from,
                std::slice::from_ref(&to),
                &blob,
                None,
                now,
            )?;
            tx.log_append(&store::LogRecord {
                time: now,
                event: "promemoria-copia",
                msgid: &format!("casella:{}", m.address),
                sender: actor,
                recipients: std::slice::from_ref(&to),
                subject: &format!("promemoria {kind}"),
                related: &[],
                provider: &provider.name,
                actor: "",
            })?;
            Ok(true)
        })?;
        if first {
            sent.push(m.address);
        }
    }
    Ok(sent)
}

/// Writes one legal-log record of an operator's action on a box.
fn log_action(
    store: &dyn Store,
    provider: &ProviderIdentity,
    (event, address, actor): (&str, &str, &str),
    subject: &str,
    now: i64,
) -> Result<(), StoreError> {
    crate::operators::record(
        store,
        &provider.name,
        crate::operators::Action {
            event,
            target: &format!("casella:{address}"),
            actor,
        },
        subject,
        now,
    )
}

/// Suspends a box (no login anywhere, its webmail sessions end; its mail is still received)
/// or resumes it; a legal-log record names who did it.
pub fn set_suspended(
    store: &dyn Store,
    provider: &ProviderIdentity,
    address: &str,
    suspended: bool,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    store.set_suspended(address, suspended)?;
    let (event, text) = if suspended {
        ("casella-sospesa", format!("casella {address} sospesa"))
    } else {
        (
            "casella-riattivata",
            format!("casella {address} riattivata"),
        )
    };
    log_action(store, provider, (event, address, actor), &text, now)
}

/// The operator's password reset: a new temporary password, mailed to the recovery address
/// like a welcome, to be changed at the first webmail login; every session ends. The
/// recovery address it went to.
pub fn reset_password(
    store: &dyn Store,
    provider: &ProviderIdentity,
    address: &str,
    actor: &str,
    now: i64,
) -> Result<String, ImportError> {
    let m = store
        .mailbox(address)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
    let to = m.recovery_email.clone().ok_or_else(|| {
        ImportError::Rows(vec![format!("{address}: nessun indirizzo di recupero")])
    })?;
    let password = accounts::generate_password().map_err(AccountError::from)?;
    let hash = accounts::hash_password(&password).map_err(AccountError::from)?;
    store.set_password(&m.address, &hash, true)?;
    let body = format!(
        "Gentile utente,\r\n\r\nla password della casella di posta elettronica certificata \
         {address} è stata reimpostata dal gestore.\r\n\r\nPassword provvisoria: {password}\r\n\r\n\
         Al primo accesso alla webmail le verrà chiesto di cambiarla.\r\n\r\n{}\r\n",
        provider.name,
        address = m.address
    );
    queue_plain_mail(
        store,
        provider,
        &to,
        "Nuova password della casella PEC",
        &body,
        now,
    )?;
    log_action(
        store,
        provider,
        ("password-reimpostata", &m.address, actor),
        &format!(
            "password di {} reimpostata, inviata all'indirizzo di recupero",
            m.address
        ),
        now,
    )?;
    Ok(to)
}

/// Adds a plan; a legal-log record names who did it.
pub fn add_plan(
    store: &dyn Store,
    provider: &ProviderIdentity,
    plan: &store::Plan,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    store.add_plan(plan, now)?;
    crate::operators::record(
        store,
        &provider.name,
        crate::operators::Action {
            event: "piano-creato",
            target: &format!("piano:{}", plan.name),
            actor,
        },
        &format!(
            "piano {} creato: {} byte{}",
            plan.name,
            plan.quota,
            if plan.archive { ", con archivio" } else { "" }
        ),
        now,
    )
}

/// Moves a box to a plan (its quota becomes the plan's); logged with who did it.
pub fn assign_plan(
    store: &dyn Store,
    provider: &ProviderIdentity,
    address: &str,
    plan: &str,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let m = store
        .mailbox(address)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {address}")))?;
    store.set_profile(
        &m.address,
        &store::MailboxProfile {
            name: m.name.as_deref(),
            plan: Some(plan),
            welcomed_at: None,
        },
    )?;
    log_action(
        store,
        provider,
        ("piano-assegnato", &m.address, actor),
        &format!("casella {} nel piano {plan}", m.address),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_either_separator_quotes_and_a_bom() {
        let text = "\u{feff}indirizzo;nome;email_recupero;piano\r\n\
                    a@pec.test;\"Rossi; Mario\";mario@esempio.it;base\r\n\r\n\
                    B@pec.test;;b@esempio.it;\r\n";
        let rows = parse_csv(text).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name.as_deref(), Some("Rossi; Mario"));
        assert_eq!((rows[1].address.as_str(), rows[1].line), ("b@pec.test", 4));
        assert_eq!(rows[1].plan, None);
        let english = "address,recovery_email,name\na@pec.test,x@e.it,\"Anna \"\"A\"\"\"\n";
        let rows = parse_csv(english).expect("rows");
        assert_eq!(rows[0].name.as_deref(), Some("Anna \"A\""));
        assert!(parse_csv("nome;piano\nx;y\n").is_err(), "required columns");
        let errors = parse_csv("indirizzo;email_recupero\n;x@e.it\na@p.t;\"aperta\n").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("riga 2") && errors[1].starts_with("riga 3"));
    }
}
