//! Test support: the outside programs Certa's tests run (openssl, xmllint, python3, clamd,
//! fetchmail, sqlite3 …). A test that needs one that is missing stops with a message naming
//! the program and the Debian package, instead of an obscure "No such file or directory".
//! `scripts/test` installs them all.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian package that provides a program the tests run.
fn package_of(program: &str) -> &str {
    match program {
        "xmllint" => "libxml2-utils",
        "mbsync" => "isync",
        "offlineimap" => "offlineimap3",
        "clamd" => "clamav-daemon",
        "chromedriver" => "chromium-driver",
        other => other,
    }
}

/// Where `program` is on the PATH, if it is.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Stops the test unless every one of `programs` is installed, naming what is missing.
pub fn require(programs: &[&str]) {
    let missing: Vec<String> = programs
        .iter()
        .filter(|p| find(p).is_none())
        .map(|p| format!("`{p}` (Debian package {})", package_of(p)))
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs {} on the PATH; `scripts/test` installs everything the tests need",
        missing.join(", ")
    );
}

/// Stops the test unless python3 can import every one of `modules`, naming what is missing.
pub fn require_python(modules: &[&str]) {
    require(&["python3"]);
    let missing: Vec<&str> = modules
        .iter()
        .copied()
        .filter(|m| {
            !Command::new("python3")
                .args(["-c", &format!("import {m}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs the Python modules {} (pip install {}); `scripts/test` installs \
         everything the tests need",
        missing.join(", "),
        missing.join(" ")
    );
}

/// A command for `program`, after checking that it is installed.
pub fn tool(program: &str) -> Command {
    require(&[program]);
    Command::new(program)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_program_is_named_with_its_package() {
        super::require(&["sh"]);
        let missing = std::panic::catch_unwind(|| super::require(&["xmllint-not-installed"]));
        let message = missing
            .err()
            .and_then(|e| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(message.contains("`xmllint-not-installed`"), "{message}");
        assert!(message.contains("scripts/test"), "{message}");
    }
}
