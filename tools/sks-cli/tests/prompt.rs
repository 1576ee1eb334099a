//! The PIN prompt: with a terminal (a pty from util-linux `script`), a PIN-protected key used
//! without --pin asks for the PIN without echo.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn a_missing_pin_is_asked_for_on_the_terminal_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("card.img");
    let sks = env!("CARGO_BIN_EXE_sks");
    let out = Command::new(sks)
        .arg("--store")
        .arg(&img)
        .args(["provision", "--alg", "p256", "--pin", "2468"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = |pin: &str| {
        let cmd = format!(
            "{sks} --store {} sign -k 1 -a ecdsa-sha256 --hash {}",
            img.display(),
            "00".repeat(32)
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux)");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        // Typed only once the prompt is up (echo is off by then); script passes it to the pty.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("PIN of key 1: ") {
            assert!(std::time::Instant::now() < deadline, "no prompt");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stdin.write_all(format!("{pin}\n").as_bytes()).unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        (status.code(), text)
    };
    let (code, text) = run("2468");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("PIN of key 1: "), "{text}");
    assert!(!text.contains("2468"), "the PIN is not echoed: {text}");
    assert!(
        text.lines().any(|l| l.trim().starts_with("30")),
        "a DER signature: {text}"
    );
    let (code, text) = run("1111");
    assert_eq!(code, Some(11), "a wrong PIN is ERROR_AUTHORIZATION: {text}");
    assert!(!text.contains("1111"), "{text}");
}
