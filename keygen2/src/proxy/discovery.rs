//! Credential discovery (PROTOCOL.md §4.3, spec App. D): the nonce, the search filter
//! evaluated on a certificate path, Java regular expressions and Java's RFC 2253 names.

use crate::messages::{each, SearchFilter};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

/// `SHA-256(u16len ‖ clientSessionId ‖ u16len ‖ serverSessionId)`.
pub fn lookup_nonce(client_session_id: &str, server_session_id: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    for s in [client_session_id, server_session_id] {
        h.update((s.len() as u16).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.finalize().to_vec()
}

/// A Java `Pattern` used with `matches()`: `\Q…\E` quoting translated, anchored.
pub fn java_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("\\Q") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let (quoted, next) = match after.find("\\E") {
            Some(end) => (&after[..end], &after[end + 2..]),
            None => (after, ""),
        };
        out.push_str(&regex::escape(quoted));
        rest = next;
    }
    out.push_str(rest);
    regex::Regex::new(&format!("^(?:{out})$")).map_err(|e| format!("bad regular expression: {e}"))
}

/// A search filter ready to be evaluated.
pub struct CompiledFilter {
    filter: SearchFilter,
    issuer: Option<regex::Regex>,
    subject: Option<regex::Regex>,
    email: Option<regex::Regex>,
}

const KEY_USAGES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

fn check_rules(
    rules: &Option<crate::messages::NonEmpty<String>>,
    what: &str,
    valid: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for r in each(rules) {
        let name = r.strip_prefix('-').unwrap_or(r);
        if !valid(name) {
            return Err(format!("bad {what} rule \"{r}\""));
        }
        if !seen.insert(name.to_string()) {
            return Err(format!("duplicate {what} rule \"{name}\""));
        }
    }
    Ok(())
}

fn is_oid(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
        })
}

impl CompiledFilter {
    /// Validates and compiles a filter (any error rejects the whole request).
    pub fn new(filter: &SearchFilter) -> Result<Self, String> {
        let re = |p: &Option<String>| p.as_deref().map(java_regex).transpose();
        check_rules(&filter.policy_rules, "policy", &is_oid)?;
        check_rules(
            &filter.extended_key_usage_rules,
            "extended key usage",
            &is_oid,
        )?;
        check_rules(&filter.key_usage_rules, "key usage", &|n| {
            KEY_USAGES.contains(&n)
        })?;
        if let Some(s) = &filter.serial_number {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad serialNumber \"{s}\""));
            }
        }
        Ok(Self {
            issuer: re(&filter.issuer_reg_ex)?,
            subject: re(&filter.subject_reg_ex)?,
            email: re(&filter.email_reg_ex)?,
            filter: filter.clone(),
        })
    }

    /// The grouping condition, checked by the caller with getKeyProtectionInfo.
    pub fn grouping(&self) -> Option<crate::types::Grouping> {
        self.filter.grouping
    }

    /// The appUsage condition, checked by the caller with getKeyAttributes.
    pub fn app_usage(&self) -> Option<crate::types::AppUsage> {
        self.filter.app_usage
    }

    /// Whether the certificate conditions hold for `path` (DER, EE first).
    pub fn matches(&self, path: &[Vec<u8>]) -> bool {
        let certs: Vec<Certificate> = match path.iter().map(|c| Certificate::from_der(c)).collect()
        {
            Ok(c) => c,
            Err(_) => return false,
        };
        let Some(ee) = certs.first() else {
            return false;
        };
        let f = &self.filter;
        if let Some(fp) = &f.finger_print {
            if !path.iter().any(|c| Sha256::digest(c).as_slice() == &fp[..]) {
                return false;
            }
        }
        if let Some(re) = &self.issuer {
            if !certs
                .iter()
                .any(|c| re.is_match(&rfc2253(c.tbs_certificate().issuer())))
            {
                return false;
            }
        }
        if let Some(sn) = &f.serial_number {
            if decimal(ee.tbs_certificate().serial_number().as_bytes()) != *sn {
                return false;
            }
        }
        if let Some(re) = &self.subject {
            if !re.is_match(&rfc2253(ee.tbs_certificate().subject())) {
                return false;
            }
        }
        if let Some(re) = &self.email {
            if !emails(ee).iter().any(|e| re.is_match(e)) {
                return false;
            }
        }
        let not_before = ee
            .tbs_certificate()
            .validity()
            .not_before
            .to_unix_duration()
            .as_secs() as i64;
        if f.issued_before
            .as_ref()
            .is_some_and(|t| not_before > t.unix_seconds())
        {
            return false;
        }
        if f.issued_after
            .as_ref()
            .is_some_and(|t| not_before < t.unix_seconds())
        {
            return false;
        }
        if f.key_usage_rules.is_some() {
            match key_usages(ee) {
                Some(ku) if rules_hold(&f.key_usage_rules, &ku) => {}
                _ => return false,
            }
        }
        if f.extended_key_usage_rules.is_some() {
            match ext_oids(ee, EKU) {
                Some(v) if rules_hold(&f.extended_key_usage_rules, &v) => {}
                _ => return false,
            }
        }
        if f.policy_rules.is_some() {
            match ext_oids(ee, POLICIES) {
                Some(v) if rules_hold(&f.policy_rules, &v) => {}
                _ => return false,
            }
        }
        true
    }
}

/// Every present item must not be forbidden, and every required one must be present.
fn rules_hold(rules: &Option<crate::messages::NonEmpty<String>>, present: &[String]) -> bool {
    each(rules).all(|r| match r.strip_prefix('-') {
        Some(forbidden) => !present.iter().any(|p| p == forbidden),
        None => present.iter().any(|p| p == r),
    })
}

const EKU: &str = "2.5.29.37";
const POLICIES: &str = "2.5.29.32";
const KEY_USAGE: &str = "2.5.29.15";
const SAN: &str = "2.5.29.17";

fn extension<'a>(c: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    c.tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

fn key_usages(c: &Certificate) -> Option<Vec<String>> {
    let raw = extension(c, KEY_USAGE)?;
    let bits = der::asn1::BitString::from_der(raw).ok()?;
    Some(
        KEY_USAGES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits.bits().nth(*i).unwrap_or(false))
            .map(|(_, n)| n.to_string())
            .collect(),
    )
}

fn ext_oids(c: &Certificate, oid: &str) -> Option<Vec<String>> {
    let raw = extension(c, oid)?;
    if oid == EKU {
        let v = Vec::<der::asn1::ObjectIdentifier>::from_der(raw).ok()?;
        Some(v.iter().map(ToString::to_string).collect())
    } else {
        let v = x509_cert::ext::pkix::CertificatePolicies::from_der(raw).ok()?;
        Some(
            v.0.iter()
                .map(|p| p.policy_identifier.to_string())
                .collect(),
        )
    }
}

fn emails(c: &Certificate) -> Vec<String> {
    let mut out = Vec::new();
    for rdn in c.tbs_certificate().subject().iter_rdn() {
        for atv in rdn.iter() {
            if atv.oid.to_string() == "1.2.840.113549.1.9.1" {
                out.push(String::from_utf8_lossy(atv.value.value()).into_owned());
            }
        }
    }
    if let Some(raw) = extension(c, SAN) {
        if let Ok(san) = x509_cert::ext::pkix::SubjectAltName::from_der(raw) {
            for n in san.0 {
                if let x509_cert::ext::pkix::name::GeneralName::Rfc822Name(s) = n {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

/// An unsigned big-endian integer in decimal.
fn decimal(be: &[u8]) -> String {
    let mut digits = vec![0u8]; // little-endian base 10
    for &byte in be {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// A name as Java's `X500Principal.getName()` writes it (RFC 2253): RDNs in reverse order,
/// CN, C, L, ST, O, OU, STREET, DC and UID by keyword, other attributes as `OID=#hex(DER)`.
pub fn rfc2253(name: &x509_cert::name::Name) -> String {
    let keyword = |oid: &str| -> Option<&'static str> {
        Some(match oid {
            "2.5.4.3" => "CN",
            "2.5.4.6" => "C",
            "2.5.4.7" => "L",
            "2.5.4.8" => "ST",
            "2.5.4.10" => "O",
            "2.5.4.11" => "OU",
            "2.5.4.9" => "STREET",
            "0.9.2342.19200300.100.1.25" => "DC",
            "0.9.2342.19200300.100.1.1" => "UID",
            _ => return None,
        })
    };
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.oid.to_string();
                    match keyword(&oid) {
                        Some(k) => format!(
                            "{k}={}",
                            escape(&String::from_utf8_lossy(atv.value.value()))
                        ),
                        None => {
                            let der = atv.value.to_der().unwrap_or_default();
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{oid}=#{hex}")
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(v: &str) -> String {
    let mut out = String::new();
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = ",+\"\\<>;".contains(c)
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_regexes() {
        let r = java_regex("\\Qjohn.doe@example.com\\E").unwrap();
        assert!(r.is_match("john.doe@example.com"));
        assert!(!r.is_match("johnxdoe@example.com"));
        assert!(!r.is_match("xjohn.doe@example.com"));
        assert!(java_regex("CN=.*").unwrap().is_match("CN=John"));
        assert!(java_regex("(").is_err());
    }

    #[test]
    fn decimal_serials() {
        assert_eq!(decimal(&[0x7b]), "123");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(decimal(&[0]), "0");
    }
}
