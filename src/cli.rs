//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ecs-gitops",
    version,
    about = "A GitOps controller for AWS ECS: manifests in Git, ECS kept in sync"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr (the level comes from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The largest manifest file read (validate, diff, apply, run): 4MiB, 512KiB or bytes.
    /// A larger file is an error on that file.
    #[arg(long, global = true, default_value = "4MiB", value_parser = byte_size)]
    pub max_file_size: u64,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Act on a rollout ECS is carrying out.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Check manifests: every problem with its file, line and field. Exit 0 valid, 1 invalid.
    Validate {
        /// Files or directories (read recursively: .yaml, .yml, .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// The controller's accounts file: objects may name only its accounts and regions.
        #[arg(long)]
        accounts: Option<PathBuf>,
    },
    /// Show what `apply` would change in ECS, per object and field. Exit 0 in sync,
    /// 1 differences, 2 error.
    Diff {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        ecs: EcsArgs,
        /// Also show the owned services that left the source (as `apply --prune` would delete).
        #[command(flatten)]
        prune: PruneArgs,
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Make ECS match the manifests and follow each rollout to its end. Exit non-zero if
    /// anything failed.
    Apply {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        ecs: EcsArgs,
        /// How long a rollout may take, unless its object sets rollout.timeout.
        #[arg(long, default_value = "10m", value_parser = duration)]
        timeout: std::time::Duration,
        /// Return once the changes are made, without following the rollouts.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        prune: PruneArgs,
        /// Services changed at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// How often rollouts are polled.
        #[arg(long, default_value = "2s", value_parser = duration_ms)]
        poll: std::time::Duration,
    },
    /// The GitOps controller: keep ECS in sync with a Git repository or a directory, repair
    /// drift every interval, serve metrics, health, status and a webhook.
    Run(Box<RunArgs>),
    /// The in-cluster controller: reconcile EcsCluster, EcsTaskDefinition and EcsService
    /// custom resources with ECS, write their status and events (kubeconfig from KUBECONFIG
    /// or the pod's service account).
    Controller(Box<ControllerArgs>),
    /// Print the CustomResourceDefinitions as YAML, for `kubectl apply -f -`.
    Crds,
    /// Run the ECS simulator: a local ECS control plane for the AWS SDKs and CLI.
    Sim {
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: SocketAddr,
        /// How much faster than wall time deployments move (and throttling buckets refill).
        #[arg(long, default_value_t = 1.0, value_parser = positive)]
        speed: f64,
        /// Turn off ECS's request throttling.
        #[arg(long)]
        no_throttle: bool,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A Git repository: https://, ssh://, git@host:path, git:// or file://.
    #[arg(long, required_unless_present = "dir", conflicts_with = "dir")]
    pub git: Option<String>,
    /// The branch, tag or commit to follow (default: main, else master).
    // `requires` alone lets `--dir` through: clap excuses a required argument that conflicts
    // with one given.
    #[arg(long = "ref", requires = "git", conflicts_with = "dir")]
    pub reference: Option<String>,
    /// The repository directory holding the manifests.
    #[arg(long, requires = "git", conflicts_with = "dir")]
    pub path: Option<String>,
    /// A directory to watch instead of a repository.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How often to fetch the source and repair drift (±5 %).
    #[arg(long, default_value = "1m", value_parser = duration_ms)]
    pub interval: std::time::Duration,
    /// Where to serve /metrics, /healthz, /readyz, /api/status, the status page and (unless
    /// --hook-listen is given) /hook.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A second listener serving only POST /hook, for the Git host to reach while --listen
    /// stays private.
    #[arg(long)]
    pub hook_listen: Option<SocketAddr>,
    /// Report drift and plans, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub prune: PruneArgs,
    #[command(flatten)]
    pub ecs: EcsArgs,
    #[command(flatten)]
    pub leader: LeaderArgs,
    /// How long a rollout may take, unless its object sets rollout.timeout.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub timeout: std::time::Duration,
    /// How often rollouts are polled.
    #[arg(long, default_value = "2s", value_parser = duration_ms)]
    pub poll: std::time::Duration,
    /// A file holding the https token or password for the repository (wins over
    /// ECS_GITOPS_GIT_TOKEN).
    #[arg(long)]
    pub git_token_file: Option<PathBuf>,
    /// The https token from the environment (ECS_GITOPS_GIT_TOKEN); as a flag every user of
    /// the machine sees it in `ps`.
    #[arg(long, env = "ECS_GITOPS_GIT_TOKEN", hide_env_values = true)]
    pub git_token: Option<String>,
    /// https user name for the token (default x-access-token).
    #[arg(long)]
    pub git_username: Option<String>,
    /// ssh private key file.
    #[arg(long)]
    pub git_ssh_key: Option<PathBuf>,
    /// known_hosts file the ssh server's key is checked against.
    #[arg(long)]
    pub git_known_hosts: Option<PathBuf>,
    /// Where the bare cache repositories are kept.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// A file holding GitHub's webhook secret (X-Hub-Signature-256); wins over
    /// ECS_GITOPS_HOOK_SECRET.
    #[arg(long)]
    pub hook_secret_file: Option<PathBuf>,
    /// The webhook secret from the environment (ECS_GITOPS_HOOK_SECRET); as a flag every user
    /// of the machine sees it in `ps`.
    #[arg(long, env = "ECS_GITOPS_HOOK_SECRET", hide_env_values = true)]
    pub hook_secret: Option<String>,
    /// A file holding the bearer token POST /hook accepts; wins over ECS_GITOPS_HOOK_TOKEN.
    #[arg(long)]
    pub hook_token_file: Option<PathBuf>,
    /// The bearer token from the environment (ECS_GITOPS_HOOK_TOKEN); as a flag every user of
    /// the machine sees it in `ps`.
    #[arg(long, env = "ECS_GITOPS_HOOK_TOKEN", hide_env_values = true)]
    pub hook_token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RolloutCommand {
    /// Stop an EcsService's rollout in progress and roll back to the last good revision
    /// (ECS's StopServiceDeployment). The controller then quarantines the stopped spec until
    /// the manifest changes.
    Stop {
        /// The object, as `diff` names it: `EcsService/web` (or just `web`).
        object: String,
        /// The manifests it is defined in (files or directories).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        ecs: EcsArgs,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct PruneArgs {
    /// Delete this owner's services that left the source (scale to 0, then delete); at most
    /// half of them (and always one) in one go.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: delete however many left the source at once.
    #[arg(long, requires = "prune")]
    pub prune_allow_mass: bool,
}

impl PruneArgs {
    pub fn mode(&self) -> crate::diff::plan::Prune {
        use crate::diff::plan::Prune;
        match (self.prune, self.prune_allow_mass) {
            (false, _) => Prune::Off,
            (true, false) => Prune::On,
            (true, true) => Prune::AllowMass,
        }
    }
}

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// A namespace to watch (repeat for more); all namespaces when none is given.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Where to serve /metrics, /healthz, /readyz, /api/status and the status page.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub ecs: EcsArgs,
    /// How often every object is compared with ECS again and drift repaired (±10 %).
    #[arg(long, default_value = "5m", value_parser = duration_ms)]
    pub resync: std::time::Duration,
    /// Objects reconciled at once. Mostly waiting on ECS, so many: the DescribeServices
    /// calls of concurrent reconciles are shared, ten services per call and cluster.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u16,
    /// The Kubernetes cluster's name, part of the owner identity tagged on what the
    /// controller creates in ECS (`CLUSTER/namespace/Kind/name`).
    #[arg(long, env = "ECS_GITOPS_CLUSTER_NAME", default_value = "kubernetes")]
    pub cluster_name: String,
    /// How long a rollout may take, unless its object sets rollout.timeout.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub timeout: std::time::Duration,
    /// How soon an object whose rollout runs is looked at again.
    #[arg(long, default_value = "5s", value_parser = duration_ms)]
    pub poll: std::time::Duration,
    #[command(flatten)]
    pub leader: LeaderArgs,
}

/// Leader election, for replicas in Kubernetes: only the holder of the Lease works.
#[derive(Args, Debug, Clone)]
pub struct LeaderArgs {
    /// Work only while holding the Lease; standbys wait and take over when it lapses.
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's namespace (in a pod: its own, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ecs-gitops")]
    pub lease_namespace: String,
    #[arg(long, default_value = "ecs-gitops")]
    pub lease_name: String,
    /// How long the Lease holds without renewal: a standby takes over within it.
    #[arg(long, default_value = "15s", value_parser = duration)]
    pub lease_duration: std::time::Duration,
}

/// Where ECS is. By default the AWS SDK's own resolution: `AWS_ENDPOINT_URL_ECS` /
/// `AWS_ENDPOINT_URL`, `AWS_REGION`, profiles and the default credential chain.
#[derive(Args, Debug, Clone)]
pub struct EcsArgs {
    /// The ECS endpoint (e.g. `ecs-gitops sim`'s).
    #[arg(long, env = "ECS_GITOPS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The region of objects that set none.
    #[arg(long)]
    pub region: Option<String>,
    /// Use an embedded ECS simulator: no AWS account needed (its state ends with the command).
    #[arg(long, conflicts_with = "endpoint_url")]
    pub local: bool,
    /// The embedded simulator's speed (with --local).
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub local_speed: f64,
    /// Multiplies the API budget's refill rates (for a simulator running faster than time).
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub api_budget_scale: f64,
    /// How long one ECS call may go unanswered before it is tried again.
    #[arg(long, default_value = "30s", value_parser = duration_ms)]
    pub call_timeout: std::time::Duration,
    /// A YAML file naming the AWS accounts objects may choose with `spec.account`: a list
    /// of `{name, roleArn, externalId?, regions?}`. The controller assumes each one's role.
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// The owner identity tagged on what this source creates (`ecs-gitops.dev/owner`); it
    /// changes and prunes only what carries it. Default: the Git URL and path, or the
    /// directory's absolute path.
    #[arg(long, value_parser = owner_name)]
    pub owner: Option<String>,
}

fn duration(text: &str) -> Result<std::time::Duration, String> {
    crate::api::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration (90s, 10m, 1h)"))
}

/// A duration that may be under a second: `500ms`, or the forms of `duration`.
fn duration_ms(text: &str) -> Result<std::time::Duration, String> {
    match text.strip_suffix("ms").map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => duration(text),
    }
}

/// A size in bytes: `4194304`, `512KiB`, `4MiB`.
fn byte_size(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return Err(format!("{text:?} is not a size (4194304, 512KiB, 4MiB)")),
    };
    match number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(format!("{text:?} is not a size (4194304, 512KiB, 4MiB)")),
    }
}

/// An owner name: anything but blank, which would tag every source's resources alike.
fn owner_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(
            "an owner names this source (e.g. github.com/acme/deploy//ecs): it cannot be empty"
                .into(),
        );
    }
    Ok(text.to_string())
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Whether output to a stream may carry ANSI colour: only on a terminal, and not when
/// `NO_COLOR` is set (to anything but the empty string).
pub fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The `run` flags that carry a secret: given on the command line, they show in `ps`.
pub const SECRET_FLAGS: &[(&str, &str)] = &[
    (
        "git_token",
        "--git-token: use ECS_GITOPS_GIT_TOKEN or --git-token-file",
    ),
    (
        "hook_secret",
        "--hook-secret: use ECS_GITOPS_HOOK_SECRET or --hook-secret-file",
    ),
    (
        "hook_token",
        "--hook-token: use ECS_GITOPS_HOOK_TOKEN or --hook-token-file",
    ),
];
