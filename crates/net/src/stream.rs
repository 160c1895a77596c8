//! A connection that is plain TCP or TLS, and can be upgraded by STARTTLS.

use openssl::ssl::{Ssl, SslAcceptor, SslConnector};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Server side of a TLS handshake (implicit TLS or after STARTTLS).
    pub async fn accept_tls(tcp: TcpStream, acceptor: &SslAcceptor) -> std::io::Result<Stream> {
        let ssl = Ssl::new(acceptor.context()).map_err(std::io::Error::other)?;
        let mut s = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
        Pin::new(&mut s)
            .accept()
            .await
            .map_err(std::io::Error::other)?;
        // The connection's span (`certa serve` opens one per connection) now says TLS.
        tracing::Span::current().record("tls", true);
        Ok(Stream::Tls(Box::new(s)))
    }

    /// Client side, checking the peer's certificate for `host` with `connector`'s trust.
    pub async fn connect_tls(
        tcp: TcpStream,
        connector: &SslConnector,
        host: &str,
    ) -> std::io::Result<Stream> {
        let ssl = connector
            .configure()
            .map_err(std::io::Error::other)?
            .into_ssl(host)
            .map_err(std::io::Error::other)?;
        let mut s = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
        Pin::new(&mut s)
            .connect()
            .await
            .map_err(std::io::Error::other)?;
        Ok(Stream::Tls(Box::new(s)))
    }

    pub fn into_tcp(self) -> Option<TcpStream> {
        match self {
            Stream::Plain(t) => Some(t),
            Stream::Tls(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Closes a connection the client may still be sending on, after our last answer (a `* BYE`,
/// a `-ERR`, a `421`): the write side first (TLS close_notify, TCP FIN), then what is in flight
/// is read and dropped — at most [`DRAIN_BYTES`], for at most [`DRAIN_TIME`] — so the kernel
/// does not answer unread data with a reset that discards the answer before the client reads
/// it (the "lingering close" of HTTP servers). Shared by the IMAP, POP3 and SMTP servers.
pub async fn close_unread<R: tokio::io::AsyncBufRead + AsyncWrite + Unpin>(conn: &mut R) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let drain = async {
        if conn.shutdown().await.is_err() {
            return;
        }
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            let n = match conn.fill_buf().await {
                Ok([]) | Err(_) => break,
                Ok(b) => b.len(),
            };
            conn.consume(n);
            drained += n;
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

/// The most [`close_unread`] reads and drops before closing.
pub const DRAIN_BYTES: usize = 1 << 20;
/// The longest [`close_unread`] waits for the client to stop sending.
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads up to and including `\n`, at most `limit` bytes into `buf`: a longer line is an
/// `InvalidData` error, so nothing is buffered beyond the limit. Cancel-safe: bytes leave the
/// reader only once they are in `buf`. `Ok(false)` at end of stream. Shared by the IMAP and
/// POP3 servers.
pub async fn read_line_limited<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<bool> {
    use tokio::io::AsyncBufReadExt;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(false);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(p) => (p + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}
