//! The operator console's accounts (issue 16): argon2id passwords, a TOTP second factor
//! whose codes work once, throttling like every login, sessions that end when idle, when too
//! old, or when the operator is disabled — each refusal proved after the same path succeeds.

use services::operators::{self, ConsoleLoginError, SessionLimits};
use services::testing::{Options, TestProvider};
use std::net::IpAddr;

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

/// RFC 4648 base32 (the otpauth URI's secret), decoded here independently of the code.
fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// The code an authenticator app shows now for the secret of `uri` (RFC 6238, SHA-1).
fn code_now(uri: &str) -> String {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let secret = uri
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("secret");
    let key = PKey::hmac(&base32_decode(secret)).expect("key");
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        / 30;
    let mut signer = Signer::new(MessageDigest::sha1(), &key).expect("signer");
    signer.update(&step.to_be_bytes()).expect("update");
    let mac = signer.sign_to_vec().expect("sign");
    let o = usize::from(mac[19] & 0x0f);
    let v = u32::from_be_bytes([mac[o] & 0x7f, mac[o + 1], mac[o + 2], mac[o + 3]]);
    format!("{:06}", v % 1_000_000)
}

#[tokio::test]
async fn console_logins_need_the_password_and_a_fresh_code() {
    let t = TestProvider::new(Options::default());
    let p = &t.provider;
    let store = &*p.store;
    let mario =
        operators::create(store, &p.migration.key, "Certa Test", "mario", true, 1).expect("create");
    let (password, uri) = (
        mario.password.expect("password"),
        mario.totp_uri.expect("uri"),
    );
    assert!(
        uri.starts_with("otpauth://totp/CertaTest:mario?secret="),
        "{uri}"
    );
    assert!(matches!(
        operators::create(store, &p.migration.key, "Certa Test", "MARIO", false, 1),
        Err(operators::OperatorError::InvalidName)
    ));
    assert!(matches!(
        operators::create(store, &p.migration.key, "Certa Test", "mario", false, 1),
        Err(operators::OperatorError::Exists(_))
    ));

    // Password and the code of now: in, and a legal-log record says so.
    let code = code_now(&uri);
    let who = operators::authenticate(p, "mario", &password, &code, IP, false).await;
    assert_eq!(who.as_deref(), Ok("mario"));
    let log = store.log_records(Some("operatore:mario")).expect("log");
    assert!(log
        .iter()
        .any(|e| e.event == "operatore-accesso" && e.sender == "operatore:mario"));
    // The same code again: refused (seen once, by a shoulder or a proxy, it is spent).
    let replay = operators::authenticate(p, "mario", &password, &code, IP, false).await;
    assert_eq!(replay, Err(ConsoleLoginError::Refused));
    // No code, a wrong one, a wrong password, an unknown operator: the same refusal.
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    for (name, pw, code) in [
        ("mario", password.as_str(), ""),
        ("mario", password.as_str(), wrong.as_str()),
        ("mario", "Sbagliata#1", code.as_str()),
        ("nessuno", password.as_str(), code.as_str()),
    ] {
        let r = operators::authenticate(p, name, pw, code, IP, false).await;
        assert_eq!(r, Err(ConsoleLoginError::Refused), "{name} {code:?}");
    }

    // Without a second factor: in, unless the console requires one.
    let anna =
        operators::create(store, &p.migration.key, "Certa Test", "anna", false, 1).expect("create");
    let anna_pw = anna.password.expect("password");
    assert!(anna.totp_uri.is_none());
    let ok = operators::authenticate(p, "anna", &anna_pw, "", IP, false).await;
    assert_eq!(ok.as_deref(), Ok("anna"));
    let required = operators::authenticate(p, "anna", &anna_pw, "", IP, true).await;
    assert_eq!(required, Err(ConsoleLoginError::Refused));

    // A new password: the old one no longer works.
    let new = operators::new_password(store, "anna").expect("passwd");
    let old = operators::authenticate(p, "anna", &anna_pw, "", IP, false).await;
    assert_eq!(old, Err(ConsoleLoginError::Refused));
    let ok = operators::authenticate(p, "anna", &new, "", IP, false).await;
    assert_eq!(ok.as_deref(), Ok("anna"));

    // Disabled: refused even with the right password.
    operators::set_disabled(store, "anna", true).expect("disable");
    let disabled = operators::authenticate(p, "anna", &new, "", IP, false).await;
    assert_eq!(disabled, Err(ConsoleLoginError::Refused));
}

#[tokio::test]
async fn guessing_operators_from_one_address_is_throttled() {
    let t = TestProvider::new(Options {
        max_failures: 5,
        ..Options::default()
    });
    let p = &t.provider;
    let mut throttled = None;
    for i in 0..20 {
        let r =
            operators::authenticate(p, &format!("ignoto{i}"), "Prova#12345", "", IP, false).await;
        if r == Err(ConsoleLoginError::Throttled) {
            throttled = Some(i);
            break;
        }
        assert_eq!(r, Err(ConsoleLoginError::Refused));
    }
    assert_eq!(throttled, Some(5), "the sixth attempt is refused unchecked");
}

#[test]
fn console_sessions_end_when_idle_too_old_or_disabled() {
    let t = TestProvider::new(Options::default());
    let store = &*t.provider.store;
    operators::create(store, &t.provider.migration.key, "Certa", "mario", false, 1)
        .expect("create");
    let limits = SessionLimits {
        idle_secs: 1_800,
        lifetime_secs: 28_800,
    };
    let begin = |token: &str, at: i64| {
        operators::begin_session(store, "mario", token.into(), "csrf".into(), limits, at)
            .expect("begin")
    };
    let live = |token: &str, at: i64| {
        operators::session(store, token, limits, at)
            .expect("session")
            .is_some()
    };
    let t0 = 1_000_000;
    begin("a", t0);
    // Used every 20 minutes, it lives until its lifetime is over — not idle then — and
    // ends for good.
    for minutes in (20..=460).step_by(20) {
        assert!(live("a", t0 + minutes * 60), "used at {minutes} min");
    }
    assert!(
        live("a", t0 + 28_799),
        "idle 19 min, 1 s short of its lifetime"
    );
    assert!(!live("a", t0 + 28_800), "its lifetime is over");
    assert!(!live("a", t0 + 28_810), "ended, not revived");
    // Unused for the idle limit: ended.
    begin("b", t0);
    assert!(live("b", t0 + 1_799));
    assert!(!live("b", t0 + 1_799 + 1_800));
    // Disabling the operator ends a live session at once.
    begin("c", t0);
    assert!(live("c", t0 + 10));
    operators::set_disabled(store, "mario", true).expect("disable");
    assert!(!live("c", t0 + 20));
}
