//! The *breve* delivery receipt's transform (RFC 6109 §3.3.2.2): the original keeps its MIME
//! structure, but every part with a file name is replaced by `<name>.hash`, a text/plain part
//! holding the SHA-1 of the attachment as 40 hexadecimal characters. A message/rfc822
//! attachment is hashed whole. An encrypted original (application/pkcs7-mime) is returned as
//! it is; in a signed original the attachments are hashed and the signature left unchanged.
//!
//! The hash is computed on the decoded content, the file the sender attached, so that anyone
//! holding that file can check it with `sha1sum`.

use crate::wire;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use sha1::{Digest, Sha1};

/// SHA-1 of `data` as 40 lower-case hexadecimal characters.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// The breve form of `original` (CRLF message bytes).
pub fn transform(original: &[u8]) -> Vec<u8> {
    let Some(msg) = MessageParser::default().parse(original) else {
        return original.to_vec();
    };
    let root_type =
        msg.parts.first().and_then(|p| p.content_type()).map(|ct| {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
        });
    if matches!(
        root_type.as_deref(),
        Some("application/pkcs7-mime") | Some("application/x-pkcs7-mime")
    ) {
        return original.to_vec();
    }
    let mut replacements: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for (i, part) in msg.parts.iter().enumerate() {
        if i == 0 || matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let Some(name) = part.attachment_name() else {
            continue;
        };
        let ctype = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_default();
        if ctype.ends_with("pkcs7-signature") {
            continue;
        }
        let (start, body_start, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        if start > body_start || body_start > end || end > original.len() {
            continue;
        }
        let encoding =
            crate::headers::get(&original[start..body_start], "Content-Transfer-Encoding")
                .unwrap_or_default();
        let content = wire::decode_transfer(&original[body_start..end], &encoding);
        replacements.push((start, end, hash_part(name, &sha1_hex(&content))));
    }
    let mut out = Vec::with_capacity(original.len());
    let mut pos = 0;
    for (start, end, bytes) in replacements {
        if start < pos {
            continue;
        }
        out.extend_from_slice(&original[pos..start]);
        out.extend_from_slice(&bytes);
        pos = end;
    }
    out.extend_from_slice(&original[pos..]);
    out
}

fn hash_part(name: &str, hash: &str) -> Vec<u8> {
    let file = wire::quoted(&format!("{name}.hash"));
    format!(
        "Content-Type: text/plain; name={file}\r\nContent-Disposition: attachment; filename={file}\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{hash}"
    )
    .into_bytes()
}
