//! Two cards served by one `sks-card` process (`--card` repeated): both readers hold a card
//! that `pcsc_scan` sees, each card is its own device, and both answer at the same time.
//! Needs root and the packages of scripts/install-deps.sh (private pcscd + vpcd).

use conformance_tests::PrivatePcscd;
use pcsc_bridge::{PcscTransport, Sks};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_cards_in_one_process_are_visible_and_usable_at_once() {
    let pcscd = PrivatePcscd::shared();
    let (p0, p1) = (pcscd.vpcd_port_for_slot(0), pcscd.vpcd_port_for_slot(1));
    let dir = std::env::temp_dir().join(format!("sks-two-cards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // One card from a --config file's [[card]] table would do too; flags are the simple case.
    let config = dir.join("sks-card.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"debug\"\n[[card]]\nport = {p0}\nstore = \"{}\"\n[[card]]\nport = {p1}\nram = true\n",
            dir.join("card0.img").display()
        ),
    )
    .unwrap();
    let log = dir.join("card.log");
    let _card = Kill(
        Command::new(env!("CARGO_BIN_EXE_sks-card"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sks-card"),
    );

    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let connect = |slot: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let name = ctx
                .list_readers_owned()
                .unwrap_or_default()
                .into_iter()
                .find(|r| pcscd.is_reader(r, slot));
            if let Some(name) = name {
                let name = name.to_string_lossy().into_owned();
                return (
                    name.clone(),
                    Sks::new(
                        PcscTransport::connect(Some(&name), Duration::from_secs(10))
                            .unwrap_or_else(|e| panic!("card in {name}: {e}")),
                    ),
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no reader for slot {slot}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (name0, mut sks0) = connect(0);
    let (name1, mut sks1) = connect(1);
    let cert0 = sks0.get_device_info().unwrap().certificates[0].0.clone();
    let cert1 = sks1.get_device_info().unwrap().certificates[0].0.clone();
    assert_ne!(cert0, cert1, "two cards are two devices");

    // Both at once: two client threads calling concurrently.
    let worker = |mut sks: Sks<PcscTransport>, expect: Vec<u8>| {
        std::thread::spawn(move || {
            for _ in 0..20 {
                assert_eq!(sks.get_device_info().unwrap().certificates[0].0, expect);
            }
        })
    };
    let (a, b) = (worker(sks0, cert0), worker(sks1, cert1));
    a.join().unwrap();
    b.join().unwrap();

    // pcsc_scan sees both readers with a card.
    let (var, value) = pcscd.client_env();
    let scan = Command::new("timeout")
        .args(["5", "pcsc_scan", "-c", "-n"])
        .env(var, value)
        .output()
        .expect("pcsc_scan (Debian package pcsc-tools)");
    let text = String::from_utf8_lossy(&scan.stdout);
    for name in [&name0, &name1] {
        let section = text
            .split("Reader ")
            .find(|s| s.contains(name.as_str()))
            .unwrap_or_else(|| panic!("pcsc_scan lists {name}:\n{text}"));
        assert!(section.contains("Card inserted"), "{name}:\n{text}");
    }

    // The log names each card and each SKS call, never APDU data.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains(&format!("card on vpcd port {p0}: store")),
        "{log}"
    );
    assert!(
        log.contains(&format!("card on vpcd port {p1}: state in RAM only")),
        "{log}"
    );
    assert!(log.contains("getDeviceInfo"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
