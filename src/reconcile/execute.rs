//! Executing a plan: clusters, then standalone task definitions, then services (a bounded
//! number at once), then deletions; rollouts are followed together at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::pre_deploy::{Gate, Run};
use super::rollout::{Tracked, track};
use super::{Follow, Options, Progress, Reconciler, Step};
use crate::api::AccountRegion;
use crate::api::status::PreDeployTaskStatus;
use crate::api::{ObjectKey, OnFailure, ServiceInput, TaskDefinitionInput, parse_duration};
use crate::diff::plan::{
    Action, CapacityProviderUpdate, ClusterUpdate, DesiredService, Plan, RETAIN_TAG, ServiceUpdate,
    TaskDefinitionSource,
};
use crate::ecs::{
    Ecs, EcsError, ObservedTaskDefinition, Owner, Ownership, Tags, backoff, tag_map, tags,
};

/// How many of a family's newest revisions are searched for one carrying the desired hash.
const REVISIONS_SEARCHED: i32 = 5;
/// Registrations tried again after ECS may or may not have done one (each after a look).
const AMBIGUOUS_RETRIES: u32 = 8;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    Done {
        message: String,
    },
    Failed {
        message: String,
    },
    /// A rollout still running, not waited for.
    Progressing {
        message: String,
    },
}

/// What a sweep did, per object.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub results: BTreeMap<ObjectKey, Outcome>,
    /// The pre-deploy tasks each service's change ran or found.
    #[serde(rename = "preDeploy", skip_serializing_if = "BTreeMap::is_empty")]
    pub pre_deploy: BTreeMap<ObjectKey, Vec<PreDeployTaskStatus>>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.results
            .values()
            .filter(|o| matches!(o, Outcome::Failed { .. }))
            .count()
    }

    fn done(&mut self, object: &ObjectKey, message: String) {
        self.results
            .insert(object.clone(), Outcome::Done { message });
    }

    fn fail(&mut self, object: &ObjectKey, message: String) {
        self.results
            .insert(object.clone(), Outcome::Failed { message });
    }
}

pub(super) fn owner_tags(owner: &Owner, options: &Options) -> Tags {
    Tags::from([
        (tags::MANAGED_BY.to_string(), tags::MANAGER.to_string()),
        (tags::OWNER.to_string(), owner.to_string()),
        (tags::SOURCE.to_string(), options.source_revision.clone()),
    ])
}

/// Now, as a tag value: when a rollout started.
pub(super) fn now_tag() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs().to_string()
}

/// A CreateService token from the object's identity and spec hash: a retry after a crash is
/// the same request; a changed spec is a new one.
fn client_token(service: &DesiredService, hash: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}/{}/{}/{}/{hash}",
        service.key.region, service.key.cluster, service.key.name, service.object
    ));
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ecs-gitops-{}", &digest[..25])
}

/// What a service change left to follow.
struct Change {
    tracked: Option<Tracked>,
    message: String,
    /// The pre-deploy tasks it ran or found.
    tasks: Vec<PreDeployTaskStatus>,
    /// Held back by a pre-deploy task still running (Progressing) or failed.
    held: Option<Outcome>,
}

impl Change {
    fn made(message: String, tracked: Option<Tracked>) -> Change {
        Change {
            tracked,
            message,
            tasks: Vec::new(),
            held: None,
        }
    }

    /// Not made: a pre-deploy task is running or failed.
    fn held(tasks: Vec<PreDeployTaskStatus>, outcome: Outcome) -> Change {
        Change {
            tracked: None,
            message: String::new(),
            tasks,
            held: Some(outcome),
        }
    }
}

impl<E: Ecs + 'static> Reconciler<E> {
    pub async fn execute(&self, plan: &Plan, options: &Options, progress: Progress<'_>) -> Report {
        let mut report = Report::default();
        for action in &plan.actions {
            match action {
                Action::CreateCapacityProvider(provider) => {
                    let mut provider_tags = owner_tags(&plan.owner, options);
                    if provider.retain {
                        provider_tags.insert(RETAIN_TAG.to_string(), "Retain".to_string());
                    }
                    match self
                        .ecs
                        .create_capacity_provider(&provider.region, &provider.input, &provider_tags)
                        .await
                    {
                        Ok(created) => {
                            let line = format!("created capacity provider {}", created.arn);
                            progress(&provider.object, Step::End(&line));
                            report.done(&provider.object, format!("created {}", created.arn));
                        }
                        Err(e) => report.fail(&provider.object, e.to_string()),
                    }
                }
                Action::UpdateCapacityProvider(update) => {
                    let object = &update.provider.object;
                    match self.update_capacity_provider(update).await {
                        Ok(()) => {
                            progress(object, Step::End("updated capacity provider"));
                            report.done(object, format!("updated {}", update.arn));
                        }
                        Err(e) => report.fail(object, e.to_string()),
                    }
                }
                Action::CreateCluster(cluster) => {
                    let mut cluster_tags = owner_tags(&plan.owner, options);
                    cluster_tags.extend(tag_map(&cluster.input.tags));
                    let mut input = cluster.input.clone();
                    input.cluster_name = Some(cluster.name.clone());
                    match self
                        .ecs
                        .create_cluster(&cluster.region, &input, &cluster_tags)
                        .await
                    {
                        Ok(created) => {
                            progress(
                                &cluster.object,
                                Step::End(&format!("created cluster {}", created.arn)),
                            );
                            report.done(&cluster.object, format!("created {}", created.arn));
                        }
                        Err(e) => report.fail(&cluster.object, e.to_string()),
                    }
                }
                Action::Quarantine(failed) => {
                    let object = &failed.service.object;
                    let quarantine =
                        Tags::from([(tags::FAILED_SPEC_HASH.to_string(), failed.hash.clone())]);
                    let key = &failed.service.key;
                    match self
                        .ecs
                        .tag_resource(&key.region, &failed.arn, &quarantine)
                        .await
                    {
                        Ok(()) => {
                            let message = failed.message();
                            progress(object, Step::End(&message));
                            report.fail(object, message);
                        }
                        Err(e) => report.fail(object, e.to_string()),
                    }
                }
                Action::UpdateCluster(update) => {
                    let object = &update.cluster.object;
                    match self.update_cluster(update).await {
                        Ok(()) => {
                            progress(object, Step::End("updated cluster settings"));
                            report.done(object, format!("updated {}", update.arn));
                        }
                        Err(e) => report.fail(object, e.to_string()),
                    }
                }
                Action::RegisterTaskDefinition(td) => {
                    // What runs of a standalone family is its newest revision: only that one
                    // may be reused; older content (a revert) is registered again.
                    let wanted = Wanted {
                        region: &td.region,
                        input: &td.input,
                        hash: &td.hash,
                        owner: &plan.owner,
                        search: 1,
                    };
                    match self.ensure_revision(&wanted, options).await {
                        Ok((revision, registered)) => {
                            let verb = if registered { "registered" } else { "found" };
                            progress(
                                &td.object,
                                Step::End(&format!("{verb} {}", revision.name())),
                            );
                            report.done(&td.object, format!("{verb} {}", revision.name()));
                            self.remember_revision(revision);
                        }
                        Err(e) => report.fail(&td.object, e.to_string()),
                    }
                }
                _ => {}
            }
        }
        let service_actions: Vec<&Action> = plan
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::CreateService(_)
                        | Action::UpdateService(_)
                        | Action::FollowRollout { .. }
                )
            })
            .collect();
        let this = self;
        let writer = Writer {
            owner: &plan.owner,
            options,
            progress,
        };
        let writer = &writer;
        let results: Vec<(ObjectKey, Result<Change, EcsError>)> =
            // Boxed up front, no closure in the stream: CRD mode's tasks need the future to
            // be Send, which the compiler cannot prove through a mapping closure.
            futures::stream::iter(
                service_actions
                    .into_iter()
                    .map(|action| -> ServiceFuture<'_> {
                        Box::pin(this.service_action(action, writer))
                    })
                    .collect::<Vec<_>>(),
            )
            .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        let mut tracked = Vec::new();
        for (object, result) in results {
            if let Ok(change) = &result
                && !change.tasks.is_empty()
            {
                report
                    .pre_deploy
                    .insert(object.clone(), change.tasks.clone());
            }
            match result {
                Ok(Change {
                    held: Some(outcome),
                    ..
                }) => {
                    if let Outcome::Failed { message } | Outcome::Progressing { message } = &outcome
                    {
                        progress(&object, Step::End(message));
                    }
                    report.results.insert(object, outcome);
                }
                Ok(Change {
                    tracked: Some(t), ..
                }) if options.follow != Follow::Not => tracked.push(t),
                Ok(change) => report.done(&object, change.message),
                Err(e) => {
                    progress(&object, Step::End(&format!("failed: {e}")));
                    report.fail(&object, e.to_string());
                }
            }
        }
        for (object, outcome) in track(&*self.ecs, tracked, options, progress).await {
            report.results.insert(object, outcome);
        }
        for family in families_to_trim(plan, &report) {
            if let Err(e) = self.trim(&family, plan).await {
                tracing::warn!(family = %family.family, error = %e, "trimming old revisions");
            }
        }
        for action in &plan.actions {
            if let Action::DeleteService {
                key,
                arn,
                desired_count,
            } = action
            {
                let object = ObjectKey::pruned_service(&key.cluster, &key.name);
                let result = async {
                    if *desired_count > 0 {
                        let scale = ServiceInput {
                            desired_count: Some(0),
                            ..ServiceInput::default()
                        };
                        self.ecs
                            .update_service(&key.region, &key.cluster, &key.name, &scale, None)
                            .await?;
                    }
                    self.ecs
                        .delete_service(&key.region, &key.cluster, &key.name)
                        .await
                }
                .await;
                match result {
                    // Gone already: a retried call whose first attempt went through.
                    Err(e)
                        if matches!(
                            e.code(),
                            "ServiceNotActiveException" | "ServiceNotFoundException"
                        ) =>
                    {
                        progress(&object, Step::End(&format!("pruned {arn}")));
                        report.done(&object, format!("deleted {arn}"));
                    }
                    Ok(()) => {
                        progress(&object, Step::End(&format!("pruned {arn}")));
                        report.done(&object, format!("deleted {arn}"));
                    }
                    Err(e) => report.fail(&object, e.to_string()),
                }
            }
        }
        self.delete_capacity_providers(plan, progress, &mut report)
            .await;
        report
    }

    /// The family's revision carrying `hash`: one of its `search` newest ACTIVE revisions if
    /// there is one (a crash, or an answer lost after ECS registered it, leaves it there), or
    /// a new one. After an ambiguous failure it looks again before registering again, so a
    /// content never gets two revisions.
    async fn ensure_revision(
        &self,
        wanted: &Wanted<'_>,
        options: &Options,
    ) -> Result<(ObservedTaskDefinition, bool), EcsError> {
        let mut revision_tags = owner_tags(wanted.owner, options);
        revision_tags.insert(tags::SPEC_HASH.to_string(), wanted.hash.to_string());
        let mut attempt = 0;
        loop {
            if let Some(found) = self.find_revision(wanted).await? {
                return Ok((found, false));
            }
            match self
                .ecs
                .register_task_definition(wanted.region, wanted.input, &revision_tags)
                .await
            {
                Ok(registered) => return Ok((registered, true)),
                Err(e) if e.may_have_committed() && attempt < AMBIGUOUS_RETRIES => {
                    tracing::warn!(error = %e, "registration may have gone through; looking before trying again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find_revision(
        &self,
        wanted: &Wanted<'_>,
    ) -> Result<Option<ObservedTaskDefinition>, EcsError> {
        let family = wanted.input.family.clone().unwrap_or_default();
        for arn in self
            .ecs
            .list_task_definitions(wanted.region, &family, wanted.search)
            .await?
        {
            let revision = match self.cached_revision(&arn) {
                Some(cached) => cached.clone(),
                None => {
                    self.ecs
                        .describe_task_definition(wanted.region, &arn)
                        .await?
                }
            };
            // Revisions are content: one carrying the hash serves whoever registered it (an
            // EcsService and the EcsTaskDefinition it names share one).
            if revision.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(wanted.hash) {
                return Ok(Some(revision));
            }
        }
        Ok(None)
    }

    /// One service's change (or the rollout to follow), for the object it belongs to.
    async fn service_action(
        &self,
        action: &Action,
        writer: &Writer<'_>,
    ) -> (ObjectKey, Result<Change, EcsError>) {
        match action {
            Action::CreateService(service) => (
                service.object.clone(),
                self.create_service(service, writer).await,
            ),
            Action::FollowRollout(rollout) => {
                (writer.progress)(
                    &rollout.service.object,
                    Step::On(&format!(
                        "following the rollout of {} already in progress",
                        short(&rollout.task_definition)
                    )),
                );
                let change = Change::made(
                    format!("rollout of {} in progress", short(&rollout.task_definition)),
                    Some(Tracked::resumed(rollout, writer.options)),
                );
                (rollout.service.object.clone(), Ok(change))
            }
            Action::UpdateService(update) => (
                update.service.object.clone(),
                self.update_service(update, writer).await,
            ),
            _ => unreachable!("only service actions come here"),
        }
    }

    /// Deregisters and deletes a family's revisions beyond the newest `keep`: only those this
    /// owner registered, never one an observed service runs or deploys or a task runs.
    async fn trim(&self, history: &History, plan: &Plan) -> Result<(), EcsError> {
        const LISTED: i32 = 100;
        let region = &history.region;
        let arns = self
            .ecs
            .list_task_definitions(region, &history.family, LISTED)
            .await?;
        let candidates = arns.iter().skip(history.keep as usize);
        if candidates.len() == 0 {
            return Ok(());
        }
        let running = self.running_revisions(history, plan).await?;
        let mut doomed = Vec::new();
        for arn in candidates {
            if plan.in_use.contains(arn) || running.contains(arn) {
                continue;
            }
            let revision = match self.cached_revision(arn) {
                Some(cached) => cached,
                None => self.ecs.describe_task_definition(region, arn).await?,
            };
            if Ownership::of(&revision.tags, &plan.owner) != Ownership::Ours {
                continue;
            }
            self.ecs.deregister_task_definition(region, arn).await?;
            doomed.push(arn.clone());
        }
        for chunk in doomed.chunks(10) {
            self.ecs.delete_task_definitions(region, chunk).await?;
        }
        if !doomed.is_empty() {
            tracing::info!(family = %history.family, deleted = doomed.len(), kept = history.keep, "deleted old revisions");
        }
        Ok(())
    }

    /// The family's revisions that tasks run now in the source's clusters of its region
    /// (one-off tasks, other services' tasks): never deleted under them.
    async fn running_revisions(
        &self,
        history: &History,
        plan: &Plan,
    ) -> Result<std::collections::BTreeSet<String>, EcsError> {
        let mut running = std::collections::BTreeSet::new();
        let clusters = plan.clusters.iter().filter(|(r, _)| *r == history.region);
        for (region, cluster) in clusters {
            match self
                .ecs
                .running_tasks_of_family(region, cluster, &history.family)
                .await
            {
                Ok(tasks) => running.extend(tasks.into_iter().map(|t| t.task_definition)),
                Err(e) if e.code() == "ClusterNotFoundException" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(running)
    }

    async fn update_capacity_provider(
        &self,
        update: &CapacityProviderUpdate,
    ) -> Result<(), EcsError> {
        let provider = &update.provider;
        if update.settings {
            self.ecs
                .update_capacity_provider(&provider.region, &provider.input)
                .await?;
        }
        if !update.tags.is_empty() {
            self.ecs
                .tag_resource(&provider.region, &update.arn, &update.tags)
                .await?;
        }
        Ok(())
    }

    /// Deletes the capacity providers this owner's source no longer has (after the services
    /// and clusters that used them changed).
    async fn delete_capacity_providers(
        &self,
        plan: &Plan,
        progress: Progress<'_>,
        report: &mut Report,
    ) {
        for action in &plan.actions {
            let Action::DeleteCapacityProvider { region, name, arn } = action else {
                continue;
            };
            let object = ObjectKey::new(crate::api::Kind::EcsCapacityProvider, "", name);
            match self.ecs.delete_capacity_provider(region, name).await {
                Ok(()) => {
                    progress(&object, Step::End(&format!("pruned {arn}")));
                    report.done(&object, format!("deleted {arn}"));
                }
                Err(e) => report.fail(&object, e.to_string()),
            }
        }
    }

    /// Repairs a cluster's settings, capacity providers and tags, each only where it differs.
    async fn update_cluster(&self, update: &ClusterUpdate) -> Result<(), EcsError> {
        let cluster = &update.cluster;
        if let Some(settings) = &update.settings {
            self.ecs
                .update_cluster(&cluster.region, &cluster.name, settings)
                .await?;
        }
        if let Some(capacity) = &update.capacity {
            self.ecs
                .put_cluster_capacity_providers(
                    &cluster.region,
                    &cluster.name,
                    &capacity.providers,
                    &capacity.strategy,
                )
                .await?;
        }
        if !update.tags.is_empty() {
            self.ecs
                .tag_resource(&cluster.region, &update.arn, &update.tags)
                .await?;
        }
        Ok(())
    }

    /// The task definition reference to deploy, registering a revision when needed, and
    /// for a managed one its hash and `family:revision`.
    pub(super) async fn deploy_revision(
        &self,
        service: &DesiredService,
        source: &TaskDefinitionSource,
        writer: &Writer<'_>,
    ) -> Result<(String, Option<(String, String)>), EcsError> {
        match source {
            TaskDefinitionSource::Existing(reference) => Ok((reference.clone(), None)),
            TaskDefinitionSource::Managed { input, hash } => {
                let wanted = Wanted {
                    region: &service.key.region,
                    input,
                    hash,
                    owner: writer.owner,
                    search: REVISIONS_SEARCHED,
                };
                let (revision, registered) = self.ensure_revision(&wanted, writer.options).await?;
                if registered {
                    (writer.progress)(
                        &service.object,
                        Step::On(&format!("registered {}", revision.name())),
                    );
                }
                Ok((revision.arn.clone(), Some((hash.clone(), revision.name()))))
            }
        }
    }

    async fn create_service(
        &self,
        service: &DesiredService,
        writer: &Writer<'_>,
    ) -> Result<Change, EcsError> {
        let Writer {
            owner,
            options,
            progress,
        } = *writer;
        let (task_definition, managed) = self
            .deploy_revision(service, &service.task_definition, writer)
            .await?;
        let key = service.task_definition.key();
        let run = Run {
            service,
            hash: &key,
            deploying: &task_definition,
            replacing: "",
        };
        let tasks = match self.gate(&run, None, writer).await? {
            Ok(tasks) => tasks,
            Err(held) => return Ok(held),
        };
        let mut service_tags = owner_tags(owner, options);
        service_tags.insert(tags::OBJECT.to_string(), service.object.to_string());
        service_tags.insert(tags::ROLLOUT_STARTED.to_string(), now_tag());
        if let Some((hash, name)) = &managed {
            service_tags.insert(tags::SPEC_HASH.to_string(), hash.clone());
            service_tags.insert(tags::TASK_DEFINITION.to_string(), name.clone());
        }
        if service.retain {
            service_tags.insert(RETAIN_TAG.to_string(), "Retain".to_string());
        }
        let mut input = service.spec.clone();
        input.force_new_deployment = None;
        let created = self
            .ecs
            .create_service(
                &service.key.region,
                &input,
                &task_definition,
                &service_tags,
                &client_token(service, &key),
            )
            .await?;
        progress(
            &service.object,
            Step::On(&format!(
                "created service {} with {}",
                created.arn,
                short(&task_definition)
            )),
        );
        Ok(Change {
            tasks,
            ..Change::made(
                format!("created {}", created.arn),
                Some(Tracked::new(service, &created, None, key, options)),
            )
        })
    }

    async fn update_service(
        &self,
        update: &ServiceUpdate,
        writer: &Writer<'_>,
    ) -> Result<Change, EcsError> {
        let Writer {
            owner,
            options,
            progress,
        } = *writer;
        let service = &update.service;
        let key = &service.key;
        let (new_task_definition, managed) = match &update.task_definition {
            Some(source) => {
                let (reference, managed) = self.deploy_revision(service, source, writer).await?;
                (Some(reference), managed)
            }
            None => (None, None),
        };
        let mut tasks = Vec::new();
        if let (Some(deploying), Some(source)) = (&new_task_definition, &update.task_definition) {
            let hash = source.key();
            let run = Run {
                service,
                hash: &hash,
                deploying,
                replacing: &update.previous,
            };
            tasks = match self.gate(&run, Some(&update.arn), writer).await? {
                Ok(tasks) => tasks,
                Err(held) => return Ok(held),
            };
        }
        // A new deployment only where the plan asks for one (a capacity provider change).
        let changes = update.changes.clone();
        let updated = self
            .ecs
            .update_service(
                &key.region,
                &key.cluster,
                &key.name,
                &changes,
                new_task_definition.as_deref(),
            )
            .await?;
        let mut service_tags = owner_tags(owner, options);
        service_tags.insert(tags::OBJECT.to_string(), service.object.to_string());
        if let Some((hash, name)) = &managed {
            service_tags.insert(tags::SPEC_HASH.to_string(), hash.clone());
            service_tags.insert(tags::TASK_DEFINITION.to_string(), name.clone());
        }
        if new_task_definition.is_some() {
            service_tags.insert(tags::ROLLOUT_STARTED.to_string(), now_tag());
            if let Some(primary) = updated.deployments.iter().find(|d| d.status == "PRIMARY") {
                service_tags.insert(tags::DEPLOYMENT.to_string(), primary.id.clone());
            }
        }
        if update.tags {
            service_tags.extend(tag_map(&service.spec.tags));
        }
        self.ecs
            .tag_resource(&key.region, &updated.arn, &service_tags)
            .await?;
        let what = match &new_task_definition {
            Some(td) => format!("updated service to {}", short(td)),
            None => "updated service settings".to_string(),
        };
        progress(&service.object, Step::On(&what));
        let redeploys = new_task_definition.is_some()
            || updated
                .deployments
                .first()
                .is_some_and(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"));
        let tracked = redeploys.then(|| {
            let key = update
                .task_definition
                .as_ref()
                .map_or_else(|| service.task_definition.key(), TaskDefinitionSource::key);
            let previous = Some(update.previous.clone()).filter(|p| !p.is_empty());
            Tracked::new(service, &updated, previous, key, options)
        });
        Ok(Change {
            tasks,
            ..Change::made(what, tracked)
        })
    }

    /// The service's pre-deploy tasks for this change: their statuses when all passed, or
    /// the change held back. A failure quarantines the spec on the service (`arn`, when it
    /// exists; a new service's stopped task keeps the failure for ECS's hour).
    async fn gate(
        &self,
        run: &Run<'_>,
        arn: Option<&str>,
        writer: &Writer<'_>,
    ) -> Result<Result<Vec<PreDeployTaskStatus>, Change>, EcsError> {
        if run.service.pre_deploy.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        match self.pre_deploy(run, writer).await? {
            Gate::Passed(tasks) => Ok(Ok(tasks)),
            Gate::Running(tasks, message) => {
                Ok(Err(Change::held(tasks, Outcome::Progressing { message })))
            }
            Gate::Failed(tasks, why) => {
                let key = &run.service.key;
                if let Some(arn) = arn {
                    let quarantine =
                        Tags::from([(tags::FAILED_SPEC_HASH.to_string(), run.hash.to_string())]);
                    self.ecs.tag_resource(&key.region, arn, &quarantine).await?;
                }
                let message = match arn {
                    Some(_) => format!(
                        "{why}; the service was not changed (still {})",
                        short(run.replacing)
                    ),
                    None => format!("{why}; the service was not created"),
                };
                Ok(Err(Change::held(tasks, Outcome::Failed { message })))
            }
        }
    }
}

/// A family whose old revisions may go, after a registration or a good rollout.
struct History {
    region: AccountRegion,
    family: String,
    /// How many of the newest stay (0: all).
    keep: u32,
}

fn families_to_trim(plan: &Plan, report: &Report) -> Vec<History> {
    let done = |object| matches!(report.results.get(object), Some(Outcome::Done { .. }));
    let mut families = Vec::new();
    for action in &plan.actions {
        let (region, input, keep, object) = match action {
            Action::RegisterTaskDefinition(td) => (&td.region, &td.input, td.history, &td.object),
            Action::CreateService(service) => match &service.task_definition {
                TaskDefinitionSource::Managed { input, .. } => (
                    &service.key.region,
                    &**input,
                    service.history,
                    &service.object,
                ),
                TaskDefinitionSource::Existing(_) => continue,
            },
            Action::UpdateService(update) => match &update.task_definition {
                Some(TaskDefinitionSource::Managed { input, .. }) => (
                    &update.service.key.region,
                    &**input,
                    update.service.history,
                    &update.service.object,
                ),
                _ => continue,
            },
            // CRD mode sees a rollout end in a later reconcile.
            Action::FollowRollout(rollout) => match &rollout.service.task_definition {
                TaskDefinitionSource::Managed { input, .. } => (
                    &rollout.service.key.region,
                    &**input,
                    rollout.service.history,
                    &rollout.service.object,
                ),
                TaskDefinitionSource::Existing(_) => continue,
            },
            _ => continue,
        };
        if keep > 0 && done(object) {
            families.push(History {
                region: region.clone(),
                family: input.family.clone().unwrap_or_default(),
                keep,
            });
        }
    }
    families
}

/// Who makes a change, with what options, telling whom.
#[derive(Clone, Copy)]
pub(super) struct Writer<'a> {
    pub owner: &'a Owner,
    pub options: &'a Options,
    pub progress: Progress<'a>,
}

type ServiceFuture<'a> = BoxFuture<'a, (ObjectKey, Result<Change, EcsError>)>;

/// What `ensure_revision` looks for or registers.
struct Wanted<'a> {
    region: &'a AccountRegion,
    input: &'a TaskDefinitionInput,
    hash: &'a str,
    owner: &'a Owner,
    /// How many of the family's newest revisions may be reused.
    search: i32,
}

/// `family:revision` of an ARN, for messages.
pub(super) fn short(task_definition: &str) -> &str {
    task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition)
}

/// A rollout's time limit: the object's own, or the default.
pub(super) fn timeout_of(service: &DesiredService, options: &Options) -> Duration {
    service
        .rollout
        .timeout
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or(options.timeout)
}

pub(super) fn rolls_back(service: &DesiredService) -> bool {
    service.rollout.on_failure == Some(OnFailure::Rollback)
}
