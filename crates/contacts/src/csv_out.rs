//! Contacts to CSV ("Contatti > Altre azioni > Esporta", seed 004): Italian column names,
//! `;` between fields as an Italian spreadsheet expects, UTF-8 with a BOM so it opens with
//! its accents. A cell that a spreadsheet would run as a formula (`= + - @`, tab, CR first)
//! gets a leading `'`, which [`crate::csv_in`] takes off again.

use crate::Contact;

const HEADER: [&str; 9] = [
    "Nome",
    "Cognome",
    "Nome visualizzato",
    "Organizzazione",
    "Email",
    "PEC",
    "Telefono",
    "Note",
    "Gruppi",
];

fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

pub fn write(contacts: &[Contact]) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = w.write_record(HEADER);
    for c in contacts {
        let emails = |pec: bool| {
            c.emails
                .iter()
                .filter(|e| e.pec == pec)
                .map(|e| e.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let row = [
            c.given.clone(),
            c.family.clone(),
            c.full_name.clone(),
            c.org.clone(),
            emails(false),
            emails(true),
            c.phones.join(", "),
            c.note.clone(),
            c.categories.join(", "),
        ];
        let _ = w.write_record(row.iter().map(|cell| neutralise(cell)));
    }
    let bytes = w.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::write;
    use crate::{csv_in, text, Contact, Email, Limits};

    #[test]
    fn export_then_import_gives_the_same_contacts_and_no_formula_runs() {
        let contacts = vec![
            Contact {
                given: "Mario".into(),
                family: "Rossi".into(),
                full_name: "Mario Rossi".into(),
                org: "Comune di Forlì; Protocollo".into(),
                emails: vec![
                    Email {
                        address: "mario@example.it".into(),
                        pec: false,
                    },
                    Email {
                        address: "protocollo@pec.forli.it".into(),
                        pec: true,
                    },
                ],
                phones: vec!["+39 333 1234567".into()],
                note: "=HYPERLINK(\"http://x\")\nseconda riga".into(),
                categories: vec!["Enti".into(), "Fornitori".into()],
                ..Contact::default()
            },
            Contact {
                emails: vec![Email {
                    address: "solo@pec.example.it".into(),
                    pec: true,
                }],
                ..Contact::default()
            },
        ];
        let csv = write(&contacts);
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.contains("'=HYPERLINK"), "neutralised: {csv}");
        let (text, _) = text::decode(csv.as_bytes());
        let back = csv_in::read(&text, &Limits::default()).expect("read back");
        assert_eq!(back, contacts);
    }
}
