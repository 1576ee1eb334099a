//! Symmetric operations of the User API over RustCrypto: AES (spec 4.1 Symmetric Key
//! Encryption, spec-notes §4.30) and HMAC (spec 4.1 HMAC Operations, spec-notes §4.29).

use crate::crypto::algorithm::{AesMode, Hash};
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit,
    KeyIvInit,
};
use hmac::{Hmac, Mac};

/// Why an AES call was refused: bad input (ERROR_OPTION) or bad padding (ERROR_CRYPTO).
#[derive(Debug, PartialEq, Eq)]
pub enum AesError {
    Input(&'static str),
    Padding,
}

/// Expands `$body` with `$aes` bound to the AES type for a 16, 24 or 32-byte key.
macro_rules! per_key_size {
    ($len:expr, $aes:ident => $body:expr) => {
        match $len {
            16 => {
                type $aes = aes::Aes128;
                $body
            }
            24 => {
                type $aes = aes::Aes192;
                $body
            }
            32 => {
                type $aes = aes::Aes256;
                $body
            }
            _ => Err(AesError::Input("AES keys are 16, 24 or 32 bytes")),
        }
    };
}

/// AES in one of the SKS modes. `iv` is the fresh random IV for `CbcIvPrepended` encryption or
/// the `parameters` IV for `CbcIvParameter`; ignored otherwise.
pub fn aes(
    key: &[u8],
    mode: AesMode,
    encrypt: bool,
    iv: &[u8; 16],
    data: &[u8],
) -> Result<Vec<u8>, AesError> {
    per_key_size!(key.len(), A => {
        let cbc_enc = |iv: &[u8]| cbc::Encryptor::<A>::new_from_slices(key, iv).map_err(|_| AesError::Input("bad AES key or IV"));
        let cbc_dec = |iv: &[u8]| cbc::Decryptor::<A>::new_from_slices(key, iv).map_err(|_| AesError::Input("bad AES key or IV"));
        match (mode, encrypt) {
            (AesMode::CbcIvPrepended, true) => {
                Ok([iv.as_slice(), &cbc_enc(iv)?.encrypt_padded_vec::<Pkcs7>(data)].concat())
            }
            (AesMode::CbcIvPrepended, false) => {
                if data.len() < 32 || !data.len().is_multiple_of(16) {
                    return Err(AesError::Input("Data must be IV + a multiple of 16 bytes"));
                }
                cbc_dec(&data[..16])?.decrypt_padded_vec::<Pkcs7>(&data[16..]).map_err(|_| AesError::Padding)
            }
            (AesMode::CbcIvParameter, true) => Ok(cbc_enc(iv)?.encrypt_padded_vec::<Pkcs7>(data)),
            (AesMode::CbcIvParameter, false) => {
                if data.is_empty() || !data.len().is_multiple_of(16) {
                    return Err(AesError::Input("Data must be a multiple of 16 bytes"));
                }
                cbc_dec(iv)?.decrypt_padded_vec::<Pkcs7>(data).map_err(|_| AesError::Padding)
            }
            (AesMode::EcbNoPad, _) => {
                if !data.len().is_multiple_of(16) {
                    return Err(AesError::Input("Data must be a multiple of 16 bytes"));
                }
                let cipher = A::new_from_slice(key).map_err(|_| AesError::Input("bad AES key"))?;
                let mut out = data.to_vec();
                for block in out.chunks_exact_mut(16) {
                    let b: &mut Array<u8, _> = block.try_into().map_err(|_| AesError::Input("block"))?;
                    if encrypt {
                        cipher.encrypt_block(b);
                    } else {
                        cipher.decrypt_block(b);
                    }
                }
                Ok(out)
            }
        }
    })
}

/// HMAC with the given hash.
pub fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    match hash {
        Hash::Sha1 => run::<Hmac<sha1::Sha1>>(key, data),
        Hash::Sha256 => run::<Hmac<sha2::Sha256>>(key, data),
        Hash::Sha384 => run::<Hmac<sha2::Sha384>>(key, data),
        Hash::Sha512 => run::<Hmac<sha2::Sha512>>(key, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_197_and_sp800_38a_vectors() {
        // FIPS-197 C.1: AES-128 single block.
        let key = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let pt = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        let ct = aes(&key, AesMode::EcbNoPad, true, &[0; 16], &pt).unwrap();
        assert_eq!(hex::encode(&ct), "69c4e0d86a7b0430d8cdb78070b4c55a");
        assert_eq!(
            aes(&key, AesMode::EcbNoPad, false, &[0; 16], &ct).unwrap(),
            pt
        );
        // SP 800-38A F.2.5: CBC-AES256, first block (PKCS#7 adds a second block).
        let key = hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
            .unwrap();
        let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
            .unwrap()
            .try_into()
            .unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let ct = aes(&key, AesMode::CbcIvParameter, true, &iv, &pt).unwrap();
        assert_eq!(hex::encode(&ct[..16]), "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
        assert_eq!(
            aes(&key, AesMode::CbcIvParameter, false, &iv, &ct).unwrap(),
            pt
        );
        let with_iv = aes(&key, AesMode::CbcIvPrepended, true, &iv, &pt).unwrap();
        assert_eq!(&with_iv[..16], &iv);
        assert_eq!(
            aes(&key, AesMode::CbcIvPrepended, false, &[0; 16], &with_iv).unwrap(),
            pt
        );
        let mut bad = with_iv.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            aes(&key, AesMode::CbcIvPrepended, false, &[0; 16], &bad),
            Err(AesError::Padding)
        );
        assert!(matches!(
            aes(&key, AesMode::EcbNoPad, true, &[0; 16], &[0; 15]),
            Err(AesError::Input(_))
        ));
        assert!(matches!(
            aes(&key[..20], AesMode::EcbNoPad, true, &[0; 16], &[0; 16]),
            Err(AesError::Input(_))
        ));
    }

    #[test]
    fn rfc_4231_and_2202_vectors() {
        // RFC 4231 test case 2.
        let d = b"what do ya want for nothing?";
        assert_eq!(
            hex::encode(hmac(Hash::Sha256, b"Jefe", d)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hex::encode(hmac(Hash::Sha384, b"Jefe", d))
            .starts_with("af45d2e376484031617f78d2b58a6b1b"));
        assert!(hex::encode(hmac(Hash::Sha512, b"Jefe", d))
            .starts_with("164b7a7bfcf819e2e395fbe73b56e0a3"));
        // RFC 2202 test case 2.
        assert_eq!(
            hex::encode(hmac(Hash::Sha1, b"Jefe", d)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
