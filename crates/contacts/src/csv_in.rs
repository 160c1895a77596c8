//! Contacts from CSV as the old providers, Outlook (Italian and English column names) and
//! Google export them: `;`, `,` or tab between fields (whichever the header line uses),
//! quoted fields over several lines (notes, addresses), the columns recognised by name.
//! Unknown columns are ignored.

use crate::{clean_address, Contact, Email, FormatError, Limits};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Given,
    Family,
    Full,
    Org,
    Email,
    Pec,
    Phone,
    Note,
    Groups,
}

/// Column names (lower case) of Outlook in English and Italian, Google, the old PEC
/// providers' exports and our own ([`crate::csv_out`]).
const COLUMNS: &[(&str, Field)] = &[
    ("first name", Field::Given),
    ("given name", Field::Given),
    ("nome", Field::Given),
    ("last name", Field::Family),
    ("family name", Field::Family),
    ("cognome", Field::Family),
    ("name", Field::Full),
    ("display name", Field::Full),
    ("full name", Field::Full),
    ("nome visualizzato", Field::Full),
    ("nome completo", Field::Full),
    ("company", Field::Org),
    ("organization 1 - name", Field::Org),
    ("organization name", Field::Org),
    ("società", Field::Org),
    ("azienda", Field::Org),
    ("organizzazione", Field::Org),
    ("ente", Field::Org),
    ("e-mail address", Field::Email),
    ("e-mail 2 address", Field::Email),
    ("e-mail 3 address", Field::Email),
    ("e-mail 1 - value", Field::Email),
    ("e-mail 2 - value", Field::Email),
    ("e-mail 3 - value", Field::Email),
    ("email", Field::Email),
    ("e-mail", Field::Email),
    ("mail", Field::Email),
    ("indirizzo posta elettronica", Field::Email),
    ("indirizzo posta elettronica 2", Field::Email),
    ("indirizzo posta elettronica 3", Field::Email),
    ("indirizzo e-mail", Field::Email),
    ("pec", Field::Pec),
    ("indirizzo pec", Field::Pec),
    ("email pec", Field::Pec),
    ("posta certificata", Field::Pec),
    ("mobile phone", Field::Phone),
    ("business phone", Field::Phone),
    ("home phone", Field::Phone),
    ("phone 1 - value", Field::Phone),
    ("phone 2 - value", Field::Phone),
    ("cellulare", Field::Phone),
    ("telefono", Field::Phone),
    ("telefono ufficio", Field::Phone),
    ("telefono abitazione", Field::Phone),
    ("notes", Field::Note),
    ("note", Field::Note),
    ("categories", Field::Groups),
    ("categorie", Field::Groups),
    ("group membership", Field::Groups),
    ("gruppo", Field::Groups),
    ("gruppi", Field::Groups),
];

fn field_of(header: &str) -> Option<Field> {
    let h = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    COLUMNS.iter().find(|(name, _)| *name == h).map(|(_, f)| *f)
}

/// The separator the header line uses most, outside quotes.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let mut quoted = false;
    let mut counts = [0usize; 3];
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => counts[0] += 1,
            ',' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|i| counts[*i]).unwrap_or(0);
    [b';', b',', b'\t'][best]
}

/// A cell our own export neutralised (a leading `'` before `= + - @`) comes back as it was.
fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// Several values in one cell: Google's ` ::: `, or commas and semicolons.
fn values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(":::")
        .flat_map(|v| v.split([',', ';']))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads a CSV file (already text, see [`crate::text::decode`]).
pub fn read(text: &str, limits: &Limits) -> Result<Vec<Contact>, FormatError> {
    if text.len() > limits.file_bytes {
        return Err(FormatError::TooLarge(limits.file_bytes));
    }
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let fields: Vec<Option<Field>> = r
        .headers()
        .map_err(|e| FormatError::Csv(e.to_string()))?
        .iter()
        .map(field_of)
        .collect();
    if !fields
        .iter()
        .any(|f| matches!(f, Some(Field::Email | Field::Pec)))
    {
        return Err(FormatError::Csv(
            "nessuna colonna di indirizzi email riconosciuta".into(),
        ));
    }
    let mut out = Vec::new();
    for (n, record) in r.records().enumerate() {
        let record = record.map_err(|e| FormatError::Csv(format!("riga {}: {e}", n + 2)))?;
        if record.as_slice().len() > limits.card_bytes {
            return Err(FormatError::Card {
                index: n + 1,
                why: format!("oltre {} byte", limits.card_bytes),
            });
        }
        let mut c = Contact::default();
        for (cell, field) in record.iter().zip(&fields) {
            let cell = unneutralise(cell.trim());
            let Some(field) = field else { continue };
            match field {
                Field::Given => c.given = cell.to_string(),
                Field::Family => c.family = cell.to_string(),
                Field::Full => c.full_name = cell.to_string(),
                Field::Org => c.org = cell.to_string(),
                Field::Note => c.note = cell.to_string(),
                Field::Email | Field::Pec => {
                    for v in values(cell) {
                        if let Some(address) = clean_address(v) {
                            let pec = *field == Field::Pec;
                            if !c.emails.iter().any(|e| e.address == address) {
                                c.emails.push(Email { address, pec });
                            }
                        }
                    }
                }
                Field::Phone => c.phones.extend(values(cell).map(str::to_string)),
                Field::Groups => c.categories.extend(
                    values(cell)
                        // Google's system groups ("* myContacts").
                        .filter(|g| !g.starts_with('*'))
                        .map(str::to_string),
                ),
            }
        }
        if c.is_blank() {
            continue;
        }
        out.push(c);
        if out.len() > limits.contacts {
            return Err(FormatError::TooMany(limits.contacts));
        }
    }
    if out.is_empty() {
        return Err(FormatError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::read;
    use crate::{text, FormatError, Limits};

    #[test]
    fn outlook_in_italian_windows_1252_with_semicolons() {
        let bytes = b"Nome;Cognome;Societ\xe0;Indirizzo posta elettronica;Cellulare;Categorie;Campo ignoto\r\n\
Mario;Rossi;Comune di Forl\xec;mario.rossi@pec.comune.forli.fc.it;+39 333 1234567;Enti;x\r\n\
Anna;Bianchi;;anna@example.it;;;\r\n";
        let (text, charset) = text::decode(bytes);
        assert_eq!(charset, text::Charset::Windows1252);
        let got = read(&text, &Limits::default()).expect("read");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].org, "Comune di Forlì");
        assert_eq!(got[0].categories, vec!["Enti"]);
        assert_eq!(got[1].display_name(), "Anna Bianchi");
    }

    #[test]
    fn google_with_commas_notes_over_lines_and_groups() {
        let text = "Name,Given Name,Family Name,Notes,Group Membership,E-mail 1 - Value,E-mail 2 - Value,Phone 1 - Value\n\
\"Studio Verdi\",Luca,Verdi,\"Riceve il martedì,\nsolo su appuntamento\",Avvocati ::: * myContacts,studio@pec.verdi.it ::: luca@verdi.it,,0543 123456\n";
        let got = read(text, &Limits::default()).expect("read");
        assert_eq!(got[0].note, "Riceve il martedì,\nsolo su appuntamento");
        assert_eq!(got[0].categories, vec!["Avvocati"]);
        assert_eq!(got[0].emails.len(), 2);
        assert_eq!(got[0].full_name, "Studio Verdi");
    }

    #[test]
    fn a_pec_column_marks_its_addresses_and_bad_files_are_refused() {
        let text = "Nome;Cognome;Email;PEC\nAnna;Bianchi;anna@example.it;anna@pec.example.it\n";
        let got = read(text, &Limits::default()).expect("read");
        let marks: Vec<bool> = got[0].emails.iter().map(|e| e.pec).collect();
        assert_eq!(marks, vec![false, true]);
        assert!(matches!(
            read("Nome;Cognome\nAnna;Bianchi\n", &Limits::default()),
            Err(FormatError::Csv(_))
        ));
        assert_eq!(
            read("Email\n\n", &Limits::default()).unwrap_err(),
            FormatError::Empty
        );
        let limits = Limits {
            contacts: 1,
            ..Limits::default()
        };
        assert_eq!(
            read("Email\na@b.it\nc@d.it\n", &limits).unwrap_err(),
            FormatError::TooMany(1)
        );
    }
}
