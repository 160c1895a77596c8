//! Italian by default, English on request; dates in Europe/Rome.

use chrono::TimeZone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    It,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s == "en" {
            Lang::En
        } else {
            Lang::It
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::It => "it",
            Lang::En => "en",
        }
    }

    /// The text in this language: templates write both, Italian first.
    pub fn t<'a>(&self, it: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::It => it,
            Lang::En => en,
        }
    }
}

/// `23/11/2026 15:04` in Europe/Rome.
pub fn datetime(unix: i64) -> String {
    match chrono_tz::Europe::Rome.timestamp_opt(unix, 0).single() {
        Some(t) => t.format("%d/%m/%Y %H:%M").to_string(),
        None => String::new(),
    }
}

/// `23/11/2026` in Europe/Rome (a day, as the switch-over date is given).
pub fn date(unix: i64) -> String {
    match chrono_tz::Europe::Rome.timestamp_opt(unix, 0).single() {
        Some(t) => t.format("%d/%m/%Y").to_string(),
        None => String::new(),
    }
}

impl Lang {
    /// How long is left, rounded up to minutes: "tempo stimato: 3 minuti".
    pub fn time_left(self, secs: i64) -> String {
        let minutes = if secs < 60 { 0 } else { (secs + 59) / 60 };
        match (self, minutes) {
            (Lang::It, 0) => "tempo stimato: meno di un minuto".into(),
            (Lang::It, 1) => "tempo stimato: 1 minuto".into(),
            (Lang::It, n) => format!("tempo stimato: {n} minuti"),
            (Lang::En, 0) => "time left: less than a minute".into(),
            (Lang::En, 1) => "time left: 1 minute".into(),
            (Lang::En, n) => format!("time left: {n} minutes"),
        }
    }

    /// A size as this language writes it (decimal comma in Italian).
    pub fn size(self, bytes: i64) -> String {
        let b = bytes.max(0) as f64;
        let s = if b >= 1024.0 * 1024.0 {
            format!("{:.1} MB", b / (1024.0 * 1024.0))
        } else if b >= 1024.0 {
            format!("{:.0} KB", b / 1024.0)
        } else {
            format!("{b} B")
        };
        match self {
            Lang::It => s.replace('.', ","),
            Lang::En => s,
        }
    }
}

/// What a user reads for a PEC kind code (`store` keeps `MessageKind::code()`).
pub fn pec_badge(code: &str, lang: Lang) -> &'static str {
    let (it, en) = match code {
        "busta-trasporto" => ("Posta certificata", "Certified mail"),
        "busta-anomalia" => ("Anomalia", "Anomaly"),
        "accettazione" => ("Accettazione", "Acceptance"),
        "non-accettazione" | "non-accettazione-virus" => ("Non accettazione", "Non-acceptance"),
        "presa-in-carico" => ("Presa in carico", "Taken in charge"),
        "rilevazione-virus" => ("Virus", "Virus"),
        "avvenuta-consegna-completa"
        | "avvenuta-consegna-breve"
        | "avvenuta-consegna-sintetica" => ("Consegna", "Delivery"),
        "mancata-consegna" | "mancata-consegna-virus" => ("Mancata consegna", "Non-delivery"),
        "mancata-consegna-12h" => ("Preavviso 12 ore", "12-hour notice"),
        "mancata-consegna-24h" => ("Scaduti i tempi (24 ore)", "Timed out (24 hours)"),
        _ => ("PEC", "PEC"),
    };
    lang.t(it, en)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rome_time_and_sizes() {
        // 2026-07-01T10:00:00Z is 12:00 in Rome (CEST).
        assert_eq!(datetime(1_782_900_000), "01/07/2026 12:00");
        assert_eq!(Lang::It.size(1536), "2 KB");
        assert_eq!(Lang::It.size(1_572_864), "1,5 MB");
        assert_eq!(Lang::En.size(1_572_864), "1.5 MB");
        assert_eq!(date(1_782_900_000), "01/07/2026");
        assert_eq!(Lang::It.time_left(30), "tempo stimato: meno di un minuto");
        assert_eq!(Lang::It.time_left(121), "tempo stimato: 3 minuti");
        assert_eq!(Lang::En.time_left(600), "time left: 10 minutes");
    }
}
