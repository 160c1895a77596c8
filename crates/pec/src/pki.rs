//! Certificates a provider needs to start: a CA of its own (for private networks, tests and
//! the quickstart), the PEC signing certificate with the RFC 6109 §5.5 profile, and a TLS
//! server certificate. A provider in production replaces the first two with AgID's.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509NameRef, X509};

/// A certificate with its private key.
pub struct Credential {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl Credential {
    pub fn cert_pem(&self) -> Result<Vec<u8>, ErrorStack> {
        self.cert.to_pem()
    }

    pub fn key_pem(&self) -> Result<Vec<u8>, ErrorStack> {
        self.key.private_key_to_pem_pkcs8()
    }
}

fn name(entries: &[(&str, &str)]) -> Result<X509Name, ErrorStack> {
    let mut b = X509NameBuilder::new()?;
    for (k, v) in entries {
        b.append_entry_by_text(k, v)?;
    }
    Ok(b.build())
}

fn base(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    days: u32,
    backdate_days: u32,
) -> Result<X509Builder, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer)?;
    b.set_pubkey(key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let not_before = Asn1Time::from_unix(now - i64::from(backdate_days) * 86400)?;
    let not_after = Asn1Time::days_from_now(days)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

fn rsa_key() -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(2048)?)
}

/// A self-signed CA for this provider's private PKI.
pub fn new_ca(common_name: &str, organisation: &str) -> Result<Credential, ErrorStack> {
    let key = rsa_key()?;
    let subject = name(&[("C", "IT"), ("O", organisation), ("CN", common_name)])?;
    let mut b = base(&subject, &subject, &key, 3650, 1)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok(Credential {
        cert: b.build(),
        key,
    })
}

/// The PEC signing certificate (RFC 6109 §5.5, pec-spec §11): provider name in O and CN,
/// `posta-certificata@<domain>` as rfc822Name, Key Usage digitalSignature critical, AKI, SKI,
/// no Basic Constraints.
pub fn issue_signing_certificate(
    ca: &Credential,
    provider_name: &str,
    domain: &str,
    days: u32,
) -> Result<Credential, ErrorStack> {
    let key = rsa_key()?;
    let subject = name(&[
        ("C", "IT"),
        ("O", provider_name),
        ("CN", &format!("Posta Certificata {provider_name}")),
    ])?;
    let mut b = base(&subject, ca.cert.subject_name(), &key, days, 1)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
    let san = SubjectAlternativeName::new()
        .email(&format!("posta-certificata@{domain}"))
        .build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(san)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(aki)?;
    b.sign(&ca.key, MessageDigest::sha256())?;
    Ok(Credential {
        cert: b.build(),
        key,
    })
}

/// A TLS server certificate for the listeners.
pub fn issue_tls_certificate(
    ca: &Credential,
    hostnames: &[String],
    days: u32,
) -> Result<Credential, ErrorStack> {
    let key = rsa_key()?;
    let cn = hostnames.first().map(String::as_str).unwrap_or("localhost");
    let subject = name(&[("CN", cn)])?;
    let mut b = base(&subject, ca.cert.subject_name(), &key, days, 1)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    for h in hostnames {
        if h.parse::<std::net::IpAddr>().is_ok() {
            san.ip(h);
        } else {
            san.dns(h);
        }
    }
    let san = san.build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(san)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(aki)?;
    b.sign(&ca.key, MessageDigest::sha256())?;
    Ok(Credential {
        cert: b.build(),
        key,
    })
}
