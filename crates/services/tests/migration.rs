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

/// One scripted connection. With `bye` it says BYE after the first message of the first
/// body fetch; otherwise it sends UID 2 twice (the second copy different), an unrequested UID
/// 99, and announce a wrong size for UID 3.
async fn serve(stream: tokio::net::TcpStream, acceptor: Arc<openssl::ssl::SslAcceptor>, bye: bool) {
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
                    if bye && i == 0 {
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

/// The scripted server on a free port: its first connection says BYE mid-batch when
/// `bye_first`. Returns the port and the count of connections.
async fn old_server(t: &TestProvider, bye_first: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let acceptor = t.tls.clone();
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, acceptor.clone(), bye_first && n == 0));
        }
    });
    (port, connections)
}

fn request(t: &TestProvider, port: u16) -> StartRequest {
    StartRequest {
        address: USER.into(),
        old_address: OLD.into(),
        password: "vecchia".into(),
        server: migration::Server::parse(&format!("127.0.0.1:{port}")),
        ca_pem: Some(std::fs::read_to_string(&t.ca).expect("ca")),
        into_inbox: false,
        all_folders: false,
    }
}

/// Claims the due job and runs it; the job as it ended.
async fn run(p: Arc<services::Provider>) -> store::MigrationJob {
    let jobs = p
        .store
        .migration_claim(services::testing::now() + 1, 120, 1)
        .expect("claim");
    let job = jobs.into_iter().next().expect("a due job");
    migration::run_job(p.clone(), job, Arc::new(tokio::sync::Semaphore::new(1))).await;
    migration::job_of(&*p.store, USER).expect("job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_server_gets_nothing_stored_twice_and_a_bye_mid_batch_keeps_nothing_of_it() {
    let t = TestProvider::new(Options::default());
    let p = t.provider.clone();
    let (port, connections) = old_server(&t, true).await;
    let request = request(&t, port);

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

/// The space is checked before copying by the sizes the server announces, and again by
/// every write: here the announced sizes fit and the real bytes do not, so the batch is
/// refused whole ("spazio"); with more space, starting again completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn space_running_out_while_copying_keeps_nothing_half_done() {
    let t = TestProvider::new(Options::default());
    let p = t.provider.clone();
    let (port, _) = old_server(&t, false).await;
    let request = request(&t, port);
    let used = p
        .store
        .mailbox(USER)
        .expect("mailbox")
        .expect("mailbox")
        .used;
    let announced = (message(1, "primo").len() + message(2, "primo").len() + 7) as i64;
    p.store
        .set_quota(USER, used + announced + 5)
        .expect("quota");

    migration::start(&*p.store, &p.migration, &request, services::testing::now()).expect("start");
    let job = run(p.clone()).await;
    assert_eq!(
        (job.state, job.error_kind),
        (
            MigrationState::Failed,
            Some(store::MigrationErrorKind::Space)
        ),
        "{job:?}"
    );
    assert_eq!(job.copied_messages, 0);
    assert!(p
        .store
        .folder_messages(USER, OLD)
        .expect("messages")
        .is_empty());

    p.store.set_quota(USER, 1 << 30).expect("quota");
    migration::start(&*p.store, &p.migration, &request, services::testing::now()).expect("again");
    let job = run(p.clone()).await;
    assert_eq!(
        (job.state, job.copied_messages),
        (MigrationState::Copied, 3),
        "{job:?}"
    );
    assert_eq!(
        p.store.folder_messages(USER, OLD).expect("messages").len(),
        3
    );
}
