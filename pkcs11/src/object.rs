//! PKCS #11 objects: their attributes, built once from what the card reports, and template
//! matching for C_FindObjects.

use cryptoki_sys::*;
use zeroize::Zeroizing;

/// Attribute values as PKCS #11 lays them out in memory.
pub fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// A CK_BBOOL value.
pub fn bool_attr(v: bool) -> Vec<u8> {
    vec![if v { CK_TRUE } else { CK_FALSE }]
}

/// What an object stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The private key of an SKS key.
    Private,
    /// The public key of an SKS key.
    Public,
    /// The symmetric key of an SKS key.
    Secret,
    /// A certificate of an SKS key's path (index 0 = end entity).
    Certificate(usize),
    /// A secret derived in a session (C_DeriveKey), held by the module.
    Derived,
}

/// One object: a handle, what it is, its attributes.
pub struct Object {
    /// The PKCS #11 handle.
    pub handle: CK_OBJECT_HANDLE,
    /// The SKS key handle behind it (none for derived session secrets).
    pub key: Option<u32>,
    /// What it is.
    pub kind: Kind,
    /// Public attribute values.
    pub attrs: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
    /// The value of a derived session secret (CKA_VALUE), zeroized on drop.
    pub secret: Option<Zeroizing<Vec<u8>>>,
    /// The session that owns a session object.
    pub session: Option<CK_SESSION_HANDLE>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("handle", &self.handle)
            .field("key", &self.key)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why an attribute cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The object has no such attribute.
    Invalid,
    /// The value exists but is secret.
    Sensitive,
}

impl Object {
    /// The value of attribute `t`, if the object has it.
    pub fn get(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(a, _)| *a == t)
            .map(|(_, v)| v.as_slice())
    }

    /// A boolean attribute (false when absent).
    pub fn flag(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(t) == Some(&[CK_TRUE][..])
    }

    /// A CK_ULONG attribute.
    pub fn ulong(&self, t: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        let v = self.get(t)?;
        Some(CK_ULONG::from_ne_bytes(v.try_into().ok()?))
    }

    /// The value C_GetAttributeValue returns for `t`.
    pub fn read(&self, t: CK_ATTRIBUTE_TYPE) -> Result<&[u8], Unreadable> {
        if t == CKA_VALUE {
            if let Some(secret) = &self.secret {
                return if self.flag(CKA_SENSITIVE) || !self.flag(CKA_EXTRACTABLE) {
                    Err(Unreadable::Sensitive)
                } else {
                    Ok(secret.as_slice())
                };
            }
            if matches!(self.kind, Kind::Private | Kind::Secret) {
                return Err(Unreadable::Sensitive);
            }
        }
        if matches!(self.kind, Kind::Private)
            && matches!(
                t,
                CKA_PRIVATE_EXPONENT
                    | CKA_PRIME_1
                    | CKA_PRIME_2
                    | CKA_EXPONENT_1
                    | CKA_EXPONENT_2
                    | CKA_COEFFICIENT
            )
        {
            return Err(Unreadable::Sensitive);
        }
        self.get(t).ok_or(Unreadable::Invalid)
    }

    /// Whether every attribute of `template` is present with exactly that value.
    pub fn matches(&self, template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template.iter().all(|(t, v)| match self.read(*t) {
            Ok(have) => have == v.as_slice(),
            Err(_) => false,
        })
    }
}

/// Collects attribute/value pairs.
#[derive(Default)]
pub struct Attrs(pub Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Attrs {
    /// Adds (or replaces) an attribute.
    pub fn set(&mut self, t: CK_ATTRIBUTE_TYPE, v: Vec<u8>) -> &mut Self {
        if let Some(slot) = self.0.iter_mut().find(|(a, _)| *a == t) {
            slot.1 = v;
        } else {
            self.0.push((t, v));
        }
        self
    }

    /// Adds a boolean attribute.
    pub fn flag(&mut self, t: CK_ATTRIBUTE_TYPE, v: bool) -> &mut Self {
        self.set(t, bool_attr(v))
    }

    /// Adds a CK_ULONG attribute.
    pub fn ulong(&mut self, t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> &mut Self {
        self.set(t, ulong(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> Object {
        let mut a = Attrs::default();
        a.ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .flag(CKA_SIGN, true)
            .set(CKA_ID, vec![1, 2]);
        Object {
            handle: 1,
            key: Some(1),
            kind: Kind::Private,
            attrs: a.0,
            secret: None,
            session: None,
        }
    }

    #[test]
    fn templates_match_on_every_attribute() {
        let o = object();
        assert!(o.matches(&[]));
        assert!(o.matches(&[(CKA_CLASS, ulong(CKO_PRIVATE_KEY))]));
        assert!(o.matches(&[(CKA_ID, vec![1, 2]), (CKA_SIGN, bool_attr(true))]));
        assert!(!o.matches(&[(CKA_ID, vec![1, 3])]));
        assert!(!o.matches(&[(CKA_DECRYPT, bool_attr(false))]), "absent");
        assert!(!o.matches(&[(CKA_VALUE, vec![])]), "sensitive");
    }

    #[test]
    fn private_values_are_sensitive() {
        let o = object();
        assert_eq!(o.read(CKA_VALUE), Err(Unreadable::Sensitive));
        assert_eq!(o.read(CKA_PRIVATE_EXPONENT), Err(Unreadable::Sensitive));
        assert_eq!(o.read(CKA_LABEL), Err(Unreadable::Invalid));
    }
}
