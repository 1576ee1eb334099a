//! The card's errors. Handlers answer with the spec's [`SksError`] (code + message, spec 7.2);
//! everything below them that can fail (store, crypto engine, stored records) has a typed error
//! gathered in [`Error`], whose one conversion into [`SksError`] picks the spec code.

use apdu_spec::{ErrorCode, SksError};

/// ERROR_OPTION: an argument value the spec does not allow (spec 7.2).
pub(crate) fn option(msg: impl Into<String>) -> SksError {
    SksError::new(ErrorCode::Option, msg)
}
