//! Taking over a whole PEC domain from another provider (issue 16; seed 001): the domain is
//! created here *in migrazione*, its boxes copy their old mail (services::migration), and at
//! the switch-over — by the operator (`certa domain switch`) or at its planned time — it
//! becomes *attivo*: every copy into its boxes runs its last sync and ends, the old passwords
//! are erased. One transaction, one legal-log record.

use crate::provider::Provider;
use store::{LogRecord, Store, StoreError};

/// Switches a domain in migration over to us now; the copies that get their last run.
/// `actor` names who did it in the legal log (`cli:USER`, `sistema` for the planned time).
pub fn switch(
    store: &dyn Store,
    provider: &str,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let name = name.trim().to_ascii_lowercase();
    store.write(|tx| {
        let copies = tx.switch_domain(&name, now)?;
        tx.log_append(&LogRecord {
            time: now,
            event: "passaggio-dominio",
            msgid: &format!("dominio:{name}"),
            sender: actor,
            recipients: &[],
            subject: &format!("dominio {name} attivo: {copies} copie all'ultima sincronizzazione"),
            related: &[],
            provider,
            actor: "",
        })?;
        Ok(copies)
    })
}

/// The automatic reminders (the timers' scan): for each domain in migration, once its last
/// threshold of `reminder_days` before the switch-over has passed, the holders who have not
/// started their copy get the reminder of that threshold, once.
pub fn remind_due(p: &Provider) -> Result<usize, StoreError> {
    let now = p.now();
    let mut sent = 0;
    for d in p.store.domain_list()? {
        let (store::DomainState::Migrating, Some(switch_at)) = (d.state, d.switch_at) else {
            continue;
        };
        let due = p
            .migration
            .reminder_days
            .iter()
            .filter(|days| switch_at - **days * 86_400 <= now && now < switch_at)
            .min();
        if let Some(days) = due {
            let reminded = crate::onboarding::remind(
                &*p.store,
                &p.identity,
                &p.migration.public_url,
                &d.name,
                &format!("auto-{days}"),
                "sistema",
                now,
            )?;
            if !reminded.is_empty() {
                tracing::info!(domain = %d.name, days, reminded = reminded.len(), "copy reminders sent");
            }
            sent += reminded.len();
        }
    }
    Ok(sent)
}

/// The switch-overs due now (the timers' scan): each domain whose planned time has come.
pub fn switch_due(p: &Provider) -> Result<usize, StoreError> {
    let now = p.now();
    let mut switched = 0;
    for name in p.store.domains_due_to_switch(now)? {
        let copies = switch(&*p.store, &p.identity.name, &name, "sistema", now)?;
        tracing::info!(domain = %name, copies, "domain switched over at its planned time");
        switched += 1;
    }
    Ok(switched)
}

/// Why the start page refused; the texts never tell whether a box exists.
#[derive(Debug, thiserror::Error)]
pub enum StartPageError {
    /// Unknown box, not in migration, or the old provider refused the password.
    #[error("Credenziali non valide")]
    Invalid,
    #[error("Troppi tentativi non riusciti: riprovare tra qualche minuto")]
    Throttled,
    /// The form's token is not ours, or its time passed: start again.
    #[error("Sessione scaduta: ricominciare la procedura")]
    Expired,
    #[error("Password non valida: {}", .0.join("; "))]
    Policy(Vec<String>),
    #[error("Le due password non coincidono")]
    Mismatch,
    #[error("Servizio momentaneamente non disponibile: riprovare più tardi")]
    Unavailable,
}

impl StartPageError {
    pub fn english(&self) -> String {
        match self {
            StartPageError::Invalid => "Invalid credentials".into(),
            StartPageError::Throttled => {
                "Too many failed attempts: try again in a few minutes".into()
            }
            StartPageError::Expired => "Session expired: start the procedure again".into(),
            StartPageError::Policy(why) => format!("Invalid password: {}", why.join("; ")),
            StartPageError::Mismatch => "The two passwords differ".into(),
            StartPageError::Unavailable => {
                "Service temporarily unavailable: try again later".into()
            }
        }
    }
}

/// How long the second step may wait for the first.
const START_PAGE_TICKET_SECS: i64 = 15 * 60;
/// What a start page ticket is sealed for.
const START_PAGE_CONTEXT: &[u8] = b"pagina di attivazione";

/// The start page's first step (seed 004): the box and its *current* password, checked
/// against the old provider, throttled like a login. On success a sealed ticket for the
/// second step (the box, the time, the current password: only this provider opens it).
pub async fn check_current(
    p: &std::sync::Arc<Provider>,
    ip: std::net::IpAddr,
    address: &str,
    password: &str,
) -> Result<String, StartPageError> {
    let address = address.trim().to_ascii_lowercase();
    let now = p.now();
    let attempt = p
        .throttle
        .begin(ip, &format!("attivazione:{address}"), now)
        .map_err(|_| StartPageError::Throttled)?;
    tokio::time::sleep(attempt.delay).await;
    let store = p.store.clone();
    let a = address.clone();
    let known = crate::blocking(move || {
        Ok::<bool, StoreError>(
            store.mailbox(&a)?.is_some()
                && crate::migration::migrating_domain(&*store, &a)?.is_some(),
        )
    })
    .await
    .ok_or(StartPageError::Unavailable)?
    .map_err(|_| StartPageError::Unavailable)?;
    if !known || password.is_empty() || password.len() > 1024 {
        return Err(StartPageError::Invalid);
    }
    match crate::migration::verify_old_password(p, &address, password).await {
        Ok(()) => {}
        Err(store::MigrationErrorKind::Credentials) => return Err(StartPageError::Invalid),
        Err(_) => return Err(StartPageError::Unavailable),
    }
    attempt.succeeded();
    let sealed = p
        .migration
        .key
        .seal(
            format!("{address}\n{}\n{password}", now + START_PAGE_TICKET_SECS).as_bytes(),
            START_PAGE_CONTEXT,
        )
        .map_err(|_| StartPageError::Unavailable)?;
    Ok(hex::encode(sealed))
}

/// What the start page's second step did.
#[derive(Debug)]
pub struct Activated {
    pub address: String,
    /// The switch-over, from when the new password opens the box.
    pub switch_at: Option<i64>,
}

/// The start page's second step: the password valid from the switch-over (under the one
/// policy), kept apart until then; and the copy of the old box into INBOX starts.
pub fn set_new_password(
    p: &Provider,
    ticket: &str,
    password: &str,
    confirm: &str,
) -> Result<Activated, StartPageError> {
    let now = p.now();
    let opened = hex::decode(ticket.trim())
        .ok()
        .and_then(|t| p.migration.key.open(&t, START_PAGE_CONTEXT))
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or(StartPageError::Expired)?;
    let mut parts = opened.splitn(3, '\n');
    let (Some(address), Some(expires), Some(old)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(StartPageError::Expired);
    };
    if expires.parse::<i64>().map_or(true, |e| e < now) {
        return Err(StartPageError::Expired);
    }
    if password != confirm {
        return Err(StartPageError::Mismatch);
    }
    crate::accounts::check_password_policy(password).map_err(StartPageError::Policy)?;
    let hash = crate::accounts::hash_password(password).map_err(|_| StartPageError::Unavailable)?;
    let unavailable = |e: StoreError| {
        tracing::warn!(error = %e, "start page");
        StartPageError::Unavailable
    };
    let domain = crate::migration::migrating_domain(&*p.store, address)
        .map_err(unavailable)?
        .ok_or(StartPageError::Invalid)?;
    p.store
        .set_pending_password(address, &hash)
        .map_err(unavailable)?;
    let request = crate::migration::StartRequest {
        address: address.to_string(),
        old_address: address.to_string(),
        password: old.to_string(),
        server: None,
        ca_pem: None,
        into_inbox: true,
        all_folders: false,
    };
    match crate::migration::start(&*p.store, &p.migration, &request, now) {
        // A copy under way goes on as it is.
        Ok(_) | Err(crate::migration::MigrationError::Running) => {}
        Err(e) => {
            tracing::warn!(error = %e, "start page: the copy did not start");
            return Err(StartPageError::Unavailable);
        }
    }
    tracing::info!(mailbox = %address, "start page: password for after the switch set, copy started");
    Ok(Activated {
        address: address.to_string(),
        switch_at: domain.switch_at,
    })
}

/// How a line of the switch-over checklist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CheckState {
    #[serde(rename = "ok")]
    Ok,
    /// Not yet needed (the TTL is lowered the day before).
    #[serde(rename = "da fare")]
    Todo,
    #[serde(rename = "errato")]
    Wrong,
    /// DNS did not answer: unknown, not wrong.
    #[serde(rename = "non verificabile")]
    Unknown,
}

/// One line of the switch-over checklist: what, what it should be, what it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckLine {
    pub item: String,
    pub expected: String,
    pub found: String,
    pub state: CheckState,
}

/// What the domain's DNS must say once it is ours.
#[derive(Debug, Clone)]
pub struct DnsExpectation {
    /// Our mail exchanger (`[provider] hostname`).
    pub mx_host: String,
    /// SPF mechanisms that authorise us (any of them).
    pub spf: Vec<String>,
    /// The MX TTL from the day before the switch-over, seconds.
    pub ttl_max: u32,
}

/// The switch-over checklist of a domain (issue 16 Build 3; seed 001): its state, then the
/// DNS records checked live — MX at us, the TTL lowered the day before, SPF authorising us.
pub fn checklist(
    resolver: Option<std::net::SocketAddr>,
    domain: &store::Domain,
    want: &DnsExpectation,
    now: i64,
) -> Vec<CheckLine> {
    use crate::dns::{mx_records, txt_records, DnsError};
    let mut lines = vec![CheckLine {
        item: "stato del dominio".into(),
        expected: "attivo dopo il passaggio".into(),
        found: match domain.state {
            store::DomainState::Migrating => "in migrazione".into(),
            store::DomainState::Active => "attivo".into(),
        },
        state: CheckState::Ok,
    }];
    lines.push(CheckLine {
        item: "decertificazione presso il vecchio gestore".into(),
        expected: "confermata prima del passaggio".into(),
        found: match &domain.decertification_note {
            Some(note) => format!(
                "{} ({note})",
                decertification_caption(domain.decertification)
            ),
            None => decertification_caption(domain.decertification).into(),
        },
        state: match (domain.decertification, domain.state) {
            (store::Decertification::Confirmed, _) | (_, store::DomainState::Active) => {
                CheckState::Ok
            }
            _ => CheckState::Todo,
        },
    });
    let Some(resolver) = resolver else {
        for item in ["MX", "TTL dei record MX", "SPF"] {
            lines.push(CheckLine {
                item: item.into(),
                expected: String::new(),
                found: "nessun resolver DNS".into(),
                state: CheckState::Unknown,
            });
        }
        return lines;
    };
    let unknown = |item: &str, expected: String, e: &DnsError| CheckLine {
        item: item.into(),
        expected,
        found: e.to_string(),
        state: match e {
            DnsError::NoSuchDomain(_) => CheckState::Wrong,
            _ => CheckState::Unknown,
        },
    };
    let host = want.mx_host.trim_end_matches('.').to_ascii_lowercase();
    let expected_mx = format!("MX verso {host}");
    match mx_records(resolver, &domain.name) {
        Err(e) => {
            lines.push(unknown("MX", expected_mx, &e));
            lines.push(unknown(
                "TTL dei record MX",
                format!("≤ {} s", want.ttl_max),
                &e,
            ));
        }
        Ok(mx) => {
            let found = if mx.is_empty() {
                "nessun record MX".to_string()
            } else {
                mx.iter()
                    .map(|r| format!("{} {}", r.preference, r.exchanger))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let best = mx.first().map(|r| r.preference);
            let ours = !mx.is_empty()
                && mx.iter().filter(|r| Some(r.preference) == best).all(|r| {
                    r.exchanger
                        .trim_end_matches('.')
                        .eq_ignore_ascii_case(&host)
                });
            lines.push(CheckLine {
                item: "MX".into(),
                expected: expected_mx,
                found,
                state: if ours {
                    CheckState::Ok
                } else {
                    CheckState::Wrong
                },
            });
            let ttl = mx.iter().map(|r| r.ttl).max();
            let soon = domain.switch_at.is_some_and(|t| t - now <= 2 * 86_400);
            lines.push(CheckLine {
                item: "TTL dei record MX".into(),
                expected: format!("≤ {} s dal giorno prima del passaggio", want.ttl_max),
                found: ttl.map_or("—".into(), |t| format!("{t} s")),
                state: match ttl {
                    Some(t) if t <= want.ttl_max => CheckState::Ok,
                    _ if !soon && domain.state == store::DomainState::Migrating => CheckState::Todo,
                    _ => CheckState::Wrong,
                },
            });
        }
    }
    let expected_spf = format!("un solo record v=spf1 con {}", want.spf.join(" o "));
    match txt_records(resolver, &domain.name) {
        Err(e) => lines.push(unknown("SPF", expected_spf, &e)),
        Ok(txt) => {
            let spf: Vec<&String> = txt
                .iter()
                .map(|(t, _)| t)
                .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
                .collect();
            let authorises = |record: &str| {
                record.split_ascii_whitespace().any(|m| {
                    let m = m.trim_start_matches('+');
                    want.spf.iter().any(|w| m.eq_ignore_ascii_case(w))
                })
            };
            let (found, state) = match spf.as_slice() {
                [] => ("nessun record SPF".to_string(), CheckState::Wrong),
                [one] if authorises(one) => (one.to_string(), CheckState::Ok),
                [one] => (one.to_string(), CheckState::Wrong),
                many => (
                    format!("{} record SPF (deve essercene uno solo)", many.len()),
                    CheckState::Wrong,
                ),
            };
            lines.push(CheckLine {
                item: "SPF".into(),
                expected: expected_spf,
                found,
                state,
            });
        }
    }
    lines
}

/// Where a box of a domain in migration stands with its copy, for the operator's board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxProgress {
    /// No copy, or one stopped: the holder has to act (reminders go to these).
    NotStarted,
    Preparing,
    Copying,
    Copied,
    Failed,
    /// The switch-over took place and the copy ended.
    Finished,
}

impl BoxProgress {
    /// Started and not in error: copying or synced.
    pub fn started(self) -> bool {
        matches!(
            self,
            BoxProgress::Preparing
                | BoxProgress::Copying
                | BoxProgress::Copied
                | BoxProgress::Finished
        )
    }

    pub fn caption(self) -> &'static str {
        match self {
            BoxProgress::NotStarted => "Non avviata",
            BoxProgress::Preparing => "In preparazione",
            BoxProgress::Copying => "Copia in corso",
            BoxProgress::Copied => "Copiato",
            BoxProgress::Failed => "Errore",
            BoxProgress::Finished => "Conclusa",
        }
    }
}

/// The board's filters (`?filtro=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardFilter {
    All,
    NotStarted,
    Started,
    Failed,
}

impl BoardFilter {
    pub fn parse(s: &str) -> BoardFilter {
        match s {
            "non-avviate" => BoardFilter::NotStarted,
            "avviate" => BoardFilter::Started,
            "errore" => BoardFilter::Failed,
            _ => BoardFilter::All,
        }
    }

    fn keeps(self, p: BoxProgress) -> bool {
        match self {
            BoardFilter::All => true,
            BoardFilter::NotStarted => p == BoxProgress::NotStarted,
            BoardFilter::Started => p.started(),
            BoardFilter::Failed => p == BoxProgress::Failed,
        }
    }
}

/// One box on the board.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoxRow {
    pub address: String,
    pub name: String,
    pub plan: String,
    pub suspended: bool,
    pub progress: BoxProgress,
    pub copied_messages: i64,
    pub source_messages: i64,
    pub copied_bytes: i64,
    pub source_bytes: i64,
    /// Seconds left for the copy running now, when it can be told.
    pub eta_secs: Option<i64>,
    pub last_sync: Option<i64>,
    /// The error's caption and the cause as the old server or our side gave it.
    pub error: Option<String>,
}

/// The boxes of a domain and their copies, with the counters over all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Board {
    pub rows: Vec<BoxRow>,
    pub total: usize,
    pub started: usize,
    pub not_started: usize,
    pub failed: usize,
}

/// The board of a domain (issue 16 Build 5): every box, its copy's state, progress, last
/// sync and error; the counters count every box, the rows only those `filter` keeps.
pub fn board(
    store: &dyn Store,
    domain: &str,
    filter: BoardFilter,
    now: i64,
) -> Result<Board, StoreError> {
    use store::MigrationState as S;
    let suffix = format!("@{}", domain.trim().to_ascii_lowercase());
    let jobs: std::collections::HashMap<_, _> = store
        .migration_jobs()?
        .into_iter()
        .map(|j| (j.mailbox_id, j))
        .collect();
    let mut rows = Vec::new();
    let (mut total, mut started, mut not_started, mut failed) = (0, 0, 0, 0);
    for m in store.mailboxes()? {
        if !m.address.to_ascii_lowercase().ends_with(&suffix) {
            continue;
        }
        let job = jobs.get(&m.id);
        let progress = match job.map(|j| j.state) {
            None | Some(S::Stopped) => BoxProgress::NotStarted,
            Some(S::Preparing) => BoxProgress::Preparing,
            Some(S::Copying) => BoxProgress::Copying,
            Some(S::Copied) => BoxProgress::Copied,
            Some(S::Failed) => BoxProgress::Failed,
            Some(S::Finished) => BoxProgress::Finished,
        };
        total += 1;
        match progress {
            BoxProgress::NotStarted => not_started += 1,
            BoxProgress::Failed => failed += 1,
            _ => started += 1,
        }
        if !filter.keeps(progress) {
            continue;
        }
        rows.push(BoxRow {
            address: m.address.clone(),
            name: m.name.clone().unwrap_or_default(),
            plan: m.plan.clone().unwrap_or_default(),
            suspended: m.suspended,
            progress,
            copied_messages: job.map_or(0, |j| j.copied_messages),
            source_messages: job.map_or(0, |j| j.source_messages),
            copied_bytes: job.map_or(0, |j| j.copied_bytes),
            source_bytes: job.map_or(0, |j| j.source_bytes),
            eta_secs: job.and_then(|j| crate::migration::estimate_left(j, now)),
            last_sync: job.and_then(|j| j.last_run_finished),
            error: job.filter(|j| j.state == S::Failed).map(|j| {
                let caption = j
                    .error_kind
                    .map_or("errore", |k| crate::migration::error_caption(k, false));
                match &j.error_detail {
                    Some(d) => format!("{caption}: {d}"),
                    None => caption.to_string(),
                }
            }),
        });
    }
    rows.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(Board {
        rows,
        total,
        started,
        not_started,
        failed,
    })
}

/// One field of a `;`-separated CSV: RFC 4180 quoting; a leading formula character is
/// neutralised (CSV injection).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The board as CSV (`;`, as Italian spreadsheets read it), one line per row shown.
pub fn board_csv(board: &Board) -> String {
    let field = csv_field;
    let mut out = String::from(
        "indirizzo;nome;piano;stato;messaggi copiati;messaggi totali;ultima sincronizzazione;errore\r\n",
    );
    for r in &board.rows {
        let last = r.last_sync.map_or(String::new(), |t| {
            let t = pec::PecTime::from_unix_or_epoch(t);
            format!("{} {}", t.giorno(), t.ora())
        });
        out.push_str(
            &[
                field(&r.address),
                field(&r.name),
                field(&r.plan),
                r.progress.caption().to_string(),
                r.copied_messages.to_string(),
                r.source_messages.to_string(),
                last,
                field(r.error.as_deref().unwrap_or("")),
            ]
            .join(";"),
        );
        out.push_str("\r\n");
    }
    out
}

/// The decertification's state as operators read it.
pub fn decertification_caption(d: store::Decertification) -> &'static str {
    match d {
        store::Decertification::NotRequested => "non richiesta",
        store::Decertification::Requested => "richiesta",
        store::Decertification::Confirmed => "confermata",
    }
}

/// Records the old provider's decertification as the operator entered it, in the legal log.
pub fn set_decertification(
    store: &dyn Store,
    provider: &str,
    domain: &str,
    state: store::Decertification,
    note: Option<&str>,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    store.set_decertification(domain, state, note)?;
    crate::operators::record(
        store,
        provider,
        crate::operators::Action {
            event: "decertificazione",
            target: &format!("dominio:{domain}"),
            actor,
        },
        &format!(
            "decertificazione di {domain} presso il vecchio gestore: {}{}",
            decertification_caption(state),
            note.map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        now,
    )
}
