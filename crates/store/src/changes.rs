//! What sessions and workers wait on. A commit that changed a mailbox's folders wakes the
//! IMAP sessions that watch it (IDLE, NOOP's updates); one that queued work wakes the
//! queue's dispatchers. [`ChangeFeed`] is the seam: [`LocalChanges`] serves one process;
//! another backend (PostgreSQL's LISTEN/NOTIFY) can tell other nodes as well.

use crate::MailboxId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Tells watchers that something changed. A receiver sees a new value after each change
/// (changes may coalesce); it never misses that one happened after it last looked.
pub trait ChangeFeed: Send + Sync {
    /// A commit changed a folder of `mailbox`.
    fn mailbox_changed(&self, mailbox: MailboxId);
    /// Woken after each [`ChangeFeed::mailbox_changed`] of `mailbox`.
    fn watch_mailbox(&self, mailbox: MailboxId) -> watch::Receiver<u64>;
    /// Work was queued, or a destination may have room again.
    fn queue_changed(&self);
    /// Woken after each [`ChangeFeed::queue_changed`].
    fn watch_queue(&self) -> watch::Receiver<u64>;
}

/// The in-process feed: one watch channel per watched mailbox, one for the queue.
pub struct LocalChanges {
    mailboxes: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
    queue: watch::Sender<u64>,
}

impl Default for LocalChanges {
    fn default() -> Self {
        LocalChanges {
            mailboxes: Mutex::new(HashMap::new()),
            queue: watch::channel(0).0,
        }
    }
}

impl ChangeFeed for LocalChanges {
    fn mailbox_changed(&self, mailbox: MailboxId) {
        let mut w = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = w.get(&mailbox) {
            // Senders nobody listens to any more are dropped.
            if tx.receiver_count() == 0 {
                w.remove(&mailbox);
            } else {
                tx.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
    }

    fn watch_mailbox(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let mut w = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn queue_changed(&self) {
        self.queue.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn watch_queue(&self) -> watch::Receiver<u64> {
        self.queue.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_sees_its_mailbox_change_and_not_another() {
        let feed = LocalChanges::default();
        let mut mine = feed.watch_mailbox(MailboxId(1));
        let mut other = feed.watch_mailbox(MailboxId(2));
        assert!(!mine.has_changed().expect("open"));
        feed.mailbox_changed(MailboxId(1));
        assert!(mine.has_changed().expect("open"));
        assert!(!other.has_changed().expect("open"));
        mine.borrow_and_update();
        assert!(!mine.has_changed().expect("open"));
        other.borrow_and_update();
    }

    #[test]
    fn a_change_before_the_wait_is_not_lost() {
        let feed = LocalChanges::default();
        let mut queue = feed.watch_queue();
        queue.borrow_and_update();
        feed.queue_changed();
        // Nobody was waiting when it happened; the next look still sees it.
        assert!(queue.has_changed().expect("open"));
    }

    #[test]
    fn senders_without_watchers_are_dropped() {
        let feed = LocalChanges::default();
        drop(feed.watch_mailbox(MailboxId(7)));
        feed.mailbox_changed(MailboxId(7));
        let w = feed.mailboxes.lock().expect("lock");
        assert!(w.is_empty());
    }
}
