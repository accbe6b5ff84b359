//! Manifests on disk: files and directories (recursive), `.yaml`, `.yml` and `.json`.

use std::path::{Path, PathBuf};

use super::{content_revision, is_manifest, parse_files};
use crate::api::{Diagnostic, Parsed, Severity};

/// Reads and validates every manifest under `paths`, as one revision; the revision id is a
/// hash of the files' names and contents.
pub fn load(paths: &[PathBuf]) -> Parsed {
    let mut files = Vec::new();
    let mut unreadable_paths = Vec::new();
    for path in paths {
        let mut found = Vec::new();
        if let Err(e) = collect(path, true, &mut found) {
            unreadable_paths.push(unreadable(path, &e));
        }
        for file in found {
            match std::fs::read_to_string(&file) {
                Ok(text) => files.push((file.display().to_string(), text)),
                Err(e) => unreadable_paths.push(unreadable(&file, &e)),
            }
        }
    }
    let revision = content_revision(&files);
    let mut parsed = parse_files(files);
    parsed.diagnostics.extend(unreadable_paths);
    parsed.revision = revision;
    parsed
}

/// Manifest files under `path` in a stable order; hidden directories (`.git`) are skipped.
/// A file named explicitly is read whatever its extension.
fn collect(path: &Path, explicit: bool, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        if explicit || is_manifest(&path.to_string_lossy()) {
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
