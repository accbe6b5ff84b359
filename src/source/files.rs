//! Manifests on disk: files and directories (recursive), `.yaml`, `.yml` and `.json`.
//! A problem with one entry (unreadable, too large, not UTF-8, a dangling symlink) is
//! reported on that entry; the rest is still read.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{content_revision, decode, is_manifest, parse_files, problem};
use crate::api::{Diagnostic, Parsed, Severity};

/// Reads and validates every manifest under `paths`, as one revision; the revision id is a
/// hash of the files' names and contents. Files over `max_file_size` bytes are not read.
pub fn load(paths: &[PathBuf], max_file_size: u64) -> Parsed {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let mut found = Vec::new();
        collect(path, true, &mut found, &mut problems, &mut BTreeSet::new());
        for file in found {
            match read(&file, max_file_size) {
                Ok(text) => files.push((file.display().to_string(), text)),
                Err(problem) => problems.push(problem),
            }
        }
    }
    let revision = content_revision(&files);
    let mut parsed = parse_files(files);
    parsed.diagnostics.extend(problems);
    parsed.revision = revision;
    parsed
}

/// A file's text, at most `max` bytes of it, or why it cannot be used.
fn read(path: &Path, max: u64) -> Result<String, Diagnostic> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max.saturating_add(1)).read_to_end(&mut bytes))
        .map_err(|e| unreadable(path, &e))?;
    decode(&name, bytes, max)
}

/// Manifest files under `path` in a stable order; hidden entries (`.git`) are skipped.
/// A file named explicitly is read whatever its extension. `visited` holds the directories
/// already walked (canonical), so a symlink back up the tree is not followed round.
fn collect(
    path: &Path,
    explicit: bool,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Diagnostic>,
    visited: &mut BTreeSet<PathBuf>,
) {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) => {
            problems.push(entry_problem(path, explicit, &e));
            return;
        }
    };
    if metadata.is_file() {
        if explicit || is_manifest(&path.to_string_lossy()) {
            files.push(path.to_path_buf());
        }
        return;
    }
    let Ok(canonical) = std::fs::canonicalize(path) else {
        return;
    };
    if !visited.insert(canonical.clone()) {
        problems.push(problem(
            Severity::Warning,
            &path.display().to_string(),
            format!(
                "skipped: a symlink loop back to {} (already read)",
                canonical.display()
            ),
        ));
        return;
    }
    let entries =
        std::fs::read_dir(path).and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect());
    let mut entries: Vec<PathBuf> = match entries {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(unreadable(path, &e));
            return;
        }
    };
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
        collect(&entry, false, files, problems, visited);
    }
    visited.remove(&canonical);
}

/// An entry that cannot be followed. Named explicitly or named like a manifest, it is an
/// error (a manifest would be missing from the revision); otherwise a warning.
fn entry_problem(path: &Path, explicit: bool, error: &std::io::Error) -> Diagnostic {
    let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let message = match (dangling, std::fs::read_link(path)) {
        (true, Ok(target)) if error.kind() == std::io::ErrorKind::NotFound => {
            format!("dangling symlink to {}", target.display())
        }
        (true, _) => format!("cannot follow this symlink: {error}"),
        (false, _) if error.kind() == std::io::ErrorKind::NotFound => {
            "no such file or directory".to_string()
        }
        (false, _) => format!("cannot read: {error}"),
    };
    if explicit || is_manifest(&path.to_string_lossy()) {
        problem(Severity::Error, &path.display().to_string(), message)
    } else {
        problem(
            Severity::Warning,
            &path.display().to_string(),
            format!("skipped: {message}"),
        )
    }
}

fn unreadable(path: &Path, error: &std::io::Error) -> Diagnostic {
    problem(
        Severity::Error,
        &path.display().to_string(),
        format!("cannot read: {error}"),
    )
}
