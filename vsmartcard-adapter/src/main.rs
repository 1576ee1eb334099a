//! `sks-card`: the SKS applet as a virtual smart card in vsmartcard's vpcd reader.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
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
/// restarting. It stops cleanly on SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "sks-card", version)]
struct Args {
    /// Host vpcd listens on.
    #[arg(long, default_value = DEFAULT_HOST)]
    host: String,

    /// vpcd's TCP port: 35963 is the first reader of Debian's /etc/reader.conf.d/vpcd
    /// ("Virtual PCD 00 00"), 35964 the second.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    /// File image holding the card's persistent state; created and personalized on first
    /// start. Default: $XDG_STATE_HOME/sks-card/card.img, else
    /// $HOME/.local/state/sks-card/card.img, else ./sks-card.img (the default directory is
    /// created when missing).
    #[arg(long, value_name = "PATH", conflicts_with = "ram")]
    store: Option<PathBuf>,

    /// Keep all state in RAM: nothing persists when the process ends.
    #[arg(long)]
    ram: bool,

    /// INSECURE, for middleware testing only: simulate a biometric reader. getDeviceInfo then
    /// reports biometricSupport and the card trusts any client's biometricAuth flag. Off by
    /// default: the card has no biometrics and refuses biometricProtection and biometricAuth.
    #[arg(long)]
    simulate_biometric: bool,

    /// Log verbosity (RUST_LOG, when set, refines it per module). trace logs every APDU.
    #[arg(long, value_enum, default_value = "info")]
    log_level: LogLevel,
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
    env_logger::Builder::new()
        .filter_level(args.log_level.into())
        .parse_default_env()
        .format_timestamp_millis()
        .init();

    let store = if args.ram {
        None
    } else if let Some(path) = args.store.clone() {
        Some(path)
    } else {
        let path = default_store();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!(
                    "sks-card: cannot create the store directory {}: {e}",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
        Some(path)
    };

    let options = applet::CardOptions {
        simulate_biometric: args.simulate_biometric,
    };
    let mut card = match applet::open_card_with(store.as_deref(), options) {
        Ok(card) => card,
        Err(e) => {
            match &store {
                Some(path) => eprintln!(
                    "sks-card: cannot open the card store {}: {e}",
                    path.display()
                ),
                None => eprintln!("sks-card: cannot start the card: {e}"),
            }
            return ExitCode::FAILURE;
        }
    };
    match &store {
        Some(path) => log::info!("card store: {}", path.display()),
        None => log::info!("card state in RAM only (--ram)"),
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sks-card: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = VpcdOptions::new(args.host, args.port);
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => log::info!("SIGINT: shutting down"),
                _ = sigterm.recv() => log::info!("SIGTERM: shutting down"),
            }
            on_signal.cancel();
        });
        serve(&mut *card, &opts, shutdown).await
    });
    // The card (and its store) is dropped here, after the adapter has stopped.
    drop(card);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sks-card: {e}");
            ExitCode::FAILURE
        }
    }
}
