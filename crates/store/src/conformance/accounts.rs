//! Domains, mailboxes, per-mailbox settings, webmail sessions, routes, the provider index
//! and change notifications.

use super::*;
use crate::{Route, WebSession, SPECIAL_FOLDERS};

pub fn domains_are_unique_and_case_insensitive(s: &dyn Store) {
    assert!(s.domains().expect("domains").is_empty(), "a fresh store");
    s.add_domain("Pec.Test", 0).expect("add_domain");
    s.add_domain("altro.test", 0).expect("add_domain");
    assert_eq!(
        s.domains().expect("domains"),
        strings(&["altro.test", "pec.test"]),
        "lower-case, by name"
    );
    assert!(s.is_local_domain("pec.test").expect("is_local_domain"));
    assert!(s.is_local_domain("PEC.TEST").expect("is_local_domain"));
    assert!(!s.is_local_domain("pec.test.evil").expect("is_local_domain"));
    let in_tx = s
        .write(|tx| {
            Ok((
                tx.is_local_domain("pec.TEST")?,
                tx.is_local_domain("x.test")?,
            ))
        })
        .expect("write");
    assert_eq!(in_tx, (true, false), "Tx::is_local_domain");
    let again = s.add_domain("PEC.test", 1);
    assert!(is_exists(&again), "{again:?}");
    assert_eq!(s.domains().expect("domains").len(), 2);
}

pub fn mailboxes_start_with_the_special_folders(s: &dyn Store) {
    let id = mailbox(s, "Alice@PEC.test", 1234);
    let m = s
        .mailbox("ALICE@pec.test")
        .expect("mailbox")
        .expect("found");
    assert_eq!(m.id, id);
    assert_eq!(m.address, ALICE, "kept lower-case");
    assert_eq!((m.quota, m.used), (1234, 0));
    assert_eq!(m.password_hash, "hash");
    assert!(!m.must_change_password);
    assert_eq!(
        m.ordinary_mail, "reject",
        "ordinary mail refused by default"
    );
    assert!(s.mailbox("nobody@pec.test").expect("mailbox").is_none());

    let folders = s.folders(id).expect("folders");
    assert_eq!(folders[0].name, INBOX, "INBOX first");
    for (name, special) in SPECIAL_FOLDERS {
        let f = folders
            .iter()
            .find(|f| f.name == *name)
            .unwrap_or_else(|| panic!("special folder {name} missing"));
        assert_eq!(f.special_use.as_deref(), Some(*special), "{name}");
        assert_eq!((f.messages, f.unseen, f.size, f.deleted), (0, 0, 0, 0));
        assert_eq!(f.uidnext, 1, "{name}");
    }
    assert_eq!(folders.len(), SPECIAL_FOLDERS.len());
    assert!(s
        .write(|tx| tx.mailbox_exists(ALICE))
        .expect("mailbox_exists"));
    assert!(!s
        .write(|tx| tx.mailbox_exists(BOB))
        .expect("mailbox_exists"));

    let bob = mailbox(s, BOB, 10);
    assert_ne!(bob, id);
    let all: Vec<String> = s
        .mailboxes()
        .expect("mailboxes")
        .into_iter()
        .map(|m| m.address)
        .collect();
    assert_eq!(all, strings(&[ALICE, BOB]), "by address");

    let dup = NewMailbox {
        address: "ALICE@pec.test",
        password_hash: "other",
        quota: 1,
        recovery_email: None,
        must_change_password: true,
    };
    let again = s.add_mailbox(&dup, 1);
    assert!(is_exists(&again), "{again:?}");
    let m = s.mailbox(ALICE).expect("mailbox").expect("found");
    assert_eq!(
        (m.quota, m.password_hash.as_str()),
        (1234, "hash"),
        "unchanged"
    );
}

pub fn mailbox_changes_and_deletion(s: &dyn Store) {
    let id = mailbox(s, ALICE, 100);
    s.set_password(ALICE, "new-hash", true)
        .expect("set_password");
    s.set_quota(ALICE, 500).expect("set_quota");
    s.set_ordinary_mail(ALICE, "forward", Some("altrove@example.test"))
        .expect("set_ordinary_mail");
    let m = s.mailbox(ALICE).expect("mailbox").expect("found");
    assert_eq!(m.password_hash, "new-hash");
    assert!(m.must_change_password);
    assert_eq!(m.quota, 500);
    assert_eq!(m.ordinary_mail, "forward");
    assert_eq!(m.ordinary_forward.as_deref(), Some("altrove@example.test"));

    let nobody = "nobody@pec.test";
    let r = s.set_password(nobody, "h", false);
    assert!(is_not_found(&r), "{r:?}");
    let r = s.set_quota(nobody, 1);
    assert!(is_not_found(&r), "{r:?}");
    let r = s.set_ordinary_mail(nobody, "reject", None);
    assert!(is_not_found(&r), "{r:?}");

    append(s, ALICE, INBOX, b"da cancellare", "");
    s.delete_mailbox(ALICE).expect("delete_mailbox");
    assert!(s.mailbox(ALICE).expect("mailbox").is_none());
    assert!(
        s.folders(id).expect("folders").is_empty(),
        "its folders went"
    );
    let r = s.delete_mailbox(ALICE);
    assert!(is_not_found(&r), "{r:?}");
}

pub fn settings_are_per_mailbox(s: &dyn Store) {
    let a = mailbox(s, ALICE, 100);
    let b = mailbox(s, BOB, 100);
    assert_eq!(s.setting(a, "lang").expect("setting"), None);
    s.set_setting(a, "lang", "it").expect("set_setting");
    s.set_setting(a, "layout", "verticale")
        .expect("set_setting");
    assert_eq!(
        s.setting(a, "lang").expect("setting").as_deref(),
        Some("it")
    );
    s.set_setting(a, "lang", "en").expect("set_setting");
    assert_eq!(
        s.setting(a, "lang").expect("setting").as_deref(),
        Some("en"),
        "replaced"
    );
    assert_eq!(
        s.setting(a, "layout").expect("setting").as_deref(),
        Some("verticale")
    );
    assert_eq!(s.setting(b, "lang").expect("setting"), None, "not bob's");
}

fn web_session(token: &str, mailbox_id: MailboxId, now: Unix) -> WebSession {
    WebSession {
        token_hash: token.to_string(),
        mailbox_id,
        address: String::new(),
        csrf: format!("csrf-{token}"),
        lang: "it".to_string(),
        must_change_password: false,
        created: now,
        last_seen: now,
        collaboration_id: None,
    }
}

pub fn web_sessions_start_touch_expire_and_end(s: &dyn Store) {
    let a = mailbox(s, ALICE, 100);
    let b = mailbox(s, BOB, 100);
    s.start_session(&web_session("t1", a, 100), 0)
        .expect("start_session");
    let got = s.session("t1").expect("session").expect("started");
    assert_eq!(got.mailbox_id, a);
    assert_eq!(got.address, ALICE, "read from the mailbox");
    assert_eq!(got.csrf, "csrf-t1");
    assert_eq!((got.created, got.last_seen), (100, 100));
    assert!(s.session("t2").expect("session").is_none());

    s.touch_session("t1", 200).expect("touch_session");
    s.set_session_lang("t1", "en").expect("set_session_lang");
    let got = s.session("t1").expect("session").expect("kept");
    assert_eq!((got.created, got.last_seen), (100, 200), "created stays");
    assert_eq!(got.lang, "en");

    // A new session drops those idle since before `expired_before`, and only those.
    s.start_session(&web_session("t2", b, 300), 150)
        .expect("start_session");
    assert!(s.session("t1").expect("session").is_some(), "seen at 200");
    s.start_session(&web_session("t3", b, 400), 250)
        .expect("start_session");
    assert!(
        s.session("t1").expect("session").is_none(),
        "idle since 200"
    );
    assert!(s.session("t2").expect("session").is_some(), "seen at 300");

    // The mailbox's password state is read on every request.
    s.set_password(BOB, "h", true).expect("set_password");
    assert!(
        s.session("t2").expect("session").is_none(),
        "a new password ends the mailbox's sessions"
    );
    s.start_session(&web_session("t4", b, 500), 0)
        .expect("start_session");
    assert!(
        s.session("t4")
            .expect("session")
            .expect("started")
            .must_change_password
    );
    s.end_session("t4").expect("end_session");
    assert!(s.session("t4").expect("session").is_none(), "ended");
    s.end_session("t4").expect("ending twice is harmless");
}

pub fn routes_and_provider_index(s: &dyn Store) {
    assert!(s.routes().expect("routes").is_empty());
    let route = |domain: &str, port: u16| Route {
        domain: domain.to_string(),
        host: format!("mx.{domain}"),
        port,
        ca_pem: None,
    };
    s.add_route(&route("zeta.test", 25)).expect("add_route");
    s.add_route(&route("alfa.test", 2525)).expect("add_route");
    let r = s.route("alfa.test").expect("route").expect("found");
    assert_eq!((r.host.as_str(), r.port), ("mx.alfa.test", 2525));
    let replaced = Route {
        ca_pem: Some("-----BEGIN CERTIFICATE-----".into()),
        ..route("alfa.test", 465)
    };
    s.add_route(&replaced).expect("add_route replaces");
    let r = s.route("alfa.test").expect("route").expect("found");
    assert_eq!(r.port, 465);
    assert_eq!(r.ca_pem.as_deref(), Some("-----BEGIN CERTIFICATE-----"));
    let all: Vec<String> = s
        .routes()
        .expect("routes")
        .into_iter()
        .map(|r| r.domain)
        .collect();
    assert_eq!(all, strings(&["alfa.test", "zeta.test"]));
    assert!(s.route("nessuno.test").expect("route").is_none());

    let v0 = s.index_version().expect("index_version");
    s.import_index_entries(
        &[
            ("dn=a".into(), "dn: a\nmail: a".into()),
            ("dn=b".into(), "dn: b\nmail: b".into()),
        ],
        10,
    )
    .expect("import_index_entries");
    let v1 = s.index_version().expect("index_version");
    assert_ne!(v0, v1, "an import changes the version");
    let ldif = s.index_ldif().expect("index_ldif");
    assert!(
        ldif.contains("mail: a") && ldif.contains("mail: b"),
        "{ldif}"
    );
    s.import_index_entries(&[("dn=a".into(), "dn: a\nmail: nuovo".into())], 20)
        .expect("import_index_entries");
    let ldif = s.index_ldif().expect("index_ldif");
    assert!(ldif.contains("mail: nuovo"), "{ldif}");
    assert!(
        !ldif.contains("mail: a\n") && !ldif.ends_with("mail: a"),
        "replaced by DN: {ldif}"
    );
    let v2 = s.index_version().expect("index_version");
    assert_ne!(v1, v2);
    s.add_domain(DOMAIN, 30).expect("add_domain");
    assert_ne!(
        s.index_version().expect("index_version"),
        v2,
        "our domains are in the index too"
    );
}

pub fn watchers_wake_after_a_change_to_their_mailbox(s: &dyn Store) {
    let a = mailbox(s, ALICE, LARGE_QUOTA);
    let b = mailbox(s, BOB, LARGE_QUOTA);
    let mut alice = s.changes().watch_mailbox(a);
    let mut bob = s.changes().watch_mailbox(b);
    assert!(!alice.has_changed().expect("watch open"));
    append(s, ALICE, INBOX, b"novita", "");
    assert!(
        alice.has_changed().expect("watch open"),
        "woken by the append"
    );
    assert!(!bob.has_changed().expect("watch open"), "not bob's mailbox");
    alice.borrow_and_update();
    let inbox = folder_id(s, a, INBOX);
    s.store_flags(inbox, &[1], crate::FlagOp::Add, &strings(&["\\Seen"]), None)
        .expect("store_flags");
    assert!(alice.has_changed().expect("watch open"), "woken by a flag");
    alice.borrow_and_update();
    s.expunge(inbox, &[1]).expect("expunge");
    assert!(
        alice.has_changed().expect("watch open"),
        "woken by an expunge"
    );
    bob.borrow_and_update();
    assert!(!bob.has_changed().expect("watch open"));
}

/// Plans set a box's quota; a box's profile keeps its name, plan and when it was welcomed;
/// a reminder of one kind is noted once per box.
pub fn plans_profiles_and_reminders(s: &dyn Store) {
    let alice = mailbox(s, ALICE, LARGE_QUOTA);
    let plan = crate::Plan {
        name: "Scuole".into(),
        quota: 6 << 30,
        archive: true,
        max_collaborators: Some(5),
    };
    s.add_plan(&plan, 10).expect("add_plan");
    assert!(is_exists(&s.add_plan(&plan, 11)), "one plan by a name");
    assert_eq!(s.plans().expect("plans"), vec![plan]);
    let profile = crate::MailboxProfile {
        name: Some("Anna"),
        plan: Some("scuole"),
        welcomed_at: Some(20),
    };
    s.set_profile(ALICE, &profile).expect("set_profile");
    let m = s.mailbox(ALICE).expect("mailbox").expect("alice");
    assert_eq!(
        (m.name.as_deref(), m.plan.as_deref(), m.quota, m.welcomed_at),
        (Some("Anna"), Some("scuole"), 6 << 30, Some(20))
    );
    let unknown = crate::MailboxProfile {
        plan: Some("oro"),
        ..crate::MailboxProfile::default()
    };
    assert!(
        is_not_found(&s.set_profile(ALICE, &unknown)),
        "no such plan"
    );
    assert_eq!(
        s.mailbox(ALICE)
            .expect("mailbox")
            .expect("alice")
            .plan
            .as_deref(),
        Some("scuole"),
        "nothing changed"
    );
    assert!(is_not_found(&s.set_profile("nessuno@pec.test", &profile)));
    // Without a welcome time, the one noted stays.
    s.set_profile(ALICE, &crate::MailboxProfile::default())
        .expect("set_profile");
    assert_eq!(
        s.mailbox(ALICE)
            .expect("mailbox")
            .expect("alice")
            .welcomed_at,
        Some(20)
    );

    // Suspension: kept, and undone; a box that is not there is not found.
    s.set_suspended(ALICE, true).expect("suspend");
    assert!(s.mailbox(ALICE).expect("mailbox").expect("alice").suspended);
    s.set_suspended(ALICE, false).expect("resume");
    assert!(!s.mailbox(ALICE).expect("mailbox").expect("alice").suspended);
    assert!(is_not_found(&s.set_suspended("nessuno@pec.test", true)));

    assert!(s
        .write(|tx| tx.note_reminder(alice, "auto-7", "sistema", 30))
        .expect("note_reminder"));
    assert!(!s
        .write(|tx| tx.note_reminder(alice, "auto-7", "sistema", 31))
        .expect("note_reminder"));
    assert!(s
        .write(|tx| tx.note_reminder(alice, "auto-3", "sistema", 32))
        .expect("note_reminder"));
}

/// Operators: unique names (case-insensitive), a TOTP step used once and only forwards,
/// sessions that end with a new password, a changed second factor or a disabled account.
pub fn operators_sessions_and_totp_steps(s: &dyn Store) {
    use crate::{OperatorSession, OperatorUpdate};
    s.add_operator("mario", "hash-1", Some(b"sealed"), 10)
        .expect("add_operator");
    assert!(is_exists(&s.add_operator("Mario", "hash-2", None, 11)));
    let m = s.operator("MARIO").expect("operator").expect("mario");
    assert_eq!(
        (
            m.name.as_str(),
            m.password_hash.as_str(),
            m.totp_secret.as_deref()
        ),
        ("mario", "hash-1", Some(&b"sealed"[..]))
    );
    assert!(!m.disabled);
    s.add_operator("anna", "hash-a", None, 12)
        .expect("add_operator");
    let names: Vec<String> = s
        .operators()
        .expect("operators")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, strings(&["anna", "mario"]));

    // A TOTP step is accepted once, and never one older than the last.
    assert!(s.use_totp_step("mario", 100).expect("step"));
    assert!(!s.use_totp_step("mario", 100).expect("step"), "replayed");
    assert!(!s.use_totp_step("mario", 99).expect("step"), "older");
    assert!(s.use_totp_step("mario", 101).expect("step"));

    let session = |token: &str, now: Unix| OperatorSession {
        token_hash: token.into(),
        operator: "mario".into(),
        csrf: format!("csrf-{token}"),
        created: now,
        last_seen: now,
    };
    s.start_operator_session(&session("t1", 1_000), 0)
        .expect("start");
    let got = s.operator_session("t1").expect("session").expect("t1");
    assert_eq!(
        (got.operator.as_str(), got.csrf.as_str()),
        ("mario", "csrf-t1")
    );
    s.touch_operator_session("t1", 1_500).expect("touch");
    assert_eq!(
        s.operator_session("t1")
            .expect("session")
            .expect("t1")
            .last_seen,
        1_500
    );
    // Starting a session drops those idle since before the limit.
    s.start_operator_session(&session("t2", 5_000), 2_000)
        .expect("start");
    assert!(s.operator_session("t1").expect("session").is_none());
    s.end_operator_session("t2").expect("end");
    assert!(s.operator_session("t2").expect("session").is_none());

    // Each of these ends the operator's sessions; the other fields stay.
    for update in [
        OperatorUpdate {
            password_hash: Some("hash-3"),
            ..Default::default()
        },
        OperatorUpdate {
            totp_secret: Some(None),
            ..Default::default()
        },
        OperatorUpdate {
            disabled: Some(true),
            ..Default::default()
        },
    ] {
        s.update_operator(
            "mario",
            &OperatorUpdate {
                disabled: Some(false),
                ..Default::default()
            },
        )
        .expect("enable");
        s.start_operator_session(&session("t3", 6_000), 0)
            .expect("start");
        assert!(s.operator_session("t3").expect("session").is_some());
        s.update_operator("mario", &update).expect("update");
        assert!(
            s.operator_session("t3").expect("session").is_none(),
            "{update:?} ends the sessions"
        );
    }
    let m = s.operator("mario").expect("operator").expect("mario");
    assert_eq!(m.password_hash, "hash-3");
    assert!(m.totp_secret.is_none() && m.disabled);
    assert_eq!(
        m.totp_last_step, 0,
        "a new second factor starts its steps again"
    );
    // A disabled operator cannot start a session; an unknown one cannot be updated.
    assert!(is_not_found(
        &s.start_operator_session(&session("t4", 7_000), 0)
    ));
    assert!(is_not_found(&s.update_operator(
        "nessuno",
        &OperatorUpdate {
            disabled: Some(true),
            ..Default::default()
        }
    )));
    // Anna was never touched.
    let a = s.operator("anna").expect("operator").expect("anna");
    assert!(!a.disabled && a.password_hash == "hash-a");
}

fn invitation<'a>(
    mailbox_id: MailboxId,
    email: &'a str,
    token: &'a str,
) -> crate::NewCollaboration<'a> {
    crate::NewCollaboration {
        mailbox_id,
        invite_email: email,
        name: "Mario",
        kind: "consultazione",
        expires: None,
        token_hash: token,
        invite_expires: 1_000,
    }
}

fn collaborator<'a>(username: &'a str) -> crate::NewCollaborator<'a> {
    crate::NewCollaborator {
        username,
        email: "ignored@example.org",
        mobile: Some("+39333"),
        password_hash: "box-hash",
        panel_password_hash: "panel-hash",
    }
}

/// Multiutenza: invitations up to a limit, a link accepted once and only before it
/// expires, unique usernames (case-insensitive), revocation and changes ending the
/// collaboration's webmail sessions, panel and reset tokens, the activity per box.
pub fn collaborations_invite_accept_revoke(s: &dyn Store) {
    let a = mailbox(s, ALICE, 100);
    let b = mailbox(s, BOB, 100);
    let first = s
        .invite(&invitation(a, "mario@example.org", "tok-1"), 2, 10)
        .expect("invite");
    s.invite(&invitation(a, "luigi@example.org", "tok-2"), 2, 11)
        .expect("invite");
    assert!(
        is_refused(&s.invite(&invitation(a, "x@example.org", "tok-3"), 2, 12)),
        "limit"
    );
    s.invite(&invitation(b, "mario@example.org", "tok-b"), 2, 12)
        .expect("another box has its own limit");
    let pending = s.invitation("tok-1").expect("invitation").expect("tok-1");
    assert_eq!(
        (pending.id, pending.state.as_str(), pending.mailbox.as_str()),
        (first, "invitata", ALICE)
    );
    assert!(s.invitation("nessuno").expect("invitation").is_none());

    // Registered by the link: the account exists and the collaboration is active; the
    // link is spent, and a taken username creates nothing.
    let c = s
        .register("tok-1", &collaborator("mario"), 20)
        .expect("register");
    assert_eq!(
        (c.state.as_str(), c.collaborator.as_deref()),
        ("attiva", Some("mario"))
    );
    assert!(
        is_refused(&s.accept("tok-1", "mario", 21)),
        "a link works once"
    );
    assert!(
        is_exists(&s.register("tok-2", &collaborator("MARIO"), 21)),
        "unique usernames"
    );
    assert_eq!(
        s.invitation("tok-2")
            .expect("invitation")
            .expect("tok-2")
            .state,
        "invitata"
    );
    // An expired link is refused.
    assert!(is_refused(&s.accept("tok-2", "mario", 1_000)), "expired");
    let m = s
        .collaborator("Mario")
        .expect("collaborator")
        .expect("mario");
    assert_eq!(
        (m.password_hash.as_str(), m.panel_password_hash.as_str()),
        ("box-hash", "panel-hash")
    );
    let active = s
        .active_collaboration("mario", ALICE)
        .expect("active")
        .expect("on alice");
    assert_eq!(active.id, first);
    assert!(s
        .active_collaboration("mario", BOB)
        .expect("active")
        .is_none());

    // From the panel, an invitation to the account's own address only.
    let other = s
        .invite(&invitation(b, "someone@example.org", "tok-c"), 5, 30)
        .expect("invite");
    let on_b = s.invitation("tok-b").expect("invitation").expect("tok-b");
    assert!(
        is_refused(&s.accept_by_id(other, "mario", 31)),
        "not mario's address"
    );
    // The account's address is the one `register` was given: bob's invitation went to
    // another one, so it is not mario's to accept.
    assert_eq!(m.email, "ignored@example.org");
    assert_eq!(s.collaborations_of("mario").expect("of mario").len(), 1);
    assert!(is_refused(&s.accept_by_id(on_b.id, "mario", 31)));
    s.revoke(b, on_b.id, 32).expect("revoke");
    let to_mario = s
        .invite(&invitation(b, "IGNORED@example.org", "tok-d"), 5, 33)
        .expect("invite");
    assert_eq!(
        s.collaborations_of("mario").expect("of mario").len(),
        2,
        "listed in his panel"
    );
    let accepted = s
        .accept_by_id(to_mario, "mario", 34)
        .expect("accept from the panel");
    assert_eq!(
        (accepted.state.as_str(), accepted.mailbox.as_str()),
        ("attiva", BOB)
    );
    assert!(
        s.invitation("tok-d").expect("invitation").is_none(),
        "its link is spent"
    );
    assert!(is_refused(&s.accept_by_id(to_mario, "mario", 35)), "once");

    // A webmail session of the collaboration ends with its revocation or change.
    let mut session = web_session("tc", a, 40);
    session.collaboration_id = Some(first);
    s.start_session(&session, 0).expect("start");
    s.start_session(&web_session("towner", a, 40), 0)
        .expect("start");
    s.change_collaboration(a, first, "completo", Some(5_000))
        .expect("change");
    assert!(
        s.session("tc").expect("session").is_none(),
        "changed rights end it"
    );
    assert!(
        s.session("towner").expect("session").is_some(),
        "the holder's stays"
    );
    assert_eq!(
        s.collaboration(first).expect("read").expect("c").kind,
        "completo"
    );
    s.start_session(&session, 0).expect("start");
    assert!(is_not_found(&s.revoke(b, first, 50)), "not bob's to revoke");
    s.revoke(a, first, 50).expect("revoke");
    assert!(
        s.session("tc").expect("session").is_none(),
        "revoked ends it"
    );
    assert!(s
        .active_collaboration("mario", ALICE)
        .expect("active")
        .is_none());
    assert!(is_not_found(&s.revoke(a, first, 51)), "once");
    assert_eq!(s.collaborations_of_box(a).expect("of box").len(), 2);

    // Tokens: a panel session; a reset link taken once; expired ones are not found.
    let token = |hash: &str, kind: &str, expires: Unix| crate::CollaboratorToken {
        token_hash: hash.to_string(),
        username: "mario".to_string(),
        kind: kind.to_string(),
        csrf: "c".to_string(),
        created: 60,
        expires,
    };
    s.add_collaborator_token(&token("p1", "pannello", 200))
        .expect("add");
    s.add_collaborator_token(&token("r1", "reset-webmail", 200))
        .expect("add");
    assert!(is_not_found(&s.add_collaborator_token(
        &crate::CollaboratorToken {
            username: "nessuno".into(),
            ..token("x", "pannello", 200)
        }
    )));
    assert_eq!(
        s.collaborator_token("p1", 100).expect("token"),
        Some(token("p1", "pannello", 200))
    );
    assert!(
        s.collaborator_token("p1", 200).expect("token").is_none(),
        "expired"
    );
    assert_eq!(
        s.collaborator_tokens_since("mario", "reset", 60)
            .expect("count"),
        1
    );
    assert_eq!(
        s.collaborator_tokens_since("mario", "reset", 61)
            .expect("count"),
        0
    );
    assert!(s
        .take_collaborator_token("r1", 100)
        .expect("take")
        .is_some());
    assert!(
        s.take_collaborator_token("r1", 100)
            .expect("take")
            .is_none(),
        "once"
    );
    s.end_collaborator_tokens("mario", "pannello").expect("end");
    assert!(s.collaborator_token("p1", 100).expect("token").is_none());

    // Activity: per box, filtered, newest first.
    for (i, (who, action)) in [
        ("mario", "accesso"),
        ("luigi", "lettura"),
        ("mario", "invio"),
    ]
    .iter()
    .enumerate()
    {
        s.record_activity(&crate::Activity {
            mailbox_id: a,
            collaborator: who.to_string(),
            protocol: "imap".into(),
            ip: "192.0.2.1".into(),
            action: action.to_string(),
            detail: String::new(),
            time: 100 + i as Unix,
        })
        .expect("record");
    }
    let mario: Vec<String> = s
        .activity(a, Some("mario"), 0, Unix::MAX, 10)
        .expect("activity")
        .into_iter()
        .map(|x| x.action)
        .collect();
    assert_eq!(mario, strings(&["invio", "accesso"]));
    assert_eq!(
        s.activity(a, None, 101, 102, 10).expect("activity").len(),
        1
    );
    assert!(s
        .activity(b, None, 0, Unix::MAX, 10)
        .expect("activity")
        .is_empty());
}
