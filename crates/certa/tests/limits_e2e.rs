//! Hostile clients against a real `certa serve` (security review H3, H5, M1): literals
//! announced before login are refused before they are read, a FETCH repeating one item is
//! answered once, slow clients are closed at the command deadline, and the per-address cap
//! refuses the next connection until one closes. Each test shows the normal client served
//! first; the server's memory is read from /proc.

mod common;

use common::{Node, PASSWORD};
use openssl::ssl::{SslConnector, SslMethod, SslStream};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The server's resident memory, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(node: &Node) -> u64 {
    let pid = node.pid().expect("started");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A blocking line client for IMAP, POP3 and SMTP.
struct Client {
    r: BufReader<Conn>,
    greeting: String,
}

impl Client {
    fn tcp(port: u16) -> TcpStream {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        tcp
    }

    fn plain(port: u16) -> Client {
        let mut c = Client {
            r: BufReader::new(Conn::Plain(Self::tcp(port))),
            greeting: String::new(),
        };
        c.greeting = c.line().unwrap_or_default();
        c
    }

    fn tls(node: &Node, port: u16) -> Client {
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(node.ca()).unwrap();
        let tls = b.build().connect("localhost", Self::tcp(port)).unwrap();
        let mut c = Client {
            r: BufReader::new(Conn::Tls(Box::new(tls))),
            greeting: String::new(),
        };
        c.greeting = c.line().unwrap_or_default();
        c
    }

    fn send(&mut self, data: &[u8]) {
        let w = self.r.get_mut();
        w.write_all(data).unwrap();
        w.flush().unwrap();
    }

    /// One line without its CRLF; `None` at end of stream or on a reset.
    fn line(&mut self) -> Option<String> {
        let mut buf = vec![];
        match self.r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(
                String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
        }
    }

    /// Lines up to the one starting with `tag ` (included).
    fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = vec![];
        loop {
            let l = self
                .line()
                .unwrap_or_else(|| panic!("closed; got {lines:?}"));
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    fn imap(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.until_tagged(tag)
    }

    /// Whether the server closes the connection within `within` (reading what it sends).
    fn closed_within(&mut self, within: Duration) -> bool {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < within {
            match self.r.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        false
    }
}

fn imap_login(c: &mut Client, user: &str) {
    let r = c.imap("l", &format!("LOGIN {user} \"{PASSWORD}\""));
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
}

/// A node whose plain listeners accept logins (loopback), with `edit` applied to the
/// `[limits]` of its configuration.
fn node(edit: &[(&str, &str)]) -> (Node, String) {
    let mut n = Node::new("pec.alpha.test", None);
    let user = n.mailbox("utente2");
    n.edit_config(|mut cfg| {
        cfg = cfg.replace(
            "allow_plaintext_auth = false",
            "allow_plaintext_auth = true",
        );
        for (from, to) in edit {
            assert!(cfg.contains(from), "{from} not in certa.toml:\n{cfg}");
            cfg = cfg.replace(from, to);
        }
        cfg
    });
    n.start();
    (n, user)
}

/// H3: before login, a literal over a few KiB is refused before a byte of it is read or
/// a byte of memory is reserved for it: 100 connections announcing 100 MB each leave the
/// server's memory where it was, and the server keeps serving.
#[test]
fn preauth_literals_are_refused_before_they_are_read() {
    // 101 clients from one address, and a BYE'd connection lingers up to 2 s on our side
    // (smtp::stream::close_unread): the per-address cap is not this test's subject.
    let (node, user) = node(&[(
        "max_connections_per_ip = 100",
        "max_connections_per_ip = 200",
    )]);
    let imap = node.base + 3;

    // Happy path: small literals before login (LOGIN's user name and password), then a
    // 1 MB APPEND after it.
    let mut c = Client::plain(imap);
    assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
    c.send(format!("a LOGIN {{{}}}\r\n", user.len()).as_bytes());
    assert!(c.line().unwrap().starts_with("+ "));
    c.send(format!("{user} {{{}}}\r\n", PASSWORD.len()).as_bytes());
    assert!(c.line().unwrap().starts_with("+ "));
    c.send(format!("{PASSWORD}\r\n").as_bytes());
    let r = c.until_tagged("a");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let body = "x".repeat(1000) + "\r\n";
    let message = format!("Subject: grande\r\n\r\n{}", body.repeat(1000));
    c.send(format!("b APPEND INBOX {{{}}}\r\n", message.len()).as_bytes());
    assert!(c.line().unwrap().starts_with("+ "));
    c.send(message.as_bytes());
    c.send(b"\r\n");
    let r = c.until_tagged("b");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");

    // The attack: 100 unauthenticated connections announce 100 MB each, synchronising
    // (refused with a tagged NO) and non-synchronising (refused with BYE).
    let before = rss_kib(&node);
    let mut attackers = vec![];
    for i in 0..100 {
        let mut a = Client::plain(imap);
        if i % 2 == 0 {
            a.send(b"x APPEND INBOX {104857600}\r\n");
            let r = a.line().unwrap_or_default();
            assert!(r.starts_with("x NO [TOOBIG]"), "{r}");
        } else {
            a.send(b"x APPEND INBOX {104857600+}\r\nsome bytes of it");
            let r = a.line().unwrap_or_default();
            assert!(r.starts_with("* BYE"), "{i}: {r:?}");
        }
        attackers.push(a);
    }
    // A LOGIN literal over the pre-auth limit is refused too.
    let mut a = Client::plain(imap);
    a.send(b"y LOGIN {65536}\r\n");
    let r = a.line().unwrap_or_default();
    assert!(r.starts_with("y NO [TOOBIG]"), "{r}");
    let after = rss_kib(&node);
    assert!(
        after < before + 10 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // The server still serves: the logged-in client and a new one.
    let r = c.imap("c", "NOOP");
    assert!(r.last().unwrap().starts_with("c OK"), "{r:?}");
    let mut d = Client::plain(imap);
    imap_login(&mut d, &user);
}

/// H5: `FETCH 1 (RFC822 ×9000)` answers the message once, and memory stays flat.
#[test]
fn fetch_repeating_one_item_answers_it_once() {
    let (node, user) = node(&[]);
    let mut c = Client::plain(node.base + 3);
    imap_login(&mut c, &user);
    let body = "y".repeat(1000) + "\r\n";
    let message = format!("Subject: ripetuto\r\n\r\n{}", body.repeat(200));
    c.send(format!("a APPEND INBOX {{{}+}}\r\n", message.len()).as_bytes());
    c.send(message.as_bytes());
    c.send(b"\r\n");
    let r = c.until_tagged("a");
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let r = c.imap("b", "SELECT INBOX");
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");

    // Happy path: one RFC822, the message's bytes.
    let fetch = |c: &mut Client, tag: &str, items: &str| -> Vec<u8> {
        c.send(format!("{tag} FETCH 1 ({items})\r\n").as_bytes());
        let mut all = vec![];
        loop {
            let mut l = vec![];
            assert!(c.r.read_until(b'\n', &mut l).unwrap() > 0, "closed");
            all.extend_from_slice(&l);
            if l.starts_with(format!("{tag} ").as_bytes()) {
                return all;
            }
        }
    };
    let once = fetch(&mut c, "c", "RFC822");
    let once_text = String::from_utf8_lossy(&once);
    assert!(once_text.contains("RFC822 {"), "{once_text:.200}");
    assert!(once.len() > message.len());

    let before = rss_kib(&node);
    let many = vec!["RFC822"; 9000].join(" ");
    let answer = fetch(&mut c, "d", &many);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.lines().last().unwrap().starts_with("d OK"),
        "{text:.300}"
    );
    assert_eq!(text.matches("RFC822 {").count(), 1);
    assert!(answer.len() < 2 * message.len(), "{} bytes", answer.len());
    let after = rss_kib(&node);
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

/// Sends `line` a byte a second; true if the server closed before the line was complete.
fn trickle_is_closed(c: &mut Client, line: &[u8]) -> bool {
    for b in line {
        if c.r.get_mut().write_all(&[*b]).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    c.closed_within(Duration::from_secs(5))
}

/// M1: with a 3 s command deadline, a client that takes its time between commands is
/// served, one that sends a command line a byte a second is closed after the deadline (on
/// imap, imaps, pop3, pop3s), and a TLS handshake that never comes is dropped.
#[test]
fn slow_command_lines_are_closed_at_the_deadline() {
    let (node, user) = node(&[("command_deadline_secs = 60", "command_deadline_secs = 3")]);
    let (imap, imaps, pop3, pop3s) = (node.base + 3, node.base + 4, node.base + 5, node.base + 6);
    let slow_line = b"a NOOP and more words\r\n";

    // IMAP, plain and implicit TLS.
    for tls in [false, true] {
        let open = || {
            if tls {
                Client::tls(&node, imaps)
            } else {
                Client::plain(imap)
            }
        };
        // Happy path: idle for longer than the deadline between commands is fine.
        let mut ok = open();
        imap_login(&mut ok, &user);
        std::thread::sleep(Duration::from_secs(4));
        let r = ok.imap("n", "NOOP");
        assert!(r.last().unwrap().starts_with("n OK"), "{r:?}");

        let mut slow = open();
        let started = Instant::now();
        assert!(trickle_is_closed(&mut slow, slow_line), "tls={tls}");
        assert!(started.elapsed() < Duration::from_secs(12));
        // The normal client still works.
        let r = ok.imap("m", "NOOP");
        assert!(r.last().unwrap().starts_with("m OK"), "{r:?}");
    }
    // The slow client was told why (on the plain listener, where we can read it).
    let mut slow = Client::plain(imap);
    for b in b"a N" {
        slow.send(&[*b]);
        std::thread::sleep(Duration::from_millis(800));
    }
    let bye = slow.line().unwrap_or_default();
    assert!(bye.starts_with("* BYE"), "{bye}");

    // POP3, plain and implicit TLS.
    for tls in [false, true] {
        let open = || {
            if tls {
                Client::tls(&node, pop3s)
            } else {
                Client::plain(pop3)
            }
        };
        let mut ok = open();
        assert!(ok.greeting.starts_with("+OK"), "{}", ok.greeting);
        std::thread::sleep(Duration::from_secs(4));
        ok.send(b"CAPA\r\n");
        assert!(ok.line().unwrap().starts_with("+OK"));
        while ok.line().unwrap() != "." {}

        let mut slow = open();
        assert!(trickle_is_closed(
            &mut slow,
            b"USER someone@pec.alpha.test\r\n"
        ));
        ok.send(b"NOOP\r\n");
        let r = ok.line().unwrap_or_default();
        assert!(r.starts_with("+OK") || r.starts_with("-ERR"), "{r}");
    }

    // An AUTHENTICATE continuation that never ends is told and closed.
    let mut auth = Client::plain(imap);
    auth.send(b"a AUTHENTICATE PLAIN\r\n");
    assert!(auth.line().unwrap_or_default().starts_with("+"));
    auth.send(b"AGF");
    let r = auth.line().unwrap_or_default();
    assert!(r.starts_with("* BYE"), "{r}");
    // A STARTTLS whose handshake never starts is dropped at the deadline.
    let mut starttls = Client::plain(imap);
    let r = starttls.imap("s", "STARTTLS");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    let started = Instant::now();
    assert!(starttls.closed_within(Duration::from_secs(10)));
    assert!(started.elapsed() >= Duration::from_secs(2));

    // A TLS handshake that never starts is dropped at the deadline (imaps, pop3s).
    for port in [imaps, pop3s] {
        let mut silent = Client {
            r: BufReader::new(Conn::Plain(Client::tcp(port))),
            greeting: String::new(),
        };
        let started = Instant::now();
        assert!(silent.closed_within(Duration::from_secs(10)), "port {port}");
        assert!(started.elapsed() >= Duration::from_secs(2));
    }
}

/// M1: with 3 connections allowed per address and listener, the 4th gets the protocol's
/// refusal (IMAP `* BYE`, POP3 `-ERR`, SMTP `421`) and is closed; once one closes, a new
/// one is served.
#[test]
fn per_address_cap_refuses_the_next_connection_until_one_closes() {
    let (node, _user) = node(&[("max_connections_per_ip = 100", "max_connections_per_ip = 3")]);
    let listeners = [
        (node.base + 3, "* OK", "* BYE [UNAVAILABLE]"),
        (node.base + 5, "+OK", "-ERR [SYS/TEMP]"),
        (node.smtp_port(), "220", "421 4.7.0"),
        (node.base + 1, "220", "421 4.7.0"),
    ];
    for (port, greeting, refusal) in listeners {
        let mut open: Vec<Client> = (0..3).map(|_| Client::plain(port)).collect();
        for c in &open {
            assert!(c.greeting.starts_with(greeting), "{port}: {}", c.greeting);
        }
        let mut extra = Client::plain(port);
        assert!(
            extra.greeting.starts_with(refusal) && extra.greeting.contains("troppe connessioni"),
            "{port}: {}",
            extra.greeting
        );
        assert!(extra.closed_within(Duration::from_secs(5)));
        drop(open.pop());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let again = Client::plain(port);
            if again.greeting.starts_with(greeting) {
                break;
            }
            assert!(Instant::now() < deadline, "{port}: {}", again.greeting);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The webmail counts its own: 3 TLS connections held, the 4th is closed unanswered.
    let web = node.base + 7;
    let held: Vec<Client> = (0..3).map(|_| tls_only(&node, web)).collect();
    let mut refused = Client {
        r: BufReader::new(Conn::Plain(Client::tcp(web))),
        greeting: String::new(),
    };
    assert!(refused.closed_within(Duration::from_secs(5)));
    drop(held);
}

/// A TLS connection that sends nothing (the webmail does not greet).
fn tls_only(node: &Node, port: u16) -> Client {
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_ca_file(node.ca()).unwrap();
    let tls = b.build().connect("localhost", Client::tcp(port)).unwrap();
    Client {
        r: BufReader::new(Conn::Tls(Box::new(tls))),
        greeting: String::new(),
    }
}

/// Reads an SMTP reply to its last line ("250 …" after "250-…").
fn smtp_reply(c: &mut Client) -> String {
    loop {
        let l = c.line().unwrap_or_default();
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return l;
        }
    }
}

/// M1 on SMTP: with a 3 s line deadline, a client that waits between commands is served,
/// one that trickles a command line a byte a second is closed (smtp, submission,
/// submissions); with a 4 s DATA deadline, a message sent promptly is answered and one
/// whose lines keep coming, a line a second, is cut off with 421.
#[test]
fn slow_smtp_lines_and_data_are_closed_at_their_deadlines() {
    let (node, user) = node(&[
        ("command_deadline_secs = 60", "command_deadline_secs = 3"),
        (
            "smtp_data_deadline_secs = 1800",
            "smtp_data_deadline_secs = 4",
        ),
    ]);
    let (smtp, submission, submissions) = (node.base, node.base + 1, node.base + 2);
    for (port, tls) in [(smtp, false), (submission, false), (submissions, true)] {
        let open = || {
            if tls {
                Client::tls(&node, port)
            } else {
                Client::plain(port)
            }
        };
        // Happy path: a pause longer than the deadline between commands is fine.
        let mut ok = open();
        assert!(ok.greeting.starts_with("220"), "{}", ok.greeting);
        std::thread::sleep(Duration::from_secs(4));
        ok.send(b"EHLO client.example\r\n");
        let r = smtp_reply(&mut ok);
        assert!(r.starts_with("250 "), "port {port}: {r}");

        let mut slow = open();
        let started = Instant::now();
        assert!(
            trickle_is_closed(&mut slow, b"EHLO slow.client.example\r\n"),
            "port {port}"
        );
        assert!(started.elapsed() < Duration::from_secs(12));
        ok.send(b"NOOP\r\n");
        let r = smtp_reply(&mut ok);
        assert!(r.starts_with("250"), "port {port}: {r}");
    }
    // The slow client is told why (on the plain MX, where we can read it).
    let mut slow = Client::plain(smtp);
    for b in b"EHLO x" {
        slow.send(&[*b]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let r = slow.line().unwrap_or_default();
    assert!(r.starts_with("421"), "{r}");

    let data = |lines_every: Option<Duration>| {
        let mut c = Client::plain(smtp);
        c.send(b"EHLO client.example\r\n");
        assert!(smtp_reply(&mut c).starts_with("250 "));
        c.send(b"MAIL FROM:<someone@example.org>\r\n");
        assert!(smtp_reply(&mut c).starts_with("250"));
        c.send(format!("RCPT TO:<{user}>\r\n").as_bytes());
        assert!(smtp_reply(&mut c).starts_with("250"));
        c.send(b"DATA\r\n");
        assert!(smtp_reply(&mut c).starts_with("354"));
        c.send(b"From: someone@example.org\r\nSubject: prova\r\n\r\n");
        if let Some(every) = lines_every {
            // Past the deadline, a line a second (writes fail once the server has closed).
            for _ in 0..8 {
                if c.r.get_mut().write_all(b"una riga ancora\r\n").is_err() {
                    break;
                }
                std::thread::sleep(every);
            }
            return c.line().unwrap_or_default();
        }
        c.send(b"corpo\r\n.\r\n");
        smtp_reply(&mut c)
    };
    // Promptly: answered (ordinary mail is refused by the default policy, but not for time).
    let prompt = data(None);
    assert!(!prompt.is_empty() && !prompt.starts_with("421"), "{prompt}");
    let trickled = data(Some(Duration::from_secs(1)));
    assert!(trickled.starts_with("421"), "{trickled}");
}
