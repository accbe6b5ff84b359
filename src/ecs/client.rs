//! `Ecs` over the stock `aws-sdk-ecs` client. Endpoint, region and credentials follow the AWS
//! SDK conventions (`AWS_ENDPOINT_URL_ECS`/`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, the
//! default credential chain), overridable from the command line. Every call takes a token
//! from the shared budget and is retried with jittered backoff on throttling and server
//! errors only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{
    self as sdk, ClusterField, DesiredStatus, ServiceField, SortOrder, TaskDefinitionField,
};
use aws_smithy_types::retry::ErrorKind;

use super::access::{self, AccessError, Refusal, RegionInUse, RegionSource, credentials_error};
use super::budget::Budget;
use super::convert;
use super::convert_support::{FromSdk, ToSdk, opt};
use super::history::History;
use super::roles::assume_roles;
use super::{
    ContainerExit, EcsError, Insight, ObservedCapacityProvider, ObservedCluster,
    ObservedDeployment, ObservedService, ObservedServiceDeployment, ObservedTask,
    ObservedTaskDefinition, StoppedTask, Tags, TaskLaunch, tag_map,
};
use crate::api::{AccountRegion, Accounts};
use crate::api::{
    CapacityProviderInput, CapacityProviderStrategyItem, ClusterInput,
    CreateManagedInstancesProviderConfiguration, ServiceInput, TaskDefinitionInput,
    UpdateManagedInstancesProviderConfiguration,
};

/// Attempts of a call that keeps failing with throttling or server errors: at 50 % throttling
/// a call still fails only once in 30,000.
const MAX_ATTEMPTS: u32 = 15;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct EcsConfig {
    /// Overrides the SDK's endpoint resolution (the simulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// The region for objects that set none; the SDK's region chain when unset.
    pub region: Option<String>,
    /// Multiplies the API budget's refill rates (for a simulator running fast); 1 for AWS.
    pub budget_scale: f64,
    /// Fixed dummy credentials, for the embedded simulator.
    pub anonymous: bool,
    /// How long one attempt of a call may take before it counts as failed (and is retried).
    pub call_timeout: Duration,
    /// The accounts objects may name, with the role assumed for each.
    pub accounts: Accounts,
}

impl Default for EcsConfig {
    fn default() -> Self {
        EcsConfig {
            endpoint_url: None,
            region: None,
            budget_scale: 1.0,
            anonymous: false,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            accounts: Accounts::default(),
        }
    }
}

/// How long an ECS call may take by default (`--call-timeout`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes that must not simply be sent again after an ambiguous failure: each success makes
/// something new. Their callers look for the result first (the spec-hash tag).
const NOT_REPLAYABLE: &[&str] = &["RegisterTaskDefinition"];

/// Calls by (account, operation, outcome): the account's name (`""` for the default
/// credentials), and `ok` or the error code.
pub type Calls = BTreeMap<(String, String, String), u64>;

pub struct SdkEcs {
    base: aws_config::SdkConfig,
    endpoint_url: Option<String>,
    default_region: String,
    accounts: Accounts,
    /// Each account's assumed role; one per account, so that its clients in every region
    /// share the SDK's cached credentials.
    roles: HashMap<String, SharedCredentialsProvider>,
    /// Where `default_region` came from, for messages.
    region_source: RegionSource,
    /// Whether ECS has answered yet: until it has, an endpoint that takes no connection is a
    /// setting to fix, said at once, not a blip to wait out with retries.
    answered: AtomicBool,
    clients: Mutex<HashMap<AccountRegion, Client>>,
    budget: Arc<Budget>,
    history: Arc<History>,
    /// For metrics and benchmarks.
    calls: Mutex<Calls>,
}

impl SdkEcs {
    pub async fn new(config: EcsConfig) -> SdkEcs {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if config.anonymous {
            loader = loader.credentials_provider(Credentials::new(
                "AKIDLOCAL",
                "local",
                None,
                None,
                "ecs-gitops-local",
            ));
            // The embedded simulator answers STS's AssumeRole as well.
            if let Some(endpoint) = &config.endpoint_url {
                loader = loader.endpoint_url(endpoint);
            }
        }
        let (region, region_source) = match &config.region {
            Some(region) => (Some(region.clone()), RegionSource::Flag),
            None => access::find_region().await,
        };
        let default_region = region.unwrap_or_else(|| access::FALLBACK_REGION.to_string());
        loader = loader.region(Region::new(default_region.clone()));
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(config.call_timeout)
                .build(),
        );
        let base = loader.load().await;
        let roles = assume_roles(&base, &config.accounts, &default_region).await;
        SdkEcs {
            base,
            endpoint_url: config.endpoint_url,
            default_region,
            accounts: config.accounts,
            roles,
            region_source,
            answered: AtomicBool::new(false),
            clients: Mutex::new(HashMap::new()),
            budget: Arc::new(Budget::new(if config.budget_scale > 0.0 {
                config.budget_scale
            } else {
                1.0
            })),
            history: Arc::default(),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// The accounts objects may name.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// What the client spends and sees, for the status page.
    pub fn insight(&self) -> Insight {
        Insight {
            budget: self.budget.clone(),
            history: self.history.clone(),
        }
    }

    /// Calls so far.
    pub fn calls(&self) -> Calls {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The client of an account and region: the account's assumed role, or the default
    /// credentials.
    fn client(&self, at: &AccountRegion, operation: &'static str) -> Result<Client, EcsError> {
        let role = match &at.account {
            None => None,
            Some(account) => Some(self.roles.get(account).ok_or_else(|| EcsError::Account {
                operation,
                account: account.clone(),
            })?),
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let client = clients.entry(at.clone()).or_insert_with(|| {
            let mut config = aws_sdk_ecs::config::Builder::from(&self.base)
                .region(Region::new(at.region.clone()))
                // Retries are ours: they go through the budget.
                .retry_config(RetryConfig::disabled());
            if let Some(endpoint) = &self.endpoint_url {
                config = config.endpoint_url(endpoint);
            }
            if let Some(role) = role {
                // The provider itself, not a wrapper: its cache partition is the account's.
                config.set_credentials_provider(Some(role.clone()));
            }
            Client::from_conf(config.build())
        });
        Ok(client.clone())
    }

    fn record(&self, at: &AccountRegion, operation: &str, outcome: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let key = (
            at.account_name().to_string(),
            operation.to_string(),
            outcome.to_string(),
        );
        *calls.entry(key).or_default() += 1;
    }

    /// One ECS call: budget, then the call, retried with full-jitter backoff while retryable.
    async fn call<T, F, Fut>(
        &self,
        at: &AccountRegion,
        operation: &'static str,
        send: F,
    ) -> Result<T, EcsError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, EcsError>>,
    {
        let client = self.client(at, operation)?;
        let mut attempt = 0;
        loop {
            self.budget.acquire(at, operation).await;
            let result = send(client.clone()).await;
            if result.as_ref().map_or_else(EcsError::is_answer, |_| true) {
                self.answered.store(true, Ordering::Relaxed);
            }
            self.record(
                at,
                operation,
                result
                    .as_ref()
                    .map_or_else(EcsError::metric_label, |_| "ok"),
            );
            match result {
                Err(e) if e.is_retryable() && attempt + 1 < MAX_ATTEMPTS => {
                    if e.may_have_committed() && NOT_REPLAYABLE.contains(&operation) {
                        return Err(e);
                    }
                    // Throttling is the budget at work; anything else is said at once.
                    if attempt == 0 && e.code() != "ThrottlingException" {
                        tracing::warn!(operation, at = %at, error = %e, "ECS call failed; retrying");
                    } else {
                        tracing::debug!(operation, attempt, error = %e, "retrying");
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Full jitter: a random wait up to `base × 2^attempt`, capped.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ceiling.mul_f64((random % 10_000) as f64 / 10_000.0)
}

impl SdkEcs {
    /// An SDK failure as our error: ECS's code and message, or what keeps ECS out of reach
    /// with what this client was set up with.
    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        at: &AccountRegion,
        err: SdkError<E>,
    ) -> EcsError {
        match self.access_error(operation, at, &err) {
            Some(access) => EcsError::Access(access),
            None => api_error(operation, err),
        }
    }

    fn access_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        at: &AccountRegion,
        err: &SdkError<E>,
    ) -> Option<AccessError> {
        let region = self.region_in_use(&at.region);
        match err {
            SdkError::ServiceError(_) => {
                let code = err.code()?.to_string();
                let message = err.message().unwrap_or_default().to_string();
                Some(match Refusal::of(&code)? {
                    Refusal::Expired => AccessError::Expired {
                        operation,
                        region,
                        code,
                        message,
                    },
                    Refusal::Rejected => AccessError::Rejected {
                        operation,
                        region,
                        code,
                        message,
                    },
                    Refusal::Denied => AccessError::Denied {
                        operation,
                        region,
                        message,
                    },
                })
            }
            SdkError::DispatchFailure(_) => {
                let chain: &(dyn std::error::Error + 'static) = err;
                if let Some(credentials) = credentials_error(chain) {
                    // An account's credentials are its role's: assuming it failed.
                    return Some(match &at.account {
                        Some(account) => AccessError::Role {
                            account: account.clone(),
                            reason: access::role_refusal(credentials),
                        },
                        None => access::credentials_problem(credentials, region),
                    });
                }
                let never_answered = !self.answered.load(Ordering::Relaxed);
                (never_answered && access::is_connect_failure(chain)).then(|| {
                    AccessError::Unreachable {
                        endpoint: access::endpoint(self.endpoint_url.as_deref(), &region.name),
                        reason: access::connect_reason(chain),
                    }
                })
            }
            _ => None,
        }
    }

    fn region_in_use(&self, region: &str) -> RegionInUse {
        RegionInUse {
            name: region.to_string(),
            source: if region == self.default_region {
                self.region_source.clone()
            } else {
                RegionSource::Manifest
            },
        }
    }
}

/// An SDK failure as our error, keeping ECS's code and message; the SDK's own words (never
/// its `Debug` text) when ECS did not answer.
fn api_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    err: SdkError<E>,
) -> EcsError {
    let said = |err: &SdkError<E>| access::messages(err);
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or("Unknown").to_string();
            let retryable = status >= 500 || code == "ThrottlingException";
            EcsError::Api {
                operation,
                message: err.message().unwrap_or_default().to_string(),
                code,
                retryable,
            }
        }
        SdkError::ResponseError(response) if response.raw().status().as_u16() >= 500 => {
            EcsError::Api {
                operation,
                code: format!("HTTP{}", response.raw().status().as_u16()),
                message: "the server answered an error without a body ECS would send".into(),
                retryable: true,
            }
        }
        // The server hung up before a whole answer: the call may or may not have been done.
        SdkError::ResponseError(_) => EcsError::Transport {
            operation,
            retryable: true,
            message: said(&err),
        },
        // Lost connections (reset, closed before the answer) are transient: the SDK says so.
        SdkError::DispatchFailure(failure) => EcsError::Transport {
            operation,
            retryable: failure.is_io()
                || failure.is_timeout()
                || failure.as_other() == Some(ErrorKind::TransientError),
            message: said(&err),
        },
        SdkError::TimeoutError(_) => EcsError::Transport {
            operation,
            retryable: true,
            message: said(&err),
        },
        _ => EcsError::Transport {
            operation,
            retryable: false,
            message: said(&err),
        },
    }
}

fn build_error(operation: &'static str) -> impl Fn(aws_sdk_ecs::error::BuildError) -> EcsError {
    move |source| EcsError::Build { operation, source }
}

fn convert_error(operation: &'static str) -> impl Fn(super::ConvertError) -> EcsError {
    move |source| EcsError::Convert { operation, source }
}

fn sdk_tags(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

fn our_tags(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn observed_task_definition(
    operation: &'static str,
    td: &sdk::TaskDefinition,
    tags: &[sdk::Tag],
) -> Result<ObservedTaskDefinition, EcsError> {
    Ok(ObservedTaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        status: td.status().map_or("ACTIVE", |s| s.as_str()).to_string(),
        spec: TaskDefinitionInput::from_sdk(td).map_err(convert_error(operation))?,
        tags: our_tags(tags),
    })
}

fn observed_capacity_provider(
    operation: &'static str,
    provider: &sdk::CapacityProvider,
) -> Result<ObservedCapacityProvider, EcsError> {
    let convert = convert_error(operation);
    let mut spec = CapacityProviderInput::from_sdk(provider).map_err(&convert)?;
    // ECS answers with its own shape of the managed instances configuration; the members
    // are the create's.
    if let Some(managed) = provider.managed_instances_provider()
        && let Some(template) = managed.instance_launch_template()
    {
        spec.managed_instances_provider = Some(CreateManagedInstancesProviderConfiguration {
            infrastructure_role_arn: managed
                .infrastructure_role_arn()
                .unwrap_or_default()
                .to_string(),
            instance_launch_template: FromSdk::from_sdk(template).map_err(&convert)?,
            propagate_tags: managed
                .propagate_tags()
                .map(FromSdk::from_sdk)
                .transpose()
                .map_err(&convert)?,
            infrastructure_optimization: managed
                .infrastructure_optimization()
                .map(FromSdk::from_sdk)
                .transpose()
                .map_err(&convert)?,
            auto_repair_configuration: managed
                .auto_repair_configuration()
                .map(FromSdk::from_sdk)
                .transpose()
                .map_err(&convert)?,
        });
    }
    spec.tags = None;
    Ok(ObservedCapacityProvider {
        arn: provider
            .capacity_provider_arn()
            .unwrap_or_default()
            .to_string(),
        name: provider.name().unwrap_or_default().to_string(),
        status: provider.status().map_or("", |s| s.as_str()).to_string(),
        update_status: provider.update_status().map(|s| s.as_str().to_string()),
        update_status_reason: provider.update_status_reason().map(str::to_string),
        spec,
        tags: our_tags(provider.tags()),
    })
}

fn observed_cluster(
    operation: &'static str,
    cluster: &sdk::Cluster,
) -> Result<ObservedCluster, EcsError> {
    fn list<T>(items: Vec<T>) -> Option<Vec<T>> {
        Some(items).filter(|i| !i.is_empty())
    }
    let convert = convert_error(operation);
    let settings: Vec<crate::api::ClusterSetting> = cluster
        .settings()
        .iter()
        .map(FromSdk::from_sdk)
        .collect::<Result<_, _>>()
        .map_err(&convert)?;
    let strategy: Vec<CapacityProviderStrategyItem> = cluster
        .default_capacity_provider_strategy()
        .iter()
        .map(FromSdk::from_sdk)
        .collect::<Result<_, _>>()
        .map_err(&convert)?;
    let spec = ClusterInput {
        cluster_name: cluster.cluster_name().map(str::to_string),
        settings: list(settings),
        configuration: cluster
            .configuration()
            .map(FromSdk::from_sdk)
            .transpose()
            .map_err(&convert)?,
        capacity_providers: list(cluster.capacity_providers().to_vec()),
        default_capacity_provider_strategy: list(strategy),
        service_connect_defaults: cluster.service_connect_defaults().and_then(|d| {
            d.namespace().map(
                |namespace| crate::api::ClusterServiceConnectDefaultsRequest {
                    namespace: namespace.to_string(),
                },
            )
        }),
        tags: None,
    };
    Ok(ObservedCluster {
        arn: cluster.cluster_arn().unwrap_or_default().to_string(),
        name: cluster.cluster_name().unwrap_or_default().to_string(),
        status: cluster.status().unwrap_or_default().to_string(),
        spec,
        tags: our_tags(cluster.tags()),
    })
}

fn observed_service(
    operation: &'static str,
    service: &sdk::Service,
) -> Result<ObservedService, EcsError> {
    let mut spec = ServiceInput::from_sdk(service).map_err(convert_error(operation))?;
    spec.cluster = service
        .cluster_arn()
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string);
    spec.service_name = service.service_name().map(str::to_string);
    // Some settings live on the primary deployment in ECS's answer.
    if let Some(primary) = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
    {
        let convert = convert_error(operation);
        if let Some(sc) = primary.service_connect_configuration() {
            spec.service_connect_configuration = Some(FromSdk::from_sdk(sc).map_err(&convert)?);
        }
        if !primary.volume_configurations().is_empty() {
            let volumes = primary
                .volume_configurations()
                .iter()
                .map(FromSdk::from_sdk)
                .collect::<Result<_, _>>();
            spec.volume_configurations = Some(volumes.map_err(&convert)?);
        }
        if !primary.vpc_lattice_configurations().is_empty() {
            let lattice = primary
                .vpc_lattice_configurations()
                .iter()
                .map(FromSdk::from_sdk)
                .collect::<Result<_, _>>();
            spec.vpc_lattice_configurations = Some(lattice.map_err(&convert)?);
        }
    }
    let deployments = service
        .deployments()
        .iter()
        .map(|d| ObservedDeployment {
            id: d.id().unwrap_or_default().to_string(),
            status: d.status().unwrap_or_default().to_string(),
            task_definition: d.task_definition().unwrap_or_default().to_string(),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            desired_count: d.desired_count(),
            running_count: d.running_count(),
            pending_count: d.pending_count(),
            failed_tasks: d.failed_tasks(),
            created_at: d.created_at().map(|t| t.as_secs_f64()),
        })
        .collect();
    Ok(ObservedService {
        arn: service.service_arn().unwrap_or_default().to_string(),
        name: service.service_name().unwrap_or_default().to_string(),
        cluster_arn: service.cluster_arn().unwrap_or_default().to_string(),
        status: service.status().unwrap_or_default().to_string(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        desired_count: service.desired_count(),
        running_count: service.running_count(),
        pending_count: service.pending_count(),
        spec,
        tags: our_tags(service.tags()),
        deployments,
        events: service
            .events()
            .iter()
            .take(20)
            .filter_map(|e| e.message().map(str::to_string))
            .collect(),
        current_service_deployment: service.current_service_deployment().map(str::to_string),
        service_deployment: None,
    })
}

impl super::Ecs for SdkEcs {
    async fn describe_clusters(
        &self,
        at: &AccountRegion,
        names: &[String],
    ) -> Result<Vec<ObservedCluster>, EcsError> {
        const OP: &str = "DescribeClusters";
        self.call(at, OP, |client| async move {
            let out = client
                .describe_clusters()
                .set_clusters(Some(names.to_vec()))
                .include(ClusterField::Tags)
                .include(ClusterField::Settings)
                .include(ClusterField::Configurations)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            out.clusters()
                .iter()
                .map(|c| observed_cluster(OP, c))
                .collect()
        })
        .await
    }

    async fn create_cluster(
        &self,
        at: &AccountRegion,
        input: &ClusterInput,
        tags: &Tags,
    ) -> Result<ObservedCluster, EcsError> {
        const OP: &str = "CreateCluster";
        self.call(at, OP, |client| async move {
            let request = convert::create_cluster(&client, input).map_err(build_error(OP))?;
            let out = request
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            let cluster = out
                .cluster()
                .ok_or_else(|| EcsError::empty_answer(OP, "cluster"))?;
            observed_cluster(OP, cluster)
        })
        .await
    }

    async fn update_cluster(
        &self,
        at: &AccountRegion,
        name: &str,
        input: &ClusterInput,
    ) -> Result<(), EcsError> {
        const OP: &str = "UpdateCluster";
        self.call(at, OP, |client| async move {
            let settings = input
                .settings
                .iter()
                .flatten()
                .map(ToSdk::to_sdk)
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error(OP))?;
            let configuration = input.configuration.as_ref().map(ToSdk::to_sdk).transpose();
            let defaults = input
                .service_connect_defaults
                .as_ref()
                .map(ToSdk::to_sdk)
                .transpose();
            client
                .update_cluster()
                .cluster(name)
                .set_settings(Some(settings).filter(|s| !s.is_empty()))
                .set_configuration(configuration.map_err(build_error(OP))?)
                .set_service_connect_defaults(defaults.map_err(build_error(OP))?)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn put_cluster_capacity_providers(
        &self,
        at: &AccountRegion,
        name: &str,
        providers: &[String],
        strategy: &[CapacityProviderStrategyItem],
    ) -> Result<(), EcsError> {
        const OP: &str = "PutClusterCapacityProviders";
        self.call(at, OP, |client| async move {
            let strategy = strategy
                .iter()
                .map(ToSdk::to_sdk)
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error(OP))?;
            client
                .put_cluster_capacity_providers()
                .cluster(name)
                .set_capacity_providers(Some(providers.to_vec()))
                .set_default_capacity_provider_strategy(Some(strategy))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn describe_capacity_providers(
        &self,
        region: &AccountRegion,
        names: &[String],
    ) -> Result<Vec<ObservedCapacityProvider>, EcsError> {
        const OP: &str = "DescribeCapacityProviders";
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let (page, token) = self
                .call(region, OP, |client| {
                    let next = next.clone();
                    async move {
                        let out = client
                            .describe_capacity_providers()
                            .set_capacity_providers((!names.is_empty()).then(|| names.to_vec()))
                            .include(sdk::CapacityProviderField::Tags)
                            .set_next_token(next)
                            .send()
                            .await
                            .map_err(|e| self.error(OP, region, e))?;
                        let page = out
                            .capacity_providers()
                            .iter()
                            .map(|p| observed_capacity_provider(OP, p))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((page, out.next_token().map(str::to_string)))
                    }
                })
                .await?;
            found.extend(page);
            match token {
                Some(token) => next = Some(token),
                None => return Ok(found),
            }
        }
    }

    async fn create_capacity_provider(
        &self,
        region: &AccountRegion,
        input: &CapacityProviderInput,
        tags: &Tags,
    ) -> Result<ObservedCapacityProvider, EcsError> {
        const OP: &str = "CreateCapacityProvider";
        self.call(region, OP, |client| async move {
            let request =
                convert::create_capacity_provider(&client, input).map_err(build_error(OP))?;
            let mut all_tags = tag_map(&input.tags);
            all_tags.extend(tags.clone());
            let out = request
                .set_tags(Some(sdk_tags(&all_tags)))
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            let provider = out
                .capacity_provider()
                .ok_or_else(|| EcsError::empty_answer(OP, "capacityProvider"))?;
            let mut observed = observed_capacity_provider(OP, provider)?;
            observed.tags = all_tags;
            Ok(observed)
        })
        .await
    }

    async fn update_capacity_provider(
        &self,
        region: &AccountRegion,
        input: &CapacityProviderInput,
    ) -> Result<(), EcsError> {
        const OP: &str = "UpdateCapacityProvider";
        let auto_scaling = input
            .auto_scaling_group_provider
            .as_ref()
            .map(|p| {
                Ok::<_, aws_sdk_ecs::error::BuildError>(
                    sdk::AutoScalingGroupProviderUpdate::builder()
                        .set_managed_scaling(opt(&p.managed_scaling, ToSdk::to_sdk)?)
                        .set_managed_termination_protection(opt(
                            &p.managed_termination_protection,
                            ToSdk::to_sdk,
                        )?)
                        .set_managed_draining(opt(&p.managed_draining, ToSdk::to_sdk)?)
                        .build(),
                )
            })
            .transpose()
            .map_err(build_error(OP))?;
        // The update's configuration has the create's members (a launch template update
        // takes a subset of the template's): carried over by name.
        let managed = input
            .managed_instances_provider
            .as_ref()
            .map(|p| {
                let update: UpdateManagedInstancesProviderConfiguration = serde_json::to_value(p)
                    .and_then(serde_json::from_value)
                    .map_err(aws_sdk_ecs::error::BuildError::other)?;
                update.to_sdk()
            })
            .transpose()
            .map_err(build_error(OP))?;
        self.call(region, OP, |client| {
            let (auto_scaling, managed) = (auto_scaling.clone(), managed.clone());
            async move {
                client
                    .update_capacity_provider()
                    .set_name(input.name.clone())
                    .set_cluster(input.cluster.clone())
                    .set_auto_scaling_group_provider(auto_scaling)
                    .set_managed_instances_provider(managed)
                    .send()
                    .await
                    .map_err(|e| self.error(OP, region, e))?;
                Ok(())
            }
        })
        .await
    }

    async fn delete_capacity_provider(
        &self,
        region: &AccountRegion,
        name: &str,
    ) -> Result<(), EcsError> {
        const OP: &str = "DeleteCapacityProvider";
        self.call(region, OP, |client| async move {
            client
                .delete_capacity_provider()
                .capacity_provider(name)
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            Ok(())
        })
        .await
    }

    async fn describe_services(
        &self,
        at: &AccountRegion,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>, EcsError> {
        const OP: &str = "DescribeServices";
        self.call(at, OP, |client| async move {
            let out = client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(names.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            out.services()
                .iter()
                .map(|s| {
                    self.history.saw_service(s);
                    observed_service(OP, s)
                })
                .collect()
        })
        .await
    }

    async fn list_services(
        &self,
        at: &AccountRegion,
        cluster: &str,
    ) -> Result<Vec<String>, EcsError> {
        const OP: &str = "ListServices";
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(at, OP, |client| {
                    let token = token.clone();
                    async move {
                        client
                            .list_services()
                            .cluster(cluster)
                            .max_results(100)
                            .set_next_token(token)
                            .send()
                            .await
                            .map_err(|e| self.error(OP, at, e))
                    }
                })
                .await?;
            arns.extend(page.service_arns().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn describe_task_definition(
        &self,
        at: &AccountRegion,
        task_definition: &str,
    ) -> Result<ObservedTaskDefinition, EcsError> {
        const OP: &str = "DescribeTaskDefinition";
        self.call(at, OP, |client| async move {
            let out = client
                .describe_task_definition()
                .task_definition(task_definition)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            let td = out
                .task_definition()
                .ok_or_else(|| EcsError::empty_answer(OP, "task definition"))?;
            observed_task_definition(OP, td, out.tags())
        })
        .await
    }

    async fn list_task_definitions(
        &self,
        at: &AccountRegion,
        family: &str,
        limit: i32,
    ) -> Result<Vec<String>, EcsError> {
        const OP: &str = "ListTaskDefinitions";
        self.call(at, OP, |client| async move {
            let out = client
                .list_task_definitions()
                .family_prefix(family)
                .status(sdk::TaskDefinitionStatus::Active)
                .sort(SortOrder::Desc)
                .max_results(limit)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            // The prefix matches other families too ("web" and "webhooks").
            let prefix = format!(":task-definition/{family}:");
            Ok(out
                .task_definition_arns()
                .iter()
                .filter(|a| a.contains(&prefix))
                .cloned()
                .collect())
        })
        .await
    }

    async fn register_task_definition(
        &self,
        at: &AccountRegion,
        input: &TaskDefinitionInput,
        tags: &Tags,
    ) -> Result<ObservedTaskDefinition, EcsError> {
        const OP: &str = "RegisterTaskDefinition";
        self.call(at, OP, |client| async move {
            let request =
                convert::register_task_definition(&client, input).map_err(build_error(OP))?;
            let mut all_tags = tag_map(&input.tags);
            all_tags.extend(tags.clone());
            let out = request
                .set_tags(Some(sdk_tags(&all_tags)))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            let td = out
                .task_definition()
                .ok_or_else(|| EcsError::empty_answer(OP, "task definition"))?;
            let mut observed = observed_task_definition(OP, td, out.tags())?;
            if observed.tags.is_empty() {
                observed.tags = all_tags;
            }
            Ok(observed)
        })
        .await
    }

    async fn deregister_task_definition(
        &self,
        at: &AccountRegion,
        arn: &str,
    ) -> Result<(), EcsError> {
        const OP: &str = "DeregisterTaskDefinition";
        self.call(at, OP, |client| async move {
            client
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn delete_task_definitions(
        &self,
        at: &AccountRegion,
        arns: &[String],
    ) -> Result<(), EcsError> {
        const OP: &str = "DeleteTaskDefinitions";
        self.call(at, OP, |client| async move {
            client
                .delete_task_definitions()
                .set_task_definitions(Some(arns.to_vec()))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn create_service(
        &self,
        at: &AccountRegion,
        input: &ServiceInput,
        task_definition: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<ObservedService, EcsError> {
        const OP: &str = "CreateService";
        self.call(at, OP, |client| async move {
            let request = convert::create_service(&client, input).map_err(build_error(OP))?;
            let mut all_tags = tag_map(&input.tags);
            all_tags.extend(tags.clone());
            let out = request
                .task_definition(task_definition)
                .client_token(client_token)
                .set_tags(Some(sdk_tags(&all_tags)))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            let service = out
                .service()
                .ok_or_else(|| EcsError::empty_answer(OP, "service"))?;
            self.history.saw_service(service);
            let mut observed = observed_service(OP, service)?;
            observed.tags = all_tags;
            Ok(observed)
        })
        .await
    }

    async fn update_service(
        &self,
        at: &AccountRegion,
        cluster: &str,
        service: &str,
        changes: &ServiceInput,
        task_definition: Option<&str>,
    ) -> Result<ObservedService, EcsError> {
        const OP: &str = "UpdateService";
        self.call(at, OP, |client| async move {
            let request = convert::update_service(&client, changes).map_err(build_error(OP))?;
            let out = request
                .cluster(cluster)
                .service(service)
                .set_task_definition(task_definition.map(str::to_string))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            let service = out
                .service()
                .ok_or_else(|| EcsError::empty_answer(OP, "service"))?;
            self.history.saw_service(service);
            observed_service(OP, service)
        })
        .await
    }

    async fn delete_service(
        &self,
        at: &AccountRegion,
        cluster: &str,
        service: &str,
    ) -> Result<(), EcsError> {
        const OP: &str = "DeleteService";
        self.call(at, OP, |client| async move {
            client
                .delete_service()
                .cluster(cluster)
                .service(service)
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn tag_resource(
        &self,
        at: &AccountRegion,
        arn: &str,
        tags: &Tags,
    ) -> Result<(), EcsError> {
        const OP: &str = "TagResource";
        self.call(at, OP, |client| async move {
            client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn untag_resource(
        &self,
        at: &AccountRegion,
        arn: &str,
        keys: &[&str],
    ) -> Result<(), EcsError> {
        const OP: &str = "UntagResource";
        self.call(at, OP, |client| async move {
            let keys = keys.iter().map(|k| k.to_string()).collect();
            client
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map_err(|e| self.error(OP, at, e))?;
            Ok(())
        })
        .await
    }

    async fn stopped_tasks(
        &self,
        at: &AccountRegion,
        cluster: &str,
        deployment_id: &str,
        limit: usize,
    ) -> Result<Vec<StoppedTask>, EcsError> {
        const LIST: &str = "ListTasks";
        const DESCRIBE: &str = "DescribeTasks";
        let arns = self
            .call(at, LIST, |client| async move {
                let out = client
                    .list_tasks()
                    .cluster(cluster)
                    .started_by(deployment_id)
                    .desired_status(DesiredStatus::Stopped)
                    .send()
                    .await
                    .map_err(|e| self.error(LIST, at, e))?;
                Ok(out
                    .task_arns()
                    .iter()
                    .rev()
                    .take(limit)
                    .cloned()
                    .collect::<Vec<_>>())
            })
            .await?;
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        self.call(at, DESCRIBE, |client| {
            let arns = arns.clone();
            async move {
                let out = client
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(arns))
                    .send()
                    .await
                    .map_err(|e| self.error(DESCRIBE, at, e))?;
                self.history.saw_stopped_tasks(deployment_id, out.tasks());
                Ok(out
                    .tasks()
                    .iter()
                    .map(|t| StoppedTask {
                        arn: t.task_arn().unwrap_or_default().to_string(),
                        reason: t.stopped_reason().unwrap_or_default().to_string(),
                    })
                    .collect())
            }
        })
        .await
    }

    async fn run_task(
        &self,
        region: &AccountRegion,
        launch: &TaskLaunch,
    ) -> Result<ObservedTask, EcsError> {
        const OP: &str = "RunTask";
        self.call(region, OP, |client| async move {
            let request = client
                .run_task()
                .cluster(&launch.cluster)
                .task_definition(&launch.task_definition)
                .count(1)
                .started_by(&launch.started_by)
                .client_token(&launch.client_token)
                .set_platform_version(launch.platform_version.clone())
                .set_launch_type(opt(&launch.launch_type, |v| v.to_sdk()).map_err(build_error(OP))?)
                .set_capacity_provider_strategy(
                    opt(&launch.capacity_provider_strategy, |v| {
                        v.iter().map(ToSdk::to_sdk).collect()
                    })
                    .map_err(build_error(OP))?,
                )
                .set_network_configuration(
                    opt(&launch.network_configuration, |v| v.to_sdk()).map_err(build_error(OP))?,
                )
                .set_overrides(opt(&launch.overrides, |v| v.to_sdk()).map_err(build_error(OP))?)
                .set_tags(Some(sdk_tags(&launch.tags)));
            let out = request
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            if let Some(failure) = out.failures().first() {
                return Err(EcsError::Api {
                    operation: OP,
                    code: failure.reason().unwrap_or("Failure").to_string(),
                    message: failure.detail().unwrap_or_default().to_string(),
                    retryable: false,
                });
            }
            let task = out
                .tasks()
                .first()
                .ok_or_else(|| EcsError::empty_answer(OP, "task"))?;
            let mut observed = observed_task(task);
            observed.tags = launch.tags.clone();
            Ok(observed)
        })
        .await
    }

    async fn tasks_started_by(
        &self,
        region: &AccountRegion,
        cluster: &str,
        started_by: &str,
    ) -> Result<Vec<ObservedTask>, EcsError> {
        const LIST: &str = "ListTasks";
        let mut arns = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let found = self
                .call(region, LIST, |client| {
                    let status = status.clone();
                    async move {
                        let out = client
                            .list_tasks()
                            .cluster(cluster)
                            .started_by(started_by)
                            .desired_status(status)
                            .send()
                            .await
                            .map_err(|e| self.error(LIST, region, e))?;
                        Ok(out.task_arns().to_vec())
                    }
                })
                .await?;
            arns.extend(found);
        }
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        arns.truncate(100);
        self.describe_tasks(region, cluster, &arns).await
    }

    async fn running_tasks_of_family(
        &self,
        region: &AccountRegion,
        cluster: &str,
        family: &str,
    ) -> Result<Vec<ObservedTask>, EcsError> {
        const LIST: &str = "ListTasks";
        let mut arns = self
            .call(region, LIST, |client| async move {
                let out = client
                    .list_tasks()
                    .cluster(cluster)
                    .family(family)
                    .desired_status(DesiredStatus::Running)
                    .send()
                    .await
                    .map_err(|e| self.error(LIST, region, e))?;
                Ok(out.task_arns().to_vec())
            })
            .await?;
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        arns.truncate(100);
        self.describe_tasks(region, cluster, &arns).await
    }

    async fn describe_tasks(
        &self,
        region: &AccountRegion,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ObservedTask>, EcsError> {
        const OP: &str = "DescribeTasks";
        self.call(region, OP, |client| async move {
            let out = client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(arns.to_vec()))
                .include(sdk::TaskField::Tags)
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            Ok(out.tasks().iter().map(observed_task).collect())
        })
        .await
    }

    async fn describe_service_deployments(
        &self,
        region: &AccountRegion,
        arns: &[String],
    ) -> Result<Vec<ObservedServiceDeployment>, EcsError> {
        const OP: &str = "DescribeServiceDeployments";
        self.call(region, OP, |client| async move {
            let out = client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(arns.to_vec()))
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            Ok(out
                .service_deployments()
                .iter()
                .map(|d| ObservedServiceDeployment {
                    arn: d.service_deployment_arn().unwrap_or_default().to_string(),
                    status: d.status().map_or("", |s| s.as_str()).to_string(),
                    status_reason: d.status_reason().map(str::to_string),
                    lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
                })
                .collect())
        })
        .await
    }

    async fn stop_service_deployment(
        &self,
        region: &AccountRegion,
        arn: &str,
    ) -> Result<(), EcsError> {
        const OP: &str = "StopServiceDeployment";
        self.call(region, OP, |client| async move {
            client
                .stop_service_deployment()
                .service_deployment_arn(arn)
                .stop_type(sdk::StopServiceDeploymentStopType::Rollback)
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            Ok(())
        })
        .await
    }

    async fn stop_task(
        &self,
        region: &AccountRegion,
        cluster: &str,
        arn: &str,
        reason: &str,
    ) -> Result<(), EcsError> {
        const OP: &str = "StopTask";
        self.call(region, OP, |client| async move {
            client
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(reason)
                .send()
                .await
                .map_err(|e| self.error(OP, region, e))?;
            Ok(())
        })
        .await
    }
}

fn observed_task(task: &sdk::Task) -> ObservedTask {
    ObservedTask {
        arn: task.task_arn().unwrap_or_default().to_string(),
        task_definition: task.task_definition_arn().unwrap_or_default().to_string(),
        last_status: task.last_status().unwrap_or_default().to_string(),
        created_at: task.created_at().map(|t| t.as_secs_f64()),
        stopped_reason: task.stopped_reason().map(str::to_string),
        containers: task
            .containers()
            .iter()
            .map(|c| ContainerExit {
                name: c.name().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
        tags: our_tags(task.tags()),
    }
}
