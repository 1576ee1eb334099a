//! The module's state: slots (one per reader), their tokens, and sessions. One global mutex
//! guards it (`CKF_OS_LOCKING_OK`): every entry point locks it for its whole duration, so the
//! APDUs of one call are never interleaved with another thread's.

use crate::backend::Backend;
use crate::ffi::Rv;
use crate::ops::{CipherMech, SignMech};
use crate::token::Token;
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use zeroize::Zeroizing;

/// The module, once C_Initialize has run.
pub static MODULE: Mutex<Option<Module>> = Mutex::new(None);

/// Locks the module; `CKR_CRYPTOKI_NOT_INITIALIZED` before C_Initialize.
pub fn with<R>(f: impl FnOnce(&mut Module) -> Rv<R>) -> Rv<R> {
    let mut guard: MutexGuard<'_, Option<Module>> = MODULE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let m = guard.as_mut().ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)?;
    f(m)
}

/// A reader and the token in it, if any.
pub struct Slot {
    /// The PC/SC reader name.
    pub reader: String,
    /// The SKS token, while a card answers the SKS SELECT.
    pub token: Option<Token>,
}

/// A signing operation in progress.
pub struct SignOp {
    /// The SKS key.
    pub key: u32,
    /// The mechanism.
    pub mech: SignMech,
    /// Data collected by C_SignUpdate (mechanisms without a module-side hash).
    pub data: Zeroizing<Vec<u8>>,
    /// The running hash of hash-then-sign mechanisms.
    pub hasher: Option<crate::ops::Hasher>,
    /// The signature once computed, until it is delivered.
    pub result: Option<Vec<u8>>,
}

/// An encryption or decryption operation in progress.
pub struct CipherOp {
    /// The SKS key.
    pub key: u32,
    /// The mechanism.
    pub mech: CipherMech,
    /// Data collected by C_*Update.
    pub data: Zeroizing<Vec<u8>>,
    /// The output once computed, until it is delivered.
    pub result: Option<Zeroizing<Vec<u8>>>,
}

/// A session.
#[derive(Default)]
pub struct Session {
    /// Its slot.
    pub slot: CK_SLOT_ID,
    /// CKF_RW_SESSION.
    pub rw: bool,
    /// Results of C_FindObjectsInit not yet returned.
    pub find: Option<Vec<CK_OBJECT_HANDLE>>,
    /// C_Sign*.
    pub sign: Option<SignOp>,
    /// C_Decrypt*.
    pub decrypt: Option<CipherOp>,
    /// C_Encrypt*.
    pub encrypt: Option<CipherOp>,
    /// A CKU_CONTEXT_SPECIFIC PIN for the next operation.
    pub context_pin: Option<Zeroizing<Vec<u8>>>,
}

/// Everything between C_Initialize and C_Finalize.
pub struct Module {
    /// Where cards come from.
    pub backend: Backend,
    /// Slot id = index.
    pub slots: Vec<Slot>,
    /// Open sessions.
    pub sessions: HashMap<CK_SESSION_HANDLE, Session>,
    /// The next session handle.
    pub next_session: CK_SESSION_HANDLE,
    /// The next session-object handle.
    pub next_object: CK_OBJECT_HANDLE,
}

/// The most data the module collects for one operation (HMAC, AES, CKM_ECDSA/RSA_PKCS input)
/// before the card sees it; the card's own limit (cryptoDataSize, 16 KiB here) is lower.
pub const MAX_COLLECTED: usize = 1 << 20;

/// Session objects get handles above this (token objects are `16 × key handle + n`).
pub const SESSION_OBJECT_BASE: CK_OBJECT_HANDLE = 1 << 40;

impl Module {
    /// A module on the backend the environment selects.
    pub fn new(backend: Backend) -> Self {
        Module {
            backend,
            slots: Vec::new(),
            sessions: HashMap::new(),
            next_session: 1,
            next_object: SESSION_OBJECT_BASE,
        }
    }

    /// Re-lists the readers and checks each for a token: a slot per reader ever seen (ids are
    /// stable), tokens connected when a card answers the SKS SELECT and dropped (with their
    /// sessions) when it no longer does.
    pub fn rescan(&mut self) {
        let readers = self.backend.readers();
        for r in &readers {
            if !self.slots.iter().any(|s| &s.reader == r) {
                self.slots.push(Slot {
                    reader: r.clone(),
                    token: None,
                });
            }
        }
        for id in 0..self.slots.len() {
            let present = readers.contains(&self.slots[id].reader);
            self.check_slot(id as CK_SLOT_ID, present);
        }
    }

    /// Makes the slot's token state current.
    pub fn check_slot(&mut self, id: CK_SLOT_ID, reader_present: bool) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        if let Some(t) = &mut slot.token {
            let alive = reader_present
                && t.card
                    .transport_mut()
                    .transmit(&apdu_spec::envelope::select_apdu())
                    .ok()
                    .and_then(|r| apdu_spec::envelope::split_response(&r).map(|(_, sw)| sw))
                    == Some(apdu_spec::envelope::sw::OK);
            if alive {
                return;
            }
            log::info!("token in {:?} is gone", slot.reader);
            slot.token = None;
            self.sessions.retain(|_, s| s.slot != id);
            return;
        }
        if !reader_present {
            return;
        }
        let reader = slot.reader.clone();
        if let Some(card) = self.backend.connect(&reader) {
            match Token::open(card) {
                Ok(t) => self.slots[id as usize].token = Some(t),
                Err(rv) => log::warn!("token in {reader:?}: cannot read it (CKR {rv:#x})"),
            }
        }
    }

    /// The slot `id`.
    pub fn slot(&mut self, id: CK_SLOT_ID) -> Rv<&mut Slot> {
        self.slots.get_mut(id as usize).ok_or(CKR_SLOT_ID_INVALID)
    }

    /// The token in slot `id`.
    pub fn token(&mut self, id: CK_SLOT_ID) -> Rv<&mut Token> {
        self.slot(id)?.token.as_mut().ok_or(CKR_TOKEN_NOT_PRESENT)
    }

    /// The session `h` and its token.
    pub fn session(&mut self, h: CK_SESSION_HANDLE) -> Rv<(&mut Session, &mut Token)> {
        let s = self
            .sessions
            .get_mut(&h)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let t = self
            .slots
            .get_mut(s.slot as usize)
            .and_then(|sl| sl.token.as_mut())
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        Ok((s, t))
    }

    /// Closes a session: its session objects go; the token logs out with its last session.
    pub fn close_session(&mut self, h: CK_SESSION_HANDLE) -> Rv {
        let s = self.sessions.remove(&h).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let still_open = self.sessions.values().any(|o| o.slot == s.slot);
        if let Some(t) = self
            .slots
            .get_mut(s.slot as usize)
            .and_then(|sl| sl.token.as_mut())
        {
            t.objects.retain(|o| o.session != Some(h));
            if !still_open {
                t.user_pin = None;
            }
        }
        Ok(())
    }

    /// Sessions open on slot `id`: (all, read-write).
    pub fn session_counts(&self, id: CK_SLOT_ID) -> (CK_ULONG, CK_ULONG) {
        let all = self.sessions.values().filter(|s| s.slot == id);
        let rw = all.clone().filter(|s| s.rw).count();
        (all.count() as CK_ULONG, rw as CK_ULONG)
    }
}
