//! Verification of a PEC message as an incoming point does it (RFC 6109 §2.2.2, §7): the CMS
//! signature over the exact signed bytes, the signer certificate's SHA-1 in the provider
//! index, the chain up to a trust anchor as of the signing time, and the `From:` domain among
//! that provider's managed domains. The verdict names the provider or says exactly why not.

use crate::index::{ProviderEntry, ProviderIndex};
use crate::parse::PecMessage;
use crate::smime::certificate_sha1;
use crate::time::PecTime;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509StoreContext, X509VerifyResult, X509};
use serde::Serialize;

/// Trust anchors for provider certificate chains.
pub struct TrustAnchors {
    roots: Vec<X509>,
    system: bool,
}

impl TrustAnchors {
    /// The machine's CA store (Debian's ca-certificates): the roots AgID's CA chains up to.
    pub fn system() -> Self {
        TrustAnchors {
            roots: vec![],
            system: true,
        }
    }

    /// The machine's CA store and these roots.
    pub fn system_and(roots: Vec<X509>) -> Self {
        TrustAnchors {
            roots,
            system: true,
        }
    }

    /// Only these roots.
    pub fn from_certs(roots: Vec<X509>) -> Self {
        TrustAnchors {
            roots,
            system: false,
        }
    }

    /// Only the certificates of these PEM files.
    pub fn from_pem(pem: &[u8]) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Self::from_certs(X509::stack_from_pem(pem)?))
    }

    /// A store whose checks happen as of `at` (unix seconds).
    fn store(&self, at: Option<i64>) -> Result<X509Store, openssl::error::ErrorStack> {
        let mut b = X509StoreBuilder::new()?;
        if self.system {
            b.set_default_paths()?;
        }
        for r in &self.roots {
            b.add_cert(r.clone())?;
        }
        if let Some(t) = at {
            let mut param = openssl::x509::verify::X509VerifyParam::new()?;
            param.set_time(t as _);
            b.set_param(&param)?;
        }
        Ok(b.build())
    }
}

/// The outcome, one reason at a time, in the order an incoming point checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// A valid PEC message signed by `provider`.
    Valid { provider: String },
    /// Not a PEC message: no PEC header and no certification data.
    NotPec,
    /// Claims to be a PEC message but its structure makes two readings possible or
    /// contradicts its signed data (a repeated single field, a second daticert.xml, an outer
    /// X-Ricevuta that is not the signed `tipo`…): refused whatever the signature says.
    Malformed { reason: String },
    /// A PEC message with no S/MIME signature.
    NoSignature,
    /// The signature part is there but is not a CMS signature (e.g. a placeholder).
    InvalidSignature { reason: String },
    /// The signature is well-formed but the signed content differs from what was signed.
    ContentAltered,
    /// The signer certificate's SHA-1 is in no provider's index entry.
    UnknownProvider { certificate_sha1: String },
    /// The chain does not reach a trust anchor, as of the signing time.
    ChainNotTrusted { reason: String },
    /// Live traffic whose signature is not current: no signing time, one outside the
    /// accepted window around the arrival, or a digest no longer accepted (SHA-1).
    NotCurrent { reason: String },
    /// The `From:` domain is not one the signing provider manages.
    DomainNotManaged { domain: String, provider: String },
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }

    /// One line for people, in Italian.
    pub fn describe_it(&self) -> String {
        match self {
            Verdict::Valid { provider } => format!("messaggio PEC valido, firmato da {provider}"),
            Verdict::NotPec => "non è un messaggio PEC".into(),
            Verdict::Malformed { reason } => format!("messaggio PEC non conforme: {reason}"),
            Verdict::NoSignature => "nessuna firma: il messaggio non è firmato".into(),
            Verdict::InvalidSignature { reason } => format!("firma non valida: {reason}"),
            Verdict::ContentAltered => {
                "contenuto alterato: il messaggio è stato modificato dopo la firma".into()
            }
            Verdict::UnknownProvider { certificate_sha1 } => {
                format!("gestore sconosciuto: il certificato {certificate_sha1} non è nell'indice dei gestori")
            }
            Verdict::ChainNotTrusted { reason } => {
                format!("catena di certificazione non attendibile: {reason}")
            }
            Verdict::NotCurrent { reason } => format!("firma non attuale: {reason}"),
            Verdict::DomainNotManaged { domain, provider } => {
                format!("il dominio {domain} non è gestito da {provider}")
            }
        }
    }

    /// One line for people, in English.
    pub fn describe_en(&self) -> String {
        match self {
            Verdict::Valid { provider } => format!("valid PEC message, signed by {provider}"),
            Verdict::NotPec => "not a PEC message".into(),
            Verdict::Malformed { reason } => {
                format!("malformed PEC message (in Italian): {reason}")
            }
            Verdict::NoSignature => "no signature: the message is not signed".into(),
            Verdict::InvalidSignature { reason } => format!("invalid signature: {reason}"),
            Verdict::ContentAltered => {
                "content altered: the message was modified after signing".into()
            }
            Verdict::UnknownProvider { certificate_sha1 } => {
                format!(
                    "unknown provider: certificate {certificate_sha1} is not in the provider index"
                )
            }
            Verdict::ChainNotTrusted { reason } => format!("chain not trusted: {reason}"),
            Verdict::NotCurrent { reason } => format!("signature not current: {reason}"),
            Verdict::DomainNotManaged { domain, provider } => {
                format!("domain {domain} is not managed by {provider}")
            }
        }
    }
}

/// As of when the chain and the signing time are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckTime {
    /// An archived message (`certa verify`): the chain as of the signer's own `signingTime`,
    /// so a 2014 receipt stays verifiable after its certificate expired; SHA-1 accepted.
    AsSigned,
    /// Live traffic arriving now (review M3): the chain must be valid at `now`, and the
    /// signing time must lie in `[now - before_secs, now + after_secs]`; SHA-1 refused.
    Arrival {
        now: i64,
        before_secs: i64,
        after_secs: i64,
    },
}

impl CheckTime {
    /// Arrival with the default window: 48 hours back (a queue that retried for a day,
    /// clocks apart), one hour ahead.
    pub fn arrival(now: i64) -> CheckTime {
        CheckTime::Arrival {
            now,
            before_secs: 48 * 3600,
            after_secs: 3600,
        }
    }
}

/// Who signed, and when.
#[derive(Debug, Clone, Serialize)]
pub struct SignerInfo {
    pub subject: String,
    pub issuer: String,
    pub certificate_sha1: String,
    pub not_before: String,
    pub not_after: String,
    pub signing_time: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub verdict: Verdict,
    pub signer: Option<SignerInfo>,
    pub provider: Option<ProviderEntry>,
}

/// Verifies an archived message `raw`, already classified as `parsed`, as of its signing
/// time ([`CheckTime::AsSigned`]).
pub fn verify(
    raw: &[u8],
    parsed: &PecMessage,
    index: &ProviderIndex,
    trust: &TrustAnchors,
) -> Verification {
    verify_at(raw, parsed, index, trust, CheckTime::AsSigned)
}

/// Verifies `raw`, already classified as `parsed`, with the chain and signing time judged
/// as `at` says.
pub fn verify_at(
    raw: &[u8],
    parsed: &PecMessage,
    index: &ProviderIndex,
    trust: &TrustAnchors,
    at: CheckTime,
) -> Verification {
    let done = |verdict, signer, provider| Verification {
        verdict,
        signer,
        provider,
    };
    if parsed.kind.is_none() && parsed.daticert.is_none() {
        return done(Verdict::NotPec, None, None);
    }
    if let Some(reason) = &parsed.malformed {
        let reason = reason.clone();
        return done(Verdict::Malformed { reason }, None, None);
    }
    if !parsed.signed || !parsed.signature_part {
        return done(Verdict::NoSignature, None, None);
    }
    let Some(der) = &parsed.signature else {
        let reason = "la parte smime.p7s non contiene una firma (segnaposto o base64 non valido)"
            .to_string();
        return done(Verdict::InvalidSignature { reason }, None, None);
    };
    // The content is split by our own reader, not OpenSSL's MIME reader: its errors carry
    // header bytes that need not be UTF-8, which the openssl crate cannot report.
    let Some(content) = parsed.signed_content.clone().and_then(|r| raw.get(r)) else {
        let reason = "firma senza contenuto firmato".to_string();
        return done(Verdict::InvalidSignature { reason }, None, None);
    };
    // S/MIME canonical form: every line ends in CRLF (what OpenSSL's reader does to LF files).
    let content = crate::wire::to_crlf(content);
    let p7 = match Pkcs7::from_der(der) {
        Ok(p7) => p7,
        Err(e) => {
            let reason = format!(
                "la parte smime.p7s non è una firma CMS leggibile ({})",
                first_reason(&e)
            );
            return done(Verdict::InvalidSignature { reason }, None, None);
        }
    };
    let attrs = crate::cms_attrs::signed_attributes(der);
    let signing_time = attrs.signing_time;
    let empty_certs = match Stack::<X509>::new() {
        Ok(s) => s,
        Err(e) => {
            return done(
                Verdict::InvalidSignature {
                    reason: e.to_string(),
                },
                None,
                None,
            )
        }
    };
    let signer_cert = p7
        .signers(&empty_certs, Pkcs7Flags::empty())
        .ok()
        .and_then(|s| s.iter().next().map(|c| c.to_owned()));
    let Some(signer_cert) = signer_cert else {
        return done(
            Verdict::InvalidSignature {
                reason: "il certificato del firmatario non è incluso".into(),
            },
            None,
            None,
        );
    };
    let attrs_digest = attrs.digest.clone();
    let signer = Some(signer_info(&signer_cert, signing_time, attrs.digest));

    // 1. The signature over the exact signed bytes, without looking at the chain yet.
    let unchecked = match trust.store(None) {
        Ok(s) => s,
        Err(e) => {
            return done(
                Verdict::ChainNotTrusted {
                    reason: e.to_string(),
                },
                signer,
                None,
            )
        }
    };
    if let Err(e) = p7.verify(
        &empty_certs,
        &unchecked,
        Some(&content),
        None,
        Pkcs7Flags::NOVERIFY,
    ) {
        let why = first_reason(&e);
        let verdict = if why.contains("digest failure") {
            Verdict::ContentAltered
        } else {
            Verdict::InvalidSignature { reason: why }
        };
        return done(verdict, signer, None);
    }

    // 2. The signer is a known provider.
    let sha1 = certificate_sha1(&signer_cert);
    let Some(provider) = index.by_certificate_hash(&sha1).cloned() else {
        return done(
            Verdict::UnknownProvider {
                certificate_sha1: sha1,
            },
            signer,
            None,
        );
    };
    if !provider.certificates.is_empty() {
        let der = signer_cert.to_der().unwrap_or_default();
        if !provider.certificates.contains(&der) {
            let reason =
                "il certificato non coincide con quello pubblicato nell'indice".to_string();
            return done(Verdict::ChainNotTrusted { reason }, signer, Some(provider));
        }
    }

    // 3. The chain: for an archive as of the signing time (a 2014 receipt stays verifiable
    // after expiry); for live traffic now, with a signing time close to now.
    let chain_time = match at {
        CheckTime::AsSigned => signing_time.map(|t| t.utc().timestamp()),
        CheckTime::Arrival {
            now,
            before_secs,
            after_secs,
        } => {
            if let Err(reason) = current(
                signing_time,
                attrs_digest.as_deref(),
                now,
                before_secs,
                after_secs,
            ) {
                return done(Verdict::NotCurrent { reason }, signer, Some(provider));
            }
            Some(now)
        }
    };
    if let Err(reason) = check_chain(&p7, &signer_cert, trust, chain_time) {
        return done(Verdict::ChainNotTrusted { reason }, signer, Some(provider));
    }

    // 4. The sender domain is the provider's (RFC 6109 §7).
    let domain = parsed
        .from
        .as_deref()
        .map(crate::build::domain_of)
        .unwrap_or("")
        .to_string();
    if !provider.manages(&domain) {
        let p = provider.name.clone();
        return done(
            Verdict::DomainNotManaged {
                domain,
                provider: p,
            },
            signer,
            Some(provider),
        );
    }
    done(
        Verdict::Valid {
            provider: provider.name.clone(),
        },
        signer,
        Some(provider),
    )
}

/// Whether a live signature is current: a signing time inside the window around `now` and
/// a digest other than SHA-1 (RFC 6109 §7 leaves the algorithm to the CNIPA rules, which have
/// retired SHA-1 for new signatures).
fn current(
    signing_time: Option<PecTime>,
    digest: Option<&str>,
    now: i64,
    before_secs: i64,
    after_secs: i64,
) -> Result<(), String> {
    if digest.is_some_and(|d| d.eq_ignore_ascii_case("sha1")) {
        return Err("algoritmo di hash SHA-1 non più ammesso per i messaggi in arrivo".into());
    }
    let Some(t) = signing_time else {
        return Err("la firma non dichiara l'ora in cui fu apposta (signingTime)".into());
    };
    let t = t.utc().timestamp();
    if t < now.saturating_sub(before_secs) || t > now.saturating_add(after_secs) {
        return Err(format!(
            "firmato il {}, fuori dalla finestra ammessa ({} h prima, {} h dopo l'arrivo)",
            PecTime::from_unix_or_epoch(t).rfc5322(),
            before_secs / 3600,
            after_secs / 3600
        ));
    }
    Ok(())
}

fn check_chain(
    p7: &Pkcs7,
    leaf: &X509,
    trust: &TrustAnchors,
    at: Option<i64>,
) -> Result<(), String> {
    let store = trust.store(at).map_err(|e| e.to_string())?;
    let mut chain = Stack::new().map_err(|e| e.to_string())?;
    if let Some(certs) = p7.signed().and_then(|s| s.certificates()) {
        for c in certs {
            chain.push(c.to_owned()).map_err(|e| e.to_string())?;
        }
    }
    let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
    let (ok, err) = ctx
        .init(&store, leaf, &chain, |c| Ok((c.verify_cert()?, c.error())))
        .map_err(|e| e.to_string())?;
    if ok {
        Ok(())
    } else {
        Err(describe_x509_error(err))
    }
}

fn describe_x509_error(e: X509VerifyResult) -> String {
    e.error_string().to_string()
}

fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|x| x.reason().map(str::to_string))
        .unwrap_or_else(|| e.to_string())
}

fn signer_info(cert: &X509, signing_time: Option<PecTime>, digest: Option<String>) -> SignerInfo {
    let name = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let val = e.data().to_string().unwrap_or_default();
                format!("{key}={val}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    SignerInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        certificate_sha1: certificate_sha1(cert),
        not_before: cert.not_before().to_string(),
        not_after: cert.not_after().to_string(),
        signing_time: signing_time.map(|t| t.rfc5322()),
        digest,
    }
}
