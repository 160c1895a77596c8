//! `certa.toml`, the data directory's configuration. Listener names are a contract with
//! operators' scripts: `smtp`, `submission`, `submissions`, `imap`, `imaps`, `pop3`, `pop3s`,
//! `http`.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub provider: ProviderSection,
    pub listen: Listen,
    pub tls: KeyPair,
    pub signing: Signing,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub timers: TimersSection,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub antivirus: Antivirus,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub queue: QueueSection,
    #[serde(default)]
    pub web: Web,
    #[serde(default)]
    pub verification: Verification,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub migration: MigrationSection,
    #[serde(default)]
    pub admin: Admin,
    /// The SMS gateway for the daily SMS reports; none: the SMS report is not offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<sms::GatewayConfig>,
}

/// The operator console's sessions (`[listen] admin`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// A console session unused for this long ends.
    pub session_idle_secs: i64,
    /// A console session ends this long after its login, however busy.
    pub session_lifetime_secs: i64,
    /// Operators without a second factor (TOTP) cannot log in.
    pub require_totp: bool,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            session_idle_secs: 30 * 60,
            session_lifetime_secs: 8 * 3600,
            require_totp: false,
        }
    }
}

/// Copies from old providers' boxes (`certa migrate`, the webmail's "Copia messaggi da
/// account"; see services::migration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MigrationSection {
    /// The page, the banner and `migrate start`.
    pub enabled: bool,
    /// Users may copy every folder of the old box, not only its INBOX.
    pub all_folders: bool,
    /// The daily sync, "HH:MM" in Italian time.
    pub sync_at: String,
    /// Copies running at once.
    pub jobs: usize,
    /// Copies running at once against one old server.
    pub per_host: usize,
    /// Days before a domain's switch-over when the holders who have not started their copy
    /// are reminded.
    pub reminders: Vec<i64>,
    /// The MX TTL a domain taken over should have from the day before its switch-over, s.
    pub dns_ttl: u32,
    /// The SPF `include:` that authorises us (default `_spf.` and the provider's domain).
    pub spf_include: Option<String>,
    /// The webmail's address as people reach it, for welcome and reminder mails (default:
    /// from `[listen] http`).
    pub public_url: Option<String>,
    /// Messages and bytes per fetch and per transaction.
    pub batch_messages: usize,
    pub batch_bytes: usize,
    /// The old provider's server for the boxes of a domain.
    pub domain: Vec<MigrationDomain>,
}

/// `[[migration.domain]]`: where the boxes of an old domain are read, and when they switch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationDomain {
    pub name: String,
    /// "host:port" (or "host" for 993).
    pub server: String,
    /// A CA file trusted for that server, besides the system's.
    pub ca: Option<PathBuf>,
    /// Its POP3S server "host:port", for the unique ids of the messages copied into INBOX
    /// (default: the IMAPS host, port 995).
    pub pop3: Option<String>,
    /// The switch-over date, "YYYY-MM-DD HH:MM" in Italian time: the last sync runs then,
    /// and the copies of the domain's boxes end (their old passwords erased).
    pub switch: Option<String>,
}

impl Default for MigrationSection {
    fn default() -> Self {
        MigrationSection {
            enabled: true,
            all_folders: false,
            sync_at: "03:00".into(),
            jobs: 8,
            per_host: 4,
            reminders: vec![7, 3, 1],
            dns_ttl: 300,
            spf_include: None,
            public_url: None,
            batch_messages: 256,
            batch_bytes: 8 << 20,
            domain: Vec::new(),
        }
    }
}

impl MigrationSection {
    /// The services' settings, with the key sealing the old passwords (`migration.key` in
    /// the data directory, created on first use).
    pub fn settings(&self, data: &Path) -> anyhow::Result<services::migration::Settings> {
        let key = services::migration::SecretKey::load_or_create(&data.join("migration.key"))
            .context("the key of the old passwords (migration.key)")?;
        let mut s = services::migration::Settings::new(key);
        s.enabled = self.enabled;
        s.all_folders_allowed = self.all_folders;
        s.sync_at = parse_hour(&self.sync_at)
            .with_context(|| format!("[migration] sync_at {:?} is not HH:MM", self.sync_at))?;
        s.jobs = self.jobs.max(1);
        s.per_host = self.per_host.max(1);
        s.reminder_days = self.reminders.iter().copied().filter(|d| *d > 0).collect();
        s.batch_messages = self.batch_messages.clamp(1, 10_000);
        s.batch_bytes = self.batch_bytes.max(1 << 16);
        for d in &self.domain {
            let server = services::migration::Server::parse(&d.server).with_context(|| {
                format!(
                    "[[migration.domain]] {}: server {:?} is not host:port",
                    d.name, d.server
                )
            })?;
            let ca_pem = match &d.ca {
                Some(f) => Some(
                    std::fs::read_to_string(Config::resolve(data, f))
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                None => None,
            };
            let switch_at = match &d.switch {
                Some(t) => Some(parse_italian_time(t).with_context(|| {
                    format!(
                        "[[migration.domain]] {}: switch {t:?} is not YYYY-MM-DD HH:MM",
                        d.name
                    )
                })?),
                None => None,
            };
            let pop3 = match &d.pop3 {
                Some(p) => Some(services::migration::Server::parse(p).with_context(|| {
                    format!(
                        "[[migration.domain]] {}: pop3 {p:?} is not host:port",
                        d.name
                    )
                })?),
                None => None,
            };
            s.domains.push(services::migration::OldDomain {
                name: d.name.trim().to_ascii_lowercase(),
                server,
                ca_pem,
                switch_at,
                pop3,
            });
        }
        Ok(s)
    }
}

/// "HH:MM".
fn parse_hour(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// "YYYY-MM-DD HH:MM[:SS]" (or "YYYY-MM-DD", midnight) in Italian time, as Unix seconds.
pub fn parse_italian_time(text: &str) -> Option<i64> {
    use chrono::TimeZone;
    let text = text.trim();
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    chrono_tz::Europe::Rome
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp())
}

/// What `certa serve` logs and how (to standard error).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a filter such as
    /// `info,services=debug`. The `CERTA_LOG` environment variable, when set, wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `text`: one human line per event; `json`: one JSON object per line, with the fields of
/// its spans (connection, PEC transaction), for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// How messages arriving from other providers are verified (review M3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    /// How long before its arrival a message may have been signed.
    #[serde(default = "default_signed_before")]
    pub signed_before_arrival_secs: i64,
    /// How long after its arrival (the signer's clock ahead of ours).
    #[serde(default = "default_signed_after")]
    pub signed_after_arrival_secs: i64,
    /// The certificate (PEM) of the authority that signs the provider index (AgID): `index
    /// import` of a signed .p7m accepts only its signature (review M7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_signer: Option<PathBuf>,
}

impl Default for Verification {
    fn default() -> Self {
        Verification {
            signed_before_arrival_secs: default_signed_before(),
            signed_after_arrival_secs: default_signed_after(),
            index_signer: None,
        }
    }
}

fn default_signed_before() -> i64 {
    48 * 3600
}

fn default_signed_after() -> i64 {
    3600
}

/// The webmail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Web {
    /// The address of a TLS-terminating reverse proxy in front of the webmail. When set, the
    /// `http` listener speaks plain HTTP, accepts connections from this address only, and
    /// takes the client's address (for login throttling) from the `X-Forwarded-For` the
    /// proxy appends. Unset (the default): HTTPS with the provider's certificate.
    #[serde(default)]
    pub proxy: Option<std::net::IpAddr>,
    /// A session ends this long after its login however busy it is (besides the two idle
    /// hours).
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime_secs: i64,
    /// A request's headers must all arrive within this time (slow clients are cut off).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// A UTF-8 text file of terms of service (relative to the data directory) every holder
    /// accepts at first access, and again when it changes; none: nothing to accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<PathBuf>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            proxy: None,
            session_lifetime_secs: default_session_lifetime(),
            header_read_timeout_secs: default_header_read_timeout(),
            terms: None,
        }
    }
}

impl Web {
    /// The terms of `[web] terms`, read and checked.
    pub fn terms(&self, data: &Path) -> anyhow::Result<Option<services::terms::Terms>> {
        let Some(path) = &self.terms else {
            return Ok(None);
        };
        let path = Config::resolve(data, path);
        let bytes =
            std::fs::read(&path).with_context(|| format!("[web] terms: {}", path.display()))?;
        anyhow::ensure!(
            bytes.len() <= 256 * 1024,
            "[web] terms: {} is over 256 KiB",
            path.display()
        );
        let text = String::from_utf8(bytes)
            .with_context(|| format!("[web] terms: {} is not UTF-8", path.display()))?;
        anyhow::ensure!(
            !text.trim().is_empty(),
            "[web] terms: {} is empty",
            path.display()
        );
        Ok(Some(services::terms::Terms::new(text)))
    }
}

fn default_session_lifetime() -> i64 {
    12 * 3600
}

fn default_header_read_timeout() -> u64 {
    30
}

/// Where MX lookups go and which port mail exchangers listen on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dns {
    /// `ip:port` of a resolver; default: the first nameserver of /etc/resolv.conf.
    pub resolver: Option<String>,
    /// 25, except on private networks and in tests.
    pub mx_port: u16,
    /// Follow MX records to loopback and private addresses (private networks, tests only);
    /// static routes may always name them.
    #[serde(default)]
    pub allow_private_mx: bool,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            resolver: None,
            mx_port: 25,
            allow_private_mx: false,
        }
    }
}

/// The delivery queue (see services::worker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueSection {
    /// Concurrent deliveries into our own mailboxes (never shared with relays).
    pub local_workers: usize,
    /// Concurrent relays to other servers.
    pub remote_workers: usize,
    /// Concurrent relays to one destination domain.
    pub per_destination: usize,
    /// Failures of the same kind in a row after which an item is parked (`certa queue`).
    pub park_after: i64,
    /// Time limit of each network step of a relay.
    pub step_timeout_secs: u64,
    /// Time limit of a whole relay, plus the time its bytes take at 16 KiB/s.
    pub transaction_timeout_secs: u64,
}

impl Default for QueueSection {
    fn default() -> Self {
        let s = services::worker::QueueSettings::default();
        QueueSection {
            local_workers: s.local_workers,
            remote_workers: s.remote_workers,
            per_destination: s.per_destination,
            park_after: s.park_after,
            step_timeout_secs: s.step_timeout.as_secs(),
            transaction_timeout_secs: s.transaction_timeout.as_secs(),
        }
    }
}

impl QueueSection {
    pub fn settings(&self, dns: &Dns) -> services::worker::QueueSettings {
        let default = services::worker::QueueSettings::default();
        services::worker::QueueSettings {
            local_workers: self.local_workers.max(1),
            remote_workers: self.remote_workers.max(1),
            per_destination: self.per_destination.max(1),
            park_after: self.park_after.max(1),
            step_timeout: std::time::Duration::from_secs(self.step_timeout_secs.max(1)),
            transaction_timeout: std::time::Duration::from_secs(
                self.transaction_timeout_secs.max(1),
            ),
            allow_private_mx: dns.allow_private_mx,
            ..default
        }
    }
}

/// `clamd = "/run/clamav/clamd.ctl"` or `"127.0.0.1:3310"`; without it, no scanning.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Antivirus {
    pub clamd: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderSection {
    /// providerName and `gestore-emittente`.
    pub name: String,
    /// The provider's mail domain: its service address is `posta-certificata@<domain>`.
    pub domain: String,
    /// Host name in SMTP greetings.
    pub hostname: String,
}

/// The listener addresses, in the `--port-base` order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listen {
    pub smtp: String,
    pub submission: String,
    pub submissions: String,
    pub imap: String,
    pub imaps: String,
    pub pop3: String,
    pub pop3s: String,
    pub http: String,
    /// Prometheus `/metrics` (plain HTTP, no authentication: keep it on loopback or a
    /// private network). Off unless set, e.g. `metrics = "127.0.0.1:9464"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// The operator console (HTTPS with the provider's certificate, its own accounts:
    /// `certa operator add`). Off unless set; bind it to a private network, e.g.
    /// `admin = "10.0.0.5:8443"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
}

impl Listen {
    pub fn with_port_base(bind: &str, base: u16) -> Listen {
        let a = |i: u16| format!("{bind}:{}", base + i);
        Listen {
            smtp: a(0),
            submission: a(1),
            submissions: a(2),
            imap: a(3),
            imaps: a(4),
            pop3: a(5),
            pop3s: a(6),
            http: a(7),
            metrics: None,
            admin: None,
        }
    }

    /// The webmail's address for a browser: a wildcard bind reads as `localhost`.
    pub fn webmail_url(&self) -> String {
        let host_port = match self.http.rsplit_once(':') {
            Some(("0.0.0.0" | "[::]", port)) => format!("localhost:{port}"),
            _ => self.http.clone(),
        };
        match host_port.strip_suffix(":443") {
            Some(h) => format!("https://{h}/"),
            None => format!("https://{host_port}/"),
        }
    }

    pub fn standard(bind: &str) -> Listen {
        let a = |p: u16| format!("{bind}:{p}");
        Listen {
            smtp: a(25),
            submission: a(587),
            submissions: a(465),
            imap: a(143),
            imaps: a(993),
            pop3: a(110),
            pop3s: a(995),
            http: a(443),
            metrics: None,
            admin: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Extra CA certificates (PEM files) trusted for other providers' TLS and signatures,
    /// for private networks; the system's roots are always trusted.
    #[serde(default)]
    pub peer_ca: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signing {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA that issued our signing and TLS certificates (`certa ca export`).
    pub ca: PathBuf,
    pub ca_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitsSection {
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// Size × recipients (DM 2 novembre 2005 art. 12: at least 30 MB).
    pub max_size_times_recipients: u64,
    /// Open connections over all listeners.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64) on one listener. Clients
    /// behind the webmail's proxy are not counted by address.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// A whole command line (SMTP, IMAP, POP3) and a TLS handshake must arrive within this,
    /// from its first byte: a client sending a byte every few seconds is closed.
    #[serde(default = "default_command_deadline_secs")]
    pub command_deadline_secs: u64,
    /// IMAP literals (APPEND) held in memory at once, over all connections; a literal
    /// waits for room, then is refused.
    #[serde(default = "default_imap_literal_budget_bytes")]
    pub imap_literal_budget_bytes: usize,
    /// A whole SMTP DATA transfer must end within this (each line also within RFC 5321's
    /// five minutes).
    #[serde(default = "default_smtp_data_deadline_secs")]
    pub smtp_data_deadline_secs: u64,
    /// Messages one authenticated mailbox may send per minute and per hour (submission and
    /// webmail); 0: no limit.
    #[serde(default = "default_messages_per_minute")]
    pub messages_per_minute: usize,
    #[serde(default = "default_messages_per_hour")]
    pub messages_per_hour: usize,
}

fn default_max_connections() -> usize {
    10_000
}

fn default_max_connections_per_ip() -> usize {
    100
}

fn default_command_deadline_secs() -> u64 {
    60
}

fn default_smtp_data_deadline_secs() -> u64 {
    30 * 60
}

fn default_imap_literal_budget_bytes() -> usize {
    512 * 1024 * 1024
}

fn default_messages_per_minute() -> usize {
    services::accounts::SendRules::default().per_minute
}

fn default_messages_per_hour() -> usize {
    services::accounts::SendRules::default().per_hour
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_message_bytes: 100 * 1024 * 1024,
            max_recipients: 500,
            messages_per_minute: default_messages_per_minute(),
            messages_per_hour: default_messages_per_hour(),
            max_size_times_recipients: 100 * 1024 * 1024,
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            command_deadline_secs: default_command_deadline_secs(),
            imap_literal_budget_bytes: default_imap_literal_budget_bytes(),
            smtp_data_deadline_secs: default_smtp_data_deadline_secs(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimersSection {
    pub notice_12h_secs: i64,
    pub notice_24h_secs: i64,
    pub max_queue_secs: i64,
    /// First retry delay of the relay queue, doubling up to `retry_max_secs`.
    pub retry_secs: i64,
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: i64,
    /// How often the timers look for due notices.
    pub scan_secs: u64,
}

impl Default for TimersSection {
    fn default() -> Self {
        TimersSection {
            notice_12h_secs: 12 * 3600,
            notice_24h_secs: 24 * 3600,
            max_queue_secs: 24 * 3600,
            retry_secs: 60,
            retry_max_secs: 3600,
            scan_secs: 60,
        }
    }
}

fn default_retry_max() -> i64 {
    3600
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Security {
    /// Accept AUTH without TLS. For loopback tests only.
    #[serde(default)]
    pub allow_plaintext_auth: bool,
}

impl Config {
    /// The copies' and takeovers' settings (`[migration]`), with the key sealing the old
    /// passwords and the webmail's public address.
    pub fn migration_settings(&self, data: &Path) -> anyhow::Result<services::migration::Settings> {
        let mut s = self.migration.settings(data)?;
        s.public_url = self.public_url();
        Ok(s)
    }

    /// What mail clients are told (the set-up page, autoconfig, autodiscover): the host name
    /// and the ports of `[listen]`.
    pub fn client_endpoints(&self) -> web::ClientEndpoints {
        let port = |addr: &str, default: u16| {
            addr.rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(default)
        };
        web::ClientEndpoints {
            host: self.provider.hostname.clone(),
            imaps: port(&self.listen.imaps, 993),
            pop3s: port(&self.listen.pop3s, 995),
            submissions: port(&self.listen.submissions, 465),
            submission: port(&self.listen.submission, 587),
        }
    }

    /// The webmail's public address, ending in `/`.
    pub fn public_url(&self) -> String {
        let url = self
            .migration
            .public_url
            .clone()
            .unwrap_or_else(|| self.listen.webmail_url());
        if url.ends_with('/') {
            url
        } else {
            format!("{url}/")
        }
    }
    /// What a domain taken over must have in its DNS once it is ours (the switch-over
    /// checklist): MX at our hostname, one SPF record authorising us, the MX TTL lowered.
    pub fn dns_expectation(&self) -> services::takeover::DnsExpectation {
        let host = self.provider.hostname.clone();
        let include = self
            .migration
            .spf_include
            .clone()
            .unwrap_or_else(|| format!("_spf.{}", self.provider.domain));
        services::takeover::DnsExpectation {
            spf: vec![
                "mx".into(),
                format!("a:{host}"),
                format!("include:{include}"),
            ],
            mx_host: host,
            ttl_max: self.migration.dns_ttl,
        }
    }

    pub fn path(data: &Path) -> PathBuf {
        data.join("certa.toml")
    }

    pub fn load(data: &Path) -> anyhow::Result<Config> {
        let p = Self::path(data);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!("cannot read {} (run `certa quickstart` first)", p.display())
        })?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", p.display()))
    }

    pub fn save(&self, data: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self)?;
        std::fs::write(Self::path(data), text)?;
        Ok(())
    }

    /// A path of the configuration, relative to the data directory unless absolute.
    pub fn resolve(data: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            data.join(p)
        }
    }
}
