//! Rewrites the golden EEPROM image `applet/tests/golden/eeprom_v1.img` (+ `.key`) that the
//! test `eeprom_store::golden_image_of_format_version_1_opens` compares against. Run only when
//! the golden image has to change on purpose:
//!
//! ```text
//! cargo run -p applet --example write_golden_image
//! ```

#[path = "../tests/support/golden_image.rs"]
mod golden_image;

fn main() {
    let dir = golden_image::golden_dir();
    golden_image::write_golden(&dir);
    println!("wrote {}", dir.join("eeprom_v1.img").display());
    println!("wrote {}", dir.join("eeprom_v1.key").display());
}
