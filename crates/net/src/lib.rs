//! Networking shared by every server of Certa (SMTP, IMAP, POP3, the webmail) and the SMTP
//! client: [`stream`] (a connection, plain TCP or TLS, upgraded by STARTTLS/STLS; the
//! cancel-safe line reader; the lingering close), [`deflate`] (RFC 4978 compression of a
//! stream) and [`connections`] (caps on open connections, in total and per client address).

pub mod connections;
pub mod deflate;
pub mod stream;

pub use stream::{close_unread, read_line_limited, Stream};
