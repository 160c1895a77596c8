//! The public start page of a domain taken over from another provider (issue 16; seed 004,
//! the ministry's 2022 switch): no login to the new box. The holder gives the box and its
//! *current* password, checked against the old provider ("Credenziali non valide" for
//! anything wrong, throttled like a login); then the password valid from the switch-over;
//! then the copy of the old box into INBOX starts. The rules are `services::takeover`.

use crate::i18n::Lang;
use crate::{page, AppState, Peer, WebError};
use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use services::takeover::{self, StartPageError};

/// Two passwords and a ticket at most.
pub const MAX_BODY: usize = 8 * 1024;

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage {
    l: Lang,
    /// 1: the box and its current password; 2: the new password; 3: done.
    step: u8,
    address: String,
    ticket: String,
    error: Option<String>,
    /// "il 23/11/2022 alle 14:00", when the new password opens the box.
    switch: String,
}

fn render(p: StartPage, refused: bool) -> Response {
    let mut r = page(&p);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

fn message(e: &StartPageError, l: Lang) -> String {
    match l {
        Lang::It => e.to_string(),
        Lang::En => e.english(),
    }
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    #[serde(default)]
    lang: String,
}

/// GET /attivazione
pub async fn form(Query(q): Query<LangQuery>) -> Response {
    render(
        StartPage {
            l: Lang::parse(&q.lang),
            step: 1,
            address: String::new(),
            ticket: String::new(),
            error: None,
            switch: String::new(),
        },
        false,
    )
}

#[derive(Deserialize)]
pub struct CurrentForm {
    address: String,
    password: String,
    #[serde(default)]
    lang: String,
}

/// POST /attivazione: the current password, checked at the old provider.
pub async fn check(
    State(st): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(f): Form<CurrentForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    let address: String = f.address.trim().chars().take(254).collect();
    match takeover::check_current(&st.p, peer.ip(), &address, &f.password).await {
        Ok(ticket) => Ok(render(
            StartPage {
                l,
                step: 2,
                address,
                ticket,
                error: None,
                switch: String::new(),
            },
            false,
        )),
        Err(e) => Ok(render(
            StartPage {
                l,
                step: 1,
                address,
                ticket: String::new(),
                error: Some(message(&e, l)),
                switch: String::new(),
            },
            true,
        )),
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    ticket: String,
    #[serde(default)]
    address: String,
    password: String,
    confirm: String,
    #[serde(default)]
    lang: String,
}

/// POST /attivazione/password: the password for after the switch-over; the copy starts.
pub async fn set_password(
    State(st): State<AppState>,
    Form(f): Form<NewPasswordForm>,
) -> Result<Response, WebError> {
    let l = Lang::parse(&f.lang);
    let p = st.p.clone();
    let (ticket, password, confirm) = (f.ticket.clone(), f.password, f.confirm);
    let done =
        services::blocking(move || takeover::set_new_password(&p, &ticket, &password, &confirm))
            .await
            .ok_or_else(|| WebError::Internal("start page: the task did not finish".into()))?;
    let address: String = f.address.chars().take(254).collect();
    Ok(match done {
        Ok(a) => render(
            StartPage {
                l,
                step: 3,
                address: a.address,
                ticket: String::new(),
                error: None,
                switch: a
                    .switch_at
                    .map(|t| {
                        let t = pec::PecTime::from_unix_or_epoch(t);
                        match l {
                            Lang::It => format!("il {} alle {}", t.giorno(), t.ora()),
                            Lang::En => format!("on {} at {}", t.giorno(), t.ora()),
                        }
                    })
                    .unwrap_or_default(),
            },
            false,
        ),
        // A ticket that no longer opens sends back to the first step.
        Err(e @ StartPageError::Expired) => render(
            StartPage {
                l,
                step: 1,
                address,
                ticket: String::new(),
                error: Some(message(&e, l)),
                switch: String::new(),
            },
            true,
        ),
        Err(e) => render(
            StartPage {
                l,
                step: 2,
                address,
                ticket: f.ticket,
                error: Some(message(&e, l)),
                switch: String::new(),
            },
            true,
        ),
    })
}
