//! The signed attributes of a CMS SignedData that OpenSSL's PKCS7 API does not expose: the
//! signing time (RFC 5652 §11.3), used to validate a chain as of when it signed, and the
//! digest algorithm.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};

use crate::time::PecTime;

const SIGNING_TIME: &str = "1.2.840.113549.1.9.5";

#[derive(Debug, Default)]
pub struct SignedAttributes {
    pub signing_time: Option<PecTime>,
    pub digest: Option<String>,
}

/// Reads the first signer's attributes; anything unreadable is simply absent.
pub fn signed_attributes(der: &[u8]) -> SignedAttributes {
    let Ok(ci) = ContentInfo::from_der(der) else {
        return SignedAttributes::default();
    };
    let Ok(bytes) = ci.content.to_der() else {
        return SignedAttributes::default();
    };
    let Ok(sd) = SignedData::from_der(&bytes) else {
        return SignedAttributes::default();
    };
    let Some(si) = sd.signer_infos.0.iter().next() else {
        return SignedAttributes::default();
    };
    let digest = Some(digest_name(&si.digest_alg.oid.to_string()));
    let signing_time = si.signed_attrs.as_ref().and_then(|attrs| {
        attrs
            .iter()
            .find(|a| a.oid.to_string() == SIGNING_TIME)
            .and_then(|a| {
                let v = a.values.iter().next()?;
                let t = x509_time::Time::from_der(&v.to_der().ok()?).ok()?;
                PecTime::from_unix(t.to_unix_duration().as_secs() as i64)
            })
    });
    SignedAttributes {
        signing_time,
        digest,
    }
}

fn digest_name(oid: &str) -> String {
    match oid {
        "1.3.14.3.2.26" => "sha1".into(),
        "2.16.840.1.101.3.4.2.1" => "sha-256".into(),
        "2.16.840.1.101.3.4.2.2" => "sha-384".into(),
        "2.16.840.1.101.3.4.2.3" => "sha-512".into(),
        other => other.to_string(),
    }
}

mod x509_time {
    pub use cms::cert::x509::time::Time;
}
