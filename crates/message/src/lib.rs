//! The structure of an Internet message (RFC 5322, RFC 2045–2049), parsed once when the
//! message is delivered and kept with it: the MIME part tree with byte ranges, each part's
//! content fields, and the envelope. IMAP answers ENVELOPE, BODYSTRUCTURE and BODY[section]
//! from it; the webmail lists attachments with it; search decodes text through it.
//!
//! The parser never fails: whatever the bytes, it returns a structure (a part it cannot
//! read is `application/octet-stream`), and depth and part counts are bounded.

mod address;
mod decode;

pub use address::{parse_addresses, Address};
pub use decode::{body_text, decode_header, decode_transfer, may_contain_text, text_of};

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Nested multiparts and messages deeper than this are kept as opaque parts.
const MAX_DEPTH: usize = 16;
/// At most this many parts per message; the rest is opaque.
const MAX_PARTS: usize = 2000;

/// A parsed message: its envelope and its root part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Structure {
    pub envelope: Envelope,
    pub root: Part,
}

/// The RFC 9051 §7.5.2 envelope fields, raw (encoded words kept), unfolded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One MIME part. Ranges are byte offsets in the whole message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    /// The header block, including the blank line that ends it (IMAP `HEADER`/`MIME`).
    pub header: Range<usize>,
    pub body: Range<usize>,
    /// Lower-case media type and subtype.
    pub media_type: String,
    pub subtype: String,
    /// Parameters with lower-case names, values unquoted.
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding, upper-case; `7BIT` when absent.
    pub encoding: String,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Option<String>,
    pub location: Option<String>,
    /// Lines in the body (text parts and encapsulated messages).
    pub lines: usize,
    /// Children of a multipart.
    pub parts: Vec<Part>,
    /// The encapsulated message of a message/rfc822 part.
    pub message: Option<Box<Structure>>,
}

impl Part {
    pub fn is_multipart(&self) -> bool {
        self.media_type == "multipart"
    }

    pub fn is_message(&self) -> bool {
        self.media_type == "message" && (self.subtype == "rfc822" || self.subtype == "global")
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The file name of an attachment, from Content-Disposition or Content-Type.
    pub fn file_name(&self) -> Option<String> {
        let from_disp = self
            .disposition
            .as_ref()
            .and_then(|(_, p)| p.iter().find(|(k, _)| k == "filename"))
            .map(|(_, v)| v.clone());
        from_disp
            .or_else(|| self.param("name").map(str::to_string))
            .map(|n| decode_header(n.as_bytes()))
    }

    /// Whether the part is an attachment rather than text to show.
    pub fn is_attachment(&self) -> bool {
        match &self.disposition {
            Some((d, _)) if d == "attachment" => true,
            _ => !self.is_multipart() && self.media_type != "text" && !self.is_message(),
        }
    }

    /// Every leaf part, depth first (encapsulated messages are leaves).
    pub fn leaves(&self) -> Vec<&Part> {
        let mut out = vec![];
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, out: &mut Vec<&'a Part>) {
        if self.is_multipart() {
            for p in &self.parts {
                p.collect_leaves(out);
            }
        } else {
            out.push(self);
        }
    }
}

impl Structure {
    /// Parses a whole message.
    pub fn parse(raw: &[u8]) -> Structure {
        let mut budget = MAX_PARTS;
        parse_message(raw, 0..raw.len(), 0, &mut budget)
    }

    /// Only the top-level header and body ranges, for answers that need no MIME parsing
    /// (`BODY[]`, `BODY[HEADER]`, `BODY[TEXT]`, header fields).
    pub fn shallow(raw: &[u8]) -> Structure {
        let hend = header_end(raw, &(0..raw.len()));
        Structure {
            envelope: Envelope::default(),
            root: Part {
                header: 0..hend,
                body: hend..raw.len(),
                media_type: "text".into(),
                subtype: "plain".into(),
                params: vec![],
                id: None,
                description: None,
                encoding: "7BIT".into(),
                md5: None,
                disposition: None,
                language: None,
                location: None,
                lines: 0,
                parts: vec![],
                message: None,
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Option<Structure> {
        serde_json::from_str(s).ok()
    }

    /// Whether any leaf is an attachment (the webmail's paper clip).
    pub fn has_attachments(&self) -> bool {
        self.root.leaves().iter().any(|p| p.is_attachment())
    }
}

fn parse_message(raw: &[u8], range: Range<usize>, depth: usize, budget: &mut usize) -> Structure {
    let root = parse_part(raw, range, ("text", "plain"), depth, budget);
    let fields = header_fields(&raw[root.header.clone()]);
    let get = |name: &str| -> Option<String> {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let addrs = |name: &str| get(name).map(|v| parse_addresses(&v)).unwrap_or_default();
    let from = addrs("from");
    let sender = match addrs("sender") {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addrs("reply-to") {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    let envelope = Envelope {
        date: get("date"),
        subject: get("subject"),
        from,
        sender,
        reply_to,
        to: addrs("to"),
        cc: addrs("cc"),
        bcc: addrs("bcc"),
        in_reply_to: get("in-reply-to"),
        message_id: get("message-id"),
    };
    Structure { envelope, root }
}

/// Finds where the header block of `raw[range]` ends: the offset just after the blank line.
fn header_end(raw: &[u8], range: &Range<usize>) -> usize {
    let s = &raw[range.clone()];
    if s.starts_with(b"\r\n") {
        return range.start + 2;
    }
    if s.starts_with(b"\n") {
        return range.start + 1;
    }
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\n' {
            if s[i + 1..].starts_with(b"\r\n") {
                return range.start + i + 3;
            }
            if s[i + 1..].starts_with(b"\n") {
                return range.start + i + 2;
            }
        }
        i += 1;
    }
    range.end
}

/// Unfolded header fields (name, value) in order; values trimmed, bytes as Latin-1 when
/// they are not UTF-8.
pub fn header_fields(header: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        if let Some((k, v)) = text.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

fn parse_part(
    raw: &[u8],
    range: Range<usize>,
    default: (&str, &str),
    depth: usize,
    budget: &mut usize,
) -> Part {
    *budget = budget.saturating_sub(1);
    let hend = header_end(raw, &range);
    let fields = header_fields(&raw[range.start..hend]);
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let (mut media_type, mut subtype, params) = match get("content-type").map(parse_content_type) {
        Some((t, s, p)) if !t.is_empty() && !s.is_empty() => (t, s, p),
        _ => (default.0.to_string(), default.1.to_string(), vec![]),
    };
    let body = hend..range.end;
    let mut part = Part {
        header: range.start..hend,
        body: body.clone(),
        media_type: String::new(),
        subtype: String::new(),
        params,
        id: get("content-id").map(str::to_string),
        description: get("content-description").map(str::to_string),
        encoding: get("content-transfer-encoding")
            .map(|e| e.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "7BIT".into()),
        md5: get("content-md5").map(str::to_string),
        disposition: get("content-disposition").map(|d| {
            let (v, p) = parse_params(d);
            (v.to_ascii_lowercase(), p)
        }),
        language: get("content-language").map(str::to_string),
        location: get("content-location").map(str::to_string),
        lines: 0,
        parts: vec![],
        message: None,
    };
    let too_deep = depth >= MAX_DEPTH || *budget == 0;
    if media_type == "multipart" {
        match part.param("boundary").map(str::to_string) {
            Some(b) if !too_deep && !b.is_empty() => {
                let child_default = if subtype == "digest" {
                    ("message", "rfc822")
                } else {
                    ("text", "plain")
                };
                for r in split_multipart(raw, &body, b.as_bytes()) {
                    if *budget == 0 {
                        break;
                    }
                    part.parts
                        .push(parse_part(raw, r, child_default, depth + 1, budget));
                }
            }
            _ => {}
        }
        if part.parts.is_empty() && (too_deep || part.param("boundary").is_none()) {
            // A multipart we cannot split is shown as an opaque part.
            media_type = "application".into();
            subtype = "octet-stream".into();
        }
    } else if (media_type == "message") && (subtype == "rfc822" || subtype == "global") {
        if too_deep || part.encoding == "BASE64" || part.encoding == "QUOTED-PRINTABLE" {
            media_type = "application".into();
            subtype = "octet-stream".into();
        } else {
            part.message = Some(Box::new(parse_message(
                raw,
                body.clone(),
                depth + 1,
                budget,
            )));
        }
    }
    part.media_type = media_type;
    part.subtype = subtype;
    if part.media_type == "text" || part.is_message() {
        part.lines = raw[body].iter().filter(|&&b| b == b'\n').count();
    }
    part
}

/// The body ranges between `--boundary` delimiter lines (RFC 2046 §5.1.1). The CRLF before
/// a delimiter belongs to the delimiter.
fn split_multipart(raw: &[u8], body: &Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let s = &raw[body.clone()];
    let mut out = vec![];
    let mut start: Option<usize> = None;
    let mut line_start = 0;
    while line_start <= s.len() {
        let line_end = s[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| line_start + p)
            .unwrap_or(s.len());
        let line = &s[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(&delim) {
            let rest = &line[delim.len()..];
            let closing = rest.starts_with(b"--");
            if closing || rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                if let Some(st) = start {
                    // The part ends before the line break preceding the delimiter.
                    let mut end = line_start;
                    if end > st && s[end - 1] == b'\n' {
                        end -= 1;
                        if end > st && s[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    out.push(body.start + st..body.start + end.max(st));
                }
                if closing {
                    return out;
                }
                start = Some((line_end + 1).min(s.len()));
            }
        }
        if line_end >= s.len() {
            break;
        }
        line_start = line_end + 1;
    }
    // No closing delimiter: the last part runs to the end.
    if let Some(st) = start {
        out.push(body.start + st..body.end);
    }
    out
}

/// `type/subtype; params` → lower-case type and subtype, parameters.
fn parse_content_type(v: &str) -> (String, String, Vec<(String, String)>) {
    let (value, params) = parse_params(v);
    let (t, s) = value.split_once('/').unwrap_or((value.as_str(), ""));
    (
        t.trim().to_ascii_lowercase(),
        s.trim().to_ascii_lowercase(),
        params,
    )
}

/// A header value with `; name=value` parameters (RFC 2045 §5.1); quoted values unquoted,
/// comments dropped, RFC 2231 continuations joined.
fn parse_params(v: &str) -> (String, Vec<(String, String)>) {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut comment = 0usize;
    for c in v.chars() {
        if quoted {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '(' => comment += 1,
            ')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '"' => quoted = true,
            ';' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let value = parts
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut params: Vec<(String, String)> = vec![];
    for p in parts.iter().skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_string();
        // RFC 2231: name*0=..., name*1=... joined; name*=charset''value decoded.
        let (base, extended) = match k.split_once('*') {
            Some((b, rest)) => (b.to_string(), Some(rest.to_string())),
            None => (k.clone(), None),
        };
        let v = match &extended {
            Some(rest) if rest.ends_with('*') || rest.is_empty() => decode::rfc2231(&v),
            _ => v,
        };
        if extended.is_some() {
            if let Some(existing) = params.iter_mut().find(|(n, _)| *n == base) {
                existing.1.push_str(&v);
                continue;
            }
        }
        params.push((base, v));
    }
    (value, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: \"Mario Rossi\" <mario@pec.example.it>\r\nTo: a@x.it, Gruppo: b@y.it, c@z.it;\r\nSubject: =?utf-8?q?Caff=C3=A8?=\r\nMessage-ID: <1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nciao\r\nmondo\r\n--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n--XX--\r\nepilogue\r\n";

    #[test]
    fn parts_and_ranges() {
        let s = Structure::parse(MSG);
        assert_eq!(s.root.media_type, "multipart");
        assert_eq!(s.root.parts.len(), 3);
        let text = &s.root.parts[0];
        assert_eq!(&MSG[text.body.clone()], b"ciao\r\nmondo");
        assert_eq!(text.lines, 1);
        let pdf = &s.root.parts[1];
        assert_eq!(pdf.file_name().as_deref(), Some("a.pdf"));
        assert!(pdf.is_attachment());
        assert_eq!(&MSG[pdf.body.clone()], b"JVBERg==");
        let inner = s.root.parts[2].message.as_ref().unwrap();
        assert_eq!(inner.envelope.subject.as_deref(), Some("inner"));
        assert_eq!(&MSG[inner.root.body.clone()], b"body");
        assert!(s.has_attachments());
        let back = Structure::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn envelope() {
        let s = Structure::parse(MSG);
        let e = &s.envelope;
        assert_eq!(e.from[0].name.as_deref(), Some("Mario Rossi"));
        assert_eq!(e.from[0].mailbox.as_deref(), Some("mario"));
        assert_eq!(e.from[0].host.as_deref(), Some("pec.example.it"));
        assert_eq!(e.sender, e.from);
        // a, group start, b, c, group end
        assert_eq!(e.to.len(), 5);
        assert_eq!(e.to[1].mailbox.as_deref(), Some("Gruppo"));
        assert_eq!(e.to[1].host, None);
        assert_eq!(e.to[4].mailbox, None);
        assert_eq!(
            decode_header(e.subject.as_ref().unwrap().as_bytes()),
            "Caffè"
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
            b"Content-Type: multipart/mixed\r\n\r\nx",
            b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\n--a--",
            b"From: <<<@@@>>>, \"unterminated\r\n\r\n",
        ] {
            let s = Structure::parse(raw);
            let _ = s.to_json();
        }
        let mut nested = Vec::new();
        for _ in 0..100 {
            nested.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        let s = Structure::parse(&nested);
        let mut depth = 0;
        let mut p = &s.root;
        while let Some(m) = &p.message {
            p = &m.root;
            depth += 1;
        }
        assert!(depth <= MAX_DEPTH);
    }
}
