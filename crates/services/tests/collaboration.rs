//! Multiutenza (issue 17) through the services every protocol calls: an invitation sent as
//! a PEC from the box, registration by its link (once, within 7 days), logins as
//! `user/box@domain` with the rights of the delegation, what a collaborator did recorded,
//! the legal log's actor, and collaborations that end — each refusal after the same path
//! succeeded.

use services::collaboration::{
    self, CollaborationError, Delegation, Duration, Invitation, Registration,
};
use services::mailbox::{self, FlagOp, MailboxError, INBOX, SENT};
use services::outcome::Submitted;
use services::principal::{Denied, Permission, Principal};
use services::provider::{AuthError, Clock, LoginVia};
use services::testing::{Options, TestProvider, PASSWORD, USER};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));
const MARIO_PW: &str = "Verde#Prato42";

/// The system's time moved by an offset the test sets.
struct Shifted(Arc<AtomicI64>);

impl Clock for Shifted {
    fn now(&self) -> i64 {
        services::testing::now() + self.0.load(Ordering::SeqCst)
    }
}

fn provider() -> (TestProvider, Arc<AtomicI64>) {
    let mut t = TestProvider::new(Options::default());
    let offset = Arc::new(AtomicI64::new(0));
    Arc::get_mut(&mut t.provider).expect("unshared").clock = Arc::new(Shifted(offset.clone()));
    (t, offset)
}

async fn owner(t: &TestProvider) -> Principal {
    t.provider
        .authenticate(USER, PASSWORD, IP, LoginVia::Webmail)
        .await
        .expect("the owner logs in")
}

fn invite(
    t: &TestProvider,
    who: &Principal,
    email: &str,
    delegation: Delegation,
) -> Result<i64, CollaborationError> {
    collaboration::invite(
        &t.provider,
        who,
        &Invitation {
            email,
            name: "Mario Rossi",
            delegation,
            duration: Duration::Months(3),
        },
    )
}

/// The token of the newest invitation to `email`, read from the box's Posta inviata as
/// the collaborator reads it in the mail.
async fn token_sent_to(t: &TestProvider, who: &Principal, email: &str) -> String {
    let email = email.to_string();
    let texts = mailbox::run(&t.provider, who, move |m| {
        let sent = m.existing_folder(SENT)?;
        let uids: Vec<i64> = m.messages(sent.id)?.iter().map(|e| e.uid).collect();
        Ok::<_, MailboxError>(
            m.contents(sent.id, &uids)?
                .into_iter()
                .map(|c| String::from_utf8_lossy(&c.data).into_owned())
                .filter(|s| s.contains(&format!("To: {email}")))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .expect("sent");
    let text = texts.last().expect("an invitation in Posta inviata");
    let at = text.find("collaborazione?t=").expect("the link") + "collaborazione?t=".len();
    text[at..at + 64].to_string()
}

fn registration(username: &str) -> Registration<'_> {
    Registration {
        username,
        password: MARIO_PW,
        password_again: MARIO_PW,
        mobile: "+39 333 1234567",
    }
}

async fn login(t: &TestProvider, name: &str, via: LoginVia) -> Result<Principal, AuthError> {
    t.provider.authenticate(name, MARIO_PW, IP, via).await
}

fn message(from: &str, to: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: Protocollo 12\r\n\r\nIn allegato.\r\n")
        .into_bytes()
}

#[tokio::test]
async fn a_read_only_collaborator_reads_and_changes_nothing_until_revoked() {
    let (t, _) = provider();
    let p = &t.provider;
    t.append(USER, INBOX, &message("a@pec.other.test", USER));
    let owner = owner(&t).await;

    // The invitation goes out as a PEC of the box: its acceptance receipt is in the INBOX.
    let id = invite(&t, &owner, "mario@example.org", Delegation::ReadOnly).expect("invite");
    let inbox_subjects = mailbox::run(p, &owner, |m| {
        let inbox = m.existing_folder(INBOX)?;
        let uids: Vec<i64> = m.messages(inbox.id)?.iter().map(|e| e.uid).collect();
        Ok::<_, MailboxError>(
            m.listed(inbox.id, &uids)?
                .into_iter()
                .map(|l| l.subject)
                .collect::<Vec<_>>(),
        )
    })
    .await
    .expect("inbox");
    assert!(
        inbox_subjects
            .iter()
            .any(|s| s.starts_with("ACCETTAZIONE: Invito a collaborare")),
        "{inbox_subjects:?}"
    );
    let token = token_sent_to(&t, &owner, "mario@example.org").await;
    let listed = collaboration::list(p, &owner).expect("list");
    assert_eq!((listed[0].row.id, listed[0].state), (id, "invitata"));

    // Registered once; the link does not work twice, not even for another username.
    collaboration::register(p, &token, &registration("mario")).expect("register");
    assert_eq!(
        p.store
            .collaborator("mario")
            .expect("read")
            .expect("mario")
            .email,
        "mario@example.org"
    );
    assert!(matches!(
        collaboration::register(p, &token, &registration("mario2")),
        Err(CollaborationError::InvitationInvalid)
    ));
    assert!(p.store.collaborator("mario2").expect("read").is_none());

    // Logged in as mario/box: reads, changes nothing, sends nothing, on every protocol.
    let name = format!("mario/{USER}");
    let mario = login(&t, &name, LoginVia::Imap)
        .await
        .expect("mario logs in");
    assert_eq!(mario.address, USER);
    assert_eq!(mario.login, name);
    assert!(mario.require(Permission::Read).is_ok());
    for via in [LoginVia::Pop3, LoginVia::Webmail, LoginVia::Submission] {
        assert!(login(&t, &name, via).await.is_ok(), "{via:?}");
    }
    let (read, flagged) = mailbox::run(p, &mario, |m| {
        let inbox = m.existing_folder(INBOX)?;
        let uid = m.messages(inbox.id)?[0].uid;
        let read = m.content(inbox.id, uid)?;
        let flagged = m.store_flags(inbox.id, &[uid], FlagOp::Add, &["\\Seen".into()], None);
        Ok::<_, MailboxError>((read, flagged))
    })
    .await
    .expect("run");
    assert!(String::from_utf8_lossy(&read.data).contains("Protocollo 12"));
    assert!(matches!(
        flagged,
        Err(MailboxError::Denied(Denied(Permission::Modify)))
    ));
    let sent = services::access::submit(
        p,
        &mario,
        USER,
        &["b@example.org".into()],
        &message(USER, "b@example.org"),
    );
    assert!(
        matches!(sent, Submitted::Denied(Denied(Permission::Send))),
        "{sent:?}"
    );
    // A collaborator manages no collaborators.
    assert!(matches!(
        invite(&t, &mario, "x@example.org", Delegation::Full),
        Err(CollaborationError::NotOwner)
    ));

    // What mario did is the owner's to read; the owner's own actions are not recorded.
    let activity =
        collaboration::activity(p, &owner, Some("mario"), 0, i64::MAX).expect("activity");
    let actions: Vec<&str> = activity.iter().map(|a| a.action.as_str()).collect();
    assert!(
        actions.contains(&"accesso") && actions.contains(&"lettura"),
        "{actions:?}"
    );
    assert!(activity.iter().all(|a| a.ip == IP.to_string()));
    assert!(collaboration::activity(p, &mario, None, 0, i64::MAX).is_err());

    // Wrong password, unknown collaborator: refused alike.
    assert!(matches!(
        p.authenticate(&name, "Sbagliata#123", IP, LoginVia::Imap)
            .await,
        Err(AuthError::Invalid)
    ));
    assert!(matches!(
        login(&t, &format!("nessuno/{USER}"), LoginVia::Imap).await,
        Err(AuthError::Invalid)
    ));

    // Revoked: the held session no longer holds, a new login is told why.
    assert!(collaboration::still_valid(p, &mario).expect("valid"));
    collaboration::revoke(p, &owner, id).expect("revoke");
    assert!(!collaboration::still_valid(p, &mario).expect("valid"));
    assert!(matches!(
        login(&t, &name, LoginVia::Imap).await,
        Err(AuthError::Ended)
    ));
    // The owner is untouched.
    assert!(collaboration::still_valid(p, &owner).expect("valid"));
    // What the holder did to the collaborators is in the legal log, with the holder as actor.
    let admin: Vec<(String, String)> = p
        .store
        .log_records(Some(&format!("casella:{USER}")))
        .expect("log")
        .into_iter()
        .map(|r| (r.event, r.sender))
        .collect();
    let holder = format!("titolare:{USER}");
    for event in ["collaboratore-invitato", "collaborazione-revocata"] {
        assert!(
            admin.contains(&(event.to_string(), holder.clone())),
            "{admin:?}"
        );
    }
    assert!(p.store.log_verify().is_ok());
}

#[tokio::test]
async fn a_send_only_collaborator_sends_as_the_box_and_the_log_names_them() {
    let (t, _) = provider();
    let p = &t.provider;
    let owner = owner(&t).await;
    invite(&t, &owner, "app@example.org", Delegation::SendOnly).expect("invite");
    let token = token_sent_to(&t, &owner, "app@example.org").await;
    collaboration::register(p, &token, &registration("protocollo")).expect("register");
    let name = format!("protocollo/{USER}");
    for via in [LoginVia::Imap, LoginVia::Pop3, LoginVia::Webmail] {
        assert!(
            matches!(login(&t, &name, via).await, Err(AuthError::SendOnly)),
            "{via:?}"
        );
    }
    let app = login(&t, &name, LoginVia::Submission)
        .await
        .expect("submission");
    let listed = mailbox::run(p, &app, |m| m.folders()).await;
    assert!(matches!(
        listed,
        Err(MailboxError::Denied(Denied(Permission::Read)))
    ));
    let Submitted::Accepted { identificativo } = services::access::submit(
        p,
        &app,
        USER,
        &["ufficio@example.org".into()],
        &message(USER, "ufficio@example.org"),
    ) else {
        panic!("not accepted");
    };
    // The box is the certified sender; the transaction and the legal log name who sent it.
    let tx = p
        .store
        .transaction(&identificativo)
        .expect("read")
        .expect("transaction");
    assert_eq!(tx.sender, USER);
    assert_eq!(tx.sent_by.as_deref(), Some("protocollo"));
    let records = p.store.log_records(Some(&identificativo)).expect("log");
    let acceptance = records
        .iter()
        .find(|r| r.event == "accettazione")
        .expect("acceptance record");
    assert_eq!(acceptance.actor, "collaboratore:protocollo");
    assert_eq!(acceptance.sender, USER);
    // The chain, with and without actors, verifies.
    assert!(p.store.log_verify().expect("verify") >= 2);
    let activity = collaboration::activity(p, &owner, None, 0, i64::MAX).expect("activity");
    assert!(activity
        .iter()
        .any(|a| a.action == "invio" && a.detail == identificativo && a.protocol == "submission"));
}

#[tokio::test]
async fn links_expire_collaborations_expire_and_a_box_has_at_most_30() {
    let (t, offset) = provider();
    let p = &t.provider;
    let owner = owner(&t).await;

    // An expiring collaboration works until its day, then ends at login and for a held one.
    invite(&t, &owner, "luigi@example.org", Delegation::Full).expect("invite");
    let token = token_sent_to(&t, &owner, "luigi@example.org").await;
    let c = collaboration::register(p, &token, &registration("luigi")).expect("register");
    let name = format!("luigi/{USER}");
    let luigi = login(&t, &name, LoginVia::Imap).await.expect("login");
    assert!(luigi.require(Permission::Modify).is_ok());
    assert!(luigi.require(Permission::Settings).is_err());
    collaboration::change(
        p,
        &owner,
        c.id,
        Delegation::Full,
        Duration::Until(p.now() + 60),
    )
    .expect("change");
    assert!(login(&t, &name, LoginVia::Imap).await.is_ok());
    offset.store(120, Ordering::SeqCst);
    assert!(matches!(
        login(&t, &name, LoginVia::Imap).await,
        Err(AuthError::Ended)
    ));
    assert!(!collaboration::still_valid(p, &luigi).expect("valid"));

    // A link used after 7 days is refused, and creates no account.
    invite(&t, &owner, "tardi@example.org", Delegation::ReadOnly).expect("invite");
    let late = token_sent_to(&t, &owner, "tardi@example.org").await;
    offset.store(120 + 7 * 86_400 + 1, Ordering::SeqCst);
    assert!(matches!(
        collaboration::register(p, &late, &registration("tardi")),
        Err(CollaborationError::InvitationInvalid)
    ));
    assert!(p.store.collaborator("tardi").expect("read").is_none());

    // Bad registrations change nothing.
    invite(&t, &owner, "nuovo@example.org", Delegation::ReadOnly).expect("invite");
    let fresh = token_sent_to(&t, &owner, "nuovo@example.org").await;
    for bad in [
        Registration {
            password_again: "Altra#Parola9",
            ..registration("nuovo")
        },
        Registration {
            password: "Corta#1",
            password_again: "Corta#1",
            ..registration("nuovo")
        },
        Registration {
            password: "Lunghissima#Parola123",
            password_again: "Lunghissima#Parola123",
            ..registration("nuovo")
        },
        registration("Nu"),
        registration("luigi"),
    ] {
        assert!(collaboration::register(p, &fresh, &bad).is_err(), "{bad:?}");
    }
    assert!(p.store.collaborator("nuovo").expect("read").is_none());
    collaboration::register(p, &fresh, &registration("nuovo"))
        .expect("the same link works once the form is right");

    // 30 open collaborations (invited or active) at most: the 31st is refused, and a
    // revoked one frees its place.
    let open = collaboration::list(p, &owner)
        .expect("list")
        .iter()
        .filter(|c| matches!(c.state, "attiva" | "invitata"))
        .count();
    for i in open..30 {
        invite(
            &t,
            &owner,
            &format!("c{i}@example.org"),
            Delegation::ReadOnly,
        )
        .expect("within the limit");
    }
    let over = invite(&t, &owner, "trentuno@example.org", Delegation::ReadOnly);
    assert!(
        matches!(over, Err(CollaborationError::Refused(_))),
        "{over:?}"
    );
    let first = collaboration::list(p, &owner).expect("list")[0].row.id;
    collaboration::revoke(p, &owner, first).expect("revoke");
    invite(&t, &owner, "trentuno@example.org", Delegation::ReadOnly).expect("a place freed");
}
