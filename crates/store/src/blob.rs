//! Content-addressed message bytes on local disk. A blob is durable before its name is
//! returned: written to a temporary file, fsynced, renamed into place, directory fsynced.
//!
//! Removal of unreferenced blobs (see `gc.rs`) must never race with a writer that is about
//! to reference the same bytes: every `put` refreshes the file's modification time under a
//! shared lock of the blob directory, and removal checks that time under the exclusive
//! lock. A blob written (or written again) within the grace period is never removed.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp"))?;
        Ok(BlobStore { root })
    }

    fn path(&self, hash: &str) -> Option<PathBuf> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&hash[..2]).join(hash))
    }

    /// The name `data` has in the store.
    pub fn name_of(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// The lock that orders writers (shared) against removal (exclusive).
    fn lock(&self) -> std::io::Result<File> {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))
    }

    /// Stores `data` and returns its SHA-256 name once it is on disk.
    pub fn put(&self, data: &[u8]) -> std::io::Result<String> {
        let lock = self.lock()?;
        lock.lock_shared()?;
        let hash = Self::name_of(data);
        let Some(path) = self.path(&hash) else {
            return Err(std::io::Error::other("bad blob name"));
        };
        if path.exists() {
            // Already here: its new reference keeps it from removal for the grace period.
            File::options()
                .write(true)
                .open(&path)?
                .set_modified(SystemTime::now())?;
            return Ok(hash);
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        fs::create_dir_all(&dir)?;
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{hash}.{}", std::process::id()));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&dir)?.sync_all()?;
        Ok(hash)
    }

    /// Removes blobs nobody references any more, unless written within `grace`. Returns how
    /// many files went.
    pub fn remove_unreferenced(
        &self,
        hashes: &[String],
        grace: Duration,
    ) -> std::io::Result<usize> {
        let lock = self.lock()?;
        lock.lock()?;
        let mut removed = 0;
        for path in hashes.iter().filter_map(|h| self.path(h)) {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok());
            if age.is_some_and(|a| a >= grace) {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub fn get(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(hash)
            .ok_or_else(|| std::io::Error::other("bad blob name"))?;
        fs::read(path)
    }
}
