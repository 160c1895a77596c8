//! S/MIME v3 multipart/signed (RFC 5751 §3.4.3, RFC 1847) with the provider certificate:
//! signing what we send, byte-exact, and reading what others signed.

use crate::cms_sign::CmsTemplate;
use crate::time::PecTime;
use crate::wire;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use sha1::{Digest, Sha1};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SmimeError {
    #[error("cannot read the signing certificate or key: {0}")]
    Credentials(String),
    #[error("signing failed: {0}")]
    Sign(#[from] ErrorStack),
}

/// The provider's signing identity: key, certificate (pec-spec §11 profile) and the chain
/// up to, but not including, the trust anchor.
pub struct Signer {
    key: PKey<Private>,
    cert: X509,
    template: CmsTemplate,
}

impl Signer {
    pub fn new(cert: X509, key: PKey<Private>, chain: Vec<X509>) -> Result<Self, SmimeError> {
        if !cert.public_key()?.public_eq(&key) {
            return Err(SmimeError::Credentials(
                "the private key does not match the certificate".into(),
            ));
        }
        let template = CmsTemplate::new(&cert, &chain)?;
        Ok(Signer {
            key,
            cert,
            template,
        })
    }

    /// From PEM: the certificate file may hold the chain after the leaf.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, SmimeError> {
        let mut certs = X509::stack_from_pem(cert_pem)
            .map_err(|e| SmimeError::Credentials(format!("certificate: {e}")))?;
        if certs.is_empty() {
            return Err(SmimeError::Credentials("no certificate in PEM".into()));
        }
        let cert = certs.remove(0);
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| SmimeError::Credentials(format!("private key: {e}")))?;
        Signer::new(cert, key, certs)
    }

    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// Detached CMS signature (SHA-256, signer certificate and chain included) over exactly
    /// these bytes. The caller passes canonical CRLF text, so nothing is converted.
    /// `time` is the signing time written in the signature: the time stamp of the
    /// transaction, so the same message always signs to the same bytes.
    pub fn sign_detached(&self, content: &[u8], time: PecTime) -> Result<Vec<u8>, SmimeError> {
        Ok(self.template.sign(&self.key, content, time)?)
    }

    /// The complete signed message: `outer_headers` (wire form, CRLF), then a
    /// multipart/signed body whose first part is `entity` byte for byte.
    pub fn sign_message(
        &self,
        outer_headers: &[u8],
        entity: &[u8],
        time: PecTime,
    ) -> Result<Vec<u8>, SmimeError> {
        let signature = self.sign_detached(entity, time)?;
        Ok(assemble_signed(outer_headers, entity, &signature))
    }
}

/// Lays out multipart/signed around an already signed entity.
pub fn assemble_signed(outer_headers: &[u8], entity: &[u8], signature_der: &[u8]) -> Vec<u8> {
    let boundary = boundary_for(&[entity], "sig");
    let sig_b64 = wire::base64_lines(signature_der);
    let mut out = Vec::with_capacity(outer_headers.len() + entity.len() + sig_b64.len() + 512);
    out.extend_from_slice(outer_headers);
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"{boundary}\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(b"This is an S/MIME signed message\r\n\r\n");
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(entity);
    out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    out.extend_from_slice(
        b"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n",
    );
    out.extend_from_slice(&sig_b64);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// A boundary that occurs in none of `contents`: derived from their hash, so the same input
/// always gives the same bytes.
pub fn boundary_for(contents: &[&[u8]], tag: &str) -> String {
    let mut h = Sha1::new();
    for c in contents {
        h.update((c.len() as u64).to_be_bytes());
        h.update(&c[..c.len().min(4096)]);
    }
    h.update(tag.as_bytes());
    let digest = hex::encode(h.finalize());
    let mut n = 0u64;
    loop {
        let b = format!("----=_certa_{tag}_{}_{n}", &digest[..24]);
        if contents
            .iter()
            .all(|c| wire::find(c, b.as_bytes()).is_none())
        {
            return b;
        }
        n += 1;
    }
}

/// SHA-1 of a certificate's DER, upper-case hex: the `providerCertificateHash` of the index.
pub fn certificate_sha1(cert: &X509) -> String {
    match cert.to_der() {
        Ok(der) => hex::encode_upper(Sha1::digest(&der)),
        Err(_) => String::new(),
    }
}
