//! Reaching the card: a PC/SC reader or an in-process applet.

use crate::fail::Fail;
use pcsc_bridge::{InProcess, PcscTransport, Sks, Transport, TransportError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The transport of one `sks` run.
pub enum Conn {
    InProcess(InProcess<dyn applet::Card + Send>),
    Pcsc(PcscTransport),
}

impl Transport for Conn {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self {
            Conn::InProcess(t) => t.transmit(command),
            Conn::Pcsc(t) => t.transmit(command),
        }
    }

    fn exclusive(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Transport),
    ) -> Result<(), TransportError> {
        match self {
            Conn::InProcess(t) => t.exclusive(body),
            Conn::Pcsc(t) => t.exclusive(body),
        }
    }
}

/// Where the card is.
pub enum Target {
    /// A card in a PC/SC reader.
    Pcsc {
        pattern: Option<String>,
        timeout: Duration,
    },
    /// The applet in this process, on a file image or in RAM.
    InProcess { store: Option<PathBuf> },
}

impl Target {
    /// A one-line description for `-v`.
    pub fn describe(&self) -> String {
        match self {
            Target::Pcsc {
                pattern: Some(p), ..
            } => format!("PC/SC reader matching {p:?}"),
            Target::Pcsc { pattern: None, .. } => "the first PC/SC reader with an SKS card".into(),
            Target::InProcess { store: Some(p) } => {
                format!("in-process card, image {}", p.display())
            }
            Target::InProcess { store: None } => {
                "in-process card in RAM (discarded on exit)".into()
            }
        }
    }
}

/// Connects to the card and SELECTs the SKS applet.
pub fn connect(target: &Target, verbose: bool) -> Result<Sks<Conn>, Fail> {
    let conn = match target {
        Target::Pcsc { pattern, timeout } => {
            let t = PcscTransport::connect(pattern.as_deref(), *timeout).map_err(|e| {
                Fail::Transport(format!(
                    "{}\n(hint: is pcscd running with a virtual reader? Use --in-process \
                     --store FILE to run the card in this process)",
                    crate::fail::transport_text(&e)
                ))
            })?;
            if verbose {
                eprintln!("sks: using reader {:?}", t.reader_name());
            }
            Conn::Pcsc(t)
        }
        Target::InProcess { store } => {
            if let Some(path) = store {
                ensure_parent(path)?;
            }
            let card = applet::open_card(store.as_deref())
                .map_err(|e| Fail::Transport(format!("cannot start the in-process card: {e}")))?;
            let t = InProcess::from_box(card).map_err(|e| {
                Fail::Transport(format!(
                    "the in-process card refused SELECT: {}",
                    crate::fail::transport_text(&e)
                ))
            })?;
            if verbose {
                eprintln!("sks: {}", target.describe());
            }
            Conn::InProcess(t)
        }
    };
    Ok(Sks::new(conn))
}

/// Powers an in-process card off (a PC/SC connection just disconnects on drop).
pub fn disconnect(sks: Sks<Conn>) {
    match sks.into_transport() {
        Conn::InProcess(t) => drop(t.into_card()),
        Conn::Pcsc(t) => drop(t),
    }
}

fn ensure_parent(path: &Path) -> Result<(), Fail> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|e| Fail::Msg(format!("cannot create directory {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}
