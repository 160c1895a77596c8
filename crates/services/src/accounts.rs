//! Accounts: password hashing (argon2id), the one password policy used by the CLI, the web
//! and resets, login throttling shared by every protocol, and login names.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex};

pub fn hash_password(password: &str) -> String {
    let mut random = [0u8; 16];
    let _ = openssl::rand::rand_bytes(&mut random);
    let Ok(salt) = SaltString::encode_b64(&random) else {
        return String::new();
    };
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks passwords against argon2id hashes with a bounded pool of working memories (19 MiB
/// each with the default parameters): at most as many checks run at once as there are slots,
/// so memory and CPU stay bounded however many logins arrive together, and the memory is
/// reused (allocating it per login left +17 MB of RSS each time, measured).
pub struct PasswordChecker {
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
        PasswordChecker {
            slots: Mutex::new((0..slots.max(1)).map(|_| Vec::new()).collect()),
            ready: Condvar::new(),
        }
    }

    /// Blocks until a slot is free: call it from a blocking thread.
    pub fn verify(&self, hash: &str, password: &str) -> bool {
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

/// Failed-login counting per client address and per account, in a sliding window.
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    pub max_failures: usize,
    pub window_secs: i64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
            max_failures: 10,
            window_secs: 300,
        }
    }
}

impl LoginThrottle {
    fn keys(ip: IpAddr, account: &str) -> [String; 2] {
        [
            format!("ip:{ip}"),
            format!("acct:{}", account.to_ascii_lowercase()),
        ]
    }

    /// Whether another attempt is allowed now.
    pub fn allowed(&self, ip: IpAddr, account: &str, now: i64) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(ip, account).iter().all(|k| {
            let v = map.entry(k.clone()).or_default();
            v.retain(|&t| now - t < self.window_secs);
            v.len() < self.max_failures
        })
    }

    pub fn failed(&self, ip: IpAddr, account: &str, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, v| v.iter().any(|&t| now - t < self.window_secs));
        }
        for k in Self::keys(ip, account) {
            map.entry(k).or_default().push(now);
        }
    }
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
        let h = hash_password("Rosso#Tramonto7");
        assert!(h.starts_with("$argon2id$"));
        let checker = PasswordChecker::with_slots(1);
        assert!(checker.verify(&h, "Rosso#Tramonto7"));
        assert!(!checker.verify(&h, "rosso#tramonto7"));
        assert!(!checker.verify("garbage", "x"));
    }

    #[test]
    fn throttle() {
        let t = LoginThrottle {
            max_failures: 2,
            ..Default::default()
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(t.allowed(ip, "a@b", 0));
        t.failed(ip, "a@b", 0);
        t.failed(ip, "a@b", 1);
        assert!(!t.allowed(ip, "a@b", 2));
        assert!(
            !t.allowed("127.0.0.2".parse().unwrap(), "A@B", 2),
            "per account too"
        );
        assert!(t.allowed(ip, "a@b", 400), "the window passes");
    }
}
