//! `certa verify FILE.eml [--index FILE.ldif] [--trust CA.pem] [--json]`.

use crate::read_file;
use anyhow::Context;
use pec::{classify, verify, ProviderIndex, TrustAnchors};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The message (.eml) to verify.
    file: PathBuf,
    /// Provider index: LDIF, or the signed .p7m as distributed.
    #[arg(long)]
    index: Option<PathBuf>,
    /// Trust anchors (PEM, repeatable). Default: the system's CA certificates.
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Language of the text output: it (default) or en.
    #[arg(long, default_value = "it")]
    lang: String,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let raw = read_file(&args.file)?;
    let parsed =
        classify(&raw).with_context(|| format!("{} is not a message", args.file.display()))?;
    let trust = if args.trust.is_empty() {
        TrustAnchors::system()
    } else {
        let mut pem = Vec::new();
        for t in &args.trust {
            pem.extend(read_file(t)?);
            pem.push(b'\n');
        }
        TrustAnchors::from_pem(&pem).context("trust anchors are not PEM certificates")?
    };
    let index = match &args.index {
        Some(p) => ProviderIndex::from_bytes(&read_file(p)?, None)
            .with_context(|| format!("reading {}", p.display()))?,
        None => ProviderIndex::default(),
    };
    let v = verify(&raw, &parsed, &index, &trust);
    let english = args.lang.eq_ignore_ascii_case("en");
    if args.json {
        let out = serde_json::json!({
            "file": args.file,
            "kind": parsed.kind,
            "valid": v.verdict.is_valid(),
            "verdict": v.verdict,
            "reason": if english { v.verdict.describe_en() } else { v.verdict.describe_it() },
            "provider": v.provider.as_ref().map(|p| &p.name),
            "identificativo": parsed.daticert.as_ref().map(|d| &d.identificativo),
            "msgid": parsed.daticert.as_ref().and_then(|d| d.msgid.clone()).or(parsed.riferimento_message_id.clone()),
            "sender": parsed.daticert.as_ref().map(|d| &d.mittente),
            "recipients": parsed.daticert.as_ref().map(|d| &d.destinatari),
            "date": parsed.daticert.as_ref().map(|d| d.data.rfc5322()).or(parsed.date.clone()),
            "receipt_type": parsed.daticert.as_ref().and_then(|d| d.ricevuta),
            "subject": certified_subject(&parsed, &v),
            "signer": v.signer,
            "daticert": parsed.daticert,
            "daticert_error": parsed.daticert_error,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&parsed, &v, english);
    }
    Ok(if v.verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The subject as signed (kind prefix and daticert's oggetto) when the message verifies;
/// otherwise the outer Subject, which nothing vouches for.
fn certified_subject(p: &pec::PecMessage, v: &pec::Verification) -> String {
    match (v.verdict.is_valid(), p.certified_subject()) {
        (true, Some(s)) => s,
        _ => p.subject.clone(),
    }
}

fn print_text(p: &pec::PecMessage, v: &pec::Verification, en: bool) {
    let label = |it: &str, e: &str| format!("{:<16}", format!("{}:", if en { e } else { it }));
    let none = if en { "(none)" } else { "(nessuno)" };
    let kind = p
        .kind
        .map(|k| {
            format!(
                "{} ({})",
                if en { k.name_en() } else { k.name_it() },
                k.code()
            )
        })
        .unwrap_or_else(|| {
            if en {
                "not a PEC message".into()
            } else {
                "non è un messaggio PEC".into()
            }
        });
    println!("{}{kind}", label("tipo", "kind"));
    println!(
        "{}{}",
        label("gestore", "provider"),
        v.provider
            .as_ref()
            .map_or(none.to_string(), |p| p.name.clone())
    );
    println!("{}{}", label("oggetto", "subject"), certified_subject(p, v));
    if let Some(d) = &p.daticert {
        println!(
            "{}{}",
            label("identificativo", "identifier"),
            d.identificativo
        );
        println!(
            "{}{}",
            label("msgid", "msgid"),
            d.msgid.as_deref().unwrap_or(none)
        );
        println!("{}{}", label("mittente", "sender"), d.mittente);
        let rcpts: Vec<String> = d
            .destinatari
            .iter()
            .map(|r| format!("{} ({})", r.address, r.tipo.as_str()))
            .collect();
        println!("{}{}", label("destinatari", "recipients"), rcpts.join(", "));
        println!(
            "{}{} {} ({})",
            label("data", "date"),
            d.data.giorno(),
            d.data.ora(),
            d.data.zona()
        );
        println!(
            "{}{}",
            label("ricevuta", "receipt type"),
            d.ricevuta.map_or(none, |r| r.as_str())
        );
        if let Some(c) = &d.consegna {
            println!("{}{c}", label("consegna", "delivered to"));
        }
        if let Some(e) = &d.errore_esteso {
            println!("{}{} — {e}", label("errore", "error"), d.errore.as_str());
        }
    } else if let Some(e) = &p.daticert_error {
        println!("{}{e}", label("daticert.xml", "daticert.xml"));
    }
    if let Some(s) = &v.signer {
        println!(
            "{}{} (SHA-1 {})",
            label("firmatario", "signer"),
            s.subject,
            s.certificate_sha1
        );
        if let Some(t) = &s.signing_time {
            println!(
                "{}{t} ({})",
                label("firmato il", "signed at"),
                s.digest.as_deref().unwrap_or("?")
            );
        }
    }
    let verdict = if en {
        v.verdict.describe_en()
    } else {
        v.verdict.describe_it()
    };
    let head = match (v.verdict.is_valid(), en) {
        (true, false) => "VALIDO",
        (false, false) => "NON VALIDO",
        (true, true) => "VALID",
        (false, true) => "NOT VALID",
    };
    println!("{}{head}: {verdict}", label("esito", "verdict"));
}
