//! `certa bench sign`: PEC messages built and signed per second on one core, beside the raw
//! RSA-2048 sign rate of the same machine measured in the same run. Figures, not a test.

use anyhow::Context;
use openssl::hash::MessageDigest;
use openssl::sign::Signer as RawSigner;
use pec::{Builder, PecTime, ProviderIdentity, Signer, Transaction};
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Build-and-sign throughput of envelopes and receipts (10 KB and 1 MB originals).
    Sign {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Sign { seconds } => sign(Duration::from_secs_f64(*seconds)),
    }
}

/// Runs `f` repeatedly for `d`, returning operations per second.
fn rate(d: Duration, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?; // warm-up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        f()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn original(size: usize) -> Vec<u8> {
    let mut m = b"From: a@pec.bench.test\r\nTo: b@pec.bench.test\r\nSubject: bench\r\nMessage-ID: <bench@client>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntesto\r\n--b\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let payload: Vec<u8> = (0..size * 3 / 4).map(|i| (i * 7 % 251) as u8).collect();
    m.extend(pec::wire::base64_lines(&payload));
    m.extend_from_slice(b"--b--\r\n");
    m
}

/// `openssl speed rsa2048` of the installed openssl command, if there is one.
fn openssl_speed() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))?;
    line.split_whitespace().nth(5)?.parse().ok()
}

fn sign(d: Duration) -> anyhow::Result<()> {
    let ca = pec::pki::new_ca("Bench CA", "Certa Bench").context("CA")?;
    let cred = pec::pki::issue_signing_certificate(&ca, "Certa Bench", "pec.bench.test", 30)
        .context("signing cert")?;
    let signer = Signer::new(cred.cert.clone(), cred.key.clone(), vec![])?;
    let provider = ProviderIdentity::new("Certa Bench", "pec.bench.test");
    let builder = Builder::new(&provider);

    println!(
        "certa bench sign — one core, {:.1} s per figure",
        d.as_secs_f64()
    );
    let raw_sign = || {
        rate(d, || {
            let mut s = RawSigner::new(MessageDigest::sha256(), &cred.key)?;
            s.update(b"0123456789abcdef0123456789abcdef")?;
            s.sign_to_vec()?;
            Ok(())
        })
    };
    let raw_first = raw_sign()?;
    println!(
        "{:<48}{raw_first:>10.0} /s",
        "raw RSA-2048 sign (in-process OpenSSL)"
    );
    let speed = openssl_speed();
    if let Some(speed) = speed {
        println!(
            "{:<48}{speed:>10.0} /s",
            "raw RSA-2048 sign (`openssl speed rsa2048`)"
        );
    }
    let cms = rate(d, || {
        signer.sign_detached(&[b'x'; 10 * 1024], PecTime::new(chrono::Utc::now()))?;
        Ok(())
    })?;
    println!(
        "{:<48}{cms:>10.0} /s",
        "CMS detached signature alone, 10 KB"
    );
    let time = PecTime::new(chrono::Utc::now());
    let mut rows = Vec::new();
    let rcpts = vec!["b@pec.bench.test".to_string()];
    for (label, size) in [("10 KB", 10 * 1024), ("1 MB", 1024 * 1024)] {
        let orig = original(size);
        let tx = Transaction::from_original(
            &orig,
            "a@pec.bench.test",
            &rcpts,
            "certa.bench.1@pec.bench.test".into(),
            time,
            |_| true,
        );
        let env = rate(d, || {
            builder.transport_envelope(&tx, &orig).sign(&signer)?;
            Ok(())
        })?;
        // The delivery point's input: the original as the envelope carries it.
        let carried =
            pec::headers::rewrite_message_id(&orig, &tx.identificativo, tx.msgid.as_deref());
        let whole = rate(d, || {
            builder.transport_envelope(&tx, &orig).sign(&signer)?;
            builder.acceptance(&tx).sign(&signer)?;
            builder
                .delivery(&tx, "b@pec.bench.test", &carried)
                .sign(&signer)?;
            Ok(())
        })?;
        rows.push((label, env, whole));
    }
    let raw_last = raw_sign()?;
    println!(
        "{:<48}{raw_last:>10.0} /s",
        "raw RSA-2048 sign again (in-process OpenSSL)"
    );
    // The machine's sign rate is the best figure seen: the ratio errs on the low side.
    let raw = raw_first.max(raw_last).max(speed.unwrap_or(0.0));
    for (label, env, whole) in rows {
        println!(
            "{:<48}{env:>10.0} /s",
            format!("envelope built + signed, {label} original")
        );
        println!(
            "{:<48}{whole:>10.0} /s   ({:.0} % of best sign-rate / 3)",
            format!("envelope + acceptance + delivery, {label}"),
            whole / (raw / 3.0) * 100.0
        );
    }
    Ok(())
}
