//! Content-addressed message bytes on local disk. A blob is durable before its name is
//! returned: written to a temporary file of its own (never shared, even by two writers of
//! the same bytes), fsynced, renamed into place, directory fsynced (and a new `xx/`
//! directory in its parent). Temporary files a crash left behind are swept at start and by
//! the collection, once older than any write takes.
//!
//! Removal of unreferenced blobs (see `gc.rs`) must never race with a writer that is about
//! to reference the same bytes: every `put` refreshes the file's modification time under a
//! shared lock of the blob directory, and removal checks that time under the exclusive
//! lock. A blob written (or written again) within the grace period is never removed.
//!
//! A blob file whose referencing transaction then failed (or a crash came between the
//! write and the commit) never gets a release: it is found by walking the `xx/` directories
//! a slice at a time ([`BlobStore::written_before`]) and removed the same way.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Temporary files older than this are left by a crash: no write takes that long.
pub const TEMPORARY_GRACE: Duration = Duration::from_secs(3600);

/// The name bytes have in every blob store: their SHA-256, in hex.
pub fn blob_name(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Where message bytes live, by content: local files ([`LocalBlobs`]) today, an object
/// store later. Writes are durable before they return; nothing is ever overwritten with
/// other bytes (the name is the content's hash).
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `data` and returns its name ([`blob_name`]) once it is durable. Storing
    /// bytes that are there already refreshes their write time (see `remove_unreferenced`).
    fn put(&self, data: &[u8]) -> std::io::Result<String>;
    /// The bytes stored under `hash`; `NotFound` when there are none.
    fn get(&self, hash: &str) -> std::io::Result<Vec<u8>>;
    /// Removes blobs nobody references any more, unless written within `grace`. Returns how
    /// many went.
    fn remove_unreferenced(&self, hashes: &[String], grace: Duration) -> std::io::Result<usize>;
    /// Names of the blobs of shard `shard` (the first byte of their names) last written
    /// more than `grace` ago: the candidates for the sweep of blobs no row references.
    fn written_before(&self, shard: u8, grace: Duration) -> std::io::Result<Vec<String>>;
}

#[derive(Clone, Debug)]
pub struct LocalBlobs {
    root: PathBuf,
    /// Numbers this process's temporary files (with the pid, unique on this host).
    next_temporary: Arc<AtomicU64>,
}

impl LocalBlobs {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp"))?;
        let store = LocalBlobs {
            root,
            next_temporary: Arc::new(AtomicU64::new(0)),
        };
        store.sweep_temporary(TEMPORARY_GRACE)?;
        Ok(store)
    }

    /// Removes temporary files older than `grace` (a crash between writing and renaming);
    /// younger ones may belong to a writer at work, in this or another process. Returns
    /// how many went.
    pub fn sweep_temporary(&self, grace: Duration) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok());
            if age.is_some_and(|a| a >= grace) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A new temporary file, created exclusively: two writers never share one.
    fn temporary(&self, hash: &str) -> std::io::Result<(PathBuf, File)> {
        loop {
            let n = self.next_temporary.fetch_add(1, Ordering::Relaxed);
            let path = self
                .root
                .join("tmp")
                .join(format!("{hash}.{}.{n}", std::process::id()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(f) => return Ok((path, f)),
                // Left by an earlier process with the same pid: take the next number.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn path(&self, hash: &str) -> Option<PathBuf> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&hash[..2]).join(hash))
    }

    /// The lock that orders writers (shared) against removal (exclusive).
    fn lock(&self) -> std::io::Result<File> {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))
    }
}

impl BlobStore for LocalBlobs {
    /// Stores `data` and returns its SHA-256 name once it is on disk.
    fn put(&self, data: &[u8]) -> std::io::Result<String> {
        let lock = self.lock()?;
        lock.lock_shared()?;
        let hash = blob_name(data);
        let Some(path) = self.path(&hash) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad blob name",
            ));
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
        if !dir.is_dir() {
            fs::create_dir_all(&dir)?;
            // The new directory's entry must be durable too, or a crash loses the blob.
            File::open(&self.root)?.sync_all()?;
        }
        let (tmp, mut f) = self.temporary(&hash)?;
        let written = f.write_all(data).and_then(|()| f.sync_all());
        drop(f);
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        File::open(&dir)?.sync_all()?;
        Ok(hash)
    }

    /// Removes blobs nobody references any more, unless written within `grace`. Returns how
    /// many files went.
    fn remove_unreferenced(&self, hashes: &[String], grace: Duration) -> std::io::Result<usize> {
        let lock = self.lock()?;
        lock.lock()?;
        self.sweep_temporary(TEMPORARY_GRACE)?;
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

    /// Names of the blob files in directory `shard` (the first byte of their names) last
    /// written more than `grace` ago: the candidates for the sweep of files no row
    /// references. Anything else in that directory is left alone.
    fn written_before(&self, shard: u8, grace: Duration) -> std::io::Result<Vec<String>> {
        let prefix = format!("{shard:02x}");
        let entries = match fs::read_dir(self.root.join(&prefix)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let mut old = vec![];
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !name.starts_with(&prefix) || self.path(&name).is_none() {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok());
            if age.is_some_and(|a| a >= grace) {
                old.push(name);
            }
        }
        Ok(old)
    }

    fn get(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path(hash).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob name")
        })?;
        fs::read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many writers of the same bytes at once (the same attachment in many messages): each
    /// gets its own temporary file, every `put` succeeds and the blob is whole.
    #[test]
    fn concurrent_writes_of_the_same_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path().join("blobs")).unwrap();
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        // Happy path: one writer.
        let hash = store.put(&data).unwrap();
        assert_eq!(store.get(&hash).unwrap(), data);
        for round in 0..20 {
            // Remove it so that every writer takes the write path at once.
            fs::remove_file(store.path(&hash).unwrap()).unwrap();
            let results: Vec<std::io::Result<String>> = std::thread::scope(|s| {
                let writers: Vec<_> = (0..8).map(|_| s.spawn(|| store.put(&data))).collect();
                writers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            for r in results {
                assert_eq!(r.unwrap(), hash, "round {round}");
            }
            assert!(
                store.get(&hash).unwrap() == data,
                "round {round}: blob corrupt"
            );
        }
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(),
            0,
            "no temporary file left"
        );
    }

    #[test]
    fn orphan_temporary_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = LocalBlobs::open(&root).unwrap();
        let old = root.join("tmp/orphan.1.0");
        let fresh = root.join("tmp/writing.1.1");
        fs::write(&old, b"half").unwrap();
        fs::write(&fresh, b"half").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * TEMPORARY_GRACE)
            .unwrap();
        // Reopening (a restart) sweeps the crash's leftover, not a file being written.
        drop(store);
        let store = LocalBlobs::open(&root).unwrap();
        assert!(!old.exists() && fresh.exists());
        assert_eq!(store.sweep_temporary(Duration::ZERO).unwrap(), 1);
        assert!(!fresh.exists());
    }
}
