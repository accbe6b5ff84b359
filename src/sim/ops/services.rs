//! CreateService, UpdateService, DescribeServices, ListServices, DeleteService.

use serde_json::{Map, Value as Json, json};

use super::capacity_providers::{associated, check_strategy};
use super::task_definitions::find as find_task_definition;
use super::{Ctx, failure, int, page, request_hash, required, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::rollout::{start_deployment, stop_task};
use crate::sim::state::{Placement, Region, Service};

/// Settings copied from the request into the service as given.
const SETTINGS: &[&str] = &[
    "loadBalancers",
    "serviceRegistries",
    "platformVersion",
    "placementConstraints",
    "placementStrategy",
    "networkConfiguration",
    "healthCheckGracePeriodSeconds",
    "schedulingStrategy",
    "deploymentController",
    "enableECSManagedTags",
    "propagateTags",
    "enableExecuteCommand",
    "availabilityZoneRebalancing",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
];

/// Settings whose change starts a new deployment (UpdateService).
const REDEPLOY: &[&str] = &[
    "networkConfiguration",
    "platformVersion",
    "loadBalancers",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
    "enableExecuteCommand",
];

/// ECS's answer to a change of capacity provider strategy without `forceNewDeployment`, as its
/// users quote it (ecs_deploy, ecspresso and PipeCD issues).
const STRATEGY_NEEDS_NEW_DEPLOYMENT: &str = "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.";

/// What an UpdateService's `capacityProviderStrategy` does to the service: nothing, or a new
/// strategy (an empty list: back to the launch type its providers stand for).
fn strategy_change(service: &Service, request: &Json) -> Option<Json> {
    let given = request
        .get("capacityProviderStrategy")
        .filter(|v| v.is_array())?;
    let empty = given.as_array().is_some_and(Vec::is_empty);
    match service.config.get("capacityProviderStrategy") {
        Some(current) if current == given => None,
        None if empty => None,
        _ => Some(given.clone()),
    }
}

/// Moves the service to `strategy`, or from its strategy back to a launch type.
fn set_strategy(config: &mut Map<String, Json>, strategy: Json) {
    if strategy.as_array().is_some_and(Vec::is_empty) {
        let previous = config.remove("capacityProviderStrategy");
        let placement = Placement::of(None, previous.as_ref(), None);
        config.insert("launchType".into(), json!(placement.launch_type));
    } else {
        config.remove("launchType");
        config.insert("capacityProviderStrategy".into(), strategy);
    }
    let fargate = Placement::of(
        config.get("launchType").and_then(Json::as_str),
        config.get("capacityProviderStrategy"),
        None,
    )
    .launch_type
        == Some("FARGATE".to_string());
    if fargate {
        config.entry("platformVersion").or_insert(json!("LATEST"));
        config.insert("platformFamily".into(), json!("Linux"));
    } else {
        config.remove("platformVersion");
        config.remove("platformFamily");
    }
}

fn deployment_configuration(given: Option<&Json>, current: Option<&Json>) -> Json {
    let mut out = current.cloned().unwrap_or_else(|| {
        json!({
            "deploymentCircuitBreaker": {"enable": false, "rollback": false},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "alarms": {"alarmNames": [], "rollback": false, "enable": false},
            "strategy": "ROLLING",
        })
    });
    if let (Some(Json::Object(given)), Some(out)) = (given, out.as_object_mut()) {
        for (key, value) in given {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// What ECS answers for a revision that is INACTIVE or DELETE_IN_PROGRESS.
fn inactive() -> ApiError {
    ApiError::client_exception("TaskDefinition is inactive")
}

fn not_idempotent() -> ApiError {
    ApiError::invalid_parameter("Creation of service was not idempotent.")
}

pub fn create(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let name = required(request, "serviceName")?.to_string();
    if name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::invalid_parameter(
            "Invalid service name: up to 255 letters, numbers, hyphens and underscores.",
        ));
    }
    let cluster = ctx
        .region
        .active_cluster(string(request, "cluster"))
        .ok_or_else(ApiError::cluster_not_found)?
        .clone();
    let arn = ctx.region.arn(&format!("service/{}/{name}", cluster.name));
    let token = string(request, "clientToken");
    if let Some(token) = token {
        if token.len() > 36 {
            return Err(ApiError::invalid_parameter(
                "clientToken can be at most 36 characters.",
            ));
        }
        if let Some((hash, existing)) = ctx.region.client_tokens.get(token) {
            if *hash != request_hash(request) {
                return Err(not_idempotent());
            }
            let service = ctx
                .region
                .services
                .get(existing)
                .ok_or_else(not_idempotent)?;
            return Ok(json!({"service": service.render(&ctx.region.tasks, false)}));
        }
    }
    if ctx
        .region
        .services
        .get(&arn)
        .is_some_and(|s| s.status != "INACTIVE")
    {
        return Err(not_idempotent());
    }
    let task_definition = string(request, "taskDefinition")
        .ok_or_else(|| ApiError::invalid_parameter("TaskDefinition must be specified."))?;
    let td = find_task_definition(ctx.region, task_definition)
        .ok_or_else(|| ApiError::client_exception("TaskDefinition not found."))?;
    if td.status != "ACTIVE" {
        return Err(inactive());
    }
    let (td_arn, awsvpc) = (
        td.arn.clone(),
        td.body.get("networkMode") == Some(&json!("awsvpc")),
    );
    if awsvpc && request.get("networkConfiguration").is_none() {
        return Err(ApiError::invalid_parameter(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    let strategy = request
        .get("capacityProviderStrategy")
        .and_then(Json::as_array)
        .filter(|s| !s.is_empty());
    if string(request, "launchType").is_some() && strategy.is_some() {
        return Err(ApiError::invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported.",
        ));
    }
    check_strategy(
        &associated(ctx.region, &cluster, ctx.now),
        request.get("capacityProviderStrategy"),
    )?;
    let desired = int(request, "desiredCount").unwrap_or(0);
    if desired < 0 {
        return Err(ApiError::invalid_parameter(
            "desiredCount must be at least 0.",
        ));
    }
    let mut config = Map::new();
    for key in SETTINGS {
        if let Some(value) = request.get(*key).filter(|v| !v.is_null()) {
            config.insert(key.to_string(), value.clone());
        }
    }
    let cluster_strategy = cluster
        .config
        .get("defaultCapacityProviderStrategy")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    match (string(request, "launchType"), strategy, cluster_strategy) {
        (Some(launch_type), _, _) => {
            config.insert("launchType".into(), json!(launch_type));
        }
        (None, Some(strategy), _) => {
            config.insert("capacityProviderStrategy".into(), json!(strategy));
        }
        (None, None, Some(default)) => {
            config.insert("capacityProviderStrategy".into(), default.clone());
        }
        (None, None, None) => {
            config.insert("launchType".into(), json!("EC2"));
        }
    }
    let fargate = config.get("launchType") == Some(&json!("FARGATE"))
        || config.get("capacityProviderStrategy").is_some();
    if fargate {
        config.entry("platformVersion").or_insert(json!("LATEST"));
        config.insert("platformFamily".into(), json!("Linux"));
    }
    for (key, default) in [
        ("loadBalancers", json!([])),
        ("serviceRegistries", json!([])),
        ("placementConstraints", json!([])),
        ("placementStrategy", json!([])),
        ("schedulingStrategy", json!("REPLICA")),
        ("deploymentController", json!({"type": "ECS"})),
        ("enableECSManagedTags", json!(false)),
        ("propagateTags", json!("NONE")),
        ("enableExecuteCommand", json!(false)),
        ("availabilityZoneRebalancing", json!("ENABLED")),
    ] {
        config.entry(key).or_insert(default);
    }
    config.insert(
        "deploymentConfiguration".into(),
        deployment_configuration(request.get("deploymentConfiguration"), None),
    );
    let mut service = Service {
        arn: arn.clone(),
        name,
        cluster_arn: cluster.arn.clone(),
        status: "ACTIVE",
        desired_count: desired as i32,
        task_definition: td_arn.clone(),
        config,
        deployments: Vec::new(),
        service_deployments: Vec::new(),
        events: Default::default(),
        created_at: ctx.now,
        tags: tags(request)?,
        tasks: Vec::new(),
        last_completed: None,
        steady: false,
        rendered: None,
    };
    start_deployment(&mut service, ctx.ids, ctx.now, td_arn, None);
    let out = service.render(&ctx.region.tasks, false);
    if let Some(token) = token {
        ctx.region
            .client_tokens
            .insert(token.to_string(), (request_hash(request), arn.clone()));
    }
    // A new service of an INACTIVE one's name takes its place.
    if let Some(old) = ctx.region.services.remove(&arn) {
        ctx.region
            .tasks
            .retain(|_, t| t.service.as_deref() != Some(&old.arn));
    }
    ctx.region.services.insert(arn.clone(), service);
    ctx.region.moving_services.insert(arn);
    Ok(json!({"service": out}))
}

/// The ARN of a service named by name or ARN in a cluster.
fn service_arn(region: &Region, cluster: &str, reference: &str) -> String {
    if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        region.arn(&format!("service/{cluster}/{reference}"))
    }
}

fn cluster_of(ctx: &Ctx, request: &Json) -> Result<String, ApiError> {
    Ok(ctx
        .region
        .active_cluster(string(request, "cluster"))
        .ok_or_else(ApiError::cluster_not_found)?
        .name
        .clone())
}

/// The ACTIVE service a request names.
fn active_service(ctx: &Ctx, request: &Json, key: &str) -> Result<String, ApiError> {
    let cluster = cluster_of(ctx, request)?;
    let arn = service_arn(ctx.region, &cluster, required(request, key)?);
    match ctx.region.services.get(&arn) {
        Some(service) if service.status == "ACTIVE" => Ok(arn),
        Some(_) => Err(ApiError::service_not_active()),
        None => Err(ApiError::service_not_found()),
    }
}

pub fn update(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = active_service(ctx, request, "service")?;
    let new_task_definition = match string(request, "taskDefinition") {
        Some(reference) => {
            let td = find_task_definition(ctx.region, reference)
                .ok_or_else(|| ApiError::client_exception("TaskDefinition not found."))?;
            // The revision the service runs may be INACTIVE; moving to one may not.
            if td.status != "ACTIVE" && ctx.region.services[&arn].task_definition != td.arn {
                return Err(inactive());
            }
            Some(td.arn.clone())
        }
        None => None,
    };
    let desired = int(request, "desiredCount");
    if desired.is_some_and(|d| d < 0) {
        return Err(ApiError::invalid_parameter(
            "desiredCount must be at least 0.",
        ));
    }
    let force = request.get("forceNewDeployment") == Some(&json!(true));
    let strategy = strategy_change(&ctx.region.services[&arn], request);
    let cluster = ctx
        .region
        .active_cluster(string(request, "cluster"))
        .expect("found with the service");
    check_strategy(&associated(ctx.region, cluster, ctx.now), strategy.as_ref())?;
    if strategy.is_some() && !force {
        return Err(ApiError::invalid_parameter(STRATEGY_NEEDS_NEW_DEPLOYMENT));
    }
    let (now, ids) = (ctx.now, &mut *ctx.ids);
    let service = ctx.region.service_mut(&arn).expect("found above");
    let mut redeploy = force;
    if let Some(td) = &new_task_definition {
        redeploy |= *td != service.task_definition;
    }
    if let Some(strategy) = strategy {
        set_strategy(&mut service.config, strategy);
    }
    for key in SETTINGS {
        let Some(value) = request.get(*key).filter(|v| !v.is_null()) else {
            continue;
        };
        if REDEPLOY.contains(key) && service.config.get(*key) != Some(value) {
            redeploy = true;
        }
        service.config.insert(key.to_string(), value.clone());
    }
    if let Some(given) = request.get("deploymentConfiguration") {
        let merged =
            deployment_configuration(Some(given), service.config.get("deploymentConfiguration"));
        service
            .config
            .insert("deploymentConfiguration".into(), merged);
    }
    if let Some(desired) = desired {
        service.desired_count = desired as i32;
        if let Some(primary) = service.deployments.first_mut() {
            primary.desired_count = desired as i32;
            primary.updated_at = now;
        }
    }
    if redeploy {
        let td = new_task_definition.unwrap_or_else(|| service.task_definition.clone());
        start_deployment(service, ids, now, td, None);
    }
    service.steady = false;
    let out = ctx.region.services[&arn].render(&ctx.region.tasks, false);
    ctx.region.moving_services.insert(arn);
    Ok(json!({"service": out}))
}

/// Answered as text: steady services are served from their cached JSON.
pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<String, ApiError> {
    let cluster = cluster_of(ctx, request)?;
    let references = strings(request, "services");
    if references.is_empty() {
        return Err(ApiError::invalid_parameter("services can not be empty."));
    }
    if references.len() > 10 {
        return Err(ApiError::invalid_parameter(
            "services can have at most 10 items.",
        ));
    }
    let with_tags = strings(request, "include").contains(&"TAGS");
    let mut services = Vec::with_capacity(references.len());
    let mut failures = Vec::new();
    for reference in references {
        let arn = service_arn(ctx.region, &cluster, reference);
        let Some(service) = ctx.region.services.get(&arn) else {
            failures.push(failure(&arn, "MISSING"));
            continue;
        };
        if with_tags {
            services.push(service.render(&ctx.region.tasks, true).to_string());
            continue;
        }
        if service.rendered.is_none() {
            let rendered = service.render(&ctx.region.tasks, false).to_string();
            ctx.region.services.get_mut(&arn).expect("present").rendered = Some(rendered);
        }
        services.push(
            ctx.region.services[&arn]
                .rendered
                .clone()
                .expect("rendered"),
        );
    }
    let failures = Json::Array(failures).to_string();
    Ok(format!(
        "{{\"services\":[{}],\"failures\":{failures}}}",
        services.join(",")
    ))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_of(ctx, request)?;
    let cluster_arn = ctx.region.arn(&format!("cluster/{cluster}"));
    let launch_type = string(request, "launchType");
    let scheduling = string(request, "schedulingStrategy");
    let arns: Vec<String> = ctx
        .region
        .services
        .values()
        .filter(|s| s.cluster_arn == cluster_arn && s.status != "INACTIVE")
        .filter(|s| launch_type.is_none_or(|l| s.config.get("launchType") == Some(&json!(l))))
        .filter(|s| {
            scheduling.is_none_or(|l| s.config.get("schedulingStrategy") == Some(&json!(l)))
        })
        .map(|s| s.arn.clone())
        .collect();
    let (items, next) = page(&arns, request, 10)?;
    Ok(json!({"serviceArns": items, "nextToken": next}))
}

pub fn delete(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = active_service(ctx, request, "service")?;
    let force = request.get("force") == Some(&json!(true));
    let now = ctx.now;
    let region = &mut *ctx.region;
    let service = region.service_mut(&arn).expect("found above");
    if service.desired_count > 0 && !force {
        return Err(ApiError::invalid_parameter(
            "The service cannot be stopped while it is scaled above 0.",
        ));
    }
    service.status = "DRAINING";
    service.desired_count = 0;
    for deployment in &mut service.deployments {
        deployment.desired_count = 0;
    }
    let task_arns = service.tasks.clone();
    for task in task_arns {
        stop_task(
            region,
            now,
            &task,
            "Service deleted",
            "ServiceSchedulerInitiated",
        );
    }
    let service = &region.services[&arn];
    let out = service.render(&region.tasks, false);
    region.moving_services.insert(arn);
    Ok(json!({"service": out}))
}
