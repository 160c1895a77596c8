//! A connection that is plain TCP or TLS, and can be upgraded by STARTTLS and compressed
//! (RFC 4978, [`crate::deflate`]).

use crate::deflate::Deflate;
use openssl::ssl::{Ssl, SslAcceptor, SslConnector};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
    /// RFC 4978 COMPRESS=DEFLATE over one of the others.
    Deflate(Box<Deflate>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(_) => true,
            Stream::Deflate(d) => d.get_ref().is_tls(),
        }
    }

    pub fn is_compressed(&self) -> bool {
        matches!(self, Stream::Deflate(_))
    }

    /// Deflate in both directions from now on (RFC 4978); `already_read` holds the bytes
    /// the peer sent after the command that started it, read already.
    pub fn compress(self, already_read: Vec<u8>) -> Stream {
        Stream::Deflate(Box::new(Deflate::new(self, already_read)))
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
            Stream::Tls(_) | Stream::Deflate(_) => None,
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
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
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
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Closes a connection the client may still be sending on, after our last answer (a `* BYE`,
/// a `-ERR`, a `421`): the write side first (TLS close_notify, TCP FIN), then what is in flight
/// is read and dropped — at most [`DRAIN_BYTES`], for at most [`DRAIN_TIME`] — so the kernel
/// does not answer unread data with a reset that discards the answer before the client reads
/// it (the "lingering close" of HTTP servers). Shared by the IMAP and POP3 servers.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// A connected pair on loopback: (client, server).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn a_line_survives_cancellation_and_a_longer_one_is_refused_within_the_limit() {
        let (mut client, server) = pair().await;
        let mut r = BufReader::new(Stream::Plain(server));
        let mut buf = Vec::new();
        // Half a line, then the read is cancelled (a timeout, IDLE's select): what came
        // stays in `buf`, and the rest completes it.
        client.write_all(b"A1 NOOP").await.unwrap();
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            read_line_limited(&mut r, &mut buf, 16),
        )
        .await;
        assert!(cancelled.is_err(), "no line end yet");
        assert_eq!(buf, b"A1 NOOP");
        client.write_all(b"\r\nA2").await.unwrap();
        assert!(read_line_limited(&mut r, &mut buf, 16).await.unwrap());
        assert_eq!(buf, b"A1 NOOP\r\n");

        // A line past the limit is an error, and no more than the limit is kept.
        buf.clear();
        client.write_all(&[b'x'; 4096]).await.unwrap();
        client.write_all(b"\r\n").await.unwrap();
        let e = read_line_limited(&mut r, &mut buf, 16).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(buf.len() <= 16, "{} bytes kept", buf.len());

        // End of stream is `Ok(false)`.
        let (client, server) = pair().await;
        drop(client);
        let mut r = BufReader::new(Stream::Plain(server));
        assert!(!read_line_limited(&mut r, &mut Vec::new(), 16)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn the_last_answer_reaches_a_client_still_sending_and_the_close_is_bounded() {
        let (mut client, server) = pair().await;
        let mut conn = BufReader::new(Stream::Plain(server));
        // The client sends what the server will never read, then waits for the answer.
        client.write_all(&[b'z'; 64 * 1024]).await.unwrap();
        conn.get_mut().write_all(b"-ERR addio\r\n").await.unwrap();
        let closing = tokio::spawn(async move {
            let start = Instant::now();
            close_unread(&mut conn).await;
            start.elapsed()
        });
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"-ERR addio\r\n", "the answer, then a clean end");
        // The client never closes its side: the drain gives up after DRAIN_TIME.
        let took = closing.await.unwrap();
        assert!(took >= DRAIN_TIME && took < DRAIN_TIME * 2, "{took:?}");
    }
}
