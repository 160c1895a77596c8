//! POP3 for Certa mailboxes: RFC 1939 with the extension mechanism of RFC 2449 (CAPA,
//! response codes, PIPELINING, TOP, UIDL), SASL PLAIN (RFC 5034, RFC 4616), STLS (RFC 2595)
//! or implicit TLS, and the response codes of RFC 3206. The maildrop is the mailbox's INBOX.
//!
//! Layers: [`command`] parses one line (pure, fuzzed); the session gives each command its
//! meaning over the [`store::Store`] and does the I/O: line limits, STLS, the AUTH
//! continuation, pipelined answers, the idle timeout; [`MaildropLocks`] keeps two sessions
//! from sharing a maildrop (RFC 1939 §8).

pub mod command;
mod maildrop;
mod session;

pub use maildrop::{MaildropGuard, MaildropLocks};
pub use session::{serve_connection, Pop3Config};
