//! Any bytes from an old provider's IMAP server (issue 15): one response parsed, or "need
//! more", or a clean error, never a panic; and what it says it consumed is within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = imapclient::Limits {
        max_literal: 1 << 20,
        max_line: 1 << 12,
    };
    if let Ok(Some((_, used))) = imapclient::wire::parse(data, &limits) {
        assert!(used <= data.len());
    }
});
