//! `sks-card`: the SKS applet as a virtual smart card in vsmartcard's vpcd reader.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

mod config;
use vsmartcard_adapter::{serve, CancellationToken, VpcdOptions, DEFAULT_HOST, DEFAULT_PORT};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// The SKS applet served as a virtual smart card through vsmartcard's vpcd reader driver
/// (Debian package vsmartcard-vpcd, loaded by pcscd).
///
/// The card connects to vpcd and keeps reconnecting (with backoff) while pcscd is stopped or
/// restarting. It stops cleanly on SIGINT or SIGTERM. Several cards run in one process with
/// `--card PORT:STORE` repeated (or `[[card]]` tables in the --config file).
#[derive(Debug, Parser)]
#[command(name = "sks-card", version)]
struct Args {
    /// TOML file with the settings below (host, log_level, simulate_biometric, [[card]] tables
    /// with port and store or ram = true); flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Host vpcd listens on [default: 127.0.0.1].
    #[arg(long)]
    host: Option<String>,

    /// vpcd's TCP port: 35963 is the first reader of Debian's /etc/reader.conf.d/vpcd
    /// ("Virtual PCD 00 00"), 35964 the second.
    #[arg(long, default_value_t = DEFAULT_PORT, conflicts_with = "card")]
    port: u16,

    /// File image holding the card's persistent state; created and personalized on first
    /// start. Default: $XDG_STATE_HOME/sks-card/card.img, else
    /// $HOME/.local/state/sks-card/card.img, else ./sks-card.img (the default directory is
    /// created when missing).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["ram", "card"])]
    store: Option<PathBuf>,

    /// Keep all state in RAM: nothing persists when the process ends.
    #[arg(long, conflicts_with = "card")]
    ram: bool,

    /// A card to serve, PORT:STORE (STORE a card image path, or `ram`); repeat for several
    /// cards, each with its own image and vpcd port.
    #[arg(long, value_name = "PORT:STORE")]
    card: Vec<config::CardSpec>,

    /// INSECURE, for middleware testing only: simulate a biometric reader. getDeviceInfo then
    /// reports biometricSupport and the card trusts any client's biometricAuth flag. Off by
    /// default: the card has no biometrics and refuses biometricProtection and biometricAuth.
    #[arg(long)]
    simulate_biometric: bool,

    /// Log verbosity [default: info] (RUST_LOG, when set, refines it per module). info: cards,
    /// vpcd connections; debug: power, every SKS call (method, handle, lengths, status,
    /// duration). No level shows APDU data.
    #[arg(long, value_enum)]
    log_level: Option<LogLevel>,
}

/// The default store path (see `--store`).
fn default_store() -> PathBuf {
    let nonempty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let state_dir = nonempty("XDG_STATE_HOME")
        .or_else(|| nonempty("HOME").map(|home| home.join(".local").join("state")));
    match state_dir {
        Some(dir) => dir.join("sks-card").join("card.img"),
        None => PathBuf::from("sks-card.img"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => match config::ConfigFile::load(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("sks-card: {e}");
                return ExitCode::from(2);
            }
        },
        None => config::ConfigFile::default(),
    };
    let level = match (args.log_level, file.log_level.as_deref()) {
        (Some(l), _) => l,
        (None, Some(l)) => match LogLevel::from_str(l, true) {
            Ok(l) => l,
            Err(_) => {
                eprintln!("sks-card: config file: unknown log_level {l:?}");
                return ExitCode::from(2);
            }
        },
        (None, None) => LogLevel::Info,
    };
    env_logger::Builder::new()
        .filter_level(level.into())
        .parse_default_env()
        .format_timestamp_millis()
        .init();

    let cards = match cards(&args, &file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sks-card: {e}");
            return ExitCode::from(2);
        }
    };
    let host = args
        .host
        .clone()
        .or(file.host.clone())
        .unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let options = applet::CardOptions {
        simulate_biometric: args.simulate_biometric || file.simulate_biometric.unwrap_or(false),
    };

    // Open every card before serving any: a locked or broken image stops the process at once.
    let mut opened = Vec::new();
    for spec in &cards {
        match applet::open_card_with(spec.store.as_deref(), options) {
            Ok(card) => {
                match &spec.store {
                    Some(path) => {
                        log::info!("card on vpcd port {}: store {}", spec.port, path.display())
                    }
                    None => log::info!("card on vpcd port {}: state in RAM only", spec.port),
                }
                opened.push((spec.clone(), card));
            }
            Err(e) => {
                match &spec.store {
                    Some(path) => eprintln!(
                        "sks-card: cannot open the card store {}: {e}",
                        path.display()
                    ),
                    None => eprintln!("sks-card: cannot start the card: {e}"),
                }
                return ExitCode::FAILURE;
            }
        }
    }

    let shutdown = CancellationToken::new();
    // One thread (with its own runtime) per card: a slow call on one card (RSA key
    // generation) never holds up another.
    let mut threads = Vec::new();
    for (spec, mut card) in opened {
        let opts = VpcdOptions::new(host.clone(), spec.port);
        let stop = shutdown.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("card-{}", spec.port))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| rt.block_on(serve(&mut *card, &opts, stop.clone())));
                // The card (and its store) is dropped here, after its adapter has stopped.
                drop(card);
                if result.is_err() {
                    // One card failing stops the process, as a single card always did.
                    stop.cancel();
                }
                result
            });
        match spawned {
            Ok(t) => threads.push((spec.port, t)),
            Err(e) => {
                eprintln!("sks-card: cannot start a card thread: {e}");
                shutdown.cancel();
                break;
            }
        }
    }

    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            rt.block_on(async {
                let mut sigterm =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => log::info!("SIGINT: shutting down"),
                    _ = sigterm.recv() => log::info!("SIGTERM: shutting down"),
                    _ = shutdown.cancelled() => {}
                }
                Ok::<(), std::io::Error>(())
            })
        });
    shutdown.cancel();
    let mut code = ExitCode::SUCCESS;
    if let Err(e) = signals {
        eprintln!("sks-card: cannot wait for signals: {e}");
        code = ExitCode::FAILURE;
    }
    for (port, t) in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("sks-card: card on vpcd port {port}: {e}");
                code = ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("sks-card: card on vpcd port {port}: its thread panicked");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

/// The cards to serve: `--card` flags, else the config file's, else the single card of
/// `--port` and `--store`/`--ram`.
fn cards(args: &Args, file: &config::ConfigFile) -> Result<Vec<config::CardSpec>, String> {
    let cards = if !args.card.is_empty() {
        args.card.clone()
    } else if !file.card.is_empty() {
        file.cards()?
    } else {
        let store = if args.ram {
            None
        } else if let Some(path) = args.store.clone() {
            Some(path)
        } else {
            Some(default_store())
        };
        vec![config::CardSpec {
            port: args.port,
            store,
        }]
    };
    config::check_distinct(&cards)?;
    for c in &cards {
        if let Some(dir) = c
            .store
            .as_deref()
            .and_then(|p| p.parent())
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the store directory {}: {e}", dir.display()))?;
        }
    }
    Ok(cards)
}
