//! Every message of the Java reference transcripts (`tests/transcripts/`, copied from
//! `shared/keygen2/transcripts`) parses, and what the crate writes from the parsed value equals
//! the original under RFC 8785 canonicalization. The lookup signatures verify.

use keygen2::jcs;
use keygen2::messages::each;
use keygen2::Message;
use std::path::PathBuf;

fn transcript_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    assert!(
        dir.is_dir(),
        "transcripts missing at {} (copy of shared/keygen2/transcripts)",
        dir.display()
    );
    dir
}

fn all_messages() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for run in std::fs::read_dir(transcript_dir()).unwrap() {
        let run = run.unwrap().path();
        if !run.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&run).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                let name = format!(
                    "{}/{}",
                    run.file_name().unwrap().to_string_lossy(),
                    f.file_name().unwrap().to_string_lossy()
                );
                out.push((name, std::fs::read_to_string(&f).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_transcript_parses_and_round_trips() {
    let all = all_messages();
    assert_eq!(all.len(), 338, "the 338 transcript messages");
    for (name, text) in &all {
        let m = Message::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let qualifier_in_name = name.split('-').nth(1).unwrap().trim_end_matches(".json");
        assert_eq!(m.qualifier(), qualifier_in_name, "{name}");
        let written = m.to_json();
        assert_eq!(
            jcs::canonicalize_text(&written).unwrap(),
            jcs::canonicalize_text(text).unwrap(),
            "{name}: written form differs"
        );
        // And what we write parses again to the same value.
        assert_eq!(Message::parse(&written).unwrap(), m, "{name}");
    }
}

#[test]
fn every_lookup_signature_verifies() {
    let mut n = 0;
    for (name, text) in all_messages() {
        if let Message::CredentialDiscoveryRequest(r) = Message::parse(&text).unwrap() {
            for l in r.lookup_specifiers.iter() {
                jcs::verify_lookup_signature(l).unwrap_or_else(|e| panic!("{name} {}: {e}", l.id));
                assert_eq!(
                    l.nonce.0,
                    keygen2::proxy::discovery::lookup_nonce(
                        r.client_session_id.as_str(),
                        r.server_session_id.as_str()
                    ),
                    "{name}: nonce"
                );
                // A changed filter breaks the signature.
                let mut t = l.clone();
                t.id = keygen2::Id::new("Lookup.X").unwrap();
                assert!(jcs::verify_lookup_signature(&t).is_err());
                n += 1;
            }
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn key_creation_walk_order() {
    let text =
        std::fs::read_to_string(transcript_dir().join("InputMethod.1/05-KeyCreationRequest.json"))
            .unwrap();
    let Message::KeyCreationRequest(r) = Message::parse(&text).unwrap() else {
        panic!("not a KeyCreationRequest")
    };
    let keys = r.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].puk.unwrap().id.as_str(), "PUK.1");
    assert_eq!(keys[0].pin.unwrap().id.as_str(), "PIN.1");
    assert!(each(&r.key_entry_specifiers).next().is_none());
}

#[test]
fn every_issued_certificate_path_checks() {
    let mut n = 0;
    for (name, text) in all_messages() {
        if let Message::ProvisioningFinalizationRequest(r) = Message::parse(&text).unwrap() {
            for c in each(&r.issued_credentials) {
                let path: Vec<Vec<u8>> = c.certificate_path.iter().map(|b| b.0.clone()).collect();
                keygen2::proxy::certpath::check_path(&path, c.trust_anchor.unwrap_or(false))
                    .unwrap_or_else(|e| panic!("{name} {}: {e}", c.id));
                if path.len() > 1 {
                    // Out of order: refused.
                    let mut rev = path.clone();
                    rev.reverse();
                    assert!(
                        keygen2::proxy::certpath::check_path(&rev, false).is_err(),
                        "{name}"
                    );
                }
                n += 1;
            }
        }
    }
    assert!(n >= 39, "{n} credentials");
}

/// The reference proxy's discovery answers, re-checked with our filters: every credential it
/// returned for a lookup matches that lookup's certificate conditions here too, and the
/// never-matching Lookup.4 matches none of them.
#[test]
fn discovery_filters_agree_with_the_reference() {
    use keygen2::proxy::discovery::CompiledFilter;
    let all = all_messages();
    let mut checked = 0;
    for (name, text) in &all {
        let Message::CredentialDiscoveryRequest(req) = Message::parse(text).unwrap() else {
            continue;
        };
        let run = name.split('/').next().unwrap();
        let resp = all
            .iter()
            .find(|(n, _)| n.starts_with(run) && n.contains("CredentialDiscoveryResponse"))
            .map(|(_, t)| t)
            .unwrap();
        let Message::CredentialDiscoveryResponse(resp) = Message::parse(resp).unwrap() else {
            panic!("{run}");
        };
        let paths: Vec<Vec<Vec<u8>>> = resp
            .lookup_results
            .iter()
            .flat_map(|r| r.matching_credentials.iter())
            .map(|m| m.certificate_path.iter().map(|c| c.0.clone()).collect())
            .collect();
        for (l, r) in req.lookup_specifiers.iter().zip(resp.lookup_results.iter()) {
            let f = CompiledFilter::new(&l.search_filter.clone().unwrap_or_default()).unwrap();
            for m in &r.matching_credentials {
                let path: Vec<Vec<u8>> = m.certificate_path.iter().map(|c| c.0.clone()).collect();
                assert!(
                    f.matches(&path),
                    "{run} {}: a reference match does not match",
                    l.id
                );
                checked += 1;
            }
            // Lookup.3 (jane.doe) shares Lookup.2's (john.doe) key: none of those match it.
            if l.id.as_str() == "Lookup.3" {
                let two = &resp.lookup_results[1];
                for m in &two.matching_credentials {
                    let path: Vec<Vec<u8>> =
                        m.certificate_path.iter().map(|c| c.0.clone()).collect();
                    assert!(!f.matches(&path), "{run}: Lookup.3 matched john.doe");
                }
            }
            if l.id.as_str() == "Lookup.4" {
                assert!(
                    paths.iter().all(|p| !f.matches(p)),
                    "{run}: Lookup.4 matched"
                );
            }
        }
    }
    assert!(checked > 0);
}
