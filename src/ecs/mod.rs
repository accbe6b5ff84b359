//! The only door to ECS: the `Ecs` trait, its `aws-sdk-ecs` implementation (`client.rs`), the
//! API budget every call goes through (`budget.rs`) and the accounts' assumed roles
//! (`roles.rs`). Nothing else talks to AWS.

mod access;
mod budget;
mod client;
mod history;
#[rustfmt::skip]
mod convert;
mod convert_support;
mod roles;

use std::future::Future;
use std::sync::Arc;

pub use access::AccessError;
pub use budget::{BucketLevel, Budget, category};
pub use client::{Calls, EcsConfig, SdkEcs, backoff};
pub use convert_support::ConvertError;
pub use history::{DeploymentSeen, History, ServiceHistory};
// What ECS is observed to hold: plain data, defined where the plan reads it.
pub use crate::diff::observed::{
    ContainerExit, ObservedCapacityProvider, ObservedCluster, ObservedDeployment, ObservedService,
    ObservedServiceDeployment, ObservedTask, ObservedTaskDefinition, Owner, Ownership, Tags,
    TaskLaunch, tag_map, tags,
};

use crate::api::{
    AccountRegion, CapacityProviderInput, CapacityProviderStrategyItem, ClusterInput, ServiceInput,
    TaskDefinitionInput,
};

/// Handles on what the ECS client spends and sees, for the status page: the API budget's
/// buckets and each service's recent history.
#[derive(Clone, Debug)]
pub struct Insight {
    pub budget: Arc<Budget>,
    pub history: Arc<History>,
}

#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    #[error("{operation}: {code}: {message}")]
    Api {
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
    #[error("{operation}: cannot reach ECS: {message}")]
    Transport {
        operation: &'static str,
        retryable: bool,
        message: String,
    },
    #[error("{operation}: cannot build the request: {source}")]
    Build {
        operation: &'static str,
        #[source]
        source: aws_sdk_ecs::error::BuildError,
    },
    #[error("{operation}: account \"{account}\" is not configured (--accounts)")]
    Account {
        operation: &'static str,
        account: String,
    },
    #[error("{operation}: {source}")]
    Convert {
        operation: &'static str,
        #[source]
        source: ConvertError,
    },
    /// ECS cannot be used from here at all (credentials, endpoint, permissions).
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl EcsError {
    /// A successful answer without the object it should carry.
    pub fn empty_answer(operation: &'static str, what: &str) -> EcsError {
        EcsError::Transport {
            operation,
            retryable: false,
            message: format!("no {what} in the answer"),
        }
    }

    /// The same error again, for each of several callers that shared one call.
    pub fn replicate(&self) -> EcsError {
        match self {
            EcsError::Api {
                operation,
                code,
                message,
                retryable,
            } => EcsError::Api {
                operation,
                code: code.clone(),
                message: message.clone(),
                retryable: *retryable,
            },
            EcsError::Transport {
                operation,
                retryable,
                message,
            } => EcsError::Transport {
                operation,
                retryable: *retryable,
                message: message.clone(),
            },
            EcsError::Access(access) => EcsError::Access(access.clone()),
            other => EcsError::Transport {
                operation: "DescribeServices",
                retryable: false,
                message: other.to_string(),
            },
        }
    }

    /// Throttling, server errors, lost connections and calls without an answer in time are
    /// worth another try; the rest fail.
    pub fn is_retryable(&self) -> bool {
        match self {
            EcsError::Api { retryable, .. } | EcsError::Transport { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// ECS may have carried the call out although the answer says otherwise: a server error,
    /// a dropped connection or no answer in time. (Throttling is an answer that it did not.)
    /// A write that is not idempotent must look before it tries again.
    pub fn may_have_committed(&self) -> bool {
        match self {
            EcsError::Api {
                code, retryable, ..
            } => *retryable && code != "ThrottlingException",
            EcsError::Transport { retryable, .. } => *retryable,
            _ => false,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            EcsError::Api { code, .. } => code,
            EcsError::Transport { .. } => "Transport",
            EcsError::Build { .. } => "Build",
            EcsError::Convert { .. } => "Convert",
            EcsError::Account { .. } => "UnknownAccount",
            EcsError::Access(access) => access.code(),
        }
    }

    /// Whether ECS answered (with an error): the endpoint is right and reachable.
    pub fn is_answer(&self) -> bool {
        match self {
            EcsError::Api { .. } => true,
            EcsError::Access(access) => access.is_answer(),
            _ => false,
        }
    }

    /// A short label for metrics.
    pub fn metric_label(&self) -> &str {
        self.code()
    }
}

/// A stopped task's reason, for rollout reports.
#[derive(Clone, Debug, PartialEq)]
pub struct StoppedTask {
    pub arn: String,
    pub reason: String,
}

/// The ECS calls the controller makes, each in one account and region. Every implementation
/// keeps one API budget per account and region; `SdkEcs` is the production one.
pub trait Ecs: Send + Sync {
    fn describe_clusters(
        &self,
        at: &AccountRegion,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedCluster>, EcsError>> + Send;

    fn create_cluster(
        &self,
        at: &AccountRegion,
        input: &ClusterInput,
        tags: &Tags,
    ) -> impl Future<Output = Result<ObservedCluster, EcsError>> + Send;

    /// Sends the cluster's `settings`, `configuration` and `serviceConnectDefaults`.
    fn update_cluster(
        &self,
        at: &AccountRegion,
        name: &str,
        input: &ClusterInput,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn put_cluster_capacity_providers(
        &self,
        at: &AccountRegion,
        name: &str,
        providers: &[String],
        strategy: &[CapacityProviderStrategyItem],
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// Capacity providers by name (at most 100), with their tags; missing ones are left out.
    /// No names: every capacity provider of the region (for an owner's inventory).
    fn describe_capacity_providers(
        &self,
        region: &AccountRegion,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedCapacityProvider>, EcsError>> + Send;

    fn create_capacity_provider(
        &self,
        region: &AccountRegion,
        input: &CapacityProviderInput,
        tags: &Tags,
    ) -> impl Future<Output = Result<ObservedCapacityProvider, EcsError>> + Send;

    /// Sends what UpdateCapacityProvider can change: the Auto Scaling group provider's
    /// managed scaling, termination protection and draining, or the managed instances
    /// configuration.
    fn update_capacity_provider(
        &self,
        region: &AccountRegion,
        input: &CapacityProviderInput,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn delete_capacity_provider(
        &self,
        region: &AccountRegion,
        name: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// At most 10 services, as ECS takes them; missing ones are left out.
    fn describe_services(
        &self,
        at: &AccountRegion,
        cluster: &str,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedService>, EcsError>> + Send;

    /// Every ACTIVE service ARN of a cluster.
    fn list_services(
        &self,
        at: &AccountRegion,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    fn describe_task_definition(
        &self,
        at: &AccountRegion,
        task_definition: &str,
    ) -> impl Future<Output = Result<ObservedTaskDefinition, EcsError>> + Send;

    /// The newest ACTIVE revisions' ARNs of a family, newest first, at most `limit`.
    fn list_task_definitions(
        &self,
        at: &AccountRegion,
        family: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    fn register_task_definition(
        &self,
        at: &AccountRegion,
        input: &TaskDefinitionInput,
        tags: &Tags,
    ) -> impl Future<Output = Result<ObservedTaskDefinition, EcsError>> + Send;

    fn deregister_task_definition(
        &self,
        at: &AccountRegion,
        arn: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// Deletes deregistered revisions, at most ten.
    fn delete_task_definitions(
        &self,
        at: &AccountRegion,
        arns: &[String],
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn create_service(
        &self,
        at: &AccountRegion,
        input: &ServiceInput,
        task_definition: &str,
        tags: &Tags,
        client_token: &str,
    ) -> impl Future<Output = Result<ObservedService, EcsError>> + Send;

    /// Sends the fields set in `changes`, and the task definition when given.
    fn update_service(
        &self,
        at: &AccountRegion,
        cluster: &str,
        service: &str,
        changes: &ServiceInput,
        task_definition: Option<&str>,
    ) -> impl Future<Output = Result<ObservedService, EcsError>> + Send;

    fn delete_service(
        &self,
        at: &AccountRegion,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn tag_resource(
        &self,
        at: &AccountRegion,
        arn: &str,
        tags: &Tags,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn untag_resource(
        &self,
        at: &AccountRegion,
        arn: &str,
        keys: &[&str],
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// Starts one task. ECS's refusal to place it (a `failures` entry) is an error.
    fn run_task(
        &self,
        region: &AccountRegion,
        launch: &TaskLaunch,
    ) -> impl Future<Output = Result<ObservedTask, EcsError>> + Send;

    /// The tasks started with `started_by`, running or stopped (ECS shows stopped tasks for
    /// about an hour), with their tags.
    fn tasks_started_by(
        &self,
        region: &AccountRegion,
        cluster: &str,
        started_by: &str,
    ) -> impl Future<Output = Result<Vec<ObservedTask>, EcsError>> + Send;

    /// Up to 100 running tasks of a family in a cluster, whoever started them.
    fn running_tasks_of_family(
        &self,
        region: &AccountRegion,
        cluster: &str,
        family: &str,
    ) -> impl Future<Output = Result<Vec<ObservedTask>, EcsError>> + Send;

    /// At most 100 tasks, with their tags; missing ones are left out.
    fn describe_tasks(
        &self,
        region: &AccountRegion,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedTask>, EcsError>> + Send;

    /// At most 20 service deployments; missing ones are left out.
    fn describe_service_deployments(
        &self,
        region: &AccountRegion,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ObservedServiceDeployment>, EcsError>> + Send;

    /// Stops a service deployment in progress and rolls back to the last good revision.
    fn stop_service_deployment(
        &self,
        region: &AccountRegion,
        arn: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    fn stop_task(
        &self,
        region: &AccountRegion,
        cluster: &str,
        arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), EcsError>> + Send;

    /// Stopped tasks a deployment started, newest first, at most `limit`.
    fn stopped_tasks(
        &self,
        at: &AccountRegion,
        cluster: &str,
        deployment_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoppedTask>, EcsError>> + Send;
}
