//! "Hai dimenticato la password?" on the login page (issue 18 item 6): the pages of
//! `services::recovery` — the address, the partly hidden recovery address the link went to,
//! and the link's form for the new password.

use crate::i18n::Lang;
use crate::{page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use services::recovery::{self, RecoveryError};

pub const MAX_BODY: usize = 4 * 1024;

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    l: Lang,
    /// `chiedi`, `inviato`, `reimposta`, `fatto`, `link-invalido`.
    mode: &'static str,
    masked: String,
    token: String,
    address: String,
    error: Option<String>,
    special: &'static str,
}

fn render(
    l: Lang,
    mode: &'static str,
    status: StatusCode,
    fill: impl FnOnce(&mut RecoveryPage),
) -> Response {
    let mut p = RecoveryPage {
        l,
        mode,
        masked: String::new(),
        token: String::new(),
        address: String::new(),
        error: None,
        special: services::accounts::SPECIAL,
    };
    fill(&mut p);
    let mut r = page(&p);
    *r.status_mut() = status;
    r
}

async fn pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, WebError> {
    services::blocking(f)
        .await
        .ok_or_else(|| WebError::Internal("recovery: the task did not finish".into()))
}

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    #[serde(default)]
    t: String,
    #[serde(default)]
    lang: String,
}

pub async fn form(Query(q): Query<LinkQuery>) -> Response {
    render(Lang::parse(&q.lang), "chiedi", StatusCode::OK, |_| {})
}

#[derive(Deserialize)]
pub struct AskForm {
    address: String,
    #[serde(default)]
    lang: String,
}

pub async fn ask(
    State(st): State<AppState>,
    axum::extract::ConnectInfo(crate::Peer(peer)): axum::extract::ConnectInfo<crate::Peer>,
    Form(f): Form<AskForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    if !services::accounts::reset_request_allowed(&st.p, peer.ip(), &f.address) {
        return Ok(render(l, "chiedi", StatusCode::TOO_MANY_REQUESTS, |p| {
            p.error = Some(l.t(TOO_MANY.0, TOO_MANY.1).to_string());
        }));
    }
    let p = st.p.clone();
    let masked = pool(move || recovery::request(&p, &f.address))
        .await?
        .map_err(|e| WebError::Unavailable(e.to_string()))?;
    Ok(render(l, "inviato", StatusCode::OK, |p| p.masked = masked))
}

/// Too many reset requests from one address (Italian, English).
pub(crate) const TOO_MANY: (&str, &str) = (
    "Troppe richieste da questo indirizzo: riprovare più tardi.",
    "Too many requests from this address: try again later.",
);

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn link_page(
    st: &AppState,
    token: String,
    l: Lang,
    error: Option<String>,
) -> Result<Response, WebError> {
    let address = if well_formed(&token) {
        let (p, t) = (st.p.clone(), token.clone());
        pool(move || recovery::link(&p, &t))
            .await?
            .map_err(|e| WebError::Unavailable(e.to_string()))?
    } else {
        None
    };
    let Some(address) = address else {
        return Ok(render(l, "link-invalido", StatusCode::NOT_FOUND, |_| {}));
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(l, "reimposta", status, |p| {
        p.token = token;
        p.address = address;
        p.error = error;
    }))
}

pub async fn link_form(
    State(st): State<AppState>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, WebError> {
    link_page(&st, q.t, Lang::parse(&q.lang), None).await
}

#[derive(Deserialize)]
pub struct ResetForm {
    password: String,
    password2: String,
    #[serde(default)]
    lang: String,
}

pub async fn reset(
    State(st): State<AppState>,
    Query(q): Query<LinkQuery>,
    Form(f): Form<ResetForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    if !well_formed(&q.t) {
        return Ok(render(l, "link-invalido", StatusCode::NOT_FOUND, |_| {}));
    }
    let (p, t) = (st.p.clone(), q.t.clone());
    match pool(move || recovery::reset(&p, &t, &f.password, &f.password2)).await? {
        Ok(_) => Ok(render(l, "fatto", StatusCode::OK, |_| {})),
        Err(RecoveryError::LinkInvalid) => {
            Ok(render(l, "link-invalido", StatusCode::NOT_FOUND, |_| {}))
        }
        Err(e @ RecoveryError::Unavailable(_)) => Err(WebError::Unavailable(e.to_string())),
        Err(e) => link_page(&st, q.t, l, Some(e.to_string())).await,
    }
}
