//! Accounts: password hashing (argon2id), the one password policy used by the CLI, the web
//! and resets, login throttling shared by every protocol, and login names.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Why a password could not be hashed: nothing is stored then (an empty hash would be a
/// mailbox no password opens, or worse, one a careless check lets in).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("generatore casuale non disponibile: {0}")]
    Random(#[from] openssl::error::ErrorStack),
    #[error("calcolo dell'hash della password non riuscito: {0}")]
    Argon2(argon2::password_hash::Error),
}

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut random = [0u8; 16];
    openssl::rand::rand_bytes(&mut random)?;
    let salt = SaltString::encode_b64(&random).map_err(HashError::Argon2)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Argon2)
}

/// Checks passwords against argon2id hashes with a bounded pool of working memories (19 MiB
/// each with the default parameters): at most as many checks run at once as there are slots,
/// so memory and CPU stay bounded however many logins arrive together, and the memory is
/// reused (allocating it per login left +17 MB of RSS each time, measured).
///
/// Logins wait for a slot on an async semaphore, not on a blocking thread: a login flood
/// queues as cheap tasks and leaves tokio's blocking pool to SMTP DATA, the webmail and the
/// queue workers (security review M2).
pub struct PasswordChecker {
    memories: Arc<MemoryPool>,
    permits: Arc<tokio::sync::Semaphore>,
    /// A hash with the default parameters that no account has: unknown accounts are checked
    /// against it, so they cost the same time as known ones (security review M2).
    dummy: OnceLock<String>,
}

struct MemoryPool {
    slots: Mutex<Vec<Vec<argon2::Block>>>,
    ready: Condvar,
}

impl Default for PasswordChecker {
    /// One slot per core.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_slots(cores)
    }
}

impl PasswordChecker {
    pub fn with_slots(slots: usize) -> Self {
        let slots = slots.max(1);
        PasswordChecker {
            memories: Arc::new(MemoryPool {
                slots: Mutex::new((0..slots).map(|_| Vec::new()).collect()),
                ready: Condvar::new(),
            }),
            permits: Arc::new(tokio::sync::Semaphore::new(slots)),
            dummy: OnceLock::new(),
        }
    }

    /// Blocks until a slot is free: call it from a blocking thread (the CLI, tests).
    pub fn verify(&self, hash: &str, password: &str) -> bool {
        self.memories.verify(hash, password)
    }

    /// Whether `password` matches `hash`; with no hash (an unknown account) the same work is
    /// done against a hash nobody has and the answer is no. Waits for a slot asynchronously,
    /// then computes on a blocking thread.
    pub async fn check(&self, hash: Option<&str>, password: &str) -> bool {
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h.to_string(),
            None => self.dummy_hash().to_string(),
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (memories, password) = (self.memories.clone(), password.to_string());
        let matched = tokio::task::spawn_blocking(move || memories.verify(&hash, &password))
            .await
            .unwrap_or(false);
        known && matched
    }

    fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            // A fixed salt is fine: this hash guards nothing, it only costs what a real one does.
            let salt = SaltString::from_b64("Y2VydGEtZHVtbXktc2FsdA").ok();
            salt.and_then(|s| {
                Argon2::default()
                    .hash_password(b"certa: nessun account", &s)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
        })
    }
}

impl MemoryPool {
    fn verify(&self, hash: &str, password: &str) -> bool {
        let Some(check) = PasswordCheck::parse(hash) else {
            return false;
        };
        let mut memory = self.take();
        let ok = check.matches(password, &mut memory);
        self.give_back(memory);
        ok
    }

    fn take(&self) -> Vec<argon2::Block> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = slots.pop() {
                return m;
            }
            slots = self.ready.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, memory: Vec<argon2::Block>) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(memory);
        self.ready.notify_one();
    }
}

/// A parsed PHC hash string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
struct PasswordCheck<'a> {
    argon2: Argon2<'a>,
    blocks: usize,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl PasswordCheck<'_> {
    fn parse(hash: &str) -> Option<Self> {
        let h = PasswordHash::new(hash).ok()?;
        let (salt, expected) = (h.salt?, h.hash?);
        let params = argon2::Params::try_from(&h).ok()?;
        let algorithm = argon2::Algorithm::try_from(h.algorithm).ok()?;
        let version = match h.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::V0x13,
        };
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).ok()?.to_vec();
        let blocks = params.block_count();
        Some(PasswordCheck {
            argon2: Argon2::new(algorithm, version, params),
            blocks,
            salt,
            expected: expected.as_bytes().to_vec(),
        })
    }

    fn matches(&self, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
        if memory.len() < self.blocks {
            memory.resize(self.blocks, argon2::Block::default());
        }
        let mut out = vec![0u8; self.expected.len()];
        self.argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                &self.salt,
                &mut out,
                &mut memory[..self.blocks],
            )
            .is_ok()
            && openssl::memcmp::eq(&out, &self.expected)
    }
}

/// Special characters a password may use.
pub const SPECIAL: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_{|}~";

const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "qwerty",
    "azerty",
    "admin",
    "welcome",
    "benvenuto",
    "ciao",
    "amore",
    "juventus",
    "milan",
    "inter",
    "roma",
    "napoli",
    "italia",
    "estate",
    "inverno",
    "primavera",
    "autunno",
    "segreto",
    "letmein",
    "dragon",
    "monkey",
    "sunshine",
    "princess",
    "football",
    "calcio",
    "pec",
    "posta",
    "certificata",
];
const SEQUENCES: &[&str] = &[
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
];

/// The password policy (seed manual §2.6.2): at least 8 characters, an upper-case and a
/// lower-case letter, a digit, a special character from [`SPECIAL`], no more than two
/// identical characters in a row, not a common word or a simple pattern. Returns every
/// rule broken, in Italian.
pub fn check_password_policy(pw: &str) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if pw.chars().count() < 8 {
        errors.push("deve contenere almeno 8 caratteri".to_string());
    }
    if !pw.chars().any(|c| c.is_uppercase()) {
        errors.push("deve contenere almeno una lettera maiuscola".into());
    }
    if !pw.chars().any(|c| c.is_lowercase()) {
        errors.push("deve contenere almeno una lettera minuscola".into());
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        errors.push("deve contenere almeno una cifra".into());
    }
    if !pw.chars().any(|c| SPECIAL.contains(c)) {
        errors.push(format!(
            "deve contenere almeno un carattere speciale tra {SPECIAL}"
        ));
    }
    if pw
        .chars()
        .any(|c| !(c.is_alphanumeric() || SPECIAL.contains(c)))
    {
        errors.push("contiene caratteri non ammessi (spazi o simboli non previsti)".into());
    }
    let chars: Vec<char> = pw.chars().collect();
    if chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        errors.push("non può contenere più di due caratteri identici consecutivi".into());
    }
    let letters: String = pw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let letters = letters
        .replace('0', "o")
        .replace('1', "i")
        .replace('3', "e")
        .replace('4', "a")
        .replace('5', "s");
    if COMMON
        .iter()
        .any(|w| letters.contains(w) && w.len() * 2 >= letters.len())
    {
        errors.push("non può essere una parola comune".into());
    }
    let lower = pw.to_lowercase();
    if SEQUENCES
        .iter()
        .any(|s| (0..s.len().saturating_sub(3)).any(|i| lower.contains(&s[i..i + 4])))
    {
        errors.push("non può contenere sequenze semplici (es. 1234, abcd, qwer)".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// An e-mail address as a form takes it (an ordinary one to notify or forward to): one
/// local part, a dotted domain, no spaces, controls or characters that end an address in a
/// header.
pub fn is_email_address(s: &str) -> bool {
    s.len() <= 254
        && s.rsplit_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

/// A login: a mailbox address, or `username/mailbox-address` for a delegated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: Option<String>,
    pub mailbox: String,
}

pub fn parse_login(s: &str) -> Option<Login> {
    let s = s.trim();
    let (user, mailbox) = match s.split_once('/') {
        Some((u, m)) if !u.is_empty() && !u.contains('@') => (Some(u.to_string()), m),
        Some(_) => return None,
        None => (None, s),
    };
    let (local, domain) = mailbox.rsplit_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || mailbox.len() > 254
        || mailbox.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(Login {
        user,
        mailbox: mailbox.to_ascii_lowercase(),
    })
}

/// How failed logins slow down further attempts (security review H4, M2).
///
/// The choice: a client address that keeps failing is refused for the rest of the window
/// (it is the attacker's own), while an *account* is never locked: past a few failures each
/// attempt on it waits a delay that doubles up to `max_delay_secs`, and only a few may be
/// checked at once. A stranger's ten wrong passwords therefore cost the holder of a public
/// PEC address a short wait, not every protocol for minutes, yet guesses on one account stay
/// at a few per `max_delay_secs` however many addresses the attacker has.
#[derive(Clone, Debug)]
pub struct ThrottleRules {
    /// Failures are remembered this long.
    pub window_secs: i64,
    /// Attempts (failed, or still being checked) from one client address within the window
    /// beyond which that address is refused. IPv6 clients count per /64.
    pub max_failures_per_ip: usize,
    /// Failures on an account before its attempts are delayed.
    pub free_failures_per_account: usize,
    pub max_delay_secs: u64,
    /// Attempts on one account checked at the same time; more are refused at once.
    pub max_in_flight_per_account: u32,
    /// Failures remembered in all (oldest forgotten first): bounds memory whatever arrives.
    pub max_remembered: usize,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        ThrottleRules {
            window_secs: 300,
            max_failures_per_ip: 10,
            free_failures_per_account: 3,
            max_delay_secs: 30,
            max_in_flight_per_account: 4,
            max_remembered: 100_000,
        }
    }
}

/// A throttling key: a truncated SHA-256 of what it names, so that an attacker's 64 KiB
/// "address" costs 16 bytes and never sits in memory (security review H4).
type ThrottleKey = [u8; 16];

#[derive(Default)]
struct Tally {
    /// Times of failures within the window, oldest first.
    failures: VecDeque<i64>,
    in_flight: u32,
}

impl Tally {
    fn load(&self) -> usize {
        self.failures.len() + self.in_flight as usize
    }
}

#[derive(Default)]
struct Tallies {
    by_key: HashMap<ThrottleKey, Tally>,
    /// Every remembered failure in time order, to forget them by age in amortised O(1).
    order: VecDeque<(i64, ThrottleKey)>,
}

impl Tallies {
    /// Forgets failures older than the window, and the oldest beyond `max_remembered`.
    fn prune(&mut self, now: i64, rules: &ThrottleRules) {
        while let Some(&(t, key)) = self.order.front() {
            if now - t < rules.window_secs && self.order.len() <= rules.max_remembered {
                break;
            }
            self.order.pop_front();
            if let Some(tally) = self.by_key.get_mut(&key) {
                tally.failures.pop_front();
                if tally.load() == 0 {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    fn load(&self, key: &ThrottleKey) -> (usize, u32) {
        self.by_key
            .get(key)
            .map_or((0, 0), |t| (t.failures.len(), t.in_flight))
    }
}

/// Failed-login counting per client address and per account, in a sliding window.
#[derive(Default)]
pub struct LoginThrottle {
    tallies: Mutex<Tallies>,
    pub rules: ThrottleRules,
}

/// Why an attempt was not granted, before the password was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures from this address within the window: refused.
    Refused,
    /// As many attempts are being checked as the limits allow (from this address, or on
    /// this account): the caller waits for one of them to end and asks again. Several
    /// sessions of one user logging in at once (a mail client's 5 connections, an office
    /// behind one address) are served in turn, not refused; parallel guessing still gets
    /// no more than the limit checked before its failures count.
    Busy,
}

/// A login attempt with its place reserved: it counts against its address and account from
/// the moment it is granted (so concurrent attempts see each other, no check-then-act race)
/// until it ends. Dropped without [`Attempt::succeeded`] — a wrong password, or a client gone
/// mid-check — it is a failure.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: [ThrottleKey; 2],
    /// How long to wait before checking the password.
    pub delay: Duration,
    succeeded: bool,
    now: i64,
}

impl Attempt<'_> {
    pub fn succeeded(mut self) {
        self.succeeded = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.end(&self.keys, self.succeeded, self.now);
    }
}

impl LoginThrottle {
    pub fn new(rules: ThrottleRules) -> Self {
        LoginThrottle {
            tallies: Mutex::default(),
            rules,
        }
    }

    fn key(kind: &[u8], value: &[u8]) -> ThrottleKey {
        let mut h = openssl::sha::Sha256::new();
        h.update(kind);
        h.update(b"\0");
        h.update(value);
        let mut key = [0u8; 16];
        key.copy_from_slice(&h.finish()[..16]);
        key
    }

    fn keys(ip: IpAddr, account: &str) -> [ThrottleKey; 2] {
        let ip = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            // One IPv6 client usually holds a whole /64.
            IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
        };
        [
            Self::key(b"ip", &ip),
            Self::key(b"account", account.to_ascii_lowercase().as_bytes()),
        ]
    }

    /// Reserves an attempt for `account` from `ip`, atomically with the check.
    pub fn begin(&self, ip: IpAddr, account: &str, now: i64) -> Result<Attempt<'_>, Throttled> {
        let keys = Self::keys(ip, account);
        let mut t = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        t.prune(now, &self.rules);
        let (ip_failures, ip_in_flight) = t.load(&keys[0]);
        let (account_failures, account_in_flight) = t.load(&keys[1]);
        if ip_failures >= self.rules.max_failures_per_ip {
            return Err(Throttled::Refused);
        }
        // Attempts being checked count as failures to come: the address may not have more
        // in flight than it has failures left, nor the account more than its limit.
        if ip_failures + ip_in_flight as usize >= self.rules.max_failures_per_ip
            || account_in_flight >= self.rules.max_in_flight_per_account
        {
            return Err(Throttled::Busy);
        }
        // 1 s after the free failures, doubling with each one more.
        let delay = match account_failures.checked_sub(self.rules.free_failures_per_account) {
            None => 0,
            Some(over) => (1u64 << over.min(32)).min(self.rules.max_delay_secs),
        };
        for k in keys {
            t.by_key.entry(k).or_default().in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            delay: Duration::from_secs(delay),
            succeeded: false,
            now,
        })
    }

    fn end(&self, keys: &[ThrottleKey; 2], succeeded: bool, now: i64) {
        let mut t = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            let Some(tally) = t.by_key.get_mut(k) else {
                continue;
            };
            tally.in_flight = tally.in_flight.saturating_sub(1);
            if !succeeded {
                tally.failures.push_back(now);
            }
            if tally.load() == 0 {
                t.by_key.remove(k);
            } else if !succeeded {
                t.order.push_back((now, *k));
            }
        }
        t.prune(now, &self.rules);
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.tallies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .len()
    }
}

/// How many messages an authenticated mailbox may send (submission and webmail alike): a
/// stolen password or a runaway script cannot turn the provider into a certified spam
/// relay (security review L9). Zero means no limit.
#[derive(Clone, Debug)]
pub struct SendRules {
    pub per_minute: usize,
    pub per_hour: usize,
}

impl Default for SendRules {
    fn default() -> Self {
        SendRules {
            per_minute: 60,
            per_hour: 1000,
        }
    }
}

/// A sender over its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Limite di invio superato: al massimo {limit} messaggi {per}; riprovare più tardi")]
pub struct RateLimited {
    pub limit: usize,
    pub per: &'static str,
}

/// Messages sent per mailbox in the last hour.
#[derive(Default)]
pub struct SendRate {
    sent: Mutex<HashMap<String, VecDeque<i64>>>,
    pub rules: SendRules,
}

impl SendRate {
    pub fn new(rules: SendRules) -> Self {
        SendRate {
            sent: Mutex::default(),
            rules,
        }
    }

    /// Whether `mailbox` may send one more message now; with `record`, that message is
    /// counted in the same step (no race between concurrent sessions of one mailbox).
    pub fn allow(&self, mailbox: &str, now: i64, record: bool) -> Result<(), RateLimited> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let times = sent.entry(mailbox.to_ascii_lowercase()).or_default();
        while times.front().is_some_and(|&t| now - t >= 3600) {
            times.pop_front();
        }
        let last_minute = times.iter().rev().take_while(|&&t| now - t < 60).count();
        let refused = if self.rules.per_minute > 0 && last_minute >= self.rules.per_minute {
            Some(RateLimited {
                limit: self.rules.per_minute,
                per: "al minuto",
            })
        } else if self.rules.per_hour > 0 && times.len() >= self.rules.per_hour {
            Some(RateLimited {
                limit: self.rules.per_hour,
                per: "all'ora",
            })
        } else {
            None
        };
        if let Some(r) = refused {
            return Err(r);
        }
        if record && (self.rules.per_minute > 0 || self.rules.per_hour > 0) {
            times.push_back(now);
        }
        if times.is_empty() {
            sent.remove(&mailbox.to_ascii_lowercase());
        }
        Ok(())
    }
}

// Account lifecycle: a mailbox is created, its password changed by its holder or set anew by
// the administrator, here only — the CLI and the webmail call these, so the policy and the
// hashing (argon2id) are applied the same way whoever asks.

/// A new mailbox's first password.
#[derive(Debug, Clone, Copy)]
pub enum FirstPassword<'a> {
    /// Chosen by the administrator: it must satisfy the policy; the holder keeps it.
    Chosen(&'a str),
    /// Chosen by the administrator and mailed to the holder (an import file's): it must
    /// satisfy the policy, and opens only the webmail, to be changed there.
    Temporary(&'a str),
    /// Generated here and given to the holder (mailed or printed): it opens only the
    /// webmail, to be changed there (security review L4).
    Welcome,
    /// Generated and told to no one: a mailbox nobody logs in to (the provider's service
    /// mailbox, RFC 6109 §2.2.5).
    Unknown,
}

/// A mailbox to create.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub address: &'a str,
    pub password: FirstPassword<'a>,
    pub quota: i64,
    /// Where a welcome password is mailed (an ordinary address of the holder's).
    pub recovery_email: Option<&'a str>,
}

/// A mailbox just created.
#[derive(Debug)]
pub struct Created {
    /// The mailbox's address, as stored.
    pub address: String,
    /// Its first password, to give to the holder ([`FirstPassword::Welcome`]).
    pub password: String,
    pub must_change_password: bool,
}

/// Why an account operation was refused or failed; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0:?} non è l'indirizzo di una casella")]
    NotAnAddress(String),
    #[error("{0} non è un dominio di questo gestore")]
    NotOurDomain(String),
    /// Every rule of the policy the password breaks, in Italian.
    #[error("la password non rispetta la politica di sicurezza: {}", .0.join("; "))]
    Policy(Vec<String>),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// A password that satisfies the policy, from the system's random generator: for welcome
/// passwords and mailboxes nobody logs in to. No look-alike characters (l, 1, O, 0).
pub fn generate_password() -> Result<String, HashError> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    const SPECIAL: &[u8] = b"#%+-=?@_";
    let sets = [UPPER, LOWER, DIGIT, SPECIAL];
    loop {
        let mut bytes = [0u8; 16];
        openssl::rand::rand_bytes(&mut bytes)?;
        // One of each set first, then any set.
        let pw: String = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let set = sets[if i < sets.len() { i } else { *b as usize % 4 }];
                set[(*b as usize / 4) % set.len()] as char
            })
            .collect();
        if check_password_policy(&pw).is_ok() {
            return Ok(pw);
        }
    }
}

/// Creates a mailbox in one of our domains, with its first password hashed (argon2id).
pub fn create_mailbox(
    store: &dyn store::Store,
    new: &NewAccount<'_>,
    now: i64,
) -> Result<Created, AccountError> {
    let login = parse_login(new.address)
        .filter(|l| l.user.is_none())
        .ok_or_else(|| AccountError::NotAnAddress(new.address.to_string()))?;
    let domain = login.mailbox.rsplit_once('@').map_or("", |(_, d)| d);
    // A domain in migration (issue 16) has its boxes created before its switch-over.
    if store.domain(domain)?.is_none() {
        return Err(AccountError::NotOurDomain(domain.to_string()));
    }
    let (password, must_change_password) = match new.password {
        FirstPassword::Chosen(pw) => {
            check_password_policy(pw).map_err(AccountError::Policy)?;
            (pw.to_string(), false)
        }
        FirstPassword::Temporary(pw) => {
            check_password_policy(pw).map_err(AccountError::Policy)?;
            (pw.to_string(), true)
        }
        FirstPassword::Welcome => (generate_password()?, true),
        FirstPassword::Unknown => (generate_password()?, false),
    };
    store.add_mailbox(
        &store::NewMailbox {
            address: &login.mailbox,
            password_hash: &hash_password(&password)?,
            quota: new.quota,
            recovery_email: new.recovery_email,
            must_change_password,
        },
        now,
    )?;
    Ok(Created {
        address: login.mailbox,
        password,
        must_change_password,
    })
}

/// The administrator sets a new password (a reset): within the policy, and the holder
/// keeps it (no change required at the next login).
pub fn set_password(
    store: &dyn store::Store,
    address: &str,
    password: &str,
) -> Result<(), AccountError> {
    check_password_policy(password).map_err(AccountError::Policy)?;
    store.set_password(address, &hash_password(password)?, false)?;
    Ok(())
}

/// A password change as the holder asks it: the current password and the new one twice.
#[derive(Clone, Copy)]
pub struct PasswordChange<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

/// Why a password change was refused; the password is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRefused {
    #[error(transparent)]
    Denied(#[from] crate::principal::Denied),
    #[error("la password attuale non è corretta")]
    CurrentWrong,
    #[error("le due nuove password non coincidono")]
    Mismatch,
    #[error("la nuova password deve essere diversa dalla attuale")]
    Unchanged,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("operazione interrotta: {0}")]
    Interrupted(String),
}

/// The holder changes its password (the webmail's settings): it needs the Settings right;
/// the current password is checked like a login, and throttled like one; the new one is
/// typed twice, differs from the current one and satisfies the policy. It then opens every
/// protocol (a welcome password no longer has to change).
pub async fn change_password(
    p: &Arc<crate::Provider>,
    who: &crate::principal::Principal,
    peer: IpAddr,
    change: PasswordChange<'_>,
) -> Result<(), ChangeRefused> {
    who.require(crate::principal::Permission::Settings)?;
    let via = crate::provider::LoginVia::Webmail;
    if p.authenticate(&who.login, change.current, peer, via)
        .await
        .is_err()
    {
        return Err(ChangeRefused::CurrentWrong);
    }
    if change.new != change.confirm {
        return Err(ChangeRefused::Mismatch);
    }
    if change.new == change.current {
        return Err(ChangeRefused::Unchanged);
    }
    // Hashing takes tens of milliseconds and the store fsyncs: on the blocking pool.
    let (store, address, new) = (p.store.clone(), who.address.clone(), change.new.to_string());
    tokio::task::spawn_blocking(move || set_password(store.as_ref(), &address, &new))
        .await
        .map_err(|e| ChangeRefused::Interrupted(e.to_string()))??;
    let (p2, address) = (p.clone(), who.address.clone());
    let told = tokio::task::spawn_blocking(move || notify_password_changed(&p2, &address)).await;
    if let Ok(Err(e)) | Err(e) = told.map_err(|e| store::StoreError::Internal(e.to_string())) {
        // The password is changed; the notice is best effort.
        tracing::error!(mailbox = %who.address, error = %e, "password-change notice not queued");
    }
    Ok(())
}

/// Whether a request that mails a reset link (a box's or a collaborator's) may go on from
/// `ip`: each costs the address a failed attempt of the login throttle, so one address gets
/// a handful an hour, together with its wrong passwords, whatever boxes it names (each box
/// gets at most one mail every few minutes anyway).
pub fn reset_request_allowed(p: &crate::Provider, ip: IpAddr, what: &str) -> bool {
    // Dropped without `succeeded`: counted as a failure.
    p.throttle
        .begin(ip, &format!("recupero:{what}"), p.now())
        .is_ok()
}

/// Tells the holder at the box's recovery address that its password changed ("Riceverà a
/// breve un'email di conferma", seed 002 §2.2 and §2.6.3): whoever did not change it learns
/// so in time. Nothing without a recovery address.
pub fn notify_password_changed(
    p: &crate::Provider,
    address: &str,
) -> Result<(), store::StoreError> {
    let Some(recovery) = p.store.mailbox(address)?.and_then(|m| m.recovery_email) else {
        return Ok(());
    };
    let body = format!(
        "Gentile utente,\r\n\r\nla password della casella PEC {address} è stata \
         modificata. Se non è stato lei, si rivolga subito all'assistenza.\r\n\r\n{}\r\n",
        p.identity.name
    );
    crate::onboarding::queue_plain_mail(
        &*p.store,
        &p.identity,
        &recovery,
        "Password della casella PEC modificata",
        &body,
        p.now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_password_policy("Rosso#Tramonto7").is_ok());
        for bad in [
            "Ab1!",
            "rosso#tramonto7",
            "ROSSO#TRAMONTO7",
            "Rosso#Tramonto",
            "RossoTramonto7",
            "Rosssso#Tram7",
            "Password1!",
            "Abcd#12345x",
        ] {
            assert!(check_password_policy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins() {
        assert_eq!(
            parse_login("Mario@PEC.it"),
            Some(Login {
                user: None,
                mailbox: "mario@pec.it".into()
            })
        );
        assert_eq!(
            parse_login("anna/ufficio@pec.it"),
            Some(Login {
                user: Some("anna".into()),
                mailbox: "ufficio@pec.it".into()
            })
        );
        assert_eq!(parse_login("a@b/c@d"), None);
        assert_eq!(parse_login("nobody"), None);
        assert_eq!(parse_login("a b@c"), None);
    }

    #[test]
    fn hashing() {
        let h = hash_password("Rosso#Tramonto7").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let checker = PasswordChecker::with_slots(1);
        assert!(checker.verify(&h, "Rosso#Tramonto7"));
        assert!(!checker.verify(&h, "rosso#tramonto7"));
        assert!(!checker.verify("garbage", "x"));
    }

    #[tokio::test]
    async fn unknown_accounts_cost_a_check() {
        let h = hash_password("Rosso#Tramonto7").unwrap();
        let checker = PasswordChecker::with_slots(1);
        assert!(checker.check(Some(&h), "Rosso#Tramonto7").await);
        // The dummy hash is made once; time the checks after it.
        assert!(!checker.check(None, "Rosso#Tramonto7").await);
        let timed = |hash: Option<String>| {
            let checker = &checker;
            async move {
                let start = std::time::Instant::now();
                assert!(!checker.check(hash.as_deref(), "sbagliata").await);
                start.elapsed()
            }
        };
        // The fastest of several runs, interleaved: a busy machine only slows some of them.
        let (mut known, mut unknown) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            known = known.min(timed(Some(h.clone())).await);
            unknown = unknown.min(timed(None).await);
        }
        assert!(
            unknown * 2 > known && known * 2 > unknown,
            "known {known:?}, unknown {unknown:?}"
        );
    }

    #[test]
    fn send_rate() {
        let r = SendRate::new(SendRules {
            per_minute: 2,
            per_hour: 3,
        });
        assert!(r.allow("a@b", 0, false).is_ok());
        assert!(r.allow("a@b", 0, true).is_ok());
        assert!(r.allow("A@b", 1, true).is_ok());
        assert_eq!(r.allow("a@b", 2, true).unwrap_err().per, "al minuto");
        assert!(r.allow("c@d", 2, true).is_ok(), "per mailbox");
        assert!(r.allow("a@b", 61, true).is_ok());
        assert_eq!(r.allow("a@b", 130, true).unwrap_err().per, "all'ora");
        assert!(r.allow("a@b", 3601, true).is_ok());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn throttle_counts_attempts_in_flight() {
        let t = LoginThrottle::new(ThrottleRules {
            max_failures_per_ip: 3,
            max_in_flight_per_account: 10,
            ..Default::default()
        });
        // A success leaves nothing behind.
        t.begin(ip("10.0.0.1"), "a@b", 0).unwrap().succeeded();
        assert_eq!(t.tracked_keys(), 0);
        // Three attempts granted at once: the fourth waits (busy) before any of them ended.
        let held: Vec<_> = (0..3)
            .map(|_| t.begin(ip("10.0.0.1"), "a@b", 1).unwrap())
            .collect();
        assert!(matches!(
            t.begin(ip("10.0.0.1"), "c@d", 1),
            Err(Throttled::Busy)
        ));
        drop(held);
        assert!(
            matches!(t.begin(ip("10.0.0.1"), "c@d", 2), Err(Throttled::Refused)),
            "failures now"
        );
        assert!(
            t.begin(ip("10.0.0.1"), "c@d", 400).is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn throttle_delays_an_account_rather_than_locking_it() {
        let t = LoginThrottle::default();
        for n in 0..12 {
            let from = ip(&format!("10.0.0.{n}"));
            let a = t.begin(from, "Mario@pec.it", 0).unwrap();
            let expected = match n {
                0..=2 => 0,
                n => (1u64 << (n - 3)).min(30),
            };
            assert_eq!(a.delay, Duration::from_secs(expected), "attempt {n}");
            drop(a); // a wrong password
        }
        // The holder still gets in, after the delay, from anywhere.
        let a = t.begin(ip("192.0.2.1"), "mario@PEC.it", 1).unwrap();
        assert_eq!(a.delay, Duration::from_secs(30));
        // But only a few checks on one account run at once, undelayed while they have
        // not failed; one more waits its turn.
        let held: Vec<_> = (0..4)
            .map(|n| t.begin(ip(&format!("10.1.0.{n}")), "x@pec.it", 2).unwrap())
            .collect();
        assert!(held.iter().all(|a| a.delay.is_zero()));
        assert!(matches!(
            t.begin(ip("10.1.0.9"), "x@pec.it", 2),
            Err(Throttled::Busy)
        ));
        drop(held);
    }

    #[test]
    fn throttle_memory_is_bounded_and_forgets_by_age() {
        let t = LoginThrottle::default();
        let long = "x".repeat(1024);
        for n in 0u32..100_000 {
            let from = IpAddr::from(n.to_be_bytes());
            drop(t.begin(from, &format!("{n}{long}"), 10));
        }
        assert!(
            t.tracked_keys() <= t.rules.max_remembered,
            "{} keys",
            t.tracked_keys()
        );
        // 16-byte keys, not the strings given.
        assert!(t.tracked_keys() >= t.rules.max_remembered / 2);
        drop(t.begin(ip("10.0.0.1"), "a@b", 10 + 300));
        assert_eq!(t.tracked_keys(), 2, "one call forgets everything expired");
    }
}

/// The account lifecycle against a whole provider (feature `testing`, which the workspace's
/// tests enable: `cargo test -p certa-services --features testing`).
#[cfg(all(test, feature = "testing"))]
mod lifecycle_tests {
    use super::*;
    use crate::principal::{Permission, Principal, Rights};
    use crate::provider::LoginVia;
    use crate::testing::{now, Options, TestProvider, PASSWORD, USER};

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    async fn opens(p: &Arc<crate::Provider>, login: &str, password: &str) -> bool {
        p.authenticate(login, password, PEER, LoginVia::Imap)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_mailbox_is_created_in_our_domains_with_a_password_within_the_policy() {
        let t = TestProvider::new(Options::default());
        let (p, store) = (&t.provider, t.provider.store.as_ref());
        let new = |address, password| NewAccount {
            address,
            password,
            quota: 1 << 20,
            recovery_email: Some("titolare@example.org"),
        };
        let chosen = "Verde#Collina42";
        let created = create_mailbox(
            store,
            &new("Nuovo@PEC.example.test", FirstPassword::Chosen(chosen)),
            now(),
        )
        .unwrap();
        assert_eq!(created.address, "nuovo@pec.example.test");
        assert!(!created.must_change_password);
        assert!(opens(p, "nuovo@pec.example.test", chosen).await);

        // A welcome password: generated within the policy, to be changed in the webmail.
        let welcome = create_mailbox(
            store,
            &new("benvenuto@pec.example.test", FirstPassword::Welcome),
            now(),
        )
        .unwrap();
        assert!(welcome.must_change_password);
        assert!(check_password_policy(&welcome.password).is_ok());
        let row = store
            .mailbox("benvenuto@pec.example.test")
            .unwrap()
            .unwrap();
        assert!(row.must_change_password);
        assert_eq!(row.recovery_email.as_deref(), Some("titolare@example.org"));

        // Refusals create nothing.
        let weak = create_mailbox(
            store,
            &new("debole@pec.example.test", FirstPassword::Chosen("password")),
            now(),
        );
        assert!(matches!(weak, Err(AccountError::Policy(ref e)) if !e.is_empty()));
        assert!(weak
            .unwrap_err()
            .to_string()
            .starts_with("la password non rispetta la politica di sicurezza: "));
        assert!(store.mailbox("debole@pec.example.test").unwrap().is_none());
        let elsewhere = create_mailbox(
            store,
            &new("x@altro.test", FirstPassword::Chosen(chosen)),
            now(),
        );
        assert!(matches!(elsewhere, Err(AccountError::NotOurDomain(d)) if d == "altro.test"));
        for address in [
            "aiuto/capo@pec.example.test",
            "senza-dominio",
            "@pec.example.test",
        ] {
            let r = create_mailbox(store, &new(address, FirstPassword::Chosen(chosen)), now());
            assert!(matches!(r, Err(AccountError::NotAnAddress(_))), "{address}");
        }
        let again = create_mailbox(
            store,
            &new(
                "nuovo@pec.example.test",
                FirstPassword::Chosen("Altra#Parola93"),
            ),
            now(),
        );
        assert!(matches!(again, Err(AccountError::Store(_))));
        assert!(opens(p, "nuovo@pec.example.test", chosen).await);
    }

    #[tokio::test]
    async fn the_administrator_sets_a_password_within_the_policy() {
        let t = TestProvider::new(Options::default());
        let (p, store) = (&t.provider, t.provider.store.as_ref());
        let welcome = create_mailbox(
            store,
            &NewAccount {
                address: "benvenuto@pec.example.test",
                password: FirstPassword::Welcome,
                quota: 1 << 20,
                recovery_email: None,
            },
            now(),
        )
        .unwrap();
        // A welcome password does not open IMAP; the one the administrator sets does.
        assert!(!opens(p, &welcome.address, &welcome.password).await);
        set_password(store, &welcome.address, "Reimpostata#77").unwrap();
        assert!(opens(p, &welcome.address, "Reimpostata#77").await);
        let row = store.mailbox(&welcome.address).unwrap().unwrap();
        assert!(!row.must_change_password);

        let weak = set_password(store, &welcome.address, "12345678");
        assert!(matches!(weak, Err(AccountError::Policy(_))));
        assert!(opens(p, &welcome.address, "Reimpostata#77").await);
    }

    #[tokio::test]
    async fn the_holder_changes_its_password_after_giving_the_current_one() {
        let t = TestProvider::new(Options::default());
        let p = &t.provider;
        let who = p
            .authenticate(USER, PASSWORD, PEER, LoginVia::Webmail)
            .await
            .unwrap();
        let change = |current, new, confirm| PasswordChange {
            current,
            new,
            confirm,
        };
        let fresh = "Nuova#Stagione58";
        change_password(p, &who, PEER, change(PASSWORD, fresh, fresh))
            .await
            .unwrap();
        assert!(opens(p, USER, fresh).await);
        assert!(!opens(p, USER, PASSWORD).await);

        // Each refusal leaves the password as it was.
        let other = "Altra#Parola93";
        let mut errors = Vec::new();
        for c in [
            change("Sbagliata#11", other, other),
            change(fresh, other, "Altra#Parola94"),
            change(fresh, fresh, fresh),
            change(fresh, "corta", "corta"),
        ] {
            errors.push(change_password(p, &who, PEER, c).await.unwrap_err());
        }
        assert!(matches!(errors[0], ChangeRefused::CurrentWrong));
        assert!(matches!(errors[1], ChangeRefused::Mismatch));
        assert!(matches!(errors[2], ChangeRefused::Unchanged));
        assert!(matches!(
            errors[3],
            ChangeRefused::Account(AccountError::Policy(_))
        ));
        // Who may not change the settings may not change the password, however right it is.
        let reader = Principal {
            rights: Rights::of(&[Permission::Read]),
            ..who.clone()
        };
        let denied = change_password(p, &reader, PEER, change(fresh, other, other)).await;
        assert!(matches!(denied, Err(ChangeRefused::Denied(_))));
        assert!(opens(p, USER, fresh).await);
        assert!(!opens(p, USER, other).await);
    }
}
