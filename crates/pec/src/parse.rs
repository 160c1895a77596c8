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
    /// The To: addresses of the signed original: who is a primary recipient (the others
    /// are in Cc).
    pub original_to: Vec<String>,
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
    /// Why this cannot be a valid PEC message whatever its signature: a repeated field that
    /// must be single, parts outside RFC 1847's two, more than one daticert.xml or
    /// postacert.eml, or outer fields that contradict the signed `tipo`.
    pub malformed: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    #[error("not an Internet message (no header fields)")]
    NotMessage,
}

impl PecMessage {
    /// The subject as the signed data state it: the kind's prefix and daticert's `oggetto`
    /// (RFC 6109 §3.1.3), for lists, logs and receipts; `None` without certification data.
    pub fn certified_subject(&self) -> Option<String> {
        let d = self.daticert.as_ref()?;
        let kind = self.kind?;
        Some(format!(
            "{}{}",
            kind.subject_prefix(),
            d.oggetto.as_deref().unwrap_or_default()
        ))
    }

    /// The original carried as postacert.eml.
    pub fn original<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        self.original.clone().and_then(|r| raw.get(r))
    }
}

/// Header fields of which a PEC message has exactly one, at the top level and in the signed
/// entity. Two copies let two readers see two messages (review C1, M4): whoever reads the
/// first and whoever reads the last must never disagree, so a second copy is refused.
pub const SINGLE_FIELDS: [&str; 7] = [
    "Content-Type",
    "MIME-Version",
    "From",
    "X-Trasporto",
    "X-Ricevuta",
    "X-Riferimento-Message-ID",
    "Message-ID",
];

/// The first of `names` that occurs more than once in this header block.
pub fn duplicated_field<'a>(block: &[u8], names: &[&'a str]) -> Option<&'a str> {
    let fields = headers::fields(block);
    names.iter().copied().find(|n| {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(n))
            .count()
            > 1
    })
}

/// Reads `raw` and says what it is.
///
/// For a signed message every certification datum (daticert.xml, the original, the hashes of
/// a breve receipt, and so the kind) is read from the signed entity alone, by one parse of
/// exactly the bytes the signature covers: nothing outside them can add, replace or hide a
/// part (RFC 6109 §3.2.1, review C1). The outer fields that name the kind must agree with the
/// signed `tipo` (review M5); when they do not, or a field that must be single is repeated,
/// [`PecMessage::malformed`] says why and [`crate::verify`] refuses the message.
pub fn classify(raw: &[u8]) -> Result<PecMessage, ParseError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge(raw.len()));
    }
    if headers::fields(raw).is_empty() {
        return Err(ParseError::NotMessage);
    }
    let outer = MessageParser::default()
        .parse_headers(raw)
        .ok_or(ParseError::NotMessage)?;
    let header = |name: &str| headers::get(raw, name);
    let mut malformed = duplicated_field(raw, &SINGLE_FIELDS)
        .map(|n| format!("il campo {n} compare più di una volta nell'intestazione"));

    let signed = header("Content-Type").is_some_and(|ct| is_multipart_signed(&ct));
    let mut found = Parts::default();
    let split = if signed { split_signed(raw) } else { None };
    if let Some(s) = &split {
        if s.parts > 2 {
            malformed.get_or_insert_with(|| {
                format!(
                    "multipart/signed con {} parti: RFC 1847 ne ammette due",
                    s.parts
                )
            });
        }
        if let Some(content) = raw.get(s.content.clone()) {
            if let Some(n) = duplicated_field(content, &SINGLE_FIELDS) {
                malformed.get_or_insert_with(|| {
                    format!("il campo {n} compare più di una volta nella parte firmata")
                });
            }
            match MessageParser::default().parse(content) {
                Some(m) => found.scan(&m, content, s.content.start),
                None => {
                    malformed.get_or_insert_with(|| "parte firmata illeggibile".to_string());
                }
            }
        }
    } else if !signed {
        // Not signed: read for what it says (a breve original's hashes, a sample), though
        // nothing in it is certified: verify answers NoSignature, and nobody shows its data
        // as certified.
        let msg = MessageParser::default()
            .parse(raw)
            .ok_or(ParseError::NotMessage)?;
        found.scan(&msg, raw, 0);
    }
    if found.daticert_parts > 1 {
        malformed.get_or_insert_with(|| "più di un daticert.xml".to_string());
    }
    if found.original_parts > 1 {
        malformed.get_or_insert_with(|| "più di un postacert.eml".to_string());
    }
    let (signature_part, signature) = split
        .as_ref()
        .map_or((false, None), |s| (s.signature_part, s.signature.clone()));

    let (daticert, daticert_error) = match &found.daticert {
        Some(xml) => match DatiCert::parse(xml) {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, None),
    };
    let kind = match kind_of(&header, daticert.as_ref(), &found) {
        Ok(k) => k,
        Err(why) => {
            malformed.get_or_insert(why);
            None
        }
    };
    let from: Vec<String> = outer.from().map(addresses).unwrap_or_default();
    if kind.is_some() && from.len() > 1 {
        malformed.get_or_insert_with(|| "il campo From contiene più di un indirizzo".into());
    }
    let original_to = found
        .original
        .clone()
        .and_then(|r| raw.get(r))
        .and_then(|o| MessageParser::default().parse_headers(o))
        .and_then(|m| m.to().map(addresses))
        .unwrap_or_default();
    Ok(PecMessage {
        kind,
        subject: outer.subject().unwrap_or_default().to_string(),
        from: from.into_iter().next(),
        to: outer.to().map(addresses).unwrap_or_default(),
        cc: outer.cc().map(addresses).unwrap_or_default(),
        date: header("Date"),
        message_id: header("Message-ID"),
        riferimento_message_id: header("X-Riferimento-Message-ID"),
        receipt_type_header: header("X-TipoRicevuta").and_then(|v| ReceiptType::parse(&v)),
        daticert,
        daticert_error,
        original: found.original,
        original_to,
        hashes: found.hashes,
        signed,
        signed_content: split.map(|s| s.content),
        signature_part,
        signature,
        malformed,
    })
}

/// Whether a Content-Type value is multipart/signed (RFC 1847 §2.1).
fn is_multipart_signed(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/signed"))
}

#[derive(Default)]
struct Parts {
    daticert: Option<Vec<u8>>,
    daticert_parts: usize,
    original: Option<Range<usize>>,
    original_parts: usize,
    hashes: Vec<(String, String)>,
    text: String,
}

impl Parts {
    /// Looks at the entity's own parts only: a PEC message forwarded inside the original
    /// has its own daticert.xml, which must never be taken for this one's. `bytes` is what
    /// `msg` was parsed from, and `base` its offset in the whole message.
    fn scan(&mut self, msg: &Message<'_>, bytes: &[u8], base: usize) {
        for part in msg.parts.iter().skip(1) {
            let ctype = part
                .content_type()
                .map(|ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
                })
                .unwrap_or_default();
            let name = part.attachment_name().unwrap_or("").to_string();
            let body = raw_body(part, bytes);
            let encoding = raw_encoding(part, bytes);
            if ctype.ends_with("pkcs7-signature") {
                // The signature is read from the multipart/signed layer only.
            } else if name.eq_ignore_ascii_case("daticert.xml") {
                self.daticert_parts += 1;
                if self.daticert.is_none() {
                    self.daticert = body.map(|b| wire::decode_transfer(b, &encoding));
                }
            } else if let PartType::Message(_) = &part.body {
                self.original_parts += 1;
                if self.original.is_none() {
                    self.original =
                        Some(base + part.offset_body as usize..base + part.offset_end as usize);
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
                        if let Some(b) = raw_body(p, bytes) {
                            let enc = raw_encoding(p, bytes);
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
    /// How many body parts the multipart/signed has (RFC 1847: exactly two).
    parts: usize,
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
    // A multipart/signed cut short after its first part has no signature: the part runs to
    // the end, and the message reads as unsigned PEC (verify: NoSignature).
    let content = *starts.first()?..ends.get(1).copied().unwrap_or(raw.len());
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
        parts: starts.len(),
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

/// The kind, from the signed daticert.xml `tipo`; the outer `X-Trasporto`/`X-Ricevuta` must
/// say the same (RFC 6109 §8.1.2, §8.1.4; review M5). Only the anomaly envelope, which
/// carries no daticert.xml, is known by its `X-Trasporto: errore` alone.
fn kind_of(
    header: &dyn Fn(&str) -> Option<String>,
    d: Option<&DatiCert>,
    parts: &Parts,
) -> Result<Option<MessageKind>, String> {
    use crate::kind::DatiCertTipo as T;
    let lower = |n: &str| header(n).map(|v| v.trim().to_ascii_lowercase());
    let trasporto = lower("X-Trasporto");
    let ricevuta = lower("X-Ricevuta");
    let Some(d) = d else {
        return Ok(match (trasporto.as_deref(), ricevuta.as_deref()) {
            (Some("errore"), None) => Some(MessageKind::AnomalyEnvelope),
            (Some("errore"), Some(_)) => {
                return Err("X-Trasporto e X-Ricevuta insieme".into());
            }
            // A PEC label without the signed data it needs: the kind it claims, for what
            // verify reports; it never verifies as valid.
            (Some("posta-certificata"), _) => Some(MessageKind::TransportEnvelope),
            (None, Some(r)) => T::parse(r).map(|t| kind_for(t, None, parts)),
            _ => None,
        });
    };
    let expected_trasporto = (d.tipo == T::PostaCertificata).then_some("posta-certificata");
    let expected_ricevuta = (d.tipo != T::PostaCertificata).then(|| d.tipo.as_str());
    if trasporto.as_deref() != expected_trasporto || ricevuta.as_deref() != expected_ricevuta {
        return Err(format!(
            "i campi X-Trasporto/X-Ricevuta ({}) non corrispondono al tipo firmato in daticert.xml ({})",
            trasporto.or(ricevuta).unwrap_or_else(|| "assenti".into()),
            d.tipo.as_str()
        ));
    }
    Ok(Some(kind_for(d.tipo, Some(d), parts)))
}

fn kind_for(tipo: crate::kind::DatiCertTipo, d: Option<&DatiCert>, parts: &Parts) -> MessageKind {
    use crate::kind::DatiCertTipo as T;
    // The virus notices are told apart by the signed `errore="virus"`, not by the outer
    // X-VerificaSicurezza.
    let virus = d.is_some_and(|d| d.errore == ErrorCode::Virus);
    match tipo {
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
    }
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
