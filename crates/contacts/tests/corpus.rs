//! The corpus of real-world-shaped address books (issue 19 acceptance): vCard as
//! Thunderbird, iOS, Google and Outlook write it, CSV from Outlook in Italian
//! (Windows-1252, `;`) and English (`,`), Google, and an old PEC provider — each read to the
//! expected contacts and groups, then through our CSV export and back unchanged.

use contacts::{csv_in, csv_out, text, vcf, Contact, Limits};

/// One line per contact: name | addresses (`*` marks a PEC address) | groups | group
/// members, when a group | photo.
fn summary(c: &Contact) -> String {
    let emails: Vec<String> = c
        .emails
        .iter()
        .map(|e| format!("{}{}", if e.pec { "*" } else { "" }, e.address))
        .collect();
    let mut line = format!(
        "{} | {} | {}",
        c.display_name(),
        emails.join(" "),
        c.categories.join(",")
    );
    if c.group {
        line.push_str(&format!(" | gruppo: {}", c.members.join(" ")));
    }
    if c.has_photo {
        line.push_str(" | foto");
    }
    line
}

fn read(name: &str) -> Vec<Contact> {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).expect("fixture");
    let (text, _) = text::decode(&bytes);
    if name.ends_with(".vcf") {
        vcf::read(&text, &Limits::default())
            .expect("a vCard file")
            .into_iter()
            .map(|c| c.expect("every card reads").contact)
            .collect()
    } else {
        csv_in::read(&text, &Limits::default()).expect("a CSV file")
    }
}

#[test]
fn every_file_of_the_corpus_gives_the_expected_contacts_and_groups() {
    let expected: &[(&str, &[&str])] = &[
        (
            "thunderbird.vcf",
            &[
                "Mario Rossi | protocollo@pec.comune.forli.fc.it mario.rossi@example.it | Enti",
                "Studio Legale Verdi | studio@pec.verdi.it | Avvocati,Fornitori",
            ],
        ),
        (
            "ios.vcf",
            &[
                "Anna Bianchi | *anna.bianchi@pec.example.it anna@example.it |  | foto",
                "Clienti |  |  | gruppo: urn:uuid:0a9b8c7d",
            ],
        ),
        (
            "google.vcf",
            &["Luca Neri | luca.neri@pec.neri.it luca.neri@gmail.com | Clienti,myContacts"],
        ),
        ("outlook.vcf", &["Sara Gallì | sara.galli@pec.example.it | "]),
        (
            "v4-group.vcf",
            &["Avvocati |  |  | gruppo: urn:uuid:0a9b8c7d mailto:segreteria@pec.ordineavvocati.it"],
        ),
        (
            "outlook-it.csv",
            &[
                "Giulia Ferri | protocollo@pec.provincia.fc.it giulia.ferri@provincia.fc.it | Enti",
                "Marco Conti | marco.conti@example.it | ",
            ],
        ),
        (
            "outlook-en.csv",
            &["Paolo Moretti | amministrazione@pec.morettifigli.it | Fornitori"],
        ),
        (
            "google.csv",
            &["Elena Russo | elena.russo@pec.gare.it e.russo@gare.it | Fornitori"],
        ),
        (
            "old-provider.csv",
            &[
                "Ufficio Tributi | *tributi@pec.comune.example.it | Enti",
                "Studio Rossi | info@studiorossi.it *studiorossi@pec.it | Fornitori",
            ],
        ),
    ];
    for (name, lines) in expected {
        let got: Vec<String> = read(name).iter().map(summary).collect();
        assert_eq!(got, *lines, "{name}");
    }
    // What the fields hold beyond the summary: multi-line notes, charsets, organisations.
    let giulia = &read("outlook-it.csv")[0];
    assert_eq!(giulia.org, "Provincia di Forlì-Cesena");
    assert_eq!(giulia.note, "Orari: 9-13;\r\nchiuso il sabato");
    assert_eq!(
        read("google.csv")[0].note,
        "Referente gare,\nufficio acquisti"
    );
    assert_eq!(read("outlook-en.csv")[0].org, "Moretti & Figli, S.r.l.");
    let mario = &read("thunderbird.vcf")[0];
    assert_eq!(
        mario.note,
        "Riceve il lunedì e il giovedì mattina, previo appuntamento telefonico."
    );
    assert_eq!(mario.phones, vec!["+39 333 1234567"]);
}

#[test]
fn the_corpus_survives_our_export_and_its_import() {
    for name in [
        "thunderbird.vcf",
        "google.vcf",
        "outlook.vcf",
        "outlook-it.csv",
        "outlook-en.csv",
        "google.csv",
        "old-provider.csv",
    ] {
        // Groups, photos and uids are not CSV's; the rest comes back as it was.
        let people: Vec<Contact> = read(name)
            .into_iter()
            .filter(|c| !c.group)
            .map(|c| Contact {
                uid: None,
                has_photo: false,
                ..c
            })
            .collect();
        let (text, _) = text::decode(csv_out::write(&people).as_bytes());
        let back = csv_in::read(&text, &Limits::default()).expect("our own export");
        assert_eq!(back, people, "{name}");
    }
}

#[test]
fn every_vcard_of_the_corpus_survives_a_round_trip_through_version_4() {
    for name in [
        "thunderbird.vcf",
        "ios.vcf",
        "google.vcf",
        "outlook.vcf",
        "v4-group.vcf",
    ] {
        let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let (text, _) = text::decode(&std::fs::read(&path).expect("fixture"));
        for card in vcf::read(&text, &Limits::default()).expect("read") {
            let card = card.expect("card");
            let v4 = vcf::write_v4(&card.vcard);
            let again = vcf::read(&v4, &Limits::default()).expect("the 4.0 text");
            let again = again.into_iter().next().expect("one card").expect("card");
            assert_eq!(again.contact, card.contact, "{name}:\n{v4}");
        }
    }
}
