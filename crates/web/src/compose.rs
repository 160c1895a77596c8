//! "Nuova mail": compose, reply, reply to all, forward, duplicate as new, save as draft.
//! Sending goes through the access point, the same code path as SMTP submission, and the
//! acceptance or non-acceptance shows at once.

use crate::i18n::Lang;
use crate::mailbox::{frame, Frame};
use crate::preferences::{from_field, Preferences, Receipt};
use crate::session::{Authed, WebSession};
use crate::{on_mailbox, page, AppState, WebError};
use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::response::Response;
use pec::wire;
use serde::Deserialize;
use services::delivery::Ingest;
use services::mailbox::{Access, MailboxError};
use services::principal::Permission;
use services::provider::Provider;

#[derive(Deserialize, Default)]
pub struct ComposeQuery {
    /// reply | all | forward | again | draft
    #[serde(default)]
    mode: String,
    #[serde(default)]
    f: String,
    #[serde(default)]
    uid: Option<i64>,
}

#[derive(Default)]
pub struct Draft {
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub body: String,
    pub receipt: String,
    /// Forwarding: the original goes along as an attachment.
    pub forward: Option<(String, i64)>,
    /// Duplicating or editing a draft: the attachments of this message go along.
    pub keep: Option<(String, i64)>,
    /// Their names, shown on the form.
    pub kept: Vec<String>,
    /// Editing a draft: its UID in Bozze, removed once the message is sent or saved again.
    pub replaces: Option<i64>,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    fr: Frame,
    l: Lang,
    d: Draft,
    max_total: String,
    max_size_times_rcpts: String,
    max_recipients: usize,
    error: Option<String>,
}

/// A message of the mailbox in a hidden field: `uid:folder`.
fn message_field(m: &Option<(String, i64)>) -> String {
    match m {
        Some((f, uid)) => format!("{uid}:{f}"),
        None => String::new(),
    }
}

fn parse_message_field(v: &str) -> Option<(String, i64)> {
    v.split_once(':')
        .and_then(|(u, f)| Some((f.to_string(), u.parse().ok()?)))
}

impl ComposePage {
    fn forward_field(&self) -> String {
        message_field(&self.d.forward)
    }
    fn keep_field(&self) -> String {
        message_field(&self.d.keep)
    }
    fn replaces_field(&self) -> String {
        self.d.replaces.map(|u| u.to_string()).unwrap_or_default()
    }
}

fn compose_page(
    mb: &Access,
    p: &Provider,
    s: &WebSession,
    d: Draft,
    error: Option<String>,
) -> Response {
    page(&ComposePage {
        fr: frame(mb, s),
        l: s.lang,
        d,
        max_total: s.lang.size(p.limits.max_message_bytes as i64),
        max_size_times_rcpts: s.lang.size(p.limits.pec.max_size_times_recipients as i64),
        max_recipients: p.limits.pec.max_recipients,
        error,
    })
}

fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}\n")).collect()
}

/// The draft a new message, reply, forward or duplicate starts from: a new message, a
/// reply and a forward with the box's default receipt type and its signature.
fn prefill(mb: &Access, q: &ComposeQuery) -> Result<Draft, WebError> {
    let prefs = Preferences::load(mb)?;
    let mut d = Draft {
        receipt: prefs.receipt.code().into(),
        ..Default::default()
    };
    let Some(uid) = q.uid else {
        d.body = prefs.compose_text("");
        return Ok(d);
    };
    let folder = crate::message::own_folder(mb, &q.f)?;
    let m = crate::message::load(mb, &folder, uid)?;
    // A received PEC envelope: answer the original it carries.
    let st = crate::message::shown(&m.structure);
    let subject = st
        .envelope
        .subject
        .as_deref()
        .map(|v| message::decode_header(v.as_bytes()))
        .unwrap_or_default();
    let text = st
        .root
        .leaves()
        .into_iter()
        .find(|p| p.media_type == "text" && p.subtype == "plain" && !p.is_attachment())
        .map(|p| message::body_text(&m.data, p))
        .unwrap_or_default();
    let emails =
        |l: &[message::Address]| -> Vec<String> { l.iter().filter_map(|a| a.email()).collect() };
    let from = emails(&st.envelope.reply_to);
    let strip = |s: &str| s.trim_start_matches("POSTA CERTIFICATA: ").to_string();
    match q.mode.as_str() {
        "reply" | "all" => {
            d.to = from.join(", ");
            if q.mode == "all" {
                let me = mb.principal().address.to_ascii_lowercase();
                let others: Vec<String> = emails(&st.envelope.to)
                    .into_iter()
                    .chain(emails(&st.envelope.cc))
                    .filter(|a| a.to_ascii_lowercase() != me && !from.contains(a))
                    .collect();
                d.cc = others.join(", ");
            }
            let subj = strip(&subject);
            d.subject = if subj.to_lowercase().starts_with("re:") {
                subj
            } else {
                format!("Re: {subj}")
            };
            d.body = prefs.compose_text(&if prefs.quote_reply {
                quote(&text)
            } else {
                String::new()
            });
        }
        "forward" => {
            d.subject = format!("I: {}", strip(&subject));
            d.forward = Some((folder.name.clone(), uid));
            d.body = prefs.compose_text("");
        }
        _ => {
            d.to = emails(&st.envelope.to).join(", ");
            d.cc = emails(&st.envelope.cc).join(", ");
            d.subject = strip(&subject);
            d.body = text;
            d.kept = attachment_leaves(st)
                .iter()
                .map(|p| p.file_name().unwrap_or_default())
                .collect();
            d.keep = Some((folder.name.clone(), uid));
            d.receipt = receipt_of(&m.data, st);
            if q.mode == "draft" && folder.name == DRAFTS {
                d.replaces = Some(uid);
            }
        }
    }
    Ok(d)
}

const DRAFTS: &str = "Bozze";

/// The attachments of a message as the user sees it (an envelope's original's).
fn attachment_leaves(st: &message::Structure) -> Vec<&message::Part> {
    st.root
        .leaves()
        .into_iter()
        .filter(|p| p.is_attachment())
        .collect()
}

/// The receipt type a saved draft asked for.
fn receipt_of(raw: &[u8], st: &message::Structure) -> String {
    let header = raw.get(st.root.header.clone()).unwrap_or_default();
    message::header_fields(header)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("X-TipoRicevuta"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .filter(|v| v == "breve" || v == "sintetica")
        .unwrap_or_else(|| "completa".into())
}

/// The attachments of a message of the session's mailbox, decoded, to send again.
fn kept_attachments(mb: &Access, (f, uid): &(String, i64)) -> Result<Vec<Upload>, WebError> {
    let folder = crate::message::own_folder(mb, f)?;
    let m = crate::message::load(mb, &folder, *uid)?;
    let st = crate::message::shown(&m.structure);
    Ok(attachment_leaves(st)
        .into_iter()
        .map(|part| Upload {
            name: part.file_name().unwrap_or_else(|| "allegato".into()),
            mime: format!("{}/{}", part.media_type, part.subtype),
            data: message::decode_transfer(
                m.data.get(part.body.clone()).unwrap_or_default(),
                &part.encoding,
            ),
        })
        .collect())
}

/// GET /compose
pub async fn form(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<ComposeQuery>,
) -> Result<Response, WebError> {
    let p = st.p.clone();
    on_mailbox(&st.p, &s.clone(), move |mb| {
        // Who may not send gets no compose page (a read-only collaborator).
        mb.principal().require(Permission::Send).map_err(|e| {
            WebError::Forbidden(
                s.lang
                    .t(
                        &e.to_string(),
                        "operation not allowed: the send permission is missing",
                    )
                    .to_string(),
            )
        })?;
        let d = prefill(mb, &q)?;
        Ok(compose_page(mb, &p, &s, d, None))
    })
    .await
}

struct Upload {
    name: String,
    mime: String,
    data: Vec<u8>,
}

/// Splits `a@x, b@y; c@z` into addresses.
fn split_addresses(s: &str) -> Vec<String> {
    s.split([',', ';', '\n'])
        .map(|a| {
            let a = a.trim();
            match (a.rfind('<'), a.rfind('>')) {
                (Some(i), Some(j)) if i < j => a[i + 1..j].trim().to_string(),
                _ => a.to_string(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect()
}

fn base64_text(data: &[u8]) -> String {
    String::from_utf8_lossy(&wire::base64_lines(data)).into_owned()
}

/// The message as a mail client would submit it (RFC 5322, MIME).
fn build_message(
    p: &Provider,
    from: &str,
    display_name: &str,
    d: &Draft,
    to: &[String],
    cc: &[String],
    files: &[Upload],
) -> Result<Vec<u8>, WebError> {
    let serial = || {
        p.serial()
            .map_err(|e| WebError::Internal(format!("generatore casuale: {e}")))
    };
    let now = p.now();
    let date = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.with_timezone(&chrono_tz::Europe::Rome).to_rfc2822())
        .unwrap_or_default();
    let domain = from.rsplit('@').next().unwrap_or("localhost");
    // From carries Identità's display name as a phrase (`from_field`); for the other
    // fields pec::wire folds and RFC 2047-encodes values, and turns CR/LF into spaces.
    let mut h = from_field(display_name, from) + &wire::header("To", &to.join(", "));
    if !cc.is_empty() {
        h += &wire::header("Cc", &cc.join(", "));
    }
    h += &wire::header("Subject", &d.subject);
    h += &wire::header("Date", &date);
    h += &wire::header(
        "Message-ID",
        &format!("<{:016x}.webmail@{domain}>", serial()?),
    );
    h += "MIME-Version: 1.0\r\n";
    if d.receipt == "breve" || d.receipt == "sintetica" {
        h += &wire::header("X-TipoRicevuta", &d.receipt);
    }
    let text =
        format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        base64_text(d.body.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes())
    );
    if files.is_empty() {
        return Ok(format!("{h}{text}").into_bytes());
    }
    let boundary = format!("=_certa_{:016x}", serial()?);
    let mut m = format!(
        "{h}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{text}"
    );
    for f in files {
        let name = wire::quoted(&f.name.replace(['\r', '\n'], " "));
        m.push_str(&format!(
            "--{boundary}\r\nContent-Type: {}; name={name}\r\nContent-Disposition: attachment; filename={name}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            f.mime,
            base64_text(&f.data)
        ));
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    Ok(m.into_bytes())
}

#[derive(Template)]
#[template(path = "sent.html")]
struct SentPage {
    fr: Frame,
    l: Lang,
    accepted: bool,
    reply: String,
    draft: bool,
}

/// POST /compose/send (multipart): send, or save as draft.
pub async fn send(
    State(st): State<AppState>,
    Authed(s): Authed,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let mut d = Draft::default();
    let mut files = vec![];
    let mut action = String::new();
    let limit = s.lang.size(st.p.limits.max_message_bytes as i64);
    let l = s.lang;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge(format!(
                "{} {limit}. {}",
                l.t(
                    "Il messaggio con gli allegati supera la dimensione massima di",
                    "The message with its attachments is larger than the limit of"
                ),
                l.t(
                    "Tornare indietro e togliere o ridurre gli allegati.",
                    "Go back and remove or shrink attachments."
                )
            ))
        } else {
            WebError::BadRequest(e.body_text())
        }
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "attachment" {
            let file = field.file_name().unwrap_or_default().to_string();
            let mime = field
                .content_type()
                .filter(|m| m.contains('/') && !m.contains(['\r', '\n', ';']))
                .unwrap_or("application/octet-stream")
                .to_string();
            let data = field.bytes().await.map_err(bad)?;
            if !file.is_empty() {
                files.push(Upload {
                    name: file,
                    mime,
                    data: data.to_vec(),
                });
            }
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "to" => d.to = value,
            "cc" => d.cc = value,
            "subject" => d.subject = value,
            "body" => d.body = value,
            "receipt" => d.receipt = value,
            "forward" => d.forward = parse_message_field(&value),
            "keep" => d.keep = parse_message_field(&value),
            "replaces" => d.replaces = value.parse().ok(),
            "action" => action = value,
            _ => {}
        }
    }
    if Receipt::parse(&d.receipt).is_none() {
        d.receipt = Receipt::Completa.code().into();
    }
    let p = st.p.clone();
    let draft = action == "draft";
    let r = on_mailbox(&st.p, &s.clone(), move |mb| {
        submit(mb, &p, &s, d, files, draft)
    })
    .await;
    r
}

fn submit(
    mb: &Access,
    p: &Provider,
    s: &WebSession,
    d: Draft,
    mut files: Vec<Upload>,
    draft: bool,
) -> Result<Response, WebError> {
    let l = s.lang;
    if !draft {
        mb.principal()
            .require(Permission::Send)
            .map_err(MailboxError::from)?;
    }
    if let Some((f, uid)) = &d.forward {
        let folder = mb.existing_folder(f)?;
        if let Some(c) = mb.contents(folder.id, &[*uid])?.into_iter().next() {
            files.push(Upload {
                name: format!("messaggio-{uid}.eml"),
                mime: "message/rfc822".into(),
                data: c.data,
            });
        }
    }
    if let Some(keep) = &d.keep {
        files.extend(kept_attachments(mb, keep)?);
    }
    let (to, cc) = (split_addresses(&d.to), split_addresses(&d.cc));
    let display_name = Preferences::load(mb)?.display_name;
    let bytes = build_message(p, &s.address, &display_name, &d, &to, &cc, &files)?;
    if draft {
        mb.append(Ingest {
            folder: DRAFTS.into(),
            bytes,
            flags: "\\Draft \\Seen".into(),
            internal_date: None,
            uid: None,
        })?;
        drop_replaced_draft(mb, &d)?;
        return Ok(page(&SentPage {
            fr: frame(mb, s),
            l,
            accepted: true,
            reply: l
                .t("Bozza salvata in Bozze.", "Draft saved in Drafts.")
                .into(),
            draft: true,
        }));
    }
    if to.is_empty() {
        return Ok(compose_page(
            mb,
            p,
            s,
            d,
            Some(
                l.t(
                    "Indicare almeno un destinatario.",
                    "Give at least one recipient.",
                )
                .into(),
            ),
        ));
    }
    if bytes.len() > p.limits.max_message_bytes {
        let e = format!(
            "{} {}",
            l.t(
                "Il messaggio supera la dimensione massima di",
                "The message is larger than the limit of"
            ),
            l.size(p.limits.max_message_bytes as i64)
        );
        return Ok(compose_page(mb, p, s, d, Some(e)));
    }
    // The same sending limit as SMTP submission.
    if let Err(e) = p.sending.allow(&s.address, p.now(), true) {
        return Ok(compose_page(mb, p, s, d, Some(e.to_string())));
    }
    let rcpts: Vec<String> = to.iter().chain(cc.iter()).cloned().collect();
    // The same access point as SMTP submission.
    let submitted = services::access::submit(p, mb.principal(), &s.address, &rcpts, &bytes);
    let accepted = matches!(submitted, services::outcome::Submitted::Accepted { .. });
    if accepted {
        drop_replaced_draft(mb, &d)?;
    }
    Ok(page(&SentPage {
        fr: frame(mb, s),
        l,
        accepted,
        reply: submitted.to_string(),
        draft: false,
    }))
}

/// A draft that was edited goes once it is sent or saved anew.
fn drop_replaced_draft(mb: &Access, d: &Draft) -> Result<(), WebError> {
    if let Some(uid) = d.replaces {
        let drafts = crate::message::own_folder(mb, DRAFTS)?;
        mb.expunge(drafts.id, &[uid])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split() {
        assert_eq!(
            split_addresses("Mario <mario@pec.it>; anna@pec.it,\n  "),
            vec!["mario@pec.it", "anna@pec.it"]
        );
        assert_eq!(
            wire::header("Subject", "Caffè"),
            "Subject: =?UTF-8?B?Q2FmZsOo?=\r\n"
        );
    }
}
