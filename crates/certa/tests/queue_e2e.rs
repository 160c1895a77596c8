//! Hostile peers cannot stop the queue (issue 11, H2, M8, L6): next hops that greet with
//! bytes that are not a reply, send endless lines, stall after STARTTLS or take DATA and
//! never answer cost their own items some time, never the worker, the local deliveries or
//! the other destinations. Items that keep failing the same way are parked and handled with
//! `certa queue`. Mail exchangers that DNS puts on private addresses are refused; static
//! routes to loopback still work.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a fake next hop misbehaves.
#[derive(Clone, Copy)]
enum Hostile {
    /// A greeting whose code is cut by an invalid UTF-8 byte.
    Greeting22ff,
    /// Binary garbage instead of a greeting.
    Garbage,
    /// A greeting line that never ends.
    Overlong,
    /// Offers STARTTLS, says 220 to it, then never answers the TLS handshake.
    StallAfterStarttls,
    /// Takes the transaction up to DATA, then reads a byte a second and never replies.
    SlowData,
    /// Not hostile: a well-behaved server that notes each MAIL FROM and RCPT TO.
    Recorder,
}

/// A fake SMTP server on loopback: counts connections, and how many are open.
struct Peer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
    /// What a [`Hostile::Recorder`] was told: its MAIL FROM and RCPT TO lines, lowercased.
    envelope: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(how: Hostile) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let most_open = Arc::new(AtomicUsize::new(0));
        let envelope = Arc::new(Mutex::new(Vec::new()));
        let (a, o, m, f) = (
            accepted.clone(),
            open.clone(),
            most_open.clone(),
            envelope.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now_open, Ordering::SeqCst);
                let (o, f) = (o.clone(), f.clone());
                std::thread::spawn(move || {
                    let _ = serve_hostile(conn, how, &f);
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Peer {
            port,
            accepted,
            open,
            most_open,
            envelope,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Plays one connection until the client goes away.
fn serve_hostile(
    conn: TcpStream,
    how: Hostile,
    envelope: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    let mut next_line = |r: &mut BufReader<TcpStream>| -> std::io::Result<String> {
        line.clear();
        let mut raw = Vec::new();
        r.read_until(b'\n', &mut raw)?;
        line.push_str(&String::from_utf8_lossy(&raw));
        Ok(line.to_ascii_uppercase())
    };
    match how {
        Hostile::Greeting22ff => w.write_all(b"22\xff\r\n")?,
        Hostile::Garbage => w.write_all(b"\x00\x16\x03\x01garbage \xc3\x28 here\r\n")?,
        Hostile::Overlong => {
            w.write_all(b"220-")?;
            w.write_all(&[b'x'; 20_000])?;
        }
        Hostile::StallAfterStarttls => {
            w.write_all(b"220 stallo ESMTP\r\n")?;
            next_line(&mut r)?;
            w.write_all(b"250-stallo\r\n250 STARTTLS\r\n")?;
            next_line(&mut r)?;
            w.write_all(b"220 avanti\r\n")?;
        }
        Hostile::SlowData => {
            w.write_all(b"220 lento ESMTP\r\n")?;
            loop {
                let cmd = next_line(&mut r)?;
                if cmd.is_empty() {
                    return Ok(());
                }
                if cmd.starts_with("DATA") {
                    w.write_all(b"354 avanti\r\n")?;
                    break;
                }
                w.write_all(b"250 ok\r\n")?;
            }
            // A byte a second, and never a reply.
            let mut b = [0u8; 1];
            while r.read(&mut b)? == 1 {
                std::thread::sleep(Duration::from_secs(1));
            }
            return Ok(());
        }
        Hostile::Recorder => {
            w.write_all(b"220 registro ESMTP\r\n")?;
            loop {
                let cmd = next_line(&mut r)?;
                if cmd.is_empty() || cmd.starts_with("QUIT") {
                    return w.write_all(b"221 ciao\r\n");
                }
                if cmd.starts_with("MAIL FROM:") || cmd.starts_with("RCPT TO:") {
                    // The command and its path, without parameters (SIZE=, BODY=).
                    let words: Vec<&str> = cmd.split_whitespace().take(2).collect();
                    envelope
                        .lock()
                        .unwrap()
                        .push(words.join(" ").to_ascii_lowercase());
                }
                if cmd.starts_with("DATA") {
                    w.write_all(b"354 avanti\r\n")?;
                    loop {
                        // Empty: the client went away (a line has at least its LF).
                        let data_line = next_line(&mut r)?;
                        if data_line.is_empty() {
                            return Ok(());
                        }
                        if data_line.trim_end() == "." {
                            break;
                        }
                    }
                }
                w.write_all(b"250 ok\r\n")?;
            }
        }
    }
    // Hold the connection, reading whatever comes, until the client closes it.
    let mut sink = [0u8; 4096];
    while r.read(&mut sink)? > 0 {}
    Ok(())
}

fn submit(a: &Node, s: &str, rcpt: &str, tag: &str) {
    let msg = format!(
        "From: {s}\r\nTo: {rcpt}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@mua>\r\n\r\nciao\r\n"
    );
    assert_eq!(
        python_submit(a.submissions_port(), &a.ca(), s, s, &[rcpt], msg.as_bytes()),
        "OK"
    );
}

fn wait_until(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// The `certa queue list` line of the item for `domain`, if any.
fn queue_line(a: &Node, domain: &str) -> Option<String> {
    certa_ok(a.data(), &["queue", "list"])
        .lines()
        .find(|l| l.contains(&format!("@{domain}")))
        .map(str::to_string)
}

#[test]
fn hostile_peers_never_stop_the_queue() {
    let mut a = Node::new("pec.alpha.test", None);
    let s = a.mailbox("a");
    let local = a.mailbox("l");
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, sink_port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &[
            "route",
            "add",
            "example.org",
            &format!("127.0.0.1:{sink_port}"),
        ],
    );
    let peers = [
        ("garbage22ff.test", Peer::start(Hostile::Greeting22ff)),
        ("garbage.test", Peer::start(Hostile::Garbage)),
        ("overlong.test", Peer::start(Hostile::Overlong)),
        ("stall.test", Peer::start(Hostile::StallAfterStarttls)),
        ("slow.test", Peer::start(Hostile::SlowData)),
    ];
    for (domain, peer) in &peers {
        certa_ok(
            a.data(),
            &["route", "add", domain, &format!("127.0.0.1:{}", peer.port)],
        );
    }
    // Stalls last 15 s a step; retries come every second.
    a.edit_config(|c| {
        c.replace("step_timeout_secs = 60", "step_timeout_secs = 15")
            .replace(
                "transaction_timeout_secs = 240",
                "transaction_timeout_secs = 40",
            )
            .replace("retry_max_secs = 3600", "retry_max_secs = 1")
    });
    a.start();

    // Happy path: a relay and a local delivery.
    submit(&a, &s, "x@example.org", "felice-1");
    wait_until("relay to the ordinary server", 30, || {
        files_in(sink_dir.path()) == 1
    });
    submit(&a, &s, &local, "locale-1");
    a.wait_folder(&local, "INBOX", "local delivery", |m| {
        count(m, "busta-trasporto") == 1
    });

    // Every hostile destination gets mail; three messages for each staller.
    for (domain, _) in &peers {
        submit(&a, &s, &format!("x@{domain}"), &format!("ostile-{domain}"));
    }
    for i in 0..2 {
        submit(&a, &s, "y@stall.test", &format!("stallo-{i}"));
        submit(&a, &s, "y@slow.test", &format!("lento-{i}"));
    }
    let (stall, slow) = (&peers[3].1, &peers[4].1);
    wait_until("the stallers hold connections", 30, || {
        stall.open() >= 1 && slow.open() >= 1
    });

    // While they are stuck, a local delivery arrives within seconds.
    let started = Instant::now();
    submit(&a, &s, &local, "locale-2");
    a.wait_folder(&local, "INBOX", "local delivery while stuck", |m| {
        count(m, "busta-trasporto") == 2
    });
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "local delivery took {:?}",
        started.elapsed()
    );
    assert!(
        stall.open() >= 1 && slow.open() >= 1,
        "the stallers were still stuck"
    );
    // …and so does a relay to another destination: the workers survived.
    submit(&a, &s, "z@example.org", "felice-2");
    wait_until("relay while stuck", 30, || files_in(sink_dir.path()) == 2);
    // One destination never has more than two attempts at once.
    assert!(stall.most_open.load(Ordering::SeqCst) <= 2);
    assert!(slow.most_open.load(Ordering::SeqCst) <= 2);
    // The step limits end stuck attempts: the stallers see new connections.
    wait_until("stuck attempts end and retry", 60, || {
        stall.accepted() >= 3 && slow.accepted() >= 3
    });

    // Items that fail the same way five times are parked, and not tried again.
    let greeting = &peers[0].1;
    wait_until("the 22\\xff item is parked", 60, || {
        queue_line(&a, "garbage22ff.test").is_some_and(|l| l.contains("sospeso"))
    });
    for (domain, _) in &peers[1..3] {
        wait_until("the garbage items are parked", 60, || {
            queue_line(&a, domain).is_some_and(|l| l.contains("sospeso"))
        });
    }
    assert_eq!(greeting.accepted(), 5);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(greeting.accepted(), 5, "a parked item is not tried again");
    let line = queue_line(&a, "garbage22ff.test").unwrap();
    assert!(line.contains("risposta malformata"), "{line}");
    let id = line.split('\t').next().unwrap().to_string();

    // `queue retry` puts it back: tried again at once.
    let out = certa_ok(a.data(), &["queue", "retry", &id]);
    assert!(out.contains("di nuovo in coda"), "{out}");
    assert!(!queue_line(&a, "garbage22ff.test")
        .unwrap()
        .contains("sospeso"));
    wait_until("the retried item is tried", 30, || greeting.accepted() > 5);
    // Still poison: five more failures and it is parked again.
    wait_until("the retried item is parked again", 60, || {
        queue_line(&a, "garbage22ff.test").is_some_and(|l| l.contains("sospeso"))
    });
    assert_eq!(greeting.accepted(), 10);

    // `queue drop` removes it, with a record in the legal log.
    let out = certa_ok(a.data(), &["queue", "drop", &id]);
    assert!(out.contains("rimosso dalla coda"), "{out}");
    assert!(queue_line(&a, "garbage22ff.test").is_none());
    let (ok, out) = certa(a.data(), &["queue", "drop", &id]);
    assert!(!ok && out.contains("nessun elemento"), "{out}");
    let (ok, _) = certa(a.data(), &["queue", "retry", "999999"]);
    assert!(!ok);
    assert!(certa_ok(a.data(), &["log", "search", "--sender", &s]).contains("rimosso-dalla-coda"));

    // After all of it the server still serves: another local delivery.
    submit(&a, &s, &local, "locale-3");
    a.wait_folder(&local, "INBOX", "local delivery at the end", |m| {
        count(m, "busta-trasporto") == 3
    });
}

#[test]
fn mx_on_private_addresses_is_refused_but_a_static_route_to_loopback_works() {
    let mut a = Node::new("pec.alpha.test", None);
    let s = a.mailbox("a");
    let sink_dir = tempfile::tempdir().unwrap();
    let (_sink, sink_port) = ordinary_mail_server(sink_dir.path());
    certa_ok(
        a.data(),
        &[
            "route",
            "add",
            "example.org",
            &format!("127.0.0.1:{sink_port}"),
        ],
    );
    // Where the refused exchangers would be: it must never see a connection.
    let target = Peer::start(Hostile::Garbage);
    // The holder of a mailbox has its ordinary mail forwarded to an outside address.
    let forwarded = Peer::start(Hostile::Recorder);
    certa_ok(
        a.data(),
        &[
            "route",
            "add",
            "privato.test",
            &format!("127.0.0.1:{}", forwarded.port),
        ],
    );
    certa_ok(
        a.data(),
        &[
            "mailbox",
            "ordinary",
            &s,
            "forward",
            "--to",
            "a@privato.test",
        ],
    );
    // MX records of two domains whose exchangers are on loopback: one by name (an A
    // record of 127.0.0.1), one as an IP literal.
    let (_dns, dns_port) = fake_dns(&[
        ("gamma.test", "MX", "mail.gamma.test"),
        ("mail.gamma.test", "A", "127.0.0.1"),
        ("delta.test", "MX", "127.0.0.1"),
    ]);
    a.edit_config(|c| {
        c.replace(
            "[dns]\nmx_port = 25",
            &format!(
                "[dns]\nresolver = \"127.0.0.1:{dns_port}\"\nmx_port = {}",
                target.port
            ),
        )
    });
    assert!(std::fs::read_to_string(a.data().join("certa.toml"))
        .unwrap()
        .contains("allow_private_mx = false"));
    a.start();

    // Happy path: the static route to 127.0.0.1 is followed.
    submit(&a, &s, "x@example.org", "statico");
    wait_until("relay over the static route", 30, || {
        files_in(sink_dir.path()) == 1
    });

    // DNS naming loopback, by name or as an IP literal: refused, and the sender is told.
    submit(&a, &s, "x@gamma.test", "gamma");
    submit(&a, &s, "x@delta.test", "delta");
    let inbox = a.wait_folder(&s, "INBOX", "non-delivery for private MX", |m| {
        count(m, "mancata-consegna") == 2
    });
    for m in inbox
        .iter()
        .filter(|m| m.0.as_deref() == Some("mancata-consegna"))
    {
        let why = daticert(&m.1).errore_esteso.unwrap_or_default();
        assert!(why.contains("indirizzi privati"), "{why}");
    }
    assert_eq!(
        target.accepted(),
        0,
        "nothing connected to the private target"
    );

    // L10: ordinary mail forwarded outside leaves with our envelope sender, not the
    // original one (whose SPF does not list us): the original rewritten with SRS.
    let out = Command::new("python3")
        .args([
            "-c",
            r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as c:
    c.sendmail("amico@privato.test", [sys.argv[2]], b"From: amico@privato.test\r\nSubject: ciao\r\n\r\nposta ordinaria\r\n")
print("OK")
"#,
            &a.smtp_port().to_string(),
            &s,
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the forwarded copy", 30, || {
        forwarded.envelope.lock().unwrap().len() >= 2
    });
    let envelope = forwarded.envelope.lock().unwrap().clone();
    let srs = envelope[0]
        .strip_prefix("mail from:<")
        .and_then(|f| f.split_once('>'))
        .map(|f| f.0.to_string())
        .unwrap_or_default();
    assert!(
        srs.starts_with("srs0=") && srs.ends_with("=privato.test=amico@pec.alpha.test"),
        "{envelope:?}"
    );
    assert_eq!(envelope[1], "rcpt to:<a@privato.test>");

    // The bounce to that address (lowercased on its way, as mail systems may) goes back to
    // the original sender with a null reverse-path; a forged return address, or other mail
    // than a bounce to a genuine one, is refused.
    let out = Command::new("python3")
        .args([
            "-c",
            r#"
import smtplib, sys
port, srs = int(sys.argv[1]), sys.argv[2]
bounce = b"From: MAILER-DAEMON@privato.test\r\nSubject: Undelivered Mail\r\n\r\nmailbox full\r\n"
def send(sender, rcpt, label):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
            c.sendmail(sender, [rcpt], bounce)
        print(label, "OK")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        print(label, code, text.decode())
send("", srs, "bounce")
c = srs[5]
send("", srs[:5] + ("b" if c in "aA" else "a") + srs[6:], "forged")
send("spam@example.net", srs, "not-a-bounce")
# A return address and a mailbox in one transaction: the mailbox is deferred (452) and
# the bounce alone goes on.
with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
    refused = c.sendmail("", [srs, sys.argv[3]], bounce)
    print("mixed", refused[sys.argv[3]][0])
"#,
            &a.smtp_port().to_string(),
            &srs,
            &s,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("bounce OK"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("forged 550 5.7.1 Indirizzo di ritorno rifiutato"),
        "{said}"
    );
    assert!(said.contains("not-a-bounce 550 5.7.1"), "{said}");
    assert!(said.contains("mixed 452"), "{said}");
    wait_until("the two bounces returned", 30, || {
        forwarded.envelope.lock().unwrap().len() >= 6
    });
    // Two relays may run at once: their lines are counted, not ordered.
    let mut returned = forwarded.envelope.lock().unwrap()[2..].to_vec();
    returned.sort();
    assert_eq!(
        returned,
        [
            "mail from:<>",
            "mail from:<>",
            "rcpt to:<amico@privato.test>",
            "rcpt to:<amico@privato.test>"
        ]
    );
}
