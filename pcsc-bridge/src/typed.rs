//! One typed method per SKS method (spec 7.4), generated from apdu-spec's method table
//! (`apdu_spec::sks_method_table!`): `getDeviceInfo` → [`Sks::get_device_info`], ...

use crate::client::{Error, Sks};
use crate::transport::Transport;
use apdu_spec::methods::*;

/// The `impl` block of the typed methods, from the whole table.
macro_rules! typed_methods {
    ($(
        $(#[$meta:meta])*
        [$id:literal] $name:ident $fn_name:ident $spec_name:literal ($($args:tt)*) -> $out:ty;
    )*) => {
        impl<T: Transport> Sks<T> {
            $( typed_method! { $(#[$meta])* [$id] $name $fn_name ($($args)*) -> $out } )*
        }
    };
}

/// One method: without an argument for a method whose arguments are `()`.
macro_rules! typed_method {
    ($(#[$meta:meta])* [$id:literal] $name:ident $fn_name:ident (()) -> $out:ty) => {
        $(#[$meta])*
        ///
        #[doc = concat!("Calls [`", stringify!($name), "`] (method id ", stringify!($id), ").")]
        pub fn $fn_name(&mut self) -> Result<$out, Error> {
            self.call::<$name>(&())
        }
    };
    ($(#[$meta:meta])* [$id:literal] $name:ident $fn_name:ident ($args:ty) -> $out:ty) => {
        $(#[$meta])*
        ///
        #[doc = concat!("Calls [`", stringify!($name), "`] (method id ", stringify!($id), ").")]
        pub fn $fn_name(&mut self, args: &$args) -> Result<$out, Error> {
            self.call::<$name>(args)
        }
    };
}

apdu_spec::sks_method_table!(typed_methods);
