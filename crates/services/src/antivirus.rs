//! Antivirus through clamd's INSTREAM command (RFC 6109 §5.4: mandatory and current). The
//! daemon is reached on a Unix socket path or `host:port`. A scan that cannot run is an error,
//! never a clean verdict: the caller refuses the message for now.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const CHUNK: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanResult {
    Clean,
    /// The name of what was found (e.g. `Eicar-Signature`).
    Infected(String),
}

#[derive(Debug, thiserror::Error)]
#[error("antivirus non disponibile: {0}")]
pub struct ScanError(String);

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

fn connect(address: &str) -> Result<Box<dyn Conn>, ScanError> {
    let err = |e: std::io::Error| ScanError(format!("{address}: {e}"));
    if address.starts_with('/') {
        let s = UnixStream::connect(address).map_err(err)?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(err)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(err)?;
        Ok(Box::new(s))
    } else {
        let s = TcpStream::connect(address).map_err(err)?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(err)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(err)?;
        Ok(Box::new(s))
    }
}

/// Scans `data` with the clamd at `address`.
pub fn scan(address: &str, data: &[u8]) -> Result<ScanResult, ScanError> {
    let mut c = connect(address)?;
    let io = |e: std::io::Error| ScanError(e.to_string());
    c.write_all(b"zINSTREAM\0").map_err(io)?;
    for chunk in data.chunks(CHUNK) {
        c.write_all(&(chunk.len() as u32).to_be_bytes())
            .map_err(io)?;
        c.write_all(chunk).map_err(io)?;
    }
    c.write_all(&0u32.to_be_bytes()).map_err(io)?;
    let mut reply = Vec::new();
    c.take(4096).read_to_end(&mut reply).map_err(io)?;
    parse_reply(&String::from_utf8_lossy(&reply))
}

fn parse_reply(reply: &str) -> Result<ScanResult, ScanError> {
    let reply = reply.trim_end_matches(['\0', '\n']).trim();
    let body = reply.strip_prefix("stream:").unwrap_or(reply).trim();
    if body == "OK" {
        Ok(ScanResult::Clean)
    } else if let Some(name) = body.strip_suffix("FOUND") {
        Ok(ScanResult::Infected(name.trim().to_string()))
    } else {
        Err(ScanError(format!("risposta inattesa di clamd: {reply}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply("stream: OK\0").unwrap(), ScanResult::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Signature FOUND\0").unwrap(),
            ScanResult::Infected("Eicar-Signature".into())
        );
        assert!(parse_reply("INSTREAM size limit exceeded. ERROR\0").is_err());
        assert!(scan("/nonexistent/clamd.sock", b"x").is_err());
    }
}
