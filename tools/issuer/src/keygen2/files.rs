//! The issuer side of the file exchange (`keygen2::transport::run_files`): requests written
//! as `DIR/<n>.request.json`, responses read from `DIR/<n>.response.json`.

use super::{KeyGen2Server, Outcome, Reply, Scenario};
use crate::Error;
use keygen2::transport::{wait_for_file, write_atomically};
use std::path::Path;
use std::time::Duration;

/// Runs one exchange of `scenario` through `dir`.
pub fn serve_files(
    dir: &Path,
    server: &mut KeyGen2Server,
    scenario: Scenario,
    timeout: Duration,
) -> Result<Outcome, Error> {
    let io = |e: keygen2::transport::ExchangeError| Error::Protocol(e.to_string());
    let mut request = server.start(scenario)?;
    for n in 1.. {
        write_atomically(&dir.join(format!("{n}.request.json")), &request).map_err(io)?;
        let response =
            wait_for_file(&dir.join(format!("{n}.response.json")), timeout).map_err(io)?;
        match server.respond(&response)? {
            Reply::Request(r) => request = r,
            Reply::Done(o) => return Ok(*o),
        }
    }
    unreachable!("the loop only ends by returning")
}
