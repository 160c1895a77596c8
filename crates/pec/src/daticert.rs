//! daticert.xml, the certification data of every PEC message but the anomaly envelope
//! (RFC 6109 §4.4; the normative DTD is the Italian one, `shared/fixtures/daticert.dtd`).

use crate::kind::{DatiCertTipo, ErrorCode, ReceiptType, RecipientKind};
use crate::time::PecTime;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;
use thiserror::Error;

/// The largest daticert.xml we read; real ones are under 2 KB.
pub const MAX_DATICERT_BYTES: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Destinatario {
    pub address: String,
    pub tipo: RecipientKind,
}

/// The content of daticert.xml, element by element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatiCert {
    pub tipo: DatiCertTipo,
    pub errore: ErrorCode,
    pub mittente: String,
    pub destinatari: Vec<Destinatario>,
    pub risposte: String,
    pub oggetto: Option<String>,
    pub gestore_emittente: String,
    #[serde(serialize_with = "serialize_time")]
    pub data: PecTime,
    /// The PEC identifier of the transport envelope, without angle brackets.
    pub identificativo: String,
    /// The original client Message-ID, with its angle brackets.
    pub msgid: Option<String>,
    pub ricevuta: Option<ReceiptType>,
    pub consegna: Option<String>,
    pub ricezione: Vec<String>,
    pub errore_esteso: Option<String>,
}

fn serialize_time<S: serde::Serializer>(t: &PecTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.rfc5322())
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DatiCertError {
    #[error("daticert.xml too large ({0} bytes)")]
    TooLarge(usize),
    #[error("daticert.xml is not well-formed XML: {0}")]
    Xml(String),
    #[error("daticert.xml root element is not <postacert>")]
    NotPostacert,
    #[error("daticert.xml: missing or invalid {0}")]
    Missing(&'static str),
}

impl DatiCert {
    /// Writes the document exactly as real providers do: UTF-8, no DOCTYPE, 4-space
    /// indentation, `msgid` with escaped angle brackets (pec-spec §5.2). The element order is
    /// the DTD's.
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1024);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<postacert tipo=\"{}\" errore=\"{}\">\n",
            self.tipo.as_str(),
            self.errore.as_str()
        ));
        x.push_str("    <intestazione>\n");
        element(&mut x, 8, "mittente", &self.mittente);
        for d in &self.destinatari {
            x.push_str(&format!(
                "        <destinatari tipo=\"{}\">{}</destinatari>\n",
                d.tipo.as_str(),
                escape(&d.address)
            ));
        }
        element(&mut x, 8, "risposte", &self.risposte);
        if let Some(o) = &self.oggetto {
            element(&mut x, 8, "oggetto", o);
        }
        x.push_str("    </intestazione>\n    <dati>\n");
        element(&mut x, 8, "gestore-emittente", &self.gestore_emittente);
        x.push_str(&format!(
            "        <data zona=\"{}\">\n            <giorno>{}</giorno>\n            <ora>{}</ora>\n        </data>\n",
            self.data.zona(),
            self.data.giorno(),
            self.data.ora()
        ));
        element(&mut x, 8, "identificativo", &self.identificativo);
        if let Some(m) = &self.msgid {
            element(&mut x, 8, "msgid", m);
        }
        if let Some(r) = self.ricevuta {
            x.push_str(&format!("        <ricevuta tipo=\"{}\" />\n", r.as_str()));
        }
        if let Some(c) = &self.consegna {
            element(&mut x, 8, "consegna", c);
        }
        for r in &self.ricezione {
            element(&mut x, 8, "ricezione", r);
        }
        if let Some(e) = &self.errore_esteso {
            element(&mut x, 8, "errore-esteso", e);
        }
        x.push_str("    </dati>\n</postacert>\n");
        x
    }

    /// Reads daticert.xml, tolerant of what real providers write (attribute order, extra
    /// whitespace or stray text, missing optional elements) but strict on the fields a
    /// receipt is worth nothing without.
    pub fn parse(xml: &[u8]) -> Result<DatiCert, DatiCertError> {
        if xml.len() > MAX_DATICERT_BYTES {
            return Err(DatiCertError::TooLarge(xml.len()));
        }
        let mut raw = RawDatiCert::default();
        let mut reader = Reader::from_reader(xml);
        let mut path: Vec<String> = Vec::new();
        let mut buf = Vec::new();
        let mut text = String::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| DatiCertError::Xml(e.to_string()))?;
            match event {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    raw.attributes(&name, &path, &e)?;
                    path.push(name);
                    if path.len() > 16 {
                        return Err(DatiCertError::Xml("nesting too deep".into()));
                    }
                    text.clear();
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    raw.attributes(&name, &path, &e)?;
                    raw.text(&name, &path, "");
                }
                Event::Text(t) => {
                    let s = t
                        .xml_content()
                        .map_err(|e| DatiCertError::Xml(e.to_string()))?;
                    text.push_str(&s);
                }
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    text.push_str(&resolve_entity(&name)?);
                }
                Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
                Event::End(_) => {
                    if let Some(name) = path.pop() {
                        // The subject is certified as it was, spaces included; every other
                        // field is an address, a code or an identifier.
                        let value = if name == "oggetto" {
                            text.as_str()
                        } else {
                            text.trim()
                        };
                        raw.text(&name, &path, value);
                    }
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        raw.finish()
    }
}

fn resolve_entity(name: &str) -> Result<String, DatiCertError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).ok()
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse().ok()
            } else {
                None
            };
            code.and_then(char::from_u32)
                .ok_or_else(|| DatiCertError::Xml(format!("unknown entity &{name};")))?
        }
    };
    Ok(c.to_string())
}

#[derive(Default)]
struct RawDatiCert {
    root_seen: bool,
    tipo: Option<String>,
    errore: Option<String>,
    zona: Option<String>,
    mittente: Option<String>,
    destinatari: Vec<Destinatario>,
    pending_dest_tipo: RecipientKind,
    risposte: Option<String>,
    oggetto: Option<String>,
    gestore: Option<String>,
    giorno: Option<String>,
    ora: Option<String>,
    identificativo: Option<String>,
    msgid: Option<String>,
    ricevuta: Option<String>,
    consegna: Option<String>,
    ricezione: Vec<String>,
    errore_esteso: Option<String>,
}

impl RawDatiCert {
    fn attributes(
        &mut self,
        name: &str,
        path: &[String],
        e: &quick_xml::events::BytesStart,
    ) -> Result<(), DatiCertError> {
        if path.is_empty() {
            if name != "postacert" {
                return Err(DatiCertError::NotPostacert);
            }
            self.root_seen = true;
        }
        for a in e.attributes() {
            let a = a.map_err(|e| DatiCertError::Xml(e.to_string()))?;
            let value = a
                .unescape_value()
                .map_err(|e| DatiCertError::Xml(e.to_string()))?
                .into_owned();
            match (name, a.key.as_ref()) {
                ("postacert", b"tipo") => self.tipo = Some(value),
                ("postacert", b"errore") => self.errore = Some(value),
                ("data", b"zona") => self.zona = Some(value),
                ("ricevuta", b"tipo") => self.ricevuta = Some(value),
                ("destinatari", b"tipo") => {
                    self.pending_dest_tipo = if value.trim() == "esterno" {
                        RecipientKind::Esterno
                    } else {
                        RecipientKind::Certificato
                    }
                }
                _ => {}
            }
        }
        if name == "destinatari"
            && !e
                .attributes()
                .any(|a| a.is_ok_and(|a| a.key.as_ref() == b"tipo"))
        {
            self.pending_dest_tipo = RecipientKind::Certificato;
        }
        Ok(())
    }

    fn text(&mut self, name: &str, path: &[String], text: &str) {
        let parent = path.last().map(String::as_str).unwrap_or("");
        let t = Some(text.to_string());
        match (parent, name) {
            ("intestazione", "mittente") => self.mittente = t,
            ("intestazione", "destinatari") => self.destinatari.push(Destinatario {
                address: text.to_string(),
                tipo: self.pending_dest_tipo,
            }),
            ("intestazione", "risposte") => self.risposte = t,
            ("intestazione", "oggetto") => self.oggetto = t,
            ("dati", "gestore-emittente") => self.gestore = t,
            ("data", "giorno") => self.giorno = t,
            ("data", "ora") => self.ora = t,
            ("dati", "identificativo") => self.identificativo = t,
            ("dati", "msgid") => self.msgid = t,
            ("dati", "consegna") => self.consegna = t,
            ("dati", "ricezione") => self.ricezione.push(text.to_string()),
            ("dati", "errore-esteso") => self.errore_esteso = t,
            _ => {}
        }
    }

    fn finish(self) -> Result<DatiCert, DatiCertError> {
        if !self.root_seen {
            return Err(DatiCertError::NotPostacert);
        }
        let tipo = self
            .tipo
            .as_deref()
            .and_then(DatiCertTipo::parse)
            .ok_or(DatiCertError::Missing("postacert/@tipo"))?;
        let errore = match self.errore.as_deref() {
            None => ErrorCode::Nessuno,
            Some(e) => ErrorCode::parse(e).ok_or(DatiCertError::Missing("postacert/@errore"))?,
        };
        let data = match (&self.giorno, &self.ora, &self.zona) {
            (Some(g), Some(o), Some(z)) => PecTime::from_daticert(g, o, z),
            _ => None,
        }
        .ok_or(DatiCertError::Missing("data (giorno, ora, zona)"))?;
        let ricevuta = match self.ricevuta.as_deref() {
            None => None,
            Some(r) => Some(ReceiptType::parse(r).ok_or(DatiCertError::Missing("ricevuta/@tipo"))?),
        };
        Ok(DatiCert {
            tipo,
            errore,
            mittente: self.mittente.ok_or(DatiCertError::Missing("mittente"))?,
            destinatari: self.destinatari,
            risposte: self.risposte.unwrap_or_default(),
            oggetto: self.oggetto,
            gestore_emittente: self
                .gestore
                .ok_or(DatiCertError::Missing("gestore-emittente"))?,
            data,
            identificativo: self
                .identificativo
                .filter(|i| !i.is_empty())
                .ok_or(DatiCertError::Missing("identificativo"))?,
            msgid: self.msgid,
            ricevuta,
            consegna: self.consegna,
            ricezione: self.ricezione,
            errore_esteso: self.errore_esteso,
        })
    }
}

fn element(x: &mut String, indent: usize, name: &str, value: &str) {
    for _ in 0..indent {
        x.push(' ');
    }
    x.push('<');
    x.push_str(name);
    x.push('>');
    x.push_str(&escape(value));
    x.push_str("</");
    x.push_str(name);
    x.push_str(">\n");
}

/// XML text escaping. Characters XML 1.0 cannot carry at all (most C0 controls) become
/// U+FFFD so that the document stays well-formed whatever the subject contained.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> DatiCert {
        DatiCert {
            tipo: DatiCertTipo::AvvenutaConsegna,
            errore: ErrorCode::Nessuno,
            mittente: "a@pec.alpha.test".into(),
            destinatari: vec![
                Destinatario {
                    address: "b@pec.beta.test".into(),
                    tipo: RecipientKind::Certificato,
                },
                Destinatario {
                    address: "x@example.org".into(),
                    tipo: RecipientKind::Esterno,
                },
            ],
            risposte: "a@pec.alpha.test".into(),
            oggetto: Some("Fattura <n. 1> & \"altro\" — è".into()),
            gestore_emittente: "Certa Alpha".into(),
            data: PecTime::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 1).unwrap()),
            identificativo: "certa.20261123100001.1@pec.alpha.test".into(),
            msgid: Some("<abc@client>".into()),
            ricevuta: Some(ReceiptType::Breve),
            consegna: Some("b@pec.beta.test".into()),
            ricezione: vec![],
            errore_esteso: None,
        }
    }

    #[test]
    fn writes_the_observed_serialisation() {
        let xml = sample().to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"avvenuta-consegna\" errore=\"nessuno\">\n"));
        assert!(xml.contains("        <msgid>&lt;abc@client&gt;</msgid>\n"));
        assert!(xml.contains("<data zona=\"+0100\">\n            <giorno>23/11/2026</giorno>\n            <ora>10:00:01</ora>"));
        assert!(xml.contains("<ricevuta tipo=\"breve\" />"));
        assert!(xml.contains("<destinatari tipo=\"esterno\">x@example.org</destinatari>"));
    }

    #[test]
    fn round_trip() {
        let d = sample();
        assert_eq!(DatiCert::parse(d.to_xml().as_bytes()).unwrap(), d);
    }

    #[test]
    fn control_characters_never_break_the_document() {
        let mut d = sample();
        d.oggetto = Some("bad\u{1}\u{0}subject".into());
        let back = DatiCert::parse(d.to_xml().as_bytes()).unwrap();
        assert_eq!(back.oggetto.as_deref(), Some("bad\u{FFFD}\u{FFFD}subject"));
    }

    #[test]
    fn rejects_what_is_not_daticert() {
        assert_eq!(
            DatiCert::parse(b"<html/>"),
            Err(DatiCertError::NotPostacert)
        );
        assert!(DatiCert::parse(b"<postacert tipo=\"x\"><intestazione>").is_err());
        let no_ident = sample().to_xml().replace(
            "<identificativo>certa.20261123100001.1@pec.alpha.test</identificativo>",
            "",
        );
        assert_eq!(
            DatiCert::parse(no_ident.as_bytes()),
            Err(DatiCertError::Missing("identificativo"))
        );
    }
}
