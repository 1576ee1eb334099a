//! `sks-bench`: the performance figures of issues 2, 3 and 4 (see `docs/performance.md`).
//!
//! * `apdu` (issue 2): no-op APDU round trip over pcscd + vpcd with the Rust `pcsc` client, the
//!   SKS card against a minimal echo card served by the same adapter to the same private pcscd,
//!   strictly alternating; plus the in-process cost of one `Card::process` dispatch.
//! * `provision` (issue 3): full provisioning sessions (issuer emulation included) creating one
//!   P-256 or one RSA-2048 key, over PC/SC and in-process, with a file-backed card (the
//!   product EEPROM-model store: every commit is pwrite + fdatasync); RSA-2048 key generation.
//! * `sign` (issue 4): signHashedData (P-256 ecdsa-sha256, RSA-2048 rsa-sha256) and performHmac
//!   (hmac-sha256) throughput over PC/SC and in-process, next to raw RustCrypto.
//! * `all`: everything, then a markdown summary on stdout (progress goes to stderr).
//!
//! The PC/SC parts start a private pcscd in its own mount namespace (root needed; see the
//! conformance-tests crate), so a system pcscd is never disturbed. These are measurements, not
//! tests: nothing here asserts a timing; targets are reported as met or missed.

mod apdu;
mod keygen2;
mod meter;
mod provision;
mod sign;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};

pub type BoxError = Box<dyn std::error::Error>;
pub type Result<T> = std::result::Result<T, BoxError>;

#[derive(Parser, Debug)]
#[command(name = "sks-bench", about = "SKS card benchmarks (issues 2, 3, 4)")]
struct Cli {
    #[command(subcommand)]
    what: Option<What>,
    /// Divide every iteration count by 10 (a smoke run; figures are not for the record).
    #[arg(long, global = true)]
    quick: bool,
    /// Skip everything that needs PC/SC (the private pcscd needs root); in-process only.
    #[arg(long, global = true)]
    no_pcsc: bool,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// Issue 2: no-op APDU round trip (card vs echo) and in-process dispatch.
    Apdu,
    /// Issue 3: provisioning sessions (P-256, RSA-2048) and RSA-2048 key generation.
    Provision,
    /// Issue 4: signHashedData and performHmac throughput, raw RustCrypto for comparison.
    Sign,
    /// Issue 11: a full KeyGen2 exchange (issuer, proxy/JSON, card time).
    Keygen2,
    /// Everything (the default).
    All,
}

/// Iteration counts, scaled down by `--quick`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub quick: bool,
}

impl Scale {
    pub fn n(&self, full: usize) -> usize {
        if self.quick {
            (full / 10).max(3)
        } else {
            full
        }
    }
}

/// A directory under the system temp dir (on disk here: `/tmp` is ext4), removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("sks-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Progress line on stderr.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {{
        eprintln!("[sks-bench] {}", format!($($arg)*));
    }};
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let what = cli.what.unwrap_or(What::All);
    let scale = Scale { quick: cli.quick };
    let pcsc = !cli.no_pcsc;
    if pcsc {
        // Before anything in the process touches PC/SC: starts the private pcscd and points
        // PCSCLITE_CSOCK_NAME at it (conformance-tests crate documentation).
        conformance_tests::PrivatePcscd::shared();
    }

    let started = Instant::now();
    let load_start = loadavg();
    let mut out = String::new();
    if matches!(what, What::Apdu | What::All) {
        out += &apdu::run(scale, pcsc)?;
    }
    if matches!(what, What::Provision | What::All) {
        out += &provision::run(scale, pcsc)?;
    }
    if matches!(what, What::Sign | What::All) {
        out += &sign::run(scale, pcsc)?;
    }
    if matches!(what, What::Keygen2 | What::All) {
        out += &keygen2::run(scale, pcsc)?;
    }
    let load_end = loadavg();

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# SKS benchmark summary\n");
    println!(
        "- machine: {cores} cores, CPU `{}`; build: release (`cargo build --release -p sks-bench`)",
        cpu_model()
    );
    println!(
        "- load average (1/5/15 min): {load_start} at start, {load_end} at end; run took {:.0} s{}",
        started.elapsed().as_secs_f64(),
        if scale.quick {
            "; **--quick run: reduced iteration counts**"
        } else {
            ""
        }
    );
    if !pcsc {
        println!("- **--no-pcsc: PC/SC figures skipped**");
    }
    println!();
    print!("{out}");
    Ok(())
}

/// "met" / "**missed**" for a target check.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}
