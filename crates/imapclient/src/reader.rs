//! Reads whole responses off the connection, with [`crate::wire`]'s framer as bytes arrive.
//!
//! Bounded and linear: each read waits at most the idle timeout and takes at most
//! [`READ_CHUNK`] bytes into the buffer; the framer continues from where it stopped instead
//! of scanning the buffer again; a literal whose bytes are not all in the buffer yet is moved
//! into a vector reserved once at its exact size, and the rest of it is read straight into
//! that vector (it then leaves as the message's body without another copy). A literal that
//! arrived whole within a read (so at most about a read's size) stays in the buffer and is
//! copied once when parsed. The buffer holds at most one response's text (≤ the line limit),
//! its small literals and one read; a response's literals together are never larger than
//! the literal limit, checked before anything is reserved for them.

use crate::wire::{self, Framer, OutOfBand, Response, Step};
use crate::Error;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most bytes asked of the connection by one read into the buffer (a TLS record holds at
/// most 16 KiB).
const READ_CHUNK: usize = 64 * 1024;
/// A buffer grown past this (by a long response) is given back once it is empty.
const KEEP_CAPACITY: usize = 4 * READ_CHUNK;

/// The bounds of one read of a response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadBounds {
    pub line_limit: usize,
    pub literal_limit: usize,
    pub idle: Duration,
    /// What we are waiting for, for [`Error::Timeout`].
    pub waiting_for: &'static str,
}

#[derive(Debug, Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// Where the response being framed starts in `buf`; what is before it has been parsed.
    start: usize,
    framer: Framer,
    out_of_band: OutOfBand,
}

impl Reader {
    /// The next response.
    pub(crate) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        bounds: ReadBounds,
    ) -> Result<Response, Error> {
        loop {
            let frame = self.buf.get(self.start..).unwrap_or_default();
            let step = self
                .framer
                .advance(frame, bounds.line_limit, bounds.literal_limit)?;
            match step {
                Step::Complete(end) => {
                    let frame = self
                        .buf
                        .get(self.start..self.start + end)
                        .unwrap_or_default();
                    let parsed = wire::parse_frame(frame, &mut self.out_of_band);
                    self.start += end;
                    self.framer = Framer::default();
                    self.out_of_band.clear();
                    return parsed.map_err(Error::from);
                }
                Step::Literal(len) => {
                    let buffered = frame.len().saturating_sub(self.framer.position());
                    if buffered >= len {
                        self.framer.skip_literal(len);
                    } else {
                        let literal = self.read_literal(stream, len, bounds).await?;
                        self.out_of_band
                            .push_back((self.framer.position(), literal));
                    }
                }
                Step::NeedMore => self.fill(stream, bounds).await?,
            }
        }
    }

    /// Moves the literal starting at the framer's position out of the buffer into a vector
    /// of its size, and reads the rest of it into that vector.
    async fn read_literal<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        len: usize,
        bounds: ReadBounds,
    ) -> Result<Vec<u8>, Error> {
        let at = self.start + self.framer.position();
        let mut literal = Vec::new();
        literal.try_reserve_exact(len).map_err(|_| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "no memory for a literal",
            ))
        })?;
        literal.extend_from_slice(self.buf.get(at..).unwrap_or_default());
        self.buf.truncate(at);
        while literal.len() < len {
            let missing = len - literal.len();
            read_some(stream, &mut literal, missing, bounds).await?;
        }
        Ok(literal)
    }

    /// Reads more into the buffer, first dropping what was parsed.
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        bounds: ReadBounds,
    ) -> Result<(), Error> {
        if self.start >= self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        } else if self.start > 0 {
            // The start of one response: moved once, as it stays at 0 until it is complete.
            self.buf.drain(..self.start);
        }
        self.start = 0;
        self.buf.reserve(READ_CHUNK);
        read_some(stream, &mut self.buf, READ_CHUNK, bounds)
            .await
            .map(drop)
    }
}

/// One read of at most `max` bytes appended to `into`, within the idle timeout.
async fn read_some<R: AsyncRead + Unpin>(
    stream: &mut R,
    into: &mut Vec<u8>,
    max: usize,
    bounds: ReadBounds,
) -> Result<usize, Error> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    let mut limited = (&mut *stream).take(limit);
    match tokio::time::timeout(bounds.idle, limited.read_buf(into)).await {
        Err(_) => Err(Error::Timeout(bounds.waiting_for)),
        Ok(Ok(0)) => Err(Error::Closed),
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::Closed),
        Ok(Err(e)) => Err(Error::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Status, Untagged};
    use crate::Limits;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::ReadBuf;

    /// Gives its bytes `chunk` at a time, then end of stream.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self
                .chunk
                .min(self.data.len() - self.at)
                .min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn bounds(limits: Limits) -> ReadBounds {
        ReadBounds {
            line_limit: limits.max_line,
            literal_limit: limits.max_literal,
            idle: Duration::from_secs(5),
            waiting_for: "a test response",
        }
    }

    /// A session's worth of responses, with literals small and large.
    fn session() -> Vec<u8> {
        let mut s = b"* OK [CAPABILITY IMAP4rev1] hi\r\n* 3 EXISTS\r\n".to_vec();
        for (uid, size) in [(1u32, 0usize), (2, 10), (3, 70_000), (4, 5), (5, 300_000)] {
            s.extend_from_slice(
                format!("* {uid} FETCH (UID {uid} FLAGS (\\Seen) BODY[] {{{size}}}\r\n").as_bytes(),
            );
            s.extend((0..size).map(|i| (i * 7 + uid as usize) as u8));
            s.extend_from_slice(b" X {3}\r\nabc)\r\n");
        }
        s.extend_from_slice(b"A1 OK done\r\n");
        s
    }

    fn expected(whole: &[u8], limits: Limits) -> Vec<Response> {
        let mut out = Vec::new();
        let mut rest = whole;
        while let Some((r, used)) = wire::parse(rest, &limits).unwrap() {
            out.push(r);
            rest = &rest[used..];
        }
        out
    }

    #[tokio::test]
    async fn responses_are_the_same_whatever_the_reads_deliver() {
        let limits = Limits {
            max_literal: 1 << 20,
            max_line: 1024,
        };
        let whole = session();
        let want = expected(&whole, limits);
        assert_eq!(want.len(), 8);
        for chunk in [1, 2, 7, 100, 4096, 16_384, 70_001, 1 << 20] {
            let mut stream = Trickle {
                data: whole.clone(),
                at: 0,
                chunk,
            };
            let mut reader = Reader::default();
            for (i, w) in want.iter().enumerate() {
                let got = reader.next(&mut stream, bounds(limits)).await.unwrap();
                assert_eq!(&got, w, "response {i} with reads of {chunk}");
            }
            assert!(matches!(
                reader.next(&mut stream, bounds(limits)).await,
                Err(Error::Closed)
            ));
            // The buffer held one response's text and a read, never a large literal.
            assert!(
                reader.buf.capacity() <= 4 * READ_CHUNK,
                "{}",
                reader.buf.capacity()
            );
        }
    }

    #[tokio::test]
    async fn end_of_stream_inside_a_literal_is_closed() {
        let mut data = b"* 1 FETCH (UID 1 BODY[] {100}\r\n".to_vec();
        data.extend_from_slice(&[b'x'; 60]);
        let mut stream = Trickle {
            data,
            at: 0,
            chunk: 16,
        };
        let got = Reader::default()
            .next(&mut stream, bounds(Limits::default()))
            .await;
        assert!(matches!(got, Err(Error::Closed)), "{got:?}");
    }

    #[tokio::test]
    async fn a_literal_over_the_limit_reserves_nothing() {
        let mut stream = Trickle {
            data: b"* 1 FETCH (UID 1 BODY[] {4000000000}\r\nxxxx".to_vec(),
            at: 0,
            chunk: 4096,
        };
        let mut reader = Reader::default();
        let got = reader.next(&mut stream, bounds(Limits::default())).await;
        assert!(
            matches!(got, Err(Error::TooLarge { limit }) if limit == 64 << 20),
            "{got:?}"
        );
        assert!(reader.buf.capacity() <= 2 * READ_CHUNK);
        assert!(reader.out_of_band.is_empty());
    }

    #[tokio::test]
    async fn silence_is_a_timeout() {
        let (_server, mut client) = tokio::io::duplex(64);
        let mut reader = Reader::default();
        let mut b = bounds(Limits::default());
        b.idle = Duration::from_millis(50);
        b.waiting_for = "the greeting";
        let got = reader.next(&mut client, b).await;
        assert!(
            matches!(got, Err(Error::Timeout("the greeting"))),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_bye_is_a_response_like_any_other() {
        let mut stream = Trickle {
            data: b"* BYE shutting down\r\n".to_vec(),
            at: 0,
            chunk: 3,
        };
        let got = Reader::default()
            .next(&mut stream, bounds(Limits::default()))
            .await
            .unwrap();
        assert!(matches!(
            got,
            Response::Untagged(Untagged::Status {
                status: Status::Bye,
                ..
            })
        ));
    }
}
