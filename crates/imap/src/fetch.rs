//! FETCH data items (RFC 9051 §7.5.2): ENVELOPE and BODYSTRUCTURE from the structure parsed
//! at delivery, BODY[section]<partial> and BINARY[section] cut from the stored bytes.

use crate::command::{FetchAtt, Section};
use crate::wire::{literal, nstring, string};
use message::{decode_transfer, header_fields, Address, Envelope, Part, Structure};

fn addresses(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref().map(str::as_bytes));
        out.push(b' ');
        nstring(out, a.adl.as_deref().map(str::as_bytes));
        out.push(b' ');
        nstring(out, a.mailbox.as_deref().map(str::as_bytes));
        out.push(b' ');
        nstring(out, a.host.as_deref().map(str::as_bytes));
        out.push(b')');
    }
    out.push(b')');
}

pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, e.subject.as_deref().map(str::as_bytes));
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, e.message_id.as_deref().map(str::as_bytes));
    out.push(b')');
}

fn params(out: &mut Vec<u8>, p: &[(String, String)]) {
    if p.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.to_ascii_uppercase().as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

/// BODYSTRUCTURE (`extended`) or BODY.
pub fn body_structure(out: &mut Vec<u8>, p: &Part, extended: bool) {
    out.push(b'(');
    if p.is_multipart() && !p.parts.is_empty() {
        for c in &p.parts {
            body_structure(out, c, extended);
        }
        out.push(b' ');
        string(out, p.subtype.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            params(out, &p.params);
            extension(out, p);
        }
        out.push(b')');
        return;
    }
    string(out, p.media_type.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    string(out, p.subtype.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    let mut ps = p.params.clone();
    if p.media_type == "text" && !ps.iter().any(|(k, _)| k == "charset") {
        ps.push(("charset".into(), "us-ascii".into()));
    }
    params(out, &ps);
    out.push(b' ');
    nstring(out, p.id.as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, p.description.as_deref().map(str::as_bytes));
    out.push(b' ');
    string(out, p.encoding.as_bytes());
    out.extend_from_slice(format!(" {}", p.body.len()).as_bytes());
    if let Some(m) = &p.message {
        out.push(b' ');
        envelope(out, &m.envelope);
        out.push(b' ');
        body_structure(out, &m.root, extended);
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    } else if p.media_type == "text" {
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    }
    if extended {
        out.push(b' ');
        nstring(out, p.md5.as_deref().map(str::as_bytes));
        extension(out, p);
    }
    out.push(b')');
}

/// body-ext: disposition, language, location.
fn extension(out: &mut Vec<u8>, p: &Part) {
    out.push(b' ');
    match &p.disposition {
        Some((d, ps)) => {
            out.push(b'(');
            string(out, d.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            params(out, ps);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    nstring(out, p.language.as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, p.location.as_deref().map(str::as_bytes));
}

/// What a section path points at: the part, and the message it is the root of when the
/// path ends at an encapsulated message (or is empty).
fn resolve<'a>(s: &'a Structure, path: &[u32]) -> Option<(&'a Part, Option<&'a Structure>)> {
    if path.is_empty() {
        return Some((&s.root, Some(s)));
    }
    let mut part = &s.root;
    for (i, &n) in path.iter().enumerate() {
        if i > 0 {
            if let Some(m) = &part.message {
                part = &m.root;
            }
        }
        if part.is_multipart() {
            part = part.parts.get(n as usize - 1)?;
        } else if n != 1 {
            return None;
        }
    }
    Some((part, part.message.as_deref()))
}

fn filter_headers(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = vec![];
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            continue;
        }
        if line[0] != b' ' && line[0] != b'\t' {
            let name = line
                .split(|&b| b == b':')
                .next()
                .map(|n| String::from_utf8_lossy(n).trim().to_ascii_lowercase())
                .unwrap_or_default();
            keep = fields.contains(&name) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of a BODY[section]; `None` when the section does not exist (answered empty).
pub fn section_bytes(raw: &[u8], s: &Structure, section: &Section) -> Option<Vec<u8>> {
    let slice = |r: std::ops::Range<usize>| raw.get(r).map(<[u8]>::to_vec);
    match section {
        Section::Part(path) if path.is_empty() => Some(raw.to_vec()),
        Section::Part(path) => {
            let (part, _) = resolve(s, path)?;
            slice(part.body.clone())
        }
        Section::Mime(path) => {
            let (part, _) = resolve(s, path)?;
            slice(part.header.clone())
        }
        Section::Header(path) => {
            let (_, m) = resolve(s, path)?;
            slice(m?.root.header.clone())
        }
        Section::Text(path) => {
            let (_, m) = resolve(s, path)?;
            slice(m?.root.body.clone())
        }
        Section::HeaderFields { path, not, fields } => {
            let (_, m) = resolve(s, path)?;
            let h = raw.get(m?.root.header.clone())?;
            Some(filter_headers(h, fields, *not))
        }
    }
}

/// BINARY[path]: the part decoded from its transfer encoding (RFC 3516).
pub fn binary_bytes(raw: &[u8], s: &Structure, path: &[u32]) -> Option<Vec<u8>> {
    if path.is_empty() {
        return Some(raw.to_vec());
    }
    let (part, _) = resolve(s, path)?;
    if part.is_multipart() {
        return None;
    }
    Some(decode_transfer(raw.get(part.body.clone())?, &part.encoding))
}

fn cut(data: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        None => data,
        Some((start, len)) => {
            let start = (start as usize).min(data.len());
            let end = start.saturating_add(len as usize).min(data.len());
            &data[start..end]
        }
    }
}

fn section_name(section: &Section) -> String {
    let path = |p: &[u32]| p.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    let with = |p: &[u32], what: &str| {
        if p.is_empty() {
            what.to_string()
        } else {
            format!("{}.{what}", path(p))
        }
    };
    match section {
        Section::Part(p) => path(p),
        Section::Mime(p) => with(p, "MIME"),
        Section::Header(p) => with(p, "HEADER"),
        Section::Text(p) => with(p, "TEXT"),
        Section::HeaderFields {
            path: p,
            not,
            fields,
        } => format!(
            "{} ({})",
            with(
                p,
                if *not {
                    "HEADER.FIELDS.NOT"
                } else {
                    "HEADER.FIELDS"
                }
            ),
            fields
                .iter()
                .map(|f| f.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Renders the items that need the message itself (bytes or structure).
pub fn content_item(out: &mut Vec<u8>, att: &FetchAtt, raw: &[u8], s: &Structure) {
    match att {
        FetchAtt::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            envelope(out, &s.envelope);
        }
        FetchAtt::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            body_structure(out, &s.root, true);
        }
        FetchAtt::Body => {
            out.extend_from_slice(b"BODY ");
            body_structure(out, &s.root, false);
        }
        FetchAtt::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out, raw);
        }
        FetchAtt::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            literal(out, raw.get(s.root.header.clone()).unwrap_or_default());
        }
        FetchAtt::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            literal(out, raw.get(s.root.body.clone()).unwrap_or_default());
        }
        FetchAtt::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
            if let Some((start, _)) = partial {
                out.extend_from_slice(format!("<{start}>").as_bytes());
            }
            out.push(b' ');
            let mut data = section_bytes(raw, s, section).unwrap_or_default();
            // RFC 9051 §4.3: a literal carries no NUL. Bytes appended as binary (RFC 3516
            // §4.3, `~{n}`) are given in base64 here; BINARY[] gives them as they are.
            if data.contains(&0) {
                use base64::Engine;
                data = base64::engine::general_purpose::STANDARD
                    .encode(&data)
                    .into_bytes();
            }
            literal(out, cut(&data, *partial));
        }
        FetchAtt::Binary { path, partial, .. } => {
            let name = path
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(".");
            out.extend_from_slice(format!("BINARY[{name}]").as_bytes());
            if let Some((start, _)) = partial {
                out.extend_from_slice(format!("<{start}>").as_bytes());
            }
            out.push(b' ');
            match binary_bytes(raw, s, path) {
                Some(data) => {
                    let data = cut(&data, *partial);
                    let binary = data.contains(&0);
                    out.extend_from_slice(
                        format!("{}{{{}}}\r\n", if binary { "~" } else { "" }, data.len())
                            .as_bytes(),
                    );
                    out.extend_from_slice(data);
                }
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAtt::BinarySize(path) => {
            let name = path
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(".");
            let n = binary_bytes(raw, s, path).map(|d| d.len()).unwrap_or(0);
            out.extend_from_slice(format!("BINARY.SIZE[{name}] {n}").as_bytes());
        }
        _ => {}
    }
}

/// Whether an item needs the message's bytes or structure.
pub fn needs_content(att: &FetchAtt) -> bool {
    !matches!(
        att,
        FetchAtt::Uid
            | FetchAtt::Flags
            | FetchAtt::InternalDate
            | FetchAtt::Rfc822Size
            | FetchAtt::ModSeq
    )
}

/// Whether an item needs the MIME tree, not just the top-level header and body.
pub fn needs_structure(att: &FetchAtt) -> bool {
    match att {
        FetchAtt::Envelope | FetchAtt::BodyStructure | FetchAtt::Body => true,
        FetchAtt::BodySection { section, .. } => !matches!(
            section,
            Section::Part(p) | Section::Header(p) | Section::Text(p)
                | Section::HeaderFields { path: p, .. } if p.is_empty()
        ),
        FetchAtt::Binary { path, .. } | FetchAtt::BinarySize(path) => !path.is_empty(),
        _ => false,
    }
}

/// Whether fetching the item sets `\Seen` (RFC 9051 §6.4.5).
pub fn sets_seen(att: &FetchAtt) -> bool {
    matches!(
        att,
        FetchAtt::Rfc822
            | FetchAtt::Rfc822Text
            | FetchAtt::BodySection { peek: false, .. }
            | FetchAtt::Binary { peek: false, .. }
    )
}

/// A header field's value, unfolded, for SEARCH HEADER and SORT.
pub fn header_value(raw: &[u8], s: &Structure, name: &str) -> Option<String> {
    header_fields(raw.get(s.root.header.clone())?)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@x.it\r\nSubject: prova\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nciao\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: dentro\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nuno\r\n--c\r\n\r\ndue\r\n--c--\r\n--b--\r\n";

    fn sect(s: &str) -> Vec<u8> {
        let st = Structure::parse(MSG);
        let cmd = format!("a FETCH 1 BODY[{s}]");
        let parsed = crate::command::parse(cmd.as_bytes()).unwrap();
        match parsed.command {
            crate::command::Command::Fetch { atts, .. } => match &atts[0] {
                FetchAtt::BodySection { section, .. } => section_bytes(MSG, &st, section).unwrap(),
                a => panic!("{a:?}"),
            },
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn sections() {
        assert_eq!(sect("1"), b"ciao");
        assert_eq!(
            sect("2.HEADER"),
            b"Subject: dentro\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
        );
        assert_eq!(sect("2.1"), b"uno");
        assert_eq!(sect("2.2"), b"due");
        assert_eq!(sect("HEADER.FIELDS (SUBJECT)"), b"Subject: prova\r\n\r\n");
        assert_eq!(sect("1.MIME"), b"Content-Type: text/plain\r\n\r\n");
        let mut out = vec![];
        body_structure(&mut out, &Structure::parse(MSG).root, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 4 0)(\"MESSAGE\" \"RFC822\""), "{s}");
        assert!(s.ends_with(" \"MIXED\")"), "{s}");
    }
}
