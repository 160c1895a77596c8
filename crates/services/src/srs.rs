//! The Sender Rewriting Scheme for ordinary mail we forward (Shevek's SRS, as libsrs2 and
//! postsrsd write it). A forwarded message leaves with an envelope sender at our domain, so
//! the receiver's SPF check (RFC 7208) passes and DMARC does not fail on it; a bounce comes
//! back to that address and is returned to the original sender only if our hash and the
//! timestamp verify, so the address cannot be forged to make us relay mail.
//!
//! - `SRS0=HHHHHHHH=TT=orig-domain=orig-local@our-domain`: `HHHHHHHH` the first characters
//!   of the base64 HMAC-SHA1, keyed by our secret, of the lowercased `TT`, `orig-domain`
//!   and `orig-local`; `TT` the day (since the Unix epoch, modulo 1024) in two base32
//!   characters.
//! - An address that already is `SRS0` (another forwarder's) becomes
//!   `SRS1=HHHHHHHH=their-domain==HHH=TT=orig-domain=orig-local@our-domain`, and an `SRS1`
//!   keeps its first forwarder: a bounce goes back through that forwarder only, never
//!   through every hop.
//!
//! Mail systems may change the case of a local part: hashes and timestamps are compared
//! without regard to case, as libsrs2 does.

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use std::io::{Read, Write};
use std::path::Path;

/// Days a rewritten address stays valid for bounces (libsrs2's default).
pub const MAX_AGE_DAYS: i64 = 21;
/// Base64 characters of the HMAC kept in an address (libsrs2 keeps 4 by default; 8 make a
/// forged one ~2^40 guesses even compared without regard to case).
pub const HASH_CHARS: usize = 8;
/// RFC 5321 §4.5.3.1.3: longer paths are refused by us and by others.
const MAX_PATH: usize = 254;
/// Timestamps count days modulo 2^10: two base32 characters.
const TIME_SLOTS: i64 = 1024;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Bytes of a secret we create.
const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SrsError {
    #[error("non è un indirizzo di ritorno SRS di questo gestore")]
    NotSrs,
    #[error("indirizzo di ritorno SRS malformato")]
    Malformed,
    #[error("indirizzo di ritorno SRS con firma non valida")]
    BadHash,
    #[error("indirizzo di ritorno SRS scaduto (valido {MAX_AGE_DAYS} giorni)")]
    Expired,
    #[error("il mittente {0:?} non si può riscrivere con SRS")]
    Unrewritable(String),
    #[error("calcolo della firma SRS non riuscito: {0}")]
    Crypto(#[from] ErrorStack),
}

/// The secret that keys the hashes. Bounces to addresses made with another secret (before
/// it was replaced) are refused, so it is kept in the data directory, not made at start.
pub struct SrsKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for SrsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrsKey(..)")
    }
}

impl SrsKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        SrsKey {
            secret: secret.into(),
        }
    }

    /// Reads the secret at `path`, or creates it (random, mode 0600 from the start) when
    /// there is none yet.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                let mut secret = [0u8; SECRET_BYTES];
                openssl::rand::rand_bytes(&mut secret).map_err(std::io::Error::other)?;
                let text = hex_of(&secret);
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(SrsKey::new(text.into_bytes()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut text = Vec::new();
                std::fs::File::open(path)?
                    .take(4096)
                    .read_to_end(&mut text)?;
                let secret = text.trim_ascii().to_vec();
                if secret.len() < 16 {
                    return Err(std::io::Error::other(format!(
                        "{}: segreto SRS troppo corto",
                        path.display()
                    )));
                }
                Ok(SrsKey::new(secret))
            }
            Err(e) => Err(e),
        }
    }

    fn hash(&self, parts: &[&str]) -> Result<String, ErrorStack> {
        let key = PKey::hmac(&self.secret)?;
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha1(), &key)?;
        for part in parts {
            signer.update(part.to_ascii_lowercase().as_bytes())?;
        }
        let mac = signer.sign_to_vec()?;
        let mut b64 = openssl::base64::encode_block(&mac);
        b64.truncate(HASH_CHARS);
        Ok(b64)
    }

    fn hash_matches(&self, given: &str, parts: &[&str]) -> Result<bool, ErrorStack> {
        let expected = self.hash(parts)?.to_ascii_lowercase();
        let given = given.to_ascii_lowercase();
        Ok(given.len() == expected.len()
            && openssl::memcmp::eq(given.as_bytes(), expected.as_bytes()))
    }

    /// The envelope sender, at `our_domain`, for mail from `sender` we forward on day
    /// `now` (Unix seconds). A null reverse-path stays null (RFC 5321 §4.5.5: a bounce is
    /// never bounced).
    pub fn forward(&self, sender: &str, our_domain: &str, now: i64) -> Result<String, SrsError> {
        if sender.is_empty() {
            return Ok(String::new());
        }
        let unrewritable = || SrsError::Unrewritable(sender.to_string());
        let (local, domain) = sender.rsplit_once('@').ok_or_else(unrewritable)?;
        if local.is_empty() || domain.is_empty() {
            return Err(unrewritable());
        }
        let rewritten = if let Some(rest) = strip_tag(local, "SRS0") {
            // Another forwarder's SRS0: `=HHH=TT=d=l` is kept whole, with its separator.
            let srs0 = format!("={rest}");
            let hash = self.hash(&[domain, &srs0])?;
            format!("SRS1={hash}={domain}={srs0}@{our_domain}")
        } else if let Some(rest) = strip_tag(local, "SRS1") {
            // An SRS1 keeps its first forwarder; only the hash is ours.
            let (first, srs0) = srs1_fields(rest).ok_or_else(unrewritable)?.1;
            let hash = self.hash(&[first, srs0])?;
            format!("SRS1={hash}={first}={srs0}@{our_domain}")
        } else {
            let stamp = timestamp(now);
            let hash = self.hash(&[&stamp, domain, local])?;
            format!("SRS0={hash}={stamp}={domain}={local}@{our_domain}")
        };
        if rewritten.len() > MAX_PATH {
            return Err(unrewritable());
        }
        Ok(rewritten)
    }

    /// Where a bounce to `address` goes back to: the original sender of an SRS0 of ours
    /// (hash and age verified on day `now`), or the first forwarder's SRS0 address for an
    /// SRS1 of ours (hash verified). Anything else is refused.
    pub fn reverse(&self, address: &str, our_domain: &str, now: i64) -> Result<String, SrsError> {
        let (local, domain) = address.rsplit_once('@').ok_or(SrsError::NotSrs)?;
        if !domain.eq_ignore_ascii_case(our_domain) {
            return Err(SrsError::NotSrs);
        }
        if let Some(rest) = strip_tag(local, "SRS0") {
            let mut fields = rest.splitn(4, '=');
            let (Some(hash), Some(stamp), Some(orig_domain), Some(orig_local)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(SrsError::Malformed);
            };
            if orig_domain.is_empty() || orig_local.is_empty() {
                return Err(SrsError::Malformed);
            }
            if !self.hash_matches(hash, &[stamp, orig_domain, orig_local])? {
                return Err(SrsError::BadHash);
            }
            let then = stamp_day(stamp).ok_or(SrsError::Malformed)?;
            let today = now.div_euclid(86_400).rem_euclid(TIME_SLOTS);
            if (today - then).rem_euclid(TIME_SLOTS) > MAX_AGE_DAYS {
                return Err(SrsError::Expired);
            }
            Ok(format!("{orig_local}@{orig_domain}"))
        } else if let Some(rest) = strip_tag(local, "SRS1") {
            let (hash, (first, srs0)) = srs1_fields(rest).ok_or(SrsError::Malformed)?;
            if !self.hash_matches(hash, &[first, srs0])? {
                return Err(SrsError::BadHash);
            }
            Ok(format!("SRS0{srs0}@{first}"))
        } else {
            Err(SrsError::NotSrs)
        }
    }
}

/// `HHH=first-forwarder==XXX=TT=d=l` (an SRS1 after its tag) as its hash, the first
/// forwarder's domain and that forwarder's SRS0 after its tag (`=XXX=TT=d=l`).
fn srs1_fields(rest: &str) -> Option<(&str, (&str, &str))> {
    let (hash, rest) = rest.split_once('=')?;
    let (first, srs0) = rest.split_once('=')?;
    (!first.is_empty() && srs0.len() > 1 && srs0.starts_with('=')).then_some((hash, (first, srs0)))
}

/// Whether `address` claims to be an SRS address at `our_domain` (not yet verified).
pub fn is_ours(address: &str, our_domain: &str) -> bool {
    address.rsplit_once('@').is_some_and(|(local, domain)| {
        domain.eq_ignore_ascii_case(our_domain)
            && (strip_tag(local, "SRS0").is_some() || strip_tag(local, "SRS1").is_some())
    })
}

/// `local` after its `SRS0=`/`SRS1=` tag (the tag in any case).
fn strip_tag<'a>(local: &'a str, tag: &str) -> Option<&'a str> {
    let head = local.get(..tag.len())?;
    let rest = local.get(tag.len()..)?.strip_prefix('=')?;
    head.eq_ignore_ascii_case(tag).then_some(rest)
}

/// The day of `now` (Unix seconds) modulo 1024, in two base32 characters.
fn timestamp(now: i64) -> String {
    let day = now.div_euclid(86_400).rem_euclid(TIME_SLOTS) as usize;
    [BASE32[day >> 5], BASE32[day & 31]]
        .iter()
        .map(|&b| b as char)
        .collect()
}

fn stamp_day(stamp: &str) -> Option<i64> {
    let digit = |c: u8| {
        BASE32
            .iter()
            .position(|&b| b == c.to_ascii_uppercase())
            .map(|v| v as i64)
    };
    match stamp.as_bytes() {
        [hi, lo] => Some((digit(*hi)? << 5) | digit(*lo)?),
        _ => None,
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "pec.alpha.test";
    const DAY: i64 = 86_400;
    /// 2026-12-02, some time into the day.
    const NOW: i64 = 20_424 * DAY + 3_600;

    fn key() -> SrsKey {
        SrsKey::new(b"segreto di prova di questo gestore".to_vec())
    }

    #[test]
    fn srs0_round_trip_and_its_refusals() {
        let k = key();
        let srs = k.forward("Amico.Caro@Example.org", OURS, NOW).unwrap();
        let (local, domain) = srs.rsplit_once('@').unwrap();
        assert_eq!(domain, OURS);
        let fields: Vec<&str> = local.split('=').collect();
        assert_eq!(fields.len(), 5, "{srs}");
        assert_eq!(fields[0], "SRS0");
        assert_eq!(fields[1].len(), HASH_CHARS);
        assert_eq!(fields[2], timestamp(NOW));
        assert_eq!(&fields[3..], ["Example.org", "Amico.Caro"]);
        assert!(is_ours(&srs, OURS));
        // Happy path: back to the original sender, that day, 21 days later, and when a
        // mail system lowercased the whole address.
        for (address, at) in [
            (srs.clone(), NOW),
            (srs.clone(), NOW + MAX_AGE_DAYS * DAY),
            (srs.to_ascii_lowercase(), NOW + DAY),
        ] {
            let back = k.reverse(&address, OURS, at).unwrap();
            assert!(
                back.eq_ignore_ascii_case("Amico.Caro@Example.org"),
                "{back}"
            );
        }
        // The null reverse-path stays null.
        assert_eq!(k.forward("", OURS, NOW).unwrap(), "");

        // Expired, or stamped in the future.
        assert!(matches!(
            k.reverse(&srs, OURS, NOW + (MAX_AGE_DAYS + 1) * DAY),
            Err(SrsError::Expired)
        ));
        assert!(matches!(
            k.reverse(&srs, OURS, NOW - DAY),
            Err(SrsError::Expired)
        ));
        // A tampered hash, a redirected original sender, a changed timestamp.
        let flip = |s: &str, i: usize| {
            let mut b = s.as_bytes().to_vec();
            b[i] = if b[i].eq_ignore_ascii_case(&b'A') {
                b'B'
            } else {
                b'A'
            };
            String::from_utf8(b).unwrap()
        };
        let tampered_hash = flip(&srs, 5);
        let redirected = srs.replace("Amico.Caro@", "vittima@");
        let restamped = srs.replace(
            &format!("={}=", timestamp(NOW)),
            &format!("={}=", timestamp(NOW - DAY)),
        );
        for forged in [tampered_hash, redirected, restamped] {
            assert!(
                matches!(k.reverse(&forged, OURS, NOW), Err(SrsError::BadHash)),
                "{forged}"
            );
        }
        // Another secret's address, someone else's domain, an ordinary address, junk.
        let other = SrsKey::new(b"un altro segreto di un altro gestore".to_vec());
        assert!(matches!(
            other.reverse(&srs, OURS, NOW),
            Err(SrsError::BadHash)
        ));
        assert!(matches!(
            k.reverse(&srs.replace(OURS, "altro.test"), OURS, NOW),
            Err(SrsError::NotSrs)
        ));
        assert!(matches!(
            k.reverse("amico@pec.alpha.test", OURS, NOW),
            Err(SrsError::NotSrs)
        ));
        for junk in [
            "SRS0=@pec.alpha.test",
            "SRS0=abc=ZZ@pec.alpha.test",
            "SRS0==AA==@pec.alpha.test",
        ] {
            assert!(
                matches!(k.reverse(junk, OURS, NOW), Err(SrsError::Malformed)),
                "{junk}"
            );
        }
        // A sender that cannot be rewritten is said so.
        for bad in ["senza-dominio", "@example.org", "x@"] {
            assert!(matches!(
                k.forward(bad, OURS, NOW),
                Err(SrsError::Unrewritable(_))
            ));
        }
        let long = format!("{}@example.org", "x".repeat(240));
        assert!(matches!(
            k.forward(&long, OURS, NOW),
            Err(SrsError::Unrewritable(_))
        ));
    }

    /// A forwarder before us rewrote the sender: we make an SRS1 that returns bounces to
    /// that forwarder (whose own hash we keep untouched), and an SRS1 forwarded again keeps
    /// its first forwarder.
    #[test]
    fn srs1_of_an_srs0_and_of_an_srs1() {
        let first = SrsKey::new(b"il segreto del primo inoltratore".to_vec());
        let srs0 = first
            .forward("amico@example.org", "primo.test", NOW)
            .unwrap();
        let k = key();
        let srs1 = k.forward(&srs0, OURS, NOW).unwrap();
        let srs0_local = srs0.rsplit_once('@').unwrap().0;
        assert!(srs1.starts_with("SRS1="), "{srs1}");
        assert!(
            srs1.ends_with(&format!("=primo.test={}@{OURS}", &srs0_local[4..])),
            "{srs1}"
        );
        // Happy path: the bounce goes back to the first forwarder, which takes it back to
        // the original sender.
        let back = k.reverse(&srs1, OURS, NOW).unwrap();
        assert_eq!(back, srs0);
        assert_eq!(
            first.reverse(&back, "primo.test", NOW).unwrap(),
            "amico@example.org"
        );
        // Tampered: the first forwarder's name changed, or our hash.
        assert!(matches!(
            k.reverse(&srs1.replace("=primo.test=", "=vittima.test="), OURS, NOW),
            Err(SrsError::BadHash)
        ));
        let mut tampered = srs1.clone().into_bytes();
        tampered[5] = if tampered[5].eq_ignore_ascii_case(&b'A') {
            b'B'
        } else {
            b'A'
        };
        assert!(matches!(
            k.reverse(&String::from_utf8(tampered).unwrap(), OURS, NOW),
            Err(SrsError::BadHash)
        ));
        // An SRS1 forwarded again by a third hop still returns to the first forwarder.
        let third = SrsKey::new(b"il segreto del terzo inoltratore".to_vec());
        let again = third.forward(&srs1, "terzo.test", NOW).unwrap();
        assert!(
            again.ends_with(&format!("=primo.test={}@terzo.test", &srs0_local[4..])),
            "{again}"
        );
        assert_eq!(third.reverse(&again, "terzo.test", NOW).unwrap(), srs0);
    }

    #[test]
    fn the_secret_is_created_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("srs.key");
        let created = SrsKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let srs = created.forward("amico@example.org", OURS, NOW).unwrap();
        // After a restart the same secret verifies the addresses made before.
        let loaded = SrsKey::load_or_create(&path).unwrap();
        assert_eq!(
            loaded.reverse(&srs, OURS, NOW).unwrap(),
            "amico@example.org"
        );
        std::fs::write(&path, b"corto").unwrap();
        assert!(SrsKey::load_or_create(&path).is_err());
    }
}
