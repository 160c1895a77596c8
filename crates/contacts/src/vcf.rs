//! vCard files (RFC 6350 4.0, RFC 2426 3.0, and 2.1 as phones still export it), read with
//! calcard one card at a time: each card is kept whole (every property and parameter, for a
//! lossless round trip) beside the [`Contact`] the webmail shows.

use crate::{clean_address, Contact, Email, FormatError, Limits};
use calcard::common::IanaString;
use calcard::vcard::{
    VCard, VCardEntry, VCardKind, VCardParameterName, VCardParameterValue, VCardProperty,
    VCardValue, VCardVersion,
};
use calcard::{Entry, Parser};

/// One card read: the contact, and the card itself.
#[derive(Debug, Clone)]
pub struct Card {
    pub contact: Contact,
    pub vcard: VCard,
}

/// Reads every card of a file; a card that cannot be read is an error naming it (1-based),
/// the others are kept. The whole file is refused past the limits.
pub fn read(text: &str, limits: &Limits) -> Result<Vec<Result<Card, FormatError>>, FormatError> {
    if text.len() > limits.file_bytes {
        return Err(FormatError::TooLarge(limits.file_bytes));
    }
    let mut parser = Parser::new(text);
    let mut out = Vec::new();
    loop {
        let index = out.len() + 1;
        let card = match parser.entry() {
            Entry::Eof => break,
            Entry::VCard(v) if v.size() > limits.card_bytes => Err(FormatError::Card {
                index,
                why: format!("oltre {} byte", limits.card_bytes),
            }),
            Entry::VCard(v) => Ok(Card {
                contact: contact_of(&v),
                vcard: v,
            }),
            Entry::InvalidLine(line) => Err(FormatError::Card {
                index,
                why: format!(
                    "riga non valida: {}",
                    line.chars().take(60).collect::<String>()
                ),
            }),
            Entry::TooManyComponents => return Err(FormatError::TooMany(limits.contacts)),
            other => Err(FormatError::Card {
                index,
                why: format!("non è una vCard ({})", kind_of(&other)),
            }),
        };
        out.push(card);
        if out.len() > limits.contacts {
            return Err(FormatError::TooMany(limits.contacts));
        }
    }
    if out.is_empty() {
        return Err(FormatError::Empty);
    }
    Ok(out)
}

fn kind_of(e: &Entry) -> &'static str {
    match e {
        Entry::ICalendar(_) => "un calendario",
        Entry::UnterminatedComponent(_) => "senza END:VCARD",
        _ => "contenuto inatteso",
    }
}

fn text_of(e: &VCardEntry) -> String {
    e.values
        .iter()
        .filter_map(|v| v.as_text())
        .collect::<Vec<_>>()
        .join(", ")
        .trim()
        .to_string()
}

fn has_type(e: &VCardEntry, wanted: &str) -> bool {
    e.params.iter().any(|p| match (&p.name, &p.value) {
        (VCardParameterName::Type, VCardParameterValue::Text(t)) => t.eq_ignore_ascii_case(wanted),
        (VCardParameterName::Type, VCardParameterValue::Type(t)) => {
            t.as_str().eq_ignore_ascii_case(wanted)
        }
        _ => false,
    })
}

/// The contact a card shows.
pub fn contact_of(v: &VCard) -> Contact {
    let mut c = Contact {
        uid: v.uid().map(str::to_string),
        ..Contact::default()
    };
    // Apple's label for an address is a property of the same group (`item1.X-ABLabel`).
    let labelled_pec = |group: &Option<String>| {
        group.as_ref().is_some_and(|g| {
            v.entries.iter().any(|e| {
                e.group.as_ref() == Some(g)
                    && matches!(&e.name, VCardProperty::Other(n) if n.eq_ignore_ascii_case("X-ABLabel"))
                    && text_of(e).to_ascii_lowercase().contains("pec")
            })
        })
    };
    for e in &v.entries {
        match &e.name {
            VCardProperty::Fn => c.full_name = text_of(e),
            VCardProperty::N => {
                let parts: Vec<String> = e
                    .values
                    .iter()
                    .map(|v| match v {
                        VCardValue::Component(list) => list.join(" "),
                        other => other.as_text().unwrap_or_default().to_string(),
                    })
                    .collect();
                c.family = parts
                    .first()
                    .cloned()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                c.given = parts.get(1).cloned().unwrap_or_default().trim().to_string();
            }
            VCardProperty::Org => {
                c.org = e
                    .values
                    .iter()
                    .filter_map(|v| v.as_text())
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
            VCardProperty::Email => {
                if let Some(address) = clean_address(&text_of(e)) {
                    let pec = has_type(e, "pec") || labelled_pec(&e.group);
                    c.emails.push(Email { address, pec });
                }
            }
            VCardProperty::Tel => {
                let t = text_of(e);
                let t = t.strip_prefix("tel:").unwrap_or(&t).to_string();
                if !t.is_empty() {
                    c.phones.push(t);
                }
            }
            VCardProperty::Note => c.note = text_of(e),
            VCardProperty::Categories => c.categories.extend(
                e.values
                    .iter()
                    .filter_map(|v| v.as_text())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            ),
            VCardProperty::Kind => {
                c.group = e
                    .values
                    .iter()
                    .any(|v| matches!(v, VCardValue::Kind(VCardKind::Group)))
                    || text_of(e).eq_ignore_ascii_case("group")
            }
            VCardProperty::Member => c.members.push(text_of(e)),
            VCardProperty::Photo => c.has_photo = true,
            VCardProperty::Other(name) => {
                // Apple's groups (vCard 3.0).
                if name.eq_ignore_ascii_case("X-ADDRESSBOOKSERVER-KIND") {
                    c.group = text_of(e).eq_ignore_ascii_case("group");
                } else if name.eq_ignore_ascii_case("X-ADDRESSBOOKSERVER-MEMBER") {
                    c.members.push(text_of(e));
                }
            }
            _ => {}
        }
    }
    c
}

/// The card as vCard 4.0 (RFC 6350), every property kept.
pub fn write_v4(v: &VCard) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = v.write_to(&mut out, VCardVersion::V4_0);
    out
}

#[cfg(test)]
mod tests {
    use super::{read, write_v4};
    use crate::{Email, FormatError, Limits};

    const THUNDERBIRD_V3: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a1\r\nFN:Mario Rossi\r\nN:Rossi;Mario;;;\r\nORG:Comune di Forlì\r\nEMAIL;TYPE=internet:mario.rossi@pec.comune.forli.fc.it\r\nEMAIL;TYPE=pec:protocollo@pec.comune.forli.fc.it\r\nTEL;TYPE=cell:+39 333 1234567\r\nNOTE:Ufficio protocollo\\, piano terra\r\n  (ingresso B)\r\nCATEGORIES:Enti,Fornitori\r\nX-CUSTOM-FIELD:tenuto\r\nEND:VCARD\r\n";

    #[test]
    fn a_v3_card_reads_with_its_folded_lines_and_keeps_every_property() {
        let cards = read(THUNDERBIRD_V3, &Limits::default()).expect("read");
        let card = cards[0].as_ref().expect("card");
        let c = &card.contact;
        assert_eq!((c.given.as_str(), c.family.as_str()), ("Mario", "Rossi"));
        assert_eq!(c.org, "Comune di Forlì");
        assert_eq!(c.note, "Ufficio protocollo, piano terra (ingresso B)");
        assert_eq!(c.categories, vec!["Enti", "Fornitori"]);
        assert_eq!(
            c.emails[1],
            Email {
                address: "protocollo@pec.comune.forli.fc.it".into(),
                pec: true
            }
        );
        assert!(!c.emails[0].pec);
        let v4 = write_v4(&card.vcard);
        assert!(v4.contains("VERSION:4.0"), "{v4}");
        assert!(
            v4.contains("X-CUSTOM-FIELD:tenuto"),
            "unknown properties kept: {v4}"
        );
        // Round trip: the 4.0 text reads back to the same contact.
        let again = read(&v4, &Limits::default()).expect("again");
        assert_eq!(&again[0].as_ref().expect("card").contact, c);
    }

    #[test]
    fn groups_of_v4_and_of_apple_and_quoted_printable_v21() {
        let file = "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Avvocati\r\nMEMBER:urn:uuid:a1\r\nMEMBER:mailto:studio@pec.example.it\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Clienti\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b2\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Bianch=C3=AC;Anna\r\nitem1.EMAIL:anna@pec.example.it\r\nitem1.X-ABLabel:PEC\r\nEND:VCARD\r\n";
        let cards = read(file, &Limits::default()).expect("read");
        let c: Vec<_> = cards
            .into_iter()
            .map(|c| c.expect("card").contact)
            .collect();
        assert!(c[0].group && c[0].members.len() == 2, "{:?}", c[0]);
        assert!(
            c[1].group && c[1].members == vec!["urn:uuid:b2"],
            "{:?}",
            c[1]
        );
        assert_eq!(c[2].family, "Bianchì");
        assert!(c[2].emails[0].pec, "Apple's label marks the PEC address");
    }

    #[test]
    fn hostile_files_are_refused_or_named() {
        let limits = Limits {
            file_bytes: 10_000,
            contacts: 2,
            card_bytes: 500,
        };
        assert_eq!(
            read(&"x".repeat(10_001), &limits).unwrap_err(),
            FormatError::TooLarge(10_000)
        );
        let three = THUNDERBIRD_V3.repeat(3);
        assert_eq!(read(&three, &limits).unwrap_err(), FormatError::TooMany(2));
        assert_eq!(read("", &limits).unwrap_err(), FormatError::Empty);
        let big = format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grande\r\nNOTE:{}\r\nEND:VCARD\r\n",
            "x".repeat(800)
        );
        let got = read(&format!("{big}{}", THUNDERBIRD_V3), &limits).expect("read");
        assert!(
            matches!(got[0], Err(FormatError::Card { index: 1, .. })),
            "{got:?}"
        );
        assert!(got[1].is_ok(), "the next card is still read");
        let calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        let got = read(calendar, &limits).expect("read");
        assert!(matches!(got[0], Err(FormatError::Card { .. })));
    }
}
