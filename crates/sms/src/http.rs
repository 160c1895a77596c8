//! One HTTP/1.1 request to a gateway, over TLS when the URL says `https` (the certificate
//! checked for the URL's host), with one deadline for the whole exchange and a limit on the
//! answer's size.

use crate::{clean, SmsError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use net::stream::Stream;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use std::time::Duration;
use tokio::net::TcpStream;
use url::Url;

/// A gateway's answer larger than this is refused.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

pub(crate) struct Client {
    connector: SslConnector,
    timeout: Duration,
}

pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text for an error: cut and cleaned.
    pub fn excerpt(&self) -> String {
        clean(&String::from_utf8_lossy(&self.body), 200)
    }
}

impl Client {
    pub fn new(extra_ca: Option<&[u8]>, timeout: Duration) -> Result<Client, SmsError> {
        let config = |e: openssl::error::ErrorStack| SmsError::Config(format!("TLS: {e}"));
        let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(config)?;
        b.set_verify(SslVerifyMode::PEER);
        if let Some(pem) = extra_ca {
            for cert in X509::stack_from_pem(pem).map_err(config)? {
                b.cert_store_mut().add_cert(cert).map_err(config)?;
            }
        }
        Ok(Client {
            connector: b.build(),
            timeout,
        })
    }

    /// Sends one request and reads the whole answer, within the deadline.
    pub async fn request(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, SmsError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(SmsError::Unreachable(format!(
                "{}: nessuna risposta entro {} s",
                host_of(url),
                self.timeout.as_secs()
            ))),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, SmsError> {
        let host = url
            .host_str()
            .ok_or_else(|| SmsError::Config(format!("URL senza host: {url}")))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| SmsError::Config(format!("URL senza porta: {url}")))?;
        // IPv6 literals come bracketed from the URL.
        let dial = host.trim_start_matches('[').trim_end_matches(']');
        let unreachable = |e: std::io::Error| SmsError::Unreachable(format!("{host}:{port}: {e}"));
        let tcp = TcpStream::connect((dial, port))
            .await
            .map_err(unreachable)?;
        let stream = match url.scheme() {
            "https" => Stream::connect_tls(tcp, &self.connector, dial)
                .await
                .map_err(|e| SmsError::Unreachable(format!("{host}:{port}: TLS: {e}")))?,
            "http" => Stream::Plain(tcp),
            other => return Err(SmsError::Config(format!("schema URL {other} non gestito"))),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SmsError::Unreachable(format!("{host}:{port}: {e}")))?;
        // The connection runs beside the request; dropped with this future at the deadline.
        let driver = tokio::spawn(conn);
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, "Certa-PEC");
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let bytes = match body {
            Some((content_type, bytes)) => {
                req = req.header(hyper::header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| SmsError::Config(format!("richiesta HTTP: {e}")))?;
        let result = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| SmsError::Unreachable(format!("{host}:{port}: {e}")))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| {
                    SmsError::Refused(format!(
                        "risposta illeggibile o oltre {MAX_ANSWER} byte: {}",
                        clean(&e.to_string(), 100)
                    ))
                })?
                .to_bytes()
                .to_vec();
            Ok(Answer { status, body })
        }
        .await;
        driver.abort();
        result
    }
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("?").to_string()
}
