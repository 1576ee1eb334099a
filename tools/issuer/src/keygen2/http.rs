//! The KeyGen2 issuer over HTTP (PROTOCOL.md §1, §13) with `tiny_http`: one URL is the boot URL
//! (GET → the InvocationRequest of a new exchange) and the transaction URL (each response
//! POSTed there, `Content-Type: application/json`; the answer is the next request). After the
//! ProvisioningFinalizationResponse it answers `302` to `<URL>/done`; a failed exchange is
//! answered `400` with a plain-text reason (a non-KeyGen2 reply).

use super::{KeyGen2Server, Outcome, Reply, Scenario};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Gives the scenario of each new exchange (`None`: the issuer declines with a 302).
pub type ScenarioSource = Box<dyn FnMut(&KeyGen2Server) -> Option<Scenario> + Send>;

/// A running HTTP issuer; dropping it stops the server.
pub struct HttpIssuer {
    url: String,
    server: Arc<tiny_http::Server>,
    state: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

/// What the HTTP thread and the owner share.
pub struct Shared {
    pub issuer: KeyGen2Server,
    pub source: ScenarioSource,
    /// Completed exchanges, in order.
    pub outcomes: Vec<Outcome>,
    /// Failed exchanges: the reason, in order.
    pub failures: Vec<String>,
    /// The `Cookie` header of each boot GET (empty when none), in order.
    pub boot_cookies: Vec<String>,
    /// POSTs that carried the session cookie set at the boot GET (the proxy's cookie jar).
    pub posts_with_cookie: usize,
    /// Time spent in the issuer ([`KeyGen2Server::start`] and [`KeyGen2Server::respond`]),
    /// excluding HTTP, summed over all exchanges (for benchmarks).
    pub issuer_time: std::time::Duration,
}

const PATH: &str = "/keygen2";
const COOKIE: &str = "KG2SESSION";

impl HttpIssuer {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves plain HTTP. The issuer URI is
    /// `http://<bound address>/keygen2` unless `issuer_uri` is given; the serverCertificate is
    /// the issuer CA's certificate (give it to the proxy out of band).
    pub fn start(
        addr: &str,
        issuer_uri: Option<&str>,
        source: ScenarioSource,
    ) -> Result<Self, crate::Error> {
        Self::start_inner(addr, issuer_uri, source, None)
    }

    /// Binds `addr` and serves HTTPS with the PEM certificate (chain) and private key; the
    /// serverCertificate is that TLS end-entity certificate, as a proxy sees it.
    pub fn start_tls(
        addr: &str,
        issuer_uri: Option<&str>,
        source: ScenarioSource,
        certificate_pem: &[u8],
        private_key_pem: &[u8],
    ) -> Result<Self, crate::Error> {
        Self::start_inner(
            addr,
            issuer_uri,
            source,
            Some((certificate_pem.to_vec(), private_key_pem.to_vec())),
        )
    }

    fn start_inner(
        addr: &str,
        issuer_uri: Option<&str>,
        source: ScenarioSource,
        tls: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, crate::Error> {
        let listen_err = |e: &dyn std::fmt::Display| {
            crate::Error::Usage(format!("cannot listen on {addr}: {e}"))
        };
        let listener = std::net::TcpListener::bind(addr).map_err(|e| listen_err(&e))?;
        // Accepted sockets inherit TCP_NODELAY on Linux: without it, tiny_http's responses
        // meet the client's delayed ACK (Nagle) and every round trip takes ~40 ms.
        socket2::SockRef::from(&listener)
            .set_nodelay(true)
            .map_err(|e| listen_err(&e))?;
        let bound = listener.local_addr().map_err(|e| listen_err(&e))?;
        let tls_der = match &tls {
            Some((pem, _)) => Some(first_pem_certificate(pem)?),
            None => None,
        };
        let ssl = tls.map(|(certificate, private_key)| tiny_http::SslConfig {
            certificate,
            private_key,
        });
        let server = tiny_http::Server::from_listener(listener, ssl).map_err(|e| listen_err(&e))?;
        let scheme = if tls_der.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{bound}{PATH}");
        let mut issuer = KeyGen2Server::new(issuer_uri.unwrap_or(&url))?;
        if let Some(der) = tls_der {
            issuer = issuer.with_server_certificate(der);
        }
        let state = Arc::new(Mutex::new(Shared {
            issuer,
            source,
            outcomes: Vec::new(),
            failures: Vec::new(),
            issuer_time: std::time::Duration::ZERO,
            boot_cookies: Vec::new(),
            posts_with_cookie: 0,
        }));
        let server = Arc::new(server);
        let thread = {
            let server = server.clone();
            let state = state.clone();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    serve_one(request, &state);
                }
            })
        };
        Ok(Self {
            url,
            server,
            state,
            thread: Some(thread),
        })
    }

    /// The boot and transaction URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared state (issuer, outcomes, failures).
    pub fn state(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves until the process ends.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpIssuer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The DER of the first certificate of a PEM text.
fn first_pem_certificate(pem: &[u8]) -> Result<Vec<u8>, crate::Error> {
    let text = String::from_utf8_lossy(pem);
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = text
        .find(begin)
        .ok_or_else(|| crate::Error::Certificate("no PEM certificate".into()))?;
    let stop = text[start..]
        .find(end)
        .ok_or_else(|| crate::Error::Certificate("unterminated PEM certificate".into()))?;
    let block = &text[start..start + stop + end.len()];
    let (_, der) = der::pem::decode_vec(block.as_bytes())
        .map_err(|e| crate::Error::Certificate(format!("bad PEM certificate: {e}")))?;
    Ok(der)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn json(body: String) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body).with_header(header("Content-Type", "application/json"))
}

fn text(status: u16, body: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn redirect(to: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string("")
        .with_status_code(302)
        .with_header(header("Location", to))
}

fn serve_one(mut request: tiny_http::Request, state: &Mutex<Shared>) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    let cookie_header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Cookie"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let mut shared = state.lock().unwrap_or_else(|e| e.into_inner());
    let response = match (method, path.as_str()) {
        (tiny_http::Method::Get, PATH) => {
            let shared = &mut *shared;
            let t = std::time::Instant::now();
            let started = (shared.source)(&shared.issuer).map(|s| shared.issuer.start(s));
            shared.issuer_time += t.elapsed();
            match started {
                Some(started) => match started {
                    Ok(body) => {
                        shared.boot_cookies.push(cookie_header.clone());
                        // A session cookie, as a web issuer would set one.
                        let value = crate::crypto::random_bytes(16)
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>();
                        json(body).with_header(header(
                            "Set-Cookie",
                            &format!("{COOKIE}={value}; Path={PATH}; HttpOnly"),
                        ))
                    }
                    Err(e) => text(500, &e.to_string()),
                },
                None => redirect(&format!("{PATH}/declined")),
            }
        }
        (tiny_http::Method::Post, PATH) => {
            let content_type_ok = request
                .headers()
                .iter()
                .any(|h| h.field.equiv("Content-Type") && h.value.as_str() == "application/json");
            let mut body = String::new();
            if cookie_header
                .split("; ")
                .any(|c| c.starts_with(&format!("{COOKIE}=")))
            {
                shared.posts_with_cookie += 1;
            }
            if !content_type_ok {
                text(415, "Content-Type must be application/json")
            } else if request.as_reader().read_to_string(&mut body).is_err() {
                text(400, "unreadable body")
            } else {
                let t = std::time::Instant::now();
                let r = shared.issuer.respond(&body);
                shared.issuer_time += t.elapsed();
                match r {
                    Ok(Reply::Request(next)) => json(next),
                    Ok(Reply::Done(outcome)) => {
                        shared.outcomes.push(*outcome);
                        redirect(&format!("{PATH}/done"))
                    }
                    Err(e) => {
                        shared.failures.push(e.to_string());
                        text(400, &format!("KeyGen2 exchange failed: {e}"))
                    }
                }
            }
        }
        (tiny_http::Method::Get, p) if p == format!("{PATH}/done") => text(200, "provisioned\n"),
        _ => text(404, "not found"),
    };
    drop(shared);
    let _ = request.respond(response);
}
