//! No message is ever lost: `kill -9` of the provider while 10 clients submit 500 messages.
//! After a restart every message that got `250` has exactly one acceptance, one envelope in
//! the recipient's mailbox and one delivery receipt; the legal log verifies.

mod common;

use common::*;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const CLIENTS: usize = 10;
const PER_CLIENT: usize = 50;

fn client_script() -> &'static str {
    r#"
import smtplib, ssl, sys, threading
port, ca, user, password, rcpt, out_path = sys.argv[1:7]
clients, per = int(sys.argv[7]), int(sys.argv[8])
ctx = ssl.create_default_context(cafile=ca)
lock = threading.Lock()
out = open(out_path, "a", buffering=1)
def record(line):
    with lock:
        out.write(line + "\n")
def connect():
    s = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=30)
    s.login(user, password)
    return s
def run(c):
    s = sessions[c]
    for i in range(per):
        mid = "crash-%d-%d@mua.example" % (c, i)
        msg = ("From: %s\r\nTo: %s\r\nSubject: prova %d/%d\r\nMessage-ID: <%s>\r\n\r\nmessaggio %s\r\n" % (user, rcpt, c, i, mid, mid)).encode()
        try:
            if s is None:
                s = connect()
            s.sendmail(user, [rcpt], msg)
            record("OK " + mid)
        except Exception as e:
            record("ERR " + mid + " " + type(e).__name__)
            s = None
# Log in one after another: this test is about durability, not the login throttle's
# limit on concurrent checks of one account.
sessions = [connect() for _ in range(clients)]
threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
"#
}

fn msgids_by_kind(node: &Node, address: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, bytes) in node.folder(address, "INBOX") {
        let p = pec::classify(&bytes).unwrap();
        let msgid = p
            .daticert
            .as_ref()
            .and_then(|d| d.msgid.clone())
            .or(p.riferimento_message_id.clone())
            .unwrap_or_default();
        out.entry(kind.unwrap_or_default()).or_default().push(msgid);
    }
    out
}

#[test]
fn kill_9_during_500_submissions_loses_nothing() {
    let mut a = Node::new("pec.alpha.test", None);
    let sender = a.mailbox("a");
    let rcpt = a.mailbox("r");
    certa_ok(a.data(), &["mailbox", "quota", &sender, "10GB"]);
    certa_ok(a.data(), &["mailbox", "quota", &rcpt, "10GB"]);
    // 500 messages from one mailbox in seconds: no sending limit here.
    a.edit_config(|cfg| {
        assert!(
            cfg.contains("messages_per_minute = 60") && cfg.contains("messages_per_hour = 1000")
        );
        cfg.replace("messages_per_minute = 60", "messages_per_minute = 0")
            .replace("messages_per_hour = 1000", "messages_per_hour = 0")
    });
    a.start();

    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.txt");
    let mut clients = testkit::tool("python3")
        .arg("-c")
        .arg(client_script())
        .args([
            &a.submissions_port().to_string(),
            a.ca().to_str().unwrap(),
            &sender,
            PASSWORD,
            &rcpt,
            results.to_str().unwrap(),
        ])
        .args([CLIENTS.to_string(), PER_CLIENT.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill -9 once a good part has been accepted.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = std::fs::read_to_string(&results)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 150 {
            break;
        }
        assert!(Instant::now() < deadline, "submissions too slow: {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill();
    clients.wait().unwrap();
    a.start();

    let text = std::fs::read_to_string(&results).unwrap();
    let ok: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("OK "))
        .map(|m| format!("<{m}>"))
        .collect();
    let err: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ERR "))
        .map(|l| format!("<{}>", l.split(' ').next().unwrap_or("")))
        .collect();
    assert_eq!(ok.len() + err.len(), CLIENTS * PER_CLIENT);
    assert!(
        !ok.is_empty() && !err.is_empty(),
        "the kill happened mid-run ({} ok; first error: {:?})",
        ok.len(),
        text.lines().find(|l| l.starts_with("ERR "))
    );

    // Wait for the queue to drain after the restart.
    let deadline = Instant::now() + Duration::from_secs(180);
    while a.store().queue_len().unwrap() > 0 {
        assert!(Instant::now() < deadline, "queue did not drain");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = msgids_by_kind(&a, &sender);
    let received = msgids_by_kind(&a, &rcpt);
    let count_in = |map: &HashMap<String, Vec<String>>, kind: &str, id: &str| {
        map.get(kind)
            .map_or(0, |v| v.iter().filter(|m| *m == id).count())
    };
    for id in &ok {
        assert_eq!(
            count_in(&sent, "accettazione", id),
            1,
            "{id}: one acceptance"
        );
        assert_eq!(
            count_in(&received, "busta-trasporto", id),
            1,
            "{id}: delivered once"
        );
        assert_eq!(
            count_in(&sent, "avvenuta-consegna-completa", id),
            1,
            "{id}: one delivery receipt"
        );
    }
    // A client that saw an error may still have been accepted if the crash fell between the
    // commit and the `250` (the unavoidable SMTP window, RFC 1047): at most one per client
    // in flight, and then complete.
    let mut accepted_despite_error = 0;
    for id in &err {
        let acc = count_in(&sent, "accettazione", id);
        let env = count_in(&received, "busta-trasporto", id);
        assert!(
            acc <= 1 && env == acc,
            "{id}: error with partial effects ({acc} acceptances, {env} envelopes)"
        );
        accepted_despite_error += acc;
    }
    assert!(
        accepted_despite_error <= CLIENTS,
        "{accepted_despite_error} accepted after an error"
    );
    a.kill();
    assert!(certa_ok(a.data(), &["log", "verify"]).contains("registro integro"));
    println!(
        "{} accepted before/after the kill, {} refused, {} in the commit-to-reply window",
        ok.len(),
        err.len(),
        accepted_despite_error
    );
}
