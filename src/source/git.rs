//! A Git repository: fetched into a bare cache repository with git2, the manifests read
//! straight from the commit's tree (no working tree, so no half-written checkout is ever read).
//! `https://` (token or user/password), `ssh://` and scp-style (key file, host key checked
//! against known_hosts), `git://` and `file://`. Credentials never reach logs or errors.

use std::path::PathBuf;

use git2::{
    AutotagOption, Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository, TreeWalkMode,
    TreeWalkResult,
};
use sha2::{Digest, Sha256};

use super::{decode, is_manifest, parse_files, too_large};
use crate::api::secret::MASK;
use crate::api::{Diagnostic, Parsed};

#[derive(Clone, Debug, Default)]
pub struct GitAuth {
    /// For https: a token (GitHub, GitLab) or a password.
    pub token: Option<String>,
    /// For https basic auth with `token`; `x-access-token` when unset.
    pub username: Option<String>,
    /// For ssh: a private key file.
    pub ssh_key: Option<PathBuf>,
    /// For ssh: a known_hosts file the server's key must be in (default ~/.ssh/known_hosts).
    pub known_hosts: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct GitConfig {
    pub url: String,
    /// A branch, tag or commit; the default branch (main, else master) when unset.
    pub reference: Option<String>,
    /// A directory of the repository to read; the whole tree when unset.
    pub path: Option<String>,
    /// Where the bare cache repositories live.
    pub cache: PathBuf,
    pub auth: GitAuth,
}

/// The commit a revision came from, as people know it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    pub id: String,
    /// The branch, tag or commit followed, as it was found (`main`).
    pub reference: String,
    /// The message's first line.
    pub summary: String,
    /// The author's name.
    pub author: String,
    /// The commit's time, Unix seconds.
    pub time: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{reference:?} is not a branch, tag or commit of {url}")]
    Reference { url: String, reference: String },
    #[error("reading {path:?} at {commit}: {message}")]
    Read {
        commit: String,
        path: String,
        message: String,
    },
}

/// The URL without credentials, for messages: no `user:password@`, and the query string's
/// values (`?private_token=…`) masked.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://{host}")
            }
            _ => base.to_string(),
        },
        None => base.to_string(),
    };
    if let Some(query) = query {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}={MASK}"),
                None => MASK.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

impl GitConfig {
    fn cache_dir(&self) -> PathBuf {
        let digest: String = Sha256::digest(self.url.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        self.cache.join(format!("{digest}.git"))
    }

    /// Fetches and reads the manifests at the reference, as one revision (the commit id),
    /// and the commit. Files over `max_file_size` bytes are reported, not read. Blocking:
    /// call it from `spawn_blocking`.
    pub fn fetch(&self, max_file_size: u64) -> Result<(Parsed, Commit), GitError> {
        let url = redact(&self.url);
        // libgit2's messages may quote the URL as given.
        let fetch_error = |e: git2::Error| GitError::Fetch {
            url: url.clone(),
            message: e.message().replace(&self.url, &url),
        };
        let dir = self.cache_dir();
        let repo = match Repository::open_bare(&dir) {
            Ok(repo) => repo,
            Err(_) => Repository::init_bare(&dir).map_err(fetch_error)?,
        };
        let mut remote = repo.remote_anonymous(&self.url).map_err(fetch_error)?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks());
        options.prune(git2::FetchPrune::On);
        options.download_tags(AutotagOption::All);
        // Forced: a rewritten branch replaces the cached one.
        remote
            .fetch(
                &[
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                Some(&mut options),
                None,
            )
            .map_err(fetch_error)?;
        let (reference, commit) = self.resolve(&repo)?;
        let mut problems = Vec::new();
        let files = self.read_tree(&repo, &commit, max_file_size, &mut problems)?;
        let mut parsed = parse_files(files);
        parsed.diagnostics.extend(problems);
        parsed.revision = commit.id().to_string();
        let about = Commit {
            id: commit.id().to_string(),
            reference,
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
            author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
            time: commit.time().seconds(),
        };
        Ok((parsed, about))
    }

    /// The commit the reference names, and the reference's short name.
    fn resolve<'r>(&self, repo: &'r Repository) -> Result<(String, git2::Commit<'r>), GitError> {
        let candidates: Vec<String> = match &self.reference {
            Some(reference) => vec![
                format!("refs/remotes/origin/{reference}"),
                format!("refs/tags/{reference}"),
                reference.clone(),
            ],
            None => vec![
                "refs/remotes/origin/main".into(),
                "refs/remotes/origin/master".into(),
            ],
        };
        candidates
            .iter()
            .find_map(|c| {
                let commit = repo.revparse_single(c).ok()?.peel_to_commit().ok()?;
                let name = c
                    .trim_start_matches("refs/remotes/origin/")
                    .trim_start_matches("refs/tags/");
                Some((name.to_string(), commit))
            })
            .ok_or_else(|| GitError::Reference {
                url: redact(&self.url),
                reference: self.reference.clone().unwrap_or_else(|| "main".into()),
            })
    }

    /// The manifests of the commit's tree (under `path`); the files that cannot be used go
    /// to `problems`.
    fn read_tree(
        &self,
        repo: &Repository,
        commit: &git2::Commit,
        max_file_size: u64,
        problems: &mut Vec<Diagnostic>,
    ) -> Result<Vec<(String, String)>, GitError> {
        let read_error = |message: String| GitError::Read {
            commit: commit.id().to_string(),
            path: self.path.clone().unwrap_or_default(),
            message,
        };
        let mut tree = commit
            .tree()
            .map_err(|e| read_error(e.message().to_string()))?;
        let prefix = self
            .path
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty());
        if let Some(path) = prefix {
            let entry = tree
                .get_path(std::path::Path::new(path))
                .map_err(|e| read_error(e.message().to_string()))?;
            tree = entry
                .to_object(repo)
                .and_then(|o| o.peel_to_tree())
                .map_err(|e| read_error(e.message().to_string()))?;
        }
        let odb = repo
            .odb()
            .map_err(|e| read_error(e.message().to_string()))?;
        let mut files = Vec::new();
        let mut failure = None;
        tree.walk(TreeWalkMode::PreOrder, |root, entry| {
            let name = entry.name().unwrap_or_default();
            if entry.kind() != Some(git2::ObjectType::Blob)
                || !is_manifest(name)
                || root.split('/').any(|p| p.starts_with('.'))
            {
                return TreeWalkResult::Ok;
            }
            let full = match prefix {
                Some(p) => format!("{p}/{root}{name}"),
                None => format!("{root}{name}"),
            };
            // The size from the object's header: a huge blob is never loaded.
            let read = odb.read_header(entry.id()).and_then(|(size, _)| {
                if size as u64 > max_file_size {
                    return Ok(Err(too_large(&full, max_file_size)));
                }
                let blob = repo.find_blob(entry.id())?;
                Ok(decode(&full, blob.content().to_vec(), max_file_size))
            });
            match read {
                Ok(Ok(text)) => files.push((full, text)),
                Ok(Err(problem)) => problems.push(problem),
                Err(e) => failure = Some(e.message().to_string()),
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| read_error(e.message().to_string()))?;
        match failure {
            Some(message) => Err(read_error(message)),
            None => Ok(files),
        }
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let auth = &self.auth;
        callbacks.credentials(move |_url, username, allowed| {
            if allowed.contains(CredentialType::SSH_KEY)
                && let Some(key) = &auth.ssh_key
            {
                return Cred::ssh_key(username.unwrap_or("git"), None, key, None);
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && let Some(token) = &auth.token
            {
                return Cred::userpass_plaintext(
                    auth.username.as_deref().unwrap_or("x-access-token"),
                    token,
                );
            }
            Err(git2::Error::from_str(
                "the server asks for credentials: set a token (https) or a key (ssh)",
            ))
        });
        // Host keys are always checked for ssh: against the given file, else ~/.ssh/known_hosts.
        let default_known_hosts =
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ssh/known_hosts"));
        if let Some(known_hosts) = auth.known_hosts.clone().or(default_known_hosts) {
            callbacks.certificate_check(move |cert, host| {
                let Some(hostkey) = cert.as_hostkey().and_then(|k| k.hostkey()) else {
                    return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
                };
                if known(&known_hosts, host, hostkey) {
                    Ok(git2::CertificateCheckStatus::CertificateOk)
                } else {
                    Err(git2::Error::from_str(&format!(
                        "the host key of {host} is not in {}",
                        known_hosts.display()
                    )))
                }
            });
        }
        callbacks
    }
}

/// Whether `known_hosts` lists `key` for `host` (plain host names; `[host]:port` too).
fn known(known_hosts: &std::path::Path, host: &str, key: &[u8]) -> bool {
    use base64::Engine;
    let Ok(text) = std::fs::read_to_string(known_hosts) else {
        return false;
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    text.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        hosts
            .split(',')
            .any(|h| h == host || h.trim_start_matches('[').split(']').next() == Some(host))
            && value == encoded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_leave_the_url() {
        assert_eq!(
            redact("https://x-access-token:ghp_secret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            redact("https://github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            redact("git://127.0.0.1:9418/repo"),
            "git://127.0.0.1:9418/repo"
        );
        assert_eq!(
            redact("https://gitlab.example.com/org/repo.git?private_token=glpat-s3cr3t&x"),
            "https://gitlab.example.com/org/repo.git?private_token=***&***"
        );
        assert_eq!(
            redact("https://u:p@host/r.git?access_token=t@k"),
            "https://host/r.git?access_token=***"
        );
    }
}
