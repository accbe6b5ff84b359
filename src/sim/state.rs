//! The simulated accounts: per account and region, its clusters, capacity providers, task
//! definitions, services and tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Map, Value as Json, json};

/// The account of callers that did not assume a role.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// ECS returns at most this many service events.
const MAX_EVENTS: usize = 100;

/// Stopped tasks ECS still describes, per service.
pub const STOPPED_TASKS_KEPT: usize = 50;

#[derive(Debug, Default)]
pub struct World {
    /// By (account id, region name): ECS keeps each account's regions apart.
    pub regions: HashMap<(String, String), Region>,
    pub ids: Ids,
}

impl World {
    /// An account's region and the id generator, borrowed together.
    pub fn region(&mut self, account: &str, name: &str) -> (&mut Region, &mut Ids) {
        let region = self
            .regions
            .entry((account.to_string(), name.to_string()))
            .or_insert_with(|| Region::new(account, name));
        (region, &mut self.ids)
    }
}

/// Ids that look like ECS's and never repeat within a world.
#[derive(Debug, Default)]
pub struct Ids(u64);

impl Ids {
    /// `hex_len` hex digits.
    pub fn hex(&mut self, hex_len: usize) -> String {
        self.0 += 1;
        let mut x = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut out = String::with_capacity(hex_len + 16);
        while out.len() < hex_len {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            out.push_str(&format!("{x:016x}"));
        }
        out.truncate(hex_len);
        out
    }

    /// A 19-digit decimal id, as in `ecs-svc/1234567890123456789`.
    pub fn numeric(&mut self) -> String {
        let value = u64::from_str_radix(&self.hex(16), 16).unwrap_or_default();
        (value % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000).to_string()
    }

    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

#[derive(Debug, Default)]
pub struct Region {
    /// The account id, in every ARN of the region.
    pub account: String,
    pub name: String,
    /// By cluster name.
    pub clusters: BTreeMap<String, Cluster>,
    /// By family: revisions in order, index = revision - 1.
    pub families: BTreeMap<String, Vec<TaskDefinition>>,
    /// By service ARN: ACTIVE and DRAINING services, and INACTIVE ones ECS still describes.
    pub services: BTreeMap<String, Service>,
    /// By task ARN.
    pub tasks: HashMap<String, Task>,
    /// Services and tasks whose state changes with time; the rest are at rest.
    pub moving_services: BTreeSet<String>,
    pub moving_tasks: BTreeSet<String>,
    /// clientToken of CreateService → (hash of the request, service ARN).
    pub client_tokens: HashMap<String, (u64, String)>,
    /// clientToken of RunTask → (hash of the request, the ARNs of the tasks it started).
    pub run_task_tokens: HashMap<String, (u64, Vec<String>)>,
    /// Task definition ARNs in DELETE_IN_PROGRESS, deleted once nothing uses them, and when
    /// they are next checked.
    pub deleting: BTreeSet<String>,
    pub next_deletion_check: f64,
    /// Stopped tasks started by RunTask, with when they stopped, oldest first: ECS describes
    /// them for an hour.
    pub stopped_one_off: VecDeque<(f64, String)>,
    /// Capacity providers created in the region, oldest first, deleted ones included while
    /// ECS still describes them. FARGATE and FARGATE_SPOT are built in, not stored.
    pub capacity_providers: Vec<CapacityProvider>,
}

impl Region {
    fn new(account: &str, name: &str) -> Region {
        Region {
            account: account.to_string(),
            name: name.to_string(),
            ..Region::default()
        }
    }

    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ecs:{}:{}:{resource}", self.name, self.account)
    }

    /// A cluster by name or ARN.
    pub fn cluster_name(reference: Option<&str>) -> &str {
        let reference = reference.unwrap_or("default");
        reference
            .rsplit_once(":cluster/")
            .map_or(reference, |(_, name)| name)
    }

    pub fn active_cluster(&self, reference: Option<&str>) -> Option<&Cluster> {
        self.clusters
            .get(Self::cluster_name(reference))
            .filter(|c| c.status == "ACTIVE")
    }

    /// Mutable access to a service, dropping its cached rendering.
    pub fn service_mut(&mut self, arn: &str) -> Option<&mut Service> {
        let service = self.services.get_mut(arn)?;
        service.rendered = None;
        Some(service)
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub arn: String,
    pub name: String,
    pub status: String,
    /// settings, configuration, capacityProviders, defaultCapacityProviderStrategy,
    /// serviceConnectDefaults, as given.
    pub config: Map<String, Json>,
    pub tags: Vec<Json>,
}

/// Seconds a deleted capacity provider stays DELETE_IN_PROGRESS before it is INACTIVE.
const CAPACITY_PROVIDER_DELETE_SECONDS: f64 = 15.0;
/// Seconds ECS goes on describing an INACTIVE capacity provider (it documents no period).
const CAPACITY_PROVIDER_KEPT_SECONDS: f64 = 3600.0;

/// What a capacity provider draws its capacity from.
#[derive(Debug, Clone)]
pub enum Capacity {
    /// `autoScalingGroupProvider`, with ECS's defaults filled in.
    AutoScalingGroup(Map<String, Json>),
    /// `managedInstancesProvider`, serving only the cluster it was created in.
    ManagedInstances {
        config: Map<String, Json>,
        cluster: String,
    },
}

/// Where a capacity provider is in its life; it follows from when it was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Active,
    /// DELETE_IN_PROGRESS.
    Deleting,
    /// INACTIVE and DELETE_COMPLETE, still described; its name may be taken again.
    Deleted,
    /// No longer described.
    Gone,
}

#[derive(Debug, Clone)]
pub struct CapacityProvider {
    pub arn: String,
    pub name: String,
    pub capacity: Capacity,
    /// UPDATE_COMPLETE or DELETE_FAILED, set by the last update or refused deletion.
    pub update_status: Option<&'static str>,
    pub update_status_reason: Option<String>,
    /// When DeleteCapacityProvider accepted it.
    pub deleted_at: Option<f64>,
    pub tags: Vec<Json>,
}

impl CapacityProvider {
    /// Derived from the time of deletion, so that no clock has to move it on.
    pub fn phase(&self, now: f64) -> Phase {
        match self.deleted_at {
            None => Phase::Active,
            Some(at) if now < at + CAPACITY_PROVIDER_DELETE_SECONDS => Phase::Deleting,
            Some(at) if now < at + CAPACITY_PROVIDER_KEPT_SECONDS => Phase::Deleted,
            Some(_) => Phase::Gone,
        }
    }

    /// The cluster a Managed Instances provider serves.
    pub fn scoped_cluster(&self) -> Option<&str> {
        match &self.capacity {
            Capacity::ManagedInstances { cluster, .. } => Some(cluster),
            Capacity::AutoScalingGroup(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    /// ACTIVE, INACTIVE or DELETE_IN_PROGRESS.
    pub status: String,
    /// The whole `TaskDefinition` output shape, with the defaults ECS adds.
    pub body: Map<String, Json>,
    pub tags: Vec<Json>,
    /// Deleted for good: no call finds it; kept so that its revision number is never reused.
    pub deleted: bool,
}

impl TaskDefinition {
    pub fn render(&self) -> Json {
        let mut body = self.body.clone();
        body.insert("status".into(), json!(self.status));
        Json::Object(body)
    }

    pub fn containers(&self) -> &[Json] {
        self.body
            .get("containerDefinitions")
            .and_then(Json::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// How a deployment replaces the old tasks: `deploymentConfiguration.strategy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    Rolling,
    /// BLUE_GREEN: production traffic moves to the new revision at once.
    BlueGreen,
    /// LINEAR: in steps of `step_percent`, `step_bake_seconds` apart.
    Linear {
        step_percent: f64,
        step_bake_seconds: f64,
    },
    /// CANARY: `percent` first, the rest `bake_seconds` later.
    Canary {
        percent: f64,
        bake_seconds: f64,
    },
}

impl Strategy {
    /// From a deployment configuration, with ECS's documented defaults (LINEAR 10 % every
    /// 6 minutes, CANARY 5 % for 10 minutes).
    pub fn of(config: &Json) -> Strategy {
        let number = |section: &str, key: &str, default: f64| {
            config[section][key].as_f64().unwrap_or(default)
        };
        match config["strategy"].as_str() {
            Some("BLUE_GREEN") => Strategy::BlueGreen,
            Some("LINEAR") => Strategy::Linear {
                step_percent: number("linearConfiguration", "stepPercent", 10.0),
                step_bake_seconds: number("linearConfiguration", "stepBakeTimeInMinutes", 6.0)
                    * 60.0,
            },
            Some("CANARY") => Strategy::Canary {
                percent: number("canaryConfiguration", "canaryPercent", 5.0),
                bake_seconds: number("canaryConfiguration", "canaryBakeTimeInMinutes", 10.0) * 60.0,
            },
            _ => Strategy::Rolling,
        }
    }
}

/// The lifecycle stages of a BLUE_GREEN, LINEAR or CANARY deployment, in ECS's order
/// (`ServiceDeploymentLifecycleStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    ReconcileService,
    PreScaleUp,
    ScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
    BakeTime,
    CleanUp,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::ReconcileService => "RECONCILE_SERVICE",
            Stage::PreScaleUp => "PRE_SCALE_UP",
            Stage::ScaleUp => "SCALE_UP",
            Stage::PostScaleUp => "POST_SCALE_UP",
            Stage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Stage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Stage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Stage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
            Stage::BakeTime => "BAKE_TIME",
            Stage::CleanUp => "CLEAN_UP",
        }
    }

    pub fn next(self) -> Stage {
        match self {
            Stage::ReconcileService => Stage::PreScaleUp,
            Stage::PreScaleUp => Stage::ScaleUp,
            Stage::ScaleUp => Stage::PostScaleUp,
            Stage::PostScaleUp => Stage::TestTrafficShift,
            Stage::TestTrafficShift => Stage::PostTestTrafficShift,
            Stage::PostTestTrafficShift => Stage::ProductionTrafficShift,
            Stage::ProductionTrafficShift => Stage::PostProductionTrafficShift,
            Stage::PostProductionTrafficShift => Stage::BakeTime,
            Stage::BakeTime | Stage::CleanUp => Stage::CleanUp,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: &'static str,
    pub task_definition: String,
    pub desired_count: i32,
    pub failed_tasks: i32,
    pub created_at: f64,
    pub updated_at: f64,
    pub rollout_state: &'static str,
    pub rollout_state_reason: String,
    /// launchType, capacityProviderStrategy, platformVersion, networkConfiguration, … as
    /// the service had them when the deployment started.
    pub config: Map<String, Json>,
    pub service_deployment: String,
    pub revision_arn: String,
    /// No new tasks: the circuit breaker tripped or the deployment was stopped.
    pub halted: bool,
    pub strategy: Strategy,
    pub bake_seconds: f64,
    /// BLUE_GREEN, LINEAR and CANARY: the lifecycle stage, and when its time is up.
    pub stage: Option<Stage>,
    pub stage_until: f64,
    /// The share of production and of test traffic this revision gets, in percent.
    pub production_weight: f64,
    pub test_weight: f64,
}

/// A `ServiceDeployment`: one per change of the service; a rollback belongs to the change
/// it undoes.
#[derive(Debug, Clone)]
pub struct ServiceDeploymentRecord {
    pub arn: String,
    pub created_at: f64,
    /// Set when it leaves PENDING.
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    /// Set when it was stopped: by a request, or by a failure without rollback.
    pub stopped_at: Option<f64>,
    pub updated_at: f64,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED,
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    pub status: &'static str,
    /// BLUE_GREEN, LINEAR and CANARY: the stage its target revision reached.
    pub lifecycle_stage: Option<Stage>,
    /// StopServiceDeployment's stopType, until the scheduler acts on it.
    pub stop_request: Option<&'static str>,
    pub status_reason: Option<String>,
    pub target_revision: String,
    pub source_revisions: Vec<String>,
    pub deployment_configuration: Json,
    pub rollback: Option<Json>,
    pub circuit_breaker_enabled: bool,
    pub failure_count: i32,
    pub threshold: i32,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: &'static str,
    pub desired_count: i32,
    pub task_definition: String,
    /// The service's settings in output shape: launchType, deploymentConfiguration, … .
    pub config: Map<String, Json>,
    pub deployments: Vec<Deployment>,
    pub service_deployments: Vec<ServiceDeploymentRecord>,
    pub events: VecDeque<Json>,
    pub created_at: f64,
    pub tags: Vec<Json>,
    /// Task ARNs of the service, newest last; stopped ones are trimmed.
    pub tasks: Vec<String>,
    /// The task definition and deployment of the last deployment that completed.
    pub last_completed: Option<(String, String)>,
    /// Whether the "steady state" event was written since the last change.
    pub steady: bool,
    /// The JSON of `DescribeServices` without tags, until the service changes.
    pub rendered: Option<String>,
}

/// Settings a service is created or updated with that ECS shows on its deployments only:
/// its `Service` shape has no such members.
const DEPLOYMENT_ONLY: &[&str] = &[
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
];

impl Service {
    pub fn event(&mut self, id: String, now: f64, message: String) {
        self.events
            .push_front(json!({"id": id, "createdAt": now, "message": message}));
        self.events.truncate(MAX_EVENTS);
    }

    pub fn render(&self, tasks: &HashMap<String, Task>, with_tags: bool) -> Json {
        let mut out = self.config.clone();
        // arn:aws:ecs:REGION:ACCOUNT:service/…
        let account = self.arn.split(':').nth(4).unwrap_or_default();
        for key in DEPLOYMENT_ONLY {
            out.remove(*key);
        }
        let (running, pending) = self.counts(tasks, None);
        let deployments: Vec<Json> = self
            .deployments
            .iter()
            .map(|d| {
                let (running, pending) = self.counts(tasks, Some(&d.id));
                let mut item = d.config.clone();
                item.extend([
                    ("id".into(), json!(d.id)),
                    ("status".into(), json!(d.status)),
                    ("taskDefinition".into(), json!(d.task_definition)),
                    ("desiredCount".into(), json!(d.desired_count)),
                    ("pendingCount".into(), json!(pending)),
                    ("runningCount".into(), json!(running)),
                    ("failedTasks".into(), json!(d.failed_tasks)),
                    ("createdAt".into(), json!(d.created_at)),
                    ("updatedAt".into(), json!(d.updated_at)),
                    ("rolloutState".into(), json!(d.rollout_state)),
                    ("rolloutStateReason".into(), json!(d.rollout_state_reason)),
                ]);
                Json::Object(item)
            })
            .collect();
        out.extend([
            ("serviceArn".into(), json!(self.arn)),
            ("serviceName".into(), json!(self.name)),
            ("clusterArn".into(), json!(self.cluster_arn)),
            ("status".into(), json!(self.status)),
            ("desiredCount".into(), json!(self.desired_count)),
            ("runningCount".into(), json!(running)),
            ("pendingCount".into(), json!(pending)),
            ("taskDefinition".into(), json!(self.task_definition)),
            ("deployments".into(), Json::Array(deployments)),
            ("events".into(), Json::Array(self.events.iter().cloned().collect())),
            ("createdAt".into(), json!(self.created_at)),
            ("createdBy".into(), json!(format!("arn:aws:iam::{account}:user/simulator"))),
            (
                "roleArn".into(),
                json!(format!(
                    "arn:aws:iam::{account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
                )),
            ),
        ]);
        if let Some(sd) = self.service_deployments.last() {
            out.insert("currentServiceDeployment".into(), json!(sd.arn));
        }
        if with_tags {
            out.insert("tags".into(), Json::Array(self.tags.clone()));
        }
        Json::Object(out)
    }

    /// (running, pending) tasks of the service, or of one deployment.
    pub fn counts(&self, tasks: &HashMap<String, Task>, deployment: Option<&str>) -> (i32, i32) {
        let mut running = 0;
        let mut pending = 0;
        for task in self.tasks.iter().filter_map(|arn| tasks.get(arn)) {
            if deployment.is_some_and(|d| task.started_by != d) || task.desired_status != "RUNNING"
            {
                continue;
            }
            match task.last_status {
                "RUNNING" => running += 1,
                "PROVISIONING" | "PENDING" => pending += 1,
                _ => {}
            }
        }
        (running, pending)
    }
}

/// How a task's image behaves, by the simulator's convention on image tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageBehaviour {
    Healthy,
    /// Tag `fail*`: starts, then fails its health check or exits 1.
    Fails,
    /// Tag `missing*`: the image cannot be pulled.
    Missing,
}

impl ImageBehaviour {
    pub fn of_image(image: &str) -> ImageBehaviour {
        let name = image.rsplit('/').next().unwrap_or(image);
        let tag = name.split_once(':').map_or("", |(_, tag)| tag);
        if tag.starts_with("fail") {
            ImageBehaviour::Fails
        } else if tag.starts_with("missing") {
            ImageBehaviour::Missing
        } else {
            ImageBehaviour::Healthy
        }
    }
}

/// Where a task runs: its launch type, and the capacity provider ECS chose from a strategy.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
}

impl Placement {
    /// From a launch type or a capacity provider strategy: the provider with a base, else the
    /// heaviest (the first of equals). Neither means EC2.
    pub fn of(
        launch_type: Option<&str>,
        strategy: Option<&Json>,
        platform_version: Option<&str>,
    ) -> Placement {
        let provider = strategy
            .and_then(Json::as_array)
            .and_then(|items| {
                items.iter().rev().max_by_key(|item| {
                    (
                        item["base"].as_i64().unwrap_or(0) > 0,
                        item["weight"].as_i64().unwrap_or(0),
                    )
                })
            })
            .and_then(|item| item["capacityProvider"].as_str())
            .map(str::to_string);
        let launch_type = match (launch_type, provider.as_deref()) {
            (Some(launch_type), _) => launch_type.to_string(),
            (None, Some("FARGATE" | "FARGATE_SPOT")) => "FARGATE".to_string(),
            (None, _) => "EC2".to_string(),
        };
        let platform_version = (launch_type == "FARGATE").then(|| {
            match platform_version {
                None | Some("LATEST") => "1.4.0",
                Some(version) => version,
            }
            .to_string()
        });
        Placement {
            launch_type: Some(launch_type),
            capacity_provider: provider,
            platform_version,
        }
    }
}

/// One container of a task.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub behaviour: ImageBehaviour,
    /// Set once the container exited.
    pub exit_code: Option<i32>,
    /// Why the container stopped, when ECS says (a pull error).
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub arn: String,
    pub id: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub family: String,
    /// `service:NAME` or `family:FAMILY`.
    pub group: String,
    /// The deployment id for service tasks; RunTask's `startedBy` for the others.
    pub started_by: String,
    /// The service ARN for service tasks; none for tasks started by RunTask.
    pub service: Option<String>,
    pub last_status: &'static str,
    pub desired_status: &'static str,
    pub health_status: &'static str,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub stopping_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub stopped_reason: Option<String>,
    pub stop_code: Option<&'static str>,
    /// When the current phase ends.
    pub next_at: f64,
    /// How the task as a whole behaves: its worst essential container.
    pub behaviour: ImageBehaviour,
    /// The failing container's image and whether it has a health check, for messages.
    pub failing_image: String,
    pub has_health_check: bool,
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub containers: Vec<Container>,
    /// The `TaskOverride` it was started with, one `containerOverrides` entry per container.
    pub overrides: Json,
    pub tags: Vec<Json>,
}

impl Task {
    pub fn is_live(&self) -> bool {
        self.desired_status == "RUNNING"
    }

    pub fn is_healthy(&self) -> bool {
        self.is_live()
            && self.last_status == "RUNNING"
            && self.health_status != "UNHEALTHY"
            && self.health_status != "UNKNOWN_STARTING"
    }

    /// The `Task` shape; tags only when asked for (`include: [TAGS]`).
    pub fn render(&self, with_tags: bool) -> Json {
        let containers: Vec<Json> = self
            .containers
            .iter()
            .map(|c| {
                let mut out = json!({
                    "containerArn": format!("{}/{}", self.arn.replace(":task/", ":container/"), c.name),
                    "taskArn": self.arn,
                    "name": c.name,
                    "image": c.image,
                    "lastStatus": self.last_status,
                    "healthStatus": self.public_health(),
                });
                if let Some(code) = c.exit_code {
                    out["exitCode"] = json!(code);
                }
                if let Some(reason) = &c.reason {
                    out["reason"] = json!(reason);
                }
                out
            })
            .collect();
        let mut out = json!({
            "taskArn": self.arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": self.task_definition_arn,
            "group": self.group,
            "lastStatus": self.last_status,
            "desiredStatus": self.desired_status,
            "healthStatus": self.public_health(),
            "createdAt": self.created_at,
            "containers": containers,
            "overrides": self.overrides,
            "version": 1,
        });
        let fields = out.as_object_mut().expect("an object");
        let optional = [
            (
                "startedBy",
                Some(self.started_by.clone())
                    .filter(|s| !s.is_empty())
                    .map(Json::from),
            ),
            ("startedAt", self.started_at.map(Json::from)),
            ("stoppingAt", self.stopping_at.map(Json::from)),
            ("stoppedAt", self.stopped_at.map(Json::from)),
            ("stoppedReason", self.stopped_reason.clone().map(Json::from)),
            ("stopCode", self.stop_code.map(Json::from)),
            ("launchType", self.launch_type.clone().map(Json::from)),
            (
                "capacityProviderName",
                self.capacity_provider.clone().map(Json::from),
            ),
            (
                "platformVersion",
                self.platform_version.clone().map(Json::from),
            ),
            ("cpu", self.cpu.clone().map(Json::from)),
            ("memory", self.memory.clone().map(Json::from)),
            ("tags", with_tags.then(|| Json::Array(self.tags.clone()))),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                fields.insert(key.into(), value);
            }
        }
        out
    }

    fn public_health(&self) -> &'static str {
        match self.health_status {
            "UNKNOWN_STARTING" => "UNKNOWN",
            other => other,
        }
    }
}
