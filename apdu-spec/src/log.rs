//! What may be logged of an APDU exchange: the header, the SKS method, the handle it names,
//! lengths, the status word and the SKS status. Never a data byte beyond the handle, so no log
//! line can carry a PIN, PUK, key, plaintext or signature (issue 9: whole APDUs in hex did).

use crate::envelope::{CLA_CHAINING_BIT, INS_GET_RESPONSE, INS_SELECT, INS_SKS_CALL};
use crate::{ErrorCode, MethodId};
use core::fmt::Write;

/// Describes one exchange after another; remembers whether a command chain is open, because
/// the last part of a chain starts mid-data (its first bytes are no handle).
#[derive(Debug, Default, Clone)]
pub struct ExchangeLog {
    in_chain: bool,
}

impl ExchangeLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// One line for `command` answered by `response`, e.g.
    /// `signHashedData handle 5, 41 bytes -> OK, 65 bytes, SW 9000`.
    pub fn describe(&mut self, command: &[u8], response: &[u8]) -> String {
        let mut line = String::new();
        let sw = match response {
            [.., a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        };
        let body = &response[..response.len().saturating_sub(2)];
        let Some((cla, ins, p1, data)) = parse(command) else {
            let _ = write!(line, "malformed {}-byte APDU", command.len());
            return finish(line, None, body, sw);
        };
        let chained_part = cla & CLA_CHAINING_BIT != 0;
        let mut status = None;
        match ins {
            INS_SKS_CALL => {
                let method = MethodId::try_from(p1).map_or("unknown method", |m| m.name());
                let _ = write!(line, "{method}");
                if chained_part {
                    line.push_str(" part");
                } else {
                    if !self.in_chain && names_a_handle(p1) {
                        if let Some(h) = data.get(..4) {
                            let _ = write!(
                                line,
                                " handle {}",
                                u32::from_be_bytes([h[0], h[1], h[2], h[3]])
                            );
                        }
                    }
                    status = body.first().copied();
                }
                let _ = write!(line, ", {} bytes", data.len());
            }
            INS_SELECT => line.push_str("SELECT"),
            INS_GET_RESPONSE => line.push_str("GET RESPONSE"),
            other => {
                let _ = write!(line, "CLA {cla:02X} INS {other:02X}, {} bytes", data.len());
            }
        }
        self.in_chain = ins == INS_SKS_CALL && chained_part && sw == Some(crate::envelope::sw::OK);
        finish(line, status, body, sw)
    }
}

fn finish(mut line: String, status: Option<u8>, body: &[u8], sw: Option<u16>) -> String {
    line.push_str(" -> ");
    match status {
        Some(0) => line.push_str("OK, "),
        Some(code) => match ErrorCode::ALL.iter().find(|c| **c as u8 == code) {
            Some(c) => {
                let _ = write!(line, "{}, ", c.name());
            }
            None => {
                let _ = write!(line, "status {code}, ");
            }
        },
        None => {}
    }
    match sw {
        Some(sw) => {
            let _ = write!(line, "{} bytes, SW {sw:04X}", body.len());
        }
        None => {
            let _ = write!(line, "{}-byte response", body.len());
        }
    }
    line
}

/// Every SKS method's first argument is a handle, except these two.
fn names_a_handle(p1: u8) -> bool {
    !matches!(
        MethodId::try_from(p1),
        Ok(MethodId::GetDeviceInfo | MethodId::CreateProvisioningSession) | Err(_)
    )
}

/// CLA, INS, P1 and the command data of a short or extended APDU (ISO 7816-4 5.1).
fn parse(apdu: &[u8]) -> Option<(u8, u8, u8, &[u8])> {
    let (header, body) = apdu.split_at_checked(4)?;
    let data = match body {
        [] | [_] => &[][..],
        [0, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            rest.get(..lc).unwrap_or(rest)
        }
        [lc, rest @ ..] => rest.get(..usize::from(*lc)).unwrap_or(rest),
    };
    Some((header[0], header[1], header[2], data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{call_apdus, get_response_apdu, select_apdu};

    #[test]
    fn names_method_handle_lengths_and_status_but_no_data() {
        let mut log = ExchangeLog::new();
        let mut args = 5u32.to_be_bytes().to_vec();
        args.extend_from_slice(b"SECRET-PIN-1234");
        let call = &call_apdus(MethodId::ChangePin as u8, &args, 65_535, 0)[0];
        let line = log.describe(call, &[0x00, 0x90, 0x00]);
        assert_eq!(line, "changePin handle 5, 19 bytes -> OK, 1 bytes, SW 9000");
        let line = log.describe(call, &[0x01, b'x', 0x90, 0x00]);
        assert_eq!(
            line,
            "changePin handle 5, 19 bytes -> ERROR_AUTHORIZATION, 2 bytes, SW 9000"
        );
        assert_eq!(
            log.describe(&select_apdu(), &[0x90, 0x00]),
            "SELECT -> 0 bytes, SW 9000"
        );
        assert_eq!(
            log.describe(
                &get_response_apdu(0),
                &[0xAB; 10]
                    .iter()
                    .chain(&[0x61, 0x00])
                    .copied()
                    .collect::<Vec<_>>()
            ),
            "GET RESPONSE -> 10 bytes, SW 6100"
        );
        assert_eq!(
            log.describe(&[1], &[0x67, 0x00]),
            "malformed 1-byte APDU -> 0 bytes, SW 6700"
        );
    }

    #[test]
    fn the_last_part_of_a_chain_names_no_handle() {
        let mut log = ExchangeLog::new();
        let args = [0xEEu8; 100];
        let parts = call_apdus(MethodId::SignHashedData as u8, &args, 40, 0);
        assert_eq!(parts.len(), 3);
        assert_eq!(
            log.describe(&parts[0], &[0x90, 0x00]),
            "signHashedData part, 40 bytes -> 0 bytes, SW 9000"
        );
        log.describe(&parts[1], &[0x90, 0x00]);
        let last = log.describe(&parts[2], &[0x00, 0x90, 0x00]);
        assert_eq!(last, "signHashedData, 20 bytes -> OK, 1 bytes, SW 9000");
        assert!(!last.contains("handle"));
    }
}
