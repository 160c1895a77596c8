//! The daily e-mail and SMS reports (issue 18 item 4) against the clock and real gateways:
//! made at the holder's Italian hour with the right counts, once per day (also on the day
//! summer time ends, when the hour comes twice), none when nothing arrived; the SMS through
//! a local HTTP server acting as the gateway — the generic adapter and the Skebby one —
//! retried after a failure.

use chrono::TimeZone;
use services::mailbox::{self, MailboxError};
use services::principal::Principal;
use services::provider::Clock;
use services::reports::{self, ReportKind};
use services::testing::{Options, TestProvider, USER};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use store::{MessageMeta, NewMessage, SmsState, INBOX};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The time the test says it is.
struct At(Arc<AtomicI64>);

impl Clock for At {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn rome(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono_tz::Europe::Rome
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("a time that exists")
        .timestamp()
}

/// One request as the gateway received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP/1.1 server acting as the gateway: records every request and answers with
/// what `answer` says for it (status, body).
async fn gateway(
    answer: impl Fn(&Received) -> (u16, String) + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (seen2, answer) = (seen.clone(), Arc::new(answer));
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let (seen, answer) = (seen2.clone(), answer.clone());
            tokio::spawn(async move {
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                let mut parts = line.split_whitespace();
                let (method, target) = (
                    parts.next().unwrap_or_default().to_string(),
                    parts.next().unwrap_or_default().to_string(),
                );
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).await.unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((n, v)) = h.split_once(':') {
                        headers.push((n.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0usize);
                let mut body = vec![0; len];
                r.read_exact(&mut body).await.unwrap();
                let got = Received {
                    method,
                    target,
                    headers,
                    body: String::from_utf8(body).unwrap(),
                };
                let (status, text) = answer(&got);
                seen.lock().unwrap().push(got);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                r.get_mut().write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    (port, seen)
}

/// A provider whose clock the test sets, with `gateway` as its SMS gateway.
fn provider(gateway: Option<sms::GatewayConfig>) -> (TestProvider, Arc<AtomicI64>) {
    let mut t = TestProvider::new(Options::default());
    let clock = Arc::new(AtomicI64::new(0));
    let p = Arc::get_mut(&mut t.provider).expect("unshared");
    p.clock = Arc::new(At(clock.clone()));
    p.sms = gateway.map(|g| Arc::new(sms::Gateway::new(g).expect("gateway")));
    (t, clock)
}

fn http_gateway(port: u16) -> sms::GatewayConfig {
    let cfg = format!(
        r#"
        adapter = "http"
        sender = "CertaPEC"
        timeout_secs = 5
        [http]
        url = "http://127.0.0.1:{port}/invia?destinatario={{to}}"
        headers = {{ "X-Api-Key" = "chiave-segreta" }}
        body = '{{"to":"{{to}}","from":"{{sender}}","text":"{{text}}"}}'
        encoding = "json"
        success_contains = '"esito":"ok"'
        "#
    );
    toml::from_str(&cfg).expect("gateway config")
}

/// Stores a message of `kind` in `folder`, arrived at `at`.
fn arrived(t: &TestProvider, folder: &str, kind: Option<pec::MessageKind>, at: i64, seen: bool) {
    let data = format!("Subject: {at}\r\n\r\n{kind:?}\r\n").into_bytes();
    let store = &t.provider.store;
    let blob = store.put_blob(&data).unwrap();
    let meta = MessageMeta {
        pec_kind: kind,
        internal_date: Some(at),
        flags: if seen { "\\Seen".into() } else { String::new() },
        ..MessageMeta::default()
    };
    store
        .write(|tx| {
            tx.append(
                USER,
                folder,
                &NewMessage {
                    blob: &blob,
                    size: data.len() as i64,
                    meta: &meta,
                },
                at,
            )
        })
        .unwrap();
}

fn holder(t: &TestProvider) -> Principal {
    Principal::holder(&t.provider.store.mailbox(USER).unwrap().unwrap())
}

/// The report e-mails queued so far, as text.
fn report_mails(t: &TestProvider) -> Vec<(String, String)> {
    let store = &t.provider.store;
    store
        .queue_entries()
        .unwrap()
        .into_iter()
        .map(|e| {
            let bytes = store.blob(&e.item.blob).unwrap();
            (
                e.item.recipients.join(","),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_come_at_the_hour_once_a_day_with_the_right_counts() {
    let (port, seen) = gateway(|_| (200, r#"{"esito":"ok"}"#.into())).await;
    let (t, clock) = provider(Some(http_gateway(port)));
    let p = t.provider.clone();
    let who = holder(&t);
    use pec::{MessageKind as K, ReceiptType, TimeoutStage};

    // The holder's choices, through the mailbox service (as the webmail saves them).
    mailbox::run(&p, &who, |m| {
        m.set_email_report("Ufficio@Example.test", "8")?;
        m.set_sms_report("333 123 4567", "8")
    })
    .await
    .expect("saved");
    let bad = mailbox::run(&p, &who, |m| m.set_sms_report("06 1234", "8")).await;
    assert!(matches!(bad, Err(MailboxError::Refused(_))), "{bad:?}");
    let bad = mailbox::run(&p, &who, |m| m.set_email_report("x@y.test", "24")).await;
    assert!(matches!(bad, Err(MailboxError::Refused(_))), "{bad:?}");
    let kept = mailbox::run(&p, &who, |m| {
        Ok::<_, MailboxError>((m.email_report()?, m.sms_report()?))
    })
    .await
    .unwrap();
    assert_eq!(
        kept.0.map(|r| (r.to, r.hour)),
        Some(("ufficio@example.test".into(), 8))
    );
    assert_eq!(
        kept.1.map(|r| (r.number, r.hour)),
        Some(("+393331234567".into(), 8))
    );

    // The last 24 hours before 8:00 on 24 October 2026: 3 PEC (one read), 2 delivery
    // receipts, a non-delivery and a 24 h timeout notice, an acceptance, an anomaly, an
    // ordinary message; one PEC before the period, not counted; a Trash message unread,
    // not counted as to read.
    let eight = rome(2026, 10, 24, 8, 0);
    let at = eight - 3_600;
    arrived(&t, INBOX, Some(K::TransportEnvelope), at, false);
    arrived(&t, INBOX, Some(K::TransportEnvelope), at, true);
    arrived(&t, "Posta inviata", Some(K::TransportEnvelope), at, false);
    arrived(
        &t,
        INBOX,
        Some(K::Delivery(ReceiptType::Completa)),
        at,
        false,
    );
    arrived(&t, INBOX, Some(K::Delivery(ReceiptType::Breve)), at, false);
    arrived(&t, INBOX, Some(K::NonDelivery), at, false);
    arrived(
        &t,
        INBOX,
        Some(K::DeliveryTimeout(TimeoutStage::Hours24)),
        at,
        false,
    );
    arrived(&t, INBOX, Some(K::Acceptance), at, false);
    arrived(&t, INBOX, Some(K::AnomalyEnvelope), at, false);
    arrived(&t, INBOX, None, at, false);
    arrived(
        &t,
        INBOX,
        Some(K::TransportEnvelope),
        eight - 2 * 86_400,
        true,
    );
    arrived(&t, "Cestino", None, eight - 2 * 86_400, false);

    // Before the hour: nothing.
    assert_eq!(
        reports::run_due(&p, eight - 60).unwrap(),
        reports::Made::default()
    );
    assert!(report_mails(&t).is_empty());

    // At the hour: one of each.
    let made = reports::run_due(&p, eight).unwrap();
    assert_eq!((made.emails, made.sms), (1, 1));
    let mails = report_mails(&t);
    assert_eq!(mails.len(), 1);
    let (to, mail) = &mails[0];
    assert_eq!(to, "ufficio@example.test");
    for line in [
        "Messaggi da leggere: 9",
        "- messaggi di posta certificata: 3",
        "- Ricevuta di accettazione: 1",
        "- Ricevuta di avvenuta consegna (completa): 1",
        "- Ricevuta di avvenuta consegna (breve): 1",
        "- Avviso di mancata consegna: 1",
        "- anomalie (buste di anomalia): 1",
        "- posta ordinaria (non certificata): 1",
        "Nessuna PEC inviata",
    ] {
        assert!(mail.contains(line), "{line:?} missing from:\n{mail}");
    }
    assert!(mail.contains("To: ufficio@example.test"), "{mail}");

    // The SMS goes out through the gateway, with the counts.
    clock.store(eight, Ordering::SeqCst);
    assert_eq!(reports::send_due_sms(&p).await.unwrap(), 1);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].target, "/invia?destinatario=%2B393331234567");
    assert_eq!(got[0].header("x-api-key"), Some("chiave-segreta"));
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("JSON");
    assert_eq!(body["to"], "+393331234567");
    assert_eq!(body["from"], "CertaPEC");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("3 messaggi certificati, 2 ricevute di consegna, 2 mancate consegne, 3 altro. Da leggere: 9"),
        "{text}"
    );
    let outbox = p.store.sms_list(10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].state, SmsState::Sent);

    // Later the same day: nothing more.
    for later in [eight + 60, eight + 12 * 3_600, rome(2026, 10, 24, 23, 59)] {
        assert_eq!(
            reports::run_due(&p, later).unwrap(),
            reports::Made::default()
        );
    }
    assert_eq!(report_mails(&t).len(), 1);

    // 25 October, summer time ends: 02:00–02:59 comes twice. Reports at 2, one each.
    mailbox::run(&p, &who, |m| {
        m.set_email_report("ufficio@example.test", "2")?;
        m.set_sms_report("+393331234567", "2")
    })
    .await
    .unwrap();
    let first_two = rome(2026, 10, 25, 2, 0);
    arrived(&t, INBOX, Some(K::TransportEnvelope), first_two - 60, false);
    assert_eq!(
        reports::run_due(&p, first_two - 1).unwrap(),
        reports::Made::default()
    );
    let made = reports::run_due(&p, first_two).unwrap();
    assert_eq!((made.emails, made.sms), (1, 1));
    // The second 02:00, an hour later by the clock: already done.
    assert_eq!(
        reports::run_due(&p, first_two + 3_600).unwrap(),
        reports::Made::default()
    );
    assert_eq!(report_mails(&t).len(), 2);

    // 27 October: nothing arrived in the last 24 hours, nothing waits: neither.
    let quiet = rome(2026, 10, 27, 2, 0);
    assert_eq!(
        reports::run_due(&p, quiet).unwrap(),
        reports::Made::default()
    );
    assert_eq!(report_mails(&t).len(), 2);

    // Reset: no more reports.
    mailbox::run(&p, &who, |m| {
        m.clear_report(ReportKind::Email)?;
        m.clear_report(ReportKind::Sms)
    })
    .await
    .unwrap();
    arrived(
        &t,
        INBOX,
        Some(K::TransportEnvelope),
        rome(2026, 10, 28, 1, 0),
        false,
    );
    assert_eq!(
        reports::run_due(&p, rome(2026, 10, 28, 9, 0)).unwrap(),
        reports::Made::default()
    );
}

#[tokio::test]
async fn a_failed_sms_is_retried_later_and_the_operator_sees_why() {
    // The gateway fails the first request, then accepts.
    let calls = Arc::new(AtomicI64::new(0));
    let c = calls.clone();
    let (port, seen) = gateway(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            (503, "manutenzione".into())
        } else {
            (200, r#"{"esito":"ok"}"#.into())
        }
    })
    .await;
    let (t, clock) = provider(Some(http_gateway(port)));
    let p = t.provider.clone();
    mailbox::run(&p, &holder(&t), |m| m.set_sms_report("+393331234567", "9"))
        .await
        .unwrap();
    let nine = rome(2026, 12, 3, 9, 0);
    arrived(
        &t,
        INBOX,
        Some(pec::MessageKind::TransportEnvelope),
        nine - 60,
        false,
    );
    assert_eq!(reports::run_due(&p, nine).unwrap().sms, 1);

    clock.store(nine, Ordering::SeqCst);
    assert_eq!(reports::send_due_sms(&p).await.unwrap(), 0);
    let outbox = p.store.sms_list(10).unwrap();
    assert_eq!(outbox[0].state, SmsState::Pending);
    let why = outbox[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("503") && why.contains("manutenzione"), "{why}");
    // Not again before its time; then sent.
    clock.store(nine + 59, Ordering::SeqCst);
    assert_eq!(reports::send_due_sms(&p).await.unwrap(), 0);
    assert_eq!(seen.lock().unwrap().len(), 1);
    clock.store(nine + 60, Ordering::SeqCst);
    assert_eq!(reports::send_due_sms(&p).await.unwrap(), 1);
    let outbox = p.store.sms_list(10).unwrap();
    assert_eq!((outbox[0].state, outbox[0].attempts), (SmsState::Sent, 2));
    let gauges = services::metrics::Gauges {
        connections: Vec::new(),
        queue_depth: 0,
        queue_oldest_secs: 0,
    };
    let metrics = p.metrics.render(&gauges);
    assert!(
        metrics.contains("certa_sms_total{result=\"retry\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("certa_sms_total{result=\"sent\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_skebby_adapter_logs_in_then_sends_with_its_keys() {
    let (port, seen) = gateway(|r| match (r.method.as_str(), r.target.as_str()) {
        ("GET", t) if t.starts_with("/API/v1.0/REST/login?") => {
            if t.contains("password=giusta") {
                (200, "UK123;SK456".into())
            } else {
                (401, String::new())
            }
        }
        ("POST", "/API/v1.0/REST/sms")
            if r.header("user_key") == Some("UK123")
                && r.header("Session_key") == Some("SK456") =>
        {
            (201, r#"{"result":"OK","order_id":"1"}"#.into())
        }
        _ => (400, "richiesta inattesa".into()),
    })
    .await;
    let config = |password: &str| -> sms::GatewayConfig {
        toml::from_str(&format!(
            r#"
            adapter = "skebby"
            sender = "Comune"
            [skebby]
            base_url = "http://127.0.0.1:{port}/API/v1.0/REST"
            username = "ufficio"
            password = "{password}"
            "#
        ))
        .expect("config")
    };
    let g = sms::Gateway::new(config("giusta")).unwrap();
    g.send("3331234567", "PEC: 1 messaggio \"urgente\"")
        .await
        .expect("sent");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "login, then send");
    assert!(got[0].target.contains("username=ufficio"));
    let body: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body["recipient"][0], "+393331234567");
    assert_eq!(body["sender"], "Comune");
    assert_eq!(body["message"], "PEC: 1 messaggio \"urgente\"");
    assert_eq!(body["message_type"], "GP");

    // Wrong credentials: refused at the login, nothing sent.
    let g = sms::Gateway::new(config("sbagliata")).unwrap();
    let e = g.send("3331234567", "x").await.unwrap_err();
    assert!(matches!(e, sms::SmsError::Refused(_)), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_gateway_that_never_answers_or_floods_is_cut_off() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    let mut cfg = http_gateway(port);
    cfg.timeout_secs = Some(1);
    let g = sms::Gateway::new(cfg).unwrap();
    let started = std::time::Instant::now();
    let e = g.send("3331234567", "x").await.unwrap_err();
    assert!(matches!(e, sms::SmsError::Unreachable(_)), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Answers 200 with an endless body: refused past the limit, not read to the end.
    let (port, _) = gateway(|_| (200, "x".repeat(1 << 20))).await;
    let g = sms::Gateway::new(http_gateway(port)).unwrap();
    let e = g.send("3331234567", "x").await.unwrap_err();
    assert!(matches!(e, sms::SmsError::Refused(_)), "{e}");

    // A configuration that cannot work is refused when it is read.
    let mut bad = http_gateway(port);
    bad.sender = "Un mittente troppo lungo".into();
    assert!(matches!(
        sms::Gateway::new(bad),
        Err(sms::SmsError::Config(_))
    ));
    let mut bad = http_gateway(port);
    bad.http.as_mut().unwrap().url = "ftp://127.0.0.1/".into();
    assert!(matches!(
        sms::Gateway::new(bad),
        Err(sms::SmsError::Config(_))
    ));
}

#[tokio::test]
async fn without_a_gateway_the_sms_report_is_not_offered() {
    let (t, _) = provider(None);
    let r = mailbox::run(&t.provider, &holder(&t), |m| {
        m.set_sms_report("3331234567", "8")
    })
    .await;
    assert!(matches!(r, Err(MailboxError::Refused(_))), "{r:?}");
}
