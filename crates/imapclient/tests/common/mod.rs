//! What the integration tests share: a private CA and a server certificate for `127.0.0.1`
//! and `localhost`, written to files for Dovecot, and TLS connectors and acceptors from them.

#![allow(dead_code)] // each test binary uses part of it

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslConnector, SslMethod};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509NameBuilder, X509};
use std::path::{Path, PathBuf};

pub struct Pki {
    pub ca: X509,
    pub cert: X509,
    pub key: PKey<Private>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(common_name: &str) -> X509Name {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "Certa imapclient tests")
        .unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    name.build()
}

/// A CA valid for a month, and a server certificate it signed for `127.0.0.1` (IP SAN) and
/// `localhost`; the server's certificate and key written as PEM into `dir`.
pub fn make_pki(dir: &Path) -> Pki {
    let ca_key = key();
    let ca_name = name("Certa imapclient test CA");
    let mut ca = X509::builder().unwrap();
    ca.set_version(2).unwrap();
    ca.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    ca.set_subject_name(&ca_name).unwrap();
    ca.set_issuer_name(&ca_name).unwrap();
    ca.set_pubkey(&ca_key).unwrap();
    ca.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    ca.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&ca.x509v3_context(None, None))
        .unwrap();
    ca.append_extension(ski).unwrap();
    ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = ca.build();

    let server_key = key();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name("localhost")).unwrap();
    cert.set_issuer_name(ca.subject_name()).unwrap();
    cert.set_pubkey(&server_key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(Some(&ca), None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .unwrap(),
    )
    .unwrap();
    cert.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
        .unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&cert.x509v3_context(Some(&ca), None))
        .unwrap();
    cert.append_extension(aki).unwrap();
    cert.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let cert = cert.build();

    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    let mut chain = cert.to_pem().unwrap();
    chain.extend(ca.to_pem().unwrap());
    std::fs::write(&cert_path, chain).unwrap();
    std::fs::write(&key_path, server_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    Pki {
        ca,
        cert,
        key: server_key,
        cert_path,
        key_path,
    }
}

/// A client connector that trusts the test CA (besides the system's roots).
pub fn trusting(pki: &Pki) -> SslConnector {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.cert_store_mut().add_cert(pki.ca.clone()).unwrap();
    builder.build()
}

/// A client connector with the system's roots only: the test CA is not trusted.
pub fn untrusting() -> SslConnector {
    SslConnector::builder(SslMethod::tls_client())
        .unwrap()
        .build()
}

/// A server acceptor with the test certificate.
pub fn acceptor(pki: &Pki) -> SslAcceptor {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    builder.set_private_key(&pki.key).unwrap();
    builder.set_certificate(&pki.cert).unwrap();
    builder.add_extra_chain_cert(pki.ca.clone()).unwrap();
    builder.check_private_key().unwrap();
    builder.build()
}

/// A loopback port nothing listens on (bound, read and released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
