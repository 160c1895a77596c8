//! Outbound SMTP: one message to one next hop. Between PEC providers TLS is mandatory
//! (RFC 6109 §5.3): with `require_tls` a server without STARTTLS, or whose certificate does not
//! verify against the configured trust, gets nothing.
//!
//! The next hop is hostile until proven otherwise: replies are read as bytes with a bound on
//! every line and on the number of lines, and every step (connect, greeting, TLS handshake,
//! each command, each block of DATA) has its own time limit, so a peer that stalls or talks
//! garbage costs one step, never the worker. The caller bounds the whole transaction.

use crate::Reply;
use net::Stream;
use openssl::ssl::SslConnector;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; we take some slack.
const MAX_REPLY_LINE: usize = 4096;
/// Lines of one multi-line reply (an EHLO reply lists a few dozen at most).
const MAX_REPLY_LINES: usize = 100;
/// DATA goes out in blocks of this size, each with its own time limit: a peer that stops
/// reading is noticed after one step, a slow but steady one is not cut off.
const DATA_BLOCK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Worth retrying later (unreachable, 4xx).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The peer broke the protocol or stalled (garbage, overlong lines, a step timed out):
    /// retried later, but the same misbehaviour again and again marks the item as poison.
    #[error("misbehaving peer: {0}")]
    Misbehaving(String),
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
    /// Time limit of each step: connect, greeting, TLS handshake, each reply, each block of
    /// DATA (RFC 5321 §4.5.3.2 suggests minutes; the caller chooses).
    pub step_timeout: Duration,
}

fn temp(e: impl std::fmt::Display) -> ClientError {
    ClientError::Temporary(e.to_string())
}

fn misbehaving(e: impl std::fmt::Display) -> ClientError {
    ClientError::Misbehaving(e.to_string())
}

/// Runs one step within `limit`; a timeout is the peer's fault.
async fn step<T>(
    limit: Duration,
    what: &str,
    f: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| misbehaving(format!("{what}: nessuna risposta entro {limit:?}")))?
}

/// One reply line (RFC 5321 §4.2): three digits, then `-` (more lines follow), a space or
/// nothing, then text. Returns the code, whether more lines follow, and the text.
fn parse_reply_line(line: &[u8]) -> Option<(u16, bool, String)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.get(..3)?;
    // RFC 5321 §4.2: the first digit is 2 to 5, the others 0 to 9.
    if !matches!(digits[0], b'2'..=b'5') || !digits[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let more = match line.get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        Some(_) => return None,
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
    Some((code, more, text))
}

async fn read_reply(conn: &mut BufReader<Stream>) -> Result<Reply, ClientError> {
    let mut text = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = (&mut *conn)
            .take(MAX_REPLY_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(temp)?;
        if n == 0 {
            return Err(temp("connessione chiusa"));
        }
        if !line.ends_with(b"\n") {
            return Err(misbehaving(format!(
                "riga di risposta oltre {MAX_REPLY_LINE} byte"
            )));
        }
        let Some((code, more, t)) = parse_reply_line(&line) else {
            let shown = String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned();
            return Err(misbehaving(format!("risposta malformata {shown:?}")));
        };
        text.push(t);
        if !more {
            return Ok(Reply::new(code, "", text.join("\n")));
        }
        if text.len() >= MAX_REPLY_LINES {
            return Err(misbehaving("risposta di troppe righe"));
        }
    }
}

/// Reads one whole reply within the step limit (a peer trickling lines gets one step).
async fn reply(
    conn: &mut BufReader<Stream>,
    limit: Duration,
    what: &str,
) -> Result<Reply, ClientError> {
    step(limit, what, read_reply(conn)).await
}

async fn command(
    conn: &mut BufReader<Stream>,
    line: &str,
    limit: Duration,
) -> Result<Reply, ClientError> {
    let verb = line.split(' ').next().unwrap_or(line).to_string();
    step(limit, &verb, async {
        let w = conn.get_mut();
        w.write_all(line.as_bytes()).await.map_err(temp)?;
        w.write_all(b"\r\n").await.map_err(temp)?;
        w.flush().await.map_err(temp)?;
        read_reply(conn).await
    })
    .await
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
    /// The server's reply to the end of DATA (for the log).
    pub reply: String,
}

/// Sends the message to every recipient the server accepts.
pub async fn deliver(d: &Delivery<'_>) -> Result<Outcome, ClientError> {
    let limit = d.step_timeout;
    // An unreachable host is the network's fault, not the peer's: temporary.
    let tcp = tokio::time::timeout(limit, TcpStream::connect((d.host, d.port)))
        .await
        .map_err(|_| temp(format!("connect {}:{} timed out", d.host, d.port)))?
        .map_err(|e| temp(format!("connect {}:{}: {e}", d.host, d.port)))?;
    let mut conn = BufReader::new(Stream::Plain(tcp));
    check(reply(&mut conn, limit, "greeting").await?, "greeting")?;
    let ehlo = check(
        command(&mut conn, &format!("EHLO {}", d.helo), limit).await?,
        "EHLO",
    )?;
    let offers_tls = ehlo
        .text
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
    if offers_tls {
        check(command(&mut conn, "STARTTLS", limit).await?, "STARTTLS")?;
        let tcp = conn
            .into_inner()
            .into_tcp()
            .ok_or_else(|| temp("TLS twice"))?;
        // RFC 3207 §4: the handshake is a step like any other; a peer that answers 220 and
        // then says nothing must not hold the worker.
        let tls = step(limit, "TLS handshake", async {
            Stream::connect_tls(tcp, d.tls, d.tls_name)
                .await
                .map_err(|e| temp(format!("TLS with {}: {e}", d.host)))
        })
        .await?;
        conn = BufReader::new(tls);
        check(
            command(&mut conn, &format!("EHLO {}", d.helo), limit).await?,
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
            limit,
        )
        .await?,
        "MAIL FROM",
    )?;
    let mut outcome = Outcome::default();
    let mut temporary = Vec::new();
    for r in d.rcpt_to {
        let reply = command(&mut conn, &format!("RCPT TO:<{r}>"), limit).await?;
        let text = format!("{} {}", reply.code, reply.text.replace('\n', " "));
        match reply.code {
            200..=399 => outcome.accepted.push(r.clone()),
            400..=499 => temporary.push(format!("{r}: {text}")),
            _ => outcome.refused.push((r.clone(), text)),
        }
    }
    if !temporary.is_empty() {
        // Retry the whole transaction later rather than split it.
        let _ = command(&mut conn, "QUIT", limit).await;
        return Err(ClientError::Temporary(temporary.join("; ")));
    }
    if outcome.accepted.is_empty() {
        let _ = command(&mut conn, "QUIT", limit).await;
        let why: Vec<String> = outcome
            .refused
            .iter()
            .map(|(r, t)| format!("{r}: {t}"))
            .collect();
        return Err(ClientError::Permanent(why.join("; ")));
    }
    check(command(&mut conn, "DATA", limit).await?, "DATA")?;
    let stuffed = dot_stuff(d.data);
    let w = conn.get_mut();
    for block in stuffed.chunks(DATA_BLOCK) {
        step(limit, "DATA", async {
            w.write_all(block).await.map_err(temp)
        })
        .await?;
    }
    step(limit, "DATA", async {
        w.write_all(b".\r\n").await.map_err(temp)?;
        w.flush().await.map_err(temp)
    })
    .await?;
    let end = check(reply(&mut conn, limit, "end of DATA").await?, "end of DATA")?;
    outcome.reply = format!("{} {}", end.code, end.text.replace('\n', " "));
    let _ = command(&mut conn, "QUIT", limit).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_are_read_as_bytes() {
        assert_eq!(
            parse_reply_line(b"250-mx.pec.it\r\n"),
            Some((250, true, "mx.pec.it".into()))
        );
        assert_eq!(
            parse_reply_line(b"220\r\n"),
            Some((220, false, String::new()))
        );
        // Hostile: a multi-byte character where the code should be, short lines, codes
        // outside 2xx–5xx, a bad separator. None of them panics.
        for bad in [
            &b"22\xff\r\n"[..],
            b"\xff\xfe\xfd\r\n",
            b"2\r\n",
            b"",
            b"099 x\r\n",
            b"600 x\r\n",
            b"25x ok\r\n",
            b"250+x\r\n",
        ] {
            assert_eq!(parse_reply_line(bad), None, "{bad:?}");
        }
        // Invalid UTF-8 in the text is kept, replaced.
        assert_eq!(parse_reply_line(b"250 \xffok\r\n").map(|r| r.0), Some(250));
    }
}
