//! The collaborator's panel (issue 17; seed 002 §2.6.7 figures 41–45, §2.6.3 for the reset):
//! its own login (username and the panel's password), the collaborations and the invitations
//! to accept, the mobile number, the two passwords, and "Password dimenticata" with a
//! single-use link mailed to the account's address. Its cookie is its own (`Path=/`, as the
//! `__Host-` prefix requires); the rules are `services::collaboration`'s.

use crate::i18n::{self, Lang};
use crate::session::cookie_in;
use crate::{page, AppState, WebError};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::collaboration::{self, CollaborationError, PanelSession, Which};

pub const MAX_BODY: usize = 4 * 1024;
const HOME: &str = "/collaboratore";

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-certa_collaboratore"
    } else {
        "certa_collaboratore"
    }
}

fn set_cookie(r: &mut Response, value: &str, secure: bool, max_age: Option<i64>) {
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{}{}",
        cookie_name(secure),
        max_age.map_or(String::new(), |a| format!("; Max-Age={a}")),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, WebError> {
    services::blocking(f)
        .await
        .ok_or_else(|| WebError::Internal("panel: the task did not finish".into()))
}

fn unavailable(e: CollaborationError) -> WebError {
    WebError::Unavailable(e.to_string())
}

/// A logged-in collaborator; anyone else goes to the panel's login.
pub struct Collaborator {
    session: PanelSession,
    token: String,
}

impl FromRequestParts<AppState> for Collaborator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        lookup(st, &parts.headers)
            .await
            .ok_or_else(|| Redirect::to(HOME).into_response())
    }
}

/// The panel session of a request's cookie, if live.
async fn lookup(st: &AppState, headers: &HeaderMap) -> Option<Collaborator> {
    let token = cookie_in(headers, cookie_name(st.secure_cookies))?;
    let (p, t) = (st.p.clone(), token.clone());
    let session = services::blocking(move || collaboration::panel_session(&p, &t))
        .await?
        .ok()??;
    Some(Collaborator { session, token })
}

impl Collaborator {
    /// Every POST of the panel carries its session's token in the URL.
    fn check_csrf(&self, parts_query: &CsrfQuery) -> Result<(), WebError> {
        let given = parts_query.csrf.as_bytes();
        let expected = self.session.csrf.as_bytes();
        if given.len() == expected.len() && openssl::memcmp::eq(given, expected) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "richiesta rifiutata: token di sicurezza (CSRF) mancante o non valido".into(),
            ))
        }
    }
}

#[derive(Deserialize, Default)]
pub struct CsrfQuery {
    #[serde(default)]
    csrf: String,
}

/// The public pages: login, "Password dimenticata", the reset link's form.
#[derive(Template)]
#[template(path = "panel_public.html")]
struct PublicPage {
    l: Lang,
    /// `login`, `recupero`, `inviato`, `reimposta`, `fatto`, `link-invalido`.
    mode: &'static str,
    error: Option<String>,
    username: String,
    masked: String,
    token: String,
    which: &'static str,
}

fn public(l: Lang, mode: &'static str, status: StatusCode) -> (PublicPage, StatusCode) {
    (
        PublicPage {
            l,
            mode,
            error: None,
            username: String::new(),
            masked: String::new(),
            token: String::new(),
            which: "",
        },
        status,
    )
}

fn render((p, status): (PublicPage, StatusCode)) -> Response {
    let mut r = page(&p);
    *r.status_mut() = status;
    r
}

struct Row {
    id: i64,
    mailbox: String,
    login: String,
    created: String,
    expires: String,
    delegation: &'static str,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "panel.html")]
struct PanelPage {
    l: Lang,
    username: String,
    csrf: String,
    mobile: String,
    active: Vec<Row>,
    invitations: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PanelQuery {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    fatto: String,
}

/// GET /collaboratore: the panel, or its login page.
pub async fn home(
    State(st): State<AppState>,
    Query(q): Query<PanelQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let l = Lang::parse(&q.lang);
    match lookup(&st, &headers).await {
        Some(c) => {
            let notice = match q.fatto.as_str() {
                "" => None,
                "password" => Some(l.t("Password modificata.", "Password changed.")),
                "cellulare" => Some(l.t("Cellulare modificato.", "Mobile changed.")),
                _ => Some(l.t("Invito accettato.", "Invitation accepted.")),
            };
            panel(&st, &c, l, notice.map(str::to_string), None, StatusCode::OK).await
        }
        None => Ok(render(public(l, "login", StatusCode::OK))),
    }
}

async fn panel(
    st: &AppState,
    c: &Collaborator,
    l: Lang,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (p, username) = (st.p.clone(), c.session.username.clone());
    let (list, account) = pool(move || {
        Ok::<_, CollaborationError>((
            collaboration::collaborations_of(&p, &username)?,
            p.store.collaborator(&username)?,
        ))
    })
    .await?
    .map_err(unavailable)?;
    let row = |s: &collaboration::Shown| Row {
        id: s.row.id,
        mailbox: s.row.mailbox.clone(),
        login: format!("{}/{}", c.session.username, s.row.mailbox),
        created: s
            .row
            .accepted_at
            .map_or_else(|| i18n::datetime(s.row.invited_at), i18n::datetime),
        expires: s
            .row
            .expires
            .map_or_else(|| l.t("illimitata", "unlimited").to_string(), i18n::date),
        delegation: match l {
            Lang::It => s.delegation.italian(),
            Lang::En => s.delegation.english(),
        },
        state: s.state,
    };
    let mut r = page(&PanelPage {
        l,
        username: c.session.username.clone(),
        csrf: c.session.csrf.clone(),
        mobile: account.and_then(|a| a.mobile).unwrap_or_default(),
        active: list
            .iter()
            .filter(|s| s.row.collaborator.is_some() && s.state != "revocata")
            .map(row)
            .collect(),
        invitations: list
            .iter()
            .filter(|s| s.row.collaborator.is_none() && s.state == "invitata")
            .map(row)
            .collect(),
        notice,
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    lang: String,
}

pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(crate::Peer(peer)): ConnectInfo<crate::Peer>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    match collaboration::panel_login(&st.p, &f.username, &f.password, peer.ip()).await {
        Ok(username) => {
            let p = st.p.clone();
            let token = pool(move || collaboration::panel_begin(&p, &username))
                .await?
                .map_err(unavailable)?;
            let mut r = Redirect::to(HOME).into_response();
            set_cookie(&mut r, &token, st.secure_cookies, None);
            Ok(r)
        }
        Err(e @ CollaborationError::Unavailable(_)) => Err(unavailable(e)),
        Err(e) => {
            let (mut pg, _) = public(l, "login", StatusCode::UNAUTHORIZED);
            pg.error = Some(match e {
                CollaborationError::Credentials => l
                    .t(
                        "Nome utente o password non corretti.",
                        "Wrong username or password.",
                    )
                    .to_string(),
                other => other.to_string(),
            });
            pg.username = f.username.chars().take(32).collect();
            Ok(render((pg, StatusCode::UNAUTHORIZED)))
        }
    }
}

pub async fn logout(
    State(st): State<AppState>,
    c: Collaborator,
    Query(q): Query<CsrfQuery>,
) -> Result<Response, WebError> {
    c.check_csrf(&q)?;
    let (p, token) = (st.p.clone(), c.token.clone());
    let _ = pool(move || collaboration::panel_end(&p, &token)).await;
    let mut r = Redirect::to(HOME).into_response();
    set_cookie(&mut r, "", st.secure_cookies, Some(0));
    Ok(r)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    /// `webmail`, `pannello`, `entrambe`.
    quale: String,
    attuale: String,
    password: String,
    password2: String,
    #[serde(default)]
    lang: String,
}

/// "Modifica password": the panel's current password first (a session left open is not
/// enough to change them).
pub async fn password(
    State(st): State<AppState>,
    ConnectInfo(crate::Peer(peer)): ConnectInfo<crate::Peer>,
    c: Collaborator,
    Query(q): Query<CsrfQuery>,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    c.check_csrf(&q)?;
    let l = Lang::parse(&f.lang);
    let which = Which::parse(&f.quale).unwrap_or(Which::Both);
    let username = c.session.username.clone();
    if collaboration::panel_login(&st.p, &username, &f.attuale, peer.ip())
        .await
        .is_err()
    {
        let e = l.t(
            "Password attuale non corretta.",
            "Current password is wrong.",
        );
        return panel(&st, &c, l, None, Some(e.into()), StatusCode::BAD_REQUEST).await;
    }
    let p = st.p.clone();
    match pool(move || collaboration::set_password(&p, &username, which, &f.password, &f.password2))
        .await?
    {
        Ok(()) if which == Which::Boxes => {
            Ok(Redirect::to(&format!("{HOME}?fatto=password")).into_response())
        }
        // A new panel password ended the panel's sessions, this one included.
        Ok(()) => {
            let mut r = Redirect::to(HOME).into_response();
            set_cookie(&mut r, "", st.secure_cookies, Some(0));
            Ok(r)
        }
        Err(e @ CollaborationError::Unavailable(_)) => Err(unavailable(e)),
        Err(e) => {
            panel(
                &st,
                &c,
                l,
                None,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct MobileForm {
    mobile: String,
    #[serde(default)]
    lang: String,
}

pub async fn mobile(
    State(st): State<AppState>,
    c: Collaborator,
    Query(q): Query<CsrfQuery>,
    Form(f): Form<MobileForm>,
) -> Result<Response, WebError> {
    c.check_csrf(&q)?;
    let l = Lang::parse(&f.lang);
    let (p, username) = (st.p.clone(), c.session.username.clone());
    match pool(move || collaboration::set_mobile(&p, &username, &f.mobile)).await? {
        Ok(()) => Ok(Redirect::to(&format!("{HOME}?fatto=cellulare")).into_response()),
        Err(e @ CollaborationError::Unavailable(_)) => Err(unavailable(e)),
        Err(e) => {
            panel(
                &st,
                &c,
                l,
                None,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

/// "Accetta invito" from the panel, for an invitation sent to the account's own address.
pub async fn accept(
    State(st): State<AppState>,
    c: Collaborator,
    Path(id): Path<i64>,
    Query(q): Query<CsrfQuery>,
) -> Result<Response, WebError> {
    c.check_csrf(&q)?;
    let (p, username) = (st.p.clone(), c.session.username.clone());
    match pool(move || collaboration::accept_from_panel(&p, &username, id)).await? {
        Ok(_) => Ok(Redirect::to(&format!("{HOME}?fatto=invito")).into_response()),
        Err(e @ CollaborationError::Unavailable(_)) => Err(unavailable(e)),
        Err(e) => {
            panel(
                &st,
                &c,
                Lang::It,
                None,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    #[serde(default)]
    lang: String,
}

pub async fn recover_form(Query(q): Query<LangQuery>) -> Response {
    render(public(Lang::parse(&q.lang), "recupero", StatusCode::OK))
}

#[derive(Deserialize)]
pub struct RecoverForm {
    username: String,
    quale: String,
    #[serde(default)]
    lang: String,
}

/// Username → which password → the partly hidden address the link went to.
pub async fn recover(
    State(st): State<AppState>,
    axum::extract::ConnectInfo(crate::Peer(peer)): axum::extract::ConnectInfo<crate::Peer>,
    Form(f): Form<RecoverForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    if !services::accounts::reset_request_allowed(&st.p, peer.ip(), &f.username) {
        let (mut pg, status) = public(l, "recupero", StatusCode::TOO_MANY_REQUESTS);
        let (it, en) = crate::recovery::TOO_MANY;
        pg.error = Some(l.t(it, en).to_string());
        return Ok(render((pg, status)));
    }
    let which = Which::parse(&f.quale).unwrap_or(Which::Both);
    let p = st.p.clone();
    let username = f.username.clone();
    let masked = pool(move || collaboration::request_reset(&p, &username, which))
        .await?
        .map_err(unavailable)?;
    let (mut pg, status) = public(l, "inviato", StatusCode::OK);
    pg.masked = masked;
    Ok(render((pg, status)))
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    t: String,
    #[serde(default)]
    lang: String,
}

fn which_label(w: Which, l: Lang) -> &'static str {
    match w {
        Which::Boxes => l.t("accesso alle caselle", "mailbox access"),
        Which::Panel => l.t("pannello collaboratore", "collaborator panel"),
        Which::Both => l.t(
            "accesso alle caselle e pannello collaboratore",
            "mailbox access and collaborator panel",
        ),
    }
}

async fn reset_page(
    st: &AppState,
    token: String,
    l: Lang,
    error: Option<String>,
) -> Result<Response, WebError> {
    let ok = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let which = if ok {
        let (p, t) = (st.p.clone(), token.clone());
        pool(move || collaboration::reset_link(&p, &t))
            .await?
            .map_err(unavailable)?
    } else {
        None
    };
    let Some(which) = which else {
        return Ok(render(public(l, "link-invalido", StatusCode::NOT_FOUND)));
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (mut pg, _) = public(l, "reimposta", status);
    pg.token = token;
    pg.which = which_label(which, l);
    pg.error = error;
    Ok(render((pg, status)))
}

pub async fn reset_form(
    State(st): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    reset_page(&st, q.t, Lang::parse(&q.lang), None).await
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
    Query(q): Query<TokenQuery>,
    Form(f): Form<ResetForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    let (p, t) = (st.p.clone(), q.t.clone());
    match pool(move || collaboration::reset(&p, &t, &f.password, &f.password2)).await? {
        Ok(()) => Ok(render(public(l, "fatto", StatusCode::OK))),
        Err(e @ CollaborationError::Unavailable(_)) => Err(unavailable(e)),
        Err(CollaborationError::InvitationInvalid) => {
            Ok(render(public(l, "link-invalido", StatusCode::NOT_FOUND)))
        }
        Err(e) => reset_page(&st, q.t, l, Some(e.to_string())).await,
    }
}
