//! Modified UTF-7, the encoding of IMAP4rev1 mailbox names (RFC 3501 §5.1.3): printable
//! US-ASCII stands for itself, `&-` is `&`, and `&…-` holds UTF-16BE in base64 with `,`
//! instead of `/` and no padding (RFC 2152 otherwise). Names come from the old server, so
//! [`decode`] rejects anything that is not well formed instead of guessing.

/// The modified base64 alphabet (RFC 3501 §5.1.3: RFC 2045's with `,` for `/`).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn sextet(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes a modified UTF-7 name; `None` when it is not valid modified UTF-7: a byte outside
/// printable US-ASCII, an unterminated or malformed `&…-` run, leftover bits that are not
/// zero, an odd number of bytes or an unpaired surrogate.
pub fn decode(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if !(0x20..=0x7e).contains(&byte) {
            return None;
        }
        if byte != b'&' {
            out.push(char::from(byte));
            continue;
        }
        let end = rest.iter().position(|&b| b == b'-')?;
        let (encoded, after) = rest.split_at(end);
        rest = after.get(1..)?;
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        out.push_str(&decode_run(encoded)?);
    }
    Some(out)
}

/// One `&…-` run's base64 (without `&` and `-`) to text.
fn decode_run(encoded: &[u8]) -> Option<String> {
    let mut units = Vec::with_capacity(encoded.len() * 6 / 16);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    let mut pending_byte: Option<u8> = None;
    for &c in encoded {
        bits = (bits << 6) | sextet(c)?;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            let byte = ((bits >> bit_count) & 0xff) as u8;
            bits &= (1 << bit_count) - 1;
            match pending_byte.take() {
                None => pending_byte = Some(byte),
                Some(high) => units.push(u16::from_be_bytes([high, byte])),
            }
        }
    }
    // What is left must be fewer than 6 zero bits, and no half UTF-16 unit.
    if bits != 0 || pending_byte.is_some() {
        return None;
    }
    String::from_utf16(&units).ok()
}

/// Encodes a name in modified UTF-7 (RFC 3501 §5.1.3).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut units: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush_run(&mut units, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            units.extend_from_slice(c.encode_utf16(&mut [0; 2]));
        }
    }
    flush_run(&mut units, &mut out);
    out
}

/// Writes the pending UTF-16 units as one `&…-` run.
fn flush_run(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for byte in units.iter().flat_map(|u| u.to_be_bytes()) {
        bits = (bits << 8) | u32::from(byte);
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            out.push(char::from(ALPHABET[((bits >> bit_count) & 0x3f) as usize]));
        }
        bits &= (1 << bit_count) - 1;
    }
    if bit_count > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - bit_count)) & 0x3f) as usize],
        ));
    }
    out.push('-');
    units.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_examples_and_italian_names_decode() {
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            decode(b"Perch&AOk- &- cos&AOw-").as_deref(),
            Some("Perché & così")
        );
        assert_eq!(decode(b"&Jjo-!").as_deref(), Some("☺!"));
        assert_eq!(decode(b"INBOX").as_deref(), Some("INBOX"));
        assert_eq!(decode(b"").as_deref(), Some(""));
        // A character outside the BMP: a surrogate pair.
        assert_eq!(decode(b"&2D3eAA-").as_deref(), Some("😀"));
    }

    #[test]
    fn encode_round_trips() {
        for name in [
            "Posta inviata",
            "Perché & così",
            "~peter/mail/台北/日本語",
            "😀 & ☺",
            "&&",
            "",
            "àèìòù",
        ] {
            let encoded = encode(name);
            assert!(
                encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{encoded}"
            );
            assert_eq!(
                decode(encoded.as_bytes()).as_deref(),
                Some(name),
                "{encoded}"
            );
        }
        assert_eq!(encode("Perché & così"), "Perch&AOk- &- cos&AOw-");
        assert_eq!(encode("台北"), "&U,BTFw-");
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            &b"bad&AOk"[..], // unterminated run
            b"&;-",          // not base64
            b"caf\xc3\xa9",  // 8-bit bytes (raw UTF-8)
            b"tab\there",    // a control character
            b"&AA-",         // 12 bits: half a UTF-16 unit left over
            b"&AO-",         // leftover bits not zero
            b"&AOl-",        // leftover bits not zero
            b"&2D0-",        // an unpaired high surrogate
            b"&3gA-",        // an unpaired low surrogate
            b"\xff\xfe",
        ] {
            assert_eq!(decode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
