//! Byte-exact access to a message's header block: the fields as they are on the wire, so that
//! the original can be carried unmodified but for the fields RFC 6109 says to rewrite.

/// One header field: `name` and the raw value after the colon (continuation lines included),
/// and the byte range of the whole field (with its line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
    pub start: usize,
    pub end: usize,
}

impl RawField<'_> {
    /// The value unfolded (RFC 5322 §2.2.3) and trimmed, as lossy UTF-8.
    pub fn unfolded(&self) -> String {
        let s = String::from_utf8_lossy(self.value);
        let mut out = String::with_capacity(s.len());
        for (i, line) in s.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if i > 0 && !out.is_empty() {
                out.push(' ');
            }
            out.push_str(line.trim());
        }
        out.trim().to_string()
    }
}

/// Offset where the body starts (after the empty line), or the length if there is none.
pub fn body_offset(message: &[u8]) -> usize {
    let mut i = 0;
    while i < message.len() {
        let line_end = message[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1);
        let line = &message[i..line_end.unwrap_or(message.len())];
        if line == b"\r\n" || line == b"\n" {
            return line_end.unwrap_or(message.len());
        }
        match line_end {
            Some(e) => i = e,
            None => return message.len(),
        }
    }
    message.len()
}

/// The header fields of `message`, in order. Lines that are not fields (no colon) are
/// skipped rather than trusted.
pub fn fields(message: &[u8]) -> Vec<RawField<'_>> {
    let header_end = body_offset(message);
    let block = &message[..header_end];
    let mut out: Vec<RawField<'_>> = Vec::new();
    let mut i = 0;
    while i < block.len() {
        let line_end = block[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(block.len(), |p| i + p + 1);
        let line = &block[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if matches!(line.first(), Some(b' ') | Some(b'\t')) {
            if let Some(last) = out.last_mut() {
                let value_start = last.value_start();
                last.end = line_end;
                last.value = &message[value_start..line_end];
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name_bytes = &line[..colon];
            if let Ok(name) = std::str::from_utf8(name_bytes) {
                let name = name.trim_end();
                if !name.is_empty() && !name.contains(' ') {
                    out.push(RawField {
                        name,
                        value: &message[i + colon + 1..line_end],
                        start: i,
                        end: line_end,
                    });
                }
            }
        }
        i = line_end;
    }
    out
}

impl RawField<'_> {
    fn value_start(&self) -> usize {
        self.end - self.value.len()
    }
}

/// The first field with this name (case-insensitive), unfolded.
pub fn get(message: &[u8], name: &str) -> Option<String> {
    fields(message)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.unfolded())
}

/// RFC 6109 §2.2.1: the original carried in `postacert.eml` gets the PEC identifier as its
/// Message-ID and keeps the client's one as `X-Riferimento-Message-ID`. Every other byte of
/// the original is left as it is.
pub fn rewrite_message_id(original: &[u8], pec_msgid: &str, client_msgid: Option<&str>) -> Vec<u8> {
    let fs = fields(original);
    let mut out = Vec::with_capacity(original.len() + 128);
    let mut inserted = false;
    let mut pos = 0;
    let replacement = {
        let mut r = format!("Message-ID: <{pec_msgid}>\r\n");
        if let Some(m) = client_msgid {
            r.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
        }
        r
    };
    for f in &fs {
        let drop = f.name.eq_ignore_ascii_case("Message-ID")
            || f.name.eq_ignore_ascii_case("X-Riferimento-Message-ID");
        if drop {
            out.extend_from_slice(&original[pos..f.start]);
            if !inserted {
                out.extend_from_slice(replacement.as_bytes());
                inserted = true;
            }
            pos = f.end;
        }
    }
    if !inserted {
        out.extend_from_slice(replacement.as_bytes());
    }
    out.extend_from_slice(&original[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Received: from x\r\n by y\r\nSubject: hello\r\n  world\r\nMessage-ID: <a@b>\r\nTo: b@c\r\n\r\nbody\r\nMessage-ID: <not@header>\r\n";

    #[test]
    fn reads_fields_with_continuations() {
        let fs = fields(MSG);
        assert_eq!(
            fs.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["Received", "Subject", "Message-ID", "To"]
        );
        assert_eq!(fs[1].unfolded(), "hello world");
        assert_eq!(get(MSG, "message-id").as_deref(), Some("<a@b>"));
        assert_eq!(&MSG[body_offset(MSG)..body_offset(MSG) + 4], b"body");
    }

    #[test]
    fn rewrites_only_the_message_id() {
        let out = rewrite_message_id(MSG, "pec1@p.test", Some("<a@b>"));
        let expected = b"Received: from x\r\n by y\r\nSubject: hello\r\n  world\r\nMessage-ID: <pec1@p.test>\r\nX-Riferimento-Message-ID: <a@b>\r\nTo: b@c\r\n\r\nbody\r\nMessage-ID: <not@header>\r\n";
        assert_eq!(out, expected.to_vec());
        let none = rewrite_message_id(b"To: x\r\n\r\nb", "p@q", None);
        assert_eq!(none, b"Message-ID: <p@q>\r\nTo: x\r\n\r\nb".to_vec());
    }
}
