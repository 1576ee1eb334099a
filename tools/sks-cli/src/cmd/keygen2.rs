//! `sks keygen2`: provision the card from a KeyGen2 issuer (spec App. A), over HTTP(S) or a
//! file exchange, with the `keygen2` crate's proxy.

use super::Card;
use crate::fail::Fail;
use clap::Args;
use keygen2::proxy::{PinPrompt, Proxy, ProxyConfig, Summary, UserInterface};
use keygen2::transport::{self, Ending, HttpOptions};
use keygen2::types::Action;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  sks-issuer serve --listen 127.0.0.1:8099 --server-certificate-out issuer.der &
  sks keygen2 http://127.0.0.1:8099/keygen2 --server-certificate issuer.der --pin 1234
  sks keygen2 --file-exchange DIR --issuer-uri http://issuer.example.com/kg2 --server-certificate issuer.der")]
pub struct Keygen2Args {
    /// The issuer's KeyGen2 URL: GET gives the InvocationRequest, each response is POSTed there.
    #[arg(value_name = "URL", required_unless_present = "file_exchange")]
    pub url: Option<String>,
    /// Exchange the messages as files in DIR (N.request.json in, N.response.json out).
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub file_exchange: Option<PathBuf>,
    /// issuerUri given to the SKS (default: URL).
    #[arg(long, value_name = "URI")]
    pub issuer_uri: Option<String>,
    /// serverCertificate given to the SKS, DER or PEM (required unless the URL is https, whose
    /// TLS certificate is then used).
    #[arg(long, value_name = "FILE")]
    pub server_certificate: Option<PathBuf>,
    /// Extra trusted certificate (DER or PEM) for an https issuer.
    #[arg(long, value_name = "FILE")]
    pub trust_cert: Option<PathBuf>,
    /// A cookie to start with (NAME=VALUE, repeatable); cookies the issuer sets are kept for
    /// the exchange.
    #[arg(long, value_name = "NAME=VALUE")]
    pub cookie: Vec<String>,
    /// User-defined PINs, used in order (repeatable; also SKS_KEYGEN2_PIN). Without one, the
    /// PIN is asked for on the terminal.
    #[arg(long, value_name = "PIN")]
    pub pin: Vec<String>,
    /// A client attribute value (URI=VALUE, repeatable), e.g.
    /// https://webpki.github.io/keygen2/clientattr#ip-address=10.0.0.1.
    #[arg(long, value_name = "URI=VALUE")]
    pub client_attribute: Vec<String>,
    /// Answer the consent question with yes.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds to wait for each request file (--file-exchange).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub wait: u64,
}

struct Terminal {
    pins: Vec<Zeroizing<String>>,
    yes: bool,
}

impl UserInterface for Terminal {
    fn consent(&mut self, issuer: &str, action: Action) -> bool {
        eprintln!("sks: issuer {issuer} asks to {} keys", action.name());
        if self.yes || !std::io::stdin().is_terminal() {
            return true;
        }
        eprint!("sks: continue? [y/N] ");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    }

    fn pin(&mut self, p: &PinPrompt) -> Option<Zeroizing<String>> {
        if let Some(reason) = &p.retry_reason {
            eprintln!("sks: PIN refused: {reason}");
            if !std::io::stdin().is_terminal() {
                return None; // a scripted PIN that fails the policy: give up
            }
        }
        if !self.pins.is_empty() && p.retry_reason.is_none() {
            return Some(self.pins.remove(0));
        }
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "sks: a PIN is needed for {} (use --pin)",
                p.key_ids.join(", ")
            );
            return None;
        }
        eprint!(
            "sks: new PIN for {} (policy {}, {} {}-{}; empty line cancels): ",
            p.key_ids.join(", "),
            p.policy_id,
            p.format.name(),
            p.min_length,
            p.max_length
        );
        let _ = std::io::stderr().flush();
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).ok()?;
        let typed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
        (!typed.is_empty()).then_some(typed)
    }

    fn progress(&mut self, note: &str) {
        eprintln!("sks: {note}");
    }
}

fn read_cert(path: &PathBuf) -> Result<Vec<u8>, Fail> {
    let raw = std::fs::read(path)
        .map_err(|e| Fail::msg(format!("cannot read {}: {e}", path.display())))?;
    if raw.starts_with(b"-----BEGIN") {
        let text = String::from_utf8_lossy(&raw);
        let (_, der) = der::pem::decode_vec(text.as_bytes())
            .map_err(|e| Fail::msg(format!("{}: bad PEM: {e}", path.display())))?;
        Ok(der)
    } else {
        Ok(raw)
    }
}

pub fn run(sks: &mut Card, a: &Keygen2Args) -> Result<(), Fail> {
    let server_certificate = match (&a.server_certificate, &a.url) {
        (Some(p), _) => read_cert(p)?,
        (None, Some(url)) if url.starts_with("https://") => transport::tls_server_certificate(url)
            .map_err(|e| Fail::msg(format!("cannot read the issuer's TLS certificate: {e}")))?,
        _ => {
            return Err(Fail::msg(
                "without https the SKS needs the issuer's certificate: give --server-certificate \
                 FILE (sks-issuer writes it with --server-certificate-out)",
            ))
        }
    };
    let issuer_uri = match (&a.issuer_uri, &a.url) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => u.clone(),
        (None, None) => return Err(Fail::msg("--file-exchange needs --issuer-uri")),
    };
    let mut client_attributes: Vec<(String, Vec<String>)> = Vec::new();
    for kv in &a.client_attribute {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Fail::msg(format!("--client-attribute {kv}: URI=VALUE expected")))?;
        match client_attributes.iter_mut().find(|(x, _)| x == k) {
            Some((_, vals)) => vals.push(v.into()),
            None => client_attributes.push((k.into(), vec![v.into()])),
        }
    }
    let mut pins: Vec<Zeroizing<String>> =
        a.pin.iter().map(|p| Zeroizing::new(p.clone())).collect();
    if let Ok(p) = std::env::var("SKS_KEYGEN2_PIN") {
        pins.push(Zeroizing::new(p));
    }
    let config = ProxyConfig {
        issuer_uri,
        server_certificate,
        client_attributes,
        image_preferences: Vec::new(),
        client_time: None,
    };
    let ui = Terminal { pins, yes: a.yes };
    let mut proxy = Proxy::new(sks, ui, config);
    let ending = match (&a.url, &a.file_exchange) {
        (Some(url), _) => {
            let opts = HttpOptions {
                trust_certificate: a.trust_cert.as_ref().map(read_cert).transpose()?,
                cookies: a.cookie.clone(),
                on_message: Some(Box::new(|m: &str| eprintln!("sks: {m}"))),
            };
            transport::run_http(url, &mut proxy, opts)
        }
        (None, Some(dir)) => {
            transport::run_files(dir, &mut proxy, Duration::from_secs(a.wait), |m| {
                eprintln!("sks: {m}")
            })
        }
        (None, None) => return Err(Fail::msg("give URL or --file-exchange DIR")),
    }
    .map_err(|e| {
        Fail::msg(format!(
            "KeyGen2 exchange failed (nothing was provisioned): {e}"
        ))
    })?;
    match ending {
        Ending::Declined { location } => {
            println!("The issuer declined (redirect to {location}).");
        }
        Ending::Provisioned { location } => {
            print!("{}", summary(proxy.summary()));
            if let Some(l) = location {
                println!("issuer's final page: {l}");
            }
        }
    }
    Ok(())
}

fn summary(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Provisioned (serverSessionId {}, clientSessionId {}{}):",
        s.server_session_id,
        s.client_session_id,
        if s.privacy_enabled {
            ", privacy mode"
        } else {
            ""
        }
    );
    for (id, alg) in &s.keys {
        let alg = alg.rsplit('#').next().unwrap_or(alg);
        let certified = if s.certified.contains(id) {
            ", certified"
        } else {
            ""
        };
        let _ = writeln!(out, "  key {id}: {alg}{certified}");
    }
    for (n, what) in [
        (s.kmk_updates, "key management key update(s)"),
        (s.discovered, "credential(s) disclosed in discovery"),
        (s.updated, "key(s) updated"),
        (s.cloned, "key protection(s) cloned"),
        (s.unlocked, "key(s) unlocked"),
        (s.deleted, "key(s) deleted"),
    ] {
        if n > 0 {
            let _ = writeln!(out, "  {n} {what}");
        }
    }
    out
}
