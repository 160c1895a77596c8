//! The client against small scripted IMAPS servers that misbehave: each answers with what a
//! hostile or broken server might send, and the client must end in the typed error, bounded
//! in memory and time, without a panic.

mod common;

use common::{acceptor, free_port, make_pki, trusting, untrusting, Pki};
use imapclient::{Client, Error, Limits, Timeouts};
use net::stream::Stream;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The system allocator, remembering the largest single allocation asked of it: the proof
/// that a literal's announced size is refused before anything is reserved for it.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// One exchange of a script: the line the server waits for (it must start with this), then
/// what it sends.
struct Step {
    expect: Option<String>,
    send: Vec<u8>,
}

fn send(bytes: &[u8]) -> Step {
    Step {
        expect: None,
        send: bytes.to_vec(),
    }
}

fn on(expect: impl Into<String>, reply: &[u8]) -> Step {
    Step {
        expect: Some(expect.into()),
        send: reply.to_vec(),
    }
}

/// Greeting, LOGIN and EXAMINE INBOX, answered as a plain server would; A3 is next.
fn logged_in_and_examined() -> Vec<Step> {
    vec![
        send(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] fake ready\r\n"),
        on(
            "A1 LOGIN \"utente\" \"secret$1\"",
            b"A1 OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\r\n",
        ),
        on(
            "A2 EXAMINE \"INBOX\"",
            b"* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\n\
              * OK [UIDNEXT 4] ok\r\nA2 OK [READ-ONLY] done\r\n",
        ),
    ]
}

/// A TLS server on a free loopback port that plays `script` to one client, then holds the
/// connection open (reading and dropping) until the client goes.
async fn scripted_server(pki: &Pki, script: Vec<Step>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor(pki);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(stream) = Stream::accept_tls(tcp, &acceptor).await else {
            return;
        };
        let mut conn = BufReader::new(stream);
        for step in script {
            if let Some(expect) = step.expect {
                let mut line = String::new();
                if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                assert!(
                    line.starts_with(&expect),
                    "expected {expect:?}, got {line:?}"
                );
            }
            if conn.get_mut().write_all(&step.send).await.is_err() {
                return;
            }
        }
        let mut sink = [0u8; 1024];
        while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    port
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(5),
    }
}

async fn connect(pki: &Pki, port: u16, timeouts: Timeouts) -> Client {
    Client::connect(
        "127.0.0.1",
        port,
        &trusting(pki),
        timeouts,
        Limits::default(),
    )
    .await
    .unwrap()
}

async fn logged_in(pki: &Pki, script: Vec<Step>, timeouts: Timeouts) -> Client {
    let port = scripted_server(pki, script).await;
    let connector = trusting(pki);
    // In a spawned task: the copy engine runs the client on any worker thread, so its
    // futures must be Send (this does not compile otherwise).
    tokio::spawn(async move {
        let mut client =
            Client::connect("127.0.0.1", port, &connector, timeouts, Limits::default())
                .await
                .unwrap();
        client.login("utente", "secret$1").await.unwrap();
        let status = client.examine(b"INBOX").await.unwrap();
        assert_eq!(
            (status.uidvalidity, status.uidnext, status.exists),
            (77, Some(4), 3)
        );
        client
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_literal_over_the_limit_is_too_large_without_being_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    // 4 GB announced, a few bytes sent, and the connection kept open: the answer must come
    // from the count alone, at once, not from a timeout or the end of the stream.
    script.push(on(
        "A3 UID FETCH 1 (UID FLAGS INTERNALDATE BODY.PEEK[])",
        b"* 1 FETCH (UID 1 FLAGS () BODY[] {4000000000}\r\nFrom: ",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let started = Instant::now();
    let got = client.uid_fetch_messages(&[1]).await;
    assert!(
        matches!(got, Err(Error::TooLarge { limit }) if limit == Limits::default().max_literal),
        "{got:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 16 << 20, "an allocation of {largest} bytes");
    // The connection is unusable from then on.
    assert!(matches!(
        client.uid_search_all().await,
        Err(Error::Protocol(_))
    ));
}

#[tokio::test]
async fn a_bye_in_the_middle_of_a_fetch_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.push(on(
        "A3 UID FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[])",
        b"* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"01-Jan-2020 00:00:00 +0000\" \
          BODY[] {5}\r\nhello)\r\n* BYE [UNAVAILABLE] Server shutting down\r\n",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let got = client.uid_fetch_messages(&[1, 2, 3]).await;
    match got {
        Err(Error::Unavailable(text)) => assert!(text.contains("shutting down"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn one_byte_then_silence_is_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.push(on("A3 UID FETCH 1 ", b"*"));
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_millis(300),
    };
    let mut client = logged_in(&pki, script, timeouts).await;
    let started = Instant::now();
    let got = client.uid_fetch_messages(&[1]).await;
    assert!(
        matches!(got, Err(Error::Timeout("the response to UID FETCH"))),
        "{got:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_at_the_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = scripted_server(&pki, vec![]).await;
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_millis(200),
    };
    let got = Client::connect(
        "127.0.0.1",
        port,
        &trusting(&pki),
        timeouts,
        Limits::default(),
    )
    .await;
    assert!(
        matches!(got, Err(Error::Timeout("the server's greeting"))),
        "{got:?}"
    );
}

#[tokio::test]
async fn fetch_keeps_what_was_asked_for_whatever_comes_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.push(on(
        "A3 UID FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[])",
        // Out of order; EXISTS, EXPUNGE, RECENT and flag updates in between; a UID not asked
        // for; UID 2 twice (the first wins); UID 1 in two halves; UID 3 never complete.
        b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) INTERNALDATE \" 7-Mar-2014 08:05:03 +0100\" \
          BODY[] {3}\r\ntwo)\r\n\
          * 4 EXISTS\r\n* 1 RECENT\r\n\
          * 3 FETCH (FLAGS (\\Deleted))\r\n\
          * 9 FETCH (UID 99 FLAGS () INTERNALDATE \"01-Jan-2020 00:00:00 +0000\" BODY[] {3}\r\nbad)\r\n\
          * 2 FETCH (UID 2 FLAGS () INTERNALDATE \"01-Jan-2020 00:00:00 +0000\" BODY[] {5}\r\nagain)\r\n\
          * 1 FETCH (UID 1 BODY[] {4}\r\n\x00\xff\r\n)\r\n\
          * 4 EXPUNGE\r\n\
          * 1 FETCH (FLAGS ($Label1) UID 1 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n\
          * 3 FETCH (UID 3 FLAGS ())\r\n\
          A3 OK Fetch completed\r\n",
    ));
    script.push(on(
        "A4 UID FETCH 5 (UID RFC822.SIZE)",
        b"* 5 FETCH (RFC822.SIZE 10)\r\nA4 OK done\r\n",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let (mut client, messages) = tokio::spawn(async move {
        let messages = client.uid_fetch_messages(&[3, 2, 1]).await;
        (client, messages)
    })
    .await
    .unwrap();
    let messages = messages.unwrap();
    let got: Vec<_> = messages
        .iter()
        .map(|m| (m.uid, m.flags.clone(), m.internal_date, m.body.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                2,
                vec!["\\Seen".to_string()],
                1_394_175_903,
                b"two".to_vec()
            ),
            (
                1,
                vec!["$Label1".to_string()],
                837_596_665,
                b"\x00\xff\r\n".to_vec()
            ),
        ]
    );
    // A size without its UID is a protocol error.
    let sizes = tokio::spawn(async move { client.uid_fetch_sizes(&[5]).await })
        .await
        .unwrap();
    assert!(matches!(sizes, Err(Error::Protocol(_))), "{sizes:?}");
}

#[tokio::test]
async fn message_data_without_a_uid_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.push(on(
        "A3 UID FETCH 1 ",
        b"* 1 FETCH (FLAGS () BODY[] {5}\r\nhello)\r\nA3 OK done\r\n",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let got = client.uid_fetch_messages(&[1]).await;
    assert!(matches!(got, Err(Error::Protocol(_))), "{got:?}");
}

#[tokio::test]
async fn refusals_are_typed_and_leave_the_connection_usable() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.extend([
        on(
            "A3 EXAMINE \"Archivio\"",
            b"A3 NO [NONEXISTENT] Mailbox doesn't exist: Archivio\r\n",
        ),
        on(
            "A4 UID SEARCH ALL",
            b"* SEARCH 3 1 2 1\r\nA4 OK Search completed\r\n",
        ),
        on(
            "A5 UID FETCH 1:3 (UID RFC822.SIZE)",
            b"A5 NO [LIMIT] Too many commands\r\n",
        ),
        on("A6 LIST \"\" \"*\"", b"A6 BAD [CLIENTBUG] Nope\r\n"),
    ]);
    let mut client = logged_in(&pki, script, quick()).await;
    match client.examine(b"Archivio").await {
        Err(Error::Refused(text)) => {
            assert_eq!(text, "[NONEXISTENT] Mailbox doesn't exist: Archivio")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.uid_search_all().await.unwrap(), vec![1, 2, 3]);
    assert!(matches!(
        client.uid_fetch_sizes(&[1, 2, 3]).await,
        Err(Error::Unavailable(_))
    ));
    assert!(matches!(client.list().await, Err(Error::Refused(_))));
}

#[tokio::test]
async fn login_refusals_throttling_and_bye_greetings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let greeting = b"* OK [CAPABILITY IMAP4rev1] ready\r\n";
    // NO to LOGIN, then NO [UNAVAILABLE] to the second try.
    let port = scripted_server(
        &pki,
        vec![
            send(greeting),
            on(
                "A1 LOGIN",
                b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            ),
            on(
                "A2 LOGIN",
                b"A2 NO [UNAVAILABLE] Temporary authentication failure\r\n",
            ),
        ],
    )
    .await;
    let mut client = connect(&pki, port, quick()).await;
    match client.login("utente", "sbagliata").await {
        Err(Error::AuthenticationFailed(text)) => {
            assert_eq!(text, "[AUTHENTICATIONFAILED] Authentication failed.");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.login("utente", "secret$1").await,
        Err(Error::Unavailable(_))
    ));

    // A greeting that is BYE.
    let port = scripted_server(
        &pki,
        vec![send(b"* BYE Too many connections from your IP\r\n")],
    )
    .await;
    let got = Client::connect(
        "127.0.0.1",
        port,
        &trusting(&pki),
        quick(),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(&got, Err(Error::Unavailable(text)) if text.contains("Too many")),
        "{got:?}"
    );

    // A greeting that is no greeting.
    let port = scripted_server(&pki, vec![send(b"A1 OK hello\r\n")]).await;
    let got = Client::connect(
        "127.0.0.1",
        port,
        &trusting(&pki),
        quick(),
        Limits::default(),
    )
    .await;
    assert!(matches!(got, Err(Error::Protocol(_))), "{got:?}");
}

#[tokio::test]
async fn a_password_that_cannot_be_quoted_goes_as_a_synchronizing_literal() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let password = "pàssword\"é";
    let literal = format!("{{{}}}", password.len());
    let port = scripted_server(
        &pki,
        vec![
            // No capabilities in the greeting: the client asks.
            send(b"* OK ready\r\n"),
            on(
                "A1 CAPABILITY",
                b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA1 OK done\r\n",
            ),
            on(
                format!("A2 LOGIN \"utente\" {literal}\r\n"),
                b"+ go ahead\r\n",
            ),
            on(format!("{password}\r\n"), b"A2 OK Logged in\r\n"),
            // No capabilities in the OK: the client asks again.
            on(
                "A3 CAPABILITY",
                b"* CAPABILITY IMAP4rev1 ESEARCH\r\nA3 OK done\r\n",
            ),
        ],
    )
    .await;
    let mut client = connect(&pki, port, quick()).await;
    client.login("utente", password).await.unwrap();
    assert_eq!(client.capabilities(), ["IMAP4REV1", "ESEARCH"]);
}

#[tokio::test]
async fn logindisabled_means_authenticate_plain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    // base64("\0utente\0secret$1")
    let port = scripted_server(
        &pki,
        vec![
            send(b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready\r\n"),
            on("A1 AUTHENTICATE PLAIN\r\n", b"+ \r\n"),
            on(
                "AHV0ZW50ZQBzZWNyZXQkMQ==\r\n",
                b"A1 OK [CAPABILITY IMAP4rev1 ESEARCH] Logged in\r\n",
            ),
            on(
                "A2 EXAMINE \"INBOX\"",
                b"* 0 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\nA2 OK done\r\n",
            ),
            on(
                "A3 UID SEARCH RETURN (ALL) ALL",
                b"* ESEARCH (TAG \"A9\") UID ALL 1:1000\r\n\
                  * ESEARCH (TAG \"A3\") UID ALL 7,2:4\r\nA3 OK done\r\n",
            ),
        ],
    )
    .await;
    let mut client = connect(&pki, port, quick()).await;
    client.login("utente", "secret$1").await.unwrap();
    assert!(client.capabilities().iter().any(|c| c == "ESEARCH"));
    let status = client.examine(b"INBOX").await.unwrap();
    assert_eq!(
        (status.uidvalidity, status.uidnext, status.exists),
        (5, None, 0)
    );
    assert_eq!(client.uid_search_all().await.unwrap(), vec![2, 3, 4, 7]);
}

#[tokio::test]
async fn a_search_naming_more_uids_than_the_folder_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script[1] = on(
        "A1 LOGIN",
        b"A1 OK [CAPABILITY IMAP4rev1 ESEARCH] Logged in\r\n",
    );
    script.push(on(
        "A3 UID SEARCH RETURN (ALL) ALL",
        b"* ESEARCH (TAG \"A3\") UID ALL 1:4294967295\r\nA3 OK done\r\n",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let got = client.uid_search_all().await;
    assert!(matches!(got, Err(Error::Protocol(_))), "{got:?}");
    assert!(LARGEST.load(Ordering::Relaxed) < 16 << 20);
}

#[tokio::test]
async fn examine_without_uidvalidity_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut script = logged_in_and_examined();
    script.push(on(
        "A3 EXAMINE",
        b"* 2 EXISTS\r\n* OK [UIDVALIDITY 0] zero\r\nA3 OK done\r\n",
    ));
    let mut client = logged_in(&pki, script, quick()).await;
    let got = client.examine(b"Altro").await;
    assert!(matches!(got, Err(Error::Protocol(_))), "{got:?}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = free_port();
    let got = Client::connect("127.0.0.1", port, &untrusting(), quick(), Limits::default()).await;
    assert!(matches!(got, Err(Error::Connect(_))), "{got:?}");
}
