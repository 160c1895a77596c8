//! Any bytes as one IMAP command (lines and literals as the connection assembles them): a
//! command or a syntax error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = imap::command::parse(data);
    let _ = imap::command::tag_of(data);
});
