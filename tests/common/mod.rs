//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared` (or `$ECS_GITOPS_SHARED`): the ECS model and the real-world corpus. Outside CI
/// a checkout without it skips the tests that need it, loudly; in CI its absence fails.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ECS_GITOPS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("reference").is_dir() && dir.join("realworld").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: CI must have shared/ beside the checkout",
        dir.display()
    );
    eprintln!(
        "!!! SKIPPED: {} not found: set ECS_GITOPS_SHARED to check against it",
        dir.display()
    );
    None
}
