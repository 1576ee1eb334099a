//! Issue 11: a full KeyGen2 exchange (PUK → user-defined PIN → one P-256 key; Invocation,
//! ProvisioningInitialization, KeyCreation, ProvisioningFinalization) between the project's
//! KeyGen2 issuer (`sks-issuer`, HTTP on localhost) and the keygen2 proxy, with the card over
//! PC/SC on the product file store, split into issuer, proxy/JSON (+ HTTP) and card time.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use apdu_spec::{Bytes, DeleteKeyArgs};
use conformance_tests::CardUnderTest;
use keygen2::proxy::{PinPrompt, Proxy, ProxyConfig, UserInterface};
use keygen2::transport::{run_http, HttpOptions};
use pcsc_bridge::{PcscTransport, Sks, Transport};
use sks_issuer::keygen2::http::HttpIssuer;
use sks_issuer::keygen2::{KeyGen2Server, Reply, Scenario};
use sks_issuer::Kmk;
use zeroize::Zeroizing;

use crate::meter::{metered_card, Timed};
use crate::stats::{fmt_ns, Samples};
use crate::{progress, Result, Scale, TempDir};

struct Pin;

impl UserInterface for Pin {
    fn pin(&mut self, _: &PinPrompt) -> Option<Zeroizing<String>> {
        Some(Zeroizing::new("1234".into()))
    }
}

#[derive(Default)]
struct Split {
    total: Samples,
    issuer: Samples,
    card: Samples,
    rest: Samples,
}

impl Split {
    fn push(&mut self, total: Duration, issuer: Duration, card: Duration) {
        self.total.push(total);
        self.issuer.push(issuer);
        self.card.push(card);
        self.rest.push(total.saturating_sub(issuer + card));
    }
}

fn config(issuer_uri: &str, cert: &[u8]) -> ProxyConfig {
    ProxyConfig {
        issuer_uri: issuer_uri.into(),
        server_certificate: cert.to_vec(),
        client_attributes: Vec::new(),
        image_preferences: Vec::new(),
        client_time: None,
    }
}

/// Deletes the exchange's key so the store keeps its size across samples (untimed).
fn cleanup<T: Transport>(sks: &mut Sks<T>, provisioning_handle: Option<u32>) -> Result<()> {
    let Some(h) = provisioning_handle else {
        return Ok(());
    };
    let mut k = 0;
    let mut owned = Vec::new();
    while let Some((key, session)) = sks
        .enumerate_keys(&apdu_spec::EnumerateKeysArgs { key_handle: k })?
        .key
    {
        k = key.get();
        if session == h {
            owned.push(k);
        }
    }
    for key_handle in owned {
        sks.delete_key(&DeleteKeyArgs {
            key_handle,
            authorization: Bytes(Vec::new()),
        })?;
    }
    Ok(())
}

/// The newest closed session's handle (the exchange just completed).
fn last_session<T: Transport>(sks: &mut Sks<T>) -> Result<Option<u32>> {
    let mut h = 0;
    let mut last = None;
    while let Some((n, _)) = sks
        .enumerate_provisioning_sessions(&apdu_spec::EnumerateProvisioningSessionsArgs {
            provisioning_handle: h,
            provisioning_state: false,
        })?
        .session
    {
        h = n.get();
        last = Some(h);
    }
    Ok(last)
}

/// One exchange over HTTP on localhost.
fn over_http<T: Transport>(
    http: &HttpIssuer,
    sks: &mut Sks<Timed<T>>,
    split: Option<&mut Split>,
) -> Result<()> {
    let (uri, cert) = {
        let st = http.state();
        (
            st.issuer.issuer_uri().to_string(),
            st.issuer.server_certificate().to_vec(),
        )
    };
    let issuer0 = http.state().issuer_time;
    let card0 = sks.transport().spent;
    let t = Instant::now();
    {
        let mut proxy = Proxy::new(sks, Pin, config(&uri, &cert));
        run_http(http.url(), &mut proxy, HttpOptions::default())?;
    }
    let total = t.elapsed();
    let issuer = http.state().issuer_time - issuer0;
    let card = sks.transport().spent - card0;
    if let Some(s) = split {
        s.push(total, issuer, card);
    }
    let h = last_session(sks)?;
    cleanup(sks, h)
}

/// One exchange in memory (no HTTP): the same messages handed over as strings.
fn in_memory<T: Transport>(
    server: &mut KeyGen2Server,
    kmk: &Kmk,
    sks: &mut Sks<Timed<T>>,
    split: Option<&mut Split>,
) -> Result<()> {
    let cfg = config(server.issuer_uri(), server.server_certificate());
    let card0 = sks.transport().spent;
    let mut issuer = Duration::ZERO;
    let t = Instant::now();
    {
        let mut proxy = Proxy::new(sks, Pin, cfg);
        let ti = Instant::now();
        let mut request = server.start(Scenario::pin_puk_p256(Some(kmk.clone())))?;
        issuer += ti.elapsed();
        loop {
            let response = proxy.handle_json(&request)?;
            let ti = Instant::now();
            let r = server.respond(&response)?;
            issuer += ti.elapsed();
            match r {
                Reply::Request(r) => request = r,
                Reply::Done(_) => break,
            }
        }
    }
    let total = t.elapsed();
    let card = sks.transport().spent - card0;
    if let Some(s) = split {
        s.push(total, issuer, card);
    }
    let h = last_session(sks)?;
    cleanup(sks, h)
}

fn row(md: &mut String, label: &str, s: &Split) {
    let _ = writeln!(
        md,
        "| {label} | {} | {} | {} | {} | {} | {} |",
        s.total.len(),
        fmt_ns(s.total.median()),
        fmt_ns(s.total.p99()),
        fmt_ns(s.issuer.median()),
        fmt_ns(s.rest.median()),
        fmt_ns(s.card.median()),
    );
}

pub fn run(scale: Scale, pcsc: bool) -> Result<String> {
    let mut md = String::from("## Issue 11: KeyGen2 exchange\n\n");
    let dir = TempDir::new("keygen2")?;
    let kmk = Kmk::generate_p256();
    let k = kmk.clone();
    let http = HttpIssuer::start(
        "127.0.0.1:0",
        None,
        Box::new(move |_| Some(Scenario::pin_puk_p256(Some(k.clone())))),
    )?;
    let mut server = KeyGen2Server::new("http://127.0.0.1/keygen2")?;
    let (warmup, n) = (3, scale.n(40));
    let _ = writeln!(
        md,
        "One exchange = the four KeyGen2 round trips of `Scenario::pin_puk_p256` (PUK → \
         user-defined PIN → one P-256 key, ECDSA-SHA256 endorsed, P-256 KMK): getDeviceInfo, \
         createProvisioningSession, createPukPolicy, createPinPolicy, createKeyEntry, \
         getKeyHandle, setCertificatePath, closeProvisioningSession. *issuer*: the KeyGen2 \
         server building requests (MACs, encryption, the CA certificate) and checking \
         responses (session, key and close attestations). *card*: time inside the PC/SC \
         transport (pcsc-lite + vpcd + card, file store). *proxy/JSON*: the rest — parsing and \
         writing JSON, the proxy, and for the HTTP rows the HTTP exchange on localhost \
         (ureq ↔ tiny_http). {n} samples after {warmup} warm-up exchanges, medians.\n"
    );
    let _ = writeln!(
        md,
        "| path | n | total | p99 | issuer | proxy/JSON (+HTTP) | card |\n|---|---|---|---|---|---|---|"
    );
    let mut splits = Vec::new();
    if pcsc {
        progress!("issue 11: serving a file-backed SKS card to the private pcscd");
        let cut = CardUnderTest::start(applet::open_card(Some(&dir.file("kg2.img")))?);
        let t = PcscTransport::connect_reader(cut.context(), cut.reader_name())?;
        let mut sks = Sks::new(Timed::new(t));
        let (mut a, mut b) = (Split::default(), Split::default());
        for i in 0..(warmup + n) {
            let rec = i >= warmup;
            over_http(&http, &mut sks, rec.then_some(&mut a))?;
            in_memory(&mut server, &kmk, &mut sks, rec.then_some(&mut b))?;
        }
        splits.push(("PC/SC, file store, HTTP on localhost", a));
        splits.push(("PC/SC, file store, in memory (no HTTP)", b));
    }
    let (card, _meter) = metered_card(Some(&dir.file("inproc.img")))?;
    let mut sks = Sks::new(Timed::new(pcsc_bridge::InProcess::from_box(card)?));
    let mut c = Split::default();
    for i in 0..(warmup + n) {
        in_memory(&mut server, &kmk, &mut sks, (i >= warmup).then_some(&mut c))?;
    }
    splits.push(("in-process card, file store, in memory", c));
    for (label, s) in &splits {
        row(&mut md, label, s);
    }
    md.push('\n');
    Ok(md)
}
