//! The POP3 command parser: one line from the wire to a [`Command`]. Pure (no I/O) and total:
//! every input gives a command or a [`ParseError`], never a panic (fuzzed by
//! `fuzz/fuzz_targets/pop3_command.rs`).
//!
//! RFC 1939 §3: a command is a case-insensitive keyword of three or four characters,
//! possibly followed by arguments separated by a single space, ended by CRLF. RFC 2449 §4
//! allows arguments of up to 255 octets; the session bounds the whole line (see
//! [`MAX_LINE`]).

use thiserror::Error;

/// The longest command line accepted, CRLF included. RFC 2449 §4 asks for 255 octets; an
/// `AUTH PLAIN` initial response with a long password needs more (RFC 5034 §4), so 512.
pub const MAX_LINE: usize = 512;

/// The longest argument (RFC 2449 §4: 255 octets).
const MAX_ARG: usize = 255;

/// One POP3 command (RFC 1939 §4–§7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 2449 §5.
    Capa,
    /// RFC 1939 §7: the mailbox name.
    User(String),
    /// RFC 1939 §7: the password, spaces included.
    Pass(String),
    /// RFC 5034 §4. `mechanism` is upper-cased; `None` asks for the list of mechanisms.
    /// `initial` is the initial response as sent (`=` stands for an empty one).
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    /// RFC 2595 §4.
    Stls,
    /// RFC 1939 §5.
    Stat,
    /// RFC 1939 §5: one message or all of them.
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    /// RFC 1939 §7: message number and number of body lines.
    Top(u32, u32),
    /// RFC 1939 §7: one message or all of them.
    Uidl(Option<u32>),
    Quit,
}

/// Why a line is not a command; the text is the human part of the `-ERR` answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("comando vuoto")]
    Empty,
    #[error("riga di comando troppo lunga")]
    TooLong,
    #[error("la riga di comando non è testo UTF-8 valido")]
    NotUtf8,
    #[error("caratteri di controllo non ammessi nella riga di comando")]
    Control,
    #[error("comando sconosciuto: {0}")]
    Unknown(String),
    #[error("APOP non è supportato: usare USER/PASS o AUTH PLAIN")]
    Apop,
    #[error("{0} non accetta argomenti")]
    UnexpectedArgument(&'static str),
    #[error("{0} richiede un argomento")]
    MissingArgument(&'static str),
    #[error("argomenti in eccesso per {0}")]
    TooManyArguments(&'static str),
    #[error("argomento troppo lungo")]
    ArgumentTooLong,
    #[error("numero non valido: {0}")]
    BadNumber(String),
}

/// Parses one command line, with or without its CRLF.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::TooLong);
    }
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    if line.chars().any(char::is_control) {
        return Err(ParseError::Control);
    }
    if line.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    let keyword = keyword.to_ascii_uppercase();
    match keyword.as_str() {
        "CAPA" => none(rest, "CAPA").map(|()| Command::Capa),
        "STLS" => none(rest, "STLS").map(|()| Command::Stls),
        "STAT" => none(rest, "STAT").map(|()| Command::Stat),
        "NOOP" => none(rest, "NOOP").map(|()| Command::Noop),
        "RSET" => none(rest, "RSET").map(|()| Command::Rset),
        "QUIT" => none(rest, "QUIT").map(|()| Command::Quit),
        "USER" => {
            let name = whole(rest, "USER")?.trim();
            if name.is_empty() {
                return Err(ParseError::MissingArgument("USER"));
            }
            Ok(Command::User(name.to_string()))
        }
        // RFC 1939 §7: spaces may be part of the password.
        "PASS" => whole(rest, "PASS").map(|p| Command::Pass(p.to_string())),
        "AUTH" => auth(rest),
        "LIST" => optional_number(rest, "LIST").map(Command::List),
        "UIDL" => optional_number(rest, "UIDL").map(Command::Uidl),
        "RETR" => one_number(rest, "RETR").map(Command::Retr),
        "DELE" => one_number(rest, "DELE").map(Command::Dele),
        "TOP" => {
            let args = words(rest)?;
            match args.as_slice() {
                [n, lines] => Ok(Command::Top(message_number(n)?, count(lines)?)),
                [] | [_] => Err(ParseError::MissingArgument("TOP")),
                _ => Err(ParseError::TooManyArguments("TOP")),
            }
        }
        "APOP" => Err(ParseError::Apop),
        _ => Err(ParseError::Unknown(printable(&keyword))),
    }
}

/// The keyword as it may be echoed in an answer: printable ASCII, at most 16 characters.
fn printable(keyword: &str) -> String {
    keyword
        .chars()
        .take(16)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn none(rest: Option<&str>, name: &'static str) -> Result<(), ParseError> {
    match rest {
        // Some clients end commands with a space: harmless.
        Some(r) if !r.trim().is_empty() => Err(ParseError::UnexpectedArgument(name)),
        _ => Ok(()),
    }
}

/// The rest of the line as one argument.
fn whole<'a>(rest: Option<&'a str>, name: &'static str) -> Result<&'a str, ParseError> {
    match rest {
        None => Err(ParseError::MissingArgument(name)),
        Some(r) if r.len() > MAX_ARG => Err(ParseError::ArgumentTooLong),
        Some(r) => Ok(r),
    }
}

/// Space-separated arguments (runs of spaces are tolerated).
fn words(rest: Option<&str>) -> Result<Vec<&str>, ParseError> {
    let Some(rest) = rest else {
        return Ok(vec![]);
    };
    let args: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    if args.iter().any(|a| a.len() > MAX_ARG) {
        return Err(ParseError::ArgumentTooLong);
    }
    Ok(args)
}

fn optional_number(rest: Option<&str>, name: &'static str) -> Result<Option<u32>, ParseError> {
    match words(rest)?.as_slice() {
        [] => Ok(None),
        [n] => message_number(n).map(Some),
        _ => Err(ParseError::TooManyArguments(name)),
    }
}

fn one_number(rest: Option<&str>, name: &'static str) -> Result<u32, ParseError> {
    match words(rest)?.as_slice() {
        [] => Err(ParseError::MissingArgument(name)),
        [n] => message_number(n),
        _ => Err(ParseError::TooManyArguments(name)),
    }
}

/// A non-negative decimal number (digits only, no sign).
fn count(s: &str) -> Result<u32, ParseError> {
    let bad = || ParseError::BadNumber(printable(s));
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// RFC 1939 §3: messages are numbered from 1.
fn message_number(s: &str) -> Result<u32, ParseError> {
    match count(s)? {
        0 => Err(ParseError::BadNumber(printable(s))),
        n => Ok(n),
    }
}

/// `AUTH`, `AUTH mechanism` or `AUTH mechanism initial-response` (RFC 5034 §4).
fn auth(rest: Option<&str>) -> Result<Command, ParseError> {
    match words(rest)?.as_slice() {
        [] => Ok(Command::Auth {
            mechanism: None,
            initial: None,
        }),
        [m] => Ok(Command::Auth {
            mechanism: Some(m.to_ascii_uppercase()),
            initial: None,
        }),
        [m, r] => Ok(Command::Auth {
            mechanism: Some(m.to_ascii_uppercase()),
            initial: Some(r.to_string()),
        }),
        _ => Err(ParseError::TooManyArguments("AUTH")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        assert_eq!(parse(b"CAPA\r\n"), Ok(Command::Capa));
        assert_eq!(parse(b"capa"), Ok(Command::Capa));
        assert_eq!(parse(b"Quit\n"), Ok(Command::Quit));
        assert_eq!(parse(b"NOOP \r\n"), Ok(Command::Noop));
        assert_eq!(parse(b"STLS\r\n"), Ok(Command::Stls));
        assert_eq!(
            parse(b"STAT x\r\n"),
            Err(ParseError::UnexpectedArgument("STAT"))
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse(b"LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 3\r\n"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"UIDL 12\r\n"), Ok(Command::Uidl(Some(12))));
        assert_eq!(parse(b"RETR 1\r\n"), Ok(Command::Retr(1)));
        assert_eq!(parse(b"dele 2\r\n"), Ok(Command::Dele(2)));
        assert_eq!(parse(b"TOP 1 0\r\n"), Ok(Command::Top(1, 0)));
        assert_eq!(parse(b"TOP 1 10\r\n"), Ok(Command::Top(1, 10)));
        assert!(matches!(
            parse(b"RETR 0\r\n"),
            Err(ParseError::BadNumber(_))
        ));
        assert!(matches!(
            parse(b"RETR -1\r\n"),
            Err(ParseError::BadNumber(_))
        ));
        assert!(matches!(
            parse(b"RETR +1\r\n"),
            Err(ParseError::BadNumber(_))
        ));
        assert!(matches!(
            parse(b"RETR 99999999999\r\n"),
            Err(ParseError::BadNumber(_))
        ));
        assert_eq!(parse(b"RETR\r\n"), Err(ParseError::MissingArgument("RETR")));
        assert_eq!(parse(b"TOP 1\r\n"), Err(ParseError::MissingArgument("TOP")));
        assert_eq!(
            parse(b"LIST 1 2\r\n"),
            Err(ParseError::TooManyArguments("LIST"))
        );
    }

    #[test]
    fn credentials() {
        assert_eq!(
            parse(b"USER utente@pec.example.it\r\n"),
            Ok(Command::User("utente@pec.example.it".into()))
        );
        assert_eq!(
            parse(b"PASS con spazi  \r\n"),
            Ok(Command::Pass("con spazi  ".into()))
        );
        assert_eq!(parse(b"PASS \r\n"), Ok(Command::Pass(String::new())));
        assert_eq!(parse(b"USER\r\n"), Err(ParseError::MissingArgument("USER")));
        assert_eq!(parse(b"PASS\r\n"), Err(ParseError::MissingArgument("PASS")));
        assert_eq!(parse(b"APOP u d\r\n"), Err(ParseError::Apop));
    }

    #[test]
    fn auth() {
        assert_eq!(
            parse(b"AUTH\r\n"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(
            parse(b"auth plain\r\n"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: None
            })
        );
        assert_eq!(
            parse(b"AUTH PLAIN AHVAcA==\r\n"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AHVAcA==".into())
            })
        );
    }

    #[test]
    fn garbage() {
        assert_eq!(parse(b"\r\n"), Err(ParseError::Empty));
        assert_eq!(parse(b"\xff\xfe\r\n"), Err(ParseError::NotUtf8));
        assert_eq!(parse(b"LI\0ST\r\n"), Err(ParseError::Control));
        assert_eq!(parse(b"LIST\r\r\n"), Err(ParseError::Control));
        assert_eq!(
            parse(b"HELO x\r\n"),
            Err(ParseError::Unknown("HELO".into()))
        );
        assert_eq!(parse(&[b'A'; MAX_LINE + 1]), Err(ParseError::TooLong));
        assert_eq!(
            parse(format!("USER {}\r\n", "a".repeat(300)).as_bytes()),
            Err(ParseError::ArgumentTooLong)
        );
        // The keyword echoed back is bounded and printable.
        let Err(ParseError::Unknown(k)) = parse("ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ\r\n".as_bytes())
        else {
            panic!("not unknown");
        };
        assert_eq!(k, "?".repeat(16));
    }
}
