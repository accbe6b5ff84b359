//! Errors about reaching ECS at all — credentials, the endpoint, expired or refused tokens,
//! IAM permissions — told with what the client was set up with (the region and where it came
//! from, the endpoint, the profile) and what to do. They never carry the SDK's `Debug` text
//! or a credential.

use std::error::Error as StdError;
use std::fmt;

use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;
use aws_credential_types::provider::error::CredentialsError;

/// How to go on without credentials: a profile, or the embedded simulator.
const GET_CREDENTIALS: &str = "use a profile (AWS_PROFILE=NAME; `aws configure` creates one), or try ecs-gitops on its embedded ECS simulator with --local";

/// Where the region in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionSource {
    Flag,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`.
    Environment(&'static str),
    Profile(String),
    InstanceMetadata,
    /// Nothing set it: the SDK's fallback.
    Fallback,
    /// The manifest's `region`, for an object outside the default region.
    Manifest,
}

/// A region and where it came from, as messages show it: `us-east-1 (from AWS_REGION)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInUse {
    pub name: String,
    pub source: RegionSource,
}

impl fmt::Display for RegionInUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.source {
            RegionSource::Flag => write!(f, "{name} (from --region)"),
            RegionSource::Environment(variable) => write!(f, "{name} (from {variable})"),
            RegionSource::Profile(profile) => write!(f, "{name} (from profile {profile:?})"),
            RegionSource::InstanceMetadata => write!(f, "{name} (from EC2 instance metadata)"),
            RegionSource::Fallback => write!(f, "{name} (the default: none is configured)"),
            RegionSource::Manifest => write!(f, "{name} (the object's region)"),
        }
    }
}

/// The region the SDK uses when nothing names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// The variable `--endpoint-url` is also read from.
const ENDPOINT_VARIABLE: &str = "ECS_GITOPS_ENDPOINT_URL";

/// The region as the SDK's default chain finds it — the environment, the profile, EC2
/// instance metadata — and where it was found.
pub async fn find_region() -> (Option<String>, RegionSource) {
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = std::env::var(variable).ok().filter(|r| !r.is_empty()) {
            return (Some(region), RegionSource::Environment(variable));
        }
    }
    if let Some(region) = ProfileFileRegionProvider::new().region().await {
        return (
            Some(region.to_string()),
            RegionSource::Profile(profile_name()),
        );
    }
    match ImdsRegionProvider::builder().build().region().await {
        Some(region) => (Some(region.to_string()), RegionSource::InstanceMetadata),
        None => (None, RegionSource::Fallback),
    }
}

/// The endpoint calls in `region` go to, `flag` being `--endpoint-url`'s value, and what
/// chose it (the SDK reads the same variables).
pub fn endpoint(flag: Option<&str>, region: &str) -> Endpoint {
    let from_env = |variable: &'static str| {
        std::env::var(variable)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|url| (url, variable))
    };
    let chosen = match flag {
        Some(url) if from_env(ENDPOINT_VARIABLE).is_some_and(|(v, _)| v == url) => {
            Some((url.to_string(), ENDPOINT_VARIABLE))
        }
        Some(url) => Some((url.to_string(), "--endpoint-url")),
        None => from_env("AWS_ENDPOINT_URL_ECS").or_else(|| from_env("AWS_ENDPOINT_URL")),
    };
    match chosen {
        Some((url, set_by)) => Endpoint {
            url,
            set_by: Some(set_by),
        },
        None => Endpoint {
            url: format!("https://ecs.{region}.amazonaws.com"),
            set_by: None,
        },
    }
}

/// The ECS endpoint and who chose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// The flag or variable that set it; `None` for AWS's own endpoint of the region.
    pub set_by: Option<&'static str>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.set_by {
            Some(by) => write!(f, "{} (from {by})", self.url),
            None => write!(f, "{}", self.url),
        }
    }
}

/// ECS cannot be used at all from here: nothing about one object or call is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The SDK's default chain, in its order, found nothing.
    #[error(
        "no AWS credentials found (tried the environment, profile {profile:?}, web identity, ECS container and EC2 instance metadata); region {region}\n  {GET_CREDENTIALS}"
    )]
    NoCredentials {
        profile: String,
        region: RegionInUse,
    },
    #[error("cannot load AWS credentials: {reason}; region {region}\n  {GET_CREDENTIALS}")]
    Credentials { reason: String, region: RegionInUse },
    #[error(
        "cannot reach ECS at {endpoint}: {reason}\n  {}",
        unreachable_advice(endpoint)
    )]
    Unreachable { endpoint: Endpoint, reason: String },
    #[error(
        "the AWS credentials have expired: ecs:{operation} in {region} answered {code} ({message})\n  renew them (`aws sso login`, or a new AWS_SESSION_TOKEN) and run again"
    )]
    Expired {
        operation: &'static str,
        region: RegionInUse,
        code: String,
        message: String,
    },
    #[error(
        "AWS does not accept these credentials: ecs:{operation} in {region} answered {code} ({message})\n  check the access key and its secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile's)"
    )]
    Rejected {
        operation: &'static str,
        region: RegionInUse,
        code: String,
        message: String,
    },
    #[error(
        "cannot assume the role of account {account}: {reason}\n  check the accounts file's roleArn and externalId, the role's trust policy (manifests/aws/account-role-trust-policy.json) and that the controller may assume it (manifests/aws/assume-roles-policy.json)"
    )]
    Role { account: String, reason: String },
    #[error(
        "AWS denied ecs:{operation} in {region}: {message}\n  allow ecs:{operation} in the IAM policy of the identity in use: manifests/aws/iam-policy.json lists every ECS action ecs-gitops calls"
    )]
    Denied {
        operation: &'static str,
        region: RegionInUse,
        message: String,
    },
}

fn unreachable_advice(endpoint: &Endpoint) -> String {
    match endpoint.set_by {
        Some(by) => format!(
            "check the URL and that something serves ECS there, or leave {by} out to use AWS's endpoint"
        ),
        None => "check the network (and HTTPS_PROXY) between here and AWS".to_string(),
    }
}

impl AccessError {
    /// Whether ECS answered with it: expired, rejected or denied.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            AccessError::Expired { .. } | AccessError::Rejected { .. } | AccessError::Denied { .. }
        )
    }

    pub fn code(&self) -> &str {
        match self {
            AccessError::NoCredentials { .. } => "NoCredentials",
            AccessError::Credentials { .. } => "Credentials",
            AccessError::Unreachable { .. } => "Unreachable",
            AccessError::Expired { code, .. } | AccessError::Rejected { code, .. } => code,
            AccessError::Denied { .. } => "AccessDeniedException",
            AccessError::Role { .. } => "AssumeRoleFailed",
        }
    }
}

/// What kind of access problem an ECS error code is, if any.
pub enum Refusal {
    Expired,
    Rejected,
    Denied,
}

impl Refusal {
    pub fn of(code: &str) -> Option<Refusal> {
        match code {
            "ExpiredTokenException" | "ExpiredToken" => Some(Refusal::Expired),
            "UnrecognizedClientException" | "InvalidSignatureException" => Some(Refusal::Rejected),
            "AccessDeniedException" | "AccessDenied" => Some(Refusal::Denied),
            _ => None,
        }
    }
}

/// The errors in `error`'s chain, itself first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The credentials provider's error in a failed call's chain, if that is why it failed.
pub fn credentials_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    chain(error).find_map(|e| e.downcast_ref::<CredentialsError>())
}

/// Why the credentials provider gave none, as precisely as the environment tells: a half-set
/// key pair or a profile that is nowhere defined, else whether anything was set up at all
/// (the chain's last word is then only EC2 instance metadata's, which is beside the point).
pub fn credentials_problem(error: &CredentialsError, region: RegionInUse) -> AccessError {
    let set = |variable: &str| std::env::var_os(variable).is_some_and(|v| !v.is_empty());
    let profile = profile_name();
    let keys = profile_keys(&profile);
    let misconfigured = match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        (true, false) => {
            Some("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".to_string())
        }
        (false, true) => {
            Some("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".to_string())
        }
        _ if set("AWS_PROFILE") && keys.is_none() => Some(format!(
            "profile {profile:?} (AWS_PROFILE) is defined in neither ~/.aws/config nor ~/.aws/credentials"
        )),
        _ => None,
    };
    if let Some(reason) = misconfigured {
        return AccessError::Credentials { reason, region };
    }
    let configured = set("AWS_ACCESS_KEY_ID")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || keys.is_some_and(|k| provides_credentials(&k));
    let found_nothing = matches!(
        error,
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::ProviderTimedOut(_)
    );
    if !configured || found_nothing {
        AccessError::NoCredentials { profile, region }
    } else {
        AccessError::Credentials {
            reason: format!("profile {profile:?}: {}", messages(error)),
            region,
        }
    }
}

/// STS's refusal of AssumeRole in its own words (`AccessDenied: User: … is not authorized to
/// perform: sts:AssumeRole on resource: …`), not the SDK's debug text of its error.
pub fn role_refusal(error: &CredentialsError) -> String {
    let text = messages(error);
    let quoted = |key: &str| {
        let start = text.find(&format!("{key}: \""))? + key.len() + 3;
        let end = text[start..].find('"')? + start;
        Some(text[start..end].to_string())
    };
    match (quoted("code"), quoted("message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => text,
    }
}

/// The setting names of `profile` in the AWS CLI's files (`[name]`, or `[profile name]` in
/// config); `None` when neither file defines it.
fn profile_keys(profile: &str) -> Option<Vec<String>> {
    let headers = [format!("[{profile}]"), format!("[profile {profile}]")];
    let mut keys = None;
    for text in aws_files()
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
    {
        let mut inside = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                inside = headers.iter().any(|h| line == h.as_str());
                if inside {
                    keys.get_or_insert_with(Vec::new);
                }
            } else if let (true, Some((key, _))) = (inside, line.split_once('=')) {
                keys.get_or_insert_with(Vec::new)
                    .push(key.trim().to_string());
            }
        }
    }
    keys
}

/// Whether a profile's settings say where credentials come from (keys, a role, SSO, a
/// process); a profile with only a region provides none.
fn provides_credentials(keys: &[String]) -> bool {
    const SOURCES: &[&str] = &[
        "aws_access_key_id",
        "role_arn",
        "sso_session",
        "sso_start_url",
        "credential_process",
        "web_identity_token_file",
        "login_session",
    ];
    keys.iter().any(|k| SOURCES.contains(&k.as_str()))
}

/// The AWS CLI's shared config and credentials files.
fn aws_files() -> Vec<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    [
        file("AWS_CONFIG_FILE", ".aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The profile the SDK reads: `AWS_PROFILE`, else `default`.
pub fn profile_name() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// An error's messages from `error` down, joined as people read them ("a: b: c"), each
/// said once (wrappers often repeat their source's words).
pub fn messages(error: &(dyn StdError + 'static)) -> String {
    let mut out: Vec<String> = Vec::new();
    for e in chain(error) {
        let text = e.to_string();
        if !text.is_empty() && !out.iter().any(|o| o.contains(&text)) {
            out.push(text);
        }
    }
    out.join(": ")
}

/// Why a connection could not be made, in a few words: the innermost cause.
pub fn connect_reason(error: &(dyn StdError + 'static)) -> String {
    if let Some(io) = chain(error).find_map(|e| e.downcast_ref::<std::io::Error>()) {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            std::io::ErrorKind::TimedOut => "no answer (timed out)".to_string(),
            _ => io.to_string(),
        };
    }
    chain(error)
        .last()
        .map_or_else(String::new, |e| e.to_string())
}

/// Whether a failed call never got a connection (refused, no such host, connect timeout).
pub fn is_connect_failure(error: &(dyn StdError + 'static)) -> bool {
    chain(error).any(|e| {
        e.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(|e| e.is_connect())
    })
}
