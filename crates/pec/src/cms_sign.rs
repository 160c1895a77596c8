//! CMS SignedData (RFC 5652 §5) for detached S/MIME signatures, encoded directly in DER.
//!
//! OpenSSL's PKCS7_sign spends about a third of its time outside the RSA operation (object
//! set-up, algorithm look-ups, re-encoding the certificates); a provider signs three messages
//! per PEC message, so the structure is laid out here once per signer and only the
//! per-message parts (message digest, signing time, signature) are encoded per call.

use crate::time::PecTime;
use chrono::Datelike;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use sha2::{Digest, Sha256};

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(o: &[u8]) -> Vec<u8> {
    tlv(0x06, o)
}

fn algorithm(o: &[u8]) -> Vec<u8> {
    seq(&[&oid(o), &[0x05, 0x00]])
}

/// The parts of SignedData that do not change from one message to the next.
pub struct CmsTemplate {
    certificates: Vec<u8>,
    issuer_and_serial: Vec<u8>,
}

impl CmsTemplate {
    pub fn new(cert: &X509, chain: &[X509]) -> Result<Self, ErrorStack> {
        let mut certs = cert.to_der()?;
        for c in chain {
            certs.extend(c.to_der()?);
        }
        let issuer = cert.issuer_name().to_der()?;
        let serial = cert.serial_number().to_bn()?.to_vec();
        let mut serial_content = serial;
        if serial_content.first().is_none_or(|&b| b & 0x80 != 0) {
            serial_content.insert(0, 0);
        }
        Ok(CmsTemplate {
            certificates: tlv(0xa0, &certs),
            issuer_and_serial: seq(&[&issuer, &tlv(0x02, &serial_content)]),
        })
    }

    /// A detached SignedData over `content` (SHA-256 with RSA), with the signed attributes
    /// contentType, signingTime and messageDigest (RFC 5652 §11).
    pub fn sign(
        &self,
        key: &PKey<Private>,
        content: &[u8],
        time: PecTime,
    ) -> Result<Vec<u8>, ErrorStack> {
        let digest = Sha256::digest(content);
        let t = time.utc();
        // RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime from 2050.
        let signing_time = if t.year() < 2050 {
            tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
        } else {
            tlv(0x18, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
        };
        let mut attrs = [
            seq(&[&oid(OID_CONTENT_TYPE), &tlv(0x31, &oid(OID_DATA))]),
            seq(&[&oid(OID_SIGNING_TIME), &tlv(0x31, &signing_time)]),
            seq(&[&oid(OID_MESSAGE_DIGEST), &tlv(0x31, &tlv(0x04, &digest))]),
        ];
        // DER: the elements of a SET OF are sorted by their encodings.
        attrs.sort();
        let attrs = attrs.concat();
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
        signer.update(&tlv(0x31, &attrs))?;
        let signature = signer.sign_to_vec()?;
        let signer_info = seq(&[
            &[0x02, 0x01, 0x01],
            &self.issuer_and_serial,
            &algorithm(OID_SHA256),
            &tlv(0xa0, &attrs),
            &algorithm(OID_RSA),
            &tlv(0x04, &signature),
        ]);
        let signed_data = seq(&[
            &[0x02, 0x01, 0x01],
            &tlv(0x31, &algorithm(OID_SHA256)),
            &seq(&[&oid(OID_DATA)]),
            &self.certificates,
            &tlv(0x31, &signer_info),
        ]);
        Ok(seq(&[&oid(OID_SIGNED_DATA), &tlv(0xa0, &signed_data)]))
    }
}
