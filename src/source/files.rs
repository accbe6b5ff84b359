//! Manifests on disk: files and directories (recursive), `.yaml`, `.yml` and `.json`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::api::{Diagnostic, Parsed, Severity, parse_file};

const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Reads and validates every manifest under `paths`, as one revision; the revision id is a
/// hash of the files' names and contents.
pub fn load(paths: &[PathBuf]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut digest = Sha256::new();
    for path in paths {
        let mut files = Vec::new();
        if let Err(e) = collect(path, true, &mut files) {
            parsed.diagnostics.push(unreadable(path, &e));
        }
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    digest.update(file.display().to_string());
                    digest.update([0]);
                    digest.update(&text);
                    parsed.extend(parse_file(&file.display().to_string(), &text));
                }
                Err(e) => parsed.diagnostics.push(unreadable(&file, &e)),
            }
        }
    }
    parsed.check_rules();
    let hex: String = digest
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    parsed.revision = format!("files:{hex}");
    parsed
}

/// Manifest files under `path` in a stable order; hidden directories (`.git`) are skipped.
/// A file named explicitly is read whatever its extension.
fn collect(path: &Path, explicit: bool, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        let manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e));
        if explicit || manifest {
            files.push(path.to_path_buf());
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            tracing::debug!(path = %entry.display(), "skipping hidden entry");
            continue;
        }
        collect(&entry, false, files)?;
    }
    Ok(())
}

fn unreadable(path: &Path, error: &std::io::Error) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: path.display().to_string(),
        line: 0,
        column: 0,
        object: None,
        field: None,
        message: format!("cannot read: {error}"),
    }
}
