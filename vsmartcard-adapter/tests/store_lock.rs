//! One `sks-card` process per card image (issue 9 item 5): a second card on the same `--store`
//! fails at once with a one-line message naming the holder, instead of silently losing one
//! card's acknowledged transactions when both stop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_second_card_on_the_same_image_fails_at_once_naming_the_first() {
    let dir = std::env::temp_dir().join(format!("sks-card-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("card.img");
    // Nobody listens on port 9 (discard) here: the card keeps retrying vpcd, holding its image.
    let card = |log: &str| {
        Command::new(env!("CARGO_BIN_EXE_sks-card"))
            .args(["--port", "9", "--log-level", log, "--store"])
            .arg(&image)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sks-card")
    };
    let mut first = card("warn");
    let lock = applet::store::lock_path(&image);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(image.exists() && std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty())) {
        assert!(
            Instant::now() < deadline,
            "the first card never created its image"
        );
        assert!(first.try_wait().unwrap().is_none(), "the first card exited");
        std::thread::sleep(Duration::from_millis(20));
    }

    let started = Instant::now();
    let second = card("warn").wait_with_output().expect("second sks-card");
    let _ = first.kill();
    let _ = first.wait();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second card must fail");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails at once, took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!("in use by process {} (sks-card)", first.id())),
        "names the holder: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
