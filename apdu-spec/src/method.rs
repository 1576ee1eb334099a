//! The method table: ids, names and the typed call/response of every SKS method (spec 7.4), and
//! the framing of a call's response (spec 7.2).

use crate::codec::{DecodeError, EncodeError, Reader, Wire, Writer};
use crate::error::SksError;
use crate::methods::{Command, MethodId};

/// One SKS method: its id (spec 7.4, the number in square brackets), its spec name and the
/// types of its arguments and results.
pub trait Method {
    const ID: MethodId;
    type Args: Wire;
    type Output: Wire;

    /// The decoded-call form of a call of this method with `args`.
    fn command(args: Self::Args) -> Command;
}

/// Visits every method of the table with its marker type (used by the property tests, which
/// thereby cover each method the table declares).
#[cfg(test)]
pub(crate) trait MethodVisitor {
    fn visit<M: Method>(&mut self)
    where
        M::Args: proptest::arbitrary::Arbitrary + core::fmt::Debug + Clone + PartialEq,
        M::Output: proptest::arbitrary::Arbitrary + core::fmt::Debug + Clone + PartialEq;
}

/// Methods without arguments or results encode as nothing.
impl Wire for () {
    fn encode(&self, _: &mut Writer) {}
    fn decode(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(())
    }
}

/// Declares a struct whose wire form is its fields in order, each with its own type's encoding.
#[macro_export]
macro_rules! wire_struct {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::codec::Wire for $name {
            #[allow(unused_variables)]
            fn encode(&self, w: &mut $crate::codec::Writer) {
                $( $crate::codec::Wire::encode(&self.$field, w); )*
            }
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                Ok(Self { $( $field: <$ty as $crate::codec::Wire>::decode(r)?, )* })
            }
        }
    )*};
}

/// Declares the method table: a marker type implementing [`Method`] per method, the
/// [`MethodId`] enum and the [`Command`] enum of decoded calls.
macro_rules! sks_methods {
    ($(
        $(#[$meta:meta])*
        [$id:literal] $name:ident $fn_name:ident $spec_name:literal ($args:ty) -> $out:ty;
    )*) => {
        /// The id of every SKS method (spec 7.4). On the wire it travels in P1 of the call APDU.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum MethodId {
            $( $(#[$meta])* $name = $id, )*
        }

        impl MethodId {
            pub const ALL: &'static [MethodId] = &[$( MethodId::$name, )*];

            /// The method's name as the spec writes it, e.g. `getDeviceInfo`.
            pub fn name(self) -> &'static str {
                match self { $( MethodId::$name => $spec_name, )* }
            }

            /// Whether this is a method of the provisioning API, [2]-[53] (spec 7.4).
            pub fn is_provisioning(self) -> bool {
                (2..=53).contains(&(self as u8))
            }
        }

        impl TryFrom<u8> for MethodId {
            type Error = u8;
            fn try_from(v: u8) -> Result<Self, u8> {
                match v {
                    $( $id => Ok(MethodId::$name), )*
                    other => Err(other),
                }
            }
        }

        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Method for $name {
                const ID: MethodId = MethodId::$name;
                type Args = $args;
                type Output = $out;
                fn command(args: $args) -> Command {
                    Command::$name(args)
                }
            }
        )*

        /// Calls `v.visit::<M>()` for every method `M` of the table, in table order.
        #[cfg(test)]
        pub(crate) fn visit_all_methods<V: $crate::method::MethodVisitor>(v: &mut V) {
            $( v.visit::<$name>(); )*
        }

        /// A decoded SKS call: the method and its typed arguments.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Command {
            $( $(#[$meta])* $name($args), )*
        }

        impl Command {
            /// Decodes the arguments of method `id` from a call body (which must be consumed
            /// completely).
            pub fn decode(id: MethodId, body: &[u8]) -> Result<Self, $crate::codec::DecodeError> {
                Ok(match id {
                    $( MethodId::$name => Command::$name(<$args as Wire>::from_wire(body)?), )*
                })
            }

            pub fn method(&self) -> MethodId {
                match self { $( Command::$name(_) => MethodId::$name, )* }
            }
        }
    };
}

pub(crate) use sks_methods;

/// Encodes the response to a call (spec 7.2): status 0x00 followed by the results, or the
/// error's status code followed by its message.
pub fn encode_response<T: Wire>(result: &Result<T, SksError>) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    match result {
        Ok(out) => {
            w.u8(0);
            out.encode(&mut w);
        }
        Err(e) => e.encode(&mut w),
    }
    w.finish()
}

/// Decodes the response to a call of `M`: the results, or the SKS error the card reported.
pub fn decode_response<M: Method>(
    bytes: &[u8],
) -> Result<Result<M::Output, SksError>, DecodeError> {
    let mut r = Reader::new(bytes);
    let out = if bytes.first() == Some(&0) {
        r.u8()?;
        Ok(M::Output::decode(&mut r)?)
    } else {
        Err(SksError::decode(&mut r)?)
    };
    r.finish()?;
    Ok(out)
}
