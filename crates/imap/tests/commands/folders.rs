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
