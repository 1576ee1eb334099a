//! Sealing: the device master key, its key file, and page encryption + authentication
//! (AES-256-CBC with a fresh random IV per page write, then HMAC-SHA256-128 over
//! page number ‖ IV ‖ ciphertext: encrypt-then-MAC).

use crate::store::StoreError;
use aes::cipher::{block_padding::NoPadding, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

pub(super) const IV_LEN: usize = 16;
pub(super) const TAG_LEN: usize = 16;
/// Bytes of a header MAC.
pub(super) const HEADER_MAC_LEN: usize = 32;

const KEY_FILE_MAGIC: &[u8; 8] = b"SKSMKEY1";
const KEY_FILE_LEN: usize = 8 + 16 + 32;

/// The device master key, which seals the persistent image. In this emulation it lives in a key
/// file next to the image (mode 0600), standing in for a key fused into the card's CPU.
/// `card_id` names the card: an image records the id of the card that wrote it.
#[derive(Clone)]
pub struct MasterKey {
    card_id: [u8; 16],
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey {{ card_id: {}, .. }}", hex16(&self.card_id))
    }
}

pub(super) fn hex16(b: &[u8; 16]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl MasterKey {
    pub fn new(card_id: [u8; 16], key: [u8; 32]) -> Self {
        Self {
            card_id,
            key: Zeroizing::new(key),
        }
    }

    /// A fresh random key and card id from the OS.
    pub fn generate() -> Result<Self, StoreError> {
        let mut card_id = [0u8; 16];
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut card_id)
            .and_then(|()| getrandom::fill(&mut key[..]))
            .map_err(|e| StoreError::io(format!("no entropy from the OS: {e}")))?;
        Ok(Self { card_id, key })
    }

    pub fn card_id(&self) -> [u8; 16] {
        self.card_id
    }

    /// Reads a key file written by [`MasterKey::save_new`].
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::io(format!(
                    "master key file {} not found: the card image cannot be unsealed without it",
                    path.display()
                ))
            } else {
                StoreError::io(format!("master key file {}: {e}", path.display()))
            }
        })?);
        if bytes.len() != KEY_FILE_LEN || &bytes[..8] != KEY_FILE_MAGIC {
            return Err(StoreError::Corrupt(format!(
                "{} is not an SKS master key file (expected {KEY_FILE_LEN} bytes starting with {:?})",
                path.display(),
                String::from_utf8_lossy(KEY_FILE_MAGIC)
            )));
        }
        warn_if_readable_by_others(path);
        let mut card_id = [0u8; 16];
        card_id.copy_from_slice(&bytes[8..24]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes[24..56]);
        Ok(Self { card_id, key })
    }

    /// Writes a new key file (mode 0600); refuses to overwrite an existing one.
    pub fn save_new(&self, path: &Path) -> Result<(), StoreError> {
        use std::io::Write as _;
        let err =
            |e: std::io::Error| StoreError::io(format!("master key file {}: {e}", path.display()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(err)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN));
        bytes.extend_from_slice(KEY_FILE_MAGIC);
        bytes.extend_from_slice(&self.card_id);
        bytes.extend_from_slice(&self.key[..]);
        file.write_all(&bytes).map_err(err)?;
        file.sync_all().map_err(err)
    }

    /// Loads the key file at `path`, creating one with a fresh key if there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate()?;
        key.save_new(path)?;
        Ok(key)
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "master key file {} is accessible by other users (mode {:o}); it should be 0600",
                    path.display(),
                    meta.permissions().mode() & 0o777
                );
            }
        }
    }
}

fn hmac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Per-image keys derived from the master key: HMAC-SHA256(master, label ‖ card id ‖ image id).
pub(super) struct Sealer {
    enc: Zeroizing<[u8; 32]>,
    mac: Zeroizing<[u8; 32]>,
    hdr: Zeroizing<[u8; 32]>,
}

impl Sealer {
    pub(super) fn new(master: &MasterKey, image_id: &[u8; 16]) -> Self {
        let derive = |label: &[u8]| {
            let mut m = hmac(&master.key[..]);
            m.update(label);
            m.update(&master.card_id);
            m.update(image_id);
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(&m.finalize().into_bytes());
            out
        };
        Self {
            enc: derive(b"SKS EEPROM v1 page encryption"),
            mac: derive(b"SKS EEPROM v1 page authentication"),
            hdr: derive(b"SKS EEPROM v1 header authentication"),
        }
    }

    pub(super) fn header_mac(&self, data: &[u8]) -> [u8; HEADER_MAC_LEN] {
        let mut m = hmac(&self.hdr[..]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    pub(super) fn header_mac_ok(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut m = hmac(&self.hdr[..]);
        m.update(data);
        m.verify_slice(tag).is_ok()
    }

    fn page_mac(&self, page_no: u32, iv_and_ct: &[u8]) -> HmacSha256 {
        let mut m = hmac(&self.mac[..]);
        m.update(&page_no.to_be_bytes());
        m.update(iv_and_ct);
        m
    }

    /// Seals `body` (page size − 32 bytes, a multiple of 16) into `page`.
    pub(super) fn seal(
        &self,
        page_no: u32,
        body: &[u8],
        page: &mut [u8],
    ) -> Result<(), StoreError> {
        let n = body.len();
        if page.len() != n + IV_LEN + TAG_LEN || !n.is_multiple_of(16) {
            return Err(StoreError::io("internal: page body size mismatch"));
        }
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv)
            .map_err(|e| StoreError::io(format!("no entropy from the OS: {e}")))?;
        page[..IV_LEN].copy_from_slice(&iv);
        let ct = &mut page[IV_LEN..IV_LEN + n];
        ct.copy_from_slice(body);
        cbc::Encryptor::<aes::Aes256>::new_from_slices(&self.enc[..], &iv)
            .map_err(|_| StoreError::io("internal: bad AES key or IV length"))?
            .encrypt_padded::<NoPadding>(ct, n)
            .map_err(|_| StoreError::io("internal: page body is not block aligned"))?;
        let tag = self
            .page_mac(page_no, &page[..IV_LEN + n])
            .finalize()
            .into_bytes();
        page[IV_LEN + n..].copy_from_slice(&tag[..TAG_LEN]);
        Ok(())
    }

    /// The plaintext body of `page` if it authenticates as page `page_no` of this image.
    pub(super) fn open(&self, page_no: u32, page: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let n = page.len().checked_sub(IV_LEN + TAG_LEN)?;
        if n == 0 || !n.is_multiple_of(16) {
            return None;
        }
        let (sealed, tag) = page.split_at(IV_LEN + n);
        self.page_mac(page_no, sealed)
            .verify_truncated_left(tag)
            .ok()?;
        let mut body = Zeroizing::new(sealed[IV_LEN..].to_vec());
        cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.enc[..], &sealed[..IV_LEN])
            .ok()?
            .decrypt_padded::<NoPadding>(&mut body)
            .ok()?;
        Some(body)
    }
}
