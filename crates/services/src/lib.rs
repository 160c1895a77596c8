//! Certa's services: every rule lives here once, whatever protocol asks for it.
//!
//! - [`accounts`]: passwords (argon2id), the password policy, login throttling, login names;
//! - [`mailbox`]: operations on a mailbox for every protocol, rights checked inside;
//! - [`sessions`]: the webmail's login sessions; [`recovery`]: "Hai dimenticato la password?";
//! - [`principal`]: who is acting, and what it may do ([`principal::Permission`]);
//! - [`collaboration`]: multiutenza — collaborators, their delegations and activity;
//! - [`provider`]: the provider's identity, keys, index and routing;
//! - [`antivirus`]: clamd's INSTREAM;
//! - [`access`]: the access point (RFC 6109 §3.1): formal checks, acceptance or
//!   non-acceptance, the transport envelope;
//! - [`incoming`]: the incoming point (§3.2): what other providers and the Internet send;
//! - [`outcome`]: what those two points did with a message, typed (each protocol says it
//!   its own way: SMTP's reply codes are `smtpserver`'s);
//! - [`delivery`]: the delivery point (§3.3) and outbound relay, as queue work;
//! - [`srs`]: the envelope sender of ordinary mail we forward, and its bounces;
//! - [`timers`]: the 12 h / 24 h notices (§3.1.6); [`worker`]: queue and timer loops;
//! - [`metrics`]: the counters `/metrics` exposes.

pub mod access;
pub mod accounts;
pub mod antivirus;
pub mod collaboration;
pub mod console;
pub mod delivery;
pub mod dns;
pub mod incoming;
pub mod mailbox;
pub mod metrics;
pub mod migration;
pub mod notifications;
pub mod onboarding;
pub mod operators;
pub mod outcome;
pub mod principal;
pub mod provider;
pub mod quota;
pub mod recovery;
pub mod reports;
pub mod sessions;
pub mod srs;
pub mod takeover;
pub mod terms;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timers;
pub mod worker;

pub use provider::{Clock, Limits, Provider, SystemClock, Timers};

/// Runs blocking work (the store's fsyncing writes, signing, argon2id) on the blocking
/// pool: the one way the async protocols wait for the services. `None` when the task did
/// not finish (it panicked, and tokio reported it): a panic there never takes the caller's
/// connection with it.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}
