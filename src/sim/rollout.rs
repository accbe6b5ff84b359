//! What moves with time: tasks going PROVISIONING → PENDING → RUNNING (healthy or not) →
//! STOPPED, and services' deployments replacing old tasks with new ones within
//! `minimumHealthyPercent`/`maximumPercent`, the circuit breaker, and its rollback.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use super::shift;
use super::state::{
    Container, Deployment, Ids, ImageBehaviour, Placement, Region, Service,
    ServiceDeploymentRecord, Stage, Strategy, Task,
};

/// Phase lengths, in simulated seconds.
const PROVISIONING_SECONDS: f64 = 3.0;
const PULL_SECONDS: f64 = 5.0;
const HEALTH_CHECK_SECONDS: f64 = 5.0;
const FAIL_AFTER_SECONDS: f64 = 10.0;
const STOP_SECONDS: f64 = 5.0;
/// How long a task started by RunTask runs before its containers exit.
const RUN_SECONDS: f64 = 10.0;
/// How long after a DeleteTaskDefinitions call ECS first checks whether the revision is unused.
const DELETE_CHECK_SECONDS: f64 = 30.0;
/// How often ECS checks the revisions in DELETE_IN_PROGRESS.
const DELETION_CHECK_INTERVAL: f64 = 5.0;
/// How long ECS still describes a stopped task started by RunTask.
const STOPPED_TASK_SECONDS: f64 = 3600.0;

/// ECS's circuit-breaker threshold: half the desired count, at least 3, at most 200.
pub fn failure_threshold(desired: i32) -> i32 {
    ((desired + 1) / 2).clamp(3, 200)
}

fn deployment_configuration(service: &Service) -> &Json {
    service
        .config
        .get("deploymentConfiguration")
        .unwrap_or(&Json::Null)
}

fn circuit_breaker(service: &Service) -> (bool, bool) {
    let breaker = &deployment_configuration(service)["deploymentCircuitBreaker"];
    (
        breaker["enable"] == json!(true),
        breaker["rollback"] == json!(true),
    )
}

/// Service deployment states that are not final.
const UNFINISHED: &[&str] = &[
    "PENDING",
    "IN_PROGRESS",
    "STOP_REQUESTED",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
];

/// A new PRIMARY deployment of `task_definition`; the previous ones become ACTIVE. A new
/// service deployment starts PENDING and stops any unfinished one; a rollback joins the
/// service deployment it undoes instead.
pub fn start_deployment(
    service: &mut Service,
    ids: &mut Ids,
    now: f64,
    task_definition: String,
    rollback_of: Option<String>,
) {
    let id = format!("ecs-svc/{}", ids.numeric());
    let revision_id = ids.numeric();
    let config = deployment_configuration(service).clone();
    let strategy = Strategy::of(&config);
    let bake_seconds = config["bakeTimeInMinutes"].as_f64().unwrap_or(0.0) * 60.0;
    let revision_arn = service.arn.replace(":service/", ":service-revision/") + "/" + &revision_id;
    // With more than one revision already ACTIVE, ECS reconciles them first.
    let first_stage = if rollback_of.is_some() {
        Stage::CleanUp
    } else if service.deployments.len() > 1 {
        Stage::ReconcileService
    } else {
        Stage::PreScaleUp
    };
    let stage = (strategy != Strategy::Rolling).then_some(first_stage);
    let service_deployment = match rollback_of {
        Some(arn) => arn,
        None => {
            for record in &mut service.service_deployments {
                if UNFINISHED.contains(&record.status) {
                    record.status = "STOPPED";
                    record.status_reason =
                        Some("Stopped because a new service deployment started.".to_string());
                    record.stopped_at = Some(now);
                    record.finished_at = Some(now);
                    record.updated_at = now;
                }
            }
            let arn = service.arn.replace(":service/", ":service-deployment/") + "/" + &ids.hex(20);
            let sources = service
                .deployments
                .iter()
                .map(|d| d.revision_arn.clone())
                .collect();
            let (enabled, _) = circuit_breaker(service);
            service.service_deployments.push(ServiceDeploymentRecord {
                arn: arn.clone(),
                created_at: now,
                started_at: None,
                finished_at: None,
                stopped_at: None,
                updated_at: now,
                status: "PENDING",
                lifecycle_stage: stage,
                stop_request: None,
                status_reason: None,
                target_revision: revision_arn.clone(),
                source_revisions: sources,
                deployment_configuration: config.clone(),
                rollback: None,
                circuit_breaker_enabled: enabled,
                failure_count: 0,
                threshold: failure_threshold(service.desired_count),
            });
            arn
        }
    };
    let mut deployment_config = serde_json::Map::new();
    for key in [
        "launchType",
        "capacityProviderStrategy",
        "platformVersion",
        "platformFamily",
        "networkConfiguration",
        "serviceConnectConfiguration",
        "volumeConfigurations",
        "vpcLatticeConfigurations",
    ] {
        if let Some(value) = service.config.get(key) {
            deployment_config.insert(key.into(), value.clone());
        }
    }
    for old in &mut service.deployments {
        old.status = "ACTIVE";
    }
    service.deployments.insert(
        0,
        Deployment {
            id: id.clone(),
            status: "PRIMARY",
            task_definition: task_definition.clone(),
            desired_count: service.desired_count,
            failed_tasks: 0,
            created_at: now,
            updated_at: now,
            rollout_state: "IN_PROGRESS",
            rollout_state_reason: format!("ECS deployment {id} in progress."),
            config: deployment_config,
            service_deployment,
            revision_arn,
            halted: false,
            strategy,
            bake_seconds,
            stage,
            stage_until: now + shift::STAGE_SECONDS,
            production_weight: 0.0,
            test_weight: 0.0,
        },
    );
    service.task_definition = task_definition;
    service.steady = false;
}

/// Asks a task to stop; it is STOPPED after the stop timeout.
pub fn stop_task(region: &mut Region, now: f64, arn: &str, reason: &str, code: &'static str) {
    let Some(task) = region.tasks.get_mut(arn) else {
        return;
    };
    if !task.is_live() {
        return;
    }
    task.desired_status = "STOPPED";
    task.last_status = "STOPPING";
    task.stopping_at = Some(now);
    task.stopped_reason = Some(reason.to_string());
    task.stop_code = Some(code);
    task.next_at = now + STOP_SECONDS;
    region.moving_tasks.insert(arn.to_string());
    if let Some(service) = task.service.clone() {
        region.moving_services.insert(service);
    }
}

/// What a task is started with: who starts it (a service's deployment or RunTask), where it
/// runs, and RunTask's overrides.
pub struct Launch {
    /// `service:NAME` or `family:FAMILY`.
    pub group: String,
    /// The deployment id for service tasks.
    pub started_by: String,
    /// The service ARN for service tasks.
    pub service: Option<String>,
    pub placement: Placement,
    /// RunTask's `overrides` (a `TaskOverride`).
    pub overrides: Option<Json>,
}

/// The `TaskOverride` a task shows: the given one, with an entry for every container.
fn task_overrides(given: Option<&Json>, containers: &[Container]) -> Json {
    let mut out = given.and_then(Json::as_object).cloned().unwrap_or_default();
    let given_containers: Vec<Json> = out
        .get("containerOverrides")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let per_container: Vec<Json> = containers
        .iter()
        .map(|c| {
            given_containers
                .iter()
                .find(|o| o["name"] == json!(c.name))
                .cloned()
                .unwrap_or_else(|| json!({"name": c.name}))
        })
        .collect();
    out.insert("containerOverrides".into(), Json::Array(per_container));
    out.entry("inferenceAcceleratorOverrides")
        .or_insert_with(|| json!([]));
    Json::Object(out)
}

/// Starts a task of `task_definition` (an ARN the region holds).
pub fn launch_task(
    region: &mut Region,
    ids: &mut Ids,
    now: f64,
    cluster_arn: &str,
    task_definition: &str,
    launch: Launch,
) -> Option<String> {
    let td = super::ops::find_task_definition(region, task_definition)?;
    let mut behaviour = ImageBehaviour::Healthy;
    let mut failing_image = String::new();
    let mut has_health_check = false;
    let mut containers = Vec::new();
    for container in td.containers() {
        let name = container["name"].as_str().unwrap_or_default().to_string();
        let image = container["image"].as_str().unwrap_or_default().to_string();
        let essential = container["essential"] != json!(false);
        let this = ImageBehaviour::of_image(&image);
        // A missing image stops the task before any health check can fail.
        if essential && this != ImageBehaviour::Healthy && behaviour != ImageBehaviour::Missing {
            behaviour = this;
            failing_image = image.clone();
        }
        has_health_check |= essential && container.get("healthCheck").is_some();
        containers.push(Container {
            name,
            image,
            behaviour: this,
            exit_code: None,
            reason: None,
        });
    }
    let id = ids.hex(32);
    let cluster_name = cluster_arn.rsplit('/').next().unwrap_or_default();
    let arn = region.arn(&format!("task/{cluster_name}/{id}"));
    let overrides = task_overrides(launch.overrides.as_ref(), &containers);
    let size = |key: &str| {
        overrides
            .get(key)
            .or_else(|| td.body.get(key))
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    let task = Task {
        arn: arn.clone(),
        id,
        cluster_arn: cluster_arn.to_string(),
        task_definition_arn: td.arn.clone(),
        family: td.family.clone(),
        group: launch.group,
        started_by: launch.started_by,
        service: launch.service,
        last_status: "PROVISIONING",
        desired_status: "RUNNING",
        health_status: "UNKNOWN_STARTING",
        created_at: now,
        started_at: None,
        stopping_at: None,
        stopped_at: None,
        stopped_reason: None,
        stop_code: None,
        next_at: now + PROVISIONING_SECONDS,
        behaviour,
        failing_image,
        has_health_check,
        launch_type: launch.placement.launch_type,
        capacity_provider: launch.placement.capacity_provider,
        platform_version: launch.placement.platform_version,
        cpu: size("cpu"),
        memory: size("memory"),
        containers,
        overrides,
        tags: Vec::new(),
    };
    region.tasks.insert(arn.clone(), task);
    region.moving_tasks.insert(arn.clone());
    Some(arn)
}

/// Moves every task and service whose state depends on time up to `now`.
pub fn tick(region: &mut Region, ids: &mut Ids, now: f64) {
    let due: Vec<String> = region
        .moving_tasks
        .iter()
        .filter(|arn| region.tasks.get(*arn).is_none_or(|t| t.next_at <= now))
        .cloned()
        .collect();
    for arn in due {
        advance_task(region, ids, now, &arn);
    }
    let services: Vec<String> = region.moving_services.iter().cloned().collect();
    for arn in services {
        if let Some(service) = region.services.get_mut(&arn) {
            service.rendered = None;
        }
        schedule(region, ids, now, &arn);
    }
    forget_stopped_tasks(region, now);
    reap_task_definitions(region, now);
}

/// ECS checks now and then that nothing uses a revision in DELETE_IN_PROGRESS (no deployment
/// of a service, no task that is not STOPPED), then deletes it for good.
fn reap_task_definitions(region: &mut Region, now: f64) {
    if region.deleting.is_empty() || now < region.next_deletion_check {
        return;
    }
    region.next_deletion_check = now + DELETION_CHECK_INTERVAL;
    let requested_at = |region: &Region, arn: &str| {
        super::ops::find_task_definition(region, arn)
            .and_then(|td| td.body.get("deleteRequestedAt"))
            .and_then(Json::as_f64)
            .unwrap_or(now)
    };
    let due: Vec<String> = region
        .deleting
        .iter()
        .filter(|arn| requested_at(region, arn) + DELETE_CHECK_SECONDS <= now)
        .cloned()
        .collect();
    if due.is_empty() {
        return;
    }
    let in_use: BTreeSet<&str> = region
        .services
        .values()
        .flat_map(|s| s.deployments.iter().map(|d| d.task_definition.as_str()))
        .chain(
            region
                .tasks
                .values()
                .filter(|t| t.last_status != "STOPPED")
                .map(|t| t.task_definition_arn.as_str()),
        )
        .collect();
    let unused: Vec<String> = due
        .into_iter()
        .filter(|arn| !in_use.contains(arn.as_str()))
        .collect();
    for arn in unused {
        region.deleting.remove(&arn);
        if let Some(td) = region
            .families
            .values_mut()
            .flatten()
            .find(|td| td.arn == arn)
        {
            td.deleted = true;
        }
    }
}

/// Tasks started by RunTask are described for an hour after they stopped.
fn forget_stopped_tasks(region: &mut Region, now: f64) {
    while let Some((stopped_at, _)) = region.stopped_one_off.front() {
        if stopped_at + STOPPED_TASK_SECONDS > now {
            break;
        }
        let (_, arn) = region.stopped_one_off.pop_front().expect("present");
        region.tasks.remove(&arn);
    }
}

/// The containers exit, each with the code its image gives: `fail*` 1, others 0; an image
/// that could not be pulled never ran and has no exit code.
fn exit_containers(task: &mut Task) {
    for container in &mut task.containers {
        container.exit_code = match container.behaviour {
            ImageBehaviour::Healthy => Some(0),
            ImageBehaviour::Fails => Some(1),
            ImageBehaviour::Missing => None,
        };
    }
}

/// An essential container exited: the task stops.
fn essential_container_exited(task: &mut Task, at: f64) {
    exit_containers(task);
    task.desired_status = "STOPPED";
    task.last_status = "STOPPING";
    task.stopping_at = Some(at);
    task.stop_code = Some("EssentialContainerExited");
    task.stopped_reason = Some("Essential container in task exited".to_string());
    task.next_at = at + STOP_SECONDS;
}

/// One step of a task's life, when its current phase is over. Service tasks run until they
/// are stopped; tasks started by RunTask do their work and exit.
fn advance_task(region: &mut Region, ids: &mut Ids, now: f64, arn: &str) {
    let Some(task) = region.tasks.get_mut(arn) else {
        region.moving_tasks.remove(arn);
        return;
    };
    let at = task.next_at;
    let one_off = task.service.is_none();
    let was_stopped = task.last_status == "STOPPED";
    let mut failed = None;
    match (task.last_status, task.behaviour) {
        ("PROVISIONING", _) => {
            task.last_status = "PENDING";
            task.next_at = at + PULL_SECONDS;
        }
        ("PENDING", ImageBehaviour::Missing) => {
            let reason = format!(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {}: not found",
                task.failing_image
            );
            for container in &mut task.containers {
                if container.behaviour == ImageBehaviour::Missing {
                    container.reason = Some(reason.clone());
                }
            }
            task.desired_status = "STOPPED";
            task.last_status = "STOPPED";
            task.stopped_at = Some(at);
            task.stopping_at = Some(at);
            task.stop_code = Some("TaskFailedToStart");
            task.stopped_reason = Some(reason);
            failed = Some(false);
        }
        ("PENDING", behaviour) => {
            task.last_status = "RUNNING";
            task.started_at = Some(at);
            // A failing image never counts as healthy: it fails once its checks run out.
            let fails = behaviour == ImageBehaviour::Fails;
            task.next_at = at
                + if fails {
                    FAIL_AFTER_SECONDS
                } else {
                    HEALTH_CHECK_SECONDS
                };
        }
        ("RUNNING", ImageBehaviour::Fails) if task.has_health_check && !one_off => {
            task.health_status = "UNHEALTHY";
            task.desired_status = "STOPPED";
            task.last_status = "STOPPING";
            task.stopping_at = Some(at);
            task.stop_code = Some("ServiceSchedulerInitiated");
            task.stopped_reason = Some("Task failed container health checks".to_string());
            task.next_at = at + STOP_SECONDS;
            failed = Some(true);
        }
        ("RUNNING", ImageBehaviour::Fails) => {
            essential_container_exited(task, at);
            failed = Some(false);
        }
        ("RUNNING", _) if task.health_status == "UNKNOWN_STARTING" => {
            task.health_status = if task.has_health_check {
                "HEALTHY"
            } else {
                "UNKNOWN"
            };
            if one_off {
                task.next_at = at + RUN_SECONDS - HEALTH_CHECK_SECONDS;
            } else {
                region.moving_tasks.remove(arn);
            }
        }
        ("RUNNING", _) if one_off => essential_container_exited(task, at),
        ("STOPPING", _) => {
            task.last_status = "STOPPED";
            task.stopped_at = Some(at);
        }
        _ => {
            region.moving_tasks.remove(arn);
        }
    }
    let task = &region.tasks[arn];
    if task.last_status == "STOPPED" {
        region.moving_tasks.remove(arn);
        if one_off && !was_stopped {
            region.stopped_one_off.push_back((at, arn.to_string()));
        }
    }
    let Some(health_check) = failed else { return };
    record_failure(region, ids, now, arn, health_check);
}

/// A service task failed: count it against its deployment and say so in the events.
fn record_failure(region: &mut Region, ids: &mut Ids, now: f64, arn: &str, health_check: bool) {
    let task = &region.tasks[arn];
    let reason = task.stopped_reason.clone().unwrap_or_default();
    let (Some(service_arn), deployment, task_id) = (
        task.service.clone(),
        task.started_by.clone(),
        task.id.clone(),
    ) else {
        return;
    };
    let Some(service) = region.service_mut(&service_arn) else {
        return;
    };
    let name = service.name.clone();
    if let Some(d) = service.deployments.iter_mut().find(|d| d.id == deployment) {
        d.failed_tasks += 1;
        d.updated_at = now;
    }
    let sd = service
        .deployments
        .iter()
        .find(|d| d.id == deployment)
        .map(|d| d.service_deployment.clone());
    if let Some(record) = service
        .service_deployments
        .iter_mut()
        .find(|r| Some(&r.arn) == sd.as_ref())
    {
        record.failure_count += 1;
    }
    let what = if health_check {
        "failed container health checks".to_string()
    } else {
        format!("failed: {}", reason.trim_end_matches('.'))
    };
    service.event(
        ids.uuid(),
        now,
        format!("(service {name}) (task {task_id}) {what}."),
    );
    region.moving_services.insert(service_arn);
}

/// One scheduling pass over a service: replace, scale, judge the rollout.
fn schedule(region: &mut Region, ids: &mut Ids, now: f64, arn: &str) {
    if !region.services.contains_key(arn) {
        region.moving_services.remove(arn);
        return;
    }
    // Stopped tasks beyond what ECS still describes are forgotten.
    trim_stopped(region, arn);
    let service = &region.services[arn];
    if service.status == "DRAINING" {
        let live = service.tasks.iter().any(|t| {
            region
                .tasks
                .get(t)
                .is_some_and(|t| t.last_status != "STOPPED")
        });
        if !live {
            let service = region.service_mut(arn).expect("present");
            service.status = "INACTIVE";
            service.deployments.clear();
            region.moving_services.remove(arn);
        }
        return;
    }
    if service.status != "ACTIVE" || service.deployments.is_empty() {
        region.moving_services.remove(arn);
        return;
    }
    begin_service_deployment(region, now, arn);
    act_on_stop_request(region, ids, now, arn);
    check_circuit_breaker(region, ids, now, arn);
    shift::advance(region, now, arn);
    let plan = plan(region, arn);
    apply(region, ids, now, arn, plan);
    finish_if_done(region, ids, now, arn);
}

/// The service deployment of the primary deployment, if it is one of `statuses`.
fn primary_record<'a>(
    service: &'a Service,
    statuses: &[&str],
) -> Option<&'a ServiceDeploymentRecord> {
    let sd = &service.deployments.first()?.service_deployment;
    service
        .service_deployments
        .iter()
        .find(|r| r.arn == *sd && statuses.contains(&r.status))
}

/// A PENDING service deployment starts at the scheduler's next pass.
fn begin_service_deployment(region: &mut Region, now: f64, arn: &str) {
    let Some(sd) = primary_record(&region.services[arn], &["PENDING"]).map(|r| r.arn.clone())
    else {
        return;
    };
    let service = region.service_mut(arn).expect("present");
    if let Some(record) = service.service_deployments.iter_mut().find(|r| r.arn == sd) {
        record.status = "IN_PROGRESS";
        record.started_at = Some(now);
        record.updated_at = now;
    }
}

/// StopServiceDeployment's request, carried out at the scheduler's next pass.
fn act_on_stop_request(region: &mut Region, ids: &mut Ids, now: f64, arn: &str) {
    let Some((sd, stop_type)) = primary_record(
        &region.services[arn],
        &["ROLLBACK_REQUESTED", "STOP_REQUESTED"],
    )
    .and_then(|r| Some((r.arn.clone(), r.stop_request?))) else {
        return;
    };
    let service = region.service_mut(arn).expect("present");
    if let Some(record) = service.service_deployments.iter_mut().find(|r| r.arn == sd) {
        record.stop_request = None;
    }
    fail_deployment(
        region,
        ids,
        now,
        arn,
        Cause::StopRequest,
        stop_type == "ROLLBACK",
    );
}

fn trim_stopped(region: &mut Region, arn: &str) {
    let service = &region.services[arn];
    let stopped: Vec<String> = service
        .tasks
        .iter()
        .filter(|t| {
            region
                .tasks
                .get(*t)
                .is_none_or(|t| t.last_status == "STOPPED")
        })
        .cloned()
        .collect();
    if stopped.len() <= super::state::STOPPED_TASKS_KEPT {
        return;
    }
    let drop: Vec<String> = stopped[..stopped.len() - super::state::STOPPED_TASKS_KEPT].to_vec();
    for task in &drop {
        region.tasks.remove(task);
    }
    let service = region.service_mut(arn).expect("present");
    service.tasks.retain(|t| !drop.contains(t));
}

/// What a scheduling pass does.
struct Plan {
    launch: i32,
    stop: Vec<String>,
}

fn plan(region: &Region, arn: &str) -> Plan {
    let service = &region.services[arn];
    let config = deployment_configuration(service);
    let desired = service.desired_count;
    let primary = &service.deployments[0];
    let max_percent = config["maximumPercent"].as_i64().unwrap_or(200) as i32;
    let min_percent = config["minimumHealthyPercent"].as_i64().unwrap_or(100) as i32;
    let (max_total, min_healthy) = match primary.stage {
        // Blue/green, linear, canary: the whole new revision starts beside the old one.
        Some(_) => (desired * 2, desired),
        None => (
            (desired * max_percent / 100).max(if min_percent < 100 { 0 } else { desired }),
            (desired * min_percent + 99) / 100,
        ),
    };
    let tasks: Vec<&Task> = service
        .tasks
        .iter()
        .filter_map(|t| region.tasks.get(t))
        .filter(|t| t.is_live())
        .collect();
    let primary_tasks: Vec<&&Task> = tasks
        .iter()
        .filter(|t| t.started_by == primary.id)
        .collect();
    let old_tasks: Vec<&&Task> = tasks
        .iter()
        .filter(|t| t.started_by != primary.id)
        .collect();
    let healthy_total = tasks.iter().filter(|t| t.is_healthy()).count() as i32;
    let mut stop = Vec::new();
    // Scale in: the primary's least advanced tasks go first.
    let surplus = primary_tasks.len() as i32 - desired;
    if surplus > 0 {
        let mut ordered: Vec<&&&Task> = primary_tasks.iter().collect();
        ordered.sort_by_key(|t| t.is_healthy());
        stop.extend(ordered.iter().take(surplus as usize).map(|t| t.arn.clone()));
    }
    // Reconciling: revisions that neither serve production nor are the new one go.
    if primary.stage == Some(Stage::ReconcileService) {
        let production = service.last_completed.as_ref().map(|(_, id)| id);
        for task in &old_tasks {
            if production != Some(&task.started_by) {
                stop.push(task.arn.clone());
            }
        }
    }
    // A rolling update replaces old tasks as it goes; the others only at CLEAN_UP.
    if primary.stage.is_none_or(|s| s == Stage::CleanUp) {
        // Old tasks that are not healthy can go at once; healthy ones while enough stay.
        let mut budget = healthy_total - min_healthy;
        for task in old_tasks.iter().filter(|t| !t.is_healthy()) {
            stop.push(task.arn.clone());
        }
        for task in old_tasks.iter().filter(|t| t.is_healthy()) {
            if budget <= 0 {
                break;
            }
            stop.push(task.arn.clone());
            budget -= 1;
        }
    }
    let live_after = tasks.len() as i32 - stop.len() as i32;
    let need = desired - primary_tasks.len() as i32;
    let scaling_up = primary.stage.is_none_or(|s| s >= Stage::ScaleUp);
    let launch = if primary.halted || !scaling_up || need <= 0 {
        0
    } else {
        need.min(max_total - live_after).max(0)
    };
    Plan { launch, stop }
}

fn apply(region: &mut Region, ids: &mut Ids, now: f64, arn: &str, plan: Plan) {
    let service = &region.services[arn];
    let (name, cluster_arn) = (service.name.clone(), service.cluster_arn.clone());
    let primary = service.deployments[0].clone();
    let mut started = Vec::new();
    for _ in 0..plan.launch {
        let config = &primary.config;
        let launch = Launch {
            group: format!("service:{name}"),
            started_by: primary.id.clone(),
            service: Some(arn.to_string()),
            placement: Placement::of(
                config.get("launchType").and_then(Json::as_str),
                config.get("capacityProviderStrategy"),
                config.get("platformVersion").and_then(Json::as_str),
            ),
            overrides: None,
        };
        if let Some(task) = launch_task(
            region,
            ids,
            now,
            &cluster_arn,
            &primary.task_definition,
            launch,
        ) {
            started.push(task);
        }
    }
    let mut stopped = Vec::new();
    for task in &plan.stop {
        let was_running = region
            .tasks
            .get(task)
            .is_some_and(|t| t.last_status == "RUNNING");
        stop_task(
            region,
            now,
            task,
            "Scaling activity initiated by (deployment)",
            "ServiceSchedulerInitiated",
        );
        if was_running {
            stopped.push(task.clone());
        }
    }
    if started.is_empty() && plan.stop.is_empty() {
        return;
    }
    let ids_of = |arns: &[String]| {
        arns.iter()
            .map(|a| format!("(task {})", a.rsplit('/').next().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let started_message = (!started.is_empty()).then(|| {
        format!(
            "(service {name}) has started {} tasks: {}.",
            started.len(),
            ids_of(&started)
        )
    });
    let stopped_message = (!stopped.is_empty()).then(|| {
        format!(
            "(service {name}) has stopped {} running tasks: {}.",
            stopped.len(),
            ids_of(&stopped)
        )
    });
    let service = region.service_mut(arn).expect("present");
    service.tasks.extend(started);
    service.steady = false;
    for message in [stopped_message, started_message].into_iter().flatten() {
        service.event(ids.uuid(), now, message);
    }
}

/// When the primary runs its desired count healthy and the old tasks are gone, the rollout is
/// COMPLETED and the service steady.
fn finish_if_done(region: &mut Region, ids: &mut Ids, now: f64, arn: &str) {
    let service = &region.services[arn];
    let primary = &service.deployments[0];
    let live: Vec<&Task> = service
        .tasks
        .iter()
        .filter_map(|t| region.tasks.get(t))
        .filter(|t| t.is_live())
        .collect();
    let primary_healthy = live
        .iter()
        .filter(|t| t.started_by == primary.id && t.is_healthy())
        .count() as i32;
    let primary_live = live.iter().filter(|t| t.started_by == primary.id).count() as i32;
    // BLUE_GREEN, LINEAR and CANARY clean up until the old tasks are STOPPED, not only asked to.
    let old_live = if primary.stage.is_some() {
        service
            .tasks
            .iter()
            .filter_map(|t| region.tasks.get(t))
            .filter(|t| t.started_by != primary.id && t.last_status != "STOPPED")
            .count()
    } else {
        live.iter().filter(|t| t.started_by != primary.id).count()
    };
    let in_motion = service
        .tasks
        .iter()
        .any(|t| region.moving_tasks.contains(t));
    let ready = primary_healthy == service.desired_count && primary_live == service.desired_count;
    let cleaned_up = primary.stage.is_none_or(|s| s == Stage::CleanUp);
    if !ready || old_live > 0 || !cleaned_up {
        return;
    }
    let service = region.service_mut(arn).expect("present");
    let name = service.name.clone();
    if service.deployments[0].rollout_state == "IN_PROGRESS" {
        let primary = &mut service.deployments[0];
        primary.rollout_state = "COMPLETED";
        primary.rollout_state_reason = format!("ECS deployment {} completed.", primary.id);
        primary.updated_at = now;
        let (id, td, sd) = (
            primary.id.clone(),
            primary.task_definition.clone(),
            primary.service_deployment.clone(),
        );
        primary.production_weight = 100.0;
        primary.test_weight = 100.0;
        let shifted = primary.stage.is_some();
        service.last_completed = Some((td, id.clone()));
        let mut swap = false;
        if let Some(record) = service.service_deployments.iter_mut().find(|r| r.arn == sd) {
            record.status = if record.status == "ROLLBACK_IN_PROGRESS" {
                "ROLLBACK_SUCCESSFUL"
            } else {
                "SUCCESSFUL"
            };
            record.finished_at = Some(now);
            record.updated_at = now;
            swap = shifted && record.status == "SUCCESSFUL" && !record.source_revisions.is_empty();
        }
        if swap {
            shift::swap_target_groups(&mut service.config);
        }
        service.event(
            ids.uuid(),
            now,
            format!("(service {name}) (deployment {id}) deployment completed."),
        );
    }
    if service.deployments.len() > 1 {
        service.deployments.truncate(1);
    }
    if !service.steady {
        service.steady = true;
        service.event(
            ids.uuid(),
            now,
            format!("(service {name}) has reached a steady state."),
        );
    }
    if !in_motion {
        region.moving_services.remove(arn);
    }
}

/// Why a deployment stops before it completes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    CircuitBreaker,
    /// StopServiceDeployment.
    StopRequest,
}

impl Cause {
    fn reason(self, rollback: bool) -> &'static str {
        match (self, rollback) {
            (Cause::CircuitBreaker, _) => "ECS deployment circuit breaker: tasks failed to start.",
            (Cause::StopRequest, true) => {
                "Service deployment rolled back because of a stop request."
            }
            (Cause::StopRequest, false) => "Service deployment stopped because of a stop request.",
        }
    }

    fn rolling_back(self, deployment: &str) -> String {
        match self {
            Cause::CircuitBreaker => format!(
                "ECS deployment circuit breaker: rolling back to deploymentId {deployment}."
            ),
            Cause::StopRequest => {
                format!(
                    "Service deployment stop request: rolling back to deploymentId {deployment}."
                )
            }
        }
    }
}

/// With the circuit breaker on, a deployment whose failed tasks reach the threshold is
/// FAILED; with rollback, ECS deploys the last COMPLETED revision again.
fn check_circuit_breaker(region: &mut Region, ids: &mut Ids, now: f64, arn: &str) {
    let service = &region.services[arn];
    let (enabled, rollback) = circuit_breaker(service);
    let primary = &service.deployments[0];
    let threshold = failure_threshold(service.desired_count);
    if !enabled || primary.rollout_state != "IN_PROGRESS" || primary.failed_tasks < threshold {
        return;
    }
    fail_deployment(region, ids, now, arn, Cause::CircuitBreaker, rollback);
}

/// Marks the primary FAILED and, when asked and possible, rolls back to the last COMPLETED
/// deployment: BLUE_GREEN, LINEAR and CANARY hand the traffic back to it; a rolling update
/// deploys its task definition again.
pub fn fail_deployment(
    region: &mut Region,
    ids: &mut Ids,
    now: f64,
    arn: &str,
    cause: Cause,
    rollback: bool,
) {
    let reason = cause.reason(rollback);
    let service = region.service_mut(arn).expect("present");
    let name = service.name.clone();
    let primary = &mut service.deployments[0];
    primary.rollout_state = "FAILED";
    primary.rollout_state_reason = reason.to_string();
    primary.halted = true;
    primary.updated_at = now;
    primary.production_weight = 0.0;
    primary.test_weight = 0.0;
    let (failed_id, sd, shifting) = (
        primary.id.clone(),
        primary.service_deployment.clone(),
        primary.stage.is_some(),
    );
    let what = match cause {
        Cause::CircuitBreaker => "deployment failed: tasks failed to start.",
        Cause::StopRequest => "deployment stopped.",
    };
    service.event(
        ids.uuid(),
        now,
        format!("(service {name}) (deployment {failed_id}) {what}"),
    );
    let completed = service.last_completed.clone().filter(|_| rollback);
    let source_revision = completed.as_ref().and_then(|(_, id)| {
        service
            .deployments
            .iter()
            .find(|d| d.id == *id)
            .map(|d| d.revision_arn.clone())
    });
    let rolled_back = match &completed {
        Some((_, id)) if shifting => {
            shift::hand_back(service, id, &sd, now, cause.rolling_back(id))
        }
        Some((td, id)) if *td != service.deployments[0].task_definition => {
            start_deployment(service, ids, now, td.clone(), Some(sd.clone()));
            service.deployments[0].rollout_state_reason = cause.rolling_back(id);
            true
        }
        _ => false,
    };
    if rolled_back && let Some((_, id)) = &completed {
        service.event(
            ids.uuid(),
            now,
            format!("(service {name}) rolling back to deployment {id}."),
        );
    }
    let Some(record) = service.service_deployments.iter_mut().find(|r| r.arn == sd) else {
        return;
    };
    record.status_reason = Some(reason.to_string());
    record.updated_at = now;
    if cause == Cause::StopRequest || !rollback {
        record.stopped_at = Some(now);
    }
    if rolled_back {
        record.status = "ROLLBACK_IN_PROGRESS";
        record.rollback = Some(json!({
            "reason": reason,
            "startedAt": now,
            "serviceRevisionArn": source_revision,
        }));
    } else {
        record.status = if rollback {
            "ROLLBACK_FAILED"
        } else {
            "STOPPED"
        };
        record.finished_at = Some(now);
    }
}
