//! Downloads of a selection: a maildir ZIP ("Azioni > Scarica > Formato maildir (.zip)")
//! and an mbox file, both readable by any mail client.

use axum::body::{Body, Bytes};
use services::mailbox::{self, Access, Folder, MailboxError, INBOX};
use services::principal::Principal;
use services::Provider;
use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub struct Item {
    pub folder: String,
    pub uid: i64,
    /// Space-separated IMAP flags.
    pub flags: String,
    pub internal_date: i64,
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    MaildirZip,
    Mbox,
}

/// Streams the export of `groups` (folders of the session's mailbox, with UIDs): one message
/// is read at a time on a blocking thread and the archive goes out as it is written, so
/// memory holds at most one message (security review H5), whatever the selection's size. A
/// failure midway aborts the response: the browser reports a failed download rather than
/// keeping a truncated archive.
pub fn stream(
    p: Arc<Provider>,
    who: Principal,
    groups: Vec<(Folder, Vec<i64>)>,
    format: Format,
) -> Body {
    let (tx, rx) = mpsc::channel(4);
    let failed = tx.clone();
    tokio::spawn(async move {
        let written = mailbox::run(&p, &who, move |m| {
            let sink = ChunkSink::new(tx);
            let items = items(m, &groups);
            Ok::<_, MailboxError>(match format {
                Format::MaildirZip => maildir_zip(items, sink).map(drop),
                Format::Mbox => mbox(items, std::io::BufWriter::with_capacity(64 * 1024, sink)),
            })
        })
        .await;
        let r = written.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        if let Err(e) = r {
            let _ = failed.send(Err(e)).await;
        }
    });
    Body::new(ChannelBody(rx))
}

/// The messages of `groups`, read one by one.
fn items<'a>(
    m: &'a Access,
    groups: &'a [(Folder, Vec<i64>)],
) -> impl Iterator<Item = std::io::Result<Item>> + 'a {
    groups.iter().flat_map(move |(f, uids)| {
        // Flags and dates of the whole group at once, by UID (not a scan per message).
        let listed: HashMap<i64, (String, i64)> = m
            .listed(f.id, uids)
            .map(|l| {
                l.into_iter()
                    .map(|m| (m.uid, (m.flags, m.internal_date)))
                    .collect()
            })
            .unwrap_or_default();
        uids.iter().filter_map(move |&uid| {
            let content = match m.contents(f.id, &[uid]) {
                Ok(c) => c.into_iter().next()?,
                Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
            };
            let (flags, internal_date) = listed.get(&uid).cloned().unwrap_or_default();
            Some(Ok(Item {
                folder: f.name.clone(),
                uid,
                flags,
                internal_date,
                data: content.data,
            }))
        })
    })
}

/// The response body: chunks as the export thread hands them over.
struct ChannelBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
    }
}

/// A writer that keeps only what may still change and sends the rest on `flush`. The ZIP
/// writer seeks back into the file it is writing (to put the CRC and sizes in its local
/// header) but, with `flush_on_finish_file`, never before the last flush: so one message at
/// most is held here.
struct ChunkSink {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    /// Bytes already sent.
    sent: u64,
    /// Bytes from `sent` on.
    held: Vec<u8>,
    pos: u64,
}

impl ChunkSink {
    fn new(tx: mpsc::Sender<std::io::Result<Bytes>>) -> Self {
        ChunkSink {
            tx,
            sent: 0,
            held: Vec::new(),
            pos: 0,
        }
    }

    fn end(&self) -> u64 {
        self.sent + self.held.len() as u64
    }
}

impl Write for ChunkSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let at = self
            .pos
            .checked_sub(self.sent)
            .and_then(|a| usize::try_from(a).ok())
            .filter(|&a| a <= self.held.len())
            .ok_or_else(|| std::io::Error::other("export: write before what was already sent"))?;
        let overlap = (self.held.len() - at).min(buf.len());
        self.held[at..at + overlap].copy_from_slice(&buf[..overlap]);
        self.held.extend_from_slice(&buf[overlap..]);
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.held));
        self.sent += chunk.len() as u64;
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

/// The ZIP writer asks for it (to copy files it already wrote, which this export never
/// does): only what is still held can be read back.
impl std::io::Read for ChunkSink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let at = self
            .pos
            .checked_sub(self.sent)
            .and_then(|a| usize::try_from(a).ok())
            .ok_or_else(|| std::io::Error::other("export: read of what was already sent"))?;
        let held = self.held.get(at..).unwrap_or_default();
        let n = held.len().min(buf.len());
        buf[..n].copy_from_slice(&held[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ChunkSink {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.end().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) if t <= self.end() => {
                self.pos = t;
                Ok(t)
            }
            _ => Err(std::io::Error::other("export: seek outside the archive")),
        }
    }
}

/// Maildir info suffix from IMAP flags (`:2,FRS`, letters in ASCII order).
fn maildir_info(flags: &str) -> String {
    let mut letters: Vec<char> = flags
        .split(' ')
        .filter_map(|f| match f {
            "\\Draft" => Some('D'),
            "\\Flagged" => Some('F'),
            "\\Answered" => Some('R'),
            "\\Seen" => Some('S'),
            "\\Deleted" => Some('T'),
            _ => None,
        })
        .collect();
    letters.sort_unstable();
    format!(":2,{}", letters.into_iter().collect::<String>())
}

/// A folder name as a maildir++ directory: INBOX is the root, others `.A.B`.
fn maildir_dir(folder: &str) -> String {
    if folder == INBOX {
        "Maildir".into()
    } else {
        let safe: String = folder
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' | '\\' | ':' => '_',
                c if c.is_control() => '_',
                c => c,
            })
            .collect();
        format!("Maildir/.{safe}")
    }
}

/// The selection as a ZIP of maildir folders (`cur/` with flags in the file names).
fn maildir_zip<W: Write + Seek + std::io::Read>(
    items: impl Iterator<Item = std::io::Result<Item>>,
    out: W,
) -> std::io::Result<W> {
    let mut zip = zip::ZipWriter::new(out);
    zip.set_flush_on_finish_file(true);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut dirs: Vec<String> = vec![];
    for it in items {
        let it = it?;
        let dir = maildir_dir(&it.folder);
        if !dirs.contains(&dir) {
            for sub in ["cur", "new", "tmp"] {
                zip.add_directory(format!("{dir}/{sub}/"), opts)?;
            }
            dirs.push(dir.clone());
        }
        let name = format!(
            "{dir}/cur/{}.{}.certa{}",
            it.internal_date,
            it.uid,
            maildir_info(&it.flags)
        );
        zip.start_file(name, opts)?;
        zip.write_all(&it.data)?;
    }
    let mut out = zip.finish()?;
    out.flush()?;
    Ok(out)
}

/// The selection as one mbox (mboxrd: `From ` lines quoted with `>`).
fn mbox(
    items: impl Iterator<Item = std::io::Result<Item>>,
    mut out: impl Write,
) -> std::io::Result<()> {
    for it in items {
        let it = it?;
        let date = chrono::DateTime::from_timestamp(it.internal_date, 0)
            .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_default();
        out.write_all(format!("From MAILER-DAEMON {date}\n").as_bytes())?;
        for line in it.data.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r\n").map_or(line, |l| l);
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let unquoted = body.iter().position(|&b| b != b'>').unwrap_or(body.len());
            if body[unquoted..].starts_with(b"From ") {
                out.write_all(b">")?;
            }
            out.write_all(body)?;
            out.write_all(b"\n")?;
        }
        out.write_all(b"\n")?;
        out.flush()?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(folder: &str, flags: &str, data: &[u8]) -> Item {
        Item {
            folder: folder.into(),
            uid: 7,
            flags: flags.into(),
            internal_date: 1_700_000_000,
            data: data.to_vec(),
        }
    }

    #[test]
    fn maildir_zip_reads_back() {
        let items = [
            item("INBOX", "\\Seen \\Flagged", b"Subject: a\r\n\r\nx\r\n"),
            item("Lavoro/2026", "", b"Subject: b\r\n\r\ny\r\n"),
        ];
        let bytes = maildir_zip(items.into_iter().map(Ok), std::io::Cursor::new(vec![]))
            .unwrap()
            .into_inner();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<String> = z.file_names().map(str::to_string).collect();
        assert!(
            names.contains(&"Maildir/cur/1700000000.7.certa:2,FS".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"Maildir/.Lavoro.2026/cur/1700000000.7.certa:2,".to_string()));
        let mut f = z.by_name("Maildir/cur/1700000000.7.certa:2,FS").unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "Subject: a\r\n\r\nx\r\n");
    }

    #[test]
    fn mbox_quotes_from_lines() {
        let mut m = vec![];
        let items = [item(
            "INBOX",
            "",
            b"Subject: a\r\n\r\nFrom here\r\n>From there\r\n",
        )];
        mbox(items.into_iter().map(Ok), &mut m).unwrap();
        let s = String::from_utf8(m).unwrap();
        assert!(s.starts_with("From MAILER-DAEMON "));
        assert!(s.contains("\n>From here\n>>From there\n"));
    }
}
