//! "PEC – Inoltro Messaggi non Certificati" (issue 18 item 3; seed 002 §2.6.6, N4): the
//! box's rule for ordinary mail — refused (the default), forwarded to an ordinary address,
//! or delivered into the box by entering the box's own address — with "Attuale Regola
//! Impostata" and "Reset". The rule is `services::mailbox`'s.

use crate::i18n::Lang;
use crate::mailbox::{frame, Frame};
use crate::session::Authed;
use crate::settings::{nav, Nav, Section};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::mailbox::{MailboxError, OrdinaryMail};

const PAGE: &str = "/settings/inoltro";
pub const MAX_BODY: usize = 2 * 1024;

#[derive(Template)]
#[template(path = "forwarding.html")]
struct ForwardingPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    /// "Attuale Regola Impostata", in words.
    current: String,
    /// `rifiuta`, `inoltra`, `casella`.
    rule: &'static str,
    notice: Option<String>,
    error: Option<String>,
}

fn describe(rule: &OrdinaryMail, address: &str, l: Lang) -> (String, &'static str) {
    match rule {
        OrdinaryMail::Refused => (
            l.t(
                "nessuna: i messaggi non certificati sono rifiutati",
                "none: non-certified messages are refused",
            )
            .to_string(),
            "rifiuta",
        ),
        OrdinaryMail::Forward(to) => (
            format!(
                "{} {to}",
                l.t(
                    "inoltra i messaggi non certificati a",
                    "forward non-certified messages to"
                )
            ),
            "inoltra",
        ),
        OrdinaryMail::IntoTheBox => (
            format!(
                "{} {address} {}",
                l.t(
                    "consegna i messaggi non certificati in",
                    "deliver non-certified messages into"
                ),
                l.t(
                    "(come anomalia, mai come certificati)",
                    "(as anomalies, never as certified)"
                )
            ),
            "casella",
        ),
    }
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    fatto: String,
}

fn render(
    m: &services::mailbox::Access,
    s: &crate::session::WebSession,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let rule = m.ordinary_mail()?;
    let (current, code) = describe(&rule, &s.address, s.lang);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let fr = frame(m, s);
    let mut r = page(&ForwardingPage {
        nav: nav(&fr, s.lang, Section::Forwarding),
        fr,
        l: s.lang,
        current,
        rule: code,
        notice,
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let l = s.lang;
    let notice = match q.fatto.as_str() {
        "" => None,
        "reset" => Some(l.t("Regola rimossa.", "Rule removed.").to_string()),
        _ => Some(l.t("Regola salvata.", "Rule saved.").to_string()),
    };
    on_mailbox(&st.p, &s.clone(), move |m| render(m, &s, notice, None)).await
}

#[derive(Deserialize)]
pub struct RuleForm {
    /// `salva` or `reset`.
    azione: String,
    #[serde(default)]
    indirizzo: String,
}

pub async fn save(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<RuleForm>,
) -> Result<Response, WebError> {
    let reset = f.azione == "reset";
    on_mailbox(&st.p, &s.clone(), move |m| {
        let target = (!reset).then_some(f.indirizzo.as_str());
        if !reset && f.indirizzo.trim().is_empty() {
            let e = s.lang.t("Indicare un indirizzo.", "Give an address.");
            return render(m, &s, None, Some(e.to_string()));
        }
        match m.set_ordinary_mail(target) {
            Ok(_) => Ok(Redirect::to(&format!(
                "{PAGE}?fatto={}",
                if reset { "reset" } else { "salvata" }
            ))
            .into_response()),
            Err(e @ MailboxError::Refused(_)) => render(m, &s, None, Some(e.to_string())),
            Err(e) => Err(e.into()),
        }
    })
    .await
}
