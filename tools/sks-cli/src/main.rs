//! `sks`: the command line of the virtual SKS (Secure Key Store) card.
//!
//! Talks to the card over PC/SC (the default) or runs the applet in this process
//! (`--in-process [--store FILE]`). See `sks --help`.

mod algs;
mod cert;
mod cmd;
mod conn;
mod fail;
mod input;
mod out;
mod profile;
mod secret;
mod sig;

use apdu_spec::values::{AppUsage, Grouping};
use clap::{Args, Parser, Subcommand, ValueEnum};
use conn::Target;
use secret::SecretSource;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The sks command line: provision, list and use the keys of an SKS (Secure Key Store) card.
#[derive(Parser, Debug)]
#[command(name = "sks", version, about, long_about = None)]
#[command(after_help = "\
Examples:
  sks --in-process --store card.img provision --alg p384 --pin env:MY_PIN
  sks --in-process --store card.img keys
  sks --in-process --store card.img sign --key 1 --alg ecdsa-sha256 --in msg.txt --out msg.sig
  sks --reader 'Virtual PCD' --json info

Secrets (--pin, --puk, --new, --auth): env:VAR, fd:N, file:PATH, prompt, or pass:VALUE / VALUE
(argv, visible in ps). A needed PIN that is not given is asked for on a terminal.

Exit status: 0 ok, 1 other failure, 2 usage, 3 transport (no pcscd, reader, card or applet),
4 card status word, 5 signature does not verify, 10+N SKS error code N (11 ERROR_AUTHORIZATION,
12 ERROR_NOT_ALLOWED, ... 23 ERROR_NOT_AVAILABLE). With --json a failure prints {\"error\": ...}.")]
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

    /// Machine-readable output: one JSON document on stdout (schema: docs/cli.md).
    #[arg(long, global = true)]
    json: bool,

    /// More output on stderr (-v: connection, -vv: debug log, -vvv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the card's device information (getDeviceInfo).
    Info,
    /// Provision keys from a local issuer emulation: from flags or a profile file.
    ///
    /// Without --alg or --profile: a demo credential (PUK, PIN, a P-256 signing key certified by
    /// the issuer's CA, an extension and a property bag; --rsa and --hmac add keys). Every
    /// attestation is verified. The issuer's CA and key management key are not kept.
    Provision(Box<ProvisionArgs>),
    /// List the keys on the card with their attributes and protection.
    Keys,
    /// Print or save a key's certificate (PEM; --der for DER).
    Cert(CertArgs),
    /// Sign a file (hashed here, streamed) or a hash with an asymmetric key (signHashedData).
    Sign(SignArgs),
    /// Verify a signature locally against the key's certificate (nothing secret is used).
    Verify(VerifyArgs),
    /// Decrypt with an RSA key (asymmetricKeyDecrypt) or an AES key (symmetricKeyEncrypt).
    Decrypt(CryptArgs),
    /// Encrypt with an AES key (symmetricKeyEncrypt).
    Encrypt(CryptArgs),
    /// ECDH with an EC key and a peer's public key (keyAgreement): the shared secret.
    Agree(AgreeArgs),
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
    /// A provisioning profile (TOML, or JSON by its .json extension): PUKs, PIN policies and
    /// keys of one session (docs/cli.md). Conflicts with the key flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["alg", "rsa", "hmac"])]
    pub profile: Option<PathBuf>,
    /// Key algorithm, repeatable for several keys: p256|p384|p521|rsa1024..rsa4096[,exp=N]|
    /// aes128|aes192|aes256|hmac (or a key-generation URI).
    #[arg(long, value_name = "ALG")]
    pub alg: Vec<String>,
    /// Key id of each --alg key, in order (default Key.<ALG>).
    #[arg(long, value_name = "ID")]
    pub id: Vec<String>,
    /// Friendly name of each --alg key, in order.
    #[arg(long, value_name = "NAME")]
    pub name: Vec<String>,
    /// appUsage: signature|authentication|encryption|universal.
    #[arg(long, value_name = "USAGE", default_value = AppUsage::Universal.name())]
    pub app_usage: String,
    /// Endorsed algorithms (comma-separated short names; default: every one the key can do).
    #[arg(long, value_name = "ALGS", value_delimiter = ',')]
    pub endorse: Vec<String>,
    /// Export protection: none|pin|puk|forbidden.
    #[arg(long, value_name = "P", default_value = "forbidden")]
    pub export: String,
    /// Delete protection: none|pin|puk|forbidden.
    #[arg(long, value_name = "P", default_value = "pin")]
    pub delete: String,
    /// Import the key instead of generating it: PKCS#8 PEM/DER private key, or a raw (or
    /// hex, or PEM) symmetric key. One file per --alg key, in order.
    #[arg(long, value_name = "FILE")]
    pub import: Vec<PathBuf>,
    /// No PIN: the keys are usable without authorization.
    #[arg(long, conflicts_with_all = ["pin", "puk"])]
    pub no_pin: bool,
    /// PIN of the keys (a secret source; default 1234). Its format follows from the value
    /// unless --pin-format is given.
    #[arg(long, value_name = "SECRET")]
    pub pin: Option<SecretSource>,
    /// PUK governing the PIN (a secret source; default 12345678).
    #[arg(long, value_name = "SECRET")]
    pub puk: Option<SecretSource>,
    /// PIN retry limit.
    #[arg(long, default_value_t = 3)]
    pub retries: u16,
    /// PIN format: numeric|alphanumeric|string|binary.
    #[arg(long, value_name = "FORMAT")]
    pub pin_format: Option<String>,
    /// PIN length bounds in bytes.
    #[arg(long, value_name = "N")]
    pub pin_min: Option<u16>,
    #[arg(long, value_name = "N")]
    pub pin_max: Option<u16>,
    /// PIN grouping: none|shared|signature+standard|unique.
    #[arg(long, value_name = "G", default_value = Grouping::None.name())]
    pub grouping: String,
    /// PIN pattern restrictions (comma-separated): two-in-a-row, three-in-a-row, sequence,
    /// repeated, missing-group.
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
    pub patterns: Vec<String>,
    /// An extension on every --alg key: TYPE_URI=FILE.
    #[arg(long, value_name = "URI=FILE")]
    pub extension: Vec<String>,
    /// A property on every --alg key: TYPE_URI:NAME=VALUE (append `;rw` for writable);
    /// properties with the same TYPE_URI form one property bag.
    #[arg(long, value_name = "URI:NAME=VALUE")]
    pub property: Vec<String>,
    /// Privacy-enabled provisioning (anonymous: HMAC attestations instead of the device key).
    #[arg(long)]
    pub privacy: bool,
    /// Demo: also create an RSA-2048 key (signing and decryption; delete needs the PUK).
    #[arg(long)]
    pub rsa: bool,
    /// Demo: also create an HMAC-SHA256 key with an imported secret (printed, for checking).
    #[arg(long)]
    pub hmac: bool,
    /// Make the keys exportable with the PIN (same as --export pin).
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
pub struct PinArg {
    /// The key's PIN, if it has one (a secret source: env:VAR, fd:N, file:PATH, prompt, VALUE).
    #[arg(long, short = 'p', value_name = "SECRET")]
    pub pin: Option<SecretSource>,
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

/// How a signature is written.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFormat {
    /// DER Ecdsa-Sig-Value for ECDSA (what openssl, X.509 and CMS take); RSA as is.
    Der,
    /// r ‖ s for ECDSA (the SKS wire format); RSA as is.
    Raw,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// ecdsa-sha256|ecdsa-sha384|ecdsa-sha512|ecdsa.none|rsa-sha256|rsa-sha384|rsa-sha512|rsa.pkcs1.none|ed25519, or a full URI.
    #[arg(long, short = 'a', value_name = "ALG")]
    pub alg: String,
    /// The hash to sign, in hex (for …none algorithms: the data to sign).
    #[arg(long, value_name = "HEX", conflicts_with = "data_file")]
    pub hash: Option<String>,
    /// The data to sign (`-` for stdin), hashed here with the algorithm's hash, streamed.
    #[arg(long = "in", visible_alias = "data-file", value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    #[command(flatten)]
    pub pin: PinArg,
    /// Signature format.
    #[arg(long, value_enum, default_value_t = SigFormat::Der)]
    pub format: SigFormat,
    /// Write the binary signature to this file (`-`: stdout) instead of printing it in hex.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// The signature algorithm (as for sign).
    #[arg(long, short = 'a', value_name = "ALG")]
    pub alg: String,
    /// The hash that was signed, in hex.
    #[arg(long, value_name = "HEX", conflicts_with = "data_file")]
    pub hash: Option<String>,
    /// The signed data (`-` for stdin), hashed here.
    #[arg(long = "in", visible_alias = "data-file", value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// The signature file (DER or raw r ‖ s for ECDSA).
    #[arg(long, short = 's', value_name = "FILE")]
    pub signature: PathBuf,
}

#[derive(Args, Debug)]
pub struct CryptArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// rsa.oaep.sha256|rsa.oaep.sha1|rsa.es.pkcs1_5 (decrypt), aes256-cbc|aes.cbc|aes.ecb.nopad
    /// (AES, IV prepended for the xmlenc aesNNN-cbc ones), or a full URI.
    #[arg(long, short = 'a', value_name = "ALG")]
    pub alg: String,
    /// The input file (`-` for stdin).
    #[arg(long = "in", value_name = "FILE", conflicts_with = "hex")]
    pub input: Option<PathBuf>,
    /// The input in hex.
    #[arg(long, value_name = "HEX")]
    pub hex: Option<String>,
    /// The IV in hex (aes.cbc only).
    #[arg(long, value_name = "HEX")]
    pub iv: Option<String>,
    #[command(flatten)]
    pub pin: PinArg,
    /// Write the result to this file (`-`: stdout, binary) instead of printing it in hex.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AgreeArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// The peer's public key: SubjectPublicKeyInfo PEM or DER, or an X.509 certificate.
    #[arg(long, value_name = "FILE")]
    pub peer: PathBuf,
    /// Key agreement algorithm.
    #[arg(long, short = 'a', value_name = "ALG", default_value = "ecdh.raw")]
    pub alg: String,
    #[command(flatten)]
    pub pin: PinArg,
    /// Write the shared secret to this file (`-`: stdout) instead of printing it in hex.
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
    #[arg(long, value_name = "HEX", conflicts_with = "data_file")]
    pub data: Option<String>,
    /// The data (`-` for stdin).
    #[arg(long = "in", visible_alias = "data-file", value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    #[command(flatten)]
    pub pin: PinArg,
    /// Write the binary MAC to this file (`-`: stdout) instead of printing it in hex.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum PinCommand {
    /// Change the PIN, authorized by the current PIN (changePin).
    Change {
        #[command(flatten)]
        key: KeyArg,
        /// The current PIN (a secret source).
        #[arg(long, value_name = "SECRET")]
        old: Option<SecretSource>,
        /// The new PIN (a secret source).
        #[arg(long, value_name = "SECRET")]
        new: Option<SecretSource>,
    },
    /// Reset the PIN error counter with the PUK (unlockKey).
    Unlock {
        #[command(flatten)]
        key: KeyArg,
        /// The PUK (a secret source).
        #[arg(long, value_name = "SECRET")]
        puk: Option<SecretSource>,
    },
    /// Set a new PIN with the PUK, also unblocking it (setPin).
    Set {
        #[command(flatten)]
        key: KeyArg,
        /// The PUK (a secret source).
        #[arg(long, value_name = "SECRET")]
        puk: Option<SecretSource>,
        /// The new PIN (a secret source).
        #[arg(long, value_name = "SECRET")]
        new: Option<SecretSource>,
    },
}

#[derive(Args, Debug)]
pub struct AuthKeyArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// PIN or PUK, as the key's protection requires (a secret source; see `sks keys`).
    #[arg(long, value_name = "SECRET")]
    pub auth: Option<SecretSource>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub key: KeyArg,
    /// PIN or PUK, as the key's export protection requires (a secret source).
    #[arg(long, value_name = "SECRET")]
    pub auth: Option<SecretSource>,
    /// Write the key to this file (PKCS#8 DER or raw symmetric key) instead of printing it
    /// (PEM or hex).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_log(cli.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if cli.json {
                println!("{}", e.to_json());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: &Cli) -> Result<(), fail::Fail> {
    if cli.reader.is_some() && (cli.in_process || cli.store.is_some()) {
        return Err(fail::Fail::usage(
            "--reader (PC/SC) cannot be combined with --in-process or --store",
        ));
    }
    let target = if cli.in_process || cli.store.is_some() {
        Target::InProcess {
            store: cli.store.clone(),
        }
    } else {
        if !(cli.timeout.is_finite() && cli.timeout >= 0.0) {
            return Err(fail::Fail::usage(
                "--timeout must be a non-negative number of seconds",
            ));
        }
        Target::Pcsc {
            pattern: cli.reader.clone(),
            timeout: Duration::from_secs_f64(cli.timeout.min(1e9)),
        }
    };
    let opts = cmd::Opts {
        verbose: cli.verbose > 0,
        json: cli.json,
    };
    cmd::run(&cli.command, &target, &opts)
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
