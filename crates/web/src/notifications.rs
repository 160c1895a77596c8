//! "PEC – Abilita Messaggi di Notifica" (issue 18 item 2; seed 002 §2.6.4, N1): the box's
//! rules — notify an ordinary address of each PEC received, from every sender or one —
//! listed as "Attuale Regola Impostata", each with its "Reset". The rules and the notices
//! are `services::notifications`'.

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

const PAGE: &str = "/settings/notifiche";
pub const MAX_BODY: usize = 2 * 1024;

struct RuleView {
    index: usize,
    to: String,
    sender: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    rules: Vec<RuleView>,
    max: usize,
    notice: Option<String>,
    error: Option<String>,
}

fn render(
    m: &Access,
    s: &WebSession,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let l = s.lang;
    let rules = m
        .notification_rules()?
        .into_iter()
        .enumerate()
        .map(|(index, r)| RuleView {
            index,
            to: r.to,
            sender: r
                .sender
                .unwrap_or_else(|| l.t("tutti i mittenti", "every sender").to_string()),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let fr = frame(m, s);
    let mut r = page(&NotificationsPage {
        nav: nav(&fr, s.lang, Section::Notifications),
        fr,
        l,
        rules,
        max: services::notifications::MAX_RULES,
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
    /// `tutti` or `uno`.
    #[serde(default)]
    mittenti: String,
    #[serde(default)]
    mittente: String,
    #[serde(default)]
    regola: usize,
}

pub async fn save(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<RuleForm>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let r = if f.azione == "reset" {
            m.remove_notification_rule(f.regola)
        } else {
            let sender = (f.mittenti == "uno").then_some(f.mittente.as_str());
            if sender.is_some_and(|x| x.trim().is_empty()) {
                Err(MailboxError::Refused(
                    s.lang
                        .t("Indicare il mittente.", "Give the sender.")
                        .to_string(),
                ))
            } else {
                m.add_notification_rule(&f.indirizzo, sender)
            }
        };
        match r {
            Ok(()) => Ok(Redirect::to(&format!(
                "{PAGE}?fatto={}",
                if f.azione == "reset" {
                    "reset"
                } else {
                    "salvata"
                }
            ))
            .into_response()),
            Err(e @ MailboxError::Refused(_)) => render(m, &s, None, Some(e.to_string())),
            Err(e) => Err(e.into()),
        }
    })
    .await
}
