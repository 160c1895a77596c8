//! Impostazioni as in the seed (002 §2.6, figures 23–35; issue 18 item 1): three tabs —
//! Preferenze with its "Sezione" list, Cartelle, Identità — around every settings page, so
//! the PEC pages of other modules show the same frame ([`nav`]). Here: Interfaccia Utente
//! (layout, language), Impaginazione Messaggi (page size, default sort), Visualizzazione
//! Messaggi (HTML or text first, marking as read), Composizione Messaggi (default receipt,
//! quoting), Cartelle (create, rename, delete, with size and count), Identità (display
//! name and signature) and the password change, under the one policy used everywhere.
//! The values are `crate::preferences`'; saving them needs the Settings right, which the
//! mailbox service checks (`Access::set_setting`): a collaborator never has it.

use crate::i18n::Lang;
use crate::mailbox::{folder_items, frame, FolderItem, Frame};
use crate::preferences::{
    Composition, Identity, Invalid, MessageDisplay, Paging, Preferences, Receipt, SortKey, LAYOUT,
    MAX_DISPLAY_NAME, MAX_SIGNATURE, PAGE_SIZES,
};
use crate::session::{Authed, WebSession};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::mailbox::Access;

/// A section form's body: a signature of 1000 characters, percent-encoded, fits.
pub const MAX_BODY: usize = 16 * 1024;

/// A page of Impostazioni.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Interface,
    Paging,
    Display,
    Composition,
    Password,
    Notifications,
    Forwarding,
    ReportEmail,
    ReportSms,
    Collaborators,
    Activity,
    Migration,
    Clients,
    Folders,
    Identity,
}

/// The three tabs of figure 23.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Preferences,
    Folders,
    Identity,
}

impl Section {
    fn tab(self) -> Tab {
        match self {
            Section::Folders => Tab::Folders,
            Section::Identity => Tab::Identity,
            _ => Tab::Preferences,
        }
    }

    /// The link's id, its address and its label (the seed's, in Italian).
    fn link(self, l: Lang) -> (&'static str, &'static str, &'static str) {
        match self {
            Section::Interface => (
                "section-interfaccia",
                "/settings",
                l.t("Interfaccia Utente", "User interface"),
            ),
            Section::Paging => (
                "section-impaginazione",
                "/settings/impaginazione",
                l.t("Impaginazione Messaggi", "Message paging"),
            ),
            Section::Display => (
                "section-visualizzazione",
                "/settings/visualizzazione",
                l.t("Visualizzazione Messaggi", "Message display"),
            ),
            Section::Composition => (
                "section-composizione",
                "/settings/composizione",
                l.t("Composizione Messaggi", "Message composition"),
            ),
            Section::Password => (
                "change-password",
                "/password",
                l.t("PEC - Modifica Password", "PEC - Change password"),
            ),
            Section::Notifications => (
                "notifications-link",
                "/settings/notifiche",
                l.t(
                    "PEC - Abilita Messaggi di Notifica",
                    "PEC - Notification messages",
                ),
            ),
            Section::Forwarding => (
                "forwarding-link",
                "/settings/inoltro",
                l.t(
                    "PEC - Inoltro Messaggi non Certificati",
                    "PEC - Forwarding of non-certified messages",
                ),
            ),
            Section::ReportEmail => (
                "report-email-link",
                "/settings/report-email",
                l.t(
                    "PEC - Report Email giornaliero",
                    "PEC - Daily e-mail report",
                ),
            ),
            Section::ReportSms => (
                "report-sms-link",
                "/settings/report-sms",
                l.t("PEC - Report SMS giornaliero", "PEC - Daily SMS report"),
            ),
            Section::Collaborators => (
                "multiutenza-link",
                "/settings/multiutenza",
                l.t(
                    "PEC - Multiutenza Titolare",
                    "PEC - Multi-user access (holder)",
                ),
            ),
            Section::Activity => (
                "activity-link",
                "/settings/attivita",
                l.t(
                    "PEC - Attività dei collaboratori",
                    "PEC - Collaborators' activity",
                ),
            ),
            Section::Migration => (
                "migrate-link",
                "/settings/migrate",
                l.t(
                    "PEC - Copia messaggi da account",
                    "PEC - Copy messages from an account",
                ),
            ),
            Section::Clients => (
                "clients-link",
                "/settings/client",
                l.t(
                    "Configura il tuo programma di posta",
                    "Set up your mail program",
                ),
            ),
            Section::Folders => (
                "tab-cartelle",
                "/settings/cartelle",
                l.t("Cartelle", "Folders"),
            ),
            Section::Identity => (
                "tab-identita",
                "/settings/identita",
                l.t("Identità", "Identity"),
            ),
        }
    }

    /// Who sees the section: the box's own settings are its holder's; every principal sees
    /// the message preferences (read-only unless the holder) and the client set-up.
    fn shown(self, fr: &Frame) -> bool {
        match self {
            Section::Interface
            | Section::Paging
            | Section::Display
            | Section::Composition
            | Section::Clients
            | Section::Folders
            | Section::Identity => true,
            Section::Migration => fr.owner && fr.migration_enabled,
            _ => fr.owner,
        }
    }
}

/// One tab or section link.
pub struct NavLink {
    pub id: &'static str,
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

/// The Impostazioni frame a settings page is shown in: the tabs, and under Preferenze the
/// "Sezione" list with the page's own section marked.
pub struct Nav {
    pub tabs: Vec<NavLink>,
    pub sections: Vec<NavLink>,
}

impl Nav {
    /// No frame: the password change forced at the first login shows nothing else.
    pub fn none() -> Nav {
        Nav {
            tabs: vec![],
            sections: vec![],
        }
    }
}

/// The Sezione list in the seed's order (figure 31, without what is not built: PEC -
/// Fatture elettroniche, PEC - Archivio; Rubrica has nothing to set until the address
/// book exists), then this provider's own pages.
const PREFERENCE_SECTIONS: [Section; 13] = [
    Section::Interface,
    Section::Paging,
    Section::Display,
    Section::Composition,
    Section::Password,
    Section::Notifications,
    Section::Forwarding,
    Section::ReportEmail,
    Section::ReportSms,
    Section::Collaborators,
    Section::Activity,
    Section::Migration,
    Section::Clients,
];

pub fn nav(fr: &Frame, l: Lang, here: Section) -> Nav {
    let tabs = [
        (
            Tab::Preferences,
            (
                "tab-preferenze",
                "/settings",
                l.t("Preferenze", "Preferences"),
            ),
        ),
        (Tab::Folders, Section::Folders.link(l)),
        (Tab::Identity, Section::Identity.link(l)),
    ]
    .into_iter()
    .map(|(t, (id, href, label))| NavLink {
        id,
        href,
        label: label.to_string(),
        current: here.tab() == t,
    })
    .collect();
    let sections = if here.tab() == Tab::Preferences {
        PREFERENCE_SECTIONS
            .into_iter()
            .filter(|s| s.shown(fr))
            .map(|s| {
                let (id, href, label) = s.link(l);
                NavLink {
                    id,
                    href,
                    label: label.to_string(),
                    current: s == here,
                }
            })
            .collect()
    } else {
        vec![]
    };
    Nav { tabs, sections }
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

impl NoticeQuery {
    fn text(&self, l: Lang) -> Option<String> {
        match self.notice.as_deref() {
            Some("password") => Some(l.t("Password modificata.", "Password changed.").into()),
            Some("saved") => Some(l.t("Impostazioni salvate.", "Settings saved.").into()),
            _ => None,
        }
    }
}

/// What a section page says above its form: saved, or why nothing was.
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn shown(notice: Option<String>) -> Outcome {
        Outcome {
            notice,
            error: None,
        }
    }

    fn refused(invalid: &Invalid, l: Lang) -> Outcome {
        Outcome {
            notice: None,
            error: Some(invalid.text(l)),
        }
    }

    /// A refused value answers 400 with the page and its reason.
    fn respond(&self, t: &impl Template) -> Response {
        let mut r = page(t);
        if self.error.is_some() {
            *r.status_mut() = StatusCode::BAD_REQUEST;
        }
        r
    }
}

const SAVED: &str = "?notice=saved";

/// Preferenze → Interfaccia Utente: layout and language.
#[derive(Template)]
#[template(path = "settings_interface.html")]
struct InterfacePage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    columns: bool,
}

fn interface_page(m: &Access, s: &WebSession, shown: Outcome) -> Result<Response, WebError> {
    let fr = frame(m, s);
    let t = InterfacePage {
        nav: nav(&fr, s.lang, Section::Interface),
        fr,
        l: s.lang,
        columns: Preferences::load(m)?.columns,
        shown,
    };
    Ok(t.shown.respond(&t))
}

pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        interface_page(m, &s, Outcome::shown(q.text(s.lang)))
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
    on_mailbox(&st.p, &s.clone(), move |m| {
        let value = match f.layout.as_str() {
            "list" => "list",
            "columns" => "columns",
            _ => {
                let invalid = Invalid {
                    it: "Disposizione non valida: elenco o tre colonne.",
                    en: "Invalid layout: list or three columns.",
                };
                return interface_page(m, &s, Outcome::refused(&invalid, s.lang));
            }
        };
        m.set_setting(LAYOUT, value)?;
        Ok(Redirect::to(&format!("/settings{SAVED}")).into_response())
    })
    .await
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
    Ok(Redirect::to(&format!("/settings{SAVED}")).into_response())
}

/// A choice of a select or radio group.
pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub chosen: bool,
}

/// Preferenze → Impaginazione Messaggi.
#[derive(Template)]
#[template(path = "settings_paging.html")]
struct PagingPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    page_sizes: Vec<(i64, bool)>,
    sort_keys: Vec<Choice>,
    descending: bool,
}

fn paging_page(m: &Access, s: &WebSession, shown: Outcome) -> Result<Response, WebError> {
    let l = s.lang;
    let prefs = Preferences::load(m)?;
    let fr = frame(m, s);
    let t = PagingPage {
        nav: nav(&fr, l, Section::Paging),
        fr,
        l,
        page_sizes: PAGE_SIZES
            .iter()
            .map(|n| (*n, *n == prefs.page_size))
            .collect(),
        sort_keys: SortKey::ALL
            .into_iter()
            .map(|k| Choice {
                value: k.code(),
                label: k.label(l).to_string(),
                chosen: k == prefs.sort,
            })
            .collect(),
        descending: prefs.descending,
        shown,
    };
    Ok(t.shown.respond(&t))
}

pub async fn paging(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        paging_page(m, &s, Outcome::shown(q.text(s.lang)))
    })
    .await
}

#[derive(Deserialize)]
pub struct PagingForm {
    #[serde(default)]
    per_pagina: String,
    #[serde(default)]
    ordina_per: String,
    #[serde(default)]
    verso: String,
}

pub async fn save_paging(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<PagingForm>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        match Paging::parse(&f.per_pagina, &f.ordina_per, &f.verso) {
            Ok(paging) => {
                paging.save(m)?;
                Ok(Redirect::to(&format!("/settings/impaginazione{SAVED}")).into_response())
            }
            Err(invalid) => paging_page(m, &s, Outcome::refused(&invalid, s.lang)),
        }
    })
    .await
}

/// Preferenze → Visualizzazione Messaggi.
#[derive(Template)]
#[template(path = "settings_display.html")]
struct DisplayPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    html_first: bool,
    mark_read: bool,
}

fn display_page(m: &Access, s: &WebSession, shown: Outcome) -> Result<Response, WebError> {
    let prefs = Preferences::load(m)?;
    let fr = frame(m, s);
    let t = DisplayPage {
        nav: nav(&fr, s.lang, Section::Display),
        fr,
        l: s.lang,
        html_first: prefs.body_first == crate::preferences::BodyFirst::Html,
        mark_read: prefs.mark_read,
        shown,
    };
    Ok(t.shown.respond(&t))
}

pub async fn display(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        display_page(m, &s, Outcome::shown(q.text(s.lang)))
    })
    .await
}

#[derive(Deserialize)]
pub struct DisplayForm {
    #[serde(default)]
    formato: String,
    #[serde(default)]
    segna_letti: String,
}

pub async fn save_display(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<DisplayForm>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        match MessageDisplay::parse(&f.formato, &f.segna_letti) {
            Ok(display) => {
                display.save(m)?;
                Ok(Redirect::to(&format!("/settings/visualizzazione{SAVED}")).into_response())
            }
            Err(invalid) => display_page(m, &s, Outcome::refused(&invalid, s.lang)),
        }
    })
    .await
}

/// Preferenze → Composizione Messaggi; the signature is Identità's, shown here.
#[derive(Template)]
#[template(path = "settings_composition.html")]
struct CompositionPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    receipts: Vec<Choice>,
    quote_reply: bool,
    signature: String,
}

fn composition_page(m: &Access, s: &WebSession, shown: Outcome) -> Result<Response, WebError> {
    let l = s.lang;
    let prefs = Preferences::load(m)?;
    let fr = frame(m, s);
    let t = CompositionPage {
        nav: nav(&fr, l, Section::Composition),
        fr,
        l,
        receipts: Receipt::ALL
            .into_iter()
            .map(|r| Choice {
                value: r.code(),
                label: r.label(l).to_string(),
                chosen: r == prefs.receipt,
            })
            .collect(),
        quote_reply: prefs.quote_reply,
        signature: prefs.signature,
        shown,
    };
    Ok(t.shown.respond(&t))
}

pub async fn composition(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        composition_page(m, &s, Outcome::shown(q.text(s.lang)))
    })
    .await
}

#[derive(Deserialize)]
pub struct CompositionForm {
    #[serde(default)]
    ricevuta: String,
    #[serde(default)]
    citazione: String,
}

pub async fn save_composition(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<CompositionForm>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        match Composition::parse(&f.ricevuta, &f.citazione) {
            Ok(composition) => {
                composition.save(m)?;
                Ok(Redirect::to(&format!("/settings/composizione{SAVED}")).into_response())
            }
            Err(invalid) => composition_page(m, &s, Outcome::refused(&invalid, s.lang)),
        }
    })
    .await
}

/// Identità: the display name and the signature.
#[derive(Template)]
#[template(path = "settings_identity.html")]
struct IdentityPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    display_name: String,
    signature: String,
    /// The From field messages go out with, as it reads.
    sender: String,
    max_name: usize,
    max_signature: usize,
}

fn identity_page(m: &Access, s: &WebSession, shown: Outcome) -> Result<Response, WebError> {
    let prefs = Preferences::load(m)?;
    let fr = frame(m, s);
    let sender = if prefs.display_name.is_empty() {
        s.address.clone()
    } else {
        format!("{} <{}>", prefs.display_name, s.address)
    };
    let t = IdentityPage {
        nav: nav(&fr, s.lang, Section::Identity),
        fr,
        l: s.lang,
        display_name: prefs.display_name,
        signature: prefs.signature,
        sender,
        max_name: MAX_DISPLAY_NAME,
        max_signature: MAX_SIGNATURE,
        shown,
    };
    Ok(t.shown.respond(&t))
}

pub async fn identity(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        identity_page(m, &s, Outcome::shown(q.text(s.lang)))
    })
    .await
}

#[derive(Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    nome: String,
    #[serde(default)]
    firma: String,
}

pub async fn save_identity(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<IdentityForm>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        match Identity::parse(&f.nome, &f.firma) {
            Ok(identity) => {
                identity.save(m)?;
                Ok(Redirect::to(&format!("/settings/identita{SAVED}")).into_response())
            }
            Err(invalid) => identity_page(m, &s, Outcome::refused(&invalid, s.lang)),
        }
    })
    .await
}

/// The Cartelle tab.
#[derive(Template)]
#[template(path = "settings_folders.html")]
struct FoldersPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    shown: Outcome,
    folders: Vec<FolderItem>,
}

pub async fn folders_page(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let folders = m.folders()?;
        let fr = frame(m, &s);
        let t = FoldersPage {
            nav: nav(&fr, s.lang, Section::Folders),
            fr,
            l: s.lang,
            shown: Outcome::shown(q.text(s.lang)),
            folders: folder_items(&folders, "", s.lang),
        };
        Ok(t.shown.respond(&t))
    })
    .await
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
        Ok(()) => Ok(Redirect::to(&format!("/settings/cartelle{SAVED}")).into_response()),
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
    nav: Nav,
    forced: bool,
    errors: Vec<String>,
    special: &'static str,
}

/// The first access's confirmation (seed 002 figure 8).
#[derive(Template)]
#[template(path = "password_done.html")]
struct PasswordDone {
    l: Lang,
}

pub async fn password_page(
    State(st): State<AppState>,
    Authed(s): Authed,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let fr = frame(m, &s);
        Ok(page(&PasswordPage {
            nav: password_nav(&fr, &s),
            fr,
            l: s.lang,
            forced: s.must_change_password,
            errors: vec![],
            special: services::accounts::SPECIAL,
        }))
    })
    .await
}

/// The forced change at the first login shows nothing but itself.
fn password_nav(fr: &Frame, s: &WebSession) -> Nav {
    if s.must_change_password {
        Nav::none()
    } else {
        nav(fr, s.lang, Section::Password)
    }
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
            // First access (figure 8): the confirmation, then on to the webmail.
            let mut r = if s.must_change_password {
                page(&PasswordDone { l })
            } else {
                Redirect::to("/settings?notice=password").into_response()
            };
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
        let fr = frame(m, &s);
        Ok(page(&PasswordPage {
            nav: password_nav(&fr, &s),
            fr,
            l: s.lang,
            forced: s.must_change_password,
            errors,
            special: services::accounts::SPECIAL,
        }))
    })
    .await
}
