//! What the controller sees in ECS, as plain data: the `Ecs` implementations fill it in,
//! the plan reads it. Also the tags by which the controller marks what it owns.

use std::collections::BTreeMap;

use crate::api::{ServiceInput, TaskDefinitionInput};

/// Tags the controller writes on what it owns.
pub mod tags {
    /// On every resource the controller created or adopted.
    pub const MANAGED_BY: &str = "ecs-gitops.dev/managed-by";
    pub const MANAGER: &str = "ecs-gitops";
    /// The hash of the normalized desired task definition (on revisions and services).
    pub const SPEC_HASH: &str = "ecs-gitops.dev/spec-hash";
    /// The source revision (git commit, directory hash) that was applied.
    pub const SOURCE: &str = "ecs-gitops.dev/source";
    /// On a service: `family:revision` the controller deployed.
    pub const TASK_DEFINITION: &str = "ecs-gitops.dev/task-definition";
    /// On a service: a spec hash whose rollout failed, not applied again until it changes.
    pub const FAILED_SPEC_HASH: &str = "ecs-gitops.dev/failed-spec-hash";
}

pub type Tags = BTreeMap<String, String>;

/// A manifest's `tags` (ECS's key/value list) as a map.
pub fn tag_map(tags: &Option<Vec<crate::api::Tag>>) -> Tags {
    tags.iter()
        .flatten()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCluster {
    pub arn: String,
    pub name: String,
    pub status: String,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedTaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub status: String,
    pub spec: TaskDefinitionInput,
    pub tags: Tags,
}

impl ObservedTaskDefinition {
    /// `family:revision`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.family, self.revision)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedDeployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    /// The service's settings, in our schema's shape.
    pub spec: ServiceInput,
    pub tags: Tags,
    pub deployments: Vec<ObservedDeployment>,
    /// The newest service events' messages, newest first.
    pub events: Vec<String>,
}

impl ObservedService {
    pub fn is_managed(&self) -> bool {
        self.tags.get(tags::MANAGED_BY).map(String::as_str) == Some(tags::MANAGER)
    }
}
