//! The operator console (issue 16 Build 5) on its own listener, `[listen] admin`: always
//! HTTPS, its own accounts (`services::operators`: argon2id, optional TOTP) and sessions, a
//! different origin from the webmail — nothing the webmail renders (hostile HTML, however
//! sandboxed) shares its cookies — meant to be bound to a private network.
//!
//! Pages: domains with their state, switch-over checklist and the board of every box's
//! copy (filters, CSV, reminders, decertification, "Attiva ora"); mailboxes (create with
//! the welcome mail, plan, suspend, resume, password reset); plans; the delivery queue; the
//! legal log. Every action is one call into `services` with the actor `operatore:NAME`,
//! which writes its legal-log record. No script: forms and links only.

use crate::session::{cookie_token, random_token, token_hash};
use crate::{page, serve_connections, tls, Peer, WebError};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use services::console::{self, OperatorSession, StoreError};
use services::operators::{self, SessionLimits};
use services::provider::Provider;
use services::takeover::{self, BoardFilter, CheckState, DnsExpectation};
use std::sync::Arc;
use std::time::Duration;

/// The console's cookie: `__Host-` (Secure, Path=/, no Domain), so no other host plants it.
const COOKIE: &str = "__Host-certa_admin";
/// Every console form is small.
const MAX_BODY: usize = 16 * 1024;
/// Rows a list shows at most (a search narrows it).
const MAX_ROWS: usize = 500;

/// How the console listens and what it needs beyond the provider.
pub struct AdminConfig {
    pub tls: Arc<openssl::ssl::SslAcceptor>,
    pub connections: Arc<net::connections::Connections>,
    pub limits: SessionLimits,
    /// Operators without a second factor cannot log in.
    pub require_totp: bool,
    /// What the domains' DNS must say once they are ours (the checklist).
    pub dns: DnsExpectation,
    pub header_read_timeout: Duration,
}

#[derive(Clone)]
struct AdminState {
    p: Arc<Provider>,
    limits: SessionLimits,
    require_totp: bool,
    dns: Arc<DnsExpectation>,
}

/// Serves the console on `addr` until the process ends.
pub async fn serve_admin(addr: &str, p: Arc<Provider>, cfg: AdminConfig) -> std::io::Result<()> {
    let state = AdminState {
        p,
        limits: cfg.limits,
        require_totp: cfg.require_totp,
        dns: Arc::new(cfg.dns),
    };
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let tls = tls::TlsListener::new(listener, cfg.tls, cfg.connections, "admin");
    tokio::spawn(serve_connections(
        tls,
        app,
        cfg.header_read_timeout,
        true,
        "admin",
    ));
    Ok(())
}

fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/domini") }))
        .route("/accesso", get(login_page).post(login))
        .route("/esci", post(logout))
        .route("/domini", get(domains))
        .route("/domini/{domain}", get(domain))
        .route("/domini/{domain}/caselle.csv", get(board_csv))
        .route("/domini/{domain}/indice.ldif", get(index_entry))
        .route("/domini/{domain}/promemoria", post(remind))
        .route("/domini/{domain}/decertificazione", post(decertification))
        .route("/domini/{domain}/attiva", get(confirm_switch).post(switch))
        .route("/caselle", get(boxes).post(create_box))
        .route("/caselle/azione", post(box_action))
        .route("/piani", get(plans).post(add_plan))
        .route("/coda", get(queue))
        .route("/coda/riprova", post(queue_retry))
        .route("/registro", get(log))
        .route("/static/style.css", get(crate::style))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf_guard,
        ))
        .layer(axum::middleware::map_response_with_state(
            true,
            crate::security_headers,
        ))
        .layer(axum::middleware::map_response(no_store))
        .with_state(state)
}

/// Nothing the console shows is kept by the browser or a proxy.
async fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Runs store work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(format!("attività interrotta: {e}")))?
}

fn store_error(e: StoreError) -> WebError {
    match e {
        StoreError::NotFound(what) => WebError::BadRequest(format!("{what}: non trovato")),
        StoreError::Exists(what) => WebError::BadRequest(format!("{what}: esiste già")),
        StoreError::Refused(why) => WebError::BadRequest(why),
        StoreError::Retryable(e) => WebError::Unavailable(e),
        e => WebError::Internal(e.to_string()),
    }
}

async fn request_session(st: &AdminState, parts: &Parts) -> Option<OperatorSession> {
    if let Some(s) = parts.extensions.get::<OperatorSession>() {
        return Some(s.clone());
    }
    let hash = token_hash(&cookie_token(parts, COOKIE)?);
    let (p, limits) = (st.p.clone(), st.limits);
    blocking(move || operators::session(&*p.store, &hash, limits, p.now()).map_err(store_error))
        .await
        .ok()
        .flatten()
}

/// A logged-in operator; anyone else goes to the login page.
struct Operator(OperatorSession);

impl FromRequestParts<AdminState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AdminState) -> Result<Self, Response> {
        match request_session(st, parts).await {
            Some(s) => Ok(Operator(s)),
            None => Err(Redirect::to("/accesso").into_response()),
        }
    }
}

impl Operator {
    fn actor(&self) -> String {
        operators::actor(&self.0.operator)
    }
}

/// Every POST comes from the console's own pages (Origin) and, but the login, carries the
/// session's token in its URL (`?csrf=…`), compared in constant time.
async fn csrf_guard(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let mut ok = crate::session::same_origin(&parts);
    if ok && parts.uri.path() != "/accesso" {
        ok = match request_session(&st, &parts).await {
            Some(s) if crate::session::csrf_matches(&parts, &s.csrf) => {
                parts.extensions.insert(s);
                true
            }
            _ => false,
        };
    }
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            "Richiesta rifiutata: token di sicurezza (CSRF) mancante o non valido.",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// "il 23/11/2026 alle 14:00" style, from Unix time, in Italian time.
fn when(t: Option<i64>) -> String {
    t.map(|t| {
        let t = pec::PecTime::from_unix_or_epoch(t);
        format!("{} {}", t.giorno(), t.ora())
    })
    .unwrap_or_default()
}

/// "3 g 4 h", "25 min"; empty when past.
fn time_left(secs: i64) -> String {
    match secs {
        s if s <= 0 => String::new(),
        s if s >= 86_400 => format!("{} g {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} min", (s + 59) / 60),
    }
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{} KB", (b.max(0) + 1023) / 1024),
    }
}

// ---- login ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    name: String,
}

async fn login_page() -> Response {
    page(&LoginPage {
        operator: String::new(),
        csrf: String::new(),
        notice: None,
        error: None,
        name: String::new(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    code: String,
}

async fn login(
    State(st): State<AdminState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let r = operators::authenticate(
        &st.p,
        &f.name,
        &f.password,
        &f.code,
        peer.ip(),
        st.require_totp,
    )
    .await;
    let name = match r {
        Ok(name) => name,
        Err(e) => {
            let mut r = page(&LoginPage {
                operator: String::new(),
                csrf: String::new(),
                notice: None,
                error: Some(match e {
                    operators::ConsoleLoginError::Refused => {
                        "Accesso non riuscito: nome, password o codice non validi.".into()
                    }
                    e => e.to_string(),
                }),
                name: f.name.chars().take(64).collect(),
            });
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(r);
        }
    };
    let token = random_token()?;
    let (csrf, hash, p, limits) = (random_token()?, token_hash(&token), st.p.clone(), st.limits);
    blocking(move || {
        operators::begin_session(&*p.store, &name, hash, csrf, limits, p.now()).map_err(store_error)
    })
    .await?;
    let mut r = Redirect::to("/domini").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn logout(State(st): State<AdminState>, op: Operator) -> Response {
    let (p, hash) = (st.p.clone(), op.0.token_hash.clone());
    let _ = blocking(move || console::end_session(&*p.store, &hash).map_err(store_error)).await;
    let mut r = Redirect::to("/accesso").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "__Host-certa_admin=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

// ---- domains -------------------------------------------------------------------------------

struct DomainRow {
    name: String,
    state: &'static str,
    switch: String,
    left: String,
    started: usize,
    total: usize,
    old_provider: String,
}

#[derive(Template)]
#[template(path = "admin/domains.html")]
struct DomainsPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    domains: Vec<DomainRow>,
}

fn state_name(s: console::DomainState) -> &'static str {
    match s {
        console::DomainState::Migrating => "in migrazione",
        console::DomainState::Active => "attivo",
    }
}

async fn domains(State(st): State<AdminState>, op: Operator) -> Result<Response, WebError> {
    let p = st.p.clone();
    let domains = blocking(move || {
        let now = p.now();
        let mut rows = Vec::new();
        for d in console::domains(&*p.store).map_err(store_error)? {
            let board =
                takeover::board(&*p.store, &d.name, BoardFilter::All, now).map_err(store_error)?;
            let migrating = d.state == console::DomainState::Migrating;
            rows.push(DomainRow {
                state: state_name(d.state),
                switch: when(if migrating {
                    d.switch_at
                } else {
                    d.switched_at
                }),
                left: match (migrating, d.switch_at) {
                    (true, Some(t)) => time_left(t - now),
                    _ => String::new(),
                },
                started: board.started,
                total: board.total,
                old_provider: d.old_provider.clone().unwrap_or_default(),
                name: d.name,
            });
        }
        Ok(rows)
    })
    .await?;
    Ok(page(&DomainsPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: None,
        domains,
    }))
}

struct CheckRow {
    item: String,
    state: &'static str,
    class: &'static str,
    expected: String,
    found: String,
}

struct BoardRow {
    address: String,
    name: String,
    plan: String,
    suspended: bool,
    caption: String,
    class: &'static str,
    messages: String,
    eta: String,
    last_sync: String,
    error: String,
}

#[derive(Template)]
#[template(path = "admin/domain.html")]
struct DomainPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    name: String,
    state: &'static str,
    migrating: bool,
    switch: String,
    left: String,
    checklist: Vec<CheckRow>,
    dns_checked: bool,
    board: takeover::Board,
    rows: Vec<BoardRow>,
    filter: String,
}

#[derive(Deserialize, Default)]
struct DomainQuery {
    #[serde(default)]
    filtro: String,
    #[serde(default)]
    dns: String,
    #[serde(default)]
    fatto: String,
}

/// What an action's redirect tells the page (`?fatto=`): known words only, never text from
/// the URL.
fn done_notice(code: &str) -> Option<String> {
    Some(match code.split(':').next().unwrap_or_default() {
        "promemoria" => format!(
            "Promemoria inviati: {}.",
            code.split(':')
                .nth(1)
                .unwrap_or("0")
                .parse::<u32>()
                .unwrap_or(0)
        ),
        "decertificazione" => "Decertificazione registrata.".into(),
        "attivo" => "Dominio attivato: le copie eseguono l'ultima sincronizzazione.".into(),
        "creata" => "Casella creata; il messaggio di benvenuto è in coda.".into(),
        "sospesa" => "Casella sospesa.".into(),
        "riattivata" => "Casella riattivata.".into(),
        "reimpostata" => "Password reimpostata e inviata all'indirizzo di recupero.".into(),
        "piano" => "Piano assegnato.".into(),
        "piano-creato" => "Piano aggiunto.".into(),
        "riprova" => "Elemento di nuovo in coda.".into(),
        _ => return None,
    })
}

fn check_state(s: CheckState) -> (&'static str, &'static str) {
    match s {
        CheckState::Ok => ("ok", "ok"),
        CheckState::Todo => ("da fare", "todo"),
        CheckState::Wrong => ("errato", "wrong"),
        CheckState::Unknown => ("non verificabile", "unknown"),
    }
}

fn board_row(r: &takeover::BoxRow) -> BoardRow {
    use takeover::BoxProgress as B;
    BoardRow {
        caption: match r.progress {
            B::Copying if r.source_bytes > 0 => format!(
                "{} ({}%)",
                r.progress.caption(),
                (r.copied_bytes.saturating_mul(100) / r.source_bytes).clamp(0, 100)
            ),
            _ => r.progress.caption().to_string(),
        },
        class: match r.progress {
            B::NotStarted => "not-started",
            B::Preparing => "preparing",
            B::Copying => "copying",
            B::Copied => "copied",
            B::Failed => "failed",
            B::Finished => "finished",
        },
        messages: if r.source_messages > 0 || r.copied_messages > 0 {
            format!("{} / {}", r.copied_messages, r.source_messages)
        } else {
            String::new()
        },
        eta: r.eta_secs.map(time_left).unwrap_or_default(),
        last_sync: when(r.last_sync),
        error: r.error.clone().unwrap_or_default(),
        address: r.address.clone(),
        name: r.name.clone(),
        plan: r.plan.clone(),
        suspended: r.suspended,
    }
}

async fn find_domain(st: &AdminState, name: &str) -> Result<console::Domain, WebError> {
    let (p, name) = (st.p.clone(), name.to_string());
    blocking(move || console::domain(&*p.store, &name).map_err(store_error))
        .await?
        .ok_or(WebError::NotFound)
}

async fn domain(
    State(st): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Query(q): Query<DomainQuery>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let filter = BoardFilter::parse(&q.filtro);
    let dns_checked = q.dns == "1";
    let (p, dns, d2) = (st.p.clone(), st.dns.clone(), d.clone());
    let (checklist, board) = blocking(move || {
        let now = p.now();
        // DNS is asked only on request ("Verifica DNS"): the board refreshes every minute.
        let resolver = if dns_checked { p.dns_resolver } else { None };
        let mut lines = takeover::checklist(resolver, &d2, &dns, now);
        if !dns_checked {
            lines.retain(|l| l.state != CheckState::Unknown);
        }
        let board = takeover::board(&*p.store, &d2.name, filter, now).map_err(store_error)?;
        Ok((lines, board))
    })
    .await?;
    let now = st.p.now();
    let migrating = d.state == console::DomainState::Migrating;
    Ok(page(&DomainPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: done_notice(&q.fatto),
        state: state_name(d.state),
        migrating,
        switch: when(if migrating {
            d.switch_at
        } else {
            d.switched_at
        }),
        left: match (migrating, d.switch_at) {
            (true, Some(t)) => time_left(t - now),
            _ => String::new(),
        },
        checklist: checklist
            .into_iter()
            .map(|l| {
                let (state, class) = check_state(l.state);
                CheckRow {
                    item: l.item,
                    state,
                    class,
                    expected: l.expected,
                    found: l.found,
                }
            })
            .collect(),
        dns_checked,
        rows: board.rows.iter().map(board_row).collect(),
        board,
        filter: match filter {
            BoardFilter::All => "",
            BoardFilter::NotStarted => "non-avviate",
            BoardFilter::Started => "avviate",
            BoardFilter::Failed => "errore",
        }
        .to_string(),
        name: d.name,
    }))
}

async fn board_csv(
    State(st): State<AdminState>,
    _op: Operator,
    Path(name): Path<String>,
    Query(q): Query<DomainQuery>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let filter = BoardFilter::parse(&q.filtro);
    let p = st.p.clone();
    let name = d.name.clone();
    let csv = blocking(move || {
        let board = takeover::board(&*p.store, &name, filter, p.now()).map_err(store_error)?;
        Ok(takeover::board_csv(&board))
    })
    .await?;
    let disposition = format!("attachment; filename=\"caselle-{}.csv\"", d.name);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                header::HeaderValue::from_str(&disposition)
                    .map_err(|e| WebError::Internal(e.to_string()))?,
            ),
        ],
        csv,
    )
        .into_response())
}

/// Our index entry with the domain, for the index authority before the switch-over.
async fn index_entry(
    State(st): State<AdminState>,
    _op: Operator,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let (p, domain) = (st.p.clone(), d.name.clone());
    let ldif = blocking(move || Ok(p.entry_including(&[domain]).to_ldif())).await?;
    let disposition = format!("attachment; filename=\"voce-indice-{}.ldif\"", d.name);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                header::HeaderValue::from_str(&disposition)
                    .map_err(|e| WebError::Internal(e.to_string()))?,
            ),
        ],
        ldif,
    )
        .into_response())
}

async fn remind(
    State(st): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let (p, actor, name) = (st.p.clone(), op.actor(), d.name.clone());
    let sent = blocking(move || {
        let now = p.now();
        services::onboarding::remind(
            &*p.store,
            &p.identity,
            &p.migration.public_url,
            &name,
            &format!("manual-{now}"),
            &actor,
            now,
        )
        .map_err(store_error)
    })
    .await?;
    Ok(Redirect::to(&format!(
        "/domini/{}?fatto=promemoria:{}",
        d.name,
        sent.len()
    ))
    .into_response())
}

#[derive(Deserialize)]
struct DecertForm {
    state: String,
    #[serde(default)]
    note: String,
}

async fn decertification(
    State(st): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<DecertForm>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let state = match f.state.as_str() {
        "richiesta" => console::Decertification::Requested,
        "confermata" => console::Decertification::Confirmed,
        _ => {
            return Err(WebError::BadRequest(
                "stato di decertificazione sconosciuto".into(),
            ))
        }
    };
    let note: String = f.note.trim().chars().take(200).collect();
    let (p, actor, name) = (st.p.clone(), op.actor(), d.name.clone());
    blocking(move || {
        takeover::set_decertification(
            &*p.store,
            &p.identity.name,
            &name,
            state,
            (!note.is_empty()).then_some(note.as_str()),
            &actor,
            p.now(),
        )
        .map_err(store_error)
    })
    .await?;
    Ok(Redirect::to(&format!("/domini/{}?fatto=decertificazione", d.name)).into_response())
}

#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    name: String,
    open: Vec<String>,
}

async fn confirm_switch(
    State(st): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    if d.state != console::DomainState::Migrating {
        return Err(WebError::BadRequest(format!(
            "il dominio {} è già attivo",
            d.name
        )));
    }
    let (p, dns, d2) = (st.p.clone(), st.dns.clone(), d.clone());
    let open = blocking(move || {
        Ok(takeover::checklist(p.dns_resolver, &d2, &dns, p.now())
            .into_iter()
            .filter(|l| l.state != CheckState::Ok)
            .map(|l| format!("{}: {} ({})", l.item, check_state(l.state).0, l.found))
            .collect())
    })
    .await?;
    Ok(page(&ConfirmPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: None,
        name: d.name,
        open,
    }))
}

async fn switch(
    State(st): State<AdminState>,
    op: Operator,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    let d = find_domain(&st, &name).await?;
    let (p, actor, name) = (st.p.clone(), op.actor(), d.name.clone());
    blocking(move || {
        takeover::switch(&*p.store, &p.identity.name, &name, &actor, p.now()).map_err(store_error)
    })
    .await?;
    tracing::info!(domain = %d.name, operator = %op.0.operator, "domain switched over from the console");
    Ok(Redirect::to(&format!("/domini/{}?fatto=attivo", d.name)).into_response())
}

// ---- mailboxes -----------------------------------------------------------------------------

struct BoxLine {
    address: String,
    name: String,
    plan: String,
    space: String,
    state: &'static str,
    suspended: bool,
}

#[derive(Template)]
#[template(path = "admin/boxes.html")]
struct BoxesPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    q: String,
    boxes: Vec<BoxLine>,
    shown: usize,
    total: usize,
    plans: Vec<String>,
}

#[derive(Deserialize, Default)]
struct BoxesQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    fatto: String,
}

async fn boxes(
    State(st): State<AdminState>,
    op: Operator,
    Query(q): Query<BoxesQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    let needle = q.q.trim().to_lowercase();
    let (boxes, total, plans) = blocking(move || {
        let all = console::mailboxes(&*p.store).map_err(store_error)?;
        let total = all.len();
        let boxes = all
            .into_iter()
            .filter(|m| {
                needle.is_empty()
                    || m.address.to_lowercase().contains(&needle)
                    || m.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&needle))
            })
            .take(MAX_ROWS)
            .map(|m| BoxLine {
                space: format!("{} / {}", size(m.used), size(m.quota)),
                state: if m.suspended {
                    "sospesa"
                } else if m.must_change_password {
                    "password provvisoria"
                } else {
                    "attiva"
                },
                suspended: m.suspended,
                name: m.name.unwrap_or_default(),
                plan: m.plan.unwrap_or_default(),
                address: m.address,
            })
            .collect::<Vec<_>>();
        let plans = console::plans(&*p.store)
            .map_err(store_error)?
            .into_iter()
            .map(|p| p.name)
            .collect();
        Ok((boxes, total, plans))
    })
    .await?;
    Ok(page(&BoxesPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: done_notice(&q.fatto),
        q: q.q,
        shown: boxes.len(),
        boxes,
        total,
        plans,
    }))
}

#[derive(Deserialize)]
struct NewBoxForm {
    address: String,
    #[serde(default)]
    name: String,
    recovery_email: String,
    #[serde(default)]
    plan: String,
}

/// A box created from the console is a one-row import: the same checks, the welcome mail
/// with its temporary password, the legal-log record.
async fn create_box(
    State(st): State<AdminState>,
    op: Operator,
    Form(f): Form<NewBoxForm>,
) -> Result<Response, WebError> {
    let row = services::onboarding::ImportRow {
        line: 1,
        address: f.address.trim().to_ascii_lowercase(),
        name: Some(f.name.trim().to_string()).filter(|n| !n.is_empty()),
        recovery_email: f.recovery_email.trim().to_string(),
        plan: Some(f.plan.trim().to_string()).filter(|p| !p.is_empty()),
        password: None,
    };
    let (p, actor) = (st.p.clone(), op.actor());
    let report = blocking(move || {
        services::onboarding::import(
            &*p.store,
            &p.identity,
            &p.migration.public_url,
            &[row],
            &actor,
            p.now(),
        )
        .map_err(|e| match e {
            services::onboarding::ImportError::Rows(rows) => WebError::BadRequest(
                rows.iter()
                    .map(|r| r.trim_start_matches("riga 1: ").to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            e => WebError::Internal(e.to_string()),
        })
    })
    .await?;
    if report.created.is_empty() {
        return Err(WebError::BadRequest(format!(
            "la casella esiste già: {}",
            report
                .different
                .first()
                .or(report.unchanged.first())
                .cloned()
                .unwrap_or_default()
        )));
    }
    Ok(Redirect::to("/caselle?fatto=creata").into_response())
}

#[derive(Deserialize)]
struct BoxActionForm {
    address: String,
    action: String,
    #[serde(default)]
    plan: String,
}

async fn box_action(
    State(st): State<AdminState>,
    op: Operator,
    Form(f): Form<BoxActionForm>,
) -> Result<Response, WebError> {
    let (p, actor) = (st.p.clone(), op.actor());
    let done = blocking(move || {
        let (store, id, now) = (&*p.store, &p.identity, p.now());
        let a = f.address.trim();
        match f.action.as_str() {
            "sospendi" | "riattiva" => {
                let suspend = f.action == "sospendi";
                services::onboarding::set_suspended(store, id, a, suspend, &actor, now)
                    .map_err(store_error)?;
                Ok(if suspend { "sospesa" } else { "riattivata" })
            }
            "reimposta" => {
                services::onboarding::reset_password(store, id, a, &actor, now).map_err(
                    |e| match e {
                        services::onboarding::ImportError::Rows(r) => {
                            WebError::BadRequest(r.join("; "))
                        }
                        e => WebError::Internal(e.to_string()),
                    },
                )?;
                Ok("reimpostata")
            }
            "piano" => {
                services::onboarding::assign_plan(store, id, a, f.plan.trim(), &actor, now)
                    .map_err(store_error)?;
                Ok("piano")
            }
            _ => Err(WebError::BadRequest("azione sconosciuta".into())),
        }
    })
    .await?;
    Ok(Redirect::to(&format!("/caselle?fatto={done}")).into_response())
}

// ---- plans ---------------------------------------------------------------------------------

struct PlanLine {
    name: String,
    quota: String,
    archive: bool,
}

#[derive(Template)]
#[template(path = "admin/plans.html")]
struct PlansPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    plans: Vec<PlanLine>,
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    #[serde(default)]
    fatto: String,
}

async fn plans(
    State(st): State<AdminState>,
    op: Operator,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    let plans = blocking(move || console::plans(&*p.store).map_err(store_error)).await?;
    Ok(page(&PlansPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: done_notice(&q.fatto),
        plans: plans
            .into_iter()
            .map(|p| PlanLine {
                quota: size(p.quota),
                name: p.name,
                archive: p.archive,
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
struct PlanForm {
    name: String,
    quota: String,
    #[serde(default)]
    archive: String,
}

/// "6GB", "500MB", "1 GB": bytes (binary units, as the quota shows them).
fn parse_quota(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_uppercase().replace(' ', "");
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = number.parse().ok()?;
    let shift = match unit {
        "KB" | "K" => 10,
        "MB" | "M" => 20,
        "GB" | "G" => 30,
        "TB" | "T" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift).filter(|b| *b > 0)
}

async fn add_plan(
    State(st): State<AdminState>,
    op: Operator,
    Form(f): Form<PlanForm>,
) -> Result<Response, WebError> {
    let name = f.name.trim().to_string();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_. ".contains(c))
    {
        return Err(WebError::BadRequest("nome del piano non valido".into()));
    }
    let quota = parse_quota(&f.quota)
        .ok_or_else(|| WebError::BadRequest(format!("spazio non valido: {}", f.quota)))?;
    let (p, actor) = (st.p.clone(), op.actor());
    let plan = console::Plan {
        name,
        quota,
        archive: f.archive == "on",
        max_collaborators: None,
    };
    blocking(move || {
        services::onboarding::add_plan(&*p.store, &p.identity, &plan, &actor, p.now())
            .map_err(store_error)
    })
    .await?;
    Ok(Redirect::to("/piani?fatto=piano-creato").into_response())
}

// ---- queue ---------------------------------------------------------------------------------

struct QueueLine {
    id: i64,
    state: &'static str,
    kind: String,
    created: String,
    from: String,
    to: String,
    attempts: i64,
    error: String,
    parked: bool,
}

#[derive(Template)]
#[template(path = "admin/queue.html")]
struct QueuePage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    items: Vec<QueueLine>,
}

async fn queue(
    State(st): State<AdminState>,
    op: Operator,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    let items = blocking(move || {
        let now = p.now();
        Ok(console::queue(&*p.store)
            .map_err(store_error)?
            .into_iter()
            .take(MAX_ROWS)
            .map(|e| QueueLine {
                id: e.item.id.0,
                state: if e.parked.is_some() {
                    "sospeso"
                } else if e.lease_until > now {
                    "in corso"
                } else {
                    "in attesa"
                },
                kind: e.item.kind.to_string(),
                created: when(Some(e.item.created)),
                from: e.item.mail_from,
                to: e.item.recipients.join(", "),
                attempts: e.item.attempts,
                error: e.last_error.unwrap_or_default(),
                parked: e.parked.is_some(),
            })
            .collect())
    })
    .await?;
    Ok(page(&QueuePage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: done_notice(&q.fatto),
        items,
    }))
}

#[derive(Deserialize)]
struct RetryForm {
    id: i64,
}

async fn queue_retry(
    State(st): State<AdminState>,
    op: Operator,
    Form(f): Form<RetryForm>,
) -> Result<Response, WebError> {
    let (p, actor) = (st.p.clone(), op.actor());
    let found = blocking(move || {
        console::queue_retry(&*p.store, &p.identity.name, f.id, &actor, p.now())
            .map_err(store_error)
    })
    .await?;
    if !found {
        return Err(WebError::BadRequest(
            "nessun elemento sospeso con quel numero".into(),
        ));
    }
    Ok(Redirect::to("/coda?fatto=riprova").into_response())
}

// ---- the legal log -------------------------------------------------------------------------

struct LogLine {
    seq: i64,
    when: String,
    event: String,
    msgid: String,
    sender: String,
    recipients: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "admin/log.html")]
struct LogPage {
    operator: String,
    csrf: String,
    notice: Option<String>,
    q: String,
    events: Vec<LogLine>,
    shown: usize,
    more: bool,
}

#[derive(Deserialize, Default)]
struct LogQuery {
    #[serde(default)]
    q: String,
}

async fn log(
    State(st): State<AdminState>,
    op: Operator,
    Query(q): Query<LogQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    let needle = q.q.clone();
    let (events, more) = blocking(move || {
        let (found, more) =
            console::log_search(&*p.store, &needle, MAX_ROWS).map_err(store_error)?;
        let matching: Vec<LogLine> = found
            .into_iter()
            .map(|e| LogLine {
                seq: e.seq,
                when: when(Some(e.time)),
                event: e.event,
                msgid: e.msgid,
                sender: e.sender,
                recipients: e.recipients,
                subject: e.subject,
            })
            .collect();
        Ok((matching, more))
    })
    .await?;
    Ok(page(&LogPage {
        operator: op.0.operator,
        csrf: op.0.csrf,
        notice: None,
        q: q.q,
        shown: events.len(),
        events,
        more,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_and_times_as_operators_write_and_read_them() {
        assert_eq!(parse_quota("6GB"), Some(6 << 30));
        assert_eq!(parse_quota("1 gb"), Some(1 << 30));
        assert_eq!(parse_quota("500MB"), Some(500 << 20));
        for bad in ["", "GB", "6", "6XB", "-1GB", "0GB", "99999999999999TB"] {
            assert_eq!(parse_quota(bad), None, "{bad:?}");
        }
        assert_eq!(time_left(3 * 86_400 + 4 * 3600 + 5), "3 g 4 h");
        assert_eq!(time_left(90), "2 min");
        assert_eq!(time_left(-5), "");
    }

    #[test]
    fn notices_come_from_known_words_only() {
        assert_eq!(
            done_notice("promemoria:5").as_deref(),
            Some("Promemoria inviati: 5.")
        );
        assert_eq!(
            done_notice("promemoria:<script>").as_deref(),
            Some("Promemoria inviati: 0.")
        );
        assert_eq!(done_notice("<b>qualsiasi</b>"), None);
    }
}
