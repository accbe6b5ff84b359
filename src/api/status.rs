//! Status of the kinds, kstatus-style (as Flux reports it): `observedGeneration`, the
//! conditions `Ready` / `Reconciling` / `Stalled`, and what was applied from which revision.
//! In Git mode the same structure is served by the status endpoint.

use schemars::JsonSchema;

use super::Kind;
use serde::{Deserialize, Serialize};

/// Condition types.
pub mod condition {
    /// The object is in the desired state in ECS.
    pub const READY: &str = "Ready";
    /// The controller is changing ECS or following a rollout.
    pub const RECONCILING: &str = "Reconciling";
    /// Progress stopped and needs a change to the source (invalid spec, failed rollout).
    pub const STALLED: &str = "Stalled";
}

/// Condition reasons: CamelCase, stable, for tools to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reason {
    ReconciliationSucceeded,
    /// Changes are being made or a rollout is running.
    Progressing,
    RolloutFailed,
    /// Not created by ecs-gitops, or another owner's.
    NotOwned,
    /// A change ECS cannot make in place (launchType, …), or a service being deleted.
    Blocked,
    /// The spec's rollout failed; it is not applied again until it changes.
    Quarantined,
    Suspended,
    /// The spec breaks ECS's rules: no ECS call is made for it.
    InvalidSpec,
    /// A referenced object (task definition, cluster) is missing or not ready yet.
    DependencyNotReady,
    /// The controller cannot reach or read ECS.
    ReconciliationFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ReconciliationSucceeded => "ReconciliationSucceeded",
            Reason::Progressing => "Progressing",
            Reason::RolloutFailed => "RolloutFailed",
            Reason::NotOwned => "NotOwned",
            Reason::Blocked => "Blocked",
            Reason::Quarantined => "Quarantined",
            Reason::Suspended => "Suspended",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::DependencyNotReady => "DependencyNotReady",
            Reason::ReconciliationFailed => "ReconciliationFailed",
        }
    }
}

/// One condition, shaped like Kubernetes' `metav1.Condition`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason from the constants beside this type.
    pub reason: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What every kind reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The account the object lives in (a name of the controller's accounts file); unset for
    /// the controller's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The region the object lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The generation of the spec last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The source revision (git commit, directory hash or generation) last applied in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The source revision last tried, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// Why the object is not ready, in ECS's own words where ECS gave them (stopped tasks'
    /// reasons, the circuit breaker, what it rolled back to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsClusterStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The cluster's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// The cluster's status in ECS (`ACTIVE`, `PROVISIONING`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_status: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsCapacityProviderStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The capacity provider's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_arn: Option<String>,
    /// Its status in ECS (`ACTIVE`, `INACTIVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_status: Option<String>,
    /// The last update's status (`UPDATE_COMPLETE`, `UPDATE_FAILED`, …) and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskDefinitionStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The live revision, as `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// The live revision's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// The hash of the normalized desired task definition (tag `ecs-gitops.dev/spec-hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The service's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// The task definition the service runs, as `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// The ARN of the task definition the service runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// The hash of the normalized desired task definition and service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// The newest rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// A spec hash whose rollout failed: not applied again until the source changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_spec_hash: Option<String>,
    /// The pre-deploy tasks of the newest change of the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_deploy: Vec<PreDeployTaskStatus>,
}

/// A pre-deploy task as ECS shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreDeployTaskStatus {
    /// Its name in `rollout.preDeploy`.
    pub name: String,
    pub task_arn: String,
    /// ECS's `lastStatus` (PROVISIONING … RUNNING … STOPPED).
    pub last_status: String,
    /// The exit code of the essential container that decided the outcome, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// ECS's reason when it stopped (the container's, else the task's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it succeeded, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<bool>,
}

/// The state of the service's primary deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// ECS's deployment id (`ecs-svc/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (ECS's `rolloutState`), or `TIMED_OUT`.
    pub state: String,
    /// ECS's reason for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    /// `BLUE_GREEN`, `LINEAR` or `CANARY` when ECS's native strategy rolls it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The service deployment's ARN and status (`IN_PROGRESS`, `SUCCESSFUL`,
    /// `ROLLBACK_SUCCESSFUL`, …), for native strategies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment_status: Option<String>,
    /// Where a native strategy's rollout is: `SCALE_UP`, `TEST_TRAFFIC_SHIFT`,
    /// `PRODUCTION_TRAFFIC_SHIFT`, `BAKE_TIME`, `CLEAN_UP`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<String>,
}

impl PreDeployTaskStatus {
    /// One line for progress, reports and events.
    pub fn describe(&self) -> String {
        let (name, arn) = (&self.name, &self.task_arn);
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        match (self.succeeded, self.exit_code) {
            (None, _) => format!("pre-deploy task {name} ({arn}) is {}", self.last_status),
            (Some(true), _) => format!("pre-deploy task {name} ({arn}) exited 0"),
            (Some(false), Some(code)) => {
                format!("pre-deploy task {name} ({arn}) exited {code}{reason}")
            }
            (Some(false), None) => {
                format!("pre-deploy task {name} ({arn}) did not run to its end{reason}")
            }
        }
    }
}

/// The status of an object of any of the kinds.
// One per object, kept by value in maps that are rebuilt each sweep: boxing the service's
// variant would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KindStatus {
    CapacityProvider(EcsCapacityProviderStatus),
    Cluster(EcsClusterStatus),
    TaskDefinition(EcsTaskDefinitionStatus),
    Service(EcsServiceStatus),
}

impl KindStatus {
    /// An object's status before anything is known of it.
    pub fn empty(kind: Kind) -> KindStatus {
        match kind {
            Kind::EcsCapacityProvider => KindStatus::CapacityProvider(Default::default()),
            Kind::EcsCluster => KindStatus::Cluster(Default::default()),
            Kind::EcsTaskDefinition => KindStatus::TaskDefinition(Default::default()),
            Kind::EcsService => KindStatus::Service(Default::default()),
        }
    }

    pub fn common(&self) -> &CommonStatus {
        match self {
            KindStatus::CapacityProvider(s) => &s.common,
            KindStatus::Cluster(s) => &s.common,
            KindStatus::TaskDefinition(s) => &s.common,
            KindStatus::Service(s) => &s.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut CommonStatus {
        match self {
            KindStatus::CapacityProvider(s) => &mut s.common,
            KindStatus::Cluster(s) => &mut s.common,
            KindStatus::TaskDefinition(s) => &mut s.common,
            KindStatus::Service(s) => &mut s.common,
        }
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.common()
            .conditions
            .iter()
            .any(|c| c.type_ == condition::READY && c.status == "True")
    }
}
