//! The plan: a pure function from the desired objects and the observed ECS state to ordered
//! actions, each with its reason. `diff` prints it; `apply` and `run` execute it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;

use super::changes::{Change, changes, covers};
use super::observed::{
    ObservedCapacityProvider, ObservedCluster, ObservedService, ObservedTaskDefinition, Owner,
    Ownership, Tags, tag_map, tags,
};
use super::{hash, normalize};
use crate::api::rules::{family, pre_deploy_family};
use crate::api::{
    AccountRegion, CapacityProviderInput, CapacityProviderStrategyItem, ClusterInput,
    DeletionPolicy, IgnoredField, Manifest, Object, ObjectKey, PreDeployTask, RolloutPolicy,
    ServiceInput, ServiceTaskDefinition, TaskDefinitionInput, TaskOverride, parse_duration,
};

/// Annotation that lets the controller take over a service it did not create.
pub const ADOPT_ANNOTATION: &str = "ecs-gitops.dev/adopt";
/// Annotation that pauses reconciliation of one object.
pub const SUSPEND_ANNOTATION: &str = "ecs-gitops.dev/suspend";
/// Tag on a service whose deletion policy is Retain.
pub const RETAIN_TAG: &str = "ecs-gitops.dev/deletion-policy";

/// Revisions of a family kept registered when the object sets no `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY: u32 = 10;

/// Service settings UpdateService cannot change.
const IMMUTABLE: &[&str] = &["launchType", "schedulingStrategy", "role"];
/// Fields that identify a service or only matter when it is created.
const NOT_COMPARED: &[&str] = &[
    "cluster",
    "serviceName",
    "clientToken",
    "forceNewDeployment",
    "tags",
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// The account and region it lives in.
    pub region: AccountRegion,
    pub cluster: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TaskDefinitionSource {
    /// Registered and owned by the controller, identified by its spec hash.
    Managed {
        input: Box<TaskDefinitionInput>,
        hash: String,
    },
    /// An existing task definition the controller does not manage.
    Existing(String),
}

impl TaskDefinitionSource {
    /// What identifies this desired task definition: the spec hash, or the reference. A
    /// failed rollout quarantines it under this key.
    pub fn key(&self) -> String {
        match self {
            TaskDefinitionSource::Managed { hash, .. } => hash.clone(),
            TaskDefinitionSource::Existing(reference) => format!("existing:{reference}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct DesiredService {
    pub key: ServiceKey,
    pub object: ObjectKey,
    /// With `cluster` and `serviceName` filled in.
    pub spec: ServiceInput,
    pub task_definition: TaskDefinitionSource,
    pub ignore: Vec<IgnoredField>,
    pub rollout: RolloutPolicy,
    pub retain: bool,
    pub adopt: bool,
    pub suspended: bool,
    /// How many of the family's newest revisions stay registered (0: all).
    pub history: u32,
    /// Tasks run to completion before a new task definition is deployed.
    pub pre_deploy: Vec<PreDeploy>,
}

/// A task run before the service's new task definition is deployed (a migration).
#[derive(Clone, Debug)]
pub struct PreDeploy {
    pub name: String,
    /// Its own task definition; `None` runs the service's new one.
    pub task_definition: Option<TaskDefinitionSource>,
    pub overrides: Option<TaskOverride>,
    pub timeout: Option<Duration>,
}

impl PreDeploy {
    /// What `diff` says it would run.
    pub fn describe(&self) -> String {
        let what = match &self.task_definition {
            None => "the service's new task definition".to_string(),
            Some(TaskDefinitionSource::Managed { input, .. }) => {
                format!("family {}", input.family.as_deref().unwrap_or_default())
            }
            Some(TaskDefinitionSource::Existing(reference)) => reference.clone(),
        };
        format!("{}: runs {what} to completion first", self.name)
    }
}

#[derive(Clone, Debug)]
pub struct DesiredCapacityProvider {
    pub region: AccountRegion,
    pub name: String,
    pub object: ObjectKey,
    /// With `name` filled in.
    pub input: CapacityProviderInput,
    pub adopt: bool,
    pub retain: bool,
}

#[derive(Clone, Debug)]
pub struct DesiredCluster {
    /// The account and region it lives in.
    pub region: AccountRegion,
    pub name: String,
    pub object: ObjectKey,
    pub input: ClusterInput,
    pub adopt: bool,
}

#[derive(Clone, Debug)]
pub struct DesiredTaskDefinition {
    /// The account and region it lives in.
    pub region: AccountRegion,
    pub family: String,
    pub object: ObjectKey,
    pub input: TaskDefinitionInput,
    pub hash: String,
    /// How many of the family's newest revisions stay registered (0: all).
    pub history: u32,
}

/// The desired state of one revision of the source.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// The source's identity: what it creates carries it, and it changes and prunes nothing
    /// that carries another.
    pub owner: Owner,
    pub capacity_providers: Vec<DesiredCapacityProvider>,
    pub clusters: Vec<DesiredCluster>,
    pub task_definitions: Vec<DesiredTaskDefinition>,
    pub services: Vec<DesiredService>,
}

fn annotated(manifest: &Manifest, key: &str) -> bool {
    manifest
        .object
        .metadata()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

impl Desired {
    /// The account and region of one of the desired objects.
    pub fn place_of(&self, object: &ObjectKey) -> Option<&AccountRegion> {
        let clusters = self.clusters.iter().map(|c| (&c.object, &c.region));
        let families = self.task_definitions.iter().map(|t| (&t.object, &t.region));
        let services = self.services.iter().map(|s| (&s.object, &s.key.region));
        clusters
            .chain(families)
            .chain(services)
            .find(|(key, _)| *key == object)
            .map(|(_, region)| region)
    }

    /// The desired state of valid manifests; `region` applies where an object sets none.
    pub fn from_manifests(manifests: &[Manifest], region: &str, owner: Owner) -> Desired {
        let mut desired = Desired {
            owner,
            ..Desired::default()
        };
        let standalone: BTreeMap<&str, &TaskDefinitionInput> = manifests
            .iter()
            .filter_map(|m| match &m.object {
                Object::TaskDefinition(td) => Some((m.object.name(), &td.spec.task_definition)),
                _ => None,
            })
            .collect();
        for manifest in manifests {
            let name = manifest.object.name();
            let object = manifest.object.key();
            match &manifest.object {
                Object::CapacityProvider(p) => {
                    let mut input = p.spec.capacity_provider.clone();
                    let provider = input.name.get_or_insert_with(|| name.to_string()).clone();
                    desired.capacity_providers.push(DesiredCapacityProvider {
                        region: manifest.object.place(region),
                        name: provider,
                        object,
                        input,
                        adopt: annotated(manifest, ADOPT_ANNOTATION),
                        retain: p.spec.deletion_policy == Some(DeletionPolicy::Retain),
                    });
                }
                Object::Cluster(c) => desired.clusters.push(DesiredCluster {
                    region: manifest.object.place(region),
                    name: c
                        .spec
                        .cluster
                        .cluster_name
                        .clone()
                        .unwrap_or_else(|| name.to_string()),
                    object,
                    input: c.spec.cluster.clone(),
                    adopt: annotated(manifest, ADOPT_ANNOTATION),
                }),
                Object::TaskDefinition(td) => {
                    let input = with_family(&td.spec.task_definition, name);
                    desired.task_definitions.push(DesiredTaskDefinition {
                        region: manifest.object.place(region),
                        family: input.family.clone().unwrap_or_default(),
                        object,
                        hash: hash::task_definition(&input),
                        input,
                        history: td
                            .spec
                            .revision_history_limit
                            .unwrap_or(DEFAULT_REVISION_HISTORY),
                    });
                }
                Object::Service(s) => {
                    let Some(task_definition) = task_definition_source(
                        s.spec.task_definition.as_ref(),
                        s.spec.task_definition_ref.as_deref(),
                        name,
                        &standalone,
                    ) else {
                        continue;
                    };
                    let rollout = s.spec.rollout.clone().unwrap_or_default();
                    let pre_deploy = rollout
                        .pre_deploy
                        .iter()
                        .flatten()
                        .map(|task| pre_deploy(task, name, &standalone))
                        .collect();
                    let mut spec = s.spec.service.clone();
                    let cluster = spec.cluster.clone().unwrap_or_else(|| "default".into());
                    let service_name = spec
                        .service_name
                        .clone()
                        .unwrap_or_else(|| name.to_string());
                    spec.cluster = Some(cluster.clone());
                    spec.service_name = Some(service_name.clone());
                    desired.services.push(DesiredService {
                        key: ServiceKey {
                            region: manifest.object.place(region),
                            cluster,
                            name: service_name,
                        },
                        object,
                        spec,
                        task_definition,
                        ignore: s
                            .spec
                            .ignore_differences
                            .iter()
                            .flatten()
                            .filter_map(|p| IgnoredField::parse(p).ok())
                            .collect(),
                        rollout,
                        retain: s.spec.deletion_policy == Some(DeletionPolicy::Retain),
                        adopt: annotated(manifest, ADOPT_ANNOTATION),
                        suspended: annotated(manifest, SUSPEND_ANNOTATION),
                        history: s
                            .spec
                            .revision_history_limit
                            .unwrap_or(DEFAULT_REVISION_HISTORY),
                        pre_deploy,
                    });
                }
            }
        }
        desired
    }
}

/// An inline task definition (its family defaulting to `name`), an existing one named by a
/// string, or an EcsTaskDefinition of the source named by `reference`.
fn task_definition_source(
    task_definition: Option<&ServiceTaskDefinition>,
    reference: Option<&str>,
    name: &str,
    standalone: &BTreeMap<&str, &TaskDefinitionInput>,
) -> Option<TaskDefinitionSource> {
    Some(match (task_definition, reference) {
        (Some(ServiceTaskDefinition::Inline(td)), _) => managed(with_family(td, name)),
        (Some(ServiceTaskDefinition::Existing(existing)), _) => {
            TaskDefinitionSource::Existing(existing.clone())
        }
        (None, Some(reference)) => match standalone.get(reference) {
            Some(td) => managed(with_family(td, reference)),
            None => TaskDefinitionSource::Existing(reference.to_string()),
        },
        (None, None) => return None,
    })
}

fn pre_deploy(
    task: &PreDeployTask,
    service: &str,
    standalone: &BTreeMap<&str, &TaskDefinitionInput>,
) -> PreDeploy {
    let family = pre_deploy_family(service, &task.name);
    PreDeploy {
        name: task.name.clone(),
        task_definition: task_definition_source(
            task.task_definition.as_ref(),
            task.task_definition_ref.as_deref(),
            &family,
            standalone,
        ),
        overrides: task.overrides.clone(),
        timeout: task.timeout.as_deref().and_then(parse_duration),
    }
}

fn with_family(td: &TaskDefinitionInput, name: &str) -> TaskDefinitionInput {
    let mut td = td.clone();
    td.family = Some(family(&td, name).to_string());
    td
}

fn managed(input: TaskDefinitionInput) -> TaskDefinitionSource {
    TaskDefinitionSource::Managed {
        hash: hash::task_definition(&input),
        input: Box::new(input),
    }
}

/// What the controller saw in ECS for a desired state.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// By (account and region, name); ACTIVE capacity providers.
    pub capacity_providers: BTreeMap<(AccountRegion, String), ObservedCapacityProvider>,
    /// Every capacity provider of the source's places carrying its owner, for pruning.
    pub owned_capacity_providers: Vec<(AccountRegion, ObservedCapacityProvider)>,
    /// By (account and region, name); clusters known to exist.
    pub clusters: BTreeMap<(AccountRegion, String), ObservedCluster>,
    pub services: BTreeMap<ServiceKey, ObservedService>,
    /// Described revisions by ARN (immutable, so cached).
    pub task_definitions: BTreeMap<String, ObservedTaskDefinition>,
    /// The latest ACTIVE revision of standalone families, by (account and region, family).
    pub families: BTreeMap<(AccountRegion, String), ObservedTaskDefinition>,
    /// Services carrying the managed-by tag in the source's clusters, for pruning.
    pub owned: Vec<(ServiceKey, ObservedService)>,
}

/// Why an object is left as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Block {
    /// Not created by ecs-gitops, or another owner's: adopting takes it over.
    NotOwned,
    /// The object's suspend annotation.
    Suspended,
    /// A field ECS cannot change in place.
    Immutable,
    /// ECS is deleting it.
    Deleting,
    /// A prune held back by the limit on deletions per sweep.
    PrunePending,
    /// A service whose object now names another account or region: left to the people who
    /// moved it (a wrong `account` must not delete a running service).
    Moved,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    InSync,
    Create,
    Update {
        fields: Vec<String>,
    },
    Delete,
    /// Not done, and why: not owned, a field ECS cannot change, suspended.
    Blocked {
        by: Block,
        reason: String,
    },
    /// The desired spec failed before; it is not applied again until it changes.
    Quarantined {
        hash: String,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ObjectPlan {
    pub object: ObjectKey,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug)]
pub enum Action {
    CreateCapacityProvider(Box<DesiredCapacityProvider>),
    UpdateCapacityProvider(Box<CapacityProviderUpdate>),
    DeleteCapacityProvider {
        region: AccountRegion,
        name: String,
        arn: String,
    },
    CreateCluster(DesiredCluster),
    RegisterTaskDefinition(DesiredTaskDefinition),
    CreateService(Box<DesiredService>),
    UpdateCluster(Box<ClusterUpdate>),
    /// ECS failed the rollout the controller started and rolled it back: record the spec
    /// as quarantined.
    Quarantine(Box<FailedRollout>),
    UpdateService(Box<ServiceUpdate>),
    /// A rollout already running in ECS, to follow to its end.
    FollowRollout(Box<InFlight>),
    DeleteService {
        key: ServiceKey,
        arn: String,
        desired_count: i32,
    },
}

/// A rollout ECS failed and rolled back while nobody was looking (CRD mode looks only now
/// and then; a controller may have restarted).
#[derive(Clone, Debug)]
pub struct FailedRollout {
    pub service: DesiredService,
    pub arn: String,
    pub hash: String,
    /// `family:revision` that failed, and what runs now.
    pub failed: String,
    pub running: String,
    /// ECS's words (the service event).
    pub reason: String,
}

impl FailedRollout {
    /// As `apply` says a failed rollout.
    pub fn message(&self) -> String {
        format!(
            "rollout of {} FAILED: {}; ECS rolled back to {}",
            self.failed, self.reason, self.running
        )
    }
}

/// What repairs a capacity provider, decided by the plan.
#[derive(Clone, Debug)]
pub struct CapacityProviderUpdate {
    pub provider: DesiredCapacityProvider,
    pub arn: String,
    /// Its settings differ: UpdateCapacityProvider.
    pub settings: bool,
    /// Tags to write (the manifest's, and the owner when taking it over).
    pub tags: Tags,
}

/// What repairs a cluster, decided by the plan: each part only when it differs.
#[derive(Clone, Debug)]
pub struct ClusterUpdate {
    pub cluster: DesiredCluster,
    pub arn: String,
    /// `settings`, `configuration`, `serviceConnectDefaults` for UpdateCluster.
    pub settings: Option<ClusterInput>,
    /// Capacity providers and default strategy for PutClusterCapacityProviders.
    pub capacity: Option<ClusterCapacity>,
    /// Tags to write (the manifest's, and the owner when taking it over).
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterCapacity {
    pub providers: Vec<String>,
    pub strategy: Vec<CapacityProviderStrategyItem>,
}

/// What an UpdateService sends, decided by the plan.
#[derive(Clone, Debug)]
pub struct ServiceUpdate {
    pub service: DesiredService,
    /// The live service's ARN.
    pub arn: String,
    /// The fields to send.
    pub changes: ServiceInput,
    /// What to deploy when the live revision is not the desired one (ignored container
    /// fields already taken from the live revision).
    pub task_definition: Option<TaskDefinitionSource>,
    /// The task definition running now, for a rollback.
    pub previous: String,
    /// Write the owner and the manifest's tags.
    pub tags: bool,
}

/// A rollout of the desired revision that ECS is carrying out.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub service: DesiredService,
    /// The spec hash it rolls out (quarantined if it fails).
    pub hash: String,
    /// The task definition ARN it deploys, and ECS's deployment id.
    pub task_definition: String,
    pub deployment: String,
    /// ECS's service deployment ARN (native strategies are followed by it).
    pub service_deployment: Option<String>,
    /// When it started (Unix seconds): its deadline counts from then.
    pub started: Option<f64>,
    /// What ran before it, for a rollback by the controller.
    pub previous: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Whose plan it is: what it creates or takes over carries this owner.
    pub owner: Owner,
    /// Task definitions the observed services run or deploy: never deregistered.
    pub in_use: std::collections::BTreeSet<String>,
    /// The (region, cluster) pairs the desired state uses: where running tasks may still use
    /// an old revision.
    pub clusters: std::collections::BTreeSet<(AccountRegion, String)>,
    pub objects: Vec<ObjectPlan>,
    pub actions: Vec<Action>,
}

impl Plan {
    /// What the pre-deploy tasks of `object`'s change would run, as `diff` says it: only a
    /// new task definition (or a new service) runs them.
    pub fn pre_deploy(&self, object: &ObjectKey) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|action| match action {
                Action::CreateService(service) => Some(&**service),
                Action::UpdateService(update) if update.task_definition.is_some() => {
                    Some(&update.service)
                }
                _ => None,
            })
            .find(|s| s.object == *object)
            .map(|s| s.pre_deploy.iter().map(PreDeploy::describe).collect())
            .unwrap_or_default()
    }

    pub fn in_sync(&self) -> bool {
        self.objects
            .iter()
            .all(|o| matches!(o.verdict, Verdict::InSync | Verdict::Quarantined { .. }))
    }
}

/// The desired task definition with ignored container fields taken from the live revision.
fn effective_task_definition(
    service: &DesiredService,
    live: Option<&ObservedTaskDefinition>,
) -> TaskDefinitionInput {
    let TaskDefinitionSource::Managed { input, .. } = &service.task_definition else {
        unreachable!("only managed task definitions are registered")
    };
    let Some(live) = live else {
        return (**input).clone();
    };
    let mut json = serde_json::to_value(input).expect("serializes");
    let live_json = serde_json::to_value(&live.spec).expect("serializes");
    for ignored in &service.ignore {
        let IgnoredField::Container { container, field } = ignored else {
            continue;
        };
        for desired in json["containerDefinitions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let name = desired["name"].as_str().unwrap_or_default().to_string();
            if container.as_ref().is_some_and(|c| *c != name) {
                continue;
            }
            let live_value = live_json["containerDefinitions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == Json::String(name.clone())))
                .and_then(|c| c.get(field.as_str()))
                .cloned();
            if let (Some(value), Some(fields)) = (live_value, desired.as_object_mut()) {
                fields.insert(field.clone(), value);
            }
        }
    }
    serde_json::from_value(json).unwrap_or_else(|_| (**input).clone())
}

/// Whether services that left the source are deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prune {
    #[default]
    Off,
    /// At most half of the owner's services (and always one) in one sweep.
    On,
    /// However many left the source.
    AllowMass,
}

/// The plan for `desired` against `observed`.
pub fn plan(desired: &Desired, observed: &Observed, prune: Prune) -> Plan {
    let mut plan = Plan {
        owner: desired.owner.clone(),
        in_use: observed
            .services
            .values()
            .chain(observed.owned.iter().map(|(_, s)| s))
            .flat_map(|s| {
                std::iter::once(s.task_definition.clone())
                    .chain(s.deployments.iter().map(|d| d.task_definition.clone()))
            })
            .collect(),
        clusters: desired
            .clusters
            .iter()
            .map(|c| (c.region.clone(), c.name.clone()))
            .chain(
                desired
                    .services
                    .iter()
                    .map(|s| (s.key.region.clone(), s.key.cluster.clone())),
            )
            .collect(),
        ..Plan::default()
    };
    // Capacity providers first: clusters name them.
    for provider in &desired.capacity_providers {
        plan_capacity_provider(provider, &desired.owner, observed, &mut plan);
    }
    for cluster in &desired.clusters {
        plan_cluster(cluster, &desired.owner, observed, &mut plan);
    }
    for td in &desired.task_definitions {
        plan_task_definition(td, &desired.owner, observed, &mut plan);
    }
    for service in &desired.services {
        plan_service(service, &desired.owner, observed, &mut plan);
    }
    if prune != Prune::Off {
        plan_prune(desired, observed, prune, &mut plan);
        prune_capacity_providers(desired, observed, &mut plan);
    }
    plan
}

/// Why a live resource is not this source's to change: not made by ecs-gitops, or another
/// owner's; unless the object adopts it.
fn not_owned(what: &str, arn: &str, ownership: &Ownership, adopt: bool) -> Option<String> {
    let whose = match ownership {
        _ if adopt => return None,
        Ownership::Unmanaged => "exists and is not managed by ecs-gitops".to_string(),
        Ownership::Theirs(other) => format!("is owned by {other}"),
        Ownership::Ours | Ownership::Legacy => return None,
    };
    Some(format!(
        "{what} {arn} {whose}: annotate the object with {ADOPT_ANNOTATION}: \"true\" to take it over"
    ))
}

/// The manifest's tags that the live resource lacks or has otherwise, each also a change.
fn tag_drift(
    wanted: &Option<Vec<crate::api::Tag>>,
    live: &Tags,
    changes: &mut Vec<Change>,
) -> Tags {
    let mut tags = tag_map(wanted);
    tags.retain(|k, v| live.get(k) != Some(v));
    for (key, value) in &tags {
        changes.push(Change {
            path: format!("tags.{key}"),
            old: live.get(key).cloned().map(Json::String),
            new: Some(Json::String(value.clone())),
        });
    }
    tags
}

/// Fields ECS lets UpdateCapacityProvider change, beside those it never changes.
const CAPACITY_PROVIDER_SETTINGS: &[&str] =
    &["autoScalingGroupProvider", "managedInstancesProvider"];

fn plan_capacity_provider(
    provider: &DesiredCapacityProvider,
    owner: &Owner,
    observed: &Observed,
    plan: &mut Plan,
) {
    let object = provider.object.clone();
    let Some(live) = observed
        .capacity_providers
        .get(&(provider.region.clone(), provider.name.clone()))
    else {
        plan.actions
            .push(Action::CreateCapacityProvider(Box::new(provider.clone())));
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Create,
            changes: Vec::new(),
        });
        return;
    };
    let mut wanted = serde_json::to_value(&provider.input).expect("serializes");
    let mut seen = serde_json::to_value(&live.spec).expect("serializes");
    normalize::canonical(&mut wanted);
    normalize::canonical(&mut seen);
    let mut changes = Vec::new();
    for key in CAPACITY_PROVIDER_SETTINGS.iter().chain(&["cluster"]) {
        let (Some(value), live_value) = (wanted.get(*key), seen.get(*key).unwrap_or(&Json::Null))
        else {
            continue;
        };
        if !covers(live_value, value) {
            changes.push(Change {
                path: key.to_string(),
                old: Some(live_value.clone()).filter(|v| !v.is_null()),
                new: Some(value.clone()),
            });
        }
    }
    let settings = !changes.is_empty();
    let mut tags = tag_drift(&provider.input.tags, &live.tags, &mut changes);
    if changes.is_empty() {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::InSync,
            changes,
        });
        return;
    }
    let ownership = Ownership::of(&live.tags, owner);
    let blocked = not_owned("capacity provider", &live.arn, &ownership, provider.adopt)
        .map(|reason| (Block::NotOwned, reason));
    let immutable = immutable_capacity_change(&provider.input, &live.spec);
    let blocked = blocked.or(immutable.map(|field| {
        (
            Block::Immutable,
            format!("{field} cannot be changed on an existing capacity provider: give the object another name to create a new one"),
        )
    }));
    if let Some((by, reason)) = blocked {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Blocked { by, reason },
            changes,
        });
        return;
    }
    if ownership != Ownership::Ours {
        tags.insert(tags::MANAGED_BY.to_string(), tags::MANAGER.to_string());
        tags.insert(tags::OWNER.to_string(), owner.to_string());
    }
    let mut fields: Vec<String> = changes
        .iter()
        .map(|c| c.path.split('.').next().unwrap_or_default().to_string())
        .collect();
    fields.dedup();
    plan.actions.push(Action::UpdateCapacityProvider(Box::new(
        CapacityProviderUpdate {
            provider: provider.clone(),
            arn: live.arn.clone(),
            settings,
            tags,
        },
    )));
    plan.objects.push(ObjectPlan {
        object,
        verdict: Verdict::Update { fields },
        changes,
    });
}

/// A field UpdateCapacityProvider cannot change: the Auto Scaling group, the kind of
/// capacity, the managed instances' cluster.
fn immutable_capacity_change(
    desired: &CapacityProviderInput,
    live: &CapacityProviderInput,
) -> Option<&'static str> {
    let group = |p: &CapacityProviderInput| {
        p.auto_scaling_group_provider
            .as_ref()
            .map(|a| a.auto_scaling_group_arn.clone())
    };
    if desired.auto_scaling_group_provider.is_some() && group(desired) != group(live) {
        return Some("autoScalingGroupProvider.autoScalingGroupArn");
    }
    if desired.managed_instances_provider.is_some() != live.managed_instances_provider.is_some() {
        return Some("managedInstancesProvider");
    }
    if desired.cluster.is_some() && desired.cluster != live.cluster {
        return Some("cluster");
    }
    None
}

/// This owner's capacity providers that left the source, unless retained.
fn prune_capacity_providers(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    for (region, live) in &observed.owned_capacity_providers {
        let wanted = desired
            .capacity_providers
            .iter()
            .any(|p| p.region == *region && p.name == live.name);
        let retained = live.tags.get(RETAIN_TAG).is_some_and(|v| v == "Retain");
        let ours = Ownership::of(&live.tags, &desired.owner) == Ownership::Ours;
        if wanted || retained || !ours || !live.usable() {
            continue;
        }
        plan.actions.push(Action::DeleteCapacityProvider {
            region: region.clone(),
            name: live.name.clone(),
            arn: live.arn.clone(),
        });
        plan.objects.push(ObjectPlan {
            object: ObjectKey::new(crate::api::Kind::EcsCapacityProvider, "", &live.name),
            verdict: Verdict::Delete,
            changes: Vec::new(),
        });
    }
}

fn plan_cluster(cluster: &DesiredCluster, owner: &Owner, observed: &Observed, plan: &mut Plan) {
    let object = cluster.object.clone();
    let Some(live) = observed
        .clusters
        .get(&(cluster.region.clone(), cluster.name.clone()))
    else {
        plan.actions.push(Action::CreateCluster(cluster.clone()));
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Create,
            changes: Vec::new(),
        });
        return;
    };
    let (mut changes, settings, capacity) = cluster_drift(&cluster.input, &live.spec);
    let mut tags = tag_drift(&cluster.input.tags, &live.tags, &mut changes);
    if changes.is_empty() {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::InSync,
            changes,
        });
        return;
    }
    let ownership = Ownership::of(&live.tags, owner);
    if let Some(reason) = not_owned("cluster", &live.arn, &ownership, cluster.adopt) {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Blocked {
                by: Block::NotOwned,
                reason,
            },
            changes,
        });
        return;
    }
    if ownership != Ownership::Ours {
        tags.insert(tags::MANAGED_BY.to_string(), tags::MANAGER.to_string());
        tags.insert(tags::OWNER.to_string(), owner.to_string());
    }
    let mut fields: Vec<String> = changes
        .iter()
        .map(|c| {
            c.path
                .split(['.', '['])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    fields.dedup();
    plan.actions
        .push(Action::UpdateCluster(Box::new(ClusterUpdate {
            cluster: cluster.clone(),
            arn: live.arn.clone(),
            settings,
            capacity,
            tags,
        })));
    plan.objects.push(ObjectPlan {
        object,
        verdict: Verdict::Update { fields },
        changes,
    });
}

/// Cluster fields ECS changes with UpdateCluster; the rest go with PutClusterCapacityProviders.
const CLUSTER_SETTINGS: &[&str] = &["settings", "configuration", "serviceConnectDefaults"];
const CLUSTER_CAPACITY: &[&str] = &["capacityProviders", "defaultCapacityProviderStrategy"];

/// What differs between a desired and a live cluster, among the fields the manifest sets: the
/// changes, the UpdateCluster input and the capacity to put.
fn cluster_drift(
    desired: &ClusterInput,
    live: &ClusterInput,
) -> (Vec<Change>, Option<ClusterInput>, Option<ClusterCapacity>) {
    let mut wanted = serde_json::to_value(desired).expect("serializes");
    let mut seen = serde_json::to_value(live).expect("serializes");
    normalize::canonical(&mut wanted);
    normalize::canonical(&mut seen);
    let mut found = Vec::new();
    for key in CLUSTER_SETTINGS.iter().chain(CLUSTER_CAPACITY) {
        let (Some(value), live_value) = (wanted.get(*key), seen.get(*key).unwrap_or(&Json::Null))
        else {
            continue;
        };
        // ECS answers the Service Connect namespace as an ARN, whatever it was given as.
        let namespace_by_name = *key == "serviceConnectDefaults"
            && !value["namespace"]
                .as_str()
                .unwrap_or_default()
                .starts_with("arn:")
            && !live_value.is_null();
        if namespace_by_name || covers(live_value, value) {
            continue;
        }
        found.push(Change {
            path: key.to_string(),
            old: Some(live_value.clone()).filter(|v| !v.is_null()),
            new: Some(value.clone()),
        });
    }
    let differs = |keys: &[&str]| found.iter().any(|c| keys.contains(&c.path.as_str()));
    let settings = differs(CLUSTER_SETTINGS).then(|| ClusterInput {
        settings: desired.settings.clone(),
        configuration: desired.configuration.clone(),
        service_connect_defaults: desired.service_connect_defaults.clone(),
        ..ClusterInput::default()
    });
    // PutClusterCapacityProviders replaces both lists: what the manifest leaves unset stays.
    let capacity = differs(CLUSTER_CAPACITY).then(|| ClusterCapacity {
        providers: desired
            .capacity_providers
            .clone()
            .or_else(|| live.capacity_providers.clone())
            .unwrap_or_default(),
        strategy: desired
            .default_capacity_provider_strategy
            .clone()
            .or_else(|| live.default_capacity_provider_strategy.clone())
            .unwrap_or_default(),
    });
    (found, settings, capacity)
}

fn plan_task_definition(
    td: &DesiredTaskDefinition,
    owner: &Owner,
    observed: &Observed,
    plan: &mut Plan,
) {
    let latest = observed
        .families
        .get(&(td.region.clone(), td.family.clone()));
    let in_sync = latest.is_some_and(|live| {
        live.tags.get(tags::SPEC_HASH) == Some(&td.hash)
            || normalize::task_definition(&live.spec) == normalize::task_definition(&td.input)
    });
    // Two sources registering different content into one family would take turns at its
    // newest revision.
    if let Some(Ownership::Theirs(other)) = latest
        .filter(|_| !in_sync)
        .map(|l| Ownership::of(&l.tags, owner))
    {
        plan.objects.push(ObjectPlan {
            object: td.object.clone(),
            verdict: Verdict::Blocked {
                by: Block::NotOwned,
                reason: format!(
                    "task definition family {} is owned by {other}: give this one another family",
                    td.family
                ),
            },
            changes: Vec::new(),
        });
        return;
    }
    let changes = match latest {
        Some(live) if !in_sync => prefixed(
            "",
            changes(
                &normalize::task_definition(&live.spec),
                &normalize::task_definition(&td.input),
            ),
        ),
        _ => Vec::new(),
    };
    let verdict = match (in_sync, latest) {
        (true, _) => Verdict::InSync,
        (false, None) => Verdict::Create,
        (false, Some(_)) => Verdict::Update {
            fields: vec!["revision".into()],
        },
    };
    if !in_sync {
        plan.actions
            .push(Action::RegisterTaskDefinition(td.clone()));
    }
    plan.objects.push(ObjectPlan {
        object: td.object.clone(),
        verdict,
        changes,
    });
}

fn prefixed(prefix: &str, changes: Vec<Change>) -> Vec<Change> {
    changes
        .into_iter()
        .map(|mut c| {
            c.path = format!("{prefix}{}", c.path);
            c
        })
        .collect()
}

fn plan_service(service: &DesiredService, owner: &Owner, observed: &Observed, plan: &mut Plan) {
    let object = service.object.clone();
    let live = observed
        .services
        .get(&service.key)
        .filter(|s| s.status != "INACTIVE");
    let Some(live) = live else {
        if service.suspended {
            plan.objects.push(ObjectPlan {
                object,
                verdict: Verdict::Blocked {
                    by: Block::Suspended,
                    reason: "suspended".into(),
                },
                changes: Vec::new(),
            });
            return;
        }
        plan.actions
            .push(Action::CreateService(Box::new(service.clone())));
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Create,
            changes: Vec::new(),
        });
        return;
    };
    let blocked = |by: Block, reason: String| ObjectPlan {
        object: object.clone(),
        verdict: Verdict::Blocked { by, reason },
        changes: Vec::new(),
    };
    let ownership = live.ownership(owner);
    if let Some(reason) = not_owned("service", &live.arn, &ownership, service.adopt) {
        plan.objects.push(blocked(Block::NotOwned, reason));
        return;
    }
    if live.status == "DRAINING" {
        plan.objects.push(blocked(
            Block::Deleting,
            "the service is being deleted (DRAINING)".into(),
        ));
        return;
    }
    let (task_definition_changes, deploy) = task_definition_drift(service, live, observed);
    if let Some(failed) = deploy
        .as_ref()
        .and_then(|d| rolled_back_by_ecs(service, live, d))
    {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Quarantined {
                hash: failed.hash.clone(),
            },
            changes: task_definition_changes,
        });
        plan.actions.push(Action::Quarantine(Box::new(failed)));
        return;
    }
    if let Some(key) = deploy.as_ref().map(TaskDefinitionSource::key)
        && live.tags.get(tags::FAILED_SPEC_HASH) == Some(&key)
    {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Quarantined { hash: key },
            changes: task_definition_changes,
        });
        return;
    }
    let (fields, immutable, field_changes, update) = service_drift(service, live);
    let mut all_changes = task_definition_changes;
    all_changes.extend(field_changes);
    if let Some(field) = immutable {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Blocked {
                by: Block::Immutable,
                reason: format!(
                    "{field} cannot be changed on an existing service: delete and recreate it"
                ),
            },
            changes: all_changes,
        });
        return;
    }
    let tags_drift = service.spec.tags.iter().flatten().any(|t| {
        live.tags.get(t.key.as_deref().unwrap_or_default())
            != Some(&t.value.clone().unwrap_or_default())
    });
    // Taking a service over (adopted, or managed from before owner tags) writes our owner.
    let takes_over = ownership != Ownership::Ours;
    if takes_over {
        all_changes.push(Change {
            path: format!("tags.{}", tags::OWNER),
            old: live.tags.get(tags::OWNER).cloned().map(Json::String),
            new: Some(Json::String(owner.to_string())),
        });
    }
    let tags_drift = tags_drift || takes_over;
    let mut names = fields;
    if deploy.is_some() {
        names.insert(0, "taskDefinition".into());
    }
    if tags_drift {
        names.push("tags".into());
    }
    if names.is_empty() {
        if let Some(follow) = rollout_in_flight(service, live) {
            plan.actions.push(follow);
        }
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::InSync,
            changes: Vec::new(),
        });
        return;
    }
    if service.suspended {
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Blocked {
                by: Block::Suspended,
                reason: "suspended".into(),
            },
            changes: all_changes,
        });
        return;
    }
    plan.actions
        .push(Action::UpdateService(Box::new(ServiceUpdate {
            service: service.clone(),
            arn: live.arn.clone(),
            changes: update,
            task_definition: deploy,
            previous: live.task_definition.clone(),
            tags: tags_drift,
        })));
    plan.objects.push(ObjectPlan {
        object,
        verdict: Verdict::Update { fields: names },
        changes: all_changes,
    });
}

/// The desired spec is the one the controller deployed last (the service's tags), yet
/// another revision runs, and ECS's events say the controller's deployment failed: ECS's
/// circuit breaker rolled it back.
fn rolled_back_by_ecs(
    service: &DesiredService,
    live: &ObservedService,
    deploy: &TaskDefinitionSource,
) -> Option<FailedRollout> {
    let hash = deploy.key();
    let deployed = live.tags.get(tags::TASK_DEFINITION)?;
    let deployment = live.tags.get(tags::DEPLOYMENT)?;
    if live.tags.get(tags::SPEC_HASH) != Some(&hash)
        || live.tags.get(tags::FAILED_SPEC_HASH) == Some(&hash)
        || live.task_definition.ends_with(&format!("/{deployed}"))
    {
        return None;
    }
    // The circuit breaker fails a deployment; `rollout stop` (StopServiceDeployment) stops it.
    let failed = format!("(deployment {deployment}) deployment failed");
    let stopped = format!("(deployment {deployment}) deployment stopped");
    let event = live
        .events
        .iter()
        .find(|e| e.contains(&failed) || e.contains(&stopped))?;
    let reason = match event.split_once("deployment failed: ") {
        Some((_, why)) => format!("ECS deployment circuit breaker: {why}"),
        None => "the deployment was stopped (StopServiceDeployment)".to_string(),
    };
    Some(FailedRollout {
        service: service.clone(),
        arn: live.arn.clone(),
        hash,
        failed: deployed.clone(),
        running: live
            .task_definition
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        reason,
    })
}

/// A rollout of the desired revision that is still running (the controller restarted, or
/// an earlier `apply --no-wait` started it): it is followed to its end, with its deadline
/// counted from when it started.
fn rollout_in_flight(service: &DesiredService, live: &ObservedService) -> Option<Action> {
    let primary = live.deployments.iter().find(|d| d.status == "PRIMARY")?;
    if primary.rollout_state.as_deref() != Some("IN_PROGRESS")
        || primary.task_definition != live.task_definition
    {
        return None;
    }
    // The tags describe this rollout only when they name the revision it deploys (a crash
    // between UpdateService and TagResource leaves the previous rollout's).
    let tagged = live
        .tags
        .get(tags::TASK_DEFINITION)
        .is_some_and(|td| live.task_definition.ends_with(&format!("/{td}")));
    let started = live
        .tags
        .get(tags::ROLLOUT_STARTED)
        .filter(|_| tagged)
        .and_then(|t| t.parse::<f64>().ok())
        .or(primary.created_at);
    let previous = live
        .deployments
        .iter()
        .find(|d| d.status == "ACTIVE")
        .map(|d| d.task_definition.clone());
    let hash = match &service.task_definition {
        TaskDefinitionSource::Managed { hash, .. } => live
            .tags
            .get(tags::SPEC_HASH)
            .filter(|_| tagged)
            .unwrap_or(hash)
            .clone(),
        existing @ TaskDefinitionSource::Existing(_) => existing.key(),
    };
    Some(Action::FollowRollout(Box::new(InFlight {
        service: service.clone(),
        hash,
        task_definition: live.task_definition.clone(),
        deployment: primary.id.clone(),
        service_deployment: live.current_service_deployment.clone(),
        started,
        previous,
    })))
}

/// The task definition's changes, and what to deploy when the live revision is not it.
fn task_definition_drift(
    service: &DesiredService,
    live: &ObservedService,
    observed: &Observed,
) -> (Vec<Change>, Option<TaskDefinitionSource>) {
    match &service.task_definition {
        TaskDefinitionSource::Existing(reference) => {
            let same = live.task_definition == *reference
                || live.task_definition.ends_with(&format!("/{reference}"))
                || (!reference.contains(':')
                    && live.task_definition.contains(&format!("/{reference}:")));
            let change = Change {
                path: "taskDefinition".into(),
                old: Some(Json::String(live.task_definition.clone())),
                new: Some(Json::String(reference.clone())),
            };
            if same {
                (Vec::new(), None)
            } else {
                (vec![change], Some(service.task_definition.clone()))
            }
        }
        TaskDefinitionSource::Managed { hash, .. } => {
            let described = observed.task_definitions.get(&live.task_definition);
            let has_container_ignores = service
                .ignore
                .iter()
                .any(|i| matches!(i, IgnoredField::Container { .. }));
            let effective = effective_task_definition(service, described);
            let desired_hash = if has_container_ignores {
                hash::task_definition(&effective)
            } else {
                hash.clone()
            };
            let deploy = |effective: TaskDefinitionInput, hash: String| {
                Some(TaskDefinitionSource::Managed {
                    input: Box::new(effective),
                    hash,
                })
            };
            let deployed = live
                .tags
                .get(tags::TASK_DEFINITION)
                .is_some_and(|td| live.task_definition.ends_with(&format!("/{td}")));
            if deployed && live.tags.get(tags::SPEC_HASH) == Some(&desired_hash) {
                return (Vec::new(), None);
            }
            let Some(described) = described else {
                // Not described: the observer only skips that when the tags prove sync.
                return (Vec::new(), deploy(effective, desired_hash));
            };
            let old = normalize::task_definition(&described.spec);
            let new = normalize::task_definition(&effective);
            if described.tags.get(tags::SPEC_HASH) == Some(&desired_hash) || old == new {
                return (Vec::new(), None);
            }
            (
                prefixed("taskDefinition.", changes(&old, &new)),
                deploy(effective, desired_hash),
            )
        }
    }
}

/// The service fields that differ: names, the first immutable one, the changes, and the
/// UpdateService input carrying just them.
fn service_drift(
    service: &DesiredService,
    live: &ObservedService,
) -> (Vec<String>, Option<String>, Vec<Change>, ServiceInput) {
    let spec = &oriented_like(&service.spec, &live.spec);
    let mut desired = serde_json::to_value(spec).expect("serializes");
    let mut observed = serde_json::to_value(&live.spec).expect("serializes");
    normalize::canonical(&mut desired);
    normalize::canonical(&mut observed);
    let mut fields = Vec::new();
    let mut immutable = None;
    let mut found = Vec::new();
    let mut update = serde_json::Map::new();
    for (key, value) in desired.as_object().into_iter().flatten() {
        let ignored = service
            .ignore
            .iter()
            .any(|i| matches!(i, IgnoredField::Service(f) if f == key));
        if NOT_COMPARED.contains(&key.as_str()) || ignored {
            continue;
        }
        let live_value = observed.get(key).unwrap_or(&Json::Null);
        if covers(live_value, value) {
            continue;
        }
        if IMMUTABLE.contains(&key.as_str()) && immutable.is_none() {
            immutable = Some(key.clone());
        }
        fields.push(key.clone());
        found.push(Change {
            path: key.clone(),
            old: Some(live_value.clone()).filter(|v| !v.is_null()),
            new: Some(value.clone()),
        });
        update.insert(key.clone(), service_field(spec, key));
    }
    let mut update: ServiceInput = serde_json::from_value(Json::Object(update)).unwrap_or_default();
    // ECS takes a new capacity provider strategy only with a new deployment.
    if update.capacity_provider_strategy.is_some() {
        update.force_new_deployment = Some(true);
    }
    (fields, immutable, found, update)
}

/// The desired spec with each load balancer's production and alternate target groups the way
/// round ECS has them: a blue/green deployment swaps the pair each time it succeeds, so the
/// pair is unordered (and an update keeps the live traffic where it is).
fn oriented_like(desired: &ServiceInput, live: &ServiceInput) -> ServiceInput {
    let mut oriented = desired.clone();
    let live_balancers = live.load_balancers.as_deref().unwrap_or_default();
    for lb in oriented.load_balancers.iter_mut().flatten() {
        let Some(advanced) = lb.advanced_configuration.as_mut() else {
            continue;
        };
        let swapped = live_balancers.iter().any(|l| {
            l.container_name == lb.container_name
                && l.container_port == lb.container_port
                && l.target_group_arn == advanced.alternate_target_group_arn
                && l.advanced_configuration
                    .as_ref()
                    .is_some_and(|a| a.alternate_target_group_arn == lb.target_group_arn)
        });
        if swapped {
            std::mem::swap(
                &mut lb.target_group_arn,
                &mut advanced.alternate_target_group_arn,
            );
        }
    }
    oriented
}

/// A field of the spec as written (not canonical), for UpdateService.
fn service_field(spec: &ServiceInput, key: &str) -> Json {
    serde_json::to_value(spec)
        .expect("serializes")
        .get(key)
        .cloned()
        .unwrap_or(Json::Null)
}

fn plan_prune(desired: &Desired, observed: &Observed, prune: Prune, plan: &mut Plan) {
    let (moved, doomed): (Vec<_>, Vec<_>) = observed
        .owned
        .iter()
        .filter(|(key, live)| {
            let wanted = desired.services.iter().any(|s| s.key == *key);
            let retained = live.tags.get(RETAIN_TAG).is_some_and(|v| v == "Retain");
            let ours = live.ownership(&desired.owner) == Ownership::Ours;
            ours && !wanted && !retained && live.status == "ACTIVE"
        })
        .partition(|(key, live)| moved_to(desired, key, live).is_some());
    for (key, live) in moved {
        let to = moved_to(desired, key, live).expect("partitioned so");
        plan.objects.push(ObjectPlan {
            object: ObjectKey::pruned_service(&key.cluster, &key.name),
            verdict: Verdict::Blocked {
                by: Block::Moved,
                reason: format!(
                    "not pruned: {} now names {to}; this service in {} keeps running until you delete it",
                    key.name, key.region
                ),
            },
            changes: Vec::new(),
        });
    }
    // A half-read or half-written source must not empty a cluster: at most half of this
    // owner's services (and always one) go in one sweep, unless asked.
    let owned = observed
        .owned
        .iter()
        .map(|(_, live)| live)
        .chain(observed.services.values())
        .filter(|live| live.ownership(&desired.owner) == Ownership::Ours)
        .count();
    let allowed = match prune {
        Prune::AllowMass => doomed.len(),
        _ => (owned / 2).max(1),
    };
    for (i, (key, live)) in doomed.iter().enumerate() {
        let object = ObjectKey::pruned_service(&key.cluster, &key.name);
        if i >= allowed {
            plan.objects.push(ObjectPlan {
                object,
                verdict: Verdict::Blocked {
                    by: Block::PrunePending,
                    reason: format!(
                        "prune pending: {} of this owner's {owned} services left the source, and at most {allowed} are deleted in one sweep (--prune-allow-mass lifts the limit)",
                        doomed.len()
                    ),
                },
                changes: Vec::new(),
            });
            continue;
        }
        plan.actions.push(Action::DeleteService {
            key: key.clone(),
            arn: live.arn.clone(),
            desired_count: live.desired_count,
        });
        plan.objects.push(ObjectPlan {
            object,
            verdict: Verdict::Delete,
            changes: Vec::new(),
        });
    }
}

/// Where the object that made the service at `key` lives now, when that is another account or
/// region. (Services made before the object tag cannot tell: they are pruned as before.)
fn moved_to<'d>(
    desired: &'d Desired,
    key: &ServiceKey,
    live: &ObservedService,
) -> Option<&'d AccountRegion> {
    let object = live.tags.get(tags::OBJECT)?;
    desired
        .services
        .iter()
        .find(|s| s.object.to_string() == *object)
        .map(|s| &s.key.region)
        .filter(|region| **region != key.region)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::parse_file;
    use crate::diff::observed::{ObservedDeployment, Tags};

    fn desired(extra: &str, annotations: &str) -> Desired {
        let yaml = format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: web\n{annotations}spec:\n  cluster: c1\n  desiredCount: 2\n  launchType: EC2\n{extra}  taskDefinition:\n    containerDefinitions:\n      - {{name: app, image: nginx:1, memory: 128}}\n"
        );
        let mut parsed = parse_file("t.yaml", &yaml);
        parsed.check_rules();
        assert_eq!(parsed.errors(), 0, "{:?}", parsed.diagnostics);
        Desired::from_manifests(&parsed.manifests, "us-east-1", Owner::new(ME))
    }

    const ME: &str = "repo-a//deploy";

    fn hash_of(desired: &Desired) -> String {
        match &desired.services[0].task_definition {
            TaskDefinitionSource::Managed { hash, .. } => hash.clone(),
            TaskDefinitionSource::Existing(_) => unreachable!(),
        }
    }

    /// ECS running exactly the desired service; owned when `managed`.
    fn observed(desired: &Desired, managed: bool) -> Observed {
        let service = &desired.services[0];
        let mut tags = Tags::new();
        if managed {
            tags.insert(tags::MANAGED_BY.into(), tags::MANAGER.into());
            tags.insert(tags::OWNER.into(), ME.into());
            tags.insert(tags::TASK_DEFINITION.into(), "web:1".into());
            tags.insert(tags::SPEC_HASH.into(), hash_of(desired));
        }
        let live = ObservedService {
            arn: "arn:aws:ecs:us-east-1:000000000000:service/c1/web".into(),
            name: "web".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/c1".into(),
            status: "ACTIVE".into(),
            task_definition: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
            desired_count: 2,
            running_count: 2,
            pending_count: 0,
            spec: service.spec.clone(),
            tags,
            deployments: Vec::new(),
            events: Vec::new(),
            current_service_deployment: None,
            service_deployment: None,
        };
        let mut observed = Observed::default();
        observed.services.insert(service.key.clone(), live);
        observed
    }

    fn verdict(plan: &Plan) -> &Verdict {
        &plan.objects[0].verdict
    }

    #[test]
    fn in_sync_needs_nothing_and_drift_is_an_update_of_just_that_field() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        assert_eq!(
            *verdict(&plan(&desired, &observed, Prune::Off)),
            Verdict::InSync
        );
        let live = observed.services.values_mut().next().unwrap();
        live.spec.desired_count = Some(5);
        let drifted = plan(&desired, &observed, Prune::Off);
        assert_eq!(
            *verdict(&drifted),
            Verdict::Update {
                fields: vec!["desiredCount".into()]
            }
        );
        let Action::UpdateService(update) = &drifted.actions[0] else {
            panic!()
        };
        assert_eq!(
            (update.changes.desired_count, &update.task_definition),
            (Some(2), &None)
        );
        assert_eq!(
            update.changes.launch_type, None,
            "only the changed field is sent"
        );
    }

    #[test]
    fn ignored_fields_are_left_alone() {
        let desired = desired("  ignoreDifferences: [desiredCount]\n", "");
        let mut observed = observed(&desired, true);
        observed
            .services
            .values_mut()
            .next()
            .unwrap()
            .spec
            .desired_count = Some(5);
        assert_eq!(
            *verdict(&plan(&desired, &observed, Prune::Off)),
            Verdict::InSync
        );
    }

    #[test]
    fn unowned_services_are_blocked_unless_adopted() {
        let desired_plain = desired("", "");
        let observed = observed(&desired_plain, false);
        let blocked = plan(&desired_plain, &observed, Prune::Off);
        assert!(
            matches!(verdict(&blocked), Verdict::Blocked { reason, .. } if reason.contains("not managed by ecs-gitops"))
        );
        assert!(blocked.actions.is_empty());
        let adopting = desired("", "  annotations:\n    ecs-gitops.dev/adopt: \"true\"\n");
        let adopted = plan(&adopting, &observed, Prune::Off);
        assert_eq!(
            *verdict(&adopted),
            Verdict::Update {
                fields: vec!["taskDefinition".into(), "tags".into()]
            },
            "adopting writes the owner tag"
        );
    }

    #[test]
    fn suspended_objects_and_immutable_fields_change_nothing() {
        let suspended = desired("", "  annotations:\n    ecs-gitops.dev/suspend: \"true\"\n");
        let mut observed = observed(&suspended, true);
        observed
            .services
            .values_mut()
            .next()
            .unwrap()
            .spec
            .desired_count = Some(5);
        let paused = plan(&suspended, &observed, Prune::Off);
        assert!(
            matches!(verdict(&paused), Verdict::Blocked { reason, .. } if reason == "suspended")
        );
        assert!(paused.actions.is_empty());
        let desired = desired("", "");
        let mut observed = observed_with_launch_type(&desired);
        let replace = plan(&desired, &observed, Prune::Off);
        assert!(
            matches!(verdict(&replace), Verdict::Blocked { reason, .. } if reason.starts_with("launchType cannot be changed"))
        );
        observed.services.clear();
        assert_eq!(
            *verdict(&plan(&desired, &observed, Prune::Off)),
            Verdict::Create
        );
    }

    fn observed_with_launch_type(desired: &Desired) -> Observed {
        let mut observed = observed(desired, true);
        observed
            .services
            .values_mut()
            .next()
            .unwrap()
            .spec
            .launch_type = Some(crate::api::LaunchType::Fargate);
        observed
    }

    #[test]
    fn a_failed_spec_is_quarantined_until_it_changes() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        let live = observed.services.values_mut().next().unwrap();
        live.tags
            .insert(tags::FAILED_SPEC_HASH.into(), hash_of(&desired));
        live.tags
            .insert(tags::SPEC_HASH.into(), "an-older-hash".into());
        let quarantined = plan(&desired, &observed, Prune::Off);
        assert_eq!(
            *verdict(&quarantined),
            Verdict::Quarantined {
                hash: hash_of(&desired)
            }
        );
        assert!(quarantined.actions.is_empty());
        assert!(
            quarantined.in_sync(),
            "a quarantined spec is no difference to act on"
        );
    }

    #[test]
    fn a_service_moved_to_another_account_is_not_pruned_where_it_was() {
        let desired = desired("  account: prod\n", "");
        let key = &desired.services[0].key;
        assert_eq!(
            key.region,
            AccountRegion::resolve(Some("prod"), None, "us-east-1")
        );
        let mut left = observed(&desired, true);
        let (_, mut live) = left.services.pop_first().unwrap();
        let before = ServiceKey {
            region: "us-east-1".into(),
            ..key.clone()
        };
        left.owned.push((before.clone(), live.clone()));
        let untold = plan(&desired, &left, Prune::AllowMass);
        assert!(
            matches!(&untold.actions[..], [_, Action::DeleteService { key, .. }] if *key == before),
            "a service without the object tag is pruned as before: {:?}",
            untold.actions
        );
        live.tags
            .insert(tags::OBJECT.into(), desired.services[0].object.to_string());
        left.owned = vec![(before, live)];
        let planned = plan(&desired, &left, Prune::AllowMass);
        assert!(
            !planned
                .actions
                .iter()
                .any(|a| matches!(a, Action::DeleteService { .. })),
            "{:?}",
            planned.actions
        );
        let moved = planned
            .objects
            .iter()
            .find(|o| o.object == ObjectKey::pruned_service("c1", "web"))
            .unwrap();
        assert_eq!(
            moved.verdict,
            Verdict::Blocked {
                by: Block::Moved,
                reason: "not pruned: web now names us-east-1 of account prod; this service in us-east-1 keeps running until you delete it".into()
            }
        );
        assert!(
            matches!(verdict(&planned), Verdict::Create),
            "and it is created in its new account"
        );
    }

    #[test]
    fn prune_deletes_owned_services_that_left_the_source_unless_retained() {
        let desired = desired("", "");
        let mut gone = observed(&desired, true)
            .services
            .into_values()
            .next()
            .unwrap();
        gone.name = "old".into();
        let key = ServiceKey {
            region: "us-east-1".into(),
            cluster: "c1".into(),
            name: "old".into(),
        };
        let mut observed = observed(&desired, true);
        observed.owned.push((key.clone(), gone.clone()));
        let pruned = plan(&desired, &observed, Prune::On);
        assert!(matches!(&pruned.actions[..], [Action::DeleteService { key: k, .. }] if *k == key));
        assert!(
            plan(&desired, &observed, Prune::Off).actions.is_empty(),
            "only with prune"
        );
        gone.tags.insert(RETAIN_TAG.into(), "Retain".into());
        observed.owned = vec![(key, gone)];
        assert!(
            plan(&desired, &observed, Prune::On).actions.is_empty(),
            "Retain keeps it"
        );
    }

    fn live_of(observed: &mut Observed) -> &mut ObservedService {
        observed.services.values_mut().next().unwrap()
    }

    #[test]
    fn another_owners_service_is_blocked_and_legacy_ones_are_taken_over() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        live_of(&mut observed)
            .tags
            .insert(tags::OWNER.into(), "repo-b".into());
        let blocked = plan(&desired, &observed, Prune::Off);
        assert!(
            matches!(verdict(&blocked), Verdict::Blocked { reason, .. } if reason.contains("is owned by repo-b")),
            "{:?}",
            verdict(&blocked)
        );
        assert!(blocked.actions.is_empty());

        let adopting = desired_with("", "  annotations:\n    ecs-gitops.dev/adopt: \"true\"\n");
        let adopted = plan(&adopting, &observed, Prune::Off);
        assert!(matches!(
            &adopted.actions[..],
            [Action::UpdateService(update)] if update.tags
        ));
        let change = adopted.objects[0].changes.last().unwrap();
        assert_eq!(change.path, "tags.ecs-gitops.dev/owner");
        assert_eq!(change.new, Some(Json::String(ME.into())));

        live_of(&mut observed).tags.remove(tags::OWNER);
        let legacy = plan(&desired, &observed, Prune::Off);
        assert_eq!(
            *verdict(&legacy),
            Verdict::Update {
                fields: vec!["tags".into()]
            },
            "managed from before owner tags: the first source naming it takes it over"
        );
    }

    fn desired_with(extra: &str, annotations: &str) -> Desired {
        desired(extra, annotations)
    }

    fn gone(desired: &Desired, name: &str, owner: &str) -> (ServiceKey, ObservedService) {
        let mut live = observed(desired, true)
            .services
            .into_values()
            .next()
            .unwrap();
        live.name = name.into();
        live.tags.insert(tags::OWNER.into(), owner.into());
        let key = ServiceKey {
            region: "us-east-1".into(),
            cluster: "c1".into(),
            name: name.into(),
        };
        (key, live)
    }

    #[test]
    fn prune_takes_only_this_owners_services_and_at_most_half_at_once() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        observed.owned = (0..4)
            .map(|i| gone(&desired, &format!("old-{i}"), ME))
            .collect();
        observed.owned.push(gone(&desired, "theirs", "repo-b"));
        let deletes = |plan: &Plan| {
            plan.actions
                .iter()
                .filter(|a| matches!(a, Action::DeleteService { .. }))
                .count()
        };
        let guarded = plan(&desired, &observed, Prune::On);
        // 6 in the inventory but one is repo-b's: 5 of ours, so at most 2 go now.
        assert_eq!(deletes(&guarded), 2);
        let pending: Vec<&ObjectPlan> = guarded
            .objects
            .iter()
            .filter(|o| matches!(&o.verdict, Verdict::Blocked { reason, .. } if reason.starts_with("prune pending")))
            .collect();
        assert_eq!(pending.len(), 2);
        assert!(
            guarded
                .actions
                .iter()
                .all(|a| !matches!(a, Action::DeleteService { key, .. } if key.name == "theirs")),
            "another owner's service is never pruned"
        );
        let all = plan(&desired, &observed, Prune::AllowMass);
        assert_eq!(deletes(&all), 4);

        observed.owned.truncate(1);
        assert_eq!(
            deletes(&plan(&desired, &observed, Prune::On)),
            1,
            "one always may go"
        );
    }

    #[test]
    fn a_rollout_in_progress_is_followed_from_when_it_started() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        let live = live_of(&mut observed);
        live.tags
            .insert(tags::ROLLOUT_STARTED.into(), "1700000000".into());
        let deployment = |status: &str, td: &str, state: &str| ObservedDeployment {
            id: format!("ecs-svc/{status}"),
            status: status.into(),
            task_definition: td.into(),
            rollout_state: Some(state.into()),
            rollout_state_reason: None,
            desired_count: 2,
            running_count: 1,
            pending_count: 1,
            failed_tasks: 3,
            created_at: Some(1_800_000_000.0),
        };
        let old = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:0";
        live.deployments = vec![
            deployment("PRIMARY", &live.task_definition.clone(), "IN_PROGRESS"),
            deployment("ACTIVE", old, "COMPLETED"),
        ];
        let following = plan(&desired, &observed, Prune::Off);
        assert_eq!(*verdict(&following), Verdict::InSync, "nothing to change");
        let [Action::FollowRollout(rollout)] = &following.actions[..] else {
            panic!("{:?}", following.actions)
        };
        assert_eq!(
            rollout.started,
            Some(1_700_000_000.0),
            "the tag, not ECS's clock"
        );
        assert_eq!(rollout.previous.as_deref(), Some(old));
        assert_eq!(rollout.hash, hash_of(&desired));

        // Tags left by an earlier rollout (a crash before tagging): ECS's createdAt counts.
        let live = live_of(&mut observed);
        live.tags
            .insert(tags::TASK_DEFINITION.into(), "web:0".into());
        let arn = live.task_definition.clone();
        let TaskDefinitionSource::Managed { input, .. } = &desired.services[0].task_definition
        else {
            unreachable!()
        };
        let described = ObservedTaskDefinition {
            arn: arn.clone(),
            family: "web".into(),
            revision: 1,
            status: "ACTIVE".into(),
            spec: (**input).clone(),
            tags: Tags::new(),
        };
        observed.task_definitions.insert(arn, described);
        let following = plan(&desired, &observed, Prune::Off);
        let Some(Action::FollowRollout(rollout)) = following.actions.last() else {
            panic!("{:?}", following.actions)
        };
        assert_eq!(rollout.started, Some(1_800_000_000.0));
    }

    fn cluster_desired(spec: &str) -> Desired {
        let yaml = format!(
            "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: c1\nspec:\n{spec}"
        );
        let mut parsed = parse_file("c.yaml", &yaml);
        parsed.check_rules();
        assert_eq!(parsed.errors(), 0, "{:?}", parsed.diagnostics);
        Desired::from_manifests(&parsed.manifests, "us-east-1", Owner::new(ME))
    }

    fn live_cluster(desired: &Desired, live: &str, owner: Option<&str>) -> Observed {
        let mut tags = Tags::new();
        if let Some(owner) = owner {
            tags.insert(tags::MANAGED_BY.into(), tags::MANAGER.into());
            tags.insert(tags::OWNER.into(), owner.into());
        }
        let cluster = ObservedCluster {
            arn: "arn:aws:ecs:us-east-1:000000000000:cluster/c1".into(),
            name: "c1".into(),
            status: "ACTIVE".into(),
            spec: serde_json::from_str(live).unwrap(),
            tags,
        };
        let mut observed = Observed::default();
        let key = (desired.clusters[0].region.clone(), "c1".to_string());
        observed.clusters.insert(key, cluster);
        observed
    }

    #[test]
    fn cluster_settings_are_compared_where_the_manifest_sets_them() {
        let defaults = r#"{"settings": [{"name": "containerInsights", "value": "disabled"}]}"#;
        let bare = cluster_desired("  {}\n");
        let observed = live_cluster(&bare, defaults, Some(ME));
        assert_eq!(
            *verdict(&plan(&bare, &observed, Prune::Off)),
            Verdict::InSync,
            "what ECS adds is no drift"
        );

        let wanted = cluster_desired(
            "  settings: [{name: containerInsights, value: enhanced}]\n  capacityProviders: [FARGATE, FARGATE_SPOT]\n",
        );
        let repair = plan(
            &wanted,
            &live_cluster(&wanted, defaults, Some(ME)),
            Prune::Off,
        );
        assert_eq!(
            *verdict(&repair),
            Verdict::Update {
                fields: vec!["settings".into(), "capacityProviders".into()]
            }
        );
        let [Action::UpdateCluster(update)] = &repair.actions[..] else {
            panic!("{:?}", repair.actions)
        };
        let settings = update.settings.as_ref().unwrap().settings.as_ref().unwrap();
        assert_eq!(settings[0].value.as_deref(), Some("enhanced"));
        let capacity = update.capacity.as_ref().unwrap();
        assert_eq!(capacity.providers, ["FARGATE", "FARGATE_SPOT"]);
        assert!(capacity.strategy.is_empty(), "the live strategy is kept");
        assert!(update.tags.is_empty(), "already ours");

        let same_providers = r#"{"capacityProviders": ["FARGATE_SPOT", "FARGATE"], "settings": [{"name": "containerInsights", "value": "enhanced"}]}"#;
        let observed = live_cluster(&wanted, same_providers, Some(ME));
        assert_eq!(
            *verdict(&plan(&wanted, &observed, Prune::Off)),
            Verdict::InSync,
            "order does not matter"
        );

        let unowned = plan(&wanted, &live_cluster(&wanted, defaults, None), Prune::Off);
        assert!(
            matches!(verdict(&unowned), Verdict::Blocked { reason, .. } if reason.contains("not managed by ecs-gitops")),
            "{:?}",
            verdict(&unowned)
        );
        assert!(unowned.actions.is_empty());
    }

    #[test]
    fn a_rollout_ecs_failed_and_rolled_back_is_quarantined_not_retried() {
        let desired = desired("", "");
        let mut observed = observed(&desired, true);
        let live = live_of(&mut observed);
        live.tags
            .insert(tags::TASK_DEFINITION.into(), "web:2".into());
        live.tags
            .insert(tags::DEPLOYMENT.into(), "ecs-svc/9".into());
        let running = live.task_definition.clone(); // web:1, what ECS rolled back to
        let TaskDefinitionSource::Managed { input, .. } = &desired.services[0].task_definition
        else {
            unreachable!()
        };
        let mut older = (**input).clone();
        older.container_definitions[0].image = Some("nginx:0".into());
        observed.task_definitions.insert(
            running.clone(),
            ObservedTaskDefinition {
                arn: running,
                family: "web".into(),
                revision: 1,
                status: "ACTIVE".into(),
                spec: older,
                tags: Tags::new(),
            },
        );
        let retried = plan(&desired, &observed, Prune::Off);
        assert!(
            matches!(&retried.actions[..], [Action::UpdateService(_)]),
            "without ECS's word it is drift: {:?}",
            retried.actions
        );
        live_of(&mut observed).events = vec![
            "(service web) (deployment ecs-svc/9) deployment failed: tasks failed to start.".into(),
        ];
        let quarantined = plan(&desired, &observed, Prune::Off);
        assert_eq!(
            *verdict(&quarantined),
            Verdict::Quarantined {
                hash: hash_of(&desired)
            }
        );
        let [Action::Quarantine(failed)] = &quarantined.actions[..] else {
            panic!("{:?}", quarantined.actions)
        };
        assert_eq!(
            failed.message(),
            "rollout of web:2 FAILED: ECS deployment circuit breaker: tasks failed to start.; ECS rolled back to web:1"
        );
    }

    #[test]
    fn a_swapped_target_group_pair_is_the_same_pair_and_updates_keep_the_live_way_round() {
        let lb = |production: &str, alternate: &str| -> ServiceInput {
            serde_json::from_value(serde_json::json!({"loadBalancers": [{
                "targetGroupArn": production, "containerName": "app", "containerPort": 80,
                "advancedConfiguration": {"alternateTargetGroupArn": alternate, "roleArn": "r"}
            }]}))
            .unwrap()
        };
        let desired = lb("blue", "green");
        assert_eq!(
            oriented_like(&desired, &lb("green", "blue")),
            lb("green", "blue")
        );
        assert_eq!(oriented_like(&desired, &lb("blue", "green")), desired);
        // Another pair is a real change.
        assert_eq!(oriented_like(&desired, &lb("green", "red")), desired);
    }

    #[test]
    fn each_new_service_lists_its_own_pre_deploy_tasks() {
        let yaml = ["api", "web"]
            .map(|name| {
                format!(
                    "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {name}\nspec:\n  cluster: c1\n  rollout:\n    preDeploy: [{{name: migrate-{name}, useServiceTaskDefinition: true}}]\n  taskDefinition:\n    containerDefinitions: [{{name: app, image: nginx:1, memory: 128}}]\n"
                )
            })
            .join("---\n");
        let parsed = parse_file("t.yaml", &yaml);
        let desired = Desired::from_manifests(&parsed.manifests, "us-east-1", Owner::new(ME));
        let plan = plan(&desired, &Observed::default(), Prune::Off);
        for name in ["api", "web"] {
            let key = ObjectKey::new(crate::api::Kind::EcsService, "", name);
            assert_eq!(
                plan.pre_deploy(&key),
                [format!(
                    "migrate-{name}: runs the service's new task definition to completion first"
                )]
            );
        }
    }
}
