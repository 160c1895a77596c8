//! Shared helpers for the integration tests: the `shared/` folder beside the repository and
//! a throw-away PKI.
#![allow(dead_code)]

use pec::pki::{self, Credential};
use std::path::PathBuf;

/// `../shared` of the repository (or `$CERTA_SHARED`).
pub fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("CERTA_SHARED") {
        return PathBuf::from(p);
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared");
        if candidate.join("fixtures").is_dir() {
            return candidate;
        }
        let sibling = dir.join("..").join("shared");
        if sibling.join("fixtures").is_dir() {
            return sibling;
        }
        if !dir.pop() {
            panic!("cannot find shared/ (set CERTA_SHARED)");
        }
    }
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let p = shared().join("fixtures/pec-real").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub struct TestPki {
    pub ca: Credential,
    pub signing: Credential,
}

pub fn test_pki(provider: &str, domain: &str) -> TestPki {
    let ca = pki::new_ca(&format!("{provider} Test CA"), provider).unwrap();
    let signing = pki::issue_signing_certificate(&ca, provider, domain, 365).unwrap();
    TestPki { ca, signing }
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
