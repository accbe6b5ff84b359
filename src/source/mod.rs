//! Sources of desired state. Each yields whole revisions: all the manifests of a directory,
//! file or commit, validated together, or nothing.

pub mod dir;
pub mod files;
pub mod git;

use sha2::{Digest, Sha256};

use crate::api::{Diagnostic, Parsed, Severity, parse_file};

/// How large a manifest file may be unless `--max-file-size` says otherwise: far above any
/// real manifest (ECS takes 64 KiB per task definition), low enough that memory stays
/// bounded whatever is committed.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// A problem with a whole file.
pub fn problem(severity: Severity, file: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity,
        file: file.to_string(),
        line: 0,
        column: 0,
        object: None,
        field: None,
        message,
    }
}

/// A file over the size limit.
pub fn too_large(file: &str, max: u64) -> Diagnostic {
    problem(
        Severity::Error,
        file,
        format!("the file is larger than {max} bytes, the limit (--max-file-size): not read"),
    )
}

/// A manifest file's bytes as text: at most `max` bytes, and UTF-8 (the first bad byte is
/// located by offset and line).
pub fn decode(file: &str, bytes: Vec<u8>, max: u64) -> Result<String, Diagnostic> {
    if bytes.len() as u64 > max {
        return Err(too_large(file, max));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count();
        let column = 1 + offset
            - bytes[..offset]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1);
        Diagnostic {
            line,
            column,
            ..problem(
                Severity::Error,
                file,
                format!(
                    "not UTF-8: invalid byte 0x{:02x} at byte offset {offset}",
                    bytes[offset]
                ),
            )
        }
    })
}

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
