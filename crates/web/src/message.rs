//! One message: the preview and full view, its sanitised body, attachments, source, .eml,
//! print view; for PEC, the certification data of a received envelope and the
//! per-recipient status of a sent message, built from its receipts (seed manual §2.6).

use crate::i18n::{self, Lang};
use crate::mailbox::{folder_label, frame, Frame};
use crate::preferences::{BodyFirst, Preferences};
use crate::sanitize;
use crate::session::{Authed, WebSession};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use message::{Part, Structure};
use serde::Deserialize;
use services::mailbox::{Access, FlagOp, Folder, SENT};
use services::provider::Provider;

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub struct Attachment {
    pub name: String,
    pub size: String,
    pub url: String,
}

/// The certification data of a received PEC message.
pub struct PecInfo {
    pub kind: String,
    pub verified: bool,
    pub verdict: String,
    pub sender: String,
    pub date: String,
    pub identificativo: String,
}

/// A recipient of a sent PEC message and where it stands.
pub struct RecipientStatus {
    pub address: String,
    pub state: String,
    pub class: &'static str,
    pub when: String,
    pub detail: String,
}

/// A receipt of a sent message, linked.
pub struct ReceiptLink {
    pub label: String,
    pub date: String,
    pub url: String,
}

pub struct Preview {
    pub folder: String,
    pub uid: i64,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub date: String,
    pub size: String,
    pub body_url: String,
    /// Remote images left out of the body; the page offers to show them.
    pub remote_blocked: usize,
    pub attachments: Vec<Attachment>,
    pub pec: Option<PecInfo>,
    pub status: Vec<RecipientStatus>,
    pub receipts: Vec<ReceiptLink>,
    pub receipt_type: String,
    /// The collaborator who sent it from the box (multiutenza): "inviato da mario".
    pub sent_by: Option<String>,
    /// The print view has the body in the page (a frame would be cut at its height);
    /// sanitised like the frame's, with remote images left out.
    pub inline_body: Option<String>,
}

impl Preview {
    pub fn q(&self) -> String {
        format!("f={}&uid={}", enc(&self.folder), self.uid)
    }
}

/// A message of the session's own mailbox: its bytes and structure.
pub(crate) struct Loaded {
    pub(crate) data: Vec<u8>,
    pub(crate) structure: Structure,
    flags: String,
    internal_date: i64,
    identificativo: Option<String>,
}

pub(crate) fn load(mb: &Access, folder: &Folder, uid: i64) -> Result<Loaded, WebError> {
    let listed = mb.listed(folder.id, &[uid])?;
    let meta = listed.into_iter().next().ok_or(WebError::NotFound)?;
    let c = mb.content(folder.id, uid)?;
    let structure = c
        .structure
        .as_deref()
        .and_then(Structure::from_json)
        .unwrap_or_else(|| Structure::parse(&c.data));
    Ok(Loaded {
        data: c.data,
        structure,
        flags: meta.flags,
        internal_date: meta.internal_date,
        identificativo: meta.identificativo,
    })
}

pub(crate) fn own_folder(mb: &Access, name: &str) -> Result<Folder, WebError> {
    Ok(mb.existing_folder(name)?)
}

/// What the user reads: a transport envelope shows the original it carries (postacert.eml).
pub fn shown(s: &Structure) -> &Structure {
    s.root
        .leaves()
        .into_iter()
        .find(|p| p.file_name().as_deref() == Some("postacert.eml"))
        .and_then(|p| p.message.as_deref())
        .unwrap_or(s)
}

fn addresses(list: &[message::Address]) -> String {
    list.iter()
        .map(|a| match (&a.name, a.email()) {
            (Some(n), Some(e)) => format!("{} <{e}>", message::decode_header(n.as_bytes())),
            (_, Some(e)) => e,
            (Some(n), None) => n.clone(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The body a person reads, as safe HTML: sanitised HTML, or the text escaped.
fn body_html(m: &Loaded, remote: bool, first: BodyFirst) -> String {
    match body_part(shown(&m.structure), first) {
        Some(part) if part.subtype == "html" => {
            sanitize::html(&message::body_text(&m.data, part), remote).0
        }
        Some(part) => format!(
            "<pre>{}</pre>",
            sanitize::escape(&message::body_text(&m.data, part))
        ),
        None => String::new(),
    }
}

/// The leaf shown as the body, never an attachment: HTML or plain text, whichever the box
/// prefers, else the other.
fn body_part(s: &Structure, first: BodyFirst) -> Option<&Part> {
    let leaves = s.root.leaves();
    let text = |sub: &str| {
        leaves
            .iter()
            .find(|p| {
                p.media_type == "text"
                    && p.subtype == sub
                    && !p.is_attachment()
                    && !matches!(&p.disposition, Some((d, _)) if d == "attachment")
            })
            .copied()
    };
    match first {
        BodyFirst::Html => text("html").or_else(|| text("plain")),
        BodyFirst::Text => text("plain").or_else(|| text("html")),
    }
}

pub fn preview(
    mb: &Access,
    p: &Provider,
    s: &WebSession,
    folder: &Folder,
    uid: i64,
    remote: bool,
) -> Result<Preview, WebError> {
    let l = s.lang;
    let m = load(mb, folder, uid)?;
    let prefs = Preferences::load(mb)?;
    if prefs.mark_read && !m.flags.split(' ').any(|f| f == "\\Seen") {
        mb.store_flags(folder.id, &[uid], FlagOp::Add, &["\\Seen".into()], None)?;
    }
    let view = shown(&m.structure);
    let env = &view.envelope;
    let q = format!("f={}&uid={uid}", enc(&folder.name));
    let body = body_part(view, prefs.body_first);
    let attachments = view
        .root
        .leaves()
        .iter()
        .enumerate()
        .filter(|(_, part)| Some(**part as *const Part) != body.map(|b| b as *const Part))
        .filter(|(_, part)| part.is_attachment() || part.is_message())
        .map(|(n, part)| Attachment {
            name: part.file_name().unwrap_or_else(|| {
                format!(
                    "{}-{}.{}",
                    l.t("allegato", "attachment"),
                    n + 1,
                    part.subtype
                )
            }),
            size: l.size((part.body.end - part.body.start) as i64),
            url: format!("/message/part?{q}&n={n}"),
        })
        .collect();
    let pec = pec_info(p, &m.data, l);
    let remote_blocked = match body {
        Some(part) if part.subtype == "html" && !remote => {
            sanitize::html(&message::body_text(&m.data, part), false).1
        }
        _ => 0,
    };
    let (status, receipts, receipt_type, sent_by) = match (&m.identificativo, folder.name == SENT) {
        (Some(ident), true) => sent_status(mb, ident, l)?,
        _ => (vec![], vec![], String::new(), None),
    };
    Ok(Preview {
        folder: folder.name.clone(),
        uid,
        subject: env
            .subject
            .as_deref()
            .map(|v| message::decode_header(v.as_bytes()))
            .unwrap_or_default(),
        from: addresses(&env.from),
        to: addresses(&env.to),
        cc: addresses(&env.cc),
        date: i18n::datetime(m.internal_date),
        size: l.size(m.data.len() as i64),
        body_url: format!("/message/body?{q}{}", if remote { "&remote=1" } else { "" }),
        remote_blocked,
        attachments,
        pec,
        status,
        receipts,
        receipt_type,
        sent_by,
        inline_body: None,
    })
}

fn pec_info(p: &Provider, data: &[u8], l: Lang) -> Option<PecInfo> {
    let parsed = pec::classify(data).ok()?;
    let kind = parsed.kind?;
    let d = parsed.daticert.as_ref()?;
    let v = pec::verify::verify(data, &parsed, &p.index(), &p.trust());
    Some(PecInfo {
        kind: match l {
            Lang::It => kind.name_it().to_string(),
            Lang::En => kind.code().replace('-', " "),
        },
        verified: v.verdict.is_valid(),
        verdict: match l {
            Lang::It => v.verdict.describe_it(),
            Lang::En => v.verdict.describe_en(),
        },
        sender: d.mittente.clone(),
        date: i18n::datetime(d.data.utc().timestamp()),
        identificativo: d.identificativo.clone(),
    })
}

type SentStatus = (
    Vec<RecipientStatus>,
    Vec<ReceiptLink>,
    String,
    Option<String>,
);

fn sent_status(mb: &Access, ident: &str, l: Lang) -> Result<SentStatus, WebError> {
    let Some(tx) = mb.sent_transaction(ident)? else {
        return Ok((vec![], vec![], String::new(), None));
    };
    let status = tx
        .recipients
        .iter()
        .map(|r| {
            let (state, class) = match r.state.as_str() {
                "delivered" => (l.t("Consegnato", "Delivered"), "ok"),
                "failed" => (l.t("Mancata consegna", "Not delivered"), "bad"),
                "timed-out" => (
                    l.t(
                        "Nessuna consegna entro 24 ore",
                        "No delivery within 24 hours",
                    ),
                    "bad",
                ),
                "taken-in-charge" => (l.t("Preso in carico", "Taken in charge"), "wait"),
                "sent-ordinary" => (
                    l.t("Inviato a indirizzo non PEC", "Sent to a non-PEC address"),
                    "wait",
                ),
                _ if r.taken_in_charge => (l.t("Preso in carico", "Taken in charge"), "wait"),
                _ => (l.t("Accettato", "Accepted"), "wait"),
            };
            RecipientStatus {
                address: r.address.clone(),
                state: state.to_string(),
                class,
                when: i18n::datetime(r.updated),
                detail: r.detail.clone().unwrap_or_default(),
            }
        })
        .collect();
    let receipts = mb
        .messages_with_identificativo(ident)?
        .into_iter()
        .filter(|(f, _)| f != SENT)
        .map(|(f, m)| ReceiptLink {
            label: m
                .pec_kind
                .map(|k| i18n::pec_badge(k.code(), l).to_string())
                .unwrap_or_else(|| m.subject.clone()),
            date: i18n::datetime(m.internal_date),
            url: format!("/?f={}&uid={}", enc(&f), m.uid),
        })
        .collect();
    Ok((
        status,
        receipts,
        tx.receipt_type.as_str().to_string(),
        tx.sent_by,
    ))
}

#[derive(Deserialize)]
pub struct MessageQuery {
    f: String,
    uid: i64,
    #[serde(default)]
    n: Option<usize>,
    /// `1`: show this message's remote images.
    #[serde(default)]
    remote: Option<u8>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    fr: Frame,
    l: Lang,
    m: Preview,
    folder_label: String,
    print: bool,
}

async fn full_page(
    st: AppState,
    s: WebSession,
    q: MessageQuery,
    print: bool,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    on_mailbox(&st.p, &s.clone(), move |mb| {
        let folder = own_folder(mb, &q.f)?;
        let mut m = preview(mb, &p, &s, &folder, q.uid, q.remote == Some(1))?;
        if print {
            let first = Preferences::load(mb)?.body_first;
            m.inline_body = Some(body_html(&load(mb, &folder, q.uid)?, false, first));
        }
        Ok(page(&MessagePage {
            fr: frame(mb, &s),
            l: s.lang,
            folder_label: folder_label(&folder.name, s.lang),
            m,
            print,
        }))
    })
    .await
}

/// GET /message: the message on its own page ("apri in una nuova finestra").
pub async fn view(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    full_page(st, s, q, false).await
}

/// GET /message/print: the same, laid out for paper.
pub async fn print(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    full_page(st, s, q, true).await
}

/// GET /message/body: the body alone, for a sandboxed frame, under a CSP with no script and
/// no remote load.
pub async fn body(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |mb| {
        let folder = own_folder(mb, &q.f)?;
        let m = load(mb, &folder, q.uid)?;
        // The page around the frame says how many remote images were left out.
        let remote = q.remote == Some(1);
        let html = body_html(&m, remote, Preferences::load(mb)?.body_first);
        let doc = format!(
            "<!doctype html><html><head><meta charset=utf-8><style>body{{font:14px/1.5 sans-serif;margin:8px;word-wrap:break-word}}pre{{white-space:pre-wrap;font:inherit}}</style></head><body>{html}</body></html>"
        );
        Ok((
            [
                (
                    header::CONTENT_SECURITY_POLICY,
                    if remote {
                        sanitize::BODY_CSP_REMOTE
                    } else {
                        sanitize::BODY_CSP
                    },
                ),
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            ],
            Html(doc),
        )
            .into_response())
    })
    .await
}

fn download(bytes: Vec<u8>, mime: &str, name: &str) -> Response {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_control() || c == '"' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        safe.chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect::<String>(),
        enc(&safe)
    );
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// GET /message/part: an attachment, always downloaded, never shown inline.
pub async fn part(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |mb| {
        let folder = own_folder(mb, &q.f)?;
        let m = load(mb, &folder, q.uid)?;
        let view = shown(&m.structure);
        let leaves = view.root.leaves();
        let part = leaves.get(q.n.unwrap_or(0)).ok_or(WebError::NotFound)?;
        let raw = m.data.get(part.body.clone()).ok_or(WebError::NotFound)?;
        let bytes = if part.is_message() {
            raw.to_vec()
        } else {
            message::decode_transfer(raw, &part.encoding)
        };
        let name = part
            .file_name()
            .unwrap_or_else(|| format!("allegato.{}", part.subtype));
        Ok(download(bytes, "application/octet-stream", &name))
    })
    .await
}

/// GET /message/eml: the message as stored, to save.
pub async fn eml(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |mb| {
        let folder = own_folder(mb, &q.f)?;
        let m = load(mb, &folder, q.uid)?;
        Ok(download(
            m.data,
            "message/rfc822",
            &format!("messaggio-{}.eml", q.uid),
        ))
    })
    .await
}

/// GET /message/source: the raw message as text.
pub async fn source(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<MessageQuery>,
) -> Result<Response, WebError> {
    on_mailbox(&st.p, &s.clone(), move |mb| {
        let folder = own_folder(mb, &q.f)?;
        let m = load(mb, &folder, q.uid)?;
        Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            String::from_utf8_lossy(&m.data).into_owned(),
        )
            .into_response())
    })
    .await
}
