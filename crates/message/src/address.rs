//! Address lists (RFC 5322 §3.4) as the IMAP envelope wants them (RFC 9051 §7.5.2): each
//! address is (name, adl, mailbox, host); a group is opened by an entry with the group name
//! as mailbox and no host, and closed by an entry with neither.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    /// The source route of an obsolete `<@a,@b:local@host>` (RFC 5322 §4.4), as IMAP's
    /// envelope gives it (`"@a,@b"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adl: Option<String>,
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
    /// A comment's text: `user@host (Real Name)` names the address by it.
    Comment(String),
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
                let mut comment = String::new();
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
                    if depth > 1 || (depth == 1 && c != '(') {
                        comment.push(c);
                    }
                }
                out.push(Token::Comment(comment.trim().to_string()));
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
        Token::Special(_) | Token::Comment(_) => None,
    }
}

/// One mailbox from the tokens of a list entry: `name <local@host>` or `local@host`.
fn mailbox(toks: &[Token]) -> Option<Address> {
    // Nothing, or only a comment (`group: (foo) ;`): no address.
    if toks.iter().all(|t| matches!(t, Token::Comment(_))) {
        return None;
    }
    if let Some(lt) = toks.iter().position(|t| *t == Token::Special('<')) {
        let words: Vec<&str> = toks[..lt].iter().filter_map(text).collect();
        let name = (!words.is_empty()).then(|| words.join(" "));
        let inner: Vec<&Token> = toks[lt + 1..]
            .iter()
            .take_while(|t| **t != Token::Special('>'))
            .collect();
        // A source route (`@a,@b:`) goes to `adl`; the address follows the last ':'.
        let colon = inner.iter().rposition(|t| **t == Token::Special(':'));
        let adl = colon.and_then(|c| {
            let route: String = inner[..c]
                .iter()
                .filter_map(|t| match t {
                    Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
                    Token::Special(c) => Some(c.to_string()),
                    Token::Comment(_) => None,
                })
                .collect();
            (!route.is_empty()).then_some(route)
        });
        let start = colon.map(|p| p + 1).unwrap_or(0);
        let (local, host) = split_at_sign(&inner[start..]);
        return Some(Address {
            name,
            adl,
            mailbox: local,
            host,
        });
    }
    let refs: Vec<&Token> = toks.iter().collect();
    let (local, host) = split_at_sign(&refs);
    // `user@host (Real Name)`: the comment names the address, as mail clients show it.
    let name = toks.iter().rev().find_map(|t| match t {
        Token::Comment(c) if !c.is_empty() => Some(c.clone()),
        _ => None,
    });
    Some(Address {
        name,
        adl: None,
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
                    adl: None,
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

    #[test]
    fn a_trailing_comment_names_the_address_and_a_route_is_kept_apart() {
        let a = parse_addresses("user@domain (Real Name)");
        assert_eq!(a[0].name.as_deref(), Some("Real Name"));
        assert_eq!(a[0].email().as_deref(), Some("user@domain"));
        let a = parse_addresses("<@route:user@domain>");
        assert_eq!(a[0].adl.as_deref(), Some("@route"));
        assert_eq!(a[0].email().as_deref(), Some("user@domain"));
        // Comments inside the address hide nothing, and name nothing.
        let a = parse_addresses("<user-from (comment)@ (comment) domain.org>");
        assert_eq!(a[0].email().as_deref(), Some("user-from@domain.org"));
        assert_eq!(a[0].name, None);
        // A comment alone is no address.
        let a = parse_addresses("group2: (foo) ;");
        assert_eq!(a.len(), 2, "{a:?}");
        // A plain address has neither.
        let a = parse_addresses("user@domain");
        assert_eq!((a[0].name.as_deref(), a[0].adl.as_deref()), (None, None));
    }

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
