//! Outbound SMTP: one message to one next hop. Between PEC providers TLS is mandatory
//! (RFC 6109 §5.3): with `require_tls` a server without STARTTLS, or whose certificate does not
//! verify against the configured trust, gets nothing.

use crate::stream::Stream;
use crate::Reply;
use openssl::ssl::SslConnector;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REPLY_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Worth retrying later (network, 4xx).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Will not succeed (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub struct Delivery<'a> {
    pub host: &'a str,
    pub port: u16,
    /// Name to check the server certificate against.
    pub tls_name: &'a str,
    pub helo: &'a str,
    pub tls: &'a SslConnector,
    pub require_tls: bool,
    pub mail_from: &'a str,
    pub rcpt_to: &'a [String],
    pub data: &'a [u8],
}

fn temp(e: impl std::fmt::Display) -> ClientError {
    ClientError::Temporary(e.to_string())
}

async fn read_reply(conn: &mut BufReader<Stream>) -> Result<Reply, ClientError> {
    let mut text = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(
            TIMEOUT,
            (&mut *conn)
                .take(MAX_REPLY_LINE as u64)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| temp("timeout"))?
        .map_err(temp)?;
        if n == 0 {
            return Err(temp("connection closed"));
        }
        let s = String::from_utf8_lossy(&line).trim_end().to_string();
        if s.len() < 3 {
            return Err(temp(format!("malformed reply {s:?}")));
        }
        let code: u16 = s[..3]
            .parse()
            .map_err(|_| temp(format!("malformed reply {s:?}")))?;
        text.push(s.get(4..).unwrap_or("").to_string());
        if s.as_bytes().get(3) != Some(&b'-') {
            return Ok(Reply::new(code, "", text.join("\n")));
        }
        if text.len() > 100 {
            return Err(temp("reply too long"));
        }
    }
}

async fn command(conn: &mut BufReader<Stream>, line: &str) -> Result<Reply, ClientError> {
    conn.get_mut()
        .write_all(line.as_bytes())
        .await
        .map_err(temp)?;
    conn.get_mut().write_all(b"\r\n").await.map_err(temp)?;
    conn.get_mut().flush().await.map_err(temp)?;
    read_reply(conn).await
}

fn check(r: Reply, what: &str) -> Result<Reply, ClientError> {
    match r.code {
        200..=399 => Ok(r),
        400..=499 => Err(ClientError::Temporary(format!(
            "{what}: {} {}",
            r.code, r.text
        ))),
        _ => Err(ClientError::Permanent(format!(
            "{what}: {} {}",
            r.code, r.text
        ))),
    }
}

/// What the server did with each recipient of a message it accepted.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: Vec<String>,
    /// Recipients refused permanently, with the server's reply.
    pub refused: Vec<(String, String)>,
}

/// Sends the message to every recipient the server accepts.
pub async fn deliver(d: &Delivery<'_>) -> Result<Outcome, ClientError> {
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((d.host, d.port)))
        .await
        .map_err(|_| temp(format!("connect {}:{} timed out", d.host, d.port)))?
        .map_err(|e| temp(format!("connect {}:{}: {e}", d.host, d.port)))?;
    let mut conn = BufReader::new(Stream::Plain(tcp));
    check(read_reply(&mut conn).await?, "greeting")?;
    let ehlo = check(
        command(&mut conn, &format!("EHLO {}", d.helo)).await?,
        "EHLO",
    )?;
    let offers_tls = ehlo
        .text
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
    if offers_tls {
        check(command(&mut conn, "STARTTLS").await?, "STARTTLS")?;
        let tcp = conn
            .into_inner()
            .into_tcp()
            .ok_or_else(|| temp("TLS twice"))?;
        let tls = Stream::connect_tls(tcp, d.tls, d.tls_name)
            .await
            .map_err(|e| temp(format!("TLS with {}: {e}", d.host)))?;
        conn = BufReader::new(tls);
        check(
            command(&mut conn, &format!("EHLO {}", d.helo)).await?,
            "EHLO",
        )?;
    } else if d.require_tls {
        return Err(temp(format!(
            "{} does not offer STARTTLS, required between PEC providers",
            d.host
        )));
    }
    check(
        command(
            &mut conn,
            &format!(
                "MAIL FROM:<{}> BODY=8BITMIME SIZE={}",
                d.mail_from,
                d.data.len()
            ),
        )
        .await?,
        "MAIL FROM",
    )?;
    let mut outcome = Outcome::default();
    let mut temporary = Vec::new();
    for r in d.rcpt_to {
        let reply = command(&mut conn, &format!("RCPT TO:<{r}>")).await?;
        let text = format!("{} {}", reply.code, reply.text.replace('\n', " "));
        match reply.code {
            200..=399 => outcome.accepted.push(r.clone()),
            400..=499 => temporary.push(format!("{r}: {text}")),
            _ => outcome.refused.push((r.clone(), text)),
        }
    }
    if !temporary.is_empty() {
        // Retry the whole transaction later rather than split it.
        let _ = command(&mut conn, "QUIT").await;
        return Err(ClientError::Temporary(temporary.join("; ")));
    }
    if outcome.accepted.is_empty() {
        let _ = command(&mut conn, "QUIT").await;
        let why: Vec<String> = outcome
            .refused
            .iter()
            .map(|(r, t)| format!("{r}: {t}"))
            .collect();
        return Err(ClientError::Permanent(why.join("; ")));
    }
    check(command(&mut conn, "DATA").await?, "DATA")?;
    let w = conn.get_mut();
    w.write_all(&dot_stuff(d.data)).await.map_err(temp)?;
    w.write_all(b".\r\n").await.map_err(temp)?;
    w.flush().await.map_err(temp)?;
    check(read_reply(&mut conn).await?, "end of DATA")?;
    let _ = command(&mut conn, "QUIT").await;
    Ok(outcome)
}

/// RFC 5321 §4.5.2; also ends the data with CRLF.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
