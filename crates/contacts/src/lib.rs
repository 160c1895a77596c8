//! Address-book formats (issue 19, seed 002 §2.5 and seed 004): what a contact is as the
//! webmail shows it ([`Contact`]), read from vCard 3.0/4.0 files ([`vcf`], over calcard —
//! folded lines, QUOTED-PRINTABLE, charsets and photos are calcard's) and from the CSV that
//! Outlook (Italian and English), Google and the old PEC providers export ([`csv_in`]),
//! written back as CSV ([`csv_out`]) and vCard 4.0. Bytes come in any common charset
//! ([`text::decode`]). Pure: no store, no I/O. Every input is hostile: sizes and counts are
//! bounded by [`Limits`], and a card that cannot be read is named, not guessed.

pub mod csv_in;
pub mod csv_out;
pub mod text;
pub mod vcf;

/// What a file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole file, in bytes (photos included).
    pub file_bytes: usize,
    /// Contacts in one file.
    pub contacts: usize,
    /// One card or one CSV record, in bytes.
    pub card_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: 32 << 20,
            contacts: 50_000,
            card_bytes: 1 << 20,
        }
    }
}

/// Why a file or a card was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("file troppo grande: al massimo {0} byte")]
    TooLarge(usize),
    #[error("troppi contatti: al massimo {0}")]
    TooMany(usize),
    #[error("nessun contatto riconosciuto nel file")]
    Empty,
    #[error("contatto {index}: {why}")]
    Card { index: usize, why: String },
    #[error("CSV non leggibile: {0}")]
    Csv(String),
}

/// A contact as the address book shows and searches it; the vCard it came from keeps every
/// other property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub uid: Option<String>,
    /// A group (a distribution list, figure 21) rather than a person or an organisation.
    pub group: bool,
    pub full_name: String,
    pub given: String,
    pub family: String,
    pub org: String,
    pub emails: Vec<Email>,
    pub phones: Vec<String>,
    pub note: String,
    /// The groups it belongs to by name (vCard CATEGORIES, a CSV's group column).
    pub categories: Vec<String>,
    /// A group's members: `urn:uuid:…` of contacts, or `mailto:` addresses.
    pub members: Vec<String>,
    pub has_photo: bool,
}

/// One address of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub address: String,
    /// Marked as a PEC address (a CSV's PEC column, vCard `TYPE=pec` or an `X-ABLabel` PEC).
    pub pec: bool,
}

impl Contact {
    /// The name a list shows: the formatted name, else given and family, else the
    /// organisation, else the first address.
    pub fn display_name(&self) -> String {
        let joined = format!("{} {}", self.given, self.family);
        let name = [self.full_name.trim(), joined.trim(), self.org.trim()]
            .into_iter()
            .find(|s| !s.is_empty())
            .map(str::to_string);
        name.or_else(|| self.emails.first().map(|e| e.address.clone()))
            .unwrap_or_default()
    }

    /// Nothing a person could use: no name, organisation, address or phone.
    pub fn is_blank(&self) -> bool {
        self.display_name().is_empty() && self.phones.is_empty()
    }
}

/// An address as the book compares them: trimmed, lower-case, `mailto:` dropped; `None`
/// unless it looks like `local@domain.tld`.
pub fn clean_address(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix("mailto:")
        .or_else(|| s.strip_prefix("MAILTO:"))
        .unwrap_or(s)
        .trim();
    let (local, domain) = s.rsplit_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    ok.then(|| s.to_ascii_lowercase())
}
