//! PINs, PUKs and other secrets from the command line: never only from argv.
//!
//! A secret option takes, like OpenSSL's `-passin`:
//! `env:VAR` (an environment variable), `fd:N` (the first line read from file descriptor N),
//! `file:PATH` (the first line of a file), `prompt` (asked on the terminal without echo),
//! `pass:VALUE` or a bare VALUE (argv: visible to other local users in `ps`).
//! A PIN that is needed but not given is asked for on the terminal when there is one.

use crate::fail::Fail;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::str::FromStr;
use zeroize::Zeroizing;

/// Where a secret comes from. `Debug` never shows a literal value.
#[derive(Clone)]
pub enum SecretSource {
    Literal(Zeroizing<String>),
    Env(String),
    Fd(u32),
    File(std::path::PathBuf),
    Prompt,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretSource::Env(v) => write!(f, "Env({v})"),
            SecretSource::Fd(n) => write!(f, "Fd({n})"),
            SecretSource::File(p) => write!(f, "File({})", p.display()),
            SecretSource::Prompt => f.write_str("Prompt"),
        }
    }
}

impl FromStr for SecretSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(if let Some(v) = s.strip_prefix("env:") {
            SecretSource::Env(v.to_owned())
        } else if let Some(n) = s.strip_prefix("fd:") {
            SecretSource::Fd(
                n.parse()
                    .map_err(|_| format!("fd:{n}: not a file descriptor number"))?,
            )
        } else if let Some(p) = s.strip_prefix("file:") {
            SecretSource::File(p.into())
        } else if s == "prompt" {
            SecretSource::Prompt
        } else {
            SecretSource::Literal(Zeroizing::new(
                s.strip_prefix("pass:").unwrap_or(s).to_owned(),
            ))
        })
    }
}

/// A secret value, zeroized when dropped; `Debug` shows its length only.
pub struct Secret(Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn new(v: Vec<u8>) -> Self {
        Secret(Zeroizing::new(v))
    }
}

fn first_line(r: impl std::io::Read, what: &str) -> Result<Secret, Fail> {
    let mut line = Zeroizing::new(String::new());
    BufReader::new(r)
        .read_line(&mut line)
        .map_err(|e| Fail::msg(format!("cannot read the {what}: {e}")))?;
    let v = line.trim_end_matches(['\n', '\r']);
    Ok(Secret::new(v.as_bytes().to_vec()))
}

impl SecretSource {
    /// Reads the secret; `what` names it in prompts and messages ("PIN of key 3").
    pub fn read(&self, what: &str) -> Result<Secret, Fail> {
        match self {
            SecretSource::Literal(v) => Ok(Secret::new(v.as_bytes().to_vec())),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) => Ok(Secret::new(Zeroizing::new(v).as_bytes().to_vec())),
                Err(_) => Err(Fail::usage(format!(
                    "the {what} should come from environment variable {var}, which is not set"
                ))),
            },
            // /proc/self/fd/N opens the descriptor without unsafe code.
            SecretSource::Fd(n) => {
                let f = std::fs::File::open(format!("/proc/self/fd/{n}")).map_err(|e| {
                    Fail::usage(format!(
                        "cannot read the {what} from file descriptor {n}: {e}"
                    ))
                })?;
                first_line(f, what)
            }
            SecretSource::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    Fail::usage(format!("cannot read the {what} from {}: {e}", p.display()))
                })?;
                first_line(f, what)
            }
            SecretSource::Prompt => prompt(what),
        }
    }
}

/// Asks on the controlling terminal, without echo.
pub fn prompt(what: &str) -> Result<Secret, Fail> {
    rpassword::prompt_password(format!("{what}: "))
        .map(|v| Secret::new(Zeroizing::new(v).as_bytes().to_vec()))
        .map_err(|e| Fail::usage(format!("the {what} is needed and cannot be asked for: {e}")))
}

/// Whether a prompt can be shown: a terminal on stdin and stderr.
pub fn can_prompt() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The secret from `source`, else (when `needed`) from a prompt when there is a terminal.
pub fn get(
    source: &Option<SecretSource>,
    what: &str,
    needed: bool,
) -> Result<Option<Secret>, Fail> {
    match source {
        Some(s) => s.read(what).map(Some),
        None if needed && can_prompt() => prompt(what).map(Some),
        None => Ok(None),
    }
}

impl<'de> serde::Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(matches!("env:X".parse(), Ok(SecretSource::Env(v)) if v == "X"));
        assert!(matches!("fd:3".parse(), Ok(SecretSource::Fd(3))));
        assert!("fd:x".parse::<SecretSource>().is_err());
        assert!(matches!("prompt".parse(), Ok(SecretSource::Prompt)));
        let lit: SecretSource = "pass:1234".parse().unwrap();
        assert_eq!(lit.read("PIN").unwrap().bytes(), b"1234");
        assert!(!format!("{lit:?}").contains("1234"));
        let bare: SecretSource = "9876".parse().unwrap();
        assert_eq!(bare.read("PIN").unwrap().bytes(), b"9876");
        let s = Secret::new(b"5555".to_vec());
        assert!(!format!("{s:?}").contains("5555"));
    }

    #[test]
    fn missing_env_is_usage() {
        let s: SecretSource = "env:SKS_TEST_SURELY_UNSET_VAR".parse().unwrap();
        assert_eq!(s.read("PIN").unwrap_err().exit_code(), 2);
    }
}
