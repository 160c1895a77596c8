//! Address lists (RFC 5322 §3.4) as the IMAP envelope wants them (RFC 9051 §7.5.2): each
//! address is (name, adl, mailbox, host); a group is opened by an entry with the group name
//! as mailbox and no host, and closed by an entry with neither.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

impl Address {
    /// `local@host`, when both are there.
    pub fn email(&self) -> Option<String> {
        Some(format!(
            "{}@{}",
            self.mailbox.as_ref()?,
            self.host.as_ref()?
        ))
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Special(char),
}

fn tokens(s: &str) -> Vec<Token> {
    let mut out = vec![];
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            // A `)` outside a comment is stray: skipped (a word cannot start with it).
            c if c.is_whitespace() || c == ')' => {
                chars.next();
            }
            '(' => {
                let mut depth = 0;
                for c in chars.by_ref() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '"' => {
                chars.next();
                let mut q = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                q.push(n);
                            }
                        }
                        '"' => break,
                        _ => q.push(c),
                    }
                }
                out.push(Token::Quoted(q));
            }
            '<' | '>' | '@' | ',' | ':' | ';' => {
                chars.next();
                out.push(Token::Special(c));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "()\"<>@,:;".contains(c) {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    out
}

fn text(t: &Token) -> Option<&str> {
    match t {
        Token::Word(w) | Token::Quoted(w) => Some(w),
        Token::Special(_) => None,
    }
}

/// One mailbox from the tokens of a list entry: `name <local@host>` or `local@host`.
fn mailbox(toks: &[Token]) -> Option<Address> {
    if toks.is_empty() {
        return None;
    }
    if let Some(lt) = toks.iter().position(|t| *t == Token::Special('<')) {
        let words: Vec<&str> = toks[..lt].iter().filter_map(text).collect();
        let name = (!words.is_empty()).then(|| words.join(" "));
        let inner: Vec<&Token> = toks[lt + 1..]
            .iter()
            .take_while(|t| **t != Token::Special('>'))
            .collect();
        // Drop a source route (`@a,@b:`), keep what follows the last ':'.
        let start = inner
            .iter()
            .rposition(|t| **t == Token::Special(':'))
            .map(|p| p + 1)
            .unwrap_or(0);
        let (local, host) = split_at_sign(&inner[start..]);
        return Some(Address {
            name,
            mailbox: local,
            host,
        });
    }
    let refs: Vec<&Token> = toks.iter().collect();
    let (local, host) = split_at_sign(&refs);
    Some(Address {
        name: None,
        mailbox: local,
        host,
    })
}

fn split_at_sign(toks: &[&Token]) -> (Option<String>, Option<String>) {
    let at = toks.iter().rposition(|t| **t == Token::Special('@'));
    let join = |ts: &[&Token]| {
        let s: String = ts
            .iter()
            .filter_map(|t| text(t))
            .collect::<Vec<_>>()
            .join("");
        (!s.is_empty()).then_some(s)
    };
    match at {
        Some(a) => (join(&toks[..a]), join(&toks[a + 1..])),
        None => (join(toks), None),
    }
}

/// Parses an address-list header value. Never fails: what cannot be read is skipped.
pub fn parse_addresses(value: &str) -> Vec<Address> {
    let toks = tokens(value);
    let mut out = vec![];
    let mut entry: Vec<Token> = vec![];
    let mut in_angle = false;
    let mut in_group = false;
    for t in toks {
        match t {
            Token::Special('<') => {
                in_angle = true;
                entry.push(t);
            }
            Token::Special('>') => {
                in_angle = false;
                entry.push(t);
            }
            Token::Special(':') if !in_angle && !in_group => {
                let name: Vec<&str> = entry.iter().filter_map(text).collect();
                out.push(Address {
                    name: None,
                    mailbox: Some(name.join(" ")),
                    host: None,
                });
                entry.clear();
                in_group = true;
            }
            Token::Special(';') if !in_angle && in_group => {
                out.extend(mailbox(&entry));
                entry.clear();
                out.push(Address::default());
                in_group = false;
            }
            Token::Special(',') if !in_angle => {
                out.extend(mailbox(&entry));
                entry.clear();
            }
            t => entry.push(t),
        }
    }
    out.extend(mailbox(&entry));
    if in_group {
        out.push(Address::default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the mime_structure fuzzer: a `)` outside a comment made the tokenizer push
    /// empty words forever.
    #[test]
    fn stray_close_paren_ends() {
        let a = parse_addresses("a@x ) b@y");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].host.as_deref(), Some("y"));
        assert!(parse_addresses(")))").is_empty());
    }

    #[test]
    fn forms() {
        let a = parse_addresses(
            "\"Rossi, Mario\" <mario@x.it>, luigi@y.it (Luigi), <@r1,@r2:z@w.it>, Anna Bianchi <anna@q.it>",
        );
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].name.as_deref(), Some("Rossi, Mario"));
        assert_eq!(a[0].email().as_deref(), Some("mario@x.it"));
        assert_eq!(a[1].email().as_deref(), Some("luigi@y.it"));
        assert_eq!(a[2].email().as_deref(), Some("z@w.it"));
        assert_eq!(a[3].name.as_deref(), Some("Anna Bianchi"));
        assert!(parse_addresses("undisclosed-recipients:;").len() == 2);
    }
}
