//! The human-readable part of every PEC message (RFC 6109 §3, models in pec-spec §7), in
//! Italian by default and in English. The same lines give the text/plain and the text/html
//! alternative, so both always carry the same information.

use crate::kind::{MessageKind, ReceiptType, RecipientKind, TimeoutStage};
use crate::time::PecTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    It,
    En,
}

/// What the text of a message talks about.
pub struct TextFacts<'a> {
    pub time: PecTime,
    pub subject: &'a str,
    pub sender: &'a str,
    /// Recipients the message concerns, with their kind.
    pub recipients: &'a [(String, RecipientKind)],
    pub identificativo: &'a str,
    /// Error descriptions (non-acceptance, non-delivery, anomaly) or the virus found.
    pub errors: &'a [String],
}

/// Title and lines of the body.
pub fn body(kind: MessageKind, lang: Lang, f: &TextFacts<'_>) -> (String, Vec<String>) {
    match lang {
        Lang::It => italian(kind, f),
        Lang::En => english(kind, f),
    }
}

fn when_it(t: &PecTime) -> String {
    format!(
        "Il giorno {} alle ore {} ({})",
        t.giorno(),
        t.ora(),
        t.zona()
    )
}

fn when_en(t: &PecTime) -> String {
    format!("On {} at {} ({})", t.giorno(), t.ora(), t.zona())
}

fn recipient_lines(f: &TextFacts<'_>, certified: &str, ordinary: &str) -> Vec<String> {
    f.recipients
        .iter()
        .map(|(a, k)| match k {
            RecipientKind::Certificato => format!("{a} (\"{certified}\")"),
            RecipientKind::Esterno => format!("{a} (\"{ordinary}\")"),
        })
        .collect()
}

fn first_recipient<'a>(f: &'a TextFacts<'_>) -> &'a str {
    f.recipients.first().map(|(a, _)| a.as_str()).unwrap_or("")
}

fn italian(kind: MessageKind, f: &TextFacts<'_>) -> (String, Vec<String>) {
    let when = when_it(&f.time);
    let subj = f.subject;
    let from = f.sender;
    let id = format!("Identificativo del messaggio: {}", f.identificativo);
    let dati =
        "L'allegato daticert.xml contiene informazioni di servizio sulla trasmissione.".to_string();
    let rcpts = recipient_lines(f, "posta certificata", "posta ordinaria");
    let errors: Vec<String> = f.errors.iter().map(|e| format!("- {e}")).collect();
    let one = first_recipient(f);
    let mut l: Vec<String> = Vec::new();
    let title = match kind {
        MessageKind::TransportEnvelope => {
            l.push(format!("{when} il messaggio con Oggetto \"{subj}\" è stato inviato da \"{from}\" e indirizzato a:"));
            l.extend(rcpts);
            l.push("Il messaggio originale è incluso in allegato (postacert.eml).".into());
            l.push(dati);
            l.push(id);
            "Messaggio di posta certificata"
        }
        MessageKind::AnomalyEnvelope => {
            l.push(format!("{when} è stato ricevuto il messaggio con Oggetto \"{subj}\" inviato da \"{from}\"."));
            l.push("I dati non sono stati certificati per il seguente errore:".into());
            l.extend(errors);
            l.push("Il messaggio originale è incluso in allegato.".into());
            "Anomalia nel messaggio"
        }
        MessageKind::Acceptance => {
            l.push(format!(
                "{when} il messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e indirizzato a:"
            ));
            l.extend(rcpts);
            l.push("è stato accettato dal sistema ed inoltrato.".into());
            l.push(id);
            l.push(dati);
            "Ricevuta di accettazione"
        }
        MessageKind::NonAcceptance => {
            l.push(format!("{when} nel messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e indirizzato a:"));
            l.extend(rcpts);
            l.push(
                "è stato rilevato un problema che ne impedisce l'accettazione a causa di:".into(),
            );
            l.extend(errors);
            l.push("Il messaggio non è stato accettato.".into());
            l.push(id);
            "Avviso di non accettazione"
        }
        MessageKind::NonAcceptanceVirus => {
            l.push(format!("{when} nel messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e indirizzato a:"));
            l.extend(rcpts);
            l.push("è stato rilevato un problema di sicurezza (virus informatico):".into());
            l.extend(errors);
            l.push("Il messaggio non è stato accettato.".into());
            l.push(id);
            "Avviso di non accettazione per virus"
        }
        MessageKind::TakenInCharge => {
            l.push(format!(
                "{when} il messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato a:"
            ));
            l.extend(f.recipients.iter().map(|(a, _)| a.clone()));
            l.push("è stato accettato dal sistema (presa in carico).".into());
            l.push(id);
            "Ricevuta di presa in carico"
        }
        MessageKind::VirusDetected => {
            l.push(format!("{when} nel messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato all'utente \"{one}\" è stato rilevato un problema di sicurezza (virus informatico):"));
            l.extend(errors);
            l.push("Il messaggio non è stato consegnato.".into());
            l.push(id);
            "Avviso di rilevazione virus"
        }
        MessageKind::Delivery(rt) => {
            l.push(format!("{when} il messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e indirizzato a \"{one}\""));
            l.push("è stato correttamente consegnato al destinatario.".into());
            match rt {
                ReceiptType::Completa => l.push("Il messaggio originale è incluso in allegato (postacert.eml).".into()),
                ReceiptType::Breve => l.push("In allegato il messaggio originale, i cui allegati sono sostituiti dalla loro impronta SHA-1 (file .hash).".into()),
                ReceiptType::Sintetica => {}
            }
            l.push(id);
            l.push(dati);
            match rt {
                ReceiptType::Completa => "Ricevuta di avvenuta consegna",
                ReceiptType::Breve => "Ricevuta breve di avvenuta consegna",
                ReceiptType::Sintetica => "Ricevuta sintetica di avvenuta consegna",
            }
        }
        MessageKind::NonDelivery => {
            l.push(format!("{when} nel messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato all'utente \"{one}\" è stato rilevato il seguente errore:"));
            l.extend(errors);
            l.push("Il messaggio è stato rifiutato dal sistema.".into());
            l.push(id);
            "Avviso di mancata consegna"
        }
        MessageKind::NonDeliveryVirus => {
            l.push(format!("{when} nel messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato all'utente \"{one}\" è stato rilevato un problema di sicurezza (virus informatico):"));
            l.extend(errors);
            l.push("Il messaggio non è stato consegnato.".into());
            l.push(id);
            "Avviso di mancata consegna per virus"
        }
        MessageKind::DeliveryTimeout(TimeoutStage::Hours12) => {
            l.push(format!("{when} si avvisa che il messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato all'utente \"{one}\""));
            l.push("non è stato consegnato entro le prime 12 ore dal suo invio.".into());
            l.push("Non si esclude che il messaggio possa essere consegnato in seguito, ma si ritiene opportuno considerare che l'invio potrebbe non avere esito positivo.".into());
            l.push("Il sistema invierà un ulteriore avviso se nelle successive 12 ore non riceverà la conferma di consegna dal gestore del destinatario.".into());
            l.push(id);
            "Avviso di mancata consegna per superamento tempo massimo (12 ore)"
        }
        MessageKind::DeliveryTimeout(TimeoutStage::Hours24) => {
            l.push(format!("{when} si avvisa che il messaggio con Oggetto \"{subj}\" inviato da \"{from}\" e destinato all'utente \"{one}\""));
            l.push("non è stato consegnato entro 24 ore dal suo invio.".into());
            l.push("La transazione è da considerarsi conclusa con esito negativo.".into());
            l.push(id);
            "Avviso di mancata consegna per superamento tempo massimo (24 ore)"
        }
    };
    (title.to_string(), l)
}

fn english(kind: MessageKind, f: &TextFacts<'_>) -> (String, Vec<String>) {
    let when = when_en(&f.time);
    let subj = f.subject;
    let from = f.sender;
    let id = format!("Message identifier: {}", f.identificativo);
    let dati =
        "The attached daticert.xml holds the certification data of the transmission.".to_string();
    let rcpts = recipient_lines(f, "certified mail", "ordinary mail");
    let errors: Vec<String> = f.errors.iter().map(|e| format!("- {e}")).collect();
    let one = first_recipient(f);
    let mut l: Vec<String> = Vec::new();
    let title = match kind {
        MessageKind::TransportEnvelope => {
            l.push(format!(
                "{when} the message \"{subj}\" was sent by \"{from}\" and addressed to:"
            ));
            l.extend(rcpts);
            l.push("The original message is included in attachment (postacert.eml).".into());
            l.push(dati);
            l.push(id);
            "Certified mail message"
        }
        MessageKind::AnomalyEnvelope => {
            l.push(format!(
                "{when} the message \"{subj}\" originating from \"{from}\" was received."
            ));
            l.push("The data has not been certified due to the following error:".into());
            l.extend(errors);
            l.push("The original message is attached.".into());
            "Message anomaly"
        }
        MessageKind::Acceptance => {
            l.push(format!(
                "{when} the message \"{subj}\" originating from \"{from}\" and addressed to:"
            ));
            l.extend(rcpts);
            l.push("was accepted by the system and forwarded to the recipient(s).".into());
            l.push(id);
            l.push(dati);
            "Acceptance receipt"
        }
        MessageKind::NonAcceptance => {
            l.push(format!(
                "{when} in the message \"{subj}\" originating from \"{from}\" and addressed to:"
            ));
            l.extend(rcpts);
            l.push("a problem was detected that prevents its acceptance due to:".into());
            l.extend(errors);
            l.push("The message was not accepted.".into());
            l.push(id);
            "Non-acceptance notice"
        }
        MessageKind::NonAcceptanceVirus => {
            l.push(format!(
                "{when} in the message \"{subj}\" originating from \"{from}\" and addressed to:"
            ));
            l.extend(rcpts);
            l.push("a security problem (computer virus) was detected:".into());
            l.extend(errors);
            l.push("The message was not accepted.".into());
            l.push(id);
            "Non-acceptance notice due to virus"
        }
        MessageKind::TakenInCharge => {
            l.push(format!(
                "{when} the message \"{subj}\" originating from \"{from}\" and addressed to:"
            ));
            l.extend(f.recipients.iter().map(|(a, _)| a.clone()));
            l.push("was accepted by the system (taken in charge).".into());
            l.push(id);
            "Taken-in-charge receipt"
        }
        MessageKind::VirusDetected => {
            l.push(format!("{when} in the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\" a security problem (computer virus) was detected:"));
            l.extend(errors);
            l.push("The message was not delivered.".into());
            l.push(id);
            "Virus detection notice"
        }
        MessageKind::Delivery(rt) => {
            l.push(format!("{when} the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\""));
            l.push("was successfully delivered to the recipient.".into());
            match rt {
                ReceiptType::Completa => l.push("The original message is included in attachment (postacert.eml).".into()),
                ReceiptType::Breve => l.push("The original message is attached with its attachments replaced by their SHA-1 fingerprints (.hash files).".into()),
                ReceiptType::Sintetica => {}
            }
            l.push(id);
            l.push(dati);
            match rt {
                ReceiptType::Completa => "Delivery receipt",
                ReceiptType::Breve => "Brief delivery receipt",
                ReceiptType::Sintetica => "Concise delivery receipt",
            }
        }
        MessageKind::NonDelivery => {
            l.push(format!("{when} in the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\" the following error was detected:"));
            l.extend(errors);
            l.push("The message was refused by the system.".into());
            l.push(id);
            "Non-delivery notice"
        }
        MessageKind::NonDeliveryVirus => {
            l.push(format!("{when} in the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\" a security problem (computer virus) was detected:"));
            l.extend(errors);
            l.push("The message was not delivered.".into());
            l.push(id);
            "Non-delivery notice due to virus"
        }
        MessageKind::DeliveryTimeout(TimeoutStage::Hours12) => {
            l.push(format!("{when}: the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\""));
            l.push(
                "has not been delivered within the first 12 hours following its dispatch.".into(),
            );
            l.push("Not excluding that the message might eventually be delivered, it is deemed useful to consider that dispatch might not have a positive outcome.".into());
            l.push("The system will send another notice if in the following twelve hours no confirmation is received from the recipient's provider.".into());
            l.push(id);
            "Delivery timeout notice (12 hours)"
        }
        MessageKind::DeliveryTimeout(TimeoutStage::Hours24) => {
            l.push(format!("{when}: the message \"{subj}\" originating from \"{from}\" and addressed to \"{one}\""));
            l.push("has not been delivered within 24 hours of its dispatch.".into());
            l.push("The transaction is deemed to be terminated with a negative outcome.".into());
            l.push(id);
            "Delivery timeout notice (24 hours)"
        }
    };
    (title.to_string(), l)
}

/// The text/plain alternative.
pub fn plain(title: &str, lines: &[String]) -> String {
    let mut s = format!("-- {title} --\n\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The text/html alternative: the same lines, escaped, with no reference to anything outside
/// the message and no active content (RFC 6109 §4.3).
pub fn html(title: &str, lines: &[String]) -> String {
    let mut s = format!(
        "<html>\n<head><title>{t}</title></head>\n<body>\n<h3>{t}</h3>\n<hr>\n",
        t = html_escape(title)
    );
    for l in lines {
        s.push_str(&html_escape(l));
        s.push_str("<br>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// HTML escaping; characters outside Latin-1 become numeric references so that the
/// ISO-8859-1 HTML part loses nothing.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) >= 0x100 => out.push_str(&format!("&#{};", c as u32)),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The 12 h and 24 h notices share their headers; their text tells them apart.
pub fn timeout_stage_of(text: &str) -> TimeoutStage {
    let t = text.to_ascii_lowercase();
    if t.contains("entro 24 ore")
        || t.contains("within 24 hours")
        || t.contains("24 ore") && !t.contains("12 ore")
    {
        TimeoutStage::Hours24
    } else {
        TimeoutStage::Hours12
    }
}
