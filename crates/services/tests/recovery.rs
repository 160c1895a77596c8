//! The box's password reset (issue 18 item 6) against the clock: a link works for 30
//! minutes, once, and a new password spends every other link.

use services::collaboration::token_hash;
use services::provider::Clock;
use services::recovery::{self, RecoveryError};
use services::testing::{Options, TestProvider, USER};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

struct Shifted(Arc<AtomicI64>);

impl Clock for Shifted {
    fn now(&self) -> i64 {
        services::testing::now() + self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn a_link_works_for_thirty_minutes_once_and_a_new_password_spends_the_others() {
    let mut t = TestProvider::new(Options::default());
    let offset = Arc::new(AtomicI64::new(0));
    Arc::get_mut(&mut t.provider).expect("unshared").clock = Arc::new(Shifted(offset.clone()));
    let p = &t.provider;
    let id = t.mailbox_id(USER);
    let now = p.now();
    let link = |token: &str, made: i64| {
        p.store
            .add_password_reset(id, &token_hash(token), made, made + recovery::LINK_SECS)
            .expect("add")
    };
    link("primo", now);
    link("secondo", now);
    assert_eq!(
        recovery::link(p, "primo").expect("link").as_deref(),
        Some(USER)
    );

    // Past 30 minutes the link is refused, and nothing changes.
    offset.store(recovery::LINK_SECS + 1, Ordering::SeqCst);
    assert!(recovery::link(p, "primo").expect("link").is_none());
    assert!(matches!(
        recovery::reset(p, "primo", "Azzurro#Mare58", "Azzurro#Mare58"),
        Err(RecoveryError::LinkInvalid)
    ));

    // Within them: a refused password leaves the link working; a good one spends it and
    // the other link.
    offset.store(0, Ordering::SeqCst);
    assert!(matches!(
        recovery::reset(p, "primo", "debole", "debole"),
        Err(RecoveryError::Policy(_))
    ));
    assert!(matches!(
        recovery::reset(p, "primo", "Azzurro#Mare58", "Azzurro#Mare59"),
        Err(RecoveryError::Mismatch)
    ));
    assert_eq!(
        recovery::reset(p, "primo", "Azzurro#Mare58", "Azzurro#Mare58").expect("reset"),
        USER
    );
    for token in ["primo", "secondo"] {
        assert!(recovery::link(p, token).expect("link").is_none(), "{token}");
    }
    let m = p.store.mailbox(USER).expect("read").expect("box");
    assert!(services::accounts::PasswordChecker::with_slots(1)
        .verify(&m.password_hash, "Azzurro#Mare58"));
}
