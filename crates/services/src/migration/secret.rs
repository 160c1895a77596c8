//! The old provider's password at rest (issue 15 Build 5): sealed with AES-256-GCM under a
//! key kept in the data directory (`migration.key`, 0600), bound to the job's mailbox and
//! old address, so a copied database alone gives no password and a sealed password moved to
//! another job does not open. Erasing a job's password clears its column.

use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use std::io::{Read, Write};
use std::path::Path;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The key that seals the old passwords.
pub struct SecretKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    pub fn new(bytes: [u8; KEY_BYTES]) -> SecretKey {
        SecretKey(bytes)
    }

    /// Reads the key file, or creates it (random, 0600, fsynced with its directory) when
    /// there is none.
    pub fn load_or_create(path: &Path) -> std::io::Result<SecretKey> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                let mut key = [0u8; KEY_BYTES];
                openssl::rand::rand_bytes(&mut key).map_err(std::io::Error::other)?;
                file.write_all(hex::encode(key).as_bytes())?;
                file.sync_all()?;
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(SecretKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut text = Vec::new();
                std::fs::File::open(path)?
                    .take(256)
                    .read_to_end(&mut text)?;
                let bytes = hex::decode(text.trim_ascii()).ok();
                let key = bytes
                    .and_then(|b| <[u8; KEY_BYTES]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| {
                        std::io::Error::other(format!(
                            "{}: chiave della copia da altro gestore non valida",
                            path.display()
                        ))
                    })?;
                Ok(SecretKey(key))
            }
            Err(e) => Err(e),
        }
    }

    /// HMAC-SHA256 of `data` under the key, bound to `context`: values only this provider
    /// can compute (the decoy address a password reset shows for an unknown username).
    pub fn mac(&self, context: &[u8], data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
        let key = PKey::hmac(&self.0)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
        signer.update(&(context.len() as u64).to_be_bytes())?;
        signer.update(context)?;
        signer.update(data)?;
        signer.sign_to_vec()
    }

    /// nonce ‖ ciphertext ‖ tag, bound to `context`.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &[u8],
    ) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut nonce = [0u8; NONCE_BYTES];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; TAG_BYTES];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            context,
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(NONCE_BYTES + ct.len() + TAG_BYTES);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The plaintext, or `None` when the sealed bytes were not sealed by this key for this
    /// context (or were changed).
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES + TAG_BYTES {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_BYTES);
        let (ct, tag) = rest.split_at(rest.len() - TAG_BYTES);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(nonce),
            context,
            ct,
            tag,
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_only_with_its_key_and_context() {
        let key = SecretKey::new([7; KEY_BYTES]);
        let sealed = key
            .seal(b"pa$$word", b"a@pec.test\0b@old.test")
            .expect("seal");
        assert_eq!(
            key.open(&sealed, b"a@pec.test\0b@old.test").as_deref(),
            Some(&b"pa$$word"[..])
        );
        assert!(!sealed.windows(8).any(|w| w == b"pa$$word"), "not in clear");
        assert_eq!(
            key.open(&sealed, b"c@pec.test\0b@old.test"),
            None,
            "another job"
        );
        assert_eq!(
            SecretKey::new([8; KEY_BYTES]).open(&sealed, b"a@pec.test\0b@old.test"),
            None
        );
        let mut flipped = sealed.clone();
        if let Some(b) = flipped.get_mut(NONCE_BYTES) {
            *b ^= 1;
        }
        assert_eq!(
            key.open(&flipped, b"a@pec.test\0b@old.test"),
            None,
            "changed"
        );
        assert_eq!(
            key.open(&sealed[..10], b"a@pec.test\0b@old.test"),
            None,
            "short"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("migration.key");
        let first = SecretKey::load_or_create(&path).expect("create");
        let sealed = first.seal(b"x", b"c").expect("seal");
        let second = SecretKey::load_or_create(&path).expect("read");
        assert_eq!(second.open(&sealed, b"c").as_deref(), Some(&b"x"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "corto").expect("write");
        assert!(
            SecretKey::load_or_create(&path).is_err(),
            "a damaged key is an error"
        );
    }
}
