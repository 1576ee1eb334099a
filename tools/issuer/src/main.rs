//! `sks-issuer`: this project's KeyGen2 issuer, serving KeyGen2 over HTTP on localhost or
//! through a file exchange, for `sks keygen2`.

use clap::{Parser, Subcommand};
use sks_issuer::keygen2::{files, http::HttpIssuer, KeyGen2Server, Scenario, TargetRef, CATALOGUE};
use sks_issuer::Kmk;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sks-issuer",
    version,
    about = "A KeyGen2 issuer for the SKS card"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve KeyGen2 over HTTP: GET URL starts an exchange, responses are POSTed to URL.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
        /// issuerUri (default: http://<listen>/keygen2).
        #[arg(long)]
        issuer_uri: Option<String>,
        /// Scenario of every exchange (see `sks-issuer scenarios`).
        #[arg(long, default_value = "pin-puk-p256")]
        scenario: String,
        /// Write the serverCertificate (DER) here, for `sks keygen2 --server-certificate`.
        #[arg(long, value_name = "FILE")]
        server_certificate_out: Option<PathBuf>,
        /// Stop after one completed exchange.
        #[arg(long)]
        once: bool,
        /// Serve HTTPS with this PEM certificate (chain); the serverCertificate is then the
        /// TLS certificate.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Run one exchange through files in DIR (N.request.json out, N.response.json in).
    FileExchange {
        dir: PathBuf,
        #[arg(long, default_value = "http://issuer.example.com/keygen2")]
        issuer_uri: String,
        #[arg(long, default_value = "pin-puk-p256")]
        scenario: String,
        #[arg(long, value_name = "FILE")]
        server_certificate_out: Option<PathBuf>,
        /// Seconds to wait for each response.
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// List the scenarios.
    Scenarios,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sks-issuer: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_cert(path: &Option<PathBuf>, der: &[u8]) -> Result<(), String> {
    if let Some(p) = path {
        std::fs::write(p, der).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("sks-issuer: serverCertificate written to {}", p.display());
    }
    Ok(())
}

fn last_target(server: &KeyGen2Server) -> Option<TargetRef> {
    server.issued().last().map(|c| TargetRef {
        server_session_id: c.server_session_id.clone(),
        key_id: c.key.id.clone(),
    })
}

fn run(command: Command) -> Result<(), String> {
    let kmk = Kmk::generate_p256();
    match command {
        Command::Scenarios => {
            for (name, what) in CATALOGUE {
                println!("{name:14} {what}");
            }
            Ok(())
        }
        Command::Serve {
            listen,
            issuer_uri,
            scenario,
            server_certificate_out,
            once,
            tls_cert,
            tls_key,
        } => {
            Scenario::named(&scenario, &kmk, None)
                .or_else(|e| {
                    if scenario == "update-last" {
                        Ok(Scenario::new(""))
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| e.to_string())?;
            let name = scenario.clone();
            let source = Box::new(move |s: &KeyGen2Server| {
                match Scenario::named(&name, &kmk, last_target(s)) {
                    Ok(sc) => Some(sc),
                    Err(e) => {
                        eprintln!("sks-issuer: {e}");
                        None
                    }
                }
            });
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let http = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => HttpIssuer::start_tls(
                    &listen,
                    issuer_uri.as_deref(),
                    source,
                    &read(&c)?,
                    &read(&k)?,
                ),
                _ => HttpIssuer::start(&listen, issuer_uri.as_deref(), source),
            }
            .map_err(|e| e.to_string())?;
            write_cert(
                &server_certificate_out,
                http.state().issuer.server_certificate(),
            )?;
            eprintln!(
                "sks-issuer: serving scenario {scenario} at {} (issuerUri {})",
                http.url(),
                http.state().issuer.issuer_uri()
            );
            let mut seen = (0, 0);
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let st = http.state();
                while seen.0 < st.outcomes.len() {
                    let o = &st.outcomes[seen.0];
                    eprintln!(
                        "sks-issuer: exchange {} complete: {} key(s) issued",
                        o.server_session_id,
                        o.credentials.len()
                    );
                    seen.0 += 1;
                }
                while seen.1 < st.failures.len() {
                    eprintln!("sks-issuer: exchange failed: {}", st.failures[seen.1]);
                    seen.1 += 1;
                }
                if once && !st.outcomes.is_empty() {
                    // Let the final 302 go out before stopping.
                    drop(st);
                    std::thread::sleep(Duration::from_millis(200));
                    return Ok(());
                }
            }
        }
        Command::FileExchange {
            dir,
            issuer_uri,
            scenario,
            server_certificate_out,
            wait,
        } => {
            let mut server = KeyGen2Server::new(&issuer_uri).map_err(|e| e.to_string())?;
            write_cert(&server_certificate_out, server.server_certificate())?;
            let sc = Scenario::named(&scenario, &kmk, None).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let o = files::serve_files(&dir, &mut server, sc, Duration::from_secs(wait))
                .map_err(|e| e.to_string())?;
            eprintln!(
                "sks-issuer: exchange {} complete: {} key(s) issued",
                o.server_session_id,
                o.credentials.len()
            );
            Ok(())
        }
    }
}
