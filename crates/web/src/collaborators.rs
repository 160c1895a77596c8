//! Multiutenza in the webmail (issue 17; seed 002 §2.6.7): the holder's "Multiutenza
//! Titolare" page (collaborations and invitations, "Nuova collaborazione", revoke, resend,
//! change), "Attività dei collaboratori" with its CSV, and the public page an invitation's
//! link opens (register, or accept with an existing account). The rules are
//! `services::collaboration`'s; this module shows them.

use crate::i18n::{self, Lang};
use crate::mailbox::{day_start, frame, Frame};
use crate::session::{Authed, WebSession};
use crate::settings::{nav, Nav, Section};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::collaboration::{
    self, CollaborationError, Delegation, Duration, Invitation, Registration, Shown,
};
use services::provider::Provider;
use std::sync::Arc;

const PAGE: &str = "/settings/multiutenza";
/// The forms here are a few short fields.
pub const MAX_BODY: usize = 4 * 1024;

fn refused(e: CollaborationError) -> WebError {
    match e {
        CollaborationError::NotOwner => WebError::Forbidden(e.to_string()),
        CollaborationError::Unavailable(_) => WebError::Unavailable(e.to_string()),
        other => WebError::BadRequest(other.to_string()),
    }
}

/// The first line of the holder's handlers: only the holder manages collaborators.
fn require_owner(s: &WebSession) -> Result<(), WebError> {
    let who = s.principal();
    if who.delegate.is_some()
        || who
            .require(services::principal::Permission::Settings)
            .is_err()
    {
        return Err(WebError::Forbidden(
            s.lang
                .t(
                    "solo il titolare della casella gestisce i collaboratori",
                    "only the mailbox's holder manages collaborators",
                )
                .to_string(),
        ));
    }
    Ok(())
}

async fn pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, WebError> {
    services::blocking(f)
        .await
        .ok_or_else(|| WebError::Internal("collaborators: the task did not finish".into()))
}

/// One row of the holder's table.
struct Row {
    id: i64,
    email: String,
    name: String,
    delegation: &'static str,
    code: &'static str,
    /// The collaborator's username once accepted ("Autenticazione").
    login: String,
    invited: String,
    invite_expires: String,
    expires: String,
    state: &'static str,
    state_label: &'static str,
    open: bool,
    pending: bool,
}

fn row(c: &Shown, l: Lang, mailbox: &str) -> Row {
    Row {
        id: c.row.id,
        email: c.row.invite_email.clone(),
        name: c.row.name.clone(),
        delegation: match l {
            Lang::It => c.delegation.italian(),
            Lang::En => c.delegation.english(),
        },
        code: c.delegation.code(),
        login: c
            .row
            .collaborator
            .as_ref()
            .map_or_else(|| "—".to_string(), |u| format!("{u}/{mailbox}")),
        invited: i18n::datetime(c.row.invited_at),
        invite_expires: i18n::datetime(c.row.invite_expires),
        expires: c
            .row
            .expires
            .map_or_else(|| l.t("illimitata", "unlimited").to_string(), i18n::date),
        state: c.state,
        state_label: match (c.state, l) {
            ("invitata", Lang::It) => "Invito inviato",
            ("invitata", Lang::En) => "Invitation sent",
            ("attiva", Lang::It) => "Attiva",
            ("attiva", Lang::En) => "Active",
            ("scaduta", Lang::It) => "Scaduta",
            ("scaduta", Lang::En) => "Expired",
            (_, Lang::It) => "Revocata",
            (_, Lang::En) => "Revoked",
        },
        open: matches!(c.state, "invitata" | "attiva"),
        pending: c.state == "invitata" || (c.row.state == "invitata" && c.state == "scaduta"),
    }
}

#[derive(Template)]
#[template(path = "multiutenza.html")]
struct OwnerPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
    max: usize,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    fatto: Option<String>,
}

async fn owner_page(
    st: &AppState,
    s: WebSession,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let p = st.p.clone();
    let mut r = on_mailbox(&st.p, &s.clone(), move |m| {
        let list = collaboration::list(&p, m.principal()).map_err(refused)?;
        let fr = frame(m, &s);
        Ok(page(&OwnerPage {
            nav: nav(&fr, s.lang, Section::Collaborators),
            fr,
            l: s.lang,
            rows: list.iter().map(|c| row(c, s.lang, &s.address)).collect(),
            notice,
            error,
            max: collaboration::MAX_PER_BOX,
        }))
    })
    .await?;
    *r.status_mut() = status;
    Ok(r)
}

pub async fn owner(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let l = s.lang;
    let notice = q.fatto.as_deref().map(|f| {
        match f {
            "invito" => l.t(
                "Invito inviato come PEC: la ricevuta di accettazione è nella Posta in arrivo.",
                "Invitation sent as a PEC: its acceptance receipt is in the Inbox.",
            ),
            "reinvio" => l.t("Invito inviato di nuovo.", "Invitation sent again."),
            "revoca" => l.t("Collaborazione revocata.", "Collaboration revoked."),
            _ => l.t("Collaborazione modificata.", "Collaboration changed."),
        }
        .to_string()
    });
    owner_page(&st, s, notice, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DurationFields {
    /// `3`, `6`, `data`, `illimitata`.
    durata: String,
    #[serde(default)]
    data: String,
}

fn duration(f: &DurationFields, l: Lang) -> Result<Duration, String> {
    match f.durata.as_str() {
        "3" => Ok(Duration::Months(3)),
        "6" => Ok(Duration::Months(6)),
        "illimitata" => Ok(Duration::Unlimited),
        "data" => day_start(f.data.trim())
            .map(|t| Duration::Until(t + 86_399))
            .ok_or_else(|| {
                l.t("data di scadenza non valida", "invalid expiry date")
                    .into()
            }),
        _ => Err(l.t("durata non valida", "invalid duration").into()),
    }
}

fn delegation(code: &str, l: Lang) -> Result<Delegation, String> {
    Delegation::parse(code).ok_or_else(|| {
        l.t("tipo di delega non valido", "invalid delegation")
            .into()
    })
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    name: String,
    delega: String,
    #[serde(flatten)]
    duration: DurationFields,
}

pub async fn invite(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<InviteForm>,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let l = s.lang;
    let (kind, length) = match (delegation(&f.delega, l), duration(&f.duration, l)) {
        (Ok(k), Ok(d)) => (k, d),
        (Err(e), _) | (_, Err(e)) => {
            return owner_page(&st, s, None, Some(e), StatusCode::BAD_REQUEST).await
        }
    };
    let (p, who) = (st.p.clone(), s.principal());
    let r = pool(move || {
        collaboration::invite(
            &p,
            &who,
            &Invitation {
                email: f.email.trim(),
                name: &f.name,
                delegation: kind,
                duration: length,
            },
        )
    })
    .await?;
    match r {
        Ok(_) => Ok(Redirect::to(&format!("{PAGE}?fatto=invito")).into_response()),
        Err(e @ CollaborationError::Unavailable(_)) => Err(refused(e)),
        Err(e) => owner_page(&st, s, None, Some(e.to_string()), StatusCode::BAD_REQUEST).await,
    }
}

pub async fn revoke(
    State(st): State<AppState>,
    Authed(s): Authed,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let (p, who) = (st.p.clone(), s.principal());
    pool(move || collaboration::revoke(&p, &who, id))
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{PAGE}?fatto=revoca")).into_response())
}

pub async fn resend(
    State(st): State<AppState>,
    Authed(s): Authed,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let (p, who) = (st.p.clone(), s.principal());
    pool(move || collaboration::resend(&p, &who, id))
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{PAGE}?fatto=reinvio")).into_response())
}

#[derive(Deserialize)]
pub struct ChangeForm {
    delega: String,
    #[serde(flatten)]
    duration: DurationFields,
}

pub async fn change(
    State(st): State<AppState>,
    Authed(s): Authed,
    Path(id): Path<i64>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let l = s.lang;
    let kind = delegation(&f.delega, l).map_err(WebError::BadRequest)?;
    let length = duration(&f.duration, l).map_err(WebError::BadRequest)?;
    let (p, who) = (st.p.clone(), s.principal());
    pool(move || collaboration::change(&p, &who, id, kind, length))
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{PAGE}?fatto=modifica")).into_response())
}

/// One line of "Attività dei collaboratori".
struct ActivityRow {
    time: String,
    collaborator: String,
    protocol: String,
    ip: String,
    action: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    rows: Vec<ActivityRow>,
    collaborators: Vec<String>,
    q: ActivityQuery,
    csv: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct ActivityQuery {
    #[serde(default)]
    pub collaboratore: String,
    #[serde(default)]
    pub dal: String,
    #[serde(default)]
    pub al: String,
    #[serde(default)]
    pub formato: String,
}

impl ActivityQuery {
    fn query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("collaboratore", &self.collaboratore)
            .append_pair("dal", &self.dal)
            .append_pair("al", &self.al)
            .append_pair("formato", "csv")
            .finish()
    }
}

pub async fn activity(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<ActivityQuery>,
) -> Result<Response, WebError> {
    require_owner(&s)?;
    let p = st.p.clone();
    on_mailbox(&st.p, &s.clone(), move |m| {
        let who = m.principal();
        let since = day_start(q.dal.trim()).unwrap_or(0);
        let until = day_start(q.al.trim()).map_or(i64::MAX, |t| t + 86_400);
        let filter = Some(q.collaboratore.trim()).filter(|c| !c.is_empty());
        let rows = collaboration::activity(&p, who, filter, since, until).map_err(refused)?;
        if q.formato == "csv" {
            return Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"attivita-collaboratori.csv\"",
                    ),
                ],
                collaboration::activity_csv(&rows),
            )
                .into_response());
        }
        let mut collaborators: Vec<String> = collaboration::list(&p, who)
            .map_err(refused)?
            .into_iter()
            .filter_map(|c| c.row.collaborator)
            .collect();
        collaborators.sort();
        collaborators.dedup();
        let fr = frame(m, &s);
        Ok(page(&ActivityPage {
            nav: nav(&fr, s.lang, Section::Activity),
            fr,
            l: s.lang,
            rows: rows
                .into_iter()
                .map(|a| ActivityRow {
                    time: i18n::datetime(a.time),
                    collaborator: a.collaborator,
                    protocol: a.protocol,
                    ip: a.ip,
                    action: a.action,
                    detail: a.detail,
                })
                .collect(),
            collaborators,
            csv: format!("/settings/attivita?{}", q.query_string()),
            q,
        }))
    })
    .await
}

/// What an invitation's link opens.
#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    l: Lang,
    token: String,
    /// `None`: the link does not work (used, expired, revoked or never valid).
    invitation: Option<InvitationView>,
    error: Option<String>,
    /// After registering or accepting: the login to use.
    done: Option<String>,
    username: String,
    mobile: String,
}

struct InvitationView {
    mailbox: String,
    name: String,
    email: String,
    delegation: &'static str,
    expires: String,
    link_expires: String,
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    t: String,
    #[serde(default)]
    lang: String,
}

/// A token as links carry it: 64 hex digits; anything else is not looked up.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn invitation_page(
    p: &Arc<Provider>,
    token: String,
    l: Lang,
    error: Option<String>,
    done: Option<String>,
    form: (String, String),
) -> Result<Response, WebError> {
    let view = if well_formed(&token) && done.is_none() {
        let (p, t) = (p.clone(), token.clone());
        pool(move || collaboration::invitation(&p, &t))
            .await?
            .ok()
            .map(|c| InvitationView {
                mailbox: c.row.mailbox.clone(),
                name: c.row.name.clone(),
                email: c.row.invite_email.clone(),
                delegation: match l {
                    Lang::It => c.delegation.italian(),
                    Lang::En => c.delegation.english(),
                },
                expires: c
                    .row
                    .expires
                    .map_or_else(|| l.t("illimitata", "unlimited").to_string(), i18n::date),
                link_expires: i18n::datetime(c.row.invite_expires),
            })
    } else {
        None
    };
    let status = match (&view, &error, &done) {
        (_, _, Some(_)) => StatusCode::OK,
        (None, _, _) => StatusCode::NOT_FOUND,
        (Some(_), Some(_), _) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut r = page(&InvitationPage {
        l,
        token,
        invitation: view,
        error,
        done,
        username: form.0,
        mobile: form.1,
    });
    *r.status_mut() = status;
    Ok(r)
}

pub async fn invitation(
    State(st): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&q.lang);
    invitation_page(&st.p, q.t, l, None, None, Default::default()).await
}

#[derive(Deserialize)]
pub struct RegisterForm {
    username: String,
    password: String,
    password2: String,
    mobile: String,
    #[serde(default)]
    lang: String,
}

pub async fn register(
    State(st): State<AppState>,
    Query(q): Query<TokenQuery>,
    Form(f): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    if !well_formed(&q.t) {
        return invitation_page(&st.p, q.t, l, None, None, Default::default()).await;
    }
    let (p, token) = (st.p.clone(), q.t.clone());
    let (username, mobile) = (f.username.clone(), f.mobile.clone());
    let r = pool(move || {
        collaboration::register(
            &p,
            &token,
            &Registration {
                username: &f.username,
                password: &f.password,
                password_again: &f.password2,
                mobile: &f.mobile,
            },
        )
    })
    .await?;
    finish(&st.p, q.t, l, r, (username, mobile)).await
}

async fn finish(
    p: &Arc<Provider>,
    token: String,
    l: Lang,
    r: Result<collaboration::Collaboration, CollaborationError>,
    form: (String, String),
) -> Result<Response, WebError> {
    match r {
        Ok(c) => {
            let login = format!("{}/{}", c.collaborator.unwrap_or_default(), c.mailbox);
            invitation_page(p, token, l, None, Some(login), form).await
        }
        Err(e @ CollaborationError::Unavailable(_)) => Err(refused(e)),
        Err(e) => invitation_page(p, token, l, Some(e.to_string()), None, form).await,
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    username: String,
    password: String,
    #[serde(default)]
    lang: String,
}

pub async fn accept(
    State(st): State<AppState>,
    ConnectInfo(crate::Peer(peer)): ConnectInfo<crate::Peer>,
    Query(q): Query<TokenQuery>,
    Form(f): Form<AcceptForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    if !well_formed(&q.t) {
        return invitation_page(&st.p, q.t, l, None, None, Default::default()).await;
    }
    let r = collaboration::accept(&st.p, &q.t, &f.username, &f.password, peer.ip()).await;
    finish(&st.p, q.t, l, r, (f.username, String::new())).await
}
