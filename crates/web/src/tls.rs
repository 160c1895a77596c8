//! The webmail's listeners for axum. HTTPS: handshakes run on their own tasks, so a slow
//! client never holds up the accept loop; finished streams are handed to axum through a
//! channel. Plain HTTP behind a proxy. Both set `TCP_NODELAY`: a page's last segment goes
//! out at once instead of waiting for the browser's delayed ACK (40 ms on Linux). Both
//! count their connections against the process's caps: over them, a connection is closed
//! at once (before TLS there is no way to say why).

use net::connections::{Connections, Slot};
use openssl::ssl::{Ssl, SslAcceptor};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_openssl::SslStream;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// The name the caps count this listener's clients under (`certa.toml` `[listen] http`).
pub(crate) const LISTENER: &str = "http";

/// A connection holding its slot in the caps until axum drops it.
pub struct Counted<S> {
    stream: S,
    _slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

pub struct TlsListener {
    ready: mpsc::Receiver<(Counted<SslStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// `name`: the listener's `[listen]` key, for the connection caps and the logs.
    pub fn new(
        tcp: TcpListener,
        acceptor: Arc<SslAcceptor>,
        connections: Arc<Connections>,
        name: &'static str,
    ) -> Self {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    // Out of descriptors or similar: let other work run, then try again.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let slot = match connections.admit(name, Some(peer.ip())) {
                    Ok(slot) => slot,
                    Err(why) => {
                        tracing::warn!(listener = name, %peer, %why, "connection refused");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, &acceptor)).await
                    {
                        let counted = Counted {
                            stream: s,
                            _slot: slot,
                        };
                        let _ = tx.send((counted, peer)).await;
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

async fn handshake(
    tcp: TcpStream,
    acceptor: &SslAcceptor,
) -> Result<SslStream<TcpStream>, Box<dyn std::error::Error + Send + Sync>> {
    let ssl = Ssl::new(acceptor.context())?;
    let mut s = SslStream::new(ssl, tcp)?;
    Pin::new(&mut s).accept().await?;
    Ok(s)
}

impl axum::serve::Listener for TlsListener {
    type Io = Counted<SslStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Some(x) = self.ready.recv().await {
                return x;
            }
            // The accept task never ends while the listener lives; wait rather than spin.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Plain HTTP (behind a proxy): every connection comes from the proxy, so only the total
/// is capped.
pub struct PlainListener {
    tcp: TcpListener,
    connections: Arc<Connections>,
}

impl PlainListener {
    pub fn new(tcp: TcpListener, connections: Arc<Connections>) -> Self {
        PlainListener { tcp, connections }
    }
}

impl axum::serve::Listener for PlainListener {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.tcp.accept().await {
                Ok((stream, peer)) => {
                    let slot = match self.connections.admit(LISTENER, None) {
                        Ok(slot) => slot,
                        Err(why) => {
                            tracing::warn!(listener = LISTENER, %peer, %why, "connection refused");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let counted = Counted {
                        stream,
                        _slot: slot,
                    };
                    return (counted, peer);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
