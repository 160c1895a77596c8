//! The maildrop of a POP3 session: the exclusive-access lock (RFC 1939 §8), the snapshot of
//! the INBOX taken at login with its deletion marks (RFC 1939 §5), and the multi-line
//! encoding of message content with byte-stuffing (RFC 1939 §3).

use services::mailbox::{FolderId, MailboxId};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// One exclusive-access lock per mailbox (RFC 1939 §8): while a session is in the
/// TRANSACTION state, a second session on the same maildrop is refused with `[IN-USE]`
/// (RFC 2449 §8.1.2). Shared by every listener of a process.
#[derive(Debug, Default)]
pub struct MaildropLocks {
    held: Mutex<HashSet<MailboxId>>,
}

impl MaildropLocks {
    /// Takes the lock of mailbox `id`, or `None` when another session holds it.
    pub fn try_lock(self: &Arc<Self>, id: MailboxId) -> Option<MaildropGuard> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(id).then(|| MaildropGuard {
            locks: self.clone(),
            id,
        })
    }

    /// Whether a session holds the lock of mailbox `id`.
    pub fn is_locked(&self, id: MailboxId) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }
}

/// Holds a maildrop lock; dropping it (QUIT, dropped connection, timeout, panic) releases it.
#[derive(Debug)]
pub struct MaildropGuard {
    locks: Arc<MaildropLocks>,
    id: MailboxId,
}

impl Drop for MaildropGuard {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// One message of the maildrop, numbered from 1 by its position.
#[derive(Debug, Clone)]
pub struct Message {
    pub uid: i64,
    pub size: u64,
    /// Flagged `\Seen` in the store (RETR sets it once).
    pub seen: bool,
    pub deleted: bool,
    /// The unique id it had at an old provider it was copied from (issue 15), if any.
    pub kept_uidl: Option<String>,
}

/// The INBOX as it was at login, with the deletions marked in this session (RFC 1939 §5:
/// messages arriving later are not shown; deletions happen only in the UPDATE state).
#[derive(Debug)]
pub struct Maildrop {
    pub folder_id: FolderId,
    pub uidvalidity: i64,
    pub messages: Vec<Message>,
    /// Released with the maildrop.
    _guard: MaildropGuard,
}

/// Why a message number cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    NoSuchMessage,
    Deleted,
}

impl Maildrop {
    pub fn new(
        folder_id: FolderId,
        uidvalidity: i64,
        messages: Vec<Message>,
        guard: MaildropGuard,
    ) -> Maildrop {
        Maildrop {
            folder_id,
            uidvalidity,
            messages,
            _guard: guard,
        }
    }

    /// The message numbered `n`, unless it does not exist or is marked as deleted.
    pub fn get(&self, n: u32) -> Result<&Message, Missing> {
        let m = (n as usize)
            .checked_sub(1)
            .and_then(|i| self.messages.get(i))
            .ok_or(Missing::NoSuchMessage)?;
        if m.deleted {
            Err(Missing::Deleted)
        } else {
            Ok(m)
        }
    }

    pub fn get_mut(&mut self, n: u32) -> Result<&mut Message, Missing> {
        let m = (n as usize)
            .checked_sub(1)
            .and_then(|i| self.messages.get_mut(i))
            .ok_or(Missing::NoSuchMessage)?;
        if m.deleted {
            Err(Missing::Deleted)
        } else {
            Ok(m)
        }
    }

    /// Message numbers and messages not marked as deleted.
    pub fn live(&self) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, m))
    }

    /// RFC 1939 §5 STAT: count and octets of the messages not marked as deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    /// RFC 1939 §7 UIDL: unique across sessions while UIDVALIDITY stays the same, and the
    /// folder's UIDVALIDITY changes whenever UIDs could be reused.
    pub fn unique_id(&self, m: &Message) -> String {
        match &m.kept_uidl {
            Some(uidl) => uidl.clone(),
            None => format!("{}-{}", self.uidvalidity, m.uid),
        }
    }

    /// UIDs of the messages marked as deleted.
    pub fn deleted_uids(&self) -> Vec<i64> {
        self.messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect()
    }

    /// RFC 1939 §5 RSET: unmarks every message.
    pub fn undelete_all(&mut self) {
        for m in &mut self.messages {
            m.deleted = false;
        }
    }
}

/// Appends `data` to `out` as the body of a multi-line response (RFC 1939 §3): lines that
/// begin with `.` get another `.`, the data ends with CRLF, then the `.` CRLF terminator.
pub fn multiline(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + data.len() / 64 + 5);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !data.is_empty() && !data.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// RFC 1939 §7 TOP: the header, the blank line after it and the first `lines` lines of the
/// body. A message without a blank line is all header.
pub fn top(message: &[u8], lines: u32) -> &[u8] {
    let header_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
    let Some(mut end) = header_end else {
        return message;
    };
    for _ in 0..lines {
        if end >= message.len() {
            break;
        }
        end = match message[end..].iter().position(|&b| b == b'\n') {
            Some(p) => end + p + 1,
            None => message.len(),
        };
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(data: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        multiline(&mut out, data);
        out
    }

    #[test]
    fn byte_stuffing() {
        assert_eq!(encoded(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
        assert_eq!(encoded(b".x\r\n"), b"..x\r\n.\r\n");
        assert_eq!(encoded(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(encoded(b""), b".\r\n");
        assert_eq!(encoded(b"a.b\r\n"), b"a.b\r\n.\r\n");
    }

    #[test]
    fn top_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\nuno\r\ndue\r\ntre\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top(m, 2), b"Subject: x\r\nFrom: y\r\n\r\nuno\r\ndue\r\n");
        assert_eq!(top(m, 99), m);
        assert_eq!(top(b"Subject: x\r\n", 3), b"Subject: x\r\n");
        assert_eq!(top(b"A: b\r\n\r\nfine", 5), b"A: b\r\n\r\nfine");
    }

    #[test]
    fn locks_are_exclusive_and_released() {
        let locks = Arc::new(MaildropLocks::default());
        let g = locks.try_lock(MailboxId(7));
        assert!(g.is_some());
        assert!(locks.try_lock(MailboxId(7)).is_none());
        assert!(locks.try_lock(MailboxId(8)).is_some());
        drop(g);
        assert!(!locks.is_locked(MailboxId(7)));
        assert!(locks.try_lock(MailboxId(7)).is_some());
    }
}
