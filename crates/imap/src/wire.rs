//! The IMAP wire syntax (RFC 9051 §9, RFC 3501 §9): a cursor over one complete command —
//! its lines and literals as they arrived — and the writers for strings in responses.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SyntaxError(pub String);

pub type Result<T> = std::result::Result<T, SyntaxError>;

fn err<T>(what: impl Into<String>) -> Result<T> {
    Err(SyntaxError(what.into()))
}

/// A cursor over a command. Literals appear inline as `{n}\r\n` followed by n bytes, as
/// the connection assembled them (RFC 9051 §4.3; `{n+}` is RFC 7888 LITERAL+, `~{n}` is
/// RFC 3516 BINARY).
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){ %*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let end = buf
            .strip_suffix(b"\r\n")
            .or_else(|| buf.strip_suffix(b"\n"))
            .unwrap_or(buf);
        Cursor { buf: end, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Whether a string starts here: a quoted string, a literal `{n}`, or a binary literal
    /// `~{n}` (RFC 3516). A `~` not followed by `{` is an atom character (`~foo`).
    fn at_string(&self) -> bool {
        match self.peek() {
            Some(b'"') | Some(b'{') => true,
            Some(b'~') => self.buf.get(self.pos + 1) == Some(&b'{'),
            _ => false,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn expect(&mut self, b: u8) -> Result<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            err(format!("expected '{}'", b as char))
        }
    }

    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn sp(&mut self) -> Result<()> {
        self.expect(b' ')
    }

    pub fn end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            err("unexpected characters at the end of the command")
        }
    }

    /// Bytes while `f` holds.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.buf.len() && f(self.buf[self.pos]) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    pub fn atom(&mut self) -> Result<String> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return err("expected an atom");
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    /// An atom that may contain `]` and `[`…`]` (fetch attributes like `BODY[1.MIME]`).
    pub fn tag(&mut self) -> Result<String> {
        let a = self.take_while(|b| is_atom_char(b) && b != b'+');
        if a.is_empty() {
            return err("expected a tag");
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    pub fn number(&mut self) -> Result<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return err("expected a number");
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SyntaxError("number out of range".into()))
    }

    pub fn nz_number(&mut self) -> Result<u64> {
        match self.number()? {
            0 => err("expected a number above zero"),
            n => Ok(n),
        }
    }

    /// `"quoted"` or a literal, as bytes.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') | Some(b'~') if self.at_string() => self.literal(),
            _ => err("expected a string"),
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = vec![];
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return err("bad escape in quoted string"),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}` / `{n+}` / `~{n}` CRLF and n bytes.
    pub fn literal(&mut self) -> Result<Vec<u8>> {
        self.eat(b'~');
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        if self.buf.len() - self.pos < n {
            return err("literal shorter than announced");
        }
        let data = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(data)
    }

    pub fn astring(&mut self) -> Result<Vec<u8>> {
        match self.at_string() {
            true => self.string(),
            false => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return err("expected a string or atom");
                }
                Ok(a.to_vec())
            }
        }
    }

    pub fn astring_utf8(&mut self) -> Result<String> {
        String::from_utf8(self.astring()?).map_err(|_| SyntaxError("not UTF-8".into()))
    }

    /// A mailbox name or LIST pattern: astring, plus `%` and `*` when `pattern`.
    pub fn mailbox(&mut self, pattern: bool) -> Result<String> {
        let raw = match self.at_string() {
            true => self.string()?,
            false => {
                let a = self
                    .take_while(|b| is_astring_char(b) || (pattern && (b == b'%' || b == b'*')));
                if a.is_empty() {
                    return err("expected a mailbox name");
                }
                a.to_vec()
            }
        };
        String::from_utf8(raw).map_err(|_| SyntaxError("mailbox name is not UTF-8".into()))
    }

    /// `( a b c )` of atoms (flags, options).
    pub fn atom_list(&mut self) -> Result<Vec<String>> {
        self.expect(b'(')?;
        let mut out = vec![];
        loop {
            if self.eat(b')') {
                return Ok(out);
            }
            if !out.is_empty() {
                self.sp()?;
            }
            out.push(self.flag()?);
        }
    }

    /// A flag: `\Seen`, `\*`, or a keyword atom.
    pub fn flag(&mut self) -> Result<String> {
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Ok("\\*".into());
            }
            return Ok(format!("\\{}", self.atom()?));
        }
        self.atom()
    }
}

/// A string in a response: quoted when it is safe to, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024
        && s.iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0 && b < 0x80);
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// A mailbox name in a response: a bare atom when it can be one, a string otherwise.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && !s.eq_ignore_ascii_case(b"NIL") && s.iter().all(|&b| is_astring_char(b)) {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_literals() {
        let mut c = Cursor::new(b"\"a \\\"b\\\"\" {3}\r\nxyz atom\r\n");
        assert_eq!(c.string().unwrap(), b"a \"b\"");
        c.sp().unwrap();
        assert_eq!(c.astring().unwrap(), b"xyz");
        c.sp().unwrap();
        assert_eq!(c.astring().unwrap(), b"atom");
        assert!(c.end().is_ok());
        assert!(Cursor::new(b"{10}\r\nabc").literal().is_err());
        assert!(Cursor::new(b"\"abc").string().is_err());
        let mut out = vec![];
        string(&mut out, b"line\r\nbreak");
        assert_eq!(out, b"{11}\r\nline\r\nbreak");
    }
}
