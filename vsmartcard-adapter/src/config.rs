//! `sks-card`'s settings: command-line flags over a TOML `--config` file over defaults, and the
//! cards to serve (`--card PORT:STORE` repeated, or `[[card]]` tables).

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One card: its vpcd port and where it keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSpec {
    pub port: u16,
    /// `None`: RAM only.
    pub store: Option<PathBuf>,
}

impl std::str::FromStr for CardSpec {
    type Err = String;

    /// `PORT:PATH` or `PORT:ram`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (port, store) = s
            .split_once(':')
            .ok_or_else(|| format!("--card {s:?}: PORT:STORE (a path, or ram)"))?;
        let port = port
            .parse()
            .map_err(|_| format!("--card {s:?}: {port:?} is not a port"))?;
        if store.is_empty() {
            return Err(format!("--card {s:?}: give a store path, or ram"));
        }
        Ok(CardSpec {
            port,
            store: (store != "ram").then(|| PathBuf::from(store)),
        })
    }
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub host: Option<String>,
    /// error, warn, info, debug or trace.
    pub log_level: Option<String>,
    pub simulate_biometric: Option<bool>,
    #[serde(default)]
    pub card: Vec<CardTable>,
}

/// A `[[card]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardTable {
    pub port: u16,
    pub store: Option<PathBuf>,
    #[serde(default)]
    pub ram: bool,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// The cards of the file.
    pub fn cards(&self) -> Result<Vec<CardSpec>, String> {
        self.card
            .iter()
            .map(|c| match (&c.store, c.ram) {
                (Some(_), true) => Err(format!("[[card]] port {}: store and ram", c.port)),
                (None, false) => Err(format!(
                    "[[card]] port {}: give store or ram = true",
                    c.port
                )),
                (store, _) => Ok(CardSpec {
                    port: c.port,
                    store: store.clone(),
                }),
            })
            .collect()
    }
}

/// Two cards may not share a port or an image.
pub fn check_distinct(cards: &[CardSpec]) -> Result<(), String> {
    for (i, a) in cards.iter().enumerate() {
        for b in &cards[i + 1..] {
            if a.port == b.port {
                return Err(format!("two cards on vpcd port {}", a.port));
            }
            if a.store.is_some() && a.store == b.store {
                return Err(format!(
                    "two cards on one image {}",
                    a.store
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_specs() {
        let c: CardSpec = "35963:ram".parse().unwrap();
        assert_eq!(
            c,
            CardSpec {
                port: 35963,
                store: None
            }
        );
        let c: CardSpec = "35964:/tmp/x.img".parse().unwrap();
        assert_eq!(c.store.as_deref(), Some(Path::new("/tmp/x.img")));
        assert!("x:ram".parse::<CardSpec>().is_err());
        assert!("35963".parse::<CardSpec>().is_err());
        assert!(check_distinct(&[c.clone(), c]).is_err());
    }

    #[test]
    fn config_file() {
        let f: ConfigFile = toml::from_str(
            "host = '127.0.0.1'\nlog_level = 'debug'\n[[card]]\nport = 1\nram = true\n\
             [[card]]\nport = 2\nstore = '/x'\n",
        )
        .unwrap();
        assert_eq!(f.cards().unwrap().len(), 2);
        assert!(toml::from_str::<ConfigFile>("bogus = 1").is_err());
    }
}
