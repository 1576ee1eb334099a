//! A file-backed card restarted behind the private pcscd (the adapter stops, the card object is
//! dropped and reopened from its store file, pcscd sees a removal and a new insertion):
//!
//! * the device identity (certificate path) survives; another store file is another device;
//! * an open provisioning session survives and is listed by enumerateProvisioningSessions
//!   (provisioningState = true), and can still be closed by its issuer.

use std::path::Path;

use apdu_spec::DeviceInfo;
use conformance_tests::{CardUnderTest, TempDir};

fn open(path: &Path) -> Box<dyn applet::Card + Send> {
    applet::open_card(Some(path))
        .unwrap_or_else(|e| panic!("open the card on {}: {e:?}", path.display()))
}

fn device_info(cut: &CardUnderTest<'_>) -> DeviceInfo {
    cut.client()
        .get_device_info()
        .expect("getDeviceInfo over PC/SC")
}

#[test]
fn device_certificate_survives_restart() {
    let dir = TempDir::new("card-restart-identity");
    let path = dir.file("card.img");
    let mut cut = CardUnderTest::start(open(&path));
    let first = device_info(&cut);
    assert!(!first.certificates.is_empty());
    assert!(
        path.exists(),
        "the personalization must be persisted in {}",
        path.display()
    );

    cut.restart(|| open(&path));
    let second = device_info(&cut);
    assert_eq!(
        second.certificates, first.certificates,
        "the device certificate path changed across a restart"
    );
    assert_eq!(second, first, "getDeviceInfo changed across a restart");

    // Another store file is another device: another device certificate.
    let other_path = dir.file("other.img");
    cut.restart(|| open(&other_path));
    let other = device_info(&cut);
    assert_ne!(
        other.certificates[0].0, first.certificates[0].0,
        "two store files yielded the same device certificate"
    );

    // Back to the first file: the first identity again (the other card did not touch it).
    cut.restart(|| open(&path));
    let third = device_info(&cut);
    assert_eq!(third.certificates, first.certificates);
}

#[test]
fn open_provisioning_session_survives_restart() {
    let dir = TempDir::new("card-restart-session");
    let path = dir.file("card.img");
    let mut cut = CardUnderTest::start(open(&path));
    let issuer = sks_issuer::Issuer::new().expect("issuer");

    let state = {
        let mut sks = cut.client();
        let mut s = issuer
            .session(&mut sks)
            .server_session_id("restart.session.1")
            .open()
            .expect("createProvisioningSession over PC/SC");
        s.key("Key.1").create().expect("createKeyEntry");
        let state = s.into_state();
        let listed = conformance_tests::sessions(&mut sks, true);
        assert!(
            listed.iter().any(|(h, _)| *h == state.provisioning_handle),
            "the open session is not listed before the restart: {listed:?}"
        );
        state
    };

    cut.restart(|| open(&path));

    let mut sks = cut.client();
    let listed = conformance_tests::sessions(&mut sks, true);
    let (_, info) = listed
        .iter()
        .find(|(h, _)| *h == state.provisioning_handle)
        .unwrap_or_else(|| {
            panic!(
                "open session {} not listed after the restart; enumerate(open) returned {listed:?}",
                state.provisioning_handle
            )
        });
    assert_eq!(info.server_session_id.as_str(), "restart.session.1");
    assert_eq!(info.client_session_id.as_str(), state.client_session_id);
    assert_eq!(&*info.issuer_uri, state.issuer_uri);
    assert_eq!(info.privacy_enabled, state.privacy);

    // The session is usable after the restart: its issuer certifies the key created before the
    // restart and closes the session (MACs with the session key the card kept, close
    // attestation verified by the issuer).
    let mut s = sks_issuer::Session::attach(&issuer, &mut sks, state);
    let key = s
        .state()
        .key("Key.1")
        .expect("Key.1 in the issuer state")
        .clone();
    s.certify(&key)
        .expect("setCertificatePath after the restart");
    let closed = s
        .close()
        .expect("closeProvisioningSession after the restart");
    assert_eq!(closed.keys.len(), 1);
    drop(s);
    assert!(
        conformance_tests::sessions(&mut sks, true).is_empty(),
        "no open session may remain after the close"
    );
}
