//! The provider index (IGPEC, RFC 6109 §4.5, pec-spec §13): an LDIF of `o=postacert` whose
//! `provider` entries give each PEC provider's certificate hashes, certificates, service
//! mailbox and managed domains. Read plain or as a signed `.p7m`; looked up by certificate
//! hash and by domain, case-insensitively; our own entry written back.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::X509Store;
use openssl::x509::X509;
use serde::Serialize;
use thiserror::Error;

/// Largest index file we accept (the national index is a few hundred KB).
pub const MAX_INDEX_BYTES: usize = 64 << 20;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("index too large ({0} bytes)")]
    TooLarge(usize),
    #[error("LDIF line {line}: {why}")]
    Ldif { line: usize, why: String },
    #[error("signed index (.p7m) does not verify: {0}")]
    Signature(String),
    #[error("index is not UTF-8 text")]
    NotText,
    #[error("index is plain LDIF, not signed")]
    Unsigned,
    #[error("the index is not signed by the configured authority ({0})")]
    WrongSigner(String),
}

/// One provider (or one secondary environment, `providerUnit`) of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderEntry {
    pub dn: String,
    pub name: String,
    pub unit: Option<String>,
    /// SHA-1 hashes of the provider certificates, upper-case hex.
    pub certificate_hashes: Vec<String>,
    /// The certificates themselves (DER).
    #[serde(skip)]
    pub certificates: Vec<Vec<u8>>,
    pub mail_receipt: String,
    pub managed_domains: Vec<String>,
    pub ldif_location: Option<String>,
}

impl ProviderEntry {
    /// Our own entry, from the signing certificate.
    pub fn for_certificate(
        cert: &X509,
        name: &str,
        domains: &[String],
        mail_receipt: &str,
    ) -> ProviderEntry {
        let der = cert.to_der().unwrap_or_default();
        ProviderEntry {
            dn: format!("providerName={},o=postacert", escape_dn(name)),
            name: name.to_string(),
            unit: None,
            certificate_hashes: vec![crate::smime::certificate_sha1(cert)],
            certificates: vec![der],
            mail_receipt: mail_receipt.to_string(),
            managed_domains: domains.to_vec(),
            ldif_location: None,
        }
    }

    pub fn manages(&self, domain: &str) -> bool {
        self.managed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain.trim()))
    }

    pub fn has_certificate_hash(&self, sha1_hex: &str) -> bool {
        self.certificate_hashes
            .iter()
            .any(|h| h.eq_ignore_ascii_case(sha1_hex.trim()))
    }

    /// The entry as LDIF (RFC 2849), the form providers publish.
    pub fn to_ldif(&self) -> String {
        let mut out = String::new();
        ldif_line(&mut out, "dn", self.dn.as_bytes());
        ldif_line(&mut out, "objectclass", b"top");
        ldif_line(&mut out, "objectclass", b"provider");
        ldif_line(&mut out, "providerName", self.name.as_bytes());
        if let Some(u) = &self.unit {
            ldif_line(&mut out, "providerUnit", u.as_bytes());
        }
        for h in &self.certificate_hashes {
            ldif_line(&mut out, "providerCertificateHash", h.as_bytes());
        }
        for c in &self.certificates {
            let b64 = STANDARD.encode(c);
            fold(&mut out, &format!("providerCertificate;binary:: {b64}"));
        }
        ldif_line(&mut out, "mailReceipt", self.mail_receipt.as_bytes());
        for d in &self.managed_domains {
            ldif_line(&mut out, "managedDomains", d.as_bytes());
        }
        if let Some(l) = &self.ldif_location {
            ldif_line(&mut out, "LDIFLocationURL", l.as_bytes());
        }
        out
    }
}

fn escape_dn(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 2849: values that are not "safe strings" are written base64 (`attr:: …`).
fn ldif_line(out: &mut String, attr: &str, value: &[u8]) {
    let safe = value
        .first()
        .is_none_or(|&b| b != b' ' && b != b':' && b != b'<')
        && value.last().is_none_or(|&b| b != b' ')
        && value
            .iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\n' && b != b'\r');
    if safe {
        fold(out, &format!("{attr}: {}", String::from_utf8_lossy(value)));
    } else {
        fold(out, &format!("{attr}:: {}", STANDARD.encode(value)));
    }
}

/// Folds a logical line at 76 columns with a leading space on continuation lines.
fn fold(out: &mut String, line: &str) {
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut first = true;
    while start < bytes.len() {
        let width = if first { 76 } else { 75 };
        let mut end = (start + width).min(bytes.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&line[start..end]);
        out.push('\n');
        start = end;
        first = false;
    }
}

/// The whole index in memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderIndex {
    pub providers: Vec<ProviderEntry>,
}

impl ProviderIndex {
    /// Reads LDIF text. Entries that are not `provider` objects (e.g. `o=postacert` itself)
    /// are skipped.
    pub fn from_ldif(text: &str) -> Result<ProviderIndex, IndexError> {
        if text.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge(text.len()));
        }
        let mut providers = Vec::new();
        for record in records(text)? {
            if let Some(p) = provider_from(&record)? {
                providers.push(p);
            }
        }
        Ok(ProviderIndex { providers })
    }

    /// Whether `data` looks like plain LDIF rather than a PKCS#7 file.
    pub fn is_ldif(data: &[u8]) -> bool {
        data.iter().take(512).all(|b| b.is_ascii()) && {
            let head = String::from_utf8_lossy(&data[..data.len().min(512)]).to_ascii_lowercase();
            head.contains("dn:") || head.starts_with("version:") || head.starts_with('#')
        }
    }

    fn pkcs7_of(data: &[u8]) -> Result<Pkcs7, IndexError> {
        Pkcs7::from_der(data)
            .or_else(|_| Pkcs7::from_pem(data))
            .or_else(|_| {
                crate::wire::decode_base64(data)
                    .ok_or_else(openssl::error::ErrorStack::get)
                    .and_then(|der| Pkcs7::from_der(&der))
            })
            .map_err(|e| IndexError::Signature(format!("not a PKCS#7 file: {e}")))
    }

    /// Reads a signed index (`.p7m`) only if `authority` signed it: the signer certificate is
    /// the authority's, or chains up to it (review M7: the index is the root of PEC trust,
    /// RFC 6109 §4.5.6). Plain LDIF is refused here.
    pub fn from_signed(data: &[u8], authority: &X509) -> Result<ProviderIndex, IndexError> {
        if data.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge(data.len()));
        }
        if Self::is_ldif(data) {
            return Err(IndexError::Unsigned);
        }
        let p7 = Self::pkcs7_of(data)?;
        let sig = |e: openssl::error::ErrorStack| IndexError::Signature(e.to_string());
        let empty = Stack::new().map_err(sig)?;
        let authority_der = authority.to_der().map_err(sig)?;
        let signed_by_authority = p7
            .signers(&empty, Pkcs7Flags::empty())
            .map_err(sig)?
            .iter()
            .any(|c| c.to_der().is_ok_and(|d| d == authority_der));
        let mut content = Vec::new();
        if signed_by_authority {
            let store = openssl::x509::store::X509StoreBuilder::new()
                .map_err(sig)?
                .build();
            p7.verify(
                &empty,
                &store,
                None,
                Some(&mut content),
                Pkcs7Flags::NOVERIFY,
            )
            .map_err(sig)?;
        } else {
            let mut b = openssl::x509::store::X509StoreBuilder::new().map_err(sig)?;
            b.add_cert(authority.to_owned()).map_err(sig)?;
            p7.verify(
                &empty,
                &b.build(),
                None,
                Some(&mut content),
                Pkcs7Flags::empty(),
            )
            .map_err(|e| IndexError::WrongSigner(e.to_string()))?;
        }
        let text = std::str::from_utf8(&content).map_err(|_| IndexError::NotText)?;
        ProviderIndex::from_ldif(text)
    }

    /// Reads the index as distributed: a PKCS#7 signed `.p7m` (DER, or PEM/base64) holding the
    /// LDIF, or plain LDIF. With `trust`, the signature's chain must verify against it.
    pub fn from_bytes(data: &[u8], trust: Option<&X509Store>) -> Result<ProviderIndex, IndexError> {
        if data.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge(data.len()));
        }
        if Self::is_ldif(data) {
            let text = std::str::from_utf8(data).map_err(|_| IndexError::NotText)?;
            return ProviderIndex::from_ldif(text);
        }
        let p7 = Self::pkcs7_of(data)?;
        let empty = Stack::new().map_err(|e| IndexError::Signature(e.to_string()))?;
        let mut content = Vec::new();
        let result = match trust {
            Some(store) => p7.verify(&empty, store, None, Some(&mut content), Pkcs7Flags::empty()),
            None => {
                let store = openssl::x509::store::X509StoreBuilder::new()
                    .map_err(|e| IndexError::Signature(e.to_string()))?
                    .build();
                p7.verify(
                    &empty,
                    &store,
                    None,
                    Some(&mut content),
                    Pkcs7Flags::NOVERIFY,
                )
            }
        };
        result.map_err(|e| IndexError::Signature(e.to_string()))?;
        let text = std::str::from_utf8(&content).map_err(|_| IndexError::NotText)?;
        ProviderIndex::from_ldif(text)
    }

    /// The provider whose certificate has this SHA-1 (hex, any case).
    pub fn by_certificate_hash(&self, sha1_hex: &str) -> Option<&ProviderEntry> {
        self.providers
            .iter()
            .find(|p| p.has_certificate_hash(sha1_hex))
    }

    /// The provider managing this mail domain (any case).
    pub fn by_domain(&self, domain: &str) -> Option<&ProviderEntry> {
        self.providers.iter().find(|p| p.manages(domain))
    }

    /// Whether a domain is a PEC domain (its mailboxes are "certificato").
    pub fn is_pec_domain(&self, domain: &str) -> bool {
        self.by_domain(domain).is_some()
    }

    /// Adds or replaces (same DN) an entry.
    pub fn upsert(&mut self, entry: ProviderEntry) {
        match self
            .providers
            .iter_mut()
            .find(|p| p.dn.eq_ignore_ascii_case(&entry.dn))
        {
            Some(p) => *p = entry,
            None => self.providers.push(entry),
        }
    }

    pub fn to_ldif(&self) -> String {
        let mut out = String::from("version: 1\n\n");
        for p in &self.providers {
            out.push_str(&p.to_ldif());
            out.push('\n');
        }
        out
    }
}

type Record = Vec<(String, Vec<u8>)>;

/// Splits LDIF into records of (attribute, value) pairs, unfolding and decoding `::` values.
fn records(text: &str) -> Result<Vec<Record>, IndexError> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(cont) = line.strip_prefix(' ') {
            match logical.last_mut() {
                Some((_, l)) if !l.is_empty() => l.push_str(cont),
                _ => {
                    return Err(IndexError::Ldif {
                        line: n + 1,
                        why: "continuation with nothing to continue".into(),
                    })
                }
            }
        } else {
            logical.push((n + 1, line.to_string()));
        }
    }
    let mut out = Vec::new();
    let mut current: Record = Vec::new();
    for (n, line) in logical {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some(colon) = line.find(':') else {
            return Err(IndexError::Ldif {
                line: n,
                why: "no ':' in line".into(),
            });
        };
        let attr = line[..colon].trim().to_string();
        let rest = &line[colon + 1..];
        let value = if let Some(b64) = rest.strip_prefix(':') {
            crate::wire::decode_base64(b64.trim().as_bytes()).ok_or_else(|| IndexError::Ldif {
                line: n,
                why: format!("invalid base64 in {attr}"),
            })?
        } else if rest.starts_with('<') {
            return Err(IndexError::Ldif {
                line: n,
                why: "URL values (attr:<) are not followed".into(),
            });
        } else {
            rest.trim_start().as_bytes().to_vec()
        };
        if attr.eq_ignore_ascii_case("version") && current.is_empty() {
            continue;
        }
        current.push((attr, value));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn provider_from(record: &Record) -> Result<Option<ProviderEntry>, IndexError> {
    let base = |a: &(String, Vec<u8>)| a.0.split(';').next().unwrap_or("").to_ascii_lowercase();
    let values = |name: &str| -> Vec<&Vec<u8>> {
        record
            .iter()
            .filter(|a| base(a) == name)
            .map(|a| &a.1)
            .collect()
    };
    let text = |name: &str| -> Vec<String> {
        values(name)
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
            .collect()
    };
    let is_provider = text("objectclass")
        .iter()
        .any(|c| c.eq_ignore_ascii_case("provider"));
    if !is_provider {
        return Ok(None);
    }
    let dn = text("dn").into_iter().next().unwrap_or_default();
    let certificates: Vec<Vec<u8>> = values("providercertificate").into_iter().cloned().collect();
    let mut certificate_hashes: Vec<String> = text("providercertificatehash")
        .into_iter()
        .map(|h| h.to_ascii_uppercase())
        .collect();
    // A certificate listed without its hash is still usable: compute it.
    for c in &certificates {
        let h = hex::encode_upper(<sha1::Sha1 as sha1::Digest>::digest(c));
        if !certificate_hashes.contains(&h) {
            certificate_hashes.push(h);
        }
    }
    Ok(Some(ProviderEntry {
        name: text("providername")
            .into_iter()
            .next()
            .unwrap_or_else(|| dn.clone()),
        dn,
        unit: text("providerunit").into_iter().next(),
        certificate_hashes,
        certificates,
        mail_receipt: text("mailreceipt").into_iter().next().unwrap_or_default(),
        managed_domains: text("manageddomains"),
        ldif_location: text("ldiflocationurl").into_iter().next(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDIF: &str = "version: 1\n\ndn: o=postacert\nobjectClass: LDIFLocationURLObject\nLDIFLocationURL: https://igpec.example/igpec.ldif.p7m\n\n# a provider\ndn: providerName=Anonymous Certified Mail S.p.A.,o=postacert\nobjectclass: provider\nproviderName: Anonymous Certified Mail S.p.A.\nproviderCertificateHash: 7e7aef1059ae0f454f2643a95f69ec3556009239\nmailReceipt: receipts@mail.anpocert.example.com\nmanagedDomains: mail.anpocert.example.com\nmanagedDomains: PEC.Example.IT\nLDIFLocationURL: https://anpocert.example\n /provider.ldif.p7m\n";

    #[test]
    fn reads_the_rfc_example() {
        let idx = ProviderIndex::from_ldif(LDIF).unwrap();
        assert_eq!(idx.providers.len(), 1);
        let p = idx
            .by_certificate_hash("7E7AEF1059AE0F454F2643A95F69EC3556009239")
            .unwrap();
        assert_eq!(p.name, "Anonymous Certified Mail S.p.A.");
        assert_eq!(
            p.ldif_location.as_deref(),
            Some("https://anpocert.example/provider.ldif.p7m")
        );
        assert!(idx.by_domain("pec.example.it").is_some());
        assert!(idx.by_domain("MAIL.ANPOCERT.EXAMPLE.COM").is_some());
        assert!(idx.by_domain("example.it").is_none());
    }

    #[test]
    fn rejects_broken_ldif_with_line_number() {
        let err = ProviderIndex::from_ldif("dn: x\nnot a line\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(ProviderIndex::from_ldif(" continuation\n").is_err());
    }

    #[test]
    fn written_entry_reads_back() {
        let mut idx = ProviderIndex::from_ldif(LDIF).unwrap();
        let mut e = idx.providers[0].clone();
        e.name = "Pròva, S.p.A.".into();
        e.dn = format!("providerName={},o=postacert", escape_dn(&e.name));
        e.certificates = vec![vec![0x30, 0x82, 1, 2, 3]];
        e.certificate_hashes = vec![hex::encode_upper(<sha1::Sha1 as sha1::Digest>::digest([
            0x30u8, 0x82, 1, 2, 3,
        ]))];
        idx.upsert(e.clone());
        let back = ProviderIndex::from_ldif(&idx.to_ldif()).unwrap();
        assert_eq!(back.providers.len(), 2);
        assert_eq!(back.providers[1], e);
    }
}
