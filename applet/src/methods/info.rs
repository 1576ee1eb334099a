//! getDeviceInfo [1] (spec 7.4) and the capabilities it reports.

use crate::state::SksApplet;
use crate::store::Store;
use apdu_spec::values::{DeviceImplementation, DeviceLocation, DeviceType};
use apdu_spec::{Bytes, DeviceInfo, Uri};

/// The API level: 100 (spec 7.4 getDeviceInfo: "100 (1.00) => Applies to this API
/// specification"). The card implements the spec text, e.g. signHashedData on pre-hashed data,
/// which the Java reference (level 106) dropped (spec-notes D4).
pub const API_LEVEL: u16 = 100;
/// deviceType: a connected device (LOCATION_EXTERNAL) implemented in software (TYPE_SOFTWARE).
pub const DEVICE_TYPE: DeviceType = DeviceType {
    location: DeviceLocation::External,
    implementation: DeviceImplementation::Software,
};
pub const VENDOR_NAME: &str = "SKS Virtual Card";
pub const VENDOR_DESCRIPTION: &str =
    "Virtual SKS smart card (Rust, RustCrypto) served through vsmartcard vpcd";
/// Largest `data` argument of the cryptographic methods (spec minimum 16384).
pub const CRYPTO_DATA_SIZE: u32 = 16384;
/// Largest extensionData object (spec minimum 65536); fits in one call of at most
/// `apdu_spec::envelope::MAX_CALL_DATA` bytes with the other addExtension arguments.
pub const EXTENSION_DATA_SIZE: u32 = 131_072;

impl<S: Store> SksApplet<S> {
    /// getDeviceInfo [1] (spec 7.4).
    pub(crate) fn get_device_info(&self) -> DeviceInfo {
        DeviceInfo {
            api_level: API_LEVEL,
            device_type: DEVICE_TYPE.into(),
            update_url: Uri::default(),
            vendor_name: VENDOR_NAME.into(),
            vendor_description: VENDOR_DESCRIPTION.into(),
            certificates: self
                .device
                .certificates()
                .iter()
                .map(|c| Bytes(c.clone()))
                .collect(),
            supported_algorithms: crate::crypto::algorithm::SUPPORTED
                .iter()
                .filter_map(|a| Uri::new(a.uri).ok())
                .collect(),
            crypto_data_size: CRYPTO_DATA_SIZE,
            extension_data_size: EXTENSION_DATA_SIZE,
            device_pin_support: false,
            biometric_support: self.options.simulate_biometric,
        }
    }
}
