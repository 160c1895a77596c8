//! IMAP behaviour, one file per command group, against the real server in-process
//! (`harness`): a behaviour is a few lines, `c.ok("UID STORE 1 +FLAGS (\\Seen)")`. The
//! Python, mbsync and offlineimap tests in crates/certa stay as interoperability tests.

mod harness;

mod append;
mod auth;
mod compress;
mod copy_move;
mod expunge;
mod flags;
mod folders;
mod search;
mod select;
