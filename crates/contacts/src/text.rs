//! Bytes of an uploaded file as text: a BOM says UTF-8 or UTF-16; valid UTF-8 is UTF-8;
//! anything else is Windows-1252 (what Outlook in Italian writes), which maps every byte.

/// The charset a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

pub fn decode(bytes: &[u8]) -> (String, Charset) {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        let charset = if enc == encoding_rs::UTF_16LE {
            Charset::Utf16Le
        } else if enc == encoding_rs::UTF_16BE {
            Charset::Utf16Be
        } else {
            Charset::Utf8
        };
        return (text.into_owned(), charset);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), Charset::Utf8),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (text.into_owned(), Charset::Windows1252)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, Charset};

    #[test]
    fn every_common_charset_reads_as_text() {
        assert_eq!(decode("Forlì".as_bytes()), ("Forlì".into(), Charset::Utf8));
        assert_eq!(
            decode(b"\xef\xbb\xbfForl\xc3\xac"),
            ("Forlì".into(), Charset::Utf8)
        );
        assert_eq!(decode(b"Forl\xec"), ("Forlì".into(), Charset::Windows1252));
        assert_eq!(
            decode(b"\xff\xfeF\0\xec\0"),
            ("Fì".into(), Charset::Utf16Le)
        );
        assert_eq!(
            decode(b"\xfe\xff\0F\0\xec"),
            ("Fì".into(), Charset::Utf16Be)
        );
        assert_eq!(decode(b"").1, Charset::Utf8);
    }
}
