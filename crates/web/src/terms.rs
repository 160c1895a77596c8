//! First access (issue 18 item 6, seed 001 and seed 002 §2.2): the operator's terms, which
//! the holder must accept before anything else ("Questa operazione è obbligatoria per
//! procedere"), then the forced password change. The rule and its legal-log record are
//! `services::terms`'; the gate is `session::Authed`.

use crate::i18n::Lang;
use crate::session::{Authed, WebSession};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

pub const MAX_BODY: usize = 1024;

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    l: Lang,
    csrf: String,
    text: String,
    version: String,
    error: Option<String>,
}

fn render(st: &AppState, s: &WebSession, error: Option<String>) -> Result<Response, WebError> {
    let Some(terms) = &st.terms else {
        return Err(WebError::NotFound);
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut r = page(&TermsPage {
        l: s.lang,
        csrf: s.csrf.clone(),
        text: terms.text.clone(),
        version: terms.version.clone(),
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
) -> Result<Response, WebError> {
    render(&st, &s, None)
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    accetto: Option<String>,
}

pub async fn accept(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<AcceptForm>,
) -> Result<Response, WebError> {
    let Some(terms) = st.terms.clone() else {
        return Err(WebError::NotFound);
    };
    if f.accetto.as_deref() != Some("si") {
        let e = s.lang.t(
            "L'accettazione delle condizioni è obbligatoria per procedere.",
            "Accepting the terms is required to go on.",
        );
        return render(&st, &s, Some(e.to_string()));
    }
    let forced = s.must_change_password;
    on_mailbox(&st.p, &s, move |m| Ok(m.accept_terms(&terms)?)).await?;
    Ok(Redirect::to(if forced { "/password" } else { "/" }).into_response())
}
