//! An IMAP4rev1 client (RFC 3501, with what RFC 9051 keeps of it), of our own, for one job:
//! copying a user's messages byte for byte from their old provider's IMAPS server (issue 15,
//! "Copy messages from the old PEC box"). It connects with implicit TLS only, checking the
//! server's certificate and name ([`net::stream::Stream::connect_tls`]), logs in, lists the
//! folders, EXAMINEs them (read-only: nothing changes at the source) and fetches with
//! `BODY.PEEK[]` (no `\Seen` set at the source).
//!
//! **The server is not trusted.** Every byte it sends may be hostile: the parser ([`wire`])
//! never panics and is tested on truncated, flipped and random input; nothing it announces is
//! believed before it is checked against a bound:
//! - a literal's `{n}` against [`Limits::max_literal`] before any of its bytes is buffered,
//!   the text of a response outside its literals against [`Limits::max_line`];
//! - [`Timeouts::idle`] on every read and write (a server that stalls is a
//!   [`Error::Timeout`]), [`Timeouts::connect`] on the TCP connection and the TLS handshake;
//! - at most 10,000 LIST entries, untagged responses per command at most 10,000 + 10 per
//!   message asked for, the UIDs of a search bounded by the folder's size, the bodies of one
//!   [`Client::uid_fetch_messages`] at most twice [`Limits::max_literal`];
//! - responses for UIDs not asked for are ignored, a UID sent twice keeps its first copy,
//!   UID 0, UIDVALIDITY 0 and a FETCH of message data without its UID are errors.
//!
//! After an error other than [`Error::Refused`], [`Error::AuthenticationFailed`] or a refusal
//! that is [`Error::Unavailable`] (a tagged `NO`), the connection is unusable: every later
//! command fails at once; connect again.

mod client;
mod date;
pub mod pop3;
mod reader;
pub mod utf7;
pub mod wire;

pub use client::{Client, FetchedMessage, FolderStatus, ListedFolder};

use std::time::Duration;

/// How long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the TCP connection, and again for the TLS handshake.
    pub connect: Duration,
    /// The longest wait for any byte from the server (or for it to take ours).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            idle: Duration::from_secs(120),
        }
    }
}

/// How much of what the server sends is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest literal (a message's `BODY[]`), and the literals of one response together.
    pub max_literal: usize,
    /// The longest response outside its literals (its lines together).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_literal: 64 << 20,
            max_line: 64 << 10,
        }
    }
}

/// What went wrong, typed for what the caller does next (retry later, ask for the password
/// again, report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection (or the name's resolution) failed or timed out: unreachable.
    #[error("the server is unreachable: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake or the certificate's verification failed.
    #[error("TLS with the server failed: {0}")]
    Tls(String),
    /// Nothing came for [`Timeouts::idle`] (or the handshake took over
    /// [`Timeouts::connect`]) while waiting for this.
    #[error("the server did not answer in time (waiting for {0})")]
    Timeout(&'static str),
    /// `NO` (or `BAD`) to LOGIN or AUTHENTICATE: the server's text.
    #[error("the server refused the user name or password: {0}")]
    AuthenticationFailed(String),
    /// `BYE` at any time, `NO [UNAVAILABLE]`, `NO [LIMIT]`, "too many connections": the
    /// server is throttling; try again later.
    #[error("the server is not available now: {0}")]
    Unavailable(String),
    /// Any other `NO`/`BAD` to a command, with the server's text.
    #[error("the server refused the command: {0}")]
    Refused(String),
    /// A malformed or inconsistent response.
    #[error("the server broke the IMAP protocol: {0}")]
    Protocol(String),
    /// A literal or a response over [`Limits`]: the connection is unusable.
    #[error("the server sent more than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Another I/O error after connecting.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
}

impl From<wire::WireError> for Error {
    fn from(e: wire::WireError) -> Self {
        match e {
            wire::WireError::TooLarge { limit } => Error::TooLarge { limit },
            wire::WireError::Malformed(what) => Error::Protocol(what),
        }
    }
}

/// The IMAP sequence-set text for UIDs, sorted or not, duplicates dropped: `"1:5,7,9:12"`
/// (RFC 3501 §9 `sequence-set`). 0, which is no UID, is left out; no UIDs give `""`.
pub fn sequence_set(uids: &[u32]) -> String {
    sequence_sets(uids, usize::MAX).concat()
}

/// [`sequence_set`] split into sets whose text is at most `max_text` bytes (one range is at
/// most 21), for commands of a bounded length.
pub(crate) fn sequence_sets(uids: &[u32], max_text: usize) -> Vec<String> {
    let mut sorted: Vec<u32> = uids.iter().copied().filter(|&uid| uid != 0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, high)) if high.checked_add(1) == Some(uid) => *high = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    let mut sets = Vec::new();
    let mut set = String::new();
    for (low, high) in ranges {
        let range = if low == high {
            low.to_string()
        } else {
            format!("{low}:{high}")
        };
        if !set.is_empty() && set.len() + 1 + range.len() > max_text {
            sets.push(std::mem::take(&mut set));
        }
        if !set.is_empty() {
            set.push(',');
        }
        set.push_str(&range);
    }
    if !set.is_empty() {
        sets.push(set);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_sets_are_compact_sorted_and_deduplicated() {
        assert_eq!(
            sequence_set(&[1, 2, 3, 4, 5, 7, 9, 10, 11, 12]),
            "1:5,7,9:12"
        );
        assert_eq!(
            sequence_set(&[12, 9, 7, 11, 10, 7, 3, 1, 2, 5, 4]),
            "1:5,7,9:12"
        );
        assert_eq!(sequence_set(&[42]), "42");
        assert_eq!(sequence_set(&[]), "");
        assert_eq!(sequence_set(&[0]), "");
        assert_eq!(
            sequence_set(&[u32::MAX, u32::MAX - 1, 1]),
            "1,4294967294:4294967295"
        );
    }

    #[test]
    fn long_sequence_sets_are_split_within_the_length() {
        let uids: Vec<u32> = (1..=20_000).map(|n| n * 2).collect();
        let sets = sequence_sets(&uids, 8000);
        assert!(sets.len() > 1);
        assert!(sets.iter().all(|s| s.len() <= 8000 && !s.is_empty()));
        let back: Vec<u32> = sets
            .iter()
            .flat_map(|s| s.split(','))
            .map(|n| n.parse::<u32>().unwrap())
            .collect();
        assert_eq!(back, uids);
        assert_eq!(sequence_sets(&[1, 2, 3], 8000), vec!["1:3".to_string()]);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let t = Timeouts::default();
        assert_eq!((t.connect.as_secs(), t.idle.as_secs()), (30, 120));
        let l = Limits::default();
        assert_eq!((l.max_literal, l.max_line), (64 * 1024 * 1024, 64 * 1024));
    }
}
