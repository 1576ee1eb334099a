//! `sks`: the command line of the virtual SKS (Secure Key Store) card.
//!
//! Talks to the card over PC/SC (the default) or runs the applet in this process
//! (`--in-process [--store FILE]`). See `sks --help`.

mod algs;
mod cert;
mod cmd;
mod conn;
mod fail;

use clap::{Args, Parser, Subcommand};
use conn::Target;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The sks command line: provision, list and use the keys of an SKS (Secure Key Store) card.
#[derive(Parser, Debug)]
#[command(name = "sks", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  sks --in-process --store card.img provision --pin 1234
  sks --in-process --store card.img keys
  sks --in-process --store card.img sign --key 1 --alg ecdsa-sha256 --data-file msg.txt --pin 1234
  sks --reader 'Virtual PCD' info

Errors are printed as `error: <SKS error> (<code>): <card message>` and exit with status 1.")]
pub struct Cli {
    /// PC/SC reader name substring (default: the first reader with an SKS card).
    #[arg(
        long,
        global = true,
        value_name = "PATTERN",
        conflicts_with = "in_process"
    )]
    reader: Option<String>,

    /// Seconds to wait for a card to be inserted (PC/SC).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10.0)]
    timeout: f64,

    /// Run the card in this process instead of using PC/SC (no pcscd needed).
    #[arg(long, global = true)]
    in_process: bool,

    /// Card image file of the in-process card (created on first use; implies --in-process).
    /// Without it the in-process card lives in RAM and is gone when sks exits.
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,

    /// More output on stderr (-v: connection, -vv: debug log, -vvv: every APDU).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the card's device information (getDeviceInfo).
    Info,
    /// Provision a demo credential from a local issuer emulation.
    ///
    /// Creates, in one provisioning session: a PUK, a PIN policy, a P-256 signing key (plus an
    /// RSA-2048 key with --rsa and an HMAC key with --hmac) certified by the issuer's CA, an
    /// extension and a property bag, then closes the session. Every attestation is verified.
    /// The issuer's CA and key management key are generated afresh and not kept.
    Provision(ProvisionArgs),
    /// List the keys on the card with their attributes and protection.
    Keys,
    /// Print or save a key's certificate (PEM; --der for DER).
    Cert(CertArgs),
    /// Sign a hash (or a file, hashed here) with an asymmetric key (signHashedData).
    Sign(SignArgs),
    /// Decrypt data with an RSA key (asymmetricKeyDecrypt).
    Decrypt(DecryptArgs),
    /// Compute an HMAC with a symmetric key (performHmac).
    Hmac(HmacArgs),
    /// Change, unlock or reset a key's PIN.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Delete a key (deleteKey).
    Delete(AuthKeyArgs),
    /// Export a key in the clear (exportKey): PKCS#8 for private keys, raw bytes for
    /// symmetric keys.
    Export(ExportArgs),
    /// List the open provisioning sessions (enumerateProvisioningSessions); `abort N` aborts
    /// one. Open sessions expire by themselves after their sessionLifeTime.
    Sessions {
        /// List the closed sessions instead.
        #[arg(long)]
        closed: bool,
        #[command(subcommand)]
        action: Option<SessionsCommand>,
    },
    /// Provision the card from a KeyGen2 issuer (HTTP(S) URL or --file-exchange DIR).
    Keygen2(cmd::keygen2::Keygen2Args),
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Abort open session HANDLE (abortProvisioningSession): the session and every key, PIN
    /// and PUK created in it are deleted.
    Abort {
        /// The session handle (see `sks sessions`).
        handle: u32,
    },
}

#[derive(Args, Debug)]
pub struct ProvisionArgs {
    /// PIN of the keys (user-defined PIN policy; its format follows from the value).
    #[arg(long, default_value = "1234")]
    pub pin: String,
    /// PUK governing the PIN (digits, or digits and upper-case letters).
    #[arg(long, default_value = "12345678")]
    pub puk: String,
    /// PIN retry limit.
    #[arg(long, default_value_t = 3)]
    pub retries: u16,
    /// Privacy-enabled provisioning (anonymous: HMAC attestations instead of the device key).
    #[arg(long)]
    pub privacy: bool,
    /// Also create an RSA-2048 key (signing and decryption; delete needs the PUK).
    #[arg(long)]
    pub rsa: bool,
    /// Also create an HMAC-SHA256 key with an imported secret (printed, for checking).
    #[arg(long)]
    pub hmac: bool,
    /// Make the keys exportable with the PIN (default: export forbidden).
    #[arg(long)]
    pub exportable: bool,
}

#[derive(Args, Debug)]
pub struct KeyArg {
    /// Key handle (see `sks keys`).
    #[arg(long, short = 'k', value_name = "HANDLE")]
    pub key: u32,
}

#[derive(Args, Debug)]
pub struct CertArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The whole certificate path, end-entity first.
    #[arg(long)]
    pub chain: bool,
    /// DER instead of PEM (end-entity certificate only).
    #[arg(long, conflicts_with = "chain")]
    pub der: bool,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// ecdsa-sha256|ecdsa-sha384|ecdsa-sha512|ecdsa.none|rsa-sha256|rsa-sha384|rsa-sha512|rsa.pkcs1.none|ed25519, or a full URI.
    #[arg(long, short = 'a', value_name = "ALG")]
    pub alg: String,
    /// The hash to sign, in hex (for …none algorithms: the data to sign).
    #[arg(
        long,
        value_name = "HEX",
        required_unless_present = "data_file",
        conflicts_with = "data_file"
    )]
    pub hash: Option<String>,
    /// A file to sign, hashed here with the algorithm's hash (…none, ed25519: sent as is).
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// The key's PIN, if it has one.
    #[arg(long, short = 'p')]
    pub pin: Option<String>,
    /// Write the binary signature to this file (the hex is still printed).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// rsa.oaep.sha256|rsa.oaep.sha1|rsa.es.pkcs1_5, or a full URI.
    #[arg(long, short = 'a', value_name = "ALG")]
    pub alg: String,
    /// File holding the ciphertext (binary).
    #[arg(
        long = "in",
        value_name = "FILE",
        required_unless_present = "hex",
        conflicts_with = "hex"
    )]
    pub input: Option<PathBuf>,
    /// The ciphertext in hex.
    #[arg(long, value_name = "HEX")]
    pub hex: Option<String>,
    /// The key's PIN, if it has one.
    #[arg(long, short = 'p')]
    pub pin: Option<String>,
    /// Write the plaintext to this file instead of printing it in hex.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct HmacArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// hmac-sha1|hmac-sha256|hmac-sha384|hmac-sha512, or a full URI.
    #[arg(long, short = 'a', value_name = "ALG", default_value = "hmac-sha256")]
    pub alg: String,
    /// The data in hex.
    #[arg(
        long,
        value_name = "HEX",
        required_unless_present = "data_file",
        conflicts_with = "data_file"
    )]
    pub data: Option<String>,
    /// A file holding the data.
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// The key's PIN, if it has one.
    #[arg(long, short = 'p')]
    pub pin: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PinCommand {
    /// Change the PIN, authorized by the current PIN (changePin).
    Change {
        #[command(flatten)]
        key: KeyArg,
        /// The current PIN.
        #[arg(long)]
        old: String,
        /// The new PIN.
        #[arg(long)]
        new: String,
    },
    /// Reset the PIN error counter with the PUK (unlockKey).
    Unlock {
        #[command(flatten)]
        key: KeyArg,
        /// The PUK.
        #[arg(long)]
        puk: String,
    },
    /// Set a new PIN with the PUK, also unblocking it (setPin).
    Set {
        #[command(flatten)]
        key: KeyArg,
        /// The PUK.
        #[arg(long)]
        puk: String,
        /// The new PIN.
        #[arg(long)]
        new: String,
    },
}

#[derive(Args, Debug)]
pub struct AuthKeyArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// PIN or PUK, as the key's protection requires (see `sks keys`).
    #[arg(long, value_name = "PIN|PUK")]
    pub auth: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// PIN or PUK, as the key's export protection requires (see `sks keys`).
    #[arg(long, value_name = "PIN|PUK")]
    pub auth: Option<String>,
    /// Write the key to this file (PKCS#8 DER or raw symmetric key) instead of printing it
    /// (PEM or hex).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_log(cli.verbose);
    if cli.reader.is_some() && (cli.in_process || cli.store.is_some()) {
        eprintln!("error: --reader (PC/SC) cannot be combined with --in-process or --store");
        return ExitCode::from(2);
    }
    let target = if cli.in_process || cli.store.is_some() {
        Target::InProcess {
            store: cli.store.clone(),
        }
    } else {
        let timeout = if cli.timeout.is_finite() && cli.timeout >= 0.0 {
            Duration::from_secs_f64(cli.timeout.min(1e9))
        } else {
            eprintln!("error: --timeout must be a non-negative number of seconds");
            return ExitCode::FAILURE;
        };
        Target::Pcsc {
            pattern: cli.reader.clone(),
            timeout,
        }
    };
    match cmd::run(&cli.command, &target, cli.verbose > 0) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_log(verbose: u8) {
    let level = match verbose {
        0 | 1 => log::LevelFilter::Warn,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_default_env()
        .format_timestamp(None)
        .init();
}
