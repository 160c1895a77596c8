//! SMS through a vendor-neutral gateway (issue 18 item 4, the daily SMS report of seed 002
//! §2.6.5): one [`Gateway`] the services call with a number and a text, built from
//! `[sms]` in certa.toml with one of three adapters —
//! - `http`: any gateway reachable by one HTTP request, described by its URL, method,
//!   headers, a body template and a success check ([`HttpConfig`]);
//! - `skebby`: the Skebby / Aruba SMS REST API family (login, then `POST sms`);
//! - `file`: one JSON line per SMS appended to a file, for development and tests.
//!
//! The sender is an alias of at most 11 letters and digits (the AGCOM rules for
//! alphanumeric senders). Every byte from a gateway is hostile: answers are read with a
//! size limit and a deadline, and what goes into an error is cut and cleaned.

mod file;
mod generic;
mod http;
mod skebby;

pub use generic::{BodyEncoding, HttpConfig};
pub use skebby::SkebbyConfig;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Why an SMS was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The configuration cannot work (bad URL, alias, template); fixed by the operator.
    #[error("configurazione SMS non valida: {0}")]
    Config(String),
    /// The gateway could not be reached or did not answer in time.
    #[error("gateway SMS non raggiungibile: {0}")]
    Unreachable(String),
    /// The gateway answered, not with success.
    #[error("il gateway SMS non ha accettato il messaggio: {0}")]
    Refused(String),
}

/// The adapter `[sms] adapter` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterName {
    Http,
    Skebby,
    File,
}

/// `[sms]` in certa.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub adapter: AdapterName,
    /// The sender alias the recipient sees (at most 11 letters and digits).
    pub sender: String,
    /// Seconds for one whole request (connection, TLS, answer); default 15.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Extra CA certificates (PEM) trusted for the gateway's TLS, besides the system's.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub http: Option<HttpConfig>,
    #[serde(default)]
    pub skebby: Option<SkebbyConfig>,
    #[serde(default)]
    pub file: Option<file::FileConfig>,
}

pub use file::FileConfig;

enum Adapter {
    Http(generic::HttpGateway),
    Skebby(skebby::Skebby),
    File(file::FileGateway),
}

/// A configured gateway.
pub struct Gateway {
    sender: String,
    adapter: Adapter,
}

/// At most this many characters of text: three concatenated SMS.
pub const MAX_TEXT: usize = 459;

impl Gateway {
    /// Checks the configuration; an error names what is wrong.
    pub fn new(cfg: GatewayConfig) -> Result<Gateway, SmsError> {
        if !valid_alias(&cfg.sender) {
            return Err(SmsError::Config(format!(
                "il mittente \"{}\" deve avere da 1 a 11 lettere o cifre",
                clean(&cfg.sender, 40)
            )));
        }
        let ca = match &cfg.ca {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| SmsError::Config(format!("CA {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let timeout = Duration::from_secs(cfg.timeout_secs.unwrap_or(15).clamp(1, 120));
        let missing = |what: &str| SmsError::Config(format!("manca la sezione [sms.{what}]"));
        let adapter = match cfg.adapter {
            AdapterName::Http => {
                let client = http::Client::new(ca.as_deref(), timeout)?;
                Adapter::Http(generic::HttpGateway::new(
                    cfg.http.ok_or_else(|| missing("http"))?,
                    client,
                )?)
            }
            AdapterName::Skebby => {
                let client = http::Client::new(ca.as_deref(), timeout)?;
                Adapter::Skebby(skebby::Skebby::new(
                    cfg.skebby.ok_or_else(|| missing("skebby"))?,
                    client,
                )?)
            }
            AdapterName::File => Adapter::File(file::FileGateway::new(
                cfg.file.ok_or_else(|| missing("file"))?,
            )),
        };
        Ok(Gateway {
            sender: cfg.sender,
            adapter,
        })
    }

    /// The sender alias.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// Sends `text` to `to` (E.164, see [`normalize_number`]).
    pub async fn send(&self, to: &str, text: &str) -> Result<(), SmsError> {
        let Some(to) = normalize_number(to) else {
            return Err(SmsError::Refused(format!(
                "numero non valido: {}",
                clean(to, 20)
            )));
        };
        let text: String = text.chars().take(MAX_TEXT).collect();
        let sms = Outgoing {
            to: &to,
            sender: &self.sender,
            text: &text,
        };
        match &self.adapter {
            Adapter::Http(g) => g.send(&sms).await,
            Adapter::Skebby(g) => g.send(&sms).await,
            Adapter::File(g) => g.send(&sms).await,
        }
    }
}

/// One SMS as the adapters send it.
pub(crate) struct Outgoing<'a> {
    /// `+` and digits.
    pub to: &'a str,
    pub sender: &'a str,
    pub text: &'a str,
}

/// An alphanumeric sender: 1 to 11 ASCII letters, digits, spaces, dots or dashes, with a
/// letter (an all-digit sender would be a phone number).
pub fn valid_alias(s: &str) -> bool {
    (1..=11).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-'))
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.trim() == s
}

/// A mobile number in E.164 (`+393331234567`): spaces, dots, dashes and brackets are
/// dropped; `00` becomes `+`; a national Italian mobile number (`3…`, 9 or 10 digits) gets
/// `+39`. `None` for anything else.
pub fn normalize_number(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() > 32 {
        return None;
    }
    let kept: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '/'))
        .collect();
    let (plus, digits) = if let Some(rest) = kept.strip_prefix('+') {
        (true, rest.to_string())
    } else if let Some(rest) = kept.strip_prefix("00") {
        (true, rest.to_string())
    } else {
        (false, kept)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let full = if plus {
        digits
    } else if digits.starts_with('3') && (9..=10).contains(&digits.len()) {
        format!("39{digits}")
    } else {
        return None;
    };
    ((8..=15).contains(&full.len()) && !full.starts_with('0')).then(|| format!("+{full}"))
}

/// Text from a gateway or a configuration, safe for a log line or an error: no controls,
/// at most `max` characters.
pub(crate) fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{normalize_number, valid_alias};

    #[test]
    fn numbers_become_e164_or_are_refused() {
        assert_eq!(
            normalize_number("+39 333 123 4567").as_deref(),
            Some("+393331234567")
        );
        assert_eq!(
            normalize_number("0039-333-1234567").as_deref(),
            Some("+393331234567")
        );
        assert_eq!(
            normalize_number("3331234567").as_deref(),
            Some("+393331234567")
        );
        assert_eq!(
            normalize_number("(+44) 7700 900123").as_deref(),
            Some("+447700900123")
        );
        for bad in [
            "",
            "+",
            "06 1234567",
            "+39 333 abc",
            "+3933312345678901234",
            "3331234567\r\nX: y",
            "+0123456789",
            &"9".repeat(40),
        ] {
            assert_eq!(normalize_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn aliases_follow_the_agcom_rules() {
        assert!(valid_alias("CertaPEC"));
        assert!(valid_alias("Comune-Roma"));
        for bad in ["", "DodiciLettere", "12345", " Certa", "Certà", "Cer\"ta"] {
            assert!(!valid_alias(bad), "{bad:?}");
        }
    }
}
