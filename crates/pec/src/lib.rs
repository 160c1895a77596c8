//! PEC formats: every message kind of Italian certified e-mail (RFC 6109, DM 2 novembre
//! 2005), built, parsed, signed and verified. Pure library: no network, no clock (callers pass
//! the time), no global state.
//!
//! - [`kind`]: the message catalogue; [`daticert`]: certification data;
//! - [`build`]: builders for every kind; [`breve`]: the *breve* receipt transform;
//! - [`smime`]: signing; [`verify`]: verification; [`index`]: the provider index;
//! - [`parse`]: the classifier for what arrives; [`checks`]: the access point's formal checks.

pub mod breve;
pub mod build;
pub mod checks;
mod cms_attrs;
mod cms_sign;
pub mod daticert;
pub mod headers;
pub mod index;
pub mod kind;
pub mod parse;
pub mod pki;
pub mod smime;
pub mod text;
pub mod time;
pub mod verify;
pub mod wire;

pub use build::{Builder, ProviderIdentity, Recipient, Transaction, UnsignedMessage};
pub use daticert::DatiCert;
pub use index::{ProviderEntry, ProviderIndex};
pub use kind::{
    DatiCertTipo, ErrorCode, MessageKind, ReceiptType, RecipientKind, TimeoutStage, UnknownName,
};
pub use parse::{classify, PecMessage};
pub use smime::Signer;
pub use time::PecTime;
pub use verify::{verify, verify_at, CheckTime, TrustAnchors, Verdict, Verification};
