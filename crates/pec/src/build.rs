//! Builders for every PEC message (RFC 6109 §3): the exact headers, the Italian subject
//! prefixes, the multipart/mixed body (text, daticert.xml, postacert.eml where the kind
//! requires it), ready to be signed by [`crate::smime::Signer`].

use crate::breve;
use crate::daticert::{DatiCert, Destinatario};
use crate::headers;
use crate::kind::{ErrorCode, MessageKind, ReceiptType, RecipientKind, TimeoutStage};
use crate::smime::{boundary_for, Signer, SmimeError};
use crate::text::{self, Lang, TextFacts};
use crate::time::PecTime;
use crate::wire;
use sha1::{Digest, Sha1};

/// Who certifies: the name written in `gestore-emittente` and the provider's mail domain,
/// whose service address `posta-certificata@<domain>` signs and sends every notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIdentity {
    pub name: String,
    pub domain: String,
}

impl ProviderIdentity {
    pub fn new(name: impl Into<String>, domain: impl Into<String>) -> Self {
        ProviderIdentity {
            name: name.into(),
            domain: domain.into(),
        }
    }

    /// RFC 6109 §2.2.6, as every real provider spells it.
    pub fn service_address(&self) -> String {
        format!("posta-certificata@{}", self.domain)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub kind: RecipientKind,
    /// In `To:` (primary) rather than only in `Cc:`.
    pub primary: bool,
}

/// The certification data of one PEC transaction: what every message about it repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// PEC identifier of the transport envelope, without angle brackets.
    pub identificativo: String,
    /// The instant certified by the message being built.
    pub time: PecTime,
    /// SMTP reverse-path of the original.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    pub reply_to: String,
    /// Original subject, decoded.
    pub subject: String,
    /// Client Message-ID, with angle brackets.
    pub msgid: Option<String>,
    pub receipt_type: ReceiptType,
}

impl Transaction {
    /// The transaction an original message opens at the access point. `is_certified` says
    /// whether a recipient's domain belongs to a PEC provider (the provider index).
    pub fn from_original(
        original: &[u8],
        reverse_path: &str,
        forward_paths: &[String],
        identificativo: String,
        time: PecTime,
        is_certified: impl Fn(&str) -> bool,
    ) -> Transaction {
        let parsed = mail_parser::MessageParser::default().parse_headers(original);
        let subject = parsed
            .as_ref()
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_default();
        let to: Vec<String> = parsed
            .as_ref()
            .and_then(|m| m.to())
            .map(crate::parse::addresses)
            .unwrap_or_default();
        let reply_to = parsed
            .as_ref()
            .and_then(|m| m.reply_to())
            .map(crate::parse::addresses)
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| reverse_path.to_string());
        let msgid = headers::get(original, "Message-ID").filter(|m| !m.is_empty());
        let receipt_type = headers::get(original, "X-TipoRicevuta")
            .and_then(|v| ReceiptType::parse(&v))
            .unwrap_or_default();
        let recipients = forward_paths
            .iter()
            .map(|r| Recipient {
                address: r.clone(),
                kind: if is_certified(domain_of(r)) {
                    RecipientKind::Certificato
                } else {
                    RecipientKind::Esterno
                },
                // RFC 6109 §3.3.2.1: when To/Cc is ambiguous the recipient is primary.
                primary: to.iter().any(|t| t.eq_ignore_ascii_case(r))
                    || !crate::parse::listed_in_cc(original, r),
            })
            .collect();
        Transaction {
            identificativo,
            time,
            sender: reverse_path.to_string(),
            recipients,
            reply_to,
            subject,
            msgid,
            receipt_type,
        }
    }

    /// The transaction as a receiving provider knows it, from the envelope's daticert.xml.
    pub fn from_daticert(d: &DatiCert, time: PecTime, to_header: &[String]) -> Transaction {
        Transaction {
            identificativo: d.identificativo.clone(),
            time,
            sender: d.mittente.clone(),
            recipients: d
                .destinatari
                .iter()
                .map(|x| Recipient {
                    address: x.address.clone(),
                    kind: x.tipo,
                    primary: to_header.is_empty()
                        || to_header.iter().any(|t| t.eq_ignore_ascii_case(&x.address)),
                })
                .collect(),
            reply_to: d.risposte.clone(),
            subject: d.oggetto.clone().unwrap_or_default(),
            msgid: d.msgid.clone(),
            receipt_type: d.ricevuta.unwrap_or_default(),
        }
    }

    /// The same transaction certified at another instant (a receipt issued later).
    pub fn at(&self, time: PecTime) -> Transaction {
        Transaction {
            time,
            ..self.clone()
        }
    }

    fn recipient(&self, address: &str) -> Recipient {
        self.recipients
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(address))
            .cloned()
            .unwrap_or(Recipient {
                address: address.to_string(),
                kind: RecipientKind::Certificato,
                primary: true,
            })
    }
}

/// The domain of an address (after the last `@`).
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// A PEC identifier (RFC 6109 §2.2.1: `[alphanumeric string]@[provider mail domain]`),
/// unique given a unique `serial` within the second.
pub fn new_identificativo(time: PecTime, serial: u64, domain: &str) -> String {
    format!("certa.{}.{serial:016x}@{domain}", time.compact())
}

/// A message ready to be signed: its outer headers and the multipart/mixed entity.
#[derive(Clone, Debug)]
pub struct UnsignedMessage {
    pub kind: MessageKind,
    pub message_id: String,
    /// Envelope recipients (RCPT TO) of this message.
    pub rcpt_to: Vec<String>,
    /// Envelope sender (MAIL FROM).
    pub mail_from: String,
    /// The time certified, also the signing time.
    pub time: PecTime,
    /// The decoded Subject, and the From address, as written in the headers.
    pub subject: String,
    pub from: String,
    /// The transaction's PEC identifier (none for an anomaly envelope).
    pub identificativo: Option<String>,
    headers: String,
    entity: Vec<u8>,
}

impl UnsignedMessage {
    /// The signed message, as sent.
    pub fn sign(&self, signer: &Signer) -> Result<Vec<u8>, SmimeError> {
        signer.sign_message(self.headers.as_bytes(), &self.entity, self.time)
    }

    /// The exact bytes the signature covers.
    pub fn entity(&self) -> &[u8] {
        &self.entity
    }
}

/// What a builder needs besides the transaction.
pub struct Builder<'a> {
    pub provider: &'a ProviderIdentity,
    pub lang: Lang,
}

impl<'a> Builder<'a> {
    pub fn new(provider: &'a ProviderIdentity) -> Self {
        Builder {
            provider,
            lang: Lang::It,
        }
    }

    /// Busta di trasporto (RFC 6109 §3.1.5): the original inside as `postacert.eml`, with the
    /// PEC identifier as its Message-ID and the client's kept as X-Riferimento-Message-ID.
    pub fn transport_envelope(&self, tx: &Transaction, original: &[u8]) -> UnsignedMessage {
        let original = wire::to_crlf(original);
        let carried =
            headers::rewrite_message_id(&original, &tx.identificativo, tx.msgid.as_deref());
        let mut h = String::new();
        for f in headers::fields(&original) {
            if ["Received", "To", "Cc"]
                .iter()
                .any(|n| f.name.eq_ignore_ascii_case(n))
            {
                h.push_str(&String::from_utf8_lossy(&original[f.start..f.end]));
            }
        }
        h.push_str(&wire::raw_header("X-Trasporto", "posta-certificata"));
        h.push_str(&wire::raw_header("Date", &tx.time.rfc5322()));
        h.push_str(&wire::header(
            "Subject",
            &format!("POSTA CERTIFICATA: {}", tx.subject),
        ));
        h.push_str(&self.on_behalf_from(&tx.sender));
        h.push_str(&wire::raw_header("Reply-To", &tx.reply_to));
        h.push_str(&wire::raw_header(
            "Message-ID",
            &format!("<{}>", tx.identificativo),
        ));
        if let Some(m) = &tx.msgid {
            h.push_str(&wire::raw_header("X-Riferimento-Message-ID", m));
        }
        h.push_str(&wire::raw_header(
            "X-TipoRicevuta",
            tx.receipt_type.as_str(),
        ));
        let kind = MessageKind::TransportEnvelope;
        let dati = self.daticert(kind, tx, None, ErrorCode::Nessuno, None, &[]);
        let rcpts = all_recipients(tx);
        let entity = self.entity(kind, tx, &rcpts, &[], Some(&dati), Some(&carried));
        UnsignedMessage {
            kind,
            message_id: tx.identificativo.clone(),
            rcpt_to: tx.recipients.iter().map(|r| r.address.clone()).collect(),
            mail_from: tx.sender.clone(),
            time: tx.time,
            subject: format!("POSTA CERTIFICATA: {}", tx.subject),
            from: self.provider.service_address(),
            identificativo: Some(tx.identificativo.clone()),
            headers: h,
            entity,
        }
    }

    /// Ricevuta di accettazione (RFC 6109 §3.1.4).
    pub fn acceptance(&self, tx: &Transaction) -> UnsignedMessage {
        let kind = MessageKind::Acceptance;
        let rcpts = all_recipients(tx);
        self.notice(
            kind,
            tx,
            &tx.sender,
            &rcpts,
            None,
            ErrorCode::Nessuno,
            None,
            &[],
            None,
            &[],
        )
    }

    /// Avviso di non accettazione (RFC 6109 §3.1.2, §3.1.3): `reasons` are the formal errors,
    /// or the virus found when `virus` is true. The original is never included.
    pub fn non_acceptance(
        &self,
        tx: &Transaction,
        reasons: &[String],
        virus: bool,
    ) -> UnsignedMessage {
        let (kind, code) = if virus {
            (MessageKind::NonAcceptanceVirus, ErrorCode::Virus)
        } else {
            (MessageKind::NonAcceptance, ErrorCode::Altro)
        };
        let rcpts = all_recipients(tx);
        let extended = reasons.join("; ");
        self.notice(
            kind,
            tx,
            &tx.sender,
            &rcpts,
            None,
            code,
            Some(&extended),
            reasons,
            None,
            &[],
        )
    }

    /// Ricevuta di presa in carico (RFC 6109 §3.2.1), sent to the sender provider's service
    /// mailbox (`mail_receipt` in the index), for the recipients this provider took.
    pub fn taken_in_charge(
        &self,
        tx: &Transaction,
        mail_receipt: &str,
        taken: &[String],
    ) -> UnsignedMessage {
        let kind = MessageKind::TakenInCharge;
        let rcpts: Vec<(String, RecipientKind)> = taken
            .iter()
            .map(|a| (a.clone(), tx.recipient(a).kind))
            .collect();
        self.notice(
            kind,
            tx,
            mail_receipt,
            &rcpts,
            None,
            ErrorCode::Nessuno,
            None,
            &[],
            None,
            taken,
        )
    }

    /// Avviso di rilevazione virus (RFC 6109 §3.2.3), to the sender provider's service
    /// mailbox, one per local recipient.
    pub fn virus_detected(
        &self,
        tx: &Transaction,
        mail_receipt: &str,
        recipient: &str,
        virus: &str,
    ) -> UnsignedMessage {
        let kind = MessageKind::VirusDetected;
        let rcpts = vec![(recipient.to_string(), tx.recipient(recipient).kind)];
        let errors = vec![virus.to_string()];
        let mut m = self.notice(
            kind,
            tx,
            mail_receipt,
            &rcpts,
            Some(recipient),
            ErrorCode::Virus,
            Some(virus),
            &errors,
            None,
            &[],
        );
        m.headers = format!(
            "{}{}",
            wire::raw_header("X-Mittente", &tx.sender),
            m.headers
        );
        m
    }

    /// Ricevuta di avvenuta consegna (RFC 6109 §3.3.2) for one recipient. `original` is the
    /// postacert.eml of the envelope; the receipt type is the one this recipient gets
    /// (completa or breve for To, sintetica for Cc).
    pub fn delivery(&self, tx: &Transaction, recipient: &str, original: &[u8]) -> UnsignedMessage {
        let r = tx.recipient(recipient);
        let rt = tx.receipt_type.for_recipient(r.primary);
        let kind = MessageKind::Delivery(rt);
        let carried = match rt {
            ReceiptType::Completa => Some(wire::to_crlf(original)),
            ReceiptType::Breve => Some(breve::transform(&wire::to_crlf(original))),
            ReceiptType::Sintetica => None,
        };
        let rcpts = vec![(r.address.clone(), r.kind)];
        self.notice_with_receipt(kind, tx, &rcpts, recipient, carried.as_deref())
    }

    /// Avviso di mancata consegna (RFC 6109 §3.3.3, §3.2.4) for one recipient.
    pub fn non_delivery(
        &self,
        tx: &Transaction,
        recipient: &str,
        code: ErrorCode,
        description: &str,
    ) -> UnsignedMessage {
        let kind = if code == ErrorCode::Virus {
            MessageKind::NonDeliveryVirus
        } else {
            MessageKind::NonDelivery
        };
        let rcpts = vec![(recipient.to_string(), tx.recipient(recipient).kind)];
        let errors = vec![description.to_string()];
        self.notice(
            kind,
            tx,
            &tx.sender,
            &rcpts,
            Some(recipient),
            code,
            Some(description),
            &errors,
            None,
            &[],
        )
    }

    /// Avviso di mancata consegna per superamento tempo massimo (RFC 6109 §3.1.6), to the
    /// sender, for one recipient.
    pub fn delivery_timeout(
        &self,
        tx: &Transaction,
        recipient: &str,
        stage: TimeoutStage,
    ) -> UnsignedMessage {
        let kind = MessageKind::DeliveryTimeout(stage);
        let rcpts = vec![(recipient.to_string(), tx.recipient(recipient).kind)];
        let (code, ext) = match stage {
            TimeoutStage::Hours12 => (ErrorCode::Nessuno, None),
            TimeoutStage::Hours24 => (
                ErrorCode::Altro,
                Some("Superamento del tempo massimo di consegna (24 ore)"),
            ),
        };
        self.notice(
            kind,
            tx,
            &tx.sender,
            &rcpts,
            Some(recipient),
            code,
            ext,
            &[],
            None,
            &[],
        )
    }

    /// Busta di anomalia (RFC 6109 §3.2.2): the received message whole, no daticert.xml, its
    /// Message-ID kept. `time` is the arrival time, `sender` the reverse path it came from.
    pub fn anomaly_envelope(
        &self,
        received: &[u8],
        sender: &str,
        time: PecTime,
        error: &str,
    ) -> UnsignedMessage {
        let received = wire::to_crlf(received);
        let fs = headers::fields(&received);
        let mut h = String::new();
        let mut message_id = String::new();
        let mut has_reply_to = false;
        for f in &fs {
            let keep = ["Received", "To", "Cc", "Message-ID", "Reply-To"]
                .iter()
                .any(|n| f.name.eq_ignore_ascii_case(n));
            if keep {
                h.push_str(&String::from_utf8_lossy(&received[f.start..f.end]));
            }
            if f.name.eq_ignore_ascii_case("Message-ID") {
                message_id = f
                    .unfolded()
                    .trim_matches(|c| c == '<' || c == '>')
                    .to_string();
            }
            has_reply_to |= f.name.eq_ignore_ascii_case("Reply-To");
        }
        let subject = mail_parser::MessageParser::default()
            .parse_headers(&received)
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_default();
        h.push_str(&wire::raw_header("X-Trasporto", "errore"));
        h.push_str(&wire::raw_header("Date", &time.rfc5322()));
        h.push_str(&wire::header(
            "Subject",
            &format!("ANOMALIA MESSAGGIO: {subject}"),
        ));
        h.push_str(&self.on_behalf_from(sender));
        if !has_reply_to {
            h.push_str(&wire::raw_header("Reply-To", sender));
        }
        if message_id.is_empty() {
            message_id = derived_id(
                "anomalia",
                &hex::encode(Sha1::digest(&received)),
                &self.provider.domain,
            );
            h.push_str(&wire::raw_header("Message-ID", &format!("<{message_id}>")));
        }
        let kind = MessageKind::AnomalyEnvelope;
        let tx = Transaction {
            identificativo: message_id.clone(),
            time,
            sender: sender.to_string(),
            recipients: vec![],
            reply_to: sender.to_string(),
            subject,
            msgid: None,
            receipt_type: ReceiptType::Completa,
        };
        let errors = vec![error.to_string()];
        let entity = self.entity(kind, &tx, &[], &errors, None, Some(&received));
        UnsignedMessage {
            kind,
            message_id,
            rcpt_to: vec![],
            mail_from: sender.to_string(),
            time,
            subject: format!("ANOMALIA MESSAGGIO: {}", tx.subject),
            from: self.provider.service_address(),
            identificativo: None,
            headers: h,
            entity,
        }
    }

    fn on_behalf_from(&self, sender: &str) -> String {
        wire::raw_header(
            "From",
            &format!(
                "{} <{}>",
                wire::quoted(&format!("Per conto di: {sender}")),
                self.provider.service_address()
            ),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn notice(
        &self,
        kind: MessageKind,
        tx: &Transaction,
        to: &str,
        rcpts: &[(String, RecipientKind)],
        consegna: Option<&str>,
        code: ErrorCode,
        errore_esteso: Option<&str>,
        errors: &[String],
        carried: Option<&[u8]>,
        ricezione: &[String],
    ) -> UnsignedMessage {
        let dati = self.daticert(kind, tx, consegna, code, errore_esteso, ricezione);
        let entity = self.entity(kind, tx, rcpts, errors, Some(&dati), carried);
        self.wrap_notice(kind, tx, to, consegna.unwrap_or(""), entity)
    }

    fn notice_with_receipt(
        &self,
        kind: MessageKind,
        tx: &Transaction,
        rcpts: &[(String, RecipientKind)],
        recipient: &str,
        carried: Option<&[u8]>,
    ) -> UnsignedMessage {
        // DTD: `ricevuta` "indica il tipo di ricevuta richiesto dal mittente".
        let mut dati = self.daticert(kind, tx, Some(recipient), ErrorCode::Nessuno, None, &[]);
        dati.ricevuta = Some(tx.receipt_type);
        let entity = self.entity(kind, tx, rcpts, &[], Some(&dati), carried);
        self.wrap_notice(kind, tx, &tx.sender, recipient, entity)
    }

    fn wrap_notice(
        &self,
        kind: MessageKind,
        tx: &Transaction,
        to: &str,
        about: &str,
        entity: Vec<u8>,
    ) -> UnsignedMessage {
        let message_id = derived_id(
            kind.code(),
            &format!("{}\n{about}", tx.identificativo),
            &self.provider.domain,
        );
        let mut h = String::new();
        if let Some(v) = kind.x_ricevuta() {
            h.push_str(&wire::raw_header("X-Ricevuta", v));
        }
        if kind.is_virus_notice() {
            h.push_str(&wire::raw_header("X-VerificaSicurezza", "errore"));
        }
        h.push_str(&wire::raw_header("Date", &tx.time.rfc5322()));
        h.push_str(&wire::header(
            "Subject",
            &format!("{}{}", kind.subject_prefix(), tx.subject),
        ));
        h.push_str(&wire::raw_header("From", &self.provider.service_address()));
        h.push_str(&wire::raw_header("To", to));
        if let Some(m) = &tx.msgid {
            h.push_str(&wire::raw_header("X-Riferimento-Message-ID", m));
        }
        h.push_str(&wire::raw_header("Message-ID", &format!("<{message_id}>")));
        UnsignedMessage {
            kind,
            message_id,
            rcpt_to: vec![to.to_string()],
            mail_from: self.provider.service_address(),
            time: tx.time,
            subject: format!("{}{}", kind.subject_prefix(), tx.subject),
            from: self.provider.service_address(),
            identificativo: Some(tx.identificativo.clone()),
            headers: h,
            entity,
        }
    }

    fn daticert(
        &self,
        kind: MessageKind,
        tx: &Transaction,
        consegna: Option<&str>,
        errore: ErrorCode,
        errore_esteso: Option<&str>,
        ricezione: &[String],
    ) -> DatiCert {
        DatiCert {
            // Every kind but the anomaly envelope has a tipo; the anomaly never gets here.
            tipo: kind
                .daticert_tipo()
                .unwrap_or(crate::kind::DatiCertTipo::PostaCertificata),
            errore,
            mittente: tx.sender.clone(),
            destinatari: tx
                .recipients
                .iter()
                .map(|r| Destinatario {
                    address: r.address.clone(),
                    tipo: r.kind,
                })
                .collect(),
            risposte: tx.reply_to.clone(),
            oggetto: Some(tx.subject.clone()),
            gestore_emittente: self.provider.name.clone(),
            data: tx.time,
            identificativo: tx.identificativo.clone(),
            msgid: tx.msgid.clone(),
            ricevuta: matches!(kind, MessageKind::TransportEnvelope).then_some(tx.receipt_type),
            consegna: consegna.map(str::to_string),
            ricezione: ricezione.to_vec(),
            errore_esteso: errore_esteso.map(str::to_string),
        }
    }

    /// RFC 6109 §4.3: multipart/mixed of the text (ISO-8859-1, text/plain + text/html),
    /// daticert.xml (UTF-8) and, where the kind requires it, the original as message/rfc822.
    fn entity(
        &self,
        kind: MessageKind,
        tx: &Transaction,
        rcpts: &[(String, RecipientKind)],
        errors: &[String],
        dati: Option<&DatiCert>,
        carried: Option<&[u8]>,
    ) -> Vec<u8> {
        let facts = TextFacts {
            time: tx.time,
            subject: &tx.subject,
            sender: &tx.sender,
            recipients: rcpts,
            identificativo: &tx.identificativo,
            errors,
        };
        let (title, lines) = text::body(kind, self.lang, &facts);
        let plain = wire::quoted_printable(&text::plain(&title, &lines));
        let html = wire::quoted_printable(&text::html(&title, &lines));
        let xml = dati.map(|d| wire::base64_lines(d.to_xml().as_bytes()));
        let carried = carried.unwrap_or(&[]);
        let outer = boundary_for(&[carried, &plain, &html], "mixed");
        let inner = boundary_for(&[&plain, &html], "alt");

        let mut e = Vec::with_capacity(plain.len() + html.len() + carried.len() + 2048);
        e.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"{outer}\"\r\n\r\n").as_bytes(),
        );
        e.extend_from_slice(b"This is a multi-part message in MIME format.\r\n");
        e.extend_from_slice(
            format!(
                "--{outer}\r\nContent-Type: multipart/alternative; boundary=\"{inner}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        for (subtype, body) in [("plain", &plain), ("html", &html)] {
            e.extend_from_slice(
                format!("--{inner}\r\nContent-Type: text/{subtype}; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n").as_bytes(),
            );
            e.extend_from_slice(body);
            e.extend_from_slice(b"\r\n");
        }
        e.extend_from_slice(format!("--{inner}--\r\n").as_bytes());
        if let Some(xml) = xml {
            e.extend_from_slice(
                format!("--{outer}\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: inline; filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").as_bytes(),
            );
            e.extend_from_slice(&xml);
        }
        if kind.carries_original() && !carried.is_empty() {
            e.extend_from_slice(
                format!(
                    "--{outer}\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: inline; filename=\"postacert.eml\"\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                    wire::identity_encoding(carried)
                )
                .as_bytes(),
            );
            // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1),
            // so the part holds `carried` exactly, its own last line break included.
            e.extend_from_slice(carried);
            e.extend_from_slice(b"\r\n");
        }
        e.extend_from_slice(format!("--{outer}--\r\n").as_bytes());
        e
    }
}

fn all_recipients(tx: &Transaction) -> Vec<(String, RecipientKind)> {
    tx.recipients
        .iter()
        .map(|r| (r.address.clone(), r.kind))
        .collect()
}

/// A receipt's own Message-ID, derived from what it is about, so that building it again (after
/// a crash) gives the same identifier and duplicates can be recognised.
pub fn derived_id(tag: &str, about: &str, domain: &str) -> String {
    let h = hex::encode(Sha1::digest(about.as_bytes()));
    format!("{tag}.{}@{domain}", &h[..20])
}
