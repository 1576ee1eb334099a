//! Property tests run for every method of the table (through `visit_all_methods`, so a method
//! added to the table is covered automatically).

use crate::codec::Wire;
use crate::error::{ErrorCode, SksError};
use crate::method::{decode_response, encode_response, Method, MethodVisitor};
use crate::methods::{visit_all_methods, Command, MethodId};
use crate::types::ErrorString;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn sks_error() -> impl Strategy<Value = SksError> {
    (
        prop::sample::select(ErrorCode::ALL.to_vec()),
        any::<ErrorString>(),
    )
        .prop_map(|(code, message)| SksError::new(code, message.as_str()))
}

/// Prefix lengths to try: all of them for short encodings, otherwise both ends and a stride.
fn prefix_lengths(len: usize) -> Vec<usize> {
    if len <= 1024 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..256).chain(len - 256..len).collect();
    v.extend((0..len).step_by(len / 97 + 1));
    v
}

/// `decode` rejects every strict prefix of `enc` and `enc` with one extra byte.
fn rejects_prefixes_and_trailing<T>(
    what: &str,
    enc: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, crate::codec::DecodeError>,
) -> Result<(), TestCaseError> {
    for n in prefix_lengths(enc.len()) {
        prop_assert!(
            decode(&enc[..n]).is_err(),
            "{} accepted a prefix of {} bytes of {}",
            what,
            n,
            enc.len()
        );
    }
    for extra in [0x00, 0x01, 0xff] {
        let mut longer = enc.to_vec();
        longer.push(extra);
        prop_assert!(
            decode(&longer).is_err(),
            "{} accepted a trailing byte {:02x}",
            what,
            extra
        );
    }
    Ok(())
}

struct RoundTrip;

impl MethodVisitor for RoundTrip {
    fn visit<M: Method>(&mut self)
    where
        M::Args: Arbitrary + core::fmt::Debug + Clone + PartialEq,
        M::Output: Arbitrary + core::fmt::Debug + Clone + PartialEq,
    {
        let name = M::ID.name();
        let strategy = (any::<M::Args>(), any::<M::Output>(), sks_error());
        runner(48)
            .run(&strategy, |(args, out, err)| {
                // Arguments: directly and as a decoded call.
                let enc = args.to_wire().expect("generated values fit their prefixes");
                prop_assert_eq!(&M::Args::from_wire(&enc).unwrap(), &args);
                let cmd = Command::decode(M::ID, &enc).unwrap();
                prop_assert_eq!(cmd.method(), M::ID);
                prop_assert_eq!(&cmd, &M::command(args.clone()));
                rejects_prefixes_and_trailing("args", &enc, M::Args::from_wire)?;
                rejects_prefixes_and_trailing("command", &enc, |b| Command::decode(M::ID, b))?;

                // Results: directly and in the response framing.
                let out_enc = out.to_wire().unwrap();
                prop_assert_eq!(&M::Output::from_wire(&out_enc).unwrap(), &out);
                rejects_prefixes_and_trailing("output", &out_enc, M::Output::from_wire)?;
                let resp = encode_response(&Ok(out.clone())).unwrap();
                prop_assert_eq!(resp[0], 0x00);
                prop_assert_eq!(&resp[1..], &out_enc[..]);
                prop_assert_eq!(decode_response::<M>(&resp).unwrap(), Ok(out.clone()));
                rejects_prefixes_and_trailing("success response", &resp, decode_response::<M>)?;

                // Failure responses: status ‖ error string.
                let resp = encode_response::<M::Output>(&Err(err.clone())).unwrap();
                prop_assert_eq!(resp[0], err.code as u8);
                prop_assert_eq!(
                    usize::from(u16::from_be_bytes([resp[1], resp[2]])),
                    err.message.len()
                );
                prop_assert_eq!(&resp[3..], err.message.as_bytes());
                prop_assert_eq!(decode_response::<M>(&resp).unwrap(), Err(err));
                rejects_prefixes_and_trailing("error response", &resp, decode_response::<M>)?;
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_method_round_trips() {
    visit_all_methods(&mut RoundTrip);
}

/// Decoding arbitrary or corrupted bytes never panics, and whatever decodes re-encodes to the
/// very same bytes (the encoding is canonical).
struct Garbage;

impl MethodVisitor for Garbage {
    fn visit<M: Method>(&mut self)
    where
        M::Args: Arbitrary + core::fmt::Debug + Clone + PartialEq,
        M::Output: Arbitrary + core::fmt::Debug + Clone + PartialEq,
    {
        let name = M::ID.name();
        // Valid encodings with one byte overwritten, or plain random bytes.
        let corrupted = |enc: Vec<u8>, pos: prop::sample::Index, b: u8| {
            let mut enc = enc;
            if !enc.is_empty() {
                let i = pos.index(enc.len());
                enc[i] = b;
            }
            enc
        };
        let args = (any::<M::Args>(), any::<prop::sample::Index>(), any::<u8>())
            .prop_map(move |(a, i, b)| corrupted(a.to_wire().unwrap(), i, b));
        let resp = (
            any::<M::Output>(),
            any::<prop::sample::Index>(),
            any::<u8>(),
        )
            .prop_map(move |(o, i, b)| corrupted(encode_response(&Ok(o)).unwrap(), i, b));
        let inputs = prop_oneof![
            args,
            resp,
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..600),
        ];
        runner(96)
            .run(&inputs, |bytes| {
                if let Ok(cmd) = Command::decode(M::ID, &bytes) {
                    prop_assert_eq!(cmd.method(), M::ID);
                    let args = M::Args::from_wire(&bytes).unwrap();
                    prop_assert_eq!(&args.to_wire().unwrap(), &bytes);
                }
                if let Ok(result) = decode_response::<M>(&bytes) {
                    prop_assert_eq!(&encode_response(&result).unwrap(), &bytes);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn garbage_never_panics_and_accepted_input_is_canonical() {
    visit_all_methods(&mut Garbage);
}

proptest! {
    #[test]
    fn command_decode_never_panics_on_any_method(
        id in prop::sample::select(MethodId::ALL.to_vec()),
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        if let Ok(cmd) = Command::decode(id, &body) {
            prop_assert_eq!(cmd.method(), id);
        }
    }
}

#[test]
fn visitor_covers_the_whole_table() {
    struct Count(Vec<MethodId>);
    impl MethodVisitor for Count {
        fn visit<M: Method>(&mut self)
        where
            M::Args: Arbitrary + core::fmt::Debug + Clone + PartialEq,
            M::Output: Arbitrary + core::fmt::Debug + Clone + PartialEq,
        {
            self.0.push(M::ID);
        }
    }
    let mut c = Count(Vec::new());
    visit_all_methods(&mut c);
    assert_eq!(c.0, MethodId::ALL);
}

/// The provisioning API is exactly createProvisioningSession .. postCloneKeyProtection.
#[test]
fn provisioning_methods_are_2_to_53() {
    let provisioning: Vec<&str> = MethodId::ALL
        .iter()
        .filter(|m| m.is_provisioning())
        .map(|m| m.name())
        .collect();
    assert_eq!(provisioning.first(), Some(&"createProvisioningSession"));
    assert_eq!(provisioning.last(), Some(&"postCloneKeyProtection"));
    assert!(!MethodId::GetDeviceInfo.is_provisioning());
    assert!(!MethodId::EnumerateKeys.is_provisioning());
    assert_eq!(provisioning.len(), 17);
}
