//! The Skebby REST API (and Aruba's SMS service, the same API family at another base URL):
//! `GET {base}login?username=…&password=…` answers `user_key;session_key`, then
//! `POST {base}sms` with those two as headers and a JSON body sends; `201 Created` with
//! `"result":"OK"` is success.

use crate::http::Client;
use crate::{clean, Outgoing, SmsError};
use serde::{Deserialize, Serialize};
use url::Url;

/// `[sms.skebby]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkebbyConfig {
    /// Default `https://api.skebby.it/API/v1.0/REST/` (Aruba: `https://smspanel.aruba.it/API/v1.0/REST/`).
    #[serde(default)]
    pub base_url: Option<String>,
    pub username: String,
    pub password: String,
    /// `GP` (high quality, the alias shown; default), `TI` or `SI`.
    #[serde(default)]
    pub message_type: Option<String>,
}

pub(crate) struct Skebby {
    base: Url,
    cfg: SkebbyConfig,
    message_type: String,
    client: Client,
}

impl Skebby {
    pub fn new(cfg: SkebbyConfig, client: Client) -> Result<Skebby, SmsError> {
        let mut base = cfg
            .base_url
            .clone()
            .unwrap_or_else(|| "https://api.skebby.it/API/v1.0/REST/".to_string());
        if !base.ends_with('/') {
            base.push('/');
        }
        let base = Url::parse(&base)
            .map_err(|e| SmsError::Config(format!("base_url {}: {e}", clean(&base, 100))))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SmsError::Config("base_url: solo http o https".into()));
        }
        let message_type = cfg.message_type.clone().unwrap_or_else(|| "GP".into());
        if !matches!(message_type.as_str(), "GP" | "TI" | "SI") {
            return Err(SmsError::Config(format!(
                "message_type {} non gestito (GP, TI, SI)",
                clean(&message_type, 10)
            )));
        }
        Ok(Skebby {
            base,
            cfg,
            message_type,
            client,
        })
    }

    fn endpoint(&self, path: &str) -> Result<Url, SmsError> {
        self.base
            .join(path)
            .map_err(|e| SmsError::Config(format!("URL {path}: {e}")))
    }

    pub async fn send(&self, sms: &Outgoing<'_>) -> Result<(), SmsError> {
        let mut login = self.endpoint("login")?;
        login
            .query_pairs_mut()
            .append_pair("username", &self.cfg.username)
            .append_pair("password", &self.cfg.password);
        let answer = self.client.request("GET", &login, &[], None).await?;
        if answer.status != 200 {
            return Err(SmsError::Refused(format!(
                "accesso al gateway: HTTP {}",
                answer.status
            )));
        }
        let keys = String::from_utf8_lossy(&answer.body).trim().to_string();
        let (user_key, session_key) = keys
            .split_once(';')
            .filter(|(u, s)| valid_key(u) && valid_key(s))
            .ok_or_else(|| SmsError::Refused("accesso al gateway: risposta inattesa".into()))?;
        let body = serde_json::json!({
            "message_type": self.message_type,
            "message": sms.text,
            "recipient": [sms.to],
            "sender": sms.sender,
            "returnCredits": false,
        });
        let headers = [
            ("user_key".to_string(), user_key.to_string()),
            ("Session_key".to_string(), session_key.to_string()),
        ];
        let answer = self
            .client
            .request(
                "POST",
                &self.endpoint("sms")?,
                &headers,
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await?;
        let result = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("result").and_then(|r| r.as_str()).map(str::to_string));
        if answer.status == 201 && result.as_deref() == Some("OK") {
            Ok(())
        } else {
            Err(SmsError::Refused(format!(
                "HTTP {}: {}",
                answer.status,
                answer.excerpt()
            )))
        }
    }
}

/// A key the gateway gave: short, printable, safe as a header value.
fn valid_key(s: &str) -> bool {
    (1..=200).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic())
}
