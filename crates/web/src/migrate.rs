//! Impostazioni → "PEC - Copia messaggi da account" (issue 15, seed 000): the form that
//! starts copying the user's old PEC box (another provider's) into this one, where the copy
//! stands with its time stamp, the daily sync, and the banner every page shows while the
//! box can still copy. The copy itself is `services::migration`, run by `certa serve`; this
//! page starts it and shows it. The old password goes to the service and nowhere else: never
//! shown back, never logged.

use crate::i18n::{self, Lang};
use crate::mailbox::{frame, Frame};
use crate::session::{Authed, WebSession};
use crate::settings::{nav, Nav, Section};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use services::migration::{self, MigrationError, Server, StartRequest};
use services::principal::Permission;
use services::provider::Provider;

/// The page's address.
const PAGE: &str = "/settings/migrate";
/// The longest address the form takes (RFC 5321 §4.5.3.1.3 path, less the brackets).
const MAX_ADDRESS: usize = 254;
/// The longest `host:port` the form takes.
const MAX_SERVER: usize = 260;
/// The form's body: an address, a password (at most 1 KiB, each byte up to three when
/// URL-encoded), a server and two choices.
pub const MAX_BODY: usize = 8 * 1024;

fn message(e: &MigrationError, l: Lang) -> String {
    match l {
        Lang::It => e.to_string(),
        Lang::En => e.english(),
    }
}

/// The first line of every handler here: changing what the mailbox does needs the
/// Settings right.
fn require_settings(s: &WebSession) -> Result<(), WebError> {
    s.principal().require(Permission::Settings).map_err(|e| {
        WebError::Forbidden(
            s.lang
                .t(
                    &e.to_string(),
                    "operation not allowed: the settings permission is missing",
                )
                .to_string(),
        )
    })
}

/// The mailbox's job as the page shows it (the store's own type stays the services').
struct JobView {
    /// `MigrationState::as_str`.
    state: &'static str,
    preparing: bool,
    copying: bool,
    copied: bool,
    failed: bool,
    caption: String,
    since: i64,
    since_text: String,
    old_address: String,
    server: String,
    into_inbox: bool,
    all_folders: bool,
    source_messages: i64,
    source_bytes: i64,
    copied_messages: i64,
    copied_bytes: i64,
    copied_size: String,
    deleted_at_source: i64,
    left_secs: Option<i64>,
    /// "copiati X di Y messaggi (A di B)", while copying.
    progress: String,
    /// "tempo stimato: N minuti", when there is something to go by.
    left: Option<String>,
    /// The error's name, cause and what to do, when failed.
    error_caption: Option<&'static str>,
    error_detail: Option<String>,
    error_advice: Option<&'static str>,
    /// The switch-over day (the daily sync runs until then).
    switch_day: Option<String>,
    next_sync: Option<String>,
}

/// Runs `f` on the blocking pool: the store and the service are synchronous.
async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, WebError> {
    services::blocking(f)
        .await
        .ok_or_else(|| WebError::Internal("migrate: the task did not finish".into()))
}

/// The mailbox's job, if it has one.
fn load_job(p: &Provider, s: &WebSession) -> Result<Option<JobView>, WebError> {
    let l = s.lang;
    let english = l == Lang::En;
    let now = p.now();
    let job = p
        .store
        .migration_job(s.mailbox_id)
        .map_err(|e| WebError::Unavailable(message(&MigrationError::from(e), l)))?;
    Ok(job.map(|j| {
        let state = j.state.as_str();
        let left_secs = migration::estimate_left(&j, now);
        let kind = j.error_kind.filter(|_| state == "failed");
        JobView {
            state,
            preparing: state == "preparing",
            copying: state == "copying",
            copied: state == "copied",
            failed: state == "failed",
            caption: migration::state_caption(&j, english),
            since: j.state_since,
            since_text: i18n::datetime(j.state_since),
            server: format!("{}:{}", j.host, j.port),
            into_inbox: j.into_inbox,
            all_folders: j.all_folders,
            source_messages: j.source_messages,
            source_bytes: j.source_bytes,
            copied_messages: j.copied_messages,
            copied_bytes: j.copied_bytes,
            copied_size: l.size(j.copied_bytes),
            deleted_at_source: j.deleted_at_source,
            progress: match l {
                Lang::It => format!(
                    "copiati {} di {} messaggi ({} di {})",
                    j.copied_messages,
                    j.source_messages,
                    l.size(j.copied_bytes),
                    l.size(j.source_bytes)
                ),
                Lang::En => format!(
                    "copied {} of {} messages ({} of {})",
                    j.copied_messages,
                    j.source_messages,
                    l.size(j.copied_bytes),
                    l.size(j.source_bytes)
                ),
            },
            left: left_secs.map(|secs| l.time_left(secs)),
            left_secs,
            error_caption: kind.map(|k| migration::error_caption(k, english)),
            error_detail: j.error_detail.clone().filter(|_| kind.is_some()),
            error_advice: kind.map(|k| migration::error_advice(k, english)),
            switch_day: j.switch_at.map(i18n::date),
            next_sync: j.next_run.filter(|_| state == "copied").map(i18n::datetime),
            old_address: j.old_address,
        }
    }))
}

/// The start form as shown: never with a password.
struct FormView {
    old_address: String,
    into_inbox: bool,
    /// The old provider's server is asked for: none is known for the address.
    show_server: bool,
    server: String,
    all_folders_allowed: bool,
    all_folders: bool,
}

impl FormView {
    /// A new copy: the mailbox's own address when its domain is being taken over (the
    /// address stays), else the last job's.
    fn new(settings: &migration::Settings, address: &str, job: Option<&JobView>) -> FormView {
        let old_address = match job {
            Some(j) => j.old_address.clone(),
            None if settings.domain_of(address).is_some() => address.to_string(),
            None => String::new(),
        };
        let show_server = settings.server_for(&old_address, None).is_none();
        FormView {
            show_server,
            // The server the last job used, when the user had to give it.
            server: match job {
                Some(j) if show_server => j.server.clone(),
                _ => String::new(),
            },
            into_inbox: job.is_some_and(|j| j.into_inbox),
            all_folders_allowed: settings.all_folders_allowed,
            all_folders: job.is_some_and(|j| j.all_folders) && settings.all_folders_allowed,
            old_address,
        }
    }
}

#[derive(Template)]
#[template(path = "migrate.html")]
struct MigratePage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    enabled: bool,
    job: Option<JobView>,
    /// The start form, when a copy may start: none yet, failed (to resume) or stopped.
    form: Option<FormView>,
    error: Option<String>,
    notice: Option<String>,
    /// The page reloads itself while the job is preparing or copying (the CSP allows no
    /// script).
    refresh: bool,
    /// The job's messages go to INBOX (the sentence about where they end up).
    into_inbox: bool,
}

/// Renders the page; `form` is what was submitted, when it is shown again with `error`.
async fn render(
    st: &AppState,
    s: WebSession,
    form: Option<FormView>,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    on_mailbox(&st.p, &s.clone(), move |m| {
        let settings = &p.migration;
        let job = load_job(&p, &s)?;
        let may_start = job
            .as_ref()
            .is_none_or(|j| matches!(j.state, "failed" | "stopped"));
        let form = match form {
            Some(f) => Some(f),
            None if settings.enabled && may_start => {
                Some(FormView::new(settings, &s.address, job.as_ref()))
            }
            None => None,
        };
        let refresh = job.as_ref().is_some_and(|j| j.preparing || j.copying);
        let into_inbox = match (&form, &job) {
            (Some(f), _) => f.into_inbox,
            (None, Some(j)) => j.into_inbox,
            (None, None) => false,
        };
        let fr = frame(m, &s);
        Ok(page(&MigratePage {
            nav: nav(&fr, s.lang, Section::Migration),
            fr,
            l: s.lang,
            enabled: settings.enabled,
            job,
            form,
            error,
            notice,
            refresh,
            into_inbox,
        }))
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// GET /settings/migrate.
pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    require_settings(&s)?;
    let notice = match q.notice.as_deref() {
        Some("sync") => Some(
            s.lang
                .t(
                    "Sincronizzazione avviata: i nuovi messaggi arriveranno a breve.",
                    "Sync started: new messages will arrive shortly.",
                )
                .to_string(),
        ),
        _ => None,
    };
    render(&st, s, None, None, notice).await
}

/// The start form as posted. No `Debug`: it holds the old password.
#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    old_address: String,
    #[serde(default)]
    password: String,
    /// "folder" (the default) or "inbox".
    #[serde(default)]
    into: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    all_folders: Option<String>,
}

/// POST /settings/migrate: starts the copy (or resumes it after an error), then back to
/// the page; a refusal shows the form again with the reason, having changed nothing.
pub async fn start(
    State(st): State<AppState>,
    Authed(s): Authed,
    Form(f): Form<StartForm>,
) -> Result<Response, WebError> {
    require_settings(&s)?;
    let l = s.lang;
    let settings = &st.p.migration;
    let old_address = f.old_address.trim().to_string();
    let server_text = f.server.trim().to_string();
    let mut shown = FormView {
        show_server: !server_text.is_empty() || settings.server_for(&old_address, None).is_none(),
        server: server_text.chars().take(MAX_SERVER).collect(),
        into_inbox: f.into == "inbox",
        all_folders_allowed: settings.all_folders_allowed,
        all_folders: f.all_folders.is_some() && settings.all_folders_allowed,
        old_address: old_address.chars().take(MAX_ADDRESS).collect(),
    };
    let refuse =
        |shown: FormView, why: String| render(&st, s.clone(), Some(shown), Some(why), None);
    if old_address.len() > MAX_ADDRESS {
        shown.old_address.clear();
        let why = l.t(
            "indirizzo PEC non valido: troppo lungo",
            "invalid PEC address: too long",
        );
        return refuse(shown, why.into()).await;
    }
    let server = match server_text.as_str() {
        "" => None,
        text => match Server::parse(text).filter(|_| text.len() <= MAX_SERVER) {
            Some(server) => Some(server),
            None => {
                shown.server.clear();
                let why = l.t(
                    "server del vecchio gestore non valido: indicarlo come host:porta",
                    "invalid server of the old provider: enter it as host:port",
                );
                return refuse(shown, why.into()).await;
            }
        },
    };
    // A second submission while the copy runs changes nothing.
    let p = st.p.clone();
    let session = s.clone();
    let running = on_pool(move || load_job(&p, &session))
        .await??
        .is_some_and(|j| j.preparing || j.copying);
    if running {
        let why = l.t(
            "una copia è già in corso: attendere che finisca",
            "a copy is already under way: wait for it to finish",
        );
        return refuse(shown, why.into()).await;
    }
    let request = StartRequest {
        address: s.address.clone(),
        old_address,
        password: f.password,
        server,
        ca_pem: None,
        into_inbox: shown.into_inbox,
        all_folders: f.all_folders.is_some(),
    };
    let p = st.p.clone();
    let started = on_pool(move || {
        let now = p.now();
        migration::start(&*p.store, &p.migration, &request, now).map(|_| ())
    })
    .await?;
    match started {
        Ok(()) => Ok(Redirect::to(PAGE).into_response()),
        Err(e) => {
            if matches!(e, MigrationError::UnknownServer(_)) {
                shown.show_server = true;
            }
            refuse(shown, message(&e, l)).await
        }
    }
}

/// POST /settings/migrate/sync: "Sincronizza ora".
pub async fn sync(State(st): State<AppState>, Authed(s): Authed) -> Result<Response, WebError> {
    require_settings(&s)?;
    let p = st.p.clone();
    let address = s.address.clone();
    let synced = on_pool(move || {
        let now = p.now();
        migration::sync_now(&*p.store, &address, now).map(|_| ())
    })
    .await?;
    match synced {
        Ok(()) => Ok(Redirect::to(&format!("{PAGE}?notice=sync")).into_response()),
        Err(e) => {
            let why = message(&e, s.lang);
            render(&st, s, None, Some(why), None).await
        }
    }
}

/// GET /settings/migrate/status: where the copy stands, as JSON (for scripts and a page
/// that polls; the webmail's own page reloads itself).
pub async fn status(State(st): State<AppState>, Authed(s): Authed) -> Result<Response, WebError> {
    require_settings(&s)?;
    let p = st.p.clone();
    let session = s.clone();
    let job = on_pool(move || load_job(&p, &session)).await??;
    let body = match job {
        None => serde_json::json!({
            "state": null,
            "caption": s.lang.t(
                "Nessuna copia avviata.",
                "No copy started.",
            ),
        }),
        Some(j) => serde_json::json!({
            "state": j.state,
            "caption": j.caption,
            "since": j.since,
            "since_text": j.since_text,
            "copied_messages": j.copied_messages,
            "source_messages": j.source_messages,
            "copied_bytes": j.copied_bytes,
            "source_bytes": j.source_bytes,
            "deleted_at_source": j.deleted_at_source,
            "left_secs": j.left_secs,
        }),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(domains: &[(&str, Option<i64>)]) -> migration::Settings {
        let mut s = migration::Settings::new(migration::SecretKey::new([7; 32]));
        for (name, switch_at) in domains {
            let mut d = migration::OldDomain::new(
                name,
                Server::parse("imaps.vecchio.test").expect("server"),
            );
            d.switch_at = *switch_at;
            s.domains.push(d);
        }
        s
    }

    #[test]
    fn the_banner_is_for_a_domain_taken_over_before_its_switch() {
        let s = settings(&[("pec.vecchio.test", None), ("pec.passato.test", Some(100))]);
        assert!(s.takes_over("a@PEC.vecchio.test", 50));
        assert!(s.takes_over("a@pec.passato.test", 99));
        assert!(!s.takes_over("a@pec.passato.test", 100), "switched");
        assert!(!s.takes_over("a@pec.nuovo.test", 50), "no entry");
        let mut off = settings(&[("pec.vecchio.test", None)]);
        off.enabled = false;
        assert!(!off.takes_over("a@pec.vecchio.test", 50));
    }

    #[test]
    fn the_form_proposes_the_own_address_of_a_domain_taken_over() {
        let s = settings(&[("pec.vecchio.test", None)]);
        let f = FormView::new(&s, "utente@pec.vecchio.test", None);
        assert_eq!(f.old_address, "utente@pec.vecchio.test");
        assert!(!f.show_server, "the operator's server is known");
        assert!(!f.into_inbox && !f.all_folders_allowed);
        let f = FormView::new(&s, "utente@pec.nuovo.test", None);
        assert_eq!(f.old_address, "");
        assert!(f.show_server, "no server known for no address");
    }

    fn job(state: &'static str) -> JobView {
        JobView {
            state,
            preparing: state == "preparing",
            copying: state == "copying",
            copied: state == "copied",
            failed: state == "failed",
            caption: format!("didascalia di {state}"),
            since: 1_782_900_000,
            since_text: i18n::datetime(1_782_900_000),
            old_address: "vecchio@pec.vecchio.test".into(),
            server: "imaps.vecchio.test:993".into(),
            into_inbox: false,
            all_folders: false,
            source_messages: 10,
            source_bytes: 3 << 20,
            copied_messages: 3,
            copied_bytes: 1 << 20,
            copied_size: Lang::It.size(1 << 20),
            deleted_at_source: 0,
            left_secs: Some(150),
            progress: "copiati 3 di 10 messaggi (1,0 MB di 3,0 MB)".into(),
            left: Some(Lang::It.time_left(150)),
            error_caption: None,
            error_detail: None,
            error_advice: None,
            switch_day: None,
            next_sync: None,
        }
    }

    fn render_page(job: Option<JobView>, form: Option<FormView>) -> String {
        let refresh = job.as_ref().is_some_and(|j| j.preparing || j.copying);
        let fr = Frame {
            address: "vecchio@pec.vecchio.test".into(),
            csrf: "tok".into(),
            quota_used: "0 B".into(),
            quota_total: "1 GB".into(),
            quota_pct: 0,
            quota_forecast: None,
            migration_enabled: true,
            migration_banner: true,
            login: "vecchio@pec.vecchio.test".into(),
            may_modify: true,
            may_send: true,
            owner: true,
        };
        MigratePage {
            nav: nav(&fr, Lang::It, Section::Migration),
            fr,
            l: Lang::It,
            enabled: true,
            job,
            form,
            error: None,
            notice: None,
            refresh,
            into_inbox: false,
        }
        .render()
        .expect("render")
    }

    #[test]
    fn while_copying_the_page_shows_progress_and_reloads_itself() {
        let html = render_page(Some(job("copying")), None);
        assert!(
            html.contains("copiati 3 di 10 messaggi (1,0 MB di 3,0 MB)"),
            "{html}"
        );
        assert!(html.contains("tempo stimato: 3 minuti"));
        assert!(html.contains("Rimani su questa pagina o riaprila più tardi"));
        assert!(html.contains(r#"<meta http-equiv="refresh" content="3">"#));
        assert!(
            html.contains("01/07/2026 12:00"),
            "the time stamp in Italian time"
        );
        assert!(!html.contains("migrate-form"), "no form while copying");
        let html = render_page(Some(job("copied")), None);
        assert!(!html.contains("http-equiv"), "no reload once copied");
    }

    #[test]
    fn once_copied_the_sync_runs_until_the_switch_over_day() {
        let mut j = job("copied");
        j.switch_day = Some(i18n::date(1_607_641_200));
        let html = render_page(Some(j), None);
        assert!(
            html.contains(
                "con cadenza giornaliera fino al passaggio di gestione al nuovo gestore previsto \
                 per il giorno <span id=\"migrate-switch\">11/12/2020</span>."
            ),
            "{html}"
        );
        assert!(html.contains("Sincronizza ora"));
        assert!(html.contains("/settings/migrate/sync?csrf=tok"));
    }

    #[test]
    fn a_failure_shows_its_cause_escaped_and_the_form_to_resume() {
        let mut j = job("failed");
        j.error_caption = Some("Credenziali errate");
        j.error_detail = Some("<script>alert(1)</script>".into());
        j.error_advice = Some("premi di nuovo \"Avvia\"");
        j.deleted_at_source = 2;
        let s = settings(&[]);
        let form = FormView::new(&s, "utente@pec.nuovo.test", Some(&j));
        assert_eq!(form.old_address, "vecchio@pec.vecchio.test");
        let html = render_page(Some(j), Some(form));
        assert!(html.contains("Credenziali errate"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        assert!(html.contains("2 messaggi eliminati all&#39;origine (conservati qui)"));
        assert!(html.contains(r#"id="migrate-form""#));
        assert!(html.contains(r#"value="vecchio@pec.vecchio.test""#));
        // The server the user had to give comes back with the form; never a password.
        assert!(html.contains(r#"value="imaps.vecchio.test:993""#));
        assert!(!html.contains(r#"name="password" value"#));
    }

    #[test]
    fn every_refusal_has_english() {
        let errors = [
            MigrationError::Disabled,
            MigrationError::NoMailbox("a@b".into()),
            MigrationError::InvalidAddress("x".into()),
            MigrationError::InvalidPassword,
            MigrationError::UnknownServer("a@b".into()),
            MigrationError::AllFoldersNotAllowed,
            MigrationError::Busy,
            MigrationError::Running,
            MigrationError::NoJob("a@b".into()),
        ];
        for e in &errors {
            assert_ne!(message(e, Lang::En), message(e, Lang::It));
        }
        assert!(message(&errors[4], Lang::En).contains("host:port"));
    }
}
