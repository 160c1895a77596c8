//! Classifier for any message that arrives: which PEC kind it is, its certification data,
//! the original it carries and its signature. Tolerant of what real providers send
//! (header-name casing, `micalg`, `x-pkcs7-signature`, text/plain or multipart/alternative
//! bodies, base64, quoted-printable or binary parts); never panics on hostile input.

use crate::daticert::DatiCert;
use crate::headers;
use crate::kind::{ErrorCode, MessageKind, ReceiptType};
use crate::text;
use crate::wire;
use mail_parser::{Address, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use std::ops::Range;

/// Largest message the classifier reads (the access point limits submissions far below).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// What the classifier found in a message.
#[derive(Debug, Clone, Serialize)]
pub struct PecMessage {
    /// `None` when the message is not a PEC message at all.
    pub kind: Option<MessageKind>,
    pub subject: String,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// X-Riferimento-Message-ID: the client's original Message-ID.
    pub riferimento_message_id: Option<String>,
    pub receipt_type_header: Option<ReceiptType>,
    pub daticert: Option<DatiCert>,
    /// Why daticert.xml could not be read, if it is present but broken.
    pub daticert_error: Option<String>,
    /// Byte range of postacert.eml (the original, or the message an anomaly wraps).
    #[serde(skip)]
    pub original: Option<Range<usize>>,
    /// Parts replaced by `.hash` in a breve receipt: (name, hash).
    pub hashes: Vec<(String, String)>,
    /// Whether the message is multipart/signed.
    pub signed: bool,
    /// Byte range of the signed entity (the first part of multipart/signed).
    #[serde(skip)]
    pub signed_content: Option<Range<usize>>,
    /// Whether it has a signature part at all (it may not decode: a placeholder).
    pub signature_part: bool,
    /// The DER of the signature part, when there is one that decodes.
    #[serde(skip)]
    pub signature: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    #[error("not an Internet message (no header fields)")]
    NotMessage,
}

impl PecMessage {
    /// The original carried as postacert.eml.
    pub fn original<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        self.original.clone().and_then(|r| raw.get(r))
    }
}

/// Reads `raw` and says what it is.
pub fn classify(raw: &[u8]) -> Result<PecMessage, ParseError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge(raw.len()));
    }
    if headers::fields(raw).is_empty() {
        return Err(ParseError::NotMessage);
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotMessage)?;
    let header = |name: &str| headers::get(raw, name);

    let mut found = Parts::default();
    found.scan(&msg, raw);
    let signed = if found.signed {
        split_signed(raw)
    } else {
        None
    };
    if let Some(s) = &signed {
        // The multipart/signed layer is split on its own boundary, as OpenSSL does: a
        // truncated inner part can swallow the signature in a MIME parser's view.
        if s.signature_part && !found.signature_part {
            found.signature_part = true;
            found.signature = s.signature.clone();
        }
    }

    let (daticert, daticert_error) = match &found.daticert {
        Some(xml) => match DatiCert::parse(xml) {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, None),
    };
    let kind = kind_of(&header, daticert.as_ref(), &found);
    Ok(PecMessage {
        kind,
        subject: msg.subject().unwrap_or_default().to_string(),
        from: msg.from().and_then(|a| addresses(a).into_iter().next()),
        to: msg.to().map(addresses).unwrap_or_default(),
        cc: msg.cc().map(addresses).unwrap_or_default(),
        date: header("Date"),
        message_id: header("Message-ID"),
        riferimento_message_id: header("X-Riferimento-Message-ID"),
        receipt_type_header: header("X-TipoRicevuta").and_then(|v| ReceiptType::parse(&v)),
        daticert,
        daticert_error,
        original: found.original,
        hashes: found.hashes,
        signed: found.signed,
        signed_content: signed.map(|s| s.content),
        signature_part: found.signature_part,
        signature: found.signature,
    })
}

#[derive(Default)]
struct Parts {
    signed: bool,
    signature_part: bool,
    signature: Option<Vec<u8>>,
    daticert: Option<Vec<u8>>,
    original: Option<Range<usize>>,
    hashes: Vec<(String, String)>,
    text: String,
}

impl Parts {
    /// Looks at the message's own parts only: a PEC message forwarded inside the original
    /// has its own daticert.xml, which must never be taken for this one's.
    fn scan(&mut self, msg: &Message<'_>, raw: &[u8]) {
        self.signed = msg
            .parts
            .first()
            .and_then(|p| p.content_type())
            .is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("multipart")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
            });
        for part in msg.parts.iter().skip(1) {
            let ctype = part
                .content_type()
                .map(|ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
                })
                .unwrap_or_default();
            let name = part.attachment_name().unwrap_or("").to_string();
            let body = raw_body(part, raw);
            let encoding = raw_encoding(part, raw);
            if ctype.ends_with("pkcs7-signature") {
                self.signature_part = true;
                if self.signature.is_none() {
                    self.signature = body.and_then(wire::decode_base64).filter(|d| !d.is_empty());
                }
            } else if name.eq_ignore_ascii_case("daticert.xml") {
                if self.daticert.is_none() {
                    self.daticert = body.map(|b| wire::decode_transfer(b, &encoding));
                }
            } else if let PartType::Message(_) = &part.body {
                if self.original.is_none() {
                    self.original = Some(part.offset_body as usize..part.offset_end as usize);
                }
            } else if let Some(stem) = name.strip_suffix(".hash") {
                if let Some(b) = body {
                    let h = String::from_utf8_lossy(&wire::decode_transfer(b, &encoding))
                        .trim()
                        .to_string();
                    self.hashes.push((stem.to_string(), h));
                }
            } else if ctype == "text/plain" && self.text.len() < 64 * 1024 {
                if let Some(t) = part.text_contents() {
                    self.text.push_str(t);
                }
            }
            // Hashes of a breve receipt live inside its postacert.eml.
            if let PartType::Message(inner) = &part.body {
                for p in inner.parts.iter().skip(1) {
                    if let Some(stem) = p.attachment_name().and_then(|n| n.strip_suffix(".hash")) {
                        if let Some(b) = raw_body(p, raw) {
                            let enc = raw_encoding(p, raw);
                            let h = String::from_utf8_lossy(&wire::decode_transfer(b, &enc))
                                .trim()
                                .to_string();
                            self.hashes.push((stem.to_string(), h));
                        }
                    }
                }
            }
        }
    }
}

struct SignedParts {
    content: Range<usize>,
    signature_part: bool,
    signature: Option<Vec<u8>>,
}

/// Splits multipart/signed (RFC 1847) on its boundary: the signed entity's exact byte range
/// (the line break before the next delimiter belongs to the delimiter) and the signature part,
/// whose DER is `None` when it does not decode.
fn split_signed(raw: &[u8]) -> Option<SignedParts> {
    let ctype = headers::get(raw, "Content-Type")?;
    let boundary = ctype.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    if boundary.is_empty() || boundary.len() > 200 {
        return None;
    }
    let delimiter = format!("--{boundary}");
    let body_start = headers::body_offset(raw);
    // Part starts: just after each delimiter line that begins a line.
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut at = body_start;
    while let Some(pos) = wire::find(&raw[at..], delimiter.as_bytes()).map(|p| p + at) {
        let line_start = pos == body_start || raw.get(pos.wrapping_sub(1)) == Some(&b'\n');
        at = pos + delimiter.len();
        if !line_start {
            continue;
        }
        let end = if pos >= 2 && &raw[pos - 2..pos] == b"\r\n" {
            pos - 2
        } else {
            pos.saturating_sub(1)
        };
        ends.push(end.max(body_start));
        if raw[at..].starts_with(b"--") {
            break;
        }
        let line_end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        starts.push(line_end);
        at = line_end;
    }
    // ends[0] closes the preamble; part i runs from starts[i] to ends[i + 1].
    let content = *starts.first()?..*ends.get(1)?;
    if content.start > content.end {
        return None;
    }
    let (signature_part, signature) = match (starts.get(1), ends.get(2)) {
        (Some(&s), Some(&e)) if s <= e => {
            let part = &raw[s..e];
            let ctype = headers::get(part, "Content-Type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if ctype.contains("pkcs7-signature") {
                let der = wire::decode_base64(&part[headers::body_offset(part)..])
                    .filter(|d| !d.is_empty());
                (true, der)
            } else {
                (false, None)
            }
        }
        _ => (false, None),
    };
    Some(SignedParts {
        content,
        signature_part,
        signature,
    })
}

fn raw_body<'a>(part: &mail_parser::MessagePart<'_>, raw: &'a [u8]) -> Option<&'a [u8]> {
    raw.get(part.offset_body as usize..part.offset_end as usize)
}

fn raw_encoding(part: &mail_parser::MessagePart<'_>, raw: &[u8]) -> String {
    raw.get(part.offset_header as usize..part.offset_body as usize)
        .and_then(|h| headers::get(h, "Content-Transfer-Encoding"))
        .unwrap_or_default()
}

fn kind_of(
    header: &dyn Fn(&str) -> Option<String>,
    d: Option<&DatiCert>,
    parts: &Parts,
) -> Option<MessageKind> {
    use crate::kind::DatiCertTipo as T;
    let lower = |n: &str| header(n).map(|v| v.trim().to_ascii_lowercase());
    let virus = lower("X-VerificaSicurezza").as_deref() == Some("errore")
        || d.is_some_and(|d| d.errore == ErrorCode::Virus);
    if let Some(t) = lower("X-Trasporto") {
        return match t.as_str() {
            "posta-certificata" => Some(MessageKind::TransportEnvelope),
            "errore" => Some(MessageKind::AnomalyEnvelope),
            _ => None,
        };
    }
    let tipo = match lower("X-Ricevuta") {
        Some(r) => T::parse(&r)?,
        None => d?.tipo,
    };
    Some(match tipo {
        T::PostaCertificata => MessageKind::TransportEnvelope,
        T::Accettazione => MessageKind::Acceptance,
        T::NonAccettazione if virus => MessageKind::NonAcceptanceVirus,
        T::NonAccettazione => MessageKind::NonAcceptance,
        T::PresaInCarico => MessageKind::TakenInCharge,
        T::RilevazioneVirus => MessageKind::VirusDetected,
        // daticert's `ricevuta` is the type the sender asked for; what this recipient got
        // shows in the parts (Cc recipients get sintetica whatever was asked).
        T::AvvenutaConsegna => MessageKind::Delivery(if parts.original.is_none() {
            ReceiptType::Sintetica
        } else if !parts.hashes.is_empty() || d.and_then(|d| d.ricevuta) == Some(ReceiptType::Breve)
        {
            ReceiptType::Breve
        } else {
            ReceiptType::Completa
        }),
        T::ErroreConsegna if virus => MessageKind::NonDeliveryVirus,
        T::ErroreConsegna => MessageKind::NonDelivery,
        T::PreavvisoErroreConsegna => {
            MessageKind::DeliveryTimeout(text::timeout_stage_of(&parts.text))
        }
    })
}

/// The addresses of an address header, groups flattened.
pub fn addresses(a: &Address<'_>) -> Vec<String> {
    a.iter()
        .filter_map(|x| x.address().map(str::to_string))
        .collect()
}

/// Whether `address` is listed in the original's Cc: header.
pub fn listed_in_cc(original: &[u8], address: &str) -> bool {
    MessageParser::default()
        .parse_headers(original)
        .and_then(|m| m.cc().map(addresses))
        .is_some_and(|cc| cc.iter().any(|c| c.eq_ignore_ascii_case(address)))
}
