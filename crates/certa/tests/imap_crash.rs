//! `kill -9` during APPENDs from four clients: after restart every APPEND that got `OK` is
//! there with the UID it was given, UIDs are unique and increasing, UIDVALIDITY unchanged.

mod common;

use common::{Node, PASSWORD};
use std::time::{Duration, Instant};

#[test]
fn appends_confirmed_before_a_kill_survive_it() {
    let mut a = Node::new("pec.alpha.test", None);
    let user = a.mailbox("crash");
    a.start();
    let store = a.store();
    let mailbox = store.mailbox(&user).unwrap().unwrap();
    let before = store.folder(mailbox.id, "INBOX").unwrap().unwrap();
    drop(store);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("confirmed.txt");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/append_clients.py"
    );
    let mut clients = testkit::tool("python3")
        .arg(script)
        .arg((a.base + 4).to_string())
        .arg(a.ca())
        .arg(&user)
        .arg(PASSWORD)
        .arg(&log)
        .spawn()
        .unwrap();
    let confirmed = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while confirmed() < 40 {
        assert!(Instant::now() < deadline, "clients made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.kill();
    clients.wait().unwrap();
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.lines().count() < 200, "the kill came before the end");
    a.start();

    let store = a.store();
    let after = store.folder(mailbox.id, "INBOX").unwrap().unwrap();
    assert_eq!(
        after.uidvalidity, before.uidvalidity,
        "UIDVALIDITY unchanged"
    );
    let entries = store.messages(after.id).unwrap();
    let uids: Vec<i64> = entries.iter().map(|e| e.uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs unique and increasing"
    );
    let mut subjects = std::collections::HashMap::new();
    for e in &entries {
        let raw = store.blob(&e.blob).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_string();
        subjects.insert(subject, e.uid);
    }
    for line in lines.lines() {
        // "c2-17 [APPENDUID 1790000000 35] APPEND completato"
        let mut it = line.split_whitespace();
        let subject = it.next().unwrap();
        let uidvalidity: i64 = it.nth(1).unwrap().parse().unwrap();
        let uid: i64 = it.next().unwrap().trim_end_matches(']').parse().unwrap();
        assert_eq!(uidvalidity, before.uidvalidity);
        assert_eq!(
            subjects.get(subject),
            Some(&uid),
            "{subject} was confirmed as UID {uid}"
        );
    }
    assert!(
        entries.len() >= lines.lines().count(),
        "every confirmed APPEND is there"
    );
}
