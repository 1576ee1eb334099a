//! The known-answer vectors of spec-notes §11, every listed value.

use crate::crypto::{hmac_sha256, sha256, Curve, EcdhKey};
use crate::macdata::{self, method, SessionAttestationInput};
use crate::session::{self, ServerEphemeral, SessionKeys};
use crate::Kmk;
use apdu_spec::values::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PatternRestriction, PinFormat,
};
use apdu_spec::{
    Bytes, CreateKeyEntryArgs, CreatePinPolicyArgs, CreatePukPolicyArgs, Id, Mac, Uri,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const CLIENT_SESSION_ID: &str = "QqTlcUH_Md7_i2dP4S5VKYmmYsbUbzGL";
const SERVER_SESSION_ID: &str = "14153858604BE5OTXkbax23nsIxS3gh";
const ISSUER_URI: &str = "https://issuer.example.com/kg2";
const SERVER_D: &str = "5be551a192e32372d3dfca3025e3a6129aa00350e5ffceeb0184f61b25e23481";
const CLIENT_D: &str = "31939c5adddec942290b637530898a70f2d32453e5241f30a0550780e7586b07";
const SERVER_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004684de9cd5ef88c582db958fac19dab95be7a9458385029f24d5576919a94e2c6c32dc2fc3df52e1bd25e288b5d93a550759ecc8c10ec985bb097e2bf8a065833";
const CLIENT_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200047344ff14aa4becc082ba471a5e54e2564f4b9e8978c83d878f87e6d1be1c65d0bfe3084bc000a2612e6635c08967ee7fb787567617c1cb43f4d024bbe78a9342";
const Z: &str = "70502f6205452b89a89d943bdcebaf1b739dd4f2dd40f9bd1b77f4f12c9fd258";
const KDF_DATA: &str = "00205171546c6355485f4d64375f69326450345335564b596d6d59736255627a474c001f31343135333835383630344245354f54586b62617832336e73497853336768001e68747470733a2f2f6973737565722e6578616d706c652e636f6d2f6b67320009416e6f6e796d6f7573";
const SESSION_KEY: &str = "5746f9aa335dada351cf8f5c9e8e6caf493a3c50b620dd3134528a0263b1d9de";
const PEP_ATTESTATION: &str = "accc0f91e904db08a38e534467924114f7ebf5885e54d6fd098b3e9dba011e53";
const ENCRYPTION_KEY: &str = "a8ea3f59d4b478a3467caed78e7fff156c4fc0c7a5c8118cec7c0de21c9b415a";
const ENCRYPTED_PUK: &str = "000102030405060708090a0b0c0d0e0f332f18b30636842de75db2ed442e69e7";
const MAC0: &str = "1b5c7119060efe8f38155a95f9229172c0248260783d196c888d2d26b0306e59";
const PIN_DATA: &str = "000550494e2e31000550554b2e31010100000301060004000800";
const MAC1: &str = "b90985ae4bcc156effdf2964abad9ca6d4e07d05373908142c50dad31167e899";
const KEY_DATA: &str = "00054b65792e31002c68747470733a2f2f776562706b692e6769746875622e696f2f736b732f616c676f726974686d236b65792e310000000550494e2e3100000000000300010000003368747470733a2f2f776562706b692e6769746875622e696f2f736b732f616c676f726974686d2365632e6e6973742e7032353600000033687474703a2f2f7777772e77332e6f72672f323030312f30342f786d6c647369672d6d6f72652365636473612d736861323536";
const MAC2: &str = "34a57ba0dc8fa1abaf2b170b2b7f3320e2d0b75c059e8488eeb84f1fff53a8db";
const KEY_PUBLIC: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004b391b531c549b54a4239cad134582b05e560ec1e56b07ede44a5c6a927bb44d9d72d1eb3e09a20173cd654af04cc652e525851202935137631a886c1f95c231e";
const MAC3: &str = "e3e8d6d9a3df41262f196049a2b4b0743b71291e8a8fa7599a335b8b089d15cf";
const MAC4: &str = "1f7a14d78598eb0cda9998727fd3e31b48e3e0b8c35f9a3b3d0ce6dd428a0a05";
const MAC5: &str = "6167d5699f45e765c50bb8ec5a7c9fd150e3c9b24309534400f10f85bd40fa0c";
const TKR_HMAC: &str = "953b93511224c74bc641bec1dd04670630978ad9101b4b8d659518642c9d302d";

fn server() -> ServerEphemeral {
    assert_eq!(sha256(b"server-ephemeral").to_vec(), h(SERVER_D));
    ServerEphemeral::from_key(
        EcdhKey::from_scalar(Curve::P256, &sha256(b"server-ephemeral")).unwrap(),
    )
}

fn client() -> EcdhKey {
    assert_eq!(sha256(b"client-ephemeral").to_vec(), h(CLIENT_D));
    EcdhKey::from_scalar(Curve::P256, &sha256(b"client-ephemeral")).unwrap()
}

fn keys() -> SessionKeys {
    server()
        .derive(
            &h(CLIENT_SPKI),
            CLIENT_SESSION_ID,
            SERVER_SESSION_ID,
            ISSUER_URI,
            b"Anonymous",
        )
        .unwrap()
}

#[test]
fn ephemeral_keys_and_z() {
    assert_eq!(server().public_key_spki(), h(SERVER_SPKI));
    assert_eq!(client().public_key_spki(), h(CLIENT_SPKI));
    assert_eq!(server().shared_secret(&h(CLIENT_SPKI)).unwrap(), h(Z));
    assert_eq!(client().ecdh(&h(SERVER_SPKI)).unwrap(), h(Z));
}

#[test]
fn kdf_data_and_session_key() {
    let kdf = macdata::session_kdf(
        CLIENT_SESSION_ID,
        SERVER_SESSION_ID,
        ISSUER_URI,
        &session::device_id(true, b"ignored"),
    );
    assert_eq!(kdf, h(KDF_DATA));
    assert_eq!(hmac_sha256(&h(Z), &kdf).to_vec(), h(SESSION_KEY));
    assert_eq!(keys().session_key().to_vec(), h(SESSION_KEY));
}

fn attestation_input<'a>(
    server_spki: &'a [u8],
    client_spki: &'a [u8],
) -> SessionAttestationInput<'a> {
    SessionAttestationInput {
        session_key_algorithm: macdata::constants::SESSION_1,
        privacy_enabled: true,
        server_ephemeral_key: server_spki,
        client_ephemeral_key: client_spki,
        key_management_key: &[],
        client_time: 1578477617,
        session_life_time: 10000,
        session_key_limit: 50,
        server_certificate: &[1, 2, 3],
    }
}

#[test]
fn pep_attestation() {
    let (s, c) = (h(SERVER_SPKI), h(CLIENT_SPKI));
    let input = attestation_input(&s, &c);
    let data = macdata::session_attestation(&h(KDF_DATA), &input);
    // The layout spelled out in §11.
    let expected = [
        h(KDF_DATA),
        h("0030"),
        b"https://webpki.github.io/sks/algorithm#session.1".to_vec(),
        h("01005b"),
        s.clone(),
        h("005b"),
        c.clone(),
        h("0000"),
        h("5e15a831"),
        h("2710"),
        h("0032"),
        h("0003010203"),
    ]
    .concat();
    assert_eq!(data, expected);
    assert_eq!(
        hmac_sha256(&h(SESSION_KEY), &data).to_vec(),
        h(PEP_ATTESTATION)
    );
    session::verify_session_attestation(&keys(), &h(KDF_DATA), &input, None, &h(PEP_ATTESTATION))
        .unwrap();
    let mut bad = h(PEP_ATTESTATION);
    bad[0] ^= 1;
    assert!(
        session::verify_session_attestation(&keys(), &h(KDF_DATA), &input, None, &bad).is_err()
    );
}

#[test]
fn encryption_key_and_encrypted_puk() {
    let k = keys();
    assert_eq!(k.encryption_key().to_vec(), h(ENCRYPTION_KEY));
    let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(k.encrypt_with_iv(&iv, b"123456"), h(ENCRYPTED_PUK));
    assert_eq!(k.decrypt(&h(ENCRYPTED_PUK)).unwrap(), b"123456");
    // A random IV still decrypts.
    let mut k2 = keys();
    let ct = k2.encrypt(b"123456");
    assert_eq!(k2.decrypt(&ct).unwrap(), b"123456");
    assert_ne!(ct, h(ENCRYPTED_PUK));
}

fn uri(s: &str) -> Uri {
    Uri::new(s).unwrap()
}

/// The whole MAC sequence, counters 0-5, through the same builders the driver uses.
#[test]
fn mac_sequence_counters_0_to_5() {
    let mut k = keys();

    // counter 0: createPukPolicy
    assert_eq!(k.counter(), 0);
    let puk = CreatePukPolicyArgs {
        provisioning_handle: 1,
        id: Id::new("PUK.1").unwrap(),
        encrypted_puk: Bytes(h(ENCRYPTED_PUK)),
        format: PinFormat::Numeric.into(),
        retry_limit: 3,
        mac: Mac::default(),
    };
    let data = macdata::create_puk_policy(&puk);
    assert_eq!(
        data,
        [h("000550554b2e310020"), h(ENCRYPTED_PUK), h("000003")].concat()
    );
    let mut key0 = h(SESSION_KEY);
    key0.extend(h("63726561746550554b506f6c696379"));
    key0.extend(h("0000"));
    assert_eq!(hmac_sha256(&key0, &data).to_vec(), h(MAC0));
    assert_eq!(k.mac(method::CREATE_PUK_POLICY, &data).to_vec(), h(MAC0));

    // counter 1: createPinPolicy
    let pin = CreatePinPolicyArgs {
        provisioning_handle: 1,
        id: Id::new("PIN.1").unwrap(),
        puk_policy_handle: 1,
        user_defined: true,
        user_modifiable: true,
        format: PinFormat::Numeric.into(),
        retry_limit: 3,
        grouping: Grouping::Shared.into(),
        pattern_restrictions: (PatternRestriction::ThreeInARow | PatternRestriction::Sequence)
            .into(),
        min_length: 4,
        max_length: 8,
        input_method: InputMethod::Any.into(),
        mac: Mac::default(),
    };
    let data = macdata::create_pin_policy(&pin, Some("PUK.1"));
    assert_eq!(data, h(PIN_DATA));
    assert_eq!(k.mac(method::CREATE_PIN_POLICY, &data).to_vec(), h(MAC1));

    // counter 2: createKeyEntry (user-defined PIN: not MACed)
    let key = CreateKeyEntryArgs {
        provisioning_handle: 1,
        id: Id::new("Key.1").unwrap(),
        key_entry_algorithm: uri(macdata::constants::KEY_1),
        server_seed: Bytes::empty(),
        device_pin_protection: false,
        pin_policy_handle: 1,
        pin_value: Bytes(b"1234".to_vec()),
        enable_pin_caching: false,
        biometric_protection: BiometricProtection::None.into(),
        export_protection: ExportProtection::NonExportable.into(),
        delete_protection: DeleteProtection::None.into(),
        app_usage: AppUsage::Authentication.into(),
        friendly_name: String::new(),
        key_algorithm: uri("https://webpki.github.io/sks/algorithm#ec.nist.p256"),
        key_parameters: Bytes::empty(),
        endorsed_algorithms: vec![uri("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")],
        mac: Mac::default(),
    };
    let data = macdata::create_key_entry(&key, Some("PIN.1"), false);
    assert_eq!(data, h(KEY_DATA));
    let mac2 = k.mac(method::CREATE_KEY_ENTRY, &data);
    assert_eq!(mac2.to_vec(), h(MAC2));

    // counter 3: key attestation
    let att_counter = k.reserve_attestation();
    assert_eq!(att_counter, 3);
    let att_data = macdata::key_attestation(&h(KEY_PUBLIC), &mac2);
    assert_eq!(
        att_data,
        [h("005b"), h(KEY_PUBLIC), h("0020"), mac2.to_vec()].concat()
    );
    assert_eq!(k.attestation_at(3, &att_data).to_vec(), h(MAC3));
    k.verify_key_attestation(3, &h(KEY_PUBLIC), &mac2, &h(MAC3))
        .unwrap();
    assert!(k
        .verify_key_attestation(2, &h(KEY_PUBLIC), &mac2, &h(MAC3))
        .is_err());
    // The generated key of the vector is a canonical P-256 SPKI.
    assert_eq!(
        crate::canonical_spki(&h(KEY_PUBLIC)).unwrap(),
        h(KEY_PUBLIC)
    );

    // counter 4: closeProvisioningSession
    let nonce: Vec<u8> = (0u8..32).collect();
    let data = macdata::close_provisioning_session(
        CLIENT_SESSION_ID,
        SERVER_SESSION_ID,
        ISSUER_URI,
        &nonce,
    );
    assert_eq!(
        k.mac(method::CLOSE_PROVISIONING_SESSION, &data).to_vec(),
        h(MAC4)
    );

    // counter 5: close attestation
    let c = k.reserve_attestation();
    assert_eq!(c, 5);
    assert_eq!(
        macdata::close_attestation(&nonce),
        [h("0020"), nonce.clone()].concat()
    );
    assert_eq!(
        k.attestation_at(5, &macdata::close_attestation(&nonce))
            .to_vec(),
        h(MAC5)
    );
    k.verify_close_attestation(5, &nonce, &h(MAC5)).unwrap();
    assert_eq!(k.counter(), 6);
}

#[test]
fn issuer_set_pin_is_maced_as_ciphertext() {
    let mut key = CreateKeyEntryArgs {
        provisioning_handle: 1,
        id: Id::new("Key.1").unwrap(),
        key_entry_algorithm: uri(macdata::constants::KEY_1),
        server_seed: Bytes::empty(),
        device_pin_protection: false,
        pin_policy_handle: 1,
        pin_value: Bytes(h(ENCRYPTED_PUK)),
        enable_pin_caching: false,
        biometric_protection: BiometricProtection::None.into(),
        export_protection: ExportProtection::NonExportable.into(),
        delete_protection: DeleteProtection::None.into(),
        app_usage: AppUsage::Authentication.into(),
        friendly_name: String::new(),
        key_algorithm: uri("https://webpki.github.io/sks/algorithm#ec.nist.p256"),
        key_parameters: Bytes::empty(),
        endorsed_algorithms: vec![],
        mac: Mac::default(),
    };
    let user = macdata::create_key_entry(&key, Some("PIN.1"), false);
    let issuer = macdata::create_key_entry(&key, Some("PIN.1"), true);
    // Only the PINValueReference differs: "" (00 00) versus arr(ciphertext).
    let prefix = h("00054b65792e31002c68747470733a2f2f776562706b692e6769746875622e696f2f736b732f616c676f726974686d236b65792e310000000550494e2e31");
    assert!(user.starts_with(&prefix) && issuer.starts_with(&prefix));
    assert_eq!(&user[prefix.len()..prefix.len() + 2], &h("0000")[..]);
    assert_eq!(
        &issuer[prefix.len()..prefix.len() + 34],
        &[h("0020"), h(ENCRYPTED_PUK)].concat()[..]
    );
    assert_eq!(&user[prefix.len() + 2..], &issuer[prefix.len() + 34..]);
    // Several endorsed algorithms: concatenated, no count.
    key.endorsed_algorithms = vec![uri("a"), uri("bc")];
    let d = macdata::create_key_entry(&key, Some("PIN.1"), true);
    assert!(d.ends_with(&[0x00, 0x00, 0x00, 0x01, b'a', 0x00, 0x02, b'b', b'c']));
}

#[test]
fn target_key_reference() {
    let k = keys();
    let hmac = k.key_reference(&h("3082"));
    let mut raw_key = h(SESSION_KEY);
    raw_key.extend(b"Anonymous");
    assert_eq!(hmac_sha256(&raw_key, &h("3082")), hmac);
    assert_eq!(hmac.to_vec(), h(TKR_HMAC));
    let to_sign = Kmk::target_key_reference_data(&hmac);
    assert_eq!(
        to_sign,
        [h("5461726765744b65795265666572656e6365"), h(TKR_HMAC)].concat()
    );
    // The authorization verifies with the KMK's public key, for each key type.
    for kmk in [Kmk::generate_p256(), Kmk::generate_rsa(1024).unwrap()] {
        let auth = kmk.authorize_target(&hmac);
        assert_signed_by(&kmk, &to_sign, &auth);
    }
}

/// `signature` over `data` verifies with `kmk`'s public key (SHA-256).
fn assert_signed_by(kmk: &Kmk, data: &[u8], signature: &[u8]) {
    crate::PublicKey::from_spki(&kmk.spki())
        .unwrap()
        .verify_sha256(data, signature)
        .unwrap();
}

#[test]
fn roll_over_authorization() {
    let old = Kmk::generate_p256();
    let new = Kmk::generate_rsa(1024).unwrap();
    let auth = old.authorize_roll_over(&new);
    let data = [b"RollOverAuthorization".as_slice(), &new.spki()].concat();
    assert_signed_by(&old, &data, &auth);
}

/// A card emulated by this test with the §11 fixed keys yields the same sessionKey from its side.
#[test]
fn both_sides_agree() {
    let card_z = client().ecdh(&server().public_key_spki()).unwrap();
    let card_key = hmac_sha256(&card_z, &h(KDF_DATA));
    assert_eq!(card_key.to_vec(), h(SESSION_KEY));
}
