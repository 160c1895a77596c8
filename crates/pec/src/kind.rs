//! The PEC message catalogue (RFC 6109 §3, pec-spec §3): every kind of message a provider
//! sends, with the exact header values and subject prefixes that identify it.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A name that is none of a catalogue's (what a store read back, a command line gave).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {text:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub text: String,
}

impl UnknownName {
    fn new(what: &'static str, text: &str) -> UnknownName {
        UnknownName {
            what,
            text: text.to_string(),
        }
    }
}

/// Receipt type requested by the sender with `X-TipoRicevuta` (absent means `completa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptType {
    #[default]
    Completa,
    Breve,
    Sintetica,
}

impl ReceiptType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptType::Completa => "completa",
            ReceiptType::Breve => "breve",
            ReceiptType::Sintetica => "sintetica",
        }
    }

    /// Case-insensitive, as real senders write `X-Tiporicevuta: Breve` and the like.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "completa" => Some(ReceiptType::Completa),
            "breve" => Some(ReceiptType::Breve),
            "sintetica" => Some(ReceiptType::Sintetica),
            _ => None,
        }
    }

    /// RFC 6109 §3.3.2.1–3: the receipt a given recipient gets. Carbon-copy recipients
    /// always get `sintetica`; primary recipients get what was asked.
    pub fn for_recipient(self, primary: bool) -> Self {
        if primary {
            self
        } else {
            ReceiptType::Sintetica
        }
    }
}

impl FromStr for ReceiptType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        ReceiptType::parse(s).ok_or_else(|| UnknownName::new("receipt type", s))
    }
}

/// The `errore` attribute of daticert.xml.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
pub enum ErrorCode {
    #[default]
    #[serde(rename = "nessuno")]
    Nessuno,
    #[serde(rename = "no-dest")]
    NoDest,
    #[serde(rename = "no-dominio")]
    NoDominio,
    #[serde(rename = "virus")]
    Virus,
    #[serde(rename = "altro")]
    Altro,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Nessuno => "nessuno",
            ErrorCode::NoDest => "no-dest",
            ErrorCode::NoDominio => "no-dominio",
            ErrorCode::Virus => "virus",
            ErrorCode::Altro => "altro",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "nessuno" => Some(ErrorCode::Nessuno),
            "no-dest" => Some(ErrorCode::NoDest),
            "no-dominio" => Some(ErrorCode::NoDominio),
            "virus" => Some(ErrorCode::Virus),
            "altro" => Some(ErrorCode::Altro),
            _ => None,
        }
    }
}

/// The 12-hour and 24-hour timeout notices share one header (RFC 6109 §3.1.6) and differ only
/// in their text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TimeoutStage {
    #[serde(rename = "12h")]
    Hours12,
    #[serde(rename = "24h")]
    Hours24,
}

/// Every kind of PEC message (pec-spec §3.1, rows 1–11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Busta di trasporto (`X-Trasporto: posta-certificata`).
    TransportEnvelope,
    /// Busta di anomalia (`X-Trasporto: errore`).
    AnomalyEnvelope,
    /// Ricevuta di accettazione.
    Acceptance,
    /// Avviso di non accettazione per eccezioni formali.
    NonAcceptance,
    /// Avviso di non accettazione per virus informatico.
    NonAcceptanceVirus,
    /// Ricevuta di presa in carico.
    TakenInCharge,
    /// Avviso di rilevazione virus informatico.
    VirusDetected,
    /// Ricevuta di avvenuta consegna (completa, breve or sintetica).
    Delivery(ReceiptType),
    /// Avviso di mancata consegna.
    NonDelivery,
    /// Avviso di mancata consegna per virus informatico.
    NonDeliveryVirus,
    /// Avviso di mancata consegna per superamento tempo massimo (12 h or 24 h).
    DeliveryTimeout(TimeoutStage),
}

/// The `tipo` attribute of daticert.xml's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DatiCertTipo {
    #[serde(rename = "accettazione")]
    Accettazione,
    #[serde(rename = "non-accettazione")]
    NonAccettazione,
    #[serde(rename = "presa-in-carico")]
    PresaInCarico,
    #[serde(rename = "avvenuta-consegna")]
    AvvenutaConsegna,
    #[serde(rename = "posta-certificata")]
    PostaCertificata,
    #[serde(rename = "errore-consegna")]
    ErroreConsegna,
    #[serde(rename = "preavviso-errore-consegna")]
    PreavvisoErroreConsegna,
    #[serde(rename = "rilevazione-virus")]
    RilevazioneVirus,
}

impl DatiCertTipo {
    pub const ALL: [DatiCertTipo; 8] = [
        DatiCertTipo::Accettazione,
        DatiCertTipo::NonAccettazione,
        DatiCertTipo::PresaInCarico,
        DatiCertTipo::AvvenutaConsegna,
        DatiCertTipo::PostaCertificata,
        DatiCertTipo::ErroreConsegna,
        DatiCertTipo::PreavvisoErroreConsegna,
        DatiCertTipo::RilevazioneVirus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DatiCertTipo::Accettazione => "accettazione",
            DatiCertTipo::NonAccettazione => "non-accettazione",
            DatiCertTipo::PresaInCarico => "presa-in-carico",
            DatiCertTipo::AvvenutaConsegna => "avvenuta-consegna",
            DatiCertTipo::PostaCertificata => "posta-certificata",
            DatiCertTipo::ErroreConsegna => "errore-consegna",
            DatiCertTipo::PreavvisoErroreConsegna => "preavviso-errore-consegna",
            DatiCertTipo::RilevazioneVirus => "rilevazione-virus",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl MessageKind {
    /// Value of `X-Ricevuta:` (RFC 6109 §8.1.2), for notifications.
    pub fn x_ricevuta(self) -> Option<&'static str> {
        Some(match self {
            MessageKind::TransportEnvelope | MessageKind::AnomalyEnvelope => return None,
            MessageKind::Acceptance => "accettazione",
            MessageKind::NonAcceptance | MessageKind::NonAcceptanceVirus => "non-accettazione",
            MessageKind::TakenInCharge => "presa-in-carico",
            MessageKind::VirusDetected => "rilevazione-virus",
            MessageKind::Delivery(_) => "avvenuta-consegna",
            MessageKind::NonDelivery | MessageKind::NonDeliveryVirus => "errore-consegna",
            MessageKind::DeliveryTimeout(_) => "preavviso-errore-consegna",
        })
    }

    /// Value of `X-Trasporto:` (RFC 6109 §8.1.4), for envelopes.
    pub fn x_trasporto(self) -> Option<&'static str> {
        match self {
            MessageKind::TransportEnvelope => Some("posta-certificata"),
            MessageKind::AnomalyEnvelope => Some("errore"),
            _ => None,
        }
    }

    /// `X-VerificaSicurezza: errore` marks the virus notices (RFC 6109 §2.1.1.1.3).
    pub fn is_virus_notice(self) -> bool {
        matches!(
            self,
            MessageKind::NonAcceptanceVirus | MessageKind::NonDeliveryVirus
        )
    }

    /// The exact upper-case subject prefix, followed by the original subject.
    pub fn subject_prefix(self) -> &'static str {
        match self {
            MessageKind::TransportEnvelope => "POSTA CERTIFICATA: ",
            MessageKind::AnomalyEnvelope => "ANOMALIA MESSAGGIO: ",
            MessageKind::Acceptance => "ACCETTAZIONE: ",
            MessageKind::NonAcceptance => "AVVISO DI NON ACCETTAZIONE: ",
            MessageKind::NonAcceptanceVirus => "AVVISO DI NON ACCETTAZIONE PER VIRUS: ",
            MessageKind::TakenInCharge => "PRESA IN CARICO: ",
            MessageKind::VirusDetected => "PROBLEMA DI SICUREZZA: ",
            MessageKind::Delivery(_) => "CONSEGNA: ",
            MessageKind::NonDelivery => "AVVISO DI MANCATA CONSEGNA: ",
            MessageKind::NonDeliveryVirus => "AVVISO DI MANCATA CONSEGNA PER VIRUS: ",
            MessageKind::DeliveryTimeout(_) => {
                "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: "
            }
        }
    }

    /// The daticert.xml `tipo`; the anomaly envelope carries no daticert.xml.
    pub fn daticert_tipo(self) -> Option<DatiCertTipo> {
        Some(match self {
            MessageKind::TransportEnvelope => DatiCertTipo::PostaCertificata,
            MessageKind::AnomalyEnvelope => return None,
            MessageKind::Acceptance => DatiCertTipo::Accettazione,
            MessageKind::NonAcceptance | MessageKind::NonAcceptanceVirus => {
                DatiCertTipo::NonAccettazione
            }
            MessageKind::TakenInCharge => DatiCertTipo::PresaInCarico,
            MessageKind::VirusDetected => DatiCertTipo::RilevazioneVirus,
            MessageKind::Delivery(_) => DatiCertTipo::AvvenutaConsegna,
            MessageKind::NonDelivery | MessageKind::NonDeliveryVirus => {
                DatiCertTipo::ErroreConsegna
            }
            MessageKind::DeliveryTimeout(_) => DatiCertTipo::PreavvisoErroreConsegna,
        })
    }

    /// Every kind, each receipt type and timeout stage apart.
    pub const ALL: [MessageKind; 14] = [
        MessageKind::TransportEnvelope,
        MessageKind::AnomalyEnvelope,
        MessageKind::Acceptance,
        MessageKind::NonAcceptance,
        MessageKind::NonAcceptanceVirus,
        MessageKind::TakenInCharge,
        MessageKind::VirusDetected,
        MessageKind::Delivery(ReceiptType::Completa),
        MessageKind::Delivery(ReceiptType::Breve),
        MessageKind::Delivery(ReceiptType::Sintetica),
        MessageKind::NonDelivery,
        MessageKind::NonDeliveryVirus,
        MessageKind::DeliveryTimeout(TimeoutStage::Hours12),
        MessageKind::DeliveryTimeout(TimeoutStage::Hours24),
    ];

    /// The kind whose [`MessageKind::code`] is `code`, exactly.
    pub fn from_code(code: &str) -> Option<MessageKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Stable machine name, used in JSON output and logs.
    pub fn code(self) -> &'static str {
        match self {
            MessageKind::TransportEnvelope => "busta-trasporto",
            MessageKind::AnomalyEnvelope => "busta-anomalia",
            MessageKind::Acceptance => "accettazione",
            MessageKind::NonAcceptance => "non-accettazione",
            MessageKind::NonAcceptanceVirus => "non-accettazione-virus",
            MessageKind::TakenInCharge => "presa-in-carico",
            MessageKind::VirusDetected => "rilevazione-virus",
            MessageKind::Delivery(ReceiptType::Completa) => "avvenuta-consegna-completa",
            MessageKind::Delivery(ReceiptType::Breve) => "avvenuta-consegna-breve",
            MessageKind::Delivery(ReceiptType::Sintetica) => "avvenuta-consegna-sintetica",
            MessageKind::NonDelivery => "mancata-consegna",
            MessageKind::NonDeliveryVirus => "mancata-consegna-virus",
            MessageKind::DeliveryTimeout(TimeoutStage::Hours12) => "mancata-consegna-12h",
            MessageKind::DeliveryTimeout(TimeoutStage::Hours24) => "mancata-consegna-24h",
        }
    }

    /// The Italian name a user reads.
    pub fn name_it(self) -> &'static str {
        match self {
            MessageKind::TransportEnvelope => "Busta di trasporto (posta certificata)",
            MessageKind::AnomalyEnvelope => "Busta di anomalia",
            MessageKind::Acceptance => "Ricevuta di accettazione",
            MessageKind::NonAcceptance => "Avviso di non accettazione",
            MessageKind::NonAcceptanceVirus => "Avviso di non accettazione per virus",
            MessageKind::TakenInCharge => "Ricevuta di presa in carico",
            MessageKind::VirusDetected => "Avviso di rilevazione virus",
            MessageKind::Delivery(ReceiptType::Completa) => {
                "Ricevuta di avvenuta consegna (completa)"
            }
            MessageKind::Delivery(ReceiptType::Breve) => "Ricevuta di avvenuta consegna (breve)",
            MessageKind::Delivery(ReceiptType::Sintetica) => {
                "Ricevuta di avvenuta consegna (sintetica)"
            }
            MessageKind::NonDelivery => "Avviso di mancata consegna",
            MessageKind::NonDeliveryVirus => "Avviso di mancata consegna per virus",
            MessageKind::DeliveryTimeout(TimeoutStage::Hours12) => {
                "Avviso di mancata consegna per superamento tempo massimo (12 ore)"
            }
            MessageKind::DeliveryTimeout(TimeoutStage::Hours24) => {
                "Avviso di mancata consegna per superamento tempo massimo (24 ore)"
            }
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            MessageKind::TransportEnvelope => "Transport envelope (certified mail)",
            MessageKind::AnomalyEnvelope => "Anomaly envelope",
            MessageKind::Acceptance => "Acceptance receipt",
            MessageKind::NonAcceptance => "Non-acceptance notice",
            MessageKind::NonAcceptanceVirus => "Non-acceptance notice (virus)",
            MessageKind::TakenInCharge => "Taken-in-charge receipt",
            MessageKind::VirusDetected => "Virus detection notice",
            MessageKind::Delivery(ReceiptType::Completa) => "Delivery receipt (complete)",
            MessageKind::Delivery(ReceiptType::Breve) => "Delivery receipt (brief)",
            MessageKind::Delivery(ReceiptType::Sintetica) => "Delivery receipt (concise)",
            MessageKind::NonDelivery => "Non-delivery notice",
            MessageKind::NonDeliveryVirus => "Non-delivery notice (virus)",
            MessageKind::DeliveryTimeout(TimeoutStage::Hours12) => {
                "Delivery timeout notice (12 hours)"
            }
            MessageKind::DeliveryTimeout(TimeoutStage::Hours24) => {
                "Delivery timeout notice (24 hours)"
            }
        }
    }

    /// Whether the message carries the original (or a transform of it) as `postacert.eml`.
    pub fn carries_original(self) -> bool {
        matches!(
            self,
            MessageKind::TransportEnvelope
                | MessageKind::AnomalyEnvelope
                | MessageKind::Delivery(ReceiptType::Completa)
                | MessageKind::Delivery(ReceiptType::Breve)
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_it())
    }
}

/// Parses a [`MessageKind::code`].
impl FromStr for MessageKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        MessageKind::from_code(s).ok_or_else(|| UnknownName::new("PEC message kind", s))
    }
}

impl Serialize for MessageKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// Whether a recipient is a PEC mailbox (its domain is in the provider index) or an
/// ordinary address (daticert `destinatari tipo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
pub enum RecipientKind {
    #[default]
    #[serde(rename = "certificato")]
    Certificato,
    #[serde(rename = "esterno")]
    Esterno,
}

impl RecipientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Certificato => "certificato",
            RecipientKind::Esterno => "esterno",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "certificato" => Some(RecipientKind::Certificato),
            "esterno" => Some(RecipientKind::Esterno),
            _ => None,
        }
    }
}

impl FromStr for RecipientKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        RecipientKind::parse(s).ok_or_else(|| UnknownName::new("recipient kind", s))
    }
}

impl fmt::Display for RecipientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a store keeps is read back as the same kind, and nothing else is taken.
    #[test]
    fn names_read_back_as_written() {
        for k in MessageKind::ALL {
            assert_eq!(k.code().parse::<MessageKind>(), Ok(k));
        }
        let codes: std::collections::HashSet<_> =
            MessageKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), MessageKind::ALL.len(), "codes are distinct");
        for k in [RecipientKind::Certificato, RecipientKind::Esterno] {
            assert_eq!(k.as_str().parse::<RecipientKind>(), Ok(k));
        }
        assert_eq!("breve".parse::<ReceiptType>(), Ok(ReceiptType::Breve));
        for bad in [
            "",
            "ACCETTAZIONE",
            "accettazione ",
            "avvenuta-consegna",
            "x",
        ] {
            assert!(bad.parse::<MessageKind>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "Certificato".parse::<RecipientKind>(),
            Err(UnknownName::new("recipient kind", "Certificato"))
        );
        assert!("completissima".parse::<ReceiptType>().is_err());
    }
}
