//! PIN and PUK policy objects: createPukPolicy [8], createPinPolicy [9] (spec 7.4, 5.5-5.7;
//! spec-notes §4.7-4.8).

use crate::auth::pin_rules::syntax_ok;
use crate::db::{PinPolicy, PukPolicy};
use crate::error::option;
use crate::methods::provisioning::security::MacData;
use crate::state::SksApplet;
use crate::store::{Kind, Store};
use apdu_spec::values::{
    Grouping, InputMethod, PatternRestriction, PatternRestrictions, PinFormat,
};
use apdu_spec::{
    CreatePinPolicyArgs, CreatePinPolicyOutput, CreatePukPolicyArgs, CreatePukPolicyOutput,
    SksError,
};

/// Largest PIN and PUK length in bytes.
const MAX_SECRET_LEN: usize = 128;

impl<S: Store> SksApplet<S> {
    /// createPukPolicy [8]. Order: format, retryLimit, decrypt, length and syntax, MAC, object.
    pub(crate) fn create_puk_policy(
        &mut self,
        a: CreatePukPolicyArgs,
    ) -> Result<CreatePukPolicyOutput, SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.provisioning_step(session, |card| {
            let format = PinFormat::try_from(a.format).map_err(|_| option("Invalid PUK format"))?;
            if a.retry_limit > 10_000 {
                return Err(option("PUK retryLimit must be 0-10000"));
            }
            let s = card.session_mut(session)?;
            // The ref decrypts before checking the MAC (spec-notes §3.4); the limit cost is 2.
            let puk = s.decrypt(&a.encrypted_puk)?;
            if puk.is_empty() || puk.len() > MAX_SECRET_LEN {
                return Err(option("PUK length error"));
            }
            if !syntax_ok(format, &puk) {
                return Err(option("PUK syntax error"));
            }
            let data = MacData::new()
                .str(&a.id)
                .arr(&a.encrypted_puk)
                .u8(a.format)
                .u16(a.retry_limit)
                .finish()?;
            s.verify_mac("createPUKPolicy", &data, &a.mac)?;
            card.claim_id(session, &a.id)?;
            let handle = card.db.next_handle(Kind::PukPolicy);
            card.db.insert_puk(PukPolicy {
                handle,
                session,
                id: a.id.to_string(),
                value: puk,
                format,
                retry_limit: a.retry_limit,
                error_count: 0,
                referenced: false,
            });
            Ok(CreatePukPolicyOutput {
                puk_policy_handle: handle,
            })
        })
    }

    /// createPinPolicy [9]. Order: grouping, inputMethod, format, retryLimit, patterns, PUK,
    /// missing-group format, lengths, MAC, object.
    pub(crate) fn create_pin_policy(
        &mut self,
        a: CreatePinPolicyArgs,
    ) -> Result<CreatePinPolicyOutput, SksError> {
        let session = self.open_session(a.provisioning_handle)?.handle;
        self.provisioning_step(session, |card| {
            let grouping =
                Grouping::try_from(a.grouping).map_err(|_| option("Invalid PIN grouping"))?;
            let input_method = InputMethod::try_from(a.input_method)
                .map_err(|_| option("Invalid PIN inputMethod"))?;
            let format = PinFormat::try_from(a.format).map_err(|_| option("Invalid PIN format"))?;
            if !(1..=10_000).contains(&a.retry_limit) {
                return Err(option("PIN retryLimit must be 1-10000"));
            }
            let patterns = PatternRestrictions::try_from(a.pattern_restrictions)
                .map_err(|_| option("Invalid PIN patternRestrictions"))?;
            let puk = match a.puk_policy_handle {
                0 => None,
                h => match card.db.puk(h) {
                    Some(p) if p.session == session => Some((h, p.id.clone())),
                    _ => return Err(option("Referenced PUK policy object not found")),
                },
            };
            if patterns.contains(PatternRestriction::MissingGroup)
                && !matches!(format, PinFormat::Alphanumeric | PinFormat::String)
            {
                return Err(option(
                    "Missing-group pattern needs format alphanumeric or string",
                ));
            }
            if a.min_length < 1
                || a.min_length > a.max_length
                || usize::from(a.max_length) > MAX_SECRET_LEN
            {
                return Err(option("PIN policy length error"));
            }
            let data = MacData::new()
                .str(&a.id)
                .str(puk.as_ref().map_or("", |(_, id)| id))
                .bool(a.user_defined)
                .bool(a.user_modifiable)
                .u8(a.format)
                .u16(a.retry_limit)
                .u8(a.grouping)
                .u8(a.pattern_restrictions)
                .u16(a.min_length)
                .u16(a.max_length)
                .u8(a.input_method)
                .finish()?;
            card.session_mut(session)?
                .verify_mac("createPINPolicy", &data, &a.mac)?;
            card.claim_id(session, &a.id)?;
            if let Some((h, _)) = &puk {
                if let Some(p) = card.db.puk_mut(*h) {
                    p.referenced = true;
                }
            }
            let handle = card.db.next_handle(Kind::PinPolicy);
            card.db.insert_pin(PinPolicy {
                handle,
                session,
                id: a.id.to_string(),
                puk: puk.map(|(h, _)| h),
                user_defined: a.user_defined,
                user_modifiable: a.user_modifiable,
                format,
                retry_limit: a.retry_limit,
                grouping,
                pattern_restrictions: patterns,
                min_length: a.min_length,
                max_length: a.max_length,
                input_method,
                referenced: false,
            });
            Ok(CreatePinPolicyOutput {
                pin_policy_handle: handle,
            })
        })
    }
}
