//! KeyGen2 failures over real PC/SC (issue 11 point 5): a tampered MAC, a replayed message, a
//! message out of order, an algorithm the card lacks, a user who cancels the PIN prompt, a
//! malformed request. In every case the proxy stops with the error, the SKS session is
//! aborted on the card (no open session, no key of it left: nothing half-provisioned), and
//! the issuer receives no further response (KeyGen2 has no error message: the exchange stays
//! unanswered on its side).

#[path = "support/keygen2.rs"]
mod kg2;

use apdu_spec::{AppUsage, ErrorCode};
use keygen2::proxy::ProxyError;
use kg2::*;
use serde_json::Value;
use sks_issuer::keygen2::{KeyGen2Server, KeyPlan, Scenario};
use sks_issuer::{alg, Kmk};

/// The card state that must not change through a failed exchange.
#[derive(Debug, PartialEq, Eq)]
struct CardState {
    open: usize,
    closed: Vec<String>,
    keys: Vec<(u32, u32)>,
}

fn state(sks: &mut PcscCard) -> CardState {
    CardState {
        open: sessions(sks, true).len(),
        closed: sessions(sks, false)
            .into_iter()
            .map(|(_, i)| i.client_session_id.as_str().to_string())
            .collect(),
        keys: all_keys(sks),
    }
}

fn new_server() -> KeyGen2Server {
    KeyGen2Server::new("http://127.0.0.1/keygen2").unwrap()
}

/// Runs `scenario` with `tamper` and checks the failure leaves the card and the issuer as
/// described in the module documentation. Returns the proxy's error.
fn fails(
    sks: &mut PcscCard,
    server: &mut KeyGen2Server,
    scenario: Scenario,
    user: User,
    tamper: impl FnMut(&str, String) -> String,
) -> ProxyError {
    let before = state(sks);
    let pending = server.pending();
    let err = exchange(server, sks, scenario, user, tamper).expect_err("the exchange must fail");
    assert_eq!(
        state(sks),
        before,
        "card changed by a failed exchange ({err})"
    );
    assert_eq!(
        server.pending(),
        pending + 1,
        "the issuer got no final response"
    );
    err
}

/// [`fails`] for the PIN+PUK P-256 scenario (PIN "1234") with the issuer's `qualifier` request
/// replaced by `tamper(request)`; the other requests pass unchanged.
fn tampered_at(
    sks: &mut PcscCard,
    server: &mut KeyGen2Server,
    qualifier: &str,
    mut tamper: impl FnMut(String) -> String,
) -> ProxyError {
    let scenario = Scenario::pin_puk_p256(None);
    fails(sks, server, scenario, User::pins(&["1234"]), |q, r| {
        if q == qualifier {
            tamper(r)
        } else {
            r
        }
    })
}

fn set(json: String, path: &[&str], value: Value) -> String {
    let mut v: Value = serde_json::from_str(&json).unwrap();
    let mut cur = &mut v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[*p],
        };
    }
    *cur = value;
    v.to_string()
}

fn other_mac() -> Value {
    Value::String(keygen2::b64::encode(&[0x42; 32]))
}

#[test]
fn tampered_macs_abort_the_session() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    // A key's MAC in the KeyCreationRequest.
    let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |r| {
        set(
            r,
            &[
                "pukPolicySpecifiers",
                "0",
                "pinPolicySpecifiers",
                "0",
                "keyEntrySpecifiers",
                "0",
                "mac",
            ],
            other_mac(),
        )
    });
    assert_eq!(err.sks_code(), Some(ErrorCode::Mac), "{err}");
    // The close MAC: the keys created before are gone with the session.
    let err = tampered_at(
        &mut sks,
        &mut server,
        "ProvisioningFinalizationRequest",
        |r| set(r, &["sessionCloseData", "mac"], other_mac()),
    );
    assert_eq!(err.sks_code(), Some(ErrorCode::Mac), "{err}");
    // A certificate path MAC.
    let err = tampered_at(
        &mut sks,
        &mut server,
        "ProvisioningFinalizationRequest",
        |r| set(r, &["issuedCredentials", "0", "mac"], other_mac()),
    );
    assert_eq!(err.sks_code(), Some(ErrorCode::Mac), "{err}");
}

/// A complete PIN+PUK exchange on a fresh card and issuer; returns the card, the issuer and
/// a lookup of the requests as the issuer sent them: qualifier -> JSON (the first of that
/// qualifier).
fn recorded_exchange() -> (
    conformance_tests::CardUnderTest<'static>,
    PcscCard,
    KeyGen2Server,
    impl Fn(&str) -> String,
) {
    let (cut, mut sks) = pcsc_card();
    let mut server = new_server();
    let mut recorded: Vec<(String, String)> = Vec::new();
    exchange(
        &mut server,
        &mut sks,
        Scenario::pin_puk_p256(None),
        User::pins(&["1234"]),
        |q, r| {
            recorded.push((q.to_string(), r.clone()));
            r
        },
    )
    .expect("first exchange");
    let old = move |q: &str| recorded.iter().find(|(x, _)| x == q).unwrap().1.clone();
    (cut, sks, server, old)
}

/// `old` (a recorded request) with the session ids of `current` (a request of this session),
/// so that the proxy passes it to the card.
fn with_session_ids_of(old: String, current: &str) -> String {
    let v: Value = serde_json::from_str(current).unwrap();
    let old = set(old, &["serverSessionId"], v["serverSessionId"].clone());
    set(old, &["clientSessionId"], v["clientSessionId"].clone())
}

#[test]
fn replayed_messages_are_refused() {
    let (_cut, mut sks, mut server, old) = recorded_exchange();

    // Its KeyCreationRequest replayed into a new session (ids rewritten so that the proxy
    // passes it to the card): the MACs belong to the old session key.
    let old_kc = old("KeyCreationRequest");
    let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |r| {
        with_session_ids_of(old_kc.clone(), &r)
    });
    // The encrypted PUK is decrypted (under the wrong key: bad padding) before the MAC is
    // checked; a lucky padding ends at the MAC.
    assert!(
        matches!(err.sks_code(), Some(ErrorCode::Crypto | ErrorCode::Mac)),
        "{err}"
    );

    // The same replay without rewriting: the proxy refuses the foreign session ids.
    let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |_| {
        old_kc.clone()
    });
    assert!(
        matches!(err, ProxyError::Protocol(ref m) if m.contains("SessionId")),
        "{err}"
    );

    // A replayed response is refused by the issuer.
    let mut s2 = new_server();
    let inv = s2.start(Scenario::pin_puk_p256(None)).unwrap();
    let mut proxy = keygen2::proxy::Proxy::new(&mut sks, User::default(), config(&s2));
    let resp = proxy.handle_json(&inv).unwrap();
    s2.respond(&resp).unwrap();
    assert!(
        s2.respond(&resp).is_err(),
        "the issuer refuses a replayed response"
    );
}

#[test]
fn messages_out_of_order_are_refused() {
    let (_cut, mut sks, mut server, old) = recorded_exchange();

    // A KeyCreationRequest where the ProvisioningInitializationRequest belongs: no session is
    // ever opened.
    let kc = old("KeyCreationRequest");
    let err = tampered_at(
        &mut sks,
        &mut server,
        "ProvisioningInitializationRequest",
        |_| kc.clone(),
    );
    assert!(
        matches!(err, ProxyError::Protocol(ref m) if m.contains("out of order")),
        "{err}"
    );

    // A ProvisioningFinalizationRequest for keys never created in this session (ids
    // rewritten): getKeyHandle fails without a teardown; the proxy aborts the session.
    let fin = old("ProvisioningFinalizationRequest");
    let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |r| {
        let f = with_session_ids_of(fin.clone(), &r);
        let none = Value::String("Key.None".into());
        set(f, &["issuedCredentials", "0", "id"], none)
    });
    assert!(err.sks_code().is_some(), "{err}");

    // A request after the exchange ended, and a response instead of a request.
    let inv = server.start(Scenario::pin_puk_p256(None)).unwrap();
    let mut proxy = keygen2::proxy::Proxy::new(&mut sks, User::default(), config(&server));
    let resp = proxy.handle_json(&inv).unwrap();
    let err = proxy.handle_json(&resp).unwrap_err();
    assert!(err.to_string().contains("is a response"), "{err}");
    assert!(proxy.handle_json(&inv).is_err(), "nothing after an abort");
}

#[test]
fn an_algorithm_the_card_lacks_aborts() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    let mut s = Scenario::pin_puk_p256(None);
    s.keys.push(KeyPlan::new(
        "Key.Brainpool",
        Some("PIN.1"),
        "https://webpki.github.io/sks/algorithm#ec.brainpool.p256r1",
        AppUsage::Signature,
    ));
    let err = fails(
        &mut sks,
        &mut server,
        s,
        User::pins(&["1234", "1234"]),
        |_, r| r,
    );
    // The card reports unsupported algorithms as ERROR_OPTION, as the reference does.
    assert_eq!(err.sks_code(), Some(ErrorCode::Option), "{err}");
    assert!(err.to_string().contains("brainpool"), "{err}");
    // An endorsed algorithm the card lacks.
    let mut s = Scenario::new("bad-endorsed");
    s.keys.push(
        KeyPlan::new("Key.1", None, alg::EC_P256, AppUsage::Signature)
            .endorse(&["urn:unknown:algorithm"]),
    );
    let err = fails(&mut sks, &mut server, s, User::default(), |_, r| r);
    assert!(err.sks_code().is_some(), "{err}");
}

#[test]
fn a_cancelled_pin_prompt_aborts() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    let mut user = User::default();
    user.answers.push_back(None);
    let err = fails(
        &mut sks,
        &mut server,
        Scenario::pin_puk_p256(Some(Kmk::generate_p256())),
        user,
        |_, r| r,
    );
    assert!(matches!(err, ProxyError::Cancelled), "{err}");
    // A PIN that breaks the policy is asked again; then the user gives up.
    let mut user = User::pins(&["12"]);
    user.answers.push_back(None);
    let err = fails(
        &mut sks,
        &mut server,
        Scenario::pin_puk_p256(None),
        user,
        |_, r| r,
    );
    assert!(matches!(err, ProxyError::Cancelled), "{err}");
}

#[test]
fn malformed_requests_abort() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    for (path, value, why) in [
        (vec!["extra"], Value::from(1), "unknown field"),
        (vec!["keyEntryAlgorithm"], Value::from(7), "invalid type"),
        (
            vec!["pukPolicySpecifiers", "0", "encryptedPuk"],
            Value::from("a+b="),
            "base64url",
        ),
        (
            vec!["pukPolicySpecifiers", "0", "mac"],
            Value::from("AAAA"),
            "32 bytes",
        ),
        (
            vec!["pukPolicySpecifiers", "0", "pinPolicySpecifiers"],
            Value::Array(vec![]),
            "empty array",
        ),
    ] {
        let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |r| {
            set(r, &path, value.clone())
        });
        assert!(matches!(err, ProxyError::Parse(_)), "{err}");
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
}

/// A request for what the proxy does not implement (KeyGen2 `deferredIssuance`) aborts the SKS
/// session before any key is made, with `ProxyError::Unsupported` naming it.
#[test]
fn deferred_issuance_is_refused_as_unsupported() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    let err = tampered_at(&mut sks, &mut server, "KeyCreationRequest", |r| {
        set(r, &["deferredIssuance"], Value::Bool(true))
    });
    assert!(
        matches!(err, ProxyError::Unsupported(ref m) if m.contains("deferredIssuance")),
        "{err}"
    );
}

#[test]
fn a_forged_certificate_path_aborts() {
    let (_cut, mut sks) = pcsc_card();
    let mut server = new_server();
    let err = tampered_at(
        &mut sks,
        &mut server,
        "ProvisioningFinalizationRequest",
        |r| {
            let v: Value = serde_json::from_str(&r).unwrap();
            let ee = v["issuedCredentials"][0]["certificatePath"][0]
                .as_str()
                .unwrap();
            let mut der = keygen2::b64::decode(ee).unwrap();
            let last = der.len() - 1;
            der[last] ^= 0x01; // the signature's last byte
            set(
                r,
                &["issuedCredentials", "0", "certificatePath", "0"],
                Value::String(keygen2::b64::encode(&der)),
            )
        },
    );
    assert!(
        matches!(err, ProxyError::Protocol(ref m) if m.contains("does not verify")),
        "{err}"
    );
}
