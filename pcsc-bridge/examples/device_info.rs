//! Connects to the SKS card over PC/SC and prints getDeviceInfo.
//!
//! `cargo run -p pcsc-bridge --example device_info -- [READER-PATTERN] [TIMEOUT-SECONDS]`

use pcsc_bridge::{PcscTransport, Sks};
use std::time::{Duration, Instant};

fn main() {
    env_logger::init();
    let mut args = std::env::args().skip(1);
    let pattern = args.next().filter(|p| !p.is_empty());
    let timeout = args
        .next()
        .map_or(5.0, |t| t.parse::<f64>().expect("timeout in seconds"));
    let start = Instant::now();
    let transport =
        match PcscTransport::connect(pattern.as_deref(), Duration::from_secs_f64(timeout)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("connect failed after {:?}: {e}", start.elapsed());
                std::process::exit(2);
            }
        };
    println!(
        "connected to {:?} after {:?}",
        transport.reader_name(),
        start.elapsed()
    );
    let mut sks = Sks::new(transport);
    match sks.get_device_info() {
        Ok(info) => println!("{info:#?}"),
        Err(e) => {
            println!("getDeviceInfo: {e}");
            std::process::exit(1);
        }
    }
}
