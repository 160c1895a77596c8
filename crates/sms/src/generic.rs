//! The generic HTTP adapter: one request per SMS, described in `[sms.http]` — URL, method,
//! headers, a body template, how the SMS's values are escaped into it, and what counts as
//! success. `{to}`, `{sender}` and `{text}` in the URL and the body are replaced (in the URL
//! always percent-encoded; in the body by [`BodyEncoding`]), in one pass, so a value that
//! itself reads `{to}` stays text.

use crate::http::Client;
use crate::{clean, Outgoing, SmsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

/// How values are escaped into the body template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// `application/x-www-form-urlencoded` values.
    #[default]
    Form,
    /// JSON string contents (the template holds the quotes).
    Json,
}

impl BodyEncoding {
    fn content_type(self) -> &'static str {
        match self {
            BodyEncoding::Form => "application/x-www-form-urlencoded",
            BodyEncoding::Json => "application/json",
        }
    }

    fn escape(self, value: &str) -> String {
        match self {
            BodyEncoding::Form => form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            BodyEncoding::Json => {
                let quoted = serde_json::Value::String(value.to_string()).to_string();
                quoted
                    .strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .unwrap_or_default()
                    .to_string()
            }
        }
    }
}

/// `[sms.http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// With `{to}`, `{sender}`, `{text}` where the gateway wants them.
    pub url: String,
    /// `POST` (default) or `GET`.
    #[serde(default)]
    pub method: Option<String>,
    /// Sent as given (an API key, an `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body template; none for a `GET`.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// The statuses that mean success; default every 2xx.
    #[serde(default)]
    pub success_status: Vec<u16>,
    /// Text the answer must contain to mean success (e.g. `"status":"ok"`).
    #[serde(default)]
    pub success_contains: Option<String>,
}

pub(crate) struct HttpGateway {
    cfg: HttpConfig,
    method: &'static str,
    headers: Vec<(String, String)>,
    client: Client,
}

/// Replaces `{to}`, `{sender}` and `{text}` in one pass.
fn render(template: &str, sms: &Outgoing<'_>, escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + sms.text.len() * 3);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let hit = [
            ("{to}", sms.to),
            ("{sender}", sms.sender),
            ("{text}", sms.text),
        ]
        .into_iter()
        .find(|(name, _)| tail.starts_with(name));
        match hit {
            Some((name, value)) => {
                out.push_str(&escape(value));
                rest = &tail[name.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn url_escape(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl HttpGateway {
    pub fn new(cfg: HttpConfig, client: Client) -> Result<HttpGateway, SmsError> {
        let method = match cfg
            .method
            .as_deref()
            .unwrap_or("POST")
            .to_ascii_uppercase()
            .as_str()
        {
            "POST" => "POST",
            "GET" => "GET",
            "PUT" => "PUT",
            other => {
                return Err(SmsError::Config(format!(
                    "metodo HTTP {} non gestito (POST, GET, PUT)",
                    clean(other, 10)
                )))
            }
        };
        // The URL must parse with sample values, and be http or https.
        let sample = Outgoing {
            to: "+390000000000",
            sender: "Certa",
            text: "prova",
        };
        let url = Url::parse(&render(&cfg.url, &sample, url_escape))
            .map_err(|e| SmsError::Config(format!("URL {}: {e}", clean(&cfg.url, 100))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SmsError::Config(format!(
                "URL {}: solo http o https",
                clean(&cfg.url, 100)
            )));
        }
        let mut headers = Vec::new();
        for (name, value) in &cfg.headers {
            let ok_name = hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok();
            let ok_value = hyper::header::HeaderValue::from_str(value).is_ok();
            if !ok_name || !ok_value {
                return Err(SmsError::Config(format!(
                    "intestazione HTTP non valida: {}",
                    clean(name, 40)
                )));
            }
            headers.push((name.clone(), value.clone()));
        }
        Ok(HttpGateway {
            cfg,
            method,
            headers,
            client,
        })
    }

    pub async fn send(&self, sms: &Outgoing<'_>) -> Result<(), SmsError> {
        let url = Url::parse(&render(&self.cfg.url, sms, url_escape))
            .map_err(|e| SmsError::Config(format!("URL: {e}")))?;
        let encoding = self.cfg.encoding;
        let body = self.cfg.body.as_deref().map(|t| {
            (
                encoding.content_type(),
                render(t, sms, |v| encoding.escape(v)).into_bytes(),
            )
        });
        let answer = self
            .client
            .request(self.method, &url, &self.headers, body)
            .await?;
        let status_ok = if self.cfg.success_status.is_empty() {
            (200..300).contains(&answer.status)
        } else {
            self.cfg.success_status.contains(&answer.status)
        };
        let body_ok = self
            .cfg
            .success_contains
            .as_deref()
            .is_none_or(|needle| String::from_utf8_lossy(&answer.body).contains(needle));
        if status_ok && body_ok {
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

#[cfg(test)]
mod tests {
    use super::{render, BodyEncoding};
    use crate::Outgoing;

    #[test]
    fn values_are_escaped_once_and_cannot_inject() {
        let sms = Outgoing {
            to: "+393331234567",
            sender: "Certa",
            text: "3 PEC, \"urgente\"\n{to} & è",
        };
        let json = render(
            r#"{"to":"{to}","from":"{sender}","text":"{text}","n":{}}"#,
            &sms,
            |v| BodyEncoding::Json.escape(v),
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["text"], "3 PEC, \"urgente\"\n{to} & è");
        assert_eq!(v["to"], "+393331234567");
        assert_eq!(v.as_object().map(|o| o.len()), Some(4), "no field injected");
        let form = render("to={to}&msg={text}", &sms, |v| BodyEncoding::Form.escape(v));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("to".to_string(), "+393331234567".to_string()),
                ("msg".to_string(), sms.text.to_string())
            ]
        );
        assert_eq!(
            render("{nothing} {", &sms, |v| v.to_string()),
            "{nothing} {"
        );
    }
}
