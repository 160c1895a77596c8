//! "PEC – Report Email giornaliero" and "PEC – Report SMS giornaliero" (issue 18 item 4;
//! seed 002 §2.6.5, figures 33–34): the recipient (an address, or a mobile number) and the
//! hour of the daily report, "Attuale Regola Impostata" and "Reset". What goes in the
//! reports and when they are made is `services::reports`'.

use crate::i18n::Lang;
use crate::mailbox::{frame, Frame};
use crate::session::{Authed, WebSession};
use crate::settings::{nav, Nav, Section};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::mailbox::{Access, MailboxError};
use services::reports::ReportKind;

pub const MAX_BODY: usize = 2 * 1024;

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    /// `email` or `sms`.
    kind: &'static str,
    /// The form's action.
    path: &'static str,
    /// The current recipient and hour, if set.
    current: Option<(String, u32)>,
    /// The SMS report without a gateway: the page says so and has no form.
    unavailable: bool,
    hours: Vec<u32>,
    notice: Option<String>,
    error: Option<String>,
}

fn path(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Email => "/settings/report-email",
        ReportKind::Sms => "/settings/report-sms",
    }
}

fn render(
    m: &Access,
    s: &WebSession,
    kind: ReportKind,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let current = match kind {
        ReportKind::Email => m.email_report()?.map(|r| (r.to, r.hour)),
        ReportKind::Sms => m.sms_report()?.map(|r| (r.number, r.hour)),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let fr = frame(m, s);
    let section = match kind {
        ReportKind::Email => Section::ReportEmail,
        ReportKind::Sms => Section::ReportSms,
    };
    let mut r = page(&ReportPage {
        nav: nav(&fr, s.lang, section),
        fr,
        l: s.lang,
        kind: match kind {
            ReportKind::Email => "email",
            ReportKind::Sms => "sms",
        },
        path: path(kind),
        current,
        unavailable: kind == ReportKind::Sms && !m.sms_offered(),
        hours: (0..24).collect(),
        notice,
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    fatto: String,
}

async fn show(
    st: AppState,
    s: WebSession,
    q: NoticeQuery,
    kind: ReportKind,
) -> Result<Response, WebError> {
    let l = s.lang;
    let notice = match q.fatto.as_str() {
        "" => None,
        "reset" => Some(l.t("Report disattivato.", "Report turned off.").to_string()),
        _ => Some(l.t("Report impostato.", "Report set.").to_string()),
    };
    on_mailbox(&st.p, &s.clone(), move |m| {
        render(m, &s, kind, notice, None)
    })
    .await
}

pub async fn email_page(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    show(st, s, q, ReportKind::Email).await
}

pub async fn sms_page(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    show(st, s, q, ReportKind::Sms).await
}

#[derive(Deserialize)]
pub struct ReportForm {
    /// `salva` or `reset`.
    azione: String,
    /// The address (e-mail) or the mobile number (SMS).
    #[serde(default)]
    destinatario: String,
    #[serde(default)]
    ora: String,
}

async fn save(
    st: AppState,
    s: WebSession,
    f: ReportForm,
    kind: ReportKind,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let reset = f.azione == "reset";
        let r = match (reset, kind) {
            (true, _) => m.clear_report(kind),
            (false, ReportKind::Email) => m.set_email_report(&f.destinatario, &f.ora),
            (false, ReportKind::Sms) => m.set_sms_report(&f.destinatario, &f.ora),
        };
        match r {
            Ok(()) => Ok(Redirect::to(&format!(
                "{}?fatto={}",
                path(kind),
                if reset { "reset" } else { "salvato" }
            ))
            .into_response()),
            Err(e @ MailboxError::Refused(_)) => render(m, &s, kind, None, Some(e.to_string())),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

pub async fn email_save(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<ReportForm>,
) -> Result<Response, WebError> {
    save(st, s, f, ReportKind::Email).await
}

pub async fn sms_save(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<ReportForm>,
) -> Result<Response, WebError> {
    save(st, s, f, ReportKind::Sms).await
}
