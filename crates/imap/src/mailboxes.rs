//! Mailbox commands (RFC 9051 §6.3): SELECT/EXAMINE (with RFC 7162 CONDSTORE/QRESYNC),
//! CREATE, DELETE, RENAME, SUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
//! RFC 6154 SPECIAL-USE), STATUS, APPEND (RFC 4315 APPENDUID), GETQUOTA (RFC 9208),
//! CLOSE/UNSELECT and EXPUNGE.

use crate::command::{AppendCommand, QresyncParams, SeqSet};
use crate::date;
use crate::session::{bad, flags_responses, no, refusal, uid_set, Handled, Selected, Session};
use crate::uidmap::UidMap;
use services::delivery::Ingest;
use services::mailbox::{normalize_flags, Access, Folder, FolderId, MailboxError, OpenFolder};
use std::collections::HashSet;

/// Whether a LIST pattern (`*` any, `%` any but `/`) matches a name (RFC 9051 §6.3.9).
/// Dynamic programming over the pattern: linear in its length times the name's, whatever
/// the wildcards.
pub fn pattern_matches(pattern: &[u8], name: &[u8]) -> bool {
    // reach[j]: the pattern read so far can match exactly name[..j].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            b'*' | b'%' => {
                for j in 0..=name.len() {
                    // The wildcard extends an earlier match over name[j-1] (`%` not over `/`).
                    next[j] =
                        reach[j] || (j > 0 && next[j - 1] && (p == b'*' || name[j - 1] != b'/'));
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = reach[j - 1] && name[j - 1] == c;
                }
            }
        }
        reach = next;
    }
    reach[name.len()]
}

impl Session {
    pub async fn select(
        &mut self,
        wire: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<QresyncParams>,
    ) -> Handled {
        self.selected = None;
        if qresync.is_some() && !self.enabled.qresync {
            return Err(bad("QRESYNC va abilitato con ENABLE"));
        }
        if condstore {
            self.enabled.condstore = true;
        }
        let name = self.name_in(wire);
        let opened = {
            let name = name.clone();
            self.on_mailbox(move |m| {
                let Some(open) = m.open_folder(&name)? else {
                    return Ok(None);
                };
                // EXAMINE shows the `\Recent` messages without claiming them (RFC 3501
                // §6.3.2): the newest ones, as many as no session has claimed.
                let first_recent = match read_only {
                    true => {
                        let unclaimed = m.unclaimed_recent(open.folder.id)?;
                        let n = open.uids.len();
                        let first = n.saturating_sub(usize::try_from(unclaimed).unwrap_or(n));
                        open.uids.get(first).map_or(i64::MAX, |&(uid, _)| uid)
                    }
                    false => m.claim_recent(open.folder.id)?,
                };
                Ok(Some((open, first_recent)))
            })
            .await?
        };
        let (OpenFolder { folder, uids }, first_recent) =
            opened.ok_or_else(|| no("NONEXISTENT", format!("la cartella {name} non esiste")))?;
        let mut sel = Selected {
            folder: folder.clone(),
            read_only,
            uids: UidMap::from_sorted(uids.iter().map(|&(uid, _)| uid as u32)),
            own_modseqs: vec![],
            modseq: folder.highestmodseq,
            recent: UidMap::default(),
            pending_expunge: vec![],
            // Announced as FETCH meets them (`Selected::announce`): no scan of every
            // message's flags at SELECT.
            keywords: vec![],
        };
        let mut first_unseen = None;
        for (i, (uid, unseen)) in uids.into_iter().enumerate() {
            if uid >= first_recent {
                sel.recent.push(uid as u32);
            }
            if first_unseen.is_none() && unseen {
                first_unseen = Some(i + 1);
            }
        }
        for l in flags_responses(&sel.keywords) {
            self.untagged(&l);
        }
        self.untagged(&format!("{} EXISTS", sel.uids.len()));
        if !self.enabled.rev2 {
            self.untagged(&format!("{} RECENT", sel.recent.len()));
            if let Some(u) = first_unseen {
                self.untagged(&format!("OK [UNSEEN {u}] primo messaggio non letto"));
            }
        }
        self.untagged(&format!(
            "OK [UIDVALIDITY {}] UID validi",
            folder.uidvalidity
        ));
        self.untagged(&format!("OK [UIDNEXT {}] prossimo UID", folder.uidnext));
        self.untagged(&format!(
            "OK [HIGHESTMODSEQ {}] ultimo MODSEQ",
            folder.highestmodseq
        ));
        if self.enabled.rev2 {
            let name = self.name_out(&folder.name);
            let mut l = b"LIST () \"/\" ".to_vec();
            crate::wire::astring(&mut l, name.as_bytes());
            self.untagged(&String::from_utf8_lossy(&l));
        }
        if let Some(q) = qresync {
            self.qresync_select(&sel, &q).await?;
        }
        self.selected = Some(sel);
        Ok(if read_only {
            "[READ-ONLY] EXAMINE completato".into()
        } else {
            "[READ-WRITE] SELECT completato".into()
        })
    }

    /// RFC 7162 §3.2.5.1: what changed since the client's last known MODSEQ.
    async fn qresync_select(
        &mut self,
        sel: &Selected,
        q: &QresyncParams,
    ) -> Result<(), crate::session::Refusal> {
        if q.uidvalidity as i64 != sel.folder.uidvalidity {
            return Ok(());
        }
        let (folder, since) = (sel.folder.id, q.modseq as i64);
        let ch = self
            .on_mailbox(move |m| m.changes_since(folder, since))
            .await?;
        let max = sel.max_uid().max(1);
        let mut vanished: Vec<u32> = ch
            .expunged
            .iter()
            .map(|&u| u as u32)
            .filter(|&u| q.known_uids.as_ref().is_none_or(|k| k.contains(u, max)))
            .collect();
        vanished.sort_unstable();
        if !vanished.is_empty() {
            self.untagged(&format!("VANISHED (EARLIER) {}", uid_set(&vanished)));
        }
        for e in ch.changed {
            if let Some(i) = sel.seq_of(e.uid as u32) {
                self.untagged(&format!(
                    "{} FETCH (UID {} FLAGS ({}) MODSEQ ({}))",
                    i + 1,
                    e.uid,
                    e.flags,
                    e.modseq
                ));
            }
        }
        Ok(())
    }

    pub async fn create(&mut self, wire: &str) -> Handled {
        let name = self.name_in(wire);
        self.on_mailbox(move |m| m.create_folder(&name)).await?;
        Ok("CREATE completato".into())
    }

    pub async fn delete(&mut self, wire: &str) -> Handled {
        let name = self.name_in(wire);
        {
            let name = name.clone();
            self.on_mailbox(move |m| m.delete_folder(&name)).await?;
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.folder.name == name)
        {
            self.selected = None;
        }
        Ok("DELETE completato".into())
    }

    pub async fn rename(&mut self, from: &str, to: &str) -> Handled {
        let (from, to) = (self.name_in(from), self.name_in(to));
        self.on_mailbox(move |m| m.rename_folder(&from, &to))
            .await?;
        Ok("RENAME completato".into())
    }

    pub async fn subscribe(&mut self, wire: &str, on: bool) -> Handled {
        let name = self.name_in(wire);
        self.on_mailbox(move |m| m.subscribe(&name, on)).await?;
        Ok(if on {
            "SUBSCRIBE completato".into()
        } else {
            "UNSUBSCRIBE completato".into()
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn list(
        &mut self,
        reference: &str,
        patterns: &[String],
        select: &[String],
        returns: &[String],
        status: &[String],
        lsub: bool,
    ) -> Handled {
        if patterns.len() == 1 && patterns[0].is_empty() && !lsub {
            // RFC 9051 §6.3.9: the hierarchy delimiter.
            self.untagged("LIST (\\Noselect) \"/\" \"\"");
            return Ok("LIST completato".into());
        }
        let (folders, subscribed) = self
            .on_mailbox(|m| Ok((m.folders()?, m.subscriptions()?)))
            .await?;
        let by_subscription = lsub || select.iter().any(|s| s == "SUBSCRIBED");
        let recursive = select.iter().any(|s| s == "RECURSIVEMATCH");
        let only_special = select.iter().any(|s| s == "SPECIAL-USE");
        let show_subscribed = by_subscription || returns.iter().any(|r| r == "SUBSCRIBED");
        let names: Vec<String> = patterns
            .iter()
            .map(|p| self.name_in(&format!("{reference}{p}")))
            .collect();
        let matched = |name: &str| {
            names.iter().any(|p| {
                pattern_matches(p.as_bytes(), name.as_bytes())
                    || (p.eq_ignore_ascii_case("inbox") && name == "INBOX")
            })
        };
        let is_subscribed = |name: &str| subscribed.iter().any(|s| s == name);
        let below = |parent: &str, name: &str| {
            name.strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        // What may be listed: the folders, and with SUBSCRIBED (or LSUB) the subscribed
        // names and their parents, folders or not.
        let mut candidates: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        if by_subscription {
            for s in &subscribed {
                candidates.push(s);
                let mut at = s.as_str();
                while let Some((parent, _)) = at.rsplit_once('/') {
                    candidates.push(parent);
                    at = parent;
                }
            }
        }
        let mut seen = HashSet::new();
        let mut rows: Vec<(String, Vec<&str>, Option<&Folder>, bool)> = vec![];
        for name in candidates {
            if !matched(name) || !seen.insert(name) {
                continue;
            }
            let folder = folders.iter().find(|f| f.name == name);
            let here = is_subscribed(name);
            // RFC 5258 §3.5 CHILDINFO: a subscribed descendant the patterns do not list.
            let unlisted_child = subscribed.iter().any(|s| below(name, s) && !matched(s));
            let mut attrs: Vec<&str> = vec![];
            let mut childinfo = false;
            if by_subscription && !here {
                match (lsub, recursive) {
                    // RFC 3501 §6.3.9: LSUB names with \Noselect the parent of a
                    // subscribed folder that a `%` stopped at.
                    (true, _) if unlisted_child => attrs.push("\\Noselect"),
                    (false, true) if unlisted_child => childinfo = true,
                    _ => continue,
                }
            }
            if let Some(f) = folder {
                if only_special && f.special_use.as_deref().is_none_or(|s| s == "\\Inbox") {
                    continue;
                }
                if !lsub {
                    let has_children = folders.iter().any(|c| below(name, &c.name));
                    attrs.push(if has_children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    });
                }
                if let Some(s) = &f.special_use {
                    if s != "\\Inbox" {
                        attrs.push(s.as_str());
                    }
                }
            } else if only_special {
                continue;
            } else if lsub {
                if !attrs.contains(&"\\Noselect") {
                    attrs.push("\\Noselect");
                }
            } else {
                // RFC 5258 §3.4: subscribed, but no such folder (any more).
                attrs.push("\\NonExistent");
            }
            if show_subscribed && here && !lsub {
                attrs.push("\\Subscribed");
            }
            rows.push((name.to_string(), attrs, folder, childinfo));
        }
        let verb = if lsub { "LSUB" } else { "LIST" };
        for (name, attrs, f, childinfo) in rows {
            let mut l = format!("{verb} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            crate::wire::astring(&mut l, self.name_out(&name).as_bytes());
            if childinfo {
                l.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            self.untagged(&String::from_utf8_lossy(&l));
            if let Some(f) = f.filter(|_| !status.is_empty()) {
                self.status_line(f, status).await?;
            }
        }
        Ok(format!("{verb} completato"))
    }

    async fn status_line(
        &mut self,
        f: &Folder,
        items: &[String],
    ) -> Result<(), crate::session::Refusal> {
        let recent = match items.iter().any(|i| i == "RECENT") {
            true => {
                let folder = f.id;
                self.on_mailbox(move |m| m.unclaimed_recent(folder)).await?
            }
            false => 0,
        };
        let mut parts = vec![];
        for i in items {
            let v = match i.as_str() {
                "MESSAGES" => f.messages,
                "UIDNEXT" => f.uidnext,
                "UIDVALIDITY" => f.uidvalidity,
                "UNSEEN" => f.unseen,
                "RECENT" => recent,
                "SIZE" => f.size,
                "HIGHESTMODSEQ" => f.highestmodseq,
                "DELETED" => f.deleted,
                _ => continue,
            };
            parts.push(format!("{i} {v}"));
        }
        let mut l = b"STATUS ".to_vec();
        crate::wire::astring(&mut l, self.name_out(&f.name).as_bytes());
        l.extend_from_slice(format!(" ({})", parts.join(" ")).as_bytes());
        self.untagged(&String::from_utf8_lossy(&l));
        Ok(())
    }

    pub async fn status(&mut self, wire: &str, items: &[String]) -> Handled {
        for i in items {
            if !matches!(
                i.as_str(),
                "MESSAGES"
                    | "UIDNEXT"
                    | "UIDVALIDITY"
                    | "UNSEEN"
                    | "RECENT"
                    | "SIZE"
                    | "HIGHESTMODSEQ"
                    | "DELETED"
            ) {
                return Err(bad(format!("elemento STATUS sconosciuto: {i}")));
            }
        }
        let f = self.folder_named(wire).await?;
        self.status_line(&f, items).await?;
        Ok("STATUS completato".into())
    }

    /// Checks one APPEND before it is committed: every message of it, since a MULTIAPPEND
    /// (RFC 3502 §6.3.11) is refused whole when one of its messages is.
    async fn prepare_append(
        &self,
        a: &AppendCommand,
    ) -> Result<(Folder, Vec<Ingest>), crate::session::Refusal> {
        let folder = match self.folder_head_named(&a.mailbox).await {
            Ok(f) => f,
            Err(_) => return Err(no("TRYCREATE", "la cartella non esiste")),
        };
        let mut ingests = Vec::with_capacity(a.messages.len());
        for (i, m) in a.messages.iter().enumerate() {
            let which = match a.messages.len() {
                1 => String::new(),
                _ => format!(" (messaggio {})", i + 1),
            };
            if m.message.len() > self.cfg.max_message_bytes {
                return Err(no("TOOBIG", format!("messaggio troppo grande{which}")));
            }
            let internal_date = match &m.date {
                Some(d) => Some(
                    date::parse_date_time(d)
                        .ok_or_else(|| bad(format!("data non valida{which}: {d}")))?,
                ),
                None => None,
            };
            // RFC 9051 §6.3.12: `\Recent` cannot be set by a client; other system flags
            // must be ones we know (RFC 9051 §2.3.2).
            if let Some(f) = m.flags.iter().find(|f| {
                f.starts_with('\\')
                    && !f.eq_ignore_ascii_case("\\Recent")
                    && !crate::session::SYSTEM_FLAGS
                        .split(' ')
                        .any(|s| s.eq_ignore_ascii_case(f))
            }) {
                return Err(bad(format!("flag non valido{which}: {f}")));
            }
            let flags = normalize_flags(
                m.flags
                    .iter()
                    .map(String::as_str)
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent")),
            );
            ingests.push(Ingest {
                folder: folder.name.clone(),
                bytes: m.message.clone(),
                flags,
                internal_date,
                uid: None,
            });
        }
        Ok((folder, ingests))
    }

    /// APPENDs (RFC 9051 §6.3.12), several at once when the client pipelined them (RFC 7888
    /// LITERAL+): committed together, one fsync for all, each answered with its APPENDUID
    /// (RFC 4315), a UID set for a MULTIAPPEND (RFC 3502). Writes the tagged responses.
    pub async fn append_all(&mut self, batch: Vec<(String, AppendCommand)>) {
        let mut answers: Vec<(String, Handled)> = Vec::with_capacity(batch.len());
        let mut ready: Vec<(usize, Folder, Vec<Ingest>)> = vec![];
        for (tag, a) in batch {
            match self.prepare_append(&a).await {
                Ok((folder, ingests)) => {
                    ready.push((answers.len(), folder, ingests));
                    answers.push((tag, Ok(String::new())));
                }
                Err(e) => answers.push((tag, Err(e))),
            }
        }
        let touched_selected = ready
            .iter()
            .any(|(_, f, _)| self.selected.as_ref().is_some_and(|s| s.folder.id == f.id));
        for (i, result) in self.commit_appends(ready).await {
            answers[i].1 = result;
        }
        if touched_selected {
            self.sync(false).await;
        }
        for (tag, result) in answers {
            let line = match result {
                Ok(text) => format!("{tag} OK {text}\r\n"),
                Err(crate::session::Refusal(status, text)) => format!("{tag} {status} {text}\r\n"),
            };
            self.out.extend_from_slice(line.as_bytes());
        }
    }

    /// Commits the APPENDs of a batch in one transaction; if that fails (a full mailbox),
    /// each APPEND in a transaction of its own, to say which: a MULTIAPPEND's messages
    /// always stay together, all or none (RFC 3502 §6.3.11).
    async fn commit_appends(
        &self,
        ready: Vec<(usize, Folder, Vec<Ingest>)>,
    ) -> Vec<(usize, Handled)> {
        let committed = self.on_mailbox(move |m| {
            let answer = |f: &Folder, mut uids: Vec<u32>| -> Handled {
                uids.sort_unstable();
                Ok(format!(
                    "[APPENDUID {} {}] APPEND completato",
                    f.uidvalidity,
                    uid_set(&uids)
                ))
            };
            let uids = |v: Vec<i64>| -> Vec<u32> {
                v.into_iter()
                    .filter_map(|u| u32::try_from(u).ok())
                    .collect()
            };
            let all: Vec<Ingest> = ready
                .iter()
                .flat_map(|(_, _, ingests)| ingests.iter().map(copy_ingest))
                .collect();
            Ok(match m.append_all(all) {
                Ok(appended) => {
                    let mut appended = appended.into_iter();
                    ready
                        .iter()
                        .map(|(i, f, ingests)| {
                            let mine: Vec<i64> = appended.by_ref().take(ingests.len()).collect();
                            (*i, answer(f, uids(mine)))
                        })
                        .collect()
                }
                // One of them failed (a full mailbox): each on its own, to say which.
                Err(_) if ready.len() > 1 => ready
                    .into_iter()
                    .map(|(i, f, ingests)| {
                        let r = m.append_all(ingests);
                        (i, r.map_err(refusal).and_then(|u| answer(&f, uids(u))))
                    })
                    .collect(),
                Err(e) => {
                    let refused = refusal(e);
                    ready
                        .iter()
                        .map(|(i, _, _)| {
                            (
                                *i,
                                Err(crate::session::Refusal(refused.0, refused.1.clone())),
                            )
                        })
                        .collect()
                }
            })
        });
        committed.await.unwrap_or_default()
    }

    pub async fn quota(&mut self, wire: &str, root: bool) -> Handled {
        let (used, quota) = self.on_mailbox(|m| m.quota()).await?;
        if root {
            self.folder_head_named(wire).await?;
            let mut l = b"QUOTAROOT ".to_vec();
            crate::wire::astring(&mut l, wire.as_bytes());
            l.extend_from_slice(b" \"\"");
            self.untagged(&String::from_utf8_lossy(&l));
        } else if !wire.is_empty() {
            return Err(no("NONEXISTENT", "radice di quota sconosciuta"));
        }
        // RFC 9208 §5.1: STORAGE in units of 1024 octets.
        self.untagged(&format!(
            "QUOTA \"\" (STORAGE {} {})",
            (used + 1023) / 1024,
            quota / 1024
        ));
        Ok("GETQUOTA completato".into())
    }

    pub async fn close(&mut self, expunge: bool) -> Handled {
        if expunge {
            if let Some(sel) = self.selected.as_ref().filter(|s| !s.read_only) {
                let folder = sel.folder.id;
                let known = known_uids(sel);
                self.on_mailbox(move |m| {
                    m.expunge(folder, &deleted_uids(m, folder, &known, None)?)
                })
                .await?;
            }
        }
        self.selected = None;
        Ok(if expunge {
            "CLOSE completato".into()
        } else {
            "UNSELECT completato".into()
        })
    }

    pub async fn expunge(&mut self, set: Option<&SeqSet>) -> Handled {
        let Some(sel) = &self.selected else {
            return Err(bad("selezionare prima una cartella"));
        };
        if sel.read_only {
            return Err(no("READ-ONLY", "cartella aperta in sola lettura"));
        }
        let folder = sel.folder.id;
        let known = known_uids(sel);
        let set = set.cloned();
        self.on_mailbox(move |m| {
            m.expunge(folder, &deleted_uids(m, folder, &known, set.as_ref())?)
        })
        .await?;
        self.sync(true).await;
        Ok("EXPUNGE completato".into())
    }
}

/// The UIDs the session knows, and the highest (for `*`).
fn known_uids(sel: &Selected) -> (UidMap, u32) {
    (sel.uids.clone(), sel.max_uid())
}

/// UIDs flagged `\Deleted` (within `set` for UID EXPUNGE) that the session knows, as the
/// store has them now.
fn deleted_uids(
    m: &Access,
    folder: FolderId,
    (known, max): &(UidMap, u32),
    set: Option<&SeqSet>,
) -> Result<Vec<i64>, MailboxError> {
    Ok(m.messages(folder)?
        .into_iter()
        .filter(|e| e.flags.split(' ').any(|f| f == "\\Deleted"))
        .filter(|e| set.is_none_or(|s| s.contains(e.uid as u32, *max)))
        .filter(|e| known.contains(e.uid as u32))
        .map(|e| e.uid)
        .collect())
}

/// A copy of a message to append (the batch's single transaction may fail and be retried
/// command by command).
fn copy_ingest(m: &Ingest) -> Ingest {
    Ingest {
        folder: m.folder.clone(),
        bytes: m.bytes.clone(),
        flags: m.flags.clone(),
        internal_date: m.internal_date,
        uid: m.uid,
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_matches as m;

    #[test]
    fn patterns() {
        assert!(m(b"*", b"a/b/c"));
        assert!(m(b"%", b"INBOX"));
        assert!(!m(b"%", b"a/b"));
        assert!(m(b"a/%", b"a/b"));
        assert!(m(b"Posta*", b"Posta inviata"));
        assert!(!m(b"Posta", b"Posta inviata"));
        assert!(m(b"*b", b"a/b"));
        assert!(!m(b"%b", b"a/b"));
        assert!(m(b"", b""));
        // Many wildcards against a long name stay fast.
        let long = vec![b'a'; 255];
        assert!(!m(&[b"%".repeat(5000), b"b".to_vec()].concat(), &long));
    }
}
