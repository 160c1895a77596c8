//! IMAP4rev1 server responses (RFC 3501 §7, §9; RFC 9051 §7), parsed from bytes the server
//! sent — bytes of a server that is not trusted. Pure and synchronous: [`parse`] is given a
//! buffer and answers "need more bytes" (`Ok(None)`), one complete response and how many bytes
//! it took, or an error; it never panics, whatever the bytes.
//!
//! Two steps. [`Framer`] finds where a response ends: lines, each ending in CRLF, where a
//! line ending in a literal's `{n}` / `~{n}` (RFC 3501 §4.3, RFC 3516 literal8) is followed by
//! `n` bytes and then more of the response. It checks each literal's count against
//! [`Limits::max_literal`] as soon as the count is read — before any byte of the literal is
//! buffered — and the text outside literals against [`Limits::max_line`]. It keeps its
//! position, so more bytes continue the scan instead of starting it again. Then the parser
//! reads the framed response. The reader (`crate::reader`) frames as bytes arrive and moves
//! a literal that is not all there yet out of its buffer into a vector of exactly its size
//! ("out of band"); the parser takes such literals from the queue it is given.

use crate::Limits;
use std::collections::VecDeque;

/// Why bytes are not a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// A literal, the literals of one response together, or the text of one response outside
    /// its literals, over the limit.
    TooLarge { limit: usize },
    /// Not a response by RFC 3501 §9's grammar: what was wrong.
    Malformed(String),
}

fn malformed<T>(what: &str) -> Result<T, WireError> {
    Err(WireError::Malformed(what.to_string()))
}

/// One server response (RFC 3501 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `A3 OK [CODE …] text`: a command's completion (RFC 3501 §7.1).
    Tagged {
        tag: Vec<u8>,
        status: Status,
        text: RespText,
    },
    /// `* …` (RFC 3501 §7.1–§7.4).
    Untagged(Untagged),
    /// `+ …`: the server waits for the rest of the command (RFC 3501 §7.5); what follows `+ `.
    Continuation(Vec<u8>),
}

/// A status response's condition (RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    /// Only untagged: the greeting of a connection already authenticated (§7.1.4).
    Preauth,
    /// Only untagged: the server is closing the connection (§7.1.5).
    Bye,
}

/// `["[" resp-text-code "]" SP] text` (RFC 3501 §9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespText {
    pub code: Option<Code>,
    /// The human-readable text, as sent (CR and LF excluded).
    pub text: Vec<u8>,
}

/// A response code (RFC 3501 §7.1, RFC 5530).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[CAPABILITY …]`: the atoms, upper-cased.
    Capability(Vec<String>),
    /// `[UIDVALIDITY n]` (§2.3.1.1); 0 is kept for the client to refuse.
    UidValidity(u32),
    /// `[UIDNEXT n]`.
    UidNext(u32),
    /// Any other code by its atom, upper-cased (`UNAVAILABLE`, `LIMIT`,
    /// `AUTHENTICATIONFAILED`, `READ-ONLY`, `ALERT` …); its arguments are skipped.
    Other(String),
}

/// The untagged responses the client uses; every other one is [`Untagged::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text` (§7.1).
    Status { status: Status, text: RespText },
    /// `* CAPABILITY …` (§7.2.1): the atoms, upper-cased.
    Capability(Vec<String>),
    /// `* LIST (attributes) delimiter name` (§7.2.2).
    List(ListEntry),
    /// `* SEARCH n n n` (§7.2.5).
    Search(Vec<u32>),
    /// `* ESEARCH (TAG "A4") UID ALL 1:3,5` (RFC 4731 §3.1).
    Esearch(Esearch),
    /// `* n EXISTS` (§7.3.1).
    Exists(u32),
    /// `* n EXPUNGE` (§7.4.1).
    Expunge(u32),
    /// `* n FETCH (…)` (§7.4.2).
    Fetch { seq: u32, items: FetchItems },
    /// Anything else (`RECENT`, `FLAGS`, `LSUB`, `STATUS`, `ENABLED`, `ID` …), by its keyword
    /// upper-cased; the rest of it is skipped.
    Other(String),
}

/// One `* LIST` entry (RFC 3501 §7.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// `\Noselect`, `\HasNoChildren`, `\Sent` … as sent.
    pub attributes: Vec<String>,
    /// The hierarchy delimiter; `None` for NIL (a flat namespace).
    pub delimiter: Option<u8>,
    /// The name as on the wire, after unquoting or from its literal.
    pub name: Vec<u8>,
}

/// One `* ESEARCH` (RFC 4731 §3.1): what the client needs of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Esearch {
    /// The correlator `(TAG "A4")`: which command it answers.
    pub tag: Option<Vec<u8>>,
    /// Whether the numbers are UIDs (the `UID` indicator).
    pub uid: bool,
    /// `ALL`'s sequence set as ranges `(low, high)`, `low <= high`.
    pub all: Vec<(u32, u32)>,
}

/// The data items of one FETCH response the client asks for (RFC 3501 §7.4.2); others are
/// skipped. An item sent twice: the first is kept, except a second UID that differs, which
/// is an error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchItems {
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    /// INTERNALDATE's text, for `crate::date`.
    pub internal_date: Option<Vec<u8>>,
    pub rfc822_size: Option<u64>,
    /// `BODY[]` (or `BODY[]<0>`) exactly as sent; NIL is left out.
    pub body: Option<Vec<u8>>,
}

/// Literals the reader took out of its buffer, by their position in the frame (where their
/// bytes would have started).
pub(crate) type OutOfBand = VecDeque<(usize, Vec<u8>)>;

/// Parses one response from the start of `buf`: `Ok(None)` when `buf` holds only part of one.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Response, usize)>, WireError> {
    let mut framer = Framer::default();
    loop {
        match framer.advance(buf, limits.max_line, limits.max_literal)? {
            Step::NeedMore => return Ok(None),
            Step::Literal(len) => {
                if buf.len().saturating_sub(framer.position()) < len {
                    return Ok(None);
                }
                framer.skip_literal(len);
            }
            Step::Complete(end) => {
                let frame = buf
                    .get(..end)
                    .ok_or_else(|| WireError::Malformed("frame past the buffer".to_string()))?;
                let response = parse_frame(frame, &mut OutOfBand::new())?;
                return Ok(Some((response, end)));
            }
        }
    }
}

/// Where the framer got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The response is the first `n` bytes.
    Complete(usize),
    /// The bytes so far end inside a line.
    NeedMore,
    /// A literal of this many bytes starts at [`Framer::position`]: skip it with
    /// [`Framer::skip_literal`] when its bytes are in the buffer, or take them out of band.
    Literal(usize),
}

/// Finds the end of one response, incrementally (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Bytes of the frame looked at.
    scanned: usize,
    /// Where the line being scanned began.
    line_start: usize,
    /// Text (outside literals) of the lines completed so far.
    text_bytes: usize,
    /// The literals announced so far.
    literal_bytes: usize,
}

impl Framer {
    /// Continues over `frame` (the same bytes as before, perhaps with more at the end; the
    /// bytes of out-of-band literals not in it).
    pub(crate) fn advance(
        &mut self,
        frame: &[u8],
        line_limit: usize,
        literal_limit: usize,
    ) -> Result<Step, WireError> {
        let unscanned = frame.get(self.scanned..).unwrap_or_default();
        let Some(newline) = unscanned.iter().position(|&b| b == b'\n') else {
            self.scanned = frame.len().max(self.scanned);
            let line = self.scanned.saturating_sub(self.line_start);
            if self.text_bytes.saturating_add(line) > line_limit {
                return Err(WireError::TooLarge { limit: line_limit });
            }
            return Ok(Step::NeedMore);
        };
        let end = self.scanned + newline + 1;
        let line = frame.get(self.line_start..end).unwrap_or_default();
        self.text_bytes = self.text_bytes.saturating_add(line.len());
        if self.text_bytes > line_limit {
            return Err(WireError::TooLarge { limit: line_limit });
        }
        self.scanned = end;
        self.line_start = end;
        match literal_at_end(line) {
            LiteralMarker::None => Ok(Step::Complete(end)),
            LiteralMarker::Overflow => Err(WireError::TooLarge {
                limit: literal_limit,
            }),
            LiteralMarker::Count(n) => {
                self.literal_bytes = self.literal_bytes.saturating_add(n);
                if n > literal_limit || self.literal_bytes > literal_limit {
                    return Err(WireError::TooLarge {
                        limit: literal_limit,
                    });
                }
                Ok(Step::Literal(n))
            }
        }
    }

    /// Where the next unscanned byte (the literal after [`Step::Literal`]) is.
    pub(crate) fn position(&self) -> usize {
        self.scanned
    }

    /// The literal's bytes are in the frame: scanning continues after them.
    pub(crate) fn skip_literal(&mut self, len: usize) {
        self.scanned = self.scanned.saturating_add(len);
        self.line_start = self.scanned;
    }
}

enum LiteralMarker {
    None,
    Count(usize),
    /// More digits than any count: over every limit.
    Overflow,
}

/// Whether a line (ending in `\n`) ends with a literal's `{n}\r\n` (or `{n+}`, `~{n}`).
fn literal_at_end(line: &[u8]) -> LiteralMarker {
    let Some(before) = line.strip_suffix(b"}\r\n") else {
        return LiteralMarker::None;
    };
    let before = before.strip_suffix(b"+").unwrap_or(before);
    let digits = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let Some((head, digits)) = before
        .len()
        .checked_sub(digits)
        .map(|at| before.split_at(at))
    else {
        return LiteralMarker::None;
    };
    if digits.is_empty() || head.last() != Some(&b'{') {
        return LiteralMarker::None;
    }
    let mut n: usize = 0;
    for &d in digits {
        match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d - b'0')))
        {
            Some(next) => n = next,
            None => return LiteralMarker::Overflow,
        }
    }
    LiteralMarker::Count(n)
}

/// The deepest nesting of parenthesised lists accepted.
pub const MAX_DEPTH: usize = 32;

/// Parses one framed response (from [`Framer`]), taking out-of-band literals from `literals`.
pub(crate) fn parse_frame(frame: &[u8], literals: &mut OutOfBand) -> Result<Response, WireError> {
    let mut p = Parser {
        frame,
        pos: 0,
        literals,
    };
    let response = p.response()?;
    if p.pos != frame.len() {
        return malformed("bytes after the end of the response");
    }
    Ok(response)
}

struct Parser<'a, 'q> {
    frame: &'a [u8],
    pos: usize,
    literals: &'q mut OutOfBand,
}

/// RFC 3501 §9 ATOM-CHAR, leniently: 8-bit bytes are accepted (kept, then decoded lossily).
fn is_atom_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !b"(){%*\"\\]".contains(&b)
}

/// ASTRING-CHAR (ATOM-CHAR or `]`); for mailbox names also the list wildcards `%` and `*`.
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']' || b == b'%' || b == b'*'
}

fn upper(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_uppercase()
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.frame.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), WireError> {
        if self.bump() == Some(byte) {
            Ok(())
        } else {
            Err(WireError::Malformed(format!("expected {what}")))
        }
    }

    fn sp(&mut self) -> Result<(), WireError> {
        self.expect(b' ', "a space")
    }

    fn crlf(&mut self) -> Result<(), WireError> {
        self.expect(b'\r', "CRLF")?;
        self.expect(b'\n', "CRLF")
    }

    fn at_crlf(&self) -> bool {
        self.peek() == Some(b'\r')
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.frame.get(self.pos..).unwrap_or_default();
        let n = rest.iter().take_while(|&&b| keep(b)).count();
        self.pos += n;
        rest.get(..n).unwrap_or_default()
    }

    fn atom(&mut self) -> Result<&'a [u8], WireError> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            return malformed("expected an atom");
        }
        Ok(atom)
    }

    /// The rest of the line, up to CRLF (consumed).
    fn rest_of_line(&mut self) -> Result<Vec<u8>, WireError> {
        let text = self.take_while(|b| b != b'\r' && b != b'\n').to_vec();
        self.crlf()?;
        Ok(text)
    }

    fn number_u64(&mut self) -> Result<u64, WireError> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return malformed("expected a number");
        }
        digits.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| WireError::Malformed("number too big".to_string()))
        })
    }

    fn number(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.number_u64()?)
            .map_err(|_| WireError::Malformed("number over 32 bits".to_string()))
    }

    /// nz-number (RFC 3501 §9): no zero.
    fn nz_number(&mut self) -> Result<u32, WireError> {
        match self.number()? {
            0 => malformed("zero where a non-zero number must be"),
            n => Ok(n),
        }
    }

    /// `"…"` with `\\` and `\"` (RFC 3501 §4.3); other bytes, 8-bit too, kept as they are.
    fn quoted(&mut self) -> Result<Vec<u8>, WireError> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => match self.bump() {
                    Some(escaped @ (b'\\' | b'"')) => out.push(escaped),
                    _ => return malformed("a bad escape in a quoted string"),
                },
                Some(b'\r' | b'\n') | None => return malformed("an unterminated quoted string"),
                Some(b) => out.push(b),
            }
        }
    }

    /// `{n}\r\n` + n bytes, or literal8 `~{n}` (RFC 3516), `{n+}` accepted too.
    fn literal(&mut self) -> Result<Vec<u8>, WireError> {
        if self.peek() == Some(b'~') {
            self.pos += 1;
        }
        self.expect(b'{', "a literal")?;
        let n = usize::try_from(self.number_u64()?)
            .map_err(|_| WireError::Malformed("literal count too big".to_string()))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "a literal's }")?;
        self.crlf()?;
        if let Some((at, _)) = self.literals.front() {
            if *at == self.pos {
                let Some((_, bytes)) = self.literals.pop_front() else {
                    return malformed("a literal missing");
                };
                if bytes.len() != n {
                    return malformed("a literal of the wrong length");
                }
                return Ok(bytes);
            }
        }
        let end = self.pos.saturating_add(n);
        let bytes = self
            .frame
            .get(self.pos..end)
            .ok_or_else(|| WireError::Malformed("a literal cut short".to_string()))?;
        self.pos = end;
        Ok(bytes.to_vec())
    }

    fn at_literal(&self) -> bool {
        match self.peek() {
            Some(b'{') => true,
            Some(b'~') => self.frame.get(self.pos + 1) == Some(&b'{'),
            _ => false,
        }
    }

    /// string (RFC 3501 §9): quoted or literal.
    fn string(&mut self) -> Result<Vec<u8>, WireError> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal()
        } else {
            malformed("expected a string")
        }
    }

    fn is_nil(&self) -> bool {
        self.frame
            .get(self.pos..self.pos + 3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"NIL"))
            && !self
                .frame
                .get(self.pos + 3)
                .copied()
                .is_some_and(is_atom_char)
    }

    /// nstring: a string or NIL (`None`).
    fn nstring(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if self.is_nil() {
            self.pos += 3;
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// astring: a string or 1*ASTRING-CHAR.
    fn astring(&mut self) -> Result<Vec<u8>, WireError> {
        if self.peek() == Some(b'"') || self.at_literal() {
            return self.string();
        }
        let atom = self.take_while(is_astring_char);
        if atom.is_empty() {
            return malformed("expected an astring");
        }
        Ok(atom.to_vec())
    }

    /// A flag (`\Seen`, `$Label1`, `\*`) or a mailbox attribute.
    fn flag(&mut self) -> Result<String, WireError> {
        let start = self.pos;
        if self.peek() == Some(b'\\') {
            self.pos += 1;
            if self.peek() == Some(b'*') {
                self.pos += 1;
                return Ok("\\*".to_string());
            }
        }
        self.atom()?;
        let flag = self.frame.get(start..self.pos).unwrap_or_default();
        Ok(String::from_utf8_lossy(flag).into_owned())
    }

    /// `(flag *(SP flag))`, spaces tolerated where they should not be.
    fn flag_list(&mut self) -> Result<Vec<String>, WireError> {
        self.expect(b'(', "a parenthesised list")?;
        let mut flags = Vec::new();
        loop {
            self.take_while(|b| b == b' ');
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(flags);
            }
            flags.push(self.flag()?);
        }
    }

    /// Skips one value of any shape: a list (nested at most [`MAX_DEPTH`]), a string, a
    /// literal, or a bare token (atom, number, NIL, flag).
    fn skip_value(&mut self, depth: usize) -> Result<(), WireError> {
        match self.peek() {
            Some(b'(') => {
                if depth >= MAX_DEPTH {
                    return malformed("lists nested too deep");
                }
                self.pos += 1;
                loop {
                    self.take_while(|b| b == b' ');
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        return Ok(());
                    }
                    self.skip_value(depth + 1)?;
                }
            }
            Some(b'"') => self.quoted().map(drop),
            _ if self.at_literal() => self.literal().map(drop),
            _ => {
                let token = self.take_while(|b| b > b' ' && b != 0x7f && !b"()\"{".contains(&b));
                if token.is_empty() {
                    return malformed("expected a value");
                }
                Ok(())
            }
        }
    }

    /// Skips what is left of the response (an extension, a response not used).
    fn skip_to_end(&mut self) -> Result<(), WireError> {
        loop {
            self.take_while(|b| b == b' ');
            if self.at_crlf() {
                return self.crlf();
            }
            self.skip_value(0)?;
        }
    }

    fn response(&mut self) -> Result<Response, WireError> {
        match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                self.sp()?;
                self.untagged().map(Response::Untagged)
            }
            Some(b'+') => {
                self.pos += 1;
                if self.peek() == Some(b' ') {
                    self.pos += 1;
                }
                self.rest_of_line().map(Response::Continuation)
            }
            _ => {
                let tag = self.take_while(|b| is_astring_char(b) && b != b'+' && b != b'*');
                if tag.is_empty() {
                    return malformed("expected a tag, * or +");
                }
                self.sp()?;
                let status = match upper(self.atom()?).as_str() {
                    "OK" => Status::Ok,
                    "NO" => Status::No,
                    "BAD" => Status::Bad,
                    _ => return malformed("a tagged response that is not OK, NO or BAD"),
                };
                let text = self.resp_text()?;
                Ok(Response::Tagged {
                    tag: tag.to_vec(),
                    status,
                    text,
                })
            }
        }
    }

    fn untagged(&mut self) -> Result<Untagged, WireError> {
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            let n = self.number()?;
            self.sp()?;
            let keyword = upper(self.atom()?);
            return match keyword.as_str() {
                "EXISTS" => self.crlf().map(|()| Untagged::Exists(n)),
                "EXPUNGE" => self.crlf().map(|()| Untagged::Expunge(n)),
                "FETCH" => {
                    self.sp()?;
                    let items = self.fetch_items()?;
                    self.crlf()?;
                    Ok(Untagged::Fetch { seq: n, items })
                }
                _ => self.skip_to_end().map(|()| Untagged::Other(keyword)),
            };
        }
        let keyword = upper(self.atom()?);
        let status = match keyword.as_str() {
            "OK" => Some(Status::Ok),
            "NO" => Some(Status::No),
            "BAD" => Some(Status::Bad),
            "PREAUTH" => Some(Status::Preauth),
            "BYE" => Some(Status::Bye),
            _ => None,
        };
        if let Some(status) = status {
            let text = self.resp_text()?;
            return Ok(Untagged::Status { status, text });
        }
        match keyword.as_str() {
            "CAPABILITY" => {
                let atoms = self.capabilities(b'\r')?;
                self.crlf()?;
                Ok(Untagged::Capability(atoms))
            }
            "LIST" => {
                self.sp()?;
                self.list_entry().map(Untagged::List)
            }
            "SEARCH" => self.search().map(Untagged::Search),
            "ESEARCH" => self.esearch().map(Untagged::Esearch),
            "EXISTS" | "RECENT" | "EXPUNGE" | "FETCH" => malformed("a message number missing"),
            _ => self.skip_to_end().map(|()| Untagged::Other(keyword)),
        }
    }

    /// Capability atoms up to `end` (CR, or `]` in a code), upper-cased.
    fn capabilities(&mut self, end: u8) -> Result<Vec<String>, WireError> {
        let mut atoms = Vec::new();
        loop {
            self.take_while(|b| b == b' ');
            if self.peek() == Some(end) {
                return Ok(atoms);
            }
            atoms.push(upper(self.atom()?));
        }
    }

    /// `["[" resp-text-code "]" [SP]] text CRLF` (RFC 3501 §9); the text may be empty.
    fn resp_text(&mut self) -> Result<RespText, WireError> {
        if self.peek() == Some(b' ') {
            self.pos += 1;
        }
        let mut code = None;
        if self.peek() == Some(b'[') {
            self.pos += 1;
            code = Some(self.code()?);
            self.expect(b']', "] after a response code")?;
            if self.peek() == Some(b' ') {
                self.pos += 1;
            }
        }
        let text = self.rest_of_line()?;
        Ok(RespText { code, text })
    }

    fn code(&mut self) -> Result<Code, WireError> {
        let name = upper(self.atom()?);
        let code = match name.as_str() {
            "CAPABILITY" => Code::Capability(self.capabilities(b']')?),
            "UIDVALIDITY" => {
                self.sp()?;
                Code::UidValidity(self.number()?)
            }
            "UIDNEXT" => {
                self.sp()?;
                Code::UidNext(self.number()?)
            }
            _ => {
                self.take_while(|b| b != b']' && b != b'\r' && b != b'\n');
                Code::Other(name)
            }
        };
        Ok(code)
    }

    /// `(attributes) SP delimiter SP name [SP extended data]` (RFC 3501 §7.2.2, RFC 5258).
    fn list_entry(&mut self) -> Result<ListEntry, WireError> {
        let attributes = self.flag_list()?;
        self.sp()?;
        let delimiter = match self.nstring()? {
            None => None,
            Some(d) => match d.as_slice() {
                [byte] => Some(*byte),
                _ => return malformed("a hierarchy delimiter that is not one character"),
            },
        };
        self.sp()?;
        let name = self.astring()?;
        if self.at_crlf() {
            self.crlf()?;
        } else {
            self.sp()?;
            self.skip_to_end()?;
        }
        Ok(ListEntry {
            attributes,
            delimiter,
            name,
        })
    }

    /// `*(SP nz-number) [SP "(" "MODSEQ" SP n ")"] CRLF` (RFC 3501 §7.2.5, RFC 7162).
    fn search(&mut self) -> Result<Vec<u32>, WireError> {
        let mut numbers = Vec::new();
        loop {
            self.take_while(|b| b == b' ');
            match self.peek() {
                Some(b'\r') => {
                    self.crlf()?;
                    return Ok(numbers);
                }
                Some(b'(') => self.skip_value(0)?,
                _ => numbers.push(self.nz_number()?),
            }
        }
    }

    /// RFC 4731 §3.1: `[SP "(" "TAG" SP tag-string ")"] [SP "UID"] *(SP search-return-data)`.
    fn esearch(&mut self) -> Result<Esearch, WireError> {
        let mut result = Esearch::default();
        self.take_while(|b| b == b' ');
        if self.peek() == Some(b'(') {
            self.pos += 1;
            if upper(self.atom()?) != "TAG" {
                return malformed("an ESEARCH correlator that is not TAG");
            }
            self.sp()?;
            result.tag = Some(self.string()?);
            self.expect(b')', ") after the ESEARCH correlator")?;
        }
        loop {
            self.take_while(|b| b == b' ');
            if self.at_crlf() {
                self.crlf()?;
                return Ok(result);
            }
            let name = upper(self.atom()?);
            if name == "UID" {
                result.uid = true;
                continue;
            }
            self.sp()?;
            match name.as_str() {
                "ALL" => {
                    let set = self.sequence_set()?;
                    result.all.extend(set);
                }
                "MIN" | "MAX" | "COUNT" => {
                    self.number()?;
                }
                _ => self.skip_value(0)?,
            }
        }
    }

    /// A sequence set of numbers (`1:3,5,9:7`; `*` is refused: a result has no `*`).
    fn sequence_set(&mut self) -> Result<Vec<(u32, u32)>, WireError> {
        let mut ranges = Vec::new();
        loop {
            let low = self.nz_number()?;
            let high = if self.peek() == Some(b':') {
                self.pos += 1;
                self.nz_number()?
            } else {
                low
            };
            ranges.push((low.min(high), low.max(high)));
            if self.peek() != Some(b',') {
                return Ok(ranges);
            }
            self.pos += 1;
        }
    }

    /// `"(" msg-att *(SP msg-att) ")"` (RFC 3501 §7.4.2).
    fn fetch_items(&mut self) -> Result<FetchItems, WireError> {
        self.expect(b'(', "( to open FETCH data")?;
        let mut items = FetchItems::default();
        loop {
            self.take_while(|b| b == b' ');
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(items);
            }
            self.fetch_item(&mut items)?;
        }
    }

    fn fetch_item(&mut self, items: &mut FetchItems) -> Result<(), WireError> {
        let name = upper(self.take_while(|b| is_atom_char(b) && b != b'['));
        if name.is_empty() {
            return malformed("expected a FETCH data item");
        }
        // A section `[…]` (its header lists may hold spaces and parentheses) and an origin `<n>`.
        let mut section = None;
        let mut origin = None;
        if self.peek() == Some(b'[') {
            self.pos += 1;
            section = Some(self.take_while(|b| b != b']' && b != b'\r' && b != b'\n'));
            self.expect(b']', "] to close a section")?;
            if self.peek() == Some(b'<') {
                self.pos += 1;
                origin = Some(self.number()?);
                self.expect(b'>', "> to close an origin")?;
            }
        }
        self.sp()?;
        match (name.as_str(), section, origin) {
            ("UID", None, None) => {
                let uid = self.nz_number()?;
                match items.uid {
                    Some(earlier) if earlier != uid => {
                        return malformed("two different UIDs in one FETCH response")
                    }
                    _ => items.uid = Some(uid),
                }
            }
            ("FLAGS", None, None) => {
                let flags = self.flag_list()?;
                items.flags.get_or_insert(flags);
            }
            ("INTERNALDATE", None, None) => {
                let date = self.string()?;
                items.internal_date.get_or_insert(date);
            }
            ("RFC822.SIZE", None, None) => {
                let size = self.number_u64()?;
                items.rfc822_size.get_or_insert(size);
            }
            ("BODY", Some([]), None | Some(0)) => {
                if let Some(body) = self.nstring()? {
                    items.body.get_or_insert(body);
                }
            }
            _ => self.skip_value(0)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_literal: 1024,
            max_line: 512,
        }
    }

    /// Parses one complete response that must take all of `bytes`.
    fn one(bytes: &[u8]) -> Response {
        match parse(bytes, &limits()) {
            Ok(Some((response, used))) => {
                assert_eq!(used, bytes.len(), "{}", String::from_utf8_lossy(bytes));
                response
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn untagged(bytes: &[u8]) -> Untagged {
        match one(bytes) {
            Response::Untagged(u) => u,
            other => panic!("{other:?}"),
        }
    }

    fn fetch(bytes: &[u8]) -> FetchItems {
        match untagged(bytes) {
            Untagged::Fetch { items, .. } => items,
            other => panic!("{other:?}"),
        }
    }

    fn error(bytes: &[u8]) -> WireError {
        match parse(bytes, &limits()) {
            Err(e) => e,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn is_malformed(bytes: &[u8]) -> bool {
        matches!(error(bytes), WireError::Malformed(_))
    }

    #[test]
    fn tagged_responses_with_and_without_codes() {
        assert_eq!(
            one(b"A3 OK [READ-ONLY] EXAMINE completed\r\n"),
            Response::Tagged {
                tag: b"A3".to_vec(),
                status: Status::Ok,
                text: RespText {
                    code: Some(Code::Other("READ-ONLY".into())),
                    text: b"EXAMINE completed".to_vec()
                }
            }
        );
        assert_eq!(
            one(b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
            Response::Tagged {
                tag: b"A1".to_vec(),
                status: Status::No,
                text: RespText {
                    code: Some(Code::Other("AUTHENTICATIONFAILED".into())),
                    text: b"Authentication failed.".to_vec()
                }
            }
        );
        assert_eq!(
            one(b"a7 bad nope\r\n"),
            Response::Tagged {
                tag: b"a7".to_vec(),
                status: Status::Bad,
                text: RespText {
                    code: None,
                    text: b"nope".to_vec()
                }
            }
        );
        // No text at all, and a code with arguments.
        assert_eq!(
            one(b"A2 OK\r\n"),
            Response::Tagged {
                tag: b"A2".to_vec(),
                status: Status::Ok,
                text: RespText::default()
            }
        );
        let Response::Tagged { text, .. } =
            one(b"A2 OK [CAPABILITY IMAP4rev1 LITERAL+ auth=plain] Logged in\r\n")
        else {
            panic!()
        };
        assert_eq!(
            text.code,
            Some(Code::Capability(vec![
                "IMAP4REV1".into(),
                "LITERAL+".into(),
                "AUTH=PLAIN".into()
            ]))
        );
        assert_eq!(text.text, b"Logged in");
    }

    #[test]
    fn untagged_status_capability_and_continuation() {
        assert_eq!(
            untagged(b"* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE] Dovecot ready.\r\n"),
            Untagged::Status {
                status: Status::Ok,
                text: RespText {
                    code: Some(Code::Capability(vec![
                        "IMAP4REV1".into(),
                        "SASL-IR".into(),
                        "ID".into(),
                        "ENABLE".into(),
                        "IDLE".into()
                    ])),
                    text: b"Dovecot ready.".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* PREAUTH welcome\r\n"),
            Untagged::Status {
                status: Status::Preauth,
                text: RespText {
                    code: None,
                    text: b"welcome".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* BYE [UNAVAILABLE] Too many connections\r\n"),
            Untagged::Status {
                status: Status::Bye,
                text: RespText {
                    code: Some(Code::Other("UNAVAILABLE".into())),
                    text: b"Too many connections".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
            Untagged::Status {
                status: Status::Ok,
                text: RespText {
                    code: Some(Code::UidValidity(3_857_529_045)),
                    text: b"UIDs valid".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* OK [UIDNEXT 4392] Predicted next UID\r\n"),
            Untagged::Status {
                status: Status::Ok,
                text: RespText {
                    code: Some(Code::UidNext(4392)),
                    text: b"Predicted next UID".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"),
            Untagged::Status {
                status: Status::Ok,
                text: RespText {
                    code: Some(Code::Other("PERMANENTFLAGS".into())),
                    text: b"Limited".to_vec()
                }
            }
        );
        assert_eq!(
            untagged(b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"),
            Untagged::Capability(vec![
                "IMAP4REV1".into(),
                "STARTTLS".into(),
                "AUTH=GSSAPI".into(),
                "LOGINDISABLED".into()
            ])
        );
        assert_eq!(
            one(b"+ Ready\r\n"),
            Response::Continuation(b"Ready".to_vec())
        );
        assert_eq!(one(b"+\r\n"), Response::Continuation(Vec::new()));
    }

    #[test]
    fn mailbox_sizes_expunges_and_other_untagged_responses() {
        assert_eq!(untagged(b"* 172 EXISTS\r\n"), Untagged::Exists(172));
        assert_eq!(untagged(b"* 0 EXISTS\r\n"), Untagged::Exists(0));
        assert_eq!(untagged(b"* 44 EXPUNGE\r\n"), Untagged::Expunge(44));
        assert_eq!(
            untagged(b"* 1 RECENT\r\n"),
            Untagged::Other("RECENT".into())
        );
        assert_eq!(
            untagged(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n"),
            Untagged::Other("FLAGS".into())
        );
        assert_eq!(
            untagged(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"),
            Untagged::Other("STATUS".into())
        );
        assert_eq!(
            untagged(b"* ID (\"name\" \"Dovecot\" \"x\" NIL)\r\n"),
            Untagged::Other("ID".into())
        );
        // An unknown response holding a literal.
        assert_eq!(
            untagged(b"* XSTRANGE {3}\r\nabc (1 2)\r\n"),
            Untagged::Other("XSTRANGE".into())
        );
    }

    #[test]
    fn list_entries_quoted_atom_literal_and_nil_delimiter() {
        assert_eq!(
            untagged(b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
            Untagged::List(ListEntry {
                attributes: vec!["\\HasNoChildren".into()],
                delimiter: Some(b'/'),
                name: b"INBOX".to_vec()
            })
        );
        assert_eq!(
            untagged(b"* LIST (\\HasNoChildren \\Sent) \".\" \"Posta inviata\"\r\n"),
            Untagged::List(ListEntry {
                attributes: vec!["\\HasNoChildren".into(), "\\Sent".into()],
                delimiter: Some(b'.'),
                name: b"Posta inviata".to_vec()
            })
        );
        assert_eq!(
            untagged(b"* LIST () \"\\\\\" \"a \\\"b\\\" \\\\ c\"\r\n"),
            Untagged::List(ListEntry {
                attributes: vec![],
                delimiter: Some(b'\\'),
                name: b"a \"b\" \\ c".to_vec()
            })
        );
        // 11 bytes are the name: an "x" after them is not part of the response.
        assert!(is_malformed(
            b"* LIST (\\Noselect) NIL {11}\r\nPerch&AOk-/x\r\n"
        ));
        assert_eq!(
            untagged(b"* LIST (\\Noselect) NIL {11}\r\nPerch&AOk-/\r\n"),
            Untagged::List(ListEntry {
                attributes: vec!["\\Noselect".into()],
                delimiter: None,
                name: b"Perch&AOk-/".to_vec()
            })
        );
        // RFC 5258 extended data after the name is skipped.
        assert_eq!(
            untagged(b"* LIST (\\Subscribed) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
            Untagged::List(ListEntry {
                attributes: vec!["\\Subscribed".into()],
                delimiter: Some(b'/'),
                name: b"Foo".to_vec()
            })
        );
    }

    #[test]
    fn search_and_esearch() {
        assert_eq!(
            untagged(b"* SEARCH 2 84 882\r\n"),
            Untagged::Search(vec![2, 84, 882])
        );
        assert_eq!(untagged(b"* SEARCH\r\n"), Untagged::Search(vec![]));
        assert_eq!(untagged(b"* SEARCH \r\n"), Untagged::Search(vec![]));
        assert_eq!(
            untagged(b"* SEARCH 1 3 (MODSEQ 917162500)\r\n"),
            Untagged::Search(vec![1, 3])
        );
        assert_eq!(
            untagged(b"* ESEARCH (TAG \"A4\") UID ALL 1:3,5,9:7\r\n"),
            Untagged::Esearch(Esearch {
                tag: Some(b"A4".to_vec()),
                uid: true,
                all: vec![(1, 3), (5, 5), (7, 9)]
            })
        );
        assert_eq!(
            untagged(b"* ESEARCH (TAG \"A4\") UID\r\n"),
            Untagged::Esearch(Esearch {
                tag: Some(b"A4".to_vec()),
                uid: true,
                all: vec![]
            })
        );
        assert_eq!(
            untagged(b"* ESEARCH (TAG \"A5\") UID MIN 2 COUNT 3 ALL 2,10:11 MAX 11\r\n"),
            Untagged::Esearch(Esearch {
                tag: Some(b"A5".to_vec()),
                uid: true,
                all: vec![(2, 2), (10, 11)]
            })
        );
        assert!(is_malformed(b"* ESEARCH (TAG \"A4\") UID ALL 1:*\r\n"));
        assert!(is_malformed(b"* ESEARCH (TAG \"A4\") UID ALL 0:3\r\n"));
        assert!(is_malformed(b"* SEARCH 1 0 2\r\n"));
        assert!(is_malformed(b"* SEARCH 1 4294967296\r\n"));
    }

    #[test]
    fn fetch_items_the_client_asks_for() {
        let items = fetch(
            b"* 12 FETCH (UID 34 FLAGS (\\Seen $Label1) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
              RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n",
        );
        assert_eq!(
            items,
            FetchItems {
                uid: Some(34),
                flags: Some(vec!["\\Seen".into(), "$Label1".into()]),
                internal_date: Some(b"17-Jul-1996 02:44:25 -0700".to_vec()),
                rfc822_size: Some(5),
                body: Some(b"hello".to_vec()),
            }
        );
        // BODY[]<0>, literal8, a quoted body, items in another order, lower case.
        let items = fetch(b"* 1 FETCH (BODY[]<0> ~{3}\r\n\x00\xff\r uid 7)\r\n");
        assert_eq!(items.body.as_deref(), Some(&b"\x00\xff\r"[..]));
        assert_eq!(items.uid, Some(7));
        let items = fetch(b"* 1 FETCH (UID 8 BODY[] \"short\")\r\n");
        assert_eq!(items.body.as_deref(), Some(&b"short"[..]));
        // NIL body, and FLAGS alone (an unsolicited flag update).
        let items = fetch(b"* 1 FETCH (UID 8 BODY[] NIL)\r\n");
        assert_eq!((items.uid, items.body), (Some(8), None));
        let items = fetch(b"* 3 FETCH (FLAGS (\\Seen \\Recent))\r\n");
        assert_eq!(items.uid, None);
        assert_eq!(items.flags, Some(vec!["\\Seen".into(), "\\Recent".into()]));
        // RFC822.SIZE past 32 bits (RFC 9051 number64).
        assert_eq!(
            fetch(b"* 1 FETCH (UID 1 RFC822.SIZE 5000000000)\r\n").rfc822_size,
            Some(5_000_000_000)
        );
    }

    #[test]
    fn unknown_fetch_items_are_skipped_whatever_their_shape() {
        let items = fetch(
            b"* 2 FETCH (MODSEQ (12345) UID 9 ENVELOPE (\"date\" \"subj\" ((NIL NIL \"a\" \"b.it\")) \
              NIL NIL NIL NIL NIL NIL {3}\r\n<x>) BODY[HEADER.FIELDS (FROM TO)] {4}\r\nab\r\n \
              BODY[]<10> \"partial\" BODY[1.2] NIL X-GM-LABELS (\\Inbox \"l]\") BODY (\"text\" \
              \"plain\" NIL NIL NIL \"7bit\" 5 1) EMAILID (M6d99ac3275bb4e) RFC822.SIZE 44)\r\n",
        );
        assert_eq!(items.uid, Some(9));
        assert_eq!(items.rfc822_size, Some(44));
        assert_eq!(items.body, None, "a partial or a sub-part is not BODY[]");
    }

    #[test]
    fn repeated_fetch_items_keep_the_first_and_a_second_uid_must_agree() {
        let items =
            fetch(b"* 1 FETCH (UID 4 FLAGS (\\Seen) UID 4 FLAGS () BODY[] \"a\" BODY[] \"b\")\r\n");
        assert_eq!(items.flags, Some(vec!["\\Seen".into()]));
        assert_eq!(items.body.as_deref(), Some(&b"a"[..]));
        assert!(is_malformed(b"* 1 FETCH (UID 4 UID 5)\r\n"));
    }

    #[test]
    fn quoted_strings_keep_escapes_and_8_bit_bytes() {
        let items = fetch(b"* 1 FETCH (UID 1 INTERNALDATE \"a\\\\b\\\"c \xe8\xff\")\r\n");
        assert_eq!(
            items.internal_date.as_deref(),
            Some(&b"a\\b\"c \xe8\xff"[..])
        );
        assert!(is_malformed(
            b"* 1 FETCH (UID 1 INTERNALDATE \"a\\nb\")\r\n"
        ));
    }

    #[test]
    fn non_utf8_atoms_are_kept_lossily() {
        let items = fetch(b"* 1 FETCH (UID 1 FLAGS (\\Seen $Etichetta\xe8 \xff))\r\n");
        assert_eq!(
            items.flags,
            Some(vec![
                "\\Seen".into(),
                "$Etichetta\u{fffd}".into(),
                "\u{fffd}".into()
            ])
        );
        let Response::Tagged { tag, .. } = one(b"\xc3\xa8 OK x\r\n") else {
            panic!()
        };
        assert_eq!(tag, b"\xc3\xa8");
    }

    #[test]
    fn several_responses_in_one_buffer_are_taken_one_at_a_time() {
        let buf = b"* 2 EXISTS\r\n* 1 FETCH (UID 3 BODY[] {2}\r\nhi)\r\nA1 OK done\r\n* 3";
        let (first, used) = parse(buf, &limits()).unwrap().unwrap();
        assert_eq!(first, Response::Untagged(Untagged::Exists(2)));
        let rest = &buf[used..];
        let (second, used2) = parse(rest, &limits()).unwrap().unwrap();
        assert!(matches!(
            second,
            Response::Untagged(Untagged::Fetch { seq: 1, .. })
        ));
        let rest = &rest[used2..];
        let (third, used3) = parse(rest, &limits()).unwrap().unwrap();
        assert!(matches!(
            third,
            Response::Tagged {
                status: Status::Ok,
                ..
            }
        ));
        assert_eq!(parse(&rest[used3..], &limits()), Ok(None));
    }

    #[test]
    fn a_literal_over_the_limit_is_refused_before_its_bytes_arrive() {
        // Only the count has arrived: the answer is already no.
        assert_eq!(
            error(b"* 1 FETCH (UID 1 BODY[] {1025}\r\n"),
            WireError::TooLarge { limit: 1024 }
        );
        assert_eq!(
            error(b"* 1 FETCH (UID 1 BODY[] ~{4294967296}\r\n"),
            WireError::TooLarge { limit: 1024 }
        );
        // A count with more digits than any number.
        assert_eq!(
            error(b"* 1 FETCH (UID 1 BODY[] {99999999999999999999}\r\n"),
            WireError::TooLarge { limit: 1024 }
        );
        // Literals within the limit one by one, but not together.
        let mut two = b"* 1 FETCH (UID 1 X {600}\r\n".to_vec();
        two.extend_from_slice(&[b'a'; 600]);
        two.extend_from_slice(b" BODY[] {600}\r\n");
        assert_eq!(error(&two), WireError::TooLarge { limit: 1024 });
        // At the limit it is fine.
        let mut at = b"* 1 FETCH (UID 1 BODY[] {1024}\r\n".to_vec();
        at.extend_from_slice(&[b'z'; 1024]);
        at.extend_from_slice(b")\r\n");
        assert_eq!(fetch(&at).body.map(|b| b.len()), Some(1024));
    }

    #[test]
    fn a_line_over_the_limit_is_refused_with_or_without_its_end() {
        let mut long = b"* OK ".to_vec();
        long.extend_from_slice(&[b'x'; 600]);
        assert_eq!(error(&long), WireError::TooLarge { limit: 512 });
        long.extend_from_slice(b"\r\n");
        assert_eq!(error(&long), WireError::TooLarge { limit: 512 });
        // Text outside literals counts over all lines of one response, not the literals.
        let mut lines = b"* 1 FETCH (UID 1".to_vec();
        for _ in 0..20 {
            lines.extend_from_slice(b" X {2}\r\nab");
        }
        assert!(parse(&lines, &limits()).is_ok());
        for _ in 0..80 {
            lines.extend_from_slice(b" X {2}\r\nab");
        }
        assert_eq!(error(&lines), WireError::TooLarge { limit: 512 });
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for bad in [
            &b"* 1 FETCH (UID 1 INTERNALDATE \"unterminated)\r\n"[..],
            b"* 1 FETCH (UID 1\r\n",
            b"* 1 FETCH UID 1)\r\n",
            b"* 1 FETCH (UID)\r\n",
            b"* 1 FETCH (UID 0)\r\n",
            b"* 1 FETCH (UID 4294967296)\r\n",
            b"* 1 FETCH (UID -1)\r\n",
            b"* 1 FETCH (BODY[] {3}\r\nabcd)\r\n",
            b"* 1 FETCH (BODY[ {3}\r\nabc)\r\n",
            b"* LIST (\\Noselect) \"//\" x\r\n",
            b"* LIST \\Noselect \"/\" x\r\n",
            b"* LIST () \"/\"\r\n",
            b"* OK [UIDVALIDITY x] no\r\n",
            b"* OK [UIDVALIDITY 1 no\r\n",
            b"* 99999999999 EXISTS\r\n",
            b"* EXISTS\r\n",
            b"* 3 EXISTS now\r\n",
            b"A1 MAYBE\r\n",
            b"A1 PREAUTH\r\n",
            b"A1\r\n",
            b"\r\n",
            b" * OK\r\n",
            b"*OK\r\n",
            b"* OK hi\n",
            b"* OK hi\rx\r\n",
            b"* OK text {3}\r\nabc\r\n",
            b"* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n",
            b"\x00\x01\x02\r\n",
            b"* (((\r\n",
            b"* CAPABILITY IMAP4rev1 (x)\r\n",
        ] {
            assert!(
                is_malformed(bad),
                "{}: {:?}",
                String::from_utf8_lossy(bad),
                parse(bad, &limits())
            );
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| {
            let mut r = b"* 1 FETCH (UID 1 X ".to_vec();
            r.extend(std::iter::repeat_n(b'(', n));
            r.extend(std::iter::repeat_n(b')', n));
            r.extend_from_slice(b")\r\n");
            r
        };
        assert_eq!(fetch(&deep(MAX_DEPTH)).uid, Some(1));
        assert!(is_malformed(&deep(MAX_DEPTH + 1)));
        // Within the line limit, arbitrarily deep: refused without recursing that deep.
        let limits = Limits {
            max_literal: 1024,
            max_line: 1 << 20,
        };
        let very = deep(100_000);
        assert!(matches!(
            parse(&very, &limits),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn truncated_input_needs_more() {
        for partial in [
            &b""[..],
            b"*",
            b"* 1 FETCH (UID 1 BODY[] {5}\r",
            b"* 1 FETCH (UID 1 BODY[] {5}\r\nhel",
            b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)",
            b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r",
            b"A1 OK",
        ] {
            assert_eq!(parse(partial, &limits()), Ok(None));
        }
    }

    /// Valid responses the prefix and bit-flip loops start from.
    const SAMPLES: &[&[u8]] = &[
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n",
        b"* 12 FETCH (UID 34 FLAGS (\\Seen $Label1) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" \
          RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n",
        b"* 1 FETCH (MODSEQ (1) ENVELOPE (NIL \"s\" ((NIL NIL \"a\" \"b\")) NIL) BODY[]<0> ~{3}\r\n\
          a\r\n UID 2)\r\n",
        b"* LIST (\\HasNoChildren \\Sent) \"/\" {13}\r\nPosta inviata\r\n",
        b"* LIST (\\Noselect) NIL \"a \\\"b\\\"\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
        b"* ESEARCH (TAG \"A4\") UID ALL 1:3,5,9:7 COUNT 7\r\n",
        b"* SEARCH 2 84 882 (MODSEQ 3)\r\n",
        b"A3 NO [UNAVAILABLE] try later\r\n",
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        b"+ Ready\r\n",
    ];

    #[test]
    fn every_prefix_of_a_valid_response_needs_more_or_is_a_clean_error() {
        for sample in SAMPLES {
            assert!(
                matches!(parse(sample, &limits()), Ok(Some((_, n))) if n == sample.len()),
                "{}",
                String::from_utf8_lossy(sample)
            );
            for end in 0..sample.len() {
                match parse(&sample[..end], &limits()) {
                    Ok(None) | Err(_) => {}
                    Ok(Some(r)) => panic!(
                        "prefix {:?} parsed as {r:?}",
                        String::from_utf8_lossy(&sample[..end])
                    ),
                }
            }
        }
    }

    /// xorshift64: a reproducible stream of pseudo-random numbers, no crate needed.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_byte_flips_and_garbage_never_panic() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let interesting = b"{}~()[]<>\"\\ \r\n*+0123456789:,NILUIDBODY\x00\xff";
        for sample in SAMPLES {
            for _ in 0..2000 {
                let mut bytes = sample.to_vec();
                for _ in 0..1 + random.below(4) {
                    let at = random.below(bytes.len());
                    bytes[at] = if random.below(2) == 0 {
                        interesting[random.below(interesting.len())]
                    } else {
                        random.next() as u8
                    };
                }
                if random.below(4) == 0 {
                    bytes.truncate(random.below(bytes.len() + 1));
                }
                // Every outcome is fine but a panic; a response found must fit the buffer.
                if let Ok(Some((_, used))) = parse(&bytes, &limits()) {
                    assert!(used <= bytes.len());
                }
            }
        }
        for _ in 0..5000 {
            let len = random.below(200);
            let bytes: Vec<u8> = (0..len)
                .map(|_| interesting[random.below(interesting.len())])
                .collect();
            if let Ok(Some((_, used))) = parse(&bytes, &limits()) {
                assert!(used <= bytes.len());
            }
        }
    }

    #[test]
    fn framing_continues_where_it_stopped() {
        // The reader's way: the same framer over a growing buffer, literals skipped in place.
        let whole = b"* 1 FETCH (UID 3 BODY[] {5}\r\nhello FLAGS ())\r\nA1 OK x\r\n";
        let mut framer = Framer::default();
        let mut end = None;
        for len in 0..=whole.len() {
            loop {
                match framer.advance(&whole[..len], 256, 1024).unwrap() {
                    Step::NeedMore => break,
                    Step::Literal(n) => {
                        if len - framer.position() < n {
                            break;
                        }
                        framer.skip_literal(n);
                    }
                    Step::Complete(e) => {
                        end = Some(e);
                        break;
                    }
                }
            }
            if end.is_some() {
                break;
            }
        }
        let end = end.unwrap();
        assert_eq!(&whole[end..], b"A1 OK x\r\n");
        let response = parse_frame(&whole[..end], &mut OutOfBand::new()).unwrap();
        assert!(matches!(
            response,
            Response::Untagged(Untagged::Fetch { .. })
        ));

        // An out-of-band literal: its bytes are not in the frame, but in the queue.
        let frame = b"* 1 FETCH (UID 3 BODY[] {5}\r\n FLAGS ())\r\n";
        let mut queue = OutOfBand::from([(29, b"hello".to_vec())]);
        let Response::Untagged(Untagged::Fetch { items, .. }) =
            parse_frame(frame, &mut queue).unwrap()
        else {
            panic!()
        };
        assert_eq!(items.body.as_deref(), Some(&b"hello"[..]));
        assert_eq!(items.flags, Some(vec![]));
        assert!(queue.is_empty());
    }
}
