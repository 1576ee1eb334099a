//! APDU scripts: envelope test cases as data (`apdu-spec/tests/scripts/*.apdu`), and the one
//! runner that executes them over any transport (the in-process card in `cargo test -p applet`,
//! the private pcscd in the conformance tests).
//!
//! # Format
//!
//! One step per line; `#` starts a comment (to the end of the line). Blank lines are ignored.
//!
//! ```text
//! # A comment line; the last one before a step names the step in failure messages.
//! > 80 52 01 00 00 00 00      a command APDU, in hex (spaces between bytes optional)
//! < 00 * 90 00                the response it must get (required after every `>`)
//! > 90 52 0F 00 00 FF F8 5A*65528     `HH*N`: the byte HH repeated N times
//! < 61 ..                     `..`: any one byte; `..*N`: any N bytes
//! < ..*256 61 ..              `*`: any number of bytes (at most one `*` per line)
//! < sks-error 09              SW 9000 and an SKS error: status 09 ‖ ushort n ‖ n bytes of
//!                             UTF-8, 1 <= n <= 2000, nothing else
//! select                      SELECT the SKS applet (P2 = 00, no Le); must answer exactly 90 00
//! alive                       getDeviceInfo (80 52 01 00 00 00 00): SW 9000 and a DeviceInfo
//!                             that decodes with status success
//! reset                       warm reset (in process `Card::reset`; PC/SC SCardReconnect with
//!                             SCARD_RESET_CARD)
//! power-cycle                 power off and on (PC/SC: SCARD_UNPOWER_CARD)
//! in-process-only: REASON     the next step runs only in process; over PC/SC it is skipped and
//!                             reported with REASON (e.g. an APDU vpcd cannot carry)
//! ```
//!
//! Every script starts on a freshly powered card that nothing has selected yet. An expected
//! response without `*` must match the whole response, length included; an envelope error is
//! thus written as its bare status word (`< 67 00`: no data).

use crate::envelope::{select_apdu, split_response, sw};
use crate::{decode_response, GetDeviceInfo};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where the scripts live (`apdu-spec/tests/scripts`).
pub const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts");

/// getDeviceInfo, ISO case 2E, Le = 65,536: the `alive` check.
pub const GET_DEVICE_INFO: [u8; 7] = [0x80, 0x52, 0x01, 0x00, 0x00, 0x00, 0x00];

/// One token of an expected response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Byte(u8),
    Any,
}

/// What a response must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Bytes before a `*`, and (with `*`) the bytes after it.
    Pattern {
        head: Vec<Tok>,
        tail: Option<Vec<Tok>>,
    },
    /// `sks-error XX`.
    SksError(u8),
}

/// A step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Exchange { command: Vec<u8>, expect: Expect },
    Select,
    Alive,
    Reset,
    PowerCycle,
}

/// The card events a transport must provide for `reset` and `power-cycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Reset,
    Cycle,
}

/// Which transport runs a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Card::process` directly: every step runs.
    InProcess,
    /// PC/SC (pcscd + vpcd): steps marked `in-process-only` are skipped and reported.
    Pcsc,
}

/// A step with where it came from.
#[derive(Debug, Clone)]
pub struct ScriptLine {
    pub line: usize,
    /// The last comment line before the step.
    pub context: String,
    /// `Some(reason)` for `in-process-only`.
    pub in_process_only: Option<String>,
    pub step: Step,
}

/// A parsed script file.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub steps: Vec<ScriptLine>,
}

/// A step the transport could not carry, skipped by design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub script: String,
    pub line: usize,
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Command APDUs sent (SELECT and getDeviceInfo of `select` / `alive` included).
    pub apdus: usize,
    /// Steps run.
    pub steps: usize,
    /// Steps skipped by design (`in-process-only` over PC/SC).
    pub skipped: Vec<Skipped>,
}

fn parse_hex_token(tok: &str) -> Result<Vec<u8>, String> {
    if let Some((byte, count)) = tok.split_once('*') {
        let b = parse_hex_token(byte)?;
        let [b] = b[..] else {
            return Err(format!("`{tok}`: repeat a single byte"));
        };
        let n: usize = count
            .parse()
            .map_err(|_| format!("`{tok}`: bad repeat count"))?;
        return Ok(vec![b; n]);
    }
    if tok.is_empty() || !tok.len().is_multiple_of(2) || !tok.bytes().all(|c| c.is_ascii_hexdigit())
    {
        return Err(format!("`{tok}` is not hex bytes"));
    }
    Ok((0..tok.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&tok[i..i + 2], 16).unwrap_or_default())
        .collect())
}

fn parse_command(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        out.extend(parse_hex_token(tok)?);
    }
    Ok(out)
}

fn parse_expect(text: &str) -> Result<Expect, String> {
    let toks: Vec<&str> = text.split_whitespace().collect();
    if let ["sks-error", code] = toks[..] {
        let b = parse_hex_token(code)?;
        let [b] = b[..] else {
            return Err(format!("sks-error takes one status byte, got `{code}`"));
        };
        return Ok(Expect::SksError(b));
    }
    let mut head = Vec::new();
    let mut tail: Option<Vec<Tok>> = None;
    for tok in toks {
        if tok == "*" {
            if tail.is_some() {
                return Err("at most one `*` per expected response".into());
            }
            tail = Some(Vec::new());
            continue;
        }
        let add: Vec<Tok> = if tok == ".." {
            vec![Tok::Any]
        } else if let Some(n) = tok.strip_prefix("..*") {
            let n: usize = n.parse().map_err(|_| format!("`{tok}`: bad count"))?;
            vec![Tok::Any; n]
        } else {
            parse_hex_token(tok)?.into_iter().map(Tok::Byte).collect()
        };
        tail.as_mut().unwrap_or(&mut head).extend(add);
    }
    if tail.is_none() && head.len() < 2 {
        return Err("an expected response has at least a status word".into());
    }
    Ok(Expect::Pattern { head, tail })
}

impl Script {
    /// Parses `text`; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Script, String> {
        let mut steps = Vec::new();
        let mut context = String::new();
        let mut in_process_only: Option<String> = None;
        let mut pending: Option<(usize, Vec<u8>)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |m: String| format!("{name}:{line}: {m}");
            if let Some(comment) = raw.trim_start().strip_prefix('#') {
                context = comment.trim().to_string();
                continue;
            }
            let body = raw.split('#').next().unwrap_or_default().trim();
            if body.is_empty() {
                continue;
            }
            if let Some(rest) = body.strip_prefix('<') {
                let Some((cmd_line, command)) = pending.take() else {
                    return Err(err("`<` without a preceding `>`".into()));
                };
                let expect = parse_expect(rest).map_err(err)?;
                steps.push(ScriptLine {
                    line: cmd_line,
                    context: context.clone(),
                    in_process_only: in_process_only.take(),
                    step: Step::Exchange { command, expect },
                });
                continue;
            }
            if pending.is_some() {
                return Err(err(
                    "a `>` command must be followed by its `<` response".into()
                ));
            }
            if let Some(rest) = body.strip_prefix('>') {
                pending = Some((line, parse_command(rest).map_err(err)?));
                continue;
            }
            if let Some(reason) = body.strip_prefix("in-process-only:") {
                let reason = reason.trim();
                if reason.is_empty() || in_process_only.is_some() {
                    return Err(err("in-process-only needs a reason and one step".into()));
                }
                in_process_only = Some(reason.to_string());
                continue;
            }
            let step = match body {
                "select" => Step::Select,
                "alive" => Step::Alive,
                "reset" => Step::Reset,
                "power-cycle" => Step::PowerCycle,
                other => return Err(err(format!("unknown directive `{other}`"))),
            };
            steps.push(ScriptLine {
                line,
                context: context.clone(),
                in_process_only: in_process_only.take(),
                step,
            });
        }
        if pending.is_some() {
            return Err(format!("{name}: the last `>` has no `<` response"));
        }
        if in_process_only.is_some() {
            return Err(format!("{name}: in-process-only at the end marks no step"));
        }
        if steps.is_empty() {
            return Err(format!("{name}: no steps"));
        }
        Ok(Script {
            name: name.to_string(),
            steps,
        })
    }

    /// Reads and parses one file.
    pub fn load(path: &Path) -> Result<Script, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Script::parse(&name, &text)
    }

    /// Runs the script: `transmit` sends one command APDU and returns the response APDU,
    /// `power` performs `reset` / `power-cycle`. Stops at the first mismatch.
    pub fn run(
        &self,
        transport: Transport,
        transmit: &mut dyn FnMut(&[u8]) -> Vec<u8>,
        power: &mut dyn FnMut(Power),
    ) -> Result<Outcome, String> {
        let mut outcome = Outcome::default();
        for s in &self.steps {
            if let (Some(reason), Transport::Pcsc) = (&s.in_process_only, transport) {
                outcome.skipped.push(Skipped {
                    script: self.name.clone(),
                    line: s.line,
                    reason: reason.clone(),
                });
                continue;
            }
            let fail = |m: String| format!("{}:{} ({}): {m}", self.name, s.line, s.context);
            outcome.steps += 1;
            match &s.step {
                Step::Exchange { command, expect } => {
                    outcome.apdus += 1;
                    let resp = transmit(command);
                    check(expect, &resp).map_err(|m| {
                        fail(format!(
                            "command {}: {m}; got {}",
                            abbrev(command),
                            abbrev(&resp)
                        ))
                    })?;
                }
                Step::Select => {
                    outcome.apdus += 1;
                    let resp = transmit(&select_apdu());
                    if resp != [0x90, 0x00] {
                        return Err(fail(format!("SELECT answered {}", abbrev(&resp))));
                    }
                }
                Step::Alive => {
                    outcome.apdus += 1;
                    let resp = transmit(&GET_DEVICE_INFO);
                    match split_response(&resp) {
                        Some((data, sw::OK)) => match decode_response::<GetDeviceInfo>(data) {
                            Ok(Ok(_)) => {}
                            other => {
                                return Err(fail(format!("alive: getDeviceInfo gave {other:?}")))
                            }
                        },
                        _ => {
                            return Err(fail(format!(
                                "alive: getDeviceInfo answered {}",
                                abbrev(&resp)
                            )))
                        }
                    }
                }
                Step::Reset => power(Power::Reset),
                Step::PowerCycle => power(Power::Cycle),
            }
        }
        Ok(outcome)
    }
}

fn matches(toks: &[Tok], bytes: &[u8]) -> bool {
    toks.len() == bytes.len()
        && toks.iter().zip(bytes).all(|(t, b)| match t {
            Tok::Byte(x) => x == b,
            Tok::Any => true,
        })
}

/// Checks one response against its expectation.
fn check(expect: &Expect, resp: &[u8]) -> Result<(), String> {
    match expect {
        Expect::Pattern { head, tail: None } => {
            if matches(head, resp) {
                return Ok(());
            }
            Err(format!("expected {}", show(head, None)))
        }
        Expect::Pattern {
            head,
            tail: Some(tail),
        } => {
            let ok = resp.len() >= head.len() + tail.len()
                && matches(head, &resp[..head.len()])
                && matches(tail, &resp[resp.len() - tail.len()..]);
            if ok {
                return Ok(());
            }
            Err(format!("expected {}", show(head, Some(tail))))
        }
        Expect::SksError(code) => {
            let (data, status) =
                split_response(resp).ok_or_else(|| "no status word".to_string())?;
            if status != sw::OK {
                return Err(format!("expected SW 9000 with SKS error {code:02X}"));
            }
            let [status, hi, lo, text @ ..] = data else {
                return Err(format!("expected SKS error {code:02X} with a message"));
            };
            let n = usize::from(u16::from_be_bytes([*hi, *lo]));
            if status != code {
                return Err(format!(
                    "expected SKS error {code:02X}, status {status:02X}"
                ));
            }
            if text.len() != n || n == 0 || n > 2000 || std::str::from_utf8(text).is_err() {
                return Err(format!(
                    "SKS error {code:02X}: the message must be 1-2000 bytes of UTF-8 framed by its length"
                ));
            }
            Ok(())
        }
    }
}

fn show(head: &[Tok], tail: Option<&[Tok]>) -> String {
    let tok = |t: &Tok| match t {
        Tok::Byte(b) => format!("{b:02X}"),
        Tok::Any => "..".to_string(),
    };
    let mut s = abbrev_with(head.iter().map(tok).collect());
    if let Some(tail) = tail {
        let _ = write!(s, " * {}", abbrev_with(tail.iter().map(tok).collect()));
    }
    s.trim().to_string()
}

fn abbrev_with(items: Vec<String>) -> String {
    if items.len() > 24 {
        format!(
            "{} ... {} ({} bytes)",
            items[..12].join(" "),
            items[items.len() - 8..].join(" "),
            items.len()
        )
    } else {
        items.join(" ")
    }
}

/// Hex of an APDU, shortened when long.
pub fn abbrev(apdu: &[u8]) -> String {
    let s = abbrev_with(apdu.iter().map(|b| format!("{b:02X}")).collect());
    if s.is_empty() {
        "(empty)".into()
    } else {
        s
    }
}

/// Every `*.apdu` file of [`SCRIPT_DIR`], sorted by name. Panics when the directory is missing
/// or holds no script, or a script does not parse: a test must not pass on no cases.
pub fn all_scripts() -> Vec<Script> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(SCRIPT_DIR)
        .unwrap_or_else(|e| panic!("cannot list {SCRIPT_DIR}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "apdu"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.apdu scripts in {SCRIPT_DIR}");
    paths
        .iter()
        .map(|p| Script::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Runs every script on a fresh card from `new_card` (a powered, unselected card), sending with
/// `transmit` and performing `reset` / `power-cycle` with `power`; panics listing every
/// failure. Returns the outcomes, and writes the steps skipped by design to stderr (past the
/// test harness's capture).
pub fn run_all<C>(
    transport: Transport,
    mut new_card: impl FnMut() -> C,
    mut transmit: impl FnMut(&mut C, &[u8]) -> Vec<u8>,
    mut power: impl FnMut(&mut C, Power),
) -> Vec<(String, Outcome)> {
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for script in all_scripts() {
        let mut card = new_card();
        let card = std::cell::RefCell::new(&mut card);
        let result = script.run(
            transport,
            &mut |apdu| transmit(&mut card.borrow_mut(), apdu),
            &mut |p| power(&mut card.borrow_mut(), p),
        );
        match result {
            Ok(outcome) => {
                println!(
                    "{}: {} steps, {} APDUs{}",
                    script.name,
                    outcome.steps,
                    outcome.apdus,
                    if outcome.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} skipped by design", outcome.skipped.len())
                    }
                );
                // Written to stderr directly, not through `eprintln!`, so that the test
                // harness's output capture does not hide it: a skipped step is never silent.
                for s in &outcome.skipped {
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED BY DESIGN over {transport:?}: {}:{}: {}",
                        s.script,
                        s.line,
                        s.reason
                    );
                }
                outcomes.push((script.name.clone(), outcome));
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} APDU script(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_and_refuse() {
        let p = |s: &str| parse_expect(s).unwrap();
        assert!(check(&p("90 00"), &[0x90, 0x00]).is_ok());
        assert!(check(&p("90 00"), &[0x01, 0x90, 0x00]).is_err());
        assert!(check(&p("61 .."), &[0x61, 0x10]).is_ok());
        assert!(check(&p("61 .."), &[0x62, 0x10]).is_err());
        assert!(check(&p("..*3 90 00"), &[1, 2, 3, 0x90, 0x00]).is_ok());
        assert!(check(&p("..*3 90 00"), &[1, 2, 0x90, 0x00]).is_err());
        assert!(check(&p("00 * 90 00"), &[0, 0x90, 0x00]).is_ok());
        assert!(check(&p("00 * 90 00"), &[0, 7, 7, 0x90, 0x00]).is_ok());
        assert!(check(&p("00 * 90 00"), &[1, 7, 0x90, 0x00]).is_err());
        assert!(check(&p("00 * 90 00"), &[0x90, 0x00]).is_err());
        assert!(check(&p("AB*3 90 00"), &[0xAB, 0xAB, 0xAB, 0x90, 0x00]).is_ok());
        let err = p("sks-error 09");
        assert!(check(&err, &[9, 0, 1, b'x', 0x90, 0x00]).is_ok());
        assert!(check(&err, &[9, 0, 2, b'x', 0x90, 0x00]).is_err());
        assert!(check(&err, &[8, 0, 1, b'x', 0x90, 0x00]).is_err());
        assert!(check(&err, &[9, 0, 0, 0x90, 0x00]).is_err());
        assert!(check(&err, &[9, 0, 1, b'x', 0x6A, 0x86]).is_err());
    }

    #[test]
    fn parse_errors_are_loud() {
        for bad in [
            "> 80 52\n",
            "< 90 00\n",
            "> 8\n< 90 00\n",
            "> 80\n< 90\n",
            "> 80\n< * 90 * 00\n",
            "frobnicate\n",
            "in-process-only:\n> 80\n< 67 00\n",
            "in-process-only: why\n",
            "# only a comment\n",
        ] {
            assert!(Script::parse("t", bad).is_err(), "{bad:?}");
        }
        let s = Script::parse(
            "t",
            "# ctx\nin-process-only: no\n> 5A*3 0102\n< 67 00 # trailing\nselect\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].line, 3);
        assert_eq!(s.steps[0].context, "ctx");
        assert_eq!(s.steps[0].in_process_only.as_deref(), Some("no"));
        assert_eq!(
            s.steps[0].step,
            Step::Exchange {
                command: vec![0x5A, 0x5A, 0x5A, 1, 2],
                expect: Expect::Pattern {
                    head: vec![Tok::Byte(0x67), Tok::Byte(0)],
                    tail: None
                }
            }
        );
        assert_eq!(s.steps[1].step, Step::Select);
    }

    #[test]
    fn the_runner_reports_mismatches_and_skips() {
        let s = Script::parse(
            "t",
            "in-process-only: too short\n> \n< 67 00\n> 80 52 01 00\n< 61 ..\n",
        )
        .unwrap();
        let mut echo = |apdu: &[u8]| [apdu, &[0x67, 0x00]].concat();
        let mut no_power = |_: Power| {};
        let err = s
            .run(Transport::InProcess, &mut echo, &mut no_power)
            .unwrap_err();
        assert!(err.starts_with("t:4"), "{err}");
        let mut sixty_one = |apdu: &[u8]| {
            if apdu.is_empty() {
                panic!("skipped step sent")
            } else {
                vec![0x61, 0x05]
            }
        };
        let out = s
            .run(Transport::Pcsc, &mut sixty_one, &mut no_power)
            .unwrap();
        assert_eq!(out.steps, 1);
        assert_eq!(
            out.skipped,
            vec![Skipped {
                script: "t".into(),
                line: 2,
                reason: "too short".into()
            }]
        );
    }
}
