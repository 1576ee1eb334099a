//! KeyGen2 end to end over real PC/SC (issue 11 point 4): the project's KeyGen2 issuer
//! (`sks-issuer`, served over HTTP on localhost) ↔ the keygen2 proxy (`keygen2::transport::
//! run_http`) ↔ the card in a private pcscd's vpcd reader. Every result is checked on the card
//! independently of both: enumerate sessions and keys, getKeyAttributes (certificate path,
//! app usage), getKeyProtectionInfo, getExtension, and signatures verified with `openssl`.
//! The attestations (session, keys, close) are verified by the issuer, which is written from
//! the spec independently of the card.

#[path = "support/keygen2.rs"]
mod kg2;

use apdu_spec::{
    AppUsage, Bytes, ExportProtection, GetExtensionArgs, InputMethod, KeyBackupFlag,
    PerformHmacArgs, ProtectionFlag, SignHashedDataArgs, Uri,
};
use keygen2::proxy::Proxy;
use keygen2::transport::{run_http, Ending, HttpOptions};
use kg2::*;
use sks_issuer::keygen2::http::HttpIssuer;
use sks_issuer::keygen2::{KeyPlan, LookupPlan, Outcome, Scenario, TargetRef};
use sks_issuer::{alg, Kmk};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The issuer on localhost, serving the scenarios pushed into its queue, one per exchange.
struct Issuer {
    http: HttpIssuer,
    queue: Arc<Mutex<VecDeque<Scenario>>>,
}

impl Issuer {
    fn start() -> Self {
        let queue: Arc<Mutex<VecDeque<Scenario>>> = Arc::default();
        let q = queue.clone();
        let http = HttpIssuer::start(
            "127.0.0.1:0",
            None,
            Box::new(move |_| q.lock().unwrap().pop_front()),
        )
        .expect("the issuer listens on localhost");
        Self { http, queue }
    }

    /// One exchange over HTTP with the proxy on `sks`.
    fn run(&self, sks: &mut PcscCard, scenario: Scenario, user: User) -> Outcome {
        self.queue.lock().unwrap().push_back(scenario);
        let cfg = config(&self.http.state().issuer);
        let mut proxy = Proxy::new(sks, user, cfg);
        let ending =
            run_http(self.http.url(), &mut proxy, HttpOptions::default()).unwrap_or_else(|e| {
                panic!(
                    "exchange failed: {e}; issuer: {:?}",
                    self.http.state().failures
                )
            });
        assert_eq!(
            ending,
            Ending::Provisioned {
                location: Some("/keygen2/done".into())
            }
        );
        self.http
            .state()
            .outcomes
            .last()
            .cloned()
            .expect("an outcome")
    }

    fn target(o: &Outcome, key: &str) -> TargetRef {
        TargetRef {
            server_session_id: o.server_session_id.clone(),
            key_id: key.into(),
        }
    }
}

fn sign(
    sks: &mut PcscCard,
    key: u32,
    algorithm: &str,
    pin: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, pcsc_bridge::Error> {
    use sha2::Digest;
    sks.sign_hashed_data(&SignHashedDataArgs {
        key_handle: key,
        algorithm: Uri::new(algorithm).unwrap(),
        parameters: Bytes(Vec::new()),
        biometric_auth: false,
        authorization: Bytes(pin.to_vec()),
        data: Bytes(sha2::Sha256::digest(data).to_vec()),
    })
    .map(|r| r.result.0)
}

/// A P-256 signature by the card, verified with openssl against the issued certificate.
fn check_p256_signature(sks: &mut PcscCard, key: u32, pin: &[u8], ee: &[u8]) {
    let data = b"KeyGen2 over PC/SC";
    let raw = sign(sks, key, alg::ECDSA_SHA256, pin, data).expect("signHashedData");
    let der = p256::ecdsa::Signature::from_slice(&raw)
        .expect("raw r||s")
        .to_der();
    openssl_verify(ee, data, der.as_bytes());
}

fn extension(sks: &mut PcscCard, key: u32, type_: &str) -> apdu_spec::GetExtensionOutput {
    sks.get_extension(&GetExtensionArgs {
        key_handle: key,
        r#type: Uri::new(type_).unwrap(),
    })
    .expect("getExtension")
}

#[test]
fn keygen2_scenarios_over_pcsc() {
    let (_cut, mut sks) = pcsc_card();
    let issuer = Issuer::start();
    let kmk = Kmk::generate_p256();

    // 1. PUK → user-defined PIN → P-256, with capability queries.
    let mut s = Scenario::pin_puk_p256(Some(kmk.clone()));
    s.capability_query = vec![
        "https://webpki.github.io/keygen2/feature#biometric-support".into(),
        "https://webpki.github.io/keygen2/feature#device-pin-support".into(),
        alg::RSA2048.into(),
        "https://webpki.github.io/sks/algorithm#ec.brainpool.p256r1".into(),
        "https://webpki.github.io/keygen2/clientattr#imei-number".into(),
    ];
    s.preferred_languages = vec!["en".into(), "de".into()];
    s.target_key_containers = vec!["embedded".into(), "sdcard".into()];
    let first = issuer.run(&mut sks, s, User::pins(&["1234"]));
    // The proxy's cookie jar returned the issuer's session cookie with each of the 4 POSTs.
    assert_eq!(issuer.http.state().posts_with_cookie, 4);
    let supported: Vec<(String, Option<bool>)> = first
        .capabilities
        .iter()
        .map(|c| (c.type_.to_string(), c.supported))
        .collect();
    assert_eq!(
        supported.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        // No biometric reader (issue 9), no device PIN, RSA-2048, no brainpool, no IMEI.
        vec![
            Some(false),
            Some(false),
            Some(true),
            Some(false),
            Some(false)
        ],
        "{supported:?}"
    );
    let h = verify_on_card(&mut sks, &first);
    let p = protection(&mut sks, h[0]);
    assert_eq!(
        p.protection_status & u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected),
        u8::from(ProtectionFlag::PinProtected | ProtectionFlag::PukProtected),
        "PIN and PUK protected"
    );
    assert!(p.user_defined);
    check_p256_signature(
        &mut sks,
        h[0],
        b"1234",
        &cred(&first, "Key.1").key.certificate_path[0],
    );
    assert!(
        sign(&mut sks, h[0], alg::ECDSA_SHA256, b"9999", b"x").is_err(),
        "the user's PIN is the PIN"
    );

    // 2. Several keys under one shared PIN: RSA-2048 with an extension, an encrypted extension,
    //    a property bag and a logotype; an HMAC key with an imported secret; a bare P-384 key.
    let mut s = Scenario::named("several-keys", &kmk, None).unwrap();
    s.keys.push(
        KeyPlan::new(
            "Key.P384",
            None,
            "https://webpki.github.io/sks/algorithm#ec.nist.p384",
            AppUsage::Encryption,
        )
        .endorse(&[alg::ECDH_RAW])
        .with(|k| {
            k.export_protection = ExportProtection::None.into();
            k.friendly_name = "P-384 agreement".into();
        }),
    );
    let several = issuer.run(&mut sks, s, User::pins(&["4321"]));
    let h = verify_on_card(&mut sks, &several);
    assert_eq!(h.len(), 4);
    let rsa = h[1];
    let e = extension(&mut sks, rsa, "urn:sks:keygen2:ext");
    assert_eq!(
        (e.sub_type, e.extension_data.0.as_slice()),
        (0, &b"extension data"[..])
    );
    let e = extension(&mut sks, rsa, "urn:sks:keygen2:secret");
    assert_eq!(
        (e.sub_type, e.extension_data.0.as_slice()),
        (1, &b"secret data"[..]),
        "decrypted by the card"
    );
    let e = extension(&mut sks, rsa, "urn:sks:keygen2:bag");
    assert_eq!(e.sub_type, 2);
    let e = extension(
        &mut sks,
        rsa,
        "https://webpki.github.io/keygen2/logotype#list",
    );
    assert_eq!((e.sub_type, e.qualifier.as_str()), (3, "image/png"));
    // RSA signature (PKCS#1) verified with openssl.
    let data = b"RSA over KeyGen2";
    let sig = sign(&mut sks, rsa, alg::RSA_SHA256, b"4321", data).unwrap();
    openssl_verify(
        &cred(&several, "Key.RSA").key.certificate_path[0],
        data,
        &sig,
    );
    // The imported HMAC secret computes the HMAC we compute.
    let mac = sks
        .perform_hmac(&PerformHmacArgs {
            key_handle: h[2],
            algorithm: Uri::new(alg::HMAC_SHA256).unwrap(),
            parameters: Bytes(Vec::new()),
            biometric_auth: false,
            authorization: Bytes(Vec::new()),
            data: apdu_spec::Blob(b"otp".to_vec()),
        })
        .unwrap();
    use hmac::Mac;
    let mut expected =
        <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&[0x5a; 32]).unwrap();
    expected.update(b"otp");
    assert_eq!(mac.result.0, expected.finalize().into_bytes().to_vec());
    let a = attributes(&mut sks, h[3]);
    assert_eq!(a.friendly_name, "P-384 agreement");
    assert_eq!(protection(&mut sks, h[3]).export_protection, 0);

    // 3. Privacy mode, an issuer-set (preset) PIN, a trust anchor and an imported private key.
    let imported = <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(
        &mut sks_issuer::crypto::rng(),
    );
    let mut s = Scenario::new("privacy-preset-import");
    s.privacy = true;
    s.kmk = Some(kmk.clone());
    s.pins.push(sks_issuer::keygen2::PinPlan {
        id: "PIN.P".into(),
        puk: None,
        policy: sks_issuer::PinPolicy {
            input_method: InputMethod::TrustedGui.into(),
            ..Default::default()
        },
        preset: Some(b"7777".to_vec()),
    });
    s.keys.push(
        KeyPlan::new(
            "Key.Imported",
            Some("PIN.P"),
            alg::EC_P256,
            AppUsage::Signature,
        )
        .endorse(&[alg::ECDSA_SHA256])
        .with(|k| k.enable_pin_caching = true)
        .credential(|c| {
            use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
            c.trust_anchor = true;
            c.import_private = Some((
                imported.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                imported
                    .public_key()
                    .to_public_key_der()
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
            ));
        }),
    );
    let user = User::default(); // no PIN dialog: the PIN is preset
    let private = issuer.run(&mut sks, s, user);
    let h = verify_on_card(&mut sks, &private);
    let info = sessions(&mut sks, false)
        .into_iter()
        .find(|(_, i)| i.client_session_id.as_str() == private.client_session_id)
        .unwrap()
        .1;
    assert!(info.privacy_enabled, "privacy mode on the card");
    assert!(!protection(&mut sks, h[0]).user_defined, "issuer-set PIN");
    assert_eq!(
        protection(&mut sks, h[0]).key_backup & u8::from(KeyBackupFlag::Imported),
        u8::from(KeyBackupFlag::Imported),
        "imported"
    );
    check_p256_signature(
        &mut sks,
        h[0],
        b"7777",
        &cred(&private, "Key.Imported").key.certificate_path[0],
    );

    // 4. Discovery, then a new key replacing Key.1 of run 1 (postUpdateKey) and a new key
    //    taking the PIN protection of Key.RSA (postCloneKeyProtection), deleting Key.HMAC.
    let mut s = Scenario::new("update-clone-delete");
    s.kmk = Some(kmk.clone());
    s.lookups.push(LookupPlan {
        id: "Lookup.All".into(),
        kmk: kmk.clone(),
        filter: Default::default(),
    });
    s.lookups.push(LookupPlan {
        id: "Lookup.RSA".into(),
        kmk: kmk.clone(),
        filter: keygen2::messages::SearchFilter {
            subject_reg_ex: Some("\\QCN=Key.RSA\\E".into()),
            app_usage: Some(AppUsage::Authentication),
            ..Default::default()
        },
    });
    s.lookups.push(LookupPlan {
        id: "Lookup.Other".into(),
        kmk: Kmk::generate_p256(),
        filter: Default::default(),
    });
    s.keys.push(
        KeyPlan::new("Key.Updated", None, alg::EC_P256, AppUsage::Signature)
            .endorse(&[alg::ECDSA_SHA256])
            .credential(|c| c.update_key = Some(Issuer::target(&first, "Key.1"))),
    );
    s.keys.push(
        KeyPlan::new("Key.Cloned", None, alg::EC_P256, AppUsage::Signature)
            .endorse(&[alg::ECDSA_SHA256])
            .credential(|c| c.clone_key_protection = Some(Issuer::target(&several, "Key.RSA"))),
    );
    s.delete_keys.push(Issuer::target(&several, "Key.HMAC"));
    let keys_before = all_keys(&mut sks).len();
    let post = issuer.run(&mut sks, s, User::default());
    let d = post.discovery.as_ref().unwrap();
    let counts: Vec<usize> = d
        .lookup_results
        .iter()
        .map(|r| r.matching_credentials.len())
        .collect();
    // First, several (4) and privacy (1) exchanges share the KMK: 6 keys; one RSA match; none
    // for an unknown KMK.
    assert_eq!(counts, vec![6, 1, 0]);
    assert_eq!(
        all_keys(&mut sks).len(),
        keys_before + 2 - 1 - 1,
        "two new, Key.1 replaced, Key.HMAC deleted"
    );
    assert!(
        find(&mut sks, cred(&several, "Key.HMAC")).is_none(),
        "deleted"
    );
    assert!(find(&mut sks, cred(&first, "Key.1")).is_none(), "replaced");
    let updated = verify_on_card(&mut sks, &post);
    // The updated key took over Key.1's PIN (1234); the cloned key has Key.RSA's PIN (4321).
    check_p256_signature(
        &mut sks,
        updated[0],
        b"1234",
        &cred(&post, "Key.Updated").key.certificate_path[0],
    );
    check_p256_signature(
        &mut sks,
        updated[1],
        b"4321",
        &cred(&post, "Key.Cloned").key.certificate_path[0],
    );

    // 5. Lock Key.Updated with wrong PINs, then unlock it from an `unlock` exchange.
    for _ in 0..3 {
        assert!(sign(&mut sks, updated[0], alg::ECDSA_SHA256, b"0000", b"x").is_err());
    }
    assert_eq!(
        protection(&mut sks, updated[0]).protection_status & u8::from(ProtectionFlag::PinBlocked),
        u8::from(ProtectionFlag::PinBlocked),
        "PIN blocked"
    );
    let mut s = Scenario::new("unlock");
    s.unlock = true;
    s.kmk = Some(kmk.clone());
    s.lookups.push(LookupPlan {
        id: "Lookup.Locked".into(),
        kmk: kmk.clone(),
        filter: keygen2::messages::SearchFilter {
            finger_print: Some(keygen2::b64::Sized({
                use sha2::Digest;
                sha2::Sha256::digest(&cred(&post, "Key.Updated").key.certificate_path[0]).to_vec()
            })),
            ..Default::default()
        },
    });
    s.unlock_keys.push(Issuer::target(&post, "Key.Updated"));
    let unlocked = issuer.run(&mut sks, s, User::default());
    let m = &unlocked.discovery.as_ref().unwrap().lookup_results[0].matching_credentials;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].locked, Some(true));
    assert_eq!(
        protection(&mut sks, updated[0]).protection_status & u8::from(ProtectionFlag::PinBlocked),
        0,
        "unblocked"
    );
    check_p256_signature(
        &mut sks,
        updated[0],
        b"1234",
        &cred(&post, "Key.Updated").key.certificate_path[0],
    );

    // 6. KMK roll-over: a new KMK replaces `kmk` in every closed session that holds it
    //    (updateKeyManagementKey before the session), through an intermediate one; the new
    //    key deletes Key.Cloned under the new KMK.
    let newer = Kmk::generate_p256();
    let middle = Kmk::generate_rsa(2048).unwrap();
    let mut s = Scenario::new("rollover");
    s.kmk = Some(newer.clone());
    s.rollover = vec![middle, kmk.clone()];
    s.keys.push(KeyPlan::new(
        "Key.Fresh",
        None,
        alg::EC_P256,
        AppUsage::Universal,
    ));
    s.delete_keys.push(Issuer::target(&post, "Key.Cloned"));
    let rolled = issuer.run(&mut sks, s, User::default());
    verify_on_card(&mut sks, &rolled);
    let holders: Vec<_> = sessions(&mut sks, false)
        .into_iter()
        .filter(|(_, i)| i.key_management_key.0 == kmk.spki())
        .collect();
    assert!(holders.is_empty(), "no session keeps the old KMK");
    let with_new = sessions(&mut sks, false)
        .into_iter()
        .filter(|(_, i)| i.key_management_key.0 == newer.spki())
        .count();
    // Post-operations merged the sessions (the closing session takes over the target's): the
    // privacy session (rolled over, never targeted) and this one remain.
    assert_eq!(with_new, 2, "sessions with the new KMK");
    let privacy_session = session_of(
        &mut sks,
        &private.server_session_id,
        &private.client_session_id,
    )
    .expect("the privacy session");
    let info = sessions(&mut sks, false)
        .into_iter()
        .find(|(h, _)| *h == privacy_session)
        .unwrap()
        .1;
    assert_eq!(
        info.key_management_key.0,
        newer.spki(),
        "rolled over to the new KMK"
    );
    assert!(
        find(&mut sks, cred(&post, "Key.Cloned")).is_none(),
        "deleted under the new KMK"
    );
}
