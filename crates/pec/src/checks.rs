//! The access point's formal checks (RFC 6109 §3.1.1), as one pure function that returns
//! every violation, each with a clear message in Italian and in English.

use crate::text::Lang;
use mail_parser::MessageParser;
use serde::Serialize;

/// Provider limits (DM 2 novembre 2005 art. 12: at least 50 recipients, and size ×
/// recipients of at least 30 MB must be possible).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_recipients: usize,
    /// Limit on message size × number of recipients, in bytes.
    pub max_size_times_recipients: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_recipients: 50,
            max_size_times_recipients: 30 * 1000 * 1000,
        }
    }
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Violation {
    MissingFrom,
    MultipleFrom {
        count: usize,
    },
    MissingTo,
    ReversePathMismatch {
        reverse_path: String,
        from: String,
    },
    RecipientNotInHeaders {
        recipient: String,
    },
    BccPresent,
    TooManyRecipients {
        count: usize,
        max: usize,
    },
    TooLarge {
        size: u64,
        recipients: usize,
        limit: u64,
    },
    NotAMessage,
    /// RFC 5322 §3.6: a field that may occur at most once occurs more often.
    RepeatedField {
        name: String,
        count: usize,
    },
}

/// RFC 5322 §3.6, the table of §3.6: the fields a message has at most once. Two copies let
/// the reader that takes the first and the one that takes the last see different senders or
/// subjects (review M4).
pub const AT_MOST_ONCE: [&str; 9] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Message-ID",
    "Date",
];

impl Violation {
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::It => self.italian(),
            Lang::En => self.english(),
        }
    }

    fn italian(&self) -> String {
        match self {
            Violation::MissingFrom => "manca il mittente (campo From)".into(),
            Violation::MultipleFrom { count } => format!("il campo From contiene {count} indirizzi: deve contenerne uno solo"),
            Violation::MissingTo => "manca il destinatario (campo To)".into(),
            Violation::ReversePathMismatch { reverse_path, from } => format!(
                "il mittente della busta SMTP ({reverse_path}) è diverso dal mittente del messaggio ({from})"
            ),
            Violation::RecipientNotInHeaders { recipient } => {
                format!("il destinatario {recipient} non compare nei campi To o Cc")
            }
            Violation::BccPresent => "la posta certificata non ammette destinatari in copia nascosta (campo Bcc)".into(),
            Violation::TooManyRecipients { count, max } => {
                format!("troppi destinatari: {count}, il massimo consentito è {max}")
            }
            Violation::TooLarge { size, recipients, limit } => format!(
                "dimensione del messaggio per numero di destinatari troppo grande: {} × {recipients} = {}, il limite è {}",
                human(*size),
                human(size.saturating_mul(*recipients as u64)),
                human(*limit)
            ),
            Violation::NotAMessage => "il messaggio non è conforme al formato RFC 5322".into(),
            Violation::RepeatedField { name, count } => format!(
                "il campo {name} compare {count} volte: RFC 5322 ne ammette uno solo"
            ),
        }
    }

    fn english(&self) -> String {
        match self {
            Violation::MissingFrom => "the sender (From field) is missing".into(),
            Violation::MultipleFrom { count } => {
                format!("the From field holds {count} addresses: it must hold exactly one")
            }
            Violation::MissingTo => "the recipient (To field) is missing".into(),
            Violation::ReversePathMismatch { reverse_path, from } => format!(
                "the SMTP envelope sender ({reverse_path}) differs from the message sender ({from})"
            ),
            Violation::RecipientNotInHeaders { recipient } => {
                format!("recipient {recipient} is not listed in To or Cc")
            }
            Violation::BccPresent => {
                "certified mail does not allow blind-copy recipients (Bcc field)".into()
            }
            Violation::TooManyRecipients { count, max } => {
                format!("too many recipients: {count}, at most {max} allowed")
            }
            Violation::TooLarge {
                size,
                recipients,
                limit,
            } => format!(
                "message size times recipients too large: {} × {recipients} = {}, the limit is {}",
                human(*size),
                human(size.saturating_mul(*recipients as u64)),
                human(*limit)
            ),
            Violation::NotAMessage => "the message does not conform to RFC 5322".into(),
            Violation::RepeatedField { name, count } => {
                format!("the {name} field occurs {count} times: RFC 5322 allows only one")
            }
        }
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else if bytes >= 1000 {
        format!("{:.1} KB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// RFC 6109 §3.1.1: every violation of `message` submitted with this SMTP envelope.
pub fn formal_checks(
    reverse_path: &str,
    forward_paths: &[String],
    message: &[u8],
    limits: &Limits,
) -> Vec<Violation> {
    let mut v = Vec::new();
    let Some(parsed) = MessageParser::default().parse_headers(message) else {
        return vec![Violation::NotAMessage];
    };
    if crate::headers::fields(message).is_empty() {
        return vec![Violation::NotAMessage];
    }
    let fields = crate::headers::fields(message);
    for name in AT_MOST_ONCE {
        let count = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .count();
        if count > 1 {
            v.push(Violation::RepeatedField {
                name: name.to_string(),
                count,
            });
        }
    }
    let from: Vec<String> = parsed
        .from()
        .map(crate::parse::addresses)
        .unwrap_or_default();
    match from.len() {
        0 => v.push(Violation::MissingFrom),
        1 => {
            if !from[0].eq_ignore_ascii_case(reverse_path.trim()) {
                v.push(Violation::ReversePathMismatch {
                    reverse_path: reverse_path.to_string(),
                    from: from[0].clone(),
                });
            }
        }
        n => v.push(Violation::MultipleFrom { count: n }),
    }
    let to: Vec<String> = parsed.to().map(crate::parse::addresses).unwrap_or_default();
    let cc: Vec<String> = parsed.cc().map(crate::parse::addresses).unwrap_or_default();
    if to.is_empty() {
        v.push(Violation::MissingTo);
    }
    for r in forward_paths {
        if !to
            .iter()
            .chain(cc.iter())
            .any(|a| a.eq_ignore_ascii_case(r))
        {
            v.push(Violation::RecipientNotInHeaders {
                recipient: r.clone(),
            });
        }
    }
    if crate::headers::fields(message)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("Bcc"))
    {
        v.push(Violation::BccPresent);
    }
    if forward_paths.len() > limits.max_recipients {
        v.push(Violation::TooManyRecipients {
            count: forward_paths.len(),
            max: limits.max_recipients,
        });
    }
    let size = message.len() as u64;
    if size.saturating_mul(forward_paths.len() as u64) > limits.max_size_times_recipients {
        v.push(Violation::TooLarge {
            size,
            recipients: forward_paths.len(),
            limit: limits.max_size_times_recipients,
        });
    }
    v
}
