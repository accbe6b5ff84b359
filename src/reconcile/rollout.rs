//! Following rollouts to their end: COMPLETED, FAILED (with ECS's reasons) or timed out.
//! Tracked services are polled together, ten per DescribeServices.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::execute::{Outcome, rolls_back, short, timeout_of};
use super::observe::describe_native_rollouts;
use super::{Follow, Options, Progress, Step};
use crate::api::{AccountRegion, ObjectKey, ServiceInput};
use crate::diff::plan::{DesiredService, InFlight};
use crate::ecs::{Ecs, ObservedService, Tags, tags};

/// A service whose deployment is being followed.
pub struct Tracked {
    object: ObjectKey,
    region: AccountRegion,
    cluster: String,
    name: String,
    /// The task definition ARN the deployment runs.
    task_definition: String,
    /// ECS's id of the deployment (`ecs-svc/…`), found in the create/update answer.
    deployment: Option<String>,
    /// Its service deployment's ARN: how BLUE_GREEN, LINEAR and CANARY are followed.
    service_deployment: Option<String>,
    /// What ran before, for a rollback by the controller.
    previous: Option<String>,
    hash: String,
    deadline: Instant,
    rollback: bool,
    last_line: String,
}

impl Tracked {
    pub fn new(
        service: &DesiredService,
        live: &ObservedService,
        previous: Option<String>,
        hash: String,
        options: &Options,
    ) -> Tracked {
        Tracked {
            object: service.object.clone(),
            region: service.key.region.clone(),
            cluster: service.key.cluster.clone(),
            name: service.key.name.clone(),
            task_definition: live.task_definition.clone(),
            deployment: live
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY")
                .map(|d| d.id.clone()),
            service_deployment: live.current_service_deployment.clone(),
            previous,
            hash,
            deadline: Instant::now() + timeout_of(service, options),
            rollback: rolls_back(service),
            last_line: String::new(),
        }
    }
}

impl Tracked {
    /// A rollout found in progress: its deadline counts from when it started.
    pub fn resumed(rollout: &InFlight, options: &Options) -> Tracked {
        let service = &rollout.service;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let elapsed = rollout
            .started
            .map_or(0.0, |started| (now - started).max(0.0));
        let timeout = timeout_of(service, options);
        Tracked {
            object: service.object.clone(),
            region: service.key.region.clone(),
            cluster: service.key.cluster.clone(),
            name: service.key.name.clone(),
            task_definition: rollout.task_definition.clone(),
            deployment: Some(rollout.deployment.clone()),
            service_deployment: rollout.service_deployment.clone(),
            previous: rollout.previous.clone(),
            hash: rollout.hash.clone(),
            deadline: Instant::now() + timeout.saturating_sub(Duration::from_secs_f64(elapsed)),
            rollback: rolls_back(service),
            last_line: String::new(),
        }
    }
}

enum State {
    Running(String),
    Completed,
    Failed {
        reason: String,
        deployment: String,
        rolled_back_by_ecs: Option<String>,
    },
}

fn state(tracked: &Tracked, live: &ObservedService) -> State {
    if let Some(native) = native_state(tracked, live) {
        return native;
    }
    let ours = live
        .deployments
        .iter()
        .find(|d| d.task_definition == tracked.task_definition);
    match ours {
        Some(d) if d.rollout_state.as_deref() == Some("FAILED") => State::Failed {
            reason: d
                .rollout_state_reason
                .clone()
                .unwrap_or_else(|| "the deployment failed".into()),
            deployment: d.id.clone(),
            rolled_back_by_ecs: (live.task_definition != tracked.task_definition)
                .then(|| live.task_definition.clone()),
        },
        Some(d)
            if d.status == "PRIMARY"
                && live.deployments.len() == 1
                && d.rollout_state.as_deref() != Some("IN_PROGRESS") =>
        {
            if d.running_count >= d.desired_count {
                State::Completed
            } else {
                State::Running(format!("{}/{} running", d.running_count, d.desired_count))
            }
        }
        Some(d) => State::Running(format!(
            "rollout {}: {}/{} running, {} pending, {} failed",
            d.rollout_state.as_deref().unwrap_or("IN_PROGRESS"),
            d.running_count,
            d.desired_count,
            d.pending_count,
            d.failed_tasks
        )),
        // Our deployment is gone: ECS rolled it back (between two polls), or someone
        // replaced it; the service events say which.
        None => {
            let failed = tracked.deployment.as_ref().is_some_and(|id| {
                live.events
                    .iter()
                    .any(|e| e.contains(&format!("(deployment {id}) deployment failed")))
            });
            let reason = if failed {
                "ECS deployment circuit breaker: tasks failed to start.".to_string()
            } else {
                format!(
                    "the deployment of {} was replaced",
                    short(&tracked.task_definition)
                )
            };
            State::Failed {
                reason,
                deployment: tracked.deployment.clone().unwrap_or_default(),
                rolled_back_by_ecs: Some(live.task_definition.clone()),
            }
        }
    }
}

/// A BLUE_GREEN, LINEAR or CANARY rollout, as its service deployment tells it: the status,
/// the lifecycle stage while it runs, and ECS's reason when it ends otherwise than well.
fn native_state(tracked: &Tracked, live: &ObservedService) -> Option<State> {
    let strategy = live.native_strategy()?;
    let deployment = live
        .service_deployment
        .as_ref()
        .filter(|d| tracked.service_deployment.as_ref() == Some(&d.arn))?;
    let counts = live
        .deployments
        .iter()
        .find(|d| d.task_definition == tracked.task_definition);
    let (running, desired) = counts.map_or((0, 0), |d| (d.running_count, d.desired_count));
    Some(match deployment.status.as_str() {
        "SUCCESSFUL" => State::Completed,
        "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED" | "STOPPED" => State::Failed {
            reason: format!(
                "{strategy} deployment {}: {}",
                deployment.status,
                deployment
                    .status_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
            deployment: counts.map(|d| d.id.clone()).unwrap_or_default(),
            rolled_back_by_ecs: (deployment.status == "ROLLBACK_SUCCESSFUL"
                || live.task_definition != tracked.task_definition)
                .then(|| live.task_definition.clone()),
        },
        status => State::Running(format!(
            "{strategy} {status}: {}, {running}/{desired} running",
            deployment.lifecycle_stage.as_deref().unwrap_or("starting")
        )),
    })
}

/// Follows every tracked rollout to its end.
pub async fn track<E: Ecs>(
    ecs: &E,
    mut pending: Vec<Tracked>,
    options: &Options,
    progress: Progress<'_>,
) -> Vec<(ObjectKey, Outcome)> {
    let mut outcomes = Vec::new();
    while !pending.is_empty() {
        if options.cancel.as_ref().is_some_and(|c| *c.borrow()) {
            for t in pending {
                let message = format!(
                    "stopped following the rollout of {} (shutting down); ECS carries it on",
                    short(&t.task_definition)
                );
                outcomes.push((t.object, Outcome::Done { message }));
            }
            break;
        }
        let mut by_cluster: BTreeMap<(AccountRegion, String), Vec<String>> = BTreeMap::new();
        for t in &pending {
            by_cluster
                .entry((t.region.clone(), t.cluster.clone()))
                .or_default()
                .push(t.name.clone());
        }
        let mut live: BTreeMap<(AccountRegion, String, String), ObservedService> = BTreeMap::new();
        for ((region, cluster), names) in by_cluster {
            for chunk in names.chunks(10) {
                match ecs.describe_services(&region, &cluster, chunk).await {
                    Ok(found) => live.extend(
                        found
                            .into_iter()
                            .map(|s| ((region.clone(), cluster.clone(), s.name.clone()), s)),
                    ),
                    Err(e) => tracing::warn!(error = %e, cluster, "polling rollouts"),
                }
            }
        }
        let rolling = live.iter_mut().map(|((region, _, _), s)| (region, s));
        if let Err(e) = describe_native_rollouts(ecs, rolling, true).await {
            tracing::warn!(error = %e, "polling service deployments");
        }
        let mut still = Vec::new();
        for mut t in pending {
            let Some(service) = live.get(&(t.region.clone(), t.cluster.clone(), t.name.clone()))
            else {
                still.push(t);
                continue;
            };
            match state(&t, service) {
                State::Completed => {
                    if service.tags.contains_key(tags::FAILED_SPEC_HASH) {
                        let _ = ecs
                            .untag_resource(&t.region, &service.arn, &[tags::FAILED_SPEC_HASH])
                            .await;
                    }
                    progress(
                        &t.object,
                        Step::End(&format!(
                            "rollout COMPLETED: {} running {}",
                            service.running_count,
                            short(&t.task_definition)
                        )),
                    );
                    outcomes.push((
                        t.object.clone(),
                        Outcome::Done {
                            message: format!("rolled out {}", short(&t.task_definition)),
                        },
                    ));
                }
                State::Failed {
                    reason,
                    deployment,
                    rolled_back_by_ecs,
                } => {
                    let message =
                        failure(ecs, &t, service, reason, &deployment, rolled_back_by_ecs).await;
                    progress(&t.object, Step::End(&message));
                    outcomes.push((t.object.clone(), Outcome::Failed { message }));
                }
                State::Running(_) if Instant::now() >= t.deadline => {
                    let deployment = t.deployment.clone().unwrap_or_default();
                    let message = failure(
                        ecs,
                        &t,
                        service,
                        "timed out waiting for the rollout".into(),
                        &deployment,
                        None,
                    )
                    .await;
                    progress(&t.object, Step::End(&message));
                    outcomes.push((t.object.clone(), Outcome::Failed { message }));
                }
                State::Running(line) => {
                    if line != t.last_line {
                        progress(&t.object, Step::On(&line));
                        t.last_line = line;
                    }
                    still.push(t);
                }
            }
        }
        pending = still;
        if options.follow == Follow::Once {
            for t in pending.drain(..) {
                let message = if t.last_line.is_empty() {
                    format!("rolling out {}", short(&t.task_definition))
                } else {
                    t.last_line
                };
                outcomes.push((t.object, Outcome::Progressing { message }));
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(options.poll).await;
        }
    }
    outcomes
}

/// Says why a rollout failed, quarantines its spec, and rolls back when ECS did not and the
/// object asks for it.
async fn failure<E: Ecs>(
    ecs: &E,
    tracked: &Tracked,
    service: &ObservedService,
    reason: String,
    deployment: &str,
    rolled_back_by_ecs: Option<String>,
) -> String {
    let mut message = format!(
        "rollout of {} FAILED: {reason}",
        short(&tracked.task_definition)
    );
    if !deployment.is_empty()
        && let Ok(stopped) = ecs
            .stopped_tasks(&tracked.region, &tracked.cluster, deployment, 3)
            .await
    {
        let mut reasons: Vec<&str> = stopped
            .iter()
            .map(|t| t.reason.as_str())
            .filter(|r| !r.is_empty())
            .collect();
        reasons.dedup();
        if !reasons.is_empty() {
            message.push_str(&format!(" (stopped tasks: {})", reasons.join("; ")));
        }
    }
    let quarantine = Tags::from([(tags::FAILED_SPEC_HASH.to_string(), tracked.hash.clone())]);
    if let Err(e) = ecs
        .tag_resource(&tracked.region, &service.arn, &quarantine)
        .await
    {
        tracing::warn!(error = %e, "recording the failed spec hash");
    }
    match (rolled_back_by_ecs, &tracked.previous) {
        (Some(to), _) => message.push_str(&format!("; ECS rolled back to {}", short(&to))),
        (None, Some(previous)) if tracked.rollback && *previous != tracked.task_definition => {
            let rollback = ecs
                .update_service(
                    &tracked.region,
                    &tracked.cluster,
                    &tracked.name,
                    &ServiceInput::default(),
                    Some(previous),
                )
                .await;
            match rollback {
                Ok(_) => message.push_str(&format!(
                    "; rolled back to {} by ecs-gitops",
                    short(previous)
                )),
                Err(e) => message.push_str(&format!(
                    "; rolling back to {} failed: {e}",
                    short(previous)
                )),
            }
        }
        _ => {}
    }
    message
}
