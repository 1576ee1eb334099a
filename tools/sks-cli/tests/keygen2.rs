//! `sks keygen2` end to end: the binary against the project's KeyGen2 issuer (sks-issuer) on
//! localhost over HTTP and through a file exchange, with an in-process card image.

mod common;

use common::Card;
use sks_issuer::keygen2::files::serve_files;
use sks_issuer::keygen2::http::HttpIssuer;
use sks_issuer::keygen2::{KeyGen2Server, Scenario};
use sks_issuer::Kmk;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

impl Card {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sks"))
            .arg("--store")
            .arg(self.image())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sks")
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `sks keygen2` against `http` with its server certificate agreed, and `pin`.
fn keygen2_trusting(card: &Card, http: &HttpIssuer, pin: &str) -> Output {
    std::fs::write(
        card.path("issuer.der"),
        http.state().issuer.server_certificate(),
    )
    .unwrap();
    card.run(&[
        "keygen2",
        http.url(),
        "--server-certificate",
        card.path("issuer.der").to_str().unwrap(),
        "--pin",
        pin,
    ])
}

fn issuer(scenario: &'static str) -> HttpIssuer {
    let kmk = Kmk::generate_p256();
    HttpIssuer::start(
        "127.0.0.1:0",
        None,
        Box::new(move |_| Some(Scenario::named(scenario, &kmk, None).unwrap())),
    )
    .unwrap()
}

#[test]
fn keygen2_over_http() {
    let card = Card::new();
    let http = issuer("several-keys");
    let out = keygen2_trusting(&card, &http, "1234");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "key Key.1: ec.nist.p256, certified",
        "key Key.RSA: rsa2048, certified",
        "key Key.HMAC: rsa2048, certified",
    ] {
        assert!(stdout.contains(line), "summary lacks {line:?}:\n{stdout}");
    }
    // Progress on stderr, message by message.
    assert!(
        stderr.contains("← ProvisioningFinalizationRequest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("→ ProvisioningFinalizationResponse"),
        "{stderr}"
    );
    assert_eq!(http.state().outcomes.len(), 1);
    let keys = card.run(&["keys"]);
    let (k, _) = text(&keys);
    assert!(k.contains("CN=Key.RSA") && k.contains("CN=Key.1"), "{k}");
}

#[test]
fn keygen2_refusals() {
    let card = Card::new();
    let http = issuer("pin-puk-p256");
    // Plain http without an agreed server certificate.
    let out = card.run(&["keygen2", http.url(), "--pin", "1234"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("--server-certificate"), "{stderr}");
    // A PIN that breaks the policy, non-interactive: nothing is provisioned.
    let out = keygen2_trusting(&card, &http, "12");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("PIN length error"), "{stderr}");
    assert!(stderr.contains("nothing was provisioned"), "{stderr}");
    let (k, _) = text(&card.run(&["keys"]));
    assert!(!k.contains("CN=Key.1"), "{k}");
    assert!(http.state().outcomes.is_empty());
}

#[test]
fn keygen2_file_exchange() {
    let card = Card::new();
    let exchange = card.path("exchange");
    std::fs::create_dir_all(&exchange).unwrap();
    let mut server = KeyGen2Server::new("http://issuer.example.com/kg2").unwrap();
    std::fs::write(card.path("issuer.der"), server.server_certificate()).unwrap();
    let dir = exchange.clone();
    let issuer = std::thread::spawn(move || {
        serve_files(
            &dir,
            &mut server,
            Scenario::pin_puk_p256(Some(Kmk::generate_p256())),
            Duration::from_secs(60),
        )
    });
    let out = card.run(&[
        "keygen2",
        "--file-exchange",
        exchange.to_str().unwrap(),
        "--issuer-uri",
        "http://issuer.example.com/kg2",
        "--server-certificate",
        card.path("issuer.der").to_str().unwrap(),
        "--pin",
        "5678",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let outcome = issuer.join().unwrap().expect("the issuer completes");
    assert_eq!(outcome.credentials.len(), 1);
    assert!(
        stdout.contains("key Key.1: ec.nist.p256, certified"),
        "{stdout}"
    );
    assert!(exchange.join("4.response.json").exists());
}
