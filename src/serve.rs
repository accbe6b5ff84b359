//! `ecs-gitops run`: wires the source, the ECS client, the web server and the loop, and
//! shuts down cleanly on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::cli::RunArgs;
use crate::commands::connect;
use crate::controller::{RunConfig, Source, State, run};
use crate::reconcile::Options;
use crate::source::git::{GitAuth, GitConfig};
use crate::web::{HookAuth, router};

/// How long shutdown may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// A secret from its file (when given, it wins) or its value.
fn read_secret(
    value: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<String>> {
    match file {
        Some(path) => Ok(Some(std::fs::read_to_string(path)?.trim().to_string())),
        None => Ok(value.clone()),
    }
}

pub async fn serve(args: RunArgs, max_file_size: u64) -> anyhow::Result<()> {
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
                token: read_secret(&args.git_token, &args.git_token_file)?,
                username: args.git_username.clone(),
                ssh_key: args.git_ssh_key.clone(),
                known_hosts: args.git_known_hosts.clone(),
            },
        }),
        (None, Some(dir)) => Source::Dir(dir.clone()),
        (None, None) => anyhow::bail!("give --git URL or --dir PATH"),
    };
    let hook = HookAuth {
        secret: read_secret(&args.hook_secret, &args.hook_secret_file)?,
        token: args.hook_token.clone(),
    };
    let (ecs, _simulator) = connect(&args.ecs).await?;
    let state = Arc::new(State::new(source.describe()));
    let (trigger, triggers) = mpsc::channel(1);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let app = router(state.clone(), hook, trigger);
    let mut web_shutdown = shutdown.clone();
    let web = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = web_shutdown.wait_for(|stop| *stop).await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "web server stopped");
        }
    });
    tracing::info!(source = %source.describe(), status_page = %format!("http://{address}/"), "ecs-gitops controller started");
    println!(
        "ecs-gitops: watching {}; status page at http://{address}/",
        source.describe()
    );
    let config = RunConfig {
        source,
        interval: args.interval,
        dry_run: args.dry_run,
        max_file_size,
        options: Options {
            prune: args.prune,
            timeout: args.timeout,
            poll: args.poll,
            ..Options::default()
        },
    };
    // The loop runs on this task: a signal stops it between steps.
    let controller = run(config, ecs, state, triggers, shutdown);
    tokio::pin!(controller);
    tokio::select! {
        _ = &mut controller => {}
        _ = wait_for_signal() => {
            tracing::info!("signal received: finishing the current step");
            let _ = stop.send(true);
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut controller).await.is_err() {
                tracing::warn!("shutdown took too long; exiting");
            }
        }
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(1), web).await;
    Ok(())
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
