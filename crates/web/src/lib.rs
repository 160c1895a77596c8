//! Certa's webmail: server-rendered pages (axum + askama), no script needed to use it.
//!
//! Every page works on the session's own mailbox: folders are looked up by name under the
//! session's mailbox id, never by an id taken from the URL, so changing a number in a URL
//! cannot reach another mailbox. Sending goes through the same access point as SMTP
//! submission (`services::access::submit`).

mod admin;
mod clients;
mod collaborator_panel;
mod collaborators;
mod compose;
mod export;
mod forwarding;
mod i18n;
mod live;
mod mailbox;
mod message;
mod migrate;
mod notifications;
mod preferences;
mod recovery;
mod reports;
mod sanitize;
mod session;
mod settings;
mod start;
mod terms;
mod tls;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use services::mailbox::{Access, MailboxError};
use services::provider::Provider;
use session::WebSession;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use admin::{serve_admin, AdminConfig};
pub use clients::ClientEndpoints;
pub use i18n::Lang;

/// How the webmail listens.
pub struct WebConfig {
    /// HTTPS when set (the provider's certificate); plain HTTP otherwise.
    pub tls: Option<Arc<openssl::ssl::SslAcceptor>>,
    /// A TLS-terminating reverse proxy: the only address allowed to connect, whose
    /// `X-Forwarded-For` names the client. Cookies stay `Secure` (the browser uses HTTPS).
    pub proxy: Option<IpAddr>,
    /// The largest upload a compose form may carry (attachments included).
    pub max_upload_bytes: usize,
    /// The process's connection caps (behind a proxy, only the total applies).
    pub connections: Arc<net::connections::Connections>,
    /// A session ends this long after its login, however busy (the idle limit aside).
    pub session_lifetime_secs: i64,
    /// A request's headers must all arrive within this time (RFC 9112 leaves it to the
    /// server; slowloris clients are cut off, security review M1).
    pub header_read_timeout: Duration,
    /// What the client set-up page and the autoconfig files tell mail clients.
    pub clients: ClientEndpoints,
    /// The terms a holder accepts at first access (`[web] terms`), if the operator set any.
    pub terms: Option<Arc<services::terms::Terms>>,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub p: Arc<Provider>,
    pub secure_cookies: bool,
    /// The webmail is reached over HTTPS (its own or a proxy's): HSTS is sent.
    pub https: bool,
    pub session_lifetime_secs: i64,
    pub clients: Arc<ClientEndpoints>,
    /// Live-update streams (`/eventi`) open at once, at most [`live::MAX_STREAMS`].
    pub live: Arc<tokio::sync::Semaphore>,
    /// Live-update streams per client address, at most [`live::MAX_STREAMS_PER_IP`].
    pub live_per_ip: Arc<live::Streams>,
    /// The terms to accept at first access.
    pub terms: Option<Arc<services::terms::Terms>>,
}

/// The login form carries an address and a password: a few KiB is plenty, and a larger
/// body is refused before it is read (security review H4).
const MAX_LOGIN_BODY: usize = 4 * 1024;

/// The webmail's routes.
pub fn router(state: AppState, max_upload_bytes: usize, proxy: Option<IpAddr>) -> Router {
    let routes = Router::new()
        .route("/", get(mailbox::main_screen))
        .route(
            "/login",
            get(session::login_page)
                .post(session::login)
                .layer(DefaultBodyLimit::max(MAX_LOGIN_BODY)),
        )
        .route("/logout", post(session::logout))
        .route(
            "/condizioni",
            get(terms::page_handler)
                .post(terms::accept)
                .layer(DefaultBodyLimit::max(terms::MAX_BODY)),
        )
        .route(
            "/attivazione",
            get(start::form)
                .post(start::check)
                .layer(DefaultBodyLimit::max(start::MAX_BODY)),
        )
        .route(
            "/attivazione/password",
            post(start::set_password).layer(DefaultBodyLimit::max(start::MAX_BODY)),
        )
        .route(
            "/password",
            get(settings::password_page).post(settings::change_password),
        )
        .route("/message", get(message::view))
        .route("/message/body", get(message::body))
        .route("/message/part", get(message::part))
        .route("/message/eml", get(message::eml))
        .route("/message/source", get(message::source))
        .route("/message/print", get(message::print))
        .route("/actions", post(mailbox::actions))
        .route("/compose", get(compose::form))
        .route("/compose/send", post(compose::send))
        .route("/search", get(mailbox::search))
        .route("/settings", get(settings::page_handler))
        .route("/settings/layout", post(settings::set_layout))
        .route("/settings/lang", post(settings::set_lang))
        .route(
            "/settings/impaginazione",
            get(settings::paging)
                .post(settings::save_paging)
                .layer(DefaultBodyLimit::max(settings::MAX_BODY)),
        )
        .route(
            "/settings/visualizzazione",
            get(settings::display)
                .post(settings::save_display)
                .layer(DefaultBodyLimit::max(settings::MAX_BODY)),
        )
        .route(
            "/settings/composizione",
            get(settings::composition)
                .post(settings::save_composition)
                .layer(DefaultBodyLimit::max(settings::MAX_BODY)),
        )
        .route(
            "/settings/identita",
            get(settings::identity)
                .post(settings::save_identity)
                .layer(DefaultBodyLimit::max(settings::MAX_BODY)),
        )
        .route("/settings/cartelle", get(settings::folders_page))
        .route("/settings/folders", post(settings::folders))
        .route(
            "/settings/migrate",
            get(migrate::page_handler)
                .post(migrate::start)
                .layer(DefaultBodyLimit::max(migrate::MAX_BODY)),
        )
        .route(
            "/settings/multiutenza",
            get(collaborators::owner)
                .post(collaborators::invite)
                .layer(DefaultBodyLimit::max(collaborators::MAX_BODY)),
        )
        .route(
            "/settings/multiutenza/{id}/revoca",
            post(collaborators::revoke),
        )
        .route(
            "/settings/multiutenza/{id}/reinvia",
            post(collaborators::resend),
        )
        .route(
            "/settings/multiutenza/{id}/modifica",
            post(collaborators::change).layer(DefaultBodyLimit::max(collaborators::MAX_BODY)),
        )
        .route("/settings/attivita", get(collaborators::activity))
        .route("/collaborazione", get(collaborators::invitation))
        .route(
            "/collaborazione/registra",
            post(collaborators::register).layer(DefaultBodyLimit::max(collaborators::MAX_BODY)),
        )
        .route(
            "/collaborazione/accetta",
            post(collaborators::accept).layer(DefaultBodyLimit::max(collaborators::MAX_BODY)),
        )
        .route("/collaboratore", get(collaborator_panel::home))
        .route(
            "/collaboratore/accesso",
            post(collaborator_panel::login)
                .layer(DefaultBodyLimit::max(collaborator_panel::MAX_BODY)),
        )
        .route("/collaboratore/esci", post(collaborator_panel::logout))
        .route(
            "/collaboratore/password",
            post(collaborator_panel::password)
                .layer(DefaultBodyLimit::max(collaborator_panel::MAX_BODY)),
        )
        .route(
            "/collaboratore/cellulare",
            post(collaborator_panel::mobile)
                .layer(DefaultBodyLimit::max(collaborator_panel::MAX_BODY)),
        )
        .route(
            "/collaboratore/inviti/{id}/accetta",
            post(collaborator_panel::accept),
        )
        .route(
            "/collaboratore/recupero",
            get(collaborator_panel::recover_form)
                .post(collaborator_panel::recover)
                .layer(DefaultBodyLimit::max(collaborator_panel::MAX_BODY)),
        )
        .route(
            "/collaboratore/reimposta",
            get(collaborator_panel::reset_form)
                .post(collaborator_panel::reset)
                .layer(DefaultBodyLimit::max(collaborator_panel::MAX_BODY)),
        )
        .route(
            "/recupero",
            get(recovery::form)
                .post(recovery::ask)
                .layer(DefaultBodyLimit::max(recovery::MAX_BODY)),
        )
        .route(
            "/recupero/reimposta",
            get(recovery::link_form)
                .post(recovery::reset)
                .layer(DefaultBodyLimit::max(recovery::MAX_BODY)),
        )
        .route(
            "/settings/inoltro",
            get(forwarding::page_handler)
                .post(forwarding::save)
                .layer(DefaultBodyLimit::max(forwarding::MAX_BODY)),
        )
        .route(
            "/settings/notifiche",
            get(notifications::page_handler)
                .post(notifications::save)
                .layer(DefaultBodyLimit::max(notifications::MAX_BODY)),
        )
        .route(
            "/settings/report-email",
            get(reports::email_page)
                .post(reports::email_save)
                .layer(DefaultBodyLimit::max(reports::MAX_BODY)),
        )
        .route(
            "/settings/report-sms",
            get(reports::sms_page)
                .post(reports::sms_save)
                .layer(DefaultBodyLimit::max(reports::MAX_BODY)),
        )
        .route("/settings/client", get(clients::page_handler))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(clients::thunderbird),
        )
        .route("/mail/config-v1.1.xml", get(clients::thunderbird))
        .route(
            "/autodiscover/autodiscover.xml",
            post(clients::outlook).layer(DefaultBodyLimit::max(clients::MAX_AUTODISCOVER_BODY)),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            post(clients::outlook).layer(DefaultBodyLimit::max(clients::MAX_AUTODISCOVER_BODY)),
        )
        .route("/settings/migrate/sync", post(migrate::sync))
        .route("/settings/migrate/status", get(migrate::status))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(live::script))
        .route("/eventi", get(live::events))
        .layer(DefaultBodyLimit::max(max_upload_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::csrf_guard,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.https,
            security_headers,
        ))
        .with_state(state);
    match proxy {
        Some(ip) => routes.layer(axum::middleware::from_fn_with_state(ip, forwarded_peer)),
        None => routes,
    }
}

/// Behind a reverse proxy only the proxy may connect, and the client is the last address
/// of `X-Forwarded-For` (the one the proxy appended; earlier ones are the client's word).
async fn forwarded_peer(
    axum::extract::State(proxy): axum::extract::State<IpAddr>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    let from = req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0 .0);
    if from.map(|a| a.ip()) != Some(proxy) {
        return (
            StatusCode::FORBIDDEN,
            "La webmail si raggiunge solo attraverso il proxy configurato.",
        )
            .into_response();
    }
    let client = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    let Some(client) = client else {
        return (
            StatusCode::BAD_REQUEST,
            "Richiesta dal proxy senza X-Forwarded-For valido.",
        )
            .into_response();
    };
    req.extensions_mut()
        .insert(ConnectInfo(Peer(SocketAddr::new(client, 0))));
    next.run(req).await
}

/// Serves the webmail on `addr` until the process ends.
pub async fn serve(addr: &str, p: Arc<Provider>, cfg: WebConfig) -> std::io::Result<()> {
    let state = AppState {
        p,
        secure_cookies: cfg.tls.is_some() || cfg.proxy.is_some(),
        https: cfg.tls.is_some() || cfg.proxy.is_some(),
        session_lifetime_secs: cfg.session_lifetime_secs,
        clients: Arc::new(cfg.clients),
        live: Arc::new(tokio::sync::Semaphore::new(live::MAX_STREAMS)),
        live_per_ip: Default::default(),
        terms: cfg.terms,
    };
    let app = router(state, cfg.max_upload_bytes, cfg.proxy);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let timeout = cfg.header_read_timeout;
    match cfg.tls {
        Some(acceptor) => {
            let tls = tls::TlsListener::new(listener, acceptor, cfg.connections, tls::LISTENER);
            tokio::spawn(serve_connections(tls, app, timeout, true, tls::LISTENER));
        }
        None => {
            let listener = tls::PlainListener::new(listener, cfg.connections);
            tokio::spawn(serve_connections(
                listener,
                app,
                timeout,
                false,
                tls::LISTENER,
            ));
        }
    }
    Ok(())
}

/// Serves each accepted connection with hyper's HTTP/1 server, given a timer so that its
/// header-read timeout applies (`axum::serve` sets none, and a client sending its headers
/// one byte at a time then held the connection for good). The timeout also bounds how long
/// an idle keep-alive connection waits for its next request.
/// Each connection has its span (the login name is recorded in it once a login succeeds).
async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    header_read_timeout: Duration,
    tls: bool,
    name: &'static str,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    loop {
        let (io, peer) = listener.accept().await;
        let app = app.clone();
        let span = tracing::info_span!(
            "conn",
            listener = name,
            %peer,
            tls,
            login = tracing::field::Empty
        );
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(Peer(peer)));
                    let mut app = app.clone();
                    tower_service::Service::call(&mut app, req.map(axum::body::Body::new))
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                let _ = http.serve_connection(TokioIo::new(io), service).await;
            },
            span,
        ));
    }
}

/// The client's address, over HTTP or HTTPS (for login throttling per IP).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// No page may be framed by another site, run inline script or load from elsewhere; the
/// token in form URLs never leaks to another site through Referer. Over HTTPS the browser
/// is told to use nothing else for a year (RFC 6797 HSTS), so a network attacker cannot
/// downgrade a later visit to plain HTTP.
async fn security_headers(
    axum::extract::State(https): axum::extract::State<bool>,
    mut r: Response,
) -> Response {
    let h = r.headers_mut();
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            header::HeaderValue::from_static("max-age=31536000"),
        );
    }
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(header::HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'self'; img-src 'self' data:",
        ));
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(header::HeaderValue::from_static("SAMEORIGIN"));
    r
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/style.css"),
    )
        .into_response()
}

/// Renders a template, or a plain error page if the template fails.
fn page(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("errore interno: {e}"),
        )
            .into_response(),
    }
}

/// One step of a request on the mailbox service: on the blocking pool, with the session's
/// rights checked there.
async fn on_mailbox<T: Send + 'static>(
    p: &Arc<Provider>,
    s: &WebSession,
    f: impl FnOnce(&Access) -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    services::mailbox::run(p, &s.principal(), f).await
}

/// Errors a handler answers with, as a page the user can read.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("non trovato")]
    NotFound,
    #[error("richiesta non valida: {0}")]
    BadRequest(String),
    #[error("errore interno: {0}")]
    Internal(String),
    /// A form larger than the webmail accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The principal lacks the right for this.
    #[error("{0}")]
    Forbidden(String),
    /// The mailbox is full: what IMAP says with `[OVERQUOTA]`.
    #[error("spazio della casella esaurito: eliminare qualche messaggio e riprovare")]
    OverQuota,
    /// The store failed; trying again later may work.
    #[error("{0}")]
    Unavailable(String),
}

impl From<MailboxError> for WebError {
    fn from(e: MailboxError) -> Self {
        match e {
            MailboxError::NotFound(_) | MailboxError::Missing(_) => WebError::NotFound,
            MailboxError::Denied(_) => WebError::Forbidden(e.to_string()),
            MailboxError::OverQuota => WebError::OverQuota,
            MailboxError::Unavailable(_) => WebError::Unavailable(e.to_string()),
            MailboxError::Internal(_) => WebError::Internal(e.to_string()),
            MailboxError::InvalidName(_)
            | MailboxError::Exists(_)
            | MailboxError::Special(_)
            | MailboxError::HasChildren(_)
            | MailboxError::Refused(_) => WebError::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match self {
            WebError::NotFound => axum::http::StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => axum::http::StatusCode::BAD_REQUEST,
            WebError::Internal(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            WebError::TooLarge(_) => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Forbidden(_) => axum::http::StatusCode::FORBIDDEN,
            WebError::OverQuota => axum::http::StatusCode::INSUFFICIENT_STORAGE,
            WebError::Unavailable(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>Certa</title>\
             <link rel=stylesheet href=/static/style.css><main class=error><h1>{}</h1>\
             <p><a href=\"/\">Torna alla posta</a></main>",
            sanitize::escape(&self.to_string())
        );
        (status, Html(body)).into_response()
    }
}
