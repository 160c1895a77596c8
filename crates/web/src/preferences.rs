//! The box's preferences (Impostazioni → Preferenze and Identità, issue 18 item 1; seed 002
//! §2.6), kept as the box's settings through the mailbox service (`Access::setting`,
//! `Access::set_setting`, which needs the Settings right) and typed here. The forms write
//! only values these parsers accept; a stored value they do not know reads as the default.

use crate::i18n::Lang;
use pec::wire;
use services::mailbox::{Access, MailboxError};

/// `list` (the preview under the list) or `columns` (three columns).
pub const LAYOUT: &str = "layout";
const PAGE_SIZE: &str = "messaggi-per-pagina";
const SORT_KEY: &str = "ordinamento";
const SORT_DIRECTION: &str = "ordine";
const BODY_FIRST: &str = "formato-lettura";
const MARK_READ: &str = "segna-come-letto";
const RECEIPT: &str = "ricevuta";
const QUOTE_REPLY: &str = "citazione";
const DISPLAY_NAME: &str = "nome";
const SIGNATURE: &str = "firma";

/// The page sizes the message list offers.
pub const PAGE_SIZES: [i64; 3] = [25, 50, 100];
const DEFAULT_PAGE_SIZE: i64 = 50;
/// A display name's length, in characters (a phrase that fits a header line).
pub const MAX_DISPLAY_NAME: usize = 64;
/// A signature's length, in characters, and its lines.
pub const MAX_SIGNATURE: usize = 1000;
pub const MAX_SIGNATURE_LINES: usize = 15;

/// What the list is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Date,
    Sender,
    Subject,
    Size,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Date,
        SortKey::Sender,
        SortKey::Subject,
        SortKey::Size,
    ];

    /// The list URL's `sort` value.
    pub fn code(self) -> &'static str {
        match self {
            SortKey::Date => "date",
            SortKey::Sender => "from",
            SortKey::Subject => "subject",
            SortKey::Size => "size",
        }
    }

    pub fn parse(code: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self, l: Lang) -> &'static str {
        match self {
            SortKey::Date => l.t("data", "date"),
            SortKey::Sender => l.t("mittente", "sender"),
            SortKey::Subject => l.t("oggetto", "subject"),
            SortKey::Size => l.t("dimensione", "size"),
        }
    }
}

/// Which part of a message with both is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFirst {
    Html,
    Text,
}

impl BodyFirst {
    pub fn code(self) -> &'static str {
        match self {
            BodyFirst::Html => "html",
            BodyFirst::Text => "testo",
        }
    }

    fn parse(code: &str) -> Option<BodyFirst> {
        [BodyFirst::Html, BodyFirst::Text]
            .into_iter()
            .find(|b| b.code() == code)
    }
}

/// The delivery receipt a PEC asks for (the `X-TipoRicevuta` header; none means completa).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    Completa,
    Breve,
    Sintetica,
}

impl Receipt {
    pub const ALL: [Receipt; 3] = [Receipt::Completa, Receipt::Breve, Receipt::Sintetica];

    /// The compose form's value and the header's.
    pub fn code(self) -> &'static str {
        match self {
            Receipt::Completa => "completa",
            Receipt::Breve => "breve",
            Receipt::Sintetica => "sintetica",
        }
    }

    pub fn parse(code: &str) -> Option<Receipt> {
        Receipt::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label(self, l: Lang) -> &'static str {
        match self {
            Receipt::Completa => l.t(
                "Completa (con copia del messaggio)",
                "Complete (with a copy of the message)",
            ),
            Receipt::Breve => l.t(
                "Breve (allegati sostituiti dalla loro impronta)",
                "Short (attachments replaced by their hash)",
            ),
            Receipt::Sintetica => l.t(
                "Sintetica (solo i dati di certificazione)",
                "Summary (certification data only)",
            ),
        }
    }
}

/// Every preference of the box, with its default where none is set.
pub struct Preferences {
    pub columns: bool,
    pub page_size: i64,
    pub sort: SortKey,
    pub descending: bool,
    pub body_first: BodyFirst,
    pub mark_read: bool,
    pub receipt: Receipt,
    pub quote_reply: bool,
    /// Empty: messages go out with the bare address.
    pub display_name: String,
    /// Empty: no signature.
    pub signature: String,
}

impl Preferences {
    pub fn load(m: &Access) -> Result<Preferences, MailboxError> {
        let get = |key: &str| m.setting(key);
        Ok(Preferences {
            columns: get(LAYOUT)?.as_deref() == Some("columns"),
            page_size: get(PAGE_SIZE)?
                .and_then(|v| v.parse().ok())
                .filter(|n| PAGE_SIZES.contains(n))
                .unwrap_or(DEFAULT_PAGE_SIZE),
            sort: get(SORT_KEY)?
                .and_then(|v| SortKey::parse(&v))
                .unwrap_or(SortKey::Date),
            descending: get(SORT_DIRECTION)?.as_deref() != Some("asc"),
            body_first: get(BODY_FIRST)?
                .and_then(|v| BodyFirst::parse(&v))
                .unwrap_or(BodyFirst::Html),
            mark_read: get(MARK_READ)?.as_deref() != Some("no"),
            receipt: get(RECEIPT)?
                .and_then(|v| Receipt::parse(&v))
                .unwrap_or(Receipt::Completa),
            quote_reply: get(QUOTE_REPLY)?.as_deref() != Some("no"),
            display_name: get(DISPLAY_NAME)?.unwrap_or_default(),
            signature: get(SIGNATURE)?.unwrap_or_default(),
        })
    }

    /// The text a new message, reply or forward starts with: room to write, then the
    /// signature, then the quoted original (empty when there is neither).
    pub fn compose_text(&self, quoted: &str) -> String {
        let mut parts = vec![];
        if !self.signature.is_empty() {
            parts.push(format!("-- \n{}\n", self.signature));
        }
        if !quoted.is_empty() {
            parts.push(quoted.to_string());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("\n\n{}", parts.join("\n"))
        }
    }
}

/// A value a form may not save, said in both languages.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub it: &'static str,
    pub en: &'static str,
}

impl Invalid {
    pub fn text(&self, l: Lang) -> String {
        l.t(self.it, self.en).to_string()
    }
}

/// Impaginazione Messaggi, parsed before anything is saved.
pub struct Paging {
    page_size: i64,
    sort: SortKey,
    descending: bool,
}

impl Paging {
    pub fn parse(page_size: &str, sort: &str, direction: &str) -> Result<Paging, Invalid> {
        let page_size = page_size
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| PAGE_SIZES.contains(n))
            .ok_or(Invalid {
                it: "Numero di messaggi per pagina non valido: scegliere 25, 50 o 100.",
                en: "Invalid number of messages per page: choose 25, 50 or 100.",
            })?;
        let sort = SortKey::parse(sort).ok_or(Invalid {
            it: "Ordinamento non valido: scegliere data, mittente, oggetto o dimensione.",
            en: "Invalid sort order: choose date, sender, subject or size.",
        })?;
        let descending = match direction {
            "desc" => true,
            "asc" => false,
            _ => {
                return Err(Invalid {
                    it: "Verso dell'ordinamento non valido: crescente o decrescente.",
                    en: "Invalid sort direction: ascending or descending.",
                })
            }
        };
        Ok(Paging {
            page_size,
            sort,
            descending,
        })
    }

    pub fn save(&self, m: &Access) -> Result<(), MailboxError> {
        m.set_setting(PAGE_SIZE, &self.page_size.to_string())?;
        m.set_setting(SORT_KEY, self.sort.code())?;
        m.set_setting(SORT_DIRECTION, if self.descending { "desc" } else { "asc" })
    }
}

fn yes_no(value: &str, invalid: Invalid) -> Result<bool, Invalid> {
    match value {
        "si" => Ok(true),
        "no" => Ok(false),
        _ => Err(invalid),
    }
}

fn yes_no_code(value: bool) -> &'static str {
    if value {
        "si"
    } else {
        "no"
    }
}

/// Visualizzazione Messaggi.
pub struct MessageDisplay {
    body_first: BodyFirst,
    mark_read: bool,
}

impl MessageDisplay {
    pub fn parse(body_first: &str, mark_read: &str) -> Result<MessageDisplay, Invalid> {
        Ok(MessageDisplay {
            body_first: BodyFirst::parse(body_first).ok_or(Invalid {
                it: "Formato di lettura non valido: HTML o testo semplice.",
                en: "Invalid reading format: HTML or plain text.",
            })?,
            mark_read: yes_no(
                mark_read,
                Invalid {
                    it: "Scelta non valida per «segna come letto».",
                    en: "Invalid choice for \"mark as read\".",
                },
            )?,
        })
    }

    pub fn save(&self, m: &Access) -> Result<(), MailboxError> {
        m.set_setting(BODY_FIRST, self.body_first.code())?;
        m.set_setting(MARK_READ, yes_no_code(self.mark_read))
    }
}

/// Composizione Messaggi.
pub struct Composition {
    receipt: Receipt,
    quote_reply: bool,
}

impl Composition {
    pub fn parse(receipt: &str, quote_reply: &str) -> Result<Composition, Invalid> {
        Ok(Composition {
            receipt: Receipt::parse(receipt).ok_or(Invalid {
                it: "Tipo di ricevuta non valido: completa, breve o sintetica.",
                en: "Invalid receipt type: complete, short or summary.",
            })?,
            quote_reply: yes_no(
                quote_reply,
                Invalid {
                    it: "Scelta non valida per la citazione nelle risposte.",
                    en: "Invalid choice for quoting in replies.",
                },
            )?,
        })
    }

    pub fn save(&self, m: &Access) -> Result<(), MailboxError> {
        m.set_setting(RECEIPT, self.receipt.code())?;
        m.set_setting(QUOTE_REPLY, yes_no_code(self.quote_reply))
    }
}

/// Unicode's bidirectional overrides and isolates: in a sender's name they would let it
/// read backwards (`moc.ecnanif` shown as `finance.com`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Identità: the name messages go out with, and the signature.
pub struct Identity {
    display_name: String,
    signature: String,
}

impl Identity {
    pub fn parse(display_name: &str, signature: &str) -> Result<Identity, Invalid> {
        if display_name
            .chars()
            .any(|c| c.is_control() || is_bidi_control(c))
        {
            return Err(Invalid {
                it: "Il nome non può contenere a capo, tabulazioni o altri caratteri di controllo.",
                en: "The name may not contain line breaks, tabs or other control characters.",
            });
        }
        let display_name = display_name.trim();
        if display_name.chars().count() > MAX_DISPLAY_NAME {
            return Err(Invalid {
                it: "Il nome è troppo lungo: al massimo 64 caratteri.",
                en: "The name is too long: at most 64 characters.",
            });
        }
        // Browsers send CRLF; the signature is kept with LF and goes out as CRLF.
        let signature = signature.replace("\r\n", "\n");
        if signature
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
        {
            return Err(Invalid {
                it: "La firma non può contenere caratteri di controllo.",
                en: "The signature may not contain control characters.",
            });
        }
        let signature = signature.trim_end();
        if signature.chars().count() > MAX_SIGNATURE
            || signature.lines().count() > MAX_SIGNATURE_LINES
        {
            return Err(Invalid {
                it: "La firma è troppo lunga: al massimo 1000 caratteri su 15 righe.",
                en: "The signature is too long: at most 1000 characters on 15 lines.",
            });
        }
        Ok(Identity {
            display_name: display_name.to_string(),
            signature: signature.to_string(),
        })
    }

    pub fn save(&self, m: &Access) -> Result<(), MailboxError> {
        m.set_setting(DISPLAY_NAME, &self.display_name)?;
        m.set_setting(SIGNATURE, &self.signature)
    }
}

/// The `From:` field of a message the webmail sends: `"Name" <box@domain>` (RFC 5322
/// §3.4: the name a quoted string when it is printable ASCII, RFC 2047 encoded words
/// otherwise — never inside quotes), or the bare address without a name; folded between
/// words so no line passes 76 characters where it can be helped.
pub fn from_field(display_name: &str, address: &str) -> String {
    let printable = display_name.bytes().all(|b| (0x20..0x7f).contains(&b));
    let mut words: Vec<String> = if display_name.is_empty() {
        vec![]
    } else if printable && !display_name.contains("=?") {
        vec![wire::quoted(display_name)]
    } else {
        wire::encoded_words(display_name)
    };
    words.push(if words.is_empty() {
        address.to_string()
    } else {
        format!("<{address}>")
    });
    let mut out = String::from("From:");
    let mut line = out.len();
    for w in words {
        if line + 1 + w.len() > 76 && line > "From:".len() {
            out.push_str("\r\n");
            line = 0;
        }
        out.push(' ');
        out.push_str(&w);
        line += 1 + w.len();
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_and_sort_are_parsed_or_refused() {
        assert!(Paging::parse("25", "subject", "asc").is_ok());
        for bad in ["0", "100000", "-50", "cinquanta", ""] {
            assert!(Paging::parse(bad, "date", "desc").is_err(), "{bad}");
        }
        assert!(Paging::parse("50", "colore", "desc").is_err());
        assert!(Paging::parse("50", "date", "sideways").is_err());
    }

    #[test]
    fn a_display_name_with_control_characters_is_refused() {
        for bad in [
            "Mario\r\nBcc: x@y",
            "Mario\nRossi",
            "Tab\there",
            "a\u{202E}moc",
        ] {
            assert!(Identity::parse(bad, "").is_err(), "{bad:?}");
        }
        assert!(Identity::parse(&"x".repeat(65), "").is_err());
        assert!(Identity::parse(&"è".repeat(64), "").is_ok());
        assert!(Identity::parse("Mario", &"riga\n".repeat(16)).is_err());
        assert!(Identity::parse("Mario", "Mario Rossi\r\nUfficio protocollo\r\n").is_ok());
    }

    #[test]
    fn from_quotes_ascii_and_encodes_the_rest() {
        assert_eq!(
            from_field("", "box@pec.it"),
            "From: box@pec.it\r\n".to_string()
        );
        assert_eq!(
            from_field("Rossi, \"Mario\"", "box@pec.it"),
            "From: \"Rossi, \\\"Mario\\\"\" <box@pec.it>\r\n"
        );
        let encoded = from_field("Niccolò Ferrà", "box@pec.it");
        assert_eq!(
            encoded,
            "From: =?UTF-8?B?TmljY29sw7IgRmVycsOg?= <box@pec.it>\r\n"
        );
        // A name that looks like an encoded word is encoded, so it reads as written.
        assert!(from_field("=?UTF-8?B?eA==?=", "b@p.it").starts_with("From: =?UTF-8?B?PT9"));
        let long = from_field(&"è".repeat(64), "casella.lunga@pec.esempio.it");
        assert!(long.split("\r\n").all(|line| line.len() <= 76), "{long}");
    }
}
