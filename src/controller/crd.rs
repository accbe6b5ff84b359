//! CRD mode (`ecs-gitops controller`), all its wiring in one place: kube-runtime Controllers
//! for EcsCluster, EcsTaskDefinition and EcsService. Each reconcile feeds its object into
//! the same validate → plan → execute path as `apply` and `run`, never waits for a rollout
//! (it looks once and requeues while one runs), writes the kind's status with server-side
//! apply and says what it did in Events. Only the holder of the Lease reconciles.
//!
//! ```text
//! watch EcsService ◄── EcsTaskDefinition / EcsCluster changes requeue their referrers
//!   │ references resolved from the reflector stores (same namespace)
//!   ▼
//! ECS rules ─► Desired ─► Reconciler::plan ─► execute (Follow::Once) ─► decide ─► status (SSA) + Events
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizing, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::leader::{Leadership, LeaseConfig, identity};
use super::status::{ObjectStatus, State};
use crate::api::status::{CommonStatus, KindStatus, PreDeployTaskStatus, Reason};
use crate::api::yaml::Pos;
use crate::api::{
    API_VERSION, AccountRegion, EcsCapacityProvider, EcsCluster, EcsService, EcsTaskDefinition,
    Kind, Manifest, Object, ObjectKey, Parsed,
};
use crate::cli::ControllerArgs;
use crate::diff::observed::{Owner, Ownership};
use crate::diff::plan::{Action as PlanAction, Desired, ObjectPlan, Plan, Prune, Verdict};
use crate::ecs::{Ecs, SdkEcs};
use crate::reconcile::status::{
    Decision, Health, Seen, decide, now_rfc3339, observed_status, with_pre_deploy,
};
use crate::reconcile::{Follow, Options, Outcome, ReconcileError, Reconciler, Report, Step};
use crate::web::{self, Limits, router};

/// On EcsServices whose deletion must reach ECS first (`deletionPolicy`).
pub const FINALIZER: &str = "ecs-gitops.dev/finalizer";
/// Server-side apply's field manager for the status the controller writes.
const FIELD_MANAGER: &str = "ecs-gitops";
/// How soon a reconcile that failed (ECS or the API server unreachable) is tried again.
const RETRY: Duration = Duration::from_secs(15);
/// How soon an object waiting for a reference is looked at again.
const DEPENDENCY_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<CrdError>>),
    #[error("deleting {arn} from ECS: {message}")]
    Delete { arn: String, message: String },
    #[error("{}", cannot_list(.0))]
    NoCrds(#[source] kube::Error),
    #[error(transparent)]
    Connect(#[from] KubeUnreachable),
    #[error(transparent)]
    Lease(#[from] super::leader::LeaseError),
    #[error("lost the leader lease; exiting so that only one replica works")]
    LostLease,
    #[error(transparent)]
    Listen(#[from] web::ListenError),
    #[error("connecting to ECS: {0}")]
    Ecs(#[source] crate::commands::ConnectError),
}

/// Why listing EcsServices at start-up failed, said so that a person can act: the CRDs
/// missing, RBAC refusing, or the API server's own words.
fn cannot_list(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 404 => {
            "the custom resource definitions are not installed: kubectl apply --server-side -f crds/ (or install the chart)".to_string()
        }
        kube::Error::Api(status) if status.code == 403 => format!(
            "Kubernetes refuses to let this identity list ecsservices.ecs-gitops.dev ({}): give it the chart's RBAC (manifests/ has it rendered)",
            status.message
        ),
        kube::Error::Api(status) => format!(
            "listing ecsservices.ecs-gitops.dev: the API server answered {} {}: {}",
            status.code, status.reason, status.message
        ),
        other => format!("listing ecsservices.ecs-gitops.dev: {other}"),
    }
}

/// Kubernetes could not be reached to start with.
#[derive(Debug, thiserror::Error)]
pub enum KubeUnreachable {
    #[error(
        "no Kubernetes configuration: not in a pod, and no kubeconfig (set KUBECONFIG, or create ~/.kube/config)"
    )]
    NoConfig,
    #[error("cannot load the Kubernetes configuration: {0}")]
    Config(#[source] kube::config::InferConfigError),
    #[error("cannot reach Kubernetes: {0}")]
    Client(#[source] kube::Error),
}

/// A client for the cluster the environment names: the pod's, or the kubeconfig's.
pub async fn kube_client() -> Result<Client, KubeUnreachable> {
    match Client::try_default().await {
        Ok(client) => Ok(client),
        Err(kube::Error::InferConfig(error)) => {
            let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            let kubeconfig = std::env::var_os("KUBECONFIG").is_some()
                || std::env::var_os("HOME")
                    .is_some_and(|home| std::path::Path::new(&home).join(".kube/config").exists());
            Err(if in_pod || kubeconfig {
                KubeUnreachable::Config(error)
            } else {
                KubeUnreachable::NoConfig
            })
        }
        Err(error) => Err(KubeUnreachable::Client(error)),
    }
}

impl CrdError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            CrdError::Kube(_) | CrdError::Connect(_) | CrdError::NoCrds(_) => "kube",
            CrdError::Reconcile(_) | CrdError::Ecs(_) => "ecs",
            CrdError::Finalizer(_) | CrdError::Delete { .. } => "finalizer",
            CrdError::Lease(_) | CrdError::LostLease => "lease",
            CrdError::Listen(_) => "listen",
        }
    }
}

/// What every reconcile needs.
struct Context {
    client: Client,
    reconciler: Arc<Reconciler<SdkEcs>>,
    region: String,
    cluster_name: String,
    rounds: Arc<Rounds>,
    options: Options,
    recorder: Recorder,
    state: Arc<State>,
    task_definitions: Store<EcsTaskDefinition>,
    clusters: Store<EcsCluster>,
}

/// `ecs-gitops controller`: serves the status endpoints, waits for the lease when asked to,
/// and runs the three controllers until SIGTERM (or a lost lease).
pub async fn serve(args: ControllerArgs) -> Result<(), CrdError> {
    // The address before anything starts: one in use is said first and alone.
    let listener = web::bind(args.listen, "--listen").await?;
    let client = kube_client().await?;
    // Fail fast with something a person can act on.
    Api::<EcsService>::all(client.clone())
        .list(&ListParams::default().limit(1))
        .await
        .map_err(CrdError::NoCrds)?;
    let (ecs, _simulator) = crate::commands::connect(&args.ecs)
        .await
        .map_err(CrdError::Ecs)?;
    let region = ecs.default_region().to_string();
    let stale_after = args.resync * 3 + args.ecs.call_timeout;
    let source = if args.namespaces.is_empty() {
        "Kubernetes: all namespaces".to_string()
    } else {
        format!("Kubernetes: namespaces {}", args.namespaces.join(", "))
    };
    let state = Arc::new(
        State::new(
            source,
            format!("{}/NAMESPACE/KIND/NAME", args.cluster_name),
            stale_after,
        )
        .with_insight(ecs.insight()),
    );
    let (stop, shutdown) = watch::channel(false);
    let address = listener.local_addr().unwrap_or(args.listen);
    let web = tokio::spawn(web::serve(
        listener,
        router(state.clone(), None),
        Limits::default(),
        shutdown.clone(),
    ));
    // Alive as long as the runtime answers: reconciles run concurrently, so one stuck call
    // does not stop the others, and a standby reconciles nothing at all.
    let heartbeat = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                state.sweep_finished();
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
    state.update(|s| s.ready = true);
    tracing::info!(status_page = %format!("http://{address}/"), cluster_name = %args.cluster_name, "ecs-gitops CRD controller started");
    let mut leadership = None;
    if args.leader.leader_elect {
        let config = LeaseConfig {
            namespace: args.leader.lease_namespace.clone(),
            name: args.leader.lease_name.clone(),
            identity: identity(),
            duration: args.leader.lease_duration,
        };
        let mut joined = Leadership::join(client.clone(), &config).await?;
        tracing::info!(lease = %config.name, identity = %config.identity, "waiting to lead");
        tokio::select! {
            _ = joined.acquired() => tracing::info!("leading: reconciling"),
            _ = super::wait_for_signal() => {
                joined.release().await;
                let _ = stop.send(true);
                return Ok(());
            }
        }
        leadership = Some(joined);
    }
    // Long enough for a resync round's reconciles to fill their calls, short beside a rollout.
    let reconciler = Arc::new(Reconciler::batching(ecs, Duration::from_millis(150)));
    let options = Options {
        follow: Follow::Once,
        timeout: args.timeout,
        poll: args.poll,
        ..Options::default()
    };
    let scopes: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "ecs-gitops".into(),
            instance: std::env::var("HOSTNAME").ok(),
        },
    );
    let rounds = Arc::new(Rounds::new(args.resync));
    let mut controllers = Vec::new();
    for scope in scopes {
        let wiring = Wiring {
            client: client.clone(),
            scope,
            reconciler: reconciler.clone(),
            region: region.clone(),
            cluster_name: args.cluster_name.clone(),
            rounds: rounds.clone(),
            options: options.clone(),
            recorder: recorder.clone(),
            state: state.clone(),
            concurrency: args.concurrency,
            shutdown: shutdown.clone(),
        };
        controllers.push(tokio::spawn(wiring.run()));
    }
    let all = futures::future::join_all(controllers);
    let result = tokio::select! {
        _ = all => Ok(()),
        _ = super::wait_for_signal() => {
            tracing::info!("signal received: finishing the reconciles in flight");
            Ok(())
        }
        _ = lost(&mut leadership) => Err(CrdError::LostLease),
    };
    let _ = stop.send(true);
    if let Some(leadership) = leadership {
        leadership.release().await;
    }
    heartbeat.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), web).await;
    result
}

async fn lost(leadership: &mut Option<Leadership>) {
    match leadership {
        Some(leadership) => leadership.lost().await,
        None => futures::future::pending().await,
    }
}

/// The three controllers of one namespace (or of all).
struct Wiring {
    client: Client,
    scope: Option<String>,
    reconciler: Arc<Reconciler<SdkEcs>>,
    region: String,
    cluster_name: String,
    rounds: Arc<Rounds>,
    options: Options,
    recorder: Recorder,
    state: Arc<State>,
    concurrency: u16,
    shutdown: watch::Receiver<bool>,
}

impl Wiring {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.scope {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        }
    }

    fn controller<K>(&self, watched: &watcher::Config) -> Controller<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        Controller::new(self.api::<K>(), watched.clone())
    }

    async fn run(self) {
        let watched = watcher::Config::default().any_semantic();
        let config = ControllerConfig::default().concurrency(self.concurrency);
        let capacity_providers = self
            .controller::<EcsCapacityProvider>(&watched)
            .with_config(config.clone());
        let clusters = self
            .controller::<EcsCluster>(&watched)
            .with_config(config.clone());
        let task_definitions = self
            .controller::<EcsTaskDefinition>(&watched)
            .with_config(config.clone());
        let services = self.controller::<EcsService>(&watched).with_config(config);
        let context = Arc::new(Context {
            client: self.client.clone(),
            reconciler: self.reconciler.clone(),
            region: self.region.clone(),
            cluster_name: self.cluster_name.clone(),
            rounds: self.rounds.clone(),
            options: self.options.clone(),
            recorder: self.recorder.clone(),
            state: self.state.clone(),
            task_definitions: task_definitions.store(),
            clusters: clusters.store(),
        });
        // A changed EcsTaskDefinition or EcsCluster requeues the services that name it.
        let referrers = services.store();
        let by_cluster = services.store();
        let services = services
            .watches(
                self.api::<EcsTaskDefinition>(),
                watched.clone(),
                move |td| {
                    let (namespace, name) = (td.namespace(), td.name_any());
                    referrers
                        .state()
                        .into_iter()
                        .filter(move |s| {
                            s.namespace() == namespace
                                && task_definition_refs(s).contains(&name.as_str())
                        })
                        .map(|s| ObjectRef::from_obj(&*s))
                },
            )
            .watches(self.api::<EcsCluster>(), watched, move |cluster| {
                let (namespace, name) = (cluster.namespace(), cluster_name_of(&cluster));
                by_cluster
                    .state()
                    .into_iter()
                    .filter(move |s| s.namespace() == namespace && service_cluster(s) == name)
                    .map(|s| ObjectRef::from_obj(&*s))
            });
        let stop = |mut shutdown: watch::Receiver<bool>| async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        tokio::join!(
            drain(
                capacity_providers
                    .graceful_shutdown_on(stop(self.shutdown.clone()))
                    .run(reconcile_capacity_provider, error_policy, context.clone())
            ),
            drain(
                clusters
                    .graceful_shutdown_on(stop(self.shutdown.clone()))
                    .run(reconcile_cluster, error_policy, context.clone())
            ),
            drain(
                task_definitions
                    .graceful_shutdown_on(stop(self.shutdown.clone()))
                    .run(reconcile_task_definition, error_policy, context.clone())
            ),
            drain(
                services
                    .graceful_shutdown_on(stop(self.shutdown.clone()))
                    .run(reconcile_service, error_policy, context)
            ),
        );
    }
}

/// Runs a controller's stream of results to its end.
async fn drain<S: futures::Stream>(results: S) {
    results.for_each(|_| futures::future::ready(())).await
}

fn error_policy<K>(object: Arc<K>, error: &CrdError, _: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    tracing::warn!(object = %format!("{}/{}/{}", K::kind(&()), object.namespace().unwrap_or_default(), object.name_any()), error = %error, label = error.metric_label(), "reconcile failed; trying again");
    Action::requeue(RETRY)
}

/// The name ECS knows a cluster object by.
fn cluster_name_of(cluster: &EcsCluster) -> String {
    cluster
        .spec
        .cluster
        .cluster_name
        .clone()
        .unwrap_or_else(|| cluster.name_any())
}

fn service_cluster(service: &EcsService) -> String {
    service
        .spec
        .service
        .cluster
        .clone()
        .unwrap_or_else(|| "default".into())
}

fn key_of<K: Resource<DynamicType = ()>>(object: &K, kind: Kind) -> ObjectKey {
    ObjectKey::new(
        kind,
        &object.meta().namespace.clone().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default(),
    )
}

fn manifest(object: Object) -> Manifest {
    Manifest {
        file: object.key().to_string(),
        object,
        pos: Pos { line: 0, col: 0 },
        locations: Default::default(),
    }
}

async fn reconcile_capacity_provider(
    provider: Arc<EcsCapacityProvider>,
    ctx: Arc<Context>,
) -> Result<Action, CrdError> {
    let namespace = provider.namespace().unwrap_or_default();
    let api: Api<EcsCapacityProvider> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, provider, |event| async {
        match event {
            Finalizing::Apply(provider) => {
                let key = key_of(&*provider, Kind::EcsCapacityProvider);
                let manifests = vec![manifest(Object::CapacityProvider(Box::new(
                    (*provider).clone(),
                )))];
                sync(&*provider, &key, manifests, &ctx).await
            }
            Finalizing::Cleanup(provider) => cleanup_capacity_provider(&provider, &ctx).await,
        }
    })
    .await
    .map_err(|e| CrdError::Finalizer(Box::new(e)))
}

/// Deleting an EcsCapacityProvider: `Delete` deletes the ECS capacity provider when this
/// object created it (ECS refuses while a cluster still uses it: retried, and said so);
/// `Retain`, or another owner's, leaves it.
async fn cleanup_capacity_provider(
    provider: &EcsCapacityProvider,
    ctx: &Context,
) -> Result<Action, CrdError> {
    let key = key_of(provider, Kind::EcsCapacityProvider);
    let reference = provider.object_ref(&());
    let desired = Desired::from_manifests(
        &[manifest(Object::CapacityProvider(Box::new(
            provider.clone(),
        )))],
        &ctx.region,
        owner_of(ctx, &key),
    );
    let Some(wanted) = desired.capacity_providers.first() else {
        return Ok(Action::await_change());
    };
    if wanted.retain {
        let note = format!(
            "deletionPolicy Retain: ECS capacity provider {} stays",
            wanted.name
        );
        publish(ctx, &reference, EventType::Normal, "Retained", note).await;
        return Ok(Action::await_change());
    }
    let observed = ctx.reconciler.observe(&desired, false).await?;
    let Some(live) = observed
        .capacity_providers
        .get(&(wanted.region.clone(), wanted.name.clone()))
    else {
        return Ok(Action::await_change());
    };
    if Ownership::of(&live.tags, &desired.owner) != Ownership::Ours {
        let note = format!(
            "ECS capacity provider {} was not created by this object: left in ECS",
            live.arn
        );
        publish(ctx, &reference, EventType::Warning, "NotDeleted", note).await;
        return Ok(Action::await_change());
    }
    match ctx
        .reconciler
        .ecs
        .delete_capacity_provider(&wanted.region, &wanted.name)
        .await
    {
        Ok(()) => {
            let note = format!("deleted ECS capacity provider {}", live.arn);
            publish(ctx, &reference, EventType::Normal, "Deleted", note).await;
            ctx.state.update(|s| {
                s.objects.remove(&key.to_string());
            });
            Ok(Action::await_change())
        }
        Err(e) => deletion_failed(provider, &key, &live.arn, e.to_string(), ctx).await,
    }
}

async fn reconcile_cluster(
    cluster: Arc<EcsCluster>,
    ctx: Arc<Context>,
) -> Result<Action, CrdError> {
    let key = key_of(&*cluster, Kind::EcsCluster);
    let manifests = vec![manifest(Object::Cluster((*cluster).clone()))];
    sync(&*cluster, &key, manifests, &ctx).await
}

async fn reconcile_task_definition(
    td: Arc<EcsTaskDefinition>,
    ctx: Arc<Context>,
) -> Result<Action, CrdError> {
    let key = key_of(&*td, Kind::EcsTaskDefinition);
    let manifests = vec![manifest(Object::TaskDefinition((*td).clone()))];
    sync(&*td, &key, manifests, &ctx).await
}

async fn reconcile_service(
    service: Arc<EcsService>,
    ctx: Arc<Context>,
) -> Result<Action, CrdError> {
    let namespace = service.namespace().unwrap_or_default();
    let api: Api<EcsService> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, service, |event| async {
        match event {
            Finalizing::Apply(service) => apply_service(&service, &ctx).await,
            Finalizing::Cleanup(service) => cleanup_service(&service, &ctx).await,
        }
    })
    .await
    .map_err(|e| CrdError::Finalizer(Box::new(e)))
}

async fn apply_service(service: &EcsService, ctx: &Context) -> Result<Action, CrdError> {
    let key = key_of(service, Kind::EcsService);
    let namespace = key.namespace.as_str();
    let mut manifests = vec![manifest(Object::Service(Box::new(service.clone())))];
    for reference in task_definition_refs(service) {
        if manifests
            .iter()
            .any(|m| m.object.name() == reference && m.object.kind_of() == Kind::EcsTaskDefinition)
        {
            continue;
        }
        let found = ctx
            .task_definitions
            .get(&ObjectRef::new(reference).within(namespace));
        match found {
            Some(td) => manifests.push(manifest(Object::TaskDefinition((*td).clone()))),
            None => {
                let why = format!(
                    "taskDefinitionRef: EcsTaskDefinition {reference} not found in namespace {namespace}"
                );
                return waiting(service, &key, why, ctx).await;
            }
        }
    }
    let cluster = service_cluster(service);
    let declared: Vec<Arc<EcsCluster>> = ctx
        .clusters
        .state()
        .into_iter()
        .filter(|c| c.namespace().as_deref() == Some(namespace) && cluster_name_of(c) == cluster)
        .collect();
    let here = AccountRegion::resolve(
        service.spec.account.as_deref(),
        service.spec.region.as_deref(),
        &ctx.region,
    );
    let same_place = declared.iter().find(|c| {
        AccountRegion::resolve(
            c.spec.account.as_deref(),
            c.spec.region.as_deref(),
            &ctx.region,
        ) == here
    });
    // Only in another account or region: the rules say so (InvalidSpec).
    if let (None, Some(elsewhere)) = (same_place, declared.first()) {
        manifests.push(manifest(Object::Cluster((**elsewhere).clone())));
    }
    if let Some(declared) = same_place {
        let ready = declared
            .status
            .as_ref()
            .is_some_and(|s| KindStatus::Cluster(s.clone()).is_ready());
        if !ready {
            let why = format!(
                "cluster: EcsCluster {} is not ready yet",
                declared.name_any()
            );
            return waiting(service, &key, why, ctx).await;
        }
    }
    sync(service, &key, manifests, ctx).await
}

/// The EcsTaskDefinitions a service names: its own and its pre-deploy tasks'.
fn task_definition_refs(service: &EcsService) -> Vec<&str> {
    let pre_deploy = service
        .spec
        .rollout
        .iter()
        .flat_map(|r| r.pre_deploy.iter().flatten());
    service
        .spec
        .task_definition_ref
        .iter()
        .chain(pre_deploy.filter_map(|t| t.task_definition_ref.as_ref()))
        .map(String::as_str)
        .collect()
}

/// A reference is missing or not ready: no ECS call, said in the status, looked at again.
async fn waiting(
    object: &EcsService,
    key: &ObjectKey,
    why: String,
    ctx: &Context,
) -> Result<Action, CrdError> {
    let decision = Decision::new(Health::Reconciling, Reason::DependencyNotReady, why);
    let status = KindStatus::Service(Default::default());
    write_status(object, key, status, &decision, None, ctx).await?;
    Ok(Action::requeue(DEPENDENCY_RETRY))
}

/// Deleting an EcsService: `Delete` scales the ECS service to zero and deletes it when this
/// object owns it; `Retain` (or another owner's service) leaves it running.
async fn cleanup_service(service: &EcsService, ctx: &Context) -> Result<Action, CrdError> {
    let key = key_of(service, Kind::EcsService);
    let reference = service.object_ref(&());
    let retain = service.spec.deletion_policy == Some(crate::api::DeletionPolicy::Retain);
    let desired = Desired::from_manifests(
        &[manifest(Object::Service(Box::new(service.clone())))],
        &ctx.region,
        owner_of(ctx, &key),
    );
    let Some(wanted) = desired.services.first() else {
        return Ok(Action::await_change());
    };
    if retain {
        publish(
            ctx,
            &reference,
            EventType::Normal,
            "Retained",
            format!(
                "deletionPolicy Retain: ECS service {} keeps running",
                wanted.key.name
            ),
        )
        .await;
        return Ok(Action::await_change());
    }
    let observed = ctx.reconciler.observe(&desired, false).await?;
    let Some(live) = observed
        .services
        .get(&wanted.key)
        .filter(|s| s.status == "ACTIVE")
    else {
        return Ok(Action::await_change());
    };
    let whose = match live.ownership(&desired.owner) {
        Ownership::Ours => None,
        Ownership::Theirs(other) => Some(format!("is owned by {other}")),
        Ownership::Legacy | Ownership::Unmanaged => Some("was not created by this object".into()),
    };
    if let Some(whose) = whose {
        let note = format!("ECS service {} {whose}: left in ECS", live.arn);
        publish(ctx, &reference, EventType::Warning, "NotDeleted", note).await;
        return Ok(Action::await_change());
    }
    let plan = Plan {
        owner: desired.owner.clone(),
        objects: vec![ObjectPlan {
            object: key.clone(),
            verdict: Verdict::Delete,
            changes: Vec::new(),
        }],
        actions: vec![PlanAction::DeleteService {
            key: wanted.key.clone(),
            arn: live.arn.clone(),
            desired_count: live.desired_count,
        }],
        ..Plan::default()
    };
    let report = ctx
        .reconciler
        .execute(&plan, &ctx.options, &|_: &ObjectKey, _: Step| {})
        .await;
    match report.results.values().next() {
        Some(Outcome::Failed { message }) => {
            deletion_failed(service, &key, &live.arn, message.clone(), ctx).await
        }
        _ => {
            let note = format!("scaled to 0 and deleted ECS service {}", live.arn);
            publish(ctx, &reference, EventType::Normal, "Deleted", note).await;
            ctx.state.update(|s| {
                s.objects.remove(&key.to_string());
            });
            Ok(Action::await_change())
        }
    }
}

/// ECS refused to delete what the object made: said in its status and an event; the
/// finalizer stays and the deletion is tried again.
async fn deletion_failed<K>(
    object: &K,
    key: &ObjectKey,
    arn: &str,
    message: String,
    ctx: &Context,
) -> Result<Action, CrdError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + HasStatus,
{
    let decision = Decision::new(
        Health::Stalled,
        Reason::Blocked,
        format!("cannot delete {arn}: {message}"),
    );
    let status = KindStatus::empty(key.kind);
    write_status(object, key, status, &decision, None, ctx).await?;
    let reference = object.object_ref(&());
    publish(
        ctx,
        &reference,
        EventType::Warning,
        "DeletionFailed",
        message.clone(),
    )
    .await;
    Err(CrdError::Delete {
        arn: arn.to_string(),
        message,
    })
}

/// The owner identity of an object: the Kubernetes cluster's name and the object's key.
fn owner_of(ctx: &Context, key: &ObjectKey) -> Owner {
    Owner::new(&format!(
        "{}/{}/{}/{}",
        ctx.cluster_name, key.namespace, key.kind, key.name
    ))
}

/// The common reconcile: ECS rules, then the one plan/execute path, then status and events.
async fn sync<K>(
    object: &K,
    key: &ObjectKey,
    manifests: Vec<Manifest>,
    ctx: &Context,
) -> Result<Action, CrdError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + HasStatus,
{
    let mut parsed = Parsed {
        manifests,
        ..Parsed::default()
    };
    parsed.check_rules();
    parsed.check_accounts(ctx.reconciler.ecs.accounts(), Some(&ctx.region));
    let reference = object.object_ref(&());
    if parsed.errors() > 0 {
        let problems: Vec<String> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| match &d.field {
                Some(field) => format!("{field}: {}", d.message),
                None => d.message.clone(),
            })
            .collect();
        let decision = Decision::new(Health::Stalled, Reason::InvalidSpec, problems.join("; "));
        let empty = observed_status(key, &Desired::default(), &Default::default());
        let changed = write_status(object, key, empty, &decision, None, ctx).await?;
        if changed {
            publish(
                ctx,
                &reference,
                EventType::Warning,
                "InvalidSpec",
                decision.message.clone(),
            )
            .await;
        }
        return Ok(Action::await_change());
    }
    let mut desired = Desired::from_manifests(&parsed.manifests, &ctx.region, owner_of(ctx, key));
    // Only this object: a referenced task definition is its own object's to register.
    desired.task_definitions.retain(|t| t.object == *key);
    desired.clusters.retain(|c| c.object == *key);
    desired.services.retain(|s| s.object == *key);
    let (observed, plan) = ctx.reconciler.plan(&desired, Prune::Off).await?;
    let generation = object.meta().generation;
    let options = Options {
        source_revision: format!("generation-{}", generation.unwrap_or_default()),
        ..ctx.options.clone()
    };
    let report = if plan.actions.is_empty() {
        Report::default()
    } else {
        ctx.reconciler
            .execute(&plan, &options, &|object: &ObjectKey, step: Step| {
                tracing::info!(object = %object, "{}", step.line())
            })
            .await
    };
    let observed = if plan.actions.is_empty() {
        observed
    } else {
        ctx.reconciler.observe(&desired, false).await?
    };
    let Some(planned) = plan.objects.iter().find(|o| o.object == *key) else {
        return Ok(Action::requeue(ctx.rounds.until_next()));
    };
    let outcome = report.results.get(key);
    let mut status = observed_status(key, &desired, &observed);
    let before = object.kind_status();
    let tasks = report.pre_deploy.get(key);
    with_pre_deploy(&mut status, tasks, before.as_ref());
    let previous = before.as_ref().map(|s| s.common().clone());
    let remembered = previous.as_ref().and_then(remembered_failure);
    let live = desired
        .services
        .first()
        .and_then(|s| observed.services.get(&s.key));
    let rollout = match &status {
        KindStatus::Service(s) => s.rollout.clone(),
        _ => None,
    };
    let decision = decide(&Seen {
        verdict: &planned.verdict,
        outcome,
        rollout: rollout.as_ref(),
        changes: &planned.changes,
        failure: remembered.as_deref(),
        live,
    });
    let running = match &status {
        KindStatus::Service(s) => s.task_definition.clone(),
        _ => None,
    };
    let changed = write_status(object, key, status, &decision, Some(planned), ctx).await?;
    let told = Told {
        plan: &plan,
        planned,
        outcome,
        decision: &decision,
        changed,
        previous: previous.as_ref(),
        running: running.as_deref(),
    };
    tell(ctx, &reference, &told).await;
    tell_pre_deploy(ctx, &reference, tasks, before.as_ref()).await;
    ctx.state.sweep_finished();
    Ok(match decision.health {
        Health::Reconciling => Action::requeue(ctx.options.poll),
        _ => Action::requeue(ctx.rounds.until_next()),
    })
}

/// The failed rollout's words a quarantine keeps telling.
fn remembered_failure(previous: &CommonStatus) -> Option<String> {
    let reason = previous
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::status::condition::READY)
        .map(|c| c.reason.clone())?;
    let error = previous.last_error.as_deref()?;
    match reason.as_str() {
        "RolloutFailed" => Some(error.to_string()),
        "Quarantined" => error
            .strip_prefix("quarantined until the manifest changes: ")
            .map(str::to_string),
        _ => None,
    }
}

/// What a reconcile found and did, for its events.
struct Told<'a> {
    plan: &'a Plan,
    planned: &'a ObjectPlan,
    outcome: Option<&'a Outcome>,
    decision: &'a Decision,
    /// The Ready condition's reason or message changed.
    changed: bool,
    previous: Option<&'a CommonStatus>,
    /// The service's live revision.
    running: Option<&'a str>,
}

/// Events for what happened: changes made, rollouts ended, and a new problem.
async fn tell(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    told: &Told<'_>,
) {
    let Told {
        plan,
        planned,
        outcome,
        decision,
        changed,
        previous,
        running,
    } = *told;
    let ready_reason = |status: &CommonStatus| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == crate::api::status::condition::READY)
            .map(|c| c.reason.clone())
    };
    let was_progressing =
        previous.and_then(ready_reason).as_deref() == Some(Reason::Progressing.as_str());
    let drift = previous.is_some_and(|p| {
        p.observed_generation.is_some() && p.last_applied_revision == p.last_attempted_revision
    }) && matches!(planned.verdict, Verdict::Update { .. });
    for action in &plan.actions {
        let (reason, note) = match action {
            PlanAction::CreateCluster(cluster) => (
                "Created",
                format!("created the ECS cluster in {}", cluster.region),
            ),
            PlanAction::CreateCapacityProvider(provider) => (
                "Created",
                format!("created the ECS capacity provider in {}", provider.region),
            ),
            PlanAction::UpdateCluster(_)
            | PlanAction::UpdateService(_)
            | PlanAction::UpdateCapacityProvider(_) => {
                let Verdict::Update { fields } = &planned.verdict else {
                    continue;
                };
                let reason = if drift {
                    ctx.state.drift_repaired([planned.object.to_string()]);
                    "DriftRepaired"
                } else {
                    "Updated"
                };
                (reason, format!("changed {}", fields.join(", ")))
            }
            PlanAction::RegisterTaskDefinition(_) => match outcome {
                Some(Outcome::Done { message }) => ("RevisionRegistered", message.clone()),
                _ => continue,
            },
            PlanAction::CreateService(service) => (
                "Created",
                format!("created the ECS service in {}", service.key.region),
            ),
            PlanAction::FollowRollout(_)
            | PlanAction::Quarantine(_)
            | PlanAction::DeleteService { .. }
            | PlanAction::DeleteCapacityProvider { .. } => continue,
        };
        publish(ctx, reference, EventType::Normal, reason, note).await;
    }
    let rolled_out =
        matches!(outcome, Some(Outcome::Done { message }) if message.starts_with("rolled out"));
    match (outcome, running) {
        (Some(Outcome::Failed { message }), _) => {
            let reason = if message.contains("rolled back") {
                "RolledBack"
            } else {
                "RolloutFailed"
            };
            publish(ctx, reference, EventType::Warning, reason, message.clone()).await
        }
        (_, Some(running)) if decision.is_ready() && (was_progressing || rolled_out) => {
            let note = format!("rolled out {running}");
            publish(ctx, reference, EventType::Normal, "RolloutCompleted", note).await
        }
        _ if changed && decision.health == Health::Stalled => {
            publish(
                ctx,
                reference,
                EventType::Warning,
                decision.reason.as_str(),
                decision.message.clone(),
            )
            .await
        }
        _ => {}
    }
}

/// An event for each pre-deploy task that started or stopped since the status last showed it.
async fn tell_pre_deploy(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    tasks: Option<&Vec<PreDeployTaskStatus>>,
    before: Option<&KindStatus>,
) {
    let shown = match before {
        Some(KindStatus::Service(s)) => s.pre_deploy.as_slice(),
        _ => &[],
    };
    for task in tasks.into_iter().flatten() {
        let seen = shown.iter().find(|s| s.task_arn == task.task_arn);
        if seen.is_some_and(|s| s.succeeded == task.succeeded) {
            continue;
        }
        let (type_, reason) = match task.succeeded {
            None if seen.is_some() => continue,
            None => (EventType::Normal, "PreDeployTaskStarted"),
            Some(true) => (EventType::Normal, "PreDeployTaskSucceeded"),
            Some(false) => (EventType::Warning, "PreDeployTaskFailed"),
        };
        publish(ctx, reference, type_, reason, task.describe()).await;
    }
}

async fn publish(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    // Events hold at most 1 kB of note.
    let note: String = note.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        tracing::warn!(error = %e, reason, "publishing an event");
    }
}

/// Writes the object's status (server-side apply on the status subresource) and mirrors it
/// at `/api/status`; true when its Ready condition's reason or message changed.
async fn write_status<K>(
    object: &K,
    key: &ObjectKey,
    mut status: KindStatus,
    decision: &Decision,
    planned: Option<&ObjectPlan>,
    ctx: &Context,
) -> Result<bool, CrdError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + HasStatus,
{
    let generation = object.meta().generation;
    let previous = object.common_status().unwrap_or_default();
    let common = status.common_mut();
    common.observed_generation = generation;
    let revision = generation.map(|g| g.to_string());
    common.last_attempted_revision = revision.clone();
    common.last_applied_revision = if decision.is_ready() {
        revision
    } else {
        previous.last_applied_revision.clone()
    };
    common.conditions = decision.conditions(&previous.conditions, &now_rfc3339(), generation);
    common.last_error = (!decision.is_ready()).then(|| decision.message.clone());
    let before = previous
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::status::condition::READY);
    let changed = before
        .is_none_or(|c| c.reason != decision.reason.as_str() || c.message != decision.message);
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let patch = StatusPatch {
        api_version: API_VERSION,
        kind: K::kind(&()).to_string(),
        status: &status,
    };
    api.patch_status(
        &key.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    let mut shown = ObjectStatus::new(key);
    shown.verdict = planned.map_or_else(String::new, |p| verdict_word(&p.verdict));
    if !decision.is_ready() {
        shown.changes = planned.map(|p| p.changes.clone()).unwrap_or_default();
    }
    shown.status = status;
    ctx.state.update(|s| {
        s.objects.insert(key.to_string(), shown);
    });
    Ok(changed)
}

fn verdict_word(verdict: &Verdict) -> String {
    serde_json::to_value(verdict)
        .ok()
        .and_then(|v| v["verdict"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusPatch<'a> {
    api_version: &'a str,
    kind: String,
    status: &'a KindStatus,
}

/// The kinds' status, read back for conditions' transition times, remembered failures and
/// the pre-deploy tasks of the spec.
trait HasStatus {
    fn kind_status(&self) -> Option<KindStatus>;

    fn common_status(&self) -> Option<CommonStatus> {
        self.kind_status().map(|s| s.common().clone())
    }
}

macro_rules! has_status {
    ($($kind:ty => $variant:ident),*) => {$(
        impl HasStatus for $kind {
            fn kind_status(&self) -> Option<KindStatus> {
                self.status.clone().map(KindStatus::$variant)
            }
        }
    )*};
}

has_status!(
    EcsService => Service,
    EcsTaskDefinition => TaskDefinition,
    EcsCluster => Cluster,
    EcsCapacityProvider => CapacityProvider
);

/// The resync rounds: every object is due at the same instants, so that their
/// DescribeServices calls are batched ten at a time; each round is shifted by up to ±10 %
/// (the same shift for every object of this process, another for another process), so that
/// controllers sharing an account do not poll in step.
struct Rounds {
    origin: Instant,
    period: Duration,
    seed: u64,
}

impl Rounds {
    fn new(period: Duration) -> Rounds {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Rounds {
            origin: Instant::now(),
            period: period.max(Duration::from_secs(1)),
            seed,
        }
    }

    /// How long until the next round at least half a period away.
    fn until_next(&self) -> Duration {
        let elapsed = self.origin.elapsed();
        let mut round = (elapsed.as_secs_f64() / self.period.as_secs_f64()).floor() as u64 + 1;
        loop {
            let shift = (self.seed.wrapping_mul(round.wrapping_add(1)) >> 33) % 2000;
            let at = self
                .period
                .mul_f64(round as f64 + (shift as f64 - 1000.0) / 10_000.0);
            if at > elapsed + self.period / 2 {
                return at - elapsed;
            }
            round += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_is_due_at_the_same_round_at_least_half_a_period_away() {
        let rounds = Rounds::new(Duration::from_secs(300));
        let (a, b) = (rounds.until_next(), rounds.until_next());
        assert!(a.abs_diff(b) < Duration::from_millis(50), "{a:?} {b:?}");
        assert!(
            a >= Duration::from_secs(150) && a <= Duration::from_secs(330),
            "{a:?}"
        );
    }
}
