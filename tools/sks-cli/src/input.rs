//! Data from a file or stdin (`-`), streamed: hashed in chunks, or read up to the most one
//! card call carries so an endless input is refused at once instead of being read whole.

use crate::fail::Fail;
use std::io::Read;
use std::path::{Path, PathBuf};

fn name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// Opens `path`, or stdin for `-`.
pub fn open(path: &Path) -> Result<Box<dyn Read>, Fail> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    std::fs::File::open(path)
        .map(|f| Box::new(f) as Box<dyn Read>)
        .map_err(|e| Fail::msg(format!("cannot read {}: {e}", path.display())))
}

/// Reads `path` (or stdin) whole, up to `limit` bytes.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, Fail> {
    let mut data = Vec::new();
    open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Fail::msg(format!("cannot read {}: {e}", name(path))))?;
    if data.len() > limit {
        return Err(Fail::usage(format!(
            "{} is larger than the {limit} bytes one card call can carry",
            name(path)
        )));
    }
    Ok(data)
}

/// Data that goes to the card as one call argument.
pub fn read_call_data(path: &Path) -> Result<Vec<u8>, Fail> {
    read_bounded(path, apdu_spec::envelope::MAX_CALL_DATA)
}

/// Writes `data` to `path`, or to stdout for `-`.
pub fn write(path: &Path, data: &[u8]) -> Result<(), Fail> {
    use std::io::Write;
    if path == Path::new("-") {
        return std::io::stdout()
            .lock()
            .write_all(data)
            .map_err(|e| Fail::msg(format!("cannot write to stdout: {e}")));
    }
    std::fs::write(path, data)
        .map_err(|e| Fail::msg(format!("cannot write {}: {e}", path.display())))
}

/// Hex given on the command line (spaces, colons and a 0x prefix allowed).
pub fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, Fail> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let cleaned = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
        .unwrap_or(&cleaned);
    hex::decode(cleaned).map_err(|e| Fail::usage(format!("{what} is not valid hex: {e}")))
}

/// The data of an operation: `--hex HEX` or `--in FILE|-`.
pub fn data_arg(hex: &Option<String>, file: &Option<PathBuf>, what: &str) -> Result<Vec<u8>, Fail> {
    match (hex, file) {
        (Some(h), _) => parse_hex(what, h),
        (None, Some(f)) => read_call_data(f),
        (None, None) => Err(Fail::usage(format!(
            "give the {what} as hex or a file (`-` for stdin)"
        ))),
    }
}
