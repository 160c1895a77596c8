//! Group commit (issue 14): concurrent writers share one SQLite transaction and one fsync.
//!
//! Each writer takes the writer's lock in turn and runs its own closure inside a savepoint
//! of the transaction that is open (opening it when none is). When it is done and nobody
//! else is waiting for the lock, it commits; otherwise it leaves the transaction open for
//! the next writer and waits. Every writer of a group returns `Ok` only after the commit
//! that holds its data is on disk, with that commit's error if it failed. A writer whose
//! closure fails rolls back its own savepoint and returns at once; the others' work stays.
//!
//! A group forms from the writers that queued while the previous commit was writing to the
//! disk, so under load one fsync carries many writes, and alone a writer commits at once
//! (no timer, no added latency).

use crate::cached::Cached;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The one connection that writes, with its group commit.
pub(crate) struct Writer {
    state: Mutex<State>,
    /// Notified after each commit.
    committed: Condvar,
    /// Writers waiting for `state`: while there are some, the transaction stays open for
    /// them.
    queued: AtomicUsize,
}

struct State {
    conn: Connection,
    /// A transaction is open: group `group` is forming.
    open: bool,
    /// The group the next writer joins.
    group: u64,
    /// The last group whose commit is over, and its error if it failed.
    done: u64,
    failure: Option<(u64, StoreError)>,
}

/// What one writer's closure did: its result, or the panic it raised.
type Step<T> = std::result::Result<Result<T>, Box<dyn Any + Send>>;

impl Writer {
    pub(crate) fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State {
                conn,
                open: false,
                group: 1,
                done: 0,
                failure: None,
            }),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        st
    }

    /// Runs `f` in the shared transaction; `Ok` only once its group's commit is durable
    /// (the connection is in `synchronous=FULL`).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let st = self.lock();
        self.in_group(st, f)
    }

    /// Like [`Writer::write`] for changes a crash may lose without harm: alone, the commit
    /// does not wait for the disk (`synchronous=NORMAL`). With others it joins their group
    /// and, like them, returns only after the group's commit: what `f` read inside the open
    /// transaction may be another member's uncommitted work (a queue item enqueued a moment
    /// ago), which the caller must not act on before it is committed.
    pub(crate) fn write_relaxed<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut st = self.lock();
        if !st.open && self.queued.load(Ordering::SeqCst) == 0 {
            return st.alone_relaxed(f);
        }
        self.in_group(st, f)
    }

    /// Runs `f` as a member of the open group, commits the group when nobody else is
    /// waiting to join, and returns once the group's commit is over.
    fn in_group<T>(
        &self,
        mut st: MutexGuard<'_, State>,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let step = st.member(f);
        let group = st.group;
        if self.queued.load(Ordering::SeqCst) == 0 {
            st.commit();
            self.committed.notify_all();
        }
        let value = match step {
            Ok(Ok(value)) => value,
            // A failed writer's savepoint is undone: nothing of it waits for the commit.
            Ok(Err(e)) => return Err(e),
            Err(panic) => {
                drop(st);
                panic::resume_unwind(panic)
            }
        };
        while st.done < group {
            st = self
                .committed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &st.failure {
            Some((failed, e)) if *failed == group => Err(e.clone()),
            _ => Ok(value),
        }
    }
}

impl State {
    /// Runs one writer's closure in its own savepoint of the open transaction (opened if
    /// needed); a failure or a panic undoes the savepoint, and only it.
    fn member<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Step<T> {
        if !self.open {
            if let Err(e) = self.conn.exec("BEGIN IMMEDIATE", []) {
                return Ok(Err(e.into()));
            }
            self.open = true;
        }
        if let Err(e) = self.conn.exec("SAVEPOINT member", []) {
            return Ok(Err(e.into()));
        }
        let conn = &self.conn;
        let step = panic::catch_unwind(AssertUnwindSafe(|| f(conn)));
        let kept = match &step {
            Ok(Ok(_)) => self.conn.exec("RELEASE member", []),
            _ => self
                .conn
                .exec("ROLLBACK TO member", [])
                .and_then(|_| self.conn.exec("RELEASE member", [])),
        };
        match (step, kept) {
            (Ok(Ok(_)), Err(e)) => Ok(Err(e.into())),
            (step, _) => step,
        }
    }

    /// Ends the open group: commits it, or records why the commit failed (the transaction
    /// is then rolled back, so the next group starts clean).
    fn commit(&mut self) {
        if self.open {
            if let Err(e) = self.conn.exec("COMMIT", []) {
                let _ = self.conn.exec("ROLLBACK", []);
                tracing::error!(error = %e, "store: a group commit failed");
                self.failure = Some((self.group, e.into()));
            }
            self.open = false;
        }
        self.done = self.group;
        self.group += 1;
    }

    /// A relaxed write with nobody else about: its own transaction, committed without
    /// waiting for the disk. The connection is back in `synchronous=FULL` afterwards, even
    /// when `f` panics: the next durable write must not commit without the fsync.
    fn alone_relaxed<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.conn.exec("PRAGMA synchronous = NORMAL", [])?;
        let conn = &self.conn;
        let step = panic::catch_unwind(AssertUnwindSafe(|| {
            let tx = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        }));
        let restored = self.conn.exec("PRAGMA synchronous = FULL", []);
        let out = match step {
            Ok(out) => out,
            Err(panic) => panic::resume_unwind(panic),
        };
        restored?;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn writer() -> (tempfile::TempDir, Arc<Writer>, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("full");
        conn.execute_batch("CREATE TABLE t(n INTEGER PRIMARY KEY)")
            .expect("table");
        (dir, Arc::new(Writer::new(conn)), path)
    }

    fn rows(path: &std::path::Path) -> Vec<i64> {
        let c = Connection::open(path).expect("open");
        let mut st = c.prepare("SELECT n FROM t ORDER BY n").expect("prepare");
        let rows = st
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<Vec<i64>>>()
            .expect("rows");
        rows
    }

    /// A relaxed writer that joins a group reads the group's uncommitted work (here, row 1,
    /// as a queue claim reads an item just enqueued); it must not return before that work
    /// is committed, or its caller acts on data another connection cannot see yet (the
    /// delivery worker read a blob that was not there and failed the item).
    #[test]
    fn a_relaxed_writer_in_a_group_returns_only_after_the_groups_commit() {
        let (_dir, w, path) = writer();
        // Alone, a relaxed write is committed when it returns.
        w.write_relaxed(|c| Ok(c.execute("INSERT INTO t(n) VALUES (0)", [])?))
            .expect("alone");
        assert_eq!(rows(&path), vec![0]);

        let (inside_tx, inside) = std::sync::mpsc::channel();
        let a = {
            let w = w.clone();
            std::thread::spawn(move || {
                w.write(|c| {
                    c.execute("INSERT INTO t(n) VALUES (1)", [])?;
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    Ok(())
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = {
            let (w, path) = (w.clone(), path.clone());
            std::thread::spawn(move || {
                let saw = w
                    .write_relaxed(|c| {
                        let saw: i64 =
                            c.query_row("SELECT count(*) FROM t WHERE n = 1", [], |r| r.get(0))?;
                        inside_tx.send(()).expect("send");
                        // Long enough for the third writer to queue behind this one.
                        std::thread::sleep(std::time::Duration::from_millis(150));
                        Ok(saw)
                    })
                    .expect("relaxed in a group");
                (saw, rows(&path))
            })
        };
        inside.recv().expect("b inside");
        let c = {
            let w = w.clone();
            std::thread::spawn(move || {
                w.write(|c| Ok(c.execute("INSERT INTO t(n) VALUES (3)", [])?))
            })
        };
        let (saw, visible) = b.join().expect("b");
        assert_eq!(saw, 1, "b read a's row inside the group");
        assert!(
            visible.contains(&1),
            "what b read is committed when b returns: {visible:?}"
        );
        a.join().expect("a").expect("a committed");
        c.join().expect("c").expect("c committed");
        assert_eq!(rows(&path), vec![0, 1, 3]);
    }

    /// Many writers at once: each one's rows are committed (seen by another connection)
    /// when it returns; a failing writer's rows are not, and the others' stay.
    #[test]
    fn concurrent_writers_share_commits_and_keep_their_own_outcome() {
        let (_d, w, path) = writer();
        let threads: Vec<_> = (0..16)
            .map(|i: i64| {
                let (w, path) = (w.clone(), path.clone());
                std::thread::spawn(move || {
                    let r = w.write(|c| {
                        c.execute("INSERT INTO t(n) VALUES (?1)", [i])?;
                        if i % 4 == 3 {
                            return Err(StoreError::Refused("no".into()));
                        }
                        Ok(i)
                    });
                    match r {
                        Ok(n) => {
                            // Durable and visible to another connection on return.
                            assert!(rows(&path).contains(&n), "{n} committed");
                            true
                        }
                        Err(StoreError::Refused(_)) => false,
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        let ok = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(ok, 12);
        let expected: Vec<i64> = (0..16).filter(|i| i % 4 != 3).collect();
        assert_eq!(rows(&path), expected);
        let st = w.state.lock().expect("lock");
        assert!(!st.open, "the last writer committed");
    }

    /// A panic in one writer's closure undoes its savepoint, reaches its caller, and does
    /// not stop the next writer.
    #[test]
    fn a_panicking_writer_undoes_only_its_own_work() {
        let (_d, w, path) = writer();
        w.write(|c| Ok(c.execute("INSERT INTO t(n) VALUES (1)", [])?))
            .expect("first");
        let w2 = w.clone();
        let panicked = std::thread::spawn(move || {
            w2.write(|c| -> Result<()> {
                c.execute("INSERT INTO t(n) VALUES (2)", [])?;
                panic!("boom")
            })
        })
        .join();
        assert!(panicked.is_err());
        w.write(|c| Ok(c.execute("INSERT INTO t(n) VALUES (3)", [])?))
            .expect("after the panic");
        assert_eq!(rows(&path), vec![1, 3]);
    }

    /// A relaxed write alone commits (visible to another connection) and leaves the
    /// connection in `synchronous=FULL` for the durable writes, even after one panicked.
    #[test]
    fn a_relaxed_write_alone_commits_and_restores_full_sync() {
        let (_d, w, path) = writer();
        w.write_relaxed(|c| Ok(c.execute("INSERT INTO t(n) VALUES (5)", [])?))
            .expect("relaxed");
        assert_eq!(rows(&path), vec![5]);
        let w2 = w.clone();
        let panicked = std::thread::spawn(move || {
            w2.write_relaxed(|c| -> Result<()> {
                c.execute("INSERT INTO t(n) VALUES (6)", [])?;
                panic!("boom")
            })
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(rows(&path), vec![5], "the panicking write left nothing");
        // The panic went through the lock (poisoned); the writer takes it anyway.
        let st = w.lock();
        let sync: i64 = st
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "FULL");
    }
}
