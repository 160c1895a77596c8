//! Receipts in real time (issue 18 item 7; seed 002 §2.1, W7): after sending, the list shows
//! the acceptance and delivery receipts as they arrive, and the unread counts follow,
//! without the user pressing "Aggiorna". `/eventi` is a server-sent event stream (one per
//! open list) that says "cambiamento" with the folders' counts each time the box changes
//! (the store's change feed, woken after each commit); `/static/live.js`, the only script
//! the webmail has, then fetches the same page and swaps in its list and folder tree,
//! keeping the ticked messages. The list page allows that script alone, by a nonce drawn
//! for each response; every other page runs no script at all. Without the script the page
//! works as before.

use crate::session::Authed;
use crate::{AppState, WebError};
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// A stream ends after this long; the browser's EventSource opens another, with the
/// session checked again.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// Events at most this often: a burst of receipts is one refresh.
const COALESCE: Duration = Duration::from_millis(250);
/// Streams open at once, in the whole webmail.
pub const MAX_STREAMS: usize = 2_000;
/// Streams open at once from one client address: the rest of its connection allowance
/// stays for pages (a stream a browser left is noticed only at a keep-alive's write).
pub const MAX_STREAMS_PER_IP: usize = 16;
/// A comment line this often keeps proxies from closing the stream and finds the browsers
/// that left.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The streams open per client address.
#[derive(Default)]
pub struct Streams {
    per_ip: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open stream, counted until dropped.
struct StreamSlot {
    streams: std::sync::Arc<Streams>,
    ip: std::net::IpAddr,
}

impl Streams {
    fn admit(self: &std::sync::Arc<Self>, ip: std::net::IpAddr) -> Option<StreamSlot> {
        let mut map = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_STREAMS_PER_IP {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            streams: self.clone(),
            ip,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = self
            .streams
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A fresh nonce for the list page's script (128 random bits, hex).
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    // A failing RNG leaves the nonce empty, which no script can match: the page simply
    // runs without it.
    if openssl::rand::rand_bytes(&mut b).is_err() {
        return String::new();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The list page's policy: as every page's, but the one script carrying `nonce`.
pub fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'self'; img-src 'self' data:"
    )
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../static/live.js"),
    )
        .into_response()
}

/// The folders' counts as the event's data: `{"INBOX":[messages, unread], …}`.
fn counts(folders: &[services::mailbox::Folder]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = folders
        .iter()
        .map(|f| (f.name.clone(), serde_json::json!([f.messages, f.unseen])))
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub async fn events(
    State(st): State<AppState>,
    Authed(s): Authed,
    axum::extract::ConnectInfo(crate::Peer(peer)): axum::extract::ConnectInfo<crate::Peer>,
) -> Result<Response, WebError> {
    let busy = || {
        WebError::Unavailable(
            "troppi aggiornamenti in tempo reale aperti: riprovare più tardi".into(),
        )
    };
    let slot = st.live_per_ip.admit(peer.ip()).ok_or_else(busy)?;
    let permit = (st.live.clone().try_acquire_owned().ok(), slot);
    if permit.0.is_none() {
        return Err(busy());
    }
    let rx = services::mailbox::watch(&st.p, &s.principal())
        .map_err(|e| WebError::Forbidden(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let lifetime = st.session_lifetime_secs;
    let state = (rx, st.p.clone(), s, permit, deadline);
    let stream =
        futures_util::stream::unfold(state, move |(mut rx, p, s, permit, deadline)| async move {
            // Wait for a change (or the end of this stream's life).
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
            tokio::time::sleep(COALESCE).await;
            rx.borrow_and_update();
            // Logged out, expired or revoked since the stream opened: it ends, telling nothing.
            if !s.still_open(&p, lifetime).await {
                return None;
            }
            let data = services::mailbox::run(&p, &s.principal(), |m| {
                Ok::<_, WebError>(counts(&m.folders()?))
            })
            .await
            .ok()?;
            let event = Event::default().event("cambiamento").data(data);
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (rx, p, s, permit, deadline),
            ))
        });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}
