//! Downloads of a selection: a maildir ZIP ("Azioni > Scarica > Formato maildir (.zip)")
//! and an mbox file, both readable by any mail client.

use crate::WebError;
use std::io::Write;

pub struct Item {
    pub folder: String,
    pub uid: i64,
    /// Space-separated IMAP flags.
    pub flags: String,
    pub internal_date: i64,
    pub data: Vec<u8>,
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
    if folder == store::INBOX {
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
pub fn maildir_zip(items: &[Item]) -> Result<Vec<u8>, WebError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let err = |e: zip::result::ZipError| WebError::Internal(e.to_string());
    let mut dirs: Vec<String> = vec![];
    for it in items {
        let dir = maildir_dir(&it.folder);
        if !dirs.contains(&dir) {
            for sub in ["cur", "new", "tmp"] {
                zip.add_directory(format!("{dir}/{sub}/"), opts)
                    .map_err(err)?;
            }
            dirs.push(dir.clone());
        }
        let name = format!(
            "{dir}/cur/{}.{}.certa{}",
            it.internal_date,
            it.uid,
            maildir_info(&it.flags)
        );
        zip.start_file(name, opts).map_err(err)?;
        zip.write_all(&it.data)
            .map_err(|e| WebError::Internal(e.to_string()))?;
    }
    Ok(zip.finish().map_err(err)?.into_inner())
}

/// The selection as one mbox (mboxrd: `From ` lines quoted with `>`).
pub fn mbox(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for it in items {
        let date = chrono::DateTime::from_timestamp(it.internal_date, 0)
            .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_default();
        out.extend_from_slice(format!("From MAILER-DAEMON {date}\n").as_bytes());
        for line in it.data.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r\n").map_or(line, |l| l);
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let unquoted = body.iter().position(|&b| b != b'>').unwrap_or(body.len());
            if body[unquoted..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(body);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
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
        let bytes = maildir_zip(&items).unwrap();
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
        let m = mbox(&[item(
            "INBOX",
            "",
            b"Subject: a\r\n\r\nFrom here\r\n>From there\r\n",
        )]);
        let s = String::from_utf8(m).unwrap();
        assert!(s.starts_with("From MAILER-DAEMON "));
        assert!(s.contains("\n>From here\n>>From there\n"));
    }
}
