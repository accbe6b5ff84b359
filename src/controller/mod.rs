//! The GitOps controller (`ecs-gitops run`): every interval, and on every new revision or
//! webhook, take the source's revision whole; if it is valid, reconcile ECS with it (which
//! also repairs drift); if not, keep the last good revision in force and say why.
//!
//! ```text
//! source (git │ dir) ─► validate ─► Reconciler: observe ─► plan ─► execute ─► status, metrics, web
//!      ▲ interval ±5 % │ webhook │ file change
//! ```

pub mod crd;
pub mod leader;
pub mod status;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::api::status::{PreDeployTaskStatus, Reason};
use crate::api::{ObjectKey, Parsed};
use crate::diff::observed::Owner;
use crate::diff::plan::{Desired, Observed, Plan, Verdict};
use crate::ecs::{Calls, SdkEcs};
use crate::reconcile::status::{
    Health, Seen, decide, now_rfc3339, observed_status, with_pre_deploy,
};
use crate::reconcile::{Options, Outcome, Reconciler, Step};
use crate::source::dir;
use crate::source::git::{Commit, GitConfig, redact};
pub use status::State;
use status::{CallLabels, ObjectStatus, ResultLabel, RevisionLabel, unix_now};

#[derive(Clone, Debug)]
pub enum Source {
    Git(GitConfig),
    Dir(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Git(git) => {
                let mut text = redact(&git.url);
                if let Some(reference) = &git.reference {
                    text.push_str(&format!(" @ {reference}"));
                }
                if let Some(path) = &git.path {
                    text.push_str(&format!(" : {path}"));
                }
                text
            }
            Source::Dir(path) => path.display().to_string(),
        }
    }

    /// The owner identity a source has unless `--owner` names one.
    pub fn default_owner(&self) -> Owner {
        match self {
            Source::Git(git) => Owner::for_git(&git.url, git.path.as_deref()),
            Source::Dir(path) => Owner::new(
                &std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
            ),
        }
    }

    /// The source's revision, and the commit it is (Git).
    async fn fetch(
        &self,
        settled: Option<&dir::Settled>,
        max_file_size: u64,
    ) -> Result<(Parsed, Option<Commit>), SourceError> {
        match self {
            Source::Git(git) => {
                let git = git.clone();
                let (parsed, commit) =
                    tokio::task::spawn_blocking(move || git.fetch(max_file_size)).await??;
                Ok((parsed, Some(commit)))
            }
            Source::Dir(path) => Ok((dir::read(path, settled, max_file_size).await?, None)),
        }
    }
}

/// Why a source gave no revision.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Git(#[from] crate::source::git::GitError),
    #[error(transparent)]
    Dir(#[from] dir::Unsettled),
    #[error("reading the repository stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub source: Source,
    pub owner: Owner,
    pub interval: Duration,
    pub dry_run: bool,
    pub options: Options,
    /// The largest manifest file read.
    pub max_file_size: u64,
}

/// ±5 % around the interval, so many controllers do not poll in step.
fn jittered(interval: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    interval.mul_f64(0.95 + (random % 1000) as f64 / 10_000.0)
}

/// Runs until `shutdown` turns true. `triggers` wakes it early (webhooks).
pub async fn run(
    config: RunConfig,
    ecs: SdkEcs,
    state: Arc<State>,
    mut triggers: mpsc::Receiver<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    let region = ecs.default_region().to_string();
    let reconciler = Reconciler::new(ecs);
    let mut last_good: Option<Parsed> = None;
    let (_watcher, mut changes, settled) = match &config.source {
        Source::Dir(path) => match dir::watch(path) {
            Ok((watcher, rx, settled)) => (Some(watcher), rx, Some(settled)),
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "cannot watch the directory; reading it every interval instead");
                (None, mpsc::channel(1).1, None)
            }
        },
        Source::Git(_) => (None, mpsc::channel(1).1, None),
    };
    let mut options = config.options.clone();
    options.cancel = Some(shutdown.clone());
    let mut calls_seen = BTreeMap::new();
    let mut failures = Failures::new();
    loop {
        let started = Instant::now();
        state.update(|s| s.next_sweep = None);
        let fetched = config
            .source
            .fetch(settled.as_ref(), config.max_file_size)
            .await
            .map(|(mut parsed, commit)| {
                parsed.check_accounts(reconciler.ecs.accounts(), Some(&region));
                state.update(|s| s.commit = commit);
                parsed
            });
        let source_problem = match accept(&state, fetched, last_good.as_ref()) {
            Ok(good) => {
                last_good = Some(good);
                None
            }
            Err(problem) => Some(problem),
        };
        let mut busy = false;
        if let Some(good) = &last_good {
            busy = sweep(
                &reconciler,
                good,
                &region,
                &config,
                &options,
                &state,
                &mut failures,
            )
            .await;
        }
        // A source problem stays visible even while the last good revision syncs fine.
        if let Some(problem) = source_problem {
            state.update(|s| s.last_error = Some(problem));
        }
        export_calls(&reconciler, &state, &mut calls_seen);
        state.sweep_finished();
        state
            .metrics
            .reconcile_seconds
            .observe(started.elapsed().as_secs_f64());
        // While rollouts run elsewhere (a restart found one in flight), look again soon.
        let wait = if busy {
            options.poll.max(Duration::from_secs(1))
        } else {
            jittered(config.interval)
        };
        let now = unix_now();
        state.update(|s| {
            s.last_sweep = Some(now);
            s.next_sweep = Some(now + wait.as_secs_f64());
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(()) = triggers.recv() => {
                settle(&mut triggers).await;
                tracing::info!("webhook: fetching now");
            }
            Some(()) = changes.recv() => tracing::info!("the directory changed"),
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            tracing::info!("shutting down");
            return;
        }
    }
}

/// How long webhooks must be quiet before the fetch they ask for starts, and how long a
/// stream of them may delay it at most. Hooks come in bursts (a push to several branches,
/// redeliveries); those that arrive while a sweep runs leave one more sweep waiting.
const HOOK_QUIET: Duration = Duration::from_millis(500);
const HOOK_MAX_DELAY: Duration = Duration::from_secs(5);

/// Absorbs the webhooks of one burst.
async fn settle(triggers: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + HOOK_MAX_DELAY;
    while tokio::time::Instant::now() < deadline {
        let quiet = (tokio::time::Instant::now() + HOOK_QUIET).min(deadline);
        match tokio::time::timeout_at(quiet, triggers.recv()).await {
            Ok(Some(())) => continue,
            _ => return,
        }
    }
}

/// Takes a fetched revision: a valid one replaces the last good one; an invalid one is
/// reported and changes nothing (the error says why).
fn accept(
    state: &State,
    fetched: Result<Parsed, SourceError>,
    last_good: Option<&Parsed>,
) -> Result<Parsed, String> {
    match fetched {
        Err(error) => {
            let error = error.to_string();
            match last_good {
                Some(good) => {
                    tracing::warn!(%error, revision = %good.revision, "cannot read the source; the last good revision stays in force")
                }
                None => {
                    tracing::warn!(%error, "cannot read the source; nothing is applied until it can be read")
                }
            }
            state
                .metrics
                .reconciles
                .get_or_create(&ResultLabel {
                    result: "error".into(),
                })
                .inc();
            Err(error)
        }
        Ok(parsed) if parsed.errors() > 0 || parsed.manifests.is_empty() => {
            let mut problems: Vec<String> = parsed
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            if problems.is_empty() {
                problems.push("no ecs-gitops.dev objects found".into());
            }
            if last_good.is_none_or(|g| g.revision != parsed.revision) {
                tracing::warn!(revision = %parsed.revision, problems = problems.len(), "invalid revision rejected: nothing of it is applied");
                for problem in &problems {
                    tracing::warn!("{problem}");
                }
            }
            state
                .metrics
                .reconciles
                .get_or_create(&ResultLabel {
                    result: "invalid".into(),
                })
                .inc();
            let error = format!(
                "revision {} is invalid; {} stays in force",
                parsed.revision,
                last_good.map_or("nothing", |g| g.revision.as_str())
            );
            state.update(|s| {
                s.last_attempted_revision = Some(parsed.revision.clone());
                s.validation_errors = problems;
            });
            Err(error)
        }
        Ok(parsed) => {
            state.update(|s| {
                s.validation_errors.clear();
                if s.last_attempted_revision.as_ref() != Some(&parsed.revision) {
                    s.observed_generation += 1;
                }
                s.last_attempted_revision = Some(parsed.revision.clone());
            });
            state.metrics.source_revision.clear();
            state
                .metrics
                .source_revision
                .get_or_create(&RevisionLabel {
                    revision: parsed.revision.clone(),
                })
                .set(1);
            Ok(parsed)
        }
    }
}

/// One reconcile of the revision in force; true when a rollout is still in flight.
async fn sweep(
    reconciler: &Reconciler<SdkEcs>,
    good: &Parsed,
    region: &str,
    config: &RunConfig,
    options: &Options,
    state: &State,
    failures: &mut Failures,
) -> bool {
    let desired = Desired::from_manifests(&good.manifests, region, config.owner.clone());
    let (observed, plan) = match reconciler.plan(&desired, options.prune).await {
        Ok(planned) => planned,
        Err(e) => {
            let e = crate::commands::observe_failure(&e);
            tracing::error!(error = %e, "observing ECS failed: this sweep stops here");
            state
                .metrics
                .reconciles
                .get_or_create(&ResultLabel {
                    result: "error".into(),
                })
                .inc();
            state.update(|s| s.last_error = Some(e));
            return false;
        }
    };
    // What is about to change shows while it changes, before the sweep's status is written.
    state.update(|s| {
        for object in plan.objects.iter().filter(|o| !o.changes.is_empty()) {
            s.objects
                .entry(object.object.to_string())
                .or_insert_with(|| ObjectStatus::new(&object.object))
                .changes = object.changes.clone();
        }
    });
    let applied_before = state.read().last_applied_revision;
    let drifted: Vec<&ObjectKey> = plan
        .objects
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Update { .. } | Verdict::Create))
        .map(|o| &o.object)
        .collect();
    let drift = applied_before.as_deref() == Some(good.revision.as_str()) && !drifted.is_empty();
    if drift {
        tracing::warn!(
            objects = drifted.len(),
            "drift: ECS changed without a source change"
        );
        state.metrics.drift.inc_by(drifted.len() as u64);
    }
    if config.dry_run {
        for object in plan.objects.iter().filter(|o| o.verdict != Verdict::InSync) {
            tracing::info!(object = %object.object, verdict = ?object.verdict, changes = object.changes.len(), "dry run: would change");
        }
        let sweep = Sweep {
            desired: &desired,
            observed: &observed,
            plan: &plan,
            results: &BTreeMap::new(),
            pre_deploy: &BTreeMap::new(),
            good,
            dry_run: true,
        };
        record(state, &sweep, failures);
        return false;
    }
    let options = Options {
        source_revision: good.revision.clone(),
        ..options.clone()
    };
    // Each step shows in the log and, live, in the status while the sweep runs.
    let progress = |object: &ObjectKey, step: Step| {
        tracing::info!(object = %object, "{}", step.line());
        state.update(|s| {
            let entry = s
                .objects
                .entry(object.to_string())
                .or_insert_with(|| ObjectStatus::new(object));
            entry.progress = Some(step.line().to_string());
        });
    };
    let report = reconciler.execute(&plan, &options, &progress).await;
    if drift {
        let repaired = drifted
            .iter()
            .filter(|object| matches!(report.results.get(**object), Some(Outcome::Done { .. })));
        state.drift_repaired(repaired.map(|object| object.to_string()));
    }
    for outcome in report.results.values() {
        let result = if matches!(outcome, Outcome::Failed { .. }) {
            "failed"
        } else {
            "ok"
        };
        state
            .metrics
            .rollouts
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }
    // What ECS says now, for the status (unchanged when nothing was done).
    let after = if plan.actions.is_empty() {
        observed
    } else {
        reconciler
            .observe(&desired, false)
            .await
            .unwrap_or_default()
    };
    let sweep = Sweep {
        desired: &desired,
        observed: &after,
        plan: &plan,
        results: &report.results,
        pre_deploy: &report.pre_deploy,
        good,
        dry_run: false,
    };
    record(state, &sweep, failures)
}

/// The words of each object's last failed rollout (what `apply` printed, and what changed),
/// kept while its spec stays quarantined.
type Failures = BTreeMap<ObjectKey, String>;

/// What one sweep saw and did.
struct Sweep<'a> {
    desired: &'a Desired,
    observed: &'a Observed,
    plan: &'a Plan,
    results: &'a BTreeMap<ObjectKey, Outcome>,
    /// The pre-deploy tasks each service's change ran or found.
    pre_deploy: &'a BTreeMap<ObjectKey, Vec<PreDeployTaskStatus>>,
    good: &'a Parsed,
    dry_run: bool,
}

/// Writes the per-object status and the revisions; logs each new problem at WARN; true
/// when a rollout is in flight.
fn record(state: &State, sweep: &Sweep, failures: &mut Failures) -> bool {
    let Sweep {
        desired,
        observed,
        plan,
        results,
        pre_deploy,
        good,
        dry_run,
    } = *sweep;
    let before = state.read();
    let generation = before.observed_generation;
    let now = now_rfc3339();
    let mut objects = BTreeMap::new();
    let mut in_flight = false;
    let mut failed = 0;
    for object in &plan.objects {
        let outcome = results.get(&object.object);
        let mut status = ObjectStatus::new(&object.object);
        status.verdict = match outcome {
            Some(Outcome::Done { .. }) => "inSync".to_string(),
            Some(Outcome::Failed { .. }) => "failed".to_string(),
            _ => serde_json::to_value(&object.verdict)
                .ok()
                .and_then(|v| v["verdict"].as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        status.status = observed_status(&object.object, desired, observed);
        with_pre_deploy(
            &mut status.status,
            pre_deploy.get(&object.object),
            before
                .objects
                .get(&object.object.to_string())
                .map(|b| &b.status),
        );
        let live = desired
            .services
            .iter()
            .find(|s| s.object == object.object)
            .and_then(|s| observed.services.get(&s.key));
        let rollout = status.rollout().cloned();
        in_flight |= rollout.as_ref().is_some_and(|r| r.state == "IN_PROGRESS");
        let decision = decide(&Seen {
            verdict: &object.verdict,
            outcome,
            rollout: rollout.as_ref(),
            changes: &object.changes,
            failure: failures.get(&object.object).map(String::as_str),
            live,
        });
        match (&decision.reason, outcome) {
            (Reason::RolloutFailed, _) => {
                failures.insert(object.object.clone(), decision.message.clone());
            }
            (_, _) if decision.is_ready() => {
                failures.remove(&object.object);
            }
            _ => {}
        }
        let previous = before.objects.get(&object.object.to_string());
        if !decision.is_ready() {
            failed += 1;
            status.changes = object.changes.clone();
            let new = previous
                .is_none_or(|b| b.status.common().last_error.as_ref() != Some(&decision.message));
            match decision.health {
                _ if !new => {}
                Health::Reconciling | Health::Paused => {
                    tracing::info!(object = %object.object, "{}", decision.message)
                }
                _ => tracing::warn!(object = %object.object, "{}", decision.message),
            }
        }
        let common = status.status.common_mut();
        common.observed_generation = Some(generation);
        common.last_attempted_revision = Some(good.revision.clone());
        common.last_applied_revision = if decision.is_ready() && !dry_run {
            Some(good.revision.clone())
        } else {
            previous.and_then(|p| p.status.common().last_applied_revision.clone())
        };
        let previous_conditions = previous.map_or(&[][..], |p| &p.status.common().conditions);
        common.conditions = decision.conditions(previous_conditions, &now, Some(generation));
        common.last_error = (!decision.is_ready()).then(|| decision.message.clone());
        objects.insert(object.object.to_string(), status);
    }
    let ok = failed == 0;
    state
        .metrics
        .reconciles
        .get_or_create(&ResultLabel {
            result: if ok { "ok" } else { "failed" }.into(),
        })
        .inc();
    if ok && !dry_run {
        state.metrics.last_success.set(unix_now());
    }
    state.update(|s| {
        s.objects = objects;
        if ok && !dry_run {
            s.last_applied_revision = Some(good.revision.clone());
            s.last_success = Some(unix_now());
            s.last_error = None;
        }
        s.ready |= ok;
    });
    in_flight
}

/// Adds the ECS calls made since the last export to the metrics.
fn export_calls(reconciler: &Reconciler<SdkEcs>, state: &State, seen: &mut Calls) {
    for (key, count) in reconciler.ecs.calls() {
        let before = seen.insert(key.clone(), count).unwrap_or(0);
        let (account, operation, outcome) = key;
        let labels = CallLabels {
            account,
            operation,
            outcome,
        };
        state
            .metrics
            .ecs_calls
            .get_or_create(&labels)
            .inc_by(count - before);
    }
}

/// SIGTERM or SIGINT: how a supervisor or a person stops the process.
pub async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_described_without_credentials() {
        let source = Source::Git(GitConfig {
            url: "https://oauth2:glpat-s3cr3t@gitlab.example.com/org/deploy.git?private_token=glpat-s3cr3t".into(),
            reference: Some("main".into()),
            path: Some("ecs".into()),
            cache: PathBuf::from("/tmp"),
            auth: Default::default(),
        });
        assert_eq!(
            source.describe(),
            "https://gitlab.example.com/org/deploy.git?private_token=*** @ main : ecs"
        );
    }
}
