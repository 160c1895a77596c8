//! A whole provider in a temporary directory for the protocol crates' tests (feature
//! `testing`): a SQLite store, a test CA with the PEC signing and TLS certificates, and one
//! mailbox. The servers themselves run in the tests, in-process, on loopback.

use crate::accounts::{self, LoginThrottle};
use crate::provider::{Limits, Provider, SystemClock, Timers};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use std::path::PathBuf;
use std::sync::Arc;
use store::{MessageMeta, NewMailbox, NewMessage};

pub const DOMAIN: &str = "pec.example.test";
pub const USER: &str = "utente@pec.example.test";
pub const PASSWORD: &str = "Rosso#Tramonto7";
pub const HOSTNAME: &str = "mail.pec.example.test";

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `[security] allow_plaintext_auth`.
    pub allow_plaintext_auth: bool,
    /// Failed logins from one address before throttling.
    pub max_failures: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_plaintext_auth: false,
            max_failures: 10,
        }
    }
}

pub struct TestProvider {
    pub dir: tempfile::TempDir,
    pub provider: Arc<Provider>,
    /// The test CA (PEM file), which issued the TLS certificate.
    pub ca: PathBuf,
    /// TLS for `localhost`, `127.0.0.1` and [`HOSTNAME`].
    pub tls: Arc<SslAcceptor>,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TestProvider {
    /// A provider for [`DOMAIN`] with the mailbox [`USER`] (password [`PASSWORD`]).
    /// Panics on failure: it is for tests.
    pub fn new(opts: Options) -> TestProvider {
        let dir = tempfile::tempdir().unwrap();
        let name = "Certa Test";
        let ca = pec::pki::new_ca("Certa Test CA", name).unwrap();
        let signing = pec::pki::issue_signing_certificate(&ca, name, DOMAIN, 365).unwrap();
        let tls_names = [HOSTNAME, "localhost", "127.0.0.1"].map(String::from);
        let tls = pec::pki::issue_tls_certificate(&ca, &tls_names, 365).unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.cert_pem().unwrap()).unwrap();
        let cert_path = dir.path().join("tls-cert.pem");
        let key_path = dir.path().join("tls-key.pem");
        std::fs::write(&cert_path, tls.cert_pem().unwrap()).unwrap();
        std::fs::write(&key_path, tls.key_pem().unwrap()).unwrap();

        let store_dir = dir.path().join("store");
        std::fs::create_dir_all(&store_dir).unwrap();
        let store: Arc<dyn store::Store> = Arc::new(store::SqliteStore::open(&store_dir).unwrap());
        store.add_domain(DOMAIN, now()).unwrap();
        let mut throttle = LoginThrottle::default();
        throttle.rules.max_failures_per_ip = opts.max_failures;
        let provider = Arc::new(Provider {
            identity: pec::ProviderIdentity::new(name, DOMAIN),
            signer: pec::Signer::from_pem(
                &signing.cert_pem().unwrap(),
                &signing.key_pem().unwrap(),
            )
            .unwrap(),
            ca: openssl::x509::X509::from_pem(&ca.cert_pem().unwrap()).unwrap(),
            store,
            limits: Limits {
                max_message_bytes: 50 << 20,
                pec: pec::checks::Limits::default(),
            },
            timers: Timers::default(),
            clock: Arc::new(SystemClock),
            throttle,
            sending: Default::default(),
            passwords: Default::default(),
            hostname: HOSTNAME.to_string(),
            allow_plaintext_auth: opts.allow_plaintext_auth,
            antivirus: None,
            dns_resolver: None,
            mx_port: 25,
            peer_ca_pem: None,
            srs: crate::srs::SrsKey::new(b"segreto SRS delle prove".to_vec()),
            index_cache: Default::default(),
            metrics: Default::default(),
            migration: crate::migration::Settings::new(crate::migration::SecretKey::new([9; 32])),
            sms: None,
        });
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        b.set_certificate_chain_file(&cert_path).unwrap();
        b.set_private_key_file(&key_path, SslFiletype::PEM).unwrap();
        let t = TestProvider {
            dir,
            provider,
            ca: ca_path,
            tls: Arc::new(b.build()),
        };
        t.add_mailbox(USER, PASSWORD);
        t
    }

    /// Another mailbox of [`DOMAIN`].
    pub fn add_mailbox(&self, address: &str, password: &str) {
        self.provider
            .store
            .add_mailbox(
                &NewMailbox {
                    address,
                    password_hash: &accounts::hash_password(password).unwrap(),
                    quota: 1 << 30,
                    recovery_email: None,
                    must_change_password: false,
                },
                now(),
            )
            .unwrap();
    }

    /// Stores `data` in `folder` of `address`'s mailbox as a delivery would; its UID.
    pub fn append(&self, address: &str, folder: &str, data: &[u8]) -> i64 {
        let store = &self.provider.store;
        let blob = store.put_blob(data).unwrap();
        let meta = MessageMeta::default();
        store
            .write(|tx| {
                tx.append(
                    address,
                    folder,
                    &NewMessage {
                        blob: &blob,
                        size: data.len() as i64,
                        meta: &meta,
                    },
                    now(),
                )
            })
            .unwrap()
    }

    /// The id of `address`'s mailbox.
    pub fn mailbox_id(&self, address: &str) -> store::MailboxId {
        self.provider.store.mailbox(address).unwrap().unwrap().id
    }
}
