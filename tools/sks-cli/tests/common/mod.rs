//! Helpers shared by the `sks` end-to-end tests.

use std::process::{Command, Output};

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
