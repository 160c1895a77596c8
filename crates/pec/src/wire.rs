//! Wire-format primitives: header fields, RFC 2047 encoded words, quoted-printable in
//! ISO-8859-1, base64 lines, transfer decoding. Everything written here uses CRLF.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// RFC 5322 §2.1.1: a line must not exceed 998 characters; we fold long headers near 78.
pub const MAX_LINE: usize = 998;
const FOLD_AT: usize = 76;

/// One header field, unstructured value, folded and encoded as needed:
/// `Name: value\r\n`. Non-ASCII text, or a word too long to fold, becomes RFC 2047
/// encoded words (UTF-8, base64), split so that no line is longer than 76 characters.
pub fn header(name: &str, value: &str) -> String {
    let value = value.replace(['\r', '\n'], " ");
    let needs_encoding = !value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
        || value
            .split(' ')
            .any(|w| w.len() + name.len() + 2 > MAX_LINE)
        || value.contains("=?");
    let mut out = String::with_capacity(name.len() + value.len() + 16);
    out.push_str(name);
    out.push(':');
    if needs_encoding {
        let words = encoded_words(&value);
        let mut line_len = out.len();
        for w in words {
            if line_len + 1 + w.len() > FOLD_AT && line_len > name.len() + 1 {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            out.push_str(&w);
            line_len += 1 + w.len();
        }
    } else {
        let mut line_len = out.len();
        for (i, word) in value.split(' ').enumerate() {
            if i > 0 && line_len + 1 + word.len() > FOLD_AT && !word.is_empty() {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            out.push_str(word);
            line_len += 1 + word.len();
        }
    }
    out.push_str("\r\n");
    out
}

/// A header whose value is already in wire form (structured fields we compose ourselves,
/// or values inherited unmodified from the original).
pub fn raw_header(name: &str, value: &str) -> String {
    format!("{name}: {value}\r\n")
}

/// RFC 2047 §5: UTF-8 base64 encoded words of at most 75 characters, never splitting a
/// character.
pub fn encoded_words(text: &str) -> Vec<String> {
    const MAX_PAYLOAD: usize = 39; // 39 bytes → 52 base64 characters, + 12 of framing
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_PAYLOAD {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk.as_bytes())));
    }
    words
}

/// A quoted string for a display name or a parameter (RFC 5322 §3.2.4); non-ASCII text is
/// carried as encoded words inside the quotes, as mail clients expect.
pub fn quoted(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut q = String::with_capacity(text.len() + 2);
        q.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        format!("\"{}\"", encoded_words(text).join(" "))
    }
}

/// Text → ISO-8859-1 bytes; characters Latin-1 cannot hold become `?` (the certified value
/// is in daticert.xml, in UTF-8).
pub fn to_latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            c if (c as u32) < 0x100 => c as u32 as u8,
            '\u{2018}' | '\u{2019}' | '\u{201A}' => b'\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' => b'"',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => b'-',
            _ => b'?',
        })
        .collect()
}

/// Quoted-printable (RFC 2045 §6.7) of ISO-8859-1 text, CRLF line breaks, soft breaks so no
/// line passes 76 characters.
pub fn quoted_printable(text: &str) -> Vec<u8> {
    let latin1 = to_latin1(&text.replace("\r\n", "\n"));
    let mut out = Vec::with_capacity(latin1.len() * 11 / 10 + 8);
    for (li, line) in latin1.split(|&b| b == b'\n').enumerate() {
        if li > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            col += width;
        }
    }
    out
}

/// Base64 in lines of 76 characters, CRLF after each.
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(data);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes base64 ignoring line breaks and other white space, with or without padding;
/// `None` if it is not base64.
pub fn decode_base64(data: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let clean: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    LENIENT.decode(&clean).ok()
}

/// Decodes quoted-printable, tolerant of bare LF and of malformed escapes (kept literally).
pub fn decode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'=' {
            match (data.get(i + 1), data.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(b'\n'), _) => i += 2,
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    out.push(hex_value(h) * 16 + hex_value(l));
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn hex_value(h: u8) -> u8 {
    match h {
        b'0'..=b'9' => h - b'0',
        b'a'..=b'f' => h - b'a' + 10,
        _ => h - b'A' + 10,
    }
}

/// Decodes a part body according to its Content-Transfer-Encoding.
pub fn decode_transfer(body: &[u8], encoding: &str) -> Vec<u8> {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "base64" => decode_base64(body).unwrap_or_else(|| body.to_vec()),
        "quoted-printable" => decode_quoted_printable(body),
        _ => body.to_vec(),
    }
}

/// Bare LF → CRLF (and a lone CR left as it is): what we sign and send is canonical.
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The transfer encoding that declares `data` honestly inside a message/rfc822 part, which
/// RFC 2046 §5.2.1 forbids to base64-encode.
pub fn identity_encoding(data: &[u8]) -> &'static str {
    let long_line = data.split(|&b| b == b'\n').any(|l| l.len() > MAX_LINE);
    if long_line || data.contains(&0) {
        "binary"
    } else if data.is_ascii() {
        "7bit"
    } else {
        "8bit"
    }
}

/// Finds `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_header_folds_at_spaces() {
        let h = header("Subject", &"parola ".repeat(30));
        assert!(h.lines().all(|l| l.len() <= 78), "{h}");
        assert!(h.ends_with("\r\n"));
    }

    #[test]
    fn non_ascii_header_becomes_encoded_words() {
        let h = header("Subject", "Perché è così — ✓");
        assert!(h.starts_with("Subject: =?UTF-8?B?"));
        assert!(h.is_ascii());
    }

    #[test]
    fn thousand_character_word_is_encoded_and_folded() {
        let h = header("Subject", &"x".repeat(1000));
        assert!(h.split("\r\n").all(|l| l.len() <= 78));
    }

    #[test]
    fn quoted_printable_round_trip_latin1() {
        let text = "Il messaggio è stato accettato = ok\nriga lunga ".to_string() + &"à".repeat(60);
        let qp = quoted_printable(&text);
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        let back = decode_quoted_printable(&qp);
        let expected = to_latin1(&text.replace('\n', "\r\n"));
        assert_eq!(back, expected);
    }

    #[test]
    fn crlf_normalisation() {
        assert_eq!(to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn base64_tolerates_line_breaks() {
        let enc = base64_lines(&[7u8; 200]);
        assert_eq!(decode_base64(&enc).unwrap(), vec![7u8; 200]);
        assert!(decode_base64(b"@@@@").is_none());
    }
}
