//! Logs and metrics (issue 12, item 6): one PEC transaction between two real providers whose
//! standard error goes to files — alpha's in human lines, beta's in JSON — then `grep
//! <identificativo>` over each log shows every step of the message's life on that side (and
//! of a message not accepted); no password and no body text is in either log; `/metrics`,
//! scraped before and after, has its counters moved.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Text of the message body: it must never reach a log line.
const BODY: &str = "Corpo riservatissimo della fattura 9QX";
/// A wrong password tried over IMAP: a failed login is logged, its password never.
const WRONG_PASSWORD: &str = "Sbagliata#Del-Tutto42";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `certa serve` with its standard error in `log` and `CERTA_LOG` as given.
fn spawn_serve(node: &Node, log: &Path, certa_log: Option<&str>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certa"));
    cmd.arg("--data")
        .arg(node.data())
        .arg("serve")
        .env_remove("CERTA_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    if let Some(v) = certa_log {
        cmd.env("CERTA_LOG", v);
    }
    Proc(cmd.spawn().unwrap())
}

/// `certa serve` with its standard error in `log`, once it listens; killed when the test
/// ends.
fn serve_logging_to(node: &Node, log: &Path, certa_log: Option<&str>) -> Proc {
    let child = spawn_serve(node, log, certa_log);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", node.base + 7)).is_err() {
        assert!(Instant::now() < deadline, "certa serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `GET /metrics` over a plain socket: the status line and the body.
fn scrape(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of a sample, by its whole name with labels.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn lines_with(log: &Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Waits until the lines of `log` naming `ident` have every step, then returns them.
fn wait_for_steps(log: &Path, ident: &str, steps: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = lines_with(log, ident);
        let missing: Vec<&&str> = steps
            .iter()
            .filter(|s| !lines.iter().any(|l| l.contains(*s)))
            .collect();
        if missing.is_empty() {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {missing:?} not logged with {ident}; its lines:\n{}",
            log.display(),
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An IMAPS login with Python's imaplib; its outcome ("OK" or the error).
fn imap_login(port: u16, ca: &Path, user: &str, password: &str) -> String {
    let script = r#"
import imaplib, ssl, sys
port, ca, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
try:
    with imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=30) as c:
        c.login(user, password)
        print("OK")
except imaplib.IMAP4.error as e:
    print("ERR", e)
"#;
    let out = testkit::tool("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(ca)
        .arg(user)
        .arg(password)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn one_transaction_is_followed_by_its_identificativo_in_both_logs_and_counted() {
    let a = Node::new("pec.alpha.test", None);
    let b = Node::new("pec.beta.test", None);
    let sender = a.mailbox("a");
    let rcpt = b.mailbox("b");
    a.peer_with(&b);
    b.peer_with(&a);
    let (metrics_a, metrics_b) = (free_port(), free_port());
    let with_metrics = |text: String, port: u16| {
        let http = text
            .lines()
            .find(|l| l.starts_with("http = "))
            .unwrap()
            .to_string();
        text.replacen(&http, &format!("{http}\nmetrics = \"127.0.0.1:{port}\""), 1)
    };
    a.edit_config(|t| with_metrics(t, metrics_a));
    b.edit_config(|t| {
        assert!(
            t.contains("[log]") && t.contains("format = \"text\""),
            "{t}"
        );
        with_metrics(t, metrics_b).replace("format = \"text\"", "format = \"json\"")
    });
    let logs = tempfile::tempdir().unwrap();
    let (log_a, log_b): (PathBuf, PathBuf) =
        (logs.path().join("alpha.log"), logs.path().join("beta.log"));
    let _a = serve_logging_to(&a, &log_a, None);
    let _b = serve_logging_to(&b, &log_b, None);

    // Before: nothing counted yet, the gauges are there; other paths are not served.
    let (status, before) = scrape(metrics_a, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{before}");
    let accepted = "certa_messages_total{outcome=\"accepted\",kind=\"posta-certificata\"}";
    assert_eq!(sample(&before, accepted), None, "{before}");
    assert_eq!(sample(&before, "certa_queue_depth"), Some(0.0), "{before}");
    let imaps_open = "certa_open_connections{listener=\"imaps\"}";
    assert_eq!(sample(&before, imaps_open), Some(0.0), "{before}");
    assert_eq!(scrape(metrics_a, "/").0, "HTTP/1.1 404 Not Found");
    // A request head past 8 KiB is refused, not buffered.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics_a)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Pad: {}", "a".repeat(9000));
    s.write_all(huge.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    let (_, before_b) = scrape(metrics_b, "/metrics");
    let delivered = "certa_messages_total{outcome=\"delivered\",kind=\"busta-trasporto\"}";
    assert_eq!(sample(&before_b, delivered), None, "{before_b}");

    // A login that fails, then the transaction.
    let refused = imap_login(a.base + 4, &a.ca(), &sender, WRONG_PASSWORD);
    assert!(refused.starts_with("ERR"), "{refused}");
    let message = format!(
        "From: {sender}\r\nTo: {rcpt}\r\nSubject: Fattura 9\r\nMessage-ID: <logs-1@mua.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{BODY}\r\n"
    );
    let r = python_submit(
        a.submissions_port(),
        &a.ca(),
        &sender,
        &sender,
        &[&rcpt],
        message.as_bytes(),
    );
    assert_eq!(r, "OK");
    let inbox = a.wait_folder(&sender, "INBOX", "acceptance and delivery receipt", |m| {
        count(m, "accettazione") == 1 && count(m, "avvenuta-consegna-completa") == 1
    });
    let ident = daticert(&inbox[0].1).identificativo;

    // Alpha: accepted at the access point (on the submitter's connection, after its login),
    // the envelope built, the relay attempt with beta's reply, beta's receipts received.
    assert!(!lines_with(&log_a, "certa serve started").is_empty());
    let alpha = wait_for_steps(
        &log_a,
        &ident,
        &[
            "event=\"accettazione\"",
            "event=\"busta-trasporto\"",
            "event=\"tentativo-inoltro\"",
            "event=\"inoltro\"",
            "ricevuta-presa-in-carico",
            "ricevuta-avvenuta-consegna-completa",
        ],
    );
    let acceptance = alpha
        .iter()
        .find(|l| l.contains("event=\"accettazione\""))
        .unwrap();
    assert!(
        acceptance.contains("listener=\"submissions\"")
            && acceptance.contains("tls=true")
            && acceptance.contains(&format!("login=\"{sender}\"")),
        "{acceptance}"
    );
    let attempt = alpha
        .iter()
        .find(|l| l.contains("event=\"tentativo-inoltro\""))
        .unwrap();
    assert!(
        attempt.contains("outcome=\"delivered\"") && attempt.contains("Presa in carico"),
        "the relay attempt carries the peer's reply: {attempt}"
    );
    let failed_login = lines_with(&log_a, "login failed");
    assert!(
        failed_login.iter().any(|l| l.contains("protocol=\"imap\"")
            && l.contains("reason=\"invalid\"")
            && l.contains("listener=\"imaps\"")),
        "{failed_login:?}"
    );

    // Beta, in JSON: taken in charge at the incoming point, delivered, and both receipts
    // relayed back, each attempt with alpha's reply.
    let beta = wait_for_steps(
        &log_b,
        &ident,
        &[
            "\"event\":\"presa-in-carico\"",
            "\"event\":\"consegna\"",
            "\"event\":\"tentativo-inoltro\"",
            "\"event\":\"inoltro\"",
        ],
    );
    for l in &beta {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
    }
    let relays_back = beta
        .iter()
        .filter(|l| l.contains("\"event\":\"tentativo-inoltro\"") && l.contains("Ricevuta"))
        .count();
    assert!(
        relays_back >= 2,
        "presa in carico and consegna relayed: {beta:#?}"
    );

    // A message that fails the formal checks (RFC 6109 §3.1.1: the recipient is not in its
    // To or Cc): its non-accettazione is logged with the reasons, under its own
    // identificativo.
    let stray = message.replace(&format!("To: {rcpt}"), &format!("To: {sender}"));
    let r = python_submit(
        a.submissions_port(),
        &a.ca(),
        &sender,
        &sender,
        &[&rcpt],
        stray.as_bytes(),
    );
    assert!(r.starts_with("ERR"), "{r}");
    let inbox = a.wait_folder(&sender, "INBOX", "non-acceptance", |m| {
        count(m, "non-accettazione") == 1
    });
    let notice = inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("non-accettazione"))
        .unwrap();
    let refused_ident = daticert(&notice.1).identificativo;
    assert_ne!(refused_ident, ident);
    let refusal = wait_for_steps(&log_a, &refused_ident, &["event=\"non-accettazione\""]);
    assert!(
        refusal
            .iter()
            .any(|l| l.contains("reasons=") && l.contains(&rcpt)),
        "{refusal:?}"
    );

    // No password (of the run, the wrong one, the quickstart's) and no body text anywhere.
    let (_, first_password) = a.first_login();
    for log in [&log_a, &log_b] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains(&ident), "the log is not empty");
        for secret in [
            PASSWORD,
            WRONG_PASSWORD,
            first_password.as_str(),
            BODY,
            "riservatissimo",
        ] {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "{} holds {secret:?}", log.display());
        }
    }

    // After: the counters moved on both sides.
    let (_, after) = scrape(metrics_a, "/metrics");
    assert_eq!(sample(&after, accepted), Some(1.0), "{after}");
    let not_accepted = "certa_messages_total{outcome=\"refused\",kind=\"posta-certificata\"}";
    assert_eq!(sample(&after, not_accepted), Some(1.0), "{after}");
    for (name, at_least) in [
        ("certa_relay_attempts_total{outcome=\"delivered\"}", 1.0),
        (
            "certa_logins_total{protocol=\"submission\",result=\"ok\"}",
            1.0,
        ),
        (
            "certa_logins_total{protocol=\"imap\",result=\"invalid\"}",
            1.0,
        ),
        (
            "certa_messages_total{outcome=\"accepted\",kind=\"avvenuta-consegna-completa\"}",
            1.0,
        ),
        ("certa_store_write_seconds_count", 3.0),
    ] {
        let v = sample(&after, name).unwrap_or(0.0);
        assert!(v >= at_least, "{name} = {v}\n{after}");
        assert!(
            sample(&before, name).unwrap_or(0.0) < v,
            "{name} did not move"
        );
    }
    // The scrape's own connection is open while it is answered.
    let open = "certa_open_connections{listener=\"metrics\"}";
    assert_eq!(sample(&after, open), Some(1.0), "{after}");
    let (_, after_b) = scrape(metrics_b, "/metrics");
    assert_eq!(sample(&after_b, delivered), Some(1.0), "{after_b}");
    let taken = "certa_messages_total{outcome=\"accepted\",kind=\"busta-trasporto\"}";
    assert_eq!(sample(&after_b, taken), Some(1.0), "{after_b}");
    assert!(sample(&after_b, "certa_queue_oldest_age_seconds").is_some());
}

/// Waits for a `certa serve` that must refuse to start; its exit status.
fn refused_start(mut p: Proc) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "certa serve started anyway");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_log_level_comes_from_certa_log_over_the_configuration_and_a_bad_one_stops_serve() {
    let node = Node::new("pec.gamma.test", None);
    let address = node.mailbox("g");
    let logs = tempfile::tempdir().unwrap();

    // [log] level = "info" (quickstart's): the start is logged, and a failed login.
    let log = logs.path().join("info.log");
    let serving = serve_logging_to(&node, &log, None);
    let r = imap_login(node.base + 4, &node.ca(), &address, WRONG_PASSWORD);
    assert!(r.starts_with("ERR"), "{r}");
    drop(serving);
    assert!(!lines_with(&log, "certa serve started").is_empty());
    assert!(!lines_with(&log, "login failed").is_empty());

    // CERTA_LOG=warn wins: the failed login (a warning) only.
    let log = logs.path().join("warn.log");
    let serving = serve_logging_to(&node, &log, Some("warn"));
    let r = imap_login(node.base + 4, &node.ca(), &address, WRONG_PASSWORD);
    assert!(r.starts_with("ERR"), "{r}");
    drop(serving);
    assert!(!lines_with(&log, "login failed").is_empty());
    assert!(lines_with(&log, "certa serve started").is_empty());

    // A level that is no level stops `serve` with the setting's name, from either place.
    let log = logs.path().join("bad-env.log");
    let status = refused_start(spawn_serve(&node, &log, Some("info,certa=loudest")));
    assert!(!status.success());
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("CERTA_LOG"), "{out}");
    node.edit_config(|t| t.replace("level = \"info\"", "level = \"info,services=loudest\""));
    let log = logs.path().join("bad-config.log");
    let status = refused_start(spawn_serve(&node, &log, None));
    assert!(!status.success());
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("[log] level"), "{out}");
}
