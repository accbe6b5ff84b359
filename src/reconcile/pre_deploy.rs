//! Pre-deploy tasks: a service's `rollout.preDeploy` (database migrations), run with RunTask
//! before its new task definition is deployed, each to its end, in order. The service is
//! changed only when every task stopped with its essential containers exited 0.
//!
//! A task is identified by what it is run for — the owner, the service, the task's name, the
//! spec hash and the revision it replaces — written as its `startedBy` (and RunTask's client
//! token). A controller that restarts, or CRD mode looking again, finds the task ECS already
//! has, running or stopped, instead of starting a second one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::execute::{Writer, now_tag, owner_tags, timeout_of};
use super::{Follow, Reconciler, Step};
use crate::api::AccountRegion;
use crate::api::status::PreDeployTaskStatus;
use crate::diff::plan::{DesiredService, PreDeploy, TaskDefinitionSource};
use crate::ecs::{Ecs, EcsError, ObservedTask, TaskLaunch, tags};

/// Where the pre-deploy tasks of a change stand.
pub(super) enum Gate {
    /// Every task stopped with its essential containers exited 0 (or there are none).
    Passed(Vec<PreDeployTaskStatus>),
    /// A task is still running (CRD mode looks again later; a shutdown stopped waiting).
    Running(Vec<PreDeployTaskStatus>, String),
    /// A task failed: which, with its exit code and ECS's reason.
    Failed(Vec<PreDeployTaskStatus>, String),
}

/// What the tasks are run for.
pub(super) struct Run<'a> {
    pub service: &'a DesiredService,
    /// The spec hash being deployed.
    pub hash: &'a str,
    /// The task definition ARN being deployed (`useServiceTaskDefinition`).
    pub deploying: &'a str,
    /// The task definition ARN it replaces; empty for a new service.
    pub replacing: &'a str,
}

impl<E: Ecs + 'static> Reconciler<E> {
    /// Runs (or finds) each pre-deploy task in order and follows it as far as `writer`'s
    /// options say.
    pub(super) async fn pre_deploy(
        &self,
        run: &Run<'_>,
        writer: &Writer<'_>,
    ) -> Result<Gate, EcsError> {
        let mut statuses = Vec::new();
        for task in &run.service.pre_deploy {
            let (observed, essential) = self.start_or_find(run, task, writer).await?;
            let observed = self.until_stopped(run, task, observed, writer).await?;
            let status = judge(task, &observed, &essential);
            let line = status.describe();
            statuses.push(status.clone());
            match status.succeeded {
                None => return Ok(Gate::Running(statuses, line)),
                Some(false) => return Ok(Gate::Failed(statuses, line)),
                Some(true) => (writer.progress)(&run.service.object, Step::On(&line)),
            }
        }
        Ok(Gate::Passed(statuses))
    }

    /// The task ECS has for this run, or a new one; and its essential containers' names.
    async fn start_or_find(
        &self,
        run: &Run<'_>,
        task: &PreDeploy,
        writer: &Writer<'_>,
    ) -> Result<(ObservedTask, Vec<String>), EcsError> {
        let key = &run.service.key;
        let task_definition = self.task_definition_of(run, task, writer).await?;
        let essential = self
            .essential_containers(&key.region, &task_definition)
            .await?;
        let identity = identity(run, task, writer);
        let found = self
            .ecs
            .tasks_started_by(&key.region, &key.cluster, &identity)
            .await?
            .into_iter()
            .filter(|t| t.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(run.hash))
            .max_by(|a, b| {
                a.created_at
                    .unwrap_or(0.0)
                    .total_cmp(&b.created_at.unwrap_or(0.0))
            });
        if let Some(found) = found {
            (writer.progress)(
                &run.service.object,
                Step::On(&format!(
                    "pre-deploy task {}: found {} ({})",
                    task.name, found.arn, found.last_status
                )),
            );
            return Ok((found, essential));
        }
        let mut task_tags = owner_tags(writer.owner, writer.options);
        task_tags.insert(tags::SPEC_HASH.to_string(), run.hash.to_string());
        task_tags.insert(tags::PRE_DEPLOY.to_string(), task.name.clone());
        task_tags.insert(tags::ROLLOUT_STARTED.to_string(), now_tag());
        let spec = &run.service.spec;
        let launch = TaskLaunch {
            cluster: key.cluster.clone(),
            task_definition,
            launch_type: spec.launch_type,
            capacity_provider_strategy: spec.capacity_provider_strategy.clone(),
            network_configuration: spec.network_configuration.clone(),
            platform_version: spec.platform_version.clone(),
            overrides: task.overrides.clone(),
            client_token: identity.replace('/', "-"),
            started_by: identity,
            tags: task_tags,
        };
        let started = self.ecs.run_task(&key.region, &launch).await?;
        (writer.progress)(
            &run.service.object,
            Step::On(&format!(
                "pre-deploy task {}: started {}",
                task.name, started.arn
            )),
        );
        Ok((started, essential))
    }

    /// The ARN to run: the task's own task definition (registered when managed), or the
    /// service's new one.
    async fn task_definition_of(
        &self,
        run: &Run<'_>,
        task: &PreDeploy,
        writer: &Writer<'_>,
    ) -> Result<String, EcsError> {
        match &task.task_definition {
            None => Ok(run.deploying.to_string()),
            Some(source @ TaskDefinitionSource::Existing(_))
            | Some(source @ TaskDefinitionSource::Managed { .. }) => {
                let (arn, _) = self.deploy_revision(run.service, source, writer).await?;
                Ok(arn)
            }
        }
    }

    /// The names of a task definition's essential containers (ECS's default: essential).
    async fn essential_containers(
        &self,
        region: &AccountRegion,
        arn: &str,
    ) -> Result<Vec<String>, EcsError> {
        let revision = match self.cached_revision(arn) {
            Some(cached) => cached,
            None => {
                let described = self.ecs.describe_task_definition(region, arn).await?;
                // Only ARNs name one revision for good; a family names its newest.
                if arn.starts_with("arn:") {
                    self.remember_revision(described.clone());
                }
                described
            }
        };
        Ok(revision
            .spec
            .container_definitions
            .iter()
            .filter(|c| c.essential != Some(false))
            .filter_map(|c| c.name.clone())
            .collect())
    }

    /// Polls the task until it stopped, its time is up (then it is stopped) or — when the
    /// options do not wait (CRD mode) or a shutdown begins — at once.
    async fn until_stopped(
        &self,
        run: &Run<'_>,
        task: &PreDeploy,
        mut observed: ObservedTask,
        writer: &Writer<'_>,
    ) -> Result<ObservedTask, EcsError> {
        let key = &run.service.key;
        let options = writer.options;
        let limit = task
            .timeout
            .unwrap_or_else(|| timeout_of(run.service, options));
        let started = observed
            .tags
            .get(tags::ROLLOUT_STARTED)
            .and_then(|t| t.parse::<u64>().ok())
            .map_or_else(SystemTime::now, |secs| {
                UNIX_EPOCH + Duration::from_secs(secs)
            });
        let mut last = observed.last_status.clone();
        loop {
            if observed.last_status == "STOPPED" {
                return Ok(observed);
            }
            if started.elapsed().unwrap_or_default() > limit {
                let reason = format!(
                    "ecs-gitops: pre-deploy task {} ran longer than its timeout ({}s)",
                    task.name,
                    limit.as_secs()
                );
                self.ecs
                    .stop_task(&key.region, &key.cluster, &observed.arn, &reason)
                    .await?;
                observed.stopped_reason = Some(reason);
                observed.last_status = "STOPPED".into();
                return Ok(observed);
            }
            let cancelled = options.cancel.as_ref().is_some_and(|c| *c.borrow());
            if options.follow == Follow::Once || cancelled {
                return Ok(observed);
            }
            tokio::time::sleep(options.poll).await;
            let arns = [observed.arn.clone()];
            if let Some(seen) = self
                .ecs
                .describe_tasks(&key.region, &key.cluster, &arns)
                .await?
                .pop()
            {
                observed = ObservedTask {
                    tags: observed.tags,
                    ..seen
                };
            }
            if observed.last_status != last {
                last = observed.last_status.clone();
                (writer.progress)(
                    &run.service.object,
                    Step::On(&format!("pre-deploy task {}: {last}", task.name)),
                );
            }
        }
    }
}

/// `ecs-gitops/` and a digest of what the task is run for: within ECS's 128 characters of
/// `startedBy`, and with `-` for `/` RunTask's 64-character client token.
fn identity(run: &Run<'_>, task: &PreDeploy, writer: &Writer<'_>) -> String {
    let key = &run.service.key;
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}\n{}/{}/{}\n{}\n{}\n{}\n{}",
        writer.owner,
        key.region,
        key.cluster,
        key.name,
        task.name,
        run.hash,
        run.replacing,
        run.service.object
    ));
    let digest: String = hasher
        .finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ecs-gitops/{digest}")
}

/// The task's status: succeeded once it stopped with every essential container exited 0.
fn judge(task: &PreDeploy, observed: &ObservedTask, essential: &[String]) -> PreDeployTaskStatus {
    let mut status = PreDeployTaskStatus {
        name: task.name.clone(),
        task_arn: observed.arn.clone(),
        last_status: observed.last_status.clone(),
        ..PreDeployTaskStatus::default()
    };
    if observed.last_status != "STOPPED" {
        return status;
    }
    let failed = observed
        .containers
        .iter()
        .filter(|c| essential.is_empty() || essential.contains(&c.name))
        .find(|c| c.exit_code != Some(0));
    match failed {
        None if !observed.containers.is_empty() => {
            status.exit_code = Some(0);
            status.succeeded = Some(true);
        }
        None => {
            status.reason = observed.stopped_reason.clone();
            status.succeeded = Some(false);
        }
        Some(container) => {
            status.exit_code = container.exit_code;
            status.reason = container
                .reason
                .clone()
                .or_else(|| observed.stopped_reason.clone());
            status.succeeded = Some(false);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::ContainerExit;

    fn task() -> PreDeploy {
        PreDeploy {
            name: "migrate".into(),
            task_definition: None,
            overrides: None,
            timeout: None,
        }
    }

    fn stopped(containers: &[(&str, Option<i32>, Option<&str>)]) -> ObservedTask {
        ObservedTask {
            arn: "arn:aws:ecs:r:1:task/c/abc".into(),
            last_status: "STOPPED".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: containers
                .iter()
                .map(|(name, code, reason)| ContainerExit {
                    name: name.to_string(),
                    exit_code: *code,
                    reason: reason.map(str::to_string),
                })
                .collect(),
            ..ObservedTask::default()
        }
    }

    #[test]
    fn a_task_succeeds_only_when_every_essential_container_exited_0() {
        let essential = vec!["app".to_string()];
        let ok = judge(
            &task(),
            &stopped(&[("app", Some(0), None), ("sidecar", Some(137), None)]),
            &essential,
        );
        assert_eq!((ok.succeeded, ok.exit_code), (Some(true), Some(0)));

        let failed = judge(&task(), &stopped(&[("app", Some(1), None)]), &essential);
        assert_eq!((failed.succeeded, failed.exit_code), (Some(false), Some(1)));
        assert_eq!(
            failed.reason.as_deref(),
            Some("Essential container in task exited")
        );
        assert_eq!(
            failed.describe(),
            "pre-deploy task migrate (arn:aws:ecs:r:1:task/c/abc) exited 1: Essential container in task exited"
        );

        let never_ran = judge(
            &task(),
            &stopped(&[("app", None, Some("CannotPullContainerError: not found"))]),
            &essential,
        );
        assert_eq!(
            (never_ran.succeeded, never_ran.exit_code),
            (Some(false), None)
        );
        assert!(
            never_ran
                .describe()
                .ends_with("did not run to its end: CannotPullContainerError: not found")
        );

        let running = judge(
            &task(),
            &ObservedTask {
                last_status: "RUNNING".into(),
                ..stopped(&[])
            },
            &essential,
        );
        assert_eq!(running.succeeded, None);
    }

    #[test]
    fn a_task_stopped_without_containers_failed() {
        let status = judge(&task(), &stopped(&[]), &[]);
        assert_eq!(status.succeeded, Some(false));
    }
}
