//! POP3 (RFC 1939, RFC 2449) for Certa mailboxes.
