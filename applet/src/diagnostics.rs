//! Test-only calls, compiled in only with the `diagnostics` feature (never in the product).
//! They exercise the envelope with payloads no foundation method produces.

/// Method id (P1) of ECHO: the response data is the call data, unframed.
pub const ECHO: u8 = 0xEE;
