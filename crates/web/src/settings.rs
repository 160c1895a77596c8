//! Impostazioni: message layout, language, folders (create, rename, delete, with size and
//! count) and the password change, under the one policy used everywhere.

use crate::i18n::Lang;
use crate::mailbox::{folder_items, frame, FolderItem, Frame};
use crate::session::{Authed, WebSession};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::mailbox::Access;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    fr: Frame,
    l: Lang,
    columns: bool,
    folders: Vec<FolderItem>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

fn settings_page(m: &Access, s: &WebSession, notice: Option<String>) -> Result<Response, WebError> {
    let folders = m.folders()?;
    Ok(page(&SettingsPage {
        fr: frame(m, s),
        l: s.lang,
        columns: m.setting("layout")?.as_deref() == Some("columns"),
        folders: folder_items(&folders, "", s.lang),
        notice,
    }))
}

pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let notice = q.notice.map(|n| match n.as_str() {
            "saved" => s
                .lang
                .t("Impostazioni salvate.", "Settings saved.")
                .to_string(),
            "password" => s
                .lang
                .t("Password modificata.", "Password changed.")
                .to_string(),
            _ => String::new(),
        });
        settings_page(m, &s, notice)
    })
    .await
}

#[derive(Deserialize)]
pub struct LayoutForm {
    layout: String,
}

pub async fn set_layout(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<LayoutForm>,
) -> Result<Response, WebError> {
    let value = if f.layout == "columns" {
        "columns"
    } else {
        "list"
    };
    on_mailbox(&st.p, &s, move |m| Ok(m.set_setting("layout", value)?)).await?;
    Ok(Redirect::to("/settings?notice=saved").into_response())
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
}

pub async fn set_lang(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<LangForm>,
) -> Result<Response, WebError> {
    let lang = Lang::parse(&f.lang);
    s.set_lang(&st.p, lang).await?;
    // The box's default is its holder's; a collaborator's choice lasts their session.
    if s.delegate().is_none() {
        on_mailbox(&st.p, &s, move |m| Ok(m.set_setting("lang", lang.code())?)).await?;
    }
    Ok(Redirect::to("/settings?notice=saved").into_response())
}

#[derive(Deserialize)]
pub struct FolderForm {
    /// create | rename | delete
    op: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    new_name: String,
}

pub async fn folders(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<FolderForm>,
) -> Result<Response, WebError> {
    use services::mailbox::MailboxError;
    let l = s.lang;
    // The form names one level; the rules of whole names are the mailbox service's.
    let leaf = |n: &str| -> Result<String, WebError> {
        let n = n.trim();
        if n.contains('/') {
            return Err(WebError::BadRequest(
                l.t(
                    "nome di cartella non valido (niente /, * o %)",
                    "invalid folder name (no /, * or %)",
                )
                .into(),
            ));
        }
        Ok(n.to_string())
    };
    let done = match f.op.as_str() {
        "create" => {
            let leaf = leaf(&f.name)?;
            let full = if f.parent.is_empty() {
                leaf
            } else {
                format!("{}/{leaf}", f.parent)
            };
            // A folder made in the webmail shows in mail clients that list only the
            // subscribed ones (IMAP CREATE does not subscribe: the client decides).
            on_mailbox_op(&st, &s, move |m| {
                m.create_folder(&full)?;
                m.subscribe(&full, true)
            })
            .await
        }
        "rename" => {
            let leaf = leaf(&f.new_name)?;
            let to = match f.name.rsplit_once('/') {
                Some((parent, _)) => format!("{parent}/{leaf}"),
                None => leaf,
            };
            let from = f.name.clone();
            on_mailbox_op(&st, &s, move |m| m.rename_folder(&from, &to)).await
        }
        "delete" => {
            let name = f.name.clone();
            on_mailbox_op(&st, &s, move |m| m.delete_folder(&name)).await
        }
        _ => return Err(WebError::BadRequest(f.op)),
    };
    match done {
        Ok(()) => Ok(Redirect::to("/settings?notice=saved").into_response()),
        Err(e @ MailboxError::Unavailable(_)) => Err(WebError::from(e)),
        Err(e) => Err(WebError::BadRequest(
            l.t(&e.to_string(), &e.english()).into(),
        )),
    }
}

/// A folder operation, its refusal kept as the service's (shown in the session's language).
async fn on_mailbox_op(
    st: &AppState,
    s: &WebSession,
    f: impl FnOnce(&Access) -> Result<(), services::mailbox::MailboxError> + Send + 'static,
) -> Result<(), services::mailbox::MailboxError> {
    services::mailbox::run(&st.p, &s.principal(), f).await
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    fr: Frame,
    l: Lang,
    forced: bool,
    errors: Vec<String>,
    special: &'static str,
}

pub async fn password_page(
    State(st): State<AppState>,
    Authed(s): Authed,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        Ok(page(&PasswordPage {
            fr: frame(m, &s),
            l: s.lang,
            forced: s.must_change_password,
            errors: vec![],
            special: services::accounts::SPECIAL,
        }))
    })
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    State(st): State<AppState>,
    Authed(s): Authed,
    axum::extract::ConnectInfo(crate::Peer(peer)): axum::extract::ConnectInfo<crate::Peer>,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    let change = services::accounts::PasswordChange {
        current: &f.current,
        new: &f.new,
        confirm: &f.confirm,
    };
    let changed = services::accounts::change_password(&p, &s.principal(), peer.ip(), change).await;
    use services::accounts::{AccountError, ChangeRefused};
    let l = s.lang;
    // The reasons the new password is refused, shown on the page again.
    let errors: Vec<String> = match changed {
        Ok(()) => {
            let token = s.renew(&st.p).await?;
            let mut r = Redirect::to("/settings?notice=password").into_response();
            crate::session::set_cookie(&mut r, &token, st.secure_cookies);
            return Ok(r);
        }
        Err(ChangeRefused::CurrentWrong) => vec![l
            .t(
                "la password attuale non è corretta",
                "the current password is wrong",
            )
            .into()],
        Err(ChangeRefused::Mismatch) => vec![l
            .t(
                "le due nuove password non coincidono",
                "the two new passwords differ",
            )
            .into()],
        Err(ChangeRefused::Unchanged) => vec![l
            .t(
                "la nuova password deve essere diversa dalla attuale",
                "the new password must differ from the current one",
            )
            .into()],
        Err(ChangeRefused::Account(AccountError::Policy(errors))) => errors,
        Err(e) => return Err(WebError::Internal(e.to_string())),
    };
    on_mailbox(&st.p, &s.clone(), move |m| {
        Ok(page(&PasswordPage {
            fr: frame(m, &s),
            l: s.lang,
            forced: s.must_change_password,
            errors,
            special: services::accounts::SPECIAL,
        }))
    })
    .await
}
