//! Message commands (RFC 9051 §6.4): FETCH, STORE (RFC 7162 UNCHANGEDSINCE), COPY/MOVE
//! (RFC 4315 COPYUID, RFC 6851), SEARCH (RFC 4731 ESEARCH), SORT and THREAD (RFC 5256).

use crate::command::{FetchAtt, SearchKey, SeqSet, SortKey, StoreOp};
use crate::date;
use crate::fetch::{content_item, needs_content, needs_structure, sets_seen};
use crate::search::{self, Candidate, Context, IndexAnswer, IndexAnswers};
use crate::session::{bad, no, uid_set, Handled, Refusal, Session};
use crate::uidmap::UidMap;
use message::Structure;
use net::Stream;
use std::cell::OnceCell;
use std::collections::HashMap;
use tokio::io::AsyncWriteExt;

/// FETCH reads message content at most this many messages at a time...
const FETCH_BATCH: usize = 64;
/// ...and, past the first message, at most this many bytes at a time.
const FETCH_BATCH_BYTES: i64 = 8 * 1024 * 1024;
/// FETCH writes its responses out whenever this many bytes are waiting, so a response
/// buffer holds at most one data item beyond this (security review H5).
const FETCH_FLUSH_AT: usize = 64 * 1024;
/// SEARCH reads message content this many messages at a time.
const SEARCH_BATCH: usize = 256;
use services::mailbox::{
    normalize_flags, Access, FlagOp, FolderId, MailboxError, MessageEntry, TextField,
};

impl Session {
    /// Bytes and structure of some messages of the selected folder, in one store call.
    async fn contents(&self, uids: &[u32], structured: bool) -> HashMap<u32, (Vec<u8>, Structure)> {
        let Some(folder) = self.selected.as_ref().map(|s| s.folder.id) else {
            return HashMap::new();
        };
        let ids: Vec<i64> = uids.iter().map(|&u| u as i64).collect();
        self.on_mailbox(move |m| Ok(read_contents(m, folder, &ids, structured)))
            .await
            .unwrap_or_default()
    }

    /// Writes what `self.out` holds to `w` and empties it, giving back the room of a large
    /// data item.
    async fn write_out(&mut self, w: &mut Stream) -> std::io::Result<()> {
        w.write_all(&self.out).await?;
        self.out.clear();
        if self.out.capacity() > 2 * FETCH_FLUSH_AT {
            self.out = Vec::with_capacity(FETCH_FLUSH_AT);
        }
        Ok(())
    }

    /// RFC 9051 §6.4.5. Each message's response is written to `w` as it is made, item by
    /// item once [`FETCH_FLUSH_AT`] bytes wait, and each data item asked for more than once
    /// is answered once: `FETCH 1:* (RFC822 RFC822 …)` costs one message's bytes at a time.
    /// `Err` only when writing to the client fails.
    pub async fn fetch(
        &mut self,
        w: &mut Stream,
        uid: bool,
        set: &SeqSet,
        atts: &[FetchAtt],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> std::io::Result<Handled> {
        let mut unique: Vec<&FetchAtt> = Vec::with_capacity(atts.len().min(64));
        for a in atts {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        let atts: Vec<FetchAtt> = unique.into_iter().cloned().collect();
        let atts = &atts[..];
        let Some(sel) = &self.selected else {
            return Ok(Err(bad("selezionare prima una cartella")));
        };
        if let Err(e) = sel.check_seq(set, uid) {
            return Ok(Err(e));
        }
        let folder = sel.folder.id;
        let read_only = sel.read_only;
        if changed_since.is_some() || atts.contains(&FetchAtt::ModSeq) {
            self.enable_condstore();
        }
        if vanished {
            if !self.enabled.qresync {
                return Ok(Err(bad("VANISHED richiede QRESYNC")));
            }
            let since = changed_since.unwrap_or(0) as i64;
            let ch = match self
                .on_mailbox(move |m| m.changes_since(folder, since))
                .await
            {
                Ok(ch) => ch,
                Err(e) => return Ok(Err(e)),
            };
            let max = self.selected.as_ref().map(|s| s.max_uid()).unwrap_or(0);
            let gone: Vec<u32> = ch
                .expunged
                .iter()
                .map(|&u| u as u32)
                .filter(|&u| set.contains(u, max))
                .collect();
            if !gone.is_empty() {
                self.untagged(&format!("VANISHED (EARLIER) {}", uid_set(&gone)));
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Err(bad("selezionare prima una cartella")));
        };
        let targets = sel.resolve(set, uid);
        let (lo, hi) = match (targets.first(), targets.last()) {
            (Some(&f), Some(&l)) => (sel.uid_at(f) as i64, sel.uid_at(l) as i64),
            _ => (1, 0),
        };
        let entries = match self
            .on_mailbox(move |m| m.messages_between(folder, lo, hi))
            .await
        {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        let by_uid: HashMap<u32, MessageEntry> =
            entries.into_iter().map(|e| (e.uid as u32, e)).collect();
        let wants_seen = !read_only && atts.iter().any(sets_seen);
        let want_modseq = self.enabled.condstore || atts.contains(&FetchAtt::ModSeq);
        let with_content = atts.iter().any(needs_content);
        let structured = atts.iter().any(needs_structure);
        let mut seen_now = vec![];
        let mut loaded: HashMap<u32, (Vec<u8>, Structure)> = HashMap::new();
        let mut next_load = 0;
        for (n, &i) in targets.iter().enumerate() {
            if with_content && n == next_load {
                let Some(sel) = self.selected.as_ref() else {
                    break;
                };
                let mut batch = vec![];
                let mut bytes = 0;
                for &i in &targets[n..] {
                    let u = sel.uid_at(i);
                    let size = by_uid.get(&u).map_or(0, |e| e.size);
                    if batch.len() == FETCH_BATCH
                        || (!batch.is_empty() && bytes + size > FETCH_BATCH_BYTES)
                    {
                        break;
                    }
                    bytes += size;
                    batch.push(u);
                }
                next_load = n + batch.len();
                loaded = self.contents(&batch, structured).await;
            }
            let Some(sel) = self.selected.as_ref() else {
                break;
            };
            let u = sel.uid_at(i);
            let Some(entry) = by_uid.get(&u) else {
                continue; // expunged elsewhere, not told yet: no data (RFC 9051 §7.5.1)
            };
            if changed_since.is_some_and(|c| entry.modseq <= c as i64) {
                continue;
            }
            let recent = sel.recent.contains(u);
            let mut flags = entry.flags.clone();
            if wants_seen && !flags.split(' ').any(|f| f == "\\Seen") {
                seen_now.push(u as i64);
                flags = normalize_flags(flags.split(' ').chain(["\\Seen"]));
            }
            let rev2 = self.enabled.rev2;
            if let Some(announce) = self.selected.as_mut().and_then(|s| s.announce(&flags)) {
                for l in announce {
                    self.untagged(&l);
                }
            }
            let out = &mut self.out;
            out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
            let mut first = true;
            let sep = |out: &mut Vec<u8>, first: &mut bool| {
                if !*first {
                    out.push(b' ');
                }
                *first = false;
            };
            if uid && !atts.contains(&FetchAtt::Uid) {
                sep(out, &mut first);
                out.extend_from_slice(format!("UID {u}").as_bytes());
            }
            let content = loaded.remove(&u);
            let show_flags = atts.contains(&FetchAtt::Flags)
                || (wants_seen && seen_now.last() == Some(&(u as i64)));
            for att in atts {
                match att {
                    FetchAtt::Uid => {
                        sep(&mut self.out, &mut first);
                        self.out.extend_from_slice(format!("UID {u}").as_bytes());
                    }
                    FetchAtt::Flags => {}
                    FetchAtt::InternalDate => {
                        sep(&mut self.out, &mut first);
                        self.out.extend_from_slice(
                            format!(
                                "INTERNALDATE \"{}\"",
                                date::internal_date(entry.internal_date)
                            )
                            .as_bytes(),
                        );
                    }
                    FetchAtt::Rfc822Size => {
                        sep(&mut self.out, &mut first);
                        self.out
                            .extend_from_slice(format!("RFC822.SIZE {}", entry.size).as_bytes());
                    }
                    FetchAtt::ModSeq => {}
                    other => {
                        if let Some((raw, s)) = &content {
                            sep(&mut self.out, &mut first);
                            content_item(&mut self.out, other, raw, s);
                            if self.out.len() >= FETCH_FLUSH_AT {
                                self.write_out(w).await?;
                            }
                        }
                    }
                }
            }
            let out = &mut self.out;
            if show_flags {
                sep(out, &mut first);
                let mut f = flags.clone();
                if recent && !rev2 {
                    if !f.is_empty() {
                        f.push(' ');
                    }
                    f.push_str("\\Recent");
                }
                out.extend_from_slice(format!("FLAGS ({f})").as_bytes());
            }
            if want_modseq {
                sep(out, &mut first);
                out.extend_from_slice(format!("MODSEQ ({})", entry.modseq).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
            if self.out.len() >= FETCH_FLUSH_AT {
                self.write_out(w).await?;
            }
        }
        if !seen_now.is_empty() {
            let seen = ["\\Seen".to_string()];
            let changes = match self
                .on_mailbox(move |m| m.store_flags(folder, &seen_now, FlagOp::Add, &seen, None))
                .await
            {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            if let Some(sel) = self.selected.as_mut() {
                sel.own_modseqs.extend(changes.changed.iter().map(|c| c.2));
            }
        }
        self.sync(false).await;
        Ok(Ok(if uid {
            "UID FETCH completato".into()
        } else {
            "FETCH completato".into()
        }))
    }

    pub async fn store(
        &mut self,
        uid: bool,
        set: &SeqSet,
        op: StoreOp,
        silent: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Handled {
        let Some(sel) = &self.selected else {
            return Err(bad("selezionare prima una cartella"));
        };
        if sel.read_only {
            return Err(no("READ-ONLY", "cartella aperta in sola lettura"));
        }
        sel.check_seq(set, uid)?;
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let Some(sel) = &self.selected else {
            return Err(bad("selezionare prima una cartella"));
        };
        let flags: Vec<String> = flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && f.as_str() != "\\*")
            .cloned()
            .collect();
        let targets = sel.resolve(set, uid);
        let uids: Vec<i64> = targets.iter().map(|&i| sel.uid_at(i) as i64).collect();
        let folder = sel.folder.id;
        let op = match op {
            StoreOp::Replace => FlagOp::Replace,
            StoreOp::Add => FlagOp::Add,
            StoreOp::Remove => FlagOp::Remove,
        };
        let unchanged_since = unchanged_since.map(|u| u as i64);
        let changes = self
            .on_mailbox(move |m| m.store_flags(folder, &uids, op, &flags, unchanged_since))
            .await?;
        let condstore = self.enabled.condstore;
        let rev2 = self.enabled.rev2;
        let mut lines = vec![];
        if let Some(sel) = self.selected.as_mut() {
            for (u, f, m) in &changes.changed {
                let u = *u as u32;
                let Some(i) = sel.seq_of(u) else { continue };
                sel.own_modseqs.push(*m);
                if let Some(announce) = sel.announce(f) {
                    lines.extend(announce);
                }
                if silent && !condstore {
                    continue;
                }
                let mut fl = f.clone();
                if sel.recent.contains(u) && !rev2 {
                    if !fl.is_empty() {
                        fl.push(' ');
                    }
                    fl.push_str("\\Recent");
                }
                let mut l = format!("{} FETCH (", i + 1);
                if uid {
                    l.push_str(&format!("UID {u} "));
                }
                if silent {
                    l.push_str(&format!("MODSEQ ({m}))"));
                } else {
                    l.push_str(&format!("FLAGS ({fl})"));
                    if condstore {
                        l.push_str(&format!(" MODSEQ ({m})"));
                    }
                    l.push(')');
                }
                lines.push(l);
            }
        }
        for l in lines {
            self.untagged(&l);
        }
        self.sync(false).await;
        if !changes.modified.is_empty() {
            let Some(sel) = &self.selected else {
                return Err(bad("selezionare prima una cartella"));
            };
            let mut ids: Vec<u32> = changes
                .modified
                .iter()
                .filter_map(|&u| {
                    if uid {
                        Some(u as u32)
                    } else {
                        sel.seq_of(u as u32).map(|i| i as u32 + 1)
                    }
                })
                .collect();
            ids.sort_unstable();
            return Ok(format!(
                "[MODIFIED {}] STORE completato in parte",
                uid_set(&ids)
            ));
        }
        Ok("STORE completato".into())
    }

    pub async fn copy(&mut self, uid: bool, set: &SeqSet, wire: &str, remove: bool) -> Handled {
        let Some(sel) = &self.selected else {
            return Err(bad("selezionare prima una cartella"));
        };
        if remove && sel.read_only {
            return Err(no("READ-ONLY", "cartella aperta in sola lettura"));
        }
        sel.check_seq(set, uid)?;
        let targets = sel.resolve(set, uid);
        let uids: Vec<i64> = targets.iter().map(|&i| sel.uid_at(i) as i64).collect();
        let from = sel.folder.id;
        let dest = match self.folder_head_named(wire).await {
            Ok(f) => f,
            Err(_) => return Err(no("TRYCREATE", "la cartella di destinazione non esiste")),
        };
        if uids.is_empty() {
            return Ok(if remove {
                "MOVE completato"
            } else {
                "COPY completato"
            }
            .into());
        }
        let to = dest.id;
        let pairs = self
            .on_mailbox(move |m| m.copy(from, &uids, to, remove))
            .await?;
        let src: Vec<u32> = pairs.iter().map(|p| p.0 as u32).collect();
        let dst: Vec<u32> = pairs.iter().map(|p| p.1 as u32).collect();
        // RFC 4315 §3: the two sets in matching order.
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let code = format!("COPYUID {} {} {}", dest.uidvalidity, list(&src), list(&dst));
        if remove {
            // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges.
            self.untagged(&format!("OK [{code}] spostati"));
            self.sync(true).await;
            return Ok("MOVE completato".into());
        }
        self.sync(false).await;
        Ok(format!("[{code}] COPY completato"))
    }

    /// The selected folder's messages matching a key, in sequence order: (seq, UID,
    /// MODSEQ). Evaluated on the blocking pool, reading content only as needed.
    async fn matching(&self, key: &SearchKey) -> Result<Vec<(u32, u32, i64)>, Refusal> {
        let view = self.folder_view()?;
        let key = key.clone();
        self.on_mailbox(move |m| matching(m, &view, &key)).await
    }

    /// What evaluation on the blocking pool needs of the selected folder.
    fn folder_view(&self) -> Result<FolderView, Refusal> {
        let sel = self
            .selected
            .as_ref()
            .ok_or_else(|| bad("selezionare prima una cartella"))?;
        Ok(FolderView {
            folder: sel.folder.id,
            uids: sel.uids.clone(),
            recent: sel.recent.clone(),
        })
    }

    pub async fn search(
        &mut self,
        tag: &str,
        uid: bool,
        returns: Option<Vec<String>>,
        key: &SearchKey,
    ) -> Handled {
        if has_modseq(key) {
            self.enable_condstore();
        }
        let found = self.matching(key).await?;
        let ids: Vec<u32> = found.iter().map(|f| if uid { f.1 } else { f.0 }).collect();
        let top_modseq = has_modseq(key).then(|| found.iter().map(|f| f.2).max().unwrap_or(0));
        let esearch = returns.is_some() || self.enabled.rev2;
        if esearch {
            let mut r = returns.unwrap_or_default();
            if r.is_empty() {
                r.push("ALL".into());
            }
            let mut l = format!("ESEARCH (TAG \"{tag}\")");
            if uid {
                l.push_str(" UID");
            }
            for what in &r {
                match what.as_str() {
                    "MIN" if !ids.is_empty() => {
                        l.push_str(&format!(" MIN {}", ids.iter().min().unwrap_or(&0)))
                    }
                    "MAX" if !ids.is_empty() => {
                        l.push_str(&format!(" MAX {}", ids.iter().max().unwrap_or(&0)))
                    }
                    "COUNT" => l.push_str(&format!(" COUNT {}", ids.len())),
                    "ALL" if !ids.is_empty() => {
                        let mut sorted = ids.clone();
                        sorted.sort_unstable();
                        l.push_str(&format!(" ALL {}", uid_set(&sorted)));
                    }
                    _ => {}
                }
            }
            // RFC 7162 §3.1.5: with only MIN and/or MAX asked, the MODSEQ is the highest of
            // the messages they name, not of every match.
            let only_ends = !r.iter().any(|w| w == "ALL" || w == "COUNT");
            let modseq_of = |pick: Option<&u32>| {
                pick.and_then(|id| ids.iter().position(|x| x == id))
                    .and_then(|i| found.get(i))
                    .map(|f| f.2)
            };
            let top_modseq = match only_ends {
                true => top_modseq.map(|_| {
                    let min = r.iter().any(|w| w == "MIN");
                    let max = r.iter().any(|w| w == "MAX");
                    let lo = min.then(|| modseq_of(ids.iter().min())).flatten();
                    let hi = max.then(|| modseq_of(ids.iter().max())).flatten();
                    lo.max(hi).unwrap_or(0)
                }),
                false => top_modseq,
            };
            if let Some(m) = top_modseq.filter(|_| !ids.is_empty()) {
                l.push_str(&format!(" MODSEQ {m}"));
            }
            self.untagged(&l);
        } else {
            let mut l = String::from("SEARCH");
            for id in &ids {
                l.push_str(&format!(" {id}"));
            }
            if let Some(m) = top_modseq.filter(|_| !ids.is_empty()) {
                l.push_str(&format!(" (MODSEQ {m})"));
            }
            self.untagged(&l);
        }
        self.sync(false).await;
        Ok(if uid {
            "UID SEARCH completato".into()
        } else {
            "SEARCH completato".into()
        })
    }

    pub async fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        returns: Option<Vec<String>>,
        criteria: &[(SortKey, bool)],
        key: &SearchKey,
    ) -> Handled {
        let found = self.matching(key).await?;
        let criteria = criteria.to_vec();
        let ordered = self
            .ordered(&found, move |ctx, items| {
                search::sort(ctx, items, &criteria)
            })
            .await?;
        let ids: Vec<u32> = ordered
            .iter()
            .filter_map(|seq| found.iter().find(|f| f.0 == *seq))
            .map(|f| if uid { f.1 } else { f.0 })
            .collect();
        if let Some(r) = returns {
            // RFC 5267 §3.2 ESORT: MIN and MAX are the first and the last message in the
            // sort order, ALL the matches in that order; `RETURN ()` is ALL.
            let asked = |what: &str| r.iter().any(|x| x == what);
            let mut l = format!("ESEARCH (TAG \"{tag}\")");
            if uid {
                l.push_str(" UID");
            }
            if let (true, Some(first)) = (asked("MIN"), ids.first()) {
                l.push_str(&format!(" MIN {first}"));
            }
            if let (true, Some(last)) = (asked("MAX"), ids.last()) {
                l.push_str(&format!(" MAX {last}"));
            }
            if asked("COUNT") {
                l.push_str(&format!(" COUNT {}", ids.len()));
            }
            if (r.is_empty() || asked("ALL")) && !ids.is_empty() {
                l.push_str(&format!(" ALL {}", ordered_set(&ids)));
            }
            self.untagged(&l);
        } else {
            let list: Vec<String> = ids.iter().map(u32::to_string).collect();
            self.untagged(format!("SORT {}", list.join(" ")).trim_end());
        }
        self.sync(false).await;
        Ok("SORT completato".into())
    }

    pub async fn thread(
        &mut self,
        uid: bool,
        algorithm: crate::thread::Algorithm,
        key: &SearchKey,
    ) -> Handled {
        let found = self.matching(key).await?;
        let rendered = self
            .ordered(&found, move |ctx, items| {
                vec![search::thread(ctx, items, uid, algorithm)]
            })
            .await?;
        self.untagged(format!("THREAD {}", rendered.concat()).trim_end());
        self.sync(false).await;
        Ok("THREAD completato".into())
    }

    /// Runs `f` over the candidates that matched, with a loader for their content.
    async fn ordered<T: Send + 'static>(
        &self,
        found: &[(u32, u32, i64)],
        f: impl FnOnce(&Context<'_, '_>, &[&Candidate<'_>]) -> Vec<T> + Send + 'static,
    ) -> Result<Vec<T>, Refusal> {
        let view = self.folder_view()?;
        let found = found.to_vec();
        self.on_mailbox(move |m| ordered(m, &view, &found, f)).await
    }
}

/// The selected folder as evaluation on the blocking pool sees it.
struct FolderView {
    folder: FolderId,
    uids: UidMap,
    recent: UidMap,
}

impl FolderView {
    fn max_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }
}

/// Bytes and structure of some messages, in one store call; `structured` parses the MIME
/// tree (from the JSON kept at delivery), otherwise only the top-level header and body are
/// located.
fn read_contents(
    m: &Access,
    folder: FolderId,
    uids: &[i64],
    structured: bool,
) -> HashMap<u32, (Vec<u8>, Structure)> {
    let Ok(rows) = m.contents(folder, uids) else {
        return HashMap::new();
    };
    rows.into_iter()
        .map(|c| {
            let s = if structured {
                c.structure
                    .as_deref()
                    .and_then(Structure::from_json)
                    .unwrap_or_else(|| Structure::parse(&c.data))
            } else {
                Structure::shallow(&c.data)
            };
            (c.uid as u32, (c.data, s))
        })
        .collect()
}

/// The messages matching `key`. Content is read in batches, only when cheaper keys and the
/// index have not decided already.
fn matching(
    m: &Access,
    view: &FolderView,
    key: &SearchKey,
) -> Result<Vec<(u32, u32, i64)>, MailboxError> {
    let entries = m.messages(view.folder)?;
    let by_uid: HashMap<u32, MessageEntry> =
        entries.into_iter().map(|e| (e.uid as u32, e)).collect();
    let mut candidates: Vec<Candidate<'_>> = view
        .uids
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            let e = by_uid.get(&u)?;
            Some(Candidate {
                seq: i as u32 + 1,
                uid: u,
                flags: &e.flags,
                size: e.size,
                internal_date: e.internal_date,
                modseq: e.modseq,
                recent: view.recent.contains(u),
                content: OnceCell::new(),
            })
        })
        .collect();
    let index = index_answers(m, view.folder, key)?;
    let load = |u: u32| read_contents(m, view.folder, &[u as i64], true).remove(&u);
    let ctx = Context {
        max_seq: view.uids.len() as u32,
        max_uid: view.max_uid(),
        load: &load,
        index: &index,
    };
    let prefetch = index.needs_content(key);
    let mut found = vec![];
    for chunk in candidates.chunks_mut(SEARCH_BATCH) {
        if prefetch {
            let uids: Vec<i64> = chunk.iter().map(|c| c.uid as i64).collect();
            let mut loaded = read_contents(m, view.folder, &uids, true);
            for c in chunk.iter_mut() {
                let _ = c.content.set(loaded.remove(&c.uid));
            }
        }
        for c in chunk.iter_mut() {
            if ctx.matches(key, c) {
                found.push((c.seq, c.uid, c.modseq));
            }
            c.content = OnceCell::new();
        }
    }
    Ok(found)
}

/// Runs `f` over the candidates that matched (SORT, THREAD), their content loaded.
fn ordered<T>(
    m: &Access,
    view: &FolderView,
    found: &[(u32, u32, i64)],
    f: impl FnOnce(&Context<'_, '_>, &[&Candidate<'_>]) -> Vec<T>,
) -> Result<Vec<T>, MailboxError> {
    let entries = m.messages(view.folder)?;
    let by_uid: HashMap<u32, MessageEntry> =
        entries.into_iter().map(|e| (e.uid as u32, e)).collect();
    let candidates: Vec<Candidate<'_>> = found
        .iter()
        .filter_map(|&(seq, u, modseq)| {
            let e = by_uid.get(&u)?;
            Some(Candidate {
                seq,
                uid: u,
                flags: &e.flags,
                size: e.size,
                internal_date: e.internal_date,
                modseq,
                recent: view.recent.contains(u),
                content: OnceCell::new(),
            })
        })
        .collect();
    let uids: Vec<i64> = candidates.iter().map(|c| c.uid as i64).collect();
    let mut loaded = read_contents(m, view.folder, &uids, true);
    for c in &candidates {
        let _ = c.content.set(loaded.remove(&c.uid));
    }
    let refs: Vec<&Candidate<'_>> = candidates.iter().collect();
    let load = |u: u32| read_contents(m, view.folder, &[u as i64], true).remove(&u);
    let index = IndexAnswers::default();
    let ctx = Context {
        max_seq: view.uids.len() as u32,
        max_uid: view.max_uid(),
        load: &load,
        index: &index,
    };
    Ok(f(&ctx, &refs))
}

/// Asks the full-text index about the BODY and TEXT needles of a search.
fn index_answers(
    m: &Access,
    folder: FolderId,
    key: &SearchKey,
) -> Result<IndexAnswers, MailboxError> {
    let mut needles = vec![];
    search::text_needles(key, &mut needles);
    let mut answers = IndexAnswers::default();
    for n in needles {
        if let Some(h) = m.text_search(&n.to_lowercase(), TextField::Body)? {
            let set = |v: Vec<services::mailbox::FoundMessage>| {
                v.into_iter()
                    .filter(|m| m.folder_id == folder)
                    .map(|m| m.uid as u32)
                    .collect()
            };
            let answer = IndexAnswer {
                found: set(h.found),
                unindexed: set(h.unindexed),
            };
            answers.0.insert(n.to_string(), answer);
        }
    }
    Ok(answers)
}

/// A sequence set that keeps the order of `ids` (RFC 5267 §3.2): runs that go up by one
/// become `a:b`, everything else is listed as it comes.
fn ordered_set(ids: &[u32]) -> String {
    let mut out: Vec<String> = vec![];
    let mut run: Option<(u32, u32)> = None;
    for &id in ids {
        run = match run {
            Some((start, end)) if end.checked_add(1) == Some(id) => Some((start, id)),
            Some(done) => {
                out.push(range_text(done));
                Some((id, id))
            }
            None => Some((id, id)),
        };
    }
    out.extend(run.map(range_text));
    out.join(",")
}

fn range_text((start, end): (u32, u32)) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}:{end}")
    }
}

fn has_modseq(k: &SearchKey) -> bool {
    match k {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => has_modseq(k),
        SearchKey::Or(a, b) => has_modseq(a) || has_modseq(b),
        SearchKey::And(ks) => ks.iter().any(has_modseq),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::ordered_set;

    #[test]
    fn an_ordered_set_keeps_the_sort_order() {
        assert_eq!(ordered_set(&[1, 2, 3, 4, 5]), "1:5");
        assert_eq!(ordered_set(&[5, 4, 3, 2, 1]), "5,4,3,2,1");
        assert_eq!(ordered_set(&[3, 4, 1, 7, 8, 9, 2]), "3:4,1,7:9,2");
        assert_eq!(ordered_set(&[u32::MAX, 1]), "4294967295,1");
        assert_eq!(ordered_set(&[]), "");
    }
}
