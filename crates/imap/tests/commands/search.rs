//! RFC 9051 §6.4.4 SEARCH and UID SEARCH.

use crate::harness::*;

#[test]
fn search_by_header_text_and_flags() {
    let s = Server::start();
    s.deliver("INBOX", "contratto");
    s.deliver("INBOX", "fattura");
    s.deliver("INBOX", "sollecito");
    let mut c = s.select("INBOX");
    c.ok("STORE 3 +FLAGS.SILENT (\\Seen)");
    let r = c.ok("SEARCH SUBJECT fattura");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 2", "{r:?}");
    let r = c.ok("SEARCH BODY \"Testo di contratto\"");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1", "{r:?}");
    let r = c.ok("UID SEARCH UNSEEN");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH 1 2", "{r:?}");
    let r = c.ok("SEARCH NOT SEEN SUBJECT sollecito");
    assert_eq!(r.lines("SEARCH")[0], "SEARCH", "{r:?}");
    c.bad("SEARCH (((");
}
