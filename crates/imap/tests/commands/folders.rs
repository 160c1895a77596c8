//! RFC 9051 §6.3.4–6.3.9: CREATE, DELETE, RENAME, LIST, and the special folders
//! (RFC 6154).

use crate::harness::*;

#[test]
fn special_folders_are_listed_with_their_use_and_cannot_be_removed() {
    let s = Server::start();
    let mut c = s.login();
    let r = c.ok("LIST \"\" \"*\"");
    for (attr, name) in [
        ("\\Drafts", "Bozze"),
        ("\\Trash", "Cestino"),
        ("\\Junk", "\"Posta indesiderata\""),
        ("\\Sent", "\"Posta inviata\""),
    ] {
        assert!(
            r.untagged
                .iter()
                .any(|l| l.contains(attr) && l.ends_with(name)),
            "{attr} {name}: {r:?}"
        );
    }
    let r = c.no("DELETE Cestino");
    assert!(r.tagged.contains("[CANNOT]"), "{r:?}");
    c.no("RENAME Bozze Altro");
    c.no("DELETE INBOX");
    let r = c.ok("LIST \"\" Cestino");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
}

#[test]
fn create_rename_delete_with_children() {
    let s = Server::start();
    let mut c = s.login();
    c.ok("CREATE Progetti/2026");
    let r = c.ok("LIST \"\" \"Progetti*\"");
    assert!(r.has("\\HasChildren") && r.has("Progetti/2026"), "{r:?}");
    let r = c.no("CREATE Progetti");
    assert!(r.tagged.contains("[ALREADYEXISTS]"), "{r:?}");
    c.ok("RENAME Progetti Archivio");
    let r = c.ok("LIST \"\" \"Archivio/*\"");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
    // A folder with children stays; its children go first.
    c.no("DELETE Archivio");
    c.ok("DELETE Archivio/2026");
    c.ok("DELETE Archivio");
    let r = c.ok("LIST \"\" \"Archivio*\"");
    assert!(r.untagged.is_empty(), "{r:?}");
}

#[test]
fn a_folder_deleted_and_created_again_gets_a_new_uidvalidity() {
    let s = Server::start();
    let mut c = s.login();
    c.ok("CREATE Progetti");
    let before = c.ok("STATUS Progetti (UIDVALIDITY)").untagged.join("");
    c.ok("DELETE Progetti");
    // Within the same second: the creation time alone would give the old value back.
    c.ok("CREATE Progetti");
    let after = c.ok("STATUS Progetti (UIDVALIDITY)").untagged.join("");
    assert!(before.contains("UIDVALIDITY"), "{before}");
    assert_ne!(
        before, after,
        "RFC 9051 §2.3.1.1: a client would keep its stale cache"
    );
}

#[test]
fn list_extended_selects_by_subscription_and_refuses_unknown_options() {
    let s = Server::start();
    let mut c = s.login();
    for f in ["P/uno", "P/due/tre", "P/quattro", "P/sei"] {
        c.ok(&format!("CREATE {f}"));
    }
    // CREATE does not subscribe (RFC 9051 §6.3.4): the client decides.
    let r = c.ok("LIST (SUBSCRIBED) \"\" P/*");
    assert!(r.untagged.is_empty(), "{r:?}");
    c.ok("SUBSCRIBE P/uno");
    c.ok("SUBSCRIBE P/due/tre");
    c.ok("SUBSCRIBE P/sei");
    c.ok("DELETE P/sei");

    // A deleted folder stays subscribed, and says so (RFC 5258 §3.4).
    let r = c.ok("LIST (SUBSCRIBED) \"\" P/*");
    assert!(r.has("(\\HasNoChildren \\Subscribed) \"/\" P/uno"), "{r:?}");
    assert!(
        r.has("(\\HasNoChildren \\Subscribed) \"/\" P/due/tre"),
        "{r:?}"
    );
    assert!(r.has("(\\NonExistent \\Subscribed) \"/\" P/sei"), "{r:?}");
    assert!(!r.has("P/quattro"), "{r:?}");

    // RECURSIVEMATCH: a parent whose subscribed child the pattern does not list.
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" P/% RETURN (CHILDREN)");
    assert!(
        r.has("(\\HasChildren) \"/\" P/due (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
        "{r:?}"
    );
    // ...not when the child is listed itself.
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (P/due P/due/tre)");
    assert!(!r.has("CHILDINFO"), "{r:?}");
    assert!(r.has("P/due/tre"), "{r:?}");

    // LSUB with `%` names the parent of a subscribed folder \Noselect (RFC 3501 §6.3.9).
    let r = c.ok("LSUB \"\" P/%");
    assert!(r.has("LSUB (\\Noselect) \"/\" P/due"), "{r:?}");
    assert!(r.has("LSUB () \"/\" P/uno"), "{r:?}");

    // Unknown options, and RECURSIVEMATCH alone, are errors (RFC 5258 §3).
    c.bad("LIST (IMAPTEST) \"\" \"\"");
    c.bad("LIST (RECURSIVEMATCH) \"\" \"\"");
    c.bad("LIST (RECURSIVEMATCH REMOTE) \"\" \"\"");
    c.bad("LIST \"\" \"\" RETURN (IMAPTEST)");
    c.ok("LIST (REMOTE) \"\" %");
    // Unsubscribing the deleted folder's name works and removes it.
    c.ok("UNSUBSCRIBE P/sei");
    let r = c.ok("LIST (SUBSCRIBED) \"\" P/*");
    assert!(!r.has("P/sei"), "{r:?}");
}
