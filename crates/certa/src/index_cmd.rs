//! `certa index entry --cert CERT.pem --name NAME --domain D... --receipt-address A`.

use crate::read_file;
use anyhow::Context;
use openssl::x509::X509;
use pec::ProviderEntry;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum IndexCommand {
    /// Write a provider-index LDIF entry for a signing certificate.
    Entry {
        /// The provider's signing certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// providerName, e.g. "Certa S.p.A."
        #[arg(long)]
        name: String,
        /// Managed PEC domain (repeatable).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// The provider service mailbox (mailReceipt).
        #[arg(long)]
        receipt_address: String,
    },
    /// Import provider entries into this provider's index: the signed .p7m, checked against
    /// the authority that publishes the index (--signer, or [verification] index_signer), or
    /// plain LDIF with --unsigned.
    Import {
        file: PathBuf,
        /// The certificate (PEM) of the authority that signs the index.
        #[arg(long)]
        signer: Option<PathBuf>,
        /// Accept plain, unsigned LDIF (entries you wrote or checked yourself).
        #[arg(long)]
        unsigned: bool,
    },
    /// Print this provider's own entry (its active domains).
    Export {
        /// Also list these domains in migration: the entry to send the index authority for
        /// their switch-over.
        #[arg(long)]
        including: Vec<String>,
    },
}

pub fn run(data: &std::path::Path, cmd: &IndexCommand) -> anyhow::Result<()> {
    match cmd {
        IndexCommand::Entry {
            cert,
            name,
            domains,
            receipt_address,
        } => {
            let pem = read_file(cert)?;
            let cert = X509::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", cert.display()))?;
            let entry = ProviderEntry::for_certificate(&cert, name, domains, receipt_address);
            print!("{}", entry.to_ldif());
            Ok(())
        }
        IndexCommand::Import {
            file,
            signer,
            unsigned,
        } => crate::admin::index_import(data, file, signer.as_deref(), *unsigned),
        IndexCommand::Export { including } => crate::admin::index_export(data, including),
    }
}
