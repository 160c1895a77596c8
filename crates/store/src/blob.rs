//! Content-addressed message bytes on local disk. A blob is durable before its name is
//! returned: written to a temporary file, fsynced, renamed into place, directory fsynced.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

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

    /// Stores `data` and returns its SHA-256 name once it is on disk.
    pub fn put(&self, data: &[u8]) -> std::io::Result<String> {
        let hash = Self::name_of(data);
        let Some(path) = self.path(&hash) else {
            return Err(std::io::Error::other("bad blob name"));
        };
        if path.exists() {
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

    pub fn get(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(hash)
            .ok_or_else(|| std::io::Error::other("bad blob name"))?;
        fs::read(path)
    }
}
