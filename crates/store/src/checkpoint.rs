//! WAL checkpoints off the writer (issue 14). SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, so that writer (and every writer of its group) waits
//! for the database file to be written and synced. Instead the writer's connection never
//! checkpoints, and this thread, on a connection of its own, runs a passive checkpoint
//! every `every`: it copies what the WAL holds into the database file while writers go on,
//! and the WAL starts over at the next write once everything in it is copied.

use crate::Result;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs until dropped.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(db: &Path, every: Duration) -> Result<Checkpointer> {
        let conn = Connection::open(db)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                // PASSIVE: never waits for readers or writers, does what it can now.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "store: WAL checkpoint not completed");
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_copied_into_the_database_without_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).expect("open");
        w.pragma_update(None, "journal_mode", "WAL").expect("wal");
        w.pragma_update(None, "wal_autocheckpoint", 0).expect("off");
        w.execute_batch("CREATE TABLE t(b BLOB)").expect("create");
        for _ in 0..500 {
            w.execute("INSERT INTO t(b) VALUES (zeroblob(2000))", [])
                .expect("insert");
        }
        let db_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // The writer never checkpoints: everything is still in the WAL.
        assert!(db_size() < 100_000, "nothing copied yet: {}", db_size());

        let c = Checkpointer::start(&path, Duration::from_millis(20)).expect("start");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db_size() < 1_000_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(db_size() >= 1_000_000, "copied: {}", db_size());
        drop(c); // stops and joins the thread
        let n: i64 = w
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 500);
    }
}
