//! RFC 4978 COMPRESS=DEFLATE: after the tagged OK both directions are raw deflate, each
//! response ends on a sync flush, and the limits count inflated bytes.

use crate::harness::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use openssl::ssl::{SslConnector, SslMethod};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One line read byte by byte, so nothing after it (the start of the compressed stream)
/// is taken from the connection.
fn plain_line(s: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0];
    while !line.ends_with(b"\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed after {line:?}");
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

/// Sends `tag command` uncompressed and reads up to the tagged line, which it returns.
fn plain(s: &mut (impl Read + Write), tag: &str, command: &str) -> String {
    s.write_all(format!("{tag} {command}\r\n").as_bytes())
        .unwrap();
    loop {
        let line = plain_line(s);
        if line.starts_with(&format!("{tag} ")) {
            return line;
        }
    }
}

/// A plain connection logged in as [`USER`].
fn logged_in(s: &Server) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let greeting = plain_line(&mut tcp);
    assert!(
        !greeting.contains("COMPRESS"),
        "not before login: {greeting}"
    );
    let login = plain(&mut tcp, "l", &format!("LOGIN {USER} \"{PASSWORD}\""));
    assert!(login.contains("COMPRESS=DEFLATE"), "{login}");
    tcp
}

/// Raw deflate of `data`, ending on a sync flush.
fn deflate(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    let mut used = 0;
    loop {
        out.reserve(64 * 1024);
        let before = c.total_in();
        c.compress_vec(&data[used..], &mut out, FlushCompress::Sync)
            .unwrap();
        used += (c.total_in() - before) as usize;
        if used == data.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

/// A client of a compressed session.
struct Zipped<S: Read + Write> {
    s: S,
    out: Compress,
    inflate: Decompress,
    /// Inflated bytes not read yet.
    text: Vec<u8>,
    next_tag: u32,
}

impl<S: Read + Write> Zipped<S> {
    /// Compression from now on, `out` continuing what was sent compressed already.
    fn new(s: S, out: Compress) -> Zipped<S> {
        Zipped {
            s,
            out,
            inflate: Decompress::new(false),
            text: Vec::new(),
            next_tag: 0,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let z = deflate(&mut self.out, bytes);
        self.s.write_all(&z).unwrap();
    }

    /// Inflates more of what the server sent; `false` at end of stream.
    fn more(&mut self) -> bool {
        let mut chunk = [0; 4096];
        let n = self.s.read(&mut chunk).unwrap_or(0);
        let mut used = 0;
        while used < n {
            self.text.reserve(64 * 1024);
            let before = self.inflate.total_in();
            self.inflate
                .decompress_vec(&chunk[used..n], &mut self.text, FlushDecompress::None)
                .expect("the server's stream is valid deflate");
            used += (self.inflate.total_in() - before) as usize;
        }
        n > 0
    }

    /// One response line with the literals in it inlined; `None` at end of stream.
    fn line(&mut self) -> Option<String> {
        let mut from = 0;
        loop {
            let Some(end) = self.text[from..].iter().position(|&b| b == b'\n') else {
                if !self.more() {
                    return None;
                }
                continue;
            };
            let end = from + end + 1;
            let literal = String::from_utf8_lossy(&self.text[from..end])
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match literal {
                Some(n) => {
                    while self.text.len() < end + n {
                        assert!(self.more(), "closed inside a literal");
                    }
                    from = end + n;
                }
                None => {
                    let line: Vec<u8> = self.text.drain(..end).collect();
                    return Some(String::from_utf8_lossy(&line).trim_end().to_string());
                }
            }
        }
    }

    /// Sends `command` with a fresh tag; its untagged lines and its tagged line, which
    /// must have `status`.
    fn transact(&mut self, status: &str, command: &str) -> (Vec<String>, String) {
        self.next_tag += 1;
        let tag = format!("z{}", self.next_tag);
        self.send(format!("{tag} {command}\r\n").as_bytes());
        let mut untagged = vec![];
        loop {
            let line = self.line().expect("a response");
            if line.starts_with(&format!("{tag} ")) {
                assert!(
                    line.starts_with(&format!("{tag} {status} ")),
                    "{command}: {line} after {untagged:?}"
                );
                return (untagged, line);
            }
            untagged.push(line);
        }
    }
}

/// Sends COMPRESS DEFLATE and, in the same write, `then` compressed (RFC 4978 §3: the
/// client compresses from the byte after the command's CRLF, before it has the OK).
fn compress<S: Read + Write>(mut s: S, then: &[u8]) -> Zipped<S> {
    let mut out = Compress::new(Compression::default(), false);
    let mut bytes = b"c COMPRESS DEFLATE\r\n".to_vec();
    if !then.is_empty() {
        bytes.extend(deflate(&mut out, then));
    }
    s.write_all(&bytes).unwrap();
    let ok = plain_line(&mut s);
    assert!(ok.starts_with("c OK "), "{ok}");
    Zipped::new(s, out)
}

#[test]
fn a_compressed_session_works_both_ways_with_large_literals() {
    let s = Server::start();
    let mut c = s.connect();
    c.bad("COMPRESS DEFLATE");

    let tcp = logged_in(&s);
    // A command pipelined right behind COMPRESS is read as compressed.
    let mut z = compress(tcp, b"p NOOP\r\n");
    let noop = z.line().unwrap_or_default();
    assert!(noop.starts_with("p OK "), "{noop}");
    let (caps, _) = z.transact("OK", "CAPABILITY");
    assert!(caps[0].contains("COMPRESS=DEFLATE"), "{caps:?}");
    // RFC 4978 §3 and RFC 5530: a second COMPRESS is refused, the session goes on.
    let (_, no) = z.transact("NO", "COMPRESS DEFLATE");
    assert!(no.contains("[COMPRESSIONACTIVE]"), "{no}");
    z.transact("BAD", "COMPRESS ZSTD");

    // 300 KB in, the same bytes out (literals cross many deflate blocks both ways).
    let mut message = b"Subject: grande\r\n\r\n".to_vec();
    for i in 0..20_000u32 {
        message.extend(format!("riga {i} {}\r\n", i.wrapping_mul(2_654_435_761)).as_bytes());
    }
    z.send(format!("a APPEND INBOX {{{}+}}\r\n", message.len()).as_bytes());
    z.send(&message);
    z.send(b"\r\n");
    let appended = z.line().unwrap_or_default();
    assert!(appended.starts_with("a OK [APPENDUID "), "{appended}");
    z.transact("OK", "SELECT INBOX");
    let (fetched, _) = z.transact("OK", "FETCH 1 BODY.PEEK[]");
    let expected = String::from_utf8_lossy(&message);
    assert!(
        fetched[0].ends_with(&format!("{expected})")),
        "the very bytes"
    );
    z.transact("OK", "LOGOUT");
}

#[test]
fn a_deflate_bomb_meets_the_line_limit_and_garbage_is_refused() {
    let s = Server::start();
    // 16 MiB without a line end, a few KiB compressed: cut at the line limit (64 KiB of
    // inflated bytes), with the reason, compressed.
    let mut z = compress(logged_in(&s), b"");
    let mut bomb = b"b NOOP ".to_vec();
    bomb.resize(16 << 20, b'x');
    let zipped = deflate(&mut z.out, &bomb);
    assert!(zipped.len() < 64 * 1024, "{}", zipped.len());
    let _ = z.s.write_all(&zipped);
    assert_eq!(
        z.line().as_deref(),
        Some("* BYE riga di comando troppo lunga")
    );
    assert_eq!(z.line(), None, "closed");

    // A literal announced over the limit is refused before a byte of it is inflated.
    let mut z = compress(logged_in(&s), b"");
    let (_, no) = z.transact("NO", &format!("APPEND INBOX {{{}}}", 64 << 20));
    assert!(no.contains("[TOOBIG]"), "{no}");
    z.transact("OK", "NOOP");

    // Bytes that are no deflate stream: the reason, and the end.
    let mut z = compress(logged_in(&s), b"");
    z.s.write_all(&[0xff; 32]).unwrap();
    assert_eq!(z.line().as_deref(), Some("* BYE dati compressi non validi"));
    assert_eq!(z.line(), None, "closed");
}

#[test]
fn compression_works_under_tls() {
    let s = Server::start();
    let mut tcp = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    plain_line(&mut tcp);
    let ok = plain(&mut tcp, "s", "STARTTLS");
    assert!(ok.starts_with("s OK"), "{ok}");
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_ca_file(&s.test.ca).unwrap();
    let mut tls = connector.build().connect("localhost", tcp).unwrap();
    let login = plain(&mut tls, "l", &format!("LOGIN {USER} \"{PASSWORD}\""));
    assert!(login.contains("COMPRESS=DEFLATE"), "{login}");
    let mut z = compress(tls, b"");
    z.transact("OK", "SELECT INBOX");
    let (_, no) = z.transact("NO", "COMPRESS DEFLATE");
    assert!(no.contains("[COMPRESSIONACTIVE]"), "{no}");
    z.transact("OK", "LOGOUT");
}
