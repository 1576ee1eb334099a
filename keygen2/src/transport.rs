//! Carrying the messages between the issuer and a [`Proxy`]: HTTP(S) with `ureq` (PROTOCOL.md
//! §1, §13) and a file exchange for issuers without a web server.
//!
//! HTTP: GET the URL (boot) → InvocationRequest; POST each response to the same URL with
//! `Content-Type: application/json`; the `200 application/json` answer is the next request.
//! A `302` answers the boot GET when the issuer declines, and ends the exchange after the
//! ProvisioningFinalizationResponse; anywhere else it is an error.
//!
//! Files: the issuer writes `DIR/<n>.request.json` (n = 1, 2, …); the proxy answers with
//! `DIR/<n>.response.json` (written to a temporary name and renamed), until the
//! ProvisioningFinalizationResponse.

use crate::proxy::{Proxy, ProxyError, UserInterface};
use pcsc_bridge::Transport;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How an exchange ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Provisioned; the issuer's termination (`Location` of its 302, if any).
    Provisioned { location: Option<String> },
    /// The issuer declined at the boot request (302 `Location`).
    Declined { location: String },
}

/// Why an exchange failed. The SKS session, if one was opened, has been aborted.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the issuer failed: {0}")]
    Issuer(String),
    #[error("file exchange: {0}")]
    Files(String),
}

/// A progress callback.
pub type OnMessage = Box<dyn FnMut(&str)>;

/// HTTP options.
#[derive(Default)]
pub struct HttpOptions {
    /// Extra trusted certificate (DER or PEM) for https issuers with a private CA or a
    /// self-signed certificate.
    pub trust_certificate: Option<Vec<u8>>,
    /// Cookies to start the exchange with (`NAME=VALUE`, the invocation cookie of a browser
    /// hand-over); cookies the issuer sets are kept in the exchange's cookie jar and sent back
    /// as a browser would.
    pub cookies: Vec<String>,
    /// Called with each message sent or received (qualifier or note), for progress.
    pub on_message: Option<OnMessage>,
}

fn http_err(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Http(e.to_string())
}

fn agent(opts: &HttpOptions) -> Result<ureq::Agent, ExchangeError> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let roots = match &opts.trust_certificate {
        Some(c) => {
            let cert = if c.starts_with(b"-----BEGIN") {
                Certificate::from_pem(c).map_err(http_err)?.to_owned()
            } else {
                Certificate::from_der(c).to_owned()
            };
            RootCerts::new_with_certs(&[cert])
        }
        None => RootCerts::PlatformVerifier,
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(roots)
        .build();
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into())
}

fn qualifier_of(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| {
            v.get("@qualifier")
                .and_then(|q| q.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "?".into())
}

/// Reads a KeyGen2 answer: 200 with exactly `application/json`, or a 302 (its Location).
enum Answer {
    Json(String),
    Redirect(String),
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Result<Answer, ExchangeError> {
    let status = r.status().as_u16();
    let header = |r: &ureq::http::Response<ureq::Body>, n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    if (300..400).contains(&status) {
        return Ok(Answer::Redirect(header(&r, "location").unwrap_or_default()));
    }
    let body = r.body_mut().read_to_string().map_err(http_err)?;
    if status != 200 {
        let excerpt: String = body.chars().take(300).collect();
        return Err(ExchangeError::Issuer(format!(
            "HTTP {status}: {}",
            excerpt.trim()
        )));
    }
    match header(&r, "content-type").as_deref() {
        Some("application/json") => Ok(Answer::Json(body)),
        other => Err(ExchangeError::Issuer(format!(
            "answer of type {other:?}, application/json expected"
        ))),
    }
}

/// Runs a whole exchange with the issuer at `url` over HTTP(S).
pub fn run_http<T: Transport, U: UserInterface>(
    url: &str,
    proxy: &mut Proxy<'_, T, U>,
    mut opts: HttpOptions,
) -> Result<Ending, ExchangeError> {
    let agent = agent(&opts)?;
    {
        let uri: ureq::http::Uri = url.parse().map_err(http_err)?;
        let mut jar = agent.cookie_jar_lock();
        for c in &opts.cookies {
            let cookie = ureq::Cookie::parse(c.clone(), &uri).map_err(http_err)?;
            jar.insert(cookie, &uri).map_err(http_err)?;
        }
    }
    let mut note = |s: &str| {
        if let Some(f) = opts.on_message.as_mut() {
            f(s)
        }
    };
    let mut request = match answer(agent.get(url).call().map_err(http_err)?)? {
        Answer::Json(j) => j,
        Answer::Redirect(location) => return Ok(Ending::Declined { location }),
    };
    let r = (|| loop {
        note(&format!("← {}", qualifier_of(&request)));
        let response = proxy.handle_json(&request)?;
        note(&format!("→ {}", qualifier_of(&response)));
        let post = agent.post(url).header("Content-Type", "application/json");
        let a = answer(post.send(response.as_bytes()).map_err(http_err)?)?;
        match a {
            Answer::Json(j) if !proxy.is_done() => request = j,
            Answer::Redirect(location) if proxy.is_done() => {
                return Ok(Ending::Provisioned {
                    location: Some(location),
                })
            }
            Answer::Json(_) => {
                return Err(ExchangeError::Issuer(
                    "a request after the ProvisioningFinalizationResponse".into(),
                ))
            }
            Answer::Redirect(l) => {
                return Err(ExchangeError::Issuer(format!(
                    "redirect to {l} in the middle of the exchange"
                )))
            }
        }
    })();
    if r.is_err() {
        proxy.abort();
    }
    r
}

/// The DER of the end-entity certificate an https server presents (the serverCertificate of
/// createProvisioningSession). Verification is left to the HTTP exchange itself.
pub fn tls_server_certificate(url: &str) -> Result<Vec<u8>, ExchangeError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| ExchangeError::Http("not an https URL".into()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(h, _)| h);
    let addr = if authority.contains(':') && authority != host {
        authority.to_string()
    } else {
        format!("{authority}:443")
    };
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
        .map_err(http_err)?;
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let connector = b.build();
    let tcp = std::net::TcpStream::connect(&addr).map_err(http_err)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = connector.connect(host, tcp).map_err(http_err)?;
    let cert = stream
        .ssl()
        .peer_certificate()
        .ok_or_else(|| ExchangeError::Http("the server presented no certificate".into()))?;
    cert.to_der().map_err(http_err)
}

/// Runs a whole exchange over files in `dir` (see the module documentation), waiting up to
/// `timeout` for each request.
pub fn run_files<T: Transport, U: UserInterface>(
    dir: &Path,
    proxy: &mut Proxy<'_, T, U>,
    timeout: Duration,
    mut on_message: impl FnMut(&str),
) -> Result<Ending, ExchangeError> {
    let r = (|| {
        for n in 1.. {
            let req = wait_for_file(&dir.join(format!("{n}.request.json")), timeout)?;
            on_message(&format!("← {}", qualifier_of(&req)));
            let resp = proxy.handle_json(&req)?;
            on_message(&format!("→ {}", qualifier_of(&resp)));
            write_atomically(&dir.join(format!("{n}.response.json")), &resp)?;
            if proxy.is_done() {
                break;
            }
        }
        Ok(Ending::Provisioned { location: None })
    })();
    if r.is_err() {
        proxy.abort();
    }
    r
}

/// Waits until `path` exists and returns its text.
pub fn wait_for_file(path: &Path, timeout: Duration) -> Result<String, ExchangeError> {
    let deadline = Instant::now() + timeout;
    loop {
        match std::fs::read_to_string(path) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if Instant::now() > deadline {
                    return Err(ExchangeError::Files(format!(
                        "{} did not appear within {timeout:?}",
                        path.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(ExchangeError::Files(format!("{}: {e}", path.display())));
            }
        }
    }
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader never sees it
/// half-written.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ExchangeError> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ExchangeError::Files(format!("{}: {e}", path.display())))
}
