//! Sources of desired state. Each yields whole revisions: all the manifests of a directory,
//! file or commit, validated together, or nothing.

pub mod files;
