//! Decoding for display and search: encoded words (RFC 2047), RFC 2231 parameter values,
//! transfer encodings (RFC 2045 §6) and the charsets Italian mail uses.

use crate::{Part, Structure};
use base64::Engine;

/// Bytes in a charset to text: UTF-8 and ASCII as such, Latin-1/Windows-1252 byte by byte;
/// anything else lossily as UTF-8.
fn charset_text(bytes: &[u8], charset: &str) -> String {
    let cs = charset.trim().to_ascii_lowercase();
    let latin = cs.starts_with("iso-8859") || cs.starts_with("windows-125") || cs == "latin1";
    match std::str::from_utf8(bytes) {
        Ok(s) if !latin => s.to_string(),
        _ if latin => bytes.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes the encoded words of a header value; the rest stays as it is.
pub fn decode_header(raw: &[u8]) -> String {
    let s = charset_text(raw, "utf-8");
    let mut out = String::new();
    let mut rest = s.as_str();
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let decoded = encoded_word(from);
        match decoded {
            Some((text, used)) => {
                // Whitespace between two encoded words is dropped (RFC 2047 §6.2).
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &from[used..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &from[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `=?charset?B|Q?text?=` at the start of `s`: the text and the bytes consumed.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, rest) = body.split_once('?')?;
    let (enc, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(' ') {
        return None;
    }
    let used_charset = charset.len();
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc.to_ascii_uppercase().as_str() {
        "B" => base64::engine::general_purpose::STANDARD
            .decode(text.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
            .ok()?,
        // RFC 2047 §4.2: `_` is a space, `=XX` a byte; no lines, no padding to drop.
        "Q" => {
            let mut out = vec![];
            hex_escapes(text.replace('_', " ").as_bytes(), &mut out);
            out
        }
        _ => return None,
    };
    let used = 2 + used_charset + 1 + enc.len() + 1 + end + 2;
    Some((charset_text(&bytes, charset), used))
}

/// RFC 2231 `charset'lang'percent-encoded` values.
pub(crate) fn rfc2231(v: &str) -> String {
    let mut it = v.splitn(3, '\'');
    let (charset, _lang, text) = match (it.next(), it.next(), it.next()) {
        (Some(c), Some(l), Some(t)) => (c, l, t),
        _ => ("utf-8", "", v),
    };
    let mut bytes = vec![];
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(x) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                bytes.push(x);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    charset_text(&bytes, charset)
}

/// `=XX` as the byte it names; anything else as it is.
fn hex_escapes(content: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = content.get(i) {
        let hex = content
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'=', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// RFC 2045 §6.7, line by line: white space at the end of a line is transport padding and
/// goes (rule 3); a line then ending in `=` is a soft break (rule 5); `=XX` is a byte
/// (rule 1, lower-case hex read too); an `=` that starts nothing valid stays as it is.
fn quoted_printable(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        let (line, ending, next) = match rest.iter().position(|&c| c == b'\n') {
            Some(n) => {
                let (line, crlf) = match rest[..n].strip_suffix(b"\r") {
                    Some(l) => (l, true),
                    None => (&rest[..n], false),
                };
                let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                (line, ending, &rest[n + 1..])
            }
            None => (rest, &b""[..], &b""[..]),
        };
        let trimmed = match line.iter().rposition(|&c| c != b' ' && c != b'\t') {
            Some(last) => &line[..=last],
            None => &line[..0],
        };
        let (content, soft) = match trimmed.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (trimmed, false),
        };
        hex_escapes(content, &mut out);
        if !soft {
            out.extend_from_slice(ending);
        }
        rest = next;
    }
    out
}

/// A body decoded from its Content-Transfer-Encoding (as IMAP BINARY and downloads want).
pub fn decode_transfer(body: &[u8], encoding: &str) -> Vec<u8> {
    match encoding.to_ascii_uppercase().as_str() {
        "BASE64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .unwrap_or_default()
        }
        "QUOTED-PRINTABLE" => quoted_printable(body),
        _ => body.to_vec(),
    }
}

/// One leaf part's body as text: transfer encoding and charset decoded (for display).
pub fn body_text(raw: &[u8], p: &Part) -> String {
    let body = raw.get(p.body.clone()).unwrap_or_default();
    charset_text(
        &decode_transfer(body, &p.encoding),
        p.param("charset").unwrap_or("utf-8"),
    )
}

fn part_text(raw: &[u8], p: &Part, out: &mut String) {
    if let Some(m) = &p.message {
        message_text(raw, m, out);
        return;
    }
    if p.is_multipart() {
        for c in &p.parts {
            part_text(raw, c, out);
        }
        return;
    }
    if p.media_type != "text" {
        return;
    }
    out.push_str(&body_text(raw, p));
    out.push('\n');
}

fn message_text(raw: &[u8], s: &Structure, out: &mut String) {
    part_text(raw, &s.root, out);
}

/// A quick, certain "no": false only when `needle` (ASCII, any case) cannot be in the
/// decoded text of `raw`, because it is not in the raw bytes and nothing in them is
/// transfer- or header-encoded. True means "decode and look" (search uses it to skip the
/// full decoding of most messages).
pub fn may_contain_text(raw: &[u8], needle: &str) -> bool {
    if needle.is_empty() || !needle.is_ascii() {
        return true;
    }
    let lower: Vec<u8> = raw.iter().map(u8::to_ascii_lowercase).collect();
    let has = |n: &[u8]| memchr::memmem::find(&lower, n).is_some();
    if has(b"base64") || has(b"quoted-printable") || has(b"=?") {
        return true;
    }
    has(needle.to_ascii_lowercase().as_bytes())
}

/// The decoded text of a message's text parts (encapsulated messages included), for search.
pub fn text_of(raw: &[u8], s: &Structure) -> String {
    let mut out = String::new();
    message_text(raw, s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_no() {
        assert!(!may_contain_text(
            b"Subject: a\r\n\r\nciao mondo\r\n",
            "zanzibar"
        ));
        assert!(may_contain_text(
            b"Subject: a\r\n\r\nZanZibar\r\n",
            "zanzibar"
        ));
        // Encoded text could hide it: look.
        let qp = b"Content-Transfer-Encoding: quoted-printable\r\n\r\nzan=\r\nzibar\r\n";
        assert!(may_contain_text(qp, "zanzibar"));
        assert!(may_contain_text(
            b"Subject: =?utf-8?q?x?=\r\n\r\n",
            "zanzibar"
        ));
        assert!(may_contain_text(b"x", "perch\u{e8}"));
    }

    #[test]
    fn words_and_bodies() {
        assert_eq!(decode_header(b"=?ISO-8859-1?Q?Perch=E8?= no"), "Perchè no");
        assert_eq!(
            decode_header(b"=?utf-8?b?Q2FmZsOo?= =?utf-8?q?_al_bar?="),
            "Caffè al bar"
        );
        assert_eq!(decode_header(b"plain =?bad"), "plain =?bad");
        assert_eq!(decode_transfer(b"Y2lhbw==\r\n", "base64"), b"ciao");
        assert_eq!(decode_transfer(b"a=3Db=\r\nc", "quoted-printable"), b"a=bc");
        // RFC 2045 §6.7: padding at a line's end goes, also before a soft break's `=`; an
        // `=` starting nothing valid stays; line endings are kept.
        assert_eq!(
            decode_transfer(
                b"hello  \r\nbar=\r\n\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n=zz=4",
                "quoted-printable"
            ),
            b"hello\r\nbar\r\nfoo\t \tb\r\nfoo bar\r\n=zz=4"
        );
        assert_eq!(rfc2231("utf-8''caff%C3%A8.pdf"), "caffè.pdf");
        let raw = b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nperch=E8\r\n";
        let s = Structure::parse(raw);
        assert!(text_of(raw, &s).contains("perchè"));
    }
}
