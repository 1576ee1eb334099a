//! Helpers shared by the `sks` end-to-end tests.
// Each test crate includes this module and uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// A temporary directory for one test: the card image `card.img` and the test's files. Each
/// test crate adds the ways it runs `sks` on it.
pub struct Card {
    pub dir: tempfile::TempDir,
}

impl Card {
    pub fn new() -> Self {
        Card {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The card image.
    pub fn image(&self) -> PathBuf {
        self.path("card.img")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `openssl` and requires success; the failure message shows its output.
pub fn openssl(args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The arguments of `sks sign --key KEY --alg ALG --hash HASH`, then `more` (`--pin ...`).
pub fn sign_hash<'a>(key: &'a str, alg: &'a str, hash: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sign", "--key", key, "--alg", alg, "--hash", hash];
    args.extend_from_slice(more);
    args
}
