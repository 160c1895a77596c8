//! Any bytes as a POP3 command line (RFC 1939 §3): the parser must never panic, and nothing
//! it returns may carry CR, LF or other control characters into an answer or a login.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pop3::command::{parse, Command};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Command::User(s)) | Ok(Command::Pass(s)) => {
            assert!(!s.chars().any(char::is_control));
        }
        Ok(Command::Auth { mechanism, initial }) => {
            for s in mechanism.iter().chain(initial.iter()) {
                assert!(!s.is_empty() && !s.chars().any(|c| c.is_control() || c == ' '));
            }
        }
        Ok(Command::Top(n, _) | Command::Retr(n) | Command::Dele(n)) => assert!(n > 0),
        Ok(Command::List(Some(n)) | Command::Uidl(Some(n))) => assert!(n > 0),
        Ok(_) => {}
        Err(e) => {
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
    }
});
