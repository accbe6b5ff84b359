//! `ecs-gitops run`: wires the source, the ECS client, the web server(s) and the loop, and
//! shuts down cleanly on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::cli::RunArgs;
use crate::commands::connect;
use crate::controller::crd::{KubeUnreachable, kube_client};
use crate::controller::leader::{Leadership, LeaseConfig, identity};
use crate::controller::{RunConfig, Source, State, run};
use crate::diff::observed::Owner;
use crate::reconcile::Options;
use crate::source::git::{GitAuth, GitConfig};
use crate::web::{self, Hook, HookAuth, Limits, hook_router, router};

/// How long shutdown may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Why `run` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{what} is empty: an empty secret would accept anything signed with it; give a value or leave it out"
    )]
    EmptySecret { what: &'static str },
    #[error("reading {what} from {path}: {source}")]
    ReadSecret {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Listen(#[from] web::ListenError),
    #[error("--leader-elect needs Kubernetes: {0}")]
    Kube(#[source] KubeUnreachable),
    #[error(transparent)]
    Lease(#[from] crate::controller::leader::LeaseError),
    #[error("lost the leader lease; exiting so that only one replica works")]
    LostLease,
    #[error("connecting to ECS: {0}")]
    Connect(#[source] crate::commands::ConnectError),
}

/// A secret from its file (when given, it wins) or its value (flag or environment); an
/// empty one is refused.
fn read_secret(
    what: &'static str,
    value: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, ServeError> {
    let secret = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ServeError::ReadSecret {
                    what,
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
        ),
        None => value.clone(),
    };
    match secret {
        Some(secret) if secret.trim().is_empty() => Err(ServeError::EmptySecret { what }),
        secret => Ok(secret),
    }
}

pub async fn serve(args: RunArgs, max_file_size: u64) -> Result<(), ServeError> {
    let source = match (&args.git, &args.dir) {
        (Some(url), _) => Source::Git(GitConfig {
            url: url.clone(),
            reference: args.reference.clone(),
            path: args.path.clone(),
            cache: args
                .cache_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("ecs-gitops-cache")),
            auth: GitAuth {
                token: read_secret(
                    "the Git token (ECS_GITOPS_GIT_TOKEN, --git-token-file or --git-token)",
                    &args.git_token,
                    &args.git_token_file,
                )?,
                username: args.git_username.clone(),
                ssh_key: args.git_ssh_key.clone(),
                known_hosts: args.git_known_hosts.clone(),
            },
        }),
        (None, Some(dir)) => Source::Dir(dir.clone()),
        (None, None) => unreachable!("clap requires --git or --dir"),
    };
    let auth = HookAuth {
        secret: read_secret(
            "the webhook secret (ECS_GITOPS_HOOK_SECRET, --hook-secret-file or --hook-secret)",
            &args.hook_secret,
            &args.hook_secret_file,
        )?,
        token: read_secret(
            "the webhook token (ECS_GITOPS_HOOK_TOKEN, --hook-token-file or --hook-token)",
            &args.hook_token,
            &args.hook_token_file,
        )?,
    };
    // The addresses before anything starts: one in use is said first and alone.
    let listener = web::bind(args.listen, "--listen").await?;
    let hook_listener = match args.hook_listen {
        Some(addr) => Some((addr, web::bind(addr, "--hook-listen").await?)),
        None => None,
    };
    let kube = if args.leader.leader_elect {
        Some(kube_client().await.map_err(ServeError::Kube)?)
    } else {
        None
    };
    let owner = args
        .ecs
        .owner
        .as_deref()
        .map_or_else(|| source.default_owner(), Owner::new);
    let (ecs, _simulator) = connect(&args.ecs).await.map_err(ServeError::Connect)?;
    let stale_after = args.interval * 3 + args.ecs.call_timeout;
    let state = Arc::new(
        State::new(source.describe(), owner.to_string(), stale_after).with_insight(ecs.insight()),
    );
    let (trigger, triggers) = mpsc::channel(1);
    let hook = Hook { auth, trigger };
    let (stop, shutdown) = watch::channel(false);
    let address = listener.local_addr().unwrap_or(args.listen);
    let mut servers = Vec::new();
    let main_hook = match hook_listener {
        Some((hook_addr, hook_listener)) => {
            tracing::info!(listen = %hook_addr, "webhook listener: POST /hook only");
            servers.push(tokio::spawn(web::serve(
                hook_listener,
                hook_router(hook),
                Limits::default(),
                shutdown.clone(),
            )));
            None
        }
        None => Some(hook),
    };
    servers.push(tokio::spawn(web::serve(
        listener,
        router(state.clone(), main_hook),
        Limits::default(),
        shutdown.clone(),
    )));
    tracing::info!(source = %source.describe(), %owner, status_page = %format!("http://{address}/"), "ecs-gitops controller started");
    println!(
        "ecs-gitops: watching {} as owner {owner}; status page at http://{address}/",
        source.describe()
    );
    let config = RunConfig {
        source,
        owner,
        interval: args.interval,
        dry_run: args.dry_run,
        max_file_size,
        options: Options {
            prune: args.prune.mode(),
            timeout: args.timeout,
            poll: args.poll,
            ..Options::default()
        },
    };
    // Replicas in Kubernetes: only the Lease's holder works; standbys serve their probes.
    let mut leadership = None;
    if let Some(client) = kube {
        let lease = LeaseConfig {
            namespace: args.leader.lease_namespace.clone(),
            name: args.leader.lease_name.clone(),
            identity: identity(),
            duration: args.leader.lease_duration,
        };
        let mut joined = Leadership::join(client, &lease).await?;
        tracing::info!(lease = %lease.name, identity = %lease.identity, "waiting to lead");
        tokio::select! {
            _ = joined.acquired() => tracing::info!("leading: syncing"),
            _ = crate::controller::wait_for_signal() => {
                joined.release().await;
                let _ = stop.send(true);
                return Ok(());
            }
        }
        leadership = Some(joined);
    }
    // The loop runs on this task: a signal stops it between steps.
    let controller = run(config, ecs, state, triggers, shutdown);
    tokio::pin!(controller);
    let lost = async {
        match &mut leadership {
            Some(leadership) => leadership.lost().await,
            None => futures::future::pending().await,
        }
    };
    let mut result = Ok(());
    tokio::select! {
        _ = &mut controller => {}
        _ = crate::controller::wait_for_signal() => {
            tracing::info!("signal received: finishing the current step");
            let _ = stop.send(true);
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut controller).await.is_err() {
                tracing::warn!("shutdown took too long; exiting");
            }
        }
        _ = lost => result = Err(ServeError::LostLease),
    }
    let _ = stop.send(true);
    if let Some(leadership) = leadership {
        leadership.release().await;
    }
    for server in servers {
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }
    result
}
