//! RFC 4978 COMPRESS=DEFLATE: a connection whose two directions are raw deflate streams
//! (RFC 1951, no zlib header), over plain TCP or TLS.
//!
//! Reading inflates only as much as the reader asks for, so the line and literal limits of
//! the protocol above count decompressed bytes and a small input that inflates to a lot
//! (a "deflate bomb") is cut by them like any long line. Writing compresses what is written
//! and a flush ends the deflate block with a sync flush (RFC 4978 §4: every response is
//! flushed), so the peer can read each response whole.

use crate::Stream;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::{Error, ErrorKind};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed input is read from the connection this much at a time.
const INPUT_CHUNK: usize = 4 * 1024;
/// A write compresses at most this much of what it is given...
const WRITE_CHUNK: usize = 16 * 1024;
/// ...and first sends what waits once the compressed output holds this much, so the
/// output waiting for the connection stays small whatever is written.
const OUTPUT_HIGH: usize = 32 * 1024;

/// The peer's compressed data is not a valid deflate stream.
#[derive(Debug, thiserror::Error)]
#[error("dati compressi non validi: {0}")]
pub struct CorruptInput(String);

/// Whether an I/O error is [`CorruptInput`].
pub fn is_corrupt_input(e: &Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<CorruptInput>())
}

pub struct Deflate {
    inner: Stream,
    inflate: Decompress,
    deflate: Compress,
    /// Compressed bytes from the peer not inflated yet: `input[input_at..]`.
    input: Vec<u8>,
    input_at: usize,
    /// The peer ended its deflate stream: nothing more is read.
    input_ended: bool,
    /// Compressed bytes for the peer not sent yet: `output[output_at..]`.
    output: Vec<u8>,
    output_at: usize,
    /// Written since the last sync flush.
    unflushed: bool,
}

impl Deflate {
    /// Compression over `inner`; `already_read` holds bytes the peer sent after the
    /// command that started it (RFC 4978 §3: compressed from the byte after its CRLF).
    pub fn new(inner: Stream, already_read: Vec<u8>) -> Deflate {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            input: already_read,
            input_at: 0,
            input_ended: false,
            output: Vec::new(),
            output_at: 0,
            unflushed: false,
        }
    }

    pub fn get_ref(&self) -> &Stream {
        &self.inner
    }

    /// Compresses `data` (all of it) into `output`; with [`FlushCompress::Sync`], until
    /// the compressor holds nothing back.
    fn compress(&mut self, data: &[u8], flush: FlushCompress) -> std::io::Result<()> {
        let mut used = 0;
        let mut flush = flush;
        loop {
            self.output.reserve((data.len() - used).max(4096));
            let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
            self.deflate
                .compress_vec(&data[used..], &mut self.output, flush)
                .map_err(Error::other)?;
            let consumed = (self.deflate.total_in() - in_before) as usize;
            let made = self.deflate.total_out() - out_before;
            used += consumed;
            let full = self.output.len() == self.output.capacity();
            if used == data.len() && !full {
                return Ok(());
            }
            if consumed == 0 && made == 0 && !full {
                return Err(Error::other("deflate made no progress"));
            }
            // The sync flush point is written once; what did not fit follows.
            flush = FlushCompress::None;
        }
    }

    /// Sends what waits in `output`.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.output_at < self.output.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output[self.output_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(ErrorKind::WriteZero.into()));
            }
            self.output_at += n;
        }
        self.output.clear();
        self.output_at = 0;
        if self.output.capacity() > 2 * OUTPUT_HIGH {
            self.output = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Deflate {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.input_ended {
                return Poll::Ready(Ok(()));
            }
            // Inflate into the reader's room only: never more than it asked for.
            let (in_before, out_before) = (this.inflate.total_in(), this.inflate.total_out());
            let status = this
                .inflate
                .decompress(
                    &this.input[this.input_at..],
                    buf.initialize_unfilled(),
                    FlushDecompress::None,
                )
                .map_err(|e| Error::new(ErrorKind::InvalidData, CorruptInput(e.to_string())))?;
            this.input_at += (this.inflate.total_in() - in_before) as usize;
            let made = (this.inflate.total_out() - out_before) as usize;
            buf.advance(made);
            if status == Status::StreamEnd {
                this.input_ended = true;
            }
            if made > 0 || this.input_ended {
                return Poll::Ready(Ok(()));
            }
            // Nothing came out: more input is needed.
            this.input.drain(..this.input_at);
            this.input_at = 0;
            if this.input.len() >= INPUT_CHUNK {
                return Poll::Ready(Err(Error::new(
                    ErrorKind::InvalidData,
                    CorruptInput("nessun progresso".into()),
                )));
            }
            let start = this.input.len();
            this.input.resize(start + INPUT_CHUNK, 0);
            let mut read = ReadBuf::new(&mut this.input[start..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut read);
            let got = read.filled().len();
            this.input.truncate(start + got);
            ready!(polled)?;
            if got == 0 {
                // End of the connection.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for Deflate {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.output.len() - this.output_at >= OUTPUT_HIGH {
            ready!(this.poll_send(cx))?;
        }
        let take = data.len().min(WRITE_CHUNK);
        this.compress(&data[..take], FlushCompress::None)?;
        this.unflushed |= take > 0;
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.unflushed {
            // RFC 4978 §4: a sync flush after each response.
            this.compress(&[], FlushCompress::Sync)?;
            this.unflushed = false;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn both_directions_are_raw_deflate_and_each_flush_is_whole() {
        let (mut peer, server) = pair().await;
        // What the peer sent before compression started, and the rest after.
        let sent = deflate(b"a NOOP\r\nb NOOP\r\n");
        let (early, late) = sent.split_at(3);
        let mut s = Deflate::new(Stream::Plain(server), early.to_vec());
        peer.write_all(late).await.unwrap();
        let mut got = vec![0; 16];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"a NOOP\r\nb NOOP\r\n");

        // A flushed response can be inflated without anything after it.
        s.write_all(b"* OK uno\r\n").await.unwrap();
        s.flush().await.unwrap();
        let mut wire = vec![0; 256];
        let n = peer.read(&mut wire).await.unwrap();
        assert!(
            wire[..n].ends_with(&[0, 0, 0xff, 0xff]),
            "a sync flush point"
        );
        assert_eq!(inflate(&wire[..n]), b"* OK uno\r\n");

        // A large write is compressed in bounded steps and arrives whole.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = tokio::spawn(async move {
            let first = s.write(&big).await.unwrap();
            assert_eq!(first, WRITE_CHUNK, "one bounded step");
            s.write_all(&big[first..]).await.unwrap();
            s.flush().await.unwrap();
            big
        });
        let mut d = Decompress::new(false);
        let mut out = Vec::new();
        let mut chunk = vec![0; 8192];
        while out.len() < 300_000 {
            let n = peer.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            let mut at = 0;
            while at < n {
                out.reserve(64 * 1024);
                let before = d.total_in();
                d.decompress_vec(&chunk[at..n], &mut out, FlushDecompress::None)
                    .unwrap();
                at += (d.total_in() - before) as usize;
            }
        }
        assert_eq!(out, writer.await.unwrap());
    }

    #[tokio::test]
    async fn a_bomb_inflates_only_as_far_as_the_reader_reads_and_garbage_is_an_error() {
        let (mut peer, server) = pair().await;
        // 64 MiB without a line end: a few tens of KiB compressed.
        let mut c = Compress::new(Compression::best(), false);
        let mut bomb = Vec::with_capacity(1 << 20);
        let zeros = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            c.compress_vec(&zeros, &mut bomb, FlushCompress::None)
                .unwrap();
        }
        c.compress_vec(&[], &mut bomb, FlushCompress::Sync).unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let sender = tokio::spawn(async move {
            let _ = peer.write_all(&bomb).await;
            peer
        });
        let mut r = tokio::io::BufReader::with_capacity(
            1024,
            Deflate::new(Stream::Plain(server), Vec::new()),
        );
        let mut line = Vec::new();
        let e = crate::read_line_limited(&mut r, &mut line, 64 * 1024)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(!is_corrupt_input(&e), "a long line, not bad data");
        assert!(line.len() <= 64 * 1024);
        let d = r.get_ref();
        assert!(
            d.input.capacity() <= 2 * INPUT_CHUNK,
            "{}",
            d.input.capacity()
        );
        drop(r);
        let _ = sender.await;

        // Bytes that are no deflate stream: a distinct error.
        let (mut peer, server) = pair().await;
        peer.write_all(&[0xff; 64]).await.unwrap();
        let mut s = Deflate::new(Stream::Plain(server), Vec::new());
        let e = s.read(&mut [0; 64]).await.unwrap_err();
        assert!(is_corrupt_input(&e), "{e}");
    }
}
