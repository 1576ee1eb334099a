//! KeyGen2 exchanges between the issuer's KeyGen2 server and the keygen2 proxy, with the
//! in-process card (the PC/SC runs are in the conformance tests).

use apdu_spec::values::AppUsage;
use keygen2::proxy::{PinPrompt, Proxy, ProxyConfig, UserInterface};
use pcsc_bridge::{InProcess, Sks};
use sks_issuer::keygen2::{KeyGen2Server, KeyPlan, Outcome, Reply, Scenario};
use sks_issuer::{alg, Kmk};
use zeroize::Zeroizing;

type Card = Sks<InProcess<dyn applet::Card + Send>>;

fn card() -> Card {
    let card = applet::open_card(None).expect("open card");
    Sks::new(InProcess::from_box(card).expect("select"))
}

struct Pins(Vec<&'static str>);

impl UserInterface for Pins {
    fn pin(&mut self, _p: &PinPrompt) -> Option<Zeroizing<String>> {
        if self.0.is_empty() {
            None
        } else {
            Some(Zeroizing::new(self.0.remove(0).to_string()))
        }
    }
}

fn run(
    server: &mut KeyGen2Server,
    sks: &mut Card,
    scenario: Scenario,
    pins: Vec<&'static str>,
) -> Outcome {
    let config = ProxyConfig {
        issuer_uri: server.issuer_uri().to_string(),
        server_certificate: server.server_certificate().to_vec(),
        client_attributes: Vec::new(),
        image_preferences: Vec::new(),
        client_time: None,
    };
    let mut proxy = Proxy::new(sks, Pins(pins), config);
    let mut request = server.start(scenario).unwrap();
    loop {
        let response = proxy.handle_json(&request).unwrap();
        match server.respond(&response).unwrap() {
            Reply::Request(r) => request = r,
            Reply::Done(o) => {
                assert!(proxy.is_done());
                return *o;
            }
        }
    }
}

#[test]
fn pin_puk_p256() {
    let mut sks = card();
    let mut server = KeyGen2Server::new("http://localhost/keygen2").unwrap();
    let o = run(
        &mut server,
        &mut sks,
        Scenario::pin_puk_p256(Some(Kmk::generate_p256())),
        vec!["1234"],
    );
    assert_eq!(o.credentials.len(), 1);
    assert_eq!(o.credentials[0].key.certificate_path.len(), 2);
}

#[test]
fn several_keys_rsa_ec_imports_extensions_and_post_ops() {
    let mut sks = card();
    let mut server = KeyGen2Server::new("http://localhost/keygen2").unwrap();
    let kmk = Kmk::generate_p256();
    let mut s = Scenario::pin_puk_p256(Some(kmk.clone()));
    s.keys.push(
        KeyPlan::new(
            "Key.RSA",
            Some("PIN.1"),
            alg::RSA2048,
            AppUsage::Authentication,
        )
        .endorse(&[alg::RSA_SHA256])
        .credential(|c| {
            c.extensions.push(("urn:x:ext".into(), b"hello".to_vec()));
            c.encrypted_extensions
                .push(("urn:x:enc".into(), b"secret".to_vec()));
            c.property_bags.push((
                "urn:x:bag".into(),
                vec![sks_issuer::Property::new("a", "1", true)],
            ));
            c.logotypes.push((
                "https://webpki.github.io/keygen2/logotype#list".into(),
                "image/png".into(),
                vec![1, 2, 3],
            ));
        }),
    );
    s.keys.push(
        KeyPlan::new("Key.HMAC", None, alg::RSA2048, AppUsage::Universal)
            .endorse(&[alg::HMAC_SHA256])
            .credential(|c| c.import_symmetric = Some(vec![7; 32])),
    );
    let first = run(&mut server, &mut sks, s, vec!["1234", "5678"]);
    assert_eq!(first.credentials.len(), 3);

    // A second exchange: discovery, a new key updating Key.1, deleting Key.HMAC.
    let target = |k: &str| sks_issuer::keygen2::TargetRef {
        server_session_id: first.server_session_id.clone(),
        key_id: k.into(),
    };
    let mut s2 = Scenario::new("update");
    s2.kmk = Some(kmk.clone());
    s2.lookups.push(sks_issuer::keygen2::LookupPlan {
        id: "Lookup.1".into(),
        kmk: kmk.clone(),
        filter: Default::default(),
    });
    s2.keys.push(
        KeyPlan::new("Key.New", None, alg::EC_P256, AppUsage::Signature)
            .credential(|c| c.update_key = Some(target("Key.1"))),
    );
    s2.delete_keys.push(target("Key.HMAC"));
    let second = run(&mut server, &mut sks, s2, vec![]);
    let d = second.discovery.unwrap();
    assert_eq!(d.lookup_results[0].matching_credentials.len(), 3);
}

/// A self-signed TLS certificate for 127.0.0.1 made with the openssl command: (cert, key) PEM.
fn tls_identity() -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("sks-kg2-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = (
        std::fs::read(dir.join("cert.pem")).unwrap(),
        std::fs::read(dir.join("key.pem")).unwrap(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    r
}

#[test]
fn over_https_the_tls_certificate_is_the_server_certificate() {
    use keygen2::transport::{run_http, tls_server_certificate, Ending, HttpOptions};
    let (cert, key) = tls_identity();
    let kmk = Kmk::generate_p256();
    let http = sks_issuer::keygen2::http::HttpIssuer::start_tls(
        "127.0.0.1:0",
        None,
        Box::new(move |_| Some(Scenario::pin_puk_p256(Some(kmk.clone())))),
        &cert,
        &key,
    )
    .unwrap();
    assert!(http.url().starts_with("https://127.0.0.1:"));
    // What the proxy reads from the TLS handshake is what the issuer uses.
    let seen = tls_server_certificate(http.url()).unwrap();
    assert_eq!(seen, http.state().issuer.server_certificate());
    let mut sks = card();
    let config = ProxyConfig {
        issuer_uri: http.url().to_string(),
        server_certificate: seen,
        client_attributes: Vec::new(),
        image_preferences: Vec::new(),
        client_time: None,
    };
    let mut proxy = Proxy::new(&mut sks, Pins(vec!["1234"]), config);
    let opts = HttpOptions {
        trust_certificate: Some(cert.clone()),
        cookies: vec!["invitation=42".into()],
        ..Default::default()
    };
    let ending = run_http(http.url(), &mut proxy, opts).unwrap();
    assert!(matches!(ending, Ending::Provisioned { .. }));
    assert_eq!(http.state().outcomes.len(), 1);
    assert_eq!(http.state().boot_cookies, vec!["invitation=42".to_string()]);
    assert_eq!(
        http.state().posts_with_cookie,
        4,
        "the issuer's cookie came back"
    );
    // Without trusting the self-signed certificate the TLS handshake fails, before any SKS call.
    drop(proxy);
    let config = ProxyConfig {
        issuer_uri: http.url().to_string(),
        server_certificate: http.state().issuer.server_certificate().to_vec(),
        client_attributes: Vec::new(),
        image_preferences: Vec::new(),
        client_time: None,
    };
    let mut proxy = Proxy::new(&mut sks, Pins(vec!["1234"]), config);
    let err = run_http(http.url(), &mut proxy, HttpOptions::default()).unwrap_err();
    assert!(err.to_string().contains("HTTP"), "{err}");
}
