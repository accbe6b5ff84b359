//! Sources of desired state. Each yields whole revisions: all the manifests of a directory,
//! file or commit, validated together, or nothing.

pub mod dir;
pub mod files;
pub mod git;

use sha2::{Digest, Sha256};

use crate::api::{Parsed, parse_file};

/// Manifest files a source holds: (name, text), any order.
pub fn parse_files(mut files: Vec<(String, String)>) -> Parsed {
    files.sort();
    let mut parsed = Parsed::default();
    for (name, text) in &files {
        parsed.extend(parse_file(name, text));
    }
    parsed.check_rules();
    parsed
}

/// A content hash of manifest files, as a revision id.
pub fn content_revision(files: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut digest = Sha256::new();
    for (name, text) in sorted {
        digest.update(name.as_bytes());
        digest.update([0]);
        digest.update(text.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("files:{hex}")
}

/// Whether a file name is a manifest's.
pub fn is_manifest(name: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}
