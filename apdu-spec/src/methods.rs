//! Arguments and results of every SKS method (spec 7.4), in the spec's field order.

use crate::method::{sks_methods, Method};
use crate::types::{Bytes, Uri};
use crate::wire_struct;
#[allow(unused_imports)]
use crate::codec::Wire;

wire_struct! {
    /// getDeviceInfo [1] output (spec 7.4).
    pub struct DeviceInfo {
        /// The API level this card implements (see apdu-spec README for the choice).
        pub api_level: u16,
        /// Bits 0-1 location, bits 2-3 type.
        pub device_type: u8,
        /// Firmware update service, or empty.
        pub update_url: Uri,
        /// 1-128 characters.
        pub vendor_name: String,
        /// 1-1000 characters.
        pub vendor_description: String,
        /// Device certificate path, device certificate first; never empty.
        pub certificates: Vec<Bytes>,
        /// Every algorithm URI the card implements; never empty.
        pub supported_algorithms: Vec<Uri>,
        pub crypto_data_size: u32,
        pub extension_data_size: u32,
        pub device_pin_support: bool,
        pub biometric_support: bool,
    }
}

sks_methods! {
    /// getDeviceInfo [1]: the card's characteristics and device certificate path.
    [1] GetDeviceInfo "getDeviceInfo" (()) -> DeviceInfo;
}
