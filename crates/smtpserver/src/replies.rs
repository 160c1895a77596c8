//! The SMTP reply (RFC 5321 §4.2, enhanced codes RFC 3463) each outcome of the services
//! gets. The text is the outcome's own ([`std::fmt::Display`]), the same the webmail shows;
//! the codes are said here only: 2xx taken (on disk), 4xx try again later, 5xx never.

use services::accounts::RateLimited;
use services::outcome::{Received, RecipientRefused, Submitted, Unavailable};
use services::principal::Denied;
use services::provider::AuthError;
use smtp::Reply;

/// The access point's outcome.
pub fn submitted(s: &Submitted) -> Reply {
    let text = s.to_string();
    match s {
        Submitted::Accepted { .. } => Reply::new(250, "2.0.0", text),
        // X.7.1: delivery not authorized, message refused (RFC 3463 §3.8).
        Submitted::NotAccepted { .. } => Reply::new(550, "5.7.1", text),
        Submitted::Virus { .. } => Reply::new(554, "5.7.1", text),
        Submitted::Denied(d) => denied(*d),
        Submitted::NotYetActive { .. } => Reply::new(550, "5.7.1", text),
        Submitted::Unavailable(u) => unavailable(u),
    }
}

/// The incoming point's outcome.
pub fn received(r: &Received) -> Reply {
    let text = r.to_string();
    match r {
        // A virus held is taken as far as the sending provider's SMTP is concerned: the
        // avviso di rilevazione virus tells it the rest (RFC 6109 §3.2.3).
        Received::TakenInCharge { .. }
        | Received::AlreadyTakenInCharge { .. }
        | Received::VirusHeld { .. }
        | Received::ReceiptDelivered
        | Received::ReceiptAlreadyDelivered
        | Received::OrdinaryTaken
        | Received::BounceReturned => Reply::new(250, "2.0.0", text),
        // X.6.0: other or undefined media error.
        Received::Unreadable(_) => Reply::new(554, "5.6.0", text),
        Received::NotCertifiedRecipient | Received::OrdinaryRefused { .. } => {
            Reply::new(550, "5.7.1", text)
        }
        Received::VirusRefused { .. } => Reply::new(554, "5.7.1", text),
        Received::Recipient(refused) => recipient_refused(refused),
        Received::Unavailable(u) => unavailable(u),
    }
}

/// RCPT TO refused on the MX (or a bounce's return address refused at DATA).
pub fn recipient_refused(r: &RecipientRefused) -> Reply {
    let text = r.to_string();
    match r {
        // RFC 5321 §3.3: 452 makes the client send this recipient in another transaction.
        RecipientRefused::MixedWithReturn => Reply::new(452, "4.5.3", text),
        RecipientRefused::RelayDenied
        | RecipientRefused::ReturnAddress(_)
        | RecipientRefused::NotABounce
        | RecipientRefused::LocalSender => Reply::new(550, "5.7.1", text),
        RecipientRefused::Unavailable => Reply::new(451, "4.3.0", text),
        // RFC 3463 §3.4: X.3.2 system not accepting network messages (yet).
        RecipientRefused::NotYetActive { soon: true, .. } => Reply::new(450, "4.3.2", text),
        RecipientRefused::NotYetActive { soon: false, .. } => Reply::new(550, "5.7.1", text),
    }
}

/// A message not taken now: the client retries (RFC 5321 §4.2.5).
fn unavailable(u: &Unavailable) -> Reply {
    let enhanced = match u {
        // X.3.0: mail system, other.
        Unavailable::Store(_) => "4.3.0",
        // X.7.0: a security check (the antivirus, RFC 6109 §5.4) could not run.
        Unavailable::Antivirus(_) => "4.7.0",
    };
    Reply::new(451, enhanced, u.to_string())
}

/// The services could not answer at all (their task ended without an outcome).
pub fn internal_error() -> Reply {
    Reply::new(451, "4.3.0", "Errore temporaneo del sistema, riprovare")
}

/// A login refused on submission (RFC 4954 §6).
pub fn login_refused(e: &AuthError) -> Reply {
    match e {
        AuthError::Throttled | AuthError::Unavailable => Reply::new(454, "4.7.0", e.to_string()),
        AuthError::Invalid => Reply::new(535, "5.7.8", "Credenziali non valide"),
        AuthError::MustChangePassword
        | AuthError::Suspended
        | AuthError::SendOnly
        | AuthError::Ended => Reply::new(535, "5.7.8", e.to_string()),
    }
}

/// A login whose principal may not send.
pub fn denied(d: Denied) -> Reply {
    Reply::new(535, "5.7.8", d.to_string())
}

/// A sender over its rate limit: a temporary refusal (RFC 3463 X.7.1), retried later.
pub fn rate_limited(e: &RateLimited) -> Reply {
    tracing::warn!(why = %e, "sending rate limit reached");
    Reply::new(450, "4.7.1", e.to_string())
}

/// MAIL FROM other than the authenticated mailbox (RFC 6109 §3.1.1).
pub fn not_the_authenticated_sender(from: &str) -> Reply {
    Reply::new(
        553,
        "5.7.1",
        format!("Il mittente deve essere la casella autenticata, non {from}"),
    )
}

/// AUTH on the MX.
pub fn no_auth_here() -> Reply {
    Reply::new(502, "5.5.1", "AUTH non disponibile su questo servizio")
}

#[cfg(test)]
mod tests {
    use super::*;
    use services::principal::Permission;
    use services::srs::SrsError;

    /// `(code, enhanced, text)` of a reply, to compare in one line.
    fn parts(r: Reply) -> (u16, &'static str, String) {
        (r.code, r.enhanced, r.text)
    }

    fn store_error() -> Unavailable {
        Unavailable::Store(std::io::Error::other("disco pieno").into())
    }

    fn antivirus_down() -> Unavailable {
        match services::antivirus::scan("/nonexistent/clamd.sock", b"x") {
            Err(e) => Unavailable::Antivirus(e),
            Ok(r) => panic!("a missing clamd scanned: {r:?}"),
        }
    }

    const CLAMD_DOWN: &str =
        "antivirus non disponibile: /nonexistent/clamd.sock: No such file or directory (os error 2)";

    #[test]
    fn access_point_outcomes() {
        let id = "opec.20250101120000.12345.1.1@pec.example.test";
        assert_eq!(
            parts(submitted(&Submitted::Accepted {
                identificativo: id.into()
            })),
            (
                250,
                "2.0.0",
                format!("Messaggio accettato, identificativo {id}")
            )
        );
        let not_accepted = submitted(&Submitted::NotAccepted {
            reasons: vec![
                "motivo uno / reason one".into(),
                "motivo due / reason two".into(),
            ],
        });
        // One reason a line of the multiline reply.
        assert_eq!(
            not_accepted.to_wire(),
            "550-5.7.1 Messaggio non accettato (avviso di non accettazione inviato) / Message \
             not accepted (notice of non-acceptance sent):\r\n\
             550-5.7.1 motivo uno / reason one\r\n\
             550 5.7.1 motivo due / reason two\r\n"
        );
        assert_eq!(
            parts(submitted(&Submitted::Virus {
                virus: "Eicar-Signature".into()
            })),
            (
                554,
                "5.7.1",
                "Virus rilevato (Eicar-Signature): messaggio non accettato (avviso di non \
                 accettazione inviato)"
                    .into()
            )
        );
        assert_eq!(
            parts(submitted(&Submitted::Unavailable(store_error()))),
            (
                451,
                "4.3.0",
                "Errore temporaneo del sistema, riprovare: temporarily unavailable: blob store: disco pieno".into()
            )
        );
        assert_eq!(
            parts(submitted(&Submitted::Unavailable(antivirus_down()))),
            (
                451,
                "4.7.0",
                format!("Messaggio non verificabile ora ({CLAMD_DOWN}): riprovare più tardi")
            )
        );
    }

    #[test]
    fn incoming_point_outcomes() {
        let id = "opec.1@pec.other.test".to_string();
        let virus = "Eicar-Signature".to_string();
        let cases = [
            (
                Received::TakenInCharge {
                    identificativo: id.clone(),
                },
                (
                    250,
                    "2.0.0",
                    format!("Presa in carico, identificativo {id}"),
                ),
            ),
            (
                Received::AlreadyTakenInCharge {
                    identificativo: id.clone(),
                },
                (
                    250,
                    "2.0.0",
                    format!("Busta già presa in carico, identificativo {id}"),
                ),
            ),
            (
                Received::VirusHeld {
                    virus: virus.clone(),
                },
                (
                    250,
                    "2.0.0",
                    "Virus rilevato (Eicar-Signature): messaggio trattenuto, avviso inviato al \
                     gestore mittente"
                        .into(),
                ),
            ),
            (
                Received::ReceiptDelivered,
                (250, "2.0.0", "Ricevuta consegnata".into()),
            ),
            (
                Received::ReceiptAlreadyDelivered,
                (250, "2.0.0", "Ricevuta già consegnata".into()),
            ),
            (
                Received::OrdinaryTaken,
                (250, "2.0.0", "Messaggio ricevuto".into()),
            ),
            (
                Received::BounceReturned,
                (
                    250,
                    "2.0.0",
                    "Avviso di ritorno inoltrato al mittente".into(),
                ),
            ),
            (
                Received::Unreadable(pec::parse::ParseError::NotMessage),
                (
                    554,
                    "5.6.0",
                    "Messaggio non valido: not an Internet message (no header fields)".into(),
                ),
            ),
            (
                Received::NotCertifiedRecipient,
                (
                    550,
                    "5.7.1",
                    "Destinatario non presente nei dati di certificazione della busta".into(),
                ),
            ),
            (
                Received::OrdinaryRefused {
                    why: "messaggio di posta ordinaria".into(),
                },
                (
                    550,
                    "5.7.1",
                    "La casella di posta certificata non accetta questo messaggio: messaggio di \
                     posta ordinaria"
                        .into(),
                ),
            ),
            (
                Received::VirusRefused { virus },
                (
                    554,
                    "5.7.1",
                    "Virus rilevato (Eicar-Signature): messaggio rifiutato".into(),
                ),
            ),
            (
                Received::Recipient(RecipientRefused::NotABounce),
                (
                    550,
                    "5.7.1",
                    "Indirizzo di ritorno di un inoltro: accetta solo avvisi di mancato \
                     recapito (mittente vuoto)"
                        .into(),
                ),
            ),
            (
                Received::Unavailable(store_error()),
                (
                    451,
                    "4.3.0",
                    "Errore temporaneo del sistema, riprovare: temporarily unavailable: blob store: disco pieno".into(),
                ),
            ),
            (
                Received::Unavailable(antivirus_down()),
                (
                    451,
                    "4.7.0",
                    format!("Messaggio non verificabile ora ({CLAMD_DOWN}): riprovare più tardi"),
                ),
            ),
        ];
        for (outcome, expected) in cases {
            assert_eq!(parts(received(&outcome)), expected, "{outcome:?}");
        }
    }

    #[test]
    fn recipient_refusals() {
        let cases = [
            (
                RecipientRefused::MixedWithReturn,
                (
                    452,
                    "4.5.3",
                    "Avvisi di ritorno e altri destinatari in transazioni separate: riprovare",
                ),
            ),
            (
                RecipientRefused::RelayDenied,
                (
                    550,
                    "5.7.1",
                    "Relay non consentito: destinatario di un altro dominio",
                ),
            ),
            (
                RecipientRefused::ReturnAddress(SrsError::BadHash),
                (
                    550,
                    "5.7.1",
                    "Indirizzo di ritorno rifiutato: indirizzo di ritorno SRS con firma non \
                     valida",
                ),
            ),
            (
                RecipientRefused::NotABounce,
                (
                    550,
                    "5.7.1",
                    "Indirizzo di ritorno di un inoltro: accetta solo avvisi di mancato \
                     recapito (mittente vuoto)",
                ),
            ),
            (
                RecipientRefused::LocalSender,
                (
                    550,
                    "5.7.1",
                    "Indirizzo di ritorno rifiutato: il mittente originale non ha inviato da qui",
                ),
            ),
            (
                RecipientRefused::Unavailable,
                (
                    451,
                    "4.3.0",
                    "Errore temporaneo del server: riprovare più tardi",
                ),
            ),
        ];
        for (refused, (code, enhanced, text)) in cases {
            assert_eq!(
                parts(recipient_refused(&refused)),
                (code, enhanced, text.to_string()),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn logins_and_senders() {
        assert_eq!(
            parts(login_refused(&AuthError::Invalid)),
            (535, "5.7.8", "Credenziali non valide".into())
        );
        assert_eq!(
            parts(login_refused(&AuthError::MustChangePassword)),
            (
                535,
                "5.7.8",
                "password da cambiare: accedere prima alla webmail e sceglierne una nuova".into()
            )
        );
        assert_eq!(
            parts(login_refused(&AuthError::Throttled)),
            (
                454,
                "4.7.0",
                "troppi tentativi falliti: riprovare più tardi".into()
            )
        );
        assert_eq!(
            parts(login_refused(&AuthError::Unavailable)),
            (
                454,
                "4.7.0",
                "servizio di autenticazione non disponibile: riprovare più tardi".into()
            )
        );
        assert_eq!(
            parts(denied(Denied(Permission::Send))),
            (
                535,
                "5.7.8",
                "operazione non consentita: manca il permesso di invio".into()
            )
        );
        assert_eq!(
            parts(rate_limited(&RateLimited {
                limit: 60,
                per: "al minuto"
            })),
            (
                450,
                "4.7.1",
                "Limite di invio superato: al massimo 60 messaggi al minuto; riprovare più tardi"
                    .into()
            )
        );
        assert_eq!(
            parts(not_the_authenticated_sender("altro@pec.example.test")),
            (
                553,
                "5.7.1",
                "Il mittente deve essere la casella autenticata, non altro@pec.example.test".into()
            )
        );
        assert_eq!(
            parts(no_auth_here()),
            (
                502,
                "5.5.1",
                "AUTH non disponibile su questo servizio".into()
            )
        );
        assert_eq!(
            parts(internal_error()),
            (
                451,
                "4.3.0",
                "Errore temporaneo del sistema, riprovare".into()
            )
        );
    }
}
