//! What the controller sees in ECS, as plain data: the `Ecs` implementations fill it in,
//! the plan reads it. Also the tags by which the controller marks what it owns.

use std::collections::BTreeMap;

use sha2::Digest;

use crate::api::{
    CapacityProviderInput, CapacityProviderStrategyItem, ClusterInput, LaunchType,
    NetworkConfiguration, ServiceInput, TaskDefinitionInput, TaskOverride,
};

/// Tags the controller writes on what it owns.
pub mod tags {
    /// On every resource the controller created or adopted.
    pub const MANAGED_BY: &str = "ecs-gitops.dev/managed-by";
    pub const MANAGER: &str = "ecs-gitops";
    /// Which source owns it (an [`Owner`](super::Owner)): only that source changes or prunes it.
    pub const OWNER: &str = "ecs-gitops.dev/owner";
    /// The hash of the normalized desired task definition (on revisions and services).
    pub const SPEC_HASH: &str = "ecs-gitops.dev/spec-hash";
    /// The source revision (git commit, directory hash) that was applied.
    pub const SOURCE: &str = "ecs-gitops.dev/source";
    /// On a service: ECS's id of the deployment the controller started last, so that ECS's
    /// word that it failed is found even after ECS rolled it back.
    pub const DEPLOYMENT: &str = "ecs-gitops.dev/deployment";
    /// On a service: when (Unix seconds, the controller's clock) its rollout started, so that
    /// a restarted controller keeps the rollout's deadline.
    pub const ROLLOUT_STARTED: &str = "ecs-gitops.dev/rollout-started";
    /// On a service: `family:revision` the controller deployed.
    pub const TASK_DEFINITION: &str = "ecs-gitops.dev/task-definition";
    /// On a service: a spec hash whose rollout failed, not applied again until it changes.
    pub const FAILED_SPEC_HASH: &str = "ecs-gitops.dev/failed-spec-hash";
    /// On a pre-deploy task: its name in the service's `rollout.preDeploy`.
    pub const PRE_DEPLOY: &str = "ecs-gitops.dev/pre-deploy";
    /// On a service: the object it is made from (`EcsService/web`), so that a service whose
    /// object moved to another account or region is told from one that left the source.
    pub const OBJECT: &str = "ecs-gitops.dev/object";
}

pub type Tags = BTreeMap<String, String>;

/// ECS's longest tag value.
const TAG_VALUE_MAX: usize = 256;

/// The identity of a source, written on everything it creates (`ecs-gitops.dev/owner`):
/// several repositories, directories and controllers may share one ECS cluster, and each
/// changes and prunes only what carries its own owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Owner(String);

impl Owner {
    /// An owner from a name, made a valid ECS tag value: characters ECS refuses become `_`,
    /// and a name too long keeps its start and a hash of the whole.
    pub fn new(name: &str) -> Owner {
        let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
        let clean: String = name
            .trim()
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect();
        if clean.chars().count() <= TAG_VALUE_MAX {
            return Owner(clean);
        }
        let digest: String = sha2::Sha256::digest(clean.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let start: String = clean.chars().take(TAG_VALUE_MAX - 17).collect();
        Owner(format!("{start}~{digest}"))
    }

    /// The default owner of a Git source: its URL without scheme, credentials, query or
    /// `.git`, and the path in the repository (`github.com/org/repo//deploy`).
    pub fn for_git(url: &str, path: Option<&str>) -> Owner {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let rest = match rest.split_once('@') {
            Some((user, host)) if !user.contains('/') => host,
            _ => rest,
        };
        // scp-like `host:org/repo`.
        let rest = match rest.split_once(':') {
            Some((host, path)) if !path.starts_with(|c: char| c.is_ascii_digit()) => {
                format!("{host}/{path}")
            }
            _ => rest.to_string(),
        };
        let repo = rest.trim_end_matches('/').trim_end_matches(".git");
        match path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
            Some(path) => Owner::new(&format!("{repo}//{path}")),
            None => Owner::new(repo),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who owns a resource, as its tags say, from one source's point of view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Carries this source's owner tag.
    Ours,
    /// Managed by ecs-gitops from before owner tags: the first source that manages it by
    /// name takes it over.
    Legacy,
    /// Another source's.
    Theirs(String),
    /// Not created by ecs-gitops.
    Unmanaged,
}

impl Ownership {
    pub fn of(tags: &Tags, owner: &Owner) -> Ownership {
        let managed = tags.get(tags::MANAGED_BY).map(String::as_str) == Some(tags::MANAGER);
        match tags.get(tags::OWNER) {
            Some(theirs) if theirs == owner.as_str() => Ownership::Ours,
            Some(theirs) => Ownership::Theirs(theirs.clone()),
            None if managed => Ownership::Legacy,
            None => Ownership::Unmanaged,
        }
    }
}

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
    /// Its settings, configuration, capacity providers and Service Connect defaults, in
    /// our schema's shape (tags apart).
    pub spec: ClusterInput,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCapacityProvider {
    pub arn: String,
    pub name: String,
    /// ACTIVE or INACTIVE.
    pub status: String,
    /// The last update's status (`UPDATE_COMPLETE`, `UPDATE_FAILED`, `DELETE_IN_PROGRESS`, …).
    pub update_status: Option<String>,
    pub update_status_reason: Option<String>,
    /// Its settings, in our schema's shape (tags apart).
    pub spec: CapacityProviderInput,
    pub tags: Tags,
}

impl ObservedCapacityProvider {
    /// ACTIVE and not being deleted (ECS keeps it ACTIVE while DELETE_IN_PROGRESS).
    pub fn usable(&self) -> bool {
        self.status == "ACTIVE"
            && !self
                .update_status
                .as_deref()
                .is_some_and(|s| s.starts_with("DELETE"))
    }
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
    /// When ECS created it (Unix seconds, ECS's clock).
    pub created_at: Option<f64>,
}

/// A task the controller started and follows (a pre-deploy task).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedTask {
    pub arn: String,
    /// The ARN of the revision it runs.
    pub task_definition: String,
    /// PROVISIONING, PENDING, RUNNING, … STOPPED.
    pub last_status: String,
    /// When ECS created it (Unix seconds, ECS's clock).
    pub created_at: Option<f64>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerExit>,
    pub tags: Tags,
}

/// How one of a stopped task's containers ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerExit {
    pub name: String,
    /// None when it never ran (its image could not be pulled).
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

/// What RunTask is asked to start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskLaunch {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub platform_version: Option<String>,
    pub overrides: Option<TaskOverride>,
    /// Finds the task again (ListTasks filters on it).
    pub started_by: String,
    pub tags: Tags,
    /// Makes a retried RunTask the same request.
    pub client_token: String,
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
    /// The ARN of the newest service deployment (ECS's `currentServiceDeployment`).
    pub current_service_deployment: Option<String>,
    /// That service deployment, described while a BLUE_GREEN, LINEAR or CANARY rollout runs.
    pub service_deployment: Option<ObservedServiceDeployment>,
}

/// A service deployment (`DescribeServiceDeployments`): how ECS's native strategies report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedServiceDeployment {
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED,
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    pub status: String,
    pub status_reason: Option<String>,
    /// BAKE_TIME, TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT, …
    pub lifecycle_stage: Option<String>,
}

impl ObservedServiceDeployment {
    /// Whether ECS is done with it, one way or the other.
    pub fn finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "SUCCESSFUL" | "STOPPED" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED"
        )
    }
}

impl ObservedService {
    /// Whether it rolls out with one of ECS's native strategies (not a rolling update).
    pub fn native_strategy(&self) -> Option<String> {
        let strategy = self
            .spec
            .deployment_configuration
            .as_ref()?
            .strategy?
            .as_str()
            .to_string();
        (strategy != "ROLLING").then_some(strategy)
    }
}

impl ObservedService {
    pub fn ownership(&self, owner: &Owner) -> Ownership {
        Ownership::of(&self.tags, owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_owners_drop_scheme_credentials_and_query() {
        for (url, path, owner) in [
            (
                "https://github.com/org/repo.git",
                Some("deploy/"),
                "github.com/org/repo//deploy",
            ),
            (
                "https://x-access-token:s3cret@github.com/org/repo?token=abc",
                None,
                "github.com/org/repo",
            ),
            ("git@github.com:org/repo.git", None, "github.com/org/repo"),
            (
                "ssh://git@host:2222/org/repo",
                Some(""),
                "host:2222/org/repo",
            ),
            ("file:///srv/git/repo", None, "/srv/git/repo"),
        ] {
            assert_eq!(Owner::for_git(url, path).as_str(), owner, "{url}");
        }
    }

    #[test]
    fn owners_are_valid_tag_values() {
        assert_eq!(
            Owner::new("/home/me/my dir (1)").as_str(),
            "/home/me/my dir _1_"
        );
        let long = Owner::new(&"a/".repeat(300));
        assert_eq!(long.as_str().chars().count(), 256);
        assert_ne!(
            long,
            Owner::new(&"a/".repeat(301)),
            "the hash keeps long names apart"
        );
    }

    #[test]
    fn ownership_from_tags() {
        let me = Owner::new("repo-a");
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let managed = (tags::MANAGED_BY, tags::MANAGER);
        assert_eq!(
            Ownership::of(&tags(&[managed, (tags::OWNER, "repo-a")]), &me),
            Ownership::Ours
        );
        assert_eq!(
            Ownership::of(&tags(&[managed, (tags::OWNER, "repo-b")]), &me),
            Ownership::Theirs("repo-b".into())
        );
        assert_eq!(Ownership::of(&tags(&[managed]), &me), Ownership::Legacy);
        assert_eq!(Ownership::of(&tags(&[]), &me), Ownership::Unmanaged);
    }
}
