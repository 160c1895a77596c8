//! SEARCH (RFC 9051 §6.4.4), SORT and THREAD (RFC 5256) over a folder's
//! messages. Keys that need the message read its bytes and parsed structure once per
//! message, only when cheaper keys have not already decided.

use crate::command::{SearchKey, SortKey};
use crate::date;
use crate::fetch::header_value;
use crate::thread::{Algorithm, ThreadMessage};
use message::{decode_header, may_contain_text, text_of, Structure};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

/// A message as search sees it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub uid: u32,
    pub flags: &'a str,
    pub size: i64,
    pub internal_date: i64,
    pub modseq: i64,
    pub recent: bool,
    pub content: OnceCell<Option<(Vec<u8>, Structure)>>,
}

/// Loads a message's bytes and structure.
pub type Loader<'l> = dyn Fn(u32) -> Option<(Vec<u8>, Structure)> + 'l;

fn has_flag(flags: &str, f: &str) -> bool {
    flags.split(' ').any(|x| x.eq_ignore_ascii_case(f))
}

/// Case-insensitive substring: ASCII needles by folding bytes (no allocation per
/// character class), others with Unicode lower-casing.
fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.is_ascii() {
        let n = needle.to_ascii_lowercase();
        let n = n.as_bytes();
        let h = hay.as_bytes();
        let first = n[0];
        let upper = first.to_ascii_uppercase();
        let mut i = 0;
        while let Some(p) = memchr::memchr2(first, upper, &h[i..]) {
            let at = i + p;
            if h.len() - at >= n.len() && h[at..at + n.len()].eq_ignore_ascii_case(n) {
                return true;
            }
            i = at + 1;
        }
        return false;
    }
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// What the full-text index answered for one BODY needle.
pub struct IndexAnswer {
    pub found: HashSet<u32>,
    /// Messages not indexed yet: those are read.
    pub unindexed: HashSet<u32>,
}

/// The index's answers for a search's BODY and TEXT needles (as the client wrote them).
#[derive(Default)]
pub struct IndexAnswers(pub HashMap<String, IndexAnswer>);

impl IndexAnswers {
    /// `Some` when the index decides whether message `uid`'s body text holds `needle`.
    fn body_has(&self, needle: &str, uid: u32) -> Option<bool> {
        let a = self.0.get(needle)?;
        if a.found.contains(&uid) {
            Some(true)
        } else if a.unindexed.contains(&uid) {
            None
        } else {
            Some(false)
        }
    }

    /// Whether a key can be decided without the message's content, for every message whose
    /// text is indexed.
    pub fn needs_content(&self, k: &SearchKey) -> bool {
        match k {
            SearchKey::Body(n) => !self.0.contains_key(n),
            SearchKey::Not(k) => self.needs_content(k),
            SearchKey::Or(a, b) => self.needs_content(a) || self.needs_content(b),
            SearchKey::And(ks) => ks.iter().any(|k| self.needs_content(k)),
            k => needs_content(k),
        }
    }
}

/// The BODY and TEXT needles of a search, for the full-text index.
pub fn text_needles<'k>(k: &'k SearchKey, out: &mut Vec<&'k str>) {
    match k {
        SearchKey::Body(n) | SearchKey::Text(n) => out.push(n),
        SearchKey::Not(k) => text_needles(k, out),
        SearchKey::Or(a, b) => {
            text_needles(a, out);
            text_needles(b, out);
        }
        SearchKey::And(ks) => ks.iter().for_each(|k| text_needles(k, out)),
        _ => {}
    }
}

pub struct Context<'a, 'l> {
    pub max_seq: u32,
    pub max_uid: u32,
    pub load: &'a Loader<'l>,
    pub index: &'a IndexAnswers,
}

impl Context<'_, '_> {
    fn content<'c>(&self, c: &'c Candidate<'_>) -> Option<&'c (Vec<u8>, Structure)> {
        c.content.get_or_init(|| (self.load)(c.uid)).as_ref()
    }

    fn header_matches(&self, c: &Candidate<'_>, name: &str, needle: &str) -> bool {
        let Some((raw, s)) = self.content(c) else {
            return false;
        };
        let header = raw.get(s.root.header.clone()).unwrap_or_default();
        let addresses = ["from", "to", "cc", "bcc", "sender", "reply-to"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name));
        message::header_fields(header)
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .any(|(_, v)| {
                let text = decode_header(v.as_bytes());
                // An address field also matches on its addresses as parsed: comments and
                // folding inside `<user (comment)@ domain>` do not hide the address.
                contains_ci(&text, needle)
                    || (addresses
                        && message::parse_addresses(&text).iter().any(|a| {
                            a.email().is_some_and(|e| contains_ci(&e, needle))
                                || a.name.as_deref().is_some_and(|n| contains_ci(n, needle))
                        }))
            })
    }

    fn sent_day(&self, c: &Candidate<'_>) -> Option<i64> {
        let (raw, s) = self.content(c)?;
        date::header_day(&header_value(raw, s, "date")?)
    }

    pub fn matches(&self, key: &SearchKey, c: &Candidate<'_>) -> bool {
        match key {
            SearchKey::All => true,
            SearchKey::SeqSet(set) => set.contains(c.seq, self.max_seq),
            SearchKey::Uid(set) => set.contains(c.uid, self.max_uid),
            SearchKey::Flag(f, set) => has_flag(c.flags, f) == *set,
            SearchKey::Keyword(k, set) => has_flag(c.flags, k) == *set,
            SearchKey::New => c.recent && !has_flag(c.flags, "\\Seen"),
            SearchKey::Old => !c.recent,
            SearchKey::Recent => c.recent,
            SearchKey::Larger(n) => c.size > *n as i64,
            SearchKey::Smaller(n) => c.size < *n as i64,
            SearchKey::ModSeq(m) => c.modseq >= *m as i64,
            SearchKey::Before(d) => date::day_of(c.internal_date) < *d,
            SearchKey::On(d) => date::day_of(c.internal_date) == *d,
            SearchKey::Since(d) => date::day_of(c.internal_date) >= *d,
            SearchKey::SentBefore(d) => self.sent_day(c).is_some_and(|x| x < *d),
            SearchKey::SentOn(d) => self.sent_day(c).is_some_and(|x| x == *d),
            SearchKey::SentSince(d) => self.sent_day(c).is_some_and(|x| x >= *d),
            SearchKey::Header(name, needle) => {
                if needle.is_empty() {
                    // HEADER name "" matches every message that has the field.
                    self.content(c)
                        .is_some_and(|(raw, s)| header_value(raw, s, name).is_some())
                } else {
                    self.header_matches(c, name, needle)
                }
            }
            SearchKey::Body(needle) => match self.index.body_has(needle, c.uid) {
                Some(decided) => decided,
                None => self.content(c).is_some_and(|(raw, s)| {
                    may_contain_text(raw, needle) && contains_ci(&text_of(raw, s), needle)
                }),
            },
            // The index answers a body hit; the header is read otherwise.
            SearchKey::Text(needle) if self.index.body_has(needle, c.uid) == Some(true) => true,
            SearchKey::Text(needle) => self.content(c).is_some_and(|(raw, s)| {
                let header = raw.get(s.root.header.clone()).unwrap_or_default();
                contains_ci(&decode_header(header), needle) || contains_ci(&text_of(raw, s), needle)
            }),
            SearchKey::Not(k) => !self.matches(k, c),
            SearchKey::Or(a, b) => self.matches(a, c) || self.matches(b, c),
            // Cheap keys first: flags and dates decide before the bytes are read.
            SearchKey::And(keys) => {
                let (cheap, costly): (Vec<&SearchKey>, Vec<&SearchKey>) =
                    keys.iter().partition(|k| !self.index.needs_content(k));
                cheap.iter().all(|k| self.matches(k, c))
                    && costly.iter().all(|k| self.matches(k, c))
            }
        }
    }
}

pub(crate) fn needs_content(k: &SearchKey) -> bool {
    match k {
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::And(ks) => ks.iter().any(needs_content),
        _ => false,
    }
}

/// Base subject for SORT and THREAD (RFC 5256 §2.1): decoded, lower-cased, reply and
/// forward markers removed.
pub fn base_subject(s: &str) -> String {
    base_subject_and_reply(s).0
}

/// The base subject (RFC 5256 §2.1), and whether a reply or forward marker was removed
/// ("subj-refwd", `(fwd)`, `[fwd: …]`; the Italian `R:` and `I:` too).
pub fn base_subject_and_reply(s: &str) -> (String, bool) {
    // (1) Decoded, every run of white space one space.
    let decoded = decode_header(s.as_bytes()).to_lowercase();
    let mut t = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply = false;
    loop {
        // (2) Trailers: "(fwd)" and white space, as often as they come.
        loop {
            let trimmed = t.trim_end();
            match trimmed.strip_suffix("(fwd)") {
                Some(r) => {
                    t = r.to_string();
                    reply = true;
                }
                None => {
                    t = trimmed.to_string();
                    break;
                }
            }
        }
        // (3)–(5) Leaders: blobs and "re:"/"fw:"/"fwd:", then one blob if something is
        // left after it, until nothing changes.
        loop {
            let before = t.clone();
            loop {
                let l = t.trim_start();
                match strip_refwd(l) {
                    Some(rest) => {
                        t = rest.to_string();
                        reply = true;
                    }
                    None => {
                        t = l.to_string();
                        break;
                    }
                }
            }
            if let Some(rest) = strip_blob(&t) {
                if !rest.trim().is_empty() {
                    t = rest.to_string();
                }
            }
            if t == before {
                break;
            }
        }
        // (6) "[fwd: …]" around the whole: unwrapped, and the steps again.
        match t.strip_prefix("[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) => {
                t = inner.to_string();
                reply = true;
            }
            None => return (t.trim().to_string(), reply),
        }
    }
}

/// `subj-blob`: `[` text without brackets `]` and white space; what follows it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    rest[end..].strip_prefix(']').map(str::trim_start)
}

/// `*subj-blob subj-refwd`: blobs, then `re`, `fw` or `fwd`, white space, an optional
/// blob and `:` (or the Italian `r:` and `i:`); what follows it.
fn strip_refwd(s: &str) -> Option<&str> {
    let mut rest = s;
    while let Some(r) = strip_blob(rest) {
        rest = r;
    }
    for word in ["re", "fwd", "fw"] {
        if let Some(r) = rest.strip_prefix(word) {
            let r = r.trim_start();
            let r = strip_blob(r).unwrap_or(r);
            if let Some(after) = r.strip_prefix(':') {
                return Some(after);
            }
        }
    }
    ["r:", "i:"].iter().find_map(|p| rest.strip_prefix(p))
}

fn first_address(raw: &[u8], s: &Structure, name: &str) -> String {
    let list = match name {
        "from" => &s.envelope.from,
        "to" => &s.envelope.to,
        _ => &s.envelope.cc,
    };
    let _ = raw;
    list.first()
        .and_then(|a| a.mailbox.clone())
        .unwrap_or_default()
        .to_lowercase()
}

/// RFC 5267 §4 DISPLAYFROM / DISPLAYTO: the first address's display name, its encoded
/// words decoded (RFC 2047), or without one its addr-spec; a group (RFC 5322 §3.4) is shown
/// by its name.
fn display_address(s: &Structure, name: &str) -> String {
    let list = match name {
        "from" => &s.envelope.from,
        _ => &s.envelope.to,
    };
    let Some(first) = list.first() else {
        return String::new();
    };
    let display = first
        .name
        .as_deref()
        .map(|n| decode_header(n.as_bytes()).trim().to_string())
        .filter(|n| !n.is_empty());
    display
        .or_else(|| first.email())
        .or_else(|| first.mailbox.clone())
        .unwrap_or_default()
}

#[derive(PartialEq, PartialOrd)]
enum SortValue {
    Num(i64),
    Text(String),
}

/// Orders matching candidates by the SORT criteria; ties by sequence number.
pub fn sort(
    ctx: &Context<'_, '_>,
    items: &[&Candidate<'_>],
    criteria: &[(SortKey, bool)],
) -> Vec<u32> {
    let value = |c: &Candidate<'_>, k: &SortKey| -> SortValue {
        let content = ctx.content(c);
        match k {
            SortKey::Arrival => SortValue::Num(c.internal_date),
            SortKey::Size => SortValue::Num(c.size),
            SortKey::Date => SortValue::Num(
                content
                    .and_then(|(raw, s)| header_value(raw, s, "date"))
                    .and_then(|d| date::header_time(&d))
                    .unwrap_or(c.internal_date),
            ),
            SortKey::Subject => SortValue::Text(
                content
                    .and_then(|(_, s)| s.envelope.subject.clone())
                    // i;ascii-casemap (RFC 5256 §2.2) compares upper-cased: `[` and `_`
                    // sort after the letters.
                    .map(|s| base_subject(&s).to_ascii_uppercase())
                    .unwrap_or_default(),
            ),
            SortKey::From | SortKey::To | SortKey::Cc => {
                let name = match k {
                    SortKey::From => "from",
                    SortKey::To => "to",
                    _ => "cc",
                };
                SortValue::Text(
                    content
                        .map(|(raw, s)| first_address(raw, s, name).to_ascii_uppercase())
                        .unwrap_or_default(),
                )
            }
            SortKey::DisplayFrom | SortKey::DisplayTo => {
                let name = match k {
                    SortKey::DisplayFrom => "from",
                    _ => "to",
                };
                // Compared as i;ascii-casemap, as the other keys (RFC 5256 §2.2).
                SortValue::Text(
                    content
                        .map(|(_, s)| display_address(s, name).to_ascii_uppercase())
                        .unwrap_or_default(),
                )
            }
        }
    };
    let mut keyed: Vec<(Vec<SortValue>, u32, u32)> = items
        .iter()
        .map(|c| {
            (
                criteria.iter().map(|(k, _)| value(c, k)).collect(),
                c.seq,
                c.uid,
            )
        })
        .collect();
    keyed.sort_by(|a, b| {
        for (i, (_, reverse)) in criteria.iter().enumerate() {
            let o = a.0[i]
                .partial_cmp(&b.0[i])
                .unwrap_or(std::cmp::Ordering::Equal);
            let o = if *reverse { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        a.1.cmp(&b.1)
    });
    keyed.into_iter().map(|k| k.1).collect()
}

/// THREAD (RFC 5256) over the matching messages: what each one says of itself, then the
/// algorithm in [`crate::thread`]. `id` is the sequence number or the UID.
pub fn thread(
    ctx: &Context<'_, '_>,
    items: &[&Candidate<'_>],
    use_uid: bool,
    algorithm: Algorithm,
) -> String {
    let ids = |raw: &[u8], s: &Structure, name: &str| -> Vec<String> {
        header_value(raw, s, name)
            .unwrap_or_default()
            .split(|ch: char| ch.is_whitespace() || ch == ',')
            .filter(|t| t.starts_with('<') && t.ends_with('>') && t.len() > 2)
            .map(str::to_string)
            .collect()
    };
    let messages: Vec<ThreadMessage> = items
        .iter()
        .map(|c| {
            let content = ctx.content(c);
            let (subject, references, message_id, date) = match content {
                Some((raw, s)) => {
                    let mut refs = ids(raw, s, "references");
                    if refs.is_empty() {
                        refs = ids(raw, s, "in-reply-to").into_iter().take(1).collect();
                    }
                    let own = ids(raw, s, "message-id").into_iter().next();
                    let date = header_value(raw, s, "date").and_then(|d| date::header_time(&d));
                    let subject = header_value(raw, s, "subject").unwrap_or_default();
                    (subject, refs, own, date)
                }
                None => (String::new(), vec![], None, None),
            };
            let (base, reply) = base_subject_and_reply(&subject);
            ThreadMessage {
                id: if use_uid { c.uid } else { c.seq },
                seq: c.seq,
                date: date.unwrap_or(c.internal_date),
                base_subject: base,
                reply,
                message_id,
                references,
            }
        })
        .collect();
    match algorithm {
        Algorithm::References => crate::thread::references(&messages),
        Algorithm::OrderedSubject => crate::thread::ordered_subject(&messages),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(base_subject("Re: Fwd: [lista] Ciao (fwd)"), "ciao");
        assert_eq!(base_subject("=?utf-8?q?R:_Perch=C3=A8?="), "perchè");
        // RFC 5256 §2.1, as imaptest's sort-subject group has them.
        for (subject, base) in [
            ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b"),
            ("Re: [FWD: c]", "c"),
            ("[xyz]", "[xyz]"),
            ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon"),
            ("Ad: Re: Ad: Re: Ad: x", "ad: re: ad: re: ad: x"),
            ("b (a)", "b (a)"),
            ("=?us-ascii?b?UmU6IGM=?=", "c"),
            ("Re  [lista]: x", "x"),
            ("[non chiuso", "[non chiuso"),
        ] {
            assert_eq!(base_subject(subject), base, "{subject}");
        }
        assert!(!base_subject_and_reply("[xyz]").1);
        assert!(base_subject_and_reply("[xyz] re: a").1);
    }
}
