//! The FFI boundary: panic containment, pointer checks and the output conventions of
//! PKCS #11 (blank-padded strings, two-call length queries).

use cryptoki_sys::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every entry point returns on failure: a PKCS #11 return value.
pub type Rv<T = ()> = Result<T, CK_RV>;

/// Runs `body`, turning `Err(rv)` into `rv`, `Ok` into `CKR_OK` and a panic into
/// `CKR_GENERAL_ERROR`: nothing unwinds across the FFI boundary.
pub fn guard(body: impl FnOnce() -> Rv) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => rv,
        Err(_) => {
            log::error!("panic inside the PKCS #11 module caught at the FFI boundary");
            CKR_GENERAL_ERROR
        }
    }
}

/// `&mut *p`, or `CKR_ARGUMENTS_BAD` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a valid, writable `T` for the duration of the call.
pub unsafe fn out<'a, T>(p: *mut T) -> Rv<&'a mut T> {
    p.as_mut().ok_or(CKR_ARGUMENTS_BAD)
}

/// `&*p`, or `CKR_ARGUMENTS_BAD` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a valid `T` for the duration of the call.
pub unsafe fn inp<'a, T>(p: *const T) -> Rv<&'a T> {
    p.as_ref().ok_or(CKR_ARGUMENTS_BAD)
}

/// The byte slice `(p, len)`; NULL is accepted only for length 0.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes for the duration of the call.
pub unsafe fn bytes<'a>(p: *const CK_BYTE, len: CK_ULONG) -> Rv<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let len = usize::try_from(len).map_err(|_| CKR_ARGUMENTS_BAD)?;
    Ok(std::slice::from_raw_parts(p, len))
}

/// The slice of `T`s `(p, count)`; NULL is accepted only for count 0.
///
/// # Safety
/// `p` must be NULL or point to `count` valid `T`s.
pub unsafe fn slice<'a, T>(p: *const T, count: CK_ULONG) -> Rv<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let count = usize::try_from(count).map_err(|_| CKR_ARGUMENTS_BAD)?;
    Ok(std::slice::from_raw_parts(p, count))
}

/// Copies `value` into `dst` blank-padded (PKCS #11 fixed-length strings), cutting at a UTF-8
/// character boundary when too long.
pub fn pad(dst: &mut [u8], value: &str) {
    dst.fill(b' ');
    let mut end = value.len().min(dst.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    dst[..end].copy_from_slice(&value.as_bytes()[..end]);
}

/// The PKCS #11 output convention of C_Sign, C_Decrypt, ...: with `p_out` NULL only the
/// length is reported; with a buffer that is too small the length is reported and
/// `CKR_BUFFER_TOO_SMALL` returned; otherwise `value` is copied.
///
/// Returns `Ok(true)` when `value` was delivered (the operation is finished).
///
/// # Safety
/// `p_out` must be NULL or point to `*p_len` writable bytes; `p_len` must be valid.
pub unsafe fn deliver(value: &[u8], p_out: *mut CK_BYTE, p_len: *mut CK_ULONG) -> Rv<bool> {
    let len = out(p_len)?;
    let needed = CK_ULONG::try_from(value.len()).map_err(|_| CKR_GENERAL_ERROR)?;
    if p_out.is_null() {
        *len = needed;
        return Ok(false);
    }
    if *len < needed {
        *len = needed;
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    std::ptr::copy_nonoverlapping(value.as_ptr(), p_out, value.len());
    *len = needed;
    Ok(true)
}

/// Writes a list of `CK_ULONG`-sized items with the two-call convention (C_GetSlotList,
/// C_GetMechanismList, C_FindObjects does not use this).
///
/// # Safety
/// `p_list` must be NULL or point to `*p_count` writable items; `p_count` must be valid.
pub unsafe fn deliver_list<T: Copy>(items: &[T], p_list: *mut T, p_count: *mut CK_ULONG) -> Rv {
    let count = out(p_count)?;
    let needed = CK_ULONG::try_from(items.len()).map_err(|_| CKR_GENERAL_ERROR)?;
    if p_list.is_null() {
        *count = needed;
        return Ok(());
    }
    if *count < needed {
        *count = needed;
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    std::ptr::copy_nonoverlapping(items.as_ptr(), p_list, items.len());
    *count = needed;
    Ok(())
}

/// A CK_VERSION.
pub const fn version(major: u8, minor: u8) -> CK_VERSION {
    CK_VERSION { major, minor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_contains_panics() {
        assert_eq!(guard(|| panic!("boom")), CKR_GENERAL_ERROR);
        assert_eq!(guard(|| Err(CKR_SLOT_ID_INVALID)), CKR_SLOT_ID_INVALID);
        assert_eq!(guard(|| Ok(())), CKR_OK);
    }

    #[test]
    fn pad_blank_fills_and_cuts_at_char_boundaries() {
        let mut b = [0u8; 4];
        pad(&mut b, "ab");
        assert_eq!(&b, b"ab  ");
        pad(&mut b, "abcé");
        assert_eq!(&b, b"abc ");
    }

    #[test]
    fn deliver_follows_the_two_call_convention() {
        let value = [1u8, 2, 3];
        let mut len: CK_ULONG = 0;
        unsafe {
            assert_eq!(deliver(&value, std::ptr::null_mut(), &mut len), Ok(false));
            assert_eq!(len, 3);
            let mut small = [0u8; 2];
            len = 2;
            assert_eq!(
                deliver(&value, small.as_mut_ptr(), &mut len),
                Err(CKR_BUFFER_TOO_SMALL)
            );
            assert_eq!(len, 3);
            let mut buf = [0u8; 8];
            len = 8;
            assert_eq!(deliver(&value, buf.as_mut_ptr(), &mut len), Ok(true));
            assert_eq!((len, &buf[..3]), (3, &value[..]));
            assert_eq!(
                deliver(&value, buf.as_mut_ptr(), std::ptr::null_mut()),
                Err(CKR_ARGUMENTS_BAD)
            );
        }
    }
}
