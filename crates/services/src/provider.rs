//! The provider: its identity and signing key, the store, the provider index (imported
//! entries plus our own), trust anchors, routing of a recipient, limits and timers.

use crate::accounts::{self, LoginThrottle};
use crate::principal::Principal;
use openssl::x509::X509;
use pec::{ProviderEntry, ProviderIdentity, ProviderIndex, Signer, TrustAnchors};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{Mailbox, Store, StoreError};

/// Time, injected so that timers can be tested.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub pec: pec::checks::Limits,
}

/// RFC 6109 §3.1.6 timers; shortened in tests.
#[derive(Clone, Debug)]
pub struct Timers {
    pub notice_12h_secs: i64,
    pub notice_24h_secs: i64,
    /// Give up relaying after this long (RFC 6109 §2.2.2: 24 hours).
    pub max_queue_secs: i64,
    /// First retry delay of the relay queue; it doubles up to `retry_max_secs`.
    pub retry_secs: i64,
    pub retry_max_secs: i64,
    /// Live traffic (review M3): how long before its arrival a message may have been signed
    /// (default 48 h) and how far after (clocks apart, default 1 h).
    pub signed_before_arrival_secs: i64,
    pub signed_after_arrival_secs: i64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            notice_12h_secs: 12 * 3600,
            notice_24h_secs: 24 * 3600,
            max_queue_secs: 24 * 3600,
            retry_secs: 60,
            retry_max_secs: 3600,
            signed_before_arrival_secs: 48 * 3600,
            signed_after_arrival_secs: 3600,
        }
    }
}

/// Where a recipient's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A mailbox domain of ours.
    Local,
    /// Another PEC provider (from the index).
    Pec(Box<ProviderEntry>),
    /// An ordinary e-mail address.
    Ordinary,
}

pub struct Provider {
    pub identity: ProviderIdentity,
    pub signer: Signer,
    pub ca: X509,
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    pub timers: Timers,
    pub clock: Arc<dyn Clock>,
    pub throttle: LoginThrottle,
    /// Messages per mailbox per minute and hour (submission and webmail).
    pub sending: accounts::SendRate,
    /// Checks passwords with a bounded pool of argon2 memories.
    pub passwords: accounts::PasswordChecker,
    /// Hostname used in SMTP greetings and EHLO.
    pub hostname: String,
    /// Accept AUTH without TLS (loopback tests only).
    pub allow_plaintext_auth: bool,
    /// clamd's address (Unix socket path or host:port), when an antivirus is configured.
    pub antivirus: Option<String>,
    /// DNS resolver for MX lookups (default: /etc/resolv.conf) and the port of mail
    /// exchangers (25; another only on private networks and in tests).
    pub dns_resolver: Option<std::net::SocketAddr>,
    pub mx_port: u16,
    /// Extra CAs (PEM) trusted for peers' TLS and signatures, besides the system's.
    pub peer_ca_pem: Option<String>,
    /// Keys the envelope senders of forwarded ordinary mail (SRS), kept in the data directory.
    pub srs: crate::srs::SrsKey,
    /// The index as last read, with the store's version of it.
    pub index_cache: std::sync::Mutex<Option<(String, Arc<ProviderIndex>)>>,
    /// The counters `/metrics` exposes.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Copies from old providers' boxes: settings and the key sealing the old passwords.
    pub migration: crate::migration::Settings,
    /// The SMS gateway (`[sms]`), when the operator configured one: daily SMS reports.
    pub sms: Option<Arc<sms::Gateway>>,
}

/// A login finding the limits of attempts in flight full waits this long at most...
const LOGIN_QUEUE_WAIT: Duration = Duration::from_secs(15);
/// ...asking again this often.
const LOGIN_QUEUE_STEP: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("credenziali non valide")]
    Invalid,
    #[error("troppi tentativi falliti: riprovare più tardi")]
    Throttled,
    /// The password is right but is the one mailed at creation (L4): it must be changed in
    /// the webmail before a mail client may use the mailbox.
    #[error("password da cambiare: accedere prima alla webmail e sceglierne una nuova")]
    MustChangePassword,
    #[error("servizio di autenticazione non disponibile: riprovare più tardi")]
    Unavailable,
    /// The operator suspended the box (issue 16): the password is right, no access until it
    /// is resumed. Mail for it is still received.
    #[error("casella sospesa dal gestore: rivolgersi all'assistenza")]
    Suspended,
    /// A collaborator with the *Solo invio* delegation (multiutenza) logged in anywhere but
    /// SMTP submission.
    #[error("delega «Solo invio»: questa utenza può solo inviare PEC tramite SMTP")]
    SendOnly,
    /// A collaborator whose collaboration expired or was revoked.
    #[error("collaborazione scaduta o revocata: rivolgersi al titolare della casella")]
    Ended,
}

/// Where a login comes from: the webmail may open a mailbox whose password must change (to
/// change it); mail clients (IMAP, POP3, SMTP submission) may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVia {
    Webmail,
    Imap,
    Pop3,
    Submission,
}

impl LoginVia {
    /// The protocol, as logs and metrics name it.
    pub fn protocol(self) -> &'static str {
        match self {
            LoginVia::Webmail => "webmail",
            LoginVia::Imap => "imap",
            LoginVia::Pop3 => "pop3",
            LoginVia::Submission => "submission",
        }
    }
}

impl AuthError {
    /// The class of a failed login in logs and metrics (never the password).
    pub fn class(&self) -> &'static str {
        match self {
            AuthError::Invalid => "invalid",
            AuthError::Throttled => "throttled",
            AuthError::MustChangePassword => "must-change-password",
            AuthError::Unavailable => "unavailable",
            AuthError::Suspended => "suspended",
            AuthError::SendOnly => "send-only",
            AuthError::Ended => "collaboration-ended",
        }
    }
}

impl Provider {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How a message arriving now is verified: chain valid now, signed within the window.
    pub fn arrival(&self) -> pec::CheckTime {
        pec::CheckTime::Arrival {
            now: self.now(),
            before_secs: self.timers.signed_before_arrival_secs,
            after_secs: self.timers.signed_after_arrival_secs,
        }
    }

    /// Our own entry, as the index lists us.
    pub fn own_entry(&self) -> ProviderEntry {
        self.entry_including(&[])
    }

    /// Our entry with domains still in migration added (`including`, names as the store
    /// has them): what the index authority is sent before a switch-over.
    pub fn entry_including(&self, including: &[String]) -> ProviderEntry {
        let mut domains = self.store.domains().unwrap_or_default();
        for d in including {
            if !domains.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                domains.push(d.clone());
            }
        }
        ProviderEntry::for_certificate(
            self.signer.certificate(),
            &self.identity.name,
            &domains,
            &self.identity.service_address(),
        )
    }

    /// The index: what was imported, plus our own entry. Read again only when the store says
    /// it changed (an `index import` or `domain add` on the running server).
    pub fn index(&self) -> Arc<ProviderIndex> {
        let version = self.store.index_version().unwrap_or_default();
        let mut cache = self.index_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, index)) = cache.as_ref() {
            if *v == version {
                return index.clone();
            }
        }
        // An index that no longer reads keeps the last one that did, never an empty one
        // (review L9); `serve` refused to start on one at all (check_trust).
        let ldif = match self.store.index_ldif() {
            Ok(l) => l,
            Err(_) => return cache.as_ref().map(|c| c.1.clone()).unwrap_or_default(),
        };
        let mut index = match ProviderIndex::from_ldif(&ldif) {
            Ok(i) => i,
            Err(_) => return cache.as_ref().map(|c| c.1.clone()).unwrap_or_default(),
        };
        index.upsert(self.own_entry());
        let index = Arc::new(index);
        *cache = Some((version, index.clone()));
        index
    }

    /// Trust anchors for signatures: the system roots, our CA and the CAs given with routes
    /// (a peer on a private network is trusted for TLS and signatures alike).
    pub fn trust(&self) -> TrustAnchors {
        let mut roots = vec![self.ca.clone()];
        if let Some(pem) = &self.peer_ca_pem {
            roots.extend(X509::stack_from_pem(pem.as_bytes()).unwrap_or_default());
        }
        for r in self.store.routes().unwrap_or_default() {
            if let Some(pem) = r.ca_pem {
                roots.extend(X509::stack_from_pem(pem.as_bytes()).unwrap_or_default());
            }
        }
        TrustAnchors::system_and(roots)
    }

    /// Review L9: the index, the routes' CAs and the peer CAs all read, or the reason why
    /// not; `serve` stops on it rather than run with a trust store silently emptied.
    pub fn check_trust(&self) -> Result<(), String> {
        let ldif = self
            .store
            .index_ldif()
            .map_err(|e| format!("indice dei gestori illeggibile: {e}"))?;
        ProviderIndex::from_ldif(&ldif)
            .map_err(|e| format!("indice dei gestori non valido: {e}"))?;
        if let Some(pem) = &self.peer_ca_pem {
            X509::stack_from_pem(pem.as_bytes())
                .map_err(|e| format!("certificati CA dei peer ([tls] peer_ca) non validi: {e}"))?;
        }
        let routes = self
            .store
            .routes()
            .map_err(|e| format!("instradamenti illeggibili: {e}"))?;
        for r in routes {
            if let Some(pem) = r.ca_pem {
                let certs = X509::stack_from_pem(pem.as_bytes()).map_err(|e| {
                    format!("CA dell'instradamento per {} non valida: {e}", r.domain)
                })?;
                if certs.is_empty() {
                    return Err(format!(
                        "CA dell'instradamento per {}: nessun certificato",
                        r.domain
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where mail for `address` goes. A store error is an error, never "not ours": read as
    /// "not ours", it would relay a local recipient's message to the outside.
    pub fn destination(
        &self,
        address: &str,
        index: &ProviderIndex,
    ) -> Result<Destination, StoreError> {
        destination_with(address, index, |d| self.store.is_local_domain(d))
    }
}

/// What a login names: the box, and for `user/box` the collaborator with their collaboration
/// on it — active, or (to tell an ended one from a wrong password) the latest one.
struct Found {
    mailbox: Mailbox,
    collaborator: Option<(store::Collaborator, store::Collaboration)>,
}

fn lookup_login(store: &dyn Store, l: &accounts::Login) -> Result<Option<Found>, StoreError> {
    let Some(mailbox) = store.mailbox(&l.mailbox)? else {
        return Ok(None);
    };
    let Some(user) = &l.user else {
        return Ok(Some(Found {
            mailbox,
            collaborator: None,
        }));
    };
    let Some(account) = store.collaborator(user)? else {
        return Ok(None);
    };
    let collaboration = match store.active_collaboration(&account.username, &mailbox.address)? {
        Some(c) => Some(c),
        // Revoked: still the collaborator's password, so they are told it ended.
        None => store
            .collaborations_of_box(mailbox.id)?
            .into_iter()
            .find(|c| c.collaborator.as_deref() == Some(account.username.as_str())),
    };
    Ok(collaboration.map(|c| Found {
        mailbox,
        collaborator: Some((account, c)),
    }))
}

/// Where `address` goes, given whether a domain is ours (asked inside or outside a write
/// transaction: the store's lock is not re-entrant).
pub fn destination_with(
    address: &str,
    index: &ProviderIndex,
    is_local: impl Fn(&str) -> Result<bool, StoreError>,
) -> Result<Destination, StoreError> {
    let domain = pec::build::domain_of(address);
    Ok(if is_local(domain)? {
        Destination::Local
    } else if let Some(p) = index.by_domain(domain) {
        Destination::Pec(Box::new(p.clone()))
    } else {
        Destination::Ordinary
    })
}

impl Provider {
    /// Every login, whatever the protocol, comes through here: the attempt is reserved in
    /// the throttle before anything else, waits its delay, then the password is checked —
    /// against a dummy hash when the account does not exist, so that timing tells nothing.
    /// Its outcome is logged (in the caller's connection span, which then carries the login
    /// name) and counted; the password never is.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        ip: IpAddr,
        via: LoginVia,
    ) -> Result<Principal, AuthError> {
        let r = self.check_login(login, password, ip, via).await;
        let protocol = via.protocol();
        match &r {
            Ok(m) => {
                self.metrics.login(protocol, "ok");
                tracing::Span::current().record("login", m.login.as_str());
                tracing::info!(protocol, %ip, login = %m.login, "login");
            }
            Err(e) => {
                self.metrics.login(protocol, e.class());
                // A login name as typed may be anything: logged quoted and cut short.
                let typed: String = login.chars().take(128).collect();
                tracing::warn!(protocol, %ip, login = ?typed, reason = e.class(), "login failed");
            }
        }
        r
    }

    async fn check_login(
        &self,
        login: &str,
        password: &str,
        ip: IpAddr,
        via: LoginVia,
    ) -> Result<Principal, AuthError> {
        let parsed = accounts::parse_login(login);
        // An unparsable login is throttled under what was given (hashed, so its length costs
        // nothing); a collaborator's under their username, whatever box they name, so
        // guesses do not multiply by the boxes they work on.
        let key = match &parsed {
            Some(accounts::Login {
                user: Some(user), ..
            }) => format!("collaboratore:{}", user.to_ascii_lowercase()),
            Some(l) => l.mailbox.clone(),
            None => login.to_string(),
        };
        // Busy: wait for an attempt in flight to end, for at most LOGIN_QUEUE_WAIT.
        let mut waited = Duration::ZERO;
        let attempt = loop {
            match self.throttle.begin(ip, &key, self.now()) {
                Ok(a) => break a,
                Err(accounts::Throttled::Busy) if waited < LOGIN_QUEUE_WAIT => {
                    tokio::time::sleep(LOGIN_QUEUE_STEP).await;
                    waited += LOGIN_QUEUE_STEP;
                }
                Err(_) => return Err(AuthError::Throttled),
            }
        };
        if !attempt.delay.is_zero() {
            tokio::time::sleep(attempt.delay).await;
        }
        let found = match parsed {
            Some(l) => {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || lookup_login(&*store, &l))
                    .await
                    .map_err(|_| AuthError::Unavailable)?
                    .map_err(|_| AuthError::Unavailable)?
            }
            None => None,
        };
        // The holder's hash, or the collaborator's: checked against a dummy when neither.
        let hash = found.as_ref().map(|f| match &f.collaborator {
            Some((c, _)) => c.password_hash.as_str(),
            None => f.mailbox.password_hash.as_str(),
        });
        if !self.passwords.check(hash, password).await {
            return Err(AuthError::Invalid);
        }
        let Some(found) = found else {
            return Err(AuthError::Invalid);
        };
        attempt.succeeded();
        // Told only to whoever knows the password.
        if found.mailbox.suspended {
            return Err(AuthError::Suspended);
        }
        let Some((collaborator, collaboration)) = &found.collaborator else {
            if found.mailbox.must_change_password && via != LoginVia::Webmail {
                return Err(AuthError::MustChangePassword);
            }
            return Ok(Principal::holder(&found.mailbox));
        };
        let who = crate::collaboration::principal(
            self,
            &found.mailbox,
            collaboration,
            &collaborator.username,
            via.protocol(),
            ip,
        )
        .ok_or(AuthError::Ended)?;
        if who.delegate.as_ref().is_some_and(|d| {
            d.delegation == crate::collaboration::Delegation::SendOnly
                && via != LoginVia::Submission
        }) {
            return Err(AuthError::SendOnly);
        }
        crate::collaboration::record(self, &who, "accesso", "");
        Ok(who)
    }

    /// Scans a message when an antivirus is configured.
    pub fn scan(
        &self,
        data: &[u8],
    ) -> Result<crate::antivirus::ScanResult, crate::antivirus::ScanError> {
        match &self.antivirus {
            Some(a) => crate::antivirus::scan(a, data),
            None => Ok(crate::antivirus::ScanResult::Clean),
        }
    }

    /// A fresh PEC identifier serial; the random generator's failure is an error, never a
    /// predictable serial.
    pub fn serial(&self) -> Result<u64, openssl::error::ErrorStack> {
        let mut b = [0u8; 8];
        openssl::rand::rand_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_never_read_as_another_domain() {
        let index = ProviderIndex::default();
        let ours = |d: &str| Ok(d == "pec.example.test");
        assert_eq!(
            destination_with("a@pec.example.test", &index, ours).unwrap(),
            Destination::Local
        );
        assert_eq!(
            destination_with("a@example.org", &index, ours).unwrap(),
            Destination::Ordinary
        );
        // Read as "not ours", a failing lookup would relay a local recipient's message.
        let failing = |_: &str| Err(StoreError::Retryable("database is locked".into()));
        assert!(destination_with("a@pec.example.test", &index, failing).is_err());
    }
}
