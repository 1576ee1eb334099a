//! What a command prints: a human text and a JSON value (`--json`), built together so that
//! both always say the same.

use serde_json::Value;
use std::io::Write;

/// The result of a command that prints data.
pub struct Out {
    pub text: String,
    pub json: Value,
}

impl Out {
    pub fn new(text: String, json: Value) -> Self {
        Out { text, json }
    }

    /// Prints the text, or the JSON (one document, pretty) with `--json`.
    pub fn print(&self, json: bool) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut stdout, &self.json)?;
            stdout.write_all(b"\n")
        } else {
            stdout.write_all(self.text.as_bytes())
        }
    }
}
