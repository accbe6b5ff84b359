//! The three kinds. Each spec is the ECS API input it mirrors (flattened, with the API's own
//! camelCase names) plus the few fields the controller owns.

use std::borrow::Cow;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::status::{
    EcsCapacityProviderStatus, EcsClusterStatus, EcsServiceStatus, EcsTaskDefinitionStatus,
};
use super::{CapacityProviderInput, ClusterInput, ServiceInput, TaskDefinitionInput, TaskOverride};

pub const API_GROUP: &str = "ecs-gitops.dev";
pub const API_VERSION: &str = "ecs-gitops.dev/v1alpha1";

/// An ECS capacity provider (`CreateCapacityProvider`): an EC2 Auto Scaling group or ECS
/// Managed Instances as capacity for clusters. `name` defaults to `metadata.name`; an
/// `EcsCluster` lists it in `capacityProviders` to use it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecs-gitops.dev",
    version = "v1alpha1",
    kind = "EcsCapacityProvider",
    namespaced,
    status = "EcsCapacityProviderStatus",
    shortname = "ecscp",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.capacityProviderStatus"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EcsCapacityProviderSpec {
    /// The AWS account of the capacity provider: the name of an account in the controller's
    /// accounts file, whose role the controller assumes; the controller's own credentials
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AWS region of the capacity provider; the controller's default region when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub capacity_provider: CapacityProviderInput,
    /// What removing the object means: `Delete` (the default; only a capacity provider this
    /// source created) or `Retain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// An ECS cluster (`CreateCluster`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecs-gitops.dev",
    version = "v1alpha1",
    kind = "EcsCluster",
    namespaced,
    status = "EcsClusterStatus",
    shortname = "ecsc",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.clusterStatus"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct EcsClusterSpec {
    /// The AWS account of the cluster: the name of an account in the controller's accounts
    /// file, whose role the controller assumes; the controller's own credentials when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AWS region of the cluster; the controller's default region when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub cluster: ClusterInput,
}

/// An ECS task definition family (`RegisterTaskDefinition`), for tasks that are run rather
/// than served. `family` defaults to `metadata.name`; a new revision is registered only when
/// the content changes.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecs-gitops.dev",
    version = "v1alpha1",
    kind = "EcsTaskDefinition",
    namespaced,
    status = "EcsTaskDefinitionStatus",
    shortname = "ecstd",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.taskDefinition"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct EcsTaskDefinitionSpec {
    /// The AWS account of the task definition: the name of an account in the controller's accounts
    /// file, whose role the controller assumes; the controller's own credentials when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AWS region of the task definition; the controller's default region when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub task_definition: TaskDefinitionInput,
    /// How many of the family's newest revisions stay registered; older ones the controller
    /// registered (and nothing uses) are deregistered and deleted. Default 10; 0 keeps all.
    #[serde(
        default,
        rename = "revisionHistoryLimit",
        skip_serializing_if = "Option::is_none"
    )]
    pub revision_history_limit: Option<u32>,
}

/// An ECS service (`CreateService` / `UpdateService`), its task definition, and how the
/// controller rolls it out. `serviceName` defaults to `metadata.name`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecs-gitops.dev",
    version = "v1alpha1",
    kind = "EcsService",
    namespaced,
    status = "EcsServiceStatus",
    shortname = "ecss",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.taskDefinition"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rollout.state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceSpec {
    /// The AWS account of the service: the name of an account in the controller's accounts
    /// file, whose role the controller assumes; the controller's own credentials when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AWS region of the service; the controller's default region when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub service: ServiceInput,
    /// The task definition the service runs: either inline (a `RegisterTaskDefinition`
    /// body, see `kubectl explain ecstaskdefinition.spec`; `family` defaults to the service's
    /// name) or a string naming an existing task definition not managed here (family,
    /// family:revision or ARN). Exactly one of taskDefinition and taskDefinitionRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<ServiceTaskDefinition>,
    /// The name of an EcsTaskDefinition of the same source whose latest revision the service
    /// runs. Exactly one of taskDefinition and taskDefinitionRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<String>,
    /// Fields the controller leaves alone when they drift because another system owns them.
    /// Each entry is a service field (`desiredCount`) or a container field
    /// (`containerDefinitions[web].image`, `containerDefinitions[*].image`). Ignored fields
    /// are still set when the service is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_differences: Option<Vec<String>>,
    /// How the controller follows and judges a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
    /// What removing the service from the source means when pruning is on: `Delete` (scale
    /// to zero, then delete; the default) or `Retain` (leave it running, unmanaged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// How many of the task definition family's newest revisions stay registered after a
    /// successful rollout; older ones the controller registered (and nothing uses) are
    /// deregistered and deleted. Default 10; 0 keeps all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<u32>,
}

/// The task definition of an `EcsService`: inline, or an existing one named by a string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceTaskDefinition {
    /// An existing task definition, as ECS reads it: family (latest ACTIVE revision),
    /// family:revision or ARN. The controller does not manage it.
    Existing(String),
    Inline(Box<TaskDefinitionInput>),
}

impl JsonSchema for ServiceTaskDefinition {
    fn schema_name() -> Cow<'static, str> {
        "ServiceTaskDefinition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inline = generator.subschema_for::<TaskDefinitionInput>();
        json_schema!({"anyOf": [{"type": "string"}, inline]})
    }
}

/// How the controller follows a rollout and what it does when one fails.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPolicy {
    /// How long a rollout may take before it counts as failed, e.g. `10m`, `90s`, `1h`.
    /// Default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Whether a sync waits for the deployment to reach a steady state. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// What the controller does when a rollout fails and ECS did not roll it back itself:
    /// `rollback` (update the service back to the last good task definition) or `none`
    /// (leave it, and report). Default `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Tasks run once, in order, before a new task definition is deployed (database
    /// migrations): each is started with RunTask in the service's cluster and network, and
    /// the service is updated only when every one stopped with its essential containers
    /// exited 0. A failure leaves the service untouched and quarantines the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<Vec<PreDeployTask>>,
}

/// A task run to completion before the service's new task definition is deployed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreDeployTask {
    /// Names the task in status, events and its tags; unique within the service.
    pub name: String,
    /// The name of an EcsTaskDefinition of the same source whose latest revision is run.
    /// Exactly one of taskDefinitionRef, taskDefinition and useServiceTaskDefinition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<String>,
    /// An inline task definition (`family` defaults to `<service>-<name>`), or a string
    /// naming an existing one not managed here (family, family:revision or ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<ServiceTaskDefinition>,
    /// Run the service's new task definition itself (usually with a command override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_service_task_definition: Option<bool>,
    /// RunTask's `overrides`: another command, environment, cpu or memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TaskOverride>,
    /// How long the task may take, e.g. `15m`; it is stopped and the rollout failed after
    /// that. Default: the rollout's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Rollback,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    Delete,
    Retain,
}
