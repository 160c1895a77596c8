//! Web sessions: login through the accounts service (the same throttling as IMAP and SMTP),
//! the forced first password change, logout, and the CSRF check every state-changing
//! request passes through.

use crate::{i18n::Lang, page, AppState, WebError};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::principal::Principal;
use services::provider::{AuthError, LoginVia};
use services::{sessions, Provider};
use std::net::IpAddr;
use std::sync::Arc;

/// The cookie over HTTPS: the `__Host-` prefix makes the browser refuse it unless it is
/// `Secure`, for `Path=/` and without `Domain` (RFC 6265bis §4.1.3.2), so a sibling host or
/// a plain-HTTP page cannot plant or overwrite it.
const SECURE_COOKIE: &str = "__Host-certa_session";
/// The cookie over plain HTTP (loopback tests only: behind a proxy the browser uses HTTPS).
const PLAIN_COOKIE: &str = "certa_session";

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE
    } else {
        PLAIN_COOKIE
    }
}
/// One logged-in browser, as the handlers see it. Sessions live in the store (a restart
/// logs nobody out); the cookie carries a random token, the store only its hash.
#[derive(Debug, Clone)]
pub struct WebSession {
    token_hash: String,
    pub mailbox_id: services::mailbox::MailboxId,
    pub address: String,
    /// Sent back in the URL of every form; compared with this.
    pub csrf: String,
    pub lang: Lang,
    pub must_change_password: bool,
    /// Who this session acts as, for the mailbox service: the holder, or a collaborator
    /// with the rights of their delegation.
    who: services::principal::Principal,
}

impl WebSession {
    pub fn principal(&self) -> services::principal::Principal {
        self.who.clone()
    }

    /// The collaborator this session is for, if any.
    pub fn delegate(&self) -> Option<&services::collaboration::Delegate> {
        self.who.delegate.as_ref()
    }
}

/// 256 random bits; a failing random generator is an error, never a guessable token.
pub(crate) fn random_token() -> Result<String, WebError> {
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| WebError::Internal(format!("generatore casuale: {e}")))?;
    Ok(hex(&b))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn token_hash(token: &str) -> String {
    hex(&openssl::sha::sha256(token.as_bytes()))
}

/// Starts a session for a mailbox; returns the token for the cookie.
async fn begin(p: &Arc<Provider>, who: &Principal, lang: Lang) -> Result<String, WebError> {
    let token = random_token()?;
    sessions::begin(p, who, token_hash(&token), random_token()?, lang.code()).await?;
    Ok(token)
}

/// The live session a cookie's token names, if any.
async fn lookup(p: &Arc<Provider>, token: &str, lifetime: i64, ip: IpAddr) -> Option<WebSession> {
    let (s, who) = sessions::lookup(p, token_hash(token), lifetime, ip)
        .await
        .ok()??;
    Some(WebSession {
        who,
        token_hash: s.token_hash,
        mailbox_id: s.mailbox_id,
        address: s.address,
        csrf: s.csrf,
        lang: Lang::parse(&s.lang),
        must_change_password: s.must_change_password,
    })
}

/// The session of a request, from its cookie.
async fn request_session(st: &AppState, parts: &Parts) -> Option<WebSession> {
    // Already looked up by the CSRF check of this request.
    if let Some(s) = parts.extensions.get::<WebSession>() {
        return Some(s.clone());
    }
    let token = cookie_token(parts, cookie_name(st.secure_cookies))?;
    let ip = parts
        .extensions
        .get::<ConnectInfo<crate::Peer>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0 .0.ip());
    lookup(&st.p, &token, st.session_lifetime_secs, ip).await
}

impl WebSession {
    /// Switches the language of this session (the mailbox's default is stored apart).
    pub async fn set_lang(&self, p: &Arc<Provider>, lang: Lang) -> Result<(), WebError> {
        Ok(sessions::set_lang(p, self.token_hash.clone(), lang.code()).await?)
    }

    /// Whether this session is still open (logged out, expired or revoked: not), without
    /// touching it.
    pub async fn still_open(&self, p: &Arc<Provider>, lifetime: i64) -> bool {
        sessions::still_open(p, self.token_hash.clone(), lifetime, self.principal()).await
    }

    /// A new password ended every session of the mailbox: this browser gets a new one.
    pub async fn renew(&self, p: &Arc<Provider>) -> Result<String, WebError> {
        begin(p, &self.principal(), self.lang).await
    }
}

pub(crate) fn cookie_token(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

/// The value of the cookie `name` in request headers.
pub(crate) fn cookie_in(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session of a logged-in request; anything else is sent to the login page, and a
/// session that must change its password first goes nowhere else.
pub struct Authed(pub WebSession);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let Some(s) = request_session(st, parts).await else {
            return Err(Redirect::to("/login").into_response());
        };
        let path = parts.uri.path();
        // First access: the terms (when the operator set any), then the password.
        if let Some(terms) = st.terms.clone() {
            if !matches!(path, "/condizioni" | "/logout") {
                let pending =
                    services::mailbox::run(&st.p, &s.principal(), move |m| m.terms_pending(&terms))
                        .await;
                match pending {
                    Ok(false) => {}
                    Ok(true) => return Err(Redirect::to("/condizioni").into_response()),
                    Err(e) => return Err(WebError::from(e).into_response()),
                }
            }
        }
        if s.must_change_password && !matches!(path, "/password" | "/logout" | "/condizioni") {
            return Err(Redirect::to("/password").into_response());
        }
        Ok(Authed(s))
    }
}

/// Every POST carries the session's token in its URL (`?csrf=…`, so multipart forms are
/// checked without reading their body). The login form has no session yet: it must come
/// from this site's own pages (Origin), and its cookie is `SameSite=Strict` anyway.
pub async fn csrf_guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // The public forms (login, the start page of a domain taken over, an invitation's page)
    // have no session; the collaborator's panel has its own, whose token its handlers
    // check. Every such form must come from this site's own pages.
    let ok = if matches!(
        parts.uri.path(),
        "/login"
            | "/attivazione"
            | "/attivazione/password"
            | "/collaborazione/registra"
            | "/collaborazione/accetta"
            | "/recupero"
            | "/recupero/reimposta"
            | "/autodiscover/autodiscover.xml"
            | "/Autodiscover/Autodiscover.xml"
    ) || parts.uri.path().starts_with("/collaboratore/")
    {
        same_origin(&parts)
    } else {
        let session = request_session(&st, &parts).await;
        match session {
            Some(s) if csrf_matches(&parts, &s.csrf) => {
                // The handler's `Authed` takes it from here: one lookup per request.
                parts.extensions.insert(s);
                true
            }
            _ => false,
        }
    };
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            "Richiesta rifiutata: token di sicurezza (CSRF) mancante o non valido. \
             Ricaricare la pagina e riprovare.",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Whether the request's `?csrf=` is `expected`, compared in constant time.
pub(crate) fn csrf_matches(parts: &Parts, expected: &str) -> bool {
    let given = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "csrf")
            .map(|(_, v)| v)
    });
    // Lengths first: `memcmp::eq` panics when they differ.
    given.is_some_and(|g| {
        g.len() == expected.len() && openssl::memcmp::eq(g.as_bytes(), expected.as_bytes())
    })
}

pub(crate) fn same_origin(parts: &Parts) -> bool {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match parts.headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h);
            host.is_some() && origin_host == host
        }
        Some(Err(_)) => false,
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Lang,
    error: Option<String>,
    address: String,
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    #[serde(default)]
    lang: String,
}

pub async fn login_page(axum::extract::Query(q): axum::extract::Query<LangQuery>) -> Response {
    page(&LoginPage {
        l: Lang::parse(&q.lang),
        error: None,
        address: String::new(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    address: String,
    password: String,
    #[serde(default)]
    lang: String,
}

pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(crate::Peer(peer)): ConnectInfo<crate::Peer>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let r = match st
        .p
        .authenticate(&f.address, &f.password, peer.ip(), LoginVia::Webmail)
        .await
    {
        Ok(m) => {
            let lang = services::mailbox::run(&st.p, &m, |a| a.setting("lang"))
                .await
                .ok()
                .flatten();
            Ok((m, lang))
        }
        Err(e) => Err(e),
    };
    let form_lang = Lang::parse(&f.lang);
    let (principal, lang) = match r {
        Ok(x) => x,
        Err(e) => {
            let error = match e {
                AuthError::Throttled => form_lang.t(
                    "Troppi tentativi non riusciti: riprovare tra qualche minuto.",
                    "Too many failed attempts: try again in a few minutes.",
                ),
                // Only mail clients are refused this: the webmail is where it is changed.
                AuthError::Invalid | AuthError::MustChangePassword => form_lang.t(
                    "Indirizzo o password non corretti.",
                    "Wrong address or password.",
                ),
                AuthError::Unavailable => form_lang.t(
                    "Servizio momentaneamente non disponibile: riprovare più tardi.",
                    "Service temporarily unavailable: try again later.",
                ),
                AuthError::Suspended => form_lang.t(
                    "Casella sospesa dal gestore: rivolgersi all'assistenza.",
                    "Mailbox suspended by the provider: contact support.",
                ),
                AuthError::SendOnly => form_lang.t(
                    "Delega «Solo invio»: questa utenza può solo inviare PEC tramite SMTP, \
                     non accedere alla webmail.",
                    "\"Send only\" delegation: this login may only send PEC through SMTP, \
                     not use the webmail.",
                ),
                AuthError::Ended => form_lang.t(
                    "Collaborazione scaduta o revocata: rivolgersi al titolare della casella.",
                    "Collaboration expired or revoked: ask the mailbox's holder.",
                ),
            };
            let mut r = page(&LoginPage {
                l: form_lang,
                error: Some(error.to_string()),
                address: f.address,
            });
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(r);
        }
    };
    let lang = lang.map(|l| Lang::parse(&l)).unwrap_or(form_lang);
    let token = begin(&st.p, &principal, lang).await?;
    let to = if principal.must_change_password {
        "/password"
    } else {
        "/"
    };
    let mut r = Redirect::to(to).into_response();
    set_cookie(&mut r, &token, st.secure_cookies);
    Ok(r)
}

pub fn set_cookie(r: &mut Response, token: &str, secure: bool) {
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub async fn logout(State(st): State<AppState>, Authed(s): Authed) -> Response {
    let _ = sessions::end(&st.p, s.token_hash.clone()).await;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        cookie_name(st.secure_cookies),
        if st.secure_cookies { "; Secure" } else { "" }
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
