//! The main screen (folder tree, message list, preview), bulk actions and search
//! (seed manual §2.1–§2.4).

use crate::i18n::{self, Lang};
use crate::message::Preview;
use crate::preferences::{Preferences, SortKey};
use crate::session::{Authed, WebSession};
use crate::{export, on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use services::mailbox::{
    Access, Deleted, FlagOp, Folder, FolderId, FoundMessage, ListKey, ListOrder, ListedMessage,
    TextField, INBOX, SPECIAL_FOLDERS,
};
use services::provider::Provider;
use std::sync::Arc;

/// A folder as the tree shows it.
pub struct FolderItem {
    pub name: String,
    pub label: String,
    pub depth: usize,
    pub unseen: i64,
    pub messages: i64,
    pub size: String,
    pub current: bool,
}

/// The name a user reads for a folder.
pub fn folder_label(name: &str, l: Lang) -> String {
    let leaf = name.rsplit('/').next().unwrap_or(name);
    match name {
        INBOX => l.t("Posta in arrivo", "Inbox").into(),
        "Posta inviata" => l.t("Posta inviata", "Sent").into(),
        "Bozze" => l.t("Bozze", "Drafts").into(),
        "Cestino" => l.t("Cestino", "Trash").into(),
        "Posta indesiderata" => l.t("Posta indesiderata", "Junk").into(),
        _ => leaf.to_string(),
    }
}

/// Where a folder stands in every folder list of the webmail: Posta in arrivo, Posta
/// inviata, Bozze, Cestino, Posta indesiderata (the order of `SPECIAL_FOLDERS`, as
/// every provider shows them), each followed by its subfolders, then the user's folders
/// alphabetically. IMAP LIST keeps the store's order.
fn display_order(name: &str) -> (usize, String, String) {
    let top = name.split('/').next().unwrap_or(name);
    let rank = SPECIAL_FOLDERS
        .iter()
        .position(|(special, _)| *special == top)
        .unwrap_or(SPECIAL_FOLDERS.len());
    // Within a rank: a parent before its children ('/' sorts before letters once the
    // separator is mapped below every other character), case-insensitively.
    let key = name.to_lowercase().replace('/', "\u{1}");
    (rank, key, name.to_string())
}

pub fn folder_items(folders: &[Folder], current: &str, l: Lang) -> Vec<FolderItem> {
    let mut ordered: Vec<&Folder> = folders.iter().collect();
    ordered.sort_by_cached_key(|f| display_order(&f.name));
    ordered
        .into_iter()
        .map(|f| FolderItem {
            name: f.name.clone(),
            label: folder_label(&f.name, l),
            depth: f.name.matches('/').count(),
            unseen: f.unseen,
            messages: f.messages,
            size: l.size(f.size),
            current: f.name == current,
        })
        .collect()
}

/// A message as a list row shows it.
pub struct Row {
    pub folder: String,
    pub uid: i64,
    pub seen: bool,
    pub flagged: bool,
    pub attachment: bool,
    pub badge: Option<&'static str>,
    pub badge_class: String,
    pub from: String,
    /// The recipients, shown instead of the sender in Posta inviata and Bozze.
    pub to: String,
    pub subject: String,
    pub date: String,
    pub size: String,
    pub current: bool,
}

pub fn row(folder: &str, m: &ListedMessage, current: Option<i64>, l: Lang) -> Row {
    let flag = |f: &str| m.flags.split(' ').any(|x| x == f);
    let structure = m
        .structure
        .as_deref()
        .and_then(message::Structure::from_json);
    let attachment = structure
        .as_ref()
        .is_some_and(|s| crate::message::shown(s).has_attachments());
    let to = structure
        .map(|s| {
            s.envelope
                .to
                .iter()
                .chain(&s.envelope.cc)
                .filter_map(|a| a.email())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Row {
        folder: folder.to_string(),
        uid: m.uid,
        seen: flag("\\Seen"),
        flagged: flag("\\Flagged"),
        attachment,
        badge: m.pec_kind.map(|k| i18n::pec_badge(k.code(), l)),
        badge_class: m
            .pec_kind
            .map(|k| k.code().split('-').next().unwrap_or_default().to_string())
            .unwrap_or_default(),
        from: m.sender.clone(),
        to,
        subject: if m.subject.is_empty() {
            l.t("(nessun oggetto)", "(no subject)").into()
        } else {
            m.subject.clone()
        },
        date: i18n::datetime(m.internal_date),
        size: l.size(m.size),
        current: Some(m.uid) == current,
    }
}

/// What every logged-in page shows at the top.
pub struct Frame {
    pub address: String,
    pub csrf: String,
    pub quota_used: String,
    pub quota_total: String,
    pub quota_pct: i64,
    /// Days until the box is full at the recent pace, from half full up.
    pub quota_forecast: Option<i64>,
    /// Impostazioni links "PEC – Copia messaggi da account" (issue 15).
    pub migration_enabled: bool,
    /// The banner inviting to copy the old box is due (see `services::migration::invitation`).
    pub migration_banner: bool,
    /// Who is logged in: the address, or `mario/box@domain` for a collaborator.
    pub login: String,
    /// What the session's principal may do: the pages offer only that (the mailbox service
    /// refuses the rest anyway).
    pub may_modify: bool,
    pub may_send: bool,
    /// The box's holder: settings, password, collaborators.
    pub owner: bool,
}

pub fn frame(m: &Access, s: &WebSession) -> Frame {
    use services::principal::Permission;
    let (used, quota) = m.quota().unwrap_or((0, 0));
    let invitation = m.migration_invitation();
    let who = m.principal();
    let owner = who.delegate.is_none() && who.require(Permission::Settings).is_ok();
    Frame {
        login: who.login.clone(),
        may_modify: who.require(Permission::Modify).is_ok(),
        may_send: who.require(Permission::Send).is_ok(),
        owner,
        migration_enabled: invitation.enabled,
        // A password to change first: nothing else is shown.
        migration_banner: invitation.banner && !s.must_change_password && owner,
        address: s.address.clone(),
        csrf: s.csrf.clone(),
        quota_used: s.lang.size(used),
        quota_total: s.lang.size(quota),
        quota_pct: if quota > 0 {
            (used * 100 / quota).clamp(0, 100)
        } else {
            0
        },
        quota_forecast: m.quota_forecast((used, quota)).unwrap_or(None),
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    f: Option<String>,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    uid: Option<i64>,
    #[serde(default)]
    notice: Option<String>,
    /// `1`: show the previewed message's remote images.
    #[serde(default)]
    remote: Option<u8>,
}

#[derive(Template)]
#[template(path = "main.html")]
struct MainPage {
    fr: Frame,
    l: Lang,
    folders: Vec<FolderItem>,
    folder: String,
    folder_label: String,
    rows: Vec<Row>,
    page: i64,
    pages: i64,
    sort: String,
    dir: String,
    columns: bool,
    preview: Option<Preview>,
    notice: Option<String>,
    targets: Vec<FolderItem>,
    /// The nonce that lets `/static/live.js` (and nothing else) run on this page.
    nonce: String,
}

impl MainPage {
    /// Posta inviata and Bozze show whom a message goes to, not who sent it (the user).
    fn outgoing(&self) -> bool {
        self.folder == services::mailbox::SENT || self.folder == "Bozze"
    }

    /// The list URL with this page/sort, keeping the rest.
    fn url(&self, page: impl std::borrow::Borrow<i64>, sort: &str, dir: &str) -> String {
        let page = *page.borrow();
        format!(
            "/?f={}&page={page}&sort={sort}&dir={dir}",
            crate::message::enc(&self.folder)
        )
    }

    /// A row's link: the same list with that message in the preview.
    fn open_url(&self, r: &Row) -> String {
        format!(
            "{}&uid={}",
            self.url(self.page, &self.sort, &self.dir),
            r.uid
        )
    }

    /// The header link of a column: toggles the direction when already sorted by it.
    fn sort_url(&self, key: &str) -> String {
        let dir = if self.sort == key && self.dir == "desc" {
            "asc"
        } else {
            "desc"
        };
        self.url(1, key, dir)
    }
}

fn order_of(sort: SortKey, descending: bool) -> ListOrder {
    ListOrder {
        key: match sort {
            SortKey::Sender => ListKey::Sender,
            SortKey::Subject => ListKey::Subject,
            SortKey::Size => ListKey::Size,
            SortKey::Date => ListKey::Date,
        },
        descending,
    }
}

pub async fn main_screen(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    on_mailbox(&st.p, &s.clone(), move |m| main_page(m, &p, &s, q)).await
}

fn main_page(
    m: &Access,
    p: &Arc<Provider>,
    s: &WebSession,
    q: ListQuery,
) -> Result<Response, WebError> {
    let l = s.lang;
    let folder_name = q.f.unwrap_or_else(|| INBOX.to_string());
    let folders = m.folders()?;
    let folder = folders
        .iter()
        .find(|f| f.name == folder_name)
        .ok_or(WebError::NotFound)?;
    let prefs = Preferences::load(m)?;
    // A column header's link names its order; a folder just opened has the box's.
    let (sort, descending) = match q.sort.as_deref().and_then(SortKey::parse) {
        Some(key) => (key, q.dir.as_deref() != Some("asc")),
        None => (prefs.sort, prefs.descending),
    };
    let per_page = prefs.page_size;
    let pages = ((folder.messages + per_page - 1) / per_page).max(1);
    let page_no = q.page.unwrap_or(1).clamp(1, pages);
    let listed = m.message_page(
        folder.id,
        order_of(sort, descending),
        (page_no - 1) * per_page,
        per_page,
    )?;
    let preview = match q.uid {
        Some(uid) => Some(crate::message::preview(
            m,
            p,
            s,
            folder,
            uid,
            q.remote == Some(1),
        )?),
        None => None,
    };
    let t = MainPage {
        fr: frame(m, s),
        l,
        folders: folder_items(&folders, &folder.name, l),
        folder_label: folder_label(&folder.name, l),
        rows: listed
            .iter()
            .map(|m| row(&folder.name, m, q.uid, l))
            .collect(),
        folder: folder.name.clone(),
        page: page_no,
        pages,
        sort: sort.code().to_string(),
        dir: if descending { "desc" } else { "asc" }.to_string(),
        columns: prefs.columns,
        preview,
        notice: q.notice.map(|n| notice_text(&n, l)),
        targets: folder_items(&folders, "", l),
        nonce: crate::live::nonce(),
    };
    let mut r = page(&t);
    if let Ok(v) = axum::http::HeaderValue::from_str(&crate::live::policy(&t.nonce)) {
        r.headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(r)
}

fn notice_text(code: &str, l: Lang) -> String {
    match code {
        "deleted" => l.t("Messaggi spostati nel Cestino.", "Messages moved to Trash."),
        "purged" => l.t(
            "Messaggi eliminati definitivamente.",
            "Messages deleted for good.",
        ),
        "moved" => l.t("Messaggi spostati.", "Messages moved."),
        "copied" => l.t("Messaggi copiati.", "Messages copied."),
        "marked" => l.t("Messaggi aggiornati.", "Messages updated."),
        "emptied" => l.t("Cestino svuotato.", "Trash emptied."),
        _ => "",
    }
    .to_string()
}

/// The messages a bulk action applies to: `uid:folder` pairs from checkboxes, or every
/// result of a search ("seleziona tutti").
pub struct Selection(pub Vec<(String, i64)>);

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Selection {
    /// What the "Applica a" choice names: the ticked messages, this page, every result of
    /// the search (all pages), or the unread ones among them.
    fn from_form(m: &Access, form: &[(String, String)]) -> Result<Self, WebError> {
        let pairs = |name: &str| -> Result<Vec<(String, i64)>, WebError> {
            form.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| {
                    let (uid, folder) = v
                        .split_once(':')
                        .ok_or_else(|| WebError::BadRequest("selezione non valida".into()))?;
                    let uid = uid
                        .parse()
                        .map_err(|_| WebError::BadRequest("selezione non valida".into()))?;
                    Ok((folder.to_string(), uid))
                })
                .collect()
        };
        let everything = |unread: bool| -> Result<Vec<(String, i64)>, WebError> {
            let mut q = SearchQuery::from_form(form);
            if unread {
                q.unread = Some("1".into());
            }
            Ok(run_search(m, &q)?
                .into_iter()
                .map(|h| (h.folder, h.uid))
                .collect())
        };
        let scope = match field(form, "everything") {
            Some("1") => "everything",
            _ => field(form, "apply").unwrap_or("checked"),
        };
        Ok(Selection(match scope {
            "page" => pairs("row")?,
            "everything" => everything(false)?,
            "unread" => everything(true)?,
            _ => pairs("sel")?,
        }))
    }

    /// By folder, each folder looked up under the session's own mailbox.
    fn by_folder(&self, m: &Access) -> Result<Vec<(Folder, Vec<i64>)>, WebError> {
        let mut groups: Vec<(String, Vec<i64>)> = vec![];
        for (f, uid) in &self.0 {
            match groups.iter_mut().find(|(n, _)| n == f) {
                Some((_, u)) => u.push(*uid),
                None => groups.push((f.clone(), vec![*uid])),
            }
        }
        let mut out = vec![];
        for (name, uids) in groups {
            let folder = m.existing_folder(&name)?;
            out.push((folder, uids));
        }
        Ok(out)
    }
}

/// POST /actions: delete, flag, mark read/unread, move, copy, empty Trash, download.
pub async fn actions(
    State(st): State<AppState>,
    Authed(s): Authed,
    body: Bytes,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    on_mailbox(&st.p, &s, move |m| {
        let form = parse_form(&body);
        act(m, &p, &form)
    })
    .await
}

fn act(m: &Access, p: &Arc<Provider>, form: &[(String, String)]) -> Result<Response, WebError> {
    let action = field(form, "action").unwrap_or_default();
    let back = field(form, "back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or("/");
    let with_notice = |code: &str| {
        let sep = if back.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{back}{sep}notice={code}")).into_response()
    };
    if action == "empty-trash" {
        m.empty_trash()?;
        return Ok(with_notice("emptied"));
    }
    let selection = Selection::from_form(m, form)?;
    let groups = selection.by_folder(m)?;
    let flags = |op, flag: &str| -> Result<(), WebError> {
        for (f, uids) in &groups {
            m.store_flags(f.id, uids, op, &[flag.to_string()], None)?;
        }
        Ok(())
    };
    let target = || -> Result<Folder, WebError> {
        let name = field(form, "target").unwrap_or_default();
        m.folder_head(name)?
            .ok_or_else(|| WebError::BadRequest("cartella di destinazione mancante".into()))
    };
    match action {
        "delete" => {
            let mut purged = false;
            for (f, uids) in &groups {
                purged |= m.delete(f.id, uids)? == Deleted::Purged;
            }
            Ok(with_notice(if purged { "purged" } else { "deleted" }))
        }
        "read" => flags(FlagOp::Add, "\\Seen").map(|_| with_notice("marked")),
        "unread" => flags(FlagOp::Remove, "\\Seen").map(|_| with_notice("marked")),
        "flag" => flags(FlagOp::Add, "\\Flagged").map(|_| with_notice("marked")),
        "unflag" => flags(FlagOp::Remove, "\\Flagged").map(|_| with_notice("marked")),
        "move" | "copy" => {
            let to = target()?;
            for (f, uids) in &groups {
                if f.id != to.id {
                    m.copy(f.id, uids, to.id, action == "move")?;
                }
            }
            Ok(with_notice(if action == "move" {
                "moved"
            } else {
                "copied"
            }))
        }
        "zip" | "mbox" => {
            let (format, mime, name) = if action == "zip" {
                (
                    export::Format::MaildirZip,
                    "application/zip",
                    "posta-maildir.zip",
                )
            } else {
                (export::Format::Mbox, "application/mbox", "posta.mbox")
            };
            let count: usize = groups.iter().map(|(_, uids)| uids.len()).sum();
            services::collaboration::record(
                p,
                m.principal(),
                "esportazione",
                &format!("{count} messaggi, {name}"),
            );
            Ok((
                [
                    (header::CONTENT_TYPE, mime.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                export::stream(p.clone(), m.principal().clone(), groups, format),
            )
                .into_response())
        }
        _ => Err(WebError::BadRequest(format!(
            "azione sconosciuta: {action}"
        ))),
    }
}

/// Search (seed manual §2.4): where to look, in which fields, between which dates.
#[derive(Deserialize, Default, Clone)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    /// all | subject | from | to | cc | body
    #[serde(default)]
    pub field: String,
    /// folder | sub | all
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub f: String,
    /// yyyy-mm-dd
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub unread: Option<String>,
    #[serde(default)]
    pub page: Option<i64>,
}

impl SearchQuery {
    fn from_form(form: &[(String, String)]) -> Self {
        // From a folder's list there is no text: every message of the folder `f`.
        let get = |k: &str| field(form, k).unwrap_or_default().to_string();
        SearchQuery {
            q: get("q"),
            field: get("field"),
            scope: get("scope"),
            f: get("f"),
            since: get("since"),
            until: get("until"),
            unread: field(form, "unread").map(str::to_string),
            page: None,
        }
    }

    /// The query string that reproduces this search.
    pub fn query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("q", &self.q)
            .append_pair("field", &self.field)
            .append_pair("scope", &self.scope)
            .append_pair("f", &self.f)
            .append_pair("since", &self.since)
            .append_pair("until", &self.until);
        if let Some(u) = &self.unread {
            s.append_pair("unread", u);
        }
        s.finish()
    }
}

pub(crate) fn day_start(date: &str) -> Option<i64> {
    use chrono::TimeZone;
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    chrono_tz::Europe::Rome
        .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.timestamp())
}

/// A search result.
pub struct Hit {
    pub folder: String,
    folder_id: FolderId,
    pub uid: i64,
}

/// Every match, newest first.
pub fn run_search(m: &Access, q: &SearchQuery) -> Result<Vec<Hit>, WebError> {
    let needle = q.q.trim().to_lowercase();
    let since = day_start(&q.since);
    let until = day_start(&q.until).map(|t| t + 86_400);
    let folders = m.folders()?;
    let current = if q.f.is_empty() { INBOX } else { q.f.as_str() };
    let sub_prefix = format!("{current}/");
    let in_scope = |f: &Folder| match q.scope.as_str() {
        "all" => true,
        "sub" => f.name == current || f.name.starts_with(&sub_prefix),
        _ => f.name == current,
    };
    let scoped: Vec<Folder> = folders.iter().filter(|f| in_scope(f)).cloned().collect();
    let mut found: Vec<(&Folder, FoundMessage)> = m
        .find_text(&scoped, &needle, text_field(&q.field))?
        .into_iter()
        .filter_map(|m| Some((scoped.iter().find(|f| f.id == m.folder_id)?, m)))
        .filter(|(_, m)| since.is_none_or(|t| m.internal_date >= t))
        .filter(|(_, m)| until.is_none_or(|t| m.internal_date < t))
        .filter(|(_, m)| q.unread.is_none() || !m.flags.split(' ').any(|x| x == "\\Seen"))
        .collect();
    found.sort_by_key(|(f, m)| std::cmp::Reverse((m.internal_date, f.id, m.uid)));
    Ok(found
        .into_iter()
        .map(|(f, m)| Hit {
            folder: f.name.clone(),
            folder_id: f.id,
            uid: m.uid,
        })
        .collect())
}

fn text_field(field: &str) -> TextField {
    match field {
        "subject" => TextField::Subject,
        "from" => TextField::From,
        "to" => TextField::To,
        "cc" => TextField::Cc,
        "body" => TextField::Body,
        _ => TextField::Anywhere,
    }
}

/// The list rows of some search results, in their order.
fn hit_rows(m: &Access, hits: &[&Hit], l: Lang) -> Result<Vec<Row>, WebError> {
    let mut by_folder: std::collections::HashMap<FolderId, Vec<i64>> = Default::default();
    for h in hits {
        by_folder.entry(h.folder_id).or_default().push(h.uid);
    }
    let mut listed = std::collections::HashMap::new();
    for (folder_id, uids) in by_folder {
        for l in m.listed(folder_id, &uids)? {
            listed.insert((folder_id, l.uid), l);
        }
    }
    Ok(hits
        .iter()
        .filter_map(|h| {
            let m = listed.get(&(h.folder_id, h.uid))?;
            Some(row(&h.folder, m, None, l))
        })
        .collect())
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    fr: Frame,
    l: Lang,
    q: SearchQuery,
    folders: Vec<FolderItem>,
    targets: Vec<FolderItem>,
    rows: Vec<Row>,
    total: usize,
    page: i64,
    pages: i64,
    searched: bool,
}

impl SearchPage {
    /// Results from any folder: the sender column.
    fn outgoing(&self) -> bool {
        false
    }

    fn page_url(&self, page: i64) -> String {
        format!("/search?{}&page={page}", self.q.query_string())
    }
    fn back(&self) -> String {
        format!("/search?{}&page={}", self.q.query_string(), self.page)
    }
    /// Results are newest first; the column headers do not re-sort them.
    fn sort_url(&self, _key: &str) -> String {
        self.back()
    }
    fn open_url(&self, r: &Row) -> String {
        format!("/?f={}&uid={}", crate::message::enc(&r.folder), r.uid)
    }
}

pub async fn search(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |m| {
        let l = s.lang;
        let folders = m.folders()?;
        let searched = !q.q.is_empty() || !q.since.is_empty() || !q.until.is_empty();
        let found = if searched { run_search(m, &q)? } else { vec![] };
        let per_page = Preferences::load(m)?.page_size;
        let pages = ((found.len() as i64 + per_page - 1) / per_page).max(1);
        let page_no = q.page.unwrap_or(1).clamp(1, pages);
        let shown: Vec<&Hit> = found
            .iter()
            .skip(((page_no - 1) * per_page) as usize)
            .take(per_page as usize)
            .collect();
        let rows = hit_rows(m, &shown, l)?;
        let current = if q.f.is_empty() {
            INBOX.to_string()
        } else {
            q.f.clone()
        };
        Ok(page(&SearchPage {
            fr: frame(m, &s),
            l,
            folders: folder_items(&folders, &current, l),
            targets: folder_items(&folders, "", l),
            total: found.len(),
            rows,
            page: page_no,
            pages,
            searched,
            q,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::display_order;

    #[test]
    fn folders_show_in_the_providers_order_then_the_users_alphabetically() {
        let mut names = vec![
            "zeta",
            "Posta indesiderata",
            "Cestino",
            "Archivio/2025",
            "Bozze",
            "Posta inviata",
            "archivio fiscale",
            "INBOX/Fornitori",
            "Archivio",
            "INBOX",
        ];
        names.sort_by_cached_key(|n| display_order(n));
        assert_eq!(
            names,
            [
                "INBOX",
                "INBOX/Fornitori",
                "Posta inviata",
                "Bozze",
                "Cestino",
                "Posta indesiderata",
                "Archivio",
                "Archivio/2025",
                "archivio fiscale",
                "zeta",
            ]
        );
    }
}
