//! SMTP (RFC 5321) for Certa, one file per concern: [`Reply`] (what a server answers),
//! [`server`] (a session with limits on every line and message, driven by a
//! [`server::Handler`] that holds the semantics) and [`client`] (delivery to a next hop).
//! The connection itself (plain or TLS, STARTTLS upgrade) is `net`'s. This crate knows no
//! PEC and no store: the handlers that put a session on the services are `smtpserver`'s.

pub mod client;
pub mod server;

/// An SMTP reply: code, enhanced status code (RFC 3463) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// Wire form; multi-line when the text has several lines.
    pub fn to_wire(&self) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let lines = if lines.is_empty() { vec![""] } else { lines };
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let l: String = l.chars().filter(|c| !c.is_control()).take(900).collect();
            if self.enhanced.is_empty() {
                out.push_str(&format!("{}{sep}{l}\r\n", self.code));
            } else {
                out.push_str(&format!("{}{sep}{} {l}\r\n", self.code, self.enhanced));
            }
        }
        out
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}
