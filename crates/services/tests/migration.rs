//! The copy from an old provider (services::migration) against a scripted, lying IMAPS
//! server: a BYE in the middle of a batch stores nothing of that batch and the next run
//! completes; a UID sent twice keeps its first bytes, a UID not asked for is ignored, a size
//! that lies is no reason to refuse. Nothing is stored twice.

use services::migration::{self, StartRequest};
use services::testing::{Options, TestProvider, USER};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use store::MigrationState;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const OLD: &str = "vecchio@pec.vecchio.test";

fn message(n: u32, variant: &str) -> Vec<u8> {
    format!("From: a@esempio.test\r\nSubject: messaggio {n}\r\n\r\ncorpo {n} {variant}\r\n")
        .into_bytes()
}

/// UIDs of a sequence set such as `1:3,5`.
fn uids_of(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                out.extend(a.min(b)..=a.max(b));
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

/// One scripted connection. `connection` 0 says BYE after the first message of the first
/// body fetch; later ones send UID 2 twice (the second copy different), an unrequested UID
/// 99, and announce a wrong size for UID 3.
async fn serve(
    stream: tokio::net::TcpStream,
    acceptor: Arc<openssl::ssl::SslAcceptor>,
    connection: usize,
) {
    let Ok(tls) = net::stream::Stream::accept_tls(stream, &acceptor).await else {
        return;
    };
    let (r, mut w) = tokio::io::split(tls);
    let mut lines = BufReader::new(r).lines();
    let _ = w
        .write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] vecchio gestore\r\n")
        .await;
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.splitn(3, ' ');
        let (tag, cmd, rest) = (
            words.next().unwrap_or(""),
            words.next().unwrap_or("").to_ascii_uppercase(),
            words.next().unwrap_or(""),
        );
        let reply = match cmd.as_str() {
            "LOGIN" => format!("{tag} OK [CAPABILITY IMAP4rev1] dentro\r\n"),
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK\r\n"),
            "EXAMINE" => format!(
                "* 3 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\n* OK [UIDNEXT 4] x\r\n{tag} OK [READ-ONLY] x\r\n"
            ),
            "LOGOUT" => {
                let _ = w.write_all(format!("* BYE ciao\r\n{tag} OK\r\n").as_bytes()).await;
                return;
            }
            "UID" if rest.to_ascii_uppercase().starts_with("SEARCH") => {
                format!("* SEARCH 1 2 3\r\n{tag} OK\r\n")
            }
            "UID" if rest.contains("BODY.PEEK[]") => {
                let set = rest.split(' ').nth(1).unwrap_or("");
                let mut out = Vec::new();
                for (i, uid) in uids_of(set).into_iter().enumerate() {
                    let body = message(uid, "primo");
                    out.extend_from_slice(
                        format!("* {uid} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \"01-Jun-2020 10:00:00 +0200\" BODY[] {{{}}}\r\n", body.len()).as_bytes(),
                    );
                    out.extend_from_slice(&body);
                    out.extend_from_slice(b")\r\n");
                    if connection == 0 && i == 0 {
                        out.extend_from_slice(b"* BYE troppe connessioni\r\n");
                        let _ = w.write_all(&out).await;
                        return;
                    }
                    if uid == 2 {
                        let other = message(2, "secondo, diverso");
                        out.extend_from_slice(
                            format!("* 2 FETCH (UID 2 BODY[] {{{}}}\r\n", other.len()).as_bytes(),
                        );
                        out.extend_from_slice(&other);
                        out.extend_from_slice(b")\r\n");
                        let stray = message(99, "non chiesto");
                        out.extend_from_slice(
                            format!("* 99 FETCH (UID 99 FLAGS () INTERNALDATE \"01-Jun-2020 10:00:00 +0200\" BODY[] {{{}}}\r\n", stray.len()).as_bytes(),
                        );
                        out.extend_from_slice(&stray);
                        out.extend_from_slice(b")\r\n");
                    }
                }
                out.extend_from_slice(format!("{tag} OK fatto\r\n").as_bytes());
                let _ = w.write_all(&out).await;
                continue;
            }
            "UID" if rest.contains("RFC822.SIZE") => {
                let set = rest.split(' ').nth(1).unwrap_or("");
                let mut out = String::new();
                for uid in uids_of(set) {
                    // UID 3's size lies.
                    let size = if uid == 3 { 7 } else { message(uid, "primo").len() };
                    out.push_str(&format!("* {uid} FETCH (UID {uid} RFC822.SIZE {size})\r\n"));
                }
                out.push_str(&format!("{tag} OK\r\n"));
                out
            }
            _ => format!("{tag} BAD non capito\r\n"),
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_server_gets_nothing_stored_twice_and_a_bye_mid_batch_keeps_nothing_of_it() {
    let t = TestProvider::new(Options::default());
    let p = t.provider.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let acceptor = t.tls.clone();
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, acceptor.clone(), n));
        }
    });
    let ca = std::fs::read_to_string(&t.ca).expect("ca");
    let request = StartRequest {
        address: USER.into(),
        old_address: OLD.into(),
        password: "vecchia".into(),
        server: migration::Server::parse(&format!("127.0.0.1:{port}")),
        ca_pem: Some(ca),
        into_inbox: false,
        all_folders: false,
    };
    let run = |p: Arc<services::Provider>| async move {
        let jobs = p
            .store
            .migration_claim(services::testing::now() + 1, 120, 1)
            .expect("claim");
        let job = jobs.into_iter().next().expect("a due job");
        migration::run_job(p.clone(), job, Arc::new(tokio::sync::Semaphore::new(1))).await;
        migration::job_of(&*p.store, USER).expect("job")
    };

    migration::start(&*p.store, &p.migration, &request, services::testing::now()).expect("start");
    let job = run(p.clone()).await;
    assert_eq!(job.state, MigrationState::Failed, "{job:?}");
    assert_eq!(job.error_kind, Some(store::MigrationErrorKind::Throttled));
    assert_eq!(job.copied_messages, 0, "nothing of the interrupted batch");
    let mailbox = p.store.mailbox(USER).expect("mailbox").expect("mailbox");
    let folder = p
        .store
        .folder(mailbox.id, OLD)
        .expect("folder")
        .expect("created");
    assert_eq!(folder.messages, 0);

    migration::start(&*p.store, &p.migration, &request, services::testing::now()).expect("again");
    let job = run(p.clone()).await;
    assert_eq!(job.state, MigrationState::Copied, "{job:?}");
    assert_eq!(job.copied_messages, 3);
    let stored = p.store.folder_messages(USER, OLD).expect("messages");
    let bodies: Vec<Vec<u8>> = stored
        .iter()
        .map(|m| p.store.blob(&m.blob).expect("blob"))
        .collect();
    assert_eq!(
        bodies,
        vec![
            message(1, "primo"),
            message(2, "primo"),
            message(3, "primo")
        ],
        "each once, the first copy of UID 2, no UID 99, UID 3 whatever its announced size"
    );
    assert_eq!(stored[2].size as usize, message(3, "primo").len());
    assert!(stored.iter().all(|m| m.flags == "\\Seen"));
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
